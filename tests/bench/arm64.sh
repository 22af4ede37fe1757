#!/bin/sh
# tests/bench/arm64.sh: `make bench ARCH=arm64`: vmm-arm64 against QEMU -M virt (KVM) in the same arm64
# level 1 (qemu-system-aarch64 TCG on this x86 host, tests/nested/lib.sh with NESTED_ARCH=arm64;
# tests/bench/arm64_l1.sh is its /test.sh). Rows: start-up (exec to exit of an Image that powers off
# at once, tests/bench/exit_arm64.S) against the bare-KVM floor (tests/arm64/kvm_probe.c); Linux boot
# (the arm64 cloud kernel, busybox initramfs whose /init prints its uptime and powers off): wall exec to
# exit and L2 uptime at /init; VM exits per boot (KVM's per-VM debugfs counters); exits per virtio-blk request (KVM's per-VM debugfs counters around a
# 64 MiB dd in L2); binary sizes; system calls per sandbox role (vmm-arm64 --print-sandbox, run at L0
# with qemu-aarch64-static). The arm64 QEMU and its libraries come from tests/arm64/fetch_qemu.sh.
# Results go to stdout and build/arm64/bench/results.txt (raw lines: build/arm64/bench/raw.txt).
# Env: START_RUNS (20), BOOT_RUNS (7), BENCH_PARTS ("start boot exits blk"), VMM_ARM64 (./vmm-arm64),
#      L1_MEM (MB, 2048), BENCH_ATTEMPTS (4: L1 boots in all, a stalled L1 is replaced and goes on after
#      the last whole round), BENCH_RESUME=1 (go on from raw.txt), BENCH_REPORT_ONLY=1 (report on it).
# shellcheck disable=SC3043,SC2012 # local: dash has it
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_ARCH=arm64 NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh
B=build/arm64/bench
START_RUNS=${START_RUNS:-20}
BOOT_RUNS=${BOOT_RUNS:-7}
BENCH_PARTS=${BENCH_PARTS:-start boot exits blk}
VMM_ARM64=${VMM_ARM64:-./vmm-arm64}
QROOT=build/arm64/qemu-root
T_START=$(date +%s)
mkdir -p $B

if [ -z "$BENCH_REPORT_ONLY" ]; then
why=$(sh tests/arm64/fetch.sh) || { echo "bench: $why" >&2; exit 2; }
why=$(nested_check) || { echo "bench: $why" >&2; exit 2; }
if [ ! -f "$VMM_ARM64" ] || [ "$(_le "$VMM_ARM64" 18 2)" != 183 ]; then
	echo "bench: $VMM_ARM64 is not an aarch64 program (make ARCH=arm64)" >&2
	exit 2
fi
out=$(sh tests/arm64/fetch_qemu.sh) || { echo "bench: $out" >&2; exit 2; }
[ -z "$out" ] || echo "$out"
arm64/musl-gcc -O2 -o $B/stopwatch tests/bench/stopwatch.c || exit 2
arm64/musl-gcc -std=gnu11 -O2 -o $B/kvm_probe tests/arm64/kvm_probe.c || exit 2
aarch64-linux-gnu-as -o $B/exit.o tests/bench/exit_arm64.S && aarch64-linux-gnu-objcopy -O binary $B/exit.o $B/exit.img || exit 2
l2_images >/dev/null || exit 2
# The boot row's L2 initramfs: busybox and tests/bench/boot_l2.sh (prints its uptime, powers off), no modules.
rm -rf $B/initrd.d && mkdir -p $B/initrd.d && _stage_busybox $B/initrd.d &&
	cp tests/bench/boot_l2.sh $B/initrd.d/init && chmod 755 $B/initrd.d/init &&
	_cpio $B/initrd.d $B/initrd.cpio || exit 2
# The blk row's: busybox, the virtio pci and blk modules, tests/bench/arm64_blk_l2.sh.
rm -rf $B/initrd.d && mkdir -p $B/initrd.d && _stage_busybox $B/initrd.d &&
	_stage_modules $B/initrd.d virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk &&
	cp tests/bench/arm64_blk_l2.sh $B/initrd.d/init && chmod 755 $B/initrd.d/init &&
	cp tests/nested/l2_lib.sh $B/initrd.d/l2-lib.sh && _cpio $B/initrd.d $B/blk.cpio || exit 2
