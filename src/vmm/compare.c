/*
 * ombra compare.
 *
 * 1. Run the kernel once per column: tdp mode, then shadow mode (with the
 *    strategy given, or each of vtlb, wp and unsync), all with the same
 *    options, the guest's serial output captured rather than printed.
 * 2. Print one table: a row per counter, KVM's names first (from KVM's
 *    binary stats in tdp mode, from ombra's shadow MMU in shadow mode),
 *    then what only shadow mode counts, then the per-path split.
 * 3. The verdict on what the guest saw: the same serial output, the same
 *    exit status, and, for a kernel that said its final memory is
 *    deterministic (the test device, port 0xe4), the same digest of guest
 *    RAM at exit.  A difference prints a unified diff (diff -u) and makes
 *    the exit status OMBRA_EXIT_DIFFER.
 */
#include "compare.h"

#include <errno.h>
#include <jansson.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../shadow/shadow.h"
#include "../tdp/tdp.h"
#include "report.h"

#define MAX_COLUMNS 4

struct column {
	char label[32];            /* "tdp", "shadow/unsync" */
	struct vm_config cfg;
	bool ran;                  /* vm_create worked */
	char err[512];             /* why it did not run, or how it ended */
	const char *end;           /* report_end_name */
	int status;                /* the exit status ombra run would give */
	char *serial;              /* the guest's output */
	size_t serial_len;
	bool deterministic;        /* the guest marked its RAM deterministic */
	uint64_t digest;           /* FNV-1a over guest RAM at exit */
	double wall;
	struct counters counters;
	/* names point into static tables or into the vm, which is gone: copy */
	char names[MAX_COUNTERS][48];
};

/* FNV-1a, 64 bits, over every RAM slot in address order. */
static uint64_t ram_digest(const struct guest_mem *m)
{
	uint64_t h = 0xcbf29ce484222325ULL, next = 0;

	for (;;) {
		const struct memslot *best = NULL;

		for (unsigned i = 0; i < MEM_MAX_SLOTS; i++) {
			const struct memslot *s = &m->slots[i];

			if (s->used && s->gpa >= next && (!best || s->gpa < best->gpa))
				best = s;
		}
		if (!best)
			return h;
		for (uint64_t i = 0; i < best->size; i++) {
			h ^= best->hva[i];
			h *= 0x100000001b3ULL;
		}
		next = best->gpa + best->size;
	}
}

static void run_column(struct column *col)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		snprintf(col->err, sizeof(col->err), "out of memory");
		col->status = OMBRA_EXIT_HOST_ERROR;
		return;
	}
	col->cfg.serial_out = NULL;          /* captured by the board instead */
	if (vm_create(vm, &col->cfg, col->cfg.mmu == MMU_SHADOW ? &shadow_mode : &tdp_mode) < 0) {
		snprintf(col->err, sizeof(col->err), "%s", vm->err);
		col->status = vm->err_status ? vm->err_status : OMBRA_EXIT_HOST_ERROR;
		col->end = "not run";
	} else {
		vm_run(vm);
		col->ran = true;
		snprintf(col->err, sizeof(col->err), "%s", vm->err);
		col->end = report_end_name(vm->board.end);
		col->status = vm->board.exit_status;
		col->serial = malloc(vm->board.serial.cap_len + 1);
		if (col->serial) {
			memcpy(col->serial, vm->board.serial.capture, vm->board.serial.cap_len);
			col->serial_len = vm->board.serial.cap_len;
		}
		col->deterministic = vm->board.ram_deterministic;
		if (col->deterministic)
			col->digest = ram_digest(&vm->mem);
		col->wall = (double)(vm->t_end.tv_sec - vm->t_start.tv_sec) +
			    (double)(vm->t_end.tv_nsec - vm->t_start.tv_nsec) / 1e9;
		report_counters(vm, &col->counters);
		for (unsigned i = 0; i < col->counters.n; i++) {
			snprintf(col->names[i], sizeof(col->names[i]), "%s", col->counters.c[i].name);
			col->counters.c[i].name = col->names[i];
		}
	}
	vm_destroy(vm);
	free(vm);
}

