/*
 * Shadow mode's side of the gdbstub (docs/gdb.md): ombra does it all
 * itself, under the monitor.  Registers are the virtual CPU's at the
 * current trap (struct trap, struct vcpu); memory is read and written
 * through the guest's own tables without side effects (no A/D bits);
 * gdb's breakpoints are INT3 bytes the vmm's gdbstub writes through
 * debug_mem, whose #BP comes back through the monitor like the guest's
 * own (trap.c, and emulate.c's INT3 that arrives as #UD) and stops for
 * gdb when it is at one of gdb's addresses; a step is RFLAGS.TF set on
 * the guest's IRETQ back, its #DB taken here, interrupts held off while
 * stepping.  A stop that does not come from the guest (-S, gdb's
 * Ctrl-C, a new connection) makes the guest trap, and stops there, so the
 * registers are always a trap's: ombra's kick vector where the real IF is
 * always on; where it is the guest's (native_if) an NMI, or TF in the
 * frame when the vCPU is in the monitor on its way back.
 */
#include "shadow.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/gdbstub.h"

int shadow_debug_regs(struct vm *vm, struct gdb_regs *g, bool write)
{
	/* gdb's order against the CPU's (struct trap). */
	static const int map[16] = { R_AX, R_BX, R_CX, R_DX, R_SI, R_DI, R_BP, R_SP,
				     R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };
	struct shadow *sh = vm->mode_data;
	struct trap *t = &sh->t;

	if (write) {
		for (int i = 0; i < 16; i++)
			t->gpr[map[i]] = g->gpr[i];
		t->rip = g->rip;
		/* TF stays ombra's to set (a step); the rest is the guest's. */
		t->rflags = ((uint64_t)g->eflags & ~RFLAGS_TF) | RFLAGS_FIXED;
		return 0;
	}
	for (int i = 0; i < 16; i++)
		g->gpr[i] = t->gpr[map[i]];
	g->rip = t->rip;
	g->eflags = (uint32_t)(t->rflags & ~RFLAGS_TF);
	g->seg[0] = sh->v.cs.sel;
	g->seg[1] = sh->v.ss.sel;
	g->seg[2] = sh->v.ds.sel;
	g->seg[3] = sh->v.es.sel;
	g->seg[4] = sh->v.fs.sel;
	g->seg[5] = sh->v.gs.sel;
	return 0;
}

/* The guest's own translation, side-effect free (WALK_PEEK), as the
 * shadow MMU walks it; 32-bit modes see 32-bit addresses. */
static bool debug_xlate(void *opaque, uint64_t gva, uint64_t *gpa)
{
	struct shadow *sh = opaque;
	uint32_t err;

	if (!vcpu_long(&sh->v))
		gva &= 0xffffffffULL;
	return mmu_gva_to_gpa(&sh->mmu, &sh->ctx, gva, WALK_PEEK, gpa, &err) == PF_FIXED;
}

/* gdb's view of memory is the guest's: under --shadow-patch its reads see
 * the original bytes, and a write (a breakpoint's INT3, say) to a scanned
 * frame first undoes the frame's patches, as the guest's own would. */
int shadow_debug_mem(struct vm *vm, uint64_t gva, void *buf, size_t len, bool write)
{
	struct shadow *sh = vm->mode_data;
	uint64_t gpa;
	int r;

	for (size_t done = 0; write && sh->patching && done < len;) {
		size_t chunk = 4096 - ((gva + done) & 0xfff);

		if (debug_xlate(sh, gva + done, &gpa) && patch_scanned(&sh->patch, gpa >> 12))
			shadow_code_written(sh, gpa >> 12);
		done += chunk;
	}
	r = mem_copy_virt(&vm->mem, gva, buf, len, write, debug_xlate, sh);
	for (size_t done = 0; !write && r == 0 && sh->patching && done < len;) {
		size_t chunk = 4096 - ((gva + done) & 0xfff);

		if (chunk > len - done)
			chunk = len - done;
		if (debug_xlate(sh, gva + done, &gpa))
			patch_overlay(&sh->patch, gpa, (uint8_t *)buf + done, (unsigned)chunk);
		done += chunk;
	}
	return r;
}

void shadow_debug_resume(struct vm *vm, bool attached, bool step)
{
	struct shadow *sh = vm->mode_data;

	sh->gdb_step = attached && step;
}

void shadow_debug_break(struct vm *vm, int sig)
{
	struct shadow *sh = vm->mode_data;
	uint64_t rip = vm->kvm.run->s.regs.regs.rip;

	sh->gdb_stop = sig;
	if (!sh->native_if) {
		shadow_raise_kick(vm);           /* the real IF is always on */
		return;
	}
	/* The guest's IF is the real one and may be off for good (a spin
	 * with interrupts disabled): no maskable kick is sure to get in. */
	if (rip - sh->mon_va < MON_SIZE) {
		/* On its way back into the guest: the monitor's IRETQ pops the
		 * frame, so TF there traps after one guest instruction, which
		 * debug_dispatch takes as a step and stops at. */
		((uint64_t *)(sh->mon + MON_STACK_TOP - 40))[2] |= RFLAGS_TF;
		sh->gdb_step = true;
		return;
	}
	/* In the guest's code: an NMI, which IF does not hold off, traps at
	 * once (dispatch takes it as ombra's own). */
	if (ioctl(vm->kvm.vcpu_fd, KVM_NMI) < 0) {
		shadow_kill(sh, "KVM_NMI failed: %s", strerror(errno));
		return;
	}
	sh->nmi_raised = true;
}

void shadow_gdb_stop(struct shadow *sh, int sig)
{
	sh->gdb_stop = 0;
	sh->gdb_stops++;
	sh->gdb_step = false;
	vm_debug_stop(sh->vm, sig);        /* gdb may ask for a step: gdb_step */
}

bool shadow_debug_int3(struct shadow *sh, uint64_t gva)
{
	if (!vm_debug_breakpoint(sh->vm, gva))
		return false;
	sh->t.rip = gva;
	shadow_gdb_stop(sh, 5);
	return true;
}
