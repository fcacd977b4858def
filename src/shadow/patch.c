/*
 * The code scanner and patch table (patch.h): recursive descent over one
 * guest frame at a time with capstone, the patched instructions' original
 * bytes kept per frame in a hash keyed by the guest frame number.
 */
#include <capstone/capstone.h>
#include <stdlib.h>
#include <string.h>

#include "patch.h"

static struct patch_frame *frame_get(struct patcher *p, uint64_t gfn);

static unsigned hash_of(uint64_t gfn, unsigned size)
{
	return (unsigned)((gfn * 0x9e3779b97f4a7c15ULL) >> 40) & (size - 1);
}

int patch_init(struct patcher *p, unsigned sreg_mask)
{
	csh h32, h64;

	memset(p, 0, sizeof(*p));
	p->hash_size = 1024;
	p->hash = calloc(p->hash_size, sizeof(*p->hash));
	if (!p->hash)
		return -1;
	if (cs_open(CS_ARCH_X86, CS_MODE_32, &h32) != CS_ERR_OK)
		goto fail;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h64) != CS_ERR_OK) {
		cs_close(&h32);
		goto fail;
	}
	cs_option(h32, CS_OPT_DETAIL, CS_OPT_ON);
	cs_option(h64, CS_OPT_DETAIL, CS_OPT_ON);
	p->capstone[0] = h32;
	p->capstone[1] = h64;
	p->sreg_mask = sreg_mask;
	return 0;
fail:
	free(p->hash);
	p->hash = NULL;
	return -1;
}

static void free_frame(struct patch_frame *f)
{
	free(f->sites);
	free(f);
}

void patch_destroy(struct patcher *p)
{
	if (!p->hash)
		return;
	for (unsigned i = 0; i < p->hash_size; i++)
		for (struct patch_frame *f = p->hash[i], *next; f; f = next) {
			next = f->next;
			free_frame(f);
		}
	free(p->hash);
	p->hash = NULL;
	for (int i = 0; i < 2; i++) {
		csh h = (csh)p->capstone[i];

		cs_close(&h);
	}
}

struct patch_frame *patch_frame_of(const struct patcher *p, uint64_t gfn)
{
	struct patch_frame *f;

	if (!p->hash)
		return NULL;
	for (f = p->hash[hash_of(gfn, p->hash_size)]; f; f = f->next)
		if (f->gfn == gfn)
			return f;
	return NULL;
}

static const struct patch_site *site_at(const struct patch_frame *f, unsigned off)
{
	for (unsigned i = 0; i < f->nsites; i++)
		if (f->sites[i].off == off)
			return &f->sites[i];
	return NULL;
}

bool patch_seen(const struct patcher *p, uint64_t gpa)
{
	const struct patch_frame *f = patch_frame_of(p, gpa >> 12);
	unsigned off = gpa & 0xfff;

	return f && (f->seen[off / 64] >> (off % 64) & 1);
}

bool patch_at(const struct patcher *p, uint64_t gpa)
{
	const struct patch_frame *f = patch_frame_of(p, gpa >> 12);

	return f && site_at(f, gpa & 0xfff);
}

void patch_overlay(const struct patcher *p, uint64_t gpa, uint8_t *buf, unsigned len)
{
	const struct patch_frame *f = patch_frame_of(p, gpa >> 12);
	unsigned start = gpa & 0xfff;

	for (unsigned i = 0; f && i < f->nsites; i++)
		if (f->sites[i].off >= start && f->sites[i].off < start + len)
			buf[f->sites[i].off - start] = f->sites[i].orig;
}

static void put_back(struct patch_frame *f, const struct patch_mem *mem)
{
	uint8_t *host = mem->frame(mem->opaque, f->gfn);

	for (unsigned i = 0; host && i < f->nsites; i++)
		host[f->sites[i].off] = f->sites[i].orig;
	f->nsites = 0;
}

