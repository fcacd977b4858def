/*
 * t_perm.c: cases perm32, permpae, perm64 (and the 1 GiB part of gbpages64).
 * The permission matrix.
 *
 * For one paging mode, every combination of
 *   - the page size (4K; 4M or 2M; 1G),
 *   - the level whose entry carries the bits under test (the leaf or any
 *     entry above it; the others are P+W+U, so the rights the walk computes
 *     are exactly the tested entry's: AND of W and U, OR of NX),
 *   - the bits P, W, U and (PAE, 4-level) NX of that entry,
 *   - the access: read, write or fetch, from ring 0 or ring 3,
 *   - CR0.WP, and (PAE, 4-level) EFER.NXE (NX then becomes a reserved bit)
 * is made once, and the outcome compared with the model of model.c: fault or
 * not; for a fault, the #PF error code (exact, but see model.h on P in
 * reserved-bit faults) and CR2, the leaf's D still clear and a not-present
 * entry untouched; without one, the right data (or the write landing in the
 * right frame), A set at every level and D set in the leaf exactly for a
 * write.  A at upper levels after a fault is implementation-specific (QEMU
 * sets it, KVM's walker does not) and is not checked.
 *
 *   perm32:    2 WP x (2 + 1 levels) x  8 bits x 2 rings x 3 accesses =  288
 *   permpae:   2 NXE x 2 WP x (2 + 1) x 16 x 2 x 3                    = 1152
 *   perm64:    2 NXE x 2 WP x (4 + 3) x 16 x 2 x 3                    = 2688
 *   gbpages64: 2 NXE x 2 WP x 2 x 16 x 2 x 3 (1 GiB pages)            =  768
 *
 * The tables are built once; a combination rewrites the chain's entries,
 * INVLPGs the page and makes one access: a few hundred instructions and, for
 * ring 3 or a fault, one exception.
 */
#include "model.h"
#include "mmutest.h"

struct perm_run {
	struct tally *t;
	const struct pgmode *m;
	struct walk_env env;
	uint64_t frame;   /* the test frame every chain maps */
	uint32_t wval;    /* the value of the next write; changes every time */
	struct rsvd_p rsvd_p;  /* P bit of reserved-bit faults (model.h) */
};

static uint64_t bits_of(unsigned n)
{
	return (n & 1 ? PTE_P : 0) | (n & 2 ? PTE_W : 0) | (n & 4 ? PTE_U : 0) |
	       (n & 8 ? PTE_NX : 0);
}

static void describe_failure(struct perm_run *r, const struct chain *ch, unsigned level,
			     uint64_t bits, const struct walk_expect *e, bool done,
			     const struct fault *f, const char *why)
{
	char b[24], want[32], got[32];
	struct fault none = { 0 };

	if (e->fault)
		snprintf(want, sizeof(want), "#PF err %#x", e->error);
	else
		snprintf(want, sizeof(want), "no fault");
	check_fail(r->t, "%s page, %s=%s, %s %s, WP=%u NXE=%u: expected %s, got %s%s%s",
		   page_size_name(r->m, ch->leaf), pt_level_name(r->m, level),
		   perm_bits_name(bits, b, sizeof(b)), r->env.user ? "user" : "supervisor",
		   access_names[r->env.op], r->env.wp, r->env.nxe, want,
		   outcome_name(!done, done ? &none : f, got, sizeof(got)), why ? ": " : "",
		   why ? why : "");
}

static void perm_one(struct perm_run *r, const struct chain *ch, unsigned level, uint64_t bits)
{
	uint64_t lb[5], va = ch->va + (r->env.op == ACCESS_FETCH ? 0 : DATA_OFF);
	struct walk_expect e;
	struct fault f;
	uint32_t rval = 0;
	const char *why = NULL;
	bool done;
	char buf[48];

	for (unsigned l = ch->leaf; l <= ch->top; l++)
		lb[l] = l == level ? bits : PTE_P | PTE_W | PTE_U;
	e = model_walk(&r->env, lb, ch->top, ch->leaf);

	chain_set(ch, level, bits);
	r->wval++;
	done = access_run(r->env.op, r->env.user, va, r->wval, &rval, &f);

	if (done == e.fault) {
		why = "";
	} else if (e.fault) {
		enum error_match match = f.vector == VEC_PF ?
			model_error_match(e.error, f.error, &r->rsvd_p) : ERROR_DIFFERS;

		if (match == ERROR_DIFFERS)
			why = "";
		else if (match == ERROR_P_INCONSISTENT)
			why = "P differs from the earlier reserved-bit faults";
		else if (f.cr2 != va)
			why = "CR2 is not the address accessed";
		else if (chain_get(ch, ch->leaf) & PTE_D)
			why = "D set in the leaf entry";
		else if (e.stop_level && !(bits & PTE_P) &&
			 chain_get(ch, e.stop_level) != (ch->base[e.stop_level] | bits))
			why = "the not-present entry was modified";
	} else {
		if (r->env.op == ACCESS_READ && rval != *frame_word(r->frame, DATA_OFF))
			why = "the read returned the wrong data";
		else if (r->env.op == ACCESS_WRITE && *frame_word(r->frame, DATA_OFF) != r->wval)
			why = "the write did not reach the frame";
		for (unsigned l = ch->leaf; !why && l <= ch->top; l++) {
			uint64_t v = chain_get(ch, l);

			if (!(v & PTE_A)) {
				snprintf(buf, sizeof(buf), "A not set in the %s",
					 pt_level_name(r->m, l));
				why = buf;
			} else if (l == ch->leaf && !!(v & PTE_D) != (r->env.op == ACCESS_WRITE)) {
				snprintf(buf, sizeof(buf), "D %s in the %s",
					 v & PTE_D ? "set" : "not set", pt_level_name(r->m, l));
				why = buf;
			}
		}
	}
	if (!why)
		check_pass(r->t);
	else
		describe_failure(r, ch, level, bits, &e, done, &f, why[0] ? why : NULL);
}

void test_perm(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	struct ctx c;
	struct chain chains[3];
	unsigned nchains = 0, nbits = m->nx ? 16 : 8;
	struct perm_run r = { .t = t, .m = m, .env = { .nx_mode = m->nx }, .rsvd_p = RSVD_P_INIT };

	t->unit = "combinations";
	if (!ctx_enter(&c, t, m))
		return;
	r.frame = test_frame(0x9e500000);
	for (unsigned leaf = 1; leaf <= m->levels; leaf++)
		if (leaf_wanted(m, leaves, leaf)) {
			chain_build(&chains[nchains], m, c.root, nchains, leaf, r.frame);
			nchains++;
		}

	for (unsigned nxe = 0; nxe <= (m->nx ? 1u : 0u); nxe++) {
		r.env.nxe = nxe;
		if (m->nx)
			cpu_set_nxe(nxe);
		for (unsigned wp = 0; wp < 2; wp++) {
			r.env.wp = wp;
			cpu_set_wp(wp);
			for (unsigned i = 0; i < nchains; i++) {
				const struct chain *ch = &chains[i];

				for (unsigned level = ch->leaf; level <= ch->top; level++)
					for (unsigned n = 0; n < nbits; n++)
						for (unsigned user = 0; user < 2; user++)
							for (unsigned op = 0; op < 3; op++) {
								r.env.user = user;
								r.env.op = op;
								perm_one(&r, ch, level, bits_of(n));
							}
			}
		}
	}
	ctx_leave(&c);
}
