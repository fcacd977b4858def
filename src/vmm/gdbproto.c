/*
 * The gdb remote serial protocol on buffers (gdbproto.h).  What a stopped
 * target answers: '?', g/G, p/P, m/M/X, c/s and vCont, Z0/z0, k, D, and
 * the queries gdb 13 sends on connecting (qSupported, qAttached, qC,
 * qfThreadInfo, qXfer:features:read:target.xml, which names the
 * architecture i386:x86-64).  Anything else gets the empty reply, which
 * gdb reads as "not supported" (Z1, hardware breakpoints, where the
 * target has none; watchpoints; docs/gdb.md).
 *
 * Breakpoints are ombra's own in both modes: INT3 (0xcc) written into
 * the guest's memory through its page tables, the original byte kept
 * here; memory reads show the original, writes over a breakpoint change
 * the kept byte.
 */
#include "gdbproto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* --- framing ------------------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char hexdig[] = "0123456789abcdef";

void gdb_rx_init(struct gdb_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
}

enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c)
{
	int v;

	switch (rx->state) {
	case 0:
		if (c == 0x03)
			return GDB_RX_INTERRUPT;
		if (c == '$') {
			rx->state = 1;
			rx->len = 0;
			rx->sum = 0;
			rx->overflow = false;
		}
		return GDB_RX_NONE;          /* '+', '-' and noise between packets */
	case 1:
		if (c == '#') {
			rx->state = 2;
			return GDB_RX_NONE;
		}
		rx->sum = (uint8_t)(rx->sum + c);
		if (rx->len < GDB_PACKET_MAX)
			rx->buf[rx->len++] = (char)c;
		else
			rx->overflow = true;
		return GDB_RX_NONE;
	case 2:
		v = hexval(c);
		rx->want = (uint8_t)((v < 0 ? 0 : v) << 4);
		rx->state = v < 0 ? 4 : 3;
		return GDB_RX_NONE;
	default:
		v = hexval(c);
		if (rx->state == 3 && v >= 0)
			rx->want |= (uint8_t)v;
		if (rx->state == 4 || v < 0 || rx->want != rx->sum || rx->overflow) {
			rx->state = 0;
			return GDB_RX_BAD;
		}
		rx->state = 0;
		rx->buf[rx->len] = '\0';
		return GDB_RX_PACKET;
	}
}

size_t gdb_frame(const char *payload, size_t len, char *out, size_t outlen)
{
	size_t n = 0;
	uint8_t sum = 0;

	if (outlen < 4)
		return 0;
	out[n++] = '$';
	for (size_t i = 0; i < len; i++) {
		char c = payload[i];

		if (c == '$' || c == '#' || c == '}' || c == '*') {
			if (n + 2 > outlen - 3)
				return 0;
			out[n++] = '}';
			sum = (uint8_t)(sum + '}');
			c ^= 0x20;
		} else if (n + 1 > outlen - 3) {
			return 0;
		}
		out[n++] = c;
		sum = (uint8_t)(sum + (uint8_t)c);
	}
	out[n++] = '#';
	out[n++] = hexdig[sum >> 4];
	out[n++] = hexdig[sum & 15];
	return n;
}

/* --- helpers on payloads -------------------------------------------------------- */

/* A hex number at *p, up to a delimiter; false when there is none. */
static bool parse_hex(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int d;

	if (s >= end || hexval(*s) < 0)
		return false;
	while (s < end && (d = hexval(*s)) >= 0) {
		if (s - *p >= 16)
			return false;
		x = x << 4 | (uint64_t)d;
		s++;
	}
	*p = s;
	*v = x;
	return true;
}

static bool expect(const char **p, const char *end, char c)
{
	if (*p < end && **p == c) {
		(*p)++;
		return true;
	}
	return false;
}

/* len bytes as hex into out; returns the characters written. */
static size_t put_hex(char *out, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdig[b[i] >> 4];
		out[2 * i + 1] = hexdig[b[i] & 15];
	}
	return 2 * len;
}

