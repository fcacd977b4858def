/*
 * pcirq.h: the PC's interrupt and timer hardware as the test kernels
 * program it: the local APIC (xAPIC, MMIO at its reset base; SDM vol. 3,
 * "Advanced Programmable Interrupt Controller"), the I/O APIC (82093AA),
 * the 8259A PIC pair (master at 0x20, slave at 0xa0 on the master's IR2)
 * with the chipset's ELCR, and the 8254 PIT with port 0x61.
 *
 * Register offsets, ports and command bits carry the data sheets' names;
 * the accessors are static inline and do exactly the I/O they say, no
 * more.  Which vectors a kernel uses is the kernel's own choice, not here.
 * The constants are plain #defines so assembly can use them too.  The
 * local and I/O APIC accessors need their pages mapped 1:1, uncached.
 */
#ifndef GUEST_PCIRQ_H
#define GUEST_PCIRQ_H

#include "cpu.h"

/* --- Local APIC (xAPIC mode) --------------------------------------------- */
#ifdef __ASSEMBLER__
#define APIC_BASE    0xfee00000
#else
#define APIC_BASE    0xfee00000ull
#endif
#define APIC_ID      0x20
#define APIC_VER     0x30
#define APIC_TPR     0x80          /* task priority */
#define APIC_PPR     0xa0          /* processor priority */
#define APIC_EOI     0xb0
#define APIC_SVR     0xf0          /* spurious-interrupt vector */
#define APIC_ISR     0x100         /* in service: 8 registers, 0x10 apart */
#define APIC_TMR     0x180         /* trigger mode (set: level) */
#define APIC_IRR     0x200         /* requested */
#define APIC_ICR     0x300         /* interrupt command, low half (the write sends) */
#define APIC_ICR2    0x310         /* interrupt command, high half: destination */
#define APIC_LVTT    0x320         /* LVT timer */
#define APIC_LVT0    0x350         /* LVT LINT0 */
#define APIC_TMICT   0x380         /* timer initial count */
#define APIC_TMCCT   0x390         /* timer current count */
#define APIC_TDCR    0x3e0         /* timer divide configuration */

#define SVR_ENABLE       BIT(8)    /* APIC software enable */
#define LVT_EXTINT       0x700     /* delivery mode ExtINT (the 8259A's vector) */
#define LVT_MASKED       BIT(16)
#define LVT_PERIODIC     BIT(17)   /* timer mode periodic (0: one-shot) */
#define LVT_TSC_DEADLINE BIT(18)   /* timer mode TSC-deadline */
#define ICR_SELF         BIT(18)   /* destination shorthand self; delivery mode 0 is fixed */
#define TDCR_DIV1        0xb       /* divide by 1 */

/* --- I/O APIC: a register through IOREGSEL (0x00) and IOWIN (0x10) ------- */
#ifdef __ASSEMBLER__
#define IOAPIC_BASE  0xfec00000
#else
#define IOAPIC_BASE  0xfec00000ull
#endif
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_VER    0x01
#define IOAPIC_REDIR  0x10         /* entry n: 0x10 + 2n (low), 0x11 + 2n (high) */

/* --- 8259A PIC pair ------------------------------------------------------- */
#define PIC1_CMD   0x20            /* master: ICW1, OCW2, OCW3; IRR/ISR/poll reads */
#define PIC1_DATA  0x21            /* master: ICW2..4, OCW1 (the mask) */
#define PIC2_CMD   0xa0            /* slave */
#define PIC2_DATA  0xa1
#define PIC_CASCADE_IR 2           /* the master's input the slave is on */
#define ELCR1      0x4d0           /* edge/level control, IRQ 0-7 (set: level) */
#define ELCR2      0x4d1           /* IRQ 8-15 */

#define ICW1       0x10            /* ICW1: edge triggered, cascade mode */
#define ICW1_IC4   0x01            /* ICW4 follows */
#define ICW4_UPM   0x01            /* 8086/8088 mode */
#define ICW4_AEOI  0x02            /* automatic EOI */
#define OCW2_EOI   0x20            /* non-specific EOI */
#define OCW2_SL    0x40            /* with OCW2_EOI: specific EOI, level in bits 2..0 */
#define OCW3       0x08            /* OCW3 (else OCW2) */
#define OCW3_P     0x04            /* poll command */
#define OCW3_RR    0x02            /* read register, ... */
#define OCW3_RIS   0x01            /* ... ISR (else IRR) */

/* --- 8254 PIT and port 0x61 ------------------------------------------------ */
#define PIT_CH0    0x40            /* counter 0: IRQ 0 */
#define PIT_CH2    0x42            /* counter 2: gate and OUT at port 0x61 */
#define PIT_CTRL   0x43            /* control word register */
#define PORT_B     0x61            /* bit 0 counter 2's gate, 1 speaker data, 5 its OUT */

