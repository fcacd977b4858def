/*
 * libFuzzer harness for shadow mode's trap path (src/shadow/trap.c,
 * shadow_handle_exit: what shadow_mode.exit runs for every KVM exit, all
 * of it but the one ioctl): a guest in any mode ombra's virtual CPU has
 * (shadow_guest.h), then up to 24 traps in a row, each as the monitor
 * leaves it: the exit (mostly the stub's OUT, port = vector, sometimes
 * another exit or port), the frame the CPU pushed on the IST1 stack (RIP,
 * CS, RFLAGS, RSP, SS, error code), the general registers and CR2 in
 * kvm_run's sync area.  Between traps the harness plays the real CPU: it
 * runs the resume stub ombra chose (monitor.asm: MOV CR3 / INVLPG / the
 * mailbox's rewrites) and its IRETQ, and the guest runs on from there;
 * only the input's registers, flags, RIP and CR2 change.  The shadow MMU
 * runs in any strategy, with --audit on and sometimes --trace.
 *
 * Besides ASan/UBSan, it checks what must hold whatever the traps: the
 * exit is taken exactly when it is KVM_EXIT_IO; the run either ends with a
 * reason (never an --audit mismatch, never "an ombra bug" unless the frame
 * said the monitor itself faulted) or resumes in a state the real CPU can
 * run: RIP at one of the resume stubs with the monitor's stack and flags,
 * a frame the IRETQ can pop (a user CS that matches the guest's mode, a
 * canonical RIP for 64-bit code and a 32-bit one otherwise, IF set, IOPL
 * 0, no VM/NT), every register the stub restores equal to the guest's,
 * rewrites only of entries in the pool, and a real CR3 that is a root in
 * the pool, for the guest's current view (user or kernel), path, CR0.WP
 * and EFER.NXE, with the monitor in its slot 256.  The virtual CPU stays
 * consistent (guest_check_vcpu), and of the monitor region ombra writes
 * only the mailbox and the trap stack.  No ioctl is made: kvm_run is a plain
 * struct, the pool's re-registration is only counted (*resync), and
 * ioctl() itself traps (shadow_guest.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_guest.h"

#define TRAPS 24

static struct fuzz_guest g;

/* What the real CPU holds while the guest runs. */
struct real {
	uint64_t rip, cs, rflags, rsp, ss, cr3;
	uint64_t gpr[16];
};

struct rec {
	uint8_t kind, vector_sel, vector, cs_sel, reg;
	uint32_t error;
	uint64_t cr2, xor;
	uint16_t off;
	int8_t sp_step;
	uint8_t flags;
};

static uint64_t mon64(uint64_t off)
{
	uint64_t v;

	memcpy(&v, g.sh.mon + off, 8);
	return v;
}

/* The real GDT's descriptor for a selector (SDM vol. 3, 3.4.5). */
static uint64_t real_desc(uint16_t sel)
{
	uint64_t d;

	memcpy(&d, g.sh.mon + MON_GDT + 8 * (sel >> 3), 8);
	return d;
}

static uint64_t *frame(void)
{
	return (uint64_t *)(g.sh.mon + MON_STACK_TOP - 40);
}

