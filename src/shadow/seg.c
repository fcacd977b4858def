/*
 * Control transfers that go through the guest's descriptor tables:
 * exceptions delivered into the guest's IDT, IRET, far JMP/CALL/RET, and
 * segment-register loads.
 *
 * In shadow mode the real CPU never sees the guest's GDT, IDT or TSS (they
 * are only in struct vcpu), so ombra does what the CPU would do with them:
 * read the gate or descriptor from guest memory (implicit supervisor
 * accesses through the guest's own paging), check it, switch stacks
 * through the guest's TSS when the privilege level changes, push the frame
 * in the format of the guest's mode, and load the new CS:RIP.  The guest's
 * CPL (kernel or user) picks the shadow view, so a change of CPL reloads
 * the real CR3 on the way back.
 *
 * Limits (docs/shadow.md): flat code and stack segments (base 0), no task
 * gates or task switches, no call gates, no virtual-8086 mode, no 16-bit
 * gates.  A guest that uses them is ended with a message saying so.
 */
#include <string.h>

#include "shadow.h"

/* Exception classes for the double-fault rules (Intel SDM vol. 3, 6.15). */
static int exc_class(unsigned v)
{
	if (v == VEC_PF)
		return 2;                                  /* page fault */
	if (v == VEC_DE || (v >= VEC_TS && v <= VEC_GP))
		return 1;                                  /* contributory */
	return 0;                                          /* benign */
}

static void parse_desc(uint64_t d, uint16_t sel, struct vseg *s)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
	s->limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	s->type = (d >> 40) & 0xf;
	s->s = (d >> 44) & 1;
	s->dpl = (d >> 45) & 3;
	s->p = (d >> 47) & 1;
	s->l = (d >> 53) & 1;
	s->db = (d >> 54) & 1;
	s->g = (d >> 55) & 1;
	if (s->g)
		s->limit = (s->limit << 12) | 0xfff;
}

/*
 * Read the descriptor for sel from the guest's GDT or LDT.  On a selector
 * past the table's limit, *fault gets the #GP error code; returns false
 * with an exception already delivered, or the run ended.
 */
static bool read_desc(struct shadow *sh, uint16_t sel, uint64_t *desc, uint64_t *addr, bool *over)
{
	uint64_t base = sel & 4 ? sh->v.ldtr.base : sh->v.gdtr.base;
	uint32_t limit = sel & 4 ? sh->v.ldtr.limit : sh->v.gdtr.limit;

	*over = false;
	if ((uint32_t)(sel & ~7) + 7 > limit) {
		*over = true;
		return true;
	}
	*addr = base + (sel & ~7u);
	return guest_read(sh, *addr, desc, 8, false);
}

/*
 * LAR, LSL, VERR, VERW (patched, --shadow-patch): the answer for sel from
 * the guest's own GDT or LDT at its own CPL (x86/desc.c).  false: reading
 * the descriptor made a fault for the guest, or ended the run.
 */
bool seg_query(struct shadow *sh, enum desc_query q, uint16_t sel, bool *zf, uint32_t *out)
{
	uint64_t desc, addr;
	bool over;

	*zf = false;
	if (!(sel & ~3u))
		return true;                                 /* null */
	if ((sel & 4) && !(sh->v.ldtr.sel & ~3u))
		return true;                                 /* no LDT */
	if (!read_desc(sh, sel, &desc, &addr, &over))
		return false;
	if (!over)
		*zf = desc_query(q, desc, sel, sh->v.cpl, vcpu_long(&sh->v), out);
	return true;
}

/* Deliver vector with a selector-style error code, or end the run. */
static enum trap_result sel_fault(struct shadow *sh, unsigned vector, uint16_t sel)
{
	return inject_exception(sh, vector, true, sel & 0xfffc);
}

static bool is_64bit_code(const struct shadow *sh)
{
	return vcpu_long(&sh->v) && sh->v.cs.l;
}

static uint64_t stack_mask(const struct shadow *sh)
{
	return is_64bit_code(sh) || (vcpu_long(&sh->v) && sh->v.cs.l) ? ~0ULL :
	       sh->v.ss.db ? 0xffffffffULL : 0xffffULL;
}

