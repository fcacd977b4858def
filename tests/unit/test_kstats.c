/*
 * Unit tests for the KVM binary statistics parser (src/host/kstats.c).
 *
 * Stats files are assembled here byte by byte to the layout in
 * Documentation/virt/kvm/api.rst (KVM_GET_STATS_FD): a 24-byte header (flags,
 * name_size, num_desc, id_offset, desc_offset, data_offset), the id string
 * of name_size bytes, num_desc descriptors of 16 bytes (flags, exponent,
 * size, offset, bucket_size) each followed by a name of name_size bytes, and
 * the data block of u64 values at data_offset + desc.offset.  The offsets
 * are written out as numbers, not taken from sizeof() of the kernel structs.
 * Then: the parsed values, kstat_delta, kstats_read on a real fd, and
 * buffers that are truncated or malformed.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/kstats.h"

#define HDR_SIZE   24   /* six u32 */
#define DESC_SIZE  16   /* u32 flags, s16 exponent, u16 size, u32 offset, u32 bucket_size */

struct stat_spec {
	const char *name;
	uint32_t flags;          /* type | unit | base */
	int16_t exponent;
	uint16_t size;           /* number of u64 values */
	uint32_t offset;         /* into the data block */
	const uint64_t *values;
};

struct built {
	uint8_t *buf;
	size_t len;
	uint32_t data_offset, desc_offset, id_offset;
};

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Lay out a stats file the way KVM does: header, id, descriptors, data. */
static struct built build(const char *id, uint32_t name_size, const struct stat_spec *s, unsigned n)
{
	struct built b;
	uint32_t data_len = 0;

	for (unsigned i = 0; i < n; i++)
		if (s[i].offset + 8u * s[i].size > data_len)
			data_len = s[i].offset + 8u * s[i].size;
	b.id_offset = HDR_SIZE;
	b.desc_offset = b.id_offset + name_size;
	b.data_offset = b.desc_offset + n * (DESC_SIZE + name_size);
	b.len = b.data_offset + data_len;
	b.buf = calloc(1, b.len);
	cr_assert_not_null(b.buf);

	put32(b.buf + 0, 0);                 /* flags */
	put32(b.buf + 4, name_size);
	put32(b.buf + 8, n);
	put32(b.buf + 12, b.id_offset);
	put32(b.buf + 16, b.desc_offset);
	put32(b.buf + 20, b.data_offset);
	strncpy((char *)b.buf + b.id_offset, id, name_size - 1);

	for (unsigned i = 0; i < n; i++) {
		uint8_t *d = b.buf + b.desc_offset + i * (DESC_SIZE + name_size);

		put32(d + 0, s[i].flags);
		put16(d + 4, (uint16_t)s[i].exponent);
		put16(d + 6, s[i].size);
		put32(d + 8, s[i].offset);
		put32(d + 12, 0);            /* bucket_size */
		strncpy((char *)d + DESC_SIZE, s[i].name, name_size - 1);
		for (unsigned j = 0; j < s[i].size; j++)
			put64(b.buf + b.data_offset + s[i].offset + 8 * j, s[i].values[j]);
	}
	return b;
}

/* A small vCPU-like set: the four kinds, two units, data not in descriptor order. */
static const uint64_t v_pf[] = { 123456789012ULL };
static const uint64_t v_pages[] = { 4242 };
static const uint64_t v_peak[] = { 17 };
static const uint64_t v_hist[] = { 1, 2, 3, 4, 100 };
static const uint64_t v_loghist[] = { 10, 0, 0, 5 };
static const uint64_t v_ns[] = { 999 };

static const struct stat_spec sample[] = {
	{ "pf_fixed", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE, 0, 1, 0x40, v_pf },
	{ "pages_4k", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_NONE, 0, 1, 0x00, v_pages },
	{ "max_mmu_page_hash_collisions", KVM_STATS_TYPE_PEAK | KVM_STATS_UNIT_NONE, 0, 1, 0x08, v_peak },
	{ "halt_poll_success_hist", KVM_STATS_TYPE_LINEAR_HIST | KVM_STATS_UNIT_SECONDS, -9, 5, 0x10, v_hist },
	{ "halt_wait_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS | KVM_STATS_BASE_POW2,
	  -9, 4, 0x48, v_loghist },
	{ "halt_wait_ns", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_SECONDS, -9, 1, 0x38, v_ns },
};
#define NSAMPLE (sizeof(sample) / sizeof(sample[0]))

