#!/bin/bash
# A job for the nested AMD-V host (scripts/nested/run.sh): the end-to-end
# suites' ombra runs (report, e2e, hostile), against the QEMU TCG runs the same suite made on the
# build host (E2E_QEMU_REF), with what they write under OUTDIR; then the
# Linux guest (tests/e2e/linux.sh, BUILD/linux) in each LINUX_MODE given.
#
#   bash scripts/nested/e2e.sh OUTDIR [BUILD [LINUX_MODE...]]
set -u
OUTDIR=$1 B=${2:-build}
shift 2 2>/dev/null || shift $#
status=0
mkdir -p "$OUTDIR/e2e" "$OUTDIR/hostile" "$OUTDIR/report"
# ombra report's real inputs (the page is checked on the build host, with
# its browser: REPORT_REAL in the Makefile's nested targets).
REPORT_INPUTS_ONLY=1 E2E_OUT=$OUTDIR/report bash tests/e2e/report_test.sh "$B" || status=1
E2E_QEMU_REF=$B/e2e E2E_OUT=$OUTDIR/e2e bash tests/e2e/run.sh "$B" || status=1
E2E_QEMU_REF=$B/hostile E2E_OUT=$OUTDIR/hostile bash tests/e2e/hostile.sh "$B" || status=1
if [ $# -gt 0 ]; then
	E2E_OUT=$OUTDIR/linux bash tests/e2e/linux.sh "$B" "$B/linux" "$@" || status=1
fi
exit $status
