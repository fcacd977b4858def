/*
 * The code scanner and patch table (--shadow-patch): a few x86
 * instructions are sensitive without being privileged.  At the CPL 3 the
 * guest kernel runs at, MOV from CS or SS shows RPL 3 and LAR, LSL, VERR
 * and VERW judge the guest's DPL-0 descriptors from CPL 3, all without a
 * trap.  As VirtualBox's raw mode did (its code scanner CSAM and patch
 * manager PATM), ombra scans guest code when it is first executed, a
 * guest frame at a time, by recursive descent from the address that ran,
 * and replaces the first byte of each such instruction with HLT, which
 * always traps at CPL 3; the original bytes are kept here, and every read
 * ombra makes of guest memory (its decoder included) sees them, so the
 * trap is emulated as the original instruction.  Pure logic on memory
 * buffers: the caller reads and translates guest memory (struct
 * patch_mem); the unit tests give it plain buffers.
 */
#ifndef OMBRA_PATCH_H
#define OMBRA_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PATCH_BYTE 0xf4          /* HLT: #GP(0) at any CPL but 0 */
#define PATCH_PENDING_MAX 512

/* Guest memory as the scanner sees it. */
struct patch_mem {
	void *opaque;
	/* The host bytes of guest frame gfn, or NULL where no RAM is. */
	uint8_t *(*frame)(void *opaque, uint64_t gfn);
	/* len bytes at guest-virtual gva through the guest's tables, without
	 * side effects, with the original bytes of patched instructions;
	 * false if some are not mapped. */
	bool (*read)(void *opaque, uint64_t gva, uint8_t *buf, unsigned len);
};

struct patch_site {
	uint16_t off;                /* in the frame */
	uint8_t orig;                /* the byte PATCH_BYTE replaced */
	uint8_t len;                 /* the instruction's length */
};

/* A guest frame that has been scanned: code ombra has looked at. */
struct patch_frame {
	uint64_t gfn;
	uint64_t seen[4096 / 64];    /* instruction starts decoded */
	struct patch_site *sites;
	unsigned nsites, cap;
	bool mixed;                  /* its own code writes it: never scanned again */
	struct patch_frame *next;    /* hash chain */
};

struct patcher {
	struct patch_frame **hash;
	unsigned hash_size;
	unsigned sreg_mask;          /* MOV from these segment registers is patched: 1 << X86 sreg number */
	bool pkru_insns;             /* RDPKRU and WRPKRU are patched (ombra owns the real PKRU) */
	size_t capstone[2];          /* handles (csh), 32- and 64-bit, with detail */
	/* Transfers out of the frame a scan met: their guest-virtual
	 * targets, for the caller to scan in turn (scan.c). */
	uint64_t pending[PATCH_PENDING_MAX];
	unsigned npending;
	/* counters */
	uint64_t frames_scanned;     /* code_scans: frames scanned (again after a write) */
	uint64_t insns_scanned;      /* instructions decoded by the scanner */
	uint64_t patched_insns;      /* instructions patched */
	uint64_t patch_traps;        /* traps on a patched instruction */
	uint64_t code_writes;        /* scanned frames written, their patches undone */
	uint64_t targets_lost;       /* targets a scan had no room to follow */
	uint64_t frames_mixed;       /* frames left unscanned: their own code writes them */
};

/* Segment-register numbers for sreg_mask, as the SDM encodes them. */
enum { PATCH_ES = 0, PATCH_CS, PATCH_SS, PATCH_DS, PATCH_FS, PATCH_GS };

/* 0, or -1 when out of memory or capstone fails. */
int patch_init(struct patcher *p, unsigned sreg_mask);
void patch_destroy(struct patcher *p);

struct patch_frame *patch_frame_of(const struct patcher *p, uint64_t gfn);
static inline bool patch_scanned(const struct patcher *p, uint64_t gfn)
{
	const struct patch_frame *f = p && p->hash ? patch_frame_of(p, gfn) : NULL;

	return f && !f->mixed;
}
/* A frame whose own instructions write it (code and data in one page):
 * running code and taking stores at once, it is left as it is, unscanned
 * and unpatched, from then on (patch_mix). */
static inline bool patch_mixed(const struct patcher *p, uint64_t gfn)
{
	const struct patch_frame *f = p && p->hash ? patch_frame_of(p, gfn) : NULL;

	return f && f->mixed;
}
/* Does frame gfn hold a patch? */
static inline bool patch_in_frame(const struct patcher *p, uint64_t gfn)
{
	const struct patch_frame *f = p && p->hash ? patch_frame_of(p, gfn) : NULL;

	return f && f->nsites;
}
/* RDPKRU (0F 01 EE) or WRPKRU (0F 01 EF) at the start of these n bytes? */
static inline bool patch_is_pkru(const uint8_t *b, size_t n)
{
	return n >= 3 && b[0] == 0x0f && b[1] == 0x01 && (b[2] == 0xee || b[2] == 0xef);
}
/* Has the instruction at gpa been decoded by a scan? */
bool patch_seen(const struct patcher *p, uint64_t gpa);
/* Is there a patch at gpa? */
bool patch_at(const struct patcher *p, uint64_t gpa);

/*
 * Scan the code that starts at guest-virtual gva (guest-physical gpa) and
 * runs in 32- or 64-bit mode (bits), following every path that stays in
 * gpa's frame: fall-through, direct jumps, both ways of a conditional
 * branch, direct calls and what follows them, until a return, an indirect
 * or far jump, or an instruction nobody can decode.  Each sensitive
 * instruction met is patched in the frame.  The frame becomes scanned
 * (if it was not); targets outside it go to p->pending.  Returns the
 * instructions patched, or -1 if gpa's frame is not RAM or out of memory.
 */
int patch_scan(struct patcher *p, const struct patch_mem *mem, uint64_t gva, uint64_t gpa, int bits);

/* Frame gfn counts as scanned, with nothing seen in it yet. */
void patch_mark_scanned(struct patcher *p, uint64_t gfn);
/* The length of the instruction in bytes (n of them, at address addr), or
 * 0 if capstone cannot decode it. */
unsigned patch_insn_len(const struct patcher *p, const uint8_t *bytes, size_t n, uint64_t addr, int bits);

/* Undo every patch in frame gfn and forget its scan (the guest writes it). */
void patch_unscan(struct patcher *p, const struct patch_mem *mem, uint64_t gfn);

/* Put every frame's original bytes back for a moment, the patches kept
 * in the table (patch_lift_all), and the patches back again
 * (patch_relay_all). */
void patch_lift_all(struct patcher *p, const struct patch_mem *mem);
void patch_relay_all(struct patcher *p, const struct patch_mem *mem);

/* PKRU with protection key 1, the patched frames' (SPTE_PKEY_PATCH),
 * closed to data accesses, and with every key open. */
#define PKRU_PATCHED 0xcu
#define PKRU_OPEN    0x0u

/* Undo every patch in frame gfn and leave it unscanned for good. */
void patch_mix(struct patcher *p, const struct patch_mem *mem, uint64_t gfn);

/* Put the original bytes back into buf, which holds len bytes read from
 * guest-physical gpa (in one frame). */
void patch_overlay(const struct patcher *p, uint64_t gpa, uint8_t *buf, unsigned len);

#endif
