/*
 * The run's counters under KVM's names (counters.c, docs/counters.md).
 */
#ifndef OMBRA_COUNTERS_H
#define OMBRA_COUNTERS_H

#include "vm.h"

/* The counters DESIGN.md section 5 names, in the order reports print them
 * (NULL-terminated); every mode reports each. */
extern const char *const vm_mmu_counters[];

/* The mode's counters: now while the run goes on, over the run after it. */
void vm_counters(const struct vm *vm, struct counters *list);

/* "debug-exit", "shutdown", "guest-error", "host-error", "timeout",
 * "interrupted", "running". */
const char *vm_end_name(enum run_end end);

#endif
