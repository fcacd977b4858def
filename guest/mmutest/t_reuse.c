/*
 * t_reuse.c: cases reuse32, reusepae, reuse64.  Accesses that reuse what an
 * earlier access left behind: a TLB entry on a CPU, a shadow entry in a
 * shadow MMU.  The other cases flush before every access (chain_set does an
 * INVLPG), so a shadow MMU fills afresh for each of their checks; here one
 * translation is used again and again without a flush, in orders where the
 * manuals still fix the outcome (SDM vol. 3A 4.6, 4.8, 4.10.2, 4.10.4):
 *   - the rights a TLB entry holds are the AND of R/W and U/S and the OR of
 *     XD over the walk; CPL and CR0.WP are applied at each access, so a
 *     change of CR0.WP or of the ring needs no flush to take effect;
 *   - after an entry loses a right (P, W, U, or gains XD) the old one may be
 *     used until INVLPG: only the access after the INVLPG is checked;
 *   - after an entry gains a right, one "spurious" #PF with the old rights
 *     is allowed, and the #PF itself flushes the address, so the retry must
 *     succeed; an entry that was not present needs no flush at all;
 *   - a write through a cached translation whose D is clear sets D in the
 *     leaf entry; A is set in every entry before a translation is cached;
 *   - MOV to CR3 flushes every non-global translation, a change of CR4.PGE
 *     every translation (a change of CR4.PSE is not listed as a flush, so
 *     the PSE part loads CR3 after each one).
 * Every outcome (fault or not, the #PF error code, CR2, the data read or
 * written) comes from model_walk and every A/D bit from model_ad_access
 * (model.c), never from what an earlier access showed.
 *
 * The parts, each with the shadow-MMU bug class it is meant to catch:
 *   ad      read-then-write, write-then-read, D cleared and flushed, a second
 *           page under the same upper entries: A at every level, D in the
 *           leaf only.  Catches D written into upper-level entries, a clean
 *           page's read fill that is writable (its first write would never
 *           trap to set D), D lost on a refill, a shadow that keeps a page
 *           writable after the guest cleared D and flushed, and A set only
 *           where a shadow page is created.
 *   wp      a read-only page (W=0 in the leaf, and for 4 KiB pages in the
 *           top entry too), dirty or clean, and a supervisor-only one (U=0),
 *           hit by supervisor and user reads and writes with CR0.WP toggled
 *           between them, never flushed.  Catches a user view that
 *           gets W from a supervisor CR0.WP=0 fill or from D (user writes to
 *           read-only pages always fault), a kernel/user split that shares
 *           entries, and CR0.WP not part of what selects a shadow entry.
 *   perm    P, W, U and NX (4 KiB pages: each in the leaf, P, W and U in the
 *           top entry; large pages: W) taken away (checked after INVLPG) and
 *           given back (checked without one; one spurious #PF allowed,
 *           except for P).  Catches INVLPG that drops the leaf but
 *           not an upper shadow page built for the old rights, a spurious
 *           fault that leaves the stale entry in place (the guest would
 *           loop), and not-present entries cached.
 *   spaces  the same VA in two address spaces (two CR3s) mapping different
 *           frames, and a second VA whose page table both spaces share, one
 *           of them through a read-only PDE; reads and writes alternate
 *           between the spaces.  Catches roots or entries reused across
 *           CR3s, a shadow page table reused under another role (upper
 *           rights), and A/D written into the other space's entries.
 *   cr4     CR4.PGE on and off around global pages (and, in 2-level
 *           paging, CR4.PSE: one PDE read as a 4 MiB page, then as a page
 *           table).  Catches global entries kept past a PGE change or a CR3
 *           write with PGE off, INVLPG that spares global entries, and the
 *           old meaning of a PDE kept after a PSE change.
 *
 * Cost: 110 to 125 accesses, half of them with an exception, each about 400
 * ring-0 instructions with its checks; 20 zeroed pages; the PSE part maps
 * the kernel image with about 300 4 KiB entries.  About 80,000 instructions
 * a case in all (counted under QEMU with -singlestep).
 */
#include "layout.h"
#include "model.h"
#include "mmutest.h"

#define CR4_PGE (1u << 7) /* global pages */

