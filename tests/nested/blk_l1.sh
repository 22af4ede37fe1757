#!/bin/sh
# tests/nested/blk_l1.sh: /test.sh in L1 for nested-blk-*: bad --disk inputs, then three L2 runs (ro, main, flush) checked from L1, the host of L2.
# shellcheck disable=SC2317,SC2034,SC3043 # eval'd names; local: busybox ash has it
VMM_MEM=512M
VMM_TIMEOUT=300
FIO_SIZE=32M
L2_APPEND="console=ttyS0 quiet panic=-1"
# shellcheck disable=SC1091 # written by blk.sh: also SUM_F1..3, the expected sha256 of the files
[ -f /nested.env ] && . /nested.env
E2FSCK=/usr/sbin/e2fsck
DEBUGFS=/usr/sbin/debugfs
NAMES="inputs order ro mkfs discard fio zeroes exits flush"

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk "BEGIN{print $(now) - $1}"; }
note() { local t; t=$1; shift; echo "NESTED-NOTE nested-blk-$t: $*"; }
# fail TEST REASON: reasons accumulate in $why_TEST.
fail() { local t; t=$1; shift; eval "why_$t=\"\${why_$t}; \$*\""; }
sum() { sha256sum "$@" | cut -d' ' -f1; }
blocks() { echo $(($(stat -c '%b * %B' "$1"))); }   # bytes allocated
MiB() { awk "BEGIN{printf \"%.1f MiB\", $1 / 1048576}"; }

# ---- one vmm run in the background, its console live in L1's log ----

# vmm_start NAME INITRD APPEND [vmm args]: /tmp/NAME.log, vmm's pid in /tmp/NAME.pid, status in /tmp/NAME.status.
vmm_start() {
	name=$1; initrd=$2; app=$3; shift 3
	rm -f "/tmp/$name.status" "/tmp/$name.pid"
	: >"/tmp/$name.log"
	T0=$(now)
	echo "NESTED-START $name uptime=$T0"
	# busybox timeout execs the program in its own pid: the pid file names vmm itself
	{
		sh -c 'echo $$ >"$0"; exec "$@"' "/tmp/$name.pid" timeout -s KILL $((VMM_TIMEOUT + 30)) \
			/vmm --kernel /l2/bzImage --initrd "$initrd" --append "$L2_APPEND $app" \
			--memory "$VMM_MEM" --console stdio --timeout "$VMM_TIMEOUT" --stats "$@" </dev/null
		echo $? >"/tmp/$name.status"
	} 2>&1 | tee "/tmp/$name.log" | tr -d '\r' | sed "s/^/L2[$name]| /" &
	PIPE=$!
}

# wait_marker NAME REGEX: 0 once the log has a line matching, 1 if vmm ended first.
wait_marker() {
	while :; do
		tr -d '\r' <"/tmp/$1.log" | grep -qE "$2" && return 0
		[ -s "/tmp/$1.status" ] && ! tr -d '\r' <"/tmp/$1.log" | grep -qE "$2" && return 1
		sleep 0.1
	done
}

# vmm_end NAME: wait for the run; status in $st.
vmm_end() {
	wait "$PIPE"
	st=$(cat "/tmp/$1.status" 2>/dev/null)
	echo "NESTED-TIME $1 exit=$st seconds=$(since "$T0")"
}

log() { tr -d '\r' <"/tmp/$1.log"; }
# val RUN KEY: the value after KEY= on L2's marker lines.
val() { log "$1" | sed -n "s/^$2=//p" | tail -n 1; }
has() { log "$1" | grep -qE "$2"; }
mmio() { log "$1" | sed -n 's/.*exits to userspace:.* mmio \([0-9]*\),.*/\1/p' | tail -n 1; }
reqs() { log "$1" | sed -n 's/^virtio-blk .*: requests \([0-9]*\),.*/\1/p' | awk '{ s += $1 } END { print s + 0 }'; }

