/*
 * h_priv.c: cases priv and undef.
 *
 * priv: every privileged instruction, executed at ring 3, must raise what
 * the manuals say (SDM vol. 2, each instruction's "Protected Mode
 * Exceptions" / "64-Bit Mode Exceptions"): #GP(0) for most, #GP(selector)
 * for a segment load whose DPL is below CPL.  Instructions ring 3 may
 * run (CPUID, RDTSC) must run.  Left out, each for a reason: SYSEXIT
 * (#GP on Intel, #UD on AMD: QEMU's qemu64 is AMD), SYSRET (#UD with
 * EFER.SCE clear, but this host's KVM runs the guest with the real SCE
 * set), SGDT/SIDT/SMSW/STR (this host's KVM shows ring 3 its own tables).
 * In shadow mode the guest kernel itself runs at real CPL 3, so ombra must
 * tell the guest's own ring 3 from its ring 0 for every one of these.
 *
 * undef (ring 3) and undef0 (ring 0): opcodes with no instruction in
 * 64-bit mode, reserved encodings and LOCK where it is not allowed must
 * raise #UD with RIP at the instruction.  Left out: AVX with CR4.OSXSAVE
 * clear (shadow mode runs guest code on the host's CR4, docs/shadow.md);
 * LOCK MOV between registers (QEMU's TCG runs it); LOCK MOV CR0 (MOV CR8
 * on AMD).
 * This host's KVM emulates ring-0 guest code and fails on some of these
 * (tests/e2e/run.sh skips undef0 in tdp mode there, with the reason).
 */
#include "desc.h"
#include "hostile.h"

struct insn_case {
	const char *name;
	uint8_t len;
	uint8_t bytes[15];
	uint8_t vector;   /* 0xff: must run to the end */
	uint16_t error;
};

#define RUNS 0xff

static const struct insn_case priv[] = {
	{ "hlt", 1, { 0xf4 }, VEC_GP, 0 },
	{ "cli", 1, { 0xfa }, VEC_GP, 0 },
	{ "sti", 1, { 0xfb }, VEC_GP, 0 },
	{ "in al, dx", 1, { 0xec }, VEC_GP, 0 },
	{ "out dx, al", 1, { 0xee }, VEC_GP, 0 },
	{ "in al, 0x80", 2, { 0xe4, 0x80 }, VEC_GP, 0 },
	{ "out 0x80, al", 2, { 0xe6, 0x80 }, VEC_GP, 0 },
	{ "insb", 1, { 0x6c }, VEC_GP, 0 },
	{ "outsb", 1, { 0x6e }, VEC_GP, 0 },
	{ "lgdt [rsp]", 4, { 0x0f, 0x01, 0x14, 0x24 }, VEC_GP, 0 },
	{ "lidt [rsp]", 4, { 0x0f, 0x01, 0x1c, 0x24 }, VEC_GP, 0 },
	{ "lldt ax", 3, { 0x0f, 0x00, 0xd0 }, VEC_GP, 0 },
	{ "ltr ax", 3, { 0x0f, 0x00, 0xd8 }, VEC_GP, 0 },
	{ "mov rax, cr0", 3, { 0x0f, 0x20, 0xc0 }, VEC_GP, 0 },
	{ "mov cr0, rax", 3, { 0x0f, 0x22, 0xc0 }, VEC_GP, 0 },
	{ "mov rax, cr2", 3, { 0x0f, 0x20, 0xd0 }, VEC_GP, 0 },
	{ "mov rax, cr3", 3, { 0x0f, 0x20, 0xd8 }, VEC_GP, 0 },
	{ "mov cr3, rax", 3, { 0x0f, 0x22, 0xd8 }, VEC_GP, 0 },
	{ "mov rax, cr4", 3, { 0x0f, 0x20, 0xe0 }, VEC_GP, 0 },
	{ "mov rax, cr8", 4, { 0x44, 0x0f, 0x20, 0xc0 }, VEC_GP, 0 },
	{ "mov rax, dr7", 3, { 0x0f, 0x21, 0xf8 }, VEC_GP, 0 },
	{ "mov dr7, rax", 3, { 0x0f, 0x23, 0xf8 }, VEC_GP, 0 },
	{ "rdmsr", 2, { 0x0f, 0x32 }, VEC_GP, 0 },
	{ "wrmsr", 2, { 0x0f, 0x30 }, VEC_GP, 0 },
	{ "invlpg [rax]", 3, { 0x0f, 0x01, 0x38 }, VEC_GP, 0 },
	{ "invd", 2, { 0x0f, 0x08 }, VEC_GP, 0 },
	{ "wbinvd", 2, { 0x0f, 0x09 }, VEC_GP, 0 },
	{ "clts", 2, { 0x0f, 0x06 }, VEC_GP, 0 },
	{ "lmsw ax", 3, { 0x0f, 0x01, 0xf0 }, VEC_GP, 0 },
	{ "rdpmc", 2, { 0x0f, 0x33 }, VEC_GP, 0 },
	{ "swapgs", 3, { 0x0f, 0x01, 0xf8 }, VEC_GP, 0 },
	{ "mov ds, 0x10", 6, { 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8 }, VEC_GP, SEL_KDATA },
	{ "mov ss, 0x10", 6, { 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd0 }, VEC_GP, SEL_KDATA },
	{ "cpuid", 4, { 0x31, 0xc0, 0x0f, 0xa2 }, RUNS, 0 },
	{ "rdtsc", 2, { 0x0f, 0x31 }, RUNS, 0 },
};