/* The stub ombra resumes through, then IRETQ, as the real CPU runs them. */
static void run_stub(struct real *cpu)
{
	struct kvm_regs *r = &g.run.s.regs.regs;
	const struct trap *t = &g.sh.t;
	uint64_t stub = r->rip - g.sh.mon_va, *f = frame(), root_off;
	uint64_t regs[16] = { r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
			      r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15 };
	const struct sp *root;
	uint64_t cd, sd;
	bool l;

	MUST(g.run.kvm_dirty_regs & KVM_SYNC_X86_REGS);
	MUST(r->rsp == g.sh.mon_va + MON_STACK_TOP - 40 && r->rflags == RFLAGS_FIXED);
	switch (stub) {
	case MON_RESUME_IRET:
		break;
	case MON_RESUME_CR3:
		cpu->cr3 = regs[R_AX];
		regs[R_AX] = mon64(MON_MAILBOX_RAX);
		break;
	case MON_RESUME_INVLPG:
		regs[R_AX] = mon64(MON_MAILBOX_RAX);
		break;
	case MON_RESUME_FULL: {
		uint64_t count = mon64(MON_MAILBOX_COUNT), action = mon64(MON_MAILBOX_ACTION);

		MUST(count >= 1 && count <= MON_MAILBOX_MAX);
		for (uint64_t i = 0; i < count; i++) {
			uint64_t a = mon64(MON_MAILBOX_LIST + 8 * i);

			MUST(a >= g.sh.mon_va + MON_POOL_OFF && a - (g.sh.mon_va + MON_POOL_OFF) < g.sh.pool_size && !(a & 7));
		}
		MUST(action <= MON_ACTION_INVLPG);
		if (action == MON_ACTION_CR3)
			cpu->cr3 = mon64(MON_MAILBOX_ARG);
		regs[R_AX] = mon64(MON_MAILBOX_RAX);
		regs[R_CX] = mon64(MON_MAILBOX_RCX);
		regs[R_SI] = mon64(MON_MAILBOX_RSI);
		regs[R_DI] = mon64(MON_MAILBOX_RDI);
		break;
	}
	default:
		MUST(0);
	}

	/* The real CR3: a root in the pool, the monitor in slot 256, for the
	 * guest's current view and paging mode. */
	MUST(cpu->cr3 >= POOL_MPA && cpu->cr3 - POOL_MPA < g.sh.pool_size && !(cpu->cr3 & 0xfff));
	root_off = cpu->cr3 - POOL_MPA;
	MUST(memcmp(g.sh.pool + root_off + 256 * 8, &g.sh.mon_pml4e, 8) == 0);
	root = &g.sh.mmu.sps[root_off >> 12];
	MUST(g.sh.mmu.loaded_root == root && root->used && !root->retired);
	MUST(root->role.level == 4 && root->role.user_view == (g.sh.v.cpl == 3));
	MUST(root->role.path == g.sh.ctx.path && root->role.cr0_wp == g.sh.ctx.cr0_wp &&
	     root->role.efer_nx == g.sh.ctx.efer_nx);

	/* IRETQ: a frame the CPU accepts at CPL 3 (SDM vol. 2, IRET: CS a
	 * present code segment and SS a present writable data segment, DPL 3
	 * and RPL 3, from the real GDT), CS in the guest's mode and either the
	 * guest's own index or a fixed one, and no other descriptor below the
	 * monitor's that CPL 3 could load. */
	cd = real_desc(f[1]);
	sd = real_desc(f[4]);
	MUST((f[1] & 7) == 3 && (f[4] & 7) == 3);
	MUST((cd >> 47 & 1) && (cd >> 44 & 1) && (cd >> 43 & 1) && (cd >> 45 & 3) == 3);
	MUST((sd >> 47 & 1) && (sd >> 44 & 1) && !(sd >> 43 & 1) && (sd >> 41 & 1) && (sd >> 45 & 3) == 3);
	l = cd >> 53 & 1;
	MUST(l == g_code64(&g.sh.v) && (cd >> 54 & 1) == !l);
	MUST(f[1] >> 3 == g.sh.v.cs.sel >> 3 || f[1] == SEL_USER_CS64 || f[1] == SEL_USER_CS32);
	for (unsigned i = 1; i < MON_GDT_GUEST_END; i++)
		MUST(!real_desc((uint16_t)(i << 3)) || i == f[1] >> 3 || i == f[4] >> 3);
	MUST(l ? g_canonical(f[0]) : f[0] <= 0xffffffffULL);
	MUST(f[0] == (l ? t->rip : t->rip & 0xffffffffULL));
	MUST(f[3] == t->gpr[R_SP]);
	/* RFLAGS: no VM86, no NT; where ombra owns the VM's flags (native_if)
	 * the guest's IF, and IOPL 3 exactly when its CPL is at most its IOPL
	 * (SDM vol. 2, CLI: what CPL 3 may then run natively); else IF on and
	 * IOPL 0. */
	MUST((f[2] & RFLAGS_FIXED) && !(f[2] & (RFLAGS_VM | RFLAGS_NT)));
	if (g.sh.native_if) {
		MUST((f[2] & RFLAGS_IF) == (t->rflags & RFLAGS_IF));
		MUST((f[2] & RFLAGS_IOPL) == (g.sh.v.cpl <= ((t->rflags & RFLAGS_IOPL) >> 12) ? RFLAGS_IOPL : 0));
	} else {
		MUST((f[2] & RFLAGS_IF) && !(f[2] & RFLAGS_IOPL));
	}
	for (unsigned i = 0; i < 16; i++)
		MUST(i == R_SP || regs[i] == t->gpr[i]);
	cpu->rip = f[0];
	cpu->cs = f[1];
	cpu->rflags = f[2];
	cpu->rsp = f[3];
	cpu->ss = f[4];
	memcpy(cpu->gpr, regs, sizeof(regs));
	cpu->gpr[R_SP] = cpu->rsp;
}

