/*
 * Unit tests for LAR, LSL, VERR and VERW on one descriptor (src/x86/desc.c).
 *
 * Every expected value is worked out by hand from the SDM's instruction
 * pages (vol. 2A LAR, LSL; vol. 2B VERR/VERW) and vol. 3A 3.4.5 (the
 * descriptor's fields): LAR returns the high doubleword masked by
 * 00F0FF00H (QEMU's mask: bits 19:16 zero); LSL the limit, scaled to
 * (limit << 12) | FFFH by G; the privilege rule DPL >= max(CPL, RPL)
 * except for conforming code; in IA-32e mode LAR accepts only the LDT,
 * the 64-bit TSS (available, busy) and the 64-bit call gate among system
 * descriptors, LSL the first three; outside it also the 16-bit TSSs and,
 * for LAR, the task gate and both call gates.  VERR wants data or
 * readable code, VERW writable data; neither accepts a system descriptor.
 * The present bit is never checked.
 */
#include <criterion/criterion.h>

#include "x86/desc.h"

/* A descriptor from its fields (SDM vol. 3A, figure 3-8). */
static uint64_t desc(uint32_t base, uint32_t limit, unsigned type, bool s, unsigned dpl, bool p,
		     bool l, bool db, bool g)
{
	return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)type << 40) |
	       ((uint64_t)s << 44) | ((uint64_t)dpl << 45) | ((uint64_t)p << 47) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)l << 53) | ((uint64_t)db << 54) |
	       ((uint64_t)g << 55) | ((uint64_t)(base >> 24) << 56);
}

static bool ask(enum desc_query q, uint64_t d, uint16_t sel, unsigned cpl, bool lm, uint32_t *out)
{
	*out = 0xdeadbeef;
	return desc_query(q, d, sel, cpl, lm, out);
}

Test(desc, kernel_code_from_ring_0_and_ring_3)
{
	uint64_t kcode = desc(0, 0xfffff, 0xa, true, 0, true, true, false, true);
	uint32_t v;

	cr_assert_eq(kcode, 0x00af9a000000ffffULL);     /* the usual 64-bit kernel CS */
	cr_assert(ask(DESC_LAR, kcode, 0x10, 0, true, &v));
	cr_assert_eq(v, 0x00a09a00);
	cr_assert(ask(DESC_LSL, kcode, 0x10, 0, true, &v));
	cr_assert_eq(v, 0xffffffff);
	cr_assert(ask(DESC_VERR, kcode, 0x10, 0, true, &v));
	cr_assert_not(ask(DESC_VERW, kcode, 0x10, 0, true, &v));
	/* CPL 3: DPL 0 < 3, every one fails */
	cr_assert_not(ask(DESC_LAR, kcode, 0x10, 3, true, &v));
	cr_assert_eq(v, 0xdeadbeef);
	cr_assert_not(ask(DESC_LSL, kcode, 0x10, 3, true, &v));
	cr_assert_not(ask(DESC_VERR, kcode, 0x10, 3, true, &v));
	/* RPL 3 at CPL 0: fails too */
	cr_assert_not(ask(DESC_LAR, kcode, 0x13, 0, true, &v));
}

Test(desc, data_segments)
{
	uint64_t kdata = desc(0, 0xfffff, 0x2, true, 0, true, false, true, true);
	uint64_t udata = desc(0, 0xfffff, 0x2, true, 3, true, false, true, true);
	uint64_t ro = desc(0x12345678, 0x1234, 0x0, true, 3, true, false, true, false);
	uint32_t v;

	cr_assert_eq(kdata, 0x00cf92000000ffffULL);
	cr_assert(ask(DESC_LAR, kdata, 0x18, 0, true, &v));
	cr_assert_eq(v, 0x00c09200);
	cr_assert(ask(DESC_VERR, kdata, 0x18, 0, true, &v));
	cr_assert(ask(DESC_VERW, kdata, 0x18, 0, true, &v));
	cr_assert_not(ask(DESC_VERW, kdata, 0x18, 3, true, &v));
	cr_assert(ask(DESC_LAR, udata, 0x2b, 3, true, &v));
	cr_assert_eq(v, 0x00c0f200);
	cr_assert(ask(DESC_VERW, udata, 0x2b, 3, true, &v));
	/* read-only data, byte granular: readable, not writable, limit as is */
	cr_assert(ask(DESC_VERR, ro, 0x33, 3, false, &v));
	cr_assert_not(ask(DESC_VERW, ro, 0x33, 3, false, &v));
	cr_assert(ask(DESC_LSL, ro, 0x33, 3, false, &v));
	cr_assert_eq(v, 0x1234);
	cr_assert(ask(DESC_LAR, ro, 0x33, 3, false, &v));
	cr_assert_eq(v, 0x0040f000);
}

