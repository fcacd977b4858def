/*
 * Instructions that trap in shadow mode, decoded with capstone and emulated
 * against the guest's virtual CPU.
 *
 * The guest kernel runs at real CPL 3 with IOPL 0, so its privileged and
 * sensitive instructions raise #GP (or #NP/#SS/#TS for segment loads that
 * meet the monitor's GDT).  ombra reads the instruction at the guest's RIP
 * through the guest's own paging, decodes it, and does what the CPU would
 * have done at the guest's CPL: control registers, descriptor-table
 * registers, MSRs, port I/O through the same devices as tdp mode, CLI/STI,
 * HLT, segment loads, far transfers, IRET, INT n, SWAPGS.  At the guest's
 * CPL 3 the same instruction gets the #GP the guest's CPU would raise.
 *
 * Two outcomes are kept apart: an instruction that is not privileged (the
 * #GP was the guest's own, a non-canonical address say) is handed back to
 * the guest as the exception it raised; a privileged one ombra does not
 * emulate ends the guest with its name, bytes, address and CPU mode, so it
 * is never silently wrong.
 */
#include <capstone/capstone.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "x86/cpuid.h"
#include "shadow.h"

/* The CR4 bits a guest may set: what ombra's CPUID table advertises. */
#define CR4_ALLOWED (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT)
#define EFER_ALLOWED (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

#define MSR_TSC            0x10
#define MSR_APIC_BASE      0x1b
#define MSR_SYSENTER_CS    0x174
#define MSR_SYSENTER_ESP   0x175
#define MSR_SYSENTER_EIP   0x176
#define MSR_MISC_ENABLE    0x1a0
#define MSR_TSC_DEADLINE   0x6e0
#define MSR_PAT            0x277
#define MSR_EFER           0xc0000080
#define MSR_STAR           0xc0000081
#define MSR_LSTAR          0xc0000082
#define MSR_CSTAR          0xc0000083
#define MSR_SFMASK         0xc0000084
#define MSR_FS_BASE        0xc0000100
#define MSR_GS_BASE        0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX        0xc0000103

struct insn {
	cs_insn *ci;               /* capstone's decoding (with detail) */
	cs_x86 *x;
	uint8_t bytes[16];
	unsigned len;
	int bits;                  /* 32 or 64: the mode it was decoded in */
	unsigned opsize;           /* operand size in bytes, from the prefixes */
	unsigned addrsize;
	uint64_t next_rip;
};

/* --- registers --------------------------------------------------------- */

/* The guest register a capstone register names: index, width, high byte. */
static bool reg_info(x86_reg r, unsigned *idx, unsigned *size, bool *high)
{
	static const x86_reg r64[16] = { X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX,
		X86_REG_RSP, X86_REG_RBP, X86_REG_RSI, X86_REG_RDI, X86_REG_R8, X86_REG_R9,
		X86_REG_R10, X86_REG_R11, X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15 };
	static const x86_reg r32[16] = { X86_REG_EAX, X86_REG_ECX, X86_REG_EDX, X86_REG_EBX,
		X86_REG_ESP, X86_REG_EBP, X86_REG_ESI, X86_REG_EDI, X86_REG_R8D, X86_REG_R9D,
		X86_REG_R10D, X86_REG_R11D, X86_REG_R12D, X86_REG_R13D, X86_REG_R14D, X86_REG_R15D };
	static const x86_reg r16[16] = { X86_REG_AX, X86_REG_CX, X86_REG_DX, X86_REG_BX,
		X86_REG_SP, X86_REG_BP, X86_REG_SI, X86_REG_DI, X86_REG_R8W, X86_REG_R9W,
		X86_REG_R10W, X86_REG_R11W, X86_REG_R12W, X86_REG_R13W, X86_REG_R14W, X86_REG_R15W };
	static const x86_reg r8[16] = { X86_REG_AL, X86_REG_CL, X86_REG_DL, X86_REG_BL,
		X86_REG_SPL, X86_REG_BPL, X86_REG_SIL, X86_REG_DIL, X86_REG_R8B, X86_REG_R9B,
		X86_REG_R10B, X86_REG_R11B, X86_REG_R12B, X86_REG_R13B, X86_REG_R14B, X86_REG_R15B };
	static const x86_reg r8h[4] = { X86_REG_AH, X86_REG_CH, X86_REG_DH, X86_REG_BH };

	*high = false;
	for (unsigned i = 0; i < 16; i++) {
		if (r == r64[i]) { *idx = i; *size = 8; return true; }
		if (r == r32[i]) { *idx = i; *size = 4; return true; }
		if (r == r16[i]) { *idx = i; *size = 2; return true; }
		if (r == r8[i])  { *idx = i; *size = 1; return true; }
	}
	for (unsigned i = 0; i < 4; i++)
		if (r == r8h[i]) { *idx = i; *size = 1; *high = true; return true; }
	return false;
}

static uint64_t reg_get(struct shadow *sh, x86_reg r)
{
	unsigned idx, size;
	bool high;
	uint64_t v;

	if (r == X86_REG_RIP || r == X86_REG_EIP)
		return sh->t.rip;
	if (!reg_info(r, &idx, &size, &high))
		return 0;
	v = sh->t.gpr[idx];
	if (high)
		return (v >> 8) & 0xff;
	return size == 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

/* Write as the CPU does: 32-bit writes zero-extend, 8/16-bit writes merge. */
static void reg_set(struct shadow *sh, x86_reg r, uint64_t val)
{
	unsigned idx, size;
	bool high;
	uint64_t *g;

	if (!reg_info(r, &idx, &size, &high))
		return;
	g = &sh->t.gpr[idx];
	if (high)
		*g = (*g & ~0xff00ULL) | ((val & 0xff) << 8);
	else if (size == 8)
		*g = val;
	else if (size == 4)
		*g = val & 0xffffffffULL;
	else
		*g = (*g & ~((1ULL << (8 * size)) - 1)) | (val & ((1ULL << (8 * size)) - 1));
}

static void set_sized(uint64_t *g, uint64_t val, unsigned size)
{
	if (size == 8)
		*g = val;
	else if (size == 4)
		*g = val & 0xffffffffULL;
	else
		*g = (*g & ~((1ULL << (8 * size)) - 1)) | (val & ((1ULL << (8 * size)) - 1));
}

/* The linear address of a memory operand (segments are flat but FS/GS). */
static uint64_t mem_addr(struct shadow *sh, const struct insn *in, const cs_x86_op *op)
{
	uint64_t a = (uint64_t)op->mem.disp;

	if (op->mem.base == X86_REG_RIP || op->mem.base == X86_REG_EIP)
		a += in->next_rip;
	else if (op->mem.base != X86_REG_INVALID)
		a += reg_get(sh, op->mem.base);
	if (op->mem.index != X86_REG_INVALID)
		a += reg_get(sh, op->mem.index) * (uint64_t)op->mem.scale;
	if (in->addrsize == 4)
		a &= 0xffffffffULL;
	if (op->mem.segment == X86_REG_FS)
		a += vcpu_long(&sh->v) ? sh->v.fs_base : sh->v.fs.base;
	else if (op->mem.segment == X86_REG_GS)
		a += vcpu_long(&sh->v) ? sh->v.gs_base : sh->v.gs.base;
	if (!vcpu_long(&sh->v))
		a &= 0xffffffffULL;
	return a;
}

/* --- exceptions the instruction raises ---------------------------------- */

static enum trap_result gp0(struct shadow *sh)
{
	return inject_exception(sh, VEC_GP, true, 0);
}

static enum trap_result ud(struct shadow *sh)
{
	return inject_exception(sh, VEC_UD, false, 0);
}

/* Done: step over the instruction. */
static enum trap_result done(struct shadow *sh, const struct insn *in)
{
	sh->t.rip = in->next_rip;
	sh->emulated++;
	return TRAP_RESUME;
}

/* --- control registers ------------------------------------------------------- */

/*
 * PAE: the CPU loads the four PDPTEs from CR3 when it enables PAE paging,
 * on MOV CR3, and when CR4.PAE/PSE/PGE change with paging on; a reserved
 * bit in one is a #GP at that instruction, not a #PF later.
 */
static bool load_pdptes(struct shadow *sh, uint64_t cr3)
{
	struct walk_ctx w;

	walk_init(&w, WALK_PAGING32E, 0, WALK_MAXPHYADDR_DEFAULT, sh->ctx.walk.gpa_fn,
		  (void *)&sh->vm->mem);
	if (walk_set_cr3(&w, cr3) != WALK_OK)
		return false;
	memcpy(sh->v.pdptes, w.pdptes, sizeof(sh->v.pdptes));
	return true;
}

static bool pae_paging(const struct vcpu *v, uint64_t cr0, uint64_t cr4)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(v->efer & EFER_LMA);
}

