/*
 * The shadow MMU.
 *
 * 1. Shadow pages.  Every page of the pool is one shadow page: 512 entries
 *    the real CPU walks.  A shadow page stands for one guest page table
 *    (gfn) seen under one role, or, when role.direct is set, for a range
 *    of guest-physical memory mapped straight through (a guest with paging
 *    off, or a guest large page split into 4 KiB shadow entries).  Lookup
 *    is by hash of (gfn, role); one integer compare says two roles match.
 * 2. Roots.  The real CR3 points at a level-4 shadow page: for the guest's
 *    CR3 under its current role (kernel or user view, CR0.WP, EFER.NXE).
 *    The last MMU_ROOT_CACHE roots per view stay cached, so switching back
 *    to a recent address space costs no allocation (root_hits).  Entry 511
 *    of every root maps the monitor, supervisor-only.
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
 * 5. Lifetime.  A shadow page lives while a cached root or a shadow entry
 *    links to it (root_count; parents lists the linking entries); when the
 *    last link goes it is freed, and its own links with it.  So every live
 *    shadow page can be reached from a cached root, and a flush of the
 *    cached roots reaches every translation the shadow holds.  When the
 *    pool runs low, the least recently used page that is not a root is
 *    recycled: unlinked from every parent (mmu_recycled).
 * 7. The reverse map (rmap) lists, per guest frame, the leaves that map it,
 *    so a change to ombra's own mapping of guest memory zaps exactly those.
 * 6. Coherence, vtlb strategy: the shadow is a virtual TLB.  A CR3 write
 *    drops every non-global leaf of every cached root (a TLB flush).
 *    INVLPG drops the address's leaf and, like the paging-structure caches
 *    INVLPG also clears, the link to its page table: other addresses may
 *    share that shadow page (a guest frame mapped twice), and must not keep
 *    a translation through a table entry the guest has changed.  An upper
 *    shadow entry that points at the wrong guest table after the guest
 *    rewrote its tables is repaired by the next fill through it.
 */
#include "mmu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mmu_path_names[PATH_COUNT] = {
	[PATH_NONPAGING] = "nonpaging",
	[PATH_PAGING32] = "paging32",
	[PATH_PAGING32E] = "paging32e",
	[PATH_PAGING64] = "paging64",
};

#define LINK_BITS (SPTE_P | SPTE_W | SPTE_U | SPTE_A | SPTE_LINK)

static unsigned spte_index(uint64_t gva, unsigned level)
{
	return (unsigned)(gva >> (12 + 9 * (level - 1))) & 511;
}

/* --- the walker's view of guest memory --------------------------------- */

static void *gpa_ptr(void *opaque, uint64_t gpa, unsigned len)
{
	return mem_gpa_to_hva(opaque, gpa, len);
}

void mmu_ctx_init(struct mmu_ctx *ctx, const struct guest_mem *mem, uint64_t cr0, uint64_t cr4,
		  uint64_t efer, unsigned maxphyaddr)
{
	unsigned flags = 0;
	enum walk_mode mode = WALK_PAGING64;

	memset(ctx, 0, sizeof(*ctx));
	ctx->cr0_wp = cr0 & CR0_WP;
	ctx->cr4_pge = cr4 & CR4_PGE;
	if (!(cr0 & CR0_PG)) {
		ctx->path = PATH_NONPAGING;
	} else if (efer & EFER_LMA) {
		ctx->path = PATH_PAGING64;
		mode = WALK_PAGING64;
	} else if (cr4 & CR4_PAE) {
		ctx->path = PATH_PAGING32E;
		mode = WALK_PAGING32E;
	} else {
		ctx->path = PATH_PAGING32;
		mode = WALK_PAGING32;
	}
	ctx->efer_nx = ctx->path != PATH_NONPAGING && ctx->path != PATH_PAGING32 && (efer & EFER_NXE);
	if (ctx->cr0_wp)
		flags |= WALK_CR0_WP;
	if (cr4 & CR4_PSE)
		flags |= WALK_CR4_PSE;
	if (ctx->efer_nx)
		flags |= WALK_EFER_NXE;
	walk_init(&ctx->walk, mode, flags, maxphyaddr, gpa_ptr, (void *)mem);
}

