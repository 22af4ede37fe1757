#!/bin/sh
# tests/nested/flaky_l1.sh: /test.sh in L1 for flaky.sh: the same L2 disk workload (blk_l2.sh blk=flaky:
# mkfs.ext4 and file writes on two virtio-blk disks at once) under vmm and under QEMU, alternately, RUNS times each.
# One line per run: FLAKY-RUN N SIDE PASS|FAIL seconds=S [what]; FLAKY-DETAIL N SIDE lines under a FAIL.
# shellcheck disable=SC3043 # local: busybox ash has it
export PATH=/bin:/usr/bin
FIRST=1
RUNS=20
RUN_TIMEOUT=150
VMM_MEM=256M
QEMU_MACHINE=q35
SIDES="vmm qemu"
L2_APPEND="console=ttyS0 quiet panic=-1"
WORK=flaky   # boot: L2 only boots, sees its disks and powers off
# shellcheck disable=SC1091 # written by flaky.sh
[ -f /flaky.env ] && . /flaky.env

now() { cut -d' ' -f1 /proc/uptime; }
# L1's own kernel messages that say L1 is in trouble (oops, BUG, stalls, lockups, KVM errors)
l1_trouble() { grep -aiE 'BUG:|Oops|WARNING:|stall|lockup|hung_task|blocked for more|general protection|segfault|kvm.*(error|fail)|svm.*(error|fail)|nested.*(error|fail)'; }