# check_dev RUN DEV SIZE SERIAL RO: L2's view of one disk.
check_dev() {
	l=$(log "$1" | grep "^L2-BLK-DEV $2 ")
	case $l in
	*" size=$3 serial=$4 ro=$5 "*) ;;
	"") fail order "$1: no $2 in L2" ;;
	*) fail order "$1: want $2 size=$3 serial=$4 ro=$5, L2 has '${l#L2-BLK-DEV }'" ;;
	esac
}

# A run must have reached L2's init, loaded the modules and (except flush) powered off.
check_run() {
	if ! has "$1" L2-INIT-REACHED; then
		for t in $2; do fail "$t" "$1 run: L2 init not reached (vmm exit $st)"; done
		return 1
	fi
	[ "$(val "$1" L2-MODULES-FAILED)" = 0 ] || fail order "$1: L2 modules failed to load"
	log "$1" | sed -n 's/^L2-KERN-WARN: /kernel: /p' | head -n 3 | while read -r l; do note order "$1: $l"; done
	return 0
}

# ---- bad inputs: vmm must refuse them with one line and exit 2, before booting anything ----
VMM=/vmm
KERNEL=/l2/bzImage
INPUTS_TEST=inputs
# shellcheck source=tests/nested/blk_inputs.sh
. /blk/inputs.sh

t_inputs() {
	inputs_all /tmp/inputs
	[ -n "$LOOP" ] && bad_input mounted-block-device '/dev/loop0.* in use' --disk /dev/loop0
}

# second_vmm NAME PATH [,ro]: while a vmm holds PATH, a second vmm must refuse it.
second_vmm() {
	bad_input "second-vmm-$1" "$2.* in use" --disk "$2$3"
}

# ---- run 1: vda=a (rw), vdb=r (ro); little I/O: the exit-count baseline ----
run_ro() {
	vmm_start ro /l2/initrd.cpio blk=ro --disk /tmp/a.img,serial=blk-a --disk /tmp/r.img,ro,serial=blk-ro
	if wait_marker ro "^L2-INIT-REACHED"; then second_vmm rw-on-ro-held /tmp/r.img; fi
	vmm_end ro
	[ "$st" = 0 ] || fail ro "ro run: vmm exit $st"
	check_run ro "order ro exits" || return
	check_dev ro vda $((A_MB * 2048)) blk-a 0
	check_dev ro vdb 8192 blk-ro 1
	[ "$(val ro L2-BLK-RO-SUM)" = "$SUM_F2" ] || fail ro "L2 read the ro disk wrong (sha256 $(val ro L2-BLK-RO-SUM))"
	case $(val ro L2-BLK-RO-WRITE) in fail*) ;; *) fail ro "a write to the ro disk succeeded" ;; esac
	case $(val ro L2-BLK-RO-DISCARD) in fail*) ;; *) fail ro "a discard on the ro disk succeeded" ;; esac
	[ "$(sum /tmp/r.img)" = "$SUM_F2" ] || fail ro "the ro image changed"
	# feature bit 5 (RO) on exactly one device, 13 (DISCARD) on the other
	f=$(log ro | sed -n 's/^L2-BLK-FEATURES [^=]*=//p')
	[ "$(echo "$f" | cut -c6 | sort | tr -d '\n')" = 01 ] || fail ro "RO feature bits: $(echo "$f" | tr '\n' ' ')"
	[ "$(echo "$f" | cut -c14 | sort | tr -d '\n')" = 01 ] || fail ro "DISCARD feature bits: $(echo "$f" | tr '\n' ' ')"
	[ "$(val ro L2-BLK-SMALL-IO)" = ok ] || fail exits "ro run: the 10 MiB read failed"
	has ro "^L2-DONE" || fail ro "L2 did not finish"
	BASE_MMIO=$(mmio ro); BASE_REQ=$(reqs ro)
}

