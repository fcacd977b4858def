/*
 * SWAPGS, INT n / INT3 and IRETQ in 64-bit mode against a model of the CPU
 * written here from the Intel SDM (vol. 2: the Operation sections of
 * SWAPGS, INT n/INTO/INT3/INT1 and IRET/IRETD/IRETQ; vol. 3: 6.12 and 6.14
 * for delivery through 64-bit interrupt and trap gates), not from seg.c or
 * emulate.c: hundreds of random cases each (fixed seeds), through
 * emulate_insn with the instruction's bytes at the guest's RIP (as
 * shadow_handle_exit calls it) or inject_soft_exception for INT3, and the
 * registers, RFLAGS, selectors, CPL, the frame written and the exception
 * raised compared with the model's.  The SYSCALL/SYSRET counterpart is in
 * test_trap.c.
 *
 * The guest: 1 MiB of RAM at GPA 0, identity-mapped with one 2 MiB page;
 * the GDT below at 0x1000, the IDT at 0x2000 (every gate an interrupt gate
 * to 0x30000 + 16 * vector in 0x08), the TSS at 0x3000.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shadow/decode.h"
#include "shadow_fixture.h"

#define HANDLER(v) (0x30000ULL + 16 * (v))
#define INSN       0x10000ULL
#define TSS        0x3000ULL

/* RFLAGS bits by the SDM's names (vol. 1, 3.4.3). */
#define F_CF  (1ULL << 0)
#define F_PF  (1ULL << 2)
#define F_AF  (1ULL << 4)
#define F_ZF  (1ULL << 6)
#define F_SF  (1ULL << 7)
#define F_TF  (1ULL << 8)
#define F_IF  (1ULL << 9)
#define F_DF  (1ULL << 10)
#define F_OF  (1ULL << 11)
#define F_IOPL (3ULL << 12)
#define F_NT  (1ULL << 14)
#define F_RF  (1ULL << 16)
#define F_VM  (1ULL << 17)
#define F_AC  (1ULL << 18)
#define F_VIF (1ULL << 19)
#define F_VIP (1ULL << 20)
#define F_ID  (1ULL << 21)
#define F_ALL (F_CF | F_PF | F_AF | F_ZF | F_SF | F_TF | F_IF | F_DF | F_OF | F_IOPL | F_NT | F_RF | \
	       F_VM | F_AC | F_VIF | F_VIP | F_ID)

static struct shadow_fixture fx;
static struct vm *vm;
static struct shadow *sh;
static uint8_t *ram;

#define put(gpa, v, size) fixture_put(&fx, gpa, v, size)
#define get(gpa, size)    fixture_get(&fx, gpa, size)

/* xorshift64*: the same cases on every run and every host. */
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* A canonical address outside the monitor's PML4 slot (256): low half or
 * slot 511. */
static uint64_t canon(void)
{
	return rnd() & 1 ? rnd() & 0x00007fffffffffffULL : 0xffffff8000000000ULL | (rnd() & 0x7fffffffffULL);
}

/* ------------------------------------------------------------------------
 * The GDT, as a table the model reads and the guest's memory holds.
 */
struct tdesc {
	uint8_t type, s, dpl, p, l, db;
};

#define GDT_LIMIT 0xff
static const struct tdesc gdt[32] = {
	[1]  = { 0xb, 1, 0, 1, 1, 0 },  /* 0x08 code64, DPL 0 */
	[2]  = { 0xb, 1, 0, 1, 0, 1 },  /* 0x10 code32, DPL 0 */
	[3]  = { 0x3, 1, 0, 1, 0, 1 },  /* 0x18 data, DPL 0 */
	[4]  = { 0xb, 1, 3, 1, 0, 1 },  /* 0x20 code32, DPL 3 (compatibility mode) */
	[5]  = { 0x3, 1, 3, 1, 0, 1 },  /* 0x28 data, DPL 3 */
	[6]  = { 0xb, 1, 3, 1, 1, 0 },  /* 0x30 code64, DPL 3 */
	[7]  = { 0x1, 1, 3, 1, 0, 1 },  /* 0x38 data, read-only, DPL 3 */
	[8]  = { 0x3, 1, 3, 0, 0, 1 },  /* 0x40 data, DPL 3, not present */
	[9]  = { 0xb, 1, 3, 0, 1, 0 },  /* 0x48 code64, DPL 3, not present */
	[10] = { 0xf, 1, 0, 1, 1, 0 },  /* 0x50 conforming code64, DPL 0 */
	[11] = { 0xf, 1, 3, 1, 1, 0 },  /* 0x58 conforming code64, DPL 3 */
	[12] = { 0x3, 1, 2, 1, 0, 1 },  /* 0x60 data, DPL 2 */
	[13] = { 0x3, 1, 0, 1, 0, 1 },  /* 0x68 data, DPL 0 */
};

