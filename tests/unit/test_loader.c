/*
 * Unit tests for the multiboot (v1) loader (src/vmm/loader.c).
 *
 * Kernels are assembled here byte by byte: an ELF32 or ELF64 file from
 * <elf.h> structures with chosen program headers, or a raw "a.out kludge"
 * image whose multiboot header carries the load addresses (flag 16).  The
 * results are read back out of guest memory (mem_read) and compared with
 * what the Multiboot 0.6.96 specification says a boot loader must produce:
 * segments at their physical addresses, bss zeroed, the info structure at
 * EBX with mem_lower/mem_upper, cmdline, mods, mmap and boot_loader_name.
 * Then one test per way an image can be wrong, and a seeded fuzz loop that
 * corrupts a good image and checks the loader only ever says 0 or -errno
 * with a message, and that what it reports on success is true: the info
 * structure for what was passed, the module where it says, and no guest
 * byte written outside the ranges it reports.
 */
#include <criterion/criterion.h>

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/loader.h"
#include "vmm/mem.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* Multiboot 0.6.96, section 3.1: header magic; section 3.3: info flags and offsets. */
#define MAGIC          0x1BADB002u
#define HF_ALIGN       (1u << 0)
#define HF_MEMINFO     (1u << 1)
#define HF_VIDEO       (1u << 2)
#define HF_ADDR        (1u << 16)

#define IF_MEM         (1u << 0)
#define IF_BOOTDEV     (1u << 1)
#define IF_CMDLINE     (1u << 2)
#define IF_MODS        (1u << 3)
#define IF_MMAP        (1u << 6)
#define IF_LOADER_NAME (1u << 9)

#define MBI_FLAGS        0
#define MBI_MEM_LOWER    4
#define MBI_MEM_UPPER    8
#define MBI_CMDLINE      16
#define MBI_MODS_COUNT   20
#define MBI_MODS_ADDR    24
#define MBI_MMAP_LENGTH  44
#define MBI_MMAP_ADDR    48
#define MBI_LOADER_NAME  64

/* ------------------------------------------------------------------ */
/* Building images                                                    */
/* ------------------------------------------------------------------ */

struct seg {
	uint32_t type;
	uint64_t paddr, vaddr;
	uint64_t offset, filesz, memsz;
};

struct elf_spec {
	int cls;                 /* 32 or 64 */
	uint16_t machine;        /* 0: EM_386 for 32, EM_X86_64 for 64 */
	uint16_t type;           /* 0: ET_EXEC */
	uint64_t entry;
	const struct seg *segs;
	unsigned nseg;
	long mb_off;             /* offset of the multiboot header; < 0: none */
	uint32_t mb_flags;
	const uint32_t *mb_addr; /* header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr */
};

/* Deterministic "random" bytes: xorshift32. */
static uint32_t rng_state;

static uint32_t rnd(void)
{
	uint32_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void fill_noise(uint8_t *p, size_t len, uint32_t seed)
{
	rng_state = seed ? seed : 1;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

/* Write a multiboot header (magic, flags, checksum, then the address fields). */
static void put_mb_header(uint8_t *img, size_t off, uint32_t flags, const uint32_t *addr)
{
	put32(img + off, MAGIC);
	put32(img + off + 4, flags);
	put32(img + off + 8, (uint32_t)-(MAGIC + flags));
	if (addr)
		for (int i = 0; i < 5; i++)
			put32(img + off + 12 + 4 * i, addr[i]);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Assemble an ELF file.  The caller frees the buffer. */
static uint8_t *build_elf(const struct elf_spec *e, size_t *len_out)
{
	size_t ehsize = e->cls == 64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = e->cls == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t len = ehsize + e->nseg * phsize;
	uint8_t *img;

	for (unsigned i = 0; i < e->nseg; i++)
		len = max_sz(len, e->segs[i].offset + e->segs[i].filesz);
	if (e->mb_off >= 0)
		len = max_sz(len, (size_t)e->mb_off + 48);
	img = malloc(len);
	cr_assert_not_null(img);
	fill_noise(img, len, 0x1234567u);

	if (e->cls == 64) {
		Elf64_Ehdr eh = { 0 };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = e->type ? e->type : ET_EXEC;
		eh.e_machine = e->machine ? e->machine : EM_X86_64;
		eh.e_version = EV_CURRENT;
		eh.e_entry = e->entry;
		eh.e_phoff = ehsize;
		eh.e_ehsize = (uint16_t)ehsize;
		eh.e_phentsize = (uint16_t)phsize;
		eh.e_phnum = (uint16_t)e->nseg;
		memcpy(img, &eh, sizeof(eh));
		for (unsigned i = 0; i < e->nseg; i++) {
			Elf64_Phdr ph = { 0 };

			ph.p_type = e->segs[i].type;
			ph.p_offset = e->segs[i].offset;
			ph.p_vaddr = e->segs[i].vaddr ? e->segs[i].vaddr : e->segs[i].paddr;
			ph.p_paddr = e->segs[i].paddr;
			ph.p_filesz = e->segs[i].filesz;
			ph.p_memsz = e->segs[i].memsz;
			ph.p_flags = PF_R | PF_W | PF_X;
			ph.p_align = 0x1000;
			memcpy(img + ehsize + i * phsize, &ph, sizeof(ph));
		}
	} else {
		Elf32_Ehdr eh = { 0 };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = e->type ? e->type : ET_EXEC;
		eh.e_machine = e->machine ? e->machine : EM_386;
		eh.e_version = EV_CURRENT;
		eh.e_entry = (uint32_t)e->entry;
		eh.e_phoff = (uint32_t)ehsize;
		eh.e_ehsize = (uint16_t)ehsize;
		eh.e_phentsize = (uint16_t)phsize;
		eh.e_phnum = (uint16_t)e->nseg;
		memcpy(img, &eh, sizeof(eh));
		for (unsigned i = 0; i < e->nseg; i++) {
			Elf32_Phdr ph = { 0 };

			ph.p_type = e->segs[i].type;
			ph.p_offset = (uint32_t)e->segs[i].offset;
			ph.p_vaddr = (uint32_t)(e->segs[i].vaddr ? e->segs[i].vaddr : e->segs[i].paddr);
			ph.p_paddr = (uint32_t)e->segs[i].paddr;
			ph.p_filesz = (uint32_t)e->segs[i].filesz;
			ph.p_memsz = (uint32_t)e->segs[i].memsz;
			ph.p_flags = PF_R | PF_W | PF_X;
			ph.p_align = 0x1000;
			memcpy(img + ehsize + i * phsize, &ph, sizeof(ph));
		}
	}
	if (e->mb_off >= 0)
		put_mb_header(img, (size_t)e->mb_off, e->mb_flags, e->mb_addr);
	*len_out = len;
	return img;
}

/* A one-segment ELF32 kernel at 1 MiB: the starting point of most tests. */
static const struct seg one_seg[] = {
	{ PT_LOAD, 0x100000, 0, 0x1000, 0x800, 0x1000 },
};

static struct elf_spec simple32(void)
{
	return (struct elf_spec){
		.cls = 32, .entry = 0x100000, .segs = one_seg, .nseg = 1,
		.mb_off = 0x100, .mb_flags = HF_ALIGN | HF_MEMINFO,
	};
}

/* ------------------------------------------------------------------ */
/* Reading results                                                    */
/* ------------------------------------------------------------------ */

static void setup_ram(struct guest_mem *m, uint64_t ram)
{
	mem_init(m);
	cr_assert_eq(mem_layout_pc(m, ram), 0);
}

static void fill_guest(struct guest_mem *m, uint64_t gpa, uint64_t len, uint8_t v)
{
	uint8_t buf[4096];

	memset(buf, v, sizeof(buf));
	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		cr_assert_eq(mem_write(m, gpa, buf, n), 0);
		gpa += n;
		len -= n;
	}
}

static uint32_t rd32g(struct guest_mem *m, uint64_t gpa)
{
	uint32_t v = 0;

	cr_assert_eq(mem_read(m, gpa, &v, 4), 0, "reading guest %#llx", (unsigned long long)gpa);
	return v;
}

static uint64_t rd64g(struct guest_mem *m, uint64_t gpa)
{
	uint64_t v = 0;

	cr_assert_eq(mem_read(m, gpa, &v, 8), 0, "reading guest %#llx", (unsigned long long)gpa);
	return v;
}

/* A NUL-terminated guest string into buf; asserts it ends within max bytes. */
static void rdstr(struct guest_mem *m, uint64_t gpa, char *buf, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		cr_assert_eq(mem_read(m, gpa + i, &buf[i], 1), 0);
		if (buf[i] == 0)
			return;
	}
	cr_assert_fail("guest string at %#llx is not terminated", (unsigned long long)gpa);
}

/* Guest memory [gpa, gpa+len) equals p. */
static bool guest_equals(struct guest_mem *m, uint64_t gpa, const uint8_t *p, size_t len)
{
	uint8_t *tmp = malloc(len ? len : 1);
	bool eq;

	cr_assert_not_null(tmp);
	cr_assert_eq(mem_read(m, gpa, tmp, len), 0);
	eq = memcmp(tmp, p, len) == 0;
	free(tmp);
	return eq;
}

/* Every byte of guest [gpa, gpa+len) equals v. */
static bool guest_all(struct guest_mem *m, uint64_t gpa, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b;

		cr_assert_eq(mem_read(m, gpa + i, &b, 1), 0);
		if (b != v)
			return false;
	}
	return true;
}

