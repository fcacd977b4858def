/*
 * cmdline.h: reading the multiboot command line.  It is a space-separated
 * list of words (QEMU puts the kernel's file name first); options are
 * "key=value" words, and a value may be a comma-separated list.
 */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include "runtime.h"

/* The value of the first "key=" word, or NULL; *len is its length. */
const char *cmdline_get(const char *cmdline, const char *key, size_t *len);

/* Take the next item of a comma-separated list in [*p, end); false when none is left. */
bool list_next(const char **p, const char *end, const char **item, size_t *len);

/* The index of the entry named item[0, len) among count entries of size
 * stride whose first member is their name (a const char *); -1 if none. */
int name_index(const void *table, size_t stride, unsigned count, const char *item, size_t len);

/* item[0, len) as a string in buf, cut to fit: for messages. */
const char *word_str(char *buf, size_t size, const char *item, size_t len);

#endif
