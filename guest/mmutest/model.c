/*
 * model.c: the permission model and the A/D model (model.h).  Each rule is
 * one line, with the reason next to it.  CR4.SMEP, SMAP and PKE stay off in every test, so they
 * are not part of the model.
 */
#include "cpu.h"
#include "model.h"

struct walk_expect model_walk(const struct walk_env *env, const uint64_t *bits, unsigned top,
			      unsigned leaf)
{
	struct walk_expect e = { false, 0, 0 };
	bool nx_active = env->nx_mode && env->nxe;
	bool nx_reserved = env->nx_mode && !env->nxe;
	uint64_t all = ~0ull, any = 0; /* AND and OR of the entries' bits over the walk */
	bool writable, user_ok, no_exec, denied;
	uint32_t access = 0;

	/* The error code describes the access, whatever stopped it. */
	if (env->op == ACCESS_WRITE)
		access |= PFERR_W;
	if (env->user)
		access |= PFERR_U;
	/* I/D is reported only where NX exists and is enabled (or with SMEP). */
	if (env->op == ACCESS_FETCH && nx_active)
		access |= PFERR_I;

	for (unsigned level = top; level >= leaf; level--) {
		uint64_t b = bits[level];

		if (!(b & PTE_P)) { /* not present: P=0 in the error code */
			e.fault = true;
			e.error = access;
			e.stop_level = level;
			return e;
		}
		/* With EFER.NXE=0, bit 63 is a reserved bit of PAE and 4-level entries. */
		if (nx_reserved && (b & PTE_NX)) {
			e.fault = true;
			e.error = access | PFERR_P | PFERR_RSVD;
			e.stop_level = level;
			return e;
		}
		all &= b;
		any |= b;
	}
	writable = all & PTE_W;                  /* W at every level */
	user_ok = all & PTE_U;                   /* U at every level */
	no_exec = nx_active && (any & PTE_NX);   /* NX at any level */

	/* Ring 3 needs U at every level. */
	denied = env->user && !user_ok;
	/* Writes need W at every level: always at ring 3, at ring 0 only with CR0.WP. */
	denied = denied || (env->op == ACCESS_WRITE && !writable && (env->user || env->wp));
	/* Fetches need NX clear at every level (with NXE); ring 0 may fetch from user
	 * pages since SMEP is off. */
	denied = denied || (env->op == ACCESS_FETCH && no_exec);
	if (denied) {
		e.fault = true;
		e.error = access | PFERR_P;
	}
	return e;
}

enum error_match model_error_match(uint32_t want, uint32_t got, struct rsvd_p *p)
{
	int got_p = (got & PFERR_P) != 0;

	if (!(want & PFERR_RSVD))
		return got == want ? ERROR_MATCH : ERROR_DIFFERS;
	if ((got | PFERR_P) != (want | PFERR_P))
		return ERROR_DIFFERS;
	if (p->seen < 0)
		p->seen = got_p;
	return p->seen == got_p ? ERROR_MATCH : ERROR_P_INCONSISTENT;
}

void model_ad_access(uint64_t *const *ad, unsigned top, unsigned leaf, enum access_op op,
		     bool completed)
{
	for (unsigned level = top; level >= leaf; level--) {
		if (completed)  /* every entry the walk used gets A, before the translation is used */
			*ad[level] = (*ad[level] | PTE_A) & ~MODEL_A_ANY;
		else if (!(*ad[level] & PTE_A))  /* after a #PF, A is the CPU's choice (QEMU sets
						    it above the fault, KVM's walker does not) */
			*ad[level] |= MODEL_A_ANY;
	}
	/* A completed write sets D in the entry that maps the page, and only there: in an
	 * entry that references a table bit 6 is ignored, never written.  A faulting write
	 * sets no D anywhere. */
	if (completed && op == ACCESS_WRITE)
		*ad[leaf] |= PTE_D;
}
