/*
 * main64.c: mmutest's 64-bit half.  long_call(n) from main32.c lands in
 * kernel_call64(n), which runs case n of cases.h in long mode and reports
 * 0 (passed) or 1 (failed).
 */
#include "cases.h"
#include "longcall.h"
#include "mmutest.h"

struct case_entry {
	const char *name;
	test_fn *fn;                /* NULL: the case runs in the 32-bit half */
	const struct pgmode *mode;
	unsigned leaves;            /* page sizes it exercises (LEAF_*) */
};

#define CASE32(name, fn, mode, leaves) { #name, NULL, NULL, 0 },
#define CASE64(name, fn, mode, leaves) { #name, fn, mode, leaves },
static const struct case_entry cases[] = { MMUTEST_CASES(CASE32, CASE64) };

uint32_t kernel_call64(uint32_t call)
{
	if (call >= ARRAY_SIZE(cases) || !cases[call].fn)
		panic("64-bit half: no case number %u", call);
	return run_case(cases[call].name, cases[call].fn, cases[call].mode,
			cases[call].leaves) ? 0 : 1;
}