static uint64_t desc_bits(const struct tdesc *d)
{
	return 0xffffULL | 0xfULL << 48 | (uint64_t)d->type << 40 | (uint64_t)d->s << 44 |
	       (uint64_t)d->dpl << 45 | (uint64_t)d->p << 47 | (uint64_t)d->l << 53 |
	       (uint64_t)d->db << 54 | 1ULL << 55;
}

/* The descriptor of sel, or NULL beyond the GDT's limit. */
static const struct tdesc *desc(uint16_t sel)
{
	return (sel | 7) > GDT_LIMIT ? NULL : &gdt[sel >> 3];
}

static bool is_code(const struct tdesc *d) { return d->s && (d->type & 8); }
static bool is_conforming(const struct tdesc *d) { return is_code(d) && (d->type & 4); }
static bool is_writable_data(const struct tdesc *d) { return d->s && !(d->type & 8) && (d->type & 2); }

/* The hidden part of a segment register holding sel (SDM vol. 3, 3.4.3). */
static struct vseg vseg_of(uint16_t sel)
{
	const struct tdesc *d = desc(sel);
	struct vseg s = { .sel = sel };

	if (!(sel & ~3) || !d)
		return s;
	s.base = 0;
	s.limit = 0xffffffff;
	s.type = d->type;
	s.s = d->s;
	s.dpl = d->dpl;
	s.p = d->p;
	s.l = d->l;
	s.db = d->db;
	s.g = 1;
	return s;
}

/* A 64-bit IDT gate (SDM vol. 3, 6.14.1, figure 6-8). */
struct tgate {
	uint16_t sel;
	uint64_t off;
	unsigned ist, type, dpl, p;
};

static void put_gate(unsigned n, const struct tgate *g)
{
	uint64_t lo = (g->off & 0xffff) | (uint64_t)g->sel << 16 | (uint64_t)g->ist << 32 |
		      (uint64_t)g->type << 40 | (uint64_t)g->dpl << 45 | (uint64_t)g->p << 47 |
		      ((g->off >> 16) & 0xffff) << 48;

	put(0x2000 + n * 16, lo, 8);
	put(0x2000 + n * 16 + 8, g->off >> 32, 8);
}

/* The gate every vector has until a test changes it. */
static struct tgate std_gate(unsigned n)
{
	struct tgate g = { .sel = 0x08, .off = HANDLER(n), .ist = 0, .type = 0xe, .dpl = 0, .p = 1 };

	return g;
}

/* The TSS's stacks (SDM vol. 3, 8.7, figure 8-11): RSP0..2 at 4 + 8 * i,
 * IST1..7 at 36 + 8 * (i - 1). */
static uint64_t tss_rsp[3], tss_ist[8];

static void random_tss(void)
{
	for (unsigned i = 0; i < 3; i++) {
		tss_rsp[i] = 0x40000 + (rnd() & 0x7fff8);   /* below 1 MiB, any 8-byte alignment */
		tss_rsp[i] |= rnd() & 7;
		put(TSS + 4 + 8 * i, tss_rsp[i], 8);
	}
	for (unsigned i = 1; i < 8; i++) {
		tss_ist[i] = 0x40000 + (rnd() & 0x7ffff);
		put(TSS + 36 + 8 * (i - 1), tss_ist[i], 8);
	}
}

