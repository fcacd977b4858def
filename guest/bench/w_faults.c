/*
 * w_faults.c: workload faults.  What it costs to use pages the VMM has not
 * seen yet: every PTE is written before the first phase, so the only faults
 * in the first four phases are the VMM's own, hidden from the guest (a
 * shadow fill, or the host's fault on a never-touched guest frame).
 *
 *   inorder  write one word in each of N fresh pages, in VA order (region A);
 *   random   the same over another N fresh pages (region B) in the order
 *            of a fixed-seed shuffle;
 *   unmap    clear all 2N PTEs (one store each), reload CR3, write them
 *            again, mapping the same frames (as a kernel unmapping and
 *            remapping: the VMM must drop what it had);
 *   retouch  write a second word in each of the 2N pages, in order: every
 *            translation must be made again;
 *   demand   N/4 pages whose PTEs are empty (region D, tables present): the
 *            guest's own #PF handler maps a frame on the first write of
 *            each (an entry young and dirty, as Linux makes it:
 *            FAULT_FLAGS), so faults = N/4.
 *
 * Checks, outside the phases: every frame, read through the identity map,
 * holds both words written to it (the remap kept the frames), the PTEs of A
 * and B have A and D set, and the demand faults were exactly the N/4
 * writes, not-present, each at the address written.
 *
 * Cost at N = 2048: about 60,000 ring-0 instructions of setup (plus zeroing
 * 9 page tables) and about 10 per page per phase, about 2,000 instructions
 * per guest fault.
 */
#include "bench.h"

#define VAL_A(i)  (0xa0000000u + (uint32_t)(i) * 0x9e3779b1u)
#define VAL_B(i)  (0xb0000000u + (uint32_t)(i) * 0x9e3779b1u)
#define VAL_D(i)  (0xd0000000u + (uint32_t)(i) * 0x9e3779b1u)
#define VAL_R(i)  (0x5e000000u ^ (uint32_t)(i) * 0x85ebca6bu)
#define RETOUCH_OFF 8

static struct {
	uint64_t *pte;    /* region D's PTEs */
	uint64_t va, n;   /* region D */
	uint64_t frames;  /* its frames, in order */
	uint64_t expect;  /* the address being written */
	uint64_t handled; /* faults mapped */
	uint64_t wrong;   /* faults with an unexpected address or error code */
	uint64_t wrong_cr2;
	uint32_t wrong_error;
} dm;

static enum pf_outcome demand_pf(uint64_t cr2, uint32_t error)
{
	uint64_t i = (cr2 - dm.va) >> 12;

	if (cr2 < dm.va || i >= dm.n || (error & PFERR_P))
		return PF_NOT_MINE;
	if (cr2 != dm.expect || error != PFERR_W) {
		if (dm.wrong++ == 0) {
			dm.wrong_cr2 = cr2;
			dm.wrong_error = error;
		}
	}
	dm.pte[i] = (dm.frames + i * PAGE_SIZE) | FAULT_FLAGS;
	dm.handled++;
	return PF_FIXED;
}

