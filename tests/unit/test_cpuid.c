/*
 * Unit tests for the fixed CPUID table (src/vmm/cpuid.c).
 *
 * Bit positions come from the Intel SDM, vol. 2A, CPUID: leaf 0 vendor in
 * EBX-EDX-ECX; leaf 1 EDX PSE(3) PAE(6) PGE(13) PSE-36(17); leaf 80000001h
 * EDX NX(20) Page1GB(26) LM(29); leaf 80000008h EAX[7:0] physical address
 * bits; leaves 80000002h-80000004h the brand string.  The out-of-range rule
 * is KVM's get_out_of_range_cpuid_entry() for an Intel vendor: a leaf
 * beyond the top of its class, or in a class the table lacks, returns the
 * highest basic leaf; an absent leaf inside its class returns zeros.
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vmm/cpuid.h"

enum { EAX, EBX, ECX, EDX };

static void q(uint32_t fn, uint32_t out[4])
{
	memset(out, 0xa5, 4 * sizeof(uint32_t));
	cpuid_lookup(fn, 0, out);
}

static bool in_table(uint32_t fn)
{
	size_t n;
	const struct cpuid_entry *t = cpuid_table(&n);

	for (size_t i = 0; i < n; i++)
		if (t[i].function == fn)
			return true;
	return false;
}

static void same(const uint32_t a[4], const uint32_t b[4], uint32_t fa, uint32_t fb)
{
	for (int i = 0; i < 4; i++)
		cr_expect_eq(a[i], b[i], "leaf %#x reg %d: %#x, leaf %#x: %#x", fa, i, a[i], fb, b[i]);
}

Test(cpuid, vendor_genuine_intel)
{
	uint32_t r[4];
	char v[13];

	q(0, r);
	memcpy(v + 0, &r[EBX], 4);
	memcpy(v + 4, &r[EDX], 4);
	memcpy(v + 8, &r[ECX], 4);
	v[12] = 0;
	cr_expect_str_eq(v, "GenuineIntel");
	cr_expect_geq(r[EAX], 1, "at least leaf 1 exists");
}

Test(cpuid, paging_features_leaf1)
{
	uint32_t r[4];

	q(1, r);
	cr_expect(r[EDX] & (1u << 3), "PSE");
	cr_expect(r[EDX] & (1u << 6), "PAE");
	cr_expect(r[EDX] & (1u << 13), "PGE");
	cr_expect(r[EDX] & (1u << 17), "PSE-36");
}

Test(cpuid, long_mode_features)
{
	uint32_t r[4];

	q(0x80000000, r);
	cr_assert_geq(r[EAX], 0x80000008, "extended leaves up to 80000008h");
	q(0x80000001, r);
	cr_expect(r[EDX] & (1u << 20), "NX / XD");
	cr_expect(r[EDX] & (1u << 26), "Page1GB");
	cr_expect(r[EDX] & (1u << 29), "LM (Intel 64)");
}

Test(cpuid, address_widths)
{
	uint32_t r[4];

	q(0x80000008, r);
	cr_expect_eq(r[EAX] & 0xff, 40, "physical address bits");
	cr_expect_eq((r[EAX] >> 8) & 0xff, 48, "linear address bits");
}

Test(cpuid, brand_string)
{
	uint32_t r[4];
	char brand[49];

	for (uint32_t fn = 0x80000002; fn <= 0x80000004; fn++) {
		q(fn, r);
		memcpy(brand + 16 * (fn - 0x80000002), r, 16);
	}
	brand[48] = 0;
	cr_expect_str_eq(brand, "ombra virtual CPU");
	/* NUL padded to the end of the 48 bytes. */
	for (size_t i = strlen("ombra virtual CPU"); i < 48; i++)
		cr_expect_eq(brand[i], 0, "byte %zu", i);
}

