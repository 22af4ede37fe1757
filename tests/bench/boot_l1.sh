#!/bin/sh
# tests/bench/boot_l1.sh: start-up, boot, exit-count, memory and density rows of `make bench`, vmm against QEMU -M microvm.
# Usage: boot_l1.sh DIR   (DIR holds vmm, floor, stopwatch, crowd, exit.elf, bzImage, vmlinux, initrd.cpio;
#        for part run also run-true.cpio, run-9p.cpio, vmlinuz-9p, run_dd.sh, run_qemu_vfs.sh; for part systemd
#        systemd.img and systemd-initrd.cpio: see run.sh)
# Own memory is resident memory less the guest RAM mapping (stopwatch/crowd -g, /proc/PID/smaps).
# Runs as /test.sh in a level-1 Linux (DIR=/b), or on a host with real KVM. Every result line
# starts with "BENCH "; run.sh computes the medians and ratios. Rows of one kind run interleaved
# (vmm, QEMU, vmm, QEMU, ...), one stopwatch run each, so that a slow phase of the host hits both.
# Env (or DIR/bench.env): START_RUNS (20), BOOT_RUNS (7), EXTRA_RUNS (3: boots of the side rows), CROWD_TINY (100), CROWD_LINUX (8),
#   CROWD_MEM (256M, each Linux guest's RAM), RUN_RUNS (7), SYSTEMD_RUNS (3), PARTS ("start boot exits mem crowd run").
# shellcheck disable=SC3043,SC2317 # local: dash and busybox ash have it; part_* are called by name
export PATH="/bin:/usr/bin:$PATH"
D=${1:-/b}
START_RUNS=20
BOOT_RUNS=7
EXTRA_RUNS=3
CROWD_TINY=100
CROWD_LINUX=8
CROWD_MEM=256M
RUN_RUNS=7
SYSTEMD_RUNS=3
PARTS="start boot exits mem crowd run"
# what an earlier L1 (that stalled) finished already: run.sh sets these on a retry
START_DONE=0
BOOT_DONE=0
RUN_DONE=0
SYSTEMD_DONE=0
PARTS_DONE=
# shellcheck disable=SC1091 # written by run.sh
[ -f "$D/bench.env" ] && . "$D/bench.env"
# The guest powers off as soon as its /init has printed its uptime (tests/bench/boot_l2.sh).
APPEND="console=ttyS0 quiet panic=-1"
MARK=L2-INIT-REACHED
TMP=${TMPDIR:-/tmp}/bench.$$
mkdir -p "$TMP"

now() { cut -d' ' -f1 /proc/uptime; }
res() { echo "BENCH $*"; }
# sw LABEL SECS [stopwatch options] -- COMMAND...: one timed run, its line as a result
sw() {
	local l t
	l=$1; t=$2; shift 2
	timeout -s KILL $((t + 30)) "$D/stopwatch" -n 1 -l "$l" -t "$t" "$@" | sed 's/^/BENCH /'
}

# QEMU as the issue ran it: -M microvm,rtc=on -enable-kvm -cpu host -m 256, 1 vCPU, guest RAM
# anonymous (QEMU's default: it asks for transparent huge pages with MADV_HUGEPAGE).
QEMU="qemu-system-x86_64 -enable-kvm -cpu host -smp 1 -nodefaults -no-user-config -no-reboot"
QLINUX="$QEMU -m 256 -nographic -serial stdio"
res "where $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
thp() { sed 's/.*\[\(.*\)\].*/\1/' "/sys/kernel/mm/transparent_hugepage/$1" 2>/dev/null; }
res "thp enabled=$(thp enabled) shmem_enabled=$(thp shmem_enabled)"
res "vmm-backing $("$D/vmm" -v --kernel "$D/exit.elf" --debug-exit --console none 2>&1 | sed -n 's/.*guest RAM: //p' | head -n 1)"

