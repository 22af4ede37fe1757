/* tests/fuzz/fuzz_dev.h: free what virtio_dev_create and pci_init made, so a harness can build fresh devices for every input. */
#ifndef FUZZ_DEV_H
#define FUZZ_DEV_H
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "virtio/virtio.h"

/* A device that never started its thread: its eventfds, epoll, lock and memory. */
static void fuzz_free_dev(struct virtio_dev *d)
{
	for (unsigned i = 0; i < d->msix.n; i++)
		close(d->msix.v[i].efd);
	for (unsigned i = 0; i < d->ops->nqueues; i++)
		close(d->vq[i].kick_efd);
	close(d->epfd);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* The bus pci_init made and the VM's I/O lock. */
static void fuzz_free_bus(struct vm *vm)
{
	pthread_mutex_destroy(&vm->pci->intx_lock);
	free(vm->pci);
	pthread_mutex_destroy(&vm->io_lock);
}
#endif
