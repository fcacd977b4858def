#!/bin/sh
# Run a job on the nested AMD-V host (docs/nested.md): boot Debian's kernel
# (scripts/nested/build.sh) under QEMU TCG with -cpu max, which offers SVM
# with NPT; the job, a bash script of the build host, runs there in a
# chroot of this machine's root (read-only over 9p) with /dev/kvm from
# kvm-amd, and writes what it keeps under OUTDIR (writable over 9p).
#
#   sh scripts/nested/run.sh NPT OUTDIR JOB [ARG...]
#
# NPT is 1 (real TDP) or 0 (KVM's own shadow MMU).  The job runs with bash
# in the current folder, with the ARGs as its arguments, and may write
# under OUTDIR (the rest of this machine's files are read-only there); its
# console output is echoed here and kept in OUTDIR/console.log.  The exit
# status is the job's (255 if it never finished).  NESTED_DIR (default
# build/nested) holds the cached kernel and initramfs.
set -eu
[ $# -ge 3 ] || { echo "usage: run.sh NPT OUTDIR JOB [ARG...]" >&2; exit 2; }
NPT=$1 OUTDIR=$2 JOB=$3 NEST=${NESTED_DIR:-build/nested}
shift 3
case $NPT in 0|1) ;; *) echo "nested: NPT must be 0 or 1" >&2; exit 2 ;; esac
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
[ -f "$JOB" ] || { echo "nested: no job $JOB" >&2; exit 2; }
# The job as the nested host runs it: this folder is the same path there.
{
	echo "cd '$(pwd)' || exit 99"
	echo "export HOME=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	printf 'exec bash %s' "$JOB"
	for a in "$@"; do printf " '%s'" "$a"; done
	echo
} >"$OUTDIR/job.sh"
sh "$(dirname "$0")/build.sh" "$NEST"
rm -f "$OUTDIR/status"

# -cpu max under TCG: AMD-V with NPT.  The build host's root is shared
# read-only; the output folder read-write.  Memory: ombra's guests are
# small; 2 GiB leaves room for the page cache of the shared root.
qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 2G -nographic -no-reboot -monitor none -nic none \
	-kernel "$NEST/vmlinuz" -initrd "$NEST/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 ombra.npt=$NPT ombra.dir=$(pwd) ombra.job=$OUTDIR/job.sh ombra.out=$OUTDIR" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$OUTDIR",mount_tag=out,security_model=none,multidevs=remap \
	</dev/null 2>&1 | tee "$OUTDIR/console.log"
[ -f "$OUTDIR/status" ] || { echo "nested: the job did not finish (see $OUTDIR/console.log)" >&2; exit 255; }
exit "$(cat "$OUTDIR/status")"
