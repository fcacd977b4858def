/*
 * boot64.c: the 64-bit half's C entry, called by entry64.S in long mode on
 * every long_call().  It (re)loads the 64-bit descriptor tables, takes the
 * boot information from the handoff, runs the test kernel's function and
 * makes sure the boot tables are back in CR3 for the way out.
 */
#include "alloc.h"
#include "desc.h"
#include "longcall.h"
#include "paging.h"
#include "runtime.h"

struct boot_info boot;

uint32_t blob_main64(struct handoff *h);

uint32_t blob_main64(struct handoff *h)
{
	static bool tables_built;
	uint32_t result;

	if (!tables_built) {
		desc_init();
		tables_built = true;
	} else {
		desc_load();
	}
	boot.ram_end = h->ram_end;
	boot.pool_start = h->pool_start;
	boot.pool_end = h->pool_end;
	boot.cmdline = "";
	pool_init(boot.pool_start, boot.pool_end);
	result = kernel_call64(h->call);
	paging_leave();
	return result;
}
