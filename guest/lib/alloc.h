/*
 * alloc.h: the page pool.  A bump allocator over [boot.pool_start,
 * boot.pool_end), the RAM above the kernel image, the multiboot information
 * and any modules.  Each test case starts with pool_reset(), so it gets the
 * same frames every run: nothing a case prints can depend on what ran before.
 */
#ifndef GUEST_ALLOC_H
#define GUEST_ALLOC_H

#include "runtime.h"

#define PAGE_SIZE 4096u

void pool_init(uint64_t start, uint64_t end);
void pool_reset(void);                           /* forget every allocation */
void *page_alloc(void);                          /* a zeroed 4 KiB page */
void *page_alloc_dirty(void);                    /* a 4 KiB page, contents left as they are */
uint64_t region_alloc(uint64_t size, uint64_t align); /* physical range, not zeroed */

/* The pool is identity mapped in every paging mode, so a frame's physical
 * address is also a pointer to it. */
static inline void *phys_ptr(uint64_t pa)
{
	return (void *)(uintptr_t)pa;
}

#endif
