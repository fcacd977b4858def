/*
 * trap.h: exceptions, "expect a fault here", and trips to ring 3.
 *
 * Every exception enters trap_dispatch() with a struct trap_frame.  There it
 * is, in order:
 *   1. a page fault the test kernel's #PF hook handles (demand paging): the
 *      hook fixes the tables and the faulting instruction is retried;
 *   2. an exception inside trap_catch(): it is recorded in trap_last and
 *      trap_catch() returns 1 at once (the rest of the guarded call is
 *      abandoned, like a longjmp);
 *   3. anything else: an "unexpected exception" line and exit status 2.
 *
 * Ring 3 is entered with IRET/IRETQ (user_enter) inside trap_catch() and left
 * through an exception: a ud2 at user_done when the user code finished, or the
 * fault the test provoked.  Nothing here uses INT n, SYSCALL or SYSENTER.
 */
#ifndef GUEST_TRAP_H
#define GUEST_TRAP_H

#include "runtime.h"

/* What the entry stubs push, lowest address first. */
#ifdef __x86_64__
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t bp, di, si, dx, cx, bx, ax;
	uint64_t vector, error;          /* error is 0 for vectors without one */
	uint64_t ip, cs, flags, sp, ss;  /* pushed by the CPU */
};
#else
struct trap_frame {
	uint32_t es, ds;
	uint32_t di, si, bp, unused_sp, bx, dx, cx, ax; /* PUSHA */
	uint32_t vector, error;
	uint32_t ip, cs, flags;          /* pushed by the CPU */
	uint32_t sp, ss;                 /* pushed only when coming from ring 3 */
};
#endif

/* One exception as trap_catch() saw it. */
struct fault {
	uint32_t vector; /* exception vector */
	uint32_t error;  /* error code (0 if the vector has none) */
	uint64_t cr2;    /* CR2, for #PF only (else 0) */
	uint64_t ip;     /* saved EIP/RIP: the faulting instruction, or after it for #BP */
	uint64_t sp;     /* saved ESP/RSP (from ring 3 only) */
	uint64_t ax;     /* EAX/RAX at the time: user code leaves results there */
	uint32_t cs, ss; /* saved selectors (ss from ring 3 only) */
	bool user;       /* the exception came from ring 3 (the saved CS has RPL 3) */
};
extern struct fault trap_last;

/* The test kernel's page-fault hook, for demand paging. */
enum pf_outcome {
	PF_NOT_MINE, /* not a fault the hook knows: go on with the other rules */
	PF_FIXED,    /* the hook mapped the page: retry the instruction */
};
typedef enum pf_outcome (*pf_hook_fn)(uint64_t cr2, uint32_t error);
void trap_set_pf_hook(pf_hook_fn hook);

/* The test kernel's interrupt handler: every vector from 32 up, with the
 * frame (which it may change: a scheduler switches the saved context). */
typedef void (*irq_hook_fn)(struct trap_frame *f);
void trap_set_irq_hook(irq_hook_fn hook);

/*
 * An interrupt taken at sti_hlt_cli's HLT (cpu.h) came inside STI's
 * one-instruction shadow, where no CPU takes one (SDM, STI: external
 * interrupts are recognized only after the next instruction).  Its IRET
 * would return to the HLT and sleep past the event the HLT waited for, so
 * trap_dispatch (and a handler of its own, as guest/bench/irq64.S) moves
 * the saved RIP past the HLT, as if taken there, and counts it:
 * sti_shadow_report prints the count, so a host that breaks the shadow is
 * seen and does not hang the kernel.
 */
extern volatile unsigned long sti_shadow_breaks;
void sti_shadow_report(const char *who);

/* A hook for exceptions, before trap_catch's rule: true if it handled the
 * exception (IRET to the frame, which it may have changed). */
typedef bool (*exc_hook_fn)(struct trap_frame *f);
void trap_set_exc_hook(exc_hook_fn hook);

typedef uintptr_t (*catch_fn)(uintptr_t a, uintptr_t b, uintptr_t c);

/*
 * Call fn(a, b, c) with exceptions caught.  Returns 0 if fn returned (its
 * value stored in *ret unless ret is NULL), or 1 if an exception happened:
 * trap_last describes it.  trap32.S / trap64.S.
 */
int trap_catch(catch_fn fn, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t *ret);
NORETURN void trap_catch_resume(void);
void trap_dispatch(struct trap_frame *f);

/*
 * Ring 3.  user_enter() IRETs to entry at ring 3 with EBX/RBX = bx, ECX/RCX = cx
 * and the stack user_stack; it never returns (use it inside trap_catch()).
 * The user_* routines below are ring-3 code that ends at user_done (ud2).
 */
uintptr_t user_enter(uintptr_t entry, uintptr_t bx, uintptr_t cx);
#ifdef __x86_64__
/* The same into 32-bit compatibility mode (ring-3 code segment with L=0). */
uintptr_t user_enter_compat(uintptr_t entry, uintptr_t bx, uintptr_t cx);
#endif
extern char user_read[];  /* EAX = *(u32 *)BX */
extern char user_write[]; /* *(u32 *)BX = ECX */
extern char user_fetch[]; /* call BX */
extern char user_done[];  /* ud2: how ring-3 code says "finished" */
extern char user_stack_top[];

/* access.c: one memory access, at ring 0 or ring 3, with faults caught. */
enum access_op { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };
extern const char *const access_names[3]; /* "read", "write", "fetch" */

/*
 * Read a u32 at va, write wval there, or call va (a ret instruction must be
 * there), at ring 0 or ring 3.  Returns true if the access completed (*rval
 * gets what a read returned); false if it faulted, *f saying how.
 */
bool access_run(enum access_op op, bool user, uint64_t va, uint32_t wval, uint32_t *rval,
		struct fault *f);

#endif