struct mmap_ent {
	uint32_t size;
	uint64_t base, len;
	uint32_t type;
};

/* Walk the memory map as the spec describes it (next = this + size + 4). */
static unsigned read_mmap(struct guest_mem *m, uint64_t info, struct mmap_ent *out, unsigned max)
{
	uint32_t len = rd32g(m, info + MBI_MMAP_LENGTH);
	uint64_t a = rd32g(m, info + MBI_MMAP_ADDR), end = a + len;
	unsigned n = 0;

	while (a < end) {
		cr_assert_lt(n, max, "too many mmap entries");
		out[n].size = rd32g(m, a);
		out[n].base = rd64g(m, a + 4);
		out[n].len = rd64g(m, a + 12);
		out[n].type = rd32g(m, a + 20);
		cr_assert_geq(out[n].size, 20);
		a += out[n].size + 4;
		n++;
	}
	cr_assert_eq(a, end, "mmap_length is not a whole number of entries");
	return n;
}

/* Does err mention any of the NULL-terminated words (case-insensitively)? */
static bool err_mentions(const char *err, ...)
{
	va_list ap;
	const char *w;
	bool hit = false;

	va_start(ap, err);
	while ((w = va_arg(ap, const char *)) != NULL)
		if (strcasestr(err, w))
			hit = true;
	va_end(ap);
	return hit;
}

#define EXPECT_REJECT(r, err, ...)                                                      \
	do {                                                                            \
		cr_expect_lt((r), 0, "expected a negative return, got %d", (r));        \
		cr_expect_gt(strlen(err), 0, "expected an error message");              \
		cr_expect(err_mentions((err), __VA_ARGS__, (const char *)NULL),         \
			  "error message does not name the problem: \"%s\"", (err));    \
	} while (0)

