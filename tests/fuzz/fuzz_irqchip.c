/*
 * libFuzzer harness for shadow mode's interrupt hardware models, wired as
 * irq.c wires them: the PIT (src/shadow/pit.c) with port 0x61, the PIC
 * pair (pic.c), the I/O APIC (ioapic.c) and the local APIC (lapic.c).
 * The input is a program of port and MMIO accesses, IRQ lines, interrupt
 * acknowledges, EOIs and steps of time.  Besides ASan/UBSan, it checks
 * what must hold whatever the guest writes: a PIC's INTR needs an
 * unmasked request, an acknowledge gives a vector of one of the two
 * chips' bases, PIT counts stay within 16 bits plus 0x10000, IRQ 0's next
 * edge is in the future, port 0x61's unused bits read 0, and the APICs
 * deal in vectors 0-255.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadow/ioapic.h"
#include "shadow/lapic.h"
#include "shadow/pic.h"
#include "shadow/pit.h"

#define MUST(c) do { if (!(c)) __builtin_trap(); } while (0)

static const uint16_t pic_ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };

static struct pit pit;
static struct pic pic;
static struct ioapic io;
static struct lapic apic;

static void to_lapic(int vector)
{
	MUST(vector >= -1 && vector <= 255);
	if (vector >= 0)
		lapic_raise_trig(&apic, (unsigned)vector, ioapic_level_vector(&io, (unsigned)vector));
}

static void check_intack(void)
{
	uint8_t base0 = pic.chip[0].irq_base, base1 = pic.chip[1].irq_base;
	unsigned v = pic_intack(&pic);

	MUST((v >= base0 && v <= base0 + 7u) || (v >= base1 && v <= base1 + 7u));
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	uint64_t now = 0;

	pit_reset(&pit);
	pic_reset(&pic);
	ioapic_reset(&io);
	lapic_reset(&apic);
	for (size_t i = 0; i + 6 <= n; i += 6) {
		unsigned op = d[i] % 15, a = d[i + 1], b = d[i + 2];
		uint32_t v32;

		memcpy(&v32, d + i + 2, 4);
		switch (op) {
		case 0:
			pit_write(&pit, a % 4, (uint8_t)b, now);
			break;
		case 1:
			(void)pit_read(&pit, a % 4, now);
			break;
		case 2:
			if (a & 1)
				pit_port61_write(&pit, (uint8_t)b, now);
			MUST((pit_port61_read(&pit, now) & 0xcc) == 0);
			break;
		case 3:
			pic_write(&pic, pic_ports[a % 6], (uint8_t)b);
			break;
		case 4:
			(void)pic_read(&pic, pic_ports[a % 6]);
			break;
		case 5:
			pic_set_irq(&pic, a % 16, b & 1);
			break;
		case 6:
			check_intack();
			break;
		case 7:
			to_lapic(ioapic_write(&io, a & 1 ? IOAPIC_WINDOW : IOAPIC_REGSEL, v32));
			break;
		case 8:
			(void)ioapic_read(&io, a & 1 ? IOAPIC_WINDOW : (a & 2 ? IOAPIC_REGSEL : a));
			break;
		case 9:
			to_lapic(ioapic_set_irq(&io, a % 32, b & 1));
			break;
		case 10:
			lapic_write(&apic, (a % 64) * 16, v32, now);
			if (apic.eoi_level) {
				to_lapic(ioapic_eoi(&io, apic.eoi_level - 1));
				apic.eoi_level = 0;
			}
			break;
		case 11:
			(void)lapic_read(&apic, (a % 64) * 16, now);
			break;
		case 12: {
			int vec = lapic_pending(&apic);

			MUST(vec == -1 || (vec >= 16 && vec <= 255));
			if (vec >= 0)
				lapic_ack(&apic, (unsigned)vec);
			break;
		}
		case 13:
			ioapic_sync_lapic(&io, &apic, a & 1);
			break;
		default:                                 /* time goes on, up to 16.7 ms */
			now += (uint64_t)(a | b << 8 | (unsigned)d[i + 3] << 16);
			if (pit_irq0_update(&pit, now)) {
				pic_set_irq(&pic, 0, true);
				pic_set_irq(&pic, 0, false);
				to_lapic(ioapic_set_irq(&io, 2, true));
				ioapic_set_irq(&io, 2, false);
			}
			MUST(pit.irq0_next_ns == 0 || pit.irq0_next_ns > now);
			(void)lapic_timer_update(&apic, now);
			break;
		}
		for (unsigned c = 0; c < 3; c++)
			MUST(pit_count(&pit, c, now) <= 0x10000);
		if (pic_output(&pic))
			MUST(pic.chip[0].irr & (uint8_t)~pic.chip[0].imr);
	}
	return 0;
}
