/*
 * Linux x86 boot protocol loader: a bzImage -> guest memory, for the
 * 64-bit entry (boot.rst, "64-bit Boot Protocol").
 *
 * 1. Check the setup header: 0xAA55 and "HdrS", protocol 2.12 or later
 *    (xloadflags), a bzImage (LOADED_HIGH) with the 64-bit entry
 *    (XLF_KERNEL_64).
 * 2. Copy the protected-mode kernel (the file after the (setup_sects + 1)
 *    sectors of real-mode setup, which nothing runs) to pref_address when
 *    the kernel is relocatable, else to code32_start; it needs init_size
 *    bytes of RAM from there while it decompresses.
 * 3. The initrd at the top of RAM below 4 GiB and initrd_addr_max, page
 *    aligned, clear of the kernel's init_size (as QEMU places it).
 * 4. The zero page: zeros, the image's own setup header copied in (its
 *    length is the byte at 0x201: the jump over it), then what a loader
 *    fills in: type_of_loader, the command line, the initrd, the ACPI RSDP,
 *    the e820 map.
 * 5. For the entry: a GDT with __BOOT_CS (64-bit code) and __BOOT_DS, and
 *    page tables mapping 0-4 GiB 1:1 with 2 MiB pages, which covers the
 *    kernel, the zero page and the command line as the protocol asks.
 */
#include "bzimage.h"
#include "host/errmsg.h"

#include <errno.h>
#include <string.h>

#define SECTOR              512
#define MIN_VERSION         0x020c   /* 2.12: xloadflags */
#define TYPE_OF_LOADER      0xff     /* "undefined": ombra has no assigned ID */
#define DEFAULT_LOAD_GPA    0x100000u
#define CMDLINE_MAX         0x1000   /* 0x9000-0x9fff */

#define PTE_P   0x001ull
#define PTE_W   0x002ull
#define PTE_PS  0x080ull

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

bool linux_is_bzimage(const void *image, size_t len)
{
	const uint8_t *img = image;

	return len >= BP_HEADER + 4 && rd16(img + BP_BOOT_FLAG) == 0xaa55 &&
	       rd32(img + BP_HEADER) == LINUX_HDRS;
}

/* Is [gpa, gpa + len) all RAM? */
static bool in_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return false;
	for (uint64_t a = gpa; a < gpa + len;) {
		struct memslot *s = mem_find(m, a);

		if (!s)
			return false;
		a = s->gpa + s->size;
	}
	return true;
}

/* One e820 entry, merged with the one before when they touch and agree. */
static void e820_add(uint8_t *zp, unsigned *n, uint64_t base, uint64_t len, uint32_t type)
{
	uint8_t *prev = zp + BP_E820_TABLE + (*n - 1) * 20;
	uint8_t *e = zp + BP_E820_TABLE + *n * 20;

	if (len == 0)
		return;
	if (*n && rd32(prev + 16) == type && rd64(prev) + rd64(prev + 8) == base) {
		put64(prev + 8, rd64(prev + 8) + len);
		return;
	}
	if (*n == BP_E820_MAX)
		return;
	put64(e, base);
	put64(e + 8, len);
	put32(e + 16, type);
	(*n)++;
}

/* The map: each RAM slot in address order, with the firmware area cut out
 * of the low slot and reported reserved. */
static unsigned e820_build(const struct guest_mem *m, uint8_t *zp, bool fw)
{
	const struct memslot *sorted[MEM_MAX_SLOTS];
	unsigned nslots = mem_slots_sorted(m, sorted), n = 0;

	for (unsigned i = 0; i < nslots; i++) {
		uint64_t b = sorted[i]->gpa, e = b + sorted[i]->size;

		if (fw && b <= LINUX_FW_GPA && e >= LINUX_FW_GPA + LINUX_FW_SIZE) {
			e820_add(zp, &n, b, LINUX_FW_GPA - b, E820_RAM);
			e820_add(zp, &n, LINUX_FW_GPA, LINUX_FW_SIZE, E820_RESERVED);
			e820_add(zp, &n, LINUX_FW_GPA + LINUX_FW_SIZE, e - LINUX_FW_GPA - LINUX_FW_SIZE, E820_RAM);
		} else {
			e820_add(zp, &n, b, e - b, E820_RAM);
		}
	}
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	return n;
}

