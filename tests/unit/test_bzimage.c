/*
 * Unit tests for the Linux boot protocol loader (src/vmm/bzimage.c).
 *
 * Images are assembled here: a setup header at the offsets of
 * Documentation/arch/x86/boot.rst (written out below as this file's own
 * constants, not the loader's), real-mode sectors of noise, then a
 * protected-mode kernel of a recognisable pattern.  What the loader leaves
 * in guest memory is read back and checked against the protocol: the kernel
 * at pref_address, the zero page with the image's header and the loader's
 * fields, an e820 map that is the memslots, the initrd at the top of RAM,
 * the command line; and the 64-bit entry's page tables by a 4-level walk
 * written here and the GDT by decoding its descriptors by hand.  Then one
 * test per way an image or a request can be refused.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/bzimage.h"
#include "vmm/mem.h"

#define MiB (1024ULL * 1024)

/* boot.rst's offsets, for this test. */
#define H_SETUP_SECTS   0x1f1
#define H_BOOT_FLAG     0x1fe
#define H_JUMP          0x200
#define H_MAGIC         0x202
#define H_VERSION       0x206
#define H_LOADER        0x210
#define H_LOADFLAGS     0x211
#define H_CODE32        0x214
#define H_RD_IMAGE      0x218
#define H_RD_SIZE       0x21c
#define H_CMDLINE       0x228
#define H_RD_MAX        0x22c
#define H_ALIGN         0x230
#define H_RELOC         0x234
#define H_XLF           0x236
#define H_CMDLINE_SIZE  0x238
#define H_PREF          0x258
#define H_INIT_SIZE     0x260
#define Z_RSDP          0x070
#define Z_E820_N        0x1e8
#define Z_E820          0x2d0

static uint32_t g32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t g64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void s16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void s32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void s64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static struct guest_mem mem;
static uint8_t *img;
static size_t img_len;
static struct linux_boot lb;
static char err[256];

#define SETUP_SECTS 3
#define KERNEL_LEN  (64 * 1024)
#define KERNEL_OFF  ((SETUP_SECTS + 1) * 512)

/* A 2.15 bzImage like Debian's: relocatable, pref_address 16 MiB,
 * init_size 40 MiB, 64-bit entry. */
static void make_image(void)
{
	img_len = KERNEL_OFF + KERNEL_LEN;
	img = malloc(img_len);
	cr_assert_not_null(img);
	for (size_t i = 0; i < KERNEL_OFF; i++)
		img[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = KERNEL_OFF; i < img_len; i++)
		img[i] = (uint8_t)(i ^ (i >> 8));
	img[H_SETUP_SECTS] = SETUP_SECTS;
	s16(img + H_BOOT_FLAG, 0xaa55);
	img[H_JUMP] = 0xeb;
	img[H_JUMP + 1] = 0x6a;           /* the header runs to 0x26c */
	memcpy(img + H_MAGIC, "HdrS", 4);
	s16(img + H_VERSION, 0x020f);
	img[H_LOADER] = 0;
	img[H_LOADFLAGS] = 0x01;          /* LOADED_HIGH */
	s32(img + H_CODE32, 0x100000);
	s32(img + H_RD_IMAGE, 0);
	s32(img + H_RD_SIZE, 0);
	s32(img + H_CMDLINE, 0);
	s32(img + H_RD_MAX, 0x7fffffff);
	s32(img + H_ALIGN, 0x200000);
	img[H_RELOC] = 1;
	s16(img + H_XLF, 0x7f);
	s32(img + H_CMDLINE_SIZE, 2047);
	s64(img + H_PREF, 0x1000000);
	s32(img + H_INIT_SIZE, 40 * MiB);
}

static void setup(void)
{
	mem_init(&mem);
	cr_assert_eq(mem_layout_pc(&mem, 128 * MiB), 0);
	make_image();
	memset(&lb, 0, sizeof(lb));
	err[0] = 0;
}

static void teardown(void)
{
	mem_destroy(&mem);
	free(img);
}

TestSuite(bzimage, .init = setup, .fini = teardown);

static uint8_t rd8(uint64_t gpa)
{
	uint8_t v = 0;

	cr_assert_eq(mem_read(&mem, gpa, &v, 1), 0, "no RAM at %#llx", (unsigned long long)gpa);
	return v;
}