/* --- shadow pages -------------------------------------------------------- */

static unsigned hash_of(uint64_t gfn, uint32_t role, unsigned size)
{
	uint64_t h = (gfn * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)role * 0xc2b2ae3d27d4eb4fULL);

	return (unsigned)(h >> 40) % size;
}

static struct sp *sp_of_mpa(struct shadow_mmu *m, uint64_t mpa)
{
	uint64_t i = (mpa - m->pool_mpa) >> 12;

	return i < m->nr_pages ? &m->sps[i] : NULL;
}

int mmu_init(struct shadow_mmu *m, const struct guest_mem *mem, uint8_t *pool_hva,
	     uint64_t pool_mpa, unsigned nr_pages, uint64_t mon_pml4e)
{
	memset(m, 0, sizeof(*m));
	if (nr_pages < 16)
		return -EINVAL;
	m->mem = mem;
	m->pool_hva = pool_hva;
	m->pool_mpa = pool_mpa;
	m->nr_pages = nr_pages;
	m->mon_pml4e = mon_pml4e;
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

static void track_clear(struct shadow_mmu *m)
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

void mmu_destroy(struct shadow_mmu *m)
{
	rmap_clear(m);
	track_clear(m);
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
	struct rmap_head **pp = &m->rmap[(gfn * 0x9e3779b97f4a7c15ULL >> 40) % m->rmap_size];

	while (*pp && (*pp)->gfn != gfn)
		pp = &(*pp)->next;
	return pp;
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

static void retire_root(struct shadow_mmu *m, struct sp *sp);

/*
 * Drop every shadow page.  The root the real CPU has loaded keeps its
 * monitor entry until the CPU has left it: the resume stub that loads the
 * next root runs on it (retire_root).
 */
void mmu_zap_all(struct shadow_mmu *m)
{
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < MMU_ROOT_CACHE; i++)
			if (m->root_cache[v][i])
				retire_root(m, m->root_cache[v][i]);
	for (unsigned i = 0; i < m->nr_pages; i++) {
		struct sp *sp = &m->sps[i];

		if (!sp->used || sp->retired)
			continue;
		m->stats.mmu_shadow_zapped++;
		memset(sp->spt, 0, 4096);
		sp->used = false;
		sp->root_count = sp->parent_count = 0;
		sp->nparents = 0;
		sp->hash_next = NULL;
		m->nr_used--;
	}
	for (unsigned i = 0; i < m->hash_size; i++) {
		/* only retired roots can be left, and they are out of the hash */
		m->hash[i] = NULL;
	}
	memset(m->root_cache, 0, sizeof(m->root_cache));
	rmap_clear(m);
	track_clear(m);
	m->need_reload = true;
	m->touch_overflow = true;      /* everything changed: resync the host wholesale */
}

static void free_sp(struct shadow_mmu *m, struct sp *sp);
static bool recycle_one(struct shadow_mmu *m);
static void unhash(struct shadow_mmu *m, struct sp *sp);
static void set_leaf(struct shadow_mmu *m, uint64_t *e, uint64_t val);
static void unlink_entry(struct shadow_mmu *m, uint64_t *e);
static bool sp_tracks(const struct shadow_mmu *m, const struct sp *sp);
static void track_inc(struct shadow_mmu *m, uint64_t gfn);
static void track_dec(struct shadow_mmu *m, uint64_t gfn);
static void changed(struct shadow_mmu *m, uint64_t *e);

/* Find the shadow page for (gfn, role), or make one (recycling the least
 * recently used page when the pool is full). */
static struct sp *get_sp(struct shadow_mmu *m, uint64_t gfn, union sp_role role)
{
	unsigned h = hash_of(gfn, role.word, m->hash_size);
	struct sp *sp;

	for (sp = m->hash[h]; sp; sp = sp->hash_next)
		if (sp->gfn == gfn && sp->role.word == role.word) {
			sp->last_used = ++m->clock;
			return sp;
		}
	m->stats.mmu_cache_miss++;
	if (m->nr_used == m->nr_pages && !recycle_one(m))
		return NULL;
	for (unsigned i = 0; i < m->nr_pages; i++) {
		sp = &m->sps[i];
		if (sp->used)
			continue;
		sp->used = true;
		sp->gfn = gfn;
		sp->role = role;
		sp->root_count = sp->parent_count = 0;
		sp->nparents = 0;
		sp->unsync = false;
		sp->retired = false;
		sp->write_count = 0;
		sp->last_used = ++m->clock;
		sp->hash_next = m->hash[h];
		m->hash[h] = sp;
		m->nr_used++;
		if (role.level == 4)
			sp->spt[511] = m->mon_pml4e;
		for (unsigned k = 0; k < m->nr_unprot; k++)
			if (m->unprot[k] == gfn && sp_tracks(m, sp)) {
				sp->unsync = true;
				m->nr_unsync = 1;
				m->stats.mmu_unsync++;
			}
		if (sp_tracks(m, sp))
			track_inc(m, gfn);
		return sp;
	}
	return NULL;
}

/* A present entry was changed in place: the host's KVM must be told. */
static void changed(struct shadow_mmu *m, uint64_t *e)
{
	if (m->nr_touch < MMU_TOUCH_MAX)
		m->touch[m->nr_touch++] = pool_off(m, e);
	else
		m->touch_overflow = true;
}

/* Every change to a leaf goes through here: rmap and the host's KVM follow. */
static void set_leaf(struct shadow_mmu *m, uint64_t *e, uint64_t val)
{
	if (*e & SPTE_P) {
		rmap_del(m, leaf_gfn(m, *e), e);
		changed(m, e);
	}
	*e = val;
	if (val & SPTE_P)
		rmap_add(m, leaf_gfn(m, val), e);
}

/* Clear one present entry, link or leaf. */
static void clear_entry(struct shadow_mmu *m, uint64_t *e)
{
	if (*e & SPTE_LINK)
		unlink_entry(m, e);
	else
		set_leaf(m, e, 0);
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

/* Clear a link entry; the child goes when nothing else holds it. */
static void unlink_entry(struct shadow_mmu *m, uint64_t *e)
{
	struct sp *child = sp_of_mpa(m, *e & SPTE_ADDR);

	*e = 0;
	changed(m, e);
	if (!child || !child->used)
		return;
	parent_del(child, pool_off(m, e));
	child->parent_count--;
	if (child->parent_count == 0 && child->root_count == 0)
		free_sp(m, child);
}

static void link_entry(struct shadow_mmu *m, uint64_t *e, struct sp *child)
{
	if ((*e & SPTE_P) && !(*e & SPTE_LINK))
		set_leaf(m, e, 0);                     /* a 2 MiB leaf the table replaces */
	if ((*e & SPTE_P) && (*e & SPTE_LINK)) {
		if (sp_of_mpa(m, *e & SPTE_ADDR) == child)
			return;
		child->parent_count++;         /* first: the old link may hold it too */
		unlink_entry(m, e);
		child->parent_count--;
	}
	child->parent_count++;
	parent_add(child, pool_off(m, e));
	*e = child->mpa | LINK_BITS;
}

static void free_sp(struct shadow_mmu *m, struct sp *sp)
{
	struct sp **pp = &m->hash[hash_of(sp->gfn, sp->role.word, m->hash_size)];

	/* Clear every present entry (each one the host's KVM is told of), so
	 * the page is all zeros when it is used again. */
	for (unsigned i = 0; i < 512; i++) {
		uint64_t *e = &sp->spt[i];

		if (!(*e & SPTE_P))
			continue;
		if (sp->role.level == 4 && i == 511) {
			*e = 0;
			changed(m, e);
		} else if (*e & SPTE_LINK) {
			unlink_entry(m, e);
		} else {
			set_leaf(m, e, 0);
		}
	}
	if (sp_tracks(m, sp))
		track_dec(m, sp->gfn);
	(void)pp;
	unhash(m, sp);
	sp->used = false;
	sp->hash_next = NULL;
	sp->nparents = 0;
	m->nr_used--;
	m->stats.mmu_shadow_zapped++;
}

/* --- retiring roots --------------------------------------------------------- */

static void unhash(struct shadow_mmu *m, struct sp *sp)
{
	struct sp **pp = &m->hash[hash_of(sp->gfn, sp->role.word, m->hash_size)];

	while (*pp && *pp != sp)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = sp->hash_next;
	sp->hash_next = NULL;
}

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
	if (sp_tracks(m, sp))
		track_dec(m, sp->gfn);
	unhash(m, sp);
	sp->retired = true;
	m->nr_retired++;
	for (unsigned i = 0; i < 511; i++)
		if (sp->spt[i] & SPTE_P)
			clear_entry(m, &sp->spt[i]);
	m->need_reload = true;
}

void mmu_trap_begin(struct shadow_mmu *m)
{
	/* Every trap comes here: the scan only when there is something. */
	if (!m->nr_retired)
		return;
	for (unsigned i = 0; i < m->nr_pages; i++) {
		struct sp *sp = &m->sps[i];

		if (sp->used && sp->retired && sp != m->loaded_root) {
			memset(sp->spt, 0, 4096);
			sp->used = false;
			sp->retired = false;
			m->nr_retired--;
			sp->nparents = 0;
			m->nr_used--;
			m->stats.mmu_shadow_zapped++;
			m->touch_overflow = true;    /* the host's KVM saw this page as a table */
		}
	}
}

void mmu_root_loaded(struct shadow_mmu *m, uint64_t root_mpa)
{
	m->loaded_root = sp_of_mpa(m, root_mpa);
}

/* --- write tracking (wp, unsync) ------------------------------------------ */

/* Does this shadow page stand for a guest table whose writes must be seen?
 * Not a direct page, nor ombra's own upper levels for a 32-bit guest (a PAE
 * guest's PDPT is read only at CR3 loads), nor an unsync one. */
static bool sp_tracks(const struct shadow_mmu *m, const struct sp *sp)
{
	return m->sync != SYNC_VTLB && !sp->role.direct && !sp->unsync &&
	       (sp->role.path == PATH_PAGING64 || sp->role.level <= 2);
}

static struct track **track_slot(struct shadow_mmu *m, uint64_t gfn)
{
	struct track **pp = &m->track[(gfn * 0x9e3779b97f4a7c15ULL >> 40) % m->track_size];

	while (*pp && (*pp)->gfn != gfn)
		pp = &(*pp)->next;
	return pp;
}

/* Zap the 2 MiB leaves that map the 2 MiB region starting at base (they
 * are in the rmap under their first frame).  Returns how many. */
static unsigned zap_large_leaves(struct shadow_mmu *m, uint64_t base)
{
	struct rmap_head *h = *rmap_slot(m, base);
	unsigned n = 0;

	for (unsigned i = 0; h && i < h->n;) {
		uint64_t *e = (uint64_t *)(m->pool_hva + h->sptes[i]);

		if (!(*e & SPTE_PS)) {
			i++;
			continue;
		}
		n++;
		if (h->n == 1) {            /* set_leaf frees h with its last entry */
			set_leaf(m, e, 0);
			break;
		}
		set_leaf(m, e, 0);
	}
	return n;
}

static bool tracked(struct shadow_mmu *m, uint64_t gfn)
{
	return m->sync != SYNC_VTLB && *track_slot(m, gfn) != NULL;
}

/* Start tracking gfn for one more shadow page; the first makes every leaf
 * that maps the guest table read-only, so the guest's writes trap. */
static void track_inc(struct shadow_mmu *m, uint64_t gfn)
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
	if (zap_large_leaves(m, gfn & ~511ULL))
		m->need_reload = true;
	h = *rmap_slot(m, gfn);
	for (unsigned i = 0; h && i < h->n; i++) {
		uint64_t *e = (uint64_t *)(m->pool_hva + h->sptes[i]);

		if (*e & SPTE_W) {
			*e &= ~SPTE_W;          /* set_leaf's rmap work is not needed: same frame */
			changed(m, e);
			m->stats.write_protected++;
			m->need_reload = true;
		}
	}
}

