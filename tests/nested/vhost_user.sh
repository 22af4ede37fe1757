#!/bin/sh
# tests/nested/vhost_user.sh: nested-vhost-user-*: in one L1 boot, vmm's disks in device processes and vhost-user with real peers.
#   devproc-ps    two --disk: one vmm-blk process per disk (and a vmm-spawner), none holds a KVM fd, vmm does
#   devproc-kill  SIGKILL a disk's device process during fio verify in L2: restarted, fio passes, "restarts 1"
#   devproc-exit  the same with --on-device-crash exit: vmm exits 1 naming the disk and the signal
#   qsd           vmm --vhost-user on qemu-storage-daemon's vhost-user-blk export: fio verify in L2
#   serve-qemu    QEMU (vhost-user-blk-pci, accel=kvm in L1) on vmm --serve-vhost-user: fio verify in L2; vmm exits 0 after
#   net-ps        (devproc-ps's run, which also has a --net tap) one vmm-net process: /dev/net/tun, no KVM fd, no image
#   net-kill      SIGKILL the tap's device process during iperf3 from L2 to L1: restarted, iperf3 and ping pass, "restarts 1"
#   net-serve     vmm --vhost-user SOCK,type=net on vmm --serve-vhost-user SOCK --net tap: ping and iperf3; the server exits 0
# Usage: sh tests/nested/vhost_user.sh   (PASS/FAIL/SKIP lines nested-vhost-user-NAME, notes after them; status 0 unless a FAIL)
# Env: VMM_BIN (./vmm), VMM_TIMEOUT (300 s per L2 run), VMM_MEM (512M: the fio initramfs is ~90 MB), FIO_SIZE (32M: also
#      each image's size), KILL_DELAY (2 s after L2's fio or iperf3 starts), NET_SECS (20: net-kill's iperf3),
#      NET_SERVE_SECS (4: net-serve's), L1_MEM (2560), VU_ONLY ("qsd serve-qemu": only these,
#      the rest SKIP), VU_BREAK=1 (the checks' own test: each runs on a setup it must FAIL: disks and net in threads, kill
#      with --on-device-crash exit, kill without it, qsd's export writable=off, --serve-vhost-user on a ,ro disk, net
#      served on a tap with no address in L1), NESTED_VERBOSE=1 shows L1's console. Full log: build/nested/l1-vhost-user.log.
#      Experiments on net-kill: NET_REV=1 (iperf3 -R: L1 to L2), VU_TRACE=1 (L1 KVM's tracepoints, the last of them
#      noted on a failure; VU_TRACE_FILTER='exit_reason==127' keeps only SVM shutdowns), VU_MAPPER=1 (no device
#      process is killed: tests/nested/mapper.c maps guest RAM and is SIGKILLed 12 times instead).
# Needs (Debian): fio, iperf3 (else net-kill and net-serve SKIP), qemu-system-x86 (qemu-storage-daemon from
#      qemu-system-common; QEMU and SeaBIOS run in L1), besides lib.sh's.
# shellcheck disable=SC3043 # local: dash and busybox ash have it
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

VMM_BIN=${VMM_BIN:-./vmm}
VMM_TIMEOUT=${VMM_TIMEOUT:-300}
VMM_MEM=${VMM_MEM:-512M}
FIO_SIZE=${FIO_SIZE:-32M}
KILL_DELAY=${KILL_DELAY:-2}
NET_SECS=${NET_SECS:-20}
NET_SERVE_SECS=${NET_SERVE_SECS:-4}
NAMES="devproc-ps net-ps qsd serve-qemu net-serve devproc-exit devproc-kill net-kill"   # the kill tests last: vhost_user_l1.sh
# net-serve was left out from 2026-12-02 for an L2 triple fault in about 1 run in 3; it passed 16 of
# 16 runs once L1 kept a VM open (tests/nested/kvm_hold.c), so it runs again.
VU_SEL=${VU_ONLY:-$NAMES}

all() { for n in $NAMES; do echo "$1 nested-vhost-user-$n${2:+: $2}"; done; }

[ -x "$VMM_BIN" ] || { all FAIL "$VMM_BIN missing (run make)"; exit 1; }
if ! why=$(nested_check); then all SKIP "$why"; exit 0; fi
command -v fio >/dev/null || { all SKIP "fio missing (apt-get install fio)"; exit 0; }
l2_images || { all FAIL "could not build the L2 images"; exit 1; }

newc() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$2"; }