static uint64_t rdq(uint64_t gpa)
{
	uint64_t v = 0;

	cr_assert_eq(mem_read(&mem, gpa, &v, 8), 0, "no RAM at %#llx", (unsigned long long)gpa);
	return v;
}

/* A 4-level walk of this test's own: the GPA of va, or ~0 if unmapped. */
static uint64_t walk(uint64_t cr3, uint64_t va)
{
	uint64_t e = rdq((cr3 & ~0xfffULL) + ((va >> 39) & 511) * 8);

	if (!(e & 1))
		return ~0ULL;
	e = rdq((e & 0xffffffffff000ULL) + ((va >> 30) & 511) * 8);
	if (!(e & 1))
		return ~0ULL;
	if (e & 0x80)
		return (e & 0xfffffc0000000ULL) | (va & 0x3fffffff);
	e = rdq((e & 0xffffffffff000ULL) + ((va >> 21) & 511) * 8);
	if (!(e & 1))
		return ~0ULL;
	if (e & 0x80)
		return (e & 0xfffffffe00000ULL) | (va & 0x1fffff);
	e = rdq((e & 0xffffffffff000ULL) + ((va >> 12) & 511) * 8);
	if (!(e & 1))
		return ~0ULL;
	return (e & 0xffffffffff000ULL) | (va & 0xfff);
}

static int load(const struct linux_boot_in *in)
{
	return linux_load(&mem, img, img_len, in, &lb, err, sizeof(err));
}

Test(bzimage, detects_the_header)
{
	cr_expect(linux_is_bzimage(img, img_len));
	img[H_MAGIC] = 'h';
	cr_expect_not(linux_is_bzimage(img, img_len), "no HdrS");
	img[H_MAGIC] = 'H';
	s16(img + H_BOOT_FLAG, 0x55aa);
	cr_expect_not(linux_is_bzimage(img, img_len), "no 0xAA55");
	cr_expect_not(linux_is_bzimage(img, 0x205), "too short for the header");
}

Test(bzimage, kernel_at_pref_address)
{
	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_expect_eq(lb.load_gpa, 0x1000000);
	cr_expect_eq(lb.version, 0x020f);
	for (size_t i = 0; i < KERNEL_LEN; i += 997)
		cr_expect_eq(rd8(0x1000000 + i), img[KERNEL_OFF + i], "kernel byte %zu", i);
	cr_expect_eq(lb.cpu.rip, 0x1000000 + 0x200, "the 64-bit entry is 0x200 past the load address");
	cr_expect_eq(lb.cpu.rsi, 0x8000);
	cr_expect(lb.cpu.long_mode);
}

Test(bzimage, not_relocatable_loads_at_code32_start)
{
	img[H_RELOC] = 0;
	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_expect_eq(lb.load_gpa, 0x100000);
	cr_expect_eq(rd8(0x100000), img[KERNEL_OFF]);
}

Test(bzimage, zero_page_holds_the_header_and_the_loader_fields)
{
	struct linux_boot_in in = { .cmdline = "console=ttyS0 nokaslr" };
	uint8_t zp[4096];

	cr_assert_eq(load(&in), 0, "%s", err);
	cr_assert_eq(mem_read(&mem, lb.cpu.rsi, zp, sizeof(zp)), 0);
	/* The header from 0x1f1 to 0x202 + the jump's byte, as the image has
	 * it, except what a loader writes. */
	for (unsigned o = H_SETUP_SECTS; o < 0x202 + 0x6a; o++) {
		if (o == H_LOADER || (o >= H_CODE32 && o < H_CODE32 + 4) ||
		    (o >= H_CMDLINE && o < H_CMDLINE + 4) || (o >= H_RD_IMAGE && o < H_RD_SIZE + 4) ||
		    (o >= 0x23c && o < 0x248) || (o >= 0x250 && o < 0x258))
			continue;
		cr_expect_eq(zp[o], img[o], "setup header byte %#x", o);
	}
	cr_expect_eq(zp[0x1ef], 0, "the sentinel stays 0: Linux keeps the zero page as given");
	cr_expect_eq(zp[H_LOADER], 0xff, "type_of_loader: undefined");
	cr_expect_eq(g32(zp + H_CODE32), 0x1000000, "code32_start: where the kernel is");
	for (unsigned o = 0; o < H_SETUP_SECTS; o++)
		if (o != Z_E820_N)
			cr_expect_eq(zp[o], 0, "zero page byte %#x before the header", o);
	{
		char line[64] = { 0 };

		cr_assert_eq(mem_read(&mem, g32(zp + H_CMDLINE), line, sizeof(line) - 1), 0);
		cr_expect_str_eq(line, "console=ttyS0 nokaslr");
	}
	cr_expect_eq(g32(zp + H_RD_IMAGE), 0);
	cr_expect_eq(g32(zp + H_RD_SIZE), 0);
	cr_expect_eq(g64(zp + Z_RSDP), 0, "no firmware tables given: no RSDP");
}