static void track_dec(struct shadow_mmu *m, uint64_t gfn)
{
	struct track **pp = track_slot(m, gfn), *t = *pp;

	if (t && --t->count == 0) {
		*pp = t->next;
		free(t);
	}
}

/* Recycle the least recently used shadow page that is not a root: unlink
 * it from every entry that points at it, which frees it (and whatever only
 * it held). */
static bool recycle_one(struct shadow_mmu *m)
{
	struct sp *victim = NULL;

	for (unsigned i = 0; i < m->nr_pages; i++) {
		struct sp *sp = &m->sps[i];

		if (sp->used && !sp->retired && sp->root_count == 0 && sp->nparents == sp->parent_count &&
		    (!victim || sp->last_used < victim->last_used))
			victim = sp;
	}
	if (!victim)
		return false;
	m->stats.mmu_recycled++;
	while (victim->used && victim->nparents)
		unlink_entry(m, (uint64_t *)(m->pool_hva + victim->parents[0]));
	m->need_reload = true;           /* the real TLB may hold what it mapped */
	return true;
}

/* --- roots --------------------------------------------------------------- */

static union sp_role root_role(const struct mmu_ctx *ctx)
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
static uint64_t root_gfn(const struct mmu_ctx *ctx)
{
	switch (ctx->path) {
	case PATH_NONPAGING:  return 0;
	case PATH_PAGING32E:  return (ctx->cr3 & 0xffffffe0ULL) >> 5;
	case PATH_PAGING32:   return (ctx->cr3 & 0xfffff000ULL) >> 12;
	default:              return (ctx->cr3 & SPTE_ADDR) >> 12;
	}
}

