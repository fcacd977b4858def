/*
 * libFuzzer harness for the multiboot loader (src/vmm/loader.c): any bytes
 * as the kernel image, with and without a command line and a module, into
 * a 64 MiB PC-layout guest.  Besides ASan/UBSan: mb_load either succeeds
 * with a consistent result or fails with a message, and never writes guest
 * memory outside RAM (mem_write refuses that; a crash would show it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/loader.h"
#include "vmm/mem.h"

#define MUST(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct guest_mem m;
	static int ready;
	struct mb_module mod = { "initrd", 6, "mod" };
	struct mb_boot boot;
	char err[256] = "";
	int r;

	if (!ready) {
		mem_init(&m);
		MUST(mem_layout_pc(&m, 64ULL << 20) == 0);
		ready = 1;
	}
	if (n < 1)
		return 0;
	memset(&boot, 0, sizeof(boot));
	r = mb_load(&m, d + 1, n - 1, d[0] & 1 ? "console=ttyS0 cases=all" : NULL,
		    d[0] & 2 ? &mod : NULL, &boot, err, sizeof(err));
	if (r == 0) {
		MUST(boot.load_start <= boot.load_end);
		MUST(boot.elf_class == 0 || boot.elf_class == 32 || boot.elf_class == 64);
		MUST(!(d[0] & 2) || boot.mod_start <= boot.mod_end);
	} else {
		MUST(r < 0 && err[0] != '\0');
	}
	return 0;
}
