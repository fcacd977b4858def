/*
 * tdp mode.  There is little to do: KVM runs the guest at ring 0 and its MMU
 * does the second translation (GPA -> host frame) itself, filling EPT/NPT
 * entries (or, on a host without them, its own shadow entries) lazily on
 * violations.  ombra's part is to enter the kernel the way a multiboot
 * loader does, to create KVM's in-kernel irqchip and PIT wired as a PC
 * (local APIC, I/O APIC, PIC pair, PIT: tdp_devices), and to say honestly
 * which MMU the host's KVM used.  Its counters are KVM's binary stats,
 * under KVM's names (tdp_counters).  With --trace, KVM's own events too:
 * its kvm and kvmmmu tracepoints, from an ftrace instance of ombra's own in
 * tracefs, read at each trace sample (ktrace.c, docs/trace.md).
 */
#include "tdp.h"
#include "ktrace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "host/disasm.h"
#include "host/hostmmu.h"
#include "vmm/chain.h"
#include "vmm/counters.h"
#include "vmm/gdbstub.h"
#include "x86/x86.h"

/* Flat 4 GiB segments, as the multiboot specification promises the kernel. */
static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}


static void tdp_trace_header(struct vm *vm, json_t *hdr)
{
	struct tdp_ktrace *k = vm->mode_data;
	json_t *un = json_object_get(hdr, "unavailable");
	bool kvm = k && k->pipe_fd >= 0;

	json_array_append_new(un, json_string(
		kvm ? "fill, inject, invlpg, cr3_load and the other MMU events of ombra's shadow MMU: in tdp "
		      "mode they happen inside KVM and the CPU; ombra sees the exits it handles (exit records), "
		      "KVM's counters (sample records) and KVM's tracepoints (kvm records)"
		    : "fill, inject, invlpg, cr3_load and the other MMU events: in tdp mode they happen "
		      "inside KVM and the CPU; ombra sees only the exits it handles (exit records) and "
		      "KVM's counters (sample records)"));
	if (kvm) {
		json_object_set_new(hdr, "kvm_source", json_string(k->source));
		json_object_set(hdr, "kvm_tracepoints", k->tracepoints);
		/* the header is the run's first record: the events start now */
		if (write(k->on_fd, "1", 1) < 0)
			json_array_append_new(un, json_sprintf("kvm and kvmmmu tracepoints: cannot start %s: %s",
							       k->source, strerror(errno)));
	} else {
		json_array_append_new(un, json_string(k && k->why[0] ? k->why
							: "kvm and kvmmmu tracepoints: not read"));
	}
}

static void tdp_teardown(struct vm *vm)
{
	struct tdp_ktrace *k = vm->mode_data;

	if (!k)
		return;
	ktrace_close(k);
	json_decref(k->tracepoints);
	free(k);
	vm->mode_data = NULL;
}

/* The machine state at the kernel's first instruction (vm->entry). */
static int tdp_setup(struct vm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct hostmmu mmu;

	hostmmu_detect("", &mmu);
	snprintf(vm->host_mmu, sizeof(vm->host_mmu), "%s", mmu.summary);
	snprintf(vm->host_mmu_kind, sizeof(vm->host_mmu_kind), "%s", hostmmu_kind_name(mmu.kind));
	{
		char gaps[256];

		kvm_host_cpuid_gaps(&vm->host, gaps, sizeof(gaps));
		if (gaps[0])
			snprintf(vm->host_notes, sizeof(vm->host_notes),
				 "this host's KVM cannot give a guest %s, which ombra's CPUID table offers: "
				 "a guest that uses them faults in tdp mode (shadow mode provides them)", gaps);
		if (strcmp(mmu.module, "kvm_pvm") == 0)
			snprintf(vm->host_notes + strlen(vm->host_notes),
				 sizeof(vm->host_notes) - strlen(vm->host_notes),
				 "%skvm_pvm runs no 32-bit paging: a guest that enables 2-level or PAE paging gets #GP in tdp mode",
				 vm->host_notes[0] ? "; " : "");
		if (strcmp(mmu.module, "kvm_pvm") == 0 && vm->is_linux) {
			/* Said at once: the guest may print nothing for minutes. */
			fprintf(vm->log, "ombra: this host's KVM (kvm_pvm) emulates every ring-0 instruction of its guests: "
				"Linux boots very slowly here, if at all (docs/host.md)\n");
			fflush(vm->log);
		}
	}

	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "KVM_GET_SREGS failed: %s", strerror(errno));
	flat_segment(&sregs.cs, BOOT_CS, 0xb);  /* code, execute/read, accessed */
	flat_segment(&sregs.ds, BOOT_DS, 0x3);  /* data, read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = CR0_PE | CR0_ET;            /* protected mode, paging off */
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (vm->entry.long_mode) {              /* 64-bit mode on the loader's tables */
		sregs.cs.l = 1;
		sregs.cs.db = 0;
		sregs.cr0 |= CR0_PG;
		sregs.cr3 = vm->entry.cr3;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
		sregs.gdt.base = vm->entry.gdt_base;
		sregs.gdt.limit = vm->entry.gdt_limit;
	}
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "KVM_SET_SREGS failed: %s", strerror(errno));

	memset(&regs, 0, sizeof(regs));
	regs.rip = vm->entry.rip;
	regs.rax = vm->entry.rax;
	regs.rbx = vm->entry.rbx;
	regs.rsi = vm->entry.rsi;
	regs.rflags = 0x2;                      /* reserved bit 1; IF=0 */
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "KVM_SET_REGS failed: %s", strerror(errno));

	if (vm->cfg.trace_path) {
		struct tdp_ktrace *k = calloc(1, sizeof(*k));

		if (!k)
			return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOMEM, "no memory for the --trace reader");
		vm->mode_data = k;
		ktrace_open(k);
		if (k->dir_fd >= 0 && vm->ndir_fds < sizeof(vm->dir_fds) / sizeof(vm->dir_fds[0]))
			vm->dir_fds[vm->ndir_fds++] = k->dir_fd;    /* the instance goes at the end */
	}
	return 0;
}

