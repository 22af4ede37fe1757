/* dev/pci.h: PCI bus 0 (host bridge, config space via 0xCF8/0xCFC and ECAM), the type-0 function model and MSI-X. */
#ifndef DEV_PCI_H
#define DEV_PCI_H

#include <stdio.h>

#include "../vmm.h"
/* pci.h itself needs only `struct vm;`; virtio/ still finds struct vm through virtio.h -> here */
#include "../vm.h"

#define PCI_SLOTS      32
#define PCI_CFG_SIZE   256     /* emulated config bytes; extended space reads 0 */
#define PCI_NUM_BARS   6
#define PCI_CFG_PORT   0xCF8   /* 0xCF8 address, 0xCF9 reset control, 0xCFC-0xCFF data */

/* Config space offsets and bits (PCI Local Bus 3.0). */
#define PCI_VENDOR_ID     0x00
#define PCI_COMMAND       0x04
#define PCI_STATUS        0x06
#define PCI_REVISION      0x08
#define PCI_HEADER_TYPE   0x0E
#define PCI_BAR0          0x10
#define PCI_SUBSYS_VENDOR 0x2C
#define PCI_CAP_PTR       0x34
#define PCI_INT_LINE      0x3C
#define PCI_CAP_START     0x40
#define PCI_CMD_IO        0x1
#define PCI_CMD_MEMORY    0x2
#define PCI_CMD_MASTER    0x4
#define PCI_STATUS_CAPS   0x10
#define PCI_BAR_MEM64     0x4

#define PCI_INT_PIN       0x3D
#define PCI_CMD_INTX_OFF  0x400

/* INTx wiring, as the DSDT's _PRT says: slot s, pin p (0 = INTA) -> IOAPIC pin 16 + ((s + p) & 7). */
#define PCI_INTX_GSI      16
static inline unsigned pci_intx_gsi(int slot, int pin)
{
	return PCI_INTX_GSI + (unsigned)((slot + pin) & 7);
}

#define PCI_CAP_ID_MSIX   0x11
#define PCI_CAP_ID_VNDR   0x09

struct pci_dev;

/* One memory BAR. The registry region's opaque is this struct (unique per BAR). */
struct pci_bar {
	uint64_t size;       /* power of two >= 4 KiB; 0 = BAR unused */
	bool is64;
	uint64_t mapped;     /* where the region is registered now */
	io_fn *fn;           /* the device's handler: off is relative to the BAR */
	void *opaque;
	struct pci_dev *dev;
};

/* A type-0 PCI function (function 0 of a slot on bus 0). */
struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may change */
	struct pci_bar bar[PCI_NUM_BARS];
	uint8_t cap_end;               /* next free capability offset */
	uint8_t cap_last;              /* offset of the last capability, 0 if none */
	int slot;                      /* -1 until pci_dev_register */
	struct vm *vm;
	const char *name;
	void *priv;
	/* Optional hooks, all called under vm->io_lock on a vCPU thread. */
	void (*cfg_read)(struct pci_dev *d, unsigned off, unsigned size);   /* before a read: refresh cfg[] */
	void (*cfg_write)(struct pci_dev *d, unsigned off, unsigned size);  /* after a write landed in cfg[] */
	void (*bar_moved)(struct pci_dev *d, int bar, uint64_t old_addr, uint64_t new_addr);
	bool intx[4];                  /* INTA-INTD asserted (pci_set_intx) */
	/* Optional: start threads (virtio_start) and print --stats. */
	int (*start)(struct pci_dev *d);
	void (*print_stats)(struct pci_dev *d, FILE *f);
};

struct pci_bus {
	struct vm *vm;
	struct pci_dev *dev[PCI_SLOTS];
	struct pci_dev host;          /* 00:00.0 */
	uint32_t cf8;                 /* latched config address */
	uint64_t next_mmio;           /* BAR pre-assignment cursor */
	pthread_mutex_t intx_lock;    /* shared INTx lines: update + drive together */
};

/*
 * Create bus 0 with the host bridge at 00:00.0 (8086:0d57, class 0x0600), claim
 * ports 0xCF8-0xCFF and the ECAM window [PCI_ECAM_START, +PCI_ECAM_SIZE), set
 * vm->pci. A byte write with bit 2 set to 0xCF9 (reset control) asks the VM to
 * exit with EXIT_GUEST_OFF. -errno on failure.
 */
int pci_init(struct vm *vm) MUST_CHECK;

/* Fill the read-only header of a fresh type-0 function (class = base<<16|sub<<8|progif). */
void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
/*
 * Declare memory BAR `i` of `size` bytes (a power of two >= 4096) served by
 * fn(opaque, offset into the BAR, ...). A 64-bit BAR also uses slot i+1.
 * -EINVAL on a bad index or size.
 */
int pci_bar_add(struct pci_dev *d, int i, uint64_t size, bool is64, io_fn *fn, void *opaque) MUST_CHECK;
/*
 * Append a capability (len bytes, len >= 2; bytes 0-1 are id and next and are
 * filled in here) to the list; returns its config offset or -ENOSPC. wmask
 * (may be NULL: all read-only) gives the guest-writable bits of the body.
 */
