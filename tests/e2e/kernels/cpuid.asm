; cpuid: prints CPUID for a few leaves (EAX EBX ECX EDX), so the end-to-end
; test can check them against docs/cpuid.md in each mode.  In shadow mode
; the guest's CPUID traps (CPUID faulting) and ombra answers it.
%include "mb.inc"
section .text
global _start
_start:
	mov esp, stack_top
	mov edi, leaves
.next:	mov eax, [edi]
	cmp eax, 0xffffffff
	je .done
	call puthex
	mov eax, [edi]
	xor ecx, ecx
	cpuid
	push edx
	push ecx
	push ebx
	push eax
	mov ecx, 4
.r:	mov al, ' '
	mov dx, COM1
	out dx, al
	pop eax
	call puthex
	loop .r
	call putnl
	add edi, 4
	jmp .next
.done:	mov al, 0
	jmp exit
section .data
leaves: dd 0, 1, 2, 7, 0x80000000, 0x80000001, 0x80000008, 0x40000000, 0xffffffff
