/* tests/unit/test_apic_kvm.c: the KVM glue of apic/ (routes, irqfd, MSI, caps, LAPIC) and cpu.c (CPUID, MSRs) against a fake ioctl(). */
#include <cpuid.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "apic/apic.h"
#include "cpu.h"
#include "vm.h"
#include "unit.h"

/* ---- the fake KVM: this definition of ioctl() overrides libc's for the whole test binary ---- */
static unsigned long fail_req;           /* this request fails with EINVAL */
static int ncalls, nroutes_calls, nmsr_sets;
static struct kvm_enable_cap caps[4];
static int ncaps;
static struct kvm_irq_routing_entry table[MAX_GSI];
static uint32_t table_nr;
static struct kvm_msi last_msi;
static int nmsi;
static struct kvm_irqfd last_irqfd;
static struct kvm_cpuid_entry2 host[64], set_cpuid[64];
static uint32_t nhost, nset_cpuid, cpuid_need;
static struct kvm_lapic_state lapic;
static uint32_t msr_index[4], nmsr_index;
static struct kvm_msr_entry last_msr_set;

static int fake_cpuid(struct kvm_cpuid2 *c)
{
	if (c->nent < nhost || c->nent < cpuid_need) {
		c->nent = nhost;
		errno = E2BIG;
		return -1;
	}
	memcpy(c->entries, host, nhost * sizeof(host[0]));
	c->nent = nhost;
	return 0;
}

static int fake_msr_list(struct kvm_msr_list *l)
{
	if (l->nmsrs < nmsr_index) {
		l->nmsrs = nmsr_index;
		errno = E2BIG;
		return -1;
	}
	l->nmsrs = nmsr_index;
	memcpy(l->indices, msr_index, nmsr_index * sizeof(msr_index[0]));
	return 0;
}

static int fake_kvm(unsigned long req, void *arg)
{
	switch (req) {
	case KVM_ENABLE_CAP:
		if (ncaps < 4)
			caps[ncaps++] = *(struct kvm_enable_cap *)arg;
		return 0;
	case KVM_SET_GSI_ROUTING: {
		struct kvm_irq_routing *r = arg;
		if (r->nr > MAX_GSI) { errno = EINVAL; return -1; }
		table_nr = r->nr;
		memcpy(table, r->entries, r->nr * sizeof(table[0]));
		nroutes_calls++;
		return 0;
	}
	case KVM_SIGNAL_MSI: last_msi = *(struct kvm_msi *)arg; nmsi++; return 1;
	case KVM_IRQFD: last_irqfd = *(struct kvm_irqfd *)arg; return 0;
	case KVM_GET_SUPPORTED_CPUID: return fake_cpuid(arg);
	case KVM_SET_CPUID2: {
		struct kvm_cpuid2 *c = arg;
		if (c->nent > 64) { errno = E2BIG; return -1; }
		nset_cpuid = c->nent;
		memcpy(set_cpuid, c->entries, c->nent * sizeof(set_cpuid[0]));
		return 0;
	}
	case KVM_GET_LAPIC: memset(arg, 0, sizeof(lapic)); return 0;
	case KVM_SET_LAPIC: lapic = *(struct kvm_lapic_state *)arg; return 0;
	case KVM_GET_MSR_INDEX_LIST: return fake_msr_list(arg);
	case KVM_GET_MSRS: ((struct kvm_msrs *)arg)->entries[0].data = 0x800; return 1;
	case KVM_SET_MSRS: last_msr_set = ((struct kvm_msrs *)arg)->entries[0]; nmsr_sets++; return 1;
	}
	errno = ENOTTY;
	return -1;
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	ncalls++;
	if (req == KVM_CHECK_EXTENSION)
		return (unsigned long)arg == KVM_CAP_TSC_DEADLINE_TIMER;
	if (fail_req && req == fail_req) {
		errno = EINVAL;
		return -1;
	}
	return fake_kvm(req, arg);
}

