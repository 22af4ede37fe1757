# tests/nested/lib.sh: builds the L1/L2 images from Debian packages (cached in build/nested/) and runs L1 under QEMU/TCG with nested SVM.
# POSIX sh; source it from the repo root or anywhere: paths are resolved from this file.
# NESTED_ARCH=arm64 (set before sourcing) does the same for arm64 guests on this x86 host: L1 is
# qemu-system-aarch64 -M virt,virtualization=on (TCG) with Debian's arm64 cloud kernel (KVM built in),
# busybox and kernel from the sysroot of tests/arm64/fetch.sh ($ARM64_SYSROOT), caches in build/arm64/nested/.
# Functions: nested_check, tool_files, stage_pairs, l1_initramfs, l1_run, l1_env, env_note, l2_images, l2_qemu.
# shellcheck shell=sh disable=SC3043,SC3028,SC2034,SC2012 # local: dash, bash and busybox ash all have it

NESTED_SRC=${NESTED_SRC:-$(cd "$(dirname "${BASH_SOURCE:-${NESTED_LIB:-tests/nested/lib.sh}}")" 2>/dev/null && pwd)}
NESTED_ROOT=${NESTED_ROOT:-$(cd "$NESTED_SRC/../.." && pwd)}
NESTED_ARCH=${NESTED_ARCH:-x86}
if [ "$NESTED_ARCH" = arm64 ]; then
	ARM64_SYSROOT=${ARM64_SYSROOT:-$NESTED_ROOT/build/arm64/sysroot}
	NB=${NB:-$NESTED_ROOT/build/arm64/nested}
	BUSYBOX=${BUSYBOX:-$ARM64_SYSROOT/bin/busybox}
else
	NB=${NB:-$NESTED_ROOT/build/nested}
	BUSYBOX=${BUSYBOX:-/bin/busybox}
fi

# The Debian cloud kernel: sets NESTED_KERNEL and NESTED_KVER (newest if several).
# arm64: the sysroot's vmlinuz (Debian 12's is an uncompressed Image; QEMU also takes a gzip one).
_nested_kernel() {
	[ -n "$NESTED_KERNEL" ] && return 0
	if [ "$NESTED_ARCH" = arm64 ]; then
		NESTED_KERNEL=$(ls "$ARM64_SYSROOT"/boot/vmlinuz-*-cloud-arm64 2>/dev/null | sort -V | tail -n 1)
		[ -n "$NESTED_KERNEL" ] || return 1
		NESTED_KVER=${NESTED_KERNEL##*/vmlinuz-}
		[ -f "$ARM64_SYSROOT/lib/modules/$NESTED_KVER/modules.dep" ] || return 1
		return 0
	fi
	NESTED_KERNEL=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)
	[ -n "$NESTED_KERNEL" ] || return 1
	NESTED_KVER=${NESTED_KERNEL#/boot/vmlinuz-}
	[ -d "/lib/modules/$NESTED_KVER" ] || return 1
}

# Prints why the nested suite cannot run here (empty output and status 0 if it can).
nested_check() {
	if [ "$NESTED_ARCH" = arm64 ]; then
		command -v qemu-system-aarch64 >/dev/null || { echo "qemu-system-aarch64 missing (apt-get install qemu-system-arm)"; return 1; }
		_nested_kernel || { echo "no arm64 cloud kernel with modules in $ARM64_SYSROOT (run tests/arm64/fetch.sh)"; return 1; }
		for t in cpio gzip modinfo sha256sum timeout; do
			command -v $t >/dev/null || { echo "$t missing"; return 1; }
		done
		[ -f "$BUSYBOX" ] || { echo "$BUSYBOX missing (run tests/arm64/fetch.sh)"; return 1; }
		# ldd cannot judge a foreign binary: ELF e_machine 183 is aarch64
		[ "$(_le "$BUSYBOX" 18 2)" = 183 ] || { echo "$BUSYBOX is not an aarch64 program"; return 1; }
		return 0
	fi
	command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"; return 1; }
	_nested_kernel || { echo "no /boot/vmlinuz-*-cloud-amd64 with modules (apt-get install linux-image-cloud-amd64)"; return 1; }
	for t in cpio lz4 modinfo sha256sum timeout musl-gcc; do
		command -v $t >/dev/null || { echo "$t missing"; return 1; }
	done
	[ -x "$BUSYBOX" ] || { echo "$BUSYBOX missing (apt-get install busybox-static)"; return 1; }
	# ldd fails on a static binary, which is what both initramfs levels need
	! ldd "$BUSYBOX" >/dev/null 2>&1 || { echo "$BUSYBOX is not static (apt-get install busybox-static)"; return 1; }
	return 0
}

# A 12-hex-digit key over the given files' contents, the kernel and busybox identity.
_key() {
	{ cat "$@"; echo "$NESTED_KVER"; stat -c '%s %Y' "$NESTED_KERNEL" "$BUSYBOX"; } | sha256sum | cut -c1-12
}

# modinfo on the kernel's module tree (arm64: the one in the sysroot).
_modinfo() {
	if [ "$NESTED_ARCH" = arm64 ]; then
		modinfo -b "$ARM64_SYSROOT" "$@"
	else
		modinfo "$@"
	fi
}

# Visit module $1 and its dependencies (modinfo -F depends), appending to _order, deps first.
_mod_visit() {
	local d
	case " $_seen " in *" $1 "*) return 0 ;; esac
	_seen="$_seen $1"
	for d in $(_modinfo -k "$NESTED_KVER" -F depends "$1" | tr ',' ' '); do
		_mod_visit "$d" || return 1
	done
	_order="$_order $1"
}