/* Load img into a fresh RAM of the given size; the result and err for the caller. */
static int load(struct guest_mem *m, uint64_t ram, const uint8_t *img, size_t len,
		const char *cmdline, const struct mb_module *mod, struct mb_boot *out,
		char *err, size_t errlen)
{
	setup_ram(m, ram);
	memset(err, 0, errlen);
	return mb_load(m, img, len, cmdline, mod, out, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Good kernels                                                       */
/* ------------------------------------------------------------------ */

Test(loader, elf32_segments_bss_entry_and_info)
{
	/* Text with bss at 1 MiB; a note that is not loaded; data at 2 MiB whose
	 * virtual address is in the higher half (the physical one counts). */
	const struct seg segs[] = {
		{ PT_LOAD, 0x100000, 0, 0x1000, 0x1800, 0x3000 },
		{ PT_NOTE, 0x150000, 0, 0x600, 0x20, 0x20 },
		{ PT_LOAD, 0x200000, 0xc0200000, 0x3000, 0x234, 0x234 },
	};
	struct elf_spec e = {
		.cls = 32, .entry = 0x10000c, .segs = segs, .nseg = 3,
		.mb_off = 0x200, .mb_flags = HF_ALIGN | HF_MEMINFO,
	};
	const char *cmdline = "console=ttyS0 ombra.test=1";
	struct guest_mem m;
	struct mb_boot out;
	char err[256] = "";
	char s[512];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	uint32_t flags, info;

	setup_ram(&m, 128 * MiB);
	/* Dirty the memory around the segments so copying and zeroing show. */
	fill_guest(&m, 0x100000, 0x4000, 0xcc);
	fill_guest(&m, 0x150000, 0x100, 0xcc);
	fill_guest(&m, 0x1ff000, 0x2000, 0xcc);
	cr_assert_eq(mb_load(&m, img, len, cmdline, NULL, &out, err, sizeof(err)), 0, "%s", err);

	/* Segments: file bytes at p_paddr, then zeros to p_memsz, nothing beyond. */
	cr_expect(guest_equals(&m, 0x100000, img + 0x1000, 0x1800), "text copied");
	cr_expect(guest_all(&m, 0x101800, 0x1800, 0), "bss zeroed");
	cr_expect(guest_all(&m, 0x103000, 0x1000, 0xcc), "nothing written past p_memsz");
	cr_expect(guest_equals(&m, 0x200000, img + 0x3000, 0x234), "data copied at p_paddr");
	cr_expect(guest_all(&m, 0x1ff000, 0x1000, 0xcc), "nothing written before the segment");
	cr_expect(guest_all(&m, 0x200234, 0x100, 0xcc), "nothing written past p_memsz");
	cr_expect(guest_all(&m, 0x150000, 0x100, 0xcc), "PT_NOTE is not loaded");

	cr_expect_eq(out.entry, 0x10000c);
	cr_expect_eq(out.elf_class, 32);
	cr_expect_eq(out.load_start, 0x100000);
	cr_expect_eq(out.load_end, 0x200234);
	cr_expect_eq(out.header_flags, HF_ALIGN | HF_MEMINFO);
	cr_expect_eq(out.info_gpa, MB_INFO_GPA);

	/* The information structure (spec 3.3). */
	info = out.info_gpa;
	flags = rd32g(&m, info + MBI_FLAGS);
	cr_expect(flags & IF_MEM, "mem_lower/mem_upper valid");
	cr_expect(flags & IF_CMDLINE, "cmdline valid");
	cr_expect(flags & IF_MMAP, "mmap valid");
	cr_expect(flags & IF_LOADER_NAME, "boot_loader_name valid");
	cr_expect_not(flags & IF_MODS, "no modules given");
	cr_expect_eq(rd32g(&m, info + MBI_MEM_LOWER), 640);
	cr_expect_eq(rd32g(&m, info + MBI_MEM_UPPER), (128 * MiB - 1 * MiB) / 1024);

	rdstr(&m, rd32g(&m, info + MBI_CMDLINE), s, sizeof(s));
	cr_expect_str_eq(s, cmdline);

	rdstr(&m, rd32g(&m, info + MBI_LOADER_NAME), s, sizeof(s));
	cr_expect_gt(strlen(s), 0);
	cr_expect(strcasestr(s, "ombra") != NULL, "boot loader name \"%s\"", s);

	{
		struct mmap_ent mm[8];
		unsigned n = read_mmap(&m, info, mm, 8);

		cr_assert_eq(n, 2, "one entry per RAM range: below 640K and from 1M");
		for (unsigned i = 0; i < n; i++) {
			cr_expect_eq(mm[i].size, 20);
			cr_expect_eq(mm[i].type, 1, "available RAM");
		}
		cr_expect_eq(mm[0].base, 0);
		cr_expect_eq(mm[0].len, 640 * KiB);
		cr_expect_eq(mm[1].base, 1 * MiB);
		cr_expect_eq(mm[1].len, 127 * MiB);
	}

	/* Nothing the loader wrote for the kernel lies on top of the kernel. */
	{
		uint32_t ptrs[] = { info, rd32g(&m, info + MBI_CMDLINE), rd32g(&m, info + MBI_MMAP_ADDR),
				    rd32g(&m, info + MBI_LOADER_NAME) };

		for (unsigned i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
			cr_expect(ptrs[i] + 88 <= out.load_start || ptrs[i] >= out.load_end,
				  "info item at %#x overlaps the kernel", ptrs[i]);
	}
	mem_destroy(&m);
	free(img);
}

Test(loader, info_for_5g_ram_has_high_mmap_entry)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	struct mmap_ent mm[8];
	unsigned n;

	cr_assert_eq(load(&m, 5 * GiB, img, len, "x", NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(rd32g(&m, out.info_gpa + MBI_MEM_LOWER), 640);
	/* Upper memory runs from 1M to the first hole, the PCI hole at 3G. */
	cr_expect_eq(rd32g(&m, out.info_gpa + MBI_MEM_UPPER), (3 * GiB - 1 * MiB) / 1024);
	n = read_mmap(&m, out.info_gpa, mm, 8);
	cr_assert_eq(n, 3);
	cr_expect_eq(mm[0].base, 0);
	cr_expect_eq(mm[0].len, 640 * KiB);
	cr_expect_eq(mm[1].base, 1 * MiB);
	cr_expect_eq(mm[1].len, 3 * GiB - 1 * MiB);
	cr_expect_eq(mm[2].base, 4 * GiB);
	cr_expect_eq(mm[2].len, 2 * GiB);
	for (unsigned i = 0; i < n; i++) {
		cr_expect_eq(mm[i].size, 20);
		cr_expect_eq(mm[i].type, 1);
	}
	mem_destroy(&m);
	free(img);
}

Test(loader, no_cmdline_clears_flag)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);

	cr_assert_eq(load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_not(rd32g(&m, out.info_gpa) & IF_CMDLINE);
	cr_expect(rd32g(&m, out.info_gpa) & IF_MEM);
	mem_destroy(&m);
	free(img);
}

Test(loader, long_but_acceptable_cmdline_is_whole)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	char cmd[4001], back[4100];

	for (unsigned i = 0; i < sizeof(cmd) - 1; i++)
		cmd[i] = (char)('a' + i % 26);
	cmd[sizeof(cmd) - 1] = 0;
	cr_assert_eq(load(&m, 16 * MiB, img, len, cmd, NULL, &out, err, sizeof(err)), 0, "%s", err);
	rdstr(&m, rd32g(&m, out.info_gpa + MBI_CMDLINE), back, sizeof(back));
	cr_expect_str_eq(back, cmd);
	mem_destroy(&m);
	free(img);
}

Test(loader, elf64_with_multiboot_header)
{
	const struct seg segs[] = {
		{ PT_LOAD, 0x100000, 0xffffffff80100000ULL, 0x1000, 0x900, 0x2000 },
		{ PT_LOAD, 0x400000, 0xffffffff80400000ULL, 0x2000, 0x100, 0x100 },
	};
	struct elf_spec e = {
		.cls = 64, .entry = 0x100040, .segs = segs, .nseg = 2,
		.mb_off = 0x400, .mb_flags = HF_MEMINFO,
	};
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);

	setup_ram(&m, 64 * MiB);
	fill_guest(&m, 0x100000, 0x3000, 0xcc);
	memset(err, 0, sizeof(err));
	cr_assert_eq(mb_load(&m, img, len, "", NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(out.elf_class, 64);
	cr_expect_eq(out.entry, 0x100040);
	cr_expect(guest_equals(&m, 0x100000, img + 0x1000, 0x900));
	cr_expect(guest_all(&m, 0x100900, 0x2000 - 0x900, 0), "bss zeroed");
	cr_expect(guest_all(&m, 0x102000, 0x1000, 0xcc));
	cr_expect(guest_equals(&m, 0x400000, img + 0x2000, 0x100));
	cr_expect_eq(out.load_start, 0x100000);
	cr_expect_eq(out.load_end, 0x400100);
	/* An empty command line is still a command line. */
	{
		char s[8];

		cr_expect(rd32g(&m, out.info_gpa) & IF_CMDLINE);
		rdstr(&m, rd32g(&m, out.info_gpa + MBI_CMDLINE), s, sizeof(s));
		cr_expect_str_eq(s, "");
	}
	mem_destroy(&m);
	free(img);
}

Test(loader, elf32_with_x86_64_machine)
{
	/* What "ld -m elf32_x86_64" or objcopy -O elf32-x86-64 produce. */
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img;

	e.machine = EM_X86_64;
	img = build_elf(&e, &len);
	cr_assert_eq(load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(out.elf_class, 32);
	cr_expect_eq(out.entry, 0x100000);
	cr_expect(guest_equals(&m, 0x100000, img + 0x1000, 0x800));
	mem_destroy(&m);
	free(img);
}

Test(loader, header_at_last_place_in_8k)
{
	/* 8180 + 12 = 8192: the 12-byte header lies wholly in the first 8 KiB. */
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img;

	e.mb_off = 8180;
	img = build_elf(&e, &len);
	cr_assert_eq(load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err)), 0, "%s", err);
	mem_destroy(&m);
	free(img);
}

Test(loader, optional_flag_bits_are_ignored)
{
	/* Bits 16-31 are optional features; an unknown one may be ignored (spec 3.1.2).
	 * Bit 2 (video mode) is a required one that ombra, like QEMU, accepts. */
	static const uint32_t extra[] = { 1u << 17, 1u << 20, 1u << 31, HF_VIDEO };

	for (unsigned i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		struct elf_spec e = simple32();
		struct guest_mem m;
		struct mb_boot out;
		char err[256];
		size_t len;
		uint8_t *img;
		int r;

		e.mb_flags |= extra[i];
		img = build_elf(&e, &len);
		r = load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err));
		cr_expect_eq(r, 0, "flags %#x: %s", e.mb_flags, err);
		mem_destroy(&m);
		free(img);
	}
}

