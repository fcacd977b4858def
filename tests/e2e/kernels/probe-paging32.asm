; probe-paging32 / probe-pae: can this host's KVM run a guest that turns on
; 2-level (or, built with -DPAE, PAE) paging itself?  Identity-maps the first
; large page, enables paging, prints "paging on".  The end-to-end test runs
; these in tdp mode to tell a limit of the host from a bug in ombra.
%include "mb.inc"
section .text
global _start
_start:
	mov esp, stack_top
	; page directory at pd: 4 MiB PSE identity entry 0 (needs CR4.PSE) -- variant by %define
	mov dword [pd], 0x83            ; P W PS, frame 0
%ifdef PAE
	mov dword [pdpt], pd2 + 1
	mov dword [pd2], 0x83           ; 2 MiB page
	mov eax, cr4
	or eax, 0x20
	mov cr4, eax
	mov eax, pdpt
%else
	mov eax, cr4
	or eax, 0x10
	mov cr4, eax
	mov eax, pd
%endif
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	mov esi, s_ok
	call puts
	mov al, 0
	jmp exit
section .data
s_ok: db "paging on", 10, 0
section .bss
alignb 4096
pd: resb 4096
pd2: resb 4096
alignb 32
pdpt: resb 32
