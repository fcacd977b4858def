/*
 * The event trace (--trace FILE): one JSON object per line for every MMU
 * event of a run, in the format docs/trace.md documents and
 * tests/e2e/trace_schema.json checks.  Written with jansson, so strings
 * (capstone's instruction text, file names) are always valid JSON.  Also
 * the pure half of tdp mode's KVM events: one line of a tracefs
 * trace_pipe (kvm:kvm_exit, kvmmmu:..., as the kernel prints them) into a
 * "kvm" record; src/tdp/tdp.c owns the tracefs instance that makes them.
 */
#ifndef OMBRA_TRACE_H
#define OMBRA_TRACE_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct trace {
	FILE *f;                   /* the JSON Lines file */
	struct timespec t0;        /* when the run began */
	double last_sample;        /* t of the last sample record */
	uint64_t records;          /* how many lines written */
};

int trace_open(struct trace *t, const char *path);
void trace_close(struct trace *t);
/* Seconds since trace_start(). */
double trace_now(const struct trace *t);
void trace_start(struct trace *t);
/* Write one record: obj gets "event" and "t" and is consumed. */
void trace_write(struct trace *t, const char *event, json_t *obj);
/* The same at a given t (seconds since trace_start), for events that
 * happened before they were read (KVM's tracepoints). */
void trace_write_at(struct trace *t, const char *event, double when, json_t *obj);
/* CLOCK_MONOTONIC seconds of trace_start(), to put a kernel timestamp
 * (trace_clock mono) on the trace's time line. */
double trace_t0(const struct trace *t);

/*
 * One line of tracefs's text output ("ombra-106 [000] ...1. 6.675852:
 * kvm_page_fault: vcpu 0 rip 0x108a1c ...").  Returns TRACE_KVM_EVENT with
 * *rec = {"name", "text", "fields"} (fields: the text's "key value" pairs,
 * numbers the kernel prints in hex as "0x..." strings, decimal ones as
 * integers) and *ts its timestamp in seconds; TRACE_KVM_LOST with *rec =
 * {"name": "lost", "count", "text"} for the ring buffer's "[LOST N
 * EVENTS]"; TRACE_KVM_NONE for a comment or blank line; TRACE_KVM_BAD for
 * anything else.
 */
enum { TRACE_KVM_BAD = -1, TRACE_KVM_NONE = 0, TRACE_KVM_EVENT = 1, TRACE_KVM_LOST = 2 };
int trace_kvm_parse(const char *line, double *ts, json_t **rec);

/* A hex string for an address ("0x1234"). */
json_t *trace_hex(uint64_t v);
/* Time for a sample record (every 10 ms)? */
int trace_sample_due(struct trace *t);

#endif