/* The e820 map is the PC layout of 128 MiB: [0, 640K) and [1M, 128M), with
 * the firmware area cut out of the first when tables are given. */
Test(bzimage, e820_is_the_memslots)
{
	uint8_t zp[4096];
	static const uint8_t fw[64] = { 'R', 'S', 'D', ' ' };
	struct linux_boot_in in = { .fw = fw, .fw_len = sizeof(fw), .rsdp_gpa = 0x9e000 };
	static const uint64_t want[][3] = {
		{ 0, 0x9e000, 1 }, { 0x9e000, 0x2000, 2 }, { 0x100000, 127 * MiB, 1 },
	};

	cr_assert_eq(load(&in), 0, "%s", err);
	cr_assert_eq(mem_read(&mem, 0x8000, zp, sizeof(zp)), 0);
	cr_assert_eq(zp[Z_E820_N], 3);
	for (unsigned i = 0; i < 3; i++) {
		cr_expect_eq(g64(zp + Z_E820 + i * 20), want[i][0], "entry %u base", i);
		cr_expect_eq(g64(zp + Z_E820 + i * 20 + 8), want[i][1], "entry %u length", i);
		cr_expect_eq(g32(zp + Z_E820 + i * 20 + 16), want[i][2], "entry %u type", i);
	}
	cr_expect_eq(g64(zp + Z_RSDP), 0x9e000);
	cr_expect_eq(rd8(0x9e000), 'R', "the tables are where the map reserves them");
	cr_expect_eq(rd8(0x9e003), ' ');
}

Test(bzimage, e820_without_tables_is_two_ram_ranges)
{
	uint8_t zp[4096];

	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_assert_eq(mem_read(&mem, 0x8000, zp, sizeof(zp)), 0);
	cr_assert_eq(zp[Z_E820_N], 2);
	cr_expect_eq(g64(zp + Z_E820 + 8), 640 * 1024);
	cr_expect_eq(g64(zp + Z_E820 + 20), 1 * MiB);
	cr_expect_eq(g64(zp + Z_E820 + 28), 127 * MiB);
}

Test(bzimage, initrd_at_the_top_of_ram)
{
	static uint8_t rd[10000];
	struct linux_boot_in in = { .initrd = rd, .initrd_len = sizeof(rd) };
	uint8_t zp[4096];
	/* 128 MiB of RAM: the last page-aligned start that fits 10,000 bytes. */
	uint64_t want = (128 * MiB - sizeof(rd)) & ~0xfffULL;

	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i * 13);
	cr_assert_eq(load(&in), 0, "%s", err);
	cr_expect_eq(lb.initrd_gpa, want);
	cr_assert_eq(mem_read(&mem, 0x8000, zp, sizeof(zp)), 0);
	cr_expect_eq(g32(zp + H_RD_IMAGE), want);
	cr_expect_eq(g32(zp + H_RD_SIZE), sizeof(rd));
	for (size_t i = 0; i < sizeof(rd); i += 101)
		cr_expect_eq(rd8(want + i), rd[i]);
}

Test(bzimage, initrd_below_initrd_addr_max)
{
	static uint8_t rd[4096];
	struct linux_boot_in in = { .initrd = rd, .initrd_len = sizeof(rd) };

	s32(img + H_RD_MAX, 100 * MiB - 1);
	cr_assert_eq(load(&in), 0, "%s", err);
	cr_expect_eq(lb.initrd_gpa, 100 * MiB - 4096);
}

Test(bzimage, identity_tables_and_gdt_for_the_64bit_entry)
{
	uint64_t cs, ds;

	cr_assert_eq(load(NULL), 0, "%s", err);
	/* boot.rst: the kernel's init_size from the load address, the zero
	 * page and the command line identity mapped.  The loader maps 4 GiB. */
	static const uint64_t va[] = { 0, 0x8000, 0x9000, 0x1000000, 0x1000000 + 40 * MiB - 1,
				       0x7fffffff, 0xc0001234, 0xffffffff };
	for (unsigned i = 0; i < sizeof(va) / sizeof(va[0]); i++)
		cr_expect_eq(walk(lb.cpu.cr3, va[i]), va[i], "va %#llx", (unsigned long long)va[i]);
	cr_expect_eq(walk(lb.cpu.cr3, 0x100000000ULL), ~0ULL, "nothing above 4 GiB");
	/* GDT: selector 0x10 a present 64-bit code segment (type 0xb with S,
	 * L set, D clear), 0x18 a present writable data segment. */
	cr_assert_geq(lb.cpu.gdt_limit, 0x1f);
	cs = rdq(lb.cpu.gdt_base + 0x10);
	ds = rdq(lb.cpu.gdt_base + 0x18);
	cr_expect_eq((cs >> 40) & 0xff, 0x9b, "present, DPL 0, code execute/read accessed");
	cr_expect_eq((cs >> 53) & 1, 1, "L");
	cr_expect_eq((cs >> 54) & 1, 0, "D clear with L");
	cr_expect_eq((ds >> 40) & 0xff, 0x93, "present, DPL 0, data read/write accessed");
	cr_expect_eq(((ds >> 16) & 0xffffff) | ((ds >> 32) & 0xff000000), 0, "base 0");
}

/* A loader owns ramdisk_image/size, hardware_subarch and setup_data: an
 * image with stale values there must not hand them to the kernel (found
 * by fuzz_loader: a bogus initrd). */
Test(bzimage, loader_fields_overwrite_the_image)
{
	uint8_t zp[4096];

	s32(img + H_RD_IMAGE, 0x123000);
	s32(img + H_RD_SIZE, 0x4000);
	s32(img + 0x23c, 2);
	s64(img + 0x250, 0x5000);
	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_assert_eq(mem_read(&mem, 0x8000, zp, sizeof(zp)), 0);
	cr_expect_eq(g32(zp + H_RD_IMAGE), 0);
	cr_expect_eq(g32(zp + H_RD_SIZE), 0);
	cr_expect_eq(g32(zp + 0x23c), 0, "hardware_subarch: a PC");
	cr_expect_eq(g64(zp + 0x250), 0, "no setup_data");
}

Test(bzimage, refuses_an_old_protocol)
{
	s16(img + H_VERSION, 0x020b);
	cr_expect_eq(load(NULL), -ENOEXEC);
	cr_expect(strstr(err, "2.11") && strstr(err, "2.12"), "%s", err);
}

Test(bzimage, refuses_a_zimage)
{
	img[H_LOADFLAGS] = 0;
	cr_expect_eq(load(NULL), -ENOEXEC);
	cr_expect(strstr(err, "zImage"), "%s", err);
}

Test(bzimage, refuses_a_kernel_without_the_64bit_entry)
{
	s16(img + H_XLF, 0x7e);
	cr_expect_eq(load(NULL), -ENOEXEC);
	cr_expect(strstr(err, "64-bit entry"), "%s", err);
}

Test(bzimage, refuses_setup_sectors_past_the_file)
{
	img[H_SETUP_SECTS] = 200;
	cr_expect_eq(load(NULL), -ENOEXEC);
	cr_expect(strstr(err, "setup sectors"), "%s", err);
}

Test(bzimage, too_little_ram_for_init_size)
{
	s32(img + H_INIT_SIZE, 120 * MiB);
	cr_expect_eq(load(NULL), -E2BIG);
	cr_expect(strstr(err, "-m"), "the message says how to fix it: %s", err);
}

Test(bzimage, initrd_that_does_not_fit)
{
	static uint8_t rd[4096];
	/* 100 MiB claimed: with the kernel's 40 MiB from 16 MiB it cannot fit in 128. */
	struct linux_boot_in in = { .initrd = rd, .initrd_len = 100 * MiB };

	cr_expect_eq(load(&in), -E2BIG);
	cr_expect(strstr(err, "initrd"), "%s", err);
}

Test(bzimage, command_line_longer_than_the_kernel_takes)
{
	char line[300];
	struct linux_boot_in in = { .cmdline = line };

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;
	s32(img + H_CMDLINE_SIZE, 255);
	cr_expect_eq(load(&in), -E2BIG);
	cr_expect(strstr(err, "255"), "%s", err);
	s32(img + H_CMDLINE_SIZE, 2047);
	cr_expect_eq(load(&in), 0, "%s", err);
}
