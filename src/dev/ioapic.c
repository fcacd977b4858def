/*
 * Shadow mode's I/O APIC (ioapic.h): the 82093AA's ID, version,
 * arbitration and redirection table registers behind IOREGSEL/IOWIN, and
 * its pins.  Where KVM's in-kernel IOAPIC departs from the data sheet
 * this follows KVM, so tdp and shadow mode show a guest the same chip:
 * the arbitration register reads as the ID, delivery status always reads
 * 0, an edge on a masked pin is lost, writing an entry as edge-triggered
 * clears its remote IRR, and unknown registers read all ones.  KVM's
 * guard against a level interrupt storm (the 10,000th re-raise in a row
 * on EOI deferred by 10 ms) needs a clock and is left out.
 */
#include <string.h>

#include "ioapic.h"
#include "lapic.h"

#define IOAPIC_VERSION  0x11u           /* the 82093AA's, and KVM's */
#define DM_FIXED        0u
#define DM_LOWEST       1u
#define BROADCAST       0xffu
#define DFR_FLAT        0xffffffffu
#define DFR_CLUSTER     0x0fffffffu

/* Does the interrupt of entry e reach the CPU's local APIC, and does it
 * take it?  Only fixed and lowest-priority interrupts are vectors to
 * raise; the destination is matched as KVM's xAPIC does. */
static bool reaches(const struct ioapic *io, uint64_t e)
{
	unsigned mode = (unsigned)((e & IOAPIC_DELIVERY) >> 8);
	unsigned dest = (unsigned)(e >> IOAPIC_DEST_SHIFT);
	unsigned lid = io->lapic_ldr >> 24;

	if ((mode != DM_FIXED && mode != DM_LOWEST) || !io->lapic_enabled)
		return false;
	if (dest == BROADCAST)
		return true;
	if (!(e & IOAPIC_DEST_LOGICAL))
		return dest == io->lapic_id >> 24;
	switch (io->lapic_dfr) {
	case DFR_FLAT:
		return (lid & dest) != 0;
	case DFR_CLUSTER:
		return (lid >> 4) == (dest >> 4) && (lid & dest & 0xf) != 0;
	default:
		return false;
	}
}

/* Send pin's interrupt if it may go: unmasked, and for a level pin no
 * earlier one awaiting its EOI.  A level pin that was delivered waits in
 * remote IRR; one the APIC did not take does not (KVM's ioapic_service). */
static int service(struct ioapic *io, unsigned pin)
{
	uint64_t *e = &io->redir[pin];

	if (*e & IOAPIC_MASKED)
		return -1;
	if ((*e & IOAPIC_LEVEL) && (*e & IOAPIC_REMOTE_IRR))
		return -1;
	if (!reaches(io, *e))
		return -1;
	if (*e & IOAPIC_LEVEL)
		*e |= IOAPIC_REMOTE_IRR;
	io->raised++;
	return (int)(*e & IOAPIC_VECTOR);
}

int ioapic_set_irq(struct ioapic *io, unsigned pin, bool level)
{
	uint32_t bit, old;

	if (pin >= IOAPIC_PINS)
		return -1;
	bit = 1u << pin;
	if (!level) {
		io->irr &= ~bit;
		return -1;
	}
	old = io->irr;
	io->irr |= bit;
	/* an edge pin sends on the rising edge only, masked or not: a masked
	 * one's edge is gone */
	if (!(io->redir[pin] & IOAPIC_LEVEL) && (old & bit))
		return -1;
	return service(io, pin);
}

int ioapic_eoi(struct ioapic *io, unsigned vector)
{
	int ret = -1;

	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t *e = &io->redir[pin];

		if ((*e & IOAPIC_VECTOR) != vector || !(*e & IOAPIC_LEVEL))
			continue;
		*e &= ~IOAPIC_REMOTE_IRR;
		if ((io->irr & (1u << pin)) && service(io, pin) >= 0)
			ret = (int)vector;
	}
	return ret;
}

bool ioapic_level_vector(const struct ioapic *io, unsigned vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		if ((io->redir[pin] & IOAPIC_LEVEL) &&
		    (io->redir[pin] & IOAPIC_VECTOR) == vector)
			return true;
	return false;
}

/* The redirection entry IOREGSEL selects, or NULL. */
static uint64_t *entry(struct ioapic *io)
{
	unsigned n = (io->ioregsel - IOAPIC_REG_REDIR) / 2;

	if (io->ioregsel < IOAPIC_REG_REDIR || n >= IOAPIC_PINS)
		return NULL;
	return &io->redir[n];
}

static uint32_t read_window(struct ioapic *io)
{
	uint64_t *e;

	switch (io->ioregsel) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB:
		return (io->id & 0xf) << 24;
	case IOAPIC_REG_VERSION:
		return (IOAPIC_PINS - 1) << 16 | IOAPIC_VERSION;
	}
	e = entry(io);
	if (!e)
		return 0xffffffff;
	return io->ioregsel & 1 ? (uint32_t)(*e >> 32) : (uint32_t)*e;
}

/* A write through IOWIN; the entry's read-only bits (delivery status,
 * remote IRR) keep their values, except that an edge-triggered entry has
 * no remote IRR (some OSes write an entry as edge to clear it).  Then a
 * level pin that may go is sent (KVM's ioapic_write_indirect). */
static int write_window(struct ioapic *io, uint32_t val)
{
	const uint64_t ro = IOAPIC_STATUS | IOAPIC_REMOTE_IRR;
	uint64_t *e, old;
	unsigned pin;

	switch (io->ioregsel) {
	case IOAPIC_REG_ID:
		io->id = (val >> 24) & 0xf;
		return -1;
	case IOAPIC_REG_VERSION:
	case IOAPIC_REG_ARB:
		return -1;
	}
	e = entry(io);
	if (!e)
		return -1;
	pin = (unsigned)(e - io->redir);
	old = *e;
	if (io->ioregsel & 1)
		*e = (old & 0xffffffffull) | (uint64_t)val << 32;
	else
		*e = (old & ~0xffffffffull) | val;
	*e = (*e & ~ro) | (old & ro);
	if (!(*e & IOAPIC_LEVEL)) {
		*e &= ~IOAPIC_REMOTE_IRR;
		return -1;
	}
	if (!(io->irr & (1u << pin)))
		return -1;
	return service(io, pin);
}

uint32_t ioapic_read(struct ioapic *io, unsigned off)
{
	switch (off) {
	case IOAPIC_REGSEL:
		return io->ioregsel;
	case IOAPIC_WINDOW:
		return read_window(io);
	default:
		return 0;
	}
}

int ioapic_write(struct ioapic *io, unsigned off, uint32_t val)
{
	switch (off) {
	case IOAPIC_REGSEL:
		io->ioregsel = val & 0xff;
		return -1;
	case IOAPIC_WINDOW:
		return write_window(io, val);
	default:
		return -1;
	}
}

void ioapic_sync_lapic(struct ioapic *io, const struct lapic *a, bool hw_enabled)
{
	io->lapic_id = a->id;
	io->lapic_ldr = a->ldr;
	io->lapic_dfr = a->dfr;
	io->lapic_enabled = hw_enabled && (a->svr & LAPIC_SVR_ENABLE);
}

void ioapic_reset(struct ioapic *io)
{
	memset(io, 0, sizeof(*io));
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->redir[pin] = IOAPIC_MASKED;
	io->lapic_dfr = DFR_FLAT;
}
