/*
 * The shadow-mode machine the trap-path fuzz harnesses (fuzz_emulate.c,
 * fuzz_trap.c) run on: a struct vm and a struct shadow in memory, built
 * by shadow_build as shadow_setup builds them before it turns to /dev/kvm
 * (kvm_run is a plain struct, guest RAM two static buffers, the pool and
 * the monitor region static too), and a guest CPU in any mode ombra's virtual CPU supports,
 * with its own GDT, IDT, TSS and page tables in guest RAM.  Everything
 * comes from the fuzz input; running out of input reads zeros.
 *
 * Guest-physical layout (RAM: [0, 256 KiB) and [1 MiB, 1 MiB + 64 KiB);
 * the rest is a hole, as MMIO would be):
 *
 *   0x01000  GDT (16 descriptors; 0x38 the TSS, 0x48 an LDT)
 *   0x02000  IDT (256 gates, 8 or 16 bytes each), handlers at 0x30000
 *   0x03000  TSS (RSP0/ESP0+SS0, IST1..2), 0x3800 the LDT
 *   0x04000  page tables, 0x4000..0x7fff; CR3 = 0x4000
 *   0x10000  code: RIP somewhere in 0x10000..0x1ffff
 *   0x20000  stacks; RSP0 = 0x2f000, IST1 = 0x2e000, IST2 = 0x2d000
 *   0x30000  exception handlers
 *
 * Paging maps [0, 256 KiB) one to one with 4 KiB pages (or one large
 * page), user and writable, and in long mode again at the kernel half
 * (0xffff800000000000).  Then the input pokes bytes anywhere in RAM
 * (descriptors, gates, table entries, stack contents...) before the CPU
 * state is loaded, as a guest would have written them.
 */
#ifndef OMBRA_FUZZ_SHADOW_GUEST_H
#define OMBRA_FUZZ_SHADOW_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shadow/shadow.h"

#ifndef MUST
#define MUST(c) do { if (!(c)) __builtin_trap(); } while (0)
#endif

#define G_RAM       0x40000ULL            /* RAM at GPA 0 */
#define G_HI        0x100000ULL           /* a second slot here ... */
#define G_HI_SIZE   0x10000ULL            /* ... of 64 KiB */
#define G_GDT       0x1000ULL
#define G_GDT_LIMIT 0x7f
#define G_IDT       0x2000ULL
#define G_TSS       0x3000ULL
#define G_LDT       0x3800ULL
#define G_TABLES    0x4000ULL             /* page tables: [G_TABLES, G_TABLES_END) */
#define G_TABLES_END 0x8000ULL
#define G_CODE      0x10000ULL
#define G_STACK0    0x2f000ULL
#define G_HANDLER   0x30000ULL
#define G_HIGH      0xffffffff80000000ULL /* the kernel-half alias (long mode): a higher-half kernel's */
#define G_POOL_PAGES 64

/* The guest CPU's mode. */
enum g_mode { G_PROT32, G_PAGING32, G_PAE, G_LONG64, G_COMPAT, G_MODES };

/* The input, read front to back; past its end, zeros. */
struct fuzz_in {
	const uint8_t *d;
	size_t n;
};
uint8_t in_u8(struct fuzz_in *in);
uint16_t in_u16(struct fuzz_in *in);
uint32_t in_u32(struct fuzz_in *in);
uint64_t in_u64(struct fuzz_in *in);

struct fuzz_guest {
	struct vm vm;
	struct shadow sh;
	struct kvm_run run;
	enum g_mode mode;
	bool high;                 /* long mode: running in the kernel-half alias */
	bool tables_poked;         /* the input changed a page-table page */
	bool ready;
};

extern uint8_t g_ram[G_RAM], g_hi[G_HI_SIZE];

/* Build the machine and the guest from the input's head: mode, control
 * bits, CPL, registers, then (at the end of the input) the pokes.  The
 * sh->t registers are those of a trap at RIP; the bytes at RIP are the
 * next 15 bytes of the input, written after the pokes. */
void guest_build(struct fuzz_guest *g, struct fuzz_in *in, bool with_monitor);
/* ombra wrote nothing in the monitor region but the mailbox and the trap
 * stack (checks the first 192 KiB: code, IDT, TSS, GDT, page tables). */
bool guest_monitor_intact(void);
/* Free what guest_build allocated (the MMU's tables). */
void guest_free(struct fuzz_guest *g);

/* Copy len bytes to guest-physical gpa; bytes outside RAM are dropped. */
void guest_poke(uint64_t gpa, const uint8_t *b, unsigned len);
/* The guest-physical address of gva under the harness's own mapping
 * (identity, or the kernel-half alias), or -1 outside it. */
uint64_t guest_gpa_of(const struct fuzz_guest *g, uint64_t gva);

/* What must hold of the virtual CPU whenever the run goes on (checked
 * with MUST); native: the guest made a transfer ombra could not see
 * (shadow_native_transfer), so CS is whatever its own GDT says. */
void guest_check_vcpu(const struct fuzz_guest *g, bool native);

bool g_canonical(uint64_t a);
/* Does the guest run 64-bit code now? */
bool g_code64(const struct vcpu *v);

#endif
