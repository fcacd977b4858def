/*
 * calib64.S: the exception round trip of workload calib (w_calib.c).
 */
	.text
	.code64

/* #UD at ring 0: count it, step over the 2-byte ud2, return to ring 3. */
	.globl	calib_ud_handler
calib_ud_handler:
	incq	calib_ud_count(%rip)
	addq	$2, (%rsp)
	iretq

/*
 * Ring 3, entered by user_enter with RBX = N (at least 1) and RCX = where to
 * store the cycles: RDTSC, N times ud2, RDTSC, store the difference, then
 * int3, which the runtime's handler turns into trap_catch()'s return.
 */
	.globl	calib_user_loop, calib_user_end
calib_user_loop:
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %rsi
1:	ud2
	decq	%rbx
	jnz	1b
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	subq	%rsi, %rax
	movq	%rax, (%rcx)
	int3
calib_user_end:
	ud2

	.bss
	.balign	8
	.globl	calib_ud_count
calib_ud_count:
	.quad	0
