/*
 * libFuzzer harness for the guest page-table walker (src/shadow/walk.c):
 * any paging mode, control bits, CR3, address and access over 64 KiB of
 * guest RAM holding arbitrary bytes.  Besides ASan/UBSan, it checks what
 * must hold for every walk whatever the tables say: the outcome is one of
 * the known ones, a translation keeps the page offset and has a page size
 * the mode allows, a fault's error code uses only the #PF bits, a
 * WALK_PEEK walk writes nothing, and no walk touches memory outside RAM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadow/walk.h"

#define RAM (64 * 1024)

static uint8_t ram[RAM], before[RAM];

static void *gpa(void *opaque, uint64_t a, unsigned len)
{
	(void)opaque;
	return a < RAM && len <= RAM - a ? ram + a : NULL;
}

#define MUST(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct walk_ctx ctx;
	struct walk_result r;
	uint64_t cr3, gva;
	unsigned mode, flags, access, maxphy;

	if (n < 20)
		return 0;
	mode = d[0] % 3;
	flags = d[1] & (WALK_CR0_WP | WALK_CR4_PSE | WALK_EFER_NXE);
	maxphy = 36 + d[2] % 17;                    /* 36..52 */
	access = d[3] & (WALK_PF_WRITE | WALK_PF_USER | WALK_PF_FETCH);
	if (d[3] & 0x80)
		access |= WALK_PEEK;
	memcpy(&cr3, d + 4, 8);
	memcpy(&gva, d + 12, 8);
	cr3 &= RAM - 1;                             /* somewhere in RAM, mostly */
	memset(ram, 0, RAM);
	memcpy(ram, d + 20, n - 20 < RAM ? n - 20 : RAM);
	memcpy(before, ram, RAM);

	walk_init(&ctx, (enum walk_mode)mode, flags, maxphy, gpa, NULL);
	if (walk_set_cr3(&ctx, cr3) != WALK_OK)
		return 0;
	memset(&r, 0, sizeof(r));
	switch (walk_gva(&ctx, gva, access, &r)) {
	case WALK_OK:
		MUST(r.page_size == 4096 || r.page_size == 2u << 20 || r.page_size == 4u << 20 ||
		     r.page_size == 1u << 30);
		MUST((r.gpa & 0xfff) == (r.gva & 0xfff));
		MUST((r.gpa & (r.page_size - 1)) == (r.gva & (r.page_size - 1)));
		MUST(r.level >= 1 && r.level <= r.root_level && r.root_level <= WALK_MAX_LEVEL);
		MUST((r.access & ~WALK_ACC_ALL) == 0);
		break;
	case WALK_FAULT:
		MUST((r.error_code & ~0x1fu) == 0);
		MUST(!(r.error_code & WALK_PF_RSVD) || (r.error_code & WALK_PF_PRESENT));
		break;
	case WALK_BAD_GPA:
		MUST(gpa(NULL, r.bad_gpa, 8) == NULL);
		break;
	case WALK_NONCANONICAL:
		MUST(mode == WALK_PAGING64);
		break;
	default:
		MUST(0);
	}
	if (access & WALK_PEEK)
		MUST(memcmp(ram, before, RAM) == 0);
	return 0;
}