static void set_all(struct patcher *p, const struct patch_mem *mem, bool patched)
{
	for (unsigned h = 0; p->hash && h < p->hash_size; h++)
		for (struct patch_frame *f = p->hash[h]; f; f = f->next) {
			uint8_t *host = f->nsites ? mem->frame(mem->opaque, f->gfn) : NULL;

			for (unsigned i = 0; host && i < f->nsites; i++)
				host[f->sites[i].off] = patched ? PATCH_BYTE : f->sites[i].orig;
		}
}

void patch_lift_all(struct patcher *p, const struct patch_mem *mem)
{
	set_all(p, mem, false);
}

void patch_relay_all(struct patcher *p, const struct patch_mem *mem)
{
	set_all(p, mem, true);
}

void patch_mix(struct patcher *p, const struct patch_mem *mem, uint64_t gfn)
{
	struct patch_frame *f = frame_get(p, gfn);

	if (!f || f->mixed)
		return;
	put_back(f, mem);
	memset(f->seen, 0, sizeof(f->seen));
	f->mixed = true;
	p->frames_mixed++;
}

void patch_unscan(struct patcher *p, const struct patch_mem *mem, uint64_t gfn)
{
	struct patch_frame **pp = &p->hash[hash_of(gfn, p->hash_size)], *f;

	while (*pp && (*pp)->gfn != gfn)
		pp = &(*pp)->next;
	f = *pp;
	if (!f || f->mixed)
		return;
	put_back(f, mem);
	*pp = f->next;
	free_frame(f);
	p->code_writes++;
}

/*
 * Is this instruction one that must trap and does not?  MOV from a
 * segment register in sreg_mask (8C /r, the register in ModRM.reg), LAR,
 * LSL, VERR, VERW.
 */
static bool sensitive(const struct patcher *p, const cs_insn *ci)
{
	const cs_x86 *x = &ci->detail->x86;

	switch (ci->id) {
	case X86_INS_LAR:
	case X86_INS_LSL:
	case X86_INS_VERR:
	case X86_INS_VERW:
		return true;
	case X86_INS_MOV:
		return x->opcode[0] == 0x8c && (p->sreg_mask >> ((x->modrm >> 3) & 7) & 1);
	default:
		return false;
	}
}

static struct patch_frame *frame_get(struct patcher *p, uint64_t gfn)
{
	struct patch_frame *f = patch_frame_of(p, gfn);
	unsigned h;

	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->gfn = gfn;
	h = hash_of(gfn, p->hash_size);
	f->next = p->hash[h];
	p->hash[h] = f;
	p->frames_scanned++;
	return f;
}

void patch_mark_scanned(struct patcher *p, uint64_t gfn)
{
	frame_get(p, gfn);
}

unsigned patch_insn_len(const struct patcher *p, const uint8_t *bytes, size_t n, uint64_t addr, int bits)
{
	csh h = (csh)p->capstone[bits == 64];
	cs_insn *ci;
	unsigned len = 0;

	if (cs_disasm(h, bytes, n, addr, 1, &ci) == 1) {
		len = ci->size;
		cs_free(ci, 1);
	}
	return len;
}

static bool add_site(struct patch_frame *f, unsigned off, uint8_t orig, uint8_t len)
{
	if (f->nsites == f->cap) {
		unsigned cap = f->cap ? 2 * f->cap : 4;
		struct patch_site *s = realloc(f->sites, cap * sizeof(*s));

		if (!s)
			return false;
		f->sites = s;
		f->cap = cap;
	}
	f->sites[f->nsites++] = (struct patch_site){ .off = (uint16_t)off, .orig = orig, .len = len };
	return true;
}

static void pend(struct patcher *p, uint64_t gva)
{
	for (unsigned i = 0; i < p->npending; i++)
		if (p->pending[i] == gva)
			return;
	if (p->npending < PATCH_PENDING_MAX)
		p->pending[p->npending++] = gva;
	else
		p->targets_lost++;
}

