/*
 * t_legacy.c: the legacy PC's interrupt hardware, programmed as an OS does:
 * the 8259A PIC pair, the 8254 PIT, port 0x61 (the PIT's channel 2 gate
 * and output) and the local APIC's LINT0 in ExtINT mode.  Like the APIC
 * cases, each waits for events (an edge in the PIC's IRR, an interrupt, a
 * count running out), never for a time.
 *
 *   pic      ICW1..ICW4 and OCW1 read back; an edge while masked waits in
 *            IRR; the handler sees ISR, which EOI (non-specific, specific)
 *            clears; poll mode; auto-EOI; the ELCR's fixed edge bits
 *   pit      channel 0 in mode 2 (five interrupts, then three into a loop
 *            that never traps) and mode 0 (one); the read-back status and
 *            latched counts
 *   speaker  port 0x61: gate and speaker bits, and channel 2's OUT in bit 5
 *   lint0    LINT0 in ExtINT mode passes the PIC's interrupts; masked, the
 *            interrupt waits in the PIC
 *   ioapic   the I/O APIC's version and reset entries; the PIT's IRQ 0 on
 *            its pin 2 (a PC's override), edge-triggered to a vector of
 *            the local APIC's, with the PIC masked
 *
 * QEMU's firmware leaves the PIC set up (IRQ 0 at vector 8) and the PIT
 * running, ombra leaves both in their reset state, so every case starts
 * from legacy_begin(): the PIT silent, the PIC initialized and masked with
 * nothing pending; and leaves the same way.
 */
#include "irq.h"

#define SHORT   1193u            /* counts: 1 ms at 1.193182 MHz */
#define LONG    0xf000u          /* about 51 ms */
#define LOOPS   1000000u         /* bound on every poll of a port */
#define SPIN    20000u           /* pauses with IF set, for what must not come */

/* Poll the master's IRR until bit 0 (the PIT's edge) is set. */
static bool wait_irr0(void)
{
	for (unsigned i = 0; i < LOOPS; i++)
		if (pic_irr() & 1)
			return true;
	return false;
}

/*
 * Silence the PIT and leave the PIC initialized, masked and clean: load a
 * one-shot count (mode 0; loading cancels whatever ran), initialize the
 * PIC while that count still runs (ICW1 clears IRR, so the edge comes
 * after it), wait for the edge in IRR and initialize the PIC again.  A
 * mode 0 count gives one edge, so nothing reaches the PIC until the next
 * load.  If the count ran out before the PIC was set up (a slow machine),
 * again with a longer one.
 */
static bool pit_silence(void)
{
	unsigned count = 0x800;

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
	if (!wait_irr0())
		return false;
	pic_init(VEC_PIC, VEC_PIC2, ICW4_UPM);
	pic_mask(0xff, 0xff);
	return true;
}

/* The PIC's interrupt handler: notes the master's ISR on entry and after
 * its EOI (the command in eoi, none if 0); masks IRQ 0 at the mask_at'th
 * interrupt so that a periodic PIT gives no more. */
static volatile uint8_t isr_in, isr_out, eoi;
static volatile unsigned mask_at, last_vec;

static void on_pic(unsigned v)
{
	last_vec = v;
	isr_in = pic_isr();
	if (irq_count[v] == mask_at)
		outb(PIC1_DATA, 0xff);
	if (eoi)
		outb(PIC1_CMD, eoi);
	isr_out = pic_isr();
}

/* sti; hlt; cli until the PIC's vector 0x20 has come n times. */
static void wait_pic(unsigned n)
{
	while (irq_count[VEC_PIC] < n)
		sti_hlt_cli();
}

/* A while with interrupts enabled, for one that must not come. */
static void spin_sti(void)
{
	sti();
	for (unsigned i = 0; i < SPIN; i++)
		pause();
	cli();
}

static uint32_t lvt0_saved;

static void legacy_begin(struct tally *t)
{
	irq_setup();
	cli();
	irq_set_handler(VEC_PIC, on_pic);
	eoi = OCW2_EOI;
	mask_at = 0;
	last_vec = 0;
	lvt0_saved = apic_read(APIC_LVT0);
	apic_write(APIC_LVT0, LVT_EXTINT);
	check(t, pit_silence(), "the PIT's one-shot never reached the PIC's IRR");
}

