/*
 * A 16550 UART at 0x3f8, as much of one as a test kernel or Linux's 8250
 * driver uses: THR output, LSR always "transmitter empty", the init
 * registers stored and read back, the transmitter-empty interrupt (IIR 0x02
 * while IER.THRI is set, until the guest reads IIR or writes THR), on IRQ 4
 * as QEMU's 16550A raises it; no receive path (RBR reads 0, LSR.DR stays 0).
 */
#ifndef OMBRA_SERIAL_H
#define OMBRA_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iobus.h"

#define SERIAL_COM1 0x3f8
#define SERIAL_COM1_IRQ 4
/* The capture keeps at most this much; the rest is counted (cap_dropped). */
#define SERIAL_CAPTURE_MAX (16u << 20)

struct serial {
	FILE *out;          /* where THR bytes go (stdout or -serial file:F) */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr; /* stored registers */
	bool thr_ipending;  /* the THR-empty interrupt is pending (IIR 0x02) */
	bool irq_level;     /* what the UART drives on its IRQ line now */
	void (*set_irq)(void *opaque, bool level); /* the line's changes; NULL: not wired */
	void *irq_opaque;
	uint64_t tx_bytes;  /* bytes the guest sent */
	char *capture;      /* the bytes sent, for comparisons; NULL if off */
	size_t cap_len, cap_size;
	uint64_t cap_dropped; /* bytes sent past SERIAL_CAPTURE_MAX, not captured */
	void (*before_tx)(void *opaque);  /* called before output (clears a status line) */
	void *before_opaque;
};

void serial_init(struct serial *s, FILE *out, int capture);
/* No capture (ombra run: nothing reads it); frees the buffer. */
void serial_capture_off(struct serial *s);
int serial_register(struct serial *s, struct io_bus *bus, uint16_t base);
void serial_destroy(struct serial *s);

#endif
