/*
 * The ACPI tables for a Linux guest and the power-management device they
 * describe (acpi.h).  Field offsets and values follow the ACPI 6.5
 * specification; what Linux (6.1's ACPICA, drivers/acpi and
 * arch/x86/kernel/acpi) does with them is noted where it matters.
 * Everything is little-endian, written byte by byte.
 *
 * Layout (offsets in buf; the guest sees buf[0] at gpa):
 *
 *   0x000  RSDP   36 bytes  revision 2, RsdtAddress 0, XsdtAddress -> XSDT
 *   0x030  XSDT   52 bytes  two entries: FADT, MADT
 *   0x070  FADT  276 bytes  "FACP" revision 6.5, not HW-reduced
 *   0x190  DSDT   49 bytes  header + 13 bytes of AML: Name(_S5_, ...)
 *   0x1d0  MADT   84 bytes  "APIC": local APIC, I/O APIC, two overrides
 *   0x230-0x260  FACS  64 bytes, at the first offset from 0x230 on whose
 *                GPA is 64-byte aligned (the FACS must be: 5.2.10), so
 *                where depends on gpa % 64
 *   end: the FACS's offset + 64, at most 0x2a0 (ACPI_TABLES_LEN)
 *
 * Each table starts on a 16-byte boundary.  There is no RSDT (a guest
 * given acpi=rsdt finds no tables).  The FACS has no checksum and is not
 * in the XSDT: the FADT points at it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "acpi.h"
#include "ioapic.h"
#include "lapic.h"

enum {
	RSDP_OFF = 0x000, RSDP_LEN = 36,
	XSDT_OFF = 0x030, XSDT_LEN = 36 + 2 * 8,
	FADT_OFF = 0x070, FADT_LEN = 276,
	DSDT_OFF = 0x190,
	MADT_OFF = 0x1d0, MADT_LEN = 44 + 8 + 12 + 10 + 10,
	FACS_MIN_OFF = 0x230, FACS_LEN = 64, FACS_ALIGN = 64,
	HDR_LEN = 36,               /* the common table header */
};

/*
 * The DSDT's AML: Name(_S5_, Package(){5, 0, 0, 0}), hand-encoded
 * (ACPI 6.5, 20.2: DefName := NameOp NameString DataRefObject;
 * DefPackage := PackageOp PkgLength NumElements PackageElementList).
 */
static const uint8_t dsdt_aml[] = {
	0x08,                   /* NameOp */
	'_', 'S', '5', '_',     /* NameString: one NameSeg, 4 characters; at
				 * the DSDT's top level the scope is the root,
				 * so the name is \_S5_ */
	0x12,                   /* PackageOp */
	0x07,                   /* PkgLength, one-byte form (bits 7:6 = 0, no
				 * bytes follow; bits 5:0 the length): counts
				 * itself and the rest of the package:
				 * 1 + 1 (NumElements) + 2 + 1 + 1 + 1 = 7 */
	0x04,                   /* NumElements: 4 */
	0x0a, ACPI_S5_SLP_TYP,  /* BytePrefix 5: SLP_TYPa, what PM1a_CNT's
				 * SLP_TYP gets for S5 */
	0x00,                   /* ZeroOp: SLP_TYPb (there is no PM1b_CNT) */
	0x00, 0x00,             /* ZeroOp, ZeroOp: reserved */
};

#define DSDT_LEN (HDR_LEN + (int)sizeof(dsdt_aml))

_Static_assert(RSDP_OFF + RSDP_LEN <= XSDT_OFF, "RSDP overlaps XSDT");
_Static_assert(XSDT_OFF + XSDT_LEN <= FADT_OFF, "XSDT overlaps FADT");
_Static_assert(FADT_OFF + FADT_LEN <= DSDT_OFF, "FADT overlaps DSDT");
_Static_assert(DSDT_OFF + DSDT_LEN <= MADT_OFF, "DSDT overlaps MADT");
_Static_assert(MADT_OFF + MADT_LEN <= FACS_MIN_OFF, "MADT overlaps FACS");
/* gpa is 16-byte aligned, so the FACS moves by at most 48 bytes. */
_Static_assert(FACS_MIN_OFF % 16 == 0, "FACS_MIN_OFF off a 16-byte boundary");
_Static_assert(FACS_MIN_OFF + FACS_ALIGN - 16 + FACS_LEN == ACPI_TABLES_LEN, "ACPI_TABLES_LEN is stale");
/* The loader's firmware area is [0x9e000, 0xa0000). */
_Static_assert(ACPI_TABLES_LEN <= 0x2000, "the tables outgrow the firmware area");

/* FADT Flags (5.2.9, Table 5.10).  As QEMU's PC and Q35 (WBINVD, PROC_C1,
 * SLP_BUTTON, RESET_REG_SUP), except:
 *   PWR_BUTTON set: no fixed-feature power button (nothing would ever set
 *     PWRBTN_STS); Linux then adds no LNXPWRBN device (drivers/acpi/scan.c);
 *   FIX_RTC set: RTC_STS is not in PM1_STS (the RTC's alarm wakes nothing);
 *   RTC_S4 clear: there is no S4;
 *   TMR_VAL_EXT set: PM_TMR is 32 bits (QEMU's is 24).  Linux reads 24 of
 *     them either way (ACPI_PM_MASK); a 32-bit counter wraps every 20
 *     minutes instead of 4.7 s for a guest that uses them all;
 *   USE_PLATFORM_CLOCK clear: an OS that heeds it would drive its
 *     performance counter from the PM timer, an exit to user space a read.
 * HW_REDUCED_ACPI clear: the point of this FADT.  Linux 6.1 on a
 * HW-reduced FADT installs the null PIC and no PIT and maps no ISA IRQs
 * (arch/x86/kernel/acpi/boot.c, acpi_generic_reduced_hw_init). */
#define FADT_WBINVD          (1u << 0)
#define FADT_PROC_C1         (1u << 2)
#define FADT_PWR_BUTTON      (1u << 4)
#define FADT_SLP_BUTTON      (1u << 5)
#define FADT_FIX_RTC         (1u << 6)
#define FADT_TMR_VAL_EXT     (1u << 8)
#define FADT_RESET_REG_SUP   (1u << 10)
#define FADT_FLAGS (FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON | \
		    FADT_FIX_RTC | FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP)

/* FADT IAPC_BOOT_ARCH (5.2.9.3): the ISA devices (16550, PIT, PIC, RTC)
 * are there: LEGACY_DEVICES.  Bit 1 (8042) clear: there is no keyboard
 * controller on this board (QEMU's PC sets it: it has one); Linux then
 * does not probe for one (acpi_parse_fadt, X86_LEGACY_I8042_FIRMWARE_ABSENT).
 * No VGA.  Bit 5, CMOS RTC not present, stays clear: the board has the
 * MC146818 at 0x70 (rtc.c). */
#define IAPC_LEGACY_DEVICES   (1u << 0)
#define IAPC_VGA_NOT_PRESENT  (1u << 2)
#define FADT_IAPC_BOOT_ARCH (IAPC_LEGACY_DEVICES | IAPC_VGA_NOT_PRESENT)
/* FADT CENTURY: the CMOS RAM index of the century (rtc.c, as QEMU's PC);
 * Linux's rtc-cmos takes it from here. */
#define FADT_CENTURY          0x32
/* P_LVL2_LAT > 100 and P_LVL3_LAT > 1000: no C2, no C3 (as QEMU). */
#define FADT_NO_C2_C3         0x0fff

#define MADT_PCAT_COMPAT     (1u << 0)   /* the 8259 pair is present */
#define MADT_LAPIC_ENABLED   (1u << 0)
/* MPS INTI flags (5.2.12.5): polarity bits 1:0, trigger mode bits 3:2. */
#define MPS_CONFORMS         0x0000
#define MPS_ACTIVE_HIGH      0x0001
#define MPS_LEVEL            0x000c

/* Generic Address Structure (5.2.3.2): 12 bytes. */
#define GAS_SYSTEM_IO        1
#define GAS_ACCESS_BYTE      1
#define GAS_ACCESS_WORD      2
#define GAS_ACCESS_DWORD     3

/* FACS (5.2.10): version 2 since ACPI 4.0 (the OSPM flags). */
#define FACS_VERSION         2

#define NS_PER_S             1000000000ull

static const char oem_id[6] = { 'O', 'M', 'B', 'R', 'A', ' ' };
static const char oem_table_id[8] = { 'O', 'M', 'B', 'R', 'A', 'P', 'C', ' ' };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The byte that makes the n bytes at p sum to 0 mod 256 when put in a
 * checksum field that holds 0 now. */
static uint8_t acpi_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

/* The common header (5.2.6); the checksum is set by acpi_seal. */
static void acpi_header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	t[9] = 0;                               /* checksum */
	memcpy(t + 10, oem_id, 6);
	memcpy(t + 16, oem_table_id, 8);
	put32(t + 24, 1);                       /* OEM revision */
	memcpy(t + 28, "OMBR", 4);              /* creator ID */
	put32(t + 32, 1);                       /* creator revision */
}

static void acpi_seal(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = acpi_checksum(t, len);
}

/* A register block of len bytes in System I/O space, accessed size at a
 * time (a GAS_ACCESS_*).  ACPICA takes the access width from the bit
 * width when it is a power of two (hwregs.c, acpi_hw_get_access_bit_width)
 * and warns when the bit width is not 8 times the FADT's 32-bit length
 * field (tbfadt.c, "32/64X length mismatch"): they agree here. */
static void acpi_gas_io(uint8_t *p, uint16_t port, unsigned len, uint8_t size)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = (uint8_t)(8 * len);              /* register bit width */
	p[2] = 0;                               /* register bit offset */
	p[3] = size;
	put64(p + 4, port);
}

static void acpi_rsdp(uint8_t *p, uint64_t xsdt_gpa)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, oem_id, 6);
	p[15] = 2;                              /* revision: ACPI 2.0+ */
	put32(p + 16, 0);                       /* RsdtAddress: none */
	put32(p + 20, RSDP_LEN);
	put64(p + 24, xsdt_gpa);
	p[8] = acpi_checksum(p, 20);            /* over the ACPI 1.0 part */
	p[32] = acpi_checksum(p, RSDP_LEN);     /* over all of it */
}

static void acpi_xsdt(uint8_t *t, uint64_t fadt_gpa, uint64_t madt_gpa)
{
	acpi_header(t, "XSDT", XSDT_LEN, 1);
	put64(t + HDR_LEN, fadt_gpa);
	put64(t + HDR_LEN + 8, madt_gpa);
	acpi_seal(t, XSDT_LEN);
}

/*
 * The FADT (5.2.9, Table 5.9), revision 6 minor 5, every register in both
 * forms as QEMU fills them: the 32-bit block address with its length, and
 * the X_ Generic Address Structure.  ACPICA uses the X_ form when its
 * address is not 0 (tbfadt.c, acpi_tb_convert_fadt).  The FACS and the
 * DSDT are given in the 32-bit field when below 4 GiB: the FACS only
 * there (ACPI: FIRMWARE_CTRL and X_FIRMWARE_CTRL are not both non-zero;
 * QEMU leaves X_FIRMWARE_CTRL 0 too), the DSDT in both (as QEMU).
 *
 * What Linux does with the rest:
 *   SCI_INT 9: the MADT's override for ISA IRQ 9 gives its polarity and
 *     trigger (acpi_parse_int_src_ovr -> acpi_sci_ioapic_setup); without
 *     one Linux would take it level and active low, and the line, never
 *     driven, would sit asserted;
 *   SMI_CMD 0: no ACPI/legacy mode switch; ACPICA takes the machine to be
 *     in ACPI mode without reading SCI_EN (hwacpi.c, acpi_hw_get_mode);
 *     ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ and PSTATE_CNT stay 0;
 *   PM1a_EVT_BLK: ACPICA splits it into PM1_STS and PM1_EN, each half the
 *     bit width, 16 bits (tbfadt.c, acpi_tb_setup_fadt_registers);
 *   PM1a_CNT_BLK: S5 is written there (hwsleep.c, acpi_hw_legacy_sleep);
 *   PM_TMR_BLK: pmtmr_ioport (arch/x86/kernel/acpi/boot.c,
 *     acpi_parse_fadt: X_PM_TMR_BLK when in System I/O), the TSC
 *     calibration reference (arch/x86/kernel/tsc.c) and the acpi_pm
 *     clocksource (drivers/clocksource/acpi_pm.c);
 *   RESET_REG: acpi_reboot (drivers/acpi/reboot.c) writes RESET_VALUE, a
 *     byte, when the revision is 2 or more and RESET_REG_SUP is set.
 * No GPE blocks, no PM1b or PM2 blocks, no C-state ports (no P_BLK: the
 * DSDT declares no processor).  SLEEP_CONTROL_REG and SLEEP_STATUS_REG
 * are for HW-reduced platforms only: 0.
 */
static void acpi_fadt(uint8_t *t, uint64_t dsdt_gpa, uint64_t facs_gpa)
{
	acpi_header(t, "FACP", FADT_LEN, 6);
	if (facs_gpa <= UINT32_MAX)
		put32(t + 36, (uint32_t)facs_gpa);        /* FIRMWARE_CTRL */
	else
		put64(t + 132, facs_gpa);                 /* X_FIRMWARE_CTRL */
	if (dsdt_gpa <= UINT32_MAX)
		put32(t + 40, (uint32_t)dsdt_gpa);        /* DSDT */
	/* 44: reserved (ACPI 1.0's INT_MODEL); 45 Preferred_PM_Profile 0,
	 * unspecified */
	put16(t + 46, ACPI_SCI_IRQ);                      /* SCI_INT */
	/* 48 SMI_CMD 0; 52 ACPI_ENABLE, 53 ACPI_DISABLE, 54 S4BIOS_REQ,
	 * 55 PSTATE_CNT: 0 */
	put32(t + 56, ACPI_PM1_STS_PORT);                 /* PM1a_EVT_BLK */
	put32(t + 64, ACPI_PM1_CNT_PORT);                 /* PM1a_CNT_BLK */
	put32(t + 76, ACPI_PM_TMR_PORT);                  /* PM_TMR_BLK */
	t[88] = 4;                                        /* PM1_EVT_LEN */
	t[89] = 2;                                        /* PM1_CNT_LEN */
	t[91] = 4;                                        /* PM_TMR_LEN */
	/* 80 GPE0_BLK, 84 GPE1_BLK, 92/93 their lengths, 94 GPE1_BASE,
	 * 95 CST_CNT: 0 */
	put16(t + 96, FADT_NO_C2_C3);                     /* P_LVL2_LAT */
	put16(t + 98, FADT_NO_C2_C3);                     /* P_LVL3_LAT */
	/* 100 FLUSH_SIZE, 102 FLUSH_STRIDE, 104 DUTY_OFFSET, 105 DUTY_WIDTH,
	 * 106 DAY_ALRM, 107 MON_ALRM: 0 (no RTC day or month alarm) */
	t[108] = FADT_CENTURY;
	put16(t + 109, FADT_IAPC_BOOT_ARCH);
	put32(t + 112, FADT_FLAGS);
	acpi_gas_io(t + 116, ACPI_RESET_PORT, 1, GAS_ACCESS_BYTE);  /* RESET_REG */
	t[128] = ACPI_RESET_VALUE;
	/* 129 ARM_BOOT_ARCH 0 */
	t[131] = 5;                                       /* FADT minor version: 6.5 */
	put64(t + 140, dsdt_gpa);                         /* X_DSDT */
	acpi_gas_io(t + 148, ACPI_PM1_STS_PORT, 4, GAS_ACCESS_WORD);   /* X_PM1a_EVT_BLK */
	acpi_gas_io(t + 172, ACPI_PM1_CNT_PORT, 2, GAS_ACCESS_WORD);   /* X_PM1a_CNT_BLK */
	acpi_gas_io(t + 208, ACPI_PM_TMR_PORT, 4, GAS_ACCESS_DWORD);   /* X_PM_TMR_BLK */
	/* 160 X_PM1b_EVT_BLK, 184 X_PM1b_CNT_BLK, 196 X_PM2_CNT_BLK,
	 * 220 X_GPE0_BLK, 232 X_GPE1_BLK, 244 SLEEP_CONTROL_REG,
	 * 256 SLEEP_STATUS_REG: 0 */
	memcpy(t + 268, "OMBRAVMM", 8);                   /* hypervisor vendor identity */
	acpi_seal(t, FADT_LEN);
}

static void acpi_dsdt(uint8_t *t)
{
	/* Revision 2: AML integers are 64 bits. */
	acpi_header(t, "DSDT", DSDT_LEN, 2);
	memcpy(t + HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
	acpi_seal(t, DSDT_LEN);
}

/* An Interrupt Source Override (5.2.12.5): ISA IRQ irq is GSI gsi. */
static uint8_t *acpi_madt_iso(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	e[0] = 2;
	e[1] = 10;
	e[2] = 0;                                 /* bus: ISA */
	e[3] = irq;
	put32(e + 4, gsi);
	put16(e + 8, flags);
	return e + 10;
}

/* The MADT (5.2.12) and its four entries. */
static void acpi_madt(uint8_t *t)
{
	uint8_t *e = t + 44;

	acpi_header(t, "APIC", MADT_LEN, 3);
	put32(t + 36, (uint32_t)LAPIC_BASE);      /* local interrupt controller address */
	put32(t + 40, MADT_PCAT_COMPAT);

	e[0] = 0;                                 /* Processor Local APIC */
	e[1] = 8;
	e[2] = 0;                                 /* ACPI processor UID */
	e[3] = 0;                                 /* APIC ID */
	put32(e + 4, MADT_LAPIC_ENABLED);
	e += 8;

	e[0] = 1;                                 /* I/O APIC */
	e[1] = 12;
	e[2] = 0;                                 /* I/O APIC ID */
	e[3] = 0;                                 /* reserved */
	put32(e + 4, (uint32_t)IOAPIC_BASE);
	put32(e + 8, 0);                          /* its first pin is GSI 0 */
	e += 12;

	/* The PIT's IRQ 0 on pin 2, edge and active high as the ISA bus;
	 * the SCI on pin 9, level and active high, as QEMU's PC and Q35. */
	e = acpi_madt_iso(e, 0, 2, MPS_CONFORMS);
	acpi_madt_iso(e, ACPI_SCI_IRQ, ACPI_SCI_IRQ, MPS_ACTIVE_HIGH | MPS_LEVEL);

	acpi_seal(t, MADT_LEN);
}

/* The FACS (5.2.10): no hardware signature (nothing to tell a resume
 * from), no waking vector (no S3), the global lock free, no S4BIOS, no
 * 64-bit wake. */
static void acpi_facs(uint8_t *f)
{
	memcpy(f, "FACS", 4);
	put32(f + 4, FACS_LEN);
	f[32] = FACS_VERSION;
}

int acpi_build(uint8_t *buf, size_t len, uint64_t gpa, struct acpi_tables *out)
{
	struct acpi_tables t;
	size_t facs_off;

	if (gpa % 16 || gpa > UINT64_MAX - ACPI_TABLES_LEN)
		return -EINVAL;
	if (len < ACPI_TABLES_LEN)
		return -ENOSPC;

	facs_off = FACS_MIN_OFF + (size_t)((FACS_ALIGN - (gpa + FACS_MIN_OFF) % FACS_ALIGN) % FACS_ALIGN);
	t.rsdp_gpa = gpa + RSDP_OFF;
	t.xsdt_gpa = gpa + XSDT_OFF;
	t.fadt_gpa = gpa + FADT_OFF;
	t.dsdt_gpa = gpa + DSDT_OFF;
	t.madt_gpa = gpa + MADT_OFF;
	t.facs_gpa = gpa + facs_off;
	t.len = facs_off + FACS_LEN;

	memset(buf, 0, t.len);
	acpi_facs(buf + facs_off);
	acpi_dsdt(buf + DSDT_OFF);
	acpi_fadt(buf + FADT_OFF, t.dsdt_gpa, t.facs_gpa);
	acpi_madt(buf + MADT_OFF);
	acpi_xsdt(buf + XSDT_OFF, t.fadt_gpa, t.madt_gpa);
	acpi_rsdp(buf + RSDP_OFF, t.xsdt_gpa);
	if (out)
		*out = t;
	return 0;
}

/*
 * The device.
 *
 * PM1_STS: TMR_STS is computed from the timer (set when bit 31 of the
 * tick count has flipped since it was last cleared); WAK_STS is set when
 * the guest asks for a sleep other than S5, which the device does not do:
 * it says the system woke at once, so a guest waiting for WAK_STS after
 * its SLP_EN write, as ACPICA does, goes on.  Linux asks for S5 only (it
 * finds no other \_Sx_).  The other status bits (BM, GBL, PWRBTN, SLPBTN,
 * RTC, PCIEXP_WAKE) stay 0: nothing sets them.
 *
 * PM1_EN keeps whatever is written: ACPICA checks that an enable bit it
 * sets reads back (evxfevnt.c, acpi_enable_event), for GBL_EN at least
 * (the global lock handler, evglock.c).  No enable bit has an effect:
 * the SCI is never raised.
 *
 * Accesses come a byte at a time (the glue splits wider ones, low byte
 * first): every field of PM1_CNT that acts (SLP_TYP, SLP_EN) is in its
 * high byte, so a 16-bit write and a write of its two bytes in turn do
 * the same.
 */
void acpi_pm_init(struct acpi_pm *pm, void (*off)(void *opaque, int how), void *opaque)
{
	memset(pm, 0, sizeof(*pm));
	pm->off = off;
	pm->opaque = opaque;
}

static void acpi_pm_off(struct acpi_pm *pm, int how)
{
	if (pm->off)
		pm->off(pm->opaque, how);
}

/* Timer ticks from start_ns to now_ns, rounded down: exact and without
 * overflow (d / 10^9 < 1.9e10 s, times 3579545 < 2^63; the remainder's
 * product < 3.6e15). */
static uint64_t acpi_pm_ticks(const struct acpi_pm *pm, uint64_t now_ns)
{
	uint64_t d;

	if (now_ns <= pm->start_ns)
		return 0;
	d = now_ns - pm->start_ns;
	return d / NS_PER_S * ACPI_PM_TIMER_HZ + d % NS_PER_S * ACPI_PM_TIMER_HZ / NS_PER_S;
}

uint32_t acpi_pm_timer(const struct acpi_pm *pm, uint64_t now_ns)
{
	return (uint32_t)acpi_pm_ticks(pm, now_ns);
}

static uint16_t acpi_pm1_sts(const struct acpi_pm *pm, uint64_t now_ns)
{
	uint16_t v = pm->sts;

	if (acpi_pm_ticks(pm, now_ns) >> 31 != pm->tmr_sts_ticks >> 31)
		v |= ACPI_PM1_TMR_STS;
	return v;
}

uint8_t acpi_pm_read(struct acpi_pm *pm, unsigned off, uint64_t now_ns)
{
	switch (off) {
	case 0:
	case 1:
		return (uint8_t)(acpi_pm1_sts(pm, now_ns) >> (8 * off));
	case 2:
	case 3:
		return (uint8_t)(pm->en >> (8 * (off - 2)));
	case 4:
	case 5:                                   /* SLP_EN, GBL_RLS read 0 */
		return (uint8_t)((pm->cnt | ACPI_PM1_SCI_EN) >> (8 * (off - 4)));
	case 8:
	case 9:
	case 10:
	case 11:
		return (uint8_t)(acpi_pm_timer(pm, now_ns) >> (8 * (off - 8)));
	default:                                  /* 6, 7: nothing there */
		return 0xff;
	}
}

/* The high byte of PM1_CNT: SLP_TYP and SLP_EN. */
static void acpi_pm1_cnt_high(struct acpi_pm *pm, uint8_t val)
{
	uint16_t v = (uint16_t)(val << 8);
	unsigned typ;

	pm->cnt = (uint16_t)((pm->cnt & ~ACPI_SLP_TYP_MASK) | (v & ACPI_SLP_TYP_MASK));
	if (!(v & ACPI_SLP_EN))
		return;
	typ = (pm->cnt & ACPI_SLP_TYP_MASK) >> ACPI_SLP_TYP_SHIFT;
	if (typ == ACPI_S5_SLP_TYP) {
		acpi_pm_off(pm, ACPI_PM_POWEROFF);
	} else {
		pm->sleeps_ignored++;
		pm->last_ignored = (uint16_t)(pm->cnt | ACPI_PM1_SCI_EN | ACPI_SLP_EN);
		pm->sts |= ACPI_PM1_WAK_STS;
	}
}

void acpi_pm_write(struct acpi_pm *pm, unsigned off, uint8_t val, uint64_t now_ns)
{
	switch (off) {
	case 0:                                   /* write 1 to clear */
		if (val & ACPI_PM1_TMR_STS)
			pm->tmr_sts_ticks = acpi_pm_ticks(pm, now_ns);
		pm->sts &= (uint16_t)~val;
		break;
	case 1:
		pm->sts &= (uint16_t)~(val << 8);
		break;
	case 2:
		pm->en = (uint16_t)((pm->en & 0xff00) | val);
		break;
	case 3:
		pm->en = (uint16_t)((pm->en & 0x00ff) | val << 8);
		break;
	case 4:                                   /* SCI_EN fixed, GBL_RLS ignored */
		pm->cnt = (uint16_t)((pm->cnt & ~ACPI_PM1_BM_RLD) | (val & ACPI_PM1_BM_RLD));
		break;
	case 5:
		acpi_pm1_cnt_high(pm, val);
		break;
	default:                                  /* PM_TMR is read-only */
		break;
	}
}

/* The reset control register, as the PIIX's and the ICH's (and QEMU's):
 * bit 2 resets; bits 1 and 3 are kept and read back. */
uint8_t acpi_rcr_read(const struct acpi_pm *pm)
{
	return pm->rcr;
}

void acpi_rcr_write(struct acpi_pm *pm, uint8_t val)
{
	pm->rcr = val & (ACPI_RCR_SYS_RST | ACPI_RCR_FULL_RST);
	if (val & ACPI_RCR_RST_CPU)
		acpi_pm_off(pm, ACPI_PM_RESET);
	else
		pm->resets_ignored++;
}

/* The port glue: the time is CLOCK_MONOTONIC's, read once an access. */
static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* A wider access covers consecutive ports, low byte first; bytes past the
 * device read as all ones, as the bus's unclaimed ports do. */
static void acpi_pm_in(void *opaque, uint16_t port, unsigned size, uint32_t *val)
{
	uint64_t now = monotonic_ns();
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++) {
		unsigned off = (unsigned)port - ACPI_PM_PORT + i;
		uint8_t b = off < ACPI_PM_PORT_LEN ? acpi_pm_read(opaque, off, now) : 0xff;

		v |= (uint32_t)b << (8 * i);
	}
	*val = v;
}

