#!/bin/bash
# A job for the nested AMD-V host (scripts/nested/run.sh): the Linux guest
# (tests/e2e/linux.sh, with BUILD/linux from scripts/linux/build.sh) in
# each MODE given, its outputs under OUTDIR/linux.
#
#   bash scripts/nested/linux.sh OUTDIR BUILD MODE...
set -u
OUTDIR=$1 B=$2
shift 2
E2E_OUT=$OUTDIR/linux bash tests/e2e/linux.sh "$B" "$B/linux" "$@"
