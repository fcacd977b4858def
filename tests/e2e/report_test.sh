#!/bin/bash
# End-to-end test of ombra report (docs/report.md): the HTML page of charts
# made from --stats=json reports, compare --json outputs and traces.
#
#   1. the command line: bad input is one line naming the file (and line)
#      with ombra's own exit status; an input is never overwritten.
#   2. the inputs: the fixtures in tests/e2e/report/ and handmade traces
#      written to docs/trace.md, always; and where this host has KVM, also
#      the real ombra's on build/guest/mmutest.elf in both modes (on a host
#      without KVM that part is a SKIP naming the limit; make test runs it
#      on the nested host).
#   3. the page: self-contained (nothing fetched, no scripts), then opened
#      in a real headless browser (Debian's chromium): the rendered DOM has
#      one svg per chart with the expected number of lines and bars and the
#      counter table's rows, a page without traces says "no data", and a
#      screenshot renders.
#
#   bash tests/e2e/report_test.sh [BUILD]      (BUILD defaults to build)
#
# The last line is "report: N passed, N failed, N skipped".
# shellcheck disable=SC2015  # "A && ok || bad": ok and skip always succeed
set -u
B=${1:-build}
OMBRA=$B/ombra
MMUTEST=$B/guest/mmutest.elf
FIXTURES=$(dirname "$0")/report
SCHEMA=$(dirname "$0")/trace_schema.json
OUT=${E2E_OUT:-$B/e2e-report}
APPEND="cases=paging64,demand64"
rm -rf "$OUT"
mkdir -p "$OUT"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/host-probes.sh
. scripts/host-probes.sh
finish() {
	summary report
	exit
}

if [ ! -x "$OMBRA" ]; then
	bad report-build "no $OMBRA: run make all first"
	finish
fi

# --- 1. command line --------------------------------------------------------
run report-usage 8 "$OMBRA" report && expect_one_line report-usage "give the files"
run report-missing 10 "$OMBRA" report -o "$OUT/x.html" "$OUT/nope.json" &&
	expect_one_line report-missing "cannot open $OUT/nope.json"
printf '{"event":"header","t":0,"mode":"shadow"}\n{"event":"fill","t":0.1,\n' >"$OUT/broken.trace"
run report-malformed-trace 10 "$OMBRA" report -o "$OUT/x.html" "$OUT/broken.trace" &&
	expect_one_line report-malformed-trace "broken.trace:2: not valid JSON"
printf '{\n  "mode": "tdp",\n  "counters": {\n    "pf_fixed": "lots"\n  }\n}\n' >"$OUT/broken.json"
run report-malformed-json 10 "$OMBRA" report -o "$OUT/x.html" "$OUT/broken.json" &&
	expect_one_line report-malformed-json 'broken.json:4: counter "pf_fixed" must be an integer'
[ -e "$OUT/x.html" ] && bad report-malformed-json "a page was written for bad input"
cp "$FIXTURES/tdp.json" "$OUT/precious.json"
before=$(cksum <"$OUT/precious.json")
run report-no-overwrite 8 "$OMBRA" report -o "$OUT/precious.json" "$FIXTURES/shadow.json" "$OUT/precious.json" &&
	{ [ "$(cksum <"$OUT/precious.json")" = "$before" ] &&
		expect_one_line report-no-overwrite "refusing to overwrite input file" ||
		bad report-no-overwrite "the input changed"; }

