/*
 * h_spaces.c: case spaces.  N address spaces (spaces=N, default 100,000),
 * each a PML4 of its own, visited one after another by MOV CR3, and every
 * thousandth visit also goes back to an old one.  A shadow MMU sees N
 * roots it has never seen: it must recycle its bounded pool and still
 * translate each space right; ombra's resident memory stays within the
 * limit docs/security.md gives (the e2e test measures it).
 *
 * Each PML4 has two entries: slot 0 (the identity map: code, stack) and
 * slot 1, shared by all, mapping one data page; the rest of the frame is
 * never read by a walk, so it is left as RAM starts (zero).  The frames
 * lie above the page pool, 4 KiB each: N of them need N * 4 KiB of RAM
 * above it (about 400 MiB for 100,000: run with -m 512M).
 */
#include "hostile.h"

void h_spaces(struct tally *t, uint32_t n)
{
	uint64_t *root, base, va;
	uint32_t *data;
	char got[64];

	t->unit = "visits";
	base = (boot.pool_end + (2u << 20) - 1) & ~((2ull << 20) - 1);
	if (base + (uint64_t)n * PAGE_SIZE > boot.ram_end) {
		check(t, false, "%u address spaces need %llu MiB of RAM above %#llx; there are %llu",
		      n, (unsigned long long)((uint64_t)n * PAGE_SIZE >> 20), (unsigned long long)base,
		      (unsigned long long)((boot.ram_end - base) >> 20));
		return;
	}
	root = space_enter(boot.ram_end & ~((2ull << 20) - 1));
	data = page_alloc();
	va = pt_slot_va(pm, 0) + 0x5000;
	pt_map(pm, root, va, (uintptr_t)data, 1, PTE_P | PTE_W | PTE_A | PTE_D);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t *pml4 = phys_ptr(base + (uint64_t)i * PAGE_SIZE);

		pml4[0] = root[0];
		pml4[1] = root[1];
	}
	for (uint32_t i = 0; i < n; i++) {
		for (unsigned back = 0; back < ((i % 1000) == 999 ? 2 : 1); back++) {
			uint32_t k = back ? i / 2 : i;
			struct outcome o;

			paging_set_root(phys_ptr(base + (uint64_t)k * PAGE_SIZE));
			*(volatile uint32_t *)(uintptr_t)(va + 4 * (k % 1024)) = k;
			o = probe(ACCESS_READ, false, va + 4 * (k % 1024), 0);
			if (o.ok && o.value == k)
				check_pass(t);
			else
				check_fail(t, "space %u: want %u at %#llx, got %s %u", k, k,
					   (unsigned long long)(va + 4 * (k % 1024)),
					   fault_name(o.ok, &o.f, got, sizeof(got)), o.value);
		}
	}
	paging_set_root(root);
	printf("spaces: %u address spaces, one MOV CR3 each, every 1000th back to an old one\n", n);
	paging_leave();
}