/* ---- helpers ---- */
static struct vm *new_vm(int ncpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	pthread_mutex_init(&vm->route_lock, NULL);
	pthread_mutex_init(&vm->io_lock, NULL);
	vm->ncpus = ncpus;
	vm->kvm_fd = 100;
	vm->vm_fd = 101;
	fail_req = 0;
	ncaps = nmsi = nroutes_calls = nmsr_sets = 0;
	table_nr = 0;
	cpuid_need = 0;
	return vm;
}

static const struct kvm_irq_routing_entry *table_find(uint32_t gsi)
{
	for (uint32_t i = 0; i < table_nr; i++)
		if (table[i].gsi == gsi)
			return &table[i];
	return NULL;
}

static void host_add(uint32_t fn, uint32_t idx, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	struct kvm_cpuid_entry2 *e = &host[nhost++];

	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->eax = a; e->ebx = b; e->ecx = c; e->edx = d;
	if (fn == 4 || fn == 0xb || fn == 0x1f || fn == 0x8000001d)
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
}

static void host_amd(void)
{
	nhost = 0;
	host_add(0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65);  /* AuthenticAMD */
	host_add(1, 0, 0x800f12, 0xff010800, 0x1, 0x178bfbff);
	host_add(0xb, 0, 1, 2, 0x100, 9);
	host_add(0xb, 1, 7, 128, 0x201, 9);
	host_add(0x40000000, 0, 0x40000001, 0, 0, 0);
	host_add(0x40000001, 0, 0x01007afb, 0, 0, 0);
	host_add(0x80000000, 0, 0x8000001f, 0, 0, 0);
	host_add(0x80000001, 0, 0, 0, (1u << 22) | (1u << 1) | 1u, 0);
	host_add(0x80000002, 0, 0, 0, 0, 0);   /* KVM gives no name: vmm fills in the host's */
	host_add(0x80000003, 0, 0, 0, 0, 0);
	host_add(0x80000004, 0, 0x11, 0x22, 0x33, 0x44);   /* a name KVM gave is kept */
	host_add(0x80000008, 0, 0x3030, 0, 0x7007 | (1u << 16), 0);
	host_add(0x8000001d, 0, 0x121, 0x3f, 0x3f, 0);
	host_add(0x8000001e, 0, 9, 0x104, 0, 0);
	nmsr_index = 2;
	msr_index[0] = 0x10;
	msr_index[1] = 0x1a0;
}

static void host_intel(void)
{
	nhost = 0;
	host_add(0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);  /* GenuineIntel */
	host_add(1, 0, 0x906ea, 0x05100800, 0, 0);
	host_add(4, 0, 0x121 | 7u << 26 | 1u << 14, 0, 0, 0);       /* L1d */
	host_add(4, 1, 0x163 | 7u << 26 | 15u << 14, 0, 0, 0);      /* L3 */
	host_add(4, 2, 0, 0, 0, 0);
	host_add(0xb, 0, 1, 2, 0x100, 5);
	host_add(0x1f, 0, 1, 2, 0x100, 5);
	host_add(0x1f, 1, 4, 8, 0x201, 5);
	host_add(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	host_add(0x40000001, 0, 0x1234, 0, 0, 0);
	host_add(0x80000001, 0, 0, 0, 0x121, 0);
	host_add(0x80000008, 0, 0x3027, 0, 0, 0);
	nmsr_index = 3;
	msr_index[0] = 0x10;
	msr_index[1] = 0x1a0;
	msr_index[2] = 0x6e0;
}

static const struct kvm_cpuid_entry2 *set_find(uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < nset_cpuid; i++)
		if (set_cpuid[i].function == fn && set_cpuid[i].index == idx)
			return &set_cpuid[i];
	return NULL;
}

static int set_count(uint32_t fn)
{
	int n = 0;
	for (uint32_t i = 0; i < nset_cpuid; i++)
		n += set_cpuid[i].function == fn;
	return n;
}

