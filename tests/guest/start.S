/* tests/guest/start.S: 64-bit entry of the test guests: own stack and GDT, zeroed bss, interrupt stubs. */

	.section .data
	.globl entry_rflags, entry_cs, entry_rsi
	.balign 8
entry_rflags:	.quad 0
entry_cs:	.quad 0
entry_rsi:	.quad 0

	/* Our own flat GDT, so we do not depend on where vmm put its own. */
	.balign 16
gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code, DPL0 */
	.quad 0x00cf93000000ffff	/* 0x10: data */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt

	.section .text.start, "ax"
	.code64
	.globl _start
_start:
	/* vmm sets no stack: take ours first (changes no flag), then record the entry state. */
	lea stack_top(%rip), %rsp
	pushfq
	popq entry_rflags(%rip)
	cli
	cld
	movw %cs, %ax
	movzwl %ax, %eax
	movq %rax, entry_cs(%rip)
	movq %rsi, entry_rsi(%rip)

	lgdt gdt_desc(%rip)
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	pushq $0x08
	lea 2f(%rip), %rax
	pushq %rax
	lretq
2:
	/* Zero .bss ourselves: correct even if the loader left p_memsz - p_filesz dirty. */
	lea __bss_start(%rip), %rdi
	lea __bss_end(%rip), %rcx
	subq %rdi, %rcx
	xorl %eax, %eax
	rep stosb

	movq entry_rsi(%rip), %rdi
	call guest_main
	call poweroff
3:	cli
	hlt
	jmp 3b

/* One 16-byte stub per vector (256): push a dummy error code where the CPU pushes none, then the vector. */
	.text
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
0:
	.if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.org 0b + 16, 0xcc		/* exactly 16 bytes: idt_init computes the addresses */
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi			/* 5 + 2 + 15 quadwords: RSP is 16-byte aligned here */
	cld
	call isr_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

/* The stack: not part of .bss (never zeroed), but inside the loaded image's p_memsz. */
	.section .stack, "aw", @nobits
	.balign 16
	.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