# one_run N SIDE: fresh images, one L2 boot under SIDE with a timeout, a FLAKY-RUN line.
one_run() {
	local n side log st t0 secs what
	n=$1; side=$2
	log=/tmp/run.log
	truncate -s 0 /tmp/a.img /tmp/b.img && truncate -s 96M /tmp/a.img /tmp/b.img
	dmesg -c >/dev/null 2>&1
	[ -n "$T" ] && : >$T/trace
	echo "FLAKY-START $n $side uptime=$(now)"
	# L2's console live on L1's (tail, not a pipe: nothing the VMM leaves behind holds the run up),
	# so an L1 that freezes shows how far L2 got
	: >$log
	(tail -f $log & echo $! >/tmp/tail.pid; wait) | tr -d '\r' | sed "s/^/L2[$n-$side]| /" &
	tp=$!
	t0=$(now)
	case $side in
	vmm)
		timeout -s KILL $((RUN_TIMEOUT + 20)) /vmm --kernel /l2/bzImage --initrd /l2/initrd.cpio \
			--append "$L2_APPEND blk=$WORK" --memory "$VMM_MEM" --disk /tmp/a.img,serial=a \
			--disk /tmp/b.img,serial=b --console stdio --stats --timeout "$RUN_TIMEOUT" </dev/null >$log 2>&1 ;;
	qemu)
		case $QEMU_MACHINE in
		microvm) set -- -M microvm,rtc=on -device virtio-blk-device,drive=a -device virtio-blk-device,drive=b ;;
		*) set -- -M "$QEMU_MACHINE" -device virtio-blk-pci,drive=a -device virtio-blk-pci,drive=b ;;
		esac
		# QEMU_MEMFD=1: guest RAM in a memfd like vmm's (4 KiB shmem pages in L1; QEMU's usual
		# anonymous RAM gets transparent huge pages there)
		[ "${QEMU_MEMFD:-0}" = 1 ] && set -- "$@" -object "memory-backend-memfd,id=ram,size=$VMM_MEM,share=on" \
			-machine memory-backend=ram
		# -d cpu_reset: a triple fault is a reset (with -no-reboot QEMU then exits 0), logged with the registers
		rm -f /tmp/qemu-d.log
		timeout -s KILL "$RUN_TIMEOUT" qemu-system-x86_64 -accel kvm -cpu host -m "$VMM_MEM" \
			-nodefaults -no-user-config -nographic -serial stdio -no-reboot "$@" \
			-device pvpanic -action panic=exit-failure -d cpu_reset -D /tmp/qemu-d.log \
			-drive if=none,id=a,file=/tmp/a.img,format=raw,cache=writeback \
			-drive if=none,id=b,file=/tmp/b.img,format=raw,cache=writeback \
			-kernel /l2/bzImage -initrd /l2/initrd.cpio -append "$L2_APPEND blk=$WORK" </dev/null >$log 2>&1 ;;
	esac
	st=$?
	sleep 1   # tail -f polls once a second
	kill "$(cat /tmp/tail.pid)"
	wait "$tp"
	secs=$(awk "BEGIN{printf \"%.1f\", $(now) - $t0}")
	tr -d '\r' <$log >$log.txt
	what=
	grep -q 'L2-INIT-REACHED' $log.txt || what="$what; L2 init not reached"
	grep -q '^L2-MODULES-FAILED=0' $log.txt || what="$what; L2 modules"
	l=$(sed -n 's/^L2-BLK-FLAKY=//p' $log.txt)
	[ "$WORK" = boot ] || [ "$l" = ok ] || what="$what; workload ${l:-did not finish}"
	grep -q '^L2-DONE' $log.txt || what="$what; no L2-DONE"
	[ "$st" = 0 ] || what="$what; exit $st"
	[ "$side" = qemu ] && [ "$st" = 0 ] && ! grep -q '^L2-DONE' $log.txt && what="$what; QEMU exited 0 without L2-DONE: the guest reset (triple fault?)"
	grep -q 'triple fault' $log.txt && what="$what; triple fault"
	grep -aqE 'Kernel panic|BUG:|Oops' $log.txt && what="$what; L2 kernel: $(grep -aE 'Kernel panic|BUG:|Oops' $log.txt | head -n 1)"
	if [ "$side" = qemu ] && [ -s /tmp/qemu-d.log ]; then
		# QEMU logs its start-up resets too: more than at a clean start means the guest reset itself
		r=$(grep -c 'CPU Reset' /tmp/qemu-d.log)
		[ "${QEMU_RESETS:-}" ] || QEMU_RESETS=$r   # the first run's count (a pass) is the baseline
		[ "$r" -gt "$QEMU_RESETS" ] && what="$what; guest reset ($r CPU resets logged, $QEMU_RESETS at a clean start)"
	fi
	dmesg >/tmp/dmesg.txt 2>/dev/null
	l1_trouble </tmp/dmesg.txt >/tmp/trouble.txt
	[ -s /tmp/trouble.txt ] && what="$what; L1 dmesg: $(head -n 1 /tmp/trouble.txt)"
	if [ -z "$what" ]; then
		echo "FLAKY-RUN $n $side PASS seconds=$secs workload=$(sed -n 's/^L2-BLK-FLAKY-SECONDS=//p' $log.txt)"
	else
		echo "FLAKY-RUN $n $side FAIL seconds=$secs ${what#; }"
		{
			grep -E '^vmm: |^  (rip|rax|rsi|cr0|cs) ' $log.txt
			[ "$side" = qemu ] && [ -s /tmp/qemu-d.log ] && grep -E '^(RAX|RSI|R8|R12|RIP|CR0|CS )' /tmp/qemu-d.log | tail -n 6
			echo "-- L2 console tail:"
			grep -vE '^  (rip|rax|rsi|cr0|cs) |^vmm: ' $log.txt | tail -n 15
			echo "-- L1 dmesg:"
			head -n 20 /tmp/trouble.txt
			[ -n "$T" ] && { echo "-- L1 KVM trace, last 40 events:"; grep -v '^#' $T/trace | tail -n 40; }
		} | sed "s/^/FLAKY-DETAIL $n $side /"
	fi
}

[ -c /dev/kvm ] || echo "FLAKY-NOTE no /dev/kvm in L1"
# L1 KVM's own record of each run (exits with their reason and L2's rip, injected events), cleared per
# run: a failed run shows the last of it (what L2 was doing before a triple fault, say)
T=/sys/kernel/tracing
if mount -t tracefs tracefs $T 2>/dev/null && [ -d $T/events/kvm ]; then
	echo 16384 >$T/buffer_size_kb
	for e in kvm_exit kvm_inj_exception kvm_inj_virq kvm_userspace_exit kvm_pio kvm_msr; do
		echo 1 >"$T/events/kvm/$e/enable" 2>/dev/null
	done
else
	T=
	echo "FLAKY-NOTE no KVM tracepoints in L1"
fi
n=$FIRST
while [ "$n" -le "$RUNS" ]; do
	# alternate which side goes first, so neither always runs on a fresher L1
	if [ $((n % 2)) = 1 ]; then order=$SIDES; else order=$(echo "$SIDES" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'); fi
	for s in $order; do one_run "$n" "$s"; done
	n=$((n + 1))
done
echo "FLAKY-END uptime=$(now)"
exit 0
