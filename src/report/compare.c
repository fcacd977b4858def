/*
 * ombra compare.
 *
 * 1. Run the kernel once per column: tdp mode, then shadow mode (with the
 *    strategy given, or each of vtlb, wp and unsync), all with the same
 *    options, the guest's serial output captured rather than printed.
 * 2. Print one table: a row per counter, KVM's names first (from KVM's
 *    binary stats in tdp mode, from ombra's shadow MMU in shadow mode),
 *    then what only shadow mode counts, then the per-path split; 2b. a
 *    row per value the guest measured of itself (the bench's lines:
 *    per-operation times and the guest kernel's own fault counts).
 * 3. The verdict on what the guest saw: the same serial output (with what
 *    the guest measured of itself and Linux's printk times masked: the
 *    rows of step 2b, measure.h), the same exit status, and, for a kernel
 *    that said its final memory is
 *    deterministic (the test device, port 0xe4), the same digest of guest
 *    RAM at exit.  A difference prints a unified diff (diff -u) and makes
 *    the exit status OMBRA_EXIT_DIFFER.
 * 4. --merge: the same table and verdict over the columns of several
 *    compare --json outputs, made on different hosts (this one, the
 *    nested AMD-V host with NPT on and off: docs/nested.md), each column
 *    headed by its host's MMU.
 */
#include "compare.h"

#include <errno.h>
#include <jansson.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shadow/mode.h"
#include "host/hostmmu.h"
#include "tdp/tdp.h"
#include "measure.h"
#include "report.h"
#include "vmm/counters.h"

#define MAX_COLUMNS 16

struct column {
	char label[40];            /* "tdp", "shadow/unsync"; merged: "tdp@npt" */
	char host[16];             /* the host's MMU in a word: npt, ept, kvm-shadow, pvm */
	char host_mmu[160];        /* and in a line (ombra info's "host MMU") */
	struct vm_config cfg;
	struct shadow_opts sopts;  /* a shadow column's options (cfg.mode_opts) */
	bool ran;                  /* vm_create worked */
	char err[512];             /* why it did not run, or how it ended */
	const char *end;           /* vm_end_name, or end_buf */
	char end_buf[24];          /* a merged column's "end" */
	int status;                /* the exit status ombra run would give */
	bool interrupted;          /* SIGINT or SIGTERM ended it (compare stops) */
	char notes[1024];          /* what the host's KVM cannot do for a guest (vm->host_notes) */
	char *serial;              /* the guest's output */
	size_t serial_len;
	uint64_t serial_total;     /* bytes the guest sent (the capture keeps SERIAL_CAPTURE_MAX) */
	bool deterministic;        /* the guest marked its RAM deterministic */
	uint64_t digest;           /* FNV-1a over guest RAM at exit */
	double wall;
	struct counters counters;
	/* names point into static tables or into the vm, which is gone: copy */
	char names[MAX_COUNTERS][48];
	struct measures measures;  /* what the guest measured of itself (measure.h) */
	struct counters guest;     /* the same as rows of the table (names in measures) */
	char *masked;              /* serial with those values masked, for the verdict */
	size_t masked_len;
};

/* The table's two parts: ombra's counters, and the guest's measurements. */
enum part { COUNTERS, GUEST };

static const struct counters *part_of(const struct column *col, enum part p)
{
	return p == GUEST ? &col->guest : &col->counters;
}

/* The guest's measurements and its output as the verdict reads it. */
static void read_output(struct column *col)
{
	measure_parse(col->serial ? col->serial : "", col->serial_len, &col->measures);
	col->guest.n = 0;
	for (unsigned i = 0; i < col->measures.n; i++)
		counters_add(&col->guest, col->measures.m[i].name, col->measures.m[i].value);
	col->masked = measure_mask(col->serial ? col->serial : "", col->serial_len, &col->masked_len);
}

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

