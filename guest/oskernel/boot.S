/*
 * boot.S: the multiboot header and the 32-bit entry.  Loads the kernel's own
 * GDT, sets up the per-CPU area through GS base (WRMSR, reload of the data
 * segments with the flat selector, WRMSR again: the reload zeroes the base),
 * builds identity page tables for the first 4 GiB (and, in the higher-half
 * variant, the same first 2 GiB again at KERNEL_VMA), enters long mode
 * (the higher-half variant then jumps to where the kernel proper is linked
 * and reloads GDTR with the GDT's address there), and reads the per-CPU
 * area through %gs before any C code runs.
 *
 * This code runs at its physical address; until paging is on, the kernel
 * proper's data is reached by PA(), its link address less KERNEL_VMA.
 */
#include "layout.h"

#define PA(sym)		((sym) - KERNEL_VMA)

#ifdef OSK_HIGHER_HALF
/* The kernel is an ELF64 file, which QEMU's multiboot loader refuses:
 * the a.out kludge (flag 16) gives the physical addresses to load at, so
 * the loader needs nothing from the ELF headers (kernel.ld.S keeps the
 * file one contiguous image for it). */
#define MB_FLAGS	0x00010003
#else
#define MB_FLAGS	0x00000003
#endif

	.section .multiboot, "a"
	.align 4
mb_header:
	.long 0x1BADB002			/* magic */
	.long MB_FLAGS				/* page-align modules, memory info (, addresses) */
	.long -(0x1BADB002 + MB_FLAGS)		/* checksum */
#ifdef OSK_HIGHER_HALF
	.long mb_header				/* header_addr */
	.long _image_start			/* load_addr */
	.long _image_end			/* load_end_addr */
	.long _image_end			/* bss_end_addr */
	.long _start				/* entry_addr */
#endif

	.section .text.boot, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	mov	$PA(boot_stack_top), %esp
	mov	%eax, PA(mb_magic)
	mov	%ebx, PA(mb_info)

	/* The kernel's text as it was loaded, summed before any of it has
	 * run (check text-intact sums it the same way at the end): each
	 * 32-bit word in turn, h = rol(h, 5) ^ word. */
	mov	$PA(_text_start), %esi
	xor	%eax, %eax
6:	cmp	$PA(_text_end), %esi
	jae	7f
	rol	$5, %eax
	xor	(%esi), %eax
	add	$4, %esi
	jmp	6b
7:	mov	%eax, PA(boot_text_sum)

	/* Long mode?  CPUID 0x80000001 EDX bit 29. */
	mov	$0x80000000, %eax
	cpuid
	cmp	$0x80000001, %eax
	jb	no_long_mode
	mov	$0x80000001, %eax
	cpuid
	bt	$29, %edx
	jnc	no_long_mode

	lgdt	PA(boot_gdt_ptr)
	ljmp	$KERNEL_CS32, $1f
1:
	/* The per-CPU area: GS base first, then the data segments (the GS load
	 * sets the base from the flat descriptor, 0), then GS base again.  The
	 * base is the area's address as the kernel proper sees it, 64 bits. */
	mov	$MSR_GS_BASE, %ecx
	mov	PA(percpu_addr), %eax
	mov	PA(percpu_addr) + 4, %edx
	wrmsr
	mov	$KERNEL_DS, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %fs
	mov	%ax, %gs
	mov	%ax, %ss
	mov	$MSR_GS_BASE, %ecx
	mov	PA(percpu_addr), %eax
	mov	PA(percpu_addr) + 4, %edx
	wrmsr

	/* Page tables: PML4[0] -> PDPT, PDPT[0..3] -> four page directories of
	 * 2 MiB pages, identity.  Only the 2 MiB page holding the user
	 * section (USER_BASE) has U=1 at the last level. */
	mov	$PA(pdpt), %eax
	or	$(PTE_P | PTE_W | PTE_U), %eax
	mov	%eax, PA(pml4)
	mov	$PA(pd), %eax
	or	$(PTE_P | PTE_W | PTE_U), %eax
	xor	%ecx, %ecx
2:	mov	%eax, PA(pdpt)(, %ecx, 8)
	add	$4096, %eax
	inc	%ecx
	cmp	$4, %ecx
	jb	2b
	xor	%ecx, %ecx			/* entry index 0..2047 */
