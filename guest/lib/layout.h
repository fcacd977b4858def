/*
 * layout.h: where the pieces of a guest test kernel sit in guest-physical
 * memory.  Included by C, by assembly and (through cpp) by the linker scripts,
 * so it holds plain #defines only.
 *
 * A test kernel is one ELF32 file (QEMU's multiboot loader refuses ELF64) made
 * of two halves:
 *   - the 32-bit half, linked at KERNEL_BASE: multiboot entry, the 32-bit
 *     runtime and the 32-bit cases (nonpaging, 2-level, PAE);
 *   - the 64-bit half ("blob"), linked on its own as ELF64 at BLOB_BASE,
 *     turned into a flat binary and .incbin'd into the 32-bit image at exactly
 *     that address.  It starts with a struct blob_header (see longcall.h).
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define KERNEL_BASE 0x00100000 /* 1 MiB: start of the 32-bit half */
#define BLOB_BASE   0x00200000 /* 2 MiB: start of the 64-bit half */
#define BLOB_MAGIC  0x34364c42 /* "BL64": first word of the 64-bit half */

#endif