/* The host's MMU, in a word for column heads and in a line. */
static void host_names(struct column *col)
{
	struct hostmmu h;

	hostmmu_detect("", &h);
	snprintf(col->host_mmu, sizeof(col->host_mmu), "%s", h.summary);
	snprintf(col->host, sizeof(col->host), "%s",
		 h.kind == HOSTMMU_EPT ? "ept" : h.kind == HOSTMMU_NPT ? "npt" :
		 h.kind == HOSTMMU_SHADOW ? (strcmp(h.module, "kvm_pvm") ? "kvm-shadow" : "pvm") : "unknown");
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
	col->cfg.serial_capture = true;
	if (vm_create(vm, &col->cfg, col->cfg.mmu == MMU_SHADOW ? &shadow_mode : &tdp_mode) < 0) {
		snprintf(col->err, sizeof(col->err), "%s", vm->err);
		col->status = vm->err_status ? vm->err_status : OMBRA_EXIT_HOST_ERROR;
		col->end = "not run";
	} else {
		vm_run(vm);
		col->ran = true;
		snprintf(col->err, sizeof(col->err), "%s", vm->err);
		col->end = vm_end_name(vm->end);
		col->status = vm->exit_status;
		col->interrupted = vm->end == END_INTERRUPTED;
		snprintf(col->notes, sizeof(col->notes), "%s", vm->host_notes);
		col->serial = malloc(vm->board.serial.cap_len + 1);
		if (col->serial) {
			memcpy(col->serial, vm->board.serial.capture, vm->board.serial.cap_len);
			col->serial_len = vm->board.serial.cap_len;
			col->serial_total = vm->board.serial.tx_bytes;
		}
		col->deterministic = vm->board.ram_deterministic;
		if (col->deterministic)
			col->digest = ram_digest(&vm->mem);
		col->wall = (double)(vm->t_end.tv_sec - vm->t_start.tv_sec) +
			    (double)(vm->t_end.tv_nsec - vm->t_start.tv_nsec) / 1e9;
		vm_counters(vm, &col->counters);
		for (unsigned i = 0; i < col->counters.n; i++) {
			snprintf(col->names[i], sizeof(col->names[i]), "%s", col->counters.c[i].name);
			col->counters.c[i].name = col->names[i];
		}
	}
	read_output(col);
	vm_destroy(vm);
	free(vm);
}

static bool find(const struct column *col, enum part p, const char *name, uint64_t *v)
{
	const struct counters *l = part_of(col, p);

	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->c[i].name, name) == 0) {
			*v = l->c[i].value;
			return true;
		}
	return false;
}

/* Row names of a part, after the nrows already in rows: every name in the
 * order the columns give them, each once, at most max in all. */
static unsigned row_names(const struct column *cols, unsigned n, enum part p, const char *rows[], unsigned nrows,
			  unsigned max)
{
	for (unsigned c = 0; c < n; c++)
		for (unsigned i = 0; i < part_of(&cols[c], p)->n && nrows < max; i++) {
			const char *name = part_of(&cols[c], p)->c[i].name;
			unsigned j;

			for (j = 0; j < nrows && strcmp(rows[j], name); j++)
				;
			if (j == nrows)
				rows[nrows++] = name;
		}
	return nrows;
}

/* A part's rows as JSON: a row per name, an entry per column (null where a
 * column has no such row). */
static json_t *json_rows(const struct column *cols, unsigned n, enum part p, const char *rows[], unsigned nrows)
{
	json_t *table = json_object();

	for (unsigned r = 0; r < nrows; r++) {
		json_t *row = json_object();

		for (unsigned c = 0; c < n; c++) {
			uint64_t v;

			json_object_set_new(row, cols[c].label,
					    find(&cols[c], p, rows[r], &v) ? json_integer((json_int_t)v) : json_null());
		}
		json_object_set_new(table, rows[r], row);
	}
	return table;
}