3:	mov	%ecx, %eax
	shl	$21, %eax
	or	$(PTE_P | PTE_W | PTE_PS), %eax
	cmp	$(0xfe000000 >> 21), %ecx	/* the APIC's 2 MiB: uncached */
	jb	4f
	or	$(PTE_PCD | PTE_PWT), %eax
4:	cmp	$(USER_BASE >> 21), %ecx
	jne	5f
	or	$PTE_U, %eax
5:	mov	%eax, PA(pd)(, %ecx, 8)
	inc	%ecx
	cmp	$2048, %ecx
	jb	3b
#ifdef OSK_HIGHER_HALF
	/* The kernel proper at KERNEL_VMA: PML4[511] -> pdpt_hi, whose
	 * entries 510 and 511 (the top 2 GiB) are the first two page
	 * directories above, so KERNEL_VMA + x maps physical x for x below
	 * 2 GiB.  No U=1 here: the user page is reachable only at USER_BASE. */
	mov	$PA(pdpt_hi), %eax
	or	$(PTE_P | PTE_W), %eax
	mov	%eax, PA(pml4) + 511 * 8
	mov	$PA(pd), %eax
	or	$(PTE_P | PTE_W), %eax
	mov	%eax, PA(pdpt_hi) + 510 * 8
	add	$4096, %eax
	mov	%eax, PA(pdpt_hi) + 511 * 8
#endif

	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$PA(pml4), %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$(CR0_PG | CR0_WP | CR0_PE), %eax
	mov	%eax, %cr0
	ljmp	$KERNEL_CS, $long_mode

no_long_mode:
	/* Nothing to print with yet: isa-debug-exit with 1 (status 3). */
	mov	$0xf4, %dx
	mov	$1, %eax
	out	%eax, %dx
5:	hlt
	jmp	5b

	.code64
long_mode:
#ifdef OSK_HIGHER_HALF
	/* Still at the physical address: on to where the kernel proper is
	 * linked, and the GDT from there too. */
	movabs	$kernel_entry, %rax
	jmp	*%rax

	.text
kernel_entry:
	lgdt	gdt_ptr(%rip)
#endif
	mov	$KERNEL_DS, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$boot_stack_top, %rsp
	/* The per-CPU area as long mode sees it, before any C code. */
	mov	%gs:PERCPU_SELF, %rax
	mov	%rax, boot_gs_self(%rip)
	mov	%gs:PERCPU_FN, %rax
	mov	%rax, boot_gs_fn(%rip)
	xor	%ebp, %ebp
	call	kmain
6:	hlt
	jmp	6b

	.data
	.align 16
	.globl gdt
gdt:
	.quad 0					/* 0x00 null */
	.quad 0x00cf9a000000ffff		/* 0x08 kernel code, 32-bit (boot) */
	.quad 0x00af9a000000ffff		/* 0x10 kernel code, 64-bit */
	.quad 0x00cf92000000ffff		/* 0x18 kernel data */
	.quad 0x00cffa000000ffff		/* 0x20 user code, 32-bit (STAR base) */
	.quad 0x00cff2000000ffff		/* 0x28 user data */
	.quad 0x00affa000000ffff		/* 0x30 user code, 64-bit */
	.quad 0, 0				/* 0x38 TSS, 16 bytes (filled in by C) */
	.quad 0x00cf72000000ffff		/* 0x48 data, DPL 3, not present */
	.quad 0x00008e0000000000		/* 0x50 system, type 0xE (interrupt gate): invalid for LAR */
	.quad 0x0000800000000000		/* 0x58 system, type 0 (reserved) */
gdt_end:
boot_gdt_ptr:					/* for LGDT in 32-bit code: physical base */
	.word gdt_end - gdt - 1
	.long PA(gdt)
	.globl gdt_ptr
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt
percpu_addr:
	.quad percpu

	.globl mb_magic, mb_info, boot_gs_self, boot_gs_fn, boot_text_sum
	.align 8
mb_magic:	.long 0
mb_info:	.long 0
boot_text_sum:	.long 0
	.align 8
boot_gs_self:	.quad 0
boot_gs_fn:	.quad 0

	.bss
	.align 4096
	.globl pml4, pdpt, pd
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4 * 4096
#ifdef OSK_HIGHER_HALF
pdpt_hi: .skip 4096
#endif
	.align 16
boot_stack:
	.skip 16384
	.globl boot_stack_top
boot_stack_top:
