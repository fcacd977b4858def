/*
 * The shadow-mode machine of the trap-path fuzz harnesses (shadow_guest.h):
 * a guest CPU in any mode ombra supports, its descriptor tables and page
 * tables, built from the fuzz input; and the invariants of the virtual CPU
 * that hold whatever the guest did.
 */
#include "shadow_guest.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>


uint8_t g_ram[G_RAM] __attribute__((aligned(4096)));
uint8_t g_hi[G_HI_SIZE] __attribute__((aligned(4096)));
static uint8_t pool[G_POOL_PAGES * 4096] __attribute__((aligned(4096)));
static uint8_t mon[MON_SIZE] __attribute__((aligned(4096)));
static uint8_t mon_built[MON_SIZE];      /* as shadow_build left it the first time */
static bool mon_snapshot;
static FILE *sink;                       /* ombra's messages (vm->log) */

/* Entry bits, written out (Intel SDM vol. 3, 4.3-4.5). */
#define E_P  0x1ULL
#define E_W  0x2ULL
#define E_U  0x4ULL
#define E_PS 0x80ULL

/* No ioctl, ever: the harnesses have no KVM, and the trap path must reach
 * it only through kvm_run (this one takes the place of libc's). */
int ioctl(int fd, unsigned long request, ...)
{
	(void)fd;
	(void)request;
	__builtin_trap();
}

uint8_t in_u8(struct fuzz_in *in)
{
	uint8_t b = 0;

	if (in->n) {
		b = *in->d++;
		in->n--;
	}
	return b;
}

uint16_t in_u16(struct fuzz_in *in)
{
	uint16_t v = in_u8(in);

	return (uint16_t)(v | in_u8(in) << 8);
}

uint32_t in_u32(struct fuzz_in *in)
{
	uint32_t v = in_u16(in);

	return v | (uint32_t)in_u16(in) << 16;
}

uint64_t in_u64(struct fuzz_in *in)
{
	uint64_t v = in_u32(in);

	return v | (uint64_t)in_u32(in) << 32;
}

bool g_canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

bool g_code64(const struct vcpu *v)
{
	return (v->efer & EFER_LMA) && v->cs.l;
}

void guest_poke(uint64_t gpa, const uint8_t *b, unsigned len)
{
	for (unsigned i = 0; i < len; i++, gpa++) {
		if (gpa < G_RAM)
			g_ram[gpa] = b[i];
		else if (gpa >= G_HI && gpa - G_HI < G_HI_SIZE)
			g_hi[gpa - G_HI] = b[i];
	}
}

uint64_t guest_gpa_of(const struct fuzz_guest *g, uint64_t gva)
{
	if (g->high && gva >= G_HIGH)
		gva -= G_HIGH;
	return gva < G_RAM ? gva : (uint64_t)-1;
}

static void put(uint64_t gpa, uint64_t v, unsigned size)
{
	memcpy(g_ram + gpa, &v, size);
}

/* A segment descriptor (SDM vol. 3, 3.4.5). */
static uint64_t desc(uint32_t base, uint32_t limit, unsigned type, unsigned s, unsigned dpl, unsigned p,
		     unsigned l, unsigned db, unsigned gran)
{
	return (limit & 0xffffULL) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)type << 40 |
	       (uint64_t)s << 44 | (uint64_t)dpl << 45 | (uint64_t)p << 47 |
	       (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)l << 53 | (uint64_t)db << 54 |
	       (uint64_t)gran << 55 | (uint64_t)(base >> 24) << 56;
}

/* What the CPU holds in a segment register after loading sel with d. */
static struct vseg seg(uint16_t sel, uint64_t d)
{
	struct vseg s = { .sel = sel };

