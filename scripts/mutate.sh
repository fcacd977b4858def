#!/bin/bash
# The mutation check (make mutate, make mutate-sample; docs/testing.md):
# plant each small bug of tests/mutations.txt in a private copy of the
# tree, rebuild, and see which test layer notices:
#
#   unit  the Criterion unit tests (build/tests/unit-tests) with the mutant
#   fuzz  the entry's libFuzzer harness for FUZZ_SECONDS on its seed corpus
#   e2e   the mutant's ombra on the guest kernels on the nested AMD-V host,
#         against QEMU TCG (scripts/mutate-e2e.sh; one boot for all mutants)
#
#   bash scripts/mutate.sh [--only NAME,NAME] [--layers unit,fuzz,e2e]
#
# Every layer runs on every mutant (so the table says what each layer
# sees); the exit status is 1 when a mutation is caught by none of the
# layers run, 2 when the list or the build is wrong (an entry whose text is
# not in its file exactly once, a mutant that does not compile, an
# unmutated tree that fails a layer).  Nothing under src/ or tests/ of the
# working tree is touched: everything happens in build-mutate/.
set -u
LIST=${MUTATE_LIST:-tests/mutations.txt}
W=${MUTATE_DIR:-build-mutate}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
ONLY="" LAYERS=unit,fuzz,e2e
while [ $# -gt 0 ]; do
	case $1 in
	--only) ONLY=$2; shift 2 ;;
	--layers) LAYERS=$2; shift 2 ;;
	*) echo "usage: mutate.sh [--only NAME,...] [--layers unit,fuzz,e2e]" >&2; exit 2 ;;
	esac
done
layer() { case ",$LAYERS," in *",$1,"*) return 0 ;; esac; return 1; }
die() { echo "mutate: $*" >&2; exit 2; }
T0=$(date +%s)
mkdir -p "$W"
W=$(cd "$W" && pwd)
BASE=$W/base

