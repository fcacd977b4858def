/*
 * Guest memory as memslots.
 *
 * A memslot is one contiguous run of guest-physical addresses (GPA) backed by
 * one host mapping of its own (HVA).  The guest's RAM is laid out like a PC's:
 * below 640 KiB, from 1 MiB up to the PCI hole below 4 GiB, and the rest above
 * 4 GiB.  Every slot is a separate mmap(), so GPA != HVA always, and a slot can
 * be added, moved to a new HVA (contents copied) or deleted while the guest
 * runs.
 *
 * Each slot also records the address it is registered at in the machine that
 * KVM runs (its MPA).  In tdp mode MPA == GPA; in shadow mode guest RAM sits at
 * MPAs of its own (DESIGN.md section 1).  Registering with KVM goes through a
 * hook, so this file is pure logic plus mmap and is unit-tested without KVM.
 */
#ifndef OMBRA_MEM_H
#define OMBRA_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEM_MAX_SLOTS    32
#define MEM_PAGE_SIZE    4096ULL

/* The PC layout (the same numbers as QEMU's "pc" machine with a 3 GiB hole). */
#define MEM_LOW_END      0xa0000ULL        /* conventional memory: 640 KiB */
#define MEM_HIGH_START   0x100000ULL       /* extended memory starts at 1 MiB */
#define MEM_HOLE_START   0xc0000000ULL     /* 32-bit PCI/MMIO hole: 3 GiB .. 4 GiB */
#define MEM_4G           0x100000000ULL

struct memslot {
	bool     used;     /* slot in use */
	uint32_t id;       /* KVM slot number */
	uint64_t gpa;      /* first guest-physical address */
	uint64_t size;     /* length in bytes, a page multiple */
	uint8_t *hva;      /* host virtual address of the mapping */
	uint64_t mpa;      /* where KVM sees it (== gpa in tdp mode) */
	uint32_t flags;    /* KVM_MEM_* flags */
	uint64_t moves;    /* how often its HVA was changed */
};

/*
 * Called whenever a slot must be (re)registered with the hypervisor, or
 * removed (remove == true).  Returns 0 or -errno.
 */
typedef int (*mem_commit_fn)(void *opaque, const struct memslot *slot, bool remove);

struct guest_mem {
	struct memslot slots[MEM_MAX_SLOTS]; /* indexed by KVM slot id */
	uint64_t ram_size;                   /* bytes of RAM the guest was given */
	uint64_t mpa_offset;                 /* MPA = GPA + mpa_offset for RAM */
	mem_commit_fn commit;                /* register with KVM; NULL: not yet */
	void *commit_opaque;
};

void mem_init(struct guest_mem *m);
void mem_set_commit(struct guest_mem *m, mem_commit_fn fn, void *opaque);

/* Lay out ram_size bytes of RAM as a PC does.  Returns 0 or -errno. */
int mem_layout_pc(struct guest_mem *m, uint64_t ram_size);

/* Add a slot of size bytes at gpa, with fresh zeroed memory. */
int mem_slot_add(struct guest_mem *m, uint64_t gpa, uint64_t size, struct memslot **out);
/* Give a slot a new HVA: its pages move there (mremap), the old HVA is unmapped, and the
 * slot is registered again. */
int mem_slot_move(struct guest_mem *m, struct memslot *slot);
/* Give [gpa, gpa+len) (page aligned, inside one slot) fresh host pages at
 * the same HVA, contents copied: what the host does when it migrates or
 * swaps a page, and what KVM learns of through its MMU notifier. */
int mem_remap(struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Remove a slot from the guest and free its memory. */
int mem_slot_delete(struct guest_mem *m, struct memslot *slot);

/* The slot holding gpa, or NULL (a hole: MMIO or nothing). */
struct memslot *mem_find(const struct guest_mem *m, uint64_t gpa);
/* Host pointer for [gpa, gpa+len) if it lies inside one slot, else NULL. */
void *mem_gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* The same as a walk_gpa_fn (x86/walk.h), opaque being the guest_mem: the
 * walker reads the guest's tables through the memslots. */
void *walk_gpa_mem(void *opaque, uint64_t gpa, unsigned len);
/* MPA for gpa, or (uint64_t)-1 when no slot backs it. */
uint64_t mem_gpa_to_mpa(const struct guest_mem *m, uint64_t gpa);

/* Copy to/from guest memory; the range may span slots but not holes.  0, or
 * -EFAULT at a hole (bytes before the hole have been copied). */
int mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len);
int mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len);

/*
 * Copy len bytes between buf and guest-virtual memory at gva, page by page
 * through xlate (the mode's GVA -> GPA translation; false: not mapped), all
 * of it translated and found in RAM before a byte is written.  0, or
 * -EFAULT (nothing written).  For the gdbstub, in both modes.
 */
typedef bool (*mem_xlate_fn)(void *opaque, uint64_t gva, uint64_t *gpa);
int mem_copy_virt(const struct guest_mem *m, uint64_t gva, void *buf, size_t len, bool write,
		  mem_xlate_fn xlate, void *opaque);

/* The slots in use, in address order (a loader's memory map); how many. */
unsigned mem_slots_sorted(const struct guest_mem *m, const struct memslot *out[MEM_MAX_SLOTS]);

/* The end of RAM below 4 GiB (for multiboot mem_upper). */
uint64_t mem_top_below_4g(const struct guest_mem *m);

void mem_destroy(struct guest_mem *m);

#endif
