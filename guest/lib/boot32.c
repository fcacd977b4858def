/*
 * boot32.c: the C side of the multiboot entry (start32.S jumps here).
 *
 * Sets up the console and the descriptor tables, reads the multiboot
 * information to learn where RAM ends and what must not be overwritten (the
 * image, the information structure itself, the command line, the memory map,
 * modules), puts the page pool above all of that, and runs kernel_main().
 */
#include "alloc.h"
#include "desc.h"
#include "longcall.h"
#include "multiboot.h"
#include "runtime.h"

#define MIB             (1024ull * 1024)
#define POOL_MAX        (32 * MIB) /* the pool never needs more; keeps identity maps small */
#define POOL_MIN        (12 * MIB)
#define RAM_LIMIT_32    0xfffff000ull

struct boot_info boot;
extern char __image_end[]; /* kernel32.ld */

void boot32_main(uint32_t magic, uint32_t mbi_addr);

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void read_multiboot(const struct mb_info *mbi)
{
	uint64_t keep = (uintptr_t)__image_end; /* everything below must be left alone */

	keep = max64(keep, (uintptr_t)mbi + sizeof(*mbi));
	boot.cmdline = "";
	if (mbi->flags & MBI_CMDLINE) {
		boot.cmdline = (const char *)(uintptr_t)mbi->cmdline;
		keep = max64(keep, mbi->cmdline + strlen(boot.cmdline) + 1);
	}
	if (mbi->flags & MBI_MODS) {
		const struct mb_module *mod = (const void *)(uintptr_t)mbi->mods_addr;

		keep = max64(keep, mbi->mods_addr + mbi->mods_count * sizeof(*mod));
		for (uint32_t i = 0; i < mbi->mods_count; i++) {
			keep = max64(keep, mod[i].mod_end);
			if (mod[i].string)
				keep = max64(keep, mod[i].string +
					     strlen((const char *)(uintptr_t)mod[i].string) + 1);
		}
	}

	/* RAM: the available block of the memory map that contains 1 MiB, else mem_upper. */
	boot.ram_end = 0;
	if (mbi->flags & MBI_MMAP) {
		uint32_t off = 0;

		keep = max64(keep, mbi->mmap_addr + mbi->mmap_length);
		while (off + sizeof(struct mb_mmap_entry) <= mbi->mmap_length + 0ull) {
			const struct mb_mmap_entry *e = (const void *)(uintptr_t)(mbi->mmap_addr + off);

			if (e->type == 1 && e->base <= MIB && e->base + e->length > MIB)
				boot.ram_end = e->base + e->length;
			off += e->size + 4;
		}
	}
	if (!boot.ram_end && (mbi->flags & MBI_MEM))
		boot.ram_end = MIB + mbi->mem_upper * 1024ull;
	if (!boot.ram_end)
		panic("the multiboot information has neither a memory map nor mem_upper");
	if (boot.ram_end > RAM_LIMIT_32)
		boot.ram_end = RAM_LIMIT_32;

	boot.pool_start = (keep + 0xfff) & ~0xfffull;
	boot.pool_end = boot.ram_end & ~0xfffull;
	if (boot.pool_end > boot.pool_start + POOL_MAX)
		boot.pool_end = boot.pool_start + POOL_MAX;
	if (boot.pool_end < boot.pool_start + POOL_MIN)
		panic("too little RAM: %llu KiB above the kernel, %llu KiB needed",
		      (unsigned long long)(boot.pool_end - boot.pool_start) / 1024,
		      (unsigned long long)POOL_MIN / 1024);
}

void boot32_main(uint32_t magic, uint32_t mbi_addr)
{
	serial_init();
	desc_init();
	if (magic != MB_BOOT_MAGIC)
		panic("not started by a multiboot loader (EAX %#x)", magic);
	read_multiboot((const struct mb_info *)(uintptr_t)mbi_addr);
	pool_init(boot.pool_start, boot.pool_end);
	guest_exit((uint32_t)kernel_main());
}
