/*
 * t_sched.c: case sched.  A small preemptive scheduler: NPROC user
 * processes, each in an address space of its own, all running the same
 * ring-3 code on private data at the same virtual address, switched by the
 * local APIC's periodic timer.  Each computes a checksum of its own data
 * and stops with ud2; when all have, the kernel prints the checksums.
 * Where the switches fall changes nothing in them, so the output is the
 * same on every machine; the case checks that a process was preempted, and
 * each checksum against the same work run again at ring 3 with no timer.
 *
 * The kernel's own context (idle: sti; hlt) is context 0; the timer's
 * handler saves the interrupted context's registers from the trap frame
 * and puts the next one's there, with a MOV CR3 to its address space,
 * and the IRETQ of the trap path does the rest.
 */
#include "desc.h"
#include "irq.h"

#define NPROC     4
#define ITER      5000000u                 /* a few ms each, natively */
#define PRIV_VA   (1ull << 39)              /* slot 1 of the PML4: private data */
#define STACK_VA  (PRIV_VA + 0x2000)        /* private stack (top) */

struct context {
	struct trap_frame f;                /* registers, RIP, CS, RFLAGS, RSP, SS */
	uint64_t cr3;
	bool done;
};

static struct context ctx[NPROC + 1];       /* 0: the kernel's idle loop */
static volatile unsigned current, switches, preemptions, done_count;

/* The ring-3 work: FNV-1a over its private seed, ITER rounds. */
static void __attribute__((noreturn, used)) proc_main(void)
{
	volatile uint64_t *priv = (volatile uint64_t *)(uintptr_t)PRIV_VA;
	uint64_t h = 0xcbf29ce484222325ull, seed = priv[0];

	for (uint32_t i = 0; i < ITER; i++) {
		h ^= seed + i;
		h *= 0x100000001b3ull;
	}
	priv[1] = h;
	__asm__ volatile("ud2");
	__builtin_unreachable();
}

/* The same work once more, from start to end with no timer running, at
 * ring 3 (natively fast in every mode): what each process must get. */
static volatile uint64_t ref_seed, ref_out;

static void __attribute__((noreturn, used)) ref_main(void)
{
	uint64_t h = 0xcbf29ce484222325ull, seed = ref_seed;

	for (uint32_t i = 0; i < ITER; i++) {
		h ^= seed + i;
		h *= 0x100000001b3ull;
	}
	ref_out = h;
	__asm__ volatile("ud2");
	__builtin_unreachable();
}

static void switch_to(struct trap_frame *f, unsigned next)
{
	ctx[current].f = *f;
	current = next;
	*f = ctx[next].f;
	write_cr3(ctx[next].cr3);
}

/* The next context that still runs, after the current one; 0 if none. */
static unsigned next_runnable(void)
{
	for (unsigned i = 1; i <= NPROC; i++) {
		unsigned c = (current + i - 1) % NPROC + 1;

		if (!ctx[c].done)
			return c;
	}
	return 0;
}

static void on_timer(struct trap_frame *f)
{
	unsigned next;

	irq_count[f->vector]++;
	apic_write(APIC_EOI, 0);
	/* A process that has not got past the instruction it was resumed at
	 * keeps the CPU: a machine slower than the tick (a software CPU, a
	 * sanitizer build) must not switch it out before it runs at all,
	 * over and over (each switch costs it its TLB entries again). */
	if (current && f->ip == ctx[current].f.ip)
		return;
	next = next_runnable();
	if (next && next != current) {
		switches++;
		preemptions += current != 0;            /* a process lost the CPU to another */
		switch_to(f, next);
	}
}

/* A process's ud2: it finished; run another, or go back to the kernel. */
static bool on_exception(struct trap_frame *f)
{
	if (f->vector != VEC_UD || (f->cs & 3) != 3 || !current)
		return false;
	ctx[current].done = true;
	done_count++;
	switch_to(f, next_runnable());
	return true;
}

void case_sched(struct tally *t)
{
	uint64_t kernel_cr3;

	irq_setup();
	kernel_cr3 = read_cr3();
	memset(ctx, 0, sizeof(ctx));
	current = 0, switches = 0, preemptions = 0, done_count = 0;
	for (unsigned p = 1; p <= NPROC; p++) {
		void *root = pt_new_address_space(&pgmode_4level);
		uint64_t *priv = page_alloc();

		pt_map(&pgmode_4level, root, APIC_BASE, APIC_BASE, 1, PTE_P | PTE_W | PTE_PCD | PTE_PWT);
		pt_map(&pgmode_4level, root, PRIV_VA, (uintptr_t)priv, 1, PTE_P | PTE_W | PTE_U);
		pt_map(&pgmode_4level, root, STACK_VA - PAGE_SIZE, (uintptr_t)page_alloc(), 1,
		       PTE_P | PTE_W | PTE_U);
		priv[0] = 0x5eed0000ull + p;
		ctx[p].cr3 = (uintptr_t)root;
		ctx[p].f.ip = (uintptr_t)proc_main;
		ctx[p].f.cs = SEL_UCODE64;
		ctx[p].f.flags = 0x202;                     /* IF set: the timer preempts it */
		ctx[p].f.sp = STACK_VA - 8;
		ctx[p].f.ss = SEL_UDATA;
	}
	ctx[0].cr3 = kernel_cr3;
	trap_set_irq_hook(on_timer);
	trap_set_exc_hook(on_exception);
	apic_write(APIC_LVTT, LVT_PERIODIC | VEC_TIMER);
	/* 1 ms: well above what a switch costs anywhere this runs (shadow
	 * mode's MOV CR3 under vtlb on a nested host is tens of us), so the
	 * processes get somewhere between ticks */
	apic_write(APIC_TMICT, 1000000);
	while (done_count < NPROC)
		sti_hlt_cli();
	apic_write(APIC_LVTT, LVT_MASKED | VEC_TIMER);
	trap_set_exc_hook(NULL);
	check(t, current == 0 && read_cr3() == kernel_cr3, "back in the kernel with CR3 %#llx",
	      (unsigned long long)read_cr3());
	check(t, preemptions >= 1, "no process was preempted (%u switches)", switches);
	for (unsigned p = 1; p <= NPROC; p++) {
		uint64_t *priv = pt_walk(&pgmode_4level, phys_ptr(ctx[p].cr3), PRIV_VA, 1, false);
		uint64_t got = ((uint64_t *)phys_ptr(*priv & pgmode_4level.addr_mask))[1];
		uint64_t want;

		ref_seed = 0x5eed0000ull + p;
		trap_catch(user_enter, (uintptr_t)ref_main, 0, 0, NULL);
		want = ref_out;
		check(t, trap_last.vector == VEC_UD && got == want, "process %u: checksum %#llx, want %#llx", p, (unsigned long long)got,
		      (unsigned long long)want);
		printf("sched: process %u checksum %#llx\n", p, (unsigned long long)got);
	}
	irq_teardown();
}
