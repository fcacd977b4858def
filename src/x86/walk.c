/*
 * The guest page-table walker: the mode-specific rules and the entry points.
 *
 * This file is in three parts:
 *
 *   1. The rules every walk shares: the rights an entry grants, when an
 *      access is refused (Intel SDM vol. 3 section 4.6, with SMEP, SMAP and
 *      protection keys off because ombra's CPUID offers none of them), and
 *      how the #PF error code is built (section 4.7).
 *   2. The walk itself, from walk_tmpl.h, compiled once for 4-byte entries
 *      (paging32_walk) and once for 8-byte entries (paging64_walk, which
 *      also does PAE: it starts from the PDPTE registers at level 3).
 *   3. walk_init(), which turns the paging mode, CR0.WP, CR4.PSE, EFER.NXE
 *      and MAXPHYADDR into tables of reserved bits per level (sections 4.3,
 *      4.4.2 and 4.5.4), walk_set_cr3() with the PAE PDPTE load, and
 *      walk_gva(), which picks the walker.
 *
 * Who calls it: the shadow MMU on every shadow fault (the walk tells a guest
 * fault from a hidden one, and gives the guest frames its shadow pages are
 * keyed by), the instruction emulator for its memory operands, and the
 * translation-chain display (with WALK_PEEK, so looking changes nothing).
 */
#include "walk.h"
#include "x86.h"


#include <assert.h>
#include <stdio.h>
#include <string.h>

/* ---- 1. what every walk shares ---- */

#define PT_PRESENT         (1ULL << 0)
#define PT_WRITABLE        (1ULL << 1)
#define PT_USER            (1ULL << 2)
#define PT_ACCESSED        (1ULL << 5)
#define PT_DIRTY           (1ULL << 6)
#define PT_PAGE_SIZE       (1ULL << 7)
#define PT_NX              (1ULL << 63)

#define PT32_ADDR_MASK     0xfffff000ULL   /* 32-bit paging: table or 4K page, bits 31:12 */
#define PT32_4M_ADDR_MASK  0xffc00000ULL   /* 32-bit paging: 4M page, bits 31:22 */
#define PAE_PDPT_MASK      0xffffffe0ULL   /* PAE: CR3 bits 31:5 locate the PDPT */

/* Bits lo..hi set (none when lo > hi). */
static uint64_t bits(int lo, int hi)
{
	if (lo > hi)
		return 0;
	return (~0ULL >> (63 - hi)) & ~((1ULL << lo) - 1);
}

/* The rights one present entry grants, as WALK_ACC_* bits. */
static unsigned gpte_access(const struct walk_ctx *ctx, uint64_t gpte)
{
	unsigned acc = 0;

	if (gpte & PT_WRITABLE)
		acc |= WALK_ACC_WRITE;
	if (gpte & PT_USER)
		acc |= WALK_ACC_USER;
	if (!(gpte & ctx->nx_mask))   /* nx_mask is 0 unless bit 63 means NX */
		acc |= WALK_ACC_EXEC;
	return acc;
}

/* Does the translation's accumulated access refuse this access?  (SDM 4.6) */
static bool permission_fault(const struct walk_ctx *ctx, unsigned acc, unsigned access)
{
	bool user = access & WALK_PF_USER;

	/* CPL3 may touch only pages that are U/S=1 at every level. */
	if (user && !(acc & WALK_ACC_USER))
		return true;
	/*
	 * A write needs R/W=1 at every level, except a supervisor write with
	 * CR0.WP=0, which ignores R/W altogether.
	 */
	if ((access & WALK_PF_WRITE) && !(acc & WALK_ACC_WRITE) &&
	    (user || (ctx->flags & WALK_CR0_WP)))
		return true;
	/*
	 * A fetch needs NX=0 at every level (only with EFER.NXE; otherwise
	 * acc always has EXEC).  Without SMEP a supervisor may fetch from a
	 * user page.
	 */
	if ((access & WALK_PF_FETCH) && !(acc & WALK_ACC_EXEC))
		return true;
	return false;
}

/* Forget the last walk; record what every outcome reports. */
static void walk_start(const struct walk_ctx *ctx, struct walk_result *res, uint64_t gva)
{
	memset(res, 0, sizeof(*res));
	res->gva = gva;
	res->root_level = ctx->root_level;
	res->level = ctx->root_level;
}

/*
 * End the walk with a guest fault.  cause is 0 (not present), P (rights) or
 * P|RSVD; the access adds W and U, and I/D where the CPU reports it: only
 * when bit 63 can be NX, i.e. PAE/4-level paging with EFER.NXE (no SMEP).
 */
