/*
 * libFuzzer harness for shadow mode's interrupt hardware models, wired as
 * src/shadow/intr.c wires them: the PIT (src/dev/pit.c) with port 0x61, the PIC
 * pair (pic.c), the I/O APIC (ioapic.c) and the local APIC (lapic.c).
 * The input is a program of port and MMIO accesses, IRQ lines, interrupt
 * acknowledges (as shadow_deliver_interrupt takes them, or a bare INTA),
 * EOIs and steps of time.  Besides ASan/UBSan, it checks what the data
 * sheets and the SDM require whatever the guest writes, from the chips'
 * registers, not from how the models compute:
 *   - no masked source is delivered: a PIC INTA gives an IRQ that was
 *     requested (IRR) and not masked (IMR; through the master's IRQ 2 for
 *     the slave), or the spurious IRQ 7/15; a vector the I/O APIC sends
 *     comes from an unmasked pin with that vector; the timer raises
 *     nothing while its LVT entry is masked, and only its own vector; the
 *     PIC reaches the CPU through LINT0 only when that is unmasked ExtINT;
 *   - the PIC's ISR and IRR follow the 8259A data sheet at INTA: the
 *     acknowledged bit (and the master's IRQ 2 for a slave IRQ) goes into
 *     ISR unless in AEOI mode, nothing else changes in ISR, an edge
 *     request leaves IRR, and no INTR means the spurious IRQ 7 with ISR
 *     untouched; INTR needs an unmasked request;
 *   - the local APIC delivers only a vector of 16 or more, the highest in
 *     IRR, of a class above PPR's, with the APIC software-enabled, and
 *     accepting it moves it from IRR to ISR (SDM vol. 3, 10.8.3);
 *   - PIT counts stay within 16 bits plus 0x10000, IRQ 0's next edge is
 *     in the future, port 0x61's unused bits read 0.
 * Each invariant prints its name before the trap.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/ioapic.h"
#include "dev/lapic.h"
#include "dev/pic.h"
#include "dev/pit.h"

#define CHECK(c, what) do { if (!(c)) { \
	fprintf(stderr, "fuzz_irqchip: invariant failed: %s\n", what); __builtin_trap(); } } while (0)
#define MUST(c) CHECK(c, #c)

static const uint16_t pic_ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };

static struct pit pit;
static struct pic pic;
static struct ioapic io;
static struct lapic apic;

static bool apic_hw = true;            /* IA32_APIC_BASE's enable bit */

static bool apic_bit(unsigned reg, unsigned v)
{
	return lapic_read(&apic, reg + (v / 32) * 0x10, 0) >> (v % 32) & 1;
}

/* A vector the I/O APIC sends: from an unmasked pin programmed with it
 * (pin >= 0: that pin, as a line change raises only its own). */
static void to_lapic(int vector, int pin)
{
	bool from = false;

	if (vector < 0)
		return;
	for (unsigned p = 0; p < IOAPIC_PINS; p++) {
		uint64_t e = io.redir[p];

		if ((pin < 0 || (unsigned)pin == p) && !(e & IOAPIC_MASKED) && (e & IOAPIC_VECTOR) == (unsigned)vector &&
		    (e & IOAPIC_DELIVERY) <= (1ull << 8))
			from = true;
	}
	CHECK(from, "the I/O APIC sent a vector no unmasked fixed/lowest pin has");
	lapic_raise_trig(&apic, (unsigned)vector, ioapic_level_vector(&io, (unsigned)vector));
}

/* The CPU's INTA cycle on the PIC pair, checked against the 8259A data
 * sheet from the registers before and after. */
