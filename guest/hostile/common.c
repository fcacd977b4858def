/*
 * common.c: what the hostile cases share (hostile.h): the address space they
 * start from, the random generator, digests, probes and running raw
 * instruction bytes at ring 0 or ring 3.
 */
#include "hostile.h"

const struct pgmode *const pm = &pgmode_4level;

void *space_enter(uint64_t end)
{
	void *root = pt_alloc_root(pm);

	pt_map_identity(pm, root, end);
	write_cr4(read_cr4() & ~(unsigned long)CR4_PGE);
	paging_enter(pm, root);
	return root;
}

uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

uint64_t digest_add(uint64_t h, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

struct outcome probe(enum access_op op, bool user, uint64_t va, uint32_t wval)
{
	struct outcome o = { 0 };

	o.ok = access_run(op, user, va, wval, &o.value, &o.f);
	return o;
}

uint64_t digest_outcome(uint64_t h, const struct outcome *o)
{
	uint32_t error;

	if (o->ok)
		return digest_add(h, o->value);
	/* A reserved-bit fault's P bit: QEMU's TCG leaves it clear, CPUs and
	 * KVM set it (guest/mmutest/model.h); the digest ignores it. */
	error = o->f.error;
	if (o->f.vector == VEC_PF && (error & PFERR_RSVD))
		error &= ~PFERR_P;
	h = digest_add(h, ((uint64_t)o->f.vector << 32) | error);
	return digest_add(h, o->f.vector == VEC_PF ? o->f.cr2 : o->f.ip);
}

/* Where run_bytes() puts code: a page of its own in the identity map. */
uint8_t hostile_code_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static uintptr_t call_code(uintptr_t entry, uintptr_t unused1, uintptr_t unused2)
{
	(void)unused1, (void)unused2;
	return ((uintptr_t (*)(void))entry)();
}

bool run_bytes(const uint8_t *code, unsigned len, bool user, struct fault *f)
{
	uintptr_t rax = 0;

	memcpy(hostile_code_page, code, len);
	if (!user) {
		hostile_code_page[len] = 0xc3; /* ret */
		barrier();
		if (trap_catch(call_code, (uintptr_t)hostile_code_page, 0, 0, &rax)) {
			*f = trap_last;
			return false;
		}
		memset(f, 0, sizeof(*f));
		f->ax = rax;
		return true;
	}
	hostile_code_page[len] = 0x0f, hostile_code_page[len + 1] = 0x0b; /* ud2 */
	barrier();
	trap_catch(user_enter, (uintptr_t)hostile_code_page, 0, 0, NULL);
	*f = trap_last;
	return f->vector == VEC_UD && f->user && f->ip == (uintptr_t)hostile_code_page + len;
}

const char *fault_name(bool ok, const struct fault *f, char *buf, size_t size)
{
	if (ok)
		snprintf(buf, size, "ok");
	else if (f->vector == VEC_PF)
		snprintf(buf, size, "#PF(%#x cr2 %#llx)", f->error, (unsigned long long)f->cr2);
	else
		snprintf(buf, size, "vector %u(%#x) at %#llx", f->vector, f->error,
			 (unsigned long long)f->ip);
	return buf;
}

unsigned cpu_maxphyaddr(void)
{
	uint32_t a, b, c, d;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u), "c"(0));
	if (a < 0x80000008u)
		return 36;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000008u), "c"(0));
	return a & 0xff;
}

/* --- the reference walk ------------------------------------------------------ */

uint64_t phys_read64(uint64_t pa)
{
	return pa + 8 <= boot.ram_end ? *(volatile uint64_t *)phys_ptr(pa) : 0;
}

uint32_t phys_read32(uint64_t pa)
{
	return pa + 4 <= boot.ram_end ? *(volatile uint32_t *)phys_ptr(pa) : 0;
}

static uint64_t rsvd_addr_bits; /* bits MAXPHYADDR..51 */

void ref_init(void)
{
	rsvd_addr_bits = ((1ull << 52) - 1) & ~((1ull << cpu_maxphyaddr()) - 1);
}

/* The 4-level walk of va for op at ring 0 or 3, with CR0.WP and EFER.NXE
 * set, CR4.PSE/SMEP/SMAP/PKE clear, MAXPHYADDR below 52, no 1 GiB pages. */
