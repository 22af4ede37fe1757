#!/bin/sh
# tests/arm64/fetch.sh: unpacks the arm64 Debian packages that the arm64 build and tests need into
# build/arm64/sysroot (or $ARM64_SYSROOT) with apt-get download and dpkg -x, never installing them:
# musl-dev, libfdt-dev, linux-libc-dev, busybox-static and the cloud kernel (the versioned package
# linux-image-cloud-arm64 depends on; its modules get a modules.dep from depmod).
# Cached: once the sysroot has its .fetched stamp, a re-run does nothing (ARM64_REFETCH=1 redoes it).
# Needs, once, as root: dpkg --add-architecture arm64 && apt-get update.
# If it cannot, it prints one line saying why and exits 1.
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
SYSROOT=${ARM64_SYSROOT:-$ROOT/build/arm64/sysroot}
PKGS="musl-dev libfdt-dev linux-libc-dev busybox-static"

fail() {
	echo "arm64 sysroot: $*"
	exit 1
}

# What the stamp promises is there (a sysroot unpacked by hand has no stamp and is redone).
have_all() {
	[ -s "$1/.fetched" ] && [ -f "$1/usr/lib/aarch64-linux-musl/libc.a" ] &&
		[ -f "$1/usr/include/libfdt.h" ] && [ -f "$1/usr/include/aarch64-linux-gnu/asm/kvm.h" ] &&
		[ -x "$1/bin/busybox" ] && ls "$1"/boot/vmlinuz-*-cloud-arm64 >/dev/null 2>&1
}

[ "${ARM64_REFETCH:-0}" = 1 ] || ! have_all "$SYSROOT" || exit 0

for t in apt-get apt-cache dpkg dpkg-deb depmod; do
	PATH=$PATH:/usr/sbin:/sbin command -v $t >/dev/null || fail "$t missing (a Debian host is needed)"
done
PATH=$PATH:/usr/sbin:/sbin
{ dpkg --print-foreign-architectures; dpkg --print-architecture; } | grep -qx arm64 ||
	fail "dpkg has no arm64 architecture (as root: dpkg --add-architecture arm64 && apt-get update)"
kpkg=$(apt-cache depends linux-image-cloud-arm64:arm64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-cloud-arm64\)\(:arm64\)\{0,1\}$/\1/p' | sort -V | tail -n 1)
[ -n "$kpkg" ] || fail "no arm64 package lists: linux-image-cloud-arm64:arm64 unknown (as root: dpkg --add-architecture arm64 && apt-get update)"
for p in $PKGS $kpkg; do
	apt-cache show --no-all-versions "$p:arm64" >/dev/null 2>&1 || fail "$p:arm64 not in the apt lists (apt-get update?)"
done

mkdir -p "$(dirname "$SYSROOT")" || fail "cannot create $(dirname "$SYSROOT")"
# one fetch at a time; a second waits and then finds the work done
if command -v flock >/dev/null; then
	exec 9>"$SYSROOT.lock" && flock 9
	[ "${ARM64_REFETCH:-0}" = 1 ] || ! have_all "$SYSROOT" || exit 0
fi
tmp=$(mktemp -d "$SYSROOT.new.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/deb" "$tmp/root"
# apt-get download as root warns that the _apt user cannot write here: let it.
chmod 777 "$tmp/deb"
names=
for p in $PKGS $kpkg; do names="$names $p:arm64"; done
# shellcheck disable=SC2086 # one word per package
(cd "$tmp/deb" && apt-get download -q $names) >"$tmp/apt.log" 2>&1 ||
	fail "apt-get download failed: $(grep -E '^(E|W):' "$tmp/apt.log" | tail -n 1)"
for d in "$tmp"/deb/*.deb; do
	dpkg -x "$d" "$tmp/root" || fail "dpkg -x $(basename "$d") failed"
	# shellcheck disable=SC2016 # dpkg's own ${...} fields
	dpkg-deb -W --showformat='${Package} ${Version}\n' "$d" >>"$tmp/root/.fetched"
done
kver=${kpkg#linux-image-}
# the kernel's dtbs and usr/share (docs, busybox's initramfs-tools hooks) are not needed; a
# directory named conf-hooks.d there broke make's `find build -name '*.d'`
rm -rf "$tmp/root/usr/lib/linux-image-$kver" "$tmp/root/usr/share"
depmod -b "$tmp/root" "$kver" || fail "depmod for $kver failed"
have_all "$tmp/root" || fail "the unpacked packages lack a file the sysroot needs"
rm -rf "$SYSROOT"
mv "$tmp/root" "$SYSROOT" || fail "cannot move the sysroot into place"
echo "arm64 sysroot: unpacked into $SYSROOT: $(tr '\n' ' ' <"$SYSROOT/.fetched")"
