/*
 * --audit: after a trap that filled or flushed, check that the shadow
 * grants nothing the guest's tables do not and maps the guest's frames
 * (docs/shadow.md).  It walks the current CR3's roots, both views, and
 * asks the guest's walker about every leaf it finds: the whole shadow
 * right after a CR3 load, only the entry just filled otherwise (between
 * flushes a guest may legally run on translations it changed).
 */
#include "mmu_internal.h"

#include <stdio.h>

struct audit {
	struct shadow_mmu *m;
	const struct mmu_ctx *ctx;
	unsigned bad;
	char *why;
	unsigned whylen;
	bool one;                    /* only the entry for gva */
	uint64_t gva;
};

static void audit_bad(struct audit *a, const char *fmt, uint64_t gva, uint64_t v)
{
	if (a->bad++ == 0 && a->why)
		snprintf(a->why, a->whylen, fmt, (unsigned long long)gva, (unsigned long long)v);
}

static void audit_tree(struct audit *a, struct sp *sp, uint64_t base, struct mmu_ctx *view)
{
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = sp->spt[i], gva;
		struct gwalk w;

		if (!(e & SPTE_P) || mmu_is_mon_slot(a->m, sp, i))
			continue;
		gva = base | ((uint64_t)i << (12 + 9 * (sp->role.level - 1)));
		if (sp->role.level == 4 && (gva & (1ULL << 47)))
			gva |= 0xffff000000000000ULL;
		if (a->one && spte_index(a->gva, sp->role.level) != i)
			continue;
		if (!(e & SPTE_LINK) && (e & SPTE_GUEST_GLOBAL) && !a->one)
			continue;                   /* a global page may outlive a CR3 load */
		if (e & SPTE_LINK) {
			struct sp *child = mmu_sp_of_mpa(a->m, e & SPTE_ADDR);

			if (!child || !child->used)
				audit_bad(a, "gva %#llx: link to a free shadow page %#llx", gva, e);
			else
				audit_tree(a, child, gva, view);
			continue;
		}
		mmu_guest_walk(view, gva, WALK_PEEK | (view->user ? PFERR_U : 0), &w);
		if (w.outcome != WALK_OK) {
			audit_bad(a, "gva %#llx: shadow maps it (%#llx) but the guest's tables do not", gva, e);
			continue;
		}
		if ((e & SPTE_ADDR) != mem_gpa_to_mpa(a->m->mem, w.gpa & ~0xfffULL))
			audit_bad(a, "gva %#llx: shadow points at %#llx, not the guest's frame", gva, e);
		if ((e & SPTE_W) && !((w.access & ACC_WRITE) || (!view->user && !view->cr0_wp)))
			audit_bad(a, "gva %#llx: shadow writable (%#llx), guest read-only", gva, e);
		if ((e & SPTE_W) && !w.dirty)
			audit_bad(a, "gva %#llx: shadow writable (%#llx) but guest page clean", gva, e);
		if (!(e & SPTE_NX) && view->efer_nx && !(w.access & ACC_EXEC))
			audit_bad(a, "gva %#llx: shadow executable (%#llx), guest NX", gva, e);
	}
}

unsigned mmu_audit(struct shadow_mmu *m, const struct mmu_ctx *ctx, bool one, uint64_t only_gva,
		   char *why, unsigned whylen)
{
	struct audit a = { m, ctx, 0, why, whylen, one, only_gva };

	/* Only the roots of the guest's current CR3 can be checked against
	 * its tables; cached roots of other address spaces hold what the
	 * guest's TLB may hold. */
	for (int v = 0; v < 2; v++) {
		struct sp *root = m->root_cache[v][0];
		struct mmu_ctx view = *ctx;

		view.user = v;
		if (!root || root->gfn != mmu_root_gfn(ctx) || root->role.word != mmu_root_role(&view).word)
			continue;
		if (one && view.user != ctx->user)
			continue;
		audit_tree(&a, root, 0, &view);
	}
	return a.bad;
}