static void acpi_pm_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	uint64_t now = monotonic_ns();

	for (unsigned i = 0; i < size; i++) {
		unsigned off = (unsigned)port - ACPI_PM_PORT + i;

		if (off < ACPI_PM_PORT_LEN)
			acpi_pm_write(opaque, off, (uint8_t)(val >> (8 * i)), now);
	}
}

/* 0xcf9 is one byte; the bytes of a wider access past it (0xcfa-0xcfc)
 * are not the device's. */
static void acpi_rcr_in(void *opaque, uint16_t port, unsigned size, uint32_t *val)
{
	(void)port;
	(void)size;
	*val = 0xffffff00u | acpi_rcr_read(opaque);
}

static void acpi_rcr_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	(void)port;
	(void)size;
	acpi_rcr_write(opaque, (uint8_t)val);
}

/* Whether [base, base + len) meets a device already on bus. */
static bool ports_taken(const struct io_bus *bus, uint16_t base, uint16_t len)
{
	for (unsigned i = 0; i < bus->nr_devs; i++) {
		const struct io_dev *d = &bus->devs[i];

		if (base < d->base + d->len && d->base < base + len)
			return true;
	}
	return false;
}

int acpi_pm_register(struct acpi_pm *pm, struct io_bus *bus)
{
	const struct io_dev devs[] = {
		{ "acpi-pm", ACPI_PM_PORT, ACPI_PM_PORT_LEN, acpi_pm_in, acpi_pm_out, pm },
		{ "reset-control", ACPI_RESET_PORT, 1, acpi_rcr_in, acpi_rcr_out, pm },
	};
	int r = 0;

	/* Both or neither: the bus has no way to take one back. */
	if (bus->nr_devs + 2 > IOBUS_MAX_DEVS)
		return -ENOSPC;
	if (ports_taken(bus, ACPI_PM_PORT, ACPI_PM_PORT_LEN) || ports_taken(bus, ACPI_RESET_PORT, 1))
		return -EEXIST;
	for (unsigned i = 0; r == 0 && i < sizeof(devs) / sizeof(devs[0]); i++)
		r = io_bus_register(bus, &devs[i]);
	if (r == 0) {
		pm->start_ns = monotonic_ns();
		pm->tmr_sts_ticks = 0;
	}
	return r;
}
