/*
 * libFuzzer harness for the guest page-table walker (src/x86/walk.c):
 * any paging mode, control bits, CR3, address and access over 64 KiB of
 * guest RAM holding arbitrary bytes.  Besides ASan/UBSan, it checks each
 * walk against what a wrong walker would get wrong:
 *   - a reference walk of its own, written here from the Intel SDM (vol. 3,
 *     4.3 to 4.7) on a snapshot taken before the walk, without the walker's
 *     code or tables: the PAE PDPTE load's verdict, and for every walk the
 *     outcome, the level it stopped at, the entries it read (where and
 *     what, A and D aside), and the GPA, page size and rights of a
 *     translation (also of a rights fault), the #PF error code (P, W, U,
 *     RSVD, I/D) of a fault, the address of a table outside RAM;
 *   - memory: the only bits that change are A bits of entries on the path
 *     the walk reports and the D bit of its leaf, only from 0 to 1, only on
 *     a successful walk without WALK_PEEK, and then A is set in every entry
 *     of the path and D in the leaf of a write.
 * Each invariant prints its name before the trap.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "x86/walk.h"

#define RAM (64 * 1024)

static uint8_t ram[RAM], before[RAM];

static void *gpa(void *opaque, uint64_t a, unsigned len)
{
	(void)opaque;
	return a < RAM && len <= RAM - a ? ram + a : NULL;
}

#define CHECK(c, what) do { if (!(c)) { \
	fprintf(stderr, "fuzz_walk: invariant failed: %s\n", what); __builtin_trap(); } } while (0)

/* ---- the reference walk (SDM vol. 3, chapter 4), on the snapshot ---- */

#define E_P   (1ULL << 0)
#define E_RW  (1ULL << 1)
#define E_US  (1ULL << 2)
#define E_A   (1ULL << 5)
#define E_D   (1ULL << 6)
#define E_PS  (1ULL << 7)
#define E_XD  (1ULL << 63)

struct ref {
	enum walk_outcome outcome;
	int root, level;
	uint32_t ec;
	uint64_t bad, gpa, size;
	unsigned acc;
	uint64_t at[5], val[5];   /* per level: where the entry is, what it held */
	bool in_mem[5];           /* false for a PAE PDPTE (a register) */
};

/* Bits lo..hi of a 64-bit value, none if lo > hi. */
static uint64_t span(unsigned lo, unsigned hi)
{
	uint64_t m = 0;

	for (unsigned b = lo; b <= hi && b < 64; b++)
		m |= 1ULL << b;
	return m;
}

static bool snap_read(uint64_t a, unsigned len, uint64_t *v)
{
	*v = 0;
	if (a >= RAM || RAM - a < len)
		return false;
	memcpy(v, before + a, len);   /* little endian */
	return true;
}

/* Is the PAE PDPT at cr3 loadable (SDM 4.4.1: reserved bits of a present
 * PDPTE are 63:M, 8:5 and 2:1)?  Fills pdpte[]. */
static bool ref_pdptes(uint64_t cr3, unsigned m, uint64_t pdpte[4])
{
	bool ok = true;

	for (unsigned i = 0; i < 4; i++) {
		if (!snap_read((cr3 & 0xffffffe0ULL) + 8 * i, 8, &pdpte[i]))
			return false;
		if ((pdpte[i] & E_P) && (pdpte[i] & (span(m, 63) | span(5, 8) | span(1, 2))))
			ok = false;
	}
	return ok;
}

