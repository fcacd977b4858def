/*
 * Shadow mode's 8254 PIT and port 0x61 (src/dev/pit.c) against the
 * 8254 data sheet as KVM and QEMU implement it: counts from the time at
 * 1193182 Hz, the access modes, the counter latch and the read-back
 * command, each mode's output, channel 0's edges on IRQ 0 and channel 2's
 * gate.  The expected times are whole PIT clocks worked out by hand:
 * n clocks after a load are ceil(n * 10^9 / 1193182) ns later.
 */
#include <criterion/criterion.h>

#include "dev/pit.h"

static struct pit p;

static void setup(void)
{
	pit_reset(&p);
}

TestSuite(pit, .init = setup);

/* Control word, then a 16-bit count, LSB first, at time t. */
static void program(unsigned ch, unsigned mode, unsigned count, uint64_t t)
{
	pit_write(&p, 3, (uint8_t)(ch << 6 | 0x30 | mode << 1), t);
	pit_write(&p, ch, (uint8_t)count, t);
	pit_write(&p, ch, (uint8_t)(count >> 8), t);
}

/* The counter latch command, then the 16-bit latched count. */
static unsigned latch(unsigned ch, uint64_t t)
{
	unsigned lo, hi;

	pit_write(&p, 3, (uint8_t)(ch << 6), t);
	lo = pit_read(&p, ch, t + 5000000);             /* later reads see the latch */
	hi = pit_read(&p, ch, t + 9000000);
	return lo | hi << 8;
}

Test(pit, silent_after_reset)
{
	cr_expect_not(pit_irq0_update(&p, 10000000000ull), "no IRQ 0 before a count is written");
	cr_expect_eq(p.irq0_next_ns, 0);
	cr_expect_eq(pit_port61_read(&p, 0) & ~0x10u, 0, "gate 2 low, speaker off");
}

Test(pit, mode2_counts_down_and_reloads)
{
	program(0, 2, 11932, 0);
	cr_expect_eq(latch(0, 0), 11932);
	cr_expect_eq(latch(0, 1000000), 11932 - 1193, "1193 clocks in 1 ms");
	cr_expect_eq(latch(0, 10000150), 1, "one clock before the end of the period");
	cr_expect_eq(latch(0, 10000151), 11932, "reloaded");
	cr_expect_eq(pit_out(&p, 0, 10000151), 1, "KVM's and QEMU's mode 2: out high at the reload");
	cr_expect_eq(pit_out(&p, 0, 10000151 + 900), 0);
}

Test(pit, mode2_edges_on_irq0)
{
	program(0, 2, 11932, 0);
	cr_expect_eq(p.irq0_next_ns, 10000151);
	cr_expect_not(pit_irq0_update(&p, 10000150));
	cr_expect(pit_irq0_update(&p, 10000151));
	cr_expect_eq(p.irq0_next_ns, 20000302);
	/* Five and a half periods later: one edge (they merge), the next on
	 * the grid of the count. */
	cr_expect(pit_irq0_update(&p, 55000000));
	cr_expect_not(pit_irq0_update(&p, 55000001));
	cr_expect_eq(p.irq0_next_ns, 60000906);
	cr_expect_eq(p.irq0_edges, 2);
}

Test(pit, short_periods_are_kvms_minimum)
{
	program(0, 2, 2, 1000);
	cr_expect_eq(p.irq0_next_ns, 201000, "200 us after the load, not 2 clocks");
	cr_expect(pit_irq0_update(&p, 201000));
	cr_expect_eq(p.irq0_next_ns, 401000);
}

Test(pit, mode0_interrupt_on_terminal_count)
{
	program(0, 0, 1000, 0);
	cr_expect_eq(pit_out(&p, 0, 838095), 0);
	cr_expect_eq(pit_out(&p, 0, 838096), 1);
	cr_expect_eq(p.irq0_next_ns, 838096);
	cr_expect(pit_irq0_update(&p, 900000));
	cr_expect_eq(p.irq0_next_ns, 0, "one-shot");
	cr_expect_not(pit_irq0_update(&p, 100000000));
	cr_expect_eq(latch(0, 838096 + 839), 0xffff, "the count wraps past zero");
}

