/*
 * irq64.S: the interrupt handlers of workload irq (w_irq.c).  Each counts
 * its interrupt, acknowledges it (the local APIC's EOI register, or the
 * master PIC's non-specific EOI) and returns with IRETQ: six instructions,
 * RAX, the only register they use, saved around them, after three that
 * check the interrupted RIP for STI's shadow (SHADOW_FIXUP).
 */
#include "pcirq.h"

	.text
	.code64

#define APIC_EOI_ADDR (APIC_BASE + APIC_EOI) /* mapped 1:1 */

/* An interrupt taken at sti_hlt_cli's HLT, inside STI's shadow: as
 * trap_dispatch does (guest/lib/trap.h), return past the HLT and count it. */
.macro SHADOW_FIXUP
	leaq	sti_hlt_cli_hlt(%rip), %rax
	cmpq	%rax, 8(%rsp)
	jne	1f
	incq	8(%rsp)
	incq	sti_shadow_breaks(%rip)
1:
.endm

.macro APIC_HANDLER name, count
	.globl	\name
\name:
	pushq	%rax
	SHADOW_FIXUP
	incq	\count(%rip)
	movl	$APIC_EOI_ADDR, %eax
	movl	$0, (%rax)
	popq	%rax
	iretq
.endm

	APIC_HANDLER irq_ipi_handler, irq_ipi_count
	APIC_HANDLER irq_timer_handler, irq_timer_count

	.globl	irq_pit_handler
irq_pit_handler:
	pushq	%rax
	SHADOW_FIXUP
	incq	irq_pit_count(%rip)
	movb	$OCW2_EOI, %al
	outb	%al, $PIC1_CMD
	popq	%rax
	iretq

	.bss
	.balign	8
	.globl	irq_ipi_count, irq_timer_count, irq_pit_count
irq_ipi_count:
	.quad	0
irq_timer_count:
	.quad	0
irq_pit_count:
	.quad	0