static enum trap_result write_cr0(struct shadow *sh, uint64_t val)
{
	struct vcpu *v = &sh->v;
	uint64_t old = v->cr0;

	if (val >> 32)
		return gp0(sh);
	val |= CR0_ET;
	if (((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
		return gp0(sh);
	if (!(val & CR0_PE))
		return shadow_kill(sh, "the guest cleared CR0.PE: ombra has no real mode");
	if ((val & CR0_PG) && !(old & CR0_PG) && (v->efer & EFER_LME)) {
		/* Entering long mode: PAE first, and not from a 64-bit segment. */
		if (!(v->cr4 & CR4_PAE) || v->cs.l)
			return gp0(sh);
		v->efer |= EFER_LMA;
	}
	if (!(val & CR0_PG) && (old & CR0_PG) && (v->efer & EFER_LMA)) {
		if (v->cs.l)
			return gp0(sh);           /* leave long mode from compatibility mode only */
		v->efer &= ~EFER_LMA;
	}
	if (pae_paging(v, val, v->cr4) && ((old ^ val) & (CR0_PG | CR0_CD | CR0_NW)) &&
	    !load_pdptes(sh, v->cr3)) {
		v->efer = (v->efer & ~EFER_LMA) | (old & CR0_PG ? v->efer & EFER_LMA : 0);
		return gp0(sh);
	}
	v->cr0 = val;
	if ((old ^ val) & (CR0_PG | CR0_WP | CR0_PE))
		shadow_cpu_changed(sh, (old ^ val) & CR0_PG);
	return TRAP_RESUME;
}

static enum trap_result write_cr3(struct shadow *sh, uint64_t val)
{
	struct vcpu *v = &sh->v;

	if (vcpu_long(v) && (val >> 40))
		return gp0(sh);                    /* above MAXPHYADDR */
	if (!vcpu_long(v))
		val &= 0xffffffffULL;
	if (pae_paging(v, v->cr0, v->cr4) && !load_pdptes(sh, val))
		return gp0(sh);
	v->cr3 = val;
	shadow_cpu_changed(sh, true);
	return TRAP_RESUME;
}

static enum trap_result write_cr4(struct shadow *sh, uint64_t val)
{
	struct vcpu *v = &sh->v;
	uint64_t old = v->cr4;

	if (val & ~CR4_ALLOWED)
		return gp0(sh);
	if ((v->efer & EFER_LMA) && !(val & CR4_PAE))
		return gp0(sh);
	if (pae_paging(v, v->cr0, val) && ((old ^ val) & (CR4_PAE | CR4_PSE | CR4_PGE)) &&
	    !load_pdptes(sh, v->cr3))
		return gp0(sh);
	v->cr4 = val;
	if ((old ^ val) & (CR4_PSE | CR4_PAE | CR4_PGE))
		shadow_cpu_changed(sh, true);
	return TRAP_RESUME;
}

static enum trap_result mov_cr(struct shadow *sh, const struct insn *in)
{
	const cs_x86_op *dst = &in->x->operands[0], *src = &in->x->operands[1];
	enum trap_result r = TRAP_RESUME;

	if (sh->v.cpl)
		return gp0(sh);
	if (dst->type == X86_OP_REG && dst->reg >= X86_REG_CR0 && dst->reg <= X86_REG_CR15) {
		uint64_t val = reg_get(sh, src->reg);

		switch (dst->reg) {
		case X86_REG_CR0: r = write_cr0(sh, val); break;
		case X86_REG_CR2: sh->v.cr2 = val; break;
		case X86_REG_CR3: r = write_cr3(sh, val); break;
		case X86_REG_CR4: r = write_cr4(sh, val); break;
		case X86_REG_CR8: break;                        /* TPR: no LAPIC priority yet */
		default: return ud(sh);
		}
	} else {
		uint64_t val;

		switch (src->reg) {
		case X86_REG_CR0: val = sh->v.cr0; break;
		case X86_REG_CR2: val = sh->v.cr2; break;
		case X86_REG_CR3: val = sh->v.cr3; break;
		case X86_REG_CR4: val = sh->v.cr4; break;
		case X86_REG_CR8: val = 0; break;
		default: return ud(sh);
		}
		/* MOV from CR always moves the full register width of the mode. */
		reg_set(sh, dst->reg, vcpu_long(&sh->v) ? val : val & 0xffffffffULL);
	}
	return r == TRAP_RESUME ? done(sh, in) : r;
}

/* --- MSRs ------------------------------------------------------------------- */

static bool rdmsr(struct shadow *sh, uint32_t idx, uint64_t *val)
{
	struct vcpu *v = &sh->v;

	switch (idx) {
	case MSR_EFER:           *val = v->efer; return true;
	case MSR_APIC_BASE:      *val = v->apic_base; return true;
	case MSR_PAT:            *val = v->pat; return true;
	case MSR_STAR:           *val = v->star; return true;
	case MSR_LSTAR:          *val = v->lstar; return true;
	case MSR_CSTAR:          *val = v->cstar; return true;
	case MSR_SFMASK:         *val = v->sfmask; return true;
	case MSR_FS_BASE:        *val = v->fs_base; return true;
	case MSR_GS_BASE:        *val = v->gs_base; return true;
	case MSR_KERNEL_GS_BASE: *val = v->kernel_gs_base; return true;
	case MSR_TSC_AUX:        *val = v->tsc_aux; return true;
	case MSR_SYSENTER_CS:    *val = v->sysenter_cs; return true;
	case MSR_SYSENTER_ESP:   *val = v->sysenter_esp; return true;
	case MSR_SYSENTER_EIP:   *val = v->sysenter_eip; return true;
	case MSR_MISC_ENABLE:    *val = v->misc_enable; return true;
	case MSR_TSC_DEADLINE:   *val = lapic_tsc_deadline(&sh->lapic); return true;
	default:                 return false;
	}
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static enum trap_result wrmsr(struct shadow *sh, uint32_t idx, uint64_t val, bool *ok)
{
	struct vcpu *v = &sh->v;

	*ok = true;
	switch (idx) {
	case MSR_EFER:
		if (val & ~EFER_ALLOWED)
			break;
		/* LMA is the CPU's; LME may change only with paging off. */
		val = (val & ~EFER_LMA) | (v->efer & EFER_LMA);
		if (((val ^ v->efer) & EFER_LME) && vcpu_paging(v))
			break;
		if ((val ^ v->efer) & EFER_NXE) {
			v->efer = val;
			shadow_cpu_changed(sh, true);
		}
		v->efer = val;
		return TRAP_RESUME;
	case MSR_APIC_BASE:      v->apic_base = val; return TRAP_RESUME;
	case MSR_PAT:            v->pat = val; return TRAP_RESUME;
	case MSR_STAR:           v->star = val; return TRAP_RESUME;
	case MSR_LSTAR:          if (!canonical(val)) break; v->lstar = val; return TRAP_RESUME;
	case MSR_CSTAR:          if (!canonical(val)) break; v->cstar = val; return TRAP_RESUME;
	case MSR_SFMASK:         v->sfmask = val & 0xffffffffULL; return TRAP_RESUME;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!canonical(val))
			break;
		/* The real segment base must follow: it is what the guest's
		 * FS:/GS: accesses use natively. */
		if (idx == MSR_FS_BASE) {
			v->fs_base = val;
			sh->vm->kvm.run->s.regs.sregs.fs.base = val;
		} else {
			v->gs_base = val;
			sh->vm->kvm.run->s.regs.sregs.gs.base = val;
		}
		sh->vm->kvm.run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
		return TRAP_RESUME;
	case MSR_KERNEL_GS_BASE: if (!canonical(val)) break; v->kernel_gs_base = val; return TRAP_RESUME;
	case MSR_TSC_AUX:        v->tsc_aux = val & 0xffffffffULL; return TRAP_RESUME;
	case MSR_TSC_DEADLINE:   lapic_set_tsc_deadline(&sh->lapic, val, val ? shadow_tsc_to_ns(sh, val) : 0);
				 return TRAP_RESUME;
	case MSR_SYSENTER_CS:    v->sysenter_cs = val; return TRAP_RESUME;
	case MSR_SYSENTER_ESP:   v->sysenter_esp = val; return TRAP_RESUME;
	case MSR_SYSENTER_EIP:   v->sysenter_eip = val; return TRAP_RESUME;
	case MSR_MISC_ENABLE:    v->misc_enable = val; return TRAP_RESUME;
	default:
		break;
	}
	*ok = false;
	return TRAP_RESUME;
}

/* --- descriptor tables --------------------------------------------------------- */

static enum trap_result lgdt_lidt(struct shadow *sh, const struct insn *in, bool idt)
{
	uint64_t a = mem_addr(sh, in, &in->x->operands[0]), base = 0;
	uint16_t limit;
	unsigned bsize = vcpu_long(&sh->v) && sh->v.cs.l ? 8 : 4;

	if (sh->v.cpl)
		return gp0(sh);
	if (!guest_read(sh, a, &limit, 2, false) || !guest_read(sh, a + 2, &base, bsize, false))
		return shadow_failed(sh);
	if (bsize == 4 && in->opsize == 2)
		base &= 0xffffff;
	if (idt) {
		sh->v.idtr.base = base;
		sh->v.idtr.limit = limit;
	} else {
		sh->v.gdtr.base = base;
		sh->v.gdtr.limit = limit;
	}
	return done(sh, in);
}

/* LTR / LLDT: a system descriptor from the guest's GDT. */
static enum trap_result ltr_lldt(struct shadow *sh, const struct insn *in, bool tr)
{
	const cs_x86_op *op = &in->x->operands[0];
	uint16_t sel;
	uint64_t d[2] = { 0, 0 }, addr;
	struct vseg *s = tr ? &sh->v.tr : &sh->v.ldtr;
	unsigned type;

	if (sh->v.cpl)
		return gp0(sh);
	if (op->type == X86_OP_REG) {
		sel = (uint16_t)reg_get(sh, op->reg);
	} else if (!guest_read(sh, mem_addr(sh, in, op), &sel, 2, false)) {
		return shadow_failed(sh);
	}
	if (!(sel & ~3) && !tr) {
		memset(s, 0, sizeof(*s));
		return done(sh, in);
	}
	/* In IA-32e mode a TSS or LDT descriptor is 16 bytes, all of them
	 * inside the GDT, and the upper half's type field must be 0 (SDM
	 * vol. 3, 7.2.3 and 3.5.2). */
	if ((sel & 4) || !(sel & ~3) ||
	    (uint32_t)(sel & ~7) + (vcpu_long(&sh->v) ? 15 : 7) > sh->v.gdtr.limit)
		return inject_exception(sh, VEC_GP, true, sel & 0xfffc);
	addr = sh->v.gdtr.base + (sel & ~7u);
	if (!guest_read(sh, addr, d, vcpu_long(&sh->v) ? 16 : 8, false))
		return shadow_failed(sh);
	type = (d[0] >> 40) & 0xf;
	if ((d[0] >> 44) & 1 || (tr ? (type != 9 && type != 1) : type != 2) ||
	    (vcpu_long(&sh->v) && ((d[1] >> 40) & 0x1f)))
		return inject_exception(sh, VEC_GP, true, sel & 0xfffc);
	if (!((d[0] >> 47) & 1))
		return inject_exception(sh, VEC_NP, true, sel & 0xfffc);
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = ((d[0] >> 16) & 0xffffff) | ((d[0] >> 32) & 0xff000000);
	if (vcpu_long(&sh->v))
		s->base |= d[1] << 32;
	s->limit = (uint32_t)((d[0] & 0xffff) | ((d[0] >> 32) & 0xf0000));
	if ((d[0] >> 55) & 1)
		s->limit = (s->limit << 12) | 0xfff;
	s->type = (uint8_t)type;
	s->p = 1;
	if (tr) {
		/* The CPU marks the TSS busy in the guest's GDT. */
		d[0] |= 2ULL << 40;
		s->type |= 2;
		if (!guest_write(sh, addr, d, 8, false))
			return shadow_failed(sh);
	}
	return done(sh, in);
}

/* --- port I/O ------------------------------------------------------------------ */

static bool io_allowed(const struct shadow *sh)
{
	return sh->v.cpl <= sh->v.iopl;
}

static enum trap_result in_out(struct shadow *sh, const struct insn *in, bool is_in)
{
	const cs_x86_op *ops = in->x->operands;
	const cs_x86_op *port_op = is_in ? &ops[1] : &ops[0], *data_op = is_in ? &ops[0] : &ops[1];
	uint16_t port = port_op->type == X86_OP_IMM ? (uint16_t)port_op->imm : (uint16_t)reg_get(sh, X86_REG_DX);
	unsigned size = data_op->size;

	if (!io_allowed(sh))
		return gp0(sh);
	if (is_in)
		set_sized(&sh->t.gpr[R_AX], io_bus_in(&sh->vm->board.io, port, size), size);
	else
		io_bus_out(&sh->vm->board.io, port, size, (uint32_t)reg_get(sh, data_op->reg));
	return done(sh, in);
}

/* INS/OUTS, with or without REP.  At most STRING_IO_BATCH iterations per
 * trap: then RIP stays at the instruction with RCX/RSI/RDI saying how far
 * it got, as a REP interrupted between iterations is left (SDM vol. 2,
 * REP), and the guest traps on it again for the rest.  So no count (up to
 * 2^64 - 1, over a mapping the guest aliases at will) holds ombra in one
 * trap, away from --timeout and its signals. */
#define STRING_IO_BATCH 4096

static enum trap_result string_io(struct shadow *sh, const struct insn *in, bool is_in, unsigned size)
{
	bool rep = in->x->prefix[0] == X86_PREFIX_REP;
	uint64_t mask = in->addrsize == 8 ? ~0ULL : in->addrsize == 4 ? 0xffffffffULL : 0xffffULL;
	uint64_t count = rep ? sh->t.gpr[R_CX] & mask : 1;
	uint16_t port = (uint16_t)sh->t.gpr[R_DX];
	int64_t step = sh->t.rflags & RFLAGS_DF ? -(int64_t)size : (int64_t)size;
	unsigned idx = is_in ? R_DI : R_SI, n = 0;

	if (!io_allowed(sh))
		return gp0(sh);
	while (count) {
		uint64_t a = sh->t.gpr[idx] & mask;
		uint32_t v = 0;

		if (n++ == STRING_IO_BATCH) {
			sh->emulated++;
			return TRAP_RESUME;             /* the rest after the next trap */
		}

		if (is_in) {
			v = io_bus_in(&sh->vm->board.io, port, size);
			if (!guest_write(sh, a, &v, size, sh->v.cpl == 3))
				return shadow_failed(sh);
		} else {
			if (!guest_read(sh, a, &v, size, sh->v.cpl == 3))
				return shadow_failed(sh);
			io_bus_out(&sh->vm->board.io, port, size, v);
		}
		sh->t.gpr[idx] = (sh->t.gpr[idx] & ~mask) | ((a + (uint64_t)step) & mask);
		count--;
		if (rep)
			sh->t.gpr[R_CX] = (sh->t.gpr[R_CX] & ~mask) | count;
	}
	return done(sh, in);
}

/* --- HLT ------------------------------------------------------------------------- */

/*
 * The guest waits for an interrupt.  With IF set and a timer armed (the
 * local APIC's or the PIT's), ombra sleeps until it is due (in slices, so --timeout and
 * signals still end the run), and the trap path then delivers it, with
 * RIP after the HLT.  With nothing that can ever wake it, the run ends.
 */
static enum trap_result halt(struct shadow *sh)
{
	sh->sti_shadow = false;                  /* HLT was the instruction after STI */
	for (;;) {
		uint64_t now = shadow_now_ns(sh), next = shadow_timer_update(sh, now);
		struct timespec ts;

		if (!(sh->t.rflags & RFLAGS_IF))
			break;
		if (shadow_irq_pending(sh))
			return TRAP_RESUME;              /* the trap path delivers it */
		if (vm_stop_requested())
			return TRAP_RESUME;              /* the run is ending */
		if (!next)
			break;
		next -= now < next ? now : next;
		if (next > 10000000)
			next = 10000000;                 /* 10 ms slices */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)next;
		nanosleep(&ts, NULL);
	}
	return shadow_kill(sh, "guest halted (HLT with interrupts %s) and nothing can wake it",
			   sh->t.rflags & RFLAGS_IF ? "enabled" : "disabled");
}

/* --- the instruction ------------------------------------------------------------ */

static bool fetch_decode(struct shadow *sh, struct insn *in, csh h)
{
	uint64_t rip = sh->t.rip;
	unsigned first = 4096 - (unsigned)(rip & 0xfff);
	size_t n;

	if (first > 15)
		first = 15;
	memset(in->bytes, 0, sizeof(in->bytes));
	/* Read what is on this page first: an instruction that ends before the
	 * page does must not fault on the next one. */
	if (!guest_fetch(sh, rip, in->bytes, first, sh->v.cpl == 3))
		return false;
	in->len = first;
	n = cs_disasm(h, in->bytes, in->len, rip, 1, &in->ci);
	if (n == 0 && first < 15) {
		if (!guest_fetch(sh, rip + first, in->bytes + first, 15 - first, sh->v.cpl == 3))
			return false;
		in->len = 15;
		n = cs_disasm(h, in->bytes, in->len, rip, 1, &in->ci);
	}
	if (n == 0) {
		in->ci = NULL;
		return true;
	}
	in->x = &in->ci->detail->x86;
	in->len = in->ci->size;
	in->next_rip = rip + in->len;
	if (in->bits == 32)
		in->next_rip &= 0xffffffffULL;
	if (in->x->rex & 8)
		in->opsize = 8;
	else if (in->x->prefix[2] == X86_PREFIX_OPSIZE)
		in->opsize = 2;
	else
		in->opsize = 4;
	in->addrsize = in->bits == 64 ? (in->x->prefix[3] ? 4 : 8) : (in->x->prefix[3] ? 2 : 4);
	return true;
}

/* The instruction at the guest's RIP, decoded with detail by the handle
 * for the guest's mode (opened once, at set-up).  false: reading it made a
 * fault for the guest (delivered) or ended the run. */
static bool decode_at_rip(struct shadow *sh, struct insn *in, csh *h)
{
	memset(in, 0, sizeof(*in));
	in->bits = vcpu_long(&sh->v) && sh->v.cs.l ? 64 : 32;
	*h = (csh)sh->capstone[in->bits == 64];
	return fetch_decode(sh, in, *h);
}

int emulate_open(struct shadow *sh)
{
	csh h32, h64;

	if (cs_open(CS_ARCH_X86, CS_MODE_32, &h32) != CS_ERR_OK)
		return -1;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h64) != CS_ERR_OK) {
		cs_close(&h32);
		return -1;
	}
	cs_option(h32, CS_OPT_DETAIL, CS_OPT_ON);
	cs_option(h64, CS_OPT_DETAIL, CS_OPT_ON);
	sh->capstone[0] = h32;
	sh->capstone[1] = h64;
	return 0;
}

