/*
 * The monitor's GDT, IDT, TSS and page tables.
 *
 * GDT: everything at the very top: the TSS (indices 8184-8185), the
 * monitor's own code and data segments (8186, 8187) and the three fixed
 * segments the guest runs in where the host keeps its own selectors
 * (8189-8191, DPL 3).  Below them, nothing: the guest's own selectors land
 * on empty descriptors, so every segment load, far transfer and IRET the
 * guest makes traps (#GP) and is emulated against the guest's own tables,
 * and the guest cannot slip into a real segment unseen.  realseg.c puts
 * descriptors at the indices of the guest's current CS and SS only.
 *
 * IDT: all 256 vectors go to their stub on the IST1 stack, so the frame is
 * always at the same address.  Vectors 3 and 4 (INT3, INTO) are DPL 3 so
 * the guest's breakpoints arrive as #BP rather than as #GP.
 *
 * TSS: RSP0 and IST1 at the top of the trap stack, no I/O bitmap: with
 * IOPL 0 every guest IN/OUT traps.
 */
#include "machine.h"

#include <string.h>

#include "monitor.h"

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

uint64_t machine_seg_desc(unsigned dpl, int code, int l, int db)
{
	uint64_t d = 0xffff;                          /* limit 15:0 */

	d |= (uint64_t)(0x80 | (dpl << 5) | 0x10 | (code ? 0xb : 0x3)) << 40; /* P DPL S type (accessed) */
	d |= 0xfULL << 48;                            /* limit 19:16 */
	d |= (uint64_t)((l ? 0x2 : 0) | (db ? 0x4 : 0) | 0x8) << 52; /* L, D/B, G */
	return d;
}

static void idt_gate(uint8_t *idt, unsigned v, uint64_t target, unsigned dpl)
{
	uint8_t *g = idt + 16 * v;

	memset(g, 0, 16);
	g[0] = (uint8_t)target;
	g[1] = (uint8_t)(target >> 8);
	g[2] = SEL_MON_CS & 0xff;
	g[3] = SEL_MON_CS >> 8;
	g[4] = 1;                                     /* IST1 */
	g[5] = (uint8_t)(0x8e | (dpl << 5));          /* P, DPL, 64-bit interrupt gate */
	g[6] = (uint8_t)(target >> 16);
	g[7] = (uint8_t)(target >> 24);
	g[8] = (uint8_t)(target >> 32);
	g[9] = (uint8_t)(target >> 40);
	g[10] = (uint8_t)(target >> 48);
	g[11] = (uint8_t)(target >> 56);
}

uint64_t machine_build(uint8_t *mon, uint64_t va, uint64_t pool_mpa, uint64_t pool_size)
{
	uint8_t *gdt = mon + MON_GDT, *tss = mon + MON_TSS;
	uint64_t tss_va = va + MON_TSS, stack_top = va + MON_STACK_TOP;

	/* GDT */
	memset(gdt, 0, MON_GDT_LIMIT + 1);
	put64(gdt + SEL_MON_CS, machine_seg_desc(0, 1, 1, 0));
	put64(gdt + SEL_MON_DS, machine_seg_desc(0, 0, 0, 1));
	put64(gdt + SEL_TSS, 0x67 | ((tss_va & 0xffffff) << 16) | (0x89ULL << 40) |
	      ((tss_va >> 24) & 0xff) << 56);
	put64(gdt + SEL_TSS + 8, tss_va >> 32);
	put64(gdt + (SEL_USER_CS32 & ~7), machine_seg_desc(3, 1, 0, 1));
	put64(gdt + (SEL_USER_DS & ~7), machine_seg_desc(3, 0, 0, 1));
	put64(gdt + (SEL_USER_CS64 & ~7), machine_seg_desc(3, 1, 1, 0));

	/* IDT */
	for (unsigned v = 0; v < 256; v++)
		idt_gate(mon + MON_IDT, v, va + MON_STUBS + v * MON_STUB_SIZE,
			 v == 3 || v == 4 ? 3 : 0);

	/* TSS: RSP0 at offset 4, IST1 at 36, I/O map base past the limit. */
	memset(tss, 0, 104);
	put64(tss + 4, stack_top);
	put64(tss + 36, stack_top);
	tss[102] = 104;

	/* The monitor's subtree: PDPT[0] -> PD[0] = the 2 MiB region, global,
	 * supervisor-only. */
	memset(mon + MON_PDPT, 0, 4096);
	memset(mon + MON_PD, 0, 4096);
	put64(mon + MON_PDPT, (MON_MPA + MON_PD) | 0x3);
	put64(mon + MON_PD, MON_MPA | 0x3 | 0x80 | 0x100);       /* P W PS G */
	/* PDPT[1] (MON_POOL_OFF) -> the pool, in 2 MiB pages, so the monitor can rewrite
	 * shadow entries; NX: it is data. */
	memset(mon + MON_POOL_PD, 0, 4096);
	put64(mon + MON_PDPT + 8, (MON_MPA + MON_POOL_PD) | 0x3);
	for (uint64_t off = 0; off < pool_size && off < MON_POOL_MAX; off += 0x200000)
		put64(mon + MON_POOL_PD + 8 * (off >> 21),
		      (pool_mpa + off) | 0x3 | 0x80 | 0x100 | (1ULL << 63));
	return (MON_MPA + MON_PDPT) | 0x3;                       /* P W, U=0 */
}