static void legacy_end(struct tally *t)
{
	cli();
	check(t, pit_silence(), "the PIT's one-shot never reached the PIC's IRR at the end");
	check(t, irq_count[VEC_PIC + 7] == 0 && irq_count[VEC_PIC2 + 7] == 0,
	      "%u spurious IRQ 7, %u spurious IRQ 15", irq_count[VEC_PIC + 7], irq_count[VEC_PIC2 + 7]);
	apic_write(APIC_LVT0, lvt0_saved);
	irq_teardown();
}

void case_pic(struct tally *t)
{
	uint8_t imr1, imr2, m1, m2, irr, masked_irr, isr, poll, e1, e2, r1, r2, z1, z2;

	legacy_begin(t);
	/* ICW1 clears the mask; OCW1 sets it. */
	pic_init(VEC_PIC, VEC_PIC2, ICW4_UPM);
	imr1 = inb(PIC1_DATA);
	imr2 = inb(PIC2_DATA);
	pic_mask(0xff, 0xff);
	m1 = inb(PIC1_DATA);
	m2 = inb(PIC2_DATA);
	irr = pic_irr();
	isr = pic_isr();
	check(t, imr1 == 0 && imr2 == 0, "IMR %02x %02x after ICW1..4, want 00 00", imr1, imr2);
	check(t, m1 == 0xff && m2 == 0xff, "IMR %02x %02x after OCW1 ff ff", m1, m2);
	check(t, irr == 0 && isr == 0, "IRR %02x ISR %02x after init, want 00 00", irr, isr);
	printf("pic: IMR %02x %02x after ICW1..4, %02x %02x after OCW1; IRR %02x, ISR %02x\n", imr1, imr2,
	       m1, m2, irr, isr);

	/* The IRR is before the mask: a masked edge is noted, not delivered. */
	pit_load(0, PIT_MODE0, SHORT);
	check(t, wait_irr0(), "no edge in IRR from the masked PIT");
	spin_sti();
	masked_irr = pic_irr();
	check(t, masked_irr == 0x01, "IRR %02x with IRQ 0 masked, want 01", masked_irr);
	check(t, irq_count[VEC_PIC] == 0, "delivered while masked");
	outb(PIC1_DATA, 0xfe);
	wait_pic(1);
	irr = pic_irr();
	check(t, last_vec == VEC_PIC, "vector %#x, want %#x", last_vec, VEC_PIC);
	check(t, isr_in == 0x01 && isr_out == 0, "ISR %02x in the handler, %02x after EOI 0x20, want 01 00",
	      isr_in, isr_out);
	check(t, irr == 0, "IRR %02x after the interrupt, want 00", irr);
	printf("pic: IRQ 0 masked: IRR %02x, not delivered; unmasked: vector %#x, ISR %02x in the handler, "
	       "%02x after EOI 0x20\n", masked_irr, last_vec, isr_in, isr_out);

	/* A specific EOI for level 0. */
	eoi = OCW2_SL | OCW2_EOI | 0;
	pit_load(0, PIT_MODE0, SHORT);
	wait_pic(2);
	check(t, isr_in == 0x01 && isr_out == 0, "ISR %02x in the handler, %02x after EOI 0x60, want 01 00",
	      isr_in, isr_out);
	printf("pic: specific EOI 0x60: ISR %02x in the handler, %02x after it\n", isr_in, isr_out);

	/* Poll mode, interrupts off: the read gives 0x80 | level and takes
	 * the request from IRR.  (QEMU then sets ISR, KVM does not: an EOI
	 * leaves both clear.) */
	pit_load(0, PIT_MODE0, SHORT);
	check(t, wait_irr0(), "no edge in IRR for poll mode");
	outb(PIC1_CMD, OCW3 | OCW3_P);
	poll = inb(PIC1_CMD);
	irr = pic_irr();
	outb(PIC1_CMD, OCW2_EOI);
	isr = pic_isr();
	spin_sti();
	check(t, poll == 0x80, "poll read %02x, want 80", poll);
	check(t, irr == 0 && isr == 0, "IRR %02x ISR %02x after the poll and an EOI, want 00 00", irr, isr);
	check(t, irq_count[VEC_PIC] == 2, "the polled request was delivered as well");
	printf("pic: poll: %02x (IRQ 0), IRR %02x after it, not delivered\n", poll, irr);

	/* Auto-EOI: the acknowledge leaves ISR clear; no EOI is sent. */
	pic_init(VEC_PIC, VEC_PIC2, ICW4_UPM | ICW4_AEOI);
	pic_mask(0xfe, 0xff);
	eoi = 0;
	pit_load(0, PIT_MODE0, SHORT);
	wait_pic(3);
	check(t, last_vec == VEC_PIC, "vector %#x in auto-EOI mode", last_vec);
	check(t, isr_in == 0 && isr_out == 0, "ISR %02x in the handler in auto-EOI mode, want 00", isr_in);
	printf("pic: auto-EOI (ICW4 0x03): vector %#x, ISR %02x in the handler\n", last_vec, isr_in);

	/* The ELCR: IRQ 0, 1, 2, 8 and 13 are always edge triggered. */
	e1 = inb(ELCR1);
	e2 = inb(ELCR2);
	outb(ELCR1, 0xff);
	outb(ELCR2, 0xff);
	r1 = inb(ELCR1);
	r2 = inb(ELCR2);
	outb(ELCR1, 0);
	outb(ELCR2, 0);
	z1 = inb(ELCR1);
	z2 = inb(ELCR2);
	outb(ELCR1, e1);
	outb(ELCR2, e2);
	check(t, r1 == 0xf8 && r2 == 0xde, "ELCR ff ff reads %02x %02x, want f8 de", r1, r2);
	check(t, z1 == 0 && z2 == 0, "ELCR 00 00 reads %02x %02x", z1, z2);
	printf("pic: ELCR ff ff reads %02x %02x, 00 00 reads %02x %02x\n", r1, r2, z1, z2);
	check(t, irq_count[VEC_PIC] == 3, "%u interrupts, want 3", irq_count[VEC_PIC]);
	legacy_end(t);
}

