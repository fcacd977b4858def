/*
 * Unit tests for output files written whole or not at all
 * (src/report/outfile.c): --stats-file and ombra report -o.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/outfile.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ombra-outfile-XXXXXX");
	cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static unsigned entries(void)
{
	char cmd[128], out[16];
	FILE *p;
	unsigned n = 0;

	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	p = popen(cmd, "r");
	if (p && fgets(out, sizeof(out), p))
		n = (unsigned)atoi(out);
	if (p)
		pclose(p);
	return n;
}

TestSuite(outfile, .init = setup, .fini = teardown);

Test(outfile, commit_replaces_the_target_whole)
{
	char path[128];
	struct outfile o;
	struct stat st;
	mode_t mask = umask(022);

	snprintf(path, sizeof(path), "%s/report.json", dir);
	cr_assert_eq(outfile_open(&o, path), 0);
	cr_expect_neq(strcmp(o.tmp, path), 0);
	fputs("new", o.f);
	cr_expect_null(slurp(path), "nothing at the target before the commit");
	cr_assert_eq(outfile_commit(&o, path), 0);
	cr_expect_str_eq(slurp(path), "new");
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0644, "mode %o, want 0666 less the umask 022", st.st_mode & 0777);
	cr_expect_eq(entries(), 1, "the temporary file is gone");
	umask(mask);
}

Test(outfile, drop_leaves_the_target_as_it_was)
{
	char path[128];
	struct outfile o;
	FILE *f;

	snprintf(path, sizeof(path), "%s/report.json", dir);
	f = fopen(path, "w");
	cr_assert(f);
	fputs("precious", f);
	fclose(f);
	cr_assert_eq(outfile_open(&o, path), 0);
	fputs("half a rep", o.f);
	outfile_drop(&o);
	cr_expect_str_eq(slurp(path), "precious");
	cr_expect_eq(entries(), 1);
}

/* The old name was the target plus ".tmp." and the PID: a symlink planted
 * there was followed.  Now the name is mkstemp's, made with O_EXCL. */
Test(outfile, a_planted_symlink_is_not_followed)
{
	char path[128], victim[128], planted[160];
	struct outfile o;
	FILE *f;

	snprintf(path, sizeof(path), "%s/report.json", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	f = fopen(victim, "w");
	cr_assert(f);
	fputs("victim", f);
	fclose(f);
	snprintf(planted, sizeof(planted), "%s.tmp.%d", path, (int)getpid());
	cr_assert_eq(symlink(victim, planted), 0);
	cr_assert_eq(outfile_open(&o, path), 0);
	cr_expect_neq(strcmp(o.tmp, planted), 0);
	fputs("report", o.f);
	cr_assert_eq(outfile_commit(&o, path), 0);
	cr_expect_str_eq(slurp(victim), "victim");
	cr_expect_str_eq(slurp(path), "report");
}

Test(outfile, a_name_too_long_is_refused)
{
	static char path[5000];
	struct outfile o;

	memset(path, 'a', sizeof(path) - 1);
	cr_expect_eq(outfile_open(&o, path), -ENAMETOOLONG);
}
