/*
 * Shadow mode: the guest kernel runs deprivileged under ombra's monitor,
 * on page tables ombra builds itself.
 *
 * 1. The machine (shadow_setup).  The KVM VM ombra runs is a long-mode
 *    machine it owns: the monitor region at MPA 0 (code, GDT, IDT, TSS,
 *    trap stack; monitor.h), the shadow-page pool after it, and guest RAM
 *    at MPA = GPA + 256 GiB, so GPA, HVA and MPA are three different
 *    numbers.  The real CPU starts at the kernel's entry point at CPL 3 in
 *    a compatibility-mode segment, on a shadow root that maps guest-
 *    physical memory straight through (the guest has paging off).
 * 2. The trap path (shadow_exit).  Every exception the guest raises enters
 *    the monitor, whose stub leaves the VM with one OUT: the port number is
 *    the vector, the guest's registers are in kvm_run's sync area, and the
 *    frame the CPU pushed is at a fixed place in the monitor region that
 *    ombra maps.  So a trap is one exit and KVM_RUN is the only ioctl.
 * 3. Dispatch.  #PF goes to the shadow MMU (hidden faults are fixed and the
 *    access retried; the guest's own faults are delivered into its IDT);
 *    #GP and friends mean a privileged or segment-loading instruction,
 *    emulated from its capstone decoding; the rest are the guest's own
 *    exceptions, delivered as the CPU would.
 * 4. Resume (resume).  Registers go back into the sync area, the guest's
 *    RIP/CS/RFLAGS/RSP/SS into the frame, and RIP points at a resume stub:
 *    IRETQ, or MOV CR3 / INVLPG first when the shadow changed under it.
 */
#include "shadow.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "x86/cpuid.h"
#include "host/hostmmu.h"
#include "host/disasm.h"
#include "vmm/explain.h"
#include "vmm/chain.h"
#include "machine.h"

/* Vectors whose frame carries an error code. */
bool has_error_code(unsigned v)
{
	return v == VEC_DF || (v >= VEC_TS && v <= VEC_PF) || v == VEC_AC || v == 21 || v == 29 || v == 30;
}

enum trap_result shadow_kill(struct shadow *sh, const char *fmt, ...)
{
	struct vm *vm = sh->vm;
	va_list ap;
	int n;

	if (vm->end != END_NONE)
		return TRAP_END;
	va_start(ap, fmt);
	n = vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(vm->err))
		snprintf(vm->err + n, sizeof(vm->err) - (size_t)n, " (guest rip %#llx, %s, CPL %u)",
			 (unsigned long long)sh->t.rip,
			 vcpu_long(&sh->v) ? (sh->t.code64 ? "64-bit mode" : "compatibility mode")
					   : vcpu_paging(&sh->v) ? "32-bit protected mode, paging on"
								 : "32-bit protected mode, paging off",
			 sh->v.cpl);
	vm->end = END_GUEST_ERROR;
	vm->exit_status = OMBRA_EXIT_GUEST_ERROR;
	return TRAP_END;
}

/* --- guest memory through the guest's translation -------------------------- */

/* gva -> gpa for an access of the given kind (PFERR_W, PFERR_U, PFERR_FETCH),
 * or the guest's fault for it delivered, with the error code the CPU would
 * give (false). */
static bool guest_translate_access(struct shadow *sh, uint64_t gva, uint32_t access, uint64_t *gpa)
{
	uint32_t err = 0;

	if (!vcpu_long(&sh->v))
		gva &= 0xffffffffULL;
	switch (mmu_gva_to_gpa(&sh->mmu, &sh->ctx, gva, access, gpa, &err)) {
	case PF_FIXED:
		return true;
	case PF_GUEST:
		sh->v.cr2 = gva;
		inject_exception(sh, VEC_PF, true, err);
		return false;
	case PF_NONCANONICAL:
		inject_exception(sh, VEC_GP, true, 0);
		return false;
	default:
		shadow_kill(sh, "a guest page-table entry for %#llx points outside RAM",
			    (unsigned long long)gva);
		return false;
	}
}

bool guest_translate(struct shadow *sh, uint64_t gva, bool write, bool user, uint64_t *gpa)
{
	return guest_translate_access(sh, gva, (write ? PFERR_W : 0) | (user ? PFERR_U : 0), gpa);
}

