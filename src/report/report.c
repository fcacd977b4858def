/*
 * The end-of-run report.
 *
 * Counters are deltas over the run: KVM's cumulative stats read just before
 * the first KVM_RUN and just after the last, so VM creation does not count.
 * The MMU counters that both modes share (DESIGN.md section 5) come first in
 * a fixed order; the other non-zero KVM stats follow in KVM's order.  The
 * JSON form carries every stat, zero or not, so tools can read it back.
 */
#include "report.h"

#include "vmm/counters.h"

#include <jansson.h>
#include <string.h>

static double wall_seconds(const struct vm *vm)
{
	return (double)(vm->t_end.tv_sec - vm->t_start.tv_sec) +
	       (double)(vm->t_end.tv_nsec - vm->t_start.tv_nsec) / 1e9;
}

static int is_mmu_counter(const char *name)
{
	for (int i = 0; vm_mmu_counters[i]; i++)
		if (strcmp(vm_mmu_counters[i], name) == 0)
			return 1;
	return 0;
}

static void text_set(FILE *out, const struct kstats *s0, const struct kstats *s1, const char *scope,
		     int vm_has_own_counters)
{
	for (unsigned i = 0; i < s1->n; i++) {
		const struct kstat *e = &s1->v[i];
		uint64_t v = kstat_delta(kstats_find(s0, e->name), e);

		if (v && !(is_mmu_counter(e->name) && !vm_has_own_counters))
			fprintf(out, "  %-28s %14llu  %s\n", e->name, (unsigned long long)v, scope);
	}
}

const char *report_verdict(const struct vm *vm)
{
	static char buf[sizeof(vm->err) + 64];

	/* The guest did not end the run: ombra did, and says why. */
	if (vm->end == END_GUEST_ERROR || vm->end == END_TIMEOUT)
		snprintf(buf, sizeof(buf), "guest killed: %s", vm->err);
	else
		snprintf(buf, sizeof(buf), "run ended (%s): %s", vm_end_name(vm->end), vm->err);
	return buf;
}

/* How the run ended, where the guest was if ombra ended it, the modes'
 * MMUs and what the host could not do: the head of both text forms. */
static void write_head(const struct vm *vm, FILE *out)
{
	fprintf(out, "ombra: %s", report_verdict(vm));
	fprintf(out, "; exit status %d\n", vm->exit_status);
	fputs(vm->guest_state, out);
	fprintf(out, "ombra: mmu %s; host MMU: %s\n", vm->mode->name, vm->host_mmu);
	if (vm->host_notes[0])
		fprintf(out, "ombra: note: %s\n", vm->host_notes);
}

/* The default: the head, then one line with the run's size and the
 * counters both modes share that are not zero. */
static int write_summary(const struct vm *vm, FILE *out)
{
	struct counters list;

	write_head(vm, out);
	fprintf(out, "ombra: %.4f s, %llu exits to ombra", wall_seconds(vm), (unsigned long long)vm->exits);
	vm_counters(vm, &list);
	for (int k = 0; vm_mmu_counters[k]; k++)
		for (unsigned i = 0; i < list.n; i++)
			if (list.c[i].value && strcmp(list.c[i].name, vm_mmu_counters[k]) == 0)
				fprintf(out, ", %s %llu", list.c[i].name, (unsigned long long)list.c[i].value);
	fprintf(out, " (--stats for every counter)\n");
	return 0;
}

static int write_text(const struct vm *vm, FILE *out)
{
	struct counters list;

	write_head(vm, out);
	fprintf(out, "ombra: %llu MiB RAM, wall time %.4f s, %llu exits to ombra, peak RSS %llu MiB\n",
		(unsigned long long)(vm->cfg.ram_size >> 20), wall_seconds(vm),
		(unsigned long long)vm->exits, (unsigned long long)(vm->max_rss_kib >> 10));
	if (vm->vcpu_stats1.n == 0 && vm->vm_stats1.n == 0 && vm->mode->kvm_counters) {
		fprintf(out, "ombra: KVM binary stats unavailable on this host\n");
		return 0;
	}
	vm_counters(vm, &list);
	fprintf(out, "ombra: %s-mode counters over the run (KVM's names where KVM has them):\n",
		vm->mode->name);
	for (unsigned i = 0; i < list.n; i++)
		fprintf(out, "  %-28s %14llu\n", list.c[i].name, (unsigned long long)list.c[i].value);
	fprintf(out, "ombra: the host KVM's own statistics for this VM, non-zero ones%s:\n",
		vm->mode->kvm_counters ? " not listed above" : "");
	text_set(out, &vm->vcpu_stats0, &vm->vcpu_stats1, "vcpu", !vm->mode->kvm_counters);
	text_set(out, &vm->vm_stats0, &vm->vm_stats1, "vm", !vm->mode->kvm_counters);
	if (vm->slot_moves || vm->page_remaps || vm->slot_adds || vm->slot_deletes)
		fprintf(out, "ombra: while the guest ran (test device): memslots moved %llu, added %llu, deleted %llu; pages remapped %llu\n",
			(unsigned long long)vm->slot_moves, (unsigned long long)vm->slot_adds,
			(unsigned long long)vm->slot_deletes, (unsigned long long)vm->page_remaps);
	if (vm->nmarks > VM_MAX_MARKS || vm->nexplained > VM_MAX_EXPLAINED || vm->dev_errors > VM_MAX_DEV_MSGS)
		fprintf(out, "ombra: capped (docs/security.md): phase marks %llu (kept %u), explain requests %llu "
			"(kept %u), test-device errors %llu (printed %u)\n",
			(unsigned long long)vm->nmarks, VM_MAX_MARKS, (unsigned long long)vm->nexplained,
			VM_MAX_EXPLAINED, (unsigned long long)vm->dev_errors, VM_MAX_DEV_MSGS);
	fprintf(out, "ombra: exits by reason:");
	for (unsigned i = 0; i < VM_EXIT_REASONS; i++)
		if (vm->exit_reason[i])
			fprintf(out, " %s %llu", vm_exit_name(i), (unsigned long long)vm->exit_reason[i]);
	fprintf(out, "\n");
	return 0;
}

