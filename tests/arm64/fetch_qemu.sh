#!/bin/sh
# tests/arm64/fetch_qemu.sh: the arm64 build of qemu-system-aarch64 (Debian's qemu-system-arm:arm64)
# and every shared library it loads, for the arm64 L1 of `make bench ARCH=arm64` (tests/bench/arm64.sh).
# Like fetch.sh: apt-get download and dpkg -x of :arm64 packages, never installed, into
# build/arm64/qemu-root (or $ARM64_QEMU_ROOT), one directory per package under pkg/.
# The dependencies are resolved by what the binaries need, not by apt's whole Depends tree (which
# drags in dpkg, passwd, tar ...): starting from qemu-system-arm, each round downloads the Depends
# of the packages that provide a needed library so far, and stops once every DT_NEEDED of the
# binary and of its libraries (recursively) is found; a name no package provides is an error.
# Writes, in the root: .pairs (HOST:GUEST lines for lib.sh l1_initramfs: the binary at
# /usr/bin/qemu-system-aarch64, each library at /lib/aarch64-linux-gnu/SONAME and the loader at
# /lib/ld-linux-aarch64.so.1, the path in the binary's PT_INTERP), .libs (one soname a line) and
# .fetched (the packages used, with their versions). Cached: with .fetched there, a re-run does
# nothing (ARM64_REFETCH=1 redoes it). If it cannot, it prints one line saying why and exits 1.
# shellcheck disable=SC3043,SC2012 # local: dash has it; ls of names apt-get download chose
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
QROOT=${ARM64_QEMU_ROOT:-$ROOT/build/arm64/qemu-root}
BIN=usr/bin/qemu-system-aarch64

fail() {
	echo "arm64 qemu: $*"
	exit 1
}
have_all() {
	[ -s "$1/.fetched" ] && [ -s "$1/.pairs" ] && [ -f "$1/bin/qemu-system-aarch64" ]
}
[ "${ARM64_REFETCH:-0}" = 1 ] || ! have_all "$QROOT" || exit 0

PATH=$PATH:/usr/sbin:/sbin
for t in apt-get apt-cache dpkg-deb readelf; do
	command -v $t >/dev/null || fail "$t missing"
done
apt-cache show --no-all-versions qemu-system-arm:arm64 >/dev/null 2>&1 ||
	fail "qemu-system-arm:arm64 not in the apt lists (as root: dpkg --add-architecture arm64 && apt-get update)"

mkdir -p "$(dirname "$QROOT")" || fail "cannot create $(dirname "$QROOT")"
if command -v flock >/dev/null; then
	exec 9>"$QROOT.lock" && flock 9
	[ "${ARM64_REFETCH:-0}" = 1 ] || ! have_all "$QROOT" || exit 0
