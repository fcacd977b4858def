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

/* Control-register and EFER bits ombra looks at. */
#define CR0_PE   (1ULL << 0)
#define CR0_MP   (1ULL << 1)
#define CR0_EM   (1ULL << 2)
#define CR0_TS   (1ULL << 3)
#define CR0_ET   (1ULL << 4)
#define CR0_NE   (1ULL << 5)
#define CR0_WP   (1ULL << 16)
#define CR0_AM   (1ULL << 18)
#define CR0_NW   (1ULL << 29)
#define CR0_CD   (1ULL << 30)
#define CR0_PG   (1ULL << 31)
#define CR4_VME  (1ULL << 0)
#define CR4_PVI  (1ULL << 1)
#define CR4_TSD  (1ULL << 2)
#define CR4_DE   (1ULL << 3)
#define CR4_PSE  (1ULL << 4)
#define CR4_PAE  (1ULL << 5)
#define CR4_MCE  (1ULL << 6)
#define CR4_PGE  (1ULL << 7)
#define CR4_PCE  (1ULL << 8)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_UMIP (1ULL << 11)

#define MSR_MISC_FEATURES_ENABLES 0x140   /* bit 0: CPUID faulting */
#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

#define RFLAGS_CF  (1ULL << 0)
#define RFLAGS_FIXED (1ULL << 1)
#define RFLAGS_TF  (1ULL << 8)
#define RFLAGS_IF  (1ULL << 9)
#define RFLAGS_DF  (1ULL << 10)
#define RFLAGS_IOPL (3ULL << 12)
#define RFLAGS_NT  (1ULL << 14)
#define RFLAGS_RF  (1ULL << 16)
#define RFLAGS_VM  (1ULL << 17)
#define RFLAGS_AC  (1ULL << 18)

/* Exception vectors. */
enum {
	VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5, VEC_UD = 6,
	VEC_NM = 7, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12, VEC_GP = 13,
	VEC_PF = 14, VEC_MF = 16, VEC_AC = 17, VEC_MC = 18, VEC_XM = 19,
};

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
