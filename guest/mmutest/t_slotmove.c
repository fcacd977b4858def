/*
 * t_slotmove.c: cases slotmove (paging off) and slotmove64 (4-level paging).
 * Guest RAM that changes place under the guest.  The ombra test device
 * (ombra_test.h) moves the memslot that holds a guest-physical address to a
 * new host mapping, copying it; in shadow mode every shadow entry of its
 * frames is zapped.  The guest must not notice: every word must read what
 * was last written to it, through translations made again from the new
 * mapping, and writes made after a move must land there too.
 *
 * A buffer of NPAGES pages from the pool, reached with paging off through
 * its physical address, or in slotmove64 through a VA that maps it with
 * 4 KiB pages, is filled with a pattern (every page touched, so the shadow
 * entries exist), moved, read back word by word, filled with a second
 * pattern, moved again and read back again.  slotmove64 then also reads a
 * few words of each page through the identity map (2 MiB pages).
 *
 * Under QEMU, or a VMM without the device, the port write is ignored and the
 * case checks plain memory: what it prints never depends on whether the
 * move happened.  Words are the register width (4 or 8 bytes), so each
 * pass is one access per word; the loops are unrolled because every ring-0
 * instruction may be emulated: about 230,000 instructions with paging off
 * (4-byte words), 125,000 in slotmove64.
 */
#include "mmutest.h"
#include "ombra_test.h"

#define NPAGES 16
#define WORD_BYTES sizeof(unsigned long)
#define PAGE_WORDS (PAGE_SIZE / WORD_BYTES)
#define NWORDS (NPAGES * PAGE_WORDS)

/* Consecutive words differ by STEP (odd, so no two words of the buffer
 * match); the two passes start from different seeds. */
#define STEP ((unsigned long)0x9e3779b97f4a7c15ull)
static const unsigned long seeds[2] = {
	(unsigned long)0x5107c0de0badf00dull,
	(unsigned long)0xa5e1d0c4c0ffee01ull,
};

/* STEP in a register, so that the unrolled loops add it rather than load a
 * different 64-bit constant for each word. */
static unsigned long step_reg(void)
{
	unsigned long step = STEP;

	__asm__("" : "+r"(step));
	return step;
}

static void fill(volatile unsigned long *w, unsigned long v)
{
	unsigned long step = step_reg();

#pragma GCC unroll 8
	for (size_t i = 0; i < NWORDS; i++) {
		w[i] = v;
		v += step;
	}
}

/* Does page w hold v, v + step, ...?  Only a yes or no, so the unrolled
 * loop is a compare and a branch per word. */
static inline bool page_ok(volatile unsigned long *w, unsigned long v, unsigned long step)
{
#pragma GCC unroll 8
	for (unsigned i = 0; i < PAGE_WORDS; i++) {
		if (w[i] != v)
			return false;
		v += step;
	}
	return true;
}

/* Read back every word; one check per page, naming its first wrong word. */
static void verify(struct tally *t, volatile unsigned long *w, unsigned long v,
		   const char *when)
{
	unsigned long step = step_reg();

	for (unsigned p = 0; p < NPAGES; p++, w += PAGE_WORDS, v += PAGE_WORDS * step) {
		unsigned long got = 0, want = 0, x = v;
		unsigned first = 0, bad = 0;

		if (page_ok(w, v, step)) {
			check_pass(t);
			continue;
		}
		for (unsigned i = 0; i < PAGE_WORDS; i++, x += step) {
			unsigned long y = w[i];

			if (y != x && bad++ == 0) {
				first = i;
				got = y;
				want = x;
			}
		}
		check_fail(t, "%s: page %u, word at +%#x reads %#lx, expected %#lx "
			   "(%u wrong words in the page)", when, p,
			   first * (unsigned)WORD_BYTES, got, want, bad);
	}
}

/* A few words of each page, read through the identity map. */
static void verify_phys(struct tally *t, uint64_t pa, unsigned long v0, const char *when)
{
	static const unsigned offs[] = { 0, 8, PAGE_WORDS / 2 + 1, PAGE_WORDS - 1 };

	for (unsigned p = 0; p < NPAGES; p++) {
		for (unsigned k = 0; k < ARRAY_SIZE(offs); k++) {
			size_t i = p * PAGE_WORDS + offs[k];
			unsigned long want = v0 + i * STEP;
			unsigned long got = *(volatile unsigned long *)phys_ptr(pa + i * WORD_BYTES);

			check(t, got == want,
			      "%s: page %u, word at +%#x reads %#lx through the identity map, "
			      "expected %#lx", when, p, offs[k] * (unsigned)WORD_BYTES, got, want);
		}
	}
}

void test_slotmove(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	uint64_t pa = region_alloc(NPAGES * PAGE_SIZE, PAGE_SIZE);
	volatile unsigned long *w = phys_ptr(pa);
	void *root = NULL;

	(void)leaves;
	if (m) {
		uint64_t va = pt_slot_va(m, 0);

		root = pt_new_address_space(m);
		for (unsigned p = 0; p < NPAGES; p++)
			pt_map(m, root, va + p * PAGE_SIZE, pa + p * PAGE_SIZE, 1, PTE_P | PTE_W);
		if (!paging_enter_checked(t, m, root))
			return;
		w = (volatile unsigned long *)(uintptr_t)va;
	} else {
		check(t, !(read_cr0() & CR0_PG), "CR0.PG is set at the start of the case");
	}

	fill(w, seeds[0]);
	OMBRA_TEST_MOVE_SLOT(pa);
	verify(t, w, seeds[0], "after the first move");

	fill(w, seeds[1]);
	OMBRA_TEST_MOVE_SLOT(pa);
	verify(t, w, seeds[1], "after the second move");

	/* One page of the buffer gets fresh host memory under the guest. */
	OMBRA_TEST_REMAP_PAGE(pa + 5 * PAGE_SIZE);
	verify(t, w, seeds[1], "after a page was remapped");

	if (m) {
		verify_phys(t, pa, seeds[1], "after the second move");
		paging_leave();
	}
}
