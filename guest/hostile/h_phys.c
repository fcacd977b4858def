/*
 * h_phys.c: case phys.  Entries that point where no RAM is: past the end of
 * RAM, into the hole below 4 GiB, above 4 GiB, and at the guest-physical
 * addresses that, in shadow mode, are where ombra's monitor, shadow pool
 * and guest RAM sit in machine memory (MPA 0, 2 MiB and 256 GiB: to the
 * guest they are ordinary addresses, RAM or nothing).
 *
 * For each address, as a 4 KiB leaf and as the page table of a leaf: a
 * read, a write and a read back, at ring 0 and ring 3.  On QEMU's PC,
 * memory nobody answers reads as zero and ignores writes; a page table
 * there is read the same way, so its entries are zero: not present
 * (docs/platform.md; the QEMU TCG run of this case prints exactly that).
 * The case prints every outcome.
 */
#include "hostile.h"

static void show(uint64_t *h, const char *what, const struct outcome *o, bool write)
{
	char buf[64];

	*h = digest_outcome(*h, o);
	if (o->ok && write)
		printf("  %s: done\n", what);
	else if (o->ok)
		printf("  %s: %#x\n", what, o->value);
	else
		printf("  %s: %s\n", what, fault_name(false, &o->f, buf, sizeof(buf)));
}

