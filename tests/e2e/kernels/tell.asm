; tell: prints the CS selector the CPU reports, which trap-and-emulate cannot
; hide (docs/shadow.md): tdp mode shows the kernel's own 0x10, shadow mode
; the real CPL-3 one: the kernel's index with RPL 3 (0x13) where ombra
; owns the VM's GDT, the host's selector on kvm_pvm.  ombra compare must
; report the difference.
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	mov esi, s_cs
	call puts
	xor eax, eax
	mov ax, cs
	call puthex
	call putnl
	mov al, 0
	jmp exit

section .data
s_cs:	db "cs ", 0
