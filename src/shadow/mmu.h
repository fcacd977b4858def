/*
 * The shadow MMU: page tables the real CPU uses in shadow mode, built by
 * ombra from the guest's, lazily, one hidden fault at a time.
 *
 * Shaped like KVM's (arch/x86/kvm/mmu): one set of operations per guest
 * paging mode (enum mmu_path), chosen when CR0.PG, CR4.PAE or EFER.LMA
 * change; shadow pages keyed by (guest frame, role), hashed by guest frame
 * and outliving their roots in wp and unsync, as in KVM; roots cached across
 * CR3 switches.  Pure logic over memory: the pool of shadow pages and
 * guest memory are buffers the caller maps, so unit tests run it against a
 * fake machine memory without KVM.
 *
 * Shadow entries hold machine-physical addresses (MPA): the frames of the
 * KVM VM that ombra's monitor runs in.  A fill goes
 * GVA -(guest tables, ombra's walker)-> GPA -(memslot)-> HVA/MPA.
 */
#ifndef OMBRA_MMU_H
#define OMBRA_MMU_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/mem.h"
#include "vmm/trace.h"
#include "patch.h"
#include "vcpu.h"
#include "x86/walk.h"

/* Shadow PTE bits (x86 4-level format). */
#define SPTE_P    (1ULL << 0)
#define SPTE_W    (1ULL << 1)
#define SPTE_U    (1ULL << 2)
#define SPTE_A    (1ULL << 5)
#define SPTE_D    (1ULL << 6)
#define SPTE_PS   (1ULL << 7)
#define SPTE_G    (1ULL << 8)
#define SPTE_NX   (1ULL << 63)
#define SPTE_PKEY_PATCH (1ULL << 59)     /* protection key 1: a frame with patches (--shadow-patch) */
#define SPTE_PKEY (15ULL << 59)
/* Ignored by the CPU, used by ombra: */
#define SPTE_GUEST_GLOBAL (1ULL << 52)   /* the guest marked this page global */
#define SPTE_LINK (1ULL << 53)           /* points at a shadow page, not a guest frame */
#define SPTE_ADDR 0x000ffffffffff000ULL

/* Accumulated guest permissions (KVM's ACC_*). */
#define ACC_EXEC  1u
#define ACC_WRITE 2u
#define ACC_USER  4u
#define ACC_ALL   7u

/* The paths through the MMU, as KVM names its fault handlers. */
enum mmu_path { PATH_NONPAGING, PATH_PAGING32, PATH_PAGING32E, PATH_PAGING64, PATH_COUNT };
extern const char *const mmu_path_names[PATH_COUNT];

enum mmu_sync { SYNC_VTLB, SYNC_WP, SYNC_UNSYNC };

/*
 * What makes two shadow pages different, as one integer to compare (KVM's
 * kvm_mmu_page_role).  A new shadow page is needed for the same guest frame
 * when it is shadowed at another level, for a guest large page (direct),
 * under different upper-level permissions (access; for a guest large page
 * without W while its D bit is clear, as KVM does, so aliases of one frame
 * keep their own dirty state), for the guest's user view instead of its
 * kernel view, under another CR0.WP / EFER.NXE, or, for a large page, its
 * G bit.
 */
union sp_role {
	uint32_t word;
	struct {
		unsigned level : 3;     /* 1 (4 KiB entries) .. 4 (PML4) */
		unsigned direct : 1;    /* maps guest-physical memory directly */
		unsigned access : 3;    /* ACC_* the guest's upper levels allow */
		unsigned user_view : 1; /* the guest-user (CPL 3) view */
		unsigned cr0_wp : 1;
		unsigned efer_nx : 1;
		unsigned path : 2;      /* enum mmu_path */
		unsigned quadrant : 2;  /* paging32: which part of a 4-byte table */
		unsigned global : 1;    /* direct, under a guest large page marked global */
		unsigned pse : 1;       /* paging32: CR4.PSE (a PDE's PS bit means a 4 MiB page) */
	};
};

struct sp;
struct sp_link { struct sp *prev, *next; };
struct sp_list {                 /* a list of shadow pages, through one of their links */
	struct sp *first, *last;
	unsigned n;
};

