/*
 * libFuzzer harness for the multiboot loader (src/vmm/loader.c): any bytes
 * as the kernel image, with and without a command line and a module, into
 * a 2 MiB PC-layout guest (RAM at [0, 640 KiB) and [1 MiB, 2 MiB); small,
 * so that every run can check all of it, and images reach its end often).
 * Guest RAM is filled with a guard byte once; after each mb_load every
 * byte that differs from it must lie in a range the loader reports: the
 * image [load_start, load_end), the module [mod_start, mod_end), and on
 * success the multiboot information area [MB_INFO_GPA, MB_INFO_LIMIT)
 * (loader.h); the guard is put back after the check.  Besides ASan/UBSan
 * it checks what the guest is told: a failure says why; the reported
 * ranges lie in RAM and do not overlap; the module holds its bytes; the
 * information structure and everything it points to (command line, module
 * list and string, memory map, loader name) lie in the information area,
 * the command line is the one given, the memory map's available ranges and
 * mem_lower/mem_upper are RAM.  (The image range is the hull of the
 * segments: a write into a gap between two segments is not caught, and the
 * hull may hold the information area or the 640 KiB-1 MiB hole when
 * segments lie on both sides; the loader's unit tests check segments.)
 * An image with a Linux setup header goes to the Linux loader instead
 * (src/vmm/bzimage.c), with the same guard check over its ranges (the
 * kernel, the initrd, the entry's GDT and tables, the zero page, the
 * command line, the firmware tables) and, on success, what the zero page
 * says: the command line given, e820 RAM that is RAM, the initrd where it
 * is reported.
 * Each invariant prints its name before the trap.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/bzimage.h"
#include "vmm/loader.h"
#include "vmm/mem.h"

#define CHECK(c, what) do { if (!(c)) { \
	fprintf(stderr, "fuzz_loader: invariant failed: %s\n", what); __builtin_trap(); } } while (0)

#define RAM_SIZE (2ULL << 20)
#define GUARD    0xa5

static struct guest_mem m;

struct range {
	uint64_t lo, hi;
};

/* Is [lo, hi) all RAM? */
static bool in_ram(uint64_t lo, uint64_t hi)
{
	return hi <= lo || mem_gpa_to_hva(&m, lo, hi - lo) != NULL;
}

static bool within(struct range r, uint64_t lo, uint64_t hi)
{
	return lo <= hi && lo >= r.lo && hi <= r.hi;
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v = 0;

	CHECK(mem_read(&m, gpa, &v, 4) == 0, "the information structure points outside RAM");
	return v;
}

/* The NUL-terminated string at gpa: its end, which must be in area. */
static uint64_t str_end(uint64_t gpa, struct range area)
{
	const char *s = mem_gpa_to_hva(&m, gpa, 1);
	size_t max = gpa < area.hi ? area.hi - gpa : 0;

	CHECK(s && within(area, gpa, gpa + 1), "a string of the information structure lies outside its area");
	CHECK(memchr(s, 0, max) != NULL, "a string of the information structure runs out of its area");
	return gpa + strlen(s) + 1;
}

/* Every byte that changed lies in one of the ranges; put the guard back.
 * Word-wise and uninstrumented: it reads all of RAM on every run. */
__attribute__((no_sanitize("address", "undefined", "coverage")))
static void check_writes(const struct range *ok, unsigned nok)
{
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++) {
		const struct memslot *s = &m.slots[i];
		uint64_t *w = (uint64_t *)(void *)s->hva;

		if (!s->used)
			continue;
		for (uint64_t k = 0; k < s->size / 8; k++) {
			if (w[k] == 0x0101010101010101ULL * GUARD)
				continue;
			for (unsigned b = 0; b < 8; b++) {
				uint64_t gpa = s->gpa + k * 8 + b;
				bool fine = false;

				if (s->hva[k * 8 + b] == GUARD)
					continue;
				for (unsigned j = 0; j < nok; j++)
					fine |= gpa >= ok[j].lo && gpa < ok[j].hi;
				CHECK(fine, "the loader wrote guest memory outside every range it reports");
			}
			w[k] = 0x0101010101010101ULL * GUARD;
		}
	}
}

