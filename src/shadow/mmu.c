/*
 * The shadow MMU: shadow pages, the gfn hash, roots and faults.
 * (mmu_sync.c keeps the shadow coherent with the guest's tables: write
 * tracking, unsync, the vtlb flushes; mmu_audit.c is --audit.)
 *
 * 1. Shadow pages.  Every page of the pool is one shadow page: 512 entries
 *    the real CPU walks.  A shadow page stands for one guest page table
 *    (gfn) seen under one role, or, when role.direct is set, for a range
 *    of guest-physical memory mapped straight through (a guest with paging
 *    off, or a guest large page split into 4 KiB shadow entries).  The
 *    hash is keyed by gfn alone, as KVM's mmu_page_hash: every page of one
 *    guest frame, whatever its role, is in one bucket, so "every shadow
 *    page of this frame" (an emulated PTE write, a write fault on a tracked
 *    table, an unprotect) is one short walk (for_each_sp_of_gfn), and a
 *    lookup compares the role as one integer.  A page is on exactly one
 *    list: free (allocation pops it), active (live, most recently used
 *    first: recycling takes from the tail) or retired (below); pages out of
 *    sync are also on the unsync list.  Nothing on the fault path scans the
 *    pool.
 * 2. Roots.  The real CR3 points at a level-4 shadow page: for the guest's
 *    CR3 under its current role (kernel or user view, CR0.WP, EFER.NXE).
 *    The last MMU_ROOT_CACHE roots per view stay cached, so switching back
 *    to a recent address space costs no lookup (root_hits).  The
 *    monitor's slot of every root (monitor.h) maps the monitor,
 *    supervisor-only.
 * 3. Faults.  A real #PF is classified with the guest's own walk: if the
 *    guest's tables deny the access it is the guest's fault (pf_guest),
 *    delivered with the walker's error code; otherwise the shadow path is
 *    built down to a 4 KiB leaf and the access retried (pf_fixed), which
 *    is KVM's FNAME(page_fault) / direct_page_fault split.
 * 4. Permissions of a leaf.  Both guest views run at real CPL 3, so every
 *    leaf is U=1; the guest's user/supervisor split is kept by giving the
 *    user view its own roots that only ever get the pages the guest lets
 *    CPL 3 reach.  W follows the guest (all levels writable, or a
 *    supervisor access with CR0.WP=0), but a clean guest page is mapped
 *    read-only so its first write traps and ombra sets the guest's D bit
 *    (A/D emulation; A is set by the walk that fills).  NX follows the
 *    guest when EFER.NXE is on.
 * 5. Lifetime (see outlives()).  In wp and unsync, as in KVM, a shadow
 *    page outlives the roots and links that used it: it stays in the hash,
 *    its guest table still write-tracked (or on the unsync list), so the
 *    shadow stays exact for it, and the next fill or CR3 load that needs it
 *    finds it again, subtree and all.  It goes only when zapped: by write
 *    flooding, an unprotect, zap_all, or pool pressure (the least recently
 *    used page that is not a root is recycled: unlinked from every parent
 *    and freed, mmu_recycled).  In vtlb nothing tracks the guest's tables,
 *    so a page lives only while a cached root or a shadow entry links to it
 *    (root_count; parents lists the linking entries), and the last unlink
 *    frees it: a flush of the cached roots then reaches every translation
 *    the shadow holds.  A PAE guest's shadow PDPT, made from the PDPTE
 *    registers, follows the vtlb rule in every strategy.  A root dropped
 *    while the real CR3 holds it is retired: kept, out of the hash, until
 *    the next trap (the resume stub runs on it).
 * 6. The reverse map (rmap) lists, per guest frame, the leaves that map it,
 *    so a change to ombra's own mapping of guest memory zaps exactly those.
 */
#include "mmu_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mmu_path_names[PATH_COUNT] = {
	[PATH_NONPAGING] = "nonpaging",
	[PATH_PAGING32] = "paging32",
	[PATH_PAGING32E] = "paging32e",
	[PATH_PAGING64] = "paging64",
};

/* --- the walker's view of guest memory --------------------------------- */

static void *gpa_ptr(void *opaque, uint64_t gpa, unsigned len)
{
	return mem_gpa_to_hva(opaque, gpa, len);
}

void mmu_ctx_init(struct mmu_ctx *ctx, const struct guest_mem *mem, uint64_t cr0, uint64_t cr4,
		  uint64_t efer, unsigned maxphyaddr)
{
	static const enum mmu_path path_of[] = {
		[WALK_PAGING32] = PATH_PAGING32, [WALK_PAGING32E] = PATH_PAGING32E, [WALK_PAGING64] = PATH_PAGING64,
	};
	unsigned flags;
	enum walk_mode mode;

	memset(ctx, 0, sizeof(*ctx));
	ctx->cr0_wp = cr0 & CR0_WP;
	ctx->cr4_pge = cr4 & CR4_PGE;
	if (walk_mode_of(cr0, cr4, efer, &mode, &flags)) {
		ctx->path = path_of[mode];
	} else {
		ctx->path = PATH_NONPAGING;        /* no walk: GVA = GPA */
		mode = WALK_PAGING64;
	}
	ctx->efer_nx = ctx->path != PATH_NONPAGING && (flags & WALK_EFER_NXE);
	walk_init(&ctx->walk, mode, flags, maxphyaddr, gpa_ptr, (void *)mem);
}

/* --- lists of shadow pages ------------------------------------------------ */

/* A list runs through one of two links of struct sp: link or unsync_link. */
#define LINK_OF(sp, off) ((struct sp_link *)((char *)(sp) + (off)))
#define LINK   offsetof(struct sp, link)
#define ULINK  offsetof(struct sp, unsync_link)

static void list_push(struct sp_list *l, struct sp *sp, size_t off, bool front)
{
	struct sp_link *k = LINK_OF(sp, off);

	if (front) {
		k->prev = NULL;
		k->next = l->first;
		if (l->first)
			LINK_OF(l->first, off)->prev = sp;
		else
			l->last = sp;
		l->first = sp;
	} else {
		k->next = NULL;
		k->prev = l->last;
		if (l->last)
			LINK_OF(l->last, off)->next = sp;
		else
			l->first = sp;
		l->last = sp;
	}
	l->n++;
}

