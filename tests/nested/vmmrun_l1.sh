#!/bin/sh
# tests/nested/vmmrun_l1.sh: /test.sh in L1 for nested-run-*: `vmm run` with L1's root shared into L2 (see vmmrun.sh).
# shellcheck disable=SC3043 # local: busybox ash has it
VMM_TIMEOUT=120
# shellcheck disable=SC1091 # written by vmmrun.sh
[ -f /nested.env ] && . /nested.env
export PATH=/bin:/usr/bin
result() { # NAME WHY: PASS when WHY is empty
	if [ -z "$2" ]; then echo "NESTED-RESULT PASS nested-run-$1"; else echo "NESTED-RESULT FAIL nested-run-$1:$2" | sed 's/:;/: /'; fi
}
note() { echo "NESTED-NOTE nested-run-$1: $2"; }
# RUN_ONLY="a b": only these tests (the rest say SKIP)
want() {
	case " ${RUN_ONLY:-$1} " in *" $1 "*) echo "RUN-START $1"; return 0 ;; esac
	echo "NESTED-RESULT SKIP nested-run-$1: not selected (RUN_ONLY)"
	return 1
}
# vr TAG [vmm run options and command...]: run it with stdin from /dev/null; status in $st, streams in /tmp/TAG.{out,err}
vr() {
	local tag t0
	tag=$1; shift
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout -s KILL $((VMM_TIMEOUT + 30)) vmm run --timeout "$VMM_TIMEOUT" "$@" </dev/null >"/tmp/$tag.out" 2>"/tmp/$tag.err"
	st=$?
	echo "NESTED-TIME run-$tag exit=$st seconds=$(awk "BEGIN{print $(cut -d' ' -f1 /proc/uptime) - $t0}")"
	sed "s/^/RUN-OUT[$tag]| /" "/tmp/$tag.err" | tail -n 15
}
# /manifest.sh DIR: every name under DIR with type, size, mode, link target and content hash, sorted (L1 and L2 run it)
cat >/manifest.sh <<'EOF'
cd "$1" && find . | LC_ALL=C sort | while read -r f; do
	if [ -L "$f" ]; then echo "$f link $(readlink "$f")"
	elif [ -d "$f" ]; then echo "$f dir $(stat -c %a "$f")"
	else echo "$f file $(stat -c '%s %a' "$f") $(sha256sum <"$f" | cut -c1-64)"; fi
done
EOF

mkdir -p /boot /data /out /jail/bin /stress
cp /l2/bzImage "/boot/vmlinuz-$(uname -r)"   # the default kernel: the running one's
cd /data || exit 1
# a tree with odd names, modes and links, read by tree and fs-qemu
mkdir -p /data/tree/a/b "/data/tree/sp ace" && head -c 300000 /dev/urandom >/data/tree/a/b/rand &&
	echo hello >"/data/tree/sp ace/f" && ln -s ../a/b/rand "/data/tree/sp ace/l" && chmod 751 /data/tree/a &&
	cp -a /lib/modules /data/tree/mods && : >/data/tree/empty

# status: the command's own status, and 127 for one that does not exist
if want status; then
why=
vr status sh -c 'exit 7'
[ "$st" = 7 ] || why="$why; sh -c 'exit 7' gave $st"
vr status2 /no/such/command
[ "$st" = 127 ] || why="$why; a missing command gave $st, not 127"
grep -q "no/such/command" /tmp/status2.err || why="$why; no message naming the missing command"
result status "$why"
fi

# streams: byte for byte, each on its own stream
if want streams; then
why=
vr streams sh -c 'printf "out 1\nout 2\n"; printf "err 1\n" >&2; printf "tail without newline"'
[ "$st" = 0 ] || why="$why; exit $st"
[ "$(od -c </tmp/streams.out)" = "$(printf 'out 1\nout 2\ntail without newline' | od -c)" ] ||
	why="$why; stdout differs: $(od -c </tmp/streams.out | head -n 3 | tr '\n' ' ')"
