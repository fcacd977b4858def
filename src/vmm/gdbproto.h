/*
 * The gdb remote serial protocol, on buffers (gdbproto.c): packet framing
 * and checksums, the commands gdb sends a stopped target, and software
 * breakpoints kept as ombra's own (the original bytes stay hidden from
 * memory reads).  No socket, no KVM: the target is four callbacks, so the
 * unit tests drive it with a fake one (tests/unit/test_gdbproto.c).  The
 * socket and the run loop's part are gdbstub.c; docs/gdb.md says how to use it.
 */
#ifndef OMBRA_GDBPROTO_H
#define OMBRA_GDBPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GDB_PACKET_MAX 4096          /* what qSupported offers (PacketSize) */
#define GDB_MAX_BREAKPOINTS 64
#define GDB_MAX_HW_BREAKPOINTS 4     /* DR0-DR3 */

/* The registers gdb's i386:x86-64 layout starts with ('g' packet); the
 * x87 and SSE registers after them read as their reset values and
 * writes to them are ignored. */
struct gdb_regs {
	uint64_t gpr[16];            /* gdb's order: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 */
	uint64_t rip;
	uint32_t eflags;
	uint32_t seg[6];             /* cs ss ds es fs gs: the selectors */
};

/* The stopped guest, as the mode sees it (vm_mode's debug hooks). */
struct gdb_target {
	void *opaque;
	int (*get_regs)(void *opaque, struct gdb_regs *r);
	int (*set_regs)(void *opaque, const struct gdb_regs *r);
	/* Guest-virtual memory through the guest's page tables: 0, or
	 * -EFAULT when some byte is not mapped (nothing then is written). */
	int (*read_mem)(void *opaque, uint64_t gva, void *buf, size_t len);
	int (*write_mem)(void *opaque, uint64_t gva, const void *buf, size_t len);
	/* How many hardware breakpoints (Z1) the target offers; 0: none,
	 * and Z1 gets the empty reply.  The session keeps their addresses;
	 * the target reads them at each resume (gdb_hw_breakpoints). */
	unsigned hw_max;
};

/* Receiving: bytes in, packets out. */
enum gdb_rx_event {
	GDB_RX_NONE,                 /* nothing complete yet */
	GDB_RX_PACKET,               /* rx->buf[0..len) is a good packet's payload: ack '+' */
	GDB_RX_BAD,                  /* a packet with a wrong checksum (or too long): nak '-' */
	GDB_RX_INTERRUPT,            /* 0x03 outside a packet: gdb's Ctrl-C */
};

struct gdb_rx {
	char buf[GDB_PACKET_MAX + 1];
	size_t len;
	int state;                   /* 0 outside, 1 payload, 2 and 3 the checksum digits */
	uint8_t sum, want;
	bool overflow;
};

void gdb_rx_init(struct gdb_rx *rx);
enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c);

/* $payload#xx into out (escaping '$', '#', '}' and '*'); its length, or 0
 * when out is too small. */
size_t gdb_frame(const char *payload, size_t len, char *out, size_t outlen);

/* What the target does after a packet. */
enum gdb_action {
	GDB_STAY,                    /* stay stopped, send the reply */
	GDB_CONTINUE,                /* resume (c, vCont;c): no reply until the next stop */
	GDB_STEP,                    /* one instruction (s, vCont;s) */
	GDB_KILL,                    /* k: end the run (breakpoints removed) */
	GDB_DETACH,                  /* D: breakpoints removed, reply OK, run on without gdb */
};

struct gdb_session {
	struct gdb_target t;
	struct { uint64_t addr; uint8_t orig; } bp[GDB_MAX_BREAKPOINTS];
	unsigned nbp;
	uint64_t hw[GDB_MAX_HW_BREAKPOINTS];
	unsigned nhw;
	int last_signal;             /* for '?': 5 SIGTRAP, 2 SIGINT */
};

void gdb_session_init(struct gdb_session *s, const struct gdb_target *t);
/* One packet's payload (without $ and #xx): the reply (not framed) in
 * reply, *rlen its length (an empty reply means "not supported"). */
enum gdb_action gdb_handle(struct gdb_session *s, const char *pkt, size_t len,
			   char *reply, size_t rsize, size_t *rlen);
/* The stop reply for signal sig ("S05"). */
size_t gdb_stop_reply(struct gdb_session *s, int sig, char *reply, size_t rsize);

/* Is there a breakpoint of gdb's at gva? */
bool gdb_breakpoint_at(const struct gdb_session *s, uint64_t gva);
/* The hardware breakpoints gdb set (Z1), into out; how many. */
unsigned gdb_hw_breakpoints(const struct gdb_session *s, uint64_t out[GDB_MAX_HW_BREAKPOINTS]);
/* Put every original byte back (detach, kill, the end of the run). */
void gdb_remove_breakpoints(struct gdb_session *s);

#endif
