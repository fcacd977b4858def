/*
 * The guest's half of a translation chain: a side-effect-free walk (PEEK)
 * of the guest's tables, each level's entry with where it lives, then the
 * guest-physical address and the rest of the chain (explain_gpa).
 */
#include "chain.h"

#include <stdio.h>

#include "explain.h"

static json_t *hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return json_string(buf);
}

void chain_guest(const struct guest_mem *m, bool paging, const char *path, const struct walk_ctx *walk,
		 uint64_t gva, json_t *obj)
{
	struct walk_result r;
	json_t *steps = json_array();

	json_object_set_new(obj, "path", json_string(path));
	json_object_set_new(obj, "guest_walk", steps);
	if (!paging) {
		explain_gpa(m, gva & 0xffffffffULL, obj);
		return;
	}
	walk_gva(walk, gva, WALK_PEEK, &r);
	if (r.outcome == WALK_OK || r.outcome == WALK_FAULT) {
		int last = r.outcome == WALK_OK ? r.level : r.level;

		for (int l = r.root_level; l >= last && l >= 1; l--) {
			char flags[96];

			walk_entry_describe(r.steps[l].pte, (unsigned)l, walk->mode, walk->large_levels,
					    walk->nx_mask != 0, flags, sizeof(flags));
			json_array_append_new(steps, json_pack("{s:i, s:o, s:o, s:s}", "level", l, "entry_gpa",
							       hex(r.steps[l].pte_gpa), "value",
							       hex(r.steps[l].pte), "flags", flags));
		}
	}
	if (r.outcome == WALK_OK)
		explain_gpa(m, r.gpa, obj);
	else if (r.outcome == WALK_FAULT)
		json_object_set_new(obj, "guest_fault", json_integer(r.error_code));
	else
		json_object_set_new(obj, "note", json_string(walk_outcome_name(r.outcome)));
}
