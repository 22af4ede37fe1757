#!/bin/sh
# tests/bench/io.sh: I/O benchmarks: virtio-blk (fio) and virtio-net (iperf3), vmm against QEMU and L1 itself, in one L1 boot.
# Usage: sh tests/bench/io.sh   (result lines on stdout, appended to build/bench/results.txt; a part that
#        fails prints "FAIL what: why" and the rest still runs; status 0 unless nothing could run)
# Env: VMM_BIN (./vmm), FIO_SECS (5 per fio job), NET_SECS (5 per iperf3 direction), IMG_MB (256),
#      VMM_MEM (512M, L2's RAM under both VMMs), QEMU_MACHINE (microvm; q35 for virtio-pci), L1_MEM (3072),
#      IO_VERBOSE=1 shows L1's console, IO_RESULTS (file to append to), IO_REPORT_ONLY=1 (report on build/bench/io-raw.txt). Full log: build/bench/io-l1.log.
# Needs (Debian): fio, iperf3, qemu-system-x86 (and lib.sh's: busybox-static, linux-image-cloud-amd64, cpio, lz4, kmod).
# shellcheck disable=SC3043 # local: dash has it
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

B=build/bench
mkdir -p $B
VMM_BIN=${VMM_BIN:-./vmm}
FIO_SECS=${FIO_SECS:-5}
NET_SECS=${NET_SECS:-5}
IMG_MB=${IMG_MB:-256}
VMM_MEM=${VMM_MEM:-512M}
QEMU_MACHINE=${QEMU_MACHINE:-microvm}
L1_MEM=${L1_MEM:-3072}
L1_LOG=$B/io-l1.log
T_START=$(date +%s)

RESULTS=${IO_RESULTS:-$B/results.txt}
out() { echo "$*" | tee -a "$RESULTS"; }
fail_all() { out "FAIL io: $*"; exit 2; }

why=$(nested_check) || fail_all "$why"
for t in fio iperf3 qemu-system-x86_64; do
	command -v $t >/dev/null || fail_all "$t missing (apt-get install fio iperf3 qemu-system-x86)"
done
[ -x "$VMM_BIN" ] || fail_all "$VMM_BIN missing (run make)"
l2_images >/dev/null || fail_all "could not build the L2 images"


stage=$(mktemp -d "$NB/stage-io.XXXXXX") || fail_all "mktemp"
trap 'rm -rf "$stage"' EXIT

# L2: the usual image with /init replaced (a later cpio member wins), fio, iperf3, virtio_mmio.ko.
mkdir -p "$stage/l2/mods"
cp tests/bench/io_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
_mod_copy virtio_mmio "$stage/l2" || fail_all "no virtio_mmio module"
# shellcheck disable=SC2046 # one word per pair
stage_pairs "$stage/l2" $({ tool_files "$(command -v fio)" /usr/bin/fio
	tool_files "$(command -v iperf3)" /bin/iperf3; } | sort -u) || fail_all "could not stage fio and iperf3 for L2"
