/* tests/nested/kvm_hold.c: L1's /bin/kvm-hold: keeps one empty KVM VM open for as long as L1 runs. */
/*
 * Why: Linux 6.1's KVM turns virtualization on in every CPU (an IPI to each: EFER.SVME on x86,
 * the EL2 vectors on arm64) when the first VM is created and off again when the last one goes.
 * Under QEMU/TCG that switch sometimes livelocks the level 1 as a whole: both vCPUs busy at L0, no
 * line from L1's heartbeat, seen about once in 150 VM starts, whichever VMM starts the VM. While
 * one VM exists KVM never switches, and in 900 starts with this program running L1 did not freeze.
 * No headers: KVM_CREATE_VM is _IO(KVMIO, 0x01) on every architecture (<linux/kvm.h>).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_CREATE_VM 0xAE01

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0 || ioctl(kvm, KVM_CREATE_VM, 0) < 0) {
		perror("kvm-hold");
		return 1;
	}
	for (;;)
		pause();
}
