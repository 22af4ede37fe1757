#!/bin/sh
# tests/nested/flaky.sh: whose fault is a flaky nested disk run? The same L2 disk workload (blk_l2.sh blk=flaky:
# mkfs.ext4 and file writes on two virtio-blk disks at once) RUNS times under vmm and RUNS times under QEMU,
# alternately, in as few L1 boots as possible. Not part of make test.
# Usage: sh tests/nested/flaky.sh   (one line per run, then a summary; the raw lines in build/nested/flaky.txt)
# Env: RUNS (20 per VMM), RUN_TIMEOUT (150 s per L2 run), VMM_BIN (./vmm), VMM_MEM (256M), QEMU_MACHINE
#      (q35: virtio-pci with MSI-X like vmm; microvm: virtio-mmio), QEMU_MEMFD=1 (QEMU's guest RAM in a
#      memfd like vmm's, 4 KiB pages in L1), SIDES ("vmm qemu"), L1_BOOTS (4: an L1
#      that dies is replaced by a new one for the runs left), FLAKY_WORK=boot (L2 only boots and powers off:
#      many runs quickly, for failures at boot), NESTED_VERBOSE=1 shows L1's console.
# Full L1 consoles: build/nested/l1-flaky-BOOT.log (each run of flaky.sh overwrites them and flaky.txt).
# shellcheck disable=SC3043 # local: dash has it
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

VMM_BIN=${VMM_BIN:-./vmm}
RUNS=${RUNS:-20}
RUN_TIMEOUT=${RUN_TIMEOUT:-150}
VMM_MEM=${VMM_MEM:-256M}
QEMU_MACHINE=${QEMU_MACHINE:-q35}
SIDES=${SIDES:-vmm qemu}
L1_BOOTS=${L1_BOOTS:-4}
OUT=$NB/flaky.txt

why=$(nested_check) || { echo "flaky: $why"; exit 2; }
for t in mkfs.ext4 qemu-system-x86_64; do
	PATH=$PATH:/usr/sbin:/sbin command -v $t >/dev/null || { echo "flaky: $t missing"; exit 2; }
done
[ -x "$VMM_BIN" ] || { echo "flaky: $VMM_BIN missing (run make)"; exit 2; }
l2_images || { echo "flaky: could not build the L2 images"; exit 2; }

stage=$(mktemp -d "$NB/stage-flaky.XXXXXX") || exit 2
trap 'rm -rf "$stage"' EXIT
head -c 4194304 /dev/urandom >"$stage/data"
# L2: the usual image with blk_l2.sh as /init, the data and mkfs.ext4
mkdir -p "$stage/l2"
cp tests/nested/blk_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
cp "$stage/data" "$stage/l2/data"
# shellcheck disable=SC2046 # one word per pair
stage_pairs "$stage/l2" $(tool_files mkfs.ext4 /usr/sbin/mkfs.ext4) || { echo "flaky: could not stage mkfs.ext4"; exit 2; }
(cd "$stage/l2" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$stage/l2x.cpio" || exit 2
cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2.cpio"
{
	tool_files /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-x86_64
	# QEMU's firmware path (Debian): /usr/share/qemu, then /usr/share/seabios (bios-256k.bin for q35)
	for fw in qemu/bios-microvm.bin qemu/qboot.rom qemu/pvh.bin qemu/linuxboot_dma.bin qemu/kvmvapic.bin seabios/bios-256k.bin; do
		[ -e /usr/share/$fw ] && echo "$(readlink -f /usr/share/$fw):/usr/share/$fw"
	done
} | sort -u >"$stage/pairs"
cp tests/nested/flaky_l1.sh "$stage/test.sh" && chmod 755 "$stage/test.sh"

: >"$OUT"
first=1 boot=1
while [ "$first" -le "$RUNS" ] && [ "$boot" -le "$L1_BOOTS" ]; do
	{
		echo "FIRST=$first"
		echo "RUNS=$RUNS"
		echo "RUN_TIMEOUT=$RUN_TIMEOUT"
		echo "VMM_MEM=$VMM_MEM"
		echo "QEMU_MACHINE=$QEMU_MACHINE"
		echo "SIDES='$SIDES'"
		echo "QEMU_MEMFD=${QEMU_MEMFD:-0}"
		echo "WORK=${FLAKY_WORK:-flaky}"
		[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
	} >"$stage/flaky.env"
	# shellcheck disable=SC2046 # one word per pair
	l1_initramfs "$stage/l1.cpio" "$stage/flaky.env:/flaky.env" "$stage/test.sh:/test.sh" "$VMM_BIN:/vmm" \
		"$L2_BZIMAGE:/l2/bzImage" "$stage/l2.cpio:/l2/initrd.cpio" $(cat "$stage/pairs") ||
		{ echo "flaky: could not build the L1 initramfs"; exit 2; }
	L1_LOG=$NB/l1-flaky-$boot.log
	L1_STALL=${L1_STALL:-150}   # flaky_l1.sh prints a heartbeat every 30 s
	n=$(echo "$SIDES" | wc -w)
	t=$((120 + (RUNS - first + 1) * n * (RUN_TIMEOUT + 30)))
	if [ "${NESTED_VERBOSE:-0}" = 1 ]; then
		L1_MEM=${L1_MEM:-2048} l1_run -t "$t" "$stage/l1.cpio"
	else
		L1_MEM=${L1_MEM:-2048} l1_run -t "$t" "$stage/l1.cpio" >/dev/null
	fi
	l1st=$?
	tr -d '\r' <"$L1_LOG" | sed -n 's/.*\(FLAKY-[A-Z]* \)/\1/p' | sed "s/^/boot=$boot /" >>"$OUT"
	sed -n "s/^boot=$boot FLAKY-RUN //p" "$OUT"
	sed -n "s/^boot=$boot FLAKY-DETAIL /    /p" "$OUT"
	grep -q "^boot=$boot FLAKY-END" "$OUT" && break
	# L1 died: say how, then a new L1 goes on from the run it was in
	last=$(sed -n "s/^boot=$boot FLAKY-START \([0-9]*\) \([a-z]*\) .*/\1 \2/p" "$OUT" | tail -n 1)
	l1_env "$L1_LOG" "$l1st"
	l2=$(tr -d '\r' <"$L1_LOG" | sed -n 's/^L2\[[^]]*\]| //p' | tail -n 1)
	echo "L1 boot $boot died (status $l1st) in run ${last:-?}: ${L1_ENV:-no reason found}; L2's last line: ${l2:-none}; see $L1_LOG"
	echo "boot=$boot L1-DIED run=${last:-?} status=$l1st $L1_ENV; L2's last line: ${l2:-none}" >>"$OUT"
	first=${last%% *}; first=${first:-$RUNS}
	boot=$((boot + 1))
done

echo "== summary ($RUNS runs per side, QEMU -M $QEMU_MACHINE)"
for s in $SIDES; do
	p=$(grep -c "FLAKY-RUN [0-9]* $s PASS" "$OUT"); f=$(grep -c "FLAKY-RUN [0-9]* $s FAIL" "$OUT")
	m=$(sed -n "s/.*FLAKY-RUN [0-9]* $s PASS seconds=\([0-9.]*\).*/\1/p" "$OUT" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
	echo "$s: $p passed, $f failed; median run ${m:-?} s"
done
echo "L1 boots: $boot; L1 deaths: $(grep -c 'L1-DIED' "$OUT")"
