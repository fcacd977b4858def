/*
 * irq.h: what the interrupt test kernel's cases share (guest/irq,
 * README.md there): the vectors they use and a count of the interrupts
 * each vector took.  The registers and their accessors (local APIC, I/O
 * APIC, PIC, PIT) are guest/lib/pcirq.h's.
 */
#ifndef IRQ_H
#define IRQ_H

#include "alloc.h"
#include "check.h"
#include "cpu.h"
#include "paging.h"
#include "pcirq.h"
#include "runtime.h"
#include "trap.h"

#define VEC_TIMER 0x40
#define VEC_HIGH  0x50            /* a higher priority class than the timer */
#define VEC_LOW   0x30            /* a lower one */
#define VEC_PIC   0x20            /* the master PIC's base: IRQ 0 (the PIT) */
#define VEC_PIC2  0x28            /* the slave's */

/* common.c */
extern volatile unsigned irq_count[256];
extern volatile uint8_t irq_log[64];  /* vectors in the order handled (enter, then 0x80|vector at exit) */
extern volatile unsigned irq_log_len;
/* A 4-level address space with the pool and the APICs' pages mapped, entered;
 * the local APIC software-enabled, its timer masked, TPR 0, every count
 * zeroed and the interrupt hook installed. */
void irq_setup(void);
void irq_teardown(void);
/* What a vector's handler does besides counting (NULL: EOI and return). */
typedef void irq_fn(unsigned vector);
void irq_set_handler(unsigned vector, irq_fn *fn);

/* t_apic.c: the cases */
typedef void case_fn(struct tally *t);
case_fn case_oneshot, case_periodic, case_tpr, case_ifmask, case_nesting, case_busy, case_sched,
	case_tscdeadline;
/* t_legacy.c: the PIC, the PIT, port 0x61 and LINT0 */
case_fn case_pic, case_pit, case_speaker, case_lint0, case_ioapic;

#endif
