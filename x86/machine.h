/* x86/machine.h: the x86 machine's guest-physical memory map and the few other constants that differ by architecture (vmm.h includes it; the Makefile picks the architecture's). */
#ifndef MACHINE_H
#define MACHINE_H

/*
 *   [0, low_size)                 RAM (low_size <= MMIO_HOLE_START)
 *   [MMIO_HOLE_START, 4 GiB)      32-bit MMIO: PCI BARs, ECAM, IOAPIC, LAPIC
 *   [4 GiB, 4 GiB + high_size)    the rest of RAM
 * Both RAM parts live in one host mapping: host[0..low_size) then host[low_size..).
 */
#define MMIO_HOLE_START 0xC0000000ull
#define HIGH_RAM_START  0x100000000ull
#define PCI_MMIO_START  0xC0000000ull   /* 32-bit BARs */
#define PCI_MMIO_SIZE   0x20000000ull
#define PCI_ECAM_START  0xE0000000ull   /* bus 0 only: 1 MiB */
#define PCI_ECAM_SIZE   0x00100000ull
#define IOAPIC_ADDR     0xFEC00000ull
#define LAPIC_ADDR      0xFEE00000ull

/* GSIs below this belong to the IOAPIC's pins (their routes mirror its redirection entries). */
#define MSI_FIRST_GSI   24

/* How a legacy line (UART, PCI INTx) reaches the guest: our IOAPIC sends an MSI (sandbox/policy.c). */
#define IRQ_IOCTL       KVM_SIGNAL_MSI
#define IRQ_IOCTL_NAME  "KVM_SIGNAL_MSI"

/* What a vCPU thread reads to dump its registers on a failure (sandbox/policy.c). */
#define VCPU_DUMP_IOCTLS { SB_FD_VCPU, KVM_GET_REGS, "KVM_GET_REGS" }, \
	{ SB_FD_VCPU, KVM_GET_SREGS, "KVM_GET_SREGS" }

/* seccomp (sandbox/seccomp.c): the one syscall ABI allowed (x32 is refused), and a SIGSYS's arguments. */
#define SECCOMP_AUDIT_ARCH  AUDIT_ARCH_X86_64
#define SECCOMP_X32_BIT     0x40000000u
#define UC_ARG0(uc)         ((uc)->uc_mcontext.gregs[REG_RDI])
#define UC_ARG1(uc)         ((uc)->uc_mcontext.gregs[REG_RSI])
#define UC_ARG2(uc)         ((uc)->uc_mcontext.gregs[REG_RDX])

/* A syscall with no libc in between (the SIGSYS handler's only way out). */
static inline long machine_raw_syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

#endif
