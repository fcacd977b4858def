/*
 * The virtual CPU of shadow mode: what the guest believes about its CPU.
 *
 * In shadow mode the guest runs at real CPL 3 in a long-mode machine that
 * the monitor owns; everything the guest sees of its own privileged state
 * (control registers, descriptor tables, segment selectors, CPL, IF, MSRs)
 * lives here and is changed only by ombra's emulation of the instructions
 * that trap.  The general registers are the real ones: at each trap they
 * are in kvm_run's sync area and the monitor's frame, and ombra edits them
 * there (struct trap).
 */
#ifndef OMBRA_VCPU_H
#define OMBRA_VCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "x86/x86.h"

/* A segment register as the guest loaded it (from its own descriptor tables). */
struct vseg {
	uint16_t sel;      /* the guest's selector */
	uint64_t base;
	uint32_t limit;    /* byte granular, already scaled by G */
	uint8_t type;      /* descriptor type (4 bits) */
	uint8_t s, dpl, p, l, db, g;
};

struct vcpu {
	uint64_t cr0, cr2, cr3, cr4, efer;
	struct { uint64_t base; uint16_t limit; } gdtr, idtr;
	struct vseg cs, ss, ds, es, fs, gs, tr, ldtr;
	unsigned cpl;              /* the guest's CPL: 0 kernel, 3 user */
	bool vif;                  /* the guest's RFLAGS.IF */
	unsigned iopl;             /* the guest's RFLAGS.IOPL */
	bool halted;               /* HLT with nothing to wake it */
	uint64_t pdptes[4];        /* PAE: loaded at CR3 write time */

	/* MSRs the guest may use. */
	uint64_t fs_base, gs_base, kernel_gs_base;
	uint64_t star, lstar, cstar, sfmask;
	uint64_t pat, apic_base, tsc_aux;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t misc_enable;
};

/* The guest's registers at a trap, read from and written back to kvm_run's
 * sync area and the monitor's frame.  RIP, RSP and RFLAGS are the guest's
 * (from the frame); rflags carries the virtual IF/IOPL merged in. */
struct trap {
	unsigned vector;           /* which exception brought the guest here */
	uint64_t error_code;       /* when the vector has one */
	uint64_t cr2;              /* for #PF: the faulting linear address */
	uint64_t gpr[16];          /* rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15 (x86 order) */
	uint64_t rip, rflags;
	bool code64;               /* the guest was running 64-bit code */
};

enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI, R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };

static inline bool vcpu_paging(const struct vcpu *v) { return v->cr0 & CR0_PG; }
static inline bool vcpu_long(const struct vcpu *v) { return v->efer & EFER_LMA; }

#endif
