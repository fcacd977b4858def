/*
 * main64.c: the bench kernel's 64-bit half.  long_call(&args) from main32.c
 * lands in kernel_call64(), which runs one workload in long mode with
 * 4-level paging and returns its exit status.  Every #PF goes through
 * count_pf(), which counts it and hands it to the workload's own handler,
 * if it has one; a fault nobody handles ends the run (trap.c).
 */
#include "bench.h"
#include "longcall.h"

static pf_hook_fn work_pf;

static enum pf_outcome count_pf(uint64_t cr2, uint32_t error)
{
	pf_count++;
	return work_pf ? work_pf(cr2, error) : PF_NOT_MINE;
}

void bench_set_pf(pf_hook_fn fn)
{
	work_pf = fn;
	barrier();
}

uint32_t kernel_call64(uint32_t call)
{
	const struct bench_args *a = (const void *)(uintptr_t)call;
	uint32_t status;

	pf_count = 0;
	work_pf = NULL;
	trap_set_pf_hook(count_pf);
	switch (a->work) {
	case W_CALIB:   status = work_calib(a); break;
	case W_FAULTS:  status = work_faults(a); break;
	case W_CR3:     status = work_cr3(a); break;
	case W_PTWRITE: status = work_ptwrite(a); break;
	case W_TLB:     status = work_tlb(a); break;
	case W_PAGING:  status = work_paging(a); break;
	case W_IRQ:     status = work_irq(a); break;
	default:
		panic("64-bit half: no workload number %u", a->work);
	}
	trap_set_pf_hook(NULL);
	return status;
}
