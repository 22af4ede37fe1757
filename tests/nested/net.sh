#!/bin/sh
# tests/nested/net.sh: nested-net: in L1 (QEMU/TCG) a tap0, vmm --net tap=tap0 boots L2, which pings L1 and runs iperf3 both ways.
# Usage: sh tests/nested/net.sh   (prints one PASS/FAIL/SKIP line for nested-net, notes after it; status 0 unless FAIL)
# Env: VMM_BIN (./vmm), VMM_TIMEOUT (240 s), VMM_MEM (256M), NET_SECS (iperf3 seconds per direction, 4),
#      NESTED_VERBOSE=1 shows L1's console. Full log: build/nested/l1-net.log.
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

VMM_BIN=${VMM_BIN:-./vmm}
VMM_TIMEOUT=${VMM_TIMEOUT:-240}
NET_SECS=${NET_SECS:-4}

if ! why=$(nested_check); then echo "SKIP nested-net: $why"; exit 0; fi
IPERF3=$(command -v iperf3) || { echo "SKIP nested-net: iperf3 missing (apt-get install iperf3)"; exit 0; }
[ -x "$VMM_BIN" ] || { echo "FAIL nested-net: $VMM_BIN missing (run make)"; exit 1; }
l2_images || { echo "FAIL nested-net: could not build the L2 images"; exit 1; }


stage=$(mktemp -d "$NB/stage-net.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
# L2: the usual image with /init replaced (a later cpio member wins) and iperf3 added
mkdir -p "$stage/l2/bin"
cp tests/nested/net_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
stage_pairs "$stage/l2" $(tool_files "$IPERF3" /bin/iperf3) || { echo "FAIL nested-net: could not stage iperf3"; exit 1; }
(cd "$stage/l2" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$stage/l2x.cpio" || exit 1
cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2.cpio"

{
	echo "VMM_TIMEOUT=$VMM_TIMEOUT"
	echo "NET_SECS=$NET_SECS"
	[ -n "$VMM_MEM" ] && echo "VMM_MEM='$VMM_MEM'"
	[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
} >"$stage/nested.env"
# shellcheck disable=SC2046 # one word per pair
l1_initramfs "$stage/l1.cpio" "$stage/nested.env:/nested.env" tests/nested/net_l1.sh:/test.sh \
	"$L2_BZIMAGE:/l2/bzImage" "$stage/l2.cpio:/l2/initrd.cpio" "$VMM_BIN:/vmm" $(tool_files "$IPERF3" /bin/iperf3) ||
	{ echo "FAIL nested-net: could not build the L1 initramfs"; exit 1; }

L1_LOG=$NB/l1-net.log
L1_STALL=${L1_STALL:-150}   # net_l1.sh prints a heartbeat every 30 s
l1_single nested-net net $((VMM_TIMEOUT + 150)) "$stage/l1.cpio"
