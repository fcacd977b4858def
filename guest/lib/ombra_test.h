/*
 * ombra_test.h: the ombra test device, a write-only I/O port through which a
 * test kernel asks ombra to do something to the machine under it that no
 * guest instruction could, so that a test can check the guest sees nothing.
 *
 * ombra has the device only when run with -device ombra-test; without it
 * the ports are unassigned (writes ignored), as under QEMU.
 *
 * Protocol (port OMBRA_TEST_PORT, 0xe0), one command:
 *   - OMBRA_TEST_MOVE_SLOT: a 32-bit OUT of a page-aligned guest-physical
 *     address (below 4 GiB).  ombra moves the memslot (guest RAM region) that
 *     holds that address to a new host mapping, its contents with it, at
 *     once: the move is complete before the guest's next instruction.  In
 *     shadow mode ombra then zaps every shadow entry that maps a frame of
 *     that slot, so the next access to each is filled again from the new
 *     mapping.  The guest sees the same memory, with the same contents,
 *     before and after.
 *   - The same address + 1 deletes the memslot that holds it, + 2 adds a
 *     2 MiB memslot at it (tests/e2e/kernels/hotplug.asm; QEMU has no such
 *     device, so a kernel that must print the same under QEMU cannot use
 *     them).
 *   - OMBRA_TEST_REMAP_PAGE: a 32-bit OUT to port OMBRA_TEST_PORT + 16 of a
 *     page-aligned guest-physical address: ombra gives that one page fresh
 *     host memory at the same host address, contents copied, as a host does
 *     when it migrates or swaps a page; shadow mode zaps the page's shadow
 *     entries, KVM learns of it through its MMU notifier.
 *   - Other access sizes, and addresses not page aligned or not in RAM, are
 *     reserved.  Nothing is ever read from the port: reads are not part of
 *     the protocol (a machine without the device, such as QEMU, answers all
 *     ones).
 *
 * Without the device (QEMU, or a VMM that does not implement it) the write is
 * ignored, so a test that uses it must print the same whether or not the
 * device did anything: it can only check that memory stayed what it was.
 */
#ifndef GUEST_OMBRA_TEST_H
#define GUEST_OMBRA_TEST_H

#define OMBRA_TEST_PORT 0xe0

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Command OMBRA_TEST_MOVE_SLOT: the plain 32-bit write of gpa (page aligned,
 * below 4 GiB); the memslot that holds it moves to a new host mapping.  Also
 * a compiler barrier: memory is read again after it. */
#define OMBRA_TEST_MOVE_SLOT(gpa)                                              \
	__asm__ volatile("outl %0, %1"                                        \
			 : : "a"((uint32_t)(gpa)), "Nd"((uint16_t)OMBRA_TEST_PORT) \
			 : "memory")

/* Command OMBRA_TEST_REMAP_PAGE: one page gets fresh host memory. */
#define OMBRA_TEST_REMAP_PAGE(gpa)                                             \
	__asm__ volatile("outl %0, %1"                                        \
			 : : "a"((uint32_t)(gpa)), "Nd"((uint16_t)(OMBRA_TEST_PORT + 16)) \
			 : "memory")
#endif

#endif
