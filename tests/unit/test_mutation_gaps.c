/*
 * Unit tests that the mutation check (make mutate, docs/testing.md) showed
 * were missing: each mutant named here survived the unit tests, its fuzz
 * harness and the guest kernels until the test below was added.
 *
 *   loader-overlap-adjacent: the multiboot loader (src/vmm/loader.c)
 *     refused segments that only touch as overlapping.  A linker puts a
 *     kernel's .data right after its .text when both are page-aligned, so
 *     the loader must take both, every byte in place.
 *   lapic-eoi-level: the local APIC (src/dev/lapic.c) passed the EOI of
 *     a level-triggered vector to the I/O APIC as the vector below it, so
 *     the pin's remote IRR stayed set and the pin never interrupted again.
 *     SDM vol. 3 10.8.5 and the 82093AA data sheet (remote IRR) say what
 *     must happen; nothing here is taken from ombra's own models.
 *   emu-cmpxchg-cf, emu-cmpxchg8b-zf: shadow mode's emulated CMPXCHG on a
 *     guest page table set CF for equal operands; its CMPXCHG8B left ZF
 *     clear after a store.  The guest kernels never look at those flags.
 *   inject-ist-off-by-one: an IDT entry's IST n took the stack of IST n+1;
 *     no guest kernel uses an IST.
 * And two the guest kernels catch but the unit tests did not, on the same
 * in-memory machine: an interrupt gate clears IF and a trap gate keeps it
 * (inject-trap-gate-if), STI's interrupt shadow (emu-sti-no-shadow).
 *
 * The kernel images are assembled here from <elf.h> structures.
 */
#include <criterion/criterion.h>

#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_fixture.h"
#include "dev/ioapic.h"
#include "dev/lapic.h"
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

/* --- shadow mode's emulator and exception delivery, on the in-memory machine --- */

#define G_HANDLER  0x30000ULL
#define G_STACK    0x1f000ULL
#define G_RIP      0x10000ULL

static struct shadow_fixture gfx;
static struct shadow *gsh;

static void gput(uint64_t gpa, uint64_t v, unsigned size)
{
	memcpy(gfx.ram + gpa, &v, size);
}

static uint64_t gget(uint64_t gpa, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, gfx.ram + gpa, size);
	return v;
}

/* A flat descriptor (SDM vol. 3, 3.4.5). */
static uint64_t gdesc(unsigned type, unsigned dpl, unsigned l, unsigned db)
{
	return 0xffffULL | 0xfULL << 48 | (uint64_t)type << 40 | 1ULL << 44 | (uint64_t)dpl << 45 |
	       1ULL << 47 | (uint64_t)l << 53 | (uint64_t)db << 54 | 1ULL << 55;
}

static struct vseg gseg(uint16_t sel, unsigned type, unsigned l, unsigned db)
{
	struct vseg s = { .sel = sel, .limit = 0xffffffff, .type = (uint8_t)type, .s = 1,
			  .p = 1, .l = (uint8_t)l, .db = (uint8_t)db, .g = 1 };

	return s;
}

/* A 16-byte IDT entry: type 0xe (interrupt gate) or 0xf (trap gate). */
static void ggate(unsigned v, unsigned type, unsigned ist)
{
	uint64_t target = G_HANDLER + 16 * v;

	gput(0x2000 + v * 16, (target & 0xffff) | 0x08ULL << 16 | (uint64_t)ist << 32 |
	     (0x80ULL | type) << 40 | ((target >> 16) & 0xffff) << 48, 8);
	gput(0x2000 + v * 16 + 8, target >> 32, 8);
}

/* 64-bit mode at CPL 0, the first 2 MiB mapped 1:1, IF as given. */
static void long_mode_cpu(bool intr)
{
	struct vcpu *v = &gsh->v;

	gput(0x1000 + 0x08, gdesc(0xb, 0, 1, 0), 8);
	gput(0x1000 + 0x18, gdesc(0x3, 0, 0, 1), 8);
	gput(0x4000, 0x5000 | 7, 8);
	gput(0x5000, 0x6000 | 7, 8);
	gput(0x6000, 0x87, 8);
	fixture_cpu(&gfx, true, 0xff);
	v->cs = gseg(0x08, 0xb, 1, 0);
	v->ss = v->ds = v->es = v->fs = v->gs = gseg(0x18, 0x3, 0, 1);
	v->tr.base = 0x3000;
	v->tr.limit = 0x67;
	v->tr.type = 0xb;
	v->tr.p = 1;
	for (unsigned i = 0; i < 256; i++)
		ggate(i, 0xe, 0);
	memset(&gsh->t, 0, sizeof(gsh->t));
	gsh->t.rip = G_RIP;
	gsh->t.gpr[R_SP] = G_STACK;
	gsh->t.rflags = RFLAGS_FIXED | (intr ? RFLAGS_IF : 0);
	gsh->t.code64 = true;
	shadow_cpu_changed(gsh, false, false);
	mmu_root_loaded(&gsh->mmu, mmu_root(&gsh->mmu, &gsh->ctx));
	gsh->mmu.need_reload = false;
}

