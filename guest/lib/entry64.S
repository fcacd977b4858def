/*
 * entry64.S: the door into the 64-bit half, and the way back out.
 *
 * The 64-bit half is linked at BLOB_BASE and starts with a blob_header.  Its
 * entry is 32-bit code, called by long_call() in 32-bit protected mode with
 * paging off.  The textbook sequence follows:
 *   in:  CR4.PAE, CR3 = boot tables, EFER.LME, CR0.PG (now EFER.LMA = 1),
 *        far jump to a 64-bit code segment;
 *   out: far return to a 32-bit code segment (compatibility mode), CR0.PG off
 *        (long mode ends), EFER.LME and CR4.PAE off, return to the caller.
 * The boot tables identity-map the first GiB with 2 MiB pages; each 64-bit
 * case builds its own tables and puts these back when it is done.
 */
#include "cpu.h"
#include "desc.h"
#include "layout.h"

	.section .blob.header, "a"
	.long	BLOB_MAGIC
	.long	blob_entry32
	.long	__blob_end
	.long	0

	.text
	.code32
/* uint32_t blob_entry32(struct handoff *h), cdecl. */
	.globl	blob_entry32
blob_entry32:
	pushl	%ebp
	pushl	%ebx
	pushl	%esi
	pushl	%edi
	movl	%esp, saved_esp
	movl	20(%esp), %eax
	movl	%eax, saved_handoff

	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$boot_pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$CR0_PG, %eax
	movl	%eax, %cr0		/* long mode is active, still in 32-bit code */
	ljmp	$SEL_KCODE64, $long_mode /* the caller's GDT has our selectors */

	.code64
long_mode:
	movl	$SEL_KDATA, %eax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	saved_esp(%rip), %esp	/* the caller's stack, zero-extended */
	andq	$-16, %rsp
	movl	saved_handoff(%rip), %edi
	call	blob_main64
	movl	%eax, saved_result(%rip)
	pushq	$SEL_KCODE32
	pushq	$compat_mode
	lretq

	.code32
compat_mode:
	movl	$SEL_KDATA, %eax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	%cr0, %eax
	andl	$~CR0_PG, %eax
	movl	%eax, %cr0		/* paging off: long mode ends */
	movl	$MSR_EFER, %ecx
	rdmsr
	andl	$~(EFER_LME | EFER_NXE), %eax
	wrmsr
	movl	%cr4, %eax
	andl	$~CR4_PAE, %eax
	movl	%eax, %cr4
	xorl	%eax, %eax
	movl	%eax, %cr3
	movl	saved_esp, %esp
	movl	saved_result, %eax
	popl	%edi
	popl	%esi
	popl	%ebx
	popl	%ebp
	ret				/* the caller reloads its own GDT, IDT and TR */

	.data
	.balign	8
saved_esp:	.long 0
saved_handoff:	.long 0
saved_result:	.long 0

/* Boot tables: PML4[0] -> PDPT[0] -> PD of 512 2 MiB pages (P|W|U|A|D|PS). */
	.balign	4096
	.globl	boot_pml4
boot_pml4:
	.quad	boot_pdpt + 0x27
	.fill	511, 8, 0
boot_pdpt:
	.quad	boot_pd + 0x27
	.fill	511, 8, 0
boot_pd:
	.set	addr, 0
	.rept	512
	.quad	addr + 0xe7
	.set	addr, addr + 0x200000
	.endr
