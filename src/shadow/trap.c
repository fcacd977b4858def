/*
 * Shadow mode's trap path: one KVM exit per trap, all handled in memory.
 *
 * 1. Read the trap (read_trap).  Every exception the guest raises enters
 *    the monitor, whose stub leaves the VM with one OUT: the port number is
 *    the vector, the guest's registers are in kvm_run's sync area, and the
 *    frame the CPU pushed is at a fixed place in the monitor region that
 *    ombra maps.  So a trap is one exit and KVM_RUN is the only ioctl.
 * 2. Dispatch.  #PF goes to the shadow MMU (hidden faults are fixed and the
 *    access retried; the guest's own faults are delivered into its IDT,
 *    stores to tracked tables to ptwrite.c, MMIO to mmio.c); #GP and
 *    friends mean a privileged or segment-loading instruction (emulate.c);
 *    the rest are the guest's own exceptions, delivered as the CPU would
 *    (seg.c).  Then a waiting interrupt is delivered (intr.c).
 * 3. Resume (resume).  Registers go back into the sync area, the guest's
 *    RIP/CS/RFLAGS/RSP/SS into the frame, and RIP points at a resume stub:
 *    IRETQ, or MOV CR3 / INVLPG first when the shadow changed under it.
 * The trace records of what a trap did are written where it happens
 * (events.c).
 */
#include "shadow.h"

#include <string.h>


/* --- the trap path ----------------------------------------------------------- */

static uint64_t *frame(struct shadow *sh)
{
	return (uint64_t *)(sh->mon + MON_STACK_TOP - 40);  /* rip cs rflags rsp ss */
}

static void read_trap(struct shadow *sh, unsigned vector)
{
	struct kvm_regs *r = &sh->vm->kvm.run->s.regs.regs;
	uint64_t *f = frame(sh);
	struct trap *t = &sh->t;

	t->vector = vector;
	t->error_code = has_error_code(vector) ? *(uint64_t *)(sh->mon + MON_STACK_TOP - 48) : 0;
	t->cr2 = sh->vm->kvm.run->s.regs.sregs.cr2;
	t->gpr[R_AX] = r->rax; t->gpr[R_CX] = r->rcx; t->gpr[R_DX] = r->rdx; t->gpr[R_BX] = r->rbx;
	t->gpr[R_BP] = r->rbp; t->gpr[R_SI] = r->rsi; t->gpr[R_DI] = r->rdi;
	t->gpr[R_R8] = r->r8; t->gpr[R_R9] = r->r9; t->gpr[R_R10] = r->r10; t->gpr[R_R11] = r->r11;
	t->gpr[R_R12] = r->r12; t->gpr[R_R13] = r->r13; t->gpr[R_R14] = r->r14; t->gpr[R_R15] = r->r15;
	t->rip = f[0];
	/* On the CS ombra resumed with, the guest was in the mode ombra set;
	 * on another (a transfer the real CPU made, kvm_pvm), in the mode its
	 * own GDT says. */
	t->code64 = f[1] == sh->real.cs ? sh->real.cs64 :
		    f[1] == SEL_USER_CS64 || (f[1] != SEL_USER_CS32 && vcpu_long(&sh->v) && sh->v.cs.l);
	/* The guest sees its own IOPL, not the real one, and its own IF: the
	 * real one where it is the guest's (native_if), else ombra's copy. */
	if (sh->native_if)
		t->rflags = (f[2] & ~RFLAGS_IOPL) | ((uint64_t)sh->v.iopl << 12);
	else
		t->rflags = (f[2] & ~(RFLAGS_IF | RFLAGS_IOPL)) | (sh->v.vif ? RFLAGS_IF : 0) |
			    ((uint64_t)sh->v.iopl << 12);
	t->gpr[R_SP] = f[3];
}

/* The pool's memslot registered again, so that the host's KVM drops its
 * view of the pool (resume says when). */
static void host_resync(struct shadow *sh)
{
	kvm_vm_set_region(&sh->vm->kvm, POOL_SLOT_ID, 0, POOL_MPA, 0, sh->pool);
	kvm_vm_set_region(&sh->vm->kvm, POOL_SLOT_ID, 0, POOL_MPA, sh->pool_size, sh->pool);
}

