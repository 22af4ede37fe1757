#!/bin/sh
# tests/cli.sh: the command line and bad inputs, run on the host (no KVM needed: every case fails before /dev/kvm).
cd "$(dirname "$0")/.." || exit 2
V=./vmm
T=build/cli; mkdir -p $T

# expect NAME CODE PATTERN -- ARGS...: exit status CODE and one stderr line matching PATTERN
expect() {
	name=$1 code=$2 pat=$3; shift 4
	$V "$@" >$T/out 2>$T/err </dev/null
	rc=$?
	if [ $rc -ne "$code" ]; then echo "FAIL cli-$name: exit $rc, wanted $code: $(head -c 200 $T/err)"; return; fi
	if ! grep -qE -- "$pat" $T/err $T/out; then echo "FAIL cli-$name: output lacks /$pat/: $(head -c 200 $T/err)"; return; fi
	echo "PASS cli-$name"
}

printf 'garbage!' > $T/garbage
head -c 600 /dev/zero > $T/zeros
: > $T/empty
expect help 0 'usage: vmm --kernel' -- --help
expect version 0 '^vmm [0-9]' -- --version
expect no-kernel 2 'kernel FILE is required' --
expect unknown-opt 2 "unknown option '--bogus'" -- --bogus
expect missing-arg 2 "needs an argument" -- --kernel
expect extra-arg 2 "unexpected argument" -- --kernel x y
expect mem-zero 2 "memory '0'" -- --kernel $T/garbage --memory 0
expect mem-garbage 2 "memory '12Q'" -- --kernel $T/garbage --memory 12Q
expect mem-huge 2 "more than this host has" -- --kernel $T/garbage --memory 100T
expect mem-tiny 2 "at least" -- --kernel $T/garbage --memory 4K
expect mem-unaligned 2 "^vmm: --memory 16777217: not a multiple of 4K" -- --kernel $T/garbage --memory 16777217
expect cpus-zero 2 "cpus '0'" -- --kernel $T/garbage --cpus 0
expect cpus-many 2 "cpus '65'" -- --kernel $T/garbage --cpus 65
expect cpus-word 2 "cpus 'two'" -- --kernel $T/garbage --cpus two
expect timeout-neg 2 "timeout '-1'" -- --kernel $T/garbage --timeout -1
expect kernel-missing 2 "kernel $T/nonexistent: No such file" -- --kernel $T/nonexistent
expect kernel-dir 2 "not a regular file" -- --kernel $T
expect kernel-empty 2 "empty" -- --kernel $T/empty
expect console-bad 2 "$T/nodir/x" -- --kernel $T/garbage --console $T/nodir/x
KERNEL=$T/garbage
expect disk-missing 2 "$T/nodisk" -- --kernel $KERNEL --disk $T/nodisk
expect share-no-tag 2 "no tag=NAME" -- --kernel $KERNEL --share $T,ro
expect share-missing 2 "$T/nodir" -- --kernel $KERNEL --share $T/nodir,tag=x
expect share-file 2 "Not a directory" -- --kernel $KERNEL --share $T/garbage,tag=x
expect share-bad-opt 2 "unknown option 'rw'" -- --kernel $KERNEL --share $T,tag=x,rw
expect share-long-tag 2 "1 to 36 bytes" -- --kernel $KERNEL --share $T,tag=0123456789012345678901234567890123456
expect share-too-many 2 "at most 8 --share" -- --kernel $KERNEL --share $T,tag=1 --share $T,tag=2 --share $T,tag=3 \
	--share $T,tag=4 --share $T,tag=5 --share $T,tag=6 --share $T,tag=7 --share $T,tag=8 --share $T,tag=9