static bool guest_access(struct shadow *sh, uint64_t gva, void *buf, unsigned len, uint32_t access)
{
	uint8_t *p = buf;
	bool write = access & PFERR_W;

	while (len) {
		unsigned chunk = 4096 - (unsigned)(gva & 0xfff);
		uint64_t gpa;
		void *hva;

		if (chunk > len)
			chunk = len;
		if (!vcpu_long(&sh->v))
			gva &= 0xffffffffULL;
		if (!guest_translate_access(sh, gva, access, &gpa))
			return false;
		hva = mem_gpa_to_hva(&sh->vm->mem, gpa, chunk);
		if (!hva) {
			shadow_kill(sh, "ombra cannot access guest-physical %#llx (no RAM there) for %#llx",
				    (unsigned long long)gpa, (unsigned long long)gva);
			return false;
		}
		if (write)
			memcpy(hva, p, chunk);
		else
			memcpy(p, hva, chunk);
		p += chunk;
		gva += chunk;
		len -= chunk;
	}
	return true;
}

bool guest_read(struct shadow *sh, uint64_t gva, void *buf, unsigned len, bool user)
{
	return guest_access(sh, gva, buf, len, user ? PFERR_U : 0);
}

/* An instruction fetch: a fault on it says so (I/D), as the CPU's would. */
bool guest_fetch(struct shadow *sh, uint64_t gva, void *buf, unsigned len, bool user)
{
	return guest_access(sh, gva, buf, len, PFERR_FETCH | (user ? PFERR_U : 0));
}

bool guest_write(struct shadow *sh, uint64_t gva, const void *buf, unsigned len, bool user)
{
	return guest_access(sh, gva, (void *)buf, len, PFERR_W | (user ? PFERR_U : 0));
}

/* --- the MMU follows the guest's CPU --------------------------------------- */

void shadow_cpu_changed(struct shadow *sh, bool cr3_write)
{
	struct vcpu *v = &sh->v;
	enum mmu_path old = sh->ctx.path;
	bool old_pge = sh->ctx.cr4_pge;

	mmu_ctx_init(&sh->ctx, &sh->vm->mem, v->cr0, v->cr4, v->efer, WALK_MAXPHYADDR_DEFAULT);
	sh->ctx.cr3 = v->cr3;
	sh->ctx.user = v->cpl == 3;
	if (sh->ctx.path != PATH_NONPAGING) {
		sh->ctx.walk.cr3 = v->cr3;
		memcpy(sh->ctx.walk.pdptes, v->pdptes, sizeof(v->pdptes));
	}
	/* A CR3 write flushes the guest's TLB; a paging-mode change or a
	 * change of CR4.PGE flushes its global entries too. */
	if (cr3_write || old != sh->ctx.path || old_pge != sh->ctx.cr4_pge)
		mmu_new_cr3(&sh->mmu, &sh->ctx, old != sh->ctx.path || old_pge != sh->ctx.cr4_pge);
	/* A new CR3, CPL (kernel or user view), CR0.WP or EFER.NXE each select
	 * another root: the real CR3 is reloaded on the way back. */
	sh->mmu.need_reload = true;
}

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
	t->code64 = f[1] == SEL_USER_CS64 || (f[1] != SEL_USER_CS32 && vcpu_long(&sh->v) && sh->v.cs.l);
	/* The guest sees its own IF and IOPL, not the real ones. */
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
	r->rax = t->gpr[R_AX]; r->rcx = t->gpr[R_CX]; r->rdx = t->gpr[R_DX]; r->rbx = t->gpr[R_BX];
	r->rbp = t->gpr[R_BP]; r->rsi = t->gpr[R_SI]; r->rdi = t->gpr[R_DI];
	r->r8 = t->gpr[R_R8]; r->r9 = t->gpr[R_R9]; r->r10 = t->gpr[R_R10]; r->r11 = t->gpr[R_R11];
	r->r12 = t->gpr[R_R12]; r->r13 = t->gpr[R_R13]; r->r14 = t->gpr[R_R14]; r->r15 = t->gpr[R_R15];

	f[0] = vcpu_long(&sh->v) && sh->v.cs.l ? t->rip : t->rip & 0xffffffffULL;
	f[1] = vcpu_long(&sh->v) && sh->v.cs.l ? SEL_USER_CS64 : SEL_USER_CS32;
	/* Really: IF on (nothing interrupts a guest but its own traps), IOPL 0
	 * so port I/O and CLI/STI trap, no VM86, no NT. */
	f[2] = (t->rflags & ~(RFLAGS_IOPL | RFLAGS_VM | RFLAGS_NT)) | RFLAGS_IF | RFLAGS_FIXED;
	f[3] = t->gpr[R_SP];
	f[4] = SEL_USER_DS;
	r->rsp = MON_VA + MON_STACK_TOP - 40;
	r->rflags = RFLAGS_FIXED;
	r->rip = MON_VA + MON_RESUME_IRET;

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
	if (sh->mmu.nr_touch) {
		uint8_t *mb = sh->mon;
		uint64_t *list = (uint64_t *)(mb + MON_MAILBOX_LIST);

		for (unsigned i = 0; i < sh->mmu.nr_touch; i++)
			list[i] = MON_POOL_VA + sh->mmu.touch[i];
		*(uint64_t *)(mb + MON_MAILBOX_COUNT) = sh->mmu.nr_touch;
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
		r->rip = MON_VA + MON_RESUME_FULL;
	} else if (sh->mmu.need_reload) {
		*(uint64_t *)(sh->mon + MON_MAILBOX_RAX) = r->rax;
		r->rax = sh->reload_root;
		r->rip = MON_VA + MON_RESUME_CR3;
	} else if (sh->mmu.need_invlpg) {
		*(uint64_t *)(sh->mon + MON_MAILBOX_RAX) = r->rax;
		r->rax = sh->mmu.flush_gva;
		r->rip = MON_VA + MON_RESUME_INVLPG;
	}
	sh->mmu.need_reload = sh->mmu.need_invlpg = sh->mmu.touch_overflow = false;
	sh->mmu.nr_touch = 0;
	run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
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
	o = mmu_page_fault(&sh->mmu, &sh->ctx, sh->t.cr2, (uint32_t)sh->t.error_code, &gerr, &gpa);

	sh->last_gpa = gpa;
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
	default:
		return shadow_kill(sh, "a guest page-table entry on the walk of %#llx points outside RAM (%#llx)",
				   (unsigned long long)sh->t.cr2, (unsigned long long)gpa);
	}
}

