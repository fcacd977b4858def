/*
 * How the shadow MMU keeps its tables coherent with the guest's, the
 * three strategies of --shadow-sync (docs/strategies.md):
 *
 * 1. wp: every guest table a shadow page stands for is write-tracked (the
 *    track table counts the shadow pages per guest frame; the first makes
 *    every leaf that maps the frame read-only), so the guest's stores to
 *    it fault, are emulated, and mmu_pte_write drops the shadow entries
 *    they change.  A table written three times without a fault through it
 *    is no longer one (flooding): zapped.  A store ombra cannot emulate
 *    unprotects the frame (mmu_unprotect_gfn).
 * 2. unsync: as wp, but the first store to a leaf table lets its shadow
 *    pages go out of sync (the unsync list) and the guest writes it
 *    natively; the next CR3 load or INVLPG brings them back (sync_unsync)
 *    by dropping their entries, which refault from the guest's.
 * 3. vtlb: nothing is tracked; the shadow is a virtual TLB.  A CR3 write
 *    drops every non-global leaf of every cached root (flush_tree); INVLPG
 *    drops the address's leaf and the link to its table (zap_gva), as the
 *    paging-structure caches are flushed too.  An upper shadow entry that
 *    points at the wrong guest table after the guest rewrote its tables
 *    is repaired by the next fill through it.
 *
 * Every "shadow pages of this frame" question here is a walk of one gfn
 * hash bucket (for_each_sp_of_gfn), never a scan of the pool.
 */
#include "mmu_internal.h"

#include <stdlib.h>

/* --- write tracking (wp, unsync) ------------------------------------------ */

/* Does this shadow page stand for a guest table whose writes must be seen?
 * Not a direct page, nor ombra's own upper levels for a 32-bit guest (a PAE
 * guest's PDPT is read only at CR3 loads), nor an unsync one. */
bool mmu_sp_tracks(const struct shadow_mmu *m, const struct sp *sp)
{
	return m->sync != SYNC_VTLB && !sp->role.direct && !sp->unsync &&
	       (sp->role.path == PATH_PAGING64 || sp->role.level <= 2);
}

static struct track **track_slot(struct shadow_mmu *m, uint64_t gfn)
{
	struct track **pp = &m->track[gfn_hash(gfn, m->track_size)];

	while (*pp && (*pp)->gfn != gfn)
		pp = &(*pp)->next;
	return pp;
}

bool mmu_tracked(struct shadow_mmu *m, uint64_t gfn)
{
	return m->sync != SYNC_VTLB && *track_slot(m, gfn) != NULL;
}

/* Start tracking gfn for one more shadow page; the first makes every leaf
 * that maps the guest table read-only, so the guest's writes trap. */
