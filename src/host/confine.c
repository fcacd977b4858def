/*
 * confine.c: ombra's seccomp filter, installed once the guest is loaded
 * and every file the user named is open (as Firecracker confines its VMM).
 * From then on ombra needs only KVM_RUN and the other KVM ioctls, memory
 * management (memslot changes by the test device, malloc), time, signals
 * for --timeout and Ctrl-C, writes to the files already open, and the one
 * rename that puts the --stats-file report in place.  Opening files,
 * sockets, exec and the rest fail with EPERM, so a call ombra should not
 * make is refused and reported, never fatal to the run's counters.
 */
#include "confine.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int allowed[] = {
	/* the run loop */
	SYS_ioctl, SYS_read, SYS_write, SYS_writev, SYS_pread64, SYS_lseek,
	/* memory: malloc, memslot add/move/remap, vCPU run area */
	SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise, SYS_brk,
	/* time, --timeout, the devices' timer and signals; the peak RSS the report gives */
	SYS_clock_gettime, SYS_getrusage, SYS_clock_nanosleep, SYS_timer_create, SYS_timer_settime,
	SYS_timer_delete, SYS_nanosleep, SYS_setitimer, SYS_getitimer,
	SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack,
	/* stdio on files already open, the report's rename, the end */
	SYS_fstat, SYS_newfstatat, SYS_fcntl, SYS_close, SYS_fsync, SYS_fdatasync,
	SYS_rename, SYS_renameat, SYS_renameat2, SYS_unlink, SYS_unlinkat,
	SYS_futex, SYS_getpid, SYS_gettid, SYS_tgkill, SYS_sched_yield, SYS_getrandom,
	SYS_exit, SYS_exit_group,
};

#define NALLOWED (sizeof(allowed) / sizeof(allowed[0]))

int confine_install(char *err, size_t errlen)
{
	/* check the architecture, load the number, one compare per allowed
	 * call (a match jumps to ALLOW), else refuse */
	struct sock_filter prog[4 + NALLOWED + 2];
	struct sock_fprog fprog = { .len = (unsigned short)(sizeof(prog) / sizeof(prog[0])), .filter = prog };
	unsigned n = 0;

	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (unsigned i = 0; i < NALLOWED; i++)
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i],
							 (unsigned char)(NALLOWED - i), 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
		int e = errno;

		snprintf(err, errlen, "cannot install the seccomp filter: %s (--no-seccomp runs without it)",
			 strerror(e));
		return -e;
	}
	return 0;
}
