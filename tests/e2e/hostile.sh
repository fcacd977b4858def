#!/bin/bash
# The hostile-guest suite (guest/hostile): a guest kernel that misbehaves on
# purpose, run under QEMU TCG (the oracle) and under ombra in tdp mode and in
# shadow mode with each coherence strategy and a small shadow-page pool.
#
#   1. every case that ends by itself: ombra's serial output must be byte
#      for byte QEMU TCG's for the same case (each case checks itself too,
#      against the manual's rules and a reference page walk of its own);
#   2. the cases that never end by themselves: the verdict is ombra's
#      "guest killed: <reason>", with the counters still reported;
#   3. 100,000 address spaces: the shadow pool stays bounded and ombra's
#      peak RSS stays under the limit docs/security.md gives;
#   4. floods (issue 15): memslot moves, phase marks, explain requests,
#      serial output and test-device errors as fast as a guest can ask:
#      peak RSS bounded, stderr short, each cap said once, and the run
#      stops on --timeout and on SIGTERM within a bound.
# A limit of this host a probe proved (no /dev/kvm; kvm_pvm's gaps) is a
# SKIP naming it; anything else missing is a FAIL.  QEMU's runs are kept in
# $OUT for the nested host's pass (E2E_QEMU_REF, as in run.sh).  The last
# line is "hostile: N passed, N failed, N skipped".
set -u
B=${1:-build}
OMBRA=$B/ombra
K=$B/tests/kernels
KERNEL=$B/guest/hostile.elf
OUT=${E2E_OUT:-$B/hostile}
RAM=512M
QEMU_ARGS="-accel tcg -cpu qemu64,+nx,+pdpe1gb -display none -no-reboot -monitor none -nodefaults \
-device isa-debug-exit,iobase=0xf4,iosize=0x04"
CASES="rsvd randpt phys mmio selfmap cycle monitor priv undef undef0 straddle smc spaces"
CONFIGS="tdp shadow-unsync shadow-wp shadow-vtlb shadow-pool64"
rm -rf "$OUT"
mkdir -p "$OUT"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/host-probes.sh
. scripts/host-probes.sh

# ombra_cmd CONFIG: the ombra command line for a configuration
ombra_cmd() {
	case $1 in
	tdp)           echo "$OMBRA run --mmu=tdp" ;;
	shadow-pool64) echo "$OMBRA run --mmu=shadow --shadow-pages=64" ;;
	shadow-*)      echo "$OMBRA run --mmu=shadow --shadow-sync=${1#shadow-}" ;;
	esac
}

need_kernel hostile "$KERNEL" || { summary hostile; exit; }

# FLOODS_ONLY=1: section 4 alone (a quick pass on the nested host).
CHECK=$B/tests/check-json
if [ -z "${FLOODS_ONLY:-}" ]; then
# --- 1. cases with their own result, against QEMU TCG ---------------------------
for c in $CASES; do
	# shellcheck disable=SC2086
	if ! qemu "qemu-$c" $QEMU_ARGS -m $RAM -serial stdio -kernel "$KERNEL" -append "cases=$c"; then
		continue
	fi
	grep -q "^case $c: ok$" "$OUT/qemu-$c.out" || { bad "qemu-$c" "the case fails under QEMU TCG"; continue; }
	ok "qemu-$c"
	for cfg in $CONFIGS; do
		# spaces (100,000 address spaces) runs here in tdp and
		# shadow-unsync; the other strategies and the small pool repeat
		# it at 20,000 in section 3.
		[ "$c" = spaces ] && [ "$cfg" != tdp ] && [ "$cfg" != shadow-unsync ] && continue
		name="$cfg-$c"
		# kvm_pvm emulates ring-0 guest code, and its emulator fails on an
		# undefined opcode (KVM_INTERNAL_ERROR_EMULATION) where a CPU
		# raises #UD.
		if [ "$cfg" = tdp ] && [ "$c" = undef0 ]; then
			need "$name" kvm native-ring0 || continue
		else
			need "$name" kvm || continue
		fi
		# shellcheck disable=SC2046
		$(ombra_cmd "$cfg") -m $RAM -kernel "$KERNEL" -append "cases=$c" --stats=json \
			--stats-file="$OUT/$name.json" >"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null
		status=$?
		if [ $status != 1 ]; then
			bad "$name" "exit status $status, want 1; $(grep -m1 'guest killed\|run ended' "$OUT/$name.err")"
		elif ! cmp -s "$OUT/qemu-$c.out" "$OUT/$name.out"; then
			bad "$name" "output differs from QEMU TCG: $(diff "$OUT/qemu-$c.out" "$OUT/$name.out" | head -5 | tr '\n' ' ')"
		else
			ok "$name"
		fi
	done
