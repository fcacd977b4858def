/*
 * Unit tests for the shadow MMU (src/shadow/mmu.c).
 *
 * The MMU is driven the way shadow.c drives it (mmu_ctx_init on every
 * change of CR0/CR4/EFER/CPL, mmu_new_cr3 on CR3 writes, path and CR4.PGE
 * changes, mmu_trap_begin at the start of every trap, mmu_root and
 * mmu_root_loaded whenever need_reload is set, mmu_page_fault on every real
 * #PF, and on PF_EMULATE what emulate_pte_write does), in each coherence
 * strategy (vtlb, wp, unsync), and what it builds is judged by two models
 * written here, independently of mmu.c and walk.c:
 *
 *   - the guest model ("guest model" below): the SDM's rules for 4-level,
 *     PAE and 32-bit paging and for paging off, read-only, one loop with the
 *     reserved bits of each level spelled out.  It says what the guest's
 *     tables allow, which #PF error code the guest must see, and which A/D
 *     bits an access sets.
 *   - the real CPU ("the real CPU" below): it walks the shadow tables from
 *     the root MPA through the pool buffer (4 KiB and 2 MiB shadow leaves),
 *     at CPL 3 with CR0.WP=1 and EFER.NXE=1 as the KVM VM that runs a
 *     shadow-mode guest does, and keeps what it used in a TLB that only
 *     ombra's flushes empty (a real CR3 load when need_reload is set, else
 *     an INVLPG of flush_gva; a #PF drops the faulting address).  An access
 *     it refuses becomes an mmu_page_fault() with the error code that CPU
 *     reports, and is retried, at most 4 times.
 *
 * The guest writes its own page tables as a CPU does: a store through a
 * mapping of the table area (the window; by physical address with paging
 * off) by the real CPU, natively when the shadow lets it, else a #PF; on
 * PF_EMULATE the test writes the bytes into guest memory and calls
 * mmu_pte_write, or, for a store that "cannot be emulated", calls
 * mmu_unprotect_gfn and runs the store again.
 *
 * What is checked:
 *
 *   1. Every access: PF_GUEST exactly when the guest model refuses, with the
 *      model's error code, after one call; otherwise the shadow ends up
 *      allowing it with gva -> model GPA + mpa_offset in at most two calls
 *      (a fill, and one more for dirty-bit emulation), or PF_MMIO for a GPA
 *      without RAM; the A/D bits in guest memory are exactly what the model
 *      expects.  Exhaustively for one path (fault/matrix) and at random.
 *   2. After every step: every translation the real CPU can make from the
 *      current root (and the other view's cached root of the same CR3), and
 *      every entry of its TLB, grants no more than the guest's tables for
 *      that view (user view: user pages only; W only if the guest allows the
 *      write and the guest PTE is dirty; X only if the guest allows the fetch
 *      under EFER.NXE; A set in the guest leaf) and points at the right MPA;
 *      a 2 MiB shadow leaf only where the guest maps those 2 MiB with one
 *      large page; slot T_MON of every root is the monitor (and of the loaded
 *      one until the CPU has left it); and mmu_audit() agrees.  In wp and
 *      unsync every cached root must be exact for the tables at its own CR3.
 *      mmu_audit must also catch deliberately corrupted entries.
 *   3. A/D emulation, roots and the root cache, global pages, large guest
 *      pages, a tiny pool, mmu_gva_to_gpa, coherence after a page table is
 *      unlinked and reused, each with hand-built tables.
 *   4. wp and unsync: a store to a table the shadow follows never goes
 *      natively (the test reads ombra's shadow-page list to know which
 *      tables it follows); flooding; unprotecting; unsync and resync; roots
 *      kept across CR3 switches; retired roots; mmu_zap_gfn_range zaps
 *      exactly the leaves that map its frames.
 *   5. Random sequences for every path x strategy (three fixed seeds each):
 *      faults, guest table writes through the window (half of them on the
 *      path of a translation the shadow holds), CR3 switches among up to
 *      six address spaces, view switches, CR0.WP/EFER.NXE/CR4.PGE changes,
 *      paging on/off, zap_all.  After a table write the guest flushes as the
 *      strategy lets it: vtlb, as a kernel must (INVLPG of every address
 *      that maps a changed PTE; a global flush, or a plain CR3 write when
 *      CR4.PGE is off, for anything above); wp, nothing at all or now and
 *      then an INVLPG or CR3 write, and the shadow must be exact right after
 *      the store; unsync, the same, but translations through a leaf table
 *      written natively while out of sync may stay stale until the next
 *      mmu_new_cr3 / mmu_invlpg (like a TLB), and are only checked after
 *      (in both, so may those through a table mmu_unprotect_gfn let go
 *      out of sync).  A store mmu_unprotect_gfn was called for must then
 *      go through natively.
 *      Some variants run with shadow mode's defaults (prefetch, 2 MiB
 *      shadow leaves); some check, at every resume, that each present
 *      shadow entry changed in place is in touch[].
 *
 * Stale translations are legal on x86 only until the guest flushes; the
 * vtlb sequences flush right after every change, so every state checked
 * must be exact (global pages included: their changes are flushed too).
 *
 * Guest RAM: 80 MiB at GPA 0 plus 2 MiB at 1..24 GiB (for 1 GiB pages), all
 * at MPA = GPA + 256 GiB.  Guest page tables live at 1 MiB.  The pool is a
 * calloc'd buffer at MPA 2 MiB.  MMU_TEST_STATS=1 prints each random run's
 * counters.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadow/mmu.h"
#include "vmm/mem.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PAGE 4096ULL

#define MPA_OFF    (256 * GiB)             /* shadow mode's GPA -> MPA offset */
#define POOL_AT    0x200000ULL             /* MPA of the pool */
#define MON_E      0x0000000000020003ULL   /* the monitor's PML4E: P W, supervisor */
#define T_MON      256u                    /* the monitor's PML4 slot (MON_SLOT, written out) */
#define T_MON_VA   0xffff800000000000ULL
#define RAM_SIZE   (80 * MiB)
#define HI_SLOTS   24                      /* 2 MiB of RAM at 1 .. 24 GiB (1 GiB pages) */
#define HI_SIZE    (2 * MiB)
#define TBL_BASE   0x100000ULL             /* guest page tables */
#define TBL_FRAMES 96
#define DATA_LO    (2 * MiB)               /* 4 KiB data frames: [2 MiB, RAM_SIZE) */
#define BAD_GPA    0xd0000000ULL           /* no RAM here: a table pointer to it is broken */
#define MMIO_4K    0xfeb00000ULL           /* no RAM here: MMIO for data */

/* x86 entry bits, written out. */
#define E_P   0x1ULL
#define E_W   0x2ULL
#define E_U   0x4ULL
#define E_A   0x20ULL
#define E_D   0x40ULL
#define E_PS  0x80ULL
#define E_G   0x100ULL
#define E_NX  0x8000000000000000ULL
#define A40   0x000000fffffff000ULL        /* address bits 39:12 (guest MAXPHYADDR 40) */
#define A52   0x000ffffffffff000ULL        /* address bits 51:12 of a shadow entry */
#define S_RSVD 0x000fff0000000000ULL       /* shadow entry bits 51:40: reserved on the real CPU */

enum { MODE_NP = 0, MODE_P32 = 32, MODE_PAE = 33, MODE_P64 = 64 };
enum { AX_R, AX_W, AX_X };
static const char *const ax_name[] = { "read", "write", "fetch" };

/* ===================================================================== */
/* the harness: guest memory, the pool, the MMU, the guest CPU           */
/* ===================================================================== */

struct region {
	uint64_t gpa, size;
	uint8_t *hva;
};

/* What the guest CPU is doing (the guest model reads this). */
struct gstate {
	int mode;                /* MODE_* */
	bool wp, nxe, pse, pge;
	bool user;               /* CPL 3: the user view */
	uint64_t cr3;
	uint64_t pdpte[4];       /* PAE: the PDPTE registers, loaded at CR3 writes */
};

#define LOG_N 32
#define TLB_N 64
#define DIRTY_MAX 4096

/* One entry of the real CPU's TLB: a translation the CPU may keep using
 * until ombra flushes it (a real CR3 load, or INVLPG of flush_gva). */
struct tlbe {
	bool valid;
	uint64_t page;           /* gva >> 12 */
	uint64_t mpa;            /* the frame */
	bool w, x;               /* only translations CPL 3 may use are cached */
	bool large;              /* from a 2 MiB shadow leaf: INVLPG anywhere in it drops it */
	uint64_t at[4];          /* the guest entries the shadow path stood for */
	unsigned size[4], nat;
};

/* unsync: a guest entry (4 bytes of it) written natively, or a page INVLPG'd,
 * and when (h->stamp). */
struct dirt {
	uint64_t at;
	uint64_t stamp;
};

struct h {
	struct guest_mem mem;
	struct region rg[1 + HI_SLOTS];
	unsigned nrg;
	uint8_t *pool;
	unsigned npool;
	struct shadow_mmu m;
	struct mmu_ctx ctx;
	bool ctx_valid;
	struct gstate g;
	uint64_t loaded;         /* the root in the real CR3 */
	uint64_t next_tbl;       /* hand-built tables: next free frame */
	char log[LOG_N][160];    /* the last steps, for failure messages */
	unsigned nlog;
	uint64_t *snap;          /* the pool at the last resume (touch checks), or NULL */
	struct tlbe tlb[TLB_N];  /* the real CPU's TLB (direct-mapped) */
	/* unsync: guest entries written natively since the last mmu_new_cr3
	 * (wp: or mmu_invlpg).  A shadow entry standing for one may be stale
	 * for an address until the guest's next INVLPG of that address (invl:
	 * the pages INVLPG'd since the last mmu_new_cr3) written after it. */
	struct dirt dirty[DIRTY_MAX], invl[DIRTY_MAX];
	unsigned ndirty, ninvl;
	uint64_t stamp;
	/* What became of the guest's stores to its tables. */
	unsigned st_native, st_emulated, st_unprotected, st_refault;
	unsigned stale_ok;       /* unsync: accesses made through a legally stale translation */
	bool *root_pse;          /* per pool page: CR4.PSE when it was last loaded as a root */
};

static struct h *h_new_s(unsigned npool, enum mmu_sync sync)
{
	struct h *h = calloc(1, sizeof(*h));

	cr_assert(h);
	mem_init(&h->mem);
	h->mem.mpa_offset = MPA_OFF;
	cr_assert_eq(mem_slot_add(&h->mem, 0, RAM_SIZE, NULL), 0);
	for (unsigned k = 1; k <= HI_SLOTS; k++)
		cr_assert_eq(mem_slot_add(&h->mem, k * GiB, HI_SIZE, NULL), 0);
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++)
		if (h->mem.slots[i].used)
			h->rg[h->nrg++] = (struct region){ h->mem.slots[i].gpa, h->mem.slots[i].size,
							   h->mem.slots[i].hva };
	cr_assert_eq(h->nrg, 1 + HI_SLOTS);
	h->pool = calloc(npool, PAGE);
	h->npool = npool;
	h->root_pse = calloc(npool, sizeof(*h->root_pse));
	cr_assert(h->pool && h->root_pse);
	cr_assert_leq(npool, 4096u);
	cr_assert_eq(mmu_init(&h->m, &h->mem, h->pool, POOL_AT, npool, T_MON, MON_E), 0);
	h->m.sync = sync;
	h->next_tbl = TBL_BASE;
	return h;
}

static struct h *h_new(unsigned npool)
{
	return h_new_s(npool, SYNC_VTLB);
}

static const char *const sync_name[] = { "vtlb", "wp", "unsync" };

static void h_free(struct h *h)
{
	free(h->snap);
	free(h->root_pse);
	mmu_destroy(&h->m);
	mem_destroy(&h->mem);
	free(h->pool);
	free(h);
}

/* Guest memory as the models see it: straight from the regions. */
static uint8_t *gptr(struct h *h, uint64_t gpa, unsigned n)
{
	for (unsigned i = 0; i < h->nrg; i++)
		if (gpa >= h->rg[i].gpa && gpa + n <= h->rg[i].gpa + h->rg[i].size)
			return h->rg[i].hva + (gpa - h->rg[i].gpa);
	return NULL;
}

static bool in_ram(struct h *h, uint64_t gpa)
{
	return gptr(h, gpa, 1) != NULL;
}

static uint64_t rd(struct h *h, uint64_t gpa, unsigned n)
{
	uint64_t v = 0;
	uint8_t *p = gptr(h, gpa, n);

	cr_assert(p, "model read outside RAM at %#llx", (unsigned long long)gpa);
	memcpy(&v, p, n);
	return v;
}

static void wr(struct h *h, uint64_t gpa, uint64_t v, unsigned n)
{
	uint8_t *p = gptr(h, gpa, n);

	cr_assert(p, "model write outside RAM at %#llx", (unsigned long long)gpa);
	memcpy(p, &v, n);
}

static void note(struct h *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct h *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->log[h->nlog++ % LOG_N], sizeof(h->log[0]), fmt, ap);
	va_end(ap);
}

static const char *mode_name(int mode)
{
	return mode == MODE_NP ? "nonpaging" : mode == MODE_P32 ? "paging32" :
	       mode == MODE_PAE ? "paging32e" : "paging64";
}

/* Fail the test with msg, the guest CPU and the last steps. */
static void fail(struct h *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct h *h, const char *fmt, ...)
{
	static char out[16384];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, sizeof(out), fmt, ap);
	va_end(ap);
	n += snprintf(out + n, sizeof(out) - n,
		      "\n  guest (%s): %s cr3=%#llx %s view CR0.WP=%d EFER.NXE=%d CR4.PGE=%d CR4.PSE=%d root=%#llx\n  last steps:\n",
		      sync_name[h->m.sync], mode_name(h->g.mode), (unsigned long long)h->g.cr3, h->g.user ? "user" : "kernel",
		      h->g.wp, h->g.nxe, h->g.pge, h->g.pse, (unsigned long long)h->loaded);
	for (unsigned i = h->nlog > LOG_N ? h->nlog - LOG_N : 0; i < h->nlog && n < (int)sizeof(out) - 256; i++)
		n += snprintf(out + n, sizeof(out) - n, "    %s\n", h->log[i % LOG_N]);
	cr_assert_fail("%s", out);
}

/*
 * The pool's contract with a host whose KVM shadows ombra's tables: every
 * present entry changed in place since the last resume is listed in
 * touch[] (or touch_overflow is set).  Checked against a copy of the pool.
 */
static void touch_check(struct h *h)
{
	const uint64_t *now = (const uint64_t *)h->pool;
	size_t n = (size_t)h->npool * 512;

	if (!h->snap)
		return;
	if (!h->m.touch_overflow) {
		for (size_t i = 0; i < n; i++) {
			bool listed = false;

			if (!(h->snap[i] & E_P) || now[i] == h->snap[i])
				continue;
			for (unsigned k = 0; k < h->m.nr_touch && !listed; k++)
				listed = h->m.touch[k] == i * 8;
			if (!listed)
				fail(h, "pool page %zu entry %zu changed in place (%#llx -> %#llx) but is not in touch[] (%u listed, no overflow)",
				     i / 512, i % 512, (unsigned long long)h->snap[i], (unsigned long long)now[i],
				     h->m.nr_touch);
		}
	}
	h->m.nr_touch = 0;
	h->m.touch_overflow = false;
	memcpy(h->snap, now, n * sizeof(*now));
}

static uint64_t *spage(struct h *h, uint64_t mpa);

static void tlb_flush_all(struct h *h)
{
	for (unsigned i = 0; i < TLB_N; i++)
		h->tlb[i].valid = false;
}

static void tlb_flush_page(struct h *h, uint64_t gva)
{
	struct tlbe *t = &h->tlb[(gva >> 12) % TLB_N];

	if (t->page == gva >> 12)
		t->valid = false;
	for (unsigned i = 0; i < TLB_N; i++)
		if (h->tlb[i].large && (h->tlb[i].page >> 9) == (gva >> 21))
			h->tlb[i].valid = false;
}

/*
 * The start of a trap (shadow_exit): the monitor runs on the root the real
 * CR3 holds, so that root must still map the monitor; then
 * mmu_trap_begin frees the roots retired since the last trap.
 */
static void loaded_has_monitor(struct h *h, const char *when)
{
	if (h->loaded && h->ctx_valid && spage(h, h->loaded)[T_MON] != MON_E)
		fail(h, "%s: the root the real CR3 holds (%#llx) has %#llx in the monitor's slot, not the monitor's entry (freed or reused while loaded)",
		     when, (unsigned long long)h->loaded, (unsigned long long)spage(h, h->loaded)[T_MON]);
}

static void trap(struct h *h)
{
	loaded_has_monitor(h, "a trap");
	mmu_trap_begin(&h->m);
	loaded_has_monitor(h, "mmu_trap_begin");
}

/* What resume() does before the guest runs again: the root first (and
 * mmu_root_loaded), then the real CPU's flush: a CR3 load flushes its whole
 * TLB (shadow leaves are never global), else an INVLPG of flush_gva. */
static void reload(struct h *h)
{
	if (h->m.need_reload) {
		uint64_t old = h->loaded;

		loaded_has_monitor(h, "resume, before mmu_root");
		h->loaded = mmu_root(&h->m, &h->ctx);
		mmu_root_loaded(&h->m, h->loaded);
		h->root_pse[(h->loaded - POOL_AT) / PAGE] = h->g.pse;
		/* The resume stub that loads the new root runs on the old one. */
		if (old && spage(h, old)[T_MON] != MON_E)
			fail(h, "resume: the root the real CPU still runs on (%#llx) lost the monitor's entry (its slot = %#llx) before the switch to %#llx",
			     (unsigned long long)old, (unsigned long long)spage(h, old)[T_MON],
			     (unsigned long long)h->loaded);
		tlb_flush_all(h);
	} else if (h->m.need_invlpg) {
		tlb_flush_page(h, h->m.flush_gva);
	}
	h->m.need_reload = false;
	h->m.need_invlpg = false;
	touch_check(h);
}

/* The guest's TLB flushes, as its traps reach the MMU.  In unsync they are
 * also where out-of-sync tables are brought back: nothing may be stale after. */
static void dirt_set(struct dirt *d, unsigned *n, uint64_t at, uint64_t stamp)
{
	for (unsigned i = 0; i < *n; i++)
		if (d[i].at == at) {
			d[i].stamp = stamp;
			return;
		}
	cr_assert_lt(*n, DIRTY_MAX);
	d[*n].at = at;
	d[(*n)++].stamp = stamp;
}

static void h_new_cr3(struct h *h, bool flush_global)
{
	trap(h);
	mmu_new_cr3(&h->m, &h->ctx, true, flush_global);
	h->ndirty = h->ninvl = 0;
}

/* INVLPG: in unsync only gva's translation must be in sync after it (an
 * out-of-sync leaf table's other entries may stay stale, as in KVM); in
 * wp every table an unprotect let go is synced whole. */
static void h_invlpg(struct h *h, uint64_t gva)
{
	trap(h);
	mmu_invlpg(&h->m, &h->ctx, gva);
	if (h->m.sync == SYNC_UNSYNC)
		dirt_set(h->invl, &h->ninvl, gva >> 12, ++h->stamp);
	else
		h->ndirty = h->ninvl = 0;
	reload(h);
}

static void h_zap_all(struct h *h)
{
	trap(h);
	mmu_zap_all(&h->m);
	h->ndirty = h->ninvl = 0;
	reload(h);
}

/*
 * The guest CPU changes to g, as shadow_cpu_changed() follows it: a new
 * context, mmu_new_cr3 on a CR3 write, a path change or a CR4.PGE change
 * (a global flush for the last two), and a reload of the real CR3.
 */
static void cpu_set(struct h *h, struct gstate g, bool cr3_write)
{
	uint64_t cr0 = CR0_PE | CR0_ET | (g.wp ? CR0_WP : 0);
	uint64_t cr4 = (g.pse ? CR4_PSE : 0) | (g.pge ? CR4_PGE : 0);
	uint64_t efer = g.nxe ? EFER_NXE : 0;
	enum mmu_path old = h->ctx.path;
	uint64_t pdptes[4];
	bool path_changed;

	memcpy(pdptes, h->ctx.walk.pdptes, sizeof(pdptes));
	if (g.mode != MODE_NP)
		cr0 |= CR0_PG;
	if (g.mode == MODE_PAE || g.mode == MODE_P64)
		cr4 |= CR4_PAE;
	if (g.mode == MODE_P64)
		efer |= EFER_LME | EFER_LMA;
	mmu_ctx_init(&h->ctx, &h->mem, cr0, cr4, efer, 40);
	path_changed = h->ctx_valid && old != h->ctx.path;
	h->ctx.cr3 = g.cr3;
	h->ctx.user = g.user;
	if (g.mode != MODE_NP) {
		if (cr3_write || !h->ctx_valid || path_changed || h->g.mode != g.mode) {
			cr_assert_eq(walk_set_cr3(&h->ctx.walk, g.cr3), WALK_OK);
			if (g.mode == MODE_PAE)
				for (int i = 0; i < 4; i++)
					g.pdpte[i] = rd(h, (g.cr3 & 0xffffffe0ULL) + 8 * i, 8);
		} else {
			h->ctx.walk.cr3 = g.cr3;
			memcpy(h->ctx.walk.pdptes, pdptes, sizeof(pdptes));
			memcpy(g.pdpte, h->g.pdpte, sizeof(g.pdpte));
		}
	}
	if (h->ctx_valid) {
		bool pge_changed = h->g.pge != g.pge;

		trap(h);
		if (cr3_write || path_changed || pge_changed)
			h_new_cr3(h, path_changed || pge_changed);
	}
	h->ctx_valid = true;
	h->g = g;
	h->m.need_reload = true;
	h->m.root_changed = true;
	reload(h);
}

static struct gstate gs(int mode, uint64_t cr3, bool user, bool wp, bool nxe)
{
	struct gstate g = { .mode = mode, .cr3 = cr3, .user = user, .wp = wp, .nxe = nxe };

	return g;
}

/* ===================================================================== */
/* guest model: what the guest's tables allow (SDM vol. 3 ch. 4)         */
/* ===================================================================== */

/* A table where no RAM is reads as zero (QEMU's PC and KVM's walker):
 * its entry is not present, a #PF like any other. */
enum { MO_OK, MO_PF, MO_NONCANON };
static const char *const mo_name[] = { "ok", "#PF", "noncanonical" };

struct mw {
	int out;                 /* MO_* */
	uint32_t ec;             /* MO_PF: the error code */
	uint64_t gpa;            /* MO_OK: the translation */
	int level, top;          /* leaf level (or where it stopped), first level in memory */
	bool w, u, x;            /* AND over every level (x: no NX with NXE) */
	uint64_t leaf;           /* the leaf entry */
	uint64_t at[5], val[5];  /* entries read, by level */
	unsigned esize;
};

static bool nx_exists(const struct gstate *g)
{
	return g->nxe && (g->mode == MODE_PAE || g->mode == MODE_P64);
}

static struct mw m_fault(struct mw r, int level, bool p, bool rsvd, int type, bool user,
			 const struct gstate *g)
{
	r.out = MO_PF;
	r.level = level;
	r.ec = (p ? 1u : 0) | (type == AX_W ? 2u : 0) | (user ? 4u : 0) | (rsvd ? 8u : 0) |
	       (type == AX_X && nx_exists(g) ? 16u : 0);
	return r;
}

/* Reserved bits of a present entry (MAXPHYADDR 40). */
static bool m_rsvd(const struct gstate *g, int level, uint64_t e, bool page)
{
	if (g->mode == MODE_P32)
		return page && (e & (1ULL << 21));          /* PSE-36 with M=40: bit 21 */
	if (g->mode == MODE_PAE) {
		if (e & 0x7fffff0000000000ULL)               /* 62:40 */
			return true;
	} else if (e & 0x000fff0000000000ULL) {          /* 51:40 */
		return true;
	}
	if (!g->nxe && (e & E_NX))
		return true;
	if (g->mode == MODE_P64 && level == 4 && (e & E_PS))
		return true;
	if (page && level == 3 && (e & 0x3fffe000ULL))   /* 1 GiB page: 29:13 */
		return true;
	if (page && level == 2 && g->mode != MODE_P32 && (e & 0x1fe000ULL)) /* 2 MiB page: 20:13 */
		return true;
	return false;
}

static bool m_page_level(const struct gstate *g, int level)
{
	if (g->mode == MODE_P64)
		return level == 2 || level == 3;
	if (g->mode == MODE_PAE)
		return level == 2;
	return level == 2 && g->pse;
}

/* Translate gva for an access, looking only (no A/D). */
static struct mw model(struct h *h, const struct gstate *g, uint64_t gva, int type, bool user)
{
	struct mw r;
	unsigned ibits = g->mode == MODE_P32 ? 10 : 9;
	uint64_t table;
	int level;

	memset(&r, 0, sizeof(r));
	r.w = r.u = r.x = true;
	if (g->mode == MODE_NP) {
		r.out = MO_OK;
		r.gpa = gva & 0xffffffffULL;
		r.level = 1;
		return r;
	}
	r.esize = g->mode == MODE_P32 ? 4 : 8;
	if (g->mode == MODE_P64) {
		if ((gva >> 47) != 0 && (gva >> 47) != 0x1ffff) {
			r.out = MO_NONCANON;
			return r;
		}
		level = 4;
		table = g->cr3 & A40;
	} else {
		gva &= 0xffffffffULL;
		if (g->mode == MODE_P32) {
			level = 2;
			table = g->cr3 & 0xfffff000ULL;
		} else {
			uint64_t e = g->pdpte[(gva >> 30) & 3];

			r.at[3] = (g->cr3 & 0xffffffe0ULL) + 8 * ((gva >> 30) & 3);
			r.val[3] = e;
			r.top = 3;
			if (!(e & E_P))
				return m_fault(r, 3, false, false, type, user, g);
			level = 2;
			table = e & A40;
		}
	}
	if (!r.top)
		r.top = level;
	for (;;) {
		unsigned idx = (unsigned)(gva >> (12 + ibits * (level - 1))) & ((1u << ibits) - 1);
		uint64_t at = table + (uint64_t)idx * r.esize, e;
		bool page;

		r.at[level] = at;
		if (!gptr(h, at, r.esize))   /* no RAM: reads as zero, not present */
			return m_fault(r, level, false, false, type, user, g);
		e = r.val[level] = rd(h, at, r.esize);
		if (!(e & E_P))
			return m_fault(r, level, false, false, type, user, g);
		page = m_page_level(g, level) && (e & E_PS);
		if (m_rsvd(g, level, e, page))
			return m_fault(r, level, true, true, type, user, g);
		r.w = r.w && (e & E_W);
		r.u = r.u && (e & E_U);
		if (nx_exists(g) && (e & E_NX))
			r.x = false;
		if (level == 1 || page) {
			if (level == 1)
				r.gpa = (r.esize == 4 ? e & 0xfffff000ULL : e & A40) | (gva & 0xfff);
			else if (g->mode == MODE_P32)
				r.gpa = (e & 0xffc00000ULL) | (((e >> 13) & 0xff) << 32) | (gva & 0x3fffff);
			else if (level == 2)
				r.gpa = (e & 0x000000ffffe00000ULL) | (gva & 0x1fffff);
			else
				r.gpa = (e & 0x000000ffc0000000ULL) | (gva & 0x3fffffff);
			break;
		}
		table = r.esize == 4 ? e & 0xfffff000ULL : e & A40;
		level--;
	}
	r.level = level;
	r.leaf = r.val[level];
	/* SDM 4.6, no SMEP/SMAP/PKU. */
	if ((user && !r.u) || (type == AX_W && !r.w && (user || g->wp)) || (type == AX_X && !r.x))
		return m_fault(r, level, true, false, type, user, g);
	r.out = MO_OK;
	return r;
}

