/*
 * The in-memory shadow-mode machine the trap-path and MMIO unit tests
 * share (shadow_fixture.h): shadow_build's, on buffers of its own.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_fixture.h"

void fixture_new(struct shadow_fixture *f)
{
	/* The MMU as the tests were written for: vtlb, no prefetch, 4 KiB
	 * shadow leaves only. */
	const struct shadow_opts opts = { .sync = SHADOW_SYNC_VTLB, .pages = FIX_POOL_PAGES,
					  .prefetch = 0, .no_large = true };
	struct memslot *s;

	f->vm = calloc(1, sizeof(*f->vm));
	f->sh = calloc(1, sizeof(*f->sh));
	f->mon = aligned_alloc(4096, MON_SIZE);
	f->pool = aligned_alloc(4096, FIX_POOL_PAGES * 4096);
	cr_assert(f->vm && f->sh && f->mon && f->pool);
	memset(f->mon, 0, MON_SIZE);
	memset(f->pool, 0, FIX_POOL_PAGES * 4096);
	mem_init(&f->vm->mem);
	f->vm->mem.mpa_offset = SHADOW_RAM_MPA_OFFSET;
	cr_assert_eq(mem_slot_add(&f->vm->mem, 0, FIX_RAM, &s), 0);
	f->ram = s->hva;
	f->vm->kvm.run = calloc(1, sizeof(struct kvm_run));
	cr_assert(f->vm->kvm.run);
	f->vm->log = stderr;
	cr_assert_eq(shadow_build(f->sh, f->vm, &opts, f->mon, f->pool, FIX_POOL_PAGES), 0, "%s", f->vm->err);
	cr_assert_eq(f->sh->mon_pml4e, FIX_MON_E);
}

void fixture_reset_mmu(struct shadow_fixture *f)
{
	mmu_destroy(&f->sh->mmu);
	memset(f->pool, 0, FIX_POOL_PAGES * 4096);
	cr_assert_eq(mmu_init(&f->sh->mmu, &f->vm->mem, f->pool, POOL_MPA, FIX_POOL_PAGES, f->sh->mon_slot, FIX_MON_E), 0);
}

void fixture_free(struct shadow_fixture *f)
{
	shadow_unbuild(f->sh);
	mem_destroy(&f->vm->mem);
	free(f->vm->kvm.run);
	free(f->mon);
	free(f->pool);
	free(f->sh);
	free(f->vm);
}

void fixture_put(struct shadow_fixture *f, uint64_t gpa, uint64_t v, unsigned size)
{
	memcpy(f->ram + gpa, &v, size);
}

void fixture_cpu(struct shadow_fixture *f, bool is_long, uint16_t gdt_limit)
{
	struct vcpu *v = &f->sh->v;

	memset(v, 0, sizeof(*v));
	v->cr0 = CR0_PE | CR0_ET | (is_long ? CR0_PG : 0);
	v->cr4 = is_long ? CR4_PAE : 0;
	v->efer = is_long ? EFER_LME | EFER_LMA : 0;
	v->cr3 = FIX_ROOT;
	v->gdtr.base = FIX_GDT;
	v->gdtr.limit = gdt_limit;
	v->idtr.base = FIX_IDT;
	v->idtr.limit = is_long ? 0xfff : 0x7ff;
}

uint64_t fixture_get(const struct shadow_fixture *f, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, f->ram + gpa, size);
	return v;
}
