/* vm.h: struct vm and struct vcpu, and the VM's lifecycle: set-up, the pin interrupts of legacy devices, how it ends. */
#ifndef VM_H
#define VM_H

#include "vmm.h"

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	uint64_t exits_io, exits_mmio, exits_other, exits_hlt, exits_eoi;
};

struct ioapic;
struct serial;
struct pci_bus;

#define MAX_GSI 256

struct vm {
	struct options opt;
	int kvm_fd, vm_fd;
	int mem_fd;
	enum ram_backing mem_backing;
	struct guest_mem mem;
	int ncpus;
	struct vcpu vcpu[MAX_CPUS];
	size_t run_size;

	pthread_mutex_t io_lock;   /* serialises slow-path device emulation */
	struct io_registry io;

	struct ioapic *ioapic;
	struct serial *serial;
	struct pci_bus *pci;

	/* MSI routing table mirrored to KVM_SET_GSI_ROUTING */
	pthread_mutex_t route_lock;
	struct { bool used; uint32_t addr_lo, addr_hi, data, flags, devid; } routes[MAX_GSI];

	/* How the VM ends: first writer wins. */
	atomic_int exit_code;      /* -1 while running */
	atomic_bool run_reported;  /* vmm run: the guest's /init gave its command's status */
	int stop_efd;              /* eventfd the main loop waits on */
};

/*
 * Ask the VM to stop with `code` (first caller wins) and wake the main loop.
 * Safe from any thread.
 */
void vm_request_exit(struct vm *vm, int code);

/* Raise/lower an IOAPIC pin (legacy devices). Safe from any thread. */
void vm_set_irq(struct vm *vm, unsigned pin, int level);

/* The parts of *vm that exist before KVM: exit_code -1, the locks, the stop eventfd. Exits on failure. */
void vm_init(struct vm *vm);

/* The code the VM ends with (first vm_request_exit wins), -1 while it runs. Safe from any thread. */
static inline int vm_exit_code(struct vm *vm)
{
	return atomic_load(&vm->exit_code);
}

#endif
