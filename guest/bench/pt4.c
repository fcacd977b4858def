/*
 * pt4.c: the 4-level page tables of the bench workloads (bench.h).  Built
 * before any phase starts, from mem_tables(); leaf tables of a region come
 * in one piece, so a workload reaches PTE i of the region as an array
 * element, the way a kernel reaches its own page tables.
 */
#include "bench.h"

uint64_t *pt4_root(void)
{
	return mem_tables(1);
}

static uint64_t *down(uint64_t *entry)
{
	if (!(*entry & PTE_P))
		*entry = (uintptr_t)mem_tables(1) | TABLE_FLAGS;
	return phys_ptr(*entry & ADDR_MASK);
}

uint64_t *pt4_pde(uint64_t *root, uint64_t va)
{
	uint64_t *pdpt = down(&root[(va >> 39) & 511]);
	uint64_t *pd = down(&pdpt[(va >> 30) & 511]);

	return &pd[(va >> 21) & 511];
}

void pt4_identity(uint64_t *root, uint64_t end)
{
	for (uint64_t pa = 0; pa < end; pa += LARGE_PAGE)
		*pt4_pde(root, pa) = pa | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D | PTE_PS;
}

uint64_t *pt4_map4k(uint64_t *root, uint64_t va, uint64_t pa, uint64_t n, uint64_t flags)
{
	uint64_t npt = (n + 511) / 512;
	uint64_t *pt = mem_tables(npt);

	for (uint64_t j = 0; j < npt; j++)
		*pt4_pde(root, va + j * LARGE_PAGE) = (uintptr_t)(pt + 512 * j) | TABLE_FLAGS;
	if (flags)
		for (uint64_t i = 0; i < n; i++)
			pt[i] = (pa + i * PAGE_SIZE) | flags;
	return pt;
}

uint64_t *base_space(void)
{
	uint64_t *root = pt4_root();

	pt4_identity(root, mem_top());
	paging_set_root(root);
	return root;
}
