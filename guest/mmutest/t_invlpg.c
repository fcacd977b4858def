/*
 * t_invlpg.c: cases invlpg32, invlpgpae, invlpg64 (and the 1 GiB part of
 * gbpages64).  After a live entry is changed and the VA flushed with INVLPG,
 * the next access must use the new translation.  (Whether the old one is
 * still used before the flush is undefined on x86, so it is never tested.)
 * The changes, each followed by INVLPG and a read that must see the new
 * frame's value:
 *   4 KiB pages:
 *   - a PTE pointed at another frame;
 *   - a PDE pointed at another page table;
 *   - each higher entry the CPU walks per access (PDPTE, PML4E in 4-level;
 *     PAE's PDPTEs are only read at CR3 load) pointed at a new subtree;
 *   large pages:
 *   - a PDE turned from a table into a large page, then moved to another
 *     large frame;
 *   1 GiB pages:
 *   - a PDPTE turned from a table into a 1 GiB page, then back into a table.
 */
#include "mmutest.h"

static void read_check(struct tally *t, uint64_t va, uint32_t want, const char *what)
{
	uint32_t got;

	if (read_u32(t, va, &got, what))
		check(t, got == want, "after %s and INVLPG: read %#x, expected %#x", what, got,
		      want);
}

static void invlpg_4k(struct tally *t, struct ctx *c)
{
	const struct pgmode *m = c->m;
	uint64_t va = pt_slot_va(m, 0);
	unsigned top = m->pae_pdpt ? m->levels - 1 : m->levels;
	void *pte, *pde, *entry;
	char what[48];

	/* PTE: frame 1, then frame 2. */
	pt_map(m, c->root, va, test_frame(0x11111111), 1, PTE_P | PTE_W);
	read_check(t, va + DATA_OFF, 0x11111111, "mapping the page");
	pte = pt_walk(m, c->root, va, 1, false);
	pte_set(m, pte, test_frame(0x22222222) | PTE_P | PTE_W);
	invlpg(va);
	read_check(t, va + DATA_OFF, 0x22222222, "changing the PTE");

	/* PDE: a new page table. */
	pde = pt_walk(m, c->root, va, 2, false);
	pte_set(m, pde, subtree_build(m, va, 2, test_frame(0x33333333)));
	invlpg(va);
	read_check(t, va + DATA_OFF, 0x33333333, "changing the PDE");

	/* Higher levels the walk reads on every access. */
	for (unsigned level = 3; level <= top; level++) {
		entry = pt_walk(m, c->root, va, level, false);
		pte_set(m, entry, subtree_build(m, va, level, test_frame(0x44444444 + level)));
		invlpg(va);
		snprintf(what, sizeof(what), "changing the %s", pt_level_name(m, level));
		read_check(t, va + DATA_OFF, 0x44444444 + level, what);
	}
}

static void invlpg_large(struct tally *t, struct ctx *c)
{
	const struct pgmode *m = c->m;
	uint64_t size = pg_size(m, 2), va = pt_slot_va(m, 1), off = size / 2 + 0x88;
	uint64_t r1 = region_alloc(size, size), r2 = region_alloc(size, size);
	void *pde;

	*frame_word(r1, off) = 0x55555555;
	*frame_word(r2, off) = 0x66666666;
	pt_map(m, c->root, va, test_frame(0x77777777), 1, PTE_P | PTE_W);
	read_check(t, va + DATA_OFF, 0x77777777, "mapping the page");
	pde = pt_walk(m, c->root, va, 2, false);
	pte_set(m, pde, r1 | PTE_P | PTE_W | PTE_PS);
	invlpg(va);
	invlpg(va + off);
	read_check(t, va + off, 0x55555555, "turning the PDE into a large page");
	pte_set(m, pde, r2 | PTE_P | PTE_W | PTE_PS);
	invlpg(va + off);
	read_check(t, va + off, 0x66666666, "moving the large page");
}

static void invlpg_1g(struct tally *t, struct ctx *c)
{
	const struct pgmode *m = c->m;
	uint64_t frame = test_frame(0x88888888), va = pt_slot_va(m, 2);
	void *pdpte;

	pt_map(m, c->root, va, test_frame(0x99999999), 1, PTE_P | PTE_W);
	read_check(t, va + DATA_OFF, 0x99999999, "mapping the page");
	pdpte = pt_walk(m, c->root, va, 3, false);
	pte_set(m, pdpte, 0 | PTE_P | PTE_W | PTE_PS); /* 1 GiB page over physical 0 */
	invlpg(va);
	invlpg(va + frame);
	read_check(t, va + frame + DATA_OFF, 0x88888888, "turning the PDPTE into a 1G page");
	pte_set(m, pdpte, subtree_build(m, va, 3, test_frame(0xaaaaaaaa)));
	invlpg(va + frame);
	invlpg(va);
	read_check(t, va + DATA_OFF, 0xaaaaaaaa, "turning the 1G PDPTE into a table");
}

void test_invlpg(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	struct ctx c;

	if (!ctx_enter(&c, t, m))
		return;
	if (leaf_wanted(m, leaves, 1))
		invlpg_4k(t, &c);
	if (leaf_wanted(m, leaves, 2))
		invlpg_large(t, &c);
	if (leaf_wanted(m, leaves, 3))
		invlpg_1g(t, &c);
	ctx_leave(&c);
}