# --- the list: name, area, file, fuzz harness, what, from, to -------------------
# Parsed once into $W/list (fields split by \x1f; from/to keep their \n, \t
# escapes), every entry checked against the working tree: its text must
# occur exactly once in its file.
perl -e '
	my ($list, $only) = @ARGV;
	my %want = map { $_ => 1 } grep { length } split /,/, $only;
	my (@e, %cur, %seen, $bad);
	open my $f, "<", $list or die "mutate: cannot read $list\n";
	my $flush = sub {
		return unless %cur;
		for my $k (qw(name area file what from to)) {
			die "mutate: $list: entry " . ($cur{name} // "?") . " has no $k\n" unless defined $cur{$k};
		}
		die "mutate: $list: two entries named $cur{name}\n" if $seen{$cur{name}}++;
		$cur{fuzz} //= "-";
		push @e, {%cur};
		%cur = ();
	};
	while (<$f>) {
		chomp;
		next if /^#/;
		if (/^\s*$/) { $flush->(); next; }
		/^(name|area|file|fuzz|what|from|to):\s*(.*)$/ or die "mutate: $list:$.: not a field: $_\n";
		$cur{$1} = $2;
	}
	$flush->();
	for my $e (@e) {
		if (length $only) {
			next unless $want{$e->{name}};
			$want{$e->{name}} = 2;
		}
		(my $from = $e->{from}) =~ s/\\(n|t|\\)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : "\\"/ge;
		open my $s, "<", $e->{file} or do { warn "mutate: $e->{name}: no file $e->{file}\n"; $bad = 1; next };
		local $/;
		my $text = <$s>;
		my $n = () = $text =~ /\Q$from\E/g;
		if ($n != 1) {
			warn "mutate: $e->{name}: the text to replace occurs $n times in $e->{file}, not once: $e->{from}\n";
			$bad = 1;
		}
		print join("\x1f", @$e{qw(name area file fuzz what from to)}), "\n";
	}
	die "mutate: no entry named $_\n" for grep { $want{$_} == 1 } keys %want;
	exit($bad ? 2 : 0);
' "$LIST" "$ONLY" >"$W/list" || die "fix $LIST (see above)"
n=$(wc -l <"$W/list")
echo "mutate: $n mutations from $LIST; layers $LAYERS"

# --- the unmutated tree, built once (make keeps it incremental) -----------------
# A copy of the sources with their times kept, so only what changed rebuilds.
rm -rf "$BASE/src" "$BASE/tests" "$BASE/guest" "$BASE/scripts" "$BASE/docs" "$BASE/Makefile"
mkdir -p "$BASE"
cp -a src tests guest scripts docs Makefile "$BASE/"    # docs: test_trace reads docs/trace.md
TARGETS="build/ombra build/tests/unit-tests build/guest/mmutest.elf"
layer e2e && TARGETS="$TARGETS build/guest/irq.elf build/guest/hostile.elf"
echo "mutate: building the unmutated tree in $BASE"
make -C "$BASE" -j2 --no-print-directory BUILD=build $TARGETS >"$W/base-build.log" 2>&1 ||
	{ tail -20 "$W/base-build.log"; die "the unmutated tree does not build"; }

# unit_run DIR LOG: the unit tests of DIR's build, with its ombra; stop at the first failure
unit_run() {
	(cd "$1" && OMBRA=build/ombra OMBRA_KERNEL="$BASE/build/guest/mmutest.elf" \
		timeout 600 build/tests/unit-tests --jobs=2 --fail-fast) >"$2" 2>&1
}
# fuzz_run DIR HARNESS LOG: the harness built in DIR, on the seed corpus
fuzz_run() {
	local d=$1 h=$2 log=$3 t r
	make -C "$d" --no-print-directory BUILD=build "build-fuzz/fuzz_$h" >"$log" 2>&1 || return 3
	t=$(mktemp -d)
	(cd "$d" && timeout $((FUZZ_SECONDS + 120)) "build-fuzz/fuzz_$h" "$t" "tests/fuzz/corpus/$h" -max_len=65556 \
		-max_total_time="$FUZZ_SECONDS" -artifact_prefix="$d/crash-$h-") >>"$log" 2>&1
	r=$?
	rm -rf "$t" "$d/build-fuzz"
	return $r
}
# why_unit LOG / why_fuzz LOG: the first line that names the failure
why_unit() {
	sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -m2 -E '^\[----\]|CRASH|Timed out|\[FAIL\]' |
		sed 's/^\[----\] *//' | paste -sd' ' | head -c 240
}
why_fuzz() { grep -m1 -E 'ERROR: libFuzzer|ERROR: AddressSanitizer|runtime error|invariant|Assertion' "$1" | head -c 200; }

if layer unit; then
	echo "mutate: the unit tests on the unmutated tree"
	unit_run "$BASE" "$W/base-unit.log" || { why_unit "$W/base-unit.log"; die "the unmutated tree fails its unit tests ($W/base-unit.log)"; }
fi
if layer fuzz; then
	for h in $(cut -d$'\x1f' -f4 "$W/list" | tr , '\n' | sort -u | grep -v '^-$'); do
		fuzz_run "$BASE" "$h" "$W/base-fuzz-$h.log" || die "the unmutated tree fails fuzz_$h ($W/base-fuzz-$h.log)"
	done
fi

# --- each mutant: its own copy of the tree and of the base's objects ------------
declare -A R_UNIT=() R_FUZZ=() R_E2E=() AREA=() WHAT=()
NAMES=()
while IFS=$'\x1f' read -r name area file fuzz what from to; do
	NAMES+=("$name")
	AREA[$name]=$area WHAT[$name]=$what
	d=$W/m/$name
	rm -rf "$d"
	mkdir -p "$d/build/tests"
	cp -a "$BASE/src" "$BASE/tests" "$BASE/guest" "$BASE/scripts" "$BASE/docs" "$BASE/Makefile" "$d/"
	cp -a "$BASE/build/src" "$BASE/build/shadow" "$d/build/"
	cp -a "$BASE/build/tests/unit" "$BASE/build/tests/unit-tests" "$d/build/tests/"
	perl -e '
		my ($file, $from, $to) = @ARGV;
		for ($from, $to) { s/\\(n|t|\\)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : "\\"/ge; }
		open my $f, "<", $file or die; local $/; my $s = <$f>; close $f;
		my $i = index($s, $from);
		die "not found\n" if $i < 0;
		substr($s, $i, length $from) = $to;
		open $f, ">", $file or die; print $f $s; close $f;
	' "$d/$file" "$from" "$to" || die "$name: could not apply"
	printf '%-26s %-9s build' "$name" "$area"
	if ! make -C "$d" --no-print-directory BUILD=build build/ombra build/tests/unit-tests >"$d/build.log" 2>&1; then
		tail -5 "$d/build.log"
		die "$name: the mutant does not build ($d/build.log): fix its entry in $LIST"
	fi
	R_UNIT[$name]=- R_FUZZ[$name]=- R_E2E[$name]=-
	if layer unit; then
		printf ', unit'
		if unit_run "$d" "$d/unit.log"; then R_UNIT[$name]=pass; else R_UNIT[$name]="caught: $(why_unit "$d/unit.log")"; fi
	fi
	if layer fuzz && [ "$fuzz" != - ]; then
		R_FUZZ[$name]=pass
		for h in ${fuzz//,/ }; do
			printf ', fuzz_%s' "$h"
			fuzz_run "$d" "$h" "$d/fuzz-$h.log"
			case $? in
			0) ;;
			3) die "$name: fuzz_$h does not build ($d/fuzz-$h.log)" ;;
			*) R_FUZZ[$name]="caught by fuzz_$h: $(why_fuzz "$d/fuzz-$h.log")"; break ;;
			esac
		done
	fi
	rm -rf "$d/build/src" "$d/build/tests/unit"
	echo