# Copy module $1 (decompressed) to $2/mods/$1.ko; a built-in module is skipped.
_mod_copy() {
	local f
	f=$(_modinfo -k "$NESTED_KVER" -n "$1") || { echo "nested: module $1 not found" >&2; return 1; }
	case $f in
	*.ko.xz) xz -dc "$f" >"$2/mods/$1.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$2/mods/$1.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$2/mods/$1.ko" ;;
	*.ko) cp "$f" "$2/mods/$1.ko" ;;
	*) echo "nested: module $1 is $f (built in?), skipped" >&2; return 2 ;;
	esac
}

# _stage_modules DIR "name[ params]"...: modules plus dependencies into DIR/mods, load order in DIR/mods/order.
_stage_modules() {
	local dir spec name m p rc
	dir=$1; shift
	mkdir -p "$dir/mods"
	_seen=; _order=
	for spec in "$@"; do
		_mod_visit "${spec%% *}" || return 1
	done
	: >"$dir/mods/order"
	for m in $_order; do
		name=$(_modinfo -k "$NESTED_KVER" -F name "$m" 2>/dev/null)
		[ -n "$name" ] || name=$(echo "$m" | tr - _)
		_mod_copy "$m" "$dir" && rc=0 || rc=$?
		[ $rc -eq 2 ] && continue
		[ $rc -eq 0 ] || return 1
		[ "$name" = "$m" ] || mv "$dir/mods/$m.ko" "$dir/mods/$name.ko"
		p=
		for spec in "$@"; do
			case $spec in "$m "*) p=${spec#* } ;; esac
		done
		echo "$name $p" >>"$dir/mods/order"
	done
}

# The applets of $BUSYBOX, one a line. An arm64 busybox cannot run here: its applet name table
# ("[", "[[", "acpid", ... each NUL-terminated, then an empty name) is read from the file.
_bb_applets() {
	if [ "$NESTED_ARCH" = arm64 ]; then
		LC_ALL=C tr '\0' '\n' <"$BUSYBOX" | awk 'p == "[" && $0 == "[[" { on = 1; print "[" }
			on && $0 == "" { exit } on { print } { p = $0 }'
	else
		"$BUSYBOX" --list
	fi
}