/* One row of the text table: its name, then each column's value or "-". */
static void print_row(FILE *out, const struct column *cols, unsigned n, enum part p, const char *name, int w)
{
	fprintf(out, "%-24s", name);
	for (unsigned c = 0; c < n; c++) {
		uint64_t v;

		if (find(&cols[c], p, name, &v))
			fprintf(out, " %*llu", w, (unsigned long long)v);
		else
			fprintf(out, " %*s", w, "-");
	}
	fprintf(out, "\n");
}

/* diff -u of two outputs as the verdict reads them (measured values masked). */
static void print_diff(FILE *out, const struct column *a, const struct column *b)
{
	char pa[] = "/tmp/ombra-compare-XXXXXX", pb[] = "/tmp/ombra-compare-XXXXXX";
	int fa = mkstemp(pa), fb = mkstemp(pb), st;
	char la[64], lb[64];
	char *argv[] = { "diff", "-u", "--label", la, "--label", lb, pa, pb, NULL };
	pid_t pid;

	snprintf(la, sizeof(la), "%s", a->label);
	snprintf(lb, sizeof(lb), "%s", b->label);
	if (fa < 0 || fb < 0 || write(fa, a->masked, a->masked_len) < 0 ||
	    write(fb, b->masked, b->masked_len) < 0) {
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

/* The table and the verdict over n columns; the exit status compare gives. */
/* The run ended without an answer to compare: it never ran, or ombra,
 * the host or a signal ended it.  A guest's own death (a triple fault,
 * say) is an answer: the modes must agree on it too. */
static bool unfinished(const struct column *col)
{
	static const char *const no_answer[] = { "not run", "running", "timeout", "interrupted", "host-error" };

	if (!col->ran || !col->end)
		return true;
	for (unsigned i = 0; i < sizeof(no_answer) / sizeof(no_answer[0]); i++)
		if (strcmp(col->end, no_answer[i]) == 0)
			return true;
	return false;
}

/* compare's exit status: 0 when every run ended as its guest chose and the
 * guest saw the same machine; OMBRA_EXIT_INTERRUPTED or _TIMEOUT when a
 * run was stopped so; the status of a run that had no answer; DIFFER when
 * the answers differ; else the status of a guest that died the same way
 * in every mode. */
static int compare_status(const struct column *cols, unsigned n, bool same)
{
	int first_bad = 0;

	for (unsigned c = 0; c < n; c++)
		if (unfinished(&cols[c]) && cols[c].end && strcmp(cols[c].end, "interrupted") == 0)
			return OMBRA_EXIT_INTERRUPTED;
	for (unsigned c = 0; c < n; c++)
		if (unfinished(&cols[c]) && cols[c].end && strcmp(cols[c].end, "timeout") == 0)
			return OMBRA_EXIT_TIMEOUT;
	for (unsigned c = 0; c < n; c++)
		if (unfinished(&cols[c]))
			return cols[c].status ? cols[c].status : OMBRA_EXIT_HOST_ERROR;
	if (!same)
		return OMBRA_EXIT_DIFFER;
	for (unsigned c = 0; c < n && !first_bad; c++)
		if (strcmp(cols[c].end, "debug-exit") && strcmp(cols[c].end, "shutdown"))
			first_bad = cols[c].status ? cols[c].status : OMBRA_EXIT_GUEST_ERROR;
	return first_bad;
}

static int report(struct column *cols, unsigned n, const char *kernel, const char *append, bool json,
		  bool nonzero, FILE *out)
{
	const char *rows[2 * MAX_COUNTERS], *mrows[MEASURE_MAX];
	unsigned nrows, nmrows;
	bool same_serial = true, same_status = true, same_ram = true, ram_checked, compared = true;
	int status;

	/* The verdict: compare every column with the first. */
	ram_checked = cols[0].deterministic;
	for (unsigned c = 0; c < n; c++) {
		compared &= !unfinished(&cols[c]);
		if (c == 0)
			continue;
		if (!cols[c].masked || !cols[0].masked || cols[c].masked_len != cols[0].masked_len ||
		    memcmp(cols[c].masked, cols[0].masked, cols[0].masked_len))
			same_serial = false;
		/* a capture cut at SERIAL_CAPTURE_MAX: its length must agree too */
		if ((cols[c].serial_total > cols[c].serial_len || cols[0].serial_total > cols[0].serial_len) &&
		    cols[c].serial_total != cols[0].serial_total)
			same_serial = false;
		if (cols[c].status != cols[0].status)
			same_status = false;
		if (cols[c].deterministic != cols[0].deterministic ||
		    (cols[0].deterministic && cols[c].digest != cols[0].digest))
			same_ram = false;
	}
	status = compare_status(cols, n, same_serial && same_status && same_ram);
	/* KVM's MMU names first, then every other name in the order the
	 * columns give them (shadow mode's own, then its per-path split). */
	for (nrows = 0; vm_mmu_counters[nrows]; nrows++)
		rows[nrows] = vm_mmu_counters[nrows];
	nrows = row_names(cols, n, COUNTERS, rows, nrows, 2 * MAX_COUNTERS);
	nmrows = row_names(cols, n, GUEST, mrows, 0, MEASURE_MAX);

	if (json) {
		json_t *root = json_object(), *jcols = json_array();

		for (unsigned c = 0; c < n; c++) {
			json_t *jc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:f, s:b}", "label", cols[c].label,
					       "host", cols[c].host, "host_mmu", cols[c].host_mmu,
					       "end", cols[c].end ? cols[c].end : "not run",
					       "detail", cols[c].err, "exit_status", cols[c].status,
					       "wall_seconds", cols[c].wall, "ram_deterministic",
					       cols[c].deterministic);
			json_t *serial = json_stringn(cols[c].serial ? cols[c].serial : "", cols[c].serial_len);

			if (cols[c].notes[0])
				json_object_set_new(jc, "host_notes", json_string(cols[c].notes));
			char hex[24];

			/* What the guest printed, for --merge to compare: as text
			 * when it is UTF-8, else as hex digits. */
			if (serial) {
				json_object_set_new(jc, "serial", serial);
			} else {
				char *h = malloc(2 * cols[c].serial_len + 1);

				for (size_t i = 0; h && i < cols[c].serial_len; i++)
					snprintf(h + 2 * i, 3, "%02x", (unsigned char)cols[c].serial[i]);
				if (h) {
					h[2 * cols[c].serial_len] = 0;
					json_object_set_new(jc, "serial_hex", json_string(h));
					free(h);
				}
			}

			if (cols[c].deterministic) {
				snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)cols[c].digest);
				json_object_set_new(jc, "ram_digest", json_string(hex));
			}
			json_array_append_new(jcols, jc);
		}
		json_object_set_new(root, "kernel", json_string(kernel ? kernel : ""));
		json_object_set_new(root, "append", json_string(append ? append : ""));
		json_object_set_new(root, "columns", jcols);
		json_object_set_new(root, "counters", json_rows(cols, n, COUNTERS, rows, nrows));
		if (nmrows)
			json_object_set_new(root, "guest_measures", json_rows(cols, n, GUEST, mrows, nmrows));
		json_object_set_new(root, "verdict", json_pack("{s:b, s:b, s:b, s:o, s:b, s:i}",
			"compared", compared, "serial_identical", same_serial, "exit_status_identical", same_status,
			"ram_identical", ram_checked ? json_boolean(same_ram) : json_null(),
			"identical", compared && same_serial && same_status && same_ram, "exit_status", status));
		json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
		json_decref(root);
	} else {
		int w = 15;

		for (unsigned c = 0; c < n; c++)
			if ((int)strlen(cols[c].label) > w)
				w = (int)strlen(cols[c].label);
		fprintf(out, "ombra compare: %s%s%s\n\n", kernel ? kernel : "", append ? " -append " : "",
			append ? append : "");
		for (unsigned c = 0; c < n; c++) {
			unsigned d;

			for (d = 0; d < c && strcmp(cols[d].host, cols[c].host); d++)
				;
			if (d == c)
				fprintf(out, "host %-10s %s\n", cols[c].host, cols[c].host_mmu);
		}
		fprintf(out, "\n%-24s", "counter");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %*s", w, cols[c].label);
		fprintf(out, "\n");
		unsigned left_out = 0;

		for (unsigned r = 0; r < nrows; r++) {
			if (nonzero) {
				bool any = false;

				for (unsigned c = 0; c < n; c++) {
					uint64_t v;

					any |= find(&cols[c], COUNTERS, rows[r], &v) && v;
				}
				if (!any) {
					left_out++;
					continue;
				}
			}
			print_row(out, cols, n, COUNTERS, rows[r], w);
		}
		if (left_out)
			fprintf(out, "(%u counters zero in every column left out: --nonzero)\n", left_out);
		if (nmrows)
			fprintf(out, "\n%s\n", "guest measurements (its bench lines: ns or ms of its own clock, counts of its own kernel)");
		for (unsigned r = 0; r < nmrows; r++)
			print_row(out, cols, n, GUEST, mrows[r], w);
		if (nmrows)
			fprintf(out, "\n");
		fprintf(out, "%-24s", "wall seconds");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %*.3f", w, cols[c].wall);
		fprintf(out, "\n%-24s", "host MMU");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %*s", w, cols[c].host);
		fprintf(out, "\n%-24s", "run ended");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %*s", w, cols[c].end ? cols[c].end : "not run");
		fprintf(out, "\n%-24s", "exit status");
		for (unsigned c = 0; c < n; c++)
			fprintf(out, " %*d", w, cols[c].status);
		fprintf(out, "\n\nwhat the guest saw:\n");
		for (unsigned c = 0; c < n; c++)
			if (!cols[c].ran || strcmp(cols[c].end, "debug-exit"))
				fprintf(out, "  %s: %s\n", cols[c].label, cols[c].err);
		for (unsigned c = 0; c < n; c++)
			if (cols[c].notes[0])
				fprintf(out, "  %s: note: %s\n", cols[c].label, cols[c].notes);
		if (!compared) {
			fprintf(out, "verdict: not compared:");
			for (unsigned c = 0; c < n; c++)
				if (unfinished(&cols[c]))
					fprintf(out, " %s %s;", cols[c].label,
						!cols[c].ran ? "did not run" : cols[c].end);
			fprintf(out, " no answer to compare (exit status %d)\n", status);
			return status;
		}
		fprintf(out, "  serial output: %s%s\n", same_serial ? "identical" : "DIFFERENT",
			nmrows ? " (the guest's measured values and printk times masked)" : "");
		fprintf(out, "  exit status:   %s\n", same_status ? "identical" : "DIFFERENT");
		if (ram_checked || !same_ram)
			fprintf(out, "  RAM at exit:   %s\n", same_ram ? "identical" : "DIFFERENT");
		else
			fprintf(out, "  RAM at exit:   not compared (the kernel did not mark its memory deterministic, port 0xe4)\n");
		for (unsigned c = 1; c < n; c++)
			if (cols[c].masked && cols[0].masked && (cols[c].masked_len != cols[0].masked_len ||
			    memcmp(cols[c].masked, cols[0].masked, cols[0].masked_len)))
				print_diff(out, &cols[0], &cols[c]);
		fprintf(out, "verdict: %s", status == OMBRA_EXIT_DIFFER ? "the modes differ"
					    : "the guest saw the same machine in every mode");
		if (status && status != OMBRA_EXIT_DIFFER)
			fprintf(out, " (its run did not end by its own choice: exit status %d)", status);
		fprintf(out, "\n");
	}
	return status;
}

