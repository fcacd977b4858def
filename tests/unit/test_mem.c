/*
 * Unit tests for guest memory (src/vmm/mem.c).
 *
 * What is checked: the PC layout (RAM [0, 640K), [1M, min(ram, 3G)), and the
 * rest from 4G), rejection of sizes that are not whole pages, GPA -> HVA at
 * every slot edge and in the holes, overlapping slots, moving a slot (same
 * contents, new HVA, the commit hook told remove-then-add), deleting, a
 * failing commit hook leaving everything as it was, copies that cross from one
 * slot into the next, and the MPA offset.  Expected values are the PC memory
 * map constants written out here, not taken from mem.h.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/mem.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* ---- a commit hook that records every call and can be told to fail ---- */

struct commit_call {
	bool remove;
	uint32_t id;
	uint64_t gpa, size, mpa;
	uint8_t *hva;
	uint8_t first_byte;   /* slot->hva[0] at the time of the call */
};

struct recorder {
	struct commit_call calls[16];
	unsigned n;
	int fail_at;          /* 1-based call number that fails, 0: never */
	int fail_code;
};

static int record_commit(void *opaque, const struct memslot *slot, bool remove)
{
	struct recorder *r = opaque;
	unsigned k = r->n++;

	if (k < sizeof(r->calls) / sizeof(r->calls[0]))
		r->calls[k] = (struct commit_call){
			remove, slot->id, slot->gpa, slot->size, slot->mpa, slot->hva,
			slot->hva ? slot->hva[0] : 0
		};
	if (r->fail_at && (int)r->n == r->fail_at)
		return r->fail_code;
	return 0;
}

static unsigned used_slots(const struct guest_mem *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++)
		n += m->slots[i].used;
	return n;
}

/* Is [p, p+len) mapped in this process?  mincore fails with ENOMEM if not. */
static bool is_mapped(void *p, size_t len)
{
	unsigned char vec[4];

	return mincore(p, len, vec) == 0;
}

/* ---- the PC layout ---- */

Test(mem, layout_128m)
{
	struct guest_mem m;
	struct memslot *lo, *hi;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 128 * MiB), 0);
	cr_assert_eq(used_slots(&m), 2, "128 MiB is two slots: below 640K and from 1M");
	cr_assert_eq(m.ram_size, 128 * MiB);

	lo = mem_find(&m, 0);
	cr_assert_not_null(lo);
	cr_assert_eq(lo->gpa, 0);
	cr_assert_eq(lo->size, 640 * KiB);

	hi = mem_find(&m, 1 * MiB);
	cr_assert_not_null(hi);
	cr_assert_neq(hi, lo);
	cr_assert_eq(hi->gpa, 1 * MiB);
	cr_assert_eq(hi->size, 127 * MiB, "RAM from 1M to the top of the 128M");

	/* Each slot is its own mapping: GPA and HVA are not the same number. */
	cr_assert_neq((uintptr_t)lo->hva, 0);
	cr_assert_neq((uintptr_t)hi->hva, (uintptr_t)1 * MiB);
	cr_assert_eq(mem_top_below_4g(&m), 128 * MiB);
	cr_assert_null(mem_find(&m, 128 * MiB));
	mem_destroy(&m);
}

Test(mem, layout_4g_splits_above_4g)
{
	struct guest_mem m;
	struct memslot *s;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 3 * GiB + 1 * GiB), 0);
	cr_assert_eq(used_slots(&m), 3);

	s = mem_find(&m, 1 * MiB);
	cr_assert_not_null(s);
	cr_assert_eq(s->gpa, 1 * MiB);
	cr_assert_eq(s->size, 3 * GiB - 1 * MiB, "below 4G RAM stops at the 3G PCI hole");

	/* The PCI hole [3G, 4G) has no RAM. */
	cr_assert_null(mem_find(&m, 3 * GiB));
	cr_assert_null(mem_find(&m, 4 * GiB - 1));

	s = mem_find(&m, 4 * GiB);
	cr_assert_not_null(s);
	cr_assert_eq(s->gpa, 4 * GiB);
	cr_assert_eq(s->size, 1 * GiB, "the GiB that does not fit below 3G moves above 4G");
	cr_assert_null(mem_find(&m, 5 * GiB));
	cr_assert_eq(mem_top_below_4g(&m), 3 * GiB);
	mem_destroy(&m);
}

Test(mem, layout_exactly_3g_has_no_high_slot)
{
	struct guest_mem m;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 3 * GiB), 0);
	cr_assert_eq(used_slots(&m), 2);
	cr_assert_not_null(mem_find(&m, 3 * GiB - 1));
	cr_assert_null(mem_find(&m, 4 * GiB));
	mem_destroy(&m);
}

Test(mem, layout_rejects_odd_sizes)
{
	static const uint64_t bad[] = {
		0,
		128 * MiB + 1,          /* not a page multiple */
		128 * MiB + 2048,
		128 * MiB - 4095,
		1 * MiB,                /* nothing above 1M */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct guest_mem m;
		int r;

		mem_init(&m);
		r = mem_layout_pc(&m, bad[i]);
		cr_expect_lt(r, 0, "ram size %#llx should be rejected", (unsigned long long)bad[i]);
		cr_expect_eq(r, -EINVAL, "ram size %#llx: -EINVAL expected, got %d",
			     (unsigned long long)bad[i], r);
		cr_expect_eq(used_slots(&m), 0, "a rejected layout leaves no slots");
		mem_destroy(&m);
	}
}

Test(mem, failed_layout_can_be_retried)
{
	/*
	 * A layout whose last slot cannot be mapped (2^48 bytes of RAM: the
	 * slot above 4G is larger than the 47-bit user address space) fails.  Library
	 * code unwinds what it set up (DESIGN/STYLE: "unwinds with goto labels
	 * in reverse order of setup"), so afterwards no slot is left and a
	 * smaller layout works.
	 */
	struct guest_mem m;
	int r;

	mem_init(&m);
	r = mem_layout_pc(&m, 1ULL << 48);
	cr_assert_lt(r, 0, "2^48 bytes should not be mappable here");
	cr_expect_eq(used_slots(&m), 0, "a failed layout leaves no slots behind");
	cr_expect_eq(mem_layout_pc(&m, 128 * MiB), 0, "retrying with a sane size works");
	mem_destroy(&m);
}

Test(mem, layout_commit_failure_leaves_nothing)
{
	/* The hypervisor refuses the second slot. */
	struct guest_mem m;
	struct recorder rec = { .fail_at = 2, .fail_code = -EINVAL };
	unsigned adds = 0, removes = 0;

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_layout_pc(&m, 128 * MiB), -EINVAL);
	cr_expect_eq(used_slots(&m), 0);
	cr_expect_null(mem_find(&m, 0));
	for (unsigned i = 0; i < rec.n; i++)
		rec.calls[i].remove ? removes++ : adds++;
	/* The failed add registered nothing; every successful add is undone. */
	cr_expect_eq(adds - 1, removes, "%u adds (one refused), %u removes", adds, removes);
	mem_destroy(&m);
}

Test(mem, layout_registers_slots_through_hook)
{
	struct guest_mem m;
	struct recorder rec = { 0 };

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_layout_pc(&m, 5 * GiB), 0);
	cr_assert_eq(rec.n, 3);
	for (unsigned i = 0; i < 3; i++)
		cr_expect_not(rec.calls[i].remove);
	cr_expect_eq(rec.calls[0].gpa, 0);
	cr_expect_eq(rec.calls[0].size, 640 * KiB);
	cr_expect_eq(rec.calls[1].gpa, 1 * MiB);
	cr_expect_eq(rec.calls[1].size, 3 * GiB - 1 * MiB);
	cr_expect_eq(rec.calls[2].gpa, 4 * GiB);
	cr_expect_eq(rec.calls[2].size, 2 * GiB);
	mem_destroy(&m);
}

