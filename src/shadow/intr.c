/*
 * Shadow mode's clock and interrupt delivery: the interrupt sources (the
 * local APIC and the I/O APIC on the MMIO bus, the PIC pair and the PIT
 * with port 0x61 on the port bus; their models are src/dev/lapic.c,
 * ioapic.c, pic.c, pit.c), their clock, HLT's wait for them, and the
 * delivery of what they raise into the guest's IDT after a trap, after
 * HLT, or after a kick that stops a guest running with no trap
 * (docs/shadow.md, "Interrupts").
 *
 * The wiring is a PC's, as QEMU gives KVM in tdp mode: the PIT's IRQ 0
 * goes to the PIC and to the I/O APIC's pin 2; the I/O APIC sends to the
 * local APIC, whose EOI of a level-triggered vector comes back to it; the
 * PIC's output reaches the CPU through LINT0 in ExtINT mode, and is taken
 * before the local APIC's own vectors, as KVM does.
 */
#include "shadow.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

/* --- the clock ----------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t shadow_now_ns(const struct shadow *sh)
{
	return mono_ns() - sh->t0_ns;
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The TSC's rate against CLOCK_MONOTONIC, measured from set-up over at
 * least 2 ms, and the offset KVM gives the guest's TSC (on SVM and VMX the
 * guest's TSC starts near 0; on kvm_pvm it was the host's), both the first
 * time a guest uses TSC-deadline mode (so no run pays for it that does
 * not).  The offset is taken low by the time the read takes, so a deadline
 * never fires before the guest's own TSC has reached it. */
static double tsc_per_ns(struct shadow *sh)
{
	uint64_t ns, guest;

	if (sh->tsc_per_ns <= 0) {
		while ((ns = shadow_now_ns(sh)) < 2000000)
			;
		sh->tsc_per_ns = (double)(rdtsc() - sh->tsc0) / (double)ns;
		if (kvm_vm_get_msr(&sh->vm->kvm, 0x10 /* IA32_TIME_STAMP_COUNTER */, &guest) == 0)
			sh->tsc_offset = (int64_t)(guest - rdtsc());
	}
	return sh->tsc_per_ns;
}

/* The guest's TSC now. */
static uint64_t guest_tsc(struct shadow *sh)
{
	tsc_per_ns(sh);
	return rdtsc() + (uint64_t)sh->tsc_offset;
}

uint64_t shadow_tsc_to_ns(struct shadow *sh, uint64_t tsc)
{
	double rate = tsc_per_ns(sh);
	uint64_t now = shadow_now_ns(sh), c = guest_tsc(sh);

	if (tsc <= c || rate <= 0)
		return now;
	return now + (uint64_t)((double)(tsc - c) / rate) + 1;
}

/* --- the sources ------------------------------------------------------------------ */

