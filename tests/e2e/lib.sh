# Helpers shared by the end-to-end scripts (run.sh, report_test.sh), sourced
# after OUT is set: the PASS/FAIL/SKIP tally and running a command with its
# output kept under $OUT.
# shellcheck shell=bash

pass=0 fail=0 skip=0
ok()   { echo "PASS $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1: $2"; fail=$((fail + 1)); }
skip() { echo "SKIP $1: $2"; skip=$((skip + 1)); }

# run NAME EXPECTED_STATUS CMD...: stdout/stderr to $OUT/NAME.{out,err}
run() {
	local name=$1 want=$2 got
	shift 2
	"$@" >"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null
	got=$?
	if [ "$got" != "$want" ]; then
		bad "$name" "exit status $got, want $want; stderr: $(head -c 400 "$OUT/$name.err")"
		return 1
	fi
	return 0
}

# need_kernel_and_qemu NAME FILE: the test kernel FILE was built and QEMU
# is installed; otherwise NAME fails (no kernel) or is skipped (no QEMU)
need_kernel_and_qemu() {
	if [ ! -f "$2" ]; then
		bad "$1" "missing $2"
		return 1
	fi
	if ! command -v qemu-system-x86_64 >/dev/null; then
		skip "$1" "qemu-system-x86_64 is not installed (scripts/setup.sh installs it)"
		return 1
	fi
	return 0
}

# expect_one_line NAME PATTERN: stderr is exactly one line and matches PATTERN
expect_one_line() {
	local name=$1 pat=$2
	if [ "$(wc -l <"$OUT/$name.err")" != 1 ]; then
		bad "$name" "want one line on stderr, got: $(cat "$OUT/$name.err")"
	elif ! grep -q -- "$pat" "$OUT/$name.err"; then
		bad "$name" "stderr does not say '$pat': $(cat "$OUT/$name.err")"
	else
		ok "$name"
	fi
}
