/*
 * Unit tests for the guest page-table walker (src/x86/walk.c).
 *
 * What is checked, in four parts:
 *
 *   1. Hand-built tables in each mode (4K, 4M with and without PSE-36 high
 *      bits, 2M, 1G pages), with every expected value written out as a
 *      constant: the GPA, the leaf level and size, the rights, the entry
 *      addresses of each step, and the exact A/D bits in memory after a read,
 *      after a write and after a failed walk.
 *   2. Reserved bits: every bit of every kind of entry is set in turn, and the
 *      walk must report P|RSVD at that level exactly when the SDM's tables
 *      (written out below per level) call the bit reserved.  PAE PDPTE loads
 *      likewise.
 *   3. A permission matrix: every P/W/U/NX combination at the leaf and at one
 *      upper level, x read/write/fetch x user/supervisor x CR0.WP x EFER.NXE,
 *      compared with the reference model.
 *   4. Random tables: 64 pages of random entries (pointing inside RAM, and
 *      sometimes outside), random control bits and MAXPHYADDR, thousands of
 *      random walks per mode with a fixed seed; outcome, error code, GPA,
 *      rights, entry addresses and the whole of guest memory afterwards must
 *      match the reference model's.
 *
 * The reference model (section "model") is written separately from the
 * walker and shaped differently: one straight function per mode that pulls
 * each field out with explicit masks, checks the SDM's conditions one by one,
 * works on its own copy of guest memory and uses its own result codes.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86/walk.h"

#define PAGE      0x1000ULL
#define RAM_BASE  0x200000ULL            /* guest RAM starts at 2 MiB */
#define NPAGES    64
#define RAM_SIZE  (NPAGES * PAGE)
#define PG(n)     (RAM_BASE + (uint64_t)(n) * PAGE)

/* ===================================================================== */
/* guest memory: one buffer for the walker, one for the model            */
/* ===================================================================== */

struct ram {
	uint8_t *b;
	uint64_t base, size;
};

static void *ram_gpa(void *opaque, uint64_t gpa, unsigned len)
{
	struct ram *r = opaque;

	if (gpa < r->base || gpa + len > r->base + r->size)
		return NULL;
	return r->b + (gpa - r->base);
}

struct env {
	struct ram w;       /* what the walker sees (through ram_gpa) */
	struct ram m;       /* the model's own copy */
};

static void env_init(struct env *e)
{
	e->w.base = e->m.base = RAM_BASE;
	e->w.size = e->m.size = RAM_SIZE;
	e->w.b = aligned_alloc(PAGE, RAM_SIZE);
	e->m.b = aligned_alloc(PAGE, RAM_SIZE);
	cr_assert(e->w.b && e->m.b);
	memset(e->w.b, 0, RAM_SIZE);
	memset(e->m.b, 0, RAM_SIZE);
}

static void env_fini(struct env *e)
{
	free(e->w.b);
	free(e->m.b);
}

static void ram_put(struct ram *r, uint64_t gpa, uint64_t v, unsigned size)
{
	cr_assert(gpa >= r->base && gpa + size <= r->base + r->size, "put %#lx", (unsigned long)gpa);
	memcpy(r->b + (gpa - r->base), &v, size);
}

static uint64_t ram_get(const struct ram *r, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;

	cr_assert(gpa >= r->base && gpa + size <= r->base + r->size, "get %#lx", (unsigned long)gpa);
	memcpy(&v, r->b + (gpa - r->base), size);
	return v;
}

/* Write an entry into both memories. */
static void env_put(struct env *e, uint64_t gpa, uint64_t v, unsigned size)
{
	ram_put(&e->w, gpa, v, size);
	ram_put(&e->m, gpa, v, size);
}

/* Bits lo..hi of a 64-bit word, built one by one. */
static uint64_t span(int lo, int hi)
{
	uint64_t v = 0;

	for (int b = lo; b <= hi; b++)
		v |= 1ULL << b;
	return v;
}

/* ===================================================================== */
/* model: the SDM's rules, written straight, one function per mode       */
/* ===================================================================== */

enum m_outcome { M_OK, M_PF, M_BAD, M_NONCANON, M_PDPTE_BAD };
enum m_type { T_READ, T_WRITE, T_FETCH };

struct mcpu {
	int mode;            /* 32, 33 (PAE) or 64 */
	bool wp, pse, nxe;
	unsigned m;          /* MAXPHYADDR */
	uint64_t cr3;
	uint64_t pdpte[4];   /* PAE registers, from model_pae_load */
};

struct mres {
	int outcome;
	uint32_t ec;          /* #PF error code */
	int level;            /* leaf, or where the walk stopped */
	uint64_t gpa, size;   /* translation (also for rights faults) */
	unsigned acc;         /* 1 exec, 2 write, 4 user */
	bool dirty;
	uint64_t bad;         /* M_BAD: address with no RAM */
	uint64_t at[5];       /* entry address per level, as read */
	uint64_t val[5];      /* entry value per level, as read */
};

static bool m_has(const struct ram *r, uint64_t a, unsigned n)
{
	return a >= r->base && a + n <= r->base + r->size;
}

static uint64_t m_rd(const struct ram *r, uint64_t a, unsigned n)
{
	uint64_t v = 0;

	memcpy(&v, r->b + (a - r->base), n);
	return v;
}

static void m_wr(struct ram *r, uint64_t a, uint64_t v, unsigned n)
{
	memcpy(r->b + (a - r->base), &v, n);
}

/* SDM 4.7: bit 0 P, 1 W/R, 2 U/S, 3 RSVD, 4 I/D (I/D only where NX exists and is on). */
static uint32_t m_ec(bool p, bool rsvd, int type, bool user, bool id_reported)
{
	uint32_t ec = 0;

	if (p)
		ec += 1;
	if (type == T_WRITE)
		ec += 2;
	if (user)
		ec += 4;
	if (rsvd)
		ec += 8;
	if (type == T_FETCH && id_reported)
		ec += 16;
	return ec;
}

/* SDM 4.6 with SMEP/SMAP/PKU off: the list of conditions that refuse an access. */
static bool m_denied(bool w, bool u, bool x, int type, bool user, bool wp)
{
	if (user && !u)
		return true;                      /* CPL3 and a supervisor page */
	if (type == T_WRITE && user && !w)
		return true;                      /* user write to read-only */
	if (type == T_WRITE && !user && wp && !w)
		return true;                      /* supervisor write, CR0.WP=1 */
	if (type == T_FETCH && !x)
		return true;                      /* execute-disable somewhere */
	return false;
}

static struct mres m_stop(struct mres r, int outcome, int level)
{
	r.outcome = outcome;
	r.level = level;
	return r;
}

/* The end of every successful translation: rights, then A/D. */
static struct mres m_finish(struct ram *mem, struct mres r, const struct mcpu *c,
			    bool w, bool u, bool x, int type, bool user, bool peek,
			    int top, int leaf, unsigned esize, bool id_reported)
{
	r.level = leaf;
	r.acc = (x ? 1 : 0) | (w ? 2 : 0) | (u ? 4 : 0);
	if (m_denied(w, u, x, type, user, c->wp)) {
		r.outcome = M_PF;
		r.ec = m_ec(true, false, type, user, id_reported);
		return r;
	}
	if (!peek) {
		/* SDM 4.8: A in each entry used, D in the one that maps the page. */
		for (int l = top; l >= leaf; l--) {
			uint64_t v = m_rd(mem, r.at[l], esize) | 0x20;

			if (l == leaf && type == T_WRITE)
				v |= 0x40;
			m_wr(mem, r.at[l], v, esize);
		}
	}
	r.dirty = (m_rd(mem, r.at[leaf], esize) & 0x40) != 0;
	r.outcome = M_OK;
	return r;
}

/* 32-bit paging (SDM 4.3). */
static struct mres model_paging32(struct ram *mem, const struct mcpu *c, uint64_t va64,
				  int type, bool user, bool peek)
{
	struct mres r = { 0 };
	uint32_t va = (uint32_t)va64;
	unsigned M = c->m < 40 ? c->m : 40;   /* PSE-36 width */
	uint64_t pde_at, pte_at;
	uint32_t pde, pte;
	bool w, u;

	pde_at = (c->cr3 & 0xFFFFF000u) + (va >> 22) * 4;
	r.at[2] = pde_at;
	if (!m_has(mem, pde_at, 4)) {
		r.bad = pde_at;
		return m_stop(r, M_BAD, 2);
	}
	pde = m_rd(mem, pde_at, 4);
	r.val[2] = pde;
	if (!(pde & 1)) {
		r.ec = m_ec(false, false, type, user, false);
		return m_stop(r, M_PF, 2);
	}
	w = pde & 2;
	u = pde & 4;

	if (c->pse && (pde & 0x80)) {
		/* 4 MiB page: bits 21:(M-19) reserved, (M-20):13 are address 39:32. */
		uint64_t hi = 0;

		for (unsigned b = M - 19; b <= 21; b++)
			if ((pde >> b) & 1) {
				r.ec = m_ec(true, true, type, user, false);
				return m_stop(r, M_PF, 2);
			}
		for (unsigned b = 13; b + 20 <= M; b++)
			if ((pde >> b) & 1)
				hi |= 1ULL << (b - 13 + 32);
		r.gpa = hi | (pde & 0xFFC00000u) | (va & 0x3FFFFFu);
		r.size = 4u << 20;
		return m_finish(mem, r, c, w, u, true, type, user, peek, 2, 2, 4, false);
	}

	pte_at = (pde & 0xFFFFF000u) + ((va >> 12) & 0x3FF) * 4;
	r.at[1] = pte_at;
	if (!m_has(mem, pte_at, 4)) {
		r.bad = pte_at;
		return m_stop(r, M_BAD, 1);
	}
	pte = m_rd(mem, pte_at, 4);
	r.val[1] = pte;
	if (!(pte & 1)) {
		r.ec = m_ec(false, false, type, user, false);
		return m_stop(r, M_PF, 1);
	}
	w = w && (pte & 2);
	u = u && (pte & 4);
	r.gpa = (pte & 0xFFFFF000u) | (va & 0xFFFu);
	r.size = 4096;
	return m_finish(mem, r, c, w, u, true, type, user, peek, 2, 1, 4, false);
}