static const struct insn_case undef[] = {
	{ "ud2", 2, { 0x0f, 0x0b }, VEC_UD, 0 },
	{ "ud1", 3, { 0x0f, 0xb9, 0xc0 }, VEC_UD, 0 },
	{ "ud0", 3, { 0x0f, 0xff, 0xc0 }, VEC_UD, 0 },
	{ "push es", 1, { 0x06 }, VEC_UD, 0 },
	{ "pop es", 1, { 0x07 }, VEC_UD, 0 },
	{ "push cs", 1, { 0x0e }, VEC_UD, 0 },
	{ "push ss", 1, { 0x16 }, VEC_UD, 0 },
	{ "pop ds", 1, { 0x1f }, VEC_UD, 0 },
	{ "daa", 1, { 0x27 }, VEC_UD, 0 },
	{ "das", 1, { 0x2f }, VEC_UD, 0 },
	{ "aaa", 1, { 0x37 }, VEC_UD, 0 },
	{ "aas", 1, { 0x3f }, VEC_UD, 0 },
	{ "pusha", 1, { 0x60 }, VEC_UD, 0 },
	{ "popa", 1, { 0x61 }, VEC_UD, 0 },
	{ "aam", 2, { 0xd4, 0x0a }, VEC_UD, 0 },
	{ "aad", 2, { 0xd5, 0x0a }, VEC_UD, 0 },
	{ "salc", 1, { 0xd6 }, VEC_UD, 0 },
	{ "into", 1, { 0xce }, VEC_UD, 0 },
	{ "call far ptr16:32", 7, { 0x9a, 0, 0, 0, 0, 0x18, 0 }, VEC_UD, 0 },
	{ "jmp far ptr16:32", 7, { 0xea, 0, 0, 0, 0, 0x18, 0 }, VEC_UD, 0 },
	{ "lock nop", 2, { 0xf0, 0x90 }, VEC_UD, 0 },
	{ "lock add eax, eax", 3, { 0xf0, 0x01, 0xc0 }, VEC_UD, 0 },
	{ "lea eax, eax", 2, { 0x8d, 0xc0 }, VEC_UD, 0 },
	{ "call far eax", 2, { 0xff, 0xd8 }, VEC_UD, 0 },
	{ "jmp far eax", 2, { 0xff, 0xe8 }, VEC_UD, 0 },
	{ "ff /7", 2, { 0xff, 0xf8 }, VEC_UD, 0 },
	{ "fe /2", 2, { 0xfe, 0xd0 }, VEC_UD, 0 },
	{ "0f 00 /6", 3, { 0x0f, 0x00, 0xf0 }, VEC_UD, 0 },
	{ "0f 04", 2, { 0x0f, 0x04 }, VEC_UD, 0 },
	{ "0f 0a", 2, { 0x0f, 0x0a }, VEC_UD, 0 },
	{ "0f 0c", 2, { 0x0f, 0x0c }, VEC_UD, 0 },
	{ "mov rax, tr0", 3, { 0x0f, 0x24, 0xc0 }, VEC_UD, 0 },
	{ "mov tr0, rax", 3, { 0x0f, 0x26, 0xc0 }, VEC_UD, 0 },
	{ "0f 36", 2, { 0x0f, 0x36 }, VEC_UD, 0 },
	{ "0f 39", 2, { 0x0f, 0x39 }, VEC_UD, 0 },
	{ "0f a6", 3, { 0x0f, 0xa6, 0xc0 }, VEC_UD, 0 },
	{ "0f a7", 3, { 0x0f, 0xa7, 0xc0 }, VEC_UD, 0 },
	{ "mov cs, ax", 2, { 0x8e, 0xc8 }, VEC_UD, 0 },
};