rm -rf $B/initrd.d
cp "$VMM_ARM64" $B/vmm
# the sandbox's system calls per role, and the sizes, at L0
qemu-aarch64-static $B/vmm --print-sandbox >$B/sandbox.txt 2>&1 || { echo "bench: vmm-arm64 --print-sandbox failed" >&2; exit 2; }

bench_env() {
	echo "START_RUNS=$START_RUNS"
	echo "BOOT_RUNS=$BOOT_RUNS"
	echo "PARTS='$BENCH_PARTS'"
	echo "START_DONE=$(sed -n 's/^done start-round //p' $B/raw.txt | tail -n 1 | grep . || echo 0)"
	echo "BOOT_DONE=$(sed -n 's/^done boot-round //p' $B/raw.txt | tail -n 1 | grep . || echo 0)"
	echo "PARTS_DONE='$(sed -n 's/^done part //p' $B/raw.txt | tr '\n' ' ')'"
}
if [ -z "$BENCH_RESUME" ]; then
	: >$B/raw.txt
	: >$B/l1-all.log
fi
# Level 1 under TCG sometimes stalls for good: a new L1 goes on after the last whole round or part.
attempt=$(sed -n 's/^attempts //p' $B/raw.txt | tail -n 1 | grep . || echo 0)
sed -i '/^attempts /d' $B/raw.txt
while [ "$attempt" -lt "${BENCH_ATTEMPTS:-4}" ]; do
	attempt=$((attempt + 1))
	bench_env >$B/bench.env
	# shellcheck disable=SC2046 # one word per pair
	l1_initramfs $B/l1.cpio $B/vmm:/b/vmm $B/stopwatch:/b/stopwatch $B/kvm_probe:/b/kvm_probe \
		$B/exit.img:/b/exit.img "$L2_IMAGE:/b/Image" $B/initrd.cpio:/b/initrd.cpio $B/blk.cpio:/b/blk.cpio \
		$B/bench.env:/b/bench.env tests/bench/arm64_l1.sh:/test.sh $(cat $QROOT/.pairs) || exit 2
	L1_STALL=${L1_STALL:-120}; export L1_STALL   # arm64_l1.sh prints a heartbeat every 30 s
	L1_LOG=$B/l1.log l1_run -m "${L1_MEM:-2048}" -t 3000 $B/l1.cpio >/dev/null
	cat $B/l1.log >>$B/l1-all.log
	tr -d '\r' <$B/l1.log | sed -n 's/.*BENCH //p' >$B/attempt.txt
	if grep -q '^time ' $B/attempt.txt; then
		cat $B/attempt.txt >>$B/raw.txt
		break
	fi
	# a stalled L1: keep its whole rounds and parts only (up to its last "done" line)
	awk '{ l[NR] = $0 } /^done / { d = NR } END { for (i = 1; i <= d; i++) print l[i] }' $B/attempt.txt >>$B/raw.txt
	echo "bench: L1 attempt $attempt ended early ($(grep -c . $B/attempt.txt) result lines); last lines:" >&2
	tr -d '\r' <$B/l1.log | tail -n 3 >&2
	echo "attempt $attempt stalled after: $(tail -n 1 $B/attempt.txt)" >>$B/raw.txt
done
echo "attempts $attempt" >>$B/raw.txt
rm -f $B/l1.cpio
fi

# ---- report ----
R=$B/raw.txt
# med LABEL KEY: the median of KEY= over LABEL's runs (killed runs skipped)
med() {
	awk -v l="$1" -v k="$2" '$1 == l && $2 != "runs=0" { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' $R |
		sort -g | awk '$1 >= 0 { v[++n] = $1 } END { if (n) print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
# runs LABEL STATUS: "N runs, F failed" (by exit status, a missing marker or a kill)
runs() {
	awk -v l="$1" -v s="$2" '$1 == l { n++; ok = ($0 ~ (" status=" s " ")) && $0 !~ /marker_seen=0/ && $2 != "runs=0"; if (!ok) f++ }
		END { printf "%d runs, %d failed", n, f }' $R
}
# pratio A B KEY: the median over rounds of A's i-th run over B's i-th run, the pairs and their range
pratio() {
	awk -v a="$1" -v b="$2" -v k="$3" '$2 != "runs=0" && ($1 == a || $1 == b) {
			for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) { v = substr($i, length(k) + 2); if ($1 == a) x[++na] = v; else y[++nb] = v } }
		END { n = na < nb ? na : nb; for (i = 1; i <= n; i++) if (x[i] > 0 && y[i] > 0) print x[i] / y[i] }' $R |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f (%d pairs, %.2f-%.2f)", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR, v[1], v[NR]; else printf "n/a" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
