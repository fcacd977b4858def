/*
 * The machine board: the small part of a QEMU PC that test kernels use, put
 * together on one port bus.  Both modes build the same board, so the guest
 * sees the same devices in each.
 *
 *   0x3f8-0x3ff  16550 UART (serial.c), its interrupt on IRQ 4
 *   0x70-0x71    CMOS RTC and CMOS memory (rtc.c)
 *   0x600-0x60b  ACPI PM1 event and control registers, PM timer (acpi.c)
 *   0xcf9        reset control register: the run ends, status 0
 *   0xf4-0xf7    isa-debug-exit: the run ends with status (value << 1) | 1
 *   0x510-0x511  fw_cfg (fwcfg.c)
 *   0x8900       Bochs/QEMU "Shutdown" string port: the run ends, status 0
 *   the interrupt hardware (the PIC pair, its ELCR, the PIT, port 0x61)
 *                is each mode's own: KVM's in-kernel irqchip and PIT in
 *                tdp mode, src/shadow/{pic,pit}.c in shadow mode
 *   0x80         POST / delay port: a write is recorded as a phase mark
 *                (time and counters, in the JSON report's "marks")
 *   0xe0-0xf3    only with board_add_test_device (-device ombra-test);
 *                else unassigned ports, as on QEMU's PC:
 *   0xe0-0xe3    the ombra test device: a 32-bit write of a page-aligned
 *                guest-physical address asks ombra to move the memslot
 *                holding it to a new host mapping, its pages with it, before
 *                the next instruction; the same address + 1 deletes that
 *                memslot, + 2 adds a 2 MiB one there (QEMU has nothing
 *                there: the write is ignored);
 *                any write to 0xe4 says "my RAM at exit is deterministic"
 *                (ombra compare then compares a digest of it); a 32-bit
 *                write to 0xec sets the high half of an address and one to
 *                0xe8 its low half and asks ombra to explain that
 *                guest-virtual address now (its translation chain)
 *   0xf0-0xf3    a 32-bit write of a guest-physical address: ombra gives
 *                the page fresh host memory at the same HVA (contents
 *                copied), as a host does when it migrates a page
 */
#ifndef OMBRA_BOARD_H
#define OMBRA_BOARD_H

#include <stdbool.h>
#include <stdint.h>

#include "acpi.h"
#include "fwcfg.h"
#include "iobus.h"
#include "rtc.h"
#include "serial.h"

#define DEBUG_EXIT_PORT  0xf4
#define SHUTDOWN_PORT    0x8900
#define TEST_PORT        0xe0
#define TEST_PORT_LEN    20      /* 0xe0-0xf3 */

/* What the guest asked of the board's power devices. */
enum board_off {
	BOARD_ON = 0,       /* nothing yet */
	BOARD_DEBUG_EXIT,   /* it wrote to isa-debug-exit */
	BOARD_SHUTDOWN,     /* it wrote "Shutdown" to 0x8900 */
	BOARD_ACPI_OFF,     /* ACPI S5: SLP_EN with SLP_TYP 5 in PM1_CNT */
	BOARD_RESET,        /* the reset control register, 0xcf9 (the FADT's RESET_REG) */
};

struct board {
	struct io_bus io;         /* the port bus */
	struct mmio_bus mmio;     /* devices at guest-physical addresses without RAM */
	struct serial serial;     /* COM1 */
	struct fw_cfg fwcfg;      /* fw_cfg */
	struct rtc rtc;           /* the CMOS RTC (no IRQ 8: a guest polls it) */
	struct acpi_pm pm;        /* ACPI's PM1 block and PM timer, the reset register */
	uint8_t shutdown_match;   /* how much of "Shutdown" has been seen */
	enum board_off off;       /* the first power-off the guest asked for */
	int exit_status;          /* process exit status that goes with it */
	uint32_t debug_exit_value;/* what the guest wrote to 0xf4 */
	/* Called once, when the guest first asks to power off (off is set). */
	void (*powered_off)(void *opaque);
	/* The test device's request: move the memslot holding gpa. */
	void (*move_slot)(void *opaque, uint64_t gpa);   /* low bits: 0 move, 1 delete, 2 add */
	void (*remap_page)(void *opaque, uint64_t gpa);
	void (*mark)(void *opaque, uint32_t value);      /* a write to port 0x80 */
	void *move_slot_opaque;
	bool ram_deterministic;   /* the guest wrote to TEST_PORT + 4 */
	void (*explain)(void *opaque, uint64_t gva);
	uint32_t explain_high;    /* the high half written to TEST_PORT + 12 */
	/* An ISA interrupt line's level, into the mode's interrupt
	 * controllers (tdp: KVM's irqchip; shadow: its PIC and I/O APIC).
	 * Set by the mode's devices hook; NULL until then. */
	void (*set_irq)(void *opaque, unsigned irq, bool level);
	void *irq_opaque;
};

int board_init(struct board *b, FILE *serial_out, FILE *log, uint64_t ram_size);
/* The ombra test device on ports 0xe0-0xf3, which board_init leaves out:
 * a guest reaches memslot changes and explain only when the user asked
 * (-device ombra-test).  0 or -errno. */
int board_add_test_device(struct board *b);
void board_destroy(struct board *b);

#endif
