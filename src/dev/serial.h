/*
 * A 16550 UART at 0x3f8, as much of one as a test kernel uses: THR output,
 * LSR always "transmitter empty", the init registers stored and read back,
 * no receive path (RBR reads 0, LSR.DR stays 0).
 */
#ifndef OMBRA_SERIAL_H
#define OMBRA_SERIAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iobus.h"

#define SERIAL_COM1 0x3f8
/* The capture keeps at most this much; the rest is counted (cap_dropped). */
#define SERIAL_CAPTURE_MAX (16u << 20)

struct serial {
	FILE *out;          /* where THR bytes go (stdout or -serial file:F) */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr; /* stored registers */
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
