/*
 * Unit tests that the mutation check (make mutate, docs/testing.md) showed
 * were missing: each mutant named here survived the unit tests, its fuzz
 * harness and the guest kernels until the test below was added.
 *
 *   loader-overlap-adjacent: the multiboot loader (src/vmm/loader.c)
 *     refused segments that only touch as overlapping.  A linker puts a
 *     kernel's .data right after its .text when both are page-aligned, so
 *     the loader must take both, every byte in place.
 *   lapic-eoi-level: the local APIC (src/shadow/lapic.c) passed the EOI of
 *     a level-triggered vector to the I/O APIC as the vector below it, so
 *     the pin's remote IRR stayed set and the pin never interrupted again.
 *     SDM vol. 3 10.8.5 and the 82093AA data sheet (remote IRR) say what
 *     must happen; nothing here is taken from ombra's own models.
 *
 * The kernel images are assembled here from <elf.h> structures.
 */
#include <criterion/criterion.h>

#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadow/ioapic.h"
#include "shadow/lapic.h"
#include "vmm/loader.h"
#include "vmm/mem.h"

#define MB_MAGIC  0x1BADB002u
#define MB_FLAGS  0x3u                 /* page-align, memory info */

/* An ELF32 kernel with n PT_LOAD segments, segment i at paddr[i] with
 * filesz[i] bytes of a pattern of its own and memsz[i] in memory; the
 * multiboot header at file offset 0x100.  Segment data from 0x1000 on. */
static uint8_t *elf32(unsigned n, const uint32_t *paddr, const uint32_t *filesz, const uint32_t *memsz,
		      uint32_t *offset, size_t *len_out)
{
	size_t len = 0x1000;
	uint8_t *img;
	Elf32_Ehdr eh = { 0 };

	for (unsigned i = 0; i < n; i++) {
		offset[i] = (uint32_t)len;
		len += (filesz[i] + 0xfff) & ~0xfffu;
	}
	img = calloc(1, len);
	cr_assert_not_null(img);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_386;
	eh.e_version = EV_CURRENT;
	eh.e_entry = paddr[0];
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf32_Phdr);
	eh.e_phnum = (uint16_t)n;
	memcpy(img, &eh, sizeof(eh));
	for (unsigned i = 0; i < n; i++) {
		Elf32_Phdr ph = { 0 };

		ph.p_type = PT_LOAD;
		ph.p_offset = offset[i];
		ph.p_vaddr = ph.p_paddr = paddr[i];
		ph.p_filesz = filesz[i];
		ph.p_memsz = memsz[i];
		ph.p_flags = PF_R | PF_W | PF_X;
		ph.p_align = 0x1000;
		memcpy(img + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
		for (uint32_t b = 0; b < filesz[i]; b++)
			img[offset[i] + b] = (uint8_t)(0x11 * (i + 1) + b);
	}
	{
		uint32_t hdr[3] = { MB_MAGIC, MB_FLAGS, (uint32_t)-(MB_MAGIC + MB_FLAGS) };

		memcpy(img + 0x100, hdr, sizeof(hdr));
	}
	*len_out = len;
	return img;
}

static void load_ok(unsigned n, const uint32_t *paddr, const uint32_t *filesz, const uint32_t *memsz)
{
	struct guest_mem m;
	struct mb_boot out;
	char err[256] = "";
	uint32_t offset[4];
	size_t len;
	uint8_t *img = elf32(n, paddr, filesz, memsz, offset, &len), *got;

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 16ULL << 20), 0);
	cr_assert_eq(mb_load(&m, img, len, NULL, NULL, &out, err, sizeof(err)), 0,
		     "segments that only touch were refused: %s", err);
	for (unsigned i = 0; i < n; i++) {
		got = malloc(memsz[i]);
		cr_assert_not_null(got);
		cr_assert_eq(mem_read(&m, paddr[i], got, memsz[i]), 0);
		cr_expect(memcmp(got, img + offset[i], filesz[i]) == 0, "segment %u's data", i);
		for (uint32_t b = filesz[i]; b < memsz[i]; b++)
			cr_expect(got[b] == 0, "segment %u's bss byte %#x", i, b);
		free(got);
	}
	cr_expect_eq(out.load_start, paddr[0]);
	cr_expect_eq(out.load_end, paddr[n - 1] + memsz[n - 1]);
	mem_destroy(&m);
	free(img);
}