Test(desc, code_kinds)
{
	uint64_t xonly = desc(0, 0xfffff, 0x8, true, 3, true, true, false, true);
	uint64_t conf = desc(0, 0xfffff, 0xe, true, 0, true, true, false, true);
	uint32_t v;

	/* execute-only code: not readable */
	cr_assert_not(ask(DESC_VERR, xonly, 0x23, 3, true, &v));
	cr_assert(ask(DESC_LAR, xonly, 0x23, 3, true, &v));
	cr_assert_eq(v, 0x00a0f800);
	/* conforming code: no privilege check, from CPL 3 and with RPL 3 */
	cr_assert(ask(DESC_LAR, conf, 0x0b, 3, true, &v));
	cr_assert_eq(v, 0x00a09e00);
	cr_assert(ask(DESC_VERR, conf, 0x0b, 3, true, &v));
	cr_assert_not(ask(DESC_VERW, conf, 0x0b, 0, true, &v));
}

Test(desc, present_bit_is_not_checked)
{
	uint64_t np = desc(0, 0xfffff, 0x2, true, 0, false, false, true, true);
	uint32_t v;

	cr_assert(ask(DESC_LAR, np, 0x40, 0, true, &v));
	cr_assert_eq(v, 0x00c01200);
	cr_assert(ask(DESC_VERW, np, 0x40, 0, true, &v));
}

Test(desc, system_descriptors_in_ia32e_mode)
{
	uint64_t tss_busy = desc(0x1000, 0x67, 0xb, false, 0, true, false, false, false);
	uint64_t tss = desc(0x1000, 0x67, 0x9, false, 0, true, false, false, false);
	uint64_t ldt = desc(0x2000, 0xff, 0x2, false, 0, true, false, false, false);
	uint64_t cgate = desc(0, 0, 0xc, false, 0, true, false, false, false);
	uint64_t igate = desc(0, 0, 0xe, false, 0, true, false, false, false);
	uint64_t tss16 = desc(0x1000, 0x2b, 0x1, false, 0, true, false, false, false);
	uint64_t tgate = desc(0, 0, 0x5, false, 0, true, false, false, false);
	uint64_t rsvd = desc(0, 0, 0x0, false, 0, true, false, false, false);
	uint32_t v;

	cr_assert(ask(DESC_LAR, tss_busy, 0x28, 0, true, &v));
	cr_assert_eq(v, 0x00008b00);
	cr_assert(ask(DESC_LSL, tss_busy, 0x28, 0, true, &v));
	cr_assert_eq(v, 0x67);
	cr_assert(ask(DESC_LSL, tss, 0x28, 0, true, &v));
	cr_assert(ask(DESC_LSL, ldt, 0x30, 0, true, &v));
	cr_assert_eq(v, 0xff);
	cr_assert(ask(DESC_LAR, cgate, 0x38, 0, true, &v));     /* LAR: yes */
	cr_assert_eq(v, 0x00008c00);
	cr_assert_not(ask(DESC_LSL, cgate, 0x38, 0, true, &v)); /* LSL: no */
	cr_assert_not(ask(DESC_LAR, igate, 0x38, 0, true, &v));
	cr_assert_not(ask(DESC_LAR, tss16, 0x38, 0, true, &v)); /* no 16-bit TSS in IA-32e mode */
	cr_assert_not(ask(DESC_LAR, tgate, 0x38, 0, true, &v));
	cr_assert_not(ask(DESC_LAR, rsvd, 0x38, 0, true, &v));
	cr_assert_not(ask(DESC_VERR, tss, 0x28, 0, true, &v));
	cr_assert_not(ask(DESC_VERW, tss, 0x28, 0, true, &v));
	/* DPL 0 system descriptors from CPL 3 */
	cr_assert_not(ask(DESC_LAR, tss_busy, 0x28, 3, true, &v));
}

Test(desc, system_descriptors_outside_ia32e_mode)
{
	uint64_t tss16 = desc(0x1000, 0x2b, 0x1, false, 0, true, false, false, false);
	uint64_t tgate = desc(0, 0, 0x5, false, 0, true, false, false, false);
	uint64_t cgate16 = desc(0, 0, 0x4, false, 3, true, false, false, false);
	uint64_t igate = desc(0, 0, 0xe, false, 0, true, false, false, false);
	uint32_t v;

	cr_assert(ask(DESC_LAR, tss16, 0x38, 0, false, &v));
	cr_assert(ask(DESC_LSL, tss16, 0x38, 0, false, &v));
	cr_assert_eq(v, 0x2b);
	cr_assert(ask(DESC_LAR, tgate, 0x38, 0, false, &v));
	cr_assert_not(ask(DESC_LSL, tgate, 0x38, 0, false, &v));
	cr_assert(ask(DESC_LAR, cgate16, 0x3b, 3, false, &v));
	cr_assert_eq(v, 0x0000e400);
	cr_assert_not(ask(DESC_LAR, igate, 0x38, 0, false, &v));
}