/* The monitor's view of the next trap: the exit, the frame, sync regs. */
static void make_trap(const struct rec *rc, const struct real *cpu, bool *monitor_cs)
{
	static const uint8_t common[8] = { VEC_GP, VEC_PF, VEC_UD, VEC_PF, VEC_GP, VEC_BP, VEC_DE, VEC_NP };
	struct kvm_run *run = &g.run;
	struct kvm_regs *r = &run->s.regs.regs;
	uint64_t *f = frame();
	unsigned vector = rc->vector_sel & 0x80 ? rc->vector : common[rc->vector_sel & 7];
	uint64_t err = rc->error;

	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.port = (uint16_t)vector;
	run->io.count = 1;
	if ((rc->kind & 3) == 3) {
		switch ((rc->kind >> 2) & 3) {
		case 0: run->exit_reason = rc->vector & 1 ? KVM_EXIT_MMIO : KVM_EXIT_HLT; break;
		case 1: run->io.direction = KVM_EXIT_IO_IN; break;
		case 2: run->io.size = 2; break;
		default: run->io.port = (uint16_t)(0x100 | vector); break;
		}
	}
	if (vector == VEC_PF && !(err & 0x80000000u))
		err = (err & (PFERR_P | PFERR_W | PFERR_RSVD | PFERR_FETCH)) | PFERR_U;
	else if (!(err & 0x80000000u))
		err &= 0xffff;

	f[0] = cpu->rip;
	f[1] = cpu->cs;
	f[2] = cpu->rflags;
	f[3] = cpu->rsp;
	f[4] = cpu->ss;
	*monitor_cs = false;
	switch ((rc->kind >> 4) & 3) {
	case 2: {
		/* A transfer the guest made natively (kvm_pvm): a user selector. */
		static const uint16_t cs[4] = { 0x23, 0x33, 0x2b, 0x3b };

		f[1] = rc->cs_sel & 0x80 ? (rc->cs_sel | 3u) : cs[rc->cs_sel & 3];
		f[4] = rc->cs_sel & 0x40 ? 0x2b : ((rc->cs_sel >> 2) | 3u);
		break;
	}
	case 3:
		f[1] = SEL_MON_CS;        /* the monitor itself faulted */
		f[4] = SEL_MON_DS;
		*monitor_cs = true;
		break;
	default:
		break;
	}
	*(uint64_t *)(g.sh.mon + MON_STACK_TOP - 48) = err;
	r->rax = cpu->gpr[R_AX]; r->rcx = cpu->gpr[R_CX]; r->rdx = cpu->gpr[R_DX]; r->rbx = cpu->gpr[R_BX];
	r->rsp = g.sh.mon_va + MON_STACK_TOP - 48;
	r->rbp = cpu->gpr[R_BP]; r->rsi = cpu->gpr[R_SI]; r->rdi = cpu->gpr[R_DI];
	r->r8 = cpu->gpr[R_R8]; r->r9 = cpu->gpr[R_R9]; r->r10 = cpu->gpr[R_R10]; r->r11 = cpu->gpr[R_R11];
	r->r12 = cpu->gpr[R_R12]; r->r13 = cpu->gpr[R_R13]; r->r14 = cpu->gpr[R_R14]; r->r15 = cpu->gpr[R_R15];
	r->rip = g.sh.mon_va + MON_STUBS + vector * MON_STUB_SIZE + 2;
	r->rflags = RFLAGS_FIXED;
	run->s.regs.sregs.cr2 = rc->cr2;
	run->kvm_dirty_regs = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct trace trace;
	static bool trace_ok;
	struct fuzz_in in = { d, n };
	struct shadow *sh = &g.sh;
	struct rec recs[TRAPS];
	struct real cpu;
	uint8_t opts = in_u8(&in);
	unsigned nrec = 0;
	bool native = false;

	if (n < 8)
		return 0;
	if (!trace_ok) {
		MUST(trace_open(&trace, "/dev/null") == 0);
		trace_ok = true;
	}
	guest_build(&g, &in, true);
	sh->opts.audit = !(opts & 1);
	g.vm.trace = opts & 2 ? &trace : NULL;

	/* The traps, and the instructions they come from, placed before the
	 * guest runs (a store the harness made later could bypass the
	 * shadow's write protection, as no guest store can). */
	while (nrec < TRAPS && in.n) {
		struct rec *rc = &recs[nrec];
		uint8_t code[15];

		rc->kind = in_u8(&in);
		rc->vector_sel = in_u8(&in);
		rc->vector = in_u8(&in);
		rc->cs_sel = in_u8(&in);
		rc->error = in_u32(&in);
		rc->cr2 = in_u64(&in);
		rc->reg = in_u8(&in);
		rc->xor = in_u64(&in);
		rc->sp_step = (int8_t)in_u8(&in);
		rc->flags = in_u8(&in);
		rc->off = in_u16(&in) & 0xfff;
		switch (rc->reg >> 6) {            /* CR2: in RAM, in the second slot, near RIP, any */
		case 0: rc->cr2 = (rc->cr2 & (G_RAM - 1)) + (g.high ? G_HIGH : 0); break;
		case 1: rc->cr2 = G_HI + (rc->cr2 & (G_HI_SIZE - 1)); break;
		case 2: rc->cr2 = sh->t.rip + (int8_t)rc->cr2 * 64; break;
		default: rc->cr2 = (uint64_t)((int64_t)(rc->cr2 << 16) >> 16); break;   /* canonical, as CR2 is */
		}
		if (rc->kind & 0x80) {
			for (unsigned k = 0; k < 15; k++)
				code[k] = in_u8(&in);
			guest_poke(G_CODE + 0x8000 + nrec * 0x1000 + rc->off, code, 15);
		}
		nrec++;
	}

	/* The real CPU at the first trap: the guest at its RIP, on the root. */
	memset(&cpu, 0, sizeof(cpu));
	cpu.rip = sh->t.rip;
	realseg_init(sh, !(opts & 4));             /* as shadow_setup does: a kvm_pvm host or not */
	sh->native_if = !(opts & 4);
	realseg_select(sh);
	realseg_data(sh, &g.run.s.regs.sregs);
	cpu.cs = sh->real.cs;
	cpu.rflags = shadow_real_rflags(sh);       /* as shadow_setup starts it */
	cpu.rsp = sh->t.gpr[R_SP];
	cpu.ss = sh->real.ss;
	cpu.cr3 = sh->mmu.loaded_root->mpa;
	memcpy(cpu.gpr, sh->t.gpr, sizeof(cpu.gpr));

	for (unsigned i = 0; i < nrec; i++) {
		const struct rec *rc = &recs[i];
		bool resync = false, handled, monitor_cs;
		uint64_t host_resyncs = sh->mmu.stats.host_resyncs;

		/* The guest ran on: a new RIP (or the same), registers and flags. */
		if (rc->kind & 0x40)
			cpu.rip = (g.high ? G_HIGH : 0) + G_CODE + 0x8000 + i * 0x1000 + rc->off;
		cpu.gpr[rc->reg & 15] ^= rc->xor;
		cpu.rsp = cpu.gpr[R_SP] = cpu.rsp + (int64_t)rc->sp_step * 8;
		cpu.rflags = (cpu.rflags & ~0x8d5ULL) | (rc->flags & 0xd5) | (rc->flags & 0x20 ? 0x800 : 0);
		/* CLI or STI run natively where the real IOPL allows it. */
		if ((cpu.rflags & RFLAGS_IOPL) == RFLAGS_IOPL && (rc->flags & 0x02))
			cpu.rflags ^= RFLAGS_IF;
		if (!(real_desc((uint16_t)cpu.cs) >> 53 & 1)) {          /* compatibility mode */
			cpu.rip &= 0xffffffffULL;
			cpu.rsp = cpu.gpr[R_SP] &= 0xffffffffULL;
		}
		make_trap(rc, &cpu, &monitor_cs);
		handled = shadow_handle_exit(&g.vm, &resync);
		MUST(handled == (g.run.exit_reason == KVM_EXIT_IO));
		MUST(resync == (sh->mmu.stats.host_resyncs != host_resyncs));
		if (g.vm.end != END_NONE) {
			MUST(g.vm.end != END_GUEST_ERROR || g.vm.err[0] != '\0');
			MUST(!strstr(g.vm.err, "--audit"));
			MUST(monitor_cs || !strstr(g.vm.err, "ombra bug"));
			break;
		}
		if (!handled)
			continue;
		native = native || (rc->kind & 0x30) == 0x20;
		guest_check_vcpu(&g, native);
		run_stub(&cpu);
	}
	MUST(guest_monitor_intact());
	guest_free(&g);
	return 0;
}