/* Registers and the instruction at RIP, for a guest that died, from KVM's
 * view of the vCPU (the instruction found with KVM_TRANSLATE). */
static void tdp_guest_state(struct vm *vm, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_translation tr;
	char text[128] = "(instruction not readable)", bytes[64] = "";
	uint8_t code[15];
	int bits;

	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, len,
			 "ombra: cannot read the vCPU's registers: %s\n", strerror(errno));
		return;
	}
	bits = (sregs.efer & EFER_LMA) && sregs.cs.l ? 64 : sregs.cs.db ? 32 : 16;
	memset(&tr, 0, sizeof(tr));
	tr.linear_address = sregs.cs.base + regs.rip;
	if (ioctl(vm->kvm.vcpu_fd, KVM_TRANSLATE, &tr) == 0 && tr.valid) {
		size_t n = 0;

		while (n < sizeof(code) && mem_read(&vm->mem, tr.physical_address + n, code + n, 1) == 0)
			n++;
		disasm_report(code, n, regs.rip, bits, text, sizeof(text), bytes, sizeof(bytes));
	}
	/* KVM on AMD re-initializes the vCPU after a shutdown intercept (the
	 * VMCB is undefined after one): what it gives back then is the INIT
	 * state, not where the guest was.  Say so rather than show it as such. */
	if (vm->kvm.run->exit_reason == KVM_EXIT_SHUTDOWN && regs.rip == 0xfff0 &&
	    sregs.cs.base == 0xffff0000) {
		snprintf(buf, len,
			 "ombra: guest state: lost: after the shutdown the host's KVM handed back the vCPU in its "
			 "INIT state (rip 0xfff0, cs base 0xffff0000), as KVM on AMD does (docs/host.md)\n");
		return;
	}
	snprintf(buf, len,
		"ombra: guest state: %d-bit mode, CPL %u, rip %#llx: %s [%s]\n"
		"ombra:   rax %#llx rbx %#llx rcx %#llx rdx %#llx rsi %#llx rdi %#llx\n"
		"ombra:   rsp %#llx rbp %#llx rflags %#llx\n"
		"ombra:   cr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx efer %#llx\n",
		bits, sregs.cs.selector & 3, (unsigned long long)regs.rip, text, bytes,
		(unsigned long long)regs.rax, (unsigned long long)regs.rbx,
		(unsigned long long)regs.rcx, (unsigned long long)regs.rdx,
		(unsigned long long)regs.rsi, (unsigned long long)regs.rdi,
		(unsigned long long)regs.rsp, (unsigned long long)regs.rbp,
		(unsigned long long)regs.rflags, (unsigned long long)sregs.cr0,
		(unsigned long long)sregs.cr2, (unsigned long long)sregs.cr3,
		(unsigned long long)sregs.cr4, (unsigned long long)sregs.efer);
}

