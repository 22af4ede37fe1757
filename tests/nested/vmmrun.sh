#!/bin/sh
# tests/nested/vmmrun.sh: nested-run-*: in one L1 boot, `vmm run` boots Debian's kernel with L1's own files shared through virtio-fs.
#   status     sh -c 'exit 7' exits 7; a missing command 127
#   streams    stdout and stderr arrive on vmm's matching streams, byte for byte
#   cwd-env    the command starts in L1's working directory with L1's environment (spaces and newlines kept)
#   tree       a tree read in L2 (names, sizes, modes, symlinks, sha256 of every file; and tar c of it) equals L1's
#   rw         --rw DIR: files, modes, directories, renames, symlinks made in L2 are on L1 with the right contents; the
#              read-only root's overlay keeps L2's other writes from L1
#   jail       --root DIR: nothing outside DIR is reachable from L2 (.., absolute symlinks, hard links made in L2,
#              a directory on a --rw share that L1 keeps swapping with a symlink to / while L2 reads through it)
#   stress     a create/write/rename/unlink storm and fio verify on a --rw share; L1 checks the tree afterwards
#              (with --stats: a hang shows which queue holds buffers the device did not return)
#   panic      a guest kernel panic exits 3; --timeout exits 124
#   fs-ps      a vmm-fs device process per share, holding no KVM fd; the root share's killed with SIGKILL while the
#              command reads through it is replaced, and the command goes on with its cached inodes and open file
#   cc         the host's compiler (musl-gcc, as one compile uses it, staged in L1) compiles a C file from the
#              shared tree in L2, and the program prints the right thing
#   fs-qemu    QEMU's vhost-user-fs-pci (accel=kvm in L1) on vmm --serve-vhost-user --share: the Linux driver
#              reads the tree as L1 has it and writes a file L1 then finds; vmm exits 0 when QEMU goes
#   virtiofsd  the same L2 on vmm --vhost-user SOCK,type=fs,tag=qt in front of QEMU's virtiofsd
# Usage: sh tests/nested/vmmrun.sh   (PASS/FAIL/SKIP lines nested-run-NAME, notes after them; status 0 unless a FAIL)
# Env: VMM_BIN (./vmm), VMM_TIMEOUT (120 s per run), RUN_ONLY ("jail rw": only these, the rest SKIP), NESTED_VERBOSE=1
#      shows L1's console. Log: build/nested/l1-run.log.
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

VMM_BIN=${VMM_BIN:-./vmm}
VMM_TIMEOUT=${VMM_TIMEOUT:-120}
NAMES="status streams cwd-env tree rw jail stress panic fs-ps cc fs-qemu virtiofsd"

all() { for n in $NAMES; do echo "$1 nested-run-$n${2:+: $2}"; done; }

