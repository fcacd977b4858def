/*
 * What shadow mode's three emulators share (decode.c): the instruction at
 * the guest's RIP decoded by capstone, and the helpers that read and write
 * its operands.  emulate.c emulates the instructions that trap because the
 * guest is deprivileged, ptwrite.c the stores to write-protected guest page
 * tables, mmio.c the accesses to memory no RAM backs.  Private to
 * src/shadow.
 */
#ifndef OMBRA_SHADOW_DECODE_H
#define OMBRA_SHADOW_DECODE_H

#include <capstone/capstone.h>

#include "shadow.h"

struct insn {
	cs_insn *ci;               /* capstone's decoding (with detail) */
	cs_x86 *x;
	uint8_t bytes[16];
	unsigned len;
	int bits;                  /* 32 or 64: the mode it was decoded in */
	unsigned opsize;           /* operand size in bytes, from the prefixes */
	unsigned addrsize;
	uint64_t next_rip;
};

/* INS/OUTS and MOVS/STOS on MMIO: at most this many iterations per trap;
 * then RIP stays at the instruction with RCX/RSI/RDI saying how far it
 * got, as a REP interrupted between iterations is left (SDM vol. 2, REP),
 * and the guest traps on it again for the rest.  So no count (up to
 * 2^64 - 1, over a mapping the guest aliases at will) holds ombra in one
 * trap, away from --timeout and its signals. */
#define STRING_IO_BATCH 4096
/* ... and a batch ends sooner when a stop is pending (--timeout, SIGINT,
 * SIGTERM) or this much time has gone since its trap began: one element
 * can cost far more than a bus cycle (a memslot move, an explain). */
#define STRING_IO_SLICE_NS 10000000ULL   /* 10 ms */

/* Whether a string batch that began at shadow_now_ns() == t0 and has done
 * n iterations must go back to the guest now (always false for n == 0:
 * every trap makes progress). */
bool string_batch_over(const struct shadow *sh, unsigned n, uint64_t t0);

/* The instruction at the guest's RIP, decoded with detail by the handle
 * for the guest's mode (opened once, at set-up).  false: reading it made a
 * fault for the guest (delivered) or ended the run.  in->ci is NULL when
 * capstone cannot decode the bytes; else the caller cs_free()s it. */
bool decode_at_rip(struct shadow *sh, struct insn *in, csh *h);

/* A guest register by its capstone name: the value at its width; a write
 * as the CPU does it (32-bit writes zero-extend, 8/16-bit writes merge). */
uint64_t reg_get(struct shadow *sh, x86_reg r);
void reg_set(struct shadow *sh, x86_reg r, uint64_t val);
/* The same merge rule on a register value of size bytes. */
void set_sized(uint64_t *g, uint64_t val, unsigned size);
/* The linear address of a memory operand (segments are flat but FS/GS). */
uint64_t mem_addr(struct shadow *sh, const struct insn *in, const cs_x86_op *op);
bool is_sreg(x86_reg r);
/* A legacy prefix, or REX in 64-bit code. */
bool is_prefix(uint8_t b, int bits);

/* The exception the instruction raises: #GP(0), #UD. */
enum trap_result gp0(struct shadow *sh);
enum trap_result ud(struct shadow *sh);
/* Done: step over the instruction. */
enum trap_result done(struct shadow *sh, const struct insn *in);
/* ombra cannot emulate it: end the run with its text, bytes, address and
 * CPU mode. */
enum trap_result cannot(struct shadow *sh, const struct insn *in, unsigned vector);

#endif