# ---- start-up: a guest that exits at once (exit.elf), and the bare-KVM floor ----
part_start() {
	local i
	echo "bench: start-up, $START_RUNS rounds $(date)"
	dd if=/dev/zero of=/tmp/start-disk.img bs=1M count=1 2>/dev/null
	i=$START_DONE
	while [ "$i" -lt "$START_RUNS" ]; do
		sw start-vmm 30 -- "$D/vmm" --kernel "$D/exit.elf" --debug-exit --console none
		sw start-vmm-64M 30 -- "$D/vmm" --kernel "$D/exit.elf" --debug-exit --console none --memory 64M
		sw start-vmm-nosandbox 30 -- "$D/vmm" --kernel "$D/exit.elf" --debug-exit --console none --no-sandbox
		# one disk: served by a device process (the default: the spawner, the process, its
		# handshake and, at exit, its end) or by threads of vmm
		sw start-vmm-disk 30 -- "$D/vmm" --kernel "$D/exit.elf" --debug-exit --console none --disk /tmp/start-disk.img
		sw start-vmm-disk-thread 30 -- "$D/vmm" --kernel "$D/exit.elf" --debug-exit --console none \
			--disk /tmp/start-disk.img --device-isolation thread
		sw start-floor 30 -- "$D/floor" -m 64
		sw start-floor-irqchip 30 -- "$D/floor" -m 64 -i
		sw start-floor-huge 30 -- "$D/floor" -m 64 -H
		# shellcheck disable=SC2086 # words
		sw start-qemu 30 -- $QEMU -m 256M -object memory-backend-memfd,id=ram,size=256M \
			-M microvm,memory-backend=ram -display none -device isa-debug-exit,iobase=0xf4 -kernel "$D/exit.elf"
		i=$((i + 1))
		res "done start-round $i"
	done
	# where vmm's start-up goes (vmm -v), one warm run
	res "start-vmm-phases $("$D/vmm" -v --kernel "$D/exit.elf" --debug-exit --console none 2>&1 | sed -n 's/^vmm: \[ *\([0-9.]*\) ms\] \(.*\)/\1 \2;/p' | tr '\n' ' ')"
	# vmm's own report of its memory (/proc/self/status at exit)
	timeout -s KILL 60 "$D/vmm" --kernel "$D/exit.elf" --debug-exit --console none --stats 2>&1 |
		sed -n 's/^vmm: memory:/BENCH mem-start-vmm:/p'
}

# ---- boot: Linux to /init and power-off, bzImage and PVH, both VMMs, interleaved ----
part_boot() {
	local i
	echo "bench: boot, $BOOT_RUNS rounds $(date)"
	i=$BOOT_DONE
	while [ "$i" -lt "$BOOT_RUNS" ]; do
		sw boot-bz-vmm 300 -m "$MARK" -k uptime -- "$D/vmm" --kernel "$D/bzImage" --initrd "$D/initrd.cpio" \
			--append "$APPEND" --memory 256M --cpus 1 --timeout 300
		# shellcheck disable=SC2086 # words
		sw boot-bz-qemu 300 -m "$MARK" -k uptime -- $QLINUX -M microvm,rtc=on \
			-kernel "$D/bzImage" -initrd "$D/initrd.cpio" -append "$APPEND"
		sw boot-pvh-vmm 300 -m "$MARK" -k uptime -- "$D/vmm" --kernel "$D/vmlinux" --initrd "$D/initrd.cpio" \
			--append "$APPEND" --memory 256M --cpus 1 --timeout 300
		# shellcheck disable=SC2086 # words
		sw boot-pvh-qemu 300 -m "$MARK" -k uptime -- $QLINUX -M microvm,rtc=on \
			-kernel "$D/vmlinux" -initrd "$D/initrd.cpio" -append "$APPEND"
		i=$((i + 1))
		[ "$i" -le "$EXTRA_RUNS" ] || { res "done boot-round $i"; continue; }
		# QEMU's microvm defaults (PIT, PIC, RTC "auto"), bzImage only
		# shellcheck disable=SC2086 # words
		sw boot-bz-qemu-default 300 -m "$MARK" -k uptime -- $QLINUX -M microvm \
			-kernel "$D/bzImage" -initrd "$D/initrd.cpio" -append "$APPEND"
		sw boot-bz-vmm-nosandbox 300 -m "$MARK" -k uptime -- "$D/vmm" --kernel "$D/bzImage" --initrd "$D/initrd.cpio" \
			--append "$APPEND" --memory 256M --cpus 1 --timeout 300 --no-sandbox
		res "done boot-round $i"
	done
}

