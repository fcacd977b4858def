/*
 * paging.h: page-table builders for the three x86 paging modes, written once.
 *
 * As in KVM's paging_tmpl.h, one walker serves every format: a struct pgmode
 * says how wide the entries are, how many levels there are and which VA bits
 * index each level.  Levels are numbered as KVM does: 1 is the PTE (4 KiB
 * page), 2 the PDE, 3 the PDPTE, 4 the PML4E.
 *
 *   mode     entries  levels  VA bits per level      large pages
 *   2-level  4 bytes  2       10 10 (+12)            4 MiB at level 2 (CR4.PSE)
 *   PAE      8 bytes  3       2 9 9 (+12)            2 MiB at level 2
 *   4-level  8 bytes  4       9 9 9 9 (+12)          2 MiB at 2, 1 GiB at 3
 *
 * Every address space a test builds identity-maps [0, boot.pool_end) with
 * large pages, user-accessible, so kernel code, stacks, the pool and the
 * tables are reachable from ring 0 and ring 3 alike.  What a test examines
 * lives in "slots": VA ranges that share no entry with the identity map, each
 * with its own entry at level slot_level, so that changing one slot's bits
 * never disturbs anything else.
 */
#ifndef GUEST_PAGING_H
#define GUEST_PAGING_H

#include "runtime.h"

#define PTE_P   (1ull << 0)  /* present */
#define PTE_W   (1ull << 1)  /* writable */
#define PTE_U   (1ull << 2)  /* user accessible */
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A   (1ull << 5)  /* accessed: set by the walk, at every level */
#define PTE_D   (1ull << 6)  /* dirty: set by a write, in the entry that maps the page */
#define PTE_PS  (1ull << 7)  /* page size: this level maps a large page */
#define PTE_G   (1ull << 8)
#define PTE_NX  (1ull << 63) /* no execute (PAE and 4-level, with EFER.NXE) */

#define PTE_PERM (PTE_P | PTE_W | PTE_U | PTE_NX) /* the bits the permission tests vary */

struct pgmode {
	const char *name;      /* "2-level", "PAE", "4-level" */
	unsigned levels;       /* the root table is at level `levels` */
	unsigned entry_bytes;  /* 4 or 8 */
	uint8_t shift[5];      /* [level]: lowest VA bit that indexes this level */
	uint8_t index_bits[5]; /* [level]: how many VA bits index it */
	uint8_t large;         /* bit n set: a PS=1 entry at level n maps a page */
	bool nx;               /* entries have an NX bit */
	bool pae_pdpt;         /* the root is PAE's PDPT: 4 entries, P + address only */
	uint64_t addr_mask;    /* bits of an entry that hold a physical address */
	uint64_t test_base;    /* VA of slot 0 */
	unsigned slot_level;   /* each slot has its own entry at this level */
};
extern const struct pgmode pgmode_2level, pgmode_pae, pgmode_4level;

static inline uint64_t pg_size(const struct pgmode *m, unsigned level)
{
	return 1ull << m->shift[level];
}

/* Read and write one entry of either width (inline: the permission matrix
 * rewrites entries thousands of times). */
static inline uint64_t pte_get(const struct pgmode *m, const void *entry)
{
	if (m->entry_bytes == 4)
		return *(const volatile uint32_t *)entry;
	return *(const volatile uint64_t *)entry;
}

static inline void pte_set(const struct pgmode *m, void *entry, uint64_t value)
{
	if (m->entry_bytes == 4)
		*(volatile uint32_t *)entry = (uint32_t)value;
	else
		*(volatile uint64_t *)entry = value;
}

const char *pt_level_name(const struct pgmode *m, unsigned level); /* "PTE", "PDE", ... */

/* A new, empty root (for PAE, a PDPT whose four PDs exist already, since
 * the CPU reads PDPTEs only when CR3 is loaded). */
void *pt_alloc_root(const struct pgmode *m);

/*
 * The entry for va at `level`.  Missing tables on the way are allocated with
 * P|W|U|A when create is set, else NULL is returned; NULL too if a large page
 * above `level` maps va.
 */
void *pt_walk(const struct pgmode *m, void *root, uint64_t va, unsigned level, bool create);

/* Map va to pa with a page of `level` (1 = 4 KiB; 2, 3 = large, PS is added). */
void pt_map(const struct pgmode *m, void *root, uint64_t va, uint64_t pa, unsigned level,
	    uint64_t flags);

/* Identity-map [0, end) with level-2 large pages, P|W|U|A|D. */
void pt_map_identity(const struct pgmode *m, void *root, uint64_t end);

/* A new root with the identity map of the pool and everything below it. */
void *pt_new_address_space(const struct pgmode *m);

/* First VA of test slot n. */
static inline uint64_t pt_slot_va(const struct pgmode *m, unsigned n)
{
	return m->test_base + (uint64_t)n * pg_size(m, m->slot_level);
}

/* cpumode.c: switching paging on and off, and the bits the tests vary. */
void paging_enter(const struct pgmode *m, void *root); /* from nonpaging (32-bit) or the boot tables (64-bit) */
void paging_leave(void);                               /* back, with CR0.WP and EFER.NXE clear */
void paging_set_root(void *root);                      /* MOV to CR3 */
void cpu_set_wp(bool on);                              /* CR0.WP */
void cpu_set_nxe(bool on);                             /* EFER.NXE */

#endif
