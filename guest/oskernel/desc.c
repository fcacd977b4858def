/*
 * desc.c: the 64-bit TSS (RSP0 for entries from user mode, IST1 for the
 * double fault) and the IDT.  The gates' selector is the CS the kernel is
 * running on, read with `mov %cs`, as many kernels do it: not a constant.
 */
#include "kernel.h"

struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __attribute__((packed));

struct gate {
	u16 off0, sel;
	u8 ist, type;
	u16 off1;
	u32 off2, reserved;
};

struct tss64 tss;
static struct gate idt[256] __attribute__((aligned(16)));
static u8 kernel_stack[16384] __attribute__((aligned(16)));
static u8 df_stack[8192] __attribute__((aligned(16)));
u16 idt_cs;

void tss_init(void)
{
	u64 base = (u64)&tss, limit = sizeof(tss) - 1;

	percpu.kstack = (u64)(kernel_stack + sizeof(kernel_stack));
	tss.rsp[0] = percpu.kstack;
	tss.ist[0] = (u64)(df_stack + sizeof(df_stack));
	tss.iomap_base = sizeof(tss);
	/* Available 64-bit TSS (type 9), present, DPL 0. */
	gdt[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) |
		((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
	gdt[TSS_SEL / 8 + 1] = base >> 32;
	asm volatile("ltr %w0" :: "r"((u16)TSS_SEL));
}

static void set_gate(int v, u16 cs, int dpl, int ist)
{
	u64 off = (u64)(isr_stubs + 16 * v);

	idt[v].off0 = off & 0xffff;
	idt[v].sel = cs;
	idt[v].ist = ist;
	idt[v].type = 0x8e | dpl << 5;	/* present, 64-bit interrupt gate */
	idt[v].off1 = off >> 16 & 0xffff;
	idt[v].off2 = off >> 32;
	idt[v].reserved = 0;
}

void idt_init(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (u64)idt };
	u16 cs;
	int v;

	asm volatile("mov %%cs, %0" : "=r"(cs));
	idt_cs = cs;
	for (v = 0; v < 256; v++)
		set_gate(v, cs, v == 3 || v == VEC_SYSCALL_INT ? 3 : 0, v == 8 ? 1 : 0);
	asm volatile("lidt %0" :: "m"(idtr));
}