static void run_table(struct tally *t, const struct insn_case *list, unsigned n, bool user,
		      uint64_t *h)
{

	for (unsigned i = 0; i < n; i++) {
		const struct insn_case *c = &list[i];
		struct fault f;
		bool ran = run_bytes(c->bytes, c->len, user, &f);
		uint64_t at = (uintptr_t)hostile_code_page + (c->vector == VEC_GP && c->error ? 4 : 0);
		char got[64];

		*h = digest_add(*h, ran ? RUNS : ((uint64_t)f.vector << 32 | f.error));
		if (c->vector == RUNS) {
			check(t, ran, "ring %u %s: want it to run, got %s", user ? 3 : 0, c->name,
			      fault_name(false, &f, got, sizeof(got)));
			continue;
		}
		if (ran || f.vector != c->vector || f.error != c->error || f.ip != at || f.user != user)
			printf("  ring %u %s: want vector %u(%#x), got %s\n", user ? 3 : 0, c->name,
			       c->vector, c->error, fault_name(ran, &f, got, sizeof(got)));
		check(t, !ran && f.vector == c->vector && f.error == c->error && f.ip == at &&
			 f.user == user,
		      "ring %u %s: want vector %u(%#x) at %#llx, got %s", user ? 3 : 0, c->name,
		      c->vector, c->error, (unsigned long long)at,
		      fault_name(ran, &f, got, sizeof(got)));
	}
}

void h_priv(struct tally *t, uint32_t arg)
{
	uint64_t h = DIGEST_INIT;

	(void)arg;
	space_enter(boot.pool_end);
	run_table(t, priv, ARRAY_SIZE(priv), true, &h);
	printf("priv: %u instructions at ring 3, digest %#llx\n", (unsigned)ARRAY_SIZE(priv),
	       (unsigned long long)h);
	paging_leave();
}

static void undef_at(struct tally *t, bool user)
{
	uint64_t h = DIGEST_INIT;

	space_enter(boot.pool_end);
	run_table(t, undef, ARRAY_SIZE(undef), user, &h);
	printf("undef: %u encodings at ring %u, digest %#llx\n", (unsigned)ARRAY_SIZE(undef), user * 3,
	       (unsigned long long)h);
	paging_leave();
}

void h_undef(struct tally *t, uint32_t arg)
{
	(void)arg;
	undef_at(t, true);
}

void h_undef0(struct tally *t, uint32_t arg)
{
	(void)arg;
	undef_at(t, false);
}
