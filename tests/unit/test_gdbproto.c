/*
 * Unit tests for the gdb remote protocol on buffers (src/vmm/gdbproto.c):
 * framing and checksums as gdb's documentation gives them ("Overview" of
 * the Remote Protocol appendix: $payload#xx, the sum of the payload's
 * bytes modulo 256 in two hex digits; '}' escapes with xor 0x20), and the
 * commands against a fake target (64 KiB of memory at 0x10000, a register
 * file), checked byte for byte: what gdb reads, what lands in the target's
 * memory, breakpoints hidden from reads.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/gdbproto.h"

#define MEM_BASE 0x10000u
#define MEM_SIZE 0x10000u

static uint8_t mem[MEM_SIZE];
static struct gdb_regs regs;
static struct gdb_session s;
static char reply[2 * GDB_PACKET_MAX + 16];
static size_t rlen;

static int get_regs(void *o, struct gdb_regs *r) { (void)o; *r = regs; return 0; }
static int set_regs(void *o, const struct gdb_regs *r) { (void)o; regs = *r; return 0; }

static int rd(void *o, uint64_t a, void *b, size_t n)
{
	(void)o;
	if (a < MEM_BASE || a + n > MEM_BASE + MEM_SIZE)
		return -EFAULT;
	memcpy(b, mem + (a - MEM_BASE), n);
	return 0;
}

static int wr(void *o, uint64_t a, const void *b, size_t n)
{
	(void)o;
	if (a < MEM_BASE || a + n > MEM_BASE + MEM_SIZE)
		return -EFAULT;
	memcpy(mem + (a - MEM_BASE), b, n);
	return 0;
}

static void setup(void)
{
	struct gdb_target t = { NULL, get_regs, set_regs, rd, wr };

	for (unsigned i = 0; i < MEM_SIZE; i++)
		mem[i] = (uint8_t)i;
	memset(&regs, 0, sizeof(regs));
	for (int i = 0; i < 16; i++)
		regs.gpr[i] = 0x1111111111111111ULL * (uint64_t)(i + 1);
	regs.rip = 0x100010;
	regs.eflags = 0x202;
	regs.seg[0] = 0x10;
	regs.seg[1] = 0x18;
	gdb_session_init(&s, &t);
}

/* One command; the reply as a string. */
static enum gdb_action cmd(const char *p)
{
	enum gdb_action a = gdb_handle(&s, p, strlen(p), reply, sizeof(reply), &rlen);

	reply[rlen] = '\0';
	return a;
}

TestSuite(gdbproto, .init = setup);

Test(gdbproto, frames_with_checksum_and_escapes)
{
	char out[64];
	size_t n = gdb_frame("OK", 2, out, sizeof(out));

	out[n] = '\0';
	cr_expect_str_eq(out, "$OK#9a");                 /* 'O' 0x4f + 'K' 0x4b = 0x9a */
	n = gdb_frame("a#b", 3, out, sizeof(out));
	out[n] = '\0';
	/* '#' goes as '}' then 0x23 ^ 0x20 = 0x03; the sum is over what is sent */
	cr_expect_eq(n, 8);
	cr_expect(memcmp(out, "$a}\x03" "b#", 6) == 0);
	cr_expect_eq(gdb_frame("OK", 2, out, 5), 0, "too small an output is refused");
}

static enum gdb_rx_event feed(struct gdb_rx *rx, const char *bytes)
{
	enum gdb_rx_event e = GDB_RX_NONE;

	for (const char *p = bytes; *p; p++) {
		e = gdb_rx_byte(rx, (uint8_t)*p);
		if (e != GDB_RX_NONE)
			return e;
	}
	return e;
}

Test(gdbproto, receives_packets_acks_and_interrupts)
{
	struct gdb_rx rx;

	gdb_rx_init(&rx);
	cr_expect_eq(feed(&rx, "+$g#67"), GDB_RX_PACKET);  /* 'g' = 0x67 */
	cr_expect_str_eq(rx.buf, "g");
	cr_expect_eq(feed(&rx, "$g#68"), GDB_RX_BAD, "a wrong checksum is nak'd");
	cr_expect_eq(feed(&rx, "$m10,4#XY"), GDB_RX_BAD);
	cr_expect_eq(gdb_rx_byte(&rx, 0x03), GDB_RX_INTERRUPT);
	cr_expect_eq(feed(&rx, "$qAttached#8f"), GDB_RX_PACKET);
	cr_expect_str_eq(rx.buf, "qAttached");
}

