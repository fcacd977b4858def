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
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <stdio.h>
#include <termios.h>

#include "host/confine.h"

#define CHECK(n, cond) do { if (!(cond)) return (n); } while (0)

/* The descriptors the confined child keeps: its ioctls' and its folders. */
static struct confine_fds fds;

/* Run fn confined in a child; its result (0: every check held). */
static int confined(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char err[256];

		if (confine_install(&fds, err, sizeof(err)) != 0)
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
	/* a KVM ioctl on a KVM descriptor (here the pipe stands in for one)
	 * reaches the kernel, and fails there, not in the filter */
	errno = 0;
	CHECK(6, ioctl(pipe_fds[0], KVM_GET_API_VERSION, 0) == -1 && errno != EPERM);
	CHECK(7, close(pipe_fds[0]) == 0 && close(pipe_fds[1]) == 0);
	return 0;
}

Test(confine, the_run_loop_calls_still_work)
{
	int r;

	cr_assert_eq(pipe(pipe_fds), 0); /* before: pipe is not on the list */
	fds = (struct confine_fds){ .nioctl = 0 };
	confine_add(fds.ioctl, &fds.nioctl, pipe_fds[0]);
	r = confined(run_loop_calls);
	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
}

/* ioctl: only KVM's requests, on the descriptors named, and TCGETS
 * (isatty) anywhere: no TIOCSTI into an inherited terminal. */
static int ioctls(void)
{
	char c = 'x';
	struct termios t;

	errno = 0;
	CHECK(1, ioctl(0, TIOCSTI, &c) == -1 && errno == EPERM);
	errno = 0;
	CHECK(2, ioctl(pipe_fds[1], KVM_GET_API_VERSION, 0) == -1 && errno == EPERM);   /* not named */
	errno = 0;
	CHECK(3, ioctl(pipe_fds[0], KVM_GET_API_VERSION, 0) == -1 && errno == ENOTTY);  /* named */
	errno = 0;
	CHECK(4, ioctl(pipe_fds[0], FIONREAD, &c) == -1 && errno == EPERM);             /* not KVM's */
	errno = 0;
	CHECK(5, ioctl(pipe_fds[1], TCGETS, &t) == -1 && errno == ENOTTY);              /* isatty */
	return 0;
}

Test(confine, ioctl_only_kvm_requests_on_kvm_descriptors)
{
	int r;

	cr_assert_eq(pipe(pipe_fds), 0);
	fds = (struct confine_fds){ .nioctl = 0 };
	confine_add(fds.ioctl, &fds.nioctl, pipe_fds[0]);
	r = confined(ioctls);
	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
}

/* Memory, never code. */
static int no_exec(void)
{
	void *m;

	errno = 0;
	CHECK(1, mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED &&
		 errno == EPERM);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(2, m != MAP_FAILED);
	errno = 0;
	CHECK(3, mprotect(m, 4096, PROT_READ | PROT_EXEC) == -1 && errno == EPERM);
	CHECK(4, mprotect(m, 4096, PROT_READ) == 0);
	return 0;
}

Test(confine, no_executable_mappings)
{
	int r;

	fds = (struct confine_fds){ .nioctl = 0 };
	r = confined(no_exec);
	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
}

/* Renames and unlinks only within a folder opened before the filter. */
static int dir_fd;

static int renames(void)
{
	errno = 0;
	CHECK(1, rename("/tmp/ombra-confine-dir/a", "/tmp/ombra-confine-dir/b") == -1 && errno == EPERM);
	errno = 0;
	CHECK(2, unlink("/tmp/ombra-confine-dir/a") == -1 && errno == EPERM);
	errno = 0;
	CHECK(3, renameat(AT_FDCWD, "/tmp/ombra-confine-dir/a", dir_fd, "b") == -1 && errno == EPERM);
	errno = 0;
	CHECK(4, unlinkat(AT_FDCWD, "/tmp/ombra-confine-dir/a", 0) == -1 && errno == EPERM);
	CHECK(5, renameat(dir_fd, "a", dir_fd, "b") == 0);
	CHECK(6, unlinkat(dir_fd, "b", 0) == 0);
	return 0;
}

Test(confine, rename_and_unlink_only_in_named_folders)
{
	int r, f;

	system("rm -rf /tmp/ombra-confine-dir");
	cr_assert_eq(mkdir("/tmp/ombra-confine-dir", 0700), 0);
	f = open("/tmp/ombra-confine-dir/a", O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(f, 0);
	close(f);
	dir_fd = open("/tmp/ombra-confine-dir", O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dir_fd, 0);
	fds = (struct confine_fds){ .nioctl = 0 };
	confine_add(fds.dirs, &fds.ndirs, dir_fd);
	r = confined(renames);
	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
	cr_expect_eq(access("/tmp/ombra-confine-dir/a", F_OK), -1);
	cr_expect_eq(access("/tmp/ombra-confine-dir/b", F_OK), -1);
	close(dir_fd);
	rmdir("/tmp/ombra-confine-dir");
}

/* Signals to itself only. */
static int signals(void)
{
	errno = 0;
	CHECK(1, kill(getppid(), 0) == -1 && errno == EPERM);
	errno = 0;
	CHECK(2, syscall(SYS_tgkill, getppid(), getppid(), 0) == -1 && errno == EPERM);
	CHECK(3, syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) == 0);
	return 0;
}

Test(confine, signals_only_to_itself)
{
	int r;

	fds = (struct confine_fds){ .nioctl = 0 };
	r = confined(signals);
	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
}

/* The gdbstub's accept4 on its own listening socket, made before the
 * filter; no other accept, no new socket, bind or listen. */
static int listen_fd, other_fd;

static int gdb_accepts(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd;

	errno = 0;
	CHECK(1, accept4(other_fd, NULL, NULL, SOCK_NONBLOCK) == -1 && errno == EPERM);
	errno = 0;
	CHECK(2, socket(AF_INET, SOCK_STREAM, 0) == -1 && errno == EPERM);
	errno = 0;
	CHECK(3, bind(other_fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno == EPERM);
	errno = 0;
	CHECK(4, listen(other_fd, 1) == -1 && errno == EPERM);
	/* the connection the parent made before the filter is waiting */
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(5, fd >= 0);
	CHECK(6, write(fd, "+", 1) == 1);
	CHECK(7, fcntl(fd, F_SETOWN, getpid()) == 0);
	return 0;
}

Test(confine, accept_only_on_the_gdbstub_socket)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int client, r;
	char c = 0;

	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	other_fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(listen_fd, 0);
	cr_assert_eq(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(listen_fd, 1), 0);
	cr_assert_eq(getsockname(listen_fd, (struct sockaddr *)&sa, &len), 0);
	client = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fds = (struct confine_fds){ .nioctl = 0 };
	confine_add(fds.accept, &fds.naccept, listen_fd);
	r = confined(gdb_accepts);
	cr_expect_eq(r, 0, "check %d failed (100: not installed)", r);
	cr_expect_eq(read(client, &c, 1), 1);
	cr_expect_eq(c, '+', "the confined child answered on the accepted connection");
	close(client);
	close(listen_fd);
	close(other_fd);
}
