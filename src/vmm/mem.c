/*
 * Guest memory as memslots: the slot table, the PC layout, GPA -> HVA.
 *
 * Who calls it: the VM setup (mem_layout_pc), the loader (mem_write), the
 * devices and run loop (mem_gpa_to_hva), and later the shadow MMU (every fill
 * goes GPA -> memslot -> HVA -> MPA).  The hypervisor registration is a hook
 * (mem_set_commit), so everything here also runs in unit tests without KVM.
 */
#include "mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void mem_init(struct guest_mem *m)
{
	memset(m, 0, sizeof(*m));
}

void mem_set_commit(struct guest_mem *m, mem_commit_fn fn, void *opaque)
{
	m->commit = fn;
	m->commit_opaque = opaque;
}

static uint8_t *map_anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int mem_slot_add(struct guest_mem *m, uint64_t gpa, uint64_t size, struct memslot **out)
{
	struct memslot *free_slot = NULL;
	uint32_t i;
	int r;

	if (size == 0 || (gpa | size) & (MEM_PAGE_SIZE - 1) || gpa + size < gpa)
		return -EINVAL;
	for (i = 0; i < MEM_MAX_SLOTS; i++) {
		struct memslot *s = &m->slots[i];

		if (!s->used) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (overlaps(gpa, size, s->gpa, s->size))
			return -EEXIST;
	}
	if (!free_slot)
		return -ENOSPC;

	free_slot->hva = map_anon(size);
	if (!free_slot->hva)
		return -ENOMEM;
	free_slot->used = true;
	free_slot->id = (uint32_t)(free_slot - m->slots);
	free_slot->gpa = gpa;
	free_slot->size = size;
	free_slot->mpa = gpa + m->mpa_offset;
	free_slot->flags = 0;
	free_slot->moves = 0;
	if (m->commit) {
		r = m->commit(m->commit_opaque, free_slot, false);
		if (r < 0) {
			munmap(free_slot->hva, size);
			memset(free_slot, 0, sizeof(*free_slot));
			return r;
		}
	}
	if (out)
		*out = free_slot;
	return 0;
}

/*
 * The pages move with the mapping (mremap), not copied: a guest that asks
 * for moves in a loop (the test device, hostile case moveflood) costs
 * ombra neither a second copy of the slot in RSS nor a copy's time per
 * move, so the peak RSS bound holds and a stop is never far away.  The
 * guest sees the same memory at the same GPAs; KVM and the shadow MMU see
 * a new HVA, which is the point.
 */
int mem_slot_move(struct guest_mem *m, struct memslot *slot)
{
	uint8_t *old = slot->hva, *fresh;
	void *p;
	int r;

	if (!slot->used)
		return -EINVAL;
	/* An address of our own to move to, reserved by an inaccessible mapping
	 * that the move replaces. */
	p = mmap(NULL, slot->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	fresh = p;
	/* KVM cannot change a slot's HVA in place: remove the slot as it was,
	 * then add it with the new mapping. */
	if (m->commit) {
		r = m->commit(m->commit_opaque, slot, true);
		if (r < 0) {
			munmap(fresh, slot->size);
			return r;
		}
	}
	if (mremap(old, slot->size, slot->size, MREMAP_MAYMOVE | MREMAP_FIXED, fresh) == MAP_FAILED) {
		r = -errno;
		munmap(fresh, slot->size);
		if (m->commit)
			m->commit(m->commit_opaque, slot, false);
		return r;
	}
	slot->hva = fresh;
	if (m->commit) {
		r = m->commit(m->commit_opaque, slot, false);
		if (r < 0) {
			/* Back where it was, as it was. */
			if (mremap(fresh, slot->size, slot->size, MREMAP_MAYMOVE | MREMAP_FIXED, old) != MAP_FAILED)
				slot->hva = old;
			m->commit(m->commit_opaque, slot, false);
			return r;
		}
	}
	slot->moves++;
	return 0;
}

int mem_remap(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	struct memslot *s = mem_find(m, gpa);
	uint8_t *hva, *copy;

	if (!s || len == 0 || (gpa | len) & (MEM_PAGE_SIZE - 1) || len > s->size - (gpa - s->gpa))
		return -EINVAL;
	hva = s->hva + (gpa - s->gpa);
	copy = map_anon(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, hva, len);
	if (mmap(hva, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		 -1, 0) == MAP_FAILED) {
		munmap(copy, len);
		return -ENOMEM;
	}
	memcpy(hva, copy, len);
	munmap(copy, len);
	return 0;
}

int mem_slot_delete(struct guest_mem *m, struct memslot *slot)
{
	int r;

	if (!slot->used)
		return -EINVAL;
	if (m->commit) {
		r = m->commit(m->commit_opaque, slot, true);
		if (r < 0)
			return r;
	}
	munmap(slot->hva, slot->size);
	memset(slot, 0, sizeof(*slot));
	return 0;
}

int mem_layout_pc(struct guest_mem *m, uint64_t ram_size)
{
	uint64_t below_4g, above_4g;
	int r;

	/* Like QEMU, RAM needs at least the first megabyte to exist. */
	if (ram_size < 2 * MEM_HIGH_START || ram_size & (MEM_PAGE_SIZE - 1))
		return -EINVAL;
	below_4g = ram_size < MEM_HOLE_START ? ram_size : MEM_HOLE_START;
	above_4g = ram_size - below_4g;

	/* 640 KiB .. 1 MiB is the VGA window and the BIOS: counted in the size
	 * (as QEMU does), but not RAM the guest can see. */
	struct memslot *made[3] = { NULL, NULL, NULL };

	r = mem_slot_add(m, 0, MEM_LOW_END, &made[0]);
	if (r == 0)
		r = mem_slot_add(m, MEM_HIGH_START, below_4g - MEM_HIGH_START, &made[1]);
	if (r == 0 && above_4g)
		r = mem_slot_add(m, MEM_4G, above_4g, &made[2]);
	if (r < 0) {
		/* All or nothing: undo what was made, newest first. */
		for (int i = 2; i >= 0; i--)
			if (made[i])
				mem_slot_delete(m, made[i]);
		return r;
	}
	m->ram_size = ram_size;
	return 0;
}

struct memslot *mem_find(const struct guest_mem *m, uint64_t gpa)
{
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++) {
		const struct memslot *s = &m->slots[i];

		if (s->used && gpa >= s->gpa && gpa - s->gpa < s->size)
			return (struct memslot *)s;
	}
	return NULL;
}

