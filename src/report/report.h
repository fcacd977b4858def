/*
 * The end-of-run report: how the run ended, the host MMU, wall time, and
 * the counters over the run under KVM's names, as text or one JSON object.
 */
#ifndef OMBRA_REPORT_H
#define OMBRA_REPORT_H

#include <stdio.h>

#include "vmm/vm.h"

int report_write(const struct vm *vm, FILE *out, enum stats_format fmt);

/* One line on how the run ended: "guest killed: <reason>" when ombra ended
 * it because of the guest (an error, --timeout), else "run ended (<how>):
 * <what>". */
const char *report_verdict(const struct vm *vm);

#endif
