/*
 * The CMOS RTC and CMOS RAM (src/dev/rtc.c) against the MC146818 data
 * sheet as QEMU's PC implements it: the time in BCD and binary, 24- and
 * 12-hour mode, the day of the week (1 = Sunday) and century, setting the
 * time under SET and while running, the divider reset, UIP, register C's
 * flags and their clearing, D's VRT, the index port's NMI bit, IRQ 8, and
 * the memory-size bytes QEMU's pc_cmos_init writes.
 *
 * The Unix times are literals from `date -u -d 'YYYY-MM-DD hh:mm:ss' +%s`
 * (and %A for the weekday), not from the code; the memory sizes are
 * worked out by hand in the comments.  Times are host CLOCK_REALTIME
 * nanoseconds; the clock starts at the host's time.
 */
#include <criterion/criterion.h>

#include "dev/rtc.h"

#define S 1000000000ull
#define MS 1000000ull

/* 2026-12-07 07:25:09 UTC, a Monday */
#define T_2026_12_07_072509 1796628309ull

static struct rtc r;

static uint8_t rd(unsigned reg, uint64_t t)
{
	rtc_write(&r, 0, (uint8_t)reg, t);
	return rtc_read(&r, 1, t);
}

static void wr(unsigned reg, uint8_t v, uint64_t t)
{
	rtc_write(&r, 0, (uint8_t)reg, t);
	rtc_write(&r, 1, v, t);
}

/* sec, min, hour, weekday, day, month, year, century as read at t */
static void expect_time(uint64_t t, const uint8_t want[8], const char *what)
{
	static const unsigned regs[8] = { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 };

	for (unsigned i = 0; i < 8; i++) {
		uint8_t v = rd(regs[i], t);

		cr_expect_eq(v, want[i], "%s: register 0x%02x reads 0x%02x, want 0x%02x",
			     what, regs[i], v, want[i]);
	}
}

Test(rtc, bcd_time_from_the_host_clock)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;
	const uint8_t want[8] = { 0x09, 0x25, 0x07, 0x02, 0x07, 0x12, 0x26, 0x20 };

	rtc_init(&r, 256ull << 20, t);
	expect_time(t, want, "2026-12-07 07:25:09 Monday, BCD");
	cr_expect_eq(rd(0x0a, t), 0x26, "A: 32.768 kHz, 1024 Hz, no UIP mid-second");
	cr_expect_eq(rd(0x0b, t), 0x02, "B: 24-hour, BCD");
	cr_expect_eq(rd(0x0d, t), 0x80, "D: VRT");
	cr_expect_eq(rd(0x0c, t), 0x00, "C: no flags yet");
}

Test(rtc, time_advances_with_the_host_clock)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;
	/* + 16 h 34 min 51 s = 2026-12-08 00:00:00, a Tuesday */
	const uint8_t want[8] = { 0x00, 0x00, 0x00, 0x03, 0x08, 0x12, 0x26, 0x20 };

	rtc_init(&r, 256ull << 20, t);
	cr_expect_eq(rd(0x00, t + 499 * MS), 0x09);
	cr_expect_eq(rd(0x00, t + 500 * MS), 0x10, "the next second at the host's second");
	expect_time(t + (16 * 3600 + 34 * 60 + 51) * S, want, "midnight, Tuesday");
}

Test(rtc, binary_mode)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;
	const uint8_t want[8] = { 9, 25, 7, 2, 7, 12, 26, 20 };

	rtc_init(&r, 256ull << 20, t);
	wr(0x0b, 0x06, t);                              /* DM: binary, 24-hour */
	expect_time(t, want, "binary");
}

