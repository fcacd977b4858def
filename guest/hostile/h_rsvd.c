/*
 * h_rsvd.c: case rsvd.  A reserved bit in a present entry, at every level
 * of the 4-level walk, must raise #PF with RSVD set (and W, U and I/D
 * describing the access, P as the CPU reports it: see common.c), CR2 = the
 * address, for every access at ring 0 and ring 3.  The bits: 51 (above
 * MAXPHYADDR), PS in a PML4E, bit 13 of a 2 MiB PDE, bit 63 (NX) with
 * EFER.NXE clear.  The expected error code is worked out here from the
 * manual's rules, not from watching a CPU.
 */
#include "hostile.h"

struct rsvd_bit {
	uint8_t level;  /* the entry that gets the bit */
	uint8_t bit;
	bool large;     /* the leaf is a 2 MiB page (the PDE has PS) */
	bool nxe;
};

static const struct rsvd_bit bits[] = {
	{ 1, 51, false, true }, { 2, 51, false, true }, { 3, 51, false, true }, { 4, 51, false, true },
	{ 4, 7, false, true },  { 2, 13, true, true },  { 2, 51, true, true },
	{ 1, 63, false, false }, { 2, 63, false, false }, { 3, 63, false, false },
	{ 4, 63, false, false }, { 2, 63, true, false },
};

void h_rsvd(struct tally *t, uint32_t arg)
{
	uint64_t *frame, *entry[5], base[5], va;
	void *root;

	(void)arg;
	root = space_enter(boot.pool_end);
	frame = page_alloc();
	((uint8_t *)frame)[0] = 0xc3;
	for (unsigned i = 0; i < ARRAY_SIZE(bits); i++) {
		const struct rsvd_bit *b = &bits[i];
		unsigned leaf = b->large ? 2 : 1;

		/* a fresh chain for each bit: slot i, leaf 4 KiB or 2 MiB */
		va = pt_slot_va(pm, i);
		if (b->large) {
			uint64_t big = region_alloc(2u << 20, 2u << 20);

			*(uint8_t *)phys_ptr(big) = 0xc3;
			va |= 0; /* the 2 MiB page starts at the slot */
			pt_map(pm, root, va, big, 2, PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
		} else {
			pt_map(pm, root, va, (uintptr_t)frame, 1, PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
		}
		for (unsigned l = leaf; l <= 4; l++) {
			entry[l] = pt_walk(pm, root, va, l, false);
			base[l] = *entry[l];
		}
		cpu_set_nxe(b->nxe);
		*entry[b->level] = base[b->level] | (1ull << b->bit);
		invlpg(va);
		for (unsigned user = 0; user < 2; user++) {
			for (unsigned op = ACCESS_READ; op <= ACCESS_FETCH; op++) {
				struct outcome o = probe(op, user, va, 0);
				uint32_t want = PFERR_RSVD | (user ? PFERR_U : 0) |
						(op == ACCESS_WRITE ? PFERR_W : 0) |
						(op == ACCESS_FETCH && b->nxe ? PFERR_I : 0);
				char got[64];

				check(t, !o.ok && o.f.vector == VEC_PF && (o.f.error & ~PFERR_P) == want &&
					 o.f.cr2 == va,
				      "bit %u in the level-%u entry%s, ring %u %s: want #PF(%#x) at %#llx, got %s",
				      b->bit, b->level, b->large ? " (2M leaf)" : "", user * 3,
				      access_names[op], want, (unsigned long long)va,
				      fault_name(o.ok, &o.f, got, sizeof(got)));
			}
		}
		*entry[b->level] = base[b->level];
		invlpg(va);
	}
	cpu_set_nxe(false);
	paging_leave();
}
