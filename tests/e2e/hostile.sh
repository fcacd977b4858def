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
#      peak RSS stays under the limit docs/security.md gives.
# A limit of this host's KVM (kvm_pvm) is a SKIP with the reason.  The last
# line is "hostile: N passed, N failed, N skipped".
set -u
B=${1:-build}
OMBRA=$B/ombra
KERNEL=$B/guest/hostile.elf
OUT=$B/hostile
RAM=512M
QEMU_ARGS="-accel tcg -cpu qemu64,+nx,+pdpe1gb -display none -no-reboot -monitor none -nodefaults \
-device isa-debug-exit,iobase=0xf4,iosize=0x04"
CASES="rsvd randpt phys mmio selfmap cycle monitor priv undef undef0 straddle smc spaces"
CONFIGS="tdp shadow-unsync shadow-wp shadow-vtlb shadow-pool64"
rm -rf "$OUT"
mkdir -p "$OUT"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# ombra_cmd CONFIG: the ombra command line for a configuration
ombra_cmd() {
	case $1 in
	tdp)           echo "$OMBRA run --mmu=tdp" ;;
	shadow-pool64) echo "$OMBRA run --mmu=shadow --shadow-pages=64" ;;
	shadow-*)      echo "$OMBRA run --mmu=shadow --shadow-sync=${1#shadow-}" ;;
	esac
}

finish() {
	echo "hostile: $pass passed, $fail failed, $skip skipped"
	[ "$fail" = 0 ]
	exit
}

if ! "$OMBRA" info >/dev/null 2>"$OUT/info.err"; then
	skip hostile "no usable KVM: $(cat "$OUT/info.err")"
	finish
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
	skip hostile "qemu-system-x86_64 is not installed (scripts/setup.sh installs it)"
	finish
fi

# --- 1. cases with their own result, against QEMU TCG ---------------------------
for c in $CASES; do
	# shellcheck disable=SC2086
	if ! run "qemu-$c" 1 qemu-system-x86_64 $QEMU_ARGS -m $RAM -serial stdio -kernel "$KERNEL" \
		-append "cases=$c"; then
		continue
	fi
	grep -q "^case $c: ok$" "$OUT/qemu-$c.out" || { bad "qemu-$c" "the case fails under QEMU TCG"; continue; }
	for cfg in $CONFIGS; do
		# The pool and strategy variants repeat spaces at 20,000: the
		# 100,000 run is the tdp and shadow-unsync one (section 3).
		[ "$c" = spaces ] && [ "$cfg" != tdp ] && [ "$cfg" != shadow-unsync ] && continue
		name="$cfg-$c"
		# shellcheck disable=SC2046
		$(ombra_cmd "$cfg") -m $RAM -kernel "$KERNEL" -append "cases=$c" --stats=json \
			--stats-file="$OUT/$name.json" >"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null
		status=$?
		if [ "$cfg" = tdp ] && [ "$c" = undef0 ] && grep -q "KVM internal error" "$OUT/$name.err"; then
			skip "$name" "this host's KVM emulates ring-0 guest code and its emulator fails on an undefined opcode (KVM_INTERNAL_ERROR_EMULATION) where a CPU raises #UD: $(grep -m1 'guest state' "$OUT/$name.err")"
			continue
		fi
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
	if run "$name" "$want" "$OMBRA" run -m $RAM -kernel "$KERNEL" "$@"; then
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
# this host's KVM keeps CPL-3 code out of it, which is a SKIP here.
# shellcheck disable=SC2086
if run qemu-upper 1 qemu-system-x86_64 $QEMU_ARGS -m $RAM -serial stdio -kernel "$KERNEL" -append cases=upper; then
	for m in tdp shadow; do
		"$OMBRA" run --mmu=$m -m $RAM -kernel "$KERNEL" -append cases=upper >"$OUT/$m-upper.out" 2>"$OUT/$m-upper.err"
		if cmp -s "$OUT/qemu-upper.out" "$OUT/$m-upper.out"; then
			ok "$m-upper"
		elif grep -q "kvm_pvm" "$OUT/$m-upper.err" && { [ $m = shadow ] || grep -q "ring 3 read of 0xffff800000000000: .*#PF" "$OUT/$m-upper.out"; }; then
			skip "$m-upper" "this host's KVM (kvm_pvm) keeps CPL-3 code out of the upper half of the address space: $(grep -m1 'ring 3 read\|guest killed' "$OUT/$m-upper.out" "$OUT/$m-upper.err" | cut -d: -f2-)"
		else
			bad "$m-upper" "differs from QEMU TCG: $(grep -m1 'FAIL\|guest killed' "$OUT/$m-upper.out" "$OUT/$m-upper.err")"
		fi
	done
fi

# --- 3. 100,000 address spaces: bounded pool, bounded RSS -------------------------
# The limit (docs/security.md): guest RAM, plus the shadow pool at its
# default size (RAM/8: one 4 KiB page per 32 KiB), plus 64 MiB.
CHECK=$B/tests/check-json
for cfg in tdp shadow-unsync; do
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
if run spaces-pool64 1 "$OMBRA" run --mmu=shadow --shadow-pages=64 -m $RAM -kernel "$KERNEL" \
	-append "cases=spaces spaces=20000"; then
	grep -q "^case spaces: ok$" "$OUT/spaces-pool64.out" && ok spaces-pool64 ||
		bad spaces-pool64 "$(grep -m1 '^case' "$OUT/spaces-pool64.out")"
fi
finish
