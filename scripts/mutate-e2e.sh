#!/bin/bash
# The end-to-end layer of the mutation check (scripts/mutate.sh,
# docs/testing.md), a job for the nested AMD-V host (scripts/nested/run.sh):
# each mutant's ombra on the guest kernels, its output compared with QEMU
# TCG's run of the same kernel, made on the build host beforehand.  The
# configurations run in a fixed order and a mutant stops at the first one
# that differs from QEMU or exits wrongly ("caught"); the unmutated ombra
# (BASE) runs first and must pass every configuration (a configuration it
# fails is dropped, loudly, so that it cannot catch anything).
#
#   bash scripts/mutate-e2e.sh OUTDIR KERNELS REFS BASE_OMBRA NAME=OMBRA...
#
# KERNELS holds mmutest.elf, irq.elf and hostile.elf; REFS the QEMU runs
# (mmutest.out, irq.out, hostile-CASE.out).  One line per mutant goes to
# OUTDIR/results: "NAME caught CONFIG: why", or "NAME survived".
set -u
OUTDIR=$1 K=$2 REFS=$3 BASE=$4
shift 4
IRQ_CASES=oneshot,periodic,tpr,ifmask,nesting,busy,sched,pic,pit,speaker,lint0,ioapic
HOSTILE_CASES="rsvd randpt phys mmio selfmap cycle monitor priv undef undef0 straddle smc"
mkdir -p "$OUTDIR/runs"
: >"$OUTDIR/results"

# The configurations, most likely to catch first: "NAME REF ARGS..."
CONFIGS=(
	"shadow-unsync mmutest --mmu=shadow --shadow-sync=unsync -device ombra-test -kernel $K/mmutest.elf --timeout 120"
	"irq-shadow irq --mmu=shadow -m 128M -kernel $K/irq.elf -append cases=$IRQ_CASES --timeout 60"
	"shadow-wp mmutest --mmu=shadow --shadow-sync=wp -device ombra-test -kernel $K/mmutest.elf --timeout 120"
	"shadow-vtlb mmutest --mmu=shadow --shadow-sync=vtlb -device ombra-test -kernel $K/mmutest.elf --timeout 120"
)
for c in $HOSTILE_CASES; do
	CONFIGS+=("hostile-$c hostile-$c --mmu=shadow -m 512M -kernel $K/hostile.elf -append cases=$c --timeout 60")
done
CONFIGS+=(
	"audit-unsync mmutest --mmu=shadow --shadow-sync=unsync --audit -device ombra-test -kernel $K/mmutest.elf --timeout 180"
	"audit-wp mmutest --mmu=shadow --shadow-sync=wp --audit -device ombra-test -kernel $K/mmutest.elf --timeout 180"
	"audit-vtlb mmutest --mmu=shadow --shadow-sync=vtlb --audit -device ombra-test -kernel $K/mmutest.elf --timeout 180"
	"noprefetch mmutest --mmu=shadow --prefetch=0 --shadow-large=off -device ombra-test -kernel $K/mmutest.elf --timeout 120"
	"tdp mmutest --mmu=tdp -device ombra-test -kernel $K/mmutest.elf --timeout 120"
)
# (No irq kernel in tdp mode: there the interrupt chips are KVM's, not the
# code under test, and KVM's PIC poll differs from QEMU's, a host limit
# tests/e2e/run.sh names pic-poll.)
declare -A dropped=()

# check NAME OMBRA CONFIG: run one configuration; prints why it failed
check() {
	local name=$1 ombra=$2 cfg ref out st t0
	set -- $3
	cfg=$1 ref=$2
	shift 2
	out=$OUTDIR/runs/$name.$cfg
	t0=$(date +%s)
	timeout 300 "$ombra" run "$@" --stats=none >"$out.out" 2>"$out.err" </dev/null
	st=$?
	echo "$name $cfg status $st $(($(date +%s) - t0))s" >>"$OUTDIR/times"
	if [ $st != 1 ]; then
		# the guest's own verdict if it gave one, else ombra's
		echo "exit status $st, want 1: $( (grep -m1 'FAIL' "$out.out"; grep -m1 -E 'guest killed|run ended|audit' "$out.err") |
			head -1 | head -c 200)"
		return 1
	fi
	if ! cmp -s "$REFS/$ref.out" "$out.out"; then
		echo "output differs from QEMU TCG: $(diff "$REFS/$ref.out" "$out.out" | grep '^[<>]' | head -2 | tr '\n' ' ' | head -c 240)"
		return 1
	fi
	rm -f "$out.out" "$out.err"
	return 0
}

# The unmutated ombra: every configuration must pass.
for i in "${!CONFIGS[@]}"; do
	if why=$(check base "$BASE" "${CONFIGS[$i]}"); then :; else
		echo "mutate-e2e: the unmutated ombra fails ${CONFIGS[$i]%% *} ($why): dropped" | tee -a "$OUTDIR/results"
		dropped[$i]=1
	fi
done

for arg in "$@"; do
	name=${arg%%=*} ombra=${arg#*=} verdict=survived
	for i in "${!CONFIGS[@]}"; do
		[ -n "${dropped[$i]:-}" ] && continue
		if ! why=$(check "$name" "$ombra" "${CONFIGS[$i]}"); then
			verdict="caught ${CONFIGS[$i]%% *}: $why"
			break
		fi
	done
	echo "$name $verdict" | tee -a "$OUTDIR/results"
done
exit 0
