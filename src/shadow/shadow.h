/*
 * Shadow mode's private header: the state its files share (struct shadow)
 * and what each file offers the others.  Nothing outside src/shadow
 * includes it but the unit tests and fuzzers, which build a shadow-mode
 * machine in memory; the rest of ombra sees mode.h.
 *
 *   shadow.c   the mode table: set-up, teardown, what the mode reports
 *   trap.c     the trap path: read the trap, dispatch it, resume
 *   guest.c    guest memory through the guest's translation, shadow_kill
 *   decode.c   the instruction at RIP, decoded (decode.h), for:
 *     emulate.c  instructions that trap because the guest is deprivileged
 *     ptwrite.c  stores to guest page tables the shadow write-protects
 *     mmio.c     accesses to memory no RAM backs
 *   seg.c      the guest's descriptor tables: exception delivery, segment
 *              loads, far transfers, IRET
 *   intr.c     the interrupt sources, their clock, HLT, interrupt delivery
 *   machine.c  the monitor's GDT, IDT, TSS and page tables (machine.h)
 *   mmu.c      the shadow MMU (mmu.h); the guest walker is src/x86/walk.c
 */
#ifndef OMBRA_SHADOW_H
#define OMBRA_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vm.h"
#include "mode.h"
#include "dev/lapic.h"
#include "dev/ioapic.h"
#include "mmu.h"
#include "monitor.h"
#include "dev/pic.h"
#include "dev/pit.h"
#include "vcpu.h"
#include "x86/desc.h"

/* How a trap was handled: what the real CPU does next. */
enum trap_result {
	TRAP_RESUME,     /* done: back to the guest (maybe through a CR3/INVLPG stub) */
	TRAP_DELIVERED,  /* an exception went into the guest instead: resume it there */
	TRAP_END,        /* the run is over (vm->err says why) */
};

/* The same page fault (RIP, address, error code) this many times in a row,
 * with no other page fault between, is a guest that makes no progress: it
 * is ended with a reason rather than left to --timeout. */
#define SHADOW_NO_PROGRESS 100000

/* The real vector ombra raises in the VM to stop a guest that runs with no
 * trap when its local APIC has an interrupt for it (shadow_kick). */
#define SHADOW_KICK_VECTOR 32

/* The real selectors the guest runs on (realseg.c). */
struct realseg {
	bool mirror;                 /* the guest's own indices (ombra owns the VM's GDT) */
	uint16_t cs, ss;             /* the real CS and SS of the last resume */
	bool cs64;                   /* ... CS a 64-bit code segment */
	uint16_t idx[2];             /* the GDT indices holding CS's and SS's descriptors, 0 none */
	uint16_t data[4];            /* the real DS, ES, FS, GS ombra last set */
};

struct shadow {
	struct vm *vm;
	struct vcpu v;               /* what the guest believes */
	struct trap t;               /* the registers at the current trap */
	struct shadow_mmu mmu;
	struct mmu_ctx ctx;          /* translation state of the guest's CPU */
	uint8_t *mon;                /* the monitor region, host view */
	uint8_t *pool;               /* the shadow-page pool, host view */
	size_t pool_size;
	unsigned mon_slot;           /* the monitor's PML4 slot (monitor.h): chosen by host_pvm */
	uint64_t mon_va;             /* ... and its address there */
	uint64_t mon_pml4e;
	struct shadow_opts opts;     /* what the user asked for (mode.h) */
	bool umip;                   /* CR4.UMIP and CPUID faulting are on */
	bool host_pvm;               /* the host's KVM is kvm_pvm (docs/host.md) */
	struct realseg real;
	struct patcher patch;        /* --shadow-patch: the code scanner and patch table */
	bool patching;               /* ... is on */
	bool pku;                    /* ... with protection keys: the guest's reads of
				      * patched frames fault (PK) and see the original bytes */
	uint64_t pkru_load;          /* MON_PKRU_LOAD | PKRU for the monitor to load at the next resume, 0: none */
	uint64_t patch_reads;        /* the guest's reads of patched frames (PK faults) */
	bool patch_step;             /* one instruction runs under TF, patches lifted, PKRU open */
	bool patch_step_guest_tf;    /* ... the guest had TF set itself */
	bool native_if;              /* the guest's IF is the real IF (real_rflags, trap.c) */
	size_t capstone[2];          /* capstone handles, 32- and 64-bit (csh) */
	unsigned delivering;         /* 1 + the vector being delivered, 0 when none */
	bool soft_int;               /* the next delivery is a software INT n (no EXT) */
	uint64_t soft_rip;           /* ... and the RIP of its instruction, where a fault it raises is */
	uint64_t reload_root;        /* resume: the root the real CR3 gets */
	struct {                     /* the no-progress detector (page_fault) */
		uint64_t rip, cr2, count;
		uint32_t error;
	} storm;
	unsigned last_vector;        /* the last exception delivered into the guest */
	uint32_t last_error;
	uint64_t trap_rip;           /* the guest's RIP when the trap came */
	struct lapic lapic;          /* the guest's local APIC (tdp mode has KVM's) */
	struct ioapic ioapic;        /* the I/O APIC (tdp mode: KVM's) */
	struct pic pic;              /* the legacy PIC pair (tdp mode: KVM's) */
	struct pit pit;              /* the 8254 and port 0x61 (tdp mode: KVM's) */
	uint64_t t0_ns;              /* CLOCK_MONOTONIC at set-up: the timers' time 0 */
	uint64_t tsc0;               /* the host's TSC then */
	double tsc_per_ns;           /* measured on first use, for TSC-deadline mode */
	int64_t tsc_offset;          /* the guest's TSC less the host's (KVM's offset), measured then too */
	bool sti_shadow;             /* STI set IF: one more instruction runs first */
	uint64_t sti_rip;            /* ... the one at this RIP */
	bool sti_step;               /* RFLAGS.TF is ours: an interrupt waits for that one */
	bool gdb_step;               /* gdb's step: RFLAGS.TF on the way back (debug.c) */
	int gdb_stop;                /* a stop for gdb asked for (its signal), at the next trap */
	bool nmi_raised;             /* ombra raised an NMI to make the guest trap (debug.c) */
	uint64_t gdb_stops;          /* stops for gdb so far */

