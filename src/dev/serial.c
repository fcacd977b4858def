/*
 * The 16550 UART model.  Register numbers are offsets from the base port;
 * with LCR.DLAB set, offsets 0 and 1 reach the divisor latch instead.
 */
#include "serial.h"

#include <stdlib.h>
#include <string.h>

#define UART_RBR_THR 0
#define UART_IER     1
#define UART_IIR_FCR 2
#define UART_LCR     3
#define UART_MCR     4
#define UART_LSR     5
#define UART_MSR     6
#define UART_SCR     7

#define LCR_DLAB     0x80
#define LSR_THRE     0x20   /* transmit holding register empty */
#define LSR_TEMT     0x40   /* transmitter empty */
#define IIR_NO_INT   0x01
#define IIR_THRI     0x02   /* transmitter holding register empty */
#define IER_THRI     0x02
#define MSR_CTS_DSR_DCD 0xb0

void serial_init(struct serial *s, FILE *out, int capture)
{
	memset(s, 0, sizeof(*s));
	s->out = out;
	if (capture) {
		s->cap_size = 4096;
		s->capture = malloc(s->cap_size);
		if (!s->capture)
			s->cap_size = 0;
	}
}

void serial_capture_off(struct serial *s)
{
	free(s->capture);
	s->capture = NULL;
	s->cap_len = s->cap_size = 0;
}

static void serial_tx(struct serial *s, uint8_t c)
{
	s->tx_bytes++;
	if (s->before_tx)
		s->before_tx(s->before_opaque);
	if (s->out)
		fputc(c, s->out);
	if (!s->capture)
		return;
	if (s->cap_len == s->cap_size) {
		char *n = s->cap_size < SERIAL_CAPTURE_MAX ? realloc(s->capture, s->cap_size * 2) : NULL;

		if (!n) {
			s->cap_dropped++;   /* capture stays as it was; output still flows */
			return;
		}
		s->capture = n;
		s->cap_size *= 2;
	}
	s->capture[s->cap_len++] = (char)c;
}

/* The line follows IIR: high while an interrupt is pending (QEMU's
 * 16550A, which does not gate it with MCR.OUT2 either). */
static void serial_update_irq(struct serial *s)
{
	bool level = (s->ier & IER_THRI) && s->thr_ipending;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->set_irq)
		s->set_irq(s->irq_opaque, level);
}

static void serial_in(void *opaque, uint16_t port, unsigned size, uint32_t *val)
{
	struct serial *s = opaque;
	uint8_t v = 0;

	(void)size;
	switch (port & 7) {
	case UART_RBR_THR: v = s->lcr & LCR_DLAB ? s->dll : 0; break;
	case UART_IER:     v = s->lcr & LCR_DLAB ? s->dlm : s->ier; break;
	case UART_IIR_FCR:
		/* Reading IIR that reports THR empty acknowledges it. */
		v = ((s->ier & IER_THRI) && s->thr_ipending ? IIR_THRI : IIR_NO_INT) | (s->fcr & 1 ? 0xc0 : 0);
		if (v & IIR_THRI) {
			s->thr_ipending = false;
			serial_update_irq(s);
		}
		break;
	case UART_LCR:     v = s->lcr; break;
	case UART_MCR:     v = s->mcr; break;
	case UART_LSR:     v = LSR_THRE | LSR_TEMT; break;
	case UART_MSR:     v = MSR_CTS_DSR_DCD; break;
	case UART_SCR:     v = s->scr; break;
	}
	*val = v;
}

static void serial_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	struct serial *s = opaque;
	uint8_t v = (uint8_t)val;

	(void)size;
	switch (port & 7) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else {
			/* Sent at once: THR is empty again, which is an interrupt. */
			serial_tx(s, v);
			s->thr_ipending = true;
			serial_update_irq(s);
		}
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI with THR empty raises it (Linux's 8250 driver
		 * tests for exactly this at start-up). */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thr_ipending = true;
		s->ier = v & 0x0f;
		serial_update_irq(s);
		break;
	case UART_IIR_FCR: s->fcr = v; break;
	case UART_LCR:     s->lcr = v; break;
	case UART_MCR:     s->mcr = v & 0x1f; break;
	case UART_SCR:     s->scr = v; break;
	default:           break;   /* LSR and MSR are read-only */
	}
}

int serial_register(struct serial *s, struct io_bus *bus, uint16_t base)
{
	struct io_dev d = { "serial", base, 8, serial_in, serial_out, s };

	return io_bus_register(bus, &d);
}

void serial_destroy(struct serial *s)
{
	if (s->out)
		fflush(s->out);
	free(s->capture);
	s->capture = NULL;
}
