/*
 * --shadow-patch on the trap path: guest code scanned at its first fetch
 * from a frame (PF_SCAN), a scanned frame's patches undone when something
 * writes it (PF_CODE_WRITE, or ombra's own guest_write), and a trap on a
 * patched instruction counted.  The scanner and the patch table are pure
 * logic (patch.c); this is where they meet guest memory and the MMU.
 */
#include "shadow.h"

#include <string.h>

static uint8_t *frame_hva(void *opaque, uint64_t gfn)
{
	struct shadow *sh = opaque;

	return mem_gpa_to_hva(&sh->vm->mem, gfn << 12, 4096);
}

/* gva -> gpa through the guest's tables as they are: no A/D bit set, no
 * fault delivered. */
static bool peek_gpa(struct shadow *sh, uint64_t gva, uint64_t *gpa)
{
	uint32_t err;

	return mmu_gva_to_gpa(&sh->mmu, &sh->ctx, gva, (sh->ctx.user ? PFERR_U : 0) | WALK_PEEK, gpa, &err) ==
	       PF_FIXED;
}

/* Guest memory through the guest's tables as they are, the original
 * bytes under the patches: what gdb reads (debug.c). */
static bool peek(void *opaque, uint64_t gva, uint8_t *buf, unsigned len)
{
	struct shadow *sh = opaque;

	return shadow_debug_mem(sh->vm, gva, buf, len, false) == 0;
}

static const struct patch_mem *mem_of(struct shadow *sh, struct patch_mem *m)
{
	*m = (struct patch_mem){ .opaque = sh, .frame = frame_hva, .read = peek };
	return m;
}

/* Scan from gva (guest-physical gpa); the frame's leaves follow when it
 * is newly scanned or newly patched.  The number patched, or -1. */
static int scan_one(struct shadow *sh, const struct patch_mem *mem, uint64_t gva, uint64_t gpa, int bits)
{
	bool first = !patch_scanned(&sh->patch, gpa >> 12);
	int patched = patch_scan(&sh->patch, mem, gva, gpa, bits);

	if (patched > 0 || (patched == 0 && first))
		mmu_code_scanned(&sh->mmu, gpa >> 12);
	return patched;
}

/* Code the scan reached in other frames (a call, a jump, a fall-through
 * off the end): scanned now, from there, through the guest's tables as
 * they are, whether or not that frame has run yet; else a frame first run
 * from one entry would never see code the others reach in it. */
static void scan_pending(struct shadow *sh, const struct patch_mem *mem, int bits)
{
	for (unsigned round = 0; round < 4096 && sh->patch.npending; round++) {
		uint64_t gva = sh->patch.pending[--sh->patch.npending], gpa;

		if (peek_gpa(sh, gva, &gpa) && !patch_seen(&sh->patch, gpa) && !patch_mixed(&sh->patch, gpa >> 12))
			scan_one(sh, mem, gva, gpa, bits);
	}
	sh->patch.npending = 0;
}

static int code_bits(const struct shadow *sh)
{
	return vcpu_long(&sh->v) && sh->v.cs.l ? 64 : 32;
}

void shadow_scan_at(struct shadow *sh, uint64_t gva, uint64_t gpa)
{
	struct patch_mem mem;
	int bits = code_bits(sh);

	if (patch_seen(&sh->patch, gpa) || patch_mixed(&sh->patch, gpa >> 12))
		return;
	if (scan_one(sh, mem_of(sh, &mem), gva, gpa, bits) >= 0)
		scan_pending(sh, &mem, bits);
}

void shadow_code_fetch(struct shadow *sh, uint64_t cr2, uint64_t gpa)
{
	uint64_t entry = sh->t.rip;

	if ((entry ^ cr2) >> 12) {
		/* The instruction at RIP runs into this frame from the one
		 * before: the code here starts after it. */
		uint8_t bytes[15];
		unsigned len = 0;

		if (peek(sh, entry, bytes, sizeof(bytes)))
			len = patch_insn_len(&sh->patch, bytes, sizeof(bytes), entry, code_bits(sh));
		entry += len;
		if (!len || (entry ^ cr2) >> 12) {
			mmu_code_scanned(&sh->mmu, gpa >> 12);
			patch_mark_scanned(&sh->patch, gpa >> 12);
			return;
		}
	}
	shadow_scan_at(sh, entry, (gpa & ~0xfffULL) | (entry & 0xfff));
}

void shadow_code_store(struct shadow *sh, uint64_t gfn)
{
	struct patch_mem mem;
	uint64_t rip_gpa;

	if (peek_gpa(sh, sh->t.rip, &rip_gpa) && (rip_gpa >> 12) == gfn) {
		/* An instruction writes its own frame: it needs to run from it
		 * and store to it at once, which no scanned frame allows. */
		patch_mix(&sh->patch, mem_of(sh, &mem), gfn);
		mmu_code_mixed(&sh->mmu, gfn);
		return;
	}
	shadow_code_written(sh, gfn);
}

void shadow_code_written(struct shadow *sh, uint64_t gfn)
{
	struct patch_mem mem;

	patch_unscan(&sh->patch, mem_of(sh, &mem), gfn);
	mmu_code_unscanned(&sh->mmu, gfn);
}

void shadow_resume_scan(struct shadow *sh)
{
	uint64_t rip = sh->t.rip, gpa;

	if (!vcpu_long(&sh->v) || !sh->v.cs.l)
		rip &= 0xffffffffULL;
	if (peek_gpa(sh, rip, &gpa) && patch_scanned(&sh->patch, gpa >> 12))
		shadow_scan_at(sh, rip, gpa);
}

void shadow_patch_lift(struct shadow *sh)
{
	struct patch_mem mem;

	if (sh->patch_step)
		return;
	/* Every patch, not only the faulting frame's: with PKRU open the
	 * instruction may read any patched frame.  A few bytes per patch,
	 * against two traps; no shadow entry changes, so no TLB flush. */
	patch_lift_all(&sh->patch, mem_of(sh, &mem));
	sh->pkru_load = MON_PKRU_LOAD | PKRU_OPEN;
	/* resume() sets the trap flag, after any delivery this trap makes
	 * (a frame pushed must not hold ombra's TF) */
	sh->patch_step = true;
	sh->patch_step_guest_tf = sh->t.rflags & RFLAGS_TF;
}

void shadow_patch_restore(struct shadow *sh)
{
	struct patch_mem mem;

	patch_relay_all(&sh->patch, mem_of(sh, &mem));
	sh->pkru_load = MON_PKRU_LOAD | PKRU_PATCHED;
	sh->patch_step = false;
	if (!sh->patch_step_guest_tf)
		sh->t.rflags &= ~RFLAGS_TF;
}

bool shadow_at_patch(struct shadow *sh)
{
	uint64_t gpa;

	return peek_gpa(sh, sh->t.rip, &gpa) && patch_at(&sh->patch, gpa);
}
