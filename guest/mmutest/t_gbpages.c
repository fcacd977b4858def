/*
 * t_gbpages.c: case gbpages64.  Everything the other 4-level cases check
 * for 4 KiB and 2 MiB pages, for 1 GiB pages (a PDPTE with PS=1): the
 * translation (t_paging.c), the A/D bits (t_ad.c), INVLPG when a PDPTE turns
 * into a 1 GiB page and back (t_invlpg.c), the permission matrix, 768
 * combinations (t_perm.c), and the reserved bits 13 and 29 of a 1 GiB PDPTE,
 * bit 51 and NX without NXE (t_rsvd.c).
 *
 * One case of its own because 1 GiB pages are optional (CPUID.80000001H:
 * EDX.Page1GB) and a host's KVM may not offer them even when the CPUID a
 * guest sees says so; the KVM of this project's build host treats PS in a
 * PDPTE as a reserved bit.  On such a host this case fails, and only this one.
 */
#include "mmutest.h"

void test_gbpages(struct tally *t, const struct pgmode *m, unsigned leaves)
{
	test_paging(t, m, leaves);
	test_ad(t, m, leaves);
	test_invlpg(t, m, leaves);
	test_perm(t, m, leaves);
	test_rsvd(t, m, leaves);
	t->unit = "checks"; /* test_perm counts combinations; here they are checks among others */
}