struct ref ref_walk(uint64_t cr3, uint64_t va, enum access_op op, bool user)
{
	uint32_t acc = (op == ACCESS_WRITE ? PFERR_W : 0) | (user ? PFERR_U : 0) |
		       (op == ACCESS_FETCH ? PFERR_I : 0);
	uint64_t table = cr3 & 0x000ffffffffff000ull, e = 0;
	bool w = true, u = true, nx = false;
	struct ref r = { 0 };
	unsigned level;

	for (level = 4; level >= 1; level--) {
		uint64_t rsvd = rsvd_addr_bits;
		bool large = false;

		e = phys_read64(table + 8 * ((va >> (12 + 9 * (level - 1))) & 511));
		if (!(e & PTE_P)) {
			r.fault = true;
			r.error = acc;
			return r;
		}
		if (level == 4)
			rsvd |= PTE_PS;
		if (level == 2 && (e & PTE_PS)) {
			large = true;
			rsvd |= 0xffull << 13;
		}
		if (e & rsvd) {
			r.fault = true;
			r.error = acc | PFERR_RSVD;
			return r;
		}
		w = w && (e & PTE_W);
		u = u && (e & PTE_U);
		nx = nx || (e & PTE_NX);
		if (large) {
			r.pa = (e & 0x000fffffffe00000ull) | (va & 0x1fffff);
			break;
		}
		table = e & 0x000ffffffffff000ull;
		if (level == 1)
			r.pa = table | (va & 0xfff);
	}
	if ((user && !u) || (op == ACCESS_WRITE && !w) || (op == ACCESS_FETCH && nx)) {
		r.fault = true;
		r.error = acc | PFERR_P;
	}
	return r;
}

static void expect(struct tally *t, uint64_t cr3, uint64_t va, enum access_op op, bool user,
		   const struct outcome *o)
{
	struct ref r = ref_walk(cr3, va, op, user);
	uint32_t got_error = o->f.error;
	char got[64];

	if (o->f.vector == VEC_PF && (got_error & PFERR_RSVD))
		got_error &= ~PFERR_P;
	if (r.fault) {
		if (!o->ok && o->f.vector == VEC_PF && got_error == r.error && o->f.cr2 == va) {
			check_pass(t);
			return;
		}
		check_fail(t, "ring %u %s at %#llx: want #PF(%#x), got %s", user * 3, access_names[op],
			   (unsigned long long)va, r.error, fault_name(o->ok, &o->f, got, sizeof(got)));
		return;
	}
	if (o->ok && (op != ACCESS_READ || o->value == phys_read32(r.pa))) {
		check_pass(t);
		return;
	}
	check_fail(t, "ring %u %s at %#llx (pa %#llx): want %#x, got %s %#x", user * 3,
		   access_names[op], (unsigned long long)va, (unsigned long long)r.pa,
		   op == ACCESS_READ ? phys_read32(r.pa) : 0, fault_name(o->ok, &o->f, got, sizeof(got)),
		   o->value);
}

/* Read, write back what was read, and fetch where that is safe (h_randpt.c). */
void probe_all(struct tally *t, uint64_t cr3, uint64_t va, uint64_t *h, unsigned *faults,
	       unsigned *done)
{
	for (unsigned user = 0; user < 2; user++) {
		struct outcome rd = probe(ACCESS_READ, user, va, 0), wr, fe;

		expect(t, cr3, va, ACCESS_READ, user, &rd);
		wr = probe(ACCESS_WRITE, user, va, rd.ok ? rd.value : 0);
		expect(t, cr3, va, ACCESS_WRITE, user, &wr);
		*h = digest_outcome(digest_outcome(*h, &rd), &wr);
		*faults += !rd.ok + !wr.ok;
		*done += 2;
		if (!rd.ok || (rd.value & 0xff) == 0xc3) {
			fe = probe(ACCESS_FETCH, user, va, 0);
			expect(t, cr3, va, ACCESS_FETCH, user, &fe);
			*h = digest_outcome(*h, &fe);
			*faults += !fe.ok;
			(*done)++;
		}
	}
}