Test(loader, first_valid_header_is_used)
{
	/* A stray magic with a wrong checksum before the real header is skipped. */
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img;

	e.mb_off = 0x140;
	img = build_elf(&e, &len);
	put32(img + 0x100, MAGIC);
	put32(img + 0x104, HF_ADDR);
	put32(img + 0x108, 0x12345678);
	cr_assert_eq(load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(out.header_flags, HF_ALIGN | HF_MEMINFO);
	cr_expect_eq(out.elf_class, 32, "loaded through the ELF headers, not the stray flag 16");
	mem_destroy(&m);
	free(img);
}

/* A raw binary with the load addresses in its multiboot header (flag 16). */
Test(loader, aout_kludge_whole_file_and_bss)
{
	const size_t flen = 0x2345;
	const uint32_t load = 0x100000, hoff = 0x20;
	const uint32_t addr[5] = {
		load + hoff,        /* header_addr */
		load,               /* load_addr: the file starts here */
		0,                  /* load_end_addr 0: the whole file */
		load + 0x5000,      /* bss_end_addr */
		load + 0x40,        /* entry_addr */
	};
	uint8_t *img = malloc(flen);
	struct guest_mem m;
	struct mb_boot out;
	char err[256] = "";

	cr_assert_not_null(img);
	fill_noise(img, flen, 99);
	img[0] = 0xeb;                      /* not ELF */
	put_mb_header(img, hoff, HF_ADDR | HF_ALIGN | HF_MEMINFO, addr);

	setup_ram(&m, 32 * MiB);
	fill_guest(&m, load, 0x6000, 0xcc);
	cr_assert_eq(mb_load(&m, img, flen, "k", NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect(guest_equals(&m, load, img, flen), "whole file at load_addr");
	cr_expect(guest_all(&m, load + flen, 0x5000 - flen, 0), "bss up to bss_end_addr zeroed");
	cr_expect(guest_all(&m, load + 0x5000, 0x1000, 0xcc), "nothing past bss_end_addr");
	cr_expect_eq(out.entry, load + 0x40);
	cr_expect_eq(out.elf_class, 0);
	cr_expect_eq(out.load_start, load);
	cr_expect_eq(out.load_end, load + 0x5000);
	cr_expect(rd32g(&m, out.info_gpa) & IF_MEM);
	mem_destroy(&m);
	free(img);
}

Test(loader, aout_kludge_offset_and_load_end)
{
	/* The text starts 0x1000 bytes into the file: the file offset is the header's
	 * offset minus (header_addr - load_addr) (spec 3.1.3). */
	const size_t flen = 0x2000;
	const uint32_t hoff = 0x1008;
	const uint32_t addr[5] = { 0x200008, 0x200000, 0x200800, 0, 0x200010 };
	uint8_t *img = malloc(flen);
	struct guest_mem m;
	struct mb_boot out;
	char err[256] = "";

	cr_assert_not_null(img);
	fill_noise(img, flen, 7);
	put_mb_header(img, hoff, HF_ADDR, addr);
	setup_ram(&m, 32 * MiB);
	fill_guest(&m, 0x1ff000, 0x2000, 0xcc);
	cr_assert_eq(mb_load(&m, img, flen, NULL, NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect(guest_equals(&m, 0x200000, img + 0x1000, 0x800));
	cr_expect(guest_all(&m, 0x200800, 0x800, 0xcc), "bss_end_addr 0: no bss, nothing past load_end");
	cr_expect(guest_all(&m, 0x1ff000, 0x1000, 0xcc));
	cr_expect_eq(out.entry, 0x200010);
	mem_destroy(&m);
	free(img);
}

Test(loader, aout_kludge_wins_over_elf_headers)
{
	/* With flag 16 the address fields are used "instead of the fields in the
	 * actual executable header" even when the file is ELF. */
	struct elf_spec e = simple32();       /* its PT_LOAD says 0x100000 */
	const uint32_t addr[5] = { 0x300100, 0x300000, 0, 0, 0x300000 };
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img;

	e.mb_flags = HF_ADDR;
	e.mb_addr = addr;                     /* header at 0x100: file starts at 0x300000 */
	img = build_elf(&e, &len);
	cr_assert_eq(load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect(guest_equals(&m, 0x300000, img, len));
	cr_expect(guest_all(&m, 0x100000, 0x800, 0), "PT_LOAD ignored");
	cr_expect_eq(out.entry, 0x300000);
	mem_destroy(&m);
	free(img);
}

Test(loader, module_zero_after_image)
{
	const struct seg segs[] = { { PT_LOAD, 0x100000, 0, 0x1000, 0x1000, 0x2345 } };
	struct elf_spec e = {
		.cls = 32, .entry = 0x100000, .segs = segs, .nseg = 1,
		.mb_off = 0x100, .mb_flags = HF_ALIGN | HF_MEMINFO,
	};
	uint8_t data[5000];
	struct mb_module mod = { data, sizeof(data), "initrd.img root=/dev/ram0" };
	struct guest_mem m;
	struct mb_boot out;
	char err[256], s[128];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	uint32_t info, mods, start, end;

	fill_noise(data, sizeof(data), 4242);
	cr_assert_eq(load(&m, 64 * MiB, img, len, "root=/dev/ram0", &mod, &out, err, sizeof(err)), 0,
		     "%s", err);
	/* The image ends at 0x102345; the next page boundary is 0x103000. */
	start = 0x103000;
	end = start + sizeof(data);
	cr_expect_eq(out.mod_start, start);
	cr_expect_eq(out.mod_end, end);
	cr_expect(guest_equals(&m, start, data, sizeof(data)), "module contents");

	info = out.info_gpa;
	cr_expect(rd32g(&m, info) & IF_MODS);
	cr_expect_eq(rd32g(&m, info + MBI_MODS_COUNT), 1);
	mods = rd32g(&m, info + MBI_MODS_ADDR);
	cr_expect_eq(rd32g(&m, mods + 0), start, "mod_start");
	cr_expect_eq(rd32g(&m, mods + 4), end, "mod_end");
	cr_expect_eq(start % 4096, 0, "page aligned (header flag 0)");
	rdstr(&m, rd32g(&m, mods + 8), s, sizeof(s));
	cr_expect_str_eq(s, "initrd.img root=/dev/ram0");
	cr_expect_eq(rd32g(&m, mods + 12), 0, "reserved field is 0");
	/* The module list and its string must not lie inside the module or the image. */
	cr_expect(mods + 16 <= 0x100000 || mods >= end);
	mem_destroy(&m);
	free(img);
}

Test(loader, module_after_page_aligned_image)
{
	const struct seg segs[] = { { PT_LOAD, 0x100000, 0, 0x1000, 0x1000, 0x2000 } };
	struct elf_spec e = {
		.cls = 32, .entry = 0x100000, .segs = segs, .nseg = 1,
		.mb_off = 0x100, .mb_flags = HF_ALIGN,
	};
	const uint8_t data[] = "hello, module";
	struct mb_module mod = { data, sizeof(data), "m" };
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);

	cr_assert_eq(load(&m, 16 * MiB, img, len, NULL, &mod, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(out.mod_start, 0x102000, "first page after an image ending on a page boundary");
	cr_expect_eq(out.mod_end, 0x102000 + sizeof(data));
	cr_expect(guest_equals(&m, 0x102000, data, sizeof(data)));
	mem_destroy(&m);
	free(img);
}

/* ------------------------------------------------------------------ */
/* Rejections: one per way an image can be wrong                      */
/* ------------------------------------------------------------------ */

/* Build e, load it into ram bytes of RAM, expect failure naming one of the words. */
#define REJECT_ELF(spec, ram, truncate_to, ...)                                          \
	do {                                                                             \
		struct guest_mem m_;                                                     \
		struct mb_boot out_;                                                     \
		char err_[256];                                                          \
		size_t len_;                                                             \
		uint8_t *img_ = build_elf(&(spec), &len_);                               \
		int r_;                                                                  \
		if ((truncate_to) > 0)                                                   \
			len_ = (size_t)(truncate_to);                                    \
		r_ = load(&m_, (ram), img_, len_, "cmd", NULL, &out_, err_, sizeof(err_)); \
		EXPECT_REJECT(r_, err_, __VA_ARGS__);                                    \
		mem_destroy(&m_);                                                        \
		free(img_);                                                              \
	} while (0)

Test(loader_reject, empty_file)
{
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	int r = load(&m, 16 * MiB, (const uint8_t *)"", 0, NULL, NULL, &out, err, sizeof(err));

	EXPECT_REJECT(r, err, "empty");
	mem_destroy(&m);
}

Test(loader_reject, no_multiboot_header)
{
	struct elf_spec e = simple32();

	e.mb_off = -1;
	REJECT_ELF(e, 16 * MiB, 0, "multiboot header");
}

Test(loader_reject, header_beyond_8k)
{
	struct elf_spec e = simple32();

	e.mb_off = 8192;
	REJECT_ELF(e, 16 * MiB, 0, "multiboot header");
}

Test(loader_reject, header_straddling_8k)
{
	/* Magic and flags inside the first 8 KiB, checksum outside. */
	struct elf_spec e = simple32();

	e.mb_off = 8188;
	REJECT_ELF(e, 16 * MiB, 0, "multiboot header");
}

Test(loader_reject, kludge_header_fields_beyond_8k)
{
	/*
	 * "The Multiboot header must be contained completely within the first
	 * 8192 bytes of the OS image" (spec 3.1.1).  With flag 16 the header is
	 * 32 bytes long; here its magic/flags/checksum end at 8188 but the
	 * address fields run to 8208.  QEMU (which needs 48 bytes before 8192)
	 * does not find this header either.
	 */
	const size_t flen = 0x3000;
	const uint32_t hoff = 8176;
	const uint32_t addr[5] = { 0x100000 + hoff, 0x100000, 0, 0, 0x100000 };
	uint8_t *img = malloc(flen);
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	int r;

	cr_assert_not_null(img);
	fill_noise(img, flen, 5);
	put_mb_header(img, hoff, HF_ADDR, addr);
	r = load(&m, 16 * MiB, img, flen, NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "multiboot header", "8 KiB", "8192");
	mem_destroy(&m);
	free(img);
}

Test(loader_reject, header_not_32bit_aligned)
{
	/* "must be longword (32-bit) aligned" (spec 3.1.1). */
	struct elf_spec e = simple32();

	e.mb_off = 0x102;
	REJECT_ELF(e, 16 * MiB, 0, "multiboot header");
}

Test(loader_reject, bad_checksum)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	int r;

	put32(img + 0x100 + 8, (uint32_t)-(MAGIC + e.mb_flags) + 1);
	r = load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "checksum");
	mem_destroy(&m);
	free(img);
}

Test(loader_reject, unsupported_required_flag_bit3)
{
	struct elf_spec e = simple32();

	e.mb_flags |= 1u << 3;
	REJECT_ELF(e, 16 * MiB, 0, "0x8", "bit 3", "feature");
}

Test(loader_reject, every_unknown_required_flag)
{
	/* Bits 3..15 are required features ombra does not know: each must fail. */
	for (unsigned bit = 3; bit < 16; bit++) {
		struct elf_spec e = simple32();

		e.mb_flags |= 1u << bit;
		REJECT_ELF(e, 16 * MiB, 0, "feature", "flag", "bit");
	}
}

Test(loader_reject, program_headers_past_end)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	Elf32_Ehdr eh;
	int r;

	memcpy(&eh, img, sizeof(eh));
	eh.e_phoff = (uint32_t)len - 8;       /* a 32-byte header cannot start here */
	memcpy(img, &eh, sizeof(eh));
	r = load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "truncated", "past the end", "end of the file", "outside");
	mem_destroy(&m);
	free(img);
}

Test(loader_reject, segment_data_past_end)
{
	struct elf_spec e = simple32();

	/* The segment's 0x800 bytes start at 0x1000; cut the file one byte short. */
	REJECT_ELF(e, 16 * MiB, 0x1000 + 0x800 - 1, "truncated", "past the end", "end of the file");
}

Test(loader_reject, filesz_greater_than_memsz)
{
	const struct seg segs[] = { { PT_LOAD, 0x100000, 0, 0x1000, 0x800, 0x400 } };
	struct elf_spec e = simple32();

	e.segs = segs;
	REJECT_ELF(e, 16 * MiB, 0, "size");
}

Test(loader_reject, segment_in_640k_1m_hole)
{
	const struct seg segs[] = { { PT_LOAD, 0xa0000, 0, 0x1000, 0x800, 0x1000 } };
	struct elf_spec e = simple32();

	e.segs = segs;
	e.entry = 0xa0000;
	REJECT_ELF(e, 16 * MiB, 0, "RAM", "hole");
}

Test(loader_reject, segment_running_into_640k_hole)
{
	const struct seg segs[] = { { PT_LOAD, 0x9f000, 0, 0x1000, 0x800, 0x2000 } };
	struct elf_spec e = simple32();

	e.segs = segs;
	e.entry = 0x9f000;
	REJECT_ELF(e, 16 * MiB, 0, "RAM", "hole");
}

Test(loader_reject, segment_above_ram)
{
	const struct seg segs[] = { { PT_LOAD, 0x9000000, 0, 0x1000, 0x800, 0x1000 } };
	struct elf_spec e = simple32();

	e.segs = segs;
	e.entry = 0x9000000;
	REJECT_ELF(e, 128 * MiB, 0, "RAM");
}

Test(loader_reject, segment_running_past_top_of_ram)
{
	const struct seg segs[] = { { PT_LOAD, 16 * MiB - 0x800, 0, 0x1000, 0x800, 0x801 } };
	struct elf_spec e = simple32();

	e.segs = segs;
	e.entry = 16 * MiB - 0x800;
	REJECT_ELF(e, 16 * MiB, 0, "RAM");
}

Test(loader_reject, segment_in_pci_hole)
{
	const struct seg segs[] = { { PT_LOAD, 0xc0000000, 0, 0x1000, 0x800, 0x1000 } };
	struct elf_spec e = simple32();

	e.segs = segs;
	e.entry = 0xc0000000;
	REJECT_ELF(e, 5 * GiB, 0, "RAM", "hole");
}

Test(loader_reject, segment_above_4g)
{
	/* There is RAM at 4G here, but a multiboot kernel is entered in 32-bit mode. */
	const struct seg segs[] = {
		{ PT_LOAD, 0x100000, 0, 0x1000, 0x800, 0x1000 },
		{ PT_LOAD, 0x100000000ULL, 0, 0x2000, 0x100, 0x100 },
	};
	struct elf_spec e = { .cls = 64, .entry = 0x100000, .segs = segs, .nseg = 2,
			      .mb_off = 0x400, .mb_flags = HF_MEMINFO };

	REJECT_ELF(e, 5 * GiB, 0, "4 GiB", "4G", "32-bit");
}

Test(loader_reject, overlapping_segments)
{
	const struct seg segs[] = {
		{ PT_LOAD, 0x100000, 0, 0x1000, 0x800, 0x2000 },
		{ PT_LOAD, 0x101800, 0, 0x2000, 0x100, 0x1000 },
	};
	struct elf_spec e = simple32();

	e.segs = segs;
	e.nseg = 2;
	REJECT_ELF(e, 16 * MiB, 0, "overlap");
}

Test(loader_reject, segment_over_multiboot_info)
{
	const struct seg segs[] = { { PT_LOAD, MB_INFO_GPA - 0x1000, 0, 0x1000, 0x800, 0x2000 } };
	struct elf_spec e = simple32();

	e.segs = segs;
	e.entry = MB_INFO_GPA - 0x1000;
	REJECT_ELF(e, 16 * MiB, 0, "multiboot info", "information", "info");
}

Test(loader, segments_touching_info_area_are_fine)
{
	/* Right below and right above the reserved info area is ordinary RAM. */
	const struct seg segs[] = {
		{ PT_LOAD, MB_INFO_GPA - 0x1000, 0, 0x1000, 0x800, 0x1000 },
		{ PT_LOAD, MB_INFO_LIMIT, 0, 0x2000, 0x800, 0x1000 },
	};
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img;

	e.segs = segs;
	e.nseg = 2;
	e.entry = MB_INFO_LIMIT;
	img = build_elf(&e, &len);
	cr_assert_eq(load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect(guest_equals(&m, MB_INFO_GPA - 0x1000, img + 0x1000, 0x800));
	cr_expect(guest_equals(&m, MB_INFO_LIMIT, img + 0x2000, 0x800));
	mem_destroy(&m);
	free(img);
}

Test(loader_reject, elf64_entry_above_4g)
{
	const struct seg segs[] = { { PT_LOAD, 0x100000, 0, 0x1000, 0x800, 0x1000 } };
	struct elf_spec e = { .cls = 64, .entry = 0xffffffff80100000ULL, .segs = segs, .nseg = 1,
			      .mb_off = 0x400, .mb_flags = HF_MEMINFO };

	REJECT_ELF(e, 16 * MiB, 0, "entry");
}

Test(loader_reject, elf_type_not_exec)
{
	struct elf_spec e = simple32();

	e.type = ET_DYN;
	REJECT_ELF(e, 16 * MiB, 0, "executable", "type");
}

Test(loader_reject, elf64_type_rel)
{
	const struct seg segs[] = { { PT_LOAD, 0x100000, 0, 0x1000, 0x800, 0x1000 } };
	struct elf_spec e = { .cls = 64, .type = ET_REL, .entry = 0x100000, .segs = segs, .nseg = 1,
			      .mb_off = 0x400, .mb_flags = HF_MEMINFO };

	REJECT_ELF(e, 16 * MiB, 0, "executable", "type");
}

Test(loader_reject, elf32_wrong_machine)
{
	struct elf_spec e = simple32();

	e.machine = EM_ARM;
	REJECT_ELF(e, 16 * MiB, 0, "machine");
}

Test(loader_reject, elf64_wrong_machine)
{
	const struct seg segs[] = { { PT_LOAD, 0x100000, 0, 0x1000, 0x800, 0x1000 } };
	struct elf_spec e = { .cls = 64, .machine = EM_AARCH64, .entry = 0x100000, .segs = segs,
			      .nseg = 1, .mb_off = 0x400, .mb_flags = HF_MEMINFO };

	REJECT_ELF(e, 16 * MiB, 0, "machine");
}

Test(loader_reject, elf_bad_class)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	int r;

	img[EI_CLASS] = ELFCLASSNONE;
	r = load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "class");
	mem_destroy(&m);
	free(img);
}

Test(loader_reject, elf_big_endian)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	int r;

	img[EI_DATA] = ELFDATA2MSB;
	r = load(&m, 16 * MiB, img, len, NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "endian");
	mem_destroy(&m);
	free(img);
}

Test(loader_reject, no_pt_load)
{
	const struct seg segs[] = {
		{ PT_NOTE, 0x100000, 0, 0x1000, 0x20, 0x20 },
		{ PT_GNU_STACK, 0, 0, 0, 0, 0 },
	};
	struct elf_spec e = simple32();

	e.segs = segs;
	e.nseg = 2;
	REJECT_ELF(e, 16 * MiB, 0, "load");
}

Test(loader_reject, command_line_too_long)
{
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	size_t n = 64 * 1024;
	char *cmd = malloc(n + 1);
	int r;

	cr_assert_not_null(cmd);
	memset(cmd, 'x', n);
	cmd[n] = 0;
	r = load(&m, 16 * MiB, img, len, cmd, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "command line", "cmdline");
	mem_destroy(&m);
	free(cmd);
	free(img);
}

Test(loader_reject, initrd_does_not_fit)
{
	/* 4 MiB of RAM: 3 MiB from 1M, the kernel takes some; a 4 MiB initrd cannot fit. */
	struct elf_spec e = simple32();
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img = build_elf(&e, &len);
	size_t dlen = 4 * MiB;
	uint8_t *data = calloc(1, dlen);
	struct mb_module mod = { data, dlen, "initrd" };
	int r;

	cr_assert_not_null(data);
	r = load(&m, 4 * MiB, img, len, NULL, &mod, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "initrd", "module");
	mem_destroy(&m);
	free(data);
	free(img);
}

Test(loader_reject, initrd_would_cross_into_pci_hole)
{
	/* The kernel sits just below 3G; the module would have to go into the hole. */
	const struct seg segs[] = { { PT_LOAD, 3 * GiB - 0x2000, 0, 0x1000, 0x800, 0x1000 } };
	struct elf_spec e = simple32();
	uint8_t data[0x2000] = { 0 };
	struct mb_module mod = { data, sizeof(data), "" };
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	size_t len;
	uint8_t *img;
	int r;

	e.segs = segs;
	e.entry = 3 * GiB - 0x2000;
	img = build_elf(&e, &len);
	r = load(&m, 5 * GiB, img, len, NULL, &mod, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "initrd", "module");
	mem_destroy(&m);
	free(img);
}

Test(loader_reject, not_elf_and_no_address_flag)
{
	uint8_t img[256];
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	int r;

	fill_noise(img, sizeof(img), 3);
	img[0] = 0x90;
	put_mb_header(img, 16, HF_MEMINFO, NULL);
	r = load(&m, 16 * MiB, img, sizeof(img), NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "ELF");
	mem_destroy(&m);
}

Test(loader_reject, kludge_load_end_past_file)
{
	const size_t flen = 0x1000;
	const uint32_t addr[5] = { 0x100010, 0x100000, 0x100000 + 0x2000, 0, 0x100000 };
	uint8_t img[0x1000];
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	int r;

	fill_noise(img, flen, 11);
	put_mb_header(img, 0x10, HF_ADDR, addr);
	r = load(&m, 16 * MiB, img, flen, NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "truncated", "past the end", "end of the file");
	mem_destroy(&m);
}

Test(loader_reject, kludge_bss_end_below_load_end)
{
	const uint32_t addr[5] = { 0x100010, 0x100000, 0x100800, 0x100400, 0x100000 };
	uint8_t img[0x1000];
	struct guest_mem m;
	struct mb_boot out;
	char err[256];
	int r;

	fill_noise(img, sizeof(img), 12);
	put_mb_header(img, 0x10, HF_ADDR, addr);
	r = load(&m, 16 * MiB, img, sizeof(img), NULL, NULL, &out, err, sizeof(err));
	EXPECT_REJECT(r, err, "bss");
	mem_destroy(&m);
}

/* ------------------------------------------------------------------ */
/* Fuzz: corrupt a good image; fail cleanly or load what it reports   */
/* ------------------------------------------------------------------ */

#define CANARY 0x5a

/* Fill all guest RAM with CANARY. */
static void canary_fill(struct guest_mem *m)
{
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++)
		if (m->slots[i].used)
			memset(m->slots[i].hva, CANARY, m->slots[i].size);
}

