; probe-paging32 / probe-pae: can this host's KVM run a guest that turns on
; 2-level (or, built with -DPAE, PAE) paging itself?  Identity-maps the first
; large page, enables paging, prints "paging on" and exits 0 (status 1).
; A #GP on the way (what kvm_pvm raises at the MOV to CR0) is caught by
; the probe's own IDT, which prints "#GP" and exits 0x0d (status 27): that
; status, and only that one, is the host limit; anything else is a failure
; of the probe (scripts/host-probes.sh).
%include "mb.inc"
section .text
global _start
_start:
	mov esp, stack_top
	; its own GDT, so the #GP gate's selector is known
	lgdt [gdtr]
	jmp 0x08:.flat
.flat:
	mov eax, gp_handler             ; IDT gate 13: a 32-bit interrupt gate
	mov [idt + 13 * 8], ax
	mov word [idt + 13 * 8 + 2], 0x08
	mov word [idt + 13 * 8 + 4], 0x8e00
	shr eax, 16
	mov [idt + 13 * 8 + 6], ax
	lidt [idtr]
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
; #GP: say so, exit 0x0d (status 27)
gp_handler:
	mov esi, s_gp
	call puts
	mov al, 0x0d
	jmp exit

section .data
s_ok: db "paging on", 10, 0
s_gp: db "#GP", 10, 0
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
pd2: resb 4096
alignb 32
pdpt: resb 32
alignb 8
idt: resb 32 * 8
