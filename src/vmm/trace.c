/*
 * The event trace: JSON Lines, flushed at the end of the run (and by the
 * C library as its buffer fills), one record per line.
 */
#include "trace.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_EVENT_NAME(id, name) [TRACE_##id] = name,
const char *const trace_event_names[TRACE_NEVENTS] = { TRACE_EVENTS(TRACE_EVENT_NAME) };
#undef TRACE_EVENT_NAME

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

void trace_write(struct trace *t, enum trace_event event, json_t *obj)
{
	trace_write_at(t, event, t ? trace_now(t) : 0, obj);
}

double trace_t0(const struct trace *t)
{
	return (double)t->t0.tv_sec + (double)t->t0.tv_nsec / 1e9;
}

void trace_write_at(struct trace *t, enum trace_event event, double when, json_t *obj)
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
	json_object_set_new(line, "event", json_string(trace_event_names[event]));
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
