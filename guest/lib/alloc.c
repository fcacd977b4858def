/*
 * alloc.c: the page pool (see alloc.h).  Running out is a bug in a test
 * kernel, so it panics with the numbers rather than returning NULL.
 */
#include "alloc.h"

static struct {
	uint64_t start; /* first byte of the pool */
	uint64_t end;   /* end of the pool */
	uint64_t next;  /* first free byte */
} pool;

void pool_init(uint64_t start, uint64_t end)
{
	pool.start = (start + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	pool.end = end & ~(uint64_t)(PAGE_SIZE - 1);
	pool.next = pool.start;
}

void pool_reset(void)
{
	pool.next = pool.start;
}

uint64_t region_alloc(uint64_t size, uint64_t align)
{
	uint64_t at = (pool.next + align - 1) & ~(align - 1);

	if (at + size > pool.end || at + size < at)
		panic("page pool exhausted: %#llx bytes wanted at %#llx, pool ends at %#llx",
		      (unsigned long long)size, (unsigned long long)at,
		      (unsigned long long)pool.end);
	pool.next = at + size;
	return at;
}

void *page_alloc_dirty(void)
{
	return phys_ptr(region_alloc(PAGE_SIZE, PAGE_SIZE));
}

void *page_alloc(void)
{
	void *p = page_alloc_dirty();
	uintptr_t d = (uintptr_t)p;

	/* One string instruction rather than a loop: ring-0 instructions are
	 * expensive under an emulating hypervisor. */
#ifdef __x86_64__
	uintptr_t n = PAGE_SIZE / 8;
	__asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0ul) : "memory");
#else
	uintptr_t n = PAGE_SIZE / 4;
	__asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(0ul) : "memory");
#endif
	return p;
}