grep -q "^err 1$" /tmp/streams.err || why="$why; stderr has no 'err 1' line"
grep -q "out 1" /tmp/streams.err && why="$why; stdout leaked into stderr"
result streams "$why"
fi

# cwd-env: L1's working directory and environment, odd characters kept
if want cwd-env; then
why=
mkdir -p "/data/sub dir"
cd "/data/sub dir" || exit 1
ODD="a  b
c=d,e" vr cwd-env sh -c 'pwd; printf "%s|" "$ODD"; echo "$HOME"'
cd /data || exit 1
[ "$st" = 0 ] || why="$why; exit $st"
[ "$(cat /tmp/cwd-env.out)" = "$(printf '/data/sub dir\na  b\nc=d,e|%s' "$HOME")" ] ||
	why="$why; got: $(tr '\n' '~' </tmp/cwd-env.out)"
result cwd-env "$why"
fi

# tree: what L2 reads through virtio-fs is what L1 has (modules, busybox, a made tree with odd names)
if want tree; then
why=
sh /manifest.sh /data/tree >/tmp/tree.l1
(cd /data && tar cf - tree) | sha256sum >/tmp/tree.tar.l1
vr tree sh -c 'sh /manifest.sh /data/tree; cd /data && tar cf - tree | sha256sum >&2'
[ "$st" = 0 ] || why="$why; exit $st"
cmp -s /tmp/tree.l1 /tmp/tree.out || why="$why; manifests differ: $(diff /tmp/tree.l1 /tmp/tree.out | head -n 4 | tr '\n' ' ')"
grep -qx "$(cat /tmp/tree.tar.l1)" /tmp/tree.err || why="$why; tar c of the tree differs in L2"
[ "$(wc -l </tmp/tree.l1)" -gt 10 ] || why="$why; the tree is too small to tell anything"
result tree "$why"
fi

# rw: what L2 makes under --rw appears on L1; what it writes elsewhere stays in L2's overlay
if want rw; then
why=
vr rw --rw /out sh -c 'cd /out && echo one >f1 && chmod 640 f1 && mkdir -p d/e && head -c 70000 /dev/zero | tr "\0" x >d/e/big &&
	echo two >t && mv t d/moved && ln -s f1 sl && ln f1 hl && rm -f hl && echo gone >/data/should-not-exist && touch -d @1000000000 f1 && echo done'
[ "$st" = 0 ] || why="$why; exit $st"
[ "$(cat /out/f1 2>/dev/null)" = one ] || why="$why; /out/f1 wrong"
[ "$(stat -c %a /out/f1 2>/dev/null)" = 640 ] || why="$why; /out/f1 mode $(stat -c %a /out/f1 2>/dev/null)"
[ "$(stat -c %Y /out/f1 2>/dev/null)" = 1000000000 ] || why="$why; /out/f1 mtime $(stat -c %Y /out/f1 2>/dev/null)"
[ "$(wc -c </out/d/e/big 2>/dev/null)" = 70000 ] || why="$why; /out/d/e/big size wrong"
[ "$(cat /out/d/moved 2>/dev/null)" = two ] && [ ! -e /out/t ] || why="$why; rename wrong"
[ "$(readlink /out/sl 2>/dev/null)" = f1 ] || why="$why; symlink wrong"
[ -e /out/hl ] && why="$why; unlinked hard link still there"
[ -e /data/should-not-exist ] && why="$why; a write outside --rw reached L1"
grep -q done /tmp/rw.out || why="$why; no 'done'"
result rw "$why"
fi

