/* tests/bench/exit_arm64.S: the tiny arm64 guest of `make bench ARCH=arm64`'s start-up rows: an arm64
 * Image (the boot protocol's 64-byte header, Documentation/arch/arm64/booting.rst) whose first
 * instructions are PSCI SYSTEM_OFF (hvc #0 with x0 = 0x84000008), which KVM turns into
 * KVM_EXIT_SYSTEM_EVENT (shutdown): vmm-arm64 and QEMU -M virt both exit 0 on it.
 * Build: aarch64-linux-gnu-as -o exit_arm64.o exit_arm64.S && aarch64-linux-gnu-objcopy -O binary exit_arm64.o exit_arm64.img */
	.text
	.globl	_start
_start:
	b	1f			/* code0: branch past the header */
	.long	0			/* code1 */
	.quad	0			/* text_offset: at the 2 MiB-aligned base */
	.quad	4096			/* image_size */
	.quad	0xa			/* flags: little-endian, 4 KiB pages, anywhere in RAM */
	.quad	0, 0, 0			/* res2-res4 */
	.ascii	"ARM\x64"		/* magic at offset 56 */
	.long	0			/* res5 (no PE header) */
1:	movz	x0, #0x0008
	movk	x0, #0x8400, lsl #16	/* PSCI_0_2_FN_SYSTEM_OFF */
	hvc	#0
2:	wfi
	b	2b
