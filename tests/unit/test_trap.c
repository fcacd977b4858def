/*
 * Regression tests for what the trap-path fuzz harnesses
 * (tests/fuzz/fuzz_emulate.c, fuzz_trap.c) found in shadow mode, each on
 * a guest built here by hand, without KVM: exception delivery through a
 * gate the SDM refuses (a handler segment with L=1 and D=1 in IA-32e mode,
 * a non-canonical handler, a handler less privileged than the CPL), the
 * stack of a privilege change to ring 1, far returns and jumps to a
 * non-canonical RIP, IRET whose new SS faults, REP INS/OUTS that never
 * went back to the guest, MOV CR0 clearing PE (ombra has no real mode), and a
 * fault above 4 GiB in a guest without long mode, which filled the
 * monitor's slot of the shadow root; and the instructions --shadow-patch
 * patches, met at their patch.  What each must do is the SDM's rule
 * (vol. 2: INT n, IRET, RET, JMP; vol. 3: 6.12.1, 6.14.1), written out
 * here, not taken from ombra's code.
 *
 * The guest: 1 MiB of RAM at GPA 0; GDT at 0x1000, IDT at 0x2000 (every
 * vector an interrupt gate to 0x30000 + 16 * vector in the kernel's code
 * segment), TSS at 0x3000, and for long mode a PML4 at 0x4000 mapping the
 * first 2 MiB with one large page.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "shadow/decode.h"
#include "shadow_fixture.h"

#define HANDLER(v) (0x30000ULL + 16 * (v))
#define STACK      0x1f000ULL

static struct shadow_fixture fx;
static struct vm *vm;
static struct shadow *sh;
static uint8_t *ram;

#define put(gpa, v, size) fixture_put(&fx, gpa, v, size)
#define get(gpa, size)    fixture_get(&fx, gpa, size)

/* A segment descriptor (SDM vol. 3, 3.4.5), flat, 4 GiB. */
static uint64_t seg_desc(unsigned type, unsigned s, unsigned dpl, unsigned l, unsigned db)
{
	return 0xffffULL | 0xfULL << 48 | (uint64_t)type << 40 | (uint64_t)s << 44 | (uint64_t)dpl << 45 |
	       1ULL << 47 | (uint64_t)l << 53 | (uint64_t)db << 54 | 1ULL << 55;
}

static struct vseg vseg(uint16_t sel, unsigned type, unsigned dpl, unsigned l, unsigned db)
{
	struct vseg s = { .sel = sel, .base = 0, .limit = 0xffffffff, .type = (uint8_t)type, .s = 1,
			  .dpl = (uint8_t)dpl, .p = 1, .l = (uint8_t)l, .db = (uint8_t)db, .g = 1 };

	return s;
}

/* An interrupt gate, 8 bytes (32-bit) or 16 (IA-32e mode). */
static void gate(unsigned v, bool is_long, uint16_t sel, uint64_t target)
{
	uint64_t lo = (target & 0xffff) | (uint64_t)sel << 16 | 0x8eULL << 40 | ((target >> 16) & 0xffff) << 48;

	if (is_long) {
		put(0x2000 + v * 16, lo, 8);
		put(0x2000 + v * 16 + 8, target >> 32, 8);
	} else {
		put(0x2000 + v * 8, lo, 8);
	}
}

static void setup(void)
{
	fixture_new(&fx);
	vm = fx.vm, sh = fx.sh, ram = fx.ram;

	put(0x1000 + 0x08, seg_desc(0xb, 1, 0, 1, 0), 8);   /* code64, DPL 0 */
	put(0x1000 + 0x10, seg_desc(0xb, 1, 0, 0, 1), 8);   /* code32, DPL 0 */
	put(0x1000 + 0x18, seg_desc(0x3, 1, 0, 0, 1), 8);   /* data, DPL 0 */
	put(0x1000 + 0x20, seg_desc(0xb, 1, 3, 0, 1), 8);   /* code32, DPL 3 */
	put(0x1000 + 0x28, seg_desc(0x3, 1, 3, 0, 1), 8);   /* data, DPL 3 */
	put(0x1000 + 0x30, seg_desc(0xb, 1, 3, 1, 0), 8);   /* code64, DPL 3 */
	put(0x1000 + 0x38, seg_desc(0xb, 1, 0, 1, 1), 8);   /* code, L=1 and D=1: reserved */
	put(0x1000 + 0x40, seg_desc(0xb, 1, 1, 0, 1), 8);   /* code32, DPL 1 */
	put(0x1000 + 0x48, seg_desc(0x3, 1, 1, 0, 1), 8);   /* data, DPL 1 */
	put(0x4000, 0x5000 | 7, 8);                        /* PML4 -> PDPT -> PD: 2 MiB at 0 */
	put(0x5000, 0x6000 | 7, 8);
	put(0x6000, 0x87, 8);
}

static void teardown(void)
{
	fixture_free(&fx);
}

/* The guest's CPU: 64-bit mode or 32-bit protected mode with paging off,
 * at CPL 0 or 3, RIP 0x10000, RSP STACK. */
static void cpu(bool is_long, unsigned cpl)
{
	struct vcpu *v = &sh->v;

	fixture_cpu(&fx, is_long, 0xff);
	if (is_long)
		v->cs = cpl ? vseg(0x33, 0xb, 3, 1, 0) : vseg(0x08, 0xb, 0, 1, 0);
	else
		v->cs = cpl ? vseg(0x23, 0xb, 3, 0, 1) : vseg(0x10, 0xb, 0, 0, 1);
	v->ss = cpl ? vseg(0x2b, 0x3, 3, 0, 1) : vseg(0x18, 0x3, 0, 0, 1);
	v->ds = v->es = v->fs = v->gs = v->ss;
	v->tr.base = 0x3000;
	v->tr.limit = 0x67;
	v->tr.type = 0xb;
	v->tr.p = 1;
	v->cpl = cpl;
	for (unsigned i = 0; i < 256; i++)
		gate(i, is_long, is_long ? 0x08 : 0x10, HANDLER(i));
	memset(&sh->t, 0, sizeof(sh->t));
	sh->t.rip = 0x10000;
	sh->t.gpr[R_SP] = STACK;
	sh->t.rflags = RFLAGS_FIXED;
	sh->t.code64 = is_long;
	shadow_cpu_changed(sh, false, false);
	mmu_root_loaded(&sh->mmu, mmu_root(&sh->mmu, &sh->ctx));
	sh->mmu.need_reload = false;
}

TestSuite(trap_regress, .init = setup, .fini = teardown);

/* IA-32e mode: the handler's segment must be 64-bit code, L=1 and D=0
 * (SDM vol. 3, 6.14.1), else #GP during delivery: #GP then #GP is #DF. */
Test(trap_regress, gate_to_code_with_l_and_d_is_a_fault)
{
	cpu(true, 0);
	gate(VEC_GP, true, 0x38, HANDLER(VEC_GP));
	cr_assert_eq(inject_exception(sh, VEC_GP, true, 0), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_DF);
	cr_expect_eq(sh->v.cs.sel, 0x08);
	cr_expect_eq(sh->t.rip, HANDLER(VEC_DF));
}

/* A non-canonical handler RIP is #GP(0) (SDM vol. 2, INT n), not a jump there. */
Test(trap_regress, non_canonical_handler_is_a_fault)
{
	cpu(true, 0);
	gate(VEC_GP, true, 0x08, 0x0000800000030000ULL);
	cr_assert_eq(inject_exception(sh, VEC_GP, true, 0), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_DF);
	cr_expect_eq(sh->t.rip, HANDLER(VEC_DF));
}

/* No delivery to a less privileged level: a handler segment with DPL >
 * CPL is #GP(selector) (SDM vol. 2, INT n; vol. 3, 6.12.1.1). */
Test(trap_regress, handler_less_privileged_than_cpl_is_a_fault)
{
	cpu(true, 0);
	gate(VEC_GP, true, 0x30, HANDLER(VEC_GP));
	cr_assert_eq(inject_exception(sh, VEC_GP, true, 0), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_DF);
	cr_expect_eq(sh->v.cpl, 0);
	cr_expect_eq(sh->v.cs.sel, 0x08);
}

/* From CPL 3 to a ring-1 handler: the stack is SS1:ESP1 from the TSS
 * (at +16 and +12), not SS0:ESP0 (SDM vol. 3, 6.12.1 and 8.2.1). */
Test(trap_regress, ring1_handler_gets_the_ring1_stack)
{
	cpu(false, 3);
	put(0x3000 + 4, 0x1e000, 4);            /* ESP0 */
	put(0x3000 + 8, 0x18, 2);               /* SS0 */
	put(0x3000 + 12, 0x1d000, 4);           /* ESP1 */
	put(0x3000 + 16, 0x48 | 1, 2);          /* SS1 */
	gate(VEC_GP, false, 0x40 | 1, HANDLER(VEC_GP));
	cr_assert_eq(inject_exception(sh, VEC_GP, true, 0x1234), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->v.cpl, 1);
	cr_expect_eq(sh->v.ss.sel, 0x49);
	/* SS, ESP, EFLAGS, CS, EIP, error code: six 4-byte pushes. */
	cr_expect_eq(sh->t.gpr[R_SP], 0x1d000 - 24);
	cr_expect_eq(get(0x1d000 - 4, 4), 0x2b);
	cr_expect_eq(get(0x1d000 - 8, 4), STACK);
	cr_expect_eq(get(0x1d000 - 24, 4), 0x1234);
}