/* ---- GPA -> HVA ---- */

Test(mem, gpa_to_hva_edges_and_holes)
{
	struct guest_mem m;
	struct memslot *lo, *hi;
	uint8_t *p;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 128 * MiB), 0);
	lo = mem_find(&m, 0);
	hi = mem_find(&m, 1 * MiB);
	cr_assert(lo && hi);

	/* First and last byte of the low slot. */
	cr_assert_eq(mem_gpa_to_hva(&m, 0, 1), lo->hva);
	cr_assert_eq(mem_gpa_to_hva(&m, 0, 640 * KiB), lo->hva);
	cr_assert_eq(mem_gpa_to_hva(&m, 640 * KiB - 1, 1), lo->hva + 640 * KiB - 1);
	cr_assert_null(mem_gpa_to_hva(&m, 640 * KiB - 1, 2), "range runs into the 640K hole");
	cr_assert_null(mem_gpa_to_hva(&m, 0, 640 * KiB + 1));

	/* The 640K..1M hole (VGA window and BIOS) is not RAM. */
	cr_assert_null(mem_gpa_to_hva(&m, 640 * KiB, 1));
	cr_assert_null(mem_gpa_to_hva(&m, 0xb8000, 1), "VGA text buffer is not RAM here");
	cr_assert_null(mem_gpa_to_hva(&m, 0xf0000, 1));
	cr_assert_null(mem_gpa_to_hva(&m, 1 * MiB - 1, 1));
	cr_assert_null(mem_find(&m, 640 * KiB));
	cr_assert_null(mem_find(&m, 1 * MiB - 1));

	/* The high slot. */
	cr_assert_eq(mem_gpa_to_hva(&m, 1 * MiB, 1), hi->hva);
	cr_assert_eq(mem_gpa_to_hva(&m, 0x123456, 4), hi->hva + (0x123456 - 1 * MiB));
	cr_assert_eq(mem_gpa_to_hva(&m, 128 * MiB - 1, 1), hi->hva + 127 * MiB - 1);
	cr_assert_null(mem_gpa_to_hva(&m, 128 * MiB - 1, 2));
	cr_assert_null(mem_gpa_to_hva(&m, 128 * MiB, 1));
	cr_assert_null(mem_gpa_to_hva(&m, 4 * GiB, 1));
	cr_assert_null(mem_gpa_to_hva(&m, UINT64_MAX, 1));

	/* The pointer really is the guest's memory. */
	p = mem_gpa_to_hva(&m, 0x200000, 4);
	cr_assert_not_null(p);
	memcpy(p, "\x11\x22\x33\x44", 4);
	{
		uint8_t back[4];

		cr_assert_eq(mem_read(&m, 0x200000, back, 4), 0);
		cr_assert_eq(memcmp(back, "\x11\x22\x33\x44", 4), 0);
	}
	mem_destroy(&m);
}

/* ---- add ---- */

Test(mem, add_rejects_bad_arguments)
{
	struct guest_mem m;

	mem_init(&m);
	cr_expect_eq(mem_slot_add(&m, 0x1000, 0, NULL), -EINVAL, "size 0");
	cr_expect_eq(mem_slot_add(&m, 0x1001, 0x1000, NULL), -EINVAL, "unaligned gpa");
	cr_expect_eq(mem_slot_add(&m, 0x1000, 0x1001, NULL), -EINVAL, "unaligned size");
	cr_expect_eq(mem_slot_add(&m, UINT64_MAX - 0xfff, 0x2000, NULL), -EINVAL, "wraps past 2^64");
	cr_expect_eq(used_slots(&m), 0);
	mem_destroy(&m);
}

