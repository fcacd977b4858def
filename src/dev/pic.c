/*
 * Shadow mode's PIC pair (pic.h): the 8259A's IRR, ISR and IMR, its
 * fixed and rotating priorities, special mask and special fully nested
 * modes, auto-EOI, the poll command, edge and level inputs (ELCR), and
 * the slave's output on the master's IRQ 2.  Initialisation words and
 * operation commands as in the data sheet: ICW1 on the command port
 * starts ICW2..ICW4 on the data port; OCW1 is the mask, OCW2 (bits 4:3 00)
 * EOI and priority commands, OCW3 (01) register select, poll, special mask.
 */
#include <string.h>

#include "pic.h"

/* The priority, 0 highest, of the best IRQ in mask (8: none). */
static unsigned priority(const struct pic_chip *c, uint8_t mask)
{
	unsigned p = 0;

	if (!mask)
		return 8;
	while (!(mask & (1u << ((p + c->priority_add) & 7))))
		p++;
	return p;
}

/* The IRQ this chip would raise INTR for now, or -1: the best request
 * not masked, if above every IRQ in service (special mask mode ignores
 * masked ones in service; special fully nested mode lets the slave's
 * IRQ 2 interrupt itself). */
static int chip_irq(const struct pic_chip *c, bool master)
{
	unsigned req = priority(c, c->irr & (uint8_t)~c->imr), cur;
	uint8_t in_service = c->isr;

	if (req == 8)
		return -1;
	if (c->special_mask)
		in_service &= (uint8_t)~c->imr;
	if (master && c->special_fully_nested)
		in_service &= (uint8_t)~(1u << 2);
	cur = priority(c, in_service);
	return req < cur ? (int)((req + c->priority_add) & 7) : -1;
}

static void chip_set_irq(struct pic_chip *c, unsigned irq, bool level)
{
	uint8_t bit = (uint8_t)(1u << irq);

	if (c->elcr & bit) {                             /* level-triggered */
		if (level)
			c->irr |= bit, c->last_irr |= bit;
		else
			c->irr &= (uint8_t)~bit, c->last_irr &= (uint8_t)~bit;
		return;
	}
	if (level) {                                     /* edge: a rising one requests */
		if (!(c->last_irr & bit))
			c->irr |= bit;
		c->last_irr |= bit;
	} else {
		c->last_irr &= (uint8_t)~bit;
	}
}

/* The slave's output is the master's IRQ 2 input. */
static void update(struct pic *p)
{
	chip_set_irq(&p->chip[0], 2, chip_irq(&p->chip[1], false) >= 0);
}

static void chip_ack(struct pic_chip *c, unsigned irq)
{
	uint8_t bit = (uint8_t)(1u << irq);

	if (c->auto_eoi) {
		if (c->rotate_on_auto_eoi)
			c->priority_add = (uint8_t)((irq + 1) & 7);
	} else {
		c->isr |= bit;
	}
	if (!(c->elcr & bit))
		c->irr &= (uint8_t)~bit;                 /* a level input stays requested */
}

void pic_set_irq(struct pic *p, unsigned irq, bool level)
{
	chip_set_irq(&p->chip[irq >> 3], irq & 7, level);
	update(p);
}

bool pic_output(const struct pic *p)
{
	return chip_irq(&p->chip[0], true) >= 0;
}

unsigned pic_intack(struct pic *p)
{
	int irq = chip_irq(&p->chip[0], true), irq2;
	unsigned vector;

	if (irq < 0) {
		vector = p->chip[0].irq_base + 7u;      /* spurious */
	} else {
		chip_ack(&p->chip[0], (unsigned)irq);
		if (irq == 2) {
			irq2 = chip_irq(&p->chip[1], false);
			if (irq2 >= 0)
				chip_ack(&p->chip[1], (unsigned)irq2);
			else
				irq2 = 7;                /* the slave's spurious IRQ 15 */
			vector = p->chip[1].irq_base + (unsigned)irq2;
		} else {
			vector = p->chip[0].irq_base + (unsigned)irq;
		}
		p->intacks++;
	}
	update(p);
	return vector;
}