struct sp {                      /* one shadow page */
	bool used;
	uint64_t gfn;                /* the guest table it shadows (direct: first gfn mapped) */
	union sp_role role;
	unsigned root_count;         /* how many root-cache slots hold it */
	unsigned parent_count;       /* how many shadow entries link to it */
	uint64_t *spt;               /* its 512 entries (host view) */
	uint64_t mpa;                /* its machine-physical address */
	struct sp *hash_next;        /* the gfn hash bucket */
	struct sp_link link;         /* in one of free, active (LRU order) and retired */
	struct sp_link unsync_link;  /* in the unsync list while unsync */
	uint64_t visit;              /* the last for_each_sp_of_gfn walk that saw it */
	uint32_t *parents;           /* pool offsets of the entries that link to it */
	unsigned nparents, parents_cap;
	bool unsync;                 /* unsync strategy: the guest writes its table freely */
	bool retired;                /* a root dropped while the real CR3 may still hold it */
	unsigned write_count;        /* emulated writes since the table was last used */
};

struct track {                   /* a guest frame the shadow write-protects */
	uint64_t gfn;
	unsigned count;              /* shadow pages that track it */
	struct track *next;
};

/* The reverse map: for one guest frame, every leaf shadow entry that maps it
 * (pool offsets), so ombra can find them when its own mapping of the frame
 * changes (a memslot moved or deleted), as KVM's rmap does. */
struct rmap_head {
	uint64_t gfn;
	uint32_t *sptes;
	unsigned n, cap;
	struct rmap_head *next;
};

#define MMU_ROOT_CACHE 4         /* the current root and three previous ones */
#define MMU_TOUCH_MAX  504       /* = MON_MAILBOX_MAX */

/* Counters, named as KVM names them where the meaning is the same. */
struct mmu_stats {
	uint64_t pf_taken, pf_fixed, pf_guest, pf_spurious, pf_emulate, pf_mmio;
	uint64_t invlpg, tlb_flush, cr3_writes, root_hits, root_misses;
	uint64_t mmu_shadow_zapped, mmu_cache_miss, mmu_recycled, mmu_pte_write;
	uint64_t mmu_flooded, mmu_unsync, ad_faults, prefetched;
	uint64_t mmu_pte_updated;    /* entries installed from the guest's, outside a fault */
	uint64_t host_rewrites, host_resyncs;   /* see "touch" in struct shadow_mmu */
	uint64_t rmap_zapped;                    /* leaves zapped through the reverse map */
	uint64_t unsync_synced;                  /* unsync tables brought back in sync */
	uint64_t write_protected;                /* leaves made read-only to track a table */
	uint64_t large_fixed, large_split;       /* 2 MiB shadow leaves made; guest large pages split */
	uint64_t by_path_taken[PATH_COUNT], by_path_fixed[PATH_COUNT], by_path_guest[PATH_COUNT];
	uint64_t fixed_by_level[5];
};

/* What a page fault turned out to be (KVM's RET_PF_*). */
enum pf_outcome {
	PF_FIXED,      /* a hidden fault: the shadow was filled; retry the access */
	PF_SPURIOUS,   /* the shadow already allowed it: retry */
	PF_GUEST,      /* the guest's own fault: deliver #PF with *error, CR2 = address */
	PF_MMIO,       /* no RAM behind the guest-physical address: emulate the access */
	PF_BAD_TABLE,  /* a guest page-table entry points outside RAM: the guest is broken */
	PF_NONCANONICAL, /* a non-canonical address: #GP, never a #PF */
	PF_EMULATE,    /* a write to a guest page table the shadow tracks (wp, unsync):
			* emulate the instruction, then mmu_pte_write() (KVM's RET_PF_EMULATE) */
	PF_SCAN,       /* --shadow-patch: a first fetch from a frame not scanned yet:
			* scan it (patch.c), mmu_code_scanned(), fault again */
	PF_CODE_WRITE, /* --shadow-patch: a write to a scanned frame: undo its patches,
			* mmu_code_unscanned(), fault again */
};

/* The state of the guest CPU that translation depends on.  The caller keeps
 * it up to date: mmu_ctx_init when CR0/CR4/EFER change, walk_set_cr3 on
 * CR3 writes, user on every change of the guest's CPL. */
struct mmu_ctx {
	enum mmu_path path;
	uint64_t cr3;
	bool cr0_wp, cr4_pge, efer_nx;
	bool user;                   /* guest CPL 3: the user view */
	struct walk_ctx walk;        /* the guest's tables (paging paths) */
};

/* Set ctx up for the guest's CR0/CR4/EFER; walks read guest memory from mem. */
void mmu_ctx_init(struct mmu_ctx *ctx, const struct guest_mem *mem, uint64_t cr0, uint64_t cr4,
		  uint64_t efer, unsigned maxphyaddr);

/*
 * One thing the MMU did, told as it happens (shadow_mmu.on_event): the
 * trace's record of the same name (vmm/trace.h, docs/trace.md), with what
 * the MMU knows of it; the listener adds where the guest was.
 */
