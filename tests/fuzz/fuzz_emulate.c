/*
 * libFuzzer harness for shadow mode's instruction emulator
 * (src/shadow/emulate.c and ptwrite.c, with seg.c and guest.c's guest accesses):
 * any 15 bytes at the guest's RIP, in every mode ombra's virtual CPU has
 * (32-bit protected mode with paging off, 2-level paging, PAE, 64-bit and
 * compatibility mode), at CPL 0 or 3, with the control bits, registers and
 * descriptor and page tables the input picks (shadow_guest.h), handed to
 * emulate_insn() as after a #GP or #UD, or to emulate_pte_write() after
 * the MMU said PF_EMULATE for a store to a guest page table, as
 * page_fault() in trap.c does.  Besides ASan/UBSan, it checks what must
 * hold whatever the bytes: TRAP_END only
 * when the run ended and always for a guest error (with a reason), the
 * virtual CPU stays one the SDM
 * allows (guest_check_vcpu), an emulated instruction that transfers no
 * control moves RIP past exactly its own bytes (the length from a capstone
 * decoding of our own; a REP INS/OUTS may also stop between iterations
 * with RCX lower), a delivered exception never raises the CPL and
 * clears TF/NT/RF/VM, and nothing at CPL 3 changes privileged state.
 * Where the host CPU can run the instruction itself, its result is the
 * reference: a store to a guest page table that emulate_pte_write
 * emulates, when it is MOV (register or immediate source), XCHG, CMPXCHG
 * (byte to quadword) or CMPXCHG8B with a plain register operand (not
 * AH/BH/CH/DH), is run here on the host on a copy of the operand (found
 * by our own decoding and address arithmetic, segment bases included)
 * with the guest's registers and arithmetic flags loaded, and the
 * emulator's memory, registers (all sixteen; the low 32 bits outside
 * 64-bit code) and arithmetic flags must equal the host CPU's.
 * Guest RAM is a static buffer and the monitor region is NULL, so an
 * access outside RAM or to the monitor would be ASan's or a crash.
 */
#include <capstone/capstone.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_guest.h"

static struct fuzz_guest g;

#define CHECK(c, what) do { if (!(c)) { \
	fprintf(stderr, "fuzz_emulate: invariant failed: %s\n", what); __builtin_trap(); } } while (0)

/* Our own decoding of the bytes at RIP: instruction id, REP prefix and
 * length, 0 if none. */
static unsigned decode(const uint8_t *b, bool code64, unsigned *id, bool *rep)
{
	static csh h[2];
	cs_insn *ci;
	unsigned len = 0;

	if (!h[0]) {
		MUST(cs_open(CS_ARCH_X86, CS_MODE_32, &h[0]) == CS_ERR_OK);
		MUST(cs_open(CS_ARCH_X86, CS_MODE_64, &h[1]) == CS_ERR_OK);
	}
	*id = 0;
	*rep = false;
	if (cs_disasm(h[code64], b, 15, 0, 1, &ci) == 1) {
		*id = ci->id;
		*rep = strncmp(ci->mnemonic, "rep", 3) == 0;
		len = ci->size;
		cs_free(ci, 1);
	}
	return len;
}

static bool string_io(unsigned id)
{
	return id == X86_INS_INSB || id == X86_INS_INSW || id == X86_INS_INSD || id == X86_INS_OUTSB ||
	       id == X86_INS_OUTSW || id == X86_INS_OUTSD;
}

static bool far_transfer(unsigned id)
{
	return id == X86_INS_LJMP || id == X86_INS_LCALL || id == X86_INS_RETF || id == X86_INS_RETFQ ||
	       id == X86_INS_IRET || id == X86_INS_IRETD || id == X86_INS_IRETQ ||
	       id == X86_INS_SYSCALL || id == X86_INS_SYSRET;
}

