/*
 * The CPU state a loader leaves for a kernel's first instruction.
 *
 * The multiboot loader (loader.c) enters in 32-bit protected mode with
 * paging off; the Linux loader (bzimage.c) in 64-bit mode on identity page
 * tables it wrote into guest memory.  Each mode puts its vCPU (KVM's in
 * tdp mode, the virtual CPU in shadow mode) into exactly this state, so a
 * kernel starts on the same machine in both.
 */
#ifndef OMBRA_BOOT_H
#define OMBRA_BOOT_H

#include <stdbool.h>
#include <stdint.h>

/* The boot segments both protocols use: a flat code segment at 0x10 and a
 * flat data segment at 0x18 (Linux's __BOOT_CS and __BOOT_DS). */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

struct boot_entry {
	bool long_mode;         /* 64-bit entry: CR0.PG, CR4.PAE, EFER.LME|LMA, CS.L */
	uint64_t rip;
	uint64_t rax, rbx, rsi; /* the protocol's registers; every other one is 0 */
	uint64_t cr3;           /* long_mode: the identity tables' PML4 */
	uint64_t gdt_base;      /* long_mode: a GDT holding BOOT_CS and BOOT_DS */
	uint16_t gdt_limit;
};

#endif