Test(loader_adjacent, text_then_data_back_to_back)
{
	const uint32_t paddr[] = { 0x100000, 0x101000 };
	const uint32_t filesz[] = { 0x1000, 0x200 };
	const uint32_t memsz[] = { 0x1000, 0x1000 };

	load_ok(2, paddr, filesz, memsz);
}

Test(loader_adjacent, bss_ends_where_the_next_segment_starts)
{
	/* Listed high first: the check must hold in both orders. */
	const uint32_t paddr[] = { 0x200000, 0x1ff000 };
	const uint32_t filesz[] = { 0x100, 0x80 };
	const uint32_t memsz[] = { 0x100, 0x1000 };
	struct guest_mem m;
	struct mb_boot out;
	char err[256] = "";
	uint32_t offset[2];
	size_t len;
	uint8_t *img = elf32(2, paddr, filesz, memsz, offset, &len);

	mem_init(&m);
	cr_assert_eq(mem_layout_pc(&m, 16ULL << 20), 0);
	cr_assert_eq(mb_load(&m, img, len, NULL, NULL, &out, err, sizeof(err)), 0,
		     "segments that only touch were refused: %s", err);
	cr_expect_eq(out.load_start, 0x1ff000);
	cr_expect_eq(out.load_end, 0x200100);
	mem_destroy(&m);
	free(img);
}

/* --- the EOI of a level-triggered interrupt reaches its I/O APIC pin --- */

#define REMOTE_IRR (1u << 14)

static uint32_t ioapic_reg(struct ioapic *io, uint32_t sel)
{
	ioapic_write(io, 0x00, sel);
	return ioapic_read(io, 0x10);
}

static void ioapic_set(struct ioapic *io, uint32_t sel, uint32_t val)
{
	ioapic_write(io, 0x00, sel);
	ioapic_write(io, 0x10, val);
}

Test(lapic_eoi, level_eoi_clears_the_pins_remote_irr)
{
	struct ioapic io;
	struct lapic apic;

	ioapic_reset(&io);
	lapic_reset(&apic);
	lapic_write(&apic, LAPIC_SVR, 0x1ff, 0);            /* software-enabled, APIC ID 0 */
	ioapic_sync_lapic(&io, &apic, true);
	/* Two level-triggered pins on neighbouring vectors, physical
	 * destination APIC 0, unmasked. */
	ioapic_set(&io, 0x10 + 2 * 3 + 1, 0);
	ioapic_set(&io, 0x10 + 2 * 3, 0x51 | (1u << 15));
	ioapic_set(&io, 0x10 + 2 * 4 + 1, 0);
	ioapic_set(&io, 0x10 + 2 * 4, 0x50 | (1u << 15));

	/* Pin 3 asserted: vector 0x51 goes to the local APIC, remote IRR set. */
	cr_assert_eq(ioapic_set_irq(&io, 3, true), 0x51);
	cr_assert(ioapic_reg(&io, 0x10 + 2 * 3) & REMOTE_IRR);
	lapic_raise_trig(&apic, 0x51, true);
	cr_assert_eq(lapic_pending(&apic), 0x51);
	lapic_ack(&apic, 0x51);

	/* The handler quiets the device, then EOIs: the local APIC names
	 * the vector (1 + it) for the I/O APIC, which clears pin 3's remote
	 * IRR and no other. */
	ioapic_set_irq(&io, 3, false);
	lapic_write(&apic, LAPIC_EOI, 0, 0);
	cr_assert_eq(apic.eoi_level, 0x51 + 1, "the EOI of level vector 0x51 reported as %#x - 1",
		     apic.eoi_level);
	cr_expect_eq(ioapic_eoi(&io, apic.eoi_level - 1), -1, "nothing to resend: the line is low");
	cr_expect_eq(ioapic_reg(&io, 0x10 + 2 * 3) & REMOTE_IRR, 0, "pin 3's remote IRR still set");

	/* So the next assertion interrupts again. */
	cr_expect_eq(ioapic_set_irq(&io, 3, true), 0x51);
}

Test(lapic_eoi, edge_eoi_names_no_vector)
{
	struct lapic apic;

	lapic_reset(&apic);
	lapic_write(&apic, LAPIC_SVR, 0x1ff, 0);
	lapic_raise_trig(&apic, 0x40, false);
	cr_assert_eq(lapic_pending(&apic), 0x40);
	lapic_ack(&apic, 0x40);
	lapic_write(&apic, LAPIC_EOI, 0, 0);
	cr_expect_eq(apic.eoi_level, 0, "an edge-triggered EOI reported as level %#x - 1", apic.eoi_level);
}
