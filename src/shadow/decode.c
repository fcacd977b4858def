/*
 * The instruction at the guest's RIP, as the three emulators (emulate.c,
 * ptwrite.c, mmio.c) see it: fetched through the guest's own paging,
 * decoded by capstone with detail, and the operand helpers they share:
 * guest registers by capstone name, the linear address of a memory
 * operand, the end of an emulated instruction, and the message for one
 * ombra cannot emulate (decode.h).
 */
#include <capstone/capstone.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"

/* --- registers --------------------------------------------------------- */

/* The guest register a capstone register names: index, width, high byte. */
static bool reg_info(x86_reg r, unsigned *idx, unsigned *size, bool *high)
{
	static const x86_reg r64[16] = { X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX,
		X86_REG_RSP, X86_REG_RBP, X86_REG_RSI, X86_REG_RDI, X86_REG_R8, X86_REG_R9,
		X86_REG_R10, X86_REG_R11, X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15 };
	static const x86_reg r32[16] = { X86_REG_EAX, X86_REG_ECX, X86_REG_EDX, X86_REG_EBX,
		X86_REG_ESP, X86_REG_EBP, X86_REG_ESI, X86_REG_EDI, X86_REG_R8D, X86_REG_R9D,
		X86_REG_R10D, X86_REG_R11D, X86_REG_R12D, X86_REG_R13D, X86_REG_R14D, X86_REG_R15D };
	static const x86_reg r16[16] = { X86_REG_AX, X86_REG_CX, X86_REG_DX, X86_REG_BX,
		X86_REG_SP, X86_REG_BP, X86_REG_SI, X86_REG_DI, X86_REG_R8W, X86_REG_R9W,
		X86_REG_R10W, X86_REG_R11W, X86_REG_R12W, X86_REG_R13W, X86_REG_R14W, X86_REG_R15W };
	static const x86_reg r8[16] = { X86_REG_AL, X86_REG_CL, X86_REG_DL, X86_REG_BL,
		X86_REG_SPL, X86_REG_BPL, X86_REG_SIL, X86_REG_DIL, X86_REG_R8B, X86_REG_R9B,
		X86_REG_R10B, X86_REG_R11B, X86_REG_R12B, X86_REG_R13B, X86_REG_R14B, X86_REG_R15B };
	static const x86_reg r8h[4] = { X86_REG_AH, X86_REG_CH, X86_REG_DH, X86_REG_BH };

	*high = false;
	for (unsigned i = 0; i < 16; i++) {
		if (r == r64[i]) { *idx = i; *size = 8; return true; }
		if (r == r32[i]) { *idx = i; *size = 4; return true; }
		if (r == r16[i]) { *idx = i; *size = 2; return true; }
		if (r == r8[i])  { *idx = i; *size = 1; return true; }
	}
	for (unsigned i = 0; i < 4; i++)
		if (r == r8h[i]) { *idx = i; *size = 1; *high = true; return true; }
	return false;
}

