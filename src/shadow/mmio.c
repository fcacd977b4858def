/*
 * The MMIO emulator: an access to guest-physical memory no memslot backs
 * is never mapped in the shadow, so it faults (PF_MMIO); the instruction
 * is decoded and its access done against the device through vm_mmio(),
 * the path tdp mode's KVM_EXIT_MMIO takes too, with registers and flags
 * left as the CPU leaves them (docs/shadow.md, "MMIO").
 */
#include <capstone/capstone.h>
#include <string.h>

#include "decode.h"

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
 * after each; a long REP stops after a batch (decode.h: a count, a time
 * slice, a pending stop) and resumes at the same instruction, as a CPU
 * may between iterations.
 */
static enum trap_result mmio_string(struct shadow *sh, const struct insn *in, bool movs, unsigned size)
{
	bool rep = in->x->prefix[0] == X86_PREFIX_REP || in->x->prefix[0] == X86_PREFIX_REPNE;
	uint64_t mask = in->addrsize == 8 ? ~0ULL : in->addrsize == 4 ? 0xffffffffULL : 0xffffULL;
	uint64_t count = rep ? sh->t.gpr[R_CX] & mask : 1, src_base = 0;
	int64_t step = sh->t.rflags & RFLAGS_DF ? -(int64_t)size : (int64_t)size;
	unsigned n = 0;
	uint64_t t0 = shadow_now_ns(sh);

	if (movs && (in->x->prefix[1] == X86_PREFIX_FS || in->x->prefix[1] == X86_PREFIX_GS))
		src_base = in->x->prefix[1] == X86_PREFIX_FS ? sh->v.fs_base : sh->v.gs_base;
	while (count) {
		uint64_t v = 0;

		if (string_batch_over(sh, n++, t0)) {
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
