/*
 * t_spaces.c: case spaces64.  Many more address spaces than a shadow MMU
 * keeps shadow pages for (ombra with a small --shadow-pages), so it must
 * recycle them and still translate every space right.
 *
 * NSPACES address spaces, each with a root of its own.  All of them share
 * the root entry of the identity map and the root entry of slot 1, whose
 * tables map WIDE shared pages 2 MiB apart, each through a page table of its
 * own; each has a private chain (PDPT, PD, PT) that maps the same VA (slot
 * 0) to a private frame.  The case visits every space, by writing CR3,
 * ROUNDS + 1 times, in a different order each time (twice in a row in order,
 * the worst case for an LRU pool, then backwards, then strided).  Each visit
 * must read the space's own value at the private VA and the last value
 * written at the first shared page, then writes both.  Halfway through each
 * round, one visit also reads and rewrites every other shared page: that
 * one address space then uses more page tables than a small pool holds, so
 * a shadow MMU that keeps only a few roots must recycle the current root's
 * own pages too.  At the end every frame, read through the identity map,
 * must hold what was written to it last.
 *
 * Cost: four zeroed pages per space (the root and the private chain), about
 * 2,700 ring-0 instructions, 2,048 of them rep stos iterations; one zeroed
 * page table per shared page; a few dozen per visit and about 1,000 per
 * sweep of the shared pages: about 410,000 in all.  Written for 4-level paging: it
 * copies root entries, which PAE's PDPT would not allow.
 */
#include "mmutest.h"

#define NSPACES 128
#define ROUNDS  3          /* visits after the first */
#define STRIDE  37         /* odd: a permutation of NSPACES = 128 */
#define OWN(i, r)   (0x5a000000u + ((uint32_t)(r) << 16) + (uint32_t)(i))
#define SHARED0     0x5aa50000u
#define WIDE        80     /* shared pages, each with a page table of its own */
#define WIDE_STRIDE (2ull << 20)
#define WIDEVAL(j, r) (0x31de0000u + ((uint32_t)(r) << 8) + (uint32_t)(j))

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

/* From the current space, every shared page but the first: it must hold
 * what the last sweep wrote; write the next value. */
static void sweep(struct tally *t, uint64_t sva, unsigned r, unsigned space)
{
	for (unsigned j = 1; j < WIDE; j++) {
		volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)(sva + j * WIDE_STRIDE + DATA_OFF);
		uint32_t got = *p;

		if (got == WIDEVAL(j, r))
			check_pass(t);
		else
			check_fail(t, "round %u, address space %u: shared page %u reads %#x, "
				   "expected %#x", r, space, j, got, WIDEVAL(j, r));
		*p = WIDEVAL(j, r + 1);
	}
}

void test_spaces(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	void *roots[NSPACES];
	uint64_t own[NSPACES], wide[WIDE];
	uint64_t va = pt_slot_va(m, 0), sva = pt_slot_va(m, 1);
	void *tmpl = pt_new_address_space(m); /* the identity map, and the shared pages */
	uint32_t want_shared = SHARED0;

	(void)leaves;
	for (unsigned j = 0; j < WIDE; j++) {
		wide[j] = (uintptr_t)page_alloc_dirty();
		*frame_word(wide[j], DATA_OFF) = j ? WIDEVAL(j, 0) : SHARED0;
		pt_map(m, tmpl, sva + j * WIDE_STRIDE, wide[j], 1, PTE_P | PTE_W);
	}
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
			if (k == NSPACES / 2)
				sweep(t, sva, r, i);
		}
	}
	paging_leave();

	for (unsigned i = 0; i < NSPACES; i++)
		check(t, *frame_word(own[i], DATA_OFF) == OWN(i, ROUNDS + 1),
		      "frame of address space %u holds %#x, expected %#x", i,
		      *frame_word(own[i], DATA_OFF), OWN(i, ROUNDS + 1));
	check(t, *frame_word(wide[0], DATA_OFF) == want_shared,
	      "shared frame holds %#x, expected %#x", *frame_word(wide[0], DATA_OFF), want_shared);
	for (unsigned j = 1; j < WIDE; j++)
		check(t, *frame_word(wide[j], DATA_OFF) == WIDEVAL(j, ROUNDS + 1),
		      "shared frame %u holds %#x, expected %#x", j, *frame_word(wide[j], DATA_OFF),
		      WIDEVAL(j, ROUNDS + 1));
}
