/*
 * Shadow mode's local APIC model (src/dev/lapic.c) against the SDM's
 * rules (vol. 3, chapter 11): reset values, the timer in one-shot and
 * periodic mode with each divide value, masking, priorities (TPR, PPR,
 * ISR classes), EOI, and IPIs to self.  Times are given in nanoseconds;
 * KVM's APIC bus, which this model follows, ticks once per nanosecond.
 */
#include <criterion/criterion.h>

#include "dev/lapic.h"

static struct lapic a;

static void setup(void)
{
	lapic_reset(&a);
	lapic_write(&a, LAPIC_SVR, 0x1ff, 0);           /* software-enabled */
	lapic_write(&a, LAPIC_TDCR, 0xb, 0);            /* divide by 1 */
}

TestSuite(lapic, .init = setup);

static bool irr(unsigned v)
{
	return lapic_read(&a, LAPIC_IRR + 0x10 * (v / 32), 0) & (1u << (v % 32));
}

static bool isr(unsigned v)
{
	return lapic_read(&a, LAPIC_ISR + 0x10 * (v / 32), 0) & (1u << (v % 32));
}

Test(lapic, reset_values)
{
	lapic_reset(&a);
	cr_expect_eq(lapic_read(&a, LAPIC_VERSION, 0), 0x50014);
	cr_expect_eq(lapic_read(&a, LAPIC_SVR, 0), 0xff);
	cr_expect_eq(lapic_read(&a, LAPIC_DFR, 0), 0xffffffff);
	cr_expect_eq(lapic_read(&a, LAPIC_LVT_TIMER, 0), LAPIC_LVT_MASKED);
	cr_expect_eq(lapic_read(&a, LAPIC_LVT_LINT0, 0), 0x700, "ExtINT: KVM's BSP at reset");
	cr_expect_eq(lapic_read(&a, LAPIC_LVT_LINT1, 0), LAPIC_LVT_MASKED);
	cr_expect_eq(lapic_read(&a, LAPIC_TPR, 0), 0);
}

Test(lapic, software_disabled_keeps_lvts_masked_and_delivers_nothing)
{
	lapic_write(&a, LAPIC_SVR, 0xff, 0);
	lapic_write(&a, LAPIC_LVT_TIMER, 0x40, 0);
	cr_expect_eq(lapic_read(&a, LAPIC_LVT_TIMER, 0), LAPIC_LVT_MASKED | 0x40);
	lapic_raise(&a, 0x40);
	cr_expect_eq(lapic_pending(&a), -1);
	lapic_write(&a, LAPIC_SVR, 0x1ff, 0);
	cr_expect_eq(lapic_pending(&a), 0x40, "held in IRR while disabled, delivered once enabled");
}

Test(lapic, one_shot_counts_down_fires_once_and_stays_at_zero)
{
	lapic_write(&a, LAPIC_LVT_TIMER, 0x40, 0);
	lapic_write(&a, LAPIC_TMICT, 1000, 100);
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 500), 600);
	cr_expect_eq(lapic_timer_update(&a, 1099), 1100);
	cr_expect(!irr(0x40));
	cr_expect_eq(lapic_timer_update(&a, 1100), 0);
	cr_expect(irr(0x40));
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 5000), 0);
	lapic_ack(&a, 0x40);
	lapic_write(&a, LAPIC_EOI, 0, 5000);
	cr_expect_eq(lapic_timer_update(&a, 100000), 0);
	cr_expect(!irr(0x40), "a one-shot timer fires once");
	cr_expect_eq(a.fired, 1);
}

Test(lapic, divide_configuration)
{
	static const struct { uint32_t tdcr; unsigned div; } d[] = {
		{ 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 }, { 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 },
	};

	for (unsigned i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		lapic_reset(&a);
		lapic_write(&a, LAPIC_SVR, 0x1ff, 0);
		lapic_write(&a, LAPIC_TDCR, d[i].tdcr, 0);
		lapic_write(&a, LAPIC_LVT_TIMER, 0x40, 0);
		lapic_write(&a, LAPIC_TMICT, 100, 0);
		cr_expect_eq(lapic_timer_update(&a, 0), 100ULL * d[i].div, "TDCR %#x: divide by %u",
			     d[i].tdcr, d[i].div);
		cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 10ULL * d[i].div), 90);
	}
}

Test(lapic, periodic_reloads)
{
	lapic_write(&a, LAPIC_LVT_TIMER, (1u << 17) | 0x40, 0);
	lapic_write(&a, LAPIC_TMICT, 100, 0);
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 250), 50);
	cr_expect_eq(lapic_timer_update(&a, 250), 300, "re-armed for the next period");
	cr_expect(irr(0x40));
	cr_expect_eq(lapic_read(&a, LAPIC_TMICT, 250), 100);
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 301), 99);
}

Test(lapic, masked_timer_counts_but_raises_nothing)
{
	lapic_write(&a, LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | 0x40, 0);
	lapic_write(&a, LAPIC_TMICT, 10, 0);
	lapic_timer_update(&a, 10);
	cr_expect(!irr(0x40));
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 10), 0);
}