fi
tmp=$(mktemp -d "$QROOT.new.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/deb" "$tmp/pkg"
chmod 777 "$tmp/deb"   # apt-get download as root: the _apt user writes here

# get PKG...: download and unpack each (not yet unpacked) package into pkg/PKG
get() {
	local p names
	names=
	for p in "$@"; do
		[ -d "$tmp/pkg/$p" ] || names="$names $p:arm64"
	done
	[ -n "$names" ] || return 0
	# shellcheck disable=SC2086 # one word per package
	(cd "$tmp/deb" && apt-get download -q $names) >"$tmp/apt.log" 2>&1 ||
		fail "apt-get download failed: $(grep -E '^(E|W):' "$tmp/apt.log" | tail -n 1)"
	for p in "$@"; do
		[ -d "$tmp/pkg/$p" ] && continue
		d=$(ls "$tmp/deb/${p}_"*_arm64.deb 2>/dev/null | head -n 1)
		[ -n "$d" ] || d=$(ls "$tmp/deb/${p}_"*_all.deb 2>/dev/null | head -n 1)
		[ -n "$d" ] || fail "no .deb for $p after apt-get download"
		mkdir "$tmp/pkg/$p" || fail "mkdir failed"
		dpkg-deb -x "$d" "$tmp/pkg/$p" || fail "dpkg-deb -x $(basename "$d") failed"
		# shellcheck disable=SC2016 # dpkg's own ${...} fields
		dpkg-deb -W --showformat='${Package} ${Version}\n' "$d" >>"$tmp/all"
		rm -f "$d"
	done
}
# find_so SONAME: "PKG FILE" of the unpacked package that has it in a library directory
find_so() {
	local f
	for f in "$tmp"/pkg/*/lib/aarch64-linux-gnu/"$1" "$tmp"/pkg/*/usr/lib/aarch64-linux-gnu/"$1"; do
		[ -e "$f" ] || continue
		f=${f#"$tmp/pkg/"}
		echo "${f%%/*} $f"
		return 0
	done
	return 1
}
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
# the arm64 packages that PKG... depend on (one apt-cache call: each takes seconds here); arch-all
# ones (qemu-system-data, debconf) carry no :arm64 and hold no library, virtual ones are in <>
deps() {
	local p a
	a=
	for p in "$@"; do a="$a $p:arm64"; done
	# shellcheck disable=SC2086 # one word per package
	apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
		$a 2>/dev/null | sed -n 's/^ *\(Pre\)\{0,1\}Depends: \([^ <>:]*\):arm64$/\2/p' | sort -u
}

get qemu-system-arm
[ -f "$tmp/pkg/qemu-system-arm/$BIN" ] || fail "qemu-system-arm:arm64 has no /$BIN"
interp=$(readelf -l "$tmp/pkg/qemu-system-arm/$BIN" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
[ -n "$interp" ] || fail "no PT_INTERP in $BIN"
used=qemu-system-arm
round=0
while :; do
	round=$((round + 1))
	[ $round -le 20 ] || fail "dependency rounds do not end"
	# the closure of DT_NEEDED from the binary over what is unpacked
	: >"$tmp/libs"; : >"$tmp/missing"
	todo="$tmp/pkg/qemu-system-arm/$BIN"
	seen=
	while [ -n "$todo" ]; do
		# shellcheck disable=SC2086 # one word per file
		set -- $todo; f=$1; shift; todo=$*
		for so in $(needed "$f"); do
			case " $seen " in *" $so "*) continue ;; esac
			seen="$seen $so"
			if hit=$(find_so "$so"); then
				echo "$so $hit" >>"$tmp/libs"
				todo="$todo $tmp/pkg/${hit#* }"
			else
				echo "$so" >>"$tmp/missing"
			fi
		done
	done
	# the packages that provide a needed library are the used ones
	used="qemu-system-arm $(cut -d' ' -f2 "$tmp/libs" | sort -u | tr '\n' ' ')"
	[ -s "$tmp/missing" ] || break
	new=
	# shellcheck disable=SC2086 # one word per package
	for p in $(deps $used); do
		[ -d "$tmp/pkg/$p" ] || new="$new $p"
	done
	[ -n "$new" ] || fail "no package provides $(tr '\n' ' ' <"$tmp/missing")"
	# shellcheck disable=SC2086 # one word per package
	get $new
done
ld=$(find_so "${interp##*/}") || fail "no package provides the loader ${interp##*/}"

mkdir -p "$tmp/root/bin" "$tmp/root/lib" || fail "mkdir failed"
# the files themselves (symlinks resolved), flat: bin/qemu-system-aarch64, lib/SONAME
cp "$tmp/pkg/qemu-system-arm/$BIN" "$tmp/root/bin/qemu-system-aarch64" || fail "cp failed"
while read -r so p f; do
	cp -L "$tmp/pkg/$f" "$tmp/root/lib/$so" || fail "cp $f failed"
done <"$tmp/libs"
grep -q "^${interp##*/} " "$tmp/libs" || cp -L "$tmp/pkg/${ld#* }" "$tmp/root/lib/${interp##*/}" || fail "cp loader failed"
cut -d' ' -f1 "$tmp/libs" >"$tmp/root/.libs"
for p in $used; do grep "^$p " "$tmp/all"; done >"$tmp/root/.fetched"
rm -rf "$QROOT"
mv "$tmp/root" "$QROOT" || fail "cannot move the qemu root into place"
{
	echo "$QROOT/bin/qemu-system-aarch64:/usr/bin/qemu-system-aarch64"
	while read -r so; do echo "$QROOT/lib/$so:/lib/aarch64-linux-gnu/$so"; done <"$QROOT/.libs"
	echo "$QROOT/lib/${interp##*/}:$interp"
} >"$QROOT/.pairs"
echo "arm64 qemu: unpacked into $QROOT: $(wc -l <"$QROOT/.fetched") packages, $(wc -l <"$QROOT/.libs") libraries ($round rounds)"