/* The translation chain in tdp mode: ombra walks the guest's tables with
 * the registers KVM gives (an ioctl, but not on any hot path); the second
 * half, GPA -> host frame, is KVM's EPT/NPT (or its shadow) and the host's,
 * which ombra follows through the memslot and /proc/self/pagemap. */
static void tdp_explain(struct vm *vm, uint64_t gva, json_t *obj)
{
	static const char *const path[] = {
		[WALK_PAGING32] = "paging32", [WALK_PAGING32E] = "paging32e", [WALK_PAGING64] = "paging64",
	};
	struct kvm_sregs sregs;
	struct walk_ctx w;
	enum walk_mode mode;
	unsigned flags;

	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		json_object_set_new(obj, "note", json_string("KVM_GET_SREGS failed"));
		return;
	}
	if (!walk_mode_of(sregs.cr0, sregs.cr4, sregs.efer, &mode, &flags)) {
		chain_guest(&vm->mem, false, "nonpaging", NULL, gva, obj);
		return;
	}
	walk_init(&w, mode, flags, 0, walk_gpa_mem, &vm->mem);
	walk_set_cr3(&w, sregs.cr3);
	chain_guest(&vm->mem, true, path[mode], &w, gva, obj);
}

/* --- counters: KVM's binary stats ------------------------------------------ */

/* The change of KVM's stat name since the run began: from the stats read at
 * its end (vcpu1, vm1) or now; the vCPU's set first, then the VM's. */
static bool stat_delta(const struct vm *vm, const struct kstats *vcpu1, const struct kstats *vm1,
		       const char *name, uint64_t *v)
{
	const struct kstat *e = kstats_find(vcpu1, name);

	if (e) {
		*v = kstat_delta(kstats_find(&vm->vcpu_stats0, name), e);
		return true;
	}
	e = kstats_find(vm1, name);
	if (e) {
		*v = kstat_delta(kstats_find(&vm->vm_stats0, name), e);
		return true;
	}
	return false;
}

/* The MMU counters are KVM's own, under their own names: over the run once
 * it is over, else read now (a pread of each stats file). */
static void tdp_counters(struct vm *vm, struct counters *out)
{
	struct kstats vcpu_now, vm_now;
	const struct kstats *vcpu1 = &vm->vcpu_stats1, *vm1 = &vm->vm_stats1;
	bool live = vm->vcpu_stats1.n == 0 && vm->vm_stats1.n == 0;
	char why[128];

	memset(&vcpu_now, 0, sizeof(vcpu_now));
	memset(&vm_now, 0, sizeof(vm_now));
	if (live) {
		if (vm->kvm.vcpu_stats_fd >= 0)
			kstats_read(vm->kvm.vcpu_stats_fd, &vcpu_now, why, sizeof(why));
		if (vm->kvm.vm_stats_fd >= 0)
			kstats_read(vm->kvm.vm_stats_fd, &vm_now, why, sizeof(why));
		vcpu1 = &vcpu_now;
		vm1 = &vm_now;
	}
	counters_add(out, "userspace_exits", vm->exits);
	for (int i = 0; vm_mmu_counters[i]; i++) {
		uint64_t v;

		if (stat_delta(vm, vcpu1, vm1, vm_mmu_counters[i], &v))
			counters_add(out, vm_mmu_counters[i], v);
	}
	kstats_free(&vcpu_now);
	kstats_free(&vm_now);
}

/* A trace sample: KVM's fault and INVLPG counts now. */
static void tdp_sample(struct vm *vm, json_t *obj)
{
	static const char *const names[] = { "pf_fixed", "pf_guest", "pf_taken", "invlpg", NULL };
	struct counters c = { .n = 0 };

	json_object_set_new(obj, "exits", json_integer((json_int_t)vm->exits));
	tdp_counters(vm, &c);
	for (unsigned i = 0; i < c.n; i++)
		for (int j = 0; names[j]; j++)
			if (strcmp(c.c[i].name, names[j]) == 0)
				json_object_set_new(obj, names[j], json_integer((json_int_t)c.c[i].value));
}

/* --- the PC's interrupt hardware: KVM's --------------------------------------- */

/*
 * A PC's interrupt wiring, as QEMU gives KVM: ISA IRQs 0-15 to the PIC
 * pair (2 is the cascade), and to the IOAPIC pin of the same number but
 * IRQ 0, the PIT's, which goes to pin 2 (the override every PC's ACPI
 * tables state).  KVM's own default sends IRQ 0 to pin 0.
 */
