/*
 * QEMU's fw_cfg interface, legacy I/O form: a 16-bit selector at 0x510 and a
 * byte-wide data port at 0x511.  ombra offers the items test kernels read:
 * the "QEMU" signature, the interface ID, the RAM size, the CPU count and an
 * empty file directory.  No DMA.
 */
#ifndef OMBRA_FWCFG_H
#define OMBRA_FWCFG_H

#include <stdint.h>

#include "iobus.h"

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511

#define FW_CFG_SIGNATURE  0x00
#define FW_CFG_ID         0x01
#define FW_CFG_RAM_SIZE   0x03
#define FW_CFG_NB_CPUS    0x05
#define FW_CFG_MAX_CPUS   0x0f
#define FW_CFG_FILE_DIR   0x19

struct fw_cfg {
	uint16_t selector;   /* current item */
	uint32_t offset;     /* next byte of it the data port returns */
	uint64_t ram_size;   /* reported as FW_CFG_RAM_SIZE */
	uint16_t nr_cpus;    /* reported as FW_CFG_NB_CPUS and MAX_CPUS */
};

void fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, uint16_t nr_cpus);
int fw_cfg_register(struct fw_cfg *f, struct io_bus *bus);

#endif
