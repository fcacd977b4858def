/*
 * Instructions that trap in shadow mode because the guest runs
 * deprivileged, decoded with capstone (decode.c) and emulated against the
 * guest's virtual CPU.
 *
 * The guest kernel runs at real CPL 3 with IOPL 0, so its privileged and
 * sensitive instructions raise #GP (or #NP/#SS/#TS for segment loads that
 * meet the monitor's GDT).  ombra reads the instruction at the guest's RIP
 * through the guest's own paging, decodes it, and does what the CPU would
 * have done at the guest's CPL: control registers, descriptor-table
 * registers, MSRs, port I/O through the same devices as tdp mode, CLI/STI,
 * HLT, segment loads, far transfers, IRET, INT n, SWAPGS.
 *
 * 1. The handlers, one per instruction or family (em_*), and what they
 *    share: control registers, MSRs, descriptor tables, port I/O.
 * 2. The table (opcodes[]), keyed by capstone's instruction id, as KVM's
 *    emulator keys its opcode table: a handler and the checks the CPU
 *    makes first (64-bit mode only, CPL 0 only, CPL <= IOPL), made once
 *    in emulate() rather than in each handler, so at the guest's CPL 3 a
 *    privileged instruction gets the #GP the guest's CPU would raise.
 * 3. Two outcomes kept apart: an instruction that is not privileged (the
 *    #GP was the guest's own, a non-canonical address say) is handed back
 *    to the guest as the exception it raised; a sensitive one ombra does
 *    not emulate ends the guest with its name, bytes, address and CPU
 *    mode, so it is never silently wrong.
 */
#include <capstone/capstone.h>
#include <stdio.h>
#include <string.h>

#include "x86/cpuid.h"
#include "decode.h"

#define CR4_ALLOWED (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT)
#define EFER_ALLOWED (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

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
		shadow_cpu_changed(sh, false, (old ^ val) & CR0_PG);
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
	shadow_cpu_changed(sh, true, true);
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
		shadow_cpu_changed(sh, false, true);
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
	/* KVM's vCPUs report microcode revision 0x1 in the high half
	 * (kvm_arch_vcpu_create) and ignore the guest's writes. */
	case MSR_UCODE_REV:      *val = 0x100000000ULL; return true;
	default:                 return false;
	}
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
			shadow_cpu_changed(sh, false, true);
		}
		v->efer = val;
		return TRAP_RESUME;
	case MSR_APIC_BASE:      v->apic_base = val; return TRAP_RESUME;
	case MSR_PAT:            v->pat = val; return TRAP_RESUME;
	case MSR_STAR:           v->star = val; return TRAP_RESUME;
	case MSR_LSTAR:          if (!x86_canonical(val)) break; v->lstar = val; return TRAP_RESUME;
	case MSR_CSTAR:          if (!x86_canonical(val)) break; v->cstar = val; return TRAP_RESUME;
	case MSR_SFMASK:         v->sfmask = val & 0xffffffffULL; return TRAP_RESUME;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!x86_canonical(val))
			break;
		/* The MSR is the segment's hidden base, in every mode; the real
		 * base must follow: it is what the guest's FS:/GS: accesses use
		 * natively. */
		if (idx == MSR_FS_BASE) {
			v->fs_base = v->fs.base = val;
			sh->vm->kvm.run->s.regs.sregs.fs.base = val;
		} else {
			v->gs_base = v->gs.base = val;
			sh->vm->kvm.run->s.regs.sregs.gs.base = val;
		}
		realseg_sregs_changed(sh);
		return TRAP_RESUME;
	case MSR_KERNEL_GS_BASE: if (!x86_canonical(val)) break; v->kernel_gs_base = val; return TRAP_RESUME;
	case MSR_TSC_AUX:        v->tsc_aux = val & 0xffffffffULL; return TRAP_RESUME;
	case MSR_TSC_DEADLINE:   lapic_set_tsc_deadline(&sh->lapic, val, val ? shadow_tsc_to_ns(sh, val) : 0);
				 return TRAP_RESUME;
	case MSR_SYSENTER_CS:    v->sysenter_cs = val; return TRAP_RESUME;
	case MSR_SYSENTER_ESP:   v->sysenter_esp = val; return TRAP_RESUME;
	case MSR_SYSENTER_EIP:   v->sysenter_eip = val; return TRAP_RESUME;
	case MSR_MISC_ENABLE:    v->misc_enable = val; return TRAP_RESUME;
	case MSR_UCODE_REV:      return TRAP_RESUME;
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

	if (is_in)
		set_sized(&sh->t.gpr[R_AX], io_bus_in(&sh->vm->board.io, port, size), size);
	else
		io_bus_out(&sh->vm->board.io, port, size, (uint32_t)reg_get(sh, data_op->reg));
	return done(sh, in);
}

