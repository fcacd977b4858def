/*
 * The guest page-table walker: GVA -> GPA the way the guest's CPU would do it.
 *
 * In shadow mode the guest's page tables are never loaded into the real CR3,
 * so nobody walks them but ombra.  Every shadow fault, every emulated memory
 * access and every translation-chain display starts here:
 *
 *   1. walk_init() once per paging mode (and again whenever CR0.WP, CR4.PSE,
 *      EFER.NXE or MAXPHYADDR change): it precomputes the reserved-bit masks,
 *      as KVM's reset_rsvds_bits_mask() does for its mmu context.
 *   2. walk_set_cr3() at every MOV CR3 (and, in PAE mode, at every CR0/CR4
 *      write that reloads the PDPTE registers): it records the root and, in
 *      PAE mode, loads and checks the four PDPTEs as the CPU does.
 *   3. walk_gva() per access: it returns the translation with the accumulated
 *      rights, or the exact #PF error code, and sets the guest's accessed and
 *      dirty bits as hardware does (only when the walk succeeds, as KVM does).
 *
 * The walk itself lives in walk_tmpl.h, written once and compiled twice (for
 * 4-byte entries: paging32, and 8-byte entries: paging32e and paging64), like
 * KVM's paging_tmpl.h.  Nonpaging (CR0.PG=0) needs no walker: GVA = GPA.
 *
 * Guest memory is reached through a callback, so the walker is pure logic and
 * unit-tested on a plain buffer (tests/unit/test_walk.c).
 */
#ifndef OMBRA_SHADOW_WALK_H
#define OMBRA_SHADOW_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Host pointer to len bytes of guest-physical memory at gpa, or NULL when no RAM is there. */
typedef void *(*walk_gpa_fn)(void *opaque, uint64_t gpa, unsigned len);

/* The paging paths that have a guest page table (DESIGN.md section 4). */
enum walk_mode {
	WALK_PAGING32,   /* CR4.PAE=0: 2 levels of 4-byte entries, 4 MiB pages with CR4.PSE */
	WALK_PAGING32E,  /* PAE, EFER.LMA=0: 4 PDPTE registers + 2 levels, 2 MiB pages */
	WALK_PAGING64,   /* EFER.LMA=1: 4 levels of 8-byte entries, 2 MiB and 1 GiB pages */
};

/* Which walker the guest's CR0, CR4 and EFER select, and its flags
 * (WALK_CR0_WP, WALK_CR4_PSE, WALK_EFER_NXE); false when CR0.PG is off
 * (no walk: GVA = GPA). */
bool walk_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer, enum walk_mode *mode, unsigned *flags);

/* What a walk (or a CR3 load) came to. */
enum walk_outcome {
	WALK_OK,              /* translated: gpa, access, level, page_size, dirty are valid */
	WALK_FAULT,           /* a guest fault: deliver #PF with error_code, CR2 = gva */
	WALK_BAD_GPA,         /* a table entry (or the PDPT) is not in RAM: bad_gpa; no #PF made up */
	WALK_PDPTE_RESERVED,  /* walk_set_cr3, PAE: reserved bit in a present PDPTE: #GP at MOV CR3 */
	WALK_NONCANONICAL,    /* walk_gva, paging64: gva not canonical: #GP/#SS, never a #PF */
};

/* #PF error code bits (Intel SDM vol. 3 section 4.7), also used to describe an access. */
#define WALK_PF_PRESENT  (1u << 0)   /* the page was present: a rights or reserved-bit fault */
#define WALK_PF_WRITE    (1u << 1)   /* the access was a write */
#define WALK_PF_USER     (1u << 2)   /* the access was made at CPL3 */
#define WALK_PF_RSVD     (1u << 3)   /* a reserved bit was set in a present entry */
#define WALK_PF_FETCH    (1u << 4)   /* instruction fetch (reported only with PAE/64 and EFER.NXE) */

/* Access flags for walk_gva(): WALK_PF_WRITE, WALK_PF_USER, WALK_PF_FETCH, plus: */
#define WALK_PEEK        (1u << 31)  /* look only: set no A/D bits (displays, audits) */

/* Accumulated rights of a translation; the same values as KVM's ACC_*_MASK. */
#define WALK_ACC_EXEC    (1u << 0)   /* no level had NX (with EFER.NXE) */
#define WALK_ACC_WRITE   (1u << 1)   /* every level had R/W=1 (CR0.WP not applied) */
#define WALK_ACC_USER    (1u << 2)   /* every level had U/S=1 */
#define WALK_ACC_ALL     (WALK_ACC_EXEC | WALK_ACC_WRITE | WALK_ACC_USER)

/* walk_init() flags: the control-register bits a walk depends on. */
#define WALK_CR0_WP      (1u << 0)   /* supervisor writes honour R/W */
#define WALK_CR4_PSE     (1u << 1)   /* paging32: PDE.PS maps a 4 MiB page */
#define WALK_EFER_NXE    (1u << 2)   /* PAE/64: bit 63 is NX instead of reserved */