# --- 2. inputs ----------------------------------------------------------------
# handmade_trace shadow|tdp FILE: a small trace written to docs/trace.md, for
# when ombra cannot write one (no KVM, or no --trace yet); tdp's with KVM's
# tracepoints (kvm records: a kvm_exit per exit, a kvm_page_fault every
# third).  Shadow: 120 fills
# (12 nonpaging, 108 paging64; every third a 2 MiB page), a #PF injected every
# fourth fill after the 20th, a CR3 load every 15th; a sample every 10 ms.
handmade_trace() {
	awk -v mode="$1" 'BEGIN {
		printf "{\"event\":\"header\",\"t\":0.00002,\"ombra\":\"0.1.0\",\"mode\":\"%s\",", mode
		printf "\"kernel\":\"build/guest/mmutest.elf\",\"append\":\"cases=paging64,demand64\",\"ram_bytes\":134217728,"
		if (mode == "shadow")
			printf "\"unavailable\":[],\"sync\":\"unsync\"}\n"
		else
			printf "\"unavailable\":[\"fill, inject and the other MMU events: inside KVM in tdp mode\"],\"kvm_source\":\"/sys/kernel/tracing/instances/ombra-99\",\"kvm_tracepoints\":[\"kvm:kvm_exit\",\"kvm:kvm_page_fault\"]}\n"
		next_sample = 0.01
		for (i = 1; i <= 120; i++) {
			t = 0.0003 * i
			if (t >= next_sample) {
				printf "{\"event\":\"sample\",\"t\":%.6f,\"exits\":%d,\"pf_fixed\":%d,\"pf_guest\":%d,\"pf_taken\":%d", next_sample, exits, fixed, guest, fixed + guest
				if (mode == "shadow")
					printf ",\"cr3_writes\":%d,\"root_hits\":%d,\"shadow_pages\":%d", cr3, hits, 4 + fixed / 3
				printf ",\"invlpg\":0}\n"
				next_sample += 0.01
			}
			exits++
			if (mode == "tdp") {
				# the kvm tracepoints, as tracefs gives them: read in a batch
				# before the record that follows them
				if (i % 3 == 0)
					printf "{\"event\":\"kvm\",\"t\":%.6f,\"name\":\"kvm_page_fault\",\"text\":\"vcpu 0 rip 0x%x address 0x%016x error_code 0x100000014\",\"fields\":{\"vcpu\":0,\"rip\":\"0x%x\",\"address\":\"0x%x\",\"error_code\":\"0x100000014\"}}\n", t - 0.00002, 1048576 + i * 16, 4194304 + i * 4096, 1048576 + i * 16, 4194304 + i * 4096
				printf "{\"event\":\"kvm\",\"t\":%.6f,\"name\":\"kvm_exit\",\"text\":\"vcpu 0 reason io rip 0x%x info1 0x0000000003f90010 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000\",\"fields\":{\"vcpu\":0,\"reason\":\"io\",\"rip\":\"0x%x\"}}\n", t - 0.00001, 1048576 + i * 16, 1048576 + i * 16
				printf "{\"event\":\"exit\",\"t\":%.6f,\"reason\":\"IO\",\"port\":1016}\n", t
				if (i > 20 && i % 4 == 0)
					guest++
				continue
			}
			path = i <= 12 ? "nonpaging" : "paging64"
			level = i % 3 == 0 ? 2 : 1
			printf "{\"event\":\"fill\",\"t\":%.6f,\"rip\":\"0x%x\",\"path\":\"%s\",\"insn\":\"mov eax, dword ptr [rbx]\",\"gva\":\"0x%x\",\"gpa\":\"0x%x\",\"mpa\":\"0x40%08x\",\"error_code\":4,\"level\":%d,\"spte\":\"0x40%08x\",\"spte_flags\":\"P US A D: 4 KiB page\"}\n", t, 1048576 + i * 16, path, 4194304 + i * 4096, 4194304 + i * 4096, 4194304 + i * 4096, level, 4194304 + i * 4096 + 101
			fixed++
			if (path == "nonpaging") np++
			if (level == 2) large++
			if (i > 20 && i % 4 == 0) {
				printf "{\"event\":\"inject\",\"t\":%.6f,\"vector\":14,\"error_code\":6,\"gva\":\"0x%x\",\"rip\":\"0x%x\",\"path\":\"paging64\"}\n", t + 0.00001, 8388608 + i * 4096, 1048576 + i * 16
				guest++
			}
			if (i % 15 == 0) {
				hit = i % 30 != 0
				printf "{\"event\":\"cr3_load\",\"t\":%.6f,\"cr3\":\"0x%x\",\"rip\":\"0x%x\",\"path\":\"paging64\",\"root_hit\":%s}\n", t + 0.00002, 65536 + (i % 2) * 4096, 1048576, hit ? "true" : "false"
				cr3++
				if (hit) hits++; else misses++
			}
		}
		t = 0.0003 * 120 + 0.001
		printf "{\"event\":\"sample\",\"t\":%.6f,\"exits\":%d,\"pf_fixed\":%d,\"pf_guest\":%d,\"pf_taken\":%d", t, exits, fixed, guest, fixed + guest
		if (mode == "shadow")
			printf ",\"cr3_writes\":%d,\"root_hits\":%d,\"shadow_pages\":%d", cr3, hits, 4 + fixed / 3
		printf ",\"invlpg\":0}\n"
		printf "{\"event\":\"end\",\"t\":%.6f,\"reason\":\"debug-exit\",\"exit_status\":1,\"counters\":{\"pf_taken\":%d,\"pf_fixed\":%d,\"pf_guest\":%d,\"invlpg\":0,\"exits\":%d", t + 0.00001, fixed + guest, fixed, guest, exits
		if (mode == "shadow") {
			printf ",\"cr3_writes\":%d,\"root_hits\":%d,\"root_misses\":%d,\"shadow_pages\":%d", cr3, hits, misses, 4 + fixed / 3
			printf ",\"pf_fixed_nonpaging\":%d,\"pf_guest_nonpaging\":0,\"pf_fixed_paging32\":0,\"pf_guest_paging32\":0", np
			printf ",\"pf_fixed_paging32e\":0,\"pf_guest_paging32e\":0,\"pf_fixed_paging64\":%d,\"pf_guest_paging64\":%d", fixed - np, guest
			printf ",\"pf_fixed_4k\":%d,\"pf_fixed_2m_4m\":%d,\"pf_fixed_1g\":0", fixed - large, large
		}
		printf "}}\n"
	}' >"$2"
}

