/*
 * The event trace: JSON Lines, flushed at the end of the run (and by the
 * C library as its buffer fills), one record per line.  And the parser of
 * KVM's tracepoint lines (tdp mode's "kvm" records): pure, unit-tested in
 * tests/unit/test_ktrace.c on lines from a real kernel.
 */
#include "trace.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int trace_open(struct trace *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	t->f = fopen(path, "w");
	if (!t->f)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	return 0;
}

void trace_start(struct trace *t)
{
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	t->last_sample = 0;
}

void trace_close(struct trace *t)
{
	if (t->f)
		fclose(t->f);
	t->f = NULL;
}

double trace_now(const struct trace *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->t0.tv_sec) + (double)(now.tv_nsec - t->t0.tv_nsec) / 1e9;
}

json_t *trace_hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return json_string(buf);
}

void trace_write(struct trace *t, const char *event, json_t *obj)
{
	trace_write_at(t, event, t ? trace_now(t) : 0, obj);
}

double trace_t0(const struct trace *t)
{
	return (double)t->t0.tv_sec + (double)t->t0.tv_nsec / 1e9;
}

void trace_write_at(struct trace *t, const char *event, double when, json_t *obj)
{
	json_t *line = json_object();
	const char *key;
	json_t *val;

	if (!t || !t->f || !obj) {
		json_decref(obj);
		json_decref(line);
		return;
	}
	/* event and t first, so a person reading the file sees them first */
	json_object_set_new(line, "event", json_string(event));
	json_object_set_new(line, "t", json_real(when));
	json_object_foreach(obj, key, val)
		json_object_set(line, key, val);
	json_dumpf(line, t->f, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', t->f);
	t->records++;
	json_decref(line);
	json_decref(obj);
}

int trace_sample_due(struct trace *t)
{
	double now = trace_now(t);

	if (now - t->last_sample < 0.010)
		return 0;
	t->last_sample = now;
	return 1;
}

/* --- KVM's tracepoint lines ---------------------------------------------- */

/* Fields the kvm and kvmmmu events print in hex without "0x" (their
 * print fmt in /sys/kernel/tracing/events/kvmmmu/NAME/format, Linux 6.1);
 * "gen" is hex only in mark_mmio_spte. */
static const char *const hex_keys[] = {
	"addr", "pferr", "pte", "gfn", "pfn", "spte", "old_spte", "new_spte", "gpa", "gva",
	"old", "new", "at", "access", "sptep", "kvm_gen", "spte-gen", "used_pages",
};

/* The events that print a shadow page's role (KVM_MMU_PAGE_PRINTK). */
static const char *const page_events[] = {
	"kvm_mmu_get_page", "kvm_mmu_prepare_zap_page", "kvm_mmu_sync_page", "kvm_mmu_unsync_page",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool is_key(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (s++; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static bool all_of(const char *s, int (*cls)(int))
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!cls((unsigned char)*s))
			return false;
	return true;
}

/* tok as the value of key: a JSON number or hex string, or NULL when tok
 * is not a number. */
static json_t *kvm_value(const char *name, const char *key, const char *tok)
{
	bool hex = in_list(key, hex_keys, sizeof(hex_keys) / sizeof(hex_keys[0])) ||
		   (strcmp(key, "gen") == 0 && strcmp(name, "mark_mmio_spte") == 0);

	if (tok[0] == '0' && tok[1] == 'x' && all_of(tok + 2, isxdigit))
		return trace_hex(strtoull(tok + 2, NULL, 16));
	if (hex && all_of(tok, isxdigit))
		return trace_hex(strtoull(tok, NULL, 16));
	if (all_of(tok + (tok[0] == '-'), isdigit))
		return json_integer((json_int_t)strtoll(tok, NULL, 10));
	return NULL;
}

/* The "key value" pairs of an event's text, into fields. */
static void kvm_fields(const char *name, const char *text, json_t *fields)
{
	char buf[512], *tok[64], *p;
	bool page = in_list(name, page_events, sizeof(page_events) / sizeof(page_events[0]));
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", text);
	for (p = strtok(buf, " ,"); p && n < 64; p = strtok(NULL, " ,")) {
		char *colon = strchr(p, ':');

		/* "addr:7ff00000", "sptep:00000000deadbeef": two tokens */
		if (colon && colon > p && colon[1] && n < 63) {
			*colon = 0;
			tok[n++] = p;
			tok[n++] = colon + 1;
		} else {
			tok[n++] = p;
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v;

		if (page) {
			/* "sp gen 0 gfn 7ff l4 8-byte q0 direct wux nxe ad root 0 sync new" */
			if (tok[i][0] == 'l' && all_of(tok[i] + 1, isdigit)) {
				json_object_set_new(fields, "level", json_integer(atoi(tok[i] + 1)));
				continue;
			}
			if (!strcmp(tok[i], "direct") || !strcmp(tok[i], "invalid")) {
				json_object_set_new(fields, tok[i], json_true());
				continue;
			}
			if (!strcmp(tok[i], "sync") || !strcmp(tok[i], "unsync")) {
				json_object_set_new(fields, "unsync", json_boolean(tok[i][0] == 'u'));
				continue;
			}
			if (!strcmp(tok[i], "new") || !strcmp(tok[i], "existing")) {
				json_object_set_new(fields, "created", json_boolean(tok[i][0] == 'n'));
				continue;
			}
		}
		/* kvm_mmu_set_spte's "(rwxu)" */
		if (tok[i][0] == '(' && tok[i][strlen(tok[i]) - 1] == ')') {
			tok[i][strlen(tok[i]) - 1] = 0;
			json_object_set_new(fields, "prot", json_string(tok[i] + 1));
			continue;
		}
		if (!is_key(tok[i]) || i + 1 >= n)
			continue;
		if (strcmp(tok[i], "reason") == 0) {
			/* kvm_exit: "reason PF excp rip 0x..." (a name of one or more words) */
			char r[64] = "";
			size_t j;

			for (j = i + 1; j < n && strcmp(tok[j], "rip"); j++)
				snprintf(r + strlen(r), sizeof(r) - strlen(r), "%s%s", j > i + 1 ? " " : "", tok[j]);
			json_object_set_new(fields, "reason", json_string(r));
			i = j - 1;
			continue;
		}
		v = kvm_value(name, tok[i], tok[i + 1]);
		if (v) {
			json_object_set_new(fields, tok[i], v);
			i++;
		}
	}
}

int trace_kvm_parse(const char *line, double *ts, json_t **rec)
{
	const char *p = line, *cpu = NULL, *name, *end;
	char nbuf[64], text[512];
	size_t len;
	char *e;

	*rec = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '\n' || *p == '#')
		return TRACE_KVM_NONE;
	if ((cpu = strstr(p, "[LOST ")) != NULL) {
		/* "CPU:0 [LOST 42 EVENTS]": the ring buffer overwrote them */
		unsigned long long count = strtoull(cpu + 6, &e, 10);

		if (e == cpu + 6 || strncmp(e, " EVENTS]", 8) != 0)
			return TRACE_KVM_BAD;
		snprintf(text, sizeof(text), "%s", p);
		text[strcspn(text, "\n")] = 0;
		*rec = json_pack("{s:s, s:I, s:s}", "name", "lost", "count", (json_int_t)count, "text", text);
		return TRACE_KVM_LOST;
	}
	/* "TASK-PID [CPU] FLAGS TIMESTAMP: NAME: TEXT"; the task's name may
	 * hold spaces, so find the CPU in brackets */
	for (cpu = strstr(p, " ["); cpu; cpu = strstr(cpu + 1, " [")) {
		const char *q = cpu + 2;

		while (isdigit((unsigned char)*q))
			q++;
		if (q > cpu + 2 && *q == ']') {
			cpu = q + 1;
			break;
		}
	}
	if (!cpu)
		return TRACE_KVM_BAD;
	p = cpu;
	while (*p == ' ')
		p++;
	/* the flags column ("d..1."), when the irq-info option shows it */
	if (!isdigit((unsigned char)*p)) {
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
	}
	*ts = strtod(p, &e);
	if (e == p || *e != ':')
		return TRACE_KVM_BAD;
	p = e + 1;
	while (*p == ' ')
		p++;
	name = p;
	end = strchr(name, ':');
	if (!end || (size_t)(end - name) >= sizeof(nbuf))
		return TRACE_KVM_BAD;
	memcpy(nbuf, name, (size_t)(end - name));
	nbuf[end - name] = 0;
	if (!is_key(nbuf))
		return TRACE_KVM_BAD;
	p = end + 1;
	if (*p == ' ')
		p++;
	snprintf(text, sizeof(text), "%s", p);
	len = strlen(text);
	while (len && isspace((unsigned char)text[len - 1]))
		text[--len] = 0;
	*rec = json_pack("{s:s, s:s, s:o}", "name", nbuf, "text", text, "fields", json_object());
	kvm_fields(nbuf, text, json_object_get(*rec, "fields"));
	return TRACE_KVM_EVENT;
}
