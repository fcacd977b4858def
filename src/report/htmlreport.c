/*
 * ombra report: charts of MMU events as one self-contained HTML page.
 *
 * Reads --stats=json reports, ombra compare --json outputs and --trace files
 * (JSON Lines, docs/trace.md), each told apart by its content, into runs:
 * one per report or trace, one per compare column.  Then writes one HTML
 * page whose charts are static SVG drawn here (no scripts, no fonts, nothing
 * fetched): faults over time, faults by MMU path and by guest page size,
 * shadow pages over time, CR3 loads and root-cache hits, and the counters
 * side by side.  A chart the inputs have no data for says so; a malformed
 * input is one error naming its file and line.  docs/report.md.
 */
#include "htmlreport.h"
#include "outfile.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/trace.h"      /* the trace's events */
#include "vmm/vm.h"         /* OMBRA_VERSION */

/* ---- what the inputs hold ------------------------------------------------ */

struct pt {
	double t, v;
};

struct series {                 /* points in time order */
	struct pt *p;
	size_t n, cap;
	bool sampled;               /* p[first_sample..] are a trace's samples */
	size_t first_sample;
};

struct counter {
	char *name;
	long long v;
	bool null;                  /* compare --json: the mode has no such counter */
};

enum input_kind { IN_STATS, IN_COMPARE, IN_TRACE };

struct run {
	char *label;                /* the mode or compare column: "tdp", "shadow/unsync" */
	char source[200];           /* the input's base name ("#2" when it repeats) */
	size_t input;
	struct counter *c;
	size_t nc, capc;
	json_t *index;              /* counter name -> its place in c (a hash: inputs may have 100k counters) */
	char *end;                  /* how the run ended, when the input says */
	long long exit_status;
	bool has_status;
	double wall;                /* wall seconds; a trace's t at its end */
	bool has_wall;
	struct series fixed, guest, pages;   /* traces only */
	const char *fixed_name;     /* what fixed counts: pf_fixed, or KVM's kvm_page_fault */
};

struct input {
	const char *path;
	enum input_kind kind;
	char *kernel, *append, *host;
	char what[700];             /* "a --stats=json report", "a trace: 311 records ..." */
	char notes[2048];           /* lines: host notes, what a trace lacks, a verdict */
	size_t first_run, nruns;
};

struct ctx {
	struct input *in;
	size_t nin;
	struct run *runs;
	size_t nruns, caprun;
	bool oom;
	char *err;
	size_t errlen;
};

static const char *const mmu_paths[] = { "nonpaging", "paging32", "paging32e", "paging64" };
#define N_PATHS 4
static const char *const page_sizes[] = { "pf_fixed_4k", "pf_fixed_2m_4m", "pf_fixed_1g" };
#define N_SIZES 3

/* The trace's events (vmm/trace.h, docs/trace.md), in that order; anything
 * else counts as "other". */
#define N_EVENTS TRACE_NEVENTS

/* A sample's fields (docs/trace.md); absent ones were not available. */
static const char *const sample_fields[] = {
	"exits", "pf_fixed", "pf_guest", "pf_taken", "cr3_writes", "root_hits",
	"shadow_pages", "invlpg",
};
#define N_SAMPLE_FIELDS 8
enum { SF_PF_FIXED = 1, SF_PF_GUEST = 2, SF_SHADOW_PAGES = 6 };

#define PF_VECTOR 14

/* snprintf for labels and messages, where cutting a long name short is
 * what is wanted. */
