/* tests/guest/mbhead.S: multiboot header (ELF form; with -DAOUT the a.out-kludge addresses, flag 16) and the 32-bit entry of mb.c. */
#define MB_MAGIC 0x1BADB002
#ifdef AOUT
#define MB_FLAGS 0x00010003		/* page-aligned modules, memory info, a.out addresses */
#else
#define MB_FLAGS 0x00000007		/* page-aligned modules, memory info, video (ignored) */
#endif

	.section .multiboot, "a"
	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT
	.long mb_header			/* header_addr */
	.long __load_start		/* load_addr */
	.long __load_end		/* load_end_addr */
	.long __bss_end			/* bss_end_addr */
	.long mb_start			/* entry_addr */
#else
	.long 0, 0, 0, 0, 0		/* a.out fields, unused without flag 16 */
	.long 0, 1024, 768, 32		/* video: mode_type, width, height, depth */
#endif

	.section .text.start, "ax"
	.code32
	.globl mb_start
mb_start:
	cli
	cld
	movl $stack_top, %esp
	pushl %ebx			/* multiboot info */
	pushl %eax			/* 0x2BADB002 */
	call mb_main
1:	hlt
	jmp 1b

	.section .data
	.balign 4
	.long 0x600df00d		/* .data is never empty: load_end_addr is the end of the file */

	.section .bss
	.balign 16
	.space 4096
stack_top:

	.section .note.GNU-stack, "", @progbits
