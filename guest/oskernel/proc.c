/*
 * proc.c: user processes.  Three processes run user_main (user.c), each in
 * an address space of its own (the kernel's mappings, the shared user
 * section, and a private 2 MiB page at PRIV_VA), with its own stack, FS
 * base and user GS base.  The first entry is by SYSRET (processes 0 and 2)
 * or IRETQ (process 1); the local APIC timer preempts them round-robin;
 * they call the kernel with SYSCALL and INT 0x80.  Every entry from user
 * mode checks what SWAPGS and the switch left in GS base, KERNEL_GS_BASE,
 * FS base and CR3.
 */
#include "kernel.h"
#include "user.h"

static const struct uheader *const uh = UHEADER;

#define TIMER_PERIOD	0x40000		/* local APIC counts at divide 16 */

struct proc {
	struct frame f;			/* saved user state while not running */
	int state;
	int by_sysret;			/* first entry through SYSRET, else IRETQ */
	int resumed_after_other;	/* another process ran between its preemption and its resumption */
	int last_ran_gen;
	struct fault fault;		/* what killed it */
};

static struct proc procs[NPROC];
static int cur = -1;
static int generation;			/* counts switches */

/* What the kernel saw on entries from user mode. */
struct entry_stats estats;

/* SYS_REGCHECK's findings, first process that asked. */
struct regcheck_seen regseen;

/* Each process's page tables: the boot tables but for the PD entry of
 * PRIV_VA, which maps the process's own page. */
u64 proc_pml4[NPROC][512] __attribute__((aligned(4096)));
static u64 proc_pdpt[NPROC][512] __attribute__((aligned(4096)));
static u64 proc_pd0[NPROC][512] __attribute__((aligned(4096)));

static void build_space(int p)
{
	int i;

	for (i = 0; i < 512; i++) {
		proc_pd0[p][i] = pd[i];
		proc_pdpt[p][i] = pdpt[i];
		proc_pml4[p][i] = pml4[i];
	}
	proc_pd0[p][PRIV_VA >> 21] = PRIV_PHYS(p) | PTE_P | PTE_W | PTE_U | PTE_PS;
	proc_pdpt[p][0] = PA(proc_pd0[p]) | PTE_P | PTE_W | PTE_U;
	proc_pml4[p][0] = PA(proc_pdpt[p]) | PTE_P | PTE_W | PTE_U;
	for (i = 0; i < 0x200000 / 8; i++)
		((volatile u64 *)PRIV_PHYS(p))[i] = 0;
}

static void load_user_bases(int p)
{
	wrmsr(MSR_FS_BASE, (u64)&uh->tls[p]);
	wrmsr(MSR_KERNEL_GS_BASE, (u64)&uh->gs[p]);	/* SWAPGS brings it in on the way out */
}

void proc_entry_checks(struct frame *f)
{
	u64 gsb = rdmsr(MSR_GS_BASE), kgsb = rdmsr(MSR_KERNEL_GS_BASE), fsb = rdmsr(MSR_FS_BASE);
	u64 self;

	asm volatile("movq %%gs:0, %0" : "=r"(self));
	if (f->vector == VEC_SYSCALL)
		estats.syscall++;
	else if (f->vector == VEC_SYSCALL_INT)
		estats.int80++;
	else
		estats.irq++;
	if ((gsb != (u64)&percpu || self != (u64)&percpu) && !estats.kgs_bad++) {
		estats.kgs_bad_gsb = gsb;
		estats.kgs_bad_self = self;
		estats.kgs_bad_vector = f->vector;
	}
	if (cur < 0)
		return;
	if (kgsb != (u64)&uh->gs[cur] && !estats.ugs_bad++) {
		estats.ugs_bad_val = kgsb;
		estats.ugs_bad_want = (u64)&uh->gs[cur];
		estats.ugs_bad_vector = f->vector;
	}
	if (read_cr3() != PA(proc_pml4[cur]) && !estats.cr3_bad++) {
		estats.cr3_bad_val = read_cr3();
		estats.cr3_bad_want = PA(proc_pml4[cur]);
	}
	if (fsb != (u64)&uh->tls[cur] && !estats.fs_bad++) {
		estats.fs_bad_val = fsb;
		estats.fs_bad_want = (u64)&uh->tls[cur];
		estats.fs_bad_vector = f->vector;
	}
}