Test(gdbproto, g_is_gdbs_amd64_layout)
{
	cr_assert_eq(cmd("g"), GDB_STAY);
	cr_expect_eq(rlen, 2 * 536, "57 registers, 536 bytes");
	cr_expect(strncmp(reply, "1111111111111111", 16) == 0, "rax first");
	cr_expect(strncmp(reply + 16, "2222222222222222", 16) == 0, "then rbx (gdb's order)");
	cr_expect(strncmp(reply + 256, "1000100000000000", 16) == 0, "rip at byte 128, little-endian");
	cr_expect(strncmp(reply + 272, "02020000", 8) == 0, "eflags");
	cr_expect(strncmp(reply + 280, "1000000018000000", 16) == 0, "cs, ss");
	cr_expect_eq(cmd("p10"), GDB_STAY);
	cr_expect_str_eq(reply, "1000100000000000");
	cr_expect_eq(cmd("p11"), GDB_STAY);
	cr_expect_str_eq(reply, "02020000");
}

Test(gdbproto, G_and_P_write_registers)
{
	char g[2 * 536 + 2];

	cmd("g");
	memcpy(g + 1, reply, rlen + 1);
	g[0] = 'G';
	memcpy(g + 1, "efbeadde00000000", 16);          /* rax = 0xdeadbeef */
	cr_expect_eq(cmd(g), GDB_STAY);
	cr_expect_str_eq(reply, "OK");
	cr_expect_eq(regs.gpr[0], 0xdeadbeefULL);
	cr_expect_eq(regs.rip, 0x100010ULL, "the rest as it was");
	cr_expect_eq(cmd("P10=2000100000000000"), GDB_STAY);
	cr_expect_str_eq(reply, "OK");
	cr_expect_eq(regs.rip, 0x100020ULL);
	cr_expect_eq(cmd("P10=20"), GDB_STAY);
	cr_expect_str_eq(reply, "E01", "a value of the wrong size");
}

Test(gdbproto, memory_reads_and_writes)
{
	cr_expect_eq(cmd("m10004,4"), GDB_STAY);
	cr_expect_str_eq(reply, "04050607");
	cr_expect_eq(cmd("M10004,2:abcd"), GDB_STAY);
	cr_expect_str_eq(reply, "OK");
	cr_expect_eq(mem[4], 0xab);
	cr_expect_eq(mem[5], 0xcd);
	cr_expect_eq(cmd("mfff0,4"), GDB_STAY);
	cr_expect_str_eq(reply, "E14", "unmapped: an error, no bytes");
	cr_expect_eq(cmd("X10008,2:}]x"), GDB_STAY);    /* '}' ']' is ']' ^ 0x20 = '}' */
	cr_expect_str_eq(reply, "OK");
	cr_expect_eq(mem[8], '}');
	cr_expect_eq(mem[9], 'x');
}

Test(gdbproto, breakpoints_are_int3_and_hidden)
{
	cr_expect_eq(cmd("Z0,10010,1"), GDB_STAY);
	cr_expect_str_eq(reply, "OK");
	cr_expect_eq(mem[0x10], 0xcc, "INT3 in the target's memory");
	cr_expect(gdb_breakpoint_at(&s, 0x10010));
	cr_expect_not(gdb_breakpoint_at(&s, 0x10011));
	cr_expect_eq(cmd("m1000f,3"), GDB_STAY);
	cr_expect_str_eq(reply, "0f1011", "reads show the original byte");
	/* a write over it changes the kept byte, the INT3 stays */
	cr_expect_eq(cmd("M10010,1:77"), GDB_STAY);
	cr_expect_eq(mem[0x10], 0xcc);
	cr_expect_eq(cmd("m10010,1"), GDB_STAY);
	cr_expect_str_eq(reply, "77");
	cr_expect_eq(cmd("z0,10010,1"), GDB_STAY);
	cr_expect_str_eq(reply, "OK");
	cr_expect_eq(mem[0x10], 0x77, "the original back");
	cr_expect_not(gdb_breakpoint_at(&s, 0x10010));
	cr_expect_eq(cmd("Z0,500,1"), GDB_STAY);
	cr_expect_str_eq(reply, "E14", "no breakpoint where nothing is mapped");
	cr_expect_eq(cmd("Z1,10010,1"), GDB_STAY);
	cr_expect_str_eq(reply, "", "hardware breakpoints: not offered");
}

