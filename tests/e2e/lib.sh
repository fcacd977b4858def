# Helpers shared by the end-to-end scripts (run.sh, hostile.sh,
# report_test.sh), sourced after OUT is set: the PASS/FAIL/SKIP tally,
# running a command with its output kept under $OUT, host limits, and
# QEMU TCG's reference runs.
#
# A test is skipped only through `need`, and only for a host limit that a
# probe proved (scripts/host-probes.sh): never for a missing ombra, kernel
# file or QEMU, never on a word found in some output.  The summary counts
# the skips by limit.
#
# A test on a script's list of known differences (a named variable next to
# it, with the issue that will remove them) says KNOWN with its first
# difference instead of FAIL, counted apart; such a test that passes is a
# FAIL, so that fixing the difference forces taking it off the list.
# shellcheck shell=bash

pass=0 fail=0 skip=0 known=0
declare -A skips_by=() limit_state=() limit_why=()
ok()   { echo "PASS $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1: $2"; fail=$((fail + 1)); }
known() { echo "KNOWN $1: $2"; known=$((known + 1)); }

# run NAME EXPECTED_STATUS CMD...: stdout/stderr to $OUT/NAME.{out,err},
# the exit status to $OUT/NAME.status
run() {
	local name=$1 want=$2 got
	shift 2
	"$@" >"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null
	got=$?
	echo $got >"$OUT/$name.status"
	if [ "$got" != "$want" ]; then
		bad "$name" "exit status $got, want $want; stderr: $(head -c 400 "$OUT/$name.err")"
		return 1
	fi
	return 0
}

# limit LIMIT: is LIMIT (a host_probe name) proven missing on this host?
# Probes run once per script; a probe that fails is a FAIL of its own
# (probe-LIMIT), and the tests that needed it do not run.  Returns 0 when
# the host has it, 1 when it is proven missing, 2 when the probe failed.
limit() {
	local l=$1 why st
	if [ -z "${limit_state[$l]:-}" ]; then
		why=$(host_probe "$l")
		st=$?
		limit_state[$l]=$st
		limit_why[$l]=$why
		[ $st = 2 ] && bad "probe-$l" "$why"
	fi
	return "${limit_state[$l]}"
}

# need NAME LIMIT...: run test NAME only if the host has every LIMIT; a
# limit proven missing is a SKIP naming it, a failed probe leaves NAME out
# (the probe's FAIL already counts).
need() {
	local name=$1 l
	shift
	for l in "$@"; do
		limit "$l"
		case $? in
		0) ;;
		1) if [ -z "${skips_by[$l]:-}" ]; then echo "SKIP $name: [$l] ${limit_why[$l]}"
		   else echo "SKIP $name: [$l]"; fi
		   skip=$((skip + 1)); skips_by[$l]=$(( ${skips_by[$l]:-0} + 1 ))
		   return 1 ;;
		*) return 1 ;;
		esac
	done
	return 0
}

# summary WHAT: the closing lines; the exit status says whether all passed
# (known differences do not count as failures; the line counts them when
# there are any)
summary() {
	local l line=""
	for l in "${!skips_by[@]}"; do line="$line $l ${skips_by[$l]},"; done
	[ -n "$line" ] && echo "$1: skipped by host limit:${line%,}"
	if [ "$known" = 0 ]; then
		echo "$1: $pass passed, $fail failed, $skip skipped"
	else
		echo "$1: $pass passed, $fail failed, $skip skipped, $known known"
	fi
	[ "$fail" = 0 ]
}

