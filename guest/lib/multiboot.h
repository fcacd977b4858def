/*
 * multiboot.h: the parts of the multiboot (version 1) specification a test
 * kernel uses: the header the loader looks for, and the information
 * structure it passes in EBX.
 */
#ifndef GUEST_MULTIBOOT_H
#define GUEST_MULTIBOOT_H

#define MB_HEADER_MAGIC 0x1badb002 /* in the kernel image, first 8 KiB */
#define MB_HEADER_FLAGS 0x00000003 /* bit 0: align modules to pages; bit 1: want memory info */
#define MB_BOOT_MAGIC   0x2badb002 /* in EAX at entry */

#ifndef __ASSEMBLER__
#include <stdint.h>

#define MBI_MEM     (1u << 0) /* mem_lower, mem_upper valid */
#define MBI_CMDLINE (1u << 2) /* cmdline valid */
#define MBI_MODS    (1u << 3) /* mods_count, mods_addr valid */
#define MBI_MMAP    (1u << 6) /* mmap_length, mmap_addr valid */

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower;   /* KiB of RAM from 0 */
	uint32_t mem_upper;   /* KiB of RAM from 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;     /* physical address of a NUL-terminated string */
	uint32_t mods_count;
	uint32_t mods_addr;   /* array of struct mb_module */
	uint32_t syms[4];
	uint32_t mmap_length; /* bytes of memory map */
	uint32_t mmap_addr;   /* first struct mb_mmap_entry */
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start, mod_end; /* [start, end) physical */
	uint32_t string;             /* its command line */
	uint32_t reserved;
} __attribute__((packed));

struct mb_mmap_entry {
	uint32_t size;               /* of the rest of this entry: the next one is at +size+4 */
	uint64_t base, length;
	uint32_t type;               /* 1 = available RAM */
} __attribute__((packed));
#endif

#endif