/*
 * The real RFLAGS the guest runs with: the guest's, but IOPL, and IF
 * where the host keeps ombra from the guest's own.  No VM86, no NT.
 * - native_if (ombra owns the VM's flags: AMD-V, VMX): IF is the guest's,
 *   and IOPL is 3 exactly while the guest's CPU would let it run CLI,
 *   STI, POPF's IF and port I/O (CPL <= its IOPL), so those run natively:
 *   PUSHF/POPF irqsave pairs work, port I/O leaves KVM as the I/O it is,
 *   and an interrupt waiting while IF is off asks KVM for the window.
 *   Otherwise IOPL 0, so they trap as the guest's CPU would fault.
 * - else (kvm_pvm): IF on, since nothing interrupts a guest but its own
 *   traps and ombra's kick, and IOPL 0 so that port I/O and CLI/STI trap
 *   and the guest's IF is ombra's copy (struct vcpu).
 */
uint64_t shadow_real_rflags(struct shadow *sh)
{
	const struct trap *t = &sh->t;
	uint64_t f = (t->rflags & ~(RFLAGS_IOPL | RFLAGS_VM | RFLAGS_NT)) | RFLAGS_FIXED;

	if (!sh->native_if)
		return f | RFLAGS_IF;
	if (sh->v.cpl <= sh->v.iopl)
		f |= RFLAGS_IOPL;
	/* A trap delivers what is pending when IF is on; else KVM says when
	 * the guest sets it (KVM_EXIT_IRQ_WINDOW_OPEN, then the kick). */
	sh->vm->kvm.run->request_interrupt_window = !(f & RFLAGS_IF) && shadow_irq_pending(sh);
	return f;
}

/* Returns true when the pool's memslot must be registered again before the
 * next KVM_RUN (host_resync). */
static bool resume(struct shadow *sh)
{
	struct kvm_run *run = sh->vm->kvm.run;
	struct kvm_regs *r = &run->s.regs.regs;
	uint64_t *f = frame(sh);
	struct trap *t = &sh->t;
	bool resync = false;

	sh->v.vif = t->rflags & RFLAGS_IF;
	sh->v.iopl = (unsigned)((t->rflags & RFLAGS_IOPL) >> 12);
	if (sh->patch_step && t->rip != sh->trap_rip)
		shadow_patch_restore(sh);   /* the stepped instruction went elsewhere (a fault delivered) */
	else if (sh->patch_step)
		t->rflags |= RFLAGS_TF;     /* still to run: under the trap flag again */
	if (sh->patching && t->rip != sh->trap_rip)
		shadow_resume_scan(sh);     /* ombra moved RIP: code it may not have seen */
	r->rax = t->gpr[R_AX]; r->rcx = t->gpr[R_CX]; r->rdx = t->gpr[R_DX]; r->rbx = t->gpr[R_BX];
	r->rbp = t->gpr[R_BP]; r->rsi = t->gpr[R_SI]; r->rdi = t->gpr[R_DI];
	r->r8 = t->gpr[R_R8]; r->r9 = t->gpr[R_R9]; r->r10 = t->gpr[R_R10]; r->r11 = t->gpr[R_R11];
	r->r12 = t->gpr[R_R12]; r->r13 = t->gpr[R_R13]; r->r14 = t->gpr[R_R14]; r->r15 = t->gpr[R_R15];

	f[0] = vcpu_long(&sh->v) && sh->v.cs.l ? t->rip : t->rip & 0xffffffffULL;
	realseg_select(sh);
	f[1] = sh->real.cs;
	f[2] = shadow_real_rflags(sh);
	f[3] = t->gpr[R_SP];
	f[4] = sh->real.ss;
	if (realseg_data(sh, &run->s.regs.sregs))
		realseg_sregs_changed(sh);
	r->rsp = sh->mon_va + MON_STACK_TOP - 40;
	r->rflags = RFLAGS_FIXED;
	r->rip = sh->mon_va + MON_RESUME_IRET;

	/* The root first: making it can evict another, which changes entries
	 * the host's KVM must hear about. */
	if (sh->mmu.need_reload) {
		sh->reload_root = mmu_root(&sh->mmu, &sh->ctx);
		mmu_root_loaded(&sh->mmu, sh->reload_root);
	}
	if (sh->mmu.touch_overflow) {
		/* Too much changed for the monitor to rewrite: make the host's
		 * KVM drop its view of the pool by registering it again. */
		resync = true;
		sh->mmu.stats.host_resyncs++;
		sh->mmu.nr_touch = 0;
	}
	if (sh->mmu.nr_touch || sh->pkru_load) {
		uint8_t *mb = sh->mon;
		uint64_t *list = (uint64_t *)(mb + MON_MAILBOX_LIST);

		for (unsigned i = 0; i < sh->mmu.nr_touch; i++)
			list[i] = sh->mon_va + MON_POOL_OFF + sh->mmu.touch[i];
		*(uint64_t *)(mb + MON_MAILBOX_COUNT) = sh->mmu.nr_touch;
		*(uint64_t *)(mb + MON_MAILBOX_PKRU) = sh->pkru_load;
		sh->pkru_load = 0;
		*(uint64_t *)(mb + MON_MAILBOX_RAX) = r->rax;
		*(uint64_t *)(mb + MON_MAILBOX_RCX) = r->rcx;
		*(uint64_t *)(mb + MON_MAILBOX_RSI) = r->rsi;
		*(uint64_t *)(mb + MON_MAILBOX_RDI) = r->rdi;
		if (sh->mmu.need_reload) {
			*(uint64_t *)(mb + MON_MAILBOX_ACTION) = MON_ACTION_CR3;
			*(uint64_t *)(mb + MON_MAILBOX_ARG) = sh->reload_root;
		} else if (sh->mmu.need_invlpg) {
			*(uint64_t *)(mb + MON_MAILBOX_ACTION) = MON_ACTION_INVLPG;
			*(uint64_t *)(mb + MON_MAILBOX_ARG) = sh->mmu.flush_gva;
		} else {
			*(uint64_t *)(mb + MON_MAILBOX_ACTION) = MON_ACTION_NONE;
		}
		sh->mmu.stats.host_rewrites += sh->mmu.nr_touch;
		sh->mmu.nr_touch = 0;
		r->rip = sh->mon_va + MON_RESUME_FULL;
	} else if (sh->mmu.need_reload) {
		*(uint64_t *)(sh->mon + MON_MAILBOX_RAX) = r->rax;
		r->rax = sh->reload_root;
		r->rip = sh->mon_va + MON_RESUME_CR3;
	} else if (sh->mmu.need_invlpg) {
		*(uint64_t *)(sh->mon + MON_MAILBOX_RAX) = r->rax;
		r->rax = sh->mmu.flush_gva;
		r->rip = sh->mon_va + MON_RESUME_INVLPG;
	}
	sh->mmu.need_reload = sh->mmu.need_invlpg = sh->mmu.touch_overflow = false;
	sh->mmu.nr_touch = 0;
	/* The registers always; the segment registers too when the trap
	 * changed one the guest uses natively (an FS/GS base: WRMSR, a segment
	 * load, SWAPGS), which set KVM_SYNC_X86_SREGS already.  KVM clears
	 * what it takes. */
	run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	return resync;
}