void emulate_close(struct shadow *sh)
{
	for (int i = 0; i < 2; i++)
		if (sh->capstone[i]) {
			csh h = (csh)sh->capstone[i];

			cs_close(&h);
			sh->capstone[i] = 0;
		}
}

static const char *mode_name(const struct shadow *sh, int bits)
{
	if (bits == 64)
		return "64-bit mode";
	if (vcpu_long(&sh->v))
		return "compatibility mode";
	return vcpu_paging(&sh->v) ? "32-bit protected mode with paging" : "32-bit protected mode, paging off";
}

static enum trap_result cannot(struct shadow *sh, const struct insn *in, unsigned vector)
{
	char bytes[64] = "";

	for (unsigned i = 0; i < in->len && i < 15; i++)
		snprintf(bytes + 3 * i, sizeof(bytes) - 3 * i, "%02x ", in->bytes[i]);
	return shadow_kill(sh, "cannot emulate '%s%s%s' [%s] at %#llx (vector %u, %s, guest CPL %u)",
			   in->ci ? in->ci->mnemonic : "(undecodable)", in->ci && in->ci->op_str[0] ? " " : "",
			   in->ci ? in->ci->op_str : "", bytes, (unsigned long long)sh->t.rip, vector,
			   mode_name(sh, in->bits), sh->v.cpl);
}

