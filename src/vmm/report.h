/*
 * The end-of-run report: how the run ended, the host MMU, wall time, and
 * the counters over the run under KVM's names, as text or one JSON object.
 */
#ifndef OMBRA_REPORT_H
#define OMBRA_REPORT_H

#include <stdio.h>

#include "vm.h"

#define OMBRA_VERSION "0.1.0"

/* The counters DESIGN.md section 5 names, printed first and always. */
extern const char *const report_mmu_counters[];

int report_write(const struct vm *vm, FILE *out, enum stats_format fmt);
/* The run's MMU counters under KVM's names: the mode's own, or KVM's. */
void report_counters(const struct vm *vm, struct counters *list);
const char *report_end_name(enum run_end end);

/* One line on how the run ended: "guest killed: <reason>" when ombra ended
 * it because of the guest (an error, --timeout), else "run ended (<how>):
 * <what>". */
const char *report_verdict(const struct vm *vm);

#endif
