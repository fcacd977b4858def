/*
 * Shadow mode, the mode table: the guest kernel runs deprivileged under
 * ombra's monitor, on page tables ombra builds itself (docs/shadow.md).
 *
 * The machine.  The KVM VM ombra runs is a long-mode machine it owns: the
 * monitor region at MPA 0 (code, GDT, IDT, TSS, trap stack; monitor.h),
 * the shadow-page pool after it, and guest RAM at MPA = GPA + 256 GiB, so
 * GPA, HVA and MPA are three different numbers.  The real CPU starts at
 * the kernel's entry point at CPL 3 in a compatibility-mode segment, on a
 * shadow root that maps guest-physical memory straight through (the guest
 * has paging off).
 *
 * This file sets it up (shadow_setup) and reports on it (the counters, the
 * translation chain, trace samples, the guest's state when it died); the
 * trap path is trap.c, and the hooks of a guest that runs with no trap are
 * intr.c's.
 */
#include "shadow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "host/hostmmu.h"
#include "vmm/explain.h"
#include "vmm/chain.h"
#include "machine.h"

/* --- set-up ------------------------------------------------------------------ */

/* --shadow-sync, as the MMU names it. */
static const enum mmu_sync mmu_sync_of[] = {
	[SHADOW_SYNC_VTLB] = SYNC_VTLB, [SHADOW_SYNC_WP] = SYNC_WP, [SHADOW_SYNC_UNSYNC] = SYNC_UNSYNC,
};

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

/* The guest's view at the kernel's entry (vm->entry): protected mode,
 * paging off, flat segments 0x10 (code) and 0x18 (data), interrupts off;
 * or, for the Linux loader, the same in 64-bit mode on its tables. */
static void vcpu_reset(struct vcpu *v, const struct boot_entry *e)
{
	struct vseg code = { BOOT_CS, 0, 0xffffffff, 0xb, 1, 0, 1, 0, 1, 1 };
	struct vseg data = { BOOT_DS, 0, 0xffffffff, 0x3, 1, 0, 1, 0, 1, 1 };

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
	if (e->long_mode) {
		v->cs.l = 1;
		v->cs.db = 0;
		v->cr0 |= CR0_PG;
		v->cr3 = e->cr3;
		v->cr4 = CR4_PAE;
		v->efer = EFER_LME | EFER_LMA;
		v->gdtr.base = e->gdt_base;
		v->gdtr.limit = e->gdt_limit;
	}
}

/* The pool: 1/8 of guest RAM in pages, 1024 to 65536, unless --shadow-pages
 * says; never more than the monitor maps. */
static unsigned pool_pages_for(const struct vm *vm, const struct shadow_opts *opts)
{
	unsigned pool_pages = (unsigned)(vm->cfg.ram_size >> 12) / 8;

	if (pool_pages < 1024)
		pool_pages = 1024;
	if (pool_pages > 65536)
		pool_pages = 65536;
	if (opts->pages)
		pool_pages = opts->pages;
	if ((uint64_t)pool_pages << 12 > MON_POOL_MAX)
		pool_pages = (unsigned)(MON_POOL_MAX >> 12);
	return pool_pages;
}