# Busybox, its applet links and a console node into DIR.
_stage_busybox() {
	local a
	mkdir -p "$1/bin" "$1/dev" "$1/proc" "$1/sys" "$1/tmp" "$1/etc"
	cp "$BUSYBOX" "$1/bin/busybox"
	if [ "$NESTED_ARCH" = arm64 ] && [ "$(_bb_applets | wc -l)" -lt 100 ]; then
		echo "nested: no applet table found in $BUSYBOX" >&2
		return 1
	fi
	for a in $(_bb_applets); do
		[ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"
	done
	ln -sfn bin "$1/sbin"
	# /dev/console before devtmpfs is mounted; init mounts devtmpfs and reopens it anyway.
	mknod -m 600 "$1/dev/console" c 5 1 2>/dev/null || true
}

# _cpio DIR OUT: a newc archive of DIR, owned by root.
_cpio() {
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$2.$$.tmp" && mv "$2.$$.tmp" "$2"
}

# tool_files PROG GUESTPATH: a program (a path, or a name looked up in PATH, /usr/sbin and
#   /sbin) with its shared libraries and loader, as HOST:GUEST pairs (symlinks resolved).
tool_files() {
	local p l
	p=$(PATH=$PATH:/usr/sbin:/sbin command -v "$1") || return 1
	echo "$(readlink -f "$p"):$2"
	ldd "$p" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | while read -r l; do
		echo "$(readlink -f "$l"):$l"
	done
}

# stage_pairs DIR PAIR...: copy each HOST:GUEST into DIR.
stage_pairs() {
	local d pair
	d=$1; shift
	for pair in "$@"; do
		mkdir -p "$d$(dirname "${pair#*:}")"
		cp "${pair%%:*}" "$d${pair#*:}" || return 1
	done
}

# l1_initramfs OUT.cpio [HOSTPATH:GUESTPATH]...
#   The L1 initramfs: busybox, irqbypass/kvm/kvm-amd (nested=1)/tun (arm64: tun; KVM is built in), /init from l1_init.sh
#   (cached base archive), followed by an archive of the extra files (GUESTPATH absolute).
#   A GUESTPATH of /test.sh is what /init runs.
l1_initramfs() {
	local out base key stage pair h g
	out=$1; shift
	_nested_kernel || { echo "nested: no cloud kernel" >&2; return 1; }
	mkdir -p "$NB"
	key=$(_key "$NESTED_SRC/lib.sh" "$NESTED_SRC/l1_init.sh" "$NESTED_SRC/kvm_hold.c")
	base=$NB/l1-base-$key.cpio
	if [ ! -s "$base" ]; then
		rm -f "$NB"/l1-base-*.cpio
		stage=$(mktemp -d "$NB/stage-l1.XXXXXX") || return 1
		chmod 755 "$stage"
		_stage_busybox "$stage" || return 1
		if [ "$NESTED_ARCH" = arm64 ]; then
			_stage_modules "$stage" tun || return 1
		else
			_stage_modules "$stage" irqbypass kvm "kvm_amd nested=1" tun || return 1
		fi
		cp "$NESTED_SRC/l1_init.sh" "$stage/init" && chmod 755 "$stage/init"
		_kvm_hold "$stage/bin/kvm-hold" || { rm -rf "$stage"; return 1; }
		_cpio "$stage" "$base" || return 1
		rm -rf "$stage"
	fi
	stage=$(mktemp -d "$NB/stage-l1x.XXXXXX") || return 1
	chmod 755 "$stage"
	for pair in "$@"; do
		h=${pair%%:*}; g=${pair#*:}
		[ -e "$h" ] || { echo "nested: $h does not exist" >&2; rm -rf "$stage"; return 1; }
		mkdir -p "$stage$(dirname "$g")"
		ln "$h" "$stage$g" 2>/dev/null || cp "$h" "$stage$g" || { rm -rf "$stage"; return 1; }
	done
	_cpio "$stage" "$stage.cpio" && cat "$base" "$stage.cpio" >"$out"
	set -- $?
	rm -rf "$stage" "$stage.cpio"
	return "$1"
}

# _kvm_hold OUT: tests/nested/kvm_hold.c as a static program for L1's architecture (l1_init.sh
#   starts it: it keeps one VM open so that L1's KVM never switches virtualization off and on).
_kvm_hold() {
	local cc
	cc=${NESTED_CC:-musl-gcc}
	[ "$NESTED_ARCH" = arm64 ] && cc=$NESTED_ROOT/arm64/musl-gcc
	$cc -static -Os -Wall -Werror -o "$1" "$NESTED_SRC/kvm_hold.c" ||
		{ echo "nested: cannot build kvm_hold.c with $cc" >&2; return 1; }
}

# l1_run [-m MB] [-t TIMEOUT_S] CPIO
#   Boots L1 (QEMU/TCG, EPYC with SVM, 2 vCPUs; arm64: virt with EL2, GICv3, the PL011 console,
#   -cpu $L1_CPU, default max with QEMU's own pointer-authentication algorithm instead of QARMA,
#   which TCG emulates slowly: L1 boots 3-4 times faster) with the cloud kernel and CPIO; prints L1's
#   console, which is also kept in $L1_LOG (default build/nested/l1.log). Returns the status
#   from L1's "L1-EXIT=" line, or 125 if L1 died or timed out without one.
#   L1_INTERACTIVE=1 keeps stdin attached (for a shell in L1). L1_STALL=S kills L1 once its
#   console has been silent (or shown L1 kernel lines only, e.g. a soft lockup) for S seconds (l1_init.sh prints a heartbeat every 30 s); then
#   L1_STALLED="S s; QEMU at L0 busy N CPUs..." afterwards (else empty). l1_env judges the log.
l1_run() {
	local mb t cpio st log
	mb=${L1_MEM:-1536}; t=${L1_TIMEOUT:-900}
	while [ $# -gt 1 ]; do
		case $1 in
		-m) mb=$2; shift 2 ;;
		-t) t=$2; shift 2 ;;
		*) break ;;
		esac
	done
	cpio=$1
	_nested_kernel || { echo "nested: no cloud kernel" >&2; return 125; }
	log=${L1_LOG:-$NB/l1.log}
	mkdir -p "$(dirname "$log")"
	rm -f "$log.pid" "$log.stalled"
	if [ "$NESTED_ARCH" = arm64 ]; then
		set -- timeout -k 10 "$t" qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 \
			-cpu "${L1_CPU:-max,pauth-impdef=on}" -smp 2 -m "$mb" \
			-nodefaults -no-user-config -nographic -serial stdio -no-reboot -pidfile "$log.pid" \
			-kernel "$NESTED_KERNEL" -initrd "$cpio" -append "console=ttyAMA0 quiet panic=-1"
	else
		set -- timeout -k 10 "$t" qemu-system-x86_64 -M q35,accel=tcg -cpu EPYC,+svm -smp 2 -m "$mb" \
			-nodefaults -no-user-config -nographic -serial stdio -no-reboot -pidfile "$log.pid" \
			-kernel "$NESTED_KERNEL" -initrd "$cpio" -append "console=ttyS0 quiet panic=-1"
	fi
	[ "${L1_STALL:-0}" -gt 0 ] && _l1_watch "$log" "$L1_STALL" </dev/null >/dev/null 2>&1 &
	if [ "${L1_INTERACTIVE:-0}" = 1 ]; then
		{ "$@" 2>&1; echo "L0-QEMU-STATUS=$?"; } | tee "$log"
	else
		{ "$@" </dev/null 2>&1; echo "L0-QEMU-STATUS=$?"; } | tee "$log"
	fi
	L1_STALLED=
	if [ -e "$log.stalled" ]; then
		L1_STALLED="$L1_STALL s; $(cat "$log.stalled")"
		echo "nested: L1's console was silent for ${L1_STALL}s: L1 killed ($(cat "$log.stalled"))" >&2
		rm -f "$log.stalled"
	fi
	rm -f "$log.pid"
	st=$(tr -d '\r' <"$log" | sed -n 's/.*L1-EXIT=\([0-9][0-9]*\)$/\1/p' | tail -n 1)
	[ -n "$st" ] || return 125
	return "$st"
}

# l1_env LOG STATUS: after l1_run (STATUS its return), was this L1 boot an environment failure,
#   something no vmm can cause? Sets L1_ENV to the reason (empty: none) and L1_ENV_LINE to the
#   line of LOG where it shows (results before that line came from a healthy L1). In order:
#   the L1 kernel's own oops/BUG/panic/stall/lockup lines (L2 output relayed as "L2[...]| ", and
#   the test script's NESTED-/GUEST-/FLAKY- lines quoting it, are not L1's), L1-FROZE (l1_init.sh's
#   heartbeat: L1 as a whole did not run for 15 s or more), an L1-ENV line (a test script's own
#   finding: a failure shown to be L1's), the stall watchdog, no L1-READY (L1 never reached its test script), no
#   L1-EXIT line (L1 died or timed out). L2 triple faults and wrong L2 output are the vmm's.
l1_env() {
	local n l
	L1_ENV=; L1_ENV_LINE=
	n=$(wc -l <"$1")
	l=$(tr -d '\r' <"$1" | grep -anE "$L1_TROUBLE" | grep -avE '^[0-9]+:.*(L2\[[^]]*\]\| |NESTED-|GUEST-|FLAKY-)' | head -n 1)
	if [ -n "$l" ]; then
		L1_ENV_LINE=${l%%:*}
		l=$(echo "${l#*:}" | sed 's/^.*\(BUG: \|Oops\|Kernel panic\|rcu: \|watchdog: \|INFO: task\)/\1/' | cut -c1-100)
		L1_ENV="L1 kernel: $l"
	elif l=$(tr -d '\r' <"$1" | grep -an '^L1-FROZE ' | head -n 1) && [ -n "$l" ]; then
		L1_ENV_LINE=${l%%:*}
		L1_ENV="L1 froze: its 2 s sleep took ${l#*L1-FROZE }"
	elif l=$(tr -d '\r' <"$1" | grep -an '^L1-ENV ' | head -n 1) && [ -n "$l" ]; then
		# a test script in L1 saw a failure whose cause was shown to be L1's (it says which)
		L1_ENV_LINE=${l%%:*}
		L1_ENV=${l#*L1-ENV }
	elif [ -n "$L1_STALLED" ]; then
		L1_ENV="L1 stalled ${L1_STALLED}"
	elif ! grep -aq 'L1-READY' "$1"; then
		L1_ENV="L1 never reached its test script (status $2)"
		L1_ENV_LINE=0
	elif [ "$2" = 125 ]; then
		# QEMU's own status says how: 0 is L1 resetting itself (-no-reboot; a triple fault says
		# nothing on the console), 124 the timeout, 128+N a signal
		l=$(tr -d '\r' <"$1" | sed -n 's/^L0-QEMU-STATUS=//p' | tail -n 1)
		case $l in
		0) l="QEMU exited 0: L1 reset or powered off by itself" ;;
		124) l="the host's timeout ended QEMU" ;;
		'') l="QEMU's status unknown" ;;
		*) l="QEMU exited $l" ;;
		esac
		L1_ENV="L1 died without an L1-EXIT line ($l)"
	fi
	[ -n "$L1_ENV" ] && [ -z "$L1_ENV_LINE" ] && L1_ENV_LINE=$((n + 1))
	return 0
}
# The L1 kernel's console lines that mean L1 itself is broken (console loglevel 4 under quiet shows
# KERN_ERR and worse: oops, BUG, panic, RCU stalls, soft/hard lockups, hung tasks).
L1_TROUBLE='BUG: |Oops|Kernel panic|rcu: INFO|rcu_.*stall|self-detected stall|watchdog: BUG|soft lockup|hard LOCKUP|blocked for more than|general protection fault|stack guard page'