/* What the multiboot information says (Multiboot 0.6.96, section 3.3). */
static void check_info(const struct mb_boot *boot, const char *cmdline, bool module)
{
	struct range area = { MB_INFO_GPA, MB_INFO_LIMIT };
	uint64_t at = boot->info_gpa;
	uint32_t flags;

	CHECK(within(area, at, at + 88), "the information structure lies outside its area");
	flags = rd32(at);
	if (flags & 1) {                              /* mem_lower, mem_upper in KiB */
		CHECK(rd32(at + 4) <= 640 && in_ram(0, rd32(at + 4) * 1024ULL), "mem_lower is not RAM");
		CHECK(in_ram(1ULL << 20, (1ULL << 20) + rd32(at + 8) * 1024ULL), "mem_upper is not RAM");
	}
	CHECK(!cmdline == !(flags & 4), "the command line flag does not say whether there is one");
	if (flags & 4) {
		uint64_t s = rd32(at + 16);

		CHECK(str_end(s, area) - s == strlen(cmdline) + 1 &&
		      memcmp(mem_gpa_to_hva(&m, s, 1), cmdline, strlen(cmdline)) == 0,
		      "the command line the guest sees is not the one given");
	}
	CHECK(module == !!(flags & 8), "the module flag does not say whether there is one");
	if (flags & 8) {
		uint64_t list = rd32(at + 24);

		CHECK(rd32(at + 20) == 1 && within(area, list, list + 16), "the module list lies outside its area");
		CHECK(rd32(list) == boot->mod_start && rd32(list + 4) == boot->mod_end,
		      "the module list differs from the module's range");
		str_end(rd32(list + 8), area);
	}
	if (flags & 64) {                             /* the memory map */
		uint64_t map = rd32(at + 48), len = rd32(at + 44);

		CHECK(within(area, map, map + len), "the memory map lies outside its area");
		for (uint64_t e = map; e + 4 <= map + len;) {
			uint64_t size = rd32(e), base, blen;
			uint32_t type;

			CHECK(size >= 20 && e + 4 + size <= map + len, "a memory map entry runs past the map");
			CHECK(mem_read(&m, e + 4, &base, 8) == 0 && mem_read(&m, e + 12, &blen, 8) == 0 &&
			      mem_read(&m, e + 20, &type, 4) == 0, "a memory map entry outside RAM");
			CHECK(type != 1 || in_ram(base, base + blen), "the memory map says RAM where there is none");
			e += 4 + size;
		}
	}
	if (flags & 512)
		str_end(rd32(at + 64), area);
}