static bool find(const struct column *col, const char *name, uint64_t *v)
{
	for (unsigned i = 0; i < col->counters.n; i++)
		if (strcmp(col->counters.c[i].name, name) == 0) {
			*v = col->counters.c[i].value;
			return true;
		}
	return false;
}

/* Row names: KVM's MMU names first, then every other name in the order the
 * columns give them (shadow mode's own, then its per-path split). */
static unsigned row_names(const struct column *cols, unsigned n, const char *rows[])
{
	unsigned nrows = 0;

	for (int i = 0; report_mmu_counters[i]; i++)
		rows[nrows++] = report_mmu_counters[i];
	for (unsigned c = 0; c < n; c++)
		for (unsigned i = 0; i < cols[c].counters.n && nrows < 2 * MAX_COUNTERS; i++) {
			const char *name = cols[c].counters.c[i].name;
			unsigned j;

			for (j = 0; j < nrows && strcmp(rows[j], name); j++)
				;
			if (j == nrows)
				rows[nrows++] = name;
		}
	return nrows;
}

/* diff -u of two outputs, through temporary files. */
static void print_diff(FILE *out, const struct column *a, const struct column *b)
{
	char pa[] = "/tmp/ombra-compare-XXXXXX", pb[] = "/tmp/ombra-compare-XXXXXX";
	int fa = mkstemp(pa), fb = mkstemp(pb), st;
	char la[64], lb[64];
	char *argv[] = { "diff", "-u", "--label", la, "--label", lb, pa, pb, NULL };
	pid_t pid;

	snprintf(la, sizeof(la), "%s", a->label);
	snprintf(lb, sizeof(lb), "%s", b->label);
	if (fa < 0 || fb < 0 || write(fa, a->serial, a->serial_len) < 0 ||
	    write(fb, b->serial, b->serial_len) < 0) {
		fprintf(out, "  (cannot write the outputs to compare them: %s)\n", strerror(errno));
	} else {
		fflush(out);
		if (posix_spawnp(&pid, "diff", NULL, NULL, argv, NULL) == 0)
			waitpid(pid, &st, 0);
		else
			fprintf(out, "  (diff is not installed: the outputs differ)\n");
	}
	if (fa >= 0) {
		close(fa);
		unlink(pa);
	}
	if (fb >= 0) {
		close(fb);
		unlink(pb);
	}
}