static void list_del(struct sp_list *l, struct sp *sp, size_t off)
{
	struct sp_link *k = LINK_OF(sp, off);

	if (k->prev)
		LINK_OF(k->prev, off)->next = k->next;
	else
		l->first = k->next;
	if (k->next)
		LINK_OF(k->next, off)->prev = k->prev;
	else
		l->last = k->prev;
	k->prev = k->next = NULL;
	l->n--;
}

/* Used now: to the front of the active list (the tail is recycled first). */
static void touch_lru(struct shadow_mmu *m, struct sp *sp)
{
	if (m->active.first == sp)
		return;
	list_del(&m->active, sp, LINK);
	list_push(&m->active, sp, LINK, true);
}

void mmu_unsync_add(struct shadow_mmu *m, struct sp *sp)
{
	if (sp->unsync)
		return;
	sp->unsync = true;
	list_push(&m->unsync, sp, ULINK, false);
}

void mmu_unsync_del(struct shadow_mmu *m, struct sp *sp)
{
	if (!sp->unsync)
		return;
	sp->unsync = false;
	list_del(&m->unsync, sp, ULINK);
}

/* --- the gfn hash ----------------------------------------------------------- */

static void hash_add(struct shadow_mmu *m, struct sp *sp)
{
	struct sp **head = &m->hash[gfn_hash(sp->gfn, m->hash_size)];

	sp->hash_next = *head;
	*head = sp;
}

static void unhash(struct shadow_mmu *m, struct sp *sp)
{
	struct sp **pp = &m->hash[gfn_hash(sp->gfn, m->hash_size)];

	while (*pp && *pp != sp)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = sp->hash_next;
	sp->hash_next = NULL;
}

struct sp *mmu_next_sp_of_gfn(struct shadow_mmu *m, uint64_t gfn, uint64_t stamp)
{
	for (struct sp *sp = m->hash[gfn_hash(gfn, m->hash_size)]; sp; sp = sp->hash_next)
		if (sp->gfn == gfn && sp->visit != stamp) {
			sp->visit = stamp;
			return sp;
		}
	return NULL;
}

struct sp *mmu_sp_of_mpa(struct shadow_mmu *m, uint64_t mpa)
{
	uint64_t i = (mpa - m->pool_mpa) >> 12;

	return i < m->nr_pages ? &m->sps[i] : NULL;
}

/* --- set-up ----------------------------------------------------------------- */

int mmu_init(struct shadow_mmu *m, const struct guest_mem *mem, uint8_t *pool_hva,
	     uint64_t pool_mpa, unsigned nr_pages, unsigned mon_slot, uint64_t mon_pml4e)
{
	memset(m, 0, sizeof(*m));
	if (nr_pages < 16)
		return -EINVAL;
	m->mem = mem;
	m->pool_hva = pool_hva;
	m->pool_mpa = pool_mpa;
	m->nr_pages = nr_pages;
	m->mon_pml4e = mon_pml4e;
	m->mon_slot = mon_slot;
	m->hash_size = nr_pages;
	m->rmap_size = 4096;
	m->track_size = 1024;
	m->sps = calloc(nr_pages, sizeof(*m->sps));
	m->hash = calloc(m->hash_size, sizeof(*m->hash));
	m->rmap = calloc(m->rmap_size, sizeof(*m->rmap));
	m->track = calloc(m->track_size, sizeof(*m->track));
	if (!m->sps || !m->hash || !m->rmap || !m->track) {
		mmu_destroy(m);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nr_pages; i++) {
		m->sps[i].spt = (uint64_t *)(pool_hva + (uint64_t)i * 4096);
		m->sps[i].mpa = pool_mpa + (uint64_t)i * 4096;
		list_push(&m->free, &m->sps[i], LINK, false);     /* pool order */
	}
	m->maxphyaddr = WALK_MAXPHYADDR_DEFAULT;
	m->last_pse = -1;
	return 0;
}

static void rmap_clear(struct shadow_mmu *m)
{
	for (unsigned i = 0; m->rmap && i < m->rmap_size; i++) {
		struct rmap_head *h = m->rmap[i];

		while (h) {
			struct rmap_head *next = h->next;

			free(h->sptes);
			free(h);
			h = next;
		}
		m->rmap[i] = NULL;
	}
}

void mmu_destroy(struct shadow_mmu *m)
{
	rmap_clear(m);
	mmu_track_clear(m);
	free(m->track);
	m->track = NULL;
	for (unsigned i = 0; m->sps && i < m->nr_pages; i++)
		free(m->sps[i].parents);
	free(m->sps);
	free(m->hash);
	free(m->rmap);
	m->sps = NULL;
	m->hash = NULL;
	m->rmap = NULL;
}

/* --- the reverse map --------------------------------------------------------- */

static struct rmap_head **rmap_slot(struct shadow_mmu *m, uint64_t gfn)
{
	struct rmap_head **pp = &m->rmap[gfn_hash(gfn, m->rmap_size)];

	while (*pp && (*pp)->gfn != gfn)
		pp = &(*pp)->next;
	return pp;
}

struct rmap_head *mmu_rmap_of(struct shadow_mmu *m, uint64_t gfn)
{
	return *rmap_slot(m, gfn);
}

static uint32_t pool_off(const struct shadow_mmu *m, const uint64_t *e)
{
	return (uint32_t)((const uint8_t *)e - m->pool_hva);
}

static void rmap_add(struct shadow_mmu *m, uint64_t gfn, const uint64_t *e)
{
	struct rmap_head **pp = rmap_slot(m, gfn), *h = *pp;

	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return;
		h->gfn = gfn;
		*pp = h;
	}
	if (h->n == h->cap) {
		unsigned cap = h->cap ? 2 * h->cap : 4;
		uint32_t *n = realloc(h->sptes, cap * sizeof(*n));

		if (!n)
			return;
		h->sptes = n;
		h->cap = cap;
	}
	h->sptes[h->n++] = pool_off(m, e);
}