Test(rtc, twelve_hour_mode)
{
	uint64_t midnight = 1796601600ull * S;           /* 2026-12-07 00:00:00 */

	rtc_init(&r, 256ull << 20, midnight);
	wr(0x0b, 0x00, midnight);                       /* BCD, 12-hour */
	cr_expect_eq(rd(0x04, midnight), 0x12, "00:00 is 12 AM");
	cr_expect_eq(rd(0x04, T_2026_12_07_072509 * S), 0x07, "07:25 is 7 AM");
	cr_expect_eq(rd(0x04, 1796644800ull * S), 0x92, "12:00 is 12 PM");
	cr_expect_eq(rd(0x04, 1796671509ull * S), 0x87, "19:25:09 is 7 PM");
	cr_expect_eq(rd(0x04, 1796685909ull * S), 0x91, "23:25:09 is 11 PM, BCD");
	wr(0x0b, 0x04, 1796685909ull * S);              /* binary, 12-hour */
	cr_expect_eq(rd(0x04, 1796685909ull * S), 0x8b, "11 PM, binary");
	cr_expect_eq(rd(0x00, 1796685909ull * S), 9);
}

Test(rtc, set_time_in_twelve_hour_mode)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;

	rtc_init(&r, 256ull << 20, t);
	wr(0x0b, 0x80, t);                              /* SET, BCD, 12-hour */
	wr(0x04, 0x91, t);                              /* 11 PM */
	wr(0x02, 0x59, t);
	wr(0x00, 0x59, t);
	wr(0x0b, 0x00, t);
	cr_expect_eq(rd(0x04, t + 1 * S), 0x12, "23:59:59 + 1 s is 12 AM");
	cr_expect_eq(rd(0x07, t + 1 * S), 0x08, "of the next day");
	cr_expect_eq(rd(0x06, t + 1 * S), 0x03, "a Tuesday");
	wr(0x0b, 0x80, t + 2 * S);
	wr(0x04, 0x12, t + 2 * S);                      /* 12 AM: hour 0 */
	wr(0x02, 0x59, t + 2 * S);
	wr(0x0b, 0x00, t + 2 * S);
	cr_expect_eq(rd(0x04, t + 62 * S), 0x01, "00:59:xx + 1 min is 1 AM");
	cr_expect_eq(rd(0x07, t + 62 * S), 0x08, "the same day");
	wr(0x0b, 0x06, t + 62 * S);                     /* binary, 24-hour */
	cr_expect_eq(rd(0x04, t + 62 * S), 1);
}

/* Set the time under SET, BCD: sec, min, hour, day, month, year, century. */
static void set_time(const uint8_t v[7], uint64_t t)
{
	static const unsigned regs[7] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };

	wr(0x0b, 0x82, t);
	for (unsigned i = 0; i < 7; i++)
		wr(regs[i], v[i], t);
	wr(0x0b, 0x02, t);
}

Test(rtc, set_time_then_read_it_later)
{
	uint64_t t = T_2026_12_07_072509 * S + 300 * MS;
	const uint8_t y2k_eve[7] = { 0x59, 0x59, 0x23, 0x31, 0x12, 0x99, 0x19 };
	const uint8_t at_set[8] = { 0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19 };
	const uint8_t plus1[8] = { 0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20 };
	const uint8_t plus90061[8] = { 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x00, 0x20 };

	rtc_init(&r, 256ull << 20, t);
	set_time(y2k_eve, t);                           /* 1999-12-31 23:59:59, a Friday */
	expect_time(t, at_set, "as set, the weekday from the date");
	expect_time(t + 1 * S, plus1, "2000-01-01 00:00:00, a Saturday");
	/* 946684799 + 90061 = 946774860: 2000-01-02 01:01:00, a Sunday */
	expect_time(t + 90061 * S, plus90061, "2000-01-02 01:01:00");
}

