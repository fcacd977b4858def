#!/bin/bash
# A job for the nested AMD-V host (scripts/nested/run.sh), for npt=0, where
# tdp mode is KVM's own shadow MMU: the whole of mmutest in tdp mode and in
# shadow mode, each against QEMU TCG's run the e2e suite kept, and ombra
# compare's verdict across tdp and every shadow strategy.
#
#   bash scripts/nested/smoke.sh OUTDIR [BUILD]
set -u
OUTDIR=$1 B=${2:-build}
OUT=$OUTDIR/smoke
OMBRA=$B/ombra
MMUTEST=$B/guest/mmutest.elf
E2E_QEMU_REF=$B/e2e
mkdir -p "$OUT"
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh

qemu qemu-all || { summary smoke; exit; }
if run info 0 "$OMBRA" info; then
	grep -q "^host MMU: shadow paging (kvm_amd with npt off" "$OUT/info.out" && ok info ||
		bad info "not KVM's shadow MMU on AMD: $(grep '^host MMU' "$OUT/info.out")"
fi
n=$(grep -c . tests/e2e/mmutest.cases)
for cfg in "tdp --mmu=tdp" "shadow --mmu=shadow"; do
	set -- $cfg
	if run "mmutest-$1" 1 "$OMBRA" run "$2" -kernel "$MMUTEST" --timeout 600 --stats=json \
		--stats-file "$OUT/mmutest-$1.json"; then
		cmp -s "$OUT/qemu-all.out" "$OUT/mmutest-$1.out" &&
			[ "$(grep -c '^case .*: ok$' "$OUT/mmutest-$1.out")" = "$n" ] && ok "mmutest-$1" ||
			bad "mmutest-$1" "differs from QEMU TCG: $(diff "$OUT/qemu-all.out" "$OUT/mmutest-$1.out" | head -5 | tr '\n' ' ')"
	fi
done
if run compare 0 "$OMBRA" compare -kernel "$MMUTEST" -append "cases=demand64,cr3switch64,spaces64,nonpaging,paging64" \
	--shadow-sync=all --timeout 600; then
	grep -q "verdict: the guest saw the same machine in every mode" "$OUT/compare.out" && ok compare ||
		bad compare "$(tail -3 "$OUT/compare.out")"
fi
summary smoke