/* The root for ctx, made the most recent in its view's cache. */
static struct sp *current_root(struct shadow_mmu *m, const struct mmu_ctx *ctx, bool count)
{
	union sp_role role = root_role(ctx);
	uint64_t gfn = root_gfn(ctx);
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
			sp = get_sp(m, gfn, role);
		}
		i = MMU_ROOT_CACHE - 1;
		sp->root_count++;
		if (cache[i]) {
			/* Out of the cache: nothing will flush it any more, so it
			 * goes (unless the other view still holds it). */
			struct sp *old = cache[i];

			cache[i] = NULL;
			if (--old->root_count == 0 && old->parent_count == 0) {
				if (old == m->loaded_root)
					retire_root(m, old);
				else
					free_sp(m, old);
			}
		}
	}
	memmove(&cache[1], &cache[0], i * sizeof(cache[0]));
	cache[0] = sp;
	sp->last_used = ++m->clock;
	return sp;
}

bool mmu_root_cached(const struct shadow_mmu *m, const struct mmu_ctx *ctx)
{
	union sp_role role = root_role(ctx);
	uint64_t gfn = root_gfn(ctx);

	for (unsigned i = 0; i < MMU_ROOT_CACHE; i++) {
		const struct sp *sp = m->root_cache[ctx->user][i];

		if (sp && sp->gfn == gfn && sp->role.word == role.word)
			return true;
	}
	return false;
}

