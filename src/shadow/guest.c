/*
 * The bottom of shadow mode, under everything else in src/shadow: guest
 * memory through the guest's own translation (guest_read, guest_write,
 * guest_fetch, guest_translate), the MMU following the guest's CPU
 * (shadow_cpu_changed), which vectors carry an error code, and ending the
 * run because of the guest (shadow_kill).  Where no RAM is, an access goes
 * to the device there (vm_mmio), as the CPU's would.  A failed guest
 * access has been turned into the exception the CPU would raise,
 * delivered into the guest (seg.c), or has ended the run.
 */
#include "shadow.h"

#include "host/disasm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* --- what the CPU does, and the end of a run ---------------------------------- */

/* Vectors whose frame carries an error code. */
bool has_error_code(unsigned v)
{
	return v == VEC_DF || (v >= VEC_TS && v <= VEC_PF) || v == VEC_AC || v == 21 || v == 29 || v == 30;
}

enum trap_result shadow_kill(struct shadow *sh, const char *fmt, ...)
{
	char why[sizeof(sh->vm->err)];
	va_list ap;

	if (sh->vm->end != END_NONE)
		return TRAP_END;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vm_end(sh->vm, END_GUEST_ERROR, OMBRA_EXIT_GUEST_ERROR, "%s (guest rip %#llx, %s, CPL %u)", why,
	       (unsigned long long)sh->t.rip,
	       vcpu_long(&sh->v) ? (sh->t.code64 ? "64-bit mode" : "compatibility mode")
				 : vcpu_paging(&sh->v) ? "32-bit protected mode, paging on"
						       : "32-bit protected mode, paging off",
	       sh->v.cpl);
	return TRAP_END;
}

/* --- guest memory through the guest's translation -------------------------- */

/* gva -> gpa for an access of the given kind (PFERR_W, PFERR_U, PFERR_FETCH),
 * or the guest's fault for it delivered, with the error code the CPU would
 * give (false). */
static bool guest_translate_access(struct shadow *sh, uint64_t gva, uint32_t access, uint64_t *gpa)
{
	uint32_t err = 0;

	if (!vcpu_long(&sh->v))
		gva &= 0xffffffffULL;
	switch (mmu_gva_to_gpa(&sh->mmu, &sh->ctx, gva, access, gpa, &err)) {
	case PF_FIXED:
		return true;
	case PF_GUEST:
		sh->v.cr2 = gva;
		inject_exception(sh, VEC_PF, true, err);
		return false;
	case PF_NONCANONICAL:
		inject_exception(sh, VEC_GP, true, 0);
		return false;
	default:
		shadow_kill(sh, "a guest page-table entry for %#llx points outside RAM",
			    (unsigned long long)gva);
		return false;
	}
}

bool guest_translate(struct shadow *sh, uint64_t gva, bool write, bool user, uint64_t *gpa)
{
	return guest_translate_access(sh, gva, (write ? PFERR_W : 0) | (user ? PFERR_U : 0), gpa);
}

static bool guest_access(struct shadow *sh, uint64_t gva, void *buf, unsigned len, uint32_t access)
{
	uint8_t *p = buf;
	bool write = access & PFERR_W;

	while (len) {
		unsigned chunk = 4096 - (unsigned)(gva & 0xfff);
		uint64_t gpa;
		void *hva;

		if (chunk > len)
			chunk = len;
		if (!vcpu_long(&sh->v))
			gva &= 0xffffffffULL;
		if (!guest_translate_access(sh, gva, access, &gpa))
			return false;
		hva = mem_gpa_to_hva(&sh->vm->mem, gpa, chunk);
		if (hva) {
			if (write && sh->patching && patch_scanned(&sh->patch, gpa >> 12))
				shadow_code_written(sh, gpa >> 12);
			if (write) {
				memcpy(hva, p, chunk);
			} else {
				memcpy(p, hva, chunk);
				if (sh->patching)     /* the guest's own bytes, not the patches */
					patch_overlay(&sh->patch, gpa, p, chunk);
			}
		} else if (access & PFERR_FETCH) {
			/* QEMU too stops a guest that runs code where no RAM is. */
			shadow_kill(sh, "the guest executes at %#llx (guest-physical %#llx), where no RAM is",
				    (unsigned long long)gva, (unsigned long long)gpa);
			return false;
		} else {
			/* No RAM: the device there, or nobody (reads zero, writes
			 * ignored), as the CPU's own access would find: in pieces
			 * of at most 8 bytes that do not cross an 8-byte line. */
			for (unsigned done = 0; done < chunk;) {
				unsigned n = 8 - (unsigned)((gpa + done) & 7);

				if (n > chunk - done)
					n = chunk - done;
				vm_mmio(sh->vm, gpa + done, p + done, n, write);
				done += n;
			}
		}
		p += chunk;
		gva += chunk;
		len -= chunk;
	}
	return true;
}