/* MOV CR3 with PAE paging (SDM 4.4.1): the four PDPTEs, checked. */
static int model_pae_load(const struct ram *mem, uint64_t cr3, unsigned M, uint64_t out[4])
{
	uint64_t at = cr3 & 0xFFFFFFE0u, e[4];

	if (!m_has(mem, at, 32))
		return M_BAD;
	for (int i = 0; i < 4; i++) {
		e[i] = m_rd(mem, at + 8 * i, 8);
		if (!(e[i] & 1))
			continue;
		if (e[i] & 0x6)          /* bits 2:1 */
			return M_PDPTE_BAD;
		if (e[i] & 0x1E0)        /* bits 8:5 */
			return M_PDPTE_BAD;
		if (e[i] >> M)           /* bits 63:M */
			return M_PDPTE_BAD;
	}
	memcpy(out, e, sizeof(e));
	return M_OK;
}

/* PAE paging (SDM 4.4): PDPTE register, PD, PT. */
static struct mres model_pae(struct ram *mem, const struct mcpu *c, uint64_t va64,
			     int type, bool user, bool peek)
{
	struct mres r = { 0 };
	uint32_t va = (uint32_t)va64;
	unsigned M = c->m;
	uint64_t addr = span(12, M - 1), high = span(M, 62);
	uint64_t pdpte, pde, pte, pde_at, pte_at;
	bool w, u, x, id = c->nxe;
	int i = (va >> 30) & 3;

	pdpte = c->pdpte[i];
	r.at[3] = (c->cr3 & 0xFFFFFFE0u) + 8 * i;
	r.val[3] = pdpte;
	if (!(pdpte & 1)) {
		r.ec = m_ec(false, false, type, user, id);
		return m_stop(r, M_PF, 3);
	}

	pde_at = (pdpte & addr) + ((va >> 21) & 0x1FF) * 8;
	r.at[2] = pde_at;
	if (!m_has(mem, pde_at, 8)) {
		r.bad = pde_at;
		return m_stop(r, M_BAD, 2);
	}
	pde = m_rd(mem, pde_at, 8);
	r.val[2] = pde;
	if (!(pde & 1)) {
		r.ec = m_ec(false, false, type, user, id);
		return m_stop(r, M_PF, 2);
	}
	if ((pde & high) || (!c->nxe && (pde >> 63)) ||
	    ((pde & 0x80) && (pde & span(13, 20)))) {
		r.ec = m_ec(true, true, type, user, id);
		return m_stop(r, M_PF, 2);
	}
	w = pde & 2;
	u = pde & 4;
	x = !(c->nxe && (pde >> 63));
	if (pde & 0x80) {
		r.gpa = (pde & span(21, M - 1)) | (va & 0x1FFFFFu);
		r.size = 2u << 20;
		return m_finish(mem, r, c, w, u, x, type, user, peek, 2, 2, 8, id);
	}

	pte_at = (pde & addr) + ((va >> 12) & 0x1FF) * 8;
	r.at[1] = pte_at;
	if (!m_has(mem, pte_at, 8)) {
		r.bad = pte_at;
		return m_stop(r, M_BAD, 1);
	}
	pte = m_rd(mem, pte_at, 8);
	r.val[1] = pte;
	if (!(pte & 1)) {
		r.ec = m_ec(false, false, type, user, id);
		return m_stop(r, M_PF, 1);
	}
	if ((pte & high) || (!c->nxe && (pte >> 63))) {
		r.ec = m_ec(true, true, type, user, id);
		return m_stop(r, M_PF, 1);
	}
	w = w && (pte & 2);
	u = u && (pte & 4);
	x = x && !(c->nxe && (pte >> 63));
	r.gpa = (pte & addr) | (va & 0xFFFu);
	r.size = 4096;
	return m_finish(mem, r, c, w, u, x, type, user, peek, 2, 1, 8, id);
}

/* 4-level paging (SDM 4.5): PML4E, PDPTE (1G), PDE (2M), PTE. */
static struct mres model_paging64(struct ram *mem, const struct mcpu *c, uint64_t va,
				  int type, bool user, bool peek)
{
	struct mres r = { 0 };
	unsigned M = c->m;
	uint64_t addr = span(12, M - 1), high = span(M, 51);
	uint64_t e, at;
	bool w = true, u = true, x = true, id = c->nxe;
	uint64_t top17 = va >> 47;

	if (top17 != 0 && top17 != 0x1FFFF)
		return m_stop(r, M_NONCANON, 4);

	/* PML4E: bits 51:M, PS (7), and XD without NXE are reserved. */
	at = (c->cr3 & addr) + ((va >> 39) & 0x1FF) * 8;
	r.at[4] = at;
	if (!m_has(mem, at, 8)) {
		r.bad = at;
		return m_stop(r, M_BAD, 4);
	}
	e = r.val[4] = m_rd(mem, at, 8);
	if (!(e & 1)) {
		r.ec = m_ec(false, false, type, user, id);
		return m_stop(r, M_PF, 4);
	}
	if ((e & high) || (e & 0x80) || (!c->nxe && (e >> 63))) {
		r.ec = m_ec(true, true, type, user, id);
		return m_stop(r, M_PF, 4);
	}
	w = w && (e & 2);
	u = u && (e & 4);
	x = x && !(c->nxe && (e >> 63));

	/* PDPTE: PS=1 maps 1 GiB and reserves 29:13. */
	at = (e & addr) + ((va >> 30) & 0x1FF) * 8;
	r.at[3] = at;
	if (!m_has(mem, at, 8)) {
		r.bad = at;
		return m_stop(r, M_BAD, 3);
	}
	e = r.val[3] = m_rd(mem, at, 8);
	if (!(e & 1)) {
		r.ec = m_ec(false, false, type, user, id);
		return m_stop(r, M_PF, 3);
	}
	if ((e & high) || (!c->nxe && (e >> 63)) || ((e & 0x80) && (e & span(13, 29)))) {
		r.ec = m_ec(true, true, type, user, id);
		return m_stop(r, M_PF, 3);
	}
	w = w && (e & 2);
	u = u && (e & 4);
	x = x && !(c->nxe && (e >> 63));
	if (e & 0x80) {
		r.gpa = (e & span(30, M - 1)) | (va & 0x3FFFFFFFu);
		r.size = 1u << 30;
		return m_finish(mem, r, c, w, u, x, type, user, peek, 4, 3, 8, id);
	}

	/* PDE: PS=1 maps 2 MiB and reserves 20:13. */
	at = (e & addr) + ((va >> 21) & 0x1FF) * 8;
	r.at[2] = at;
	if (!m_has(mem, at, 8)) {
		r.bad = at;
		return m_stop(r, M_BAD, 2);
	}
	e = r.val[2] = m_rd(mem, at, 8);
	if (!(e & 1)) {
		r.ec = m_ec(false, false, type, user, id);
		return m_stop(r, M_PF, 2);
	}
	if ((e & high) || (!c->nxe && (e >> 63)) || ((e & 0x80) && (e & span(13, 20)))) {
		r.ec = m_ec(true, true, type, user, id);
		return m_stop(r, M_PF, 2);
	}
	w = w && (e & 2);
	u = u && (e & 4);
	x = x && !(c->nxe && (e >> 63));
	if (e & 0x80) {
		r.gpa = (e & span(21, M - 1)) | (va & 0x1FFFFFu);
		r.size = 2u << 20;
		return m_finish(mem, r, c, w, u, x, type, user, peek, 4, 2, 8, id);
	}

	/* PTE. */
	at = (e & addr) + ((va >> 12) & 0x1FF) * 8;
	r.at[1] = at;
	if (!m_has(mem, at, 8)) {
		r.bad = at;
		return m_stop(r, M_BAD, 1);
	}
	e = r.val[1] = m_rd(mem, at, 8);
	if (!(e & 1)) {
		r.ec = m_ec(false, false, type, user, id);
		return m_stop(r, M_PF, 1);
	}
	if ((e & high) || (!c->nxe && (e >> 63))) {
		r.ec = m_ec(true, true, type, user, id);
		return m_stop(r, M_PF, 1);
	}
	w = w && (e & 2);
	u = u && (e & 4);
	x = x && !(c->nxe && (e >> 63));
	r.gpa = (e & addr) | (va & 0xFFFu);
	r.size = 4096;
	return m_finish(mem, r, c, w, u, x, type, user, peek, 4, 1, 8, id);
}

static struct mres model_walk(struct ram *mem, const struct mcpu *c, uint64_t va,
			      int type, bool user, bool peek)
{
	if (c->mode == 32)
		return model_paging32(mem, c, va, type, user, peek);
	if (c->mode == 33)
		return model_pae(mem, c, va, type, user, peek);
	return model_paging64(mem, c, va, type, user, peek);
}

/* ===================================================================== */
/* driving the walker and comparing                                      */
/* ===================================================================== */

static enum walk_mode walker_mode(int mode)
{
	return mode == 32 ? WALK_PAGING32 : mode == 33 ? WALK_PAGING32E : WALK_PAGING64;
}

static const char *mode_name(int mode)
{
	return mode == 32 ? "paging32" : mode == 33 ? "paging32e" : "paging64";
}

static unsigned walker_flags(const struct mcpu *c)
{
	return (c->wp ? WALK_CR0_WP : 0) | (c->pse ? WALK_CR4_PSE : 0) |
	       (c->nxe ? WALK_EFER_NXE : 0);
}

static unsigned walker_access(int type, bool user, bool peek)
{
	return (type == T_WRITE ? WALK_PF_WRITE : 0) | (type == T_FETCH ? WALK_PF_FETCH : 0) |
	       (user ? WALK_PF_USER : 0) | (peek ? WALK_PEEK : 0);
}

