/*
 * cpu.h: control-register, MSR, port and TLB primitives, for 32-bit and
 * 64-bit code alike (unsigned long is the register width in both).
 *
 * The constants are plain #defines so assembly can use them too.  Only what a
 * test kernel may do in every environment it runs in is here: no PUSHF/POPF,
 * no SGDT/SIDT/SMSW/STR, no INT n (see DESIGN.md and HOST.md).
 */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#ifdef __ASSEMBLER__
#define BIT(n) (1 << (n))
#else
#define BIT(n) (1u << (n))
#endif

#define CR0_PE BIT(0)
#define CR0_WP BIT(16)
#define CR0_PG BIT(31)

#define CR4_PSE BIT(4)
#define CR4_PAE BIT(5)

#define MSR_EFER  0xc0000080
#define EFER_LME  BIT(8)
#define EFER_LMA  BIT(10)
#define EFER_NXE  BIT(11)

#define VEC_DE 0
#define VEC_BP 3
#define VEC_UD 6
#define VEC_DF 8
#define VEC_GP 13
#define VEC_PF 14

/* #PF error code bits */
#define PFERR_P    BIT(0) /* the fault was a protection violation (else: not present) */
#define PFERR_W    BIT(1) /* the access was a write */
#define PFERR_U    BIT(2) /* the access was made at CPL3 */
#define PFERR_RSVD BIT(3) /* a reserved bit was set in a paging-structure entry */
#define PFERR_I    BIT(4) /* the access was an instruction fetch (PAE/4-level with NXE) */

#ifndef __ASSEMBLER__
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#define DEFINE_CR(n)                                                        \
	static inline unsigned long read_cr##n(void)                        \
	{                                                                   \
		unsigned long v;                                            \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));           \
		return v;                                                   \
	}                                                                   \
	static inline void write_cr##n(unsigned long v)                     \
	{                                                                   \
		__asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory");  \
	}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

/* Drop the TLB entry and the paging-structure caches for one linear address. */
static inline void invlpg(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"((uintptr_t)va) : "memory");
}

static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }

/* Wait with IF set for an interrupt, none lost between the STI and the HLT
 * (STI's shadow), and go on with IF clear.  Out of line (halt.S) so that
 * an interrupt handler can tell one taken at this HLT, inside the shadow,
 * which a CPU never does (trap.h, sti_shadow_report). */
void sti_hlt_cli(void);
extern char sti_hlt_cli_hlt[];           /* the HLT's address */

static inline __attribute__((noreturn)) void cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}
#endif

#endif
