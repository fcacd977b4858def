/*
 * The event trace (--trace FILE): one JSON object per line for every MMU
 * event of a run, in the format docs/trace.md documents and
 * tests/e2e/trace_schema.json checks.  Written with jansson, so strings
 * (capstone's instruction text, file names) are always valid JSON.
 */
#ifndef OMBRA_TRACE_H
#define OMBRA_TRACE_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/*
 * Every record a trace holds, in docs/trace.md's order: the one list the
 * writers, `ombra report` and the tests share (tests/unit/test_trace.c
 * checks tests/e2e/trace_schema.json and docs/trace.md against it).
 */
#define TRACE_EVENTS(X) \
	X(HEADER, "header") X(FILL, "fill") X(PREFETCH, "prefetch") X(INJECT, "inject") \
	X(EMULATE_PTE_WRITE, "emulate_pte_write") X(INVLPG, "invlpg") X(CR3_LOAD, "cr3_load") \
	X(ZAP, "zap") X(RECYCLE, "recycle") X(UNSYNC, "unsync") X(RESYNC, "resync") \
	X(MMIO, "mmio") X(EXIT, "exit") X(KVM, "kvm") X(SAMPLE, "sample") X(END, "end")

#define TRACE_EVENT_ENUM(id, name) TRACE_##id,
enum trace_event { TRACE_EVENTS(TRACE_EVENT_ENUM) TRACE_NEVENTS };
#undef TRACE_EVENT_ENUM

/* Its name in the trace ("fill", ...). */
extern const char *const trace_event_names[TRACE_NEVENTS];

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
void trace_write(struct trace *t, enum trace_event event, json_t *obj);
/* The same at a given t (seconds since trace_start), for events that
 * happened before they were read (KVM's tracepoints). */
void trace_write_at(struct trace *t, enum trace_event event, double when, json_t *obj);
/* CLOCK_MONOTONIC seconds of trace_start(), to put a kernel timestamp
 * (trace_clock mono) on the trace's time line. */
double trace_t0(const struct trace *t);

/* A hex string for an address ("0x1234"). */
json_t *trace_hex(uint64_t v);
/* Time for a sample record (every 10 ms)? */
int trace_sample_due(struct trace *t);

#endif