Test(gdbproto, kill_and_detach_remove_breakpoints)
{
	cmd("Z0,10020,1");
	cmd("Z0,10030,1");
	cr_expect_eq(cmd("D"), GDB_DETACH);
	cr_expect_str_eq(reply, "OK");
	cr_expect_eq(mem[0x20], 0x20);
	cr_expect_eq(mem[0x30], 0x30);
	cmd("Z0,10020,1");
	cr_expect_eq(cmd("k"), GDB_KILL);
	cr_expect_eq(mem[0x20], 0x20);
}

Test(gdbproto, resume_and_queries)
{
	cr_expect_eq(cmd("c"), GDB_CONTINUE);
	cr_expect_eq(rlen, 0, "no reply until the next stop");
	cr_expect_eq(cmd("s"), GDB_STEP);
	cr_expect_eq(cmd("c100100"), GDB_CONTINUE);
	cr_expect_eq(regs.rip, 0x100100ULL, "c ADDR resumes there");
	cr_expect_eq(cmd("vCont;s:1;c"), GDB_STEP);
	cr_expect_eq(cmd("vCont;c"), GDB_CONTINUE);
	cr_expect_eq(cmd("vCont?"), GDB_STAY);
	cr_expect_str_eq(reply, "vCont;c;s");
	cr_expect_eq(cmd("?"), GDB_STAY);
	cr_expect_str_eq(reply, "S05");
	cr_expect_eq(gdb_stop_reply(&s, 2, reply, sizeof(reply)), 3);
	cr_expect_eq(cmd("?"), GDB_STAY);
	cr_expect_str_eq(reply, "S02", "the last stop's signal");
	cmd("qSupported:multiprocess+;swbreak+");
	cr_expect(strstr(reply, "PacketSize=1000") && strstr(reply, "qXfer:features:read+"), "%s", reply);
	cmd("qAttached");
	cr_expect_str_eq(reply, "1");
	cmd("qXfer:features:read:target.xml:0,1000");
	cr_expect_eq(reply[0], 'l');
	cr_expect(strstr(reply, "<architecture>i386:x86-64</architecture>"));
	cmd("qXfer:features:read:target.xml:0,10");
	cr_expect_eq(reply[0], 'm', "more to come");
	cr_expect_eq(rlen, 17);
	cmd("qTStatus");
	cr_expect_str_eq(reply, "", "unknown: the empty reply");
}

Test(gdbproto, hardware_breakpoints_where_offered)
{
	struct gdb_target t = { NULL, get_regs, set_regs, rd, wr, 2 };
	uint64_t hw[GDB_MAX_HW_BREAKPOINTS];

	gdb_session_init(&s, &t);
	cr_expect_eq(cmd("Z1,c0100097,1"), GDB_STAY);
	cr_expect_str_eq(reply, "OK");
	cmd("Z1,100000,1");
	cr_expect_str_eq(reply, "OK");
	cmd("Z1,100000,1");
	cr_expect_str_eq(reply, "OK", "the same one twice is one");
	cmd("Z1,100010,1");
	cr_expect_str_eq(reply, "E1c", "more than the target has");
	cr_expect_eq(gdb_hw_breakpoints(&s, hw), 2);
	cr_expect_eq(hw[0], 0xc0100097ULL);
	cr_expect_eq(mem[0], 0, "no INT3 written for a hardware breakpoint");
	cmd("z1,c0100097,1");
	cr_expect_eq(gdb_hw_breakpoints(&s, hw), 1);
	cr_expect_eq(hw[0], 0x100000ULL);
	cmd("D");
	cr_expect_eq(gdb_hw_breakpoints(&s, hw), 0, "detach drops them");
}
