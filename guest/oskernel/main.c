/*
 * main.c: kmain and the checks, in the order a kernel brings itself up:
 * what boot left (multiboot, segments, the per-CPU area), the descriptor
 * instructions on its own GDT, irqsave spinlocks, the IDT, SYSCALL, then
 * the user processes.  Checks that need no exception come first, so that
 * a machine whose exception delivery is broken still reports them.
 */
#include "kernel.h"
#include "user.h"

static const struct uheader *const uh = UHEADER;

static u64 percpu_get_magic(void);

struct percpu percpu = {
	.self = &percpu,
	.fn = percpu_get_magic,
	.magic = PERCPU_MAGIC,
};

/* Called through %gs:8; reads its answer through %gs too. */
static u64 percpu_get_magic(void)
{
	u64 v;

	asm volatile("movq %%gs:32, %0" : "=r"(v));
	return v;
}

/* ---- segments and descriptor instructions ---- */

#define READ_SEG(seg) ({ u16 _v; asm volatile("mov %%" #seg ", %0" : "=r"(_v)); _v; })

static int lar(u16 sel, u32 *ar)
{
	u32 a = 0;
	u8 z;

	asm volatile("lar %2, %0\n\tsetz %1" : "+r"(a), "=q"(z) : "r"((u32)sel) : "cc");
	*ar = a;
	return z;
}

static int lsl(u16 sel, u32 *limit)
{
	u32 l = 0;
	u8 z;

	asm volatile("lsl %2, %0\n\tsetz %1" : "+r"(l), "=q"(z) : "r"((u32)sel) : "cc");
	*limit = l;
	return z;
}

static int verr(u16 sel)
{
	u8 z;

	asm volatile("verr %w1\n\tsetz %0" : "=q"(z) : "r"(sel) : "cc");
	return z;
}

static int verw(u16 sel)
{
	u8 z;

	asm volatile("verw %w1\n\tsetz %0" : "=q"(z) : "r"(sel) : "cc");
	return z;
}

/* LAR's result: descriptor bits 23:8 of the high dword, 19:16 undefined. */
#define AR_MASK 0x00f0ff00u
static u32 gdt_ar(u16 sel) { return (u32)(gdt[sel / 8] >> 32) & AR_MASK; }

static void check_segments(void)
{
	u16 cs = READ_SEG(cs), ss = READ_SEG(ss), ds = READ_SEG(ds), es = READ_SEG(es);
	u16 fs = READ_SEG(fs), gs = READ_SEG(gs);

	check("seg-cs", cs == KERNEL_CS, "read CS 0x%x, the GDT's kernel code selector is 0x%x", cs, KERNEL_CS);
	check("seg-ss", ss == KERNEL_DS, "read SS 0x%x, the GDT's kernel data selector is 0x%x", ss, KERNEL_DS);
	check("seg-ds-es", ds == KERNEL_DS && es == KERNEL_DS, "read DS 0x%x ES 0x%x, want 0x%x", ds, es, KERNEL_DS);
	check("seg-fs-gs", fs == KERNEL_DS && gs == KERNEL_DS, "read FS 0x%x GS 0x%x, want 0x%x", fs, gs, KERNEL_DS);
}