#define PIT_SC(ch)      ((ch) << 6)   /* control word: select counter */
#define PIT_RW_LATCH    0x00          /* counter latch command */
#define PIT_RW_LSB      0x10          /* read/write LSB only */
#define PIT_RW_MSB      0x20          /* read/write MSB only */
#define PIT_RW_LSB_MSB  0x30          /* read/write LSB, then MSB */
#define PIT_M(mode)     ((mode) << 1)
#define PIT_BCD         0x01
#define PIT_MODE0       0             /* interrupt on terminal count */
#define PIT_MODE2       2             /* rate generator */
#define PIT_READBACK    0xc0          /* read-back command, with: */
#define PIT_RB_NOCOUNT  0x20          /*   don't latch the count */
#define PIT_RB_NOSTATUS 0x10          /*   don't latch the status */
#define PIT_RB_CNT(ch)  (2u << (ch))  /*   counter ch */
#define PIT_OUT         0x80          /* status byte: the OUT pin */

#ifndef __ASSEMBLER__
#include <stdbool.h>

static inline uint32_t apic_read(unsigned reg)
{
	return *(volatile uint32_t *)(uintptr_t)(APIC_BASE + reg);
}

static inline void apic_write(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(APIC_BASE + reg) = v;
}

/* Vector v's bit in one of the 256-bit registers: APIC_ISR, _TMR or _IRR. */
static inline bool apic_test_vector(unsigned reg, unsigned v)
{
	return apic_read(reg + 0x10 * (v / 32)) & (1u << (v % 32));
}

static inline uint32_t ioapic_read(unsigned reg)
{
	*(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + IOAPIC_REGSEL) = reg;
	return *(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + IOAPIC_WIN);
}

static inline void ioapic_write(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + IOAPIC_REGSEL) = reg;
	*(volatile uint32_t *)(uintptr_t)(IOAPIC_BASE + IOAPIC_WIN) = v;
}

/*
 * ICW1..ICW4 to both 8259As, cascaded as in a PC: the master's vectors from
 * vec1, the slave's from vec2.  icw4 is the master's; the slave's is always
 * ICW4_UPM, normal EOI (as Linux's init_8259A does even in auto-EOI mode).
 * ICW1 clears each chip's mask, IRR and ISR.
 */
static inline void pic_init(uint8_t vec1, uint8_t vec2, uint8_t icw4)
{
	outb(PIC1_CMD, ICW1 | ICW1_IC4);
	outb(PIC1_DATA, vec1);
	outb(PIC1_DATA, 1u << PIC_CASCADE_IR);   /* ICW3: the slave's input */
	outb(PIC1_DATA, icw4);
	outb(PIC2_CMD, ICW1 | ICW1_IC4);
	outb(PIC2_DATA, vec2);
	outb(PIC2_DATA, PIC_CASCADE_IR);         /* ICW3: its cascade identity */
	outb(PIC2_DATA, ICW4_UPM);
}

/* OCW1: the masks (set: masked). */
static inline void pic_mask(uint8_t master, uint8_t slave)
{
	outb(PIC1_DATA, master);
	outb(PIC2_DATA, slave);
}

/* OCW3 read register: the master's IRR, or its ISR. */
static inline uint8_t pic_irr(void)
{
	outb(PIC1_CMD, OCW3 | OCW3_RR);
	return inb(PIC1_CMD);
}

static inline uint8_t pic_isr(void)
{
	outb(PIC1_CMD, OCW3 | OCW3_RR | OCW3_RIS);
	return inb(PIC1_CMD);
}

/* OCW2 non-specific EOI for IRQ irq: to the slave as well for 8..15. */
static inline void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, OCW2_EOI);
	outb(PIC1_CMD, OCW2_EOI);
}

/* Counter ch: control word (LSB then MSB, binary, mode), then the count. */
static inline void pit_load(unsigned ch, unsigned mode, uint16_t count)
{
	outb(PIT_CTRL, (uint8_t)(PIT_SC(ch) | PIT_RW_LSB_MSB | PIT_M(mode)));
	outb((uint16_t)(PIT_CH0 + ch), (uint8_t)count);
	outb((uint16_t)(PIT_CH0 + ch), (uint8_t)(count >> 8));
}

/* Read-back command, counter ch's status byte only. */
static inline uint8_t pit_status(unsigned ch)
{
	outb(PIT_CTRL, (uint8_t)(PIT_READBACK | PIT_RB_NOCOUNT | PIT_RB_CNT(ch)));
	return inb((uint16_t)(PIT_CH0 + ch));
}

/* Counter latch command, then the latched count, LSB and MSB. */
static inline uint16_t pit_latch(unsigned ch)
{
	uint8_t lo, hi;

	outb(PIT_CTRL, (uint8_t)(PIT_SC(ch) | PIT_RW_LATCH));
	lo = inb((uint16_t)(PIT_CH0 + ch));
	hi = inb((uint16_t)(PIT_CH0 + ch));
	return (uint16_t)(hi << 8 | lo);
}

#endif /* !__ASSEMBLER__ */

#endif
