#!/bin/sh
# tests/nested/vmmrun.sh: nested-run-*: in one L1 boot, `vmm run` boots Debian's kernel with L1's own files shared through virtio-fs.
#   status     sh -c 'exit 7' exits 7; a missing command 127
#   streams    stdout and stderr arrive on vmm's matching streams, byte for byte
#   cwd-env    the command starts in L1's working directory with L1's environment (spaces and newlines kept)
#   tree       a tree read in L2 (names, sizes, modes, symlinks, sha256 of every file) equals L1's
#   rw         --rw DIR: files, modes, directories, renames, symlinks made in L2 are on L1 with the right contents; the
#              read-only root's overlay keeps L2's other writes from L1
#   jail       --root DIR: nothing outside DIR is reachable from L2 (.., absolute symlinks, hard links made in L2)
#   stress     a create/write/rename/unlink storm and fio verify on a --rw share; L1 checks the tree afterwards
#   panic      a guest kernel panic exits 3; --timeout exits 124
#   fs-ps      a vmm-fs device process per share, holding no KVM fd
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
NAMES="status streams cwd-env tree rw jail stress panic fs-ps"

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
FIO=
if command -v fio >/dev/null; then
	# shellcheck disable=SC2046 # one word per pair
	set -- "$@" $(tool_files fio /usr/bin/fio)
	FIO=1
fi
echo "VMM_TIMEOUT=$VMM_TIMEOUT; FIO=$FIO; RUN_ONLY='$RUN_ONLY'" >"$stage/nested.env"
cp tests/nested/vmmrun_l1.sh "$stage/test.sh" && chmod 755 "$stage/test.sh"
l1_initramfs "$stage/l1.cpio" "$@" "$stage/nested.env:/nested.env" "$stage/test.sh:/test.sh" \
	"$NESTED_KERNEL:/l2/bzImage" "$VMM_BIN:/bin/vmm" || { all FAIL "could not build the L1 initramfs"; exit 1; }
t1=$(date +%s)

L1_LOG=$NB/l1-run.log
L1_STALL=${L1_STALL:-$((VMM_TIMEOUT + 60))}   # vmmrun_l1.sh prints lines per test; a test runs at most VMM_TIMEOUT s
# shellcheck disable=SC2086 # names are words
l1_suite nested-run $(( $(echo $NAMES | wc -w) * (VMM_TIMEOUT + 30) + 200)) "$stage/l1.cpio" $NAMES
t2=$(date +%s)

failed=0
for t in $NAMES; do
	l1_verdict nested-run "$t" || failed=$((failed + 1))
done
[ $failed -gt 0 ] && echo "$L1_OUT" | sed -n 's/^.*RUN-OUT\[\([a-z-]*\)\]| /    \1| /p' | tail -n 30
echo "    time: build $((t1 - t0))s, L1 $((t2 - t1))s$([ "$L1_TRIES" -gt 0 ] && echo " ($((L1_TRIES + 1)) boots)"); $(echo "$L1_OUT" | sed -n 's/^NESTED-TIME //p;s/^L1-READY /L1: /p' | tr '\n' ' ')"
[ $failed -eq 0 ]
