/*
 * w_irq.c: workload irq, what one interrupt costs, from its source to the
 * handler's IRETQ:
 *
 *   selfipi  N self-IPIs: with IF set, a write to the local APIC's ICR
 *            (fixed delivery, shorthand self, vector 0x40), then a wait
 *            until the handler has counted it.  One iteration: the send,
 *            the delivery, the handler with its EOI, and the IRETQ.
 *   timer    N one-shots of the local APIC timer (divide by 1, initial
 *            count TIMER_COUNT, vector 0x41): armed with IF clear, then
 *            sti; hlt until the handler has counted it.  One iteration: the
 *            arming, the expiry, the wake from HLT, the delivery, the
 *            handler and the IRETQ.
 *   pit      N one-shots of the PIT's channel 0 (mode 0, count PIT_COUNT)
 *            through the 8259A PIC (IRQ 0 at vector 0x20, the only line
 *            unmasked) and the local APIC's LINT0 in ExtINT mode, waited
 *            for the same way; the handler's EOI goes to the PIC.  One
 *            iteration: the control word and the count (three OUTs), the
 *            edge, the PIC's acknowledge, the delivery, the handler and
 *            the IRETQ.
 *
 * The handlers are irq64.S's, six instructions each, through an IDT of the
 * workload's own (the runtime's stubs for every other vector), not the
 * runtime's generic path: on a host whose KVM emulates every ring-0
 * instruction its register saves would be most of what tdp mode measures.
 * In tdp mode the local APIC, the PIC and the PIT are KVM's, in the
 * kernel; in shadow mode they are ombra's, every APIC access an MMIO trap.
 *
 * The PIC and the PIT are set up as guest/irq/t_legacy.c does: the PIT
 * silenced with a mode 0 count, the PIC initialized while that count runs
 * and again after its edge, so no edge from before (QEMU's firmware leaves
 * the PIT running) reaches the phase.  Checks: each handler ran N times, no
 * other interrupt came, nothing was left in service, no page fault.  The
 * machine is left with the PIC masked, the PIT silent in mode 0, the APIC
 * timer masked, LVT0 and the SVR as found and the runtime's IDT.
 */
#include "bench.h"
#include "desc.h"
#include "pcirq.h"

#define NUM_VECTORS 256
#define GATE_INTR   0x8e

#define VEC_PIC      0x20            /* the master PIC's base: IRQ 0 is the PIT */
#define VEC_PIC2     0x28
#define VEC_IPI      0x40
#define VEC_TIMER    0x41
#define VEC_SPURIOUS 0xff

#define TIMER_COUNT  64              /* APIC timer ticks: 64 ns at KVM's and QEMU's 1 GHz */
#define PIT_COUNT    2               /* PIT clocks: 1.7 us at 1.193182 MHz */
#define LOOPS        1000000u        /* bound on every poll of a port, and on the self-IPI's spin */

extern const uintptr_t trap_stubs[NUM_VECTORS];                 /* trap64.S */
extern char irq_ipi_handler[], irq_timer_handler[], irq_pit_handler[]; /* irq64.S */
extern volatile uint64_t irq_ipi_count, irq_timer_count, irq_pit_count;

struct gate {
	uint64_t lo, hi;
};
static struct gate idt[NUM_VECTORS] __attribute__((aligned(16)));

static struct gate gate(uintptr_t handler, unsigned ist)
{
	uint64_t off = handler;

	return (struct gate){
		.lo = (off & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | ((uint64_t)ist << 32) |
		      ((uint64_t)GATE_INTR << 40) | (((off >> 16) & 0xffff) << 48),
		.hi = off >> 32,
	};
}

/* The runtime's IDT but for the three vectors timed here (#BP, which no
 * one raises, loses its DPL 3). */
static void load_irq_idt(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uintptr_t)idt };

	for (unsigned v = 0; v < NUM_VECTORS; v++)
		idt[v] = gate(trap_stubs[v], v == VEC_DF ? 1 : 0);
	idt[VEC_IPI] = gate((uintptr_t)irq_ipi_handler, 0);
	idt[VEC_TIMER] = gate((uintptr_t)irq_timer_handler, 0);
	idt[VEC_PIC] = gate((uintptr_t)irq_pit_handler, 0);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

/* Any other interrupt, through the runtime's stubs: noted (a check fails)
 * and acknowledged, so that it cannot hold back the ones measured. */
static volatile unsigned strays, stray_vec;

static void on_stray(struct trap_frame *f)
{
	unsigned v = (unsigned)f->vector;

	strays++;
	stray_vec = v;
	if (v >= VEC_PIC && v < VEC_PIC + 16)
		pic_eoi(v - VEC_PIC);
	else if (v != VEC_SPURIOUS)
		apic_write(APIC_EOI, 0);
}

/*
 * Silence the PIT and leave the PIC initialized, masked and clean (as
 * t_legacy.c's pit_silence): load a mode 0 count, initialize the PIC while
 * it runs, wait for its one edge in IRR and initialize the PIC again.  A
 * count that ran out before the PIC was set up is tried again, longer.
 */