int compare_run(const struct vm_config *cfg, const struct compare_opts *opts, FILE *out)
{
	static const enum shadow_sync syncs[] = { SHADOW_SYNC_VTLB, SHADOW_SYNC_WP, SHADOW_SYNC_UNSYNC };
	static const struct shadow_opts shadow_defaults = SHADOW_OPTS_DEFAULT;
	/* cfg->mode_opts: shadow mode's options, for every shadow column */
	const struct shadow_opts *sopts = cfg->mode_opts ? cfg->mode_opts : &shadow_defaults;
	static const char *const sync_names[] = { "vtlb", "wp", "unsync" };
	struct column *cols = calloc(MAX_COLUMNS, sizeof(*cols));
	unsigned n = 0;
	int status;

	if (!cols)
		return OMBRA_EXIT_HOST_ERROR;
	cols[n].cfg = *cfg;
	cols[n].cfg.mmu = MMU_TDP;
	cols[n].cfg.mode_opts = NULL;
	snprintf(cols[n++].label, sizeof(cols[0].label), "tdp");
	for (int i = 0; i < 3; i++) {
		if (!opts->all_syncs && syncs[i] != sopts->sync)
			continue;
		cols[n].cfg = *cfg;
		cols[n].cfg.mmu = MMU_SHADOW;
		cols[n].sopts = *sopts;
		cols[n].sopts.sync = syncs[i];
		cols[n].cfg.mode_opts = &cols[n].sopts;
		snprintf(cols[n++].label, sizeof(cols[0].label), "shadow/%s", sync_names[i]);
	}
	/* Every column runs on this host: its MMU, read once. */
	host_names(&cols[0]);
	for (unsigned c = 1; c < n; c++) {
		memcpy(cols[c].host, cols[0].host, sizeof(cols[c].host));
		memcpy(cols[c].host_mmu, cols[0].host_mmu, sizeof(cols[c].host_mmu));
	}
	vm_catch_stop_signals();              /* a signal during a set-up, too */
	for (unsigned c = 0; c < n; c++) {
		run_column(&cols[c]);
		if (cols[c].interrupted) {
			/* SIGINT or SIGTERM: compare stops with the run it stopped. */
			for (unsigned d = c + 1; d < n; d++) {
				snprintf(cols[d].err, sizeof(cols[d].err), "not run: compare was interrupted");
				cols[d].status = OMBRA_EXIT_INTERRUPTED;
			}
			break;
		}
	}
	status = report(cols, n, cfg->kernel, cfg->append, opts->json, opts->nonzero, out);
	for (unsigned c = 0; c < n; c++) {
		free(cols[c].serial);
		free(cols[c].masked);
	}
	free(cols);
	return status;
}

