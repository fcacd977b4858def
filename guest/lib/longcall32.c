/*
 * longcall32.c: the 32-bit half's side of a call into the 64-bit half
 * (see longcall.h and entry64.S, which does the mode switches).
 */
#include "desc.h"
#include "layout.h"
#include "longcall.h"
#include "runtime.h"

uint32_t long_call(uint32_t call)
{
	const struct blob_header *h = (const void *)BLOB_BASE;
	struct handoff ho = {
		.call = call,
		.ram_end = boot.ram_end,
		.pool_start = boot.pool_start,
		.pool_end = boot.pool_end,
	};
	uint32_t result;

	if (h->magic != BLOB_MAGIC)
		panic("no 64-bit half at %#x", BLOB_BASE);
	result = ((uint32_t (*)(struct handoff *))(uintptr_t)h->entry32)(&ho);
	desc_load(); /* the 64-bit half loaded its own GDT, IDT and TSS */
	return result;
}
