/* sandbox/landlock.c: Landlock: "deny all" (a ruleset with no rules, so no path can be opened after setup), or all but one directory tree (a virtio-fs export). */
#ifdef __linux__
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

/*
 * The Landlock UAPI (include/uapi/linux/landlock.h), written out because the
 * installed headers may predate the ABI the running kernel has.
 */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#define LL_RULE_PATH_BENEATH 1
#define LL_CREATE_RULESET_VERSION (1u << 0)

/* struct landlock_ruleset_attr grew: fs (ABI 1), net (ABI 4), scoped (ABI 6). */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define LL_FS_V1      ((1ull << 13) - 1)   /* EXECUTE .. MAKE_SYM */
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_READ    ((1ull << 2) | (1ull << 3))    /* READ_FILE, READ_DIR */
#define LL_FS_DEVICES ((1ull << 6) | (1ull << 11))   /* MAKE_CHAR, MAKE_BLOCK */
#define LL_FS_REFER   (1ull << 13)         /* ABI 2 */
#define LL_FS_TRUNC   (1ull << 14)         /* ABI 3 */
#define LL_FS_IOCTL   (1ull << 15)         /* ABI 5: IOCTL_DEV */
#define LL_NET_TCP    ((1ull << 0) | (1ull << 1))  /* ABI 4: BIND_TCP, CONNECT_TCP */
#define LL_SCOPE_ALL  ((1ull << 0) | (1ull << 1))  /* ABI 6: abstract unix sockets, signals */

/* Every right the kernel's ABI can handle; ABI 7 and later add no access rights we know of. */
static size_t ruleset_for_abi(long abi, struct ll_ruleset_attr *a)
{
	a->handled_access_fs = LL_FS_V1;
	if (abi >= 2)
		a->handled_access_fs |= LL_FS_REFER;
	if (abi >= 3)
		a->handled_access_fs |= LL_FS_TRUNC;
	if (abi >= 5)
		a->handled_access_fs |= LL_FS_IOCTL;
	a->handled_access_net = abi >= 4 ? LL_NET_TCP : 0;
	a->scoped = abi >= 6 ? LL_SCOPE_ALL : 0;
	if (abi >= 6)
		return sizeof(*a);
	if (abi >= 4)
		return offsetof(struct ll_ruleset_attr, scoped);
	return offsetof(struct ll_ruleset_attr, handled_access_net);
}

/* Disabled at boot (EOPNOTSUPP) counts as absent. */
static int ll_errno(int e)
{
	return (e == ENOSYS || e == EOPNOTSUPP) ? -ENOSYS : -e;
}

struct ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

int sandbox_landlock_beneath(const int *dirfds, const bool *ro, unsigned n)
{
	struct ll_ruleset_attr attr;
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	size_t size;
	int fd, r = 0;

	if (abi < 0)
		return ll_errno(errno);
	size = ruleset_for_abi(abi, &attr);
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0u);
	if (fd < 0)
		return ll_errno(errno);
	for (unsigned i = 0; i < n && !r; i++) {
		/* a guest may read, or change, files there; never execute them or make device nodes */
		uint64_t fs = attr.handled_access_fs & ~(LL_FS_EXECUTE | LL_FS_DEVICES | LL_FS_IOCTL);
		struct ll_path_beneath pb = { ro[i] ? LL_FS_READ : fs, dirfds[i] };
		if (syscall(SYS_landlock_add_rule, fd, LL_RULE_PATH_BENEATH, &pb, 0u) < 0)
			r = -errno;
	}
	if (!r && syscall(SYS_landlock_restrict_self, fd, 0u) < 0)
		r = -errno;
	close(fd);
	return r;
}

int sandbox_landlock_deny_all(void)
{
	return sandbox_landlock_beneath(NULL, NULL, 0);
}
#endif