void mmu_track_inc(struct shadow_mmu *m, uint64_t gfn)
{
	struct track **pp = track_slot(m, gfn), *t = *pp;
	struct rmap_head *h;

	if (t) {
		t->count++;
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return;
	t->gfn = gfn;
	t->count = 1;
	*pp = t;
	/* A 2 MiB shadow leaf must not map a table the shadow follows: the
	 * writes to it would not trap.  Drop those; they refault split. */
	if (mmu_zap_large_leaves(m, gfn & ~511ULL))
		m->need_reload = true;
	h = mmu_rmap_of(m, gfn);
	for (unsigned i = 0; h && i < h->n; i++) {
		uint64_t *e = pool_entry(m, h->sptes[i]);

		if (*e & SPTE_W) {
			*e &= ~SPTE_W;          /* set_leaf's rmap work is not needed: same frame */
			mmu_changed(m, e);
			m->stats.write_protected++;
			m->need_reload = true;
		}
	}
}

void mmu_track_dec(struct shadow_mmu *m, uint64_t gfn)
{
	struct track **pp = track_slot(m, gfn), *t = *pp;

	if (t && --t->count == 0) {
		*pp = t->next;
		free(t);
	}
}

void mmu_track_clear(struct shadow_mmu *m)
{
	for (unsigned i = 0; m->track && i < m->track_size; i++) {
		struct track *t = m->track[i];

		while (t) {
			struct track *next = t->next;

			free(t);
			t = next;
		}
		m->track[i] = NULL;
	}
}

bool mmu_tracked_write(struct shadow_mmu *m, uint64_t gfn)
{
	struct sp *sp;

	if (m->sync != SYNC_UNSYNC)
		return true;
	/* unsync: only a table shadowed by leaf pages alone, none a root, may
	 * go out of sync; the guest then writes it natively until the next
	 * CR3 load or INVLPG (KVM's unsync). */
	for_each_sp_of_gfn(m, gfn, sp)
		if (mmu_sp_tracks(m, sp) && (sp->role.level != 1 || sp->root_count))
			return true;
	for_each_sp_of_gfn(m, gfn, sp)
		if (mmu_sp_tracks(m, sp)) {
			mmu_track_dec(m, sp->gfn);
			mmu_unsync_add(m, sp);
			m->stats.mmu_unsync++;
			mmu_emit(m, &(struct mmu_event){ .kind = TRACE_UNSYNC, .gpa = gfn << 12 });
		}
	return false;
}

/*
 * unsync: bring every out-of-sync table back.  ombra does not keep the
 * guest entries a shadow table was built from, so it syncs by dropping the
 * table's entries (they refault from the guest's current ones) and tracks
 * the table's writes again.
 */
static void sync_unsync(struct shadow_mmu *m)
{
	struct sp *sp;
	unsigned n = 0;

	m->nr_unprot = 0;
	while ((sp = m->unsync.first) != NULL) {
		for (unsigned j = 0; j < 512; j++)
			if ((sp->spt[j] & SPTE_P) && !(sp->role.level == 4 && j == 511))
				mmu_clear_entry(m, &sp->spt[j]);
		mmu_unsync_del(m, sp);
		mmu_track_inc(m, sp->gfn);
		m->stats.unsync_synced++;
		m->need_reload = true;
		n++;
	}
	if (n)
		mmu_emit(m, &(struct mmu_event){ .kind = TRACE_RESYNC, .count = n });
}

/* --- vtlb flushes ---------------------------------------------------------- */

/*
 * Drop the leaves of a subtree (all of them, or all but the guest-global
 * ones) and the links to subtrees left empty.  Returns true when anything
 * is left.
 */
static bool flush_tree(struct shadow_mmu *m, struct sp *sp, bool keep_global)
{
	bool left = false;

	for (unsigned i = 0; i < 512; i++) {
		uint64_t *e = &sp->spt[i];

		if (!(*e & SPTE_P))
			continue;
		if (sp->role.level == 4 && i == 511)
			continue;                       /* the monitor */
		if (*e & SPTE_LINK) {
			struct sp *child = mmu_sp_of_mpa(m, *e & SPTE_ADDR);

			if (child && flush_tree(m, child, keep_global))
				left = true;
			else
				mmu_unlink_entry(m, e);
		} else if (keep_global && (*e & SPTE_GUEST_GLOBAL)) {
			left = true;
		} else {
			mmu_set_leaf(m, e, 0);
		}
	}
	return left;
}

void mmu_new_cr3(struct shadow_mmu *m, const struct mmu_ctx *ctx, bool cr3_write, bool flush_global)
{
	/* Global translations survive only a plain CR3 write with CR4.PGE on.
	 * A change of CR4.PSE changes what every PDE means: flush it all. */
	int pse = (ctx->walk.flags & WALK_CR4_PSE) != 0;
	bool keep_global;

	if (m->last_pse >= 0 && pse != m->last_pse)
		flush_global = true;
	m->last_pse = pse;
	keep_global = !flush_global && ctx->cr4_pge;

	if (cr3_write) {
		m->stats.cr3_writes++;
		mmu_emit(m, &(struct mmu_event){ .kind = TRACE_CR3_LOAD, .root_hit = mmu_root_cached(m, ctx) });
	}
	m->stats.tlb_flush++;
	if (m->sync == SYNC_VTLB) {
		/* vtlb: a CR3 write is a TLB flush of every address space (no
		 * PCIDs); a paging-mode or CR4.PGE change flushes the global
		 * translations too. */
		for (int v = 0; v < 2; v++)
			for (int i = 0; i < MMU_ROOT_CACHE; i++)
				if (m->root_cache[v][i])
					flush_tree(m, m->root_cache[v][i], keep_global);
	} else {
		/* The shadow follows the guest's writes, so it holds nothing a
		 * flush, global or not, would drop: only tables let out of sync
		 * need work.  A paging-mode change makes new roles, so it drops
		 * nothing either (KVM's kvm_mmu_reset_context only lets go of
		 * its roots); the pages stay, found again by gfn and role.
		 * Cached roots stay valid, but for a PAE guest the load rereads
		 * the four PDPTEs, which are not a table the shadow follows: the
		 * shadow PDPT is made again. */
		sync_unsync(m);               /* also a root unprotected in wp */
		for (int v = 0; v < 2; v++)
			for (int i = 0; i < MMU_ROOT_CACHE; i++) {
				struct sp *root = m->root_cache[v][i];

				if (root && root->role.path == PATH_PAGING32E && (root->spt[0] & SPTE_P))
					mmu_unlink_entry(m, &root->spt[0]);
			}
	}
	m->need_reload = true;
}

/* INVLPG under one root: clear gva's leaf, and the link to its page table
 * (the paging-structure cache entry INVLPG also drops). */
static void zap_gva(struct shadow_mmu *m, struct sp *root, uint64_t gva)
{
	struct sp *sp = root;

	for (unsigned level = 4; level >= 1; level--) {
		uint64_t *e = &sp->spt[spte_index(gva, level)];
		struct sp *child;

		if (!(*e & SPTE_P) || (level == 4 && spte_index(gva, 4) == 511))
			return;
		if (!(*e & SPTE_LINK)) {
			mmu_set_leaf(m, e, 0);
			return;
		}
		child = mmu_sp_of_mpa(m, *e & SPTE_ADDR);
		if (!child)
			return;
		if (child->role.direct && !sp->role.direct) {
			/* A guest large page: INVLPG invalidates all of it. */
			mmu_unlink_entry(m, e);
			m->need_reload = true;
			return;
		}
		if (level == 2) {
			uint64_t *leaf = &child->spt[spte_index(gva, 1)];

			if (*leaf & SPTE_P)
				mmu_set_leaf(m, leaf, 0);
			mmu_unlink_entry(m, e);
			/* Other translations made through that table may be in the
			 * real TLB (all 512 of a guest large page, which one INVLPG
			 * invalidates whole): flush it all. */
			m->need_reload = true;
			return;
		}
		sp = child;
	}
}

void mmu_invlpg(struct shadow_mmu *m, const struct mmu_ctx *ctx, uint64_t gva)
{
	(void)ctx;
	m->stats.invlpg++;
	mmu_emit(m, &(struct mmu_event){ .kind = TRACE_INVLPG, .gva = gva });
	if (m->sync != SYNC_VTLB)
		sync_unsync(m);
	if (m->sync != SYNC_VTLB) {
		/* The shadow already follows every write the guest made to a
		 * tracked table: nothing of it can be stale. */
		m->need_invlpg = true;
		m->flush_gva = gva;
		return;
	}
	/* A global translation is shared by every address space: look in all. */
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < MMU_ROOT_CACHE; i++)
			if (m->root_cache[v][i])
				zap_gva(m, m->root_cache[v][i], gva);
	m->need_invlpg = true;
	m->flush_gva = gva;
}