static void rmap_del(struct shadow_mmu *m, uint64_t gfn, const uint64_t *e)
{
	struct rmap_head **pp = rmap_slot(m, gfn), *h = *pp;
	uint32_t off = pool_off(m, e);

	if (!h)
		return;
	for (unsigned i = 0; i < h->n; i++)
		if (h->sptes[i] == off) {
			h->sptes[i] = h->sptes[--h->n];
			break;
		}
	if (h->n == 0) {
		*pp = h->next;
		free(h->sptes);
		free(h);
	}
}

/* The guest frame a leaf maps. */
static uint64_t leaf_gfn(const struct shadow_mmu *m, uint64_t e)
{
	return ((e & SPTE_ADDR) - m->mem->mpa_offset) >> 12;
}

/* Zap the 2 MiB leaves that map the 2 MiB region starting at base (they
 * are in the rmap under their first frame).  Returns how many. */
unsigned mmu_zap_large_leaves(struct shadow_mmu *m, uint64_t base)
{
	struct rmap_head *h = *rmap_slot(m, base);
	unsigned n = 0;

	for (unsigned i = 0; h && i < h->n;) {
		uint64_t *e = pool_entry(m, h->sptes[i]);

		if (!(*e & SPTE_PS)) {
			i++;
			continue;
		}
		n++;
		if (h->n == 1) {            /* set_leaf frees h with its last entry */
			mmu_set_leaf(m, e, 0);
			break;
		}
		mmu_set_leaf(m, e, 0);
	}
	return n;
}

void mmu_zap_gfn_range(struct shadow_mmu *m, uint64_t gfn, uint64_t count)
{
	uint64_t before = m->stats.rmap_zapped;

	/* 2 MiB leaves are in the rmap under their first frame. */
	for (uint64_t g = gfn & ~511ULL; g < gfn + count; g += 512)
		m->stats.rmap_zapped += mmu_zap_large_leaves(m, g);
	for (uint64_t g = gfn; g < gfn + count; g++) {
		struct rmap_head *h = *rmap_slot(m, g);

		while (h && h->n) {
			/* set_leaf removes the entry from h, and h itself with the last */
			uint64_t *e = pool_entry(m, h->sptes[h->n - 1]);
			bool last = h->n == 1;

			mmu_set_leaf(m, e, 0);
			m->stats.rmap_zapped++;
			if (last)
				break;
		}
	}
	m->need_reload = true;
	if (m->stats.rmap_zapped != before)
		mmu_emit(m, &(struct mmu_event){ .kind = TRACE_ZAP, .gpa = gfn << 12,
						 .count = (unsigned)(m->stats.rmap_zapped - before) });
}

/* --- shadow entries ------------------------------------------------------- */

/* A present entry was changed in place: the host's KVM must be told. */
void mmu_changed(struct shadow_mmu *m, uint64_t *e)
{
	if (m->nr_touch < MMU_TOUCH_MAX)
		m->touch[m->nr_touch++] = pool_off(m, e);
	else
		m->touch_overflow = true;
}

/* Every change to a leaf goes through here: rmap and the host's KVM follow. */
void mmu_set_leaf(struct shadow_mmu *m, uint64_t *e, uint64_t val)
{
	if (*e & SPTE_P) {
		rmap_del(m, leaf_gfn(m, *e), e);
		mmu_changed(m, e);
	}
	*e = val;
	if (val & SPTE_P)
		rmap_add(m, leaf_gfn(m, val), e);
}

/* Clear one present entry, link or leaf. */
void mmu_clear_entry(struct shadow_mmu *m, uint64_t *e)
{
	if (*e & SPTE_LINK)
		mmu_unlink_entry(m, e);
	else
		mmu_set_leaf(m, e, 0);
}

static void parent_add(struct sp *child, uint32_t off)
{
	if (child->nparents == child->parents_cap) {
		unsigned cap = child->parents_cap ? 2 * child->parents_cap : 2;
		uint32_t *n = realloc(child->parents, cap * sizeof(*n));

		if (!n)
			return;          /* the link stays counted; recycling skips it */
		child->parents = n;
		child->parents_cap = cap;
	}
	child->parents[child->nparents++] = off;
}

static void parent_del(struct sp *child, uint32_t off)
{
	for (unsigned i = 0; i < child->nparents; i++)
		if (child->parents[i] == off) {
			child->parents[i] = child->parents[--child->nparents];
			return;
		}
}

/* --- lifetime ----------------------------------------------------------------- */

/*
 * Does sp stay (in the hash, found again) when its last link and root
 * reference go?  Only where the shadow stays exact for it without a
 * flush: in wp and unsync (its guest table is write-tracked, or on the
 * unsync list and synced at the next CR3 load or INVLPG; a direct page
 * maps guest-physical memory, which only a memslot change alters, and that
 * zaps through the rmap).  Not in vtlb, where only a flush of the cached
 * roots keeps the shadow from going stale; nor a PAE guest's shadow PDPT,
 * made from the PDPTE registers that the next CR3 load rereads.
 */
static bool outlives(const struct shadow_mmu *m, const struct sp *sp)
{
	return m->sync != SYNC_VTLB && !(sp->role.path == PATH_PAGING32E && sp->role.level == 3);
}

static void free_sp(struct shadow_mmu *m, struct sp *sp);

/* Clear a link entry; the child goes when nothing holds it, unless it
 * outlives its links. */
void mmu_unlink_entry(struct shadow_mmu *m, uint64_t *e)
{
	struct sp *child = mmu_sp_of_mpa(m, *e & SPTE_ADDR);

	*e = 0;
	mmu_changed(m, e);
	if (!child || !child->used)
		return;
	parent_del(child, pool_off(m, e));
	child->parent_count--;
	if (child->parent_count == 0 && child->root_count == 0 && !child->retired && !outlives(m, child))
		free_sp(m, child);
}

static void link_entry(struct shadow_mmu *m, uint64_t *e, struct sp *child)
{
	if ((*e & SPTE_P) && !(*e & SPTE_LINK))
		mmu_set_leaf(m, e, 0);                     /* a 2 MiB leaf the table replaces */
	if ((*e & SPTE_P) && (*e & SPTE_LINK)) {
		if (mmu_sp_of_mpa(m, *e & SPTE_ADDR) == child)
			return;
		child->parent_count++;         /* first: the old link may hold it too */
		mmu_unlink_entry(m, e);
		child->parent_count--;
	}
	child->parent_count++;
	parent_add(child, pool_off(m, e));
	*e = child->mpa | LINK_BITS;
}

