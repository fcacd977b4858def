#!/bin/sh
# One long libFuzzer run of one harness, measured in CPU time rather than
# wall time (issue 15: each fuzzer for at least one CPU-hour, not in CI):
# the fuzzer runs at nice 19 on the committed corpus (tests/fuzz/corpus/H)
# with what it finds kept in build-fuzz/hours-H/corpus, and is sent SIGINT
# (libFuzzer then prints its final stats) once its user+sys time, as
# /proc/PID/stat reports it, passes CPU_SECONDS (default 3600).  Run one
# at a time: it is one fuzzer process on one core.
#
# Usage: scripts/fuzz-cpu-hour.sh HARNESS [CPU_SECONDS]
#   (HARNESS: walk, loader, emulate, trap or irqchip; make fuzz-smoke
#   builds build-fuzz/fuzz_HARNESS first.)  Log: build-fuzz/hours-H/log;
#   crashes: build-fuzz/hours-H/crash-*; the CPU seconds it ran:
#   build-fuzz/hours-H/cpu.  To stop early, send SIGINT to the fuzzer
#   (its pid is in build-fuzz/hours-H/pid) and the log keeps the stats.
set -eu
h=${1:?usage: scripts/fuzz-cpu-hour.sh HARNESS [CPU_SECONDS]}
limit=${2:-3600}
bin=build-fuzz/fuzz_$h
dir=build-fuzz/hours-$h
[ -x "$bin" ] || { echo "fuzz-cpu-hour: no $bin (make build-fuzz/fuzz_$h)" >&2; exit 1; }
mkdir -p "$dir/corpus"
tck=$(getconf CLK_TCK)

nice -n 19 "$bin" "$dir/corpus" "tests/fuzz/corpus/$h" -max_len=65556 -print_final_stats=1 \
	-artifact_prefix="$dir/crash-" >"$dir/log" 2>&1 &
pid=$!
echo "$pid" >"$dir/pid"
# CPU seconds of the fuzzer: utime + stime, fields 14 and 15 of
# /proc/PID/stat (counted after the ')' that ends the command name).
cpu() {
	sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk -v t="$tck" '{ printf "%d\n", ($12 + $13) / t }'
}
sent=0
while kill -0 "$pid" 2>/dev/null; do
	c=$(cpu)
	[ -n "$c" ] && echo "$c" >"$dir/cpu"
	if [ "$sent" = 0 ] && [ -n "$c" ] && [ "$c" -ge "$limit" ]; then
		kill -INT "$pid"
		sent=1
	fi
	sleep 5
done
st=0
wait "$pid" || st=$?
echo "fuzz-cpu-hour: $h ran $(cat "$dir/cpu") CPU seconds, exit status $st; $(grep -o 'Done [0-9]* runs' "$dir/log" | tail -1)"
