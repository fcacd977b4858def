/*
 * Unit tests for the board: the port bus and its devices (src/dev/iobus.c,
 * serial.c, fwcfg.c, board.c).
 *
 * A board is built on memory streams (open_memstream) for the serial output
 * and the log, and driven only through io_bus_in/io_bus_out, the way a vCPU
 * exit would drive it.  Expected values come from the 16550 datasheet (LSR,
 * IIR, DLAB, scratch), QEMU's isa-debug-exit (status (value << 1) | 1) and
 * fw_cfg documentation (docs/specs/fw_cfg.rst: selector 0x510, data 0x511,
 * "QEMU" signature, little-endian integers, zeros past the end), the Bochs
 * "Shutdown" port, and the rule that an unclaimed port reads all ones and is
 * reported once.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/board.h"

/* 16550 registers (offsets from the base) and bits, from the datasheet. */
#define COM1      0x3f8
#define R_THR     0
#define R_DLL     0
#define R_IER     1
#define R_DLM     1
#define R_IIR     2
#define R_FCR     2
#define R_LCR     3
#define R_MCR     4
#define R_LSR     5
#define R_SCR     7
#define LCR_DLAB  0x80

struct rig {
	struct board b;
	FILE *ser, *log;
	char *ser_buf, *log_buf;
	size_t ser_len, log_len;
};

static void rig_init(struct rig *r, uint64_t ram)
{
	memset(r, 0, sizeof(*r));
	r->ser = open_memstream(&r->ser_buf, &r->ser_len);
	r->log = open_memstream(&r->log_buf, &r->log_len);
	cr_assert(r->ser && r->log);
	cr_assert_eq(board_init(&r->b, r->ser, r->log, ram), 0);
}

static void rig_flush(struct rig *r)
{
	fflush(r->ser);
	fflush(r->log);
}

static void rig_fini(struct rig *r)
{
	board_destroy(&r->b);
	fclose(r->ser);
	fclose(r->log);
	free(r->ser_buf);
	free(r->log_buf);
}

static void out8(struct rig *r, uint16_t port, uint8_t v)
{
	io_bus_out(&r->b.io, port, 1, v);
}

static uint8_t in8(struct rig *r, uint16_t port)
{
	return (uint8_t)io_bus_in(&r->b.io, port, 1);
}

static void puts_port(struct rig *r, uint16_t port, const char *s)
{
	while (*s)
		out8(r, port, (uint8_t)*s++);
}

static unsigned count_lines(const char *s, size_t len)
{
	unsigned n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

/* ---- serial ---- */

Test(serial, output_goes_to_file_and_capture)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	puts_port(&r, COM1 + R_THR, "Hello, ombra!\n");
	rig_flush(&r);
	cr_assert_eq(r.ser_len, 14);
	cr_expect_eq(memcmp(r.ser_buf, "Hello, ombra!\n", 14), 0);
	cr_assert_not_null(r.b.serial.capture);
	cr_expect_eq(r.b.serial.cap_len, 14);
	cr_expect_eq(memcmp(r.b.serial.capture, "Hello, ombra!\n", 14), 0);
	cr_expect_eq(r.b.serial.tx_bytes, 14);
	cr_expect_eq(r.log_len, 0, "serial output is not an unknown-port event");
	rig_fini(&r);
}

Test(serial, output_to_fmemopen_file)
{
	char buf[64] = { 0 };
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	struct board b;

	cr_assert_not_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	cr_assert_eq(board_init(&b, f, NULL, 1 << 21), 0);
	io_bus_out(&b.io, COM1, 1, 'o');
	io_bus_out(&b.io, COM1, 1, 'k');
	cr_expect_str_eq(buf, "ok");
	board_destroy(&b);
	fclose(f);
}

Test(serial, all_byte_values_and_long_output_captured)
{
	struct rig r;
	const size_t n = 10000;   /* well past any first capture buffer */

	rig_init(&r, 64 << 20);
	for (size_t i = 0; i < n; i++)
		out8(&r, COM1, (uint8_t)i);
	rig_flush(&r);
	cr_assert_eq(r.ser_len, n);
	cr_assert_eq(r.b.serial.cap_len, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq((uint8_t)r.ser_buf[i], (uint8_t)i, "file byte %zu", i);
		cr_assert_eq((uint8_t)r.b.serial.capture[i], (uint8_t)i, "capture byte %zu", i);
	}
	rig_fini(&r);
}

