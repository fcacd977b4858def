/*
 * t_nonpaging.c: case nonpaging.  With CR0.PG=0 a linear address is the
 * physical address (KVM's "nonpaging" path; ombra's shadow mode maps GVA=GPA
 * directly).  Writes a distinct pattern into a sample of every 64 KiB of RAM
 * from the first free byte above the kernel to the end of RAM, and fills the
 * whole last page, then reads everything back: a wrong translation or an
 * aliased page shows up as a wrong value.  Nothing below the pool start is
 * written (the kernel, the multiboot information and what lies under 1 MiB).
 * Sampling, not every byte: every ring-0 instruction may be emulated.
 */
#include "mmutest.h"

#define STRIDE (64 * 1024)

static uint32_t pattern(uint64_t pa)
{
	return (uint32_t)pa * 0x9e3779b1u ^ 0xa5a55a5au;
}

void test_nonpaging(struct tally *t, const struct pgmode *unused, unsigned leaves)
{
	uint64_t start = boot.pool_start, last = (boot.ram_end & ~0xfffull) - PAGE_SIZE;
	unsigned samples = 0;

	(void)unused, (void)leaves;
	check(t, !(read_cr0() & CR0_PG), "CR0.PG is set at the start of the case");

	/* Write: two words in each 64 KiB (first and last word of its first page), then the last page. */
	for (uint64_t pa = start; pa < last; pa += STRIDE) {
		*frame_word(pa, 0) = pattern(pa);
		*frame_word(pa, 0xffc) = pattern(pa + 0xffc);
	}
	for (unsigned off = 0; off < PAGE_SIZE; off += 4)
		*frame_word(last, off) = pattern(last + off);

	/* Read everything back. */
	for (uint64_t pa = start; pa < last; pa += STRIDE, samples++) {
		for (unsigned off = 0; off < PAGE_SIZE; off += 0xffc) {
			uint32_t v = *frame_word(pa, off);

			if (v == pattern(pa + off))
				check_pass(t);
			else
				check_fail(t, "64 KiB sample %u, word at +%#x: read %#x, wrote %#x",
					   samples, off, v, pattern(pa + off));
		}
	}
	for (unsigned off = 0; off < PAGE_SIZE; off += 4) {
		uint32_t v = *frame_word(last, off);

		if (v == pattern(last + off))
			check_pass(t);
		else
			check_fail(t, "last RAM page, word at +%#x: read %#x, wrote %#x", off, v,
				   pattern(last + off));
	}
}
