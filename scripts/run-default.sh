#!/bin/sh
# make run's main job: ombra compare on the bundled test kernel
# (build/guest/mmutest.elf): tdp mode against shadow mode under each
# coherence strategy, on the cases this host's KVM can run in tdp mode, then
# shadow mode alone on the rest.  Exits 0 when the guest saw the same
# machine everywhere and every case passed.
B=${1:-build}
OMBRA=$B/ombra
K=$B/tests/kernels
KERNEL=$B/guest/mmutest.elf
CASES=tests/e2e/mmutest.cases

# case_need and host_has: what a case needs of tdp mode, and what this host has.
. "$(dirname "$0")/host-probes.sh"
p32=no pae=no g1=no
host_has paging32 && p32=yes
host_has pae && pae=yes
host_has 1g && g1=yes

tdp="" shadow="" skipped=""
while read -r c; do
	[ -z "$c" ] && continue
	case $(case_need "$c") in
	1g) need=$g1 ;;
	pae) need=$pae ;;
	paging32) need=$p32 ;;
	*) need=yes ;;
	esac
	if [ "$need" = yes ]; then tdp="$tdp,$c"; else skipped="$skipped $c"; fi
	shadow="$shadow,$c"
done <"$CASES"
tdp=${tdp#,}
shadow=${shadow#,}

status=0
echo "== ombra compare: tdp mode against shadow mode, each coherence strategy =="
[ -n "$skipped" ] && echo "(compared on the cases this host's KVM can run; not:$skipped; see docs/host.md)"
"$OMBRA" compare -kernel "$KERNEL" -append "cases=$tdp" --shadow-sync=all --timeout 600 || status=1
echo
if [ -n "$skipped" ]; then
	echo "== shadow mode alone on the cases this host's KVM cannot run in tdp mode =="
	rest=$(echo $skipped | tr ' ' ,)
	"$OMBRA" run --mmu=shadow -kernel "$KERNEL" -append "cases=$rest" --timeout 600 --stats=none
	[ $? = 1 ] || status=1
	echo
fi
if [ "$status" = 0 ]; then
	echo "make run: the guest saw the same machine in every mode, and every case passed"
else
	echo "make run: a mode differed or a case failed" >&2
fi
exit "$status"
