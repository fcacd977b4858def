/*
 * Shadow mode's I/O APIC (src/dev/ioapic.c) against the 82093AA data
 * sheet and what KVM's in-kernel IOAPIC does where it differs: reset
 * values, the ID, version and arbitration registers, IOREGSEL, unknown
 * registers, redirection entries and their read-only bits, edge and
 * level pins, remote IRR and EOI, unmasking, delivery modes and which
 * destinations reach the one CPU's local APIC.  Expected values are
 * worked out from the data sheet's register layouts, not the model.
 */
#include <criterion/criterion.h>

#include "dev/ioapic.h"
#include "dev/lapic.h"

static struct ioapic io;
static struct lapic apic;

/* The CPU's local APIC as an OS leaves it: software-enabled, APIC ID 0. */
static void setup(void)
{
	ioapic_reset(&io);
	lapic_reset(&apic);
	lapic_write(&apic, LAPIC_SVR, 0x1ff, 0);
	ioapic_sync_lapic(&io, &apic, true);
}

TestSuite(ioapic, .init = setup);

static uint32_t reg(uint32_t sel)
{
	ioapic_write(&io, 0x00, sel);
	return ioapic_read(&io, 0x10);
}

static int set_reg(uint32_t sel, uint32_t val)
{
	ioapic_write(&io, 0x00, sel);
	return ioapic_write(&io, 0x10, val);
}

/* Program entry pin: low and high halves, high first (as OSes do). */
static int program(unsigned pin, uint32_t lo, uint32_t hi)
{
	set_reg(0x11 + 2 * pin, hi);
	return set_reg(0x10 + 2 * pin, lo);
}

Test(ioapic, reset_values)
{
	cr_expect_eq(ioapic_read(&io, 0x00), 0, "IOREGSEL");
	cr_expect_eq(reg(0x00), 0, "ID 0");
	cr_expect_eq(reg(0x01), 0x00170011, "24 entries (max 23), version 0x11");
	cr_expect_eq(reg(0x02), 0, "arbitration ID");
	for (unsigned n = 0; n < 24; n++) {
		cr_expect_eq(reg(0x10 + 2 * n), 0x00010000, "entry %u: masked only", n);
		cr_expect_eq(reg(0x11 + 2 * n), 0, "entry %u: destination 0", n);
	}
}

Test(ioapic, id_register)
{
	set_reg(0x00, 0xffffffff);
	cr_expect_eq(reg(0x00), 0x0f000000, "only bits 27:24 stick");
	cr_expect_eq(reg(0x02), 0x0f000000, "arbitration ID reads as the ID");
	set_reg(0x00, 0x05000000);
	cr_expect_eq(reg(0x00), 0x05000000);
	set_reg(0x01, 0);
	cr_expect_eq(reg(0x01), 0x00170011, "version is read-only");
	set_reg(0x02, 0x0a000000);
	cr_expect_eq(reg(0x02), 0x05000000, "arbitration ID writes are ignored");
	cr_expect_eq(reg(0x00), 0x05000000);
}

Test(ioapic, ioregsel_keeps_eight_bits)
{
	ioapic_write(&io, 0x00, 0x12345601);
	cr_expect_eq(ioapic_read(&io, 0x00), 0x01);
	cr_expect_eq(ioapic_read(&io, 0x10), 0x00170011, "selects the version register");
}

Test(ioapic, unknown_registers_read_all_ones)
{
	static const uint32_t sel[] = { 0x03, 0x08, 0x0f, 0x40, 0x41, 0x80, 0xff };

	for (unsigned i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
		cr_expect_eq(set_reg(sel[i], 0), -1);
		cr_expect_eq(reg(sel[i]), 0xffffffff, "register %#x", sel[i]);
	}
	cr_expect_eq(reg(0x3e), 0x00010000, "entry 23 is the last");
	cr_expect_eq(reg(0x3f), 0);
	cr_expect_eq(reg(0x00), 0, "writes to nothing changed the ID");
}

Test(ioapic, other_offsets_read_zero)
{
	static const unsigned off[] = { 0x04, 0x08, 0x0c, 0x14, 0x20, 0x40, 0xf0, 0x100, 0xffc };

	ioapic_write(&io, 0x00, 0x01);
	for (unsigned i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		cr_expect_eq(ioapic_write(&io, off[i], 0x02), -1);
		cr_expect_eq(ioapic_read(&io, off[i]), 0, "offset %#x", off[i]);
	}
	cr_expect_eq(ioapic_read(&io, 0x00), 0x01, "IOREGSEL untouched");
	cr_expect_eq(ioapic_read(&io, 0x10), 0x00170011);
}