Test(serial, lsr_transmitter_empty)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	/* THRE (bit 5) and TEMT (bit 6) set, DR (bit 0) clear: 0x60. */
	cr_expect_eq(in8(&r, COM1 + R_LSR), 0x60);
	out8(&r, COM1, 'x');
	cr_expect_eq(in8(&r, COM1 + R_LSR), 0x60, "still empty after a byte");
	rig_fini(&r);
}

Test(serial, dlab_routes_divisor_latch)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	out8(&r, COM1 + R_IER, 0x05);              /* IER with DLAB clear */
	out8(&r, COM1 + R_LCR, LCR_DLAB | 0x03);   /* DLAB on, 8N1 */
	cr_expect_eq(in8(&r, COM1 + R_LCR), LCR_DLAB | 0x03);
	out8(&r, COM1 + R_DLL, 0x0c);              /* 9600 baud: divisor 12 */
	out8(&r, COM1 + R_DLM, 0x00);
	cr_expect_eq(in8(&r, COM1 + R_DLL), 0x0c);
	cr_expect_eq(in8(&r, COM1 + R_DLM), 0x00);
	out8(&r, COM1 + R_DLM, 0x12);
	cr_expect_eq(in8(&r, COM1 + R_DLM), 0x12);
	rig_flush(&r);
	cr_expect_eq(r.ser_len, 0, "divisor writes are not output");
	cr_expect_eq(r.b.serial.tx_bytes, 0);

	out8(&r, COM1 + R_LCR, 0x03);              /* DLAB off */
	cr_expect_eq(in8(&r, COM1 + R_IER), 0x05, "offset 1 is IER again, unchanged");
	out8(&r, COM1 + R_THR, 'A');
	rig_flush(&r);
	cr_expect_eq(r.ser_len, 1);
	cr_expect_eq(r.ser_buf[0], 'A');

	/* Divisor survives DLAB being toggled. */
	out8(&r, COM1 + R_LCR, LCR_DLAB);
	cr_expect_eq(in8(&r, COM1 + R_DLL), 0x0c);
	cr_expect_eq(in8(&r, COM1 + R_DLM), 0x12);
	rig_fini(&r);
}

Test(serial, scratch_register_reads_back)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	for (unsigned v = 0; v < 256; v += 0x35) {
		out8(&r, COM1 + R_SCR, (uint8_t)v);
		cr_expect_eq(in8(&r, COM1 + R_SCR), v);
	}
	out8(&r, COM1 + R_SCR, 0xa5);
	cr_expect_eq(in8(&r, COM1 + R_SCR), 0xa5);
	rig_fini(&r);
}

Test(serial, ier_mcr_reserved_bits_read_zero)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	/* IER bits 4-7 and MCR bits 5-7 are always 0 on a 16550. */
	out8(&r, COM1 + R_IER, 0xff);
	cr_expect_eq(in8(&r, COM1 + R_IER), 0x0f);
	out8(&r, COM1 + R_MCR, 0xff);
	cr_expect_eq(in8(&r, COM1 + R_MCR), 0x1f);
	rig_fini(&r);
}

Test(serial, iir_no_interrupt_and_fifo_bits)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	/* Bit 0 set: no interrupt pending; bits 6-7 follow FCR bit 0. */
	cr_expect_eq(in8(&r, COM1 + R_IIR), 0x01);
	out8(&r, COM1 + R_FCR, 0x07);
	cr_expect_eq(in8(&r, COM1 + R_IIR), 0xc1);
	out8(&r, COM1 + R_FCR, 0x00);
	cr_expect_eq(in8(&r, COM1 + R_IIR), 0x01);
	rig_fini(&r);
}

Test(serial, rbr_reads_zero_without_input)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	cr_expect_eq(in8(&r, COM1 + R_THR), 0);
	cr_expect_eq(in8(&r, COM1 + R_LSR) & 1, 0, "no data ready");
	rig_fini(&r);
}