# ---- run 2: vda=a (ext4, discard), vdb=b (fio); a second vmm on a.img; lots of I/O ----
run_main() {
	vmm_start main /l2/initrd-fio.cpio blk=main --disk /tmp/a.img,serial=blk-a --disk /tmp/b.img,serial=blk-b
	if wait_marker main "^L2-INIT-REACHED"; then
		second_vmm rw /tmp/a.img
		second_vmm ro-on-rw-held /tmp/a.img ,ro
	fi
	if wait_marker main "^L2-BLK-DISCARD-WRITTEN"; then DISC_BEFORE=$(blocks /tmp/a.img); fi
	vmm_end main
	[ "$st" = 0 ] || fail mkfs "main run: vmm exit $st"
	check_run main "order mkfs discard fio zeroes exits" || return
	check_dev main vda $((A_MB * 2048)) blk-a 0
	check_dev main vdb $((B_MB * 2048)) blk-b 0
	has main "^L2-DONE" || fail mkfs "L2 did not finish"
	check_mkfs
	check_discard
	check_fio
	check_zeroes
	check_exits
}

check_mkfs() {
	[ "$(val main L2-BLK-MKFS)" = ok ] || fail mkfs "mkfs.ext4 in L2: $(val main L2-BLK-MKFS)"
	$E2FSCK -fn /tmp/a.img >/tmp/fsck.log 2>&1 || fail mkfs "e2fsck -fn in L1: exit $?: $(tail -n 2 /tmp/fsck.log | tr '\n' ' ')"
	for f in 1 2 3; do
		want=; eval "want=\$SUM_F$f"
		[ "$(val main "L2-BLK-SUM-f$f")" = "$want" ] || fail mkfs "f$f: L2's sha256 differs"
		rm -f "/tmp/f$f"
		$DEBUGFS -R "dump /f$f /tmp/f$f" /tmp/a.img >/dev/null 2>&1
		[ "$(sum "/tmp/f$f" 2>/dev/null)" = "$want" ] || fail mkfs "f$f: debugfs dump in L1 differs"
	done
	note mkfs "mkfs+files+remount in L2: $(val main L2-BLK-MKFS-SECONDS) s"
}

check_discard() {
	after=$(blocks /tmp/a.img)
	note discard "a.img allocated: $(MiB "${DISC_BEFORE:-0}") with the 64 MiB file, $(MiB "$after") after fstrim; $(log main | sed -n 's/^L2-BLK-FSTRIM: //p' | head -n 1)"
	[ "$(val main L2-BLK-FSTRIM)" = 0 ] || fail discard "fstrim in L2 failed"
	if [ -z "$DISC_BEFORE" ]; then
		fail discard "no L2-BLK-DISCARD-WRITTEN marker"
	elif [ "$DISC_BEFORE" -lt $((64 << 20)) ]; then
		fail discard "only $(MiB "$DISC_BEFORE") allocated after writing 64 MiB (measured too late?)"
	elif [ $((DISC_BEFORE - after)) -lt $((48 << 20)) ]; then
		fail discard "allocated blocks shrank by only $(MiB $((DISC_BEFORE - after)))"
	fi
}

check_fio() {
	[ "$(val main L2-BLK-FIO)" = 0 ] || fail fio "fio exit $(val main L2-BLK-FIO)"
	log main | sed -n 's/^L2-BLK-FIO: //p' | grep -E 'IOPS|err=|verify' | head -n 3 | while read -r l; do note fio "$l"; done
	note fio "fio $FIO_SIZE randwrite (4-16 KiB blocks)+verify: $(val main L2-BLK-FIO-SECONDS) s"
}