static enum walk_outcome expect_outcome(int m)
{
	switch (m) {
	case M_OK: return WALK_OK;
	case M_PF: return WALK_FAULT;
	case M_BAD: return WALK_BAD_GPA;
	case M_NONCANON: return WALK_NONCANONICAL;
	default: return WALK_PDPTE_RESERVED;
	}
}

/* The names of an error code's bits, "P|W|U|RSVD|I/D". */
static const char *ec_str(uint32_t ec, char *buf)
{
	sprintf(buf, "%#x=%s%s%s%s%s", ec, ec & 1 ? "P " : "np ", ec & 2 ? "W " : "R ",
		ec & 4 ? "U " : "S ", ec & 8 ? "RSVD " : "", ec & 16 ? "I/D" : "");
	return buf;
}

/* The flag bits of an entry by name. */
static const char *pte_str(uint64_t v, char *buf)
{
	sprintf(buf, "%#018llx[%s%s%s%s%s%s%s]", (unsigned long long)v,
		v & 1 ? "P" : "-", v & 2 ? "W" : "-", v & 4 ? "U" : "-", v & 0x20 ? "A" : "-",
		v & 0x40 ? "D" : "-", v & 0x80 ? "PS" : "-", v >> 63 ? " NX" : "");
	return buf;
}

/*
 * Compare a walker result with the model's.  Returns NULL when they agree,
 * else a description of the case and both results (static buffer).
 */
static const char *differ(const struct mcpu *c, uint64_t va, int type, bool user, bool peek,
			  const struct walk_result *w, enum walk_outcome wo, const struct mres *m,
			  const char *what)
{
	static char out[4096];
	char b1[64], b2[64];
	const char *why = NULL;
	int n;

	if (wo != w->outcome)
		why = "return value != res->outcome";
	else if (w->outcome != expect_outcome(m->outcome))
		why = "outcome";
	else if (m->outcome == M_PF && w->error_code != m->ec)
		why = "error code";
	else if (m->outcome != M_NONCANON && w->level != m->level)
		why = "level";
	else if (m->outcome == M_BAD && w->bad_gpa != m->bad)
		why = "bad_gpa";
	else if ((m->outcome == M_OK || (m->outcome == M_PF && (m->ec & 9) == 1)) &&
		 (w->gpa != m->gpa || w->page_size != m->size || w->access != m->acc))
		why = "gpa/page size/access";
	else if (m->outcome == M_OK && w->dirty != m->dirty)
		why = "dirty";
	if (!why && m->outcome != M_NONCANON) {
		for (int l = w->root_level; l >= m->level; l--)
			if (w->steps[l].pte_gpa != m->at[l] || w->steps[l].table_gfn != m->at[l] >> 12)
				why = "entry address";
	}
	if (!why)
		return NULL;

	n = snprintf(out, sizeof(out),
		     "%s: %s differs\n  %s M=%u CR0.WP=%d CR4.PSE=%d EFER.NXE=%d cr3=%#llx\n"
		     "  gva=%#llx %s %s%s\n",
		     what, why, mode_name(c->mode), c->m, c->wp, c->pse, c->nxe,
		     (unsigned long long)c->cr3, (unsigned long long)va,
		     type == T_WRITE ? "write" : type == T_FETCH ? "fetch" : "read",
		     user ? "user" : "supervisor", peek ? " peek" : "");
	for (int l = 4; l >= 1; l--)
		if (m->at[l])
			n += snprintf(out + n, sizeof(out) - n, "  L%d entry at %#llx = %s\n", l,
				      (unsigned long long)m->at[l], pte_str(m->val[l], b1));
	n += snprintf(out + n, sizeof(out) - n,
		      "  model : %s ec %s level %d gpa %#llx size %#llx acc %u dirty %d bad %#llx\n",
		      walk_outcome_name(expect_outcome(m->outcome)), ec_str(m->ec, b1), m->level,
		      (unsigned long long)m->gpa, (unsigned long long)m->size, m->acc, m->dirty,
		      (unsigned long long)m->bad);
	n += snprintf(out + n, sizeof(out) - n,
		      "  walker: %s ec %s level %d gpa %#llx size %#llx acc %u dirty %d bad %#llx\n",
		      walk_outcome_name(w->outcome), ec_str(w->error_code, b2), w->level,
		      (unsigned long long)w->gpa, (unsigned long long)w->page_size, w->access,
		      w->dirty, (unsigned long long)w->bad_gpa);
	for (int l = w->root_level; l >= 1 && n < (int)sizeof(out) - 100; l--)
		n += snprintf(out + n, sizeof(out) - n, "  walker L%d at %#llx = %s\n", l,
			      (unsigned long long)w->steps[l].pte_gpa, pte_str(w->steps[l].pte, b1));
	return out;
}

/* Set up a walker context for the model's CPU; returns walk_set_cr3's outcome. */
static enum walk_outcome ctx_for(struct walk_ctx *ctx, struct env *e, const struct mcpu *c)
{
	walk_init(ctx, walker_mode(c->mode), walker_flags(c), c->m, ram_gpa, &e->w);
	return walk_set_cr3(ctx, c->cr3);
}

/* ===================================================================== */
/* 1. hand-built tables, expected values written out                      */
/* ===================================================================== */

struct hand {
	struct ram r;
	struct walk_ctx ctx;
	struct walk_result res;
};

static void hand_init(struct hand *h, enum walk_mode mode, unsigned flags, unsigned m)
{
	h->r.base = RAM_BASE;
	h->r.size = RAM_SIZE;
	h->r.b = aligned_alloc(PAGE, RAM_SIZE);
	cr_assert(h->r.b);
	memset(h->r.b, 0, RAM_SIZE);
	walk_init(&h->ctx, mode, flags, m, ram_gpa, &h->r);
}

static void hand_fini(struct hand *h)
{
	free(h->r.b);
}

static enum walk_outcome hwalk(struct hand *h, uint64_t gva, unsigned access)
{
	return walk_gva(&h->ctx, gva, access, &h->res);
}

/* ---- paging32 ---- */

/* gva 0x08048123: PDE index 0x20, PTE index 0x048, offset 0x123. */
#define G32      0x08048123ULL
#define G32_PDE  0x200080ULL     /* PG(0) + 0x20 * 4 */
#define G32_PTE  0x201120ULL     /* PG(1) + 0x48 * 4 */

static void build32_4k(struct hand *h)
{
	ram_put(&h->r, G32_PDE, 0x00201007, 4);      /* PT at PG(1), P W U */
	ram_put(&h->r, G32_PTE, 0x12345007, 4);      /* page 0x12345000, P W U */
	cr_assert_eq(walk_set_cr3(&h->ctx, PG(0) | 0x18), WALK_OK);  /* PWT|PCD ignored */
}

Test(walk32, read_then_write_sets_a_then_d)
{
	struct hand h;

	hand_init(&h, WALK_PAGING32, WALK_CR0_WP, 40);
	build32_4k(&h);

	cr_assert_eq(hwalk(&h, G32, WALK_PF_USER), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x12345123);
	cr_assert_eq(h.res.level, 1);
	cr_assert_eq(h.res.root_level, 2);
	cr_assert_eq(h.res.page_size, 0x1000);
	cr_assert_eq(h.res.access, WALK_ACC_EXEC | WALK_ACC_WRITE | WALK_ACC_USER);
	cr_assert_not(h.res.dirty);
	cr_assert_not(h.res.dirtied);
	cr_assert_eq(h.res.steps[2].pte_gpa, G32_PDE);
	cr_assert_eq(h.res.steps[2].table_gfn, 0x200);
	cr_assert_eq(h.res.steps[1].pte_gpa, G32_PTE);
	cr_assert_eq(h.res.steps[1].table_gfn, 0x201);
	cr_assert_eq(h.res.steps[1].pte, 0x12345027);
	/* A in both, D nowhere after a read. */
	cr_assert_eq(ram_get(&h.r, G32_PDE, 4), 0x00201027);
	cr_assert_eq(ram_get(&h.r, G32_PTE, 4), 0x12345027);

	cr_assert_eq(hwalk(&h, G32, WALK_PF_USER | WALK_PF_WRITE), WALK_OK);
	cr_assert(h.res.dirty);
	cr_assert(h.res.dirtied, "the write walk set D: a dirty-bit fault (ad_faults)");
	/* D only in the PTE; the PDE's bit 6 is not touched. */
	cr_assert_eq(ram_get(&h.r, G32_PDE, 4), 0x00201027);
	cr_assert_eq(ram_get(&h.r, G32_PTE, 4), 0x12345067);
	/* Nothing else in memory changed. */
	for (uint64_t a = RAM_BASE; a < RAM_BASE + RAM_SIZE; a += 4)
		if (a != G32_PDE && a != G32_PTE)
			cr_assert_eq(ram_get(&h.r, a, 4), 0, "stray write at %#lx", (unsigned long)a);
	/* D set already: a second write walk sets nothing. */
	cr_assert_eq(hwalk(&h, G32, WALK_PF_USER | WALK_PF_WRITE), WALK_OK);
	cr_assert(h.res.dirty);
	cr_assert_not(h.res.dirtied);
	hand_fini(&h);
}

