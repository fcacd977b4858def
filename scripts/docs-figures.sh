#!/bin/bash
# The figures in the docs, rerun (issue 16, point 4): every block between
#
#   <!-- figure NAME [nondeterministic[=COLUMN,...]] [npt=0] [rows=a,b,...] : COMMAND -->
#   ...
#   <!-- end figure -->
#
# in the docs is COMMAND's output, made by this script, never pasted.  COMMAND
# is an ombra command line as a reader types it (build/ombra ...); it runs
# on the nested AMD-V host (docs/nested.md), with NPT unless npt=0, all
# figures of one kind in one boot.  A command that starts with "make" runs
# here (make compare-hosts boots the nested host itself).  The output is
# shown indented, without what changes from run to run by nature: the
# header line, blank lines, wall seconds; rows= keeps only those counter
# rows of a compare table.
#
#   bash scripts/docs-figures.sh write [BUILD [DOC...]]   rerun every figure, rewrite the blocks
#   bash scripts/docs-figures.sh check [BUILD [DOC...]]   rerun them, and fail if a figure not
#                                                         marked nondeterministic differs
#
# DOC: the files whose figures to handle; by default every docs/*.md that
# has a figure marker (docs/study.md, docs/strategies.md).  FIGURES=a,b
# reruns only the figures of those names; the others keep what is
# committed (write) or are not checked (check).  check does not
# rerun the figures marked nondeterministic; one marked
# nondeterministic=COLUMN,... (a compare table's column labels, such as
# tdp for KVM's own counts) is rerun and checked but for those columns.
# The output of each run is kept in BUILD/docs-figures/NAME.out.
set -u
MODE=${1:-} B=${2:-build}
case $MODE in write|check) ;; *) echo "usage: docs-figures.sh write|check [BUILD [DOC...]]" >&2; exit 2 ;; esac
shift $(( $# < 2 ? $# : 2 ))
if [ $# -gt 0 ]; then DOCS=("$@"); else mapfile -t DOCS < <(grep -l '^<!-- figure ' docs/*.md); fi
[ ${#DOCS[@]} -gt 0 ] || { echo "docs-figures: no file with a figure marker" >&2; exit 2; }
OUT=$B/docs-figures
rm -rf "$OUT"
mkdir -p "$OUT"

# NAME<TAB>FLAGS<TAB>COMMAND for every figure marker, in order.
for d in "${DOCS[@]}"; do
	sed -n 's/^<!-- figure \(.*\) -->$/\1/p' "$d" | awk -F' : ' '{
		n = split($1, w, " "); flags = ""
		for (i = 2; i <= n; i++) flags = flags " " w[i]
		cmd = $2; for (i = 3; i <= NF; i++) cmd = cmd " : " $i
		print w[1] "\t" flags "\t" cmd }'
done >"$OUT/list"
[ -s "$OUT/list" ] || { echo "docs-figures: no figures in ${DOCS[*]}" >&2; exit 2; }
if [ "$(cut -f1 "$OUT/list" | sort | uniq -d)" ]; then
	echo "docs-figures: figure names used twice: $(cut -f1 "$OUT/list" | sort | uniq -d)" >&2
	exit 2
fi
if [ -n "${FIGURES:-}" ]; then
	awk -F'\t' -v want=",$FIGURES," 'index(want, "," $1 ",")' "$OUT/list" >"$OUT/list.some"
	[ -s "$OUT/list.some" ] || { echo "docs-figures: no figure named $FIGURES" >&2; exit 2; }
	mv "$OUT/list.some" "$OUT/list"
fi

# One job per host kind: the figures' commands with this build's paths.
for npt in 1 0; do
	job=$OUT/job-npt$npt.sh
	mkdir -p "$OUT/nested-npt$npt"
	: >"$job"
	while IFS=$'\t' read -r name flags cmd; do
		case " $flags " in *" npt=0 "*) want=0 ;; *) want=1 ;; esac
		case $cmd in build/ombra*) ;; *) continue ;; esac
		[ "$want" = $npt ] || continue
		[ "$MODE" = check ] && case " $flags " in *" nondeterministic "*) continue ;; esac
		# (the nested host may write only under run.sh's OUTDIR)
		echo "{ ${cmd//build\//$B/}; } >'$OUT/nested-npt$npt/$name.raw' 2>'$OUT/nested-npt$npt/$name.err'" >>"$job"
	done <"$OUT/list"
	if [ -s "$job" ]; then
		echo "docs-figures: $(wc -l <"$job") figures on the nested host, npt=$npt"
		echo "exit 0" >>"$job"       # a figure's own status is its output's business
		NESTED_DIR=${NESTED_DIR:-$B/nested} sh scripts/nested/run.sh $npt "$OUT/nested-npt$npt" "$job" \
			>"$OUT/nested-npt$npt.log" 2>&1 || { tail -5 "$OUT/nested-npt$npt.log"; exit 1; }
		cp "$OUT/nested-npt$npt/"*.raw "$OUT/nested-npt$npt/"*.err "$OUT/" 2>/dev/null
	fi