/* Instructions that only trap because the guest is deprivileged. */
static bool sensitive(unsigned id)
{
	switch (id) {
	case X86_INS_HLT: case X86_INS_CLI: case X86_INS_STI: case X86_INS_LGDT: case X86_INS_LIDT:
	case X86_INS_LLDT: case X86_INS_LTR: case X86_INS_INVLPG: case X86_INS_RDMSR: case X86_INS_WRMSR:
	case X86_INS_CLTS: case X86_INS_LMSW: case X86_INS_WBINVD: case X86_INS_INVD:
	case X86_INS_IN: case X86_INS_OUT: case X86_INS_INSB: case X86_INS_INSW: case X86_INS_INSD:
	case X86_INS_OUTSB: case X86_INS_OUTSW: case X86_INS_OUTSD: case X86_INS_IRET:
	case X86_INS_IRETD: case X86_INS_IRETQ: case X86_INS_LJMP: case X86_INS_LCALL:
	case X86_INS_RETF: case X86_INS_RETFQ: case X86_INS_SWAPGS: case X86_INS_CPUID:
	case X86_INS_INT: case X86_INS_LSS: case X86_INS_LDS: case X86_INS_LES: case X86_INS_LFS:
	case X86_INS_LGS: case X86_INS_SYSRET: case X86_INS_SYSEXIT: case X86_INS_RDPMC:
	case X86_INS_INVPCID: case X86_INS_XSETBV: case X86_INS_SGDT: case X86_INS_SIDT:
	case X86_INS_SLDT: case X86_INS_STR: case X86_INS_SMSW:
		return true;
	default:
		return false;
	}
}

static bool is_sreg(x86_reg r)
{
	return r == X86_REG_DS || r == X86_REG_ES || r == X86_REG_SS || r == X86_REG_FS ||
	       r == X86_REG_GS || r == X86_REG_CS;
}

