#!/bin/sh
# Build the Linux bench guest (guest/linux/README.md): Debian's own kernel
# (the package linux-image-amd64 points at) and busybox-static, both
# fetched with apt-get download as scripts/nested/build.sh does, and an
# initramfs of busybox, /init (guest/linux/init) and /bin/bench
# (guest/linux/bench.c, built static here).  Debs already in
# build/nested/debs at the same versions are copied instead of fetched.
# The result is cached in DIR (default build/linux) and rebuilt only when
# a package version, the sources, this script or $CC change.
#
#   sh scripts/linux/build.sh [DIR]
#
# It prints nothing but what apt prints; the kernel lands in DIR/vmlinuz,
# the initramfs in DIR/initramfs.cpio.gz, the bench program in DIR/bench.
set -eu
DIR=${1:-build/linux}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
SRC=$TOP/guest/linux
CC=${CC:-gcc}
mkdir -p "$DIR/debs"
DIR=$(cd "$DIR" && pwd)

# The kernel image package linux-image-amd64 points at today, and the
# versions to fetch: the metapackage pins its kernel with "(= VERSION)".
# One apt-cache call (each takes about a second).
versions() {
	apt-cache show --no-all-versions linux-image-amd64 busybox-static 2>/dev/null | awk '
	/^Package: / { p = $2 }
	p == "linux-image-amd64" && /^Depends: / &&
		match($0, /linux-image-[0-9][^ ]*-amd64 \(= [^)]*\)/) {
		split(substr($0, RSTART, RLENGTH - 1), w, " "); k = w[1] " " w[3]
	}
	p == "busybox-static" && /^Version: / { b = $2 }
	END { if (k != "" && b != "") print k, b }'
}
v=$(versions)
if [ -z "$v" ]; then
	apt-get update -qq >/dev/null
	v=$(versions)
fi
[ -n "$v" ] || { echo "linux: apt-cache knows no linux-image-amd64 or busybox-static" >&2; exit 1; }
# shellcheck disable=SC2086  # three words
set -- $v
kpkg=$1 kpkgv=$2 bbv=$3
kver=${kpkg#linux-image-}
sum() { cksum <"$1" | cut -d' ' -f1; }
stamp="$kpkg=$kpkgv busybox-static=$bbv CC=$CC"
stamp="$stamp $(sum "$SRC/init") $(sum "$SRC/bench.c") $(sum "$0")"
if [ -f "$DIR/initramfs.cpio.gz" ] && [ -f "$DIR/vmlinuz" ] && [ -f "$DIR/bench" ] &&
	[ "$(cat "$DIR/stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

# Each package's deb at its candidate version (apt-get download spells an
# epoch's colon %3a): kept from before, copied from the nested host's
# build, or fetched.  apt-get download as root warns that the _apt user
# cannot write here, which is harmless.
for pv in "$kpkg=$kpkgv" "busybox-static=$bbv"; do
	p=${pv%%=*}
	v=$(echo "${pv#*=}" | sed 's/:/%3a/')
	ls "$DIR/debs/${p}_${v}_"*.deb >/dev/null 2>&1 && continue
	rm -f "$DIR/debs/${p}"_*.deb
	for d in "$TOP/build/nested/debs/${p}_${v}_"*.deb; do
		if [ -f "$d" ]; then cp "$d" "$DIR/debs/"; fi
	done
	ls "$DIR/debs/${p}_${v}_"*.deb >/dev/null 2>&1 && continue
	(cd "$DIR/debs" && { apt-get download "$p=${pv#*=}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true; })
	ls "$DIR/debs/${p}_${v}_"*.deb >/dev/null 2>&1 || { echo "linux: apt-get download $p failed" >&2; exit 1; }
done

rm -rf "$DIR/pkg" "$DIR/root"
mkdir -p "$DIR/pkg"
for d in "$DIR"/debs/*.deb; do dpkg-deb -x "$d" "$DIR/pkg"; done
cp "$DIR/pkg/boot/vmlinuz-$kver" "$DIR/vmlinuz"
$CC -static -O2 -Wall -Wextra -o "$DIR/bench" "$SRC/bench.c"

# The initramfs: busybox and its applets, /bin/bench and /init.  The
# console node lets the kernel give /init its stdin, stdout and stderr;
# without the privilege to make it, /init's devtmpfs mount provides it.
R=$DIR/root
mkdir -p "$R/bin" "$R/sbin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp "$DIR/pkg/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
cp "$DIR/bench" "$R/bin/bench"
cp "$SRC/init" "$R/init"
chmod 755 "$R/init" "$R/bin/bench"
mknod "$R/dev/console" c 5 1 2>/dev/null || true
(cd "$R" && find . | "$R/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) >"$DIR/initramfs.cpio.gz.new"
mv "$DIR/initramfs.cpio.gz.new" "$DIR/initramfs.cpio.gz"
rm -rf "$DIR/pkg" "$R"
echo "$stamp" >"$DIR/stamp"