static enum trap_result dispatch(struct shadow *sh)
{
	unsigned v = sh->t.vector;

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
	case VEC_DF:
	case VEC_MC:
	case VEC_NMI:
		return shadow_kill(sh, "the real CPU raised vector %u while the guest ran", v);
	case SHADOW_KICK_VECTOR:
		/* ombra's own kick (shadow_kick): the guest was running with no
		 * trap while its APIC had an interrupt for it; the delivery
		 * after dispatch does the rest. */
		sh->kicks_taken++;
		return TRAP_RESUME;
	default:
		if (v >= 32)
			return shadow_kill(sh, "unexpected real interrupt, vector %u", v);
		/* The guest's own exception (ud2, int3, divide error...):
		 * deliver it as the CPU would have. */
		return inject_exception(sh, v, has_error_code(v), (uint32_t)sh->t.error_code);
	}
}

/* --- the trace ------------------------------------------------------------- */

/* The instruction at rip, decoded, without side effects on the guest. */
static json_t *insn_at(struct shadow *sh, uint64_t rip)
{
	uint8_t code[15];
	uint64_t gpa;
	uint32_t err;
	char text[96];
	size_t n = 0;

	while (n < sizeof(code)) {
		uint8_t *p;

		if (mmu_gva_to_gpa(&sh->mmu, &sh->ctx, rip + n, WALK_PEEK, &gpa, &err) != PF_FIXED)
			break;
		p = mem_gpa_to_hva(&sh->vm->mem, gpa, 1);
		if (!p)
			break;
		code[n++] = *p;
	}
	if (!n || !disasm_one(code, n, rip, vcpu_long(&sh->v) && sh->v.cs.l ? 64 : 32, text, sizeof(text)))
		return NULL;
	return json_string(text);
}

static json_t *event(struct shadow *sh, bool with_insn)
{
	json_t *o = json_pack("{s:o, s:s}", "rip", trace_hex(sh->trap_rip), "path",
			      mmu_path_names[sh->ctx.path]);
	json_t *insn = with_insn ? insn_at(sh, sh->trap_rip) : NULL;

	if (insn)
		json_object_set_new(o, "insn", insn);
	return o;
}

