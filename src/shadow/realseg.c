/*
 * The real segment registers the guest runs on, and the monitor's GDT
 * entries behind them.
 *
 * The guest's kernel and user code both run at real CPL 3 on segments
 * ombra chooses: flat code (64-bit or compatibility mode) and flat data,
 * DPL 3.  What changes from host to host is their selectors:
 *
 * - Where ombra owns the VM's GDT (VMX, AMD-V): the guest's own.  CS and
 *   SS are the guest's index with RPL 3 (a CPL-3 CS and SS can have no
 *   other RPL), and the real GDT holds ombra's descriptor at that index;
 *   DS, ES, FS and GS are the guest's selectors exactly, and unusable
 *   where the guest's are null (their hidden parts are set through KVM's
 *   sregs, so they need no descriptor).  A guest that reads a selector,
 *   as an OS does when it builds its IDT gates from `mov %cs`, sees its
 *   own index.  Only the indices of the
 *   current CS and SS hold descriptors: any other selector the guest loads
 *   still traps and is emulated against its own GDT, and a far transfer
 *   can only land on the code segment it is already in.  A data-segment
 *   load the real CPU lets through (DS from SS's index, say) is seen at
 *   the next trap, where the real selector is not the one ombra last set,
 *   and done then against the guest's GDT (a fault it raises comes at that
 *   trap, not at the load).
 * - On kvm_pvm: fixed selectors at the top of the monitor's GDT
 *   (SEL_USER_*); guest CPL-3 code runs on the host's own GDT there, so a
 *   guest reading its selectors sees the host's (docs/shadow.md).
 */
#include "shadow.h"

#include <string.h>

#include "machine.h"

static uint64_t *gdt(struct shadow *sh)
{
	return (uint64_t *)(sh->mon + MON_GDT);
}

/* The guest's GDT index for its CS or SS, when it can be the real one. */
static unsigned mirror_index(const struct shadow *sh, uint16_t sel)
{
	unsigned i = sel >> 3;

	if (!sh->real.mirror || (sel & 4) || i == 0 || i >= MON_GDT_GUEST_END)
		return 0;
	return i;
}

void realseg_init(struct shadow *sh, bool mirror)
{
	struct realseg *rs = &sh->real;

	memset(rs, 0, sizeof(*rs));
	rs->mirror = mirror;
	rs->cs = SEL_USER_CS32;
	rs->ss = SEL_USER_DS;
	for (unsigned i = 0; i < 4; i++)
		rs->data[i] = SEL_USER_DS;
}

void realseg_select(struct shadow *sh)
{
	struct realseg *rs = &sh->real;
	bool l = vcpu_long(&sh->v) && sh->v.cs.l;
	unsigned want[2] = { mirror_index(sh, sh->v.cs.sel), mirror_index(sh, sh->v.ss.sel) };
	uint64_t desc[2] = { machine_seg_desc(3, 1, l, !l), machine_seg_desc(3, 0, 0, 1) };

	if (want[1] == want[0])
		want[1] = 0;                         /* not a state the guest's CPU allows */
	for (unsigned k = 0; k < 2; k++)
		if (rs->idx[k] && rs->idx[k] != want[0] && rs->idx[k] != want[1])
			gdt(sh)[rs->idx[k]] = 0;
	for (unsigned k = 0; k < 2; k++) {
		if (want[k])
			gdt(sh)[want[k]] = desc[k];
		rs->idx[k] = (uint16_t)want[k];
	}
	rs->cs = want[0] ? (uint16_t)(want[0] << 3 | 3) : (l ? SEL_USER_CS64 : SEL_USER_CS32);
	rs->cs64 = l;
	rs->ss = want[1] ? (uint16_t)(want[1] << 3 | 3) : SEL_USER_DS;
}

static struct kvm_segment *real_data(struct kvm_sregs *s, unsigned i)
{
	struct kvm_segment *r[4] = { &s->ds, &s->es, &s->fs, &s->gs };

	return r[i];
}

static struct vseg *guest_data(struct shadow *sh, unsigned i)
{
	struct vseg *g[4] = { &sh->v.ds, &sh->v.es, &sh->v.fs, &sh->v.gs };

	return g[i];
}

bool realseg_data(struct shadow *sh, struct kvm_sregs *s)
{
	struct realseg *rs = &sh->real;
	bool changed = false;

	if (!rs->mirror)
		return false;
	for (unsigned i = 0; i < 4; i++) {
		const struct vseg *g = guest_data(sh, i);
		struct kvm_segment *r = real_data(s, i);

		/* A null (or nulled) segment is unusable, so an access through
		 * it faults outside 64-bit mode as on the guest's CPU; the rest
		 * of the hidden part stays ombra's flat DPL-3 data. */
		if (r->selector != g->sel || r->present != g->p || r->unusable != !g->p) {
			r->selector = g->sel;
			r->present = g->p;
			r->unusable = !g->p;
			changed = true;
		}
		rs->data[i] = g->sel;
	}
	return changed;
}

void realseg_sregs_changed(struct shadow *sh)
{
	struct kvm_run *run = sh->vm->kvm.run;

	/* KVM takes the whole of kvm_run's sregs with the next KVM_RUN.  Its
	 * interrupt bitmap must be empty: KVM_SET_SREGS queues the interrupt
	 * it names, and the one the snapshot of the last exit names, if any,
	 * is not pending any more (queued again, it was delivered inside the
	 * monitor's resume: the irq kernel's kick, vector 32, after a MOV to
	 * GS in its 32-bit boot code). */
	memset(run->s.regs.sregs.interrupt_bitmap, 0, sizeof(run->s.regs.sregs.interrupt_bitmap));
	run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
}

void realseg_base_follows(struct shadow *sh, unsigned i)
{
	struct kvm_sregs *s = &sh->vm->kvm.run->s.regs.sregs;

	if (i == 2) {
		sh->v.fs_base = sh->v.fs.base & 0xffffffffULL;
		s->fs.base = sh->v.fs_base;
	} else if (i == 3) {
		sh->v.gs_base = sh->v.gs.base & 0xffffffffULL;
		s->gs.base = sh->v.gs_base;
	} else {
		return;
	}
	realseg_sregs_changed(sh);
}

enum trap_result realseg_trap(struct shadow *sh)
{
	struct realseg *rs = &sh->real;
	struct kvm_sregs *s = &sh->vm->kvm.run->s.regs.sregs;

	if (!rs->mirror)
		return TRAP_RESUME;
	for (unsigned i = 0; i < 4; i++) {
		uint16_t sel = real_data(s, i)->selector;
		enum trap_result r;

		if (sel == rs->data[i])
			continue;
		/* A load the real CPU made without a trap: do it now. */
		rs->data[i] = sel;
		sh->native_seg_loads++;
		r = load_segment(sh, guest_data(sh, i), sel, false);
		if (r != TRAP_RESUME)
			return r;
		if (sel & ~3)
			realseg_base_follows(sh, i);
	}
	return TRAP_RESUME;
}