static void check_sample(const struct kstats *ks)
{
	const struct kstat *k;

	cr_assert_eq(ks->n, NSAMPLE);
	cr_expect_str_eq(ks->id, "kvm-1234/vcpu-0");

	k = kstats_find(ks, "pf_fixed");
	cr_assert_not_null(k);
	cr_expect_eq(k->kind, KSTAT_CUMULATIVE);
	cr_expect_eq(k->value, 123456789012ULL);
	cr_expect_eq(k->unit, KVM_STATS_UNIT_NONE);

	k = kstats_find(ks, "pages_4k");
	cr_assert_not_null(k);
	cr_expect_eq(k->kind, KSTAT_INSTANT);
	cr_expect_eq(k->value, 4242);

	k = kstats_find(ks, "max_mmu_page_hash_collisions");
	cr_assert_not_null(k);
	cr_expect_eq(k->kind, KSTAT_PEAK);
	cr_expect_eq(k->value, 17);

	k = kstats_find(ks, "halt_poll_success_hist");
	cr_assert_not_null(k);
	cr_expect_eq(k->kind, KSTAT_HIST);
	cr_expect_eq(k->value, 1 + 2 + 3 + 4 + 100, "a histogram is its number of samples");
	cr_expect_eq(k->unit, KVM_STATS_UNIT_SECONDS);

	k = kstats_find(ks, "halt_wait_hist");
	cr_assert_not_null(k);
	cr_expect_eq(k->kind, KSTAT_HIST);
	cr_expect_eq(k->value, 15);

	k = kstats_find(ks, "halt_wait_ns");
	cr_assert_not_null(k);
	cr_expect_eq(k->kind, KSTAT_CUMULATIVE);
	cr_expect_eq(k->value, 999);
	cr_expect_eq(k->unit, KVM_STATS_UNIT_SECONDS);

	cr_expect_null(kstats_find(ks, "no_such_stat"));
	cr_expect_null(kstats_find(ks, "pf_"), "no prefix matches");
}

Test(kstats, parse_sample)
{
	struct built b = build("kvm-1234/vcpu-0", 48, sample, NSAMPLE);
	struct kstats ks;
	char err[128] = "";

	cr_assert_eq(kstats_parse(b.buf, b.len, &ks, err, sizeof(err)), 0, "%s", err);
	check_sample(&ks);
	kstats_free(&ks);
	cr_expect_eq(ks.n, 0);
	cr_expect_null(ks.v);
	free(b.buf);
}

Test(kstats, parse_respects_name_size)
{
	/* name_size is whatever the header says, not KVM's current 48. */
	struct built b = build("kvm-1234/vcpu-0", 32, sample, NSAMPLE);
	struct kstats ks;
	char err[128] = "";

	cr_assert_eq(kstats_parse(b.buf, b.len, &ks, err, sizeof(err)), 0, "%s", err);
	check_sample(&ks);
	kstats_free(&ks);
	free(b.buf);

	b = build("kvm-1234/vcpu-0", 60, sample, NSAMPLE);
	cr_assert_eq(kstats_parse(b.buf, b.len, &ks, err, sizeof(err)), 0, "%s", err);
	check_sample(&ks);
	kstats_free(&ks);
	free(b.buf);
}

Test(kstats, parse_with_gaps_between_blocks)
{
	/* The offsets in the header are the truth: move every block by some padding. */
	const uint32_t ns = 48, pad = 40;
	struct built b = build("kvm-77", ns, sample, NSAMPLE);
	size_t len = b.len + 3 * pad;
	uint8_t *g = calloc(1, len);
	uint32_t id_off = HDR_SIZE + pad, desc_off = id_off + ns + pad;
	uint32_t desc_len = b.data_offset - b.desc_offset;
	uint32_t data_off = desc_off + desc_len + pad;
	struct kstats ks;
	char err[128] = "";

	cr_assert_not_null(g);
	memcpy(g, b.buf, HDR_SIZE);
	memcpy(g + id_off, b.buf + b.id_offset, ns);
	memcpy(g + desc_off, b.buf + b.desc_offset, desc_len);
	memcpy(g + data_off, b.buf + b.data_offset, b.len - b.data_offset);
	put32(g + 12, id_off);
	put32(g + 16, desc_off);
	put32(g + 20, data_off);
	cr_assert_eq(kstats_parse(g, data_off + (b.len - b.data_offset), &ks, err, sizeof(err)), 0,
		     "%s", err);
	cr_expect_str_eq(ks.id, "kvm-77");
	cr_assert_eq(ks.n, NSAMPLE);
	cr_expect_eq(kstats_find(&ks, "pf_fixed")->value, 123456789012ULL);
	cr_expect_eq(kstats_find(&ks, "halt_poll_success_hist")->value, 110);
	kstats_free(&ks);
	free(g);
	free(b.buf);
}