Test(rtc, set_holds_the_time)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;

	rtc_init(&r, 256ull << 20, t);
	wr(0x0b, 0x82, t);
	cr_expect_eq(rd(0x00, t + 5 * S), 0x09, "stopped at the time SET was written");
	wr(0x02, 0x40, t + 5 * S);
	cr_expect_eq(rd(0x02, t + 9 * S), 0x40, "a written register reads back");
	cr_expect_eq(rd(0x0c, t + 9 * S), 0x10, "updates (UF) go on under SET, as QEMU");
	wr(0x0b, 0x92, t + 9 * S);
	cr_expect_eq(rd(0x0b, t + 9 * S), 0x82, "SET clears UIE");
	wr(0x0b, 0x02, t + 10 * S);                     /* runs on from 07:40:09 */
	cr_expect_eq(rd(0x00, t + 10 * S), 0x09);
	cr_expect_eq(rd(0x02, t + 12 * S), 0x40);
	cr_expect_eq(rd(0x00, t + 12 * S), 0x11, "two seconds later");
	cr_expect_eq(rd(0x04, t + 12 * S), 0x07);
}

Test(rtc, write_while_running)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;

	rtc_init(&r, 256ull << 20, t);
	wr(0x02, 0x40, t + 1 * S);                      /* at 07:25:10 */
	cr_expect_eq(rd(0x02, t + 2 * S), 0x40);
	cr_expect_eq(rd(0x00, t + 2 * S), 0x11, "the other fields kept");
	cr_expect_eq(rd(0x04, t + 2 * S), 0x07);
	cr_expect_eq(rd(0x07, t + 2 * S), 0x07);
}

Test(rtc, leap_day_and_century)
{
	uint64_t t = 1709208000ull * S;                  /* 2024-02-29 12:00:00, a Thursday */
	const uint8_t leap[8] = { 0x00, 0x00, 0x12, 0x05, 0x29, 0x02, 0x24, 0x20 };
	const uint8_t march[8] = { 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20 };
	const uint8_t eve2099[7] = { 0x50, 0x59, 0x23, 0x31, 0x12, 0x99, 0x20 };
	const uint8_t y2100[8] = { 0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21 };
	const uint8_t feb2100[7] = { 0x59, 0x59, 0x23, 0x28, 0x02, 0x00, 0x21 };
	const uint8_t mar2100[8] = { 0x00, 0x00, 0x00, 0x02, 0x01, 0x03, 0x00, 0x21 };

	rtc_init(&r, 256ull << 20, t);
	expect_time(t, leap, "2024-02-29");
	expect_time(t + 12 * 3600 * S, march, "2024-03-01, a Friday");
	t += 13 * 3600 * S;
	set_time(eve2099, t);                           /* 2099-12-31 23:59:50 */
	expect_time(t + 10 * S, y2100, "2100-01-01, a Friday: the century moves");
	set_time(feb2100, t + 20 * S);                  /* 2100 is not a leap year */
	expect_time(t + 21 * S, mar2100, "2100-03-01, a Monday");
}

Test(rtc, divider_reset_starts_half_a_second_later)
{
	uint64_t t = T_2026_12_07_072509 * S + 123 * MS;

	rtc_init(&r, 256ull << 20, t);
	/* Linux's mc146818_set_time: SET, divider reset, the time, then B and A back. */
	wr(0x0b, 0x82, t);
	wr(0x0a, 0x66, t);
	wr(0x00, 0x00, t); wr(0x02, 0x00, t); wr(0x04, 0x00, t);
	wr(0x07, 0x01, t); wr(0x08, 0x01, t); wr(0x09, 0x26, t);
	wr(0x0b, 0x02, t + 100 * MS);
	cr_expect_eq(rd(0x00, t + 2 * S), 0x00, "held while the divider is in reset");
	wr(0x0a, 0x26, t + 3 * S);
	cr_expect_eq(rd(0x00, t + 3 * S + 499 * MS), 0x00);
	cr_expect_eq(rd(0x00, t + 3 * S + 500 * MS), 0x01, "the first update 500 ms after");
	cr_expect_eq(rd(0x06, t + 3 * S + 500 * MS), 0x05, "2026-01-01 is a Thursday");
}