static bool m_write_ok(const struct gstate *g, const struct mw *r, bool user)
{
	return r->w || (!user && !g->wp);
}

/* ===================================================================== */
/* the real CPU: CPL 3, CR0.WP=1, EFER.NXE=1, walking the shadow tables  */
/* ===================================================================== */

enum { SW_OK, SW_NP, SW_RSVD, SW_MON, SW_BROKEN };

struct sw {
	int st;                  /* SW_* */
	uint64_t mpa;            /* SW_OK: the frame */
	bool w, u, x;            /* SW_OK: rights over all levels */
	int level;
	uint64_t e[5];
	uint64_t tab[5];         /* the MPA of the shadow table read at each level */
	const char *why;         /* SW_BROKEN */
};

static uint64_t *spage(struct h *h, uint64_t mpa)
{
	if (mpa < POOL_AT || (mpa & 0xfff) || mpa - POOL_AT >= (uint64_t)h->npool * PAGE)
		return NULL;
	return (uint64_t *)(h->pool + (mpa - POOL_AT));
}

static void swalk(struct h *h, uint64_t root, uint64_t gva, struct sw *s)
{
	uint64_t *t = spage(h, root);

	memset(s, 0, sizeof(*s));
	s->w = s->u = s->x = true;
	if (!t) {
		s->st = SW_BROKEN;
		s->why = "the root is not a pool page";
		return;
	}
	for (int level = 4; level >= 1; level--) {
		unsigned idx = (unsigned)(gva >> (12 + 9 * (level - 1))) & 511;
		uint64_t e = t[idx];

		s->e[level] = e;
		s->tab[level] = POOL_AT + (uint64_t)((uint8_t *)t - h->pool);
		s->level = level;
		if (level == 4 && idx == T_MON) {
			s->st = SW_MON;          /* the monitor, supervisor-only */
			return;
		}
		if (!(e & E_P)) {
			s->st = SW_NP;
			return;
		}
		if ((e & S_RSVD) || (level == 4 && (e & E_PS))) {
			s->st = SW_RSVD;
			return;
		}
		if (level == 3 && (e & E_PS)) {
			s->st = SW_BROKEN;
			s->why = "a 1 GiB page in the shadow tables";
			return;
		}
		if (level == 2 && (e & E_PS) && (e & 0x1fe000ULL)) {
			s->st = SW_RSVD;                /* bits 20:13 of a 2 MiB leaf */
			return;
		}
		s->w = s->w && (e & E_W);
		s->u = s->u && (e & E_U);
		s->x = s->x && !(e & E_NX);
		if (level == 1 || (level == 2 && (e & E_PS))) {
			/* a 2 MiB shadow leaf: the 4 KiB page of gva within it */
			s->mpa = level == 1 ? e & A52 : (e & A52 & ~0x1fffffULL) + (gva & 0x1ff000ULL);
			s->st = SW_OK;
			return;
		}
		t = spage(h, e & A52);
		if (!t) {
			s->st = SW_BROKEN;
			s->why = "a link to a page outside the pool";
			return;
		}
	}
}

static bool sw_allows(const struct sw *s, int type)
{
	return s->st == SW_OK && s->u && (type != AX_W || s->w) && (type != AX_X || s->x);
}

/* The shadow page a pool page is (ombra's own bookkeeping, read only to
 * know which guest table a shadow table stands for). */
static const struct sp *sp_at(struct h *h, uint64_t mpa)
{
	return &h->m.sps[(mpa - POOL_AT) / PAGE];
}

/* When the guest entry of size bytes at gpa was last written natively
 * (0: not since the last sync). */
static uint64_t dirty_stamp(const struct h *h, uint64_t at, unsigned size)
{
	uint64_t st = 0;

	for (unsigned i = 0; i < h->ndirty; i++)
		if (h->dirty[i].at >= at && h->dirty[i].at < at + size && h->dirty[i].stamp > st)
			st = h->dirty[i].stamp;
	return st;
}

/* When page gva >> 12 was last INVLPG'd since the last CR3 load (0: not). */
static uint64_t invl_stamp(const struct h *h, uint64_t gva)
{
	for (unsigned i = 0; i < h->ninvl; i++)
		if (h->invl[i].at == gva >> 12)
			return h->invl[i].stamp;
	return 0;
}

/* A store of size bytes at gpa to a table with an out-of-sync shadow page. */
static void dirty_add(struct h *h, uint64_t gpa, unsigned size)
{
	h->stamp++;
	for (uint64_t a = gpa & ~3ULL; a < gpa + size; a += 4)
		dirt_set(h->dirty, &h->ndirty, a, h->stamp);
}

/* The guest entry that entry i of the shadow table at mpa stands for
 * (*size bytes), or 0 for none (a direct page, ombra's own upper levels
 * for a 32-bit guest): the architecture's layout of the guest's table
 * at the frame and part of it that ombra's bookkeeping says. */
static uint64_t gpte_addr(struct h *h, uint64_t mpa, unsigned i, unsigned *size)
{
	const struct sp *sp;

	if (!spage(h, mpa))
		return 0;
	sp = sp_at(h, mpa);
	if (!sp->used || sp->role.direct)
		return 0;
	*size = 8;
	switch (sp->role.path) {
	case PATH_PAGING32:
		*size = 4;
		if (sp->role.level == 1)
			return (sp->gfn << 12) + (sp->role.quadrant * 512 + i) * 4;   /* 2 MiB of a 4 MiB table */
		if (sp->role.level == 2)
			return (sp->gfn << 12) + (sp->role.quadrant * 256 + i / 2) * 4; /* a 4 MiB PDE: two shadow ones */
		return 0;
	case PATH_PAGING32E:
		return sp->role.level > 2 ? 0 : (sp->gfn << 12) + i * 8;
	default:
		return (sp->gfn << 12) + i * 8;
	}
}

/* The latest native write to entry i of the shadow table at mpa, or to
 * one before it on the path (st). */
static uint64_t entry_stamp(struct h *h, uint64_t mpa, unsigned i, uint64_t st)
{
	unsigned size = 0;
	uint64_t at, d;

	if (!h->ndirty)
		return st;
	at = gpte_addr(h, mpa, i, &size);
	d = at ? dirty_stamp(h, at, size) : 0;
	return d > st ? d : st;
}

/* unsync: may a translation of gva whose path's latest native write was
 * at st be stale (not INVLPG'd since)? */
static bool stale_at(const struct h *h, uint64_t gva, uint64_t st)
{
	return st && st > invl_stamp(h, gva);
}

static bool tlbe_stale(const struct h *h, const struct tlbe *t)
{
	uint64_t st = 0;

	for (unsigned i = 0; i < t->nat; i++) {
		uint64_t d = dirty_stamp(h, t->at[i], t->size[i]);

		st = d > st ? d : st;
	}
	return stale_at(h, t->page << 12, st);
}

/* What the real CPU did with one try of an access. */
struct try {
	bool ok;                 /* made, through mpa */
	bool broken;             /* the shadow tables were not tables */
	const char *why;
	bool stale;              /* through a shadow table that may legally be stale */
	uint32_t ec;             /* !ok: the real #PF's error code */
	uint64_t mpa;
};

/* One try: the TLB, else a walk of the shadow tables from the loaded root
 * (cached if the access is allowed).  A #PF drops the TLB entry. */
static struct try cpu_try(struct h *h, uint64_t gva, int type)
{
	struct tlbe *t = &h->tlb[(gva >> 12) % TLB_N];
	uint32_t ec = PFERR_U | (type == AX_W ? PFERR_W : 0) | (type == AX_X ? PFERR_FETCH : 0);
	struct try r;
	struct sw s;

	memset(&r, 0, sizeof(r));
	if (t->valid && t->page == gva >> 12) {
		if ((type != AX_W || t->w) && (type != AX_X || t->x)) {
			r.ok = true;
			r.mpa = t->mpa | (gva & 0xfff);
			r.stale = tlbe_stale(h, t);
			return r;
		}
		t->valid = false;
		r.ec = ec | PFERR_P;
		return r;
	}
	swalk(h, h->loaded, gva, &s);
	if (s.st == SW_BROKEN) {
		r.broken = true;
		r.why = s.why;
		return r;
	}
	if (sw_allows(&s, type)) {
		r.ok = true;
		r.mpa = s.mpa | (gva & 0xfff);
		memset(t, 0, sizeof(*t));
		t->valid = true;
		t->page = gva >> 12;
		t->mpa = s.mpa;
		t->w = s.w;
		t->x = s.x;
		t->large = s.level == 2;
		for (int l = 4; l >= s.level; l--) {
			unsigned size = 0;
			uint64_t at = gpte_addr(h, s.tab[l], (unsigned)(gva >> (12 + 9 * (l - 1))) & 511, &size);

			if (at && t->nat < 4) {
				t->at[t->nat] = at;
				t->size[t->nat++] = size;
			}
		}
		r.stale = tlbe_stale(h, t);
		return r;
	}
	if (s.st == SW_OK || s.st == SW_MON)
		ec |= PFERR_P;
	if (s.st == SW_RSVD)
		ec |= PFERR_P | PFERR_RSVD;
	r.ec = ec;
	return r;
}

struct acc {
	unsigned calls;          /* mmu_page_fault calls */
	bool done;               /* the real CPU finally made the access */
	bool broken;             /* the shadow tables were not tables */
	bool stale;              /* made through a shadow table that may be stale (unsync) */
	const char *why;
	enum pf_outcome last;
	uint32_t gerr;
	uint32_t ec[8];          /* the real error codes given */
	enum pf_outcome outs[8];
	uint64_t gpa, mpa;
};

/* The guest makes one access: the real CPU tries, faults, ombra fixes, retry. */
static void cpu_access(struct h *h, uint64_t gva, int type, struct acc *a)
{
	memset(a, 0, sizeof(*a));
	a->last = (enum pf_outcome)-1;
	for (;;) {
		struct try t;

		reload(h);
		t = cpu_try(h, gva, type);
		if (t.broken) {
			a->broken = true;
			a->why = t.why;
			return;
		}
		if (t.ok) {
			a->done = true;
			a->stale = t.stale;
			a->mpa = t.mpa;
			return;
		}
		if (a->calls == 4)
			return;
		a->gerr = 0xdead;
		a->gpa = 0xdead;
		a->ec[a->calls] = t.ec;
		trap(h);
		a->last = mmu_page_fault(&h->m, &h->ctx, gva, t.ec, &a->gerr, &a->gpa);
		a->outs[a->calls++] = a->last;
		if (a->last != PF_FIXED && a->last != PF_SPURIOUS) {
			reload(h);
			return;
		}
	}
}

static const char *pf_name(enum pf_outcome o)
{
	switch (o) {
	case PF_FIXED: return "PF_FIXED";
	case PF_SPURIOUS: return "PF_SPURIOUS";
	case PF_GUEST: return "PF_GUEST";
	case PF_MMIO: return "PF_MMIO";
	case PF_BAD_TABLE: return "PF_BAD_TABLE";
	case PF_NONCANONICAL: return "PF_NONCANONICAL";
	case PF_EMULATE: return "PF_EMULATE";
	case PF_SCAN: return "PF_SCAN";
	case PF_CODE_WRITE: return "PF_CODE_WRITE";
	}
	return "none";
}

/* An entry with its bits by name; for shadow entries "gg" is ombra's
 * SPTE_GUEST_GLOBAL (bit 52) and "ln" SPTE_LINK (bit 53). */
static const char *ent_str(uint64_t v, char *buf)
{
	sprintf(buf, "%#llx[%s%s%s%s%s%s%s%s%s%s]", (unsigned long long)v, v & E_P ? "P" : "-",
		v & E_W ? "W" : "-", v & E_U ? "U" : "-", v & E_A ? "A" : "-", v & E_D ? "D" : "-",
		v & E_PS ? "S" : "-", v & E_G ? "G" : "-", v & E_NX ? "X" : "-",
		v & SPTE_GUEST_GLOBAL ? " gg" : "", v & SPTE_LINK ? " ln" : "");
	return buf;
}

/* The model's walk and the shadow's, for failure messages. */
static int describe(struct h *h, uint64_t gva, const struct mw *r, char *out, size_t n)
{
	struct sw s;
	char b[64];
	int k;

	k = snprintf(out, n, "  model: %s ec=%#x gpa=%#llx level=%d w=%d u=%d x=%d\n",
		     mo_name[r->out], r->ec, (unsigned long long)r->gpa, r->level, r->w, r->u, r->x);
	for (int l = 4; l >= 1; l--)
		if (r->at[l])
			k += snprintf(out + k, n - k, "    guest L%d at %#llx = %s\n", l,
				      (unsigned long long)r->at[l], ent_str(r->val[l], b));
	swalk(h, h->loaded, gva, &s);
	for (int l = 4; l >= s.level && l >= 1 && k < (int)n - 100; l--)
		k += snprintf(out + k, n - k, "    shadow L%d = %s\n", l, ent_str(s.e[l], b));
	return k;
}

/* ===================================================================== */
/* soundness of the whole shadow tree                                    */
/* ===================================================================== */

struct tcheck {
	struct h *h;
	const struct gstate *g;  /* the guest CPU the tree is for (its view: g->user) */
	bool user;
	char *err;
	size_t n;
	unsigned leaves, exempt;
};

static bool leaf_sound(struct tcheck *c, uint64_t gva, uint64_t spte, bool w, bool u, bool x)
{
	struct h *h = c->h;
	const struct gstate *g = c->g;
	uint64_t mpa = spte & A52;
	struct mw r;
	char b[64];

	c->leaves++;
	if (!u)
		return true;             /* CPL 3 cannot use it */
	if (g->mode != MODE_P64 && (gva >> 32)) {
		snprintf(c->err, c->n, "gva %#llx: mapped above 4 GiB in a 32-bit mode (%s)",
			 (unsigned long long)gva, ent_str(spte, b));
		return false;
	}
	r = model(h, g, gva, AX_R, c->user);
	if (r.out != MO_OK) {
		snprintf(c->err, c->n, "gva %#llx: the shadow maps it (%s) but the guest's %s view does not (%s, ec %#x)",
			 (unsigned long long)gva, ent_str(spte, b), c->user ? "user" : "kernel",
			 mo_name[r.out], r.ec);
		return false;
	}
	if (!in_ram(h, r.gpa) || mpa != (r.gpa & ~0xfffULL) + MPA_OFF) {
		snprintf(c->err, c->n, "gva %#llx: the shadow (%s) points at MPA %#llx, the guest at GPA %#llx (MPA %#llx)",
			 (unsigned long long)gva, ent_str(spte, b), (unsigned long long)mpa, (unsigned long long)r.gpa,
			 (unsigned long long)((r.gpa & ~0xfffULL) + MPA_OFF));
		return false;
	}
	if (g->mode == MODE_NP)
		return true;
	if (w && !m_write_ok(g, &r, c->user)) {
		snprintf(c->err, c->n, "gva %#llx: the shadow is writable (%s), the guest's %s view is not",
			 (unsigned long long)gva, ent_str(spte, b), c->user ? "user" : "kernel");
		return false;
	}
	if (w && !(r.leaf & E_D)) {
		snprintf(c->err, c->n, "gva %#llx: the shadow is writable (%s) but the guest leaf %#llx is clean",
			 (unsigned long long)gva, ent_str(spte, b), (unsigned long long)r.leaf);
		return false;
	}
	if (x && nx_exists(g) && !r.x) {
		snprintf(c->err, c->n, "gva %#llx: the shadow is executable (%s), the guest says NX",
			 (unsigned long long)gva, ent_str(spte, b));
		return false;
	}
	if (!(r.leaf & E_A)) {
		snprintf(c->err, c->n, "gva %#llx: the shadow maps it (%s) but the guest leaf %#llx has A clear",
			 (unsigned long long)gva, ent_str(spte, b), (unsigned long long)r.leaf);
		return false;
	}
	return true;
}

/*
 * A 2 MiB shadow leaf: the guest must map those 2 MiB with one large page
 * (a walk of any address in them then reads the same entries: one check
 * covers all 512 pages), all in RAM, and in wp/unsync no guest table the
 * shadow follows may lie inside a writable one (its writes would not trap).
 */
static bool leaf2m_sound(struct tcheck *c, uint64_t gva, uint64_t spte, bool w, bool u, bool x)
{
	struct h *h = c->h;
	struct mw r = model(h, c->g, gva, AX_R, c->user);
	uint64_t first = ((spte & A52) - MPA_OFF) >> 12;
	char b[64];

	if (u && c->g->mode != MODE_NP && r.out == MO_OK && r.level < 2) {
		snprintf(c->err, c->n, "gva %#llx: a 2 MiB shadow leaf (%s) where the guest maps 4 KiB pages",
			 (unsigned long long)gva, ent_str(spte, b));
		return false;
	}
	if (u && !in_ram(h, (first << 12) + 0x1fffff)) {
		snprintf(c->err, c->n, "gva %#llx: a 2 MiB shadow leaf (%s) reaches past RAM",
			 (unsigned long long)gva, ent_str(spte, b));
		return false;
	}
	if (w && h->m.sync != SYNC_VTLB)
		for (unsigned i = 0; i < h->m.nr_pages; i++) {
			const struct sp *sp = &h->m.sps[i];

			if (sp->used && !sp->retired && !sp->role.direct && !sp->unsync && sp->gfn >= first &&
			    sp->gfn < first + 512 && (sp->role.path == PATH_PAGING64 || sp->role.level <= 2)) {
				snprintf(c->err, c->n, "gva %#llx: a writable 2 MiB shadow leaf (%s) maps guest table %#llx, which the shadow follows (shadow page %u)",
					 (unsigned long long)gva, ent_str(spte, b), (unsigned long long)(sp->gfn << 12), i);
				return false;
			}
		}
	return leaf_sound(c, gva, (spte & ~0x1fffffULL & ~E_PS) | (spte & 0xfffULL & ~E_PS), w, u, x);
}

/* st: the latest native write (unsync) to a guest entry the path to this
 * table stands for.  A leaf reached through one written since the guest
 * last INVLPG'd its address (or its table's last sync) may legally be
 * stale: it is not checked against the guest's tables. */
static bool tree_sound(struct tcheck *c, const uint64_t *t, int level, uint64_t base, bool w, bool u,
		       bool x, uint64_t st0)
{
	char b[64];
	uint64_t mpa = POOL_AT + (uint64_t)((const uint8_t *)t - c->h->pool);

	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = t[i], gva, st;
		const uint64_t *child;
		bool stale;

		if (level == 4 && i == T_MON) {
			if (e != MON_E) {
				snprintf(c->err, c->n, "the monitor's root slot is %#llx, not its %#llx",
					 (unsigned long long)e, (unsigned long long)MON_E);
				return false;
			}
			continue;
		}
		if (!(e & E_P))
			continue;
		gva = base | ((uint64_t)i << (12 + 9 * (level - 1)));
		if (level == 4 && i >= 256)
			gva |= 0xffff000000000000ULL;
		st = entry_stamp(c->h, mpa, i, st0);
		stale = level == 2 ? st != 0 : stale_at(c->h, gva, st);   /* 2 MiB: any write on the path */
		if ((e & S_RSVD) || ((e & E_PS) && (level != 2 || (e & 0x1fe000ULL)))) {
			snprintf(c->err, c->n, "gva %#llx level %d: shadow entry %s has reserved or PS bits",
				 (unsigned long long)gva, level, ent_str(e, b));
			return false;
		}
		if (level == 2 && (e & E_PS)) {
			if (stale)
				c->exempt++;
			else if (!leaf2m_sound(c, gva, e, w && (e & E_W), u && (e & E_U), x && !(e & E_NX)))
				return false;
			continue;
		}
		if (level == 1) {
			if (stale)
				c->exempt++;
			else if (!leaf_sound(c, gva, e, w && (e & E_W), u && (e & E_U), x && !(e & E_NX)))
				return false;
			continue;
		}
		child = spage(c->h, e & A52);
		if (!child) {
			snprintf(c->err, c->n, "gva %#llx level %d: shadow entry %#llx links outside the pool",
				 (unsigned long long)gva, level, (unsigned long long)e);
			return false;
		}
		if (!tree_sound(c, child, level - 1, gva, w && (e & E_W), u && (e & E_U), x && !(e & E_NX), st))
			return false;
	}
	return true;
}

/* The whole tree under root, for the guest CPU g. */
static bool root_sound_g(struct h *h, const struct gstate *g, uint64_t root, char *err, size_t n,
			 unsigned *leaves)
{
	struct tcheck c = { h, g, g->user, err, n, 0, 0 };
	const uint64_t *t = spage(h, root);
	bool ok;

	if (!t) {
		snprintf(err, n, "root %#llx is not a pool page", (unsigned long long)root);
		return false;
	}
	ok = tree_sound(&c, t, 4, 0, true, true, true, 0);
	if (leaves)
		*leaves = c.leaves;
	return ok;
}

static bool root_sound(struct h *h, uint64_t root, bool user, char *err, size_t n, unsigned *leaves)
{
	struct gstate g = h->g;

	g.user = user;
	return root_sound_g(h, &g, root, err, n, leaves);
}

/*
 * The other view's cached root for the current guest CPU, or 0: the root in
 * the other view's cache (struct shadow_mmu's root_cache) with the key of
 * the loaded root but for the view.
 */
static uint64_t other_view_root(struct h *h)
{
	bool u = !h->ctx.user;
	const struct sp *cur = &h->m.sps[(h->loaded - POOL_AT) / PAGE];

	for (int i = 0; i < MMU_ROOT_CACHE; i++) {
		const struct sp *sp = h->m.root_cache[u][i];
		union sp_role want = cur->role;

		want.user_view = u;
		if (sp && sp->gfn == cur->gfn && sp->role.word == want.word)
			return sp->mpa;
	}
	return 0;
}

/* mmu_audit over the whole of the current roots. */
static unsigned audit_all(struct h *h, char *why, unsigned n)
{
	return mmu_audit(&h->m, &h->ctx, false, 0, why, n);
}

/*
 * The guest CPU a cached root stands for, as far as its key says: its
 * tables are at the CR3 it is keyed by.  A PAE root is keyed by CR3 only,
 * and its PDPTE registers are known only for the current CR3.
 */
static bool root_gstate(struct h *h, const struct sp *sp, struct gstate *g)
{
	*g = h->g;
	g->user = sp->role.user_view;
	g->wp = sp->role.cr0_wp;
	g->nxe = sp->role.efer_nx;
	switch (sp->role.path) {
	case PATH_NONPAGING:
		g->mode = MODE_NP;
		return true;
	case PATH_PAGING32:
		g->mode = MODE_P32;
		g->cr3 = sp->gfn << 12;
		g->pse = h->root_pse[(sp->mpa - POOL_AT) / PAGE];     /* not in every version of the role */
		return true;
	case PATH_PAGING64:
		g->mode = MODE_P64;
		g->cr3 = sp->gfn << 12;
		return true;
	default:
		return h->g.mode == MODE_PAE && (h->g.cr3 & 0xffffffe0ULL) == sp->gfn << 5;
	}
}

/* The real CPU's TLB: every entry as sound as a shadow leaf (it may be
 * used until ombra flushes it). */
static void tlb_check(struct h *h, const char *what)
{
	struct tcheck c = { h, &h->g, h->g.user, NULL, 0, 0, 0 };
	char err[1024];

	c.err = err;
	c.n = sizeof(err);
	for (unsigned i = 0; i < TLB_N; i++) {
		const struct tlbe *t = &h->tlb[i];
		uint64_t spte;

		if (!t->valid || tlbe_stale(h, t))
			continue;
		spte = t->mpa | E_P | E_U | (t->w ? E_W : 0) | (t->x ? 0 : E_NX);
		if (!leaf_sound(&c, t->page << 12, spte, t->w, true, t->x))
			fail(h, "%s: the real CPU's TLB holds a translation the guest does not allow, and ombra did not flush it: %s",
			     what, err);
	}
}

/*
 * After every step: what the real CPU can reach (the current root, the
 * other view's root of the same CR3, its TLB) is sound, and mmu_audit
 * agrees.  In wp and unsync the shadow follows the guest's writes, so every
 * cached root must be exact for the tables at its own CR3 (unsync: but for
 * tables written natively since the last sync).
 */
static void check_state(struct h *h, const char *what)
{
	char err[1024] = "", why[512] = "";
	uint64_t other;
	unsigned bad;

	reload(h);
	if (!root_sound(h, h->loaded, h->g.user, err, sizeof(err), NULL))
		fail(h, "%s: unsound shadow (current root, %s view): %s", what,
		     h->g.user ? "user" : "kernel", err);
	other = other_view_root(h);
	if (other && !root_sound(h, other, !h->g.user, err, sizeof(err), NULL))
		fail(h, "%s: unsound shadow (cached root %#llx of the %s view): %s", what,
		     (unsigned long long)other, h->g.user ? "kernel" : "user", err);
	if (h->m.sync != SYNC_VTLB) {
		for (int v = 0; v < 2; v++)
			for (int i = 0; i < MMU_ROOT_CACHE; i++) {
				const struct sp *sp = h->m.root_cache[v][i];
				struct gstate g;

				if (!sp || sp->mpa == h->loaded || sp->mpa == other || !root_gstate(h, sp, &g))
					continue;
				if (!root_sound_g(h, &g, sp->mpa, err, sizeof(err), NULL))
					fail(h, "%s: unsound shadow in cached root %#llx (%s, cr3 %#llx, %s view, WP=%d NXE=%d), which wp/unsync keep across CR3 switches: %s",
					     what, (unsigned long long)sp->mpa, mode_name(g.mode),
					     (unsigned long long)g.cr3, g.user ? "user" : "kernel", g.wp, g.nxe, err);
			}
	}
	tlb_check(h, what);
	if (h->ndirty)
		return;                 /* unsync, before the sync: mmu_audit sees the stale entries too */
	bad = audit_all(h, why, sizeof(why));
	if (bad)
		fail(h, "%s: the shadow is sound by the test's check but mmu_audit reports %u bad entries: %s",
		     what, bad, why);
}

/* ===================================================================== */
/* one access, checked against the model                                 */
/* ===================================================================== */

/* Guest entries that an access may change: the caller's list (for A/D checks). */
struct watch {
	uint64_t at[512];
	unsigned size[512];
	uint64_t before[512];
	unsigned n;
};

static void watch_add(struct watch *wt, uint64_t at, unsigned size)
{
	for (unsigned i = 0; i < wt->n; i++)
		if (wt->at[i] == at)
			return;
	cr_assert_lt(wt->n, 512u);
	wt->at[wt->n] = at;
	wt->size[wt->n++] = size;
}

/*
 * The guest accesses gva: run it, compare with the model.  On a mismatch
 * fail with both sides.  Returns the access record.
 */
static struct acc check_access(struct h *h, uint64_t gva, int type, struct watch *wt, const char *what)
{
	struct mw r = model(h, &h->g, gva, type, h->g.user);
	static struct watch local;
	struct acc a;
	char d[4096], err[512] = "";
	uint64_t expect_mpa = (r.gpa & ~0xfffULL) + MPA_OFF + (gva & 0xfff);