static struct vseg *vseg_of(struct shadow *sh, x86_reg r)
{
	switch (r) {
	case X86_REG_DS: return &sh->v.ds;
	case X86_REG_ES: return &sh->v.es;
	case X86_REG_SS: return &sh->v.ss;
	case X86_REG_FS: return &sh->v.fs;
	case X86_REG_GS: return &sh->v.gs;
	default:         return NULL;
	}
}

/*
 * In IA-32e mode FS and GS have a 64-bit base of their own (the MSRs); a
 * MOV or POP of a non-null selector loads it with the descriptor's 32-bit
 * base, and the real register, which the guest's FS:/GS: accesses use
 * natively, must follow.  (A null selector's effect on the base differs
 * between Intel and AMD: ombra leaves the base as it was.)
 */
static void fs_gs_base_follows(struct shadow *sh, x86_reg r, uint16_t sel)
{
	struct kvm_run *run = sh->vm->kvm.run;

	if (!vcpu_long(&sh->v) || !(sel & ~3) || (r != X86_REG_FS && r != X86_REG_GS))
		return;
	if (r == X86_REG_FS) {
		sh->v.fs_base = sh->v.fs.base & 0xffffffffULL;
		run->s.regs.sregs.fs.base = sh->v.fs_base;
	} else {
		sh->v.gs_base = sh->v.gs.base & 0xffffffffULL;
		run->s.regs.sregs.gs.base = sh->v.gs_base;
	}
	run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
}

static enum trap_result emulate(struct shadow *sh, struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
	unsigned id = in->ci->id;
	struct vcpu *v = &sh->v;
	enum trap_result r;

	switch (id) {
	case X86_INS_MOV:
		if (ops[0].type == X86_OP_REG && (ops[0].reg >= X86_REG_CR0 && ops[0].reg <= X86_REG_CR15))
			return mov_cr(sh, in);
		if (ops[1].type == X86_OP_REG && (ops[1].reg >= X86_REG_CR0 && ops[1].reg <= X86_REG_CR15))
			return mov_cr(sh, in);
		if (ops[0].type == X86_OP_REG && ops[0].reg >= X86_REG_DR0 && ops[0].reg <= X86_REG_DR15) {
			if (v->cpl)
				return gp0(sh);
			return done(sh, in);                     /* debug registers: ignored */
		}
		if (ops[1].type == X86_OP_REG && ops[1].reg >= X86_REG_DR0 && ops[1].reg <= X86_REG_DR15) {
			if (v->cpl)
				return gp0(sh);
			reg_set(sh, ops[0].reg, ops[1].reg == X86_REG_DR6 ? 0xffff0ff0 :
						ops[1].reg == X86_REG_DR7 ? 0x400 : 0);
			return done(sh, in);
		}
		if (ops[0].type == X86_OP_REG && is_sreg(ops[0].reg) && ops[0].reg != X86_REG_CS) {
			uint16_t sel;

			if (ops[1].type == X86_OP_REG)
				sel = (uint16_t)reg_get(sh, ops[1].reg);
			else if (!guest_read(sh, mem_addr(sh, in, &ops[1]), &sel, 2, v->cpl == 3))
				return shadow_failed(sh);
			r = load_segment(sh, vseg_of(sh, ops[0].reg), sel, ops[0].reg == X86_REG_SS);
			if (r == TRAP_RESUME)
				fs_gs_base_follows(sh, ops[0].reg, sel);
			return r == TRAP_RESUME ? done(sh, in) : r;
		}
		break;
	case X86_INS_POP:
		if (ops[0].type == X86_OP_REG && is_sreg(ops[0].reg) && ops[0].reg != X86_REG_CS) {
			unsigned size = in->bits == 64 ? (in->x->prefix[2] ? 2 : 8) : in->opsize;
			uint64_t sel = 0, sp = sh->t.gpr[R_SP];

			if (!guest_read(sh, sp, &sel, size, v->cpl == 3))
				return shadow_failed(sh);
			r = load_segment(sh, vseg_of(sh, ops[0].reg), (uint16_t)sel, ops[0].reg == X86_REG_SS);
			if (r != TRAP_RESUME)
				return r;
			fs_gs_base_follows(sh, ops[0].reg, (uint16_t)sel);
			sh->t.gpr[R_SP] = sp + size;
			return done(sh, in);
		}
		break;
	case X86_INS_IN:
		return in_out(sh, in, true);
	case X86_INS_OUT:
		return in_out(sh, in, false);
	case X86_INS_INSB: return string_io(sh, in, true, 1);
	case X86_INS_INSW: return string_io(sh, in, true, 2);
	case X86_INS_INSD: return string_io(sh, in, true, 4);
	case X86_INS_OUTSB: return string_io(sh, in, false, 1);
	case X86_INS_OUTSW: return string_io(sh, in, false, 2);
	case X86_INS_OUTSD: return string_io(sh, in, false, 4);
	case X86_INS_CLI:
	case X86_INS_STI:
		if (!io_allowed(sh))
			return gp0(sh);
		if (id == X86_INS_CLI) {
			sh->t.rflags &= ~RFLAGS_IF;
		} else {
			/* an interrupt waits for one more instruction, unless IF
			 * was set already (SDM vol. 2, STI) */
			sh->sti_shadow = !(sh->t.rflags & RFLAGS_IF);
			sh->sti_rip = in->next_rip;
			sh->t.rflags |= RFLAGS_IF;
		}
		return done(sh, in);
	case X86_INS_HLT:
		if (v->cpl)
			return gp0(sh);
		sh->halts++;
		sh->t.rip = in->next_rip;
		sh->emulated++;
		return halt(sh);
	case X86_INS_INVLPG:
		if (v->cpl)
			return gp0(sh);
		mmu_invlpg(&sh->mmu, &sh->ctx, mem_addr(sh, in, &ops[0]));
		return done(sh, in);
	case X86_INS_LGDT:
		return lgdt_lidt(sh, in, false);
	case X86_INS_LIDT:
		return lgdt_lidt(sh, in, true);
	case X86_INS_LTR:
		return ltr_lldt(sh, in, true);
	case X86_INS_LLDT:
		return ltr_lldt(sh, in, false);
	case X86_INS_RDMSR: {
		uint64_t val;

		if (v->cpl || !rdmsr(sh, (uint32_t)sh->t.gpr[R_CX], &val))
			return gp0(sh);
		sh->t.gpr[R_AX] = val & 0xffffffffULL;
		sh->t.gpr[R_DX] = val >> 32;
		return done(sh, in);
	}
	case X86_INS_WRMSR: {
		bool ok;

		if (v->cpl)
			return gp0(sh);
		r = wrmsr(sh, (uint32_t)sh->t.gpr[R_CX],
			  (sh->t.gpr[R_DX] << 32) | (sh->t.gpr[R_AX] & 0xffffffffULL), &ok);
		if (!ok)
			return gp0(sh);
		return r == TRAP_RESUME ? done(sh, in) : r;
	}
	case X86_INS_CPUID: {
		uint32_t out[4];

		cpuid_lookup((uint32_t)sh->t.gpr[R_AX], (uint32_t)sh->t.gpr[R_CX], out);
		sh->t.gpr[R_AX] = out[0];
		sh->t.gpr[R_BX] = out[1];
		sh->t.gpr[R_CX] = out[2];
		sh->t.gpr[R_DX] = out[3];
		return done(sh, in);
	}
	case X86_INS_SGDT:
	case X86_INS_SIDT: {
		/* They trap only with CR4.UMIP; the guest (which has no UMIP)
		 * may use them at any CPL. */
		uint8_t buf[10];
		uint64_t base = id == X86_INS_SGDT ? v->gdtr.base : v->idtr.base;
		uint16_t limit = id == X86_INS_SGDT ? v->gdtr.limit : v->idtr.limit;
		unsigned n = in->bits == 64 ? 10 : 6;

		if (in->bits != 64 && in->opsize == 2)
			base &= 0xffffff;
		memcpy(buf, &limit, 2);
		memcpy(buf + 2, &base, 8);
		if (!guest_write(sh, mem_addr(sh, in, &ops[0]), buf, n, v->cpl == 3))
			return shadow_failed(sh);
		return done(sh, in);
	}
	case X86_INS_SLDT:
	case X86_INS_STR:
	case X86_INS_SMSW: {
		uint64_t val = id == X86_INS_SLDT ? v->ldtr.sel : id == X86_INS_STR ? v->tr.sel : v->cr0;

		if (ops[0].type == X86_OP_REG) {
			/* A register destination takes the operand size (SMSW
			 * leaves CR0's upper bits undefined: give them). */
			reg_set(sh, ops[0].reg, id == X86_INS_SMSW ? val : val & 0xffff);
		} else if (!guest_write(sh, mem_addr(sh, in, &ops[0]), &val, 2, v->cpl == 3)) {
			return shadow_failed(sh);
		}
		return done(sh, in);
	}
	case X86_INS_CLTS:
		if (v->cpl)
			return gp0(sh);
		v->cr0 &= ~CR0_TS;
		return done(sh, in);
	case X86_INS_WBINVD:
	case X86_INS_INVD:
		if (v->cpl)
			return gp0(sh);
		return done(sh, in);
	case X86_INS_LMSW: {
		uint64_t val = ops[0].type == X86_OP_REG ? reg_get(sh, ops[0].reg) : 0;

		if (v->cpl)
			return gp0(sh);
		if (ops[0].type != X86_OP_REG && !guest_read(sh, mem_addr(sh, in, &ops[0]), &val, 2, false))
			return shadow_failed(sh);
		/* LMSW changes PE, MP, EM, TS and cannot clear PE. */
		r = write_cr0(sh, (v->cr0 & ~0xeULL) | (val & 0xf) | (v->cr0 & CR0_PE));
		return r == TRAP_RESUME ? done(sh, in) : r;
	}
	case X86_INS_IRET:
	case X86_INS_IRETD:
	case X86_INS_IRETQ: {
		unsigned size = id == X86_INS_IRETQ ? 8 : id == X86_INS_IRETD ? 4 : 2;

		if (size == 2)
			return cannot(sh, in, vector);
		sh->emulated++;
		return emulate_iret(sh, size);
	}
	case X86_INS_LJMP:
	case X86_INS_LCALL: {
		uint16_t sel;
		uint64_t off = 0;

		if (ops[0].type == X86_OP_IMM && in->x->op_count == 2) {
			sel = (uint16_t)ops[0].imm;
			off = (uint64_t)ops[1].imm;
		} else if (ops[0].type == X86_OP_MEM) {
			/* m16:32 or m16:64: sizes from the prefixes (capstone 4
			 * misreports FF /5 without REX.W). */
			uint64_t a = mem_addr(sh, in, &ops[0]);
			unsigned osz = in->opsize;

			if (!guest_read(sh, a, &off, osz, v->cpl == 3) ||
			    !guest_read(sh, a + osz, &sel, 2, v->cpl == 3))
				return shadow_failed(sh);
		} else {
			return cannot(sh, in, vector);
		}
		sh->emulated++;
		r = emulate_far_jmp(sh, sel, off, id == X86_INS_LCALL,
				    in->bits == 64 && in->opsize == 8 ? 8 : in->opsize == 2 ? 2 : 4, in->next_rip);
		return r;
	}
	case X86_INS_RETF:
	case X86_INS_RETFQ: {
		uint16_t extra = in->x->op_count && ops[0].type == X86_OP_IMM ? (uint16_t)ops[0].imm : 0;

		sh->emulated++;
		return emulate_far_ret(sh, id == X86_INS_RETFQ ? 8 : in->opsize == 2 ? 2 : 4, extra);
	}
	case X86_INS_INT3:
	case X86_INS_INT: {
		/* INT n reaches the monitor as #GP(n * 8 + 2) through a DPL 0
		 * gate, and on kvm_pvm an INT3 in compatibility mode arrives as
		 * #UD; deliver either as the guest's IDT says, with the DPL
		 * check software interrupts get. */
		unsigned n = id == X86_INS_INT3 ? VEC_BP : (unsigned)ops[0].imm & 0xff;
		unsigned gate_size = vcpu_long(v) ? 16 : 8;
		uint8_t gate[8];

		if ((uint32_t)n * gate_size + gate_size - 1 > v->idtr.limit)
			return inject_exception(sh, VEC_GP, true, n * 8 + 2);
		if (!guest_read(sh, v->idtr.base + (uint64_t)n * gate_size, gate, 8, false))
			return shadow_failed(sh);
		if (((gate[5] >> 5) & 3) < v->cpl)
			return inject_exception(sh, VEC_GP, true, n * 8 + 2);
		sh->t.rip = in->next_rip;
		sh->emulated++;
		sh->soft_int = true;
		return inject_exception(sh, n, false, 0);
	}
	case X86_INS_SWAPGS: {
		uint64_t t;

		if (in->bits != 64)
			return ud(sh);
		if (v->cpl)
			return gp0(sh);
		t = v->gs_base;
		v->gs_base = v->kernel_gs_base;
		v->kernel_gs_base = t;
		sh->vm->kvm.run->s.regs.sregs.gs.base = v->gs_base;
		sh->vm->kvm.run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
		return done(sh, in);
	}
	default:
		break;
	}
	if (sensitive(id)) {
		if (v->cpl)
			return inject_exception(sh, vector, has_error_code(vector), (uint32_t)sh->t.error_code);
		return cannot(sh, in, vector);
	}
	/* Not an instruction that traps for being deprivileged: the exception
	 * is the guest's own (a non-canonical address, a bad selector, ud2...). */
	return inject_exception(sh, vector, has_error_code(vector), (uint32_t)sh->t.error_code);
}

