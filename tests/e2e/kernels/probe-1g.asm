; probe-1g: can this host's KVM give a guest 1 GiB pages?  Enters long mode
; with the first GiB identity-mapped by one 1 GiB page (PDPTE.PS) and
; prints "1g on".  A host whose KVM lacks PDPE1GB raises #PF with RSVD, and
; with no IDT that ends as a triple fault.
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	mov dword [pml4], pdpt + 3
	mov dword [pdpt], 0x83          ; P W PS: 1 GiB page at 0
	mov eax, cr4
	or eax, 0x20                    ; PAE
	mov cr4, eax
	mov eax, pml4
	mov cr3, eax
	mov ecx, 0xc0000080             ; EFER.LME
	rdmsr
	or eax, 0x100
	wrmsr
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax                    ; long mode, compatibility mode
	mov eax, [0x100000]             ; a load through the 1 GiB page
	mov esi, s_ok
	call puts
	mov al, 0
	jmp exit

section .data
s_ok: db "1g on", 10, 0

section .bss
alignb 4096
pml4: resb 4096
pdpt: resb 4096