Test(walk32, failed_walks_set_no_bits)
{
	struct hand h;

	hand_init(&h, WALK_PAGING32, 0, 40);
	build32_4k(&h);

	/* PTE not present: P=0, W and U from the access. */
	ram_put(&h.r, G32_PTE, 0x12345006, 4);
	cr_assert_eq(hwalk(&h, G32, WALK_PF_USER | WALK_PF_WRITE), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_WRITE | WALK_PF_USER);
	cr_assert_eq(h.res.level, 1);
	cr_assert_eq(h.res.gva, G32);
	cr_assert_eq(ram_get(&h.r, G32_PDE, 4), 0x00201007, "A set on a failed walk");

	/* Read-only page: a user write faults with P|W|U; nothing is set. */
	ram_put(&h.r, G32_PTE, 0x12345005, 4);
	cr_assert_eq(hwalk(&h, G32, WALK_PF_USER | WALK_PF_WRITE), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_WRITE | WALK_PF_USER);
	cr_assert_eq(ram_get(&h.r, G32_PDE, 4), 0x00201007);
	cr_assert_eq(ram_get(&h.r, G32_PTE, 4), 0x12345005);

	/* A supervisor write with CR0.WP=0 ignores R/W, and sets A and D. */
	cr_assert_eq(hwalk(&h, G32, WALK_PF_WRITE), WALK_OK);
	cr_assert_eq(h.res.access, WALK_ACC_EXEC | WALK_ACC_USER);
	cr_assert_eq(ram_get(&h.r, G32_PTE, 4), 0x12345065);

	/* With CR0.WP=1 it faults: P|W. A fetch never reports I/D here. */
	walk_init(&h.ctx, WALK_PAGING32, WALK_CR0_WP | WALK_EFER_NXE, 40, ram_gpa, &h.r);
	walk_set_cr3(&h.ctx, PG(0));
	cr_assert_eq(hwalk(&h, G32, WALK_PF_WRITE), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_WRITE);
	ram_put(&h.r, G32_PDE, 0x00201003, 4);     /* supervisor-only PDE */
	cr_assert_eq(hwalk(&h, G32, WALK_PF_USER | WALK_PF_FETCH), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_USER);
	hand_fini(&h);
}

/* gva 0xc0123456: PDE index 0x300 at PG(0) + 0xc00. */
#define G4M      0xc0123456ULL
#define G4M_PDE  0x200c00ULL

Test(walk32, pse_4m_page)
{
	struct hand h;

	hand_init(&h, WALK_PAGING32, WALK_CR4_PSE, 40);
	cr_assert_eq(walk_set_cr3(&h.ctx, PG(0)), WALK_OK);
	ram_put(&h.r, G4M_PDE, 0x12800083, 4);       /* 4M page at 0x12800000, P W PS */
	cr_assert_eq(hwalk(&h, G4M, WALK_PF_WRITE), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x12923456);
	cr_assert_eq(h.res.level, 2);
	cr_assert_eq(h.res.page_size, 4 << 20);
	cr_assert_eq(h.res.access, WALK_ACC_EXEC | WALK_ACC_WRITE);
	cr_assert_eq(ram_get(&h.r, G4M_PDE, 4), 0x128000e3);   /* A and D in the PDE */
	cr_assert_eq(h.res.steps[1].pte_gpa, 0, "no level 1 on a 4M page");
	hand_fini(&h);
}

Test(walk32, pse36_high_bits)
{
	struct hand h;

	/* M=40: PDE bits 20:13 = 0xab are address bits 39:32. */
	hand_init(&h, WALK_PAGING32, WALK_CR4_PSE, 40);
	walk_set_cr3(&h.ctx, PG(0));
	ram_put(&h.r, G4M_PDE, 0x12956083, 4);       /* 0x12800000 | 0xab << 13 | P W PS */
	cr_assert_eq(hwalk(&h, G4M, 0), WALK_OK);
	cr_assert_eq(h.res.gpa, 0xab12923456ULL);

	/* M=40: bit 21 is reserved. */
	ram_put(&h.r, G4M_PDE, 0x12a00083, 4);
	cr_assert_eq(hwalk(&h, G4M, 0), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_RSVD);
	cr_assert_eq(h.res.level, 2);
	cr_assert_eq(ram_get(&h.r, G4M_PDE, 4), 0x12a00083, "A set on a reserved-bit fault");

	/* M=36: bits 16:13 are address bits 35:32, 21:17 reserved. */
	walk_init(&h.ctx, WALK_PAGING32, WALK_CR4_PSE, 36, ram_gpa, &h.r);
	walk_set_cr3(&h.ctx, PG(0));
	ram_put(&h.r, G4M_PDE, 0x12816083, 4);       /* 0xb << 13 */
	cr_assert_eq(hwalk(&h, G4M, 0), WALK_OK);
	cr_assert_eq(h.res.gpa, 0xb12923456ULL);
	ram_put(&h.r, G4M_PDE, 0x12956083, 4);       /* 0xab << 13: bits 18 and 20 set */
	cr_assert_eq(hwalk(&h, G4M, WALK_PF_USER), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_RSVD | WALK_PF_USER);

	/* M=32 (no PSE-36 bits at all): 21:13 reserved. */
	walk_init(&h.ctx, WALK_PAGING32, WALK_CR4_PSE, 32, ram_gpa, &h.r);
	walk_set_cr3(&h.ctx, PG(0));
	ram_put(&h.r, G4M_PDE, 0x12802083, 4);       /* bit 13 */
	cr_assert_eq(hwalk(&h, G4M, 0), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_RSVD);
	hand_fini(&h);
}

Test(walk32, pse_off_ignores_ps)
{
	struct hand h;

	/*
	 * PDE 0x00202087: PS set, bit 21 set.  With CR4.PSE=1 that is a 4M
	 * PDE with reserved bit 21; with CR4.PSE=0 it is a plain pointer to a
	 * page table at 0x202000 (bit 21 is an address bit there).
	 */
	hand_init(&h, WALK_PAGING32, WALK_CR4_PSE, 40);
	walk_set_cr3(&h.ctx, PG(0));
	ram_put(&h.r, G4M_PDE, 0x00202087, 4);
	ram_put(&h.r, 0x20248c, 0x00abc007, 4);      /* PG(2) + 0x123 * 4 */
	cr_assert_eq(hwalk(&h, G4M, 0), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_RSVD);

	walk_init(&h.ctx, WALK_PAGING32, 0, 40, ram_gpa, &h.r);
	walk_set_cr3(&h.ctx, PG(0));
	cr_assert_eq(hwalk(&h, G4M, 0), WALK_OK);
	cr_assert_eq(h.res.gpa, 0xabc456);
	cr_assert_eq(h.res.level, 1);
	cr_assert_eq(h.res.page_size, 0x1000);
	cr_assert_eq(ram_get(&h.r, G4M_PDE, 4), 0x002020a7);

	/* A "4M" PDE pointing outside RAM is now a table there: bad GPA. */
	ram_put(&h.r, G4M_PDE, 0x12800083, 4);
	cr_assert_eq(hwalk(&h, G4M, 0), WALK_BAD_GPA);
	cr_assert_eq(h.res.bad_gpa, 0x1280048c);
	cr_assert_eq(h.res.level, 1);
	cr_assert_eq(h.res.error_code, 0);
	hand_fini(&h);
}

Test(walk32, gva_is_32_bits)
{
	struct hand h;

	hand_init(&h, WALK_PAGING32, 0, 40);
	build32_4k(&h);
	cr_assert_eq(hwalk(&h, 0xffffffff00000000ULL | G32, 0), WALK_OK);
	cr_assert_eq(h.res.gva, G32);
	cr_assert_eq(h.res.gpa, 0x12345123);
	cr_assert_eq(walk_set_cr3(&h.ctx, 0x7ffff000), WALK_OK);   /* nothing read yet */
	cr_assert_eq(hwalk(&h, G32, 0), WALK_BAD_GPA);
	cr_assert_eq(h.res.bad_gpa, 0x7ffff080);
	cr_assert_eq(h.res.level, 2);
	hand_fini(&h);
}

/* ---- paging32e (PAE) ---- */

/*
 * CR3 = PG(0) + 0x40: the PDPT is 32-byte aligned inside a page.
 * gva 0xc0723456: PDPTE 3, PDE index 3, PTE index 0x123, offset 0x456.
 */
#define PAE_CR3   (PG(0) + 0x40)
#define GPAE      0xc0723456ULL
#define GPAE_PDPTE 0x200058ULL   /* 0x200040 + 3 * 8 */
#define GPAE_PDE  0x201018ULL    /* PG(1) + 3 * 8 */
#define GPAE_PTE  0x202918ULL    /* PG(2) + 0x123 * 8 */

static void build_pae(struct hand *h)
{
	ram_put(&h->r, GPAE_PDPTE, 0x0000000000201001ULL, 8);  /* PD at PG(1), P */
	ram_put(&h->r, GPAE_PDE, 0x0000000000202007ULL, 8);    /* PT at PG(2), P W U */
	ram_put(&h->r, GPAE_PTE, 0x000000abcdef0007ULL, 8);    /* page 0xabcdef0000 */
	cr_assert_eq(walk_set_cr3(&h->ctx, PAE_CR3), WALK_OK);
}

Test(walk_pae, page_4k_and_2m)
{
	struct hand h;

	hand_init(&h, WALK_PAGING32E, WALK_CR0_WP | WALK_EFER_NXE, 40);
	build_pae(&h);
	cr_assert_eq(h.ctx.pdptes[3], 0x201001);

	cr_assert_eq(hwalk(&h, GPAE, WALK_PF_USER | WALK_PF_WRITE), WALK_OK);
	cr_assert_eq(h.res.gpa, 0xabcdef0456ULL);
	cr_assert_eq(h.res.root_level, 3);
	cr_assert_eq(h.res.level, 1);
	cr_assert_eq(h.res.access, WALK_ACC_ALL);
	cr_assert_eq(h.res.steps[3].pte_gpa, GPAE_PDPTE);
	cr_assert_eq(h.res.steps[3].pte, 0x201001);
	cr_assert_eq(h.res.steps[2].pte_gpa, GPAE_PDE);
	cr_assert_eq(h.res.steps[2].table_gfn, 0x201);
	cr_assert_eq(h.res.steps[1].pte_gpa, GPAE_PTE);
	/* PDPTEs have no A bit: memory stays; the PDE gets A, the PTE A and D. */
	cr_assert_eq(ram_get(&h.r, GPAE_PDPTE, 8), 0x201001);
	cr_assert_eq(ram_get(&h.r, GPAE_PDE, 8), 0x202027);
	cr_assert_eq(ram_get(&h.r, GPAE_PTE, 8), 0xabcdef0067ULL);

	ram_put(&h.r, GPAE_PDE, 0x40000083, 8);                 /* 2M page at 1 GiB, P W PS */
	cr_assert_eq(hwalk(&h, GPAE, 0), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x40123456);
	cr_assert_eq(h.res.level, 2);
	cr_assert_eq(h.res.page_size, 2 << 20);
	cr_assert_eq(h.res.access, WALK_ACC_EXEC | WALK_ACC_WRITE);
	cr_assert_not(h.res.dirty);
	cr_assert_eq(ram_get(&h.r, GPAE_PDE, 8), 0x400000a3);
	hand_fini(&h);
}