static uint32_t lapic_reg(unsigned off)
{
	uint32_t v;
	memcpy(&v, &lapic.regs[off], 4);
	return v;
}

/* Register r (0 eax .. 3 edx) of the real CPU's leaf fn, 0 if it has none. */
static uint32_t host_leaf(uint32_t fn, int r)
{
	unsigned v[4] = { 0, 0, 0, 0 }, max = __get_cpuid_max(fn & 0x80000000, NULL);

	if (max >= fn)
		__cpuid(fn, v[0], v[1], v[2], v[3]);
	return v[r];
}

/* ---- tests ---- */
static void test_addr_to_kvm(void)
{
	uint32_t lo = 1, hi = 1;

	CHECK(msi_addr_to_kvm(0xfee12000, &lo, &hi) && lo == 0xfee12000 && hi == 0);
	CHECK(msi_addr_to_kvm(0xfee0f00c, &lo, &hi) && lo == 0xfee0f00c && hi == 0);
	CHECK(msi_addr_to_kvm(0xfee340a0, &lo, &hi) && lo == 0xfee34000 && hi == 0x500);
	CHECK(msi_addr_to_kvm(0xfeeffff0, &lo, &hi) && lo == 0xfeeff010 && hi == 0x7f00);
	CHECK(!msi_addr_to_kvm(0x1fee00000ull, &lo, &hi));
	CHECK(!msi_addr_to_kvm(0xfed00000, &lo, &hi));
	CHECK(!msi_addr_to_kvm(0, &lo, &hi));
}

static void test_vm_setup(void)
{
	struct vm *vm = new_vm(2);

	CHECK(apic_vm_setup(vm) == 0);
	CHECK(ncaps == 2);
	CHECK(caps[0].cap == KVM_CAP_SPLIT_IRQCHIP && caps[0].args[0] == IOAPIC_PINS);
	CHECK(caps[1].cap == KVM_CAP_X2APIC_API &&
	      caps[1].args[0] == (KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK));
	fail_req = KVM_ENABLE_CAP;
	CHECK(apic_vm_setup(vm) == -EINVAL);
	free(vm);
}

static void test_gsi_alloc(void)
{
	struct vm *vm = new_vm(1);
	int a = msi_gsi_alloc(vm), b = msi_gsi_alloc(vm), n = 2, g;

	CHECK(a == IOAPIC_PINS && b == IOAPIC_PINS + 1);
	CHECK(nroutes_calls == 0);
	while ((g = msi_gsi_alloc(vm)) >= 0)
		n++;
	CHECK(g == -ENOSPC && n == MAX_GSI - IOAPIC_PINS);
	CHECK(msi_gsi_free(vm, a) == 0);
	CHECK(msi_gsi_free(vm, a) == -EINVAL);
	CHECK(msi_gsi_free(vm, 3) == -EINVAL);
	CHECK(msi_gsi_free(vm, MAX_GSI) == -EINVAL);
	CHECK(msi_gsi_alloc(vm) == a);
	CHECK(nroutes_calls == 0);
	free(vm);
}

