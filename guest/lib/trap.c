/*
 * trap.c: where every exception ends up (see trap.h for the rules).
 *
 * An exception nobody expected prints one line and ends the run with status
 * 2, so a broken case can never hang the machine or print garbage.
 */
#include "cpu.h"
#include "trap.h"

struct fault trap_last;
extern int trap_catch_armed; /* trap32.S / trap64.S */
static pf_hook_fn pf_hook;
static irq_hook_fn irq_hook;
static exc_hook_fn exc_hook;
volatile unsigned long sti_shadow_breaks;

void trap_set_exc_hook(exc_hook_fn hook)
{
	exc_hook = hook;
}

void trap_set_pf_hook(pf_hook_fn hook)
{
	pf_hook = hook;
}

void trap_set_irq_hook(irq_hook_fn hook)
{
	irq_hook = hook;
}

void sti_shadow_report(const char *who)
{
	static unsigned long reported;

	if (sti_shadow_breaks != reported)
		printf("note: %s: %lu interrupts taken inside STI's shadow, at sti_hlt_cli's HLT "
		       "(a CPU holds them one instruction); each moved past the HLT\n", who,
		       sti_shadow_breaks - reported);
	reported = sti_shadow_breaks;
}

void trap_dispatch(struct trap_frame *f)
{
	uint64_t cr2 = f->vector == VEC_PF ? read_cr2() : 0;
	bool user = (f->cs & 3) == 3;

	if (f->vector == VEC_PF && pf_hook && pf_hook(cr2, (uint32_t)f->error) == PF_FIXED)
		return; /* IRET retries the access */
	if (f->vector >= 32 && f->ip == (uintptr_t)sti_hlt_cli_hlt) {
		f->ip++;                   /* HLT is one byte */
		sti_shadow_breaks++;
	}
	if (f->vector >= 32 && irq_hook) {
		irq_hook(f);
		return; /* IRET back to what was interrupted */
	}
	if (f->vector < 32 && exc_hook && exc_hook(f))
		return; /* the hook took it (and may have changed the frame) */

	if (trap_catch_armed) {
		trap_last = (struct fault){
			.vector = (uint32_t)f->vector,
			.error = (uint32_t)f->error,
			.cr2 = cr2,
			.ip = f->ip,
			.sp = user ? f->sp : 0,
			.ax = f->ax,
			.cs = (uint32_t)f->cs,
			.ss = user ? (uint32_t)f->ss : 0,
			.user = user,
		};
		trap_catch_resume();
	}

	printf("unexpected %s vector %u err %#x at %s %#llx cr2 %#llx\n",
	       f->vector >= 32 ? "interrupt" : "exception", (unsigned)f->vector, (unsigned)f->error,
#ifdef __x86_64__
	       "rip",
#else
	       "eip",
#endif
	       (unsigned long long)f->ip, (unsigned long long)read_cr2());
	guest_exit(EXIT_EXCEPTION);
}