static void check_descriptor_insns(void)
{
	u32 ar, ar2, lim, lim2;
	int z, z2;

	z = lar(KERNEL_CS, &ar);
	check("lar-kernel-code", z && (ar & AR_MASK) == gdt_ar(KERNEL_CS),
	      "ZF %d access rights 0x%x, want ZF 1 and 0x%x", z, ar & AR_MASK, gdt_ar(KERNEL_CS));
	z = lar(USER_DS, &ar);
	check("lar-user-data", z && (ar & AR_MASK) == gdt_ar(USER_DS),
	      "ZF %d access rights 0x%x, want ZF 1 and 0x%x", z, ar & AR_MASK, gdt_ar(USER_DS));
	z = lar(TSS_SEL, &ar);
	check("lar-tss", z && (ar & AR_MASK) == 0x8b00,
	      "ZF %d access rights 0x%x, want ZF 1 and 0x8b00 (busy 64-bit TSS)", z, ar & AR_MASK);
	/* LAR does not look at P: a not-present descriptor still answers. */
	z = lar(NOTPRESENT_SEL, &ar);
	check("lar-not-present", z && (ar & AR_MASK) == gdt_ar(NOTPRESENT_SEL),
	      "ZF %d access rights 0x%x, want ZF 1 and 0x%x (P=0)", z, ar & AR_MASK, gdt_ar(NOTPRESENT_SEL));
	z = lar(GATE_SEL, &ar);
	z2 = lar(RESERVED_SEL, &ar2);
	check("lar-system-invalid", !z && !z2,
	      "ZF %d for an interrupt-gate type, ZF %d for type 0; want 0 and 0", z, z2);
	z = lar(0, &ar);
	z2 = lar(GDT_ENTRIES * 8, &ar2);
	check("lar-null-beyond", !z && !z2, "ZF %d for the null selector, ZF %d beyond the GDT's limit; want 0 and 0", z, z2);

	z = lsl(KERNEL_DS, &lim);
	z2 = lsl(TSS_SEL, &lim2);
	check("lsl", z && lim == 0xffffffff && z2 && lim2 == 0x67,
	      "kernel data ZF %d limit 0x%x (want 1, 0xffffffff), TSS ZF %d limit 0x%x (want 1, 0x67)", z, lim, z2, lim2);
	z = lsl(GATE_SEL, &lim);
	z2 = lsl(USER_CS, &lim2);
	check("lsl-gate-user", !z && z2 && lim2 == 0xffffffff,
	      "interrupt-gate type ZF %d (want 0), user code ZF %d limit 0x%x (want 1, 0xffffffff)", z, z2, lim2);
	check("verr", verr(KERNEL_CS) && verr(KERNEL_DS) && verr(USER_CS) && !verr(TSS_SEL) && !verr(0) &&
	      !verr(GATE_SEL),
	      "kernel code %d, kernel data %d, user code %d, TSS %d, null %d, gate %d; want 1 1 1 0 0 0",
	      verr(KERNEL_CS), verr(KERNEL_DS), verr(USER_CS), verr(TSS_SEL), verr(0), verr(GATE_SEL));
	check("verw", !verw(KERNEL_CS) && verw(KERNEL_DS) && verw(USER_DS) && !verw(TSS_SEL) && !verw(0),
	      "kernel code %d, kernel data %d, user data %d, TSS %d, null %d; want 0 1 1 0 0",
	      verw(KERNEL_CS), verw(KERNEL_DS), verw(USER_DS), verw(TSS_SEL), verw(0));
}

/* ---- irqsave spinlocks ---- */

typedef struct {
	volatile u32 locked;
} spinlock_t;

static u64 spin_lock_irqsave(spinlock_t *l)
{
	u64 flags;

	asm volatile("pushfq\n\tpopq %0\n\tcli" : "=r"(flags) :: "memory");
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		pause();
	return flags;
}

static void spin_unlock_irqrestore(spinlock_t *l, u64 flags)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	asm volatile("pushq %0\n\tpopfq" :: "r"(flags) : "memory", "cc");
}

static spinlock_t test_lock;

/* The flags a POPF at ring 0 restores and no ordinary instruction changes. */
#define SYSTEM_FLAGS (RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT | 0x3000ul)

static void check_irqsave(void)
{
	u64 before, saved, inside, after;

	sti();
	before = read_rflags();
	saved = spin_lock_irqsave(&test_lock);
	inside = read_rflags();
	spin_unlock_irqrestore(&test_lock, saved);
	after = read_rflags();
	cli();
	check("irqsave-if1", (before & RFLAGS_IF) && (saved & RFLAGS_IF) && !(inside & RFLAGS_IF) &&
	      (after & SYSTEM_FLAGS) == (before & SYSTEM_FLAGS) && !test_lock.locked,
	      "RFLAGS after STI 0x%lx, saved 0x%lx, inside the lock 0x%lx, after restore 0x%lx; want IF 1, 1, 0, 1 and the same IF, TF, DF, AC, NT, IOPL after as before",
	      before, saved, inside, after);

	before = read_rflags();
	saved = spin_lock_irqsave(&test_lock);
	inside = read_rflags();
	spin_unlock_irqrestore(&test_lock, saved);
	after = read_rflags();
	check("irqsave-if0", !(before & RFLAGS_IF) && !(saved & RFLAGS_IF) && !(inside & RFLAGS_IF) &&
	      (after & SYSTEM_FLAGS) == (before & SYSTEM_FLAGS),
	      "RFLAGS after CLI 0x%lx, saved 0x%lx, inside the lock 0x%lx, after restore 0x%lx; want IF 0 throughout and the same IF, TF, DF, AC, NT, IOPL after as before",
	      before, saved, inside, after);
}