static enum walk_outcome walk_fault(const struct walk_ctx *ctx, struct walk_result *res,
				    int level, unsigned access, uint32_t cause)
{
	uint32_t ec = cause | (access & (WALK_PF_WRITE | WALK_PF_USER));

	if ((access & WALK_PF_FETCH) && ctx->nx_mask)
		ec |= WALK_PF_FETCH;
	res->level = level;
	res->error_code = ec;
	return res->outcome = WALK_FAULT;
}

/* ---- 2. the walk, once per entry size ---- */

#define PTTYPE 32
#include "walk_tmpl.h"
#undef PTTYPE

#define PTTYPE 64
#include "walk_tmpl.h"
#undef PTTYPE

/* ---- 3. the entry points ---- */

void walk_init(struct walk_ctx *ctx, enum walk_mode mode, unsigned flags,
	       unsigned maxphyaddr, walk_gpa_fn gpa_fn, void *opaque)
{
	unsigned m = maxphyaddr ? maxphyaddr : WALK_MAXPHYADDR_DEFAULT;
	bool nxe = flags & WALK_EFER_NXE;
	uint64_t high, exb;

	assert(m >= 32 && m <= 52);
	memset(ctx, 0, sizeof(*ctx));
	ctx->mode = mode;
	ctx->flags = flags;
	ctx->maxphyaddr = m;
	ctx->gpa_fn = gpa_fn;
	ctx->opaque = opaque;
	ctx->addr_mask = bits(12, m - 1);
	/* Without EFER.NXE bit 63 of an 8-byte entry is reserved. */
	exb = nxe ? 0 : PT_NX;

	switch (mode) {
	case WALK_PAGING32: {
		/*
		 * No reserved bits in a PTE or in a PDE pointing to a page
		 * table.  A 4 MiB PDE (CR4.PSE=1 and PS=1) carries PSE-36 bits
		 * (M-20):13 for address bits (M-1):32 with M = min(MAXPHYADDR,
		 * 40); bits 21:(M-19) are reserved (SDM table 4-4).  Bit 63
		 * does not exist: no NX, whatever EFER.NXE says.
		 */
		unsigned m32 = m < 40 ? m : 40;

		ctx->root_level = 2;
		ctx->large_levels = (flags & WALK_CR4_PSE) ? 1u << 2 : 0;
		ctx->pse36_mask = (1u << (m32 - 32)) - 1;
		ctx->rsvd[1][2] = bits(m32 - 19, 21);
		break;
	}
	case WALK_PAGING32E:
		/*
		 * PAE entries reserve bits 62:M (tables 4-8 to 4-11), and bit
		 * 63 without NXE; a 2 MiB PDE also 20:13.  CR4.PSE plays no
		 * part.  A present PDPTE reserves 63:M, 8:5 and 2:1; that is
		 * checked when the PDPTEs are loaded, not on every walk.
		 */
		high = bits(m, 62);
		ctx->root_level = 3;
		ctx->large_levels = 1u << 2;
		ctx->nx_mask = nxe ? PT_NX : 0;
		ctx->rsvd[0][1] = high | exb;
		ctx->rsvd[0][2] = high | exb;
		ctx->rsvd[1][2] = high | exb | bits(13, 20);
		ctx->pdpte_rsvd = bits(m, 63) | bits(5, 8) | bits(1, 2);
		break;
	case WALK_PAGING64:
		/*
		 * 4-level entries reserve bits 51:M (62:52 are ignored, and
		 * would be protection keys with CR4.PKE), bit 63 without NXE,
		 * PS in a PML4E, 20:13 in a 2 MiB PDE and 29:13 in a 1 GiB
		 * PDPTE (tables 4-14 to 4-19; ombra's CPUID offers 1 GiB pages).
		 */
		high = bits(m, 51);
		ctx->root_level = 4;
		ctx->large_levels = (1u << 2) | (1u << 3);
		ctx->nx_mask = nxe ? PT_NX : 0;
		ctx->rsvd[0][1] = high | exb;
		ctx->rsvd[0][2] = high | exb;
		ctx->rsvd[1][2] = high | exb | bits(13, 20);
		ctx->rsvd[0][3] = high | exb;
		ctx->rsvd[1][3] = high | exb | bits(13, 29);
		ctx->rsvd[0][4] = high | exb | PT_PAGE_SIZE;
		break;
	default:
		assert(!"walk_init: unknown paging mode");
	}
}

