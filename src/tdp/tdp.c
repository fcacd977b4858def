/*
 * tdp mode.  There is little to do: KVM runs the guest at ring 0 and its MMU
 * does the second translation (GPA -> host frame) itself, filling EPT/NPT
 * entries (or, on a host without them, its own shadow entries) lazily on
 * violations.  ombra's part is to enter the kernel the way a multiboot
 * loader does, to let KVM's in-kernel irqchip and PIT provide the interrupt
 * hardware (local APIC, I/O APIC, PIC pair, PIT; kvm.c), and to say
 * honestly which MMU the host's KVM used.  Counters come from KVM's binary
 * stats, read by the shared run loop.
 */
#include "tdp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../shadow/chain.h"
#include "hostmmu.h"

#define CR0_PE 0x1u
#define CR0_ET 0x10u

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

/* The machine state at a multiboot kernel's first instruction. */
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
	}

	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	flat_segment(&sregs.cs, 0x10, 0xb);     /* code, execute/read, accessed */
	flat_segment(&sregs.ds, 0x18, 0x3);     /* data, read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = CR0_PE | CR0_ET;            /* protected mode, paging off */
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rip = vm->boot.entry;
	regs.rax = MB_BOOTLOADER_MAGIC;
	regs.rbx = vm->boot.info_gpa;
	regs.rflags = 0x2;                      /* reserved bit 1; IF=0 */
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/* The translation chain in tdp mode: ombra walks the guest's tables with
 * the registers KVM gives (an ioctl, but not on any hot path); the second
 * half, GPA -> host frame, is KVM's EPT/NPT (or its shadow) and the host's,
 * which ombra follows through the memslot and /proc/self/pagemap. */
static void tdp_explain(struct vm *vm, uint64_t gva, json_t *obj)
{
	struct kvm_sregs sregs;
	struct walk_ctx w;
	enum walk_mode mode;
	const char *path;
	unsigned flags = 0;

	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		json_object_set_new(obj, "note", json_string("KVM_GET_SREGS failed"));
		return;
	}
	if (!(sregs.cr0 & 0x80000000ULL)) {
		chain_guest(&vm->mem, false, "nonpaging", NULL, gva, obj);
		return;
	}
	if (sregs.efer & (1u << 10)) {
		mode = WALK_PAGING64;
		path = "paging64";
	} else if (sregs.cr4 & 0x20) {
		mode = WALK_PAGING32E;
		path = "paging32e";
	} else {
		mode = WALK_PAGING32;
		path = "paging32";
	}
	if (sregs.cr0 & (1u << 16))
		flags |= WALK_CR0_WP;
	if (sregs.cr4 & 0x10)
		flags |= WALK_CR4_PSE;
	if ((sregs.efer & (1u << 11)) && mode != WALK_PAGING32)
		flags |= WALK_EFER_NXE;
	walk_init(&w, mode, flags, 0, walk_gpa_mem, &vm->mem);
	walk_set_cr3(&w, sregs.cr3);
	chain_guest(&vm->mem, true, path, &w, gva, obj);
}

const struct vm_mode tdp_mode = {
	.name = "tdp",
	.irqchip = true,
	.setup = tdp_setup,
	.exit = NULL,
	.explain = tdp_explain,
};
