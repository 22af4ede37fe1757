#!/bin/sh
# tests/bench/run_dd.sh DIR: the guest's side of the share throughput rows of `make bench` (part run):
# a sequential write of 64 MiB to DIR (dd bs=1M conv=fsync) and, after dropping the guest's caches,
# a sequential read of it back. Prints one line "RUN-DD write_s=S read_s=S" (seconds, from
# /proc/uptime: 10 ms steps) or "RUN-DD-FAIL what". Runs in L2 under vmm run (DIR a --rw share,
# virtio-fs) and under QEMU (DIR a 9p mount, tests/bench/run_9p_init.sh), with L1's busybox.
d=$1
up() { cut -d' ' -f1 /proc/uptime; }
rm -f "$d/run-dd"
sync
echo 3 >/proc/sys/vm/drop_caches
t0=$(up)
dd if=/dev/zero of="$d/run-dd" bs=1M count=64 conv=fsync 2>/dev/null || { echo "RUN-DD-FAIL write"; exit 1; }
t1=$(up)
echo 3 >/proc/sys/vm/drop_caches || { echo "RUN-DD-FAIL drop_caches"; exit 1; }
t2=$(up)
dd if="$d/run-dd" of=/dev/null bs=1M 2>/dev/null || { echo "RUN-DD-FAIL read"; exit 1; }
t3=$(up)
n=$(wc -c <"$d/run-dd")
rm -f "$d/run-dd"
[ "$n" = 67108864 ] || { echo "RUN-DD-FAIL size $n"; exit 1; }
echo "RUN-DD write_s=$(awk "BEGIN{print $t1 - $t0}") read_s=$(awk "BEGIN{print $t3 - $t2}")"
