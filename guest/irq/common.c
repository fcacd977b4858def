/*
 * common.c: the interrupt test kernel's shared pieces (irq.h): the address
 * space, local APIC set-up, and the interrupt hook that counts and logs.
 */
#include "irq.h"

volatile unsigned irq_count[256];
volatile uint8_t irq_log[64];
volatile unsigned irq_log_len;
static irq_fn *handlers[256];

static void log_vec(uint8_t v)
{
	if (irq_log_len < sizeof(irq_log))
		irq_log[irq_log_len++] = v;
}

static void on_irq(struct trap_frame *f)
{
	unsigned v = (unsigned)f->vector;

	irq_count[v]++;
	log_vec((uint8_t)v);
	if (handlers[v])
		handlers[v](v);
	else
		apic_write(APIC_EOI, 0);
	log_vec((uint8_t)(0x80 | v));
}

void irq_set_handler(unsigned vector, irq_fn *fn)
{
	handlers[vector] = fn;
}

void irq_setup(void)
{
	void *root = pt_new_address_space(&pgmode_4level);

	pt_map(&pgmode_4level, root, APIC_BASE, APIC_BASE, 1, PTE_P | PTE_W | PTE_PCD | PTE_PWT);
	pt_map(&pgmode_4level, root, IOAPIC_BASE, IOAPIC_BASE, 1, PTE_P | PTE_W | PTE_PCD | PTE_PWT);
	paging_enter(&pgmode_4level, root);
	for (unsigned i = 0; i < 256; i++)
		irq_count[i] = 0, handlers[i] = NULL;
	irq_log_len = 0;
	trap_set_irq_hook(on_irq);
	/* The legacy PIC pair, masked: a PC's firmware leaves the PIT's IRQ 0
	 * unmasked at vector 8 (QEMU's does), where it would look like #DF. */
	pic_mask(0xff, 0xff);
	apic_write(APIC_SVR, SVR_ENABLE | 0xff);       /* spurious vector 0xff */
	apic_write(APIC_LVTT, LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TMICT, 0);
	apic_write(APIC_TDCR, TDCR_DIV1);
	apic_write(APIC_TPR, 0);
}

void irq_teardown(void)
{
	cli();
	apic_write(APIC_LVTT, LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TMICT, 0);
	trap_set_irq_hook(NULL);
	paging_leave();
}
