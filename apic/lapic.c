/* apic/lapic.c: the local APICs in KVM: split irqchip + x2APIC API per VM; per vCPU the LVTs as firmware leaves them. */
#include <string.h>
#include <linux/kvm.h>

#include "apic.h"
#include "../kvm.h"
#include "../vm.h"

#define APIC_LVT0       0x350
#define APIC_LVT1       0x360
#define APIC_DM_NMI     0x400
#define APIC_DM_EXTINT  0x700
#define APIC_LVT_MASKED (1u << 16)

int apic_vm_setup(struct vm *vm)
{
	struct kvm_enable_cap cap;
	int r;

	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_SPLIT_IRQCHIP;
	cap.args[0] = IOAPIC_PINS;
	r = kvm_ioctl_named(vm->vm_fd, KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)");
	if (r < 0)
		return r;
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_X2APIC_API;
	cap.args[0] = KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;
	r = kvm_ioctl_named(vm->vm_fd, KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP(KVM_CAP_X2APIC_API)");
	return r < 0 ? r : 0;
}

/* LVTs as firmware leaves them with no PIC: LINT0 ExtINT masked, LINT1 NMI. */
int apic_lapic_setup(struct vcpu *v)
{
	struct kvm_lapic_state s;
	uint32_t lvt0 = APIC_DM_EXTINT | APIC_LVT_MASKED, lvt1 = APIC_DM_NMI;
	int r;

	r = kvm_ioctl_named(v->fd, KVM_GET_LAPIC, &s, "KVM_GET_LAPIC");
	if (r < 0)
		return r;
	memcpy(&s.regs[APIC_LVT0], &lvt0, sizeof(lvt0));
	memcpy(&s.regs[APIC_LVT1], &lvt1, sizeof(lvt1));
	r = kvm_ioctl_named(v->fd, KVM_SET_LAPIC, &s, "KVM_SET_LAPIC");
	return r < 0 ? r : 0;
}
