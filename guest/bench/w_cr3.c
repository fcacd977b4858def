/*
 * w_cr3.c: workload cr3.  K address spaces, each its own root, sharing the
 * identity map's root entry (kernel, stack, tables) and each with a private
 * chain (PDPT, PD, PT) that maps the same 4 pages at REGION(1) to 4 frames
 * of its own.  One round visits every space in order: MOV to CR3, then a
 * read-modify-write of one word in each of its 4 pages.
 *
 *   switch   R rounds (iterations = K * R), after one round not timed that
 *            fills whatever the VMM caches per address space; what is timed
 *            is the steady state of a process switch.
 *
 * Checks: every frame, read through the identity map, holds its starting
 * value plus R + 1 (one increment per visit): a switch that left a stale
 * translation would put an increment into another space's frame.
 *
 * Cost at K = 64, R = 8: 4 zeroed pages per space (2,048 rep stos
 * iterations) and about 30 ring-0 instructions per visit.
 */
#include "bench.h"

#define PAGES 4
#define START(s, p) (((uint32_t)(s) << 16) + ((uint32_t)(p) << 12))

static void visit(uint64_t *root)
{
	paging_set_root(root);
	for (unsigned p = 0; p < PAGES; p++)
		(*(volatile uint32_t *)(uintptr_t)(REGION(1) + p * PAGE_SIZE))++;
}

uint32_t work_cr3(const struct bench_args *a)
{
	struct bench b;
	uint64_t k = a->a, r = a->b;
	uint64_t *base, **roots, frames;

	bench_begin(&b, "cr3");
	mem_init(b.name);
	frames = mem_data(k * PAGES * PAGE_SIZE, PAGE_SIZE);
	base = base_space();
	roots = mem_tables((k * sizeof(*roots) + PAGE_SIZE - 1) / PAGE_SIZE);
	for (uint64_t s = 0; s < k; s++) {
		roots[s] = pt4_root();
		roots[s][0] = base[0];
		pt4_map4k(roots[s], REGION(1), frames + s * PAGES * PAGE_SIZE, PAGES, LEAF_FLAGS);
		for (unsigned p = 0; p < PAGES; p++)
			*(volatile uint32_t *)(uintptr_t)(frames + (s * PAGES + p) * PAGE_SIZE) =
				START(s, p);
	}

	for (uint64_t s = 0; s < k; s++)
		visit(roots[s]);
	phase_start(&b);
	for (uint64_t i = 0; i < r; i++)
		for (uint64_t s = 0; s < k; s++)
			visit(roots[s]);
	phase_stop(&b, "switch", k * r);
	paging_set_root(base);

	for (uint64_t s = 0; s < k; s++) {
		for (unsigned p = 0; p < PAGES; p++) {
			uint32_t v = *(volatile uint32_t *)(uintptr_t)(frames + (s * PAGES + p) * PAGE_SIZE);
			uint32_t want = START(s, p) + (uint32_t)r + 1;

			if (v == want)
				check_pass(&b.tally);
			else
				check_fail(&b.tally, "address space %llu page %u holds %#x, expected %#x",
					   (unsigned long long)s, p, v, want);
		}
	}
	check(&b.tally, pf_count == 0, "%llu page faults", (unsigned long long)pf_count);
	return bench_end(&b);
}