# l1_single NAME TAG TIMEOUT CPIO: one test in its own L1 (CPIO's /test.sh prints
#   "NESTED-RESULT PASS|FAIL NAME[: why]" and NESTED-NOTE NAME:/NESTED-TIME lines; the console goes
#   to $L1_LOG). An environment failure (l1_env) without a PASS boots L1 again, at most twice.
#   Prints NAME's PASS/FAIL line, its notes and times, and on a FAIL the last lines relayed from L2
#   ("L2[TAG]| ") and vmm ("vmm| "). Returns 1 on a FAIL.
l1_single() {
	local name tag t cpio try line log l1st
	name=$1; tag=$2; t=$3; cpio=$4
	try=0
	while :; do
		if [ "${NESTED_VERBOSE:-0}" = 1 ]; then
			l1_run -t "$t" "$cpio"
		else
			l1_run -t "$t" "$cpio" >/dev/null
		fi
		l1st=$?
		l1_env "$L1_LOG" "$l1st"
		log=$(tr -d '\r' <"$L1_LOG" | sed 's/.*\(NESTED-RESULT \|NESTED-NOTE \|NESTED-TIME \)/\1/')
		line=$(echo "$log" | sed -n "s/^NESTED-RESULT \(\(PASS\|FAIL\) $name\(:.*\)\{0,1\}\)\$/\1/p" | tail -n 1)
		case $line in PASS*) break ;; esac
		[ -n "$L1_ENV" ] || break
		if [ $try -ge 2 ]; then
			line="FAIL $name: environment failure persisted after 2 retries: $L1_ENV${line:+; ${line#FAIL $name: }}; see $L1_LOG"
			break
		fi
		try=$((try + 1))
		mv "$L1_LOG" "$L1_LOG.boot$try"
		env_note "$name" "$try" 2 "$L1_ENV"
	done
	[ -n "$line" ] || line="FAIL $name: no result (L1 status $l1st); see $L1_LOG"
	echo "$line"
	echo "$log" | sed -n "s/^NESTED-NOTE $name: /    note: /p"
	echo "$log" | sed -n 's/^NESTED-TIME /    time: /p'
	case $line in
	FAIL*)
		echo "$log" | sed -n "s/^\(L2\[$tag\]\|vmm\)| /    /p" | tail -n 20
		return 1 ;;
	esac
	return 0
}