	/* counters only shadow mode has */
	uint64_t traps, traps_by_vector[256];
	uint64_t emulated, injected, halts;
	uint64_t mmio_exits;         /* MMIO accesses emulated (KVM's mmio_exits) */
	uint64_t irq_injections;     /* interrupts delivered (KVM's irq_injections) */
	const char *irq_from;        /* the last one's source ("pic", "apic"), for the trace */
	unsigned irq_vector;         /* ... and its vector */
	uint64_t kicks_taken;        /* traps on SHADOW_KICK_VECTOR */
	uint64_t native_transfers;   /* CS changes the guest made without a trap */
	uint64_t native_seg_loads;   /* data-segment loads the real CPU made without a trap */
	uint64_t native_io;          /* the guest's port I/O exits that needed no trap (native_if) */
	uint64_t reported_unknown_msr;
};

static inline bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* --- shadow.c ----------------------------------------------------------------- */

/*
 * Build the shadow-mode machine in memory, with no ioctl: the capstone
 * handles, the interrupt sources on vm's buses, the monitor region at mon
 * (MON_SIZE bytes, page aligned: code, GDT, IDT, TSS, page tables), the
 * shadow MMU over the pool (pool_pages zeroed pages), and the guest's CPU
 * at multiboot entry.  opts NULL: SHADOW_OPTS_DEFAULT.  shadow_setup calls
 * it, then gives the machine to KVM; the unit tests (shadow_fixture.c) and
 * the fuzzers (shadow_guest.c) call it instead.  0 or -errno, the reason
 * in vm->err; shadow_unbuild frees what it made (not mon or pool) either
 * way.
 */
int shadow_build(struct shadow *sh, struct vm *vm, const struct shadow_opts *opts,
		 uint8_t *mon, uint8_t *pool, unsigned pool_pages);
void shadow_unbuild(struct shadow *sh);

/* --- guest.c ------------------------------------------------------------------ */

