/*
 * main32.c: the hostile kernel's driver, in the 32-bit half.
 *
 * Reads "cases=a,b,..." (default: every case that ends by itself, in the
 * order of hostile.h) and "spaces=N" (address spaces for case spaces,
 * default 100000), runs the cases in the 64-bit half through long_call()
 * and returns the exit status: 0 if every case passed, 1 if one failed,
 * 3 for a bad command line.
 */
#include "cmdline.h"
#include "hostile.h"
#include "longcall.h"

struct case_entry {
	const char *name;
	bool by_default;
};

#define CASE(name, fn, def) { #name, def },
static const struct case_entry cases[] = { HOSTILE_CASES(CASE) };
#undef CASE
#define NUM_CASES ARRAY_SIZE(cases)

#define SPACES_DEFAULT 100000u
#define SPACES_MAX     (1u << 23) /* what fits in the long_call() number */

static void print_item(const char *what, const char *s, size_t len)
{
	char buf[32];

	printf("hostile: %s '%s'\n", what, word_str(buf, sizeof(buf), s, len));
}

static bool select_cases(bool *selected)
{
	const char *list, *item, *end;
	size_t len, ilen;

	list = cmdline_get(boot.cmdline, "cases", &len);
	for (unsigned i = 0; i < NUM_CASES; i++)
		selected[i] = !list && cases[i].by_default;
	if (!list)
		return true;
	end = list + len;
	while (list_next(&list, end, &item, &ilen)) {
		int i = name_index(cases, sizeof(cases[0]), NUM_CASES, item, ilen);

		if (i < 0) {
			print_item("unknown case", item, ilen);
			return false;
		}
		selected[i] = true;
	}
	return true;
}

static bool read_spaces(uint32_t *n)
{
	const char *s;
	size_t len;
	uint32_t v = 0;

	*n = SPACES_DEFAULT;
	s = cmdline_get(boot.cmdline, "spaces", &len);
	if (!s)
		return true;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > SPACES_MAX / 10) {
			print_item("bad spaces=", s, len);
			return false;
		}
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (len == 0 || v == 0 || v > SPACES_MAX) {
		print_item("bad spaces=", s, len);
		return false;
	}
	*n = v;
	return true;
}

int kernel_main(void)
{
	bool selected[NUM_CASES];
	unsigned passed = 0, failed = 0;
	uint32_t spaces;

	printf("hostile: a guest kernel that misbehaves on purpose\n");
	if (!select_cases(selected) || !read_spaces(&spaces))
		return EXIT_USAGE;
	for (unsigned i = 0; i < NUM_CASES; i++) {
		if (!selected[i])
			continue;
		if (long_call(HOSTILE_CALL(i, strcmp(cases[i].name, "spaces") ? 0 : spaces)) == 0)
			passed++;
		else
			failed++;
	}
	printf("summary: %u passed, %u failed\n", passed, failed);
	return failed ? EXIT_FAIL : EXIT_PASS;
}