/* Nothing the CPU reserves for CPL 0 may change while the guest is at CPL 3. */
static void same_privileged_state(const struct vcpu *a, const struct vcpu *b)
{
	MUST(a->cr0 == b->cr0 && a->cr3 == b->cr3 && a->cr4 == b->cr4 && a->efer == b->efer);
	MUST(a->gdtr.base == b->gdtr.base && a->gdtr.limit == b->gdtr.limit);
	MUST(a->idtr.base == b->idtr.base && a->idtr.limit == b->idtr.limit);
	MUST(memcmp(&a->tr, &b->tr, sizeof(a->tr)) == 0 && memcmp(&a->ldtr, &b->ldtr, sizeof(a->ldtr)) == 0);
	MUST(a->fs_base == b->fs_base && a->gs_base == b->gs_base && a->kernel_gs_base == b->kernel_gs_base);
	MUST(a->star == b->star && a->lstar == b->lstar && a->cstar == b->cstar && a->sfmask == b->sfmask);
	MUST(a->pat == b->pat && a->apic_base == b->apic_base && a->tsc_aux == b->tsc_aux);
	MUST(a->sysenter_cs == b->sysenter_cs && a->sysenter_esp == b->sysenter_esp &&
	     a->sysenter_eip == b->sysenter_eip && a->misc_enable == b->misc_enable);
}

/* ---- the host CPU as the reference for a page-table store ---- */

#define ARITH 0x8d5ULL                        /* CF PF AF ZF SF OF */

/* A general register by capstone's name: its index in trap.gpr, or -1
 * (AH, BH, CH, DH and everything else). */
static int gpr_of(x86_reg r)
{
	static const x86_reg names[16][4] = {
		{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL },
		{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL },
		{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL },
		{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL },
		{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL },
		{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL },
		{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL },
		{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL },
		{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B },
		{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B },
		{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B },
		{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B },
		{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B },
		{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B },
		{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B },
		{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B },
	};

	for (int i = 0; i < 16; i++)
		for (int k = 0; k < 4; k++)
			if (names[i][k] == r)
				return i;
	return -1;
}

/* The host's state for one instruction: memory operand, RAX, RCX (the
 * register operand), RDX, RBX, RFLAGS. */
struct hstate {
	uint64_t m, a, c, d, b, f;
};

#define HOST_X(insn, sfx, reg)                                                               \
	__asm__ volatile("pushq %[f]\n\tpopfq\n\t" insn sfx " %%" reg ", %[m]\n\tpushfq\n\tpopq %[f]"  \
			 : [m] "+m"(*mem), "+a"(h->a), "+c"(h->c), [f] "+r"(h->f) : : "cc", "memory")
#define HOST_SIZED(insn)                                                                      \
	switch (size) {                                                                      \
	case 1: { uint8_t *mem = (uint8_t *)&h->m; HOST_X(insn, "b", "cl"); break; }           \
	case 2: { uint16_t *mem = (uint16_t *)&h->m; HOST_X(insn, "w", "cx"); break; }         \
	case 4: { uint32_t *mem = (uint32_t *)&h->m; HOST_X(insn, "l", "ecx"); break; }        \
	default: { uint64_t *mem = &h->m; HOST_X(insn, "q", "rcx"); break; }                   \
	}

/* Run the instruction on the host CPU. */
static void host_run(unsigned id, unsigned size, struct hstate *h)
{
	h->f = 0x2 | (h->f & ARITH);
	switch (id) {
	case X86_INS_MOV:
		HOST_SIZED("mov");
		break;
	case X86_INS_XCHG:
		HOST_SIZED("xchg");
		break;
	case X86_INS_CMPXCHG:
		HOST_SIZED("lock cmpxchg");
		break;
	default:                                      /* CMPXCHG8B */
		__asm__ volatile("pushq %[f]\n\tpopfq\n\tlock cmpxchg8b %[m]\n\tpushfq\n\tpopq %[f]"
				 : [m] "+m"(h->m), "+a"(h->a), "+d"(h->d), [f] "+r"(h->f)
				 : "b"(h->b), "c"(h->c) : "cc", "memory");
		break;
	}
}