static enum trap_result page_fault(struct shadow *sh)
{
	uint32_t gerr = 0;
	uint64_t gpa = 0;

	enum pf_outcome o;

	if (sh->t.rip == sh->storm.rip && sh->t.cr2 == sh->storm.cr2 &&
	    (uint32_t)sh->t.error_code == sh->storm.error) {
		if (++sh->storm.count >= SHADOW_NO_PROGRESS)
			return shadow_kill(sh, "no progress: the same page fault (address %#llx) at the same instruction %u times in a row",
					   (unsigned long long)sh->t.cr2, (unsigned)SHADOW_NO_PROGRESS);
	} else {
		sh->storm.rip = sh->t.rip;
		sh->storm.cr2 = sh->t.cr2;
		sh->storm.error = (uint32_t)sh->t.error_code;
		sh->storm.count = 1;
	}
	if ((sh->t.error_code & PFERR_PK) && !(sh->t.error_code & PFERR_W) && sh->pku) {
		/* --shadow-patch: the guest reads a frame with patches.  The
		 * original bytes go back and PKRU opens for this one
		 * instruction, which runs under the trap flag. */
		sh->patch_reads++;
		shadow_patch_lift(sh);
		return TRAP_RESUME;
	}
	o = mmu_page_fault(&sh->mmu, &sh->ctx, sh->t.cr2, (uint32_t)sh->t.error_code, &gerr, &gpa);