static void setup(void)
{
	fixture_new(&fx);
	vm = fx.vm, sh = fx.sh, ram = fx.ram;
	for (unsigned i = 1; i < 32; i++)
		if (gdt[i].s)
			put(0x1000 + 8 * i, desc_bits(&gdt[i]), 8);
	put(0x4000, 0x5000 | 7, 8);                        /* PML4 -> PDPT -> PD: 2 MiB at 0 */
	put(0x5000, 0x6000 | 7, 8);
	put(0x6000, 0x87, 8);
}

static void teardown(void)
{
	fixture_free(&fx);
}

/* ------------------------------------------------------------------------
 * The model's CPU, and the same state given to and read back from ombra.
 */
struct mcpu {
	uint64_t gpr[16], rip, rflags;
	uint16_t cs, ss, ds, es, fs, gs;
	unsigned cpl;
	bool code64;                    /* IA-32e mode with CS.L = 1 */
	uint64_t gs_base, kgs_base, fs_base;
	/* What happened: an exception (vector, error code) or not, and the
	 * frame the model pushed: n qwords from frame_at up. */
	bool fault;
	unsigned vec;
	uint32_t err;
	uint64_t frame_at, frame[6];
	unsigned frame_n;
};

static void random_cpu(struct mcpu *m, unsigned cpl)
{
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < 16; i++)
		m->gpr[i] = rnd();
	m->gpr[R_SP] = 0x40000 + (rnd() & 0x7ffff);
	m->rip = INSN;
	/* Every flag 64-bit code can have, but RF (whose value in the
	 * image pushed for an exception is its own story, vol. 3 18.3.1.1)
	 * and VM (always 0 in IA-32e mode). */
	m->rflags = (rnd() & F_ALL & ~(F_RF | F_VM)) | RFLAGS_FIXED;
	m->cpl = cpl;
	m->cs = cpl ? 0x33 : 0x08;
	m->ss = cpl ? 0x2b : 0x18;
	m->ds = m->es = m->fs = m->gs = m->ss;
	m->code64 = true;
	m->gs_base = canon();
	m->kgs_base = canon();
	m->fs_base = canon();
}

/* The guest in ombra as m says. */
static void load(const struct mcpu *m)
{
	struct vcpu *v = &sh->v;

	fixture_cpu(&fx, true, GDT_LIMIT);
	v->cs = vseg_of(m->cs);
	v->ss = vseg_of(m->ss);
	v->ds = vseg_of(m->ds);
	v->es = vseg_of(m->es);
	v->fs = vseg_of(m->fs);
	v->gs = vseg_of(m->gs);
	v->fs.base = v->fs_base = m->fs_base;
	v->gs.base = v->gs_base = m->gs_base;
	v->kernel_gs_base = m->kgs_base;
	v->tr.base = TSS;
	v->tr.limit = 0x67;
	v->tr.type = 0xb;
	v->tr.p = 1;
	v->tr.sel = 0x70;
	v->cpl = m->cpl;
	/* The trap path keeps the guest's IF and IOPL here too (trap.c). */
	v->vif = m->rflags & F_IF;
	v->iopl = (unsigned)((m->rflags & F_IOPL) >> 12);
	for (unsigned i = 0; i < 256; i++) {
		struct tgate g = std_gate(i);

		put_gate(i, &g);
	}
	memset(&sh->t, 0, sizeof(sh->t));
	memcpy(sh->t.gpr, m->gpr, sizeof(m->gpr));
	sh->t.rip = m->rip;
	sh->t.rflags = m->rflags;
	sh->t.code64 = m->code64;
	sh->last_vector = 0x1234;
	sh->last_error = 0x5678;
	shadow_cpu_changed(sh, false, false);
	mmu_root_loaded(&sh->mmu, mmu_root(&sh->mmu, &sh->ctx));
	sh->mmu.need_reload = false;
}

/* ------------------------------------------------------------------------
 * Delivery through a 64-bit gate whose checks passed (SDM vol. 2, INT n,
 * IA-32e-MODE, INTER-PRIVILEGE-LEVEL-INTERRUPT and
 * INTRA-PRIVILEGE-LEVEL-INTERRUPT; vol. 3, 6.14.2-6.14.5): the stack is
 * the IST's when the gate has one, else RSP<DPL> of the TSS on a privilege
 * change, else the current one; aligned down to 16; SS, RSP, RFLAGS, CS,
 * RIP (and the error code) pushed, 8 bytes each; SS null with RPL = the
 * new CPL on a privilege change; CS(RPL) = CPL; IF cleared through an
 * interrupt gate; TF, VM, RF, NT cleared.
 */