Test(walk_pae, nx_and_fetch)
{
	struct hand h;

	hand_init(&h, WALK_PAGING32E, WALK_EFER_NXE, 40);
	build_pae(&h);
	ram_put(&h.r, GPAE_PTE, 0x800000abcdef0007ULL, 8);     /* NX */
	cr_assert_eq(hwalk(&h, GPAE, WALK_PF_FETCH), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_FETCH);
	cr_assert_eq(h.res.access, WALK_ACC_WRITE | WALK_ACC_USER);
	cr_assert_eq(hwalk(&h, GPAE, WALK_PF_FETCH | WALK_PF_USER), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_FETCH | WALK_PF_USER);
	cr_assert_eq(hwalk(&h, GPAE, 0), WALK_OK);                 /* reads are fine */

	/* A supervisor fetch from a user page is allowed (no SMEP). */
	ram_put(&h.r, GPAE_PTE, 0x000000abcdef0005ULL, 8);
	cr_assert_eq(hwalk(&h, GPAE, WALK_PF_FETCH), WALK_OK);

	/* Without NXE bit 63 is reserved, and I/D is never reported. */
	walk_init(&h.ctx, WALK_PAGING32E, 0, 40, ram_gpa, &h.r);
	walk_set_cr3(&h.ctx, PAE_CR3);
	ram_put(&h.r, GPAE_PTE, 0x800000abcdef0007ULL, 8);
	cr_assert_eq(hwalk(&h, GPAE, WALK_PF_FETCH), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_RSVD);
	ram_put(&h.r, GPAE_PTE, 0x000000abcdef0006ULL, 8);     /* not present */
	cr_assert_eq(hwalk(&h, GPAE, WALK_PF_FETCH), WALK_FAULT);
	cr_assert_eq(h.res.error_code, 0);
	hand_fini(&h);
}

Test(walk_pae, pdpte_load_reserved_bits)
{
	struct hand h;
	uint64_t reserved = span(1, 2) | span(5, 8) | span(40, 63);   /* M = 40 */

	hand_init(&h, WALK_PAGING32E, WALK_EFER_NXE, 40);
	for (int bit = 1; bit < 64; bit++) {
		uint64_t pdpte = 0x201001ULL | (1ULL << bit);
		enum walk_outcome o;

		ram_put(&h.r, 0x200048, pdpte, 8);                  /* PDPTE 1 */
		o = walk_set_cr3(&h.ctx, PAE_CR3);
		cr_assert_eq(o, (reserved >> bit) & 1 ? WALK_PDPTE_RESERVED : WALK_OK,
			     "PDPTE bit %d: %s", bit, walk_outcome_name(o));
		/* The same bits in a not-present PDPTE are free for software. */
		ram_put(&h.r, 0x200048, pdpte & ~1ULL, 8);
		cr_assert_eq(walk_set_cr3(&h.ctx, PAE_CR3), WALK_OK);
	}

	/* A refused load leaves CR3 and the PDPTE registers as they were. */
	ram_put(&h.r, 0x200048, 0x202001, 8);
	cr_assert_eq(walk_set_cr3(&h.ctx, PAE_CR3), WALK_OK);
	ram_put(&h.r, PG(3) + 8, 0x203003, 8);                  /* bit 1 */
	cr_assert_eq(walk_set_cr3(&h.ctx, PG(3)), WALK_PDPTE_RESERVED);
	cr_assert_eq(h.ctx.cr3, PAE_CR3);
	cr_assert_eq(h.ctx.pdptes[1], 0x202001);

	/* M=52: only bit 63 above the address. */
	walk_init(&h.ctx, WALK_PAGING32E, 0, 52, ram_gpa, &h.r);
	ram_put(&h.r, 0x200048, 0x000f000000201001ULL, 8);
	cr_assert_eq(walk_set_cr3(&h.ctx, PAE_CR3), WALK_OK);
	ram_put(&h.r, 0x200048, 0x8000000000201001ULL, 8);
	cr_assert_eq(walk_set_cr3(&h.ctx, PAE_CR3), WALK_PDPTE_RESERVED);

	/* The PDPT outside RAM. */
	cr_assert_eq(walk_set_cr3(&h.ctx, 0x10000000), WALK_BAD_GPA);
	hand_fini(&h);
}

Test(walk_pae, pdpte_not_present_and_cached)
{
	struct hand h;

	hand_init(&h, WALK_PAGING32E, WALK_EFER_NXE, 40);
	build_pae(&h);

	/* The walk uses the registers: rewriting the PDPT in memory changes nothing. */
	ram_put(&h.r, GPAE_PDPTE, 0, 8);
	cr_assert_eq(hwalk(&h, GPAE, 0), WALK_OK);
	cr_assert_eq(h.res.gpa, 0xabcdef0456ULL);

	/* Until the next CR3 load: a not-present PDPTE is a not-present #PF at level 3. */
	ram_put(&h.r, GPAE_PDPTE, 0xfffffffffffffffeULL, 8);    /* junk, P=0 */
	ram_put(&h.r, GPAE_PDE, 0x202007, 8);
	cr_assert_eq(walk_set_cr3(&h.ctx, PAE_CR3), WALK_OK);
	cr_assert_eq(hwalk(&h, GPAE, WALK_PF_FETCH | WALK_PF_USER), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_FETCH | WALK_PF_USER);
	cr_assert_eq(h.res.level, 3);
	cr_assert_eq(h.res.steps[3].pte_gpa, GPAE_PDPTE);
	cr_assert_eq(h.res.steps[2].pte_gpa, 0, "walk went past the PDPTE");
	cr_assert_eq(ram_get(&h.r, GPAE_PDE, 8), 0x202007);
	hand_fini(&h);
}

/* ---- paging64 ---- */

/*
 * gva 0x7fe95875e123: PML4 index 0xff, PDPT index 0x1a5, PD index 0xc3,
 * PT index 0x15e, offset 0x123.
 */
#define G64        0x00007fe95875e123ULL
#define G64_PML4E  0x2007f8ULL    /* PG(0) + 0xff * 8 */
#define G64_PDPTE  0x201d28ULL    /* PG(1) + 0x1a5 * 8 */
#define G64_PDE    0x202618ULL    /* PG(2) + 0xc3 * 8 */
#define G64_PTE    0x203af0ULL    /* PG(3) + 0x15e * 8 */

static void build64(struct hand *h)
{
	ram_put(&h->r, G64_PML4E, 0x201007, 8);
	ram_put(&h->r, G64_PDPTE, 0x202007, 8);
	ram_put(&h->r, G64_PDE, 0x203007, 8);
	ram_put(&h->r, G64_PTE, 0x0000001234567007ULL, 8);
	cr_assert_eq(walk_set_cr3(&h->ctx, PG(0) | 0x008), WALK_OK);   /* PWT ignored */
}

Test(walk64, page_4k)
{
	struct hand h;

	hand_init(&h, WALK_PAGING64, WALK_CR0_WP | WALK_EFER_NXE, 40);
	build64(&h);
	cr_assert_eq(hwalk(&h, G64, WALK_PF_USER), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x1234567123ULL);
	cr_assert_eq(h.res.root_level, 4);
	cr_assert_eq(h.res.level, 1);
	cr_assert_eq(h.res.page_size, 0x1000);
	cr_assert_eq(h.res.access, WALK_ACC_ALL);
	cr_assert_eq(h.res.steps[4].pte_gpa, G64_PML4E);
	cr_assert_eq(h.res.steps[4].table_gfn, 0x200);
	cr_assert_eq(h.res.steps[3].pte_gpa, G64_PDPTE);
	cr_assert_eq(h.res.steps[3].table_gfn, 0x201);
	cr_assert_eq(h.res.steps[2].pte_gpa, G64_PDE);
	cr_assert_eq(h.res.steps[2].table_gfn, 0x202);
	cr_assert_eq(h.res.steps[1].pte_gpa, G64_PTE);
	cr_assert_eq(h.res.steps[1].table_gfn, 0x203);
	cr_assert_eq(ram_get(&h.r, G64_PML4E, 8), 0x201027);
	cr_assert_eq(ram_get(&h.r, G64_PDPTE, 8), 0x202027);
	cr_assert_eq(ram_get(&h.r, G64_PDE, 8), 0x203027);
	cr_assert_eq(ram_get(&h.r, G64_PTE, 8), 0x1234567027ULL);

	cr_assert_eq(hwalk(&h, G64, WALK_PF_WRITE), WALK_OK);
	cr_assert(h.res.dirty);
	cr_assert_eq(ram_get(&h.r, G64_PDE, 8), 0x203027);
	cr_assert_eq(ram_get(&h.r, G64_PTE, 8), 0x1234567067ULL);

	/* pt_access narrows down the path. */
	ram_put(&h.r, G64_PDPTE, 0x202025, 8);                  /* read-only from level 3 */
	ram_put(&h.r, G64_PTE, 0x8000001234567067ULL, 8);       /* NX leaf */
	cr_assert_eq(hwalk(&h, G64, 0), WALK_OK);
	cr_assert_eq(h.res.steps[4].pt_access, WALK_ACC_ALL);
	cr_assert_eq(h.res.steps[3].pt_access, WALK_ACC_EXEC | WALK_ACC_USER);
	cr_assert_eq(h.res.steps[2].pt_access, WALK_ACC_EXEC | WALK_ACC_USER);
	cr_assert_eq(h.res.steps[1].pt_access, WALK_ACC_USER);
	cr_assert_eq(h.res.access, WALK_ACC_USER);
	hand_fini(&h);
}

