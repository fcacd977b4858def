/*
 * layout.h: the constants the assembly, the C code and the linker script
 * share: where the kernel is linked, GDT selectors, MSR numbers,
 * control-register and page-table bits, the per-CPU area's field offsets,
 * the interrupt vectors, and the trap frame's layout.
 */
#ifndef OSK_LAYOUT_H
#define OSK_LAYOUT_H

#ifdef __ASSEMBLER__
#define UL(x)		x
#else
#define UL(x)		x##ul
#endif

/* Where the kernel proper runs: its physical address plus KERNEL_VMA.
 * The low variant runs where it is loaded; the higher-half one
 * (-DOSK_HIGHER_HALF) at 0xffffffff80000000 + physical, PML4 slot 511,
 * where Linux puts its text.  The multiboot header and the 32-bit entry
 * run at their physical addresses in both. */
#define KERNEL_PHYS	0x100000
#ifdef OSK_HIGHER_HALF
#define KERNEL_VMA	UL(0xffffffff80000000)
#else
#define KERNEL_VMA	UL(0)
#endif

/* GDT selectors (boot.S builds the table in this order). */
#define KERNEL_CS32	0x08
#define KERNEL_CS	0x10
#define KERNEL_DS	0x18
#define USER_CS32	0x23
#define USER_DS		0x2b
#define USER_CS		0x33
#define TSS_SEL		0x38
#define NOTPRESENT_SEL	0x48
#define GATE_SEL	0x50
#define RESERVED_SEL	0x58
#define GDT_ENTRIES	12

#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_SFMASK		0xc0000084
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define EFER_SCE	(1 << 0)
#define EFER_LME	(1 << 8)

#define CR0_PE		(1 << 0)
#define CR0_WP		(1 << 16)
#define CR0_PG		(1 << 31)
#define CR4_PAE		(1 << 5)

#define PTE_P		0x001
#define PTE_W		0x002
#define PTE_U		0x004
#define PTE_PWT		0x008
#define PTE_PCD		0x010
#define PTE_PS		0x080

/* The user section: one 2 MiB page, the only one user mode may touch. */
#define USER_BASE	0x400000

/* Each process's private 2 MiB page: at PRIV_VA in its own address space,
 * backed by PRIV_PHYS(pid) (which the kernel sees identity-mapped). */
#define PRIV_VA		UL(0x600000)
#define PRIV_PHYS(p)	(UL(0x800000) + UL(0x200000) * (p))

/* struct percpu (kernel.h): offsets used from assembly. */
#define PERCPU_SELF	0
#define PERCPU_FN	8
#define PERCPU_KSTACK	16
#define PERCPU_URSP	24

/* Interrupt vectors. */
#define VEC_PIC_BASE	0x20	/* the 8259 pair, remapped and masked */
#define VEC_TIMER	0x40	/* local APIC timer */
#define VEC_SYSCALL_INT	0x80	/* INT 0x80, DPL 3 */
#define VEC_SPURIOUS	0xff
#define VEC_SYSCALL	0x100	/* not a vector: the frame came from SYSCALL */

/* The trap frame (struct frame), in 8-byte slots from the lowest address. */
#define FRAME_KFLAGS	15
#define FRAME_VECTOR	16
#define FRAME_CS	19
#define FRAME_SIZE	(23 * 8)

#endif
