/*
 * t_cr3.c: cases cr3switch32, cr3switchpae, cr3switch64.  Several address
 * spaces, switched by writing CR3.  Each maps the same VA (slot 0) to a frame
 * of its own, and a second VA (slot 1) to one frame they all share.  The
 * case visits the spaces in a fixed order three times; in each it must read
 * that space's own value at the private VA and the last value written at the
 * shared VA, then writes both.  At the end the frames, read through the
 * identity map, must hold what was written to them.  (In PAE mode a CR3 write
 * also reloads the four PDPTEs.)
 */
#include "mmutest.h"

#define NSPACES 4
#define ROUNDS  3

void test_cr3switch(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	void *roots[NSPACES];
	uint64_t own[NSPACES], shared = test_frame(0x5aa5ed00);
	uint64_t va = pt_slot_va(m, 0), sva = pt_slot_va(m, 1);
	uint32_t want_shared = 0x5aa5ed00;

	(void)leaves;

	for (unsigned i = 0; i < NSPACES; i++) {
		roots[i] = pt_new_address_space(m);
		own[i] = test_frame(0xa5000000u + i);
		pt_map(m, roots[i], va, own[i], 1, PTE_P | PTE_W);
		pt_map(m, roots[i], sva, shared, 1, PTE_P | PTE_W);
	}

	if (!paging_enter_checked(t, m, roots[0]))
		return;
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned k = 0; k < NSPACES; k++) {
			unsigned i = (k * 3 + r) % NSPACES; /* a different order each round */
			uint32_t want = 0xa5000000u + i + (r << 8); /* written last round */
			uint32_t got, got_shared;

			paging_set_root(roots[i]);
			got = *(volatile uint32_t *)(uintptr_t)(va + DATA_OFF);
			got_shared = *(volatile uint32_t *)(uintptr_t)(sva + DATA_OFF);
			check(t, got == want,
			      "round %u, address space %u: private VA reads %#x, expected %#x", r, i,
			      got, want);
			check(t, got_shared == want_shared,
			      "round %u, address space %u: shared VA reads %#x, expected %#x", r, i,
			      got_shared, want_shared);
			*(volatile uint32_t *)(uintptr_t)(va + DATA_OFF) = 0xa5000000u + i + ((r + 1) << 8);
			want_shared = 0x5aa5ed00 + r * NSPACES + k + 1;
			*(volatile uint32_t *)(uintptr_t)(sva + DATA_OFF) = want_shared;
		}
	}
	paging_leave();

	for (unsigned i = 0; i < NSPACES; i++)
		check(t, *frame_word(own[i], DATA_OFF) == 0xa5000000u + i + (ROUNDS << 8),
		      "frame of address space %u holds %#x, expected %#x", i,
		      *frame_word(own[i], DATA_OFF), 0xa5000000u + i + (ROUNDS << 8));
	check(t, *frame_word(shared, DATA_OFF) == want_shared,
	      "shared frame holds %#x, expected %#x", *frame_word(shared, DATA_OFF), want_shared);
}
