/*
 * cmdline.c: words, "key=value" options and comma lists (cmdline.h).
 */
#include "cmdline.h"

const char *cmdline_get(const char *cmdline, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	while (p && *p) {
		const char *word, *end;

		while (*p == ' ')
			p++;
		word = p;
		while (*p && *p != ' ')
			p++;
		end = p;
		if ((size_t)(end - word) > klen && memcmp(word, key, klen) == 0 && word[klen] == '=') {
			*len = (size_t)(end - word) - klen - 1;
			return word + klen + 1;
		}
	}
	return NULL;
}

bool list_next(const char **p, const char *end, const char **item, size_t *len)
{
	const char *s = *p;

	while (s < end && *s == ',')
		s++;
	if (s >= end)
		return false;
	*item = s;
	while (s < end && *s != ',')
		s++;
	*len = (size_t)(s - *item);
	*p = s;
	return true;
}

int name_index(const void *table, size_t stride, unsigned count, const char *item, size_t len)
{
	for (unsigned i = 0; i < count; i++) {
		const char *name = *(const char *const *)(const void *)((const char *)table + i * stride);

		if (strlen(name) == len && memcmp(name, item, len) == 0)
			return (int)i;
	}
	return -1;
}

const char *word_str(char *buf, size_t size, const char *item, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(buf, item, len);
	buf[len] = '\0';
	return buf;
}