/* What the trap just handled did to the MMU, as trace records. */
static void trace_trap(struct shadow *sh, const struct mmu_stats *b, uint64_t injected, bool root_hit)
{
	const struct mmu_stats *a = &sh->mmu.stats;
	struct trace *t = sh->vm->trace;
	json_t *o;

	if (a->pf_fixed != b->pf_fixed) {
		unsigned level = 1;

		for (unsigned l = 1; l <= 3; l++)
			if (a->fixed_by_level[l] != b->fixed_by_level[l])
				level = l;
		o = event(sh, true);
		json_object_set_new(o, "gva", trace_hex(sh->t.cr2));
		json_object_set_new(o, "gpa", trace_hex(sh->last_gpa));
		json_object_set_new(o, "mpa", trace_hex(mem_gpa_to_mpa(&sh->vm->mem, sh->last_gpa)));
		json_object_set_new(o, "error_code", json_integer((json_int_t)sh->t.error_code));
		json_object_set_new(o, "level", json_integer(level));
		trace_write(t, "fill", o);
	}
	if (a->prefetched != b->prefetched)
		trace_write(t, "prefetch", json_pack("{s:o, s:I}", "gva", trace_hex(sh->t.cr2),
						     "count", (json_int_t)(a->prefetched - b->prefetched)));
	if (a->pf_emulate != b->pf_emulate) {
		o = event(sh, true);
		json_object_set_new(o, "gva", trace_hex(sh->t.cr2));
		json_object_set_new(o, "gpa", trace_hex(sh->last_gpa));
		trace_write(t, "emulate_pte_write", o);
	}
	if (a->mmu_unsync != b->mmu_unsync)
		trace_write(t, "unsync", json_pack("{s:o, s:s}", "gpa", trace_hex(sh->last_gpa), "path",
						   mmu_path_names[sh->ctx.path]));
	if (a->unsync_synced != b->unsync_synced)
		trace_write(t, "resync", json_pack("{s:I}", "count", (json_int_t)(a->unsync_synced - b->unsync_synced)));
	if (a->invlpg != b->invlpg) {
		o = event(sh, false);
		json_object_set_new(o, "gva", trace_hex(sh->mmu.flush_gva));
		trace_write(t, "invlpg", o);
	}
	if (a->cr3_writes != b->cr3_writes) {
		o = event(sh, false);
		json_object_set_new(o, "cr3", trace_hex(sh->v.cr3));
		json_object_set_new(o, "root_hit", json_boolean(root_hit));
		trace_write(t, "cr3_load", o);
	}
	if (a->rmap_zapped != b->rmap_zapped)
		trace_write(t, "zap", json_pack("{s:o, s:I}", "gpa", trace_hex(sh->last_gpa),
						"count", (json_int_t)(a->rmap_zapped - b->rmap_zapped)));
	if (a->mmu_recycled != b->mmu_recycled)
		trace_write(t, "recycle", json_pack("{s:I}", "count", (json_int_t)(a->mmu_recycled - b->mmu_recycled)));
	if (a->pf_mmio != b->pf_mmio) {
		o = event(sh, true);
		json_object_set_new(o, "gva", trace_hex(sh->t.cr2));
		json_object_set_new(o, "gpa", trace_hex(sh->last_gpa));
		trace_write(t, "mmio", o);
	}
	if (sh->injected != injected) {
		o = event(sh, true);
		json_object_set_new(o, "vector", json_integer(sh->last_vector));
		json_object_set_new(o, "error_code", json_integer(sh->last_error));
		if (sh->last_vector == VEC_PF)
			json_object_set_new(o, "gva", trace_hex(sh->v.cr2));
		if (sh->irq_from && sh->last_vector == sh->irq_vector)
			json_object_set_new(o, "from", json_string(sh->irq_from));   /* an interrupt */
		trace_write(t, "inject", o);
	}
	sh->irq_from = NULL;
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
	if (f[1] != SEL_USER_CS32 && f[1] != SEL_USER_CS64 &&
	    shadow_native_transfer(sh, (uint16_t)f[1], (uint16_t)f[4]) != TRAP_RESUME)
		return true;
	{
		uint64_t cr3_writes = sh->mmu.stats.cr3_writes, fixed = sh->mmu.stats.pf_fixed;
		struct mmu_stats before = sh->mmu.stats;
		uint64_t injected = sh->injected;
		char why[256];

		sh->trap_rip = sh->t.rip;
		dispatch(sh);
		shadow_deliver_interrupt(sh);
		if (vm->trace)
			trace_trap(sh, &before, injected,
				   sh->mmu.stats.cr3_writes != cr3_writes && mmu_root_cached(&sh->mmu, &sh->ctx));
		/* --audit: the whole shadow right after a TLB flush, else the
		 * entry a fill just made (see mmu_audit). */
		if (vm->end == END_NONE && sh->audit &&
		    (sh->mmu.stats.cr3_writes != cr3_writes || sh->mmu.stats.pf_fixed != fixed) &&
		    mmu_audit(&sh->mmu, &sh->ctx, sh->mmu.stats.cr3_writes == cr3_writes, sh->t.cr2,
			      why, sizeof(why)))
			shadow_kill(sh, "--audit: a shadow entry does not match the guest's tables: %s", why);
	}
	if (vm->end == END_NONE)
		*resync = resume(sh);
	return true;
}

static bool shadow_exit(struct vm *vm)
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

/* --- set-up ------------------------------------------------------------------ */

