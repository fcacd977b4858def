/*
 * longcall.h: how the 32-bit half of a test kernel calls into its 64-bit half.
 *
 * long_call(n) leaves 32-bit protected mode (paging off), enters long mode
 * through the boot tables of entry64.S, runs the test kernel's
 * kernel_call64(n) there, and comes back the same way: compatibility mode,
 * paging off, EFER.LME clear.  The two halves share nothing but this
 * handoff structure, the stack and the GDT selector layout.
 */
#ifndef GUEST_LONGCALL_H
#define GUEST_LONGCALL_H

#include <stdint.h>

/* At BLOB_BASE: what the 32-bit half needs to find the 64-bit half. */
struct blob_header {
	uint32_t magic;   /* BLOB_MAGIC */
	uint32_t entry32; /* uint32_t entry(struct handoff *), called in 32-bit mode, paging off */
	uint32_t end;     /* first byte after the 64-bit half */
	uint32_t reserved;
};

struct handoff {
	uint32_t call;       /* which function the 64-bit half should run */
	uint32_t reserved;
	uint64_t ram_end;    /* struct boot_info, without the command line */
	uint64_t pool_start;
	uint64_t pool_end;
};

uint32_t long_call(uint32_t call);     /* 32-bit half: longcall32.c */

/* Provided by each test kernel. */
int kernel_main(void);                 /* 32-bit half: returns the exit status */
uint32_t kernel_call64(uint32_t call); /* 64-bit half */

#endif