/* A far return or jump to a non-canonical RIP in 64-bit code is #GP(0)
 * (SDM vol. 2: RET, IRET, JMP). */
Test(trap_regress, far_transfers_to_non_canonical_rip_fault)
{
	cpu(true, 0);
	put(STACK, 0x0040000000012000ULL, 8);   /* RETF: RIP, CS */
	put(STACK + 8, 0x08, 8);
	cr_assert_eq(emulate_far_ret(sh, 8, 0), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->t.rip, HANDLER(VEC_GP));

	cpu(true, 0);
	put(STACK + 16, 0x202, 8);               /* IRETQ: RIP, CS, RFLAGS, RSP, SS */
	put(STACK + 24, STACK, 8);
	put(STACK + 32, 0x18, 8);
	cr_assert_eq(emulate_iret(sh, 8), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);

	cpu(true, 0);
	cr_assert_eq(emulate_far_jmp(sh, 0x08, 0xffff7fff00000000ULL, false, 8, 0x10007), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->t.rip, HANDLER(VEC_GP));
}

/* IRET whose new SS fails its checks raises #GP(SS) at the IRET, so at
 * the current CPL: delivered from CPL 3 it lands at CPL 0 and stays
 * there, as CS says (CPL is CS.RPL). */
Test(trap_regress, iret_with_a_bad_ss_faults_at_the_current_cpl)
{
	cpu(true, 3);
	put(0x3000 + 4, 0x1e000, 8);            /* RSP0 */
	put(STACK, 0x11000, 8);                 /* IRETQ: RIP, CS, RFLAGS, RSP, SS */
	put(STACK + 8, 0x33, 8);
	put(STACK + 16, 0x202, 8);
	put(STACK + 24, STACK, 8);
	put(STACK + 32, 0x18, 8);               /* RPL 0 and DPL 0 for CPL 3: #GP(0x18) */
	cr_assert_eq(emulate_iret(sh, 8), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->last_error, 0x18);
	cr_expect_eq(sh->v.cs.sel, 0x08);
	cr_expect_eq(sh->v.cpl, 0);
	cr_expect(!sh->ctx.user, "the MMU must be in the kernel view");
	cr_expect_eq(sh->t.gpr[R_SP], 0x1e000 - 48, "the frame goes on the RSP0 stack");
}

/* A null SS on a return to 64-bit code below CPL 3 is allowed only with
 * its RPL the new CPL (SDM vol. 2, IRET: "RPL <> CPL going back to
 * non-CPL3 64-bit mode for a NULL SS selector" is #GP(0); RET compares the
 * SS selector's RPL with the return CS's).  Found by fuzz_emulate: a
 * RETFQ to ring 1 with SS = 0 left the guest at CPL 1 with SS.RPL 0. */
static void ring1_return_frame(bool iret, uint64_t ssel)
{
	unsigned i = 0;

	cpu(true, 0);
	put(0x1000 + 0x50, seg_desc(0xb, 1, 1, 1, 0), 8);   /* code64, DPL 1 */
	put(STACK + 8 * i++, 0x11000, 8);                    /* RIP, CS, [RFLAGS], RSP, SS */
	put(STACK + 8 * i++, 0x50 | 1, 8);
	if (iret)
		put(STACK + 8 * i++, 0x2, 8);
	put(STACK + 8 * i++, 0x1d000, 8);
	put(STACK + 8 * i++, ssel, 8);
}

Test(trap_regress, null_ss_back_to_ring1_needs_rpl_1)
{
	for (int iret = 0; iret < 2; iret++) {
		ring1_return_frame(iret, 0);
		cr_assert_eq(iret ? emulate_iret(sh, 8) : emulate_far_ret(sh, 8, 0), TRAP_DELIVERED,
			     "%s with SS = 0 to CPL 1", iret ? "IRETQ" : "RETFQ");
		cr_expect_eq(sh->last_vector, VEC_GP);
		cr_expect_eq(sh->last_error, 0);
		cr_expect_eq(sh->v.cpl, 0);
		cr_expect_eq(sh->v.cs.sel, 0x08);

		ring1_return_frame(iret, 1);
		cr_assert_eq(iret ? emulate_iret(sh, 8) : emulate_far_ret(sh, 8, 0), TRAP_RESUME,
			     "%s with SS = 1 to CPL 1", iret ? "IRETQ" : "RETFQ");
		cr_expect_eq(sh->v.cpl, 1);
		cr_expect_eq(sh->v.cs.sel, 0x51);
		cr_expect_eq(sh->v.ss.sel, 1);
		cr_expect_eq(sh->t.rip, 0x11000);
		cr_expect_eq(sh->t.gpr[R_SP], 0x1d000);
	}
}

/* MOV CR0 with PE clear would enter real mode, which ombra does not have:
 * the run ends with a reason instead of going on in a mode it is not in. */
Test(trap_regress, clearing_cr0_pe_ends_the_run)
{
	cpu(false, 0);
	put(0x10000, 0xc0220f, 3);              /* mov cr0, eax */
	sh->t.gpr[R_AX] = CR0_ET;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_END);
	cr_expect_eq(vm->end, END_GUEST_ERROR);
	cr_expect(strstr(vm->err, "CR0.PE") != NULL, "%s", vm->err);
	cr_expect(sh->v.cr0 & CR0_PE);
}

/* REP INS/OUTS may stop between iterations with RIP still at it and
 * RCX/RSI/RDI saying how far it got (SDM vol. 2, REP): ombra must, or a
 * count up to 2^64 - 1 over memory the guest aliases at will holds it in
 * one trap, where --timeout cannot end the run.  Trapping on it again
 * goes on where it stopped. */
Test(trap_regress, rep_string_io_goes_back_to_the_guest_between_batches)
{
	unsigned traps = 0;

	cpu(false, 0);
	put(0x10000, 0x6ef3, 2);                /* rep outsb (to port 0x80) */
	sh->t.gpr[R_CX] = FIX_RAM;
	sh->t.gpr[R_SI] = 0;
	sh->t.gpr[R_DX] = 0x80;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	cr_expect_eq(sh->t.rip, 0x10000, "RIP must stay at the REP while it has not finished");
	cr_expect(sh->t.gpr[R_CX] > 0 && sh->t.gpr[R_CX] < FIX_RAM);
	cr_expect_eq(sh->t.gpr[R_SI], FIX_RAM - sh->t.gpr[R_CX]);
	for (traps = 1; sh->t.rip == 0x10000 && traps < FIX_RAM; traps++)
		cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	cr_expect_eq(sh->t.rip, 0x10002);
	cr_expect_eq(sh->t.gpr[R_CX], 0);
	cr_expect_eq(sh->t.gpr[R_SI], FIX_RAM);
}

/* A stop pending (--timeout, SIGINT, SIGTERM) ends a REP OUTS batch after
 * the iteration under way: the guest goes back with RIP at the REP and
 * the run loop ends the run before its next instruction.  Before issue 15
 * the batch ran its 4,096 iterations first, whatever each cost. */
Test(trap_regress, rep_string_io_batch_ends_when_a_stop_is_pending)
{
	cpu(false, 0);
	put(0x10000, 0x6ef3, 2);                /* rep outsb (to port 0x80) */
	sh->t.gpr[R_CX] = FIX_RAM;
	sh->t.gpr[R_SI] = 0;
	sh->t.gpr[R_DX] = 0x80;
	vm_request_stop(SIGTERM);
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	vm_request_stop(0);
	cr_expect_eq(sh->t.rip, 0x10000, "RIP must stay at the REP");
	cr_expect_eq(sh->t.gpr[R_CX], FIX_RAM - 1, "one iteration, then back: %#llx left",
		     (unsigned long long)sh->t.gpr[R_CX]);
	cr_expect_eq(sh->t.gpr[R_SI], 1);
}

/* A port whose every write takes 2 ms (as a memslot move or an explain
 * can): a batch ends once its time slice (10 ms) is spent, long before
 * 4,096 iterations (8 s).  Sleeps only ever last longer, so the count of
 * iterations can only be smaller than 10 ms / 2 ms + 1. */
static unsigned slow_writes;

static void slow_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	struct timespec ts = { 0, 2000000 };

	(void)opaque, (void)port, (void)size, (void)val;
	slow_writes++;
	nanosleep(&ts, NULL);
}

