/*
 * The guest page-table walk, written once for every entry size.
 *
 * walk.c includes this file twice, like KVM includes paging_tmpl.h:
 *
 *   PTTYPE 32: paging32_walk(), 4-byte entries, 1024 per table, 10 index
 *              bits per level (32-bit paging);
 *   PTTYPE 64: paging64_walk(), 8-byte entries, 512 per table, 9 index bits
 *              per level (PAE paging, root level 3, and 4-level paging, root
 *              level 4).
 *
 * Everything that differs between the modes beyond the entry size (which
 * bits are reserved at which level, where PS maps a page, whether bit 63 is
 * NX) is data in struct walk_ctx, computed by walk_init().  The walk is:
 *
 *   1. From the root (CR3, or in PAE mode the PDPTE register the gva
 *      selects) read one entry per level.  Not present: #PF with P=0.
 *      A reserved bit: #PF with P=1 and RSVD=1.  Either stops the walk there.
 *   2. AND the rights of every entry (R/W, U/S, and NX as "no exec") into the
 *      access of the translation, until a PTE or an entry with PS=1 at a
 *      level where PS maps a page.
 *   3. Only then check the access against the accumulated rights (SDM 4.6):
 *      a not-present entry further down wins over a rights problem higher up,
 *      as on the CPU.
 *   4. On success set A in every entry used and D in the leaf on a write, each
 *      with a compare-and-exchange; if an entry changed under us (another
 *      vCPU, or an entry aliasing another on the same path), walk again, as
 *      KVM's walk_addr_generic() does.
 *
 * Expects from walk.c: PT_* bit names, gpte_access(), permission_fault(),
 * walk_fault(), walk_start().
 */

#if PTTYPE == 64
#define pt_element_t   uint64_t
#define FNAME(name)    paging64_##name
#define PT_LEVEL_BITS  9
#elif PTTYPE == 32
#define pt_element_t   uint32_t
#define FNAME(name)    paging32_##name
#define PT_LEVEL_BITS  10
#else
#error "walk_tmpl.h: PTTYPE must be 32 or 64"
#endif

#define PT_INDEX_MASK  ((1u << PT_LEVEL_BITS) - 1)

/* Which entry of the table at this level the gva selects. */
static unsigned FNAME(index)(uint64_t gva, int level)
{
	return (gva >> (12 + PT_LEVEL_BITS * (level - 1))) & PT_INDEX_MASK;
}

/* Bytes mapped by one entry at this level: 4K, 2M/4M, 1G. */
static uint64_t FNAME(level_size)(int level)
{
	return 1ULL << (12 + PT_LEVEL_BITS * (level - 1));
}

/* Guest-physical address of the table a non-leaf entry points to. */
static uint64_t FNAME(table_gpa)(const struct walk_ctx *ctx, uint64_t pte)
{
#if PTTYPE == 32
	(void)ctx;
	return pte & PT32_ADDR_MASK;
#else
	return pte & ctx->addr_mask;
#endif
}

/* The top table: CR3 bits 31:12 (32-bit) or (M-1):12 (4-level). */
static uint64_t FNAME(root_table)(const struct walk_ctx *ctx)
{
	return FNAME(table_gpa)(ctx, ctx->cr3);
}

/* Where gva lands inside the page the leaf entry maps. */
static uint64_t FNAME(leaf_gpa)(const struct walk_ctx *ctx, uint64_t pte, int level,
				uint64_t gva)
{
	uint64_t offset = gva & (FNAME(level_size)(level) - 1);

#if PTTYPE == 32
	if (level == 2) {
		/*
		 * PSE-36: PDE bits (M-20):13 are physical-address bits (M-1):32,
		 * M = min(MAXPHYADDR, 40).  The bits above them up to 21 are
		 * reserved and were checked already.
		 */
		uint64_t high = (pte >> 13) & ctx->pse36_mask;

		return (pte & PT32_4M_ADDR_MASK) | (high << 32) | offset;
	}
#endif
	return (FNAME(table_gpa)(ctx, pte) & ~(FNAME(level_size)(level) - 1)) | offset;
}

