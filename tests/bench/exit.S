/* tests/bench/exit.S: the smallest guest: a PVH ELF whose 32-bit entry writes 0 to the debug-exit port 0xf4. */
	.section .note.Xen, "a"
	.balign 4
	.long 4, 4, 18            /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	movw $0xf4, %dx
	xorb %al, %al
	outb %al, %dx
1:	hlt
	jmp 1b