#define FULL (PTE_P | PTE_W | PTE_U)

struct reuse {
	struct tally *t;
	const struct pgmode *m;
	struct walk_env env;  /* nx_mode, nxe and wp as they are now; user and op per access */
	const char *part;     /* the part, for the FAIL line */
	unsigned level;       /* the level whose bits the part changes (0: none), likewise */
	unsigned step;        /* accesses made in this part, for the FAIL line */
	uint64_t frame;       /* the frame the translation under test maps */
	uint32_t wval;        /* the value of the next write; changes every time */
	void *cur_root;       /* the address space loaded now */
};

/* A translation under test: its chain of entries, the permission bits each
 * entry has now, and where the expected A/D bits of each entry live. */
struct xlat {
	struct chain ch;
	uint64_t bits[5];  /* [level]: P, W, U, NX of the entry */
	uint64_t *ad[5];   /* [level]: its expectation word (model.h) */
	uint64_t adw[5];   /* own words; ad[l] points here unless shared */
	bool ad_unknown;   /* an unchecked access may have set A/D: do not compare */
};

/* A test frame (mmutest.h) without zeroing the page: only the ret at offset 0
 * and the data word are ever used, and zeroing costs a ring-0 instruction per
 * word under an emulating hypervisor. */
static uint64_t frame_new(uint32_t value)
{
	uint8_t *p = page_alloc_dirty();

	p[0] = RET_INSN;
	*frame_word((uintptr_t)p, DATA_OFF) = value;
	return (uintptr_t)p;
}

static void xlat_init(struct xlat *x, const struct chain *ch)
{
	x->ch = *ch;
	for (unsigned l = 0; l < 5; l++) {
		x->bits[l] = FULL;
		x->ad[l] = &x->adw[l];
		x->adw[l] = 0;
	}
	x->ad_unknown = false;
}

/* The chain of the entries that already map va (no new mapping). */
static void chain_attach(struct chain *c, const struct pgmode *m, void *root, uint64_t va,
			 unsigned leaf)
{
	c->m = m;
	c->leaf = leaf;
	c->top = m->pae_pdpt ? m->levels - 1 : m->levels;
	c->va = va;
	for (unsigned l = leaf; l <= c->top; l++) {
		c->entry[l] = pt_walk(m, root, va, l, false);
		c->base[l] = pte_get(m, c->entry[l]) & ~(PTE_PERM | PTE_A | PTE_D);
	}
}

/* Write every entry as base | bits, A and D clear, and flush the address. */
static void xlat_put(struct xlat *x)
{
	for (unsigned l = x->ch.leaf; l <= x->ch.top; l++) {
		pte_set(x->ch.m, x->ch.entry[l], x->ch.base[l] | x->bits[l]);
		*x->ad[l] = 0;
	}
	x->ad_unknown = false;
	invlpg(x->ch.va);
}

/* Give the entry at `level` new permission bits, A and D as the CPU left
 * them, without a flush. */
static void xlat_change(struct xlat *x, unsigned level, uint64_t bits)
{
	uint64_t ad = pte_get(x->ch.m, x->ch.entry[level]) & (PTE_A | PTE_D);

	pte_set(x->ch.m, x->ch.entry[level], x->ch.base[level] | ad | bits);
	x->bits[level] = bits;
}

static void set_wp(struct reuse *r, bool wp)
{
	r->env.wp = wp;
	cpu_set_wp(wp);
}

static void use_root(struct reuse *r, void *root)
{
	if (r->cur_root != root)
		paging_set_root(root);
	r->cur_root = root;
}

static void part(struct reuse *r, const char *name)
{
	r->part = name;
	r->step = 0;
}

/* One access, made; *f describes a fault, *before is the data word before. */
struct attempt {
	bool done;
	struct fault f;
	uint32_t before, rval;
	uint64_t va;
};

static void attempt_make(struct reuse *r, const struct xlat *x, bool user, enum access_op op,
			 struct attempt *a)
{
	a->va = x->ch.va + (op == ACCESS_FETCH ? 0 : DATA_OFF);
	a->before = *frame_word(r->frame, DATA_OFF);
	a->rval = 0;
	r->step++;
	r->wval++;
	r->env.user = user;
	r->env.op = op;
	a->done = access_run(op, user, a->va, r->wval, &a->rval, &a->f);
}

