#!/bin/sh
# tests/arm64/run.sh: the arm64 suite on this x86 host: one arm64 L1 (qemu-system-aarch64 -M virt with
# EL2, TCG; Debian's arm64 cloud kernel, KVM built in) runs tests/arm64/l1_test.sh as /test.sh.
# Usage: sh tests/arm64/run.sh [TEST...]   (tests: kvm-probe vmm; default all)
#   kvm-probe: tests/arm64/kvm_probe.c (built with arm64/musl-gcc) on L1's /dev/kvm
#   vmm:       $VMM_ARM64 (default ./vmm-arm64; SKIP without it) boots the arm64 kernel as L2
# Env: VMM_ARM64, VMM_TIMEOUT (s per vmm run, 120), VMM_MEM (256M), L2_APPEND (console=ttyS0 quiet
#      panic=-1), PROBE_EXITS (1000), L1_MEM (MB, 1536), L1_CPU (max,pauth-impdef=on), NESTED_VERBOSE=1 shows L1's
#      console, NESTED_LOG (build/arm64/nested/l1.log).
# The arm64 packages come from tests/arm64/fetch.sh (cached); without them every test SKIPs saying why.
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_ARCH=arm64 NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

ALL="kvm-probe vmm"
TESTS=${*:-$ALL}
VMM_TIMEOUT=${VMM_TIMEOUT:-120}
VMM_ARM64=${VMM_ARM64:-./vmm-arm64}
PROBE=build/arm64/kvm_probe

skip_all() {
	for t in $TESTS; do echo "SKIP arm64-$t: $1"; done
	exit 0
}
why=$(sh tests/arm64/fetch.sh) || skip_all "$why"
[ -z "$why" ] || echo "note: $why"
why=$(nested_check) || skip_all "$why"

failed=0 run='' pairs=''
for t in $TESTS; do
	case $t in
	kvm-probe)
		if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
			echo "SKIP arm64-kvm-probe: aarch64-linux-gnu-gcc missing (apt-get install gcc-aarch64-linux-gnu)"
			continue
		fi
		mkdir -p "$(dirname "$PROBE")"
		if ! out=$(arm64/musl-gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$PROBE.tmp" tests/arm64/kvm_probe.c 2>&1) ||
			! mv "$PROBE.tmp" "$PROBE"; then
			echo "FAIL arm64-kvm-probe: could not build tests/arm64/kvm_probe.c"
			echo "$out" | head -n 10 | sed 's/^/    /'
			failed=$((failed + 1))
			continue
		fi
		pairs="$pairs $PROBE:/kvm_probe" ;;
	vmm)
		# without it, L1's test.sh says SKIP
		if [ -f "$VMM_ARM64" ]; then
			if [ "$(_le "$VMM_ARM64" 18 2)" != 183 ]; then
				echo "FAIL arm64-vmm: $VMM_ARM64 is not an aarch64 program (make ARCH=arm64)"
				failed=$((failed + 1))
				continue
			fi
			if ! l2_images; then
				echo "FAIL arm64-vmm: could not build the L2 images"
				failed=$((failed + 1))
				continue
			fi
			pairs="$pairs $VMM_ARM64:/vmm $L2_IMAGE:/l2/Image $L2_INITRD:/l2/initrd.cpio"
		fi ;;
	*)
		echo "FAIL arm64-$t: unknown test (tests: $ALL)"
		failed=$((failed + 1))
		continue ;;
	esac
	run="$run $t"
done
run=${run# }
[ -n "$run" ] || exit $((failed > 0))

L1_STALL=${L1_STALL:-150}   # l1_test.sh prints a heartbeat every 30 s
# shellcheck disable=SC2034 # read by lib.sh
L1_LOG=${NESTED_LOG:-$NB/l1.log}
mkdir -p "$NB" || exit 1
env=$NB/arm64-$$.env cpio=$NB/l1-$$.cpio
trap 'rm -f "$env" "$cpio"' EXIT
{
	echo "TESTS='$run'"
	echo "VMM_TIMEOUT=$VMM_TIMEOUT"
	[ -n "$VMM_MEM" ] && echo "VMM_MEM='$VMM_MEM'"
	[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
	[ -n "$PROBE_EXITS" ] && echo "PROBE_EXITS='$PROBE_EXITS'"
} >"$env"
# shellcheck disable=SC2086 # one word per pair
if ! l1_initramfs "$cpio" "$env:/arm64.env" tests/arm64/l1_test.sh:/test.sh $pairs; then
	for t in $run; do echo "FAIL arm64-$t: could not build the L1 initramfs"; done
	exit 1
fi

t0=$(date +%s)
# shellcheck disable=SC2086 # one word per test
l1_suite arm64 $((120 + $(echo "$run" | wc -w) * (VMM_TIMEOUT + 40))) "$cpio" $run
wall=$(($(date +%s) - t0))
for t in $run; do
	l1_verdict arm64 "$t" || failed=$((failed + 1))
done
echo "    time: L1 boots $((L1_TRIES + 1)), last $wall s wall; $(echo "$L1_OUT" |
	sed -n 's/^L1-READY /L1: /p;s/^NESTED-TIME /time: /p' | tr '\n' ' ')"
[ "$failed" -eq 0 ]