/* What the host CPU makes of the store at RIP in state t0 (v0 for the
 * segment bases): false when it is not one this check covers.  *gpa and
 * *size: the memory operand. */
static bool host_reference(const struct vcpu *v0, const struct trap *t0, uint64_t rip_gpa, bool code64,
			   struct hstate *h, int *reg, uint64_t *gpa, unsigned *size)
{
	static csh hd[2];
	cs_insn *ci;
	const cs_x86_op *op;
	const struct vseg *seg;
	uint64_t ea, lin, amask, tgpa;
	uint32_t terr;
	unsigned id;
	bool ok = false;

	if (!hd[0]) {
		MUST(cs_open(CS_ARCH_X86, CS_MODE_32, &hd[0]) == CS_ERR_OK);
		MUST(cs_open(CS_ARCH_X86, CS_MODE_64, &hd[1]) == CS_ERR_OK);
		cs_option(hd[0], CS_OPT_DETAIL, CS_OPT_ON);
		cs_option(hd[1], CS_OPT_DETAIL, CS_OPT_ON);
	}
	if (cs_disasm(hd[code64], g_ram + rip_gpa, 15, 0, 1, &ci) != 1)
		return false;
	id = ci->id;
	op = ci->detail->x86.operands;
	if ((id != X86_INS_MOV && id != X86_INS_XCHG && id != X86_INS_CMPXCHG && id != X86_INS_CMPXCHG8B) ||
	    op[0].type != X86_OP_MEM || op[0].mem.base == X86_REG_RIP || op[0].mem.base == X86_REG_EIP)
		goto out;
	*size = op[0].size;
	*reg = -1;
	h->a = t0->gpr[R_AX];
	h->d = t0->gpr[R_DX];
	h->b = t0->gpr[R_BX];
	h->c = t0->gpr[R_CX];
	h->f = t0->rflags;
	if (id != X86_INS_CMPXCHG8B) {
		if (ci->detail->x86.op_count != 2)
			goto out;
		if (op[1].type == X86_OP_REG) {
			if ((*reg = gpr_of(op[1].reg)) < 0)
				goto out;
			h->c = t0->gpr[*reg];
		} else if (op[1].type == X86_OP_IMM && id == X86_INS_MOV) {
			h->c = (uint64_t)op[1].imm;
		} else {
			goto out;
		}
	}
	/* The address: base + index * scale + disp at the address size,
	 * plus the segment's base (SDM vol. 1, 3.7.5; vol. 3, 3.4). */
	ea = (uint64_t)op[0].mem.disp;
	if (op[0].mem.base != X86_REG_INVALID) {
		if (gpr_of(op[0].mem.base) < 0)
			goto out;
		ea += t0->gpr[gpr_of(op[0].mem.base)];
	}
	if (op[0].mem.index != X86_REG_INVALID) {
		if (gpr_of(op[0].mem.index) < 0)
			goto out;
		ea += t0->gpr[gpr_of(op[0].mem.index)] * (uint64_t)op[0].mem.scale;
	}
	amask = ci->detail->x86.addr_size == 8 ? ~0ULL : ci->detail->x86.addr_size == 4 ? 0xffffffffULL : 0xffffULL;
	ea &= amask;
	switch (op[0].mem.segment) {
	case X86_REG_FS: seg = &v0->fs; break;
	case X86_REG_GS: seg = &v0->gs; break;
	case X86_REG_ES: seg = &v0->es; break;
	case X86_REG_CS: seg = &v0->cs; break;
	case X86_REG_SS: seg = &v0->ss; break;
	case X86_REG_DS: seg = &v0->ds; break;
	default:
		seg = op[0].mem.base == X86_REG_ESP || op[0].mem.base == X86_REG_EBP || op[0].mem.base == X86_REG_SP ||
		      op[0].mem.base == X86_REG_BP ? &v0->ss : &v0->ds;
		break;
	}
	if (code64)
		lin = ea + (seg == &v0->fs ? v0->fs_base : seg == &v0->gs ? v0->gs_base : 0);
	else
		lin = (ea + seg->base) & 0xffffffffULL;
	*gpa = guest_gpa_of(&g, lin);
	if (*size < 1 || *size > 8 || *gpa == (uint64_t)-1 || *gpa + 8 > G_RAM)
		goto out;
	/* The CPU translates the address before the access, setting A in
	 * each entry of the path and D in the leaf (SDM vol. 3, 4.8): when
	 * the path runs through the very entry the store is to, the compare
	 * sees those bits.  The translation here is ombra's walker, whose A/D
	 * rule fuzz_walk checks against its own reference. */
	if (mmu_gva_to_gpa(&g.sh.mmu, &g.sh.ctx, lin, PFERR_W | (v0->cpl == 3 ? PFERR_U : 0), &tgpa, &terr) !=
	    PF_FIXED || tgpa != *gpa)
		goto out;
	memcpy(&h->m, g_ram + *gpa, 8);
	host_run(id, *size, h);
	ok = true;
out:
	cs_free(ci, 1);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct fuzz_in in = { d, n };
	struct shadow *sh = &g.sh;
	uint8_t how = in_u8(&in);
	unsigned vector = how & 1 ? VEC_UD : VEC_GP, id, len;
	bool pte = (how & 6) == 6, pristine, code64, rep, href = false;
	struct hstate h;
	int hreg = -1;
	uint64_t hgpa = 0;
	unsigned hsize = 0;
	struct vcpu before;
	struct trap t0;
	uint64_t rip0, rflags0, rcx0, injected, emulated, gpa0;
	enum trap_result r;