# known_or_match NAME REF KNOWN_LIST: the run NAME (its .out and .status
# under $OUT) against QEMU TCG's REF.out, byte for byte with exit status 1.
# If NAME's last /-part is in KNOWN_LIST (space-separated), a difference is
# KNOWN (the first line ombra printed that QEMU did not, or else the first
# it did not print, and ombra's first stderr line when the exit status is
# not 1) and a match is a FAIL;
# otherwise a match passes and a difference fails.
known_or_match() {
	local name=$1 ref=$2 list=" $3 " run=${1//\//-} st first
	st=$(cat "$OUT/$run.status")
	first=$(diff "$OUT/$ref.out" "$OUT/$run.out" | grep -m1 '^>' | sed 's/^> /ombra printed: /')
	[ -z "$first" ] && first=$(diff "$OUT/$ref.out" "$OUT/$run.out" | grep -m1 '^<' | sed 's/^< /ombra did not print: /')
	[ "$st" != 1 ] && first="$first; exit status $st: $(head -1 "$OUT/$run.err")"
	if [ "${list#* "${name##*/}" }" != "$list" ]; then
		if [ "$st" = 1 ] && cmp -s "$OUT/$ref.out" "$OUT/$run.out"; then
			bad "$name" "matches QEMU TCG now: take ${name##*/} off the known list"
		else
			known "$name" "$first"
		fi
	elif [ "$st" = 1 ] && cmp -s "$OUT/$ref.out" "$OUT/$run.out"; then
		ok "$name"
	else
		bad "$name" "differs from QEMU TCG: $first"
	fi
}

# known_checks NAME REF "CHECK...": a kernel that prints `check X: ...`
# lines, run where the listed checks are known to fail (each for a reason
# docs/shadow.md gives).  Every other line must be QEMU TCG's (REF) and
# ombra must print nothing QEMU does not; each listed check must be
# printed and still differ from QEMU's line (one that matches now must
# come off the list); the run ends with exit status 3 (some failed).
known_checks() {
	local name=$1 ref=$2 list run=${1//\//-} st line c problems="" fixed="" nfail=0
	# shellcheck disable=SC2086
	list=" $(echo $3) "                                     # one space between names
	st=$(cat "$OUT/$run.status")
	while IFS= read -r line; do
		if known_listed "$line"; then
			[ -z "$c" ] && continue
			if ! grep -q "^check $c: " "$OUT/$run.out"; then
				problems="$problems; no line for check $c"
			elif grep -qxF -- "$line" "$OUT/$run.out"; then
				fixed="$fixed $c"
			else
				nfail=$((nfail + 1))
			fi
			continue
		fi
		grep -qxF -- "$line" "$OUT/$run.out" || problems="$problems; ombra did not print: $line"
	done <"$OUT/$ref.out"
	while IFS= read -r line; do
		known_listed "$line" && continue
		grep -qxF -- "$line" "$OUT/$ref.out" || problems="$problems; ombra printed: $line"
	done <"$OUT/$run.out"
	if [ -n "$problems" ]; then
		bad "$name" "$(printf %s "${problems#; }" | head -c 600); exit status $st"
	elif [ -n "$fixed" ]; then
		bad "$name" "matches QEMU TCG now on check(s)$fixed: take them off the known list"
	elif [ "$st" != 3 ]; then
		bad "$name" "exit status $st, want 3 (some checks failed); $(head -1 "$OUT/$run.err")"
	else
		known "$name" "$nfail known checks differ from QEMU TCG, every other line matches"
	fi
}

# known_listed LINE (for known_checks, whose $list it reads and whose $c it
# sets): is LINE the summary (c empty) or a check on the list (c its name)?
known_listed() {
	case $1 in
	"summary: "*) c=; return 0 ;;
	"check "*)
		c=${1#check }
		c=${c%%:*}
		[ "${list#* "$c" }" != "$list" ] ;;
	*) return 1 ;;
	esac
}

# qemu NAME ARGS...: QEMU TCG's run of ARGS, which must exit 1 (0 written
# to isa-debug-exit), its output in $OUT/NAME.out.  With E2E_QEMU_REF=DIR
# the run is not repeated: the output of the real QEMU run an earlier pass
# of the same script kept in DIR is used (the nested host runs ombra, and
# QEMU's software CPU inside it would be software on software).
qemu() {
	local name=$1
	shift
	if [ -n "${E2E_QEMU_REF:-}" ]; then
		if [ "$(cat "$E2E_QEMU_REF/$name.status" 2>/dev/null)" = 1 ] && [ -f "$E2E_QEMU_REF/$name.out" ]; then
			cp "$E2E_QEMU_REF/$name.out" "$OUT/$name.out"
			echo 1 >"$OUT/$name.status"
			return 0
		fi
		bad "$name" "no QEMU TCG reference run $E2E_QEMU_REF/$name.out with exit status 1 (make test runs QEMU on the build host first)"
		return 1
	fi
	if ! command -v qemu-system-x86_64 >/dev/null; then
		bad "$name" "qemu-system-x86_64 is not installed (scripts/setup.sh installs it)"
		return 1
	fi
	run "$name" 1 qemu-system-x86_64 "$@"
}

# tdp_selection CASES_FILE: set TDP_SEL to the mmutest cases this host's
# KVM can run in tdp mode, comma-separated; each other case is a SKIP
# naming the limit its probe proved (case_need, scripts/host-probes.sh).
# ALL_SEL gets every case.
tdp_selection() {
	local c n
	TDP_SEL="" ALL_SEL=""
	while read -r c; do
		[ -z "$c" ] && continue
		n=$(case_need "$c")
		# shellcheck disable=SC2086
		if [ "$n" = none ] || need "tdp/$c" $n; then TDP_SEL="$TDP_SEL,$c"; fi
		ALL_SEL="$ALL_SEL,$c"
	done <"$1"
	TDP_SEL=${TDP_SEL#,} ALL_SEL=${ALL_SEL#,}
}

# sel_key CASES: the name of QEMU's run of mmutest on that selection
sel_key() { echo "qemu-sel-$(echo "$1" | cksum | cut -d' ' -f1)"; }

# need_kernel NAME FILE: the test kernel FILE was built (else NAME fails)
need_kernel() {
	[ -f "$2" ] && return 0
	bad "$1" "missing $2"
	return 1
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
