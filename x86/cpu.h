/* cpu.h: what a vCPU is told about its CPU: CPUID and MSRs (its LAPIC is set up from here too, by apic/). */
#ifndef CPU_H
#define CPU_H

#include "../vmm.h"

struct vm;
struct vcpu;
struct kvm_cpuid2;

/*
 * Per vCPU, after it is created and before it runs: CPUID from
 * KVM_GET_SUPPORTED_CPUID with topology (one package, ncpus cores, one thread
 * each), APIC ID = v->id, x2APIC, KVM leaves; LAPIC LVTs (apic_lapic_setup);
 * MISC_ENABLE fast strings on Intel if KVM lists that MSR. -errno (message
 * printed naming the ioctl).
 */
int cpu_vcpu_setup(struct vm *vm, struct vcpu *v) MUST_CHECK;

/*
 * Rewrite KVM_GET_SUPPORTED_CPUID output for vCPU `id` of `ncpus` (one package,
 * one thread per core): leaf 1 APIC ID/count/HTT/x2APIC/hypervisor (TSC
 * deadline if asked), leaf 4 core counts, leaves 0xB/0x1F rebuilt (if the max
 * basic leaf reaches them), AMD NC/CmpLegacy, TOPOEXT cleared with
 * 0x8000001D/1E zeroed, the KVM signature leaf. c has room for cap entries.
 * 0, -E2BIG if the added leaves do not fit, -EINVAL on bad arguments. Pure.
 */
int cpu_cpuid_fixup(struct kvm_cpuid2 *c, unsigned cap, int ncpus, int id, bool tsc_deadline) MUST_CHECK;

#endif