/* The Linux loader's turn: ranges written, and on success the zero page. */
static void linux_one(const uint8_t *d, size_t n, bool with_cmdline, bool initrd)
{
	static const char cmdline[] = "console=ttyS0 nokaslr", rd[] = "initramfs", fw[] = "RSD PTR tables";
	struct linux_boot_in in = { with_cmdline ? cmdline : NULL, initrd ? rd : NULL, initrd ? sizeof(rd) : 0,
				    fw, sizeof(fw), LINUX_FW_GPA };
	struct linux_boot lb;
	struct range ok[6];
	unsigned nok = 0;
	char err[256] = "";
	int r = linux_load(&m, d, n, &in, &lb, err, sizeof(err));

	if (r != 0)
		CHECK(r < 0 && err[0] != '\0', "linux_load failed without saying why");
	if (lb.load_gpa) {
		CHECK(in_ram(lb.load_gpa, lb.load_gpa + lb.init_size) && lb.init_size >= lb.load_len,
		      "the kernel's init_size is not RAM from its load address");
		ok[nok++] = (struct range){ lb.load_gpa, lb.load_gpa + lb.load_len };
	}
	if (lb.initrd_len) {
		CHECK(lb.initrd_gpa >= lb.load_gpa + lb.init_size, "the initrd overlaps the kernel's init_size");
		CHECK(memcmp(mem_gpa_to_hva(&m, lb.initrd_gpa, sizeof(rd)), rd, sizeof(rd)) == 0,
		      "the initrd's range does not hold the initrd");
		ok[nok++] = (struct range){ lb.initrd_gpa, lb.initrd_gpa + lb.initrd_len };
	}
	ok[nok++] = (struct range){ LINUX_GDT_GPA, LINUX_PT_END };
	ok[nok++] = (struct range){ LINUX_ZERO_PAGE_GPA, LINUX_ZERO_PAGE_GPA + 4096 };
	ok[nok++] = (struct range){ LINUX_CMDLINE_GPA, LINUX_CMDLINE_GPA + sizeof(cmdline) };
	ok[nok++] = (struct range){ LINUX_FW_GPA, LINUX_FW_GPA + sizeof(fw) };
	if (r == 0) {
		const uint8_t *zp = mem_gpa_to_hva(&m, LINUX_ZERO_PAGE_GPA, 4096);
		uint32_t ptr, rdi;

		CHECK(lb.cpu.long_mode && lb.cpu.rip == lb.load_gpa + 0x200 && lb.cpu.rsi == LINUX_ZERO_PAGE_GPA,
		      "the entry state is not the 64-bit protocol's");
		memcpy(&ptr, zp + BP_CMD_LINE_PTR, 4);
		CHECK(ptr == LINUX_CMDLINE_GPA && strcmp(mem_gpa_to_hva(&m, ptr, 1), with_cmdline ? cmdline : "") == 0,
		      "the command line the kernel sees is not the one given");
		memcpy(&rdi, zp + BP_RAMDISK_IMAGE, 4);
		CHECK(rdi == lb.initrd_gpa, "ramdisk_image is not where the initrd is");
		CHECK(zp[BP_E820_ENTRIES] <= BP_E820_MAX, "more e820 entries than the table holds");
		for (unsigned e = 0; e < zp[BP_E820_ENTRIES]; e++) {
			uint64_t base, len;
			uint32_t type;

			memcpy(&base, zp + BP_E820_TABLE + e * 20, 8);
			memcpy(&len, zp + BP_E820_TABLE + e * 20 + 8, 8);
			memcpy(&type, zp + BP_E820_TABLE + e * 20 + 16, 4);
			CHECK(type != E820_RAM || in_ram(base, base + len), "the e820 map says RAM where there is none");
		}
	}
	for (unsigned i = 0; i < nok; i++)
		CHECK(in_ram(ok[i].lo, ok[i].hi), "a reported range lies outside RAM");
	check_writes(ok, nok);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static int ready;
	static const char data[] = "initrd";
	static const char *const cmdline = "console=ttyS0 cases=all";
	struct mb_module mod = { data, 6, "mod" };
	struct range ok[3];
	unsigned nok = 0;
	struct mb_boot boot;
	char err[256] = "";
	bool module, image = false;
	int r;

	if (!ready) {
		mem_init(&m);
		CHECK(mem_layout_pc(&m, RAM_SIZE) == 0, "no guest RAM");
		for (unsigned i = 0; i < MEM_MAX_SLOTS; i++)
			if (m.slots[i].used)
				memset(m.slots[i].hva, GUARD, m.slots[i].size);
		ready = 1;
	}
	if (n < 1)
		return 0;
	if (linux_is_bzimage(d + 1, n - 1)) {
		linux_one(d + 1, n - 1, d[0] & 1, d[0] & 2);
		return 0;
	}
	module = d[0] & 2;
	memset(&boot, 0xcc, sizeof(boot));
	r = mb_load(&m, d + 1, n - 1, d[0] & 1 ? cmdline : NULL, module ? &mod : NULL, &boot, err, sizeof(err));
	if (r != 0)
		CHECK(r < 0 && err[0] != '\0', "mb_load failed without saying why");

	/* The ranges it reports: the image, the module (on failure, those it
	 * got to), the information area on success. */
	if (r == 0 || boot.load_end != 0) {
		CHECK(boot.load_start <= boot.load_end, "the image range is upside down");
		ok[nok++] = (struct range){ boot.load_start, boot.load_end };
		image = true;
	}
	if (module && (r == 0 || boot.mod_end != 0)) {
		CHECK(boot.mod_end - boot.mod_start == mod.len && boot.mod_start >= boot.load_end,
		      "the module range is not the module's size after the image");
		ok[nok++] = (struct range){ boot.mod_start, boot.mod_end };
		CHECK(memcmp(mem_gpa_to_hva(&m, boot.mod_start, mod.len), data, mod.len) == 0,
		      "the module's range does not hold the module");
	}
	if (r == 0)
		ok[nok++] = (struct range){ MB_INFO_GPA, MB_INFO_LIMIT };
	for (unsigned i = 0; i < nok; i++) {
		/* The image's range is the hull of its segments, which may hold
		 * a hole (segments below 640 KiB and above 1 MiB): its ends must
		 * be RAM, the loader checks each segment whole (test_loader). */
		if (i == 0 && image && ok[0].lo < ok[0].hi)
			CHECK(in_ram(ok[0].lo, ok[0].lo + 1) && in_ram(ok[0].hi - 1, ok[0].hi),
			      "the image's range starts or ends outside RAM");
		else
			CHECK(in_ram(ok[i].lo, ok[i].hi), "a reported range lies outside RAM");
		for (unsigned j = 0; j < i; j++) {
			/* The image's range is the hull of its segments: segments
			 * on both sides of the information area (which the loader
			 * allows, test_loader's segments_touching_info_area_are_fine)
			 * make a hull that holds the area in a gap between them. */
			bool hull_over_info = r == 0 && image && j == 0 && i == nok - 1 &&
					      ok[0].lo < MB_INFO_GPA && ok[0].hi > MB_INFO_LIMIT;

			CHECK(ok[i].hi <= ok[j].lo || ok[j].hi <= ok[i].lo || ok[i].lo == ok[i].hi ||
			      ok[j].lo == ok[j].hi || hull_over_info, "two reported ranges overlap");
		}
	}
	if (r == 0) {
		CHECK(boot.info_gpa == MB_INFO_GPA, "EBX is not the information structure");
		check_info(&boot, d[0] & 1 ? cmdline : NULL, module);
		CHECK(boot.elf_class == 0 || boot.elf_class == 32 || boot.elf_class == 64, "an ELF class of neither 32 nor 64");
	}
	check_writes(ok, nok);
	return 0;
}
