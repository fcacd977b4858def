/*
 * Unit tests for the code scanner and patch table (src/shadow/patch.c) on
 * plain buffers: guest frames in an array, guest-virtual = guest-physical.
 * The code is written here as bytes, each instruction's encoding taken
 * from the SDM's opcode tables (8C /r MOV r/m16,Sreg with Sreg in ModRM.reg:
 * ES 0, CS 1, SS 2, DS 3; 0F 02 LAR; 0F 03 LSL; 0F 00 /4 VERR, /5 VERW;
 * 74 rel8 JE; EB rel8 JMP; E8 rel32 CALL; C3 RET; 90 NOP; FF E0 JMP RAX),
 * so which instructions are reached and which are sensitive is known
 * without the scanner's help.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "shadow/patch.h"

#define FRAMES 4
static uint8_t ram[FRAMES][4096];

static uint8_t *frame(void *opaque, uint64_t gfn)
{
	(void)opaque;
	return gfn < FRAMES ? ram[gfn] : NULL;
}

static bool read(void *opaque, uint64_t gva, uint8_t *buf, unsigned len)
{
	struct patcher *p = opaque;

	if (gva + len > sizeof(ram))
		return false;
	memcpy(buf, &ram[0][0] + gva, len);
	patch_overlay(p, gva, buf, len);   /* one frame at a time in these tests */
	return true;
}

static struct patcher p;
static struct patch_mem mem = { .frame = frame, .read = read };

static void setup(void)
{
	memset(ram, 0x90, sizeof(ram));         /* NOPs */
	cr_assert_eq(patch_init(&p, (1u << PATCH_CS) | (1u << PATCH_SS)), 0);
	mem.opaque = &p;
}

static void teardown(void)
{
	patch_destroy(&p);
}

static void put(uint64_t gpa, const uint8_t *b, size_t n)
{
	memcpy(&ram[0][0] + gpa, b, n);
}

TestSuite(patch, .init = setup, .fini = teardown);

Test(patch, reached_sensitive_instructions_are_patched)
{
	static const uint8_t code[] = {
		0x66, 0x8c, 0xc8,       /* 0x1000 mov ax, cs       patched */
		0x0f, 0x02, 0xc1,       /* 0x1003 lar eax, ecx     patched */
		0x74, 0x05,             /* 0x1006 je 0x100d */
		0x0f, 0x00, 0xe3,       /* 0x1008 verr bx          patched (fall-through) */
		0xeb, 0x03,             /* 0x100b jmp 0x1010 */
		0x0f, 0x03, 0xc1,       /* 0x100d lsl eax, ecx     patched (branch target) */
		0x8c, 0xd8,             /* 0x1010 mov eax, ds      not in the mask */
		0x8c, 0xd0,             /* 0x1012 mov eax, ss      patched */
		0xc3,                   /* 0x1014 ret */
		0x0f, 0x00, 0xeb,       /* 0x1015 verw bx          after ret: never reached */
	};
	uint8_t back[sizeof(code)];

	put(0x1000, code, sizeof(code));
	cr_assert_eq(patch_scan(&p, &mem, 0x1000, 0x1000, 64), 5);
	cr_assert_eq(p.patched_insns, 5);
	cr_assert(patch_scanned(&p, 1));
	cr_assert_not(patch_scanned(&p, 2));
	for (unsigned a = 0x1000; a < 0x1000 + sizeof(code); a++) {
		bool want = a == 0x1000 || a == 0x1003 || a == 0x1008 || a == 0x100d || a == 0x1012;

		cr_assert_eq(patch_at(&p, a), want, "patch at %#x: %d, want %d", a, patch_at(&p, a), want);
		cr_assert_eq(ram[1][a - 0x1000] == PATCH_BYTE, want, "byte at %#x is %#x", a, ram[1][a - 0x1000]);
	}
	cr_assert(patch_seen(&p, 0x100d));
	cr_assert_not(patch_seen(&p, 0x1015));
	cr_assert_not(patch_seen(&p, 0x1001));      /* inside an instruction */
	/* ombra's reads see the guest's own bytes */
	memcpy(back, ram[1], sizeof(back));
	patch_overlay(&p, 0x1000, back, sizeof(back));
	cr_assert_arr_eq(back, code, sizeof(code));
	/* a second scan from a seen address patches nothing more */
	cr_assert_eq(patch_scan(&p, &mem, 0x1008, 0x1008, 64), 0);
	cr_assert_eq(p.frames_scanned, 1);
}

Test(patch, a_write_undoes_the_frame)
{
	static const uint8_t code[] = { 0x0f, 0x02, 0xc1, 0xc3 };   /* lar eax, ecx; ret */

	put(0x2000, code, sizeof(code));
	cr_assert_eq(patch_scan(&p, &mem, 0x2000, 0x2000, 64), 1);
	cr_assert_eq(ram[2][0], PATCH_BYTE);
	patch_unscan(&p, &mem, 2);
	cr_assert_arr_eq(ram[2], code, sizeof(code));
	cr_assert_not(patch_scanned(&p, 2));
	cr_assert_not(patch_at(&p, 0x2000));
	cr_assert_eq(p.code_writes, 1);
	/* scanned again, patched again */
	cr_assert_eq(patch_scan(&p, &mem, 0x2000, 0x2000, 64), 1);
	cr_assert_eq(p.frames_scanned, 2);
}

Test(patch, transfers_out_of_the_frame_are_left_pending)
{
	static const uint8_t code[] = {
		0xe8, 0xfb, 0x0f, 0x00, 0x00,   /* 0x1000 call 0x2000 */
		0xff, 0xe0,                     /* 0x1005 jmp rax: the end of what is known */
	};
	static const uint8_t tail[] = { 0x90, 0x90, 0x90, 0x90 };   /* 0x1ffc: runs off the end */

	put(0x1000, code, sizeof(code));
	put(0x1ffc, tail, sizeof(tail));
	cr_assert_eq(patch_scan(&p, &mem, 0x1000, 0x1000, 64), 0);
	cr_assert_eq(p.npending, 1);
	cr_assert_eq(p.pending[0], 0x2000);
	p.npending = 0;
	cr_assert_eq(patch_scan(&p, &mem, 0x1ffc, 0x1ffc, 64), 0);
	cr_assert_eq(p.npending, 1);
	cr_assert_eq(p.pending[0], 0x2000);         /* fall-through into the next frame */
}

Test(patch, an_instruction_across_the_frame_end)
{
	/* LAR at 0x1ffe: 0f 02 here, its ModRM byte in the next frame */
	ram[1][0xffe] = 0x0f;
	ram[1][0xfff] = 0x02;
	ram[2][0] = 0xc1;
	ram[2][1] = 0xc3;
	cr_assert_eq(patch_scan(&p, &mem, 0x1ffe, 0x1ffe, 64), 1);
	cr_assert(patch_at(&p, 0x1ffe));
	cr_assert_eq(ram[2][0], 0xc1);              /* only its first byte changes */
	cr_assert_eq(p.npending, 1);
	cr_assert_eq(p.pending[0], 0x2001);
}

Test(patch, data_after_an_unconditional_jump_is_left_alone)
{
	static const uint8_t code[] = {
		0xeb, 0x03,                     /* 0x1000 jmp 0x1005 */
		0x0f, 0x00, 0xe0,               /* 0x1002 data that decodes as verr ax */
		0x8c, 0xc8,                     /* 0x1005 mov eax, cs  patched */
		0xc3,
	};

	put(0x1000, code, sizeof(code));
	cr_assert_eq(patch_scan(&p, &mem, 0x1000, 0x1000, 64), 1);
	cr_assert_eq(ram[1][2], 0x0f);
	cr_assert(patch_at(&p, 0x1005));
}

Test(patch, thirty_two_bit_code)
{
	/* In 32-bit mode 48 is DEC EAX, not REX.W: the MOV after it is still
	 * reached, at 0x1001. */
	static const uint8_t code[] = { 0x48, 0x8c, 0xd0, 0xc3 };

	put(0x1000, code, sizeof(code));
	cr_assert_eq(patch_scan(&p, &mem, 0x1000, 0x1000, 32), 1);
	cr_assert(patch_at(&p, 0x1001));
	cr_assert_not(patch_at(&p, 0x1000));
	cr_assert_eq(patch_insn_len(&p, code, sizeof(code), 0x1000, 64), 3);   /* REX.W mov rax, ss */
	cr_assert_eq(patch_insn_len(&p, code, sizeof(code), 0x1000, 32), 1);
}