static bool timers_armed(const struct shadow *sh)
{
	return sh->lapic.deadline_ns || sh->pit.irq0_next_ns;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* What the I/O APIC sent (a vector, or -1) into the local APIC. */
static void ioapic_sent(struct shadow *sh, int vector)
{
	if (vector >= 0)
		lapic_raise_trig(&sh->lapic, (unsigned)vector,
				 ioapic_level_vector(&sh->ioapic, (unsigned)vector));
}

/* The I/O APIC matches destinations against the local APIC as it is now. */
static struct ioapic *ioapic_synced(struct shadow *sh)
{
	ioapic_sync_lapic(&sh->ioapic, &sh->lapic, sh->v.apic_base & APIC_BASE_ENABLE);
	return &sh->ioapic;
}

/* An edge on ISA IRQ irq: to the PIC, and to the I/O APIC (IRQ 0 on pin 2). */
static void isa_irq_edge(struct shadow *sh, unsigned irq)
{
	unsigned pin = irq ? irq : 2;

	pic_set_irq(&sh->pic, irq, true);
	pic_set_irq(&sh->pic, irq, false);
	ioapic_sent(sh, ioapic_set_irq(ioapic_synced(sh), pin, true));
	ioapic_set_irq(&sh->ioapic, pin, false);
}

/* A board device's ISA line (COM1's IRQ 4) at a level: to the PIC and the
 * I/O APIC's pin of the same number. */
static void isa_irq_line(void *opaque, unsigned irq, bool level)
{
	struct shadow *sh = opaque;

	pic_set_irq(&sh->pic, irq, level);
	ioapic_sent(sh, ioapic_set_irq(ioapic_synced(sh), irq, level));
}

uint64_t shadow_timer_update(struct shadow *sh, uint64_t now_ns)
{
	struct lapic *a = &sh->lapic;

	if (lapic_timer_mode(a) == LAPIC_MODE_TSC_DEADLINE && a->deadline_ns && now_ns >= a->deadline_ns &&
	    guest_tsc(sh) < a->tsc_deadline)
		a->deadline_ns = shadow_tsc_to_ns(sh, a->tsc_deadline);   /* not yet, really */
	if (pit_irq0_update(&sh->pit, now_ns))
		isa_irq_edge(sh, 0);
	return earliest(lapic_timer_update(a, now_ns), sh->pit.irq0_next_ns);
}

/* The PIC's INTR, if LINT0 passes it to the CPU. */
static bool extint_pending(const struct shadow *sh)
{
	return pic_output(&sh->pic) &&
	       lapic_accepts_extint(&sh->lapic, sh->v.apic_base & APIC_BASE_ENABLE);
}

bool shadow_irq_pending(const struct shadow *sh)
{
	return extint_pending(sh) || lapic_pending(&sh->lapic) >= 0;
}

void shadow_deliver_interrupt(struct shadow *sh)
{
	unsigned vector;

	if (timers_armed(sh))
		shadow_timer_update(sh, shadow_now_ns(sh));   /* no clock read when no timer runs */
	/* STI's shadow lasts until the next instruction completes: a trap at
	 * that instruction itself (a hidden fault, ombra's kick) leaves RIP
	 * where STI left it, and the shadow on. */
	if (sh->sti_shadow && sh->t.rip != sh->sti_rip)
		sh->sti_shadow = false;
	if (!shadow_irq_pending(sh) || !(sh->t.rflags & RFLAGS_IF) || sh->vm->end != END_NONE)
		return;
	/* A read of patched code runs on its lifted frame, one instruction
	 * under the trap flag (scan.c): the interrupt waits for its #DB, one
	 * instruction later, as it waits out an STI shadow.  Delivered now,
	 * it would undo the lift, and on a slow host the timer could take
	 * every retry of the read that way. */
	if (sh->patch_step)
		return;
	if (sh->sti_shadow) {
		/* STI's shadow: the next instruction runs before the interrupt.
		 * Run it natively under the trap flag; its #DB comes back here. */
		sh->t.rflags |= RFLAGS_TF;
		sh->sti_step = true;
		return;
	}
	if (extint_pending(sh)) {
		vector = pic_intack(&sh->pic);           /* the CPU's INTA cycle */
		sh->irq_from = "pic";
	} else {
		vector = (unsigned)lapic_pending(&sh->lapic);
		lapic_ack(&sh->lapic, vector);
		sh->irq_from = "apic";
	}
	sh->irq_vector = vector;
	sh->irq_injections++;
	inject_exception(sh, vector, false, 0);
}

/* --- HLT ------------------------------------------------------------------------------ */

/*
 * The guest waits for an interrupt.  With IF set and a timer armed (the
 * local APIC's or the PIT's), ombra sleeps until it is due (in slices, so --timeout and
 * signals still end the run), and the trap path then delivers it, with
 * RIP after the HLT.  With nothing that can ever wake it, the run ends.
 */
enum trap_result shadow_halt(struct shadow *sh)
{
	sh->sti_shadow = false;                  /* HLT was the instruction after STI */
	for (;;) {
		uint64_t now = shadow_now_ns(sh), next = shadow_timer_update(sh, now);
		struct timespec ts;

		if (!(sh->t.rflags & RFLAGS_IF))
			break;
		if (shadow_irq_pending(sh))
			return TRAP_RESUME;              /* the trap path delivers it */
		if (vm_stop_requested())
			return TRAP_RESUME;              /* the run is ending */
		if (!next)
			break;
		next -= now < next ? now : next;
		if (next > 10000000)
			next = 10000000;                 /* 10 ms slices */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)next;
		nanosleep(&ts, NULL);
	}
	return shadow_kill(sh, "guest halted (HLT with interrupts %s) and nothing can wake it",
			   sh->t.rflags & RFLAGS_IF ? "enabled" : "disabled");
}

