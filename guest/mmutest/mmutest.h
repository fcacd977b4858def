/*
 * mmutest.h: what the mmutest cases share.
 *
 * Every case is a function test_xxx(tally, mode, leaves) written once against
 * struct pgmode and compiled into both halves of the kernel; cases.h says
 * which mode (and which page sizes) each instance runs with.  A case builds
 * its own address space from the page pool (reset before every case), enters
 * paging, makes its checks and leaves paging again, so cases never depend on
 * one another.
 *
 * The pieces used by several cases:
 *   - a test frame: a pool page with a `ret` at offset 0 (for fetches) and a
 *     known u32 at DATA_OFF (for reads and writes);
 *   - a chain: the entries, level by level, that map one test VA, so a test
 *     can set the permission bits of any level and look at the A/D bits
 *     the walk left behind.
 */
#ifndef MMUTEST_H
#define MMUTEST_H

#include "alloc.h"
#include "check.h"
#include "cpu.h"
#include "paging.h"
#include "runtime.h"
#include "trap.h"

#define DATA_OFF 0x100 /* where a test frame keeps its data word */
#define RET_INSN 0xc3

/* Page sizes a test exercises, by the level of the entry that maps the page. */
#define LEAF_4K    (1u << 1) /* 4 KiB pages: a PTE */
#define LEAF_LARGE (1u << 2) /* a large page in a PDE: 4 MiB (2-level) or 2 MiB */
#define LEAF_1G    (1u << 3) /* 1 GiB pages: a PDPTE (4-level only) */

typedef void test_fn(struct tally *t, const struct pgmode *m, unsigned leaves);
test_fn test_nonpaging, test_paging, test_ad, test_invlpg, test_cr3switch, test_demand,
	test_user, test_perm, test_rsvd, test_reuse, test_gbpages, test_slotmove, test_spaces;

/* Does the test exercise pages mapped at `level` (and does the mode have them)? */
static inline bool leaf_wanted(const struct pgmode *m, unsigned leaves, unsigned level)
{
	return (leaves & (1u << level)) && (level == 1 || (m->large & (1u << level)));
}

/* harness.c */
bool run_case(const char *name, test_fn *fn, const struct pgmode *m, unsigned leaves);

struct ctx {
	const struct pgmode *m;
	void *root; /* the address space the case runs in */
};
/*
 * A new address space with paging on.  If turning paging on faults (a host
 * whose KVM cannot run this paging mode), the case fails with that reason
 * and ctx_enter returns false; the caller returns at once.
 */
bool ctx_enter(struct ctx *c, struct tally *t, const struct pgmode *m);
void ctx_leave(struct ctx *c);                          /* paging off (or boot tables) */
bool paging_enter_checked(struct tally *t, const struct pgmode *m, void *root);

/* Read or write a u32 at va (ring 0) with faults caught; a fault fails a
 * check described by `what` and returns false. */
bool read_u32(struct tally *t, uint64_t va, uint32_t *v, const char *what);
bool write_u32(struct tally *t, uint64_t va, uint32_t v, const char *what);

uint64_t test_frame(uint32_t value);      /* a new test frame holding value at DATA_OFF */
static inline volatile uint32_t *frame_word(uint64_t frame, unsigned off)
{
	return (volatile uint32_t *)phys_ptr(frame + off);
}

struct chain {
	const struct pgmode *m;
	unsigned leaf;    /* level of the entry that maps the page: 1 = 4 KiB, 2, 3 = large */
	unsigned top;     /* highest level a test may change (PAE: 2; the PDPT stays) */
	uint64_t va;      /* VA where the test frame appears */
	void *entry[5];   /* entry[level] for va, levels leaf..top */
	uint64_t base[5]; /* entry values without P/W/U/NX/A/D: address, and PS at a large leaf */
};
/* Map the test frame at slot `slot` through a page of level `leaf`. */
void chain_build(struct chain *c, const struct pgmode *m, void *root, unsigned slot,
		 unsigned leaf, uint64_t frame);
/* Write every entry as base | P|W|U, but base | bits at `level`; A and D
 * clear everywhere; then INVLPG the VA. */
void chain_set(const struct chain *c, unsigned level, uint64_t bits);
static inline uint64_t chain_get(const struct chain *c, unsigned level)
{
	return pte_get(c->m, c->entry[level]);
}

/* "4K", "2M", "4M" or "1G": the size of a page of `level` */
const char *page_size_name(const struct pgmode *m, unsigned level);
/* "P+W+U+NX", or "none": the permission bits in v */
const char *perm_bits_name(uint64_t v, char *buf, size_t size);
/* "#PF err 0x7", "#UD", "no fault" */
const char *outcome_name(bool faulted, const struct fault *f, char *buf, size_t size);

/* An entry value for `level` that maps va to pa with a 4 KiB page through
 * freshly allocated tables (level 1: the PTE itself). */
uint64_t subtree_build(const struct pgmode *m, uint64_t va, unsigned level, uint64_t pa);

#endif
