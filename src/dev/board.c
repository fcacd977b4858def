/*
 * The board's small devices (isa-debug-exit, the Shutdown port, port
 * 0x80, and the ombra test device when asked for) and the wiring of every
 * device onto the port bus.
 */
#include "board.h"

#include <string.h>
#include <time.h>

static void debug_exit_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	struct board *b = opaque;

	(void)port;
	if (size < 4)
		val &= (1u << (8 * size)) - 1;
	if (b->off != BOARD_ON)
		return;
	b->off = BOARD_DEBUG_EXIT;
	b->debug_exit_value = val;
	b->exit_status = (int)(((val << 1) | 1) & 0xff);   /* as QEMU's exit() */
	if (b->powered_off)
		b->powered_off(b->move_slot_opaque);
}

static void shutdown_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	static const char magic[] = "Shutdown";
	struct board *b = opaque;

	(void)port;
	(void)size;
	if ((char)val == magic[b->shutdown_match])
		b->shutdown_match++;
	else
		b->shutdown_match = (char)val == magic[0];
	if (b->shutdown_match == sizeof(magic) - 1) {
		b->shutdown_match = 0;
		if (b->off == BOARD_ON) {
			b->off = BOARD_SHUTDOWN;
			b->exit_status = 0;
			if (b->powered_off)
				b->powered_off(b->move_slot_opaque);
		}
	}
}

static void test_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	struct board *b = opaque;

	if (port == TEST_PORT && size == 4 && b->move_slot)
		b->move_slot(b->move_slot_opaque, val);
	else if (port == TEST_PORT + 4)
		b->ram_deterministic = true;
	else if (port == TEST_PORT + 16 && size == 4) {
		if (b->remap_page)
			b->remap_page(b->move_slot_opaque, val);
	} else if (port == TEST_PORT + 12 && size == 4)
		b->explain_high = val;
	else if (port == TEST_PORT + 8 && size == 4) {
		if (b->explain)
			b->explain(b->move_slot_opaque, ((uint64_t)b->explain_high << 32) | val);
		b->explain_high = 0;
	}
}

static void port80_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	struct board *b = opaque;

	(void)port;
	if (b->mark)
		b->mark(b->move_slot_opaque, size < 4 ? val & ((1u << (8 * size)) - 1) : val);
}

/* ACPI's power-off (S5) or reset: the first request ends the run. */
static void acpi_off(void *opaque, int how)
{
	struct board *b = opaque;

	if (b->off != BOARD_ON)
		return;
	b->off = how == ACPI_PM_RESET ? BOARD_RESET : BOARD_ACPI_OFF;
	b->exit_status = 0;
	if (b->powered_off)
		b->powered_off(b->move_slot_opaque);
}

/* COM1's interrupt line is ISA IRQ 4, into whichever interrupt
 * controllers the mode has. */
static void com1_irq(void *opaque, bool level)
{
	struct board *b = opaque;

	if (b->set_irq)
		b->set_irq(b->irq_opaque, SERIAL_COM1_IRQ, level);
}

int board_init(struct board *b, FILE *serial_out, FILE *log, uint64_t ram_size)
{
	const struct io_dev devs[] = {
		{ "isa-debug-exit", DEBUG_EXIT_PORT, 4, NULL, debug_exit_out, b },
		{ "shutdown", SHUTDOWN_PORT, 1, NULL, shutdown_out, b },
		{ "port80", 0x80, 1, NULL, port80_out, b },
	};
	struct timespec now;
	int r;

	memset(b, 0, sizeof(*b));
	io_bus_init(&b->io, log);
	serial_init(&b->serial, serial_out, 1);
	b->serial.set_irq = com1_irq;
	b->serial.irq_opaque = b;
	fw_cfg_init(&b->fwcfg, ram_size, 1);
	clock_gettime(CLOCK_REALTIME, &now);
	rtc_init(&b->rtc, ram_size, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
	r = serial_register(&b->serial, &b->io, SERIAL_COM1);
	if (r == 0)
		r = rtc_register(&b->rtc, &b->io);
	acpi_pm_init(&b->pm, acpi_off, b);
	if (r == 0)
		r = acpi_pm_register(&b->pm, &b->io);
	if (r == 0)
		r = fw_cfg_register(&b->fwcfg, &b->io);
	for (unsigned i = 0; r == 0 && i < sizeof(devs) / sizeof(devs[0]); i++)
		r = io_bus_register(&b->io, &devs[i]);
	return r;
}

int board_add_test_device(struct board *b)
{
	const struct io_dev d = { "ombra-test", TEST_PORT, TEST_PORT_LEN, NULL, test_out, b };

	return io_bus_register(&b->io, &d);
}

void board_destroy(struct board *b)
{
	serial_destroy(&b->serial);
}