struct mmu_event {
	enum trace_event kind;  /* FILL, PREFETCH, EMULATE_PTE_WRITE, MMIO, UNSYNC, RESYNC,
				 * INVLPG, CR3_LOAD, ZAP, RECYCLE */
	uint64_t gva;           /* FILL, PREFETCH, EMULATE_PTE_WRITE, MMIO, INVLPG */
	uint64_t gpa;           /* FILL, EMULATE_PTE_WRITE, MMIO; the table's (UNSYNC, RESYNC), the frame's (ZAP) */
	unsigned level;         /* FILL: the guest page's level (1: 4 KiB, 2: 2/4 MiB, 3: 1 GiB) */
	uint64_t gpte, spte;    /* FILL: the guest's leaf entry (when gpte_valid: paging on) and
				 * the shadow entry made from it (a 2 MiB leaf when spte_large) */
	bool gpte_valid, spte_large;
	unsigned count;         /* PREFETCH, RESYNC, ZAP, RECYCLE */
	bool root_hit;          /* CR3_LOAD: the root was in the cache */
};

struct shadow_mmu {
	const struct guest_mem *mem; /* GPA -> HVA, MPA */
	uint8_t *pool_hva;           /* the pool of shadow pages */
	uint64_t pool_mpa;
	unsigned nr_pages;
	struct sp *sps;              /* one per pool page */
	struct sp **hash;            /* by gfn: every role of a frame in one bucket */
	unsigned hash_size;
	unsigned nr_used;            /* pages not on the free list (active and retired) */
	struct sp_list free;         /* pages to allocate from */
	struct sp_list active;       /* live pages, most recently used first */
	struct sp_list retired;      /* roots dropped while the real CR3 may hold them */
	struct sp_list unsync;       /* pages out of sync now (linked through unsync_link) */
	uint64_t visit_stamp;        /* for_each_sp_of_gfn's walks */
	uint64_t mon_pml4e;          /* PML4[mon_slot] of every root: the monitor */
	unsigned mon_slot;           /* the monitor's PML4 slot (monitor.h) */
	enum mmu_sync sync;
	unsigned maxphyaddr;
	unsigned prefetch;           /* neighbours filled with a fault, 0..8 (KVM's PTE_PREFETCH_NUM) */
	bool large_pages;            /* 2 MiB shadow leaves for guest large pages where allowed */
	const struct patcher *code;  /* --shadow-patch: frames scanned (patch.h), or NULL:
				      * a leaf runs code only from a scanned frame, and
				      * only reads it */
	bool code_pkey;              /* ... and a frame with patches gets SPTE_PKEY_PATCH */
	int last_pse;                /* CR4.PSE at the last CR3 load (-1: none yet) */
	uint64_t unprot[8];          /* guest tables unprotected since the last CR3 load or INVLPG */
	unsigned nr_unprot;

	struct sp *root_cache[2][MMU_ROOT_CACHE]; /* [user_view][most recent first] */
	struct rmap_head **rmap;     /* by gfn */
	unsigned rmap_size;
	struct track **track;        /* write-protected guest tables, by gfn (wp, unsync) */
	unsigned track_size;
	struct mmu_stats stats;

	struct sp *loaded_root;      /* what the real CR3 holds (set by the caller) */

	/* What the real CPU must do before the guest runs again. */
	bool need_reload;            /* load the real CR3 (full flush) */
	bool root_changed;           /* the guest changed what selects its root: the
				      * next mmu_root() is a lookup root_hits or
				      * root_misses counts */
	bool need_invlpg;            /* INVLPG flush_gva */
	uint64_t flush_gva;

	/*
	 * Present shadow entries changed in place since the last resume, as
	 * offsets into the pool.  On a host whose KVM is itself a shadow MMU
	 * (kvm_pvm), KVM write-protects ombra's shadow tables and does not see
	 * stores made through ombra's own mapping of them; the monitor rewrites
	 * these entries so it does.  Too many, and the pool's memslot is
	 * registered again instead (host_resyncs).
	 */
	uint32_t touch[MMU_TOUCH_MAX];
	unsigned nr_touch;
	bool touch_overflow;

	/* Told of each MMU event as it happens (NULL: nobody listens). */
	void (*on_event)(void *opaque, const struct mmu_event *e);
	void *event_opaque;
};

/* Emit an event to whoever listens (the trace: docs/trace.md). */
static inline void mmu_emit(struct shadow_mmu *m, const struct mmu_event *e)
{
	if (m->on_event)
		m->on_event(m->event_opaque, e);
}

