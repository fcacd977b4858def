/*
 * common.c: phase lines, checks and the memory layout, in both halves of
 * the bench kernel (bench.h).
 */
#include "bench.h"

volatile uint64_t pf_count;

void bench_begin(struct bench *b, const char *name)
{
	b->name = name;
	b->phases = 0;
	tally_begin(&b->tally, name);
}

uint32_t bench_end(struct bench *b)
{
#ifdef __x86_64__
	sti_shadow_report(b->name);
#endif
	if (!tally_end(&b->tally))
		return EXIT_FAIL;
	printf("bench %s done\n", b->name);
	return EXIT_PASS;
}

void phase_stop_cycles(struct bench *b, const char *phase, uint64_t iterations, uint64_t cycles)
{
	uint64_t faults = pf_count - b->f0;

	mark(2 * b->phases + 1);
	b->phases++;
	printf("bench %s phase %s: iterations %llu cycles %llu faults %llu\n", b->name, phase,
	       (unsigned long long)iterations, (unsigned long long)cycles,
	       (unsigned long long)faults);
}

void phase_stop(struct bench *b, const char *phase, uint64_t iterations)
{
	uint64_t t1 = rdtsc();

	phase_stop_cycles(b, phase, iterations, t1 - b->t0);
}

static struct {
	const char *work;
	uint64_t lo;  /* next page for tables */
	uint64_t hi;  /* data grows down from here */
	uint64_t top; /* end of RAM, 2 MiB aligned */
} mem;

void mem_init(const char *work)
{
	mem.work = work;
	mem.lo = (boot.pool_start + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	mem.top = boot.ram_end & ~(LARGE_PAGE - 1);
	mem.hi = mem.top;
	if (mem.hi < mem.lo)
		mem.hi = mem.lo;
}

uint64_t mem_top(void)
{
	return mem.top;
}

static NORETURN void mem_short(uint64_t bytes)
{
	printf("bench: %s: %llu KiB more does not fit in the %llu KiB left; ask for less, "
	       "or give the guest more RAM\n", mem.work,
	       (unsigned long long)(bytes >> 10), (unsigned long long)((mem.hi - mem.lo) >> 10));
	guest_exit(EXIT_USAGE);
}

void *mem_tables(uint64_t pages)
{
	uint64_t bytes = pages * PAGE_SIZE, at = mem.lo;
	uintptr_t d;

	if (bytes > mem.hi - mem.lo)
		mem_short(bytes);
	mem.lo += bytes;
	d = (uintptr_t)at;
	/* One string instruction: ring-0 instructions may be emulated. */
#ifdef __x86_64__
	uintptr_t n = (uintptr_t)(bytes >> 3);
	__asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0ul) : "memory");
#else
	uintptr_t n = (uintptr_t)(bytes >> 2);
	__asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(0ul) : "memory");
#endif
	return phys_ptr(at);
}

uint64_t mem_data(uint64_t bytes, uint64_t align)
{
	uint64_t at;

	if (bytes > mem.hi - mem.lo)
		mem_short(bytes);
	at = (mem.hi - bytes) & ~(align - 1);
	if (at < mem.lo)
		mem_short(bytes);
	mem.hi = at;
	return at;
}
