/*
 * Shadow mode's 8254 programmable interval timer (PIT) and the PC's port
 * 0x61 (channel 2's gate and output, the speaker bit), as pure logic over
 * a struct: every call that needs the time is given it in nanoseconds, so
 * the unit tests drive it directly.
 *
 * tdp mode uses KVM's in-kernel PIT instead (KVM_CREATE_PIT2 with its port
 * 0x61).  Where the 8254's data sheet and what KVM and QEMU do part ways,
 * this one does what they do, so the guest sees the same machine in both
 * modes (docs/shadow.md, "The PIT, the PIC and the I/O APIC").
 */
#ifndef OMBRA_PIT_H
#define OMBRA_PIT_H

#include <stdbool.h>
#include <stdint.h>

#define PIT_HZ     1193182u       /* the PC's PIT input clock */
#define PIT_PORT   0x40           /* channels 0-2 at 0x40-0x42, control at 0x43 */
#define PIT_PORT61 0x61

struct pit_channel {
	uint32_t count;               /* the initial count (0 written: 0x10000) */
	uint64_t load_ns;             /* when it was loaded: counting starts */
	uint16_t latched;             /* a latched count, while count_latched */
	uint8_t count_latched;        /* which bytes of it are still to read (an access mode) */
	uint8_t status, status_latched;  /* the read-back command's status byte */
	uint8_t rw_mode;              /* access: 1 LSB, 2 MSB, 3 LSB then MSB */
	uint8_t read_state, write_state, write_lsb;
	uint8_t mode, bcd;            /* as the control word said */
	uint8_t gate;                 /* channel 2: port 0x61 bit 0; the others: 1 */
};

struct pit {
	struct pit_channel ch[3];
	uint8_t speaker_data;         /* port 0x61 bit 1 */
	/* Channel 0 drives IRQ 0: its next rising edge is at irq0_next_ns
	 * (0: none), the periods-th since it was loaded. */
	uint64_t irq0_next_ns, irq0_periods;
	uint64_t irq0_edges;          /* edges raised (a counter for reports) */
};

void pit_reset(struct pit *p);
/* Ports 0x40-0x43, off 0-3. */
uint8_t pit_read(struct pit *p, unsigned off, uint64_t now_ns);
void pit_write(struct pit *p, unsigned off, uint8_t val, uint64_t now_ns);
/* Port 0x61: bit 0 gate 2, bit 1 speaker data, bit 4 the refresh toggle
 * (from the time, as KVM), bit 5 channel 2's output. */
uint8_t pit_port61_read(const struct pit *p, uint64_t now_ns);
void pit_port61_write(struct pit *p, uint8_t val, uint64_t now_ns);

/* Channel 0's edges on IRQ 0 due by now_ns: true if at least one came
 * (several due at once count as one, as an edge-triggered line would).
 * The next is then at p->irq0_next_ns (0: none). */
bool pit_irq0_update(struct pit *p, uint64_t now_ns);

/* For tests and the status byte: channel c's count and output at now_ns. */
uint32_t pit_count(const struct pit *p, unsigned c, uint64_t now_ns);
int pit_out(const struct pit *p, unsigned c, uint64_t now_ns);

#endif