/* Wait (boundedly) until the timer's vector is pending in the IRR. */
static int wait_irr(void)
{
	long i;

	for (i = 0; i < 200000; i++)
		if (lapic_irr(VEC_TIMER))
			return 1;
	return 0;
}

static int wait_ticks(u64 want)
{
	long i;

	for (i = 0; i < 100000; i++) {
		if (timer_ticks >= want)
			return 1;
		pause();
	}
	return 0;
}

/* An interrupt that comes while the lock is held waits for the restore,
 * and is delivered right after it when the saved IF was 1; when it was 0
 * it stays pending in the IRR until STI.  The waits are for events (the
 * IRR bit, the handler's count), bounded only against a machine where
 * they never come. */
static void check_irqsave_delivery(void)
{
	u64 saved, t0;
	int pending, in_lock, held, after;

	sti();
	t0 = timer_ticks;
	saved = spin_lock_irqsave(&test_lock);
	lapic_timer_oneshot(1000);
	pending = wait_irr();
	in_lock = timer_ticks != t0;
	spin_unlock_irqrestore(&test_lock, saved);
	after = wait_ticks(t0 + 1);
	cli();
	check("irqsave-irq-held-if1", pending && !in_lock && after,
	      "timer pending in IRR %d (want 1), delivered inside the lock %d (want 0), delivered after the restore %d (want 1)",
	      pending, in_lock, after);

	t0 = timer_ticks;
	saved = spin_lock_irqsave(&test_lock);
	lapic_timer_oneshot(1000);
	pending = wait_irr();
	in_lock = timer_ticks != t0;
	spin_unlock_irqrestore(&test_lock, saved);
	held = timer_ticks == t0 && lapic_irr(VEC_TIMER);	/* still waiting after the restore */
	sti();
	after = wait_ticks(t0 + 1);
	cli();
	check("irqsave-irq-held-if0", pending && !in_lock && held && after,
	      "timer pending in IRR %d (want 1), delivered inside the lock %d (want 0), still pending after the restore %d (want 1), delivered after STI %d (want 1)",
	      pending, in_lock, held, after);
}

/* ---- the per-CPU area ---- */

static i64 call_percpu_fn(void *arg)
{
	u64 (*fn)(void);

	(void)arg;
	asm volatile("movq %%gs:8, %0" : "=r"(fn));
	return (i64)fn();
}

static void check_percpu(void)
{
	u64 gsb = rdmsr(MSR_GS_BASE), self, fn;
	i64 r;

	check("gs-percpu-boot", boot_gs_self == (u64)&percpu && boot_gs_fn == (u64)percpu_get_magic,
	      "right after entering long mode %%gs:0 was 0x%lx and %%gs:8 0x%lx, want 0x%lx and 0x%lx",
	      boot_gs_self, boot_gs_fn, (u64)&percpu, (u64)percpu_get_magic);
	asm volatile("movq %%gs:0, %0" : "=r"(self));
	asm volatile("movq %%gs:8, %0" : "=r"(fn));
	check("gs-percpu", gsb == (u64)&percpu && self == (u64)&percpu && fn == (u64)percpu_get_magic,
	      "GS base 0x%lx, %%gs:0 0x%lx, %%gs:8 0x%lx; want 0x%lx, 0x%lx, 0x%lx",
	      gsb, self, fn, (u64)&percpu, (u64)&percpu, (u64)percpu_get_magic);
	/* Calling through a pointer that is not the kernel's would run
	 * whatever bytes it points at: only the right one is called. */
	if (fn != (u64)percpu_get_magic) {
		check("gs-call", 0, "not called: %%gs:8 is 0x%lx, not the function 0x%lx", fn,
		      (u64)percpu_get_magic);
		return;
	}
	r = catch_call(call_percpu_fn, NULL);
	if (r == CATCH_FAULTED)
		check("gs-call", 0, "the call through %%gs:8 faulted: vector %lu error 0x%lx at rip 0x%lx",
		      catch_fault.vector, catch_fault.err, catch_fault.rip);
	else
		check("gs-call", (u64)r == PERCPU_MAGIC, "it returned 0x%lx, want 0x%lx", (u64)r, PERCPU_MAGIC);
}