[ -x "$VMM_BIN" ] || { all FAIL "$VMM_BIN missing (run make)"; exit 1; }
if ! why=$(nested_check); then all SKIP "$why"; exit 0; fi
_nested_kernel   # sets NESTED_KVER here (nested_check ran in a subshell)
mkdir -p "$NB" && stage=$(mktemp -d "$NB/stage-run.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
t0=$(date +%s)

# L1 gets the modules vmm run hands to L2 (virtio_pci, virtiofs, overlay, pvpanic_mmio and what they need) where
# Debian keeps them, with modules.dep and modules.builtin, as a host with that kernel has them.
md=/lib/modules/$NESTED_KVER
_seen=; _order=
for m in virtio_pci virtiofs overlay pvpanic_mmio; do _mod_visit "$m" || { all FAIL "module $m"; exit 1; }; done
set -- "$md/modules.dep:$md/modules.dep" "$md/modules.builtin:$md/modules.builtin"
for m in $_order; do
	f=$(modinfo -k "$NESTED_KVER" -n "$m") || { all FAIL "module $m not found"; exit 1; }
	case $f in /*) set -- "$@" "$f:$f" ;; esac   # built in: nothing to copy
done
# fs-qemu: QEMU with its firmware in L1, and an L2 initramfs with virtiofs and an /init that mounts it
l2_images || { all FAIL "could not build the L2 images"; exit 1; }
mkdir -p "$stage/l2/fsmods"
cp tests/nested/vmmrun_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
_stage_modules "$stage/l2fs" virtiofs || { all FAIL "L2 modules"; exit 1; }
mv "$stage/l2fs/mods"/* "$stage/l2/fsmods/"
_cpio "$stage/l2" "$stage/l2x.cpio" && cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2fsq.cpio" || exit 1
set -- "$@" "$stage/l2fsq.cpio:/l2/initrd-fsq.cpio"
for pair in $(tool_files qemu-system-x86_64 /usr/bin/qemu-system-x86_64); do set -- "$@" "$pair"; done
for fw in qemu/linuxboot_dma.bin qemu/kvmvapic.bin seabios/bios-256k.bin; do
	[ -e /usr/share/$fw ] && set -- "$@" "$(readlink -f /usr/share/$fw):/usr/share/$fw"
done
# cc: the files one musl-gcc compile opens or executes (strace sees them), where the host has them,
# and the loader exec maps without an openat; the source at /data/cc/hello.c
CC=
printf '#include <stdio.h>\nint main(void) { printf("hello %%d\\n", 6 * 7); return 0; }\n' >"$stage/hello.c"
if command -v musl-gcc >/dev/null && command -v strace >/dev/null &&
	strace -f -qq -e trace=openat,execve -o "$stage/cc.trace" musl-gcc -static -O2 -o "$stage/hello" "$stage/hello.c"; then
	for f in $(grep -E '= [0-9]+$' "$stage/cc.trace" | grep -oE '"/(usr|lib|lib64)/[^"]+"' | tr -d '"' | sort -u); do
		[ -f "$f" ] && set -- "$@" "$(readlink -f "$f"):$f"
	done
	# shellcheck disable=SC2046 # one word per pair
	set -- "$@" $(tool_files as /usr/bin/as) "$stage/hello.c:/data/cc/hello.c"
	CC=1
fi
VIRTIOFSD=
if [ -x /usr/lib/qemu/virtiofsd ]; then
	# shellcheck disable=SC2046 # one word per pair
	set -- "$@" $(tool_files /usr/lib/qemu/virtiofsd /usr/lib/qemu/virtiofsd)
	VIRTIOFSD=1
fi
FIO=
if command -v fio >/dev/null; then
	# shellcheck disable=SC2046 # one word per pair
	set -- "$@" $(tool_files fio /usr/bin/fio)
	FIO=1
fi
echo "VMM_TIMEOUT=$VMM_TIMEOUT; FIO=$FIO; CC=$CC; VIRTIOFSD=$VIRTIOFSD; RUN_ONLY='$RUN_ONLY'" >"$stage/nested.env"
cp tests/nested/vmmrun_l1.sh "$stage/test.sh" && chmod 755 "$stage/test.sh"
# one pair per L1 path (the compiler, QEMU and fio share libraries)
# shellcheck disable=SC2046 # one word per pair
set -- $(for pair in "$@"; do echo "$pair"; done | awk -F: '!seen[$2]++')
l1_initramfs "$stage/l1.cpio" "$@" "$stage/nested.env:/nested.env" "$stage/test.sh:/test.sh" \
	"$NESTED_KERNEL:/l2/bzImage" "$VMM_BIN:/bin/vmm" || { all FAIL "could not build the L1 initramfs"; exit 1; }
t1=$(date +%s)

L1_LOG=$NB/l1-run.log
L1_MEM=${L1_MEM:-2560}   # the compiler (~45 MB) and QEMU in the initramfs, twice while unpacked
L1_STALL=${L1_STALL:-$((VMM_TIMEOUT + 60))}   # vmmrun_l1.sh prints lines per test; a test runs at most VMM_TIMEOUT s
# shellcheck disable=SC2086 # names are words
l1_suite nested-run $(( $(echo $NAMES | wc -w) * (VMM_TIMEOUT + 30) + 200)) "$stage/l1.cpio" $NAMES
t2=$(date +%s)

failed=
for t in $NAMES; do
	l1_verdict nested-run "$t" || failed="$failed $t"
done
# the last lines vmm printed in each failed test's runs (their tags start with the test's name)
for t in $failed; do
	echo "$L1_OUT" | sed -n "s/^.*RUN-OUT\[\(${t}[a-z0-9-]*\)\]| /    \1| /p" | tail -n 15
done
echo "    time: build $((t1 - t0))s, L1 $((t2 - t1))s$([ "$L1_TRIES" -gt 0 ] && echo " ($((L1_TRIES + 1)) boots)"); $(echo "$L1_OUT" | sed -n 's/^NESTED-TIME //p;s/^L1-READY /L1: /p' | tr '\n' ' ')"
[ -z "$failed" ]
