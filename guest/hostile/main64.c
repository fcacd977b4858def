/*
 * main64.c: the hostile kernel's 64-bit half.  long_call(n) lands in
 * kernel_call64(n), which runs case n & 0xff of hostile.h with the
 * argument n >> 8 and reports 0 (passed) or 1 (failed).
 */
#include "hostile.h"
#include "longcall.h"

struct case_entry {
	const char *name;
	hostile_fn *fn;
};

#define CASE(name, fn, def) { #name, fn },
static const struct case_entry cases[] = { HOSTILE_CASES(CASE) };
#undef CASE

uint32_t kernel_call64(uint32_t call)
{
	const struct case_entry *c;
	struct tally t;

	if ((call & 0xff) >= ARRAY_SIZE(cases))
		panic("64-bit half: no case number %u", call & 0xff);
	c = &cases[call & 0xff];
	pool_reset();
	tally_begin(&t, c->name);
	c->fn(&t, call >> 8);
	return tally_end(&t) ? 0 : 1;
}