Test(mem, add_overlapping_is_eexist)
{
	struct guest_mem m;
	struct memslot *s = NULL, *t = NULL;

	mem_init(&m);
	cr_assert_eq(mem_slot_add(&m, 0x100000, 0x10000, &s), 0);
	cr_assert_not_null(s);
	cr_assert_eq(s->gpa, 0x100000);
	cr_assert_eq(s->size, 0x10000);

	cr_expect_eq(mem_slot_add(&m, 0x100000, 0x10000, NULL), -EEXIST, "same range");
	cr_expect_eq(mem_slot_add(&m, 0x0ff000, 0x2000, NULL), -EEXIST, "overlaps the start");
	cr_expect_eq(mem_slot_add(&m, 0x10f000, 0x2000, NULL), -EEXIST, "overlaps the end");
	cr_expect_eq(mem_slot_add(&m, 0x104000, 0x1000, NULL), -EEXIST, "inside");
	cr_expect_eq(mem_slot_add(&m, 0x0f0000, 0x30000, NULL), -EEXIST, "covers it");
	cr_expect_eq(used_slots(&m), 1);

	/* Touching at either end is fine. */
	cr_expect_eq(mem_slot_add(&m, 0x0ff000, 0x1000, &t), 0, "adjacent below");
	cr_expect_eq(mem_slot_add(&m, 0x110000, 0x1000, NULL), 0, "adjacent above");
	cr_expect_eq(used_slots(&m), 3);
	cr_expect_neq(t, s);
	mem_destroy(&m);
}

Test(mem, add_fresh_memory_is_zeroed)
{
	struct guest_mem m;
	struct memslot *s;

	mem_init(&m);
	cr_assert_eq(mem_slot_add(&m, 0x40000, 0x3000, &s), 0);
	for (unsigned i = 0; i < 0x3000; i++)
		cr_assert_eq(s->hva[i], 0);
	mem_destroy(&m);
}

Test(mem, add_runs_out_of_slots)
{
	struct guest_mem m;
	int r = 0;
	unsigned i;

	mem_init(&m);
	for (i = 0; i < MEM_MAX_SLOTS; i++) {
		r = mem_slot_add(&m, (uint64_t)i * 0x2000, 0x1000, NULL);
		cr_assert_eq(r, 0, "slot %u", i);
	}
	r = mem_slot_add(&m, (uint64_t)i * 0x2000, 0x1000, NULL);
	cr_expect_eq(r, -ENOSPC);
	mem_destroy(&m);
}

Test(mem, add_commit_failure_leaves_nothing)
{
	struct guest_mem m;
	struct recorder rec = { .fail_at = 1, .fail_code = -EIO };
	struct memslot *s = (struct memslot *)0x1;

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_slot_add(&m, 0x100000, 0x4000, &s), -EIO);
	cr_expect_eq(rec.n, 1);
	cr_expect_eq(used_slots(&m), 0);
	cr_expect_null(mem_find(&m, 0x100000));
	cr_expect_null(mem_gpa_to_hva(&m, 0x100000, 1));
	cr_expect_eq(s, (struct memslot *)0x1, "*out untouched on failure");

	/* The range is free again. */
	rec.fail_at = 0;
	cr_expect_eq(mem_slot_add(&m, 0x100000, 0x4000, NULL), 0);
	mem_destroy(&m);
}

/* ---- move ---- */