# kvm_watch STOPFILE OUT: every 0.2 s until STOPFILE exists, every non-zero counter of the one
# running VM (KVM debugfs, per-VM directory) as name=value into OUT. The counters vanish with the
# VM: the guest idles a second before it powers off (bench_idle=1) so the last sample has the boot.
kvm_watch() {
	local d f v all
	while [ ! -e "$1" ]; do
		for d in /sys/kernel/debug/kvm/*-*; do
			# (L1's kvm-hold VM has no vCPU: its exits stay 0)
			read -r v <"$d/exits" 2>/dev/null && [ "$v" -gt 0 ] || continue
			all=
			for f in "$d"/*; do
				read -r v <"$f" 2>/dev/null || continue
				case $v in *[!0-9]* | 0 | "") continue ;; esac
				all="$all ${f##*/}=$v"
			done
			[ -n "$all" ] && [ -e "$d/exits" ] && echo "$all" >"$2"
		done
		sleep 0.2
	done
}

# exits LABEL CMD...: one boot under CMD with KVM's counters sampled; "BENCH exits-LABEL name=value..."
exits_run() {
	local l w
	l=$1; shift
	rm -f "$TMP/stop" "$TMP/kvm"
	kvm_watch "$TMP/stop" "$TMP/kvm" &
	w=$!
	timeout -s KILL 330 "$@" </dev/null >"$TMP/exits-$l.log" 2>&1
	echo "BENCH exits-$l-status $?"
	touch "$TMP/stop"
	wait "$w"
	res "exits-$l$(cat "$TMP/kvm" 2>/dev/null)"
	tr -d '\r' <"$TMP/exits-$l.log" | sed -n "s/^vmm: guest RAM:/BENCH exits-$l-guestram:/p;s/^vmm: memory:/BENCH exits-$l-memory:/p"
}

part_exits() {
	echo "bench: exits $(date)"
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	[ -d /sys/kernel/debug/kvm ] || { res "exits-FAIL no /sys/kernel/debug/kvm"; return; }
	exits_run bz-vmm "$D/vmm" --kernel "$D/bzImage" --initrd "$D/initrd.cpio" --append "$APPEND bench_idle=1" \
		--memory 256M --cpus 1 --timeout 300 --stats
	# shellcheck disable=SC2086 # words
	exits_run bz-qemu $QLINUX -M microvm,rtc=on -kernel "$D/bzImage" -initrd "$D/initrd.cpio" -append "$APPEND bench_idle=1"
	# QEMU with its guest RAM in a memfd, as the old bench ran it (shmem: 4 KiB pages here)
	# shellcheck disable=SC2086 # words
	exits_run bz-qemu-memfd $QEMU -m 256M -object memory-backend-memfd,id=ram,size=256M -nographic -serial stdio \
		-M microvm,rtc=on,memory-backend=ram -kernel "$D/bzImage" -initrd "$D/initrd.cpio" -append "$APPEND bench_idle=1"
	exits_run pvh-vmm "$D/vmm" --kernel "$D/vmlinux" --initrd "$D/initrd.cpio" --append "$APPEND bench_idle=1" \
		--memory 256M --cpus 1 --timeout 300 --stats
	# shellcheck disable=SC2086 # words
	exits_run pvh-qemu $QLINUX -M microvm,rtc=on -kernel "$D/vmlinux" -initrd "$D/initrd.cpio" -append "$APPEND bench_idle=1"
}

