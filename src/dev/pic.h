/*
 * Shadow mode's legacy PIC pair: two 8259As, the slave cascaded on the
 * master's IRQ 2, with their ELCR registers (ports 0x4d0, 0x4d1), as pure
 * logic over a struct so the unit tests drive it directly.
 *
 * tdp mode uses KVM's in-kernel PIC instead.  This one follows the 8259A
 * data sheet and, where it leaves a choice, QEMU and KVM (reset state as
 * KVM's; the poll command and ICW1 clearing ISR as the data sheet and
 * QEMU, which KVM does not follow: docs/shadow.md, "The PIT, the PIC and
 * the I/O APIC").  The pair's output reaches the CPU through the local
 * APIC's LINT0 in ExtINT mode.
 */
#ifndef OMBRA_PIC_H
#define OMBRA_PIC_H

#include <stdbool.h>
#include <stdint.h>

#define PIC_MASTER 0x20
#define PIC_SLAVE  0xa0
#define PIC_ELCR   0x4d0

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t last_irr;            /* input levels seen (edge detection) */
	uint8_t elcr, elcr_mask;     /* level-triggered inputs; which may be */
	uint8_t priority_add;        /* the lowest-priority IRQ + 1 (rotation) */
	uint8_t irq_base;            /* ICW2: vector of IRQ 0 */
	uint8_t init_state;          /* 0 ready; 1, 2, 3: ICW2, ICW3, ICW4 next */
	bool init4, single;          /* ICW1: ICW4 comes; no slave */
	bool auto_eoi, rotate_on_auto_eoi, special_fully_nested;
	bool read_isr;               /* OCW3: the command port reads ISR (else IRR) */
	bool poll, special_mask;
};

struct pic {
	struct pic_chip chip[2];     /* master, slave */
	uint64_t intacks;            /* interrupts the CPU took from it (for reports) */
};

void pic_reset(struct pic *p);
/* port: 0x20, 0x21, 0xa0, 0xa1, 0x4d0 or 0x4d1. */
uint8_t pic_read(struct pic *p, uint16_t port);
void pic_write(struct pic *p, uint16_t port, uint8_t val);
/* An input's level: irq 0-7 on the master, 8-15 on the slave. */
void pic_set_irq(struct pic *p, unsigned irq, bool level);
/* The INTR line to the CPU. */
bool pic_output(const struct pic *p);
/* The CPU's interrupt acknowledge: the vector (a spurious IRQ 7 or 15
 * when nothing is pending any more). */
unsigned pic_intack(struct pic *p);

#endif
