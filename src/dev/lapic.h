/*
 * Shadow mode's local APIC: the registers of an xAPIC (SDM vol. 3,
 * chapter 11), its timer and its interrupt priorities, as pure logic over
 * a struct: no KVM, no clock of its own (every call that needs the time is
 * given it, in nanoseconds), so the unit tests drive it directly.
 *
 * tdp mode uses KVM's in-kernel local APIC instead; this one behaves the
 * same where a guest can tell: the timer counts at KVM's rate (one tick per
 * nanosecond, before the divide configuration), the version register says
 * what KVM's says, and a software-disabled APIC masks its LVT entries.
 */
#ifndef OMBRA_LAPIC_H
#define OMBRA_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_BASE      0xfee00000ULL
#define LAPIC_SIZE      0x1000
#define APIC_BASE_ENABLE (1ull << 11)  /* IA32_APIC_BASE: the APIC is on */

/* Register offsets in the MMIO page (x2APIC MSR = 0x800 + offset / 16). */
#define LAPIC_ID        0x020
#define LAPIC_VERSION   0x030
#define LAPIC_TPR       0x080
#define LAPIC_APR       0x090
#define LAPIC_PPR       0x0a0
#define LAPIC_EOI       0x0b0
#define LAPIC_LDR       0x0d0
#define LAPIC_DFR       0x0e0
#define LAPIC_SVR       0x0f0
#define LAPIC_ISR       0x100
#define LAPIC_TMR       0x180
#define LAPIC_IRR       0x200
#define LAPIC_ESR       0x280
#define LAPIC_LVT_CMCI  0x2f0
#define LAPIC_ICR       0x300
#define LAPIC_ICR2      0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_THERM 0x330
#define LAPIC_LVT_PMC   0x340
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TMICT     0x380
#define LAPIC_TMCCT     0x390
#define LAPIC_TDCR      0x3e0

#define LAPIC_LVT_MASKED   (1u << 16)
#define LAPIC_TIMER_MODE   (3u << 17)      /* 0 one-shot, 1 periodic, 2 TSC deadline */
#define LAPIC_MODE_TSC_DEADLINE 2
#define LAPIC_SVR_ENABLE   (1u << 8)

struct lapic {
	uint32_t id, tpr, svr, ldr, dfr, esr, icr, icr2, tdcr;
	uint32_t lvt[7];            /* CMCI, timer, thermal, PMC, LINT0, LINT1, error */
	uint32_t irr[8], isr[8], tmr[8];
	/* the timer: at ref_ns the count was ref_count, and it goes down one
	 * per tick_ns; it expires at deadline_ns (0: not armed) */
	uint32_t initial, ref_count;
	uint64_t ref_ns, tick_ns, deadline_ns;
	uint64_t tsc_deadline;      /* TSC-deadline mode: IA32_TSC_DEADLINE (0: disarmed) */
	uint64_t fired;             /* timer interrupts raised (a counter for reports) */
	uint64_t ipis;              /* self-IPIs raised */
	unsigned eoi_level;         /* an EOI of a level-triggered vector: 1 + it, for
				     * the caller to pass to the I/O APIC (0: none) */
};

void lapic_reset(struct lapic *a);
/* MMIO: a 32-bit access at offset off (other sizes: the caller's business). */
uint32_t lapic_read(struct lapic *a, unsigned off, uint64_t now_ns);
void lapic_write(struct lapic *a, unsigned off, uint32_t val, uint64_t now_ns);

/* TSC-deadline mode (SDM vol. 3, 11.5.4.1): the guest wrote tsc to
 * IA32_TSC_DEADLINE, which the caller's clock says comes at at_ns (0 for
 * tsc 0: disarm).  Ignored in the other modes, where the MSR reads 0. */
void lapic_set_tsc_deadline(struct lapic *a, uint64_t tsc, uint64_t at_ns);
uint64_t lapic_tsc_deadline(const struct lapic *a);
unsigned lapic_timer_mode(const struct lapic *a);

/* Raise vector in IRR (an IPI or a device), edge-triggered. */
void lapic_raise(struct lapic *a, unsigned vector);
/* The same with its trigger mode, which goes to TMR (the I/O APIC's). */
void lapic_raise_trig(struct lapic *a, unsigned vector, bool level);
/* The timer: if it expired by now_ns, raise its interrupt (and re-arm in
 * periodic mode).  Returns when it expires next, in ns (0: not armed). */
uint64_t lapic_timer_update(struct lapic *a, uint64_t now_ns);
/* The highest-priority vector the APIC would give the CPU now (IRR above
 * PPR), or -1. */
int lapic_pending(const struct lapic *a);
/* Does LINT0 pass the PIC's INTR to the CPU (virtual wire)?  As KVM: an
 * APIC disabled in IA32_APIC_BASE does, else LINT0 unmasked in ExtINT mode
 * (whatever the software enable in SVR). */
bool lapic_accepts_extint(const struct lapic *a, bool hw_enabled);
/* The CPU took it: IRR to ISR. */
void lapic_ack(struct lapic *a, unsigned vector);

#endif