static void describe(struct reuse *r, const struct xlat *x, const struct walk_expect *e,
		     const struct attempt *a, const char *why)
{
	char want[32], got[32];
	struct fault none = { 0 };

	if (e->fault)
		snprintf(want, sizeof(want), "#PF err %#x", e->error);
	else
		snprintf(want, sizeof(want), "no fault");
	check_fail(r->t, "%s%s%s, %s page, step %u (%s %s, WP=%u): expected %s, got %s%s%s",
		   r->part, r->level ? " in the " : "", r->level ? pt_level_name(r->m, r->level) : "",
		   page_size_name(r->m, x->ch.leaf), r->step, r->env.user ? "user" : "supervisor",
		   access_names[r->env.op], r->env.wp, want,
		   outcome_name(!a->done, a->done ? &none : &a->f, got, sizeof(got)),
		   why ? ": " : "", why ? why : "");
}

/* Compare an attempt with what the model says for the entries' bits `bits`. */
static void attempt_verify(struct reuse *r, const struct xlat *x, const uint64_t *bits,
			   const struct attempt *a)
{
	struct walk_expect e = model_walk(&r->env, bits, x->ch.top, x->ch.leaf);
	uint32_t now = *frame_word(r->frame, DATA_OFF);
	const char *why = NULL;

	if (a->done == e.fault)
		why = "";
	else if (e.fault && (a->f.vector != VEC_PF || a->f.error != e.error))
		why = "";
	else if (e.fault && a->f.cr2 != a->va)
		why = "CR2 is not the address accessed";
	else if (e.fault && now != a->before)
		why = "the faulting write changed the frame";
	else if (!e.fault && r->env.op == ACCESS_READ && a->rval != now)
		why = "the read returned the wrong data";
	else if (!e.fault && r->env.op == ACCESS_WRITE && now != r->wval)
		why = "the write did not reach the frame";
	if (!why)
		check_pass(r->t);
	else
		describe(r, x, &e, a, why[0] ? why : NULL);
}

/* After an access, the A and D bits of every entry of x against the model. */
static void ad_verify(struct reuse *r, struct xlat *x, bool completed)
{
	model_ad_access(x->ad, x->ch.top, x->ch.leaf, r->env.op, completed);
	if (x->ad_unknown)
		return;
	for (unsigned l = x->ch.leaf; l <= x->ch.top; l++) {
		uint64_t want = *x->ad[l], v = pte_get(r->m, x->ch.entry[l]);

		if (model_ad_match(want, v)) {
			check_pass(r->t);
			continue;
		}
		check_fail(r->t, "%s%s%s, %s page, step %u (%s %s): the %s has A=%u D=%u, expected A=%s D=%u",
			   r->part, r->level ? " in the " : "",
			   r->level ? pt_level_name(r->m, r->level) : "",
			   page_size_name(r->m, x->ch.leaf), r->step,
			   r->env.user ? "user" : "supervisor", access_names[r->env.op],
			   pt_level_name(r->m, l), !!(v & PTE_A), !!(v & PTE_D),
			   want & MODEL_A_ANY ? "any" : want & PTE_A ? "1" : "0", !!(want & PTE_D));
		return;
	}
}

/* One access through x, checked against the model; true if it faulted. */
static bool step(struct reuse *r, struct xlat *x, bool user, enum access_op op)
{
	struct attempt a;

	attempt_make(r, x, user, op, &a);
	attempt_verify(r, x, x->bits, &a);
	ad_verify(r, x, a.done);
	return !a.done;
}

/* One access whose outcome the manuals leave open (a right taken away, not
 * yet flushed): nothing is checked, and A/D are not compared until the
 * translation is rewritten. */
static void step_stale(struct reuse *r, struct xlat *x, bool user, enum access_op op)
{
	struct attempt a;

	attempt_make(r, x, user, op, &a);
	x->ad_unknown = true;
}

/* One access after a right was given back without a flush: it may fault
 * once as the old bits `old` say (a spurious #PF), and then the retry must
 * succeed; with spurious_ok false it must succeed at once. */
