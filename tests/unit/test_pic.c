/*
 * Shadow mode's PIC pair (src/dev/pic.c) against the 8259A data sheet:
 * the initialisation words, masks, edge and level requests, priorities
 * (fixed, rotated, set), nesting by what is in service, EOIs, auto-EOI,
 * the poll command, special mask mode, the cascade through the master's
 * IRQ 2 and spurious interrupts.  Expected values are read off the data
 * sheet's tables, not the model.
 */
#include <criterion/criterion.h>

#include "dev/pic.h"

static struct pic p;

/* As an OS programs them: vectors 0x20 and 0x28, the slave on IRQ 2. */
static void init_pair(uint8_t icw4)
{
	pic_write(&p, 0x20, 0x11);
	pic_write(&p, 0x21, 0x20);
	pic_write(&p, 0x21, 0x04);
	pic_write(&p, 0x21, icw4);
	pic_write(&p, 0xa0, 0x11);
	pic_write(&p, 0xa1, 0x28);
	pic_write(&p, 0xa1, 0x02);
	pic_write(&p, 0xa1, icw4);
}

static void setup(void)
{
	pic_reset(&p);
	init_pair(0x01);
}

TestSuite(pic, .init = setup);

static uint8_t irr(uint16_t base)
{
	pic_write(&p, base, 0x0a);
	return pic_read(&p, base);
}

static uint8_t isr(uint16_t base)
{
	pic_write(&p, base, 0x0b);
	return pic_read(&p, base);
}

static void edge(unsigned irq)
{
	pic_set_irq(&p, irq, true);
	pic_set_irq(&p, irq, false);
}

Test(pic, init_leaves_everything_unmasked_and_clear)
{
	cr_expect_eq(pic_read(&p, 0x21), 0);
	cr_expect_eq(pic_read(&p, 0xa1), 0);
	pic_write(&p, 0x21, 0xfe);
	cr_expect_eq(pic_read(&p, 0x21), 0xfe, "OCW1 after the ICWs is the mask");
	cr_expect_eq(irr(0x20), 0);
	cr_expect_eq(isr(0x20), 0);
	cr_expect_not(pic_output(&p));
}

Test(pic, a_masked_edge_waits_in_irr)
{
	pic_write(&p, 0x21, 0xff);
	edge(0);
	cr_expect_eq(irr(0x20), 0x01, "IRR comes before the mask");
	cr_expect_not(pic_output(&p));
	pic_write(&p, 0x21, 0xfe);
	cr_expect(pic_output(&p));
	cr_expect_eq(pic_intack(&p), 0x20);
	cr_expect_eq(irr(0x20), 0);
	cr_expect_eq(isr(0x20), 0x01);
	cr_expect_not(pic_output(&p));
	pic_write(&p, 0x20, 0x20);                      /* non-specific EOI */
	cr_expect_eq(isr(0x20), 0);
}

Test(pic, an_edge_requests_once)
{
	pic_set_irq(&p, 1, true);
	pic_set_irq(&p, 1, true);
	cr_expect_eq(pic_intack(&p), 0x21);
	pic_write(&p, 0x20, 0x20);
	cr_expect_not(pic_output(&p), "the line stayed high: no new edge");
	pic_set_irq(&p, 1, false);
	pic_set_irq(&p, 1, true);
	cr_expect(pic_output(&p));
}

Test(pic, fixed_priority_and_nesting)
{
	edge(3);
	edge(1);
	cr_expect_eq(pic_intack(&p), 0x21, "IRQ 1 before IRQ 3");
	cr_expect_not(pic_output(&p), "IRQ 3 waits while IRQ 1 is in service");
	edge(0);
	cr_expect(pic_output(&p), "IRQ 0 nests above IRQ 1");
	cr_expect_eq(pic_intack(&p), 0x20);
	cr_expect_eq(isr(0x20), 0x03);
	pic_write(&p, 0x20, 0x20);                      /* ends IRQ 0, the highest */
	cr_expect_eq(isr(0x20), 0x02);
	pic_write(&p, 0x20, 0x61);                      /* specific EOI, IRQ 1 */
	cr_expect_eq(isr(0x20), 0);
	cr_expect_eq(pic_intack(&p), 0x23);
}