Test(trap_regress, rep_string_io_batch_ends_when_its_time_slice_is_spent)
{
	const struct io_dev slow = { "slow", 0x99, 1, NULL, slow_out, NULL };

	cpu(false, 0);
	cr_assert_eq(io_bus_register(&vm->board.io, &slow), 0);
	put(0x10000, 0x6ef3, 2);                /* rep outsb (to port 0x99) */
	sh->t.gpr[R_CX] = 4 * STRING_IO_BATCH;
	sh->t.gpr[R_SI] = 0;
	sh->t.gpr[R_DX] = 0x99;
	slow_writes = 0;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	cr_expect_eq(sh->t.rip, 0x10000, "RIP must stay at the REP");
	cr_expect_leq(slow_writes, 6, "%u writes of 2 ms in one trap", slow_writes);
	cr_expect_geq(slow_writes, 1);
	cr_expect_eq(sh->t.gpr[R_CX], 4 * STRING_IO_BATCH - slow_writes);
}

/* REP OUTSW and REP INSW move words whatever order the operand-size
 * prefix and REP stand in (SDM vol. 2, 2.1.1: legacy prefixes in any
 * order; INS, OUTS): GNU as writes "rep outsw" as 66 F3 6F, which
 * capstone 4 calls OUTSD, and ombra moved doublewords (seen while checking
 * the hostile fuzz seeds).  REX.W does not make them quadwords. */
static unsigned io_sizes[8], io_vals[8], io_n;

static void rec_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	(void)opaque, (void)port;
	if (io_n < 8) {
		io_sizes[io_n] = size;
		io_vals[io_n] = val;
	}
	io_n++;
}

static void rec_in(void *opaque, uint16_t port, unsigned size, uint32_t *val)
{
	(void)opaque, (void)port;
	if (io_n < 8)
		io_sizes[io_n] = size;
	io_n++;
	*val = 0xabcdabcd;                      /* the bus masks it to size */
}

static void string_io_words(bool is_long, uint32_t insn, unsigned len, bool is_in, unsigned want)
{
	const struct io_dev d = { "rec", 0x99, 1, rec_in, rec_out, NULL };

	cpu(is_long, 0);
	cr_assert_eq(io_bus_register(&vm->board.io, &d), 0);
	put(0x10000, insn, len);
	put(0x800, 0x8877665544332211ULL, 8);
	put(0x808, 0, 8);
	sh->t.gpr[R_CX] = 2;
	sh->t.gpr[R_SI] = is_in ? 0 : 0x800;
	sh->t.gpr[R_DI] = is_in ? 0x808 : 0;
	sh->t.gpr[R_DX] = 0x99;
	io_n = 0;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	/* A REP may stop between elements when ombra's time slice is spent
	 * (a loaded host), as after an interrupt: the CPU runs it again. */
	if (sh->t.rip == 0x10000 && sh->t.gpr[R_CX] == 1)
		cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	cr_expect_eq(sh->t.rip, 0x10000 + len);
	cr_expect_eq(sh->t.gpr[R_CX], 0);
	cr_assert_eq(io_n, 2);
	cr_expect_eq(io_sizes[0], want, "element size %u, want %u", io_sizes[0], want);
	cr_expect_eq(io_sizes[1], want);
	if (is_in) {
		cr_expect_eq(sh->t.gpr[R_DI], 0x808 + 2 * want);
		cr_expect_eq(get(0x808, 8), want == 2 ? 0xabcdabcdULL : 0xabcdabcdabcdabcdULL,
			     "memory %#llx", (unsigned long long)get(0x808, 8));
	} else {
		cr_expect_eq(sh->t.gpr[R_SI], 0x800 + 2 * want);
		cr_expect_eq(io_vals[0], want == 2 ? 0x2211u : 0x44332211u);
		cr_expect_eq(io_vals[1], want == 2 ? 0x4433u : 0x88776655u);
	}
}

Test(trap_regress, rep_outsw_66_f3_moves_words)
{
	string_io_words(false, 0x6ff366, 3, false, 2);
}

Test(trap_regress, rep_outsw_f3_66_moves_words)
{
	string_io_words(false, 0x6f66f3, 3, false, 2);
}

Test(trap_regress, rep_insw_66_f3_moves_words)
{
	string_io_words(false, 0x6df366, 3, true, 2);
}

Test(trap_regress, rep_insw_66_f3_moves_words_in_64_bit_mode)
{
	string_io_words(true, 0x6df366, 3, true, 2);
}

Test(trap_regress, rep_outsd_rex_w_moves_doublewords)
{
	string_io_words(true, 0x6f48f3, 3, false, 4);
}

/* A guest without long mode reaches addresses above 4 GiB only by running
 * 64-bit code natively (kvm_pvm); a fault there, in the monitor's 512 GiB
 * above all, is the guest's #PF, and the monitor's slot of the root (256,
 * 0xffff800000000000) stays the monitor's. */
Test(trap_regress, fault_above_4g_without_long_mode_leaves_the_monitor_mapped)
{
	static const uint64_t gva[] = { 0xffff800000002000ULL, 0xffffff8000002000ULL, 0xffffffff00000000ULL,
					0x100002000ULL };
	uint64_t root;

	cpu(false, 0);
	root = sh->mmu.loaded_root->mpa - POOL_MPA;
	for (unsigned i = 0; i < sizeof(gva) / sizeof(gva[0]); i++) {
		uint32_t gerr = 0;
		uint64_t gpa = 0, e;

		mmu_trap_begin(&sh->mmu);
		cr_expect_eq(mmu_page_fault(&sh->mmu, &sh->ctx, gva[i], PFERR_U | PFERR_P, &gerr, &gpa), PF_GUEST,
			     "fault at %#llx", (unsigned long long)gva[i]);
		memcpy(&e, fx.pool + root + 256 * 8, 8);
		cr_expect_eq(e, FIX_MON_E, "slot 256 of the root is %#llx after a fault at %#llx",
			     (unsigned long long)e, (unsigned long long)gva[i]);
	}
}

/* In IA-32e mode a TSS descriptor is 16 bytes: LTR of one whose second
 * half lies past the GDT limit is #GP(selector) (SDM vol. 3, 7.2.3), and
 * so is one whose upper half has a non-zero type field. */
Test(trap_regress, ltr_in_long_mode_checks_the_whole_16_byte_descriptor)
{
	const uint64_t tss64 = 0x3000ULL << 16 | 0x67 | 0x89ULL << 40;   /* present, available */

	cpu(true, 0);
	put(0x1000 + 0x50, tss64, 8);
	put(0x1000 + 0x58, 0, 8);
	sh->v.gdtr.limit = 0x57;                        /* the first 8 bytes only */
	put(0x10000, 0xd8000f, 3);                      /* ltr ax */
	sh->t.gpr[R_AX] = 0x50;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->last_error, 0x50);

	cpu(true, 0);
	put(0x1000 + 0x50, tss64, 8);
	put(0x1000 + 0x58, 0x1fULL << 40, 8);           /* type bits in the upper half */
	put(0x10000, 0xd8000f, 3);
	sh->t.gpr[R_AX] = 0x50;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);

	cpu(true, 0);
	put(0x1000 + 0x50, tss64, 8);
	put(0x1000 + 0x58, 0, 8);
	put(0x10000, 0xd8000f, 3);
	sh->t.gpr[R_AX] = 0x50;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	cr_expect_eq(sh->v.tr.sel, 0x50);
	cr_expect_eq(sh->v.tr.base, 0x3000);
}

/* In 64-bit mode, MOV to FS or GS of a non-null selector loads the base
 * from the descriptor (SDM vol. 3, 3.4.4): the guest's FS: accesses, made
 * natively, must use it, so the real FS base follows too. */
Test(trap_regress, mov_to_fs_in_long_mode_loads_the_base)
{
	const uint64_t data = seg_desc(0x3, 1, 0, 0, 1) & ~(0xffffffULL << 16 | 0xffULL << 56);

	cpu(true, 0);
	put(0x1000 + 0x60, data | 0x345678ULL << 16 | 0x12ULL << 56, 8);    /* base 0x12345678 */
	put(0x10000, 0xe08e, 2);                        /* mov fs, eax */
	sh->t.gpr[R_AX] = 0x60;
	sh->v.fs_base = 0xffff800000000000ULL;
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_RESUME);
	cr_expect_eq(sh->v.fs.sel, 0x60);
	cr_expect_eq(sh->v.fs_base, 0x12345678);
	cr_expect_eq(vm->kvm.run->s.regs.sregs.fs.base, 0x12345678);
	cr_expect(vm->kvm.run->kvm_dirty_regs & KVM_SYNC_X86_SREGS);
}

/* EXT (bit 0 of the error code): set when the fault happened while
 * delivering an exception or a hardware interrupt, clear while delivering
 * a software INT n (SDM vol. 3, 6.13). */
