/*
 * Shadow mode's 8254 PIT and port 0x61 (pit.h).  A channel counts down
 * from its initial count at PIT_HZ from the moment the count is loaded;
 * its count and output are computed from the time, never ticked.  What a
 * guest can read follows the 8254 data sheet as KVM and QEMU implement it
 * (they agree, and tdp mode is KVM's), including where they simplify it:
 * a low gate does not stop modes 0, 2, 3 and 4, a control word does not
 * stop the count until a new one is written, the status byte has no
 * null-count bit; and where they differ, as KVM: modes 6 and 7 become 2
 * and 3, and mode 5 never interrupts on channel 0.  Channel 0's edges on IRQ 0 come when KVM's PIT raises
 * them: once a count after the load in modes 0, 1 and 4, every count in
 * modes 2 and 3, and never more often than every 200 us (KVM's
 * min_timer_period_us).
 */
#include <string.h>

#include "pit.h"

#define NS_PER_S       1000000000ull
#define MIN_PERIOD_NS  200000ull       /* KVM's min_timer_period_us */

enum { RW_LATCH, RW_LSB, RW_MSB, RW_WORD0, RW_WORD1 };   /* WORD1: the MSB of a word is next */

/* Whole PIT clocks from the load to now_ns. */
static uint64_t ticks(const struct pit_channel *c, uint64_t now_ns)
{
	if (now_ns <= c->load_ns)
		return 0;
	return (uint64_t)((unsigned __int128)(now_ns - c->load_ns) * PIT_HZ / NS_PER_S);
}

/* The time of the n-th clock after the load. */
static uint64_t tick_ns(const struct pit_channel *c, uint64_t n)
{
	return c->load_ns + (uint64_t)(((unsigned __int128)n * NS_PER_S + PIT_HZ - 1) / PIT_HZ);
}

uint32_t pit_count(const struct pit *p, unsigned ch, uint64_t now_ns)
{
	const struct pit_channel *c = &p->ch[ch];
	uint64_t d = ticks(c, now_ns);

	switch (c->mode) {
	case 2:
		return c->count - (uint32_t)(d % c->count);
	case 3:
		return c->count - (uint32_t)((2 * d) % c->count);
	default:                                         /* 0, 1, 4, 5: wraps past 0 */
		return (uint32_t)((c->count - d) & 0xffff);
	}
}

int pit_out(const struct pit *p, unsigned ch, uint64_t now_ns)
{
	const struct pit_channel *c = &p->ch[ch];
	uint64_t d = ticks(c, now_ns);

	switch (c->mode) {
	case 0:                                          /* high at terminal count */
		return d >= c->count;
	case 1:                                          /* low for one count after the trigger */
		return d < c->count;
	case 2:                                          /* KVM's and QEMU's pulse: high at each reload */
		return d != 0 && d % c->count == 0;
	case 3:                                          /* square wave: high for the first half */
		return d % c->count < (c->count + 1) / 2;
	default:                                         /* 4, 5: strobe at terminal count */
		return d == c->count;
	}
}

static void arm_irq0(struct pit *p, uint64_t now_ns)
{
	const struct pit_channel *c = &p->ch[0];

	p->irq0_periods = 1;
	switch (c->mode) {
	case 0: case 1: case 4: case 2: case 3:
		p->irq0_next_ns = tick_ns(c, c->count);
		if (c->mode >= 2 && c->mode <= 3 && p->irq0_next_ns - now_ns < MIN_PERIOD_NS)
			p->irq0_next_ns = now_ns + MIN_PERIOD_NS;
		break;
	default:                                         /* 5: waits for a gate edge channel 0 never sees */
		p->irq0_next_ns = 0;
	}
}

static void load_count(struct pit *p, unsigned ch, uint32_t val, uint64_t now_ns)
{
	struct pit_channel *c = &p->ch[ch];

	c->count = val ? val : 0x10000;
	c->load_ns = now_ns;
	if (ch == 0)
		arm_irq0(p, now_ns);
}

bool pit_irq0_update(struct pit *p, uint64_t now_ns)
{
	const struct pit_channel *c = &p->ch[0];
	uint64_t period;

	if (!p->irq0_next_ns || now_ns < p->irq0_next_ns)
		return false;
	p->irq0_edges++;
	if (c->mode != 2 && c->mode != 3) {
		p->irq0_next_ns = 0;                     /* one-shot */
		return true;
	}
	/* Periodic: the first period after now, on the count's own grid (or
	 * KVM's minimum period after now, when the count is shorter). */
	period = tick_ns(c, c->count) - c->load_ns;
	if (period < MIN_PERIOD_NS) {
		p->irq0_next_ns = now_ns + MIN_PERIOD_NS;
		return true;
	}
	p->irq0_periods = ticks(c, now_ns) / c->count + 1;
	p->irq0_next_ns = tick_ns(c, p->irq0_periods * c->count);
	return true;
}

