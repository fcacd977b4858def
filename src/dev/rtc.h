/*
 * The PC's CMOS real-time clock (a Motorola MC146818) at ports 0x70
 * (index) and 0x71 (data), and its 128 bytes of CMOS RAM, as pure logic
 * over a struct: every call that needs the time is given the host's wall
 * clock (CLOCK_REALTIME) in nanoseconds, so the unit tests drive it
 * directly; rtc_register's port callbacks read the clock themselves.
 *
 * Both modes use this one (KVM has no in-kernel RTC).  Where the data
 * sheet and QEMU's mc146818rtc part ways, it does what QEMU's PC does, so
 * a guest reads the same machine: the clock starts at the host's UTC time;
 * the time registers are computed from the host clock plus an offset the
 * guest moves by writing the time (with SET, or while the clock runs);
 * the day of the week follows the date; register 0x32 is the century
 * (and 0x37 reaches it too); UIP reads 1 in the last 244 us (8 cycles of
 * 32.768 kHz) before each second's update and 0 otherwise, and 0 while
 * the clock is stopped (SET, or the divider not 000-010); leaving divider
 * reset puts the first update half a second later; SET clears UIE;
 * registers C and D are read-only, D reads 0x80 (VRT), reading C clears
 * it; the index port reads 0xff.
 *
 * Register C's flags come from the time, when read: UF at each second's
 * update, whenever the divider is out of reset (under SET too: the data
 * sheet's "setting the SET bit allows them to occur", as QEMU); AF when
 * the new time matches the alarm (0xc0-0xff in an alarm register: any
 * value), while the clock runs; PF at each period of register A's rate,
 * only while PIE is set (as QEMU, not the data sheet).  IRQF is set while
 * a flag is set whose enable bit in B is set.  IRQ 8 is optional: with
 * set_irq NULL the device raises nothing and a guest can only poll C.
 * With set_irq, the line follows IRQF at each rtc_* call; for it to rise
 * on time the caller calls rtc_update at rtc_next_irq_ns, asking again
 * after every access.
 */
#ifndef OMBRA_RTC_H
#define OMBRA_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"

#define RTC_PORT       0x70           /* index at 0x70, data at 0x71 */
#define RTC_IRQ        8
#define RTC_CMOS_SIZE  128

/* CMOS RAM: the clock's registers */
#define RTC_SECONDS    0x00
#define RTC_SEC_ALARM  0x01
#define RTC_MINUTES    0x02
#define RTC_MIN_ALARM  0x03
#define RTC_HOURS      0x04
#define RTC_HOUR_ALARM 0x05
#define RTC_WDAY       0x06           /* 1 = Sunday */
#define RTC_MDAY       0x07
#define RTC_MONTH      0x08
#define RTC_YEAR       0x09           /* 0-99 */
#define RTC_REG_A      0x0a
#define RTC_REG_B      0x0b
#define RTC_REG_C      0x0c
#define RTC_REG_D      0x0d
#define RTC_CENTURY    0x32           /* as QEMU's PC (base year 0) */
#define RTC_CENTURY_PS2 0x37          /* an alias of 0x32 */

#define RTC_A_UIP      0x80           /* update in progress (read-only) */
#define RTC_A_DV       0x70           /* divider: 010 = 32.768 kHz, 11x = reset */
#define RTC_A_RS       0x0f           /* periodic rate */
#define RTC_B_SET      0x80           /* updates stopped, the time may be written */
#define RTC_B_PIE      0x40
#define RTC_B_AIE      0x20
#define RTC_B_UIE      0x10
#define RTC_B_SQWE     0x08
#define RTC_B_DM       0x04           /* binary (1) or BCD (0) */
#define RTC_B_24H      0x02           /* 24-hour (1) or 12-hour with PM in bit 7 (0) */
#define RTC_B_DSE      0x01           /* stored; no daylight saving is done */
#define RTC_C_IRQF     0x80
#define RTC_C_PF       0x40
#define RTC_C_AF       0x20
#define RTC_C_UF       0x10
#define RTC_D_VRT      0x80           /* valid RAM and time: always */

struct rtc {
	uint8_t cmos[RTC_CMOS_SIZE];  /* CMOS RAM; the time registers as last computed */
	uint8_t index;                /* port 0x70 bits 0-6: what 0x71 reaches */
	uint8_t nmi_off;              /* port 0x70 bit 7 (NMI disable), stored only */
	/* The clock: guest second = offset_s + (host ns + phase_ns) / 10^9.
	 * phase_ns places the divider chain's second boundaries; it runs on
	 * while SET holds the time registers. */
	int64_t offset_s;
	uint32_t phase_ns;            /* 0 to 999,999,999 */
	uint64_t seen_ns;             /* host time up to which C's flags are counted */
	/* IRQ 8, optional (NULL: no line); set after rtc_init */
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
	bool irq_level;               /* what set_irq was last told */
};

/* Power-on state at host time now_ns: the clock at the host's UTC time,
 * A = 0x26, B = 0x02 (24-hour, BCD), D = 0x80, and the PC's CMOS bytes for
 * ram_size bytes of RAM (below 4 GiB up to 3 GiB, the rest above 4 GiB, as
 * ombra lays RAM out) as QEMU's pc_cmos_init fills them with no floppy
 * or IDE: 0x0f shutdown status 0, 0x10 no floppy, 0x14 equipment 0x06 (FPU,
 * PS/2 mouse), 0x15-0x18, 0x30-0x31, 0x34-0x35 and 0x5b-0x5d the sizes. */
void rtc_init(struct rtc *s, uint64_t ram_size, uint64_t now_ns);
/* off = port - RTC_PORT: 0 the index, 1 the data. */
uint8_t rtc_read(struct rtc *s, unsigned off, uint64_t now_ns);
void rtc_write(struct rtc *s, unsigned off, uint8_t val, uint64_t now_ns);
/* Count C's flags due by now_ns and set IRQF (and the line) from them. */
void rtc_update(struct rtc *s, uint64_t now_ns);
/* The host time after now_ns at which IRQF would next go up (0: not
 * before the guest acts, e.g. nothing enabled or IRQF already set); from
 * the flags as counted, so after rtc_update or an access at now_ns. */
uint64_t rtc_next_irq_ns(const struct rtc *s, uint64_t now_ns);
/* Ports 0x70-0x71 on the bus; its callbacks read CLOCK_REALTIME. */
int rtc_register(struct rtc *s, struct io_bus *bus);

#endif