	s.base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
	s.limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	s.type = (d >> 40) & 0xf;
	s.s = (d >> 44) & 1;
	s.dpl = (d >> 45) & 3;
	s.p = (d >> 47) & 1;
	s.l = (d >> 53) & 1;
	s.db = (d >> 54) & 1;
	s.g = (d >> 55) & 1;
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

enum { K_32, K_PAE, K_64 };

/* Tables mapping [0, G_RAM), the second slot and four pages of the hole
 * one to one; large: one large page at 0 instead of the lowest table. */
static void build_tables(int kind, bool large, uint64_t unmap_gpa, uint64_t pdptes[4])
{
	unsigned esize = kind == K_32 ? 4 : 8;
	uint64_t pt = kind == K_32 ? 0x5000 : kind == K_PAE ? 0x6000 : 0x7000, pd = pt - 0x1000;
	uint64_t pwu = E_P | E_W | E_U;

	memset(g_ram + G_TABLES, 0, G_TABLES_END - G_TABLES);
	if (kind == K_64) {
		put(0x4000, 0x5000 | pwu, 8);
		put(0x4000 + ((G_HIGH >> 39) & 511) * 8, 0x5000 | pwu, 8);   /* the kernel half: */
		put(0x5000, 0x6000 | pwu, 8);
		put(0x5000 + ((G_HIGH >> 30) & 511) * 8, 0x6000 | pwu, 8);  /* the same 1 GiB */
	} else if (kind == K_PAE) {
		put(0x4000, 0x5000 | E_P, 8);                    /* PDPTEs have no R/W, U/S */
	}
	put(pd, large ? E_PS | pwu : pt | pwu, esize);
	for (uint64_t a = 0; a < G_RAM + 0x4000; a += 4096)
		put(pt + (a >> 12) * esize, a | pwu, esize);
	for (uint64_t a = G_HI; a < G_HI + G_HI_SIZE; a += 4096)
		put(pt + (a >> 12) * esize, a | pwu, esize);
	if (unmap_gpa < G_RAM)
		put(pt + (unmap_gpa >> 12) * esize, 0, esize);
	for (int i = 0; i < 4; i++)
		pdptes[i] = 0;
	if (kind == K_PAE)
		memcpy(pdptes, g_ram + 0x4000, 32);
}

static void build_descriptors(bool is_long, bool high)
{
	uint64_t base_off = high ? G_HIGH : 0;

	memset(g_ram + G_GDT, 0, 0x3000);
	put(G_GDT + 0x08, desc(0, 0xfffff, 0xb, 1, 0, 1, 1, 0, 1), 8);   /* code64 DPL0 */
	put(G_GDT + 0x10, desc(0, 0xfffff, 0xb, 1, 0, 1, 0, 1, 1), 8);   /* code32 DPL0 */
	put(G_GDT + 0x18, desc(0, 0xfffff, 0x3, 1, 0, 1, 0, 1, 1), 8);   /* data DPL0 */
	put(G_GDT + 0x20, desc(0, 0xfffff, 0xb, 1, 3, 1, 0, 1, 1), 8);   /* code32 DPL3 */
	put(G_GDT + 0x28, desc(0, 0xfffff, 0x3, 1, 3, 1, 0, 1, 1), 8);   /* data DPL3 */
	put(G_GDT + 0x30, desc(0, 0xfffff, 0xb, 1, 3, 1, 1, 0, 1), 8);   /* code64 DPL3 */
	put(G_GDT + 0x38, desc(G_TSS, 0x67, 0xb, 0, 0, 1, 0, 0, 0), 8);  /* busy TSS (loaded) */
	put(G_GDT + 0x48, desc(G_LDT, 0x2f, 0x2, 0, 0, 1, 0, 0, 0), 8);  /* LDT */
	put(G_GDT + 0x58, desc(0, 0xfffff, 0xf, 1, 0, 1, 0, 1, 1), 8);   /* conforming code32 */
	put(G_GDT + 0x60, desc(0, 0xfffff, 0xf, 1, 0, 1, 1, 0, 1), 8);   /* conforming code64 */
	put(G_GDT + 0x68, desc(0, 0xfffff, 0x3, 1, 0, 0, 0, 1, 1), 8);   /* data, not present */
	put(G_GDT + 0x70, desc(G_TSS, 0x67, 0x9, 0, 0, 1, 0, 0, 0), 8);  /* available TSS */
	/* The LDT: code32, data, code64 at DPL 3, code32 and data at DPL 0. */
	put(G_LDT + 0x08, desc(0, 0xfffff, 0xb, 1, 3, 1, 0, 1, 1), 8);
	put(G_LDT + 0x10, desc(0, 0xfffff, 0x3, 1, 3, 1, 0, 1, 1), 8);
	put(G_LDT + 0x18, desc(0, 0xfffff, 0xb, 1, 3, 1, 1, 0, 1), 8);
	put(G_LDT + 0x20, desc(0, 0xfffff, 0xb, 1, 0, 1, 0, 1, 1), 8);
	put(G_LDT + 0x28, desc(0, 0xfffff, 0x3, 1, 0, 1, 0, 1, 1), 8);

	/* Interrupt gates to the kernel's code (trap gates for #BP, #OF and
	 * 0x80), DPL 3 for those and the external vectors; #DF on IST1 and
	 * NMI on IST2. */
	for (unsigned v = 0; v < 256; v++) {
		uint64_t target = base_off + G_HANDLER + v * 16;
		unsigned type = v == 3 || v == 4 || v == 0x80 ? 0xf : 0xe;
		unsigned dpl = v == 3 || v == 4 || v >= 32 ? 3 : 0;
		uint64_t lo = (target & 0xffff) | (uint64_t)(is_long ? 0x08 : 0x10) << 16 |
			      (uint64_t)(0x80 | dpl << 5 | type) << 40 | ((target >> 16) & 0xffff) << 48;

		if (is_long) {
			lo |= (uint64_t)(v == 8 ? 1 : v == 2 ? 2 : 0) << 32;
			put(G_IDT + v * 16, lo, 8);
			put(G_IDT + v * 16 + 8, target >> 32, 8);
		} else {
			put(G_IDT + v * 8, lo, 8);
		}
	}
	if (is_long) {
		put(G_TSS + 4, base_off + G_STACK0, 8);           /* RSP0 */
		put(G_TSS + 36, base_off + G_STACK0 - 0x1000, 8); /* IST1 */
		put(G_TSS + 44, base_off + G_STACK0 - 0x2000, 8); /* IST2 */
	} else {
		put(G_TSS + 4, G_STACK0, 4);                      /* ESP0 */
		put(G_TSS + 8, 0x18, 2);                          /* SS0 */
	}
}

static uint64_t reg_value(uint64_t raw, unsigned kind, bool high)
{
	switch (kind & 3) {
	case 0: return raw;
	case 1: return (raw & (G_RAM - 1)) + (high ? G_HIGH : 0);
	case 2: return raw & 0xffff;
	default: return raw & 0xf;
	}
}

static void once(void)
{
	sink = fopen("/dev/null", "w");
	MUST(sink != NULL);
}

void guest_build(struct fuzz_guest *g, struct fuzz_in *in, bool with_monitor)
{
	static bool done_once;
	struct vm *vm = &g->vm;
	struct shadow *sh = &g->sh;
	struct vcpu *v = &sh->v;
	struct trap *t = &sh->t;
	uint8_t mode = in_u8(in), fa = in_u8(in), fb = in_u8(in), xcr0 = in_u8(in), xcr4 = in_u8(in);
	uint8_t xefer = in_u8(in), npokes = in_u8(in) % 8;
	uint16_t off = in_u16(in);
	uint32_t kinds = in_u32(in);
	bool cpl3 = fa & 1, large = fa & 2, unmap_next = fa & 4, is_long;
	uint64_t rip_gpa, pdptes[4], insn_at;
	unsigned prep = (fb >> 4) & 3, pages = fb & 0x40 ? 16 : G_POOL_PAGES;
	int kind;
	uint8_t insn[15];
	struct shadow_opts opts = SHADOW_OPTS_DEFAULT;

	if (!done_once) {
		once();
		done_once = true;
	}
	g->mode = (enum g_mode)(mode % G_MODES);
	is_long = g->mode == G_LONG64 || g->mode == G_COMPAT;
	g->high = g->mode == G_LONG64 && (fa & 8);
	g->tables_poked = false;

	/* Guest memory: RAM, descriptor tables, page tables. */
	memset(g_ram, 0, sizeof(g_ram));
	memset(g_hi, 0, sizeof(g_hi));
	build_descriptors(is_long, g->high);
	switch (g->mode) {
	case G_PROT32:  kind = prep == 2 ? K_64 : prep == 1 ? K_PAE : K_32; break;
	case G_PAGING32: kind = K_32; break;
	case G_PAE:     kind = K_PAE; break;
	default:        kind = K_64; break;
	}
	if (g->mode == G_PROT32 && unmap_next)
		rip_gpa = G_RAM - 1 - off % 14;      /* the instruction runs off the end of RAM */
	else
		rip_gpa = G_CODE + off;
	build_tables(kind, large, unmap_next ? (rip_gpa & ~0xfffULL) + 0x1000 : (uint64_t)-1, pdptes);

	/* The input's pokes: whatever the guest wrote since. */
	for (unsigned i = 0; i < npokes; i++) {
		uint32_t a = in_u32(in);
		uint8_t b[16];
		unsigned len = in_u8(in) % 16 + 1;
		uint64_t gpa = a & 0x80000000u ? G_HI + (a & (G_HI_SIZE - 1)) : a & (G_RAM - 1);

		for (unsigned k = 0; k < len; k++)
			b[k] = in_u8(in);
		guest_poke(gpa, b, len);
		if (gpa < G_TABLES_END && gpa + len > G_TABLES)
			g->tables_poked = true;
	}
	for (unsigned k = 0; k < 15; k++)
		insn[k] = in_u8(in);
	insn_at = rip_gpa;
	guest_poke(insn_at, insn, 15);

	/* The machine: as shadow_setup makes it, without KVM. */
	memset(vm, 0, sizeof(*vm));
	vm->mode = &shadow_mode;
	vm->mode_data = sh;
	vm->log = sink;
	vm->kvm.fd = vm->kvm.vcpu_fd = vm->kvm.vm_stats_fd = vm->kvm.vcpu_stats_fd = -1;
	memset(&g->run, 0, sizeof(g->run));
	g->run.kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	vm->kvm.run = &g->run;
	mem_init(&vm->mem);
	vm->mem.slots[0] = (struct memslot){ .used = true, .id = 0, .gpa = 0, .size = G_RAM, .hva = g_ram,
					     .mpa = SHADOW_RAM_MPA_OFFSET };
	vm->mem.slots[1] = (struct memslot){ .used = true, .id = 1, .gpa = G_HI, .size = G_HI_SIZE,
					     .hva = g_hi, .mpa = SHADOW_RAM_MPA_OFFSET + G_HI };
	vm->mem.ram_size = G_RAM + G_HI_SIZE;
	vm->mem.mpa_offset = SHADOW_RAM_MPA_OFFSET;
	MUST(board_init(&vm->board, NULL, sink, vm->mem.ram_size) == 0);

	/* shadow_build: what shadow_setup builds before it turns to KVM (the
	 * pool as fresh as shadow_setup's mmap), the MMU's options from the
	 * input. */
	memset(sh, 0, sizeof(*sh));
	memset(pool, 0, sizeof(pool));
	opts.sync = (enum shadow_sync)((fb & 3) % 3);
	opts.prefetch = fb & 4 ? 8 : 0;
	opts.no_large = !(fb & 8);
	opts.patch = fa & 0x20;                 /* --shadow-patch */
	MUST(shadow_build(sh, vm, &opts, mon, pool, pages) == 0);
	if (!mon_snapshot) {
		memcpy(mon_built, mon, MON_SIZE);
		mon_snapshot = true;
	}
	sh->umip = true;
	if (with_monitor) {
		memset(mon + MON_MAILBOX, 0, 0x1000);
		memset(mon + MON_STACK, 0, MON_STACK_TOP - MON_STACK);
	} else {
		sh->mon = NULL;                  /* the emulator alone never touches it */
	}

	/* The guest's CPU. */
	v->cr0 = CR0_PE | CR0_ET | (g->mode == G_PROT32 ? 0 : CR0_PG);
	v->cr0 |= (xcr0 & 1 ? CR0_MP : 0) | (xcr0 & 2 ? CR0_EM : 0) | (xcr0 & 4 ? CR0_TS : 0) |
		  (xcr0 & 8 ? CR0_NE : 0) | (xcr0 & 16 ? CR0_WP : 0) | (xcr0 & 32 ? CR0_AM : 0) |
		  (xcr0 & 64 ? CR0_CD : 0) | ((xcr0 & 0xc0) == 0xc0 ? CR0_NW : 0);
	v->cr4 = (kind != K_32 && (g->mode != G_PROT32 || prep) ? CR4_PAE : 0) |
		 (xcr4 & 1 || (kind == K_32 && large) ? CR4_PSE : 0) | (xcr4 & 2 ? CR4_PGE : 0) |
		 (xcr4 & 4 ? CR4_TSD : 0) | (xcr4 & 8 ? CR4_DE : 0) | (xcr4 & 16 ? CR4_PCE : 0) |
		 (xcr4 & 32 ? CR4_OSFXSR : 0) | (xcr4 & 64 ? CR4_OSXMMEXCPT : 0);
	v->efer = (is_long ? EFER_LME | EFER_LMA : 0) | (g->mode == G_PROT32 && prep == 2 ? EFER_LME : 0) |
		  (xefer & 1 ? EFER_NXE : 0) | (xefer & 2 ? EFER_SCE : 0);
	v->cr3 = G_TABLES | (fb & 0x80 ? 0x18 : 0);
	v->cr2 = in_u64(in);
	if (g->mode == G_PAE)
		memcpy(v->pdptes, pdptes, sizeof(v->pdptes));
	v->gdtr.base = G_GDT + (g->high ? G_HIGH : 0);
	v->gdtr.limit = G_GDT_LIMIT;
	v->idtr.base = G_IDT + (g->high ? G_HIGH : 0);
	v->idtr.limit = is_long ? 0xfff : 0x7ff;
	v->cpl = cpl3 ? 3 : 0;
	if (g->mode == G_LONG64)
		v->cs = cpl3 ? seg(0x33, desc(0, 0xfffff, 0xb, 1, 3, 1, 1, 0, 1))
			     : seg(0x08, desc(0, 0xfffff, 0xb, 1, 0, 1, 1, 0, 1));
	else
		v->cs = cpl3 ? seg(0x23, desc(0, 0xfffff, 0xb, 1, 3, 1, 0, 1, 1))
			     : seg(0x10, desc(0, 0xfffff, 0xb, 1, 0, 1, 0, 1, 1));
	v->ss = cpl3 ? seg(0x2b, desc(0, 0xfffff, 0x3, 1, 3, 1, 0, 1, 1))
		     : seg(0x18, desc(0, 0xfffff, 0x3, 1, 0, 1, 0, 1, 1));
	v->ds = v->es = v->fs = v->gs = v->ss;
	v->tr = seg(0x38, desc(G_TSS, 0x67, 0xb, 0, 0, 1, 0, 0, 0));
	v->tr.base += g->high ? G_HIGH : 0;
	if (fa & 0x80) {
		v->ldtr = seg(0x48, desc(G_LDT, 0x2f, 0x2, 0, 0, 1, 0, 0, 0));
		v->ldtr.base += g->high ? G_HIGH : 0;
	} else {
		v->ldtr.type = 0x2;
		v->ldtr.p = 1;
		v->ldtr.limit = 0xffff;
	}
	v->vif = fa & 0x10;
	v->iopl = (fa >> 5) & 3;
	v->pat = 0x0007040600070406ULL;
	v->apic_base = 0xfee00900ULL;
	v->fs_base = (uint64_t)((int64_t)(in_u64(in) << 16) >> 16);
	v->gs_base = (uint64_t)((int64_t)(in_u64(in) << 16) >> 16);
	v->kernel_gs_base = (uint64_t)((int64_t)(in_u64(in) << 16) >> 16);

	/* The registers at the trap: RIP at the instruction, the rest from
	 * the input (2 bits each say raw, in RAM, 16 or 4 bits). */
	memset(t, 0, sizeof(*t));
	t->rip = rip_gpa + (g->high ? G_HIGH : 0);
	for (unsigned i = 0; i < 16; i++)
		t->gpr[i] = reg_value(in_u64(in), kinds >> (2 * i), g->high);
	t->rflags = (in_u32(in) & 0x2c7fd5u) | RFLAGS_FIXED | (v->vif ? RFLAGS_IF : 0) |
		    (uint64_t)v->iopl << 12;
	t->error_code = in_u16(in);
	t->cr2 = in_u64(in);
	t->code64 = g_code64(v);
	g->run.s.regs.sregs.fs.base = v->fs_base;
	g->run.s.regs.sregs.gs.base = v->gs_base;

	/* The MMU follows the CPU, and the real CR3 holds the root, as at
	 * the end of shadow_setup. */
	shadow_cpu_changed(sh, false, false);
	mmu_root_loaded(&sh->mmu, mmu_root(&sh->mmu, &sh->ctx));
	sh->mmu.need_reload = false;
	g->ready = true;
}

bool guest_monitor_intact(void)
{
	const uint8_t *top = mon + MON_GDT + 8 * MON_GDT_GUEST_END;

	/* Code, IDT, TSS, the monitor's GDT entries, page tables: all but the
	 * mailbox, the stack and the guest's part of the GDT, which may hold
	 * only descriptors CPL 3 could have anyway: present code or data
	 * segments (no system descriptor, so no gate), DPL 3, base 0. */
	for (unsigned i = 1; i < MON_GDT_GUEST_END; i++) {
		uint64_t d;

		memcpy(&d, mon + MON_GDT + 8 * i, 8);
		if (d && (!(d >> 47 & 1) || !(d >> 44 & 1) || (d >> 45 & 3) != 3 ||
			  ((d >> 16) & 0xffffff) || (d >> 56)))
			return false;
	}
	return memcmp(mon, mon_built, MON_MAILBOX) == 0 &&
	       memcmp(mon + MON_IDT, mon_built + MON_IDT, MON_STACK - MON_IDT) == 0 &&
	       memcmp(mon + MON_STACK_TOP, mon_built + MON_STACK_TOP, MON_GDT - MON_STACK_TOP) == 0 &&
	       memcmp(top, mon_built + (top - mon), 0x30000 - (size_t)(top - mon)) == 0;
}

void guest_free(struct fuzz_guest *g)
{
	if (!g->ready)
		return;
	shadow_unbuild(&g->sh);
	board_destroy(&g->vm.board);
	g->ready = false;
}

void guest_check_vcpu(const struct fuzz_guest *g, bool native)
{
	const struct vcpu *v = &g->sh.v;
	const struct mmu_ctx *ctx = &g->sh.ctx;
	const struct trap *t = &g->sh.t;
	enum mmu_path path;

	/* CR0 (SDM vol. 3, 2.5): no bits above 31; PG needs PE, NW needs CD.
	 * ombra has no real mode, so PE stays set while the guest runs. */
	MUST(!(v->cr0 >> 32));
	MUST(v->cr0 & CR0_PE);
	MUST(!(v->cr0 & CR0_NW) || (v->cr0 & CR0_CD));
	/* EFER.LMA is CR0.PG && EFER.LME (SDM vol. 3, 9.8.5), and long mode
	 * keeps CR4.PAE; EFER and CR4 hold only what CPUID advertises
	 * (docs/cpuid.md; SCE as under KVM). */
	MUST(!!(v->efer & EFER_LMA) == ((v->cr0 & CR0_PG) && (v->efer & EFER_LME)));
	MUST(!(v->efer & EFER_LMA) || (v->cr4 & CR4_PAE));
	MUST(!(v->efer & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)));
	MUST(!(v->cr4 & ~(CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_PCE | CR4_OSFXSR |
			  CR4_OSXMMEXCPT)));
	/* CPL is CS.RPL, and SS.RPL equals it. */
	MUST(v->cpl <= 3 && v->iopl <= 3);
	MUST((v->cs.sel & 3) == v->cpl);
	MUST((v->ss.sel & 3) == v->cpl);
	if (!native) {
		/* CS was loaded from a present code descriptor, and L=1 with
		 * D=1 is reserved in IA-32e mode (SDM vol. 3, 5.2.1). */
		MUST(v->cs.s && (v->cs.type & 8) && v->cs.p);
		MUST(!(g_code64(v) && v->cs.db));
		/* RIP fits the mode. */
		MUST(g_code64(v) ? g_canonical(t->rip) : t->rip <= 0xffffffffULL);
	}
	/* RFLAGS has its fixed bit and no reserved or VM bit. */
	MUST(t->rflags & RFLAGS_FIXED);
	MUST(!(t->rflags & ~0x3f7fd7ULL) && !(t->rflags & RFLAGS_VM));
	/* The MMU context follows the CPU (mmu.h: "the caller keeps it up to date"). */
	path = !(v->cr0 & CR0_PG) ? PATH_NONPAGING : (v->efer & EFER_LMA) ? PATH_PAGING64 :
	       (v->cr4 & CR4_PAE) ? PATH_PAGING32E : PATH_PAGING32;
	MUST(ctx->path == path);
	MUST(ctx->cr3 == v->cr3);
	MUST(ctx->cr0_wp == !!(v->cr0 & CR0_WP));
	MUST(ctx->cr4_pge == !!(v->cr4 & CR4_PGE));
	MUST(ctx->efer_nx == ((path == PATH_PAGING32E || path == PATH_PAGING64) && (v->efer & EFER_NXE)));
	MUST(ctx->user == (v->cpl == 3));
	if (path != PATH_NONPAGING) {
		MUST(ctx->walk.cr3 == v->cr3);
		MUST(!!(ctx->walk.flags & WALK_CR4_PSE) == !!(v->cr4 & CR4_PSE));
	}
	if (path == PATH_PAGING32E)
		MUST(memcmp(ctx->walk.pdptes, v->pdptes, sizeof(v->pdptes)) == 0);
}
