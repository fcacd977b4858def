/*
 * trap64.S: exception entry, trap_catch() and ring-3 entry for 64-bit code.
 *
 * The same design as trap32.S.  In 64-bit mode the CPU always pushes SS:RSP
 * and aligns the stack to 16 bytes before it does, so the frame has one
 * shape whatever the ring the exception came from.
 */
#include "desc.h"

	.text
	.code64

.macro STUB vec
trap_stub_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vec
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
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi		/* struct trap_frame *; RSP is 16-byte aligned here */
	call	trap_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector and error code */
	iretq

	.section .rodata
	.globl	trap_stubs
	.balign	8
.macro STUBADDR from, to
	.quad	trap_stub_\from
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
	.balign	8
catch_sp:	.quad 0
	.globl	trap_catch_armed
trap_catch_armed: .long 0

	.text
/* int trap_catch(fn = rdi, a = rsi, b = rdx, c = rcx, uintptr_t *ret = r8) */
	.globl	trap_catch
trap_catch:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushq	%r8			/* ret; also makes RSP 16-byte aligned for the call */
	movq	%rsp, catch_sp(%rip)
	movl	$1, trap_catch_armed(%rip)
	movq	%rdi, %rax
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	movq	%rcx, %rdx
	call	*%rax
	popq	%r8
	testq	%r8, %r8
	jz	1f
	movq	%rax, (%r8)
1:	movl	$0, trap_catch_armed(%rip)
	xorl	%eax, %eax
2:	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret

	.globl	trap_catch_resume
trap_catch_resume:
	movq	catch_sp(%rip), %rsp
	popq	%r8
	movl	$0, trap_catch_armed(%rip)
	movl	$1, %eax
	jmp	2b

/*
 * uintptr_t user_enter(entry = rdi, bx = rsi, cx = rdx): IRETQ to 64-bit
 * ring 3.  user_enter_compat: the same into compatibility mode, where DS/ES
 * matter again, so both load the DPL-3 data segment into them first.
 */
	.globl	user_enter, user_enter_compat
user_enter:
	movl	$SEL_UCODE64, %eax
	jmp	1f
user_enter_compat:
	movl	$SEL_UCODE32, %eax
1:	movq	%rsi, %rbx
	movq	%rdx, %rcx
	movl	$SEL_UDATA, %edx
	movw	%dx, %ds
	movw	%dx, %es
	pushq	$SEL_UDATA		/* SS */
	pushq	$user_stack_top		/* RSP */
	pushq	$EFLAGS_USER		/* RFLAGS */
	pushq	%rax			/* CS */
	pushq	%rdi			/* RIP */
	iretq

	.globl	user_read, user_write, user_fetch, user_done
user_read:
	movl	(%rbx), %eax
	jmp	user_done
user_write:
	movl	%ecx, (%rbx)
	jmp	user_done
user_fetch:
	call	*%rbx
	jmp	user_done
user_done:
	ud2

	.bss
	.balign	4096
	.globl	user_stack_top
user_stack:
	.skip	4096
user_stack_top:
