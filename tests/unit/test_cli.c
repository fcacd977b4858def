/*
 * Bad input to ombra itself (issue 7, point 2): each command-line error,
 * each way a kernel or initrd can be unusable, too little or too much
 * memory, no KVM device and no permission to it.  Every one must end with
 * exactly one line on stderr that says what is wrong, ombra's own non-zero
 * exit status (docs/ombra.md, EXIT STATUS), and no signal (no crash, no
 * core dump).
 *
 * These run the real binary: $OMBRA (the Makefile's unit target sets it to
 * the ombra of the same build) with $OMBRA_KERNEL, a good kernel, where
 * one is needed.  The expected statuses and messages are written here from
 * the documentation, not taken from the code.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* docs/ombra.md, EXIT STATUS */
#define EXIT_USAGE 8
#define EXIT_INPUT 10
#define EXIT_NOKVM 12

static const char *ombra(void)
{
	const char *p = getenv("OMBRA");

	return p ? p : "build/ombra";
}

static const char *kernel(void)
{
	const char *p = getenv("OMBRA_KERNEL");

	return p ? p : "build/guest/mmutest.elf";
}

struct outcome {
	int status;      /* exit status, or -signal */
	char err[4096];  /* stderr */
	unsigned lines;
};

/* Run ombra with the NULL-terminated arguments; as user uid when uid >= 0. */
static void run_as(struct outcome *o, int uid, const char *arg, ...)
{
	const char *argv[32] = { ombra() };
	unsigned n = 1;
	va_list ap;
	int pipefd[2], st;
	ssize_t got, len = 0;
	pid_t pid;

	va_start(ap, arg);
	for (const char *a = arg; a && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		if (uid >= 0 && (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0))
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (len < (ssize_t)sizeof(o->err) - 1 &&
	       (got = read(pipefd[0], o->err + len, sizeof(o->err) - 1 - (size_t)len)) > 0)
		len += got;
	o->err[len] = '\0';
	close(pipefd[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	o->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	o->lines = 0;
	for (ssize_t i = 0; i < len; i++)
		o->lines += o->err[i] == '\n';
}

#define run(o, ...) run_as(o, -1, __VA_ARGS__, NULL)

/* One line on stderr, starting "ombra: ", containing want; the status. */
static void expect(const struct outcome *o, int status, const char *want)
{
	cr_assert_neq(o->status, 127, "could not run %s (set OMBRA)", ombra());
	cr_assert_geq(o->status, 0, "ombra was killed by signal %d; stderr: %s", -o->status, o->err);
	cr_expect_eq(o->status, status, "exit status %d, want %d; stderr: %s", o->status, status, o->err);
	cr_expect_eq(o->lines, 1, "want one line on stderr, got %u: %s", o->lines, o->err);
	cr_expect(strncmp(o->err, "ombra: ", 7) == 0, "stderr does not start with 'ombra: ': %s", o->err);
	cr_expect(strstr(o->err, want) != NULL, "stderr does not say '%s': %s", want, o->err);
}

static char dir[64];

/* Each test runs in a process of its own: remove its scratch files. */
static void cleanup(void)
{
	DIR *d;
	struct dirent *e;
	char path[sizeof(dir) + 256 + 2];

	if (!dir[0] || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

TestSuite(cli, .fini = cleanup);

/* A file in a fresh temporary directory with the given contents. */
static const char *scratch(const char *name, const void *data, size_t len)
{
	static char path[160];
	int fd;

	if (!dir[0]) {
		strcpy(dir, "/tmp/ombra-cli-XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
		chmod(dir, 0755);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

/* The first len bytes of the good kernel. */
static const char *kernel_prefix(size_t len)
{
	static char buf[64 * 1024];
	FILE *f = fopen(kernel(), "rb");
	size_t got;

	cr_assert_not_null(f, "no kernel at %s (set OMBRA_KERNEL)", kernel());
	got = fread(buf, 1, len < sizeof(buf) ? len : sizeof(buf), f);
	fclose(f);
	cr_assert_eq(got, len);
	return scratch("truncated.elf", buf, len);
}

/* ---- the command line ---- */

Test(cli, no_arguments_prints_usage)
{
	struct outcome o;

	run_as(&o, -1, NULL);
	cr_assert_eq(o.status, EXIT_USAGE, "status %d", o.status);
	cr_expect(strstr(o.err, "usage:") != NULL, "%s", o.err);
}

Test(cli, unknown_command)    { struct outcome o; run(&o, "frobnicate"); expect(&o, EXIT_USAGE, "unknown command 'frobnicate'"); }
Test(cli, unknown_option)     { struct outcome o; run(&o, "run", "-kernel", kernel(), "-bogus"); expect(&o, EXIT_USAGE, "unknown option '-bogus'"); }
Test(cli, missing_argument)   { struct outcome o; run(&o, "run", "-kernel", kernel(), "-append"); expect(&o, EXIT_USAGE, "-append needs an argument"); }
Test(cli, bad_mmu)            { struct outcome o; run(&o, "run", "--mmu=ept", "-kernel", kernel()); expect(&o, EXIT_USAGE, "tdp or shadow"); }
Test(cli, bad_memory_size)    { struct outcome o; run(&o, "run", "-m", "lots", "-kernel", kernel()); expect(&o, EXIT_USAGE, "not a memory size"); }
Test(cli, too_little_memory)  { struct outcome o; run(&o, "run", "-m", "1M", "-kernel", kernel()); expect(&o, EXIT_USAGE, "at least 2 MiB"); }
Test(cli, too_much_memory)    { struct outcome o; run(&o, "run", "-m", "2T", "-kernel", kernel()); expect(&o, EXIT_USAGE, "more memory than"); }
Test(cli, bad_timeout)        { struct outcome o; run(&o, "run", "--timeout=soon", "-kernel", kernel()); expect(&o, EXIT_USAGE, "--timeout"); }
Test(cli, bad_shadow_sync)    { struct outcome o; run(&o, "run", "--mmu=shadow", "--shadow-sync=lazy", "-kernel", kernel()); expect(&o, EXIT_USAGE, "vtlb, wp or unsync"); }
Test(cli, bad_shadow_patch)   { struct outcome o; run(&o, "run", "--mmu=shadow", "--shadow-patch=yes", "-kernel", kernel()); expect(&o, EXIT_USAGE, "--shadow-patch must be on or off"); }
Test(cli, bad_shadow_pages)   { struct outcome o; run(&o, "run", "--mmu=shadow", "--shadow-pages=3", "-kernel", kernel()); expect(&o, EXIT_USAGE, "--shadow-pages"); }
Test(cli, bad_serial)         { struct outcome o; run(&o, "run", "-serial", "telnet:x", "-kernel", kernel()); expect(&o, EXIT_USAGE, "-serial"); }
Test(cli, stray_argument)     { struct outcome o; run(&o, "run", "-kernel", kernel(), "extra"); expect(&o, EXIT_USAGE, "unexpected argument 'extra'"); }
Test(cli, gdb_wait_without_gdb) { struct outcome o; run(&o, "run", "-S", "-kernel", kernel()); expect(&o, EXIT_USAGE, "-S waits for gdb"); }
Test(cli, gdb_not_tcp)        { struct outcome o; run(&o, "run", "-gdb", "unix:/tmp/s", "-kernel", kernel()); expect(&o, EXIT_USAGE, "TCP only"); }
Test(cli, gdb_bad_port)       { struct outcome o; run(&o, "run", "-gdb", "tcp::70000", "-kernel", kernel()); expect(&o, EXIT_USAGE, "not a TCP port"); }
Test(cli, gdb_in_compare)     { struct outcome o; run(&o, "compare", "-s", "-kernel", kernel()); expect(&o, EXIT_USAGE, "-s is an option of ombra run"); }
Test(cli, gdb_wait_in_compare){ struct outcome o; run(&o, "compare", "-S", "-gdb", "tcp::1234", "-kernel", kernel()); expect(&o, EXIT_USAGE, "option of ombra run"); }
Test(cli, no_kernel)          { struct outcome o; run(&o, "run", "-m", "64M"); expect(&o, EXIT_USAGE, "no kernel"); }

/* ---- the kernel and the initrd ---- */

Test(cli, missing_kernel)     { struct outcome o; run(&o, "run", "-kernel", "/nonexistent/k.elf"); expect(&o, EXIT_INPUT, "cannot open kernel"); }
Test(cli, kernel_is_directory){ struct outcome o; run(&o, "run", "-kernel", "/tmp"); expect(&o, EXIT_INPUT, "not a regular file"); }

Test(cli, empty_kernel)
{
	struct outcome o;

	run(&o, "run", "-kernel", scratch("empty.elf", "", 0));
	expect(&o, EXIT_INPUT, "empty");
}

Test(cli, corrupt_kernel)
{
	unsigned char junk[4096];
	struct outcome o;

	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 2654435761u >> 13);
	run(&o, "run", "-kernel", scratch("junk.bin", junk, sizeof(junk)));
	expect(&o, EXIT_INPUT, "no multiboot header");
}

Test(cli, truncated_kernel)
{
	struct outcome o;

	/* The multiboot header is in the first 8 KiB; the segments are cut. */
	run(&o, "run", "-kernel", kernel_prefix(12 * 1024));
	expect(&o, EXIT_INPUT, "past the end of the file");
}

/* A file with Linux's setup header goes to the Linux loader, which says
 * what it refuses (boot.rst: 0xAA55 at 0x1fe, "HdrS" at 0x202). */
static const char *bzimage(const char *name, unsigned version, unsigned init_mib)
{
	static unsigned char img[8192];

	memset(img, 0, sizeof(img));
	img[0x1f1] = 3;                                  /* setup_sects */
	img[0x1fe] = 0x55;
	img[0x1ff] = 0xaa;
	img[0x201] = 0x6a;
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = (unsigned char)version;
	img[0x207] = (unsigned char)(version >> 8);
	img[0x211] = 1;                                  /* LOADED_HIGH */
	img[0x216] = 0x10;                               /* code32_start 1 MiB */
	img[0x236] = 1;                                  /* XLF_KERNEL_64 */
	img[0x262] = (unsigned char)(init_mib << 4);    /* init_size, MiB << 20 */
	img[0x263] = (unsigned char)(init_mib >> 4);
	return scratch(name, img, sizeof(img));
}

Test(cli, linux_protocol_too_old)
{
	struct outcome o;

	run(&o, "run", "-kernel", bzimage("old.bzImage", 0x0204, 1));
	expect(&o, EXIT_INPUT, "older than 2.12");
}

Test(cli, linux_needs_more_ram)
{
	struct outcome o;

	run(&o, "run", "-m", "64M", "-kernel", bzimage("big.bzImage", 0x020f, 100));
	expect(&o, EXIT_INPUT, "give it more with -m");
}

/* An initrd is opaque bytes (a multiboot module): empty or any contents is
 * a valid one, so only one that cannot be read is bad input. */
Test(cli, initrd_is_directory){ struct outcome o; run(&o, "run", "-kernel", kernel(), "-initrd", "/tmp"); expect(&o, EXIT_INPUT, "not a regular file"); }
Test(cli, missing_initrd)     { struct outcome o; run(&o, "run", "-kernel", kernel(), "-initrd", "/nonexistent/initrd"); expect(&o, EXIT_INPUT, "cannot open initrd"); }

/* ---- KVM ---- */

/* QEMU's spellings for what ombra's PC is anyway: accepted, so the run
 * goes on to KVM (here a device that does not exist: exit 12, not 8). */
Test(cli, qemu_spellings_accepted)
{
	struct outcome o;

	run(&o, "run", "-nographic", "-display", "none", "-monitor", "none", "-nodefaults", "-no-reboot",
	    "-enable-kvm", "-accel", "kvm",
	    "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", kernel(), "--kvm-device",
	    "/nonexistent/kvm");
	expect(&o, EXIT_NOKVM, "does not exist");
}
Test(cli, qemu_other_accel)   { struct outcome o; run(&o, "run", "-accel", "tcg", "-kernel", kernel()); expect(&o, EXIT_USAGE, "always runs on KVM"); }
Test(cli, qemu_other_display) { struct outcome o; run(&o, "run", "-display", "gtk", "-kernel", kernel()); expect(&o, EXIT_USAGE, "only -display none"); }
Test(cli, qemu_cpu)           { struct outcome o; run(&o, "run", "-cpu", "max", "-kernel", kernel()); expect(&o, EXIT_USAGE, "one fixed CPUID table"); }
Test(cli, qemu_other_device)  { struct outcome o; run(&o, "run", "-device", "isa-debug-exit,iobase=0x501", "-kernel", kernel()); expect(&o, EXIT_USAGE, "iobase=0xf4"); }
/* Options that would change nothing where they are given are refused with
 * where they belong (docs/ombra.md, "Options that do not apply"); the
 * same options where they do apply go on to KVM (exit 12). */
Test(cli, shadow_option_in_tdp)   { struct outcome o; run(&o, "run", "--shadow-sync=wp", "-kernel", kernel()); expect(&o, EXIT_USAGE, "add --mmu=shadow"); }
Test(cli, shadow_option_in_tdp2)  { struct outcome o; run(&o, "run", "--mmu=tdp", "--prefetch", "2", "-kernel", kernel()); expect(&o, EXIT_USAGE, "--prefetch is a shadow-mode option"); }
Test(cli, patch_in_tdp)           { struct outcome o; run(&o, "run", "--shadow-patch=on", "-kernel", kernel()); expect(&o, EXIT_USAGE, "--shadow-patch is a shadow-mode option"); }
Test(cli, audit_in_tdp)           { struct outcome o; run(&o, "run", "-kernel", kernel(), "--audit"); expect(&o, EXIT_USAGE, "--audit is a shadow-mode option"); }
Test(cli, sync_all_in_run)        { struct outcome o; run(&o, "run", "--mmu=shadow", "--shadow-sync=all", "-kernel", kernel()); expect(&o, EXIT_USAGE, "option of ombra compare"); }
Test(cli, mmu_in_compare)         { struct outcome o; run(&o, "compare", "--mmu=shadow", "-kernel", kernel()); expect(&o, EXIT_USAGE, "--mmu is an option of ombra run"); }
Test(cli, stats_file_in_compare)  { struct outcome o; run(&o, "compare", "-kernel", kernel(), "--stats-file", "/tmp/x"); expect(&o, EXIT_USAGE, "--stats-file is an option of ombra run"); }
Test(cli, explain_in_compare)     { struct outcome o; run(&o, "compare", "-kernel", kernel(), "--explain=0x1000"); expect(&o, EXIT_USAGE, "--explain is an option of ombra run"); }
Test(cli, trace_in_compare)       { struct outcome o; run(&o, "compare", "-kernel", kernel(), "--trace", "/tmp/t"); expect(&o, EXIT_USAGE, "--trace is an option of ombra run"); }
Test(cli, serial_file_in_compare) { struct outcome o; run(&o, "compare", "-kernel", kernel(), "-serial", "file:/tmp/s"); expect(&o, EXIT_USAGE, "compare captures"); }
Test(cli, options_where_they_apply)
{
	struct outcome o;

	run(&o, "run", "--shadow-sync=wp", "--prefetch=2", "--audit", "--mmu=shadow", "-kernel", kernel(),
	    "--kvm-device", "/nonexistent/kvm");
	expect(&o, EXIT_NOKVM, "does not exist");
	run(&o, "compare", "--shadow-sync=all", "--shadow-pages=64", "-serial", "stdio", "-kernel", kernel(),
	    "--kvm-device", "/nonexistent/kvm");
	cr_expect_neq(o.status, EXIT_USAGE, "compare refused options that apply to it: %s", o.err);
}
Test(cli, bad_stats_interval)     { struct outcome o; run(&o, "run", "--stats-interval=0", "-kernel", kernel()); expect(&o, EXIT_USAGE, "--stats-interval"); }
Test(cli, stats_interval_in_compare) { struct outcome o; run(&o, "compare", "-kernel", kernel(), "--stats-interval", "1"); expect(&o, EXIT_USAGE, "--stats-interval is an option of ombra run"); }
Test(cli, bad_stats_format)       { struct outcome o; run(&o, "run", "--stats=loud", "-kernel", kernel()); expect(&o, EXIT_USAGE, "summary, text, json or none"); }
Test(cli, no_kvm_device)      { struct outcome o; run(&o, "run", "-kernel", kernel(), "--kvm-device", "/nonexistent/kvm"); expect(&o, EXIT_NOKVM, "does not exist"); }
Test(cli, not_a_kvm_device)   { struct outcome o; run(&o, "run", "-kernel", kernel(), "--kvm-device", "/dev/null"); expect(&o, EXIT_NOKVM, "not a KVM device"); }

Test(cli, no_permission_to_kvm)
{
	const char *dev = scratch("kvm", "", 0);
	struct passwd *nobody = getpwnam("nobody");
	int uid = -1;
	struct outcome o;

	cr_assert_eq(chmod(dev, 0), 0);
	/* root may open anything: drop to nobody for this run (the kernel is
	 * world-readable where the build puts it). */
	if (geteuid() == 0) {
		cr_assert_not_null(nobody, "no user 'nobody' to drop root to");
		uid = (int)nobody->pw_uid;
	}
	run_as(&o, uid, "run", "-kernel", kernel(), "--kvm-device", dev, NULL);
	expect(&o, EXIT_NOKVM, "not accessible");
}

/* ---- compare --merge ---- */

/* Two compare --json outputs written here by hand from docs/ombra.md's
 * field list; the merged table has a row per counter and a column per
 * label@host, and --nonzero leaves out a row zero in every column. */
static void merged(const char *opts, char *out, size_t len)
{
	static const char *const files[2] = { "/tmp/ombra-test-merge-a.json", "/tmp/ombra-test-merge-b.json" };
	static const char *const hosts[2] = { "npt", "kvm-shadow" };
	char cmd[512];
	FILE *f, *p;
	size_t n;

	for (int i = 0; i < 2; i++) {
		f = fopen(files[i], "w");
		cr_assert(f);
		fprintf(f, "{\"kernel\": \"k.elf\", \"append\": \"cases=x\", \"columns\": [{\"label\": \"tdp\", "
			"\"host\": \"%s\", \"host_mmu\": \"m\", \"end\": \"debug-exit\", \"exit_status\": 1, "
			"\"wall_seconds\": 0.5, \"serial\": \"hello\\n\"}], \"counters\": {\"pf_fixed\": {\"tdp\": %d}, "
			"\"invlpg\": {\"tdp\": 0}}, \"verdict\": {}}\n", hosts[i], 7 + i);
		fclose(f);
	}
	snprintf(cmd, sizeof(cmd), "%s compare --merge %s %s %s", ombra(), opts, files[0], files[1]);
	p = popen(cmd, "r");
	cr_assert(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	cr_expect_eq(pclose(p), 0, "merge of two identical guests did not exit 0: %s", out);
	unlink(files[0]);
	unlink(files[1]);
}

Test(cli, compare_merge_table)
{
	char out[8192];

	merged("", out, sizeof(out));
	cr_expect(strstr(out, "tdp@npt") && strstr(out, "tdp@kvm-shadow"), "no label@host columns: %s", out);
	cr_expect(strstr(out, "pf_fixed") && strstr(out, " 7") && strstr(out, " 8"), "no pf_fixed row: %s", out);
	cr_expect(strstr(out, "\ninvlpg "), "the zero row is missing without --nonzero: %s", out);
	merged("--nonzero", out, sizeof(out));
	cr_expect(strstr(out, "pf_fixed"), "--nonzero dropped a row that is not zero: %s", out);
	cr_expect(!strstr(out, "\ninvlpg "), "--nonzero kept a row zero in every column: %s", out);
	cr_expect(strstr(out, "zero in every column left out"), "--nonzero does not say what it left out: %s", out);
}