# jail: --root /jail; the secret outside it must not be reachable from L2 in any way
if want jail; then
why=
echo TOPSECRET >/secret && chmod 644 /secret
cp /bin/busybox /jail/bin/busybox && for a in sh cat ls ln readlink echo; do ln -sf busybox "/jail/bin/$a"; done
ln -sf /secret /jail/abs && ln -sf ../../secret /jail/rel && mkdir -p /jail/w
cd /jail || exit 1
# L1 swaps /jail/w/d between a directory and a symlink to / while L2 reads d/secret (on the --rw share, mounted
# straight, not under the root's overlay, which does not expect its lower layer to change): never the real one
mkdir -p /jail/w/d && echo DECOY >/jail/w/d/secret
( d=/jail/w/d; while [ ! -e /tmp/swap.stop ]; do mv $d $d.dir; ln -s / $d; sleep 0.05; rm $d; mv $d.dir $d; sleep 0.05; done ) &
swp=$!
vr jail --root /jail --rw /jail/w sh -c 'cat /abs /rel /../secret /bin/../../secret 2>&1; ls -a /.. 2>&1;
	ln /abs /w/hard 2>&1; cat /w/hard 2>&1; ln -s /secret /w/s2 2>&1; cat /w/s2 2>&1;
	cat /proc/self/root/../secret 2>&1; cat /proc/1/root/secret 2>&1;
	i=0; while [ $i -lt 100 ]; do cat /w/d/secret /w/d/../secret /w/d/../../secret 2>/dev/null; i=$((i + 1)); done
	echo jail-done'
touch /tmp/swap.stop; wait $swp; rm -rf /jail/w/d /jail/w/d.dir
cd /data || exit 1
[ "$st" = 0 ] || why="$why; exit $st"
grep -q TOPSECRET /tmp/jail.out /tmp/jail.err && why="$why; the secret was read in L2"
grep -q DECOY /tmp/jail.out || why="$why; L2 never read d/secret while it was a directory (the race did not run)"
grep -q jail-done /tmp/jail.out || why="$why; no jail-done"
[ -e /jail/w/hard ] && [ "$(cat /jail/w/hard)" = TOPSECRET ] && why="$why; a hard link to the secret was made"
result jail "$why"
fi

# stress: a storm of creates, writes, renames and unlinks, then fio verify, on a --rw share
if want stress; then
why=
cat >/stress/storm.sh <<'EOF'
i=0
while [ $i -lt 300 ]; do
	d=/stress/s$((i % 7)); mkdir -p $d
	echo "file $i" >$d/f$i; mv $d/f$i $d/g$i
	[ $((i % 3)) = 0 ] && rm $d/g$i
	[ $((i % 50)) = 0 ] && ln -s g$i $d/l$i
	i=$((i + 1))
	[ $((i % 50)) = 0 ] && echo "storm-at $i uptime=$(cut -d' ' -f1 /proc/uptime)"
done
rm -rf /stress/s6
echo storm-done
EOF
vr stress --stats --rw /stress sh -c 'sh /stress/storm.sh && if [ -n "'"$FIO"'" ]; then
	fio --name=v --directory=/stress --size=8M --bs=4k --rw=randwrite --verify=crc32c --ioengine=psync \
		--numjobs=2 --output-format=terse >/dev/null && echo fio-ok; fi; echo "end uptime=$(cut -d" " -f1 /proc/uptime)"'
[ "$st" = 0 ] || why="$why; exit $st"
grep -q storm-done /tmp/stress.out || why="$why; the storm did not finish ($(grep storm-at /tmp/stress.out | tail -n 1 | grep . || echo 'storm-at 0'))"
[ -z "$FIO" ] || grep -q fio-ok /tmp/stress.out || why="$why; fio verify failed"
n=$(find /stress -name 'g*' | wc -l)
[ "$n" = 172 ] || why="$why; $n files left on L1, not 172"   # 300 - 100 removed - 28 in s6 (i%7=6, i%3!=0)
[ -e /stress/s6 ] && why="$why; rm -rf did not reach L1"
[ "$(cat /stress/s1/g1 2>/dev/null)" = "file 1" ] || why="$why; /stress/s1/g1 wrong"
[ "$(readlink /stress/s1/l50 2>/dev/null)" = g50 ] || why="$why; symlink l50 wrong"
note stress "$(grep -h 'storm-at\|^end' /tmp/stress.out | tr '\n' ' ')"
result stress "$why"
fi