Test(ioapic, entries_and_their_read_only_bits)
{
	set_reg(0x16, 0xffffffff);                      /* entry 3 low */
	cr_expect_eq(reg(0x16), 0xffffafff, "delivery status (12) and remote IRR (14) stay 0");
	set_reg(0x17, 0xffffffff);
	cr_expect_eq(reg(0x17), 0xffffffff, "the high half is all kept");
	set_reg(0x17, 0x12000000);
	cr_expect_eq(reg(0x17), 0x12000000);
	cr_expect_eq(reg(0x16), 0xffffafff, "one half leaves the other be");
	set_reg(0x3e, 0x000080a5);                      /* entry 23: level, vector 0xa5 */
	cr_expect_eq(reg(0x3e), 0x000080a5);
	cr_expect_eq(reg(0x14), 0x00010000, "neighbours untouched");
	cr_expect_eq(reg(0x18), 0x00010000);
}

Test(ioapic, remote_irr_cannot_be_written)
{
	program(4, 0x00008041, 0);                      /* level, vector 0x41, unmasked */
	cr_expect_eq(ioapic_set_irq(&io, 4, true), 0x41);
	cr_expect_eq(reg(0x18), 0x0000c041, "remote IRR set");
	cr_expect_eq(set_reg(0x18, 0x00008041), -1, "remote IRR set: nothing sent");
	cr_expect_eq(reg(0x18), 0x0000c041, "writing 0 to it keeps it");
	cr_expect_eq(set_reg(0x19, 0), -1);
	cr_expect_eq(reg(0x18), 0x0000c041);
}

Test(ioapic, edge_pins_send_on_the_rising_edge)
{
	cr_expect_eq(program(1, 0x00000031, 0), -1, "an edge entry sends nothing when written");
	cr_expect_eq(ioapic_set_irq(&io, 1, true), 0x31);
	cr_expect_eq(ioapic_set_irq(&io, 1, true), -1, "still high: no edge");
	cr_expect_eq(ioapic_set_irq(&io, 1, false), -1);
	cr_expect_eq(ioapic_set_irq(&io, 1, true), 0x31);
	cr_expect_eq(reg(0x12), 0x00000031, "no remote IRR, no delivery status");
	cr_expect_eq(ioapic_eoi(&io, 0x31), -1, "EOI of an edge vector: nothing");
	cr_expect_eq(io.raised, 2);
}

Test(ioapic, a_masked_edge_is_lost)
{
	program(1, 0x00010031, 0);                      /* masked */
	cr_expect_eq(ioapic_set_irq(&io, 1, true), -1);
	cr_expect_eq(set_reg(0x12, 0x00000031), -1, "unmasking does not send the edge");
	cr_expect_eq(ioapic_set_irq(&io, 1, true), -1, "line still high: no edge");
	ioapic_set_irq(&io, 1, false);
	cr_expect_eq(ioapic_set_irq(&io, 1, true), 0x31, "the next edge goes");
}

Test(ioapic, polarity_is_not_applied)
{
	program(5, 0x00002035, 0);                      /* edge, active low */
	cr_expect_eq(ioapic_set_irq(&io, 5, true), 0x35, "the line asserted sends");
	cr_expect_eq(ioapic_set_irq(&io, 5, false), -1);
}

Test(ioapic, level_remote_irr_and_eoi)
{
	program(10, 0x0000a040, 0);                     /* level, active low, vector 0x40 */
	cr_expect_eq(ioapic_set_irq(&io, 10, true), 0x40);
	cr_expect_eq(reg(0x24), 0x0000e040, "remote IRR set");
	cr_expect_eq(ioapic_set_irq(&io, 10, true), -1, "waits for the EOI");
	cr_expect_eq(ioapic_eoi(&io, 0x41), -1, "another vector's EOI");
	cr_expect_eq(reg(0x24), 0x0000e040);
	cr_expect_eq(ioapic_eoi(&io, 0x40), 0x40, "line still high: again");
	cr_expect_eq(reg(0x24), 0x0000e040, "and waiting again");
	cr_expect_eq(ioapic_set_irq(&io, 10, false), -1);
	cr_expect_eq(reg(0x24), 0x0000e040, "the line going low leaves remote IRR");
	cr_expect_eq(ioapic_eoi(&io, 0x40), -1, "line low: nothing more");
	cr_expect_eq(reg(0x24), 0x0000a040);
	cr_expect_eq(ioapic_set_irq(&io, 10, true), 0x40);
	cr_expect_eq(io.raised, 3);
}