/* Clear every present entry of sp but the monitor's (each one the host's
 * KVM is told of). */
static void clear_entries(struct shadow_mmu *m, struct sp *sp)
{
	for (unsigned i = 0; i < 512; i++) {
		uint64_t *e = &sp->spt[i];

		if (!(*e & SPTE_P))
			continue;
		if (mmu_is_mon_slot(m, sp, i)) {
			*e = 0;
			mmu_changed(m, e);
		} else {
			mmu_clear_entry(m, e);
		}
	}
}

/* Free a page nothing links to (it is all zeros when used again). */
static void free_sp(struct shadow_mmu *m, struct sp *sp)
{
	clear_entries(m, sp);
	if (mmu_sp_tracks(m, sp))
		mmu_track_dec(m, sp->gfn);
	mmu_unsync_del(m, sp);
	unhash(m, sp);
	list_del(&m->active, sp, LINK);
	list_push(&m->free, sp, LINK, true);
	sp->used = false;
	sp->nparents = 0;
	m->nr_used--;
	m->stats.mmu_shadow_zapped++;
}

/* Zap one shadow page that is not a root: out of every entry that links
 * to it, then freed (KVM's kvm_mmu_prepare_zap_page). */
void mmu_zap_sp(struct shadow_mmu *m, struct sp *sp)
{
	while (sp->used && sp->nparents)
		mmu_unlink_entry(m, pool_entry(m, sp->parents[0]));
	if (sp->used && !sp->retired && sp->root_count == 0)
		free_sp(m, sp);
	m->need_reload = true;
}

/* Recycle the least recently used shadow page that is not a root
 * (KVM's kvm_mmu_zap_oldest_mmu_pages): from the tail of the active list. */
static bool recycle_one(struct shadow_mmu *m)
{
	struct sp *victim;

	for (victim = m->active.last; victim; victim = victim->link.prev)
		if (victim->root_count == 0 && victim->nparents == victim->parent_count)
			break;
	if (!victim)
		return false;
	m->stats.mmu_recycled++;
	mmu_emit(m, &(struct mmu_event){ .kind = TRACE_RECYCLE, .count = 1 });
	mmu_zap_sp(m, victim);           /* also: the real TLB may hold what it mapped */
	return true;
}

/* Find the shadow page for (gfn, role), or make one (recycling the least
 * recently used page when the pool is full). */
static struct sp *get_sp(struct shadow_mmu *m, uint64_t gfn, union sp_role role)
{
	struct sp *sp;

	for (sp = m->hash[gfn_hash(gfn, m->hash_size)]; sp; sp = sp->hash_next)
		if (sp->gfn == gfn && sp->role.word == role.word) {
			touch_lru(m, sp);
			if (m->unsync.n)
				mmu_sync_found(m, sp);
			return sp;
		}
	m->stats.mmu_cache_miss++;
	if (!m->free.first && !recycle_one(m))
		return NULL;
	sp = m->free.first;
	if (!sp)
		return NULL;
	list_del(&m->free, sp, LINK);
	list_push(&m->active, sp, LINK, true);
	sp->used = true;
	sp->gfn = gfn;
	sp->role = role;
	sp->root_count = sp->parent_count = 0;
	sp->nparents = 0;
	sp->unsync = false;
	sp->retired = false;
	sp->write_count = 0;
	sp->visit = 0;
	hash_add(m, sp);
	m->nr_used++;
	if (role.level == 4)
		sp->spt[m->mon_slot] = m->mon_pml4e;
	for (unsigned k = 0; k < m->nr_unprot; k++)
		if (m->unprot[k] == gfn && mmu_sp_tracks(m, sp)) {
			mmu_unsync_add(m, sp);
			m->stats.mmu_unsync++;
			mmu_emit(m, &(struct mmu_event){ .kind = TRACE_UNSYNC, .gpa = gfn << 12 });
		}
	if (mmu_sp_tracks(m, sp))
		mmu_track_inc(m, gfn);
	return sp;
}

/*
 * Drop every shadow page.  The root the real CPU has loaded keeps its
 * monitor entry until the CPU has left it: the resume stub that loads the
 * next root runs on it (retire_root).
 */
static void retire_root(struct shadow_mmu *m, struct sp *sp);

void mmu_zap_all(struct shadow_mmu *m)
{
	struct sp *sp;

	for (int v = 0; v < 2; v++)
		for (int i = 0; i < MMU_ROOT_CACHE; i++)
			if (m->root_cache[v][i])
				retire_root(m, m->root_cache[v][i]);
	while ((sp = m->active.first) != NULL) {
		m->stats.mmu_shadow_zapped++;
		memset(sp->spt, 0, 4096);
		sp->used = false;
		sp->unsync = false;
		sp->root_count = sp->parent_count = 0;
		sp->nparents = 0;
		sp->hash_next = NULL;
		list_del(&m->active, sp, LINK);
		list_push(&m->free, sp, LINK, true);
		m->nr_used--;
	}
	/* only retired roots can be left, and they are out of the hash */
	memset(m->hash, 0, m->hash_size * sizeof(*m->hash));
	memset(&m->unsync, 0, sizeof(m->unsync));
	memset(m->root_cache, 0, sizeof(m->root_cache));
	rmap_clear(m);
	mmu_track_clear(m);
	m->need_reload = true;
	m->touch_overflow = true;      /* everything changed: resync the host wholesale */
}

/* --- retiring roots --------------------------------------------------------- */

/* Take a root out of use: out of the caches and the hash, its entries
 * cleared.  If the real CR3 may hold it, keep the page (and its monitor
 * entry) until the next trap. */
