/*
 * t_demand.c: cases demand32, demandpae, demand64.  Demand paging done by
 * the guest itself: a region starts with nothing mapped; the guest's own #PF
 * hook allocates a frame on the first touch of each page, fills in a pattern
 * that depends on the VA, maps it (creating the missing tables at every
 * level) and lets the access retry.
 *
 * The pages are chosen so that the faults need new tables at every level the
 * mode can grow on demand: 16 neighbouring pages (one page table), then 16
 * pages one level-2 page apart (a new page table each), and in 4-level mode
 * 16 pages 1 GiB apart (new PD + PT) and 16 pages 512 GiB apart (new PDPT +
 * PD + PT).  PAE's PDPTEs are fixed at CR3 load, so PAE grows two levels.
 * Even pages are first touched by a read, odd ones by a write.  Each fault
 * must have the expected CR2 and error code; each page must then read back
 * its pattern; a second pass must fault no more.  The case prints how many
 * faults its handler fixed: a guest fault count, the same under every VMM
 * (hidden faults of a shadow MMU never reach the guest).
 */
#include "mmutest.h"

#define PER_GROUP 16

static struct {
	const struct pgmode *m;
	void *root;
	uint64_t lo, hi;        /* the demand region */
	unsigned faults;        /* faults the hook fixed */
	uint64_t expect_cr2;    /* the access being made */
	uint32_t expect_error;
	unsigned wrong;         /* faults with an unexpected CR2 or error code */
	uint64_t wrong_cr2;     /* the first of them */
	uint32_t wrong_error;
} demand;

static uint32_t pattern(uint64_t page)
{
	return (uint32_t)(page >> 12) * 0x9e3779b1u + (uint32_t)(page >> 32) + 0x5a5a;
}

static enum pf_outcome demand_fault(uint64_t cr2, uint32_t error)
{
	uint64_t page = cr2 & ~(uint64_t)(PAGE_SIZE - 1), frame;

	if (cr2 < demand.lo || cr2 >= demand.hi || (error & PFERR_P))
		return PF_NOT_MINE;
	if (cr2 != demand.expect_cr2 || error != demand.expect_error) {
		if (demand.wrong++ == 0) {
			demand.wrong_cr2 = cr2 - demand.lo;
			demand.wrong_error = error;
		}
	}
	frame = (uintptr_t)page_alloc_dirty();
	*frame_word(frame, 0) = pattern(page);
	*frame_word(frame, 8) = 0;
	*frame_word(frame, PAGE_SIZE - 4) = ~pattern(page);
	pt_map(demand.m, demand.root, page, frame, 1, PTE_P | PTE_W);
	demand.faults++;
	return PF_FIXED;
}

static uint64_t demand_page(const struct pgmode *m, unsigned i)
{
	unsigned group = i / PER_GROUP, j = i % PER_GROUP;

	if (group == 0)
		return demand.lo + (uint64_t)j * PAGE_SIZE;
	return demand.lo + (uint64_t)(j + 1) * pg_size(m, group + 1);
}

static inline uint32_t rd(uint64_t va)
{
	uint32_t v = *(volatile uint32_t *)(uintptr_t)va;

	barrier(); /* the #PF hook may have changed demand.* */
	return v;
}

void test_demand(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	struct ctx c;
	unsigned groups = m->pae_pdpt ? m->levels - 1 : m->levels, n = groups * PER_GROUP;

	(void)leaves;
	if (!ctx_enter(&c, t, m))
		return;
	demand = (typeof(demand)){ .m = m, .root = c.root };
	/* 2-level: slot 64 (0x90000000); PAE: slot 512 (0xc0000000, PDPTE 3); 4-level: PML4E 9. */
	demand.lo = pt_slot_va(m, m->slot_level == 4 ? 8 : m->pae_pdpt ? 512 : 64);
	demand.hi = demand_page(m, n - 1) + PAGE_SIZE;
	trap_set_pf_hook(demand_fault);

	for (unsigned i = 0; i < n; i++) {
		uint64_t va = demand_page(m, i);
		uint32_t v0, v8, vend;

		demand.expect_cr2 = i % 2 ? va + 8 : va;
		demand.expect_error = i % 2 ? PFERR_W : 0;
		barrier(); /* the #PF hook reads these */
		if (i % 2)
			*(volatile uint32_t *)(uintptr_t)(va + 8) = 0xde000000u + i;
		v0 = rd(va);
		v8 = rd(va + 8);
		vend = rd(va + PAGE_SIZE - 4);
		check(t, v0 == pattern(va) && vend == ~pattern(va) &&
			 v8 == (i % 2 ? 0xde000000u + i : 0),
		      "page %u: read %#x %#x %#x, expected %#x %#x %#x", i, v0, v8, vend,
		      pattern(va), i % 2 ? 0xde000000u + i : 0, ~pattern(va));
	}
	check(t, demand.faults == n, "%u faults for %u pages", demand.faults, n);

	/* Everything is mapped now: no more faults. */
	demand.expect_cr2 = ~0ull;
	barrier();
	for (unsigned i = 0; i < n; i++) {
		uint64_t va = demand_page(m, i);

		check(t, rd(va) == pattern(va), "page %u changed on the second pass", i);
	}
	check(t, demand.faults == n, "the second pass faulted %u times", demand.faults - n);
	check(t, demand.wrong == 0,
	      "%u faults were not the access being made; first: CR2 region+%#llx err %#x",
	      demand.wrong, (unsigned long long)demand.wrong_cr2, demand.wrong_error);

	trap_set_pf_hook(NULL);
	ctx_leave(&c);
	printf("%s: %u faults handled by the guest\n", t->name, demand.faults);
}
