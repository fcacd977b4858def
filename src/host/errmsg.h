/*
 * How the pure and host layers report a failure to their caller: a
 * message into the caller's buffer and a negative errno returned, for
 * `return errmsg(err, errlen, -EINVAL, "...", ...)`.  The vmm layer turns
 * it into vm_fail(); nothing below main prints or exits.
 */
#ifndef OMBRA_ERRMSG_H
#define OMBRA_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 4, 5)))
static inline int errmsg(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

#endif