static bool push(struct shadow *sh, uint64_t *sp, uint64_t val, unsigned size, bool user)
{
	*sp -= size;
	if (size == 4)
		*sp &= 0xffffffffULL;
	return guest_write(sh, *sp, &val, size, user);
}

static bool pop(struct shadow *sh, uint64_t *sp, uint64_t *val, unsigned size)
{
	*val = 0;
	if (!guest_read(sh, *sp, val, size, sh->v.cpl == 3))
		return false;
	*sp += size;
	return true;
}

static void set_cpl(struct shadow *sh, unsigned cpl)
{
	if (sh->v.cpl != cpl) {
		sh->v.cpl = cpl;
		shadow_cpu_changed(sh, false, false);
	}
}

/* --- exceptions -------------------------------------------------------------- */

/* An S=1 code descriptor, present or not (bits 44 and 43). */
static bool desc_is_code(uint64_t d)
{
	return (d >> 44 & 1) && (d >> 43 & 1);
}

/* Why sel is a selector the guest read from the real CPU rather than one
 * of its own GDT's, or NULL: on kvm_pvm guest CPL-3 code runs on the
 * host's own GDT (Linux's user selectors 0x23, 0x2b, 0x33), elsewhere on
 * ombra's fixed selectors when the guest's own index cannot be used
 * (realseg.c). */
static const char *real_cs_seen(const struct shadow *sh, uint16_t sel)
{
	if (sh->host_pvm && (sel == 0x23 || sel == 0x2b || sel == 0x33))
		return "a selector of the host's GDT: what `mov %cs` reads at real CPL 3 on kvm_pvm, which runs "
		       "guest CPL-3 code on the host's own GDT";
	if (sel == SEL_USER_CS32 || sel == SEL_USER_CS64)
		return "the real CS ombra runs the guest on, what `mov %cs` reads where the guest's own index "
		       "cannot be used";
	return NULL;
}

enum trap_result inject_soft_exception(struct shadow *sh, unsigned vector)
{
	struct vcpu *v = &sh->v;
	unsigned gate_size = vcpu_long(v) ? 16 : 8;
	uint8_t gate[8];
	uint64_t gpa;
	uint32_t err;
	const uint8_t *last;
	uint64_t insn_rip;

	/* A fault it raises is at the instruction: CC or CE (1 byte) or CD 03
	 * (2), told apart by its last byte, read without side effects. */
	last = mmu_gva_to_gpa(&sh->mmu, &sh->ctx, sh->t.rip - 1, WALK_PEEK, &gpa, &err) == PF_FIXED ?
		       mem_gpa_to_hva(&sh->vm->mem, gpa, 1) : NULL;
	insn_rip = sh->t.rip - (last && *last == 0x03 ? 2 : 1);
	/* SDM vol. 3, 6.12.1.1: INT3, INT n and INTO check the gate's DPL
	 * against the CPL; an exception the CPU raises itself does not.  The
	 * monitor's own gates for #BP and #OF let the guest's through. */
	if ((uint32_t)vector * gate_size + gate_size - 1 <= v->idtr.limit) {
		if (!guest_read(sh, v->idtr.base + (uint64_t)vector * gate_size, gate, 8, false))
			return shadow_failed(sh);
		if (((gate[5] >> 5) & 3) >= v->cpl) {
			sh->soft_int = true;             /* no EXT in what it may raise */
			sh->soft_rip = insn_rip;
			return inject_exception(sh, vector, false, 0);
		}
	}
	sh->t.rip = insn_rip;
	return inject_exception(sh, VEC_GP, true, vector * 8 + 2);
}

enum trap_result inject_exception(struct shadow *sh, unsigned vector, bool has_error, uint32_t error)
{
	struct vcpu *v = &sh->v;
	struct trap *t = &sh->t;
	unsigned gate_size = vcpu_long(v) ? 16 : 8;
	uint8_t gate[16];
	uint64_t gaddr = v->idtr.base + (uint64_t)vector * gate_size, cdesc, caddr, target, sp;
	struct vseg cs, ss;
	unsigned type, new_cpl, ist;
	bool over, ok = true;
	uint16_t csel;
	uint32_t ext;
	uint64_t flags = t->rflags, ret_rip = t->rip;
	enum trap_result r;

