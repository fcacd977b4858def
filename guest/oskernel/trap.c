/*
 * trap.c: the kernel's C entry for every interrupt, exception and system
 * call (entry.S calls trap() with the frame), the fault fixup used by the
 * checks that expect a fault, and the interrupt hardware: the local APIC
 * and its timer, and the 8259 pair, remapped and masked as every OS does.
 */
#include "kernel.h"
#include "user.h"

#define LAPIC_BASE	0xfee00000ul
#define LAPIC_EOI	0x0b0
#define LAPIC_SVR	0x0f0
#define LAPIC_IRR	0x200
#define LAPIC_LVT_TIMER	0x320
#define LAPIC_TIMER_ICR	0x380
#define LAPIC_TIMER_DCR	0x3e0
#define LVT_MASKED	(1u << 16)
#define LVT_PERIODIC	(1u << 17)

static inline u32 lapic_read(u32 reg) { return *(volatile u32 *)(LAPIC_BASE + reg); }
static inline void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(LAPIC_BASE + reg) = v; }

void lapic_init(void)
{
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
	lapic_write(LAPIC_TIMER_DCR, 0x3);		/* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
}

void lapic_timer_oneshot(u32 count)
{
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, count);
}

void lapic_timer_periodic(u32 count)
{
	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, count);
}

void lapic_timer_stop(void)
{
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, 0);
}

int lapic_irr(u8 v)
{
	return lapic_read(LAPIC_IRR + 0x10 * (v / 32)) >> (v % 32) & 1;
}

void pic_remap_mask(void)
{
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, VEC_PIC_BASE);
	outb(0xa1, VEC_PIC_BASE + 8);
	outb(0x21, 4);
	outb(0xa1, 2);
	outb(0x21, 1);
	outb(0xa1, 1);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

volatile u64 timer_ticks, int3_count;
struct frame int3_frame;
struct fault catch_fault;

static u64 read_cr2(void)
{
	u64 v;

	asm volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

/* An exception in the kernel with nobody expecting it: say what and stop. */
static void __attribute__((noreturn)) kernel_fault(struct frame *f)
{
	kprintf("kernel exception: vector %lu error 0x%lx at rip 0x%lx cs 0x%lx rflags 0x%lx cr2 0x%lx\n",
		f->vector, f->err, f->rip, f->cs, f->rflags, read_cr2());
	checks_failed++;
	kprintf("summary: %d passed, %d failed\n", checks_passed, checks_failed);
	exit_qemu(1);
}

long trap(struct frame *f)
{
	int from_user = (f->cs & 3) != 0;

	if (from_user)
		proc_entry_checks(f);

	if (f->vector == VEC_SYSCALL || f->vector == VEC_SYSCALL_INT)
		return do_syscall(f);

	if (f->vector == VEC_TIMER) {
		timer_ticks++;
		lapic_write(LAPIC_EOI, 0);
		if (from_user)
			proc_preempt(f);
		return 1;
	}
	if (f->vector == VEC_SPURIOUS)
		return 1;
	if (f->vector >= VEC_PIC_BASE && f->vector < VEC_PIC_BASE + 16) {
		/* Masked, so only spurious IRQ 7 or 15 may come: no EOI for those. */
		return 1;
	}
	if (f->vector == 3 && !from_user) {
		int3_count++;
		int3_frame = *f;
		return 1;
	}
	if (f->vector < 32) {
		if (from_user)
			proc_fault(f, read_cr2());	/* kills the process */
		if (catch_rsp) {
			catch_fault.vector = f->vector;
			catch_fault.err = f->err;
			catch_fault.rip = f->rip;
			catch_fault.cs = f->cs;
			catch_fault.cr2 = read_cr2();
			f->rip = (u64)catch_fixup;
			return 1;
		}
	}
	kernel_fault(f);
}