void case_pit(struct tally *t)
{
	uint16_t c1, c2, c3;
	uint8_t st, st1, st2, lo, hi;
	volatile unsigned long spins = 0;
	unsigned n;

	legacy_begin(t);
	/* Mode 2: an interrupt every count; the handler masks the fifth. */
	mask_at = 5;
	pic_mask(0xfe, 0xff);
	pit_load(0, PIT_MODE2, SHORT);
	c1 = pit_latch(0);
	st = pit_status(0);
	wait_pic(5);
	c2 = pit_latch(0);
	spin_sti();
	check(t, irq_count[VEC_PIC] == 5, "%u interrupts in mode 2, want 5", irq_count[VEC_PIC]);
	check(t, last_vec == VEC_PIC, "vector %#x, want %#x", last_vec, VEC_PIC);
	/* OUT (bit 7) is a pulse in mode 2: left out. */
	check(t, (st & 0x7f) == 0x34, "status %02x in mode 2, want 34 (OUT aside)", st);
	check(t, c1 >= 1 && c1 <= SHORT && c2 >= 1 && c2 <= SHORT, "latched counts %u %u, want 1..%u",
	      c1, c2, SHORT);
	printf("pit: mode 2, count %u: %u interrupts at vector %#x; status %02x (OUT aside); "
	       "latched counts within 1..%u\n", SHORT, irq_count[VEC_PIC], last_vec, st & 0x7f, SHORT);
	check(t, pit_silence(), "the PIT's one-shot never reached the PIC's IRR");

	/* Mode 2 into a loop that never leaves the CPU (no HLT, no I/O): the
	 * interrupts come all the same; the third masks IRQ 0 at the PIC, so
	 * a later edge waits in IRR. */
	n = irq_count[VEC_PIC];
	mask_at = n + 3;
	pic_mask(0xfe, 0xff);
	pit_load(0, PIT_MODE2, SHORT);
	sti();
	while (irq_count[VEC_PIC] < n + 3)
		spins++;
	cli();
	check(t, irq_count[VEC_PIC] == n + 3, "%u interrupts into the loop, want 3", irq_count[VEC_PIC] - n);
	check(t, spins > 0, "the loop never ran");
	printf("pit: mode 2 into a loop that never stops the CPU: %u interrupts\n", irq_count[VEC_PIC] - n);
	check(t, pit_silence(), "the PIT's one-shot never reached the PIC's IRR");

	/* Mode 0: one interrupt at the terminal count, OUT high after it. */
	mask_at = 0;
	n = irq_count[VEC_PIC];
	pic_mask(0xfe, 0xff);
	pit_load(0, PIT_MODE0, SHORT);
	wait_pic(n + 1);
	st = pit_status(0);
	spin_sti();
	check(t, irq_count[VEC_PIC] == n + 1, "%u interrupts in mode 0, want 1", irq_count[VEC_PIC] - n);
	check(t, st == 0xb0, "status %02x after the interrupt, want b0", st);
	printf("pit: mode 0, count %u: %u interrupt; status %02x after it\n", SHORT, irq_count[VEC_PIC] - n,
	       st);

	/* A long count, masked: OUT low before it runs out; latched counts
	 * within it and going down (no reload in mode 0, so the second
	 * cannot be larger while OUT is still low). */
	pic_mask(0xff, 0xff);
	pit_load(0, PIT_MODE0, LONG);
	c1 = pit_latch(0);
	st1 = pit_status(0);
	c2 = pit_latch(0);
	st2 = pit_status(0);
	outb(PIT_CTRL, PIT_READBACK | PIT_RB_CNT(0));  /* read-back: count and status */
	st = inb(PIT_CH0);
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	c3 = (uint16_t)(hi << 8 | lo);
	check(t, st1 == 0x30, "status %02x just after loading %#x, want 30", st1, LONG);
	check(t, c1 >= 1 && c1 <= LONG, "latched count %#x, want 1..%#x", c1, LONG);
	check(t, (st2 & PIT_OUT) || c2 <= c1, "the second latched count %#x is above the first %#x", c2, c1);
	check(t, (st & 0x7f) == 0x30 && ((st & PIT_OUT) || c3 <= c2), "read-back status %02x count %#x",
	      st, c3);
	printf("pit: mode 0, count %#x: status %02x before it ran out; latched counts within it, "
	       "not going up\n", LONG, st1);

	/* The status shows RW, mode and BCD as programmed: MSB only, BCD. */
	outb(PIT_CTRL, PIT_SC(0) | PIT_RW_MSB | PIT_M(PIT_MODE0) | PIT_BCD);   /* 0x21 */
	outb(PIT_CH0, 0x90);
	st = pit_status(0);
	check(t, st == 0x21, "status %02x after control word 21, want 21", st);
	printf("pit: control word 21 (MSB only, mode 0, BCD): status %02x\n", st);
	legacy_end(t);
}

