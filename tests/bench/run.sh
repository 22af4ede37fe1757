#!/bin/sh
# tests/bench/run.sh: `make bench`: vmm against QEMU (-M microvm) in one run, on the same inputs.
# Start-up (exec to exit of a guest that exits at once) against a bare-KVM floor, Linux boot (bzImage
# and PVH: exec to power-off and L2 uptime at /init), VM exits per boot by reason, own memory,
# density (many guests at once), binary size, `vmm run` (exec to exit of `vmm run -- true` against
# QEMU + virtiofsd booting the same initramfs, and 64 MiB through the share: virtio-fs against
# QEMU's virtio-9p), a Debian bookworm root with systemd on virtio-blk booting to multi-user (part systemd, not in the
# default parts; its image is built with mmdebstrap and cached in build/bench); then the I/O rows (io.sh).
# Where the host has no usable /dev/kvm (none, or kvm_pvm), everything runs inside one level-1
# QEMU/TCG with nested SVM (tests/bench/boot_l1.sh is its /test.sh).
# Results go to stdout and to build/bench/results.txt; BENCHMARKS.md quotes them.
# Env: START_RUNS (20), BOOT_RUNS (7), EXTRA_RUNS (3: boots of the microvm-defaults and no-sandbox rows), CROWD_TINY (100), CROWD_LINUX (8), CROWD_MEM (256M),
#      RUN_RUNS (7: rounds of part run), SYSTEMD_RUNS (3: rounds of part systemd), BENCH_PARTS ("start boot exits mem crowd run";
#      part systemd too: BENCH_PARTS="... systemd"), BENCH_DEBIAN_MIRROR (http://deb.debian.org/debian, for part systemd), BENCH_IO (1: also io.sh), L1_MEM (MB, 4096),
#      BENCH_NESTED=1 (use L1 even on real KVM), BENCH_ATTEMPTS (8: L1 boots in all, a stalled L1 is
#      replaced), BENCH_RESUME=1 (go on from build/bench/raw.txt), BENCH_REPORT_ONLY=1 (report on it).
# shellcheck disable=SC3043,SC2012 # local: dash has it; ls -lL for a size
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh
why=$(nested_check) || { echo "bench: $why" >&2; exit 2; }
B=build/bench
mkdir -p $B
START_RUNS=${START_RUNS:-20}
BOOT_RUNS=${BOOT_RUNS:-7}
EXTRA_RUNS=${EXTRA_RUNS:-3}
CROWD_TINY=${CROWD_TINY:-100}
CROWD_LINUX=${CROWD_LINUX:-8}
CROWD_MEM=${CROWD_MEM:-256M}
RUN_RUNS=${RUN_RUNS:-7}
SYSTEMD_RUNS=${SYSTEMD_RUNS:-3}
BENCH_PARTS=${BENCH_PARTS:-start boot exits mem crowd run}
T_START=$(date +%s)

if [ -z "$BENCH_REPORT_ONLY" ]; then
musl-gcc -O2 -static -o $B/stopwatch tests/bench/stopwatch.c || exit 2
musl-gcc -O2 -static -o $B/crowd tests/bench/crowd.c || exit 2
musl-gcc -O2 -static -isystem build/include -o $B/floor tests/bench/floor.c || exit 2
gcc -c tests/bench/exit.S -o $B/exit.o && ld -T tests/bench/exit.ld -static -nostdlib $B/exit.o -o $B/exit.elf || exit 2
l2_images >/dev/null || exit 2
# The L2 initramfs: busybox and an /init that prints its uptime and powers off (boot_l2.sh).
rm -rf $B/initrd.d && mkdir -p $B/initrd.d && _stage_busybox $B/initrd.d &&
	cp tests/bench/boot_l2.sh $B/initrd.d/init && chmod 755 $B/initrd.d/init &&
	_cpio $B/initrd.d $B/initrd.cpio || exit 2
