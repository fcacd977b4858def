/*
 * The one CPUID table every guest sees, in every mode (docs/cpuid.md).
 *
 * Fixed, not derived from the host, so a guest's view of the CPU is the same
 * on every machine and in tdp and shadow mode alike.  Modelled on QEMU's
 * kvm64 CPU with NX, 1 GiB pages and a 40-bit physical address width (the
 * same MAXPHYADDR as QEMU's qemu64, so reserved-bit faults agree with QEMU).
 */
#ifndef OMBRA_CPUID_H
#define OMBRA_CPUID_H

#include <stddef.h>
#include <stdint.h>

struct cpuid_entry {
	uint32_t function, index;  /* EAX, ECX in */
	uint32_t eax, ebx, ecx, edx;
};

/* The table, and its length. */
const struct cpuid_entry *cpuid_table(size_t *n);
/* What CPUID returns for (function, index): an out-of-range leaf returns the
 * highest basic leaf's values, as Intel CPUs do. */
void cpuid_lookup(uint32_t function, uint32_t index, uint32_t out[4]);

#endif