# The fixtures and handmade traces, always: the page is tested on them.
cp "$FIXTURES/shadow.json" "$FIXTURES/tdp.json" "$FIXTURES/compare.json" "$OUT/"
handmade_trace shadow "$OUT/shadow.trace"
handmade_trace tdp "$OUT/tdp.trace"
# the handmade traces must themselves be valid traces
for m in shadow tdp; do
	msg=$("$B/tests/check-trace" "$SCHEMA" "$OUT/$m.trace") && ok "report-handmade-$m-trace" ||
		bad "report-handmade-$m-trace" "$msg"
done

# Real runs, where this host has KVM, replace the fixtures: stats, traces
# and compare from the real ombra.  REPORT_REAL=DIR takes them from DIR
# instead, where a run of this script on the nested host left them
# (make test; the browser is this machine's, not the nested host's), and
# REPORT_INPUTS_ONLY=1 stops after making them.
if [ -n "${REPORT_REAL:-}" ]; then
	real=yes
	for f in shadow.json tdp.json compare.json shadow.trace tdp.trace; do
		[ -s "$REPORT_REAL/$f" ] && cp "$REPORT_REAL/$f" "$OUT/$f" || { bad report-real-inputs "no $REPORT_REAL/$f"; real=no; }
	done
	[ "$real" = yes ] && ok report-real-inputs
elif need report-real-inputs kvm && need_kernel report-real-inputs "$MMUTEST"; then
	real=yes
	for m in shadow tdp; do
		run "report-run-$m" 1 "$OMBRA" run --mmu=$m -kernel "$MMUTEST" -append "$APPEND" -serial null \
			--stats=json --stats-file "$OUT/$m.json" --trace "$OUT/$m.trace" || real=no
	done
	run report-compare 0 "$OMBRA" compare --json -kernel "$MMUTEST" -append "$APPEND" --shadow-sync=all &&
		cp "$OUT/report-compare.out" "$OUT/compare.json" || real=no
	[ "$real" = yes ] && ok report-real-inputs
