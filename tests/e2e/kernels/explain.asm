; explain: turns on 4-level paging with 0x40000000 mapped by a 4 KiB page
; to guest-physical 0x300000, writes there, then asks ombra (test device,
; ports 0xec/0xe8) to explain 0x40000123 while that mapping is live.  The
; end-to-end test checks the chain in the report: four guest levels, gpa
; 0x300123, and in shadow mode a shadow chain ending at the same frame.
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	; identity map of the first 2 MiB (the kernel) and 0x40000000 -> 0x300000
	mov dword [pml4], pdpt + 3
	mov dword [pdpt], pd0 + 3
	mov dword [pd0], 0x83           ; 2 MiB page at 0: the kernel and its stack
	mov dword [pdpt + 8], pd1 + 3   ; 0x40000000: PDPT entry 1
	mov dword [pd1], pt1 + 3
	mov dword [pt1], 0x300003       ; 4 KiB page -> 0x300000
	mov eax, cr4
	or eax, 0x20
	mov cr4, eax
	mov eax, pml4
	mov cr3, eax
	mov ecx, 0xc0000080
	rdmsr
	or eax, 0x100
	wrmsr
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax                    ; long mode, still 32-bit code
	mov dword [0x40000123], 0x5eed
	xor eax, eax
	mov dx, 0xec
	out dx, eax                     ; high half of the address
	mov eax, 0x40000123
	mov dx, 0xe8
	out dx, eax                     ; explain it now
	mov esi, s_done
	call puts
	mov al, 0
	jmp exit

section .data
s_done: db "explained", 10, 0

section .bss
alignb 4096
pml4: resb 4096
pdpt: resb 4096
pd0:  resb 4096
pd1:  resb 4096
pt1:  resb 4096
