/*
 * The port-I/O bus: which device answers which x86 I/O port; and the MMIO
 * bus, the same for guest-physical ranges no RAM backs.
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
/* Unknown ports are logged once each, and only the first this many: a
 * guest sweeping every port gets a few lines, not 65,536. */
#define IOBUS_MAX_WARNINGS 32

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
	unsigned nwarned;                   /* ... how many (at most IOBUS_MAX_WARNINGS lines) */
	FILE *log;                          /* where unknown ports are reported */
	uint64_t unknown_accesses;          /* count of accesses nobody claimed */
};

/*
 * The MMIO bus: which device answers which guest-physical range that no
 * memslot backs.  Both modes send such accesses here through vm_mmio():
 * tdp mode from KVM_EXIT_MMIO, shadow mode from its MMIO emulator.  An
 * access nobody claims is the caller's to handle (mmio_bus_access returns
 * false).
 */
#define MMIOBUS_MAX_DEVS 8

struct mmio_dev {
	const char *name;
	uint64_t base, len;
	/* off is from base; len is 1, 2, 4 or 8 bytes, little-endian in *val */
	void (*read)(void *opaque, uint64_t off, unsigned len, uint64_t *val);
	void (*write)(void *opaque, uint64_t off, unsigned len, uint64_t val);
	void *opaque;
};

struct mmio_bus {
	struct mmio_dev devs[MMIOBUS_MAX_DEVS];
	unsigned nr_devs;
};

int mmio_bus_register(struct mmio_bus *bus, const struct mmio_dev *dev);
/* Do the access if a device claims [gpa, gpa + len): true, else false. */
bool mmio_bus_access(struct mmio_bus *bus, uint64_t gpa, void *data, unsigned len, bool write);

void io_bus_init(struct io_bus *bus, FILE *log);
int io_bus_register(struct io_bus *bus, const struct io_dev *dev);
uint32_t io_bus_in(struct io_bus *bus, uint16_t port, unsigned size);
void io_bus_out(struct io_bus *bus, uint16_t port, unsigned size, uint32_t val);

#endif