uint64_t mmu_root(struct shadow_mmu *m, const struct mmu_ctx *ctx)
{
	return current_root(m, ctx, true)->mpa;
}

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
			struct sp *child = sp_of_mpa(m, *e & SPTE_ADDR);

			if (child && flush_tree(m, child, keep_global))
				left = true;
			else
				unlink_entry(m, e);
		} else if (keep_global && (*e & SPTE_GUEST_GLOBAL)) {
			left = true;
		} else {
			set_leaf(m, e, 0);
		}
	}
	return left;
}

/*
 * unsync: bring every out-of-sync table back.  ombra does not keep the
 * guest entries a shadow table was built from, so it syncs by dropping the
 * table's entries (they refault from the guest's current ones) and tracks
 * the table's writes again.
 */
static void sync_unsync(struct shadow_mmu *m)
{
	m->nr_unprot = 0;
	/* nr_unsync is only "some may be": the scan when there may be any */
	if (!m->nr_unsync)
		return;
	m->nr_unsync = 0;
	for (unsigned i = 0; i < m->nr_pages; i++) {
		struct sp *sp = &m->sps[i];

		if (!sp->used || !sp->unsync)
			continue;
		for (unsigned j = 0; j < 512; j++)
			if ((sp->spt[j] & SPTE_P) && !(sp->role.level == 4 && j == 511))
				clear_entry(m, &sp->spt[j]);
		sp->unsync = false;
		track_inc(m, sp->gfn);
		m->stats.unsync_synced++;
		m->need_reload = true;
	}
}