	/* EXT, bit 0 of the error code of a fault raised while delivering
	 * this event: set unless the event is a software INT n, whose
	 * faults are at the instruction (SDM vol. 2, INT n: they are the
	 * instruction's faults), not after it. */
	ext = sh->soft_int ? 0 : 1;
	if (sh->soft_int)
		t->rip = sh->soft_rip;
	sh->soft_int = false;

	/* A fault while delivering a fault: the double-fault rules. */
	if (sh->delivering) {
		unsigned first = sh->delivering - 1;

		sh->delivering = 0;
		if (first == VEC_DF)
			return shadow_kill(sh, "triple fault: delivering a double fault raised vector %u (error %#x)",
					   vector, error);
		if ((exc_class(first) == 1 && exc_class(vector) == 1) ||
		    (exc_class(first) == 2 && exc_class(vector) != 0))
			return inject_exception(sh, VEC_DF, true, 0);
	}
	sh->injected++;
	sh->last_vector = vector;
	sh->last_error = has_error ? error : 0;
	shadow_trace_inject(sh, vector, sh->last_error);
	/* The double-fault rules are for exceptions the CPU raises; INT n
	 * with the vector of one is not that exception (SDM vol. 3, 6.15,
	 * interrupt 8, table 6-4). */
	sh->delivering = ext ? vector + 1 : 0;

	if ((uint32_t)vector * gate_size + gate_size - 1 > v->idtr.limit) {
		r = inject_exception(sh, VEC_GP, true, vector * 8 + 2 + ext);
		sh->delivering = 0;
		return r;
	}
	if (!guest_read(sh, gaddr, gate, gate_size, false))
		goto out;
	type = gate[5] & 0xf;
	/* IA-32e mode: only 64-bit interrupt and trap gates, checked before
	 * P (SDM vol. 2, INT n, IA-32e-MODE): else #GP(IDT | vector). */
	if (vcpu_long(v) && type != 0xe && type != 0xf) {
		r = inject_exception(sh, VEC_GP, true, vector * 8 + 2 + ext);
		sh->delivering = 0;
		return r;
	}
	if (!(gate[5] & 0x80)) {
		r = inject_exception(sh, VEC_NP, true, vector * 8 + 2 + ext);
		sh->delivering = 0;
		return r;
	}
	if ((vcpu_long(v) && type != 0xe && type != 0xf) || (!vcpu_long(v) && type != 0xe && type != 0xf)) {
		sh->delivering = 0;
		return shadow_kill(sh, "IDT entry %u has gate type %u: ombra delivers only 32/64-bit interrupt and trap gates",
				   vector, type);
	}
	csel = (uint16_t)(gate[2] | gate[3] << 8);
	target = (uint64_t)gate[0] | (uint64_t)gate[1] << 8 | (uint64_t)gate[6] << 16 | (uint64_t)gate[7] << 24;
	if (vcpu_long(v)) {
		uint32_t high;

		memcpy(&high, gate + 8, 4);
		target |= (uint64_t)high << 32;
	}
	ist = vcpu_long(v) ? gate[4] & 7 : 0;

