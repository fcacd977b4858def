#!/bin/sh
# make run's main job: boot the bundled test kernel (build/guest/mmutest.elf)
# in tdp mode (the cases this host's KVM can run) and in shadow mode (all of
# them), with the end-of-run report after each.
#
# ombra exits as QEMU does, (value << 1) | 1 for a value written to
# isa-debug-exit, so a guest's "all passed" (0) is status 1; this script
# exits 0 when every run reports success.
B=${1:-build}
OMBRA=$B/ombra
K=$B/tests/kernels
KERNEL=$B/guest/mmutest.elf
CASES=tests/e2e/mmutest.cases

# Can this host's KVM run a guest that does X at ring 0?  (tdp mode)
host_has() {
	"$OMBRA" run -kernel "$K/probe-$1.elf" --stats=none --timeout 60 >/dev/null 2>&1
	[ $? = 1 ]
}
p32=no pae=no g1=no
host_has paging32 && p32=yes
host_has pae && pae=yes
host_has 1g && g1=yes

tdp="" shadow="" skipped=""
while read -r c; do
	[ -z "$c" ] && continue
	case $c in
	gbpages64) need=$g1 ;;
	*pae) need=$pae ;;
	*32) need=$p32 ;;
	*) need=yes ;;
	esac
	if [ "$need" = yes ]; then tdp="$tdp,$c"; else skipped="$skipped $c"; fi
	shadow="$shadow,$c"
done <"$CASES"
tdp=${tdp#,}
shadow=${shadow#,}

status=0
echo "== tdp mode: KVM's own MMU =="
[ -n "$skipped" ] && echo "(not run in tdp mode: this host's KVM cannot:$skipped; see docs/host.md)"
"$OMBRA" run --mmu=tdp -kernel "$KERNEL" -append "cases=$tdp" --timeout 600
[ $? = 1 ] || status=1
echo
echo "== shadow mode: ombra's shadow page tables =="
"$OMBRA" run --mmu=shadow -kernel "$KERNEL" -append "cases=$shadow" --timeout 600
[ $? = 1 ] || status=1
echo
if [ "$status" = 0 ]; then
	echo "make run: every case run passed in both modes (guest exit status 0)"
else
	echo "make run: a guest did not report success" >&2
fi
exit "$status"
