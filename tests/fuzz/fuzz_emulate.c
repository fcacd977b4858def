/*
 * libFuzzer harness for shadow mode's instruction emulator
 * (src/shadow/emulate.c, with inject.c and shadow.c's guest accesses):
 * any 15 bytes at the guest's RIP, in every mode ombra's virtual CPU has
 * (32-bit protected mode with paging off, 2-level paging, PAE, 64-bit and
 * compatibility mode), at CPL 0 or 3, with the control bits, registers and
 * descriptor and page tables the input picks (shadow_guest.h), handed to
 * emulate_insn() as after a #GP or #UD, or to emulate_pte_write() after
 * the MMU said PF_EMULATE for a store to a guest page table, as
 * page_fault() in shadow.c does.  Besides ASan/UBSan, it checks what must
 * hold whatever the bytes: the result is a trap_result, TRAP_END only
 * when the run ended and always for a guest error (with a reason), the
 * virtual CPU stays one the SDM
 * allows (guest_check_vcpu), an emulated instruction that transfers no
 * control moves RIP past exactly its own bytes (the length from a capstone
 * decoding of our own; a REP INS/OUTS may also stop between iterations
 * with RCX lower), a delivered exception never raises the CPL and
 * clears TF/NT/RF/VM, and nothing at CPL 3 changes privileged state.
 * Guest RAM is a static buffer and the monitor region is NULL, so an
 * access outside RAM or to the monitor would be ASan's or a crash.
 */
#include <capstone/capstone.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_guest.h"

static struct fuzz_guest g;

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
	       id == X86_INS_IRET || id == X86_INS_IRETD || id == X86_INS_IRETQ;
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

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct fuzz_in in = { d, n };
	struct shadow *sh = &g.sh;
	uint8_t how = in_u8(&in);
	unsigned vector = how & 1 ? VEC_UD : VEC_GP, id, len;
	bool pte = (how & 6) == 6, pristine, code64, rep;
	struct vcpu before;
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
		r = emulate_pte_write(sh, gpa);
	} else {
		emulated = sh->emulated;
		r = emulate_insn(sh, vector);
	}

	MUST(r == TRAP_RESUME || r == TRAP_DELIVERED || r == TRAP_END);
	/* TRAP_END only with the run over; a guest error always says why and
	 * is always TRAP_END.  A device (isa-debug-exit, Shutdown) may end
	 * the run from an instruction that completed. */
	MUST(r != TRAP_END || g.vm.board.end != END_NONE);
	if (g.vm.board.end == END_GUEST_ERROR)
		MUST(r == TRAP_END && g.vm.err[0] != '\0');
	if (g.vm.board.end != END_NONE) {
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
