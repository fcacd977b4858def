/*
 * confine.c: ombra's seccomp filter, installed once the guest is loaded
 * and every file the user named is open (as Firecracker confines its VMM).
 * From then on ombra needs only KVM_RUN and the other KVM ioctls on KVM's
 * descriptors, memory management without PROT_EXEC (memslot changes by
 * the test device, malloc), time, signals to itself for --timeout and
 * Ctrl-C, writes to the files already open, and renames and unlinks in
 * the folders opened for them before the filter (the --stats-file report
 * put in place, tdp's tracefs instance removed), and accept4 on the
 * gdbstub's listening socket (-gdb) made before it.  Opening files, sockets,
 * exec, the same calls with other arguments and the rest fail with EPERM,
 * so a call ombra should not make is refused and reported, never fatal to
 * the run's counters.
 */
#include "confine.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Allowed whatever their arguments. */
static const int allowed[] = {
	/* the run loop */
	SYS_read, SYS_write, SYS_writev, SYS_pread64, SYS_lseek,
	/* memory: malloc, memslot add/move/remap, vCPU run area (mmap and
	 * mprotect are checked below: never PROT_EXEC) */
	SYS_munmap, SYS_mremap, SYS_madvise, SYS_brk,
	/* time, --timeout, the devices' timer and signals; the peak RSS the report gives */
	SYS_clock_gettime, SYS_getrusage, SYS_clock_nanosleep, SYS_timer_create, SYS_timer_settime,
	SYS_timer_delete, SYS_nanosleep, SYS_setitimer, SYS_getitimer,
	SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack,
	/* stdio on files already open, the end */
	SYS_fstat, SYS_newfstatat, SYS_fcntl, SYS_close, SYS_fsync, SYS_fdatasync,
	SYS_futex, SYS_getpid, SYS_gettid, SYS_sched_yield, SYS_getrandom,
	SYS_exit, SYS_exit_group,
};

#define NALLOWED (sizeof(allowed) / sizeof(allowed[0]))

/* A BPF program being built: blocks are appended whole, so every jump is
 * a count of instructions within its block. */
struct prog {
	struct sock_filter f[256];
	unsigned n;
	bool over;
};

static void put(struct prog *p, struct sock_filter s)
{
	if (p->n < sizeof(p->f) / sizeof(p->f[0]))
		p->f[p->n++] = s;
	else
		p->over = true;
}

#define LD(off)          ((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))
#define ARG(i)           (offsetof(struct seccomp_data, args) + 8 * (i))   /* its low 32 bits */
#define JEQ(k, t, f)     ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f)))
#define RET_ALLOW        ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW))
#define RET_EPERM        ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)))

/* if nr == call: the block; else past it (the block ends in a return). */
static void when(struct prog *p, int call, const struct prog *block)
{
	put(p, JEQ((unsigned)call, 0, (unsigned char)block->n));
	for (unsigned i = 0; i < block->n; i++)
		put(p, block->f[i]);
	p->over |= block->over || block->n > 255;
}

/* Allow when argument arg is one of fds[0..n); else refuse. */
static void arg_in(struct prog *b, unsigned arg, const int *fds, unsigned n)
{
	put(b, LD(ARG(arg)));
	for (unsigned i = 0; i < n; i++)
		put(b, JEQ((unsigned)fds[i], (unsigned char)(n - i), 0));   /* to RET_ALLOW below */
	put(b, RET_EPERM);
	put(b, RET_ALLOW);
}

void confine_add(int *list, unsigned *n, int fd)
{
	if (fd >= 0 && *n < CONFINE_MAX_FDS)
		list[(*n)++] = fd;
}

int confine_install(const struct confine_fds *fds, char *err, size_t errlen)
{
	struct prog p = { .n = 0 }, b;
	struct sock_fprog fprog;

	put(&p, LD(offsetof(struct seccomp_data, arch)));
	put(&p, JEQ(AUDIT_ARCH_X86_64, 1, 0));
	put(&p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
	put(&p, LD(offsetof(struct seccomp_data, nr)));
	for (unsigned i = 0; i < NALLOWED; i++) {
		put(&p, JEQ((unsigned)allowed[i], 0, 1));
		put(&p, RET_ALLOW);
	}

	/* ioctl: TCGETS on anything (isatty), else a KVM request on a KVM
	 * descriptor; so no TIOCSTI on an inherited terminal, no ioctl on a
	 * file ombra writes. */
	b.n = 0, b.over = false;
	put(&b, LD(ARG(1)));               /* isatty() for the live status line */
	put(&b, JEQ(TCGETS, 0, 1));
	put(&b, RET_ALLOW);
	put(&b, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00));
	put(&b, JEQ(KVMIO << 8, 1, 0));    /* the type byte of every KVM request */
	put(&b, RET_EPERM);
	arg_in(&b, 0, fds->ioctl, fds->nioctl);
	when(&p, SYS_ioctl, &b);

	/* mmap and mprotect: memory, never code. */
	b.n = 0;
	put(&b, LD(ARG(2)));
	put(&b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1));
	put(&b, RET_EPERM);
	put(&b, RET_ALLOW);
	when(&p, SYS_mmap, &b);
	when(&p, SYS_mprotect, &b);

	/* Signals to this process only (raise(), the run loop's kick). */
	b.n = 0;
	{
		int self = (int)getpid();

		arg_in(&b, 0, &self, 1);
	}
	when(&p, SYS_tgkill, &b);

	/* renameat(2): both names in one folder opened before (--stats-file's
	 * temporary file into place); unlinkat: in one of them (a failed
	 * report's temporary file, tdp's tracefs instance).  No path-only
	 * rename or unlink. */
	b.n = 0;
	for (unsigned i = 0; i < fds->ndirs; i++) {
		put(&b, LD(ARG(0)));
		put(&b, JEQ((unsigned)fds->dirs[i], 0, 3));
		put(&b, LD(ARG(2)));
		put(&b, JEQ((unsigned)fds->dirs[i], 0, 1));
		put(&b, RET_ALLOW);
	}
	put(&b, RET_EPERM);
	when(&p, SYS_renameat, &b);
	when(&p, SYS_renameat2, &b);
	b.n = 0;
	arg_in(&b, 0, fds->dirs, fds->ndirs);
	when(&p, SYS_unlinkat, &b);

	/* accept4: gdb's connection on the gdbstub's listening socket, made
	 * before the filter (no socket, bind or listen after it). */
	b.n = 0;
	arg_in(&b, 0, fds->accept, fds->naccept);
	when(&p, SYS_accept4, &b);

	put(&p, RET_EPERM);
	if (p.over) {
		snprintf(err, errlen, "cannot install the seccomp filter: it grew past %zu instructions",
			 sizeof(p.f) / sizeof(p.f[0]));
		return -E2BIG;
	}
	fprog.len = (unsigned short)p.n;
	fprog.filter = p.f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
		int e = errno;

		snprintf(err, errlen, "cannot install the seccomp filter: %s (--no-seccomp runs without it)",
			 strerror(e));
		return -e;
	}
	return 0;
}