static void gsetup(void)
{
	fixture_new(&gfx);
	gsh = gfx.sh;
}

static void gteardown(void)
{
	fixture_free(&gfx);
}

TestSuite(shadow_gaps, .init = gsetup, .fini = gteardown);

/* An interrupt gate clears IF, a trap gate leaves it (SDM vol. 3, 6.12.1.3). */
Test(shadow_gaps, interrupt_gate_clears_if_trap_gate_keeps_it)
{
	long_mode_cpu(true);
	cr_assert_eq(inject_exception(gsh, 0x40, false, 0), TRAP_DELIVERED);
	cr_expect_eq(gsh->t.rflags & RFLAGS_IF, 0, "IF still set in an interrupt gate's handler");
	cr_expect(gget(G_STACK - 24, 8) & RFLAGS_IF, "the pushed RFLAGS lost IF");

	long_mode_cpu(true);
	ggate(0x41, 0xf, 0);
	cr_assert_eq(inject_exception(gsh, 0x41, false, 0), TRAP_DELIVERED);
	cr_expect(gsh->t.rflags & RFLAGS_IF, "a trap gate cleared IF");
}

/* IST n is the 8 bytes at TSS + 36 + 8 (n - 1) (SDM vol. 3, 7.7, figure 7-11). */
Test(shadow_gaps, ist_picks_its_own_stack)
{
	long_mode_cpu(false);
	gput(0x3000 + 36, 0x1c000, 8);          /* IST1 */
	gput(0x3000 + 44, 0x1b000, 8);          /* IST2 */
	ggate(0x42, 0xe, 1);
	cr_assert_eq(inject_exception(gsh, 0x42, false, 0), TRAP_DELIVERED);
	cr_expect_eq(gsh->t.gpr[R_SP], 0x1c000 - 40, "RSP %#llx: not IST1's stack",
		     (unsigned long long)gsh->t.gpr[R_SP]);
	cr_expect_eq(gget(0x1c000 - 16, 8), G_STACK, "the old RSP on IST1's stack");
}

/* STI with IF=0 holds interrupts off for one more instruction (SDM vol. 2, STI). */
Test(shadow_gaps, sti_sets_the_interrupt_shadow)
{
	long_mode_cpu(false);
	gput(G_RIP, 0xfb, 1);                   /* sti */
	cr_assert_eq(emulate_insn(gsh, VEC_GP), TRAP_RESUME);
	cr_expect(gsh->t.rflags & RFLAGS_IF);
	cr_expect(gsh->sti_shadow, "no interrupt shadow after STI with IF=0");
	cr_expect_eq(gsh->t.rip, G_RIP + 1);
}

/* An emulated CMPXCHG on a page table leaves the flags CMP would: equal
 * operands are ZF=1, CF=0 (SDM vol. 2, CMPXCHG, CMP). */
Test(shadow_gaps, pte_cmpxchg_equal_sets_zf_not_cf)
{
	long_mode_cpu(false);
	gput(0x7008, 0x1234, 8);
	gput(G_RIP, 0x0bb10f48f0ULL, 5);        /* lock cmpxchg [rbx], rcx */
	gsh->t.gpr[R_BX] = 0x7008;
	gsh->t.gpr[R_AX] = 0x1234;
	gsh->t.gpr[R_CX] = 0x5678;
	gsh->t.rflags |= RFLAGS_CF;
	cr_assert_eq(emulate_pte_write(gsh, 0x7008), TRAP_RESUME);
	cr_expect_eq(gget(0x7008, 8), 0x5678);
	cr_expect(gsh->t.rflags & 0x40, "ZF clear after equal operands");
	cr_expect_eq(gsh->t.rflags & RFLAGS_CF, 0, "CF set after equal operands");
	cr_expect_eq(gsh->t.rip, G_RIP + 5);
}

/* CMPXCHG8B that matches stores ECX:EBX and sets ZF (SDM vol. 2, CMPXCHG8B). */
Test(shadow_gaps, pte_cmpxchg8b_match_sets_zf)
{
	long_mode_cpu(false);
	gput(0x7010, 0x0000000200000001ULL, 8);
	gput(G_RIP, 0x0bc70f, 3);               /* cmpxchg8b [rbx] */
	gsh->t.gpr[R_BX] = 0x7010;
	gsh->t.gpr[R_AX] = 1;
	gsh->t.gpr[R_DX] = 2;
	gsh->t.gpr[R_CX] = 4;
	cr_assert_eq(emulate_pte_write(gsh, 0x7010), TRAP_RESUME);
	cr_expect_eq(gget(0x7010, 8), 0x0000000400007010ULL);
	cr_expect(gsh->t.rflags & 0x40, "ZF clear after CMPXCHG8B stored");
}