rm -rf $B/initrd.d
# Part run: its files in L1 (as HOST:GUEST pairs in $B/run-pairs) and in $B.
run_modpairs() {   # REL: modules.dep, modules.builtin and the modules vmm run hands to L2, where Debian keeps them
	local md m f
	md=/lib/modules/$1
	echo "$md/modules.dep:$md/modules.dep"
	echo "$md/modules.builtin:$md/modules.builtin"
	_seen=; _order=
	for m in virtio_pci virtiofs overlay pvpanic_mmio; do _mod_visit "$m" || return 1; done
	for m in $_order; do
		f=$(modinfo -k "$NESTED_KVER" -n "$m") || return 1
		case $f in /*) echo "$f:$f" ;; esac
	done
}
: >$B/run-pairs
case " $BENCH_PARTS " in *" run "*)
	musl-gcc -O2 -static -std=gnu11 -D_GNU_SOURCE -I. -isystem build/include -ffunction-sections -fdata-sections \
		-Wl,--gc-sections -o $B/mkrun tests/bench/mkrun.c run.c boot/initramfs.c log.c || exit 2
	# RUN.cpio: what `vmm run -- true` builds in L1 (its /init this vmm, the cloud kernel's modules)
	$B/mkrun $B/run-true.cpio ./vmm "/lib/modules/$NESTED_KVER" -- true || exit 2
	$B/mkrun $B/run-check.cpio ./vmm "/lib/modules/$NESTED_KVER" -- sh -c 'exit 7' || exit 2
	run_modpairs "$NESTED_KVER" >>$B/run-pairs || exit 2
	# The 9p rows need a kernel with 9p: Debian's cloud kernel has none (CONFIG_NET_9P is not set),
	# its generic one builds it as modules. Both VMMs boot that kernel for these rows.
	K9P=$(for k in /boot/vmlinuz-*-amd64; do case $k in *-cloud-amd64) ;; *) [ -e "$k" ] && echo "$k" ;; esac; done | sort -V | tail -n 1)
	if [ -n "$K9P" ] && [ -d "/lib/modules/${K9P#/boot/vmlinuz-}" ]; then
		kv=$NESTED_KVER; NESTED_KVER=${K9P#/boot/vmlinuz-}
		rm -rf $B/run9p.d && mkdir -p $B/run9p.d && _stage_busybox $B/run9p.d &&
			_stage_modules $B/run9p.d virtio_pci 9pnet_virtio 9p &&
			cp tests/bench/run_9p_init.sh $B/run9p.d/init && cp tests/bench/run_dd.sh $B/run9p.d/run_dd.sh &&
			chmod 755 $B/run9p.d/init && _cpio $B/run9p.d $B/run-9p.cpio && run_modpairs "$NESTED_KVER" >>$B/run-pairs || exit 2
		rm -rf $B/run9p.d
		NESTED_KVER=$kv
		cp "$K9P" $B/vmlinuz-9p
	else
		echo "bench: part run: no generic Debian kernel with modules (apt-get install linux-image-amd64): no 9p rows" >&2
		: >$B/vmlinuz-9p; : >$B/run-9p.cpio
	fi
	cp tests/bench/run_dd.sh tests/bench/run_qemu_vfs.sh $B/
	{
		echo "$B/run-true.cpio:/b/run-true.cpio"
		echo "$B/run-check.cpio:/b/run-check.cpio"
		echo "$B/run-9p.cpio:/b/run-9p.cpio"
		echo "$B/vmlinuz-9p:/b/vmlinuz-9p"
		echo "tests/bench/run_dd.sh:/b/run_dd.sh"
		echo "tests/bench/run_qemu_vfs.sh:/b/run_qemu_vfs.sh"
		tool_files /usr/lib/qemu/virtiofsd /usr/lib/qemu/virtiofsd
		# q35's firmware: SeaBIOS (Debian keeps it in /usr/share/seabios, where its QEMU looks)
		for fw in /usr/share/qemu/kvmvapic.bin /usr/share/seabios/bios-256k.bin; do
			[ -e $fw ] && echo "$(readlink -f $fw):$fw"
		done
	} >>$B/run-pairs
	;;
esac
# Part systemd: a Debian bookworm root (minbase + systemd-sysv, udev; no docs, man pages or locales) made by mmdebstrap
# (apt, so it downloads wherever apt does), set up by systemd_root.sh, as an ext4 image (mkfs.ext4 -d, no mount).
# Cached as $B/systemd-KEY.img, KEY from the scripts and options that shape it: a rerun does not rebuild it.
# Its initramfs (systemd_initrd.sh) loads virtio_pci and virtio_blk, mounts /dev/vda and starts systemd.
SD_MIRROR=${BENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SD_OPTS="--variant=minbase --include=systemd-sysv,udev --dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/locale/*
	--dpkgopt=path-include=/usr/share/locale/locale.alias --dpkgopt=path-exclude=/usr/share/doc/*
	--dpkgopt=path-include=/usr/share/doc/*/copyright --dpkgopt=path-exclude=/usr/share/info/*"
systemd_files() {
	local key img root mb
	for t in mmdebstrap mkfs.ext4; do
		command -v $t >/dev/null || { echo "bench: part systemd: $t missing (apt-get install mmdebstrap e2fsprogs)" >&2; return 1; }
	done
	key=$({ cat tests/bench/systemd_root.sh tests/bench/systemd_ready.sh; echo "$SD_OPTS bookworm"; } | sha256sum | cut -c1-12)
	img=$B/systemd-$key.img
	if [ ! -s "$img" ]; then
		echo "bench: part systemd: building the Debian root (mmdebstrap, a few minutes; log in $B/mmdebstrap.log)" >&2
		rm -f $B/systemd-*.img
		root=$B/systemd-root.d
		rm -rf "$root"
		# shellcheck disable=SC2086 # options as words (no spaces in them; the globs are dpkg's: set -f)
		(set -f; mmdebstrap $SD_OPTS bookworm "$root" "$SD_MIRROR") >$B/mmdebstrap.log 2>&1 ||
			{ echo "bench: part systemd: mmdebstrap failed; last lines of $B/mmdebstrap.log:" >&2; tail -n 5 $B/mmdebstrap.log >&2; return 1; }
		sh tests/bench/systemd_root.sh "$root" >&2 || return 1
		# room for what the boot writes: a quarter more than the tree, and 64 MiB
		mb=$(($(du -sm "$root" | cut -f1) * 5 / 4 + 64))
		mkfs.ext4 -q -F -b 4096 -L bench-root -d "$root" "$img.tmp" "${mb}M" >&2 && mv "$img.tmp" "$img" || return 1
		rm -rf "$root"
	fi
	rm -rf $B/sdinit.d && mkdir -p $B/sdinit.d && _stage_busybox $B/sdinit.d && _stage_modules $B/sdinit.d virtio_pci virtio_blk &&
		cp tests/bench/systemd_initrd.sh $B/sdinit.d/init && chmod 755 $B/sdinit.d/init &&
		_cpio $B/sdinit.d $B/systemd-initrd.cpio >&2 || return 1
	rm -rf $B/sdinit.d
	ln -f "$img" $B/systemd.img
	echo "$B/systemd.img:/b/systemd.img"
	echo "$B/systemd-initrd.cpio:/b/systemd-initrd.cpio"
}
case " $BENCH_PARTS " in *" systemd "*)
	if ! systemd_files >>$B/run-pairs; then
		echo "bench: part systemd left out" >&2
		BENCH_PARTS=$(echo " $BENCH_PARTS " | sed 's/ systemd / /; s/^ *//; s/ *$//')
	fi
	;;
esac
# bench.env: the counts, and what earlier attempts finished (from the result lines so far)
bench_env() {
	echo "START_RUNS=$START_RUNS"
	echo "BOOT_RUNS=$BOOT_RUNS"
	echo "EXTRA_RUNS=$EXTRA_RUNS"
	echo "CROWD_TINY=$CROWD_TINY"
	echo "CROWD_LINUX=$CROWD_LINUX"
	echo "CROWD_MEM=$CROWD_MEM"
	echo "RUN_RUNS=$RUN_RUNS"
	echo "SYSTEMD_RUNS=$SYSTEMD_RUNS"
	echo "PARTS='$BENCH_PARTS'"
	echo "START_DONE=$(sed -n 's/^done start-round //p' $B/raw.txt | tail -n 1 | grep . || echo 0)"
	echo "BOOT_DONE=$(sed -n 's/^done boot-round //p' $B/raw.txt | tail -n 1 | grep . || echo 0)"
	echo "RUN_DONE=$(sed -n 's/^done run-round //p' $B/raw.txt | tail -n 1 | grep . || echo 0)"
	echo "SYSTEMD_DONE=$(sed -n 's/^done systemd-round //p' $B/raw.txt | tail -n 1 | grep . || echo 0)"
	echo "PARTS_DONE='$(sed -n 's/^done part //p' $B/raw.txt | tr '\n' ' ')'"
}
# BENCH_RESUME=1: go on from the result lines of an earlier run.sh (raw.txt) that ran out of L1 boots
if [ -z "$BENCH_RESUME" ]; then
	: >$B/raw.txt
	: >$B/l1-all.log
fi

if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && [ -z "$BENCH_NESTED" ]; then
	where="this host's /dev/kvm"
	cp "$L2_BZIMAGE" $B/bzImage; cp "$L2_VMLINUX" $B/vmlinux; cp vmm $B/vmm
	bench_env >$B/bench.env
	sh tests/bench/boot_l1.sh "$(pwd)/$B" | tee $B/l1-all.log
	tr -d '\r' < $B/l1-all.log | sed -n 's/.*BENCH //p' > $B/raw.txt
else
	where="inside a level-1 Linux (QEMU/TCG, nested SVM, 2 vCPUs)"
	# Level 1 under TCG sometimes stalls for good (console silent, heartbeat gone): a new L1 goes on
	# after the last whole round or part, up to BENCH_ATTEMPTS L1 boots in all.
	attempt=$(sed -n 's/^attempts //p' $B/raw.txt | tail -n 1 | grep . || echo 0)
	sed -i '/^attempts /d' $B/raw.txt
	while [ "$attempt" -lt "${BENCH_ATTEMPTS:-8}" ]; do
		attempt=$((attempt + 1))
		bench_env >$B/bench.env
		# QEMU in L1: the binary, its shared libraries and the firmware microvm loads.
		set -- vmm:/b/vmm $B/stopwatch:/b/stopwatch $B/crowd:/b/crowd $B/floor:/b/floor $B/exit.elf:/b/exit.elf \
			$B/bench.env:/b/bench.env tests/bench/boot_l1.sh:/test.sh \
			"$L2_BZIMAGE:/b/bzImage" "$L2_VMLINUX:/b/vmlinux" $B/initrd.cpio:/b/initrd.cpio
		# shellcheck disable=SC2046 # one word per pair
		set -- "$@" $({ tool_files /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-x86_64; cat $B/run-pairs; } | sort -u)
		for fw in bios-microvm.bin qboot.rom pvh.bin linuxboot_dma.bin; do
			[ -e /usr/share/qemu/$fw ] && set -- "$@" "$(readlink -f /usr/share/qemu/$fw):/usr/share/qemu/$fw"
		done
		l1_initramfs $B/l1.cpio "$@" || exit 2
		L1_STALL=${L1_STALL:-120}; export L1_STALL   # boot_l1.sh prints a heartbeat every 30 s
		L1_LOG=$B/l1.log l1_run -m "${L1_MEM:-4096}" -t 3000 $B/l1.cpio >/dev/null
		cat $B/l1.log >>$B/l1-all.log
		tr -d '\r' < $B/l1.log | sed -n 's/.*BENCH //p' > $B/attempt.txt
		if grep -q '^time ' $B/attempt.txt; then
			cat $B/attempt.txt >> $B/raw.txt
			break
		fi
		# a stalled L1: keep its whole rounds and parts only (up to its last "done" line), so
		# that the i-th vmm run and the i-th QEMU run stay in the same round
		awk '{ l[NR] = $0 } /^done / { d = NR } END { for (i = 1; i <= d; i++) print l[i] }' $B/attempt.txt >> $B/raw.txt
		echo "bench: L1 attempt $attempt ended early ($(tr -d '\r' < $B/l1.log | grep -c 'BENCH ') result lines); last lines:" >&2
		tr -d '\r' < $B/l1.log | grep -v 'TCG doesn' | tail -n 3 >&2
		echo "attempt $attempt stalled after: $(tail -n 1 $B/attempt.txt)" >> $B/raw.txt
	done
	echo "attempts $attempt" >> $B/raw.txt
fi
fi

# ---- report ----
R=$B/raw.txt
# med LABEL KEY: the median of KEY= over LABEL's runs (lines "LABEL runs=1 ..."; killed runs skipped)
med() {
	awk -v l="$1" -v k="$2" '$1 == l && $2 != "runs=0" { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' $R |
		sort -g | awk '$1 >= 0 { v[++n] = $1 } END { if (n) print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
# runs LABEL STATUS: "N runs, F failed" (a run fails by its exit status, a missing marker or a kill)
runs() {
	awk -v l="$1" -v s="$2" '$1 == l { n++; ok = ($0 ~ (" status=" s " ")) && $0 !~ /marker_seen=0/ && $2 != "runs=0"; if (!ok) f++ }
		END { printf "%d runs, %d failed", n, f }' $R
}
# pratio A B KEY: the median over rounds of A's i-th run over B's i-th run (rounds are interleaved,
# so a pair shares the host's phase), with the number of pairs and their range
pratio() {
	awk -v a="$1" -v b="$2" -v k="$3" '$2 != "runs=0" && ($1 == a || $1 == b) {
			for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) { v = substr($i, length(k) + 2); if ($1 == a) x[++na] = v; else y[++nb] = v } }
		END { n = na < nb ? na : nb; for (i = 1; i <= n; i++) if (x[i] > 0 && y[i] > 0) print x[i] / y[i] }' $R |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f (%d pairs, %.2f-%.2f)", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR, v[1], v[NR]; else printf "n/a" }'
}
# rng LABEL KEY: "min-max" of KEY= over LABEL's runs
rng() {
	awk -v l="$1" -v k="$2" '$1 == l && $2 != "runs=0" { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' $R |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%s-%s", v[1], v[NR]; else printf "n/a" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
sec() { awk -v a="$1" 'BEGIN { if (a > 0) printf "%.2f s", a / 1000; else print "?" }'; }
ms() { awk -v a="$1" 'BEGIN { if (a > 0) printf "%.0f ms", a; else print "?" }'; }
get() { sed -n "s/^$1 //p" $R | head -n 1; }
# the top N reasons of an exits line, and its total
exits() {
	local line
	line=$(get "exits-$1")
	[ -n "$line" ] || { echo "?"; return; }
	echo "$line" | tr ' ' '\n' | sed -n 's/^exits=//p' | tr '\n' ' '
	for k in pf_fixed insn_emulation irq_exits io_exits mmio_exits halt_exits irq_window_exits signal_exits; do
		echo "$line" | tr ' ' '\n' | grep "^$k=" || echo "$k=0"
	done | tr '\n' ' ' | sed 's/ $//; s/^/(/; s/$/)/'
}
crowd() {
	local line
	line=$(get "$1")
	[ -n "$line" ] || { echo "no result"; return; }
	echo "$line" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%d guests, %d failed (%s), all exited after %.1f s (median guest %.1f s), own memory summed: peaks %.1f MiB (largest %.0f KiB)",
			v["n"], v["failed"], v["failures"], v["all_exit_ms"] / 1000, v["median_exit_ms"] / 1000, v["own_kib_sum"] / 1024, v["own_kib_max"]
		if (v["sampled"] != "" && v["sampled"] < v["n"]) printf " (only %d guests lived long enough to be sampled)", v["sampled"]
		if (v["own_marker_kib_sum"] > 0) printf ", at /init %.1f MiB", v["own_marker_kib_sum"] / 1024 }'
}

