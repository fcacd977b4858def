#!/bin/sh
# The one-way rule of src/ (docs/architecture.md): a part includes only
# itself and the parts below it.  Prints every include that goes up or
# sideways and fails; make runs it before linking ombra.
#
#   main -> report -> tdp, shadow -> vmm -> dev, host -> x86
cd "$(dirname "$0")/.." || exit 2

# What each part may include besides itself.
allowed() {
	case $1 in
	x86)         echo "" ;;
	dev|host)    echo "x86" ;;
	vmm)         echo "x86 dev host" ;;
	tdp|shadow)  echo "x86 dev host vmm" ;;
	report)      echo "x86 dev host vmm tdp shadow" ;;
	main)        echo "x86 dev host vmm tdp shadow report" ;;
	*)           echo "?" ;;
	esac
}

bad=0
for f in src/*.c src/*/*.[ch]; do
	part=$(echo "$f" | cut -d/ -f2)
	case $part in *.c) part=main ;; esac
	ok=$(allowed "$part")
	for inc in $(sed -n 's/^#include "\([a-z0-9_]*\)\/.*/\1/p' "$f" | sort -u); do
		[ "$inc" = "$part" ] && continue
		case " $ok " in
		*" $inc "*) ;;
		*) echo "$f: includes $inc/, above or beside $part/ (docs/architecture.md)" >&2; bad=1 ;;
		esac
	done
done
exit $bad