static void kvm_seg(struct kvm_segment *s, uint16_t sel, uint64_t base, uint32_t limit,
		    uint8_t type, uint8_t dpl, uint8_t code_l, uint8_t db, uint8_t sys, uint8_t g)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->type = type;
	s->present = 1;
	s->dpl = dpl;
	s->l = code_l;
	s->db = db;
	s->s = sys;
	s->g = g;
}

/* The guest's view at multiboot entry: protected mode, paging off, flat
 * segments 0x10 (code) and 0x18 (data), interrupts off. */
static void vcpu_reset(struct vcpu *v)
{
	struct vseg code = { 0x10, 0, 0xffffffff, 0xb, 1, 0, 1, 0, 1, 1 };
	struct vseg data = { 0x18, 0, 0xffffffff, 0x3, 1, 0, 1, 0, 1, 1 };

	memset(v, 0, sizeof(*v));
	v->cr0 = CR0_PE | CR0_ET;
	v->cs = code;
	v->ss = v->ds = v->es = v->fs = v->gs = data;
	v->tr.type = 0xb;
	v->tr.p = 1;
	v->tr.limit = 0xffff;
	v->ldtr.type = 0x2;
	v->ldtr.p = 1;
	v->ldtr.limit = 0xffff;
	v->idtr.limit = 0x3ff;
	v->gdtr.limit = 0xffff;
	v->pat = 0x0007040600070406ULL;
	v->apic_base = 0xfee00900ULL;
}

static int register_region(struct vm *vm, uint32_t id, uint64_t mpa, uint8_t *hva, uint64_t size)
{
	return kvm_vm_set_region(&vm->kvm, id, 0, mpa, size, hva);
}

