; storm: a fault storm.  2-level paging with one 4 MiB identity page, a #PF
; handler that returns without mapping anything, then a write to an
; unmapped address: the same #PF at the same instruction forever.  Under
; shadow mode ombra's no-progress detector must end it with a reason (on
; this project's host tdp mode cannot enable 2-level paging at all).
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	mov esi, s_hi
	call puts
	; a GDT of its own, so the #PF gate's selector is known (the one the
	; loader left in CS is the loader's choice, and in shadow mode MOV from
	; CS would not even show it)
	lgdt [gdtr]
	jmp 0x08:.flat
.flat:
	; IDT: every gate empty but #PF (14), a 32-bit interrupt gate
	mov eax, pf_handler
	mov [idt + 14 * 8], ax
	mov word [idt + 14 * 8 + 2], 0x08
	mov word [idt + 14 * 8 + 4], 0x8e00
	shr eax, 16
	mov [idt + 14 * 8 + 6], ax
	lidt [idtr]
	; paging: PDE 0 maps 0-4 MiB with a 4 MiB page
	mov dword [pd], 0x83
	mov eax, cr4
	or eax, 0x10                    ; PSE
	mov cr4, eax
	mov eax, pd
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	mov esi, s_paging
	call puts
	mov dword [0x800000], 1         ; not mapped: #PF, again and again
	mov al, 0                       ; never reached
	jmp exit

pf_handler:
	add esp, 4                      ; the error code; nothing is fixed
	iret

section .data
s_hi: db "about to fault forever", 10, 0
s_paging: db "paging on", 10, 0
align 8
gdt:	dq 0
	dq 0x00cf9a000000ffff           ; 0x08: flat 32-bit code
	dq 0x00cf92000000ffff           ; 0x10: flat data
gdtr:	dw 3 * 8 - 1
	dd gdt
idtr:	dw 32 * 8 - 1
	dd idt

section .bss
alignb 4096
pd: resb 4096
idt: resb 32 * 8