	if (!read_desc(sh, csel, &cdesc, &caddr, &over))
		goto out;
	if (over || !(csel & ~3) || !desc_is_code(cdesc) || (cdesc >> 45 & 3) != 0) {
		/* Not a kernel code segment of the guest's own: if it is the
		 * real CS the guest could read, it built the gate from `mov
		 * %cs`, and what it would get next (a #GP(selector), or a
		 * handler run at CPL 3) says nothing of why. */
		const char *why = real_cs_seen(sh, csel);

		if (why) {
			sh->delivering = 0;
			return shadow_kill(sh, "the guest's IDT gate %u holds selector %#x, %s; a deprivileged guest "
					   "cannot be shown its own CS on this host (docs/shadow.md)", vector, csel, why);
		}
	}
	if (over || !(csel & ~3)) {
		r = inject_exception(sh, VEC_GP, true, (csel & 0xfffc) | ext);
		sh->delivering = 0;
		return r;
	}
	parse_desc(cdesc, csel, &cs);
	/* Never to a less privileged handler; in IA-32e mode its CS must be
	 * 64-bit code: L=1, D=0. */
	if (!cs.s || !(cs.type & 8) || cs.dpl > v->cpl || (vcpu_long(v) && (!cs.l || cs.db))) {
		r = inject_exception(sh, VEC_GP, true, (csel & 0xfffc) | ext);
		sh->delivering = 0;
		return r;
	}
	if (!cs.p) {
		r = inject_exception(sh, VEC_NP, true, (csel & 0xfffc) | ext);
		sh->delivering = 0;
		return r;
	}
	new_cpl = (cs.type & 4) ? v->cpl : cs.dpl;            /* conforming keeps CPL */
	if (vcpu_long(v) && !x86_canonical(target)) {
		r = inject_exception(sh, VEC_GP, true, ext);   /* a non-canonical handler */
		sh->delivering = 0;
		return r;
	}

	if (vcpu_long(v)) {
		uint64_t old_ss = v->ss.sel, old_sp = t->gpr[R_SP];

		sp = t->gpr[R_SP];
		if (ist || new_cpl < v->cpl) {
			uint64_t off = ist ? 36 + 8 * (ist - 1) : 4 + 8 * new_cpl;

			if (!guest_read(sh, v->tr.base + off, &sp, 8, false))
				goto out;
		}
		sp &= ~0xfULL;
		ok = push(sh, &sp, old_ss, 8, false) && push(sh, &sp, old_sp, 8, false) &&
		     push(sh, &sp, flags, 8, false) && push(sh, &sp, v->cs.sel, 8, false) &&
		     push(sh, &sp, ret_rip, 8, false) && (!has_error || push(sh, &sp, error, 8, false));
		if (!ok)
			goto out;
		if (new_cpl < v->cpl) {
			memset(&ss, 0, sizeof(ss));
			ss.sel = (uint16_t)new_cpl;                /* a null SS with RPL = CPL */
			v->ss = ss;
		}
	} else {
		sp = t->gpr[R_SP] & stack_mask(sh);
		if (new_cpl < v->cpl) {
			uint32_t esp0 = 0;
			uint16_t ss0 = 0;
			uint64_t sdesc, saddr;

			/* SSn:ESPn for the new CPL n, a present writable data
			 * segment at that privilege (SDM vol. 3, 6.12.1). */
			if (!guest_read(sh, v->tr.base + 4 + 8 * new_cpl, &esp0, 4, false) ||
			    !guest_read(sh, v->tr.base + 8 + 8 * new_cpl, &ss0, 2, false) ||
			    !read_desc(sh, ss0, &sdesc, &saddr, &over))
				goto out;
			if (!over)
				parse_desc(sdesc, ss0, &ss);
			if (over || !(ss0 & ~3) || (ss0 & 3) != new_cpl || !ss.s || (ss.type & 8) ||
			    !(ss.type & 2) || ss.dpl != new_cpl) {
				r = inject_exception(sh, VEC_TS, true, (ss0 & 0xfffc) | ext);
				sh->delivering = 0;
				return r;
			}
			if (!ss.p) {
				r = inject_exception(sh, VEC_SS, true, (ss0 & 0xfffc) | ext);
				sh->delivering = 0;
				return r;
			}
			sp = esp0;
			ok = push(sh, &sp, v->ss.sel, 4, false) && push(sh, &sp, t->gpr[R_SP], 4, false);
			if (!ok)
				goto out;
			v->ss = ss;
		}
		ok = push(sh, &sp, flags, 4, false) && push(sh, &sp, v->cs.sel, 4, false) &&
		     push(sh, &sp, ret_rip, 4, false) && (!has_error || push(sh, &sp, error, 4, false));
		if (!ok)
			goto out;
	}

