/* tests/fuzz/fuzz_uart.c: libFuzzer harness for the 16550A UART: register accesses of every width interleaved with console input. */
/*
 * Build: clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *        tests/fuzz/fuzz_uart.c dev/serial.c io.c log.c -o build/fuzz/fuzz_uart
 * Input: 3-byte operations (kind/size/port, two bytes of value); a console
 * input operation takes its bytes from the stream. A fresh UART per input,
 * transmitting to /dev/null. Checked besides memory safety: the IRQ line is
 * driven only on a change of level, on pin COM1_IRQ, and serial_rx never
 * accepts more than offered or more than the FIFO holds.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/dev.h"
#include "vm.h"
#include "le.h"

static int level = 0;
void vm_set_irq(struct vm *vm, unsigned pin, int l)
{
	(void)vm;
	if (pin != COM1_IRQ || l == level)
		__builtin_trap();
	level = l;
}
void vm_request_exit(struct vm *vm, int code) { (void)vm; (void)code; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static struct vm vm;
	static int null_fd = -2;
	struct serial *s;
	size_t off = 0;

	if (null_fd == -2) {
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		pthread_mutex_init(&vm.io_lock, NULL);
	}
	memset(&vm.io, 0, sizeof(vm.io));
	level = 0;
	s = serial_create(&vm, IO_PIO, COM1_PORT, COM1_IRQ, n & 1 ? null_fd : -1);
	if (!s)
		abort();
	while (off + 3 <= n) {
		const uint8_t *p = data + off;
		unsigned port = p[0] & 7, size = 1u << ((p[0] >> 3) & 3);
		uint64_t v = get_le16(p + 1);
		off += 3;
		switch (p[0] >> 5) {
		case 0: case 1: case 2:   /* a byte access, as Linux makes */
			io_dispatch(&vm.io, IO_PIO, COM1_PORT + port, &v, 1, p[0] & 0x40);
			break;
		case 3: case 4:           /* any width: runs across the next registers */
			io_dispatch(&vm.io, IO_PIO, COM1_PORT + port, &v, size, p[0] & 0x80);
			break;
		case 5: {                 /* console input: the next p[1] % 32 bytes */
			size_t len = p[1] % 32 < n - off ? p[1] % 32 : n - off;
			size_t got = serial_rx(s, data + off, len);
			if (got > len || got > 16)
				__builtin_trap();
			off += len;
			break;
		}
		case 6: {                 /* the main loop drains the "room again" eventfd */
			uint64_t c;
			if (read(serial_rx_space_fd(s), &c, sizeof(c)) < 0)
				(void)c;
			break;
		}
		default:                  /* a line's worth of output */
			for (unsigned i = 0; i < p[1] % 64; i++) {
				v = 'a' + i;
				io_dispatch(&vm.io, IO_PIO, COM1_PORT, &v, 1, true);
			}
		}
	}
	serial_destroy(s);
	return 0;
}
