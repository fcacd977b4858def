/*
 * The monitor's layout: where its pieces sit in machine memory (MPA) and in
 * the virtual range every shadow root reserves for it.  monitor.asm has the
 * same numbers (it cannot include C); a unit test checks that the two
 * agree by reading the assembled blob.
 *
 * The monitor region is one memslot of 2 MiB at MPA 0, mapped supervisor-
 * only in one PML4 slot of every shadow root, the monitor's slot:
 * MON_SLOT (256, 0xffff800000000000: the start of the range Linux leaves
 * to a hypervisor, so a higher-half kernel keeps slot 511), or on kvm_pvm,
 * where CPL-3 code cannot reach the upper half anyway, MON_SLOT_PVM (511,
 * where the monitor has always run there).  Its code is position-
 * independent; everything below is an offset from mon_va(slot):
 *
 *   0x000000  vector stubs: 256 x 8 bytes, stub v is "out v, al; ud2"
 *   0x000800  resume stubs: iretq; load CR3 then iretq; INVLPG then iretq;
 *             and the full one: rewrite changed shadow entries, then
 *             load CR3 or INVLPG, then iretq
 *   0x001000  mailbox: the registers a resume stub borrows, its action,
 *             and the list of shadow entries it rewrites
 *   0x002000  IDT, 256 16-byte gates
 *   0x003000  TSS (64-bit), IST1 = MON_STACK_TOP
 *   0x004000  the trap stack, 16 KiB; every vector uses IST1, so the frame
 *             the CPU pushes is always at the same place
 *   0x010000  GDT, 64 KiB (8192 descriptors): the monitor's own at the
 *             very top; below them empty slots, except the guest's current
 *             CS and SS indices where ombra owns the VM's GDT (realseg.c)
 *   0x020000  the monitor's PDPT and PDs (the PML4[511] subtree)
 *
 * The shadow-page pool is mapped too, at MON_POOL_OFF, so the monitor can
 * rewrite shadow entries: on a host whose KVM is itself a shadow MMU, a
 * change ombra makes to a present shadow entry through its own mapping is
 * invisible to that KVM until the VM writes the entry (docs/shadow.md).
 */
#ifndef OMBRA_MONITOR_H
#define OMBRA_MONITOR_H

#include <stdint.h>

#define MON_SLOT            256
#define MON_SLOT_PVM        511
#define MON_MPA             0x0ULL
#define MON_SIZE            0x200000ULL            /* one 2 MiB page */
#define MON_SLOT_ID         100                    /* KVM slot numbers outside guest_mem's */
#define POOL_SLOT_ID        101
#define POOL_MPA            0x200000ULL            /* shadow pages live here */

#define MON_STUBS           0x0000
#define MON_STUB_SIZE       8
#define MON_RESUME_IRET     0x0800
#define MON_RESUME_CR3      0x0810
#define MON_RESUME_INVLPG   0x0830
#define MON_RESUME_FULL     0x0850
#define MON_MAILBOX         0x1000
#define MON_MAILBOX_RAX     (MON_MAILBOX + 0x00)
#define MON_MAILBOX_RCX     (MON_MAILBOX + 0x08)
#define MON_MAILBOX_RSI     (MON_MAILBOX + 0x10)
#define MON_MAILBOX_RDI     (MON_MAILBOX + 0x18)
#define MON_MAILBOX_ACTION  (MON_MAILBOX + 0x20)  /* 0 none, 1 load CR3, 2 INVLPG */
#define MON_MAILBOX_ARG     (MON_MAILBOX + 0x28)  /* the CR3 or the address */
#define MON_MAILBOX_COUNT   (MON_MAILBOX + 0x30)  /* entries to rewrite */
#define MON_MAILBOX_PKRU    (MON_MAILBOX + 0x38)  /* 0, or MON_PKRU_LOAD | the PKRU to load (--shadow-patch) */
#define MON_PKRU_LOAD       (1ULL << 32)
#define MON_MAILBOX_LIST    (MON_MAILBOX + 0x40)  /* their addresses (pool VA + offset) */
#define MON_MAILBOX_MAX     ((0x1000 - 0x40) / 8)
#define MON_ACTION_NONE     0
#define MON_ACTION_CR3      1
#define MON_ACTION_INVLPG   2
#define MON_IDT             0x2000
#define MON_TSS             0x3000
#define MON_STACK           0x4000
#define MON_STACK_TOP       0x8000
#define MON_GDT             0x10000
#define MON_GDT_LIMIT       0xffff
#define MON_PDPT            0x20000
#define MON_PD              0x21000
#define MON_POOL_PD         0x22000
#define MON_POOL_OFF        0x40000000ULL          /* PDPT slot 1: up to 1 GiB of pool */
#define MON_POOL_MAX        0x40000000ULL

/* Real selectors, all at the top of the GDT, so that the guest's own
 * indices below MON_GDT_GUEST_END are free for the mirror (realseg.c). */
#define MON_GDT_GUEST_END   8184        /* guest indices 1 .. 8183 may be mirrored */
#define SEL_TSS             (8184 * 8)  /* 16-byte TSS descriptor: 8184 and 8185 */
#define SEL_MON_CS          (8186 * 8)  /* 64-bit code, DPL 0 */
#define SEL_MON_DS          (8187 * 8)  /* data, DPL 0 */
#define SEL_USER_CS32       (8189 * 8 + 3)  /* compatibility-mode code, DPL 3 */
#define SEL_USER_DS         (8190 * 8 + 3)  /* data, DPL 3 */
#define SEL_USER_CS64       (8191 * 8 + 3)  /* 64-bit code, DPL 3 */

/* The monitor's virtual address in a PML4 slot: the slot's first byte,
 * sign-extended as a canonical address. */
static inline uint64_t mon_va(unsigned slot)
{
	return (uint64_t)((int64_t)((uint64_t)slot << 55) >> 16);
}

#endif
