/*
 * The 16550 UART's transmitter interrupt (src/dev/serial.c) against the
 * PC16550D data sheet and the sequences Linux's 8250 driver runs: IIR
 * reports "THR empty" (0x02) while IER.THRI is set and the interrupt has
 * not been acknowledged; reading IIR that reports it, or writing THR,
 * clears it (here THR empties at once, so a write raises it again);
 * enabling THRI with THR empty raises it (serial8250_do_startup's
 * UART_BUG_THRE test writes IER twice and expects IIR 0x02 both times).
 * The line on IRQ 4 follows IIR, and changes only on edges.
 */
#include <criterion/criterion.h>

#include <stdio.h>

#include "dev/serial.h"

static struct serial s;
static struct io_bus bus;
static int rises, falls;
static bool level;

static void line(void *opaque, bool l)
{
	(void)opaque;
	if (l)
		rises++;
	else
		falls++;
	level = l;
}

static void setup(void)
{
	io_bus_init(&bus, NULL);
	serial_init(&s, NULL, 0);
	s.set_irq = line;
	cr_assert_eq(serial_register(&s, &bus, SERIAL_COM1), 0);
	rises = falls = 0;
	level = false;
}

static void teardown(void)
{
	serial_destroy(&s);
}

TestSuite(serial, .init = setup, .fini = teardown);

static uint8_t in(unsigned reg)
{
	return (uint8_t)io_bus_in(&bus, (uint16_t)(SERIAL_COM1 + reg), 1);
}

static void out(unsigned reg, uint8_t v)
{
	io_bus_out(&bus, (uint16_t)(SERIAL_COM1 + reg), 1, v);
}

Test(serial, no_interrupt_without_thri)
{
	out(0, 'a');
	cr_expect_eq(in(2) & 0x0f, 0x01, "IIR: no interrupt pending");
	cr_expect_eq(rises, 0);
}

Test(serial, enabling_thri_with_thr_empty_raises_it)
{
	out(1, 0x02);
	cr_expect_eq(rises, 1);
	cr_expect(level);
	cr_expect_eq(in(2) & 0x0f, 0x02, "IIR: THR empty");
	cr_expect_eq(falls, 1, "reading IIR acknowledged it");
	cr_expect_eq(in(2) & 0x0f, 0x01, "and only once");
}

/* serial8250_do_startup's test for UARTs that do not reassert THRE. */
Test(serial, linux_thre_test_sees_it_twice)
{
	out(1, 0x02);
	cr_expect_eq(in(2) & 0x0f, 0x02);
	out(1, 0);
	out(1, 0x02);
	cr_expect_eq(in(2) & 0x0f, 0x02, "re-enabling THRI raises it again");
	out(1, 0);
	cr_expect_not(level);
}

Test(serial, a_write_empties_thr_again)
{
	out(1, 0x02);
	(void)in(2);
	cr_expect_not(level);
	out(0, 'x');
	cr_expect(level, "the byte left at once: THR empty again");
	cr_expect_eq(rises, 2);
	cr_expect_eq(s.tx_bytes, 1);
}

Test(serial, disabling_thri_drops_the_line)
{
	out(1, 0x02);
	cr_expect(level);
	out(1, 0);
	cr_expect_not(level);
	cr_expect_eq(in(2) & 0x0f, 0x01);
}

Test(serial, fifo_bits_in_iir)
{
	out(2, 0x01);  /* FCR: FIFOs on */
	cr_expect_eq(in(2), 0xc1, "16550A with FIFOs: bits 7:6 set");
	out(1, 0x02);
	cr_expect_eq(in(2), 0xc2);
}
