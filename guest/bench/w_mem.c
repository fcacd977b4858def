/*
 * w_mem.c: workloads nonpaging and paging share this work: write a pattern
 * word every 64 bytes over [start, start + size), then read every one back.
 * One phase, "work", both passes; iterations = size / 64 (each position is
 * written once and read once).  The pattern is the word's own address
 * mixed with a seed, so a wrong translation (two addresses reaching the
 * same frame, or a frame of someone else) reads back wrong.
 *
 * nonpaging runs it in the 32-bit half with paging off (main32.c); paging
 * in the 64-bit half through a 4-level identity map with 4 KiB pages over
 * the same physical range (w_paging.c).  The same C code compiled for each
 * half: about six instructions per position and pass.
 */
#include "bench.h"

#define SEED 0x6d3a5c17u
#define STRIDE 64

void mem_work(struct bench *b, uintptr_t start, uintptr_t size)
{
	uintptr_t end = start + size;
	uint32_t bad = 0;

	phase_start(b);
	for (uintptr_t p = start; p < end; p += STRIDE)
		*(volatile uint32_t *)p = (uint32_t)p ^ SEED;
	for (uintptr_t p = start; p < end; p += STRIDE)
		bad |= *(volatile uint32_t *)p ^ (uint32_t)p ^ SEED;
	phase_stop(b, "work", size / STRIDE);

	if (bad == 0) {
		check_pass(&b->tally);
		return;
	}
	/* Find the first wrong word (outside the timed phase). */
	for (uintptr_t p = start; p < end; p += STRIDE) {
		uint32_t v = *(volatile uint32_t *)p;

		if (v != ((uint32_t)p ^ SEED)) {
			check_fail(&b->tally, "the word at %#llx reads %#x, %#x was written",
				   (unsigned long long)p, v, (uint32_t)p ^ SEED);
			return;
		}
	}
	check_fail(&b->tally, "a word read back wrong once, then right");
}

#ifdef __x86_64__
/* paging: the same range as nonpaging (the first data allocation, at the top
 * of RAM), reached through 4-level paging, 4 KiB pages, VA = PA. */
uint32_t work_paging(const struct bench_args *a)
{
	struct bench b;
	uint64_t size = a->a, span = (size + LARGE_PAGE - 1) & ~(LARGE_PAGE - 1);
	uint64_t region, *root;

	bench_begin(&b, "paging");
	mem_init(b.name);
	region = mem_data(span, LARGE_PAGE);
	root = pt4_root();
	pt4_identity(root, region);
	pt4_map4k(root, region, region, span / PAGE_SIZE, LEAF_FLAGS);
	paging_set_root(root);
	mem_work(&b, (uintptr_t)region, (uintptr_t)size);
	return bench_end(&b);
}
#else
/* nonpaging: paging is off in the 32-bit half; the address is the PA. */
uint32_t work_nonpaging(const struct bench_args *a)
{
	struct bench b;
	uint64_t size = a->a, span = (size + LARGE_PAGE - 1) & ~(LARGE_PAGE - 1);
	uint64_t region;

	bench_begin(&b, "nonpaging");
	mem_init(b.name);
	region = mem_data(span, LARGE_PAGE);
	check(&b.tally, !(read_cr0() & CR0_PG), "paging is on");
	mem_work(&b, (uintptr_t)region, (uintptr_t)size);
	return bench_end(&b);
}
#endif
