/*
 * The ACPI tables a Linux guest booted through the Linux boot protocol
 * finds (RSDP, XSDT, a full FADT with its FACS, a DSDT holding \_S5_ and
 * a MADT), and the power-management device they describe, as pure logic:
 * acpi_build writes the tables into a buffer the guest will see at a
 * given guest-physical address, and the device turns the guest's port
 * accesses into register values and its power-off and reset requests
 * into a call of a hook.  No KVM, no files, and every function that needs
 * the time is given it, so the unit tests drive both directly; only the
 * port glue acpi_pm_register installs reads the host clock.
 *
 * The machine the tables describe is the board's (docs/platform.md): one
 * CPU whose local APIC (ID 0) is at 0xfee00000, an I/O APIC (ID 0, GSI
 * base 0, 24 pins) at 0xfec00000 with ISA IRQ n on pin n but the PIT's
 * IRQ 0 on pin 2, the 8259 pair (MADT flag PCAT_COMPAT), the PIT and the
 * CMOS RTC.
 *
 * The FADT is not hardware-reduced: it describes the fixed hardware of a
 * PC's power-management block laid out as QEMU's PIIX4 PM lays it out
 * (PM1 event block, PM1 control block, PM timer, no GPE blocks) at
 * ACPI_PM_PORT, the SCI on ISA IRQ 9 (level, active high, as QEMU's MADT
 * override says), no SMI command port (SMI_CMD 0: the machine is always
 * in ACPI mode, PM1_CNT.SCI_EN always reads 1), and the reset register
 * at 0xcf9, the PIIX/ICH reset control register.  With a full FADT Linux
 * keeps the legacy PC: the 8259s, the PIT and the identity mapping of the
 * ISA IRQs (arch/x86/kernel/acpi/boot.c), and the PM timer gives it a
 * TSC calibration reference and the acpi_pm clocksource.
 *
 * No event is ever signalled: the device has no interrupt line, so the
 * SCI (IRQ 9) is never raised, whatever PM1_EN says.  The status bits it
 * sets are there to be polled: WAK_STS after a sleep it did not do,
 * TMR_STS when the timer's top bit flips.
 */
#ifndef OMBRA_ACPI_H
#define OMBRA_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "iobus.h"

/*
 * The PM block: twelve ports at 0x600 (free on the board; QEMU's ICH9
 * puts its PM block there too), each register little-endian:
 *
 *   0x600  PM1_STS  16 bits  \ the FADT's PM1a_EVT_BLK (PM1_EVT_LEN 4)
 *   0x602  PM1_EN   16 bits  /
 *   0x604  PM1_CNT  16 bits    PM1a_CNT_BLK (PM1_CNT_LEN 2)
 *   0x606  -                   nothing: reads all ones, writes ignored
 *   0x608  PM_TMR   32 bits    PM_TMR_BLK (PM_TMR_LEN 4), read-only
 */
#define ACPI_PM_PORT        0x600
#define ACPI_PM_PORT_LEN    12
#define ACPI_PM1_STS_PORT   (ACPI_PM_PORT + 0)
#define ACPI_PM1_EN_PORT    (ACPI_PM_PORT + 2)
#define ACPI_PM1_CNT_PORT   (ACPI_PM_PORT + 4)
#define ACPI_PM_TMR_PORT    (ACPI_PM_PORT + 8)

/* The reset control register of the PIIX and ICH south bridges: one port,
 * the FADT's RESET_REG.  Bit 2 (reset CPU) resets; bits 1 (hard reset)
 * and 3 (full reset) only choose the kind of reset and read back. */
#define ACPI_RESET_PORT     0xcf9
#define ACPI_RESET_VALUE    0x06        /* the FADT's RESET_VALUE: hard reset + reset CPU */
#define ACPI_RCR_SYS_RST    0x02
#define ACPI_RCR_RST_CPU    0x04
#define ACPI_RCR_FULL_RST   0x08

#define ACPI_SCI_IRQ        9           /* the FADT's SCI_INT, an ISA IRQ */

/* PM1_STS (ACPI 6.5, 4.8.4.1.1): write 1 to clear. */
#define ACPI_PM1_TMR_STS    0x0001      /* PM_TMR's top bit flipped */
#define ACPI_PM1_WAK_STS    0x8000      /* the system woke from a sleep */
/* PM1_CNT (4.8.4.2.1). */
#define ACPI_PM1_SCI_EN     0x0001      /* always 1: no legacy mode */
#define ACPI_PM1_BM_RLD     0x0002      /* stored, no effect */
#define ACPI_PM1_GBL_RLS    0x0004      /* write-only, reads 0, ignored (no firmware) */
#define ACPI_SLP_TYP_SHIFT  10
#define ACPI_SLP_TYP_MASK   0x1c00
#define ACPI_SLP_EN         0x2000      /* write-only, reads 0 */
/* The SLP_TYP \_S5_ gives: a write of 5 << 10 | SLP_EN (0x3400) to
 * PM1_CNT is power-off.  Not 0 (PIIX4's own code for soft-off, and
 * PM1_CNT's reset value): a stray SLP_EN with SLP_TYP untouched is not
 * taken for a power-off. */