static bool pit_silence(void)
{
	unsigned count = 0x800, i;

	for (;;) {
		pit_load(0, PIT_MODE0, (uint16_t)count);
		pic_init(VEC_PIC, VEC_PIC2, ICW4_UPM);
		pic_mask(0xff, 0xff);
		if (!(pit_status(0) & PIT_OUT))
			break;
		if (count == 0xffff)
			return false;
		count = count * 4 > 0xffff ? 0xffff : count * 4;
	}
	for (i = 0; i < LOOPS && !(pic_irr() & 1); i++)
		;
	if (i == LOOPS)
		return false;
	pic_init(VEC_PIC, VEC_PIC2, ICW4_UPM);
	pic_mask(0xff, 0xff);
	return true;
}

uint32_t work_irq(const struct bench_args *a)
{
	struct bench b;
	uint64_t n = a->a;
	uint64_t *root;
	uint32_t svr, lvt0;
	uint8_t isr;
	bool silent;

	bench_begin(&b, "irq");
	mem_init(b.name);
	root = base_space();
	pt4_map4k(root, APIC_BASE, APIC_BASE, 1, PTE_P | PTE_W | PTE_PCD | PTE_PWT | PTE_A | PTE_D);
	paging_set_root(root);

	cli();
	pic_mask(0xff, 0xff);                    /* QEMU's firmware leaves IRQ 0 unmasked at vector 8 */
	load_irq_idt();
	trap_set_irq_hook(on_stray);
	strays = 0;
	irq_ipi_count = 0;
	irq_timer_count = 0;
	irq_pit_count = 0;
	svr = apic_read(APIC_SVR);
	lvt0 = apic_read(APIC_LVT0);
	apic_write(APIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVTT, LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TMICT, 0);
	apic_write(APIC_TDCR, TDCR_DIV1);
	apic_write(APIC_ICR2, 0);

	sti();
	phase_start(&b);
	for (uint64_t i = 1; i <= n; i++) {
		unsigned spins = 0;

		apic_write(APIC_ICR, ICR_SELF | VEC_IPI);
		while (irq_ipi_count < i && ++spins < LOOPS)
			pause();
		if (spins == LOOPS)
			break;                   /* lost: the check below says so */
	}
	phase_stop(&b, "selfipi", n);
	cli();
	check(&b.tally, irq_ipi_count == n, "the self-IPI handler ran %llu times, expected %llu",
	      (unsigned long long)irq_ipi_count, (unsigned long long)n);

	apic_write(APIC_LVTT, VEC_TIMER);        /* one-shot */
	phase_start(&b);
	for (uint64_t i = 1; i <= n; i++) {
		apic_write(APIC_TMICT, TIMER_COUNT);
		while (irq_timer_count < i)
			sti_hlt_cli();
	}
	phase_stop(&b, "timer", n);
	apic_write(APIC_LVTT, LVT_MASKED | VEC_TIMER);
	check(&b.tally, irq_timer_count == n, "the timer handler ran %llu times, expected %llu",
	      (unsigned long long)irq_timer_count, (unsigned long long)n);
	check(&b.tally, apic_read(APIC_TMCCT) == 0, "the timer's current count is %u after the last one",
	      apic_read(APIC_TMCCT));
	check(&b.tally, !apic_test_vector(APIC_ISR, VEC_IPI) && !apic_test_vector(APIC_ISR, VEC_TIMER) &&
	      !apic_test_vector(APIC_IRR, VEC_IPI) && !apic_test_vector(APIC_IRR, VEC_TIMER),
	      "vector %#x or %#x still in the APIC's ISR or IRR", VEC_IPI, VEC_TIMER);

	apic_write(APIC_LVT0, LVT_EXTINT);
	silent = pit_silence();
	check(&b.tally, silent, "the PIT's one-shot never reached the PIC's IRR");
	if (silent) {
		pic_mask(0xfe, 0xff);            /* IRQ 0 only */
		phase_start(&b);
		for (uint64_t i = 1; i <= n; i++) {
			pit_load(0, PIT_MODE0, PIT_COUNT);
			while (irq_pit_count < i)
				sti_hlt_cli();
		}
		phase_stop(&b, "pit", n);
		pic_mask(0xff, 0xff);
		isr = pic_isr();
		check(&b.tally, irq_pit_count == n, "the PIT's handler ran %llu times, expected %llu",
		      (unsigned long long)irq_pit_count, (unsigned long long)n);
		check(&b.tally, isr == 0, "the PIC's ISR is %02x after the last one", isr);
	}

	apic_write(APIC_LVT0, lvt0);
	apic_write(APIC_SVR, svr);
	trap_set_irq_hook(NULL);
	desc_load();
	check(&b.tally, strays == 0, "%u other interrupts, the last at vector %#x", strays, stray_vec);
	check(&b.tally, pf_count == 0, "%llu page faults", (unsigned long long)pf_count);
	return bench_end(&b);
}