done

# --- 2. cases that never end by themselves: ombra kills them with a reason -------
# verdict NAME STATUS PATTERN ARGS...: ombra run ARGS, exit STATUS, stderr has
# "guest killed: " + PATTERN and the counters
verdict() {
	local name=$1 want=$2 pat=$3
	shift 3
	if need "$name" kvm && run "$name" "$want" "$OMBRA" run -m $RAM -kernel "$KERNEL" "$@"; then
		if grep -q "^ombra: guest killed: $pat" "$OUT/$name.err" && grep -q "exits to ombra" "$OUT/$name.err"; then
			ok "$name"
		else
			bad "$name" "no 'guest killed: $pat' verdict: $(grep -m1 'guest killed\|run ended' "$OUT/$name.err")"
		fi
	fi
}
verdict storm-tdp 4 "--timeout" --mmu=tdp -append cases=storm --timeout 3
verdict storm-shadow 2 "no progress: the same page fault" --mmu=shadow -append cases=storm --timeout 300
verdict spin-tdp 4 "--timeout" --mmu=tdp -append cases=spin --timeout 2
verdict spin-shadow 4 "--timeout" --mmu=shadow -append cases=spin --timeout 2
verdict triple-tdp 2 "triple fault" --mmu=tdp -append cases=triple
verdict triple-shadow 2 "triple fault" --mmu=shadow -append cases=triple
# The upper half of the address space: fine on a PC (QEMU checks the case);
# kvm_pvm keeps CPL-3 code out of it (docs/host.md).
# shellcheck disable=SC2086
if qemu qemu-upper $QEMU_ARGS -m $RAM -serial stdio -kernel "$KERNEL" -append cases=upper; then
	for m in tdp shadow; do
		need "$m-upper" kvm native-ring0 || continue
		if run "$m-upper" 1 "$OMBRA" run --mmu=$m -m $RAM -kernel "$KERNEL" -append cases=upper; then
			cmp -s "$OUT/qemu-upper.out" "$OUT/$m-upper.out" && ok "$m-upper" ||
				bad "$m-upper" "differs from QEMU TCG: $(diff "$OUT/qemu-upper.out" "$OUT/$m-upper.out" | head -5 | tr '\n' ' ')"
		fi
	done
fi

# --- 3. 100,000 address spaces: bounded pool, bounded RSS -------------------------
# The limit (docs/security.md): guest RAM, plus the shadow pool at its
# default size (RAM/8: one 4 KiB page per 32 KiB), plus 64 MiB.
CHECK=$B/tests/check-json
for cfg in tdp shadow-unsync; do
	need "rss-$cfg" kvm || continue
	j="$OUT/$cfg-spaces.json"
	limit=$(( (512 + 512 / 8 + 64) * 1024 ))
	# An AddressSanitizer build (make sanitize) keeps shadow memory and a
	# quarantine of its own: the limit is for ombra, not for ASan.
	[ -n "${ASAN_OPTIONS:-}" ] && limit=$((limit * 2))
	if ! out=$("$CHECK" "$j" "max_rss_kib:max=$limit" "end.reason=debug-exit"); then
		bad "rss-$cfg" "$out"
	else
		ok "rss-$cfg"
		echo "  $cfg: 100,000 address spaces, $(grep -o '"max_rss_kib": *[0-9]*' "$j") (limit $limit)"
	fi