void case_speaker(struct tally *t)
{
	uint8_t saved, rb[4], out0, st;
	bool ran_out = false;

	legacy_begin(t);
	saved = inb(PORT_B);
	/* Bits 0 and 1 read back; 2, 3, 6 and 7 read 0 (written 0 here);
	 * bit 4 (the refresh toggle) is time, left out. */
	for (unsigned v = 0; v < 4; v++) {
		outb(PORT_B, (uint8_t)v);
		rb[v] = inb(PORT_B);
		check(t, (rb[v] & 0xcf) == v, "port 0x61 reads %02x after %02x", rb[v], v);
	}
	printf("speaker: port 0x61 bits 1..0 written 0 1 2 3 read %u %u %u %u\n", rb[0] & 3, rb[1] & 3,
	       rb[2] & 3, rb[3] & 3);

	/* Channel 2 in mode 0 with the gate high: OUT2 low, then high. */
	outb(PORT_B, 0x01);
	pit_load(2, PIT_MODE0, 0x2000);
	out0 = inb(PORT_B) & 0x20;
	for (unsigned i = 0; i < LOOPS && !ran_out; i++)
		ran_out = inb(PORT_B) & 0x20;
	st = pit_status(2);
	check(t, out0 == 0, "OUT2 high just after loading channel 2");
	check(t, ran_out, "OUT2 never went high");
	check(t, st == 0xb0, "channel 2 status %02x after it ran out, want b0", st);
	printf("speaker: channel 2, mode 0, gate high: OUT2 %u after loading, %u once it ran out; "
	       "status %02x\n", out0 >> 5, ran_out, st);
	outb(PORT_B, saved & 0x0f);
	legacy_end(t);
}