uint32_t work_faults(const struct bench_args *a)
{
	struct bench b;
	uint64_t n = a->a, nd = n / 4;
	uint64_t va_a = REGION(1), va_b = REGION(2), va_d = REGION(3);
	uint64_t fa, fb, fd, *pta, *ptb, *root, x = 1;
	uint32_t *perm;

	bench_begin(&b, "faults");
	mem_init(b.name);
	fa = mem_data(n * PAGE_SIZE, LARGE_PAGE);
	fb = mem_data(n * PAGE_SIZE, LARGE_PAGE);
	fd = mem_data(nd * PAGE_SIZE, LARGE_PAGE);
	root = base_space();
	pta = pt4_map4k(root, va_a, fa, n, LEAF_FLAGS);
	ptb = pt4_map4k(root, va_b, fb, n, LEAF_FLAGS);
	dm = (typeof(dm)){ .va = va_d, .n = nd, .frames = fd };
	dm.pte = pt4_map4k(root, va_d, 0, nd, 0);
	/* The shuffle: Fisher-Yates with the fixed-seed LCG. */
	perm = mem_tables((n * sizeof(*perm) + PAGE_SIZE - 1) / PAGE_SIZE);
	for (uint64_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = ((lcg_next(&x) >> 32) * (i + 1)) >> 32;
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	paging_set_root(root); /* the new PTEs are seen: tables were empty before */

	phase_start(&b);
	{
		uint32_t v = VAL_A(0);

		for (uint64_t p = va_a, e = va_a + n * PAGE_SIZE; p < e; p += PAGE_SIZE) {
			*word(p) = v;
			v += 0x9e3779b1u;
		}
	}
	phase_stop(&b, "inorder", n);

	phase_start(&b);
	for (uint64_t i = 0; i < n; i++) {
		uint32_t j = perm[i];

		*word(va_b + (uint64_t)j * PAGE_SIZE) = VAL_B(j);
	}
	phase_stop(&b, "random", n);

	phase_start(&b);
	for (uint64_t i = 0; i < n; i++)
		((volatile uint64_t *)pta)[i] = 0;
	for (uint64_t i = 0; i < n; i++)
		((volatile uint64_t *)ptb)[i] = 0;
	write_cr3(read_cr3());
	for (uint64_t i = 0; i < n; i++)
		((volatile uint64_t *)pta)[i] = (fa + i * PAGE_SIZE) | LEAF_FLAGS;
	for (uint64_t i = 0; i < n; i++)
		((volatile uint64_t *)ptb)[i] = (fb + i * PAGE_SIZE) | LEAF_FLAGS;
	phase_stop(&b, "unmap", 2 * n);

	phase_start(&b);
	for (uint64_t i = 0; i < n; i++)
		*word(va_a + i * PAGE_SIZE + RETOUCH_OFF) = VAL_R(i);
	for (uint64_t i = 0; i < n; i++)
		*word(va_b + i * PAGE_SIZE + RETOUCH_OFF) = VAL_R(n + i);
	phase_stop(&b, "retouch", 2 * n);

	bench_set_pf(demand_pf);
	phase_start(&b);
	for (uint64_t i = 0; i < nd; i++) {
		uint64_t p = va_d + i * PAGE_SIZE;

		dm.expect = p;
		barrier(); /* the handler reads it */
		*word(p) = VAL_D(i);
	}
	phase_stop(&b, "demand", nd);
	bench_set_pf(NULL);

	/* Checks, through the identity map and the tables themselves. */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t f = fa + i * PAGE_SIZE;

		if (*word(f) == VAL_A(i) && *word(f + RETOUCH_OFF) == VAL_R(i))
			check_pass(&b.tally);
		else
			check_fail(&b.tally, "region A page %llu holds %#x %#x, expected %#x %#x",
				   (unsigned long long)i, *word(f), *word(f + RETOUCH_OFF), VAL_A(i),
				   VAL_R(i));
		f = fb + i * PAGE_SIZE;
		if (*word(f) == VAL_B(i) && *word(f + RETOUCH_OFF) == VAL_R(n + i))
			check_pass(&b.tally);
		else
			check_fail(&b.tally, "region B page %llu holds %#x %#x, expected %#x %#x",
				   (unsigned long long)i, *word(f), *word(f + RETOUCH_OFF), VAL_B(i),
				   VAL_R(n + i));
		if ((pta[i] & (PTE_A | PTE_D)) == (PTE_A | PTE_D) &&
		    (ptb[i] & (PTE_A | PTE_D)) == (PTE_A | PTE_D))
			check_pass(&b.tally);
		else
			check_fail(&b.tally, "page %llu: PTEs %#llx (A) and %#llx (B) lack A or D after "
				   "writes", (unsigned long long)i, (unsigned long long)pta[i],
				   (unsigned long long)ptb[i]);
	}
	for (uint64_t i = 0; i < nd; i++) {
		uint64_t f = fd + i * PAGE_SIZE;

		if (*word(f) == VAL_D(i))
			check_pass(&b.tally);
		else
			check_fail(&b.tally, "demand page %llu holds %#x, expected %#x",
				   (unsigned long long)i, *word(f), VAL_D(i));
	}
	check(&b.tally, dm.handled == nd, "the #PF handler mapped %llu pages, expected %llu",
	      (unsigned long long)dm.handled, (unsigned long long)nd);
	check(&b.tally, dm.wrong == 0, "%llu demand faults were not the write being made; first: "
	      "cr2 %#llx err %#x", (unsigned long long)dm.wrong, (unsigned long long)dm.wrong_cr2,
	      dm.wrong_error);
	check(&b.tally, pf_count == nd, "%llu page faults in all, expected %llu",
	      (unsigned long long)pf_count, (unsigned long long)nd);
	return bench_end(&b);
}