# ---- memory: each VMM's own memory in one Linux boot: resident memory less the guest RAM
# mapping (stopwatch -g, from /proc/PID/smaps), so QEMU keeps its usual anonymous RAM ----
part_mem() {
	echo "bench: memory $(date)"
	sw mem-bz-vmm 300 -m "$MARK" -g 262144 -- "$D/vmm" --kernel "$D/bzImage" --initrd "$D/initrd.cpio" \
		--append "$APPEND" --memory 256M --cpus 1 --timeout 300
	timeout -s KILL 330 "$D/vmm" --kernel "$D/bzImage" --initrd "$D/initrd.cpio" --append "$APPEND" \
		--memory 256M --cpus 1 --timeout 300 --stats </dev/null 2>&1 | tr -d '\r' |
		sed -n 's/^vmm: memory:/BENCH mem-boot-vmm:/p;s/^vmm: guest RAM:/BENCH mem-boot-vmm-guestram:/p'
	# shellcheck disable=SC2086 # words
	sw mem-bz-qemu 300 -m "$MARK" -g 262144 -- $QLINUX -M microvm,rtc=on \
		-kernel "$D/bzImage" -initrd "$D/initrd.cpio" -append "$APPEND"
}

# ---- density: many guests started at the same time ----
part_crowd() {
	echo "bench: density $(date)"
	mkdir -p "$TMP/crowd"
	CROWD_KIB=$(($(echo "$CROWD_MEM" | tr -d M) * 1024))
	timeout -s KILL 1000 "$D/crowd" -n "$CROWD_TINY" -s 1 -i 200 -g 65536 -t 900 -l crowd-tiny-vmm -- \
		"$D/vmm" --kernel "$D/exit.elf" --debug-exit --console none --memory 64M | sed 's/^/BENCH /'
	# shellcheck disable=SC2086 # words
	timeout -s KILL 1000 "$D/crowd" -n "$CROWD_TINY" -s 1 -i 200 -g 65536 -t 900 -l crowd-tiny-qemu -- \
		$QEMU -m 64M -object memory-backend-memfd,id=ram,size=64M -M microvm,memory-backend=ram \
		-display none -device isa-debug-exit,iobase=0xf4 -kernel "$D/exit.elf" | sed 's/^/BENCH /'
	timeout -s KILL 1000 "$D/crowd" -n "$CROWD_LINUX" -m "$MARK" -o "$TMP/crowd" -i 200 -g "$CROWD_KIB" -t 900 -l crowd-linux-vmm -- \
		"$D/vmm" --kernel "$D/bzImage" --initrd "$D/initrd.cpio" --append "$APPEND" \
		--memory "$CROWD_MEM" --cpus 1 --timeout 900 | sed 's/^/BENCH /'
	# shellcheck disable=SC2086 # words
	timeout -s KILL 1000 "$D/crowd" -n "$CROWD_LINUX" -m "$MARK" -o "$TMP/crowd" -i 200 -g "$CROWD_KIB" -t 900 -l crowd-linux-qemu -- \
		$QEMU -m "$CROWD_MEM" -nographic -serial stdio -M microvm,rtc=on \
		-kernel "$D/bzImage" -initrd "$D/initrd.cpio" -append "$APPEND" | sed 's/^/BENCH /'
	# the first failed guest's last lines, if any
	for f in "$TMP"/crowd/*; do
		grep -q "$MARK" "$f" 2>/dev/null && continue
		[ -e "$f" ] || continue
		tail -n 5 "$f" | tr -d '\r' | sed "s|^|bench: ${f##*/}: |"
		break
	done
}

