/*
 * h_cycle.c: case cycle.  Page tables that point at each other and at
 * themselves: a PML4 slot leads to tables A, B and C whose every entry
 * points to one of A, B, C or the PML4 itself, or (one in eight) to a data
 * frame of rets.  A walk through them goes round the cycles four levels
 * deep and lands on a table read as data.  Each access is checked against
 * the reference walk (common.c) and folded into the printed digest.
 */
#include "hostile.h"

#define PROBES 512

void h_cycle(struct tally *t, uint32_t arg)
{
	struct rng r = { 0xc1c1e5c1c1e5ull };
	uint64_t *root, *tab[4], h = DIGEST_INIT, base;
	unsigned faults = 0, done = 0;

	(void)arg;
	t->unit = "accesses";
	ref_init();
	root = space_enter(boot.pool_end);
	cpu_set_nxe(true);
	cpu_set_wp(true);
	/* Fixed addresses (h_randpt.c says why): A, B, C, the data frame. */
	base = region_alloc(2u << 20, 2u << 20);
	tab[0] = root;
	for (unsigned i = 1; i < 4; i++)
		tab[i] = phys_ptr(base + PAGE_SIZE * (i - 1));
	memset(phys_ptr(base + 3 * PAGE_SIZE), 0xc3, PAGE_SIZE);
	for (unsigned i = 1; i < 4; i++)
		for (unsigned j = 0; j < 512; j++) {
			uint64_t to = rng_below(&r, 8) ? (uintptr_t)tab[rng_below(&r, 4)]
						       : base + 3 * PAGE_SIZE;

			tab[i][j] = to | PTE_P | PTE_A | PTE_D | (rng_next(&r) & (PTE_W | PTE_U | PTE_NX));
		}
	/* The cycle's way in; root is not in the fixed region, so root's own
	 * entries are read only as the walk's tables, never as data. */
	for (unsigned i = 1; i < 4; i++)
		for (unsigned j = 0; j < 512; j++)
			if ((tab[i][j] & 0x000ffffffffff000ull) == (uintptr_t)root)
				tab[i][j] = (tab[i][j] & ~0x000ffffffffff000ull) | (uintptr_t)tab[1 + j % 3];
	root[1] = (uintptr_t)tab[1] | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
	root[2] = (uintptr_t)tab[2] | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
	paging_set_root(root);
	for (unsigned p = 0; p < PROBES; p++) {
		uint64_t va = pt_slot_va(pm, rng_below(&r, 2)) | ((uint64_t)rng_below(&r, 512) << 30) |
			      ((uint64_t)rng_below(&r, 512) << 21) | ((uint64_t)rng_below(&r, 512) << 12) |
			      ((uint64_t)rng_below(&r, 1024) << 2);

		probe_all(t, (uintptr_t)root, va, &h, &faults, &done);
	}
	printf("cycle: %u accesses, %u faulted, digest %#llx\n", done, faults, (unsigned long long)h);
	root[1] = root[2] = 0;
	cpu_set_wp(false);
	cpu_set_nxe(false);
	paging_leave();
}