	local.n = 0;
	if (wt) {
		memcpy(local.at, wt->at, wt->n * sizeof(wt->at[0]));
		memcpy(local.size, wt->size, wt->n * sizeof(wt->size[0]));
		local.n = wt->n;
	}
	wt = &local;
	for (int l = 4; l >= 1; l--)
		if (r.at[l] && gptr(h, r.at[l], r.esize) && !(h->g.mode == MODE_PAE && l == 3))
			watch_add(wt, r.at[l], r.esize);
	for (unsigned i = 0; i < wt->n; i++)
		wt->before[i] = rd(h, wt->at[i], wt->size[i]);
	note(h, "%s: %s %s gva %#llx (model: %s ec %#x gpa %#llx)", what, h->g.user ? "user" : "kernel",
	     ax_name[type], (unsigned long long)gva, mo_name[r.out], r.ec, (unsigned long long)r.gpa);

	cpu_access(h, gva, type, &a);

	if (a.done && a.stale && (r.out != MO_OK || a.mpa != expect_mpa)) {
		/* unsync: through a table written natively since the last
		 * sync, the old translation is still legal (like a TLB entry). */
		note(h, "%s: made through a stale (unsync) shadow table, legal until the next sync", what);
		h->stale_ok++;
		return a;
	}
	if (a.broken)
		snprintf(err, sizeof(err), "the real CPU met broken shadow tables: %s", a.why);
	else if (r.out == MO_PF) {
		if (a.done)
			snprintf(err, sizeof(err), "the guest's tables deny it (ec %#x) but the shadow allowed it after %u calls",
				 r.ec, a.calls);
		else if (a.last != PF_GUEST)
			snprintf(err, sizeof(err), "expected PF_GUEST ec %#x, got %s after %u calls", r.ec,
				 pf_name(a.last), a.calls);
		else if (a.gerr != r.ec)
			snprintf(err, sizeof(err), "PF_GUEST with error code %#x, the model says %#x", a.gerr, r.ec);
		else if (a.calls != 1)
			snprintf(err, sizeof(err), "PF_GUEST after %u calls, expected 1", a.calls);
	} else if (r.out == MO_OK && in_ram(h, r.gpa)) {
		if (!a.done && a.last == PF_GUEST)
			snprintf(err, sizeof(err), "an access the guest allows was reported as a guest fault (ec %#x) after %u calls",
				 a.gerr, a.calls);
		else if (!a.done)
			snprintf(err, sizeof(err), "the access never succeeded: last outcome %s after %u calls",
				 pf_name(a.last), a.calls);
		else if (a.mpa != expect_mpa)
			snprintf(err, sizeof(err), "the shadow maps it to MPA %#llx, expected %#llx",
				 (unsigned long long)a.mpa, (unsigned long long)expect_mpa);
		else if (a.calls > 2)
			snprintf(err, sizeof(err), "took %u mmu_page_fault calls (outcomes %s, %s, %s)", a.calls,
				 pf_name(a.outs[0]), pf_name(a.outs[1]), pf_name(a.outs[2]));
	} else if (r.out == MO_OK) {
		if (a.done)
			snprintf(err, sizeof(err), "GPA %#llx has no RAM but the shadow mapped it to %#llx",
				 (unsigned long long)r.gpa, (unsigned long long)a.mpa);
		else if (a.last != PF_MMIO || a.calls != 1 || a.gpa != r.gpa)
			snprintf(err, sizeof(err), "expected PF_MMIO gpa %#llx in one call, got %s gpa %#llx after %u calls",
				 (unsigned long long)r.gpa, pf_name(a.last), (unsigned long long)a.gpa, a.calls);
	} else {
		if (a.done)
			snprintf(err, sizeof(err), "a noncanonical address was mapped");
	}

	/* A/D: a walk by the MMU (any call) on an allowed access sets A on the
	 * path and D in the leaf for a write; nothing else changes. */
	if (!err[0]) {
		for (unsigned i = 0; i < wt->n; i++) {
			uint64_t want = wt->before[i], now = rd(h, wt->at[i], wt->size[i]);

			if (r.out == MO_OK && a.calls > 0 && h->g.mode != MODE_NP)
				for (int l = r.top; l >= r.level; l--)
					if (r.at[l] == wt->at[i] && !(h->g.mode == MODE_PAE && l == 3))
						want |= E_A | (l == r.level && type == AX_W ? E_D : 0);
			if (now != want) {
				char b1[64], b2[64];

				snprintf(err, sizeof(err), "guest entry at %#llx is %s after the access, expected %s",
					 (unsigned long long)wt->at[i], ent_str(now, b1), ent_str(want, b2));
				break;
			}
		}
	}
	if (err[0]) {
		int k = snprintf(d, sizeof(d), "  real error codes given:");

		for (unsigned i = 0; i < a.calls && i < 8; i++)
			k += snprintf(d + k, sizeof(d) - k, " %#x->%s", a.ec[i], pf_name(a.outs[i]));
		k += snprintf(d + k, sizeof(d) - k, "\n");
		describe(h, gva, &r, d + k, sizeof(d) - k);
		fail(h, "%s: %s %s at gva %#llx: %s\n%s", what, h->g.user ? "user" : "kernel", ax_name[type],
		     (unsigned long long)gva, err, d);
	}
	return a;
}

/* ===================================================================== */
/* hand-built 4-level tables                                             */
/* ===================================================================== */

static uint64_t new_table(struct h *h)
{
	uint64_t t = h->next_tbl;

	h->next_tbl += PAGE;
	cr_assert_leq(h->next_tbl, TBL_BASE + TBL_FRAMES * PAGE, "out of table frames");
	memset(gptr(h, t, PAGE), 0, PAGE);
	return t;
}

/* Where the entry for gva at level is in the 4-level tables at cr3; makes
 * missing tables above it with entry flags up. */
static uint64_t ent64(struct h *h, uint64_t cr3, uint64_t gva, int level, uint64_t up)
{
	uint64_t table = cr3 & A40;

	for (int l = 4; l > level; l--) {
		uint64_t at = table + ((gva >> (12 + 9 * (l - 1))) & 511) * 8, e = rd(h, at, 8);

		if (!(e & E_P)) {
			e = new_table(h) | up;
			wr(h, at, e, 8);
		}
		table = e & A40;
	}
	return table + ((gva >> (12 + 9 * (level - 1))) & 511) * 8;
}

static void map64(struct h *h, uint64_t cr3, uint64_t gva, int level, uint64_t val, uint64_t up)
{
	wr(h, ent64(h, cr3, gva, level, up), val, 8);
}

/* paging32: map a 32-bit PDE/PTE. */
static void map32(struct h *h, uint64_t cr3, uint32_t gva, uint32_t pte, uint32_t up)
{
	uint64_t pde_at = (cr3 & 0xfffff000ULL) + (gva >> 22) * 4;
	uint64_t pde = rd(h, pde_at, 4);

	if (!(pde & E_P)) {
		pde = new_table(h) | up;
		wr(h, pde_at, pde, 4);
	}
	wr(h, (pde & 0xfffff000ULL) + ((gva >> 12) & 1023) * 4, pte, 4);
}

/* The shadow leaf the real CPU would use for gva (0 if none), and a pointer to it. */
static uint64_t sleaf(struct h *h, uint64_t root, uint64_t gva, uint64_t **where)
{
	uint64_t *t = spage(h, root);

	for (int level = 4; t && level >= 1; level--) {
		unsigned idx = (unsigned)(gva >> (12 + 9 * (level - 1))) & 511;

		if (!(t[idx] & E_P) || (level == 4 && idx == T_MON))
			return 0;
		if (level == 1 || (level == 2 && (t[idx] & E_PS))) {
			if (where)
				*where = &t[idx];
			return t[idx];
		}
		t = spage(h, t[idx] & A52);
	}
	return 0;
}

#define UP (E_P | E_W | E_U | E_A)         /* a plain upper entry */

/* ===================================================================== */
/* the guest's stores to its own page tables                             */
/* ===================================================================== */

/*
 * The guest reaches its page tables through a mapping of the table area
 * (the window), kernel-only: frame TBL_BASE + i at WIN + i pages.  With
 * paging off it stores to them by physical address.
 */
#define WIN64      0xffff960000000000ULL   /* paging64: PML4 slot 300 */
#define WIN_PAE    0xc0000000ULL           /* paging32e: PDPTE 3 */
#define WIN32      0xe1000000ULL           /* paging32: PDE 900 */
#define WIN_FRAMES 64
#define WIN_UP     (E_P | E_W | E_A)        /* kernel-only, writable */

static uint64_t win_gva(const struct h *h, uint64_t gpa)
{
	uint64_t off = gpa - TBL_BASE;

	switch (h->g.mode) {
	case MODE_NP:  return gpa;
	case MODE_P32: return WIN32 + off;
	case MODE_PAE: return WIN_PAE + off;
	default:       return WIN64 + off;
	}
}

/* Hand-built 4-level tables: the window in the address space at cr3. */
static void map_window64(struct h *h, uint64_t cr3)
{
	for (unsigned i = 0; i < WIN_FRAMES; i++)
		map64(h, cr3, WIN64 + i * PAGE, 1, (TBL_BASE + i * PAGE) | WIN_UP, WIN_UP);
}

/*
 * The real CPU stored to guest table frame gpa without a fault.  In wp and
 * unsync that is only right if no shadow page follows the frame's writes
 * (ombra's own bookkeeping says which would: not direct, not out of sync,
 * a paging64 table or a 32-bit guest's level 1-2).  A shadow page out of
 * sync (unsync's leaf tables, or what mmu_unprotect_gfn let go) may now be
 * stale until the next mmu_new_cr3 / mmu_invlpg.
 */
static void native_store_check(struct h *h, uint64_t gpa, unsigned size, const char *what)
{
	uint64_t gfn = gpa >> 12;

	for (unsigned i = 0; i < h->m.nr_pages; i++) {
		const struct sp *sp = &h->m.sps[i];

		if (!sp->used || sp->retired || sp->gfn != gfn || sp->role.direct)
			continue;
		if (sp->role.path == PATH_PAGING32E && sp->role.level > 2)
			continue;                       /* keyed by CR3 / 32, not a frame */
		if (sp->role.path == PATH_PAGING32 && sp->role.level > 2)
			continue;                       /* ombra's own levels above the guest's PD */
		if (h->m.sync == SYNC_VTLB)
			continue;
		if (sp->unsync) {
			dirty_add(h, gpa, size);
			continue;
		}
		fail(h, "%s: the guest stored to its table at %#llx natively (no fault), but shadow page %u (level %u%s) shadows it and is not out of sync: the shadow no longer follows the guest",
		     what, (unsigned long long)gpa, i, sp->role.level, sp->root_count ? ", a root" : "");
	}
}

enum { ST_NATIVE, ST_EMULATED };

/* Which shadow pages are out of sync (for unsync_fault_check). */
static void unsync_snapshot(struct h *h, bool *was)
{
	for (unsigned i = 0; i < h->m.nr_pages; i++)
		was[i] = h->m.sps[i].used && h->m.sps[i].unsync;
}

/* A write fault that came back PF_FIXED let tables go out of sync: only
 * unsync does that, and only for leaf tables that are not roots. */
static void unsync_fault_check(struct h *h, const bool *was, const char *what)
{
	for (unsigned i = 0; i < h->m.nr_pages; i++) {
		const struct sp *sp = &h->m.sps[i];

		bool unprotected = false;

		if (!sp->used || !sp->unsync || was[i])
			continue;
		/* mmu_unprotect_gfn lets a table go (roots out of sync, tables
		 * made again before the next flush start out of sync): legal. */
		for (unsigned k = 0; k < h->m.nr_unprot; k++)
			unprotected |= h->m.unprot[k] == sp->gfn;
		if (unprotected)
			continue;
		if (h->m.sync != SYNC_UNSYNC || sp->role.level != 1 || sp->root_count || sp->role.direct)
			fail(h, "%s: a write fault let shadow page %u (gfn %#llx level %u, %u roots) go out of sync; only unsync does that, to leaf tables",
			     what, i, (unsigned long long)sp->gfn, sp->role.level, sp->root_count);
	}
}

/*
 * The guest kernel stores size bytes of val to its table entry at gpa
 * through gva (guest_store: the window), as the real CPU does it: natively when the shadow (or
 * the TLB) allows the write, else a #PF to mmu_page_fault.  On PF_EMULATE
 * the test does what shadow.c does: emulate_pte_write (the guest's
 * translation of the address for a write, setting its A/D bits, the bytes
 * into guest memory, mmu_pte_write), or, with unprotect, what it does when
 * the instruction cannot be emulated: mmu_unprotect_gfn, and the instruction
 * runs again (natively, this time).
 */
static int guest_store_at(struct h *h, uint64_t gva, uint64_t gpa, uint64_t val, unsigned size, bool unprotect,
			  const char *what)
{
	static bool was[4096];
	unsigned calls = 0;
	bool unprotected = false;

	note(h, "%s: store %#llx (%u bytes) to the guest table entry at %#llx (gva %#llx)%s", what,
	     (unsigned long long)val, size, (unsigned long long)gpa, (unsigned long long)gva,
	     unprotect ? ", not emulable" : "");
	for (;;) {
		uint32_t gerr = 0;
		uint64_t fgpa = 0;
		enum pf_outcome o;
		struct try t;

		reload(h);
		t = cpu_try(h, gva, AX_W);
		if (t.broken)
			fail(h, "%s: store to %#llx: the real CPU met broken shadow tables: %s", what,
			     (unsigned long long)gva, t.why);
		if (t.ok) {
			if (t.mpa != gpa + MPA_OFF)
				fail(h, "%s: the store to gva %#llx went to MPA %#llx, not to the guest table at %#llx",
				     what, (unsigned long long)gva, (unsigned long long)t.mpa,
				     (unsigned long long)(gpa + MPA_OFF));
			native_store_check(h, gpa, size, what);
			wr(h, gpa, val, size);
			h->st_native++;
			return ST_NATIVE;
		}
		if (calls == 6)
			fail(h, "%s: the store to gva %#llx never completed (last error code %#x)", what,
			     (unsigned long long)gva, t.ec);
		trap(h);
		unsync_snapshot(h, was);
		o = mmu_page_fault(&h->m, &h->ctx, gva, t.ec, &gerr, &fgpa);
		calls++;
		if (o == PF_FIXED || o == PF_SPURIOUS) {
			unsync_fault_check(h, was, what);
			continue;
		}
		if (o != PF_EMULATE)
			fail(h, "%s: a store to the guest's page table at %#llx (gva %#llx, ec %#x) came to %s (guest error %#x)",
			     what, (unsigned long long)gpa, (unsigned long long)gva, t.ec, pf_name(o), gerr);
		if (h->m.sync == SYNC_VTLB)
			fail(h, "%s: PF_EMULATE in the vtlb strategy (gpa %#llx)", what, (unsigned long long)fgpa);
		if (fgpa != gpa)
			fail(h, "%s: PF_EMULATE with gpa %#llx for a store to %#llx", what, (unsigned long long)fgpa,
			     (unsigned long long)gpa);
		if (unprotect && !unprotected) {
			unprotected = true;
			h->st_unprotected++;
			note(h, "%s: PF_EMULATE, cannot emulate: mmu_unprotect_gfn(%#llx), the store runs again", what,
			     (unsigned long long)(gpa >> 12));
			mmu_unprotect_gfn(&h->m, gpa >> 12);
			continue;
		}
		if (unprotected) {
			/* shadow.c would loop: emulate_pte_write -> mmu_unprotect_gfn
			 * -> TRAP_RESUME -> the same fault, forever. */
			h->st_refault++;
			fail(h, "%s: after mmu_unprotect_gfn(%#llx) the store to gva %#llx faulted PF_EMULATE again: a store that cannot be emulated would loop forever (the store's own translation walks through the table it writes: the fill that retries it shadows the table again)",
			     what, (unsigned long long)(gpa >> 12), (unsigned long long)gva);
		}
		{
			uint64_t g2 = 0;
			uint32_t err = 0;

			o = mmu_gva_to_gpa(&h->m, &h->ctx, gva, PFERR_W | (h->ctx.user ? PFERR_U : 0), &g2, &err);
			if (o != PF_FIXED || g2 != gpa)
				fail(h, "%s: emulating the store: mmu_gva_to_gpa(%#llx) gave %s gpa %#llx", what,
				     (unsigned long long)gva, pf_name(o), (unsigned long long)g2);
		}
		wr(h, gpa, val, size);
		mmu_pte_write(&h->m, gpa, size);
		h->st_emulated++;
		note(h, "%s: PF_EMULATE: emulated, mmu_pte_write(%#llx, %u)", what, (unsigned long long)gpa, size);
		return ST_EMULATED;
	}
}

static int guest_store(struct h *h, uint64_t gpa, uint64_t val, unsigned size, bool unprotect, const char *what)
{
	return guest_store_at(h, win_gva(h, gpa), gpa, val, size, unprotect, what);
}

/* ===================================================================== */
/* 1. faults: hand-built cases and the permission matrix                 */
/* ===================================================================== */

#define G1   0x00007f1234567000ULL
#define F1   0x345000ULL

Test(mmu_fault, read_fill_then_write_sets_dirty)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), pte, *sp;
	struct acc a;

	map64(h, cr3, G1, 1, F1 | E_P | E_W | E_U, E_P | E_W | E_U);   /* no A, no D anywhere */
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);

	a = check_access(h, G1 + 0x10, AX_R, NULL, "read");
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.last, PF_FIXED);
	for (int l = 4; l >= 1; l--)
		cr_assert(rd(h, ent64(h, cr3, G1, l, 0), 8) & E_A, "A not set at level %d", l);
	pte = rd(h, ent64(h, cr3, G1, 1, 0), 8);
	cr_assert_not(pte & E_D, "a read set D");
	cr_assert_eq(sleaf(h, h->loaded, G1, &sp) & (A52 | E_P), F1 + MPA_OFF + E_P);
	cr_assert_not(*sp & E_W, "a clean page must be mapped read-only, leaf %#llx", (unsigned long long)*sp);
	check_state(h, "after the read");

	a = check_access(h, G1 + 0x18, AX_W, NULL, "write");
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.ec[0], PFERR_P | PFERR_W | PFERR_U, "the real CPU's code for a write to a read-only leaf");
	cr_assert_eq(a.last, PF_FIXED);
	cr_assert(rd(h, ent64(h, cr3, G1, 1, 0), 8) & E_D, "the write did not set D");
	cr_assert(sleaf(h, h->loaded, G1, NULL) & E_W, "the leaf is not writable after the write");
	cr_assert_eq(h->m.stats.ad_faults, 1);
	check_state(h, "after the write");

	a = check_access(h, G1 + 0x20, AX_W, NULL, "second write");
	cr_assert_eq(a.calls, 0, "a second write faulted");

	/* A fault the shadow already allows (a stale real TLB entry): retry
	 * after an INVLPG of that address, nothing else. */
	{
		uint32_t gerr = 0;
		uint64_t gpa = 0, before = sleaf(h, h->loaded, G1, NULL);

		cr_assert_eq(mmu_page_fault(&h->m, &h->ctx, G1 + 0x28, PFERR_P | PFERR_W | PFERR_U, &gerr, &gpa),
			     PF_SPURIOUS);
		cr_assert(h->m.need_invlpg);
		cr_assert_eq(h->m.flush_gva, G1 + 0x28);
		cr_assert_eq(sleaf(h, h->loaded, G1, NULL), before);
		cr_assert_eq(h->m.stats.pf_spurious, 1);
		reload(h);
	}
	check_state(h, "end");
	h_free(h);
}

Test(mmu_fault, dirty_page_is_writable_after_a_read)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);

	map64(h, cr3, G1, 1, F1 | E_P | E_W | E_U | E_A | E_D, UP);
	cpu_set(h, gs(MODE_P64, cr3, true, true, true), false);
	check_access(h, G1, AX_R, NULL, "read");
	cr_assert(sleaf(h, h->loaded, G1, NULL) & E_W);
	cr_assert_eq(check_access(h, G1, AX_W, NULL, "write").calls, 0);
	check_state(h, "end");
	h_free(h);
}

Test(mmu_fault, guest_faults_are_delivered_with_the_guest_code)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);
	struct acc a;

	map64(h, cr3, G1, 1, F1 | E_P | E_A | E_NX, UP);                 /* supervisor, read-only, NX */
	map64(h, cr3, G1 + 0x200000, 1, 0, UP);                          /* not present */
	cpu_set(h, gs(MODE_P64, cr3, true, true, true), false);
	a = check_access(h, G1, AX_R, NULL, "user read of a kernel page");
	cr_assert_eq(a.gerr, PFERR_P | PFERR_U);
	a = check_access(h, G1 + 0x200000, AX_W, NULL, "user write, not present");
	cr_assert_eq(a.gerr, PFERR_W | PFERR_U);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	a = check_access(h, G1, AX_W, NULL, "kernel write, read-only page, CR0.WP=1");
	cr_assert_eq(a.gerr, PFERR_P | PFERR_W);
	a = check_access(h, G1, AX_X, NULL, "kernel fetch, NX");
	cr_assert_eq(a.gerr, PFERR_P | PFERR_FETCH);
	cr_assert_eq(h->m.stats.pf_guest, 4);
	check_state(h, "end");
	h_free(h);
}

/* Every combination of leaf bits (P W U NX D) and of the entry above it (W U
 * NX), for a 4 KiB PTE and for a 2 MiB PDE, x read/write/fetch x kernel/user
 * x CR0.WP x EFER.NXE x (nothing cached, or the same view read first). */
Test(mmu_fault, matrix)
{
	const uint64_t gva = 0x0000008040201000ULL | 0x123;   /* index 1 at every level */
	struct h *h = h_new(64);
	uint64_t t4 = new_table(h), t3 = new_table(h), t2 = new_table(h), t1 = new_table(h);
	unsigned cases = 0, guest = 0;

	for (int large = 0; large < 2; large++)
		for (unsigned up = 0; up < 8; up++)
			for (unsigned lf = 0; lf < 32; lf++)
				for (unsigned ctl = 0; ctl < 4; ctl++)
					for (unsigned user = 0; user < 2; user++)
						for (unsigned prior = 0; prior < 2; prior++)
							for (int type = AX_R; type <= AX_X; type++) {
		uint64_t upb = E_P | (up & 1 ? E_W : 0) | (up & 2 ? E_U : 0) | (up & 4 ? E_NX : 0);
		uint64_t lfb = (lf & 1 ? E_P : 0) | (lf & 2 ? E_W : 0) | (lf & 4 ? E_U : 0) |
			       (lf & 8 ? E_NX : 0) | (lf & 16 ? E_D : 0);
		struct gstate g = gs(MODE_P64, t4, user, ctl & 1, ctl & 2);
		char what[160];
		struct acc a;

		snprintf(what, sizeof(what), "matrix %s upper[%s%s%s] leaf[%s%s%s%s%s] WP=%d NXE=%d prior=%u",
			 large ? "2M" : "4K", up & 1 ? "W" : "-", up & 2 ? "U" : "-", up & 4 ? "X" : "-",
			 lf & 1 ? "P" : "-", lf & 2 ? "W" : "-", lf & 4 ? "U" : "-", lf & 8 ? "X" : "-",
			 lf & 16 ? "D" : "-", ctl & 1, !!(ctl & 2), prior);
		wr(h, t4 + 8, t3 | E_P | E_W | E_U, 8);
		if (large) {
			wr(h, t3 + 8, t2 | upb, 8);
			wr(h, t2 + 8, 0x800000 | E_PS | lfb, 8);
		} else {
			wr(h, t3 + 8, t2 | E_P | E_W | E_U, 8);
			wr(h, t2 + 8, t1 | upb, 8);
			wr(h, t1 + 8, F1 | lfb, 8);
		}
		mmu_zap_all(&h->m);
		cpu_set(h, g, false);
		if (prior)
			check_access(h, gva, AX_R, NULL, what);
		a = check_access(h, gva, type, NULL, what);
		guest += a.last == PF_GUEST;
		check_state(h, what);
		cases++;
	}
	cr_assert_eq(cases, 2 * 8 * 32 * 4 * 2 * 2 * 3);
	cr_assert_gt(guest, 1000u);
	h_free(h);
}

Test(mmu_nonpaging, identity_map_and_mmio)
{
	struct h *h = h_new(64);
	static const uint64_t gvas[] = { 0, 0x1000, 0x4fff123, 0x2345678, RAM_SIZE - 8 };
	struct acc a;

	for (int user = 0; user < 2; user++) {
		cpu_set(h, gs(MODE_NP, 0, user, user, false), false);
		for (unsigned i = 0; i < sizeof(gvas) / sizeof(gvas[0]); i++)
			for (int type = AX_R; type <= AX_X; type++) {
				a = check_access(h, gvas[i], type, NULL, "nonpaging");
				cr_assert_eq(a.mpa, gvas[i] + MPA_OFF, "%#llx %#llx done=%d calls=%u", (unsigned long long)a.mpa, (unsigned long long)gvas[i], a.done, a.calls);
				check_state(h, "nonpaging");
			}
		a = check_access(h, 0xfee00030, AX_W, NULL, "nonpaging MMIO");
		cr_assert_eq(a.last, PF_MMIO);
		cr_assert_eq(a.gpa, 0xfee00030);
	}
	cr_assert_eq(h->m.stats.pf_guest, 0);
	cr_assert_gt(h->m.stats.by_path_fixed[PATH_NONPAGING], 0);
	h_free(h);
}

Test(mmu_fault, table_outside_ram_is_not_present)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);
	struct acc a;

	map64(h, cr3, G1, 2, BAD_GPA | E_P | E_W | E_U, UP);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	a = check_access(h, G1, AX_R, NULL, "PDE points outside RAM");
	cr_assert_eq(a.last, PF_GUEST);
	cr_assert_eq(a.gerr, 0, "a read of a table with no RAM behind it: not present, error 0, got %#x", a.gerr);
	a = check_access(h, G1, AX_W, NULL, "PDE points outside RAM, a write");
	cr_assert_eq(a.gerr, 2);
	check_state(h, "end");
	h_free(h);
}

/* ===================================================================== */
/* 2. mmu_audit                                                          */
/* ===================================================================== */

