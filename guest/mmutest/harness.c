/*
 * harness.c: the pieces mmutest cases share (mmutest.h): running a case,
 * entering and leaving an address space, test frames, chains of entries, and
 * the words used in FAIL lines.
 */
#include "mmutest.h"

bool run_case(const char *name, test_fn *fn, const struct pgmode *m, unsigned leaves)
{
	struct tally t;

	pool_reset();
	tally_begin(&t, name);
	fn(&t, m, leaves);
	return tally_end(&t);
}

static uintptr_t enter_fn(uintptr_t m, uintptr_t root, uintptr_t unused)
{
	(void)unused;
	paging_enter((const struct pgmode *)m, (void *)root);
	return 0;
}

bool paging_enter_checked(struct tally *t, const struct pgmode *m, void *root)
{
	char got[32];

	if (!trap_catch(enter_fn, (uintptr_t)m, (uintptr_t)root, 0, NULL))
		return true;
	paging_leave();
	check_fail(t, "turning on %s paging raised %s", m->name,
		   outcome_name(true, &trap_last, got, sizeof(got)));
	return false;
}

bool ctx_enter(struct ctx *c, struct tally *t, const struct pgmode *m)
{
	c->m = m;
	c->root = pt_new_address_space(m);
	return paging_enter_checked(t, m, c->root);
}

bool read_u32(struct tally *t, uint64_t va, uint32_t *v, const char *what)
{
	struct fault f;
	char got[32];

	if (access_run(ACCESS_READ, false, va, 0, v, &f))
		return true;
	check_fail(t, "%s: the read raised %s", what, outcome_name(true, &f, got, sizeof(got)));
	return false;
}

bool write_u32(struct tally *t, uint64_t va, uint32_t v, const char *what)
{
	struct fault f;
	char got[32];

	if (access_run(ACCESS_WRITE, false, va, v, NULL, &f))
		return true;
	check_fail(t, "%s: the write raised %s", what, outcome_name(true, &f, got, sizeof(got)));
	return false;
}

void ctx_leave(struct ctx *c)
{
	(void)c;
	paging_leave();
}

uint64_t test_frame(uint32_t value)
{
	uint8_t *p = page_alloc();

	p[0] = RET_INSN;
	*frame_word((uintptr_t)p, DATA_OFF) = value;
	return (uintptr_t)p;
}

void chain_build(struct chain *c, const struct pgmode *m, void *root, unsigned slot,
		 unsigned leaf, uint64_t frame)
{
	uint64_t size = pg_size(m, leaf);

	c->m = m;
	c->leaf = leaf;
	c->top = m->pae_pdpt ? m->levels - 1 : m->levels;
	c->va = pt_slot_va(m, slot) + (frame & (size - 1));
	pt_map(m, root, c->va, frame & ~(size - 1), leaf, PTE_P | PTE_W | PTE_U);
	for (unsigned l = leaf; l <= c->top; l++) {
		c->entry[l] = pt_walk(m, root, c->va, l, false);
		c->base[l] = pte_get(m, c->entry[l]) & ~(PTE_PERM | PTE_A | PTE_D);
	}
}

void chain_set(const struct chain *c, unsigned level, uint64_t bits)
{
	for (unsigned l = c->leaf; l <= c->top; l++)
		pte_set(c->m, c->entry[l], c->base[l] | (l == level ? bits : PTE_P | PTE_W | PTE_U));
	invlpg(c->va);
}

const char *page_size_name(const struct pgmode *m, unsigned level)
{
	switch (m->shift[level]) {
	case 12: return "4K";
	case 21: return "2M";
	case 22: return "4M";
	case 30: return "1G";
	}
	return "?";
}

const char *perm_bits_name(uint64_t v, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s", v & PTE_P ? "+P" : "", v & PTE_W ? "+W" : "",
		 v & PTE_U ? "+U" : "", v & PTE_NX ? "+NX" : "");
	return buf[0] ? buf + 1 : "none";
}

const char *outcome_name(bool faulted, const struct fault *f, char *buf, size_t size)
{
	static const char *const names[32] = {
		[0] = "#DE", [1] = "#DB", [3] = "#BP", [6] = "#UD", [8] = "#DF",
		[13] = "#GP", [14] = "#PF", [17] = "#AC",
	};

	if (!faulted)
		snprintf(buf, size, "no fault");
	else if (f->vector == VEC_PF)
		snprintf(buf, size, "#PF err %#x", f->error);
	else if (f->vector < 32 && names[f->vector])
		snprintf(buf, size, "%s", names[f->vector]);
	else
		snprintf(buf, size, "vector %u", f->vector);
	return buf;
}

uint64_t subtree_build(const struct pgmode *m, uint64_t va, unsigned level, uint64_t pa)
{
	uint8_t *table;
	unsigned index;

	if (level == 1)
		return pa | PTE_P | PTE_W | PTE_U;
	table = page_alloc();
	index = (unsigned)(va >> m->shift[level - 1]) & ((1u << m->index_bits[level - 1]) - 1);
	pte_set(m, table + index * m->entry_bytes, subtree_build(m, va, level - 1, pa));
	return (uintptr_t)table | PTE_P | PTE_W | PTE_U;
}
