/*
 * exit.c: ending the run.  The status goes to the isa-debug-exit device at
 * port 0xf4; QEMU and ombra then exit with (status << 1) | 1.  If the write
 * does not stop the machine, halt for good rather than run on.
 */
#include "cpu.h"
#include "runtime.h"

#define DEBUG_EXIT_PORT 0xf4

void guest_exit(uint32_t status)
{
	outl(DEBUG_EXIT_PORT, status);
	cpu_halt_forever();
}

void panic(const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	serial_write("panic: ", 7);
	serial_write(buf, (size_t)n);
	serial_putc('\n');
	guest_exit(EXIT_EXCEPTION);
}
