#!/bin/sh
# tests/bench/run_qemu_vfs.sh KERNEL INITRD: QEMU doing vmm run's job for the start row of `make bench` (part run):
# virtiofsd shares / (tag vmm-root) over a vhost-user socket, QEMU (q35, vhost-user-fs-pci, guest RAM
# a shared memfd) boots KERNEL with INITRD (the initramfs vmm run builds: tests/bench/mkrun.c) and the
# command line vmm run gives; the guest's /init writes the command's status to isa-debug-exit, so
# QEMU exits (status << 1) | 1. Exits with QEMU's status; virtiofsd is gone by then.
# Env: VFS_SANDBOX (namespace: virtiofsd's -o sandbox=), QVFS_LOG (a file prefix: COM1 and COM2 and
# virtiofsd's messages go to PREFIX.com1, .com2 and .vfsd instead of nowhere).
S=/tmp/run-vfs.$$.sock
rm -f "$S"
vlog=/dev/null; c1=null; c2=null
if [ -n "$QVFS_LOG" ]; then vlog=$QVFS_LOG.vfsd; c1=file:$QVFS_LOG.com1; c2=file:$QVFS_LOG.com2; fi
/usr/lib/qemu/virtiofsd --socket-path="$S" -o source=/ -o cache=none -o sandbox="${VFS_SANDBOX:-namespace}" >"$vlog" 2>&1 &
v=$!
i=0
while [ ! -S "$S" ]; do
	if ! kill -0 $v 2>/dev/null || [ $i -ge 2000 ]; then
		echo "run_qemu_vfs: virtiofsd did not make its socket" >&2
		exit 125
	fi
	sleep 0.01
	i=$((i + 1))
done
qemu-system-x86_64 -M q35 -enable-kvm -cpu host -m 256 -object memory-backend-memfd,id=m,size=256M,share=on \
	-machine memory-backend=m -chardev socket,id=c,path="$S" -device vhost-user-fs-pci,chardev=c,tag=vmm-root \
	-kernel "$1" -initrd "$2" -append "console=ttyS1 quiet panic=-1 rdinit=/init" -serial "$c1" -serial "$c2" \
	-device isa-debug-exit,iobase=0xf4,iosize=1 -nodefaults -no-user-config -nographic -no-reboot </dev/null
st=$?
# virtiofsd ends when its vhost-user peer has gone; do not wait on one that does not
i=0
while kill -0 $v 2>/dev/null && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
kill $v 2>/dev/null
wait $v
rm -f "$S"
exit $st