stage=$(mktemp -d "$NB/stage-vu.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
t0=$(date +%s)

# L2: the usual image with /init replaced (a later cpio member wins) and iperf3 added; a second variant adds fio (~90 MB)
mkdir -p "$stage/l2"
cp tests/nested/vhost_user_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
IPERF=0
if IPERF3=$(command -v iperf3); then
	# shellcheck disable=SC2046 # one word per pair
	stage_pairs "$stage/l2" $(tool_files "$IPERF3" /bin/iperf3) || { all FAIL "could not stage iperf3"; exit 1; }
	IPERF=1
fi
newc "$stage/l2" "$stage/l2x.cpio" || exit 1
cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2.cpio"
mkdir -p "$stage/l2fio"
# shellcheck disable=SC2046 # one word per pair
stage_pairs "$stage/l2fio" $(tool_files fio /usr/bin/fio) || { all FAIL "could not stage fio"; exit 1; }
newc "$stage/l2fio" "$stage/l2fio-x.cpio" || exit 1
cat "$stage/l2.cpio" "$stage/l2fio-x.cpio" >"$stage/l2fio.cpio"

# L1: QEMU with its firmware (SeaBIOS for q35, the option ROMs -kernel loads), qemu-storage-daemon
QSD=0
{
	tool_files qemu-system-x86_64 /usr/bin/qemu-system-x86_64
	for fw in qemu/linuxboot_dma.bin qemu/kvmvapic.bin seabios/bios-256k.bin; do
		[ -e /usr/share/$fw ] && echo "$(readlink -f /usr/share/$fw):/usr/share/$fw"
	done
	tool_files qemu-storage-daemon /usr/bin/qemu-storage-daemon
	[ $IPERF = 1 ] && tool_files "$IPERF3" /bin/iperf3
} | sort -u >"$stage/pairs"
grep -q ':/usr/bin/qemu-storage-daemon$' "$stage/pairs" && QSD=1

{
	echo "VMM_TIMEOUT=$VMM_TIMEOUT"
	echo "VMM_MEM='$VMM_MEM'"
	echo "FIO_SIZE='$FIO_SIZE'"
	echo "KILL_DELAY='$KILL_DELAY'"
	echo "QSD=$QSD"
	echo "IPERF=$IPERF"
	echo "NET_SECS='$NET_SECS'"
	echo "NET_SERVE_SECS='$NET_SERVE_SECS'"
	echo "NET_REV='$NET_REV'"
	echo "VU_TRACE='$VU_TRACE'"
	echo "VU_TRACE_FILTER='$VU_TRACE_FILTER'"
	echo "VU_MAPPER='$VU_MAPPER'"
	echo "VU_BREAK=${VU_BREAK:-0}"
	echo "VU_ONLY='$VU_SEL'"
	[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
} >"$stage/nested.env"
cp tests/nested/vhost_user_l1.sh "$stage/test.sh" && chmod 755 "$stage/test.sh"
mapper=
if [ "$VU_MAPPER" = 1 ]; then   # the experiment (vhost_user_l1.sh mapper_storm)
	musl-gcc -static -O2 -o "$stage/mapper" tests/nested/mapper.c || exit 1
	mapper=$stage/mapper:/mapper
fi
# shellcheck disable=SC2046 # one word per pair
l1_initramfs "$stage/l1.cpio" $mapper "$stage/nested.env:/nested.env" "$stage/test.sh:/test.sh" \
	"$L2_BZIMAGE:/l2/bzImage" "$stage/l2.cpio:/l2/initrd.cpio" "$stage/l2fio.cpio:/l2/initrd-fio.cpio" \
	"$VMM_BIN:/vmm" $(cat "$stage/pairs") ||
	{ all FAIL "could not build the L1 initramfs"; exit 1; }
t1=$(date +%s)

L1_LOG=$NB/l1-vhost-user.log
L1_STALL=${L1_STALL:-150}   # vhost_user_l1.sh prints a heartbeat every 30 s
L1_MEM=${L1_MEM:-2560}      # initramfs (~250 MB, twice while unpacked), images in tmpfs, one L2 of 512M
n=$(echo "$VU_SEL" | wc -w)
# An environment failure (lib.sh l1_env) that can explain a FAIL or a missing result reruns the whole L1 boot, at most twice.
# shellcheck disable=SC2086 # names are words
l1_suite nested-vhost-user $((n * (VMM_TIMEOUT + 60) + 200)) "$stage/l1.cpio" $VU_SEL
t2=$(date +%s)

failed=0
for t in $NAMES; do
	case " $VU_SEL " in
	*" $t "*) ;;
	*) echo "SKIP nested-vhost-user-$t: not selected (VU_ONLY)"; continue ;;
	esac
	l1_verdict nested-vhost-user "$t" || failed=$((failed + 1))
done
if [ $failed -gt 0 ]; then
	# the runs' last lines (L2's console, vmm's stderr), to show where they stopped
	for r in ps kill exit qsd serve netkill netserve netserve-vmm; do
		echo "$L1_OUT" | sed -n "s/^.*\(L2\|NESTED-ERR\)\[$r\]| /    $r| /p" | tail -n 8
	done
fi
echo "    time: build $((t1 - t0))s, L1 $((t2 - t1))s$([ "$L1_TRIES" -gt 0 ] && echo " ($((L1_TRIES + 1)) boots)"); $(echo "$L1_OUT" | sed -n 's/^NESTED-TIME //p;s/^L1-READY /L1: /p' | tr '\n' ' ')"
[ $failed -eq 0 ]