done <"$W/list"

# --- e2e: QEMU TCG's runs here, then every mutant in one nested boot ----------------
if layer e2e; then
	REFS=$W/ref
	K=$BASE/build/guest
	QEMU_ARGS="-accel tcg -cpu qemu64,+nx,+pdpe1gb -display none -no-reboot -monitor none -nodefaults \
-device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio"
	IRQ_CASES=oneshot,periodic,tpr,ifmask,nesting,busy,sched,pic,pit,speaker,lint0,ioapic
	sum=$(cat "$K/mmutest.elf" "$K/irq.elf" "$K/hostile.elf" | cksum | cut -d' ' -f1)
	if [ "$(cat "$REFS/kernels" 2>/dev/null)" != "$sum" ]; then
		echo "mutate: QEMU TCG's runs of the guest kernels (the oracle)"
		rm -rf "$REFS"
		mkdir -p "$REFS"
		refs() {
			local name=$1
			shift
			# shellcheck disable=SC2086
			qemu-system-x86_64 $QEMU_ARGS "$@" >"$REFS/$name.out" 2>"$REFS/$name.err" </dev/null
			[ $? = 1 ] || die "QEMU TCG's run $name did not exit 1 ($REFS/$name.err)"
		}
		refs mmutest -m 128M -kernel "$K/mmutest.elf" &
		refs irq -m 128M -kernel "$K/irq.elf" -append "cases=$IRQ_CASES" &
		wait
		for c in rsvd randpt phys mmio selfmap cycle monitor priv undef undef0 straddle smc; do
			refs "hostile-$c" -m 512M -kernel "$K/hostile.elf" -append "cases=$c"
		done
		echo "$sum" >"$REFS/kernels"
	fi
	args=()
	for name in "${NAMES[@]}"; do args+=("$name=$W/m/$name/build/ombra"); done
	echo "mutate: the e2e layer on the nested AMD-V host (one boot, ${#NAMES[@]} mutants)"
	NESTED_DIR=${NESTED_DIR:-build/nested} sh scripts/nested/run.sh 1 "$W/e2e" scripts/mutate-e2e.sh \
		"$W/e2e" "$K" "$REFS" "$BASE/build/ombra" "${args[@]}" >"$W/e2e.log" 2>&1
	st=$?
	[ $st = 0 ] || { tail -20 "$W/e2e.log"; die "the nested job failed (status $st, $W/e2e.log)"; }
	if grep -q '^mutate-e2e: ' "$W/e2e/results"; then
		grep '^mutate-e2e: ' "$W/e2e/results"
		die "the unmutated ombra fails an e2e configuration: the e2e layer cannot be trusted"
	fi
	for name in "${NAMES[@]}"; do
		line=$(grep -m1 "^$name " "$W/e2e/results")
		case $line in
		"$name caught "*) R_E2E[$name]="caught ${line#"$name caught "}" ;;
		"$name survived") R_E2E[$name]=pass ;;
		*) die "$name: no e2e result in $W/e2e/results" ;;
		esac
	done
fi

# --- the table --------------------------------------------------------------------
short() { case $1 in caught*) echo caught ;; *) echo "$1" ;; esac; }
caught=0 survivors=""
{
	echo "| mutation | area | unit | fuzz | e2e | caught by |"
	echo "|---|---|---|---|---|---|"
	for name in "${NAMES[@]}"; do
		by=""
		case ${R_UNIT[$name]} in caught*) by="$by, unit" ;; esac
		case ${R_FUZZ[$name]} in caught*) by="$by, fuzz" ;; esac
		case ${R_E2E[$name]} in caught*) by="$by, e2e" ;; esac
		by=${by#, }
		if [ -n "$by" ]; then caught=$((caught + 1)); else by="NOT CAUGHT"; survivors="$survivors $name"; fi
		echo "| $name | ${AREA[$name]} | $(short "${R_UNIT[$name]}") | $(short "${R_FUZZ[$name]}") | $(short "${R_E2E[$name]}") | $by |"
	done
	echo
	echo "score: $caught of ${#NAMES[@]} caught (layers: $LAYERS), $(($(date +%s) - T0)) s"
} >"$W/results.md"
{
	echo "# What caught each mutation (the first failure each layer reported)"
	for name in "${NAMES[@]}"; do
		echo "$name: ${WHAT[$name]}"
		echo "  unit: ${R_UNIT[$name]}"
		echo "  fuzz: ${R_FUZZ[$name]}"
		echo "  e2e:  ${R_E2E[$name]}"
	done
} >"$W/details.txt"
cat "$W/results.md"
echo "(why each was caught: $W/details.txt)"
if [ -n "$survivors" ]; then
	echo "mutate: NOT CAUGHT:$survivors"
	exit 1
fi
exit 0