int shadow_build(struct shadow *sh, struct vm *vm, const struct shadow_opts *opts,
		 uint8_t *mon, uint8_t *pool, unsigned pool_pages)
{
	static const struct shadow_opts defaults = SHADOW_OPTS_DEFAULT;
	size_t blob = (size_t)(monitor_blob_end - monitor_blob);
	int r;

	vm->mode_data = sh;
	sh->vm = vm;
	sh->opts = opts ? *opts : defaults;
	sh->mon = mon;
	sh->pool = pool;
	sh->pool_size = (size_t)pool_pages << 12;
	if (decode_open(sh) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOMEM, "capstone could not be opened");
	r = shadow_irq_init(sh);
	if (r < 0)
		return r;

	/* 1. The monitor region: code, GDT, IDT, TSS, its page tables. */
	if (blob > MON_MAILBOX)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -E2BIG, "the monitor is %zu bytes, more than its %d",
			       blob, MON_MAILBOX);
	memcpy(sh->mon, monitor_blob, blob);
	sh->mon_slot = sh->host_pvm ? MON_SLOT_PVM : MON_SLOT;
	sh->mon_va = mon_va(sh->mon_slot);
	sh->mon_pml4e = machine_build(sh->mon, sh->mon_va, POOL_MPA, sh->pool_size);

	/* 2. The shadow MMU over the pool. */
	r = mmu_init(&sh->mmu, &vm->mem, sh->pool, POOL_MPA, pool_pages, sh->mon_slot, sh->mon_pml4e);
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "the shadow MMU over %u pool pages: %s", pool_pages,
			       strerror(-r));
	sh->mmu.sync = mmu_sync_of[sh->opts.sync];
	sh->mmu.prefetch = sh->opts.prefetch;
	sh->mmu.large_pages = !sh->opts.no_large;
	if (sh->opts.patch) {
		/* Where ombra owns the GDT, DS, ES, FS and GS read as the guest
		 * loaded them; on kvm_pvm every selector read is the host's. */
		unsigned sregs = sh->host_pvm ? 0x3f : (1u << PATCH_CS) | (1u << PATCH_SS);

		if (patch_init(&sh->patch, sregs) < 0)
			return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOMEM, "the code scanner could not be set up");
		sh->patching = true;
		sh->mmu.code = &sh->patch;
	}

	/* 3. The guest's CPU at the kernel's entry, and the MMU context for it. */
	vcpu_reset(&sh->v, &vm->entry);
	shadow_cpu_changed(sh, false, false);
	realseg_init(sh, true);
	return 0;
}

void shadow_unbuild(struct shadow *sh)
{
	mmu_destroy(&sh->mmu);
	if (sh->patching)
		patch_destroy(&sh->patch);
	decode_close(sh);
}

static int register_region(struct vm *vm, uint32_t id, uint64_t mpa, uint8_t *hva, uint64_t size)
{
	return kvm_vm_set_region(&vm->kvm, id, 0, mpa, size, hva);
}

/* The machine built, then given to KVM: its memory at MPAs of its own,
 * CPUID, and the real vCPU in long mode with the guest at CPL 3. */
