#!/bin/sh
# make compare-hosts: one ombra compare table whose columns come from every
# host this machine can reach (docs/nested.md): this host's tdp mode and
# shadow strategies if it has /dev/kvm; the nested AMD-V host with NPT
# (tdp is real TDP) and every shadow strategy; the same host with npt=0
# (tdp is KVM's own shadow MMU).  Each column is headed label@host.
#
#   sh scripts/nested/compare-hosts.sh BUILD KERNEL APPEND [--json]
set -u
B=$1 KERNEL=$2 APPEND=$3 JSON=${4:-}
OMBRA=$B/ombra
OUT=$B/nested/compare
mkdir -p "$OUT"
files=""
if [ -e /dev/kvm ]; then
	"$OMBRA" compare --json --shadow-sync=all -kernel "$KERNEL" -append "$APPEND" >"$OUT/here.json" 2>"$OUT/here.err"
	[ -s "$OUT/here.json" ] && files="$OUT/here.json" || { echo "compare-hosts: $(tail -1 "$OUT/here.err")" >&2; exit 1; }
fi
for npt in 1 0; do
	sync=all
	[ $npt = 0 ] && sync=unsync
	if ! NESTED_DIR=$B/nested sh scripts/nested/run.sh $npt "$OUT/npt$npt" scripts/nested/compare-job.sh \
		"$OUT/npt$npt" "$OMBRA" --shadow-sync=$sync --timeout 600 -kernel "$KERNEL" -append "$APPEND" \
		>"$OUT/npt$npt.log" 2>&1; then
		echo "compare-hosts: the run on the nested host (npt=$npt) failed: $(tail -3 "$OUT/npt$npt/compare.err" "$OUT/npt$npt.log")" >&2
		exit 1
	fi
	files="$files $OUT/npt$npt/compare.json"
done
# shellcheck disable=SC2086
exec "$OMBRA" compare --merge $JSON $files
