# What this host's KVM has, proven by probes: shared by scripts/run-default.sh
# (make run) and the end-to-end scripts.  Sourced (POSIX sh) with OMBRA and
# K (the fixture kernels' directory, holding the probe-*.elf kernels) set.
#
# A limit is only ever reported on positive evidence that the host lacks
# the feature; a probe that cannot tell (a missing probe kernel, an ombra
# that crashes, an answer the probe does not expect) is a failure of the
# probe, never a limit.

# case_need CASE: what an mmutest case needs of tdp mode beyond long mode:
# none, or host_probe names (paging32, pae, 1g, pse-reload)
case_need() {
	case $1 in
	gbpages64) echo 1g ;;
	reuse32) echo paging32 pse-reload ;;
	*pae) echo pae ;;
	*32) echo paging32 ;;
	*) echo none ;;
	esac
}

# host_probe NEED: prints one line and returns 0 when this host has NEED,
# 1 when a probe proved it lacks NEED (the line says how), 2 when the probe
# itself failed (the line says why).  NEED is one of:
#   kvm       a usable /dev/kvm
#   native-ring0  the host's KVM runs ring-0 guest code as a CPU does; kvm_pvm
#             does not (its limits are named in docs/host.md)
#   paging32  tdp mode: a ring-0 guest may turn on 2-level paging
#   pae       tdp mode: a ring-0 guest may turn on PAE paging
#   1g        tdp mode: 1 GiB pages
#   pic-poll  tdp mode: KVM's PIC answers a poll command as the 8259A does
#   pse-reload  tdp mode: a CR4.PSE change and a CR3 load give a PDE its new meaning
#   tracefs   tracefs is mounted and this user can make an ftrace instance
#             there (tdp mode's --trace reads KVM's tracepoints from one)
host_probe() {
	local st out gaps why k
	case $1 in
	kvm)
		if [ -e /dev/kvm ]; then echo "/dev/kvm exists"; return 0; fi
		out="this host has no /dev/kvm"
		if [ -d /sys/module/kvm_pvm ]; then
			why=$(dmesg 2>/dev/null | grep -m1 -o 'kvm-pvm: this kernel is itself a kvm-pvm guest.*')
			out="$out: kvm_pvm is in the kernel but registered no device${why:+ (dmesg: $why)}; docs/host.md"
		fi
		echo "$out"
		return 1 ;;
	native-ring0)
		out=$("$OMBRA" info 2>&1) || { echo "ombra info failed: $(echo "$out" | tail -1)"; return 2; }
		if echo "$out" | grep -q '^host MMU: shadow paging (kvm_pvm'; then
			echo "this host's KVM is kvm_pvm: it emulates ring-0 guest code (CPUID leaves 1 and 7 from the host, KVM_INTERNAL_ERROR on an undefined opcode) and keeps the upper half of the address space from CPL 3 (docs/host.md)"
			return 1
		fi
		echo "$(echo "$out" | grep '^host MMU: ')"; return 0 ;;
	paging32|pae)
		[ -f "$K/probe-$1.elf" ] || { echo "no probe kernel $K/probe-$1.elf"; return 2; }
		out=$("$OMBRA" run -kernel "$K/probe-$1.elf" --stats=none --timeout 60 2>/dev/null </dev/null)
		st=$?
		if [ $st = 1 ] && [ "$out" = "paging on" ]; then echo "probe-$1 turned paging on"; return 0; fi
		if [ $st = 27 ] && [ "$out" = "#GP" ]; then
			echo "this host's KVM raises #GP when a ring-0 guest turns on $1 paging (probe-$1)"; return 1
		fi
		echo "probe-$1 under ombra: exit status $st, output '$out' (want 1 and 'paging on', or 27 and '#GP')"
		return 2 ;;
	1g)
		[ -f "$K/probe-1g.elf" ] || { echo "no probe kernel $K/probe-1g.elf"; return 2; }
		out=$("$OMBRA" run -kernel "$K/probe-1g.elf" --stats=none --timeout 60 2>/dev/null </dev/null)
		st=$?
		if [ $st = 1 ] && [ "$out" = "1g on" ]; then echo "probe-1g used a 1 GiB page"; return 0; fi
		gaps=$("$OMBRA" info 2>/dev/null | grep "^ombra's CPUID features this KVM cannot give")
		if [ $st = 2 ] && echo "$gaps" | grep -q 'PDPE1GB\|0x80000001 EDX bit 26'; then
			echo "this host's KVM gives guests no 1 GiB pages (KVM_GET_SUPPORTED_CPUID lacks PDPE1GB; probe-1g triple-faults)"
			return 1
		fi
		echo "probe-1g under ombra: exit status $st, output '$out'; $gaps"
		return 2 ;;
	pse-reload)
		# A 2-level PDE read as a 4 MiB page, then, after CR4.PSE is
		# cleared and CR3 loaded, as a page table (mmutest reuse32, part
		# CR4.PSE).  KVM's shadow MMU in Linux 6.1 (kvm_amd npt=0) keeps
		# the shadow it made for the large page: the read after the
		# change returns the large page's data.  Proven only when that
		# part alone fails, and only that way.
		[ -f "$(dirname "$OMBRA")/guest/mmutest.elf" ] || { echo "no mmutest kernel"; return 2; }
		out=$("$OMBRA" run --mmu=tdp -kernel "$(dirname "$OMBRA")/guest/mmutest.elf" -append cases=reuse32 \
			--timeout 300 2>/dev/null </dev/null)
		st=$?
		if [ $st = 1 ]; then echo "a CR4.PSE change and a CR3 load give a 2-level PDE its new meaning"; return 0; fi
		if [ $st = 3 ] && echo "$out" | grep -q '^case reuse32: FAIL CR4.PSE, 4K page, step 3 (supervisor read, WP=0): expected no fault, got no fault: the read returned the wrong data ([0-9]* of [0-9]* checks failed)$' &&
			[ "$(echo "$out" | grep -c 'FAIL')" = 1 ]; then
			echo "this host's KVM keeps a 2-level PDE's 4 MiB-page shadow after CR4.PSE is cleared and CR3 loaded (KVM's shadow MMU, Linux 6.1; mmutest reuse32 fails only in its CR4.PSE part)"
			return 1
		fi
		echo "reuse32 in tdp mode: exit status $st, $(echo "$out" | grep '^case ')"
		return 2 ;;
	pic-poll)
		# KVM's in-kernel 8259 answered a poll without bit 7 (the IRQ
		# number alone) until 2023 ("KVM: x86: Fix poll command"); Debian
		# 12's Linux 6.1 has the old code.  The irq kernel's pic case then
		# fails on exactly that check and no other.
		k=$(dirname "$OMBRA")/guest/irq.elf
		[ -f "$k" ] || { echo "no irq kernel $k"; return 2; }
		out=$("$OMBRA" run --mmu=tdp -kernel "$k" -append cases=pic --timeout 120 2>/dev/null </dev/null)
		st=$?
		if [ $st = 1 ]; then echo "KVM's PIC answers a poll as the 8259A does"; return 0; fi
		if [ $st = 3 ] && [ "$(echo "$out" | grep '^case ')" = "case pic: FAIL poll read 00, want 80 (1 of 22 checks failed)" ]; then
			echo "this host's KVM answers an 8259A poll without bit 7 (KVM before the 2023 fix 'KVM: x86: Fix poll command'; the irq kernel's pic case fails on that check alone)"
			return 1
		fi
		echo "the pic case in tdp mode: exit status $st, $(echo "$out" | grep '^case ')"
		return 2 ;;
	tracefs)
		# Missing only when proven: no tracefs in the kernel, or none
		# mounted and mounting it fails, or no instance can be made.
		for k in /sys/kernel/tracing /sys/kernel/debug/tracing; do
			if [ ! -d "$k/instances" ]; then
				# mounted, but closed to this user (tracefs is root's)
				if awk -v k="$k" '$2 == k && $3 == "tracefs" { f = 1 } END { exit !f }' /proc/mounts 2>/dev/null; then
					echo "tracefs is mounted at $k but this user cannot see its instances folder (tracefs is root's)"
					return 1
				fi
				continue
			fi
			if out=$(mkdir "$k/instances/ombra-probe-$$" 2>&1); then
				rmdir "$k/instances/ombra-probe-$$"
				echo "tracefs at $k"; return 0
			fi
			echo "tracefs is mounted at $k but this user cannot make an ftrace instance there: $out"
			return 1
		done
		if ! grep -qw tracefs /proc/filesystems 2>/dev/null; then
			echo "this kernel has no tracefs (not in /proc/filesystems)"; return 1
		fi
		k=$(mktemp -d) || { echo "mktemp -d failed"; return 2; }
		if out=$(mount -t tracefs nodev "$k" 2>&1); then
			umount "$k"; rmdir "$k"
			echo "tracefs is not mounted at /sys/kernel/tracing, but it can be: mount -t tracefs nodev /sys/kernel/tracing"
			return 2
		fi
		rmdir "$k"
		echo "tracefs is not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing, and mounting it fails: $(echo "$out" | head -1)"
		return 1 ;;
	*)
		echo "no probe for '$1'"; return 2 ;;
	esac
}
