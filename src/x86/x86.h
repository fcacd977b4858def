/*
 * The x86 architecture as ombra needs it in more than one place: control
 * register, EFER and RFLAGS bits, exception vectors, #PF error codes, MSR
 * numbers, canonical addresses,
 * and which paging mode CR0, CR4 and EFER select (SDM vol. 3, chapters 2,
 * 4 and 6).  Definitions only, no state.
 */
#ifndef OMBRA_X86_H
#define OMBRA_X86_H

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
#define CR4_PKE  (1ULL << 22)

#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

#define RFLAGS_CF  (1ULL << 0)
#define RFLAGS_FIXED (1ULL << 1)
#define RFLAGS_ZF  (1ULL << 6)
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

/* #PF error-code bits. */
#define PFERR_P     (1u << 0)
#define PFERR_W     (1u << 1)
#define PFERR_U     (1u << 2)
#define PFERR_RSVD  (1u << 3)
#define PFERR_FETCH (1u << 4)
#define PFERR_PK    (1u << 5)

/* Model-specific registers. */
#define MSR_TSC            0x10
#define MSR_APIC_BASE      0x1b
#define MSR_UCODE_REV      0x8b    /* IA32_BIOS_SIGN_ID: the microcode revision */
#define MSR_SYSENTER_CS    0x174
#define MSR_SYSENTER_ESP   0x175
#define MSR_SYSENTER_EIP   0x176
#define MSR_MISC_ENABLE    0x1a0
#define MSR_TSC_DEADLINE   0x6e0
#define MSR_PAT            0x277
#define MSR_EFER           0xc0000080
#define MSR_STAR           0xc0000081
#define MSR_LSTAR          0xc0000082
#define MSR_CSTAR          0xc0000083
#define MSR_SFMASK         0xc0000084
#define MSR_FS_BASE        0xc0000100
#define MSR_GS_BASE        0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX        0xc0000103
#define MSR_MISC_FEATURES_ENABLES 0x140   /* bit 0: CPUID faulting */

/* A 48-bit virtual address is canonical when bits 63:47 are all equal. */
static inline bool x86_canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

#endif
