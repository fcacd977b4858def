/*
 * KVM binary statistics (KVM_GET_STATS_FD): read and parse.
 *
 * The stats file is a header, an id string, descriptors (flags, exponent,
 * size, offset, name) and the data.  kstats_parse() works on a buffer that
 * holds the whole file, so it is unit-tested with buffers built to the ABI in
 * Documentation/virt/kvm/api.rst; kstats_read() fills such a buffer from an fd.
 * Histograms are summed into one value (the number of samples).
 */
#ifndef OMBRA_KSTATS_H
#define OMBRA_KSTATS_H

#include <stddef.h>
#include <stdint.h>

#define KSTAT_NAME_MAX 64

enum kstat_kind { KSTAT_CUMULATIVE, KSTAT_INSTANT, KSTAT_PEAK, KSTAT_HIST };

struct kstat {
	char name[KSTAT_NAME_MAX];  /* KVM's name, e.g. "pf_fixed" */
	enum kstat_kind kind;       /* how it changes over time */
	uint32_t unit;              /* KVM_STATS_UNIT_* */
	uint64_t value;             /* the value (sum of buckets for histograms) */
};

struct kstats {
	char id[KSTAT_NAME_MAX];    /* e.g. "kvm-1234/vcpu-0" */
	struct kstat *v;
	unsigned n;
};

int kstats_parse(const void *buf, size_t len, struct kstats *out, char *err, size_t errlen);
int kstats_read(int stats_fd, struct kstats *out, char *err, size_t errlen);
const struct kstat *kstats_find(const struct kstats *s, const char *name);
/* Over a run: end - start for cumulative counters and histograms, end for
 * instant and peak values. */
uint64_t kstat_delta(const struct kstat *start, const struct kstat *end);
void kstats_free(struct kstats *s);

#endif