/* Every RAM byte that is not CANARY lies in one of the n ranges [lo, hi). */
static void canary_check(const struct guest_mem *m, const uint64_t (*ok)[2], unsigned n, unsigned iter)
{
	const uint64_t c8 = 0x0101010101010101ULL * CANARY;

	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++) {
		const struct memslot *sl = &m->slots[i];

		if (!sl->used)
			continue;
		for (uint64_t off = 0; off < sl->size; off += 8) {
			uint64_t w;

			memcpy(&w, sl->hva + off, 8);
			if (w == c8)
				continue;
			for (uint64_t a = sl->gpa + off; a < sl->gpa + off + 8; a++) {
				bool inside = false;

				if (sl->hva[a - sl->gpa] == CANARY)
					continue;
				for (unsigned k = 0; k < n; k++)
					inside |= a >= ok[k][0] && a < ok[k][1];
				cr_assert(inside, "iteration %u: the loader wrote guest %#llx, outside the "
					  "image, the module and the info area it reports", iter,
					  (unsigned long long)a);
			}
		}
	}
}

/*
 * One corrupted image.  Whatever the loader says must be true: 0 or -errno
 * with a message; on success an information structure as the Multiboot spec
 * (3.3) describes it for what was passed (16 MiB of RAM, the command line
 * "fuzz" or none, the module or none), the module where mods says, and
 * (every sixteenth iteration, against a canary) no guest byte written outside
 * the image, the module and the information area.  Returns the loader's result.
 */