Test(rtc, uip_before_each_update)
{
	uint64_t sec = T_2026_12_07_072509 * S;

	rtc_init(&r, 256ull << 20, sec);
	/* 8 cycles of 32.768 kHz = 244.140625 us before the second */
	cr_expect_eq(rd(0x0a, sec + 999755 * 1000), 0x26);
	cr_expect_eq(rd(0x0a, sec + 999756 * 1000), 0xa6);
	cr_expect_eq(rd(0x0a, sec + 999999999), 0xa6);
	cr_expect_eq(rd(0x0a, sec + S), 0x26);
	wr(0x0a, 0xa6, sec + S);                        /* UIP is read-only */
	cr_expect_eq(rd(0x0a, sec + 1500 * MS), 0x26);
	wr(0x0b, 0x82, sec + 1500 * MS);
	cr_expect_eq(rd(0x0a, sec + 1999999999), 0x26, "never under SET");
}

Test(rtc, register_c_flags_clear_on_read)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;

	rtc_init(&r, 256ull << 20, t);
	cr_expect_eq(rd(0x0c, t + 400 * MS), 0x00, "no update yet");
	cr_expect_eq(rd(0x0c, t + 600 * MS), 0x10, "UF, no IRQF: UIE is clear");
	cr_expect_eq(rd(0x0c, t + 700 * MS), 0x00, "cleared by the read");
	wr(0x0b, 0x12, t + 700 * MS);                   /* UIE */
	cr_expect_eq(rd(0x0c, t + 1600 * MS), 0x90, "UF and IRQF");
	cr_expect_eq(rd(0x0c, t + 1600 * MS), 0x00);
	wr(0x0c, 0xff, t + 1600 * MS);
	cr_expect_eq(rd(0x0c, t + 1700 * MS), 0x00, "C is read-only");
	wr(0x0d, 0x00, t + 1700 * MS);
	cr_expect_eq(rd(0x0d, t + 1700 * MS), 0x80, "D is read-only, VRT set");
}

Test(rtc, alarm_flag)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;

	rtc_init(&r, 256ull << 20, t);
	wr(0x01, 0x12, t); wr(0x03, 0x25, t); wr(0x05, 0x07, t);   /* 07:25:12 */
	cr_expect_eq(rd(0x01, t), 0x12, "alarm registers read back");
	cr_expect_eq(rd(0x0c, t + 2 * S), 0x10, "07:25:11: UF only");
	cr_expect_eq(rd(0x0c, t + 3 * S), 0x30, "07:25:12: UF and AF");
	cr_expect_eq(rd(0x0c, t + 4 * S), 0x10);
	wr(0x0b, 0x22, t + 4 * S);                      /* AIE */
	wr(0x01, 0x00, t + 4 * S);                      /* 07:26:00 */
	wr(0x03, 0x26, t + 4 * S);
	cr_expect_eq(rd(0x0c, t + 50 * S), 0x10, "07:25:59");
	cr_expect_eq(rd(0x0c, t + 52 * S), 0xb0, "07:26:01: AF with IRQF");
	wr(0x03, 0xc0, t + 52 * S);                     /* minute: any; second 00 */
	cr_expect_eq(rd(0x0c, t + 3600 * S), 0xb0, "an hour later: some hh:mm:00 passed");
	wr(0x01, 0xff, t + 3600 * S); wr(0x05, 0xc0, t + 3600 * S);
	cr_expect_eq(rd(0x0c, t + 3601 * S), 0xb0, "all don't care: every second");
}

Test(rtc, periodic_flag)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;

	rtc_init(&r, 256ull << 20, t);
	cr_expect_eq(rd(0x0c, t + 10 * MS), 0x00, "no PF without PIE (as QEMU)");
	wr(0x0b, 0x42, t + 10 * MS);                    /* PIE, 1024 Hz */
	cr_expect_eq(rd(0x0c, t + 10 * MS), 0x00);
	cr_expect_eq(rd(0x0c, t + 12 * MS), 0xc0, "PF and IRQF within 1/1024 s");
	wr(0x0a, 0x2f, t + 12 * MS);                    /* 2 Hz: every 500 ms, on the second and half */
	cr_expect_eq(rd(0x0c, t + 400 * MS), 0x00);
	cr_expect_eq(rd(0x0c, t + 499 * MS), 0x00);
	cr_expect_eq(rd(0x0c, t + 500 * MS), 0xd0, "the second: PF, UF");
	cr_expect_eq(rd(0x0c, t + 999 * MS), 0x00);
	cr_expect_eq(rd(0x0c, t + 1000 * MS), 0xc0, "half past: PF");
}