static void retire_root(struct shadow_mmu *m, struct sp *sp)
{
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < MMU_ROOT_CACHE; i++)
			if (m->root_cache[v][i] == sp) {
				memmove(&m->root_cache[v][i], &m->root_cache[v][i + 1],
					(MMU_ROOT_CACHE - 1 - i) * sizeof(sp));
				m->root_cache[v][MMU_ROOT_CACHE - 1] = NULL;
				i--;
			}
	sp->root_count = 0;
	if (sp->retired)
		return;
	if (sp != m->loaded_root) {
		if (sp->parent_count == 0)
			free_sp(m, sp);
		return;
	}
	if (mmu_sp_tracks(m, sp))
		mmu_track_dec(m, sp->gfn);
	mmu_unsync_del(m, sp);
	unhash(m, sp);
	list_del(&m->active, sp, LINK);
	list_push(&m->retired, sp, LINK, false);
	sp->retired = true;
	for (unsigned i = 0; i < 512; i++)
		if ((sp->spt[i] & SPTE_P) && i != m->mon_slot)
			mmu_clear_entry(m, &sp->spt[i]);
	m->need_reload = true;
}

void mmu_trap_begin(struct shadow_mmu *m)
{
	/* Every trap comes here: a look at the (nearly always empty) list. */
	struct sp *sp = m->retired.first, *next;

	for (; sp; sp = next) {
		next = sp->link.next;
		if (sp == m->loaded_root)
			continue;
		memset(sp->spt, 0, 4096);
		sp->used = false;
		sp->retired = false;
		sp->nparents = 0;
		list_del(&m->retired, sp, LINK);
		list_push(&m->free, sp, LINK, true);
		m->nr_used--;
		m->stats.mmu_shadow_zapped++;
		m->touch_overflow = true;    /* the host's KVM saw this page as a table */
	}
}

void mmu_root_loaded(struct shadow_mmu *m, uint64_t root_mpa)
{
	m->loaded_root = mmu_sp_of_mpa(m, root_mpa);
}

/* --- roots --------------------------------------------------------------- */

union sp_role mmu_root_role(const struct mmu_ctx *ctx)
{
	union sp_role r = { .word = 0 };

	r.level = 4;
	r.direct = ctx->path == PATH_NONPAGING;
	r.access = ACC_ALL;
	r.user_view = ctx->user;
	r.cr0_wp = ctx->cr0_wp;
	r.efer_nx = ctx->efer_nx;
	r.path = ctx->path;
	r.pse = ctx->path == PATH_PAGING32 && (ctx->walk.flags & WALK_CR4_PSE);
	return r;
}

/* What a root (and a 32-bit guest's shadow PDPT) is keyed by: the guest's
 * top table, which for PAE is a 32-byte PDPT anywhere in a page. */
uint64_t mmu_root_gfn(const struct mmu_ctx *ctx)
{
	switch (ctx->path) {
	case PATH_NONPAGING:  return 0;
	case PATH_PAGING32E:  return (ctx->cr3 & 0xffffffe0ULL) >> 5;
	case PATH_PAGING32:   return (ctx->cr3 & 0xfffff000ULL) >> 12;
	default:              return (ctx->cr3 & SPTE_ADDR) >> 12;
	}
}

/* A root leaves the last slot of the root cache. */
static void drop_root(struct shadow_mmu *m, struct sp *old)
{
	if (--old->root_count || old->parent_count)
		return;
	if (outlives(m, old)) {
		/* It stays in the hash for the next load of its CR3.  A PAE
		 * root's PDPT was made from PDPTE registers that load rereads. */
		if (old->role.path == PATH_PAGING32E && (old->spt[0] & SPTE_P))
			mmu_unlink_entry(m, &old->spt[0]);
		return;
	}
	/* Nothing will flush it any more, so it goes. */
	if (old == m->loaded_root)
		retire_root(m, old);
	else
		free_sp(m, old);
}

/* The root for ctx, made the most recent in its view's cache. */
static struct sp *current_root(struct shadow_mmu *m, const struct mmu_ctx *ctx, bool count)
{
	union sp_role role = mmu_root_role(ctx);
	uint64_t gfn = mmu_root_gfn(ctx);
	struct sp **cache = m->root_cache[ctx->user];
	struct sp *sp = NULL;
	unsigned i;

	for (i = 0; i < MMU_ROOT_CACHE; i++)
		if (cache[i] && cache[i]->gfn == gfn && cache[i]->role.word == role.word) {
			sp = cache[i];
			break;
		}
	if (sp) {
		if (count)
			m->stats.root_hits++;
	} else {
		if (count)
			m->stats.root_misses++;
		sp = get_sp(m, gfn, role);
		if (!sp) {
			mmu_zap_all(m);
			m->stats.mmu_recycled++;
			mmu_emit(m, &(struct mmu_event){ .kind = TRACE_RECYCLE, .count = 1 });
			sp = get_sp(m, gfn, role);
		}
		i = MMU_ROOT_CACHE - 1;
		sp->root_count++;
		if (cache[i]) {
			struct sp *old = cache[i];

			cache[i] = NULL;
			drop_root(m, old);
		}
	}
	memmove(&cache[1], &cache[0], i * sizeof(cache[0]));
	cache[0] = sp;
	touch_lru(m, sp);
	return sp;
}

bool mmu_root_cached(const struct shadow_mmu *m, const struct mmu_ctx *ctx)
{
	union sp_role role = mmu_root_role(ctx);
	uint64_t gfn = mmu_root_gfn(ctx);

	for (unsigned i = 0; i < MMU_ROOT_CACHE; i++) {
		const struct sp *sp = m->root_cache[ctx->user][i];

		if (sp && sp->gfn == gfn && sp->role.word == role.word)
			return true;
	}
	return false;
}

uint64_t mmu_root(struct shadow_mmu *m, const struct mmu_ctx *ctx)
{
	/* A reload that only flushes the real TLB (after a zap, an INVLPG's
	 * table, a write-protect) finds the same root and is not a lookup; a
	 * root gone from the cache (recycling) is a miss either way. */
	bool count = m->root_changed || !mmu_root_cached(m, ctx);

	m->root_changed = false;
	return current_root(m, ctx, count)->mpa;
}

/* --- the guest's walk, for every path ------------------------------------ */