static int fuzz_one(struct guest_mem *m, const uint8_t *good, size_t len, uint8_t *work,
		    size_t mb_off, const struct mb_module *mod, unsigned iter)
{
	struct mb_boot out;
	char err[256];
	unsigned nflip = 1 + rnd() % 8;
	size_t wlen = len;
	const char *cmdline;
	const struct mb_module *with;
	bool canary = iter % 16 == 0;
	int r;

	memcpy(work, good, len);
	for (unsigned k = 0; k < nflip; k++) {
		/* Mostly the headers, sometimes anywhere. */
		size_t pos = rnd() % 4 ? rnd() % 0x140 : rnd() % len;

		switch (rnd() % 4) {
		case 0: work[pos] = (uint8_t)rnd(); break;
		case 1: work[pos] ^= (uint8_t)(1u << (rnd() % 8)); break;
		case 2: work[pos] = 0xff; break;
		default: work[pos] = 0; break;
		}
	}
	/* Sometimes fix the checksum so deeper paths are reached. */
	if (rnd() % 2) {
		uint32_t flags;

		memcpy(&flags, work + mb_off + 4, 4);
		if (rnd() % 8 == 0)
			flags ^= HF_ADDR;
		put32(work + mb_off, MAGIC);
		put32(work + mb_off + 4, flags);
		put32(work + mb_off + 8, (uint32_t)-(MAGIC + flags));
	}
	if (rnd() % 8 == 0)
		wlen = rnd() % (len + 1);

	err[0] = 0;
	cmdline = (rnd() % 2) ? "fuzz" : NULL;
	with = (rnd() % 4 == 0) ? mod : NULL;
	if (canary)
		canary_fill(m);
	r = mb_load(m, work, wlen, cmdline, with, &out, err, sizeof(err));
	if (r != 0) {
		cr_assert(r < 0 && r >= -4095, "iteration %u: return %d is neither 0 nor -errno", iter, r);
		cr_assert_gt(strlen(err), 0, "iteration %u: failure %d without a message", iter, r);
		return r;
	}

	{
		uint64_t info = out.info_gpa;
		uint32_t flags;
		char s[64];

		cr_assert_eq(info, MB_INFO_GPA, "iteration %u", iter);
		flags = rd32g(m, info + MBI_FLAGS);
		cr_assert(flags & IF_MEM, "iteration %u: flags %#x", iter, flags);
		cr_assert(flags & IF_MMAP, "iteration %u: flags %#x", iter, flags);
		cr_assert_eq(!!(flags & IF_CMDLINE), cmdline != NULL, "iteration %u: flags %#x", iter, flags);
		cr_assert_eq(!!(flags & IF_MODS), with != NULL, "iteration %u: flags %#x", iter, flags);
		cr_assert_eq(rd32g(m, info + MBI_MEM_LOWER), 640, "iteration %u", iter);
		cr_assert_eq(rd32g(m, info + MBI_MEM_UPPER), (16 * MiB - 1 * MiB) / KiB, "iteration %u", iter);
		if (cmdline) {
			rdstr(m, rd32g(m, info + MBI_CMDLINE), s, sizeof(s));
			cr_assert_str_eq(s, cmdline, "iteration %u", iter);
		}
		/* The image lies in RAM and clear of the information area. */
		cr_assert_leq(out.load_start, out.load_end, "iteration %u", iter);
		cr_assert_leq(out.load_end, 16 * MiB, "iteration %u", iter);
		if (with) {
			uint64_t ent = rd32g(m, info + MBI_MODS_ADDR);
			uint32_t ms = rd32g(m, ent), me = rd32g(m, ent + 4);

			cr_assert_eq(rd32g(m, info + MBI_MODS_COUNT), 1, "iteration %u", iter);
			cr_assert_eq(ms, out.mod_start, "iteration %u", iter);
			cr_assert_eq(me, out.mod_end, "iteration %u", iter);
			cr_assert_eq((uint64_t)me - ms, with->len, "iteration %u", iter);
			if (out.header_flags & HF_ALIGN)
				cr_assert_eq(ms % 4096, 0, "iteration %u: module at %#x", iter, ms);
			cr_assert_geq(ms, out.load_end, "iteration %u: the module overlaps the image", iter);
			cr_assert(ms >= MB_INFO_LIMIT || me <= MB_INFO_GPA, "iteration %u", iter);
			cr_assert(guest_equals(m, ms, with->data, with->len),
				  "iteration %u: module contents", iter);
			rdstr(m, rd32g(m, ent + 8), s, sizeof(s));
			cr_assert_str_eq(s, with->string, "iteration %u", iter);
		}
		if (canary) {
			const uint64_t ok[3][2] = {
				{ out.load_start, out.load_end },
				{ with ? out.mod_start : 0, with ? out.mod_end : 0 },
				{ MB_INFO_GPA, MB_INFO_LIMIT },
			};

			canary_check(m, ok, 3, iter);
		}
	}
	return r;
}

