/*
 * The guest's measurement lines (src/report/measure.c): rows read out of a
 * bench output written here by hand in guest/linux/README.md's format
 * (one line ending in CR LF, as a tty sends it), and the masked output
 * compare's verdict reads, spelled out in full.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "report/measure.h"

static const char sample[] =
	"[    0.000000] Linux version 6.1.0-57-amd64\n"
	"init: up\n"
	"bench: start\n"
	"bench: op=fault iters=32768 ns_per_op=51516 total_ms=1688 minflt=32769 majflt=0\n"
	"bench: op=pipe iters=6250 ns_per_op=273937 nvcsw=6280\r\n"
	"bench: done ops=2\n"
	"[   11.956651] reboot: Power down\n"
	"[not a stamp] x=1\n"
	"tail without newline op=3";

static uint64_t get(const struct measures *m, const char *name)
{
	for (unsigned i = 0; i < m->n; i++)
		if (strcmp(m->m[i].name, name) == 0)
			return m->m[i].value;
	cr_assert_fail("no row %s", name);
	return 0;
}

Test(measure, rows_from_measurement_lines)
{
	struct measures m;

	measure_parse(sample, strlen(sample), &m);
	cr_expect_eq(m.n, 6, "4 fault values and 2 pipe values, iters not among them");
	cr_expect_eq(get(&m, "fault ns_per_op"), 51516);
	cr_expect_eq(get(&m, "fault total_ms"), 1688);
	cr_expect_eq(get(&m, "fault minflt"), 32769);
	cr_expect_eq(get(&m, "fault majflt"), 0);
	cr_expect_eq(get(&m, "pipe nvcsw"), 6280);
	cr_expect_str_eq(m.m[0].name, "fault ns_per_op", "in the order they appear");
}

Test(measure, masked_output)
{
	static const char want[] =
		"[#] Linux version 6.1.0-57-amd64\n"
		"init: up\n"
		"bench: start\n"
		"bench: op=fault iters=32768 ns_per_op=# total_ms=# minflt=# majflt=#\n"
		"bench: op=pipe iters=6250 ns_per_op=# nvcsw=#\r\n"
		"bench: done ops=2\n"
		"[#] reboot: Power down\n"
		"[not a stamp] x=1\n"
		"tail without newline op=3";
	size_t n = 0;
	char *got = measure_mask(sample, strlen(sample), &n);

	cr_assert_not_null(got);
	cr_expect_eq(n, strlen(want));
	cr_expect(memcmp(got, want, n) == 0, "got:\n%.*s", (int)n, got);
	free(got);
}

Test(measure, same_lines_other_times_mask_alike)
{
	static const char a[] = "[    1.5] x\nbench: op=fork iters=10 ns_per_op=100\n";
	static const char b[] = "[   13.25] x\nbench: op=fork iters=10 ns_per_op=98765\n";
	static const char c[] = "[   13.25] x\nbench: op=fork iters=11 ns_per_op=98765\n";
	size_t na, nb, nc;
	char *ma = measure_mask(a, strlen(a), &na), *mb = measure_mask(b, strlen(b), &nb),
	     *mc = measure_mask(c, strlen(c), &nc);

	cr_expect(na == nb && memcmp(ma, mb, na) == 0, "times differ only");
	cr_expect(na != nc || memcmp(ma, mc, na) != 0, "a different iteration count is a difference");
	free(ma);
	free(mb);
	free(mc);
}