/* At each trap: free roots retired while the real CR3 still held them. */
void mmu_trap_begin(struct shadow_mmu *m);
/* The caller loaded root (an MPA from mmu_root) into the real CR3. */
void mmu_root_loaded(struct shadow_mmu *m, uint64_t root_mpa);

int mmu_init(struct shadow_mmu *m, const struct guest_mem *mem, uint8_t *pool_hva,
	     uint64_t pool_mpa, unsigned nr_pages, unsigned mon_slot, uint64_t mon_pml4e);
void mmu_destroy(struct shadow_mmu *m);

/* Is the root for ctx in the root cache (a CR3 load would hit)? */
bool mmu_root_cached(const struct shadow_mmu *m, const struct mmu_ctx *ctx);
/* The root to load into the real CR3 for ctx (found in the cache or made). */
uint64_t mmu_root(struct shadow_mmu *m, const struct mmu_ctx *ctx);
/* A guest CR3 write (cr3_write), or a paging-mode or CR4.PGE change that
 * flushes the TLB as one does: the flush it implies. */
void mmu_new_cr3(struct shadow_mmu *m, const struct mmu_ctx *ctx, bool cr3_write, bool flush_global);
/* ombra changed its own mapping of guest frames [gfn, gfn + count): zap
 * every leaf that maps them (through the reverse map). */
void mmu_zap_gfn_range(struct shadow_mmu *m, uint64_t gfn, uint64_t count);
/* After the guest's write of len bytes at gpa was emulated (PF_EMULATE):
 * update the shadow of the tables there (KVM's mmu_pte_write), zapping a
 * table that is written again and again without being used (flooding). */
void mmu_pte_write(struct shadow_mmu *m, uint64_t gpa, unsigned len);
/* Stop shadowing the guest table at gfn, so the guest's write can go
 * through natively (when the write cannot be emulated). */
void mmu_unprotect_gfn(struct shadow_mmu *m, uint64_t gfn);
/* Guest INVLPG of gva. */
void mmu_invlpg(struct shadow_mmu *m, const struct mmu_ctx *ctx, uint64_t gva);
/* Drop every shadow page. */
void mmu_zap_all(struct shadow_mmu *m);

/* A real #PF at gva with the real error code (its U bit is meaningless:
 * the guest always runs at real CPL 3).  *guest_error gets the error code to
 * deliver for PF_GUEST; *gpa the guest-physical address for PF_MMIO. */
enum pf_outcome mmu_page_fault(struct shadow_mmu *m, const struct mmu_ctx *ctx, uint64_t gva,
			       uint32_t error, uint32_t *guest_error, uint64_t *gpa);

/* --shadow-patch: frame gfn has just been scanned, or a scan has just
 * patched it (every leaf that maps it becomes read-only, so a write to it
 * faults, and with code_pkey one over patches takes the key the guest
 * cannot read through), or it has just stopped being scanned (every leaf
 * that maps it stops running code, so a fetch faults, and loses the key). */
void mmu_code_scanned(struct shadow_mmu *m, uint64_t gfn);
void mmu_code_unscanned(struct shadow_mmu *m, uint64_t gfn);
/* ... or has just become mixed (patch_mix): its leaves lose the key, and
 * run code and take stores as the guest's tables allow. */
void mmu_code_mixed(struct shadow_mmu *m, uint64_t gfn);

/*
 * Translate gva as the guest's CPU would for an access by ombra on the
 * guest's behalf (instruction fetch for decoding, pushing an exception
 * frame).  access is PFERR_W / PFERR_U / PFERR_FETCH.  Sets the guest's
 * A/D bits as the CPU would.  Returns PF_FIXED with *gpa, PF_GUEST with the
 * error code, PF_NONCANONICAL, or PF_BAD_TABLE.
 */
enum pf_outcome mmu_gva_to_gpa(struct shadow_mmu *m, const struct mmu_ctx *ctx, uint64_t gva,
			       uint32_t access, uint64_t *gpa, uint32_t *guest_error);

/* Check the current roots' entries against the guest's tables: nothing
 * grants more than the guest allows, and everything points at the guest's
 * frame.  Exact right after a CR3 load (the guest's TLB is empty but for
 * global pages); between flushes a guest may legally run on translations it
 * has changed but not yet flushed, so then check only the one address just
 * filled (only_gva, with one = true).  Returns the number of bad entries and
 * describes the first in why. */
unsigned mmu_audit(struct shadow_mmu *m, const struct mmu_ctx *ctx, bool one, uint64_t only_gva,
		   char *why, unsigned whylen);

#endif