#define WALK_MAX_LEVEL           4   /* levels are numbered as in KVM: 1 = PTE ... 4 = PML4E */
#define WALK_MAXPHYADDR_DEFAULT 40   /* ombra's CPUID leaf 0x80000008 */

/* One guest CPU's view of its page tables.  Fields below "derived" are walk_init()'s. */
struct walk_ctx {
	enum walk_mode mode;      /* which walker runs */
	unsigned flags;           /* WALK_CR0_WP | WALK_CR4_PSE | WALK_EFER_NXE */
	unsigned maxphyaddr;      /* physical-address width M (CPUID 0x80000008) */
	walk_gpa_fn gpa_fn;       /* guest memory */
	void *opaque;             /* for gpa_fn */
	uint64_t cr3;             /* as last given to walk_set_cr3() */
	uint64_t pdptes[4];       /* PAE: the PDPTE registers loaded from cr3 */
	/* derived */
	int root_level;           /* 2, 3 (PDPTE registers) or 4 */
	unsigned large_levels;    /* bit n set: PS=1 at level n maps a page */
	uint64_t addr_mask;       /* address bits (M-1):12 of an 8-byte entry */
	uint64_t nx_mask;         /* bit 63 when it means NX, else 0 */
	uint64_t rsvd[2][WALK_MAX_LEVEL + 1]; /* [PS maps a page][level]: reserved bits of a present entry */
	uint64_t pdpte_rsvd;      /* PAE: reserved bits of a present PDPTE */
	uint32_t pse36_mask;      /* paging32 4 MiB PDE: (pde >> 13) & mask = address bits (M-1):32 */
};

/* What one walk found. */
struct walk_result {
	enum walk_outcome outcome;
	uint64_t gva;             /* the address walked (32 bits in 32-bit modes); CR2 on a fault */
	uint32_t error_code;      /* WALK_FAULT: the #PF error code (WALK_PF_*) */
	uint64_t bad_gpa;         /* WALK_BAD_GPA: where RAM was expected */
	int root_level;           /* the first level walked */
	int level;                /* OK: leaf level; otherwise the level where the walk stopped */
	uint64_t gpa;             /* OK (and rights faults): the translation of gva */
	uint64_t page_size;       /* OK (and rights faults): 4 KiB, 2 MiB, 4 MiB or 1 GiB */
	unsigned access;          /* OK (and rights faults): WALK_ACC_* over every level */
	bool dirty;               /* OK: the leaf's D bit after the walk (clean pages: shadow read-only) */
	bool dirtied;             /* OK: this walk set the leaf's D bit (it was clear) */
	struct walk_step {        /* valid for levels root_level down to level */
		uint64_t table_gfn;   /* guest frame of the table this entry sits in */
		uint64_t pte_gpa;     /* where the entry is (PAE level 3: where it was loaded from) */
		uint64_t pte;         /* its value (after the A/D update on OK) */
		unsigned pt_access;   /* WALK_ACC_* from the root down to and including this entry */
	} steps[WALK_MAX_LEVEL + 1]; /* indexed by level */
};

/*
 * Set up ctx for one paging mode.  maxphyaddr 0 means WALK_MAXPHYADDR_DEFAULT.
 * CR3 starts at 0 with no PDPTE present; call walk_set_cr3() before walking.
 */
void walk_init(struct walk_ctx *ctx, enum walk_mode mode, unsigned flags,
	       unsigned maxphyaddr, walk_gpa_fn gpa_fn, void *opaque);

/*
 * What MOV CR3 does to the walker.  paging32/paging64: record cr3 (its
 * reserved bits are the caller's #GP to check), always WALK_OK.  PAE: read the
 * four PDPTEs at cr3 bits 31:5 and check them: WALK_OK (cr3 and pdptes
 * updated), WALK_BAD_GPA or WALK_PDPTE_RESERVED (ctx unchanged: raise #GP).
 */
enum walk_outcome walk_set_cr3(struct walk_ctx *ctx, uint64_t cr3);

/*
 * Translate gva for an access (WALK_PF_WRITE | WALK_PF_USER | WALK_PF_FETCH,
 * none for a supervisor read; WALK_PEEK to leave A/D bits alone).  Fills *res
 * and returns res->outcome.
 */
enum walk_outcome walk_gva(const struct walk_ctx *ctx, uint64_t gva, unsigned access,
			   struct walk_result *res);

/* "ok", "fault", ... for messages. */
const char *walk_outcome_name(enum walk_outcome outcome);

/*
 * A paging-structure entry for people, as the SDM names its bits: "P RW US
 * A D NX: 4 KiB page", "P RW US A: table", "P PWT: PDPTE" or "not
 * present".  Only the bits that mean something at that level in that mode
 * are named (D, G and PAT in a leaf, PS above level 1, NX when nx).
 * large_levels: bit n set when PS=1 at level n maps a page (walk_ctx's).
 */
void walk_entry_describe(uint64_t e, unsigned level, enum walk_mode mode, unsigned large_levels, bool nx,
			 char *buf, size_t len);

#endif