Test(mmu_audit, agrees_and_catches_corruption)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), *clean, *nx, *dirty, save;
	char why[256];

	map64(h, cr3, G1, 1, F1 | E_P | E_W | E_U | E_A, UP);                       /* clean */
	map64(h, cr3, G1 + 0x1000, 1, (F1 + 0x1000) | E_P | E_W | E_U | E_A | E_D | E_NX, UP);
	map64(h, cr3, G1 + 0x2000, 1, (F1 + 0x2000) | E_P | E_U | E_A | E_D, UP);    /* read-only */
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_access(h, G1, AX_R, NULL, "clean");
	check_access(h, G1 + 0x1000, AX_R, NULL, "nx");
	check_access(h, G1 + 0x2000, AX_R, NULL, "read-only");
	check_state(h, "filled");
	cr_assert(sleaf(h, h->loaded, G1, &clean));
	cr_assert(sleaf(h, h->loaded, G1 + 0x1000, &nx));
	cr_assert(sleaf(h, h->loaded, G1 + 0x2000, &dirty));

	save = *clean;
	*clean |= E_W;
	why[0] = 0;
	cr_assert_geq(audit_all(h, why, sizeof(why)), 1u, "W on a clean page not caught");
	cr_assert_neq(why[0], 0);
	*clean = save;
	cr_assert_eq(audit_all(h, why, sizeof(why)), 0u);

	save = *nx;
	*nx &= ~E_NX;
	cr_assert_geq(audit_all(h, why, sizeof(why)), 1u, "X on an NX page not caught");
	*nx = save;

	save = *dirty;
	*dirty |= E_W;
	cr_assert_geq(audit_all(h, why, sizeof(why)), 1u, "W on a read-only page not caught");
	*dirty = save;

	save = *clean;
	*clean += PAGE;
	cr_assert_geq(audit_all(h, why, sizeof(why)), 1u, "a wrong frame not caught");
	*clean = save;

	/* The guest unmaps G1 without a flush: audit reports the stale entry. */
	wr(h, ent64(h, cr3, G1, 1, 0), 0, 8);
	cr_assert_geq(audit_all(h, why, sizeof(why)), 1u, "a mapping the guest removed not caught");
	mmu_invlpg(&h->m, &h->ctx, G1);
	cr_assert_eq(audit_all(h, why, sizeof(why)), 0u, "%s", why);
	check_state(h, "end");
	h_free(h);
}

/* ===================================================================== */
/* 3. roots                                                              */
/* ===================================================================== */

/* Address space i: its own PML4 mapping G1 to a frame of its own. */
static uint64_t make_as(struct h *h, unsigned i, uint64_t pte_flags)
{
	uint64_t cr3 = new_table(h);

	map64(h, cr3, G1, 1, (F1 + i * PAGE) | pte_flags, UP);
	return cr3;
}

Test(mmu_roots, same_cr3_same_root_views_differ)
{
	struct h *h = h_new(64);
	uint64_t a = make_as(h, 0, E_P | E_W | E_U | E_A), b = make_as(h, 1, E_P | E_W | E_U | E_A);
	uint64_t ka, ka2, ua, kb;

	cpu_set(h, gs(MODE_P64, a, false, true, true), false);
	ka = h->loaded;
	cr_assert_eq(mmu_root(&h->m, &h->ctx), ka, "the same CR3 twice gives another root");
	cpu_set(h, gs(MODE_P64, a, true, true, true), false);
	ua = h->loaded;
	cr_assert_neq(ua, ka, "user and kernel views share a root");
	cpu_set(h, gs(MODE_P64, b, false, true, true), true);
	kb = h->loaded;
	cr_assert_neq(kb, ka);
	cr_assert_neq(kb, ua);
	cpu_set(h, gs(MODE_P64, a, false, true, true), true);
	ka2 = h->loaded;
	cr_assert_eq(ka2, ka, "switching back to a cached CR3 gives another root");
	for (uint64_t r = 0; r < 3; r++) {
		uint64_t root = r == 0 ? ka : r == 1 ? ua : kb;

		cr_assert(spage(h, root));
		cr_assert_eq(spage(h, root)[T_MON], MON_E, "root %#llx monitor slot", (unsigned long long)root);
	}
	h_free(h);
}

Test(mmu_roots, cache_of_four_per_view)
{
	struct h *h = h_new(128);
	uint64_t cr3[6], root[6];
	uint64_t hits, misses;

	for (unsigned i = 0; i < 6; i++)
		cr3[i] = make_as(h, i, E_P | E_W | E_U | E_A);
	/* Visit 0..5, filling G1 in each. */
	for (unsigned i = 0; i < 6; i++) {
		cpu_set(h, gs(MODE_P64, cr3[i], false, true, true), true);
		root[i] = h->loaded;
		cr_assert_eq(spage(h, root[i])[T_MON], MON_E);
		cr_assert_eq(check_access(h, G1, AX_R, NULL, "fill").mpa, F1 + i * PAGE + MPA_OFF);
		check_state(h, "visit");
	}
	/* Cached together, so never the same page (an evicted root may be freed and reused). */
	for (unsigned i = 0; i < 6; i++)
		for (unsigned j = i > 3 ? i - 3 : 0; j < i; j++)
			cr_assert_neq(root[i], root[j], "address spaces %u and %u share a root", i, j);
	/* The user view has a cache of its own: one user root does not evict kernel ones. */
	cpu_set(h, gs(MODE_P64, cr3[5], true, true, true), false);
	cpu_set(h, gs(MODE_P64, cr3[5], false, true, true), false);
	/* 5, 4, 3, 2 are cached: hits, in any order. */
	hits = h->m.stats.root_hits;
	misses = h->m.stats.root_misses;
	for (unsigned i = 2; i < 6; i++) {
		cpu_set(h, gs(MODE_P64, cr3[i], false, true, true), true);
		cr_assert_eq(h->loaded, root[i]);
	}
	cr_assert_eq(h->m.stats.root_hits - hits, 4, "root_hits");
	cr_assert_eq(h->m.stats.root_misses - misses, 0, "root_misses");
	/* 0 was evicted: a miss. */
	cpu_set(h, gs(MODE_P64, cr3[0], false, true, true), true);
	cr_assert_eq(h->m.stats.root_misses - misses, 1, "root_misses after an evicted CR3");
	cr_assert_eq(check_access(h, G1, AX_R, NULL, "refill").mpa, F1 + MPA_OFF);
	check_state(h, "end");
	h_free(h);
}

Test(mmu_roots, role_changes_give_new_roots)
{
	struct h *h = h_new(64);
	uint64_t a = make_as(h, 0, E_P | E_U | E_A | E_D);     /* read-only, dirty */
	uint64_t r[4];

	for (unsigned i = 0; i < 4; i++) {
		cpu_set(h, gs(MODE_P64, a, false, i & 1, i & 2), i & 2);
		r[i] = h->loaded;
		check_access(h, G1, AX_W, NULL, "kernel write to a read-only page");
		check_state(h, "role");
	}
	for (unsigned i = 0; i < 4; i++)
		for (unsigned j = 0; j < i; j++)
			cr_assert_neq(r[i], r[j], "CR0.WP/EFER.NXE roles %u and %u share a root", i, j);
	h_free(h);
}

/* The monitor's slot is the monitor in every root, whatever happens. */
Test(mmu_roots, monitor_entry_survives_everything)
{
	struct h *h = h_new(32);
	uint64_t a = new_table(h);

	for (unsigned i = 0; i < 40; i++)
		map64(h, a, ((uint64_t)(i % 8) << 39) | ((uint64_t)(i / 8) << 30), 1,
		      (DATA_LO + i * PAGE) | E_P | E_W | E_U | E_A | E_G, UP);
	cpu_set(h, gs(MODE_P64, a, false, true, true), false);
	for (unsigned i = 0; i < 40; i++) {
		check_access(h, ((uint64_t)(i % 8) << 39) | ((uint64_t)(i / 8) << 30), AX_R, NULL, "scatter");
		cr_assert_eq(spage(h, h->loaded)[T_MON], MON_E);
	}
	cr_assert_gt(h->m.stats.mmu_recycled, 0);
	mmu_new_cr3(&h->m, &h->ctx, true, false);
	reload(h);
	cr_assert_eq(spage(h, h->loaded)[T_MON], MON_E);
	mmu_invlpg(&h->m, &h->ctx, T_MON_VA);
	cr_assert_eq(spage(h, h->loaded)[T_MON], MON_E);
	mmu_zap_all(&h->m);
	reload(h);
	cr_assert_eq(spage(h, h->loaded)[T_MON], MON_E);
	h_free(h);
}

/*
 * A 64-bit guest with something mapped in the monitor's slot (a kernel
 * whose direct map starts at 0xffff800000000000): the fault must not
 * replace the monitor's PML4E, and the guest sees unmapped memory.
 */
Test(mmu_roots, guest_mapping_in_the_monitors_slot_keeps_the_monitor)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);
	const uint64_t kva = T_MON_VA + 0x1000;
	uint32_t gerr = 0;
	uint64_t gpa = 0;
	enum pf_outcome o;

	map64(h, cr3, kva, 1, F1 | E_P | E_W | E_A | E_D, E_P | E_W | E_A);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	o = mmu_page_fault(&h->m, &h->ctx, kva, PFERR_P | PFERR_U, &gerr, &gpa);
	cr_expect_eq(spage(h, h->loaded)[T_MON], MON_E,
		     "mmu_page_fault(%#llx) returned %s and replaced the monitor's PML4E %#llx with %#llx",
		     (unsigned long long)kva, pf_name(o), (unsigned long long)MON_E,
		     (unsigned long long)spage(h, h->loaded)[T_MON]);
	cr_expect(o != PF_FIXED && o != PF_SPURIOUS,
		  "the access cannot be made to work (the slot is the monitor's), yet the fault was %s", pf_name(o));
	if (o == PF_GUEST)
		cr_expect_eq(gerr & PFERR_P, 0, "the monitor's range must look unmapped to the guest: error %#x", gerr);
	for (unsigned i = 0; i < 512; i++)
		cr_expect(i == T_MON || spage(h, h->loaded)[i] == 0, "root entry %u set by a fault in the monitor's slot", i);
	h_free(h);
}

/* A higher-half kernel at 0xffffffff80000000 (PML4 slot 511, Linux's and
 * most hobby kernels'): the slot is the guest's, its faults are filled
 * like any other, next to the monitor's slot (issue 17, point 6). */
Test(mmu_roots, a_higher_half_kernel_in_slot_511_is_shadowed)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);
	const uint64_t kva = 0xffffffff80001000ULL;

	map64(h, cr3, kva, 1, F1 | E_P | E_W | E_A | E_D, E_P | E_W | E_A);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_access(h, kva, AX_W, NULL, "higher half");
	cr_expect_eq(spage(h, h->loaded)[T_MON], MON_E);
	cr_expect(spage(h, h->loaded)[511] & E_P, "slot 511 not filled");
	h_free(h);
}

/* ===================================================================== */
/* 4. global pages                                                       */
/* ===================================================================== */

#define GG (G1 + 0x10000)                  /* a global page next to G1 */

static struct h *global_setup(uint64_t *cr3, bool pge)
{
	struct h *h = h_new(64);
	struct gstate g;

	*cr3 = new_table(h);
	map64(h, *cr3, G1, 1, F1 | E_P | E_W | E_U | E_A | E_D, UP);
	map64(h, *cr3, GG, 1, (F1 + 0x10000) | E_P | E_W | E_U | E_A | E_D | E_G, UP);
	g = gs(MODE_P64, *cr3, false, true, true);
	g.pge = pge;
	cpu_set(h, g, false);
	check_access(h, G1, AX_R, NULL, "fill non-global");
	check_access(h, GG, AX_R, NULL, "fill global");
	return h;
}

Test(mmu_global, cr3_write_keeps_global_leaves_only)
{
	uint64_t cr3;
	struct h *h = global_setup(&cr3, true);

	cpu_set(h, h->g, true);              /* MOV CR3, same value */
	cr_assert_eq(sleaf(h, h->loaded, G1, NULL), 0, "a non-global leaf survived a CR3 write");
	cr_assert_eq(sleaf(h, h->loaded, GG, NULL) & A52, F1 + 0x10000 + MPA_OFF,
		     "the global leaf did not survive a CR3 write");
	cr_assert_eq(check_access(h, GG, AX_W, NULL, "global").calls, 0);
	check_state(h, "after the CR3 write");
	mmu_invlpg(&h->m, &h->ctx, GG);
	reload(h);
	cr_assert_eq(sleaf(h, h->loaded, GG, NULL), 0, "INVLPG left the global leaf");
	check_access(h, GG, AX_R, NULL, "refill");
	mmu_new_cr3(&h->m, &h->ctx, true, true);
	reload(h);
	cr_assert_eq(sleaf(h, h->loaded, GG, NULL), 0, "a global flush left the global leaf");
	check_state(h, "end");
	h_free(h);
}

Test(mmu_global, g_bit_ignored_without_pge)
{
	uint64_t cr3;
	struct h *h = global_setup(&cr3, false);

	cpu_set(h, h->g, true);
	cr_assert_eq(sleaf(h, h->loaded, GG, NULL), 0, "G without CR4.PGE kept a leaf over a CR3 write");
	h_free(h);
}

/*
 * CR4.PGE 1 -> 0, as emulate.c's write_cr4 reports it (a CR3-write-like
 * change, mmu_new_cr3(flush_global=false)), then another CR3 write with
 * PGE off: with CR4.PGE=0 every CR3 write flushes everything.
 */
Test(mmu_global, leaves_marked_global_do_not_outlive_pge)
{
	uint64_t cr3;
	struct h *h = global_setup(&cr3, true);
	struct gstate g = h->g;

	g.pge = false;
	cpu_set(h, g, true);                 /* MOV CR4 clearing PGE */
	cpu_set(h, g, true);                 /* MOV CR3 with PGE off */
	cr_expect_eq(sleaf(h, h->loaded, GG, NULL), 0,
		     "CR4.PGE=0, yet a leaf filled while PGE was on survived a CR3 write");
	h_free(h);
}

/*
 * A root that fell out of the root cache misses every flush made while it
 * was out.  CR4.PGE: address space A has a global page; the guest runs 4
 * other address spaces (A's root is evicted), changes A's PTE and flushes
 * everything, global pages included; back in A the old frame must be gone.
 */
Test(mmu_roots, evicted_root_misses_flushes)
{
	struct h *h = h_new(128);
	uint64_t cr3[5];
	struct gstate g;

	for (unsigned i = 0; i < 5; i++)
		cr3[i] = make_as(h, i, E_P | E_W | E_U | E_A | E_D | E_G);
	g = gs(MODE_P64, cr3[0], false, true, true);
	g.pge = true;
	cpu_set(h, g, false);
	check_access(h, G1, AX_R, NULL, "A: fill the global page");
	for (unsigned i = 1; i < 5; i++) {
		g.cr3 = cr3[i];
		cpu_set(h, g, true);
		check_access(h, G1, AX_R, NULL, "other address space");
	}
	/* A's PTE now maps another frame; a full flush, globals included. */
	wr(h, ent64(h, cr3[0], G1, 1, 0), (F1 + 0x40000) | E_P | E_W | E_U | E_A | E_D | E_G, 8);
	note(h, "A's PTE for G1 -> %#llx, mmu_new_cr3(flush_global=true)", F1 + 0x40000);
	mmu_new_cr3(&h->m, &h->ctx, true, true);
	reload(h);
	check_state(h, "after the global flush");
	g.cr3 = cr3[0];
	cpu_set(h, g, true);
	note(h, "back to A: root %#llx", (unsigned long long)h->loaded);
	check_state(h, "back in A");
	check_access(h, G1, AX_R, NULL, "A: G1 must map the new frame");
	h_free(h);
}

/* ===================================================================== */
/* 5. large guest pages                                                  */
/* ===================================================================== */

Test(mmu_large, page_2m_split_into_4k_leaves)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), va = 0x0000004040000000ULL, f = 0x600000;
	static const uint64_t offs[] = { 0, 0x1000, 0x123456, 0x1ff000, 0x1fffff };
	uint64_t pde;

	map64(h, cr3, va, 2, f | E_P | E_W | E_U | E_PS, UP);        /* clean, A clear */
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint64_t *leaf;
		struct acc a = check_access(h, va + offs[i], AX_R, NULL, "read in a 2M page");

		cr_assert_eq(a.mpa, f + offs[i] + MPA_OFF);
		cr_assert(sleaf(h, h->loaded, va + offs[i], &leaf));
		cr_assert_eq(*leaf & A52, ((f + offs[i]) & ~0xfffULL) + MPA_OFF);
		cr_assert_not(*leaf & E_W, "clean 2M page mapped writable");
		check_state(h, "2M read");
	}
	pde = rd(h, ent64(h, cr3, va, 2, 0), 8);
	cr_assert(pde & E_A);
	cr_assert_not(pde & E_D);
	check_access(h, va + 0x5000, AX_W, NULL, "write in a 2M page");
	cr_assert(rd(h, ent64(h, cr3, va, 2, 0), 8) & E_D, "D not set in the 2M PDE");
	check_state(h, "2M write");
	h_free(h);
}

Test(mmu_large, page_1g_split_into_4k_leaves)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), va = 0x0000008080000000ULL;
	static const uint64_t offs[] = { 0, 0x1000, 0x1fffff, 0x100000, 0x3fffffff };

	/* 1 GiB page at GPA 1 GiB: RAM for its first 2 MiB, MMIO after. */
	map64(h, cr3, va, 3, GiB | E_P | E_W | E_U | E_A | E_D | E_PS, UP);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct acc a = check_access(h, va + offs[i], AX_W, NULL, "write in a 1G page");

		if (offs[i] < HI_SIZE)
			cr_assert_eq(a.mpa, GiB + offs[i] + MPA_OFF);
		else
			cr_assert_eq(a.last, PF_MMIO);
		check_state(h, "1G");
	}
	/* And one at GPA 0, over the RAM at 0. */
	map64(h, cr3, va + GiB, 3, E_P | E_U | E_A | E_PS, UP);
	mmu_new_cr3(&h->m, &h->ctx, true, true);
	for (uint64_t off = 0; off < RAM_SIZE; off += 7 * MiB + 0x3000)
		cr_assert_eq(check_access(h, va + GiB + off, AX_R, NULL, "1G at 0").mpa, off + MPA_OFF);
	check_state(h, "end");
	h_free(h);
}

/*
 * INVLPG of any address in a large page drops the whole page (SDM 4.10.4.1):
 * Linux flushes a 2 MiB mapping with one INVLPG.  The guest makes the page
 * read-only and clean, INVLPGs its first byte; no 4 KiB shadow leaf of that
 * 2 MiB page may still be writable, in the shadow or in the real CPU's TLB
 * (which holds the split page as separate 4 KiB translations: one real
 * INVLPG of flush_gva does not drop the others).
 */
Test(mmu_large, invlpg_drops_the_whole_large_page)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), va = 0x0000004040000000ULL, f = 0x600000;

	map64(h, cr3, va, 2, f | E_P | E_W | E_U | E_PS | E_A | E_D, UP);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_access(h, va, AX_W, NULL, "write offset 0");
	check_access(h, va + 0x5000, AX_W, NULL, "write offset 0x5000");
	wr(h, ent64(h, cr3, va, 2, 0), f | E_P | E_U | E_PS | E_A, 8);
	note(h, "PDE for %#llx: read-only and clean; one INVLPG at its base", (unsigned long long)va);
	mmu_invlpg(&h->m, &h->ctx, va);
	reload(h);
	check_state(h, "after INVLPG of a 2M page");
	h_free(h);
}

/*
 * The same for a 1 GiB page, split into 2 MiB pieces by the shadow: the
 * guest makes it read-only and INVLPGs one address; no piece may stay
 * writable (in the shadow, or the real TLB).
 */
Test(mmu_large, invlpg_drops_the_whole_1g_page)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), va = 0x0000008080000000ULL & ~(GiB - 1);

	map64(h, cr3, va, 3, 0 | E_P | E_W | E_U | E_PS | E_A | E_D, UP);      /* 1 GiB at GPA 0 */
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_access(h, va + 0x10000, AX_W, NULL, "write in the first 2 MiB");
	check_access(h, va + 0x400000, AX_W, NULL, "write in the third 2 MiB");
	wr(h, ent64(h, cr3, va, 3, 0), 0 | E_P | E_U | E_PS | E_A, 8);
	note(h, "PDPTE for %#llx: read-only and clean; one INVLPG at its base", (unsigned long long)va);
	h_invlpg(h, va);
	check_state(h, "after INVLPG of a 1G page");
	cr_assert_eq(check_access(h, va + 0x400000, AX_W, NULL, "a write to the read-only page").last, PF_GUEST);
	h_free(h);
}

/*
 * Two guest 2 MiB PDEs map the same frame with the same rights (the kernel's
 * direct map and a second mapping): one dirty, one clean.  The clean one
 * must not become writable through the other's shadow page.
 */
Test(mmu_large, aliased_large_pages_keep_their_own_dirty_bits)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), va = 0x0000004040000000ULL, vb = va + 0x200000, f = 0x600000;

	map64(h, cr3, va, 2, f | E_P | E_W | E_U | E_PS | E_A | E_D, UP);
	map64(h, cr3, vb, 2, f | E_P | E_W | E_U | E_PS | E_A, UP);           /* clean */
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_access(h, va + 0x1000, AX_W, NULL, "write through the dirty alias");
	check_access(h, va, AX_W, NULL, "write through the dirty alias");
	check_access(h, vb, AX_R, NULL, "read through the clean alias");
	check_state(h, "after both");
	h_free(h);
}

/*
 * The same with CR4.PGE: a global 2 MiB PDE and a non-global alias of the
 * same frame.  After the guest repoints the non-global alias and writes
 * CR3, the alias must not keep a translation to the old frame through
 * leaves the global mapping left behind.
 */
Test(mmu_large, aliased_large_pages_keep_their_own_global_bits)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), va = 0x0000004040000000ULL, vb = va + 0x200000, f = 0x600000;
	struct gstate g;

	map64(h, cr3, va, 2, f | E_P | E_W | E_U | E_PS | E_A | E_D | E_G, UP);
	map64(h, cr3, vb, 2, f | E_P | E_W | E_U | E_PS | E_A | E_D, UP);
	g = gs(MODE_P64, cr3, false, true, true);
	g.pge = true;
	cpu_set(h, g, false);
	check_access(h, va + 0x1000, AX_R, NULL, "read through the global mapping");
	check_access(h, vb, AX_R, NULL, "read through the non-global alias");
	wr(h, ent64(h, cr3, vb, 2, 0), 0xa00000 | E_P | E_W | E_U | E_PS | E_A | E_D, 8);
	note(h, "non-global PDE for %#llx -> 0xa00000, MOV CR3", (unsigned long long)vb);
	cpu_set(h, h->g, true);
	check_state(h, "after repointing the non-global alias and a CR3 write");
	h_free(h);
}

/* ===================================================================== */
/* 6. a tiny pool                                                        */
/* ===================================================================== */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static unsigned rn(uint64_t *s, unsigned n)
{
	return (unsigned)((rng_next(s) >> 16) % n);
}

Test(mmu_pool, tiny_pool_recycles_and_stays_correct)
{
	struct h *h = h_new(16);
	uint64_t cr3 = new_table(h), s = 7;
	uint64_t va[64];

	/* 64 pages spread over 8 PML4 slots x 2 PDPT x 2 PD x 2: many tables. */
	for (unsigned i = 0; i < 64; i++) {
		va[i] = ((uint64_t)(i & 7) << 39) | ((uint64_t)((i >> 3) & 1) << 30) |
			((uint64_t)((i >> 4) & 1) << 21) | ((uint64_t)(i >> 5) << 12);
		map64(h, cr3, va[i], 1, (DATA_LO + i * PAGE) | E_P | E_W | E_U | E_A, UP);
	}
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned k = 0; k < 64; k++) {
			unsigned i = rn(&s, 64);
			int type = rn(&s, 3);

			cr_assert_eq(check_access(h, va[i] + 8, type, NULL, "tiny pool").mpa,
				     DATA_LO + i * PAGE + 8 + MPA_OFF);
			check_state(h, "tiny pool");
			cr_assert_eq(spage(h, h->loaded)[T_MON], MON_E);
		}
	cr_assert_gt(h->m.stats.mmu_recycled, 0, "16 pages for 64 scattered addresses, nothing recycled");
	/* After a recycle, mmu_root still gives a root that works. */
	cpu_set(h, gs(MODE_P64, cr3, true, true, true), false);
	cr_assert(spage(h, h->loaded));
	for (unsigned i = 0; i < 64; i++)
		cr_assert_eq(check_access(h, va[i], AX_R, NULL, "user view").mpa, DATA_LO + i * PAGE + MPA_OFF);
	check_state(h, "end");
	h_free(h);
}

/*
 * The same in each strategy, with the guest repointing PTEs through its
 * window now and then (vtlb: then INVLPG; wp: nothing; unsync: INVLPG of
 * some address now and then): recycling must not lose the write
 * protection of the tables it keeps, nor keep what it frees.
 */
static void tiny_pool(enum mmu_sync sync)
{
	struct h *h = h_new_s(16, sync);
	uint64_t cr3 = new_table(h), s = 7 + sync;
	uint64_t va[64];

	for (unsigned i = 0; i < 64; i++) {
		va[i] = ((uint64_t)(i & 7) << 39) | ((uint64_t)((i >> 3) & 1) << 30) |
			((uint64_t)((i >> 4) & 1) << 21) | ((uint64_t)(i >> 5) << 12);
		map64(h, cr3, va[i], 1, (DATA_LO + i * PAGE) | E_P | E_W | E_U | E_A, UP);
	}
	map_window64(h, cr3);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	for (unsigned round = 0; round < 4; round++)
		for (unsigned k = 0; k < 64; k++) {
			unsigned i = rn(&s, 64);
			int type = rn(&s, 3);
			char what[64];

			snprintf(what, sizeof(what), "%s tiny pool %u.%u", sync_name[sync], round, k);
			if (rn(&s, 4) == 0) {
				uint64_t at = ent64(h, cr3, va[i], 1, 0);
				uint64_t nf = DATA_LO + (64 + rn(&s, 64)) * PAGE;

				guest_store(h, at, nf | E_P | E_W | E_U | E_A | (rn(&s, 2) ? E_D : 0), 8,
					    sync != SYNC_VTLB && rn(&s, 4) == 0, what);
				if (sync == SYNC_VTLB || (sync == SYNC_UNSYNC && rn(&s, 2)))
					h_invlpg(h, va[i]);
				check_state(h, what);
			}
			check_access(h, va[i] + 8, type, NULL, what);
			check_state(h, what);
			cr_assert_eq(spage(h, h->loaded)[T_MON], MON_E);
		}
	cr_assert_gt(h->m.stats.mmu_recycled, 0, "16 pages for 64 scattered addresses, nothing recycled");
	if (sync != SYNC_VTLB)
		cr_assert_gt(h->m.stats.pf_emulate + h->m.stats.mmu_unsync, 0);
	cpu_set(h, gs(MODE_P64, cr3, true, true, true), true);
	for (unsigned i = 0; i < 64; i++)
		check_access(h, va[i], AX_R, NULL, "user view");
	check_state(h, "end");
	h_free(h);
}

Test(mmu_pool, tiny_pool_vtlb)
{
	tiny_pool(SYNC_VTLB);
}

Test(mmu_pool, tiny_pool_wp)
{
	tiny_pool(SYNC_WP);
}

Test(mmu_pool, tiny_pool_unsync)
{
	tiny_pool(SYNC_UNSYNC);
}

Test(mmu_pool, tiny_pool_nonpaging)
{
	struct h *h = h_new(16);

	cpu_set(h, gs(MODE_NP, 0, false, true, false), false);
	for (uint64_t gpa = 0; gpa < RAM_SIZE; gpa += 0x3ff000) {
		cr_assert_eq(check_access(h, gpa, AX_W, NULL, "nonpaging").mpa, gpa + MPA_OFF);
		check_state(h, "nonpaging tiny pool");
	}
	cr_assert_gt(h->m.stats.mmu_recycled, 0);
	h_free(h);
}

/* ===================================================================== */
/* 7. mmu_gva_to_gpa                                                     */
/* ===================================================================== */