Test(loader_fuzz, corrupted_images_fail_cleanly)
{
	const struct seg segs[] = {
		{ PT_LOAD, 0x100000, 0, 0x400, 0x300, 0x2000 },
		{ PT_LOAD, 0x104000, 0xc0104000, 0x800, 0x200, 0x400 },
		{ PT_NOTE, 0, 0, 0x700, 0x10, 0x10 },
	};
	const uint32_t kaddr[5] = { 0x200040, 0x200000, 0, 0x203000, 0x200000 };
	struct elf_spec e32 = { .cls = 32, .entry = 0x100000, .segs = segs, .nseg = 3,
				.mb_off = 0x100, .mb_flags = HF_ALIGN | HF_MEMINFO };
	struct elf_spec e64 = { .cls = 64, .entry = 0x100000, .segs = segs, .nseg = 3,
				.mb_off = 0x200, .mb_flags = HF_ALIGN | HF_MEMINFO };
	uint8_t mdata[300];
	struct mb_module mod = { mdata, sizeof(mdata), "mod" };
	uint8_t *imgs[3], *work;
	size_t lens[3], offs[3] = { 0x100, 0x200, 0x40 };
	struct guest_mem m;
	unsigned nok = 0, nfail = 0;

	imgs[0] = build_elf(&e32, &lens[0]);
	imgs[1] = build_elf(&e64, &lens[1]);
	lens[2] = 0x1000;
	imgs[2] = malloc(lens[2]);
	cr_assert_not_null(imgs[2]);
	fill_noise(imgs[2], lens[2], 77);
	put_mb_header(imgs[2], 0x40, HF_ADDR | HF_ALIGN, kaddr);
	fill_noise(mdata, sizeof(mdata), 78);
	work = malloc(0x2000);
	cr_assert_not_null(work);

	/* All three are good to start with. */
	setup_ram(&m, 16 * MiB);
	for (int k = 0; k < 3; k++) {
		struct mb_boot out;
		char err[256];

		cr_assert_eq(mb_load(&m, imgs[k], lens[k], "x", &mod, &out, err, sizeof(err)), 0,
			     "image %d: %s", k, err);
	}

	rng_state = 20240601;
	for (unsigned i = 0; i < 3000; i++) {
		int k = (int)(i % 3);

		cr_assert_leq(lens[k], 0x2000);
		if (fuzz_one(&m, imgs[k], lens[k], work, offs[k], &mod, i) == 0)
			nok++;
		else
			nfail++;
	}
	/* The harness itself: both outcomes must occur, or it tests nothing. */
	cr_log_info("fuzz: %u loaded, %u rejected", nok, nfail);
	cr_expect_gt(nok, 0);
	cr_expect_gt(nfail, 0);
	mem_destroy(&m);
	for (int k = 0; k < 3; k++)
		free(imgs[k]);
	free(work);
}