# l1_suite SUITE TIMEOUT CPIO NAME...: the tests SUITE-NAME in one L1 boot (CPIO's /test.sh prints
#   "NESTED-RESULT PASS|FAIL|SKIP SUITE-NAME[: why]" for each, and NESTED-NOTE SUITE-NAME: and
#   NESTED-TIME lines; the console goes to $L1_LOG). An environment failure (l1_env) that can explain
#   a result other than PASS or SKIP, or a missing one, boots L1 again, at most twice. Sets L1_OUT
#   (the last boot's console, result lines unprefixed), L1_STATUS, L1_TRIES (boots less one) and
#   L1_ENV_FAIL (why, if the environment failure persisted). l1_verdict then reports each test.
l1_suite() {
	local suite t cpio n hit
	suite=$1; t=$2; cpio=$3; shift 3
	L1_TRIES=0; L1_ENV_FAIL=
	while :; do
		if [ "${NESTED_VERBOSE:-0}" = 1 ]; then
			l1_run -t "$t" "$cpio"
		else
			l1_run -t "$t" "$cpio" >/dev/null
		fi
		L1_STATUS=$?
		l1_env "$L1_LOG" "$L1_STATUS"
		L1_OUT=$(tr -d '\r' <"$L1_LOG" | sed 's/.*\(NESTED-RESULT \|NESTED-NOTE \|NESTED-TIME \|L1-READY \)/\1/')
		hit=0
		if [ -n "$L1_ENV" ]; then
			for n in "$@"; do
				echo "$L1_OUT" | grep -q "^NESTED-RESULT \(PASS\|SKIP\) $suite-$n\(:\|\$\)" || hit=1
			done
		fi
		[ $hit = 1 ] || return 0
		if [ "$L1_TRIES" -ge 2 ]; then
			L1_ENV_FAIL="environment failure persisted after 2 retries: $L1_ENV"
			return 0
		fi
		L1_TRIES=$((L1_TRIES + 1))
		mv "$L1_LOG" "$L1_LOG.boot$L1_TRIES"
		env_note "$suite" "$L1_TRIES" 2 "$L1_ENV"
	done
}