static int shadow_setup(struct vm *vm)
{
	struct shadow *sh = calloc(1, sizeof(*sh));
	size_t blob = (size_t)(monitor_blob_end - monitor_blob);
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	unsigned pool_pages;
	int r;

	if (!sh)
		return -ENOMEM;
	vm->mode_data = sh;
	sh->vm = vm;
	if (emulate_open(sh) < 0) {
		snprintf(vm->err, sizeof(vm->err), "capstone could not be opened");
		return -ENOMEM;
	}
	r = shadow_irq_init(sh);
	if (r < 0)
		return r;
	{
		struct hostmmu hm;

		/* The host's MMU still maps the VM the monitor runs in; the
		 * guest's translations are ombra's shadow tables. */
		hostmmu_detect("", &hm);
		sh->host_pvm = strcmp(hm.module, "kvm_pvm") == 0;
		snprintf(vm->host_mmu, sizeof(vm->host_mmu), "%s, under ombra's shadow tables", hm.summary);
		snprintf(vm->host_mmu_kind, sizeof(vm->host_mmu_kind), "%s", hostmmu_kind_name(hm.kind));
	}

	/* 1. The monitor region and the pool, registered at MPAs of their own. */
	pool_pages = (unsigned)(vm->cfg.ram_size >> 12) / 8;
	if (pool_pages < 1024)
		pool_pages = 1024;
	if (pool_pages > 65536)
		pool_pages = 65536;
	if (vm->cfg.shadow_pages)
		pool_pages = vm->cfg.shadow_pages;
	if ((uint64_t)pool_pages << 12 > MON_POOL_MAX)
		pool_pages = (unsigned)(MON_POOL_MAX >> 12);
	sh->audit = vm->cfg.audit;
	sh->pool_size = (size_t)pool_pages << 12;
	sh->mon = mmap(NULL, MON_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sh->pool = mmap(NULL, sh->pool_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sh->mon == MAP_FAILED || sh->pool == MAP_FAILED) {
		sh->mon = sh->pool = NULL;
		return -ENOMEM;
	}
	if (blob > MON_MAILBOX) {
		snprintf(vm->err, sizeof(vm->err), "the monitor is %zu bytes, more than its %d", blob, MON_MAILBOX);
		return -E2BIG;
	}
	memcpy(sh->mon, monitor_blob, blob);
	sh->mon_pml4e = machine_build(sh->mon, POOL_MPA, sh->pool_size);
	r = register_region(vm, MON_SLOT_ID, MON_MPA, sh->mon, MON_SIZE);
	if (r == 0)
		r = register_region(vm, POOL_SLOT_ID, POOL_MPA, sh->pool, sh->pool_size);
	if (r < 0) {
		snprintf(vm->err, sizeof(vm->err), "KVM_SET_USER_MEMORY_REGION for the monitor failed: %s",
			 strerror(-r));
		return r;
	}
	r = mmu_init(&sh->mmu, &vm->mem, sh->pool, POOL_MPA, pool_pages, sh->mon_pml4e);
	if (r < 0)
		return r;
	sh->mmu.sync = (enum mmu_sync)vm->cfg.shadow_sync;
	sh->mmu.prefetch = (unsigned)vm->cfg.prefetch;
	sh->mmu.large_pages = !vm->cfg.no_large;

	/* 2. The guest's CPU at multiboot entry, and the MMU context for it. */
	vcpu_reset(&sh->v);
	shadow_cpu_changed(sh, false);

	/* 3. What the guest cannot see of its deprivileging should trap: with
	 * CR4.UMIP, SGDT/SIDT/SLDT/STR/SMSW at CPL 3 raise #GP; with CPUID
	 * faulting, CPUID does, and ombra answers from the same table. */
	sh->umip = kvm_vm_set_cpuid(&vm->kvm, true, vm->err, sizeof(vm->err)) == 0 &&
		   kvm_vm_set_msr(&vm->kvm, MSR_MISC_FEATURES_ENABLES, 1) == 0;
	if (!sh->umip) {
		/* Without them the guest runs, with the limits docs/shadow.md lists. */
		vm->err[0] = 0;
		kvm_vm_set_cpuid(&vm->kvm, false, vm->err, sizeof(vm->err));
		vm->err[0] = 0;
	}

	/* 4. The real CPU: long mode, monitor tables, guest at CPL 3. */
	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr4 = CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | (sh->umip ? CR4_UMIP : 0);
	sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	sregs.cr3 = mmu_root(&sh->mmu, &sh->ctx);
	mmu_root_loaded(&sh->mmu, sregs.cr3);
	sh->mmu.need_reload = false;
	sregs.gdt.base = MON_VA + MON_GDT;
	sregs.gdt.limit = MON_GDT_LIMIT;
	sregs.idt.base = MON_VA + MON_IDT;
	sregs.idt.limit = 256 * 16 - 1;
	kvm_seg(&sregs.tr, SEL_TSS, MON_VA + MON_TSS, 0x67, 0xb, 0, 0, 0, 0, 0);
	kvm_seg(&sregs.ldt, 0, 0, 0xffff, 0x2, 0, 0, 0, 0, 0);
	kvm_seg(&sregs.cs, SEL_USER_CS32, 0, 0xffffffff, 0xb, 3, 0, 1, 1, 1);
	kvm_seg(&sregs.ss, SEL_USER_DS, 0, 0xffffffff, 0x3, 3, 0, 1, 1, 1);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss;
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		snprintf(vm->err, sizeof(vm->err), "KVM_SET_SREGS (shadow mode's long-mode machine) failed: %s",
			 strerror(errno));
		return -errno;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = vm->boot.entry;
	regs.rax = MB_BOOTLOADER_MAGIC;
	regs.rbx = vm->boot.info_gpa;
	regs.rflags = RFLAGS_FIXED | RFLAGS_IF;
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	sh->t.rip = regs.rip;

	/* 5. From now on registers travel through kvm_run, never an ioctl. */
	vm->kvm.run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	return 0;
}

static void shadow_teardown(struct vm *vm)
{
	struct shadow *sh = vm->mode_data;

	if (!sh)
		return;
	mmu_destroy(&sh->mmu);
	emulate_close(sh);
	if (sh->mon)
		munmap(sh->mon, MON_SIZE);
	if (sh->pool)
		munmap(sh->pool, sh->pool_size);
	free(sh);
	vm->mode_data = NULL;
}

/* --- what shadow mode reports -------------------------------------------- */

static void shadow_counters(struct vm *vm, struct counters *out)
{
	/* Names: KVM's where the meaning is KVM's, then what only shadow mode
	 * sees, then the per-path split (docs/counters.md). */
	static const char *const path_taken[PATH_COUNT] = {
		"pf_taken_nonpaging", "pf_taken_paging32", "pf_taken_paging32e", "pf_taken_paging64" };
	static const char *const path_fixed[PATH_COUNT] = {
		"pf_fixed_nonpaging", "pf_fixed_paging32", "pf_fixed_paging32e", "pf_fixed_paging64" };
	static const char *const path_guest[PATH_COUNT] = {
		"pf_guest_nonpaging", "pf_guest_paging32", "pf_guest_paging32e", "pf_guest_paging64" };
	static const char *const level_fixed[4] = {
		"pf_fixed_4k", "pf_fixed_2m_4m", "pf_fixed_1g", "" };
	struct shadow *sh = vm->mode_data;
	const struct mmu_stats *st = &sh->mmu.stats;

	counters_add(out, "pf_taken", st->pf_taken);
	counters_add(out, "pf_fixed", st->pf_fixed);
	counters_add(out, "pf_guest", st->pf_guest);
	counters_add(out, "pf_emulate", st->pf_emulate);
	counters_add(out, "pf_spurious", st->pf_spurious);
	counters_add(out, "invlpg", st->invlpg);
	counters_add(out, "tlb_flush", st->tlb_flush);
	counters_add(out, "mmu_shadow_zapped", st->mmu_shadow_zapped);
	counters_add(out, "mmu_pte_write", st->mmu_pte_write);
	counters_add(out, "mmu_flooded", st->mmu_flooded);
	counters_add(out, "mmu_recycled", st->mmu_recycled);
	counters_add(out, "mmu_cache_miss", st->mmu_cache_miss);
	counters_add(out, "mmu_unsync", st->mmu_unsync);
	counters_add(out, "exits", vm->exits);
	counters_add(out, "traps", sh->traps);
	counters_add(out, "cr3_writes", st->cr3_writes);
	counters_add(out, "root_hits", st->root_hits);
	counters_add(out, "root_misses", st->root_misses);
	counters_add(out, "ad_faults", st->ad_faults);
	counters_add(out, "prefetched", st->prefetched);
	counters_add(out, "large_fixed", st->large_fixed);
	counters_add(out, "large_split", st->large_split);
	counters_add(out, "pf_mmio", st->pf_mmio);
	counters_add(out, "mmio_exits", sh->mmio_exits);
	counters_add(out, "irq_injections", sh->irq_injections);
	counters_add(out, "apic_timer_fired", sh->lapic.fired);
	counters_add(out, "pit_irq0_edges", sh->pit.irq0_edges);
	counters_add(out, "pic_intacks", sh->pic.intacks);
	counters_add(out, "irq_window_kicks", sh->kicks_taken);
	counters_add(out, "emulated", sh->emulated);
	counters_add(out, "injected", sh->injected);
	counters_add(out, "native_transfers", sh->native_transfers);
	counters_add(out, "shadow_pages", sh->mmu.nr_used);
	counters_add(out, "rmap_zapped", st->rmap_zapped);
	counters_add(out, "unsync_synced", st->unsync_synced);
	counters_add(out, "write_protected", st->write_protected);
	counters_add(out, "host_rewrites", st->host_rewrites);
	counters_add(out, "host_resyncs", st->host_resyncs);
	for (int p = 0; p < PATH_COUNT; p++) {
		counters_add(out, path_taken[p], st->by_path_taken[p]);
		counters_add(out, path_fixed[p], st->by_path_fixed[p]);
		counters_add(out, path_guest[p], st->by_path_guest[p]);
	}
	for (int l = 1; l <= 3; l++)
		counters_add(out, level_fixed[l - 1], st->fixed_by_level[l]);
}

/* The translation chain in shadow mode: the guest's walk, then the shadow's
 * from the current root, which must end at the same host frame. */
static void shadow_explain(struct vm *vm, uint64_t gva, json_t *obj)
{
	struct shadow *sh = vm->mode_data;
	json_t *steps = json_array();
	struct sp *root = sh->mmu.root_cache[sh->ctx.user][0];
	uint64_t e = 0, mpa = 0;
	char buf[24];

	chain_guest(&vm->mem, sh->ctx.path != PATH_NONPAGING, mmu_path_names[sh->ctx.path], &sh->ctx.walk,
		    gva, obj);
	json_object_set_new(obj, "shadow_walk", steps);
	for (unsigned level = 4; root && level >= 1; level--) {
		uint64_t *spt = level == 4 ? root->spt :
				(uint64_t *)(sh->pool + ((e & SPTE_ADDR) - POOL_MPA));

		e = spt[(gva >> (12 + 9 * (level - 1))) & 511];
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)e);
		json_array_append_new(steps, json_pack("{s:i, s:s}", "level", level, "value", buf));
		if (!(e & SPTE_P))
			break;
		if (!(e & SPTE_LINK)) {
			uint64_t size = level == 2 ? 0x200000 : 0x1000;

			mpa = (e & SPTE_ADDR & ~(size - 1)) | (gva & (size - 1));
			break;
		}
	}
	if (!mpa) {
		json_object_set_new(obj, "verdict", json_string(
			"not in the shadow: the next access makes a hidden fault that fills it"));
		return;
	}
	{
		uint64_t gpa = mpa - vm->mem.mpa_offset;
		json_t *sh_part = json_object();
		json_t *g_hva = json_object_get(obj, "hva"), *g_pfn = json_object_get(obj, "host_pfn");
		json_t *s_hva, *s_pfn;
		bool agree;

		explain_gpa(&vm->mem, gpa, sh_part);
		s_hva = json_object_get(sh_part, "hva");
		s_pfn = json_object_get(sh_part, "host_pfn");
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)mpa);
		json_object_set_new(obj, "shadow_mpa", json_string(buf));
		json_object_set(obj, "shadow_hva", s_hva ? s_hva : json_null());
		json_object_set(obj, "shadow_host_pfn", s_pfn ? s_pfn : json_null());
		agree = g_hva && s_hva && json_equal(g_hva, s_hva) &&
			(!g_pfn || !s_pfn || json_is_null(g_pfn) || json_equal(g_pfn, s_pfn));
		json_object_set_new(obj, "chains_agree", json_boolean(agree));
		json_object_set_new(obj, "verdict", json_string(agree ?
			"both chains end at the same host frame" :
			"OMBRA BUG: the shadow maps this address to another frame than the guest's tables"));
		json_decref(sh_part);
	}
}

