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
 *    natively.  They are brought back entry by entry, as KVM's
 *    FNAME(sync_page) does: each present shadow entry is compared with the
 *    guest's entry now, and only those that changed are updated or dropped
 *    (sync_entry).  A CR3 load syncs every out-of-sync page and
 *    write-protects its table again (KVM's mmu_sync_children); an INVLPG
 *    syncs only the address's entry under each cached root, and the page
 *    stays out of sync (FNAME(invlpg)); a page found again by a lookup is
 *    synced and stays out of sync too (kvm_sync_page from
 *    kvm_mmu_find_shadow_page).  A table above level 1 let go by an
 *    unprotect is still brought back by dropping its entries.
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
#include <string.h>

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

/* --- bringing out-of-sync tables back (unsync) --------------------------- */

/* The guest entry that entry i of the level-1 shadow page sp stands for;
 * false when no RAM is there. */
static bool gpte_of(struct shadow_mmu *m, const struct sp *sp, unsigned i, uint64_t *gpte)
{
	bool four = sp->role.path == PATH_PAGING32;
	uint64_t gpa = (sp->gfn << 12) + (four ? (sp->role.quadrant * 512u + i) * 4 : i * 8);
	void *p = mem_gpa_to_hva(m->mem, gpa, four ? 4 : 8);
	uint32_t v;

	if (!p)
		return false;
	if (four) {
		memcpy(&v, p, 4);
		*gpte = v;
	} else {
		memcpy(gpte, p, 8);
	}
	return true;
}

/*
 * The shadow leaf a fill would make now for guest entry gpte in the
 * level-1 page sp, keeping from old (the entry there, or 0) what only a
 * fill knows: whether the kernel view fetched from a guest-user page, and
 * the guest-global mark.  0 when the guest's entry maps nothing a walk
 * would fill: not present, a reserved bit, A clear (KVM's
 * FNAME(prefetch_invalid_gpte)), no RAM behind it, or a supervisor page
 * in the user view.
 */
static uint64_t leaf_from_gpte(struct shadow_mmu *m, const struct sp *sp, uint64_t gpte, uint64_t old)
{
	bool four = sp->role.path == PATH_PAGING32;
	uint64_t rsvd = 0, gpa, mpa, spte;
	unsigned access = sp->role.access;

	if (!four) {
		/* an 8-byte PTE: bits 51:MAXPHYADDR, and NX without EFER.NXE */
		rsvd = (((1ULL << 52) - 1) & ~((1ULL << m->maxphyaddr) - 1)) |
		       (sp->role.efer_nx ? 0 : SPTE_NX);
	}
	if (!(gpte & SPTE_P) || !(gpte & SPTE_A) || (gpte & rsvd))
		return 0;
	gpa = gpte & (four ? 0xfffff000ULL : ((1ULL << m->maxphyaddr) - 1) & ~0xfffULL);
	mpa = mem_gpa_to_mpa(m->mem, gpa);
	if (mpa == (uint64_t)-1)
		return 0;
	if (!(gpte & SPTE_W))
		access &= ~ACC_WRITE;
	if (!(gpte & SPTE_U))
		access &= ~ACC_USER;
	if (!four && sp->role.efer_nx && (gpte & SPTE_NX))
		access &= ~ACC_EXEC;
	if (sp->role.user_view && !(access & ACC_USER))
		return 0;
	spte = mpa | SPTE_P | SPTE_U | SPTE_A | SPTE_D;
	/* as make_leaf: W for a dirty page the guest lets this view write,
	 * unless it is itself a table the shadow follows */
	if (((access & ACC_WRITE) || (!sp->role.user_view && !sp->role.cr0_wp)) && (gpte & SPTE_D) &&
	    !mmu_tracked(m, gpa >> 12))
		spte |= SPTE_W;
	if (sp->role.efer_nx && !(access & ACC_EXEC))
		spte |= SPTE_NX;
	else if (!sp->role.user_view && (access & ACC_USER))
		spte |= old ? (old & SPTE_NX) : SPTE_NX;   /* the kernel view runs user code only once fetched */
	if (m->code && patch_scanned(m->code, gpa >> 12)) {
		spte &= ~SPTE_W;                 /* as make_leaf (--shadow-patch) */
		if (m->code_pkey && patch_in_frame(m->code, gpa >> 12))
			spte |= SPTE_PKEY_PATCH;
	} else if (m->code && !patch_mixed(m->code, gpa >> 12)) {
		spte |= SPTE_NX;
	}
	if (gpte & SPTE_G)
		spte |= old & SPTE_GUEST_GLOBAL;
	return spte;
}

/*
 * Bring entry i of the out-of-sync level-1 page sp in line with the
 * guest's entry (KVM's FNAME(sync_page) for one spte): a present entry
 * that maps another frame than the guest's entry now, or that the guest's
 * entry no longer allows, is dropped; one whose rights changed gets them;
 * one still right stays.  fill (INVLPG, as FNAME(invlpg) installs the
 * guest's entry with FNAME(prefetch_gpte)): an empty entry is filled too.
 * Returns true if the entry changed.
 */
static bool sync_entry(struct shadow_mmu *m, struct sp *sp, unsigned i, bool fill)
{
	uint64_t *e = &sp->spt[i], gpte, leaf = 0;
	bool was = *e & SPTE_P;

	if (!was && !fill)
		return false;
	if (gpte_of(m, sp, i, &gpte)) {
		leaf = leaf_from_gpte(m, sp, gpte, *e);
		if (leaf && was && (leaf & SPTE_ADDR) != (*e & SPTE_ADDR))
			leaf = leaf_from_gpte(m, sp, gpte, 0);      /* another frame: a new entry */
	}
	if (leaf == *e)
		return false;
	if (was && leaf && (leaf & SPTE_ADDR) == (*e & SPTE_ADDR)) {
		*e = leaf;                               /* same frame, new rights: the rmap stays */
		mmu_changed(m, e);
		return true;
	}
	if (!fill)
		leaf = 0;                                /* another frame, or nothing: it refaults */
	mmu_set_leaf(m, e, leaf);
	if (leaf)
		m->stats.mmu_pte_updated++;
	return was;
}

/* Every present entry of an out-of-sync level-1 page (KVM's
 * FNAME(sync_page)).  Returns true if any changed. */
static bool sync_sp(struct shadow_mmu *m, struct sp *sp)
{
	bool changed = false;

	for (unsigned i = 0; i < 512; i++)
		changed |= sync_entry(m, sp, i, false);
	return changed;
}

/* Back in sync and followed again: the table is write-protected.  A leaf
 * page is synced entry by entry; a table above (let go by an unprotect)
 * has its entries dropped, and they refault from the guest's. */
static void resync(struct shadow_mmu *m, struct sp *sp)
{
	if (sp->role.level == 1) {
		sync_sp(m, sp);
	} else {
		for (unsigned j = 0; j < 512; j++)
			if ((sp->spt[j] & SPTE_P) && !mmu_is_mon_slot(m, sp, j))
				mmu_clear_entry(m, &sp->spt[j]);
	}
	mmu_unsync_del(m, sp);
	mmu_track_inc(m, sp->gfn);
	m->stats.unsync_synced++;
	mmu_emit(m, &(struct mmu_event){ .kind = TRACE_RESYNC, .gpa = sp->gfn << 12, .count = 1 });
	m->need_reload = true;
}

/* A CR3 load (and wp's INVLPG): every out-of-sync table back in sync. */
static void sync_unsync(struct shadow_mmu *m)
{
	struct sp *sp;

	m->nr_unprot = 0;
	while ((sp = m->unsync.first) != NULL)
		resync(m, sp);
}

/* Is sp linked, through any chain of entries, below anc? */
static bool below(struct shadow_mmu *m, const struct sp *sp, const struct sp *anc)
{
	for (unsigned k = 0; k < sp->nparents; k++) {
		struct sp *p = mmu_sp_of_mpa(m, m->pool_mpa + (sp->parents[k] & ~0xfffu));

		if (p == anc || (p && p->role.level < anc->role.level && below(m, p, anc)))
			return true;
	}
	return false;
}

/*
 * A lookup found sp again (get_sp), to link it or load it as a root.  If
 * it is out of sync, or has out-of-sync pages below it, the guest may have
 * flushed entries of theirs while nothing linked them (an INVLPG reaches
 * only what the cached roots reach): sync them, entry by entry, and leave
 * them out of sync (KVM's kvm_sync_page from kvm_mmu_find_shadow_page, and
 * the KVM_REQ_MMU_SYNC it makes for a page with unsync children).
 */
void mmu_sync_found(struct shadow_mmu *m, struct sp *sp)
{
	bool changed = false;

	if (sp->unsync && sp->role.level == 1) {
		changed = sync_sp(m, sp);
	} else if (sp->role.level > 1) {
		for (struct sp *u = m->unsync.first; u; u = u->unsync_link.next)
			if (u->role.level == 1 && below(m, u, sp))
				changed |= sync_sp(m, u);
	}
	if (changed)
		m->need_reload = true;
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
		if (mmu_is_mon_slot(m, sp, i))
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

		if (!(*e & SPTE_P) || (level == 4 && spte_index(gva, 4) == m->mon_slot))
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

/*
 * unsync: INVLPG of gva under one root (KVM's FNAME(invlpg)): walk the
 * shadow for gva and, if the leaf page it ends in is out of sync, bring
 * that one entry in line with the guest's (filling it if empty); the page
 * stays out of sync.
 */
static void invlpg_sync(struct shadow_mmu *m, struct sp *root, uint64_t gva)
{
	struct sp *sp = root;

	for (unsigned level = 4; level > 1; level--) {
		uint64_t e = sp->spt[spte_index(gva, level)];

		if (!(e & SPTE_P) || !(e & SPTE_LINK) || (level == 4 && spte_index(gva, 4) == m->mon_slot))
			return;
		sp = mmu_sp_of_mpa(m, e & SPTE_ADDR);
		if (!sp)
			return;
	}
	if (sp->unsync && !sp->role.direct)
		sync_entry(m, sp, spte_index(gva, 1), true);
}

void mmu_invlpg(struct shadow_mmu *m, const struct mmu_ctx *ctx, uint64_t gva)
{
	(void)ctx;
	m->stats.invlpg++;
	mmu_emit(m, &(struct mmu_event){ .kind = TRACE_INVLPG, .gva = gva });
	m->need_invlpg = true;
	m->flush_gva = gva;
	if (m->sync == SYNC_WP) {
		/* Only tables an unprotect let go can be out of sync. */
		sync_unsync(m);
		return;
	}
	if (m->sync == SYNC_UNSYNC) {
		struct sp *sp, *next;

		/* A table above level 1 let go by an unprotect: all of it. */
		m->nr_unprot = 0;
		for (sp = m->unsync.first; sp; sp = next) {
			next = sp->unsync_link.next;
			if (sp->role.level > 1)
				resync(m, sp);
		}
		/* Leaf tables: the address's entry, in every cached root (a
		 * global translation is in every address space). */
		for (int v = 0; v < 2; v++)
			for (int i = 0; i < MMU_ROOT_CACHE; i++)
				if (m->root_cache[v][i] && m->unsync.n)
					invlpg_sync(m, m->root_cache[v][i], gva);
		return;
	}
	/* vtlb: a global translation is shared by every address space: look in all. */
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < MMU_ROOT_CACHE; i++)
			if (m->root_cache[v][i])
				zap_gva(m, m->root_cache[v][i], gva);
}

/* --- the guest's stores to its tables (wp, unsync) ----------------------- */

/* Flooding (KVM's detect_write_flooding): a table written again and again
 * without being used in between is no longer one.  A fill through it is a
 * use, and so is a store of an entry the shadow installs at once (below).
 * Under unsync a leaf table is never flooded (as in KVM): its next store
 * lets it go out of sync instead, and it stays to be found again. */
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
				uint64_t *e = &sp->spt[j], gpte, leaf;

				if (mmu_is_mon_slot(m, sp, j))
					continue;
				if (*e & SPTE_P) {
					mmu_clear_entry(m, e);
					m->need_reload = true;
				}
				/* A leaf table: install what the guest just wrote,
				 * as KVM's FNAME(update_pte) did after an emulated
				 * store (the same rule as a prefetch: present and
				 * accessed), so the access that follows the store
				 * need not fault. */
				if (sp->role.level == 1 && gpte_of(m, sp, j, &gpte) &&
				    (leaf = leaf_from_gpte(m, sp, gpte, 0)) != 0) {
					mmu_set_leaf(m, e, leaf);
					m->stats.mmu_pte_updated++;
					/* The guest stored an entry the CPU may use as
					 * it is: a table in use, not data (the fill it
					 * saved would have said the same). */
					sp->write_count = 0;
				}
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