sec() { awk -v a="$1" 'BEGIN { if (a > 0) printf "%.2f s", a / 1000; else print "?" }'; }
ms() { awk -v a="$1" 'BEGIN { if (a > 0) printf "%.0f ms", a; else print "?" }'; }
get() { sed -n "s/^$1 //p" $R | head -n 1; }
# blk VMM: the dd's counts from the samples (2 less 1, less 3 less 2: one marker line) and L2's
# request counts (/sys/block/vda/stat: reads, writes, discards, flushes)
blk() {
	awk -v v="$1" '
		function kv(line, k,   i, n, a) { n = split(line, a, " "); for (i = 1; i <= n; i++) if (index(a[i], k "=") == 1) return substr(a[i], length(k) + 2); return "" }
		$1 == "blk-" v "-sample1" { s1 = $0 } $1 == "blk-" v "-sample2" { s2 = $0 } $1 == "blk-" v "-sample3" { s3 = $0 }
		$1 == "blk-" v { st = $0 }
		END {
			if (st == "") { print "no result"; exit }
			if (s1 == "" || s2 == "" || s3 == "" || s1 ~ / none/) { print "no counters (" st ")"; exit }
			split(kv(st, "before"), b, ","); split(kv(st, "after"), a, ",")
			r = a[1] - b[1]; w = a[5] - b[5]; d = a[12] - b[12]; f = a[16] - b[16]; req = r + w + d + f
			mb = ((a[3] - b[3]) + (a[7] - b[7])) / 2048
			if (req <= 0) { print "no requests (" st ")"; exit }
			n = split("mmio_exit_user exits mmio_exit_kernel wfi_exit_stat", ks, " ")
			for (i = 1; i <= n; i++) { k = ks[i]; c[k] = (kv(s2, k) - kv(s1, k)) - (kv(s3, k) - kv(s2, k)); line[k] = kv(s3, k) - kv(s2, k) }
			printf "%d requests (%d reads, %d writes, %d flushes; %.0f MiB, %.0f KiB a request); exits to user space (mmio_exit_user) %d = %.3f a request; all exits during the dd (timer and other interrupts included) %d = %.2f a request (%d MMIO exits handled in L1 kernel (ioeventfd), %d WFI); one marker line on the console: %d exits to user space, taken off",
				req, r, w, f, mb, mb * 1024 / req, c["mmio_exit_user"], c["mmio_exit_user"] / req, c["exits"], c["exits"] / req,
				c["mmio_exit_kernel"], c["wfi_exit_stat"], line["mmio_exit_user"]
		}' $R
}