# After fio on vdb: [0,8M) zeroed, [8M,16M) zeroed and unmapped (a hole in b.img), [16M,32M) as fio left it.
check_zeroes() {
	z=$(head -c 16777216 /dev/zero | sum)
	[ "$(val main L2-BLK-ZERO-MAX)" -gt 0 ] 2>/dev/null || fail zeroes "L2 sees no WRITE_ZEROES support"
	[ "$(val main L2-BLK-ZERO-Z)" = ok ] || fail zeroes "fallocate -z in L2: $(val main L2-BLK-ZERO-Z)"
	[ "$(val main L2-BLK-ZERO-P)" = ok ] || fail zeroes "fallocate -p in L2: $(val main L2-BLK-ZERO-P)"
	[ "$(val main L2-BLK-ZERO-SUM)" = "$z" ] || fail zeroes "L2 reads back non-zero data"
	[ "$(head -c 16777216 /tmp/b.img | sum)" = "$z" ] || fail zeroes "b.img [0,16M) is not zero"
	[ "$(dd if=/tmp/b.img bs=1M skip=16 count=16 2>/dev/null | sum)" = "$(val main L2-BLK-KEEP-SUM)" ] ||
		fail zeroes "b.img [16M,32M) changed"
	a=$(blocks /tmp/b.img)
	note zeroes "b.img allocated after fio $FIO_SIZE and 8 MiB unmapped: $(MiB "$a")"
	[ "$a" -le $(((${FIO_SIZE%M} - 4) << 20)) ] || fail zeroes "WRITE_ZEROES with unmap left b.img with $(MiB "$a") allocated"
}

# Queue notifications by ioeventfd, interrupts by irqfd: MMIO exits do not grow with the I/O.
check_exits() {
	m=$(mmio main); r=$(reqs main)
	log main | grep "^virtio-blk " | while read -r l; do note exits "$l"; done
	note exits "MMIO exits ${BASE_MMIO:-?} -> ${m:-?} while virtio-blk requests ${BASE_REQ:-?} -> ${r:-?}"
	log ro | grep "^virtio-blk " | while read -r l; do note exits "ro run: $l"; done
	for v in 0 1; do
		has main "^L2-BLK-IRQ: .*MSI.*virtio$v-req" || fail exits "no MSI-X request interrupt for virtio$v in L2's /proc/interrupts"
	done
	{ log ro; log main; } | grep "^virtio-blk " | grep -v "(0 via MMIO exits)" >/tmp/kicks
	[ -s /tmp/kicks ] && fail exits "notifications took MMIO exits: $(head -n 1 /tmp/kicks)"
	if [ -z "$m" ] || [ -z "$BASE_MMIO" ] || [ -z "$r" ] || [ -z "$BASE_REQ" ]; then
		fail exits "no exit counts in --stats"
	elif [ $((r - BASE_REQ)) -lt 1000 ]; then
		fail exits "only $((r - BASE_REQ)) more requests than the baseline"
	elif [ $((m - BASE_MMIO)) -gt $((50 + BASE_MMIO / 20)) ]; then
		fail exits "MMIO exits grew by $((m - BASE_MMIO)) for $((r - BASE_REQ)) more requests"
	fi
}

