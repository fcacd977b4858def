/*
 * Multiboot (version 1) loader.
 *
 * Puts a multiboot kernel into guest memory the way QEMU's `-kernel` does:
 * ELF32 or ELF64 program segments (or the header's a.out-kludge addresses when
 * flag 16 is set), the multiboot information structure with mem_lower /
 * mem_upper, a memory map, the command line and the initrd as module 0.
 * Works on memory buffers and struct guest_mem only: no KVM, no files, so
 * every rejection path is unit-tested.  Errors come back as -errno plus one
 * human sentence in err.
 */
#ifndef OMBRA_LOADER_H
#define OMBRA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define MB_HEADER_MAGIC      0x1badb002u
#define MB_BOOTLOADER_MAGIC  0x2badb002u
#define MB_SEARCH_LIMIT      8192      /* the header lies in the first 8 KiB */

/* Where the loader writes the multiboot info, command line and memory map. */
#define MB_INFO_GPA          0x9000u
#define MB_INFO_LIMIT        0x10000u  /* the info area ends below this */

struct mb_module {
	const void *data;    /* contents (the -initrd file) */
	size_t len;
	const char *string;  /* what the guest sees as the module's command line */
};

struct mb_boot {
	uint32_t entry;        /* EIP at entry (32-bit protected mode, paging off) */
	uint32_t info_gpa;     /* EBX: the multiboot info structure */
	uint32_t load_start;   /* lowest guest address the image occupies */
	uint32_t load_end;     /* end of image including bss */
	uint32_t mod_start;    /* module 0, when given */
	uint32_t mod_end;
	int elf_class;         /* 32 or 64; 0 when loaded through the address fields */
	uint32_t header_flags; /* the multiboot header's flags */
};

int mb_load(struct guest_mem *m, const void *image, size_t len, const char *cmdline,
	    const struct mb_module *module, struct mb_boot *out, char *err, size_t errlen);

#endif
