/* arm64/machine.h: the arm64 machine's guest-physical memory map and the few other constants that differ by architecture (vmm.h includes it; the Makefile picks the architecture's). */
#ifndef MACHINE_H
#define MACHINE_H

/*
 *   [0x08000000, +64K)     GICv3 distributor
 *   [0x08080000, +128K)    GICv3 ITS (its GITS_TRANSLATER is where MSIs are written)
 *   [0x080A0000, +128K*n)  GICv3 redistributors, one pair of 64K frames per vCPU
 *   [0x09000000, +4K)      16550A UART (COM1 of x86; the console), [0x09001000, +4K) the second
 *   [0x09010000, +4K)      debug-exit (a write of v ends the VM with (v << 1) | 1)
 *   [0x09020000, +4K)      pvpanic-mmio
 *   [0x10000000, +512M)    PCI memory (32-bit BARs)
 *   [0x30000000, +1M)      PCI ECAM, bus 0
 *   [0x40000000, +RAM)     RAM: all of it "high" (low_size 0): the kernel, then the initrd and the
 *                          device tree at the top
 */
#define MMIO_HOLE_START 0x0ull          /* no RAM at gpa 0 */
#define HIGH_RAM_START  0x40000000ull
#define GIC_DIST_BASE   0x08000000ull
#define GIC_DIST_SIZE   0x10000ull
#define GIC_ITS_BASE    0x08080000ull
#define GIC_ITS_SIZE    0x20000ull
#define GIC_REDIST_BASE 0x080A0000ull
#define GIC_REDIST_SIZE 0x20000ull      /* per vCPU */
#define UART_BASE       0x09000000ull
#define UART2_BASE      0x09001000ull
#define DEBUG_EXIT_BASE 0x09010000ull
#define PVPANIC_BASE    0x09020000ull
#define PCI_MMIO_START  0x10000000ull
#define PCI_MMIO_SIZE   0x20000000ull
#define PCI_ECAM_START  0x30000000ull
#define PCI_ECAM_SIZE   0x00100000ull

/* Interrupt lines (vm_set_irq's pins) are SPIs: pin N is GIC INTID 32 + N. */
#define UART_SPI        1
#define UART2_SPI       2
#define NR_SPIS         64
/* MSIs go through the ITS; no GSI is an interrupt controller pin. */
#define MSI_FIRST_GSI   0

/* How a legacy line (UART, PCI INTx) reaches the guest: an SPI level (sandbox/policy.c). */
#define IRQ_IOCTL       KVM_IRQ_LINE
#define IRQ_IOCTL_NAME  "KVM_IRQ_LINE"

/* A vCPU thread's own ioctls beyond KVM_RUN (sandbox/policy.c): its register dump on a failure, and the
 * external data abort it answers an MMIO access KVM cannot decode with (arm64/arch.c). */
#define VCPU_DUMP_IOCTLS { SB_FD_VCPU, KVM_GET_ONE_REG, "KVM_GET_ONE_REG" }, \
	{ SB_FD_VCPU, KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS" }

/* seccomp (sandbox/seccomp.c): the one syscall ABI allowed (no AArch32 compat), and a SIGSYS's arguments. */
#define SECCOMP_AUDIT_ARCH  AUDIT_ARCH_AARCH64
#define UC_ARG0(uc)         ((uc)->uc_mcontext.regs[0])
#define UC_ARG1(uc)         ((uc)->uc_mcontext.regs[1])
#define UC_ARG2(uc)         ((uc)->uc_mcontext.regs[2])

/* A syscall with no libc in between (the SIGSYS handler's only way out). */
static inline long machine_raw_syscall3(long nr, long a, long b, long c)
{
	register long x8 __asm__("x8") = nr, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}

#endif
