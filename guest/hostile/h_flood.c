/*
 * h_flood.c: the floods of issue 15, cases that never end by themselves
 * and are run one at a time (cases=NAME), each asking ombra, as fast as a
 * guest can, to do or keep something on its behalf.  ombra must stay
 * within its memory bound (guest RAM + pool + 64 MiB), keep stderr short,
 * and stop on --timeout, SIGINT or SIGTERM within its stop bound, in both
 * modes (tests/e2e/hostile.sh, section 4; docs/security.md):
 *   moveflood    REP OUTSD of 4,096 memslot moves per instruction to the
 *                test device (port 0xe0; needs -device ombra-test), forever:
 *                one such instruction was one shadow-mode trap of minutes;
 *   markflood    REP OUTSB to port 0x80, each byte a phase mark, forever;
 *   explainflood REP OUTSD of guest-virtual addresses to port 0xe8, each an
 *                explain request (needs -device ombra-test), forever;
 *   serialflood  REP OUTSB of text to the UART, forever (run with
 *                -serial null: nothing should be kept);
 *   errflood     REP OUTSD to port 0xe0 of an address no memslot holds,
 *                each a failed test-device request, forever.
 * Without ombra (QEMU) or without the device, the ports are plain
 * unassigned ports and each case is a loop of OUTs.
 */
#include "hostile.h"

#define FLOOD_N 4096
static uint32_t words[FLOOD_N] __attribute__((aligned(4096)));
static uint8_t bytes[FLOOD_N] __attribute__((aligned(4096)));

static void rep_outsd(uint16_t port, const uint32_t *buf, uint64_t n)
{
	__asm__ volatile("rep outsl" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}

static void rep_outsb(uint16_t port, const uint8_t *buf, uint64_t n)
{
	__asm__ volatile("rep outsb" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}

static void __attribute__((noreturn)) words_forever(uint16_t port, uint32_t w)
{
	for (unsigned i = 0; i < FLOOD_N; i++)
		words[i] = w;
	for (;;)
		rep_outsd(port, words, FLOOD_N);
}

static void __attribute__((noreturn)) bytes_forever(uint16_t port)
{
	for (;;)
		rep_outsb(port, bytes, FLOOD_N);
}

void h_moveflood(struct tally *t, uint32_t arg)
{
	(void)t, (void)arg;
	printf("moveflood: rep outsd of %u memslot moves (port 0xe0), forever\n", FLOOD_N);
	words_forever(0xe0, 0x100000);          /* the slot of RAM above 1 MiB */
}

void h_markflood(struct tally *t, uint32_t arg)
{
	(void)t, (void)arg;
	printf("markflood: rep outsb of %u phase marks (port 0x80), forever\n", FLOOD_N);
	for (unsigned i = 0; i < FLOOD_N; i++)
		bytes[i] = (uint8_t)i;
	bytes_forever(0x80);
}

void h_explainflood(struct tally *t, uint32_t arg)
{
	(void)t, (void)arg;
	printf("explainflood: rep outsd of %u explain requests (port 0xe8), forever\n", FLOOD_N);
	words_forever(0xe8, (uint32_t)(uintptr_t)words);
}

void h_serialflood(struct tally *t, uint32_t arg)
{
	(void)t, (void)arg;
	printf("serialflood: rep outsb of %u bytes to the UART, forever\n", FLOOD_N);
	for (unsigned i = 0; i < FLOOD_N; i++)
		bytes[i] = i % 64 == 63 ? '\n' : 'x';
	bytes_forever(0x3f8);
}

void h_errflood(struct tally *t, uint32_t arg)
{
	(void)t, (void)arg;
	printf("errflood: rep outsd of %u moves of an address without RAM (port 0xe0), forever\n", FLOOD_N);
	words_forever(0xe0, 0xf0000000);        /* in the hole below 4 GiB */
}