	cs.sel = (uint16_t)((csel & ~3) | new_cpl);
	v->cs = cs;
	t->rip = target;
	t->gpr[R_SP] = sp;
	t->rflags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
	if (type == 0xe)
		t->rflags &= ~RFLAGS_IF;                       /* interrupt gate */
	v->vif = t->rflags & RFLAGS_IF;
	set_cpl(sh, new_cpl);
	sh->delivering = 0;
	return TRAP_DELIVERED;
out:
	/* guest_read/guest_write delivered a nested exception (or ended the run). */
	sh->delivering = 0;
	return shadow_failed(sh);
}

/* --- segment loads ------------------------------------------------------------ */

/* The checks as at privilege level cpl (IRET and RETF check the new SS
 * against the CPL they return to); a fault is delivered at the current. */
static enum trap_result load_segment_at(struct shadow *sh, struct vseg *seg, uint16_t sel, bool is_ss,
					unsigned cpl)
{
	uint64_t d, addr;
	struct vseg s;
	bool over;
	unsigned rpl = sel & 3;

	if (!(sel & ~3)) {
		/* A null selector: fine for DS/ES/FS/GS; for SS only in 64-bit
		 * mode below CPL 3, with RPL = CPL. */
		if (is_ss && !(is_64bit_code(sh) && cpl != 3 && rpl == cpl))
			return sel_fault(sh, VEC_GP, sel);
		memset(seg, 0, sizeof(*seg));
		seg->sel = sel;
		return TRAP_RESUME;
	}
	if (!read_desc(sh, sel, &d, &addr, &over))
		return shadow_failed(sh);
	if (over)
		return sel_fault(sh, VEC_GP, sel);
	parse_desc(d, sel, &s);
	if (is_ss) {
		if (rpl != cpl || !s.s || (s.type & 8) || !(s.type & 2) || s.dpl != cpl)
			return sel_fault(sh, VEC_GP, sel);
		if (!s.p)
			return sel_fault(sh, VEC_SS, sel);
	} else {
		bool code = s.type & 8, readable = s.type & 2, conforming = code && (s.type & 4);

		if (!s.s || (code && !readable))
			return sel_fault(sh, VEC_GP, sel);
		if (!conforming && (rpl > s.dpl || cpl > s.dpl))
			return sel_fault(sh, VEC_GP, sel);
		if (!s.p)
			return sel_fault(sh, VEC_NP, sel);
	}
	if (!(d & (1ULL << 40))) {
		d |= 1ULL << 40;                                   /* the CPU sets "accessed" */
		if (!guest_write(sh, addr, &d, 8, false))
			return shadow_failed(sh);
	}
	*seg = s;
	return TRAP_RESUME;
}

enum trap_result load_segment(struct shadow *sh, struct vseg *seg, uint16_t sel, bool is_ss)
{
	return load_segment_at(sh, seg, sel, is_ss, sh->v.cpl);
}

/* Load CS for a far transfer to sel (no gates, no privilege change). */
static enum trap_result load_cs(struct shadow *sh, uint16_t sel, unsigned new_cpl, struct vseg *out)
{
	uint64_t d, addr;
	bool over;

	if (!(sel & ~3))
		return sel_fault(sh, VEC_GP, sel);
	if (!read_desc(sh, sel, &d, &addr, &over))
		return shadow_failed(sh);
	if (over)
		return sel_fault(sh, VEC_GP, sel);
	parse_desc(d, sel, out);
	if (!out->s) {
		if (out->type == 0xc || out->type == 0x5 || out->type == 0x9 || out->type == 0xb)
			return shadow_kill(sh, "far transfer through a call gate, task gate or TSS (selector %#x): not supported",
					   sel);
		return sel_fault(sh, VEC_GP, sel);
	}
	/* L=1 with D=1 is reserved in IA-32e mode. */
	if (!(out->type & 8) || (vcpu_long(&sh->v) && out->l && out->db))
		return sel_fault(sh, VEC_GP, sel);
	if (out->type & 4 ? out->dpl > new_cpl : out->dpl != new_cpl)
		return sel_fault(sh, VEC_GP, sel);
	if (!out->p)
		return sel_fault(sh, VEC_NP, sel);
	if (out->base != 0)
		return shadow_kill(sh, "code segment %#x has base %#llx: ombra runs only flat code segments",
				   sel, (unsigned long long)out->base);
	out->sel = (uint16_t)((sel & ~3) | new_cpl);
	return TRAP_RESUME;
}

