/*
 * bench.c: LMbench-style operation latencies inside a Linux guest, the
 * /bin/bench of the initramfs scripts/linux/build.sh packs.  Each operation
 * runs a fixed number of iterations (ITERS below, times --iters-scale) in
 * one timed loop and prints one line:
 *
 *   bench: op=NAME iters=N ns_per_op=T total_ms=M minflt=A majflt=B nvcsw=C nivcsw=D
 *
 *   fault  first-touch page faults: mmap 1024 anonymous pages (4 MiB,
 *          MADV_NOHUGEPAGE so each page is its own fault), write one byte
 *          in each, munmap; again until N pages.  Per page, mmap, zeroing
 *          and freeing included (LMbench lat_pagefault, anonymous).
 *   fork   fork, _exit(0) in the child, waitpid; a 16 MiB anonymous region
 *          (4 KiB pages) is dirtied first, so each fork copies its page
 *          tables and write-protects them, and the parent's first writes
 *          after each fork are copy-on-write faults (lat_proc fork).
 *   exec   fork, execve of this program with --exit, waitpid (lat_proc exec).
 *   mmap   lat_mmap's shape on anonymous memory: mmap 1 MiB, write one byte
 *          every 16 KiB over its first tenth (7 pages), munmap.
 *   pipe   lat_pipe: two processes pass one byte back and forth over two
 *          pipes; per round trip (two context switches).  The partner's
 *          fork and reaping are inside the measured window (one fork against
 *          thousands of round trips).
 *
 * Time is CLOCK_MONOTONIC around the loop.  The counts are the guest
 * kernel's own for the loop: getrusage deltas of RUSAGE_SELF plus
 * RUSAGE_CHILDREN (children reaped inside the loop: fork, exec, pipe).
 * Times are only comparable as ratios within one run on one machine.  The
 * counts repeat, up to which of parent and child the scheduler runs first
 * after a fork (under QEMU TCG, fork's minflt is 8 or 10 per op).
 *
 *   bench [--iters-scale=F] [--exit] [OP...]   (OPs by name or a,b,c; none: all)
 *
 * BENCH_ITERS_SCALE=F in the environment does what --iters-scale does.
 * First line "bench: start", last "bench: done ops=K"; any failed system
 * call ends it with a message and exit status 1 (2 for a bad command line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096UL
#define FAULT_CHUNK	1024		/* pages per mapping in op fault */
#define FORK_HEAP	(16UL << 20)
#define MMAP_SIZE	(1UL << 20)
#define MMAP_STRIDE	(16UL << 10)	/* lat_mmap's PSIZE */

struct meas {
	const char *op;
	long iters;
	struct timespec t0;
	struct rusage self0, kids0;
};

static char self_exe[4096];

static void die(const char *op, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fflush(stdout);
	fprintf(stderr, "bench: op=%s failed: ", op);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

static void usage_err(const char *msg, const char *arg)
{
	fprintf(stderr, "bench: %s '%s'\n"
		"usage: bench [--iters-scale=F] [--exit] [fault|fork|exec|mmap|pipe]...\n", msg, arg);
	exit(2);
}

static void meas_begin(struct meas *m)
{
	if (getrusage(RUSAGE_SELF, &m->self0) || getrusage(RUSAGE_CHILDREN, &m->kids0))
		die(m->op, "getrusage");
	clock_gettime(CLOCK_MONOTONIC, &m->t0);
}

static void meas_end(struct meas *m)
{
	struct timespec t1;
	struct rusage s, k;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (getrusage(RUSAGE_SELF, &s) || getrusage(RUSAGE_CHILDREN, &k))
		die(m->op, "getrusage");
	ns = (t1.tv_sec - m->t0.tv_sec) * 1000000000LL + (t1.tv_nsec - m->t0.tv_nsec);
#define D(f) (s.f - m->self0.f + k.f - m->kids0.f)
	printf("bench: op=%s iters=%ld ns_per_op=%lld total_ms=%lld minflt=%ld majflt=%ld nvcsw=%ld nivcsw=%ld\n",
	       m->op, m->iters, ns / m->iters, ns / 1000000, D(ru_minflt), D(ru_majflt),
	       D(ru_nvcsw), D(ru_nivcsw));
#undef D
	fflush(stdout);
}

static void *map_anon(const char *op, size_t size, int nohuge)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die(op, "mmap %zu bytes", size);
	if (nohuge && madvise(p, size, MADV_NOHUGEPAGE))
		die(op, "madvise");
	return p;
}

static void reap(const char *op, pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		die(op, "waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		errno = 0;
		die(op, "child status 0x%x", st);
	}
}

static void op_fault(struct meas *m)
{
	long done, n, i;
	volatile char *p;

	meas_begin(m);
	for (done = 0; done < m->iters; done += n) {
		n = m->iters - done < FAULT_CHUNK ? m->iters - done : FAULT_CHUNK;
		p = map_anon(m->op, n * PAGE, 1);
		for (i = 0; i < n; i++)
			p[i * PAGE] = 1;
		if (munmap((void *)p, n * PAGE))
			die(m->op, "munmap");
	}
	meas_end(m);
}