	switch (o) {
	case PF_SPURIOUS:
		/* The shadow maps the address, yet the real CPU keeps faulting
		 * on it.  A kvm_pvm host keeps CPL-3 code (here: all of the
		 * guest) out of the upper half of the address space. */
		if (sh->storm.count >= 3 && (sh->t.cr2 >> 47) && sh->host_pvm)
			return shadow_kill(sh, "%#llx is in the upper half of the address space, which this host's KVM (kvm_pvm) keeps from CPL-3 code, and shadow mode runs the guest kernel at CPL 3 (docs/host.md)",
					   (unsigned long long)sh->t.cr2);
		return TRAP_RESUME;
	case PF_FIXED:
		return TRAP_RESUME;
	case PF_GUEST:
		sh->v.cr2 = sh->t.cr2;
		return inject_exception(sh, VEC_PF, true, gerr);
	case PF_EMULATE:
		return emulate_pte_write(sh, gpa);
	case PF_NONCANONICAL:
		return inject_exception(sh, VEC_GP, true, 0);
	case PF_MMIO:
		return emulate_mmio(sh, sh->t.cr2, gpa, (uint32_t)sh->t.error_code);
	case PF_SCAN:
		/* --shadow-patch: the first fetch from this frame; the access
		 * faults again and fills a leaf that runs it. */
		shadow_code_fetch(sh, sh->t.cr2, gpa);
		return TRAP_RESUME;
	case PF_CODE_WRITE:
		shadow_code_store(sh, gpa >> 12);
		return TRAP_RESUME;
	default:
		return shadow_kill(sh, "a guest page-table entry on the walk of %#llx points outside RAM (%#llx)",
				   (unsigned long long)sh->t.cr2, (unsigned long long)gpa);
	}
}

static enum trap_result dispatch(struct shadow *sh)
{
	unsigned v = sh->t.vector;

	if (sh->patch_step) {
		/* One instruction runs on lifted frames under ombra's trap flag
		 * (shadow_patch_lift): whatever this trap delivers into the
		 * guest must not carry that flag; resume sets it again if the
		 * instruction is still to run.  Its #DB says it has run: the
		 * patches go back, and the #DB is the guest's only if the guest
		 * had TF itself. */
		bool guest_tf = sh->patch_step_guest_tf;

		if (!guest_tf)
			sh->t.rflags &= ~RFLAGS_TF;
		if (v == VEC_DB) {
			shadow_patch_restore(sh);
			if (!guest_tf && !sh->sti_step)
				return TRAP_RESUME;
		}
	}
	if (sh->sti_step) {
		/* The instruction after STI ran (or trapped): the trap flag was
		 * ours, and a #DB from it is not the guest's. */
		sh->sti_step = false;
		sh->t.rflags &= ~RFLAGS_TF;
		if (v == VEC_DB) {
			sh->sti_shadow = false;     /* it completed, wherever it went */
			return TRAP_RESUME;
		}
	}
	switch (v) {
	case VEC_PF:
		return page_fault(sh);
	case VEC_GP:
	case VEC_NP:
	case VEC_SS:
	case VEC_TS:
	case VEC_UD:
		/* A privileged instruction, or a segment load or far transfer
		 * that met the monitor's GDT (a far jump to a selector that is
		 * the real TSS raises #UD on some hosts): emulate it against
		 * the guest's state.  Anything else is the guest's own. */
		return emulate_insn(sh, v);
	case VEC_NMI:
		if (sh->nmi_raised) {
			/* ombra's own, for gdb (debug.c); the stop comes after. */
			sh->nmi_raised = false;
			return TRAP_RESUME;
		}
		/* fall through */
	case VEC_DF:
	case VEC_MC:
		return shadow_kill(sh, "the real CPU raised vector %u while the guest ran", v);
	case SHADOW_KICK_VECTOR:
		/* ombra's own kick (shadow_kick): the guest was running with no
		 * trap while its APIC had an interrupt for it; the delivery
		 * after dispatch does the rest. */
		sh->kicks_taken++;
		return TRAP_RESUME;
	case VEC_BP:
		if (sh->vm->gdb && shadow_debug_int3(sh, sh->t.rip - 1))
			return TRAP_RESUME;      /* gdb's breakpoint (debug.c) */
		return inject_soft_exception(sh, v);
	case VEC_OF:
		/* INT3 or INTO: software interrupts, the guest's gate checked. */
		return inject_soft_exception(sh, v);
	default:
		if (v >= 32)
			return shadow_kill(sh, "unexpected real interrupt, vector %u", v);
		/* The guest's own exception (ud2, int3, divide error...):
		 * deliver it as the CPU would have. */
		return inject_exception(sh, v, has_error_code(v), (uint32_t)sh->t.error_code);
	}
}