static void m_deliver(struct mcpu *m, const struct tgate *g, unsigned new_cpl, bool has_err, uint32_t err,
		      uint64_t ret_rip)
{
	uint64_t rsp, old_rsp = m->gpr[R_SP];
	uint16_t ss = m->ss;
	unsigned n = 0;
	uint64_t push[6];

	if (new_cpl < m->cpl) {
		rsp = g->ist ? tss_ist[g->ist] : tss_rsp[new_cpl];
		ss = (uint16_t)new_cpl;
	} else {
		rsp = g->ist ? tss_ist[g->ist] : old_rsp;
	}
	rsp &= ~0xfULL;
	push[n++] = m->ss;
	push[n++] = old_rsp;
	push[n++] = m->rflags;
	push[n++] = m->cs;
	push[n++] = ret_rip;
	if (has_err)
		push[n++] = err;
	m->frame_n = n;
	for (unsigned i = 0; i < n; i++)
		m->frame[i] = push[n - 1 - i];          /* lowest address first */
	rsp -= 8 * n;
	m->frame_at = rsp;
	m->gpr[R_SP] = rsp;
	m->ss = ss;
	m->cs = (uint16_t)((g->sel & ~3) | new_cpl);
	m->cpl = new_cpl;
	m->rip = g->off;
	if (g->type == 0xe)
		m->rflags &= ~F_IF;
	m->rflags &= ~(F_TF | F_VM | F_RF | F_NT);
}

/* A fault of the instruction at m->rip (the state before it): delivered
 * through the standard gate of vec, with RIP the instruction's. */
static void m_fault(struct mcpu *m, unsigned vec, bool has_err, uint32_t err)
{
	struct tgate g = std_gate(vec);

	m->fault = true;
	m->vec = vec;
	m->err = err;
	m_deliver(m, &g, 0, has_err, err, m->rip);
}

static void m_gp(struct mcpu *m, uint32_t err) { m_fault(m, VEC_GP, true, err); }

/* Compare ombra's guest with the model's.  The RF bit of the RFLAGS image
 * in a fault's frame is not compared (see random_cpu). */
