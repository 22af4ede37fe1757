#!/bin/sh
# tests/install.sh: make install / make uninstall into a temporary DESTDIR, and systemd-analyze verify on the installed unit.
cd "$(dirname "$0")/.." || exit 2
T=build/install; rm -rf $T; mkdir -p $T
D=$(cd $T && pwd)/root

# install PREFIX: the three files, with their modes, and the unit's ExecStart naming PREFIX/bin/vmm
check_install() {
	name=$1 prefix=$2 unitdir=$3
	if ! MAKEFLAGS= make -s install DESTDIR="$D" PREFIX="$prefix" > $T/make.out 2>&1; then
		echo "FAIL install-$name: make install DESTDIR=$D PREFIX=$prefix: $(head -c 200 $T/make.out)"; return 1
	fi
	for f in "$prefix/bin/vmm 755" "$prefix/share/man/man1/vmm.1 644" "$unitdir/vmm@.service 644"; do
		set -- $f
		if [ ! -f "$D$1" ]; then echo "FAIL install-$name: $D$1 not installed"; return 1; fi
		if [ "$(stat -c %a "$D$1")" != "$2" ]; then echo "FAIL install-$name: $D$1 has mode $(stat -c %a "$D$1"), wanted $2"; return 1; fi
	done
	if ! "$D$prefix/bin/vmm" --version | grep -q '^vmm [0-9]'; then echo "FAIL install-$name: the installed vmm does not run"; return 1; fi
	if ! cmp -s vmm.1 "$D$prefix/share/man/man1/vmm.1"; then echo "FAIL install-$name: the installed vmm.1 differs"; return 1; fi
	if ! grep -qx "ExecStart=$prefix/bin/vmm \$VMM_ARGS" "$D$unitdir/vmm@.service"; then
		echo "FAIL install-$name: the unit's ExecStart is not $prefix/bin/vmm: $(grep ExecStart= "$D$unitdir/vmm@.service")"; return 1
	fi
	echo "PASS install-$name"
}

# uninstall PREFIX: nothing but (empty) directories is left
check_uninstall() {
	name=$1 prefix=$2
	if ! MAKEFLAGS= make -s uninstall DESTDIR="$D" PREFIX="$prefix" > $T/make.out 2>&1; then
		echo "FAIL uninstall-$name: make uninstall: $(head -c 200 $T/make.out)"; return
	fi
	left=$(find "$D" ! -type d | tr '\n' ' ')
	if [ -z "$left" ]; then echo "PASS uninstall-$name"; else echo "FAIL uninstall-$name: left behind: $left"; fi
}

# systemd-analyze verify on the installed unit: a copy whose ExecStart is the installed binary under
# DESTDIR (verify wants it to exist), and man:vmm(1) looked up in DESTDIR's man pages. Any output fails:
# verify only warns (status 0) about unknown keys.
check_verify() {
	prefix=$1 unitdir=$2
	if ! command -v systemd-analyze >/dev/null 2>&1; then
		echo "SKIP install-systemd-verify: systemd-analyze not installed (apt-get install systemd)"; return
	fi
	mkdir -p $T/unit
	sed "s|^ExecStart=$prefix/bin/vmm |ExecStart=$D$prefix/bin/vmm |" "$D$unitdir/vmm@.service" > "$T/unit/vmm@.service"
	if command -v man >/dev/null 2>&1; then
		(cd $T/unit && MANPATH="$D$prefix/share/man" systemd-analyze verify ./vmm@.service) > $T/verify 2>&1
	else
		(cd $T/unit && systemd-analyze verify --man=no ./vmm@.service) > $T/verify 2>&1
	fi
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s $T/verify ]; then echo "PASS install-systemd-verify"
	else echo "FAIL install-systemd-verify: systemd-analyze verify (status $rc): $(head -n 3 $T/verify | tr '\n' ' ')"; fi
}

if check_install default /usr/local /usr/local/lib/systemd/system; then
	check_verify /usr/local /usr/local/lib/systemd/system
fi
check_uninstall default /usr/local
check_install usr /usr /usr/lib/systemd/system
check_uninstall usr /usr