static int set_pc_irq_routing(struct vm *vm)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[40];
	} t;
	unsigned n = 0;

	memset(&t, 0, sizeof(t));
	for (unsigned gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue;
		t.e[n].gsi = gsi;
		t.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		t.e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		t.e[n++].u.irqchip.pin = gsi % 8;
	}
	for (unsigned gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		t.e[n].gsi = gsi;
		t.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		t.e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		t.e[n++].u.irqchip.pin = gsi ? gsi : 2;
	}
	t.r.nr = n;
	return ioctl(vm->kvm.fd, KVM_SET_GSI_ROUTING, &t.r) < 0 ? -errno : 0;
}

/* A board device's ISA line (COM1's IRQ 4), to KVM's PIC and I/O APIC. */
static void tdp_set_irq(void *opaque, unsigned irq, bool level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(vm->kvm.fd, KVM_IRQ_LINE, &l) < 0)
		fprintf(vm->log, "ombra: KVM_IRQ_LINE (IRQ %u) failed: %s\n", irq, strerror(errno));
}

/* KVM's local APIC, I/O APIC and PIC pair (KVM_CREATE_IRQCHIP), wired as a
 * PC, and its PIT with port 0x61, as QEMU asks for them. */
static int tdp_devices(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int r;

	if (!kvm_host_check_cap(&vm->host, KVM_CAP_IRQCHIP))
		return 0;
	if (ioctl(vm->kvm.fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
	if (kvm_host_check_cap(&vm->host, KVM_CAP_IRQ_ROUTING) && (r = set_pc_irq_routing(vm)) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "KVM_SET_GSI_ROUTING failed: %s", strerror(-r));
	if (kvm_host_check_cap(&vm->host, KVM_CAP_PIT2) && ioctl(vm->kvm.fd, KVM_CREATE_PIT2, &pit) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "KVM_CREATE_PIT2 failed: %s", strerror(errno));
	vm->board.set_irq = tdp_set_irq;
	vm->board.irq_opaque = vm;
	return 0;
}

/* --- what tdp mode leaves to KVM ----------------------------------------------- */

/* --- the gdbstub: KVM_SET_GUEST_DEBUG ------------------------------------------------ */

/* gdb's register file from KVM's registers, or KVM's from gdb's. */
static int tdp_debug_regs(struct vm *vm, struct gdb_regs *g, bool write)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	__u64 *gpr[16] = { &r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rbp, &r.rsp,
			      &r.r8, &r.r9, &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15 };

	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	if (write) {
		/* The general registers, RIP and RFLAGS; the segments stay. */
		for (int i = 0; i < 16; i++)
			*gpr[i] = g->gpr[i];
		r.rip = g->rip;
		r.rflags = g->eflags | 0x2;
		return ioctl(vm->kvm.vcpu_fd, KVM_SET_REGS, &r) < 0 ? -errno : 0;
	}
	for (int i = 0; i < 16; i++)
		g->gpr[i] = *gpr[i];
	g->rip = r.rip;
	g->eflags = (uint32_t)r.rflags;
	g->seg[0] = s.cs.selector;
	g->seg[1] = s.ss.selector;
	g->seg[2] = s.ds.selector;
	g->seg[3] = s.es.selector;
	g->seg[4] = s.fs.selector;
	g->seg[5] = s.gs.selector;
	return 0;
}

/* Guest-virtual memory: ombra walks the guest's tables (x86/walk.c) with
 * the control registers KVM gives, as --explain does; paging off, the
 * address is the guest-physical one. */
struct debug_walk {
	struct walk_ctx w;
	bool paging, lma;
};

static bool debug_xlate(void *opaque, uint64_t gva, uint64_t *gpa)
{
	struct debug_walk *d = opaque;
	struct walk_result res;

	if (!d->lma)
		gva &= 0xffffffffULL;
	if (!d->paging) {
		*gpa = gva;
		return true;
	}
	if (walk_gva(&d->w, gva, WALK_PEEK, &res) != WALK_OK)
		return false;
	*gpa = res.gpa;
	return true;
}

static int tdp_debug_mem(struct vm *vm, uint64_t gva, void *buf, size_t len, bool write)
{
	struct kvm_sregs s;
	struct debug_walk d;
	enum walk_mode mode;
	unsigned flags;

	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	d.lma = s.efer & EFER_LMA;
	d.paging = walk_mode_of(s.cr0, s.cr4, s.efer, &mode, &flags);
	if (d.paging) {
		walk_init(&d.w, mode, flags, 0, walk_gpa_mem, &vm->mem);
		walk_set_cr3(&d.w, s.cr3);
	}
	return mem_copy_virt(&vm->mem, gva, buf, len, write, debug_xlate, &d);
}

/* KVM intercepts #BP (ombra's INT3 bytes: USE_SW_BP), loads gdb's
 * hardware breakpoints into DR0-DR3 and DR7 (USE_HW_BP) and steps with
 * TF (SINGLESTEP), with interrupts held off while stepping (BLOCKIRQ,
 * where this KVM has it). */
static void tdp_debug_resume(struct vm *vm, bool attached, bool step)
{
	struct kvm_guest_debug dbg;

	uint64_t hw[4];
	unsigned nhw = vm_debug_hw_breakpoints(vm, hw);

	memset(&dbg, 0, sizeof(dbg));
	if (attached)
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
	if (attached && nhw) {
		/* DR0-DR3 on instruction fetches (R/W 00, LEN 00), globally
		 * enabled (G0-G3), as QEMU sets them. */
		dbg.control |= KVM_GUESTDBG_USE_HW_BP;
		dbg.arch.debugreg[7] = 0x600;
		for (unsigned i = 0; i < nhw; i++) {
			dbg.arch.debugreg[i] = hw[i];
			dbg.arch.debugreg[7] |= 2ULL << (2 * i);
		}
	}
	if (attached && step) {
		dbg.control |= KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_BLOCKIRQ;
		if (ioctl(vm->kvm.vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) == 0)
			return;
		dbg.control &= ~(uint32_t)KVM_GUESTDBG_BLOCKIRQ;   /* before Linux 5.16 */
	}
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
		vm_end(vm, END_HOST_ERROR, OMBRA_EXIT_HOST_ERROR, "KVM_SET_GUEST_DEBUG failed: %s",
		       strerror(errno));
}

/* Outside KVM_RUN the vCPU stands still: stop for gdb now. */
static void tdp_debug_break(struct vm *vm, int sig)
{
	vm_debug_stop(vm, sig);
}

/* KVM_EXIT_DEBUG: a step done, or an INT3.  One of gdb's stops the guest
 * for gdb; the guest's own goes into the guest (INJECT_BP). */
static bool tdp_debug_exit(struct vm *vm)
{
	struct kvm_debug_exit_arch *d = &vm->kvm.run->debug.arch;

	if (d->exception == 3 && !vm_debug_breakpoint(vm, d->pc)) {
		struct kvm_guest_debug dbg;

		memset(&dbg, 0, sizeof(dbg));
		dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP | KVM_GUESTDBG_INJECT_BP;
		if (ioctl(vm->kvm.vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
			vm_end(vm, END_HOST_ERROR, OMBRA_EXIT_HOST_ERROR, "KVM_SET_GUEST_DEBUG failed: %s",
			       strerror(errno));
		return true;
	}
	vm_debug_stop(vm, 5);
	return true;
}

/* Every exit goes to the shared loop: KVM handled the rest already; but
 * for the gdbstub's (KVM_EXIT_DEBUG only comes with -gdb). */
static bool tdp_exit(struct vm *vm)
{
	if (vm->kvm.run->exit_reason == KVM_EXIT_DEBUG)
		return tdp_debug_exit(vm);
	return false;
}

/* KVM's own timers (APIC, PIT) interrupt the guest: nothing for ombra. */
static uint64_t tdp_next_event(struct vm *vm)
{
	(void)vm;
	return 0;
}

static void tdp_kick(struct vm *vm)
{
	(void)vm;
}

/* KVM follows a memslot change by itself (it zaps its own entries). */
static void tdp_memory_changed(struct vm *vm, uint64_t gfn, uint64_t count)
{
	(void)vm;
	(void)gfn;
	(void)count;
}

const struct vm_mode tdp_mode = {
	.name = "tdp",
	.kvm_counters = true,
	.debug_hw_max = 4,
	.devices = tdp_devices,
	.setup = tdp_setup,
	.trace_header = tdp_trace_header,
	.exit = tdp_exit,
	.next_event = tdp_next_event,
	.kick = tdp_kick,
	.memory_changed = tdp_memory_changed,
	.explain = tdp_explain,
	.trace_events = ktrace_drain,
	.sample = tdp_sample,
	.counters = tdp_counters,
	.guest_state = tdp_guest_state,
	.debug_regs = tdp_debug_regs,
	.debug_mem = tdp_debug_mem,
	.debug_resume = tdp_debug_resume,
	.debug_break = tdp_debug_break,
	.teardown = tdp_teardown,
};
