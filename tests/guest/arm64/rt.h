/* tests/guest/arm64/rt.h: the tiny arm64 guests' runtime: UART output, PSCI, debug-exit, the device tree, exceptions. */
#ifndef RT_H
#define RT_H

#include <stdint.h>
#include <stdbool.h>

/* vmm's arm64 machine (arm64/machine.h) */
#define UART_BASE       0x09000000ul
#define DEBUG_EXIT_BASE 0x09010000ul
#define PVPANIC_BASE    0x09020000ul
#define GICD_BASE       0x08000000ul
#define GITS_BASE       0x08080000ul
#define GICR_BASE       0x080A0000ul
#define GICR_STRIDE     0x20000ul
#define PCI_ECAM_BASE   0x30000000ul
#define RAM_BASE        0x40000000ul
#define MAX_CPUS        8

/* PSCI function ids (SMCCC, through hvc #0) and results */
#define PSCI_VERSION        0x84000000ul
#define PSCI_CPU_OFF        0x84000002ul
#define PSCI_CPU_ON         0xc4000003ul
#define PSCI_AFFINITY_INFO  0xc4000004ul
#define PSCI_SYSTEM_OFF     0x84000008ul
#define PSCI_SYSTEM_RESET   0x84000009ul
#define PSCI_SUCCESS         0
#define PSCI_INVALID_PARAMS  (-2)
#define PSCI_ALREADY_ON      (-4)

/*
 * MMIO accessors: one plain load or store with a base register and no writeback, as Linux's
 * readl/writel. KVM can only hand an MMIO access to vmm when the fault's syndrome describes it
 * (ISV): a load/store pair or a post-indexed access the compiler might pick for a volatile
 * pointer has none, and KVM_RUN then fails with ENOSYS.
 */
#define MMIO_RW(n, t, sfx)                                                                        \
	static inline t r##n(uintptr_t a)                                                       \
	{                                                                                       \
		t v;                                                                            \
		__asm__ volatile("ldr" sfx " %w0, [%1]" : "=r"(v) : "r"(a) : "memory");     \
		return v;                                                                       \
	}                                                                                       \
	static inline void w##n(uintptr_t a, t v)                                               \
	{                                                                                       \
		__asm__ volatile("str" sfx " %w0, [%1]" : : "rZ"(v), "r"(a) : "memory");    \
	}
MMIO_RW(8, uint8_t, "b")
MMIO_RW(16, uint16_t, "h")
MMIO_RW(32, uint32_t, "")
static inline uint64_t r64(uintptr_t a)
{
	uint64_t v;
	__asm__ volatile("ldr %x0, [%1]" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline void w64(uintptr_t a, uint64_t v)
{
	__asm__ volatile("str %x0, [%1]" : : "rZ"(v), "r"(a) : "memory");
}

#define sysreg_read(r) ({ uint64_t v_; __asm__ volatile("mrs %0, " #r : "=r"(v_)); v_; })
#define sysreg_write(r, v) __asm__ volatile("msr " #r ", %0" : : "r"((uint64_t)(v)) : "memory")
static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void dsb(void) { __asm__ volatile("dsb sy" ::: "memory"); }

/* What vmm handed the boot CPU (start.S fills it before anything else runs). */
struct boot_state { uint64_t x[4], daif, current_el, sctlr, head; };
extern struct boot_state boot_state;

void putc(char c);
void puts(const char *s);            /* no newline added */
void put_hex(uint64_t v);            /* 0x... */
void put_dec(uint64_t v);
void say(const char *s);             /* s and a newline */
/* "NAME: what 0x..." on its own line */
void say_hex(const char *what, uint64_t v);
/* "guest FAIL: what" (the runner fails a test with such a line) */
void fail(const char *what);
void fail_hex(const char *what, uint64_t v);

long psci(uint64_t fn, uint64_t a, uint64_t b, uint64_t c);
/* debug-exit: vmm ends with (v << 1) | 1, if it was started with --debug-exit (else this returns) */
void debug_exit(uint32_t v);
void system_off(void) __attribute__((noreturn));
void halt(void) __attribute__((noreturn));
uint64_t cpu_index_mpidr(void);      /* MPIDR_EL1 affinity bits */

/* Timing from the virtual counter. */
static inline uint64_t counter(void) { isb(); return sysreg_read(cntvct_el0); }
static inline uint64_t counter_hz(void) { return sysreg_read(cntfrq_el0); }

/* The device tree (x0): checked header, the /cpus children's reg, /memory's reg, /chosen strings. */
bool fdt_ok(const void *fdt);
int fdt_cpus(const void *fdt, uint64_t *mpidr, int max);
bool fdt_memory(const void *fdt, uint64_t *base, uint64_t *size);
/* A property of /chosen: its value and length (-1: none). */
const void *fdt_chosen(const void *fdt, const char *prop, int *len);
uint32_t be32(const void *p);
uint64_t be64(const void *p);
bool streq(const char *a, const char *b);

/* Exceptions: type 0-15 (vector slot: 5 = IRQ at EL1 with SP_EL1), frame = x0-x30, ELR, SPSR.
 * The default prints ESR/ELR/FAR and ends the guest; a guest may define its own (weak). */
struct frame { uint64_t x[31], elr, spsr, pad; };
void exc_handler(uint64_t type, struct frame *f);
void exc_default(uint64_t type, struct frame *f);
#define VEC_IRQ 5   /* IRQ taken at EL1 on SP_EL1 */

/* GICv3: the CPU interface registers, the distributor and redistributor offsets used here */
#define ICC_SRE_EL1     S3_0_C12_C12_5
#define ICC_PMR_EL1     S3_0_C4_C6_0
#define ICC_BPR1_EL1    S3_0_C12_C12_3
#define ICC_IGRPEN1_EL1 S3_0_C12_C12_7
#define ICC_IAR1_EL1    S3_0_C12_C12_0
#define ICC_EOIR1_EL1   S3_0_C12_C12_1
#define sr_rd(r) sysreg_read(r)
#define sr_wr(r, v) sysreg_write(r, v)
#define GICD_CTLR       0x0000
#define GICD_TYPER      0x0004
#define GICD_IGROUPR    0x0080
#define GICD_ISENABLER  0x0100
#define GICD_IPRIORITYR 0x0400
#define GICD_IROUTER    0x6000
#define GICD_PIDR2      0xffe8
#define GICR_TYPER      0x0008
#define GICR_WAKER      0x0014
#define GICR_SGI        0x10000    /* the SGI frame after the RD frame */
#define GICR_IGROUPR0   0x0080
#define GICR_ISENABLER0 0x0100
#define GICR_IPRIORITYR 0x0400
/* The distributor on (affinity routing, group 1), this CPU's redistributor awake, the CPU interface
 * on (SRE, PMR 0xff, group 1); IRQs stay masked in DAIF. Returns the redistributor (0: none),
 * printing a guest FAIL line (and counting it in *fails) for each problem. */
uintptr_t gic_cpu_init(int *fails);
/* Wait for an interrupt with IRQs masked, then let pending ones in (no lost wake-up). */
static inline void wait_irq(void)
{
	__asm__ volatile("wfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
}

int main(void);
void secondary_main(uint64_t idx);
extern char secondary_entry[];

#endif
