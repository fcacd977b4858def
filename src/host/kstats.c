/*
 * KVM binary statistics: parse the header, descriptors and data.
 * Everything read from the buffer is bounds-checked: a stats file from a
 * newer or broken kernel gives an error, never a read past the buffer.
 */
#include "kstats.h"
#include "errmsg.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kstats_parse(const void *buf, size_t len, struct kstats *out, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	struct kvm_stats_header h;
	size_t desc_size;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h))
		return errmsg(err, errlen, -EINVAL, "stats file shorter than its header");
	memcpy(&h, p, sizeof(h));
	if (h.name_size == 0 || h.name_size > 4096)
		return errmsg(err, errlen, -EINVAL, "stats name size %u is not sane", h.name_size);
	desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	if (h.id_offset > len || h.name_size > len - h.id_offset)
		return errmsg(err, errlen, -EINVAL, "stats id string lies outside the file");
	if (h.desc_offset > len || (uint64_t)h.num_desc * desc_size > len - h.desc_offset)
		return errmsg(err, errlen, -EINVAL, "stats descriptors lie outside the file");
	if (h.data_offset > len)
		return errmsg(err, errlen, -EINVAL, "stats data lies outside the file");
	snprintf(out->id, sizeof(out->id), "%.*s", (int)h.name_size, (const char *)p + h.id_offset);

	out->v = calloc(h.num_desc ? h.num_desc : 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		const uint8_t *d = p + h.desc_offset + (size_t)i * desc_size;
		struct kvm_stats_desc desc;
		struct kstat *k = &out->v[out->n];
		uint64_t sum = 0;

		memcpy(&desc, d, sizeof(desc));
		if (desc.size == 0 || (uint64_t)desc.offset + (uint64_t)desc.size * 8 > len - h.data_offset) {
			kstats_free(out);
			return errmsg(err, errlen, -EINVAL, "stats value %u lies outside the file", i);
		}
		snprintf(k->name, sizeof(k->name), "%.*s", (int)h.name_size,
			 (const char *)d + sizeof(desc));
		for (uint16_t j = 0; j < desc.size; j++) {
			uint64_t v;

			memcpy(&v, p + h.data_offset + desc.offset + 8 * j, 8);
			sum += v;
		}
		switch (desc.flags & KVM_STATS_TYPE_MASK) {
		case KVM_STATS_TYPE_CUMULATIVE: k->kind = KSTAT_CUMULATIVE; break;
		case KVM_STATS_TYPE_INSTANT:    k->kind = KSTAT_INSTANT; break;
		case KVM_STATS_TYPE_PEAK:       k->kind = KSTAT_PEAK; break;
		default:                        k->kind = KSTAT_HIST; break;
		}
		k->unit = desc.flags & KVM_STATS_UNIT_MASK;
		k->value = sum;
		out->n++;
	}
	return 0;
}

int kstats_read(int stats_fd, struct kstats *out, char *err, size_t errlen)
{
	size_t size = 16384, len = 0;
	uint8_t *buf = malloc(size);
	int r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == size) {
			uint8_t *nb = realloc(buf, size * 2);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			size *= 2;
		}
		n = pread(stats_fd, buf + len, size - len, (off_t)len);
		if (n < 0) {
			r = -errno;
			free(buf);
			return errmsg(err, errlen, -EINVAL, "reading KVM stats: %s", strerror(-r)), r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = kstats_parse(buf, len, out, err, errlen);
	free(buf);
	return r;
}

const struct kstat *kstats_find(const struct kstats *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

uint64_t kstat_delta(const struct kstat *start, const struct kstat *end)
{
	if ((end->kind == KSTAT_CUMULATIVE || end->kind == KSTAT_HIST) && start)
		return end->value - start->value;
	return end->value;
}

void kstats_free(struct kstats *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
