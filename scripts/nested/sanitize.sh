#!/bin/bash
# A job for the nested AMD-V host (scripts/nested/run.sh), for make
# sanitize: the end-to-end suites on the AddressSanitizer + UBSan build,
# against the QEMU TCG runs its build-host pass kept, the Linux guest in
# tdp and shadow mode (BUILD/linux), then whole runs with
# LeakSanitizer on (--no-seccomp: its exit-time check needs ptrace and
# /proc).  Any sanitizer report fails it; a sanitizer exits 99, never one
# of ombra's statuses.
#
#   bash scripts/nested/sanitize.sh OUTDIR BUILD
set -u
OUTDIR=$1 B=$2
status=0
san_ubsan="halt_on_error=1:print_stacktrace=1:exitcode=99"
mkdir -p "$OUTDIR/e2e" "$OUTDIR/hostile"
export UBSAN_OPTIONS=$san_ubsan
ASAN_OPTIONS=exitcode=99:detect_leaks=0 E2E_QEMU_REF=$B/e2e E2E_OUT=$OUTDIR/e2e bash tests/e2e/run.sh "$B" || status=1
ASAN_OPTIONS=exitcode=99:detect_leaks=0 E2E_QEMU_REF=$B/hostile E2E_OUT=$OUTDIR/hostile bash tests/e2e/hostile.sh "$B" || status=1
# Linux (the loader, the board's devices, the ACPI tables, a long shadow-mode run)
ASAN_OPTIONS=exitcode=99:detect_leaks=0 E2E_OUT=$OUTDIR/linux bash tests/e2e/linux.sh "$B" "$B/linux" \
	tdp:--mmu=tdp shadow:--mmu=shadow || status=1
if grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$OUTDIR"/e2e/*.err "$OUTDIR"/hostile/*.err \
	"$OUTDIR"/linux/*.err; then
	echo "sanitize: the files above hold sanitizer reports"
	status=1
fi
export ASAN_OPTIONS=exitcode=99:detect_leaks=1
for m in tdp shadow; do
	"$B/ombra" run --no-seccomp --mmu=$m -kernel "$B/guest/mmutest.elf" -append cases=paging64,demand64,spaces64 \
		--stats=none >/dev/null 2>"$OUTDIR/leak-$m.err"
	r=$?
	[ $r = 1 ] || { echo "sanitize: leak-checked $m run exited $r: $(tail -5 "$OUTDIR/leak-$m.err")"; status=1; }
done
"$B/ombra" compare -kernel "$B/guest/mmutest.elf" -append cases=paging64,demand64 >/dev/null 2>"$OUTDIR/leak-compare.err" ||
	{ echo "sanitize: leak-checked compare failed: $(tail -5 "$OUTDIR/leak-compare.err")"; status=1; }
[ $status = 0 ] && echo "sanitize (nested host): no findings"
exit $status
