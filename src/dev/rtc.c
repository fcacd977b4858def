/*
 * The PC's MC146818 RTC and CMOS RAM (rtc.h).  The clock is never ticked:
 * the time registers are computed from the host's wall clock when the
 * guest reads them, and a guest that writes the time moves an offset (as
 * QEMU keeps base_rtc and offset), so the guest's clock runs at the host's
 * rate from what it was set to.  Register C's flags are counted the same
 * way, over the host time since they were last counted.  Dates are the
 * proleptic Gregorian calendar on days since 1970-01-01, computed here so
 * no time zone or libc state is involved.
 */
#include <string.h>
#include <time.h>

#include "rtc.h"

#define NS_PER_S     1000000000ull
#define RTC_HZ       32768u                   /* the divider chain's input, 32.768 kHz */
#define UIP_HOLD_NS  (8 * NS_PER_S / RTC_HZ)  /* UIP before the update: 244,140 ns, as QEMU */
#define LOWMEM_END   0xc0000000ull            /* RAM below 4 GiB ends at 3 GiB (vmm/mem.h) */
#define KIB          1024ull
#define MIB          (1024 * KIB)

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Days from 1970-01-01 to y-m-d (m 1-12; d counted on from the 1st, so
 * out-of-range days carry into the next month as mktime's do). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;                                  /* 0-399 */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* from March 1 */
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;                                          /* from 0000-03-01 */
	era = floor_div(z, 146097);
	doe = z - era * 146097;                               /* 0-146096 */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);        /* 0-365, from March 1 */
	mp = (5 * doy + 2) / 153;                             /* 0 = March */
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The divider chain counts: updates (UF) come, even under SET. */
static bool ticking(const struct rtc *s)
{
	return (s->cmos[RTC_REG_A] & 0x60) != 0x60;
}

/* ... and the time registers follow the clock. */
static bool running(const struct rtc *s)
{
	return !(s->cmos[RTC_REG_B] & RTC_B_SET) && (s->cmos[RTC_REG_A] & RTC_A_DV) <= 0x20;
}