Test(rtc, index_port_and_nmi_bit)
{
	uint64_t t = T_2026_12_07_072509 * S + 500 * MS;

	rtc_init(&r, 256ull << 20, t);
	rtc_write(&r, 0, 0x80, t);                      /* seconds, NMI disabled */
	cr_expect_eq(r.nmi_off, 1);
	cr_expect_eq(rtc_read(&r, 1, t), 0x09, "bit 7 does not pick the register");
	rtc_write(&r, 0, 0x8b, t);
	cr_expect_eq(rtc_read(&r, 1, t), 0x02, "B");
	rtc_write(&r, 0, 0x0b, t);
	cr_expect_eq(r.nmi_off, 0);
	cr_expect_eq(rtc_read(&r, 0, t), 0xff, "the index port reads 0xff (QEMU)");
	wr(0x40, 0x5a, t);
	cr_expect_eq(rd(0xc0, t), 0x5a, "CMOS RAM, through an index with bit 7");
	cr_expect_eq(rd(0x37, t), 0x20, "0x37 is the century too");
}

static int irq_calls, irq_line;

static void irq_hook(void *opaque, bool level)
{
	cr_expect_eq(opaque, &r);
	irq_calls++;
	irq_line = level;
}

Test(rtc, irq8_follows_irqf)
{
	uint64_t sec = T_2026_12_07_072509 * S;

	rtc_init(&r, 256ull << 20, sec + 500 * MS);
	r.set_irq = irq_hook;
	r.irq_opaque = &r;
	cr_expect_eq(rtc_next_irq_ns(&r, sec + 500 * MS), 0, "nothing enabled");
	wr(0x0b, 0x12, sec + 500 * MS);                 /* UIE */
	cr_expect_eq(rtc_next_irq_ns(&r, sec + 500 * MS), sec + S, "the next update");
	rtc_update(&r, sec + S - 1);
	cr_expect_eq(irq_calls, 0);
	rtc_update(&r, sec + S);
	cr_expect_eq(irq_calls, 1);
	cr_expect_eq(irq_line, 1, "raised at the update");
	cr_expect_eq(rtc_next_irq_ns(&r, sec + S), 0, "high until C is read");
	cr_expect_eq(rd(0x0c, sec + S + 1), 0x90);
	cr_expect_eq(irq_line, 0, "lowered by reading C");
	cr_expect_eq(irq_calls, 2);

	/* Alarm at 07:25:30, 20 s after 07:25:10. */
	wr(0x0b, 0x22, sec + S);
	wr(0x01, 0x30, sec + S); wr(0x03, 0x25, sec + S); wr(0x05, 0x07, sec + S);
	cr_expect_eq(rtc_next_irq_ns(&r, sec + S), sec + 21 * S);
	/* Periodic at 2 Hz as well: the next half second comes first. */
	wr(0x0a, 0x2f, sec + S);
	wr(0x0b, 0x62, sec + S);
	cr_expect_eq(rtc_next_irq_ns(&r, sec + S + 1), sec + S + 500 * MS);
	/* Enabling a source whose flag is already set raises the line at once. */
	rd(0x0c, sec + S);
	wr(0x0b, 0x02, sec + S);
	rtc_update(&r, sec + 3 * S);                    /* UF set, not enabled */
	cr_expect_eq(irq_line, 0);
	wr(0x0b, 0x12, sec + 3 * S);
	cr_expect_eq(irq_line, 1);
}