fi
[ -n "${REPORT_INPUTS_ONLY:-}" ] && finish

# --- 3. the page ------------------------------------------------------------
INPUTS="$OUT/shadow.json $OUT/tdp.json $OUT/compare.json $OUT/shadow.trace $OUT/tdp.trace"
PAGE=$OUT/page.html
# shellcheck disable=SC2086
run report-page 0 "$OMBRA" report -o "$PAGE" $INPUTS || finish
if [ -s "$OUT/report-page.err" ]; then
	bad report-page "said something on stderr: $(head -c 300 "$OUT/report-page.err")"
elif grep -q -i -E 'https?://' "$PAGE"; then
	bad report-self-contained "the page names a URL: $(grep -o -i -E '.{30}https?://.{30}' "$PAGE" | head -3)"
elif grep -q -i -E '<script|<link|<iframe|<img|@import|url\(' "$PAGE"; then
	bad report-self-contained "the page loads something: $(grep -o -i -E '<script[^>]*>|<link[^>]*>|<iframe|<img|@import|url\(' "$PAGE" | head -3)"
else
	ok report-self-contained
fi
# the default output, report.html in the working directory
mkdir -p "$OUT/cwd"
ombra_abs=$(cd "$(dirname "$OMBRA")" && pwd)/$(basename "$OMBRA")
(cd "$OUT/cwd" && "$ombra_abs" report ../compare.json >/dev/null 2>&1) && [ -s "$OUT/cwd/report.html" ] &&
	ok report-default-out || bad report-default-out "no report.html in the working directory"
run report-nodata-page 0 "$OMBRA" report -o "$OUT/nodata.html" "$OUT/compare.json"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
	bad report-browser "chromium is not installed (scripts/setup.sh installs it)"
	finish
