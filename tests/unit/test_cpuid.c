/*
 * Unit tests for the fixed CPUID table (src/x86/cpuid.c).
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

#include "x86/cpuid.h"

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

/*
 * docs/cpuid.md's table, written out here from the page and the SDM's bit
 * positions (vol. 2A, CPUID), never from src/x86/cpuid.c: every leaf the
 * table has, and only those.
 */
static uint32_t w4(const char *s)
{
	return (uint32_t)(uint8_t)s[0] | (uint32_t)(uint8_t)s[1] << 8 |
	       (uint32_t)(uint8_t)s[2] << 16 | (uint32_t)(uint8_t)s[3] << 24;
}

#define BIT(n) (1u << (n))

struct leaf { uint32_t fn, r[4]; };

/* Fills d[] with the page's leaves; returns how many. */
static size_t documented(struct leaf d[32])
{
	static const char brand[48] = "ombra virtual CPU";   /* NUL padded to 48 bytes */
	uint32_t b[12];
	size_t n = 0;

	memcpy(b, brand, sizeof(b));
	/* leaf 0: highest basic leaf 7, "GenuineIntel" in EBX, EDX, ECX */
	d[n++] = (struct leaf){ 0, { 7, w4("Genu"), w4("ntel"), w4("ineI") } };
	/* leaf 1: family 15 model 6 stepping 1; CLFLUSH 8 x 8 bytes, 1 logical CPU,
	 * APIC ID 0; ECX CX16(13) TSC_DEADLINE(24) HYPERVISOR(31); EDX FPU(0) DE(2)
	 * PSE(3) TSC(4) MSR(5) PAE(6) CX8(8) APIC(9) PGE(13) CMOV(15) PAT(16)
	 * PSE36(17) CLFSH(19) MMX(23) FXSR(24) SSE(25) SSE2(26) */
	d[n++] = (struct leaf){ 1, { 15 << 8 | 6 << 4 | 1, 1 << 16 | 8 << 8,
				     BIT(13) | BIT(24) | BIT(31),
				     BIT(0) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(8) |
				     BIT(9) | BIT(13) | BIT(15) | BIT(16) | BIT(17) | BIT(19) |
				     BIT(23) | BIT(24) | BIT(25) | BIT(26) } };
	d[n++] = (struct leaf){ 2, { 1, 0, 0, 0 } };
	for (uint32_t fn = 3; fn <= 7; fn++)          /* 3-6 zeros; 7: no SMEP, SMAP, ... */
		d[n++] = (struct leaf){ fn, { 0, 0, 0, 0 } };
	d[n++] = (struct leaf){ 0x80000000, { 0x80000008, w4("Genu"), w4("ntel"), w4("ineI") } };
	/* ECX LAHF/SAHF(0); EDX SYSCALL(11) NX(20) Page1GB(26) LM(29) */
	d[n++] = (struct leaf){ 0x80000001, { 15 << 8 | 6 << 4 | 1, 0, BIT(0),
					      BIT(11) | BIT(20) | BIT(26) | BIT(29) } };
	for (uint32_t k = 0; k < 3; k++)
		d[n++] = (struct leaf){ 0x80000002 + k, { b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3] } };
	for (uint32_t fn = 0x80000005; fn <= 0x80000007; fn++)
		d[n++] = (struct leaf){ fn, { 0, 0, 0, 0 } };
	/* 40 physical, 48 linear address bits */
	d[n++] = (struct leaf){ 0x80000008, { 48 << 8 | 40, 0, 0, 0 } };
	return n;
}

Test(cpuid, every_leaf_is_the_documented_one)
{
	struct leaf d[32];
	size_t nd = documented(d), n;
	const struct cpuid_entry *t = cpuid_table(&n);

	/* The numbers the page itself quotes. */
	cr_assert_eq(d[1].r[EDX], 0x078ba37d, "leaf 1 EDX as docs/cpuid.md quotes it");
	cr_assert_eq(d[1].r[EAX], 0x00000f61);
	cr_assert_eq(d[1].r[EBX], 0x00010800);
	cr_assert_eq(d[nd - 1].r[EAX], 0x00003028);

	/* What shadow mode answers (cpuid_lookup) ... */
	for (size_t i = 0; i < nd; i++) {
		uint32_t r[4];

		q(d[i].fn, r);
		for (int k = 0; k < 4; k++)
			cr_expect_eq(r[k], d[i].r[k], "leaf %#x reg %d: %#x, docs/cpuid.md says %#x",
				     d[i].fn, k, r[k], d[i].r[k]);
	}
	/* ... and what tdp mode hands KVM (cpuid_table): the same leaves, no others. */
	cr_expect_eq(n, nd, "the table has %zu leaves, docs/cpuid.md %zu", n, nd);
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < nd && d[j].fn != t[i].function)
			j++;
		cr_expect_lt(j, nd, "leaf %#x is in the table but not in docs/cpuid.md", t[i].function);
		if (j == nd)
			continue;
		cr_expect_eq(t[i].index, 0, "leaf %#x", t[i].function);
		cr_expect_eq(t[i].eax, d[j].r[EAX], "table leaf %#x EAX", t[i].function);
		cr_expect_eq(t[i].ebx, d[j].r[EBX], "table leaf %#x EBX", t[i].function);
		cr_expect_eq(t[i].ecx, d[j].r[ECX], "table leaf %#x ECX", t[i].function);
		cr_expect_eq(t[i].edx, d[j].r[EDX], "table leaf %#x EDX", t[i].function);
	}
}

