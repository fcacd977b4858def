/*
 * w_calib.c: workload calib, the floor under every other number, measured in
 * the same run:
 *
 *   exception  N round trips ring 3 -> ring 0 -> ring 3: a ud2 at ring 3,
 *              a #UD handler of two instructions (count it, step RIP over
 *              the ud2) and IRETQ.  Timed at ring 3 with RDTSC around the
 *              loop (calib64.S), through an IDT of its own whose #UD gate
 *              goes to that handler; the others go to the runtime's stubs,
 *              and the IDT is put back afterwards.  In shadow mode the
 *              exception is taken by ombra and reflected to the guest, and
 *              the IRETQ is emulated: that is what is measured.
 *   portio     N OUT instructions at ring 0 to a port no device claims
 *              (QUIET_PORT: port 0x80 is taken by the phase marks).
 *   movcr3     N MOVs to CR3 of the value it already holds, at ring 0.
 *   invlpg     N INVLPGs of one mapped address, at ring 0.
 *   ptwrite    N stores to one empty entry of the live PML4, of the value it
 *              already holds (0), at ring 0: a page-table write.  In shadow
 *              mode a root table is always write-protected (never out of
 *              sync, never flooded), so under wp and unsync each store is a
 *              trap and an emulated write; under vtlb it is a plain store.
 *
 * Each loop is three instructions per iteration at ring 0 (exception: two
 * plus IRETQ).  Checks: the handler ran N times and the trip ended where it
 * should (the int3 after the loop).
 */
#include "bench.h"
#include "desc.h"

#define NUM_VECTORS 32
#define GATE_INTR 0x8e

extern const uintptr_t trap_stubs[NUM_VECTORS];           /* trap64.S */
extern char calib_ud_handler[], calib_user_loop[], calib_user_end[]; /* calib64.S */
extern volatile uint64_t calib_ud_count;

struct gate {
	uint64_t lo, hi;
};
static struct gate idt[NUM_VECTORS] __attribute__((aligned(16)));
static volatile uint64_t user_cycles; /* written at ring 3: the identity map is U */

static struct gate gate(uintptr_t handler, unsigned dpl, unsigned ist)
{
	uint64_t off = handler;

	return (struct gate){
		.lo = (off & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | ((uint64_t)ist << 32) |
		      ((uint64_t)(GATE_INTR | (dpl << 5)) << 40) | (((off >> 16) & 0xffff) << 48),
		.hi = off >> 32,
	};
}

static void load_calib_idt(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uintptr_t)idt };

	for (unsigned v = 0; v < NUM_VECTORS; v++)
		idt[v] = gate(trap_stubs[v], v == VEC_BP ? 3 : 0, v == VEC_DF ? 1 : 0);
	idt[VEC_UD] = gate((uintptr_t)calib_ud_handler, 0, 0);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

uint32_t work_calib(const struct bench_args *a)
{
	struct bench b;
	uint64_t n = a->a;
	int caught;

	bench_begin(&b, "calib");
	mem_init(b.name);
	base_space();

	load_calib_idt();
	calib_ud_count = 0;
	phase_start(&b);
	caught = trap_catch(user_enter, (uintptr_t)calib_user_loop, (uintptr_t)n,
			    (uintptr_t)&user_cycles, NULL);
	phase_stop_cycles(&b, "exception", n, user_cycles);
	desc_load();
	check(&b.tally, caught && trap_last.vector == VEC_BP && trap_last.user &&
	      trap_last.ip == (uintptr_t)calib_user_end,
	      "the ring-3 loop did not end at its int3 (vector %u)", trap_last.vector);
	check(&b.tally, calib_ud_count == n, "the #UD handler ran %llu times, expected %llu",
	      (unsigned long long)calib_ud_count, (unsigned long long)n);

	phase_start(&b);
	{
		uint64_t c = n;

		__asm__ volatile("1: outb %%al, %2\n\t"
				 "decq %0\n\t"
				 "jnz 1b"
				 : "+r"(c) : "a"(0), "i"(QUIET_PORT) : "memory");
	}
	phase_stop(&b, "portio", n);

	phase_start(&b);
	{
		uint64_t c = n, cr3 = read_cr3();

		__asm__ volatile("1: movq %1, %%cr3\n\t"
				 "decq %0\n\t"
				 "jnz 1b"
				 : "+r"(c) : "r"(cr3) : "memory");
	}
	phase_stop(&b, "movcr3", n);

	phase_start(&b);
	{
		uint64_t c = n;

		__asm__ volatile("1: invlpg (%1)\n\t"
				 "decq %0\n\t"
				 "jnz 1b"
				 : "+r"(c) : "r"(&user_cycles) : "memory");
	}
	phase_stop(&b, "invlpg", n);

	{
		uint64_t c = n, *slot = (uint64_t *)(uintptr_t)(read_cr3() & ADDR_MASK) + 300;

		check(&b.tally, *slot == 0, "PML4 entry 300 is not empty");
		phase_start(&b);
		__asm__ volatile("1: movq %2, (%1)\n\t"
				 "decq %0\n\t"
				 "jnz 1b"
				 : "+r"(c) : "r"(slot), "r"(0ull) : "memory");
		phase_stop(&b, "ptwrite", n);
	}

	check(&b.tally, pf_count == 0, "%llu page faults", (unsigned long long)pf_count);
	return bench_end(&b);
}
