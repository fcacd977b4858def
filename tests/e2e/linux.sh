#!/bin/bash
# The Linux guest end to end (guest/linux/README.md): Debian's own kernel
# with the project's initramfs boots through the Linux boot protocol, its
# init runs the bench program and powers the machine off through ACPI, in
# each mode given; and once more in the first mode, rebooting instead.  The guest's output is checked for sanity, never for
# times: init came up, every operation ran and printed non-zero iteration,
# time and fault counts, the bench and init finished cleanly, and ombra
# ended the run because the guest powered off (exit status 0).
#
#   bash tests/e2e/linux.sh BUILD LINUXDIR LABEL:ARGS...
#
# LINUXDIR holds vmlinuz and initramfs.cpio.gz (scripts/linux/build.sh);
# each LABEL:ARGS is one run, "tdp:--mmu=tdp" say (a ~ in ARGS stands
# for a space: "shadow-wp:--mmu=shadow~--shadow-sync=wp").  LINUX_APPEND adds to
# the kernel command line.  Needs a
# host whose KVM can run Linux (the nested AMD-V host, docs/nested.md); on
# any other the runs SKIP with the limit a probe proved.  The last line is
# "linux: N passed, N failed, N skipped".
set -u
B=$1 L=$2
shift 2
OMBRA=$B/ombra
OUT=${E2E_OUT:-$B/e2e-linux}
OPS="fault fork exec mmap pipe"
# A tenth of the bench's iterations: the test checks that each operation
# ran, not what it cost (docs/study.md's figures run it whole).
APPEND="console=ttyS0 nokaslr quiet panic=-1 bench.scale=0.1 ${LINUX_APPEND:-}"
mkdir -p "$OUT"
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/host-probes.sh
. scripts/host-probes.sh

# check_output NAME FILE: the guest's serial output is a whole bench run.
check_output() {
	local name=$1 f=$OUT/$1.txt op line why=""
	tr -d '\r' <"$2" >"$f"              # the tty ends its lines with CR LF
	grep -q "^init: up$" "$f" || why="init never came up"
	grep -Eq "^bench: op=boot iters=1 uptime_ms=[1-9][0-9]* pgfault=[1-9][0-9]*$" "$f" ||
		why="${why:-no uptime and page-fault total at boot}"
	grep -q "^bench: start$" "$f" || why="${why:-the bench never started}"
	for op in $OPS; do
		line=$(grep "^bench: op=$op " "$f")
		if [ -z "$line" ]; then
			why="${why:-no line for $op}"
			continue
		fi
		echo "$line" | grep -Eq " iters=[1-9][0-9]* ns_per_op=[1-9][0-9]* .* minflt=[1-9][0-9]* " ||
			why="${why:-$op ran no iterations, took no time or counted no fault: $line}"
	done
	grep -q "^bench: done ops=5$" "$f" || why="${why:-the bench did not finish}"
	grep -q "^init: bench exit 0$" "$f" || why="${why:-the bench failed: $(grep '^init: bench exit' "$f")}"
	grep -Eq "^bench: op=all iters=1 uptime_ms=[1-9][0-9]* pgfault=[1-9][0-9]*$" "$f" ||
		why="${why:-no uptime and page-fault total at the end}"
	if [ -n "$why" ]; then
		bad "$name" "$why; output ends: $(tail -3 "$f" | tr '\n' ' ')"
		return 1
	fi
	return 0
}

for spec in "$@"; do
	label=${spec%%:*} args=${spec#*:}
	args=${args//\~/ }
	name=linux-$label
	need "$name" kvm native-ring0 || continue
	# shellcheck disable=SC2086  # ARGS are words
	if run "$name" 0 "$OMBRA" $args -m 512M -kernel "$L/vmlinuz" -initrd "$L/initramfs.cpio.gz" \
		-append "$APPEND" --timeout 900 --stats=json --stats-file "$OUT/$name.json"; then
		if check_output "$name" "$OUT/$name.out"; then
			# the end-of-run report (JSON) says how the run ended
			grep -q '"guest powered off' "$OUT/$name.json" && ok "$name" ||
				bad "$name" "the run did not end in the guest's power-off: $(grep -o '"detail": *"[^"]*' "$OUT/$name.json")"
		fi
	fi
done

# The other way out: a reboot (ACPI's reset register, 0xcf9) ends the run
# too, in the first mode given, after a bench of one short operation.
label=${1%%:*} args=${1#*:}
args=${args//\~/ }
name=linux-$label-reboot
if need "$name" kvm native-ring0; then
	# shellcheck disable=SC2086  # ARGS are words
	if run "$name" 0 "$OMBRA" $args -m 512M -kernel "$L/vmlinuz" -initrd "$L/initramfs.cpio.gz" \
		-append "$APPEND bench=fault bench.scale=0.01 init.end=reboot" --timeout 900 \
		--stats=json --stats-file "$OUT/$name.json"; then
		tr -d '\r' <"$OUT/$name.out" | grep -q "^init: bench exit 0$" &&
			grep -q '"guest reset the machine' "$OUT/$name.json" && ok "$name" ||
			bad "$name" "not a reboot after the bench: $(grep -o '"detail": *"[^"]*' "$OUT/$name.json")"
	fi
fi
summary linux
