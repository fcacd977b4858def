/*
 * main32.c: the interrupt kernel's driver, in the 32-bit half.  Reads
 * "cases=a,b,..." (default: all, in this order), runs each in the 64-bit
 * half and returns 0 if all passed, 1 if one failed, 3 for a bad command
 * line.  The names must match main64.c's table, in the same order.
 */
#include "cmdline.h"
#include "longcall.h"
#include "runtime.h"

static const struct { const char *name; } cases[] = {
	{ "oneshot" }, { "periodic" }, { "tpr" }, { "ifmask" }, { "nesting" }, { "busy" }, { "sched" }, { "tscdeadline" },
	{ "pic" }, { "pit" }, { "speaker" }, { "lint0" }, { "ioapic" },
};
#define NUM_CASES ARRAY_SIZE(cases)

int kernel_main(void)
{
	bool selected[NUM_CASES];
	unsigned passed = 0, failed = 0;
	const char *list, *item, *end;
	size_t len, ilen;

	printf("irq: local APIC timer and interrupt delivery\n");
	list = cmdline_get(boot.cmdline, "cases", &len);
	for (unsigned i = 0; i < NUM_CASES; i++)
		selected[i] = !list;
	if (list) {
		end = list + len;
		while (list_next(&list, end, &item, &ilen)) {
			int i = name_index(cases, sizeof(cases[0]), NUM_CASES, item, ilen);
			char buf[32];

			if (i < 0) {
				printf("irq: unknown case '%s'\n", word_str(buf, sizeof(buf), item, ilen));
				return EXIT_USAGE;
			}
			selected[i] = true;
		}
	}
	for (unsigned i = 0; i < NUM_CASES; i++) {
		if (!selected[i])
			continue;
		if (long_call(i) == 0)
			passed++;
		else
			failed++;
	}
	printf("summary: %u passed, %u failed\n", passed, failed);
	return failed ? EXIT_FAIL : EXIT_PASS;
}
