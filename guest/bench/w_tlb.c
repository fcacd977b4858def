/*
 * w_tlb.c: workload tlb.  Translation alone: a region of S bytes mapped with
 * 4 KiB pages, every page written once before the phase (the word at its
 * start: its own address mixed with a seed), then
 *
 *   reads   N reads of that word in pages picked by the fixed-seed LCG over
 *           the whole region; no MMU event is expected (faults = 0): what
 *           differs between VMMs is only the cost of TLB misses and the
 *           page walks behind them.
 *
 * Check: every read returned its page's word (OR-ed mismatches are 0).
 * Cost: about 12 ring-0 instructions per read; at S = 64 MiB setup writes
 * 16,384 PTEs and touches 16,384 pages.
 */
#include "bench.h"

#define SEED 0x3c6ef372u

uint32_t work_tlb(const struct bench_args *a)
{
	struct bench b;
	uint64_t size = a->a, reads = a->b, np = size / PAGE_SIZE, va = REGION(1);
	uint64_t frames, *root, x = 7;
	uint32_t bad = 0;

	bench_begin(&b, "tlb");
	mem_init(b.name);
	frames = mem_data(size, LARGE_PAGE);
	root = base_space();
	pt4_map4k(root, va, frames, np, LEAF_FLAGS);
	paging_set_root(root);
	for (uint64_t p = va; p < va + size; p += PAGE_SIZE)
		*(volatile uint32_t *)(uintptr_t)p = (uint32_t)p ^ SEED;

	phase_start(&b);
	for (uint64_t i = 0; i < reads; i++) {
		uint64_t p = va + ((((lcg_next(&x) >> 32) * np) >> 32) << 12);

		bad |= *(volatile uint32_t *)(uintptr_t)p ^ (uint32_t)p ^ SEED;
	}
	phase_stop(&b, "reads", reads);

	check(&b.tally, bad == 0, "a read returned another page's word (mismatch bits %#x)", bad);
	check(&b.tally, pf_count == 0, "%llu page faults", (unsigned long long)pf_count);
	return bench_end(&b);
}