where=${where:-$(get where)}
qsize=$(ls -lL /usr/bin/qemu-system-x86_64 | awk '{print $5}')
vs=$(med start-vmm exit_ms); v64=$(med start-vmm-64M exit_ms); vsn=$(med start-vmm-nosandbox exit_ms)
fl=$(med start-floor exit_ms); fli=$(med start-floor-irqchip exit_ms); flh=$(med start-floor-huge exit_ms); qs=$(med start-qemu exit_ms)
{
	echo "where: $where; $(get where)"
	echo "L1 $(get thp); vmm guest RAM: $(get vmm-backing)"
	echo "start-up, exec to exit, tiny guest (median of $START_RUNS, interleaved):"
	echo "  vmm $(ms "$vs") (256M; $(runs start-vmm 1)), vmm --memory 64M $(ms "$v64") ($(runs start-vmm-64M 1)), qemu microvm $(ms "$qs") ($(runs start-qemu 1))"
	echo "  bare-KVM floor (floor.c, 64 MiB) $(ms "$fl") ($(runs start-floor 0)), with KVM_CREATE_IRQCHIP $(ms "$fli"), with RAM on a huge=always tmpfs like vmm's $(ms "$flh")"
	echo "  vmm(64M)/floor = $(ratio "$v64" "$fl") (goal at most 1.2; per round $(pratio start-vmm-64M start-floor exit_ms)), vmm(256M)/floor = $(ratio "$vs" "$fl"), qemu/vmm = $(ratio "$qs" "$vs")"
	vd=$(med start-vmm-disk exit_ms); vdt=$(med start-vmm-disk-thread exit_ms)
	echo "  vmm with one --disk: in a device process $(ms "$vd") ($(runs start-vmm-disk 1)), in threads (--device-isolation thread) $(ms "$vdt") ($(runs start-vmm-disk-thread 1)); process/thread = $(ratio "$vd" "$vdt")"
	echo "  vmm -v, one run (ms since exec): $(get start-vmm-phases)"
	for k in bz pvh; do
		case $k in bz) n=bzImage ;; *) n="PVH vmlinux" ;; esac
		vw=$(med boot-$k-vmm exit_ms); qw=$(med boot-$k-qemu exit_ms)
		vu=$(med boot-$k-vmm uptime); qu=$(med boot-$k-qemu uptime)
		echo "boot $n, 1 vCPU, 256M, to /init and power-off (median of $BOOT_RUNS, interleaved; vmm $(runs boot-$k-vmm 0), qemu $(runs boot-$k-qemu 0)):"
		echo "  wall exec to exit: vmm $(sec "$vw"), qemu microvm,rtc=on $(sec "$qw"); vmm/qemu = $(ratio "$vw" "$qw"); per round $(pratio boot-$k-vmm boot-$k-qemu exit_ms)"
		echo "  L2 uptime at /init: vmm ${vu:-?} s, qemu ${qu:-?} s; vmm/qemu = $(ratio "$vu" "$qu"); per round $(pratio boot-$k-vmm boot-$k-qemu uptime)"
	done
	qdw=$(med boot-bz-qemu-default exit_ms); qdu=$(med boot-bz-qemu-default uptime)
	echo "boot bzImage under qemu -M microvm (defaults: PIT, PIC, RTC auto; median of $EXTRA_RUNS): wall $(sec "$qdw"), uptime ${qdu:-?} s ($(runs boot-bz-qemu-default 0)); vmm/that = $(ratio "$(med boot-bz-vmm exit_ms)" "$qdw") wall, $(ratio "$(med boot-bz-vmm uptime)" "$qdu") uptime"
	echo "sandbox cost (boot: median of $EXTRA_RUNS): start-up $(ms "$vs") with, $(ms "$vsn") without; bzImage boot wall $(sec "$(med boot-bz-vmm exit_ms)") with, $(sec "$(med boot-bz-vmm-nosandbox exit_ms)") without"
	echo "VM exits per boot (KVM debugfs in L1, one boot each, 1 s of idle L2 included):"
	for k in bz-vmm bz-qemu bz-qemu-memfd pvh-vmm pvh-qemu; do
		echo "  $k: $(exits $k)"
	done
	echo "vmm guest RAM (--stats): bzImage boot: $(get exits-bz-vmm-guestram:); PVH boot: $(get exits-pvh-vmm-guestram:)"
	echo "vmm --stats at exit (/proc/self/status): tiny guest:$(get mem-start-vmm:); Linux boot:$(get mem-boot-vmm:)"
	vo=$(med mem-bz-vmm own_kib); qo=$(med mem-bz-qemu own_kib)
	vl=$(med mem-bz-vmm own_marker_kib); ql=$(med mem-bz-qemu own_marker_kib)
	echo "own memory in a bzImage boot (resident memory less the guest RAM mapping, /proc/PID/smaps every 50 ms; binaries are in L1's initramfs, so their pages count):"
	echo "  peak (vmm's includes the kernel and initrd files, mapped while loading): vmm ${vo:-?} KiB, qemu ${qo:-?} KiB; qemu/vmm = $(ratio "$qo" "$vo")"
	echo "  when the guest reached /init (loading over): vmm ${vl:-?} KiB (goal at most 1536), qemu ${ql:-?} KiB; qemu/vmm = $(ratio "$ql" "$vl")"
	echo "density, $CROWD_TINY tiny guests (exit.elf, 64M each) started at once (own memory: resident less guest RAM, each guest's peak of samples every 200 ms, summed):"
	echo "  vmm: $(crowd crowd-tiny-vmm)"
	echo "  qemu: $(crowd crowd-tiny-qemu)"
	echo "density, $CROWD_LINUX Linux guests (bzImage, 1 vCPU, $CROWD_MEM each, power off at /init) started at once:"
	echo "  vmm: $(crowd crowd-linux-vmm)"
	echo "  qemu: $(crowd crowd-linux-qemu)"
	rv=$(med run-start-vmm exit_ms); rq=$(med run-start-qemu exit_ms)
	echo "vmm run ($RUN_RUNS rounds, interleaved; L2 1 vCPU, 256M; QEMU: -M microvm,pcie=on,rtc=on, vhost-user-fs-pci, virtiofsd -o cache=none, the initramfs vmm run builds (mkrun.c); checks, status 15 wanted: $(sed -n 's/^run-qemu-vfs-check //p' $R | awk '!seen[$0]++' | tr '\n' ';' | sed 's/;$//; s/;/; /g'))):"
	echo "  exec to exit of 'vmm run -- true' (default kernel, the cloud one): vmm $(ms "$rv") ($(rng run-start-vmm exit_ms) ms; $(runs run-start-vmm 0)), qemu microvm + virtiofsd $(ms "$rq") ($(rng run-start-qemu exit_ms) ms; $(runs run-start-qemu 1)); vmm/qemu = $(ratio "$rv" "$rq"); per round $(pratio run-start-vmm run-start-qemu exit_ms)"
	rm_=$(med run-start-qemu-q35 exit_ms)
	[ -n "$rm_" ] && echo "  the same under QEMU -M q35 (SeaBIOS): $(ms "$rm_") ($(rng run-start-qemu-q35 exit_ms) ms; $(runs run-start-qemu-q35 1)); vmm/that = $(ratio "$rv" "$rm_"); per round $(pratio run-start-vmm run-start-qemu-q35 exit_ms)"
	for d in write read; do
		case $d in write) how="dd bs=1M count=64 conv=fsync" ;; *) how="dd bs=1M after echo 3 >drop_caches" ;; esac
		iv=$(med run-io-vmm ${d}_mibs); iq=$(med run-io-qemu ${d}_mibs); ic=$(med run-io-vmm-cloud ${d}_mibs)
		echo "  64 MiB $d on the share ($how; L2 Debian's generic kernel, which has 9p): vmm run --rw (virtio-fs) ${iv:-?} MiB/s ($(rng run-io-vmm ${d}_mibs); $(runs run-io-vmm 0)), qemu -virtfs (virtio-9p-pci, 9p2000.L, msize 512 KiB) ${iq:-?} MiB/s ($(rng run-io-qemu ${d}_mibs); $(runs run-io-qemu 0)); vmm/qemu = $(ratio "$iv" "$iq"); per round $(pratio run-io-vmm run-io-qemu ${d}_mibs); vmm run with its default (cloud) kernel ${ic:-?} MiB/s ($(rng run-io-vmm-cloud ${d}_mibs))"
	done
	if grep -q '^systemd-' $R; then
		sv=$(med systemd-vmm exit_ms); sq=$(med systemd-qemu exit_ms); uv=$(med systemd-vmm uptime); uq=$(med systemd-qemu uptime)
		echo "systemd: Debian bookworm (minbase + systemd-sysv, udev) on virtio-blk, bzImage + busybox initramfs, 1 vCPU, 512M, to multi-user.target and power-off (median of $SYSTEMD_RUNS, interleaved; vmm $(runs systemd-vmm 0), qemu $(runs systemd-qemu 0)):"
		echo "  wall exec to exit: vmm $(sec "$sv"), qemu microvm,pcie=on,rtc=on $(sec "$sq"); vmm/qemu = $(ratio "$sv" "$sq"); per round $(pratio systemd-vmm systemd-qemu exit_ms)"
		echo "  guest uptime at SYSTEMD-READY (systemd's boot finished): vmm ${uv:-?} s, qemu ${uq:-?} s; vmm/qemu = $(ratio "$uv" "$uq"); per round $(pratio systemd-vmm systemd-qemu uptime)"
		for k in kernel initrd userspace; do
			case $k in kernel) n="kernel (uptime at the initramfs' /init)" ;; initrd) n="initramfs (to systemd's start)" ;;
				*) n="systemd (its start to the end of its boot job)" ;; esac
			kv=$(med systemd-vmm-split $k); kq=$(med systemd-qemu-split $k)
			echo "  $n: vmm ${kv:-?} s, qemu ${kq:-?} s; vmm/qemu = $(ratio "$kv" "$kq"); per round $(pratio systemd-vmm-split systemd-qemu-split $k)"
		done
		# power-off: from the SYSTEMD-READY line to the VMM's exit
		down() { awk -v l="$1" '$1 == l && $2 != "runs=0" { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			if (v["marker_seen"] > 0) print (v["exit_ms"] - v["marker_ms"]) / 1000 }' $R |
			sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; else printf "?" }'; }
		echo "  exec to SYSTEMD-READY: vmm $(sec "$(med systemd-vmm marker_ms)"), qemu $(sec "$(med systemd-qemu marker_ms)"); from there to exit (power-off): vmm $(down systemd-vmm), qemu $(down systemd-qemu)"
		# the slowest units: each unit's median over the rounds where it was among the 12 slowest (systemd-analyze blame), the 8 largest
		blame() { awk -v l="$1-blame" '$1 == l { for (i = 2; i <= NF; i++) { split($i, kv, "="); n[kv[1]]++; v[kv[1], n[kv[1]]] = kv[2] } }
			END { for (u in n) { c = n[u]; for (i = 1; i <= c; i++) a[i] = v[u, i] + 0
				for (i = 2; i <= c; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
				printf "%.3f %s\n", (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2, u } }' $R |
			sort -rg | head -n 8 | awk '{ printf "%s%s %.2f s", (NR > 1 ? ", " : ""), $2, $1 }'; }
		echo "  slowest units (systemd-analyze blame, each unit's median): vmm: $(blame systemd-vmm)"
		echo "    qemu: $(blame systemd-qemu)"
		f=$(sed -n 's/^systemd-\(vmm\|qemu\)-failed /\1: /p' $R | sort -u | tr '\n' ';')
		[ -n "$f" ] && echo "  failed units: $f"
		echo "  vmm --stats, first round: exits to userspace $(get systemd-vmm-stats); $(get systemd-vmm-stats-blk)"
		echo "  VM exits per boot (KVM debugfs in L1, one boot each): vmm $(exits systemd-vmm); qemu $(exits systemd-qemu)"
	fi
	echo "binary: vmm $(stat -c %s vmm) bytes (static), qemu-system-x86_64 ${qsize} bytes (+ $(ldd /usr/bin/qemu-system-x86_64 | wc -l) shared libraries)"
	echo "time: boot_l1.sh $(get time | sed 's/seconds=//') s in the last L1; L1 boots: $(get attempts) ($(grep -c '^attempt .* stalled' $R) stalled and were replaced$(sed -n 's/^attempt \([0-9]*\) stalled after: \([^ ]*\).*/; #\1 after \2/p' $R | tr -d '\n')); run.sh so far $(($(date +%s) - T_START)) s"
} | tee $B/results.txt

# virtio-blk (fio) and virtio-net (iperf3) against QEMU, in a level-1 Linux of their own.
[ "${BENCH_IO:-1}" = 1 ] && [ -z "$BENCH_REPORT_ONLY" ] && sh tests/bench/io.sh
exit 0