/* --- writes to guest page tables (wp and unsync strategies) ---------------- */

/* RFLAGS as CMP a, b leaves them, for size bytes. */
static uint64_t cmp_flags(uint64_t flags, uint64_t a, uint64_t b, unsigned size)
{
	unsigned bits = 8 * size;
	uint64_t mask = bits == 64 ? ~0ULL : (1ULL << bits) - 1, sign = 1ULL << (bits - 1);
	uint64_t res = (a - b) & mask;
	unsigned ones = __builtin_popcount((unsigned)(res & 0xff));

	a &= mask;
	b &= mask;
	flags &= ~(uint64_t)(RFLAGS_CF | 0x4 | 0x10 | 0x40 | 0x80 | 0x800);
	if (a < b)
		flags |= RFLAGS_CF;
	if (!(ones & 1))
		flags |= 0x4;                                  /* PF */
	if ((a ^ b ^ res) & 0x10)
		flags |= 0x10;                                 /* AF */
	if (res == 0)
		flags |= 0x40;                                 /* ZF */
	if (res & sign)
		flags |= 0x80;                                 /* SF */
	if ((a ^ b) & (a ^ res) & sign)
		flags |= 0x800;                                /* OF */
	return flags;
}

/*
 * The guest wrote to one of its page tables that the shadow follows (KVM's
 * emulated mmu_pte_write path): decode the store, do it through the guest's
 * own translation, then update the shadow of the entries it changed.  A
 * store this does not know (or one that crosses a page) makes ombra stop
 * shadowing the table instead, and the guest's instruction runs again,
 * natively.
 */
enum trap_result emulate_pte_write(struct shadow *sh, uint64_t fault_gpa)
{
	struct insn in;
	const cs_x86_op *ops;
	uint64_t addr = 0, val = 0, gpa = 0, old = 0;
	unsigned size = 0, id;
	uint32_t err = 0;
	bool user = sh->v.cpl == 3, ok = false;
	x86_reg reg_back = X86_REG_INVALID;
	csh h;