# l1_verdict SUITE NAME: SUITE-NAME's line from the last l1_suite boot (a FAIL if it has none) and its
#   notes. Returns 1 on a FAIL.
l1_verdict() {
	local line
	line=$(echo "$L1_OUT" | sed -n "s/^NESTED-RESULT \(\(PASS\|FAIL\|SKIP\) $1-$2\(:.*\)\{0,1\}\)\$/\1/p" | tail -n 1)
	[ -n "$line" ] || line="FAIL $1-$2: no result (L1 status $L1_STATUS); see $L1_LOG"
	case $line in FAIL*) [ -n "$L1_ENV_FAIL" ] && line="FAIL $1-$2: $L1_ENV_FAIL; ${line#FAIL "$1-$2": }" ;; esac
	echo "$line"
	echo "$L1_OUT" | sed -n "s/^NESTED-NOTE $1-$2: /    note: /p"
	case $line in FAIL*) return 1 ;; esac
	return 0
}

# env_note NAME TRY MAX REASON: the line tests/run.sh counts: retry TRY of MAX after an environment failure.
env_note() {
	echo "note: $1: environment failure ($4), retry $2 of $3"
}

# _l1_watch LOG S: kill the QEMU whose pid is in LOG.pid once LOG has not grown, but for L1 kernel lines, for S seconds.
_l1_watch() {
	local pid size last idle
	idle=0
	while [ ! -s "$1.pid" ]; do
		sleep 1
		idle=$((idle + 1))
		[ $idle -lt 60 ] || return 0
	done
	pid=$(cat "$1.pid")
	last=-1; idle=0
	while sleep 5 && kill -0 "$pid" 2>/dev/null; do
		size=$(stat -c %s "$1" 2>/dev/null || echo 0)
		# growth with nothing but L1 kernel lines (a soft lockup, repeated every 28 s) is no progress
		if [ "$size" != "$last" ] && { [ "$last" -lt 0 ] || tail -c +$((last + 1)) "$1" | head -c $((size - last)) |
			tr -d '\r' | grep -qv '^\[ *[0-9]*\.[0-9]*\] \|^$'; }; then
			idle=0
		else
			idle=$((idle + 5))
		fi
		last=$size
		[ $idle -lt "$2" ] && continue
		_l1_kill "$1" "$pid"
		return 0
	done
}

