/*
 * The run's counters, the same names in both modes (docs/counters.md):
 * the list both modes report, the mode's values now or over the run, and
 * how a run ended, by name.  Read by the trace, the phase marks, the live
 * status line, the end-of-run report and compare.
 */
#include "counters.h"

const char *const vm_mmu_counters[] = {
	"pf_taken", "pf_fixed", "pf_guest", "pf_emulate", "pf_spurious", "invlpg",
	"tlb_flush", "mmu_shadow_zapped", "mmu_pte_write", "mmu_flooded",
	"mmu_recycled", "mmu_cache_miss", "mmu_unsync",
	/* not the MMU's, but what a user compares across modes as well */
	"mmio_exits", "irq_injections", NULL,
};

const char *vm_end_name(enum run_end end)
{
	switch (end) {
	case END_DEBUG_EXIT:  return "debug-exit";
	case END_SHUTDOWN:    return "shutdown";
	case END_GUEST_ERROR: return "guest-error";
	case END_HOST_ERROR:  return "host-error";
	case END_TIMEOUT:     return "timeout";
	case END_INTERRUPTED: return "interrupted";
	default:              return "running";
	}
}

void vm_counters(const struct vm *vm, struct counters *list)
{
	list->n = 0;
	vm->mode->counters((struct vm *)vm, list);
}
