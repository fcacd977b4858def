/*
 * A shadow-mode machine in memory for the unit tests of the trap path
 * (test_trap.c) and the MMIO emulator (test_mmio.c): a struct vm with
 * 1 MiB of guest RAM at GPA 0 and a kvm_run that is plain memory, and a
 * struct shadow built by shadow_build (what shadow_setup builds before it
 * turns to /dev/kvm) with a 32-page shadow pool.  Nothing here issues an
 * ioctl; the tests build the guest's tables in ram themselves.
 */
#ifndef OMBRA_TEST_SHADOW_FIXTURE_H
#define OMBRA_TEST_SHADOW_FIXTURE_H

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
/* Write the low size bytes of v at guest-physical gpa; read size bytes there. */
void fixture_put(struct shadow_fixture *f, uint64_t gpa, uint64_t v, unsigned size);
uint64_t fixture_get(const struct shadow_fixture *f, uint64_t gpa, unsigned size);

#endif