static void expect_same(const struct mcpu *m, enum trap_result r, const char *what, int i)
{
	struct vcpu *v = &sh->v;

	cr_expect_neq(r, TRAP_END, "%s case %d: the run ended: %s", what, i, vm->err);
	if (m->fault) {
		cr_expect_eq(r, TRAP_DELIVERED, "%s case %d", what, i);
		cr_expect_eq(sh->last_vector, m->vec, "%s case %d: vector %u, want %u", what, i,
			     sh->last_vector, m->vec);
		cr_expect_eq(sh->last_error, m->err, "%s case %d: error %#x, want %#x", what, i,
			     sh->last_error, m->err);
	}
	cr_expect_eq(sh->t.rip, m->rip, "%s case %d: rip %#llx, want %#llx", what, i,
		     (unsigned long long)sh->t.rip, (unsigned long long)m->rip);
	cr_expect_eq(sh->t.rflags, m->rflags, "%s case %d: rflags %#llx, want %#llx", what, i,
		     (unsigned long long)sh->t.rflags, (unsigned long long)m->rflags);
	for (unsigned k = 0; k < 16; k++)
		cr_expect_eq(sh->t.gpr[k], m->gpr[k], "%s case %d: gpr %u %#llx, want %#llx", what, i, k,
			     (unsigned long long)sh->t.gpr[k], (unsigned long long)m->gpr[k]);
	cr_expect_eq(v->cpl, m->cpl, "%s case %d: cpl %u, want %u", what, i, v->cpl, m->cpl);
	cr_expect_eq(v->cs.sel, m->cs, "%s case %d: cs %#x, want %#x", what, i, v->cs.sel, m->cs);
	cr_expect_eq(v->ss.sel, m->ss, "%s case %d: ss %#x, want %#x", what, i, v->ss.sel, m->ss);
	cr_expect_eq(v->ds.sel, m->ds, "%s case %d: ds %#x, want %#x", what, i, v->ds.sel, m->ds);
	cr_expect_eq(v->es.sel, m->es, "%s case %d: es %#x, want %#x", what, i, v->es.sel, m->es);
	cr_expect_eq(v->fs.sel, m->fs, "%s case %d: fs %#x, want %#x", what, i, v->fs.sel, m->fs);
	cr_expect_eq(v->gs.sel, m->gs, "%s case %d: gs %#x, want %#x", what, i, v->gs.sel, m->gs);
	cr_expect_eq(v->cs.l, desc(m->cs)->l, "%s case %d: cs.l", what, i);
	cr_expect_eq(v->cs.dpl, desc(m->cs)->dpl, "%s case %d: cs.dpl", what, i);
	cr_expect_eq(v->gs_base, m->gs_base, "%s case %d: gs base %#llx, want %#llx", what, i,
		     (unsigned long long)v->gs_base, (unsigned long long)m->gs_base);
	cr_expect_eq(v->kernel_gs_base, m->kgs_base, "%s case %d: kernel gs base %#llx, want %#llx", what, i,
		     (unsigned long long)v->kernel_gs_base, (unsigned long long)m->kgs_base);
	cr_expect_eq(v->fs_base, m->fs_base, "%s case %d: fs base", what, i);
	for (unsigned k = 0; k < m->frame_n; k++) {
		uint64_t got = get(m->frame_at + 8 * k, 8), want = m->frame[k];

		if (m->fault && k == (m->frame_n == 6 ? 3u : 2u)) {  /* the RFLAGS image */
			got &= ~F_RF;
			want &= ~F_RF;
		}
		cr_expect_eq(got, want, "%s case %d: frame qword %u at %#llx: %#llx, want %#llx", what, i, k,
			     (unsigned long long)(m->frame_at + 8 * k), (unsigned long long)got,
			     (unsigned long long)want);
	}
}