void case_lint0(struct tally *t)
{
	uint32_t lvt;
	uint8_t irr;

	legacy_begin(t);
	lvt = apic_read(APIC_LVT0);
	pic_mask(0xfe, 0xff);
	pit_load(0, PIT_MODE0, SHORT);
	wait_pic(1);
	check(t, lvt == LVT_EXTINT, "LINT0 reads %#x, want %#x", lvt, LVT_EXTINT);
	check(t, last_vec == VEC_PIC, "vector %#x through LINT0, want %#x", last_vec, VEC_PIC);
	printf("lint0: %#x (ExtINT) passes the PIC's vector %#x\n", lvt, last_vec);
	check(t, pit_silence(), "the PIT's one-shot never reached the PIC's IRR");

	/* Masked: the request waits in the PIC, its output up. */
	apic_write(APIC_LVT0, LVT_MASKED | LVT_EXTINT);
	lvt = apic_read(APIC_LVT0);
	pic_mask(0xfe, 0xff);
	pit_load(0, PIT_MODE0, SHORT);
	check(t, wait_irr0(), "no edge in IRR from the PIT");
	spin_sti();
	irr = pic_irr();
	check(t, lvt == (LVT_MASKED | LVT_EXTINT), "LINT0 reads %#x, want %#x", lvt, LVT_MASKED | LVT_EXTINT);
	check(t, irq_count[VEC_PIC] == 1, "delivered with LINT0 masked");
	check(t, irr == 0x01, "IRR %02x with LINT0 masked, want 01", irr);
	/* Unmasked, with interrupts off.  QEMU's APIC takes the PIC's output
	 * at once, KVM's looks again only when the output rises, so IRQ 0 is
	 * masked and unmasked at the PIC before STI. */
	apic_write(APIC_LVT0, LVT_EXTINT);
	pic_mask(0xff, 0xff);
	pic_mask(0xfe, 0xff);
	wait_pic(2);
	check(t, irq_count[VEC_PIC] == 2, "%u interrupts, want 2", irq_count[VEC_PIC]);
	printf("lint0: masked (%#x): IRR %02x, not delivered; unmasked: vector %#x\n", lvt, irr, last_vec);
	legacy_end(t);
}

/* The I/O APIC's interrupt: counts, EOIs at the local APIC, and masks its
 * entry at the fifth so that the periodic PIT gives no more. */
#define VEC_IOAPIC 0x31
#define PIT_PIN    2
static volatile uint32_t tmr_in;
static volatile unsigned ioapic_latched;   /* one already in the local APIC's IRR */

static void on_ioapic(unsigned v)
{
	tmr_in = apic_test_vector(APIC_TMR, v);
	if (irq_count[v] == 5) {
		ioapic_write(IOAPIC_REDIR + 2 * PIT_PIN, LVT_MASKED | VEC_IOAPIC);
		ioapic_latched = apic_test_vector(APIC_IRR, v);
	}
	apic_write(APIC_EOI, 0);
}

void case_ioapic(struct tally *t)
{
	uint32_t ver, lo, hi, entry;

	legacy_begin(t);
	ioapic_latched = 0;
	ver = ioapic_read(IOAPIC_VER);
	lo = ioapic_read(IOAPIC_REDIR + 2 * PIT_PIN);
	hi = ioapic_read(IOAPIC_REDIR + 2 * PIT_PIN + 1);
	/* The version itself differs: KVM's is 0x11, QEMU's own 0x20. */
	check(t, (ver >> 16 & 0xff) == 23, "version register %08x: %u pins, want 24", ver, (ver >> 16 & 0xff) + 1);
	check(t, lo == LVT_MASKED && hi == 0, "entry 2 %08x %08x at reset, want masked", hi, lo);
	printf("ioapic: %u pins; entry 2 %08x %08x (masked)\n", (ver >> 16 & 0xff) + 1, hi, lo);

	/* Pin 2, edge-triggered, fixed, to APIC ID 0: the PIT in mode 2. */
	irq_set_handler(VEC_IOAPIC, on_ioapic);
	ioapic_write(IOAPIC_REDIR + 2 * PIT_PIN + 1, 0);
	ioapic_write(IOAPIC_REDIR + 2 * PIT_PIN, VEC_IOAPIC);
	entry = ioapic_read(IOAPIC_REDIR + 2 * PIT_PIN);
	pit_load(0, PIT_MODE2, SHORT);
	while (irq_count[VEC_IOAPIC] < 5)
		sti_hlt_cli();
	spin_sti();
	/* A tick that came while the fifth's handler ran, before the mask,
	 * waits in the local APIC's IRR and still comes: not the IOAPIC's. */
	check(t, entry == VEC_IOAPIC, "entry 2 reads %08x, want %08x", entry, VEC_IOAPIC);
	check(t, irq_count[VEC_IOAPIC] == 5 + ioapic_latched, "%u interrupts, want 5 (+ %u latched before the mask)",
	      irq_count[VEC_IOAPIC], ioapic_latched);
	check(t, irq_count[VEC_PIC] == 0, "the masked PIC delivered %u", irq_count[VEC_PIC]);
	check(t, tmr_in == 0, "TMR set for an edge-triggered vector");
	printf("ioapic: the PIT on pin 2, edge, vector %#x: %u interrupts, TMR clear, none from the masked PIC\n",
	       VEC_IOAPIC, irq_count[VEC_IOAPIC] - ioapic_latched);
	ioapic_write(IOAPIC_REDIR + 2 * PIT_PIN, LVT_MASKED);
	legacy_end(t);
}
