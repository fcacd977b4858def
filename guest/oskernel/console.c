/*
 * console.c: COM1 (a 16550 at 0x3f8) as the console, a small printf onto
 * it, and the way out: isa-debug-exit at port 0xf4 (status (v << 1) | 1).
 */
#include <stdarg.h>
#include "kernel.h"

#define COM1 0x3f8

void serial_init(void)
{
	outb(COM1 + 1, 0x00);		/* no interrupts */
	outb(COM1 + 3, 0x80);		/* DLAB */
	outb(COM1 + 0, 0x01);		/* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);		/* 8N1 */
	outb(COM1 + 2, 0xc7);		/* FIFO on, cleared */
	outb(COM1 + 4, 0x03);		/* DTR, RTS */
}

static void serial_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		pause();
	outb(COM1, (u8)c);
}

static void put_num(u64 v, unsigned base, int width, char pad, int neg)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	while (n < width--)
		serial_putc(pad);
	while (n)
		serial_putc(buf[--n]);
}

static void vkprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		char pad = ' ';

		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			i64 v = lng ? va_arg(ap, i64) : va_arg(ap, int);
			put_num(v < 0 ? -(u64)v : (u64)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			put_num(lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, width, pad, 0);
			break;
		case 'x':
			put_num(lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, width, pad, 0);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			while (*s)
				serial_putc(*s++);
			break;
		}
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case '%':
			serial_putc('%');
			break;
		default:
			serial_putc('?');
			break;
		}
	}
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vkprintf(fmt, ap);
	va_end(ap);
}

int checks_passed, checks_failed;

/* One line per check: "check NAME: ok" or "check NAME: FAIL what". */
void check(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		kprintf("check %s: ok\n", name);
		checks_passed++;
		return;
	}
	kprintf("check %s: FAIL ", name);
	va_start(ap, fmt);
	vkprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	checks_failed++;
}

void exit_qemu(u32 code)
{
	outl(0xf4, code);
	for (;;)
		asm volatile("cli; hlt");
}
