/*
 * The guest's own measurements in its output (measure.h): one pass over
 * the lines, each either a measurement line (its values read, or masked),
 * a line with a printk timestamp (the time masked), or anything else
 * (kept as it is).
 */
#include "measure.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "bench: op="

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of a printk timestamp "[  123.456789] " at the line's start, 0 if none. */
static size_t stamp_len(const char *l, size_t n)
{
	size_t i = 1;
	bool digits = false;

	if (n < 3 || l[0] != '[')
		return 0;
	while (i < n && l[i] == ' ')
		i++;
	while (i < n && (is_digit(l[i]) || l[i] == '.'))
		digits |= is_digit(l[i++]);
	return digits && i < n && l[i] == ']' ? i + 1 : 0;
}

static void add(struct measures *m, const char *op, size_t oplen, const char *key, size_t keylen, uint64_t v)
{
	char name[sizeof(m->m[0].name)];

	snprintf(name, sizeof(name), "%.*s %.*s", (int)oplen, op, (int)keylen, key);
	for (unsigned i = 0; i < m->n; i++) {
		if (strcmp(m->m[i].name, name) == 0) {
			m->m[i].value = v;
			return;
		}
	}
	if (m->n == MEASURE_MAX) {
		m->dropped++;
		return;
	}
	memcpy(m->m[m->n].name, name, sizeof(name));
	m->m[m->n++].value = v;
}

/*
 * One measurement line l[0, n): call each (key, value) after iters, and
 * say where each value lies, so that the caller can read or mask it.
 * Returns false if the line is not one.
 */
typedef void (*value_fn)(void *opaque, const char *op, size_t oplen, const char *key, size_t keylen,
			 const char *val, size_t vallen);

static bool measurement_line(const char *l, size_t n, value_fn fn, void *opaque)
{
	const char *op = l + strlen(PREFIX), *end = l + n, *p;
	size_t oplen;

	if (n <= strlen(PREFIX) || memcmp(l, PREFIX, strlen(PREFIX)) != 0)
		return false;
	while (end > op && end[-1] == '\r')      /* a tty's line ends in CR LF */
		end--;
	for (p = op; p < end && *p != ' '; p++)
		;
	oplen = (size_t)(p - op);
	while (p < end) {
		const char *key, *eq, *val;

		while (p < end && *p == ' ')
			p++;
		key = p;
		while (p < end && *p != ' ' && *p != '=')
			p++;
		if (p == end || *p != '=')
			break;
		eq = p++;
		val = p;
		while (p < end && *p != ' ')
			p++;
		if ((size_t)(eq - key) == 5 && memcmp(key, "iters", 5) == 0)
			continue;
		fn(opaque, op, oplen, key, (size_t)(eq - key), val, (size_t)(p - val));
	}
	return true;
}

static void read_value(void *opaque, const char *op, size_t oplen, const char *key, size_t keylen,
		       const char *val, size_t vallen)
{
	uint64_t v = 0;

	for (size_t i = 0; i < vallen && is_digit(val[i]); i++)
		v = v * 10 + (uint64_t)(val[i] - '0');
	if (vallen && is_digit(val[0]))
		add(opaque, op, oplen, key, keylen, v);
}

void measure_parse(const char *out, size_t len, struct measures *m)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(out + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (out + i)) : len - i;

		measurement_line(out + i, n, read_value, m);
		i += n + 1;
	}
}

/* Masking writes into the copy: each value's bytes become one '#'. */
struct masker {
	const char *line;          /* the line in the original */
	char *dst;                 /* the masked copy */
	size_t at;                 /* bytes of the line copied so far */
	size_t *used;
};

static void mask_value(void *opaque, const char *op, size_t oplen, const char *key, size_t keylen,
		       const char *val, size_t vallen)
{
	struct masker *k = opaque;
	size_t off = (size_t)(val - k->line);

	(void)op, (void)oplen, (void)key, (void)keylen;
	memcpy(k->dst + *k->used, k->line + k->at, off - k->at);
	*k->used += off - k->at;
	k->dst[(*k->used)++] = '#';
	k->at = off + vallen;
}

char *measure_mask(const char *out, size_t len, size_t *masked_len)
{
	char *dst = malloc(len + 1);
	size_t used = 0;

	if (!dst)
		return NULL;
	for (size_t i = 0; i < len;) {
		const char *l = out + i, *nl = memchr(l, '\n', len - i);
		size_t n = nl ? (size_t)(nl - l) : len - i, s = stamp_len(l, n);
		struct masker k = { l + s, dst, 0, &used };

		if (s) {
			memcpy(dst + used, "[#]", 3);
			used += 3;
		}
		measurement_line(k.line, n - s, mask_value, &k);
		/* the rest of the line, and its newline */
		memcpy(dst + used, k.line + k.at, n - s - k.at);
		used += n - s - k.at;
		if (nl)
			dst[used++] = '\n';
		i += n + (nl ? 1 : 0);
	}
	*masked_len = used;
	return dst;
}
