/* cpu.c: what a vCPU is told about its CPU: CPUID (topology, APIC ID, x2APIC, the KVM leaves) and safe MSRs; then its LAPIC (apic/). */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "cpu.h"
#include "../kvm.h"
#include "../vm.h"
#include "../apic/apic.h"

#define CPUID_CAP_START 256
#define CPUID_CAP_MAX   4096
#define CPUID_SPARE     8        /* room for the 0xB/0x1F subleaves we add */

#define VENDOR_INTEL 0x756e6547u /* "Genu" */
#define VENDOR_AMD   0x68747541u /* "Auth" */
#define VENDOR_HYGON 0x6f677948u /* "Hygo" */

#define LEAF1_ECX_X2APIC   (1u << 21)
#define LEAF1_ECX_TSCDL    (1u << 24)
#define LEAF1_ECX_HYPERV   (1u << 31)
#define LEAF1_EDX_HTT      (1u << 28)
#define EXT1_ECX_CMPLEGACY (1u << 1)
#define EXT1_ECX_TOPOEXT   (1u << 22)

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1ull

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

/* Bits needed to number n items (ceil(log2(n))). */
static unsigned id_bits(unsigned n)
{
	unsigned b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static void fix_leaf1(struct kvm_cpuid_entry2 *e, unsigned n, unsigned id, bool tscdl)
{
	e->ebx = (e->ebx & 0xffff) | (id & 0xff) << 24;
	e->edx &= ~LEAF1_EDX_HTT;
	if (n > 1) {
		e->ebx |= (n > 255 ? 255 : n) << 16;
		e->edx |= LEAF1_EDX_HTT;
	}
	e->ecx |= LEAF1_ECX_X2APIC | LEAF1_ECX_HYPERV;
	if (tscdl)
		e->ecx |= LEAF1_ECX_TSCDL;
}

/* Leaf 4: ncpus cores per package; L1/L2 private to a core, L3 shared by all. */
static void fix_leaf4(struct kvm_cpuid_entry2 *e, unsigned n)
{
	unsigned level = (e->eax >> 5) & 7;

	if ((e->eax & 0x1f) == 0)
		return;
	e->eax &= ~(0xfc000000u | 0x03ffc000u);
	e->eax |= ((n > 64 ? 64 : n) - 1) << 26;
	if (level >= 3)
		e->eax |= ((n > 4096 ? 4096 : n) - 1) << 14;
}

/* Drop every entry of leaf fn. */
static void cpuid_remove(struct kvm_cpuid2 *c, uint32_t fn)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function != fn)
			c->entries[j++] = c->entries[i];
	c->nent = j;
}

/* Leaf 0xB/0x1F: level 0 SMT (1 thread), level 1 core (n), then the invalid level. */
static int add_topology(struct kvm_cpuid2 *c, unsigned cap, uint32_t fn, unsigned n, unsigned id)
{
	static const uint32_t type[3] = { 1, 2, 0 };

	cpuid_remove(c, fn);
	if (c->nent + 3 > cap)
		return -E2BIG;
	for (uint32_t sub = 0; sub < 3; sub++) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

		memset(e, 0, sizeof(*e));
		e->function = fn;
		e->index = sub;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->eax = sub == 1 ? id_bits(n) : 0;
		e->ebx = sub == 0 ? 1 : sub == 1 ? n : 0;
		e->ecx = type[sub] << 8 | sub;
		e->edx = id;
	}
	return 0;
}

/* AMD extended leaves: NC = n-1, legacy core counting, no TOPOEXT (0x8000001D/1E zeroed). */
static void fix_amd(struct kvm_cpuid2 *c, unsigned n, bool amd)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0x80000001, 0);

	if (e) {
		e->ecx &= ~(EXT1_ECX_TOPOEXT | EXT1_ECX_CMPLEGACY);
		if (amd && n > 1)
			e->ecx |= EXT1_ECX_CMPLEGACY;
	}
	e = cpuid_find(c, 0x80000008, 0);
	if (e && amd)
		e->ecx = (e->ecx & ~0xf0ffu) | ((n - 1) & 0xff) | id_bits(n) << 12;
	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 0x8000001d || e->function == 0x8000001e)
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
}

/* 0x40000000: "KVMKVMKVM\0\0\0", eax = highest KVM leaf present. */
static void fix_kvm_leaves(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0x40000000, 0);
	uint32_t max = 0x40000000;

	if (!e)
		return;
	for (uint32_t i = 0; i < c->nent; i++) {
		uint32_t f = c->entries[i].function;
		if (f > max && f <= 0x400000ff)
			max = f;
	}
	e->eax = max;
	e->ebx = 0x4b4d564b;   /* "KVMK" */
	e->ecx = 0x564b4d56;   /* "VMKV" */
	e->edx = 0x0000004d;   /* "M\0\0\0" */
}

/*
 * 0x80000002-4, the processor's name: KVM reports them as zeros, and a guest then calls its CPU
 * "AMD 17/01" (/proc/cpuinfo's model name). The host's own name is what a guest expects to see.
 */