static uint8_t to_reg(const struct rtc *s, unsigned v)
{
	if (s->cmos[RTC_REG_B] & RTC_B_DM)
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static unsigned from_reg(const struct rtc *s, uint8_t v)
{
	if (s->cmos[RTC_REG_B] & RTC_B_DM)
		return v;
	return (v >> 4) * 10u + (v & 0x0f);
}

/* An hour register's value, 0-23 (more for nonsense), in either mode. */
static unsigned hour_from_reg(const struct rtc *s, uint8_t v)
{
	unsigned h = from_reg(s, v & 0x7f);

	if (!(s->cmos[RTC_REG_B] & RTC_B_24H))
		h = h % 12 + (v & 0x80 ? 12 : 0);             /* 12 AM is 0, 12 PM is 12 */
	return h;
}

/* Whole host-clock seconds on the divider chain's grid: the k-th update
 * happens at host time k * 10^9 - phase_ns. */
static uint64_t chain_s(const struct rtc *s, uint64_t now_ns)
{
	return (now_ns + s->phase_ns) / NS_PER_S;
}

/* 32.768 kHz cycles of the divider chain. */
static uint64_t chain_ticks(const struct rtc *s, uint64_t now_ns)
{
	return (uint64_t)((unsigned __int128)(now_ns + s->phase_ns) * RTC_HZ / NS_PER_S);
}

/* Register A's rate in chain cycles (0: none): 1 and 2 are 256 and 128 Hz,
 * 3-15 are 8192 Hz down to 2 Hz. */
static uint32_t period_ticks(const struct rtc *s)
{
	unsigned rs = s->cmos[RTC_REG_A] & RTC_A_RS;

	if (!rs)
		return 0;
	if (rs <= 2)
		rs += 7;
	return 1u << (rs - 1);
}

/* The time registers from the clock (while it runs). */
static void load_regs(struct rtc *s, uint64_t now_ns)
{
	int64_t sec = s->offset_s + (int64_t)chain_s(s, now_ns);
	int64_t days = floor_div(sec, 86400), tod = floor_mod(sec, 86400), y;
	unsigned hour = (unsigned)(tod / 3600), m, d, yr;

	civil_from_days(days, &y, &m, &d);
	yr = (unsigned)floor_mod(y, 10000);                   /* no century past 99 to show */
	s->cmos[RTC_SECONDS] = to_reg(s, (unsigned)(tod % 60));
	s->cmos[RTC_MINUTES] = to_reg(s, (unsigned)(tod / 60 % 60));
	if (s->cmos[RTC_REG_B] & RTC_B_24H)
		s->cmos[RTC_HOURS] = to_reg(s, hour);
	else
		s->cmos[RTC_HOURS] = (uint8_t)(to_reg(s, hour % 12 ? hour % 12 : 12) | (hour >= 12 ? 0x80 : 0));
	s->cmos[RTC_WDAY] = to_reg(s, (unsigned)floor_mod(days + 4, 7) + 1);  /* 1970-01-01: Thursday */
	s->cmos[RTC_MDAY] = to_reg(s, d);
	s->cmos[RTC_MONTH] = to_reg(s, m);
	s->cmos[RTC_YEAR] = to_reg(s, yr % 100);
	s->cmos[RTC_CENTURY] = to_reg(s, yr / 100);
}

/* The clock from the time registers: the time they hold is the one at
 * now_ns, at the divider chain's present point in its second (the day of
 * the week is ignored, as QEMU's mktimegm does). */
static void set_from_regs(struct rtc *s, uint64_t now_ns)
{
	const uint8_t *c = s->cmos;
	int64_t year = (int64_t)from_reg(s, c[RTC_CENTURY]) * 100 + from_reg(s, c[RTC_YEAR]);
	int64_t mon = (int64_t)from_reg(s, c[RTC_MONTH]) - 1;
	int64_t days = days_from_civil(year + floor_div(mon, 12), floor_mod(mon, 12) + 1,
				       from_reg(s, c[RTC_MDAY]));
	int64_t sec = days * 86400 + hour_from_reg(s, c[RTC_HOURS]) * 3600 +
		      from_reg(s, c[RTC_MINUTES]) * 60 + from_reg(s, c[RTC_SECONDS]);

	s->offset_s = sec - (int64_t)chain_s(s, now_ns);
}

/* An alarm register: -1 for "any" (0xc0-0xff), else its value. */
static int alarm_val(const struct rtc *s, unsigned reg)
{
	uint8_t v = s->cmos[reg];

	if ((v & 0xc0) == 0xc0)
		return -1;
	return (int)(reg == RTC_HOUR_ALARM ? hour_from_reg(s, v) : from_reg(s, v));
}

/* Seconds from guest second sec to the first later second whose time of
 * day matches the alarm: 1 to 86400, 0 if none ever does. */
static int64_t next_alarm(const struct rtc *s, int64_t sec)
{
	int ah = alarm_val(s, RTC_HOUR_ALARM), am = alarm_val(s, RTC_MIN_ALARM);
	int as = alarm_val(s, RTC_SEC_ALARM);
	int64_t d = 1;

	if (ah > 23 || am > 59 || as > 59)
		return 0;
	while (d <= 86400) {                                  /* at most 24 + 60 + 60 steps */
		int64_t tod = floor_mod(sec + d, 86400);

		if (ah >= 0 && tod / 3600 != ah)
			d += 3600 - tod % 3600;               /* to the next hour */
		else if (am >= 0 && tod / 60 % 60 != am)
			d += 60 - tod % 60;                   /* to the next minute */
		else if (as >= 0 && tod % 60 != as)
			d++;
		else
			return d;
	}
	return 0;
}

static void irq_eval(struct rtc *s)
{
	uint8_t *c = &s->cmos[RTC_REG_C];
	bool level = *c & s->cmos[RTC_REG_B] & (RTC_C_PF | RTC_C_AF | RTC_C_UF);

	*c = (uint8_t)((*c & ~RTC_C_IRQF) | (level ? RTC_C_IRQF : 0));
	if (s->set_irq && level != s->irq_level)
		s->set_irq(s->irq_opaque, level);
	s->irq_level = level;
}

void rtc_update(struct rtc *s, uint64_t now_ns)
{
	uint64_t from = s->seen_ns;
	uint8_t flags = 0;

	s->seen_ns = now_ns;
	if (now_ns > from) {                                  /* a host clock stepped back counts nothing */
		uint64_t k0 = chain_s(s, from), k1 = chain_s(s, now_ns);
		uint32_t p = period_ticks(s);

		if (ticking(s) && k1 > k0)
			flags |= RTC_C_UF;
		if (running(s) && k1 > k0) {
			int64_t a = next_alarm(s, s->offset_s + (int64_t)k0);

			if (a && (uint64_t)a <= k1 - k0)
				flags |= RTC_C_AF;
		}
		if ((s->cmos[RTC_REG_B] & RTC_B_PIE) && p &&
		    chain_ticks(s, now_ns) / p > chain_ticks(s, from) / p)
			flags |= RTC_C_PF;
	}
	s->cmos[RTC_REG_C] |= flags;
	irq_eval(s);
}

uint64_t rtc_next_irq_ns(const struct rtc *s, uint64_t now_ns)
{
	uint8_t b = s->cmos[RTC_REG_B];
	uint64_t next = 0, k = chain_s(s, now_ns), t;
	uint32_t p = period_ticks(s);

	if (s->cmos[RTC_REG_C] & RTC_C_IRQF)
		return 0;                                     /* up until C is read */
	if (ticking(s) && (b & RTC_B_UIE))
		next = (k + 1) * NS_PER_S - s->phase_ns;
	if (running(s) && (b & RTC_B_AIE)) {
		int64_t a = next_alarm(s, s->offset_s + (int64_t)k);

		t = (k + (uint64_t)a) * NS_PER_S - s->phase_ns;
		if (a && (!next || t < next))
			next = t;
	}
	if ((b & RTC_B_PIE) && p) {
		unsigned __int128 n = (chain_ticks(s, now_ns) / p + 1) * p;

		t = (uint64_t)((n * NS_PER_S + RTC_HZ - 1) / RTC_HZ) - s->phase_ns;
		if (!next || t < next)
			next = t;
	}
	return next;
}

/* Register A: the divider and the rate. */
static void write_a(struct rtc *s, uint8_t val, uint64_t now_ns)
{
	bool was_running = running(s);
	bool was_reset = !ticking(s);

	if (was_running)
		load_regs(s, now_ns);                         /* the time it stops at, if it does */
	s->cmos[RTC_REG_A] = val & ~RTC_A_UIP;
	if (was_reset && (val & RTC_A_DV) <= 0x20) {
		/* The chain restarts: the first update half a second from now. */
		s->phase_ns = (uint32_t)((NS_PER_S + NS_PER_S / 2 - now_ns % NS_PER_S) % NS_PER_S);
		if (running(s))
			set_from_regs(s, now_ns);
	} else if (!was_running && running(s)) {
		set_from_regs(s, now_ns);
	}
}

/* Register B: SET stops the updates and clears UIE; clearing it starts
 * the clock from the time registers. */
static void write_b(struct rtc *s, uint8_t val, uint64_t now_ns)
{
	bool was_running = running(s);

	if (was_running)
		load_regs(s, now_ns);
	if (val & RTC_B_SET)
		val &= ~RTC_B_UIE;
	s->cmos[RTC_REG_B] = val;
	if (!was_running && running(s))
		set_from_regs(s, now_ns);
}

static unsigned reg_index(const struct rtc *s)
{
	return s->index == RTC_CENTURY_PS2 ? RTC_CENTURY : s->index;
}

static bool is_time_reg(unsigned i)
{
	return i == RTC_SECONDS || i == RTC_MINUTES || i == RTC_HOURS ||
	       (i >= RTC_WDAY && i <= RTC_YEAR) || i == RTC_CENTURY;
}

uint8_t rtc_read(struct rtc *s, unsigned off, uint64_t now_ns)
{
	unsigned i = reg_index(s);
	uint8_t v;

	if (!(off & 1))
		return 0xff;                                  /* the index is write-only; QEMU reads 0xff */
	rtc_update(s, now_ns);
	if (is_time_reg(i) && running(s))
		load_regs(s, now_ns);
	v = s->cmos[i];
	switch (i) {
	case RTC_REG_A:
		if (running(s) && (now_ns + s->phase_ns) % NS_PER_S >= NS_PER_S - UIP_HOLD_NS)
			v |= RTC_A_UIP;
		break;
	case RTC_REG_C:
		s->cmos[RTC_REG_C] = 0;                       /* read clears the flags and IRQF */
		irq_eval(s);
		break;
	}
	return v;
}

void rtc_write(struct rtc *s, unsigned off, uint8_t val, uint64_t now_ns)
{
	unsigned i = reg_index(s);

	if (!(off & 1)) {
		s->index = val & 0x7f;
		s->nmi_off = val >> 7;
		return;
	}
	rtc_update(s, now_ns);                                /* flags due under the old settings */
	switch (i) {
	case RTC_REG_A:
		write_a(s, val, now_ns);
		break;
	case RTC_REG_B:
		write_b(s, val, now_ns);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break;                                        /* read-only */
	default:
		if (is_time_reg(i) && running(s)) {
			load_regs(s, now_ns);                 /* the other fields as they are now */
			s->cmos[i] = val;
			set_from_regs(s, now_ns);
		} else {
			s->cmos[i] = val;
		}
	}
	irq_eval(s);
}

static void set_cmos16(struct rtc *s, unsigned reg, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	s->cmos[reg] = (uint8_t)v;
	s->cmos[reg + 1] = (uint8_t)(v >> 8);
}

void rtc_init(struct rtc *s, uint64_t ram_size, uint64_t now_ns)
{
	uint64_t below = ram_size < LOWMEM_END ? ram_size : LOWMEM_END;
	uint64_t above = (ram_size - below) / (64 * KIB);

	memset(s, 0, sizeof(*s));
	s->cmos[RTC_REG_A] = 0x26;                            /* 32.768 kHz, 1024 Hz rate */
	s->cmos[RTC_REG_B] = RTC_B_24H;                       /* BCD, 24-hour */
	s->cmos[RTC_REG_D] = RTC_D_VRT;
	s->seen_ns = now_ns;
	load_regs(s, now_ns);                                 /* offset 0: the host's UTC time */

	/* The firmware area, as QEMU's pc_cmos_init with no floppy or IDE. */
	s->cmos[0x0f] = 0;                                    /* shutdown status: normal */
	s->cmos[0x10] = 0;                                    /* no floppy drives */
	s->cmos[0x14] = 0x06;                                 /* equipment: FPU, PS/2 mouse */
	set_cmos16(s, 0x15, below / KIB < 640 ? below / KIB : 640);  /* base memory, KiB */
	set_cmos16(s, 0x17, below > MIB ? (below - MIB) / KIB : 0);  /* extended memory, KiB */
	set_cmos16(s, 0x30, below > MIB ? (below - MIB) / KIB : 0);  /* ... again */
	set_cmos16(s, 0x34, below > 16 * MIB ? (below - 16 * MIB) / (64 * KIB) : 0);  /* above 16 MiB */
	s->cmos[0x5b] = (uint8_t)above;                       /* above 4 GiB, 64 KiB units */
	s->cmos[0x5c] = (uint8_t)(above >> 8);
	s->cmos[0x5d] = (uint8_t)(above >> 16);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* A wider access is one byte a port, as QEMU splits it; bytes past 0x71
 * reach nothing. */
static void rtc_in(void *opaque, uint16_t port, unsigned size, uint32_t *val)
{
	uint64_t now = realtime_ns();

	*val = 0;
	for (unsigned i = 0; i < size; i++) {
		unsigned off = (unsigned)(port + i - RTC_PORT);
		uint32_t b = off < 2 ? rtc_read(opaque, off, now) : 0xff;

		*val |= b << (8 * i);
	}
}

static void rtc_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	uint64_t now = realtime_ns();

	for (unsigned i = 0; i < size; i++) {
		unsigned off = (unsigned)(port + i - RTC_PORT);

		if (off < 2)
			rtc_write(opaque, off, (uint8_t)(val >> (8 * i)), now);
	}
}

int rtc_register(struct rtc *s, struct io_bus *bus)
{
	struct io_dev d = { "rtc", RTC_PORT, 2, rtc_in, rtc_out, s };

	return io_bus_register(bus, &d);
}
