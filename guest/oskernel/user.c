/*
 * user.c: the user processes (all three run user_main with their pid in
 * RDI) and the data they share with the kernel.  The linker script puts
 * this file's sections, and nothing else, in the user page, its header
 * (struct uheader, user.h) first.  It calls no kernel code: only SYSCALL
 * and INT 0x80.  Each process writes a tag of its own into its private
 * page and checks it while it spins.
 */
#include "layout.h"
#include "user.h"

struct uresult uresult[NPROC];
volatile unsigned long upreempts[NPROC];
unsigned char ustack[NPROC][USTACK_SIZE] __attribute__((aligned(16)));
struct ublock utls[NPROC] = {
	{ &utls[0], 0 }, { &utls[1], 1 }, { &utls[2], 2 },
};
struct ublock ugs[NPROC] = {
	{ &ugs[0], GS_TAG(0) }, { &ugs[1], GS_TAG(1) }, { &ugs[2], GS_TAG(2) },
};

/* What the kernel reads at USER_BASE to find the rest (user.h). */
const struct uheader uheader __attribute__((section(".user.header"))) = {
	.entry = user_main,
	.result = uresult,
	.preempts = upreempts,
	.tls = utls,
	.gs = ugs,
	.stack = ustack,
};

static inline long sys_syscall(long nr)
{
	long r;

	asm volatile("syscall" : "=a"(r) : "a"(nr) : "rcx", "r11", "memory");
	return r;
}

static inline long sys_int80(long nr)
{
	long r;

	asm volatile("int $0x80" : "=a"(r) : "a"(nr) : "memory");
	return r;
}

/* SYSCALL with DF and AC set (IF is set in user mode): the kernel compares
 * RCX with the address after the SYSCALL, R11 with the flags pushed just
 * before it, and its own flags with what SFMASK must leave. */
static long sys_regcheck(void)
{
	long r;

	asm volatile("pushfq\n\t"
		     "std\n\t"
		     "pushfq\n\t"
		     "orq $0x40000, (%%rsp)\n\t"
		     "popfq\n\t"
		     "pushfq\n\t"
		     "popq %%rsi\n\t"
		     "leaq 1f(%%rip), %%rdx\n\t"
		     "syscall\n"
		     "1:\n\t"
		     "popfq"
		     : "=a"(r) : "a"((long)SYS_REGCHECK) : "rcx", "r11", "rdx", "rsi", "memory", "cc");
	return r;
}

static unsigned long fs_read(int off)
{
	unsigned long v;

	if (off)
		asm volatile("movq %%fs:8, %0" : "=r"(v));
	else
		asm volatile("movq %%fs:0, %0" : "=r"(v));
	return v;
}

static unsigned long gs_read(int off)
{
	unsigned long v;

	if (off)
		asm volatile("movq %%gs:8, %0" : "=r"(v));
	else
		asm volatile("movq %%gs:0, %0" : "=r"(v));
	return v;
}

static unsigned long u_lar(unsigned long sel, unsigned long *ar)
{
	unsigned long z, a = 0;

	asm volatile("lar %2, %0\n\tsetz %b1" : "+r"(a), "=q"(z) : "r"(sel) : "cc");
	*ar = a;
	return z & 1;
}

static unsigned long u_verr(unsigned long sel)
{
	unsigned long z;

	asm volatile("verr %w1\n\tsetz %b0" : "=q"(z) : "r"(sel) : "cc");
	return z & 1;
}

static unsigned long u_verw(unsigned long sel)
{
	unsigned long z;

	asm volatile("verw %w1\n\tsetz %b0" : "=q"(z) : "r"(sel) : "cc");
	return z & 1;
}

void user_main(long pid)
{
	struct uresult *r;
	unsigned long n, v, ar;

	if ((unsigned long)pid >= NPROC)
		sys_syscall(SYS_EXIT);
	r = &uresult[pid];
	r->started = 1;
	r->pid_arg = pid;
	asm volatile("mov %%cs, %0" : "=r"(v));
	r->cs = v & 0xffff;
	asm volatile("mov %%ss, %0" : "=r"(v));
	r->ss = v & 0xffff;
	r->fs_self = fs_read(0);
	r->fs_pid = fs_read(8);
	r->gs_self = gs_read(0);
	r->gs_tag = gs_read(8);

	r->getpid_syscall = sys_syscall(SYS_GETPID);
	r->regcheck = sys_regcheck();

	r->lar_ucs_zf = u_lar(USER_CS, &ar);
	r->lar_ucs_ar = ar;
	r->lar_kcs_zf = u_lar(KERNEL_CS, &ar);
	r->verw_uds_zf = u_verw(USER_DS);
	r->verr_kds_zf = u_verr(KERNEL_DS);

	r->getpid_int80 = sys_int80(SYS_GETPID);

	*(volatile unsigned long *)PRIV_VA = PRIV_TAG(pid);

	/* Spin until the timer has taken the CPU away NPREEMPT times. */
	for (n = 0; upreempts[pid] < NPREEMPT; n++) {
		if (n == SPIN_LIMIT) {
			r->gave_up = 1;
			break;
		}
		v = fs_read(8);
		if (v != (unsigned long)pid && !r->fs_bad++)
			r->fs_bad_val = v;
		v = gs_read(8);
		if (v != GS_TAG(pid) && !r->gs_bad++)
			r->gs_bad_val = v;
		v = *(volatile unsigned long *)PRIV_VA;
		if (v != PRIV_TAG(pid) && !r->priv_bad++)
			r->priv_bad_val = v;
	}
	r->done = 1;
	sys_syscall(SYS_EXIT);
	for (;;)
		;
}
