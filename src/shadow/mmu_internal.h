/*
 * What the three files of the shadow MMU share, and nothing outside them
 * uses: mmu.c (shadow pages, the gfn hash, the lists, roots, faults),
 * mmu_sync.c (how the shadow follows the guest's tables: write
 * tracking, unsync, the vtlb flushes) and mmu_audit.c (--audit).  mmu.h
 * stays the public face.
 */
#ifndef OMBRA_MMU_INTERNAL_H
#define OMBRA_MMU_INTERNAL_H

#include "mmu.h"

#define LINK_BITS (SPTE_P | SPTE_W | SPTE_U | SPTE_A | SPTE_LINK)

static inline unsigned spte_index(uint64_t gva, unsigned level)
{
	return (unsigned)(gva >> (12 + 9 * (level - 1))) & 511;
}

/* Entry i of sp is the monitor's: its slot in a root. */
static inline bool mmu_is_mon_slot(const struct shadow_mmu *m, const struct sp *sp, unsigned i)
{
	return sp->role.level == 4 && i == m->mon_slot;
}

static inline uint64_t *pool_entry(const struct shadow_mmu *m, uint32_t off)
{
	return (uint64_t *)(m->pool_hva + off);
}

/* The bucket of the gfn hash (every shadow page of one guest frame, of
 * whatever role, is in the same bucket, as in KVM's mmu_page_hash). */
static inline unsigned gfn_hash(uint64_t gfn, unsigned size)
{
	return (unsigned)((gfn * 0x9e3779b97f4a7c15ULL) >> 40) % size;
}

/*
 * Every live shadow page of gfn, of any role (KVM's for_each_gfn_valid_sp).
 * The body may zap: each step starts again at the bucket's head and skips
 * the pages this walk has already visited (their stamp), so a page taken
 * out of the hash, or the chain changing under it, never derails it.
 */
struct sp *mmu_next_sp_of_gfn(struct shadow_mmu *m, uint64_t gfn, uint64_t stamp);
#define for_each_sp_of_gfn(m, gfn, sp)                                                  \
	for (uint64_t stamp_ = ++(m)->visit_stamp;                                       \
	     ((sp) = mmu_next_sp_of_gfn((m), (gfn), stamp_)) != NULL;)

/* The guest's walk, for every path. */
struct gwalk {
	enum walk_outcome outcome;
	uint64_t gpa;
	unsigned leaf_level;          /* 1: 4 KiB; 2, 3: a guest large page */
	unsigned access;              /* ACC_* over every level */
	bool dirty, global;
	uint32_t error;
	struct walk_result r;         /* the guest's entries (paging paths) */
};
void mmu_guest_walk(const struct mmu_ctx *ctx, uint64_t gva, uint32_t access, struct gwalk *w);

/* mmu.c: pages, entries, roots. */
struct sp *mmu_sp_of_mpa(struct shadow_mmu *m, uint64_t mpa);
union sp_role mmu_root_role(const struct mmu_ctx *ctx);
uint64_t mmu_root_gfn(const struct mmu_ctx *ctx);
void mmu_changed(struct shadow_mmu *m, uint64_t *e);
void mmu_set_leaf(struct shadow_mmu *m, uint64_t *e, uint64_t val);
void mmu_clear_entry(struct shadow_mmu *m, uint64_t *e);
void mmu_unlink_entry(struct shadow_mmu *m, uint64_t *e);
void mmu_zap_sp(struct shadow_mmu *m, struct sp *sp);
unsigned mmu_zap_large_leaves(struct shadow_mmu *m, uint64_t base);
struct rmap_head *mmu_rmap_of(struct shadow_mmu *m, uint64_t gfn);
void mmu_unsync_add(struct shadow_mmu *m, struct sp *sp);
void mmu_unsync_del(struct shadow_mmu *m, struct sp *sp);

/* mmu_sync.c: write tracking. */
bool mmu_sp_tracks(const struct shadow_mmu *m, const struct sp *sp);
bool mmu_tracked(struct shadow_mmu *m, uint64_t gfn);
void mmu_track_inc(struct shadow_mmu *m, uint64_t gfn);
void mmu_track_dec(struct shadow_mmu *m, uint64_t gfn);
void mmu_track_clear(struct shadow_mmu *m);
/* A write fault on the guest table at gfn, which the shadow tracks: true
 * if it must be emulated; false when (unsync) its shadow pages went out
 * of sync instead and the fill may make the guest's mapping writable. */
bool mmu_tracked_write(struct shadow_mmu *m, uint64_t gfn);
/* get_sp found sp again: sync it, or the out-of-sync pages below it, entry
 * by entry, leaving them out of sync (unsync). */
void mmu_sync_found(struct shadow_mmu *m, struct sp *sp);

#endif
