/*
 * Linux x86 boot protocol loader (Documentation/arch/x86/boot.rst).
 *
 * Puts a bzImage into guest memory the way a 64-bit boot loader does, with
 * no firmware and no real-mode setup code run: the protected-mode kernel at
 * its preferred address, the zero page (struct boot_params) with the image's
 * setup header, an e820 map made from the memslots, the command line, the
 * initrd at the top of RAM below 4 GiB, the firmware's tables (ACPI) where
 * the caller built them, and identity page tables plus a GDT for the 64-bit
 * entry point.  Works on memory buffers and struct guest_mem only: no KVM,
 * no files; errors come back as -errno plus one sentence in err.
 */
#ifndef OMBRA_BZIMAGE_H
#define OMBRA_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "mem.h"

/* Where the loader puts its own structures (below 640 KiB, as a BIOS would). */
#define LINUX_GDT_GPA        0x1000u   /* null, null, BOOT_CS (64-bit), BOOT_DS */
#define LINUX_PML4_GPA       0x2000u   /* then a PDPT and four page directories: */
#define LINUX_PT_END         0x8000u   /* 0-4 GiB identity mapped with 2 MiB pages */
#define LINUX_ZERO_PAGE_GPA  0x8000u   /* struct boot_params, RSI at entry */
#define LINUX_CMDLINE_GPA    0x9000u   /* the command line, at most 4 KiB */
#define LINUX_FW_GPA         0x9e000u  /* firmware tables, reserved in the e820 map */
#define LINUX_FW_SIZE        0x2000u

/* struct boot_params and its setup header: offsets from boot.rst. */
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_SETUP_SECTS       0x1f1
#define BP_BOOT_FLAG         0x1fe
#define BP_JUMP              0x200
#define BP_HEADER            0x202
#define BP_VERSION           0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS         0x211
#define BP_CODE32_START      0x214
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE      0x21c
#define BP_CMD_LINE_PTR      0x228
#define BP_INITRD_ADDR_MAX   0x22c
#define BP_KERNEL_ALIGNMENT  0x230
#define BP_RELOCATABLE       0x234
#define BP_XLOADFLAGS        0x236
#define BP_CMDLINE_SIZE      0x238
#define BP_HARDWARE_SUBARCH  0x23c
#define BP_HARDWARE_SUBARCH_DATA 0x240
#define BP_SETUP_DATA        0x250
#define BP_PREF_ADDRESS      0x258
#define BP_INIT_SIZE         0x260
#define BP_E820_TABLE        0x2d0
#define BP_E820_MAX          128

#define LINUX_HDRS           0x53726448u  /* "HdrS" */
#define LOADED_HIGH          0x01         /* loadflags: a bzImage, loaded at 1 MiB or above */
#define XLF_KERNEL_64        0x01         /* xloadflags: has the 64-bit entry at +0x200 */

#define E820_RAM             1
#define E820_RESERVED        2

struct linux_boot_in {
	const char *cmdline;          /* -append, or NULL */
	const void *initrd;           /* -initrd's contents, or NULL */
	size_t initrd_len;
	const void *fw;               /* firmware tables built for LINUX_FW_GPA, or NULL */
	size_t fw_len;
	uint64_t rsdp_gpa;            /* the ACPI RSDP among them, 0: none */
};

struct linux_boot {
	struct boot_entry cpu;        /* the 64-bit entry state */
	uint16_t version;             /* the boot protocol version, e.g. 0x020f */
	uint64_t load_gpa;            /* the protected-mode kernel */
	uint64_t load_len;            /* its bytes in the file */
	uint64_t init_size;           /* what it needs from load_gpa while it decompresses */
	uint64_t initrd_gpa, initrd_len;
	unsigned e820_entries;
};

/* Does the image carry a Linux boot protocol header ("HdrS" and 0xAA55)? */
bool linux_is_bzimage(const void *image, size_t len);

int linux_load(struct guest_mem *m, const void *image, size_t len, const struct linux_boot_in *in,
	       struct linux_boot *out, char *err, size_t errlen);

#endif
