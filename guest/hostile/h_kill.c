/*
 * h_kill.c: the cases that never end by themselves, run one at a time
 * (cases=NAME) so that each run's verdict is ombra's "guest killed:
 * <reason>", not the guest's own:
 *   storm   a page fault whose handler fixes nothing: the same instruction
 *           faults forever (shadow mode's no-progress detector, or
 *           --timeout where the faults never leave KVM);
 *   spin    a loop with nothing in it, forever (--timeout);
 *   triple  an IDT with no entries, then a fault: the fault, the #DF
 *           its delivery raises, and the fault delivering that (shutdown);
 *   upper   a page in the upper half of the address space read at ring 0
 *           and ring 3: fine on any PC, but this project's build host's
 *           KVM (kvm_pvm) keeps real CPL-3 code out of the upper half, so
 *           it is a probe for that limit (docs/host.md).
 */
#include "hostile.h"

static enum pf_outcome ignore_fault(uint64_t cr2, uint32_t error)
{
	(void)cr2, (void)error;
	return PF_FIXED;           /* "fixed": retry, and fault again */
}

void h_storm(struct tally *t, uint32_t arg)
{
	(void)arg;
	space_enter(boot.pool_end);
	trap_set_pf_hook(ignore_fault);
	printf("storm: reading an unmapped page, forever\n");
	*(volatile uint32_t *)(uintptr_t)pt_slot_va(pm, 3);
	check(t, false, "the read of an unmapped page completed");
}

void h_spin(struct tally *t, uint32_t arg)
{
	(void)arg;
	printf("spin: a loop with nothing in it, forever\n");
	for (;;)
		__asm__ volatile("" ::: "memory");
	check(t, false, "unreachable");
}

void h_triple(struct tally *t, uint32_t arg)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) empty = { 0, 0 };

	(void)arg;
	printf("triple: an empty IDT, then #UD\n");
	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty));
	check(t, false, "ud2 with an empty IDT returned");
}

void h_upper(struct tally *t, uint32_t arg)
{
	uint64_t *root, va = 0xffff888000000000ull;            /* where Linux's direct map starts */
	uint32_t *frame;
	char got[64];

	(void)arg;
	root = space_enter(boot.pool_end);
	frame = page_alloc();
	frame[0] = 0x0badfeed;
	pt_map(pm, root, va, (uintptr_t)frame, 1, PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
	for (unsigned user = 0; user < 2; user++) {
		struct outcome o = probe(ACCESS_READ, user, va, 0);

		check(t, o.ok && o.value == 0x0badfeed, "ring %u read of %#llx: want 0xbadfeed, got %s %#x",
		      user * 3, (unsigned long long)va, fault_name(o.ok, &o.f, got, sizeof(got)), o.value);
	}
	paging_leave();
}