/* ---- exceptions through the IDT ---- */

extern char int3_after[], ud2_at[];

static __attribute__((noinline)) i64 do_ud2(void *arg)
{
	(void)arg;
	asm volatile("ud2_at: ud2" ::: "memory");
	return 0;
}

static void check_idt(void)
{
	check("idt-cs", idt_cs == KERNEL_CS,
	      "the gates were built with the CS read at ring 0, 0x%x; the GDT's kernel code selector is 0x%x",
	      idt_cs, KERNEL_CS);
	asm volatile("int3\n\tint3_after:" ::: "memory");
	check("idt-int3", int3_count == 1 && int3_frame.rip == (u64)int3_after && int3_frame.cs == KERNEL_CS &&
	      int3_frame.ss == KERNEL_DS,
	      "count %lu (want 1), frame rip 0x%lx cs 0x%lx ss 0x%lx (want 0x%lx, 0x%x, 0x%x)",
	      int3_count, int3_frame.rip, int3_frame.cs, int3_frame.ss, (u64)int3_after, KERNEL_CS, KERNEL_DS);
	catch_fault.vector = ~0ul;
	check("idt-ud-caught", catch_call(do_ud2, NULL) == CATCH_FAULTED && catch_fault.vector == 6 &&
	      catch_fault.rip == (u64)ud2_at && catch_fault.cs == KERNEL_CS,
	      "vector %lu rip 0x%lx cs 0x%lx; want 6, 0x%lx, 0x%x",
	      catch_fault.vector, catch_fault.rip, catch_fault.cs, (u64)ud2_at, KERNEL_CS);
}

/* ---- SYSCALL ---- */

#define SFMASK_BITS (RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT)

static i64 syscall_msrs(void *arg)
{
	(void)arg;
	wrmsr(MSR_STAR, (u64)USER_CS32 << 48 | (u64)KERNEL_CS << 32);
	wrmsr(MSR_LSTAR, (u64)syscall_entry);
	wrmsr(MSR_SFMASK, SFMASK_BITS);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	return 0;
}

/* Every x86-64 CPU has SYSCALL in long mode, and kernels such as Linux
 * enable it without asking; this one asks, says what CPUID answered, and
 * enables it either way.  Only if the MSR writes fault are the processes
 * not run. */
static int setup_syscall(void)
{
	u32 a, b, c, d;

	cpuid(0x80000001, 0, &a, &b, &c, &d);
	check("cpuid-syscall", d & (1u << 11),
	      "CPUID 0x80000001 EDX 0x%x has no SYSCALL bit (11); enabling SYSCALL anyway", d);
	if (catch_call(syscall_msrs, NULL) == CATCH_FAULTED) {
		check("syscall-enable", 0, "writing STAR, LSTAR, SFMASK or EFER.SCE raised vector %lu at rip 0x%lx: no processes",
		      catch_fault.vector, catch_fault.rip);
		return 0;
	}
	if (!(rdmsr(MSR_EFER) & EFER_SCE)) {
		check("syscall-enable", 0, "EFER.SCE reads back 0 after setting it: no processes");
		return 0;
	}
	return 1;
}

/* ---- processes ---- */

