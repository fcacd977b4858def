#!/bin/bash
# A job for the nested AMD-V host (scripts/nested/run.sh): ombra compare
# --json with the given options, its output kept as OUTDIR/compare.json
# and its exit status as OUTDIR/compare.status.  Succeeds when the JSON
# was written, whatever the verdict (the merge gives the verdict).
#
#   bash scripts/nested/compare-job.sh OUTDIR OMBRA COMPARE-OPTIONS...
OUTDIR=$1 OMBRA=$2
shift 2
"$OMBRA" compare --json "$@" >"$OUTDIR/compare.json" 2>"$OUTDIR/compare.err"
echo $? >"$OUTDIR/compare.status"
[ -s "$OUTDIR/compare.json" ]