/* Does the CPU push an error code for this exception vector? */
bool has_error_code(unsigned vector);
/* End the run because of the guest, with a reason. */
enum trap_result shadow_kill(struct shadow *sh, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Guest memory through the guest's own translation; a failure has
 * already been turned into an exception for the guest, or ended the run
 * (returns false; shadow_failed() says which). */
bool guest_read(struct shadow *sh, uint64_t gva, void *buf, unsigned len, bool user);
/* The guest-physical address of gva for an access, or false with the
 * fault delivered (or the run ended), like guest_read. */
bool guest_translate(struct shadow *sh, uint64_t gva, bool write, bool user, uint64_t *gpa);
bool guest_fetch(struct shadow *sh, uint64_t gva, void *buf, unsigned len, bool user);
bool guest_write(struct shadow *sh, uint64_t gva, const void *buf, unsigned len, bool user);
/* The guest's CPU changed in a way the MMU cares about: cr3_write for a
 * CR3 load (counted in cr3_writes), flush for another change that flushes
 * the guest's TLB as a CR3 load does (CR0.PG, CR4.PSE/PAE/PGE, EFER.NXE). */
void shadow_cpu_changed(struct shadow *sh, bool cr3_write, bool flush);

/* --- scan.c: --shadow-patch on the trap path ------------------------------------ */

/* Scan the guest's code at gva (guest-physical gpa) and patch it; the
 * frame becomes scanned (its leaves read-only) if it was not. */
void shadow_scan_at(struct shadow *sh, uint64_t gva, uint64_t gpa);
/* PF_SCAN: a fetch at cr2 (guest-physical gpa) from a frame not scanned. */
void shadow_code_fetch(struct shadow *sh, uint64_t cr2, uint64_t gpa);
/* PF_CODE_WRITE: the guest stores to scanned frame gfn: undo its patches
 * and forget its scan, or, when the storing instruction runs from that
 * very frame, leave it unscanned for good (patch_mix). */
void shadow_code_store(struct shadow *sh, uint64_t gfn);
/* Frame gfn is being written: undo its patches, forget its scan. */
void shadow_code_written(struct shadow *sh, uint64_t gfn);
/* RIP was set by ombra (a delivery, IRET, SYSCALL...): if it lands in a
 * scanned frame where no scan has been, scan from there. */
void shadow_resume_scan(struct shadow *sh);
/* The guest's read of a patched frame faulted on its protection key:
 * lift every patch (original bytes back, PKRU open) and run the one
 * instruction under the trap flag; shadow_patch_restore puts them back
 * after it. */
void shadow_patch_lift(struct shadow *sh);
void shadow_patch_restore(struct shadow *sh);
/* Is the guest's RIP at a patched instruction? */
bool shadow_at_patch(struct shadow *sh);

/* After a failed guest_read/guest_write: TRAP_DELIVERED or TRAP_END. */
static inline enum trap_result shadow_failed(const struct shadow *sh)
{
	return sh->vm->end == END_NONE ? TRAP_DELIVERED : TRAP_END;
}

/* --- trap.c ------------------------------------------------------------------- */

/* One KVM exit through the trap path, all in memory: read the trap,
 * dispatch it, write the resume state.  *resync gets whether the pool's
 * memslot must be registered again with KVM before the next KVM_RUN,
 * which shadow_exit does; the fuzz harness (tests/fuzz/fuzz_trap.c) calls
 * this, and no ioctl is made. */
bool shadow_handle_exit(struct vm *vm, bool *resync);
/* vm_mode.exit: shadow_handle_exit and its one ioctl, or the kick. */
bool shadow_exit(struct vm *vm);
/* The real RFLAGS for the guest's (sh->t.rflags): IF and IOPL as the host
 * allows (native_if). */
uint64_t shadow_real_rflags(struct shadow *sh);

/* --- decode.c, emulate.c, ptwrite.c, mmio.c ------------------------------------ */

/* decode.c: open and close the capstone handles. */
int decode_open(struct shadow *sh);
void decode_close(struct shadow *sh);
/* emulate.c: the instruction at the guest's RIP, after a #GP or #UD. */
enum trap_result emulate_insn(struct shadow *sh, unsigned vector);
/* ptwrite.c: a write to a tracked guest page table (PF_EMULATE). */
enum trap_result emulate_pte_write(struct shadow *sh, uint64_t fault_gpa);
/* mmio.c: an access to guest-physical memory no RAM backs (MMIO). */
enum trap_result emulate_mmio(struct shadow *sh, uint64_t gva, uint64_t gpa, uint32_t error);


/* The instruction at rip in the guest's address space, read through the
 * guest's tables without side effects and decoded (capstone, Intel
 * syntax) into text; its bytes in hex into hex (may be NULL).  Its length,
 * 0 when it cannot be read or decoded. */
size_t shadow_insn_at(struct shadow *sh, uint64_t rip, char *text, size_t tlen, char *hex, size_t hlen);

/* --- realseg.c ---------------------------------------------------------------- */

/* The start: fixed selectors (SEL_USER_*); mirror says whether the guest's
 * own indices may be used (not on kvm_pvm). */
void realseg_init(struct shadow *sh, bool mirror);
/* Choose the real CS and SS for the guest's (sh->real.cs, .ss) and put
 * their descriptors in the monitor's GDT. */
void realseg_select(struct shadow *sh);
/* Set the real DS, ES, FS and GS selectors in s to the guest's; true when
 * one changed. */
bool realseg_data(struct shadow *sh, struct kvm_sregs *s);
/* At a trap: data-segment loads the real CPU made natively, done against
 * the guest's GDT. */
enum trap_result realseg_trap(struct shadow *sh);
/* kvm_run's sregs changed: KVM takes them with the next KVM_RUN. */
void realseg_sregs_changed(struct shadow *sh);
/* FS (i 2) or GS (3) was loaded with a non-null selector: its hidden base,
 * the MSR, is the descriptor's, and the real base follows. */
void realseg_base_follows(struct shadow *sh, unsigned i);

/* --- seg.c -------------------------------------------------------------------- */

/* An exception or interrupt into the guest's IDT, as the CPU delivers it. */
enum trap_result inject_exception(struct shadow *sh, unsigned vector, bool has_error,
				  uint32_t error);
/* #BP or #OF the guest raised with INT3, INT 3 or INTO (they reach ombra
 * with RIP past the instruction): delivered as the software interrupts
 * they are, a gate with DPL below the CPL giving #GP(vector * 8 + 2) at
 * the instruction instead. */
enum trap_result inject_soft_exception(struct shadow *sh, unsigned vector);
/* Far transfers and IRET, with privilege and mode changes. */
enum trap_result emulate_iret(struct shadow *sh, unsigned opsize);
enum trap_result emulate_far_jmp(struct shadow *sh, uint16_t sel, uint64_t offset, bool call,
				 unsigned opsize, uint64_t next_rip);
enum trap_result emulate_far_ret(struct shadow *sh, unsigned opsize, uint16_t pop_extra);
/* SYSCALL (next_rip: the instruction after it) and SYSRET (rex_w: the
 * 64-bit form), as the SDM's Operation sections say (seg.c). */
enum trap_result emulate_syscall(struct shadow *sh, uint64_t next_rip);
enum trap_result emulate_sysret(struct shadow *sh, bool rex_w);
/* The guest reached CS:SS = csel:ssel without trapping (see seg.c). */
enum trap_result shadow_native_transfer(struct shadow *sh, uint16_t csel, uint16_t ssel);
/* Load a data segment register (or SS) with a guest selector. */
enum trap_result load_segment(struct shadow *sh, struct vseg *seg, uint16_t sel, bool is_ss);
/* LAR, LSL, VERR, VERW against the guest's descriptor tables: *zf and,
 * for LAR and LSL, *out; false with a fault delivered or the run ended. */
bool seg_query(struct shadow *sh, enum desc_query q, uint16_t sel, bool *zf, uint32_t *out);

/* --- intr.c ------------------------------------------------------------------- */

/* The interrupt sources (the local APIC, the I/O APIC, the PIC pair, the
 * PIT and port 0x61) on the buses, reset; their clock starts. */
int shadow_irq_init(struct shadow *sh);
/* The timers' clock, in ns since set-up. */
uint64_t shadow_now_ns(const struct shadow *sh);
/* When (that clock) the guest's TSC reaches tsc. */
uint64_t shadow_tsc_to_ns(struct shadow *sh, uint64_t tsc);
/* Run the APIC's timer and the PIT to now (the PIT's edges go to the
 * PIC); when one is due next (0: never).  A TSC deadline fires only once
 * the TSC has really reached it. */
uint64_t shadow_timer_update(struct shadow *sh, uint64_t now_ns);
/* An interrupt waits for the CPU (the PIC's through LINT0, or the APIC's
 * above PPR), whatever the guest's IF. */
bool shadow_irq_pending(const struct shadow *sh);
/* Deliver the waiting interrupt if the guest can take it now (IF set, not
 * in STI's shadow); after STI, single-step first. */
void shadow_deliver_interrupt(struct shadow *sh);
/* HLT, RIP already past it: wait for an interrupt, or end the run when
 * nothing can wake the guest. */
enum trap_result shadow_halt(struct shadow *sh);
/* The run loop's hooks for a guest that runs with no trap
 * (vm_mode.next_event and .kick), and the kick itself. */
uint64_t shadow_next_event(struct vm *vm);
void shadow_kick(struct vm *vm);
void shadow_raise_kick(struct vm *vm);

/* --- debug.c: the gdbstub's hooks (vm_mode.debug_*) --------------------------- */

int shadow_debug_regs(struct vm *vm, struct gdb_regs *g, bool write);
int shadow_debug_mem(struct vm *vm, uint64_t gva, void *buf, size_t len, bool write);
void shadow_debug_resume(struct vm *vm, bool attached, bool step);
void shadow_debug_break(struct vm *vm, int sig);
/* Stop for gdb now, at this trap (gdb_step then says whether gdb asked
 * for a step). */
void shadow_gdb_stop(struct shadow *sh, int sig);
/* An INT3 at gva: if it is gdb's, RIP goes back to it and the guest
 * stops for gdb (true); else it is the guest's own (false). */
bool shadow_debug_int3(struct shadow *sh, uint64_t gva);

/* --trace (events.c): listen to the shadow MMU's events from now on (the
 * run has a trace); an exception or interrupt delivered (written when the
 * run has a trace). */
void shadow_trace_start(struct shadow *sh);
void shadow_trace_inject(struct shadow *sh, unsigned vector, uint32_t error);

#endif