Test(ioapic, eoi_serves_every_pin_with_the_vector)
{
	program(9, 0x00008050, 0);
	program(11, 0x00008050, 0);
	cr_expect_eq(ioapic_set_irq(&io, 9, true), 0x50);
	cr_expect_eq(ioapic_set_irq(&io, 11, true), 0x50);
	ioapic_set_irq(&io, 9, false);
	cr_expect_eq(ioapic_eoi(&io, 0x50), 0x50, "pin 11 is still high");
	cr_expect_eq(reg(0x22), 0x00008050, "pin 9: remote IRR clear");
	cr_expect_eq(reg(0x26), 0x0000c050, "pin 11: sent again");
}

Test(ioapic, eoi_of_a_masked_level_pin)
{
	program(10, 0x00008040, 0);
	cr_expect_eq(ioapic_set_irq(&io, 10, true), 0x40);
	set_reg(0x24, 0x00018040);                      /* masked in the handler */
	cr_expect_eq(ioapic_eoi(&io, 0x40), -1, "masked: not sent");
	cr_expect_eq(reg(0x24), 0x00018040, "but remote IRR cleared");
	cr_expect_eq(set_reg(0x24, 0x00008040), 0x40, "unmasked while high: sent");
}

Test(ioapic, unmasking_a_high_level_pin_sends)
{
	program(10, 0x00018040, 0);                     /* masked, level */
	cr_expect_eq(ioapic_set_irq(&io, 10, true), -1);
	cr_expect_eq(reg(0x24), 0x00018040, "masked: no remote IRR");
	cr_expect_eq(set_reg(0x24, 0x00008040), 0x40);
	cr_expect_eq(reg(0x24), 0x0000c040);
	cr_expect_eq(set_reg(0x25, 0), -1, "rewritten while remote IRR is set: nothing");
}

Test(ioapic, unmasking_a_level_pin_gone_low_sends_nothing)
{
	program(10, 0x00018040, 0);
	ioapic_set_irq(&io, 10, true);
	ioapic_set_irq(&io, 10, false);
	cr_expect_eq(set_reg(0x24, 0x00008040), -1);
	cr_expect_eq(reg(0x24), 0x00008040);
}

Test(ioapic, writing_an_entry_as_edge_clears_remote_irr)
{
	program(10, 0x00008040, 0);
	cr_expect_eq(ioapic_set_irq(&io, 10, true), 0x40);
	cr_expect_eq(set_reg(0x24, 0x00000040), -1, "edge: nothing sent");
	cr_expect_eq(reg(0x24), 0x00000040, "remote IRR gone");
	cr_expect_eq(set_reg(0x24, 0x00008040), 0x40, "level again, line high: sent");
	cr_expect_eq(reg(0x24), 0x0000c040);
}

Test(ioapic, level_vectors_for_the_tmr)
{
	program(1, 0x00000031, 0);
	program(10, 0x00018040, 0);                     /* masked still counts */
	cr_expect(ioapic_level_vector(&io, 0x40));
	cr_expect_not(ioapic_level_vector(&io, 0x31));
	cr_expect_not(ioapic_level_vector(&io, 0x00), "reset entries are edge");
	cr_expect_not(ioapic_level_vector(&io, 0x140));
}

Test(ioapic, physical_destinations)
{
	program(2, 0x00000032, 0x01000000);             /* APIC 1: nobody */
	cr_expect_eq(ioapic_set_irq(&io, 2, true), -1);
	program(3, 0x00008033, 0x01000000);
	cr_expect_eq(ioapic_set_irq(&io, 3, true), -1);
	cr_expect_eq(reg(0x16), 0x00008033, "not delivered: no remote IRR");
	program(4, 0x00000034, 0xff000000);             /* broadcast */
	cr_expect_eq(ioapic_set_irq(&io, 4, true), 0x34);
	program(5, 0x00000035, 0x00000001);             /* bits 55:32 are not the destination */
	cr_expect_eq(ioapic_set_irq(&io, 5, true), 0x35);

	lapic_write(&apic, LAPIC_ID, 0x01000000, 0);    /* the guest moves its APIC to ID 1 */
	ioapic_sync_lapic(&io, &apic, true);
	cr_expect_eq(set_reg(0x16, 0x00008033), 0x33, "pin 3 reaches it now (level, high)");
	program(6, 0x00000036, 0);
	cr_expect_eq(ioapic_set_irq(&io, 6, true), -1, "APIC 0 is gone");
}