Test(trap_regress, ext_bit_says_whether_the_event_was_external)
{
	cpu(true, 0);
	gate(VEC_UD, true, 0x38, HANDLER(VEC_UD));      /* a CS with L=1, D=1: #GP(0x38 | EXT) */
	cr_assert_eq(inject_exception(sh, VEC_UD, false, 0), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->last_error, 0x38 | 1);

	cpu(true, 0);
	put(0x2000 + 0x40 * 16 + 5, 0x0e | 3 << 5, 1);   /* gate 0x40: DPL 3, not present */
	put(0x10000, 0x40cd, 2);                         /* int 0x40 */
	cr_assert_eq(emulate_insn(sh, VEC_GP), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_NP);
	cr_expect_eq(sh->last_error, 0x40 * 8 + 2, "INT n: #NP(IDT | vector), no EXT; got %#x", sh->last_error);
}

/* INT3 and INTO are software interrupts: through a gate whose DPL is below
 * the CPL they raise #GP(vector * 8 + 2) at the instruction, as INT n does
 * (SDM vol. 3, 6.12.1.1); QEMU and KVM do so.  They reach ombra as #BP and
 * #OF with RIP past the instruction, through the monitor's DPL 3 gates. */
Test(trap_regress, int3_at_cpl3_through_a_dpl0_gate_is_a_gp)
{
	/* From CPL 3 the handler runs on SS0:ESP0; EIP is 20 bytes below
	 * ESP0 (SS, ESP, EFLAGS, CS, EIP), on CPL 0's own stack 12. */
	cpu(false, 3);                                  /* every gate DPL 0 */
	put(0x3000 + 4, 0x1e000, 4);                    /* ESP0 */
	put(0x3000 + 8, 0x18, 2);                       /* SS0 */
	put(0x10000, 0xcc, 1);                          /* int3 */
	sh->t.rip = 0x10001;
	cr_assert_eq(inject_soft_exception(sh, VEC_BP), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->last_error, VEC_BP * 8 + 2, "error %#x", sh->last_error);
	cr_expect_eq(get(0x1e000 - 20, 4), 0x10000, "the #GP's EIP is the int3's: %#llx",
		     (unsigned long long)get(0x1e000 - 20, 4));

	cpu(false, 3);
	put(0x10000, 0x03cd, 2);                        /* int 3, the two-byte form */
	sh->t.rip = 0x10002;
	cr_assert_eq(inject_soft_exception(sh, VEC_BP), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(get(0x1e000 - 20, 4), 0x10000);

	cpu(false, 3);
	put(0x2000 + VEC_OF * 8 + 5, 0x8e | 3 << 5, 1); /* gate 4: DPL 3 */
	put(0x10000, 0xce, 1);                          /* into */
	sh->t.rip = 0x10001;
	cr_assert_eq(inject_soft_exception(sh, VEC_OF), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_OF, "a DPL 3 gate lets INTO through");
	cr_expect_eq(get(0x1e000 - 20, 4), 0x10001, "#OF is a trap: EIP past the into");

	cpu(false, 0);                                  /* CPL 0: DPL 0 gates pass */
	sh->t.rip = 0x10001;
	cr_assert_eq(inject_soft_exception(sh, VEC_BP), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_BP);
	cr_expect_eq(get(STACK - 12, 4), 0x10001);
}

/* --explain of an address in the monitor's range (PML4 slot 256 of every
 * shadow root, 0xffff800000000000, where the host lets ombra choose):
 * ombra's own mapping, not the guest's; it used to walk the monitor's
 * tables as if they were pool pages and call the mismatch an ombra bug. */
Test(trap_regress, explain_in_the_monitors_slot_says_so)
{
	json_t *o;
	const char *verdict;

	cpu(true, 0);
	vm->mode = &shadow_mode;
	vm_explain(vm, 0xffff800000001000ULL);
	cr_assert(json_is_array(vm->explained));
	o = json_array_get(vm->explained, 0);
	verdict = json_string_value(json_object_get(o, "verdict"));
	cr_assert(verdict);
	cr_expect(strstr(verdict, "monitor's range: PML4 slot 256"), "verdict: %s", verdict);
	cr_expect_null(strstr(verdict, "BUG"), "verdict: %s", verdict);
	json_decref(vm->explained);
	vm->explained = NULL;
	/* Slot 511, where a higher-half kernel lives, is the guest's. */
	vm_explain(vm, 0xffffffff80001000ULL);
	o = json_array_get(vm->explained, 0);
	verdict = json_string_value(json_object_get(o, "verdict"));
	cr_expect(!verdict || !strstr(verdict, "monitor"), "verdict: %s", verdict ? verdict : "");
	json_decref(vm->explained);
	vm->explained = NULL;
}

/* A trap through the monitor with the real RFLAGS given: the frame, the
 * registers and the real segments as the last resume left them
 * (realseg.c), the monitor's OUT of the vector, the whole exit path. */
static void exit_with_error(unsigned vector, uint64_t real_rflags, uint64_t error, uint64_t cr2);

static void exit_with_flags(unsigned vector, uint64_t real_rflags)
{
	exit_with_error(vector, real_rflags, 0, 0);
}

static void exit_with_error(unsigned vector, uint64_t real_rflags, uint64_t error, uint64_t cr2)
{
	uint64_t *f = (uint64_t *)(sh->mon + MON_STACK_TOP - 40);
	struct kvm_run *run = vm->kvm.run;
	struct kvm_regs *r = &run->s.regs.regs;
	bool resync = false;

	realseg_select(sh);
	realseg_data(sh, &run->s.regs.sregs);
	f[0] = sh->t.rip;
	f[1] = sh->real.cs;
	f[2] = real_rflags;
	f[3] = sh->t.gpr[R_SP];
	f[4] = sh->real.ss;
	*(uint64_t *)(sh->mon + MON_STACK_TOP - 48) = error;        /* the error code, if any */
	run->s.regs.sregs.cr2 = cr2;
	r->rax = sh->t.gpr[R_AX]; r->rcx = sh->t.gpr[R_CX]; r->rdx = sh->t.gpr[R_DX];
	r->rsp = sh->t.gpr[R_SP];
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.port = (uint16_t)vector;
	run->s.regs.sregs.cs.selector = SEL_MON_CS;                 /* the monitor's OUT */
	run->kvm_dirty_regs = 0;
	cr_assert(shadow_handle_exit(vm, &resync));
	cr_assert_eq(vm->end, END_NONE, "%s", vm->err);
}

/*
 * A WRMSR to GS_BASE as an OS's 32-bit boot code does it, through the whole
 * exit path (shadow_handle_exit: trap, emulation, resume): the guest's
 * %gs: accesses run natively, so the real GS base must reach KVM with the
 * resume (KVM_SYNC_X86_SREGS dirty, the base in kvm_run's sregs), and a
 * flat GS load between two WRMSRs, in 32-bit mode too, loads the base from
 * the descriptor (SDM vol. 3, 3.4.4; MSR_GS_BASE is that hidden base).
 * Found with an OS-style kernel whose %gs:8 read bytes of code (issue 17).
 */
static void exit_through_gp(void)
{
	exit_with_flags(VEC_GP, RFLAGS_FIXED | RFLAGS_IF);
}

Test(trap_regress, wrmsr_gs_base_reaches_the_real_gs)
{
	for (int is_long = 0; is_long <= 1; is_long++) {
		cpu(is_long, 0);
		put(0x10000, 0x300f, 2);                        /* wrmsr */
		sh->t.gpr[R_CX] = MSR_GS_BASE;
		sh->t.gpr[R_AX] = 0x12345000;
		sh->t.gpr[R_DX] = 0;
		exit_through_gp();
		cr_expect_eq(vm->kvm.run->s.regs.sregs.gs.base, 0x12345000, "long %d", is_long);
		cr_expect(vm->kvm.run->kvm_dirty_regs & KVM_SYNC_X86_SREGS,
			  "long %d: the new GS base never reaches KVM", is_long);
		cr_expect_eq(sh->v.gs_base, 0x12345000);
		cr_expect_eq(sh->v.gs.base, 0x12345000, "long %d: GS's hidden base is not the MSR", is_long);
	}
}

Test(trap_regress, gs_load_in_32bit_mode_loads_the_base)
{
	cpu(false, 0);
	sh->v.gs_base = 0x12345000;
	sh->v.gs.base = 0x12345000;
	put(0x10000, 0xe88e, 2);                                /* mov gs, eax */
	sh->t.gpr[R_AX] = 0x18;                                 /* flat data, base 0 */
	exit_through_gp();
	cr_expect_eq(sh->v.gs.sel, 0x18);
	cr_expect_eq(sh->v.gs.base, 0);
	cr_expect_eq(sh->v.gs_base, 0, "RDMSR GS_BASE would still read the old base");
	cr_expect_eq(vm->kvm.run->s.regs.sregs.gs.base, 0, "native %%gs: accesses would use the old base");
	cr_expect(vm->kvm.run->kvm_dirty_regs & KVM_SYNC_X86_SREGS);
}

/*
 * SYSCALL and SYSRET against a model of their own, written from the SDM's
 * Operation sections (vol. 2B) without looking at seg.c: random STAR,
 * LSTAR, SFMASK, RFLAGS, RCX and R11, and the faults (#UD without
 * EFER.SCE or outside 64-bit mode, SYSRET's #GP(0) at CPL 3 or with a
 * non-canonical RCX in the 64-bit form).
 */
struct sys_model {
	uint64_t rip, rcx, r11, rflags;
	uint16_t cs, ss;
	unsigned cpl;
	bool cs_l;
};

static void model_syscall(uint64_t star, uint64_t lstar, uint64_t fmask, uint64_t rflags, uint64_t next,
			  struct sys_model *m)
{
	m->rcx = next;
	m->r11 = rflags & ~(1ULL << 16);                        /* RF is not saved */
	m->rflags = (rflags & ~fmask & ~(1ULL << 16)) | 2;
	m->cs = (uint16_t)((star >> 32) & 0xfffc);
	m->ss = (uint16_t)(m->cs + 8);
	m->cpl = 0;
	m->cs_l = true;
	m->rip = lstar;
}

static void model_sysret(uint64_t star, uint64_t rcx, uint64_t r11, bool w, struct sys_model *m)
{
	uint16_t base = (uint16_t)(star >> 48);

	m->rflags = (r11 & 0x3c7fd7) | 2;
	m->cs = (uint16_t)((w ? base + 16 : base) | 3);
	m->ss = (uint16_t)((base + 8) | 3);
	m->cpl = 3;
	m->cs_l = w;
	m->rip = w ? rcx : (uint32_t)rcx;
}

static uint64_t rnd64(void)
{
	return (uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand();
}

Test(trap_regress, syscall_and_sysret_match_the_model)
{
	srand(7);
	for (int i = 0; i < 200; i++) {
		struct sys_model m;
		uint64_t star = rnd64() & 0xffffffff00000000ULL, lstar = rnd64() & 0x00007fffffffffffULL;
		uint64_t fmask = rnd64() & 0xffffffff, rflags = (rnd64() & 0x3d0fd5) | 2;   /* RF (bit 16) too */
		uint64_t rcx = rnd64() & 0x00007fffffffffffULL, r11 = rnd64();
		bool w = i & 1;

		/* SYSCALL from CPL 3, 64-bit mode */
		cpu(true, 3);
		sh->v.efer |= EFER_SCE;
		sh->v.star = star;
		sh->v.lstar = lstar;
		sh->v.sfmask = fmask;
		sh->t.rflags = rflags;
		put(0x10000, 0x050f, 2);                        /* syscall */
		model_syscall(star, lstar, fmask, rflags, 0x10002, &m);
		cr_assert_eq(emulate_insn(sh, VEC_UD), TRAP_RESUME);
		cr_expect_eq(sh->t.gpr[R_CX], m.rcx);
		cr_expect_eq(sh->t.gpr[R_R11], m.r11, "r11 %#llx want %#llx", (unsigned long long)sh->t.gpr[R_R11],
			     (unsigned long long)m.r11);
		cr_expect_eq(sh->t.rflags, m.rflags, "rflags %#llx want %#llx (fmask %#llx)",
			     (unsigned long long)sh->t.rflags, (unsigned long long)m.rflags, (unsigned long long)fmask);
		cr_expect_eq(sh->v.cs.sel, m.cs);
		cr_expect_eq(sh->v.ss.sel, m.ss);
		cr_expect_eq(sh->v.cpl, m.cpl);
		cr_expect_eq(sh->v.cs.l, m.cs_l);
		cr_expect_eq(sh->v.cs.dpl, 0);
		cr_expect_eq(sh->t.rip, m.rip);

		/* SYSRET (SYSRETQ when w) from CPL 0 */
		cpu(true, 0);
		sh->v.efer |= EFER_SCE;
		sh->v.star = star;
		sh->t.gpr[R_CX] = rcx;
		sh->t.gpr[R_R11] = r11;
		if (w)
			put(0x10000, 0x070f48, 3);              /* sysretq */
		else
			put(0x10000, 0x070f, 2);                /* sysretd */
		model_sysret(star, rcx, r11, w, &m);
		cr_assert_eq(emulate_insn(sh, VEC_UD), TRAP_RESUME);
		cr_expect_eq(sh->t.rflags, m.rflags);
		cr_expect_eq(sh->v.cs.sel, m.cs);
		cr_expect_eq(sh->v.ss.sel, m.ss);
		cr_expect_eq(sh->v.cpl, 3);
		cr_expect_eq(sh->v.cs.l, m.cs_l);
		cr_expect_eq(sh->v.cs.dpl, 3);
		cr_expect_eq(sh->v.ss.dpl, 3);
		cr_expect_eq(sh->t.rip, m.rip);
	}
}

Test(trap_regress, syscall_and_sysret_faults)
{
	cpu(true, 3);                                           /* EFER.SCE off: #UD */
	put(0x10000, 0x050f, 2);
	put(0x3000 + 4, 0x1e000, 8);                            /* RSP0, for delivery from CPL 3 */
	cr_assert_eq(emulate_insn(sh, VEC_UD), TRAP_DELIVERED, "%s", vm->err);
	cr_expect_eq(sh->last_vector, VEC_UD);

	cpu(false, 3);                                          /* not in 64-bit mode: #UD */
	sh->v.efer |= EFER_SCE;
	put(0x10000, 0x050f, 2);
	put(0x3000 + 4, 0x1e000, 4);                            /* ESP0 */
	put(0x3000 + 8, 0x18, 2);                               /* SS0 */
	cr_assert_eq(emulate_insn(sh, VEC_UD), TRAP_DELIVERED, "%s", vm->err);
	cr_expect_eq(sh->last_vector, VEC_UD);

	cpu(true, 3);                                           /* SYSRET at CPL 3: #GP(0) */
	sh->v.efer |= EFER_SCE;
	put(0x10000, 0x070f48, 3);
	put(0x3000 + 4, 0x1e000, 8);
	cr_assert_eq(emulate_insn(sh, VEC_UD), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->last_error, 0);

	cpu(true, 0);                                           /* non-canonical RCX: #GP(0) */
	sh->v.efer |= EFER_SCE;
	sh->t.gpr[R_CX] = 0x0000800000000000ULL;
	put(0x10000, 0x070f48, 3);
	cr_assert_eq(emulate_insn(sh, VEC_UD), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_GP);
	cr_expect_eq(sh->v.cpl, 0);
}

/*
 * The real selectors (realseg.c).  Where ombra owns the VM's GDT, the real
 * CS and SS are the guest's indices with RPL 3, the only descriptors below
 * the monitor's at the top of the real GDT are at those two indices (DPL 3,
 * flat, of the kind the guest's CS is), and DS..GS are the guest's exact
 * selectors; on kvm_pvm, the fixed selectors.  The descriptor bits are
 * read here from the SDM's layout (vol. 3, 3.4.5), not through machine.c.
 */
static uint64_t real_gdt(unsigned i)
{
	uint64_t d;

	memcpy(&d, sh->mon + MON_GDT + 8 * i, 8);
	return d;
}

static unsigned real_gdt_used_below_monitor(void)
{
	unsigned n = 0;

	for (unsigned i = 1; i < MON_GDT_GUEST_END; i++)
		n += real_gdt(i) != 0;
	return n;
}

static void expect_user_desc(unsigned i, bool code, bool l)
{
	uint64_t d = real_gdt(i);

	cr_expect(d >> 47 & 1, "GDT[%u] %#llx: not present", i, (unsigned long long)d);
	cr_expect(d >> 44 & 1, "GDT[%u]: a system descriptor", i);
	cr_expect_eq(d >> 45 & 3, 3, "GDT[%u]: DPL %llu, the guest runs at CPL 3", i,
		     (unsigned long long)(d >> 45 & 3));
	cr_expect_eq((bool)(d >> 43 & 1), code, "GDT[%u]: code %d, want %d", i, (int)(d >> 43 & 1), code);
	if (code) {
		cr_expect_eq((bool)(d >> 53 & 1), l, "GDT[%u]: L", i);
		cr_expect_eq((bool)(d >> 54 & 1), !l, "GDT[%u]: D", i);
	} else {
		cr_expect(d >> 41 & 1, "GDT[%u]: data not writable", i);
	}
	cr_expect_eq(((d >> 16) & 0xffffff) | ((d >> 56) << 24), 0, "GDT[%u]: base not 0", i);
}

TestSuite(realseg, .init = setup, .fini = teardown);

Test(realseg, cs_and_ss_are_the_guests_indices_with_rpl_3)
{
	cpu(true, 0);                                           /* CS 0x08, SS 0x18 */
	realseg_select(sh);
	cr_expect_eq(sh->real.cs, 0x0b);
	cr_expect_eq(sh->real.ss, 0x1b);
	cr_expect(sh->real.cs64);
	expect_user_desc(1, true, true);
	expect_user_desc(3, false, false);
	cr_expect_eq(real_gdt_used_below_monitor(), 2, "only the current CS's and SS's indices");

	cpu(true, 3);                                           /* user: CS 0x33, SS 0x2b */
	realseg_select(sh);
	cr_expect_eq(sh->real.cs, 0x33);
	cr_expect_eq(sh->real.ss, 0x2b);
	cr_expect_eq(real_gdt(1), 0, "the kernel's CS index still loadable from user mode");
	cr_expect_eq(real_gdt(3), 0, "the kernel's SS index still loadable from user mode");
	expect_user_desc(6, true, true);
	expect_user_desc(5, false, false);
	cr_expect_eq(real_gdt_used_below_monitor(), 2);

	cpu(false, 0);                                          /* 32-bit: CS 0x10 */
	realseg_select(sh);
	cr_expect_eq(sh->real.cs, 0x13);
	cr_expect(!sh->real.cs64);
	expect_user_desc(2, true, false);
	expect_user_desc(3, false, false);
	cr_expect_eq(real_gdt_used_below_monitor(), 2);
}

Test(realseg, fixed_selectors_where_the_host_keeps_its_gdt)
{
	realseg_init(sh, false);
	cpu(true, 0);
	realseg_select(sh);
	cr_expect_eq(sh->real.cs, SEL_USER_CS64);
	cr_expect_eq(sh->real.ss, SEL_USER_DS);
	cr_expect_eq(real_gdt_used_below_monitor(), 0);
	cr_expect(!realseg_data(sh, &vm->kvm.run->s.regs.sregs), "kvm_pvm: DS..GS stay the host's");
}

Test(realseg, selectors_that_cannot_be_mirrored_use_the_fixed_ones)
{
	cpu(true, 0);
	sh->v.cs.sel = 0x0c;                                    /* TI=1: the LDT */
	sh->v.ss.sel = (uint16_t)(MON_GDT_GUEST_END * 8);       /* where the monitor's are */
	realseg_select(sh);
	cr_expect_eq(sh->real.cs, SEL_USER_CS64);
	cr_expect_eq(sh->real.ss, SEL_USER_DS);
	cr_expect_eq(real_gdt_used_below_monitor(), 0);
}

Test(realseg, data_selectors_are_the_guests_exactly)
{
	struct kvm_sregs *s = &vm->kvm.run->s.regs.sregs;

	cpu(true, 0);
	sh->v.ds.sel = 0x2b;                                    /* RPL 3 kept */
	memset(&sh->v.fs, 0, sizeof(sh->v.fs));                 /* null */
	realseg_select(sh);
	cr_expect(realseg_data(sh, s));
	cr_expect_eq(s->ds.selector, 0x2b);
	cr_expect_eq(s->es.selector, 0x18);
	cr_expect_eq(s->fs.selector, 0);
	cr_expect(s->fs.unusable && !s->fs.present, "a null FS must fault outside 64-bit mode");
	cr_expect(!s->ds.unusable && s->ds.present);
	cr_expect_eq(s->gs.selector, 0x18);
	cr_expect(!realseg_data(sh, s), "nothing changed the second time");
}

/* A MOV to DS the real CPU let through (SS's index has a descriptor) is
 * found at the next trap and done against the guest's GDT: DPL 0 as the
 * guest's descriptor says, its accessed bit set, the counter. */
Test(realseg, a_native_data_segment_load_is_done_at_the_next_trap)
{
	struct kvm_sregs *s = &vm->kvm.run->s.regs.sregs;

	cpu(true, 0);
	memset(&sh->v.ds, 0, sizeof(sh->v.ds));                 /* DS null */
	memset(&sh->v.gs, 0, sizeof(sh->v.gs));
	sh->v.gs_base = sh->v.gs.base = 0x12345000;             /* WRMSR GS_BASE */
	realseg_select(sh);
	realseg_data(sh, s);
	s->gs.base = 0x12345000;
	put(0x1000 + 0x18, get(0x1000 + 0x18, 8) & ~(1ULL << 40), 8);
	s->ds.selector = 0x18;                                  /* mov $0x18, %ds; mov $0x18, %gs */
	s->gs.selector = 0x18;
	vm->kvm.run->kvm_dirty_regs = 0;
	cr_assert_eq(realseg_trap(sh), TRAP_RESUME);
	cr_expect_eq(sh->v.ds.sel, 0x18);
	cr_expect_eq(sh->v.ds.dpl, 0, "the guest's descriptor, not the real one");
	cr_expect(sh->v.ds.p && sh->v.ds.s && (sh->v.ds.type & 2));
	cr_expect(get(0x1000 + 0x18, 8) >> 40 & 1, "the CPU sets the accessed bit");
	cr_expect_eq(sh->v.gs.sel, 0x18);
	cr_expect_eq(sh->v.gs_base, 0, "a GS load takes the descriptor's base (MSR_GS_BASE)");
	cr_expect_eq(s->gs.base, 0);
	cr_expect(vm->kvm.run->kvm_dirty_regs & KVM_SYNC_X86_SREGS);
	cr_expect_eq(sh->native_seg_loads, 2);
	cr_expect_eq(realseg_trap(sh), TRAP_RESUME);
	cr_expect_eq(sh->native_seg_loads, 2, "seen once");
}

/* An OS builds its gates from `mov %cs`: with the real CS the guest's index
 * at RPL 3, the gate's selector has RPL 3, which delivery ignores: the new
 * CS is the index with RPL = the new CPL (SDM vol. 2, INT n/INTO/INT3:
 * "CS(RPL) := new CPL"; the gate selector's RPL is never checked). */
Test(realseg, a_gate_selector_with_rpl_3_delivers_at_cpl_0)
{
	cpu(true, 0);
	realseg_select(sh);
	gate(VEC_BP, true, sh->real.cs, HANDLER(VEC_BP));
	cr_assert_eq(inject_exception(sh, VEC_BP, false, 0), TRAP_DELIVERED);
	cr_expect_eq(sh->last_vector, VEC_BP, "vector %u delivered", sh->last_vector);
	cr_expect_eq(sh->v.cs.sel, 0x08);
	cr_expect_eq(sh->v.cpl, 0);
	cr_expect_eq(sh->t.rip, HANDLER(VEC_BP));
	cr_expect_eq(get(sh->t.gpr[R_SP] + 8, 8), 0x08, "the CS pushed is the guest's");
}

/* A gate built from the real CS the guest read where its own index cannot
 * be shown (kvm_pvm: the host's 0x33; elsewhere without the mirror: ombra's
 * fixed selector) ends the run naming the gate, the selector and why,
 * not in a triple fault (issue 17, point 3). */
Test(realseg, a_gate_holding_the_real_cs_ends_the_run_with_the_reason)
{
	static const struct { bool pvm; uint16_t sel; const char *want; } c[] = {
		{ true, 0x33, "the host's GDT" },                       /* DPL 3 code in the guest's GDT */
		{ false, SEL_USER_CS64, "the real CS ombra runs the guest on" },
	};

	for (unsigned i = 0; i < 2; i++) {
		cpu(true, 0);
		sh->host_pvm = c[i].pvm;
		vm->end = END_NONE;
		vm->err[0] = '\0';
		gate(VEC_UD, true, c[i].sel, HANDLER(VEC_UD));
		cr_expect_eq(inject_exception(sh, VEC_UD, false, 0), TRAP_END, "case %u", i);
		cr_expect(strstr(vm->err, "IDT gate 6 holds selector"), "case %u: %s", i, vm->err);
		cr_expect(strstr(vm->err, c[i].want), "case %u: %s", i, vm->err);
		cr_expect_null(strstr(vm->err, "triple"), "case %u: %s", i, vm->err);
	}
	/* The guest's own kernel CS at an index the host also uses is not it. */
	cpu(true, 0);
	sh->host_pvm = true;
	vm->end = END_NONE;
	gate(VEC_UD, true, 0x08, HANDLER(VEC_UD));
	cr_expect_eq(inject_exception(sh, VEC_UD, false, 0), TRAP_DELIVERED);
}

/*
 * The real RFLAGS (trap.c, shadow_real_rflags).  Where ombra owns the VM's
 * flags (native_if) the guest's IF is the real IF, and the real IOPL is 3
 * exactly while the guest's CPU lets it run CLI/STI/POPF's IF and port I/O
 * (CPL <= IOPL, SDM vol. 1, 3.4.3.1 and vol. 2, CLI), so those run
 * natively and PUSHF shows the IF the guest set; an interrupt waiting
 * while IF is off asks KVM for the window.  On kvm_pvm: IF on, IOPL 0.
 */
Test(realseg, native_if_follows_the_guests_if_and_cpl_le_iopl)
{
	uint64_t *f = (uint64_t *)(sh->mon + MON_STACK_TOP - 40);

	sh->native_if = true;
	cpu(true, 0);
	put(0x10000, 0xccc3, 2);                                        /* ret; int3 */
	/* A #BP from the kernel with IF off: it stays off, IOPL 3 at CPL 0. */
	exit_with_flags(VEC_BP, RFLAGS_FIXED);
	cr_expect_eq(sh->last_vector, VEC_BP);
	cr_expect_eq(f[2] & RFLAGS_IF, 0, "the guest's IF was off: real %#llx", (unsigned long long)f[2]);
	cr_expect_eq(f[2] & RFLAGS_IOPL, RFLAGS_IOPL, "CPL 0 <= IOPL 0: CLI/STI/POPF native");
	cr_expect_eq(vm->kvm.run->request_interrupt_window, 0, "nothing waits");
	/* The kernel set IF natively (real IF 1 in the frame, vif still 0):
	 * the frame the #BP pushes has it. */
	cpu(true, 0);
	sh->native_if = true;
	sh->v.vif = false;
	exit_with_flags(VEC_BP, RFLAGS_FIXED | RFLAGS_IF);
	cr_expect(get(sh->t.gpr[R_SP] + 16, 8) & RFLAGS_IF, "the frame pushed lacks the IF the guest set natively");
	cr_expect_eq(get(sh->t.gpr[R_SP] + 16, 8) & RFLAGS_IOPL, 0, "the frame pushed shows the real IOPL");

	/* An interrupt waits and IF is off: the window. */
	cpu(true, 0);
	sh->native_if = true;
	lapic_write(&sh->lapic, 0xf0, 0x1ff, 0);                        /* SVR: enabled */
	lapic_raise(&sh->lapic, 0x40);
	exit_with_flags(VEC_BP, RFLAGS_FIXED);
	cr_expect_eq(vm->kvm.run->request_interrupt_window, 1, "KVM must say when IF goes on");

	/* User mode, IOPL 0: CLI/STI/port I/O trap (real IOPL 0), IF kept. */
	cpu(true, 3);
	sh->native_if = true;
	sh->t.rflags = RFLAGS_FIXED | RFLAGS_IF;
	cr_expect_eq(shadow_real_rflags(sh) & RFLAGS_IOPL, 0);
	cr_expect(shadow_real_rflags(sh) & RFLAGS_IF);
	sh->v.iopl = 3;
	cr_expect_eq(shadow_real_rflags(sh) & RFLAGS_IOPL, RFLAGS_IOPL, "CPL 3 <= IOPL 3");

	/* kvm_pvm: IF on whatever the guest's, IOPL 0. */
	sh->native_if = false;
	sh->t.rflags = RFLAGS_FIXED;
	cr_expect(shadow_real_rflags(sh) & RFLAGS_IF);
	cr_expect_eq(shadow_real_rflags(sh) & RFLAGS_IOPL, 0);
}

/* The guest's own port I/O (CPL 3 in the exit's CS) is a device access,
 * not a trap, and does not touch the monitor's frame. */
Test(realseg, native_port_io_is_the_guests_not_a_trap)
{
	struct kvm_run *run = vm->kvm.run;
	uint64_t traps;
	bool resync = false;

	cpu(true, 0);
	sh->native_if = true;
	traps = sh->traps;
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.port = 0x80;                                            /* below 256: a vector's port too */
	run->io.count = 1;
	run->io.data_offset = 0x800;
	run->s.regs.sregs.cs.selector = 0x0b;
	cr_assert(shadow_handle_exit(vm, &resync));
	cr_expect_eq(vm->end, END_NONE, "%s", vm->err);
	cr_expect_eq(sh->traps, traps, "counted as a trap");
	cr_expect_eq(sh->native_io, 1);
}

/* gdb's stop where the guest's IF is the real one (native_if): a maskable
 * kick could wait forever behind a CLI.  With the vCPU in the monitor on
 * its way back, TF in the frame makes the guest trap after one
 * instruction; an NMI ombra raised comes back as its own, not the
 * guest's and not a reason to end the run. */
Test(realseg, a_gdb_stop_does_not_wait_for_the_guests_if)
{
	uint64_t *f = (uint64_t *)(sh->mon + MON_STACK_TOP - 40);

	cpu(true, 0);
	sh->native_if = true;
	put(0x10000, 0xcc, 1);
	exit_with_flags(VEC_BP, RFLAGS_FIXED);                          /* resumes with IF off */
	cr_assert_eq(f[2] & RFLAGS_IF, 0);
	cr_assert(vm->kvm.run->s.regs.regs.rip - sh->mon_va < MON_SIZE, "not resuming through the monitor");
	shadow_debug_break(vm, 2);
	cr_expect(f[2] & RFLAGS_TF, "no trap is sure to come: IF is off and nothing set TF");
	cr_expect_eq(vm->end, END_NONE, "%s", vm->err);

	cpu(true, 0);
	sh->native_if = true;
	sh->nmi_raised = true;
	exit_with_flags(VEC_NMI, RFLAGS_FIXED);
	cr_expect(!sh->nmi_raised);
	cr_expect_eq(vm->end, END_NONE, "ombra's NMI ended the run: %s", vm->err);
}

/*
 * --shadow-patch: the instructions that do not trap at CPL 3, scanned and
 * patched (patch.c), then met by the guest's CPU: each must do what the
 * SDM says it does at the guest's own CPL against the guest's own GDT
 * (the descriptors above), with the guest's bytes back under the patch
 * for every read ombra makes.
 */
static void patched(const uint8_t *code, size_t n)
{
	cr_assert_eq(patch_init(&sh->patch, (1u << PATCH_CS) | (1u << PATCH_SS)), 0);
	sh->patching = true;
	sh->mmu.code = &sh->patch;
	memcpy(ram + 0x10000, code, n);
	shadow_scan_at(sh, 0x10000, 0x10000);
	cr_assert_eq(ram[0x10000], PATCH_BYTE, "not patched: %#x", ram[0x10000]);
}

Test(trap_regress, patched_lar_reads_the_guests_gdt_at_its_cpl)
{
	static const uint8_t lar_eax_ecx[] = { 0x0f, 0x02, 0xc1, 0xc3 };
	uint8_t back[3];

	cpu(true, 0);
	patched(lar_eax_ecx, sizeof(lar_eax_ecx));
	sh->t.gpr[R_CX] = 0x08;                         /* code64, DPL 0 */
	sh->t.gpr[R_AX] = 0x1111111122222222ULL;
	exit_through_gp();
	cr_expect_eq(sh->t.gpr[R_AX], 0x00a09b00, "rax %#llx", (unsigned long long)sh->t.gpr[R_AX]);
	cr_expect(sh->t.rflags & RFLAGS_ZF);
	cr_expect_eq(sh->t.rip, 0x10003);
	cr_expect_eq(sh->patch.patch_traps, 1);
	cr_expect(guest_read(sh, 0x10000, back, 3, false));
	cr_expect_arr_eq(back, lar_eax_ecx, 3, "ombra's reads must see the guest's bytes");

	/* at CPL 3 the same descriptor is out of reach: ZF clear, EAX kept */
	cpu(true, 3);
	sh->t.gpr[R_CX] = 0x08;
	sh->t.gpr[R_AX] = 0x1234;
	sh->t.rflags |= RFLAGS_ZF;
	exit_through_gp();
	cr_expect_eq(sh->t.gpr[R_AX], 0x1234);
	cr_expect_not(sh->t.rflags & RFLAGS_ZF);
	cr_expect_eq(sh->t.rip, 0x10003);
}

Test(trap_regress, patched_mov_from_cs_and_ss_reads_the_guests_selectors)
{
	static const uint8_t code[] = {
		0x8c, 0xc8,             /* mov eax, cs */
		0x66, 0x8c, 0xd2,       /* mov dx, ss */
		0xc3,
	};

	cpu(true, 0);
	patched(code, sizeof(code));
	cr_assert(patch_at(&sh->patch, 0x10002));
	sh->t.gpr[R_AX] = ~0ULL;
	exit_through_gp();
	cr_expect_eq(sh->t.gpr[R_AX], 0x08, "a 32-bit destination gets the selector zero-extended");
	cr_expect_eq(sh->t.rip, 0x10002);
	sh->t.gpr[R_DX] = 0xaaaaaaaaaaaaaaaaULL;
	exit_through_gp();
	cr_expect_eq(sh->t.gpr[R_DX], 0xaaaaaaaaaaaa0018ULL, "a 16-bit destination merges");
	cr_expect_eq(sh->t.rip, 0x10005);
}

Test(trap_regress, patched_verr_and_verw)
{
	static const uint8_t code[] = {
		0x0f, 0x00, 0xe0,       /* verr ax */
		0x0f, 0x00, 0xe8,       /* verw ax */
		0xc3,
	};

	cpu(true, 3);
	patched(code, sizeof(code));
	sh->t.gpr[R_AX] = 0x28;                         /* data, DPL 3 */
	exit_through_gp();
	cr_expect(sh->t.rflags & RFLAGS_ZF);
	exit_through_gp();
	cr_expect(sh->t.rflags & RFLAGS_ZF);
	cr_expect_eq(sh->t.rip, 0x10006);
	sh->t.rip = 0x10000;
	sh->t.gpr[R_AX] = 0x20;                         /* code32, DPL 3, readable: VERR yes, VERW no */
	exit_through_gp();
	cr_expect(sh->t.rflags & RFLAGS_ZF);
	exit_through_gp();
	cr_expect_not(sh->t.rflags & RFLAGS_ZF);
}

Test(trap_regress, ombras_write_to_patched_code_undoes_the_patch)
{
	static const uint8_t code[] = { 0x0f, 0x03, 0xc1, 0xc3 };   /* lsl eax, ecx; ret */
	uint8_t nop = 0x90;

	cpu(true, 0);
	patched(code, sizeof(code));
	cr_assert(guest_write(sh, 0x10003, &nop, 1, false));
	cr_expect_eq(ram[0x10000], 0x0f, "the guest's byte is not back");
	cr_expect_eq(ram[0x10003], 0x90);
	cr_expect_not(patch_scanned(&sh->patch, 0x10));
	cr_expect_eq(sh->patch.code_writes, 1);
}

/* The guest reads a frame with patches and faults on its protection key:
 * the original bytes come back and the monitor opens PKRU for that one
 * instruction, which runs under the trap flag; its #DB puts the patches
 * back and PKRU closed again, and is not the guest's. */
Test(trap_regress, a_read_of_patched_code_runs_on_the_original_bytes)
{
	static const uint8_t lar_eax_ecx[] = { 0x0f, 0x02, 0xc1, 0xc3 };

	cpu(true, 0);
	patched(lar_eax_ecx, sizeof(lar_eax_ecx));
	sh->pku = true;
	sh->t.rip = 0x20000;                            /* mov rax, [0x10000], say */
	exit_with_error(VEC_PF, RFLAGS_FIXED | RFLAGS_IF, PFERR_P | PFERR_U | PFERR_PK, 0x10000);
	cr_expect_eq(ram[0x10000], 0x0f, "the original byte is not back for the read");
	cr_expect(sh->patch_step);
	cr_expect(sh->t.rflags & RFLAGS_TF, "the read must run under the trap flag");
	cr_expect_eq(sh->t.rip, 0x20000);
	cr_expect_eq(sh->patch_reads, 1);
	cr_expect_eq(*(uint64_t *)(sh->mon + MON_MAILBOX_PKRU), MON_PKRU_LOAD | PKRU_OPEN,
		     "the monitor must open PKRU for the read");
	sh->t.rip = 0x20008;                            /* it ran: #DB */
	exit_with_flags(VEC_DB, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_TF);
	cr_expect_eq(ram[0x10000], PATCH_BYTE, "the patch is not back");
	cr_expect_eq(*(uint64_t *)(sh->mon + MON_MAILBOX_PKRU), MON_PKRU_LOAD | PKRU_PATCHED,
		     "the monitor must close PKRU again");
	cr_expect_not(sh->patch_step);
	cr_expect_not(sh->t.rflags & RFLAGS_TF, "the trap flag was ombra's");
	cr_expect_eq(sh->t.rip, 0x20008, "the #DB was delivered to the guest");
	cr_expect_eq(sh->injected, 0);
}

/* An interrupt that comes due while the read runs lifted waits for the
 * read's #DB, one instruction later: delivered at once, it would undo the
 * lift, and a timer faster than two traps would keep the read from ever
 * completing (it did, under ASan on the nested host). */
Test(trap_regress, an_interrupt_waits_for_the_lifted_read)
{
	static const uint8_t lar_eax_ecx[] = { 0x0f, 0x02, 0xc1, 0xc3 };

	cpu(true, 0);
	patched(lar_eax_ecx, sizeof(lar_eax_ecx));
	sh->pku = true;
	sh->native_if = true;                           /* the guest's IF is the real IF (AMD-V) */
	sh->t.rip = 0x20000;
	sh->v.apic_base = 0xfee00000 | APIC_BASE_ENABLE;
	lapic_write(&sh->lapic, 0xf0, 0x1ff, 0);                        /* SVR: enabled */
	lapic_raise(&sh->lapic, 0x40);
	exit_with_error(VEC_PF, RFLAGS_FIXED | RFLAGS_IF, PFERR_P | PFERR_U | PFERR_PK, 0x10000);
	cr_expect_eq(sh->t.rip, 0x20000, "the interrupt was delivered before the read ran");
	cr_expect(sh->patch_step);
	cr_expect(sh->t.rflags & RFLAGS_TF);
	sh->t.rip = 0x20008;
	exit_with_flags(VEC_DB, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_TF);
	cr_expect_eq(sh->t.rip, HANDLER(0x40), "the interrupt is not delivered after the read");
	cr_expect_not(get(sh->t.gpr[R_SP] + 16, 8) & RFLAGS_TF, "the frame's RFLAGS holds ombra's trap flag");
	cr_expect_eq(ram[0x10000], PATCH_BYTE);
}

/* A fault the stepped instruction raises for the guest (here UD2 stands
 * for it) is delivered with the guest's own RFLAGS in its frame, not
 * ombra's trap flag, and the patches go back before the handler runs. */
Test(trap_regress, a_fault_during_the_lifted_read_leaves_no_trap_flag_behind)
{
	static const uint8_t lar_eax_ecx[] = { 0x0f, 0x02, 0xc1, 0xc3 };

	cpu(true, 0);
	patched(lar_eax_ecx, sizeof(lar_eax_ecx));
	sh->pku = true;
	sh->t.rip = 0x20000;
	put(0x20000, 0x0b0f, 2);                        /* ud2 */
	exit_with_error(VEC_PF, RFLAGS_FIXED | RFLAGS_IF, PFERR_P | PFERR_U | PFERR_PK, 0x10000);
	cr_assert(sh->patch_step);
	exit_with_flags(VEC_UD, RFLAGS_FIXED | RFLAGS_IF | RFLAGS_TF);
	cr_expect_eq(sh->t.rip, HANDLER(6), "the #UD was not delivered");
	cr_expect_not(get(sh->t.gpr[R_SP] + 16, 8) & RFLAGS_TF, "the frame's RFLAGS holds ombra's trap flag");
	cr_expect_not(sh->t.rflags & RFLAGS_TF);
	cr_expect_not(sh->patch_step);
	cr_expect_eq(ram[0x10000], PATCH_BYTE, "the patch is not back");
}

/* An instruction that stores to the frame it runs from (code and data in
 * one page, as small kernels have them) needs the frame runnable and
 * writable at once: the frame is left unscanned for good, or the store
 * would undo the scan and the refetch redo it forever. */
Test(trap_regress, code_that_writes_its_own_frame_is_left_unscanned)
{
	static const uint8_t store[] = { 0x89, 0x04, 0x25, 0x00, 0x01, 0x01, 0x00, 0xc3 };  /* mov [0x10100], eax */
	uint32_t gerr = 0;
	uint64_t gpa = 0;

	cpu(true, 0);
	memcpy(ram + 0x10000, store, sizeof(store));
	cr_assert_eq(patch_init(&sh->patch, 1u << PATCH_CS), 0);
	sh->patching = true;
	sh->mmu.code = &sh->patch;
	cr_assert_eq(mmu_page_fault(&sh->mmu, &sh->ctx, 0x10000, PFERR_FETCH, &gerr, &gpa), PF_SCAN);
	shadow_code_fetch(sh, 0x10000, gpa);
	cr_assert_eq(mmu_page_fault(&sh->mmu, &sh->ctx, 0x10000, PFERR_FETCH, &gerr, &gpa), PF_FIXED);
	cr_assert_eq(mmu_page_fault(&sh->mmu, &sh->ctx, 0x10100, PFERR_P | PFERR_W, &gerr, &gpa), PF_CODE_WRITE);
	shadow_code_store(sh, gpa >> 12);
	cr_expect(patch_mixed(&sh->patch, 0x10));
	cr_expect_eq(sh->patch.frames_mixed, 1);
	cr_assert_eq(mmu_page_fault(&sh->mmu, &sh->ctx, 0x10100, PFERR_P | PFERR_W, &gerr, &gpa), PF_FIXED);
	cr_assert_neq(mmu_page_fault(&sh->mmu, &sh->ctx, 0x10000, PFERR_P | PFERR_FETCH, &gerr, &gpa), PF_SCAN,
		      "a mixed frame is never scanned again");
	/* a store from another frame undoes the scan instead */
	memcpy(ram + 0x20000, store, sizeof(store));
	cr_assert_eq(mmu_page_fault(&sh->mmu, &sh->ctx, 0x20000, PFERR_FETCH, &gerr, &gpa), PF_SCAN);
	shadow_code_fetch(sh, 0x20000, gpa);
	sh->t.rip = 0x10000;
	cr_assert_eq(mmu_page_fault(&sh->mmu, &sh->ctx, 0x20010, PFERR_P | PFERR_W, &gerr, &gpa), PF_CODE_WRITE);
	shadow_code_store(sh, gpa >> 12);
	cr_expect_not(patch_mixed(&sh->patch, 0x20));
	cr_expect_not(patch_scanned(&sh->patch, 0x20));
	cr_expect_eq(sh->patch.code_writes, 1);
}
