/*
 * Shadow mode's local APIC (lapic.h): registers, timer and priorities,
 * following the SDM (vol. 3, chapter 11) and, where the SDM leaves a
 * choice, what KVM's in-kernel APIC does (so tdp and shadow mode agree).
 */
#include <string.h>

#include "lapic.h"

#define KVM_APIC_VERSION 0x00050014u   /* version 0x14, 6 LVT entries (as KVM, QEMU) */
#define LVT_TIMER        1

static unsigned lvt_index(unsigned off)
{
	return off == LAPIC_LVT_CMCI ? 0 : 1 + (off - LAPIC_LVT_TIMER) / 0x10;
}

/* The bits each LVT entry keeps (the rest read as 0). */
static uint32_t lvt_mask(unsigned i)
{
	switch (i) {
	case LVT_TIMER:
		return 0x600ff | LAPIC_LVT_MASKED;         /* vector, mode, mask */
	case 4:                                          /* LINT0, LINT1: polarity, trigger too */
	case 5:
		return 0x1e7ff;
	case 6:                                          /* error: vector and mask */
		return 0x100ff;
	default:                                         /* CMCI, thermal, PMC */
		return 0x107ff;
	}
}

static void set_bit(uint32_t *v, unsigned n) { v[n / 32] |= 1u << (n % 32); }
static void clear_bit(uint32_t *v, unsigned n) { v[n / 32] &= ~(1u << (n % 32)); }

static int highest(const uint32_t *v)
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static uint32_t ppr(const struct lapic *a)
{
	int isrv = highest(a->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (a->tpr & 0xf0) >= isr_class ? a->tpr & 0xff : isr_class;
}

void lapic_reset(struct lapic *a)
{
	memset(a, 0, sizeof(*a));
	a->dfr = 0xffffffff;
	a->svr = 0xff;
	for (unsigned i = 0; i < 7; i++)
		a->lvt[i] = LAPIC_LVT_MASKED;
	a->lvt[4] = 0x700;      /* LINT0: ExtINT, unmasked, as KVM resets its BSP (virtual wire) */
}

static unsigned divisor(const struct lapic *a)
{
	unsigned v = (a->tdcr & 3) | ((a->tdcr >> 1) & 4);

	return v == 7 ? 1 : 2u << v;
}

unsigned lapic_timer_mode(const struct lapic *a)
{
	return (a->lvt[LVT_TIMER] & LAPIC_TIMER_MODE) >> 17;
}

static bool periodic(const struct lapic *a)
{
	return lapic_timer_mode(a) == 1;
}

void lapic_set_tsc_deadline(struct lapic *a, uint64_t tsc, uint64_t at_ns)
{
	if (lapic_timer_mode(a) != LAPIC_MODE_TSC_DEADLINE)
		return;
	a->tsc_deadline = tsc;
	a->deadline_ns = tsc ? (at_ns ? at_ns : 1) : 0;
}

uint64_t lapic_tsc_deadline(const struct lapic *a)
{
	return lapic_timer_mode(a) == LAPIC_MODE_TSC_DEADLINE ? a->tsc_deadline : 0;
}

static void timer_start(struct lapic *a, uint64_t now_ns)
{
	a->ref_ns = now_ns;
	a->ref_count = a->initial;
	a->tick_ns = divisor(a);                     /* KVM's APIC bus: 1 ns per cycle */
	a->deadline_ns = a->initial ? now_ns + (uint64_t)a->initial * a->tick_ns : 0;
}

static uint32_t current_count(const struct lapic *a, uint64_t now_ns)
{
	uint64_t used;

	if (!a->initial || !a->tick_ns || now_ns < a->ref_ns)
		return a->initial ? a->ref_count : 0;
	used = (uint64_t)(a->initial - a->ref_count) + (now_ns - a->ref_ns) / a->tick_ns;
	if (periodic(a))
		return a->initial - (uint32_t)(used % a->initial);
	return used >= a->initial ? 0 : a->initial - (uint32_t)used;
}

uint64_t lapic_timer_update(struct lapic *a, uint64_t now_ns)
{
	if (!a->deadline_ns || now_ns < a->deadline_ns)
		return a->deadline_ns;
	if (!(a->lvt[LVT_TIMER] & LAPIC_LVT_MASKED))
		lapic_raise(a, a->lvt[LVT_TIMER] & 0xff);
	a->fired++;
	if (lapic_timer_mode(a) == LAPIC_MODE_TSC_DEADLINE) {
		a->tsc_deadline = 0;                 /* the CPU clears the MSR when it fires */
		a->deadline_ns = 0;
	} else if (periodic(a)) {
		uint64_t period = (uint64_t)a->initial * a->tick_ns;
		uint64_t n = (now_ns - a->deadline_ns) / period + 1;  /* periods gone by */

		a->deadline_ns += n * period;
		a->ref_ns = a->deadline_ns - period;
		a->ref_count = a->initial;
	} else {
		a->deadline_ns = 0;                  /* the count stays at 0 */
	}
	return a->deadline_ns;
}

void lapic_raise_trig(struct lapic *a, unsigned vector, bool level)
{
	if (vector < 16) {                           /* 0-15 are illegal vectors: ESR */
		a->esr |= 1u << 6;                   /* send/receive illegal vector */
		return;
	}
	set_bit(a->irr, vector & 0xff);
	if (level)
		set_bit(a->tmr, vector & 0xff);
	else
		clear_bit(a->tmr, vector & 0xff);
}

void lapic_raise(struct lapic *a, unsigned vector)
{
	lapic_raise_trig(a, vector, false);
}

int lapic_pending(const struct lapic *a)
{
	int v = highest(a->irr);

	if (!(a->svr & LAPIC_SVR_ENABLE) || v < 0)
		return -1;
	return ((uint32_t)v & 0xf0) > (ppr(a) & 0xf0) ? v : -1;
}

void lapic_ack(struct lapic *a, unsigned vector)
{
	clear_bit(a->irr, vector & 0xff);
	set_bit(a->isr, vector & 0xff);
}

uint32_t lapic_read(struct lapic *a, unsigned off, uint64_t now_ns)
{
	off &= 0xff0;
	if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x80)
		return a->isr[(off - LAPIC_ISR) / 0x10];
	if (off >= LAPIC_TMR && off < LAPIC_TMR + 0x80)
		return a->tmr[(off - LAPIC_TMR) / 0x10];
	if (off >= LAPIC_IRR && off < LAPIC_IRR + 0x80)
		return a->irr[(off - LAPIC_IRR) / 0x10];
	if (off == LAPIC_LVT_CMCI || (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR))
		return a->lvt[lvt_index(off)];
	switch (off) {
	case LAPIC_ID:      return a->id;
	case LAPIC_VERSION: return KVM_APIC_VERSION;
	case LAPIC_TPR:     return a->tpr;
	case LAPIC_PPR:     return ppr(a);
	case LAPIC_LDR:     return a->ldr;
	case LAPIC_DFR:     return a->dfr;
	case LAPIC_SVR:     return a->svr;
	case LAPIC_ESR:     return a->esr;
	case LAPIC_ICR:     return a->icr & ~(1u << 12);   /* delivery status: idle */
	case LAPIC_ICR2:    return a->icr2;
	case LAPIC_TMICT:   return lapic_timer_mode(a) == LAPIC_MODE_TSC_DEADLINE ? 0 : a->initial;
	case LAPIC_TMCCT:   return lapic_timer_mode(a) == LAPIC_MODE_TSC_DEADLINE ? 0 : current_count(a, now_ns);
	case LAPIC_TDCR:    return a->tdcr;
	default:            return 0;                      /* EOI, APR, reserved */
	}
}