/* ---- isa-debug-exit ---- */

/* QEMU calls exit((val << 1) | 1); a process exit status keeps the low 8 bits. */
static int qemu_exit_status(uint32_t v)
{
	return (int)(((v << 1) | 1) & 0xff);
}

Test(debug_exit, byte_write)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	cr_expect_eq(r.b.off, BOARD_ON);
	io_bus_out(&r.b.io, DEBUG_EXIT_PORT, 1, 0x10);
	cr_expect_eq(r.b.off, BOARD_DEBUG_EXIT);
	cr_expect_eq(r.b.debug_exit_value, 0x10);
	cr_expect_eq(r.b.exit_status, 0x21);
	cr_expect_eq(r.b.exit_status, qemu_exit_status(0x10));
	rig_fini(&r);
}

Test(debug_exit, zero_gives_status_1)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	io_bus_out(&r.b.io, DEBUG_EXIT_PORT, 1, 0);
	cr_expect_eq(r.b.off, BOARD_DEBUG_EXIT);
	cr_expect_eq(r.b.exit_status, 1);
	rig_fini(&r);
}

Test(debug_exit, word_write)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	io_bus_out(&r.b.io, DEBUG_EXIT_PORT, 2, 0x0031);
	cr_expect_eq(r.b.off, BOARD_DEBUG_EXIT);
	cr_expect_eq(r.b.debug_exit_value, 0x0031);
	cr_expect_eq(r.b.exit_status, 0x63);
	rig_fini(&r);
}

Test(debug_exit, dword_write)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	io_bus_out(&r.b.io, DEBUG_EXIT_PORT, 4, 0x00000042);
	cr_expect_eq(r.b.off, BOARD_DEBUG_EXIT);
	cr_expect_eq(r.b.debug_exit_value, 0x42);
	cr_expect_eq(r.b.exit_status, 0x85);
	rig_fini(&r);
}

Test(debug_exit, wide_values_keep_value_and_low_status_byte)
{
	static const struct { unsigned size; uint32_t val, expect; } cases[] = {
		{ 1, 0x7f, 0x7f },
		{ 1, 0xff, 0xff },
		{ 2, 0x1234, 0x1234 },
		{ 4, 0x12345678, 0x12345678 },
		{ 1, 0xabcd, 0xcd },            /* only the access size is driven */
		{ 2, 0xdead1234, 0x1234 },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;

		rig_init(&r, 64 << 20);
		io_bus_out(&r.b.io, DEBUG_EXIT_PORT, cases[i].size, cases[i].val);
		cr_expect_eq(r.b.off, BOARD_DEBUG_EXIT);
		cr_expect_eq(r.b.debug_exit_value, cases[i].expect, "case %u", i);
		cr_expect_eq(r.b.exit_status, qemu_exit_status(cases[i].expect), "case %u", i);
		rig_fini(&r);
	}
}

Test(debug_exit, first_write_wins)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	io_bus_out(&r.b.io, DEBUG_EXIT_PORT, 1, 3);
	io_bus_out(&r.b.io, DEBUG_EXIT_PORT, 1, 9);
	cr_expect_eq(r.b.debug_exit_value, 3);
	cr_expect_eq(r.b.exit_status, 7);
	rig_fini(&r);
}

Test(debug_exit, read_is_not_an_unknown_port)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	(void)io_bus_in(&r.b.io, DEBUG_EXIT_PORT, 1);
	rig_flush(&r);
	cr_expect_eq(r.log_len, 0);
	cr_expect_eq(r.b.io.unknown_accesses, 0);
	cr_expect_eq(r.b.off, BOARD_ON, "a read does not end the run");
	rig_fini(&r);
}

/* ---- Shutdown port ---- */

Test(shutdown, full_string)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	puts_port(&r, SHUTDOWN_PORT, "Shutdow");
	cr_expect_eq(r.b.off, BOARD_ON, "not until the last letter");
	out8(&r, SHUTDOWN_PORT, 'n');
	cr_expect_eq(r.b.off, BOARD_SHUTDOWN);
	cr_expect_eq(r.b.exit_status, 0);
	rig_fini(&r);
}