void mmu_guest_walk(const struct mmu_ctx *ctx, uint64_t gva, uint32_t access, struct gwalk *w)
{
	memset(w, 0, sizeof(*w));
	if (ctx->path == PATH_NONPAGING) {
		/* Paging off: the address is the guest-physical address, with no
		 * protection at all (KVM's nonpaging_page_fault). */
		w->outcome = WALK_OK;
		w->gpa = gva & 0xffffffffULL;
		w->leaf_level = 1;
		w->access = ACC_ALL;
		w->dirty = true;
		return;
	}
	w->outcome = walk_gva(&ctx->walk, gva, access, &w->r);
	w->error = w->r.error_code;
	if (w->outcome == WALK_BAD_GPA) {
		/* A guest table where no RAM is reads as zero, as all memory
		 * nobody backs does (vm_mmio): its entry is not present. */
		w->outcome = WALK_FAULT;
		w->error = access & (PFERR_W | PFERR_U | PFERR_FETCH);
	}
	if (w->outcome != WALK_OK)
		return;
	w->gpa = w->r.gpa;
	w->leaf_level = (unsigned)w->r.level;
	w->access = w->r.access;
	w->dirty = w->r.dirty;
	w->global = w->r.steps[w->r.level].pte & SPTE_G;
}

enum pf_outcome mmu_gva_to_gpa(struct shadow_mmu *m, const struct mmu_ctx *ctx, uint64_t gva,
			       uint32_t access, uint64_t *gpa, uint32_t *guest_error)
{
	struct gwalk w;

	(void)m;
	mmu_guest_walk(ctx, gva, access, &w);
	if (w.outcome == WALK_OK) {
		*gpa = w.gpa;
		return PF_FIXED;
	}
	if (w.outcome == WALK_FAULT) {
		*guest_error = w.error;
		return PF_GUEST;
	}
	return w.outcome == WALK_NONCANONICAL ? PF_NONCANONICAL : PF_BAD_TABLE;
}

/* --- filling --------------------------------------------------------------- */

/* The leaf entry for a successful walk, or 0 for MMIO. */
static uint64_t make_leaf(struct shadow_mmu *m, const struct mmu_ctx *ctx, const struct gwalk *w,
			  bool write, bool fetch)
{
	uint64_t mpa = mem_gpa_to_mpa(m->mem, w->gpa & ~0xfffULL);
	uint64_t spte;
	bool writable;

	if (mpa == (uint64_t)-1)
		return 0;
	spte = mpa | SPTE_P | SPTE_U | SPTE_A | SPTE_D;
	writable = (w->access & ACC_WRITE) || (!ctx->user && !ctx->cr0_wp);
	/* A/D emulation: a clean page stays read-only until its first write. */
	if (writable && (w->dirty || write) && !mmu_tracked(m, w->gpa >> 12))
		spte |= SPTE_W;
	if (ctx->efer_nx && !(w->access & ACC_EXEC))
		spte |= SPTE_NX;
	/* --shadow-patch: code runs only from a scanned frame, which then
	 * stays read-only, so that a write to it comes here first. */
	if (m->code && patch_scanned(m->code, w->gpa >> 12)) {
		spte &= ~SPTE_W;
		if (m->code_pkey && patch_in_frame(m->code, w->gpa >> 12))
			spte |= SPTE_PKEY_PATCH;    /* the guest's reads fault (PK) */
	} else if (m->code && !patch_mixed(m->code, w->gpa >> 12)) {
		spte |= SPTE_NX;
	}
	/* The kernel view does not run guest-user code unless the guest kernel
	 * itself fetches from it: a guest that reaches user mode without a
	 * trap (see shadow_native_transfer) then traps at its first fetch. */
	if (!ctx->user && (w->access & ACC_USER) && !fetch && ctx->path != PATH_NONPAGING)
		spte |= SPTE_NX;
	if (w->global && ctx->cr4_pge)
		spte |= SPTE_GUEST_GLOBAL;
	return spte;
}

/*
 * The shadow page at level (< 4) below the entry for gva, as the guest's
 * walk w says: the guest table itself, or a direct page under a guest
 * large page or with paging off.
 */
static bool child_of(const struct mmu_ctx *ctx, const struct gwalk *w, uint64_t gva,
		     unsigned level, uint64_t *gfn, union sp_role *role, const union sp_role *parent)
{
	*role = *parent;
	role->level = level;
	role->quadrant = 0;
	if (parent->direct || level < w->leaf_level) {
		/* direct: the gfns this page maps start at the region's base */
		uint64_t span = 1ULL << (9 * level);       /* pages covered */

		if (!parent->direct) {
			/* The top of a direct subtree (under a guest large page,
			 * or the root with paging off): the guest's rights and its
			 * D and G bits are part of what it says, so aliases of one
			 * frame with other bits do not share it; the pages below
			 * inherit them. */
			role->direct = 1;
			role->access = w->access;
			if (!w->dirty)
				role->access &= ~ACC_WRITE;
			role->global = w->global && ctx->cr4_pge;
		}
		*gfn = (w->gpa >> 12) & ~(span - 1);
		return true;
	}
	role->direct = 0;
	switch (ctx->path) {
	case PATH_PAGING64:
		/* One shadow level per guest level. */
		*gfn = w->r.steps[level].table_gfn;
		role->access = w->r.steps[level + 1].pt_access;
		return true;
	case PATH_PAGING32E:
		/* The real CPU walks four levels, the guest two plus its PDPTE
		 * registers: the shadow PDPT (level 3) is made from those
		 * registers, keyed like the root by CR3 (which is 32-byte
		 * aligned, so several PDPTs can share one page). */
		if (level == 3) {
			*gfn = mmu_root_gfn(ctx);
			role->access = ACC_ALL;
		} else {
			*gfn = w->r.steps[level].table_gfn;
			role->access = level == 2 ? ACC_ALL : w->r.steps[level + 1].pt_access;
		}
		return true;
	case PATH_PAGING32:
		/* 4-byte guest entries: a guest page directory (4 GiB) is
		 * shadowed by four shadow PDs, one per GiB, and a guest page
		 * table (4 MiB) by two shadow PTs, one per 2 MiB; the quadrant
		 * in the role says which part, as in KVM. */
		if (level == 3) {
			*gfn = mmu_root_gfn(ctx);
			role->access = ACC_ALL;
		} else if (level == 2) {
			*gfn = w->r.steps[2].table_gfn;
			role->quadrant = (gva >> 30) & 3;
			role->access = ACC_ALL;
		} else {
			*gfn = w->r.steps[1].table_gfn;
			role->quadrant = (gva >> 21) & 1;
			role->access = w->r.steps[2].pt_access;
		}
		return true;
	default:
		return false;
	}
}

