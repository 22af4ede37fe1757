/*
 * tests/guest/arm64/start.S: the arm64 Image header (Documentation/arch/arm64/booting.rst) and the
 * entries of the tiny guests: the boot CPU (x0 = device tree, MMU off, EL1, DAIF masked) and the
 * secondaries that PSCI CPU_ON starts (x0 = context id: the CPU's index). Each CPU gets a 16 KiB
 * stack; the vector table sends every exception to exc_handler (rt.c, a guest may override it).
 */
#define STACK_SIZE 0x4000

	.section .text.head, "ax"
	.globl _head
_head:
	b	_start              /* code0 */
	.long	0                   /* code1 */
	.quad	TEXT_OFFSET         /* text_offset: vmm loads the Image at RAM + this */
	.quad	_image_size         /* image_size: file plus bss and stacks (guest.ld) */
	.quad	0                   /* flags: little-endian, page size unspecified */
	.quad	0, 0, 0             /* res2-4 */
	.ascii	"ARM\x64"           /* magic */
	.long	0                   /* res5 */

	.text
	.globl _start
_start:
	/* what vmm handed over, before anything changes it: x0-x3, DAIF, CurrentEL, SCTLR_EL1, where we run */
	adr	x9, boot_state
	stp	x0, x1, [x9, #0]
	stp	x2, x3, [x9, #16]
	mrs	x10, daif
	mrs	x11, CurrentEL
	stp	x10, x11, [x9, #32]
	mrs	x10, sctlr_el1
	adr	x11, _head
	stp	x10, x11, [x9, #48]
	/* zero the bss (8-byte aligned stores: the MMU is off, all data is Device memory) */
	ldr	x10, =__bss_start
	ldr	x11, =__bss_end
1:	cmp	x10, x11
	b.hs	2f
	str	xzr, [x10], #8
	b	1b
2:	ldr	x10, =__stack_top
	mov	sp, x10
	ldr	x10, =vectors
	msr	vbar_el1, x10
	isb
	bl	main
	b	halt

	.globl secondary_entry
secondary_entry:
	/* x0 = the context id CPU 0 passed to CPU_ON: this CPU's index (1..MAX_CPUS-1) */
	ldr	x10, =__stack_top
	lsl	x11, x0, #14
	sub	sp, x10, x11
	ldr	x10, =vectors
	msr	vbar_el1, x10
	isb
	bl	secondary_main
	.globl halt
halt:
	msr	daifset, #0xf
3:	wfi
	b	3b

/* boot_state: x0, x1, x2, x3, DAIF, CurrentEL, SCTLR_EL1, the runtime address of _head */
	.data
	.balign 16
	.globl boot_state
boot_state:
	.fill	8, 8, 0

/* ---- the exception vector table: 16 entries of 0x80 bytes; a frame of x0-x30, ELR, SPSR ---- */
.macro vent type
	.balign	0x80
	sub	sp, sp, #272
	stp	x0, x1, [sp, #0]
	mov	x0, #\type
	b	vec_common
.endm

	.text
	.balign	0x800
	.globl vectors
vectors:
	vent 0
	vent 1
	vent 2
	vent 3
	vent 4
	vent 5
	vent 6
	vent 7
	vent 8
	vent 9
	vent 10
	vent 11
	vent 12
	vent 13
	vent 14
	vent 15

vec_common:
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x19, [sp, #144]
	stp	x20, x21, [sp, #160]
	stp	x22, x23, [sp, #176]
	stp	x24, x25, [sp, #192]
	stp	x26, x27, [sp, #208]
	stp	x28, x29, [sp, #224]
	mrs	x1, elr_el1
	mrs	x2, spsr_el1
	stp	x30, x1, [sp, #240]
	str	x2, [sp, #256]
	mov	x1, sp
	bl	exc_handler
	ldr	x2, [sp, #256]
	ldp	x30, x1, [sp, #240]
	msr	elr_el1, x1
	msr	spsr_el1, x2
	ldp	x2, x3, [sp, #16]
	ldp	x4, x5, [sp, #32]
	ldp	x6, x7, [sp, #48]
	ldp	x8, x9, [sp, #64]
	ldp	x10, x11, [sp, #80]
	ldp	x12, x13, [sp, #96]
	ldp	x14, x15, [sp, #112]
	ldp	x16, x17, [sp, #128]
	ldp	x18, x19, [sp, #144]
	ldp	x20, x21, [sp, #160]
	ldp	x22, x23, [sp, #176]
	ldp	x24, x25, [sp, #192]
	ldp	x26, x27, [sp, #208]
	ldp	x28, x29, [sp, #224]
	ldp	x0, x1, [sp, #0]
	add	sp, sp, #272
	eret
	.section .note.GNU-stack, "", %progbits
