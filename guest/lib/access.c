/*
 * access.c: one memory access made on purpose, at ring 0 or ring 3, with any
 * fault caught.  This is the probe under every permission, A/D and reserved-bit
 * check: a few dozen instructions, plus one exception when the access is made
 * from ring 3 or faults.
 *
 * Ring 0 calls a tiny C function inside trap_catch().  Ring 3 IRETs into one
 * of the user_* routines (trap32.S/trap64.S); a completed access comes back
 * as the ud2 at user_done, a failed one as its #PF.
 */
#include "cpu.h"
#include "trap.h"

const char *const access_names[3] = { "read", "write", "fetch" };

static uintptr_t kernel_read(uintptr_t va, uintptr_t unused1, uintptr_t unused2)
{
	(void)unused1, (void)unused2;
	return *(volatile uint32_t *)va;
}

static uintptr_t kernel_write(uintptr_t va, uintptr_t val, uintptr_t unused)
{
	(void)unused;
	*(volatile uint32_t *)va = (uint32_t)val;
	return 0;
}

static uintptr_t kernel_fetch(uintptr_t va, uintptr_t unused1, uintptr_t unused2)
{
	(void)unused1, (void)unused2;
	((void (*)(void))va)();
	return 0;
}

bool access_run(enum access_op op, bool user, uint64_t va, uint32_t wval, uint32_t *rval,
		struct fault *f)
{
	static const catch_fn kernel_ops[3] = { kernel_read, kernel_write, kernel_fetch };
	static char *const user_ops[3] = { user_read, user_write, user_fetch };
	uintptr_t ret = 0;

	if (!user) {
		if (trap_catch(kernel_ops[op], (uintptr_t)va, wval, 0, &ret)) {
			*f = trap_last;
			return false;
		}
		if (rval)
			*rval = (uint32_t)ret;
		return true;
	}

	trap_catch(user_enter, (uintptr_t)user_ops[op], (uintptr_t)va, wval, NULL);
	if (trap_last.vector == VEC_UD && trap_last.user && trap_last.ip == (uintptr_t)user_done) {
		if (rval)
			*rval = (uint32_t)trap_last.ax;
		return true;
	}
	*f = trap_last;
	return false;
}