static void latch_count(struct pit_channel *c, uint32_t count)
{
	if (c->count_latched)
		return;                                  /* the first latch holds until read */
	c->latched = (uint16_t)count;
	c->count_latched = c->rw_mode;
}

void pit_write(struct pit *p, unsigned off, uint8_t val, uint64_t now_ns)
{
	struct pit_channel *c;
	unsigned ch = val >> 6, access = (val >> 4) & 3;

	if (off == 3) {                                  /* the control word */
		if (ch == 3) {                           /* read-back: bits 1-3 pick channels */
			for (unsigned i = 0; i < 3; i++) {
				c = &p->ch[i];
				if (!(val & (2u << i)))
					continue;
				if (!(val & 0x20))
					latch_count(c, pit_count(p, i, now_ns));
				if (!(val & 0x10) && !c->status_latched) {
					c->status = (uint8_t)(pit_out(p, i, now_ns) << 7 | c->rw_mode << 4 |
							      c->mode << 1 | c->bcd);
					c->status_latched = 1;
				}
			}
			return;
		}
		c = &p->ch[ch];
		if (access == RW_LATCH) {
			latch_count(c, pit_count(p, ch, now_ns));
			return;
		}
		c->rw_mode = c->read_state = c->write_state = (uint8_t)access;
		c->mode = (val >> 1) & 7;
		if (c->mode >= 6)
			c->mode -= 4;                    /* 6 and 7 are 2 and 3 (X10, X11), as KVM keeps them */
		c->bcd = val & 1;
		return;
	}
	c = &p->ch[off];
	switch (c->write_state) {
	case RW_LSB:
		load_count(p, off, val, now_ns);
		break;
	case RW_MSB:
		load_count(p, off, (uint32_t)val << 8, now_ns);
		break;
	case RW_WORD0:
		c->write_lsb = val;
		c->write_state = RW_WORD1;
		break;
	case RW_WORD1:
		load_count(p, off, c->write_lsb | (uint32_t)val << 8, now_ns);
		c->write_state = RW_WORD0;
		break;
	}
}

uint8_t pit_read(struct pit *p, unsigned off, uint64_t now_ns)
{
	struct pit_channel *c;
	uint32_t count;

	if (off == 3)
		return 0;                                /* the control word is write-only */
	c = &p->ch[off];
	if (c->status_latched) {
		c->status_latched = 0;
		return c->status;
	}
	if (c->count_latched) {
		switch (c->count_latched) {
		case RW_LSB:
			c->count_latched = 0;
			return (uint8_t)c->latched;
		case RW_MSB:
			c->count_latched = 0;
			return (uint8_t)(c->latched >> 8);
		default:                                 /* a word: LSB now, MSB next */
			c->count_latched = RW_MSB;
			return (uint8_t)c->latched;
		}
	}
	count = pit_count(p, off, now_ns);
	switch (c->read_state) {
	case RW_MSB:
		return (uint8_t)(count >> 8);
	case RW_WORD0:
		c->read_state = RW_WORD1;
		return (uint8_t)count;
	case RW_WORD1:
		c->read_state = RW_WORD0;
		return (uint8_t)(count >> 8);
	default:
		return (uint8_t)count;
	}
}

uint8_t pit_port61_read(const struct pit *p, uint64_t now_ns)
{
	unsigned refresh = (unsigned)(now_ns >> 14) & 1;   /* toggles every 16 us, as KVM's */

	return (uint8_t)(p->ch[2].gate | p->speaker_data << 1 | refresh << 4 | pit_out(p, 2, now_ns) << 5);
}

void pit_port61_write(struct pit *p, uint8_t val, uint64_t now_ns)
{
	struct pit_channel *c = &p->ch[2];
	uint8_t gate = val & 1;

	p->speaker_data = (val >> 1) & 1;
	/* A rising gate restarts modes 1, 2, 3 and 5; modes 0 and 4 go on. */
	if (gate && !c->gate && c->mode != 0 && c->mode != 4)
		c->load_ns = now_ns;
	c->gate = gate;
}

void pit_reset(struct pit *p)
{
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < 3; i++) {
		p->ch[i].count = 0x10000;
		p->ch[i].gate = i != 2;
	}
	/* Silent until a count is written, as KVM's PIT (no IRQ 0 before). */
}