void mmu_new_cr3(struct shadow_mmu *m, const struct mmu_ctx *ctx, bool flush_global)
{
	/* Global translations survive only a plain CR3 write with CR4.PGE on.
	 * A change of CR4.PSE changes what every PDE means: flush it all. */
	int pse = (ctx->walk.flags & WALK_CR4_PSE) != 0;
	bool keep_global;

	if (m->last_pse >= 0 && pse != m->last_pse)
		flush_global = true;
	m->last_pse = pse;
	keep_global = !flush_global && ctx->cr4_pge;

	m->stats.cr3_writes++;
	m->stats.tlb_flush++;
	if (m->sync == SYNC_VTLB || flush_global) {
		/* vtlb: a CR3 write is a TLB flush of every address space (no
		 * PCIDs).  A paging-mode or CR4.PGE change flushes in every
		 * strategy. */
		for (int v = 0; v < 2; v++)
			for (int i = 0; i < MMU_ROOT_CACHE; i++)
				if (m->root_cache[v][i])
					flush_tree(m, m->root_cache[v][i], keep_global);
	} else {
		/* The shadow follows the guest's writes; only tables let out of
		 * sync need work at a CR3 load.  Cached roots stay valid, but
		 * for a PAE guest the load rereads the four PDPTEs, which are not
		 * a table the shadow follows: the shadow PDPT is made again. */
		sync_unsync(m);               /* also a root unprotected in wp */
		for (int v = 0; v < 2; v++)
			for (int i = 0; i < MMU_ROOT_CACHE; i++) {
				struct sp *root = m->root_cache[v][i];

				if (root && root->role.path == PATH_PAGING32E && (root->spt[0] & SPTE_P))
					unlink_entry(m, &root->spt[0]);
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
			set_leaf(m, e, 0);
			return;
		}
		child = sp_of_mpa(m, *e & SPTE_ADDR);
		if (!child)
			return;
		if (child->role.direct && !sp->role.direct) {
			/* A guest large page: INVLPG invalidates all of it. */
			unlink_entry(m, e);
			m->need_reload = true;
			return;
		}
		if (level == 2) {
			uint64_t *leaf = &child->spt[spte_index(gva, 1)];

			if (*leaf & SPTE_P)
				set_leaf(m, leaf, 0);
			unlink_entry(m, e);
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

void mmu_zap_gfn_range(struct shadow_mmu *m, uint64_t gfn, uint64_t count)
{
	/* 2 MiB leaves are in the rmap under their first frame. */
	for (uint64_t g = gfn & ~511ULL; g < gfn + count; g += 512)
		m->stats.rmap_zapped += zap_large_leaves(m, g);
	for (uint64_t g = gfn; g < gfn + count; g++) {
		struct rmap_head *h = *rmap_slot(m, g);

		while (h && h->n) {
			/* set_leaf removes the entry from h, and h itself with the last */
			uint64_t *e = (uint64_t *)(m->pool_hva + h->sptes[h->n - 1]);
			bool last = h->n == 1;

			set_leaf(m, e, 0);
			m->stats.rmap_zapped++;
			if (last)
				break;
		}
	}
	m->need_reload = true;
}

/* Take one shadow page out of every entry that links to it (it is freed). */
static void zap_sp(struct shadow_mmu *m, struct sp *sp)
{
	while (sp->used && sp->nparents)
		unlink_entry(m, (uint64_t *)(m->pool_hva + sp->parents[0]));
	m->need_reload = true;
}

void mmu_pte_write(struct shadow_mmu *m, uint64_t gpa, unsigned len)
{
	uint64_t gfn = gpa >> 12;
	unsigned off = (unsigned)(gpa & 0xfff);

	m->stats.mmu_pte_write++;
	for (unsigned i = 0; i < m->nr_pages; i++) {
		struct sp *sp = &m->sps[i];
		unsigned size, first, last;

		if (!sp->used || sp->gfn != gfn || !sp_tracks(m, sp))
			continue;
		/* Flooding: a table written again and again without being used
		 * in between is no longer one (KVM's detect_write_flooding). */
		if (++sp->write_count >= 3 && sp->root_count == 0) {
			m->stats.mmu_flooded++;
			zap_sp(m, sp);
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
				clear_entry(m, e);
				m->need_reload = true;
			}
		}
	}
}

void mmu_unprotect_gfn(struct shadow_mmu *m, uint64_t gfn)
{
	/* Until the next CR3 load or INVLPG, shadow pages made for this table
	 * start out of sync: the fill that retries the store may walk through
	 * the very table it writes, and must not write-protect it again. */
	if (m->nr_unprot < sizeof(m->unprot) / sizeof(m->unprot[0]))
		m->unprot[m->nr_unprot++] = gfn;
	for (unsigned i = 0; i < m->nr_pages; i++) {
		struct sp *sp = &m->sps[i];

		if (sp->used && sp->gfn == gfn && sp_tracks(m, sp)) {
			if (sp->root_count) {
				/* A root cannot go while the CPU may use it: it goes
				 * out of sync, made again at the next CR3 load or
				 * INVLPG. */
				track_dec(m, sp->gfn);
				sp->unsync = true;
				m->nr_unsync = 1;
				m->stats.mmu_unsync++;
			} else {
				zap_sp(m, sp);
			}
		}
	}
}

/* --- the guest's walk, for every path ------------------------------------ */

struct gwalk {
	enum walk_outcome outcome;
	uint64_t gpa;
	unsigned leaf_level;          /* 1: 4 KiB; 2, 3: a guest large page */
	unsigned access;              /* ACC_* over every level */
	bool dirty, global;
	uint32_t error;
	struct walk_result r;         /* the guest's entries (paging paths) */
};

static void guest_walk(const struct mmu_ctx *ctx, uint64_t gva, uint32_t access, struct gwalk *w)
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
	guest_walk(ctx, gva, access, &w);
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
	if (writable && (w->dirty || write) && !tracked(m, w->gpa >> 12))
		spte |= SPTE_W;
	if (ctx->efer_nx && !(w->access & ACC_EXEC))
		spte |= SPTE_NX;
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
			*gfn = root_gfn(ctx);
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
			*gfn = root_gfn(ctx);
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
			if (*track_slot(m, g))
				return false;
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
		guest_walk(ctx, ngva, access | WALK_PEEK, &nw);
		if (nw.outcome != WALK_OK)
			continue;
		if (sp->role.direct ? (nw.gpa >> 12) != sp->gfn + i :
		    nw.leaf_level != 1 || nw.r.steps[1].table_gfn != sp->gfn ||
		    !(nw.r.steps[1].pte & 0x20))
			continue;                        /* elsewhere, or never accessed */
		leaf = make_leaf(m, ctx, &nw, false, false);
		if (!leaf)
			continue;
		set_leaf(m, e, leaf);
		m->stats.prefetched++;
		done++;
	}
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
	if (ctx->path == PATH_PAGING64 ? spte_index(gva, 4) == 511 && (gva >> 63) : (gva >> 32) != 0) {
		/* The top 512 GiB are the monitor's in every root: to the guest
		 * they are unmapped memory, whatever its own tables say.  So is
		 * all above 4 GiB to a guest without long mode: only 64-bit code
		 * run natively (kvm_pvm, docs/shadow.md) reaches it, and a fill
		 * there could replace the monitor's slot. */
		m->stats.pf_guest++;
		m->stats.by_path_guest[ctx->path]++;
		*guest_error = access & (PFERR_W | PFERR_U | PFERR_FETCH);
		return PF_GUEST;
	}
	guest_walk(ctx, gva, access, &w);
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
	if (write && tracked(m, w.gpa >> 12)) {
		/* A write to a guest page table the shadow follows. */
		bool leaves_only = m->sync == SYNC_UNSYNC;

		for (unsigned i = 0; leaves_only && i < m->nr_pages; i++) {
			struct sp *sp = &m->sps[i];

			if (sp->used && sp->gfn == (w.gpa >> 12) && sp_tracks(m, sp) &&
			    (sp->role.level != 1 || sp->root_count))
				leaves_only = false;
		}
		if (!leaves_only) {
			m->stats.pf_emulate++;
			return PF_EMULATE;
		}
		/* unsync: a leaf table may go out of sync; the guest then writes
		 * it natively until the next CR3 load or INVLPG (KVM's unsync). */
		for (unsigned i = 0; i < m->nr_pages; i++) {
			struct sp *sp = &m->sps[i];

			if (sp->used && sp->gfn == (w.gpa >> 12) && sp_tracks(m, sp)) {
				track_dec(m, sp->gfn);
				sp->unsync = true;
				m->nr_unsync = 1;
				m->stats.mmu_unsync++;
			}
		}
	}
	leaf = make_leaf(m, ctx, &w, write, error & PFERR_FETCH);
	if (!leaf) {
		m->stats.pf_mmio++;
		return PF_MMIO;
	}

	/* Room for a whole path before building it, so nothing on the path
	 * is recycled under our feet; start over only if that fails. */
	while (m->nr_pages - m->nr_used < 4)
		if (!recycle_one(m)) {
			mmu_zap_all(m);
			m->stats.mmu_recycled++;
			break;
		}
	sp = current_root(m, ctx, false);
	for (level = 4; level > 1; level--) {
		uint64_t *e = &sp->spt[spte_index(gva, level)];
		uint64_t gfn;
		union sp_role role;
		struct sp *child;

		if (level == 2 && w.leaf_level >= 2) {
			if (large_ok(m, &w)) {
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
					unlink_entry(m, e);
				if (*e & SPTE_P) {
					m->need_invlpg = true;
					m->flush_gva = gva;
				}
				set_leaf(m, e, big);
				m->stats.pf_fixed++;
				m->stats.large_fixed++;
				m->stats.by_path_fixed[ctx->path]++;
				m->stats.fixed_by_level[w.leaf_level]++;
				return PF_FIXED;
			}
			m->stats.large_split++;
		}

		if (!child_of(ctx, &w, gva, level - 1, &gfn, &role, &sp->role))
			return PF_BAD_TABLE;
		child = (*e & SPTE_LINK) ? sp_of_mpa(m, *e & SPTE_ADDR) : NULL;
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
		sp = child;
	}

	{
		uint64_t *e = &sp->spt[spte_index(gva, 1)];
		bool old_present = *e & SPTE_P;

		if (tracked(m, w.gpa >> 12))
			leaf &= ~SPTE_W;            /* its table may have been shadowed by this very fill */
		if (*e == leaf) {
			m->stats.pf_spurious++;
			m->need_invlpg = true;
			m->flush_gva = gva;
			return PF_SPURIOUS;
		}
		if ((*e & SPTE_P) && write && !(*e & SPTE_W))
			m->stats.ad_faults++;
		if (*e & SPTE_P) {
			m->need_invlpg = true;
			m->flush_gva = gva;
		}
		set_leaf(m, e, leaf);
		(void)old_present;
		if (m->prefetch)
			prefetch(m, ctx, sp, gva);
	}
	m->stats.pf_fixed++;
	m->stats.by_path_fixed[ctx->path]++;
	m->stats.fixed_by_level[w.leaf_level]++;
	return PF_FIXED;
}