static void step_widened(struct reuse *r, struct xlat *x, const uint64_t *old, bool spurious_ok,
			 bool user, enum access_op op)
{
	struct attempt a;

	attempt_make(r, x, user, op, &a);
	attempt_verify(r, x, a.done || !spurious_ok ? x->bits : old, &a);
	ad_verify(r, x, a.done);
	if (!a.done)
		step(r, x, user, op);
}

/* --- ad ------------------------------------------------------------------ */

static void part_ad(struct reuse *r, struct xlat *x, void *root)
{
	static const struct { uint8_t user, op; } rw[] = {
		{ 0, ACCESS_READ }, { 1, ACCESS_READ }, { 0, ACCESS_WRITE }, /* read, then write */
		{ 0, ACCESS_READ }, { 0, ACCESS_FETCH },
	}, wr[] = {
		{ 1, ACCESS_WRITE }, { 0, ACCESS_READ }, { 0, ACCESS_WRITE },
	};
	const struct pgmode *m = r->m;

	part(r, "read-then-write");
	xlat_put(x);
	for (unsigned i = 0; i < ARRAY_SIZE(rw); i++)
		step(r, x, rw[i].user, rw[i].op);

	if (x->ch.leaf == 1) {
		part(r, "write-then-read");
		xlat_put(x);
		for (unsigned i = 0; i < ARRAY_SIZE(wr); i++)
			step(r, x, wr[i].user, wr[i].op);
	}

	/* The guest clears D in the leaf and flushes: the next write sets it again. */
	part(r, "D cleared and flushed");
	pte_set(m, x->ch.entry[x->ch.leaf], pte_get(m, x->ch.entry[x->ch.leaf]) & ~PTE_D);
	*x->ad[x->ch.leaf] &= ~PTE_D;
	invlpg(x->ch.va);
	step(r, x, false, ACCESS_READ);
	step(r, x, true, ACCESS_WRITE);

	/* A second page under the same upper entries (4 KiB pages): its first walk,
	 * after the guest cleared A above it and flushed that page only, sets A at
	 * every level again; its write sets D in its own PTE only. */
	if (x->ch.leaf == 1) {
		struct xlat y;
		struct chain c2;
		uint64_t frame = r->frame, va2 = x->ch.va + PAGE_SIZE;

		part(r, "second page");
		r->frame = frame_new(0x2d2d0000);
		pt_map(m, root, va2, r->frame, 1, FULL);
		chain_attach(&c2, m, root, va2, 1);
		xlat_init(&y, &c2);
		for (unsigned l = 2; l <= x->ch.top; l++) {
			y.ad[l] = x->ad[l];
			pte_set(m, x->ch.entry[l], pte_get(m, x->ch.entry[l]) & ~PTE_A);
			*x->ad[l] &= ~PTE_A;
		}
		invlpg(va2);
		step(r, &y, false, ACCESS_READ);
		step(r, &y, false, ACCESS_WRITE);
		/* and the first page's PTE kept its own A and D */
		r->frame = frame;
		step(r, x, false, ACCESS_READ);
	}
}

/* --- wp ------------------------------------------------------------------- */

struct wp_step {
	uint8_t wp, user, op;
};

/* Dirty read-only page: the supervisor writes first with CR0.WP=0, the user
 * reads, then tries to write; CR0.WP goes on and off between writes. */
static const struct wp_step wp_dirty[] = {
	{ 0, 0, ACCESS_WRITE }, { 0, 1, ACCESS_READ }, { 0, 1, ACCESS_WRITE },
	{ 1, 0, ACCESS_WRITE }, { 0, 0, ACCESS_WRITE }, { 0, 1, ACCESS_WRITE },
};
/* Clean read-only page: the user reads first, then tries to write, before and
 * after the supervisor's CR0.WP=0 write makes it dirty. */
static const struct wp_step wp_clean[] = {
	{ 0, 1, ACCESS_READ }, { 0, 1, ACCESS_WRITE }, { 0, 0, ACCESS_WRITE },
	{ 0, 1, ACCESS_WRITE },
};
/* Supervisor-only writable page: the supervisor writes, then the user tries. */
static const struct wp_step wp_super[] = {
	{ 1, 0, ACCESS_WRITE }, { 1, 1, ACCESS_READ }, { 0, 1, ACCESS_WRITE },
};

