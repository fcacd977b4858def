/*
 * h_monitor.c: case monitor.  The guest reaches for the PML4 slot where
 * shadow mode keeps its monitor (stubs, IDT, TSS, GDT, the trap stack) and
 * the shadow-page pool: slot 256 (0xffff800000000000, the range Linux
 * leaves to a hypervisor), or slot 511 on kvm_pvm.  The guest has mapped
 * nothing in either, so every read, write and fetch, at ring 0 and ring 3,
 * must be a not-present #PF at that address, as on any machine.
 */
#include "hostile.h"

void h_monitor(struct tally *t, uint32_t arg)
{
	static const uint64_t targets[] = {
		0xffff800000000000ull, /* the monitor: the vector stubs */
		0xffff800000000800ull, /* the resume stubs */
		0xffff800000001000ull, /* the mailbox */
		0xffff800000002000ull, /* the IDT */
		0xffff800000004ff8ull, /* the trap stack */
		0xffff800000010000ull, /* the GDT */
		0xffff800040000000ull, /* the shadow pool */
		0xffff800040123008ull,
		0xffffff8000000000ull, /* the monitor on kvm_pvm: slot 511 */
		0xffffff8000001000ull,
		0xffffff8040123008ull,
		0xffffffff80000000ull, /* where Linux puts its text */
		0xfffffffffffff000ull, /* the last page */
	};
	struct rng r = { 0x3017105ull };
	char got[64];

	(void)arg;
	space_enter(boot.pool_end);
	cpu_set_nxe(true);
	for (unsigned i = 0; i < ARRAY_SIZE(targets) + 16; i++) {
		uint64_t va = i < ARRAY_SIZE(targets) ? targets[i]
			      : (i & 1 ? 0xffff800000000000ull : 0xffffff8000000000ull) |
				(rng_next(&r) & 0x7ffffffffcull);

		for (unsigned user = 0; user < 2; user++)
			for (unsigned op = ACCESS_READ; op <= ACCESS_FETCH; op++) {
				struct outcome o = probe(op, user, va, 0x0bad0bad);
				uint32_t want = (user ? PFERR_U : 0) | (op == ACCESS_WRITE ? PFERR_W : 0) |
						(op == ACCESS_FETCH ? PFERR_I : 0);

				check(t, !o.ok && o.f.vector == VEC_PF && o.f.error == want && o.f.cr2 == va,
				      "ring %u %s at %#llx: want #PF(%#x), got %s", user * 3, access_names[op],
				      (unsigned long long)va, want, fault_name(o.ok, &o.f, got, sizeof(got)));
			}
	}
	cpu_set_nxe(false);
	paging_leave();
}
