/*
 * main32.c: the bench kernel's driver, in the 32-bit half.
 *
 * Reads "work=a,b,..." (default: every workload, in the order of the table
 * below) and the size options, prints what it will run, runs the workloads
 * in the order given (nonpaging here with paging off, the others in the
 * 64-bit half through long_call()), and returns the exit status: 0 if every
 * workload's checks passed, 1 if one failed, 3 for a bad command line or
 * sizes that do not fit in RAM.
 */
#include "bench.h"
#include "cmdline.h"
#include "longcall.h"

struct work_def {
	const char *name;
	const char *key[2];   /* its options; NULL: none */
	uint64_t def[2];      /* their defaults */
	uint64_t min[2], max[2];
	uint64_t align[2];    /* a value must be a multiple of this (a power of two) */
	bool n_alias;         /* n= sets key[0] when key[0]= is not given */
};

static const struct work_def works[W_COUNT] = {
	[W_CALIB]     = { "calib",     { "n", NULL }, { 200, 0 }, { 1, 0 }, { 1u << 24, 0 },
			  { 1, 1 }, false },
	[W_FAULTS]    = { "faults",    { "n", NULL }, { 2048, 0 }, { 4, 0 }, { 1u << 20, 0 },
			  { 1, 1 }, false },
	[W_CR3]       = { "cr3",       { "k", "r" }, { 64, 8 }, { 1, 1 }, { 1u << 16, 1u << 24 },
			  { 1, 1 }, true },
	[W_PTWRITE]   = { "ptwrite",   { "m", "t" }, { 256, 4 }, { 1, 1 }, { 1u << 18, 1u << 12 },
			  { 1, 1 }, true },
	[W_TLB]       = { "tlb",       { "s", "n" }, { 64 * MIB, 200000 }, { PAGE_SIZE, 1 },
			  { 4096 * MIB, 1ull << 32 }, { PAGE_SIZE, 1 }, false },
	[W_NONPAGING] = { "nonpaging", { "s", NULL }, { 16 * MIB, 0 }, { 64, 0 },
			  { 4096 * MIB, 0 }, { 64, 1 }, false },
	[W_PAGING]    = { "paging",    { "s", NULL }, { 16 * MIB, 0 }, { 64, 0 },
			  { 4096 * MIB, 0 }, { 64, 1 }, false },
	[W_IRQ]       = { "irq",       { "n", NULL }, { 2000, 0 }, { 1, 0 }, { 1u << 24, 0 },
			  { 1, 1 }, false },
};

static void print_word(const char *what, const char *s, size_t len)
{
	char buf[48];

	printf("bench: %s '%s'\n", what, word_str(buf, sizeof(buf), s, len));
}

/* A decimal number with an optional K, M or G suffix (powers of 1024). */
static bool parse_number(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	size_t i = 0;

	if (len == 0)
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (x > (~0ull - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return false;
	if (i + 1 == len) {
		unsigned shift;

		switch (s[i]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return false;
		}
		if (x > (~0ull >> shift))
			return false;
		x <<= shift;
	} else if (i != len) {
		return false;
	}
	*v = x;
	return true;
}

/* Option key for workload w: its value, the default if absent. */
static bool option(const struct work_def *w, unsigned i, uint64_t *v)
{
	const char *s;
	size_t len;

	s = cmdline_get(boot.cmdline, w->key[i], &len);
	if (!s && i == 0 && w->n_alias)
		s = cmdline_get(boot.cmdline, "n", &len);
	if (!s) {
		*v = w->def[i];
		return true;
	}
	if (!parse_number(s, len, v)) {
		print_word("bad number", s, len);
		return false;
	}
	if (*v < w->min[i] || *v > w->max[i] || (*v & (w->align[i] - 1))) {
		printf("bench: %s: %s=%llu is out of range (%llu..%llu, a multiple of %llu)\n",
		       w->name, w->key[i], (unsigned long long)*v, (unsigned long long)w->min[i],
		       (unsigned long long)w->max[i], (unsigned long long)w->align[i]);
		return false;
	}
	return true;
}

#define MAX_RUNS 16

int kernel_main(void)
{
	static struct bench_args args[MAX_RUNS]; /* static: below 1 GiB, identity mapped */
	unsigned nruns = 0;
	uint32_t status = EXIT_PASS;
	const char *list, *item, *end;
	size_t len, ilen;

	list = cmdline_get(boot.cmdline, "work", &len);
	if (!list) {
		for (unsigned w = 0; w < W_COUNT; w++)
			args[nruns++].work = w;
	} else {
		end = list + len;
		while (list_next(&list, end, &item, &ilen)) {
			int w = name_index(works, sizeof(works[0]), W_COUNT, item, ilen);

			if (w < 0) {
				print_word("unknown workload", item, ilen);
				return EXIT_USAGE;
			}
			if (nruns == MAX_RUNS) {
				printf("bench: more than %u workloads\n", MAX_RUNS);
				return EXIT_USAGE;
			}
			args[nruns++].work = (unsigned)w;
		}
		if (!nruns) {
			printf("bench: work= names no workload\n");
			return EXIT_USAGE;
		}
	}
	for (unsigned i = 0; i < nruns; i++) {
		const struct work_def *w = &works[args[i].work];

		if (!option(w, 0, &args[i].a))
			return EXIT_USAGE;
		args[i].b = 0;
		if (w->key[1] && !option(w, 1, &args[i].b))
			return EXIT_USAGE;
	}

	for (unsigned i = 0; i < nruns; i++) {
		const struct work_def *w = &works[args[i].work];
		uint32_t st;

		if (w->key[1])
			printf("params %s: %s=%llu %s=%llu\n", w->name, w->key[0],
			       (unsigned long long)args[i].a, w->key[1], (unsigned long long)args[i].b);
		else
			printf("params %s: %s=%llu\n", w->name, w->key[0], (unsigned long long)args[i].a);
		if (args[i].work == W_NONPAGING)
			st = work_nonpaging(&args[i]);
		else
			st = long_call((uint32_t)(uintptr_t)&args[i]);
		if (st == EXIT_FAIL)
			status = EXIT_FAIL;
		else if (st != EXIT_PASS)
			return (int)st;
	}
	return (int)status;
}