static void ref_walk(unsigned mode, unsigned flags, unsigned m, uint64_t cr3, const uint64_t pdpte[4],
		     uint64_t gva, unsigned access, struct ref *f)
{
	bool p32 = mode == WALK_PAGING32, nxe = !p32 && (flags & WALK_EFER_NXE);
	bool user = access & WALK_PF_USER, write = access & WALK_PF_WRITE, fetch = access & WALK_PF_FETCH;
	bool u = true, w = true, x = true;
	unsigned esize = p32 ? 4 : 8, ibits = p32 ? 10 : 9;
	uint64_t amask = p32 ? 0xfffff000ULL : span(12, m - 1), table, e = 0, rsvd;
	int lv;

	memset(f, 0, sizeof(*f));
	if (mode != WALK_PAGING64)
		gva &= 0xffffffffULL;
	else if ((int64_t)(gva << 16) >> 16 != (int64_t)gva) {
		f->outcome = WALK_NONCANONICAL;
		return;
	}
	f->root = f->level = p32 ? 2 : mode == WALK_PAGING32E ? 3 : 4;
	lv = f->root;
	table = cr3 & amask;
	if (mode == WALK_PAGING32E) {
		unsigned i = (gva >> 30) & 3;

		f->at[3] = (cr3 & 0xffffffe0ULL) + 8 * i;
		f->val[3] = pdpte[i];
		if (!(pdpte[i] & E_P))
			goto fault_np;
		table = pdpte[i] & amask;   /* a PDPTE has no R/W, U/S or XD */
		lv = 2;
	}
	for (;; lv--) {
		bool large = false;

		f->level = lv;
		f->at[lv] = table + ((gva >> (12 + ibits * (lv - 1))) & ((1u << ibits) - 1)) * esize;
		f->in_mem[lv] = true;
		if (!snap_read(f->at[lv], esize, &e)) {
			f->outcome = WALK_BAD_GPA;
			f->bad = f->at[lv];
			return;
		}
		f->val[lv] = e;
		if (!(e & E_P))
			goto fault_np;
		if (p32) {
			/* 32-bit paging: only a 4 MiB PDE (CR4.PSE) has reserved
			 * bits: 21 and those above the PSE-36 address bits. */
			unsigned m32 = m < 40 ? m : 40;

			large = lv == 2 && (flags & WALK_CR4_PSE) && (e & E_PS);
			rsvd = large ? span(13 + (m32 - 32), 21) : 0;
		} else {
			/* PAE: 62:M; 4-level: 51:M; XD without NXE; PS in a
			 * PML4E; 20:13 / 29:13 in a 2 MiB / 1 GiB page. */
			rsvd = span(m, mode == WALK_PAGING64 ? 51 : 62) | (nxe ? 0 : E_XD);
			if (lv == 4)
				rsvd |= E_PS;
			large = (lv == 2 || (lv == 3 && mode == WALK_PAGING64)) && (e & E_PS);
			if (large)
				rsvd |= span(13, lv == 2 ? 20 : 29);
		}
		if (e & rsvd) {
			f->outcome = WALK_FAULT;
			f->ec = WALK_PF_PRESENT | WALK_PF_RSVD;
			goto fault_bits;
		}
		u = u && (e & E_US);
		w = w && (e & E_RW);
		x = x && !(nxe && (e & E_XD));
		if (lv == 1 || large)
			break;
		table = e & amask;
	}
	f->size = 1ULL << (12 + ibits * (lv - 1));
	if (p32 && lv == 2)
		f->gpa = (e & 0xffc00000ULL) | (((e >> 13) & ((1ULL << ((m < 40 ? m : 40) - 32)) - 1)) << 32);
	else
		f->gpa = e & amask & ~(f->size - 1);
	f->gpa |= gva & (f->size - 1);
	f->acc = (x ? WALK_ACC_EXEC : 0) | (w ? WALK_ACC_WRITE : 0) | (u ? WALK_ACC_USER : 0);
	/* SDM 4.6: user needs U/S everywhere; a write R/W everywhere unless
	 * a supervisor write with CR0.WP=0; a fetch no XD (no SMEP). */
	if ((user && !u) || (write && !w && (user || (flags & WALK_CR0_WP))) || (fetch && !x)) {
		f->outcome = WALK_FAULT;
		f->ec = WALK_PF_PRESENT;
		goto fault_bits;
	}
	f->outcome = WALK_OK;
	return;
fault_np:
	f->outcome = WALK_FAULT;
	f->ec = 0;
fault_bits:
	/* SDM 4.7: W and U from the access; I/D for a fetch with PAE/4-level and NXE. */
	f->ec |= (write ? WALK_PF_WRITE : 0) | (user ? WALK_PF_USER : 0) | (fetch && nxe ? WALK_PF_FETCH : 0);
}

