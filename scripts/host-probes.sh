# What an mmutest case needs of the host's KVM in tdp mode, and whether this
# host has it: shared by scripts/run-default.sh (make run) and
# tests/e2e/run.sh.  Sourced (POSIX sh) with OMBRA and K (the fixture
# kernels' directory, holding the probe-*.elf kernels) set.

# case_need CASE: paging32, pae, 1g (pages) or none (nothing beyond long mode)
case_need() {
	case $1 in
	gbpages64) echo 1g ;;
	*pae) echo pae ;;
	*32) echo paging32 ;;
	*) echo none ;;
	esac
}

# host_has NEED: can this host's KVM run a ring-0 guest that uses NEED?
# The probe kernel exits 1 (0 to isa-debug-exit) when it can.
host_has() {
	"$OMBRA" run -kernel "$K/probe-$1.elf" --stats=none --timeout 60 >/dev/null 2>&1
	[ $? = 1 ]
}
