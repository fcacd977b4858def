; counters: a known number of each event a counter of docs/counters.md
; counts, so that the end-to-end section "counters" can assert every count
; from this source.  The numbers are distinct, so a counter that counts
; another's event shows:
;
;   MOV to CR3        5  (1 with paging off, then 4 switches pd_b, pd_a, pd_b, pd_a)
;   INVLPG            7
;   guest #PF         3  (the handler maps the page; the access retries)
;   no-RAM reads      4  (0xd0000000: below 3 GiB, above RAM, no device)
;   interrupts        6  (self-IPIs, vector 0x40, through the local APIC)
;   dirty-bit writes  2  (a read, then a write, of a page whose PTE has A = D = 0)
;
; and nothing else that moves those counts: 32-bit 2-level paging with
; 4 KiB pages only, CR0 written once (PG on), CR4 once (PGE on), EFER once
; (NXE on): three changes that flush the TLB as a CR3 write does and are
; not CR3 writes (ombra counted them in cr3_writes once); no user mode.  Every other mapping has A and D set, so no write
; but the two above traps for a dirty bit.  Local APIC accesses: 1 (SVR)
; + 6 (ICR) + 6 (EOI, in the handler) = 13, all MMIO to ombra in shadow
; mode and to KVM's in-kernel APIC in tdp mode.  The IPIs come first, right
; after paging is on and the IDT, handler and stack are touched, so their
; delivery never faults (a delivery that faults is injected again).
;
; With "tables" on its command line it then does one more step, whose
; counts depend on the shadow strategy (ombra's work, not the guest's): the
; end-to-end test runs the kernel with and without it (--prefetch 0) and
; asserts the differences.  The step, on frames no earlier step touched:
;   a. two marker stores (the first dword of frames F0 and F4 holds the
;      frame's address) and four PTE stores into table PT_X, all through
;      the identity map, PT_X not yet a table;
;   b. PDE 3 of pd_a (the current root) pointed at PT_X: a store to a
;      shadowed table;
;   c. four reads through PT_X (its PTEs have A = 0: nothing prefetched);
;   d. PTE 0 of PT_X moved from F0 to F4 (A set), INVLPG, one read.
; docs/counters.md works out each strategy's counts from this list.
%include "mb.inc"

%define APIC     0xfee00000
%define HOLE     0xd0000000
%define DEMAND   0x00800000      ; PDE 2: a table with nothing present
%define ADPAGES  0x00400000      ; PDE 1: two pages with A = D = 0
%define VEC_IPI  0x40
%define N_CR3    5
%define N_INVLPG 7
%define N_PF     3
%define N_MMIO   4
%define N_IPI    6
%define N_AD     2
%define TABLES   0x00c00000      ; PDE 3: the "tables" step's four pages, through PT_X
%define PT_X     0x003f0000      ; frames of that step, in the identity map,
%define F0       0x003c0000      ; far from the kernel and from one another
%define F4       0x003c4000

section .text
global _start
_start:
	mov esp, stack_top
	; "tables" anywhere on the multiboot command line asks for the last step
	cld
	cmp eax, 0x2badb002
	jne .nocmd
	test dword [ebx], 4
	jz .nocmd
	mov esi, [ebx + 16]
.scan:	cmp byte [esi], 0
	je .nocmd
	mov edi, s_tables
	mov ecx, 6
	push esi
	repe cmpsb
	pop esi
	je .want
	inc esi
	jmp .scan
.want:	mov byte [want_tables], 1
.nocmd:
	lgdt [gdtr]                      ; the gates and IRET load CS 0x10 from it
	jmp 0x10:.cs                     ; (QEMU enters with CS 0x08: reload them all)
.cs:	mov ax, 0x18
	mov ds, ax
	mov es, ax
	mov ss, ax
	; the IDT: every vector to `unexpected`, 14 and 0x40 to their handlers
	xor ecx, ecx
.idt:	mov eax, unexpected
	cmp ecx, 14
	jne .n14
	mov eax, pf_handler
.n14:	cmp ecx, VEC_IPI
	jne .nipi
	mov eax, ipi_handler
.nipi:	mov edx, eax
	and eax, 0xffff
	or eax, 0x00100000               ; selector 0x10
	and edx, 0xffff0000
	or edx, 0x8e00                   ; present, DPL 0, 32-bit interrupt gate
	mov [idt + ecx * 8], eax
	mov [idt + ecx * 8 + 4], edx
	inc ecx
	cmp ecx, 256
	jb .idt
	lidt [idtr]

	; pd_a: 0-4 MiB identity (P RW A D), the two A/D pages, the demand
	; table, the hole page and the local APIC page
	xor ecx, ecx
.id:	mov eax, ecx
	shl eax, 12
	or eax, 0x63
	mov [pt0 + ecx * 4], eax
	inc ecx
	cmp ecx, 1024
	jb .id
	mov dword [pd_a + 0 * 4], pt0 + 0x63
	mov dword [pd_a + 1 * 4], pt_ad + 0x63
	mov dword [pt_ad + 0 * 4], 0x300003       ; P RW, A = D = 0
	mov dword [pt_ad + 1 * 4], 0x301003
	mov dword [pd_a + 2 * 4], pt_demand + 0x63
	mov dword [pd_a + (HOLE >> 22) * 4], pt_hole + 0x63
	mov dword [pt_hole], HOLE + 0x73          ; P RW PCD A D
	mov dword [pd_a + (APIC >> 22) * 4], pt_apic + 0x63
	mov dword [pt_apic + ((APIC >> 12) & 0x3ff) * 4], APIC + 0x73
	; pd_b: the same mappings in another page directory
	mov esi, pd_a
	mov edi, pd_b
	mov ecx, 1024
	rep movsd

	; CR3 write 1 (paging off), then CR0.PG: the only CR0 write
	mov eax, pd_a
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	mov esi, s_paging
	call puts
	; CR4.PGE on, EFER.NXE on: the only CR4 and EFER writes
	mov eax, cr4
	or eax, 0x80
	mov cr4, eax
	mov ecx, 0xc0000080
	rdmsr
	or eax, 0x800
	wrmsr

	; touch what an interrupt's delivery uses, so it does not fault
	mov eax, [idt + VEC_IPI * 8]
	mov eax, [ipi_handler]
	mov eax, [pf_handler]
	push eax
	pop eax

	; 6 self-IPIs, each waited for.  The PIC masked first: under QEMU the
	; firmware leaves the PIT ticking on IRQ 0 (ombra's PIT is silent).
	mov al, 0xff
	out 0x21, al
	out 0xa1, al
	mov dword [APIC + 0xf0], 0x1ff          ; SVR: APIC on, spurious vector 0xff
	sti
	xor ecx, ecx
.ipi:	mov dword [APIC + 0x300], 0x40000 | VEC_IPI   ; ICR: fixed, to self
	inc ecx
.wait:	cmp [ipis], ecx
	jae .got
	pause
	jmp .wait
.got:	cmp ecx, N_IPI
	jb .ipi
	cli
	mov esi, s_ipi
	call puts
	mov eax, [ipis]
	call puthex
	call putnl

	; 4 reads where no RAM is
	mov eax, [HOLE]
	mov eax, [HOLE + 4]
	mov eax, [HOLE + 8]
	mov eax, [HOLE + 12]
	mov esi, s_mmio
	call puts
	mov eax, N_MMIO
	call puthex
	call putnl

	; 3 page faults the handler fixes
	mov dword [DEMAND], 1
	mov dword [DEMAND + 0x1000], 2
	mov dword [DEMAND + 0x2000], 3
	mov esi, s_pf
	call puts
	mov eax, [pfs]
	call puthex
	mov al, ' '
	call putc
	mov eax, [DEMAND]
	add eax, [DEMAND + 0x1000]
	add eax, [DEMAND + 0x2000]
	call puthex                      ; 6: the stores landed
	call putnl

	; 2 writes that need only the dirty bit: each page read first
	mov eax, [ADPAGES]
	mov dword [ADPAGES], 0xad
	mov eax, [ADPAGES + 0x1000]
	mov dword [ADPAGES + 0x1000], 0xad
	mov esi, s_ad
	call puts
	mov eax, [pt_ad]
	call puthex                      ; 00300063: A and D set
	mov al, ' '
	call putc
	mov eax, [pt_ad + 4]
	call puthex
	call putnl

	; 7 INVLPGs
	mov ebx, DEMAND
	mov ecx, N_INVLPG
.inv:	invlpg [ebx]
	add ebx, 0x1000
	loop .inv
	mov esi, s_invlpg
	call puts
	mov eax, N_INVLPG
	call puthex
	call putnl

	; CR3 writes 2 to 5
	mov eax, pd_b
	mov cr3, eax
	mov eax, pd_a
	mov cr3, eax
	mov eax, pd_b
	mov cr3, eax
	mov eax, pd_a
	mov cr3, eax
	mov esi, s_cr3
	call puts
	mov eax, N_CR3
	call puthex
	call putnl

	cmp byte [want_tables], 0
	je .end
	; a. markers, and PT_X's entries 0-3 to F0..F3: P RW, A = D = 0
	mov dword [F0], F0
	mov dword [F4], F4
	mov eax, F0 | 3
	xor ecx, ecx
.ptx:	mov [PT_X + ecx * 4], eax
	add eax, 0x1000
	inc ecx
	cmp ecx, 4
	jb .ptx
	; b. PDE 3 of the current root
	mov dword [pd_a + (TABLES >> 22) * 4], PT_X + 0x63
	; c. four reads through PT_X
	mov eax, [TABLES]
	mov ebx, eax                     ; F0's marker
	mov eax, [TABLES + 0x1000]
	mov eax, [TABLES + 0x2000]
	mov eax, [TABLES + 0x3000]
	; d. PTE 0 to F4 (P RW A), INVLPG, read
	mov dword [PT_X], F4 | 0x23
	invlpg [TABLES]
	mov ecx, [TABLES]                ; F4's marker
	mov esi, s_tables
	call puts
	mov al, ' '
	call putc
	mov eax, ebx
	call puthex
	mov al, ' '
	call putc
	mov eax, ecx
	call puthex
	call putnl

.end:	mov esi, s_done
	call puts
	mov al, 0
	jmp exit

; putc: print al
putc:
	push edx
	mov dx, COM1
	out dx, al
	pop edx
	ret

; #PF: map the faulting page to its identity frame (RAM), P RW A D; the
; access retries.  No INVLPG: a not-present
; entry is never cached.
pf_handler:
	push eax
	push ebx
	mov eax, cr2
	cmp eax, DEMAND
	jb .bad
	cmp eax, DEMAND + N_PF * 0x1000
	jae .bad
	mov ebx, eax
	shr ebx, 12
	and ebx, 0x3ff
	and eax, 0xfffff000
	or eax, 0x63
	mov [pt_demand + ebx * 4], eax
	inc dword [pfs]
	pop ebx
	pop eax
	add esp, 4                       ; the error code
	iret
.bad:	mov esi, s_badpf
	call puts
	call puthex
	call putnl
	mov al, 2
	jmp exit

ipi_handler:
	inc dword [ipis]
	mov dword [APIC + 0xb0], 0       ; EOI
	iret

unexpected:
	mov esi, s_unexpected
	call puts
	mov al, 3
	jmp exit

section .data
align 8
gdt:	dq 0
	dq 0
	dq 0x00cf9a000000ffff            ; 0x10: flat 32-bit code
	dq 0x00cf92000000ffff            ; 0x18: flat data
gdt_end:
gdtr:	dw gdt_end - gdt - 1
	dd gdt
idtr:	dw 256 * 8 - 1
	dd idt
ipis:	dd 0
pfs:	dd 0
want_tables:	db 0
s_tables:	db "tables", 0
s_paging:	db "paging on", 10, 0
s_ipi:		db "ipis ", 0
s_mmio:		db "hole reads ", 0
s_pf:		db "page faults ", 0
s_ad:		db "dirty ptes ", 0
s_invlpg:	db "invlpgs ", 0
s_cr3:		db "cr3 writes ", 0
s_done:		db "done", 10, 0
s_badpf:	db "unexpected page fault at ", 0
s_unexpected:	db "unexpected interrupt", 10, 0

section .bss
alignb 4096
idt:       resb 4096
pd_a:      resb 4096
pd_b:      resb 4096
pt0:       resb 4096
pt_ad:     resb 4096
pt_demand: resb 4096
pt_hole:   resb 4096
pt_apic:   resb 4096
