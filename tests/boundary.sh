#!/bin/sh
# tests/boundary.sh: devices depend on a narrow interface (guest memory view, kick/call fds, a log
# function), never on the VM: `nm -u` of each device object must name nothing of the VM, KVM, the
# PCI bus, MSI-X, the I/O registry or the interrupt controllers; the code that runs in a device
# process must not even touch struct vm's fields. Needs the objects of `make vmm`.
cd "$(dirname "$0")/.." || exit 2
O=build/rel
DEVICES="virtio/blk virtio/fs virtio/net virtio/vsock virtio/virtq virtio/dev virtio/vhost_user virtio/proc virtio/vu_front"
BACKEND="virtio/blk virtio/fs virtio/net virtio/virtq virtio/dev virtio/vhost_user virtio/proc"
FORBIDDEN='^(vm_|kvm_|vcpu_|pci_|msix_|io_|ioapic_|apic_|irqfd_|msi_|cpu_)'
if ! command -v nm >/dev/null; then
	echo "SKIP boundary-nm: nm missing (binutils)"
	exit 0
fi
for d in $DEVICES; do
	n=boundary-$(basename "$d")
	if [ ! -s "$O/$d.o" ]; then
		echo "FAIL $n: $O/$d.o not built (make vmm)"
		continue
	fi
	bad=$(nm -u "$O/$d.o" | awk '{print $2}' | grep -E "$FORBIDDEN" | tr '\n' ' ')
	if [ -n "$bad" ]; then echo "FAIL $n: reaches past its interface: $bad"; else echo "PASS $n"; fi
done
# the back-end side: the only way to the VM would be a struct vm field
bad=
for d in $BACKEND; do
	grep -n 'vm->' "$d.c" | sed "s|^|$d.c:|" | grep -q . && bad="$bad $d.c"
done
if [ -n "$bad" ]; then echo "FAIL boundary-backend-no-struct-vm: struct vm fields used in$bad"
else echo "PASS boundary-backend-no-struct-vm"; fi
