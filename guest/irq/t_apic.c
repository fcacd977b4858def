/*
 * t_apic.c: the local APIC cases.  Each is written so that what it prints
 * does not depend on how fast the machine is: it waits for events (an
 * interrupt, the timer's count reaching zero), never for a time.
 *
 *   oneshot  the timer in one-shot mode: one interrupt, then the current
 *            count stays 0 and no other comes
 *   periodic the timer in periodic mode: five interrupts, one after the other
 *   tpr      an expired timer's interrupt is held in IRR while TPR's class
 *            is above the vector's, and taken once TPR is lowered
 *   ifmask   the same with RFLAGS.IF clear, taken after STI
 *   nesting  a higher-class self-IPI sent from inside the timer's handler
 *            (interrupts on) runs nested; a lower-class one waits for the
 *            timer's EOI and the IRET
 *   busy     the periodic timer interrupts a loop that never leaves the
 *            CPU (no HLT, no I/O): five interrupts arrive all the same
 */
#include "irq.h"

#define PAUSES 200000u

/* sti; hlt; cli until the timer interrupt has happened n times. */
static void wait_timer(unsigned n)
{
	while (irq_count[VEC_TIMER] < n)
		sti_hlt_cli();
}

/* Spin until the timer's current count reads 0 (it expired). */
static bool wait_expired(void)
{
	for (unsigned i = 0; i < 100u * PAUSES; i++) {
		if (apic_read(APIC_TMCCT) == 0)
			return true;
		pause();
	}
	return false;
}

void case_oneshot(struct tally *t)
{
	irq_setup();
	apic_write(APIC_LVTT, VEC_TIMER);
	apic_write(APIC_TMICT, 100000);
	wait_timer(1);
	check(t, apic_read(APIC_TMCCT) == 0, "current count %#x after the interrupt, want 0",
	      apic_read(APIC_TMCCT));
	sti();
	for (unsigned i = 0; i < PAUSES; i++)
		pause();
	cli();
	check(t, irq_count[VEC_TIMER] == 1, "%u timer interrupts in one-shot mode", irq_count[VEC_TIMER]);
	printf("oneshot: %u interrupt, current count %u after it\n", irq_count[VEC_TIMER],
	       apic_read(APIC_TMCCT));
	irq_teardown();
}

/* The periodic cases' timer handler: the fifth interrupt masks the timer,
 * so no tick after that can raise it however slow the rest of the case is.
 * One tick may already wait in IRR (the timer expired again while the
 * handler ran, on a slow or loaded machine): it still comes, after the
 * EOI, and the handler notes it, so the cases expect 5 + latched. */
static volatile unsigned latched;

static void stop_at_five(unsigned v)
{
	if (irq_count[v] == 5) {
		apic_write(APIC_LVTT, LVT_MASKED | LVT_PERIODIC | VEC_TIMER);
		latched = apic_test_vector(APIC_IRR, v);
	}
	apic_write(APIC_EOI, 0);
}

/* A moment with interrupts on for the latched one, if any, then off. */
static void take_latched(void)
{
	sti();
	for (unsigned i = 0; i < 1000; i++)
		pause();
	cli();
}

void case_periodic(struct tally *t)
{
	irq_setup();
	latched = 0;
	irq_set_handler(VEC_TIMER, stop_at_five);
	apic_write(APIC_LVTT, LVT_PERIODIC | VEC_TIMER);
	apic_write(APIC_TMICT, 200000);
	wait_timer(5);
	take_latched();
	apic_write(APIC_LVTT, LVT_MASKED | LVT_PERIODIC | VEC_TIMER);
	check(t, irq_count[VEC_TIMER] == 5 + latched, "%u interrupts, want 5 (+ %u latched before the mask)",
	      irq_count[VEC_TIMER], latched);
	check(t, apic_read(APIC_TMICT) == 200000, "initial count %u", apic_read(APIC_TMICT));
	printf("periodic: %u interrupts\n", irq_count[VEC_TIMER] - latched);
	irq_teardown();
}

void case_tpr(struct tally *t)
{
	irq_setup();
	apic_write(APIC_TPR, 0x50);                    /* class 5 holds back vector 0x40 */
	apic_write(APIC_LVTT, VEC_TIMER);
	apic_write(APIC_TMICT, 20000);
	sti();
	check(t, wait_expired(), "the timer never expired");
	for (unsigned i = 0; i < PAUSES; i++)
		pause();
	check(t, irq_count[VEC_TIMER] == 0, "taken with TPR 0x50");
	check(t, apic_test_vector(APIC_IRR, VEC_TIMER), "vector %#x not pending in IRR", VEC_TIMER);
	check(t, apic_read(APIC_PPR) == 0x50, "PPR %#x, want 0x50", apic_read(APIC_PPR));
	apic_write(APIC_TPR, 0);
	for (unsigned i = 0; i < PAUSES && !irq_count[VEC_TIMER]; i++)
		pause();
	cli();
	check(t, irq_count[VEC_TIMER] == 1, "%u interrupts after TPR went to 0", irq_count[VEC_TIMER]);
	printf("tpr: held in IRR while TPR was 0x50, taken when it went to 0\n");
	irq_teardown();
}