Test(mem, move_keeps_contents_new_hva_and_recommits)
{
	struct guest_mem m;
	struct recorder rec = { 0 };
	struct memslot *s;
	uint8_t *old_hva;
	uint8_t pattern[0x3000], back[0x3000];

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_slot_add(&m, 0x200000, sizeof(pattern), &s), 0);
	cr_assert_eq(rec.n, 1);
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(mem_write(&m, 0x200000, pattern, sizeof(pattern)), 0);
	old_hva = s->hva;

	rec.n = 0;
	cr_assert_eq(mem_slot_move(&m, s), 0);

	cr_assert_neq(s->hva, old_hva, "a move gives the slot a new HVA");
	cr_expect_eq(s->moves, 1);
	cr_expect_eq(s->gpa, 0x200000);
	cr_expect_eq(s->size, sizeof(pattern));
	cr_expect_eq(mem_gpa_to_hva(&m, 0x200000, 1), s->hva);
	cr_assert_eq(mem_read(&m, 0x200000, back, sizeof(back)), 0);
	cr_expect_eq(memcmp(back, pattern, sizeof(back)), 0, "contents survive the move");

	/* KVM cannot change a slot's HVA in place: remove, then add with the new HVA. */
	cr_assert_eq(rec.n, 2);
	cr_expect(rec.calls[0].remove);
	cr_expect_eq(rec.calls[0].id, s->id);
	cr_expect_eq(rec.calls[0].gpa, 0x200000);
	cr_expect_not(rec.calls[1].remove);
	cr_expect_eq(rec.calls[1].id, s->id);
	cr_expect_eq(rec.calls[1].gpa, 0x200000);
	cr_expect_eq(rec.calls[1].size, sizeof(pattern));
	cr_expect_eq(rec.calls[1].hva, s->hva, "re-registered at the new HVA");
	cr_expect_eq(rec.calls[1].first_byte, pattern[0],
		     "the new mapping holds the contents when it is registered");

	/* The old mapping is gone. */
	cr_expect_not(is_mapped(old_hva, 4096), "old HVA should be unmapped");

	/* A second move counts. */
	cr_assert_eq(mem_slot_move(&m, s), 0);
	cr_expect_eq(s->moves, 2);
	mem_destroy(&m);
}

Test(mem, move_without_hook)
{
	struct guest_mem m;
	struct memslot *s;
	uint8_t *old;
	uint32_t v = 0xdeadbeef, back = 0;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 16 * MiB), 0);
	s = mem_find(&m, 1 * MiB);
	cr_assert_eq(mem_write(&m, 0x300000, &v, 4), 0);
	old = s->hva;
	cr_assert_eq(mem_slot_move(&m, s), 0);
	cr_expect_neq(s->hva, old);
	cr_assert_eq(mem_read(&m, 0x300000, &back, 4), 0);
	cr_expect_eq(back, 0xdeadbeef);
	mem_destroy(&m);
}

Test(mem, move_commit_failure_on_add_restores_old_hva)
{
	struct guest_mem m;
	struct recorder rec = { 0 };
	struct memslot *s;
	uint8_t *old;
	uint64_t v = 0x0123456789abcdefULL, back = 0;

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_slot_add(&m, 0x100000, 0x2000, &s), 0);
	cr_assert_eq(mem_write(&m, 0x100ff8, &v, 8), 0);
	old = s->hva;

	rec.n = 0;
	rec.fail_at = 2;               /* the remove succeeds, the re-add fails */
	rec.fail_code = -ENOMEM;
	cr_assert_eq(mem_slot_move(&m, s), -ENOMEM);
	cr_expect_eq(s->hva, old, "HVA unchanged after a failed move");
	cr_expect_eq(s->moves, 0);
	cr_expect(s->used);
	cr_expect_eq(mem_gpa_to_hva(&m, 0x100000, 1), old);
	cr_assert_eq(mem_read(&m, 0x100ff8, &back, 8), 0);
	cr_expect_eq(back, v);
	cr_expect(is_mapped(old, 0x2000), "old memory still mapped");
	/* The hypervisor must be left with the old mapping registered. */
	cr_assert_geq(rec.n, 3);
	cr_expect_not(rec.calls[rec.n - 1].remove);
	cr_expect_eq(rec.calls[rec.n - 1].hva, old);
	mem_destroy(&m);
}