Test(mmu_gva_to_gpa, matches_the_model)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);

	map64(h, cr3, G1, 1, F1 | E_P | E_W | E_U, E_P | E_W | E_U);
	map64(h, cr3, G1 + 0x1000, 1, (F1 + 0x1000) | E_P | E_A | E_NX, UP);
	map64(h, cr3, 0x0000004040000000ULL, 2, 0x600000 | E_P | E_W | E_U | E_PS, UP);
	for (unsigned c = 0; c < 8; c++) {
		struct gstate g = gs(MODE_P64, cr3, c & 1, c & 2, c & 4);
		static const uint64_t vas[] = { G1 + 0x10, G1 + 0x1008, 0x0000004040123456ULL, G1 + 0x2000 };

		cpu_set(h, g, false);
		for (unsigned i = 0; i < 4; i++)
			for (int type = AX_R; type <= AX_X; type++) {
				uint32_t acc = (type == AX_W ? PFERR_W : 0) | (type == AX_X ? PFERR_FETCH : 0) |
					       (g.user ? PFERR_U : 0);
				struct mw r = model(h, &h->g, vas[i], type, g.user);
				uint64_t gpa = 0, before[5], after;
				uint32_t err = 0;
				enum pf_outcome o;

				for (int l = 4; l >= r.level; l--)
					before[l] = r.at[l] ? rd(h, r.at[l], 8) : 0;
				o = mmu_gva_to_gpa(&h->m, &h->ctx, vas[i], acc, &gpa, &err);
				if (r.out == MO_OK) {
					cr_assert_eq(o, PF_FIXED, "case %u gva %#llx %s", c,
						     (unsigned long long)vas[i], ax_name[type]);
					cr_assert_eq(gpa, r.gpa);
				} else {
					cr_assert_eq(o, PF_GUEST, "case %u gva %#llx %s", c,
						     (unsigned long long)vas[i], ax_name[type]);
					cr_assert_eq(err, r.ec, "case %u gva %#llx %s: %#x vs %#x", c,
						     (unsigned long long)vas[i], ax_name[type], err, r.ec);
				}
				for (int l = 4; l >= r.level; l--) {
					if (!r.at[l])
						continue;
					after = rd(h, r.at[l], 8);
					if (r.out == MO_OK)
						before[l] |= E_A | (l == r.level && type == AX_W ? E_D : 0);
					cr_assert_eq(after, before[l], "case %u gva %#llx %s: level %d entry %#llx, expected %#llx",
						     c, (unsigned long long)vas[i], ax_name[type], l,
						     (unsigned long long)after, (unsigned long long)before[l]);
				}
			}
	}
	{
		uint64_t gpa;
		uint32_t err;

		cr_assert_eq(mmu_gva_to_gpa(&h->m, &h->ctx, 0x0000800000000000ULL, 0, &gpa, &err), PF_NONCANONICAL);
	}
	h_free(h);
}

/* ===================================================================== */
/* 8. coherence: the vtlb must forget what the guest flushed             */
/* ===================================================================== */

/*
 * A page table is unlinked while a stale translation through it is still
 * legal (before the guest's flush), then freed and reused with other
 * contents, then linked again (after a flush).  Its old translations must
 * not come back.
 */
Test(mmu_coherence, reused_page_table_shows_no_old_translations)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h), va = 0x0000000040000000ULL;
	uint64_t pt1, pt2, pde_at;

	map64(h, cr3, va + 0x1000, 1, 0x401000 | E_P | E_W | E_U | E_A | E_D, UP);
	map64(h, cr3, va + 0x2000, 1, 0x402000 | E_P | E_W | E_U | E_A | E_D, UP);
	pde_at = ent64(h, cr3, va, 2, 0);
	pt1 = rd(h, pde_at, 8) & A40;
	pt2 = new_table(h);
	wr(h, pt2 + 3 * 8, 0x503000 | E_P | E_W | E_U | E_A | E_D, 8);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_access(h, va + 0x1000, AX_R, NULL, "fill through PT1");

	wr(h, pde_at, pt2 | UP, 8);
	note(h, "PDE -> PT2 (no flush yet)");
	check_access(h, va + 0x3000, AX_R, NULL, "touch through PT2 before the flush");
	cpu_set(h, h->g, true);
	note(h, "CR3 write: the flush");
	check_state(h, "after the flush");

	/* PT1 is free; the guest reuses it with other contents. */
	wr(h, pt1 + 1 * 8, 0x701000 | E_P | E_W | E_U | E_A | E_D, 8);
	wr(h, pt1 + 2 * 8, 0x702000 | E_P | E_W | E_U | E_A | E_D, 8);
	wr(h, pde_at, pt1 | UP, 8);
	note(h, "PT1 reused (entries 1, 2 -> 0x701000, 0x702000), PDE -> PT1, CR3 write");
	cpu_set(h, h->g, true);
	check_state(h, "after PDE -> PT1 and the flush");
	check_access(h, va + 0x2000, AX_R, NULL, "touch va+0x2000 through the reused PT1");
	check_state(h, "after relinking PT1");
	check_access(h, va + 0x1000, AX_R, NULL, "va+0x1000 must map 0x701000");
	h_free(h);
}

/* ===================================================================== */
/* 8b. wp and unsync: the shadow follows the guest's writes              */
/* ===================================================================== */

#define F2 0x456000ULL

/*
 * A 64-bit guest for the strategy tests: G1 -> F1 and G1 + 0x1000 ->
 * F1 + 0x1000 (dirty, user), G1 + 0x2000 not present, and the window on its
 * page tables.  *pt: the page table of G1.
 */
static struct h *strat_setup(enum mmu_sync sync, uint64_t *cr3, uint64_t *pt)
{
	struct h *h = h_new_s(64, sync);

	*cr3 = new_table(h);
	map64(h, *cr3, G1, 1, F1 | E_P | E_W | E_U | E_A | E_D, UP);
	map64(h, *cr3, G1 + 0x1000, 1, (F1 + 0x1000) | E_P | E_W | E_U | E_A | E_D, UP);
	map_window64(h, *cr3);
	*pt = ent64(h, *cr3, G1, 1, 0) & ~0xfffULL;
	cpu_set(h, gs(MODE_P64, *cr3, false, true, true), false);
	return h;
}

/* The PTE of gva in page table pt. */
static uint64_t pte_at(uint64_t pt, uint64_t gva)
{
	return pt + ((gva >> 12) & 511) * 8;
}

/* wp: a PTE the guest is using changes; no INVLPG; the next access sees it. */
Test(mmu_wp, pte_change_is_seen_at_once)
{
	uint64_t cr3, pt;
	struct h *h = strat_setup(SYNC_WP, &cr3, &pt);
	struct acc a;

	check_access(h, G1, AX_R, NULL, "fill");
	check_access(h, G1, AX_W, NULL, "write");
	check_access(h, G1 + 0x1000, AX_R, NULL, "fill the neighbour");
	check_state(h, "filled");
	cr_assert(sleaf(h, h->loaded, G1, NULL), "G1 not filled");

	cr_assert_eq(guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U | E_A | E_D, 8, false, "G1 -> F2"),
		     ST_EMULATED, "a store to a page table the shadow follows must be emulated");
	cr_assert_eq(h->m.stats.pf_emulate, 1);
	cr_assert_eq(h->m.stats.mmu_pte_write, 1);
	check_state(h, "right after G1 -> F2, no INVLPG");
	a = check_access(h, G1 + 8, AX_R, NULL, "G1 must map F2 now");
	cr_assert_eq(a.mpa, F2 + 8 + MPA_OFF);
	cr_assert(sleaf(h, h->loaded, G1 + 0x1000, NULL), "the store zapped more than its own entry");

	guest_store(h, pte_at(pt, G1), F2 | E_P | E_U | E_A | E_D, 8, false, "G1 read-only");
	check_state(h, "right after G1 read-only");
	a = check_access(h, G1, AX_W, NULL, "a write to G1 is the guest's fault now");
	cr_assert_eq(a.last, PF_GUEST);

	/* The PDE above both: not present. */
	guest_store(h, ent64(h, cr3, G1, 2, 0), 0, 8, false, "PDE of G1 not present");
	check_state(h, "right after the PDE store");
	a = check_access(h, G1 + 0x1000, AX_R, NULL, "G1 + 0x1000 is unmapped now");
	cr_assert_eq(a.last, PF_GUEST);
	cr_assert_eq(h->st_native, 0, "%u stores went to a followed table natively", h->st_native);

	/* INVLPG changes nothing in wp: the shadow is already exact. */
	wr(h, ent64(h, cr3, G1, 2, 0), pt | UP, 8);     /* (a store ombra must not see: no shadow below it) */
	check_access(h, G1 + 0x1000, AX_R, NULL, "refill");
	h_invlpg(h, G1 + 0x1000);
	cr_assert(sleaf(h, h->loaded, G1 + 0x1000, NULL), "INVLPG zapped in wp");
	h_free(h);
}

/*
 * wp: an emulated store to a leaf table installs the entry it wrote, as
 * KVM's FNAME(update_pte) did, under the prefetch rule: only a present
 * entry with A set (an entry with A clear must fault, so that the walk sets
 * A); writable only once D is set.  The access that follows needs no fault.
 */
Test(mmu_wp, emulated_store_installs_the_new_entry)
{
	uint64_t cr3, pt, e;
	struct h *h = strat_setup(SYNC_WP, &cr3, &pt);
	struct acc a;
	unsigned long long pre, pre_fetch;

	check_access(h, G1, AX_R, NULL, "fill");
	check_access(h, G1 + 0x1000, AX_R, NULL, "fill the neighbour");

	/* A and D set: present and writable at once, no fault to use it. */
	pre = h->m.stats.mmu_pte_updated;
	pre_fetch = h->m.stats.prefetched;
	guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U | E_A | E_D, 8, false, "G1 -> F2, A D");
	e = sleaf(h, h->loaded, G1, NULL);
	cr_assert(e & E_P, "the emulated store left G1 empty");
	cr_assert_eq(e & A52 & ~0xfffULL, F2 + MPA_OFF, "G1's new leaf maps %#llx", (unsigned long long)(e & A52));
	cr_assert(e & E_W, "A and D set, W allowed: the leaf must be writable");
	cr_assert_eq(h->m.stats.mmu_pte_updated, pre + 1);
	cr_assert_eq(h->m.stats.prefetched, pre_fetch, "the install was counted as a prefetch");
	check_state(h, "after the store with A and D");
	a = check_access(h, G1 + 8, AX_W, NULL, "write G1 through the new entry");
	cr_assert_eq(a.calls, 0, "the access after the store faulted %u times", a.calls);

	/* A set, D clear: present, read-only until the first write sets D. */
	guest_store(h, pte_at(pt, G1), F1 | E_P | E_W | E_U | E_A, 8, false, "G1 -> F1, A");
	e = sleaf(h, h->loaded, G1, NULL);
	cr_assert(e & E_P, "A set: the entry must be installed");
	cr_assert_not(e & E_W, "D clear: the leaf must stay read-only");
	a = check_access(h, G1, AX_R, NULL, "read G1");
	cr_assert_eq(a.calls, 0);
	a = check_access(h, G1, AX_W, NULL, "first write: sets D");
	cr_assert_eq(a.calls, 1, "the write that sets D must fault once");
	cr_assert(rd(h, pte_at(pt, G1), 8) & E_D, "the write did not set D in the guest's entry");

	/* A clear: not installed; the access faults and the walk sets A. */
	guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U | E_D, 8, false, "G1 -> F2, no A");
	cr_assert_eq(sleaf(h, h->loaded, G1, NULL), 0, "an entry with A clear was installed");
	a = check_access(h, G1, AX_R, NULL, "read G1: sets A");
	cr_assert_eq(a.calls, 1);
	cr_assert(rd(h, pte_at(pt, G1), 8) & E_A, "the read did not set A in the guest's entry");
	cr_assert(sleaf(h, h->loaded, G1 + 0x1000, NULL), "the stores zapped more than their own entry");
	check_state(h, "end");
	h_free(h);
}

/*
 * wp: a table written three times with no fill through it in between is
 * zapped (flooding), after which the guest writes it natively; a fill
 * through it shadows (and write-protects) it again.
 */
Test(mmu_wp, flooding_zaps_after_three_writes)
{
	uint64_t cr3, pt, slot;
	struct h *h = strat_setup(SYNC_WP, &cr3, &pt);

	map64(h, cr3, G1 + 0x2000, 1, (F1 + 0x2000) | E_P | E_W | E_U | E_A | E_D, UP);
	map64(h, cr3, G1 + 0x3000, 1, (F1 + 0x3000) | E_P | E_W | E_U | E_A | E_D, UP);
	slot = pt + 100 * 8;                            /* maps nothing the guest uses */
	check_access(h, G1, AX_R, NULL, "fill through the PT");

	guest_store(h, slot, 0x1000, 8, false, "write 1");
	guest_store(h, slot, 0x2000, 8, false, "write 2");
	check_access(h, G1 + 0x2000, AX_R, NULL, "a fill through the PT: it is in use");
	guest_store(h, slot, 0x3000, 8, false, "write 1 after the fill");
	guest_store(h, slot, 0x4000, 8, false, "write 2 after the fill");
	cr_assert_eq(h->m.stats.mmu_flooded, 0, "flooded although a fill used the table in between");
	cr_assert(sleaf(h, h->loaded, G1, NULL), "the PT's shadow is gone before flooding");
	cr_assert_eq(h->st_emulated, 4);

	guest_store(h, slot, 0x5000, 8, false, "write 3 after the fill");
	cr_assert_eq(h->m.stats.mmu_flooded, 1, "three writes without a fill: mmu_flooded");
	cr_assert_eq(sleaf(h, h->loaded, G1, NULL), 0, "the flooded PT's shadow is still linked");
	cr_assert_eq(sleaf(h, h->loaded, G1 + 0x2000, NULL), 0, "the flooded PT's shadow is still linked");
	check_state(h, "flooded");

	/* No longer followed: the guest writes it natively. */
	guest_store(h, pte_at(pt, G1 + 0x3000), F2 | E_P | E_W | E_U | E_A | E_D, 8, false, "native");
	cr_assert_eq(h->st_native, 1, "the flooded table is still write-protected");
	cr_assert_eq(h->m.stats.pf_emulate, 5);
	check_state(h, "after the native write");
	cr_assert_eq(check_access(h, G1 + 0x3000, AX_R, NULL, "the native write is seen").mpa, F2 + MPA_OFF);
	/* That fill shadowed the table again. */
	cr_assert_eq(guest_store(h, slot, 0x6000, 8, false, "followed again"), ST_EMULATED);
	check_state(h, "end");
	h_free(h);
}

/* wp: stores of entries the shadow installs at once are uses of the table:
 * however many come without a fill in between (the fills they saved), the
 * table is not flooded; entries it cannot install still flood it. */
Test(mmu_wp, stores_of_installed_entries_do_not_flood)
{
	uint64_t cr3, pt;
	struct h *h = strat_setup(SYNC_WP, &cr3, &pt);

	check_access(h, G1, AX_R, NULL, "fill through the PT");
	for (unsigned i = 0; i < 6; i++)
		guest_store(h, pte_at(pt, G1), (i & 1 ? F1 : F2) | E_P | E_W | E_U | E_A | E_D, 8, false, "installable");
	cr_assert_eq(h->m.stats.mmu_flooded, 0, "six stores of installable entries flooded the table");
	cr_assert_eq(h->st_emulated, 6);
	cr_assert(sleaf(h, h->loaded, G1, NULL), "G1's entry is not installed");
	check_state(h, "after six installing stores");
	for (unsigned i = 0; i < 3; i++)
		guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U, 8, false, "A clear: not installed");
	cr_assert_eq(h->m.stats.mmu_flooded, 1, "three stores the shadow could not use did not flood the table");
	check_state(h, "end");
	h_free(h);
}

/* wp: a store ombra cannot emulate: mmu_unprotect_gfn, and the store runs
 * again natively; the table's shadow is gone, a later fill brings it back. */
Test(mmu_wp, unprotect_then_native_write)
{
	uint64_t cr3, pt;
	struct h *h = strat_setup(SYNC_WP, &cr3, &pt);

	check_access(h, G1, AX_W, NULL, "fill");
	check_access(h, G1 + 0x1000, AX_R, NULL, "fill");
	cr_assert_eq(guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U | E_A | E_D, 8, true, "not emulable"),
		     ST_NATIVE);
	cr_assert_eq(h->st_unprotected, 1);
	cr_assert_eq(h->st_refault, 0, "the store faulted PF_EMULATE again after mmu_unprotect_gfn");
	cr_assert_eq(h->m.stats.mmu_pte_write, 0);
	cr_assert_eq(sleaf(h, h->loaded, G1, NULL), 0, "the unprotected table's shadow is still linked");
	check_state(h, "after the native store");
	cr_assert_eq(check_access(h, G1, AX_R, NULL, "G1 -> F2").mpa, F2 + MPA_OFF);
	cr_assert_eq(check_access(h, G1 + 0x1000, AX_R, NULL, "G1 + 0x1000").mpa, F1 + 0x1000 + MPA_OFF);
	/* Until the guest's next flush the table is not write-protected again
	 * (the retry of a store may walk through it); after it, it is. */
	cpu_set(h, h->g, true);
	check_access(h, G1, AX_R, NULL, "refill after the CR3 load");
	cr_assert_eq(guest_store(h, pte_at(pt, G1), F1 | E_P | E_W | E_U | E_A | E_D, 8, false, "followed again"),
		     ST_EMULATED);
	check_state(h, "end");
	h_free(h);
}

/*
 * mmu_unprotect_gfn promises that the write "can go through natively",
 * also for a store to a table the store's own translation walks through
 * (the guest's PML4; the PDPT of the window itself; a 32-bit guest's page
 * directory): else a store shadow.c cannot emulate loops forever
 * (emulate_pte_write -> mmu_unprotect_gfn -> TRAP_RESUME -> the same fault;
 * guest_store fails on the second PF_EMULATE).  After the guest's next
 * flush the shadow follows the table again.
 */
static void unprotect_on_path(enum mmu_sync sync, bool root)
{
	uint64_t cr3, pt, table, slot;
	struct h *h = strat_setup(sync, &cr3, &pt);

	/* root: PML4 slot 5 (G1 is in slot 254); else the window's PDPT slot 5. */
	table = root ? cr3 : ent64(h, cr3, WIN64, 3, 0) & ~0xfffULL;
	slot = root ? ent64(h, cr3, G1, 4, 0) : table + 8 * 6;
	check_access(h, G1, AX_R, NULL, "fill");
	check_access(h, win_gva(h, table), AX_R, NULL, "the table through the window");
	guest_store(h, table + 8 * 5, 0x1000, 8, true, "not emulable");
	cr_assert_eq(h->st_unprotected, 1);
	check_state(h, "after the store (stale translations through a table let go are legal until a flush)");
	guest_store(h, slot, 0, 8, false, "another slot: not present");
	cpu_set(h, h->g, true);
	check_state(h, "after the CR3 load");
	if (root)
		cr_assert_eq(check_access(h, G1, AX_R, NULL, "G1 is unmapped").last, PF_GUEST);
	cr_assert_eq(guest_store(h, table + 8 * 5, 0, 8, false, "the table is followed again"), ST_EMULATED);
	check_state(h, "end");
	h_free(h);
}

Test(mmu_wp, unprotect_of_the_pml4_the_store_walks_through)
{
	unprotect_on_path(SYNC_WP, true);
}

Test(mmu_unsync, unprotect_of_the_pml4_the_store_walks_through)
{
	unprotect_on_path(SYNC_UNSYNC, true);
}

Test(mmu_wp, unprotect_of_a_pdpt_the_store_walks_through)
{
	unprotect_on_path(SYNC_WP, false);
}

Test(mmu_unsync, unprotect_of_a_pdpt_the_store_walks_through)
{
	unprotect_on_path(SYNC_UNSYNC, false);
}

/*
 * A fill whose own path makes the shadow page for the very frame its leaf
 * maps (the guest reaches a page table through a mapping that walks
 * through that table: a recursive entry, the window on its own tables, a
 * 32-bit guest's page directory in the GiB it maps).  The leaf is made
 * before the path is built, so it misses the write protection the new
 * shadow page asks for: the table is shadowed but writable, and the
 * guest's next stores to it bypass the shadow.
 */
Test(mmu_wp, leaf_for_a_table_shadowed_by_the_same_fill_is_read_only)
{
	struct h *h = h_new_s(64, SYNC_WP);
	uint64_t cr3 = new_table(h), w3, x = WIN64 + GiB;

	map_window64(h, cr3);
	w3 = ent64(h, cr3, WIN64, 3, 0) & ~0xfffULL;    /* the window's own PDPT, inside the window */
	map64(h, cr3, x, 1, F1 | E_P | E_W | E_A | E_D, WIN_UP);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_state(h, "start");

	/* The first access: a store to the window's PDPT, through the window. */
	guest_store(h, w3 + 8 * 7, 0, 8, false, "store to the window's PDPT, first fill");
	check_access(h, x, AX_R, NULL, "fill x through that PDPT");
	guest_store(h, w3 + 8 * 1, 0, 8, false, "unmap x (PDPT slot 1)");
	check_state(h, "after unmapping x");
	h_free(h);
}

/* unsync: the first write to a leaf table lets it go out of sync; the
 * guest then writes it natively; a CR3 load brings it back and follows
 * it again. */
static void unsync_resync(void)
{
	uint64_t cr3, pt, taken;
	struct h *h = strat_setup(SYNC_UNSYNC, &cr3, &pt);

	check_access(h, G1, AX_W, NULL, "fill");
	check_access(h, G1 + 0x1000, AX_R, NULL, "fill");
	check_state(h, "filled");

	taken = h->m.stats.pf_taken;
	cr_assert_eq(guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U | E_A | E_D, 8, false, "G1 -> F2"),
		     ST_NATIVE, "the first write to a leaf table must let it go out of sync");
	cr_assert_eq(h->m.stats.mmu_unsync, 1, "mmu_unsync");
	cr_assert_eq(h->m.stats.pf_emulate, 0);
	cr_assert_eq(h->m.stats.pf_taken - taken, 1, "one fault to go out of sync");
	cr_assert(dirty_stamp(h, pte_at(pt, G1), 8), "the PT has no out-of-sync shadow page after going out of sync");
	check_state(h, "out of sync (stale translations through the PT are legal)");

	taken = h->m.stats.pf_taken;
	guest_store(h, pte_at(pt, G1 + 0x1000), (F2 + 0x1000) | E_P | E_W | E_U | E_A | E_D, 8, false,
		    "G1 + 0x1000 -> F2 + 0x1000");
	guest_store(h, pte_at(pt, G1 + 0x2000), (F2 + 0x2000) | E_P | E_W | E_U | E_A | E_D, 8, false,
		    "G1 + 0x2000 -> F2 + 0x2000");
	cr_assert_eq(h->m.stats.pf_taken, taken, "a store to an out-of-sync table faulted");
	cr_assert_eq(h->st_native, 3);

	note(h, "MOV CR3 (same)");
	cpu_set(h, h->g, true);
	cr_assert_eq(h->m.stats.unsync_synced, 1, "unsync_synced");
	check_state(h, "synced");
	cr_assert_eq(check_access(h, G1, AX_R, NULL, "G1 -> F2").mpa, F2 + MPA_OFF);
	cr_assert_eq(check_access(h, G1 + 0x1000, AX_R, NULL, "G1 + 0x1000 -> F2 + 0x1000").mpa,
		     F2 + 0x1000 + MPA_OFF);
	cr_assert_eq(check_access(h, G1 + 0x2000, AX_R, NULL, "G1 + 0x2000 -> F2 + 0x2000").mpa,
		     F2 + 0x2000 + MPA_OFF);
	check_state(h, "refilled");

	/* Followed again: the next write faults (and goes out of sync again). */
	taken = h->m.stats.pf_taken;
	guest_store(h, pte_at(pt, G1), F1 | E_P | E_W | E_U | E_A | E_D, 8, false, "G1 -> F1");
	cr_assert_eq(h->m.stats.pf_taken - taken, 1, "the synced table is not write-protected again");
	cr_assert_eq(h->m.stats.mmu_unsync, 2);
	h_free(h);
}

Test(mmu_unsync, leaf_table_resyncs_at_a_cr3_load)
{
	unsync_resync();
}

/*
 * unsync, entry by entry: a leaf table with four entries the shadow holds
 * goes out of sync; the guest points one at another frame and makes one
 * read-only, natively.  The sync at the next CR3 load must drop the first
 * (another frame: the old translation is gone after a flush), take W from
 * the second and keep it (same frame, read-only is all that changed), and
 * leave the two the guest did not touch exactly as they were: no refault
 * for them.  (KVM's FNAME(sync_page).)
 */
Test(mmu_unsync, sync_updates_only_the_changed_entries)
{
	uint64_t cr3, pt, before[4], taken, e;
	struct h *h = strat_setup(SYNC_UNSYNC, &cr3, &pt);

	map64(h, cr3, G1 + 0x2000, 1, (F1 + 0x2000) | E_P | E_W | E_U | E_A | E_D, UP);
	map64(h, cr3, G1 + 0x3000, 1, (F1 + 0x3000) | E_P | E_W | E_U | E_A | E_D, UP);
	for (unsigned k = 0; k < 4; k++)
		check_access(h, G1 + k * 0x1000, AX_W, NULL, "fill, writable");
	check_state(h, "filled");
	for (unsigned k = 0; k < 4; k++) {
		before[k] = sleaf(h, h->loaded, G1 + k * 0x1000, NULL);
		/* a dirty, writable guest page written once: present, writable */
		cr_assert_eq(before[k] & (A52 | E_P | E_W), (F1 + k * 0x1000 + MPA_OFF) | E_P | E_W,
			     "entry %u before: %#llx", k, (unsigned long long)before[k]);
	}

	cr_assert_eq(guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U | E_A | E_D, 8, false, "G1 -> F2"),
		     ST_NATIVE, "the first write to a leaf table lets it go out of sync");
	cr_assert_eq(guest_store(h, pte_at(pt, G1 + 0x1000), (F1 + 0x1000) | E_P | E_U | E_A | E_D, 8, false,
				 "G1 + 0x1000 read-only"), ST_NATIVE);
	cr_assert_eq(h->m.stats.mmu_unsync, 1);

	taken = h->m.stats.pf_taken;
	note(h, "MOV CR3 (same)");
	cpu_set(h, h->g, true);
	check_state(h, "synced");
	cr_assert_eq(h->m.stats.unsync_synced, 1, "unsync_synced");
	cr_assert_eq(sleaf(h, h->loaded, G1, NULL), 0, "G1 maps another frame now: its entry must go");
	e = sleaf(h, h->loaded, G1 + 0x1000, NULL);
	cr_assert_eq(e & (A52 | E_P | E_W), (F1 + 0x1000 + MPA_OFF) | E_P,
		     "G1 + 0x1000 read-only: kept, without W (%#llx)", (unsigned long long)e);
	cr_assert_eq(sleaf(h, h->loaded, G1 + 0x2000, NULL), before[2], "an entry the guest did not change was touched");
	cr_assert_eq(sleaf(h, h->loaded, G1 + 0x3000, NULL), before[3], "an entry the guest did not change was touched");

	cr_assert_eq(check_access(h, G1 + 0x2000, AX_W, NULL, "unchanged, still writable").mpa, F1 + 0x2000 + MPA_OFF);
	cr_assert_eq(check_access(h, G1 + 0x3000, AX_R, NULL, "unchanged").mpa, F1 + 0x3000 + MPA_OFF);
	cr_assert_eq(check_access(h, G1 + 0x1000, AX_R, NULL, "read-only, still mapped").mpa, F1 + 0x1000 + MPA_OFF);
	cr_assert_eq(h->m.stats.pf_taken, taken, "an entry the sync kept faulted");
	cr_assert_eq(check_access(h, G1 + 0x1000, AX_W, NULL, "the guest's own fault").last, PF_GUEST);
	cr_assert_eq(check_access(h, G1, AX_R, NULL, "G1 -> F2").mpa, F2 + MPA_OFF);
	check_state(h, "end");
	h_free(h);
}

