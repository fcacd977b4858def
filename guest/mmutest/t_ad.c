/*
 * t_ad.c: cases ad32, adpae, ad64 (and the 1 GiB part of gbpages64).  The
 * accessed and dirty bits the page walk sets.  For every page size tested,
 * every access type and both rings: clear A and D in every entry of the
 * chain, INVLPG, make one access that is allowed, then A must be set at every
 * level that has one (PAE's PDPTEs have none) and D exactly in the leaf
 * entry of a write: clear in the leaf after a read or fetch, clear in every
 * entry above the leaf.  (reuse32/pae/64 check A and D again on translations
 * reused without a flush.)
 * The permission matrix (t_perm.c) checks the same after each of its
 * combinations; this case states the rule on its own.
 */
#include "mmutest.h"

void test_ad(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	struct ctx c;
	struct chain ch;
	uint64_t frame;
	unsigned slot = 0;

	if (!ctx_enter(&c, t, m))
		return;
	frame = test_frame(0xad0000ad);
	for (unsigned leaf = 1; leaf <= m->levels; leaf++) {
		if (!leaf_wanted(m, leaves, leaf))
			continue;
		chain_build(&ch, m, c.root, slot++, leaf, frame);
		for (unsigned user = 0; user < 2; user++) {
			for (unsigned op = ACCESS_READ; op <= ACCESS_FETCH; op++) {
				struct fault f;
				uint64_t va = ch.va + (op == ACCESS_FETCH ? 0 : DATA_OFF);
				bool done;

				chain_set(&ch, 0, 0);
				done = access_run(op, user, va, 0xd1d1d1d1, NULL, &f);
				if (!check(t, done, "%s page, %s %s: faulted (vector %u err %#x)",
					   page_size_name(m, leaf), user ? "user" : "supervisor",
					   access_names[op], f.vector, f.error))
					continue;
				for (unsigned l = ch.leaf; l <= ch.top; l++) {
					uint64_t e = chain_get(&ch, l);
					bool want_d = l == ch.leaf && op == ACCESS_WRITE;

					check(t, e & PTE_A, "%s page, %s %s: A not set in the %s",
					      page_size_name(m, leaf), user ? "user" : "supervisor",
					      access_names[op], pt_level_name(m, l));
					/* D in an entry that references a table is ignored,
					 * never written (a shadow MMU that sets it at every
					 * level on a write fails here). */
					check(t, !!(e & PTE_D) == want_d,
					      "%s page, %s %s: D %s in the %s",
					      page_size_name(m, leaf),
					      user ? "user" : "supervisor", access_names[op],
					      want_d ? "not set" : "set", pt_level_name(m, l));
				}
			}
		}
	}
	ctx_leave(&c);
}