fi
# A fresh profile, nothing fetched, no sandbox (root in a container).
browse() {
	local profile rc
	profile=$(mktemp -d)
	timeout 40 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--hide-scrollbars --user-data-dir="$profile" "$@" 2>>"$OUT/chromium.err"
	rc=$?
	rm -rf "$profile"
	return $rc
}
abs() { echo "file://$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

# svg_of DOM ID: that chart's svg element, on one line
svg_of() { tr '\n' ' ' <"$1" | grep -o "<svg id=\"$2\"[^>]*>.*" | sed 's#</svg>.*##'; }
# marks DOM ID PATTERN: how many times PATTERN occurs in that chart
marks() { svg_of "$1" "$2" | grep -o -- "$3" | wc -l; }

# check_dom NAME DOM "ID|PATTERN|WANT" ...: each chart has WANT marks
check_dom() {
	local name=$1 dom=$2 spec id pat want got errs=""
	shift 2
	for spec in "$@"; do
		IFS='|' read -r id pat want <<<"$spec"
		got=$(marks "$dom" "$id" "$pat")
		[ "$got" = "$want" ] || errs="$errs $id: $got x $pat, want $want;"
	done
	[ -z "$errs" ] && ok "$name" || bad "$name" "$errs"
}

if browse --dump-dom "$(abs "$PAGE")" >"$OUT/report.dom" && [ -s "$OUT/report.dom" ]; then
	# What the inputs hold: 8 runs (shadow.json; tdp.json; compare: tdp and
	# shadow/vtlb, wp, unsync; the two traces), 5 of them shadow-mode runs
	# with the per-path, per-size and CR3 counters (shadow.json, the three
	# compare shadow columns, shadow.trace's end record).  Faults over time:
	# pf_fixed and pf_guest from each trace (4 lines); shadow pages: the
	# shadow trace's samples (1 line).
	check_dom report-dom "$OUT/report.dom" \
		'chart-faults-time|<polyline class="series"|4' \
		'chart-faults-path|<rect class="bar"|40' \
		'chart-faults-size|<rect class="bar"|15' \
		'chart-shadow-pages|<polyline class="series"|1' \
		'chart-cr3|<rect class="bar"|15'
	charts=$(grep -o '<svg id="chart-[a-z0-9-]*" class="chart"' "$OUT/report.dom" | wc -l)
	nodata=$(grep -c 'no data in these inputs' "$OUT/report.dom")
	rows=$(grep -o '<tr class="counter">' "$OUT/report.dom" | wc -l)
	cols=$(tr '\n' ' ' <"$OUT/report.dom" | grep -o '<table id="counters">.*</thead>' | grep -o '<th>' | wc -l)
	# every counter compare --json has is a row of the table
	missing=""
	for c in $(grep -o '^    "[a-z0-9_]*": {' "$OUT/compare.json" | tr -d '" :{'); do
		grep -q "<td class=\"name mono\">$c</td>" "$OUT/report.dom" || missing="$missing $c"
	done
	[ "$charts" = 5 ] && [ "$nodata" = 0 ] && ok report-dom-charts ||
		bad report-dom-charts "$charts charts with data, $nodata without; want 5 and 0"
	[ "$cols" = 8 ] && [ -z "$missing" ] && [ "$rows" -ge 40 ] && ok report-dom-table ||
		bad report-dom-table "$cols run columns (want 8), $rows counter rows; missing:$missing"
else
	bad report-dom "chromium --dump-dom failed: $(tail -3 "$OUT/chromium.err")"
fi

# Without traces the time charts say so; the bar charts still have bars.
if browse --dump-dom "$(abs "$OUT/nodata.html")" >"$OUT/nodata.dom" && [ -s "$OUT/nodata.dom" ]; then
	nd_time=$(svg_of "$OUT/nodata.dom" chart-faults-time | grep -c 'no data in these inputs')
	nd_pages=$(svg_of "$OUT/nodata.dom" chart-shadow-pages | grep -c 'no data in these inputs')
	nd_bars=$(marks "$OUT/nodata.dom" chart-faults-path '<rect class="bar"')
	[ "$nd_time" = 1 ] && [ "$nd_pages" = 1 ] && [ "$nd_bars" = 24 ] && ok report-nodata ||
		bad report-nodata "no-data notes: time $nd_time, pages $nd_pages (want 1, 1); path bars $nd_bars (want 24)"
else
	bad report-nodata "chromium --dump-dom failed: $(tail -3 "$OUT/chromium.err")"
fi

# A screenshot: a PNG of the requested size, and not blank (a blank page of
# that size compresses to a few KB).
rm -f "$OUT/report.png"
browse --screenshot="$OUT/report.png" --window-size=1400,2600 "$(abs "$PAGE")" >/dev/null
if [ ! -s "$OUT/report.png" ]; then
	bad report-screenshot "no screenshot: $(tail -3 "$OUT/chromium.err")"
else
	size=$(wc -c <"$OUT/report.png")
	magic=$(head -c 8 "$OUT/report.png" | od -An -tx1 | tr -d ' \n')
	dims=$(od -An -tu1 -j16 -N8 "$OUT/report.png" |
		awk '{ print ($1 * 16777216 + $2 * 65536 + $3 * 256 + $4) "x" ($5 * 16777216 + $6 * 65536 + $7 * 256 + $8) }')
	if [ "$magic" != 89504e470d0a1a0a ]; then
		bad report-screenshot "not a PNG"
	elif [ "$dims" != 1400x2600 ]; then
		bad report-screenshot "a $dims PNG, want 1400x2600"
	elif [ "$size" -le 20480 ]; then
		bad report-screenshot "only $size bytes: a blank page?"
	else
		ok report-screenshot
	fi
fi
finish