#define ACPI_S5_SLP_TYP     5

/* PM_TMR: 32 bits (the FADT's TMR_VAL_EXT), 3.579545 MHz, from 0 when the
 * device is registered. */
#define ACPI_PM_TIMER_HZ    3579545u

/* What acpi_build may use of its buffer, from its start: the most, for
 * the worst alignment of gpa (acpi.c, "Layout"). */
#define ACPI_TABLES_LEN     0x2a0

/* Where acpi_build put each table: guest-physical addresses. */
struct acpi_tables {
	uint64_t rsdp_gpa;   /* the RSDP: boot_params.acpi_rsdp_addr, = gpa */
	uint64_t xsdt_gpa;
	uint64_t fadt_gpa;
	uint64_t dsdt_gpa;
	uint64_t madt_gpa;
	uint64_t facs_gpa;   /* 64-byte aligned */
	size_t len;          /* bytes of buf used from its start (<= ACPI_TABLES_LEN) */
};

/*
 * Write the tables into buf, which the guest sees at guest-physical
 * address gpa (16-byte aligned: the RSDP is first, and a guest that scans
 * for it scans 16-byte boundaries).  Bytes of buf past out->len are not
 * touched.  0, -ENOSPC if len < ACPI_TABLES_LEN, -EINVAL if gpa is not
 * 16-byte aligned or the tables would not fit below 2^64.
 */
int acpi_build(uint8_t *buf, size_t len, uint64_t gpa, struct acpi_tables *out);

/* What the guest asked of the power device (the hook's how). */
enum acpi_pm_how {
	ACPI_PM_POWEROFF = 1,   /* SLP_EN with SLP_TYP 5 (S5) */
	ACPI_PM_RESET,          /* bit 2 (reset CPU) written to 0xcf9 */
};

struct acpi_pm {
	/* Called at each power-off or reset request, how an acpi_pm_how. */
	void (*off)(void *opaque, int how);
	void *opaque;
	uint64_t start_ns;        /* when PM_TMR read 0 (CLOCK_MONOTONIC, set by
				   * acpi_pm_register; 0 after acpi_pm_init) */
	uint64_t tmr_sts_ticks;   /* timer ticks since start_ns at the last TMR_STS clear */
	uint16_t sts;             /* PM1_STS but TMR_STS: WAK_STS or 0 */
	uint16_t en;              /* PM1_EN, as written */
	uint16_t cnt;             /* PM1_CNT's stored bits: BM_RLD, SLP_TYP */
	uint8_t rcr;              /* 0xcf9: bits 1 and 3 of the last write */
	uint64_t sleeps_ignored;  /* SLP_EN writes with a SLP_TYP other than 5 */
	uint16_t last_ignored;    /* ... PM1_CNT's value with SLP_EN of the last one */
	uint64_t resets_ignored;  /* writes to 0xcf9 without bit 2 */
};

void acpi_pm_init(struct acpi_pm *pm, void (*off)(void *opaque, int how), void *opaque);
/* The PM block at ACPI_PM_PORT and the reset register at ACPI_RESET_PORT
 * on bus, and start_ns = now (CLOCK_MONOTONIC): 0, or -errno
 * (io_bus_register's) with neither registered. */
int acpi_pm_register(struct acpi_pm *pm, struct io_bus *bus);

/* PM_TMR at now_ns (CLOCK_MONOTONIC): (now_ns - start_ns) * 3579545 / 10^9
 * rounded down, modulo 2^32; 0 before start_ns. */
uint32_t acpi_pm_timer(const struct acpi_pm *pm, uint64_t now_ns);
/* One byte of the PM block at ACPI_PM_PORT + off (0-11) at now_ns; what
 * the bus glue calls for each byte of an access, low byte first. */
uint8_t acpi_pm_read(struct acpi_pm *pm, unsigned off, uint64_t now_ns);
void acpi_pm_write(struct acpi_pm *pm, unsigned off, uint8_t val, uint64_t now_ns);
/* The reset control register. */
uint8_t acpi_rcr_read(const struct acpi_pm *pm);
void acpi_rcr_write(struct acpi_pm *pm, uint8_t val);

#endif
