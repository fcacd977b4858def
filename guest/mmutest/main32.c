/*
 * main32.c: mmutest's driver, in the 32-bit half.
 *
 * Prints a banner, reads "cases=a,b,..." from the command line (default: all
 * cases), runs the selected cases in the fixed order of cases.h (the 64-bit
 * ones through long_call()), prints the summary and returns the exit status:
 * 0 if every selected case passed, 1 if one failed, 3 for a bad command line.
 */
#include "cases.h"
#include "cmdline.h"
#include "longcall.h"
#include "mmutest.h"

struct case_entry {
	const char *name;
	test_fn *fn;                /* NULL: the case runs in the 64-bit half */
	const struct pgmode *mode;
	unsigned leaves;            /* page sizes it exercises (LEAF_*) */
};

#define CASE32(name, fn, mode, leaves) { #name, fn, mode, leaves },
#define CASE64(name, fn, mode, leaves) { #name, NULL, NULL, 0 },
static const struct case_entry cases[] = { MMUTEST_CASES(CASE32, CASE64) };

#define NUM_CASES ARRAY_SIZE(cases)

/* Mark the cases named in "cases=..." (all if absent); false on an unknown name. */
static bool select_cases(bool *selected)
{
	const char *list, *item, *end;
	size_t len, ilen;

	list = cmdline_get(boot.cmdline, "cases", &len);
	for (unsigned i = 0; i < NUM_CASES; i++)
		selected[i] = !list;
	if (!list)
		return true;
	end = list + len;
	while (list_next(&list, end, &item, &ilen)) {
		int i = name_index(cases, sizeof(cases[0]), NUM_CASES, item, ilen);
		char name[32];

		if (i < 0) {
			printf("mmutest: unknown case '%s'\n", word_str(name, sizeof(name), item, ilen));
			return false;
		}
		selected[i] = true;
	}
	for (unsigned i = 0; i < NUM_CASES; i++)
		if (selected[i])
			return true;
	printf("mmutest: cases= names no case\n");
	return false;
}

int kernel_main(void)
{
	bool selected[NUM_CASES];
	unsigned passed = 0, failed = 0;

	printf("mmutest: x86 paging tests (nonpaging, 2-level, PAE, 4-level)\n");
	if (!select_cases(selected))
		return EXIT_USAGE;

	for (unsigned i = 0; i < NUM_CASES; i++) {
		bool ok;

		if (!selected[i])
			continue;
		if (cases[i].fn)
			ok = run_case(cases[i].name, cases[i].fn, cases[i].mode, cases[i].leaves);
		else
			ok = long_call(i) == 0;
		if (ok)
			passed++;
		else
			failed++;
	}
	printf("summary: %u passed, %u failed\n", passed, failed);
	return failed ? EXIT_FAIL : EXIT_PASS;
}