int pci_cap_add(struct pci_dev *d, const void *cap, unsigned len, const void *wmask) MUST_CHECK;
/*
 * Put d in the first free slot, assign its BARs naturally aligned inside
 * [PCI_MMIO_START, +PCI_MMIO_SIZE) and register them (memory decode starts
 * disabled, as after reset). Returns the slot or -ENOSPC / -errno.
 */
int pci_dev_register(struct vm *vm, struct pci_dev *d) MUST_CHECK;
/*
 * Assert or deassert INTx `pin` (0 = INTA) of a registered function. Lines are
 * shared (slots s and s+8 meet on one IOAPIC pin), so the wire is driven low
 * (active low, level) while any function on it asserts. Any thread.
 */
void pci_set_intx(struct pci_dev *d, int pin, bool asserted);
/*
 * Deassert all INTx pins of d: Interrupt Disable was set or MSI-X enabled
 * (PCI 3.0 6.2.2, 6.8.2). A device thread that asserts INTx checks both again
 * afterwards, so no line stays asserted that nothing clears. Any thread.
 */
void pci_release_intx(struct pci_dev *d);
/* The function in `slot`, or NULL. */
struct pci_dev *pci_dev_get(struct vm *vm, unsigned slot);

/*
 * One config access to bus 0 (devfn = slot<<3 | function, reg < 4096).
 * Misaligned or oversized accesses and absent functions read all-ones and
 * ignore writes. Exported for the ECAM/port handlers and tests. Caller holds io_lock.
 */
void pci_cfg_access(struct pci_bus *bus, unsigned devfn, unsigned reg, uint64_t *val,
		    unsigned size, bool is_write);

/*
 * Little-endian helpers on config bytes. Each byte is a relaxed atomic: vCPUs
 * write config space under io_lock while device threads read bits of it (the
 * command register, MSI-X control) without that lock.
 */
static inline uint32_t pci_cfg_get(const struct pci_dev *d, unsigned off, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++)
		v |= (uint32_t)__atomic_load_n(&d->cfg[off + i], __ATOMIC_RELAXED) << (8 * i);
	return v;
}
static inline void pci_cfg_put(struct pci_dev *d, unsigned off, unsigned size, uint32_t v)
{
	for (unsigned i = 0; i < size && off + i < PCI_CFG_SIZE; i++)
		__atomic_store_n(&d->cfg[off + i], (uint8_t)(v >> (8 * i)), __ATOMIC_RELAXED);
}

/* ---- MSI-X (dev/msix.c): table and PBA emulated, each usable vector an eventfd ---- */
#define MSIX_MAX_VECTORS 64

struct msix_vec {
	uint32_t addr_lo, addr_hi, data, ctrl;   /* the guest's table entry */
	int efd;           /* signalled by msix_notify; an irqfd while unmasked */
	int gsi;           /* -1 until first routed */
	bool attached;     /* irqfd assigned (or, without KVM, would be) */
	uint64_t routed_addr;
	uint32_t routed_data;
};

struct msix {
	struct vm *vm;
	struct pci_dev *dev;
	unsigned n;
	unsigned cap;                 /* config offset of the capability */
	bool kvm;                     /* false (vm_fd < 0, unit tests): no routes, no irqfds */
	struct msix_vec v[MSIX_MAX_VECTORS];
};

#define MSIX_TABLE_BYTES(n) ((n) * 16u)
#define MSIX_PBA_BYTES(n)   ((((n) + 63u) / 64u) * 8u)

/*
 * Set up n vectors (all masked, MSI-X disabled) with table at table_off and PBA
 * at pba_off of BAR `bar`, add the capability to d. The device's BAR handler
 * forwards those ranges to msix_table_io / msix_pba_io. -errno on failure.
 */
int msix_init(struct msix *m, struct pci_dev *d, unsigned n, int bar, uint32_t table_off,
	      uint32_t pba_off) MUST_CHECK;
/* Table accesses (aligned 4 or 8 bytes; others ignored/read 0). off is relative to the table. */
void msix_table_io(struct msix *m, uint64_t off, uint64_t *val, unsigned size, bool is_write);
/* PBA reads: a vector's bit is set while it has a message pending behind a mask. Writes ignored. */
void msix_pba_io(struct msix *m, uint64_t off, uint64_t *val, unsigned size, bool is_write);
/* The capability's message control was written: apply enable and function mask; enabling releases INTx. */
void msix_control_written(struct msix *m);
/*
 * Signal vector vec from any thread without locks: the vector's eventfd is
 * written; KVM delivers it through the irqfd if the vector is live, otherwise
 * it stays pending (PBA) until unmasked. Returns false if vec is out of range
 * (VIRTIO_MSI_NO_VECTOR included).
 */
bool msix_notify(struct msix *m, unsigned vec);
/* Drop messages pending behind masks (device reset). */
void msix_clear_pending(struct msix *m);
/* Whether the guest enabled MSI-X (then INTx must stay quiet). Any thread. */
bool msix_enabled(const struct msix *m);
/* Whether vector vec is enabled, unmasked and routed: tests and stats. */
bool msix_vector_live(const struct msix *m, unsigned vec);

#endif
