/*
 * hostile.h: what the hostile-guest kernel's cases share.
 *
 * The hostile kernel (guest/hostile, README.md there) does to the machine
 * what a careless or malicious guest kernel would: page tables full of
 * random bits, entries that point past RAM, tables that map themselves,
 * privileged and undefined instructions at ring 3, instructions that
 * straddle into unmapped memory, code rewritten after it ran, and 100,000
 * address spaces.  Each case prints what the guest saw (outcomes, digests)
 * and checks what the architecture fixes, so its output is the same under
 * QEMU TCG, ombra tdp and ombra shadow; the three cases that never end by
 * themselves (storm, spin, triple) are run one at a time, and end with
 * ombra's "guest killed: <reason>".
 *
 * Every case runs in the 64-bit half with 4-level paging.
 */
#ifndef HOSTILE_H
#define HOSTILE_H

#include "alloc.h"
#include "check.h"
#include "cpu.h"
#include "paging.h"
#include "runtime.h"
#include "trap.h"

#define CR4_PGE BIT(7)

/* A case: `arg` is the number from the command line (spaces=N), or 0. */
typedef void hostile_fn(struct tally *t, uint32_t arg);

/* The cases, in the order they run (HOSTILE_CASES(X): X(name, fn, default)).
 * `default` 0: run only when named (it never returns by itself). */
#define HOSTILE_CASES(X)                 \
	X(rsvd,     h_rsvd,     1)        \
	X(randpt,   h_randpt,   1)        \
	X(phys,     h_phys,     1)        \
	X(mmio,     h_mmio,     1)        \
	X(selfmap,  h_selfmap,  1)        \
	X(cycle,    h_cycle,    1)        \
	X(monitor,  h_monitor,  1)        \
	X(priv,     h_priv,     1)        \
	X(undef,    h_undef,    1)        \
	X(undef0,   h_undef0,   1)        \
	X(straddle, h_straddle, 1)        \
	X(smc,      h_smc,      1)        \
	X(spaces,   h_spaces,   1)        \
	X(storm,    h_storm,    0)        \
	X(spin,     h_spin,     0)        \
	X(triple,   h_triple,   0)        \
	X(upper,    h_upper,    0)        \
	X(moveflood,    h_moveflood,    0) \
	X(markflood,    h_markflood,    0) \
	X(explainflood, h_explainflood, 0) \
	X(serialflood,  h_serialflood,  0) \
	X(errflood,     h_errflood,     0)

#define HOSTILE_DECL(name, fn, def) hostile_fn fn;
HOSTILE_CASES(HOSTILE_DECL)
#undef HOSTILE_DECL

/* The long_call() number: case index in the low byte, arg above it. */
#define HOSTILE_CALL(index, arg) ((uint32_t)(index) | ((uint32_t)(arg) << 8))

/* common.c */
extern const struct pgmode *const pm;  /* &pgmode_4level */

/* A fresh 4-level address space identity-mapping [0, end) with 2 MiB pages,
 * entered (CR3 loaded); CR4.PGE off, so a CR3 load flushes everything. */
void *space_enter(uint64_t end);

/* A small deterministic generator (xorshift64*). */
struct rng { uint64_t s; };
uint64_t rng_next(struct rng *r);
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)((rng_next(r) >> 32) * n >> 32);
}

/* FNV-1a over 64-bit words: the digests cases print. */
#define DIGEST_INIT 0xcbf29ce484222325ull
uint64_t digest_add(uint64_t h, uint64_t v);

/* One access (read, write or fetch; ring 0 or 3) folded into a digest: the
 * fault (vector, error code, CR2) or the value read.  See access_run(). */
struct outcome {
	bool ok;
	uint32_t value;     /* what a read returned */
	struct fault f;     /* when !ok */
};
struct outcome probe(enum access_op op, bool user, uint64_t va, uint32_t wval);
uint64_t digest_outcome(uint64_t h, const struct outcome *o);

/*
 * Run `len` instruction bytes at ring 0 (followed by a ret) or at ring 3
 * (followed by ud2) from a scratch page; *f gets the exception they raised.
 * Returns true if they ran to the end without one.  At ring 0 RAX comes
 * back in f->ax either way.
 */
bool run_bytes(const uint8_t *code, unsigned len, bool user, struct fault *f);
extern uint8_t hostile_code_page[]; /* where run_bytes() puts them */

/*
 * The reference walk (common.c): what the 4-level walk of va must do for
 * op at ring 0 or 3, worked out from the manual's rules, with CR0.WP and
 * EFER.NXE set, CR4.PSE/SMEP/SMAP/PKE clear and no 1 GiB pages.  Memory
 * with no RAM behind it reads as zero (what QEMU and KVM give a guest), so
 * a table there holds not-present entries.  ref_init() reads MAXPHYADDR.
 */
struct ref {
	bool fault;
	uint32_t error;   /* without P when RSVD is set (see digest_outcome) */
	uint64_t pa;      /* where the access lands, when it does not fault */
};
void ref_init(void);
struct ref ref_walk(uint64_t cr3, uint64_t va, enum access_op op, bool user);
uint64_t phys_read64(uint64_t pa);
uint32_t phys_read32(uint64_t pa);

/*
 * At ring 0 and then ring 3: read va, write back what the read returned
 * (so memory never changes), and fetch if the read faulted or found a ret
 * (0xc3); each outcome is checked against ref_walk() in the current
 * address space (cr3) and folded into *h.  Counts accesses and faults.
 */
void probe_all(struct tally *t, uint64_t cr3, uint64_t va, uint64_t *h, unsigned *faults,
	       unsigned *done);

/* MAXPHYADDR, from CPUID leaf 0x80000008 (36 without it). */
unsigned cpu_maxphyaddr(void);

/* "#GP(0x0)", "#PF(0x14 cr2 0x...)", "ok" */
const char *fault_name(bool ok, const struct fault *f, char *buf, size_t size);

#endif
