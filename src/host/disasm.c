/*
 * capstone wrapper: one instruction at a time, Intel syntax.
 */
#include "disasm.h"

#include <capstone/capstone.h>
#include <stdio.h>

size_t disasm_one(const uint8_t *bytes, size_t len, uint64_t addr, int bits, char *out, size_t outlen)
{
	cs_mode mode = bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16;
	csh h;
	cs_insn *insn;
	size_t n, size = 0;

	if (cs_open(CS_ARCH_X86, mode, &h) != CS_ERR_OK) {
		snprintf(out, outlen, "(capstone unavailable)");
		return 0;
	}
	n = cs_disasm(h, bytes, len, addr, 1, &insn);
	if (n == 1) {
		snprintf(out, outlen, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
		size = insn->size;
		cs_free(insn, n);
	} else {
		snprintf(out, outlen, "(bytes capstone cannot decode)");
	}
	cs_close(&h);
	return size;
}

size_t disasm_report(const uint8_t *bytes, size_t len, uint64_t addr, int bits, char *text, size_t tlen,
		     char *hex, size_t hlen)
{
	size_t n = len ? disasm_one(bytes, len, addr, bits, text, tlen) : 0;

	for (size_t i = 0; i < (n ? n : len < 8 ? len : 8) && 3 * i + 3 < hlen; i++)
		snprintf(hex + 3 * i, hlen - 3 * i, "%02x ", bytes[i]);
	return n;
}

void disasm_version(char *out, size_t outlen)
{
	int major, minor;

	cs_version(&major, &minor);
	snprintf(out, outlen, "%d.%d", major, minor);
}