Test(mem, move_commit_failure_on_remove_leaves_state)
{
	struct guest_mem m;
	struct recorder rec = { 0 };
	struct memslot *s;
	uint8_t *old;
	uint8_t b = 0;

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_slot_add(&m, 0x100000, 0x1000, &s), 0);
	cr_assert_eq(mem_write(&m, 0x100010, "\x5a", 1), 0);
	old = s->hva;
	rec.n = 0;
	rec.fail_at = 1;
	rec.fail_code = -EBUSY;
	cr_assert_eq(mem_slot_move(&m, s), -EBUSY);
	cr_expect_eq(s->hva, old);
	cr_expect_eq(s->moves, 0);
	cr_assert_eq(mem_read(&m, 0x100010, &b, 1), 0);
	cr_expect_eq(b, 0x5a);
	mem_destroy(&m);
}

Test(mem, move_unused_slot_rejected)
{
	struct guest_mem m;

	mem_init(&m);
	cr_expect_lt(mem_slot_move(&m, &m.slots[5]), 0);
	cr_expect_lt(mem_slot_delete(&m, &m.slots[5]), 0);
	mem_destroy(&m);
}

/* ---- delete ---- */

Test(mem, delete_removes_and_unmaps)
{
	struct guest_mem m;
	struct recorder rec = { 0 };
	struct memslot *s;
	uint8_t *hva;
	uint32_t id;
	uint8_t b;

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_layout_pc(&m, 64 * MiB), 0);
	cr_assert_eq(mem_slot_add(&m, 5 * GiB, 0x10000, &s), 0);
	hva = s->hva;
	id = s->id;
	rec.n = 0;

	cr_assert_eq(mem_slot_delete(&m, s), 0);
	cr_assert_eq(rec.n, 1);
	cr_expect(rec.calls[0].remove);
	cr_expect_eq(rec.calls[0].id, id);
	cr_expect_eq(rec.calls[0].gpa, 5 * GiB);
	cr_expect_null(mem_find(&m, 5 * GiB));
	cr_expect_null(mem_gpa_to_hva(&m, 5 * GiB, 1));
	cr_expect_eq(mem_read(&m, 5 * GiB, &b, 1), -EFAULT);
	cr_expect_eq(used_slots(&m), 2);
	cr_expect_not(is_mapped(hva, 0x10000), "deleted slot's memory is freed");

	/* Other slots are untouched, and the range can be reused. */
	cr_expect_not_null(mem_find(&m, 0));
	cr_expect_not_null(mem_find(&m, 32 * MiB));
	cr_expect_eq(mem_slot_add(&m, 5 * GiB, 0x10000, NULL), 0);
	mem_destroy(&m);
}

Test(mem, delete_commit_failure_keeps_slot)
{
	struct guest_mem m;
	struct recorder rec = { 0 };
	struct memslot *s;
	uint8_t *hva;
	uint16_t v = 0xbeef, back = 0;

	mem_init(&m);
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_slot_add(&m, 0x300000, 0x1000, &s), 0);
	cr_assert_eq(mem_write(&m, 0x300100, &v, 2), 0);
	hva = s->hva;
	rec.fail_at = 2;
	rec.fail_code = -EPERM;
	cr_assert_eq(mem_slot_delete(&m, s), -EPERM);
	cr_expect(s->used);
	cr_expect_eq(s->hva, hva);
	cr_expect_eq(mem_find(&m, 0x300000), s);
	cr_assert_eq(mem_read(&m, 0x300100, &back, 2), 0);
	cr_expect_eq(back, 0xbeef);
	mem_destroy(&m);
}

/* ---- copies across slots ---- */