static void check_processes(void)
{
	int p, ok, first;
	struct uresult *r;

#define EACH(cond, ...) do { ok = 1; first = -1; \
	for (p = 0; p < NPROC; p++) { r = &uh->result[p]; (void)r; if (!(cond)) { ok = 0; if (first < 0) first = p; } } \
	p = first < 0 ? 0 : first; r = &uh->result[p]; (void)r; } while (0)

	for (p = 0; p < NPROC; p++) {
		struct fault *f = proc_fault_info(p);

		if (proc_state(p) == P_KILLED)
			kprintf("process %d killed: vector %lu error 0x%lx at rip 0x%lx cr2 0x%lx\n",
				p, f->vector, f->err, f->rip, f->cr2);
	}
	ok = uh->result[0].started && uh->result[0].pid_arg == 0 && uh->result[2].started && uh->result[2].pid_arg == 2;
	check("user-enter-sysret", ok, "processes 0 and 2: started %lu %lu, pid in RDI %lu %lu",
	      uh->result[0].started, uh->result[2].started, uh->result[0].pid_arg, uh->result[2].pid_arg);
	check("user-enter-iretq", uh->result[1].started && uh->result[1].pid_arg == 1,
	      "process 1: started %lu, pid in RDI %lu", uh->result[1].started, uh->result[1].pid_arg);
	EACH(r->cs == USER_CS && r->ss == USER_DS);
	check("user-segments", ok, "process %d read CS 0x%lx SS 0x%lx, want 0x%x 0x%x", p, r->cs, r->ss, USER_CS, USER_DS);
	EACH(r->getpid_syscall == (u64)p);
	check("syscall-getpid", ok, "process %d got %ld from SYSCALL getpid", p, (i64)r->getpid_syscall);
	/* SYS_REGCHECK's answer: bit 0 RCX, bit 1 R11, bit 2 the kernel's
	 * flags, bit 3 the user's flags not as the process set them. */
	EACH((r->regcheck & 3) == 0);
	check("syscall-rcx-r11", ok && regseen.asked && regseen.rcx == regseen.want_rcx && regseen.r11 == regseen.want_r11,
	      "process %d: answer 0x%lx; first seen RCX 0x%lx (want 0x%lx) R11 0x%lx (want 0x%lx)",
	      p, r->regcheck, regseen.rcx, regseen.want_rcx, regseen.r11, regseen.want_r11);
	EACH((r->regcheck & 0xc) == 0);
	check("syscall-sfmask", ok && regseen.asked && !(regseen.kflags & SFMASK_BITS) &&
	      (regseen.r11 & (RFLAGS_IF | RFLAGS_DF | RFLAGS_AC)) == (RFLAGS_IF | RFLAGS_DF | RFLAGS_AC),
	      "process %d: answer 0x%lx; first seen user RFLAGS 0x%lx (want IF, DF, AC set), kernel RFLAGS on entry 0x%lx (want IF, TF, DF, AC, NT clear)",
	      p, r->regcheck, regseen.r11, regseen.kflags);
	EACH(r->getpid_int80 == (u64)p);
	check("int80-getpid", ok, "process %d got %ld from INT 0x80 getpid", p, (i64)r->getpid_int80);
	EACH(r->lar_ucs_zf == 1 && (r->lar_ucs_ar & AR_MASK) == gdt_ar(USER_CS) && r->lar_kcs_zf == 0 &&
	     r->verw_uds_zf == 1 && r->verr_kds_zf == 0);
	check("lar-verr-user", ok,
	      "process %d at CPL 3: lar user code ZF %lu ar 0x%lx (want 1, 0x%x), lar kernel code ZF %lu (want 0), verw user data %lu (want 1), verr kernel data %lu (want 0)",
	      p, r->lar_ucs_zf, r->lar_ucs_ar & AR_MASK, gdt_ar(USER_CS), r->lar_kcs_zf, r->verw_uds_zf, r->verr_kds_zf);
	check("swapgs-kernel-gs", estats.syscall && estats.int80 && estats.irq && !estats.kgs_bad,
	      "entries from user mode by SYSCALL %s, INT 0x80 %s, interrupt %s; on the first wrong one (vector 0x%lx) GS base 0x%lx and %%gs:0 0x%lx, want 0x%lx",
	      estats.syscall ? "seen" : "none", estats.int80 ? "seen" : "none", estats.irq ? "seen" : "none",
	      estats.kgs_bad_vector, estats.kgs_bad_gsb, estats.kgs_bad_self, (u64)&percpu);
	EACH(r->gs_self == (u64)&uh->gs[p] && r->gs_tag == GS_TAG(p) && !r->gs_bad);
	check("swapgs-user-gs", ok && !estats.ugs_bad,
	      "process %d read %%gs:0 0x%lx %%gs:8 0x%lx (want 0x%lx 0x%lx), wrong %lu times while spinning (first 0x%lx); kernel saw KERNEL_GS_BASE 0x%lx on entry vector 0x%lx, want 0x%lx",
	      p, r->gs_self, r->gs_tag, (u64)&uh->gs[p], GS_TAG(p), r->gs_bad ? 1ul : 0ul, r->gs_bad_val,
	      estats.ugs_bad_val, estats.ugs_bad_vector, estats.ugs_bad_want);
	EACH(r->fs_self == (u64)&uh->tls[p] && r->fs_pid == (u64)p && !r->fs_bad);
	check("fs-base", ok && !estats.fs_bad,
	      "process %d read %%fs:0 0x%lx %%fs:8 0x%lx (want 0x%lx %d), wrong while spinning %s (first 0x%lx); kernel saw FS base 0x%lx on entry vector 0x%lx, want 0x%lx",
	      p, r->fs_self, r->fs_pid, (u64)&uh->tls[p], p, r->fs_bad ? "yes" : "no", r->fs_bad_val,
	      estats.fs_bad_val, estats.fs_bad_vector, estats.fs_bad_want);
	EACH(!r->priv_bad && *(volatile u64 *)PRIV_PHYS(p) == PRIV_TAG(p));
	check("private-memory", ok && !estats.cr3_bad,
	      "process %d read another value at 0x%lx while spinning: %s (first 0x%lx), its page holds 0x%lx (want 0x%lx); kernel saw CR3 0x%lx on an entry, want 0x%lx",
	      p, PRIV_VA, r->priv_bad ? "yes" : "no", r->priv_bad_val, *(volatile u64 *)PRIV_PHYS(p), PRIV_TAG(p),
	      estats.cr3_bad_val, estats.cr3_bad_want);
	EACH(uh->preempts[p] >= NPREEMPT && !r->gave_up);
	check("preempt", ok, "process %d was preempted %s %d times%s", p,
	      uh->preempts[p] >= NPREEMPT ? "at least" : "fewer than", NPREEMPT,
	      r->gave_up ? ", and gave up spinning" : "");
	EACH(proc_resumed_after_other(p));
	check("switch", ok, "process %d never resumed after another process ran", p);
	EACH(r->done && proc_state(p) == P_EXITED);
	check("exit", ok, "process %d: done %lu, state %d (want exited)", p, r->done, proc_state(p));