enum trap_result emulate_far_jmp(struct shadow *sh, uint16_t sel, uint64_t offset, bool call,
				 unsigned opsize, uint64_t next_rip)
{
	struct vseg cs;
	enum trap_result r;
	uint64_t sp = sh->t.gpr[R_SP];

	if ((sel & 3) > sh->v.cpl)
		return sel_fault(sh, VEC_GP, sel);
	r = load_cs(sh, sel, sh->v.cpl, &cs);
	if (r != TRAP_RESUME)
		return r;
	if (vcpu_long(&sh->v) && cs.l && !x86_canonical(offset))
		return inject_exception(sh, VEC_GP, true, 0);     /* SDM: JMP/CALL far, #GP(0) */
	if (call) {
		if (!push(sh, &sp, sh->v.cs.sel, opsize, sh->v.cpl == 3) ||
		    !push(sh, &sp, next_rip, opsize, sh->v.cpl == 3))
			return shadow_failed(sh);
		sh->t.gpr[R_SP] = sp;
	}
	sh->v.cs = cs;
	sh->t.rip = vcpu_long(&sh->v) && cs.l ? offset : offset & 0xffffffffULL;
	return TRAP_RESUME;
}

/* --- returns ------------------------------------------------------------------ */

/* What IRET and RETF share once the values are popped. */
static enum trap_result return_to(struct shadow *sh, uint64_t rip, uint16_t csel, bool have_flags,
				  uint64_t flags, bool have_stack, uint64_t rsp, uint16_t ssel)
{
	struct vcpu *v = &sh->v;
	unsigned new_cpl = csel & 3;
	struct vseg cs, ss = v->ss;
	enum trap_result r;

	if (new_cpl < v->cpl)
		return sel_fault(sh, VEC_GP, csel);
	r = load_cs(sh, csel, new_cpl, &cs);
	if (r != TRAP_RESUME)
		return r;
	if (have_stack) {
		/* The SS checks are against the new CPL; a fault they raise
		 * is the instruction's, delivered at the current CPL. */
		if (!(ssel & ~3) && vcpu_long(v) && cs.l && new_cpl != 3) {
			/* A null SS back to 64-bit code below CPL 3, but
			 * its RPL must be the new CPL (SDM vol. 2, IRET:
			 * "RPL <> CPL going back to non-CPL3 64-bit mode
			 * for a NULL SS selector" is #GP(0); RET compares
			 * the SS selector's RPL with the return CS's). */
			if ((ssel & 3) != new_cpl)
				return inject_exception(sh, VEC_GP, true, 0);
			memset(&ss, 0, sizeof(ss));
			ss.sel = ssel;
		} else {
			r = load_segment_at(sh, &ss, ssel, true, new_cpl);
			if (r != TRAP_RESUME)
				return r;
		}
	}
	if (vcpu_long(v) && cs.l && !x86_canonical(rip))
		return inject_exception(sh, VEC_GP, true, 0);     /* SDM: IRET/RET far, #GP(0) */
	if (have_flags) {
		uint64_t keep = RFLAGS_VM;

		/* SDM vol. 2, IRET: VM in the image is a return to
		 * virtual-8086 mode only from CPL 0 outside IA-32e mode; it is
		 * never loaded otherwise.  IOPL, VIF and VIP are loaded at CPL 0. */
		if ((flags & RFLAGS_VM) && !vcpu_long(v) && v->cpl == 0)
			return shadow_kill(sh, "IRET to virtual-8086 mode: not supported");
		if (v->cpl > 0)
			keep |= RFLAGS_IOPL | (1ULL << 19) | (1ULL << 20);  /* IOPL, VIF, VIP */
		if (v->cpl > v->iopl)
			keep |= RFLAGS_IF;
		flags = (flags & ~keep) | (sh->t.rflags & keep);
		sh->t.rflags = (flags & 0x3f7fd7ULL) | RFLAGS_FIXED;
		v->vif = sh->t.rflags & RFLAGS_IF;
		v->iopl = (unsigned)((sh->t.rflags & RFLAGS_IOPL) >> 12);
	}
	v->cs = cs;
	if (have_stack) {
		v->ss = ss;
		sh->t.gpr[R_SP] = rsp;
	}
	sh->t.rip = vcpu_long(v) && cs.l ? rip : rip & 0xffffffffULL;
	/* To an outer level, ES, FS, GS and DS holding data or non-conforming
	 * code more privileged than the new CPL are nulled (SDM vol. 2, IRET
	 * and RET: RETURN-TO-OUTER-PRIVILEGE-LEVEL). */
	if (new_cpl > v->cpl) {
		struct vseg *segs[] = { &v->es, &v->fs, &v->gs, &v->ds };

		for (unsigned i = 0; i < 4; i++)
			if (segs[i]->s && (!(segs[i]->type & 8) || !(segs[i]->type & 4)) &&
			    segs[i]->dpl < new_cpl) {
				segs[i]->sel = 0;
				segs[i]->p = 0;
			}
	}
	set_cpl(sh, new_cpl);
	return TRAP_RESUME;
}

