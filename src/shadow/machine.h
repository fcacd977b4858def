/*
 * The monitor's machine structures, built into the monitor region's host
 * mapping: the real GDT, IDT and TSS, and the page tables that map the
 * monitor in its PML4 slot.  Pure builders over a buffer (unit-tested).
 */
#ifndef OMBRA_MACHINE_H
#define OMBRA_MACHINE_H

#include <stddef.h>
#include <stdint.h>

/* Fill the monitor region (MON_SIZE bytes at mon, MPA MON_MPA, virtual
 * address va: mon_va of its slot) around the code blob already copied to
 * its start, and map the pool (pool_size bytes at MPA pool_mpa, 2 MiB
 * aligned) at va + MON_POOL_OFF.  Returns the PML4 entry every shadow root
 * puts in the monitor's slot. */
uint64_t machine_build(uint8_t *mon, uint64_t va, uint64_t pool_mpa, uint64_t pool_size);

/* The 8-byte GDT descriptor for a flat segment. */
uint64_t machine_seg_desc(unsigned dpl, int code, int l, int db);

/* The assembled monitor (monitor.asm) linked into ombra. */
extern const uint8_t monitor_blob[];
extern const uint8_t monitor_blob_end[];

#endif
