; sysregs: what a kernel reads back of its own system registers.  Under
; shadow mode these instructions do not run at the guest's privilege, so
; ombra must answer them (SGDT/SIDT/SMSW/STR trap through CR4.UMIP, CPUID
; through CPUID faulting); the output must be the same in every mode.
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	mov esi, gdt                    ; the GDT at a fixed place, so SGDT's
	mov edi, 0x180000               ; answer does not depend on the build
	mov ecx, gdt_end - gdt
	rep movsb
	lgdt [gdtr]
	lidt [idtr]
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	jmp 0x08:.reload
.reload:
	mov eax, tss                    ; build the TSS descriptor at 0x18
	mov word [0x180000 + 0x18], 0x67
	mov [0x180000 + 0x18 + 2], ax
	shr eax, 16
	mov [0x180000 + 0x18 + 4], al
	mov byte [0x180000 + 0x18 + 5], 0x89
	mov byte [0x180000 + 0x18 + 6], 0
	mov [0x180000 + 0x18 + 7], ah
	mov ax, 0x18
	ltr ax

	sgdt [out]
	mov esi, s_gdt
	call puts
	movzx eax, word [out]
	call puthex
	mov eax, [out + 2]
	call puthex
	call putnl

	sidt [out]
	mov esi, s_idt
	call puts
	movzx eax, word [out]
	call puthex
	mov eax, [out + 2]
	call puthex
	call putnl

	mov esi, s_msw
	call puts
	smsw eax
	and eax, 0xffff
	call puthex
	call putnl

	mov esi, s_tr
	call puts
	xor eax, eax
	str ax
	call puthex
	call putnl


	mov al, 0
	jmp exit

section .data
align 8
gdt:	dq 0
	dq 0x00cf9a000000ffff           ; 0x08 code
	dq 0x00cf92000000ffff           ; 0x10 data
	dq 0                            ; 0x18 TSS, filled below
gdt_end:
gdtr:	dw gdt_end - gdt - 1
	dd 0x180000
idtr:	dw 0x7ff
	dd 0x12340
out:	times 16 db 0
align 16
tss:	times 104 db 0
s_gdt:	db "sgdt ", 0
s_idt:	db "sidt ", 0
s_msw:	db "smsw ", 0
s_tr:	db "str ", 0