# ---- vmm run: `vmm run -- true` exec to exit against QEMU doing the same job (q35,
# vhost-user-fs-pci, virtiofsd, the same initramfs), and 64 MiB through the share: vmm run --rw
# (virtio-fs) against QEMU -virtfs (virtio-9p-pci), the same kernel (Debian's generic one: the
# cloud kernel has no 9p), the same dd (run_dd.sh) ----
# io_run LABEL CMD...: one L2 run of run_dd.sh; "BENCH LABEL runs=1 write_mibs=.. read_mibs=.. ... status=S killed=0"
io_run() {
	local l st line
	l=$1; shift
	timeout -s KILL 330 "$@" </dev/null >"$TMP/io.log" 2>&1
	st=$?
	# (SeaBIOS leaves escape sequences without a newline on QEMU's console: the line may not start with it)
	line=$(tr -d '\r' <"$TMP/io.log" | sed -n 's/.*\(RUN-DD.*\)/\1/p' | tail -n 1)
	case $line in
	"RUN-DD write_s="*)
		echo "$line" | awk -v l="$l" -v st="$st" '{ split($2, w, "="); split($3, r, "=")
			wm = (w[2] > 0) ? 64 / w[2] : -1; rm = (r[2] > 0) ? 64 / r[2] : -1
			printf "BENCH %s runs=1 write_mibs=%.1f read_mibs=%.1f write_s=%s read_s=%s status=%d killed=0\n", l, wm, rm, w[2], r[2], st }' ;;
	*)
		res "$l runs=0 status=$st killed=0 why=${line:-no-RUN-DD-line}"
		tr -d '\r' <"$TMP/io.log" | grep -v '^$' | tail -n 5 | sed "s|^|bench: $l: |" ;;
	esac
}

# qvfs_check MACHINE SANDBOX: one checked QEMU + virtiofsd run of run-check.cpio (status 15 wanted)
qvfs_check() {
	local st
	QVFS_MACHINE=$1 VFS_SANDBOX=$2 QVFS_LOG=$TMP/qvfs timeout -s KILL 300 sh "$D/run_qemu_vfs.sh" "$D/bzImage" "$D/run-check.cpio"
	st=$?
	res "run-qemu-vfs-check machine=$1 sandbox=$2 status=$st${QVFS_APPEND:+ append=$(echo "$QVFS_APPEND" | tr ' ' +)}"
	[ "$st" = 15 ] && return 0
	tr -d '\r' <"$TMP/qvfs.vfsd" 2>/dev/null | grep -v '^$' | tail -n 3 | sed "s|^|bench: qemu-vfs $1 $2 virtiofsd: |"
	tr -d '\r' <"$TMP/qvfs.com2" 2>/dev/null | grep -aE 'vmm run|panic|Attempted|RIP:|Code:|BUG|segfault|init\[|error|trap' | head -n 20 |
		sed "s|^|bench: qemu-vfs $1 $2 COM2: |"
	return 1
}

