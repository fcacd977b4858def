/*
 * The ACPI tables (src/dev/acpi.c) read back by a checker written here
 * from the ACPI 6.5 specification, not from the builder: it finds the RSDP
 * by its signature, checks both its checksums, follows XsdtAddress and
 * every table it reaches the way a guest would (guest-physical addresses
 * turned back into offsets in the buffer), checks each header's length
 * and checksum, and reads the fields Linux uses at their specification
 * offsets (FADT: Table 5.9; FACS: Table 5.14; MADT: 5.2.12).  The AML of
 * \_S5_ is written out here byte by byte.  Then the power-management
 * device through the port bus, as a guest reaches it: PM1_CNT's SCI_EN,
 * S5 through PM1_CNT (one 16-bit write, as ACPICA does it, or two bytes),
 * other sleep types answered with WAK_STS, PM1_STS write-1-to-clear,
 * PM1_EN read back, the PM timer's count worked out by hand, and the
 * reset control register at 0xcf9.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "dev/acpi.h"
#include "dev/iobus.h"

#define BUF_LEN 4096

static uint8_t buf[BUF_LEN];

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static unsigned sum(const uint8_t *p, size_t n)
{
	unsigned s = 0;

	while (n--)
		s += *p++;
	return s & 0xff;
}

/* The guest-physical range [a, a + n) as a pointer into buf, which the
 * guest sees at base; fails the test if it is not inside buf. */
static const uint8_t *at(uint64_t base, uint64_t a, uint64_t n)
{
	cr_assert(a >= base && a - base <= BUF_LEN && n <= BUF_LEN - (a - base),
		  "GPA %#llx (+%llu) is outside the tables at %#llx", (unsigned long long)a,
		  (unsigned long long)n, (unsigned long long)base);
	return buf + (a - base);
}

/* A table at GPA a: its signature, its Length inside buf, its checksum. */
static const uint8_t *table(uint64_t base, uint64_t a, const char *sig, uint32_t *len)
{
	const uint8_t *t = at(base, a, 36);

	cr_assert(memcmp(t, sig, 4) == 0, "table at %#llx is %.4s, not %s", (unsigned long long)a, t, sig);
	*len = rd32(t + 4);
	cr_assert_geq(*len, 36, "%s shorter than its header", sig);
	at(base, a, *len);
	cr_assert_eq(sum(t, *len), 0, "%s checksum", sig);
	return t;
}

/* The RSDP, found as a guest finds one: "RSD PTR " on a 16-byte boundary. */
static const uint8_t *find_rsdp(void)
{
	for (size_t off = 0; off + 36 <= BUF_LEN; off += 16)
		if (memcmp(buf + off, "RSD PTR ", 8) == 0)
			return buf + off;
	cr_assert_fail("no RSDP");
	return NULL;
}

struct found {
	const uint8_t *fadt, *madt, *dsdt, *facs;
	uint32_t fadt_len, madt_len, dsdt_len;
	uint64_t facs_gpa;
};

/*
 * The FACS (5.2.10): FIRMWARE_CTRL (FADT offset 36) or X_FIRMWARE_CTRL
 * (132).  ACPI says that when one is non-zero the other must be zero, so
 * the checker wants exactly one.  No checksum; signature, Length 64 and a
 * 64-byte aligned address.
 */
static const uint8_t *find_facs(uint64_t base, const uint8_t *fadt, uint64_t *gpa)
{
	uint32_t facs32 = rd32(fadt + 36);
	uint64_t facs64 = rd64(fadt + 132);
	const uint8_t *f;

	cr_assert((facs32 != 0) != (facs64 != 0), "exactly one of FIRMWARE_CTRL (%#x) and X_FIRMWARE_CTRL "
		  "(%#llx) is set", facs32, (unsigned long long)facs64);
	*gpa = facs32 ? facs32 : facs64;
	cr_assert_eq(*gpa % 64, 0, "the FACS at %#llx is not 64-byte aligned", (unsigned long long)*gpa);
	f = at(base, *gpa, 64);
	cr_assert(memcmp(f, "FACS", 4) == 0, "FACS signature");
	cr_assert_eq(rd32(f + 4), 64, "FACS length 64");
	return f;
}

/* RSDP -> XSDT -> every table, checked; FACP, APIC, (through X_DSDT) DSDT
 * and (through the FADT) the FACS returned. */
static struct found walk(uint64_t base)
{
	struct found f = { 0 };
	const uint8_t *rsdp = find_rsdp(), *xsdt;
	uint32_t xlen;

	cr_assert_eq(sum(rsdp, 20), 0, "RSDP checksum (first 20 bytes)");
	cr_assert_eq(rsdp[15], 2, "RSDP revision 2 (ACPI 2.0+)");
	cr_assert_eq(rd32(rsdp + 20), 36, "RSDP length");
	cr_assert_eq(sum(rsdp, rd32(rsdp + 20)), 0, "RSDP extended checksum");

	xsdt = table(base, rd64(rsdp + 24), "XSDT", &xlen);
	cr_assert_eq((xlen - 36) % 8, 0, "XSDT entries are 8 bytes");
	for (uint32_t i = 0; i < (xlen - 36) / 8; i++) {
		uint64_t a = rd64(xsdt + 36 + 8 * i);
		const uint8_t *t = at(base, a, 36);
		uint32_t len;

		if (memcmp(t, "FACP", 4) == 0) {
			cr_assert_null(f.fadt, "two FADTs");
			f.fadt = table(base, a, "FACP", &f.fadt_len);
		} else if (memcmp(t, "APIC", 4) == 0) {
			cr_assert_null(f.madt, "two MADTs");
			f.madt = table(base, a, "APIC", &f.madt_len);
		} else {
			char sig[5] = { 0 };

			memcpy(sig, t, 4);
			table(base, a, sig, &len);
		}
	}
	cr_assert_not_null(f.fadt, "no FADT in the XSDT");
	cr_assert_not_null(f.madt, "no MADT in the XSDT");
	f.dsdt = table(base, rd64(f.fadt + 140), "DSDT", &f.dsdt_len);
	f.facs = find_facs(base, f.fadt, &f.facs_gpa);
	return f;
}

/* A Generic Address Structure for an I/O register block of len bytes;
 * the access size any (0) or one that divides it. */
static void expect_gas_io(const uint8_t *g, uint16_t port, unsigned len, const char *what)
{
	cr_expect_eq(g[0], 1, "%s: space ID System I/O", what);
	cr_expect_eq(g[1], 8 * len, "%s: bit width %u", what, 8 * len);
	cr_expect_eq(g[2], 0, "%s: bit offset 0", what);
	cr_expect(g[3] <= 3 && (g[3] == 0 || len % (1u << (g[3] - 1)) == 0), "%s: access size %u", what, g[3]);
	cr_expect_eq(rd64(g + 4), port, "%s: address %#x", what, port);
}

