/*
 * trap32.S: exception entry, trap_catch() and ring-3 entry for 32-bit code.
 *
 * Each vector has a stub that makes the stack look the same for all of them
 * (a 0 error code where the CPU pushes none, then the vector number), saves
 * the registers and calls trap_dispatch(frame) with the kernel's data
 * segments loaded.  If trap_dispatch returns, the registers are restored and
 * IRET retries or resumes the interrupted code.
 */
#include "desc.h"

	.text
	.code32

/* Vectors whose exceptions push an error code: 8, 10-14, 17, 21, 29, 30. */
.macro STUB vec
trap_stub_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushl	$0
	.endif
	pushl	$\vec
	jmp	trap_common
.endm

.altmacro
.macro STUBS from, to
	STUB	\from
	.if \to - \from
	STUBS	%(\from + 1), \to
	.endif
.endm
	STUBS	0, 63
	STUBS	64, 127
	STUBS	128, 191
	STUBS	192, 255

trap_common:
	pushal
	pushl	%ds
	pushl	%es
	movl	$SEL_KDATA, %eax
	movw	%ax, %ds
	movw	%ax, %es
	cld
	pushl	%esp			/* struct trap_frame * */
	call	trap_dispatch
	addl	$4, %esp
	popl	%es
	popl	%ds
	popal
	addl	$8, %esp		/* vector and error code */
	iret

	.section .rodata
	.globl	trap_stubs
	.balign	4
.macro STUBADDR from, to
	.long	trap_stub_\from
	.if \to - \from
	STUBADDR %(\from + 1), \to
	.endif
.endm
trap_stubs:
	STUBADDR 0, 63
	STUBADDR 64, 127
	STUBADDR 128, 191
	STUBADDR 192, 255
.noaltmacro

	.bss
	.balign	4
catch_sp:	.long 0		/* ESP inside trap_catch, for trap_catch_resume */
	.globl	trap_catch_armed
trap_catch_armed: .long 0	/* non-zero while trap_catch is running fn */

	.text
/*
 * int trap_catch(fn, a, b, c, uintptr_t *ret)
 * Stack after the four pushes: 16 = return address, 20 = fn, 24 = a,
 * 28 = b, 32 = c, 36 = ret.
 */
	.globl	trap_catch
trap_catch:
	pushl	%ebp
	pushl	%ebx
	pushl	%esi
	pushl	%edi
	movl	%esp, catch_sp
	movl	$1, trap_catch_armed
	pushl	32(%esp)		/* c */
	pushl	32(%esp)		/* b */
	pushl	32(%esp)		/* a */
	call	*32(%esp)		/* fn */
	addl	$12, %esp
	movl	36(%esp), %ecx
	testl	%ecx, %ecx
	jz	1f
	movl	%eax, (%ecx)
1:	movl	$0, trap_catch_armed
	xorl	%eax, %eax
2:	popl	%edi
	popl	%esi
	popl	%ebx
	popl	%ebp
	ret

/* void trap_catch_resume(void): called by trap_dispatch; leaves the exception frame behind. */
	.globl	trap_catch_resume
trap_catch_resume:
	movl	catch_sp, %esp
	movl	$0, trap_catch_armed
	movl	$1, %eax
	jmp	2b

/*
 * uintptr_t user_enter(entry, bx, cx): IRET to ring 3.  Ring-3 data accesses
 * go through DS/ES, so they get the DPL-3 data segment first (IRET would
 * null a DPL-0 one).  trap_common puts the kernel's back.
 */
	.globl	user_enter
user_enter:
	movl	4(%esp), %eax
	movl	8(%esp), %ebx
	movl	12(%esp), %ecx
	movl	$SEL_UDATA, %edx
	movw	%dx, %ds
	movw	%dx, %es
	pushl	$SEL_UDATA		/* SS */
	pushl	$user_stack_top		/* ESP */
	pushl	$EFLAGS_USER		/* EFLAGS */
	pushl	$SEL_UCODE32		/* CS */
	pushl	%eax			/* EIP */
	iret

/* Ring-3 code: one access, then ud2 at user_done. */
	.globl	user_read, user_write, user_fetch, user_done
user_read:
	movl	(%ebx), %eax
	jmp	user_done
user_write:
	movl	%ecx, (%ebx)
	jmp	user_done
user_fetch:
	call	*%ebx
	jmp	user_done
user_done:
	ud2

	.bss
	.balign	4096
	.globl	user_stack_top
user_stack:
	.skip	4096
user_stack_top:
