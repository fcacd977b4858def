/*
 * desc.c: the GDT, IDT and TSS of one half of a test kernel.
 *
 * Built once by desc_init() and (re)loaded by desc_load(): the 32-bit half
 * reloads its tables every time it comes back from the 64-bit half, which
 * loads its own.  The GDT layout is the same in both halves (desc.h).
 *
 * The IDT has all 256 vectors, interrupt gates into the stubs of
 * trap32.S/trap64.S: the 32 exceptions, and interrupts (trap_set_irq_hook).  Only #BP has DPL 3, so that int3 works from ring 3;
 * INT n for any other vector raises #GP (and is never used: see HOST.md).
 * The TSS gives the ring-0 stack for exceptions taken at ring 3
 * (ESP0/RSP0); in 64-bit mode #DF also gets its own stack through IST1, so
 * a broken kernel stack cannot turn a fault into a triple fault.
 */
#include "cpu.h"
#include "desc.h"
#include "runtime.h"

#define NUM_VECTORS 256
#define GDT_SLOTS   10 /* null, 6 segments, the TSS (two slots in 64-bit mode), one unused */

/* Access bytes */
#define ACC_KCODE 0x9a /* present, DPL0, code, readable */
#define ACC_KDATA 0x92 /* present, DPL0, data, writable */
#define ACC_UCODE 0xfa /* present, DPL3, code, readable */
#define ACC_UDATA 0xf2 /* present, DPL3, data, writable */
#define ACC_TSS   0x89 /* present, DPL0, available 32/64-bit TSS */
/* Flags nibble */
#define FLG_32 0xc /* 4 KiB granularity, 32-bit */
#define FLG_64 0xa /* 4 KiB granularity, long mode */

#define GATE_INTR 0x8e /* present interrupt gate, DPL0 */

#ifdef __x86_64__
struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];   /* stacks for CPL 0..2; RSP0 is used for exceptions from ring 3 */
	uint64_t reserved1;
	uint64_t ist[7];   /* interrupt stack table; ist[0] is IST1 */
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap;    /* offset of the I/O bitmap: past the end = none */
} __attribute__((packed));
struct gate {
	uint64_t lo, hi;
};
#define SEL_KCODE SEL_KCODE64
#else
struct tss {
	uint32_t link;
	uint32_t esp0;       /* ring-0 stack for exceptions from ring 3 */
	uint32_t ss0;
	uint32_t other[22];  /* ring 1/2 stacks, the saved task state: unused */
	uint16_t trap;
	uint16_t iomap;      /* offset of the I/O bitmap: past the end = none */
} __attribute__((packed));
struct gate {
	uint64_t lo;
};
#define SEL_KCODE SEL_KCODE32
#endif

struct table_reg {
	uint16_t limit;
	uintptr_t base;
} __attribute__((packed));

extern const uintptr_t trap_stubs[NUM_VECTORS]; /* trap32.S / trap64.S */

static uint64_t gdt[GDT_SLOTS] __attribute__((aligned(16)));
static struct gate idt[NUM_VECTORS] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static uint8_t ring0_stack[8192] __attribute__((aligned(16)));
#ifdef __x86_64__
static uint8_t double_fault_stack[4096] __attribute__((aligned(16)));
#endif

static uint64_t seg_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)(flags & 0xf) << 52) | ((uint64_t)(base >> 24) << 56);
}

static struct gate gate_desc(uintptr_t handler, unsigned dpl, unsigned ist)
{
	struct gate g;
	uint64_t off = handler;

	g.lo = (off & 0xffff) | ((uint64_t)SEL_KCODE << 16) | ((uint64_t)ist << 32) |
	       ((uint64_t)(GATE_INTR | (dpl << 5)) << 40) | (((off >> 16) & 0xffff) << 48);
#ifdef __x86_64__
	g.hi = off >> 32;
#else
	(void)ist;
#endif
	return g;
}

void desc_init(void)
{
	uintptr_t tss_base = (uintptr_t)&tss;

	gdt[0] = 0;
	gdt[SEL_KCODE32 >> 3] = seg_desc(0, 0xfffff, ACC_KCODE, FLG_32);
	gdt[SEL_KDATA >> 3] = seg_desc(0, 0xfffff, ACC_KDATA, FLG_32);
	gdt[SEL_KCODE64 >> 3] = seg_desc(0, 0xfffff, ACC_KCODE, FLG_64);
	gdt[SEL_UCODE32 >> 3] = seg_desc(0, 0xfffff, ACC_UCODE, FLG_32);
	gdt[SEL_UDATA >> 3] = seg_desc(0, 0xfffff, ACC_UDATA, FLG_32);
	gdt[SEL_UCODE64 >> 3] = seg_desc(0, 0xfffff, ACC_UCODE, FLG_64);
	gdt[SEL_TSS >> 3] = seg_desc((uint32_t)tss_base, sizeof(tss) - 1, ACC_TSS, 0);
	gdt[(SEL_TSS >> 3) + 1] = (uint64_t)tss_base >> 32; /* upper base in 64-bit mode */

	memset(&tss, 0, sizeof(tss));
	tss.iomap = sizeof(tss);
#ifdef __x86_64__
	tss.rsp[0] = (uintptr_t)ring0_stack + sizeof(ring0_stack);
	tss.ist[0] = (uintptr_t)double_fault_stack + sizeof(double_fault_stack);
#else
	tss.esp0 = (uintptr_t)ring0_stack + sizeof(ring0_stack);
	tss.ss0 = SEL_KDATA;
#endif

	for (unsigned v = 0; v < NUM_VECTORS; v++)
		idt[v] = gate_desc(trap_stubs[v], v == VEC_BP ? 3 : 0, 0);
#ifdef __x86_64__
	idt[VEC_DF] = gate_desc(trap_stubs[VEC_DF], 0, 1);
#endif
	desc_load();
}

void desc_load(void)
{
	struct table_reg gdtr = { sizeof(gdt) - 1, (uintptr_t)gdt };
	struct table_reg idtr = { sizeof(idt) - 1, (uintptr_t)idt };

	__asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
#ifdef __x86_64__
	__asm__ volatile("pushq %0\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:"
			 : : "i"(SEL_KCODE64) : "rax", "memory");
#else
	__asm__ volatile("ljmp %0, $1f\n1:" : : "i"(SEL_KCODE32) : "memory");
#endif
	__asm__ volatile("mov %0, %%ds\n\t"
			 "mov %0, %%es\n\t"
			 "mov %0, %%fs\n\t"
			 "mov %0, %%gs\n\t"
			 "mov %0, %%ss"
			 : : "r"(SEL_KDATA) : "memory");
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
	/* LTR faults on a busy TSS: mark ours available again before loading it. */
	gdt[SEL_TSS >> 3] = (gdt[SEL_TSS >> 3] & ~(0xffull << 40)) | ((uint64_t)ACC_TSS << 40);
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS) : "memory");
}