# panic and timeout keep vmm's own statuses
if want panic; then
why=
vr panic sh -c 'echo c >/proc/sysrq-trigger; sleep 30'
[ "$st" = 3 ] || why="$why; a panic gave $st, not 3"
vr panic-timeout --timeout 3 sleep 60
[ "$st" = 124 ] || why="$why; --timeout gave $st, not 124"
grep -q "timeout" /tmp/panic-timeout.err || why="$why; no --timeout message"
result panic "$why"
fi

# fs-ps: one vmm-fs process per share while a command runs, with no KVM fd
if want fs-ps; then
why=
# the command keeps using the root share (cached inodes, open files) before and after the kill below
vmm run --timeout "$VMM_TIMEOUT" --rw /out sh -c 'want=$(sha256sum </data/tree/a/b/rand); echo ready >/out/ready; i=0
	exec 3</data/tree/sp\ ace/f
	while [ $i -lt 40 ]; do
		[ "$(sha256sum </data/tree/a/b/rand)" = "$want" ] || exit 9
		ls /data/tree/a >/dev/null || exit 8
		i=$((i + 1)); sleep 0.2
	done
	read -r line <&3 && [ "$line" = hello ] || exit 7
	echo loop-done' </dev/null >/tmp/ps.out 2>&1 &
vpid=$!
i=0
while [ ! -e /out/ready ] && [ $i -lt 600 ] && kill -0 $vpid 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
fs=$(for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = vmm-fs ] && echo "${p#/proc/}"; done)
[ "$(echo "$fs" | grep -c .)" = 2 ] || why="$why; $(echo "$fs" | grep -c .) vmm-fs processes, not 2 (root + --rw)"
for p in $fs; do
	ls -l "/proc/$p/fd" 2>/dev/null | grep -q kvm && why="$why; vmm-fs $p holds a KVM fd"
	grep -q "^Seccomp:[[:space:]]*2" "/proc/$p/status" || why="$why; vmm-fs $p is not in a seccomp filter"
done
# a vmm-fs killed under a running guest is replaced, and the guest's inodes and open files stay good
p=$(echo "$fs" | sort -n | head -n 1)   # the root share's, started first
[ -n "$p" ] && kill -9 "$p"
wait $vpid
st=$?
[ "$st" = 0 ] || why="$why; exit $st after the root share's vmm-fs was killed: $(tail -n 3 /tmp/ps.out | tr '\n' ' ')"
grep -q loop-done /tmp/ps.out || why="$why; the command did not finish its loop"
grep -q "was killed by signal 9 (SIGKILL); restarted it" /tmp/ps.out || why="$why; no restart line: $(grep -i vmm-fs /tmp/ps.out | head -n 2)"
rm -f /out/ready
result fs-ps "$why"
fi

# cc: L1's compiler, read by L2 through virtio-fs, builds and runs a program from the shared tree
if want cc; then
why=
if [ -z "$CC" ]; then
	echo "NESTED-RESULT SKIP nested-run-cc: no musl-gcc or strace on the host to stage a compiler from"
else
	vr cc sh -c 'cd /data/cc && musl-gcc -static -O2 -o /tmp/hello hello.c && /tmp/hello'
	[ "$st" = 0 ] || why="$why; exit $st"
	[ "$(cat /tmp/cc.out)" = "hello 42" ] || why="$why; output: $(head -c 200 /tmp/cc.out)"
	result cc "$why"
fi
fi

# check_fsq LOG: what vmmrun_l2.sh printed in LOG says it read the tree as L1 has it and wrote its file (appends to why)
check_fsq() {
	tr -d '\r' <"$1" | grep -q "^L2-FSQ-MOUNTED" || why="$why; L2 could not mount the share"
	got=$(tr -d '\r' <"$1" | sed -n 's/^L2-FSQ-MANIFEST //p')
	[ "$got" = "$(sh /manifest.sh /data/tree | sha256sum | cut -c1-64)" ] || why="$why; L2's manifest of the tree differs ($got)"
	[ "$(cat /data/fsq-dir/f 2>/dev/null)" = "written by QEMU's guest" ] || why="$why; the file L2 wrote is not on L1"
	tr -d '\r' <"$1" | grep -q "^L2-FSQ-UMOUNTED" || why="$why; L2 could not unmount"
	rm -rf /data/fsq-dir
}