/* --- --merge: columns from compare --json outputs -------------------------------- */

/* One column of a compare --json file; false (with the reason) if malformed. */
static bool merge_column(struct column *col, json_t *jc, json_t *table, char *why, size_t whylen)
{
	const char *label = json_string_value(json_object_get(jc, "label"));
	const char *host = json_string_value(json_object_get(jc, "host"));
	const char *serial = json_string_value(json_object_get(jc, "serial"));
	const char *hex = json_string_value(json_object_get(jc, "serial_hex"));
	const char *digest = json_string_value(json_object_get(jc, "ram_digest"));
	const char *row;
	json_t *cells;

	if (!label || !host || !json_is_integer(json_object_get(jc, "exit_status")) || (!serial && !hex)) {
		snprintf(why, whylen, "a column without label, host, exit_status and serial "
			 "(made by an ombra before --merge existed?)");
		return false;
	}
	snprintf(col->label, sizeof(col->label), "%s@%s", label, host);
	snprintf(col->host, sizeof(col->host), "%s", host);
	snprintf(col->host_mmu, sizeof(col->host_mmu), "%s",
		 json_string_value(json_object_get(jc, "host_mmu")) ?: "");
	snprintf(col->err, sizeof(col->err), "%s", json_string_value(json_object_get(jc, "detail")) ?: "");
	snprintf(col->notes, sizeof(col->notes), "%s", json_string_value(json_object_get(jc, "host_notes")) ?: "");
	col->status = (int)json_integer_value(json_object_get(jc, "exit_status"));
	col->wall = json_number_value(json_object_get(jc, "wall_seconds"));
	snprintf(col->end_buf, sizeof(col->end_buf), "%s", json_string_value(json_object_get(jc, "end")) ?: "not run");
	col->end = col->end_buf;
	col->ran = strcmp(col->end, "not run") != 0;
	col->deterministic = json_is_true(json_object_get(jc, "ram_deterministic"));
	if (digest)
		col->digest = strtoull(digest, NULL, 16);
	if (serial) {
		col->serial_len = strlen(serial);
		col->serial = strdup(serial);
	} else {
		col->serial_len = strlen(hex) / 2;
		col->serial = malloc(col->serial_len + 1);
		for (size_t i = 0; col->serial && i < col->serial_len; i++) {
			unsigned v = 0;

			sscanf(hex + 2 * i, "%2x", &v);
			col->serial[i] = (char)v;
		}
	}
	if (!col->serial) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	json_object_foreach(table, row, cells) {
		json_t *v = json_object_get(cells, label);

		if (!json_is_integer(v) || col->counters.n >= MAX_COUNTERS)
			continue;
		snprintf(col->names[col->counters.n], sizeof(col->names[0]), "%s", row);
		col->counters.c[col->counters.n].name = col->names[col->counters.n];
		col->counters.c[col->counters.n++].value = (uint64_t)json_integer_value(v);
	}
	read_output(col);       /* the guest's measurements come from its output */
	return true;
}