static void wp_run(struct reuse *r, struct xlat *x, const struct wp_step *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (s[i].wp != r->env.wp)
			set_wp(r, s[i].wp); /* MOV to CR0, no flush */
		step(r, x, s[i].user, s[i].op);
	}
}

/* W=0 (or U=0) in the leaf, and for 4 KiB pages at the top too (the clean
 * sequence only in the leaf). */
static void part_wp(struct reuse *r, struct xlat *x)
{
	const struct pgmode *m = r->m;
	unsigned levels[2] = { x->ch.leaf, x->ch.top };
	unsigned nlevels = x->ch.leaf > 1 || x->ch.leaf == x->ch.top ? 1 : 2;

	for (unsigned k = 0; k < nlevels; k++) {
		unsigned level = levels[k];

		r->level = level;
		part(r, "read-only dirty page");
		set_wp(r, false);
		x->bits[level] = PTE_P | PTE_U;
		xlat_put(x);
		pte_set(m, x->ch.entry[x->ch.leaf], pte_get(m, x->ch.entry[x->ch.leaf]) | PTE_D);
		*x->ad[x->ch.leaf] = PTE_D;
		invlpg(x->ch.va);
		wp_run(r, x, wp_dirty, ARRAY_SIZE(wp_dirty));

		if (level == x->ch.leaf) {
			part(r, "read-only clean page");
			set_wp(r, false);
			xlat_put(x);
			wp_run(r, x, wp_clean, ARRAY_SIZE(wp_clean));
		}

		part(r, "supervisor page");
		set_wp(r, true);
		x->bits[level] = PTE_P | PTE_W;
		xlat_put(x);
		wp_run(r, x, wp_super, ARRAY_SIZE(wp_super));
		x->bits[level] = FULL;
	}
	r->level = 0;
	set_wp(r, false);
}

/* --- perm ----------------------------------------------------------------- */

static const struct {
	uint64_t bit;        /* the right taken away and given back */
	bool user;           /* the access that needs it */
	enum access_op op;
	const char *restrict_name, *widen_name;
} probes[] = {
	{ PTE_P, false, ACCESS_READ, "P cleared", "P set" },
	{ PTE_W, false, ACCESS_WRITE, "W cleared", "W set" },
	{ PTE_U, true, ACCESS_READ, "U cleared", "U set" },
	{ PTE_NX, false, ACCESS_FETCH, "NX set", "NX cleared" },
};

/* Each right in the leaf, and P, W and U in the top entry; on a large page
 * only W in the leaf. */
static void part_perm(struct reuse *r, struct xlat *x)
{
	bool large = x->ch.leaf > 1;
	unsigned levels[2] = { x->ch.leaf, x->ch.top };
	unsigned nlevels = large || x->ch.leaf == x->ch.top ? 1 : 2;

	set_wp(r, true);
	if (r->m->nx) {
		cpu_set_nxe(true);
		r->env.nxe = true;
	}
	for (unsigned k = 0; k < nlevels; k++)
		for (unsigned i = 0; i < ARRAY_SIZE(probes); i++) {
			unsigned level = levels[k];
			uint64_t less = probes[i].bit == PTE_NX ? FULL | PTE_NX : FULL & ~probes[i].bit;
			uint64_t old[5];

			if ((probes[i].bit == PTE_NX && (!r->m->nx || k)) ||
			    (large && probes[i].bit != PTE_W))
				continue;
			r->level = level;

			/* Taken away: the stale right may still be used (not checked) until
			 * INVLPG; after it the access must fault as the new bits say. */
			part(r, probes[i].restrict_name);
			xlat_put(x);
			step(r, x, probes[i].user, probes[i].op);
			xlat_change(x, level, less);
			step_stale(r, x, probes[i].user, probes[i].op);
			invlpg(x->ch.va);
			step(r, x, probes[i].user, probes[i].op);

			/* Given back without a flush: at most one spurious #PF (none
			 * for P, which no TLB caches while clear). */
			part(r, probes[i].widen_name);
			x->bits[level] = less;
			xlat_put(x);
			step(r, x, probes[i].user, probes[i].op);
			for (unsigned l = 0; l < 5; l++)
				old[l] = x->bits[l];
			xlat_change(x, level, FULL);
			step_widened(r, x, old, probes[i].bit != PTE_P, probes[i].user, probes[i].op);
		}
	r->level = 0;
	if (r->m->nx) {
		cpu_set_nxe(false);
		r->env.nxe = false;
	}
	set_wp(r, false);
}