/*
 * May the guest large page of walk w be shadowed by a 2 MiB leaf at gva?
 * Only when the 2 MiB of guest-physical memory under gva's half (or piece)
 * of it lie in one memslot, so the machine frames are contiguous, and no
 * guest table the shadow follows lies inside (KVM's rule), else it is split
 * into 4 KiB leaves.
 */
static bool large_ok(struct shadow_mmu *m, const struct gwalk *w)
{
	uint64_t base = w->gpa & ~0x1fffffULL;
	struct memslot *s;

	if (!m->large_pages || w->leaf_level < 2)
		return false;
	s = mem_find(m->mem, base);
	if (!s || base + 0x200000 > s->gpa + s->size)
		return false;
	if (m->sync != SYNC_VTLB)
		for (uint64_t g = base >> 12; g < (base >> 12) + 512; g++)
			if (mmu_tracked(m, g))
				return false;
	/* --shadow-patch: code runs from 4 KiB leaves of scanned frames; a
	 * large leaf maps only frames never scanned, and never runs code
	 * (make_leaf gives it NX): the first fetch through it splits it, as
	 * KVM's NX huge pages are split at their first fetch. */
	if (m->code)
		for (uint64_t g = base >> 12; g < (base >> 12) + 512; g++)
			if (patch_frame_of(m->code, g))
				return false;       /* scanned, or mixed */
	return true;
}

/*
 * Prefetch (KVM's PTE_PREFETCH_NUM): with the leaf for gva just filled in
 * sp, fill the empty entries of its aligned group of eight too, where the
 * guest's tables map them: a walk of each neighbour, as a read by the same
 * view, that must end in the same table and find its A bit already set (no
 * side effects on the guest).
 */
static void prefetch(struct shadow_mmu *m, const struct mmu_ctx *ctx, struct sp *sp, uint64_t gva)
{
	unsigned idx = spte_index(gva, 1), first = idx & ~7u, done = 0;
	uint32_t access = ctx->user ? PFERR_U : 0;

	for (unsigned i = first; i < first + 8 && done < m->prefetch; i++) {
		uint64_t *e = &sp->spt[i], ngva = (gva & ~(511ULL << 12)) | ((uint64_t)i << 12), leaf;
		struct gwalk nw;

		if (i == idx || (*e & SPTE_P))
			continue;
		mmu_guest_walk(ctx, ngva, access | WALK_PEEK, &nw);
		if (nw.outcome != WALK_OK)
			continue;
		if (sp->role.direct ? (nw.gpa >> 12) != sp->gfn + i :
		    nw.leaf_level != 1 || nw.r.steps[1].table_gfn != sp->gfn ||
		    !(nw.r.steps[1].pte & 0x20))
			continue;                        /* elsewhere, or never accessed */
		leaf = make_leaf(m, ctx, &nw, false, false);
		if (!leaf)
			continue;
		mmu_set_leaf(m, e, leaf);
		m->stats.prefetched++;
		done++;
	}
	if (done)
		mmu_emit(m, &(struct mmu_event){ .kind = TRACE_PREFETCH, .gva = gva, .count = done });
}