#undef EACH
}

/*
 * The kernel's own text, summed the way boot.S summed it before any of it
 * ran (h = rol(h, 5) ^ each 32-bit word), as kernels that guard their
 * text do: at the end of the checks it must still read as loaded.
 */
extern const u32 _text_start[], _text_end[];
extern u32 boot_text_sum;

static u32 text_sum(void)
{
	u32 h = 0;

	for (const volatile u32 *p = _text_start; p < _text_end; p++)
		h = ((h << 5) | (h >> 27)) ^ *p;
	return h;
}

void kmain(void);
void kmain(void)
{
	serial_init();
	kprintf("oskernel: an OS-style test kernel (guest/oskernel/README.md)\n");
	check("boot-magic", mb_magic == 0x2badb002, "EAX at entry 0x%x, want 0x2badb002", mb_magic);

	check_segments();
	tss_init();
	check_descriptor_insns();
	idt_init();
	pic_remap_mask();
	lapic_init();
	check_irqsave();
	check_percpu();
	check_idt();
	check_irqsave_delivery();
	if (setup_syscall()) {
		run_processes();
		check_processes();
	}
	{
		u32 now = text_sum();

		check("text-intact", now == boot_text_sum, "the text sums to 0x%x, 0x%x as loaded", now, boot_text_sum);
	}
	kprintf("summary: %d passed, %d failed\n", checks_passed, checks_failed);
	exit_qemu(checks_failed ? 1 : 0);
}
