#!/bin/bash
# A job for the nested AMD-V host (scripts/nested/run.sh): make bench's
# driver there, every workload in every configuration (ombra tdp, each
# shadow strategy, QEMU TCG, QEMU with KVM), REPS times, its results.md and
# results.json in OUTDIR.  With npt=1 tdp mode is real TDP (NPT); with
# npt=0 it is KVM's own shadow MMU, whose exits per event are the anchor
# for shadow mode's traps (docs/performance.md).  Times are TCG's: compare
# them only within one run.
#
#   bash scripts/nested/bench.sh OUTDIR [BUILD [REPS]]
set -u
OUTDIR=$1 B=${2:-build} REPS=${3:-3}
exec "$B/bench/driver" "$B" "$OUTDIR" "$REPS"