void h_phys(struct tally *t, uint32_t arg)
{
	const uint64_t targets[] = {
		0x30000000,               /* 768 MiB: past RAM (run with -m 512M) */
		0x3ffff000,               /* just below 1 GiB */
		0xc0000000,               /* the hole below 4 GiB */
		0xdffff000,
		0x100000000ull,           /* 4 GiB */
		0x4000000000ull,          /* 256 GiB */
		0,                        /* guest RAM, for comparison (a pool page) */
	};
	uint64_t h = DIGEST_INIT, slot;
	uint32_t *ram;
	void *root;

	(void)arg;
	root = space_enter(boot.pool_end);
	cpu_set_nxe(true);
	slot = pt_slot_va(pm, 0);
	ram = page_alloc();
	for (unsigned i = 0; i < 1024; i++)
		ram[i] = 0x5a5a0000u + i;
	for (unsigned i = 0; i < ARRAY_SIZE(targets); i++) {
		uint64_t target = targets[i] ? targets[i] : (uintptr_t)ram;

		for (unsigned as_table = 0; as_table < 2; as_table++) {
			uint64_t *pde = pt_walk(pm, root, slot, 2, true);
			struct outcome o;
			char what[64];

			if (as_table)
				*pde = target | PTE_P | PTE_W | PTE_U | PTE_A;
			else
				pt_map(pm, root, slot, target, 1, PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
			invlpg(slot);
			if (targets[i])
				printf("phys %#llx as %s:\n", (unsigned long long)target,
				       as_table ? "page table" : "page");
			else
				printf("phys RAM as %s:\n", as_table ? "page table" : "page");
			for (unsigned user = 0; user < 2; user++) {
				snprintf(what, sizeof(what), "ring %u read", user * 3);
				o = probe(ACCESS_READ, user, slot + 0x10, 0);
				show(&h, what, &o, false);
				snprintf(what, sizeof(what), "ring %u write", user * 3);
				o = probe(ACCESS_WRITE, user, slot + 0x10, 0x600dcafe);
				o.value = 0;
				show(&h, what, &o, true);
				snprintf(what, sizeof(what), "ring %u read back", user * 3);
				o = probe(ACCESS_READ, user, slot + 0x10, 0);
				show(&h, what, &o, false);
			}
			*pde = 0;
			invlpg(slot);
		}
	}
	printf("phys digest %#llx\n", (unsigned long long)h);
	check(t, true, "phys");
	paging_leave();
}

/*
 * Case mmio: instructions other than a plain MOV on memory with nothing
 * behind it (it reads as zero), at ring 0, string instructions too: what
 * the register and the arithmetic flags hold after each.  tdp mode gets these from KVM's
 * instruction emulator, shadow mode from ombra's, QEMU from its own.
 */
struct mmio_op {
	const char *name;
	uint8_t len, bytes[32];
};

static const struct mmio_op mmio_ops[] = {
	{ "mov eax, [rbx]", 2, { 0x8b, 0x03 } },
	{ "mov al, [rbx]", 2, { 0x8a, 0x03 } },
	{ "mov ax, [rbx]", 3, { 0x66, 0x8b, 0x03 } },
	{ "mov rax, [rbx]", 3, { 0x48, 0x8b, 0x03 } },
	{ "mov [rbx], eax", 2, { 0x89, 0x03 } },
	{ "mov dword [rbx], imm", 6, { 0xc7, 0x03, 0x11, 0x22, 0x33, 0x44 } },
	{ "movzx eax, byte [rbx]", 3, { 0x0f, 0xb6, 0x03 } },
	{ "movsx rax, word [rbx]", 4, { 0x48, 0x0f, 0xbf, 0x03 } },
	{ "movsxd rax, [rbx]", 3, { 0x48, 0x63, 0x03 } },
	{ "add eax, [rbx]", 2, { 0x03, 0x03 } },
	{ "add [rbx], eax", 2, { 0x01, 0x03 } },
	{ "sub eax, [rbx]", 2, { 0x2b, 0x03 } },
	{ "sub [rbx], eax", 2, { 0x29, 0x03 } },
	{ "and eax, [rbx]", 2, { 0x23, 0x03 } },
	{ "or eax, [rbx]", 2, { 0x0b, 0x03 } },
	{ "or byte [rbx], 1", 3, { 0x80, 0x0b, 0x01 } },
	{ "xor eax, [rbx]", 2, { 0x33, 0x03 } },
	{ "cmp dword [rbx], 0", 3, { 0x83, 0x3b, 0x00 } },
	{ "cmp eax, [rbx]", 2, { 0x3b, 0x03 } },
	{ "cmp [rbx], eax", 2, { 0x39, 0x03 } },
	{ "test [rbx], eax", 2, { 0x85, 0x03 } },
	{ "xchg [rbx], eax", 2, { 0x87, 0x03 } },
	{ "lock add [rbx], eax", 3, { 0xf0, 0x01, 0x03 } },
	/* mov rdi, rbx; mov ecx, 3; rep stosd; mov rax, rcx */
	{ "rep stosd", 13, { 0x48, 0x89, 0xdf, 0xb9, 3, 0, 0, 0, 0xf3, 0xab, 0x48, 0x89, 0xc8 } },
	/* mov [rsp-64], rax; mov rsi, rbx; lea rdi, [rsp-64]; mov ecx, 5;
	 * rep movsb; mov rax, [rsp-64] */
	{ "rep movsb from it", 25, { 0x48, 0x89, 0x44, 0x24, 0xc0, 0x48, 0x89, 0xde, 0x48, 0x8d, 0x7c,
				     0x24, 0xc0, 0xb9, 5, 0, 0, 0, 0xf3, 0xa4, 0x48, 0x8b, 0x44, 0x24, 0xc0 } },
};

void h_mmio(struct tally *t, uint32_t arg)
{
	const uint64_t va = pt_slot_va(pm, 0) + 0x40, pa = 0xc0000000ull;
	uint64_t *root, h = DIGEST_INIT;
	char got[64];

	(void)arg;
	root = space_enter(boot.pool_end);
	pt_map(pm, root, va & ~0xfffull, pa, 1, PTE_P | PTE_W | PTE_A | PTE_D);
	paging_set_root(root);
	for (unsigned i = 0; i < ARRAY_SIZE(mmio_ops); i++) {
		const struct mmio_op *op = &mmio_ops[i];
		uint64_t out[2];

		/* movabs rbx, va; mov rax, -2 (all bits but CF... in the
		 * low byte); then the op; then RAX, or RFLAGS, into RAX */
		for (unsigned want_flags = 0; want_flags < 2; want_flags++) {
			uint8_t code[64];
			unsigned n = 0;
			struct fault f;
			bool ran;

			code[n++] = 0x48, code[n++] = 0xbb;
			memcpy(code + n, &va, 8), n += 8;
			code[n++] = 0x48, code[n++] = 0xc7, code[n++] = 0xc0;   /* mov rax, imm32 */
			code[n++] = 0x7e, code[n++] = 0xa5, code[n++] = 0x5a, code[n++] = 0xf1;
			memcpy(code + n, op->bytes, op->len), n += op->len;
			if (want_flags) {
				code[n++] = 0x9c;                          /* pushfq */
				code[n++] = 0x58;                          /* pop rax */
				code[n++] = 0x25;                          /* and eax, CF|PF|AF|ZF|SF|OF */
				code[n++] = 0xd5, code[n++] = 0x08, code[n++] = 0, code[n++] = 0;
			}
			ran = run_bytes(code, n, false, &f);
			check(t, ran, "%s: %s", op->name, fault_name(ran, &f, got, sizeof(got)));
			out[want_flags] = ran ? f.ax : ~0ull;
		}
		printf("  %-22s rax %#018llx flags %#llx\n", op->name, (unsigned long long)out[0],
		       (unsigned long long)out[1]);
		h = digest_add(digest_add(h, out[0]), out[1]);
	}
	printf("mmio: %u instructions on memory with nothing behind it, digest %#llx\n",
	       (unsigned)ARRAY_SIZE(mmio_ops), (unsigned long long)h);
	paging_leave();
}
