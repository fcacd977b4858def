/*
 * Shadow mode's trace records (--trace, docs/trace.md), written where the
 * event happens: the shadow MMU tells each of its events through a
 * callback (mmu_event), exception and interrupt delivery tells its own
 * (shadow_trace_inject), and this file adds where the guest was (the
 * trap's RIP, the paging path, the instruction there) before writing the
 * record.
 */
#include "shadow.h"

/* The instruction at rip, decoded, without side effects on the guest. */
static json_t *insn_at(struct shadow *sh, uint64_t rip)
{
	char text[96];

	return shadow_insn_at(sh, rip, text, sizeof(text), NULL, 0) ? json_string(text) : NULL;
}

static json_t *event(struct shadow *sh, bool with_insn)
{
	json_t *o = json_pack("{s:o, s:s}", "rip", trace_hex(sh->trap_rip), "path",
			      mmu_path_names[sh->ctx.path]);
	json_t *insn = with_insn ? insn_at(sh, sh->trap_rip) : NULL;

	if (insn)
		json_object_set_new(o, "insn", insn);
	return o;
}

/* A fill's two entries, raw and decoded: the guest's leaf (paging on)
 * and the shadow's (4-level, 2 MiB leaves at level 2). */
static void describe_entries(struct shadow *sh, const struct mmu_event *e, json_t *o)
{
	const struct walk_ctx *w = &sh->ctx.walk;
	char flags[96];

	if (e->gpte_valid) {
		walk_entry_describe(e->gpte, e->level, w->mode, w->large_levels, w->nx_mask != 0, flags,
				    sizeof(flags));
		json_object_set_new(o, "gpte", trace_hex(e->gpte));
		json_object_set_new(o, "gpte_flags", json_string(flags));
	}
	walk_entry_describe(e->spte, e->spte_large ? 2 : 1, WALK_PAGING64, 1u << 2, true, flags, sizeof(flags));
	json_object_set_new(o, "spte", trace_hex(e->spte));
	json_object_set_new(o, "spte_flags", json_string(flags));
}

/* The shadow MMU's events as records (mmu.h: struct mmu_event). */
static void on_mmu_event(void *opaque, const struct mmu_event *e)
{
	struct shadow *sh = opaque;
	json_t *o;

	switch (e->kind) {
	case TRACE_FILL:
		o = event(sh, true);
		json_object_set_new(o, "gva", trace_hex(e->gva));
		json_object_set_new(o, "gpa", trace_hex(e->gpa));
		json_object_set_new(o, "mpa", trace_hex(mem_gpa_to_mpa(&sh->vm->mem, e->gpa)));
		json_object_set_new(o, "error_code", json_integer((json_int_t)sh->t.error_code));
		json_object_set_new(o, "level", json_integer(e->level));
		describe_entries(sh, e, o);
		break;
	case TRACE_EMULATE_PTE_WRITE:
	case TRACE_MMIO:
		o = event(sh, true);
		json_object_set_new(o, "gva", trace_hex(e->gva));
		json_object_set_new(o, "gpa", trace_hex(e->gpa));
		break;
	case TRACE_INVLPG:
		o = event(sh, true);
		json_object_set_new(o, "gva", trace_hex(e->gva));
		break;
	case TRACE_CR3_LOAD:
		o = event(sh, true);
		json_object_set_new(o, "cr3", trace_hex(sh->v.cr3));
		json_object_set_new(o, "root_hit", json_boolean(e->root_hit));
		break;
	case TRACE_UNSYNC:
		o = json_pack("{s:o, s:s}", "gpa", trace_hex(e->gpa), "path", mmu_path_names[sh->ctx.path]);
		break;
	case TRACE_PREFETCH:
		o = json_pack("{s:o, s:I}", "gva", trace_hex(e->gva), "count", (json_int_t)e->count);
		break;
	case TRACE_ZAP:
		o = json_pack("{s:o, s:I}", "gpa", trace_hex(e->gpa), "count", (json_int_t)e->count);
		break;
	case TRACE_RESYNC:
		o = json_pack("{s:o, s:I}", "gpa", trace_hex(e->gpa), "count", (json_int_t)e->count);
		break;
	case TRACE_RECYCLE:
		o = json_pack("{s:I}", "count", (json_int_t)e->count);
		break;
	default:
		return;
	}
	trace_write(sh->vm->trace, e->kind, o);
}

void shadow_trace_inject(struct shadow *sh, unsigned vector, uint32_t error)
{
	json_t *o;

	if (!sh->vm->trace)
		return;
	o = event(sh, true);
	json_object_set_new(o, "vector", json_integer(vector));
	json_object_set_new(o, "error_code", json_integer(error));
	if (vector == VEC_PF)
		json_object_set_new(o, "gva", trace_hex(sh->v.cr2));
	if (sh->irq_from && vector == sh->irq_vector)
		json_object_set_new(o, "from", json_string(sh->irq_from));   /* an interrupt */
	sh->irq_from = NULL;
	trace_write(sh->vm->trace, TRACE_INJECT, o);
}

void shadow_trace_start(struct shadow *sh)
{
	sh->mmu.on_event = on_mmu_event;
	sh->mmu.event_opaque = sh;
}