static void pic_inta(void)
{
	struct pic_chip m = pic.chip[0], s = pic.chip[1];
	bool intr = pic_output(&pic), ok = false, src = false;
	unsigned v = pic_intack(&pic);
	const struct pic_chip *m1 = &pic.chip[0], *s1 = &pic.chip[1];

	if (!intr) {
		CHECK(v == m.irq_base + 7u, "INTA without INTR is not the master's spurious IRQ 7");
		CHECK(m1->isr == m.isr && s1->isr == s.isr, "INTA without INTR changed ISR");
		return;
	}
	/* The bases may be equal: accept any reading of v that fits.  IRQ 2
	 * is the slave's, whatever ICW1's single bit says: the PC wires it
	 * so, and QEMU and KVM cascade always. */
	for (unsigned i = 0; i < 8 && !ok; i++) {
		uint8_t b = (uint8_t)(1u << i);

		if (v != m.irq_base + i || i == 2)
			continue;
		if (!(m.irr & b) || (m.imr & b))
			continue;
		src = true;
		ok = m1->isr == (m.auto_eoi ? m.isr : (m.isr | b)) && s1->isr == s.isr &&
		     ((m.elcr & b) || !(m1->irr & b));
	}
	for (unsigned j = 0; j < 8 && !ok; j++) {
		uint8_t b = (uint8_t)(1u << j), c = 1u << 2;
		bool req = (s.irr & b) && !(s.imr & b);

		if (v != s.irq_base + j || !(m.irr & c) || (m.imr & c) || !(req || j == 7))
			continue;
		src = true;
		/* The request, or the slave's spurious IRQ 15 when its own
		 * request is gone (or is below one in service) by INTA. */
		ok = m1->isr == (m.auto_eoi ? m.isr : (m.isr | c)) &&
		     ((req && s1->isr == (s.auto_eoi ? s.isr : (s.isr | b)) && ((s.elcr & b) || !(s1->irr & b))) ||
		      (j == 7 && s1->isr == s.isr));
	}
	CHECK(src, "PIC INTA gave a vector that is not an unmasked request (IRR, IMR) nor spurious IRQ 15");
	CHECK(ok, "PIC INTA moved ISR/IRR otherwise than the data sheet says");
}

/* The local APIC's delivery and acceptance (SDM vol. 3, 10.8.3). */
static void apic_accept(void)
{
	int vec = lapic_pending(&apic);

	if (vec < 0)
		return;
	CHECK(vec >= 16 && vec <= 255, "the local APIC delivered a vector below 16");
	CHECK(lapic_read(&apic, LAPIC_SVR, 0) & LAPIC_SVR_ENABLE, "the local APIC delivered while software-disabled");
	CHECK(apic_bit(LAPIC_IRR, (unsigned)vec), "the local APIC delivered a vector not in IRR");
	for (unsigned u = (unsigned)vec + 1; u < 256; u++)
		CHECK(!apic_bit(LAPIC_IRR, u), "the local APIC delivered a vector below the highest in IRR");
	CHECK(((unsigned)vec & 0xf0) > (lapic_read(&apic, LAPIC_PPR, 0) & 0xf0),
	      "the local APIC delivered a vector not above PPR's class");
	lapic_ack(&apic, (unsigned)vec);
	CHECK(apic_bit(LAPIC_ISR, (unsigned)vec) && !apic_bit(LAPIC_IRR, (unsigned)vec),
	      "accepting a vector did not move it from IRR to ISR");
}

/* As shadow_deliver_interrupt: the PIC through LINT0 first, else the APIC. */
static void deliver(void)
{
	if (pic_output(&pic) && lapic_accepts_extint(&apic, apic_hw)) {
		uint32_t lint0 = lapic_read(&apic, LAPIC_LVT_LINT0, 0);

		CHECK(!apic_hw || (!(lint0 & LAPIC_LVT_MASKED) && (lint0 & 0x700) == 0x700),
		      "the PIC's INTR passed LINT0 while it is masked or not ExtINT");
		pic_inta();
	} else {
		apic_accept();
	}
}

/* The APIC timer: while its LVT entry is masked it raises nothing, and
 * otherwise only its own vector. */