static json_t *json_set(const struct kstats *s0, const struct kstats *s1)
{
	json_t *o = json_object();

	for (unsigned i = 0; i < s1->n; i++) {
		const struct kstat *e = &s1->v[i];

		json_object_set_new(o, e->name,
				    json_integer((json_int_t)kstat_delta(kstats_find(s0, e->name), e)));
	}
	return o;
}

static int write_json(const struct vm *vm, FILE *out)
{
	struct counters list;
	json_t *root = json_object(), *counters = json_object(), *exits = json_object();
	int r;

	json_object_set_new(root, "ombra", json_string(OMBRA_VERSION));
	json_object_set_new(root, "mode", json_string(vm->mode->name));
	json_object_set_new(root, "host_mmu", json_pack("{s:s, s:s}", "kind", vm->host_mmu_kind,
							"summary", vm->host_mmu));
	json_object_set_new(json_object_get(root, "host_mmu"), "notes", json_string(vm->host_notes));
	json_object_set_new(root, "kernel", json_string(vm->cfg.kernel));
	json_object_set_new(root, "append", json_string(vm->cfg.append ? vm->cfg.append : ""));
	json_object_set_new(root, "ram_bytes", json_integer((json_int_t)vm->cfg.ram_size));
	json_object_set_new(root, "end", json_pack("{s:s, s:s, s:i}",
						   "reason", vm_end_name(vm->end),
						   "detail", vm->err,
						   "exit_status", vm->exit_status));
	if (vm->end == END_DEBUG_EXIT)
		json_object_set_new(json_object_get(root, "end"), "guest_value",
				    json_integer(vm->board.debug_exit_value));
	if (vm->guest_state[0])
		json_object_set_new(json_object_get(root, "end"), "guest_state",
				    json_string(vm->guest_state));
	json_object_set_new(root, "wall_seconds", json_real(wall_seconds(vm)));
	json_object_set_new(root, "ombra_seconds", json_real(vm->busy));
	json_object_set_new(root, "exits", json_integer((json_int_t)vm->exits));
	json_object_set_new(root, "max_rss_kib", json_integer((json_int_t)vm->max_rss_kib));
	json_object_set_new(root, "slot_moves", json_integer((json_int_t)vm->slot_moves));
	json_object_set_new(root, "page_remaps", json_integer((json_int_t)vm->page_remaps));
	json_object_set_new(root, "slot_adds", json_integer((json_int_t)vm->slot_adds));
	json_object_set_new(root, "slot_deletes", json_integer((json_int_t)vm->slot_deletes));
	/* What the guest asked ombra to keep or say, and the caps (vm.h). */
	json_object_set_new(root, "guest_requests",
			    json_pack("{s:I, s:i, s:I, s:i, s:I, s:i}",
				      "marks", (json_int_t)vm->nmarks, "marks_kept_max", VM_MAX_MARKS,
				      "explain", (json_int_t)vm->nexplained, "explain_kept_max", VM_MAX_EXPLAINED,
				      "device_errors", (json_int_t)vm->dev_errors,
				      "device_errors_printed_max", VM_MAX_DEV_MSGS));
	for (unsigned i = 0; i < VM_EXIT_REASONS; i++)
		if (vm->exit_reason[i])
			json_object_set_new(exits, vm_exit_name(i),
					    json_integer((json_int_t)vm->exit_reason[i]));
	json_object_set_new(root, "exit_reasons", exits);
	vm_counters(vm, &list);
	for (unsigned i = 0; i < list.n; i++)
		json_object_set_new(counters, list.c[i].name, json_integer((json_int_t)list.c[i].value));
	json_object_set_new(root, "counters", counters);
	if (vm->explained)
		json_object_set(root, "explain", vm->explained);
	if (vm->marks)
		json_object_set(root, "marks", vm->marks);
	json_object_set_new(root, "kvm", json_pack("{s:o, s:o}",
						   "vcpu", json_set(&vm->vcpu_stats0, &vm->vcpu_stats1),
						   "vm", json_set(&vm->vm_stats0, &vm->vm_stats1)));
	r = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(root);
	return r;
}

int report_write(const struct vm *vm, FILE *out, enum stats_format fmt)
{
	int r = 0;

	if (fmt == STATS_SUMMARY)
		r = write_summary(vm, out);
	else if (fmt == STATS_TEXT)
		r = write_text(vm, out);
	else if (fmt == STATS_JSON)
		r = write_json(vm, out);
	fflush(out);
	return r;
}