Test(walk64, pages_2m_and_1g)
{
	struct hand h;

	hand_init(&h, WALK_PAGING64, WALK_EFER_NXE, 40);
	build64(&h);

	ram_put(&h.r, G64_PDE, 0x0000001234400087ULL, 8);       /* 2M, U */
	cr_assert_eq(hwalk(&h, G64, WALK_PF_USER | WALK_PF_WRITE), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x123455e123ULL);
	cr_assert_eq(h.res.level, 2);
	cr_assert_eq(h.res.page_size, 2 << 20);
	cr_assert_eq(ram_get(&h.r, G64_PDE, 8), 0x00000012344000e7ULL);
	cr_assert_eq(ram_get(&h.r, G64_PTE, 8), 0x1234567007ULL, "PTE not used");
	cr_assert_eq(h.res.steps[1].pte_gpa, 0);

	ram_put(&h.r, G64_PDPTE, 0x0000008040000081ULL, 8);     /* 1G, supervisor read-only */
	cr_assert_eq(hwalk(&h, G64, WALK_PF_FETCH), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x805875e123ULL);
	cr_assert_eq(h.res.level, 3);
	cr_assert_eq(h.res.page_size, 1 << 30);
	cr_assert_eq(h.res.access, WALK_ACC_EXEC);
	cr_assert_eq(ram_get(&h.r, G64_PDPTE, 8), 0x00000080400000a1ULL);
	cr_assert_eq(hwalk(&h, G64, WALK_PF_USER), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_USER);

	/* PAT (bit 12) is not an address bit of a large page. */
	ram_put(&h.r, G64_PDPTE, 0x0000008040001081ULL, 8);
	cr_assert_eq(hwalk(&h, G64, 0), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x805875e123ULL);
	/* PS in a PML4E is reserved. */
	ram_put(&h.r, G64_PML4E, 0x201087, 8);
	cr_assert_eq(hwalk(&h, G64, WALK_PF_WRITE), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_RSVD | WALK_PF_WRITE);
	cr_assert_eq(h.res.level, 4);
	hand_fini(&h);
}

Test(walk64, noncanonical_bad_gpa_peek)
{
	struct hand h;

	hand_init(&h, WALK_PAGING64, 0, 40);
	build64(&h);

	cr_assert_eq(hwalk(&h, 0x0000800000000000ULL, 0), WALK_NONCANONICAL);
	cr_assert_eq(hwalk(&h, 0xfff0000000000000ULL, 0), WALK_NONCANONICAL);
	cr_assert_eq(hwalk(&h, 0xffff800000000000ULL, 0), WALK_FAULT);   /* PML4E 0x100: empty */
	cr_assert_eq(h.res.steps[4].pte_gpa, PG(0) + 0x800);
	cr_assert_eq(h.res.error_code, 0);

	/* PEEK: the translation, and not one bit written. */
	cr_assert_eq(hwalk(&h, G64, WALK_PF_WRITE | WALK_PEEK), WALK_OK);
	cr_assert_eq(h.res.gpa, 0x1234567123ULL);
	cr_assert_not(h.res.dirty);
	cr_assert_eq(ram_get(&h.r, G64_PML4E, 8), 0x201007);
	cr_assert_eq(ram_get(&h.r, G64_PTE, 8), 0x1234567007ULL);

	/* A PDPT outside RAM: bad GPA at level 3, no #PF, no A bit above it. */
	ram_put(&h.r, G64_PML4E, 0x0000008000000007ULL, 8);
	cr_assert_eq(hwalk(&h, G64, 0), WALK_BAD_GPA);
	cr_assert_eq(h.res.bad_gpa, 0x0000008000000d28ULL);
	cr_assert_eq(h.res.level, 3);
	cr_assert_eq(h.res.error_code, 0);
	cr_assert_eq(ram_get(&h.r, G64_PML4E, 8), 0x0000008000000007ULL);
	/* One bit higher is bit 40, reserved with M=40: a #PF, not a bad GPA. */
	ram_put(&h.r, G64_PML4E, 0x0000010000000007ULL, 8);
	cr_assert_eq(hwalk(&h, G64, 0), WALK_FAULT);
	cr_assert_eq(h.res.error_code, WALK_PF_PRESENT | WALK_PF_RSVD);
	cr_assert_str_eq(walk_outcome_name(WALK_BAD_GPA), "bad-gpa");
	hand_fini(&h);
}

Test(walk64, entry_aliasing_walks_again)
{
	struct hand h;

	/*
	 * A PML4 entry that points at the PML4 itself, used at every level:
	 * gva with all four indices 0x1ff maps through entry 0x1ff four
	 * times.  Its A bit set at level 4 changes the value read for level 3;
	 * the walk must cope (compare-and-exchange, walk again) and end with A
	 * and D in that one entry.
	 */
	hand_init(&h, WALK_PAGING64, 0, 40);
	walk_set_cr3(&h.ctx, PG(0));
	ram_put(&h.r, PG(0) + 0xff8, PG(0) | 7, 8);
	cr_assert_eq(hwalk(&h, 0xffffffffffffffffULL, WALK_PF_WRITE), WALK_OK);
	cr_assert_eq(h.res.gpa, PG(0) + 0xfff);
	cr_assert_eq(ram_get(&h.r, PG(0) + 0xff8, 8), PG(0) | 0x67);
	hand_fini(&h);
}

/* ===================================================================== */
/* 2. reserved bits, every bit of every kind of entry                     */
/* ===================================================================== */

/*
 * Build a clean path for gva in mode (all entries P W U, leaf of leaf_level)
 * in a fresh buffer, set `bit` in the entry at `level`, walk, and say whether
 * the walk reported P|RSVD at that level.
 */
struct rsvd_case {
	int mode;            /* 32, 33, 64 */
	unsigned m;
	bool nxe, pse;
	int leaf;            /* 1, 2 or 3 */
};

static bool rsvd_fault_at(struct hand *h, const struct rsvd_case *rc, int level, int bit)
{
	/* Tables at PG(1..4) for each level; index 1 at every level. */
	unsigned esize = rc->mode == 32 ? 4 : 8;
	int top = rc->mode == 32 ? 2 : rc->mode == 33 ? 2 : 4;
	uint64_t gva, leaf_frame;

	memset(h->r.b, 0, 5 * PAGE);
	walk_init(&h->ctx, walker_mode(rc->mode),
		  (rc->nxe ? WALK_EFER_NXE : 0) | (rc->pse ? WALK_CR4_PSE : 0), rc->m, ram_gpa, &h->r);
	if (rc->mode == 32)
		gva = (1ULL << 22) | (1ULL << 12);
	else if (rc->mode == 33)
		gva = (1ULL << 30) | (1ULL << 21) | (1ULL << 12);
	else
		gva = (1ULL << 39) | (1ULL << 30) | (1ULL << 21) | (1ULL << 12);
	if (rc->mode == 33) {
		ram_put(&h->r, PG(0) + 8, PG(2) | 1, 8);        /* PDPTE 1 -> PD at PG(2) */
		cr_assert_eq(walk_set_cr3(&h->ctx, PG(0)), WALK_OK);
	} else {
		walk_set_cr3(&h->ctx, PG(top));
	}
	leaf_frame = 0x40000000ULL;                             /* 1G-aligned, < 2^32 */
	for (int l = top; l >= rc->leaf; l--) {
		uint64_t at = PG(l) + esize;                    /* index 1 */
		uint64_t e = (l == rc->leaf) ? leaf_frame | 7 : PG(l - 1) | 7;

		if (l == rc->leaf && l > 1)
			e |= 0x80;
		if (l == level)
			e |= 1ULL << bit;
		ram_put(&h->r, at, e, esize);
	}
	walk_gva(&h->ctx, gva, WALK_PEEK, &h->res);
	return h->res.outcome == WALK_FAULT && h->res.level == level &&
	       h->res.error_code == (WALK_PF_PRESENT | WALK_PF_RSVD);
}

/* The SDM's reserved bits for one entry kind, written out per table. */
static uint64_t sdm_reserved(const struct rsvd_case *rc, int level)
{
	uint64_t xd = rc->nxe ? 0 : 1ULL << 63;
	bool large = level == rc->leaf && level > 1;

	if (rc->mode == 32) {
		unsigned m = rc->m < 40 ? rc->m : 40;

		/* Table 4-4: 4M PDE bits 21:(M-19); tables 4-5, 4-6: none. */
		return large ? span(m - 19, 21) : 0;
	}
	if (rc->mode == 33)   /* tables 4-9 to 4-11: 62:M, XD, 20:13 in a 2M PDE */
		return span(rc->m, 62) | xd | (large ? span(13, 20) : 0);
	/* tables 4-14 to 4-19 */
	switch (level) {
	case 4: return span(rc->m, 51) | xd | (1ULL << 7);
	case 3: return span(rc->m, 51) | xd | (large ? span(13, 29) : 0);
	case 2: return span(rc->m, 51) | xd | (large ? span(13, 20) : 0);
	default: return span(rc->m, 51) | xd;
	}
}

