/*
 * Shadow mode's MMIO emulator (emulate_mmio, src/shadow/mmio.c) against
 * the CPU itself.  Each case is one instruction with a memory operand at
 * [rbx] (or a string instruction at [rsi] and [rdi]), as bytes: capstone
 * decodes them inside ombra.  The same bytes run
 * twice from the same registers, flags and memory contents:
 *   - in ombra, on a 64-bit guest at CPL 0 whose [rbx] is a device on the
 *     MMIO bus (a page of registers kept by this test);
 *   - natively, on this host, with [rbx] an ordinary buffer, from code
 *     assembled here around the instruction.
 * Every register, the arithmetic flags and the memory must come out the
 * same, and RIP must be past the instruction.  The states are random
 * (fixed seeds), so each case runs with many register and memory values.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shadow_fixture.h"

#define CODE       0x10000ULL
#define DEV_GPA    0xc0000000ULL          /* no RAM here: the test's device */
#define DEV_OFF    0x7f8ULL               /* where [rbx] points in it */
#define ARITH      0x8d5ULL               /* CF PF AF ZF SF OF */
#define STATES     24

static struct shadow_fixture fx;
static struct vm *vm;
static struct shadow *sh;
static uint8_t *ram;
static uint8_t dev_mem[4096];             /* the device: a page of registers */
static unsigned dev_reads, dev_writes;
static uint8_t *jit;                      /* the native runner */

static void dev_read(void *opaque, uint64_t off, unsigned len, uint64_t *val)
{
	(void)opaque;
	*val = 0;
	memcpy(val, dev_mem + off, len);
	dev_reads++;
}

static void dev_write(void *opaque, uint64_t off, unsigned len, uint64_t val)
{
	(void)opaque;
	memcpy(dev_mem + off, &val, len);
	dev_writes++;
}

static void put(uint64_t gpa, uint64_t v, unsigned size)
{
	fixture_put(&fx, gpa, v, size);
}

static void setup(void)
{
	struct mmio_dev dev = { "test", DEV_GPA, 4096, dev_read, dev_write, NULL };

	fixture_new(&fx);
	vm = fx.vm, sh = fx.sh, ram = fx.ram;
	cr_assert_eq(mmio_bus_register(&vm->board.mmio, &dev), 0);

	/* PML4 -> PDPT: 2 MiB at 0 (the code), and 2 MiB at DEV_GPA, identity */
	put(0x4000, 0x5000 | 7, 8);
	put(0x5000, 0x6000 | 7, 8);
	put(0x5000 + 8 * (DEV_GPA >> 30), 0x7000 | 7, 8);
	put(0x6000, 0x87, 8);
	put(0x7000, DEV_GPA | 0x87, 8);

	jit = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(jit, MAP_FAILED);
}

static void teardown(void)
{
	munmap(jit, 4096);
	fixture_free(&fx);
}

TestSuite(mmio, .init = setup, .fini = teardown);

/* --- the guest ------------------------------------------------------------- */

static void guest_cpu(void)
{
	struct vcpu *v = &sh->v;
	struct vseg cs = { .sel = 0x08, .limit = 0xffffffff, .type = 0xb, .s = 1, .p = 1, .l = 1, .g = 1 };
	struct vseg ds = { .sel = 0x10, .limit = 0xffffffff, .type = 0x3, .s = 1, .p = 1, .db = 1, .g = 1 };

	memset(v, 0, sizeof(*v));
	v->cr0 = CR0_PE | CR0_ET | CR0_PG;
	v->cr4 = CR4_PAE;
	v->efer = EFER_LME | EFER_LMA;
	v->cr3 = 0x4000;
	v->cs = cs;
	v->ss = v->ds = v->es = v->fs = v->gs = ds;
	memset(&sh->t, 0, sizeof(sh->t));
	sh->t.rip = CODE;
	sh->t.code64 = true;
	shadow_cpu_changed(sh, false, false);
	mmu_root_loaded(&sh->mmu, mmu_root(&sh->mmu, &sh->ctx));
	sh->mmu.need_reload = false;
}

/* --- the native runner --------------------------------------------------------- */

/* Registers in the order of their x86 numbers, then RFLAGS (r15 is the
 * runner's base register: no case uses it). */
struct state {
	uint64_t gpr[16];
	uint64_t rflags;
};

