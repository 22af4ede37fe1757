#!/bin/sh
# tests/bench/run_qemu_vfs.sh KERNEL INITRD: QEMU doing vmm run's job for the start row of `make bench` (part run):
# virtiofsd shares / (tag vmm-root) over a vhost-user socket, QEMU (vhost-user-fs-pci, guest RAM
# a shared memfd) boots KERNEL with INITRD (the initramfs vmm run builds: tests/bench/mkrun.c) and the
# command line vmm run gives; the guest's /init writes the command's status to isa-debug-exit, so
# QEMU exits (status << 1) | 1. Exits with QEMU's status; virtiofsd is gone by then.
# Env: QVFS_MACHINE (microvm: -M microvm,pcie=on,rtc=on, vhost-user-fs-pci on its PCIe host, qboot, a
# second ISA UART for ttyS1; q35: SeaBIOS, both UARTs built in), QVFS_APPEND (added to the command line), VFS_SANDBOX (namespace: virtiofsd's -o sandbox=), QVFS_LOG (a file prefix: COM1 and COM2 and
# virtiofsd's messages go to PREFIX.com1, .com2 and .vfsd instead of nowhere).
S=/tmp/run-vfs.$$.sock
rm -f "$S"
vlog=/dev/null; c1=null; c2=null; c2dev=null,id=s2
if [ -n "$QVFS_LOG" ]; then
	vlog=$QVFS_LOG.vfsd; c1=file:$QVFS_LOG.com1; c2=file:$QVFS_LOG.com2; c2dev=file,id=s2,path=$QVFS_LOG.com2
fi
if [ "${QVFS_MACHINE:-microvm}" = microvm ]; then
	set -- "$1" "$2" -M microvm,pcie=on,rtc=on -serial "$c1" -chardev "$c2dev" -device isa-serial,chardev=s2,iobase=0x2f8,irq=3
else
	set -- "$1" "$2" -M q35 -serial "$c1" -serial "$c2"
fi
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
kern=$1; ird=$2; shift 2
# a QEMU whose guest hangs (seen once in 7 rounds in L1) is killed after QVFS_TIMEOUT (100) s: status 137
timeout -s KILL "${QVFS_TIMEOUT:-100}" qemu-system-x86_64 "$@" -enable-kvm -cpu host -m 256 -object memory-backend-memfd,id=m,size=256M,share=on \
	-machine memory-backend=m -chardev socket,id=c,path="$S" -device vhost-user-fs-pci,chardev=c,tag=vmm-root \
	-kernel "$kern" -initrd "$ird" -append "console=ttyS1 quiet panic=-1 rdinit=/init${QVFS_APPEND:+ $QVFS_APPEND}" \
	-device isa-debug-exit,iobase=0xf4,iosize=1 -nodefaults -no-user-config -nographic -no-reboot </dev/null
st=$?
# virtiofsd ends when its vhost-user peer has gone; do not wait on one that does not
i=0
while kill -0 $v 2>/dev/null && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
kill $v 2>/dev/null
wait $v
rm -f "$S"
exit $st