# fs-qemu: QEMU's vhost-user-fs-pci as the front-end of vmm --serve-vhost-user --share, the Linux driver as the client
if want fs-qemu; then
why=
sock=/tmp/fsq.sock
cp /manifest.sh /data/manifest.sh
rm -rf /data/fsq-dir
{ vmm --serve-vhost-user $sock --share /data,tag=qt </dev/null >/tmp/fsq-vmm.out 2>&1; echo $? >/tmp/fsq-vmm.status; } &
spid=$!
i=0
while [ ! -S $sock ] && [ ! -s /tmp/fsq-vmm.status ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if [ -S $sock ]; then
	timeout -s KILL $((VMM_TIMEOUT + 30)) qemu-system-x86_64 -M q35,accel=kvm -cpu host -smp 1 -m 256M \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		-nodefaults -no-user-config -nographic -serial stdio -no-reboot \
		-chardev socket,id=c,path=$sock -device vhost-user-fs-pci,chardev=c,tag=qt \
		-kernel /l2/bzImage -initrd /l2/initrd-fsq.cpio -append "console=ttyS0 quiet panic=-1" \
		</dev/null >/tmp/fsq.out 2>&1
	st=$?
	sed 's/^/RUN-OUT[fs-qemu]| /' /tmp/fsq.out | tr -d '\r' | tail -n 15
	[ "$st" = 0 ] || why="$why; QEMU exit $st"
	i=0
	while [ ! -s /tmp/fsq-vmm.status ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(cat /tmp/fsq-vmm.status 2>/dev/null)" = 0 ] || why="$why; vmm --serve-vhost-user exit $(cat /tmp/fsq-vmm.status 2>/dev/null): $(head -n 2 /tmp/fsq-vmm.out | tr '\n' ' ')"
	check_fsq /tmp/fsq.out
else
	why="$why; vmm --serve-vhost-user made no socket: $(head -n 3 /tmp/fsq-vmm.out | tr '\n' ' ')"
fi
kill $spid 2>/dev/null; wait $spid 2>/dev/null
result fs-qemu "$why"
fi

# virtiofsd: vmm's vhost-user front-end on another back-end: QEMU's virtiofsd, which leaves the tag to the front-end
if want virtiofsd; then
why=
sock=/tmp/vfsd.sock
if [ -z "$VIRTIOFSD" ]; then
	echo "NESTED-RESULT SKIP nested-run-virtiofsd: no /usr/lib/qemu/virtiofsd on the host (qemu-system-common)"
else
	cp /manifest.sh /data/manifest.sh
	rm -rf /data/fsq-dir
	/usr/lib/qemu/virtiofsd --socket-path=$sock -o source=/data -o cache=none -o sandbox=chroot </dev/null >/tmp/vfsd.out 2>&1 &
	dpid=$!
	i=0
	while [ ! -S $sock ] && [ $i -lt 100 ] && kill -0 $dpid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	timeout -s KILL $((VMM_TIMEOUT + 30)) vmm --kernel /l2/bzImage --initrd /l2/initrd-fsq.cpio --timeout "$VMM_TIMEOUT" \
		--append "console=ttyS0 quiet panic=-1" --vhost-user $sock,type=fs,tag=qt </dev/null >/tmp/vfsd-l2.out 2>&1
	st=$?
	sed 's/^/RUN-OUT[virtiofsd]| /' /tmp/vfsd-l2.out | tr -d '\r' | tail -n 15
	sed 's/^/RUN-OUT[virtiofsd-d]| /' /tmp/vfsd.out | tail -n 5
	[ "$st" = 0 ] || why="$why; vmm exit $st"
	check_fsq /tmp/vfsd-l2.out
	kill $dpid 2>/dev/null; wait $dpid 2>/dev/null
fi
result virtiofsd "$why"
fi
