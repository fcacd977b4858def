/*
 * w_ptwrite.c: workload ptwrite.  Fork, copy-on-write and exit, the way a
 * kernel does them, done T times over: page-table writes to live tables,
 * write-protect faults the guest handles itself, and tables torn down.
 *
 * The parent's address space maps M pages at REGION(1) through one subtree
 * (PDPT, PD, page tables), every page written once before the phases.  T
 * children, each with a root, a PDPT, a PD and page tables of its own
 * (allocated, zeroed, before the phases: what is timed is filling them):
 *
 *   copy      for each child: share the identity map's root entry, link its
 *             PDPT, PD and page tables, copy the parent's M leaf PTEs into
 *             its page tables read-only, clearing W in the parent's PTE as
 *             well when it is set (the first fork write-protects the
 *             parent), then reload CR3 (the parent's TLB); iterations = T*M
 *             PTEs copied;
 *   cow       for each child: MOV to CR3, then one write to each of its M
 *             pages.  Each raises #PF (present, write; CR0.WP is on) and the
 *             guest's handler copies the page: takes a frame, copies 4 KiB
 *             (rep movsq), points the child's PTE at it, writable, young
 *             and dirty as Linux makes it (FAULT_FLAGS), INVLPG.
 *             Back to the parent at the end.  iterations = T*M, faults = T*M;
 *   teardown  for each child, as an exit does: clear its M PTEs, its PDEs,
 *             its PDPTE and its root's two entries, one store each; then
 *             give the parent its W bits back (it is the only user of its
 *             frames again) and reload CR3.  iterations = T*M.
 *
 * Checks: each child's copy holds the parent's words plus the child's write;
 * the parent's frames hold what the parent wrote (a child's write must
 * never reach them); the faults were exactly the T*M writes, each present
 * and a write; after the teardown the child tables are empty and the parent
 * writes its pages again without a fault.
 *
 * Cost at M = 256, T = 4: about 12,000 rep stos iterations zeroing tables
 * before the phases, a few ring-0 instructions per PTE copied or cleared,
 * and per copied page about 600 (512 of them rep movsq iterations) plus
 * one exception: about 650,000 in all.
 */
#include "bench.h"

#define PAT(i)      (0x7a000000u + (uint32_t)(i) * 0x9e3779b1u)
#define PARENT(i)   (0x9a000000u ^ (uint32_t)(i) * 0x85ebca6bu)
#define CHILD(c, i) (0xc0000000u + ((uint32_t)(c) << 20) + (uint32_t)(i))
#define PARENT2(i)  (0x2a000000u + (uint32_t)(i))
/* Word offsets in a page: the pattern, the parent's word (the child writes
 * its own there), and a word the parent writes after the teardown. */
#define OFF_PAT    0
#define OFF_WRITE  8
#define OFF_AFTER  16

struct child {
	uint64_t *root, *pdpt, *pd, *pt; /* its tables (pt: M entries in one piece) */
	uint64_t frames;                 /* M frames for its copies */
};

static struct {
	struct child *children;
	uint64_t va, m;
	unsigned cur;                    /* the child running */
	uint64_t copies, wrong, wrong_cr2;
	uint32_t wrong_error;
} cw;

static enum pf_outcome cow_pf(uint64_t cr2, uint32_t error)
{
	struct child *c = &cw.children[cw.cur];
	uint64_t i = (cr2 - cw.va) >> 12, dst;
	uintptr_t d, s, n = PAGE_SIZE / 8;

	if (cr2 < cw.va || i >= cw.m)
		return PF_NOT_MINE;
	if (error != (PFERR_P | PFERR_W)) {
		if (cw.wrong++ == 0) {
			cw.wrong_cr2 = cr2;
			cw.wrong_error = error;
		}
		if (!(error & PFERR_P))
			return PF_NOT_MINE;
	}
	dst = c->frames + i * PAGE_SIZE;
	d = (uintptr_t)dst;
	s = (uintptr_t)(c->pt[i] & ADDR_MASK);
	__asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	c->pt[i] = dst | FAULT_FLAGS;
	invlpg(cr2);
	cw.copies++;
	return PF_FIXED;
}