(cd "$stage/l2" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$stage/l2x.cpio" || fail_all "cpio"
cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2.cpio"

# L1: vmm, QEMU with its libraries and firmware, fio and iperf3, the L2 kernel and initramfs.
{
	echo "IMG_MB=$IMG_MB"
	echo "FIO_SECS=$FIO_SECS"
	echo "NET_SECS=$NET_SECS"
	echo "VMM_MEM=$VMM_MEM"
	echo "QEMU_MACHINE=$QEMU_MACHINE"
} >"$stage/io.env"
cp tests/bench/io_l1.sh "$stage/test.sh" && chmod 755 "$stage/test.sh"
{
	tool_files /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-x86_64
	tool_files "$(command -v fio)" /bin/fio
	tool_files "$(command -v iperf3)" /bin/iperf3
	for fw in bios-microvm.bin qboot.rom pvh.bin linuxboot_dma.bin bios-256k.bin kvmvapic.bin; do
		[ -e /usr/share/qemu/$fw ] && echo "$(readlink -f /usr/share/qemu/$fw):/usr/share/qemu/$fw"
	done
} | sort -u >"$stage/pairs"
# shellcheck disable=SC2046 # one word per pair
l1_initramfs "$stage/l1.cpio" "$stage/io.env:/io.env" "$stage/test.sh:/test.sh" "$VMM_BIN:/b/vmm" \
	"$L2_BZIMAGE:/b/bzImage" "$stage/l2.cpio:/b/l2.cpio" $(cat "$stage/pairs") ||
	fail_all "could not build the L1 initramfs"

if [ -n "$IO_REPORT_ONLY" ]; then
	:   # report on the existing io-raw.txt
else
# The whole script stays under 20 minutes: L1 gets what is left of 19.
left=$((19 * 60 - ($(date +%s) - T_START)))
L1_STALL=${L1_STALL:-240}   # io_l1.sh prints a heartbeat every 30 s
export L1_STALL
if [ "${IO_VERBOSE:-0}" = 1 ]; then
	L1_LOG=$L1_LOG l1_run -m "$L1_MEM" -t "$left" "$stage/l1.cpio"
else
	L1_LOG=$L1_LOG l1_run -m "$L1_MEM" -t "$left" "$stage/l1.cpio" >/dev/null
fi
l1st=$?
tr -d '\r' <"$L1_LOG" | sed -n 's/.*\(IO-RESULT \|IO-TIME \)/\1/p' >$B/io-raw.txt
[ -s $B/io-raw.txt ] || fail_all "no results from L1 (status $l1st); see $L1_LOG"
fi

# ---- report ----
# r SIDE KIND NAME [FIELD]: the median over the rounds of a value in io-raw.txt (FIELD 1 = the first number)
r() {
	awk -v s="$1" -v k="$2" -v n="$3" -v f="${4:-1}" '$1 == "IO-RESULT" && $2 == s && $3 == k && $4 == n { print $(4 + f) }' $B/io-raw.txt |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v a="$1" 'BEGIN { if (a > 0) printf "%.1f", a / 1024; else print "?" }'; }
num() { [ -n "$1" ] && echo "$1" || echo "?"; }
machine=$(awk '$2 == "qemu" && $3 == "machine" { print $4 }' $B/io-raw.txt | tail -n 1)
rounds=$(awk '$2 == "rounds" { print $3 }' $B/io-raw.txt | tail -n 1)

out "io: inside a level-1 Linux (QEMU/TCG, nested SVM); L2 = $(basename "$L2_BZIMAGE"), 1 vCPU, $VMM_MEM; QEMU -M ${machine:-$QEMU_MACHINE}"
out "io: each figure the median of ${rounds:-?} rounds (vmm and QEMU runs alternate); fio ${FIO_SECS} s/job, iodepth 16, direct=1 in L2 on a ${IMG_MB} MiB raw image in L1's tmpfs (both VMMs buffered on it); L1's own fio is buffered (tmpfs: no O_DIRECT)"
# vmm: the disk in a device process (the default); vmm-thread: --device-isolation thread
for j in seq-read seq-write rand-read rand-write; do
	f=1; case $j in rand-*) f=2 ;; esac
	v=$(r vmm fio $j $f); t=$(r vmmt fio $j $f); q=$(r qemu fio $j $f); l=$(r l1 fio $j $f)
	case $j in
	seq-*) vs="$(mib "$v") MiB/s"; ts="$(mib "$t") MiB/s"; qs="$(mib "$q") MiB/s"; ls="$(mib "$l") MiB/s" ;;
	*) vs="$(num "$v") IOPS"; ts="$(num "$t") IOPS"; qs="$(num "$q") IOPS"; ls="$(num "$l") IOPS" ;;
	esac
	out "blk $j: vmm $vs, vmm-thread $ts, qemu $qs, L1 $ls; vmm/qemu $(ratio "$v" "$q"), vmm/vmm-thread $(ratio "$v" "$t"), vmm/L1 $(ratio "$v" "$l"), qemu/L1 $(ratio "$q" "$l")"
done
dp=$(awk '$1 == "IO-RESULT" && $2 == "vmm-blk" && $3 == "devproc-private-kb" { if ($4 > m) m = $4 } END { print m }' $B/io-raw.txt)
out "blk device process memory during fio (largest Private_Clean+Private_Dirty of smaps_rollup, guest RAM not counted): $(num "$dp") kB"

for d in tx rx; do
	v=$(r vmm net $d); q=$(r qemu net $d)
	case $d in tx) n="L2->L1" ;; *) n="L1->L2" ;; esac
	out "net $n (iperf3 ${NET_SECS} s, tap, no vhost): vmm $(num "$v") Mbit/s, qemu $(num "$q") Mbit/s; vmm/qemu $(ratio "$v" "$q")"
done

# get SIDE-MODE KIND: the numbers of that IO-RESULT line (the last one)
get() { awk -v s="$1" -v k="$2" '$1 == "IO-RESULT" && $2 == s && $3 == k { $1 = $2 = $3 = ""; v = $0 } END { print v }' $B/io-raw.txt; }

