/*
 * start32.S: the multiboot header and the first instructions of a test
 * kernel.  The loader enters _start in 32-bit protected mode with paging
 * off, EAX = 0x2badb002 and EBX = the multiboot information; the GDTR and
 * IDTR it leaves are not to be trusted, so interrupts stay off until
 * boot32_main has loaded our own tables.
 */
#include "multiboot.h"

	.section .multiboot, "a"
	.balign	4
	.long	MB_HEADER_MAGIC
	.long	MB_HEADER_FLAGS
	.long	-(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

	.text
	.code32
	.globl	_start
_start:
	cli
	cld
	movl	$boot_stack_top, %esp
	pushl	%ebx			/* multiboot information */
	pushl	%eax			/* magic */
	call	boot32_main		/* does not return */
1:	hlt
	jmp	1b

	.bss
	.balign	16
boot_stack:
	.skip	16384			/* the kernel stack, of both halves */
boot_stack_top:
