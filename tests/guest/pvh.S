/* tests/guest/pvh.S: a PVH guest (Xen PHYS32 entry note): 32-bit protected mode, paging off, EBX = hvm_start_info; checks it, prints, powers off (built as ELF32 with -DDEBUG_EXIT: exits through port 0xf4). */
#define START_INFO_MAGIC 0x336ec578
#define COM1 0x3f8

	.section .note.Xen, "a", @note
	.balign 4
	.long 4				/* namesz */
	.long 4				/* descsz */
	.long 18			/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start

	.section .text.start, "ax"
	.code32
	.globl pvh_start
pvh_start:
	cli
	cld
	movl $stack_top, %esp
	movl %ebx, %ebp			/* hvm_start_info */
	movl $m_hello, %esi
	call puts

	movl %cr0, %eax
	movl $m_paging, %esi
	testl $0x80000000, %eax
	jnz fail
	movl $m_magic, %esi
	testl %ebp, %ebp
	jz fail
	cmpl $START_INFO_MAGIC, (%ebp)
	jne fail

	/* command line (cmdline_paddr at +24), printed between quotes */
	movl $m_cmd, %esi
	call puts
	movl 24(%ebp), %esi
	testl %esi, %esi
	jz 1f
	call puts
1:	movl $m_quote, %esi
	call puts

	/* ACPI RSDP (rsdp_paddr at +32) must carry its signature */
	movl $m_rsdp, %esi
	movl 32(%ebp), %edi
	testl %edi, %edi
	jz fail
	cmpl $0x20445352, (%edi)	/* "RSD " */
	jne fail
	cmpl $0x20525450, 4(%edi)	/* "PTR " */
	jne fail

	/* version 1+: a memory map (memmap_paddr +40, memmap_entries +48) */
	movl $m_memmap, %esi
	cmpl $1, 4(%ebp)
	jb fail
	cmpl $0, 48(%ebp)
	je fail
	cmpl $0, 40(%ebp)
	je fail

	movl $m_ok, %esi
	call puts
#ifdef DEBUG_EXIT
	movb $0x32, %al			/* --debug-exit: vmm exits with (0x32 << 1) | 1 = 101 */
	outb %al, $0xf4
#endif
	movb $0x34, %al			/* SLP_TYP 5 | SLP_EN */
	movw $0x600, %dx
	outb %al, %dx
2:	hlt
	jmp 2b

/* Print "guest FAIL: pvh: " and the string at ESI, then triple fault (empty IDT, ud2). */
fail:
	pushl %esi
	movl $m_fail, %esi
	call puts
	popl %esi
	call puts
	lidt idt_empty
	ud2

/* Polled COM1 output of the NUL-terminated string at ESI. */
puts:
	lodsb
	testb %al, %al
	jz 3f
	movb %al, %ah
	movl $100000, %ecx
	movw $COM1 + 5, %dx
4:	inb %dx, %al
	testb $0x20, %al
	loopz 4b
	movb %ah, %al
	movw $COM1, %dx
	outb %al, %dx
	jmp puts
3:	ret

	.section .rodata
idt_empty:	.word 0
		.long 0
m_hello:	.asciz "pvh: 32-bit entry\n"
m_cmd:		.asciz "pvh: cmdline '"
m_quote:	.asciz "'\n"
m_ok:		.asciz "pvh ok\n"
m_fail:		.asciz "guest FAIL: pvh: "
m_paging:	.asciz "entered with paging on\n"
m_magic:	.asciz "EBX does not point to an hvm_start_info (magic 0x336ec578)\n"
m_rsdp:		.asciz "no RSDP at rsdp_paddr\n"
m_memmap:	.asciz "start info version < 1 or empty memory map\n"

	.section .stack, "aw", @nobits
	.balign 16
	.space 4096
stack_top:

	.section .note.GNU-stack, "", @progbits