static void rsvd_sweep(int mode, int top, const int *leaves, int nleaves, unsigned expect)
{
	static const unsigned ms[] = { 32, 36, 40, 46, 52 };
	struct hand h;
	unsigned checked = 0;

	hand_init(&h, walker_mode(mode), 0, 40);
	for (unsigned mi = 0; mi < sizeof(ms) / sizeof(ms[0]); mi++)
	for (int nxe = 0; nxe < 2; nxe++)
	for (int li = 0; li < nleaves; li++)
	for (int level = top; level >= leaves[li]; level--) {
		struct rsvd_case rc = { mode, ms[mi], nxe, mode == 32 && leaves[li] == 2, leaves[li] };
		uint64_t want = sdm_reserved(&rc, level);
		int nbits = mode == 32 ? 32 : 64;

		cr_assert_not(rsvd_fault_at(&h, &rc, level, 0), "clean path faults");
		for (int bit = 1; bit < nbits; bit++) {
			bool got;

			/* PS in a table pointer makes a different entry: skip where it maps pages. */
			if (bit == 7 && level != rc.leaf && !(mode == 64 && level == 4))
				continue;
			got = rsvd_fault_at(&h, &rc, level, bit);
			cr_assert_eq(got, (bool)((want >> bit) & 1),
				     "%s M=%u NXE=%d leaf L%d: bit %d of the L%d entry %s reserved",
				     mode_name(mode), rc.m, nxe, rc.leaf, bit, level,
				     got ? "reported" : "not reported");
			checked++;
		}
	}
	cr_assert_eq(checked, expect);
	hand_fini(&h);
}

Test(walk_rsvd, paging32)
{
	static const int leaves[] = { 1, 2 };

	rsvd_sweep(32, 2, leaves, 2, 10 * ((30 + 31) + 31));   /* 5 M x 2 NXE */
}

Test(walk_rsvd, paging32_pse_off)
{
	struct hand h;
	/*
	 * CR4.PSE=0: a PDE with PS=1 (the "4M" leaf of rsvd_fault_at) is a
	 * page-table pointer, so bits 21:13 are address bits, never reserved:
	 * the walk goes on to a "page table" at 0x40000000, outside RAM.
	 */
	struct rsvd_case rc = { 32, 40, false, false, 2 };

	hand_init(&h, WALK_PAGING32, 0, 40);
	for (int bit = 12; bit <= 21; bit++) {
		cr_assert_not(rsvd_fault_at(&h, &rc, 2, bit), "bit %d", bit);
		cr_assert_eq(h.res.outcome, WALK_BAD_GPA, "bit %d", bit);
		cr_assert_eq(h.res.level, 1);
	}
	hand_fini(&h);
}

Test(walk_rsvd, paging32e)
{
	static const int leaves[] = { 1, 2 };

	rsvd_sweep(33, 2, leaves, 2, 10 * ((62 + 63) + 63));
}

Test(walk_rsvd, paging64)
{
	static const int leaves[] = { 1, 2, 3 };

	/* bits 1..63, less PS in table pointers below the PML4E */
	rsvd_sweep(64, 4, leaves, 3, 10 * ((63 + 62 + 62 + 63) + (63 + 62 + 63) + (63 + 63)));
}

/* ===================================================================== */
/* 3. the permission matrix                                               */
/* ===================================================================== */

/*
 * One fixed path per mode, tables at PG(0..3), index 5 at every level (PAE:
 * PDPTE 2).  All entries P W U, except the leaf and one upper level, which
 * get every combination of P, W, U and NX.
 */
static uint64_t combo_bits(int combo)
{
	return (combo & 1 ? 1 : 0) | (combo & 2 ? 2 : 0) | (combo & 4 ? 4 : 0) |
	       (combo & 8 ? 1ULL << 63 : 0);
}

static unsigned matrix_run(int mode, int leaf, int upper)
{
	struct env e;
	struct walk_ctx ctx;
	struct walk_result res;
	unsigned esize = mode == 32 ? 4 : 8, walks = 0;
	int top = mode == 64 ? 4 : mode == 33 ? 3 : 2;
	int ncombo = mode == 32 ? 8 : 16;                 /* no NX in 32-bit entries */
	uint64_t gva = 0, at[5] = { 0 };
	uint64_t frame = mode == 32 ? 0x40000000ULL : 0x8040000000ULL;  /* 1G aligned */

	env_init(&e);
	for (int l = top; l >= 1; l--) {
		unsigned shift = mode == 32 ? 12 + 10 * (l - 1) : 12 + 9 * (l - 1);
		int index = (mode == 33 && l == 3) ? 2 : 5;

		gva |= (uint64_t)index << shift;
		at[l] = PG(top - l) + index * esize;
	}
	gva |= 0x9ab;

	for (int fl = 0; fl < ncombo; fl++)
	for (int fu = 0; fu < (upper ? ncombo : 1); fu++)
	for (int wp = 0; wp < 2; wp++)
	for (int nxe = 0; nxe < 2; nxe++)
	for (int user = 0; user < 2; user++)
	for (int type = T_READ; type <= T_FETCH; type++) {
		struct mcpu c = { mode, wp, mode == 32 && leaf == 2, nxe, 40, PG(0), { 0 } };
		struct mres m;
		enum walk_outcome wo, lo;
		const char *d;
		char what[160], b1[64], b2[64];

		for (int l = top; l >= leaf; l--) {
			uint64_t v;

			if (mode == 33 && l == 3)
				v = PG(1) | 1;                  /* PDPTE: only P is not reserved */
			else if (l == leaf)
				v = frame | (l > 1 ? 0x80 : 0) | 7;
			else
				v = PG(top - l + 1) | 7;
			if (l == leaf)
				v = (v & ~(7ULL | 1ULL << 63)) | combo_bits(fl);
			else if (l == upper)
				v = (v & ~(7ULL | 1ULL << 63)) | combo_bits(fu);
			env_put(&e, at[l], v, esize);
		}
		lo = ctx_for(&ctx, &e, &c);
		if (mode == 33) {
			int ml = model_pae_load(&e.m, c.cr3, c.m, c.pdpte);

			cr_assert_eq(lo, expect_outcome(ml), "PDPTE load, upper combo %d", fu);
			if (ml != M_OK)
				continue;
		}
		wo = walk_gva(&ctx, gva, walker_access(type, user, false), &res);
		m = model_walk(&e.m, &c, gva, type, user, false);
		walks++;
		snprintf(what, sizeof(what), "matrix leaf L%d %s, upper L%d %s", leaf,
			 pte_str(combo_bits(fl), b1), upper, upper ? pte_str(combo_bits(fu), b2) : "-");
		d = differ(&c, gva, type, user, false, &res, wo, &m, what);
		if (d)
			cr_assert_fail("%s", d);
		for (int l = top; l >= 1; l--)
			if (at[l] && l >= leaf)
				cr_assert_eq(ram_get(&e.w, at[l], esize), ram_get(&e.m, at[l], esize),
					     "%s: memory of the L%d entry differs", what, l);
	}
	env_fini(&e);
	return walks;
}

Test(walk_matrix, paging32)
{
	unsigned n = 0;

	n += matrix_run(32, 1, 2);     /* 4K page, PDE varies */
	n += matrix_run(32, 2, 0);     /* 4M page */
	cr_assert_eq(n, 8 * 8 * 24 + 8 * 24);
}

Test(walk_matrix, paging32e)
{
	unsigned n = 0;

	n += matrix_run(33, 1, 2);     /* 4K page, PDE varies */
	n += matrix_run(33, 1, 3);     /* 4K page, PDPTE varies */
	n += matrix_run(33, 2, 3);     /* 2M page, PDPTE varies */
	/* A PDPTE loads when not present (8 combinations) or with P alone. */
	cr_assert_eq(n, 16 * 16 * 24 + 2 * (16 * 9 * 24));
}

Test(walk_matrix, paging64)
{
	unsigned n = 0;

	for (int leaf = 1; leaf <= 3; leaf++)
		for (int upper = leaf + 1; upper <= 4; upper++)
			n += matrix_run(64, leaf, upper);
	cr_assert_eq(n, 6 * 16 * 16 * 24);
}

/* ===================================================================== */
/* 4. random tables against the model                                     */
/* ===================================================================== */

/* xorshift64*: fixed seeds, the same cases on every run. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return rnd(s) % n;
}

/* Flag bits 11:0 of a present entry: W and U mostly set, PS sometimes. */
static uint64_t rand_flags(uint64_t *s, unsigned ps_in)
{
	uint64_t f = (rnd(s) & 0xf78) | 1;                         /* PWT PCD A D G 11:9 */

	if (rnd_below(s, 4))
		f |= 2;
	if (rnd_below(s, 4))
		f |= 4;
	if (rnd_below(s, ps_in) == 0)
		f |= 0x80;
	return f;
}

/* An 8-byte entry: mostly present and pointing at one of the RAM pages. */
static uint64_t rand_entry64(uint64_t *s)
{
	unsigned kind = rnd_below(s, 16);
	uint64_t v;

	if (kind < 2)
		return rnd(s) & ~1ULL;                              /* not present, junk */
	if (kind == 2)
		v = rnd(s) & span(12, 51);                          /* no RAM, or reserved bits */
	else if (kind == 3)
		v = rnd(s) & span(12, 31);                          /* most likely no RAM */
	else
		v = PG(rnd_below(s, NPAGES));
	v |= rand_flags(s, 6);
	if ((v & 0x80) && rnd_below(s, 2))                         /* a 1G-aligned page */
		v = (v & ~span(13, 38)) | (rnd(s) & span(30, 38));
	if (rnd_below(s, 12) == 0)
		v |= 1ULL << 63;                                    /* NX */
	if (rnd_below(s, 24) == 0)
		v |= 1ULL << (13 + rnd_below(s, 50));               /* 13..62 */
	if (rnd_below(s, 16) == 0)
		v |= 1ULL << (52 + rnd_below(s, 11));               /* 62:52 */
	return v;
}

static uint32_t rand_entry32(uint64_t *s)
{
	unsigned kind = rnd_below(s, 16);
	uint32_t v;

	if (kind < 2)
		return (uint32_t)rnd(s) & ~1u;
	if (kind == 2)
		v = (uint32_t)rnd(s) & 0xfffff000u;
	else
		v = (uint32_t)PG(rnd_below(s, NPAGES));
	v |= rand_flags(s, 3);
	if ((v & 0x80) && rnd_below(s, 2))                         /* a 4M-aligned page */
		v = (v & ~0xffffe000u) | ((uint32_t)rnd(s) & 0xffc00000u);
	if (rnd_below(s, 4) == 0)
		v |= (uint32_t)rnd(s) & 0x003fe000u;                /* bits 21:13 */
	return v;
}

