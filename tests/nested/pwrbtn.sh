#!/bin/sh
# tests/nested/pwrbtn.sh: nested-powerbutton: SIGTERM to vmm presses L2's ACPI power button; Linux sees the key, powers off, vmm exits 0.
# Usage: sh tests/nested/pwrbtn.sh   (one PASS/FAIL/SKIP line; status 0 unless FAIL). Env: VMM_BIN (./vmm), NESTED_VERBOSE=1.
cd "$(dirname "$0")/../.." || exit 2
# shellcheck disable=SC2034 # read by lib.sh
NESTED_LIB=tests/nested/lib.sh
# shellcheck source=tests/nested/lib.sh
. tests/nested/lib.sh

VMM_BIN=${VMM_BIN:-./vmm}
if ! why=$(nested_check); then echo "SKIP nested-powerbutton: $why"; exit 0; fi
[ -x "$VMM_BIN" ] || { echo "FAIL nested-powerbutton: $VMM_BIN missing (run make)"; exit 1; }
l2_images || { echo "FAIL nested-powerbutton: could not build the L2 images"; exit 1; }

stage=$(mktemp -d "$NB/stage-pwrbtn.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/l2"
cp tests/nested/pwrbtn_l2.sh "$stage/l2/init" && chmod 755 "$stage/l2/init"
_stage_modules "$stage/l2g" button evdev || { echo "FAIL nested-powerbutton: L2 modules"; exit 1; }
mv "$stage/l2g/mods" "$stage/l2/btnmods"
(cd "$stage/l2" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$stage/l2x.cpio" || exit 1
cat "$L2_INITRD" "$stage/l2x.cpio" >"$stage/l2.cpio"
cat >"$stage/test.sh" <<'EOT'
#!/bin/sh
why=
/vmm --kernel /l2/bzImage --initrd /l2/initrd.cpio --append "console=ttyS0 quiet panic=-1" \
	--console /tmp/l2.log --timeout 240 </dev/null >/tmp/vmm.out 2>&1 &
vpid=$!
i=0
while ! grep -q L2-PWRBTN-READY /tmp/l2.log 2>/dev/null && kill -0 $vpid 2>/dev/null && [ $i -lt 1800 ]; do
	sleep 0.1; i=$((i + 1))
done
kill -TERM $vpid
wait $vpid
st=$?
tr -d '\r' </tmp/l2.log | sed 's/^/L2[pwrbtn]| /'
sed 's/^/vmm| /' /tmp/vmm.out
[ "$st" = 0 ] || why="$why; vmm exit $st (want 0: the guest powered off)"
grep -q 'L2-PWRBTN-READY event=event' /tmp/l2.log || why="$why; no Power Button input device in L2"
grep -q L2-PWRBTN-PRESSED /tmp/l2.log || why="$why; L2 saw no key from the power button"
grep -q "SIGTERM: pressing the guest's power button" /tmp/vmm.out || why="$why; vmm did not say it pressed the button"
if [ -z "$why" ]; then echo "NESTED-RESULT PASS nested-powerbutton"; else echo "NESTED-RESULT FAIL nested-powerbutton:$why" | sed 's/:;/:/'; fi
[ -z "$why" ]
EOT
chmod +x "$stage/test.sh"
l1_initramfs "$stage/l1.cpio" "$stage/test.sh:/test.sh" "$L2_BZIMAGE:/l2/bzImage" "$stage/l2.cpio:/l2/initrd.cpio" \
	"$VMM_BIN:/vmm" || { echo "FAIL nested-powerbutton: could not build the L1 initramfs"; exit 1; }
L1_LOG=$NB/l1-pwrbtn.log
l1_single nested-powerbutton pwrbtn 400 "$stage/l1.cpio"