/* INS/OUTS, with or without REP, in batches: STRING_IO_BATCH iterations
 * per trap at most, fewer when a stop is pending or the batch's time
 * slice is spent (decode.h). */

static enum trap_result string_io(struct shadow *sh, const struct insn *in, bool is_in, unsigned size)
{
	bool rep = in->x->prefix[0] == X86_PREFIX_REP;
	uint64_t mask = in->addrsize == 8 ? ~0ULL : in->addrsize == 4 ? 0xffffffffULL : 0xffffULL;
	uint64_t count = rep ? sh->t.gpr[R_CX] & mask : 1;
	uint16_t port = (uint16_t)sh->t.gpr[R_DX];
	int64_t step = sh->t.rflags & RFLAGS_DF ? -(int64_t)size : (int64_t)size;
	unsigned idx = is_in ? R_DI : R_SI, n = 0;
	uint64_t t0 = shadow_now_ns(sh);

	while (count) {
		uint64_t a = sh->t.gpr[idx] & mask;
		uint32_t v = 0;

		if (string_batch_over(sh, n++, t0)) {
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
 * FS's and GS's hidden base is what MSR_FS_BASE and MSR_GS_BASE read and
 * write (64 bits in IA-32e mode); in every mode a MOV or POP of a non-null
 * selector loads it with the descriptor's 32-bit base, and the real
 * register, which the guest's FS:/GS: accesses use natively, must follow.
 * (A null selector's effect on the base differs between Intel and AMD:
 * ombra leaves the base as it was.)
 */
static void fs_gs_base_follows(struct shadow *sh, x86_reg r, uint16_t sel)
{
	if ((sel & ~3) && (r == X86_REG_FS || r == X86_REG_GS))
		realseg_base_follows(sh, r == X86_REG_FS ? 2 : 3);
}

static uint16_t sreg_selector(const struct shadow *sh, x86_reg r)
{
	switch (r) {
	case X86_REG_CS: return sh->v.cs.sel;
	case X86_REG_SS: return sh->v.ss.sel;
	case X86_REG_DS: return sh->v.ds.sel;
	case X86_REG_ES: return sh->v.es.sel;
	case X86_REG_FS: return sh->v.fs.sel;
	default:         return sh->v.gs.sel;
	}
}

/* The exception was the guest's own (a non-canonical address, a bad
 * selector, ud2...): hand it back as it came. */
static enum trap_result own(struct shadow *sh, unsigned vector)
{
	return inject_exception(sh, vector, has_error_code(vector), (uint32_t)sh->t.error_code);
}

/* --- the handlers, one per instruction (or family) ----------------------------- */

static bool is_cr(const cs_x86_op *op)
{
	return op->type == X86_OP_REG && op->reg >= X86_REG_CR0 && op->reg <= X86_REG_CR15;
}

static bool is_dr(const cs_x86_op *op)
{
	return op->type == X86_OP_REG && op->reg >= X86_REG_DR0 && op->reg <= X86_REG_DR15;
}

/* capstone calls every MOV X86_INS_MOV; the privileged forms (to and from
 * CRn and DRn, KVM's Priv opcodes 0F 20-23) check CPL here. */
static enum trap_result em_mov(struct shadow *sh, const struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
	struct vcpu *v = &sh->v;
	enum trap_result r;

	if (is_cr(&ops[0]) || is_cr(&ops[1]))
		return mov_cr(sh, in);
	if (is_dr(&ops[0])) {
		if (v->cpl)
			return gp0(sh);
		return done(sh, in);                     /* debug registers: ignored */
	}
	if (is_dr(&ops[1])) {
		if (v->cpl)
			return gp0(sh);
		reg_set(sh, ops[0].reg, ops[1].reg == X86_REG_DR6 ? 0xffff0ff0 :
					ops[1].reg == X86_REG_DR7 ? 0x400 : 0);
		return done(sh, in);
	}
	if (ops[1].type == X86_OP_REG && is_sreg(ops[1].reg)) {
		/* MOV from a segment register, patched (--shadow-patch): the
		 * guest's own selector, RPL included.  To a register the
		 * selector is zero-extended (16-bit: merged), to memory it is
		 * 16 bits whatever the operand size. */
		uint16_t sel = sreg_selector(sh, ops[1].reg);

		if (ops[0].type == X86_OP_REG)
			reg_set(sh, ops[0].reg, sel);
		else if (!guest_write(sh, mem_addr(sh, in, &ops[0]), &sel, 2, v->cpl == 3))
			return shadow_failed(sh);
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
	return own(sh, vector);
}

/* POP to a segment register; any other POP's exception is the guest's. */
static enum trap_result em_pop(struct shadow *sh, const struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
	enum trap_result r;

	if (ops[0].type == X86_OP_REG && is_sreg(ops[0].reg) && ops[0].reg != X86_REG_CS) {
		unsigned size = in->bits == 64 ? (in->x->prefix[2] ? 2 : 8) : in->opsize;
		uint64_t sel = 0, sp = sh->t.gpr[R_SP];

		if (!guest_read(sh, sp, &sel, size, sh->v.cpl == 3))
			return shadow_failed(sh);
		r = load_segment(sh, vseg_of(sh, ops[0].reg), (uint16_t)sel, ops[0].reg == X86_REG_SS);
		if (r != TRAP_RESUME)
			return r;
		fs_gs_base_follows(sh, ops[0].reg, (uint16_t)sel);
		sh->t.gpr[R_SP] = sp + size;
		return done(sh, in);
	}
	return own(sh, vector);
}

static enum trap_result em_in_out(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	return in_out(sh, in, in->ci->id == X86_INS_IN);
}

/* The element size comes from the opcode byte (6C/6E bytes, 6D/6F words
 * or doublewords) and the operand-size prefix wherever it stands among
 * the prefixes, REX.W having no effect (SDM vol. 2, INS, OUTS; 2.1.1):
 * capstone 4 calls 66 F3 6F, the bytes GNU as writes for "rep outsw",
 * OUTSD (and 66 F3 6D INSD), which moved doublewords. */
static enum trap_result em_string_io(struct shadow *sh, const struct insn *in, unsigned vector)
{
	unsigned id = in->ci->id, i = 0;
	bool is_in = id == X86_INS_INSB || id == X86_INS_INSW || id == X86_INS_INSD;
	unsigned size;

	while (i < in->len && is_prefix(in->bytes[i], in->bits))
		i++;
	if (i >= in->len)
		return cannot(sh, in, vector);
	size = !(in->bytes[i] & 1) ? 1 : in->opsize == 2 ? 2 : 4;
	return string_io(sh, in, is_in, size);
}

static enum trap_result em_cli_sti(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	if (in->ci->id == X86_INS_CLI) {
		sh->t.rflags &= ~RFLAGS_IF;
	} else {
		/* an interrupt waits for one more instruction, unless IF
		 * was set already (SDM vol. 2, STI) */
		sh->sti_shadow = !(sh->t.rflags & RFLAGS_IF);
		sh->sti_rip = in->next_rip;
		sh->t.rflags |= RFLAGS_IF;
	}
	return done(sh, in);
}

static enum trap_result em_hlt(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	sh->halts++;
	sh->t.rip = in->next_rip;
	sh->emulated++;
	return shadow_halt(sh);
}

static enum trap_result em_invlpg(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	mmu_invlpg(&sh->mmu, &sh->ctx, mem_addr(sh, in, &in->x->operands[0]));
	return done(sh, in);
}

static enum trap_result em_lgdt_lidt(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	return lgdt_lidt(sh, in, in->ci->id == X86_INS_LIDT);
}

static enum trap_result em_ltr_lldt(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	return ltr_lldt(sh, in, in->ci->id == X86_INS_LTR);
}

static enum trap_result em_rdmsr(struct shadow *sh, const struct insn *in, unsigned vector)
{
	uint64_t val;

	(void)vector;
	if (!rdmsr(sh, (uint32_t)sh->t.gpr[R_CX], &val))
		return gp0(sh);
	sh->t.gpr[R_AX] = val & 0xffffffffULL;
	sh->t.gpr[R_DX] = val >> 32;
	return done(sh, in);
}

static enum trap_result em_wrmsr(struct shadow *sh, const struct insn *in, unsigned vector)
{
	enum trap_result r;
	bool ok;

	(void)vector;
	r = wrmsr(sh, (uint32_t)sh->t.gpr[R_CX],
		  (sh->t.gpr[R_DX] << 32) | (sh->t.gpr[R_AX] & 0xffffffffULL), &ok);
	if (!ok)
		return gp0(sh);
	return r == TRAP_RESUME ? done(sh, in) : r;
}

static enum trap_result em_cpuid(struct shadow *sh, const struct insn *in, unsigned vector)
{
	uint32_t out[4];

	(void)vector;
	cpuid_lookup((uint32_t)sh->t.gpr[R_AX], (uint32_t)sh->t.gpr[R_CX], out);
	sh->t.gpr[R_AX] = out[0];
	sh->t.gpr[R_BX] = out[1];
	sh->t.gpr[R_CX] = out[2];
	sh->t.gpr[R_DX] = out[3];
	return done(sh, in);
}

/* SGDT, SIDT: they trap only with CR4.UMIP; the guest (which has no UMIP)
 * may use them at any CPL. */
static enum trap_result em_sgdt_sidt(struct shadow *sh, const struct insn *in, unsigned vector)
{
	struct vcpu *v = &sh->v;
	bool gdt = in->ci->id == X86_INS_SGDT;
	uint8_t buf[10];
	uint64_t base = gdt ? v->gdtr.base : v->idtr.base;
	uint16_t limit = gdt ? v->gdtr.limit : v->idtr.limit;
	unsigned n = in->bits == 64 ? 10 : 6;

	(void)vector;
	if (in->bits != 64 && in->opsize == 2)
		base &= 0xffffff;
	memcpy(buf, &limit, 2);
	memcpy(buf + 2, &base, 8);
	if (!guest_write(sh, mem_addr(sh, in, &in->x->operands[0]), buf, n, v->cpl == 3))
		return shadow_failed(sh);
	return done(sh, in);
}

/* SLDT, STR, SMSW: through UMIP too, at any CPL. */
static enum trap_result em_sldt_str_smsw(struct shadow *sh, const struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
	struct vcpu *v = &sh->v;
	unsigned id = in->ci->id;
	uint64_t val = id == X86_INS_SLDT ? v->ldtr.sel : id == X86_INS_STR ? v->tr.sel : v->cr0;

	(void)vector;
	if (ops[0].type == X86_OP_REG) {
		/* A register destination takes the operand size (SMSW
		 * leaves CR0's upper bits undefined: give them). */
		reg_set(sh, ops[0].reg, id == X86_INS_SMSW ? val : val & 0xffff);
	} else if (!guest_write(sh, mem_addr(sh, in, &ops[0]), &val, 2, v->cpl == 3)) {
		return shadow_failed(sh);
	}
	return done(sh, in);
}

static enum trap_result em_clts(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	sh->v.cr0 &= ~CR0_TS;
	return done(sh, in);
}

/* WBINVD, INVD: no cache to write back or drop. */
static enum trap_result em_nop(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	return done(sh, in);
}

static enum trap_result em_lmsw(struct shadow *sh, const struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
	struct vcpu *v = &sh->v;
	uint64_t val = ops[0].type == X86_OP_REG ? reg_get(sh, ops[0].reg) : 0;
	enum trap_result r;

	(void)vector;
	if (ops[0].type != X86_OP_REG && !guest_read(sh, mem_addr(sh, in, &ops[0]), &val, 2, false))
		return shadow_failed(sh);
	/* LMSW changes PE, MP, EM, TS and cannot clear PE. */
	r = write_cr0(sh, (v->cr0 & ~0xeULL) | (val & 0xf) | (v->cr0 & CR0_PE));
	return r == TRAP_RESUME ? done(sh, in) : r;
}

static enum trap_result em_iret(struct shadow *sh, const struct insn *in, unsigned vector)
{
	unsigned id = in->ci->id;
	unsigned size = id == X86_INS_IRETQ ? 8 : id == X86_INS_IRETD ? 4 : 2;

	if (size == 2)
		return cannot(sh, in, vector);
	sh->emulated++;
	return emulate_iret(sh, size);
}

static enum trap_result em_far_jmp_call(struct shadow *sh, const struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
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

		if (!guest_read(sh, a, &off, osz, sh->v.cpl == 3) ||
		    !guest_read(sh, a + osz, &sel, 2, sh->v.cpl == 3))
			return shadow_failed(sh);
	} else {
		return cannot(sh, in, vector);
	}
	sh->emulated++;
	return emulate_far_jmp(sh, sel, off, in->ci->id == X86_INS_LCALL,
			       in->bits == 64 && in->opsize == 8 ? 8 : in->opsize == 2 ? 2 : 4, in->next_rip);
}

static enum trap_result em_far_ret(struct shadow *sh, const struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
	uint16_t extra = in->x->op_count && ops[0].type == X86_OP_IMM ? (uint16_t)ops[0].imm : 0;

	(void)vector;
	sh->emulated++;
	return emulate_far_ret(sh, in->ci->id == X86_INS_RETFQ ? 8 : in->opsize == 2 ? 2 : 4, extra);
}

/* INT n reaches the monitor as #GP(n * 8 + 2) through a DPL 0 gate, and on
 * kvm_pvm an INT3 in compatibility mode arrives as #UD; deliver either as
 * the guest's IDT says, with the DPL check software interrupts get. */
static enum trap_result em_int(struct shadow *sh, const struct insn *in, unsigned vector)
{
	struct vcpu *v = &sh->v;
	unsigned n = in->ci->id == X86_INS_INT3 ? VEC_BP : (unsigned)in->x->operands[0].imm & 0xff;
	unsigned gate_size = vcpu_long(v) ? 16 : 8;
	uint8_t gate[8];

	(void)vector;
	if (in->ci->id == X86_INS_INT3 && sh->vm->gdb && shadow_debug_int3(sh, sh->t.rip))
		return TRAP_RESUME;          /* gdb's breakpoint (docs/gdb.md) */
	if ((uint32_t)n * gate_size + gate_size - 1 > v->idtr.limit)
		return inject_exception(sh, VEC_GP, true, n * 8 + 2);
	if (!guest_read(sh, v->idtr.base + (uint64_t)n * gate_size, gate, 8, false))
		return shadow_failed(sh);
	if (((gate[5] >> 5) & 3) < v->cpl)
		return inject_exception(sh, VEC_GP, true, n * 8 + 2);
	sh->soft_rip = sh->t.rip;
	sh->t.rip = in->next_rip;
	sh->emulated++;
	sh->soft_int = true;
	return inject_exception(sh, n, false, 0);
}

static enum trap_result em_syscall(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	sh->emulated++;
	return emulate_syscall(sh, sh->t.rip + in->len);
}

static enum trap_result em_sysret(struct shadow *sh, const struct insn *in, unsigned vector)
{
	(void)vector;
	sh->emulated++;
	return emulate_sysret(sh, in->opsize == 8);
}

/* A 16-bit selector operand: a register's low 16 bits, or memory. */
static bool selector_operand(struct shadow *sh, const struct insn *in, const cs_x86_op *op, uint16_t *sel)
{
	if (op->type == X86_OP_REG) {
		*sel = (uint16_t)reg_get(sh, op->reg);
		return true;
	}
	return guest_read(sh, mem_addr(sh, in, op), sel, 2, sh->v.cpl == 3);
}

static void set_zf(struct shadow *sh, bool zf)
{
	if (zf)
		sh->t.rflags |= RFLAGS_ZF;
	else
		sh->t.rflags &= ~RFLAGS_ZF;
}

/* LAR and LSL (patched, --shadow-patch): from the guest's own tables at
 * its own CPL; the destination is written only when ZF is set. */
static enum trap_result em_lar_lsl(struct shadow *sh, const struct insn *in, unsigned vector)
{
	const cs_x86_op *ops = in->x->operands;
	uint32_t val = 0;
	uint16_t sel;
	bool zf;

	(void)vector;
	if (!selector_operand(sh, in, &ops[1], &sel) ||
	    !seg_query(sh, in->ci->id == X86_INS_LAR ? DESC_LAR : DESC_LSL, sel, &zf, &val))
		return shadow_failed(sh);
	if (zf)
		reg_set(sh, ops[0].reg, val);
	set_zf(sh, zf);
	return done(sh, in);
}

/* VERR and VERW (patched, --shadow-patch). */
static enum trap_result em_verr_verw(struct shadow *sh, const struct insn *in, unsigned vector)
{
	uint32_t unused;
	uint16_t sel;
	bool zf;

	(void)vector;
	if (!selector_operand(sh, in, &in->x->operands[0], &sel) ||
	    !seg_query(sh, in->ci->id == X86_INS_VERR ? DESC_VERR : DESC_VERW, sel, &zf, &unused))
		return shadow_failed(sh);
	set_zf(sh, zf);
	return done(sh, in);
}

static enum trap_result em_swapgs(struct shadow *sh, const struct insn *in, unsigned vector)
{
	struct vcpu *v = &sh->v;
	uint64_t t;

	(void)vector;
	t = v->gs_base;
	v->gs_base = v->gs.base = v->kernel_gs_base;
	v->kernel_gs_base = t;
	sh->vm->kvm.run->s.regs.sregs.gs.base = v->gs_base;
	realseg_sregs_changed(sh);
	return done(sh, in);
}

/* --- the table ---------------------------------------------------------------------- */

/*
 * What ombra does with each instruction that can reach it, keyed by
 * capstone's instruction id, with the checks the CPU makes before it runs
 * one, in this order, as KVM's emulator marks its opcode table (No64,
 * Priv) and checks before it calls the handler:
 *   ONLY64: #UD outside 64-bit mode
 *   PRIV:   #GP(0) unless the guest's CPL is 0
 *   IOPL:   #GP(0) unless its CPL <= its IOPL (CLI, STI, port I/O)
 *   SENS:   sensitive: it traps only because the guest runs deprivileged.
 *           Without a handler, at the guest's CPL 0 ombra cannot emulate
 *           it and ends the run; at CPL 3 the guest's CPU would have
 *           faulted too, and gets the exception.
 * An instruction with no entry raised its exception for the guest's own
 * reasons (a non-canonical address, a bad selector, ud2...): delivered.
 */
enum { ONLY64 = 1, PRIV = 2, IOPL = 4, SENS = 8 };

struct opcode {
	enum trap_result (*em)(struct shadow *sh, const struct insn *in, unsigned vector);
	unsigned flags;
};

static const struct opcode opcodes[X86_INS_ENDING] = {
	[X86_INS_MOV]     = { em_mov, 0 },             /* CRn, DRn, segment registers */
	[X86_INS_POP]     = { em_pop, 0 },             /* segment registers */
	[X86_INS_IN]      = { em_in_out, IOPL | SENS },
	[X86_INS_OUT]     = { em_in_out, IOPL | SENS },
	[X86_INS_INSB]    = { em_string_io, IOPL | SENS },
	[X86_INS_INSW]    = { em_string_io, IOPL | SENS },
	[X86_INS_INSD]    = { em_string_io, IOPL | SENS },
	[X86_INS_OUTSB]   = { em_string_io, IOPL | SENS },
	[X86_INS_OUTSW]   = { em_string_io, IOPL | SENS },
	[X86_INS_OUTSD]   = { em_string_io, IOPL | SENS },
	[X86_INS_CLI]     = { em_cli_sti, IOPL | SENS },
	[X86_INS_STI]     = { em_cli_sti, IOPL | SENS },
	[X86_INS_HLT]     = { em_hlt, PRIV | SENS },
	[X86_INS_INVLPG]  = { em_invlpg, PRIV | SENS },
	[X86_INS_LGDT]    = { em_lgdt_lidt, PRIV | SENS },
	[X86_INS_LIDT]    = { em_lgdt_lidt, PRIV | SENS },
	[X86_INS_LTR]     = { em_ltr_lldt, PRIV | SENS },
	[X86_INS_LLDT]    = { em_ltr_lldt, PRIV | SENS },
	[X86_INS_RDMSR]   = { em_rdmsr, PRIV | SENS },
	[X86_INS_WRMSR]   = { em_wrmsr, PRIV | SENS },
	[X86_INS_CPUID]   = { em_cpuid, SENS },        /* through CPUID faulting */
	[X86_INS_SGDT]    = { em_sgdt_sidt, SENS },    /* through CR4.UMIP */
	[X86_INS_SIDT]    = { em_sgdt_sidt, SENS },
	[X86_INS_SLDT]    = { em_sldt_str_smsw, SENS },
	[X86_INS_STR]     = { em_sldt_str_smsw, SENS },
	[X86_INS_SMSW]    = { em_sldt_str_smsw, SENS },
	[X86_INS_CLTS]    = { em_clts, PRIV | SENS },
	[X86_INS_WBINVD]  = { em_nop, PRIV | SENS },
	[X86_INS_INVD]    = { em_nop, PRIV | SENS },
	[X86_INS_LMSW]    = { em_lmsw, PRIV | SENS },
	[X86_INS_IRET]    = { em_iret, SENS },
	[X86_INS_IRETD]   = { em_iret, SENS },
	[X86_INS_IRETQ]   = { em_iret, SENS },
	[X86_INS_LJMP]    = { em_far_jmp_call, SENS },
	[X86_INS_LCALL]   = { em_far_jmp_call, SENS },
	[X86_INS_RETF]    = { em_far_ret, SENS },
	[X86_INS_RETFQ]   = { em_far_ret, SENS },
	[X86_INS_INT]     = { em_int, SENS },
	[X86_INS_INT3]    = { em_int, 0 },             /* #UD on kvm_pvm in compatibility mode */
	[X86_INS_SWAPGS]  = { em_swapgs, ONLY64 | PRIV | SENS },
	[X86_INS_SYSCALL] = { em_syscall, SENS },     /* #UD: the real EFER.SCE is off */
	[X86_INS_SYSRET]  = { em_sysret, SENS },
	[X86_INS_LAR]     = { em_lar_lsl, 0 },         /* patched (--shadow-patch) */
	[X86_INS_LSL]     = { em_lar_lsl, 0 },
	[X86_INS_VERR]    = { em_verr_verw, 0 },
	[X86_INS_VERW]    = { em_verr_verw, 0 },
	/* sensitive, not emulated */
	[X86_INS_LSS]     = { NULL, SENS },
	[X86_INS_LDS]     = { NULL, SENS },
	[X86_INS_LES]     = { NULL, SENS },
	[X86_INS_LFS]     = { NULL, SENS },
	[X86_INS_LGS]     = { NULL, SENS },
	[X86_INS_SYSEXIT] = { NULL, SENS },
	[X86_INS_RDPMC]   = { NULL, SENS },
	[X86_INS_INVPCID] = { NULL, SENS },
	[X86_INS_XSETBV]  = { NULL, SENS },
};

static enum trap_result emulate(struct shadow *sh, const struct insn *in, unsigned vector)
{
	static const struct opcode none;
	unsigned id = in->ci->id;
	const struct opcode *op = id < X86_INS_ENDING ? &opcodes[id] : &none;

	if ((op->flags & ONLY64) && in->bits != 64)
		return ud(sh);
	if ((op->flags & PRIV) && sh->v.cpl)
		return gp0(sh);
	if ((op->flags & IOPL) && !io_allowed(sh))
		return gp0(sh);
	if (op->em)
		return op->em(sh, in, vector);
	if ((op->flags & SENS) && !sh->v.cpl)
		return cannot(sh, in, vector);
	return own(sh, vector);
}

/* Fifteen bytes of prefixes: an instruction longer than the 15 bytes the
 * CPU allows, whatever follows (SDM vol. 2, 2.3.11): #GP(0). */
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

	if (sh->patching && vector == VEC_GP && shadow_at_patch(sh))
		sh->patch.patch_traps++;
	if (!decode_at_rip(sh, &in, &h))
		return shadow_failed(sh);
	if (!in.ci) {
		if (sh->patching && patch_is_pkru(in.bytes, in.len) && vector == VEC_GP && shadow_at_patch(sh))
			r = ud(sh);             /* RDPKRU/WRPKRU, patched: the guest's CPU has no PKU */
		else if (vector == VEC_UD)  /* bytes nobody can decode: the guest's #UD */
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