/* --- the devices on the buses ------------------------------------------------------ */

/* The local APIC's page: 32-bit accesses, as the SDM asks; others read
 * zero and are dropped. */
static void lapic_mmio_read(void *opaque, uint64_t off, unsigned len, uint64_t *val)
{
	struct shadow *sh = opaque;

	*val = len == 4 && !(off & 3) ? lapic_read(&sh->lapic, (unsigned)off, shadow_now_ns(sh)) : 0;
}

static void lapic_mmio_write(void *opaque, uint64_t off, unsigned len, uint64_t val)
{
	struct shadow *sh = opaque;

	if (len != 4 || (off & 3))
		return;
	lapic_write(&sh->lapic, (unsigned)off, (uint32_t)val, shadow_now_ns(sh));
	if (sh->lapic.eoi_level) {                       /* a level-triggered EOI */
		ioapic_sent(sh, ioapic_eoi(ioapic_synced(sh), sh->lapic.eoi_level - 1));
		sh->lapic.eoi_level = 0;
	}
}

/* The I/O APIC's page: IOREGSEL and IOWIN, 32 bits wide (a narrower or
 * wider access reaches the same register, as KVM's). */
static void ioapic_mmio_read(void *opaque, uint64_t off, unsigned len, uint64_t *val)
{
	struct shadow *sh = opaque;

	(void)len;
	*val = ioapic_read(&sh->ioapic, (unsigned)off);
}

static void ioapic_mmio_write(void *opaque, uint64_t off, unsigned len, uint64_t val)
{
	struct shadow *sh = opaque;

	(void)len;
	ioapic_sent(sh, ioapic_write(ioapic_synced(sh), (unsigned)off, (uint32_t)val));
}

/* The PIC pair's, the ELCR's, the PIT's and port 0x61's registers are
 * bytes: a wider access reaches the register at its port (as KVM's), the
 * other bytes read zero. */
static void legacy_in(void *opaque, uint16_t port, unsigned size, uint32_t *val)
{
	struct shadow *sh = opaque;

	(void)size;
	if (port == PIT_PORT61)
		*val = pit_port61_read(&sh->pit, shadow_now_ns(sh));
	else if (port >= PIT_PORT && port < PIT_PORT + 4)
		*val = pit_read(&sh->pit, port - PIT_PORT, shadow_now_ns(sh));
	else
		*val = pic_read(&sh->pic, port);
}

static void legacy_out(void *opaque, uint16_t port, unsigned size, uint32_t val)
{
	struct shadow *sh = opaque;

	(void)size;
	if (port == PIT_PORT61)
		pit_port61_write(&sh->pit, (uint8_t)val, shadow_now_ns(sh));
	else if (port >= PIT_PORT && port < PIT_PORT + 4)
		pit_write(&sh->pit, port - PIT_PORT, (uint8_t)val, shadow_now_ns(sh));
	else
		pic_write(&sh->pic, port, (uint8_t)val);
}