# _l1_kill LOG PID: note how busy the stalled QEMU was (LOG.stalled), and kill it.
_l1_kill() {
	local b0 b1
	# Spinning or waiting? QEMU's CPU time over 5 s (TCG runs each L1 vCPU in a thread
	# of its own: 2.0 = both vCPUs busy, about 0 = both halted and nothing wakes them).
	b0=$(_cpu_ticks "$2"); sleep 5; b1=$(_cpu_ticks "$2")
	echo "QEMU at L0 busy $(awk -v a="$b0" -v b="$b1" -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" \
		'BEGIN { printf "%.2f", (b - a) / hz / 5 }') CPUs in its last 5 s" >"$1.stalled"
	kill "$2"
}

# _cpu_ticks PID: user + system clock ticks of PID's threads so far (/proc/PID/stat fields 14, 15).
_cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# l2_images
#   Builds (or reuses) the L2 inputs and sets L2_BZIMAGE (the cloud kernel), L2_VMLINUX (its
#   uncompressed ELF, PVH note included) and L2_INITRD (busybox, virtio and pvpanic modules,
#   /init from l2_init.sh, /l2-lib.sh from l2_lib.sh, which every L2 /init sources).
#   arm64: sets L2_IMAGE (the kernel's arm64 Image, uncompressed) and L2_INITRD (busybox, the
#   virtio pci/mmio/blk/net modules, /init from tests/arm64/l2_init.sh, /l2-lib.sh).
l2_images() {
	local key stage
	_nested_kernel || { echo "nested: no cloud kernel" >&2; return 1; }
	mkdir -p "$NB"
	if [ "$NESTED_ARCH" = arm64 ]; then
		_l2_images_arm64
		return
	fi
	L2_BZIMAGE=$NESTED_KERNEL
	L2_VMLINUX=$NB/vmlinux-$NESTED_KVER
	[ -s "$L2_VMLINUX" ] || _extract_vmlinux "$NESTED_KERNEL" "$L2_VMLINUX" || return 1
	key=$(_key "$NESTED_SRC/lib.sh" "$NESTED_SRC/l2_init.sh" "$NESTED_SRC/l2_lib.sh")
	L2_INITRD=$NB/l2-$key.cpio
	[ -s "$L2_INITRD" ] && return 0
	rm -f "$NB"/l2-*.cpio
	stage=$(mktemp -d "$NB/stage-l2.XXXXXX") || return 1
	chmod 755 "$stage"
	_stage_busybox "$stage"
	_stage_modules "$stage" virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev \
		virtio_pci virtio_blk failover net_failover virtio_net pvpanic pvpanic_mmio || return 1
	cp "$NESTED_SRC/l2_init.sh" "$stage/init" && chmod 755 "$stage/init"
	cp "$NESTED_SRC/l2_lib.sh" "$stage/l2-lib.sh" || return 1
	_cpio "$stage" "$L2_INITRD" || return 1
	rm -rf "$stage"
}

