/*
 * One-instruction disassembly with capstone, for reports ("the guest died
 * at this instruction") and, in shadow mode, for the trapped-instruction
 * emulator.
 */
#ifndef OMBRA_DISASM_H
#define OMBRA_DISASM_H

#include <stddef.h>
#include <stdint.h>

/* Decode the instruction at bytes (addr is its address, bits 16/32/64).
 * Writes "mnemonic operands" to out and returns its length in bytes, or 0
 * when capstone cannot decode it (out then says so). */
size_t disasm_one(const uint8_t *bytes, size_t len, uint64_t addr, int bits, char *out, size_t outlen);
/* The same, for a report of where a guest is: the text into text, and
 * the instruction's bytes (up to 8 of them when it does not decode) as
 * hex into hex ("eb fe ").  Returns the instruction's length or 0. */
size_t disasm_report(const uint8_t *bytes, size_t len, uint64_t addr, int bits, char *text, size_t tlen,
		     char *hex, size_t hlen);
/* Capstone's version as "major.minor". */
void disasm_version(char *out, size_t outlen);

#endif
