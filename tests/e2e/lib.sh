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