__attribute__((format(printf, 3, 4)))
static void sfmt(char *b, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *x, int r, const char *fmt, ...)
{
	va_list ap;

	if (x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err, x->errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static char *xstrdup(struct ctx *x, const char *s)
{
	char *p = strdup(s);

	if (!p)
		x->oom = true;
	return p;
}

/* An array of n elements of elem bytes with room for *cap, made to hold one
 * more: doubled (first elements the first time) when full.  Returns the
 * array, moved or not, or NULL with x->oom set (the old one still valid). */
static void *grow(struct ctx *x, void *arr, size_t n, size_t *cap, size_t elem, size_t first)
{
	size_t c;
	void *p;

	if (n < *cap)
		return arr;
	c = *cap ? *cap * 2 : first;
	p = realloc(arr, c * elem);
	if (!p) {
		x->oom = true;
		return NULL;
	}
	*cap = c;
	return p;
}

static void series_add(struct ctx *x, struct series *s, double t, double v)
{
	struct pt *p = grow(x, s->p, s->n, &s->cap, sizeof(*s->p), 64);

	if (!p)
		return;
	s->p = p;
	s->p[s->n].t = t;
	s->p[s->n].v = v;
	s->n++;
}

static int pt_cmp(const void *a, const void *b)
{
	const struct pt *p = a, *q = b;

	return p->t < q->t ? -1 : p->t > q->t;
}

static void series_sort(struct series *s)
{
	if (s->n > 1)
		qsort(s->p, s->n, sizeof(*s->p), pt_cmp);
}

/* A run's exit status and wall time, where the JSON has them (a --stats
 * report's "end" and top level, or a compare column). */
static void run_set_status(struct run *r, json_t *v)
{
	if (json_is_integer(v)) {
		r->exit_status = (long long)json_integer_value(v);
		r->has_status = true;
	}
}

static void run_set_wall(struct run *r, json_t *v)
{
	if (json_is_number(v)) {
		r->wall = json_number_value(v);
		r->has_wall = true;
	}
}

/* The place of counter name in r->c, or -1. */
static long long run_find(const struct run *r, const char *name)
{
	json_t *i = r->index ? json_object_get(r->index, name) : NULL;

	return i ? (long long)json_integer_value(i) : -1;
}

static void run_set(struct ctx *x, struct run *r, const char *name, long long v, bool null)
{
	struct counter *c;
	long long i = run_find(r, name);

	if (i >= 0) {
		r->c[i].v = v;
		r->c[i].null = null;
		return;
	}
	if (!r->index && !(r->index = json_object())) {
		x->oom = true;
		return;
	}
	c = grow(x, r->c, r->nc, &r->capc, sizeof(*r->c), 64);
	if (!c)
		return;
	r->c = c;
	r->c[r->nc].name = xstrdup(x, name);
	if (!r->c[r->nc].name)
		return;
	if (json_object_set_new(r->index, name, json_integer((json_int_t)r->nc)) < 0) {
		free(r->c[r->nc].name);
		x->oom = true;
		return;
	}
	r->c[r->nc].v = v;
	r->c[r->nc].null = null;
	r->nc++;
}

/* The counter's value, or false when the run has none (or null). */
static bool run_get(const struct run *r, const char *name, double *v)
{
	long long i = run_find(r, name);

	if (i < 0 || r->c[i].null)
		return false;
	*v = (double)r->c[i].v;
	return true;
}

/* A new run of input ii; returns its index, or SIZE_MAX out of memory. */
static size_t new_run(struct ctx *x, size_t ii, const char *label)
{
	struct run *r;

	r = grow(x, x->runs, x->nruns, &x->caprun, sizeof(*x->runs), 8);
	if (!r)
		return SIZE_MAX;
	x->runs = r;
	r = &x->runs[x->nruns];
	memset(r, 0, sizeof(*r));
	r->input = ii;
	r->label = xstrdup(x, label);
	if (!r->label)
		return SIZE_MAX;
	if (x->in[ii].nruns++ == 0)
		x->in[ii].first_run = x->nruns;
	return x->nruns++;
}

__attribute__((format(printf, 2, 3)))
static void add_note(struct input *in, const char *fmt, ...)
{
	size_t l = strlen(in->notes);
	va_list ap;

	if (l && l + 2 < sizeof(in->notes))
		in->notes[l++] = '\n';
	if (l + 1 >= sizeof(in->notes))
		return;
	va_start(ap, fmt);
	vsnprintf(in->notes + l, sizeof(in->notes) - l, fmt, ap);
	va_end(ap);
}

static char *get_str(struct ctx *x, json_t *obj, const char *key)
{
	json_t *j = json_object_get(obj, key);

	return json_is_string(j) ? xstrdup(x, json_string_value(j)) : NULL;
}

/* ---- reading the inputs --------------------------------------------------- */

static int open_input(struct ctx *x, const char *path, FILE **out)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	int e;

	if (!f) {
		e = errno;
		return fail(x, -e, "cannot open %s: %s", path, strerror(e));
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return fail(x, -EISDIR, "cannot read %s: it is a directory", path);
	}
	*out = f;
	return 0;
}

/* The whole of a JSON document (reports and compare outputs are small). */
static int read_all(struct ctx *x, FILE *f, const char *path, char **buf, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap + 1);

	for (;;) {
		if (!b)
			return fail(x, -ENOMEM, "out of memory reading %s", path);
		n += fread(b + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		{
			char *nb = realloc(b, cap + 1);

			if (!nb)
				free(b);
			b = nb;
		}
	}
	if (ferror(f)) {
		int e = errno ? errno : EIO;

		free(b);
		return fail(x, -e, "cannot read %s: %s", path, strerror(e));
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* Where "key": first occurs in buf (after outer's, when given), or NULL. */
static const char *find_key(const char *p, const char *end, const char *key)
{
	size_t kl = strlen(key);

	while (p < end) {
		const char *q = memchr(p, '"', (size_t)(end - p)), *r;

		if (!q)
			return NULL;
		if ((size_t)(end - q) > kl + 2 && memcmp(q + 1, key, kl) == 0 && q[kl + 1] == '"') {
			for (r = q + kl + 2; r < end && (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n'); r++)
				;
			if (r < end && *r == ':')
				return q;
		}
		p = q + 1;
	}
	return NULL;
}

/*
 * The line of a field of a JSON document, for messages: jansson places
 * syntax errors but not the fields of a parsed document, so look for each
 * "key": of the path (NULL-terminated) after the one before; a key not
 * found leaves the place where it is.  Line 1 when none is there.
 */
static int key_line(const char *buf, size_t len, ...)
{
	const char *end = buf + len, *p = buf, *q, *key;
	int line = 1;
	va_list ap;

	va_start(ap, len);
	while ((key = va_arg(ap, const char *))) {
		q = find_key(p, end, key);
		if (q)
			p = q;
	}
	va_end(ap);
	for (q = buf; q < p; q++)
		line += *q == '\n';
	return line;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* A counter value: an integer, or null (a compare column without it). */
static bool counter_value(json_t *v, long long *out, bool *null)
{
	*null = json_is_null(v);
	*out = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
	return json_is_integer(v) || *null;
}

static int parse_stats(struct ctx *x, size_t ii, json_t *root, const char *buf, size_t len)
{
	struct input *in = &x->in[ii];
	json_t *mode = json_object_get(root, "mode"), *ctr = json_object_get(root, "counters");
	json_t *sync = json_object_get(root, "sync"), *end, *host, *v;
	const char *key;
	char label[96];
	size_t ri;
	struct run *r;

	if (!json_is_string(mode))
		return fail(x, -EINVAL, "%s:%d: \"mode\" must be a string (tdp or shadow) in a --stats=json report",
			    in->path, key_line(buf, len, "mode", NULL));
	if (!json_is_object(ctr))
		return fail(x, -EINVAL, "%s:%d: \"counters\" must be an object of counters",
			    in->path, key_line(buf, len, "counters", NULL));
	sfmt(label, sizeof(label), "%s%s%s", json_string_value(mode), json_is_string(sync) ? "/" : "",
		 json_is_string(sync) ? json_string_value(sync) : "");
	in->kind = IN_STATS;
	sfmt(in->what, sizeof(in->what), "a --stats=json report");
	in->kernel = get_str(x, root, "kernel");
	in->append = get_str(x, root, "append");
	host = json_object_get(root, "host_mmu");
	if (json_is_object(host)) {
		in->host = get_str(x, host, "summary");
		v = json_object_get(host, "notes");
		if (json_is_string(v) && json_string_value(v)[0])
			add_note(in, "host: %s", json_string_value(v));
	}
	ri = new_run(x, ii, label);
	if (ri == SIZE_MAX)
		return fail(x, -ENOMEM, "out of memory reading %s", in->path);
	r = &x->runs[ri];
	json_object_foreach(ctr, key, v) {
		long long n;
		bool null;

		if (!counter_value(v, &n, &null))
			return fail(x, -EINVAL, "%s:%d: counter \"%s\" must be an integer", in->path,
				    key_line(buf, len, "counters", key, NULL), key);
		run_set(x, r, key, n, null);
	}
	end = json_object_get(root, "end");
	if (json_is_object(end)) {
		r->end = get_str(x, end, "reason");
		run_set_status(r, json_object_get(end, "exit_status"));
	}
	run_set_wall(r, json_object_get(root, "wall_seconds"));
	return 0;
}

static int parse_compare(struct ctx *x, size_t ii, json_t *root, const char *buf, size_t len)
{
	struct input *in = &x->in[ii];
	json_t *cols = json_object_get(root, "columns"), *ctr = json_object_get(root, "counters");
	json_t *col, *row, *verdict, *v;
	const char *name;
	size_t i, first = x->nruns, ncols;

	if (!json_is_array(cols) || json_array_size(cols) == 0)
		return fail(x, -EINVAL, "%s:%d: \"columns\" must be a non-empty array of the compared runs",
			    in->path, key_line(buf, len, "columns", NULL));
	if (!json_is_object(ctr))
		return fail(x, -EINVAL, "%s:%d: \"counters\" must be an object with a row per counter",
			    in->path, key_line(buf, len, "counters", NULL));
	in->kind = IN_COMPARE;
	ncols = json_array_size(cols);
	sfmt(in->what, sizeof(in->what), "an ombra compare --json output: %zu column%s", ncols,
		 ncols == 1 ? "" : "s");
	in->kernel = get_str(x, root, "kernel");
	in->append = get_str(x, root, "append");
	json_array_foreach(cols, i, col) {
		json_t *lab = json_object_get(col, "label");
		struct run *r;
		size_t ri;

		if (!json_is_object(col) || !json_is_string(lab) || !json_string_value(lab)[0])
			return fail(x, -EINVAL, "%s:%d: columns[%zu] has no \"label\" string", in->path,
				    key_line(buf, len, "columns", NULL), i);
		for (size_t k = first; k < x->nruns; k++)
			if (strcmp(x->runs[k].label, json_string_value(lab)) == 0)
				return fail(x, -EINVAL, "%s:%d: two columns are labelled \"%s\"", in->path,
					    key_line(buf, len, "columns", NULL), json_string_value(lab));
		ri = new_run(x, ii, json_string_value(lab));
		if (ri == SIZE_MAX)
			return fail(x, -ENOMEM, "out of memory reading %s", in->path);
		r = &x->runs[ri];
		r->end = get_str(x, col, "end");
		run_set_status(r, json_object_get(col, "exit_status"));
		run_set_wall(r, json_object_get(col, "wall_seconds"));
	}
	json_object_foreach(ctr, name, row) {
		const char *lab;

		if (!json_is_object(row))
			return fail(x, -EINVAL, "%s:%d: counters.%s must be an object with a value per column",
				    in->path, key_line(buf, len, "counters", name, NULL), name);
		json_object_foreach(row, lab, v) {
			size_t k;
			long long n;
			bool null;

			for (k = first; k < x->nruns && strcmp(x->runs[k].label, lab); k++)
				;
			if (k == x->nruns)
				return fail(x, -EINVAL, "%s:%d: counters.%s has a value for \"%s\", which is not a column",
					    in->path, key_line(buf, len, "counters", name, lab, NULL), name, lab);
			if (!counter_value(v, &n, &null))
				return fail(x, -EINVAL, "%s:%d: counters.%s.%s must be an integer or null",
					    in->path, key_line(buf, len, "counters", name, lab, NULL), name, lab);
			run_set(x, &x->runs[k], name, n, null);
		}
	}
	verdict = json_object_get(root, "verdict");
	v = json_object_get(verdict, "identical");
	if (json_is_boolean(v))
		add_note(in, "verdict: %s", json_is_true(v) ? "the guest saw the same machine in every column" :
			 "the columns differ in what the guest saw (see ombra compare)");
	return 0;
}

struct trace_acc {
	size_t records, count[N_EVENTS + 1];   /* by event; the last: others */
	size_t fill_path[N_PATHS], guest_path[N_PATHS], fill_level[3];
	struct series fills, injects;          /* when faults were fixed / delivered */
	struct series kvmpf;                   /* tdp: KVM's kvm_page_fault tracepoint */
	struct series sfixed, sguest;          /* the samples' counts */
	double last[N_SAMPLE_FIELDS];
	bool has_last[N_SAMPLE_FIELDS];
	bool ended, end_counters;
	double t_last, t_end;
};

static int path_index(json_t *j)
{
	if (json_is_string(j))
		for (int i = 0; i < N_PATHS; i++)
			if (strcmp(json_string_value(j), mmu_paths[i]) == 0)
				return i;
	return -1;
}

static int trace_header(struct ctx *x, size_t ii, size_t *ri, json_t *rec, size_t ln)
{
	struct input *in = &x->in[ii];
	json_t *mode = json_object_get(rec, "mode"), *sync = json_object_get(rec, "sync");
	json_t *un = json_object_get(rec, "unavailable"), *v;
	char label[96];
	size_t i;

	if (!json_is_string(mode))
		return fail(x, -EINVAL, "%s:%zu: the header has no \"mode\" string (tdp or shadow)", in->path, ln);
	if (sync && !json_is_string(sync))
		return fail(x, -EINVAL, "%s:%zu: the header's \"sync\" must be a string", in->path, ln);
	if (un && !json_is_array(un))
		return fail(x, -EINVAL, "%s:%zu: the header's \"unavailable\" must be an array of strings",
			    in->path, ln);
	sfmt(label, sizeof(label), "%s%s%s", json_string_value(mode), sync ? "/" : "",
		 sync ? json_string_value(sync) : "");
	in->kernel = get_str(x, rec, "kernel");
	in->append = get_str(x, rec, "append");
	json_array_foreach(un, i, v) {
		if (!json_is_string(v))
			return fail(x, -EINVAL, "%s:%zu: the header's \"unavailable\" must be an array of strings",
				    in->path, ln);
		add_note(in, "not in this trace: %s", json_string_value(v));
	}
	*ri = new_run(x, ii, label);
	return *ri == SIZE_MAX ? fail(x, -ENOMEM, "out of memory reading %s", in->path) : 0;
}

static int trace_record(struct ctx *x, size_t ii, size_t *ri, struct trace_acc *a, json_t *rec, size_t ln)
{
	const char *path = x->in[ii].path, *ev;
	json_t *jev = json_object_get(rec, "event"), *jt = json_object_get(rec, "t"), *v;
	double t;
	int k, pi;

	if (!json_is_object(rec))
		return fail(x, -EINVAL, "%s:%zu: a trace record must be a JSON object", path, ln);
	if (!json_is_string(jev))
		return fail(x, -EINVAL, "%s:%zu: the record has no \"event\" string (docs/trace.md)", path, ln);
	ev = json_string_value(jev);
	t = json_is_number(jt) ? json_number_value(jt) : -1;
	if (!(t >= 0 && t < 1e12))
		return fail(x, -EINVAL, "%s:%zu: \"t\" must be the seconds since the run began (a number >= 0)",
			    path, ln);
	for (k = 0; k < N_EVENTS && strcmp(ev, trace_event_names[k]); k++)
		;
	if (*ri == SIZE_MAX && k != TRACE_HEADER)
		return fail(x, -EINVAL, "%s:%zu: the first record must be the \"header\", not \"%s\"", path, ln, ev);
	if (*ri != SIZE_MAX && k == TRACE_HEADER)
		return fail(x, -EINVAL, "%s:%zu: a second \"header\": one run per trace file", path, ln);
	if (a->ended)
		return fail(x, -EINVAL, "%s:%zu: a \"%s\" record after the \"end\" record", path, ln, ev);
	a->records++;
	a->count[k]++;
	if (t > a->t_last)
		a->t_last = t;
	v = json_object_get(rec, "path");
	if (v && !json_is_string(v))
		return fail(x, -EINVAL, "%s:%zu: \"path\" must be a string", path, ln);
	pi = path_index(v);

	switch (k) {
	case TRACE_HEADER:
		return trace_header(x, ii, ri, rec, ln);
	case TRACE_FILL:
		v = json_object_get(rec, "level");
		if (v && (!json_is_integer(v) || json_integer_value(v) < 1))
			return fail(x, -EINVAL, "%s:%zu: \"level\" must be 1 (4 KiB), 2 (2 or 4 MiB) or 3 (1 GiB)",
				    path, ln);
		if (v && json_integer_value(v) <= 3)
			a->fill_level[json_integer_value(v) - 1]++;
		if (pi >= 0)
			a->fill_path[pi]++;
		series_add(x, &a->fills, t, 0);
		break;
	case TRACE_INJECT:
		v = json_object_get(rec, "vector");
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
			return fail(x, -EINVAL, "%s:%zu: an \"inject\" record needs its \"vector\" (0 to 255)", path, ln);
		if (json_integer_value(v) == PF_VECTOR) {
			if (pi >= 0)
				a->guest_path[pi]++;
			series_add(x, &a->injects, t, 0);
		}
		break;
	case TRACE_KVM:
		v = json_object_get(rec, "name");
		if (!json_is_string(v))
			return fail(x, -EINVAL, "%s:%zu: a \"kvm\" record needs the tracepoint's \"name\"", path, ln);
		if (strcmp(json_string_value(v), "kvm_page_fault") == 0)
			series_add(x, &a->kvmpf, t, 0);
		break;
	case TRACE_SAMPLE:
		for (int f = 0; f < N_SAMPLE_FIELDS; f++) {
			double n;

			v = json_object_get(rec, sample_fields[f]);
			if (!v || json_is_null(v))
				continue;
			n = json_is_number(v) ? json_number_value(v) : -1;
			if (!(n >= 0))
				return fail(x, -EINVAL, "%s:%zu: the sample's \"%s\" must be a count (a number >= 0)",
					    path, ln, sample_fields[f]);
			a->last[f] = n;
			a->has_last[f] = true;
			if (f == SF_PF_FIXED)
				series_add(x, &a->sfixed, t, n);
			else if (f == SF_PF_GUEST)
				series_add(x, &a->sguest, t, n);
			else if (f == SF_SHADOW_PAGES)
				series_add(x, &x->runs[*ri].pages, t, n);
		}
		break;
	case TRACE_END: {
		struct run *r = &x->runs[*ri];
		json_t *ctr = json_object_get(rec, "counters");
		const char *key;

		a->ended = true;
		a->t_end = t;
		v = json_object_get(rec, "reason");
		if (json_is_string(v))
			r->end = xstrdup(x, json_string_value(v));
		v = json_object_get(rec, "exit_status");
		if (json_is_integer(v)) {
			r->exit_status = (long long)json_integer_value(v);
			r->has_status = true;
		}
		if (ctr && !json_is_object(ctr))
			return fail(x, -EINVAL, "%s:%zu: the end record's \"counters\" must be an object", path, ln);
		json_object_foreach(ctr, key, v) {
			long long n;
			bool null;

			if (!counter_value(v, &n, &null))
				return fail(x, -EINVAL, "%s:%zu: counter \"%s\" must be an integer", path, ln, key);
			run_set(x, r, key, n, null);
			a->end_counters = true;
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

/* Cumulative counts over time: from the events when the trace has them
 * (a step per event), else from the samples. */
static void cumulative(struct ctx *x, struct series *out, struct series *events, struct series *samples,
		       double t_end)
{
	if (events->n) {
		series_sort(events);
		series_add(x, out, 0, 0);
		for (size_t i = 0; i < events->n; i++) {
			series_add(x, out, events->p[i].t, (double)i);
			series_add(x, out, events->p[i].t, (double)(i + 1));
		}
		if (t_end > events->p[events->n - 1].t)
			series_add(x, out, t_end, (double)events->n);
	} else if (samples->n) {
		series_sort(samples);
		out->sampled = true;
		if (samples->p[0].t > 0) {
			series_add(x, out, 0, 0);
			out->first_sample = 1;
		}
		for (size_t i = 0; i < samples->n; i++)
			series_add(x, out, samples->p[i].t, samples->p[i].v);
	}
}

static void trace_finish(struct ctx *x, size_t ii, size_t ri, struct trace_acc *a)
{
	struct input *in = &x->in[ii];
	struct run *r = &x->runs[ri];
	double t_end = a->ended ? a->t_end : a->t_last;
	size_t l;

	r->wall = t_end;
	r->has_wall = true;
	/* tdp with KVM's tracepoints: every page fault KVM handled, as it
	 * happened (with NPT the hidden ones; with KVM's shadow MMU those it
	 * passed on to the guest too) */
	r->fixed_name = !a->fills.n && a->kvmpf.n ? "kvm_page_fault" : "pf_fixed";
	cumulative(x, &r->fixed, a->fills.n || !a->kvmpf.n ? &a->fills : &a->kvmpf, &a->sfixed, t_end);
	cumulative(x, &r->guest, &a->injects, &a->sguest, t_end);
	series_sort(&r->pages);
	r->pages.sampled = true;

	if (!a->end_counters) {
		/* No end record (the run did not finish its trace): the last
		 * sample's counts, and the per-path and per-size split of the
		 * events that shadow mode traces. */
		bool shadow = strncmp(r->label, "shadow", 6) == 0;
		char name[48];

		for (int f = 0; f < N_SAMPLE_FIELDS; f++)
			if (a->has_last[f])
				run_set(x, r, sample_fields[f], (long long)a->last[f], false);
		if (shadow || a->count[TRACE_FILL] || a->count[TRACE_INJECT]) {
			/* the events are complete up to the cut; samples lag */
			run_set(x, r, "pf_fixed", (long long)a->fills.n, false);
			run_set(x, r, "pf_guest", (long long)a->injects.n, false);
			for (int p = 0; p < N_PATHS; p++) {
				sfmt(name, sizeof(name), "pf_fixed_%s", mmu_paths[p]);
				run_set(x, r, name, (long long)a->fill_path[p], false);
				sfmt(name, sizeof(name), "pf_guest_%s", mmu_paths[p]);
				run_set(x, r, name, (long long)a->guest_path[p], false);
			}
			for (int s = 0; s < N_SIZES; s++)
				run_set(x, r, page_sizes[s], (long long)a->fill_level[s], false);
		}
		if (a->count[TRACE_CR3_LOAD] && !a->has_last[4])
			run_set(x, r, "cr3_writes", (long long)a->count[TRACE_CR3_LOAD], false);
		add_note(in, "no \"end\" record with counters (the run did not finish its trace): "
			 "counters taken from its last sample and its events");
	}

	l = (size_t)snprintf(in->what, sizeof(in->what), "a trace: %zu record%s (", a->records,
			      a->records == 1 ? "" : "s");
	for (int k = 0; k <= N_EVENTS && l < sizeof(in->what); k++)
		if (a->count[k])
			l += (size_t)snprintf(in->what + l, sizeof(in->what) - l, "%s%zu %s", in->what[l - 1] == '(' ? "" : ", ",
					      a->count[k], k < N_EVENTS ? trace_event_names[k] : "other");
	if (l < sizeof(in->what) - 1)
		sfmt(in->what + l, sizeof(in->what) - l, ")");
}

/* A trace, a line at a time (a long run's trace can be large). */
static int parse_trace(struct ctx *x, size_t ii, FILE *f)
{
	struct trace_acc a;
	char *line = NULL;
	size_t cap = 0, ln = 0, ri = SIZE_MAX;
	ssize_t l;
	int r = 0;

	memset(&a, 0, sizeof(a));
	x->in[ii].kind = IN_TRACE;
	while (r == 0 && (l = getline(&line, &cap, f)) > 0) {
		json_error_t e;
		json_t *rec;

		ln++;
		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			l--;
		if (blank(line, (size_t)l))
			continue;
		rec = json_loadb(line, (size_t)l, 0, &e);
		if (!rec) {
			r = fail(x, -EINVAL, "%s:%zu: not valid JSON: %s (column %d)", x->in[ii].path, ln,
				 e.text, e.column);
			break;
		}
		r = trace_record(x, ii, &ri, &a, rec, ln);
		json_decref(rec);
		if (r == 0 && x->oom)
			r = fail(x, -ENOMEM, "out of memory reading %s", x->in[ii].path);
	}
	if (r == 0 && ferror(f))
		r = fail(x, errno ? -errno : -EIO, "cannot read %s: %s", x->in[ii].path,
			 strerror(errno ? errno : EIO));
	if (r == 0)
		trace_finish(x, ii, ri, &a);
	free(line);
	free(a.fills.p);
	free(a.injects.p);
	free(a.sfixed.p);
	free(a.sguest.p);
	free(a.kvmpf.p);
	return r;
}

/* Is the input JSON Lines: its first non-blank line a JSON object with
 * "event", or any one-line object with more lines after it? */
static int sniff_trace(struct ctx *x, FILE *f, const char *path, bool *trace)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t l;
	json_t *root = NULL;
	json_error_t e;

	while ((l = getline(&line, &cap, f)) > 0 && blank(line, (size_t)l))
		;
	if (l > 0)
		root = json_loadb(line, (size_t)l, 0, &e);
	*trace = json_object_get(root, "event") != NULL;
	if (json_is_object(root) && !*trace) {
		while ((l = getline(&line, &cap, f)) > 0 && blank(line, (size_t)l))
			;
		*trace = l > 0;
		l = 1;
	}
	json_decref(root);
	free(line);
	if (ferror(f)) {
		int err = errno ? errno : EIO;

		return fail(x, -err, "cannot read %s: %s", path, strerror(err));
	}
	if (l <= 0 && !root)
		return fail(x, -EINVAL, "%s: empty: not a --stats=json report, a compare --json output or a trace",
			    path);
	return 0;
}

/*
 * One input: a trace (JSON Lines, sniff_trace) or one JSON document, a
 * compare output when it has "columns", else a report.
 */
static int load_input(struct ctx *x, size_t ii)
{
	struct input *in = &x->in[ii];
	char *buf = NULL;
	size_t len = 0;
	json_error_t e;
	json_t *root;
	bool trace = false;
	FILE *f = NULL;
	int r = open_input(x, in->path, &f);

	if (r == 0)
		r = sniff_trace(x, f, in->path, &trace);
	if (r == 0)
		rewind(f);
	if (r == 0 && trace)
		r = parse_trace(x, ii, f);
	else if (r == 0)
		r = read_all(x, f, in->path, &buf, &len);
	if (f)
		fclose(f);
	if (r < 0 || trace)
		return r;

	root = json_loadb(buf, len, 0, &e);
	if (!root) {
		r = fail(x, -EINVAL, "%s:%d: not valid JSON: %s (column %d)", in->path, e.line > 0 ? e.line : 1,
			 e.text, e.column);
	} else if (!json_is_object(root)) {
		r = fail(x, -EINVAL, "%s:1: not an ombra report (a JSON object)", in->path);
	} else if (json_object_get(root, "columns")) {
		r = parse_compare(x, ii, root, buf, len);
	} else if (json_object_get(root, "counters")) {
		r = parse_stats(x, ii, root, buf, len);
	} else {
		r = fail(x, -EINVAL, "%s:1: neither a --stats=json report (no \"counters\") nor a compare --json "
			 "output (no \"columns\") nor a trace (no \"event\")", in->path);
	}
	json_decref(root);
	free(buf);
	if (r == 0 && x->oom)
		r = fail(x, -ENOMEM, "out of memory reading %s", in->path);
	return r;
}

/* ---- drawing ------------------------------------------------------------- */

/* Colour-blind-safe (Okabe and Ito), then two more; a run keeps its colour
 * in every chart and in the table. */
static const char *const palette[] = {
	"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#8c6d31",
};
#define N_PALETTE 8

static const char *run_colour(size_t ri)
{
	return palette[ri % N_PALETTE];
}

static void put_esc_n(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++)
		switch (s[i]) {
		case '&':  fputs("&amp;", f); break;
		case '<':  fputs("&lt;", f); break;
		case '>':  fputs("&gt;", f); break;
		case '"':  fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:   fputc(s[i], f); break;
		}
}

static void put_esc(FILE *f, const char *s)
{
	put_esc_n(f, s, SIZE_MAX);
}

/* s, escaped, cut to at most max characters (UTF-8) with an ellipsis. */
static void put_text(FILE *f, const char *s, size_t max)
{
	size_t chars = 0, i;

	for (i = 0; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && ++chars > max)
			break;
	if (!s[i]) {
		put_esc(f, s);
		return;
	}
	/* keep max - 1 characters and the ellipsis */
	for (i = 0, chars = 0; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && ++chars > max - 1)
			break;
	put_esc_n(f, s, i);
	fputs("\xe2\x80\xa6", f);
}

static void run_name(const struct run *r, char *b, size_t n)
{
	sfmt(b, n, "%s \xc2\xb7 %s", r->label, r->source);
}

/* A step of 1, 2 or 5 times a power of ten giving about target intervals. */
static double nice_step(double span, int target)
{
	double raw = span / target, mag = 1, m;

	if (!(raw > 0))
		return 1;
	while (mag * 10 <= raw)
		mag *= 10;
	while (mag > raw)
		mag /= 10;
	m = raw / mag;
	return mag * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

/* The axis end: max rounded up to a whole number of steps. */
static double axis_end(double max, int target, bool integer, double *step)
{
	double s;
	long long k;

	if (!(max > 0))
		max = integer ? 1 : 1e-3;
	s = nice_step(max, target);
	if (integer && s < 1)
		s = 1;
	k = (long long)(max / s);
	if ((double)k * s < max * (1 - 1e-12))
		k++;
	if (k < 1)
		k = 1;
	*step = s;
	return (double)k * s;
}

static void fmt_tick(char *b, size_t n, double v, double step)
{
	const char *suf = "";
	double s;
	int d = 0;

	if (step >= 1e6) {
		v /= 1e6;
		step /= 1e6;
		suf = "M";
	} else if (step >= 1e3) {
		v /= 1e3;
		step /= 1e3;
		suf = "k";
	}
	for (s = step; d < 6; d++, s *= 10) {
		double frac = s - (double)(long long)(s + 0.5);

		if (frac < 1e-6 && frac > -1e-6)
			break;
	}
	sfmt(b, n, "%.*f%s", d, v, v == 0 ? "" : suf);
}

static double rnd(double v)      /* to a tenth of a pixel */
{
	return (double)(long long)(v * 10 + (v < 0 ? -0.5 : 0.5)) / 10;
}

struct frame {                  /* a plot area and the data range it shows */
	double x0, y0, w, h;
	double xmax, ymax;          /* from 0, in axis units */
	double xscale;              /* data x to axis units (s to ms: 1000) */
};

static double fx(const struct frame *fr, double x)
{
	return rnd(fr->x0 + x * fr->xscale / fr->xmax * fr->w);
}

static double fy(const struct frame *fr, double y)
{
	return rnd(fr->y0 + fr->h - y / fr->ymax * fr->h);
}

static void y_axis(FILE *f, const struct frame *fr, double step, const char *label)
{
	char t[32];

	for (long long k = 0; (double)k * step <= fr->ymax * (1 + 1e-9); k++) {
		double y = fy(fr, (double)k * step);

		fmt_tick(t, sizeof(t), (double)k * step, step);
		fprintf(f, "<line class=\"grid\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>"
			"<text class=\"tick\" x=\"%g\" y=\"%g\" text-anchor=\"end\">%s</text>\n",
			fr->x0, y, fr->x0 + fr->w, y, fr->x0 - 7, y + 4, t);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>\n",
		fr->x0, fr->y0, fr->x0, fr->y0 + fr->h);
	fprintf(f, "<text class=\"axislabel\" transform=\"translate(%g,%g) rotate(-90)\" text-anchor=\"middle\">",
		fr->x0 - 52, fr->y0 + fr->h / 2);
	put_esc(f, label);
	fputs("</text>\n", f);
}

/* A horizontal value axis (time, or counts of horizontal bars). */
static void x_axis(FILE *f, const struct frame *fr, double step, const char *label)
{
	char t[32];
	double yb = fr->y0 + fr->h;

	for (long long k = 0; (double)k * step <= fr->xmax * (1 + 1e-9); k++) {
		double x = rnd(fr->x0 + (double)k * step / fr->xmax * fr->w);

		fmt_tick(t, sizeof(t), (double)k * step, step);
		fprintf(f, "<line class=\"grid\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>"
			"<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>"
			"<text class=\"tick\" x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
			x, fr->y0, x, yb, x, yb, x, yb + 5, x, yb + 18, t);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>\n",
		fr->x0, yb, fr->x0 + fr->w, yb);
	fprintf(f, "<text class=\"axislabel\" x=\"%g\" y=\"%g\" text-anchor=\"middle\">",
		fr->x0 + fr->w / 2, yb + 38);
	put_esc(f, label);
	fputs("</text>\n", f);
}

enum key_style { KEY_LINE, KEY_DASH, KEY_BOX, KEY_LIGHT };

struct key {
	const char *colour;
	enum key_style style;
	char text[200];
};

#define KEY_ROW 18
#define CHAR_W 6.6              /* a 12px sans-serif character, about */

static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* As many columns as the longest key allows. */
static int key_cols(double width, const struct key *k, size_t n)
{
	size_t longest = 1;
	int c;

	for (size_t i = 0; i < n; i++)
		if (utf8_len(k[i].text) > longest)
			longest = utf8_len(k[i].text);
	c = (int)(width / ((double)longest * CHAR_W + 40));
	return c < 1 ? 1 : (size_t)c > n ? (int)(n ? n : 1) : c;
}

static double legend_height(double width, const struct key *k, size_t n)
{
	size_t cols = (size_t)key_cols(width, k, n);

	return n ? (double)((n + cols - 1) / cols) * KEY_ROW + 8 : 0;
}

static void legend(FILE *f, double x, double y, double width, const struct key *k, size_t n)
{
	int cols = key_cols(width, k, n);
	double colw = width / cols;
	size_t max;

	if (cols > 1 && colw > 420)
		colw = 420;
	max = (size_t)((colw - 40) / CHAR_W);

	fputs("<g class=\"legend\">\n", f);
	for (size_t i = 0; i < n; i++) {
		double ex = rnd(x + (double)(i % (size_t)cols) * colw);
		double ey = y + (double)(i / (size_t)cols) * KEY_ROW + 12;

		switch (k[i].style) {
		case KEY_LINE:
		case KEY_DASH:
			fprintf(f, "<line class=\"key\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" "
				"stroke-width=\"2.5\"%s/>", ex, ey - 4, ex + 26, ey - 4, k[i].colour,
				k[i].style == KEY_DASH ? " stroke-dasharray=\"6 4\"" : "");
			break;
		case KEY_BOX:
		case KEY_LIGHT:
			fprintf(f, "<rect class=\"key\" x=\"%g\" y=\"%g\" width=\"14\" height=\"11\" fill=\"%s\"%s/>",
				ex + 6, ey - 10, k[i].colour,
				k[i].style == KEY_LIGHT ? " fill-opacity=\"0.35\" stroke-width=\"1.2\" stroke=\"#444\"" : "");
			break;
		}
		fprintf(f, "<text x=\"%g\" y=\"%g\">", ex + 34, ey);
		put_text(f, k[i].text, max);
		fputs("</text>\n", f);
	}
	fputs("</g>\n", f);
}

static void svg_open(FILE *f, const char *id, int w, double h, const char *title, bool nodata)
{
	int hh = (int)(h + 0.999);

	fprintf(f, "<svg id=\"%s\" class=\"chart%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"role=\"img\" aria-label=\"", id, nodata ? " nodata" : "", w, hh, w, hh);
	put_esc(f, title);
	fputs("\">\n<text class=\"title\" x=\"16\" y=\"26\">", f);
	put_esc(f, title);
	fputs("</text>\n", f);
}

static void chart_nodata(FILE *f, const char *id, const char *title, int width, const char *why)
{
	svg_open(f, id, width, 150, title, true);
	fprintf(f, "<text class=\"nodata\" x=\"%d\" y=\"82\" text-anchor=\"middle\">no data in these inputs</text>\n",
		width / 2);
	fprintf(f, "<text class=\"why\" x=\"%d\" y=\"108\" text-anchor=\"middle\">", width / 2);
	put_esc(f, why);
	fputs("</text>\n</svg>\n", f);
}

struct line {
	const struct series *s;
	const char *colour;
	bool dashed;
	char tip[240];
};

/* The points of a line, two per half-pixel column (its first and its
 * last), so a trace of a million events is still a small polyline. */
static void polyline(FILE *f, const struct frame *fr, const struct line *l)
{
	long long col = -1;
	double lx = 0, ly = 0;
	bool held = false;
	size_t n = l->s->n;

	fprintf(f, "<polyline class=\"series\" stroke=\"%s\"%s points=\"", l->colour,
		l->dashed ? " stroke-dasharray=\"6 4\"" : "");
	for (size_t i = 0; i < n; i++) {
		double x = fx(fr, l->s->p[i].t), y = fy(fr, l->s->p[i].v);
		long long c = (long long)(x * 2);

		if (c == col && i + 1 < n) {     /* hold the column's latest */
			lx = x;
			ly = y;
			held = true;
			continue;
		}
		if (held)
			fprintf(f, " %g,%g", lx, ly);
		held = false;
		fprintf(f, "%s%g,%g", i ? " " : "", x, y);
		col = c;
	}
	fputs("\"><title>", f);
	put_esc(f, l->tip);
	fputs("</title></polyline>\n", f);
	/* a dot on each sample, so a line through a few samples is seen as one */
	if (l->s->sampled && n - l->s->first_sample <= 400)
		for (size_t i = l->s->first_sample; i < n; i++)
			fprintf(f, "<circle class=\"sample\" cx=\"%g\" cy=\"%g\" r=\"2.6\" fill=\"%s\"/>",
				fx(fr, l->s->p[i].t), fy(fr, l->s->p[i].v), l->colour);
}

static void chart_lines(FILE *f, const char *id, const char *title, int width, const struct line *l,
			size_t n, const struct key *keys, size_t nk, const char *ylabel, const char *why)
{
	struct frame fr = { .x0 = 78, .y0 = 44, .h = 280, .xscale = 1 };
	double tmax = 0, vmax = 0, xstep, ystep, lh;
	size_t used = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < l[i].s->n; j++) {
			used++;
			if (l[i].s->p[j].t > tmax)
				tmax = l[i].s->p[j].t;
			if (l[i].s->p[j].v > vmax)
				vmax = l[i].s->p[j].v;
		}
	if (!used) {
		chart_nodata(f, id, title, width, why);
		return;
	}
	if (tmax < 2)
		fr.xscale = 1000;
	fr.w = width - fr.x0 - 28;
	fr.xmax = axis_end(tmax * fr.xscale, 10, false, &xstep);
	fr.ymax = axis_end(vmax, 5, true, &ystep);
	lh = legend_height(width - 32, keys, nk);
	svg_open(f, id, width, fr.y0 + fr.h + 52 + lh, title, false);
	y_axis(f, &fr, ystep, ylabel);
	x_axis(f, &fr, xstep, fr.xscale == 1000 ? "milliseconds since the run began"
						 : "seconds since the run began");
	fputs("<g class=\"data\">\n", f);
	for (size_t i = 0; i < n; i++)
		if (l[i].s->n)
			polyline(f, &fr, &l[i]);
	fputs("</g>\n", f);
	legend(f, 16, fr.y0 + fr.h + 50, width - 32, keys, nk);
	fputs("</svg>\n", f);
}

struct bars {                   /* one bar in each group */
	const char *colour;
	bool light;
	double v[N_PATHS];
	const char *name[N_PATHS];  /* the counter in each group */
	char who[200];
};

static int digits(double v)
{
	int d = 1;

	for (; v >= 10; v /= 10)
		d++;
	return d;
}

/* Grouped vertical bars: ng groups, a bar per entry of b in each. */
static void chart_vbars(FILE *f, const char *id, const char *title, int width, const char *const *groups,
			size_t ng, const struct bars *b, size_t nb, const struct key *keys, size_t nk,
			const char *ylabel, const char *why)
{
	struct frame fr = { .x0 = 78, .y0 = 44, .h = 240, .xscale = 1, .xmax = 1 };
	double vmax = 0, ystep, gw, bw, lh;

	if (!nb) {
		chart_nodata(f, id, title, width, why);
		return;
	}
	for (size_t k = 0; k < nb; k++)
		for (size_t g = 0; g < ng; g++)
			if (b[k].v[g] > vmax)
				vmax = b[k].v[g];
	fr.w = width - fr.x0 - 20;
	fr.ymax = axis_end(vmax, 5, true, &ystep);
	gw = fr.w / (double)ng;
	bw = gw * 0.82 / (double)nb;
	if (bw > 44)
		bw = 44;
	lh = legend_height(width - 32, keys, nk);
	svg_open(f, id, width, fr.y0 + fr.h + 34 + lh, title, false);
	y_axis(f, &fr, ystep, ylabel);
	fprintf(f, "<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>\n",
		fr.x0, fr.y0 + fr.h, fr.x0 + fr.w, fr.y0 + fr.h);
	fputs("<g class=\"data\">\n", f);
	for (size_t g = 0; g < ng; g++) {
		double gx = fr.x0 + (double)g * gw + (gw - bw * (double)nb) / 2;

		for (size_t k = 0; k < nb; k++) {
			double v = b[k].v[g], x = rnd(gx + (double)k * bw + 1), y = fy(&fr, v);
			double w = rnd(bw - 2 > 1 ? bw - 2 : 1);

			fprintf(f, "<rect class=\"bar\" x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"%s\"%s>"
				"<title>", x, y, w, rnd(fr.y0 + fr.h - y), b[k].colour,
				b[k].light ? " fill-opacity=\"0.35\" stroke-width=\"1.2\" stroke=\"#444\"" : "");
			put_esc(f, b[k].who);
			fprintf(f, ": %s = %.0f</title></rect>", b[k].name[g], v);
			if (v > 0 && w >= 6.5 * digits(v))
				fprintf(f, "<text class=\"value\" x=\"%g\" y=\"%g\" text-anchor=\"middle\">%.0f</text>",
					rnd(x + w / 2), y - 4, v);
			fputc('\n', f);
		}
		fprintf(f, "<text class=\"group\" x=\"%g\" y=\"%g\" text-anchor=\"middle\">", rnd(fr.x0 + ((double)g + 0.5) * gw),
			fr.y0 + fr.h + 20);
		put_esc(f, groups[g]);
		fputs("</text>\n", f);
	}
	fputs("</g>\n", f);
	legend(f, 16, fr.y0 + fr.h + 32, width - 32, keys, nk);
	fputs("</svg>\n", f);
}

struct hrow {                   /* a run in a horizontal bar chart */
	char label[120], source[200];
	double v[3];
	bool has[3];
};

/* Horizontal bars: a group of nv bars per row (one per counter). */
static void chart_hbars(FILE *f, const char *id, const char *title, int width, const struct hrow *rows,
			size_t nr, const char *const *names, const char *const *colours, size_t nv,
			const char *xlabel, const char *why)
{
	struct frame fr = { .x0 = 190, .y0 = 44, .xscale = 1, .ymax = 1 };
	double vmax = 0, xstep, rowh = (double)nv * 14 + 16, lh;
	struct key keys[3];

	if (!nr) {
		chart_nodata(f, id, title, width, why);
		return;
	}
	for (size_t i = 0; i < nr; i++)
		for (size_t k = 0; k < nv; k++)
			if (rows[i].has[k] && rows[i].v[k] > vmax)
				vmax = rows[i].v[k];
	for (size_t k = 0; k < nv; k++) {
		keys[k].colour = colours[k];
		keys[k].style = KEY_BOX;
		sfmt(keys[k].text, sizeof(keys[k].text), "%s", names[k]);
	}
	fr.w = width - fr.x0 - 50;
	fr.h = rowh * (double)nr;
	fr.xmax = axis_end(vmax, 6, true, &xstep);
	lh = legend_height(width - 32, keys, nv);
	svg_open(f, id, width, fr.y0 + fr.h + 52 + lh, title, false);
	x_axis(f, &fr, xstep, xlabel);
	fprintf(f, "<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\"/>\n",
		fr.x0, fr.y0, fr.x0, fr.y0 + fr.h);
	fputs("<g class=\"data\">\n", f);
	for (size_t i = 0; i < nr; i++) {
		double ry = fr.y0 + (double)i * rowh;

		fprintf(f, "<text class=\"row\" x=\"%g\" y=\"%g\" text-anchor=\"end\">", fr.x0 - 8, rnd(ry + rowh / 2 - 2));
		put_text(f, rows[i].label, 24);
		fprintf(f, "</text><text class=\"src\" x=\"%g\" y=\"%g\" text-anchor=\"end\">", fr.x0 - 8,
			rnd(ry + rowh / 2 + 12));
		put_text(f, rows[i].source, 24);
		fputs("</text>\n", f);
		for (size_t k = 0; k < nv; k++) {
			double y = rnd(ry + 8 + (double)k * 14), w;

			if (!rows[i].has[k])
				continue;
			w = rnd(rows[i].v[k] / fr.xmax * fr.w);
			fprintf(f, "<rect class=\"bar\" x=\"%g\" y=\"%g\" width=\"%g\" height=\"12\" fill=\"%s\"><title>",
				fr.x0, y, w, colours[k]);
			put_esc(f, rows[i].label);
			fputs(" \xc2\xb7 ", f);
			put_esc(f, rows[i].source);
			fprintf(f, ": %s = %.0f</title></rect><text class=\"value\" x=\"%g\" y=\"%g\">%.0f</text>\n",
				names[k], rows[i].v[k], fr.x0 + w + 4, y + 10, rows[i].v[k]);
		}
	}
	fputs("</g>\n", f);
	legend(f, 16, fr.y0 + fr.h + 50, width - 32, keys, nv);
	fputs("</svg>\n", f);
}

/* ---- the page ------------------------------------------------------------ */

#define FULL_W 1320
#define HALF_W 640

static const char page_css[] =
"body{font:14px/1.45 \"DejaVu Sans\",\"Liberation Sans\",Arial,Helvetica,sans-serif;color:#222;"
"background:#fff;margin:0 auto;max-width:1320px;padding:16px 20px 32px}\n"
"h1{font-size:24px;margin:4px 0 2px}h2{font-size:17px;margin:22px 0 4px}\n"
"p.lead,p.note{color:#555;margin:2px 0 8px;max-width:1100px}\n"
"code,.mono{font-family:\"DejaVu Sans Mono\",\"Liberation Mono\",monospace;font-size:12.5px}\n"
"ol.inputs{margin:4px 0;padding-left:24px}ol.inputs li{margin:0 0 6px}\n"
".notes{color:#666;font-size:12.5px}\n"
".sw{display:inline-block;width:11px;height:11px;margin:0 4px 0 8px;vertical-align:-1px;border-radius:2px}\n"
".row{display:flex;gap:20px;flex-wrap:wrap;align-items:flex-start}\n"
"figure{margin:14px 0 0}figcaption{color:#555;font-size:12.5px;max-width:640px;margin-top:4px}\n"
"figure.full figcaption{max-width:1100px}\n"
"svg.chart{box-sizing:border-box;display:block;max-width:100%;height:auto;background:#fff;border:1px solid #d8d8d8;border-radius:4px}\n"
"svg text{font-size:12px;fill:#333}svg text.title{font-size:15px;font-weight:bold;fill:#222}\n"
"svg text.tick,svg text.src{fill:#666;font-size:11px}svg text.value{font-size:10px;fill:#444}\n"
"svg text.axislabel{fill:#444}svg text.nodata{font-size:18px;fill:#888}svg text.why{fill:#888}\n"
"svg .grid{stroke:#ececec;stroke-width:1}svg .axis{stroke:#777;stroke-width:1}\n"
"svg .series{fill:none;stroke-width:2.2;stroke-linejoin:round}\n"
"table#counters{border-collapse:collapse;margin-top:6px;font-variant-numeric:tabular-nums}\n"
"table#counters th,table#counters td{padding:2px 12px;border-bottom:1px solid #eee;white-space:nowrap}\n"
"table#counters th{text-align:right;vertical-align:bottom;border-bottom:2px solid #ccc;font-size:13px}\n"
"table#counters th .src{display:block;font-weight:normal;color:#777;font-size:11.5px}\n"
"table#counters td{text-align:right}table#counters th:not(.name){width:116px}\n"
"table#counters td:not(.name){border-left:4px solid #fff}table#counters td.name,table#counters th.name{text-align:left}\n"
"table#counters tr.meta td{color:#444;background:#f7f7f7}\n"
"table#counters td.zero,table#counters td.none{color:#aaa}\n"
"footer{margin-top:26px;color:#888;font-size:12px}\n";

static void caption(FILE *f, const char *text)
{
	fprintf(f, "<figcaption>%s</figcaption>\n</figure>\n", text);
}

static int chart_time(struct ctx *x, FILE *f)
{
	struct line *l = calloc(x->nruns * 2 + 1, sizeof(*l));
	struct key *k = calloc(x->nruns * 2 + 1, sizeof(*k));
	size_t n = 0;
	char who[240];

	if (!l || !k) {
		free(l);
		free(k);
		return -ENOMEM;
	}
	for (size_t i = 0; i < x->nruns; i++) {
		const struct run *r = &x->runs[i];
		const struct series *s[2] = { &r->fixed, &r->guest };

		run_name(r, who, sizeof(who));
		for (int j = 0; j < 2; j++) {
			if (!s[j]->n)
				continue;
			l[n].s = s[j];
			l[n].colour = k[n].colour = run_colour(i);
			l[n].dashed = j == 1;
			k[n].style = j ? KEY_DASH : KEY_LINE;
			sfmt(l[n].tip, sizeof(l[n].tip), "%s: %s", who, j ? "pf_guest" : r->fixed_name ? r->fixed_name : "pf_fixed");
			sfmt(k[n].text, sizeof(k[n].text), "%s: %s %.0f", who,
			     j ? "pf_guest" : r->fixed_name ? r->fixed_name : "pf_fixed",
				 s[j]->p[s[j]->n - 1].v);
			n++;
		}
	}
	fputs("<figure class=\"full\">\n", f);
	chart_lines(f, "chart-faults-time", "Page faults over time", FULL_W, l, n, k, n, "faults (cumulative)",
		    "this chart needs a trace: ombra run --trace FILE");
	caption(f, "Cumulative hidden faults the MMU fixed (<code>pf_fixed</code>, solid) and page faults "
		"delivered into the guest (<code>pf_guest</code>, dashed) against the time since the run "
		"began, a colour per run.  From trace files: their <code>fill</code> and <code>inject</code> "
		"(#PF) events where the trace has them (shadow mode), else their <code>sample</code> records "
		"(KVM's counters, every 10 ms); a tdp-mode trace with KVM's tracepoints draws its "
		"<code>kvm_page_fault</code> events as the solid line instead (every fault KVM handled: "
		"with NPT the hidden ones; with KVM's shadow MMU also those it passed on to the guest).");
	free(l);
	free(k);
	return 0;
}

static int chart_pages(struct ctx *x, FILE *f)
{
	struct line *l = calloc(x->nruns + 1, sizeof(*l));
	struct key *k = calloc(x->nruns + 1, sizeof(*k));
	size_t n = 0;
	char who[240];

	if (!l || !k) {
		free(l);
		free(k);
		return -ENOMEM;
	}
	for (size_t i = 0; i < x->nruns; i++) {
		const struct run *r = &x->runs[i];
		double peak = 0;

		if (!r->pages.n)
			continue;
		for (size_t j = 0; j < r->pages.n; j++)
			if (r->pages.p[j].v > peak)
				peak = r->pages.p[j].v;
		run_name(r, who, sizeof(who));
		l[n].s = &r->pages;
		l[n].colour = k[n].colour = run_colour(i);
		k[n].style = KEY_LINE;
		sfmt(l[n].tip, sizeof(l[n].tip), "%s: shadow_pages", who);
		sfmt(k[n].text, sizeof(k[n].text), "%s (peak %.0f)", who, peak);
		n++;
	}
	fputs("<figure>\n", f);
	chart_lines(f, "chart-shadow-pages", "Shadow pages in use", HALF_W, l, n, k, n, "shadow pages",
		    "this chart needs a shadow-mode trace (its samples' shadow_pages)");
	caption(f, "Shadow pages in use over time (<code>shadow_pages</code> in a trace's samples): the pool "
		"filling as guest tables get shadowed, and dropping when pages are zapped or recycled.");
	free(l);
	free(k);
	return 0;
}

static int chart_paths(struct ctx *x, FILE *f)
{
	static const char *const groups[] = { "nonpaging", "paging32", "paging32e (PAE)", "paging64" };
	static const char *const sgroups[] = { "4 KiB", "2 or 4 MiB", "1 GiB" };
	static char names[2][N_PATHS][32];
	struct bars *b = calloc(x->nruns * 2 + 1, sizeof(*b)), *s = calloc(x->nruns + 1, sizeof(*s));
	struct key *k = calloc(x->nruns + 3, sizeof(*k)), *ks = calloc(x->nruns + 1, sizeof(*ks));
	size_t nb = 0, nk = 0, ns = 0;

	if (!b || !s || !k || !ks) {
		free(b);
		free(s);
		free(k);
		free(ks);
		return -ENOMEM;
	}
	for (int p = 0; p < N_PATHS; p++) {
		sfmt(names[0][p], sizeof(names[0][p]), "pf_fixed_%s", mmu_paths[p]);
		sfmt(names[1][p], sizeof(names[1][p]), "pf_guest_%s", mmu_paths[p]);
	}
	for (size_t i = 0; i < x->nruns; i++) {
		const struct run *r = &x->runs[i];
		bool any = false, anys = false;
		double v;

		for (int j = 0; j < 2; j++)
			for (int p = 0; p < N_PATHS; p++)
				any |= run_get(r, names[j][p], &v);
		for (int j = 0; j < N_SIZES; j++)
			anys |= run_get(r, page_sizes[j], &v);
		if (any) {
			for (int j = 0; j < 2; j++, nb++) {
				b[nb].colour = run_colour(i);
				b[nb].light = j == 1;
				run_name(r, b[nb].who, sizeof(b[nb].who));
				for (int p = 0; p < N_PATHS; p++) {
					b[nb].name[p] = names[j][p];
					if (run_get(r, names[j][p], &v))
						b[nb].v[p] = v;
				}
			}
			k[nk].colour = run_colour(i);
			k[nk].style = KEY_BOX;
			run_name(r, k[nk++].text, sizeof(k[0].text));
		}
		if (anys) {
			s[ns].colour = ks[ns].colour = run_colour(i);
			ks[ns].style = KEY_BOX;
			run_name(r, s[ns].who, sizeof(s[ns].who));
			run_name(r, ks[ns].text, sizeof(ks[ns].text));
			for (int j = 0; j < N_SIZES; j++) {
				s[ns].name[j] = page_sizes[j];
				if (run_get(r, page_sizes[j], &v))
					s[ns].v[j] = v;
			}
			ns++;
		}
	}
	if (nk) {
		k[nk].colour = "#777";
		k[nk].style = KEY_BOX;
		sfmt(k[nk++].text, sizeof(k[0].text), "solid: pf_fixed_PATH (hidden, fixed)");
		k[nk].colour = "#777";
		k[nk].style = KEY_LIGHT;
		sfmt(k[nk++].text, sizeof(k[0].text), "light: pf_guest_PATH (delivered)");
	}
	fputs("<div class=\"row\">\n<figure>\n", f);
	chart_vbars(f, "chart-faults-path", "Page faults by MMU path", HALF_W, groups, N_PATHS, b, nb, k, nk,
		    "faults", "per-path counters come from shadow-mode runs (pf_fixed_PATH, pf_guest_PATH)");
	caption(f, "Faults by the guest's paging mode when they happened (the MMU path): hidden faults "
		"fixed (<code>pf_fixed_PATH</code>, solid) and faults delivered into the guest "
		"(<code>pf_guest_PATH</code>, light), a pair of bars per shadow-mode run.");
	fputs("<figure>\n", f);
	chart_vbars(f, "chart-faults-size", "Hidden faults fixed, by guest page size", HALF_W, sgroups, N_SIZES,
		    s, ns, ks, ns, "faults fixed", "per-size counters come from shadow-mode runs (pf_fixed_4k, ...)");
	caption(f, "Hidden faults fixed, by the size of the guest page that maps the address: "
		"<code>pf_fixed_4k</code>, <code>pf_fixed_2m_4m</code> (2 MiB, or 4 MiB with 2-level "
		"paging) and <code>pf_fixed_1g</code>.");
	fputs("</div>\n", f);
	free(b);
	free(s);
	free(k);
	free(ks);
	return 0;
}

static int chart_cr3(struct ctx *x, FILE *f)
{
	static const char *const names[] = { "cr3_writes", "root_hits", "root_misses" };
	static const char *const colours[] = { "#4d4d4d", "#1b9e77", "#e7298a" };
	struct hrow *rows = calloc(x->nruns + 1, sizeof(*rows));
	size_t n = 0;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < x->nruns; i++) {
		const struct run *r = &x->runs[i];
		bool any = false;

		for (int k = 0; k < 3; k++)
			any |= rows[n].has[k] = run_get(r, names[k], &rows[n].v[k]);
		if (any) {
			sfmt(rows[n].label, sizeof(rows[n].label), "%s", r->label);
			sfmt(rows[n].source, sizeof(rows[n].source), "%s", r->source);
			n++;
		} else {
			memset(&rows[n], 0, sizeof(rows[n]));
		}
	}
	fputs("<figure>\n", f);
	chart_hbars(f, "chart-cr3", "CR3 loads and the shadow root cache", HALF_W, rows, n, names, colours, 3,
		    "count", "these counters come from shadow-mode runs (cr3_writes, root_hits, root_misses)");
	caption(f, "Guest CR3 loads (<code>cr3_writes</code>) and how often the shadow root the CPU "
		"needed was in ombra's root cache (<code>root_hits</code>) or had to be built "
		"(<code>root_misses</code>), per shadow-mode run.");
	free(rows);
	return 0;
}

static void put_num_cell(FILE *f, const struct run *r, const char *name, double rowmax)
{
	double v;

	if (!run_get(r, name, &v)) {
		fputs("<td class=\"none\">\xe2\x80\x93</td>", f);
	} else if (v == 0) {
		fputs("<td class=\"zero\">0</td>", f);
	} else {
		int pct = rowmax > 0 ? (int)(v / rowmax * 100 + 0.5) : 0;

		fprintf(f, "<td style=\"background:linear-gradient(to left,#dfe9f5 %d%%,transparent %d%%)\">%.0f</td>",
			pct, pct, v);
	}
}

static int counter_table(struct ctx *x, FILE *f)
{
	const char **names;
	size_t nn = 0, cap = 0;
	json_t *seen = json_object();        /* the names so far, hashed */

	for (size_t i = 0; i < x->nruns; i++)
		cap += x->runs[i].nc;
	names = calloc(cap + 1, sizeof(*names));
	if (!names || !seen) {
		free(names);
		json_decref(seen);
		return -ENOMEM;
	}
	/* Every run's counters, each name once, in the order first seen. */
	for (size_t i = 0; i < x->nruns; i++)
		for (size_t c = 0; c < x->runs[i].nc; c++)
			if (!json_object_get(seen, x->runs[i].c[c].name)) {
				json_object_set_new(seen, x->runs[i].c[c].name, json_true());
				names[nn++] = x->runs[i].c[c].name;
			}
	json_decref(seen);

	fputs("<h2>Counters side by side</h2>\n<p class=\"note\">A row per counter under KVM's names "
	      "(docs/counters.md), a column per run, as <code>ombra compare</code> prints them; "
	      "\xe2\x80\x93 where a run has no such counter.  The shading is the value against the "
	      "row's largest.</p>\n<table id=\"counters\">\n<thead><tr><th class=\"name\">counter</th>", f);
	for (size_t i = 0; i < x->nruns; i++) {
		fprintf(f, "<th><span class=\"sw\" style=\"background:%s\"></span>", run_colour(i));
		put_esc(f, x->runs[i].label);
		fputs("<span class=\"src\">", f);
		put_esc(f, x->runs[i].source);
		fputs("</span></th>", f);
	}
	fputs("</tr></thead>\n<tbody>\n<tr class=\"meta\"><td class=\"name\">ended</td>", f);
	for (size_t i = 0; i < x->nruns; i++) {
		fputs("<td>", f);
		put_esc(f, x->runs[i].end ? x->runs[i].end : "\xe2\x80\x93");
		fputs("</td>", f);
	}
	fputs("</tr>\n<tr class=\"meta\"><td class=\"name\">exit status</td>", f);
	for (size_t i = 0; i < x->nruns; i++)
		if (x->runs[i].has_status)
			fprintf(f, "<td>%lld</td>", x->runs[i].exit_status);
		else
			fputs("<td class=\"none\">\xe2\x80\x93</td>", f);
	fputs("</tr>\n<tr class=\"meta\"><td class=\"name\">wall seconds</td>", f);
	for (size_t i = 0; i < x->nruns; i++)
		if (x->runs[i].has_wall)
			fprintf(f, "<td>%.3f</td>", x->runs[i].wall);
		else
			fputs("<td class=\"none\">\xe2\x80\x93</td>", f);
	fputs("</tr>\n", f);
	for (size_t j = 0; j < nn; j++) {
		double max = 0, v;

		for (size_t i = 0; i < x->nruns; i++)
			if (run_get(&x->runs[i], names[j], &v) && v > max)
				max = v;
		fputs("<tr class=\"counter\"><td class=\"name mono\">", f);
		put_esc(f, names[j]);
		fputs("</td>", f);
		for (size_t i = 0; i < x->nruns; i++)
			put_num_cell(f, &x->runs[i], names[j], max);
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n</table>\n", f);
	free(names);
	return 0;
}

static void inputs_list(struct ctx *x, FILE *f)
{
	fprintf(f, "<h2>Inputs</h2>\n<ol class=\"inputs\">\n");
	for (size_t ii = 0; ii < x->nin; ii++) {
		const struct input *in = &x->in[ii];

		fputs("<li><code>", f);
		put_esc(f, in->path);
		fputs("</code>: ", f);
		put_esc(f, in->what);
		fputs("<br>runs:", f);
		for (size_t i = in->first_run; i < in->first_run + in->nruns; i++) {
			fprintf(f, "<span class=\"sw\" style=\"background:%s\"></span>", run_colour(i));
			put_esc(f, x->runs[i].label);
		}
		if (in->kernel) {
			fputs("<br>kernel <code>", f);
			put_esc(f, in->kernel);
			fputs("</code>", f);
			if (in->append && in->append[0]) {
				fputs(" -append <code>", f);
				put_esc(f, in->append);
				fputs("</code>", f);
			}
		}
		if (in->host) {
			fputs("<br>host MMU: ", f);
			put_esc(f, in->host);
		}
		if (in->notes[0]) {
			const char *p = in->notes, *nl;

			fputs("<br><span class=\"notes\">", f);
			while ((nl = strchr(p, '\n'))) {
				put_esc_n(f, p, (size_t)(nl - p));
				fputs("<br>", f);
				p = nl + 1;
			}
			put_esc(f, p);
			fputs("</span>", f);
		}
		fputs("</li>\n", f);
	}
	fputs("</ol>\n", f);
}

static int write_page(struct ctx *x, FILE *f)
{
	int r;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n", f);
	fprintf(f, "<meta name=\"generator\" content=\"ombra %s report\">\n<title>ombra report</title>\n"
		"<style>\n%s</style>\n</head>\n<body>\n", OMBRA_VERSION, page_css);
	fprintf(f, "<h1>ombra report</h1>\n<p class=\"lead\">MMU events of %zu run%s from %zu file%s, "
		"under KVM's counter names: tdp mode is KVM's MMU, shadow mode is ombra's shadow page "
		"tables (vtlb, wp or unsync).  Hover a line or a bar for its values.</p>\n",
		x->nruns, x->nruns == 1 ? "" : "s", x->nin, x->nin == 1 ? "" : "s");
	inputs_list(x, f);
	r = chart_time(x, f);
	if (r == 0)
		r = chart_paths(x, f);
	if (r == 0) {
		fputs("<div class=\"row\">\n", f);
		r = chart_pages(x, f);
		if (r == 0)
			r = chart_cr3(x, f);
		fputs("</div>\n", f);
	}
	if (r == 0)
		r = counter_table(x, f);
	fprintf(f, "<footer>Made by <code>ombra report</code> (ombra %s): a static page, its charts SVG "
		"drawn by ombra; no scripts, nothing fetched.</footer>\n</body>\n</html>\n", OMBRA_VERSION);
	return r;
}

/* ---- the entry point ------------------------------------------------------ */

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return strcmp(a, b) == 0 || (stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
				     sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

/* Each run's source: the input's base name; "#2", "#3" when a run's label
 * and source would repeat another's. */
static void name_sources(struct ctx *x)
{
	for (size_t i = 0; i < x->nruns; i++) {
		const char *p = x->in[x->runs[i].input].path, *b = strrchr(p, '/');
		int dup = 1;

		sfmt(x->runs[i].source, sizeof(x->runs[i].source), "%s", b && b[1] ? b + 1 : p);
		for (size_t j = 0; j < i; j++) {
			const char *q = x->in[x->runs[j].input].path, *c = strrchr(q, '/');

			if (strcmp(x->runs[i].label, x->runs[j].label) == 0 && strcmp(c && c[1] ? c + 1 : q,
										    x->runs[i].source) == 0)
				dup++;
		}
		if (dup > 1) {
			size_t l = strlen(x->runs[i].source);

			sfmt(x->runs[i].source + l, sizeof(x->runs[i].source) - l, " #%d", dup);
		}
	}
}

static int write_out(struct ctx *x, const char *out)
{
	struct outfile o;
	int r;

	if (strcmp(out, "-") == 0) {
		r = write_page(x, stdout);
		if (r < 0)
			return fail(x, r, "out of memory writing the report");
		if (fflush(stdout) != 0 || ferror(stdout))
			return fail(x, -EIO, "cannot write the report to standard output: %s", strerror(errno));
		return 0;
	}
	r = outfile_open(&o, out);
	if (r < 0)
		return fail(x, r, "cannot write %s: %s", out, strerror(-r));
	r = write_page(x, o.f);
	if (r < 0) {
		outfile_drop(&o);
		return fail(x, r, "out of memory writing %s", out);
	}
	r = outfile_commit(&o, out);
	if (r < 0)
		return fail(x, r, "cannot write %s: %s", out, strerror(-r));
	return 0;
}

static void ctx_free(struct ctx *x)
{
	for (size_t i = 0; i < x->nruns; i++) {
		struct run *r = &x->runs[i];

		for (size_t c = 0; c < r->nc; c++)
			free(r->c[c].name);
		free(r->c);
		json_decref(r->index);
		free(r->label);
		free(r->end);
		free(r->fixed.p);
		free(r->guest.p);
		free(r->pages.p);
	}
	free(x->runs);
	for (size_t i = 0; i < x->nin; i++) {
		free(x->in[i].kernel);
		free(x->in[i].append);
		free(x->in[i].host);
	}
	free(x->in);
}

int htmlreport_write(const char *out, const char *const *inputs, int n, char *err, size_t errlen)
{
	struct ctx x;
	int r = 0;

	memset(&x, 0, sizeof(x));
	x.err = err;
	x.errlen = errlen;
	if (errlen)
		err[0] = '\0';
	if (n <= 0)
		return fail(&x, -EINVAL, "no input files");
	if (strcmp(out, "-") != 0)
		for (int i = 0; i < n; i++)
			if (same_file(out, inputs[i]))
				return fail(&x, -EEXIST, "refusing to overwrite input file '%s' with the report",
					    inputs[i]);
	x.in = calloc((size_t)n, sizeof(*x.in));
	if (!x.in)
		return fail(&x, -ENOMEM, "out of memory");
	x.nin = (size_t)n;
	for (size_t i = 0; i < x.nin && r == 0; i++) {
		x.in[i].path = inputs[i];
		r = load_input(&x, i);
	}
	if (r == 0) {
		name_sources(&x);
		r = write_out(&x, out);
	}
	ctx_free(&x);
	return r;
}
