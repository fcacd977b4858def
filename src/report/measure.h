/*
 * What a guest measures of itself, read out of its serial output for
 * ombra compare.
 *
 * A measurement line is the bench's (guest/linux/README.md), LMbench's
 * shape written as key=value pairs:
 *
 *     bench: op=NAME iters=N key=VALUE key=VALUE ...
 *
 * Every VALUE after iters is a measurement: a time, or a count the guest
 * kernel keeps (page faults, context switches) that depends on timing.
 * compare shows them as rows ("fault ns_per_op") beside ombra's counters,
 * and its verdict on the guest's output reads such lines, and the Linux
 * kernel's printk timestamps ("[   12.345678] "), with the measured values
 * masked: the same machine prints the same lines, not the same times.
 * Pure logic on buffers.
 */
#ifndef OMBRA_MEASURE_H
#define OMBRA_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#define MEASURE_MAX 96

struct measures {
	struct {
		char name[48];     /* "fault ns_per_op" */
		uint64_t value;
	} m[MEASURE_MAX];
	unsigned n;
	unsigned dropped;          /* past MEASURE_MAX */
};

/* The measurement lines of out[0, len), in the order they appear (a name
 * seen again takes the later value). */
void measure_parse(const char *out, size_t len, struct measures *m);

/* out with every measured value and printk timestamp replaced by '#'
 * (malloc'd, *masked_len bytes; NULL when out of memory). */
char *measure_mask(const char *out, size_t len, size_t *masked_len);

#endif