TestSuite(sysmodel, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------
 * SWAPGS (SDM vol. 2B): #UD outside 64-bit mode, #GP(0) at CPL > 0, else
 * GS.base and IA32_KERNEL_GS_BASE exchanged and nothing else changed.
 */
static void m_swapgs(struct mcpu *m)
{
	uint64_t t;

	if (!m->code64) {
		m_fault(m, VEC_UD, false, 0);
		return;
	}
	if (m->cpl != 0) {
		m_gp(m, 0);
		return;
	}
	t = m->gs_base;
	m->gs_base = m->kgs_base;
	m->kgs_base = t;
	m->rip += 3;
}

Test(sysmodel, swapgs_exchanges_gs_base_only_in_64_bit_mode_at_cpl_0)
{
	rng = 0x5a5a0001;
	for (int i = 0; i < 300; i++) {
		unsigned kind = below(4);       /* 0, 1: 64-bit at CPL 0; 2: CPL 3; 3: compatibility mode */
		struct mcpu m;
		enum trap_result r;

		random_cpu(&m, kind == 2 ? 3 : 0);
		random_tss();
		if (kind == 3) {
			m.cs = 0x10;
			m.code64 = false;
		}
		load(&m);
		put(INSN, 0xf8010f, 3);                 /* swapgs */
		m_swapgs(&m);
		/* The real CPU raises #UD outside 64-bit mode, #GP otherwise
		 * (ombra's guest runs at CPL 3). */
		r = emulate_insn(sh, m.code64 ? VEC_GP : VEC_UD);
		if (!m.fault)
			cr_expect_eq(r, TRAP_RESUME, "case %d", i);
		expect_same(&m, r, "swapgs", i);
		if (!m.fault) {
			cr_expect_eq(sh->v.gs.base, m.gs_base, "case %d: GS's hidden base is not the MSR", i);
			cr_expect_eq(sh->last_vector, 0x1234u, "case %d: an exception was delivered", i);
		}
	}
}

/* ------------------------------------------------------------------------
 * INT n and INT3 in 64-bit mode (SDM vol. 2, INT n/INTO/INT3/INT1,
 * IA-32e-MODE; vol. 3, 6.12.1.1 and 6.14): the gate must be in the IDT's
 * limit and a 64-bit interrupt or trap gate (#GP(n * 8 + 2)), its DPL at
 * least the CPL for a software interrupt (#GP(n * 8 + 2), EXT clear), and
 * present (#NP(n * 8 + 2)); its selector a 64-bit code segment no less
 * privileged than the CPL (#GP(selector)), present (#NP(selector)).  RIP
 * pushed is the next instruction's.
 */
static void m_int(struct mcpu *m, unsigned n, const struct tgate *g, unsigned idt_limit, uint64_t next_rip)
{
	const struct tdesc *d = desc(g->sel);
	uint32_t idt_err = n * 8 + 2, sel_err = g->sel & 0xfffc;
	unsigned new_cpl;

	if (n * 16 + 15 > idt_limit || (g->type != 0xe && g->type != 0xf))
		return m_gp(m, idt_err);
	if (g->dpl < m->cpl)
		return m_gp(m, idt_err);
	if (!g->p)
		return m_fault(m, VEC_NP, true, idt_err);
	if (!(g->sel & ~3))
		return m_gp(m, 0);
	if (!d || !is_code(d) || d->dpl > m->cpl)
		return m_gp(m, sel_err);
	if (!d->p)
		return m_fault(m, VEC_NP, true, sel_err);
	if (!d->l || d->db)
		return m_gp(m, sel_err);
	/* A conforming handler runs at the CPL; a non-conforming one at its DPL. */
	new_cpl = is_conforming(d) ? m->cpl : d->dpl;
	m->vec = n;
	m_deliver(m, g, new_cpl, false, 0, next_rip);
}

/* A random gate for vector n: mostly one that delivers. */
static struct tgate random_gate(unsigned n)
{
	static const uint16_t sels[] = { 0x08, 0x08, 0x08, 0x08, 0x30, 0x50, 0x10, 0x48, 0x28, 0x100 };
	static const unsigned bad_types[] = { 0x5, 0x6, 0x7, 0xc, 0x4 };
	struct tgate g = std_gate(n);

	g.sel = (uint16_t)(sels[below(10)] | below(4));    /* the gate selector's RPL is ignored */
	g.off = canon();
	g.ist = below(2) ? 0 : 1 + below(7);
	g.type = below(2) ? 0xe : 0xf;
	if (!below(12))
		g.type = bad_types[below(5)];
	g.dpl = below(4);
	g.p = below(10) != 0 || g.type < 0xe;
	return g;
}

static void int_cases(bool int3, uint64_t seed, int count)
{
	rng = seed;
	for (int i = 0; i < count; i++) {
		unsigned cpl = below(2) ? 3 : 0;
		unsigned n, limit = 0xfff;
		struct mcpu m;
		struct tgate g;
		enum trap_result r;

		/* Not the vectors whose gates deliver the faults checked here. */
		do
			n = int3 ? VEC_BP : below(256);
		while (n == VEC_DF || n == VEC_NP || n == VEC_GP || n == VEC_PF || n == VEC_UD);
		random_cpu(&m, cpl);
		random_tss();
		g = random_gate(n);
		if (!int3 && n >= 16 && !below(16))
			limit = n * 16 + below(15);     /* the gate's last byte beyond the IDT */
		load(&m);
		sh->v.idtr.limit = (uint16_t)limit;
		put_gate(n, &g);
		if (int3) {
			put(INSN, 0xcc, 1);
			sh->t.rip = INSN + 1;           /* #BP arrives past the int3 */
			m_int(&m, n, &g, limit, INSN + 1);
			r = inject_soft_exception(sh, VEC_BP);
		} else {
			put(INSN, 0xcd | n << 8, 2);    /* int n */
			m_int(&m, n, &g, limit, INSN + 2);
			r = emulate_insn(sh, VEC_GP);
		}
		expect_same(&m, r, int3 ? "int3" : "int n", i);
		if (!m.fault) {
			cr_expect_eq(r, TRAP_DELIVERED, "case %d", i);
			cr_expect_eq(sh->last_vector, n, "case %d: vector %u, want %u", i, sh->last_vector, n);
		}
	}
}

Test(sysmodel, int_n_in_64_bit_mode_matches_the_model)
{
	int_cases(false, 0x17170005, 600);
}

Test(sysmodel, int3_in_64_bit_mode_matches_the_model)
{
	int_cases(true, 0x17170003, 300);
}

/* ------------------------------------------------------------------------
 * IRETQ in 64-bit mode (SDM vol. 2, IRET/IRETD/IRETQ: PROTECTED-MODE,
 * IA-32e-MODE-RETURN, RETURN-TO-SAME-PRIVILEGE-LEVEL and
 * RETURN-TO-OUTER-PRIVILEGE-LEVEL; vol. 3, 6.14.3): RIP, CS, RFLAGS, RSP
 * and SS popped, 8 bytes each, CS and SS from the low 16 bits; NT set is
 * #GP(0) (no task return in IA-32e mode); the checks on CS and SS; RFLAGS
 * loaded as the old CPL and IOPL allow; DS, ES, FS and GS holding data or
 * non-conforming code with a DPL below the new CPL nulled on a return to
 * an outer level.
 */
static void m_iretq(struct mcpu *m, const uint64_t pop[5])
{
	uint64_t trip = pop[0], tflags = pop[2], trsp = pop[3];
	uint16_t tcs = (uint16_t)pop[1], tss = (uint16_t)pop[4];
	unsigned rpl = tcs & 3;
	const struct tdesc *c = desc(tcs), *s;
	bool to64, outer;
	uint64_t mask;

	if (m->rflags & F_NT)
		return m_gp(m, 0);
	if (!(tcs & ~3))
		return m_gp(m, 0);
	to64 = c && is_code(c) && c->l;
	if (to64 && !x86_canonical(trip))
		return m_gp(m, 0);
	if (!(tss & ~3) && (!to64 || rpl == 3 || (tss & 3) != rpl))
		return m_gp(m, 0);
	if (!c || !is_code(c) || rpl < m->cpl)
		return m_gp(m, tcs & 0xfffc);
	if (is_conforming(c) ? c->dpl > rpl : c->dpl != rpl)
		return m_gp(m, tcs & 0xfffc);
	if (!c->p)
		return m_fault(m, VEC_NP, true, tcs & 0xfffc);
	outer = rpl > m->cpl;
	if (tss & ~3) {
		s = desc(tss);
		if (!s || (tss & 3) != rpl || !is_writable_data(s) || s->dpl != rpl)
			return m_gp(m, tss & 0xfffc);
		if (!s->p)
			return m_fault(m, VEC_SS, true, tss & 0xfffc);
	}
	if (!to64 && trip > 0xffffffffULL)
		return m_gp(m, 0);
	/* The flags, as the CPL and IOPL before the return allow. */
	mask = F_CF | F_PF | F_AF | F_ZF | F_SF | F_TF | F_DF | F_OF | F_NT | F_RF | F_AC | F_ID;
	if (m->cpl <= ((m->rflags & F_IOPL) >> 12))
		mask |= F_IF;
	if (m->cpl == 0)
		mask |= F_IOPL | F_VIF | F_VIP;
	m->rflags = (m->rflags & ~mask) | (tflags & mask) | RFLAGS_FIXED;
	m->cpl = rpl;
	m->cs = tcs;
	m->rip = trip;
	m->ss = tss;
	m->gpr[R_SP] = trsp;
	m->code64 = to64;
	if (outer) {
		uint16_t *segs[] = { &m->ds, &m->es, &m->fs, &m->gs };

		for (unsigned k = 0; k < 4; k++) {
			const struct tdesc *d = desc(*segs[k]);

			if ((*segs[k] & ~3) && d && d->s && (!is_code(d) || !is_conforming(d)) && d->dpl < m->cpl)
				*segs[k] = 0;
		}
	}
}

/* One IRETQ case from CPL cpl: a valid return, or one with a single thing
 * wrong that the SDM names. */
static void iret_case(unsigned cpl, int i)
{
	static const uint16_t dsels[] = { 0, 0x18, 0x28, 0x08, 0x50, 0x68, 0x2b, 0x60 };
	uint64_t pop[5], at;
	static const unsigned at_cpl3[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 14 };
	unsigned kind = cpl ? at_cpl3[below(10)] : below(22);
	uint16_t cs = 0x33, ss = 0x2b;
	struct mcpu m;
	enum trap_result r;

	random_cpu(&m, cpl);
	random_tss();
	if (cpl == 0) {
		m.ds = dsels[below(8)] | (uint16_t)(below(2) ? 0 : 3);
		m.es = dsels[below(8)];
		m.fs = dsels[below(8)];
		m.gs = dsels[below(8)];
		/* Only selectors whose RPL the DPL allows sit in a data register. */
		if (m.ds & 3 && desc(m.ds)->dpl < 3)
			m.ds &= ~3;
	}
	/* The returned-to flags: anything, reserved bits and VM too. */
	pop[0] = canon();
	pop[2] = rnd();
	pop[3] = canon();
	m.rflags &= ~F_NT;
	switch (kind) {
	case 0: case 1: case 2: case 3:
		break;                                          /* valid */
	case 4:
		cs = 0x23;                                      /* to compatibility mode */
		pop[0] &= 0xffffffff;
		pop[3] &= 0xffffffff;
		break;
	case 5:
		cs = 0x5b;                                      /* conforming, DPL 3 */
		break;
	case 6:
		pop[0] = 0x0000800000000000ULL | rnd();         /* non-canonical RIP: #GP(0) */
		pop[0] &= 0xffff7fffffffffffULL;
		if (x86_canonical(pop[0]))
			pop[0] ^= 1ULL << 50;
		break;
	case 7:
		if (cpl) {
			cs = (uint16_t)((below(2) ? 0x30 : 0x08) | below(3));   /* RPL < CPL */
			ss = (uint16_t)(0x28 | (cs & 3));
		} else {
			m.rflags |= F_NT;                       /* a task return: #GP(0) */
		}
		break;
	case 8:  cs = 0x53; break;                              /* conforming, DPL 0, RPL 3: valid */
	case 9:  cs = 0x0b; break;                              /* non-conforming, DPL 0 != RPL 3 */
	case 10: cs = 0x2b; break;                              /* data as CS */
	case 11: cs = 0x4b; break;                              /* not present: #NP */
	case 12: cs = (uint16_t)(below(4)); break;              /* null CS */
	case 13: cs = 0x103; break;                             /* beyond the GDT */
	case 14: ss = (uint16_t)below(4); break;                /* null SS to CPL 3 */
	case 15: ss = 0x103; break;                             /* beyond the GDT */
	case 16: ss = 0x28; break;                              /* RPL 0 != CS's 3 */
	case 17: ss = 0x3b; break;                              /* read-only */
	case 18: ss = 0x33; break;                              /* code */
	case 19: ss = 0x63; break;                              /* DPL 2 */
	case 20: ss = 0x43; break;                              /* not present: #SS */
	case 21:                                                /* back to CPL 0 */
		cs = 0x08;
		ss = below(2) ? 0x18 : 0;
		break;
	}
	pop[1] = cs | (rnd() & ~0xffffULL);             /* the high 48 bits are discarded */
	pop[4] = ss | (rnd() & ~0xffffULL);
	at = 0x40000 + (rnd() & 0x7fff8);
	m.gpr[R_SP] = at;
	for (unsigned k = 0; k < 5; k++)
		put(at + 8 * k, pop[k], 8);
	load(&m);
	put(INSN, 0xcf48, 2);                           /* iretq */
	m_iretq(&m, pop);
	r = emulate_insn(sh, VEC_GP);
	if (!m.fault)
		cr_expect_eq(r, TRAP_RESUME, "case %d kind %u", i, kind);
	expect_same(&m, r, cpl ? "iretq at cpl 3" : "iretq at cpl 0", i);
	if (!m.fault)
		cr_expect_eq(sh->last_vector, 0x1234u, "case %d: an exception was delivered", i);
}

Test(sysmodel, iretq_from_cpl_0_matches_the_model)
{
	rng = 0x17170030;
	for (int i = 0; i < 600; i++)
		iret_case(0, i);
}

Test(sysmodel, iretq_at_cpl_3_matches_the_model)
{
	rng = 0x17170033;
	for (int i = 0; i < 300; i++)
		iret_case(3, i);
}