static bool get_hex(const char *in, size_t chars, void *buf)
{
	uint8_t *b = buf;

	if (chars % 2)
		return false;
	for (size_t i = 0; i < chars / 2; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static size_t reply_str(char *reply, size_t rsize, const char *s)
{
	size_t n = strlen(s);

	if (n >= rsize)
		n = rsize ? rsize - 1 : 0;
	memcpy(reply, s, n);
	return n;
}

/* --- the register file ------------------------------------------------------------ */

/*
 * gdb's amd64 'g' layout: rax..r15 and rip (8 bytes each), eflags and the
 * six selectors (4 each), st0-7 (10 each), fctrl..fop (4 each), xmm0-15
 * (16 each), mxcsr (4): 57 registers, 536 bytes.
 */
#define GDB_NREGS   57
#define GDB_G_BYTES 536

static unsigned reg_size(unsigned n)
{
	return n <= 16 ? 8 : n <= 23 ? 4 : n <= 31 ? 10 : n <= 39 ? 4 : n <= 55 ? 16 : 4;
}

static unsigned reg_offset(unsigned n)
{
	unsigned off = 0;

	for (unsigned i = 0; i < n; i++)
		off += reg_size(i);
	return off;
}

static void regs_to_bytes(const struct gdb_regs *r, uint8_t *b)
{
	memset(b, 0, GDB_G_BYTES);
	memcpy(b, r->gpr, sizeof(r->gpr));
	memcpy(b + 128, &r->rip, 8);
	memcpy(b + 136, &r->eflags, 4);
	memcpy(b + 140, r->seg, sizeof(r->seg));
	b[reg_offset(32)] = 0x7f;                 /* fctrl 0x037f, as after FNINIT */
	b[reg_offset(32) + 1] = 0x03;
	b[reg_offset(56)] = 0x80;                 /* mxcsr 0x1f80 */
	b[reg_offset(56) + 1] = 0x1f;
}

static void bytes_to_regs(const uint8_t *b, struct gdb_regs *r)
{
	memcpy(r->gpr, b, sizeof(r->gpr));
	memcpy(&r->rip, b + 128, 8);
	memcpy(&r->eflags, b + 136, 4);
	memcpy(r->seg, b + 140, sizeof(r->seg));
}

/* --- breakpoints -------------------------------------------------------------------- */

void gdb_session_init(struct gdb_session *s, const struct gdb_target *t)
{
	memset(s, 0, sizeof(*s));
	s->t = *t;
	s->last_signal = 5;
}

static int bp_find(const struct gdb_session *s, uint64_t addr)
{
	for (unsigned i = 0; i < s->nbp; i++)
		if (s->bp[i].addr == addr)
			return (int)i;
	return -1;
}

bool gdb_breakpoint_at(const struct gdb_session *s, uint64_t gva)
{
	return bp_find(s, gva) >= 0;
}

static int bp_insert(struct gdb_session *s, uint64_t addr)
{
	static const uint8_t int3 = 0xcc;
	uint8_t orig;
	int r;

	if (bp_find(s, addr) >= 0)
		return 0;                            /* gdb may insert twice */
	if (s->nbp == GDB_MAX_BREAKPOINTS)
		return -ENOSPC;
	r = s->t.read_mem(s->t.opaque, addr, &orig, 1);
	if (r == 0)
		r = s->t.write_mem(s->t.opaque, addr, &int3, 1);
	if (r < 0)
		return r;
	s->bp[s->nbp].addr = addr;
	s->bp[s->nbp].orig = orig;
	s->nbp++;
	return 0;
}

static int bp_remove(struct gdb_session *s, uint64_t addr)
{
	int i = bp_find(s, addr);

	if (i < 0)
		return 0;
	/* The page may have gone from the guest's tables since: the byte
	 * then stays where it was, and the breakpoint is forgotten. */
	s->t.write_mem(s->t.opaque, addr, &s->bp[i].orig, 1);
	s->bp[i] = s->bp[--s->nbp];
	return 0;
}

void gdb_remove_breakpoints(struct gdb_session *s)
{
	while (s->nbp)
		bp_remove(s, s->bp[s->nbp - 1].addr);
	s->nhw = 0;
}

unsigned gdb_hw_breakpoints(const struct gdb_session *s, uint64_t out[GDB_MAX_HW_BREAKPOINTS])
{
	memcpy(out, s->hw, s->nhw * sizeof(s->hw[0]));
	return s->nhw;
}

/* Z1 and z1: an address for one of the target's debug registers. */
static const char *hw_change(struct gdb_session *s, uint64_t addr, bool insert)
{
	unsigned i;

	for (i = 0; i < s->nhw && s->hw[i] != addr; i++)
		;
	if (!insert) {
		if (i < s->nhw)
			s->hw[i] = s->hw[--s->nhw];
		return "OK";
	}
	if (i < s->nhw)
		return "OK";
	if (s->nhw == s->t.hw_max || s->nhw == GDB_MAX_HW_BREAKPOINTS)
		return "E1c";                /* ENOSPC: gdb says it could not insert it */
	s->hw[s->nhw++] = addr;
	return "OK";
}

/* Guest memory as gdb should see it: the original bytes under breakpoints. */
static int mem_read(struct gdb_session *s, uint64_t addr, uint8_t *buf, size_t len)
{
	int r = s->t.read_mem(s->t.opaque, addr, buf, len);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < s->nbp; i++)
		if (s->bp[i].addr - addr < len)
			buf[s->bp[i].addr - addr] = s->bp[i].orig;
	return 0;
}

/* A write over a breakpoint changes the kept byte; the INT3 stays. */
static int mem_write(struct gdb_session *s, uint64_t addr, const uint8_t *buf, size_t len)
{
	uint8_t tmp[GDB_PACKET_MAX / 2];
	int r;

	if (len > sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, buf, len);
	for (unsigned i = 0; i < s->nbp; i++)
		if (s->bp[i].addr - addr < len) {
			s->bp[i].orig = tmp[s->bp[i].addr - addr];
			tmp[s->bp[i].addr - addr] = 0xcc;
		}
	r = s->t.write_mem(s->t.opaque, addr, tmp, len);
	return r;
}

/* --- commands ------------------------------------------------------------------------ */

static const char target_xml[] =
	"<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
	"<target version=\"1.0\"><architecture>i386:x86-64</architecture></target>";

size_t gdb_stop_reply(struct gdb_session *s, int sig, char *reply, size_t rsize)
{
	s->last_signal = sig;
	return (size_t)snprintf(reply, rsize, "S%02x", sig & 0xff) < rsize ? 3 : 0;
}

/* qXfer:features:read:target.xml:OFF,LEN */
static size_t xfer_features(const char *p, const char *end, char *reply, size_t rsize)
{
	static const char pre[] = "target.xml:";
	uint64_t off, len;
	size_t total = sizeof(target_xml) - 1, n;

	if ((size_t)(end - p) < sizeof(pre) - 1 || memcmp(p, pre, sizeof(pre) - 1))
		return reply_str(reply, rsize, "E00");
	p += sizeof(pre) - 1;
	if (!parse_hex(&p, end, &off) || !expect(&p, end, ',') || !parse_hex(&p, end, &len))
		return reply_str(reply, rsize, "E01");
	if (off >= total)
		return reply_str(reply, rsize, "l");
	n = total - (size_t)off;
	if (n > len)
		n = (size_t)len;
	if (n + 2 > rsize)
		n = rsize - 2;
	reply[0] = n < total - off ? 'm' : 'l';
	memcpy(reply + 1, target_xml + off, n);
	return n + 1;
}

static bool starts(const char *p, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(p, word, n) == 0;
}

static enum gdb_action resume_at(struct gdb_session *s, const char *p, const char *end,
				 enum gdb_action a, char *reply, size_t rsize, size_t *rlen)
{
	uint64_t addr;

	if (p < end) {                    /* c ADDR / s ADDR: resume there */
		struct gdb_regs r;

		if (!parse_hex(&p, end, &addr) || s->t.get_regs(s->t.opaque, &r) < 0) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		r.rip = addr;
		if (s->t.set_regs(s->t.opaque, &r) < 0) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
	}
	*rlen = 0;
	return a;
}

enum gdb_action gdb_handle(struct gdb_session *s, const char *pkt, size_t len,
			   char *reply, size_t rsize, size_t *rlen)
{
	const char *p = pkt + 1, *end = pkt + len;
	uint8_t bytes[GDB_PACKET_MAX / 2];
	struct gdb_regs regs;
	uint64_t addr, n;

	*rlen = 0;
	if (len == 0)
		return GDB_STAY;
	switch (pkt[0]) {
	case '?':
		*rlen = gdb_stop_reply(s, s->last_signal, reply, rsize);
		return GDB_STAY;
	case 'g':
		if (s->t.get_regs(s->t.opaque, &regs) < 0 || rsize < 2 * GDB_G_BYTES + 1) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		regs_to_bytes(&regs, bytes);
		*rlen = put_hex(reply, bytes, GDB_G_BYTES);
		return GDB_STAY;
	case 'G':
		/* What gdb sends back: at least the registers ombra keeps. */
		if ((size_t)(end - p) < 2 * 164 || (size_t)(end - p) > 2 * GDB_G_BYTES ||
		    !get_hex(p, (size_t)(end - p), bytes) || s->t.get_regs(s->t.opaque, &regs) < 0) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		bytes_to_regs(bytes, &regs);
		*rlen = reply_str(reply, rsize, s->t.set_regs(s->t.opaque, &regs) < 0 ? "E01" : "OK");
		return GDB_STAY;
	case 'p':
		if (!parse_hex(&p, end, &n) || p != end || n >= GDB_NREGS ||
		    s->t.get_regs(s->t.opaque, &regs) < 0) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		regs_to_bytes(&regs, bytes);
		*rlen = put_hex(reply, bytes + reg_offset((unsigned)n), reg_size((unsigned)n));
		return GDB_STAY;
	case 'P': {
		uint8_t v[16];
		unsigned sz;

		if (!parse_hex(&p, end, &n) || !expect(&p, end, '=') || n >= GDB_NREGS) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		sz = reg_size((unsigned)n);
		if ((size_t)(end - p) != 2 * sz || !get_hex(p, 2 * sz, v) ||
		    s->t.get_regs(s->t.opaque, &regs) < 0) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		if (n <= 23) {                /* the rest (x87, SSE) are not the guest's: ignored */
			regs_to_bytes(&regs, bytes);
			memcpy(bytes + reg_offset((unsigned)n), v, sz);
			bytes_to_regs(bytes, &regs);
			if (s->t.set_regs(s->t.opaque, &regs) < 0) {
				*rlen = reply_str(reply, rsize, "E01");
				return GDB_STAY;
			}
		}
		*rlen = reply_str(reply, rsize, "OK");
		return GDB_STAY;
	}
	case 'm':
		if (!parse_hex(&p, end, &addr) || !expect(&p, end, ',') || !parse_hex(&p, end, &n) ||
		    p != end || n > sizeof(bytes) || 2 * n + 1 > rsize) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		if (mem_read(s, addr, bytes, (size_t)n) < 0) {
			*rlen = reply_str(reply, rsize, "E14");      /* EFAULT */
			return GDB_STAY;
		}
		*rlen = put_hex(reply, bytes, (size_t)n);
		return GDB_STAY;
	case 'M':
		if (!parse_hex(&p, end, &addr) || !expect(&p, end, ',') || !parse_hex(&p, end, &n) ||
		    !expect(&p, end, ':') || n > sizeof(bytes) || (size_t)(end - p) != 2 * n ||
		    !get_hex(p, (size_t)(2 * n), bytes)) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		*rlen = reply_str(reply, rsize, mem_write(s, addr, bytes, (size_t)n) < 0 ? "E14" : "OK");
		return GDB_STAY;
	case 'X': {
		/* Binary write: '}' escapes the next byte (xor 0x20). */
		size_t got = 0;

		if (!parse_hex(&p, end, &addr) || !expect(&p, end, ',') || !parse_hex(&p, end, &n) ||
		    !expect(&p, end, ':') || n > sizeof(bytes)) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		while (p < end && got < n) {
			uint8_t c = (uint8_t)*p++;

			if (c == '}' && p < end)
				c = (uint8_t)(*p++ ^ 0x20);
			bytes[got++] = c;
		}
		if (got != n || p != end) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		*rlen = reply_str(reply, rsize, n == 0 ? "OK" : mem_write(s, addr, bytes, (size_t)n) < 0 ? "E14" : "OK");
		return GDB_STAY;
	}
	case 'c':
		return resume_at(s, p, end, GDB_CONTINUE, reply, rsize, rlen);
	case 's':
		return resume_at(s, p, end, GDB_STEP, reply, rsize, rlen);
	case 'Z':
	case 'z':
		/* Z0,ADDR,KIND: a software breakpoint; Z1: a hardware one,
		 * where the target offers them (tdp mode); watchpoints get
		 * the empty reply: not offered (docs/gdb.md). */
		if (len < 2 || (pkt[1] != '0' && (pkt[1] != '1' || !s->t.hw_max)))
			return GDB_STAY;
		p = pkt + 2;
		if (!expect(&p, end, ',') || !parse_hex(&p, end, &addr) || !expect(&p, end, ',') ||
		    !parse_hex(&p, end, &n)) {
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		if (pkt[1] == '1')
			*rlen = reply_str(reply, rsize, hw_change(s, addr, pkt[0] == 'Z'));
		else
			*rlen = reply_str(reply, rsize,
					  (pkt[0] == 'Z' ? bp_insert(s, addr) : bp_remove(s, addr)) < 0 ? "E14" : "OK");
		return GDB_STAY;
	case 'k':
		gdb_remove_breakpoints(s);
		return GDB_KILL;
	case 'D':
		gdb_remove_breakpoints(s);
		*rlen = reply_str(reply, rsize, "OK");
		return GDB_DETACH;
	case 'H':                          /* Hg0, Hc-1: the one thread */
	case 'T':                          /* is thread N alive: yes */
		*rlen = reply_str(reply, rsize, "OK");
		return GDB_STAY;
	case 'v':
		if (starts(pkt, len, "vCont?")) {
			*rlen = reply_str(reply, rsize, "vCont;c;s");
			return GDB_STAY;
		}
		if (starts(pkt, len, "vCont;")) {
			/* The first action decides: the one vCPU is every thread. */
			char a = pkt[6];

			if (a == 'c' || a == 'C')
				return GDB_CONTINUE;
			if (a == 's' || a == 'S')
				return GDB_STEP;
			*rlen = reply_str(reply, rsize, "E01");
			return GDB_STAY;
		}
		if (starts(pkt, len, "vKill")) {
			gdb_remove_breakpoints(s);
			*rlen = reply_str(reply, rsize, "OK");
			return GDB_KILL;
		}
		return GDB_STAY;         /* vMustReplyEmpty and the rest */
	case 'q':
		if (starts(pkt, len, "qSupported")) {
			*rlen = (size_t)snprintf(reply, rsize, "PacketSize=%x;qXfer:features:read+;vContSupported+",
						 GDB_PACKET_MAX);
			if (*rlen >= rsize)
				*rlen = 0;
		} else if (starts(pkt, len, "qAttached")) {
			*rlen = reply_str(reply, rsize, "1");
		} else if (starts(pkt, len, "qC")) {
			*rlen = reply_str(reply, rsize, "QC1");
		} else if (starts(pkt, len, "qfThreadInfo")) {
			*rlen = reply_str(reply, rsize, "m1");
		} else if (starts(pkt, len, "qsThreadInfo")) {
			*rlen = reply_str(reply, rsize, "l");
		} else if (starts(pkt, len, "qXfer:features:read:")) {
			*rlen = xfer_features(pkt + 20, end, reply, rsize);
		} else if (starts(pkt, len, "qSymbol")) {
			*rlen = reply_str(reply, rsize, "OK");
		}
		return GDB_STAY;
	default:
		return GDB_STAY;
	}
}