/* The entry's GDT and 0-4 GiB identity tables, at LINUX_GDT_GPA..LINUX_PT_END. */
static int entry_tables(struct guest_mem *m, struct boot_entry *cpu)
{
	static const uint64_t gdt[4] = {
		0, 0,
		0x00af9b000000ffffull,  /* BOOT_CS: present, DPL 0, execute/read, accessed, L, G */
		0x00cf93000000ffffull,  /* BOOT_DS: present, DPL 0, read/write, accessed, D/B, G */
	};
	uint8_t pt[LINUX_PT_END - LINUX_PML4_GPA];

	memset(pt, 0, sizeof(pt));
	put64(pt, (LINUX_PML4_GPA + 0x1000) | PTE_P | PTE_W);             /* PML4[0] -> PDPT */
	for (unsigned i = 0; i < 4; i++) {
		uint64_t pd = LINUX_PML4_GPA + 0x2000 + i * 0x1000ull;

		put64(pt + 0x1000 + i * 8, pd | PTE_P | PTE_W);            /* PDPT[i] -> PD i */
		for (unsigned j = 0; j < 512; j++)
			put64(pt + (pd - LINUX_PML4_GPA) + j * 8,
			      ((uint64_t)i << 30 | (uint64_t)j << 21) | PTE_P | PTE_W | PTE_PS);
	}
	if (mem_write(m, LINUX_GDT_GPA, gdt, sizeof(gdt)) < 0 || mem_write(m, LINUX_PML4_GPA, pt, sizeof(pt)) < 0)
		return -EFAULT;
	cpu->long_mode = true;
	cpu->cr3 = LINUX_PML4_GPA;
	cpu->gdt_base = LINUX_GDT_GPA;
	cpu->gdt_limit = sizeof(gdt) - 1;
	return 0;
}

int linux_load(struct guest_mem *m, const void *image, size_t len, const struct linux_boot_in *in,
	       struct linux_boot *out, char *err, size_t errlen)
{
	const uint8_t *img = image;
	uint8_t zp[4096];
	unsigned setup_sects, hdr_end;
	uint64_t load, kernel_off, top, clen;
	uint32_t align, cmdline_size;

	memset(out, 0, sizeof(*out));
	/* 1. The header. */
	if (!linux_is_bzimage(image, len) || len < BP_INIT_SIZE + 4)
		return errmsg(err, errlen, -ENOEXEC, "not a Linux bzImage (no \"HdrS\" setup header)");
	out->version = rd16(img + BP_VERSION);
	if (out->version < MIN_VERSION)
		return errmsg(err, errlen, -ENOEXEC,
			      "Linux boot protocol %u.%02u is older than 2.12, which ombra's 64-bit entry needs",
			      out->version >> 8, out->version & 0xff);
	if (!(img[BP_LOADFLAGS] & LOADED_HIGH))
		return errmsg(err, errlen, -ENOEXEC, "a zImage (loaded below 1 MiB): ombra loads only bzImages");
	if (!(rd16(img + BP_XLOADFLAGS) & XLF_KERNEL_64))
		return errmsg(err, errlen, -ENOEXEC, "the kernel has no 64-bit entry point (xloadflags bit 0): "
			      "ombra boots 64-bit kernels");
	setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	kernel_off = (uint64_t)(setup_sects + 1) * SECTOR;
	hdr_end = BP_HEADER + img[BP_JUMP + 1];
	if (kernel_off >= len || hdr_end > kernel_off || hdr_end > sizeof(zp))
		return errmsg(err, errlen, -ENOEXEC, "the setup header says %u setup sectors, past the file's %zu bytes",
			      setup_sects, len);

	/* 2. The protected-mode kernel. */
	out->load_len = len - kernel_off;
	out->init_size = rd32(img + BP_INIT_SIZE);
	if (out->init_size < out->load_len)
		out->init_size = out->load_len;
	align = rd32(img + BP_KERNEL_ALIGNMENT);
	load = rd32(img + BP_CODE32_START);
	if (img[BP_RELOCATABLE] && rd64(img + BP_PREF_ADDRESS) &&
	    (align == 0 || (align & (align - 1)) == 0) && !(rd64(img + BP_PREF_ADDRESS) & (align - 1)))
		load = rd64(img + BP_PREF_ADDRESS);
	if (load < DEFAULT_LOAD_GPA)
		load = DEFAULT_LOAD_GPA;
	if (!in_ram(m, load, out->init_size) || load + out->init_size > MEM_4G)
		return errmsg(err, errlen, -E2BIG,
			      "the kernel needs %llu MiB of RAM from %#llx while it decompresses: give it more with -m",
			      (unsigned long long)(out->init_size >> 20), (unsigned long long)load);
	mem_write(m, load, img + kernel_off, out->load_len);
	out->load_gpa = load;

