/*
 * The port-I/O bus: which device answers which x86 I/O port.
 *
 * Both modes send port accesses here: tdp mode from KVM_EXIT_IO, shadow mode
 * from the IN/OUT instructions its emulator decodes.  A port nobody claims is
 * logged once, reads as all ones (as on a PC with nothing there) and the guest
 * goes on.
 */
#ifndef OMBRA_IOBUS_H
#define OMBRA_IOBUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define IOBUS_MAX_DEVS 32

struct io_dev {
	const char *name;  /* for logs */
	uint16_t base;     /* first port */
	uint16_t len;      /* number of ports */
	/* size is 1, 2 or 4 bytes; port is absolute.  The bus masks what in()
	 * returns to size bytes. */
	void (*in)(void *opaque, uint16_t port, unsigned size, uint32_t *val);
	void (*out)(void *opaque, uint16_t port, unsigned size, uint32_t val);
	void *opaque;
};

struct io_bus {
	struct io_dev devs[IOBUS_MAX_DEVS]; /* registered devices */
	unsigned nr_devs;
	uint8_t warned[65536 / 8];          /* unknown ports already logged */
	FILE *log;                          /* where unknown ports are reported */
	uint64_t unknown_accesses;          /* count of accesses nobody claimed */
};

void io_bus_init(struct io_bus *bus, FILE *log);
int io_bus_register(struct io_bus *bus, const struct io_dev *dev);
uint32_t io_bus_in(struct io_bus *bus, uint16_t port, unsigned size);
void io_bus_out(struct io_bus *bus, uint16_t port, unsigned size, uint32_t val);

#endif