Test(kstats, parse_no_descriptors)
{
	struct built b = build("kvm-1", 48, NULL, 0);
	struct kstats ks;
	char err[128] = "";

	cr_assert_eq(kstats_parse(b.buf, b.len, &ks, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ks.n, 0);
	cr_expect_str_eq(ks.id, "kvm-1");
	kstats_free(&ks);
	free(b.buf);
}

/* ---- kstat_delta ---- */

Test(kstats, delta_rules)
{
	struct kstat s, e;

	/* Cumulative: what happened during the run. */
	s = (struct kstat){ .kind = KSTAT_CUMULATIVE, .value = 100 };
	e = (struct kstat){ .kind = KSTAT_CUMULATIVE, .value = 150 };
	cr_expect_eq(kstat_delta(&s, &e), 50);
	/* Instant: the value now, whatever it was before. */
	s = (struct kstat){ .kind = KSTAT_INSTANT, .value = 9 };
	e = (struct kstat){ .kind = KSTAT_INSTANT, .value = 7 };
	cr_expect_eq(kstat_delta(&s, &e), 7);
	/* Peak: the high-water mark at the end. */
	s = (struct kstat){ .kind = KSTAT_PEAK, .value = 5 };
	e = (struct kstat){ .kind = KSTAT_PEAK, .value = 12 };
	cr_expect_eq(kstat_delta(&s, &e), 12);
	/* A histogram's buckets only ever grow (KVM never resets them), so its
	 * sample count over the run is end - start, like a cumulative counter. */
	s = (struct kstat){ .kind = KSTAT_HIST, .value = 10 };
	e = (struct kstat){ .kind = KSTAT_HIST, .value = 30 };
	cr_expect_eq(kstat_delta(&s, &e), 20);
	/* No start snapshot (a stat that appeared later): the end value. */
	e = (struct kstat){ .kind = KSTAT_CUMULATIVE, .value = 77 };
	cr_expect_eq(kstat_delta(NULL, &e), 77);
	e = (struct kstat){ .kind = KSTAT_HIST, .value = 5 };
	cr_expect_eq(kstat_delta(NULL, &e), 5);
	/* Unchanged counter. */
	s = (struct kstat){ .kind = KSTAT_CUMULATIVE, .value = 42 };
	e = s;
	cr_expect_eq(kstat_delta(&s, &e), 0);
}

Test(kstats, delta_between_two_parses)
{
	static const uint64_t a1[] = { 1000 }, a2[] = { 1500 };
	static const uint64_t i1[] = { 64 }, i2[] = { 32 };
	const struct stat_spec before[] = {
		{ "exits", KVM_STATS_TYPE_CUMULATIVE, 0, 1, 0, a1 },
		{ "pages_2m", KVM_STATS_TYPE_INSTANT, 0, 1, 8, i1 },
	};
	const struct stat_spec after[] = {
		{ "exits", KVM_STATS_TYPE_CUMULATIVE, 0, 1, 0, a2 },
		{ "pages_2m", KVM_STATS_TYPE_INSTANT, 0, 1, 8, i2 },
	};
	struct built b1 = build("kvm-9", 48, before, 2), b2 = build("kvm-9", 48, after, 2);
	struct kstats s1, s2;
	char err[128];

	cr_assert_eq(kstats_parse(b1.buf, b1.len, &s1, err, sizeof(err)), 0);
	cr_assert_eq(kstats_parse(b2.buf, b2.len, &s2, err, sizeof(err)), 0);
	cr_expect_eq(kstat_delta(kstats_find(&s1, "exits"), kstats_find(&s2, "exits")), 500);
	cr_expect_eq(kstat_delta(kstats_find(&s1, "pages_2m"), kstats_find(&s2, "pages_2m")), 32);
	kstats_free(&s1);
	kstats_free(&s2);
	free(b1.buf);
	free(b2.buf);
}

/* ---- kstats_read from an fd ---- */

Test(kstats, read_from_fd_large_file)
{
	/* More than 16 KiB so the reader has to grow its buffer. */
	enum { N = 400 };
	static struct stat_spec many[N];
	static char names[N][32];
	static uint64_t vals[N];
	struct built b;
	struct kstats ks;
	char err[128] = "";
	int fd;

	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "stat_%u", i);
		vals[i] = (uint64_t)i * 1000003u;
		many[i] = (struct stat_spec){ names[i], KVM_STATS_TYPE_CUMULATIVE, 0, 1,
					      (N - 1 - i) * 8, &vals[i] };
	}
	b = build("kvm-5678", 48, many, N);
	cr_assert_gt(b.len, 16384);

	fd = memfd_create("kstats-test", 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, b.buf, b.len), (ssize_t)b.len);
	cr_assert_eq(kstats_read(fd, &ks, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(ks.id, "kvm-5678");
	cr_assert_eq(ks.n, N);
	for (unsigned i = 0; i < N; i++) {
		const struct kstat *k = kstats_find(&ks, names[i]);

		cr_assert_not_null(k, "%s", names[i]);
		cr_assert_eq(k->value, vals[i], "%s", names[i]);
	}
	kstats_free(&ks);
	close(fd);
	free(b.buf);
}

Test(kstats, read_bad_fd_fails)
{
	struct kstats ks;
	char err[128] = "";

	cr_expect_lt(kstats_read(-1, &ks, err, sizeof(err)), 0);
	cr_expect_gt(strlen(err), 0);
}

/* ---- malformed buffers ---- */

#define EXPECT_BAD(buf, len)                                                        \
	do {                                                                        \
		struct kstats ks_;                                                  \
		char err_[128] = "";                                                \
		int r_ = kstats_parse((buf), (len), &ks_, err_, sizeof(err_));      \
		cr_expect_lt(r_, 0, "malformed buffer accepted");                   \
		cr_expect_gt(strlen(err_), 0, "no message");                        \
		cr_expect_eq(ks_.n, 0);                                             \
		kstats_free(&ks_);                                                  \
	} while (0)

Test(kstats_bad, shorter_than_header)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	EXPECT_BAD(b.buf, 0);
	EXPECT_BAD(b.buf, 23);
	free(b.buf);
}

