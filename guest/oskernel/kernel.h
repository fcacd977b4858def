/*
 * kernel.h: the kernel's declarations: CPU primitives (port I/O, MSRs,
 * flags), the per-CPU area, the trap frame, the descriptor tables, the
 * console, the local APIC, processes, and the check report.
 */
#ifndef OSK_KERNEL_H
#define OSK_KERNEL_H

#include "layout.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long i64;

#define NULL ((void *)0)

/* The physical address of something in the kernel proper (its data, its
 * page tables): what CR3 and page-table entries want.  Identity in the
 * low variant; the link address less KERNEL_VMA in the higher-half one. */
#define PA(x)		((u64)(x) - KERNEL_VMA)

#define RFLAGS_CF	(1ul << 0)
#define RFLAGS_FIXED	(1ul << 1)
#define RFLAGS_ZF	(1ul << 6)
#define RFLAGS_TF	(1ul << 8)
#define RFLAGS_IF	(1ul << 9)
#define RFLAGS_DF	(1ul << 10)
#define RFLAGS_NT	(1ul << 14)
#define RFLAGS_AC	(1ul << 18)

static inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	asm volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
static inline u64 read_rflags(void)
{
	u64 f;
	asm volatile("pushfq; popq %0" : "=r"(f) :: "memory");
	return f;
}
static inline u64 read_cr3(void)
{
	u64 v;
	asm volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}
static inline void write_cr3(u64 v) { asm volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline void pause(void) { asm volatile("pause" ::: "memory"); }
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* The per-CPU area, reached through GS base in the kernel (layout.h has
 * the offsets assembly uses). */
struct percpu {
	struct percpu *self;		/* PERCPU_SELF */
	u64 (*fn)(void);		/* PERCPU_FN: called through %gs:8 */
	u64 kstack;			/* PERCPU_KSTACK: the top of the kernel stack */
	u64 user_rsp;			/* PERCPU_URSP: scratch for SYSCALL */
	u64 magic;			/* what fn returns, read through %gs */
};
extern struct percpu percpu;
#define PERCPU_MAGIC 0x0c0ffee5c0ffee00ul

/* The trap frame, lowest address first (entry.S pushes it). */
struct frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 kflags;			/* RFLAGS on SYSCALL entry, else 0 */
	u64 vector, err;
	u64 rip, cs, rflags, rsp, ss;	/* as the CPU pushes them */
};
_Static_assert(sizeof(struct frame) == FRAME_SIZE, "frame layout");

/* entry.S */
extern char isr_stubs[];
void syscall_entry(void);
void catch_fixup(void);
extern u64 catch_rsp;
void enter_user(struct frame *f, int by_sysret) __attribute__((noreturn));
i64 catch_call(i64 (*fn)(void *), void *arg);
#define CATCH_FAULTED 0x7fffdeadfa017000l
int kctx_save(void) __attribute__((returns_twice));
void kctx_resume(void) __attribute__((noreturn));

/* boot.S */
extern u64 gdt[], pml4[], pdpt[], pd[];
extern u32 mb_magic, mb_info;
extern u64 boot_gs_self, boot_gs_fn;
extern char boot_stack_top[];

/* console.c */
void serial_init(void);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void exit_qemu(u32 code) __attribute__((noreturn));

/* desc.c */
void tss_init(void);
void idt_init(void);
extern u16 idt_cs;			/* the CS the gates were built with */
extern struct tss64 tss;

/* trap.c */
struct fault {
	u64 vector, err, rip, cs, cr2;
};
extern struct fault catch_fault;
long trap(struct frame *f);
extern volatile u64 timer_ticks, int3_count;
extern struct frame int3_frame;
void lapic_init(void);
void lapic_timer_oneshot(u32 count);
void lapic_timer_periodic(u32 count);
void lapic_timer_stop(void);
int lapic_irr(u8 vector);
void pic_remap_mask(void);

/* proc.c */
void run_processes(void);
void proc_entry_checks(struct frame *f);
long do_syscall(struct frame *f);
void proc_preempt(struct frame *f);
void proc_fault(struct frame *f, u64 cr2) __attribute__((noreturn));
int proc_state(int p);
int proc_resumed_after_other(int p);
int proc_by_sysret(int p);
extern u64 proc_pml4[][512];
struct fault *proc_fault_info(int p);
enum { P_NEW, P_RUNNING, P_READY, P_EXITED, P_KILLED };	/* proc_state() */
struct entry_stats {
	u64 syscall, int80, irq;		/* entries from user mode, by kind */
	u64 kgs_bad, kgs_bad_gsb, kgs_bad_self, kgs_bad_vector;
	u64 ugs_bad, ugs_bad_val, ugs_bad_want, ugs_bad_vector;
	u64 fs_bad, fs_bad_val, fs_bad_want, fs_bad_vector;
	u64 cr3_bad, cr3_bad_val, cr3_bad_want;
};
extern struct entry_stats estats;
struct regcheck_seen {
	u64 asked, rcx, want_rcx, r11, want_r11, kflags;
};
extern struct regcheck_seen regseen;

/* The report. */
extern int checks_passed, checks_failed;
void check(const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
