/*
 * kernel.ld.S: the kernel's layout, run through cpp for layout.h, once for
 * each variant.  The multiboot header and the 32-bit entry (.boot) at
 * 1 MiB, linked there; the kernel proper right after them in physical
 * memory, linked at KERNEL_VMA + its physical address (AT() gives the
 * physical one; KERNEL_VMA is 0 in the low variant); and user.c alone at
 * USER_BASE (0x400000, layout.h), the 2 MiB page that boot.S maps with U=1,
 * in both variants.
 */
#include "layout.h"

ENTRY(_start)
SECTIONS
{
	. = KERNEL_PHYS;
	_image_start = .;
	.boot : {
		*(.multiboot)
		*(.text.boot)
	}
#ifdef OSK_HIGHER_HALF
	. = ALIGN(4096);	/* its own segment: a page of its own in the file */
#endif
	. += KERNEL_VMA;
	.text : AT(ADDR(.text) - KERNEL_VMA) {
		_text_start = .;
		*(EXCLUDE_FILE(*user.o) .text .text.*)
		_text_end = .;
	}
	.rodata : AT(ADDR(.rodata) - KERNEL_VMA) { *(EXCLUDE_FILE(*user.o) .rodata .rodata.*) }
	.data : AT(ADDR(.data) - KERNEL_VMA) { *(EXCLUDE_FILE(*user.o) .data .data.*) }
	.bss : AT(ADDR(.bss) - KERNEL_VMA) { *(EXCLUDE_FILE(*user.o) .bss .bss.* COMMON) }
#ifdef OSK_HIGHER_HALF
	/* The multiboot header's a.out-kludge fields (boot.S) tell the loader
	 * to read one contiguous image, 1 MiB up to the user section's end:
	 * zeros from here to USER_BASE keep the file laid out that way. */
	_kernel_end = .;
	.pad : AT(ADDR(.pad) - KERNEL_VMA) {
		BYTE(0)
		. = KERNEL_VMA + USER_BASE - _kernel_end;	/* an offset in .pad */
	}
#endif
	ASSERT(. <= KERNEL_VMA + USER_BASE, "the kernel runs into the user section")
	.user USER_BASE : AT(USER_BASE) {
		KEEP(*user.o(.user.header))		/* first: struct uheader, user.h */
		*user.o(.text .text.* .rodata .rodata.* .data .data.*)
		*user.o(.bss .bss.* COMMON)
	}
	ASSERT(. <= 0x600000, "the user section outgrew its 2 MiB page")
	_image_end = .;
	/* Linker-made sections a static, non-PIC kernel leaves empty. */
	/DISCARD/ : {
		*(.comment) *(.note .note.*) *(.eh_frame)
		*(.got) *(.got.plt) *(.igot.plt) *(.iplt) *(.rel.*) *(.rela.*)
	}
}