/* ICW1: start initialisation; IMR, ISR, edge requests and modes cleared. */
static void chip_init(struct pic_chip *c, uint8_t icw1)
{
	c->last_irr = 0;
	c->irr &= c->elcr;
	c->imr = c->isr = 0;
	c->priority_add = 0;
	c->irq_base = 0;
	c->read_isr = c->poll = c->special_mask = false;
	c->auto_eoi = c->rotate_on_auto_eoi = c->special_fully_nested = false;
	c->init4 = icw1 & 1;
	c->single = icw1 & 2;
	c->init_state = 1;
}

static void ocw2(struct pic_chip *c, uint8_t val)
{
	unsigned cmd = val >> 5, irq = val & 7u, p;

	switch (cmd) {
	case 0:                                          /* rotate in auto-EOI: clear, set */
	case 4:
		c->rotate_on_auto_eoi = cmd == 4;
		break;
	case 1:                                          /* non-specific EOI (and rotate) */
	case 5:
		p = priority(c, c->isr);
		if (p == 8)
			break;
		irq = (p + c->priority_add) & 7;
		c->isr &= (uint8_t)~(1u << irq);
		if (cmd == 5)
			c->priority_add = (uint8_t)((irq + 1) & 7);
		break;
	case 3:                                          /* specific EOI */
		c->isr &= (uint8_t)~(1u << irq);
		break;
	case 6:                                          /* set priority: irq lowest */
		c->priority_add = (uint8_t)((irq + 1) & 7);
		break;
	case 7:                                          /* rotate on specific EOI */
		c->isr &= (uint8_t)~(1u << irq);
		c->priority_add = (uint8_t)((irq + 1) & 7);
		break;
	default:                                         /* 2: no operation */
		break;
	}
}

static void chip_write(struct pic_chip *c, bool data, uint8_t val)
{
	if (!data) {
		if (val & 0x10) {
			chip_init(c, val);
		} else if (val & 0x08) {                 /* OCW3 */
			if (val & 0x04)
				c->poll = true;
			if (val & 0x02)
				c->read_isr = val & 1;
			if (val & 0x40)
				c->special_mask = (val >> 5) & 1;
		} else {
			ocw2(c, val);
		}
		return;
	}
	switch (c->init_state) {
	case 0:                                          /* OCW1 */
		c->imr = val;
		break;
	case 1:                                          /* ICW2 */
		c->irq_base = val & 0xf8;
		c->init_state = c->single ? (c->init4 ? 3 : 0) : 2;
		break;
	case 2:                                          /* ICW3: the cascade wiring is fixed */
		c->init_state = c->init4 ? 3 : 0;
		break;
	default:                                         /* ICW4 */
		c->special_fully_nested = (val >> 4) & 1;
		c->auto_eoi = (val >> 1) & 1;
		c->init_state = 0;
		break;
	}
}

void pic_write(struct pic *p, uint16_t port, uint8_t val)
{
	if ((port & ~1u) == PIC_ELCR) {
		struct pic_chip *c = &p->chip[port & 1];

		c->elcr = val & c->elcr_mask;
	} else {
		chip_write(&p->chip[port >= PIC_SLAVE], port & 1, val);
	}
	update(p);
}

/* The poll command: the read is the interrupt acknowledge, 0x80 | the
 * IRQ (0 when none). */
static uint8_t poll_read(struct pic *p, unsigned n)
{
	struct pic_chip *c = &p->chip[n];
	int irq = chip_irq(c, n == 0);

	c->poll = false;
	if (irq < 0)
		return 0;
	chip_ack(c, (unsigned)irq);
	update(p);
	return (uint8_t)(0x80 | irq);
}

uint8_t pic_read(struct pic *p, uint16_t port)
{
	struct pic_chip *c;

	if ((port & ~1u) == PIC_ELCR)
		return p->chip[port & 1].elcr;
	c = &p->chip[port >= PIC_SLAVE];
	if (c->poll)
		return poll_read(p, port >= PIC_SLAVE);
	if (port & 1)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

void pic_reset(struct pic *p)
{
	memset(p, 0, sizeof(*p));
	/* IRQs 0-2 and 8 and 13 are edge-only on a PC (as QEMU's and KVM's
	 * masks); KVM's pair starts unmasked with vector base 0, this too. */
	p->chip[0].elcr_mask = 0xf8;
	p->chip[1].elcr_mask = 0xde;
}