Test(lapic, priority_classes_tpr_and_ppr)
{
	lapic_raise(&a, 0x40);
	lapic_write(&a, LAPIC_TPR, 0x50, 0);
	cr_expect_eq(lapic_read(&a, LAPIC_PPR, 0), 0x50);
	cr_expect_eq(lapic_pending(&a), -1, "class 4 under TPR class 5");
	lapic_write(&a, LAPIC_TPR, 0x40, 0);
	cr_expect_eq(lapic_pending(&a), -1, "the class must be above PPR's, not equal");
	lapic_write(&a, LAPIC_TPR, 0x3f, 0);
	cr_expect_eq(lapic_pending(&a), 0x40);
	lapic_write(&a, LAPIC_TPR, 0, 0);

	lapic_ack(&a, 0x40);                            /* in service: PPR = 0x40 */
	cr_expect(isr(0x40) && !irr(0x40));
	cr_expect_eq(lapic_read(&a, LAPIC_PPR, 0), 0x40);
	lapic_raise(&a, 0x45);
	cr_expect_eq(lapic_pending(&a), -1, "same class as the one in service");
	lapic_raise(&a, 0x50);
	cr_expect_eq(lapic_pending(&a), 0x50, "a higher class nests");
	lapic_ack(&a, 0x50);
	lapic_write(&a, LAPIC_EOI, 0, 0);               /* EOI ends the highest in service: 0x50 */
	cr_expect(!isr(0x50) && isr(0x40));
	cr_expect_eq(lapic_pending(&a), -1);
	lapic_write(&a, LAPIC_EOI, 0, 0);
	cr_expect_eq(lapic_pending(&a), 0x45);
}

Test(lapic, ipis_to_self)
{
	lapic_write(&a, LAPIC_ICR2, 0, 0);
	lapic_write(&a, LAPIC_ICR, (1u << 18) | 0x50, 0);      /* shorthand: self */
	cr_expect(irr(0x50));
	lapic_write(&a, LAPIC_ICR, (3u << 18) | 0x60, 0);      /* all excluding self */
	cr_expect(!irr(0x60));
	lapic_write(&a, LAPIC_ICR, (2u << 18) | 0x61, 0);      /* all including self */
	cr_expect(irr(0x61));
	lapic_write(&a, LAPIC_ICR, (5u << 8) | 0x70, 0);       /* INIT to APIC 0: accepted, nothing */
	cr_expect(!irr(0x70));
	lapic_write(&a, LAPIC_ICR2, 0x01000000, 0);
	lapic_write(&a, LAPIC_ICR, 0x71, 0);                   /* fixed, to APIC 1: not us */
	cr_expect(!irr(0x71));
	lapic_write(&a, LAPIC_ICR2, 0, 0);
	lapic_write(&a, LAPIC_ICR, 0x72, 0);                   /* fixed, to APIC 0: us */
	cr_expect(irr(0x72));
	cr_expect_eq(lapic_read(&a, LAPIC_ICR, 0) & (1u << 12), 0, "delivery status idle");
	lapic_write(&a, LAPIC_ICR, (1u << 18) | 0x05, 0);      /* an illegal vector */
	cr_expect(lapic_read(&a, LAPIC_ESR, 0) & (1u << 6));
}

Test(lapic, divide_change_keeps_the_remaining_count)
{
	lapic_write(&a, LAPIC_LVT_TIMER, 0x40, 0);
	lapic_write(&a, LAPIC_TMICT, 1000, 0);
	lapic_write(&a, LAPIC_TDCR, 0x0, 400);                 /* now divide by 2 */
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 400), 600);
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 600), 500);
	cr_expect_eq(lapic_timer_update(&a, 0), 400 + 1200);
}

/* TSC-deadline mode: the deadline is set through the MSR (the caller says
 * when, in ns); TMICT is ignored and TMCCT reads 0; firing clears the MSR;
 * in the other modes the MSR reads 0 and writes are ignored; changing the
 * mode disarms (SDM vol. 3, 11.5.4.1). */
Test(lapic, tsc_deadline_mode)
{
	lapic_set_tsc_deadline(&a, 5000, 700);
	cr_expect_eq(lapic_tsc_deadline(&a), 0, "one-shot mode: the MSR write is ignored");
	lapic_write(&a, LAPIC_LVT_TIMER, (2u << 17) | 0x40, 0);
	lapic_write(&a, LAPIC_TMICT, 100, 0);
	cr_expect_eq(lapic_read(&a, LAPIC_TMICT, 0), 0);
	cr_expect_eq(lapic_read(&a, LAPIC_TMCCT, 50), 0);
	cr_expect_eq(lapic_timer_update(&a, 200), 0, "TMICT does not arm it");
	lapic_set_tsc_deadline(&a, 5000, 700);
	cr_expect_eq(lapic_tsc_deadline(&a), 5000);
	cr_expect_eq(lapic_timer_update(&a, 699), 700);
	cr_expect(!irr(0x40));
	cr_expect_eq(lapic_timer_update(&a, 700), 0);
	cr_expect(irr(0x40));
	cr_expect_eq(lapic_tsc_deadline(&a), 0, "firing clears the MSR");
	lapic_set_tsc_deadline(&a, 9000, 900);
	lapic_write(&a, LAPIC_LVT_TIMER, 0x40, 0);            /* back to one-shot: disarmed */
	cr_expect_eq(lapic_timer_update(&a, 10000), 0);
	cr_expect_eq(lapic_tsc_deadline(&a), 0);
}

Test(lapic, lint0_passes_the_pic_in_extint_mode)
{
	lapic_reset(&a);
	cr_expect(lapic_accepts_extint(&a, true), "reset: LINT0 ExtINT, even with SVR's enable clear");
	lapic_write(&a, LAPIC_LVT_LINT0, 0x10700, 0);
	cr_expect_not(lapic_accepts_extint(&a, true), "LINT0 masked");
	cr_expect(lapic_accepts_extint(&a, false), "a disabled APIC passes INTR straight through");
	lapic_write(&a, LAPIC_LVT_LINT0, 0x0000, 0);
	cr_expect_not(lapic_accepts_extint(&a, true), "fixed mode is not the virtual wire");
}
