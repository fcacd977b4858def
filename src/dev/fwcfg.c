/*
 * fw_cfg items, built on the fly from the machine description.  Reading
 * past the end of an item, or an item that does not exist, gives zeros, as
 * QEMU does.
 */
#include "fwcfg.h"

#include <string.h>

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, uint16_t nr_cpus)
{
	memset(f, 0, sizeof(*f));
	f->ram_size = ram_size;
	f->nr_cpus = nr_cpus;
}

/* The current item's contents; returns its length. */
static uint32_t item(const struct fw_cfg *f, uint8_t buf[8])
{
	memset(buf, 0, 8);
	switch (f->selector) {
	case FW_CFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FW_CFG_ID:
		buf[0] = 1;                      /* traditional interface, no DMA */
		return 4;
	case FW_CFG_RAM_SIZE:
		for (int i = 0; i < 8; i++)
			buf[i] = (uint8_t)(f->ram_size >> (8 * i));
		return 8;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		buf[0] = (uint8_t)f->nr_cpus;
		buf[1] = (uint8_t)(f->nr_cpus >> 8);
		return 2;
	case FW_CFG_FILE_DIR:
		return 4;                        /* big-endian count 0: no files */
	default:
		return 0;
	}
}

static void fw_cfg_in(void *opaque, uint16_t port, unsigned size, uint32_t *val)
{
	struct fw_cfg *f = opaque;
	uint8_t buf[8];
	uint32_t len, v = 0;

	if (port != FW_CFG_PORT_DATA) {
		*val = 0;                       /* the selector is write-only */
		return;
	}
	len = item(f, buf);
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = f->offset < len ? buf[f->offset] : 0;

		v |= (uint32_t)b << (8 * i);
		f->offset++;
	}
	*val = v;
}

static void fw_cfg_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	struct fw_cfg *f = opaque;

	(void)size;
	if (port == FW_CFG_PORT_SEL) {
		f->selector = (uint16_t)val;
		f->offset = 0;
	}
	/* Writes to the data port are ignored, as on QEMU since 2.4. */
}

int fw_cfg_register(struct fw_cfg *f, struct io_bus *bus)
{
	struct io_dev d = { "fw_cfg", FW_CFG_PORT_SEL, 2, fw_cfg_in, fw_cfg_out, f };

	return io_bus_register(bus, &d);
}