/* --- the guest's stores to its tables (wp, unsync) ----------------------- */

/* Flooding (KVM's detect_write_flooding): a table written again and again
 * without being used in between is no longer one.  Under unsync a leaf
 * table is never flooded (as in KVM): its next store lets it go out of
 * sync instead, and it stays to be found again. */
static bool flooded(struct shadow_mmu *m, struct sp *sp)
{
	if (m->sync == SYNC_UNSYNC && sp->role.level == 1)
		return false;
	return ++sp->write_count >= 3 && sp->root_count == 0;
}

void mmu_pte_write(struct shadow_mmu *m, uint64_t gpa, unsigned len)
{
	uint64_t gfn = gpa >> 12;
	unsigned off = (unsigned)(gpa & 0xfff);
	struct sp *sp;

	m->stats.mmu_pte_write++;
	for_each_sp_of_gfn(m, gfn, sp) {
		unsigned size, first, last;

		if (!mmu_sp_tracks(m, sp))
			continue;
		if (flooded(m, sp)) {
			m->stats.mmu_flooded++;
			mmu_zap_sp(m, sp);
			continue;
		}
		size = sp->role.path == PATH_PAGING32 ? 4 : 8;
		first = off / size;
		last = (off + len - 1) / size;
		for (unsigned gi = first; gi <= last; gi++) {
			/* Which shadow entries stand for guest entry gi. */
			unsigned lo = gi, n = 1;

			if (size == 4 && sp->role.level == 2) {
				if (gi / 256 != sp->role.quadrant)
					continue;
				lo = (gi % 256) * 2;        /* a 4 MiB guest entry: two shadow ones */
				n = 2;
			} else if (size == 4) {
				if (gi / 512 != sp->role.quadrant)
					continue;
				lo = gi % 512;
			}
			for (unsigned j = lo; j < lo + n && j < 512; j++) {
				uint64_t *e = &sp->spt[j];

				if (!(*e & SPTE_P) || (sp->role.level == 4 && j == 511))
					continue;
				mmu_clear_entry(m, e);
				m->need_reload = true;
			}
		}
	}
}

void mmu_unprotect_gfn(struct shadow_mmu *m, uint64_t gfn)
{
	struct sp *sp;

	/* Until the next CR3 load or INVLPG, shadow pages made for this table
	 * start out of sync: the fill that retries the store may walk through
	 * the very table it writes, and must not write-protect it again. */
	if (m->nr_unprot < sizeof(m->unprot) / sizeof(m->unprot[0]))
		m->unprot[m->nr_unprot++] = gfn;
	for_each_sp_of_gfn(m, gfn, sp) {
		if (!mmu_sp_tracks(m, sp))
			continue;
		if (sp->root_count) {
			/* A root cannot go while the CPU may use it: it goes out
			 * of sync, made again at the next CR3 load or INVLPG. */
			mmu_track_dec(m, sp->gfn);
			mmu_unsync_add(m, sp);
			m->stats.mmu_unsync++;
			mmu_emit(m, &(struct mmu_event){ .kind = TRACE_UNSYNC, .gpa = sp->gfn << 12 });
		} else {
			mmu_zap_sp(m, sp);
		}
	}
}