Test(ioapic, logical_flat_destinations)
{
	program(2, 0x00000832, 0x01000000);             /* logical, destination bit 0 */
	cr_expect_eq(ioapic_set_irq(&io, 2, true), -1, "LDR 0: in no group");
	program(3, 0x00000833, 0xff000000);
	cr_expect_eq(ioapic_set_irq(&io, 3, true), 0x33, "0xff reaches every APIC");

	lapic_write(&apic, LAPIC_LDR, 0x01000000, 0);   /* logical ID bit 0 (Linux's CPU 0) */
	ioapic_sync_lapic(&io, &apic, true);
	ioapic_set_irq(&io, 2, false);
	cr_expect_eq(ioapic_set_irq(&io, 2, true), 0x32);
	program(4, 0x00000834, 0x02000000);
	cr_expect_eq(ioapic_set_irq(&io, 4, true), -1, "bit 1: another CPU");
	program(5, 0x00000835, 0x03000000);
	cr_expect_eq(ioapic_set_irq(&io, 5, true), 0x35, "bits 0 and 1");
}

Test(ioapic, logical_cluster_destinations)
{
	lapic_write(&apic, LAPIC_DFR, 0x0fffffff, 0);   /* cluster model */
	lapic_write(&apic, LAPIC_LDR, 0x12000000, 0);   /* cluster 1, member bit 1 */
	ioapic_sync_lapic(&io, &apic, true);
	program(2, 0x00000832, 0x12000000);
	cr_expect_eq(ioapic_set_irq(&io, 2, true), 0x32);
	program(3, 0x00000833, 0x16000000);
	cr_expect_eq(ioapic_set_irq(&io, 3, true), 0x33, "members 1 and 2 of cluster 1");
	program(4, 0x00000834, 0x22000000);
	cr_expect_eq(ioapic_set_irq(&io, 4, true), -1, "cluster 2");
	program(5, 0x00000835, 0x11000000);
	cr_expect_eq(ioapic_set_irq(&io, 5, true), -1, "member 0");
}

Test(ioapic, delivery_modes)
{
	static const uint32_t other[] = { 0x200, 0x400, 0x500, 0x700 };  /* SMI, NMI, INIT, ExtINT */

	program(1, 0x00000131, 0);                      /* lowest priority */
	cr_expect_eq(ioapic_set_irq(&io, 1, true), 0x31);
	for (unsigned i = 0; i < 4; i++) {
		unsigned pin = 2 + i;

		program(pin, 0x00008000 | other[i] | (0x40 + pin), 0);
		cr_expect_eq(ioapic_set_irq(&io, pin, true), -1, "mode %#x", other[i]);
		cr_expect_eq(reg(0x10 + 2 * pin), 0x00008000 | other[i] | (0x40 + pin),
			     "mode %#x: no remote IRR", other[i]);
	}
	cr_expect_eq(io.raised, 1);
}

Test(ioapic, a_disabled_local_apic_takes_nothing)
{
	lapic_write(&apic, LAPIC_SVR, 0x0ff, 0);        /* software-disabled */
	ioapic_sync_lapic(&io, &apic, true);
	program(1, 0x00000031, 0);
	program(10, 0x00008040, 0);
	cr_expect_eq(ioapic_set_irq(&io, 1, true), -1);
	cr_expect_eq(ioapic_set_irq(&io, 10, true), -1);
	cr_expect_eq(reg(0x24), 0x00008040, "no remote IRR");

	lapic_write(&apic, LAPIC_SVR, 0x1ff, 0);
	ioapic_sync_lapic(&io, &apic, false);           /* off in IA32_APIC_BASE */
	cr_expect_eq(ioapic_set_irq(&io, 10, true), -1);

	ioapic_sync_lapic(&io, &apic, true);
	cr_expect_eq(ioapic_set_irq(&io, 10, true), 0x40, "the line still high is tried again");
	cr_expect_eq(ioapic_set_irq(&io, 1, true), -1, "the edge was lost");
}

Test(ioapic, reset_mirrors_a_reset_local_apic)
{
	cr_expect_eq(io.lapic_id, 0);
	ioapic_reset(&io);
	cr_expect_eq(io.lapic_ldr, 0);
	cr_expect_eq(io.lapic_dfr, 0xffffffff);
	cr_expect_not(io.lapic_enabled, "a reset APIC is software-disabled");
	program(1, 0x00000031, 0);
	cr_expect_eq(ioapic_set_irq(&io, 1, true), -1);
}

Test(ioapic, pins_out_of_range)
{
	cr_expect_eq(ioapic_set_irq(&io, 24, true), -1);
	cr_expect_eq(io.irr, 0);
	cr_expect_eq(ioapic_eoi(&io, 0x300), -1);
}