Test(shutdown, partial_then_full)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	puts_port(&r, SHUTDOWN_PORT, "Shut");
	cr_expect_eq(r.b.off, BOARD_ON);
	puts_port(&r, SHUTDOWN_PORT, "Shutdown");
	cr_expect_eq(r.b.off, BOARD_SHUTDOWN);
	cr_expect_eq(r.b.exit_status, 0);
	rig_fini(&r);
}

Test(shutdown, repeated_s_then_full)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	puts_port(&r, SHUTDOWN_PORT, "SSShutdown");
	cr_expect_eq(r.b.off, BOARD_SHUTDOWN);
	rig_fini(&r);
}

Test(shutdown, wrong_strings_do_nothing)
{
	static const char *const bad[] = { "shutdown", "ShutXdown", "Shutdow", "SHUTDOWN", "Shut down" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rig r;

		rig_init(&r, 64 << 20);
		puts_port(&r, SHUTDOWN_PORT, bad[i]);
		cr_expect_eq(r.b.off, BOARD_ON, "\"%s\" must not shut down", bad[i]);
		rig_fini(&r);
	}
}

Test(shutdown, match_count_stays_within_the_string)
{
	/*
	 * shutdown_match is "how much of "Shutdown" has been seen", so it can
	 * never exceed 8.  After a complete match, a NUL byte compares equal to
	 * the string's terminator magic[8] and pushes the count to 9; the next
	 * byte then indexes magic[9], past the end of the 9-byte array (an
	 * out-of-bounds read in board.c shutdown_out).
	 */
	struct rig r;

	rig_init(&r, 64 << 20);
	puts_port(&r, SHUTDOWN_PORT, "Shutdown");
	cr_expect_eq(r.b.off, BOARD_SHUTDOWN);
	out8(&r, SHUTDOWN_PORT, 0);
	cr_expect_leq(r.b.shutdown_match, 8, "count %u after \"Shutdown\\0\"", r.b.shutdown_match);
	out8(&r, SHUTDOWN_PORT, 0);
	cr_expect_leq(r.b.shutdown_match, 8, "count %u", r.b.shutdown_match);
	cr_expect_eq(r.b.off, BOARD_SHUTDOWN);
	cr_expect_eq(r.b.exit_status, 0);
	rig_fini(&r);
}

Test(shutdown, after_debug_exit_keeps_debug_status)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	io_bus_out(&r.b.io, DEBUG_EXIT_PORT, 1, 1);
	puts_port(&r, SHUTDOWN_PORT, "Shutdown");
	cr_expect_eq(r.b.off, BOARD_DEBUG_EXIT);
	cr_expect_eq(r.b.exit_status, 3);
	rig_fini(&r);
}

/* ---- fw_cfg ---- */

static void fw_select(struct rig *r, uint16_t key)
{
	io_bus_out(&r->b.io, 0x510, 2, key);   /* 16-bit selector */
}

static void fw_read(struct rig *r, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = in8(r, 0x511);
}

Test(fw_cfg, signature)
{
	struct rig r;
	uint8_t b[4];

	rig_init(&r, 64 << 20);
	fw_select(&r, 0x0000);
	fw_read(&r, b, 4);
	cr_expect_eq(memcmp(b, "QEMU", 4), 0);
	rig_fini(&r);
}

Test(fw_cfg, id_traditional_interface_no_dma)
{
	struct rig r;
	uint8_t b[4];
	uint32_t id;

	rig_init(&r, 64 << 20);
	fw_select(&r, 0x0001);
	fw_read(&r, b, 4);
	id = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
	cr_expect(id & 1, "bit 0: traditional interface");
	cr_expect_not(id & 2, "bit 1: no DMA interface offered");
	rig_fini(&r);
}

Test(fw_cfg, ram_size_little_endian)
{
	struct rig r;
	const uint64_t ram = 0x0000000123456000ULL;
	uint8_t b[8];

	rig_init(&r, ram);
	fw_select(&r, 0x0003);
	fw_read(&r, b, 8);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(b[i], (uint8_t)(ram >> (8 * i)), "byte %d", i);
	rig_fini(&r);
}

