/*
 * runtime.h: the small C runtime every guest test kernel links, compiled once
 * for the 32-bit half and once for the 64-bit half: console output on the
 * 16550 UART, formatted printing, the exit port, string helpers, and what the
 * boot code learned about the machine (struct boot_info).
 */
#ifndef GUEST_RUNTIME_H
#define GUEST_RUNTIME_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NORETURN __attribute__((noreturn))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
/* Keep the compiler from moving memory accesses across this point: needed
 * where an exception handler reads what the code wrote just before. */
#define barrier() __asm__ volatile("" : : : "memory")

/* Exit statuses written to the isa-debug-exit port (the VMM exits with (v << 1) | 1). */
#define EXIT_PASS       0 /* every selected case passed */
#define EXIT_FAIL       1 /* at least one case failed */
#define EXIT_EXCEPTION  2 /* an exception nobody expected, or a runtime panic */
#define EXIT_USAGE      3 /* bad command line */

/* What the boot code found out; the 64-bit half gets a copy in the handoff. */
struct boot_info {
	uint64_t ram_end;    /* end of the RAM block that starts at 1 MiB */
	uint64_t pool_start; /* first byte free for page tables and test frames */
	uint64_t pool_end;   /* end of that pool (also the end of every identity map) */
	const char *cmdline; /* the multiboot command line ("" if none); 32-bit half only */
};
extern struct boot_info boot;

/* serial.c: the console, a 16550 UART at 0x3f8 driven by polling */
void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t n);

/* printf.c: %c %s %d %u %x %X %p, flags '-' '0' '#', width, l/ll/z lengths */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);
int printf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* exit.c: leave the VM through isa-debug-exit at 0xf4 */
NORETURN void guest_exit(uint32_t status);
NORETURN void panic(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* string.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