Test(kstats_bad, truncated_anywhere)
{
	/* Cutting the file short anywhere before its end must be noticed. */
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	for (size_t len = 0; len < b.len; len++) {
		struct kstats ks;
		char err[128] = "";
		int r = kstats_parse(b.buf, len, &ks, err, sizeof(err));

		cr_assert_lt(r, 0, "truncated to %zu of %zu bytes: accepted", len, b.len);
		cr_assert_gt(strlen(err), 0);
		kstats_free(&ks);
	}
	free(b.buf);
}

Test(kstats_bad, num_desc_too_big)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	put32(b.buf + 8, NSAMPLE + 1);
	EXPECT_BAD(b.buf, b.len);
	put32(b.buf + 8, 0xffffffffu);
	EXPECT_BAD(b.buf, b.len);
	put32(b.buf + 8, 0x04000000u);       /* * 64 bytes wraps a 32-bit product */
	EXPECT_BAD(b.buf, b.len);
	free(b.buf);
}

Test(kstats_bad, data_offset_past_end)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	put32(b.buf + 20, (uint32_t)b.len + 1);
	EXPECT_BAD(b.buf, b.len);
	put32(b.buf + 20, 0xffffffffu);
	EXPECT_BAD(b.buf, b.len);
	put32(b.buf + 20, (uint32_t)b.len);   /* data block empty, but stats point into it */
	EXPECT_BAD(b.buf, b.len);
	free(b.buf);
}

Test(kstats_bad, desc_offset_past_end)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	put32(b.buf + 16, (uint32_t)b.len + 8);
	EXPECT_BAD(b.buf, b.len);
	put32(b.buf + 16, 0xfffffff0u);
	EXPECT_BAD(b.buf, b.len);
	free(b.buf);
}

Test(kstats_bad, id_offset_past_end)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	put32(b.buf + 12, (uint32_t)b.len - 10);   /* a 48-byte id cannot start here */
	EXPECT_BAD(b.buf, b.len);
	put32(b.buf + 12, 0xffffffffu);
	EXPECT_BAD(b.buf, b.len);
	free(b.buf);
}

Test(kstats_bad, name_size_zero)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	put32(b.buf + 4, 0);
	EXPECT_BAD(b.buf, b.len);
	free(b.buf);
}

Test(kstats_bad, stat_size_zero)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);

	/* Third descriptor's size field (u16 at +6). */
	put16(b.buf + b.desc_offset + 2 * (DESC_SIZE + 48) + 6, 0);
	EXPECT_BAD(b.buf, b.len);
	free(b.buf);
}

Test(kstats_bad, stat_value_past_end)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);
	uint32_t data_len = (uint32_t)b.len - b.data_offset;
	uint8_t *d0 = b.buf + b.desc_offset;

	put32(d0 + 8, data_len - 4);          /* a u64 half outside */
	EXPECT_BAD(b.buf, b.len);
	put32(d0 + 8, 0xfffffff8u);           /* offset + 8 wraps a u32 */
	EXPECT_BAD(b.buf, b.len);
	put32(d0 + 8, 0);
	put16(d0 + 6, 0xffff);                /* 65535 buckets */
	EXPECT_BAD(b.buf, b.len);
	free(b.buf);
}

Test(kstats_bad, no_err_buffer_is_fine)
{
	struct built b = build("kvm-1", 48, sample, NSAMPLE);
	struct kstats ks;

	put32(b.buf + 8, 1000);
	cr_expect_lt(kstats_parse(b.buf, b.len, &ks, NULL, 0), 0);
	kstats_free(&ks);
	free(b.buf);
}
