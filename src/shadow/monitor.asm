; The monitor: the only code that runs at real ring 0 in shadow mode.
;
; It is deliberately tiny.  On this project's host KVM emulates every ring-0
; instruction (about 650 ns each, docs/host.md), so each instruction here is
; paid on every trap.  A trap costs:
;   1. the CPU delivers the exception through the IST1 stack (the frame is
;      always at the same address, which ombra reads from shared memory);
;   2. the vector's stub executes one OUT whose port number is the vector:
;      one exit to ombra, with every general register already in
;      kvm_run's sync area (KVM_CAP_SYNC_REGS), so no ioctl is needed;
;   3. ombra edits the frame and the registers in memory and points RIP at
;      a resume stub: IRETQ, or MOV CR3 / INVLPG first.
; The guest never runs here: the region is mapped supervisor-only in the
; monitor's PML4 slot, and the guest runs at CPL 3.  Layout: monitor.h.
; Every reference is RIP-relative, so the code runs at whatever address
; the slot gives it (256 or, on kvm_pvm, 511).

bits 64
org 0

MAILBOX_RAX    equ stubs + 0x1000     ; MON_MAILBOX_RAX
MAILBOX_RCX    equ stubs + 0x1008
MAILBOX_RSI    equ stubs + 0x1010
MAILBOX_RDI    equ stubs + 0x1018
MAILBOX_ACTION equ stubs + 0x1020
MAILBOX_ARG    equ stubs + 0x1028
MAILBOX_COUNT  equ stubs + 0x1030
MAILBOX_PKRU   equ stubs + 0x1038     ; MON_MAILBOX_PKRU: 0, or the PKRU to load
MAILBOX_LIST   equ stubs + 0x1040

stubs:
%assign v 0
%rep 256
	out v, al               ; port = vector: one exit, nothing clobbered
	ud2                     ; ombra always redirects RIP; never reached
	times 8 - (($ - $$) % 8) db 0xcc
%assign v v + 1
%endrep

	times 0x800 - ($ - $$) db 0xcc
resume_iret:                    ; 0x800: back to the guest
	iretq

	times 0x810 - ($ - $$) db 0xcc
resume_cr3:                     ; 0x810: RAX = new CR3, guest RAX in the mailbox
	mov cr3, rax
	mov rax, [rel MAILBOX_RAX]
	iretq

	times 0x830 - ($ - $$) db 0xcc
resume_invlpg:                  ; 0x830: RAX = address to flush
	invlpg [rax]
	mov rax, [rel MAILBOX_RAX]
	iretq

	times 0x850 - ($ - $$) db 0xcc
resume_full:                    ; 0x850: rewrite entries, then CR3 or INVLPG, then back
	mov rcx, [rel MAILBOX_COUNT]
	lea rsi, [rel MAILBOX_LIST]
	test rcx, rcx
	jz .action
.rewrite:                       ; a store the host's KVM sees: it resyncs its
	mov rdi, [rsi]          ; shadow of this entry (mmu_pte_write)
	mov rax, [rdi]
	mov [rdi], rax
	add rsi, 8
	dec rcx
	jnz .rewrite
.action:
	mov rax, [rel MAILBOX_PKRU]     ; --shadow-patch: bit 32 set: load PKRU
	test rax, rax                   ; with the low 32 bits (the key that keeps
	jz .args                        ; the guest's reads off patched code)
	push rdx
	xor ecx, ecx
	xor edx, edx
	wrpkru
	pop rdx
.args:
	mov rax, [rel MAILBOX_ARG]
	mov rcx, [rel MAILBOX_ACTION]
	cmp rcx, 1
	jb .done
	je .cr3
	invlpg [rax]
	jmp .done
.cr3:
	mov cr3, rax
.done:
	mov rax, [rel MAILBOX_RAX]
	mov rcx, [rel MAILBOX_RCX]
	mov rsi, [rel MAILBOX_RSI]
	mov rdi, [rel MAILBOX_RDI]
	iretq

	times 0x1000 - ($ - $$) db 0xcc
