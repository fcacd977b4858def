#!/bin/sh
# make run's main job: ombra compare on the bundled test kernel
# (build/guest/mmutest.elf): tdp mode against shadow mode under each
# coherence strategy, on the cases this host's KVM can run in tdp mode, then
# shadow mode alone on the rest.  Exits 0 when the guest saw the same
# machine everywhere and every case passed.
#
# A host without /dev/kvm (this project's build machines: docs/host.md)
# runs the same job on the nested AMD-V host instead (docs/nested.md),
# under QEMU TCG: real NPT, so slower to start but the same answer.
B=${1:-build}
OMBRA=$B/ombra
K=$B/tests/kernels
KERNEL=$B/guest/mmutest.elf
CASES=tests/e2e/mmutest.cases

if [ ! -e /dev/kvm ]; then
	echo "== this host has no /dev/kvm: the job runs on the nested AMD-V host (docs/nested.md) =="
	NESTED_DIR=$B/nested sh scripts/nested/run.sh 1 "$B/nested/run" scripts/run-default.sh "$B" |
		grep -v '^\[ *[0-9.]*\] \|SeaBIOS\|Booting from ROM\|^.\[?7l'
	exit "$(cat "$B/nested/run/status" 2>/dev/null || echo 255)"
fi

# case_need and host_probe: what a case needs of tdp mode, and what this host has.
. "$(dirname "$0")/host-probes.sh"
have() {
	for need in "$@"; do host_probe "$need" >/dev/null || return 1; done
}

tdp="" shadow="" skipped=""
while read -r c; do
	[ -z "$c" ] && continue
	n=$(case_need "$c")
	# shellcheck disable=SC2086
	if [ "$n" = none ] || have $n; then tdp="$tdp,$c"; else skipped="$skipped $c"; fi
	shadow="$shadow,$c"
done <"$CASES"
tdp=${tdp#,}
shadow=${shadow#,}

status=0
echo "== ombra compare: tdp mode against shadow mode, each coherence strategy =="
[ -n "$skipped" ] && echo "(compared on the cases this host's KVM can run; not:$skipped; see docs/host.md)"
"$OMBRA" compare -device ombra-test -kernel "$KERNEL" -append "cases=$tdp" --shadow-sync=all --timeout 600 || status=1
echo
if [ -n "$skipped" ]; then
	echo "== shadow mode alone on the cases this host's KVM cannot run in tdp mode =="
	rest=$(echo $skipped | tr ' ' ,)
	"$OMBRA" run --mmu=shadow -device ombra-test -kernel "$KERNEL" -append "cases=$rest" --timeout 600 --stats=none
	[ $? = 1 ] || status=1
	echo
fi
if [ "$status" = 0 ]; then
	echo "make run: the guest saw the same machine in every mode, and every case passed"
else
	echo "make run: a mode differed or a case failed" >&2
fi
exit "$status"
