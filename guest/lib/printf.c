/*
 * printf.c: a small vsnprintf and printf on the serial console.
 *
 * Supports %c %s %d %i %u %x %X %p %%, the flags '-', '0' and '#', a field
 * width, and the length modifiers l, ll and z.  No floating point.  Numbers
 * are converted as unsigned long long; in 32-bit code the division by ten is
 * done with two 32-bit DIVs so that no libgcc helper is needed.
 */
#include "runtime.h"

struct out {
	char *buf;   /* destination */
	size_t size; /* its size, including room for the NUL */
	size_t len;  /* characters produced so far (may exceed size) */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

/* *v /= 10, returning the remainder. */
static unsigned divmod10(unsigned long long *v)
{
#ifdef __x86_64__
	unsigned r = (unsigned)(*v % 10);

	*v /= 10;
	return r;
#else
	uint32_t hi = (uint32_t)(*v >> 32), lo = (uint32_t)*v;
	uint32_t qhi = hi / 10, r = hi % 10, qlo;

	/* (r:lo) / 10 fits in 32 bits because r < 10. */
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(10u));
	*v = ((unsigned long long)qhi << 32) | qlo;
	return r;
#endif
}

/* Digits of v with sign/prefix and right-justification; vsnprintf pads on the left side ('-'). */
static void put_number(struct out *o, unsigned long long v, bool neg, unsigned base,
		       bool upper, bool alt, bool left, char pad, int width)
{
	char tmp[24];
	int n = 0, extra;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		if (base == 16) {
			tmp[n++] = digits[v & 15];
			v >>= 4;
		} else {
			tmp[n++] = digits[divmod10(&v)];
		}
	} while (v);
	extra = (neg ? 1 : 0) + (alt ? 2 : 0);
	if (!left && pad == ' ')
		for (int i = n + extra; i < width; i++)
			put(o, ' ');
	if (neg)
		put(o, '-');
	if (alt) {
		put(o, '0');
		put(o, upper ? 'X' : 'x');
	}
	if (!left && pad == '0')
		for (int i = n + extra; i < width; i++)
			put(o, '0');
	while (n)
		put(o, tmp[--n]);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		bool left = false, alt = false;
		char pad = ' ';
		int width = 0, lng = 0;
		size_t start;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		for (fmt++;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				pad = '0';
			else if (*fmt == '#')
				alt = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l')
				lng++;
			else if (*fmt == 'z')
				lng = sizeof(size_t) == sizeof(long) ? 1 : 0;
			else
				break;
		}
		start = o.len;
		switch (*fmt) {
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int n = 0;

			if (!s)
				s = "(null)";
			while (s[n])
				n++;
			if (!left)
				for (int i = n; i < width; i++)
					put(&o, ' ');
			while (*s)
				put(&o, *s++);
			break;
		}
		case 'd':
		case 'i': {
			long long v = lng >= 2 ? va_arg(ap, long long)
				    : lng == 1 ? va_arg(ap, long) : va_arg(ap, int);

			put_number(&o, v < 0 ? -(unsigned long long)v : (unsigned long long)v,
				   v < 0, 10, false, false, left, pad, width);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long)
					     : lng == 1 ? va_arg(ap, unsigned long)
							: va_arg(ap, unsigned int);

			put_number(&o, v, false, *fmt == 'u' ? 10 : 16, *fmt == 'X',
				   alt && *fmt != 'u', left, pad, width);
			break;
		}
		case 'p':
			put_number(&o, (uintptr_t)va_arg(ap, void *), false, 16, false, true,
				   left, pad, width);
			break;
		case '%':
			put(&o, '%');
			break;
		default: /* unknown conversion: print it as it is */
			put(&o, '%');
			if (*fmt)
				put(&o, *fmt);
			else
				fmt--;
			break;
		}
		if (left)
			while (o.len - start < (size_t)width)
				put(&o, ' ');
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	serial_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return n;
}