static int shadow_setup(struct vm *vm)
{
	struct shadow *sh = calloc(1, sizeof(*sh));
	const struct shadow_opts *opts = vm->cfg.mode_opts;
	static const struct shadow_opts defaults = SHADOW_OPTS_DEFAULT;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	unsigned pool_pages;
	uint8_t *mon, *pool;
	int r;

	if (!sh)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOMEM, "no memory for shadow mode's state");
	vm->mode_data = sh;
	sh->vm = vm;

	/* 1. Built in memory, as the unit tests and fuzzers build it. */
	pool_pages = pool_pages_for(vm, opts ? opts : &defaults);
	mon = mmap(NULL, MON_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pool = mmap(NULL, (size_t)pool_pages << 12, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mon == MAP_FAILED || pool == MAP_FAILED) {
		if (mon != MAP_FAILED)
			munmap(mon, MON_SIZE);
		if (pool != MAP_FAILED)
			munmap(pool, (size_t)pool_pages << 12);
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOMEM, "cannot map the monitor region and a pool of %u pages",
			       pool_pages);
	}
	{
		struct hostmmu hm;

		/* The host's MMU still maps the VM the monitor runs in; the
		 * guest's translations are ombra's shadow tables.  The host
		 * decides where the monitor lives (shadow_build). */
		hostmmu_detect("", &hm);
		sh->host_pvm = strcmp(hm.module, "kvm_pvm") == 0;
		snprintf(vm->host_mmu, sizeof(vm->host_mmu), "%s, under ombra's shadow tables", hm.summary);
		snprintf(vm->host_mmu_kind, sizeof(vm->host_mmu_kind), "%s", hostmmu_kind_name(hm.kind));
	}
	/* Linux lives in the upper half, which kvm_pvm keeps from the CPL 3
	 * code a shadow-mode guest runs as (docs/host.md). */
	if (sh->host_pvm && vm->is_linux)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOTSUP,
			       "shadow mode cannot run Linux on this host: its KVM (kvm_pvm) keeps the upper half, "
			       "where Linux lives, from the deprivileged guest (docs/host.md); use a VMX or AMD-V host");
	r = shadow_build(sh, vm, opts, mon, pool, pool_pages);
	if (r < 0)
		return r;

	/* 2. The monitor region and the pool, registered at MPAs of their own. */
	r = register_region(vm, MON_SLOT_ID, MON_MPA, sh->mon, MON_SIZE);
	if (r == 0)
		r = register_region(vm, POOL_SLOT_ID, POOL_MPA, sh->pool, sh->pool_size);
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "KVM_SET_USER_MEMORY_REGION for the monitor failed: %s",
			       strerror(-r));

	/* 3. What the guest cannot see of its deprivileging should trap: with
	 * CR4.UMIP, SGDT/SIDT/SLDT/STR/SMSW at CPL 3 raise #GP; with CPUID
	 * faulting, CPUID does, and ombra answers from the same table. */
	{
		char why[256];

		/* --shadow-patch: protection keys too, where the host has them
		 * (patched frames get a key the guest cannot read through). */
		sh->pku = sh->patching && kvm_vm_set_cpuid(&vm->kvm, true, true, why, sizeof(why)) == 0;
		sh->umip = (sh->pku || kvm_vm_set_cpuid(&vm->kvm, true, false, why, sizeof(why)) == 0) &&
			   kvm_vm_set_msr(&vm->kvm, MSR_MISC_FEATURES_ENABLES, 1) == 0;
		/* Without them the guest runs, with the limits docs/shadow.md lists. */
		if (!sh->umip) {
			sh->pku = false;
			if ((r = kvm_vm_set_cpuid(&vm->kvm, false, false, why, sizeof(why))) < 0)
				return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "%s", why);
		}
	}

	/* 4. The real CPU: long mode, monitor tables, guest at CPL 3. */
	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "KVM_GET_SREGS failed: %s", strerror(errno));
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr4 = CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | (sh->umip ? CR4_UMIP : 0);
	sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	sregs.cr3 = mmu_root(&sh->mmu, &sh->ctx);
	mmu_root_loaded(&sh->mmu, sregs.cr3);
	sh->mmu.need_reload = false;
	sregs.gdt.base = sh->mon_va + MON_GDT;
	sregs.gdt.limit = MON_GDT_LIMIT;
	sregs.idt.base = sh->mon_va + MON_IDT;
	sregs.idt.limit = 256 * 16 - 1;
	kvm_seg(&sregs.tr, SEL_TSS, sh->mon_va + MON_TSS, 0x67, 0xb, 0, 0, 0, 0, 0);
	kvm_seg(&sregs.ldt, 0, 0, 0xffff, 0x2, 0, 0, 0, 0, 0);
	realseg_init(sh, !sh->host_pvm);
	realseg_select(sh);
	kvm_seg(&sregs.cs, sh->real.cs, 0, 0xffffffff, 0xb, 3, 0, 1, 1, 1);
	kvm_seg(&sregs.ss, sh->real.ss, 0, 0xffffffff, 0x3, 3, 0, 1, 1, 1);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss;
	realseg_data(sh, &sregs);
	if (sh->pku) {
		sregs.cr4 |= CR4_PKE;
		if (ioctl(vm->kvm.vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
			sh->pku = false;        /* the host's KVM has no PKU for its guests */
			sregs.cr4 &= ~CR4_PKE;
		}
	}
	if (!sh->pku && ioctl(vm->kvm.vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno,
			       "KVM_SET_SREGS (shadow mode's long-mode machine) failed: %s", strerror(errno));
	if (sh->patching && !sh->pku)
		snprintf(vm->host_notes, sizeof(vm->host_notes),
			 "this host's KVM gives its guests no protection keys: with --shadow-patch the guest's "
			 "own reads of its patched code see the patch byte (0xf4) where an instruction starts");
	if (sh->pku) {
		/* Key 1 (SPTE_PKEY_PATCH): access disabled, write disabled.
		 * Loaded by the monitor at the first resume, before any
		 * patch exists; key 0, every other page's, stays open. */
		sh->pkru_load = MON_PKRU_LOAD | PKRU_PATCHED;
		sh->mmu.code_pkey = true;
		sh->patch.pkru_insns = true;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = vm->entry.rip;
	regs.rax = vm->entry.rax;
	regs.rbx = vm->entry.rbx;
	regs.rsi = vm->entry.rsi;
	sh->native_if = !sh->host_pvm;
	sh->t.rflags = RFLAGS_FIXED;             /* both protocols: IF clear */
	regs.rflags = shadow_real_rflags(sh);
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "KVM_SET_REGS failed: %s", strerror(errno));
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
	shadow_unbuild(sh);
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
	counters_add(out, "userspace_exits", vm->exits);
	counters_add(out, "traps", sh->traps);
	counters_add(out, "cr3_writes", st->cr3_writes);
	counters_add(out, "root_hits", st->root_hits);
	counters_add(out, "root_misses", st->root_misses);
	counters_add(out, "ad_faults", st->ad_faults);
	counters_add(out, "prefetched", st->prefetched);
	counters_add(out, "mmu_pte_updated", st->mmu_pte_updated);
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
	counters_add(out, "native_seg_loads", sh->native_seg_loads);
	counters_add(out, "native_io", sh->native_io);
	counters_add(out, "shadow_pages", sh->mmu.nr_used);
	counters_add(out, "rmap_zapped", st->rmap_zapped);
	counters_add(out, "unsync_synced", st->unsync_synced);
	counters_add(out, "write_protected", st->write_protected);
	counters_add(out, "host_rewrites", st->host_rewrites);
	counters_add(out, "host_resyncs", st->host_resyncs);
	if (sh->patching) {
		counters_add(out, "code_scans", sh->patch.frames_scanned);
		counters_add(out, "patched_insns", sh->patch.patched_insns);
		counters_add(out, "patch_traps", sh->patch.patch_traps);
		counters_add(out, "code_writes", sh->patch.code_writes);
		counters_add(out, "code_targets_lost", sh->patch.targets_lost);
		counters_add(out, "code_mixed", sh->patch.frames_mixed);
		counters_add(out, "patch_reads", sh->patch_reads);
	}
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
	char buf[24], flags[96];

	chain_guest(&vm->mem, sh->ctx.path != PATH_NONPAGING, mmu_path_names[sh->ctx.path], &sh->ctx.walk,
		    gva, obj);
	json_object_set_new(obj, "shadow_walk", steps);
	json_object_set_new(obj, "shadow_note", json_string(
		"US is set in every shadow entry: the guest's kernel runs at CPL 3 here, so the CPU must let "
		"CPL 3 reach its pages; what the guest keeps from its user code is kept out of the user view's "
		"root instead, which holds only what the guest lets CPL 3 reach (docs/shadow.md)"));
	if (sh->ctx.path == PATH_PAGING64 && ((gva >> 39) & 511) == sh->mon_slot && (gva >> 63)) {
		char why[192];

		snprintf(why, sizeof(why), "the monitor's range: PML4 slot %u of every shadow root maps ombra's "
			 "monitor, so the guest's own mapping of this address is never shadowed (docs/shadow.md)",
			 sh->mon_slot);
		json_object_set_new(obj, "verdict", json_string(why));
		return;
	}
	for (unsigned level = 4; root && level >= 1; level--) {
		uint64_t *spt;

		if (level < 4 && ((e & SPTE_ADDR) < POOL_MPA || (e & SPTE_ADDR) >= POOL_MPA + sh->pool_size))
			break;                          /* not a shadow page: nothing of ombra's to show */
		spt = level == 4 ? root->spt : (uint64_t *)(sh->pool + ((e & SPTE_ADDR) - POOL_MPA));
		e = spt[(gva >> (12 + 9 * (level - 1))) & 511];
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)e);
		/* The shadow's tables are 4-level, 2 MiB leaves at level 2. */
		walk_entry_describe(e, level, WALK_PAGING64, 1u << 2, true, flags, sizeof(flags));
		json_array_append_new(steps, json_pack("{s:i, s:s, s:s}", "level", level, "value", buf,
						       "flags", flags));
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
	struct shadow *sh = vm->mode_data;

	json_object_set_new(hdr, "sync", json_string(names[sh->opts.sync]));
	shadow_trace_start(sh);        /* the run begins: its events follow the header */
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
	const struct kvm_regs *r = &vm->kvm.run->s.regs.regs;
	struct trap now = sh->t;
	const struct trap *t = &now;
	char text[96] = "(instruction not readable)", hex[48] = "";

	/* Stopped by a signal (--timeout, Ctrl-C) while it ran natively, the
	 * guest is where the real CPU left it (KVM stores the registers in
	 * kvm_run at every exit), not at its last trap; unless that was in
	 * the monitor's own code. */
	if (vm->kvm.run->exit_reason == KVM_EXIT_INTR && r->rip - sh->mon_va >= MON_SIZE) {
		now.rip = r->rip;
		now.rflags = r->rflags;
		now.gpr[R_AX] = r->rax; now.gpr[R_CX] = r->rcx; now.gpr[R_DX] = r->rdx; now.gpr[R_BX] = r->rbx;
		now.gpr[R_SP] = r->rsp; now.gpr[R_BP] = r->rbp; now.gpr[R_SI] = r->rsi; now.gpr[R_DI] = r->rdi;
	}
	shadow_insn_at(sh, t->rip, text, sizeof(text), hex, sizeof(hex));
	snprintf(buf, len,
		 "ombra: guest state (virtual CPU): CPL %u, cs %#x, rip %#llx: %s [%s], rflags %#llx, "
		 "last trap vector %u\n"
		 "ombra:   rax %#llx rbx %#llx rcx %#llx rdx %#llx rsi %#llx rdi %#llx rsp %#llx rbp %#llx\n"
		 "ombra:   cr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx efer %#llx, MMU path %s\n",
		 v->cpl, v->cs.sel, (unsigned long long)t->rip, text, hex, (unsigned long long)t->rflags, t->vector,
		 (unsigned long long)t->gpr[R_AX], (unsigned long long)t->gpr[R_BX],
		 (unsigned long long)t->gpr[R_CX], (unsigned long long)t->gpr[R_DX],
		 (unsigned long long)t->gpr[R_SI], (unsigned long long)t->gpr[R_DI],
		 (unsigned long long)t->gpr[R_SP], (unsigned long long)t->gpr[R_BP],
		 (unsigned long long)v->cr0, (unsigned long long)v->cr2, (unsigned long long)v->cr3,
		 (unsigned long long)v->cr4, (unsigned long long)v->efer, mmu_path_names[sh->ctx.path]);
}

/* The interrupt hardware is ombra's own (dev/, wired by intr.c): nothing inside KVM. */
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
	.debug_regs = shadow_debug_regs,
	.debug_mem = shadow_debug_mem,
	.debug_resume = shadow_debug_resume,
	.debug_break = shadow_debug_break,
	.counters = shadow_counters,
	.memory_changed = shadow_memory_changed,
	.sample = shadow_sample,
	.explain = shadow_explain,
	.trace_header = shadow_trace_header,
	.next_event = shadow_next_event,
	.kick = shadow_kick,
};