/* QEMU's pc_cmos_init: 0x15/0x16 base memory in KiB (at most 640);
 * 0x17/0x18 and 0x30/0x31 KiB above 1 MiB below 4 GiB (at most 0xffff);
 * 0x34/0x35 64 KiB units above 16 MiB below 4 GiB (at most 0xffff);
 * 0x5b-0x5d 64 KiB units above 4 GiB.  RAM below 4 GiB ends at 3 GiB. */
static void expect_mem(const uint8_t want[12], const char *what)
{
	static const unsigned regs[12] = { 0x15, 0x16, 0x17, 0x18, 0x30, 0x31,
					   0x34, 0x35, 0x5b, 0x5c, 0x5d, 0x14 };

	for (unsigned i = 0; i < 12; i++)
		cr_expect_eq(rd(regs[i], 0), want[i], "%s: CMOS 0x%02x reads 0x%02x, want 0x%02x",
			     what, regs[i], r.cmos[regs[i]], want[i]);
}

Test(rtc, memory_size_bytes)
{
	/* 64 MiB: 640 = 0x280; 63 * 1024 = 64512 = 0xfc00; 48 MiB / 64 KiB = 768 = 0x300 */
	const uint8_t m64[12] = { 0x80, 0x02, 0x00, 0xfc, 0x00, 0xfc, 0x00, 0x03, 0, 0, 0, 0x06 };
	/* 256 MiB: 255 * 1024 = 261120 > 0xffff; 240 MiB / 64 KiB = 3840 = 0xf00 */
	const uint8_t m256[12] = { 0x80, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0x0f, 0, 0, 0, 0x06 };
	/* 5 GiB: 3 GiB below 4 GiB: (3072 - 16) MiB / 64 KiB = 48896 = 0xbf00;
	 * 2 GiB above: 2048 MiB / 64 KiB = 32768 = 0x8000 */
	const uint8_t m5g[12] = { 0x80, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0xbf, 0x00, 0x80, 0x00, 0x06 };
	/* 2 TiB: 2045 GiB above = 2045 * 16384 = 33505280 = 0x1ff4000 */
	const uint8_t m2t[12] = { 0x80, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0xbf, 0x00, 0x40, 0xff, 0x06 };

	rtc_init(&r, 64ull << 20, 0);
	expect_mem(m64, "64 MiB");
	cr_expect_eq(rd(0x0f, 0), 0x00, "shutdown status");
	cr_expect_eq(rd(0x10, 0), 0x00, "no floppy");
	rtc_init(&r, 256ull << 20, 0);
	expect_mem(m256, "256 MiB");
	rtc_init(&r, 5ull << 30, 0);
	expect_mem(m5g, "5 GiB");
	rtc_init(&r, 2ull << 40, 0);
	expect_mem(m2t, "2 TiB");
}

/* The port glue: byte-wide accesses as a vCPU makes them, wider ones one
 * byte a port (0x70 then 0x71), as QEMU splits them; the host clock's
 * century (this test runs before 2100). */
Test(rtc, ports_on_the_bus)
{
	static struct io_bus bus;

	io_bus_init(&bus, NULL);
	rtc_init(&r, 256ull << 20, 0);
	cr_assert_eq(rtc_register(&r, &bus), 0);
	io_bus_out(&bus, 0x70, 1, 0x8d);
	cr_expect_eq(io_bus_in(&bus, 0x71, 1), 0x80, "D");
	io_bus_out(&bus, 0x70, 2, 0x5a40);              /* index 0x40, then 0x5a to it */
	cr_expect_eq(r.cmos[0x40], 0x5a);
	cr_expect_eq(io_bus_in(&bus, 0x70, 2), 0x5aff, "index 0xff, data 0x5a");
	io_bus_out(&bus, 0x70, 1, 0x32);
	cr_expect_eq(io_bus_in(&bus, 0x71, 1), 0x20, "century from CLOCK_REALTIME");
}