uint32_t work_ptwrite(const struct bench_args *a)
{
	struct bench b;
	uint64_t m = a->a, t = a->b, va = REGION(1);
	uint64_t npt = (m + 511) / 512, pframes, *parent, *ppt;
	struct child *ch;
	uint64_t faults_before;

	bench_begin(&b, "ptwrite");
	mem_init(b.name);
	pframes = mem_data(m * PAGE_SIZE, LARGE_PAGE);
	ch = mem_tables((t * sizeof(*ch) + PAGE_SIZE - 1) / PAGE_SIZE);
	for (uint64_t c = 0; c < t; c++)
		ch[c].frames = mem_data(m * PAGE_SIZE, LARGE_PAGE);
	parent = base_space();
	ppt = pt4_map4k(parent, va, pframes, m, LEAF_FLAGS);
	for (uint64_t c = 0; c < t; c++) {
		ch[c].root = pt4_root();
		ch[c].pdpt = mem_tables(1);
		ch[c].pd = mem_tables(1);
		ch[c].pt = mem_tables(npt);
	}
	cw = (typeof(cw)){ .children = ch, .va = va, .m = m };
	paging_set_root(parent);
	cpu_set_wp(true);
	for (uint64_t i = 0; i < m; i++) {
		*word(va + i * PAGE_SIZE + OFF_PAT) = PAT(i);
		*word(va + i * PAGE_SIZE + OFF_WRITE) = PARENT(i);
	}

	phase_start(&b);
	for (uint64_t c = 0; c < t; c++) {
		volatile uint64_t *cpt = ch[c].pt, *vppt = ppt;

		ch[c].root[0] = parent[0];
		ch[c].root[(va >> 39) & 511] = (uintptr_t)ch[c].pdpt | TABLE_FLAGS;
		ch[c].pdpt[(va >> 30) & 511] = (uintptr_t)ch[c].pd | TABLE_FLAGS;
		for (uint64_t j = 0; j < npt; j++)
			ch[c].pd[j] = (uintptr_t)(ch[c].pt + 512 * j) | TABLE_FLAGS;
		for (uint64_t i = 0; i < m; i++) {
			uint64_t e = vppt[i];

			if (e & PTE_W) {
				e &= ~PTE_W;
				vppt[i] = e;
			}
			cpt[i] = e;
		}
		write_cr3(read_cr3());
	}
	phase_stop(&b, "copy", t * m);

	bench_set_pf(cow_pf);
	phase_start(&b);
	for (uint64_t c = 0; c < t; c++) {
		cw.cur = (unsigned)c;
		barrier(); /* the handler reads it */
		paging_set_root(ch[c].root);
		for (uint64_t i = 0; i < m; i++)
			*word(va + i * PAGE_SIZE + OFF_WRITE) = CHILD(c, i);
	}
	paging_set_root(parent);
	phase_stop(&b, "cow", t * m);
	bench_set_pf(NULL);

	/* Checks of the copies, through the identity map. */
	for (uint64_t c = 0; c < t; c++) {
		for (uint64_t i = 0; i < m; i++) {
			uint64_t f = ch[c].frames + i * PAGE_SIZE;

			if (*word(f + OFF_PAT) == PAT(i) && *word(f + OFF_WRITE) == CHILD(c, i) &&
			    ch[c].pt[i] == (f | FAULT_FLAGS))
				check_pass(&b.tally);
			else
				check_fail(&b.tally, "child %llu page %llu: copy holds %#x %#x (expected "
					   "%#x %#x), PTE %#llx", (unsigned long long)c,
					   (unsigned long long)i, *word(f + OFF_PAT),
					   *word(f + OFF_WRITE), PAT(i), CHILD(c, i),
					   (unsigned long long)ch[c].pt[i]);
		}
	}

	phase_start(&b);
	for (uint64_t c = 0; c < t; c++) {
		volatile uint64_t *cpt = ch[c].pt;

		for (uint64_t i = 0; i < m; i++)
			cpt[i] = 0;
		for (uint64_t j = 0; j < npt; j++)
			((volatile uint64_t *)ch[c].pd)[j] = 0;
		((volatile uint64_t *)ch[c].pdpt)[(va >> 30) & 511] = 0;
		((volatile uint64_t *)ch[c].root)[(va >> 39) & 511] = 0;
		((volatile uint64_t *)ch[c].root)[0] = 0;
	}
	for (uint64_t i = 0; i < m; i++)
		((volatile uint64_t *)ppt)[i] |= PTE_W;
	write_cr3(read_cr3());
	phase_stop(&b, "teardown", t * m);

	/* The parent's frames never saw a child's write; it writes them again
	 * without a fault. */
	faults_before = pf_count;
	for (uint64_t i = 0; i < m; i++)
		*word(va + i * PAGE_SIZE + OFF_AFTER) = PARENT2(i);
	check(&b.tally, pf_count == faults_before, "the parent's writes after the teardown "
	      "faulted %llu times", (unsigned long long)(pf_count - faults_before));
	for (uint64_t i = 0; i < m; i++) {
		uint64_t f = pframes + i * PAGE_SIZE;

		if (*word(f + OFF_PAT) == PAT(i) && *word(f + OFF_WRITE) == PARENT(i) &&
		    *word(f + OFF_AFTER) == PARENT2(i))
			check_pass(&b.tally);
		else
			check_fail(&b.tally, "parent page %llu holds %#x %#x %#x, expected %#x %#x %#x",
				   (unsigned long long)i, *word(f + OFF_PAT), *word(f + OFF_WRITE),
				   *word(f + OFF_AFTER), PAT(i), PARENT(i), PARENT2(i));
	}
	for (uint64_t c = 0; c < t; c++) {
		uint64_t nonzero = 0;

		for (uint64_t i = 0; i < m; i++)
			nonzero |= ch[c].pt[i];
		for (uint64_t j = 0; j < npt; j++)
			nonzero |= ch[c].pd[j];
		nonzero |= ch[c].pdpt[(va >> 30) & 511] | ch[c].root[(va >> 39) & 511] | ch[c].root[0];
		check(&b.tally, nonzero == 0, "child %llu: tables not empty after the teardown",
		      (unsigned long long)c);
	}
	check(&b.tally, cw.copies == t * m, "the #PF handler copied %llu pages, expected %llu",
	      (unsigned long long)cw.copies, (unsigned long long)(t * m));
	check(&b.tally, cw.wrong == 0, "%llu faults were not write-protect faults; first: cr2 %#llx "
	      "err %#x", (unsigned long long)cw.wrong, (unsigned long long)cw.wrong_cr2,
	      cw.wrong_error);
	check(&b.tally, pf_count == t * m, "%llu page faults in all, expected %llu",
	      (unsigned long long)pf_count, (unsigned long long)(t * m));
	return bench_end(&b);
}