enum pf_outcome mmu_page_fault(struct shadow_mmu *m, const struct mmu_ctx *ctx, uint64_t gva,
			       uint32_t error, uint32_t *guest_error, uint64_t *gpa)
{
	uint32_t access = error & (PFERR_W | PFERR_FETCH);
	bool write = error & PFERR_W;
	struct gwalk w;
	struct sp *sp;
	uint64_t leaf;
	unsigned level;

	m->stats.pf_taken++;
	m->stats.by_path_taken[ctx->path]++;
	if (ctx->user)
		access |= PFERR_U;
	if (!ctx->efer_nx)
		access &= ~PFERR_FETCH;
	if (ctx->path == PATH_PAGING64 ? spte_index(gva, 4) == m->mon_slot && (gva >> 63) : (gva >> 32) != 0) {
		/* The monitor's 512 GiB are its in every root: to the guest
		 * they are unmapped memory, whatever its own tables say.  So is
		 * all above 4 GiB to a guest without long mode: only 64-bit code
		 * run natively (kvm_pvm, docs/shadow.md) reaches it, and a fill
		 * there could replace the monitor's slot. */
		m->stats.pf_guest++;
		m->stats.by_path_guest[ctx->path]++;
		*guest_error = access & (PFERR_W | PFERR_U | PFERR_FETCH);
		return PF_GUEST;
	}
	mmu_guest_walk(ctx, gva, access, &w);
	if (w.outcome == WALK_FAULT) {
		m->stats.pf_guest++;
		m->stats.by_path_guest[ctx->path]++;
		*guest_error = w.error;
		return PF_GUEST;
	}
	if (w.outcome == WALK_NONCANONICAL)
		return PF_NONCANONICAL;
	if (w.outcome != WALK_OK) {
		*gpa = w.r.bad_gpa;
		return PF_BAD_TABLE;
	}
	*gpa = w.gpa;
	if (m->code && mem_gpa_to_mpa(m->mem, w.gpa & ~0xfffULL) != (uint64_t)-1) {
		bool scanned = patch_scanned(m->code, w.gpa >> 12);

		if ((error & PFERR_FETCH) && !scanned && !patch_mixed(m->code, w.gpa >> 12))
			return PF_SCAN;
		if (write && scanned)
			return PF_CODE_WRITE;
	}
	if (write && mmu_tracked(m, w.gpa >> 12) && mmu_tracked_write(m, w.gpa >> 12)) {
		/* A write to a guest page table the shadow follows. */
		m->stats.pf_emulate++;
		mmu_emit(m, &(struct mmu_event){ .kind = TRACE_EMULATE_PTE_WRITE, .gva = gva, .gpa = w.gpa });
		return PF_EMULATE;
	}
	leaf = make_leaf(m, ctx, &w, write, error & PFERR_FETCH);
	if (!leaf) {
		m->stats.pf_mmio++;
		mmu_emit(m, &(struct mmu_event){ .kind = TRACE_MMIO, .gva = gva, .gpa = w.gpa });
		return PF_MMIO;
	}

	/* Room for a whole path before building it, so nothing on the path
	 * is recycled under our feet; start over only if that fails. */
	while (m->nr_pages - m->nr_used < 4)
		if (!recycle_one(m)) {
			mmu_zap_all(m);
			m->stats.mmu_recycled++;
			mmu_emit(m, &(struct mmu_event){ .kind = TRACE_RECYCLE, .count = 1 });
			break;
		}
	sp = current_root(m, ctx, false);
	for (level = 4; level > 1; level--) {
		uint64_t *e = &sp->spt[spte_index(gva, level)];
		uint64_t gfn;
		union sp_role role;
		struct sp *child;

		if (level == 2 && w.leaf_level >= 2) {
			if (large_ok(m, &w) && !(m->code && (error & PFERR_FETCH))) {
				/* One 2 MiB shadow leaf for this part of the guest's
				 * large page: same rights, frame of its 2 MiB base. */
				uint64_t big = (leaf & ~SPTE_ADDR & ~0xfffULL) | (leaf & 0xfffULL) | SPTE_PS |
					       (mem_gpa_to_mpa(m->mem, w.gpa & ~0x1fffffULL));

				if (*e == big) {
					m->stats.pf_spurious++;
					m->need_invlpg = true;
					m->flush_gva = gva;
					return PF_SPURIOUS;
				}
				if ((*e & SPTE_P) && (*e & SPTE_LINK))
					mmu_unlink_entry(m, e);
				if (*e & SPTE_P) {
					m->need_invlpg = true;
					m->flush_gva = gva;
				}
				mmu_set_leaf(m, e, big);
				m->stats.pf_fixed++;
				m->stats.large_fixed++;
				m->stats.by_path_fixed[ctx->path]++;
				m->stats.fixed_by_level[w.leaf_level]++;
				mmu_emit(m, &(struct mmu_event){ .kind = TRACE_FILL, .gva = gva, .gpa = w.gpa,
								 .level = w.leaf_level, .spte = big, .spte_large = true,
								 .gpte_valid = ctx->path != PATH_NONPAGING,
								 .gpte = w.r.steps[w.r.level].pte });
				return PF_FIXED;
			}
			m->stats.large_split++;
		}

		if (!child_of(ctx, &w, gva, level - 1, &gfn, &role, &sp->role))
			return PF_BAD_TABLE;
		child = (*e & SPTE_LINK) ? mmu_sp_of_mpa(m, *e & SPTE_ADDR) : NULL;
		if (!child || child->gfn != gfn || child->role.word != role.word) {
			/* Not linked yet, or the guest's tables moved on: (re)link. */
			child = get_sp(m, gfn, role);
			if (!child)
				return PF_BAD_TABLE;
			if (*e & SPTE_P) {
				m->need_invlpg = true;
				m->flush_gva = gva;
			}
			link_entry(m, e, child);
		}
		child->write_count = 0;                 /* used: not flooded */
		touch_lru(m, child);
		sp = child;
	}

	{
		uint64_t *e = &sp->spt[spte_index(gva, 1)];
		bool old_present = *e & SPTE_P;

		if (mmu_tracked(m, w.gpa >> 12))
			leaf &= ~SPTE_W;            /* its table may have been shadowed by this very fill */
		if (*e == leaf) {
			m->stats.pf_spurious++;
			m->need_invlpg = true;
			m->flush_gva = gva;
			return PF_SPURIOUS;
		}
		/* A dirty-bit fault: the shadow leaf was read-only only because
		 * the guest's was clean, and this walk set its D bit.  A write
		 * to a table let out of sync (unsync) or unprotected finds D
		 * set already: not one (issue 16, point 3). */
		if ((*e & SPTE_P) && write && !(*e & SPTE_W) && w.r.dirtied)
			m->stats.ad_faults++;
		if (*e & SPTE_P) {
			m->need_invlpg = true;
			m->flush_gva = gva;
		}
		mmu_set_leaf(m, e, leaf);
		(void)old_present;
		m->stats.pf_fixed++;
		m->stats.by_path_fixed[ctx->path]++;
		m->stats.fixed_by_level[w.leaf_level]++;
		mmu_emit(m, &(struct mmu_event){ .kind = TRACE_FILL, .gva = gva, .gpa = w.gpa,
						 .level = w.leaf_level, .spte = leaf,
						 .gpte_valid = ctx->path != PATH_NONPAGING,
						 .gpte = w.r.steps[w.r.level].pte });
		if (m->prefetch)
			prefetch(m, ctx, sp, gva);
	}
	return PF_FIXED;
}


/* --- --shadow-patch -------------------------------------------------------- */

/* Change every leaf that maps gfn: clear bits clr, set bits set. */
static void leaves_of_gfn(struct shadow_mmu *m, uint64_t gfn, uint64_t clr, uint64_t set)
{
	struct rmap_head *h = mmu_rmap_of(m, gfn);

	for (unsigned i = 0; h && i < h->n; i++) {
		uint64_t *e = pool_entry(m, h->sptes[i]), v = (*e & ~clr) | set;

		if (v != *e) {
			*e = v;                 /* same frame: the rmap stays */
			mmu_changed(m, e);
			m->need_reload = true;
		}
	}
}

void mmu_code_scanned(struct shadow_mmu *m, uint64_t gfn)
{
	/* A 2 MiB leaf over it (NX, make_leaf) goes: the fetch that follows
	 * fills 4 KiB leaves, this frame's read-only and running code. */
	if (mmu_zap_large_leaves(m, gfn & ~511ULL))
		m->need_reload = true;
	leaves_of_gfn(m, gfn, SPTE_W,
		      m->code_pkey && patch_in_frame(m->code, gfn) ? SPTE_PKEY_PATCH : 0);
}

void mmu_code_unscanned(struct shadow_mmu *m, uint64_t gfn)
{
	leaves_of_gfn(m, gfn, SPTE_PKEY, SPTE_NX);
}

void mmu_code_mixed(struct shadow_mmu *m, uint64_t gfn)
{
	leaves_of_gfn(m, gfn, SPTE_PKEY, 0);    /* W at the write's refault */
}