static void op_fork(struct meas *m)
{
	char *heap = map_anon(m->op, FORK_HEAP, 1);
	long i;
	pid_t pid;

	memset(heap, 0x5a, FORK_HEAP);
	meas_begin(m);
	for (i = 0; i < m->iters; i++) {
		pid = fork();
		if (pid < 0)
			die(m->op, "fork");
		if (pid == 0)
			_exit(0);
		reap(m->op, pid);
	}
	meas_end(m);
	if (munmap(heap, FORK_HEAP))
		die(m->op, "munmap");
}

static void op_exec(struct meas *m)
{
	char *argv[] = { self_exe, "--exit", NULL };
	char *envp[] = { NULL };
	long i;
	pid_t pid;

	meas_begin(m);
	for (i = 0; i < m->iters; i++) {
		pid = fork();
		if (pid < 0)
			die(m->op, "fork");
		if (pid == 0) {
			execve(self_exe, argv, envp);
			_exit(127);
		}
		reap(m->op, pid);
	}
	meas_end(m);
}

static void op_mmap(struct meas *m)
{
	volatile char *p;
	unsigned long off;
	long i;

	meas_begin(m);
	for (i = 0; i < m->iters; i++) {
		p = map_anon(m->op, MMAP_SIZE, 0);
		for (off = 0; off < MMAP_SIZE / 10; off += MMAP_STRIDE)
			p[off] = 1;
		if (munmap((void *)p, MMAP_SIZE))
			die(m->op, "munmap");
	}
	meas_end(m);
}

static void op_pipe(struct meas *m)
{
	int to[2], from[2];
	char c = 0;
	long i;
	pid_t pid;

	if (pipe(to) || pipe(from))
		die(m->op, "pipe");
	meas_begin(m);
	pid = fork();
	if (pid < 0)
		die(m->op, "fork");
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		while (read(to[0], &c, 1) == 1)
			if (write(from[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	for (i = 0; i < m->iters; i++) {
		if (write(to[1], &c, 1) != 1)
			die(m->op, "write");
		if (read(from[0], &c, 1) != 1)
			die(m->op, "read");
	}
	close(to[1]);	/* the partner reads EOF and exits */
	reap(m->op, pid);
	meas_end(m);
	close(from[0]);
}

/*
 * Iterations at scale 1: about 1-3 s each under QEMU TCG running KVM (a
 * nested host, 50-100 times slower than hardware); about 10 s in all under
 * plain QEMU TCG.
 */
static const struct op {
	const char *name;
	void (*run)(struct meas *m);
	long iters;
} ops[] = {
	{ "fault", op_fault, 131072 },
	{ "fork",  op_fork,  600 },
	{ "exec",  op_exec,  500 },
	{ "mmap",  op_mmap,  8000 },
	{ "pipe",  op_pipe,  25000 },
};
#define NOPS (int)(sizeof(ops) / sizeof(ops[0]))

static double parse_scale(const char *s)
{
	char *end;
	double f;

	errno = 0;
	f = strtod(s, &end);
	if (errno || end == s || *end || !(f > 0))
		usage_err("bad iteration scale", s);
	return f;
}

/* Mark the ops named in ARG (one name or a comma-separated list). */
static void select_ops(char *arg, int *want)
{
	char *name, *save = NULL;
	int i;

	for (name = strtok_r(arg, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NOPS && strcmp(name, ops[i].name); i++)
			;
		if (i == NOPS)
			usage_err("unknown op", name);
		want[i] = 1;
	}
}

int main(int argc, char **argv)
{
	int want[NOPS] = { 0 }, any = 0, nrun = 0, i;
	const char *env = getenv("BENCH_ITERS_SCALE");
	double scale = env && *env ? parse_scale(env) : 1.0;
	ssize_t len;

	if (argc > 1 && !strcmp(argv[1], "--exit"))
		return 0;
	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--iters-scale=", 14))
			scale = parse_scale(argv[i] + 14);
		else if (!strcmp(argv[i], "--exit"))
			return 0;
		else if (argv[i][0] == '-')
			usage_err("unknown option", argv[i]);
		else
			select_ops(argv[i], want), any = 1;
	}

	len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (len > 0)
		self_exe[len] = 0;
	else if (strchr(argv[0], '/') && strlen(argv[0]) < sizeof(self_exe))
		strcpy(self_exe, argv[0]);
	else
		die("exec", "cannot find this program (no /proc/self/exe, argv[0] %s)", argv[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench: start\n");
	for (i = 0; i < NOPS; i++) {
		struct meas m = { .op = ops[i].name };

		if (any && !want[i])
			continue;
		m.iters = (long)(ops[i].iters * scale);
		if (m.iters < 1)
			m.iters = 1;
		fflush(stdout);
		ops[i].run(&m);
		nrun++;
	}
	printf("bench: done ops=%d\n", nrun);
	return 0;
}