static unsigned emit(uint8_t *p, unsigned n, const uint8_t *b, unsigned len)
{
	memcpy(p + n, b, len);
	return n + len;
}

/* Assemble: save callee-saved registers, load state from [r15], run the
 * instruction, store state back, return. */
static void native_run(const uint8_t *insn, unsigned len, struct state *st)
{
	static const uint8_t prologue[] = { 0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57 };
	static const uint8_t epilogue[] = { 0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3 };
	uint8_t b[16];
	uint64_t base = (uintptr_t)st;
	unsigned n = 0;

	n = emit(jit, n, prologue, sizeof(prologue));
	b[0] = 0x49, b[1] = 0xbf;                                   /* movabs r15, st */
	memcpy(b + 2, &base, 8);
	n = emit(jit, n, b, 10);
	for (unsigned r = 0; r < 15; r++) {
		if (r == 4)
			continue;                                   /* not rsp */
		b[0] = 0x49 | (r >= 8 ? 4 : 0), b[1] = 0x8b, b[2] = 0x47 | (r & 7) << 3, b[3] = (uint8_t)(8 * r);
		n = emit(jit, n, b, 4);                             /* mov reg, [r15 + 8r] */
	}
	b[0] = 0x41, b[1] = 0xff, b[2] = 0xb7;                      /* push [r15 + disp32] */
	b[3] = 8 * 16, b[4] = b[5] = b[6] = 0;                      /*   rflags (128: past disp8) */
	b[7] = 0x9d;                                                /* popfq */
	n = emit(jit, n, b, 8);
	n = emit(jit, n, insn, len);
	b[0] = 0x9c;                                                /* pushfq */
	b[1] = 0x41, b[2] = 0x8f, b[3] = 0x87;                      /* pop [r15 + disp32] */
	b[4] = 8 * 16, b[5] = b[6] = b[7] = 0;
	b[8] = 0xfc;                                                /* cld: the ABI's DF */
	n = emit(jit, n, b, 9);
	for (unsigned r = 0; r < 15; r++) {
		if (r == 4)
			continue;
		b[0] = 0x49 | (r >= 8 ? 4 : 0), b[1] = 0x89, b[2] = 0x47 | (r & 7) << 3, b[3] = (uint8_t)(8 * r);
		n = emit(jit, n, b, 4);                             /* mov [r15 + 8r], reg */
	}
	n = emit(jit, n, epilogue, sizeof(epilogue));
	cr_assert_lt(n, 4096);
	__builtin___clear_cache((char *)jit, (char *)jit + n);
	((void (*)(void))jit)();
}

/* --- the cases ------------------------------------------------------------------ */

struct mcase {
	const char *name;
	uint8_t len, b[8];
	bool write;     /* the access writes (for the #PF error code) */
};

