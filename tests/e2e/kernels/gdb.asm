; gdb: a fixture for the gdbstub end-to-end test (tests/e2e/run.sh,
; section "gdbstub").  Turns on 2-level paging with two 4 MiB pages, the
; identity one and 0xc0000000 -> 0, runs on at the high alias, and exits
; 0 (status 1).  The test sets breakpoints at paging_on (low, identity)
; and at bp_high + 0xc0000000 (only mapped through the guest's tables),
; reads the code there, steps over `mov ebx, 0x55667788` and reads
; magic through the high alias: every value it checks is written here.
%include "mb.inc"
%define HIGH 0xc0000000
section .text
global _start, paging_on, bp_high, after_bp, magic
_start:
	mov esp, stack_top
	mov dword [pd], 0x83              ; PD[0]: 4 MiB identity page (P W PS)
	mov dword [pd + (HIGH >> 22) * 4], 0x83   ; PD[0x300]: 0xc0000000 -> 0
	mov eax, cr4
	or eax, 0x10                      ; CR4.PSE
	mov cr4, eax
	mov eax, pd
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
paging_on:
	mov eax, high_code + HIGH
	jmp eax
high_code:
	mov eax, 0x11223344
bp_high:
	mov ebx, 0x55667788               ; bb 88 77 66 55
after_bp:
	mov ecx, [magic + HIGH]
	mov esi, s_ok + HIGH
	call puts
	mov al, 0
	jmp exit

section .data
align 4
magic: dd 0xfeedface
s_ok: db "gdb kernel done", 10, 0
section .bss
alignb 4096
pd: resb 4096