/*
 * The out-of-range rule on the real table.  Its highest basic leaf is 7,
 * and docs/cpuid.md says leaf 7 is all zeros, so every out-of-range leaf
 * must read as zeros: the expected value is written here, not read back
 * from the table.  (That alone cannot tell "the highest basic leaf" from
 * "zeros"; the rule_* tests below can.)
 */
static const uint32_t leaf7[4] = { 0, 0, 0, 0 };

static void is_leaf7(uint32_t fn)
{
	uint32_t r[4];

	q(fn, r);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(r[i], leaf7[i], "leaf %#x reg %d: %#x, docs/cpuid.md's leaf 7 has %#x",
			     fn, i, r[i], leaf7[i]);
}

Test(cpuid, basic_leaf_above_max_returns_max_basic)
{
	static const uint32_t fns[] = { 8, 9, 0x17, 0x1007, 0x3fffffff };

	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		is_leaf7(fns[i]);
}

Test(cpuid, extended_leaf_above_max_returns_max_basic)
{
	static const uint32_t fns[] = { 0x80000009, 0x8000000a, 0x80000108, 0xbfffffff };

	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		is_leaf7(fns[i]);
}

Test(cpuid, absent_class_returns_max_basic)
{
	/* No hypervisor (0x40000000) or Centaur (0xc0000000) leaves in the table. */
	static const uint32_t fns[] = { 0x40000000, 0x40000001, 0x40000100, 0x4fffffff,
					0xc0000000, 0xc0000001, 0xffffffff };

	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		cr_assert_not(in_table(fns[i]), "test assumes %#x is absent", fns[i]);
		is_leaf7(fns[i]);
	}
}

/*
 * The rule itself, on a table where it shows.  src/x86/cpuid.c is compiled
 * a second time right here, its functions renamed and `const` defined
 * away, so that its table is writable and the same lookup code can be run
 * on a table whose highest basic leaf is not zero and which has holes.
 */
struct cpuid_entry *rule_cpuid_table(size_t *n);
void rule_cpuid_lookup(uint32_t function, uint32_t index, uint32_t out[4]);
#define cpuid_table rule_cpuid_table
#define cpuid_lookup rule_cpuid_lookup
#define const
#include "x86/cpuid.c"
#undef const
#undef cpuid_lookup
#undef cpuid_table

static struct cpuid_entry *rule_entry(uint32_t fn)
{
	size_t n;
	struct cpuid_entry *t = rule_cpuid_table(&n);

	for (size_t i = 0; i < n; i++)
		if (t[i].function == fn)
			return &t[i];
	cr_assert_fail("leaf %#x not in the table", fn);
	return NULL;
}

static void rule_expect(uint32_t fn, const uint32_t want[4], const char *why)
{
	uint32_t r[4];

	memset(r, 0xa5, sizeof(r));
	rule_cpuid_lookup(fn, 0, r);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(r[i], want[i], "leaf %#x reg %d: %#x, want %#x (%s)", fn, i, r[i], want[i], why);
}

Test(cpuid, rule_on_a_table_with_holes_and_a_nonzero_top)
{
	/* Basic leaves up to 0xa, with 6, 8 and 9 missing and 0xa = top;
	 * hypervisor class 0x40000000 up to 0x40000001, which is missing;
	 * extended up to 0x80000008 with 0x80000007 missing. */
	static const uint32_t top[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };
	static const uint32_t zero[4] = { 0, 0, 0, 0 };
	struct cpuid_entry *l0 = rule_entry(0), *l6 = rule_entry(6), *x7 = rule_entry(0x80000007);
	uint32_t r[4];

	l0->eax = 0xa;
	*l6 = (struct cpuid_entry){ 0xa, 0, top[0], top[1], top[2], top[3] };
	*x7 = (struct cpuid_entry){ 0x40000000, 0, 0x40000001, 0x5555, 0x6666, 0x7777 };

	rule_cpuid_lookup(1, 0, r);
	cr_expect_eq(r[EAX], 0x00000f61, "a present leaf is its entry");
	rule_expect(0xa, top, "present: the top basic leaf itself");
	rule_expect(6, zero, "absent inside the basic range");
	rule_expect(8, zero, "absent inside the basic range");
	rule_expect(9, zero, "absent inside the basic range");
	rule_expect(0xb, top, "above the basic range");
	rule_expect(0x3fffffff, top, "above the basic range");
	rule_expect(0x40000001, zero, "absent inside the hypervisor range");
	rule_expect(0x40000002, top, "above the hypervisor range");
	rule_expect(0x40000100, top, "a hypervisor class the table lacks");
	rule_expect(0x80000007, zero, "absent inside the extended range");
	rule_expect(0x80000009, top, "above the extended range");
	rule_expect(0xc0000000, top, "a class the table lacks");
	rule_expect(0xffffffff, top, "a class the table lacks");
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