expect run-help 0 "usage: vmm run" -- run --help
expect run-no-cmd 2 "COMMAND to run is required" -- run --kernel $KERNEL
expect run-initrd 2 "no --initrd" -- run --kernel $KERNEL --initrd $T/garbage true
expect run-rw-missing 2 "--rw $T/nodir: No such file" -- run --kernel $KERNEL --rw $T/nodir true
expect run-rw-file 2 "--rw $T/garbage: not a directory" -- run --kernel $KERNEL --rw $T/garbage true
expect run-root-file 2 "--root $T/garbage: not a directory" -- run --kernel $KERNEL --root $T/garbage true
expect run-cwd-outside 2 "working directory is not under the root" -- run --kernel $KERNEL --root $T true
expect run-rw-outside 2 "is not under the root" -- run --kernel $KERNEL --root "$PWD" --rw /tmp true
expect run-no-release 2 "cannot tell its release" -- run --kernel $KERNEL true
expect rw-not-run 2 "option of 'vmm run'" -- --kernel $KERNEL --rw $T
expect disk-empty 2 "empty" -- --kernel $KERNEL --disk $T/empty
expect disk-badopt 2 "bogus" -- --kernel $KERNEL --disk $T/zeros,bogus
expect net-badspec 2 "net" -- --kernel $KERNEL --net nonsense
expect net-longname 2 "1 to 15 characters" -- --kernel $KERNEL --net tap=abcdefghijklmnopq
expect vsock-badspec 2 "expected cid=N" -- --kernel $KERNEL --vsock nonsense
expect vsock-reserved 2 "0-2 are reserved" -- --kernel $KERNEL --vsock cid=2
expect vsock-twice 2 "only one --vsock" -- --kernel $KERNEL --vsock cid=3 --vsock cid=4
[ -e /dev/vhost-vsock ] || expect vsock-no-vhost 2 "vhost_vsock module" -- --kernel $KERNEL --vsock cid=3
# The README's sandbox lists are what the code enforces.
sed -n '/<!-- print-sandbox -->/,/<!-- \/print-sandbox -->/p' README.md | grep -v '^<!--' | grep -v '^```' > $T/readme-sandbox
$V --print-sandbox > $T/code-sandbox 2>&1
if [ -s $T/code-sandbox ] && cmp -s $T/readme-sandbox $T/code-sandbox; then echo "PASS cli-readme-sandbox-list"
else echo "FAIL cli-readme-sandbox-list: README.md's list differs from vmm --print-sandbox (update the README block)"; fi
# The same for arm64 (make ARCH=arm64), run here by QEMU's user-mode emulator.
if [ ! -x ./vmm-arm64 ] || ! command -v qemu-aarch64-static >/dev/null; then
	echo "SKIP cli-readme-sandbox-list-arm64: needs ./vmm-arm64 (make ARCH=arm64) and qemu-aarch64-static (qemu-user-static)"
else
	sed -n '/<!-- print-sandbox-arm64 -->/,/<!-- \/print-sandbox-arm64 -->/p' README.md | grep -v '^<!--' | grep -v '^```' > $T/readme-sandbox-arm64
	qemu-aarch64-static ./vmm-arm64 --print-sandbox > $T/code-sandbox-arm64 2>&1
	if [ -s $T/code-sandbox-arm64 ] && cmp -s $T/readme-sandbox-arm64 $T/code-sandbox-arm64; then echo "PASS cli-readme-sandbox-list-arm64"
	else echo "FAIL cli-readme-sandbox-list-arm64: README.md's arm64 list differs from vmm-arm64 --print-sandbox (update the README block)"; fi
fi
if [ -s build/guest/hello.elf ]; then
	head -c 20971520 /dev/zero > $T/big-initrd
	expect initrd-too-big 2 "--initrd $T/big-initrd: initrd of 20971520 bytes does not fit" -- \
		--kernel build/guest/hello.elf --memory 16M --initrd $T/big-initrd
	rm -f $T/big-initrd
else
	echo "SKIP cli-initrd-too-big: build/guest/hello.elf not built (make -C tests/guest)"
fi
# --module: usage, missing files, only for multiboot kernels, at most 8 modules.
expect help-module 0 '--module FILE\[,CMDLINE\]' -- --help
expect module-empty-arg 2 "--module ',x': expected FILE" -- --kernel $KERNEL --module ,x
expect module-nine 2 "at most 8 --module options" -- --kernel $KERNEL --module a --module a --module a \
	--module a --module a --module a --module a --module a --module a
expect module-missing 2 "^vmm: --module $T/nomod: No such file" -- --kernel $KERNEL --module "$T/nomod,args"
if [ -s build/guest/hello.elf ] && [ -s build/guest/mb.elf ]; then
	expect module-not-multiboot 2 "^vmm: --kernel build/guest/hello.elf: --module needs a multiboot kernel" -- \
		--kernel build/guest/hello.elf --module $T/zeros
	head -c 20971520 /dev/zero > $T/big-module
	expect module-too-big 2 "^vmm: --module $T/big-module: file of 20971520 bytes does not fit" -- \
		--kernel build/guest/mb.elf --memory 16M --module $T/zeros --module "$T/big-module,big"
	expect module-initrd-too-big 2 "^vmm: --initrd $T/big-module: initrd of 20971520 bytes does not fit" -- \
		--kernel build/guest/mb.elf --memory 16M --initrd $T/big-module
	expect module-eight-with-initrd 2 "9 multiboot modules: at most 8" -- --kernel build/guest/mb.elf \
		--initrd $T/zeros --module $T/zeros --module $T/zeros --module $T/zeros --module $T/zeros \
		--module $T/zeros --module $T/zeros --module $T/zeros --module $T/zeros
	rm -f $T/big-module
else
	echo "SKIP cli-module-not-multiboot: build/guest/hello.elf or mb.elf not built (make -C tests/guest)"
fi

# The binary: one static PIE (code addresses differ from run to run), under 256 KiB stripped.
sz=$(stat -c %s $V)
if [ "$sz" -lt 262144 ]; then echo "PASS cli-binary-size: $sz bytes"; else echo "FAIL cli-binary-size: $sz bytes, over 256 KiB"; fi
if ! command -v file >/dev/null; then echo "SKIP cli-static-pie: no file(1)"
elif file -L $V | grep -q 'static-pie linked'; then echo "PASS cli-static-pie"
else echo "FAIL cli-static-pie: $(file -L $V)"; fi