Test(pit, latch_holds_until_read)
{
	program(0, 2, 50000, 0);
	pit_write(&p, 3, 0x00, 1000000);                /* latch: 50000 - 1193 */
	pit_write(&p, 3, 0x00, 2000000);                /* ignored: one is held */
	cr_expect_eq(pit_read(&p, 0, 3000000), (50000 - 1193) & 0xff);
	cr_expect_eq(pit_read(&p, 0, 3000000), (50000 - 1193) >> 8);
	/* Unlatched reads follow the time, LSB then MSB. */
	cr_expect_eq(pit_read(&p, 0, 4000000), (50000 - 4772) & 0xff);
	cr_expect_eq(pit_read(&p, 0, 4000000), (50000 - 4772) >> 8);
}

Test(pit, access_modes)
{
	pit_write(&p, 3, 0x10, 0);                      /* channel 0, LSB only, mode 0 */
	pit_write(&p, 0, 0x50, 0);
	cr_expect_eq(latch(0, 0) & 0xff, 0x50);
	pit_write(&p, 3, 0x20, 0);                      /* MSB only */
	pit_write(&p, 0, 0x12, 0);
	pit_write(&p, 3, 0x00, 0);
	cr_expect_eq(pit_read(&p, 0, 0), 0x12, "MSB mode: the latch reads its high byte");
	pit_write(&p, 3, 0x30, 0);
	pit_write(&p, 0, 0x00, 0);
	pit_write(&p, 0, 0x00, 0);
	cr_expect_eq(latch(0, 0), 0, "0 means 65536, whose 16 bits are 0");
	cr_expect_eq(p.ch[0].count, 0x10000);
}

Test(pit, read_back_status)
{
	program(0, 0, 1000, 0);
	pit_write(&p, 3, 0xe2, 1000);                   /* status of channel 0 */
	cr_expect_eq(pit_read(&p, 0, 1000), 0x30, "out 0, word access, mode 0, binary");
	pit_write(&p, 3, 0xe2, 900000);
	cr_expect_eq(pit_read(&p, 0, 900000), 0xb0, "out 1 after the terminal count");
	/* Count and status at once: the status byte comes first. */
	program(2, 3, 600, 0);
	pit_write(&p, 3, 0xc8, 0);                      /* 11 0 0 100 0: channel 2 */
	cr_expect_eq(pit_read(&p, 2, 0), 0x80 | 0x36);
	cr_expect_eq(pit_read(&p, 2, 0), 600 & 0xff);
	cr_expect_eq(pit_read(&p, 2, 0), 600 >> 8);
}

Test(pit, modes_6_and_7_are_2_and_3)
{
	pit_write(&p, 3, 0x3c, 0);                      /* channel 0, word, mode 6 */
	pit_write(&p, 3, 0xe2, 0);
	cr_expect_eq(pit_read(&p, 0, 0) & 0x7f, 0x34, "the status says mode 2, as KVM's");
	pit_write(&p, 3, 0x3e, 0);
	pit_write(&p, 3, 0xe2, 0);
	cr_expect_eq(pit_read(&p, 0, 0) & 0x7f, 0x36);
}

Test(pit, port61_gate_and_out2)
{
	pit_port61_write(&p, 0x03, 0);
	cr_expect_eq(pit_port61_read(&p, 0) & 0x0f, 0x03, "gate and speaker bits read back");
	program(2, 0, 100, 0);
	cr_expect_eq(pit_port61_read(&p, 83809) & 0x20, 0, "out 2 low while counting");
	cr_expect_eq(pit_port61_read(&p, 83810) & 0x20, 0x20, "high after 100 clocks");
	cr_expect_eq(pit_port61_read(&p, 0) & 0x10, 0, "refresh bit low in the first 16 us");
	cr_expect_eq(pit_port61_read(&p, 16384) & 0x10, 0x10, "and toggles every 16384 ns");
}

Test(pit, rising_gate_restarts_mode2_not_mode0)
{
	program(2, 2, 1000, 0);
	pit_port61_write(&p, 0x00, 500000);
	pit_port61_write(&p, 0x01, 600000);             /* rising edge: reload */
	cr_expect_eq(latch(2, 600000), 1000);
	program(2, 0, 1000, 0);
	pit_port61_write(&p, 0x00, 100000);
	pit_port61_write(&p, 0x01, 200000);
	cr_expect_eq(latch(2, 200000), 1000 - 238, "mode 0 goes on (as KVM's and QEMU's)");
}