int shadow_irq_init(struct shadow *sh)
{
	struct vm *vm = sh->vm;
	const struct mmio_dev mmio[] = {
		{ "local APIC", LAPIC_BASE, LAPIC_SIZE, lapic_mmio_read, lapic_mmio_write, sh },
		{ "I/O APIC", IOAPIC_BASE, IOAPIC_SIZE, ioapic_mmio_read, ioapic_mmio_write, sh },
	};
	const struct io_dev ports[] = {
		{ "pic-master", PIC_MASTER, 2, legacy_in, legacy_out, sh },
		{ "pic-slave", PIC_SLAVE, 2, legacy_in, legacy_out, sh },
		{ "elcr", PIC_ELCR, 2, legacy_in, legacy_out, sh },
		{ "pit", PIT_PORT, 4, legacy_in, legacy_out, sh },
		{ "port61", PIT_PORT61, 1, legacy_in, legacy_out, sh },
	};

	lapic_reset(&sh->lapic);
	ioapic_reset(&sh->ioapic);
	pic_reset(&sh->pic);
	pit_reset(&sh->pit);
	sh->t0_ns = mono_ns();
	sh->tsc0 = rdtsc();
	for (unsigned i = 0; i < sizeof(mmio) / sizeof(mmio[0]); i++) {
		if (mmio_bus_register(&vm->board.mmio, &mmio[i]) < 0)
			return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -EEXIST, "the %s's page is taken on the MMIO bus",
				       mmio[i].name);
	}
	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		if (io_bus_register(&vm->board.io, &ports[i]) < 0)
			return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -EEXIST, "port %#x (%s) is taken on the port bus",
				       ports[i].base, ports[i].name);
	}
	vm->board.set_irq = isa_irq_line;
	vm->board.irq_opaque = sh;
	return 0;
}

/* --- a guest that runs with no trap ------------------------------------------------ */

/*
 * The guest may run for long with no trap (a loop in its own code): when
 * one of its timers is due and the guest can take the interrupt, the run
 * loop stops KVM_RUN at that time (next_event) and ombra raises a real
 * interrupt, SHADOW_KICK_VECTOR, in the VM (kick).  It arrives in the
 * monitor as a trap like any other, and the trap path delivers the
 * guest's interrupt.
 */

/* Raise the kick vector now, or when KVM says the vCPU can take an
 * interrupt (KVM_EXIT_IRQ_WINDOW_OPEN). */
void shadow_raise_kick(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	struct kvm_interrupt irq = { SHADOW_KICK_VECTOR };

	if (!run->ready_for_interrupt_injection) {
		run->request_interrupt_window = 1;
		return;
	}
	run->request_interrupt_window = 0;
	if (ioctl(vm->kvm.vcpu_fd, KVM_INTERRUPT, &irq) < 0)
		shadow_kill(vm->mode_data, "KVM_INTERRUPT failed: %s", strerror(errno));
}

/* Can the PIT's next edge interrupt the CPU (through the PIC and LINT0,
 * or the I/O APIC's pin 2)?  If not, it need not stop the guest: the
 * PIC's IRR catches up at the next trap. */
static bool pit_reaches_cpu(const struct shadow *sh)
{
	return (!(sh->pic.chip[0].imr & 1) &&
		lapic_accepts_extint(&sh->lapic, sh->v.apic_base & APIC_BASE_ENABLE)) ||
	       !(sh->ioapic.redir[2] & IOAPIC_MASKED);
}

uint64_t shadow_next_event(struct vm *vm)
{
	struct shadow *sh = vm->mode_data;
	uint64_t next = earliest(sh->lapic.deadline_ns, pit_reaches_cpu(sh) ? sh->pit.irq0_next_ns : 0);

	if ((!sh->v.vif && !sh->native_if) || !next)
		return 0;
	return sh->t0_ns + next;
}

void shadow_kick(struct vm *vm)
{
	struct shadow *sh = vm->mode_data;

	shadow_timer_update(sh, shadow_now_ns(sh));
	/* With native_if the guest may have set IF since its last trap:
	 * shadow_raise_kick waits for KVM's window if it has not. */
	if ((sh->v.vif || sh->native_if) && shadow_irq_pending(sh))
		shadow_raise_kick(vm);
}
