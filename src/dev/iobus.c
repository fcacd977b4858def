/*
 * The port-I/O bus: dispatch of IN/OUT to the device that claims the port;
 * and the MMIO bus, the same for guest-physical accesses.
 */
#include "iobus.h"

#include <errno.h>
#include <string.h>

void io_bus_init(struct io_bus *bus, FILE *log)
{
	memset(bus, 0, sizeof(*bus));
	bus->log = log;
}

int io_bus_register(struct io_bus *bus, const struct io_dev *dev)
{
	if (dev->len == 0 || (uint32_t)dev->base + dev->len > 0x10000)
		return -EINVAL;
	for (unsigned i = 0; i < bus->nr_devs; i++) {
		const struct io_dev *d = &bus->devs[i];

		if (dev->base < d->base + d->len && d->base < dev->base + dev->len)
			return -EEXIST;
	}
	if (bus->nr_devs == IOBUS_MAX_DEVS)
		return -ENOSPC;
	bus->devs[bus->nr_devs++] = *dev;
	return 0;
}

static struct io_dev *find(struct io_bus *bus, uint16_t port)
{
	for (unsigned i = 0; i < bus->nr_devs; i++) {
		struct io_dev *d = &bus->devs[i];

		if (port >= d->base && port - d->base < d->len)
			return d;
	}
	return NULL;
}

static void unknown(struct io_bus *bus, uint16_t port, const char *dir, unsigned size, uint32_t val)
{
	bus->unknown_accesses++;
	if (bus->warned[port / 8] & (1u << (port % 8)))
		return;
	bus->warned[port / 8] |= 1u << (port % 8);
	if (!bus->log || bus->nwarned > IOBUS_MAX_WARNINGS)
		return;
	if (bus->nwarned++ == IOBUS_MAX_WARNINGS) {
		fprintf(bus->log, "ombra: the guest reached more than %u unknown ports; the rest are not logged "
			"(said once)\n", IOBUS_MAX_WARNINGS);
		return;
	}
	if (dir[0] == 'i')
		fprintf(bus->log, "ombra: guest read unknown port %#x (%u bytes): all ones (logged once)\n",
			port, size);
	else
		fprintf(bus->log, "ombra: guest wrote %#x to unknown port %#x (%u bytes): ignored (logged once)\n",
			val, port, size);
}

uint32_t io_bus_in(struct io_bus *bus, uint16_t port, unsigned size)
{
	struct io_dev *d = find(bus, port);
	uint32_t mask = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	uint32_t val = 0xffffffffu;

	if (d && d->in)
		d->in(d->opaque, port, size, &val);
	else if (!d)
		unknown(bus, port, "in", size, 0);
	/* A write-only device port reads as all ones, like an idle ISA bus. */
	return val & mask;
}

void io_bus_out(struct io_bus *bus, uint16_t port, unsigned size, uint32_t val)
{
	struct io_dev *d = find(bus, port);

	if (d && d->out)
		d->out(d->opaque, port, size, val);
	else if (!d)
		unknown(bus, port, "out", size, val);
}

int mmio_bus_register(struct mmio_bus *bus, const struct mmio_dev *dev)
{
	if (dev->len == 0 || dev->base + dev->len < dev->base)
		return -EINVAL;
	for (unsigned i = 0; i < bus->nr_devs; i++) {
		const struct mmio_dev *d = &bus->devs[i];

		if (dev->base < d->base + d->len && d->base < dev->base + dev->len)
			return -EEXIST;
	}
	if (bus->nr_devs == MMIOBUS_MAX_DEVS)
		return -ENOSPC;
	bus->devs[bus->nr_devs++] = *dev;
	return 0;
}

bool mmio_bus_access(struct mmio_bus *bus, uint64_t gpa, void *data, unsigned len, bool write)
{
	for (unsigned i = 0; i < bus->nr_devs; i++) {
		struct mmio_dev *d = &bus->devs[i];
		uint64_t val = 0;

		if (gpa < d->base || gpa - d->base >= d->len || len > d->len - (gpa - d->base))
			continue;
		if (write) {
			memcpy(&val, data, len > 8 ? 8 : len);
			if (d->write)
				d->write(d->opaque, gpa - d->base, len, val);
		} else {
			if (d->read)
				d->read(d->opaque, gpa - d->base, len, &val);
			memcpy(data, &val, len > 8 ? 8 : len);
		}
		return true;
	}
	return false;
}
