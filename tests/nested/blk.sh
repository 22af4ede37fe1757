#!/bin/sh
# tests/nested/blk.sh: nested-blk-*: in one L1 boot, vmm --disk runs L2 three times (ro, main, flush) and checks virtio-blk from both sides.
# Usage: sh tests/nested/blk.sh   (PASS/FAIL/SKIP lines nested-blk-{host-inputs,inputs,order,ro,mkfs,discard,fio,zeroes,exits,flush}, notes after them;
#        status 0 unless a FAIL)
# Env: VMM_BIN (./vmm), VMM_TIMEOUT (300 s per vmm run), VMM_MEM (512M: the fio initramfs is ~90 MB),
#      FIO_SIZE (32M; in MiB, at least 32M, at most 64M), L1_MEM (2560), NESTED_VERBOSE=1 shows L1's console. Full log: build/nested/l1-blk.log.
# Needs (Debian): e2fsprogs (mkfs.ext4, e2fsck, debugfs), fio, util-linux (fallocate), openssl (optional: deterministic data), besides lib.sh's.
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
NAMES="inputs order ro mkfs discard fio zeroes exits flush"

all() { for n in $NAMES; do echo "$1 nested-blk-$n${2:+: $2}"; done; }

# On this host first: bad --disk inputs are refused before KVM is opened, so no KVM or QEMU is needed.
# The "kernel" is vmm itself: should a check let a disk through, vmm stops at the kernel, never boots.
host_inputs() {
	local why notes d
	note() { shift; notes="$notes
    note: $*"; }
	fail() { shift; why="$why; $*"; }
	VMM=$VMM_BIN KERNEL=$VMM_BIN INPUTS_TEST=host-inputs
	# shellcheck source=tests/nested/blk_inputs.sh
	. tests/nested/blk_inputs.sh
	d=$(mktemp -d "${TMPDIR:-/tmp}/vmm-blk-inputs.XXXXXX") || { echo "FAIL nested-blk-host-inputs: mktemp"; return 1; }
	inputs_all "$d"
	rm -rf "$d"
	if [ -z "$why" ]; then
		echo "PASS nested-blk-host-inputs"
		return 0
	fi
	echo "FAIL nested-blk-host-inputs: ${why#; }$notes"
	return 1
}

[ -x "$VMM_BIN" ] || { echo "FAIL nested-blk-host-inputs: $VMM_BIN missing (run make)"; all FAIL "$VMM_BIN missing (run make)"; exit 1; }
host_inputs; host_st=$?
if ! why=$(nested_check); then all SKIP "$why"; exit $host_st; fi
for t in mkfs.ext4 e2fsck debugfs fio fallocate; do
	command -v $t >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v $t >/dev/null ||
		{ all SKIP "$t missing (apt-get install e2fsprogs fio util-linux)"; exit $host_st; }
done
l2_images || { all FAIL "could not build the L2 images"; exit 1; }

newc() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$2"; }

stage=$(mktemp -d "$NB/stage-blk.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
t0=$(date +%s)

# 4 MiB of data, the same every run where openssl is there (AES-CTR of zeros, fixed key).
if command -v openssl >/dev/null; then
	head -c 4194304 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 766d6d2d626c6b2d74657374 \
		-iv 0 2>/dev/null >"$stage/data"
fi
[ "$(stat -c %s "$stage/data" 2>/dev/null)" = 4194304 ] || head -c 4194304 /dev/urandom >"$stage/data"
# Expected checksums: f1 = first MiB, f2 = all, f3 = 12345 bytes from 1 MiB; flush = all.
SUM_F1=$(head -c 1048576 "$stage/data" | sha256sum | cut -d' ' -f1)
SUM_F2=$(sha256sum <"$stage/data" | cut -d' ' -f1)
SUM_F3=$(tail -c +1048577 "$stage/data" | head -c 12345 | sha256sum | cut -d' ' -f1)

# L2: the usual image with /init replaced (a later cpio member wins), data and mkfs.ext4;
# a second variant adds fio (~90 MB of libraries), used only by the run that needs it.
mkdir -p "$stage/l2"
cp tests/nested/blk_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
cp "$stage/data" "$stage/l2/data"
# shellcheck disable=SC2046 # one word per pair
stage_pairs "$stage/l2" $(tool_files mkfs.ext4 /usr/sbin/mkfs.ext4) $(tool_files fallocate /usr/bin/fallocate) ||
	{ all FAIL "could not stage mkfs.ext4 and fallocate"; exit 1; }
newc "$stage/l2" "$stage/l2x.cpio" || exit 1
cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2.cpio"
mkdir -p "$stage/l2fio"
# shellcheck disable=SC2046
stage_pairs "$stage/l2fio" $(tool_files fio /usr/bin/fio) || { all FAIL "could not stage fio"; exit 1; }
newc "$stage/l2fio" "$stage/l2fio-x.cpio" || exit 1
cat "$stage/l2.cpio" "$stage/l2fio-x.cpio" >"$stage/l2fio.cpio"

{
	echo "VMM_TIMEOUT=$VMM_TIMEOUT"
	echo "VMM_MEM='$VMM_MEM'"
	echo "FIO_SIZE='$FIO_SIZE'"
	echo "SUM_F1=$SUM_F1"
	echo "SUM_F2=$SUM_F2"
	echo "SUM_F3=$SUM_F3"
	[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
} >"$stage/nested.env"
cp tests/nested/blk_l1.sh "$stage/test.sh" && chmod 755 "$stage/test.sh"
# L1 gets loop.ko (a block device, and an ext4 for ,direct: its tmpfs has no O_DIRECT) if it is a module
mkdir -p "$stage/l1x/mods"
_mod_copy loop "$stage/l1x" 2>/dev/null || echo "no loop module" >"$stage/l1x/mods/loop.ko"
# shellcheck disable=SC2046 # one word per pair
l1_initramfs "$stage/l1.cpio" "$stage/nested.env:/nested.env" "$stage/test.sh:/test.sh" \
	"$L2_BZIMAGE:/l2/bzImage" "$stage/l2.cpio:/l2/initrd.cpio" "$stage/l2fio.cpio:/l2/initrd-fio.cpio" \
	"$VMM_BIN:/vmm" "$stage/data:/data" "$stage/l1x/mods/loop.ko:/blk/loop.ko" tests/nested/blk_inputs.sh:/blk/inputs.sh \
	$({ tool_files e2fsck /usr/sbin/e2fsck; tool_files debugfs /usr/sbin/debugfs
		tool_files mkfs.ext4 /usr/sbin/mkfs.ext4; } | sort -u) ||
	{ all FAIL "could not build the L1 initramfs"; exit 1; }
t1=$(date +%s)

L1_LOG=$NB/l1-blk.log
L1_STALL=${L1_STALL:-150}   # blk_l1.sh prints a heartbeat every 30 s
L1_MEM=${L1_MEM:-2560}      # disk images in L1's tmpfs, two initramfs copies, L2's memory
# The three L2 runs depend on each other (the exit baseline, the images): an environment failure
# (lib.sh l1_env) that can explain a FAIL or a missing result reruns the whole L1 boot, at most twice.
l1_suite nested-blk $((3 * VMM_TIMEOUT + 200)) "$stage/l1.cpio" $NAMES
t2=$(date +%s)

failed=0
for n in $NAMES; do
	l1_verdict nested-blk "$n" || failed=$((failed + 1))
done
if [ $failed -gt 0 ]; then
	# the L2 runs' last lines, to show where they stopped
	for r in ro main flush; do
		echo "$L1_OUT" | sed -n "s/^L2\[$r\]| /    $r| /p" | tail -n 8
	done
fi
echo "    time: build $((t1 - t0))s, L1 $((t2 - t1))s$([ "$L1_TRIES" -gt 0 ] && echo " ($((L1_TRIES + 1)) boots)"); $(echo "$L1_OUT" | sed -n 's/^NESTED-TIME //p;s/^L1-READY /L1: /p' | tr '\n' ' ')"
[ $failed -eq 0 ] && [ $host_st -eq 0 ]
