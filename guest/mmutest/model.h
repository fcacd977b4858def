/*
 * model.h: what the x86 page walk must do with one access, worked out from
 * the rules in the architecture manuals, never from watching a CPU.  The
 * permission, reserved-bit and reuse tests compare the CPU against this: the
 * outcome of an access (model_walk) and the A and D bits it leaves in the
 * entries it used (model_ad_access).
 */
#ifndef MMUTEST_MODEL_H
#define MMUTEST_MODEL_H

#include "paging.h"
#include "trap.h"

struct walk_env {
	bool nx_mode;       /* the paging mode has NX bits (PAE, 4-level) */
	bool nxe;           /* EFER.NXE */
	bool wp;            /* CR0.WP */
	bool user;          /* the access is made at CPL 3 */
	enum access_op op;  /* read, write or fetch */
};

struct walk_expect {
	bool fault;          /* a #PF must happen */
	uint32_t error;      /* its error code */
	unsigned stop_level; /* level of the entry that ended the walk early (not present
				or reserved bit), 0 if the walk reached the leaf */
};

/*
 * bits[level] holds the entry's P, W, U and NX bits for levels top down to
 * leaf (others are ignored).  The walk visits top first; a not-present entry
 * or (in a present entry) a reserved bit ends it; the rights are the AND of
 * W and U over all levels and the OR of NX.
 */
struct walk_expect model_walk(const struct walk_env *env, const uint64_t *bits, unsigned top,
			      unsigned leaf);

/*
 * Reserved-bit faults and the P bit.  The manuals, real CPUs and KVM report
 * P=1 together with RSVD (the entry was present).  QEMU's TCG (7.2, the
 * version checked, and later ones) reports RSVD alone: see do_fault_rsvd in
 * target/i386/tcg/sysemu/excp_helper.c.  So for a reserved-bit fault the P
 * bit is accepted either way, but one case must be consistent: its first
 * reserved-bit fault fixes the value of P that all the others must have.
 * Every other bit must be exactly the model's.
 */
struct rsvd_p {
	int seen; /* -1 until the first reserved-bit fault, then its P bit (0 or 1) */
};
#define RSVD_P_INIT { -1 }

enum error_match {
	ERROR_MATCH,          /* the error code is what the model says */
	ERROR_DIFFERS,        /* it is not */
	ERROR_P_INCONSISTENT, /* reserved-bit fault whose P differs from the case's earlier ones */
};
enum error_match model_error_match(uint32_t want, uint32_t got, struct rsvd_p *p);

/*
 * The accessed and dirty bits (SDM vol. 3A 4.8).  An expectation is one word
 * per entry, with PTE_A and PTE_D as the entry must hold them, and
 * MODEL_A_ANY where the manuals leave A open.  ad[level] points at the word
 * of the entry the walk uses at that level, top down to leaf; two
 * translations that share an entry (one page table reached from two address
 * spaces, or two pages under one page table) share its word, so that what
 * one access sets the other is expected to see.
 *
 * The rules hold for accesses that reuse a cached translation too, as long
 * as software clears A or D only together with an INVLPG of the address
 * (the tests never do otherwise): a cached translation exists only with A
 * set at every level, and a write through one whose D is clear still sets
 * D in memory.
 */
#define MODEL_A_ANY (1ull << 9) /* in an expectation word: A may be 0 or 1 */

/* Update the expectation for one access through the entries ad[top..leaf]
 * that completed (completed) or raised #PF. */
void model_ad_access(uint64_t *const *ad, unsigned top, unsigned leaf, enum access_op op,
		     bool completed);
/* Does an entry's value agree with an expectation word?  (Inline: it runs
 * for every level after every access of the reuse cases.) */
static inline bool model_ad_match(uint64_t want, uint64_t entry)
{
	uint64_t mask = want & MODEL_A_ANY ? PTE_D : PTE_A | PTE_D;

	return (entry & mask) == (want & mask);
}

#endif