part_run() {
	local i sb q35
	echo "bench: vmm run, $RUN_RUNS rounds $(date)"
	export PATH="$D:$PATH"
	# the default kernel of vmm run: the running one's (the cloud kernel L1 boots; its modules are staged)
	mkdir -p /boot /tmp/run-rw /tmp/run-9p
	[ -e "/boot/vmlinuz-$(uname -r)" ] || ln -s "$D/bzImage" "/boot/vmlinuz-$(uname -r)"
	# QEMU runs with their consoles and virtiofsd's messages kept, running `sh -c 'exit 7'` from
	# run-check.cpio (QEMU then exits (7 << 1) | 1 = 15: the guest really ran the command; 1, what
	# `true` gives, is also what QEMU exits with when it fails): which virtiofsd sandbox works
	# (namespace pivots root, which L1's initramfs root does not allow), and does q35 work too
	for sb in namespace chroot; do
		qvfs_check microvm "$sb" && break
	done
	export VFS_SANDBOX="$sb"
	q35=0
	if qvfs_check q35 "$sb"; then q35=1; else
		# again with the kernel's messages and fatal signals on COM2
		QVFS_APPEND="loglevel=7 print-fatal-signals=1" qvfs_check q35 "$sb"
	fi
	i=$RUN_DONE
	while [ "$i" -lt "$RUN_RUNS" ]; do
		(cd / && sw run-start-vmm 120 -- "$D/vmm" run --timeout 120 -- true)
		sw run-start-qemu 120 -- sh "$D/run_qemu_vfs.sh" "$D/bzImage" "$D/run-true.cpio"
		[ "$q35" = 1 ] && sw run-start-qemu-q35 120 -- env QVFS_MACHINE=q35 sh "$D/run_qemu_vfs.sh" "$D/bzImage" "$D/run-true.cpio"
		io_run run-io-vmm "$D/vmm" run --timeout 300 --kernel "$D/vmlinuz-9p" --rw /tmp/run-rw -- sh "$D/run_dd.sh" /tmp/run-rw
		# shellcheck disable=SC2086 # words
		io_run run-io-qemu $QEMU -M q35 -m 256 -nographic -serial stdio \
			-virtfs local,path=/tmp/run-9p,mount_tag=t,security_model=none,id=p \
			-kernel "$D/vmlinuz-9p" -initrd "$D/run-9p.cpio" -append "console=ttyS0 quiet panic=-1"
		# vmm run's default kernel (the cloud one) too
		io_run run-io-vmm-cloud "$D/vmm" run --timeout 300 --rw /tmp/run-rw -- sh "$D/run_dd.sh" /tmp/run-rw
		i=$((i + 1))
		res "done run-round $i"
	done
}

# ---- systemd: a Debian bookworm root (minbase + systemd-sysv, udev) on a virtio-blk disk to multi-user.target and
# power-off, both VMMs, interleaved. Same kernel, initramfs (systemd_initrd.sh: virtio modules, mounts /dev/vda) and
# disk bytes: each run gets a fresh copy of systemd.img. The guest (systemd_ready.sh) prints SYSTEMD-READY once systemd
# has finished the boot, with systemd's own timestamps, the slowest units, and powers off. QEMU: microvm with PCIe
# (virtio-blk-pci: the cloud kernel's virtio_mmio has no command-line devices), as vmm's virtio is PCI too. ----
SD_MARK=SYSTEMD-READY
# sd_secs: systemd's time spans ("1min 2.345s", "8.944s", "345ms", "12us") in seconds
sd_secs() {
	awk '{ t = 0; for (i = 1; i <= NF; i++) { v = $i + 0; u = $i; sub(/^[0-9.]+/, "", u)
		if (u == "min") t += v * 60; else if (u == "s") t += v; else if (u == "ms") t += v / 1e3; else if (u == "us") t += v / 1e6 }
		printf "%.3f\n", t }'
}
# sd_run LABEL CMD...: one timed boot of a fresh copy of the image (/tmp/sd.img); the stopwatch line, then from the
# console: "LABEL-split kernel= initrd= userspace= ..." (kernel: uptime at the initramfs' /init; initrd: from there to
# systemd's start; userspace: systemd's start to the end of its boot job), the slowest units, failed units
sd_run() {
	local l log u n
	l=$1; shift
	log=$TMP/$l.log
	cp "$D/systemd.img" /tmp/sd.img || { res "$l runs=0 status=1 killed=0 why=no-image-copy"; return; }
	sync
	STOPWATCH_ECHO=1 sw "$l" 600 -m "$SD_MARK" -k uptime -- "$@" 2>"$log"
	tr -d '\r' <"$log" | awk -v l="$l" '
		{ sub(/.*SYSTEMD-/, "SYSTEMD-") }
		/^SYSTEMD-INITRD / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		/^SYSTEMD-READY / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } r = 1 }
		END { if (r && v["start"] != "")
			printf "BENCH %s-split runs=1 kernel=%.3f initrd=%.3f userspace=%.3f finish=%.3f state=%s\n", l, v["start"],
				v["userspace_start"] - v["start"], v["finish"] - v["userspace_start"], v["finish"], v["state"]
		else printf "BENCH %s-split runs=0\n", l }'
	u=$(tr -d '\r' <"$log" | sed -n 's/.*SYSTEMD-BLAME //p' | while read -r t; do
		n=${t##* }; echo "$n=$(echo "${t% *}" | sd_secs)"
	done | tr '\n' ' ')
	res "$l-blame $u"
	tr -d '\r' <"$log" | sed -n 's/.*SYSTEMD-FAILED \([^ ]*\).*/\1/p' | tr '\n' ' ' | sed -n "s/^\(..*\)/BENCH $l-failed \1/p"
	tr -d '\r' <"$log" | sed -n "s/^vmm: exits to userspace: /BENCH $l-stats /p; s/^\(virtio-blk.*\)/BENCH $l-stats-blk \1/p" | tr -d ','
	grep -q "$SD_MARK" "$log" || tr -d '\r' <"$log" | grep -v '^$' | tail -n 8 | sed "s|^|bench: $l: |"
}

