/*
 * t_user.c: cases user32 and user64.  Ring 3, entered with IRET (32-bit
 * kernel, 2-level paging) or IRETQ (64-bit kernel, 4-level paging), and left
 * only through exceptions, since INT n, SYSCALL and SYSENTER are out (see
 * HOST.md).  Each trip checks the vector, the error code, the saved
 * instruction pointer and the saved CS, SS and stack pointer of the frame:
 *   1. a sum computed at ring 3, back through ud2 (#UD);
 *   2. int3 (#BP through the IDT's one DPL-3 gate), saved IP after it;
 *   3. CLI at CPL 3: #GP(0);
 *   4. OUT at CPL 3 (IOPL 0, no I/O bitmap): #GP(0);
 *   5. a write to a supervisor-only page: #PF, error P|W|U;
 *   6. a read of a not-present page: #PF, error U;
 *   7. (user64) the same kind of trips into 32-bit compatibility mode: a
 *      sum, and a read of a supervisor page below 4 GiB.
 * Between trips the kernel's canary word must be intact.
 * (user32 runs under paging although trips 1-4 would not need it: KVM's
 * instruction emulator cannot do a protected-mode IRET, and on a host like
 * this project's build host, where KVM emulates all ring-0 code, that ends
 * the VM.  With paging first, such a host fails the case cleanly at the
 * switch to 2-level paging, which it cannot do either.)
 */
#include "desc.h"
#include "mmutest.h"

extern char user_add[], user_int3[], user_after_int3[], user_cli[], user_out[];
#ifdef __x86_64__
extern char compat_add[], compat_read[], compat_done[];
#define USER_CS SEL_UCODE64
#else
#define USER_CS SEL_UCODE32
#endif

struct trip {
	const char *what;
	uintptr_t (*enter)(uintptr_t entry, uintptr_t bx, uintptr_t cx);
	uintptr_t entry, bx, cx; /* where ring 3 starts, and its EBX/ECX */
	uint32_t vector, error;  /* the exception that must end the trip */
	uintptr_t ip;            /* its saved instruction pointer */
	uint64_t cr2;            /* for #PF */
	uint32_t cs;             /* saved CS */
	uint64_t ax;             /* EAX/RAX at the exception, if check_ax */
	bool check_ax;
};

static volatile uint32_t canary = 0xca1a2e11;

static void run_trip(struct tally *t, const struct trip *tr)
{
	struct fault *f = &trap_last;
	int caught = trap_catch(tr->enter, tr->entry, tr->bx, tr->cx, NULL);
	char got[32];

	if (!check(t, caught == 1 && f->vector == tr->vector && f->error == tr->error,
		   "%s: expected vector %u err %#x, got %s", tr->what, tr->vector, tr->error,
		   caught ? outcome_name(true, f, got, sizeof(got)) : "a return"))
		return;
	check(t, f->user && f->cs == tr->cs && f->ss == SEL_UDATA,
	      "%s: saved CS %#x SS %#x, expected %#x %#x", tr->what, f->cs, f->ss, tr->cs,
	      SEL_UDATA);
	check(t, f->ip == tr->ip, "%s: saved IP is not the expected instruction", tr->what);
	check(t, f->sp == (uintptr_t)user_stack_top, "%s: saved SP is not the user stack",
	      tr->what);
	if (tr->vector == VEC_PF)
		check(t, f->cr2 == tr->cr2, "%s: CR2 is not the address accessed", tr->what);
	/* Only EAX: after compatibility mode the upper half of RAX is undefined. */
	if (tr->check_ax)
		check(t, (uint32_t)f->ax == (uint32_t)tr->ax, "%s: ring 3 computed %#x, expected %#x",
		      tr->what, (uint32_t)f->ax, (uint32_t)tr->ax);
	check(t, canary == 0xca1a2e11, "%s: the kernel's canary changed", tr->what);
}

void test_user(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	const struct trip basic[] = {
		{ "ud2 after a sum at ring 3", user_enter, (uintptr_t)user_add, 40, 2, VEC_UD, 0,
		  (uintptr_t)user_done, 0, USER_CS, 42, true },
		{ "int3 at ring 3", user_enter, (uintptr_t)user_int3, 0, 0, VEC_BP, 0,
		  (uintptr_t)user_after_int3, 0, USER_CS, 0, false },
		{ "cli at ring 3", user_enter, (uintptr_t)user_cli, 0, 0, VEC_GP, 0,
		  (uintptr_t)user_cli, 0, USER_CS, 0, false },
		{ "out at ring 3", user_enter, (uintptr_t)user_out, 0, 0, VEC_GP, 0,
		  (uintptr_t)user_out, 0, USER_CS, 0, false },
	};
	struct ctx c;

	(void)leaves;
	if (!ctx_enter(&c, t, m))
		return;
	for (unsigned i = 0; i < ARRAY_SIZE(basic); i++)
		run_trip(t, &basic[i]);

	/* A supervisor-only page (U=0 in the PTE) and an unmapped one, in test slots. */
	uint64_t sup_va = pt_slot_va(m, 0), absent_va = pt_slot_va(m, 1) + 0x2000;

	pt_map(m, c.root, sup_va, test_frame(0x5e5e0000), 1, PTE_P | PTE_W);
	const struct trip paged[] = {
		{ "ring-3 write to a supervisor page", user_enter, (uintptr_t)user_write,
		  (uintptr_t)sup_va + DATA_OFF, 7, VEC_PF, PFERR_P | PFERR_W | PFERR_U,
		  (uintptr_t)user_write, sup_va + DATA_OFF, USER_CS, 0, false },
		{ "ring-3 read of a not-present page", user_enter, (uintptr_t)user_read,
		  (uintptr_t)absent_va, 0, VEC_PF, PFERR_U, (uintptr_t)user_read, absent_va,
		  USER_CS, 0, false },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(paged); i++)
		run_trip(t, &paged[i]);

#ifdef __x86_64__
	/* Compatibility mode reaches only the low 4 GiB: a supervisor page at 3 GiB. */
	uint64_t low_sup = 0xc0000000ull;

	pt_map(m, c.root, low_sup, test_frame(0x5e5e0001), 1, PTE_P | PTE_W);
	const struct trip compat[] = {
		{ "ud2 after a sum in compatibility mode", user_enter_compat,
		  (uintptr_t)compat_add, 40, 2, VEC_UD, 0, (uintptr_t)compat_done, 0,
		  SEL_UCODE32, 42, true },
		{ "compatibility-mode read of a supervisor page", user_enter_compat,
		  (uintptr_t)compat_read, (uintptr_t)low_sup + DATA_OFF, 0, VEC_PF,
		  PFERR_P | PFERR_U, (uintptr_t)compat_read, low_sup + DATA_OFF, SEL_UCODE32,
		  0, false },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(compat); i++)
		run_trip(t, &compat[i]);
#endif
	ctx_leave(&c);
}
