/*
 * blob.S: puts the 64-bit half (a flat binary, linked at BLOB_BASE) into the
 * 32-bit image.  kernel32.ld places this section at exactly BLOB_BASE, so the
 * loader copies every byte where the 64-bit code expects it.  BLOB_BIN is
 * the path of the binary, given by guest.mk.
 */
	.section .blob64, "awx"
	.incbin	BLOB_BIN
