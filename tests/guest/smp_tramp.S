/* tests/guest/smp_tramp.S: AP start-up code that smp.c copies to TRAMP_BASE: real mode -> protected mode -> long mode -> ap_main. */
#define TRAMP_BASE 0x10000   /* SIPI vector 0x10; smp.c uses the same */
#define REL(x) ((x) - ap_tramp)
#define ABS(x) (TRAMP_BASE + REL(x))

	.section .data		/* copied before use, never executed in place; smp.c fills the slots */
	.globl ap_tramp, ap_tramp_end, ap_tramp_cr3, ap_tramp_entry, ap_tramp_stacks, ap_tramp_next
	.balign 16
	.code16
ap_tramp:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl REL(tr_gdt_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x18, $ABS(ap32)

	.code32
ap32:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $(1 << 5), %eax		/* PAE */
	movl %eax, %cr4
	movl ABS(ap_tramp_cr3), %eax	/* the BSP's page tables: identity map of 0-4 GiB */
	movl %eax, %cr3
	movl $0xC0000080, %ecx
	rdmsr
	orl $(1 << 8), %eax		/* EFER.LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax		/* PG: long mode active */
	movl %eax, %cr0
	ljmpl $0x08, $ABS(ap64)

	.code64
ap64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	/* Each AP takes the next stack: APs woken together by a broadcast SIPI run this at once. */
	movl $1, %eax
	lock xaddl %eax, ap_tramp_next(%rip)
	incl %eax
	shlq $12, %rax
	movq ap_tramp_stacks(%rip), %rsp
	addq %rax, %rsp
	movq ap_tramp_entry(%rip), %rax
	call *%rax
1:	cli
	hlt
	jmp 1b

	/* Same selectors as start.S for 0x08 (64-bit code) and 0x10 (data), so IDT gates work here too. */
	.balign 8
tr_gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: data */
	.quad 0x00cf9b000000ffff	/* 0x18: 32-bit code */
tr_gdt_desc:
	.word 31
	.long ABS(tr_gdt)
	.balign 8
ap_tramp_cr3:	.quad 0
ap_tramp_entry:	.quad 0
ap_tramp_stacks: .quad 0	/* base of 4 KiB stacks; AP n uses [base + n*4K, base + (n+1)*4K) */
ap_tramp_next:	.long 0
ap_tramp_end:

	.section .note.GNU-stack, "", @progbits