static void test_routes(void)
{
	struct vm *vm = new_vm(1);
	int a = msi_gsi_alloc(vm), b = msi_gsi_alloc(vm);
	const struct kvm_irq_routing_entry *e;

	CHECK(msi_route_set(vm, a, 0xfee01000, 0x41) == 0);
	CHECK(nroutes_calls == 1 && table_nr == 1);
	e = table_find((uint32_t)a);
	CHECK(e && e->type == KVM_IRQ_ROUTING_MSI && e->u.msi.address_lo == 0xfee01000 &&
	      e->u.msi.address_hi == 0 && e->u.msi.data == 0x41 && e->flags == 0);
	CHECK(msi_route_set(vm, a, 0xfee01000, 0x41) == 0 && nroutes_calls == 1); /* unchanged */
	CHECK(msi_route_set(vm, b, 0xfee340a0, 0x42) == 0 && table_nr == 2);
	e = table_find((uint32_t)b);
	CHECK(e && e->u.msi.address_lo == 0xfee34000 && e->u.msi.address_hi == 0x500);
	CHECK(msi_route_set(vm, b + 1, 0xfee00000, 0x43) == -EINVAL);  /* not allocated */
	CHECK(msi_route_set(vm, -1, 0xfee00000, 0x43) == -EINVAL);
	CHECK(msi_route_set(vm, MAX_GSI, 0xfee00000, 0x43) == -EINVAL);
	/* A bad guest address removes the route. */
	CHECK(msi_route_set(vm, a, 0xdead0000, 0x41) == -EINVAL);
	CHECK(table_nr == 1 && !table_find((uint32_t)a) && vm->routes[a].used);
	/* KVM refusing the table leaves the mirror as KVM has it. */
	fail_req = KVM_SET_GSI_ROUTING;
	CHECK(msi_route_set(vm, a, 0xfee00000, 0x44) == -EINVAL);
	CHECK(vm->routes[a].addr_lo == 0);
	fail_req = 0;
	CHECK(msi_route_set(vm, a, 0xfee00000, 0x44) == 0 && table_nr == 2);
	CHECK(msi_route_clear(vm, b) == 0 && table_nr == 1 && !table_find((uint32_t)b));
	CHECK(msi_route_clear(vm, b) == 0);
	CHECK(msi_gsi_free(vm, a) == 0 && table_nr == 0);
	/* IOAPIC pins need no allocation. */
	CHECK(msi_route_set(vm, 5, 0xfee00000, 0xc045) == 0 && table_find(5));
	free(vm);
}

static void test_irqfd_and_signal(void)
{
	struct vm *vm = new_vm(1);

	CHECK(irqfd_assign(vm, 7, 30) == 0);
	CHECK(last_irqfd.fd == 7 && last_irqfd.gsi == 30 && last_irqfd.flags == 0);
	CHECK(irqfd_deassign(vm, 7, 30) == 0);
	CHECK(last_irqfd.flags == KVM_IRQFD_FLAG_DEASSIGN);
	CHECK(irqfd_assign(vm, 7, -1) == -EINVAL && irqfd_assign(vm, -1, 30) == -EINVAL);
	fail_req = KVM_IRQFD;
	CHECK(irqfd_assign(vm, 7, 30) == -EINVAL);
	fail_req = 0;
	CHECK(msi_signal(vm, 0xfee01000, 0x30) == 0 && nmsi == 1);
	CHECK(last_msi.address_lo == 0xfee01000 && last_msi.address_hi == 0 && last_msi.data == 0x30 &&
	      last_msi.flags == 0);
	CHECK(msi_signal(vm, 0x12340000, 0x30) == -EINVAL && nmsi == 1);
	free(vm);
}

