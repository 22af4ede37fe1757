#!/bin/sh
# tests/bench/run.sh: `make bench`: vmm against QEMU (-M microvm) in one run, on the same inputs.
# Start-up (exec to exit of a guest that exits at once), boot to init, peak memory, binary size.
# Where the host has no /dev/kvm, both run inside one level-1 QEMU/TCG with nested SVM.
# Results go to stdout and to build/bench/results.txt; BENCHMARKS.md quotes them.
cd "$(dirname "$0")/../.." || exit 2
. tests/nested/lib.sh
why=$(nested_check) || { echo "bench: $why" >&2; exit 2; }
B=build/bench
mkdir -p $B
musl-gcc -O2 -static -o $B/stopwatch tests/bench/stopwatch.c || exit 2
gcc -c tests/bench/exit.S -o $B/exit.o && ld -T tests/bench/exit.ld -static -nostdlib $B/exit.o -o $B/exit.elf || exit 2
l2_images >/dev/null || exit 2
START_RUNS=${START_RUNS:-20}
BOOT_RUNS=${BOOT_RUNS:-3}

# The script both sides run, on whichever /dev/kvm there is. QEMU's guest RAM is a memfd
# too, so "shmem" is guest RAM and "own" (RssAnon+RssFile) is the VMM's own memory.
cat > $B/bench.sh <<EOF
#!/bin/sh
D=\${1:-.}
[ -n "$STOPWATCH_ECHO" ] && export STOPWATCH_ECHO=1
Q="/usr/bin/qemu-system-x86_64 -accel kvm -cpu host -m 256M -nodefaults -no-user-config -no-reboot
   -object memory-backend-memfd,id=ram,size=256M"
APPEND="console=ttyS0 quiet panic=-1 test=boot"
timeout -s KILL 1200 \$D/stopwatch -n $START_RUNS -l start-vmm -t 30 -- \$D/vmm --kernel \$D/exit.elf --debug-exit --console none
timeout -s KILL 1200 \$D/stopwatch -n $START_RUNS -l start-vmm-nosandbox -t 30 -- \$D/vmm --kernel \$D/exit.elf --debug-exit --console none --no-sandbox
timeout -s KILL 1200 \$D/stopwatch -n $START_RUNS -l start-qemu -t 30 -- \$Q -M microvm,memory-backend=ram -display none \
	-device isa-debug-exit,iobase=0xf4 -kernel \$D/exit.elf
timeout -s KILL 1200 \$D/stopwatch -n $BOOT_RUNS -m L2-INIT-REACHED -l boot-vmm -t 300 -- \$D/vmm --kernel \$D/bzImage \
	--initrd \$D/initrd.cpio --append "\$APPEND" --timeout 300
timeout -s KILL 1200 \$D/stopwatch -n $BOOT_RUNS -m L2-INIT-REACHED -l boot-vmm-nosandbox -t 300 -- \$D/vmm --kernel \$D/bzImage \
	--initrd \$D/initrd.cpio --append "\$APPEND" --timeout 300 --no-sandbox
# vmm's own report of its memory (/proc/self/status at exit), one run each
timeout -s KILL 60 \$D/vmm --kernel \$D/exit.elf --debug-exit --console none --stats 2>&1 | sed -n 's/^vmm: memory:/mem-start-vmm:/p'
timeout -s KILL 300 \$D/vmm --kernel \$D/bzImage --initrd \$D/initrd.cpio --append "\$APPEND" --timeout 300 \
	--stats </dev/null 2>&1 | tr -d '\r' | sed -n 's/^vmm: memory:/mem-boot-vmm:/p'
timeout -s KILL 1200 \$D/stopwatch -n $BOOT_RUNS -m L2-INIT-REACHED -l boot-qemu-microvm-rtc -t 300 -- \$Q \
	-M microvm,rtc=on,memory-backend=ram -nographic -serial stdio \
	-kernel \$D/bzImage -initrd \$D/initrd.cpio -append "\$APPEND"
EOF
chmod +x $B/bench.sh

if [ -w /dev/kvm ] && [ -z "$BENCH_NESTED" ]; then
	where="this host's /dev/kvm"
	cp "$L2_BZIMAGE" $B/bzImage; cp "$L2_INITRD" $B/initrd.cpio; cp vmm $B/vmm
	$B/bench.sh $B | tee $B/raw.txt
else
	where="inside a level-1 Linux (QEMU/TCG, nested SVM)"
	# QEMU in L1: the binary, its shared libraries and the firmware microvm loads.
	set -- vmm:/b/vmm $B/stopwatch:/b/stopwatch $B/exit.elf:/b/exit.elf $B/bench.sh:/b/bench.sh \
		"$L2_BZIMAGE:/b/bzImage" "$L2_INITRD:/b/initrd.cpio"
	set -- "$@" $(tool_files /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-x86_64)
	for fw in bios-microvm.bin qboot.rom pvh.bin linuxboot_dma.bin; do
		[ -e /usr/share/qemu/$fw ] && set -- "$@" "$(readlink -f /usr/share/qemu/$fw):/usr/share/qemu/$fw"
	done
	printf '#!/bin/sh\n/b/bench.sh /b\n' > $B/test.sh; chmod +x $B/test.sh
	l1_initramfs $B/l1.cpio "$@" $B/test.sh:/test.sh || exit 2
	L1_LOG=$B/l1.log l1_run -m 2048 -t 1800 $B/l1.cpio > /dev/null
	tr -d '\r' < $B/l1.log | grep -E '^(start|boot|mem)-' | tee $B/raw.txt
fi

# Ratios and sizes.
val() { sed -n "s/^$1 .* $2=\([0-9.-]*\).*/\1/p" $B/raw.txt; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
vs=$(val start-vmm exit_ms); qs=$(val start-qemu exit_ms)
vb=$(val boot-vmm marker_ms); qb=$(val boot-qemu-microvm-rtc marker_ms)
vsn=$(val start-vmm-nosandbox exit_ms); vbn=$(val boot-vmm-nosandbox marker_ms)
vo=$(val start-vmm own_kib); qo=$(val start-qemu own_kib)
vbo=$(val boot-vmm own_kib); qbo=$(val boot-qemu-microvm-rtc own_kib)
qsize=$(ls -lL /usr/bin/qemu-system-x86_64 | awk '{print $5}')
{
	echo "where: $where"
	echo "start-up, exec to exit (median of $START_RUNS): vmm ${vs} ms, qemu microvm ${qs} ms; qemu/vmm = $(ratio "$qs" "$vs")"
	echo "boot to init (median of $BOOT_RUNS): vmm ${vb} ms, qemu microvm rtc=on ${qb} ms; vmm/qemu = $(ratio "$vb" "$qb")"
	echo "sandbox cost: start-up ${vs} ms with, ${vsn} ms without; boot to init ${vb} ms with, ${vbn} ms without"
	echo "peak own memory (RssAnon+RssFile), exit guest: vmm ${vo} KiB, qemu ${qo} KiB"
	echo "peak own memory (RssAnon+RssFile), Linux boot: vmm ${vbo} KiB, qemu ${qbo} KiB"
	sed -n 's/^mem-\(.*\)-vmm: /vmm own memory report, \1 run: /p' $B/raw.txt
	echo "binary: vmm $(stat -c %s vmm) bytes (static), qemu-system-x86_64 ${qsize} bytes (+ $(ldd /usr/bin/qemu-system-x86_64 | wc -l) shared libraries)"
} | tee $B/results.txt

# virtio-blk (fio) and virtio-net (iperf3) against QEMU, in a level-1 Linux of their own.
sh tests/bench/io.sh