	if (!decode_at_rip(sh, &in, &h))
		return shadow_failed(sh);
	if (!in.ci)
		goto unprotect;
	ops = in.x->operands;
	id = in.ci->id;
	if (in.x->op_count < 1 || ops[0].type != X86_OP_MEM)
		goto unprotect;
	addr = mem_addr(sh, &in, &ops[0]);
	size = ops[0].size;
	if (size == 0 || size > 8 || (addr & 0xfff) + size > 4096)
		goto unprotect;
	if (mmu_gva_to_gpa(&sh->mmu, &sh->ctx, addr, PFERR_W | (user ? PFERR_U : 0), &gpa, &err) != PF_FIXED ||
	    (gpa >> 12) != (fault_gpa >> 12))
		goto unprotect;

	switch (id) {
	case X86_INS_MOV:
		if (ops[1].type == X86_OP_REG)
			val = reg_get(sh, ops[1].reg);
		else if (ops[1].type == X86_OP_IMM)
			val = (uint64_t)ops[1].imm;
		else
			goto unprotect;
		break;
	case X86_INS_XCHG:
		if (ops[1].type != X86_OP_REG || !guest_read(sh, addr, &old, size, user))
			goto unprotect;
		val = reg_get(sh, ops[1].reg);
		reg_back = ops[1].reg;
		break;
	case X86_INS_CMPXCHG: {
		x86_reg acc = size == 8 ? X86_REG_RAX : size == 4 ? X86_REG_EAX : size == 2 ? X86_REG_AX : X86_REG_AL;
		uint64_t a = reg_get(sh, acc);

		if (ops[1].type != X86_OP_REG || !guest_read(sh, addr, &old, size, user))
			goto unprotect;
		sh->t.rflags = cmp_flags(sh->t.rflags, a, old, size);
		if ((a ^ old) & (size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1)) {
			reg_set(sh, acc, old);         /* no store: nothing changes */
			cs_free(in.ci, 1);
			return done(sh, &in);
		}
		val = reg_get(sh, ops[1].reg);
		break;
	}
	case X86_INS_CMPXCHG8B: {
		uint64_t want = (sh->t.gpr[R_DX] << 32) | (sh->t.gpr[R_AX] & 0xffffffffULL);

		if (!guest_read(sh, addr, &old, 8, user))
			goto unprotect;
		size = 8;
		if (old != want) {
			sh->t.rflags &= ~0x40ULL;
			sh->t.gpr[R_AX] = old & 0xffffffffULL;
			sh->t.gpr[R_DX] = old >> 32;
			cs_free(in.ci, 1);
			return done(sh, &in);
		}
		sh->t.rflags |= 0x40ULL;
		val = (sh->t.gpr[R_CX] << 32) | (sh->t.gpr[R_BX] & 0xffffffffULL);
		break;
	}
	default:
		goto unprotect;
	}
	ok = guest_write(sh, addr, &val, size, user);
	cs_free(in.ci, 1);
	if (!ok)
		return shadow_failed(sh);
	if (reg_back != X86_REG_INVALID)
		reg_set(sh, reg_back, old);
	mmu_pte_write(&sh->mmu, gpa, size);
	return done(sh, &in);

unprotect:
	if (in.ci)
		cs_free(in.ci, 1);
	mmu_unprotect_gfn(&sh->mmu, fault_gpa >> 12);
	return TRAP_RESUME;                 /* the instruction runs again, natively */
}

/* Fifteen bytes of prefixes: an instruction longer than the 15 bytes the
 * CPU allows, whatever follows (SDM vol. 2, 2.3.11): #GP(0). */
/* A legacy prefix, or REX in 64-bit code. */
static bool is_prefix(uint8_t b, int bits)
{
	switch (b) {
	case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
		return true;
	default:
		return bits == 64 && (b & 0xf0) == 0x40;
	}
}

static bool all_prefixes(const struct insn *in)
{
	if (in->len < 15)
		return false;
	for (unsigned i = 0; i < 15; i++)
		if (!is_prefix(in->bytes[i], in->bits))
			return false;
	return true;
}

enum trap_result emulate_insn(struct shadow *sh, unsigned vector)
{
	struct insn in;
	csh h;
	enum trap_result r;

	if (!decode_at_rip(sh, &in, &h))
		return shadow_failed(sh);
	if (!in.ci) {
		if (vector == VEC_UD)       /* bytes nobody can decode: the guest's #UD */
			r = inject_exception(sh, VEC_UD, false, 0);
		else if (vector == VEC_GP && all_prefixes(&in))
			r = gp0(sh);            /* longer than 15 bytes: the guest's #GP(0) */
		else
			r = cannot(sh, &in, vector);
		return r;
	}
	r = emulate(sh, &in, vector);
	cs_free(in.ci, 1);
	return r;
}

/* --- MMIO ---------------------------------------------------------------------- */

#define RFLAGS_ARITH (RFLAGS_CF | 0x4ULL | 0x10ULL | 0x40ULL | 0x80ULL | 0x800ULL) /* CF PF AF ZF SF OF */

/*
 * a OP b at `size` bytes, run on the host CPU itself, so the result and the
 * arithmetic flags are exactly what the guest's CPU leaves (even the flags
 * the manuals call undefined, such as AF after a logic operation).
 */
#define ALU_SIZED(mn, t, sfx, cons)                                                       \
	do {                                                                                \
		t x = (t)a, y = (t)b;                                                       \
		__asm__(mn sfx " %[y], %[x]\n\tpushfq\n\tpopq %[f]"                          \
			: [x] "+" cons(x), [f] "=r"(f) : [y] cons(y) : "cc");               \
		res = x;                                                                    \
	} while (0)
#define ALU_OP(mn)                                                                          \
	switch (size) {                                                                     \
	case 1: ALU_SIZED(mn, uint8_t, "b", "q"); break;                                    \
	case 2: ALU_SIZED(mn, uint16_t, "w", "r"); break;                                   \
	case 4: ALU_SIZED(mn, uint32_t, "l", "r"); break;                                   \
	default: ALU_SIZED(mn, uint64_t, "q", "r"); break;                                  \
	}

static bool alu(unsigned id, unsigned size, uint64_t a, uint64_t b, uint64_t *res_out,
		uint64_t *rflags)
{
	uint64_t res = 0, f = 0;

	switch (id) {
	case X86_INS_ADD:  ALU_OP("add"); break;
	case X86_INS_SUB:
	case X86_INS_CMP:  ALU_OP("sub"); break;
	case X86_INS_AND:
	case X86_INS_TEST: ALU_OP("and"); break;
	case X86_INS_OR:   ALU_OP("or"); break;
	case X86_INS_XOR:  ALU_OP("xor"); break;
	default:
		return false;
	}
	*res_out = res;
	*rflags = (*rflags & ~RFLAGS_ARITH) | (f & RFLAGS_ARITH);
	return true;
}

static uint64_t sign_extend(uint64_t v, unsigned size)
{
	unsigned shift = 64 - 8 * size;

	return size >= 8 ? v : (uint64_t)((int64_t)(v << shift) >> shift);
}

/* One element of a string instruction: RAM through the guest's tables,
 * or the device path where no RAM is. */
static bool string_elem(struct shadow *sh, uint64_t gva, void *buf, unsigned size, bool write)
{
	bool user = sh->v.cpl == 3;
	uint64_t gpa;

	if (!vcpu_long(&sh->v))
		gva &= 0xffffffffULL;
	if (!guest_translate(sh, gva, write, user, &gpa))
		return false;
	if ((gva & 0xfff) + size > 4096 || mem_gpa_to_hva(&sh->vm->mem, gpa, size))
		return write ? guest_write(sh, gva, buf, size, user) : guest_read(sh, gva, buf, size, user);
	vm_mmio(sh->vm, gpa, buf, size, write);
	return true;
}