static const struct mcase cases[] = {
	{ "mov eax, [rbx]", 2, { 0x8b, 0x03 }, false },
	{ "mov al, [rbx]", 2, { 0x8a, 0x03 }, false },
	{ "mov ah, [rbx]", 2, { 0x8a, 0x23 }, false },
	{ "mov cx, [rbx]", 3, { 0x66, 0x8b, 0x0b }, false },
	{ "mov rdx, [rbx]", 3, { 0x48, 0x8b, 0x13 }, false },
	{ "mov r9d, [rbx]", 3, { 0x44, 0x8b, 0x0b }, false },
	{ "mov sil, [rbx]", 3, { 0x40, 0x8a, 0x33 }, false },
	{ "mov [rbx], eax", 2, { 0x89, 0x03 }, true },
	{ "mov [rbx], ch", 2, { 0x88, 0x2b }, true },
	{ "mov [rbx], r10w", 4, { 0x66, 0x44, 0x89, 0x13 }, true },
	{ "mov [rbx], rsi", 3, { 0x48, 0x89, 0x33 }, true },
	{ "mov byte [rbx], 0x9c", 3, { 0xc6, 0x03, 0x9c }, true },
	{ "mov word [rbx], 0x8001", 5, { 0x66, 0xc7, 0x03, 0x01, 0x80 }, true },
	{ "mov dword [rbx], 0x80000001", 6, { 0xc7, 0x03, 0x01, 0x00, 0x00, 0x80 }, true },
	{ "mov qword [rbx], -2", 7, { 0x48, 0xc7, 0x03, 0xfe, 0xff, 0xff, 0xff }, true },
	{ "movzx eax, byte [rbx]", 3, { 0x0f, 0xb6, 0x03 }, false },
	{ "movzx rcx, word [rbx]", 4, { 0x48, 0x0f, 0xb7, 0x0b }, false },
	{ "movzx dx, byte [rbx]", 4, { 0x66, 0x0f, 0xb6, 0x13 }, false },
	{ "movsx eax, byte [rbx]", 3, { 0x0f, 0xbe, 0x03 }, false },
	{ "movsx rdi, word [rbx]", 4, { 0x48, 0x0f, 0xbf, 0x3b }, false },
	{ "movsx si, byte [rbx]", 4, { 0x66, 0x0f, 0xbe, 0x33 }, false },
	{ "movsxd rax, [rbx]", 3, { 0x48, 0x63, 0x03 }, false },
	{ "add eax, [rbx]", 2, { 0x03, 0x03 }, false },
	{ "add [rbx], cl", 2, { 0x00, 0x0b }, true },
	{ "add [rbx], rdx", 3, { 0x48, 0x01, 0x13 }, true },
	{ "add word [rbx], 0x7fff", 5, { 0x66, 0x81, 0x03, 0xff, 0x7f }, true },
	{ "add dword [rbx], -1", 3, { 0x83, 0x03, 0xff }, true },
	{ "sub ecx, [rbx]", 2, { 0x2b, 0x0b }, false },
	{ "sub [rbx], eax", 2, { 0x29, 0x03 }, true },
	{ "sub byte [rbx], 0x80", 3, { 0x80, 0x2b, 0x80 }, true },
	{ "and rax, [rbx]", 3, { 0x48, 0x23, 0x03 }, false },
	{ "and [rbx], dl", 2, { 0x20, 0x13 }, true },
	{ "and qword [rbx], 0x0f0f", 7, { 0x48, 0x81, 0x23, 0x0f, 0x0f, 0x00, 0x00 }, true },
	{ "or eax, [rbx]", 2, { 0x0b, 0x03 }, false },
	{ "or byte [rbx], 1", 3, { 0x80, 0x0b, 0x01 }, true },
	{ "or [rbx], r8", 3, { 0x4c, 0x09, 0x03 }, true },
	{ "xor eax, [rbx]", 2, { 0x33, 0x03 }, false },
	{ "xor [rbx], cx", 3, { 0x66, 0x31, 0x0b }, true },
	{ "xor dword [rbx], 0x55", 3, { 0x83, 0x33, 0x55 }, true },
	{ "cmp dword [rbx], 0", 3, { 0x83, 0x3b, 0x00 }, false },
	{ "cmp eax, [rbx]", 2, { 0x3b, 0x03 }, false },
	{ "cmp [rbx], al", 2, { 0x38, 0x03 }, false },
	{ "cmp qword [rbx], -5", 4, { 0x48, 0x83, 0x3b, 0xfb }, false },
	{ "test [rbx], eax", 2, { 0x85, 0x03 }, false },
	{ "test byte [rbx], 0x81", 3, { 0xf6, 0x03, 0x81 }, false },
	{ "test [rbx], r11", 3, { 0x4c, 0x85, 0x1b }, false },
	{ "xchg [rbx], eax", 2, { 0x87, 0x03 }, true },
	{ "xchg [rbx], cl", 2, { 0x86, 0x0b }, true },
	{ "xchg rdx, [rbx]", 3, { 0x48, 0x87, 0x13 }, true },
	{ "lock add [rbx], eax", 3, { 0xf0, 0x01, 0x03 }, true },
	{ "lock xor [rbx], rcx", 4, { 0xf0, 0x48, 0x31, 0x0b }, true },
};

