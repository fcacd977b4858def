/*
 * check.c: counting checks and printing the one line per case (check.h).
 */
#include "check.h"

void tally_begin(struct tally *t, const char *name)
{
	t->name = name;
	t->unit = "checks";
	t->total = 0;
	t->failed = 0;
	t->first[0] = '\0';
}

bool check(struct tally *t, bool ok, const char *fmt, ...)
{
	va_list ap;

	t->total++;
	if (ok)
		return true;
	if (t->failed++ == 0) {
		va_start(ap, fmt);
		vsnprintf(t->first, sizeof(t->first), fmt, ap);
		va_end(ap);
	}
	return false;
}

void check_fail(struct tally *t, const char *fmt, ...)
{
	va_list ap;

	t->total++;
	if (t->failed++ == 0) {
		va_start(ap, fmt);
		vsnprintf(t->first, sizeof(t->first), fmt, ap);
		va_end(ap);
	}
}

bool tally_end(struct tally *t)
{
	if (t->total == 0) {
		printf("case %s: FAIL nothing was checked\n", t->name);
		return false;
	}
	if (t->failed == 0) {
		printf("case %s: ok\n", t->name);
		return true;
	}
	printf("case %s: FAIL %s (%u of %u %s failed)\n", t->name, t->first, t->failed, t->total,
	       t->unit);
	return false;
}