static void fill_brand(struct kvm_cpuid2 *c)
{
	unsigned a, b, d, x;

	if (!__get_cpuid(0x80000000, &a, &b, &x, &d) || a < 0x80000004)
		return;
	for (uint32_t fn = 0x80000002; fn <= 0x80000004; fn++) {
		struct kvm_cpuid_entry2 *e = cpuid_find(c, fn, 0);

		if (e && !(e->eax | e->ebx | e->ecx | e->edx))
			__cpuid(fn, e->eax, e->ebx, e->ecx, e->edx);
	}
}

int cpu_cpuid_fixup(struct kvm_cpuid2 *c, unsigned cap, int ncpus, int id, bool tsc_deadline)
{
	struct kvm_cpuid_entry2 *l0 = cpuid_find(c, 0, 0), *e;
	unsigned n = ncpus < 1 ? 1 : (unsigned)ncpus, uid = (unsigned)id;
	uint32_t maxleaf = l0 ? l0->eax : 0;
	bool amd = l0 && (l0->ebx == VENDOR_AMD || l0->ebx == VENDOR_HYGON);
	int r = 0;

	if (id < 0 || c->nent > cap)
		return -EINVAL;
	if ((e = cpuid_find(c, 1, 0)))
		fix_leaf1(e, n, uid, tsc_deadline);
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 4)
			fix_leaf4(&c->entries[i], n);
	if (maxleaf >= 0xb)
		r = add_topology(c, cap, 0xb, n, uid);
	if (r == 0 && maxleaf >= 0x1f)
		r = add_topology(c, cap, 0x1f, n, uid);
	fix_amd(c, n, amd);
	fix_kvm_leaves(c);
	fill_brand(c);
	return r;
}

/* KVM_GET_SUPPORTED_CPUID into a fresh buffer with CPUID_SPARE free entries; *cap gets its capacity. */
static struct kvm_cpuid2 *supported_cpuid(struct vm *vm, unsigned *cap)
{
	for (unsigned n = CPUID_CAP_START; n <= CPUID_CAP_MAX; n *= 4) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (n + CPUID_SPARE) * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*cap = n + CPUID_SPARE;
			return c;
		}
		int e = errno;
		free(c);
		if (e != E2BIG) {
			fprintf(stderr, "vmm: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(e));
			return NULL;
		}
	}
	fprintf(stderr, "vmm: KVM_GET_SUPPORTED_CPUID: more than %u entries\n", CPUID_CAP_MAX);
	return NULL;
}

/* CPUID for vCPU v; *intel tells whether the host CPU is Intel's. */
static int setup_cpuid(struct vm *vm, struct vcpu *v, bool *intel)
{
	unsigned cap = 0;
	struct kvm_cpuid2 *c = supported_cpuid(vm, &cap);
	struct kvm_cpuid_entry2 *l0;
	int tscdl, r;

	if (!c)
		return -EIO;
	l0 = cpuid_find(c, 0, 0);
	*intel = l0 && l0->ebx == VENDOR_INTEL;
	tscdl = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER);
	r = cpu_cpuid_fixup(c, cap, vm->ncpus, v->id, tscdl > 0);
	if (r == 0)
		r = kvm_ioctl_named(v->fd, KVM_SET_CPUID2, c, "KVM_SET_CPUID2");
	free(c);
	return r < 0 ? r : 0;
}

/* Is msr in KVM_GET_MSR_INDEX_LIST? */
static bool msr_listed(struct vm *vm, uint32_t msr)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *l;
	bool found = false;

	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0 || errno != E2BIG || !probe.nmsrs)
		return false;
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	if (!l)
		return false;
	l->nmsrs = probe.nmsrs;
	if (kvm_ioctl_named(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l, "KVM_GET_MSR_INDEX_LIST") == 0)
		for (uint32_t i = 0; i < l->nmsrs && !found; i++)
			found = l->indices[i] == msr;
	free(l);
	return found;
}

union one_msr {
	struct kvm_msrs m;
	uint8_t raw[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
};

/* Firmware on Intel enables fast strings; Linux checks it. Only if KVM lists the MSR. */
static int setup_msrs(struct vm *vm, struct vcpu *v)
{
	union one_msr u;
	int r;

	if (!msr_listed(vm, MSR_IA32_MISC_ENABLE))
		return 0;
	memset(&u, 0, sizeof(u));
	u.m.nmsrs = 1;
	u.m.entries[0].index = MSR_IA32_MISC_ENABLE;
	r = kvm_ioctl_named(v->fd, KVM_GET_MSRS, &u.m, "KVM_GET_MSRS(IA32_MISC_ENABLE)");
	if (r != 1)
		return r < 0 ? r : -EIO;
	u.m.entries[0].data |= MISC_ENABLE_FAST_STRING;
	r = kvm_ioctl_named(v->fd, KVM_SET_MSRS, &u.m, "KVM_SET_MSRS(IA32_MISC_ENABLE)");
	if (r != 1)
		return r < 0 ? r : -EIO;
	return 0;
}

int cpu_vcpu_setup(struct vm *vm, struct vcpu *v)
{
	bool intel = false;
	int r = setup_cpuid(vm, v, &intel);

	if (r == 0)
		r = apic_lapic_setup(v);
	if (r == 0 && intel)
		r = setup_msrs(vm, v);
	return r;
}
