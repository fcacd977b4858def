/* The assembled monitor (build/shadow/monitor.bin, from monitor.asm),
 * linked into ombra and copied to the monitor region at start-up. */
	.section .rodata
	.globl monitor_blob, monitor_blob_end
	.balign 16
monitor_blob:
	.incbin MONITOR_BIN
monitor_blob_end:
	.section .note.GNU-stack, "", @progbits