/*
 * unsync, INVLPG: it flushes one address, so it syncs the one shadow entry
 * that maps it and leaves the table out of sync (KVM's FNAME(invlpg)).
 * The guest points G1 and G1 + 0x1000 at new frames natively and
 * INVLPGs G1 only: G1 must map its new frame at once, G1 + 0x1000 may
 * keep its old translation (the guest has not flushed it: a TLB may too),
 * and the table is still written natively, without a fault; INVLPG of
 * G1 + 0x1000 then brings that one; the CR3 load syncs what is left.
 */
Test(mmu_unsync, invlpg_syncs_only_its_address)
{
	uint64_t cr3, pt, taken, old1;
	struct h *h = strat_setup(SYNC_UNSYNC, &cr3, &pt);

	map64(h, cr3, G1 + 0x2000, 1, (F1 + 0x2000) | E_P | E_W | E_U | E_A | E_D, UP);
	for (unsigned k = 0; k < 3; k++)
		check_access(h, G1 + k * 0x1000, AX_R, NULL, "fill");
	check_state(h, "filled");
	old1 = sleaf(h, h->loaded, G1 + 0x1000, NULL);

	cr_assert_eq(guest_store(h, pte_at(pt, G1), F2 | E_P | E_W | E_U | E_A | E_D, 8, false, "G1 -> F2"),
		     ST_NATIVE);
	cr_assert_eq(guest_store(h, pte_at(pt, G1 + 0x1000), (F2 + 0x1000) | E_P | E_W | E_U | E_A | E_D, 8, false,
				 "G1 + 0x1000 -> F2 + 0x1000"), ST_NATIVE);
	cr_assert_eq(h->m.stats.mmu_unsync, 1);

	h_invlpg(h, G1);
	check_state(h, "after INVLPG G1");
	cr_assert_eq(h->m.stats.unsync_synced, 0, "INVLPG synced the whole table");
	cr_assert_eq(sleaf(h, h->loaded, G1 + 0x1000, NULL), old1, "INVLPG G1 changed the entry of G1 + 0x1000");
	cr_assert_eq(sleaf(h, h->loaded, G1, NULL) & A52, F2 + MPA_OFF,
		     "INVLPG G1 installs the guest's new entry (FNAME(invlpg) -> FNAME(prefetch_gpte))");
	cr_assert_eq(h->m.stats.mmu_pte_updated, 1, "the install at INVLPG: mmu_pte_updated %llu",
		     (unsigned long long)h->m.stats.mmu_pte_updated);
	taken = h->m.stats.pf_taken;
	cr_assert_eq(check_access(h, G1, AX_R, NULL, "G1 -> F2 after its INVLPG").mpa, F2 + MPA_OFF);
	cr_assert_eq(h->m.stats.pf_taken, taken, "G1 faulted after INVLPG installed it");

	/* Still out of sync: written natively, no fault, no new unsync. */
	cr_assert_eq(guest_store(h, pte_at(pt, G1 + 0x2000), (F2 + 0x2000) | E_P | E_W | E_U | E_A | E_D, 8, false,
				 "G1 + 0x2000 -> F2 + 0x2000"), ST_NATIVE, "INVLPG write-protected the table again");
	cr_assert_eq(h->m.stats.pf_taken, taken);
	cr_assert_eq(h->m.stats.mmu_unsync, 1);

	h_invlpg(h, G1 + 0x1000);
	check_state(h, "after INVLPG G1 + 0x1000");
	cr_assert_eq(check_access(h, G1 + 0x1000, AX_R, NULL, "G1 + 0x1000 -> F2 + 0x1000").mpa, F2 + 0x1000 + MPA_OFF);

	note(h, "MOV CR3 (same)");
	cpu_set(h, h->g, true);
	cr_assert_eq(h->m.stats.unsync_synced, 1);
	check_state(h, "after the CR3 load");
	cr_assert_eq(check_access(h, G1 + 0x2000, AX_R, NULL, "G1 + 0x2000 -> F2 + 0x2000").mpa, F2 + 0x2000 + MPA_OFF);
	h_free(h);
}

/* unsync: a table shadowed above level 1 is never let out of sync. */
Test(mmu_unsync, upper_tables_are_emulated)
{
	uint64_t cr3, pt;
	struct h *h = strat_setup(SYNC_UNSYNC, &cr3, &pt);

	check_access(h, G1, AX_R, NULL, "fill");
	check_access(h, G1 + 0x1000, AX_R, NULL, "fill");
	cr_assert_eq(guest_store(h, ent64(h, cr3, G1, 2, 0), 0, 8, false, "PDE of G1 not present"), ST_EMULATED);
	cr_assert_eq(h->m.stats.mmu_unsync, 0);
	check_state(h, "right after the PDE store, no flush");
	cr_assert_eq(check_access(h, G1 + 0x1000, AX_R, NULL, "unmapped").last, PF_GUEST);
	cr_assert_eq(guest_store(h, cr3 + 8 * 5, 0, 8, false, "PML4"), ST_EMULATED);
	cr_assert_eq(h->m.stats.mmu_unsync, 0);
	h_free(h);
}

/*
 * Roots stay cached across CR3 switches: back in an address space its
 * root is found (root_hits) with its entries, while what the guest changed
 * meanwhile (from the other address space) is seen.  vtlb, for contrast,
 * flushes at every CR3 write.
 */
static void roots_kept(enum mmu_sync sync)
{
	struct h *h = h_new_s(64, sync);
	uint64_t a = new_table(h), b = new_table(h), g3 = G1 + 0x200000, pt3, ra, hits, misses;
	struct acc x;

	map64(h, a, G1, 1, F1 | E_P | E_W | E_U | E_A | E_D, UP);
	map64(h, a, g3, 1, (F1 + 0x1000) | E_P | E_W | E_U | E_A | E_D, UP);   /* a page table of its own */
	map64(h, b, G1, 1, F2 | E_P | E_W | E_U | E_A | E_D, UP);
	map_window64(h, a);
	map_window64(h, b);
	pt3 = ent64(h, a, g3, 1, 0) & ~0xfffULL;
	cpu_set(h, gs(MODE_P64, a, false, true, true), false);
	ra = h->loaded;
	check_access(h, G1, AX_W, NULL, "A: G1");
	check_access(h, g3, AX_R, NULL, "A: G3");

	misses = h->m.stats.root_misses;
	cpu_set(h, gs(MODE_P64, b, false, true, true), true);
	cr_assert_eq(h->m.stats.root_misses - misses, 1);
	cr_assert_eq(check_access(h, G1, AX_R, NULL, "B: G1").mpa, F2 + MPA_OFF);
	/* From B, A's PTE for G3 -> F2 + 0x1000, through B's window. */
	guest_store(h, pte_at(pt3, g3), (F2 + 0x1000) | E_P | E_W | E_U | E_A | E_D, 8, false,
		    "B changes A's PTE for G3");
	check_state(h, "in B");

	hits = h->m.stats.root_hits;
	misses = h->m.stats.root_misses;
	cpu_set(h, gs(MODE_P64, a, false, true, true), true);
	cr_assert_eq(h->m.stats.root_hits - hits, 1, "root_hits back in A");
	cr_assert_eq(h->m.stats.root_misses - misses, 0, "root_misses back in A");
	cr_assert_eq(h->loaded, ra, "back in A with another root");
	check_state(h, "back in A");
	if (sync == SYNC_VTLB) {
		cr_assert_eq(sleaf(h, h->loaded, G1, NULL), 0, "vtlb: a CR3 write keeps non-global leaves");
	} else {
		cr_assert(sleaf(h, h->loaded, G1, NULL) & E_W, "%s: A's leaf for G1 was lost over the CR3 switches",
			  sync_name[sync]);
		x = check_access(h, G1, AX_W, NULL, "A: G1 again");
		cr_assert_eq(x.calls, 0, "%s: A's G1 faulted again after a round trip", sync_name[sync]);
	}
	x = check_access(h, g3, AX_R, NULL, "A: G3 maps what B wrote");
	cr_assert_eq(x.mpa, F2 + 0x1000 + MPA_OFF);
	check_state(h, "end");
	h_free(h);
}

/*
 * root_hits + root_misses count root lookups (docs/counters.md): one per
 * change of what selects the root (CR3, view, CR0.WP, EFER.NXE, paging
 * mode), plus a root the cache lost to recycling.  A reload of the real
 * CR3 that only flushes its TLB (after an INVLPG, a zap) finds the same
 * root and is not counted: the regression for root_hits growing with
 * vtlb's INVLPGs (issue 16, point 3).
 */
static void lookups_counted(enum mmu_sync sync)
{
	struct h *h = h_new_s(64, sync);
	uint64_t a = make_as(h, 0, E_P | E_W | E_U | E_A), n;

#define LOOKUPS (h->m.stats.root_hits + h->m.stats.root_misses)
	cpu_set(h, gs(MODE_P64, a, false, true, true), false);
	check_access(h, G1, AX_R, NULL, "fill");
	n = LOOKUPS;
	h_invlpg(h, G1);
	h->m.need_reload = true;                /* a plain flush of the real TLB */
	reload(h);
	cr_assert_eq(LOOKUPS, n, "%s: flush reloads counted as root lookups", sync_name[sync]);
	cpu_set(h, gs(MODE_P64, a, false, true, true), true);
	cr_assert_eq(LOOKUPS, n + 1, "%s: a CR3 write is one lookup", sync_name[sync]);
	cpu_set(h, gs(MODE_P64, a, true, true, true), false);
	cr_assert_eq(LOOKUPS, n + 2, "%s: a view change is one lookup", sync_name[sync]);
	h_zap_all(h);
	cr_assert_eq(LOOKUPS, n + 3, "%s: a root lost to a zap is a miss", sync_name[sync]);
#undef LOOKUPS
	h_free(h);
}

Test(mmu_roots, lookups_counted_vtlb)
{
	lookups_counted(SYNC_VTLB);
}

Test(mmu_roots, lookups_counted_wp)
{
	lookups_counted(SYNC_WP);
}

Test(mmu_roots, lookups_counted_unsync)
{
	lookups_counted(SYNC_UNSYNC);
}

Test(mmu_roots, kept_across_cr3_switches_vtlb)
{
	roots_kept(SYNC_VTLB);
}

Test(mmu_roots, kept_across_cr3_switches_wp)
{
	roots_kept(SYNC_WP);
}

Test(mmu_roots, kept_across_cr3_switches_unsync)
{
	roots_kept(SYNC_UNSYNC);
}

/*
 * The root the real CR3 holds is dropped (mmu_zap_all): it stays, with the
 * monitor's entry, until the first trap after the CPU has left it.
 */
Test(mmu_roots, dropped_loaded_root_is_retired_until_the_next_trap)
{
	uint64_t cr3, pt, old;
	struct h *h = strat_setup(SYNC_WP, &cr3, &pt);
	const struct sp *sp;

	check_access(h, G1, AX_R, NULL, "fill");
	old = h->loaded;
	sp = sp_at(h, old);
	trap(h);
	mmu_zap_all(&h->m);
	cr_assert(sp->used && sp->retired, "the loaded root was not retired");
	cr_assert_eq(spage(h, old)[T_MON], MON_E, "the retired root lost the monitor");
	for (unsigned i = 0; i < 512; i++)
		cr_assert(i == T_MON || spage(h, old)[i] == 0, "the retired root keeps entry %u", i);
	reload(h);                       /* checks the monitor entry at the switch */
	cr_assert_neq(h->loaded, old, "a retired root was loaded again");
	cr_assert(sp->used, "freed before the next trap");
	trap(h);
	cr_assert_not(sp->used, "not freed at the next trap");
	check_state(h, "after the trap");
	check_access(h, G1, AX_R, NULL, "refill");
	check_state(h, "end");
	h_free(h);
}

/* PAE: the PDPTE registers are loaded at CR3 loads; in wp and unsync the
 * cached root must not keep links made from the old ones. */
static void pae_pdpte_reload(enum mmu_sync sync)
{
	struct h *h = h_new_s(64, sync);
	uint64_t pdpt = new_table(h), pdx = new_table(h), pdy = new_table(h), ptx = new_table(h),
		 pty = new_table(h), other = new_table(h);
	struct gstate g;

	wr(h, pdpt, pdx | E_P, 8);
	wr(h, other, pdx | E_P, 8);
	wr(h, pdx, ptx | UP, 8);
	wr(h, pdy, pty | UP, 8);
	wr(h, ptx + 8, 0x401000 | E_P | E_W | E_U | E_A | E_D, 8);
	wr(h, ptx + 16, 0x402000 | E_P | E_W | E_U | E_A | E_D, 8);
	wr(h, pty + 8, 0x501000 | E_P | E_W | E_U | E_A | E_D, 8);
	g = gs(MODE_PAE, pdpt, false, true, true);
	cpu_set(h, g, false);
	cr_assert_eq(check_access(h, 0x1000, AX_R, NULL, "through PD X").mpa, 0x401000 + MPA_OFF);
	cr_assert_eq(check_access(h, 0x2000, AX_R, NULL, "through PD X").mpa, 0x402000 + MPA_OFF);

	/* PDPTE 0 -> PD Y, then MOV CR3 (same value): the registers now say Y. */
	wr(h, pdpt, pdy | E_P, 8);
	note(h, "PDPTE 0 -> PD Y; MOV CR3 (same)");
	cpu_set(h, g, true);
	check_state(h, "after the CR3 load with a new PDPTE 0");
	cr_assert_eq(check_access(h, 0x1000, AX_R, NULL, "through PD Y").mpa, 0x501000 + MPA_OFF);

	/* The same across a switch: change it while another CR3 runs. */
	cpu_set(h, gs(MODE_PAE, other, false, true, true), true);
	check_access(h, 0x1000, AX_R, NULL, "other: through PD X");
	wr(h, pdpt, pdx | E_P, 8);
	note(h, "(in the other address space) PDPTE 0 of the first -> PD X; back with MOV CR3");
	cpu_set(h, g, true);
	check_state(h, "back, PDPTE 0 -> X");
	cr_assert_eq(check_access(h, 0x1000, AX_R, NULL, "through PD X again").mpa, 0x401000 + MPA_OFF);
	h_free(h);
}

Test(mmu_paging32e, cr3_load_rereads_the_pdptes_vtlb)
{
	pae_pdpte_reload(SYNC_VTLB);
}

Test(mmu_paging32e, cr3_load_rereads_the_pdptes_wp)
{
	pae_pdpte_reload(SYNC_WP);
}

Test(mmu_paging32e, cr3_load_rereads_the_pdptes_unsync)
{
	pae_pdpte_reload(SYNC_UNSYNC);
}

/*
 * A 32-bit guest turns CR4.PSE off, so its 4 MiB PDE now points at a page
 * table, and flushes (MOV CR3).  The direct shadow page made for the 4 MiB
 * page must not keep mapping it (CR4.PSE is not in the role).
 */
static void pse_off(enum mmu_sync sync)
{
	struct h *h = h_new_s(64, sync);
	uint64_t pd = new_table(h);
	struct gstate g;

	/* 4 MiB page at 4 MiB -> frame 8 MiB; as a page table, 8 MiB is all zeros. */
	memset(gptr(h, 0x800000, PAGE), 0, PAGE);
	wr(h, pd + 4, 0x800000 | E_P | E_W | E_U | E_A | E_D | E_PS, 4);
	g = gs(MODE_P32, pd, false, true, false);
	g.pse = true;
	cpu_set(h, g, false);
	cr_assert_eq(check_access(h, 0x401000, AX_R, NULL, "4 MiB page").mpa, 0x801000 + MPA_OFF);
	g.pse = false;
	note(h, "MOV CR4: PSE off; MOV CR3");
	cpu_set(h, g, true);
	cpu_set(h, g, true);
	check_state(h, "CR4.PSE off");
	cr_assert_eq(check_access(h, 0x401000, AX_R, NULL, "through the PDE as a page table").last, PF_GUEST);
	h_free(h);
}

Test(mmu_paging32, pse_off_drops_large_pages_vtlb)
{
	pse_off(SYNC_VTLB);
}

Test(mmu_paging32, pse_off_drops_large_pages_wp)
{
	pse_off(SYNC_WP);
}

Test(mmu_paging32, pse_off_drops_large_pages_unsync)
{
	pse_off(SYNC_UNSYNC);
}


/*
 * 2 MiB shadow leaves (shadow mode's default) and guest tables: a guest
 * large page that holds a table the shadow follows must be split, so that
 * the guest's stores to the table through it trap; one that starts holding
 * such a table after its 2 MiB leaf was made must lose the leaf.
 */
static void large_leaf_and_tables(enum mmu_sync sync)
{
	struct h *h = h_new_s(64, sync);
	uint64_t cr3 = new_table(h), la = 0x0000004040000000ULL, lz = la + 0x200000, g4 = 0x0000004080000000ULL;
	uint64_t ptn = 0x605000, pde4, pte = E_P | E_W | E_U | E_A | E_D;
	struct acc a;

	h->m.large_pages = true;
	map64(h, cr3, la, 2, 0x600000 | pte | E_PS, UP);               /* data, for now */
	map64(h, cr3, lz, 2, 0x000000 | pte | E_PS, UP);               /* over the page tables at 1 MiB */
	map64(h, cr3, g4 + 0x200000, 1, (F1 + 0x1000) | pte, UP);     /* its neighbour in the same PD */
	map_window64(h, cr3);
	pde4 = ent64(h, cr3, g4, 2, UP);                                /* the PDE for g4: not present yet */
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);
	check_access(h, g4 + 0x200000, AX_R, NULL, "the PD of g4 is shadowed");

	check_access(h, la + 0x3000, AX_W, NULL, "fill the 2 MiB page");
	cr_assert(sleaf(h, h->loaded, la, NULL) & E_PS, "no 2 MiB shadow leaf for a plain 2 MiB page");
	check_access(h, la + 0x5000, AX_W, NULL, "a write to frame 0x605000 (the real TLB keeps it)");
	check_access(h, lz + 0x1000, AX_R, NULL, "fill the 2 MiB page over the tables");
	if (sync != SYNC_VTLB)
		cr_assert_not(sleaf(h, h->loaded, lz + 0x1000, NULL) & E_PS,
			      "%s: a 2 MiB shadow leaf over a page table the shadow follows", sync_name[sync]);
	check_state(h, "filled");
	if (sync != SYNC_VTLB) {
		/* The guest's PML4 through the large page: the store traps. */
		cr_assert_eq(guest_store_at(h, lz + cr3 + 8 * 5, cr3 + 8 * 5, 0, 8, false, "PML4 through the 2 MiB page"),
			     ST_EMULATED);
		check_state(h, "after the store through the 2 MiB page");
	}

	/* Frame 0x605000, inside the first large page, becomes a page table. */
	wr(h, ptn + 8 * 0, F1 | pte, 8);
	guest_store(h, pde4, ptn | UP, 8, false, "PDE for g4 -> 0x605000");
	if (sync == SYNC_VTLB)
		h_invlpg(h, g4);
	check_access(h, g4, AX_R, NULL, "a fill through the new table");
	check_state(h, "the new table is shadowed");
	if (sync != SYNC_VTLB)
		cr_assert_not(sleaf(h, h->loaded, la, NULL) & E_PS,
			      "%s: the 2 MiB shadow leaf over a page table the shadow now follows survived", sync_name[sync]);
	/* The guest rewrites its new table through the large page. */
	guest_store_at(h, la + 0x5000, ptn, F2 | pte, 8, false, "g4 -> F2 through the 2 MiB page");
	if (sync == SYNC_VTLB)
		h_invlpg(h, g4);
	else if (sync == SYNC_UNSYNC)
		cpu_set(h, h->g, true);
	check_state(h, "after the store");
	a = check_access(h, g4, AX_R, NULL, "g4 -> F2");
	cr_assert_eq(a.mpa, F2 + MPA_OFF);
	cr_assert_eq(check_access(h, la + 0x3008, AX_R, NULL, "the rest of the page").mpa, 0x603008 + MPA_OFF);
	h_free(h);
}

Test(mmu_large, shadow_2m_leaf_and_guest_tables_vtlb)
{
	large_leaf_and_tables(SYNC_VTLB);
}

Test(mmu_large, shadow_2m_leaf_and_guest_tables_wp)
{
	large_leaf_and_tables(SYNC_WP);
}

Test(mmu_large, shadow_2m_leaf_and_guest_tables_unsync)
{
	large_leaf_and_tables(SYNC_UNSYNC);
}

/*
 * wp, paging32: 4-byte entries.  One 8-byte store rewrites two PTEs; a
 * store to a 4 MiB PDE stands for two shadow entries (one per 2 MiB).
 * Both must be followed at once.  (The window's GiB is filled first through
 * a frame that is no table, see mmu_wp/leaf_for_a_table_shadowed_by_the_same_fill_is_read_only.)
 */
Test(mmu_paging32, wp_follows_every_entry_a_store_covers)
{
	struct h *h = h_new_s(64, SYNC_WP);
	uint64_t pd = new_table(h), wpt = new_table(h), pt;
	uint64_t pte = E_P | E_W | E_U | E_A | E_D;
	struct gstate g;

	map32(h, pd, 0x2000, 0x402000 | pte, E_P | E_W | E_U | E_A);
	map32(h, pd, 0x3000, 0x403000 | pte, E_P | E_W | E_U | E_A);
	pt = rd(h, pd, 4) & 0xfffff000ULL;
	wr(h, pd + 4, 0x800000 | pte | E_PS, 4);                        /* 4 MiB at 4 MiB */
	wr(h, pd + 4 * (WIN32 >> 22), wpt | E_P | E_W | E_A, 4);       /* the window */
	for (unsigned i = 0; i < WIN_FRAMES; i++)
		wr(h, wpt + 4 * i, (TBL_BASE + i * PAGE) | E_P | E_W | E_A, 4);
	g = gs(MODE_P32, pd, false, true, false);
	g.pse = true;
	cpu_set(h, g, false);
	check_access(h, win_gva(h, TBL_BASE + 50 * PAGE), AX_R, NULL, "the window's GiB, through no table");
	check_access(h, 0x2000, AX_R, NULL, "fill");
	check_access(h, 0x3000, AX_R, NULL, "fill");
	check_access(h, 0x401000, AX_R, NULL, "fill the first 2 MiB of the 4 MiB page");
	check_access(h, 0x601000, AX_R, NULL, "fill the second 2 MiB");
	check_state(h, "filled");

	cr_assert_eq(guest_store(h, pt + 8, (0x502000 | pte) | (0x503000 | pte) << 32, 8, false, "PTEs 2 and 3 at once"),
		     ST_EMULATED);
	check_state(h, "right after the 8-byte store");
	cr_assert_eq(check_access(h, 0x2000, AX_R, NULL, "PTE 2").mpa, 0x502000 + MPA_OFF);
	cr_assert_eq(check_access(h, 0x3000, AX_R, NULL, "PTE 3").mpa, 0x503000 + MPA_OFF);

	cr_assert_eq(guest_store(h, pd + 4, 0xc00000 | pte | E_PS, 4, false, "the 4 MiB PDE -> 12 MiB"), ST_EMULATED);
	check_state(h, "right after the PDE store");
	cr_assert_eq(check_access(h, 0x401000, AX_R, NULL, "first half").mpa, 0xc01000 + MPA_OFF);
	cr_assert_eq(check_access(h, 0x601000, AX_R, NULL, "second half").mpa, 0xe01000 + MPA_OFF);
	cr_assert_eq(h->st_native, 0);
	h_free(h);
}

/* The same as mmu_wp/unprotect_of_the_pml4_the_store_walks_through for a
 * 32-bit guest, whose page directory every store walks through. */
static void p32_unprotect_pd(enum mmu_sync sync)
{
	struct h *h = h_new_s(64, sync);
	uint64_t pd = new_table(h), wpt = new_table(h);
	struct gstate g;

	map32(h, pd, 0x2000, 0x402000 | E_P | E_W | E_U | E_A | E_D, E_P | E_W | E_U | E_A);
	wr(h, pd + 4 * (WIN32 >> 22), wpt | E_P | E_W | E_A, 4);
	for (unsigned i = 0; i < WIN_FRAMES; i++)
		wr(h, wpt + 4 * i, (TBL_BASE + i * PAGE) | E_P | E_W | E_A, 4);
	g = gs(MODE_P32, pd, false, true, false);
	cpu_set(h, g, false);
	check_access(h, win_gva(h, TBL_BASE + 50 * PAGE), AX_R, NULL, "the window's GiB, through no table");
	check_access(h, 0x2000, AX_R, NULL, "fill");
	guest_store(h, pd + 4 * 5, 0, 4, true, "PDE 5, not emulable");
	cr_assert_eq(h->st_unprotected, 1);
	check_state(h, "after the store");
	cpu_set(h, g, true);
	check_state(h, "after the CR3 load");
	cr_assert_eq(check_access(h, 0x2000, AX_R, NULL, "refill").mpa, 0x402000 + MPA_OFF);
	cr_assert_eq(guest_store(h, pd + 4 * 5, 0, 4, false, "followed again"), ST_EMULATED);
	h_free(h);
}

Test(mmu_paging32, wp_unprotect_of_the_pd_the_store_walks_through)
{
	p32_unprotect_pd(SYNC_WP);
}

Test(mmu_paging32, unsync_unprotect_of_the_pd_the_store_walks_through)
{
	p32_unprotect_pd(SYNC_UNSYNC);
}

/* ===================================================================== */
/* 8c. the reverse map: mmu_zap_gfn_range                                */
/* ===================================================================== */

#define LEAFSET_MAX 2048

/* Leaves of the shadow trees, by the test's own walk: where, and what. */
struct leafset {
	uint64_t *at[LEAFSET_MAX];
	uint64_t val[LEAFSET_MAX];
	unsigned n;
};

static void collect_leaves(struct h *h, uint64_t *t, int level, struct leafset *ls)
{
	for (unsigned i = 0; t && i < 512; i++) {
		uint64_t e = t[i];
		bool seen = false;

		if (!(e & E_P) || (level == 4 && i == T_MON))
			continue;
		if (level > 1 && !(level == 2 && (e & E_PS))) {
			collect_leaves(h, spage(h, e & A52), level - 1, ls);
			continue;
		}
		for (unsigned k = 0; k < ls->n && !seen; k++)
			seen = ls->at[k] == &t[i];
		if (seen)
			continue;
		cr_assert_lt(ls->n, LEAFSET_MAX);
		ls->at[ls->n] = &t[i];
		ls->val[ls->n++] = e;
	}
}