	if (n < 8)
		return 0;
	guest_build(&g, &in, false);
	sh->t.vector = vector;
	before = sh->v;
	rip0 = sh->t.rip;
	rflags0 = sh->t.rflags;
	rcx0 = sh->t.gpr[R_CX];
	t0 = sh->t;
	injected = sh->injected;
	code64 = g_code64(&sh->v);
	gpa0 = guest_gpa_of(&g, rip0);
	/* Our own view of the instruction, when the bytes at RIP are surely
	 * the ones the harness put there. */
	pristine = !g.tables_poked && gpa0 != (uint64_t)-1 && gpa0 + 15 <= G_RAM;
	id = len = 0;
	rep = false;
	if (pristine)
		len = decode(g_ram + gpa0, code64, &id, &rep);

	if (pte) {
		/* A store to a guest page table, as the real CPU reports it: a
		 * fetch at RIP first, then a write to the tables' own pages,
		 * until the MMU says PF_EMULATE (wp and unsync). */
		uint64_t addr = (g.high ? G_HIGH : 0) + G_TABLES + (in_u16(&in) & 0x3fff), gpa = 0;
		uint32_t gerr;
		enum pf_outcome o = PF_FIXED;

		mmu_trap_begin(&sh->mmu);
		mmu_page_fault(&sh->mmu, &sh->ctx, rip0, PFERR_U | PFERR_FETCH, &gerr, &gpa);
		for (unsigned i = 0; i < 3 && o != PF_EMULATE; i++) {
			mmu_trap_begin(&sh->mmu);
			o = mmu_page_fault(&sh->mmu, &sh->ctx, addr, PFERR_U | PFERR_W | (i ? PFERR_P : 0),
					   &gerr, &gpa);
		}
		if (o != PF_EMULATE) {
			guest_free(&g);
			return 0;
		}
		MUST(gpa >= G_TABLES && gpa < G_TABLES_END);
		emulated = sh->emulated;
		href = pristine && host_reference(&before, &t0, gpa0, code64, &h, &hreg, &hgpa, &hsize);
		r = emulate_pte_write(sh, gpa);
	} else {
		emulated = sh->emulated;
		r = emulate_insn(sh, vector);
	}