/*
 * MOVS and STOS (with REP or without) where one side is MMIO: element by
 * element, each through string_elem, RSI/RDI/RCX updated as the CPU does
 * after each; a long REP stops after a batch and resumes at the same
 * instruction, as a CPU may between iterations.
 */
static enum trap_result mmio_string(struct shadow *sh, const struct insn *in, bool movs, unsigned size)
{
	bool rep = in->x->prefix[0] == X86_PREFIX_REP || in->x->prefix[0] == X86_PREFIX_REPNE;
	uint64_t mask = in->addrsize == 8 ? ~0ULL : in->addrsize == 4 ? 0xffffffffULL : 0xffffULL;
	uint64_t count = rep ? sh->t.gpr[R_CX] & mask : 1, src_base = 0;
	int64_t step = sh->t.rflags & RFLAGS_DF ? -(int64_t)size : (int64_t)size;
	unsigned n = 0;

	if (movs && (in->x->prefix[1] == X86_PREFIX_FS || in->x->prefix[1] == X86_PREFIX_GS))
		src_base = in->x->prefix[1] == X86_PREFIX_FS ? sh->v.fs_base : sh->v.gs_base;
	while (count) {
		uint64_t v = 0;

		if (n++ == STRING_IO_BATCH) {
			sh->emulated++;
			return TRAP_RESUME;
		}
		if (movs) {
			if (!string_elem(sh, src_base + (sh->t.gpr[R_SI] & mask), &v, size, false))
				return shadow_failed(sh);
		} else {
			v = sh->t.gpr[R_AX];
		}
		if (!string_elem(sh, sh->t.gpr[R_DI] & mask, &v, size, true))
			return shadow_failed(sh);
		if (movs)
			sh->t.gpr[R_SI] = (sh->t.gpr[R_SI] & ~mask) | ((sh->t.gpr[R_SI] + (uint64_t)step) & mask);
		sh->t.gpr[R_DI] = (sh->t.gpr[R_DI] & ~mask) | ((sh->t.gpr[R_DI] + (uint64_t)step) & mask);
		count--;
		if (rep)
			sh->t.gpr[R_CX] = (sh->t.gpr[R_CX] & ~mask) | count;
	}
	return done(sh, in);
}

/* MOVS or STOS, from the opcode byte after the prefixes: 0 if neither,
 * else the element size. */
static unsigned string_op(const struct insn *in, bool *movs)
{
	unsigned i = 0;

	while (i < in->len && is_prefix(in->bytes[i], in->bits))
		i++;
	if (i >= in->len)
		return 0;
	switch (in->bytes[i]) {
	case 0xa4: *movs = true; return 1;
	case 0xaa: *movs = false; return 1;
	case 0xa5: *movs = true; return in->opsize;
	case 0xab: *movs = false; return in->opsize;
	default: return 0;
	}
}

/*
 * The guest touched guest-physical memory no memslot backs (device MMIO):
 * the shadow never maps it, so every access faults here.  Decode the
 * instruction, do its access against the device through vm_mmio() (the
 * same path tdp mode's KVM_EXIT_MMIO takes) and step over it, leaving
 * registers and flags as the CPU would.  An instruction this does not
 * know ends the guest with its name, as an emulation failure does in KVM.
 */
enum trap_result emulate_mmio(struct shadow *sh, uint64_t gva, uint64_t gpa, uint32_t error)
{
	struct insn in;
	const cs_x86_op *ops;
	const char *why = NULL;
	uint64_t addr, mgpa, val = 0, other = 0, res = 0;
	unsigned size, id, mi;
	int reg_op;
	csh h;

	if ((error & PFERR_FETCH) || (gva >= sh->t.rip && gva - sh->t.rip < 15))
		return shadow_kill(sh, "the guest executes at %#llx (guest-physical %#llx), where no RAM is",
				   (unsigned long long)gva, (unsigned long long)gpa);
	if (!decode_at_rip(sh, &in, &h))
		return shadow_failed(sh);
	if (!in.ci)
		return cannot(sh, &in, VEC_PF);
	ops = in.x->operands;
	id = in.ci->id;
	{
		bool movs = false;
		unsigned ssize = string_op(&in, &movs);

		if (ssize) {
			enum trap_result r;

			sh->mmio_exits++;
			r = mmio_string(sh, &in, movs, ssize);
			cs_free(in.ci, 1);
			return r;
		}
	}
	for (mi = 0; mi < in.x->op_count && ops[mi].type != X86_OP_MEM; mi++)
		;
	if (mi == in.x->op_count || in.x->op_count > 2) {
		why = "no single memory operand";
		goto fail;
	}
	reg_op = in.x->op_count == 2 ? (int)(1 - mi) : -1;
	addr = mem_addr(sh, &in, &ops[mi]);
	size = ops[mi].size;
	if (size == 0 || size > 8 || (addr & 0xfff) + size > 4096 || (addr >> 12) != (gva >> 12)) {
		why = "an access that is not within the faulting page";
		goto fail;
	}
	if (reg_op >= 0 && ops[reg_op].type == X86_OP_REG && is_sreg(ops[reg_op].reg)) {
		why = "a segment register";
		goto fail;
	}
	mgpa = (gpa & ~0xfffULL) | (addr & 0xfff);
	sh->mmio_exits++;

	switch (id) {
	case X86_INS_MOV:
	case X86_INS_MOVABS:           /* MOV to or from a 64-bit absolute address (A0-A3) */
		if (mi == 0) {
			val = ops[1].type == X86_OP_IMM ? (uint64_t)ops[1].imm : reg_get(sh, ops[1].reg);
			vm_mmio(sh->vm, mgpa, &val, size, true);
		} else {
			vm_mmio(sh->vm, mgpa, &val, size, false);
			reg_set(sh, ops[0].reg, val);
		}
		break;
	case X86_INS_MOVZX:
	case X86_INS_MOVSX:
	case X86_INS_MOVSXD:
		vm_mmio(sh->vm, mgpa, &val, size, false);
		reg_set(sh, ops[0].reg, id == X86_INS_MOVZX ? val : sign_extend(val, size));
		break;
	case X86_INS_XCHG:
		vm_mmio(sh->vm, mgpa, &val, size, false);
		other = reg_get(sh, ops[reg_op].reg);
		vm_mmio(sh->vm, mgpa, &other, size, true);
		reg_set(sh, ops[reg_op].reg, val);
		break;
	case X86_INS_ADD: case X86_INS_SUB: case X86_INS_AND: case X86_INS_OR:
	case X86_INS_XOR: case X86_INS_CMP: case X86_INS_TEST:
		if (reg_op < 0) {
			why = "a one-operand form";
			goto fail;
		}
		vm_mmio(sh->vm, mgpa, &val, size, false);
		other = ops[reg_op].type == X86_OP_IMM ? (uint64_t)ops[reg_op].imm
						       : reg_get(sh, ops[reg_op].reg);
		if (mi == 0)
			alu(id, size, val, other, &res, &sh->t.rflags);
		else
			alu(id, size, other, val, &res, &sh->t.rflags);
		if (id == X86_INS_CMP || id == X86_INS_TEST)
			break;
		if (mi == 0)
			vm_mmio(sh->vm, mgpa, &res, size, true);
		else
			reg_set(sh, ops[0].reg, res);
		break;
	default:
		why = "not an instruction ombra emulates on MMIO";
		goto fail;
	}
	cs_free(in.ci, 1);
	return done(sh, &in);

fail:
	{
		enum trap_result r = shadow_kill(sh, "cannot emulate '%s %s' on MMIO at guest-physical %#llx (%s; rip %#llx)",
						 in.ci->mnemonic, in.ci->op_str, (unsigned long long)gpa, why,
						 (unsigned long long)sh->t.rip);
		cs_free(in.ci, 1);
		return r;
	}
}
