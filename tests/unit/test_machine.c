/*
 * The monitor and its machine structures: the assembled blob has the
 * layout monitor.h promises (checked byte by byte against the x86
 * encodings, not against ombra's code), and machine_build() writes a GDT,
 * IDT, TSS and page-table subtree that decode, by the SDM's formats written
 * out here, to what shadow mode relies on.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shadow/machine.h"
#include "shadow/monitor.h"

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

Test(monitor, stubs_exit_with_the_vector_as_port)
{
	size_t len = (size_t)(monitor_blob_end - monitor_blob);

	cr_assert_geq(len, 0x840);
	cr_assert_leq(len, MON_MAILBOX, "the code must end before the mailbox");
	for (unsigned v = 0; v < 256; v++) {
		const uint8_t *s = monitor_blob + MON_STUBS + v * MON_STUB_SIZE;

		/* E6 ib = OUT imm8, AL; then 0F 0B = UD2 */
		cr_assert_eq(s[0], 0xe6, "stub %u does not start with OUT imm8, AL", v);
		cr_assert_eq(s[1], v, "stub %u writes port %u", v, s[1]);
		cr_assert_eq(s[2], 0x0f);
		cr_assert_eq(s[3], 0x0b);
	}
}

Test(monitor, resume_stubs)
{
	const uint8_t *m = monitor_blob;

	/* 48 CF = IRETQ */
	cr_expect_eq(m[MON_RESUME_IRET], 0x48);
	cr_expect_eq(m[MON_RESUME_IRET + 1], 0xcf);
	/* 0F 22 D8 = MOV CR3, RAX; then MOV RAX, [RIP+disp32] (48 8B 05) to the mailbox */
	cr_expect_eq(m[MON_RESUME_CR3], 0x0f);
	cr_expect_eq(m[MON_RESUME_CR3 + 1], 0x22);
	cr_expect_eq(m[MON_RESUME_CR3 + 2], 0xd8);
	cr_expect_eq(m[MON_RESUME_CR3 + 3], 0x48);
	cr_expect_eq(m[MON_RESUME_CR3 + 4], 0x8b);
	cr_expect_eq(m[MON_RESUME_CR3 + 5], 0x05);
	{
		int32_t disp;
		uint64_t next = MON_RESUME_CR3 + 10;

		memcpy(&disp, m + MON_RESUME_CR3 + 6, 4);
		cr_expect_eq(next + disp, MON_MAILBOX_RAX, "the CR3 stub must reload RAX from the mailbox");
	}
	cr_expect_eq(m[MON_RESUME_CR3 + 10], 0x48);
	cr_expect_eq(m[MON_RESUME_CR3 + 11], 0xcf);
	/* 0F 01 38 = INVLPG [RAX] */
	cr_expect_eq(m[MON_RESUME_INVLPG], 0x0f);
	cr_expect_eq(m[MON_RESUME_INVLPG + 1], 0x01);
	cr_expect_eq(m[MON_RESUME_INVLPG + 2], 0x38);
}

/* A segment descriptor as the SDM lays it out (vol. 3, 3.4.5). */
struct desc { uint32_t base, limit; unsigned type, s, dpl, p, l, db, g; };

static struct desc decode(uint64_t d)
{
	struct desc x;

	x.limit = (uint32_t)((d & 0xffff) | ((d >> 48) & 0xf) << 16);
	x.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24);
	x.type = (d >> 40) & 0xf;
	x.s = (d >> 44) & 1;
	x.dpl = (d >> 45) & 3;
	x.p = (d >> 47) & 1;
	x.l = (d >> 53) & 1;
	x.db = (d >> 54) & 1;
	x.g = (d >> 55) & 1;
	return x;
}

static uint8_t *built(void)
{
	uint8_t *mon = calloc(1, MON_SIZE);

	cr_assert_not_null(mon);
	memset(mon + MON_GDT, 0xaa, 64);   /* must be overwritten */
	machine_build(mon, mon_va(MON_SLOT), 0x200000, 0x400000);
	return mon;
}

Test(machine, gdt_has_only_the_monitors_and_the_guests_segments)
{
	uint8_t *mon = built();
	struct desc cs = decode(rd64(mon + MON_GDT + SEL_MON_CS));
	struct desc c32 = decode(rd64(mon + MON_GDT + (SEL_USER_CS32 & ~7)));
	struct desc c64 = decode(rd64(mon + MON_GDT + (SEL_USER_CS64 & ~7)));
	struct desc ds = decode(rd64(mon + MON_GDT + (SEL_USER_DS & ~7)));
	unsigned used = 0;

	cr_expect(cs.p && cs.s && (cs.type & 8) && cs.l && !cs.db && cs.dpl == 0);
	cr_expect(c32.p && c32.s && (c32.type & 8) && !c32.l && c32.db && c32.dpl == 3);
	cr_expect(c64.p && c64.s && (c64.type & 8) && c64.l && c64.dpl == 3);
	cr_expect(ds.p && ds.s && !(ds.type & 8) && (ds.type & 2) && ds.dpl == 3);
	cr_expect(c32.g && c32.limit == 0xfffff && c32.base == 0, "flat 4 GiB");
	/* Everything the guest could name with a small selector is empty or
	 * DPL 0, so its loads trap. */
	for (unsigned i = 1; i < 8189; i++) {
		uint64_t d = rd64(mon + MON_GDT + 8 * i);

		if (d)
			used++;
		if (d && i != SEL_TSS / 8 + 1)
			cr_expect_eq(decode(d).dpl, 0, "descriptor %u is reachable from CPL 3", i);
	}
	cr_expect_eq(used, 4, "monitor CS, DS and the two halves of the TSS descriptor");
	free(mon);
}

Test(machine, tss_descriptor_and_stacks)
{
	uint8_t *mon = built();
	uint64_t lo = rd64(mon + MON_GDT + SEL_TSS), hi = rd64(mon + MON_GDT + SEL_TSS + 8);
	struct desc t = decode(lo);
	uint64_t base = t.base | (hi << 32);

	cr_expect_eq(t.type, 9, "an available 64-bit TSS");
	cr_expect(!t.s && t.p);
	cr_expect_eq(base, 0xffff800000000000ULL + MON_TSS);
	cr_expect_eq(rd64(mon + MON_TSS + 4), 0xffff800000000000ULL + MON_STACK_TOP, "RSP0");
	cr_expect_eq(rd64(mon + MON_TSS + 36), 0xffff800000000000ULL + MON_STACK_TOP, "IST1");
	{
		/* The limit in bytes (G scales it by 4 KiB, SDM vol. 3, 3.4.5), at
		 * least the 104 bytes of a 64-bit TSS (vol. 3, 8.7). */
		uint32_t limit = t.g ? t.limit << 12 | 0xfff : t.limit;
		uint32_t iomap = mon[MON_TSS + 102] | mon[MON_TSS + 103] << 8;

		cr_expect_geq(limit, 0x67, "a 64-bit TSS is 104 bytes");
		/* No I/O permission bitmap, so every IN/OUT at CPL 3 (IOPL 0) faults:
		 * for port p the CPU reads the two bytes at iomap + p/8 and faults
		 * when one lies past the limit (SDM vol. 1, "I/O Permission Bit Map").  Only limit and base
		 * together say that; for port 0 it is iomap + 1 > limit, and then
		 * every higher port too.  The base must also lie in the 104 bytes
		 * or above them, never inside the TSS's own fields. */
		for (uint32_t p = 0; p < 0x10000; p++)
			if (iomap + p / 8 + 1 <= limit)
				cr_assert_fail("port %#x is allowed by an I/O bitmap at TSS+%#x "
					       "(TSS limit %#x)", p, iomap, limit);
		cr_expect_geq(iomap, 104, "I/O map base inside the TSS's fields");
	}
	free(mon);
}

Test(machine, every_vector_enters_its_stub_on_ist1)
{
	uint8_t *mon = built();

	for (unsigned v = 0; v < 256; v++) {
		const uint8_t *g = mon + MON_IDT + 16 * v;
		uint64_t target = (uint64_t)(g[0] | g[1] << 8) | (uint64_t)(g[6] | g[7] << 8) << 16 |
				  (uint64_t)rd64(g + 8) << 32;
		unsigned dpl = (g[5] >> 5) & 3;

		cr_expect_eq(target, 0xffff800000000000ULL + MON_STUBS + v * MON_STUB_SIZE, "vector %u", v);
		cr_expect_eq(g[2] | g[3] << 8, SEL_MON_CS);
		cr_expect_eq(g[4] & 7, 1, "vector %u must use IST1", v);
		cr_expect_eq(g[5] & 0x9f, 0x8e, "vector %u: present 64-bit interrupt gate", v);
		cr_expect_eq(dpl, v == 3 || v == 4 ? 3 : 0, "vector %u DPL", v);
	}
	free(mon);
}

Test(machine, monitor_mapping_is_supervisor_only)
{
	uint8_t *mon = calloc(1, MON_SIZE);
	uint64_t pml4e = machine_build(mon, mon_va(MON_SLOT), 0x200000, 0x400000), pdpte, pde;

	cr_expect(pml4e & 1);
	cr_expect_eq(pml4e & 4, 0, "U/S must be 0 at the top");
	cr_expect_eq(pml4e & ~0xfffULL, MON_MPA + MON_PDPT);
	pdpte = rd64(mon + MON_PDPT);
	cr_expect_eq(pdpte & ~0xfffULL, MON_MPA + MON_PD);
	cr_expect_eq(pdpte & 4, 0);
	pde = rd64(mon + MON_PD);
	cr_expect(pde & 0x80, "a 2 MiB page");
	cr_expect_eq(pde & 4, 0);
	cr_expect_eq(pde & ~0x1fffffULL, MON_MPA);
	free(mon);
}