int compare_merge(char *const files[], int nfiles, bool json, bool nonzero, FILE *out, FILE *err)
{
	struct column *cols = calloc(MAX_COLUMNS, sizeof(*cols));
	char kernel[512] = "", append[512] = "", why[256];
	unsigned n = 0;
	int status = 0;

	if (!cols)
		return OMBRA_EXIT_HOST_ERROR;
	for (int f = 0; f < nfiles && !status; f++) {
		json_error_t e;
		json_t *root = json_load_file(files[f], 0, &e), *jcols, *jc;
		size_t i;

		if (!root && e.line < 0) {
			fprintf(err, "ombra: cannot open %s: %s\n", files[f], e.text);
			status = OMBRA_EXIT_BAD_INPUT;
			break;
		}
		if (!root) {
			fprintf(err, "ombra: %s:%d: not valid JSON: %s\n", files[f], e.line, e.text);
			status = OMBRA_EXIT_BAD_INPUT;
			break;
		}
		jcols = json_object_get(root, "columns");
		if (!json_is_array(jcols) || !json_is_object(json_object_get(root, "counters"))) {
			fprintf(err, "ombra: %s: not an ombra compare --json output (no columns and counters)\n",
				files[f]);
			status = OMBRA_EXIT_BAD_INPUT;
		}
		if (!status && f == 0) {
			snprintf(kernel, sizeof(kernel), "%s", json_string_value(json_object_get(root, "kernel")) ?: "");
			snprintf(append, sizeof(append), "%s", json_string_value(json_object_get(root, "append")) ?: "");
		} else if (!status && strcmp(append, json_string_value(json_object_get(root, "append")) ?: "")) {
			fprintf(err, "ombra: %s: its -append differs from %s's: the runs are not of the same guest\n",
				files[f], files[0]);
			status = OMBRA_EXIT_BAD_INPUT;
		}
		json_array_foreach(jcols, i, jc) {
			if (status)
				break;
			if (n == MAX_COLUMNS) {
				fprintf(err, "ombra: more than %d columns to merge\n", MAX_COLUMNS);
				status = OMBRA_EXIT_USAGE;
			} else if (!merge_column(&cols[n++], jc, json_object_get(root, "counters"), why, sizeof(why))) {
				fprintf(err, "ombra: %s: %s\n", files[f], why);
				status = OMBRA_EXIT_BAD_INPUT;
			}
		}
		json_decref(root);
	}
	if (!status)
		status = report(cols, n, kernel, append[0] ? append : NULL, json, nonzero, out);
	for (unsigned c = 0; c < n; c++) {
		free(cols[c].serial);
		free(cols[c].masked);
	}
	free(cols);
	return status;
}