/* --- spaces --------------------------------------------------------------- */

struct space_step {
	uint8_t space;  /* 0: X, 1: Y */
	uint8_t which;  /* 0: the private VA, 1: the VA of the shared page table */
	uint8_t wp, user, op;
};

static const struct space_step space_steps[] = {
	{ 0, 0, 1, 0, ACCESS_READ }, { 0, 1, 1, 0, ACCESS_WRITE }, { 1, 0, 1, 0, ACCESS_READ },
	{ 1, 1, 1, 0, ACCESS_READ }, { 1, 1, 1, 0, ACCESS_WRITE }, { 1, 1, 1, 1, ACCESS_WRITE },
	{ 1, 0, 1, 1, ACCESS_WRITE }, { 0, 0, 1, 1, ACCESS_READ }, { 0, 0, 1, 0, ACCESS_WRITE },
	{ 0, 1, 1, 1, ACCESS_WRITE }, { 1, 1, 0, 0, ACCESS_WRITE }, { 1, 0, 0, 0, ACCESS_READ },
	{ 0, 1, 0, 1, ACCESS_READ }, { 0, 0, 0, 0, ACCESS_READ },
};

static void part_spaces(struct reuse *r, void *root_x, unsigned slot, unsigned slot2)
{
	const struct pgmode *m = r->m;
	void *roots[2] = { root_x, pt_new_address_space(m) };
	uint64_t frames[2][2], va2 = pt_slot_va(m, slot2);
	struct xlat xs[2][2];
	struct chain c;
	uint64_t shared_pte = 0;
	void *pde;

	frames[0][0] = frame_new(0x5e000000);
	frames[1][0] = frame_new(0x5e000001);
	frames[0][1] = frames[1][1] = frame_new(0x5e00005d);
	for (unsigned s = 0; s < 2; s++) {
		chain_build(&c, m, roots[s], slot, 1, frames[s][0]);
		xlat_init(&xs[s][0], &c);
	}
	/* The second VA: X maps it through a page table of its own; Y's PDE points
	 * at that same page table, without W. */
	pt_map(m, roots[0], va2, frames[0][1], 1, FULL);
	pde = pt_walk(m, roots[1], va2, 2, true);
	pte_set(m, pde, pte_get(m, pt_walk(m, roots[0], va2, 2, false)));
	for (unsigned s = 0; s < 2; s++) {
		chain_attach(&c, m, roots[s], va2, 1);
		xlat_init(&xs[s][1], &c);
		xs[s][1].ad[1] = &shared_pte;
	}
	xs[1][1].bits[2] = PTE_P | PTE_U;

	part(r, "two address spaces");
	for (unsigned s = 0; s < 2; s++) {
		use_root(r, roots[s]);
		xlat_put(&xs[s][0]);
		xlat_put(&xs[s][1]);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(space_steps); i++) {
		const struct space_step *st = &space_steps[i];

		use_root(r, roots[st->space]); /* MOV to CR3: flushes the TLB */
		if (st->wp != r->env.wp)
			set_wp(r, st->wp);
		r->frame = frames[st->space][st->which];
		step(r, &xs[st->space][st->which], st->user, st->op);
	}
	use_root(r, root_x);
	set_wp(r, false);
}

/* --- cr4 ------------------------------------------------------------------ */

/*
 * In PAE paging a MOV to CR4 that changes PGE or PSE reloads the four
 * PDPTEs from CR3 and raises #GP if one has a reserved bit set (SDM 4.4.1;
 * KVM does it too).  QEMU's software walker sets A (bit 5) in the PDPTEs it
 * walks, where Intel reserves bits 8:5, so a PDPT walked under QEMU TCG
 * (and under KVM nested on TCG's SVM) would fault here: write them back
 * clean first, as a kernel that owns its PDPT may.
 */
