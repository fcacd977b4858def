/*
 * t_spaces.c: case spaces64.  Many more address spaces than a shadow MMU
 * keeps shadow pages for (ombra with a small --shadow-pages), so it must
 * recycle them and still translate every space right.
 *
 * NSPACES address spaces, each with a root of its own.  All of them share
 * the root entry of the identity map and the root entry of a second VA
 * (slot 1) whose tables map one shared frame; each has a private chain
 * (PDPT, PD, PT) that maps the same VA (slot 0) to a private frame.  The
 * case visits every space, by writing CR3, ROUNDS + 1 times, in a different
 * order each time (twice in a row in order, the worst case for an LRU pool,
 * then backwards, then strided).  Each visit must read the space's own value
 * at the private VA and the last value written at the shared VA, then
 * writes both.  At the end every frame, read through the identity map, must
 * hold what was written to it last.
 *
 * Cost: four zeroed pages per space (the root and the private chain), about
 * 2,100 ring-0 instructions, most of them rep stos iterations; each visit is
 * a few dozen.  Written for 4-level paging: it copies root entries, which
 * PAE's PDPT would not allow.
 */
#include "mmutest.h"

#define NSPACES 128
#define ROUNDS  3          /* visits after the first */
#define STRIDE  37         /* odd: a permutation of NSPACES = 128 */
#define OWN(i, r)   (0x5a000000u + ((uint32_t)(r) << 16) + (uint32_t)(i))
#define SHARED0     0x5aa50000u

/* Which space visit k of round r goes to. */
static unsigned visit_order(unsigned r, unsigned k)
{
	switch (r) {
	case 0:
	case 1:
		return k;
	case 2:
		return NSPACES - 1 - k;
	default:
		return (k * STRIDE + r) % NSPACES;
	}
}

/* Make dst's root entry for va the same as src's. */
static void share_root_entry(const struct pgmode *m, void *dst, const void *src, uint64_t va)
{
	pte_set(m, pt_walk(m, dst, va, m->levels, false),
		pte_get(m, pt_walk(m, (void *)src, va, m->levels, false)));
}

void test_spaces(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	void *roots[NSPACES];
	uint64_t own[NSPACES];
	uint64_t va = pt_slot_va(m, 0), sva = pt_slot_va(m, 1);
	uint64_t shared = (uintptr_t)page_alloc_dirty();
	void *tmpl = pt_new_address_space(m); /* the identity map, and the shared VA */
	uint32_t want_shared = SHARED0;

	(void)leaves;
	*frame_word(shared, DATA_OFF) = SHARED0;
	pt_map(m, tmpl, sva, shared, 1, PTE_P | PTE_W);
	for (unsigned i = 0; i < NSPACES; i++) {
		roots[i] = pt_alloc_root(m);
		share_root_entry(m, roots[i], tmpl, 0);
		share_root_entry(m, roots[i], tmpl, sva);
		own[i] = (uintptr_t)page_alloc_dirty();
		*frame_word(own[i], DATA_OFF) = OWN(i, 0);
		pt_map(m, roots[i], va, own[i], 1, PTE_P | PTE_W);
	}

	if (!paging_enter_checked(t, m, roots[0]))
		return;
	for (unsigned r = 0; r <= ROUNDS; r++) {
		for (unsigned k = 0; k < NSPACES; k++) {
			unsigned i = visit_order(r, k);
			uint32_t got, got_shared;

			paging_set_root(roots[i]);
			got = *(volatile uint32_t *)(uintptr_t)(va + DATA_OFF);
			got_shared = *(volatile uint32_t *)(uintptr_t)(sva + DATA_OFF);
			if (got == OWN(i, r) && got_shared == want_shared)
				check_pass(t);
			else
				check_fail(t, "round %u, address space %u: private VA reads %#x "
					   "(expected %#x), shared VA reads %#x (expected %#x)",
					   r, i, got, OWN(i, r), got_shared, want_shared);
			*(volatile uint32_t *)(uintptr_t)(va + DATA_OFF) = OWN(i, r + 1);
			want_shared = SHARED0 + r * NSPACES + k + 1;
			*(volatile uint32_t *)(uintptr_t)(sva + DATA_OFF) = want_shared;
		}
	}
	paging_leave();

	for (unsigned i = 0; i < NSPACES; i++)
		check(t, *frame_word(own[i], DATA_OFF) == OWN(i, ROUNDS + 1),
		      "frame of address space %u holds %#x, expected %#x", i,
		      *frame_word(own[i], DATA_OFF), OWN(i, ROUNDS + 1));
	check(t, *frame_word(shared, DATA_OFF) == want_shared,
	      "shared frame holds %#x, expected %#x", *frame_word(shared, DATA_OFF), want_shared);
}
