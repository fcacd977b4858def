/*
 * user64.S: ring-3 code for case user64: 64-bit routines like user32.S's,
 * and 32-bit routines run in compatibility mode under the 64-bit kernel.
 */
	.text
	.code64
	.globl	user_add, user_int3, user_after_int3, user_cli, user_out

user_add:			/* RAX = RBX + RCX */
	leaq	(%rbx,%rcx), %rax
	jmp	user_done
user_int3:
	int3
user_after_int3:
	ud2
user_cli:
	cli
	jmp	user_done
user_out:
	outb	%al, $0x80
	jmp	user_done

	.code32
	.globl	compat_add, compat_read, compat_done
compat_add:			/* EAX = EBX + ECX, in compatibility mode */
	leal	(%ebx,%ecx), %eax
	jmp	compat_done
compat_read:			/* EAX = *(u32 *)EBX, in compatibility mode */
	movl	(%ebx), %eax
	jmp	compat_done
compat_done:
	ud2
