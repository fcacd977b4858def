/*
 * A shadow-mode machine in memory for the unit tests of the trap path
 * (test_trap.c, test_sysmodel.c, test_mutation_gaps.c) and the MMIO
 * emulator (test_mmio.c): a struct vm with
 * 1 MiB of guest RAM at GPA 0 and a kvm_run that is plain memory, and a
 * struct shadow built by shadow_build (what shadow_setup builds before it
 * turns to /dev/kvm) with a 32-page shadow pool.  Nothing here issues an
 * ioctl; the tests build the guest's tables in ram themselves.
 */
#ifndef OMBRA_TEST_SHADOW_FIXTURE_H
#define OMBRA_TEST_SHADOW_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "shadow/shadow.h"

#define FIX_RAM        (1u << 20)
#define FIX_POOL_PAGES 32
#define FIX_MON_E      0x0000000000020003ULL   /* the monitor's PML4E machine_build gives: P W, supervisor */

struct shadow_fixture {
	struct vm *vm;
	struct shadow *sh;
	uint8_t *ram;           /* guest-physical 0 */
	uint8_t *mon;           /* the monitor region */
	uint8_t *pool;
};

/* Build it (Criterion asserts on failure); fixture_free undoes it. */
void fixture_new(struct shadow_fixture *f);
void fixture_free(struct shadow_fixture *f);
/* A fresh shadow MMU (after tests that change the guest's tables). */
void fixture_reset_mmu(struct shadow_fixture *f);
/* The guest's tables where the trap-path tests keep them: GDT at 0x1000,
 * IDT at 0x2000, TSS at 0x3000, root table at 0x4000. */
#define FIX_GDT  0x1000u
#define FIX_IDT  0x2000u
#define FIX_TSS  0x3000u
#define FIX_ROOT 0x4000u
/* The virtual CPU reset, then in 64-bit mode (is_long: CR0.PG, CR4.PAE,
 * EFER.LME/LMA) or 32-bit protected mode with paging off, CR3 at
 * FIX_ROOT, GDTR at FIX_GDT with gdt_limit, IDTR at FIX_IDT for 256 gates;
 * segments, TR and the trap frame are the caller's. */
void fixture_cpu(struct shadow_fixture *f, bool is_long, uint16_t gdt_limit);
/* Write the low size bytes of v at guest-physical gpa; read size bytes there. */
void fixture_put(struct shadow_fixture *f, uint64_t gpa, uint64_t v, unsigned size);
uint64_t fixture_get(const struct shadow_fixture *f, uint64_t gpa, unsigned size);

#endif