enum trap_result emulate_iret(struct shadow *sh, unsigned opsize)
{
	uint64_t sp = sh->t.gpr[R_SP], rip, cs, flags, rsp = 0, ss = 0;
	bool long64 = is_64bit_code(sh);

	if (sh->t.rflags & RFLAGS_NT) {
		if (vcpu_long(&sh->v))
			return inject_exception(sh, VEC_GP, true, 0);   /* no task return in IA-32e mode */
		return shadow_kill(sh, "IRET with NT set (a task return): not supported");
	}
	if (!pop(sh, &sp, &rip, opsize) || !pop(sh, &sp, &cs, opsize) || !pop(sh, &sp, &flags, opsize))
		return shadow_failed(sh);
	/* 64-bit mode always pops SS:RSP; elsewhere only on a return to an
	 * outer privilege level. */
	if (long64 || (cs & 3) > sh->v.cpl) {
		if (!pop(sh, &sp, &rsp, opsize) || !pop(sh, &sp, &ss, opsize))
			return shadow_failed(sh);
		return return_to(sh, rip, (uint16_t)cs, true, flags, true, rsp, (uint16_t)ss);
	}
	sh->t.gpr[R_SP] = sp;
	return return_to(sh, rip, (uint16_t)cs, true, flags, false, 0, 0);
}

enum trap_result emulate_far_ret(struct shadow *sh, unsigned opsize, uint16_t pop_extra)
{
	uint64_t sp = sh->t.gpr[R_SP], rip, cs, rsp = 0, ss = 0;

	if (!pop(sh, &sp, &rip, opsize) || !pop(sh, &sp, &cs, opsize))
		return shadow_failed(sh);
	sp += pop_extra;
	if ((cs & 3) > sh->v.cpl) {
		if (!pop(sh, &sp, &rsp, opsize) || !pop(sh, &sp, &ss, opsize))
			return shadow_failed(sh);
		return return_to(sh, rip, (uint16_t)cs, false, 0, true, rsp + pop_extra, (uint16_t)ss);
	}
	sh->t.gpr[R_SP] = sp;
	return return_to(sh, rip, (uint16_t)cs, false, 0, false, 0, 0);
}

/* --- SYSCALL and SYSRET ------------------------------------------------------ */

/* The flat segments SYSCALL and SYSRET load from STAR without reading the
 * GDT (SDM vol. 2B, SYSCALL and SYSRET, Operation). */
static struct vseg flat(uint16_t sel, bool code, unsigned dpl, bool l)
{
	return (struct vseg){ .sel = sel, .base = 0, .limit = 0xffffffff, .type = code ? 0xb : 0x3, .s = 1,
			      .dpl = (uint8_t)dpl, .p = 1, .l = (uint8_t)l, .db = (uint8_t)!l, .g = 1 };
}

