/* vm.c: the VM's lifecycle: set-up before KVM, legacy pin interrupts, and how it ends (the first exit code wins). */
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vm.h"

void vm_init(struct vm *vm)
{
	atomic_init(&vm->exit_code, -1);
	pthread_mutex_init(&vm->io_lock, NULL);
	pthread_mutex_init(&vm->route_lock, NULL);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		fatal_errno(EXIT_RUNTIME, "eventfd");
}

void vm_request_exit(struct vm *vm, int code)
{
	int expected = -1;
	if (atomic_compare_exchange_strong(&vm->exit_code, &expected, code)) {
		uint64_t one = 1;
		if (write(vm->stop_efd, &one, sizeof(one)) < 0)
			_exit(code);
	}
}
