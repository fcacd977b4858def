/*
 * KVM's tracepoints as "kvm" records of tdp mode's --trace (ktrace.c,
 * docs/trace.md).
 */
#ifndef OMBRA_KTRACE_H
#define OMBRA_KTRACE_H

#include <jansson.h>

#include "vmm/vm.h"

struct tdp_ktrace {
	int pipe_fd, on_fd, dir_fd;   /* trace_pipe; tracing_on; instances/ */
	char name[32];                /* ombra-PID, in dir_fd */
	char source[160];             /* the instance's path, for the header */
	char why[600];                /* why there are no kvm records */
	json_t *tracepoints;          /* what was enabled ("kvm:kvm_exit", ...) */
	char part[1024];              /* a line a read cut in two */
	size_t npart;
	double last_t;                /* t of the last kvm record */
};

/* Make the instance, or say in k->why why there is none (set-up, before
 * the seccomp filter). */
void ktrace_open(struct tdp_ktrace *k);
/* Stop tracing and remove the instance. */
void ktrace_close(struct tdp_ktrace *k);
/* The events KVM recorded since the last call (vm->mode_data is the
 * tdp_ktrace, or NULL), as kvm records of vm->trace. */
void ktrace_drain(struct vm *vm);

/*
 * One line of tracefs's text output ("ombra-106 [000] ...1. 6.675852:
 * kvm_page_fault: vcpu 0 rip 0x108a1c ...").  Returns KTRACE_EVENT with
 * *rec = {"name", "text", "fields"} (fields: the text's "key value" pairs,
 * numbers the kernel prints in hex as "0x..." strings, decimal ones as
 * integers) and *ts its timestamp in seconds; KTRACE_LOST with *rec =
 * {"name": "lost", "count", "text"} for the ring buffer's "[LOST N
 * EVENTS]"; KTRACE_NONE for a comment or blank line; KTRACE_BAD for
 * anything else.
 */
enum { KTRACE_BAD = -1, KTRACE_NONE = 0, KTRACE_EVENT = 1, KTRACE_LOST = 2 };
int ktrace_parse(const char *line, double *ts, json_t **rec);

#endif