static void test_ioapic_glue(void)
{
	struct vm *vm = new_vm(1);
	const struct kvm_irq_routing_entry *e;
	uint64_t v;

	CHECK(apic_ioapic_setup(vm) == 0 && vm->ioapic);
	CHECK(table_nr == 0 && nroutes_calls == 0);   /* edge entries need no route */
	/* Pin 4: level, vector 0x44, APIC 1, written through the I/O registry like a vCPU. */
	v = 0x11 + 8; CHECK(io_dispatch(&vm->io, IO_MMIO, IOAPIC_ADDR, &v, 4, true));
	v = 0x01000000; CHECK(io_dispatch(&vm->io, IO_MMIO, IOAPIC_ADDR + 0x10, &v, 4, true));
	v = 0x10 + 8; CHECK(io_dispatch(&vm->io, IO_MMIO, IOAPIC_ADDR, &v, 4, true));
	v = 0x44 | 1u << 15; CHECK(io_dispatch(&vm->io, IO_MMIO, IOAPIC_ADDR + 0x10, &v, 4, true));
	e = table_find(4);
	CHECK(e && e->u.msi.address_lo == 0xfee01000 && e->u.msi.data == (0x44 | 0xc000));
	ioapic_set_irq(vm->ioapic, 4, 1);
	CHECK(nmsi == 1 && last_msi.address_lo == 0xfee01000 && last_msi.data == (0x44 | 0xc000));
	ioapic_eoi(vm->ioapic, 0x44);   /* KVM_EXIT_IOAPIC_EOI while still asserted */
	CHECK(nmsi == 2);
	ioapic_set_irq(vm->ioapic, 4, 0);
	ioapic_eoi(vm->ioapic, 0x44);
	CHECK(nmsi == 2);
	v = 0; CHECK(io_dispatch(&vm->io, IO_MMIO, IOAPIC_ADDR + 0x10, &v, 4, false));
	CHECK(v == (0x44 | 1u << 15));
	CHECK(table_nr == 1 && nroutes_calls == 1);
	v = 0x44 | 1u << 15 | 1u << 16;   /* masking keeps the route (remote IRR may still be set) */
	CHECK(io_dispatch(&vm->io, IO_MMIO, IOAPIC_ADDR + 0x10, &v, 4, true));
	CHECK(table_nr == 1 && nroutes_calls == 1);
	v = 0x44;                         /* edge: route removed */
	CHECK(io_dispatch(&vm->io, IO_MMIO, IOAPIC_ADDR + 0x10, &v, 4, true));
	CHECK(table_nr == 0 && nroutes_calls == 2);
	CHECK(io_register(&vm->io, IO_MMIO, IOAPIC_ADDR + 0x800, 4, NULL, NULL, "x") == -EEXIST);
	ioapic_destroy(vm->ioapic);
	free(vm);
}

static void test_vcpu_amd(void)
{
	struct vm *vm = new_vm(3);
	struct vcpu *v = &vm->vcpu[2];
	const struct kvm_cpuid_entry2 *e;

	host_amd();
	v->id = 2;
	v->fd = 102;
	CHECK(cpu_vcpu_setup(vm, v) == 0);
	e = set_find(1, 0);
	CHECK(e && e->ebx >> 24 == 2 && ((e->ebx >> 16) & 0xff) == 3 && (e->ebx & 0xffff) == 0x0800);
	CHECK(e && (e->edx & 1u << 28) && (e->ecx & 1u << 21) && (e->ecx & 1u << 31) && (e->ecx & 1u << 24));
	CHECK(set_count(0xb) == 3 && set_count(0x1f) == 0);
	e = set_find(0xb, 0);
	CHECK(e && e->eax == 0 && e->ebx == 1 && e->ecx == 0x100 && e->edx == 2 &&
	      (e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX));
	e = set_find(0xb, 1);
	CHECK(e && e->eax == 2 && e->ebx == 3 && e->ecx == 0x201 && e->edx == 2);
	e = set_find(0xb, 2);
	CHECK(e && e->eax == 0 && e->ebx == 0 && e->ecx == 2 && e->edx == 2);
	e = set_find(0x80000001, 0);
	CHECK(e && !(e->ecx & 1u << 22) && (e->ecx & 1u << 1) && (e->ecx & 1));
	e = set_find(0x80000008, 0);
	CHECK(e && (e->ecx & 0xff) == 2 && ((e->ecx >> 12) & 0xf) == 2 && (e->ecx & 1u << 16));
	e = set_find(0x8000001e, 0);
	CHECK(e && !e->eax && !e->ebx && !e->ecx && !e->edx);
	e = set_find(0x40000000, 0);
	CHECK(e && e->eax == 0x40000001 && e->ebx == 0x4b4d564b && e->ecx == 0x564b4d56 && e->edx == 0x4d);
	e = set_find(0x40000001, 0);
	CHECK(e && e->eax == 0x01007afb);
	e = set_find(0x80000002, 0);
	CHECK(e && e->eax == host_leaf(0x80000002, 0) && e->edx == host_leaf(0x80000002, 3));
	e = set_find(0x80000004, 0);
	CHECK(e && e->eax == 0x11 && e->edx == 0x44);
	CHECK(lapic_reg(0x350) == 0x10700 && lapic_reg(0x360) == 0x400);
	CHECK(nmsr_sets == 0);   /* fast strings only on Intel */
	free(vm);
}