static uint64_t rand_gva(uint64_t *s, int mode)
{
	uint64_t va = rnd(s);

	if (mode != 64)
		return rnd_below(s, 8) ? (va & 0xffffffffULL) : va;  /* high junk is dropped */
	va &= span(0, 47);
	if (va >> 47)
		va |= span(48, 63);
	if (rnd_below(s, 64) == 0)
		va ^= 1ULL << (48 + rnd_below(s, 16));              /* non-canonical */
	return va;
}

static void random_run(int mode, uint64_t seed, int rounds, int walks_per_round)
{
	static const unsigned ms[] = { 32, 36, 40, 46, 52 };
	struct env e;
	struct walk_ctx ctx;
	struct walk_result res;
	uint64_t s = seed;
	unsigned ok = 0, faults = 0, bad = 0, loads_refused = 0, large = 0, huge = 0;
	unsigned rsvd = 0, rights = 0;

	env_init(&e);
	for (int round = 0; round < rounds; round++) {
		struct mcpu c = { mode, 0 };

		for (uint64_t a = RAM_BASE; a < RAM_BASE + RAM_SIZE; a += (mode == 32 ? 4 : 8))
			ram_put(&e.w, a, mode == 32 ? rand_entry32(&s) : rand_entry64(&s), mode == 32 ? 4 : 8);
		c.wp = rnd_below(&s, 2);
		c.pse = rnd_below(&s, 2);
		c.nxe = rnd_below(&s, 2);
		c.m = ms[rnd_below(&s, 5)];
		if (mode == 33) {
			uint64_t pdpt = PG(rnd_below(&s, NPAGES)) + rnd_below(&s, 128) * 32;

			/* Mostly loadable PDPTEs: P, PWT/PCD and bits 11:9 only. */
			if (rnd_below(&s, 8))
				for (int i = 0; i < 4; i++)
					ram_put(&e.w, pdpt + 8 * i,
						PG(rnd_below(&s, NPAGES)) | (rnd(&s) & 0xe18) |
						(rnd_below(&s, 4) ? 1 : 0) |
						(rnd_below(&s, 16) ? 0 : 1ULL << (1 + rnd_below(&s, 62))), 8);
			c.cr3 = pdpt | rnd_below(&s, 32);
		} else {
			c.cr3 = PG(rnd_below(&s, NPAGES)) | rnd_below(&s, 0x1000);
		}
		if (rnd_below(&s, 32) == 0)
			c.cr3 = 0x40000000;                             /* no RAM there */
		memcpy(e.m.b, e.w.b, RAM_SIZE);

		/* The CR3 load, then walks. */
		{
			enum walk_outcome lo = ctx_for(&ctx, &e, &c);
			int ml = mode == 33 ? model_pae_load(&e.m, c.cr3, c.m, c.pdpte) : M_OK;

			cr_assert_eq(lo, expect_outcome(ml), "round %d: CR3 %#llx load", round,
				     (unsigned long long)c.cr3);
			if (ml != M_OK) {
				loads_refused++;
				continue;
			}
		}
		for (int k = 0; k < walks_per_round; k++) {
			uint64_t va = rand_gva(&s, mode);
			int type = rnd_below(&s, 3);
			bool user = rnd_below(&s, 2), peek = rnd_below(&s, 10) == 0;
			enum walk_outcome wo = walk_gva(&ctx, va, walker_access(type, user, peek), &res);
			struct mres m = model_walk(&e.m, &c, va, type, user, peek);
			char what[64];
			const char *d;

			snprintf(what, sizeof(what), "seed %#llx round %d walk %d",
				 (unsigned long long)seed, round, k);
			d = differ(&c, va, type, user, peek, &res, wo, &m, what);
			if (d)
				cr_assert_fail("%s", d);
			if (memcmp(e.w.b, e.m.b, RAM_SIZE)) {
				for (uint64_t a = 0; a < RAM_SIZE; a += 8)
					if (memcmp(e.w.b + a, e.m.b + a, 8))
						cr_assert_fail("%s: %s gva %#llx: memory at %#llx: walker %#llx model %#llx",
							       what, mode_name(mode), (unsigned long long)va,
							       (unsigned long long)(RAM_BASE + a),
							       (unsigned long long)ram_get(&e.w, RAM_BASE + a, 8),
							       (unsigned long long)ram_get(&e.m, RAM_BASE + a, 8));
			}
			ok += res.outcome == WALK_OK;
			large += res.outcome == WALK_OK && res.level > 1;
			huge += res.outcome == WALK_OK && res.level == 3;
			rsvd += res.outcome == WALK_FAULT && (res.error_code & WALK_PF_RSVD);
			rights += res.outcome == WALK_FAULT && (res.error_code & 9) == 1;
			faults += res.outcome == WALK_FAULT;
			bad += res.outcome == WALK_BAD_GPA;
		}
	}
	/* The tables must exercise every outcome a fair number of times. */
	cr_assert_gt(ok, 200, "only %u translations", ok);
	cr_assert_gt(faults, 200, "only %u faults", faults);
	cr_assert_gt(bad, 20, "only %u bad GPAs", bad);
	cr_assert_gt(large, 50, "only %u translations by large pages", large);
	if (mode == 64)
		cr_assert_gt(huge, 20, "only %u translations by 1G pages", huge);
	cr_assert_gt(rsvd, 100, "only %u reserved-bit faults", rsvd);
	cr_assert_gt(rights, 100, "only %u rights faults", rights);
	if (mode == 33)
		cr_assert_gt(loads_refused, 2);
	env_fini(&e);
}

Test(walk_random, paging32)
{
	random_run(32, 0x3232323232323232ULL, 40, 150);
}

Test(walk_random, paging32e)
{
	random_run(33, 0x0e0e0e0e0e0e0e0eULL, 40, 150);
}

Test(walk_random, paging64)
{
	random_run(64, 0x6464646464646464ULL, 40, 150);
}

/* Which walker CR0, CR4 and EFER select: the SDM's table 4-1, written out
 * with literal bit values (PG 31, WP 16; PSE 4, PAE 5; LMA 10, NXE 11). */
Test(walk_mode, sdm_table_4_1)
{
	static const struct {
		uint64_t cr0, cr4, efer;
		bool paging;
		enum walk_mode mode;
		unsigned flags;
	} t[] = {
		{ 0x00000011, 0x20, 0x500, false, WALK_PAGING64, 0 },      /* PG off: no walk */
		{ 0x80000011, 0x00, 0x000, true, WALK_PAGING32, 0 },
		{ 0x80010011, 0x10, 0x800, true, WALK_PAGING32, WALK_CR0_WP | WALK_CR4_PSE }, /* no NX in 32-bit paging */
		{ 0x80000011, 0x20, 0x800, true, WALK_PAGING32E, WALK_EFER_NXE },
		{ 0x80000011, 0x30, 0x000, true, WALK_PAGING32E, WALK_CR4_PSE },
		{ 0x80010011, 0x20, 0xd00, true, WALK_PAGING64, WALK_CR0_WP | WALK_EFER_NXE },
		{ 0x80000011, 0x20, 0x500, true, WALK_PAGING64, 0 },
	};

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum walk_mode mode;
		unsigned flags;
		bool paging = walk_mode_of(t[i].cr0, t[i].cr4, t[i].efer, &mode, &flags);

		cr_expect_eq(paging, t[i].paging, "case %u", i);
		if (t[i].paging) {
			cr_expect_eq(mode, t[i].mode, "case %u", i);
			cr_expect_eq(flags, t[i].flags, "case %u: flags %#x", i, flags);
		}
	}
}

/* walk_entry_describe: entries written here from the SDM's tables (vol. 3,
 * tables 4-4 to 4-20), the names a reader expects, bits that mean nothing
 * at that level left unnamed. */
Test(walk_describe, entries_by_mode_and_level)
{
	static const struct {
		uint64_t e; unsigned level; enum walk_mode mode; unsigned large; bool nx; const char *want;
	} t[] = {
		{ 0x0,                   1, WALK_PAGING64, 0xc, true,  "not present" },
		{ 0x1000 | 0x67,         1, WALK_PAGING64, 0xc, true,  "P RW US A D: 4 KiB page" },
		{ 0x8000000000001025ULL, 1, WALK_PAGING64, 0xc, true,  "P US A NX: 4 KiB page" },
		{ 0x8000000000001025ULL, 1, WALK_PAGING64, 0xc, false, "P US A: 4 KiB page" },
		{ 0x2000 | 0x63,         2, WALK_PAGING64, 0xc, true,  "P RW A: table" },      /* D ignored in a table */
		{ 0x200000 | 0xe3,       2, WALK_PAGING64, 0xc, true,  "P RW A D PS: 2 MiB page" },
		{ 0x40000000 | 0x1a3,    3, WALK_PAGING64, 0xc, true,  "P RW A PS G: 1 GiB page" },
		{ 0x400000 | 0x83,       2, WALK_PAGING32, 0x4, false, "P RW PS: 4 MiB page" },
		{ 0x400000 | 0x83,       2, WALK_PAGING32, 0x0, false, "P RW PS: table" },     /* CR4.PSE=0: PS ignored */
		{ 0x3000 | 0x9,          3, WALK_PAGING32E, 0x4, true, "P PWT: PDPTE" },
		{ 0x5000 | 0x181,        1, WALK_PAGING32E, 0x4, true, "P PAT G: 4 KiB page" },
	};
	char buf[96];

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		walk_entry_describe(t[i].e, t[i].level, t[i].mode, t[i].large, t[i].nx, buf, sizeof(buf));
		cr_expect_str_eq(buf, t[i].want, "entry %#llx level %u mode %d", (unsigned long long)t[i].e,
				 t[i].level, t[i].mode);
	}
}