# ---- run 3: written, fsync'd, then SIGKILL on L2's marker: the data is in the images ----
# vda: an image on ext4 with ,direct (tmpfs without loop); vdb: the block device /dev/loop1.
run_flush() {
	if [ -n "$LOOP" ]; then
		vmm_start flush /l2/initrd.cpio "blk=flush blk_vdb=1" --disk "$F_IMG,direct,serial=blk-f" \
			--disk /dev/loop1,serial=blk-dev
		if wait_marker flush "^L2-INIT-REACHED"; then second_vmm block-device /dev/loop1; fi
	else
		vmm_start flush /l2/initrd.cpio blk=flush --disk "$F_IMG,serial=blk-f"
	fi
	if wait_marker flush "^L2-BLK-FSYNCED"; then
		kill -9 "$(cat /tmp/flush.pid)"
		note flush "SIGKILL $(since "$T0") s after start"
	else
		fail flush "no L2-BLK-FSYNCED marker: $(log flush | grep -E '^L2-BLK-(FSYNC|ERR)' | head -n 2 | tr '\n' ' ')"
	fi
	vmm_end flush
	check_run flush "flush" || return
	[ "$st" = 137 ] || fail flush "vmm exit $st (want 137: SIGKILL)"
	# FLUSH (bit 9) offered, so the guest keeps a write-back cache and sends flushes
	log flush | grep -q "^L2-BLK-DEV vda .* cache=write_back" || fail flush "L2 does not see a write-back cache"
	[ "$(dd if="$F_IMG" bs=1M skip=1 count=4 2>/dev/null | sum)" = "$SUM_F2" ] ||
		fail flush "the fsync'd 4 MiB at 1 MiB are not in $F_IMG"
	if [ -n "$LOOP" ]; then
		check_dev flush vdb 32768 blk-dev 0
		[ "$(dd if=/dev/loop1 bs=1M count=4 2>/dev/null | sum)" = "$SUM_F2" ] ||
			fail flush "the fsync'd 4 MiB are not on /dev/loop1"
	fi
	# size not a multiple of 512 (documented): a warning, the tail invisible and untouched
	check_dev flush vda 65536 blk-f 0
	has flush "warning: $F_IMG: .*not a multiple of 512.* 100 bytes" ||
		fail inputs "no warning for an image size not a multiple of 512"
	[ "$(stat -c %s "$F_IMG")" = $((32 * 1048576 + 100)) ] || fail inputs "$F_IMG changed size"
	[ "$(tail -c 100 "$F_IMG" | tr -d T | wc -c)" = 0 ] || fail inputs "the 100 bytes past the last sector changed"
	[ "$(dd if="$F_IMG" bs=512 skip=65535 count=1 2>/dev/null | sum)" = "$(head -c 512 /data | sum)" ] ||
		fail flush "the last visible sector was not written"
}

# /dev/loop0 holds an ext4 on /ext (O_DIRECT works there), /dev/loop1 is a 16 MiB disk. LOOP=1 if all went well.
setup_loop() {
	ln -sf /proc/mounts /etc/mtab
	insmod /blk/loop.ko 2>/dev/null   # fails if built in, or if blk.sh found no module
	i=0
	while [ ! -b /dev/loop1 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
	truncate -s 64M /tmp/ext.img && truncate -s 16M /tmp/dev.img &&
		losetup /dev/loop0 /tmp/ext.img && losetup /dev/loop1 /tmp/dev.img &&
		/usr/sbin/mkfs.ext4 -q -F /dev/loop0 >/tmp/mkfs.log 2>&1 && mkdir -p /ext && mount -t ext4 /dev/loop0 /ext &&
		LOOP=1
	if [ -n "$LOOP" ]; then
		F_IMG=/ext/f.img
	else
		F_IMG=/tmp/f.img
		note flush "no loop devices in L1 ($(head -n 1 /tmp/mkfs.log 2>/dev/null)): flush on tmpfs without ,direct or a block device"
	fi
	truncate -s 32M "$F_IMG" && printf '%100s' '' | tr ' ' T >>"$F_IMG"
}

verdicts() {
	failed=0
	for n in $NAMES; do
		eval "w=\${why_$n}"
		if [ -z "$w" ]; then
			echo "NESTED-RESULT PASS nested-blk-$n"
		else
			echo "NESTED-RESULT FAIL nested-blk-$n: ${w#; }"
			failed=$((failed + 1))
		fi
	done
}

A_MB=192; B_MB=64
truncate -s ${A_MB}M /tmp/a.img
truncate -s ${B_MB}M /tmp/b.img
cp /data /tmp/r.img
LOOP=
setup_loop
t=$(now); t_inputs; echo "NESTED-TIME inputs seconds=$(since "$t")"
run_ro
run_main
run_flush
verdicts
exit "$failed"
