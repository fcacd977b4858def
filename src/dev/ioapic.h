/*
 * Shadow mode's I/O APIC: an 82093AA with 24 pins, its registers reached
 * through IOREGSEL and IOWIN, edge and level-triggered pins with remote
 * IRR and the local APIC's EOI, as pure logic over a struct (no KVM, no
 * clock, no I/O) so the unit tests drive it directly.
 *
 * tdp mode uses KVM's in-kernel IOAPIC instead (arch/x86/kvm/ioapic.c);
 * this one behaves as that one does where a guest can tell: the version
 * register, which bits of a redirection entry stick, what unknown
 * registers read, edges lost while a pin is masked, the polarity bit
 * stored but not applied, and a level pin served again when its entry is
 * written or its vector EOIed while the line is still high.
 *
 * The machine has one CPU.  An interrupt reaches its local APIC when the
 * entry's delivery mode is fixed or lowest priority and its destination
 * (bits 63:56) matches that APIC as KVM matches one in xAPIC mode:
 * physical mode (bit 11 clear) the APIC ID or 0xff; logical mode the
 * logical ID in LDR against the destination, flat or cluster model per
 * DFR, or 0xff; and, as KVM's, the APIC must be enabled (in IA32_APIC_BASE
 * and SVR) to take it.  The caller mirrors those registers into the
 * struct (ioapic_sync_lapic).  NMI, SMI, INIT and ExtINT entries are not
 * delivered here: the calls return vectors only (KVM would send the NMI,
 * SMI and INIT).
 */
#ifndef OMBRA_IOAPIC_H
#define OMBRA_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_BASE 0xfec00000ULL
#define IOAPIC_SIZE 0x1000
#define IOAPIC_PINS 24

/* MMIO offsets. */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10

/* Registers through IOWIN; entry n is at 0x10 + 2n (low), 0x11 + 2n (high). */
#define IOAPIC_REG_ID      0x00
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_ARB     0x02
#define IOAPIC_REG_REDIR   0x10

/* Redirection entry bits. */
#define IOAPIC_VECTOR        0xffull
#define IOAPIC_DELIVERY      (7ull << 8)     /* 0 fixed, 1 lowest, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT */
#define IOAPIC_DEST_LOGICAL  (1ull << 11)
#define IOAPIC_STATUS        (1ull << 12)    /* delivery status: read-only, 0 (as KVM) */
#define IOAPIC_POLARITY_LOW  (1ull << 13)    /* stored, not applied (as KVM) */
#define IOAPIC_REMOTE_IRR    (1ull << 14)    /* read-only */
#define IOAPIC_LEVEL         (1ull << 15)
#define IOAPIC_MASKED        (1ull << 16)
#define IOAPIC_DEST_SHIFT    56

struct lapic;

struct ioapic {
	uint32_t id;                 /* the ID register's bits 27:24 */
	uint32_t ioregsel;           /* the register IOWIN reaches (8 bits) */
	uint64_t redir[IOAPIC_PINS];
	uint32_t irr;                /* pin levels (1: asserted) */
	/* The CPU's local APIC as destinations are matched against it: its
	 * ID, LDR and DFR registers (xAPIC format) and whether it is enabled
	 * in both IA32_APIC_BASE and SVR.  Mirrored by the caller; reset to
	 * the local APIC's reset values (ID 0, LDR 0, flat DFR, disabled). */
	uint32_t lapic_id, lapic_ldr, lapic_dfr;
	bool lapic_enabled;
	uint64_t raised;             /* interrupts sent to the local APIC (for reports) */
};

/* As KVM creates its IOAPIC: every entry masked and all else 0. */
void ioapic_reset(struct ioapic *io);
/* Copy what destinations are matched against from the local APIC (after
 * the guest writes its ID, LDR, DFR or SVR, or IA32_APIC_BASE). */
void ioapic_sync_lapic(struct ioapic *io, const struct lapic *a, bool hw_enabled);

/* MMIO: a 32-bit access at off (0x00 IOREGSEL, 0x10 IOWIN; other offsets
 * read 0, writes dropped).  Other sizes are the caller's business (KVM
 * treats them as this access at the same offset, the value truncated or
 * zero-extended).  IOREGSEL keeps the low 8 bits written; through IOWIN
 * a register that does not exist reads 0xffffffff and ignores writes. */
uint32_t ioapic_read(struct ioapic *io, unsigned off);
/* Returns a vector to raise in the local APIC (>= 0) or -1: a write to a
 * level-triggered entry, unmasked, whose line is high with remote IRR
 * clear raises it (unmasking one, for instance). */
int ioapic_write(struct ioapic *io, unsigned off, uint32_t val);

/* Pin level change (level: asserted, whatever the polarity bit says).
 * Returns the vector to raise in the local APIC, or -1: masked, no rising
 * edge on an edge-triggered pin, remote IRR set on a level-triggered one,
 * a line going low, or not one the local APIC takes (above). */
int ioapic_set_irq(struct ioapic *io, unsigned pin, bool level);

/* The local APIC's EOI for a level-triggered vector (its TMR bit set):
 * clear remote IRR of the level-triggered pins with that vector; if such
 * a pin's line is still high (and it is unmasked), it is raised again:
 * returns that vector, or -1. */
int ioapic_eoi(struct ioapic *io, unsigned vector);

/* Is vector that of a level-triggered redirection entry?  KVM's local
 * APIC sets the vector's TMR bit when it takes such an interrupt (and
 * clears it for an edge), and only an EOI of a vector with TMR set
 * reaches the IOAPIC.  (A vector shared by an edge and a level pin
 * answers true.) */
bool ioapic_level_vector(const struct ioapic *io, unsigned vector);

#endif