_l2_images_arm64() {
	local key stage
	# Debian's 6.1 vmlinuz is the Image itself; a gzip-compressed one is unpacked
	L2_IMAGE=$NESTED_KERNEL
	if [ "$(od -An -tx1 -N2 "$NESTED_KERNEL" | tr -d ' ')" = 1f8b ]; then
		L2_IMAGE=$NB/Image-$NESTED_KVER
		[ -s "$L2_IMAGE" ] || { gzip -dc "$NESTED_KERNEL" >"$L2_IMAGE.$$.tmp" && mv "$L2_IMAGE.$$.tmp" "$L2_IMAGE"; } || return 1
	fi
	# the arm64 Image header's magic "ARM\x64" at offset 56
	[ "$(_le "$L2_IMAGE" 56 4)" = $((0x644d5241)) ] || { echo "nested: $L2_IMAGE is not an arm64 Image" >&2; return 1; }
	key=$(_key "$NESTED_SRC/lib.sh" "$NESTED_ROOT/tests/arm64/l2_init.sh" "$NESTED_SRC/l2_lib.sh")
	L2_INITRD=$NB/l2-$key.cpio
	[ -s "$L2_INITRD" ] && return 0
	rm -f "$NB"/l2-*.cpio
	stage=$(mktemp -d "$NB/stage-l2.XXXXXX") || return 1
	chmod 755 "$stage"
	_stage_busybox "$stage" || return 1
	_stage_modules "$stage" virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev \
		virtio_pci virtio_mmio virtio_blk failover net_failover virtio_net || return 1
	cp "$NESTED_ROOT/tests/arm64/l2_init.sh" "$stage/init" && chmod 755 "$stage/init"
	cp "$NESTED_SRC/l2_lib.sh" "$stage/l2-lib.sh" || return 1
	_cpio "$stage" "$L2_INITRD" || return 1
	rm -rf "$stage"
}

# Read an unsigned little-endian integer of $3 bytes at offset $2 of file $1.
_le() {
	od -An -tu"$3" -j "$2" -N "$3" "$1" | tr -d ' '
}

# _extract_vmlinux BZIMAGE OUT: the payload (setup header payload_offset/length) is legacy LZ4
# followed by a 4-byte uncompressed size, which is checked.
_extract_vmlinux() {
	local setup off len size
	setup=$(( ($(_le "$1" $((0x1f1)) 1) + 1) * 512 ))
	off=$(( setup + $(_le "$1" $((0x248)) 4) ))
	len=$(_le "$1" $((0x24c)) 4)
	size=$(tail -c +$((off + len - 3)) "$1" | head -c 4 | od -An -tu4 | tr -d ' ')
	tail -c +$((off + 1)) "$1" | head -c $((len - 4)) | lz4 -dc >"$2.$$.tmp" 2>/dev/null
	if [ "$(stat -c %s "$2.$$.tmp")" != "$size" ] || [ "$(head -c 4 "$2.$$.tmp" | od -An -c | tr -d ' ')" != "177ELF" ]; then
		echo "nested: could not extract vmlinux from $1 (not an LZ4 payload?)" >&2
		rm -f "$2.$$.tmp"
		return 1
	fi
	mv "$2.$$.tmp" "$2"
}

# l2_qemu [-s SMP] [-t TIMEOUT_S] [-d DISK] KERNEL APPEND
#   Runs the L2 kernel and L2_INITRD directly in QEMU/TCG at L0 (q35 with a pvpanic device),
#   to check the L2 initramfs without a vmm. Prints the console; returns QEMU's status
#   (with -action panic=exit-failure a guest panic is status 1).
#   arm64: -M virt with GICv3, -cpu max, console on the PL011, no pvpanic (not in Debian's arm64 kernel).
#   -d DISK adds a raw virtio-blk-pci disk.
l2_qemu() {
	local smp t disk k a
	smp=1; t=300; disk=
	while [ $# -gt 2 ]; do
		case $1 in
		-s) smp=$2; shift 2 ;;
		-t) t=$2; shift 2 ;;
		-d) disk=$2; shift 2 ;;
		*) break ;;
		esac
	done
	k=$1; a=$2; shift 2
	[ -z "$disk" ] || set -- -drive "file=$disk,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0
	if [ "$NESTED_ARCH" = arm64 ]; then
		timeout -k 10 "$t" qemu-system-aarch64 -M virt,gic-version=3 -cpu max,pauth-impdef=on -smp "$smp" -m 512 \
			-nodefaults -no-user-config -nographic -serial stdio -no-reboot "$@" \
			-kernel "$k" -initrd "$L2_INITRD" -append "console=ttyAMA0 $a" </dev/null
		return
	fi
	timeout -k 10 "$t" qemu-system-x86_64 -M q35,accel=tcg -cpu max -smp "$smp" -m 512 \
		-nodefaults -no-user-config -nographic -serial stdio -no-reboot \
		-device pvpanic -action panic=exit-failure "$@" \
		-kernel "$k" -initrd "$L2_INITRD" -append "console=ttyS0 $a" </dev/null
}
