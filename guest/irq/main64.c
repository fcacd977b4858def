/*
 * main64.c: the interrupt kernel's 64-bit half: long_call(n) runs case n
 * of main32.c's table here and reports 0 (passed) or 1 (failed).
 */
#include "irq.h"
#include "longcall.h"

static const struct { const char *name; case_fn *fn; } cases[] = {
	{ "oneshot", case_oneshot }, { "periodic", case_periodic }, { "tpr", case_tpr },
	{ "ifmask", case_ifmask }, { "nesting", case_nesting }, { "busy", case_busy },
	{ "sched", case_sched }, { "tscdeadline", case_tscdeadline },
	{ "pic", case_pic }, { "pit", case_pit }, { "speaker", case_speaker }, { "lint0", case_lint0 }, { "ioapic", case_ioapic },
};

uint32_t kernel_call64(uint32_t call)
{
	struct tally t;

	if (call >= ARRAY_SIZE(cases))
		panic("64-bit half: no case number %u", call);
	pool_reset();
	tally_begin(&t, cases[call].name);
	cases[call].fn(&t);
	sti_shadow_report(cases[call].name);
	return tally_end(&t) ? 0 : 1;
}