Test(mem, read_write_span_adjacent_slots)
{
	struct guest_mem m;
	struct memslot *a, *b;
	uint8_t buf[32], back[32];

	mem_init(&m);
	cr_assert_eq(mem_slot_add(&m, 0x200000, 0x1000, &a), 0);
	cr_assert_eq(mem_slot_add(&m, 0x201000, 0x1000, &b), 0);
	cr_assert_neq(a->hva + 0x1000, b->hva, "need two separate mappings for this test");
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xa0 + i);

	cr_assert_eq(mem_write(&m, 0x200ff0, buf, sizeof(buf)), 0);
	cr_expect_eq(memcmp(a->hva + 0xff0, buf, 16), 0, "first half in slot a");
	cr_expect_eq(memcmp(b->hva, buf + 16, 16), 0, "second half in slot b");

	memset(back, 0, sizeof(back));
	cr_assert_eq(mem_read(&m, 0x200ff0, back, sizeof(back)), 0);
	cr_expect_eq(memcmp(back, buf, sizeof(buf)), 0);

	/* The gpa_to_hva helper refuses a range that is not inside one slot. */
	cr_expect_null(mem_gpa_to_hva(&m, 0x200ff0, 32));

	/* Running off the end into nothing is an error. */
	cr_expect_eq(mem_read(&m, 0x201ff0, back, 32), -EFAULT);
	cr_expect_eq(mem_write(&m, 0x201ff0, buf, 32), -EFAULT);
	cr_expect_eq(mem_read(&m, 0x1ffff0, back, 32), -EFAULT, "starts in a hole");
	mem_destroy(&m);
}

Test(mem, read_write_across_the_640k_hole_fails)
{
	struct guest_mem m;
	uint8_t buf[64] = { 0 };

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 8 * MiB), 0);
	cr_expect_eq(mem_read(&m, 640 * KiB - 32, buf, sizeof(buf)), -EFAULT);
	cr_expect_eq(mem_write(&m, 1 * MiB - 32, buf, sizeof(buf)), -EFAULT);
	cr_expect_eq(mem_read(&m, 640 * KiB - 64, buf, sizeof(buf)), 0, "ends exactly at 640K");
	cr_expect_eq(mem_read(&m, 1 * MiB, buf, sizeof(buf)), 0);
	cr_expect_eq(mem_read(&m, 8 * MiB - 64, buf, sizeof(buf)), 0, "ends exactly at the top");
	cr_expect_eq(mem_read(&m, 8 * MiB - 63, buf, sizeof(buf)), -EFAULT);
	mem_destroy(&m);
}

Test(mem, read_write_span_3g_to_4g_slots_fails_over_hole)
{
	struct guest_mem m;
	uint8_t buf[16];

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 4 * GiB), 0);
	cr_expect_eq(mem_read(&m, 3 * GiB - 8, buf, sizeof(buf)), -EFAULT);
	memset(buf, 0x77, sizeof(buf));
	cr_expect_eq(mem_write(&m, 4 * GiB, buf, sizeof(buf)), 0);
	cr_expect_eq(memcmp(mem_gpa_to_hva(&m, 4 * GiB, 16), buf, 16), 0);
	mem_destroy(&m);
}

/* ---- MPA ---- */

Test(mem, mpa_offset_applied)
{
	struct guest_mem m;
	struct recorder rec = { 0 };
	const uint64_t off = 0x40000000ULL;

	mem_init(&m);
	m.mpa_offset = off;
	mem_set_commit(&m, record_commit, &rec);
	cr_assert_eq(mem_layout_pc(&m, 64 * MiB), 0);

	cr_expect_eq(mem_find(&m, 0)->mpa, 0 + off);
	cr_expect_eq(mem_find(&m, 1 * MiB)->mpa, 1 * MiB + off);
	cr_expect_eq(rec.calls[0].mpa, 0 + off, "the hook sees the MPA");
	cr_expect_eq(rec.calls[1].mpa, 1 * MiB + off);

	cr_expect_eq(mem_gpa_to_mpa(&m, 0x1234), 0x1234 + off);
	cr_expect_eq(mem_gpa_to_mpa(&m, 0x123456), 0x123456 + off);
	cr_expect_eq(mem_gpa_to_mpa(&m, 64 * MiB - 1), 64 * MiB - 1 + off);
	cr_expect_eq(mem_gpa_to_mpa(&m, 0xb8000), UINT64_MAX, "hole has no MPA");
	cr_expect_eq(mem_gpa_to_mpa(&m, 64 * MiB), UINT64_MAX);

	/* Moving changes the HVA, not the MPA. */
	cr_assert_eq(mem_slot_move(&m, mem_find(&m, 1 * MiB)), 0);
	cr_expect_eq(mem_gpa_to_mpa(&m, 0x123456), 0x123456 + off);
	mem_destroy(&m);
}