/* SYSCALL: #UD unless EFER.SCE and 64-bit mode (Intel: not in
 * compatibility mode); RCX = the next RIP, R11 = RFLAGS without RF;
 * RFLAGS loses SFMASK's bits and RF; CS = STAR[47:32] & ~3 (64-bit code,
 * DPL 0), SS = that + 8; CPL 0; RIP = LSTAR. */
enum trap_result emulate_syscall(struct shadow *sh, uint64_t next_rip)
{
	struct vcpu *v = &sh->v;
	uint16_t sel = (uint16_t)(v->star >> 32) & 0xfffc;

	if (!(v->efer & EFER_SCE) || !is_64bit_code(sh))
		return inject_exception(sh, VEC_UD, false, 0);
	sh->t.gpr[R_CX] = next_rip;
	sh->t.gpr[R_R11] = sh->t.rflags & ~RFLAGS_RF;
	sh->t.rflags = (sh->t.rflags & ~(v->sfmask | RFLAGS_RF)) | RFLAGS_FIXED;
	v->vif = sh->t.rflags & RFLAGS_IF;
	v->cs = flat(sel, true, 0, true);
	v->ss = flat((uint16_t)(sel + 8), false, 0, false);
	sh->t.rip = v->lstar;
	set_cpl(sh, 0);
	return TRAP_RESUME;
}

/* SYSRET: #UD unless EFER.SCE and 64-bit mode; #GP(0) unless CPL 0 and, for
 * the 64-bit form, RCX canonical (Intel); RFLAGS = (R11 & 0x3c7fd7) | 2;
 * CS = STAR[63:48] + 16 (64-bit) or STAR[63:48] (32-bit), RPL 3; SS =
 * STAR[63:48] + 8, RPL 3; CPL 3; RIP = RCX (ECX in the 32-bit form). */
enum trap_result emulate_sysret(struct shadow *sh, bool rex_w)
{
	struct vcpu *v = &sh->v;
	uint16_t sel = (uint16_t)(v->star >> 48);
	uint64_t rcx = sh->t.gpr[R_CX];

	if (!(v->efer & EFER_SCE) || !is_64bit_code(sh))
		return inject_exception(sh, VEC_UD, false, 0);
	if (v->cpl != 0 || (rex_w && !x86_canonical(rcx)))
		return inject_exception(sh, VEC_GP, true, 0);
	sh->t.rflags = (sh->t.gpr[R_R11] & 0x3c7fd7ULL) | RFLAGS_FIXED;
	v->vif = sh->t.rflags & RFLAGS_IF;
	v->iopl = (unsigned)((sh->t.rflags & RFLAGS_IOPL) >> 12);
	v->cs = flat((uint16_t)((rex_w ? sel + 16 : sel) | 3), true, 3, rex_w);
	v->ss = flat((uint16_t)((sel + 8) | 3), false, 3, false);
	sh->t.rip = rex_w ? rcx : rcx & 0xffffffffULL;
	set_cpl(sh, 3);
	return TRAP_RESUME;
}

/*
 * The guest changed CS (and SS) without trapping.  On a host whose KVM runs
 * guest CPL 3 on the host's own GDT (kvm_pvm), an IRET or far transfer to a
 * selector that is also a user selector of the host (0x23, 0x2b, 0x33 on
 * Linux) succeeds natively.  Such a transfer can only land at CPL 3, and
 * the next trap shows the guest's selector in the frame: take the guest's
 * own descriptors for it, as the CPU would have.
 */
enum trap_result shadow_native_transfer(struct shadow *sh, uint16_t csel, uint16_t ssel)
{
	uint64_t d, addr;
	bool over;
	struct vseg cs, ss;

	sh->native_transfers++;
	if (!read_desc(sh, csel, &d, &addr, &over) || over)
		return shadow_kill(sh, "the guest is running on code selector %#x, which its own GDT does not have",
				   csel);
	parse_desc(d, csel, &cs);
	if ((ssel & ~3) && read_desc(sh, ssel, &d, &addr, &over) && !over)
		parse_desc(d, ssel, &ss);
	else
		memset(&ss, 0, sizeof(ss));
	ss.sel = ssel;
	sh->v.cs = cs;
	sh->v.ss = ss;
	set_cpl(sh, csel & 3);
	return TRAP_RESUME;
}
