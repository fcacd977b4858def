/*
 * bench.h: what the bench kernel's two halves share (README.md in this
 * directory has the command line and the workloads).
 *
 * Every workload prints, per phase,
 *     bench NAME phase PHASE: iterations N cycles C faults F
 * (C: the RDTSC delta over the phase; F: page faults the guest's own #PF
 * handler saw during it), then the repository's usual check line
 *     case NAME: ok | case NAME: FAIL ...
 * and, only when every check passed, `bench NAME done`.  Around each phase
 * it writes two marks to port 0x80 (the start, 2i, and the end, 2i+1, of
 * its phase i), outside the RDTSC window: ombra records the time and its
 * counters at each mark.
 */
#ifndef BENCH_H
#define BENCH_H

#include "alloc.h"
#include "check.h"
#include "cpu.h"
#include "paging.h"
#include "runtime.h"
#include "trap.h"

enum work_id { W_CALIB, W_FAULTS, W_CR3, W_PTWRITE, W_TLB, W_NONPAGING, W_PAGING, W_IRQ, W_COUNT };

/* What the 32-bit half hands to the 64-bit half: long_call()'s argument is
 * this structure's address (below 1 GiB, identity mapped everywhere).
 * Fixed-width fields only: both halves must lay it out the same. */
struct bench_args {
	uint32_t work;   /* enum work_id */
	uint32_t pad;
	uint64_t a, b;   /* the workload's parameters, defaults applied (README.md) */
};

#define MARK_PORT  0x80 /* phase marks (ombra: the JSON report's "marks") */
#define QUIET_PORT 0xed /* calib's port-I/O floor: a port no device claims */
#define MIB (1024ull * 1024)
#define LARGE_PAGE (2 * MIB)

/* A fixed-seed generator, the same in every run (64-bit half). */
#define LCG_MUL 6364136223846793005ull
#define LCG_ADD 1442695040888963407ull
/* The 32-bit word at a guest address, for the workloads' stores. */
static inline volatile uint32_t *word(uint64_t addr)
{
	return (volatile uint32_t *)(uintptr_t)addr;
}

static inline uint64_t lcg_next(uint64_t *x)
{
	*x = *x * LCG_MUL + LCG_ADD;
	return *x;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void mark(unsigned v)
{
	__asm__ volatile("outb %0, %1" : : "a"((uint8_t)v), "Nd"((uint16_t)MARK_PORT) : "memory");
}

/* Page faults seen by the guest's #PF handler (the 64-bit half counts them). */
extern volatile uint64_t pf_count;

/* One workload's run: its phases and its checks. */
struct bench {
	const char *name;
	unsigned phases; /* phases reported so far */
	uint64_t t0, f0;
	struct tally tally;
};

void bench_begin(struct bench *b, const char *name);
/* The check line, then "bench NAME done" if every check passed; returns the
 * exit status for this workload (EXIT_PASS or EXIT_FAIL). */
uint32_t bench_end(struct bench *b);

static inline void phase_start(struct bench *b)
{
	mark(2 * b->phases);
	b->f0 = pf_count;
	b->t0 = rdtsc();
}

/* End the phase started last: its line, with the RDTSC delta since then. */
void phase_stop(struct bench *b, const char *phase, uint64_t iterations);
/* The same with cycles measured by the workload itself (calib's ring-3 loop). */
void phase_stop_cycles(struct bench *b, const char *phase, uint64_t iterations, uint64_t cycles);

/*
 * Memory: [boot.pool_start, top) where top is the end of RAM rounded down to
 * 2 MiB (the end of every identity map).  Page tables and small arrays come
 * from the bottom (zeroed), data frames from the top down (left as they
 * are, never touched before the workload does), so a data region's place
 * depends only on the RAM size and the sizes asked for before it.  Running
 * out ends the run with EXIT_USAGE: the sizes asked for do not fit.
 */
void mem_init(const char *work);
uint64_t mem_top(void);
void *mem_tables(uint64_t pages);            /* zeroed, 4 KiB aligned */
uint64_t mem_data(uint64_t bytes, uint64_t align);

/* w_mem.c: the nonpaging/paging work over [start, start + size), one
 * phase "work"; the caller has set up the translation. */
void mem_work(struct bench *b, uintptr_t start, uintptr_t size);

#ifdef __x86_64__
/* pt4.c: 4-level tables from mem_tables(). */
#define ADDR_MASK   0x000ffffffffff000ull
#define TABLE_FLAGS (PTE_P | PTE_W | PTE_U | PTE_A)
#define LEAF_FLAGS  (PTE_P | PTE_W)               /* A and D left for the walk to set */
/* The entry a fault handler writes for the page it just gave the faulting
 * write (demand, copy-on-write), as Linux makes it: young and dirty
 * (mm/memory.c: do_anonymous_page and wp_page_copy, pte_mkyoung and
 * pte_mkdirty on vm_page_prot, which has _PAGE_ACCESSED on x86). */
#define FAULT_FLAGS (PTE_P | PTE_W | PTE_A | PTE_D)
#define REGION(n)   ((uint64_t)(n) << 39)         /* VA of PML4 slot n (never 0 or 511) */

uint64_t *pt4_root(void);
uint64_t *pt4_pde(uint64_t *root, uint64_t va);   /* creating PDPT and PD as needed */
/* Identity-map [0, end) with 2 MiB pages, P|W|U|A|D (end 2 MiB aligned). */
void pt4_identity(uint64_t *root, uint64_t end);
/* Map n 4 KiB pages at va (2 MiB aligned) to pa, pa + 4 KiB, ... with
 * flags, through page tables allocated in one piece: returns the n PTEs as
 * one array.  flags 0 leaves the PTEs empty (and pa unused). */
uint64_t *pt4_map4k(uint64_t *root, uint64_t va, uint64_t pa, uint64_t n, uint64_t flags);
/* A new root with the identity map of all of RAM, and CR3 loaded with it. */
uint64_t *base_space(void);

/* The workload's own #PF handler (NULL: none; every #PF is counted). */
void bench_set_pf(pf_hook_fn fn);

uint32_t work_calib(const struct bench_args *a);
uint32_t work_faults(const struct bench_args *a);
uint32_t work_cr3(const struct bench_args *a);
uint32_t work_ptwrite(const struct bench_args *a);
uint32_t work_tlb(const struct bench_args *a);
uint32_t work_paging(const struct bench_args *a);
uint32_t work_irq(const struct bench_args *a);
#else
uint32_t work_nonpaging(const struct bench_args *a);
#endif

#endif