Test(fw_cfg, ram_size_128m)
{
	struct rig r;
	uint8_t b[8];
	static const uint8_t want[8] = { 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 0 };

	rig_init(&r, 128ULL << 20);
	fw_select(&r, 0x0003);
	fw_read(&r, b, 8);
	cr_expect_eq(memcmp(b, want, 8), 0);
	rig_fini(&r);
}

Test(fw_cfg, cpu_count_is_one)
{
	struct rig r;
	uint8_t b[2];

	rig_init(&r, 64 << 20);
	fw_select(&r, 0x0005);
	fw_read(&r, b, 2);
	cr_expect_eq(b[0], 1);
	cr_expect_eq(b[1], 0);
	rig_fini(&r);
}

Test(fw_cfg, unknown_key_reads_zeros)
{
	struct rig r;
	uint8_t b[16];
	static const uint16_t keys[] = { 0x0002, 0x0004, 0x1234, 0x7fff, 0x8000 };

	rig_init(&r, 64 << 20);
	for (unsigned k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		memset(b, 0xee, sizeof(b));
		fw_select(&r, keys[k]);
		fw_read(&r, b, sizeof(b));
		for (unsigned i = 0; i < sizeof(b); i++)
			cr_expect_eq(b[i], 0, "key %#x byte %u", keys[k], i);
	}
	rig_fini(&r);
}

Test(fw_cfg, read_past_end_gives_zeros)
{
	struct rig r;
	uint8_t b[12];

	rig_init(&r, 64 << 20);
	fw_select(&r, 0x0000);
	fw_read(&r, b, sizeof(b));
	cr_expect_eq(memcmp(b, "QEMU\0\0\0\0\0\0\0\0", 12), 0);
	rig_fini(&r);
}

Test(fw_cfg, reselect_restarts_item)
{
	struct rig r;
	uint8_t b[4];

	rig_init(&r, 64 << 20);
	fw_select(&r, 0x0000);
	fw_read(&r, b, 2);
	cr_expect_eq(memcmp(b, "QE", 2), 0);
	fw_select(&r, 0x0000);
	fw_read(&r, b, 4);
	cr_expect_eq(memcmp(b, "QEMU", 4), 0);
	rig_fini(&r);
}

Test(fw_cfg, data_port_writes_ignored)
{
	struct rig r;
	uint8_t b[4];

	rig_init(&r, 64 << 20);
	fw_select(&r, 0x0000);
	out8(&r, 0x511, 'X');
	fw_read(&r, b, 4);
	cr_expect_eq(memcmp(b, "QEMU", 4), 0);
	rig_fini(&r);
}

/* ---- the bus: unknown ports, registration ---- */

Test(iobus, unknown_port_reads_all_ones_masked)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	cr_expect_eq(io_bus_in(&r.b.io, 0x1234, 1), 0xff);
	cr_expect_eq(io_bus_in(&r.b.io, 0x1234, 2), 0xffff);
	cr_expect_eq(io_bus_in(&r.b.io, 0x1234, 4), 0xffffffffu);
	rig_fini(&r);
}

Test(iobus, unknown_port_logged_once_per_port)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	(void)io_bus_in(&r.b.io, 0x1234, 1);
	(void)io_bus_in(&r.b.io, 0x1234, 2);
	io_bus_out(&r.b.io, 0x1234, 1, 0x55);
	(void)io_bus_in(&r.b.io, 0x1234, 4);
	rig_flush(&r);
	cr_expect_eq(count_lines(r.log_buf, r.log_len), 1, "log:\n%s", r.log_buf);
	cr_expect(strstr(r.log_buf, "1234") != NULL, "the log names the port: %s", r.log_buf);

	(void)io_bus_in(&r.b.io, 0x1235, 1);
	io_bus_out(&r.b.io, 0x2000, 1, 0);
	io_bus_out(&r.b.io, 0x2000, 1, 0);
	rig_flush(&r);
	cr_expect_eq(count_lines(r.log_buf, r.log_len), 3, "log:\n%s", r.log_buf);
	cr_expect(strstr(r.log_buf, "1235") != NULL);
	cr_expect(strstr(r.log_buf, "2000") != NULL);
	cr_expect_eq(r.b.io.unknown_accesses, 7, "every access is counted, even when not logged");
	rig_fini(&r);
}