uint64_t reg_get(struct shadow *sh, x86_reg r)
{
	unsigned idx, size;
	bool high;
	uint64_t v;

	if (r == X86_REG_RIP || r == X86_REG_EIP)
		return sh->t.rip;
	if (!reg_info(r, &idx, &size, &high))
		return 0;
	v = sh->t.gpr[idx];
	if (high)
		return (v >> 8) & 0xff;
	return size == 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

/* Write as the CPU does: 32-bit writes zero-extend, 8/16-bit writes merge. */
void reg_set(struct shadow *sh, x86_reg r, uint64_t val)
{
	unsigned idx, size;
	bool high;
	uint64_t *g;

	if (!reg_info(r, &idx, &size, &high))
		return;
	g = &sh->t.gpr[idx];
	if (high)
		*g = (*g & ~0xff00ULL) | ((val & 0xff) << 8);
	else if (size == 8)
		*g = val;
	else if (size == 4)
		*g = val & 0xffffffffULL;
	else
		*g = (*g & ~((1ULL << (8 * size)) - 1)) | (val & ((1ULL << (8 * size)) - 1));
}

void set_sized(uint64_t *g, uint64_t val, unsigned size)
{
	if (size == 8)
		*g = val;
	else if (size == 4)
		*g = val & 0xffffffffULL;
	else
		*g = (*g & ~((1ULL << (8 * size)) - 1)) | (val & ((1ULL << (8 * size)) - 1));
}

/* The linear address of a memory operand (segments are flat but FS/GS). */
uint64_t mem_addr(struct shadow *sh, const struct insn *in, const cs_x86_op *op)
{
	uint64_t a = (uint64_t)op->mem.disp;

	if (op->mem.base == X86_REG_RIP || op->mem.base == X86_REG_EIP)
		a += in->next_rip;
	else if (op->mem.base != X86_REG_INVALID)
		a += reg_get(sh, op->mem.base);
	if (op->mem.index != X86_REG_INVALID)
		a += reg_get(sh, op->mem.index) * (uint64_t)op->mem.scale;
	if (in->addrsize == 4)
		a &= 0xffffffffULL;
	if (op->mem.segment == X86_REG_FS)
		a += vcpu_long(&sh->v) ? sh->v.fs_base : sh->v.fs.base;
	else if (op->mem.segment == X86_REG_GS)
		a += vcpu_long(&sh->v) ? sh->v.gs_base : sh->v.gs.base;
	if (!vcpu_long(&sh->v))
		a &= 0xffffffffULL;
	return a;
}

/* --- exceptions the instruction raises ---------------------------------- */

enum trap_result gp0(struct shadow *sh)
{
	return inject_exception(sh, VEC_GP, true, 0);
}

enum trap_result ud(struct shadow *sh)
{
	return inject_exception(sh, VEC_UD, false, 0);
}

/* Done: step over the instruction. */
enum trap_result done(struct shadow *sh, const struct insn *in)
{
	sh->t.rip = in->next_rip;
	sh->emulated++;
	return TRAP_RESUME;
}
/* --- the instruction ------------------------------------------------------------ */

static bool fetch_decode(struct shadow *sh, struct insn *in, csh h)
{
	uint64_t rip = sh->t.rip;
	unsigned first = 4096 - (unsigned)(rip & 0xfff);
	size_t n;

	if (first > 15)
		first = 15;
	memset(in->bytes, 0, sizeof(in->bytes));
	/* Read what is on this page first: an instruction that ends before the
	 * page does must not fault on the next one. */
	if (!guest_fetch(sh, rip, in->bytes, first, sh->v.cpl == 3))
		return false;
	in->len = first;
	n = cs_disasm(h, in->bytes, in->len, rip, 1, &in->ci);
	if (n == 0 && first < 15) {
		if (!guest_fetch(sh, rip + first, in->bytes + first, 15 - first, sh->v.cpl == 3))
			return false;
		in->len = 15;
		n = cs_disasm(h, in->bytes, in->len, rip, 1, &in->ci);
	}
	if (n == 0) {
		in->ci = NULL;
		return true;
	}
	in->x = &in->ci->detail->x86;
	in->len = in->ci->size;
	in->next_rip = rip + in->len;
	if (in->bits == 32)
		in->next_rip &= 0xffffffffULL;
	if (in->x->rex & 8)
		in->opsize = 8;
	else if (in->x->prefix[2] == X86_PREFIX_OPSIZE)
		in->opsize = 2;
	else
		in->opsize = 4;
	in->addrsize = in->bits == 64 ? (in->x->prefix[3] ? 4 : 8) : (in->x->prefix[3] ? 2 : 4);
	return true;
}

/* The instruction at the guest's RIP, decoded with detail by the handle
 * for the guest's mode (opened once, at set-up).  false: reading it made a
 * fault for the guest (delivered) or ended the run. */
bool decode_at_rip(struct shadow *sh, struct insn *in, csh *h)
{
	memset(in, 0, sizeof(*in));
	in->bits = vcpu_long(&sh->v) && sh->v.cs.l ? 64 : 32;
	*h = (csh)sh->capstone[in->bits == 64];
	return fetch_decode(sh, in, *h);
}

int decode_open(struct shadow *sh)
{
	csh h32, h64;

	if (cs_open(CS_ARCH_X86, CS_MODE_32, &h32) != CS_ERR_OK)
		return -1;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h64) != CS_ERR_OK) {
		cs_close(&h32);
		return -1;
	}
	cs_option(h32, CS_OPT_DETAIL, CS_OPT_ON);
	cs_option(h64, CS_OPT_DETAIL, CS_OPT_ON);
	sh->capstone[0] = h32;
	sh->capstone[1] = h64;
	return 0;
}

void decode_close(struct shadow *sh)
{
	for (int i = 0; i < 2; i++)
		if (sh->capstone[i]) {
			csh h = (csh)sh->capstone[i];

			cs_close(&h);
			sh->capstone[i] = 0;
		}
}

static const char *mode_name(const struct shadow *sh, int bits)
{
	if (bits == 64)
		return "64-bit mode";
	if (vcpu_long(&sh->v))
		return "compatibility mode";
	return vcpu_paging(&sh->v) ? "32-bit protected mode with paging" : "32-bit protected mode, paging off";
}

enum trap_result cannot(struct shadow *sh, const struct insn *in, unsigned vector)
{
	char bytes[64] = "";

	for (unsigned i = 0; i < in->len && i < 15; i++)
		snprintf(bytes + 3 * i, sizeof(bytes) - 3 * i, "%02x ", in->bytes[i]);
	return shadow_kill(sh, "cannot emulate '%s%s%s' [%s] at %#llx (vector %u, %s, guest CPL %u)",
			   in->ci ? in->ci->mnemonic : "(undecodable)", in->ci && in->ci->op_str[0] ? " " : "",
			   in->ci ? in->ci->op_str : "", bytes, (unsigned long long)sh->t.rip, vector,
			   mode_name(sh, in->bits), sh->v.cpl);
}

/* Instructions that only trap because the guest is deprivileged. */

/* A legacy prefix, or REX in 64-bit code. */
bool is_prefix(uint8_t b, int bits)
{
	switch (b) {
	case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
		return true;
	default:
		return bits == 64 && (b & 0xf0) == 0x40;
	}
}

bool is_sreg(x86_reg r)
{
	return r == X86_REG_DS || r == X86_REG_ES || r == X86_REG_SS || r == X86_REG_FS ||
	       r == X86_REG_GS || r == X86_REG_CS;
}

bool string_batch_over(const struct shadow *sh, unsigned n, uint64_t t0)
{
	if (n == 0)
		return false;
	return n >= STRING_IO_BATCH || vm_stop_requested() || shadow_now_ns(sh) - t0 >= STRING_IO_SLICE_NS;
}