/* Make p the running process, its state in *f.  A new process to be
 * entered by SYSRET leaves through sysret_exit at once (this kernel stack
 * holds nothing else worth keeping); otherwise the caller's return takes
 * the frame back with IRETQ. */
static void switch_to(int p, struct frame *f)
{
	struct proc *n = &procs[p];
	int was_new = n->state == P_NEW;

	if (!was_new && n->last_ran_gen != generation)
		n->resumed_after_other = 1;
	if (p != cur)
		generation++;
	cur = p;
	n->state = P_RUNNING;
	n->last_ran_gen = generation;
	*f = n->f;
	if (read_cr3() != PA(proc_pml4[p]))
		write_cr3(PA(proc_pml4[p]));
	load_user_bases(p);
	if (was_new && n->by_sysret)
		enter_user(f, 1);
}

/* The next process after cur that can run, round-robin; -1 if none. */
static int pick_next(void)
{
	int i, p;

	for (i = 1; i <= NPROC; i++) {
		p = (cur + i) % NPROC;
		if (procs[p].state == P_NEW || procs[p].state == P_READY || procs[p].state == P_RUNNING)
			return p;
	}
	return -1;
}

/* cur is gone: run the next one, or go back to the kernel's main line. */
static void __attribute__((noreturn)) next_or_home(struct frame *f)
{
	int p = pick_next();

	if (p < 0) {
		lapic_timer_stop();
		write_cr3(PA(pml4));
		cur = -1;
		kctx_resume();
	}
	switch_to(p, f);
	enter_user(f, 0);
}

void proc_preempt(struct frame *f)
{
	int p;

	uh->preempts[cur]++;
	procs[cur].f = *f;
	procs[cur].state = P_READY;
	p = pick_next();
	switch_to(p, f);
}

void proc_fault(struct frame *f, u64 cr2)
{
	struct proc *p = &procs[cur];

	p->fault.vector = f->vector;
	p->fault.err = f->err;
	p->fault.rip = f->rip;
	p->fault.cs = f->cs;
	p->fault.cr2 = cr2;
	p->state = P_KILLED;
	next_or_home(f);
}

/* Returns 0 to go back by SYSRET (SYSCALL entry, same process), 1 for IRETQ. */
long do_syscall(struct frame *f)
{
	int via_int = f->vector == VEC_SYSCALL_INT;

	switch (f->rax) {
	case SYS_GETPID:
		f->rax = cur;
		break;
	case SYS_REGCHECK:
		f->rax = (f->rip != f->rdx) | (f->rflags != f->rsi) << 1 |
			((f->kflags & (RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC)) != 0) << 2 |
			((f->rflags & (RFLAGS_IF | RFLAGS_DF | RFLAGS_AC)) != (RFLAGS_IF | RFLAGS_DF | RFLAGS_AC)) << 3;
		if (!regseen.asked++) {
			regseen.rcx = f->rip;
			regseen.want_rcx = f->rdx;
			regseen.r11 = f->rflags;
			regseen.want_r11 = f->rsi;
			regseen.kflags = f->kflags;
		}
		break;
	case SYS_EXIT:
		procs[cur].state = P_EXITED;
		next_or_home(f);
	default:
		f->rax = -1ul;
		break;
	}
	return via_int;
}

int proc_state(int p) { return procs[p].state; }
int proc_resumed_after_other(int p) { return procs[p].resumed_after_other; }
struct fault *proc_fault_info(int p) { return &procs[p].fault; }
int proc_by_sysret(int p) { return procs[p].by_sysret; }

/* Run every process to its end; back here when none is left. */
void run_processes(void)
{
	struct frame *top = (struct frame *)(percpu.kstack - sizeof(struct frame));
	int p;

	for (p = 0; p < NPROC; p++) {
		struct frame *f = &procs[p].f;

		build_space(p);
		procs[p].state = P_NEW;
		procs[p].by_sysret = p != 1;
		f->rip = (u64)uh->entry;
		f->cs = USER_CS;
		f->ss = USER_DS;
		f->rsp = (u64)(uh->stack[p] + USTACK_SIZE - 8);	/* as if called */
		f->rflags = RFLAGS_FIXED | RFLAGS_IF;
		f->rdi = p;
	}
	if (kctx_save())
		return;
	cli();
	lapic_timer_periodic(TIMER_PERIOD);
	switch_to(0, top);
	enter_user(top, procs[0].by_sysret);
}
