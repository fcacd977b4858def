/*
 * serial.c: console output on the 16550 UART at I/O port 0x3f8.
 *
 * Polled, no interrupts: wait until the transmit holding register is empty
 * (LSR bit 5), then write the byte.  Every port access is a VM exit, so test
 * kernels print little.  Lines end in "\n" only, so the byte stream is the
 * same under every VMM.
 */
#include "cpu.h"
#include "runtime.h"

#define COM1     0x3f8
#define UART_THR 0 /* transmit holding register */
#define UART_IER 1 /* interrupt enable */
#define UART_LCR 3 /* line control */
#define UART_LSR 5 /* line status */
#define LSR_THRE 0x20 /* transmit holding register empty */

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00); /* no interrupts */
	outb(COM1 + UART_LCR, 0x03); /* 8 data bits, no parity, 1 stop bit */
}

void serial_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & LSR_THRE))
		;
	outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		serial_putc(s[i]);
}
