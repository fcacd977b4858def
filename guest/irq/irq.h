/*
 * irq.h: what the interrupt test kernel's cases share (guest/irq,
 * README.md there): the local APIC, reached through its MMIO page at
 * 0xfee00000, and a count of the interrupts each vector took.
 */
#ifndef IRQ_H
#define IRQ_H

#include "alloc.h"
#include "check.h"
#include "cpu.h"
#include "paging.h"
#include "runtime.h"
#include "trap.h"

#define APIC_BASE   0xfee00000ull
#define APIC_ID     0x20
#define APIC_VER    0x30
#define APIC_TPR    0x80
#define APIC_PPR    0xa0
#define APIC_EOI    0xb0
#define APIC_SVR    0xf0
#define APIC_ISR    0x100
#define APIC_IRR    0x200
#define APIC_ICR    0x300
#define APIC_ICR2   0x310
#define APIC_LVTT   0x320
#define APIC_LVT0   0x350
#define APIC_TMICT  0x380
#define APIC_TMCCT  0x390
#define APIC_TDCR   0x3e0

#define LVT_MASKED   (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define ICR_SELF     (1u << 18)   /* destination shorthand: self */

#define VEC_TIMER 0x40
#define VEC_HIGH  0x50            /* a higher priority class than the timer */
#define VEC_LOW   0x30            /* a lower one */

/* The I/O APIC: a register through IOREGSEL (0x00) and IOWIN (0x10). */
#define IOAPIC_BASE  0xfec00000ull
#define IOAPIC_VER   0x01
#define IOAPIC_REDIR 0x10         /* entry n: 0x10 + 2n (low), 0x11 + 2n (high) */

static inline uint32_t ioapic_read(unsigned reg)
{
	*(volatile uint32_t *)(uintptr_t)IOAPIC_BASE = reg;
	return *(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + 0x10);
}

static inline void ioapic_write(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)IOAPIC_BASE = reg;
	*(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + 0x10) = v;
}

static inline uint32_t apic_read(unsigned reg)
{
	return *(volatile uint32_t *)(uintptr_t)(APIC_BASE + reg);
}

static inline void apic_write(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(APIC_BASE + reg) = v;
}

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
