/*
 * check.h: how a test case counts and reports.
 *
 * A case makes many checks and prints exactly one line at the end:
 *     case NAME: ok
 *     case NAME: FAIL <what the first failing check was> (F of N <unit> failed)
 * The detail is formatted only for the first failure, so passing checks cost
 * a few instructions each.
 */
#ifndef GUEST_CHECK_H
#define GUEST_CHECK_H

#include "runtime.h"

struct tally {
	const char *name;  /* the case name */
	const char *unit;  /* what a check is, for the FAIL line: "checks" unless set */
	unsigned total;    /* checks made */
	unsigned failed;   /* checks that failed */
	char first[200];   /* description of the first failure */
};

void tally_begin(struct tally *t, const char *name);
/* Count one check; if !ok, record it (the first one is described by fmt). */
bool check(struct tally *t, bool ok, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* The same split in two, for hot loops that describe a failure only when
 * there is one. */
static inline void check_pass(struct tally *t)
{
	t->total++;
}
void check_fail(struct tally *t, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Print the case line; true if every check passed (and at least one ran). */
bool tally_end(struct tally *t);

#endif