static void set_cr4_bit(struct reuse *r, unsigned long bit, bool on)
{
	unsigned long cr4 = read_cr4();

	if (r->m->pae_pdpt)
		for (unsigned i = 0; i < 4; i++) {
			uint8_t *e = (uint8_t *)r->cur_root + 8 * i;

			pte_set(r->m, e, pte_get(r->m, e) & ~(uint64_t)0x1e6);
		}
	write_cr4(on ? cr4 | bit : cr4 & ~bit);
}

/* Point the leaf of x at a new test frame holding value, A and D clear. */
static void xlat_move(struct reuse *r, struct xlat *x, uint32_t value)
{
	r->frame = frame_new(value);
	x->ch.base[1] = r->frame | PTE_G;
	pte_set(r->m, x->ch.entry[1], x->ch.base[1] | x->bits[1]);
	*x->ad[1] = 0;
}

static void part_pge(struct reuse *r, void *root, unsigned slot)
{
	struct chain c;
	struct xlat x;

	part(r, "CR4.PGE");
	r->frame = frame_new(0x96e00000);
	chain_build(&c, r->m, root, slot, 1, r->frame);
	xlat_init(&x, &c);
	x.ch.base[1] |= PTE_G;
	set_cr4_bit(r, CR4_PGE, true);
	xlat_put(&x);
	step(r, &x, false, ACCESS_READ);      /* a global translation */
	xlat_move(r, &x, 0x96e00001);
	set_cr4_bit(r, CR4_PGE, false);          /* flushes global translations too */
	step(r, &x, false, ACCESS_READ);
	xlat_move(r, &x, 0x96e00002);
	paging_set_root(root);                /* G means nothing with PGE off */
	step(r, &x, false, ACCESS_READ);
	step(r, &x, false, ACCESS_WRITE);
	set_cr4_bit(r, CR4_PGE, true);
	step(r, &x, false, ACCESS_READ);
	xlat_move(r, &x, 0x96e00003);
	invlpg(x.ch.va);                      /* INVLPG drops a global translation */
	step(r, &x, true, ACCESS_READ);
	step(r, &x, false, ACCESS_WRITE);
	xlat_move(r, &x, 0x96e00004);
	set_cr4_bit(r, CR4_PGE, false);
	step(r, &x, false, ACCESS_WRITE);
	step(r, &x, true, ACCESS_READ);
}

#ifndef __x86_64__
#define PSE_SMALL 0x95e55a11u
#define PSE_LARGE 0x95e51a26u

/* Map pa to itself with a 4 KiB page in the 2-level directory pd. */
static void map_4k(uint32_t *pd, uint32_t pa)
{
	uint32_t *pt;

	if (!pd[pa >> 22])
		pd[pa >> 22] = (uint32_t)(uintptr_t)page_alloc() | (uint32_t)(FULL | PTE_A);
	pt = phys_ptr(pd[pa >> 22] & 0xfffff000u);
	pt[(pa >> 12) & 1023] = pa | (uint32_t)(FULL | PTE_A | PTE_D);
}

static void zero_page(void *p)
{
	uintptr_t d = (uintptr_t)p, n = PAGE_SIZE / 4;

	__asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(0u) : "memory");
}

/*
 * 2-level paging only: one PDE with PS=1, read as a 4 MiB page with CR4.PSE=1
 * and as a page table (PS ignored) with CR4.PSE=0, a MOV to CR3 after each
 * change.  The address space of this part maps what the kernel uses with
 * 4 KiB pages only, so that it keeps running while PSE is off.  region: a
 * 4 MiB page whose first 4 KiB serve as the page table; its entry 1 maps a
 * small frame.  Catches a shadow MMU that keeps the old meaning of the PDE
 * (a direct shadow page for the large page, or a shadow page table for the
 * small one) across the PSE change and the CR3 load, and A/D written into
 * the entry of the other meaning.
 */