int compare_run(const struct vm_config *cfg, const struct compare_opts *opts, FILE *out)
{
	static const int syncs[] = { SYNC_VTLB, SYNC_WP, SYNC_UNSYNC };
	static const char *const sync_names[] = { "vtlb", "wp", "unsync" };
	struct column *cols = calloc(MAX_COLUMNS, sizeof(*cols));
	const char *rows[2 * MAX_COUNTERS];
	unsigned n = 0, nrows;
	bool same_serial = true, same_status = true, same_ram = true, ram_checked, all_ran = true;
	int status;

	if (!cols)
		return OMBRA_EXIT_HOST_ERROR;
	cols[n].cfg = *cfg;
	cols[n].cfg.mmu = MMU_TDP;
	snprintf(cols[n++].label, sizeof(cols[0].label), "tdp");
	for (int i = 0; i < 3; i++) {
		if (!opts->all_syncs && syncs[i] != cfg->shadow_sync)
			continue;
		cols[n].cfg = *cfg;
		cols[n].cfg.mmu = MMU_SHADOW;
		cols[n].cfg.shadow_sync = syncs[i];
		snprintf(cols[n++].label, sizeof(cols[0].label), "shadow/%s", sync_names[i]);
	}
	for (unsigned c = 0; c < n; c++)
		run_column(&cols[c]);

	/* The verdict: compare every column with the first. */
	ram_checked = cols[0].deterministic;
	for (unsigned c = 0; c < n; c++) {
		all_ran &= cols[c].ran;
		if (c == 0)
			continue;
		if (cols[c].serial_len != cols[0].serial_len ||
		    memcmp(cols[c].serial, cols[0].serial, cols[0].serial_len))
			same_serial = false;
		if (cols[c].status != cols[0].status)
			same_status = false;
		if (cols[c].deterministic != cols[0].deterministic ||
		    (cols[0].deterministic && cols[c].digest != cols[0].digest))
			same_ram = false;
	}
	status = all_ran && same_serial && same_status && same_ram ? 0 : OMBRA_EXIT_DIFFER;
	nrows = row_names(cols, n, rows);

	if (opts->json) {
		json_t *root = json_object(), *jcols = json_array(), *table = json_object();

		for (unsigned c = 0; c < n; c++) {
			json_t *jc = json_pack("{s:s, s:s, s:s, s:i, s:f, s:b}", "label", cols[c].label,
					       "end", cols[c].end ? cols[c].end : "not run",
					       "detail", cols[c].err, "exit_status", cols[c].status,
					       "wall_seconds", cols[c].wall, "ram_deterministic",
					       cols[c].deterministic);
			char hex[24];

			if (cols[c].deterministic) {
				snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)cols[c].digest);
				json_object_set_new(jc, "ram_digest", json_string(hex));
			}
			json_array_append_new(jcols, jc);
		}
		for (unsigned r = 0; r < nrows; r++) {
			json_t *row = json_object();

			for (unsigned c = 0; c < n; c++) {
				uint64_t v;

				json_object_set_new(row, cols[c].label,
						    find(&cols[c], rows[r], &v) ? json_integer((json_int_t)v)
										: json_null());
			}
			json_object_set_new(table, rows[r], row);
		}
		json_object_set_new(root, "kernel", json_string(cfg->kernel));
		json_object_set_new(root, "append", json_string(cfg->append ? cfg->append : ""));
		json_object_set_new(root, "columns", jcols);
		json_object_set_new(root, "counters", table);
		json_object_set_new(root, "verdict", json_pack("{s:b, s:b, s:o, s:b}",
			"serial_identical", same_serial, "exit_status_identical", same_status,
			"ram_identical", ram_checked ? json_boolean(same_ram) : json_null(),
			"identical", status == 0));
		json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
		json_decref(root);
	} else {
		fprintf(out, "ombra compare: %s%s%s\n\n", cfg->kernel, cfg->append ? " -append " : "",
			cfg->append ? cfg->append : "");
		fprintf(out, "%-24s", "counter");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %15s", cols[c].label);
		fprintf(out, "\n");
		for (unsigned r = 0; r < nrows; r++) {
			fprintf(out, "%-24s", rows[r]);
			for (unsigned c = 0; c < n; c++) {
				uint64_t v;

				if (find(&cols[c], rows[r], &v))
					fprintf(out, " %15llu", (unsigned long long)v);
				else
					fprintf(out, " %15s", "-");
			}
			fprintf(out, "\n");
		}
		fprintf(out, "%-24s", "wall seconds");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %15.3f", cols[c].wall);
		fprintf(out, "\n%-24s", "run ended");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %15s", cols[c].end ? cols[c].end : "not run");
		fprintf(out, "\n%-24s", "exit status");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %15d", cols[c].status);
		fprintf(out, "\n\nwhat the guest saw:\n");
		fprintf(out, "  serial output: %s\n", same_serial ? "identical" : "DIFFERENT");
		fprintf(out, "  exit status:   %s\n", same_status ? "identical" : "DIFFERENT");
		if (ram_checked || !same_ram)
			fprintf(out, "  RAM at exit:   %s\n", same_ram ? "identical" : "DIFFERENT");
		else
			fprintf(out, "  RAM at exit:   not compared (the kernel did not mark its memory deterministic, port 0xe4)\n");
		for (unsigned c = 0; c < n; c++)
			if (!cols[c].ran || strcmp(cols[c].end, "debug-exit"))
				fprintf(out, "  %s: %s\n", cols[c].label, cols[c].err);
		for (unsigned c = 1; c < n; c++)
			if (cols[c].serial_len != cols[0].serial_len ||
			    memcmp(cols[c].serial, cols[0].serial, cols[0].serial_len))
				print_diff(out, &cols[0], &cols[c]);
		fprintf(out, "verdict: %s\n", status == 0 ? "the guest saw the same machine in every mode"
							   : "the modes differ");
	}
	for (unsigned c = 0; c < n; c++)
		free(cols[c].serial);
	free(cols);
	return status;
}