/* --- audit ----------------------------------------------------------------- */

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

		if (!(e & SPTE_P) || (sp->role.level == 4 && i == 511))
			continue;
		gva = base | ((uint64_t)i << (12 + 9 * (sp->role.level - 1)));
		if (sp->role.level == 4 && (gva & (1ULL << 47)))
			gva |= 0xffff000000000000ULL;
		if (a->one && spte_index(a->gva, sp->role.level) != i)
			continue;
		if (!(e & SPTE_LINK) && (e & SPTE_GUEST_GLOBAL) && !a->one)
			continue;                   /* a global page may outlive a CR3 load */
		if (e & SPTE_LINK) {
			struct sp *child = sp_of_mpa(a->m, e & SPTE_ADDR);

			if (!child || !child->used)
				audit_bad(a, "gva %#llx: link to a free shadow page %#llx", gva, e);
			else
				audit_tree(a, child, gva, view);
			continue;
		}
		guest_walk(view, gva, WALK_PEEK | (view->user ? PFERR_U : 0), &w);
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
		if (!root || root->gfn != root_gfn(ctx) || root->role.word != root_role(&view).word)
			continue;
		if (one && view.user != ctx->user)
			continue;
		audit_tree(&a, root, 0, &view);
	}
	return a.bad;
}