/*
 * dispatch with gdb attached (debug.c): a step of gdb's ends at its #DB,
 * or at a trap that completed the instruction (emulated, or an exception
 * into the guest's handler: RIP moved); a trap that only retried it (a
 * hidden page fault, ombra's kick) steps on.  No interrupt is delivered
 * while stepping.  Then a stop debug_break asked for.
 */
static void debug_dispatch(struct shadow *sh)
{
	bool stepping = sh->gdb_step;
	uint64_t stops = sh->gdb_stops;

	if (stepping) {
		sh->gdb_step = false;
		sh->t.rflags &= ~RFLAGS_TF;
	}
	if (stepping && sh->t.vector == VEC_DB) {
		shadow_gdb_stop(sh, 5);
	} else {
		dispatch(sh);
		if (stepping && sh->gdb_stops == stops && sh->vm->end == END_NONE) {
			if (sh->t.rip != sh->trap_rip)
				shadow_gdb_stop(sh, 5);
			else
				sh->gdb_step = true;
		}
	}
	if (sh->gdb_stop && sh->gdb_stops == stops && sh->vm->end == END_NONE)
		shadow_gdb_stop(sh, sh->gdb_stop);
	if (!sh->gdb_step)
		shadow_deliver_interrupt(sh);
	if (sh->gdb_step)
		sh->t.rflags |= RFLAGS_TF;
}

/* The mode's exit hook without its one ioctl: the pool re-registration
 * resume may ask for is left to the caller (*resync). */
bool shadow_handle_exit(struct vm *vm, bool *resync)
{
	struct shadow *sh = vm->mode_data;
	struct kvm_run *run = vm->kvm.run;
	uint64_t *f = frame(sh);
	unsigned vector;

	if (run->exit_reason != KVM_EXIT_IO)
		return false;
	if (sh->native_if && (run->s.regs.sregs.cs.selector & 3) == 3) {
		/* The guest's own port I/O, which IOPL 3 let through (see
		 * shadow_real_rflags): the devices answer as in tdp mode, and an
		 * interrupt it raised or unmasked is taken at once. */
		sh->native_io++;
		vm_port_io(vm);
		shadow_kick(vm);
		return true;
	}
	vector = run->io.port;
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 || vector > 255) {
		shadow_kill(sh, "port %#x %s from the monitor: only its trap stubs do port I/O",
			    run->io.port, run->io.direction == KVM_EXIT_IO_OUT ? "write" : "read");
		return true;
	}
	if ((f[1] & 3) != 3) {
		shadow_kill(sh, "vector %u raised inside the monitor at %#llx (an ombra bug)", vector,
			    (unsigned long long)f[0]);
		return true;
	}
	sh->traps++;
	sh->traps_by_vector[vector]++;
	mmu_trap_begin(&sh->mmu);
	read_trap(sh, vector);
	if (f[1] != sh->real.cs &&
	    shadow_native_transfer(sh, (uint16_t)f[1], (uint16_t)f[4]) != TRAP_RESUME)
		return true;
	{
		uint64_t flushes = sh->mmu.stats.tlb_flush, fixed = sh->mmu.stats.pf_fixed;
		char why[256];

		sh->trap_rip = sh->t.rip;
		/* Segment loads the real CPU made since the last trap come first:
		 * they happened before the instruction that trapped. */
		if (realseg_trap(sh) != TRAP_RESUME) {
			if (!vm->gdb)
				shadow_deliver_interrupt(sh);
		} else if (!vm->gdb) {
			dispatch(sh);
			shadow_deliver_interrupt(sh);
		} else {
			debug_dispatch(sh);
		}
		/* --audit: the whole shadow right after a TLB flush, else the
		 * entry a fill just made (see mmu_audit). */
		if (vm->end == END_NONE && sh->opts.audit &&
		    (sh->mmu.stats.tlb_flush != flushes || sh->mmu.stats.pf_fixed != fixed) &&
		    mmu_audit(&sh->mmu, &sh->ctx, sh->mmu.stats.tlb_flush == flushes, sh->t.cr2,
			      why, sizeof(why)))
			shadow_kill(sh, "--audit: a shadow entry does not match the guest's tables: %s", why);
	}
	if (vm->end == END_NONE)
		*resync = resume(sh);
	return true;
}

bool shadow_exit(struct vm *vm)
{
	bool resync = false, handled;

	if (vm->kvm.run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN) {
		shadow_raise_kick(vm);
		return true;
	}
	handled = shadow_handle_exit(vm, &resync);
	if (resync)
		host_resync(vm->mode_data);
	return handled;
}