# phases: the median time of each phase of vmm -v (its "[ ms] what" lines; the first two words name it)
phases() {
	sed -n 's/^start-vmm-phases //p' $R | awk -F'|' '{ p = 0; for (i = 1; i < NF; i++) { split($i, w, " "); if (w[1] == "") continue
			k = w[2] " " w[3]; gsub(/[:;]/, "", k); printf "%d\t%s\t%s\n", i, k, w[1] - p; p = w[1] } }' | sort -t "$(printf '\t')" -k1,1n -k3,3g |
		awk -F'\t' '{ if ($1 != c && c != "") out(); c = $1; k = $2; v[++m] = $3 } END { if (c != "") out() }
			function out() { printf "%s %.1f; ", k, (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2; m = 0 }' | sed 's/; $//'
}
vs=$(med start-vmm-64M exit_ms); v256=$(med start-vmm exit_ms); vsn=$(med start-vmm-nosandbox exit_ms)
fl=$(med start-floor exit_ms); flg=$(med start-floor-gic exit_ms); qs=$(med start-qemu exit_ms)
vw=$(med boot-vmm exit_ms); qw=$(med boot-qemu exit_ms); vu=$(med boot-vmm uptime); qu=$(med boot-qemu uptime)
qsize=$(stat -c %s $QROOT/bin/qemu-system-aarch64 2>/dev/null)
{
	echo "where: inside an arm64 level-1 Linux (qemu-system-aarch64 TCG at L0: -M virt,virtualization=on,gic-version=3, 2 vCPUs, ${L1_MEM:-2048} MB); $(get where)"
	echo "qemu: $(get qemu-version | tr _ ' ') (Debian's qemu-system-arm:arm64) -M virt,gic-version=3 -accel kvm -cpu host -smp 1; vmm guest RAM: $(get vmm-backing)"
	echo "start-up, exec to exit, tiny guest (exit.img: PSCI SYSTEM_OFF at once; median of $START_RUNS, interleaved):"
	echo "  vmm --memory 64M $(ms "$vs") ($(runs start-vmm-64M 0)), vmm (256M) $(ms "$v256") ($(runs start-vmm 0)), vmm --memory 64M --no-sandbox $(ms "$vsn") ($(runs start-vmm-nosandbox 0)), qemu -M virt -m 64M $(ms "$qs") ($(runs start-qemu 0))"
	echo "  bare-KVM floor (kvm_probe -n 1: 2 MiB, one vCPU, no GIC) $(ms "$fl") ($(runs start-floor 0)), with 64 MiB and a GICv3 + ITS (kvm_probe -n 1 -m 64 -g) $(ms "$flg") ($(runs start-floor-gic 0))"
	echo "  vmm(64M)/floor = $(ratio "$vs" "$fl"), per round $(pratio start-vmm-64M start-floor exit_ms); vmm(64M)/floor with GIC = $(ratio "$vs" "$flg"), per round $(pratio start-vmm-64M start-floor-gic exit_ms); qemu/vmm(64M) = $(ratio "$qs" "$vs"), per round $(pratio start-qemu start-vmm-64M exit_ms); no-sandbox/sandbox per round $(pratio start-vmm-nosandbox start-vmm-64M exit_ms)"
	echo "  vmm -v, where the time goes (median of $(grep -c '^start-vmm-phases ' $R) runs, ms from the phase before; from exec): $(phases)"
	echo "boot arm64 cloud Image, 1 vCPU, 256M, to /init and power-off (median of $BOOT_RUNS, interleaved; vmm $(runs boot-vmm 0), qemu $(runs boot-qemu 0)):"
	echo "  wall exec to exit: vmm $(sec "$vw"), qemu -M virt $(sec "$qw"); vmm/qemu = $(ratio "$vw" "$qw"); per round $(pratio boot-vmm boot-qemu exit_ms)"
	echo "  L2 uptime at /init: vmm ${vu:-?} s, qemu ${qu:-?} s; vmm/qemu = $(ratio "$vu" "$qu"); per round $(pratio boot-vmm boot-qemu uptime)"
	echo "VM exits per boot (KVM's per-VM debugfs counters in L1, one boot each, 1 s of idle L2 included; exits: all, mmio_exit_user: to the VMM):"
	for v in vmm qemu; do
		echo "  $v: $(get exits-$v | sed 's/status=[0-9]* //'); in L1 meanwhile:$(get exits-$v-l1vmstat)"
	done
	echo "exits per virtio-blk request (64 MiB dd conv=fsync to vda, 64 MiB dd from it after drop_caches; KVM's per-VM debugfs counters in L1; 1 vCPU):"
	echo "  vmm: $(blk vmm)"
	echo "    vmm --stats: $(sed -n 's/^blk-vmm-stats: //p' $R | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
	echo "  qemu (virtio-blk-pci, raw, default cache and aio): $(blk qemu)"
	echo "    L2's virtio MSI-X vectors: vmm $(sed -n 's/^blk-vmm-msi: //p' $R | wc -l), qemu $(sed -n 's/^blk-qemu-msi: //p' $R | wc -l) (ITS-MSI lines of /proc/interrupts)"
	echo "binary: vmm-arm64 $(stat -c %s "$B/vmm") bytes (static PIE), qemu-system-aarch64 ${qsize:-?} bytes + $(wc -l <$QROOT/.libs) shared libraries (the loader included; $(cat $QROOT/lib/* | wc -c) bytes)"
	echo "syscalls per role (qemu-aarch64-static vmm-arm64 --print-sandbox): $(sed -n 's/^\([a-z-]*\) (\([0-9]*\) syscalls, \([0-9]*\) ioctl requests\{0,1\}).*/\1 \2 (\3 ioctls)/p' $B/sandbox.txt | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
	echo "time: arm64_l1.sh $(get time | sed 's/seconds=//') s in the last L1; L1 boots: $(get attempts) ($(grep -c '^attempt .* stalled' $R) stalled and were replaced); arm64.sh $(($(date +%s) - T_START)) s"
} | tee $B/results.txt
exit 0