static uint64_t rng(uint64_t *s)
{
	*s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

Test(mmio, every_case_matches_the_cpu)
{
	uint64_t seed = 0x6d6d696f5eedULL;
	uint8_t native_mem[4096] __attribute__((aligned(16)));

	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct mcase *mc = &cases[c];

		for (unsigned k = 0; k < STATES; k++) {
			struct state in, nat;
			uint64_t mem0 = rng(&seed), res;

			for (unsigned r = 0; r < 16; r++)
				in.gpr[r] = rng(&seed) >> (k % 4 == 0 ? 56 : 0); /* small values too */
			in.rflags = 0x2 | (rng(&seed) & ARITH);

			/* native */
			nat = in;
			memset(native_mem, 0, sizeof(native_mem));
			memcpy(native_mem + DEV_OFF, &mem0, 8);
			nat.gpr[R_BX] = (uintptr_t)native_mem + DEV_OFF;
			native_run(mc->b, mc->len, &nat);

			/* ombra */
			guest_cpu();
			memset(dev_mem, 0, sizeof(dev_mem));
			memcpy(dev_mem + DEV_OFF, &mem0, 8);
			memcpy(ram + CODE, mc->b, mc->len);
			for (unsigned r = 0; r < 16; r++)
				sh->t.gpr[r] = in.gpr[r];
			sh->t.gpr[R_BX] = DEV_GPA + DEV_OFF;
			sh->t.rflags = in.rflags;
			dev_reads = dev_writes = 0;
			res = emulate_mmio(sh, DEV_GPA + DEV_OFF, DEV_GPA + DEV_OFF, mc->write ? 2 : 0);

			cr_assert_eq(res, TRAP_RESUME, "%s: emulate_mmio did not resume (%s)", mc->name, vm->err);
			cr_assert_eq(sh->t.rip, CODE + mc->len, "%s: rip %#llx, want %#llx", mc->name,
				     (unsigned long long)sh->t.rip, (unsigned long long)(CODE + mc->len));
			for (unsigned r = 0; r < 15; r++) {
				if (r == R_SP || r == R_BX)
					continue;
				cr_assert_eq(sh->t.gpr[r], nat.gpr[r],
					     "%s, state %u: register %u is %#llx, the CPU left %#llx", mc->name, k, r,
					     (unsigned long long)sh->t.gpr[r], (unsigned long long)nat.gpr[r]);
			}
			cr_assert_eq(sh->t.rflags & ARITH, nat.rflags & ARITH,
				     "%s, state %u: flags %#llx, the CPU left %#llx", mc->name, k,
				     (unsigned long long)(sh->t.rflags & ARITH), (unsigned long long)(nat.rflags & ARITH));
			cr_assert_eq(memcmp(dev_mem, native_mem, sizeof(dev_mem)), 0,
				     "%s, state %u: memory %#llx, the CPU left %#llx", mc->name, k,
				     (unsigned long long)*(uint64_t *)(dev_mem + DEV_OFF),
				     (unsigned long long)*(uint64_t *)(native_mem + DEV_OFF));
			cr_assert_gt(dev_reads + dev_writes, 0, "%s: the device saw no access", mc->name);
			fixture_reset_mmu(&fx);
		}
	}
}

/* A store must not read the device (a read can have side effects on a
 * real device), and a load must not write it. */
Test(mmio, plain_moves_touch_the_device_once)
{
	static const uint8_t load[] = { 0x8b, 0x03 }, store[] = { 0x89, 0x03 };

	guest_cpu();
	memcpy(ram + CODE, load, sizeof(load));
	sh->t.gpr[R_BX] = DEV_GPA + DEV_OFF;
	dev_reads = dev_writes = 0;
	cr_assert_eq(emulate_mmio(sh, DEV_GPA + DEV_OFF, DEV_GPA + DEV_OFF, 0), TRAP_RESUME);
	cr_expect_eq(dev_reads, 1);
	cr_expect_eq(dev_writes, 0);

	sh->t.rip = CODE;
	memcpy(ram + CODE, store, sizeof(store));
	dev_reads = dev_writes = 0;
	cr_assert_eq(emulate_mmio(sh, DEV_GPA + DEV_OFF, DEV_GPA + DEV_OFF, 2), TRAP_RESUME);
	cr_expect_eq(dev_reads, 0);
	cr_expect_eq(dev_writes, 1);
}

/* Executing from MMIO, and an instruction the emulator does not know on
 * MMIO, end the guest with a reason; nothing is half done. */