	/* 3. The initrd at the top of RAM below 4 GiB (and initrd_addr_max). */
	if (in && in->initrd) {
		uint64_t max = (uint64_t)rd32(img + BP_INITRD_ADDR_MAX) + 1, start;

		top = mem_top_below_4g(m);
		if (top > max)
			top = max;
		start = (top - in->initrd_len) & ~(MEM_PAGE_SIZE - 1);
		if (in->initrd_len > top || start < load + out->init_size || !in_ram(m, start, in->initrd_len))
			return errmsg(err, errlen, -E2BIG,
				      "the initrd (%zu bytes) does not fit between the kernel and the top of RAM: "
				      "give the guest more with -m", in->initrd_len);
		mem_write(m, start, in->initrd, in->initrd_len);
		out->initrd_gpa = start;
		out->initrd_len = in->initrd_len;
	}

	/* 4. The zero page. */
	memset(zp, 0, sizeof(zp));
	memcpy(zp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	/* The fields a loader owns, whatever the image holds there. */
	put32(zp + BP_RAMDISK_IMAGE, (uint32_t)out->initrd_gpa);
	put32(zp + BP_RAMDISK_SIZE, (uint32_t)out->initrd_len);
	put32(zp + BP_HARDWARE_SUBARCH, 0);             /* a PC */
	put64(zp + BP_HARDWARE_SUBARCH_DATA, 0);
	put64(zp + BP_SETUP_DATA, 0);                   /* no setup_data list */
	zp[BP_TYPE_OF_LOADER] = TYPE_OF_LOADER;
	put32(zp + BP_CODE32_START, (uint32_t)load);
	cmdline_size = rd32(img + BP_CMDLINE_SIZE);
	if (out->version < 0x0206 || cmdline_size == 0)
		cmdline_size = 255;
	if (cmdline_size > CMDLINE_MAX - 1)
		cmdline_size = CMDLINE_MAX - 1;
	clen = in && in->cmdline ? strlen(in->cmdline) : 0;
	if (clen > cmdline_size)
		return errmsg(err, errlen, -E2BIG, "the command line is %llu bytes; this kernel takes at most %u",
			      (unsigned long long)clen, cmdline_size);
	{
		char line[CMDLINE_MAX];

		memset(line, 0, sizeof(line));
		if (clen)
			memcpy(line, in->cmdline, clen);
		if (mem_write(m, LINUX_CMDLINE_GPA, line, clen + 1) < 0)
			return errmsg(err, errlen, -EFAULT, "no RAM below 640 KiB for the command line");
	}
	put32(zp + BP_CMD_LINE_PTR, LINUX_CMDLINE_GPA);
	if (in && in->fw) {
		if (in->fw_len > LINUX_FW_SIZE || mem_write(m, LINUX_FW_GPA, in->fw, in->fw_len) < 0)
			return errmsg(err, errlen, -E2BIG, "the firmware tables (%zu bytes) do not fit at %#x",
				      in->fw_len, LINUX_FW_GPA);
		put64(zp + BP_ACPI_RSDP_ADDR, in->rsdp_gpa);
	}
	out->e820_entries = e820_build(m, zp, in && in->fw);
	if (mem_write(m, LINUX_ZERO_PAGE_GPA, zp, sizeof(zp)) < 0)
		return errmsg(err, errlen, -EFAULT, "no RAM below 640 KiB for the zero page");

	/* 5. The 64-bit entry. */
	if (entry_tables(m, &out->cpu) < 0)
		return errmsg(err, errlen, -EFAULT, "no RAM below 640 KiB for the entry's page tables");
	out->cpu.rip = load + 0x200;
	out->cpu.rsi = LINUX_ZERO_PAGE_GPA;
	return 0;
}
