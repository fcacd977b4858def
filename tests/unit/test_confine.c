/*
 * Unit tests for ombra's seccomp filter (src/host/confine.c).  Each test
 * forks a child that installs the real filter on itself and then checks,
 * call by call, what it refuses and what it lets through: the calls a
 * confined run must never make (opening a file, a socket, exec, fork) fail
 * with EPERM; the ones the run loop lives on still work.  The child answers
 * with its exit status, the number of the first check that failed (the
 * filter would refuse Criterion's own reporting, so the child cannot use it).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/confine.h"

#define CHECK(n, cond) do { if (!(cond)) return (n); } while (0)

/* Run fn confined in a child; its result (0: every check held). */
static int confined(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char err[256];

		if (confine_install(err, sizeof(err)) != 0)
			_exit(100);
		_exit(fn());
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "the confined child was killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

static int open_files(void)
{
	errno = 0;
	CHECK(1, open("/etc/hostname", O_RDONLY) == -1 && errno == EPERM);
	errno = 0;
	CHECK(2, openat(AT_FDCWD, "/tmp/ombra-confine-test", O_WRONLY | O_CREAT, 0600) == -1 && errno == EPERM);
	return 0;
}

Test(confine, opening_a_file_is_refused)
{
	int r = confined(open_files);

	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
	cr_expect_eq(access("/tmp/ombra-confine-test", F_OK), -1, "the file was created");
}

static int sockets_exec_fork(void)
{
	char *const argv[] = { "/bin/true", NULL };

	errno = 0;
	CHECK(1, socket(AF_INET, SOCK_STREAM, 0) == -1 && errno == EPERM);
	errno = 0;
	CHECK(2, execv("/bin/true", argv) == -1 && errno == EPERM);
	errno = 0;
	CHECK(3, syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) == -1 && errno == EPERM);
	return 0;
}

Test(confine, sockets_exec_and_fork_are_refused)
{
	int r = confined(sockets_exec_fork);

	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
}

static int pipe_fds[2];

static int run_loop_calls(void)
{
	char c = 0;
	struct timespec ts;
	void *m;

	CHECK(1, write(pipe_fds[1], "x", 1) == 1);
	CHECK(2, read(pipe_fds[0], &c, 1) == 1 && c == 'x');
	CHECK(3, syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0);
	m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(4, m != MAP_FAILED);
	CHECK(5, munmap(m, 1 << 20) == 0);
	free(malloc(1 << 22)); /* malloc's mmap path */
	/* an ioctl reaches the kernel (and fails there, not in the filter) */
	errno = 0;
	CHECK(6, ioctl(pipe_fds[0], 0x4b3a /* KDSETMODE: not a pipe's */, 0) == -1 && errno != EPERM);
	CHECK(7, close(pipe_fds[0]) == 0 && close(pipe_fds[1]) == 0);
	return 0;
}

Test(confine, the_run_loop_calls_still_work)
{
	int r;

	cr_assert_eq(pipe(pipe_fds), 0); /* before: pipe is not on the list */
	r = confined(run_loop_calls);
	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
}
