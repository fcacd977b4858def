/*
 * entry.S: every way into and out of the kernel after boot.  256 interrupt
 * stubs and their common path (SWAPGS when the frame's CS says the CPU came
 * from user mode), the SYSCALL entry (SWAPGS, the kernel stack from the
 * per-CPU area, RFLAGS as SFMASK left it), the two ways back to user mode
 * (SYSRET and IRETQ), the kernel's fault fixup (catch_call), and the
 * saved context the kernel returns to when no process is left.
 */
#include "layout.h"

	.text
	.code64

	.macro SAVE_REGS
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	.endm

	.macro RESTORE_REGS
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	.endm

/* One 16-byte stub per vector: a dummy error code where the CPU pushes
 * none, then the vector number. */
	.align 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	isr_common
	.set vec, vec + 1
	.endr

isr_common:
	testb	$3, 24(%rsp)		/* CS of the interrupted code */
	jz	1f
	swapgs
1:	pushq	$0			/* kflags: only SYSCALL records them */
	SAVE_REGS
	cld				/* the interrupted code may have had DF set; C wants it clear */
	mov	%rsp, %rdi
	call	trap
	.globl isr_exit
isr_exit:
	RESTORE_REGS
	add	$24, %rsp		/* kflags, vector, error code */
	testb	$3, 8(%rsp)		/* CS we return to */
	jz	2f
	swapgs
2:	iretq

/* SYSCALL: RCX = user RIP, R11 = user RFLAGS, RFLAGS masked by SFMASK. */
	.align 16
	.globl syscall_entry
syscall_entry:
	swapgs
	mov	%rsp, %gs:PERCPU_URSP
	mov	%gs:PERCPU_KSTACK, %rsp
	pushq	$USER_DS		/* ss */
	pushq	%gs:PERCPU_URSP		/* rsp */
	pushq	%r11			/* rflags */
	pushq	$USER_CS		/* cs */
	pushq	%rcx			/* rip */
	pushq	$0			/* error code */
	pushq	$VEC_SYSCALL		/* vector */
	pushfq				/* kflags: RFLAGS as SYSCALL left them */
	SAVE_REGS
	cld				/* SFMASK clears DF; should it not, syscall-sfmask says so */
	mov	%rsp, %rdi
	call	trap
	test	%eax, %eax
	jnz	isr_exit		/* the frame must go back whole: IRETQ */
	.globl sysret_exit
sysret_exit:
	RESTORE_REGS
	add	$24, %rsp		/* kflags, vector, error code */
	pop	%rcx			/* rip */
	add	$8, %rsp		/* cs */
	pop	%r11			/* rflags */
	pop	%rsp			/* rsp */
	swapgs
	sysretq

/* enter_user(struct frame *f, int by_sysret): the first entry of a process;
 * f is on the kernel stack, just below its top. */
	.globl enter_user
enter_user:
	mov	%rdi, %rsp
	test	%esi, %esi
	jnz	sysret_exit
	jmp	isr_exit

/* long catch_call(long (*fn)(void *), void *arg): fn(arg), unless it
 * faults; the exception handler then resumes at catch_fixup, which returns
 * CATCH_FAULTED to catch_call's caller (the fault is in catch_fault). */
	.globl catch_call, catch_fixup
catch_call:
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, catch_rsp(%rip)
	mov	%rdi, %rax
	mov	%rsi, %rdi
	call	*%rax
	movq	$0, catch_rsp(%rip)
	jmp	3f
catch_fixup:
	mov	catch_rsp(%rip), %rsp
	movq	$0, catch_rsp(%rip)
	movabs	$0x7fffdeadfa017000, %rax	/* CATCH_FAULTED */
3:	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret

/* int kctx_save(void): 0 now, 1 when kctx_resume() comes back here. */
	.globl kctx_save, kctx_resume
kctx_save:
	mov	%rbx, kctx+0(%rip)
	mov	%rbp, kctx+8(%rip)
	mov	%r12, kctx+16(%rip)
	mov	%r13, kctx+24(%rip)
	mov	%r14, kctx+32(%rip)
	mov	%r15, kctx+40(%rip)
	mov	(%rsp), %rax
	mov	%rax, kctx+48(%rip)	/* return address */
	lea	8(%rsp), %rax
	mov	%rax, kctx+56(%rip)	/* stack after return */
	xor	%eax, %eax
	ret
kctx_resume:
	mov	kctx+0(%rip), %rbx
	mov	kctx+8(%rip), %rbp
	mov	kctx+16(%rip), %r12
	mov	kctx+24(%rip), %r13
	mov	kctx+32(%rip), %r14
	mov	kctx+40(%rip), %r15
	mov	kctx+56(%rip), %rsp
	mov	$1, %eax
	jmp	*kctx+48(%rip)

	.data
	.align 8
	.globl catch_rsp
catch_rsp:	.quad 0
kctx:		.skip 64