	/* TRAP_END only with the run over; a guest error always says why and
	 * is always TRAP_END.  A device (isa-debug-exit, Shutdown) may end
	 * the run from an instruction that completed. */
	MUST(r != TRAP_END || g.vm.end != END_NONE);
	if (g.vm.end == END_GUEST_ERROR)
		MUST(r == TRAP_END && g.vm.err[0] != '\0');
	if (g.vm.end != END_NONE) {
		guest_free(&g);
		return 0;
	}
	guest_check_vcpu(&g, false);
	if (before.cpl == 3)
		same_privileged_state(&before, &sh->v);
	if (r == TRAP_DELIVERED) {
		/* Through an interrupt or trap gate (SDM vol. 3, 6.12.1): never
		 * to a less privileged level; TF, NT, RF and VM cleared. */
		MUST(sh->injected > injected);
		MUST(sh->v.cpl <= before.cpl);
		MUST(!(sh->t.rflags & (RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM)));
	} else if (pte) {
		/* Emulated (RIP past the store) or handed back to run natively. */
		uint64_t step = (sh->t.rip - rip0) & (code64 ? ~0ULL : 0xffffffffULL);

		MUST(sh->v.cpl == before.cpl && memcmp(&sh->v.cs, &before.cs, sizeof(before.cs)) == 0);
		MUST(step <= 15);
		if (step) {
			MUST(sh->emulated == emulated + 1);
			MUST(!pristine || (step == len && (id == X86_INS_MOV || id == X86_INS_XCHG ||
							   id == X86_INS_CMPXCHG || id == X86_INS_CMPXCHG8B)));
		}
		if (step && href) {
			/* What the host CPU did with the same instruction. */
			uint64_t low = code64 ? ~0ULL : 0xffffffffULL, want[16];

			CHECK(memcmp(g_ram + hgpa, &h.m, hsize) == 0, "the store differs from the host CPU's");
			memcpy(want, t0.gpr, sizeof(want));
			want[R_AX] = h.a;
			want[R_DX] = h.d;
			/* Only XCHG writes its register operand; CMPXCHG's
			 * source is read, and when it is RAX itself RAX is
			 * what the compare left (the host ran it in RCX). */
			if (hreg >= 0 && id == X86_INS_XCHG)
				want[hreg] = h.c;
			for (unsigned i = 0; i < 16; i++)
				CHECK(((sh->t.gpr[i] ^ want[i]) & low) == 0, "a register differs from the host CPU's");
			CHECK(((sh->t.rflags ^ h.f) & ARITH) == 0, "the arithmetic flags differ from the host CPU's");
		}
	} else {
		MUST(sh->emulated == emulated + 1);
		if (pristine && !far_transfer(id)) {
			/* No control transfer: RIP just past the instruction,
			 * CS and CPL as they were; or, for REP INS/OUTS, still
			 * at it with RCX lower, as a REP interrupted between
			 * iterations (SDM vol. 2, REP). */
			MUST(len >= 1 && len <= 15);
			MUST(sh->t.rip == ((rip0 + len) & (code64 ? ~0ULL : 0xffffffffULL)) ||
			     (sh->t.rip == rip0 && rep && string_io(id) && sh->t.gpr[R_CX] != rcx0));
			MUST(sh->v.cpl == before.cpl && memcmp(&sh->v.cs, &before.cs, sizeof(before.cs)) == 0);
		}
		/* At CPL 3 IOPL never changes, and IF only with IOPL 3. */
		if (before.cpl == 3 && sh->v.cpl == 3) {
			MUST((sh->t.rflags & RFLAGS_IOPL) == (rflags0 & RFLAGS_IOPL));
			MUST(before.iopl == 3 || (sh->t.rflags & RFLAGS_IF) == (rflags0 & RFLAGS_IF));
		}
	}
	guest_free(&g);
	return 0;
}