static void timer_update(uint64_t now)
{
	uint32_t irr[8], lvt = lapic_read(&apic, LAPIC_LVT_TIMER, 0);

	for (unsigned k = 0; k < 8; k++)
		irr[k] = lapic_read(&apic, LAPIC_IRR + k * 0x10, 0);
	(void)lapic_timer_update(&apic, now);
	for (unsigned k = 0; k < 8; k++) {
		uint32_t added = lapic_read(&apic, LAPIC_IRR + k * 0x10, 0) & ~irr[k];

		CHECK(!added || !(lvt & LAPIC_LVT_MASKED), "the APIC timer raised a vector while its LVT entry is masked");
		CHECK(!added || (added == 1u << (lvt & 31) && k == (lvt & 0xff) / 32),
		      "the APIC timer raised a vector other than its LVT entry's");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	uint64_t now = 0;

	apic_hw = true;
	pit_reset(&pit);
	pic_reset(&pic);
	ioapic_reset(&io);
	lapic_reset(&apic);
	for (size_t i = 0; i + 6 <= n; i += 6) {
		unsigned op = d[i] % 15, a = d[i + 1], b = d[i + 2];
		uint32_t v32;

		memcpy(&v32, d + i + 2, 4);
		switch (op) {
		case 0:
			pit_write(&pit, a % 4, (uint8_t)b, now);
			break;
		case 1:
			(void)pit_read(&pit, a % 4, now);
			break;
		case 2:
			if (a & 1)
				pit_port61_write(&pit, (uint8_t)b, now);
			MUST((pit_port61_read(&pit, now) & 0xcc) == 0);
			break;
		case 3:
			pic_write(&pic, pic_ports[a % 6], (uint8_t)b);
			break;
		case 4:
			(void)pic_read(&pic, pic_ports[a % 6]);
			break;
		case 5:
			pic_set_irq(&pic, a % 16, b & 1);
			break;
		case 6:
			if (a & 1)
				pic_inta();                  /* a bare INTA, INTR or not */
			else
				deliver();
			break;
		case 7:
			to_lapic(ioapic_write(&io, a & 1 ? IOAPIC_WINDOW : IOAPIC_REGSEL, v32), -1);
			break;
		case 8:
			(void)ioapic_read(&io, a & 1 ? IOAPIC_WINDOW : (a & 2 ? IOAPIC_REGSEL : a));
			break;
		case 9:
			to_lapic(ioapic_set_irq(&io, a % 32, b & 1), (int)(a % 32));
			break;
		case 10:
			lapic_write(&apic, (a % 64) * 16, v32, now);
			if (apic.eoi_level) {
				to_lapic(ioapic_eoi(&io, apic.eoi_level - 1), -1);
				apic.eoi_level = 0;
			}
			break;
		case 11:
			(void)lapic_read(&apic, (a % 64) * 16, now);
			break;
		case 12:
			apic_accept();
			break;
		case 13:
			apic_hw = a & 1;
			ioapic_sync_lapic(&io, &apic, apic_hw);
			break;
		default:                                 /* time goes on, up to 16.7 ms */
			now += (uint64_t)(a | b << 8 | (unsigned)d[i + 3] << 16);
			if (pit_irq0_update(&pit, now)) {
				pic_set_irq(&pic, 0, true);
				pic_set_irq(&pic, 0, false);
				to_lapic(ioapic_set_irq(&io, 2, true), 2);
				ioapic_set_irq(&io, 2, false);
			}
			MUST(pit.irq0_next_ns == 0 || pit.irq0_next_ns > now);
			timer_update(now);
			break;
		}
		for (unsigned c = 0; c < 3; c++)
			MUST(pit_count(&pit, c, now) <= 0x10000);
		if (pic_output(&pic))
			CHECK(pic.chip[0].irr & (uint8_t)~pic.chip[0].imr, "the PIC's INTR is high with no unmasked request");
	}
	return 0;
}
