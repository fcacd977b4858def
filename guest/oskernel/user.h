/*
 * user.h: what the kernel and its user processes share.  Everything it
 * declares lives in the user section (user.c), the one 2 MiB page user
 * mode may touch: its header, the processes' code, stacks, FS and GS
 * blocks, the results each process records, and the preemption counts the
 * kernel writes for them to read.  Each process also has a private page at
 * PRIV_VA (layout.h), the same address in every address space.
 */
#ifndef OSK_USER_H
#define OSK_USER_H

#define NPROC		3
#define NPREEMPT	3		/* a process spins until preempted this often */
#define SPIN_LIMIT	(1ul << 27)	/* then gives up */
#define USTACK_SIZE	8192

#define SYS_GETPID	1
#define SYS_REGCHECK	2		/* RDX = expected RCX, RSI = expected R11 */
#define SYS_EXIT	3

#define GS_TAG(pid)	(0x6500000000000000ul | (pid))
#define PRIV_TAG(pid)	(0x7072697600000000ul | (pid))	/* in the private page */

/* What each process saw, written by the process itself. */
struct uresult {
	unsigned long started, pid_arg;
	unsigned long cs, ss;
	unsigned long fs_self, fs_pid;		/* %fs:0, %fs:8 at start */
	unsigned long gs_self, gs_tag;		/* %gs:0, %gs:8 at start */
	unsigned long getpid_syscall, getpid_int80;
	unsigned long regcheck;			/* SYS_REGCHECK's answer */
	unsigned long lar_ucs_zf, lar_ucs_ar, lar_kcs_zf, verw_uds_zf, verr_kds_zf;
	unsigned long fs_bad, fs_bad_val, gs_bad, gs_bad_val;	/* during the spin */
	unsigned long priv_bad, priv_bad_val;			/* the private page, during the spin */
	unsigned long gave_up;			/* spun SPIN_LIMIT times, never preempted enough */
	unsigned long done;			/* about to call SYS_EXIT */
};

struct ublock {				/* an FS or GS base points at one */
	struct ublock *self;
	unsigned long val;		/* FS: the pid; GS: GS_TAG(pid) */
};

/*
 * The user section's header, at USER_BASE (the linker script puts it
 * first): where the kernel finds the entry point and the objects it shares
 * with the processes.  The kernel reads their addresses from here at run
 * time, as a kernel reads a program's entry from its header, instead of
 * naming them: they live in the low half, and the higher-half kernel,
 * built with -mcmodel=kernel, may reach a symbol it names RIP-relative,
 * which from 0xffffffff80000000 does not span to USER_BASE.
 */
struct uheader {
	void (*entry)(long pid);
	struct uresult *result;
	volatile unsigned long *preempts;
	struct ublock *tls, *gs;
	unsigned char (*stack)[USTACK_SIZE];
};
#define UHEADER ((const struct uheader *)USER_BASE)

/* user.c's own names for them. */
extern struct uresult uresult[NPROC];
extern volatile unsigned long upreempts[NPROC];
extern struct ublock utls[NPROC], ugs[NPROC];
extern unsigned char ustack[NPROC][USTACK_SIZE];
void user_main(long pid);

#endif
