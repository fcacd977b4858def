/*
 * t_rsvd.c: cases rsvd32, rsvdpae, rsvd64 (and the 1 GiB part of gbpages64).
 * A reserved bit set in a present entry must raise #PF with P and RSVD set in
 * the error code (plus W, U and, with NXE, I/D describing the access), CR2 =
 * the address, whatever the access and the ring.  Only bits reserved on
 * every CPU this suite runs on are used: bit 51 (reserved while MAXPHYADDR < 52), NX (bit 63) with
 * EFER.NXE=0, PS in a PML4E, bits 20:13 of a 2 MiB PDE, bits 29:13 of a
 * 1 GiB PDPTE, and bit 21 of a 4 MiB PDE (2-level, PSE-36: with MAXPHYADDR
 * at 40 or more, bits 20:13 hold address bits 39:32 and bit 21 stays
 * reserved; without PSE-36 bits 21:13 all are).
 * Each bit is tried at ring 0 and ring 3 with a read, a write and a fetch.
 * (The P bit of these error codes: see model.h.)
 */
#include "model.h"
#include "mmutest.h"

struct rsvd_case {
	uint8_t leaf;   /* page size of the chain: level of its leaf */
	uint8_t level;  /* the entry that gets the bit */
	uint8_t bit;
	bool nxe;       /* EFER.NXE during the test */
};

static const struct rsvd_case cases_2level[] = {
	{ 2, 2, 21, false },
};

static const struct rsvd_case cases_pae[] = {
	{ 1, 1, 51, true }, { 1, 2, 51, true }, { 2, 2, 51, true },
	{ 2, 2, 13, true }, { 2, 2, 20, true },
	{ 1, 1, 63, false }, { 1, 2, 63, false }, { 2, 2, 63, false },
};

static const struct rsvd_case cases_4level[] = {
	{ 1, 1, 51, true }, { 1, 2, 51, true }, { 1, 3, 51, true }, { 1, 4, 51, true },
	{ 1, 4, 7, true },  /* PS in a PML4E */
	{ 2, 2, 51, true }, { 2, 2, 13, true }, { 2, 2, 20, true },
	{ 3, 3, 51, true }, { 3, 3, 13, true }, { 3, 3, 29, true },
	{ 1, 1, 63, false }, { 1, 2, 63, false }, { 1, 3, 63, false }, { 1, 4, 63, false },
	{ 2, 2, 63, false }, { 3, 3, 63, false },
};

void test_rsvd(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	const struct rsvd_case *list;
	unsigned n;
	struct chain chains[4];
	struct ctx c;
	uint64_t frame;
	struct rsvd_p rsvd_p = RSVD_P_INIT;

	if (m == &pgmode_2level)
		list = cases_2level, n = ARRAY_SIZE(cases_2level);
	else if (m == &pgmode_pae)
		list = cases_pae, n = ARRAY_SIZE(cases_pae);
	else
		list = cases_4level, n = ARRAY_SIZE(cases_4level);

	if (!ctx_enter(&c, t, m))
		return;
	frame = test_frame(0x0e5e0000);
	for (unsigned leaf = 1; leaf <= m->levels; leaf++)
		if (leaf_wanted(m, leaves, leaf))
			chain_build(&chains[leaf], m, c.root, leaf, leaf, frame);

	for (unsigned i = 0; i < n; i++) {
		const struct rsvd_case *rc = &list[i];
		const struct chain *ch = &chains[rc->leaf];

		if (!leaf_wanted(m, leaves, rc->leaf))
			continue;
		if (m->nx)
			cpu_set_nxe(rc->nxe);
		for (unsigned user = 0; user < 2; user++) {
			for (unsigned op = ACCESS_READ; op <= ACCESS_FETCH; op++) {
				uint64_t va = ch->va + (op == ACCESS_FETCH ? 0 : DATA_OFF);
				uint32_t want = PFERR_P | PFERR_RSVD | (user ? PFERR_U : 0) |
						(op == ACCESS_WRITE ? PFERR_W : 0) |
						(op == ACCESS_FETCH && rc->nxe ? PFERR_I : 0);
				struct fault f = { 0 };
				enum error_match match;
				char got[32];
				bool done;

				chain_set(ch, 0, 0);
				pte_set(m, ch->entry[rc->level],
					chain_get(ch, rc->level) | (1ull << rc->bit));
				invlpg(ch->va);
				done = access_run(op, user, va, 0x5e5e5e5e, NULL, &f);
				match = !done && f.vector == VEC_PF ?
					model_error_match(want, f.error, &rsvd_p) : ERROR_DIFFERS;
				if (match == ERROR_MATCH && f.cr2 == va) {
					check_pass(t);
					continue;
				}
				check_fail(t, "%s page, bit %u in the %s, NXE=%u, %s %s: expected #PF err %#x, got %s%s",
					   page_size_name(m, rc->leaf), rc->bit,
					   pt_level_name(m, rc->level), rc->nxe,
					   user ? "user" : "supervisor", access_names[op], want,
					   outcome_name(!done, &f, got, sizeof(got)),
					   match == ERROR_P_INCONSISTENT ?
						   " (P differs from the earlier reserved-bit faults)" :
					   match == ERROR_MATCH ? " at the wrong CR2" : "");
			}
		}
	}
	ctx_leave(&c);
}