done
while IFS=$'\t' read -r name flags cmd; do
	[ "$MODE" = check ] && case " $flags " in *" nondeterministic "*) continue ;; esac
	case $cmd in make*) echo "docs-figures: $cmd"; eval "$cmd BUILD=$B" >"$OUT/$name.raw" 2>"$OUT/$name.err" ;; esac
done <"$OUT/list"

# The shown form of each figure.
status=0
while IFS=$'\t' read -r name flags cmd; do
	[ "$MODE" = check ] && case " $flags " in *" nondeterministic "*) continue ;; esac
	rows=$(printf '%s\n' $flags | sed -n 's/^rows=//p')
	[ -s "$OUT/$name.raw" ] || { echo "docs-figures: $name printed nothing: $(head -3 "$OUT/$name.err")"; status=1; continue; }
	# (what make prints before a compare's table is not the figure's)
	awk -v rows=",$rows," -v iscompare="$(grep -c '^ombra compare: ' "$OUT/$name.raw")" '
		iscompare && !started { if (/^ombra compare: /) started = 1; next }
		/^ombra compare: / || /^$/ || /^wall seconds / { next }
		/^counter / { intable = 1; print "    " $0; next }
		intable && /^(host MMU|run ended|exit status) / { intable = 0 }
		intable && rows != ",," && index(rows, "," $1 ",") == 0 { next }
		{ print "    " $0 }' "$OUT/$name.raw" >"$OUT/$name.out"
done <"$OUT/list"

# Write the blocks, or compare them with what is committed.
for d in "${DOCS[@]}"; do
	awk -v out="$OUT" -v mode="$MODE" '
		/^<!-- figure / {
			print; split(substr($0, 13), w, " "); name = w[1]
			inblock = 1; printf "" > (out "/" name ".committed"); next }
		inblock && /^<!-- end figure -->$/ {
			file = out "/" name ".out"
			if (mode == "write" && (getline line < file) > 0) {
				print line
				while ((getline line < file) > 0) print line
			} else if (mode == "write") {
				printf "%s", kept          # a figure not rerun (FIGURES)
			}
			close(file)
			inblock = 0; kept = ""; print; next }
		inblock { print >> (out "/" name ".committed"); kept = kept $0 "\n"; if (mode != "write") print; next }
		{ print }' "$d" >"$OUT/$(basename "$d").new"
	[ "$MODE" = write ] && [ $status = 0 ] && cp "$OUT/$(basename "$d").new" "$d"
done
# (a figure's columns marked nondeterministic=COLUMN,... read "~" on both
# sides, every row of the table re-spaced)
mask() {
	awk -v cols=",$1," '
		$1 == "counter" { intable = 1
			for (i = 2; i <= NF; i++) if (index(cols, "," $i ",")) masked[i] = 1 }
		intable { two = ($1 " " $2 ~ /^(host MMU|run ended|exit status)$/)
			for (i in masked) if (i + two <= NF) $(i + two) = "~"
			$1 = $1 }
		intable && $1 == "exit" && $2 == "status" { intable = 0 }
		{ print }' "$2"
}
if [ "$MODE" = check ]; then
	while IFS=$'\t' read -r name flags cmd; do
		case " $flags " in *" nondeterministic "*) continue ;; esac
		cols=$(printf '%s\n' $flags | sed -n 's/^nondeterministic=//p')
		if [ "$cols" ]; then
			mask "$cols" "$OUT/$name.committed" >"$OUT/$name.committed.masked"
			mask "$cols" "$OUT/$name.out" >"$OUT/$name.out.masked"
			set -- "$OUT/$name.committed.masked" "$OUT/$name.out.masked"
		else
			set -- "$OUT/$name.committed" "$OUT/$name.out"
		fi
		if ! diff -u --label "committed $name" --label "rerun $name" "$@"; then
			echo "docs-figures: figure $name differs from a rerun ($cmd): make docs rewrites it"
			status=1
		fi
	done <"$OUT/list"
fi
[ $status = 0 ] && echo "docs-figures: $MODE: $(wc -l <"$OUT/list") figures, $(grep -c $'\t.* nondeterministic\( \|\t\)' "$OUT/list") marked nondeterministic, $(grep -c $'\t.* nondeterministic=' "$OUT/list") with columns marked nondeterministic"
exit $status