static void send_ipi(struct lapic *a)
{
	unsigned mode = (a->icr >> 8) & 7, shorthand = (a->icr >> 18) & 3;
	bool to_self = shorthand == 1 || shorthand == 2 ||
		       (shorthand == 0 && (a->icr2 >> 24) == (a->id >> 24));

	/* One CPU: INIT, SIPI and anything for others are accepted and go
	 * nowhere; a fixed interrupt to this CPU is raised here. */
	if (mode == 0 && to_self) {
		lapic_raise(a, a->icr & 0xff);
		a->ipis++;
	}
}

void lapic_write(struct lapic *a, unsigned off, uint32_t val, uint64_t now_ns)
{
	off &= 0xff0;
	if (off == LAPIC_LVT_CMCI || (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR)) {
		unsigned i = lvt_index(off);
		unsigned was = lapic_timer_mode(a);

		a->lvt[i] = val & lvt_mask(i);
		if (!(a->svr & LAPIC_SVR_ENABLE))
			a->lvt[i] |= LAPIC_LVT_MASKED;     /* software-disabled: masked */
		if (i == LVT_TIMER && was != lapic_timer_mode(a)) {
			/* a mode change stops the timer (as KVM does) */
			a->initial = 0;
			a->deadline_ns = 0;
			a->tsc_deadline = 0;
		}
		return;
	}
	switch (off) {
	case LAPIC_ID:
		a->id = val & 0xff000000;
		break;
	case LAPIC_TPR:
		a->tpr = val & 0xff;
		break;
	case LAPIC_EOI: {
		int v = highest(a->isr);

		if (v >= 0) {
			clear_bit(a->isr, (unsigned)v);
			if (a->tmr[v / 32] & (1u << (v % 32)))
				a->eoi_level = (unsigned)v + 1;  /* for the I/O APIC */
		}
		break;
	}
	case LAPIC_LDR:
		a->ldr = val & 0xff000000;
		break;
	case LAPIC_DFR:
		a->dfr = val | 0x0fffffff;
		break;
	case LAPIC_SVR:
		a->svr = val & 0x1ff;
		if (!(a->svr & LAPIC_SVR_ENABLE))
			for (unsigned i = 0; i < 7; i++)
				a->lvt[i] |= LAPIC_LVT_MASKED;
		break;
	case LAPIC_ESR:
		a->esr = 0;
		break;
	case LAPIC_ICR:
		a->icr = val & ~(1u << 12);
		send_ipi(a);
		break;
	case LAPIC_ICR2:
		a->icr2 = val & 0xff000000;
		break;
	case LAPIC_TMICT:
		if (lapic_timer_mode(a) == LAPIC_MODE_TSC_DEADLINE)
			break;                          /* ignored in TSC-deadline mode */
		a->initial = val;
		timer_start(a, now_ns);
		break;
	case LAPIC_TDCR:
		/* the count goes on at the new rate from where it is */
		if (a->initial) {
			a->ref_count = current_count(a, now_ns);
			a->ref_ns = now_ns;
		}
		a->tdcr = val & 0xb;
		a->tick_ns = divisor(a);
		if (a->initial && a->deadline_ns)
			a->deadline_ns = now_ns + (uint64_t)a->ref_count * a->tick_ns;
		break;
	default:
		break;                                  /* read-only or reserved */
	}
}

bool lapic_accepts_extint(const struct lapic *a, bool hw_enabled)
{
	uint32_t lint0 = a->lvt[4];

	return !hw_enabled || (!(lint0 & LAPIC_LVT_MASKED) && (lint0 & 0x700) == 0x700);
}