Test(iobus, unknown_port_without_log_is_fine)
{
	struct io_bus bus;

	io_bus_init(&bus, NULL);
	cr_expect_eq(io_bus_in(&bus, 0x80, 1), 0xff);
	io_bus_out(&bus, 0x80, 1, 0);
	cr_expect_eq(bus.unknown_accesses, 2);
}

Test(iobus, board_ports_are_not_unknown)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	out8(&r, 0x80, 0x12);                /* POST code */
	/* (The PIC and the PIT are each mode's own, not the board's.) */
	for (uint16_t p = 0x3f8; p < 0x400; p++)
		(void)in8(&r, p);
	fw_select(&r, 0);
	(void)in8(&r, 0x511);
	rig_flush(&r);
	cr_expect_eq(r.log_len, 0, "log:\n%s", r.log_buf ? r.log_buf : "");
	cr_expect_eq(r.b.io.unknown_accesses, 0);
	cr_expect_eq(r.b.off, BOARD_ON);
	rig_fini(&r);
}

static void dummy_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	uint32_t *last = opaque;

	(void)port;
	(void)size;
	*last = val;
}

Test(iobus, overlapping_registration_rejected)
{
	struct rig r;
	uint32_t last = 0;
	struct io_dev d = { "dummy", 0x3fc, 8, NULL, dummy_out, &last };

	rig_init(&r, 64 << 20);
	cr_expect_lt(io_bus_register(&r.b.io, &d), 0, "overlaps COM1's upper half");
	d.base = 0x3f4;
	cr_expect_lt(io_bus_register(&r.b.io, &d), 0, "overlaps COM1's lower half");
	d.base = 0x3f8;
	d.len = 1;
	cr_expect_lt(io_bus_register(&r.b.io, &d), 0, "same first port");
	d.base = 0xf0;
	d.len = 0x10;
	cr_expect_lt(io_bus_register(&r.b.io, &d), 0, "covers isa-debug-exit");
	d.base = 0x510;
	d.len = 1;
	cr_expect_lt(io_bus_register(&r.b.io, &d), 0, "fw_cfg selector");

	/* Right next to COM1 is free, and the serial port still works. */
	d.base = 0x400;
	d.len = 4;
	cr_expect_eq(io_bus_register(&r.b.io, &d), 0);
	d.base = 0x3f0;
	d.len = 8;
	cr_expect_eq(io_bus_register(&r.b.io, &d), 0);
	io_bus_out(&r.b.io, 0x3f7, 1, 0x77);
	cr_expect_eq(last, 0x77);
	io_bus_out(&r.b.io, COM1, 1, 'z');
	rig_flush(&r);
	cr_expect_eq(r.ser_len, 1);
	rig_fini(&r);
}

Test(iobus, registration_bounds)
{
	struct io_bus bus;
	struct io_dev d = { "x", 0xfffe, 2, NULL, NULL, NULL };

	io_bus_init(&bus, NULL);
	cr_expect_eq(io_bus_register(&bus, &d), 0, "last two ports");
	d.base = 0xffff;
	cr_expect_lt(io_bus_register(&bus, &d), 0, "would run past port 0xffff");
	d.base = 0x100;
	d.len = 0;
	cr_expect_lt(io_bus_register(&bus, &d), 0, "zero ports");
}

Test(iobus, write_only_device_reads_all_ones)
{
	struct io_bus bus;
	uint32_t last = 0;
	struct io_dev d = { "wo", 0x300, 4, NULL, dummy_out, &last };

	io_bus_init(&bus, NULL);
	cr_assert_eq(io_bus_register(&bus, &d), 0);
	cr_expect_eq(io_bus_in(&bus, 0x301, 1), 0xff);
	cr_expect_eq(io_bus_in(&bus, 0x301, 2), 0xffff);
	cr_expect_eq(bus.unknown_accesses, 0, "a claimed port is not unknown");
	io_bus_out(&bus, 0x302, 2, 0xbeef);
	cr_expect_eq(last, 0xbeef);
}

