/*
 * paging.c: the page-table builders (see paging.h).  One walker for the
 * three formats; the only special case is PAE's PDPT, whose entries may hold
 * nothing but P and an address.
 */
#include "alloc.h"
#include "paging.h"

const struct pgmode pgmode_2level = {
	.name = "2-level", .levels = 2, .entry_bytes = 4,
	.shift = { 0, 12, 22 }, .index_bits = { 0, 10, 10 },
	.large = 1 << 2, .nx = false, .pae_pdpt = false,
	.addr_mask = 0xfffff000ull,
	.test_base = 0x80000000ull, .slot_level = 2,  /* slot n: PDE 512 + n */
};

const struct pgmode pgmode_pae = {
	.name = "PAE", .levels = 3, .entry_bytes = 8,
	.shift = { 0, 12, 21, 30 }, .index_bits = { 0, 9, 9, 2 },
	.large = 1 << 2, .nx = true, .pae_pdpt = true,
	.addr_mask = 0x000ffffffffff000ull,
	.test_base = 0x80000000ull, .slot_level = 2,  /* slot n: PDPTE 2 + n/512, PDE n%512 */
};

const struct pgmode pgmode_4level = {
	.name = "4-level", .levels = 4, .entry_bytes = 8,
	.shift = { 0, 12, 21, 30, 39 }, .index_bits = { 0, 9, 9, 9, 9 },
	.large = (1 << 2) | (1 << 3), .nx = true, .pae_pdpt = false,
	.addr_mask = 0x000ffffffffff000ull,
	.test_base = 1ull << 39, .slot_level = 4,     /* slot n: PML4E 1 + n (never 511) */
};

const char *pt_level_name(const struct pgmode *m, unsigned level)
{
	static const char *const names[] = { "?", "PTE", "PDE", "PDPTE", "PML4E" };

	return level <= m->levels ? names[level] : "?";
}

static unsigned pt_index(const struct pgmode *m, uint64_t va, unsigned level)
{
	return (unsigned)(va >> m->shift[level]) & ((1u << m->index_bits[level]) - 1);
}

/* The flags of an entry that points to a table of the level below. */
static uint64_t pt_table_flags(const struct pgmode *m, unsigned level)
{
	if (m->pae_pdpt && level == m->levels)
		return PTE_P;
	return PTE_P | PTE_W | PTE_U | PTE_A;
}

void *pt_alloc_root(const struct pgmode *m)
{
	void *root = page_alloc();

	if (m->pae_pdpt)
		for (unsigned i = 0; i < 4; i++)
			pte_set(m, (uint8_t *)root + 8 * i,
				(uintptr_t)page_alloc() | pt_table_flags(m, m->levels));
	return root;
}

void *pt_walk(const struct pgmode *m, void *root, uint64_t va, unsigned level, bool create)
{
	uint8_t *table = root;

	for (unsigned l = m->levels;; l--) {
		void *entry = table + pt_index(m, va, l) * m->entry_bytes;
		uint64_t v;

		if (l == level)
			return entry;
		v = pte_get(m, entry);
		if (!(v & PTE_P)) {
			if (!create)
				return NULL;
			v = (uintptr_t)page_alloc() | pt_table_flags(m, l);
			pte_set(m, entry, v);
		} else if ((m->large & (1u << l)) && (v & PTE_PS)) {
			return NULL; /* a large page, no table below */
		}
		table = phys_ptr(v & m->addr_mask);
	}
}

void pt_map(const struct pgmode *m, void *root, uint64_t va, uint64_t pa, unsigned level,
	    uint64_t flags)
{
	void *entry = pt_walk(m, root, va, level, true);

	if (!entry)
		panic("pt_map: %#llx is inside a large page", (unsigned long long)va);
	pte_set(m, entry, pa | flags | (level > 1 ? PTE_PS : 0));
}

void pt_map_identity(const struct pgmode *m, void *root, uint64_t end)
{
	uint64_t step = pg_size(m, 2);

	for (uint64_t pa = 0; pa < end; pa += step)
		pt_map(m, root, pa, pa, 2, PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
}

void *pt_new_address_space(const struct pgmode *m)
{
	void *root = pt_alloc_root(m);

	pt_map_identity(m, root, boot.pool_end);
	return root;
}
