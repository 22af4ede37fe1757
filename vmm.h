/* vmm.h: guest-memory helpers, the I/O registry, struct options, exit codes and logging: what every file needs (struct vm is in vm.h). */
#ifndef VMM_H
#define VMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "mem.h"

#define VMM_VERSION "0.1.0"
#define MUST_CHECK __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exit statuses (README and --help list the same). */
enum {
	EXIT_GUEST_OFF = 0,   /* guest powered off or rebooted */
	EXIT_RUNTIME = 1,     /* KVM error, emulation failure */
	EXIT_USAGE = 2,       /* bad usage or bad input */
	EXIT_PANIC = 3,       /* guest panicked (pvpanic) */
	EXIT_TIMEOUT = 124,   /* --timeout expired */
};

/* A guest-physical address. Never a host pointer. */
typedef uint64_t gpa_t;

/*
 * The guest-physical memory map is the architecture's (x86/machine.h, arm64/machine.h): RAM is a
 * low part at gpa 0 (low_size, up to MMIO_HOLE_START) and a high part at HIGH_RAM_START, both
 * in one host mapping: host[0..low_size) then host[low_size..).
 */
#include "machine.h"

/*
 * Guest RAM as this process sees it. vmm's own VM: one host mapping, low part
 * then high part (nregions 0). A vhost-user back-end: up to GM_MAX_REGIONS
 * mappings the front-end handed over, each with the front-end's own address
 * for it (`ua`), which ring addresses are given in.
 */
#define GM_MAX_REGIONS 8
struct gm_region {
	gpa_t gpa;
	uint64_t size;
	uint8_t *host;
	uint64_t ua;
};

struct guest_mem {
	uint8_t *host;      /* host mapping of all RAM */
	uint64_t low_size;  /* bytes of RAM at gpa 0 */
	uint64_t high_size; /* bytes of RAM at gpa 4 GiB */
	unsigned nregions;  /* > 0: r[] describes RAM instead */
	struct gm_region r[GM_MAX_REGIONS];
};

/*
 * The one checked translation: a host pointer to [gpa, gpa+len) if the whole
 * range is RAM inside one part, else NULL. len 0 is treated as 1.
 */
static inline void *gm_ptr(const struct guest_mem *m, gpa_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	if (m->nregions) {
		for (unsigned i = 0; i < m->nregions && i < GM_MAX_REGIONS; i++) {
			const struct gm_region *r = &m->r[i];
			if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
				return r->host + (gpa - r->gpa);
		}
		return NULL;
	}
	if (gpa < m->low_size && len <= m->low_size - gpa)
		return m->host + gpa;
	if (gpa >= HIGH_RAM_START && gpa - HIGH_RAM_START < m->high_size &&
	    len <= m->high_size - (gpa - HIGH_RAM_START))
		return m->host + m->low_size + (gpa - HIGH_RAM_START);
	return NULL;
}

/* vmm's own RAM as runs of guest-physical memory, the empty part left out (arm64 has no low part). */
struct gm_part { gpa_t gpa; uint64_t size; uint8_t *host; uint64_t offset; /* in the RAM fd */ };
static inline unsigned gm_parts(const struct guest_mem *m, struct gm_part p[2])
{
	unsigned n = 0;

	if (m->low_size)
		p[n++] = (struct gm_part){ 0, m->low_size, m->host, 0 };
	if (m->high_size)
		p[n++] = (struct gm_part){ HIGH_RAM_START, m->high_size, m->host + m->low_size, m->low_size };
	return n;
}

/* Copy to/from guest memory; -EFAULT unless the whole range is RAM. */
int gm_read(const struct guest_mem *m, void *dst, gpa_t gpa, uint64_t len) MUST_CHECK;
int gm_write(const struct guest_mem *m, gpa_t gpa, const void *src, uint64_t len) MUST_CHECK;

/* ---- I/O registry: port I/O and MMIO, dispatched from vCPU exits ---- */
enum io_space { IO_PIO, IO_MMIO };

/*
 * A handler sees an access at `off` bytes into its region. On a read it sets
 * *val (low `size` bytes used); on a write *val holds the value. size is 1,2,4,8.
 * Handlers run under vm->io_lock.
 */
typedef void io_fn(void *opaque, uint64_t off, uint64_t *val, unsigned size, bool is_write);

struct io_region {
	enum io_space space;
	uint64_t base, len;
	io_fn *fn;
	void *opaque;
	const char *name;
};

#define IO_MAX_REGIONS 64
struct io_registry {
	struct io_region r[IO_MAX_REGIONS];
	int n;
};

/* Add a region; -EEXIST if it overlaps another in its space, -ENOSPC if full. */
int io_register(struct io_registry *io, enum io_space sp, uint64_t base, uint64_t len,
		io_fn *fn, void *opaque, const char *name) MUST_CHECK;
/* Move a region (PCI BAR reprogramming); -ENOENT if not found. */
int io_move(struct io_registry *io, enum io_space sp, void *opaque, uint64_t old_base,
	    uint64_t new_base) MUST_CHECK;
/*
 * Dispatch one access. Returns true if a region claimed it. An access that
 * starts in a region but runs past its end is rejected (returns false). An
 * unclaimed read yields all-ones in *val.
 */
bool io_dispatch(struct io_registry *io, enum io_space sp, uint64_t addr, uint64_t *val,
		 unsigned size, bool is_write);

/* ---- the command line (options.c fills it) ---- */
struct options {
	const char *kernel, *initrd, *append, *console;
	const char *dump_dtb;     /* --dump-dtb FILE (arm64) */
	uint64_t mem_size;
	int cpus;
	unsigned timeout;   /* seconds, 0 = none */
	unsigned shutdown_timeout;   /* SIGTERM: seconds between the power button and a hard stop */
	bool debug_exit, stats, no_sandbox;
	int verbose;
	const char *disks[8];
	int ndisks;
	const char *nets[8];
	int nnets;
	const char *vsock;   /* --vsock spec, NULL for none */
	const char *modules[8];   /* --module FILE[,CMDLINE] (multiboot) */
	int nmodules;
	const char *vhost_user[8];   /* --vhost-user SOCKET,type=blk */
	int vhost_user_type[8];      /* its enum vu_type */
	const char *vhost_user_tag[8];   /* type=fs,tag=NAME: the front-end gives the tag, or NULL */
	int nvhost_user;
	bool isolation_thread;    /* --device-isolation thread */
	bool crash_exit;          /* --on-device-crash exit */
	const char *serve;        /* --serve-vhost-user SOCKET */
	const char *shares[8];    /* --share HOSTDIR,tag=NAME[,ro] */
	int nshares;
	/* vmm run */
	bool run;
	const char *root;         /* --root DIR: the guest's root (default /) */
	const char *rw[7];        /* --rw DIR: writable from the guest */
	int nrw;
	char **cmd;               /* the command, NULL-terminated (argv's tail) */
	int ncmd;
};

#define MAX_CPUS 64   /* --cpus, the MADT, struct vm */

/* ---- logging ---- */
extern int vmm_verbose;
/* Setup failure: print "vmm: <msg>" and exit with `code`. */
noreturn void fatal(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Setup failure with ": strerror(errno)" appended. */
noreturn void fatal_errno(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A guest broke a rule: logged, rate limited, contained. */
void guest_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A guest-caused -v diagnostic, shown at verbosity >= level, rate limited with guest_warn. */
void guest_vlog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* -v diagnostics. */
void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
