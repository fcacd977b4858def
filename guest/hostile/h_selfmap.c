/*
 * h_selfmap.c: case selfmap.  A PML4 entry that points at the PML4 itself
 * (the recursive mapping real kernels use to reach their own tables).  It
 * must work: through it the kernel reads every entry of every level,
 * rewrites a PTE and sees the new page after INVLPG, and builds a whole
 * new mapping, level by level, writing only through recursive addresses.
 * Ring 3 must not reach the tables (the recursive entry is supervisor).
 */
#include "hostile.h"

/* The recursive slot.  Slot 255, the top of the lower half: on this
 * project's build host (kvm_pvm) code at real CPL 3 cannot reach the upper
 * half at all (case upper, docs/host.md), and shadow mode runs the guest
 * kernel at CPL 3; the rest of the case does not care which slot it is. */
#define R 255ull
#define SEXT(a) ((a) | ((a) & (1ull << 47) ? 0xffff000000000000ull : 0))
#define REC4 SEXT(R << 39)
#define REC3 SEXT((R << 39) | (R << 30))
#define REC2 SEXT((R << 39) | (R << 30) | (R << 21))
#define REC1 SEXT((R << 39) | (R << 30) | (R << 21) | (R << 12))

/* The recursive address of the entry that maps va at `level`. */
static uint64_t rec_entry(uint64_t va, unsigned level)
{
	uint64_t low = va & 0xffffffffffffull;

	switch (level) {
	case 1: return REC4 + (low >> 12) * 8;
	case 2: return REC3 + (low >> 21) * 8;
	case 3: return REC2 + (low >> 30) * 8;
	default: return REC1 + (low >> 39) * 8;
	}
}

static bool rec_read(struct tally *t, uint64_t va, unsigned level, uint64_t *v)
{
	struct outcome lo = probe(ACCESS_READ, false, rec_entry(va, level), 0);
	struct outcome hi = probe(ACCESS_READ, false, rec_entry(va, level) + 4, 0);
	char got[64];

	if (!check(t, lo.ok && hi.ok, "reading the level-%u entry of %#llx at %#llx: %s", level,
		   (unsigned long long)va, (unsigned long long)rec_entry(va, level),
		   fault_name(lo.ok, lo.ok ? &hi.f : &lo.f, got, sizeof(got))))
		return false;
	*v = lo.value | (uint64_t)hi.value << 32;
	return true;
}

static void rec_write(uint64_t va, unsigned level, uint64_t v)
{
	*(volatile uint64_t *)rec_entry(va, level) = v;
}

void h_selfmap(struct tally *t, uint32_t arg)
{
	const uint64_t flags = PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
	uint64_t *root, va1, va2, v;
	uint32_t *f1, *f2, *f3;
	struct outcome o;
	char got[64];

	(void)arg;
	root = space_enter(boot.pool_end);
	cpu_set_nxe(true);
	f1 = page_alloc(), f2 = page_alloc(), f3 = page_alloc();
	f1[4] = 0x5e1f0001, f2[4] = 0x5e1f0002, f3[4] = 0x5e1f0003;
	root[R] = (uintptr_t)root | PTE_P | PTE_W | PTE_A | PTE_D;
	va1 = pt_slot_va(pm, 0) + 0x12345000;
	va2 = pt_slot_va(pm, 1) + 0x2468a000;
	pt_map(pm, root, va1, (uintptr_t)f1, 1, flags);
	for (unsigned l = 1; l <= 4; l++)
		*(uint64_t *)pt_walk(pm, root, va1, l, false) |= PTE_A | PTE_D;
	paging_set_root(root);

	/* Every level's entry, read through the recursive slot. */
	for (unsigned l = 1; l <= 4; l++)
		if (rec_read(t, va1, l, &v))
			check(t, v == *(uint64_t *)pt_walk(pm, root, va1, l, false),
			      "level-%u entry of %#llx: %#llx through the slot, %#llx in the table", l,
			      (unsigned long long)va1, (unsigned long long)v,
			      (unsigned long long)*(uint64_t *)pt_walk(pm, root, va1, l, false));
	if (rec_read(t, REC1, 4, &v))
		check(t, v == root[R], "the recursive entry through itself: %#llx", (unsigned long long)v);

	/* A PTE rewritten through the slot. */
	o = probe(ACCESS_READ, false, va1 + 16, 0);
	check(t, o.ok && o.value == f1[4], "va1 before: %s %#x", fault_name(o.ok, &o.f, got, sizeof(got)), o.value);
	rec_write(va1, 1, (uintptr_t)f2 | flags);
	invlpg(va1);
	o = probe(ACCESS_READ, false, va1 + 16, 0);
	check(t, o.ok && o.value == f2[4], "va1 after its PTE was rewritten: %s %#x",
	      fault_name(o.ok, &o.f, got, sizeof(got)), o.value);
	rec_write(va1, 1, 0);
	invlpg(va1);
	o = probe(ACCESS_READ, false, va1 + 16, 0);
	check(t, !o.ok && o.f.vector == VEC_PF && o.f.error == 0 && o.f.cr2 == va1 + 16,
	      "va1 after its PTE was cleared: want #PF(0), got %s", fault_name(o.ok, &o.f, got, sizeof(got)));

	/* A new mapping built only through recursive addresses, top down. */
	for (unsigned l = 4; l >= 1; l--) {
		void *next = l > 1 ? page_alloc() : (void *)f3;

		rec_write(va2, l, (uintptr_t)next | flags);
		paging_set_root(root);         /* the new table is visible in the slot */
	}
	o = probe(ACCESS_READ, false, va2 + 16, 0);
	check(t, o.ok && o.value == f3[4], "va2, mapped through the slot: %s %#x",
	      fault_name(o.ok, &o.f, got, sizeof(got)), o.value);
	o = probe(ACCESS_WRITE, true, va2 + 16, 0x5e1f0004);
	check(t, o.ok && f3[4] == 0x5e1f0004, "ring-3 write to va2: %s, frame holds %#x",
	      fault_name(o.ok, &o.f, got, sizeof(got)), f3[4]);

	/* The tables are supervisor-only to ring 3. */
	for (unsigned l = 1; l <= 4; l++) {
		o = probe(ACCESS_READ, true, rec_entry(va2, l), 0);
		check(t, !o.ok && o.f.vector == VEC_PF && o.f.error == (PFERR_P | PFERR_U) &&
			 o.f.cr2 == rec_entry(va2, l),
		      "ring-3 read of the level-%u entry: want #PF(0x5), got %s", l,
		      fault_name(o.ok, &o.f, got, sizeof(got)));
	}
	printf("selfmap: slot %llu maps the PML4; tables read and written through it\n",
	       (unsigned long long)R);
	root[R] = 0;
	cpu_set_nxe(false);
	paging_leave();
}