static void test_vcpu_intel(void)
{
	struct vm *vm = new_vm(1);
	struct vcpu *v = &vm->vcpu[0];
	const struct kvm_cpuid_entry2 *e;

	host_intel();
	cpuid_need = 300;        /* force the E2BIG retry */
	v->fd = 102;
	CHECK(cpu_vcpu_setup(vm, v) == 0);
	e = set_find(1, 0);
	CHECK(e && e->ebx >> 24 == 0 && ((e->ebx >> 16) & 0xff) == 0 && !(e->edx & 1u << 28));
	e = set_find(4, 0);
	CHECK(e && e->eax >> 26 == 0 && ((e->eax >> 14) & 0xfff) == 0 && (e->eax & 0x3fff) == 0x121);
	e = set_find(4, 1);
	CHECK(e && e->eax >> 26 == 0 && ((e->eax >> 14) & 0xfff) == 0);
	CHECK(set_count(0xb) == 3 && set_count(0x1f) == 3);
	e = set_find(0x1f, 1);
	CHECK(e && e->eax == 0 && e->ebx == 1 && e->ecx == 0x201 && e->edx == 0);
	e = set_find(0x80000008, 0);
	CHECK(e && e->ecx == 0);                      /* AMD-only field left alone */
	e = set_find(0x80000001, 0);
	CHECK(e && e->ecx == 0x121);                  /* no CmpLegacy on Intel */
	CHECK(nmsr_sets == 1 && last_msr_set.index == 0x1a0 && last_msr_set.data == 0x801);
	/* 4 CPUs: leaf 4 counts */
	vm->ncpus = 4;
	v = &vm->vcpu[3];
	v->id = 3;
	CHECK(cpu_vcpu_setup(vm, v) == 0);
	e = set_find(4, 0);
	CHECK(e && e->eax >> 26 == 3 && ((e->eax >> 14) & 0xfff) == 0);
	e = set_find(4, 1);
	CHECK(e && e->eax >> 26 == 3 && ((e->eax >> 14) & 0xfff) == 3);
	e = set_find(0xb, 1);
	CHECK(e && e->eax == 2 && e->ebx == 4 && e->edx == 3);
	/* MSR not listed: never set. */
	nmsr_index = 1;
	nmsr_sets = 0;
	CHECK(cpu_vcpu_setup(vm, v) == 0 && nmsr_sets == 0);
	free(vm);
}

static void test_vcpu_errors(void)
{
	struct vm *vm = new_vm(2);
	struct vcpu *v = &vm->vcpu[1];

	host_amd();
	v->id = 1;
	fail_req = KVM_SET_CPUID2;
	CHECK(cpu_vcpu_setup(vm, v) == -EINVAL);
	fail_req = KVM_GET_LAPIC;
	CHECK(cpu_vcpu_setup(vm, v) == -EINVAL);
	fail_req = KVM_GET_SUPPORTED_CPUID;
	CHECK(cpu_vcpu_setup(vm, v) < 0);
	free(vm);
}

int main(void)
{
	RUN(test_addr_to_kvm);
	RUN(test_vm_setup);
	RUN(test_gsi_alloc);
	RUN(test_routes);
	RUN(test_irqfd_and_signal);
	RUN(test_ioapic_glue);
	RUN(test_vcpu_amd);
	RUN(test_vcpu_intel);
	RUN(test_vcpu_errors);
	return UNIT_DONE();
}
