#!/bin/sh
# Install the Debian packages ombra needs to build and test, only those that
# are missing.  Run as root on a fresh Debian 12 machine (make run and
# make test call it); without root it prints the command to run instead.
set -eu

PKGS="gcc make binutils pkg-config libcapstone-dev libcriterion-dev libjansson-dev \
nasm qemu-system-x86 strace chromium clang libclang-rt-14-dev gdb libc6-dev"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "ombra: missing packages:$missing" >&2
	echo "ombra: install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "ombra: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
