/*
 * blob64.ld.S: the layout of the 64-bit half, an ELF64 file linked at
 * BLOB_BASE and then made a flat binary.  The blob_header comes first.  The
 * .bss is folded into .data so the flat binary carries it as zeros and the
 * 32-bit image's loader clears it for us.
 */
#include "layout.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(blob_entry32)

SECTIONS
{
	. = BLOB_BASE;
	.text : { KEEP(*(.blob.header)) *(.text .text.*) }
	.rodata : { *(.rodata .rodata.*) }
	.data : { *(.data .data.*) *(.bss .bss.*) *(COMMON) }
	. = ALIGN(4096);
	__blob_end = .;

	/* Linker-made sections a static, non-PIC kernel leaves empty. */
	/DISCARD/ : {
		*(.note .note.*) *(.comment) *(.eh_frame)
		*(.got) *(.got.plt) *(.igot.plt) *(.iplt) *(.rel.*) *(.rela.*)
	}
}
