/*
 * h_straddle.c: cases straddle and smc.
 *
 * straddle: instructions that begin at the end of one page and end on the
 * next, at ring 0 and ring 3, with the next page mapped and not mapped.
 * Not mapped: a #PF for the fetch (I/D set, CR2 = the next page), whatever
 * the instruction, privileged or not, since the CPU fetches it whole before
 * it looks at it.  Mapped: the instruction does what it does (ring 0 reads
 * CR0, loads CR3) or raises its own #GP (ring 3).  In shadow mode a
 * privileged one is emulated by ombra, which must read its bytes across
 * the two pages through the guest's tables.  Also: 16 bytes of instruction
 * (15 prefixes), #GP(0) wherever it sits.
 *
 * smc: code rewritten after it ran.  A page holds "mov rax, crN; ret"; the
 * kernel runs it (in shadow mode: ombra decodes and emulates it), then
 * rewrites it, through the same and through another virtual address, to
 * read another register or to be an ordinary instruction, and runs it
 * again; one variant rewrites its own next instruction just before it.
 * Every run must do what the bytes say now.
 */
#include "hostile.h"

struct split {
	const char *name;
	uint8_t len, bytes[16];
	bool ring0_only;
	bool ring3_only;  /* wrmsr: what MSR 0 does at ring 0 differs by machine */
};

static const struct split splits[] = {
	{ "mov eax, imm32", 5, { 0xb8, 0x78, 0x56, 0x34, 0x12 }, false, false },
	{ "mov rax, cr0", 3, { 0x0f, 0x20, 0xc0 }, false, false },
	{ "mov rax, cr4", 3, { 0x0f, 0x20, 0xe0 }, false, false },
	{ "wrmsr", 2, { 0x0f, 0x30 }, false, true },
	{ "mov cr3, rbx", 3, { 0x0f, 0x22, 0xdb }, true, false },
};

static uintptr_t call_at(uintptr_t entry, uintptr_t rbx, uintptr_t unused)
{
	uintptr_t rax;

	(void)unused;
	__asm__ volatile("call *%1" : "=a"(rax) : "r"(entry), "b"(rbx) : "memory", "cc", "rcx", "rdx",
			 "rsi", "rdi", "r8", "r9", "r10", "r11");
	return rax;
}