static void expect_gas_none(const uint8_t *g, const char *what)
{
	cr_expect_eq(rd64(g + 4), 0, "%s: not there (address 0)", what);
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

TestSuite(acpi);

Test(acpi, rsdp_xsdt_and_checksums)
{
	struct acpi_tables t;
	struct found f;

	memset(buf, 0xaa, sizeof(buf));
	cr_assert_eq(acpi_build(buf, sizeof(buf), 0xe0000, &t), 0);
	cr_expect_eq(t.rsdp_gpa, 0xe0000, "the RSDP comes first");
	cr_expect_leq(t.len, ACPI_TABLES_LEN);
	f = walk(0xe0000);
	cr_expect_eq(t.fadt_gpa, 0xe0000 + (uint64_t)(f.fadt - buf));
	cr_expect_eq(t.madt_gpa, 0xe0000 + (uint64_t)(f.madt - buf));
	cr_expect_eq(t.dsdt_gpa, 0xe0000 + (uint64_t)(f.dsdt - buf));
	cr_expect_eq(t.facs_gpa, f.facs_gpa);
	for (size_t i = t.len; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0xaa, "byte %zu past the reported length was written", i);
}

Test(acpi, fadt_is_full_acpi_with_the_pm_blocks)
{
	struct found f;
	uint32_t flags;

	cr_assert_eq(acpi_build(buf, sizeof(buf), 0x9e000, NULL), 0);
	f = walk(0x9e000);
	cr_expect_eq(f.fadt_len, 276, "ACPI 6 FADT length");
	cr_expect_eq(f.fadt[8], 6, "FADT major revision 6");

	flags = rd32(f.fadt + 112);
	cr_expect_not(flags & (1u << 20), "flags: not HW_REDUCED_ACPI");
	cr_expect(flags & (1u << 0), "flags: WBINVD");
	cr_expect(flags & (1u << 2), "flags: PROC_C1");
	cr_expect(flags & (1u << 4), "flags: PWR_BUTTON (no fixed power button)");
	cr_expect(flags & (1u << 5), "flags: SLP_BUTTON (no fixed sleep button)");
	cr_expect(flags & (1u << 8), "flags: TMR_VAL_EXT (the timer is 32 bits)");
	cr_expect(flags & (1u << 10), "flags: RESET_REG_SUP");

	cr_expect_eq(rd16(f.fadt + 46), 9, "SCI_INT 9");
	cr_expect_eq(rd32(f.fadt + 48), 0, "SMI_CMD 0: no mode switch");
	cr_expect_eq(f.fadt[52], 0, "ACPI_ENABLE 0");
	cr_expect_eq(f.fadt[53], 0, "ACPI_DISABLE 0");

	/* The 32-bit blocks and their lengths. */
	cr_expect_eq(rd32(f.fadt + 56), 0x600, "PM1a_EVT_BLK");
	cr_expect_eq(rd32(f.fadt + 60), 0, "PM1b_EVT_BLK: none");
	cr_expect_eq(rd32(f.fadt + 64), 0x604, "PM1a_CNT_BLK");
	cr_expect_eq(rd32(f.fadt + 68), 0, "PM1b_CNT_BLK: none");
	cr_expect_eq(rd32(f.fadt + 72), 0, "PM2_CNT_BLK: none");
	cr_expect_eq(rd32(f.fadt + 76), 0x608, "PM_TMR_BLK");
	cr_expect_eq(rd32(f.fadt + 80), 0, "GPE0_BLK: none");
	cr_expect_eq(rd32(f.fadt + 84), 0, "GPE1_BLK: none");
	cr_expect_eq(f.fadt[88], 4, "PM1_EVT_LEN");
	cr_expect_eq(f.fadt[89], 2, "PM1_CNT_LEN");
	cr_expect_eq(f.fadt[90], 0, "PM2_CNT_LEN");
	cr_expect_eq(f.fadt[91], 4, "PM_TMR_LEN");
	cr_expect_eq(f.fadt[92], 0, "GPE0_BLK_LEN");
	cr_expect_eq(f.fadt[93], 0, "GPE1_BLK_LEN");
	cr_expect_gt(rd16(f.fadt + 96), 100, "P_LVL2_LAT > 100: no C2");
	cr_expect_gt(rd16(f.fadt + 98), 1000, "P_LVL3_LAT > 1000: no C3");

	/* The same blocks as X_ Generic Address Structures. */
	expect_gas_io(f.fadt + 148, 0x600, 4, "X_PM1a_EVT_BLK");
	expect_gas_none(f.fadt + 160, "X_PM1b_EVT_BLK");
	expect_gas_io(f.fadt + 172, 0x604, 2, "X_PM1a_CNT_BLK");
	expect_gas_none(f.fadt + 184, "X_PM1b_CNT_BLK");
	expect_gas_none(f.fadt + 196, "X_PM2_CNT_BLK");
	expect_gas_io(f.fadt + 208, 0x608, 4, "X_PM_TMR_BLK");
	expect_gas_none(f.fadt + 220, "X_GPE0_BLK");
	expect_gas_none(f.fadt + 232, "X_GPE1_BLK");
	expect_gas_none(f.fadt + 244, "SLEEP_CONTROL_REG (HW-reduced only)");
	expect_gas_none(f.fadt + 256, "SLEEP_STATUS_REG (HW-reduced only)");

	expect_gas_io(f.fadt + 116, 0xcf9, 1, "RESET_REG");
	cr_expect_eq(f.fadt[128], 0x06, "RESET_VALUE: hard reset + reset CPU");

	cr_expect_eq(rd32(f.fadt + 40), rd64(f.fadt + 140), "DSDT equals X_DSDT below 4 GiB");
	cr_expect_neq(rd32(f.fadt + 36), 0, "FIRMWARE_CTRL below 4 GiB");
	cr_expect(rd16(f.fadt + 109) & (1u << 0), "IAPC_BOOT_ARCH: LEGACY_DEVICES");
	cr_expect_not(rd16(f.fadt + 109) & (1u << 1), "IAPC_BOOT_ARCH: no 8042");
	cr_expect_not(rd16(f.fadt + 109) & (1u << 5), "IAPC_BOOT_ARCH: the CMOS RTC is present");
	cr_expect_eq(f.fadt[108], 0x32, "CENTURY: CMOS index 0x32");

	cr_expect_eq(rd32(f.facs + 20), 0, "FACS flags: no S4BIOS, no 64-bit wake");
	cr_expect_eq(rd32(f.facs + 16), 0, "FACS global lock free");
}

/* The FACS stays 64-byte aligned, inside ACPI_TABLES_LEN and clear of the
 * other tables whatever gpa's alignment beyond 16 bytes. */
Test(acpi, facs_aligned_for_every_gpa)
{
	for (uint64_t base = 0x9e000; base < 0x9e000 + 64; base += 16) {
		struct acpi_tables t;
		struct found f;
		uint64_t facs;

		memset(buf, 0xaa, sizeof(buf));
		cr_assert_eq(acpi_build(buf, sizeof(buf), base, &t), 0);
		f = walk(base);
		facs = f.facs_gpa;
		cr_expect_eq(facs % 64, 0, "gpa %#llx: FACS at %#llx", (unsigned long long)base,
			     (unsigned long long)facs);
		cr_expect_leq(facs + 64 - base, t.len, "gpa %#llx: the FACS is inside the reported length",
			      (unsigned long long)base);
		cr_expect_leq(t.len, ACPI_TABLES_LEN);
		cr_expect_leq(ACPI_TABLES_LEN, 0x2000, "the loader's firmware area is 8 KiB");
		for (int i = 0; i < 3; i++) {
			const uint8_t *tb = i == 0 ? f.fadt : i == 1 ? f.madt : f.dsdt;
			uint64_t a = base + (uint64_t)(tb - buf), len = rd32(tb + 4);

			cr_expect(facs >= a + len || facs + 64 <= a, "gpa %#llx: the FACS overlaps %.4s",
				  (unsigned long long)base, tb);
		}
		for (size_t i = t.len; i < sizeof(buf); i++)
			cr_assert_eq(buf[i], 0xaa, "gpa %#llx: byte %zu past the reported length written",
				     (unsigned long long)base, i);
	}
}

Test(acpi, dsdt_holds_s5)
{
	/*
	 * Name(_S5_, Package(){5, 0, 0, 0}) by hand: NameOp 08, NameSeg
	 * "_S5_", PackageOp 12, PkgLength 07 (itself + 6 bytes), NumElements
	 * 04, BytePrefix 0A with 05, then three ZeroOps.
	 */
	static const uint8_t s5[] = {
		0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00,
	};
	struct found f;

	cr_assert_eq(acpi_build(buf, sizeof(buf), 0xe0000, NULL), 0);
	f = walk(0xe0000);
	cr_expect_geq(f.dsdt[8], 2, "DSDT revision 2+: 64-bit AML integers");
	cr_expect(contains(f.dsdt + 36, f.dsdt_len - 36, s5, sizeof(s5)), "the AML holds Name(_S5_, ...)");
	cr_expect_eq(f.dsdt_len, 36 + sizeof(s5), "nothing else in the DSDT");
	cr_expect_eq(ACPI_S5_SLP_TYP, 5, "the device's S5 is the AML's");
}

Test(acpi, madt_describes_one_cpu_the_ioapic_and_two_overrides)
{
	struct found f;
	unsigned lapics = 0, ioapics = 0, iso0 = 0, iso9 = 0;
	uint32_t off;

	cr_assert_eq(acpi_build(buf, sizeof(buf), 0xe0000, NULL), 0);
	f = walk(0xe0000);
	cr_expect_eq(rd32(f.madt + 36), 0xfee00000, "local APIC address");
	cr_expect(rd32(f.madt + 40) & 1, "flags: PCAT_COMPAT");
	for (off = 44; off < f.madt_len; off += f.madt[off + 1]) {
		const uint8_t *e = f.madt + off;

		cr_assert_geq(e[1], 2, "entry at %u: length", off);
		cr_assert_leq(off + e[1], f.madt_len, "entry at %u runs past the MADT", off);
		switch (e[0]) {
		case 0:
			lapics++;
			cr_expect_eq(e[1], 8, "Processor Local APIC length");
			cr_expect_eq(e[3], 0, "APIC ID 0");
			cr_expect(rd32(e + 4) & 1, "enabled");
			break;
		case 1:
			ioapics++;
			cr_expect_eq(e[1], 12, "I/O APIC length");
			cr_expect_eq(e[2], 0, "I/O APIC ID 0");
			cr_expect_eq(rd32(e + 4), 0xfec00000, "I/O APIC address");
			cr_expect_eq(rd32(e + 8), 0, "GSI base 0");
			break;
		case 2:
			cr_expect_eq(e[1], 10, "Interrupt Source Override length");
			cr_expect_eq(e[2], 0, "bus 0 (ISA)");
			if (e[3] == 0) {
				iso0++;
				cr_expect_eq(rd32(e + 4), 2, "IRQ 0: GSI 2");
				cr_expect_eq(rd16(e + 8), 0, "IRQ 0: flags conform to the bus (edge, high)");
			} else if (e[3] == 9) {
				iso9++;
				cr_expect_eq(rd32(e + 4), 9, "IRQ 9 (the SCI): GSI 9");
				/* polarity 01 active high, trigger 11 level */
				cr_expect_eq(rd16(e + 8), 0x000d, "IRQ 9: active high, level");
			} else {
				cr_expect_fail("override of unexpected IRQ %u", e[3]);
			}
			break;
		default:
			cr_expect_fail("unexpected MADT entry type %u", e[0]);
		}
	}
	cr_expect_eq(off, f.madt_len, "the entries fill the MADT exactly");
	cr_expect_eq(lapics, 1);
	cr_expect_eq(ioapics, 1);
	cr_expect_eq(iso0, 1, "one override for IRQ 0");
	cr_expect_eq(iso9, 1, "one override for the SCI");
	cr_expect_eq(rd16(f.fadt + 46), 9, "the override is for the FADT's SCI_INT");
}

Test(acpi, above_4g_only_the_x_forms)
{
	uint64_t base = 0x100000000ull;
	struct found f;

	cr_assert_eq(acpi_build(buf, sizeof(buf), base, NULL), 0);
	f = walk(base);
	cr_expect_eq(rd32(f.fadt + 40), 0, "no 32-bit DSDT address above 4 GiB");
	cr_expect_geq(rd64(f.fadt + 140), base, "X_DSDT carries it");
	cr_expect_eq(rd32(f.fadt + 36), 0, "no FIRMWARE_CTRL above 4 GiB");
	cr_expect_eq(rd64(f.fadt + 132), f.facs_gpa, "X_FIRMWARE_CTRL carries it");
}

Test(acpi, too_small_or_misaligned)
{
	struct acpi_tables t;

	memset(buf, 0xaa, sizeof(buf));
	cr_expect_eq(acpi_build(buf, 0, 0xe0000, &t), -ENOSPC);
	cr_expect_eq(acpi_build(buf, ACPI_TABLES_LEN - 1, 0xe0000, &t), -ENOSPC);
	cr_expect_eq(buf[0], 0xaa, "nothing written on failure");
	cr_expect_eq(acpi_build(buf, sizeof(buf), 0xe0008, &t), -EINVAL, "RSDP off a 16-byte boundary");
	cr_expect_eq(acpi_build(buf, sizeof(buf), UINT64_MAX - 0xf, &t), -EINVAL, "past 2^64");
	cr_expect_eq(acpi_build(buf, ACPI_TABLES_LEN, 0xe0000, &t), 0, "exactly ACPI_TABLES_LEN fits");
	cr_expect_eq(acpi_build(buf, ACPI_TABLES_LEN, 0xe0010, &t), 0, "... for any alignment");
}

/* The power device, through the port bus as a guest reaches it.  The bus
 * gives a device a 2-byte access as one call of size 2 (iobus.c). */
static struct io_bus bus;
static struct acpi_pm pm;
static int calls, last_how;

static void off(void *opaque, int how)
{
	cr_expect_eq(opaque, &pm);
	calls++;
	last_how = how;
}

static void pm_setup(void)
{
	io_bus_init(&bus, NULL);
	acpi_pm_init(&pm, off, &pm);
	cr_assert_eq(acpi_pm_register(&pm, &bus), 0);
	calls = last_how = 0;
}

TestSuite(acpi_pm, .init = pm_setup);

Test(acpi_pm, pm1_cnt_reads_sci_en)
{
	cr_expect_eq(io_bus_in(&bus, 0x604, 2), 0x0001, "SCI_EN: always in ACPI mode");
	cr_expect_eq(io_bus_in(&bus, 0x604, 1), 0x01);
	io_bus_out(&bus, 0x604, 2, 0x0000);
	cr_expect_eq(io_bus_in(&bus, 0x604, 2) & 1, 1, "SCI_EN cannot be cleared");
	io_bus_out(&bus, 0x604, 2, 0x0004);
	cr_expect_eq(io_bus_in(&bus, 0x604, 2), 0x0001, "GBL_RLS is write-only");
	cr_expect_eq(calls, 0);
}

Test(acpi_pm, s5_as_one_16bit_write)
{
	io_bus_out(&bus, 0x604, 2, 5u << 10 | 1u << 13);
	cr_expect_eq(calls, 1);
	cr_expect_eq(last_how, ACPI_PM_POWEROFF);
}

Test(acpi_pm, s5_as_two_byte_writes)
{
	uint16_t v = 5u << 10 | 1u << 13;   /* 0x3400 */

	io_bus_out(&bus, 0x604, 1, v & 0xff);
	cr_expect_eq(calls, 0);
	io_bus_out(&bus, 0x605, 1, v >> 8);
	cr_expect_eq(calls, 1);
	cr_expect_eq(last_how, ACPI_PM_POWEROFF);
}

/* ACPICA's legacy sleep (hwsleep.c, acpi_hw_legacy_sleep): clear WAK_STS,
 * clear all fixed status, read PM1_CNT, write it with SLP_TYP, then with
 * SLP_TYP and SLP_EN. */
Test(acpi_pm, linux_s5_sequence)
{
	uint32_t cnt;

	io_bus_out(&bus, 0x600, 2, 0x8000);
	io_bus_out(&bus, 0x600, 2, 0x8731);         /* ACPI_BITMASK_ALL_FIXED_STATUS */
	cnt = io_bus_in(&bus, 0x604, 2) & ~(0x1c00u | 0x2000u);
	io_bus_out(&bus, 0x604, 2, cnt | 5u << 10);
	cr_expect_eq(calls, 0, "SLP_TYP alone does nothing");
	cr_expect_eq(io_bus_in(&bus, 0x604, 2), 0x1401, "SLP_TYP reads back with SCI_EN");
	io_bus_out(&bus, 0x604, 2, cnt | 5u << 10 | 1u << 13);
	cr_expect_eq(calls, 1);
	cr_expect_eq(last_how, ACPI_PM_POWEROFF);
	cr_expect_eq(io_bus_in(&bus, 0x604, 2) & 0x2000, 0, "SLP_EN reads 0");
}

Test(acpi_pm, other_sleep_types_wake_at_once)
{
	io_bus_out(&bus, 0x604, 2, 1u << 10 | 1u << 13);   /* S1's shape */
	io_bus_out(&bus, 0x604, 2, 1u << 13);              /* ACPICA's retry: SLP_EN alone */
	cr_expect_eq(calls, 0, "no power-off");
	cr_expect_eq(pm.sleeps_ignored, 2);
	cr_expect_eq(io_bus_in(&bus, 0x600, 2) & 0x8000, 0x8000, "woken at once: WAK_STS");
	io_bus_out(&bus, 0x600, 2, 0x0000);
	cr_expect_eq(io_bus_in(&bus, 0x600, 2) & 0x8000, 0x8000, "writing 0 keeps it");
	io_bus_out(&bus, 0x600, 2, 0x8000);
	cr_expect_eq(io_bus_in(&bus, 0x600, 2), 0, "WAK_STS cleared by writing 1");
}

Test(acpi_pm, pm1_sts_is_write_1_to_clear_by_byte_too)
{
	io_bus_out(&bus, 0x605, 1, 0x24);                  /* SLP_TYP 1 | SLP_EN */
	cr_expect_eq(io_bus_in(&bus, 0x601, 1), 0x80, "WAK_STS in the high byte");
	io_bus_out(&bus, 0x600, 1, 0xff);
	cr_expect_eq(io_bus_in(&bus, 0x601, 1), 0x80, "the low byte's 1s leave it");
	io_bus_out(&bus, 0x601, 1, 0x80);
	cr_expect_eq(io_bus_in(&bus, 0x600, 2), 0);
}

Test(acpi_pm, pm1_en_reads_back)
{
	cr_expect_eq(io_bus_in(&bus, 0x602, 2), 0, "all disabled at start");
	io_bus_out(&bus, 0x602, 2, 0x0120);                /* GBL_EN, PWRBTN_EN */
	cr_expect_eq(io_bus_in(&bus, 0x602, 2), 0x0120, "ACPICA checks an enable bit reads back");
	io_bus_out(&bus, 0x603, 1, 0x04);                  /* RTC_EN alone in the high byte */
	cr_expect_eq(io_bus_in(&bus, 0x602, 2), 0x0420);
	cr_expect_eq(calls, 0);
}

/*
 * PM_TMR by hand: 3,579,545 ticks a second, from start_ns.
 *   279 ns: 279 * 3579545 / 1e9 = 0.9987 -> 0;  280 ns: 1.0023 -> 1
 *   1 s: 3579545;  10 s: 35795450 = 0x022231fa, whose low 24 bits (what
 *   Linux reads, ACPI_PM_MASK) are 35795450 - 2 * 16777216 = 2241018
 *   1200 s: 4295454000 - 2^32 (4294967296) = 486704: the 32-bit wrap
 */
Test(acpi_pm, timer_counts_3579545_a_second)
{
	const uint64_t s = 1000000000ull, t0 = 123456789ull;

	pm.start_ns = t0;
	cr_expect_eq(acpi_pm_timer(&pm, t0), 0);
	cr_expect_eq(acpi_pm_timer(&pm, t0 - 1), 0, "before the start: 0");
	cr_expect_eq(acpi_pm_timer(&pm, t0 + 279), 0);
	cr_expect_eq(acpi_pm_timer(&pm, t0 + 280), 1);
	cr_expect_eq(acpi_pm_timer(&pm, t0 + s), 3579545);
	cr_expect_eq(acpi_pm_timer(&pm, t0 + s / 2), 1789772, "0.5 s: 1789772.5 rounded down");
	cr_expect_eq(acpi_pm_timer(&pm, t0 + 10 * s), 35795450);
	cr_expect_eq(acpi_pm_timer(&pm, t0 + 10 * s) & 0xffffff, 2241018);
	cr_expect_eq(acpi_pm_timer(&pm, t0 + 1200 * s), 486704, "wraps at 2^32");
}

/* Far out, against 128-bit arithmetic done here: no overflow. */
Test(acpi_pm, timer_does_not_overflow)
{
	const uint64_t ds[] = { 1ull << 40, 1ull << 62, UINT64_MAX - 5 };

	pm.start_ns = 5;
	for (unsigned i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		unsigned __int128 ticks = (unsigned __int128)ds[i] * 3579545u / 1000000000u;

		cr_expect_eq(acpi_pm_timer(&pm, 5 + ds[i]), (uint32_t)ticks, "after %llu ns",
			     (unsigned long long)ds[i]);
	}
}

Test(acpi_pm, timer_through_the_ports)
{
	uint32_t a, b;
	uint64_t t = 10 * 1000000000ull;

	/* One 32-bit read, as Linux's inl, and a byte at a time. */
	pm.start_ns = 0;
	cr_expect_eq(acpi_pm_read(&pm, 8, t), 0xfa);
	cr_expect_eq(acpi_pm_read(&pm, 9, t), 0x31);
	cr_expect_eq(acpi_pm_read(&pm, 10, t), 0x22);
	cr_expect_eq(acpi_pm_read(&pm, 11, t), 0x02);

	pm_setup();                                         /* start_ns = now again */
	a = io_bus_in(&bus, 0x608, 4);
	b = io_bus_in(&bus, 0x608, 4);
	cr_expect_geq(b, a, "it does not go back");
	cr_expect_lt(a, 3579545u * 60, "less than a minute since registration");
	io_bus_out(&bus, 0x608, 4, 0);
	cr_expect_geq(io_bus_in(&bus, 0x608, 4), b, "read-only");
	cr_expect_eq(io_bus_in(&bus, 0x606, 2), 0xffff, "0x606-0x607: nothing");
}

/* TMR_STS: set when bit 31 of the count flips.  2^31 ticks are
 * 2147483648 / 3579545 = 599.93 s: 599 s gives 2144147455 (bit 31 clear),
 * 600 s 2147727000 (set); then 1199 s 4291874455 (still set), 1200 s
 * 2^32 + 486704 (clear again: a second flip). */
Test(acpi_pm, tmr_sts_follows_the_top_bit)
{
	const uint64_t s = 1000000000ull;

	pm.start_ns = 0;
	cr_expect_eq(acpi_pm_read(&pm, 0, 599 * s) & 1, 0);
	cr_expect_eq(acpi_pm_read(&pm, 0, 600 * s) & 1, 1, "bit 31 set");
	cr_expect_eq(acpi_pm_read(&pm, 0, 700 * s) & 1, 1, "stays set");
	acpi_pm_write(&pm, 0, 0x00, 700 * s);
	cr_expect_eq(acpi_pm_read(&pm, 0, 700 * s) & 1, 1, "writing 0 keeps it");
	acpi_pm_write(&pm, 0, 0x01, 700 * s);
	cr_expect_eq(acpi_pm_read(&pm, 0, 700 * s) & 1, 0, "cleared by writing 1");
	cr_expect_eq(acpi_pm_read(&pm, 0, 1199 * s) & 1, 0, "no flip since");
	cr_expect_eq(acpi_pm_read(&pm, 0, 1200 * s) & 1, 1, "bit 31 clear again: a flip");
}

Test(acpi_pm, cf9_bit_2_resets)
{
	io_bus_out(&bus, 0xcf9, 1, 0x02);
	cr_expect_eq(calls, 0, "hard-reset type alone is not a reset");
	cr_expect_eq(io_bus_in(&bus, 0xcf9, 1), 0x02, "bit 1 reads back");
	io_bus_out(&bus, 0xcf9, 1, 0x06);
	cr_expect_eq(calls, 1);
	cr_expect_eq(last_how, ACPI_PM_RESET);
	io_bus_out(&bus, 0xcf9, 1, 0x0e);
	cr_expect_eq(calls, 2, "full reset too");
	cr_expect_eq(io_bus_in(&bus, 0xcf9, 1), 0x0a, "bits 1 and 3 read back, not bit 2");
	io_bus_out(&bus, 0xcf9, 1, 0x00);
	cr_expect_eq(io_bus_in(&bus, 0xcf9, 1), 0x00);
	cr_expect_eq(calls, 2);
	cr_expect_eq(pm.resets_ignored, 2);
}

/* Linux's reboot=pci (arch/x86/kernel/reboot.c, BOOT_CF9_FORCE):
 * cf9 = inb(0xcf9) & ~code; outb(cf9 | 2); outb(cf9 | code), code 0x06
 * (warm) or 0x0e (cold): one reset. */
Test(acpi_pm, linux_cf9_sequence)
{
	uint8_t cf9 = (uint8_t)(io_bus_in(&bus, 0xcf9, 1) & ~0x0eu);

	io_bus_out(&bus, 0xcf9, 1, cf9 | 2);
	cr_expect_eq(calls, 0);
	io_bus_out(&bus, 0xcf9, 1, cf9 | 0x0e);
	cr_expect_eq(calls, 1);
	cr_expect_eq(last_how, ACPI_PM_RESET);
}

/* The reset the FADT describes (RESET_REG, RESET_VALUE) is one. */
Test(acpi_pm, the_fadts_reset_resets)
{
	struct found f;

	cr_assert_eq(acpi_build(buf, sizeof(buf), 0x9e000, NULL), 0);
	f = walk(0x9e000);
	io_bus_out(&bus, (uint16_t)rd64(f.fadt + 116 + 4), 1, f.fadt[128]);
	cr_expect_eq(calls, 1);
	cr_expect_eq(last_how, ACPI_PM_RESET);
}

Test(acpi_pm, ports_are_claimed)
{
	struct io_dev other = { "other", 0x60b, 1, NULL, NULL, NULL };
	struct io_dev reset = { "other", 0xcf9, 1, NULL, NULL, NULL };

	cr_expect_eq(io_bus_register(&bus, &other), -EEXIST, "0x600-0x60b belong to the device");
	cr_expect_eq(io_bus_register(&bus, &reset), -EEXIST, "0xcf9 too");
	cr_expect_eq(io_bus_in(&bus, 0x60c, 1), 0xff, "0x60c does not");
	cr_expect_eq(io_bus_in(&bus, 0xcf8, 4), 0xffffffff, "nor 0xcf8 (PCI)");
	cr_expect_eq(io_bus_in(&bus, 0xcfa, 1), 0xff, "nor 0xcfa");
	cr_expect_eq(bus.unknown_accesses, 3);
}

Test(acpi_pm, registration_is_both_or_neither)
{
	struct io_bus b2;
	struct acpi_pm p2;
	struct io_dev reset = { "taken", 0xcf9, 1, NULL, NULL, NULL };
	struct io_dev free600 = { "free", 0x600, 12, NULL, NULL, NULL };

	io_bus_init(&b2, NULL);
	cr_assert_eq(io_bus_register(&b2, &reset), 0);
	acpi_pm_init(&p2, off, &pm);
	cr_expect_eq(acpi_pm_register(&p2, &b2), -EEXIST);
	cr_expect_eq(io_bus_register(&b2, &free600), 0, "0x600 left free");
}
