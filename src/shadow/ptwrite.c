/*
 * The wp and unsync strategies' emulator: a guest store to one of its own
 * page tables that the shadow write-protects traps as a #PF the MMU calls
 * PF_EMULATE (KVM's emulated mmu_pte_write path).  The store is decoded,
 * done through the guest's own translation, and the shadow of the entries
 * it changed is updated; a store this does not know unprotects the table
 * and runs again natively.
 */
#include <capstone/capstone.h>
#include <string.h>

#include "decode.h"

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
