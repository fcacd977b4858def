/*
 * kernel32.ld.S: the layout of a test kernel's image (an ELF32 file), run
 * through cpp for layout.h.  The 32-bit half starts at 1 MiB with the
 * multiboot header; the 64-bit half sits at BLOB_BASE; __image_end is where
 * the boot code may start handing out memory.
 */
#include "layout.h"

OUTPUT_FORMAT("elf32-i386")
OUTPUT_ARCH(i386)
ENTRY(_start)

SECTIONS
{
	. = KERNEL_BASE;
	.text : { KEEP(*(.multiboot)) *(.text .text.*) }
	.rodata : { *(.rodata .rodata.*) }
	.data : { *(.data .data.*) }
	.bss : { *(.bss .bss.*) *(COMMON) }
	__half32_end = .;
	ASSERT(__half32_end <= BLOB_BASE, "the 32-bit half overlaps the 64-bit half: raise BLOB_BASE")

	. = BLOB_BASE;
	.blob64 : { KEEP(*(.blob64)) }
	. = ALIGN(4096);
	__image_end = .;

	/* Linker-made sections a static, non-PIC kernel leaves empty. */
	/DISCARD/ : {
		*(.note .note.*) *(.comment) *(.eh_frame)
		*(.got) *(.got.plt) *(.igot.plt) *(.iplt) *(.rel.*) *(.rela.*)
	}
}