# Exits to userspace per 1000 virtio requests (vmm --stats), the boot (io=base run) subtracted.
per1000_user() {
	local dev e0 e1 r0 r1
	dev=$1
	e0=$(get vmm-base exits); e1=$(get "vmm-$dev" exits)
	r0=$(get vmm-base "$dev-requests"); r1=$(get "vmm-$dev" "$dev-requests")
	if [ -z "$e0" ] || [ -z "$e1" ] || [ -z "$r0" ] || [ -z "$r1" ]; then
		out "FAIL exits $dev: no --stats counts from vmm's base and $dev runs"
		return
	fi
	# shellcheck disable=SC2086 # three numbers each
	set -- $e0 $e1
	awk -v t0="$1" -v i0="$2" -v m0="$3" -v t1="$4" -v i1="$5" -v m1="$6" -v r0="$r0" -v r1="$r1" -v d="$dev" 'BEGIN {
		dr = r1 - r0
		if (dr <= 0) { print "FAIL exits " d ": no more requests than in the base run"; exit }
		printf "exits to userspace per 1000 virtio-%s requests (vmm --stats, boot subtracted): %.2f (total %+d: io %+d, mmio %+d; requests +%d)\n",
			d, (t1 - t0) * 1000 / dr, t1 - t0, i1 - i0, m1 - m0, dr }' | tee -a "$RESULTS"
}

# VM exits of every reason (KVM's debugfs counters in L1) per 1000 L2 requests (block-layer
# requests, or packets through eth0), the boot subtracted: the same measure for vmm and QEMU.
per1000_kvm() {
	local dev unit what v q
	dev=$1; unit=$2; what=$3
	v=$(kvm_rate vmm "$dev" "$unit"); q=$(kvm_rate qemu "$dev" "$unit")
	out "VM exits per 1000 $what (KVM debugfs in L1, all reasons, boot subtracted): vmm ${v% *}, qemu ${q% *}; vmm/qemu $(ratio "${v% *}" "${q% *}") ($what per run: vmm ${v#* }, qemu ${q#* })"
}

# kvm_rate SIDE DEV UNIT: "median-exits-per-1000 median-count" over the rounds (the i-th kvm line
# of a run with its i-th count line), or "? ?"
kvm_rate() {
	awk -v base="$1-base" -v run="$1-$2" -v unit="$3" '
		$1 != "IO-RESULT" { next }
		$2 == base && $3 == "kvm" { b = $4 }
		$2 == run && $3 == "kvm" { k[++nk] = $4 }
		$2 == run && $3 == unit { c[++nc] = $4 }
		END {
			if (b == "" || nk == 0 || nk != nc) { print "? ?"; exit }
			for (i = 1; i <= nk; i++) if (c[i] > 0) print (k[i] - b) * 1000 / c[i], c[i]
		}' $B/io-raw.txt | sort -g | awk '{ r[NR] = $1; n[NR] = $2 } END {
			if (!NR) { print "? ?"; exit }
			m = (NR + 1) / 2; m = int(m)
			printf "%.1f %d\n", (NR % 2) ? r[m] : (r[NR / 2] + r[NR / 2 + 1]) / 2, n[m] }'
}

per1000_user blk
per1000_user net
per1000_kvm blk l2-blk-requests "blk requests"
per1000_kvm net l2-net-packets "net packets"
# the commonest KVM exit reasons of a boot without I/O (pf_fixed: nested page faults, 4 KiB pages each)
top() { get "$1-base" kvm-all | tr ' ' '\n' | grep -E '_exits=|insn_emulation=|pf_fixed=' | sort -t= -k2 -gr | head -n "$2" | tr '\n' ' '; }
first() { get "$1" kvm | awk '{ print $1 }'; }
out "VM exits in a boot without I/O (KVM debugfs): vmm $(first vmm-base) ($(top vmm 4 | sed 's/ $//')), qemu $(first qemu-base) ($(top qemu 4 | sed 's/ $//'))"
times=$(awk '$1 == "IO-TIME" { sub(/seconds=/, "", $4); t[$2] = t[$2] (t[$2] == "" ? "" : "/") int($4 + 0.5) } END { for (r in t) print r " " t[r] "s" }' $B/io-raw.txt | sort | paste -sd';' | sed 's/;/; /g')
out "io: L2 runs (wall seconds per round): $times; whole io.sh $(($(date +%s) - T_START)) s"
awk '$1 == "IO-RESULT" && ($2 == "FAIL" || $2 == "NOTE") { sub(/^IO-RESULT /, ""); print }' $B/io-raw.txt | tee -a "$RESULTS"
exit 0
