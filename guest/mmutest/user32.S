/*
 * user32.S: ring-3 code for case user32 (the generic user_read/write/fetch
 * are in lib/trap32.S).  Each routine ends in an exception: the ud2 at
 * user_done when it finished, or the exception it is there to raise.
 */
	.text
	.code32
	.globl	user_add, user_int3, user_after_int3, user_cli, user_out

user_add:			/* EAX = EBX + ECX, computed at ring 3 */
	leal	(%ebx,%ecx), %eax
	jmp	user_done
user_int3:			/* #BP; the saved EIP is user_after_int3 */
	int3
user_after_int3:
	ud2
user_cli:			/* #GP(0): CLI at CPL 3 with IOPL 0 */
	cli
	jmp	user_done
user_out:			/* #GP(0): OUT at CPL 3, IOPL 0 and no I/O bitmap */
	outb	%al, $0x80
	jmp	user_done
