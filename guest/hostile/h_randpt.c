/*
 * h_randpt.c: case randpt.  Page tables full of random bits.
 *
 * Each round fills a sandbox of page tables with random entries and hangs
 * it under four PML4 slots, then makes a read, a write and a fetch at ring
 * 0 and ring 3 through random addresses in those slots.  Every entry has
 * random P, W, U, PWT, PCD, G, NX, PS (where allowed), ignored bits 9-11
 * and 52-58, and now and then bit 51 (reserved below MAXPHYADDR 52); its
 * address is a sandbox table (of the right level or not: tables are shared
 * and walks go round in cycles), a data frame, a 2 MiB data region, or
 * memory with nothing behind it (past RAM, the hole below 4 GiB).
 *
 * What keeps the outcome the same on every machine, and the kernel alive:
 *   - A and D are set in every entry, so no walk writes a table;
 *   - a write stores the value a read just returned, so no write changes
 *     memory (and a write that faults stores nothing);
 *   - a fetch is made only where the read faulted (so the fetch faults
 *     too) or read a ret (0xc3): data frames are full of ret;
 *   - bit 7 (PS, PAT in a PTE) is set only in entries of the tables meant
 *     as page directories, which only PDPTs and PDs point to, so no walk
 *     meets a 1 GiB page (this host's KVM has none; mmutest's gbpages64
 *     tests them); a PS in a PML4E is reserved and is generated;
 *   - CR4.PGE is off, so a CR3 load between rounds flushes everything.
 * Each outcome is checked against a reference walk written here from the
 * manual's rules, and folded into the digest the case prints.
 */
#include "hostile.h"

#define ROUNDS     8
#define PROBES     256       /* addresses per round */
#define PER_LEVEL  4         /* sandbox tables per level (PDPT, PD, PT) */
#define DATA       8         /* data frames */
#define BIG        (2u << 20)
#define PAST_RAM   0x30000000ull /* 768 MiB: past RAM with -m 512M */
#define HOLE       0xc0000000ull

struct sandbox {
	uint64_t *table[4][PER_LEVEL]; /* [level]: level 1..3 */
	uint8_t *data[DATA];
	uint64_t big;                  /* 2 MiB aligned, full of ret */
};

static uint64_t random_frame(struct rng *r, const struct sandbox *s, unsigned level)
{
	unsigned pick = rng_below(r, 100), l;

	if (level == 1) {              /* a PTE: mostly data */
		if (pick < 70)
			return (uintptr_t)s->data[rng_below(r, DATA)];
		if (pick < 80)
			return s->big + PAGE_SIZE * rng_below(r, BIG / PAGE_SIZE);
		if (pick < 90)
			return (uintptr_t)s->table[1 + rng_below(r, 3)][rng_below(r, PER_LEVEL)];
	} else {                       /* a table one level down, mostly */
		if (pick < 65)
			return (uintptr_t)s->table[level - 1][rng_below(r, PER_LEVEL)];
		if (pick < 75) {
			/* another level's table: PDs (whose bit 7 may be PS)
			 * only below a PDPTE or a PDE, never as a PDPT */
			l = 1 + rng_below(r, 3);
			if (l == 2 && level == 4)
				l = 1;
			return (uintptr_t)s->table[l][rng_below(r, PER_LEVEL)];
		}
		if (pick < 85)
			return (uintptr_t)s->data[rng_below(r, DATA)];
		if (pick < 90)
			return s->big + PAGE_SIZE * rng_below(r, BIG / PAGE_SIZE);
	}
	if (pick < 95)
		return PAST_RAM + PAGE_SIZE * rng_below(r, 1024);
	return HOLE + PAGE_SIZE * rng_below(r, 1024);
}

/* An entry for a table of `level` (4: the slot's PML4E). */
static uint64_t random_entry(struct rng *r, const struct sandbox *s, unsigned level)
{
	uint64_t e = rng_next(r) & (PTE_W | PTE_U | PTE_PWT | PTE_PCD | PTE_G | (7ull << 9) |
				    (0x7full << 52));

	e |= PTE_A | PTE_D;
	if (rng_below(r, 16))
		e |= PTE_P;
	if (rng_below(r, 4))
		e |= PTE_U;                    /* mostly user: ring 3 gets somewhere */
	if (rng_below(r, 4) == 0)
		e |= PTE_NX;
	if (rng_below(r, 64) == 0)
		e |= 1ull << 51;
	if (level == 2 && rng_below(r, 3) == 0) {
		e |= PTE_PS;
		if (rng_below(r, 2))
			return e | (s->big + (rng_below(r, 4) ? 0 : PAGE_SIZE * (1 + rng_below(r, 511))));
	} else if (level == 4 && rng_below(r, 16) == 0) {
		e |= PTE_PS;                   /* reserved in a PML4E */
	}
	return e | random_frame(r, s, level == 4 ? 4 : level);
}

/* --- the case ------------------------------------------------------------------- */

void h_randpt(struct tally *t, uint32_t arg)
{
	struct rng r = { 0x0b5e55edc0ffee11ull };
	struct sandbox s;
	uint64_t h = DIGEST_INIT, *root, cr3, base;
	unsigned faults = 0, done = 0;

	(void)arg;
	t->unit = "accesses";
	ref_init();
	root = space_enter(boot.pool_end);
	cr3 = (uintptr_t)root;
	cpu_set_nxe(true);
	cpu_set_wp(true);
	/* One 4 MiB region holds the sandbox, so that its addresses (which the
	 * tables hold, and reads return) do not depend on where the pool
	 * starts, which differs between boot loaders. */
	base = region_alloc(2 * BIG, 2 * BIG);
	for (unsigned l = 1; l <= 3; l++)
		for (unsigned i = 0; i < PER_LEVEL; i++)
			s.table[l][i] = phys_ptr(base + PAGE_SIZE * ((l - 1) * PER_LEVEL + i));
	for (unsigned i = 0; i < DATA; i++) {
		s.data[i] = phys_ptr(base + PAGE_SIZE * (3 * PER_LEVEL + i));
		memset(s.data[i], 0xc3, PAGE_SIZE);
	}
	s.big = base + BIG;
	memset(phys_ptr(s.big), 0xc3, BIG);

	for (unsigned round = 0; round < ROUNDS; round++) {
		for (unsigned l = 1; l <= 3; l++)
			for (unsigned i = 0; i < PER_LEVEL; i++)
				for (unsigned j = 0; j < 512; j++)
					s.table[l][i][j] = random_entry(&r, &s, l);
		for (unsigned slot = 0; slot < 4; slot++)
			root[1 + slot] = random_entry(&r, &s, 4);
		paging_set_root(root);   /* flush: PGE is off */

		for (unsigned p = 0; p < PROBES; p++) {
			uint64_t va = pt_slot_va(pm, rng_below(&r, 4)) | ((uint64_t)rng_below(&r, 512) << 30) |
				      ((uint64_t)rng_below(&r, 512) << 21) | ((uint64_t)rng_below(&r, 512) << 12) |
				      ((uint64_t)rng_below(&r, 1024) << 2);

			probe_all(t, cr3, va, &h, &faults, &done);
		}
	}
	for (unsigned slot = 0; slot < 4; slot++)
		root[1 + slot] = 0;
	printf("randpt: %u accesses, %u faulted, digest %#llx\n", done, faults, (unsigned long long)h);
	cpu_set_wp(false);
	cpu_set_nxe(false);
	paging_leave();
}