static void shadow_sample(struct vm *vm, json_t *obj)
{
	struct shadow *sh = vm->mode_data;
	const struct mmu_stats *st = &sh->mmu.stats;

	json_object_set_new(obj, "exits", json_integer((json_int_t)vm->exits));
	json_object_set_new(obj, "pf_taken", json_integer((json_int_t)st->pf_taken));
	json_object_set_new(obj, "pf_fixed", json_integer((json_int_t)st->pf_fixed));
	json_object_set_new(obj, "pf_guest", json_integer((json_int_t)st->pf_guest));
	json_object_set_new(obj, "cr3_writes", json_integer((json_int_t)st->cr3_writes));
	json_object_set_new(obj, "root_hits", json_integer((json_int_t)st->root_hits));
	json_object_set_new(obj, "invlpg", json_integer((json_int_t)st->invlpg));
	json_object_set_new(obj, "shadow_pages", json_integer(sh->mmu.nr_used));
}

static void shadow_trace_header(struct vm *vm, json_t *hdr)
{
	static const char *const names[] = { "vtlb", "wp", "unsync" };

	json_object_set_new(hdr, "sync", json_string(names[vm->cfg.shadow_sync]));
}

static void shadow_memory_changed(struct vm *vm, uint64_t gfn, uint64_t count)
{
	struct shadow *sh = vm->mode_data;

	mmu_zap_gfn_range(&sh->mmu, gfn, count);
}