void h_straddle(struct tally *t, uint32_t arg)
{
	uint64_t *root, va, h = DIGEST_INIT;
	uint8_t *p0, *p1;
	char got[64];

	(void)arg;
	root = space_enter(boot.pool_end);
	cpu_set_nxe(true);
	p0 = page_alloc(), p1 = page_alloc();
	va = pt_slot_va(pm, 0);
	pt_map(pm, root, va, (uintptr_t)p0, 1, PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);

	for (unsigned i = 0; i < ARRAY_SIZE(splits); i++) {
		const struct split *s = &splits[i];

		for (unsigned cut = 1; cut < s->len; cut++)
			for (unsigned mapped = 0; mapped < 2; mapped++)
				for (unsigned user = 0; user < 2; user++) {
					uint64_t at = va + PAGE_SIZE - cut;
					uintptr_t rax = 0;
					struct fault f = { 0 };
					bool ran, want_run;
					unsigned want_vec;

					/* QEMU's TCG raises a privileged opcode's #GP
					 * before it fetches a ModRM byte on an unmapped
					 * page; a CPU fetches the whole instruction
					 * first (SDM vol. 3, table 6-2): only cuts
					 * that leave opcode bytes unfetched are tried. */
					if (user && (s->ring0_only || (i > 0 && cut > 1 && !mapped)))
						continue;
					if (!user && s->ring3_only && mapped)
						continue;
					memcpy(p0 + PAGE_SIZE - cut, s->bytes, cut);
					memcpy(p1, s->bytes + cut, s->len - cut);
					if (user)
						p1[s->len - cut] = 0x0f, p1[s->len - cut + 1] = 0x0b;
					else
						p1[s->len - cut] = 0xc3;
					if (mapped)
						pt_map(pm, root, va + PAGE_SIZE, (uintptr_t)p1, 1,
						       PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
					else
						*(uint64_t *)pt_walk(pm, root, va + PAGE_SIZE, 1, true) = 0;
					invlpg(va);
					invlpg(va + PAGE_SIZE);
					if (user) {
						trap_catch(user_enter, at, 0, 0, NULL);
						f = trap_last;
						ran = f.vector == VEC_UD && f.ip == va + PAGE_SIZE + s->len - cut;
					} else {
						ran = !trap_catch(call_at, at, (uintptr_t)root, 0, &rax);
						f = trap_last;
					}
					/* what the manual says */
					want_run = mapped && (!user || i == 0) && i != 3;
					want_vec = !mapped ? VEC_PF : VEC_GP;
					if (want_run) {
						bool value_ok = i == 0 ? (uint32_t)(user ? f.ax : rax) == 0x12345678
								: i == 1 ? rax == read_cr0()
								: i == 2 ? rax == read_cr4() : true;

						check(t, ran && value_ok, "%s cut after %u byte(s), ring %u, next page mapped: want it to run, got %s rax %#llx",
						      s->name, cut, user * 3, fault_name(ran, &f, got, sizeof(got)),
						      (unsigned long long)(user ? f.ax : rax));
					} else if (want_vec == VEC_PF) {
						uint32_t err = PFERR_I | (user ? PFERR_U : 0);

						check(t, !ran && f.vector == VEC_PF && f.error == err &&
							 f.cr2 == va + PAGE_SIZE && f.ip == at,
						      "%s cut after %u byte(s), ring %u, next page unmapped: want #PF(%#x) cr2 %#llx at %#llx, got %s",
						      s->name, cut, user * 3, err, (unsigned long long)(va + PAGE_SIZE),
						      (unsigned long long)at, fault_name(ran, &f, got, sizeof(got)));
					} else {
						/* privileged at ring 3 */
						check(t, !ran && f.vector == VEC_GP && f.error == 0 && f.ip == at,
						      "%s cut after %u byte(s), ring %u, next page mapped: want #GP(0) at %#llx, got %s",
						      s->name, cut, user * 3, (unsigned long long)at,
						      fault_name(ran, &f, got, sizeof(got)));
					}
					h = digest_add(h, ran ? 1 : ((uint64_t)f.vector << 32) | f.error);
				}
	}

	/* 16 bytes: 15 operand-size prefixes and a nop, at ring 0 and ring 3. */
	{
		uint8_t longest[16];
		struct fault f;

		memset(longest, 0x66, 15);
		longest[15] = 0x90;
		for (unsigned user = 0; user < 2; user++) {
			bool ran = run_bytes(longest, 16, user, &f);

			check(t, !ran && f.vector == VEC_GP && f.error == 0 &&
				 f.ip == (uintptr_t)hostile_code_page,
			      "16-byte instruction at ring %u: want #GP(0), got %s", user * 3,
			      fault_name(ran, &f, got, sizeof(got)));
			h = digest_add(h, ran ? 1 : ((uint64_t)f.vector << 32) | f.error);
		}
	}
	printf("straddle: digest %#llx\n", (unsigned long long)h);
	cpu_set_nxe(false);
	paging_leave();
}

static uintptr_t call_plain(uintptr_t entry, uintptr_t unused1, uintptr_t unused2)
{
	(void)unused1, (void)unused2;
	return ((uintptr_t (*)(void))entry)();
}

void h_smc(struct tally *t, uint32_t arg)
{
	static const uint8_t reg_byte[3] = { 0xc0, 0xe0, 0xd8 }; /* cr0, cr4, cr3 */
	uint64_t *root, xva, wva;
	uint8_t *page;
	char got[64];

	(void)arg;
	root = space_enter(boot.pool_end);
	page = page_alloc();
	xva = pt_slot_va(pm, 0);            /* where the code runs */
	wva = pt_slot_va(pm, 1);            /* another address for the same page */
	pt_map(pm, root, xva, (uintptr_t)page, 1, PTE_P | PTE_W | PTE_A | PTE_D);
	pt_map(pm, root, wva, (uintptr_t)page, 1, PTE_P | PTE_W | PTE_A | PTE_D);
	paging_set_root(root);

	for (unsigned round = 0; round < 64; round++) {
		unsigned k = round % 4;
		volatile uint8_t *w = (volatile uint8_t *)(round & 4 ? wva : xva);
		uintptr_t rax = 0, want;
		bool ran;

		if (k < 3) {                     /* mov rax, crN; ret */
			w[0] = 0x0f, w[1] = 0x20, w[2] = reg_byte[k], w[3] = 0xc3;
			want = k == 0 ? read_cr0() : k == 1 ? read_cr4() : (uintptr_t)root;
		} else {                         /* mov eax, round; ret */
			w[0] = 0xb8, w[1] = (uint8_t)round, w[2] = 0, w[3] = 0, w[4] = 0, w[5] = 0xc3;
			want = round;
		}
		ran = !trap_catch(call_plain, xva, 0, 0, &rax);
		check(t, ran && rax == want, "round %u: want rax %#llx, got %s rax %#llx", round,
		      (unsigned long long)want, fault_name(ran, &trap_last, got, sizeof(got)),
		      (unsigned long long)rax);
	}

	/* An instruction that rewrites the next one: "mov byte [rip+1], 0xe0"
	 * turns the following "mov rax, cr0" into "mov rax, cr4". */
	{
		static const uint8_t code[] = {
			0xc6, 0x05, 0x02, 0x00, 0x00, 0x00, 0xe0, /* mov byte [rip + 2], 0xe0 */
			0x0f, 0x20, 0xc0,                         /* mov rax, cr0 (byte 2 rewritten) */
			0xc3,
		};
		uintptr_t rax = 0;
		bool ran;

		for (unsigned i = 0; i < 2; i++) {
			memcpy(page, code, sizeof(code));
			ran = !trap_catch(call_plain, xva, 0, 0, &rax);
			check(t, ran && rax == read_cr4(), "self-rewriting code: want cr4 %#llx, got %s rax %#llx",
			      (unsigned long long)read_cr4(), fault_name(ran, &trap_last, got, sizeof(got)),
			      (unsigned long long)rax);
		}
	}
	printf("smc: 64 rewrites and runs, and code that rewrites its next instruction\n");
	paging_leave();
}