void case_ifmask(struct tally *t)
{
	irq_setup();
	cli();
	apic_write(APIC_LVTT, VEC_TIMER);
	apic_write(APIC_TMICT, 20000);
	check(t, wait_expired(), "the timer never expired");
	for (unsigned i = 0; i < PAUSES; i++)
		pause();
	check(t, irq_count[VEC_TIMER] == 0, "taken with IF clear");
	check(t, apic_test_vector(APIC_IRR, VEC_TIMER), "vector %#x not pending in IRR", VEC_TIMER);
	sti();
	for (unsigned i = 0; i < PAUSES && !irq_count[VEC_TIMER]; i++)
		pause();
	cli();
	check(t, irq_count[VEC_TIMER] == 1, "%u interrupts after STI", irq_count[VEC_TIMER]);
	check(t, !apic_test_vector(APIC_IRR, VEC_TIMER), "still pending after it was taken");
	printf("ifmask: held while IF was clear, taken after STI\n");
	irq_teardown();
}

static void timer_nests(unsigned v)
{
	(void)v;
	apic_write(APIC_ICR2, 0);
	apic_write(APIC_ICR, ICR_SELF | VEC_HIGH);      /* higher class: nests once IF is set */
	sti();
	for (unsigned i = 0; i < PAUSES && !irq_count[VEC_HIGH]; i++)
		pause();
	cli();
	apic_write(APIC_ICR, ICR_SELF | VEC_LOW);       /* lower class: after our EOI and IRET */
	apic_write(APIC_EOI, 0);
}

void case_nesting(struct tally *t)
{
	static const uint8_t want[] = { VEC_TIMER, VEC_HIGH, 0x80 | VEC_HIGH, 0x80 | VEC_TIMER,
					VEC_LOW, 0x80 | VEC_LOW };
	char seq[64] = "";
	unsigned n = 0;

	irq_setup();
	irq_set_handler(VEC_TIMER, timer_nests);
	apic_write(APIC_LVTT, VEC_TIMER);
	apic_write(APIC_TMICT, 50000);
	while (!irq_count[VEC_LOW])
		sti_hlt_cli();
	for (unsigned i = 0; i < irq_log_len && n + 4 < sizeof(seq); i++)
		n += (unsigned)snprintf(seq + n, sizeof(seq) - n, "%s%02x", i ? " " : "", irq_log[i]);
	check(t, irq_log_len == sizeof(want) && memcmp((const void *)irq_log, want, sizeof(want)) == 0,
	      "order %s, want 40 50 d0 c0 30 b0", seq);
	printf("nesting: %s (enter 0x40, nested 0x50, 0x30 after EOI)\n", seq);
	irq_teardown();
}

void case_busy(struct tally *t)
{
	volatile unsigned long spins = 0;

	irq_setup();
	latched = 0;
	irq_set_handler(VEC_TIMER, stop_at_five);
	apic_write(APIC_LVTT, LVT_PERIODIC | VEC_TIMER);
	apic_write(APIC_TMICT, 500000);
	sti();
	while (irq_count[VEC_TIMER] < 5)
		spins++;
	take_latched();
	apic_write(APIC_LVTT, LVT_MASKED | LVT_PERIODIC | VEC_TIMER);
	check(t, irq_count[VEC_TIMER] == 5 + latched, "%u interrupts, want 5 (+ %u latched before the mask)",
	      irq_count[VEC_TIMER], latched);
	check(t, spins > 0, "the loop never ran");
	printf("busy: %u interrupts into a loop that never stops the CPU\n", irq_count[VEC_TIMER] - latched);
	irq_teardown();
}

/* TSC-deadline mode (SDM vol. 3, 11.5.4.1), where CPUID offers it: the
 * interrupt comes once the TSC reaches IA32_TSC_DEADLINE, which the CPU
 * then clears; a deadline already past fires at once. */
#define MSR_TSC_DEADLINE 0x6e0

static uint64_t rdtsc_(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static volatile uint64_t tsc_at_irq;

static void note_tsc(unsigned v)
{
	(void)v;
	tsc_at_irq = rdtsc_();
	apic_write(APIC_EOI, 0);
}

void case_tscdeadline(struct tally *t)
{
	uint32_t a, b, c, d;
	uint64_t deadline;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 24))) {
		printf("tscdeadline: not offered (CPUID.01H:ECX[24] clear)\n");
		check(t, true, "not offered");
		return;
	}
	irq_setup();
	irq_set_handler(VEC_TIMER, note_tsc);
	apic_write(APIC_LVTT, LVT_TSC_DEADLINE | VEC_TIMER);
	/* The MSR reads back a deadline still to come (SDM 10.5.4.1): one far
	 * off, so that a slow machine (a nested host under TCG, where a WRMSR
	 * and a RDMSR take milliseconds) cannot pass it between the two. */
	deadline = rdtsc_() + (1ull << 40);
	wrmsr(MSR_TSC_DEADLINE, deadline);
	check(t, rdmsr(MSR_TSC_DEADLINE) == deadline, "the MSR reads %#llx, want %#llx",
	      (unsigned long long)rdmsr(MSR_TSC_DEADLINE), (unsigned long long)deadline);
	deadline = rdtsc_() + 2000000;
	wrmsr(MSR_TSC_DEADLINE, deadline);
	wait_timer(1);
	check(t, tsc_at_irq >= deadline, "the interrupt came %llu cycles before the deadline",
	      (unsigned long long)(deadline - tsc_at_irq));
	check(t, rdmsr(MSR_TSC_DEADLINE) == 0, "the MSR reads %#llx after the interrupt, want 0",
	      (unsigned long long)rdmsr(MSR_TSC_DEADLINE));
	wrmsr(MSR_TSC_DEADLINE, 1);                      /* long past: at once */
	wait_timer(2);
	check(t, irq_count[VEC_TIMER] == 2, "%u interrupts", irq_count[VEC_TIMER]);
	printf("tscdeadline: an interrupt at the deadline, the MSR cleared; a past deadline fires at once\n");
	irq_teardown();
}
