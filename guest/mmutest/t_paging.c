/*
 * t_paging.c: cases paging32, pagingpae, paging64 (and the 1 GiB part of
 * gbpages64).  Plain translation in one paging mode, entered from nonpaging
 * (the 64-bit half: from its boot tables) and left again:
 *   1. 4 KiB pages: eight consecutive VAs mapped to eight frames in reverse
 *      order, and a ninth VA aliasing the first frame.  A value written
 *      through the VA must appear in the right frame (read through the
 *      identity map), and the other way round.
 *   2. every large page size of the mode (4 MiB, 2 MiB, 1 GiB): VA = page
 *      base + offset must reach physical = frame base + offset, checked at
 *      several offsets both ways.  2/4 MiB pages map a region taken from the
 *      pool; the 1 GiB page maps physical 0, so only pool frames inside it
 *      are written.
 */
#include "mmutest.h"

#define NPAGES 8

/* Faults are caught (read_u32/write_u32) and fail the case, not the run. */
static void check_word(struct tally *t, const char *what, uint64_t va, uint64_t pa,
		       uint32_t value)
{
	uint32_t via_va, via_pa;

	/* VA -> PA */
	if (!write_u32(t, va, value, what))
		return;
	via_pa = *frame_word(pa, 0);
	/* PA -> VA */
	*frame_word(pa, 0) = ~value;
	if (!read_u32(t, va, &via_va, what))
		return;
	check(t, via_pa == value && via_va == ~value,
	      "%s: wrote %#x through the VA, frame has %#x; wrote %#x to the frame, VA reads %#x",
	      what, value, via_pa, ~value, via_va);
}

static void test_4k(struct tally *t, struct ctx *c)
{
	uint64_t va = pt_slot_va(c->m, 0), frames[NPAGES];
	char what[64];
	uint32_t v;

	for (unsigned i = 0; i < NPAGES; i++)
		frames[i] = (uintptr_t)page_alloc();
	for (unsigned i = 0; i < NPAGES; i++)
		pt_map(c->m, c->root, va + i * PAGE_SIZE, frames[NPAGES - 1 - i], 1,
		       PTE_P | PTE_W);
	pt_map(c->m, c->root, va + NPAGES * PAGE_SIZE, frames[NPAGES - 1], 1, PTE_P | PTE_W);

	for (unsigned i = 0; i < NPAGES; i++) {
		snprintf(what, sizeof(what), "4K page %u", i);
		check_word(t, what, va + i * PAGE_SIZE + 4 * i, frames[NPAGES - 1 - i] + 4 * i,
			   0x4b000000u + i);
	}
	/* The alias: write through one VA, read through the other. */
	check_word(t, "4K alias", va + NPAGES * PAGE_SIZE + 0x40, frames[NPAGES - 1] + 0x40,
		   0x0a11a5ed);
	*frame_word(frames[NPAGES - 1], 0x44) = 0x0a11a5ee;
	if (read_u32(t, va + 0x44, &v, "4K alias"))
		check(t, v == 0x0a11a5ee, "4K alias: the other VA reads %#x, expected %#x", v,
		      0x0a11a5ee);
}

static void test_large(struct tally *t, struct ctx *c, unsigned level, unsigned slot)
{
	uint64_t size = pg_size(c->m, level), va = pt_slot_va(c->m, slot), base, offs[4];
	const char *name = page_size_name(c->m, level);
	char what[64];

	if (size <= 4ull << 20) {
		/* A whole large frame of our own: any offset may be written. */
		base = region_alloc(size, size);
		offs[0] = 0;
		offs[1] = PAGE_SIZE + 0x10;
		offs[2] = size / 2 + 0x124;
		offs[3] = size - 4;
	} else {
		/* 1 GiB from physical 0: write only into pool frames. */
		base = 0;
		for (unsigned i = 0; i < 4; i++)
			offs[i] = (uintptr_t)page_alloc() + 0x20 * i;
	}
	pt_map(c->m, c->root, va, base, level, PTE_P | PTE_W);
	for (unsigned i = 0; i < 4; i++) {
		snprintf(what, sizeof(what), "%s page, word %u", name, i);
		check_word(t, what, va + offs[i], base + offs[i], 0x1a000000u + i);
	}
}

void test_paging(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	struct ctx c;
	unsigned slot = 1;

	if (!ctx_enter(&c, t, m))
		return;
	if (leaf_wanted(m, leaves, 1))
		test_4k(t, &c);
	for (unsigned level = 2; level <= m->levels; level++)
		if (leaf_wanted(m, leaves, level))
			test_large(t, &c, level, slot++);
	ctx_leave(&c);
}
