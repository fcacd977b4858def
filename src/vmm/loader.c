/*
 * Multiboot (version 1) loader: the image -> guest memory.
 *
 * 1. Find the multiboot header in the first 8 KiB and check magic, checksum
 *    and the required-feature bits we understand (0: page-aligned modules,
 *    1: memory information, 2: video mode, which like QEMU we accept and do
 *    not provide).
 * 2. Load the image: with flag 16 the header's own addresses (the "a.out
 *    kludge"), else the ELF32/ELF64 PT_LOAD segments at their physical
 *    addresses.  Every segment must lie wholly inside RAM, may not overlap
 *    another segment or the multiboot info area, and must come from inside
 *    the file.
 * 3. Put module 0 (the -initrd file) on the first page after the image.
 * 4. Write the multiboot info, command line and memory map at MB_INFO_GPA.
 */
#include "loader.h"
#include "host/errmsg.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MB_FLAG_ALIGN    (1u << 0)
#define MB_FLAG_MEMINFO  (1u << 1)
#define MB_FLAG_VIDEO    (1u << 2)
#define MB_FLAG_ADDRESS  (1u << 16)
#define MB_UNDERSTOOD    (MB_FLAG_ALIGN | MB_FLAG_MEMINFO | MB_FLAG_VIDEO)

/* Multiboot information flags we fill in. */
#define MBI_MEM          (1u << 0)
#define MBI_CMDLINE      (1u << 2)
#define MBI_MODS         (1u << 3)
#define MBI_MMAP         (1u << 6)
#define MBI_LOADER_NAME  (1u << 9)

#define MBI_SIZE         88         /* struct multiboot_info up to apm_table */
#define MAX_SEGMENTS     64

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct segment {
	uint64_t file_off, file_len;  /* bytes copied from the file */
	uint64_t gpa, mem_len;        /* where, and how much including bss */
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Offset of the multiboot header in the image, or -1. */
static long find_header(const uint8_t *img, size_t len)
{
	size_t limit = len < MB_SEARCH_LIMIT ? len : MB_SEARCH_LIMIT;

	for (size_t off = 0; off + 12 <= limit; off += 4) {
		if (rd32(img + off) != MB_HEADER_MAGIC)
			continue;
		if ((uint32_t)(rd32(img + off) + rd32(img + off + 4) + rd32(img + off + 8)) != 0)
			continue;
		/* With the address fields the header is 32 bytes, all of which
		 * must lie in the first 8 KiB. */
		if ((rd32(img + off + 4) & MB_FLAG_ADDRESS) && off + 32 > MB_SEARCH_LIMIT)
			continue;
		return (long)off;
	}
	return -1;
}

/* Is [gpa, gpa+len) all RAM, and clear of the multiboot info area? */
static const char *check_range(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return NULL;
	if (gpa + len < gpa || gpa + len > MEM_4G)
		return "does not fit below 4 GiB";
	if (gpa < MB_INFO_LIMIT && gpa + len > MB_INFO_GPA)
		return "overlaps the multiboot information area";
	for (uint64_t a = gpa; a < gpa + len;) {
		struct memslot *s = mem_find(m, a);

		if (!s)
			return "lies outside guest RAM";
		a = s->gpa + s->size;
	}
	return NULL;
}

static int elf_segments(const uint8_t *img, size_t len, struct segment *seg, unsigned *nseg,
			uint64_t *entry, int *elf_class, char *err, size_t errlen)
{
	unsigned n = 0;
	uint64_t phoff;
	unsigned phnum, phentsize;

	if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
		return errmsg(err, errlen, -ENOEXEC,
			    "not an ELF file and the multiboot header has no load addresses (flag 16)");
	if (img[EI_DATA] != ELFDATA2LSB)
		return errmsg(err, errlen, -ENOEXEC, "ELF file is not little-endian");

	if (img[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		if (len < sizeof(eh))
			return errmsg(err, errlen, -ENOEXEC, "truncated ELF32 header");
		memcpy(&eh, img, sizeof(eh));
		if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
			return errmsg(err, errlen, -ENOEXEC, "ELF32 machine %u is not x86", eh.e_machine);
		if (eh.e_type != ET_EXEC)
			return errmsg(err, errlen, -ENOEXEC, "ELF file is not an executable (type %u)", eh.e_type);
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		*entry = eh.e_entry;
		*elf_class = 32;
		if (phentsize < sizeof(Elf32_Phdr))
			return errmsg(err, errlen, -ENOEXEC, "ELF32 program header size %u too small", phentsize);
	} else if (img[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (len < sizeof(eh))
			return errmsg(err, errlen, -ENOEXEC, "truncated ELF64 header");
		memcpy(&eh, img, sizeof(eh));
		if (eh.e_machine != EM_X86_64)
			return errmsg(err, errlen, -ENOEXEC, "ELF64 machine %u is not x86-64", eh.e_machine);
		if (eh.e_type != ET_EXEC)
			return errmsg(err, errlen, -ENOEXEC, "ELF file is not an executable (type %u)", eh.e_type);
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		*entry = eh.e_entry;
		*elf_class = 64;
		if (phentsize < sizeof(Elf64_Phdr))
			return errmsg(err, errlen, -ENOEXEC, "ELF64 program header size %u too small", phentsize);
	} else {
		return errmsg(err, errlen, -ENOEXEC, "unknown ELF class %u", img[EI_CLASS]);
	}

	if (phnum == 0)
		return errmsg(err, errlen, -ENOEXEC, "ELF file has no program headers");
	if (phoff > len || (uint64_t)phnum * phentsize > len - phoff)
		return errmsg(err, errlen, -ENOEXEC, "ELF program headers lie past the end of the file (truncated?)");

	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = img + phoff + (uint64_t)i * phentsize;
		uint32_t type;
		struct segment s;

		if (*elf_class == 32) {
			Elf32_Phdr p;

			memcpy(&p, ph, sizeof(p));
			type = p.p_type;
			s = (struct segment){ p.p_offset, p.p_filesz, p.p_paddr, p.p_memsz };
		} else {
			Elf64_Phdr p;

			memcpy(&p, ph, sizeof(p));
			type = p.p_type;
			s = (struct segment){ p.p_offset, p.p_filesz, p.p_paddr, p.p_memsz };
		}
		if (type != PT_LOAD || s.mem_len == 0)
			continue;
		if (s.file_len > s.mem_len)
			return errmsg(err, errlen, -ENOEXEC,
				    "segment %u: file size %#llx exceeds memory size %#llx", i,
				    (unsigned long long)s.file_len, (unsigned long long)s.mem_len);
		if (s.file_off > len || s.file_len > len - s.file_off)
			return errmsg(err, errlen, -ENOEXEC,
				    "segment %u: contents lie past the end of the file (truncated?)", i);
		if (n == MAX_SEGMENTS)
			return errmsg(err, errlen, -ENOEXEC, "more than %d loadable segments", MAX_SEGMENTS);
		seg[n++] = s;
	}
	if (n == 0)
		return errmsg(err, errlen, -ENOEXEC, "ELF file has no loadable segments");
	*nseg = n;
	return 0;
}

static int kludge_segment(const uint8_t *img, size_t len, long hoff, const struct mb_header *h,
			  struct segment *seg, uint64_t *entry, char *err, size_t errlen)
{
	uint64_t file_off, load_end, bss_end;

	if ((size_t)hoff + sizeof(*h) > len)
		return errmsg(err, errlen, -ENOEXEC, "multiboot header address fields are truncated");
	if (h->load_addr > h->header_addr)
		return errmsg(err, errlen, -ENOEXEC, "multiboot load_addr %#x is above header_addr %#x",
			    h->load_addr, h->header_addr);
	file_off = (uint64_t)hoff - (h->header_addr - h->load_addr);
	if ((uint64_t)hoff < h->header_addr - h->load_addr)
		return errmsg(err, errlen, -ENOEXEC, "multiboot load_addr lies before the start of the file");
	load_end = h->load_end_addr ? h->load_end_addr : h->load_addr + (len - file_off);
	if (load_end < h->load_addr)
		return errmsg(err, errlen, -ENOEXEC, "multiboot load_end_addr is below load_addr");
	if (load_end - h->load_addr > len - file_off)
		return errmsg(err, errlen, -ENOEXEC, "multiboot load_end_addr lies past the end of the file (truncated?)");
	bss_end = h->bss_end_addr ? h->bss_end_addr : load_end;
	if (bss_end < load_end)
		return errmsg(err, errlen, -ENOEXEC, "multiboot bss_end_addr is below load_end_addr");
	*seg = (struct segment){ file_off, load_end - h->load_addr, h->load_addr, bss_end - h->load_addr };
	*entry = h->entry_addr;
	(void)img;
	return 0;
}

int mb_load(struct guest_mem *m, const void *image, size_t len, const char *cmdline,
	    const struct mb_module *module, struct mb_boot *out, char *err, size_t errlen)
{
	const uint8_t *img = image;
	struct segment seg[MAX_SEGMENTS] = { { 0 } };
	unsigned nseg = 0;
	uint64_t entry = 0, lo = UINT64_MAX, hi = 0;
	struct mb_header h = { 0 };
	long hoff;
	int r;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return errmsg(err, errlen, -ENOEXEC, "kernel file is empty");
	hoff = find_header(img, len);
	if (hoff < 0)
		return errmsg(err, errlen, -ENOEXEC,
			    "no multiboot header (magic 0x1badb002 with a valid checksum) in the first 8 KiB");
	memcpy(&h, img + hoff, len - hoff < sizeof(h) ? len - hoff : sizeof(h));
	out->header_flags = h.flags;
	if (h.flags & 0xffff & ~MB_UNDERSTOOD)
		return errmsg(err, errlen, -ENOTSUP,
			    "multiboot header requires features %#x that ombra does not provide",
			    h.flags & 0xffff & ~MB_UNDERSTOOD);

	/* 2. The image itself. */
	if (h.flags & MB_FLAG_ADDRESS) {
		r = kludge_segment(img, len, hoff, &h, &seg[0], &entry, err, errlen);
		nseg = 1;
	} else {
		r = elf_segments(img, len, seg, &nseg, &entry, &out->elf_class, err, errlen);
	}
	if (r < 0)
		return r;
	if (entry >= MEM_4G)
		return errmsg(err, errlen, -ENOEXEC,
			    "entry point %#llx is above 4 GiB: a multiboot kernel starts in 32-bit mode",
			    (unsigned long long)entry);

	for (unsigned i = 0; i < nseg; i++) {
		const char *why = check_range(m, seg[i].gpa, seg[i].mem_len);

		if (why)
			return errmsg(err, errlen, -ENOEXEC, "segment at %#llx (%#llx bytes) %s",
				    (unsigned long long)seg[i].gpa,
				    (unsigned long long)seg[i].mem_len, why);
		for (unsigned j = 0; j < i; j++)
			if (seg[i].gpa < seg[j].gpa + seg[j].mem_len &&
			    seg[j].gpa < seg[i].gpa + seg[i].mem_len)
				return errmsg(err, errlen, -ENOEXEC,
					    "segments at %#llx and %#llx overlap",
					    (unsigned long long)seg[j].gpa,
					    (unsigned long long)seg[i].gpa);
		if (seg[i].gpa < lo)
			lo = seg[i].gpa;
		if (seg[i].gpa + seg[i].mem_len > hi)
			hi = seg[i].gpa + seg[i].mem_len;
	}
	for (unsigned i = 0; i < nseg; i++) {
		uint8_t *dst = NULL;

		/* check_range proved the range is RAM; copy, then clear the bss. */
		mem_write(m, seg[i].gpa, img + seg[i].file_off, seg[i].file_len);
		for (uint64_t a = seg[i].gpa + seg[i].file_len; a < seg[i].gpa + seg[i].mem_len;) {
			struct memslot *s = mem_find(m, a);
			uint64_t n = s->gpa + s->size - a;

			if (n > seg[i].gpa + seg[i].mem_len - a)
				n = seg[i].gpa + seg[i].mem_len - a;
			dst = s->hva + (a - s->gpa);
			memset(dst, 0, n);
			a += n;
		}
	}
	out->entry = (uint32_t)entry;
	out->load_start = (uint32_t)lo;
	out->load_end = (uint32_t)hi;

	/* 3. Module 0 on the first page after the image. */
	if (module) {
		uint64_t start = (hi + MEM_PAGE_SIZE - 1) & ~(MEM_PAGE_SIZE - 1);
		const char *why = check_range(m, start, module->len ? module->len : 1);

		if (why)
			return errmsg(err, errlen, -E2BIG, "initrd of %zu bytes at %#llx %s", module->len,
				    (unsigned long long)start, why);
		mem_write(m, start, module->data, module->len);
		out->mod_start = (uint32_t)start;
		out->mod_end = (uint32_t)(start + module->len);
	}

	/* 4. The multiboot information: the structure, then strings and tables. */
	{
		uint8_t info[MB_INFO_LIMIT - MB_INFO_GPA];
		uint32_t used = MBI_SIZE, flags = MBI_MEM | MBI_MMAP | MBI_LOADER_NAME;
		uint64_t top = mem_top_below_4g(m);
		static const char name[] = "ombra";
		size_t clen = cmdline ? strlen(cmdline) + 1 : 0;
		size_t slen = module && module->string ? strlen(module->string) + 1 : 1;
		const struct memslot *ram[MEM_MAX_SLOTS];
		unsigned nram = mem_slots_sorted(m, ram);

		memset(info, 0, sizeof(info));
		if (MBI_SIZE + sizeof(name) + clen + slen + 16 + MEM_MAX_SLOTS * 24 > sizeof(info))
			return errmsg(err, errlen, -E2BIG, "kernel command line is too long (%zu bytes)", clen);

		put32(info + 4, (uint32_t)(MEM_LOW_END / 1024));            /* mem_lower, KiB */
		put32(info + 8, (uint32_t)((top - MEM_HIGH_START) / 1024)); /* mem_upper, KiB */

		memcpy(info + used, name, sizeof(name));
		put32(info + 64, MB_INFO_GPA + used);                        /* boot_loader_name */
		used += sizeof(name);
		if (cmdline) {
			memcpy(info + used, cmdline, clen);
			put32(info + 16, MB_INFO_GPA + used);                /* cmdline */
			used += clen;
			flags |= MBI_CMDLINE;
		}
		if (module) {
			uint32_t str = MB_INFO_GPA + used;

			if (module->string)
				memcpy(info + used, module->string, slen);
			used += slen;
			used = (used + 3) & ~3u;
			put32(info + used, out->mod_start);
			put32(info + used + 4, out->mod_end);
			put32(info + used + 8, str);
			put32(info + 20, 1);                                 /* mods_count */
			put32(info + 24, MB_INFO_GPA + used);                /* mods_addr */
			used += 16;
			flags |= MBI_MODS;
		}

		/* The memory map: one "available" entry per RAM slot, in address order. */
		used = (used + 3) & ~3u;
		put32(info + 48, MB_INFO_GPA + used);                        /* mmap_addr */
		put32(info + 44, nram * 24);                                 /* mmap_length */
		for (unsigned i = 0; i < nram; i++) {
			put32(info + used, 20);                              /* size of the rest */
			put64(info + used + 4, ram[i]->gpa);
			put64(info + used + 12, ram[i]->size);
			put32(info + used + 20, 1);                          /* available RAM */
			used += 24;
		}
		put32(info, flags);
		if (mem_write(m, MB_INFO_GPA, info, used) < 0)
			return errmsg(err, errlen, -EFAULT, "no RAM at the multiboot information area");
		out->info_gpa = MB_INFO_GPA;
	}
	return 0;
}
