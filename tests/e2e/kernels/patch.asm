; patch: what a kernel sees of its own selectors, descriptors and code,
; the things shadow mode's --shadow-patch rewrites (docs/shadow.md,
; "Patching"), each printed so that ombra's output can be held to QEMU
; TCG's: MOV from CS and SS; LAR, LSL, VERR and VERW with register and
; memory operands; a LAR that runs across a page boundary; the bytes of
; patched instructions read with MOV, LODSD and REP MOVSB; code written
; over after it ran (a LAR put where a MOV was: it must be patched
; afresh); code reached only through a pointer.  32-bit protected mode,
; paging off, its own GDT; code, data and stack in pages of their own
; (so the sections are page aligned, declared here before mb.inc's).
section .text align=4096
section .data align=4096
%include "mb.inc"

%define KCODE 0x08
%define KDATA 0x10
%define UDATA 0x1b              ; DPL 3 data, RPL 3
%define UCODE 0x23              ; DPL 3 code, readable, RPL 3

section .text
global _start
_start:
	mov esp, stack_top
	lgdt [gdt_ptr]
	jmp KCODE:.reload
.reload:
	mov ax, KDATA
	mov ds, ax
	mov es, ax
	mov ss, ax
	call tests
	mov al, 0
	jmp exit

; print "name value\n": esi the name, eax the value
show:
	call puts
	call puthex
	jmp putnl

tests:
	xor eax, eax
	mov ax, cs
	mov esi, s_cs
	call show
	xor eax, eax
	mov ax, ss
	mov esi, s_ss
	call show

	; LAR with a register, then a memory operand; ZF in bit 0 of the value
	mov eax, 0xdeadbeef
	mov ebx, KDATA
lar_site:
	lar eax, ebx
	call with_zf
	mov esi, s_lar_reg
	call show
	mov eax, 0xdeadbeef
	lar eax, [sel_udata]
	call with_zf
	mov esi, s_lar_mem
	call show
	mov ecx, 0xdeadbeef
	mov ebx, UCODE
	lsl ecx, ebx
	mov eax, ecx
	call with_zf
	mov esi, s_lsl
	call show
	xor eax, eax
	verr word [sel_ucode]
	call with_zf
	mov esi, s_verr
	call show
	xor eax, eax
	mov bx, KCODE
	verw bx
	call with_zf
	mov esi, s_verw
	call show

	; a LAR whose last byte is on the next page
	mov eax, 0xdeadbeef
	mov ebx, KCODE
	call across
	call with_zf
	mov esi, s_across
	call show

	; the bytes of the patched LAR above, read three ways
	mov eax, [lar_site]
	mov esi, s_read_mov
	call show
	mov esi, lar_site
	lodsd
	mov esi, s_read_lods
	call show
	mov esi, lar_site
	mov edi, copy
	mov ecx, 16
	rep movsb
	mov eax, [copy]
	xor eax, [copy + 4]
	xor eax, [copy + 8]
	xor eax, [copy + 12]
	mov esi, s_read_movs
	call show

	; code written over after it ran: first a MOV, then a LAR
	mov ebx, KDATA
	call rewrite_target             ; mov eax, 0x11111111
	mov esi, s_before
	call show
	mov esi, lar_bytes
	mov edi, rewrite_target
	mov ecx, lar_bytes_end - lar_bytes
	rep movsb
	mov eax, 0xdeadbeef
	mov ebx, KDATA
	call rewrite_target             ; lar eax, ebx
	call with_zf
	mov esi, s_after
	call show

	; code reached only through a pointer
	mov eax, 0xdeadbeef
	call [fn_ptr]
	mov esi, s_pointer
	call show
	ret

; eax <- eax with bit 0 = ZF (the flags as the instruction before left them)
with_zf:
	jz .z
	and eax, ~1
	ret
.z:	or eax, 1
	ret

align 4096
	times 4096 - 2 - 1 db 0x90
across:
	nop
	lar eax, ebx                    ; 0f 02 | c3: across the page boundary
	ret

align 4096
rewrite_target:
	mov eax, 0x11111111
	ret
	times 32 db 0xcc

align 4096
by_pointer:
	mov ax, ss
	shl eax, 16
	mov ax, cs
	ret

section .data
gdt:
	dq 0
	dq 0x00cf9a000000ffff           ; 0x08 code, DPL 0
	dq 0x00cf92000000ffff           ; 0x10 data, DPL 0
	dq 0x00cff2000000ffff           ; 0x18 data, DPL 3
	dq 0x00cffa000000ffff           ; 0x20 code, DPL 3, readable
gdt_ptr:
	dw 5 * 8 - 1
	dd gdt
sel_udata:	dw UDATA
sel_ucode:	dw UCODE
fn_ptr:		dd by_pointer
lar_bytes:
	lar eax, ebx
	ret
lar_bytes_end:
copy:		times 16 db 0
s_cs:		db "mov-cs ", 0
s_ss:		db "mov-ss ", 0
s_lar_reg:	db "lar-reg ", 0
s_lar_mem:	db "lar-mem ", 0
s_lsl:		db "lsl ", 0
s_verr:		db "verr-mem ", 0
s_verw:		db "verw ", 0
s_across:	db "lar-across-pages ", 0
s_read_mov:	db "read-mov ", 0
s_read_lods:	db "read-lods ", 0
s_read_movs:	db "read-rep-movs ", 0
s_before:	db "rewrite-before ", 0
s_after:	db "rewrite-after ", 0
s_pointer:	db "by-pointer ", 0