/* ---- issue 15: what a guest can make ombra keep or print is bounded ---- */

/* A guest sweeping every port gets IOBUS_MAX_WARNINGS lines and one that
 * says the rest are not logged, not 65,536 lines. */
Test(iobus, unknown_ports_logged_up_to_a_cap)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	for (uint32_t p = 0x1000; p < 0x11000; p++)
		io_bus_out(&r.b.io, (uint16_t)p, 1, 0);
	rig_flush(&r);
	cr_expect_eq(count_lines(r.log_buf, r.log_len), IOBUS_MAX_WARNINGS + 1, "%u lines",
		     count_lines(r.log_buf, r.log_len));
	cr_expect(strstr(r.log_buf, "said once") != NULL, "%s", r.log_buf);
	rig_fini(&r);
}

static unsigned test_moves, test_explains;
static void count_move(void *opaque, uint64_t gpa) { (void)opaque, (void)gpa; test_moves++; }
static void count_explain(void *opaque, uint64_t gva) { (void)opaque, (void)gva; test_explains++; }

/* Without -device ombra-test, ports 0xe0-0xf3 are unassigned: reads all
 * ones, writes reach no callback (they are logged as unknown, once). */
Test(board, test_device_is_off_unless_added)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	r.b.move_slot = count_move;
	r.b.explain = count_explain;
	r.b.remap_page = count_move;
	test_moves = test_explains = 0;
	io_bus_out(&r.b.io, TEST_PORT, 4, 0x100000);
	io_bus_out(&r.b.io, TEST_PORT + 8, 4, 0x1000);
	io_bus_out(&r.b.io, TEST_PORT + 16, 4, 0x100000);
	out8(&r, TEST_PORT + 4, 1);
	cr_expect_eq(test_moves, 0);
	cr_expect_eq(test_explains, 0);
	cr_expect(!r.b.ram_deterministic);
	cr_expect_eq(io_bus_in(&r.b.io, TEST_PORT, 4), 0xffffffffu);
	cr_expect_eq(r.b.io.unknown_accesses, 5);

	cr_assert_eq(board_add_test_device(&r.b), 0);
	io_bus_out(&r.b.io, TEST_PORT, 4, 0x100000);
	io_bus_out(&r.b.io, TEST_PORT + 8, 4, 0x1000);
	out8(&r, TEST_PORT + 4, 1);
	cr_expect_eq(test_moves, 1);
	cr_expect_eq(test_explains, 1);
	cr_expect(r.b.ram_deterministic);
	cr_expect_eq(r.b.io.unknown_accesses, 5, "the device's ports are not unknown any more");
	rig_fini(&r);
}

/* The capture (compare's) stops at SERIAL_CAPTURE_MAX and counts the rest;
 * the output itself still flows. */
Test(serial, capture_is_capped)
{
	struct serial s;
	const size_t extra = 100;

	serial_init(&s, NULL, 1);
	{
		struct io_bus bus;

		io_bus_init(&bus, NULL);
		cr_assert_eq(serial_register(&s, &bus, COM1), 0);
		for (size_t i = 0; i < SERIAL_CAPTURE_MAX + extra; i++)
			io_bus_out(&bus, COM1 + R_THR, 1, 'x');
	}
	cr_expect_eq(s.cap_len, SERIAL_CAPTURE_MAX);
	cr_expect_eq(s.cap_dropped, extra);
	cr_expect_eq(s.tx_bytes, SERIAL_CAPTURE_MAX + extra);
	serial_destroy(&s);
}

/* ombra run keeps no capture at all. */
Test(serial, capture_off_keeps_nothing)
{
	struct rig r;

	rig_init(&r, 64 << 20);
	serial_capture_off(&r.b.serial);
	puts_port(&r, COM1 + R_THR, "Hello");
	rig_flush(&r);
	cr_expect_null(r.b.serial.capture);
	cr_expect_eq(r.b.serial.cap_len, 0);
	cr_expect_eq(r.ser_len, 5, "the output still goes out");
	rig_fini(&r);
}