Test(pic, set_priority_and_rotation)
{
	pic_write(&p, 0x20, 0xc0);                      /* IRQ 0 lowest: 1 is highest */
	edge(0);
	edge(1);
	cr_expect_eq(pic_intack(&p), 0x21);
	pic_write(&p, 0x20, 0xa0);                      /* rotate on non-specific EOI: 1 lowest */
	edge(1);
	cr_expect_eq(pic_intack(&p), 0x20, "now IRQ 0 is above IRQ 1");
	pic_write(&p, 0x20, 0x20);
	cr_expect_eq(pic_intack(&p), 0x21);
}

Test(pic, level_inputs_through_elcr)
{
	pic_write(&p, 0x4d0, 0xff);
	cr_expect_eq(pic_read(&p, 0x4d0), 0xf8, "IRQs 0-2 are edge only");
	pic_write(&p, 0x4d1, 0xff);
	cr_expect_eq(pic_read(&p, 0x4d1), 0xde, "IRQs 8 and 13 are edge only");
	pic_set_irq(&p, 3, true);
	cr_expect_eq(pic_intack(&p), 0x23);
	cr_expect_eq(irr(0x20), 0x08, "a level input stays requested");
	pic_set_irq(&p, 3, false);
	cr_expect_eq(irr(0x20), 0);
}

Test(pic, the_slave_through_irq2)
{
	edge(12);
	cr_expect(pic_output(&p));
	cr_expect_eq(pic_intack(&p), 0x2c);
	cr_expect_eq(isr(0x20), 0x04);
	cr_expect_eq(isr(0xa0), 0x10);
	pic_write(&p, 0xa1, 0x00);
	edge(9);
	cr_expect_not(pic_output(&p), "IRQ 2 in service on the master holds the slave's");
	pic_write(&p, 0xa0, 0x20);
	pic_write(&p, 0x20, 0x20);
	cr_expect_eq(pic_intack(&p), 0x29);
}

Test(pic, spurious)
{
	cr_expect_eq(pic_intack(&p), 0x27, "nothing pending: IRQ 7");
	cr_expect_eq(isr(0x20), 0, "and not in service");
	edge(1);
	pic_write(&p, 0x21, 0x02);                      /* masked before the acknowledge */
	cr_expect_eq(pic_intack(&p), 0x27);
}

Test(pic, auto_eoi)
{
	init_pair(0x03);
	edge(4);
	cr_expect_eq(pic_intack(&p), 0x24);
	cr_expect_eq(isr(0x20), 0, "auto-EOI: nothing stays in service");
}

Test(pic, poll)
{
	edge(5);
	pic_write(&p, 0x20, 0x0c);
	cr_expect_eq(pic_read(&p, 0x20), 0x85, "interrupt, IRQ 5");
	cr_expect_eq(isr(0x20), 0x20, "the poll read acknowledged it");
	pic_write(&p, 0x20, 0x0c);
	cr_expect_eq(pic_read(&p, 0x20), 0, "none now");
	cr_expect_eq(pic_read(&p, 0x20), 0x20, "one read only: then ISR again");
}

Test(pic, special_mask_mode)
{
	edge(0);
	cr_expect_eq(pic_intack(&p), 0x20);
	edge(3);
	cr_expect_not(pic_output(&p));
	pic_write(&p, 0x21, 0x01);                      /* mask IRQ 0, which is in service */
	pic_write(&p, 0x20, 0x68);                      /* OCW3: set special mask */
	cr_expect(pic_output(&p), "lower IRQs come while the masked one is in service");
	cr_expect_eq(pic_intack(&p), 0x23);
}