bool guest_read(struct shadow *sh, uint64_t gva, void *buf, unsigned len, bool user)
{
	return guest_access(sh, gva, buf, len, user ? PFERR_U : 0);
}

/* An instruction fetch: a fault on it says so (I/D), as the CPU's would. */
bool guest_fetch(struct shadow *sh, uint64_t gva, void *buf, unsigned len, bool user)
{
	return guest_access(sh, gva, buf, len, PFERR_FETCH | (user ? PFERR_U : 0));
}

bool guest_write(struct shadow *sh, uint64_t gva, const void *buf, unsigned len, bool user)
{
	return guest_access(sh, gva, (void *)buf, len, PFERR_W | (user ? PFERR_U : 0));
}

/* --- the MMU follows the guest's CPU --------------------------------------- */

void shadow_cpu_changed(struct shadow *sh, bool cr3_write, bool flush)
{
	struct vcpu *v = &sh->v;
	enum mmu_path old = sh->ctx.path;
	bool old_pge = sh->ctx.cr4_pge;

	mmu_ctx_init(&sh->ctx, &sh->vm->mem, v->cr0, v->cr4, v->efer, WALK_MAXPHYADDR_DEFAULT);
	sh->ctx.cr3 = v->cr3;
	sh->ctx.user = v->cpl == 3;
	if (sh->ctx.path != PATH_NONPAGING) {
		sh->ctx.walk.cr3 = v->cr3;
		memcpy(sh->ctx.walk.pdptes, v->pdptes, sizeof(v->pdptes));
	}
	/* A CR3 write flushes the guest's TLB; a paging-mode change or a
	 * change of CR4.PGE flushes its global entries too; so does what the
	 * caller asks to flush (a CR4.PSE or EFER.NXE change).  Only a CR3
	 * write counts in cr3_writes (docs/counters.md). */
	if (cr3_write || flush || old != sh->ctx.path || old_pge != sh->ctx.cr4_pge)
		mmu_new_cr3(&sh->mmu, &sh->ctx, cr3_write, old != sh->ctx.path || old_pge != sh->ctx.cr4_pge);
	/* A new CR3, CPL (kernel or user view), CR0.WP or EFER.NXE each select
	 * another root: the real CR3 is reloaded on the way back, and that
	 * lookup counts in root_hits or root_misses. */
	sh->mmu.need_reload = true;
	sh->mmu.root_changed = true;
}

size_t shadow_insn_at(struct shadow *sh, uint64_t rip, char *text, size_t tlen, char *hex, size_t hlen)
{
	uint8_t code[15];
	uint64_t gpa;
	uint32_t err;
	size_t n = 0;

	while (n < sizeof(code)) {
		uint8_t *p;

		if (mmu_gva_to_gpa(&sh->mmu, &sh->ctx, rip + n, WALK_PEEK, &gpa, &err) != PF_FIXED)
			break;
		p = mem_gpa_to_hva(&sh->vm->mem, gpa, 1);
		if (!p)
			break;
		code[n] = *p;
		if (sh->patching)               /* the guest's own bytes */
			patch_overlay(&sh->patch, gpa, &code[n], 1);
		n++;
	}
	return disasm_report(code, n, rip, vcpu_long(&sh->v) && sh->v.cs.l ? 64 : 32, text, tlen, hex, hlen);
}