Test(cpuid, table_lookup_returns_table_entries)
{
	size_t n;
	const struct cpuid_entry *t = cpuid_table(&n);
	uint32_t max_basic = 0, max_ext = 0;

	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		uint32_t r[4];

		q(t[i].function, r);
		cr_expect_eq(r[EAX], t[i].eax, "leaf %#x", t[i].function);
		cr_expect_eq(r[EBX], t[i].ebx, "leaf %#x", t[i].function);
		cr_expect_eq(r[ECX], t[i].ecx, "leaf %#x", t[i].function);
		cr_expect_eq(r[EDX], t[i].edx, "leaf %#x", t[i].function);
		if (t[i].function < 0x40000000 && t[i].function > max_basic)
			max_basic = t[i].function;
		if (t[i].function >= 0x80000000 && t[i].function < 0xc0000000 && t[i].function > max_ext)
			max_ext = t[i].function;
	}
	/* Leaf 0 and 80000000h report the top of their ranges truthfully. */
	{
		uint32_t r[4];

		q(0, r);
		cr_expect_eq(r[EAX], max_basic, "leaf 0 EAX is the highest basic leaf in the table");
		q(0x80000000, r);
		cr_expect_eq(r[EAX], max_ext, "80000000h EAX is the highest extended leaf");
	}
}

Test(cpuid, basic_leaf_above_max_returns_max_basic)
{
	uint32_t r0[4], top[4], r[4];
	static const uint32_t beyond[] = { 1, 2, 0x10, 0x1000, 0x3fffffff };

	q(0, r0);
	q(r0[EAX], top);
	for (unsigned i = 0; i < sizeof(beyond) / sizeof(beyond[0]); i++) {
		uint32_t fn = r0[EAX] + beyond[i];

		q(fn, r);
		same(r, top, fn, r0[EAX]);
	}
}

Test(cpuid, extended_leaf_above_max_returns_max_basic)
{
	uint32_t r0[4], top[4], x[4], r[4];
	static const uint32_t beyond[] = { 1, 2, 0x100, 0x3fffffff };

	q(0, r0);
	q(r0[EAX], top);
	q(0x80000000, x);
	for (unsigned i = 0; i < sizeof(beyond) / sizeof(beyond[0]); i++) {
		uint32_t fn = x[EAX] + beyond[i];

		q(fn, r);
		same(r, top, fn, r0[EAX]);
	}
	q(0x80000009, r);
	same(r, top, 0x80000009, r0[EAX]);
}

Test(cpuid, absent_class_returns_max_basic)
{
	/* No hypervisor (0x40000000) or Centaur (0xc0000000) leaves in the table. */
	uint32_t r0[4], top[4], r[4];
	static const uint32_t fns[] = { 0x40000000, 0x40000001, 0x40000100, 0x4fffffff,
					0xc0000000, 0xc0000001, 0xffffffff };

	q(0, r0);
	q(r0[EAX], top);
	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		cr_assert_not(in_table(fns[i]), "test assumes %#x is absent", fns[i]);
		q(fns[i], r);
		same(r, top, fns[i], r0[EAX]);
	}
}

Test(cpuid, in_range_leaves_are_entries_or_zeros)
{
	/* Inside [0, max basic] and [80000000h, max extended], a leaf is its table
	 * entry if present, and all zeros if absent (never the max basic leaf). */
	uint32_t r0[4], x[4];

	q(0, r0);
	q(0x80000000, x);
	for (uint32_t fn = 0; fn <= r0[EAX]; fn++) {
		uint32_t r[4];

		q(fn, r);
		if (!in_table(fn))
			for (int i = 0; i < 4; i++)
				cr_expect_eq(r[i], 0, "absent leaf %#x reg %d", fn, i);
	}
	for (uint32_t fn = 0x80000000; fn <= x[EAX]; fn++) {
		uint32_t r[4];

		q(fn, r);
		if (!in_table(fn))
			for (int i = 0; i < 4; i++)
				cr_expect_eq(r[i], 0, "absent leaf %#x reg %d", fn, i);
	}
}

Test(cpuid, index_does_not_change_simple_leaves)
{
	uint32_t a[4], b[4];

	cpuid_lookup(1, 0, a);
	cpuid_lookup(1, 5, b);
	same(a, b, 1, 1);
	cpuid_lookup(0x80000001, 0, a);
	cpuid_lookup(0x80000001, 0xffffffff, b);
	same(a, b, 0x80000001, 0x80000001);
}
