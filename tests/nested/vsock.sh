#!/bin/sh
# tests/nested/vsock.sh: nested-vsock: in L1 (QEMU/TCG) with vhost_vsock, vmm --vsock cid=3 boots L2; socat moves 1 MiB each way over AF_VSOCK.
# Usage: sh tests/nested/vsock.sh   (one PASS/FAIL/SKIP line for nested-vsock, notes after it; status 0 unless FAIL)
# Env: VMM_BIN (./vmm), VMM_TIMEOUT (240 s), VMM_MEM (256M), NESTED_VERBOSE=1 shows L1's console.
# Full log: build/nested/l1-vsock.log.
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

VMM_BIN=${VMM_BIN:-./vmm}
VMM_TIMEOUT=${VMM_TIMEOUT:-240}
if ! why=$(nested_check); then echo "SKIP nested-vsock: $why"; exit 0; fi
SOCAT=$(command -v socat) || { echo "SKIP nested-vsock: socat missing (apt-get install socat)"; exit 0; }
[ -x "$VMM_BIN" ] || { echo "FAIL nested-vsock: $VMM_BIN missing (run make)"; exit 1; }
l2_images || { echo "FAIL nested-vsock: could not build the L2 images"; exit 1; }

stage=$(mktemp -d "$NB/stage-vsock.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
# L2: the usual image with /init replaced, the guest's vsock modules and socat added
mkdir -p "$stage/l2/bin"
cp tests/nested/vsock_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
_stage_modules "$stage/l2g" vmw_vsock_virtio_transport || { echo "FAIL nested-vsock: L2 modules"; exit 1; }
mv "$stage/l2g/mods" "$stage/l2/vsmods"
stage_pairs "$stage/l2" $(tool_files "$SOCAT" /bin/socat) || { echo "FAIL nested-vsock: could not stage socat"; exit 1; }
(cd "$stage/l2" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$stage/l2x.cpio" || exit 1
cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2.cpio"
# L1: vhost_vsock and its dependencies, socat
_stage_modules "$stage/l1" vhost_vsock || { echo "FAIL nested-vsock: L1 modules"; exit 1; }
set --
for f in "$stage/l1/mods"/*; do set -- "$@" "$f:/vsmods/$(basename "$f")"; done

{
	echo "VMM_TIMEOUT=$VMM_TIMEOUT"
	[ -n "$VMM_MEM" ] && echo "VMM_MEM='$VMM_MEM'"
	[ -n "$L2_APPEND" ] && echo "L2_APPEND='$L2_APPEND'"
} >"$stage/nested.env"
# shellcheck disable=SC2046 # one word per pair
l1_initramfs "$stage/l1.cpio" "$@" "$stage/nested.env:/nested.env" tests/nested/vsock_l1.sh:/test.sh \
	"$L2_BZIMAGE:/l2/bzImage" "$stage/l2.cpio:/l2/initrd.cpio" "$VMM_BIN:/vmm" $(tool_files "$SOCAT" /bin/socat) ||
	{ echo "FAIL nested-vsock: could not build the L1 initramfs"; exit 1; }

L1_LOG=$NB/l1-vsock.log
l1_single nested-vsock vsock $((VMM_TIMEOUT + 150)) "$stage/l1.cpio"
