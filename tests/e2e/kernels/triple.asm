; triple: an IDT with no entries, then an undefined opcode: #UD cannot be
; delivered, nor the #GP that follows, nor the #DF: a triple fault, which
; must end the guest with a report while ombra lives on.
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	mov esi, s_hi
	call puts
	lidt [idt_empty]
	ud2
	mov al, 0                       ; never reached
	jmp exit

section .data
s_hi: db "about to triple fault", 10, 0
align 8
idt_empty: dw 0
	dd 0