/* ---- the harness ---- */

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static uint8_t allowed[RAM];
	struct walk_ctx ctx;
	struct walk_result r;
	struct ref f;
	uint64_t cr3, gva, pdpte[4] = { 0 };
	unsigned mode, flags, access, maxphy;
	bool ok, pae_ok = true;
	enum walk_outcome o;

	if (n < 20)
		return 0;
	mode = d[0] % 3;
	flags = d[1] & (WALK_CR0_WP | WALK_CR4_PSE | WALK_EFER_NXE);
	maxphy = 36 + d[2] % 17;                    /* 36..52 */
	access = d[3] & (WALK_PF_WRITE | WALK_PF_USER | WALK_PF_FETCH);
	if (d[3] & 0x80)
		access |= WALK_PEEK;
	memcpy(&cr3, d + 4, 8);
	memcpy(&gva, d + 12, 8);
	cr3 &= RAM - 1;                             /* somewhere in RAM, mostly */
	memset(ram, 0, RAM);
	memcpy(ram, d + 20, n - 20 < RAM ? n - 20 : RAM);
	memcpy(before, ram, RAM);

	walk_init(&ctx, (enum walk_mode)mode, flags, maxphy, gpa, NULL);
	if (mode == WALK_PAGING32E)
		pae_ok = ref_pdptes(cr3, maxphy, pdpte);
	o = walk_set_cr3(&ctx, cr3);
	CHECK((o == WALK_OK) == pae_ok, "MOV CR3 (PAE PDPTE load) verdict differs from the reference");
	if (o != WALK_OK)
		return 0;
	memset(&r, 0, sizeof(r));
	o = walk_gva(&ctx, gva, access, &r);
	ref_walk(mode, flags, maxphy, cr3, pdpte, gva, access, &f);

	CHECK(o == r.outcome, "walk_gva's return differs from res->outcome");
	CHECK(o == f.outcome, "outcome differs from the reference walk");
	if (o != WALK_NONCANONICAL) {
		CHECK(r.root_level == f.root && r.level == f.level, "level differs from the reference walk");
		/* The entries the walk reports are the ones the SDM reads. */
		for (int l = f.root; l >= f.level; l--) {
			CHECK(r.steps[l].pte_gpa == f.at[l], "an entry's address differs from the reference walk");
			if (o != WALK_BAD_GPA || l != f.level)
				CHECK((r.steps[l].pte & ~(E_A | E_D)) == (f.val[l] & ~(E_A | E_D)),
				      "an entry's value differs from the reference walk");
		}
	}
	if (o == WALK_FAULT)
		CHECK(r.error_code == f.ec, "#PF error code differs from the reference walk");
	if (o == WALK_BAD_GPA)
		CHECK(r.bad_gpa == f.bad, "bad_gpa differs from the reference walk");
	if (o == WALK_OK || (o == WALK_FAULT && f.ec == WALK_PF_PRESENT)) {
		CHECK(r.gpa == f.gpa && r.page_size == f.size, "translation differs from the reference walk");
		CHECK(r.access == f.acc, "rights differ from the reference walk");
	}

	/* Memory: A of the path's entries and D of the leaf, set only. */
	ok = o == WALK_OK && !(access & WALK_PEEK);
	if (!ok) {
		CHECK(memcmp(ram, before, RAM) == 0, "memory changed by a walk that failed or peeked");
		return 0;
	}
	memset(allowed, 0, RAM);
	for (int l = r.root_level; l >= r.level; l--) {
		if (!f.in_mem[l])
			continue;
		allowed[r.steps[l].pte_gpa] |= (uint8_t)E_A;
		CHECK(ram[r.steps[l].pte_gpa] & E_A, "A not set in an entry of the path");
	}
	allowed[r.steps[r.level].pte_gpa] |= (access & WALK_PF_WRITE) ? (uint8_t)E_D : 0;
	CHECK(!(access & WALK_PF_WRITE) || (ram[r.steps[r.level].pte_gpa] & E_D), "D not set in the leaf of a write");
	CHECK(r.dirty == !!(ram[r.steps[r.level].pte_gpa] & E_D), "res->dirty differs from the leaf's D bit");
	for (unsigned i = 0; i < RAM; i++) {
		uint8_t ch = ram[i] ^ before[i];

		if (!ch)
			continue;
		CHECK(!(ch & before[i]), "a walk cleared a bit");
		CHECK(!(ch & ~(E_A | E_D)), "a walk changed a bit other than A or D");
		CHECK(!(ch & ~allowed[i] & E_A), "A set outside the path the walk reports");
		CHECK(!(ch & ~allowed[i] & E_D), "D set in an entry other than the leaf of a write");
	}
	return 0;
}