part_systemd() {
	local i
	echo "bench: systemd, $SYSTEMD_RUNS rounds $(date)"
	[ -s "$D/systemd.img" ] || { res "systemd-FAIL no $D/systemd.img"; return; }
	i=$SYSTEMD_DONE
	while [ "$i" -lt "$SYSTEMD_RUNS" ]; do
		sd_run systemd-vmm "$D/vmm" --kernel "$D/bzImage" --initrd "$D/systemd-initrd.cpio" --append "$APPEND" \
			--memory 512M --cpus 1 --disk /tmp/sd.img --timeout 600 --stats
		# shellcheck disable=SC2086 # words
		sd_run systemd-qemu $QEMU -m 512 -nographic -serial stdio -M microvm,pcie=on,rtc=on \
			-kernel "$D/bzImage" -initrd "$D/systemd-initrd.cpio" -append "$APPEND" \
			-drive file=/tmp/sd.img,if=none,id=d,format=raw -device virtio-blk-pci,drive=d
		i=$((i + 1))
		res "done systemd-round $i"
	done
	# VM exits by reason, one boot each (KVM debugfs sampled every 0.2 s: the last 0.2 s before the VM ends are missed)
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	[ -d /sys/kernel/debug/kvm ] || return 0
	cp "$D/systemd.img" /tmp/sd.img && exits_run systemd-vmm "$D/vmm" --kernel "$D/bzImage" --initrd "$D/systemd-initrd.cpio" \
		--append "$APPEND" --memory 512M --cpus 1 --disk /tmp/sd.img --timeout 600
	# shellcheck disable=SC2086 # words
	cp "$D/systemd.img" /tmp/sd.img && exits_run systemd-qemu $QEMU -m 512 -nographic -serial stdio -M microvm,pcie=on,rtc=on \
		-kernel "$D/bzImage" -initrd "$D/systemd-initrd.cpio" -append "$APPEND" \
		-drive file=/tmp/sd.img,if=none,id=d,format=raw -device virtio-blk-pci,drive=d
	rm -f /tmp/sd.img
}

# L1's kernel messages on the console (a stall in L1 shows up in the log)
[ "$D" = /b ] && echo 7 >/proc/sys/kernel/printk
t0=$(now)
for p in $PARTS; do
	case " $PARTS_DONE " in *" $p "*) continue ;; esac
	"part_$p"
	res "done part $p"
done
res "time seconds=$(awk "BEGIN{print int($(now) - $t0)}")"
rm -rf "$TMP"
exit 0