void *mem_gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	struct memslot *s = mem_find(m, gpa);

	if (!s || len > s->size - (gpa - s->gpa))
		return NULL;
	return s->hva + (gpa - s->gpa);
}

uint64_t mem_gpa_to_mpa(const struct guest_mem *m, uint64_t gpa)
{
	struct memslot *s = mem_find(m, gpa);

	return s ? s->mpa + (gpa - s->gpa) : (uint64_t)-1;
}

static int mem_copy(const struct guest_mem *m, uint64_t gpa, void *buf, size_t len, bool write)
{
	uint8_t *p = buf;

	while (len) {
		struct memslot *s = mem_find(m, gpa);
		uint64_t off, chunk;

		if (!s)
			return -EFAULT;
		off = gpa - s->gpa;
		chunk = s->size - off < len ? s->size - off : len;
		if (write)
			memcpy(s->hva + off, p, chunk);
		else
			memcpy(p, s->hva + off, chunk);
		p += chunk;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

int mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	return mem_copy(m, gpa, (void *)src, len, true);
}

int mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len)
{
	return mem_copy(m, gpa, dst, len, false);
}

int mem_copy_virt(const struct guest_mem *m, uint64_t gva, void *buf, size_t len, bool write,
		  mem_xlate_fn xlate, void *opaque)
{
	uint8_t *p = buf;

	for (int pass = 0; pass < 2; pass++) {     /* 0: check every page; 1: copy */
		uint64_t a = gva;
		size_t left = len, done = 0;

		while (left) {
			size_t chunk = 4096 - (size_t)(a & 0xfff);
			uint64_t gpa;
			void *hva;

			if (chunk > left)
				chunk = left;
			if (!xlate(opaque, a, &gpa) || !(hva = mem_gpa_to_hva(m, gpa, chunk)))
				return -EFAULT;
			if (pass == 1) {
				if (write)
					memcpy(hva, p + done, chunk);
				else
					memcpy(p + done, hva, chunk);
			}
			a += chunk;
			done += chunk;
			left -= chunk;
		}
	}
	return 0;
}

unsigned mem_slots_sorted(const struct guest_mem *m, const struct memslot *out[MEM_MAX_SLOTS])
{
	unsigned n = 0;

	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++) {
		unsigned k;

		if (!m->slots[i].used)
			continue;
		for (k = n++; k && out[k - 1]->gpa > m->slots[i].gpa; k--)
			out[k] = out[k - 1];
		out[k] = &m->slots[i];
	}
	return n;
}

uint64_t mem_top_below_4g(const struct guest_mem *m)
{
	return m->ram_size < MEM_HOLE_START ? m->ram_size : MEM_HOLE_START;
}

void mem_destroy(struct guest_mem *m)
{
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++) {
		struct memslot *s = &m->slots[i];

		if (s->used)
			munmap(s->hva, s->size);
	}
	memset(m->slots, 0, sizeof(m->slots));
}

void *walk_gpa_mem(void *opaque, uint64_t gpa, unsigned len)
{
	return mem_gpa_to_hva(opaque, gpa, len);
}