Test(mmio, what_it_cannot_do_ends_the_guest)
{
	static const uint8_t imul[] = { 0x0f, 0xaf, 0x03 };        /* imul eax, [rbx] */
	static const uint8_t movsreg[] = { 0x8c, 0x1b };           /* mov [rbx], ds */

	guest_cpu();
	sh->t.rip = DEV_GPA + DEV_OFF;
	cr_assert_eq(emulate_mmio(sh, DEV_GPA + DEV_OFF, DEV_GPA + DEV_OFF, 0x10), TRAP_END);
	cr_expect(strstr(vm->err, "executes") != NULL, "%s", vm->err);

	vm->end = END_NONE;
	vm->err[0] = '\0';
	guest_cpu();
	memcpy(ram + CODE, imul, sizeof(imul));
	sh->t.gpr[R_BX] = DEV_GPA + DEV_OFF;
	sh->t.gpr[R_AX] = 7;
	dev_reads = dev_writes = 0;
	cr_assert_eq(emulate_mmio(sh, DEV_GPA + DEV_OFF, DEV_GPA + DEV_OFF, 0), TRAP_END);
	cr_expect(strstr(vm->err, "imul") != NULL, "%s", vm->err);
	cr_expect_eq(sh->t.gpr[R_AX], 7);
	cr_expect_eq(dev_reads + dev_writes, 0);

	/* a segment register has no value ombra would store right */
	vm->end = END_NONE;
	vm->err[0] = '\0';
	guest_cpu();
	memcpy(ram + CODE, movsreg, sizeof(movsreg));
	sh->t.gpr[R_BX] = DEV_GPA + DEV_OFF;
	dev_reads = dev_writes = 0;
	cr_assert_eq(emulate_mmio(sh, DEV_GPA + DEV_OFF, DEV_GPA + DEV_OFF, 2), TRAP_END);
	cr_expect(strstr(vm->err, "segment register") != NULL, "%s", vm->err);
	cr_expect_eq(dev_reads + dev_writes, 0);
}

/* ombra's own accesses for the guest (a descriptor, an exception frame, a
 * string I/O buffer: guest_read and guest_write) where no RAM is reach the
 * device there, in pieces of at most 8 bytes within an 8-byte line, as the
 * CPU's accesses would; where no device is either, reads give zero and
 * writes vanish; a fetch from there ends the guest, as in QEMU. */
Test(mmio, accesses_for_the_guest_reach_the_device)
{
	uint8_t buf[24], want[24];

	guest_cpu();
	for (unsigned i = 0; i < sizeof(dev_mem); i++)
		dev_mem[i] = (uint8_t)(i * 7 + 1);
	dev_reads = dev_writes = 0;
	cr_assert(guest_read(sh, DEV_GPA + 0x104, buf, sizeof(buf), false), "%s", vm->err);
	cr_expect_eq(memcmp(buf, dev_mem + 0x104, sizeof(buf)), 0, "the device's bytes did not come back");
	cr_expect_eq(dev_reads, 4, "24 bytes from 0x104: 4 + 8 + 8 + 4, got %u reads", dev_reads);
	cr_expect_eq(vm->end, END_NONE);

	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(0xa0 + i);
	dev_reads = dev_writes = 0;
	cr_assert(guest_write(sh, DEV_GPA + 0x200, want, 16, false), "%s", vm->err);
	cr_expect_eq(memcmp(dev_mem + 0x200, want, 16), 0);
	cr_expect_eq(dev_writes, 2);

	/* 2 MiB past the device, still mapped by the guest: nobody there */
	memset(buf, 0x55, sizeof(buf));
	cr_assert(guest_read(sh, DEV_GPA + 0x100000, buf, 8, false), "%s", vm->err);
	for (unsigned i = 0; i < 8; i++)
		cr_expect_eq(buf[i], 0, "unbacked memory read %#x", buf[i]);
	cr_assert(guest_write(sh, DEV_GPA + 0x100000, want, 8, false), "%s", vm->err);
	cr_expect_eq(vm->end, END_NONE, "%s", vm->err);

	cr_assert_not(guest_fetch(sh, DEV_GPA + 0x300, buf, 4, false));
	cr_expect_eq(vm->end, END_GUEST_ERROR);
	cr_expect(strstr(vm->err, "executes") != NULL, "%s", vm->err);
}

/* MOVS and STOS, with and without REP, both directions, 0 to 7 elements;
 * the device page is both source and destination.  RSI and RDI are
 * compared as offsets from the page, since they point into different
 * memory in the two runs. */