/* Every leaf reachable from a cached root (a shared shadow page once). */
static void all_leaves(struct h *h, struct leafset *ls)
{
	ls->n = 0;
	for (int v = 0; v < 2; v++)
		for (int i = 0; i < MMU_ROOT_CACHE; i++)
			if (h->m.root_cache[v][i])
				collect_leaves(h, spage(h, h->m.root_cache[v][i]->mpa), 4, ls);
}

/* Does the leaf (a 4 KiB one, or a 2 MiB one: PS) map any of the frames? */
static bool leaf_in(uint64_t e, uint64_t gfn, uint64_t count)
{
	uint64_t f = ((e & A52) - MPA_OFF) >> 12, n = 1;

	if (e & E_PS) {
		f &= ~511ULL;
		n = 512;
	}
	return f < gfn + count && gfn < f + n;
}

/*
 * ombra's own mapping of two guest frames changes: mmu_zap_gfn_range must
 * zap exactly the leaves that map them (aliases, both views, both address
 * spaces, a split large page) and nothing else, and flush the real TLB.
 */
static void zap_range(enum mmu_sync sync)
{
	static struct leafset before, after;
	struct h *h = h_new_s(64, sync);
	const uint64_t f = 0x605000, lv = 0x0000004040000000ULL, pte = E_P | E_W | E_U | E_A | E_D;
	static const uint64_t gvas[] = { G1, G1 + 0x1000, G1 + 0x2000, G1 + 0x3000, lv + 0x5000, lv + 0x6000,
					 lv + 0x7000, lv + 0x4000 };
	uint64_t a = new_table(h), b = new_table(h), pt, zapped, inr = 0;
	struct gstate g;

	map64(h, a, G1, 1, f | pte, UP);
	map64(h, a, G1 + 0x1000, 1, f | pte, UP);                       /* an alias */
	map64(h, a, G1 + 0x2000, 1, (f + 0x1000) | pte, UP);
	map64(h, a, G1 + 0x3000, 1, (f + 0x2000) | pte, UP);            /* not in the range */
	map64(h, a, lv, 2, 0x600000 | pte | E_PS, UP);                  /* 2 MiB over all of them */
	map64(h, b, G1, 1, f | pte, UP);
	map_window64(h, a);
	map_window64(h, b);
	pt = ent64(h, a, G1, 1, 0) & ~0xfffULL;
	cpu_set(h, gs(MODE_P64, b, false, true, true), false);
	check_access(h, G1, AX_W, NULL, "B: G1");
	check_access(h, win_gva(h, pt), AX_R, NULL, "B: A's PT through the window");
	g = gs(MODE_P64, a, false, true, true);
	for (int user = 1; user >= 0; user--) {
		g.user = user;
		cpu_set(h, g, user);                    /* (vtlb: B's leaves go at the CR3 write) */
		for (unsigned i = 0; i < sizeof(gvas) / sizeof(gvas[0]); i++)
			check_access(h, gvas[i], i & 1 ? AX_W : AX_R, NULL, "fill");
	}
	check_access(h, win_gva(h, pt), AX_R, NULL, "A: the PT through the window");
	check_state(h, "filled");

	all_leaves(h, &before);
	for (unsigned k = 0; k < before.n; k++)
		inr += leaf_in(before.val[k], f >> 12, 2);
	cr_assert_geq(inr, sync == SYNC_VTLB ? 10u : 11u, "only %llu leaves map the frames: the test fills too little",
		      (unsigned long long)inr);
	zapped = h->m.stats.rmap_zapped;
	trap(h);
	mmu_zap_gfn_range(&h->m, f >> 12, 2);
	cr_assert(h->m.need_reload, "mmu_zap_gfn_range must flush the real TLB");
	for (unsigned k = 0; k < before.n; k++) {
		uint64_t now = *before.at[k];

		if (leaf_in(before.val[k], f >> 12, 2))
			cr_assert_eq(now, 0, "%s: a leaf mapping frame %#llx survived (%#llx)", sync_name[sync],
				     (unsigned long long)(((before.val[k] & A52) - MPA_OFF)), (unsigned long long)now);
		else
			cr_assert_eq(now, before.val[k], "%s: a leaf mapping frame %#llx changed (%#llx -> %#llx)",
				     sync_name[sync], (unsigned long long)(((before.val[k] & A52) - MPA_OFF)),
				     (unsigned long long)before.val[k], (unsigned long long)now);
	}
	all_leaves(h, &after);
	cr_assert_eq(after.n, before.n - inr, "leaves appeared or went elsewhere");
	cr_assert_eq(h->m.stats.rmap_zapped - zapped, inr, "rmap_zapped");
	check_state(h, "after the zap");
	check_access(h, G1, AX_W, NULL, "A: G1 refilled");

	/* A guest page table's frame: its leaves go (the window's), the shadow
	 * page that stands for it stays, and so does its write protection. */
	cr_assert(sleaf(h, h->loaded, G1, NULL));
	all_leaves(h, &before);
	inr = 0;
	for (unsigned k = 0; k < before.n; k++)
		inr += leaf_in(before.val[k], pt >> 12, 1);
	cr_assert_geq(inr, 1u);
	zapped = h->m.stats.rmap_zapped;
	trap(h);
	mmu_zap_gfn_range(&h->m, pt >> 12, 1);
	cr_assert_eq(h->m.stats.rmap_zapped - zapped, inr);
	for (unsigned k = 0; k < before.n; k++)
		cr_assert_eq(*before.at[k], leaf_in(before.val[k], pt >> 12, 1) ? 0 : before.val[k]);
	check_state(h, "after zapping the PT's frame");
	for (unsigned i = 0; i < sizeof(gvas) / sizeof(gvas[0]); i++)
		check_access(h, gvas[i], AX_W, NULL, "refill");
	check_access(h, win_gva(h, pt), AX_R, NULL, "the PT through the window again");
	if (sync != SYNC_VTLB) {
		cr_assert_not(sleaf(h, h->loaded, win_gva(h, pt), NULL) & E_W,
			      "%s: the refilled leaf of a shadowed page table is writable", sync_name[sync]);
		cr_assert_eq(guest_store(h, pte_at(pt, G1 + 0x3000), (f + 0x3000) | pte, 8, false, "store"),
			     sync == SYNC_WP ? ST_EMULATED : ST_NATIVE);
	}
	check_state(h, "end");
	h_free(h);
}

Test(mmu_rmap, zap_gfn_range_zaps_exactly_the_leaves_vtlb)
{
	zap_range(SYNC_VTLB);
}

Test(mmu_rmap, zap_gfn_range_zaps_exactly_the_leaves_wp)
{
	zap_range(SYNC_WP);
}

Test(mmu_rmap, zap_gfn_range_zaps_exactly_the_leaves_unsync)
{
	zap_range(SYNC_UNSYNC);
}

/* ===================================================================== */
/* 9. random sequences                                                   */
/* ===================================================================== */

/* The shape of the random guest tables for one paging mode. */
struct geo {
	int mode, top;
	unsigned esize, ibits;
	unsigned nfr[5], fr0[5];   /* table frames per level, and the first one */
	unsigned nidx[5];
	unsigned idx[5][6];        /* the indices used per level */
	unsigned large;            /* bit l: PS at level l maps a page */
};

static uint64_t fr_gpa(unsigned fr)
{
	return TBL_BASE + fr * PAGE;
}

static void geo_init(struct geo *G, int mode, unsigned nas, bool pse)
{
	static const unsigned i64[5][6] = { { 0 }, { 0, 1, 2, 3, 200, 511 }, { 0, 1, 7, 511 },
					    { 0, 1, 2, 511 }, { 0, 1, 255, 511 } };
	static const unsigned i32[3][6] = { { 0 }, { 0, 1, 2, 3, 512, 1023 }, { 0, 1, 2, 512, 768, 1023 } };

	memset(G, 0, sizeof(*G));
	G->mode = mode;
	if (mode == MODE_P32) {
		G->top = 2;
		G->esize = 4;
		G->ibits = 10;
		G->nfr[2] = nas;
		G->nfr[1] = 12;
		G->nidx[1] = G->nidx[2] = 6;
		memcpy(G->idx[1], i32[1], sizeof(i32[1]));
		memcpy(G->idx[2], i32[2], sizeof(i32[2]));
		G->large = pse ? 1u << 2 : 0;
	} else {
		G->top = mode == MODE_P64 ? 4 : 3;
		G->esize = 8;
		G->ibits = 9;
		G->nfr[G->top] = nas;
		for (int l = 1; l < G->top; l++)
			G->nfr[l] = l == 1 ? 12 : l == 2 ? 8 : 6;
		for (int l = 1; l <= 4; l++) {
			G->nidx[l] = l == 1 ? 6 : 4;
			memcpy(G->idx[l], i64[l], sizeof(i64[l]));
		}
		if (mode == MODE_PAE) {
			static const unsigned pdpt[3] = { 0, 1, 2 };   /* PDPTE 3: the window */

			memcpy(G->idx[3], pdpt, sizeof(pdpt));
			G->nidx[3] = 3;
			G->large = 1u << 2;
		} else {
			G->large = (1u << 2) | (1u << 3);
		}
	}
	/* Top-level frames first (the address spaces), then downwards. */
	for (int l = G->top, fr = 0; l >= 1; l--) {
		G->fr0[l] = (unsigned)fr;
		fr += (int)G->nfr[l];
	}
	cr_assert_leq(G->fr0[1] + G->nfr[1], TBL_FRAMES);
}

/*
 * A random entry for the slot k of table frame fr at level.  Large pages
 * map a frame of their own per (table, slot): two large PDEs never alias
 * (mmu_large/aliased_large_pages_keep_their_own_dirty_bits tests that).
 */
static uint64_t gen_entry(uint64_t *s, const struct geo *G, int level, unsigned fr, unsigned k)
{
	uint64_t e = 0, addr;
	bool leaf = level == 1, large = false;
	unsigned n = fr - G->fr0[level];

	if (G->mode == MODE_PAE && level == 3) {
		if (rn(s, 10) == 0)
			return 0;
		addr = rn(s, 40) == 0 ? BAD_GPA : fr_gpa(G->fr0[2] + rn(s, G->nfr[2]));
		return addr | E_P;
	}
	if (!leaf && ((G->large >> level) & 1) && rn(s, 4) == 0) {
		large = leaf = true;
		if (level == 3)
			addr = GiB * (1 + n * 4 + k);
		else if (G->mode == MODE_P32)
			addr = 4 * MiB * (1 + n * 6 + k);
		else
			addr = 2 * MiB * (2 + n * 4 + k);
		if (rn(s, 8) == 0 && level == 2)
			addr += 0xe0000000ULL;           /* MMIO */
	} else if (leaf) {
		addr = rn(s, 16) == 0 ? MMIO_4K + rn(s, 256) * PAGE
				      : DATA_LO + rn(s, (unsigned)((RAM_SIZE - DATA_LO) / PAGE)) * PAGE;
	} else {
		addr = rn(s, 50) == 0 ? BAD_GPA : fr_gpa(G->fr0[level - 1] + rn(s, G->nfr[level - 1]));
	}
	/* Upper entries mostly allow everything, so that enough walks get
	 * down to leaves that differ. */
	e = addr;
	if (large)
		e |= E_PS;
	if (rn(s, 16))
		e |= E_P;
	if (leaf ? rn(s, 4) : rn(s, 8))
		e |= E_W;
	if (leaf ? rn(s, 4) : rn(s, 8))
		e |= E_U;
	if (rn(s, 2))
		e |= E_A;
	if (leaf && rn(s, 2))
		e |= E_D;
	if (leaf && rn(s, 4) == 0)
		e |= E_G;
	if (G->esize == 8 && rn(s, leaf ? 6 : 12) == 0)
		e |= E_NX;
	if (G->esize == 8 && rn(s, 80) == 0)
		e |= 1ULL << 45;                          /* reserved (MAXPHYADDR 40) */
	if (G->esize == 4 && large && rn(s, 30) == 0)
		e |= 1ULL << 21;                          /* reserved in a 4 MiB PDE */
	return G->esize == 4 ? e & 0xffffffffULL : e;
}

static uint64_t ent_addr(const struct geo *G, int level, unsigned fr, unsigned k)
{
	return fr_gpa(fr) + (uint64_t)G->idx[level][k] * G->esize;
}

/* The top-level slot of the window (see win_gva). */
static unsigned win_slot(int mode)
{
	return mode == MODE_P64 ? 300 : mode == MODE_PAE ? 3 : 900;
}

/* With paging off the guest's data accesses keep off its page tables (its
 * stores to them are the table writes). */
static uint64_t np_data(uint64_t gva)
{
	if (gva >= TBL_BASE && gva < TBL_BASE + TBL_FRAMES * PAGE)
		gva += TBL_FRAMES * PAGE;
	return gva;
}

/*
 * The window of a random run: every random table frame (and nothing else)
 * mapped kernel-only from a slot of every top-level table that the random
 * entries never use; its own tables follow the random ones.
 */
static void random_window(struct h *h, const struct geo *G)
{
	unsigned fw = G->fr0[1] + G->nfr[1];
	uint64_t f = fr_gpa(fw);

	cr_assert_leq(fw + 3, TBL_FRAMES);
	memset(gptr(h, f, 3 * PAGE), 0, 3 * PAGE);
	if (G->mode == MODE_P64) {
		wr(h, f, (f + PAGE) | WIN_UP, 8);
		wr(h, f + PAGE, (f + 2 * PAGE) | WIN_UP, 8);
		for (unsigned i = 0; i < fw; i++)
			wr(h, f + 2 * PAGE + 8 * i, fr_gpa(i) | WIN_UP, 8);
		for (unsigned a = 0; a < G->nfr[4]; a++)
			wr(h, fr_gpa(G->fr0[4] + a) + 8 * win_slot(MODE_P64), f | WIN_UP, 8);
	} else if (G->mode == MODE_PAE) {
		wr(h, f, (f + PAGE) | WIN_UP, 8);
		for (unsigned i = 0; i < fw; i++)
			wr(h, f + PAGE + 8 * i, fr_gpa(i) | WIN_UP, 8);
		for (unsigned a = 0; a < G->nfr[3]; a++)
			wr(h, fr_gpa(G->fr0[3] + a) + 8 * win_slot(MODE_PAE), f | E_P, 8);
	} else if (G->mode == MODE_P32) {
		for (unsigned i = 0; i < fw; i++)
			wr(h, f + 4 * i, fr_gpa(i) | WIN_UP, 4);
		for (unsigned a = 0; a < G->nfr[2]; a++)
			wr(h, fr_gpa(G->fr0[2] + a) + 4 * win_slot(MODE_P32), f | WIN_UP, 4);
	}
}

static uint64_t gen_gva(uint64_t *s, const struct geo *G)
{
	uint64_t gva = 0;

	if (G->mode == MODE_NP) {
		gva = rn(s, 8) ? rn(s, (unsigned)(RAM_SIZE / 8)) * 8ULL : 0xfee00000ULL + rn(s, 4096);
		return np_data(gva);
	}
	for (int l = G->top; l >= 1; l--) {
		unsigned i = rn(s, 20) == 0 ? rn(s, 1u << G->ibits) : G->idx[l][rn(s, G->nidx[l])];

		if (G->mode == MODE_PAE && l == 3)
			i &= 3;
		if (l == 4 && i == T_MON)
			i = T_MON + 1;                          /* the monitor's slot */
		if (l == G->top && i == win_slot(G->mode))
			i = G->idx[l][0];                 /* the window: only the table writes use it */
		gva |= (uint64_t)i << (12 + G->ibits * (l - 1));
	}
	gva |= rn(s, 4096);
	if (G->mode == MODE_P64 && ((gva >> 47) & 1))
		gva |= 0xffff000000000000ULL;
	return gva;
}

/* Every gva whose walk (from any address space) ends at PTE idx1 of table pt. */
static void find_gvas(struct h *h, const struct geo *G, int level, uint64_t table, uint64_t base,
		      uint64_t pt, unsigned idx1, uint64_t *out, unsigned *n, unsigned max)
{
	if (level == 1) {
		if (table == pt && *n < max) {
			uint64_t gva = base | ((uint64_t)idx1 << 12);

			if (G->mode == MODE_P64 && ((gva >> 47) & 1))
				gva |= 0xffff000000000000ULL;
			out[(*n)++] = gva;
		}
		return;
	}
	for (unsigned k = 0; k < G->nidx[level]; k++) {
		unsigned i = G->idx[level][k];
		uint64_t e, next;

		if (G->mode == MODE_PAE && level == 3 && i > 3)
			continue;
		e = rd(h, table + (uint64_t)i * G->esize, G->esize);
		if (!(e & E_P) || (((G->large >> level) & 1) && (e & E_PS)))
			continue;
		next = G->esize == 4 ? e & 0xfffff000ULL : e & A40;
		if (!gptr(h, next, 1))
			continue;
		find_gvas(h, G, level - 1, next, base | ((uint64_t)i << (12 + G->ibits * (level - 1))), pt, idx1,
			  out, n, max);
	}
}

/* The gvas of the present leaves under shadow table t (at level). */
static void shadow_leaves(struct h *h, const uint64_t *t, int level, uint64_t base, uint64_t *out,
			  unsigned *n, unsigned max)
{
	for (unsigned i = 0; t && i < 512 && *n < max; i++) {
		uint64_t gva = base | ((uint64_t)i << (12 + 9 * (level - 1)));

		if (!(t[i] & E_P) || (level == 4 && i == T_MON))
			continue;
		if (level == 4 && i >= 256)
			gva |= 0xffff000000000000ULL;
		if (level == 1 || (level == 2 && (t[i] & E_PS)))
			out[(*n)++] = gva;
		else
			shadow_leaves(h, spage(h, t[i] & A52), level - 1, gva, out, n, max);
	}
}

struct rparams {
	int mode;
	unsigned nas;            /* address spaces */
	bool pge, pse;
	bool mode_flips;         /* paging64 <-> nonpaging now and then */
	unsigned npool, steps;
	uint64_t seed;
	bool touch;              /* check the touch[] list at every resume */
	bool pge_toggles;        /* CR4.PGE changes; with PGE off a CR3 write is the full flush */
	enum mmu_sync sync;
	uint64_t seeds[3];
	bool defaults;           /* shadow mode's defaults: --prefetch=8, 2 MiB shadow leaves */
};

/*
 * A flush that covers everything, as after a change above the PTE level:
 * with CR4.PGE on, a global flush (mmu_new_cr3(flush_global)); with it off
 * (pge_toggles runs), what a kernel does then: a plain CR3 write.
 */
static void flush_all(struct h *h, const struct rparams *p)
{
	if (p->pge_toggles && !h->g.pge) {
		cpu_set(h, h->g, true);
		return;
	}
	if (h->g.mode == MODE_PAE)
		cpu_set(h, h->g, true);              /* reload the PDPTE registers */
	h_new_cr3(h, true);
	reload(h);
}

/* INVLPG of every address (in any address space) whose walk ends at PTE
 * slot k of table frame fr, one trap each. */
static void invlpg_pte(struct h *h, const struct geo *G, unsigned fr, unsigned k, const char *what)
{
	static uint64_t gvas[256];
	unsigned n = 0;

	for (unsigned a = 0; a < G->nfr[G->top]; a++)
		find_gvas(h, G, G->top, fr_gpa(G->fr0[G->top] + a), 0, fr_gpa(fr), G->idx[1][k], gvas, &n, 256);
	note(h, "%s: INVLPG of the %u addresses that map it", what, n);
	for (unsigned i = 0; i < n; i++)
		h_invlpg(h, gvas[i]);
}

/*
 * The guest rewrites one entry of its tables with stores through the
 * window (or by physical address with paging off), then flushes as the
 * strategy lets it:
 *   vtlb:   as a kernel must: INVLPG of every address that maps a changed
 *           PTE, or a full flush for anything above (and PAE PDPTEs);
 *   wp:     nothing, or INVLPG / a CR3 write now and then; the shadow must
 *           be exact right after each store (but for a table
 *           mmu_unprotect_gfn let go out of sync: stale until the next
 *           mmu_new_cr3 / mmu_invlpg, as a TLB may be);
 *   unsync: the same, and leaf tables go out of sync at their first write.
 * PAE PDPTEs are read at CR3 loads only: a CR3 write always follows.
 */
static void table_write(struct h *h, const struct rparams *p, const struct geo *G, uint64_t *s,
			const char *what)
{
	int level = 1 + rn(s, G->top);
	unsigned fr = G->fr0[level] + rn(s, G->nfr[level]), k = rn(s, G->nidx[level]);
	bool np = h->g.mode == MODE_NP, pair = false, unprotect;
	uint64_t at, old, nv;
	char w2[160];

	if (G->mode == MODE_PAE && level == 3)
		k %= 3;
	/* Half the time (wp, unsync: more often) an entry on the path of a
	 * translation the shadow holds now, so that the shadow has something
	 * to follow; in wp and unsync mostly its PTE (leaf tables go unsync). */
	if ((p->sync != SYNC_VTLB ? rn(s, 4) != 0 : rn(s, 2) != 0) && h->g.mode == G->mode) {
		static uint64_t gvas[256];
		unsigned nl = 0;

		shadow_leaves(h, spage(h, h->loaded), 4, 0, gvas, &nl, 256);
		if (nl) {
			struct mw r = model(h, &h->g, gvas[rn(s, nl)], AX_R, h->g.user);
			int l = r.level + (int)rn(s, (unsigned)(r.top - r.level + 1));

			if (p->sync != SYNC_VTLB && rn(s, 2))
				l = r.level;

			if (r.top && r.at[l] >= TBL_BASE && r.at[l] < TBL_BASE + TBL_FRAMES * PAGE) {
				unsigned idx = (unsigned)(r.at[l] & 0xfff) / G->esize;
				unsigned f = (unsigned)((r.at[l] - TBL_BASE) / PAGE);

				for (unsigned j = 0; j < G->nidx[l]; j++)
					if (G->idx[l][j] == idx && f >= G->fr0[l] && f < G->fr0[l] + G->nfr[l] &&
					    !(G->mode == MODE_PAE && l == 3 && idx > 2)) {
						level = l;
						k = j;
						fr = f;
					}
			}
		}
	}
	at = ent_addr(G, level, fr, k);
	old = rd(h, at, G->esize);
	if (rn(s, 2) || (G->mode == MODE_PAE && level == 3)) {
		nv = gen_entry(s, G, level, fr, k);
	} else {
		static const uint64_t bitsel[] = { E_P, E_W, E_U, E_A, E_D, E_G, E_NX };

		nv = old ^ bitsel[rn(s, G->esize == 8 ? 7 : 6)];
	}
	/* The kernel writes its tables. */
	if (!np && h->g.user) {
		struct gstate g = h->g;

		g.user = false;
		note(h, "%s: to the kernel view, to write a page table", what);
		cpu_set(h, g, false);
	}
	unprotect = p->sync != SYNC_VTLB && rn(s, 4) == 0;
	snprintf(w2, sizeof(w2), "%s: L%d entry %#llx -> %#llx", what, level, (unsigned long long)old,
		 (unsigned long long)nv);
	if (G->esize == 8 && rn(s, 8) == 0) {
		/* As a 32-bit PAE kernel does: the high half, then the low. */
		guest_store(h, at + 4, nv >> 32, 4, unprotect, w2);
		if (p->sync == SYNC_WP)
			check_state(h, "wp: right after the store of the high half");
		guest_store(h, at, nv & 0xffffffffULL, 4, unprotect, w2);
	} else if (G->esize == 4 && !(at & 4) && k + 1 < G->nidx[level] &&
		   G->idx[level][k + 1] == G->idx[level][k] + 1 && rn(s, 4) == 0) {
		/* Two 4-byte entries with one 8-byte store. */
		uint64_t nv2 = gen_entry(s, G, level, fr, k + 1);

		pair = true;
		guest_store(h, at, nv | nv2 << 32, 8, unprotect, w2);
	} else {
		guest_store(h, at, nv, G->esize, unprotect, w2);
	}
	if (p->sync == SYNC_VTLB) {
		if (level == 1 && !pair && !np && !(p->pge_toggles && !h->g.pge) && rn(s, 4))
			invlpg_pte(h, G, fr, k, w2);
		else
			flush_all(h, p);
		return;
	}
	check_state(h, p->sync == SYNC_WP ? "wp: right after the store, no flush" :
		    "unsync: right after the store (stale translations through tables written natively allowed)");
	if (np)
		return;
	if (G->mode == MODE_PAE && level == 3) {
		note(h, "%s: MOV CR3 (the PDPTE registers)", what);
		cpu_set(h, h->g, true);
		return;
	}
	switch (rn(s, 4)) {
	case 0:
	case 3:
		note(h, "%s: no flush", what);
		break;
	case 1:
		if (level == 1 && !pair)
			invlpg_pte(h, G, fr, k, w2);
		else
			flush_all(h, p);
		break;
	default:
		note(h, "%s: MOV CR3 (same)", what);
		cpu_set(h, h->g, true);
		break;
	}
}