static void part_pse(struct reuse *r)
{
	const struct pgmode *m = r->m;
	uint64_t size = pg_size(m, 2), region = region_alloc(size, size);
	uint32_t *pd = page_alloc(), *table = phys_ptr(region);
	uint64_t small = frame_new(PSE_SMALL), va = pt_slot_va(m, 0) + PAGE_SIZE;
	uint64_t pde_ad = 0, pte_ad = 0;
	uint32_t small_val;
	struct xlat large, tiny;

	/* What runs or is read while CR4.PSE is off, mapped with 4 KiB pages: the
	 * kernel image (code, stacks, descriptor tables), the directory, the two
	 * pages of the region in use and the small frame. */
	for (uint32_t pa = KERNEL_BASE; pa < boot.pool_start; pa += PAGE_SIZE)
		map_4k(pd, pa);
	map_4k(pd, (uint32_t)(uintptr_t)pd);
	map_4k(pd, (uint32_t)region);
	map_4k(pd, (uint32_t)region + PAGE_SIZE);
	map_4k(pd, (uint32_t)small);
	zero_page(table);
	table[1] = (uint32_t)small | FULL;
	*frame_word(region + PAGE_SIZE, DATA_OFF) = PSE_LARGE;
	pd[va >> m->shift[2]] = (uint32_t)region | FULL | PTE_PS;

	large.ch = (struct chain){ .m = m, .leaf = 2, .top = 2, .va = va };
	large.ch.entry[2] = &pd[va >> m->shift[2]];
	large.ch.base[2] = region | PTE_PS;
	tiny.ch = (struct chain){ .m = m, .leaf = 1, .top = 2, .va = va };
	tiny.ch.entry[2] = large.ch.entry[2];
	tiny.ch.base[2] = large.ch.base[2];
	tiny.ch.entry[1] = &table[1];
	tiny.ch.base[1] = small;
	for (unsigned l = 0; l < 5; l++) {
		large.bits[l] = tiny.bits[l] = FULL;
		large.ad[l] = tiny.ad[l] = l == 1 ? &pte_ad : &pde_ad;
	}
	large.ad_unknown = tiny.ad_unknown = false;

	part(r, "CR4.PSE");
	use_root(r, pd);                      /* CR4.PSE is on: 2-level paging */
	invlpg(va);
	r->frame = region + PAGE_SIZE;
	step(r, &large, false, ACCESS_READ);
	step(r, &large, false, ACCESS_WRITE);
	set_cr4_bit(r, CR4_PSE, false);
	paging_set_root(pd);                  /* the PDE now names a page table */
	r->frame = small;
	step(r, &tiny, false, ACCESS_READ);
	step(r, &tiny, true, ACCESS_WRITE);
	small_val = r->wval;                  /* what that write wrote */
	step(r, &tiny, false, ACCESS_READ);
	set_cr4_bit(r, CR4_PSE, true);
	paging_set_root(pd);                  /* a 4 MiB page again */
	r->frame = region + PAGE_SIZE;
	step(r, &large, true, ACCESS_READ);
	step(r, &large, false, ACCESS_WRITE);
	check(r->t, *frame_word(small, DATA_OFF) == small_val,
	      "CR4.PSE: the small frame holds %#x, expected %#x", *frame_word(small, DATA_OFF),
	      small_val);
}
#endif

void test_reuse(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	struct reuse r = { .t = t, .m = m, .env = { .nx_mode = m->nx } };
	struct ctx c;
	struct chain ch;
	struct xlat x;
	unsigned slot = 0;

	if (!ctx_enter(&c, t, m))
		return;
	r.cur_root = c.root;

	/* 4 KiB pages, then the mode's large pages: ad, wp and perm on each. */
	for (unsigned leaf = 1; leaf <= 2; leaf++) {
		if (!leaf_wanted(m, leaves, leaf))
			continue;
		r.frame = frame_new(0x7e5e0000 + leaf);
		chain_build(&ch, m, c.root, slot++, leaf, r.frame);
		xlat_init(&x, &ch);
		part_ad(&r, &x, c.root);
		part_wp(&r, &x);
		part_perm(&r, &x);
	}
	/* Slot 0, the 4 KiB page's, again (its tables are there already), and slot 2. */
	part_spaces(&r, c.root, 0, 2);
	part_pge(&r, c.root, 0);
#ifndef __x86_64__
	if (m == &pgmode_2level)
		part_pse(&r);
#endif
	ctx_leave(&c);
}