static const struct mcase strings[] = {
	{ "rep stosb", 2, { 0xf3, 0xaa }, true },
	{ "rep stosw", 3, { 0x66, 0xf3, 0xab }, true },
	{ "rep stosd", 2, { 0xf3, 0xab }, true },
	{ "rep stosq", 3, { 0xf3, 0x48, 0xab }, true },
	{ "stosd", 1, { 0xab }, true },
	{ "rep movsb", 2, { 0xf3, 0xa4 }, true },
	{ "rep movsd", 2, { 0xf3, 0xa5 }, true },
	{ "rep movsq", 3, { 0xf3, 0x48, 0xa5 }, true },
	{ "movsw", 2, { 0x66, 0xa5 }, true },
	{ "repne stosb (as rep)", 2, { 0xf2, 0xaa }, true },
};

Test(mmio, string_instructions_match_the_cpu)
{
	uint64_t seed = 0x5791f65eedULL;
	static uint8_t native_mem[4096] __attribute__((aligned(4096)));
	const uint64_t src = 0x400, dst = DEV_OFF - 0x40;

	for (unsigned c = 0; c < sizeof(strings) / sizeof(strings[0]); c++) {
		const struct mcase *mc = &strings[c];

		for (unsigned k = 0; k < 16; k++) {
			struct state in, nat;
			uint64_t res;

			for (unsigned r = 0; r < 16; r++)
				in.gpr[r] = rng(&seed);
			in.gpr[R_CX] = k % 8;
			in.rflags = 0x2 | (rng(&seed) & ARITH) | (k >= 8 ? RFLAGS_DF : 0);
			for (unsigned i = 0; i < 4096; i++)
				native_mem[i] = (uint8_t)rng(&seed);
			memcpy(dev_mem, native_mem, 4096);

			nat = in;
			nat.gpr[R_SI] = (uintptr_t)native_mem + src;
			nat.gpr[R_DI] = (uintptr_t)native_mem + dst;
			native_run(mc->b, mc->len, &nat);

			guest_cpu();
			memcpy(ram + CODE, mc->b, mc->len);
			for (unsigned r = 0; r < 16; r++)
				sh->t.gpr[r] = in.gpr[r];
			sh->t.gpr[R_SI] = DEV_GPA + src;
			sh->t.gpr[R_DI] = DEV_GPA + dst;
			sh->t.rflags = in.rflags;
			res = emulate_mmio(sh, DEV_GPA + dst, DEV_GPA + dst, 2);
			/* A REP may stop between elements when ombra's time slice
			 * is spent (a loaded host: STRING_IO_SLICE_NS), as after an
			 * interrupt; the CPU then runs it again from RCX/RSI/RDI as
			 * left.  Each run must have made progress. */
			for (unsigned again = 0; res == TRAP_RESUME && sh->t.rip == CODE &&
			     strncmp(mc->name, "rep", 3) == 0 && again < 8; again++) {
				uint64_t cx = sh->t.gpr[R_CX];

				res = emulate_mmio(sh, DEV_GPA + dst, DEV_GPA + dst, 2);
				cr_assert(sh->t.gpr[R_CX] != cx || sh->t.rip != CODE, "%s: a REP that ran again made no progress",
					  mc->name);
			}

			cr_assert_eq(res, TRAP_RESUME, "%s: emulate_mmio did not resume (%s)", mc->name, vm->err);
			cr_assert_eq(sh->t.rip, CODE + mc->len, "%s: rip not past the instruction", mc->name);
			cr_assert_eq(sh->t.gpr[R_CX], nat.gpr[R_CX], "%s, state %u: rcx %#llx, the CPU left %#llx",
				     mc->name, k, (unsigned long long)sh->t.gpr[R_CX], (unsigned long long)nat.gpr[R_CX]);
			cr_assert_eq(sh->t.gpr[R_SI] - DEV_GPA, nat.gpr[R_SI] - (uintptr_t)native_mem,
				     "%s, state %u: rsi", mc->name, k);
			cr_assert_eq(sh->t.gpr[R_DI] - DEV_GPA, nat.gpr[R_DI] - (uintptr_t)native_mem,
				     "%s, state %u: rdi", mc->name, k);
			cr_assert_eq(sh->t.gpr[R_AX], nat.gpr[R_AX], "%s, state %u: rax", mc->name, k);
			cr_assert_eq(sh->t.rflags & (ARITH | RFLAGS_DF), nat.rflags & (ARITH | RFLAGS_DF),
				     "%s, state %u: flags", mc->name, k);
			cr_assert_eq(memcmp(dev_mem, native_mem, 4096), 0, "%s, state %u: memory differs",
				     mc->name, k);
			fixture_reset_mmu(&fx);
		}
	}
}
