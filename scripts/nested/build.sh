#!/bin/sh
# Build the nested AMD-V host (docs/nested.md): Debian's own kernel package
# (its vmlinuz and KVM modules) and busybox-static, both fetched with
# apt-get download (the registry scripts/setup.sh already uses), packed
# into a small initramfs whose /init is scripts/nested/init.  The result is
# cached in DIR (default build/nested) and rebuilt only when the kernel
# package's version or the init script changes.
#
#   sh scripts/nested/build.sh [DIR]
#
# It prints nothing but the packages it fetches; the kernel lands in
# DIR/vmlinuz, the initramfs in DIR/initrd.gz.
set -eu
DIR=${1:-build/nested}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR/debs"
DIR=$(cd "$DIR" && pwd)

# The kernel image package linux-image-amd64 points at today.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
if [ -z "$kpkg" ]; then
	apt-get update -qq >/dev/null
	kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
fi
[ -n "$kpkg" ] || { echo "nested: apt-cache knows no linux-image-amd64" >&2; exit 1; }
kver=${kpkg#linux-image-}
stamp="$kpkg $(cksum <"$HERE/init" | cut -d' ' -f1) $(cksum <"$0" | cut -d' ' -f1)"
if [ -f "$DIR/initrd.gz" ] && [ -f "$DIR/vmlinuz" ] && [ "$(cat "$DIR/stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

# apt-get download writes into the current directory; as root it warns
# that the _apt user cannot write there, which is harmless.
if ! ls "$DIR/debs/${kpkg}"_*.deb "$DIR/debs/busybox-static"_*.deb >/dev/null 2>&1; then
	(cd "$DIR/debs" && rm -f ./*.deb && apt-get download "$kpkg" busybox-static 2>&1 |
		grep -v '^W: Download is performed unsandboxed' || true)
fi
for p in "$kpkg" busybox-static; do
	ls "$DIR/debs/${p}"_*.deb >/dev/null 2>&1 || { echo "nested: apt-get download $p failed" >&2; exit 1; }
done

rm -rf "$DIR/pkg" "$DIR/root"
mkdir -p "$DIR/pkg"
for d in "$DIR"/debs/*.deb; do dpkg-deb -x "$d" "$DIR/pkg"; done
cp "$DIR/pkg/boot/vmlinuz-$kver" "$DIR/vmlinuz"

# The initramfs: busybox and its applets, the modules KVM and the 9p share
# need (busybox's depmod and modprobe order them at boot), and /init.
R=$DIR/root
mkdir -p "$R/bin" "$R/sbin" "$R/proc" "$R/sys" "$R/dev" "$R/host" "$R/tmp" "$R/lib/modules/$kver/kernel"
cp "$DIR/pkg/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
M=$DIR/pkg/lib/modules/$kver/kernel
for m in arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-amd.ko virt/lib/irqbypass.ko drivers/crypto/ccp/ccp.ko \
	drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci.ko \
	drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko \
	fs/netfs/netfs.ko fs/fscache/fscache.ko net/9p/9pnet.ko net/9p/9pnet_virtio.ko fs/9p/9p.ko; do
	[ -f "$M/$m" ] || continue
	mkdir -p "$R/lib/modules/$kver/kernel/$(dirname "$m")"
	cp "$M/$m" "$R/lib/modules/$kver/kernel/$m"
done
cp "$DIR/pkg/lib/modules/$kver/modules.order" "$DIR/pkg/lib/modules/$kver/modules.builtin" "$R/lib/modules/$kver/" 2>/dev/null || true
cp "$HERE/init" "$R/init"
chmod 755 "$R/init"
(cd "$R" && find . | "$R/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$DIR/initrd.gz.new"
mv "$DIR/initrd.gz.new" "$DIR/initrd.gz"
rm -rf "$DIR/pkg" "$R"
echo "$stamp" >"$DIR/stamp"