Test(mem, mpa_equals_gpa_without_offset)
{
	struct guest_mem m;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 5 * GiB), 0);
	cr_expect_eq(mem_gpa_to_mpa(&m, 0x9000), 0x9000);
	cr_expect_eq(mem_gpa_to_mpa(&m, 4 * GiB + 0x1000), 4 * GiB + 0x1000);
	cr_expect_eq(mem_gpa_to_mpa(&m, 3 * GiB), UINT64_MAX);
	mem_destroy(&m);
}

/* mem_remap: fresh host pages at the same HVA, contents kept, neighbours
 * untouched; ranges outside one slot or not page aligned are refused. */
Test(mem, remap_keeps_contents_and_address)
{
	struct guest_mem m;
	uint8_t *before;
	uint64_t gpa = 0x200000;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 16 * MiB), 0);
	before = mem_gpa_to_hva(&m, gpa, 4096);
	cr_assert_not_null(before);
	for (unsigned i = 0; i < 3 * 4096; i++)
		before[i] = (uint8_t)(i * 7 + 3);
	cr_expect_eq(mem_remap(&m, gpa + 4096, 4096), 0);
	cr_expect_eq(mem_gpa_to_hva(&m, gpa, 4096), before, "the HVA does not change");
	for (unsigned i = 0; i < 3 * 4096; i++)
		if (before[i] != (uint8_t)(i * 7 + 3))
			cr_assert_fail("byte %u changed to %#x", i, before[i]);
	cr_expect_eq(mem_remap(&m, gpa + 1, 4096), -EINVAL, "not page aligned");
	cr_expect_eq(mem_remap(&m, 0xa0000, 4096), -EINVAL, "in the 640K-1M hole");
	cr_expect_eq(mem_remap(&m, 16 * MiB - 4096, 8192), -EINVAL, "past the end of the slot");
	mem_destroy(&m);
}

/* mem_copy_virt: page by page through the translation it is given, across
 * a page boundary into frames that are not adjacent, and nothing written
 * when any page of the range does not translate. */
static bool swap_pages(void *opaque, uint64_t gva, uint64_t *gpa)
{
	(void)opaque;
	if (gva >= 0x3000)
		return false;                          /* unmapped */
	/* virtual page 1 -> frame 0x200000, page 2 -> frame 0x100000 */
	*gpa = (gva < 0x2000 ? 0x200000 : 0x100000) + (gva & 0xfff);
	return true;
}

Test(mem, copy_virt_translates_each_page_and_checks_all_first)
{
	struct guest_mem m;
	uint8_t in[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8] = { 0 }, *lo, *hi;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 4 * MiB), 0);
	lo = mem_gpa_to_hva(&m, 0x200ffc, 4);
	hi = mem_gpa_to_hva(&m, 0x100000, 4);
	cr_assert_eq(mem_copy_virt(&m, 0x1ffc, in, 8, true, swap_pages, NULL), 0);
	cr_expect_arr_eq(lo, in, 4);
	cr_expect_arr_eq(hi, in + 4, 4);
	cr_assert_eq(mem_copy_virt(&m, 0x1ffc, out, 8, false, swap_pages, NULL), 0);
	cr_expect_arr_eq(out, in, 8);
	memset(hi, 0, 4);
	cr_expect_eq(mem_copy_virt(&m, 0x2ffc, in, 8, true, swap_pages, NULL), -EFAULT);
	cr_expect_eq(*(uint32_t *)mem_gpa_to_hva(&m, 0x100ffc, 4), 0, "a write began before the check failed");
	mem_destroy(&m);
}
