/*
 * cases.h: every mmutest case, in the order they run and print.
 *
 * X32(name, test, mode, leaves) runs test(tally, mode, leaves) in the 32-bit
 * half (paging off, 2-level or PAE paging); X64(...) in the 64-bit half
 * (4-level paging).  `leaves` says which page sizes a test exercises: 4 KiB
 * pages, the mode's large pages at level 2 (4 MiB or 2 MiB), 1 GiB pages.
 * 1 GiB pages have a case of their own, gbpages64, that runs the translation,
 * A/D, INVLPG, permission and reserved-bit tests for them alone: a host whose
 * KVM lacks them (this project's build host does) fails that one case.
 * reuse32, reusepae and reuse64 (t_reuse.c) reuse translations without
 * flushing them, where the other cases flush before every access.
 * slotmove and slotmove64 move guest RAM under the guest through the ombra
 * test device (ombra_test.h; a no-op elsewhere); spaces64 has more address
 * spaces than a small shadow-page pool holds.  They come last, after the
 * cases above, whatever their mode.
 * Both halves expand this one list, so a case's number is the same in both.
 * tests/e2e/mmutest.cases lists the same names in the same order.
 */
#ifndef MMUTEST_CASES_H
#define MMUTEST_CASES(X32, X64)                                                 \
	X32(nonpaging,    test_nonpaging, NULL,           0)                    \
	X32(paging32,     test_paging,    &pgmode_2level, LEAF_4K | LEAF_LARGE) \
	X32(ad32,         test_ad,        &pgmode_2level, LEAF_4K | LEAF_LARGE) \
	X32(invlpg32,     test_invlpg,    &pgmode_2level, LEAF_4K | LEAF_LARGE) \
	X32(cr3switch32,  test_cr3switch, &pgmode_2level, 0)                    \
	X32(demand32,     test_demand,    &pgmode_2level, 0)                    \
	X32(user32,       test_user,      &pgmode_2level, 0)                    \
	X32(perm32,       test_perm,      &pgmode_2level, LEAF_4K | LEAF_LARGE) \
	X32(rsvd32,       test_rsvd,      &pgmode_2level, LEAF_4K | LEAF_LARGE) \
	X32(reuse32,      test_reuse,     &pgmode_2level, LEAF_4K | LEAF_LARGE) \
	X32(pagingpae,    test_paging,    &pgmode_pae,    LEAF_4K | LEAF_LARGE) \
	X32(adpae,        test_ad,        &pgmode_pae,    LEAF_4K | LEAF_LARGE) \
	X32(invlpgpae,    test_invlpg,    &pgmode_pae,    LEAF_4K | LEAF_LARGE) \
	X32(cr3switchpae, test_cr3switch, &pgmode_pae,    0)                    \
	X32(demandpae,    test_demand,    &pgmode_pae,    0)                    \
	X32(permpae,      test_perm,      &pgmode_pae,    LEAF_4K | LEAF_LARGE) \
	X32(rsvdpae,      test_rsvd,      &pgmode_pae,    LEAF_4K | LEAF_LARGE) \
	X32(reusepae,     test_reuse,     &pgmode_pae,    LEAF_4K | LEAF_LARGE) \
	X64(paging64,     test_paging,    &pgmode_4level, LEAF_4K | LEAF_LARGE) \
	X64(ad64,         test_ad,        &pgmode_4level, LEAF_4K | LEAF_LARGE) \
	X64(invlpg64,     test_invlpg,    &pgmode_4level, LEAF_4K | LEAF_LARGE) \
	X64(cr3switch64,  test_cr3switch, &pgmode_4level, 0)                    \
	X64(demand64,     test_demand,    &pgmode_4level, 0)                    \
	X64(user64,       test_user,      &pgmode_4level, 0)                    \
	X64(perm64,       test_perm,      &pgmode_4level, LEAF_4K | LEAF_LARGE) \
	X64(rsvd64,       test_rsvd,      &pgmode_4level, LEAF_4K | LEAF_LARGE) \
	X64(reuse64,      test_reuse,     &pgmode_4level, LEAF_4K | LEAF_LARGE) \
	X64(gbpages64,    test_gbpages,   &pgmode_4level, LEAF_1G)               \
	X32(slotmove,     test_slotmove,  NULL,           0)                    \
	X64(slotmove64,   test_slotmove,  &pgmode_4level, LEAF_4K)              \
	X64(spaces64,     test_spaces,    &pgmode_4level, 0)

#endif