enum walk_outcome walk_set_cr3(struct walk_ctx *ctx, uint64_t cr3)
{
	if (ctx->mode == WALK_PAGING32E) {
		/*
		 * MOV CR3 in PAE mode reads the four PDPTEs at once; a reserved
		 * bit in a present one is a #GP at the MOV (SDM 4.4.1), and the
		 * old CR3 and PDPTEs stay.  Later walks use these copies even if
		 * the guest rewrites the PDPT in memory.
		 */
		uint64_t pdpt = cr3 & PAE_PDPT_MASK, pdptes[4];
		const uint64_t *p = ctx->gpa_fn(ctx->opaque, pdpt, sizeof(pdptes));

		if (!p)
			return WALK_BAD_GPA;
		for (int i = 0; i < 4; i++) {
			pdptes[i] = __atomic_load_n(&p[i], __ATOMIC_ACQUIRE);
			if ((pdptes[i] & PT_PRESENT) && (pdptes[i] & ctx->pdpte_rsvd))
				return WALK_PDPTE_RESERVED;
		}
		memcpy(ctx->pdptes, pdptes, sizeof(pdptes));
	}
	ctx->cr3 = cr3;
	return WALK_OK;
}

enum walk_outcome walk_gva(const struct walk_ctx *ctx, uint64_t gva, unsigned access,
			   struct walk_result *res)
{
	switch (ctx->mode) {
	case WALK_PAGING32:
		return paging32_walk(ctx, gva & 0xffffffffULL, access, res);
	case WALK_PAGING32E:
		return paging64_walk(ctx, gva & 0xffffffffULL, access, res);
	case WALK_PAGING64:
		/* Bits 63:47 must all be equal; the CPU checks before paging. */
		if (!x86_canonical(gva)) {
			walk_start(ctx, res, gva);
			return res->outcome = WALK_NONCANONICAL;
		}
		return paging64_walk(ctx, gva, access, res);
	}
	assert(!"walk_gva: unknown paging mode");
	return WALK_BAD_GPA;
}

const char *walk_outcome_name(enum walk_outcome outcome)
{
	static const char *const names[] = {
		[WALK_OK] = "ok",
		[WALK_FAULT] = "fault",
		[WALK_BAD_GPA] = "bad-gpa",
		[WALK_PDPTE_RESERVED] = "pdpte-reserved",
		[WALK_NONCANONICAL] = "noncanonical",
	};

	if ((unsigned)outcome < sizeof(names) / sizeof(names[0]) && names[outcome])
		return names[outcome];
	return "?";
}

void walk_entry_describe(uint64_t e, unsigned level, enum walk_mode mode, unsigned large_levels, bool nx,
			 char *buf, size_t len)
{
	bool pdpte = mode == WALK_PAGING32E && level == 3;
	bool leaf = level == 1 || (!pdpte && (large_levels >> level & 1) && (e & (1u << 7)));
	const char *what;
	size_t n = 0;

#define NAME(cond, s) do { if ((cond) && n < len) \
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", s); } while (0)
	if (!len)
		return;
	buf[0] = '\0';
	if (!(e & 1)) {
		snprintf(buf, len, "not present");
		return;
	}
	NAME(true, "P");
	NAME(!pdpte && (e & 2), "RW");
	NAME(!pdpte && (e & 4), "US");
	NAME(e & 8, "PWT");
	NAME(e & 16, "PCD");
	NAME(!pdpte && (e & 32), "A");
	NAME(leaf && (e & 64), "D");
	NAME(level > 1 && !pdpte && (e & 128), "PS");
	NAME(level == 1 && (e & 128), "PAT");
	NAME(leaf && (e & 256), "G");
	NAME(leaf && level > 1 && (e & 0x1000), "PAT");
	NAME(nx && mode != WALK_PAGING32 && (e >> 63), "NX");
#undef NAME
	if (pdpte)
		what = "PDPTE";
	else if (!leaf)
		what = "table";
	else if (level == 1)
		what = "4 KiB page";
	else if (level == 2)
		what = mode == WALK_PAGING32 ? "4 MiB page" : "2 MiB page";
	else
		what = "1 GiB page";
	if (n < len)
		snprintf(buf + n, len - n, ": %s", what);
}

bool walk_mode_of(uint64_t cr0, uint64_t cr4, uint64_t efer, enum walk_mode *mode, unsigned *flags)
{
	*mode = efer & EFER_LMA ? WALK_PAGING64 : cr4 & CR4_PAE ? WALK_PAGING32E : WALK_PAGING32;
	*flags = 0;
	if (cr0 & CR0_WP)
		*flags |= WALK_CR0_WP;
	if (cr4 & CR4_PSE)
		*flags |= WALK_CR4_PSE;
	if ((efer & EFER_NXE) && *mode != WALK_PAGING32)
		*flags |= WALK_EFER_NXE;
	return cr0 & CR0_PG;
}