/* The guest's view of its CPU when it died: virtual state, not the monitor's. */
static void shadow_guest_state(struct vm *vm, char *buf, size_t len)
{
	struct shadow *sh = vm->mode_data;
	const struct vcpu *v = &sh->v;
	const struct trap *t = &sh->t;

	snprintf(buf, len,
		 "ombra: guest state (virtual CPU): CPL %u, cs %#x, rip %#llx, rflags %#llx, last trap vector %u\n"
		 "ombra:   rax %#llx rbx %#llx rcx %#llx rdx %#llx rsi %#llx rdi %#llx rsp %#llx rbp %#llx\n"
		 "ombra:   cr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx efer %#llx, MMU path %s\n",
		 v->cpl, v->cs.sel, (unsigned long long)t->rip, (unsigned long long)t->rflags, t->vector,
		 (unsigned long long)t->gpr[R_AX], (unsigned long long)t->gpr[R_BX],
		 (unsigned long long)t->gpr[R_CX], (unsigned long long)t->gpr[R_DX],
		 (unsigned long long)t->gpr[R_SI], (unsigned long long)t->gpr[R_DI],
		 (unsigned long long)t->gpr[R_SP], (unsigned long long)t->gpr[R_BP],
		 (unsigned long long)v->cr0, (unsigned long long)v->cr2, (unsigned long long)v->cr3,
		 (unsigned long long)v->cr4, (unsigned long long)v->efer, mmu_path_names[sh->ctx.path]);
}

/* The interrupt hardware is ombra's own (irq.c): nothing inside KVM. */
static int shadow_devices(struct vm *vm)
{
	(void)vm;
	return 0;
}

/* Shadow mode writes its events to the trace as they happen. */
static void shadow_trace_events(struct vm *vm)
{
	(void)vm;
}

const struct vm_mode shadow_mode = {
	.name = "shadow",
	.ram_mpa_offset = SHADOW_RAM_MPA_OFFSET,
	.devices = shadow_devices,
	.trace_events = shadow_trace_events,
	.setup = shadow_setup,
	.exit = shadow_exit,
	.teardown = shadow_teardown,
	.guest_state = shadow_guest_state,
	.counters = shadow_counters,
	.memory_changed = shadow_memory_changed,
	.sample = shadow_sample,
	.explain = shadow_explain,
	.trace_header = shadow_trace_header,
	.next_event = shadow_next_event,
	.kick = shadow_kick,
};