/* The direct target of a branch (capstone gives it as an immediate). */
static bool direct_target(const cs_insn *ci, uint64_t *t)
{
	const cs_x86 *x = &ci->detail->x86;

	if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
		return false;
	*t = (uint64_t)x->operands[0].imm;
	return true;
}

int patch_scan(struct patcher *p, const struct patch_mem *mem, uint64_t gva, uint64_t gpa, int bits)
{
	csh h = (csh)p->capstone[bits == 64];
	uint64_t gfn = gpa >> 12, fva = gva & ~0xfffULL, mask = bits == 64 ? ~0ULL : 0xffffffffULL;
	uint8_t *host = mem->frame(mem->opaque, gfn);
	struct patch_frame *f;
	uint16_t work[256];
	unsigned nwork = 0;
	int patched = 0;
	cs_insn *ci;

	if (!host || !(ci = cs_malloc(h)))
		return -1;
	f = frame_get(p, gfn);
	if (!f || f->mixed) {
		cs_free(ci, 1);
		return f ? 0 : -1;
	}
	work[nwork++] = gva & 0xfff;
	while (nwork) {
		unsigned off = work[--nwork];

		for (;;) {
			uint8_t bytes[15];
			const uint8_t *code = bytes;
			size_t size = sizeof(bytes);
			uint64_t addr = fva + off, t;
			unsigned n = 4096 - off < 15 ? 4096 - off : 15;
			bool stop = false;

			if (off >= 4096) {
				pend(p, (fva + off) & mask);    /* falls into the next frame */
				break;
			}
			if (f->seen[off / 64] >> (off % 64) & 1)
				break;
			memcpy(bytes, host + off, n);
			patch_overlay(p, (gpa & ~0xfffULL) + off, bytes, n);   /* sites patched before */
			if (n < 15 && !mem->read(mem->opaque, (fva + 4096) & mask, bytes + n, 15 - n))
				size = n;
			if (p->pkru_insns && patch_is_pkru(bytes, size)) {
				/* RDPKRU, WRPKRU (capstone 4 does not know them):
				 * they would reach the real PKRU, ombra's. */
				f->seen[off / 64] |= 1ULL << (off % 64);
				p->insns_scanned++;
				if (!site_at(f, off)) {
					if (!add_site(f, off, host[off], 3))
						break;
					host[off] = PATCH_BYTE;
					p->patched_insns++;
					patched++;
				}
				off += 3;
				continue;
			}
			if (!cs_disasm_iter(h, &code, &size, &addr, ci))
				break;                  /* not code after all: stop here */
			f->seen[off / 64] |= 1ULL << (off % 64);
			p->insns_scanned++;
			if (sensitive(p, ci) && !site_at(f, off)) {
				if (!add_site(f, off, host[off], (uint8_t)ci->size))
					break;
				host[off] = PATCH_BYTE;
				p->patched_insns++;
				patched++;
			}
			if (cs_insn_group(h, ci, CS_GRP_RET) || cs_insn_group(h, ci, CS_GRP_IRET))
				stop = true;
			else if (cs_insn_group(h, ci, CS_GRP_JUMP) || cs_insn_group(h, ci, CS_GRP_CALL)) {
				bool uncond = ci->id == X86_INS_JMP || ci->id == X86_INS_LJMP;

				if (direct_target(ci, &t)) {
					t &= mask;
					if ((t & ~0xfffULL) != fva)
						pend(p, t);
					else if (nwork < 256)
						work[nwork++] = t & 0xfff;
					else
						p->targets_lost++;
				}
				stop = uncond;
			} else if (ci->id == X86_INS_UD2 || ci->id == X86_INS_SYSRET || ci->id == X86_INS_SYSEXIT)
				stop = true;
			off += ci->size;
			if (stop)
				break;
		}
	}
	cs_free(ci, 1);
	return patched;
}