static void random_run(const struct rparams *p)
{
	struct h *h = h_new_s(p->npool, p->sync);
	struct geo G;

	if (p->defaults) {
		h->m.prefetch = 8;
		h->m.large_pages = true;
	}
	struct watch *wt = calloc(1, sizeof(*wt));
	uint64_t s = p->seed, recent[16];
	unsigned nrecent = 0, last = 0, fw = 0;
	struct gstate g;
	unsigned counts[12] = { 0 };
	char what[96];

	cr_assert(wt);
	if (p->touch) {
		h->snap = calloc((size_t)p->npool * 512, sizeof(uint64_t));
		cr_assert(h->snap);
	}
	geo_init(&G, p->mode, p->nas, p->pse);
	if (p->mode != MODE_NP) {
		for (int l = G.top; l >= 1; l--)
			for (unsigned f = 0; f < G.nfr[l]; f++)
				for (unsigned k = 0; k < G.nidx[l]; k++) {
					wr(h, ent_addr(&G, l, G.fr0[l] + f, k), gen_entry(&s, &G, l, G.fr0[l] + f, k),
					   G.esize);
					watch_add(wt, ent_addr(&G, l, G.fr0[l] + f, k), G.esize);
				}
		random_window(h, &G);
		fw = G.fr0[1] + G.nfr[1];
	}
	g = gs(p->mode, p->mode == MODE_NP ? 0 : fr_gpa(G.fr0[G.top]), false, true, p->mode != MODE_P32);
	g.pge = p->pge;
	g.pse = p->pse;
	cpu_set(h, g, false);
	check_state(h, "start");

	for (unsigned step = 0; step < p->steps; step++) {
		unsigned op = rn(&s, 100);
		struct geo NG;
		const struct geo *cur = &G;

		if (h->g.mode == MODE_NP && p->mode != MODE_NP) {
			NG = G;
			NG.mode = MODE_NP;
			cur = &NG;
		}
		snprintf(what, sizeof(what), "%s seed %#llx step %u", sync_name[p->sync], (unsigned long long)p->seed,
			 step);
		if (op < 65) {
			/* Half the time an address used before: read, then write or
			 * fetch the same page (A/D emulation, refills).  Now and then
			 * a read of a page table through the window. */
			unsigned pick = nrecent ? rn(&s, 4) : 0;
			uint64_t gva = pick == 0 ? gen_gva(&s, cur)
				       : ((pick == 1 ? recent[last] : recent[rn(&s, nrecent)]) & ~0xfffULL) | rn(&s, 4096);
			int type = rn(&s, 3);

			if (h->g.mode == MODE_NP && p->mode != MODE_NP)
				gva = np_data(gva & 0xffffffffULL);
			counts[0]++;
			if (fw && h->g.mode != MODE_NP && rn(&s, 16) == 0) {
				gva = win_gva(h, fr_gpa(rn(&s, fw))) | rn(&s, 4096);
				check_access(h, gva, rn(&s, 2) ? AX_R : AX_X, wt, what);
				counts[10]++;
			} else if (check_access(h, gva, type, wt, what).done) {
				last = nrecent < 16 ? nrecent++ : rn(&s, 16);
				recent[last] = gva;
				/* Read, then modify: the write after a read fill. */
				if (type == AX_R && rn(&s, 3) == 0)
					check_access(h, gva ^ 8, AX_W, wt, what);
			}
		} else if (op < 76 && p->mode != MODE_NP) {
			table_write(h, p, &G, &s, what);
			counts[1]++;
		} else if (op < 82 && p->mode != MODE_NP) {
			g = h->g;
			if (g.mode != MODE_NP)
				g.cr3 = fr_gpa(G.fr0[G.top] + rn(&s, p->nas));
			note(h, "%s: MOV CR3 %#llx", what, (unsigned long long)g.cr3);
			cpu_set(h, g, true);
			counts[2]++;
		} else if (op < 88) {
			g = h->g;
			g.user = !g.user;
			note(h, "%s: to the %s view", what, g.user ? "user" : "kernel");
			cpu_set(h, g, false);
			counts[3]++;
		} else if (op < 90) {
			g = h->g;
			g.wp = !g.wp;
			note(h, "%s: CR0.WP=%d", what, g.wp);
			cpu_set(h, g, false);
			counts[4]++;
		} else if (op < 92) {
			g = h->g;
			if (p->pge_toggles && rn(&s, 4)) {
				/* MOV CR4 changing PGE, as emulate.c reports it. */
				g.pge = !g.pge;
				note(h, "%s: CR4.PGE=%d", what, g.pge);
			} else {
				if (g.mode != MODE_P32)
					g.nxe = !g.nxe;
				note(h, "%s: EFER.NXE=%d", what, g.nxe);
			}
			cpu_set(h, g, true);
			counts[5]++;
		} else if (op < 96) {
			uint64_t gva = gen_gva(&s, cur);

			note(h, "%s: INVLPG %#llx (nothing changed)", what, (unsigned long long)gva);
			h_invlpg(h, gva);
			counts[6]++;
		} else if (op < 98) {
			note(h, "%s: MOV CR3 (same)", what);
			cpu_set(h, h->g, true);
			counts[7]++;
		} else if (op < 99 || !p->mode_flips) {
			note(h, "%s: mmu_zap_all", what);
			h_zap_all(h);
			counts[8]++;
		} else {
			g = h->g;
			g.mode = g.mode == MODE_NP ? p->mode : MODE_NP;
			if (g.mode != MODE_NP)
				g.cr3 = fr_gpa(G.fr0[G.top] + rn(&s, p->nas));
			note(h, "%s: paging mode -> %s", what, mode_name(g.mode));
			cpu_set(h, g, true);
			counts[9]++;
		}
		check_state(h, what);
	}
	cr_assert_gt(counts[0], p->steps / 3);
	if (p->npool <= 16)
		cr_assert_gt(h->m.stats.mmu_recycled, 0, "seed %#llx: a 16-page pool never recycled",
			     (unsigned long long)p->seed);
	cr_assert_gt(h->m.stats.pf_fixed, 100);
	if (p->mode != MODE_NP) {
		cr_assert_gt(h->m.stats.pf_guest, 50);
		cr_assert_gt(h->st_native + h->st_emulated, p->steps / 20);
	}
	if (p->mode != MODE_NP && p->sync != SYNC_VTLB) {
		cr_assert_gt(h->m.stats.pf_emulate, 0, "%s seed %#llx: pf_emulate %llu", sync_name[p->sync],
			     (unsigned long long)p->seed, (unsigned long long)h->m.stats.pf_emulate);
		cr_assert_gt(h->m.stats.mmu_pte_write, 0);
		cr_assert_gt(h->st_unprotected, 0);
	}
	if (p->mode != MODE_NP && p->sync == SYNC_UNSYNC) {
		cr_assert_gt(h->m.stats.mmu_unsync, 0, "seed %#llx: mmu_unsync %llu", (unsigned long long)p->seed,
			     (unsigned long long)h->m.stats.mmu_unsync);
		cr_assert_gt(h->m.stats.unsync_synced, 0);
	}
	if (p->sync == SYNC_VTLB)
		cr_assert_eq(h->m.stats.pf_emulate + h->m.stats.mmu_unsync, 0);
	if (getenv("MMU_TEST_STATS"))
		fprintf(stderr, "%-9s %-6s seed %#-9llx: fixed %llu guest %llu emulate %llu pte_write %llu flooded %llu unsync %llu synced %llu wprot %llu recycled %llu zapped %llu root hits %llu/%llu; stores native %u emulated %u unprotected %u refault %u; stale ok %u; large %llu prefetched %llu\n",
			mode_name(p->mode), sync_name[p->sync], (unsigned long long)p->seed,
			(unsigned long long)h->m.stats.pf_fixed, (unsigned long long)h->m.stats.pf_guest,
			(unsigned long long)h->m.stats.pf_emulate, (unsigned long long)h->m.stats.mmu_pte_write,
			(unsigned long long)h->m.stats.mmu_flooded, (unsigned long long)h->m.stats.mmu_unsync,
			(unsigned long long)h->m.stats.unsync_synced, (unsigned long long)h->m.stats.write_protected,
			(unsigned long long)h->m.stats.mmu_recycled, (unsigned long long)h->m.stats.mmu_shadow_zapped,
			(unsigned long long)h->m.stats.root_hits, (unsigned long long)h->m.stats.root_misses,
			h->st_native, h->st_emulated, h->st_unprotected, h->st_refault, h->stale_ok,
			(unsigned long long)h->m.stats.large_fixed, (unsigned long long)h->m.stats.prefetched);
	free(wt);
	h_free(h);
}

/* Each variant runs in each strategy with three fixed seeds (mixed with the
 * strategy); a failure names its strategy, seed and step. */
static void random_sync(struct rparams p, enum mmu_sync sync)
{
	p.sync = sync;
	for (unsigned i = 0; i < 3; i++) {
		p.seed = p.seeds[i] ^ ((uint64_t)sync << 32);
		random_run(&p);
	}
}

#define RANDOM_TESTS(name, ...)                                                  \
	static const struct rparams rp_##name = { __VA_ARGS__ };                 \
	Test(mmu_random, name##_vtlb) { random_sync(rp_##name, SYNC_VTLB); }     \
	Test(mmu_random, name##_wp) { random_sync(rp_##name, SYNC_WP); }         \
	Test(mmu_random, name##_unsync) { random_sync(rp_##name, SYNC_UNSYNC); }

RANDOM_TESTS(paging64, .mode = MODE_P64, .nas = 6, .mode_flips = true, .npool = 512, .steps = 3000,
	     .seeds = { 0x1234567, 0x2718281, 0x3141592 })
/* The same with shadow mode's defaults: prefetch and 2 MiB shadow leaves. */
RANDOM_TESTS(paging64_prefetch_large, .mode = MODE_P64, .nas = 6, .mode_flips = true, .npool = 512,
	     .steps = 3000, .defaults = true, .seeds = { 0x1234568, 0x2718282, 0x3141593 })
RANDOM_TESTS(paging64_global_pages, .mode = MODE_P64, .nas = 4, .pge = true, .npool = 96, .steps = 1500,
	     .touch = true, .seeds = { 0xabcdef, 0xfedcba, 0x5a5a5a })
RANDOM_TESTS(paging64_global_pages_six_address_spaces, .mode = MODE_P64, .nas = 6, .pge = true,
	     .mode_flips = true, .npool = 512, .steps = 2500, .defaults = true, .seeds = { 0x5eed, 0x5eee, 0x5eef })
/* CR4.PGE on and off: with PGE off a CR3 write must flush every leaf,
 * including those filled as global while PGE was on. */
RANDOM_TESTS(paging64_pge_toggles, .mode = MODE_P64, .nas = 4, .pge = true, .npool = 512, .steps = 2500,
	     .pge_toggles = true, .seeds = { 0x6e6e, 0x6e6f, 0x6e70 })
/* Recycling with a tiny pool. */
RANDOM_TESTS(paging64_small_pool, .mode = MODE_P64, .nas = 4, .npool = 16, .steps = 2500, .touch = true,
	     .seeds = { 0x77, 0x78, 0x79 })
RANDOM_TESTS(paging64_small_pool_prefetch_large, .mode = MODE_P64, .nas = 4, .npool = 16, .steps = 1500,
	     .touch = true, .defaults = true, .seeds = { 0x7a, 0x7b, 0x7c })
RANDOM_TESTS(nonpaging, .mode = MODE_NP, .nas = 1, .npool = 16, .steps = 1500, .touch = true,
	     .seeds = { 0x99, 0x9a, 0x9b })

/* ===================================================================== */
/* 10. paging32 and paging32e (not run by shadow mode yet)               */
/* ===================================================================== */

RANDOM_TESTS(paging32e, .mode = MODE_PAE, .nas = 4, .pge = true, .npool = 512, .steps = 2500,
	     .seeds = { 0x3232e, 0x3232f, 0x32330 })
RANDOM_TESTS(paging32e_prefetch_large, .mode = MODE_PAE, .nas = 4, .pge = true, .npool = 512, .steps = 2000,
	     .defaults = true, .seeds = { 0x3e3e, 0x3e3f, 0x3e40 })
RANDOM_TESTS(paging32e_small_pool, .mode = MODE_PAE, .nas = 4, .pge = true, .npool = 16, .steps = 1500,
	     .seeds = { 0x3e16, 0x3e17, 0x3e18 })
RANDOM_TESTS(paging32, .mode = MODE_P32, .nas = 4, .pse = true, .npool = 512, .steps = 2500,
	     .seeds = { 0x3232, 0x3233, 0x3234 })
RANDOM_TESTS(paging32_prefetch_large, .mode = MODE_P32, .nas = 4, .pse = true, .npool = 512, .steps = 2000,
	     .defaults = true, .seeds = { 0x3e32, 0x3e33, 0x3e34 })
RANDOM_TESTS(paging32_small_pool, .mode = MODE_P32, .nas = 4, .pse = true, .npool = 16, .steps = 1500,
	     .seeds = { 0x3216, 0x3217, 0x3218 })

/*
 * A 32-bit page table has 1024 entries (4 MiB); a shadow page 512 (2 MiB).
 * gva 0 and gva 2 MiB sit in the same guest table but need two shadow pages
 * (KVM's role.quadrant).
 */
Test(mmu_paging32, both_halves_of_a_page_table)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);

	map32(h, cr3, 0x000000, 0x400000 | E_P | E_W | E_U | E_A | E_D, E_P | E_W | E_U | E_A);
	map32(h, cr3, 0x200000, 0x500000 | E_P | E_W | E_U | E_A | E_D, E_P | E_W | E_U | E_A);
	cpu_set(h, gs(MODE_P32, cr3, false, true, false), false);
	check_access(h, 0x000000, AX_R, NULL, "first half");
	check_access(h, 0x200000, AX_R, NULL, "second half");
	check_state(h, "both halves");
	h_free(h);
}

/* gva 0 and gva 1 GiB: different guest page tables, one shadow PD per GiB. */
Test(mmu_paging32, each_gigabyte_has_its_own_shadow)
{
	struct h *h = h_new(64);
	uint64_t cr3 = new_table(h);

	map32(h, cr3, 0x00000000, 0x400000 | E_P | E_W | E_U | E_A | E_D, E_P | E_W | E_U | E_A);
	map32(h, cr3, 0x40000000, 0x500000 | E_P | E_W | E_U | E_A | E_D, E_P | E_W | E_U | E_A);
	cpu_set(h, gs(MODE_P32, cr3, false, true, false), false);
	check_access(h, 0x00000000, AX_R, NULL, "GiB 0");
	check_access(h, 0x40000000, AX_R, NULL, "GiB 1");
	check_state(h, "both");
	h_free(h);
}

/* PAE: two PDPTs in one page (Linux allocates 32-byte PDPTs from a slab). */
Test(mmu_paging32e, pdpts_sharing_a_page)
{
	struct h *h = h_new(64);
	uint64_t page = new_table(h), pda = new_table(h), pdb = new_table(h), pta = new_table(h),
		 ptb = new_table(h);
	uint64_t cra = page, crb = page + 32, ra, rb;

	wr(h, cra, pda | E_P, 8);
	wr(h, crb, pdb | E_P, 8);
	wr(h, pda, pta | UP, 8);
	wr(h, pdb, ptb | UP, 8);
	wr(h, pta + 8, 0x401000 | E_P | E_W | E_U | E_A | E_D, 8);
	wr(h, ptb + 8, 0x501000 | E_P | E_W | E_U | E_A | E_D, 8);
	cpu_set(h, gs(MODE_PAE, cra, false, true, true), false);
	ra = h->loaded;
	cr_assert_eq(check_access(h, 0x1000, AX_R, NULL, "A").mpa, 0x401000 + MPA_OFF);
	cpu_set(h, gs(MODE_PAE, crb, false, true, true), true);
	rb = h->loaded;
	check_state(h, "in B");
	cr_assert_eq(check_access(h, 0x1000, AX_R, NULL, "B").mpa, 0x501000 + MPA_OFF);
	cpu_set(h, gs(MODE_PAE, cra, false, true, true), true);
	check_state(h, "back in A");
	cr_assert_eq(check_access(h, 0x1000, AX_R, NULL, "A again").mpa, 0x401000 + MPA_OFF);
	cr_expect_neq(ra, rb, "CR3 %#llx and %#llx (two PDPTs in one page) share root %#llx",
		      (unsigned long long)cra, (unsigned long long)crb, (unsigned long long)ra);
	h_free(h);
}

/* ===================================================================== */
/* The gfn hash, the lists, and pages that outlive their roots           */
/* ===================================================================== */

/*
 * The model here is the pool itself, scanned page by page (what mmu.c did
 * before it had a gfn hash and lists): the pages of a frame are the used,
 * not retired pages with that gfn; the free list is the unused pages; the
 * active list the used, not retired ones; the unsync list the pages with
 * unsync set.  The lists and for_each_sp_of_gfn must say the same.
 */
#include "shadow/mmu_internal.h"

static void check_lists(struct h *h, const char *what)
{
	struct shadow_mmu *m = &h->m;
	unsigned nfree = 0, nactive = 0, nretired = 0, nunsync = 0;

	for (unsigned i = 0; i < m->nr_pages; i++) {
		const struct sp *sp = &m->sps[i];

		nfree += !sp->used;
		nactive += sp->used && !sp->retired;
		nretired += sp->used && sp->retired;
		nunsync += sp->used && sp->unsync;
	}
	cr_assert_eq(m->free.n, nfree, "%s: free list %u, unused pages %u", what, m->free.n, nfree);
	cr_assert_eq(m->active.n, nactive, "%s: active list %u, live pages %u", what, m->active.n, nactive);
	cr_assert_eq(m->retired.n, nretired, "%s: retired list %u, retired pages %u", what, m->retired.n, nretired);
	cr_assert_eq(m->unsync.n, nunsync, "%s: unsync list %u, unsync pages %u", what, m->unsync.n, nunsync);
	cr_assert_eq(m->nr_used, nactive + nretired, "%s: nr_used", what);
	for (const struct sp *sp = m->free.first; sp; sp = sp->link.next)
		cr_assert_not(sp->used, "%s: a used page on the free list", what);
	for (const struct sp *sp = m->active.first; sp; sp = sp->link.next)
		cr_assert(sp->used && !sp->retired, "%s: a free or retired page on the active list", what);
	for (const struct sp *sp = m->unsync.first; sp; sp = sp->unsync_link.next)
		cr_assert(sp->used && sp->unsync, "%s: a page in sync on the unsync list", what);
	/* Every frame that has a page: the hash walk finds exactly the scan's. */
	for (unsigned i = 0; i < m->nr_pages; i++) {
		uint64_t gfn = m->sps[i].gfn;
		unsigned want = 0, got = 0;
		struct sp *sp;

		if (!m->sps[i].used || m->sps[i].retired)
			continue;
		for (unsigned j = 0; j < m->nr_pages; j++)
			want += m->sps[j].used && !m->sps[j].retired && m->sps[j].gfn == gfn;
		for_each_sp_of_gfn(m, gfn, sp) {
			cr_assert(sp->used && !sp->retired && sp->gfn == gfn, "%s: the walk of gfn %#llx strays", what,
				  (unsigned long long)gfn);
			got++;
		}
		cr_assert_eq(got, want, "%s: gfn %#llx: the hash walk finds %u pages, the pool has %u", what,
			     (unsigned long long)gfn, got, want);
	}
}

Test(mmu_gfn, fresh_pool_is_all_free)
{
	struct h *h = h_new(64);

	cr_assert_eq(h->m.free.n, 64);
	cr_assert_eq(h->m.active.n + h->m.retired.n + h->m.unsync.n, 0);
	check_lists(h, "fresh");
	h_free(h);
}

/* One guest frame shadowed under four roles (two views x CR0.WP): the hash
 * walk of that frame finds all four, and nothing of another frame. */
Test(mmu_gfn, walk_finds_every_role_of_a_frame)
{
	struct h *h = h_new_s(64, SYNC_WP);
	uint64_t a = make_as(h, 0, E_P | E_W | E_U | E_A | E_D);
	unsigned n = 0;
	struct sp *sp;

	for (int user = 0; user < 2; user++)
		for (int wp = 0; wp < 2; wp++) {
			cpu_set(h, gs(MODE_P64, a, user, wp, true), false);
			check_access(h, G1, AX_R, NULL, "fill");
		}
	for_each_sp_of_gfn(&h->m, a >> 12, sp) {
		cr_assert_eq(sp->gfn, a >> 12);
		cr_assert_eq(sp->role.level, 4, "the CR3 frame is only ever a root here");
		n++;
	}
	cr_assert_eq(n, 4, "four roles of the root's frame, found %u", n);
	check_lists(h, "four roles");
	h_free(h);
}

/*
 * Six address spaces, each its own four guest tables (make_as), visited
 * twice in the kernel view; the root cache holds four.  The first visit
 * makes 6 x 4 = 24 shadow pages.  wp, unsync: the second visit finds every
 * page again (no miss, nothing zapped, the leaf for G1 still there: no
 * fault).  vtlb: each visit of the second round is to a space evicted from
 * the cache, whose pages went with it: 24 misses; and every CR3 write
 * frees the chains under the cached roots, so what was freed is all that
 * was made (48) but what is live at the end: 4 cached roots and the
 * current space's chain of 3.
 */
static void outlive_roots(enum mmu_sync sync)
{
	struct h *h = h_new_s(128, sync);
	uint64_t cr3[6], miss0, zap0;

	for (unsigned i = 0; i < 6; i++)
		cr3[i] = make_as(h, i, E_P | E_W | E_U | E_A | E_D);
	miss0 = h->m.stats.mmu_cache_miss;
	zap0 = h->m.stats.mmu_shadow_zapped;
	cpu_set(h, gs(MODE_P64, cr3[0], false, true, true), false);
	check_access(h, G1, AX_R, NULL, "first visit");
	for (unsigned i = 1; i < 6; i++) {
		cpu_set(h, gs(MODE_P64, cr3[i], false, true, true), true);
		check_access(h, G1, AX_R, NULL, "first visit");
	}
	cr_assert_eq(h->m.stats.mmu_cache_miss - miss0, 24, "%s: first round", sync_name[sync]);
	check_lists(h, "first round");
	miss0 = h->m.stats.mmu_cache_miss;
	for (unsigned i = 0; i < 6; i++) {
		struct acc x;

		cpu_set(h, gs(MODE_P64, cr3[i], false, true, true), true);
		x = check_access(h, G1, AX_R, NULL, "second visit");
		cr_assert_eq(x.mpa, F1 + i * PAGE + MPA_OFF);
		if (sync != SYNC_VTLB)
			cr_assert_eq(x.calls, 0, "%s: space %u faulted again: its tables were not found", sync_name[sync], i);
		check_state(h, "second visit");
	}
	cr_assert_eq(h->m.stats.mmu_cache_miss - miss0, sync == SYNC_VTLB ? 24 : 0, "%s: misses in the second round",
		     sync_name[sync]);
	cr_assert_eq(h->m.stats.mmu_shadow_zapped - zap0, sync == SYNC_VTLB ? 48 - 7 : 0, "%s: zapped %llu",
		     sync_name[sync], (unsigned long long)(h->m.stats.mmu_shadow_zapped - zap0));
	check_lists(h, "second round");
	h_free(h);
}

Test(mmu_gfn, pages_outlive_their_root_wp)
{
	outlive_roots(SYNC_WP);
}

Test(mmu_gfn, pages_outlive_their_root_unsync)
{
	outlive_roots(SYNC_UNSYNC);
}

Test(mmu_gfn, vtlb_pages_die_with_their_root)
{
	outlive_roots(SYNC_VTLB);
}

/*
 * A pool of 16 pages and 6 address spaces of 4 pages each, both views, in
 * wp: pages outlive their roots, so the pool fills and the least recently
 * used ones are recycled.  The space in use must keep working, and the
 * lists must stay consistent with the pool.
 */
Test(mmu_gfn, full_pool_recycles_from_the_lru_tail)
{
	struct h *h = h_new_s(16, SYNC_WP);
	uint64_t cr3[6];

	for (unsigned i = 0; i < 6; i++)
		cr3[i] = make_as(h, i, E_P | E_W | E_U | E_A | E_D);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < 6; i++)
			for (int user = 0; user < 2; user++) {
				cpu_set(h, gs(MODE_P64, cr3[i], user, true, true), true);
				cr_assert_eq(check_access(h, G1, AX_R, NULL, "visit").mpa, F1 + i * PAGE + MPA_OFF);
				check_state(h, "visit");
				check_lists(h, "visit");
			}
	cr_assert_gt(h->m.stats.mmu_recycled, 0, "48 pages of tables in a pool of 16: nothing recycled");
	cr_assert_eq(h->m.free.n + h->m.active.n + h->m.retired.n, 16);
	h_free(h);
}

/* unsync: a leaf table that went out of sync is on the unsync list, and the
 * next CR3 load takes it off (and tracks it again). */
Test(mmu_gfn, unsync_list_follows_the_pages)
{
	uint64_t cr3, pt;
	struct h *h = strat_setup(SYNC_UNSYNC, &cr3, &pt);

	check_access(h, G1, AX_R, NULL, "fill");
	guest_store(h, pte_at(pt, G1 + PAGE), (F1 + PAGE) | E_P | E_W | E_A | E_D, 8, false, "a store to the PT");
	cr_assert_gt(h->m.unsync.n, 0, "the PT did not go out of sync");
	check_lists(h, "unsync");
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), true);
	cr_assert_eq(h->m.unsync.n, 0, "a CR3 load left pages out of sync");
	check_lists(h, "after the CR3 load");
	h_free(h);
}

/*
 * --shadow-patch (m.code): code runs only from a frame the scanner has
 * seen, through a 4 KiB leaf without W; a large leaf maps only frames
 * never scanned and carries NX (as KVM's NX huge pages), so the first
 * fetch through it asks for a scan (PF_SCAN) and, with the frame scanned,
 * is filled by a 4 KiB leaf; a write to the scanned frame asks for the
 * scan to be undone (PF_CODE_WRITE), after which it is an ordinary
 * writable, non-executable frame again.  Frames are marked scanned here
 * by hand: what the scanner finds is test_patch.c's business.
 */
static uint8_t *no_frame(void *opaque, uint64_t gfn)
{
	(void)opaque, (void)gfn;
	return NULL;                /* nothing was patched: nothing to put back */
}

Test(mmu_large, patched_code_runs_from_4k_leaves_of_scanned_frames)
{
	struct h *h = h_new_s(64, SYNC_UNSYNC);
	uint64_t cr3 = new_table(h), va = 0x0000004040000000ULL, f = 0x600000, gpa = 0;
	uint64_t pte = E_P | E_W | E_U | E_A | E_D, *leaf, e;
	struct patcher p;
	uint32_t gerr = 0;

	cr_assert_eq(patch_init(&p, 0), 0);
	h->m.large_pages = true;
	h->m.code = &p;
	map64(h, cr3, va, 2, f | pte | E_PS, UP);
	cpu_set(h, gs(MODE_P64, cr3, false, true, true), false);

	cr_assert_eq(mmu_page_fault(&h->m, &h->ctx, va + 0x3000, PFERR_U, &gerr, &gpa), PF_FIXED);
	e = sleaf(h, h->loaded, va + 0x3000, &leaf);
	cr_assert(e & E_PS, "a read of a large page that holds no scanned frame: a 2 MiB leaf");
	cr_assert(e & E_NX, "a large leaf must not run code: nothing scanned it");

	cr_assert_eq(mmu_page_fault(&h->m, &h->ctx, va + 0x3000, PFERR_P | PFERR_U | PFERR_FETCH, &gerr, &gpa),
		     PF_SCAN);
	cr_assert_eq(gpa, f + 0x3000);
	patch_mark_scanned(&p, gpa >> 12);
	mmu_code_scanned(&h->m, gpa >> 12);
	cr_assert_not(sleaf(h, h->loaded, va + 0x3000, NULL) & E_P, "the large leaf over a scanned frame stays");
	cr_assert_eq(mmu_page_fault(&h->m, &h->ctx, va + 0x3000, PFERR_U | PFERR_FETCH, &gerr, &gpa), PF_FIXED);
	e = sleaf(h, h->loaded, va + 0x3000, NULL);
	cr_assert((e & E_P) && !(e & E_PS), "code runs from a 4 KiB leaf: %#llx", (unsigned long long)e);
	cr_assert_not(e & E_NX);
	cr_assert_not(e & E_W, "a scanned frame must be read-only, so its writes are seen");
	/* its neighbour, not scanned: readable, writable, not runnable */
	cr_assert_eq(mmu_page_fault(&h->m, &h->ctx, va + 0x4000, PFERR_U | PFERR_W, &gerr, &gpa), PF_FIXED);
	e = sleaf(h, h->loaded, va + 0x4000, NULL);
	cr_assert((e & E_W) && (e & E_NX) && !(e & E_PS), "neighbour %#llx", (unsigned long long)e);

	cr_assert_eq(mmu_page_fault(&h->m, &h->ctx, va + 0x3000, PFERR_P | PFERR_U | PFERR_W, &gerr, &gpa),
		     PF_CODE_WRITE);
	patch_unscan(&p, &(struct patch_mem){ .frame = no_frame }, gpa >> 12);
	mmu_code_unscanned(&h->m, gpa >> 12);
	cr_assert(sleaf(h, h->loaded, va + 0x3000, NULL) & E_NX, "unscanned, its leaf runs code still");
	cr_assert_eq(mmu_page_fault(&h->m, &h->ctx, va + 0x3000, PFERR_P | PFERR_U | PFERR_W, &gerr, &gpa), PF_FIXED);
	e = sleaf(h, h->loaded, va + 0x3000, NULL);
	cr_assert((e & E_W) && (e & E_NX), "after the write: %#llx", (unsigned long long)e);
	patch_destroy(&p);
	h_free(h);
}
