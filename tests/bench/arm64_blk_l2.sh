#!/bin/sh
# tests/bench/arm64_blk_l2.sh: /init of the arm64 L2 initramfs for the exits-per-request row of
# `make bench ARCH=arm64` (tests/bench/arm64_l1.sh part blk): 64 MiB written to the first virtio-blk
# disk and 64 MiB read back from it, between marker lines at which L1 reads KVM's per-VM counters.
# Each "L2-BLK-MARK" line is followed by 3 s of idle L2 (no exits to user space: the timer and WFI
# stay in L1's kernel), during which L1 samples: sample 2 less sample 1 is the dd's exits plus one
# marker line's console output, sample 3 less sample 2 is one marker line's alone (the same line),
# so L1 can take it off. Then "L2-BLK-STAT before=... after=..." (/sys/block/vda/stat) for the
# request count, and power-off.
# shellcheck source=tests/nested/l2_lib.sh
. /l2-lib.sh
load_modules
n=0
while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ -b /dev/vda ] || { echo "L2-BLK-FAIL no /dev/vda"; poweroff -f; }
s0=$(cat /sys/block/vda/stat)
mark() { echo "L2-BLK-MARK"; sleep 3; }
mark
dd if=/dev/zero of=/dev/vda bs=1M count=64 conv=fsync 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
dd if=/dev/vda of=/dev/null bs=1M count=64 2>/dev/null
s1=$(cat /sys/block/vda/stat)
mark
mark
# shellcheck disable=SC2086 # unquoted: the padding spaces of the stat file go
echo "L2-BLK-STAT before=$(echo $s0 | tr ' ' ,) after=$(echo $s1 | tr ' ' ,)"
grep -E 'ITS-MSI.*virtio' /proc/interrupts | sed 's/^ *[0-9]*: *//; s/  */ /g; s/^/L2-MSI: /'
poweroff -f
