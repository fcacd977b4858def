#!/bin/bash
# A job for the nested AMD-V host (scripts/nested/run.sh), for npt=0, where
# tdp mode is KVM's own shadow MMU: mmutest in tdp mode (every case the
# host's KVM can run; the rest SKIP with the limit a probe proved) and in
# shadow mode, each against QEMU TCG's run of the same selection that the
# e2e suite kept, and ombra compare's verdict across tdp and every shadow
# strategy.
#
#   bash scripts/nested/smoke.sh OUTDIR [BUILD]
set -u
OUTDIR=$1 B=${2:-build}
OUT=$OUTDIR/smoke
OMBRA=$B/ombra
K=$B/tests/kernels
MMUTEST=$B/guest/mmutest.elf
CASES_FILE=tests/e2e/mmutest.cases
E2E_QEMU_REF=$B/e2e
mkdir -p "$OUT"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
# shellcheck source=scripts/host-probes.sh
. scripts/host-probes.sh

if run info 0 "$OMBRA" info; then
	grep -q "^host MMU: shadow paging (kvm_amd with npt off" "$OUT/info.out" && ok info ||
		bad info "not KVM's shadow MMU on AMD: $(grep '^host MMU' "$OUT/info.out")"
fi

# mode_run LABEL SELECTION ARGS...: the selection under ombra ARGS against
# QEMU's run of it
mode_run() {
	local label=$1 sel=$2 key
	shift 2
	key=$(sel_key "$sel")
	qemu "$key" || return
	if run "mmutest-$label" 1 "$OMBRA" run "$@" -device ombra-test -kernel "$MMUTEST" -append "cases=$sel" --timeout 600 \
		--stats=json --stats-file "$OUT/mmutest-$label.json"; then
		cmp -s "$OUT/$key.out" "$OUT/mmutest-$label.out" && ok "mmutest-$label" ||
			bad "mmutest-$label" "differs from QEMU TCG: $(diff "$OUT/$key.out" "$OUT/mmutest-$label.out" | head -5 | tr '\n' ' ')"
	fi
}
tdp_selection "$CASES_FILE"
mode_run tdp "$TDP_SEL" --mmu=tdp
mode_run shadow "$ALL_SEL" --mmu=shadow

if run compare 0 "$OMBRA" compare -device ombra-test -kernel "$MMUTEST" -append "cases=demand64,cr3switch64,spaces64,nonpaging,paging64" \
	--shadow-sync=all --timeout 600; then
	grep -q "verdict: the guest saw the same machine in every mode" "$OUT/compare.out" && ok compare ||
		bad compare "$(tail -3 "$OUT/compare.out")"
fi
summary smoke