done
# 20,000 address spaces under the other strategies and the small pool.
for cfg in shadow-wp shadow-vtlb shadow-pool64; do
	need "spaces-${cfg#shadow-}" kvm || continue
	# shellcheck disable=SC2046
	if run "spaces-${cfg#shadow-}" 1 $(ombra_cmd $cfg) -m $RAM -kernel "$KERNEL" -append "cases=spaces spaces=20000"; then
		grep -q "^case spaces: ok$" "$OUT/spaces-${cfg#shadow-}.out" && ok "spaces-${cfg#shadow-}" ||
			bad "spaces-${cfg#shadow-}" "$(grep -m1 '^case' "$OUT/spaces-${cfg#shadow-}.out")"
	fi
done
fi   # FLOODS_ONLY

# --- 4. floods: a budget on everything a guest can make ombra do (issue 15) -------
# Each flood case runs forever; ombra must end it on --timeout (exit 4,
# "guest killed: --timeout") and on SIGTERM (exit 6, "interrupted by signal
# 15") within STOP_BOUND seconds, its peak RSS within the same bound as
# section 3, its stderr short, and each cap said once.  STOP_BOUND is 5 s,
# not the one second ombra aims at (docs/security.md): the nested host is
# QEMU's software CPU, several times slower than hardware, and the time
# measured here includes ombra's set-up and teardown; before issue 15 one
# shadow-mode trap of moveflood took minutes.
STOP_BOUND=${STOP_BOUND:-5}
RUN_S=3
now_ms() { date +%s%3N; }
# flood NAME MODE WANT_CAP_LINE ARGS...: two runs of the case, --timeout and
# SIGTERM; WANT_CAP_LINE is a pattern that must appear exactly once on
# stderr (or "" for none)
flood() {
	local c=$1 m=$2 capline=$3 how name t0 t1 st want why stop rss errsize rsslimit out
	shift 3
	rsslimit=$(( (512 + 512 / 8 + 64) * 1024 ))
	[ -n "${ASAN_OPTIONS:-}" ] && rsslimit=$((rsslimit * 2))
	for how in timeout term; do
		name="$m-$c-$how"
		need "$name" kvm || continue
		t0=$(now_ms)
		if [ $how = timeout ]; then
			"$OMBRA" run --mmu=$m -m $RAM -kernel "$KERNEL" -append "cases=$c" "$@" --timeout $RUN_S \
				--stats=json --stats-file="$OUT/$name.json" >"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null
			st=$?
			want=4 why="guest killed: --timeout"
		else
			timeout --preserve-status -s TERM $((RUN_S + 1)) "$OMBRA" run --mmu=$m -m $RAM -kernel "$KERNEL" \
				-append "cases=$c" "$@" --stats=json --stats-file="$OUT/$name.json" \
				>"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null
			st=$?
			want=6 why="run ended (interrupted): interrupted by signal 15"
		fi
		t1=$(now_ms)
		# time from the stop (the timeout's expiry, or SIGTERM) to ombra's exit
		if [ $how = timeout ]; then stop=$((t1 - t0 - RUN_S * 1000)); else stop=$((t1 - t0 - (RUN_S + 1) * 1000)); fi
		rss=$(grep -o '"max_rss_kib": *[0-9]*' "$OUT/$name.json" 2>/dev/null | grep -o '[0-9]*$')
		errsize=$(wc -c <"$OUT/$name.err")
		echo "  $name: exit $st, stopped in ${stop} ms, peak RSS $(( ${rss:-0} / 1024 )) MiB, stderr $errsize bytes"
		echo "$c $m $how $st $stop ${rss:-0} $errsize" >>"$OUT/floods.txt"
		if [ "$st" != $want ]; then
			bad "$name" "exit status $st, want $want; $(grep -m1 'guest killed\|run ended' "$OUT/$name.err")"
		elif ! grep -q "^ombra: $why" "$OUT/$name.err"; then
			bad "$name" "no '$why' verdict: $(grep -m1 'guest killed\|run ended' "$OUT/$name.err")"
		elif [ "$stop" -gt $((STOP_BOUND * 1000)) ]; then
			bad "$name" "took ${stop} ms to stop, bound ${STOP_BOUND} s"
		elif ! out=$("$CHECK" "$OUT/$name.json" "max_rss_kib:max=$rsslimit"); then
			bad "$name" "$out"
		elif [ "$errsize" -gt $((1024 * 1024)) ]; then
			bad "$name" "stderr grew to $errsize bytes"
		elif [ -n "$capline" ] && [ "$(grep -c -- "$capline" "$OUT/$name.err")" != 1 ]; then
			bad "$name" "the cap ('$capline') said $(grep -c -- "$capline" "$OUT/$name.err") times, want once"
		else
			ok "$name"
		fi
	done
}
rm -f "$OUT/floods.txt"
for m in tdp shadow; do
	flood moveflood $m "" -device ombra-test
	flood markflood $m "more than 1024 phase marks"
	flood explainflood $m "more than 256 explanations" -device ombra-test
	flood serialflood $m "" -serial null
	flood errflood $m "more than 16 errors" -device ombra-test
done
summary hostile
