/*
 * desc.h: the segment selectors and the descriptor tables (GDT, IDT, TSS).
 *
 * Both halves of a test kernel use the same GDT layout, so a selector means
 * the same thing in 32-bit and in 64-bit code, and the mode switch between
 * the halves can jump with the selectors it already has.  Each half owns its
 * own copy of the tables (the TSS formats differ), built by desc_init() and
 * loaded by desc_load().  This header is also included from assembly.
 */
#ifndef GUEST_DESC_H
#define GUEST_DESC_H

/*
 * The user selectors deliberately avoid 0x23, 0x2b and 0x33, the user
 * selectors of a Linux host's GDT: a VMM that runs a deprivileged guest on a
 * host whose KVM executes guest CPL-3 code on the host's GDT (kvm_pvm) can
 * see a guest IRET or far jump only if it faults, and one to a selector the
 * host's GDT also has would not (docs/shadow.md).
 */
#define SEL_KCODE32 0x08 /* ring-0 32-bit code */
#define SEL_KDATA   0x10 /* ring-0 data, flat 4 GiB */
#define SEL_KCODE64 0x18 /* ring-0 64-bit code (L=1) */
#define SEL_TSS     0x20 /* the task state segment (two slots in 64-bit mode) */
#define SEL_UCODE32 0x3b /* ring-3 32-bit code (compatibility mode under a 64-bit kernel) */
#define SEL_UDATA   0x43 /* ring-3 data, flat 4 GiB */
#define SEL_UCODE64 0x4b /* ring-3 64-bit code */

#define EFLAGS_USER 0x2 /* EFLAGS given to ring-3 code: IF=0, IOPL=0 */

#ifndef __ASSEMBLER__
void desc_init(void);  /* build the GDT, IDT and TSS of this half, then desc_load() */
void desc_load(void);  /* load GDTR, IDTR, the segment registers and TR */
#endif

#endif