/*
 * Step 4: A in every entry of the path, D in the leaf on a write.  Returns
 * false when an entry no longer holds what the walk read: walk again.
 */
static bool FNAME(update_ad)(struct walk_result *res, pt_element_t **ptep, unsigned access)
{
	for (int level = res->root_level; level >= res->level; level--) {
		pt_element_t old = (pt_element_t)res->steps[level].pte;
		pt_element_t new = old | PT_ACCESSED;

		if (!ptep[level])
			continue;   /* a PAE PDPTE register: no A bit */
		if (level == res->level && (access & WALK_PF_WRITE))
			new |= PT_DIRTY;
		if (new == old)
			continue;
		if (!__atomic_compare_exchange_n(ptep[level], &old, new, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return false;
		res->steps[level].pte = new;
	}
	return true;
}

static enum walk_outcome FNAME(walk)(const struct walk_ctx *ctx, uint64_t gva,
				     unsigned access, struct walk_result *res)
{
	pt_element_t *ptep[WALK_MAX_LEVEL + 1] = { NULL };
	uint64_t table, pte;
	unsigned acc;
	int level;

retry:
	walk_start(ctx, res, gva);
	acc = WALK_ACC_ALL;
	level = ctx->root_level;
	table = FNAME(root_table)(ctx);

#if PTTYPE == 64
	if (level == 3) {
		/* PAE: the top level is a register loaded at MOV CR3, not memory. */
		struct walk_step *step = &res->steps[3];
		unsigned i = (gva >> 30) & 3;
		uint64_t pdpt = ctx->cr3 & PAE_PDPT_MASK;

		step->table_gfn = pdpt >> 12;
		step->pte_gpa = pdpt + i * sizeof(uint64_t);
		step->pte = pte = ctx->pdptes[i];
		if (!(pte & PT_PRESENT))
			return walk_fault(ctx, res, 3, access, 0);
		step->pt_access = acc;   /* a PDPTE has no R/W, U/S or NX */
		ptep[3] = NULL;
		table = pte & ctx->addr_mask;
		level = 2;
	}
#endif

	/* Steps 1 and 2. */
	for (;; level--) {
		struct walk_step *step = &res->steps[level];
		bool large;

		step->table_gfn = table >> 12;
		step->pte_gpa = table + FNAME(index)(gva, level) * sizeof(pt_element_t);
		ptep[level] = ctx->gpa_fn(ctx->opaque, step->pte_gpa, sizeof(pt_element_t));
		if (!ptep[level]) {
			/* A table outside RAM: not a guest fault the CPU defines. */
			res->level = level;
			res->bad_gpa = step->pte_gpa;
			return res->outcome = WALK_BAD_GPA;
		}
		step->pte = pte = __atomic_load_n(ptep[level], __ATOMIC_ACQUIRE);

		if (!(pte & PT_PRESENT))
			return walk_fault(ctx, res, level, access, 0);

		large = ((ctx->large_levels >> level) & 1) && (pte & PT_PAGE_SIZE);
		if (pte & ctx->rsvd[large][level])
			return walk_fault(ctx, res, level, access,
					  WALK_PF_PRESENT | WALK_PF_RSVD);

		acc &= gpte_access(ctx, pte);
		step->pt_access = acc;
		if (level == 1 || large)
			break;
		table = FNAME(table_gpa)(ctx, pte);
	}

	res->level = level;
	res->page_size = FNAME(level_size)(level);
	res->gpa = FNAME(leaf_gpa)(ctx, pte, level, gva);
	res->access = acc;

	/* Step 3. */
	if (permission_fault(ctx, acc, access))
		return walk_fault(ctx, res, level, access, WALK_PF_PRESENT);

	/* Step 4. */
	if (!(access & WALK_PEEK) && !FNAME(update_ad)(res, ptep, access))
		goto retry;

	res->dirty = res->steps[level].pte & PT_DIRTY;
	res->dirtied = res->dirty && !(pte & PT_DIRTY);
	return res->outcome = WALK_OK;
}

#undef pt_element_t
#undef FNAME
#undef PT_LEVEL_BITS
#undef PT_INDEX_MASK
