/*
 * The machine and its run loop.
 *
 * 1. vm_create: lay out RAM, load the kernel (both without KVM, so a bad
 *    kernel is reported even on a host without /dev/kvm), then open KVM,
 *    create the VM and vCPU, register the memslots, set the CPUID table and
 *    let the mode put the vCPU at the entry point.
 * 2. vm_run: KVM_RUN until the board says the run is over.  Port I/O goes to
 *    the board's bus; MMIO nobody backs reads as zero; a triple fault, an
 *    emulation failure or a failed entry ends the guest with a report
 *    (registers and the instruction at RIP, decoded by capstone) while
 *    ombra keeps its counters.
 * 3. KVM's binary stats are read before and after, so the report shows what
 *    the run itself cost.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "host/disasm.h"
#include "explain.h"
#include "counters.h"
#include "gdbstub.h"

static const char *const exit_names[VM_EXIT_REASONS] = {
	[KVM_EXIT_UNKNOWN]        = "UNKNOWN",
	[KVM_EXIT_EXCEPTION]      = "EXCEPTION",
	[KVM_EXIT_IO]             = "IO",
	[KVM_EXIT_HYPERCALL]      = "HYPERCALL",
	[KVM_EXIT_DEBUG]          = "DEBUG",
	[KVM_EXIT_HLT]            = "HLT",
	[KVM_EXIT_MMIO]           = "MMIO",
	[KVM_EXIT_IRQ_WINDOW_OPEN]= "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN]       = "SHUTDOWN",
	[KVM_EXIT_FAIL_ENTRY]     = "FAIL_ENTRY",
	[KVM_EXIT_INTR]           = "INTR",
	[KVM_EXIT_SET_TPR]        = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS]     = "TPR_ACCESS",
	[KVM_EXIT_NMI]            = "NMI",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_SYSTEM_EVENT]   = "SYSTEM_EVENT",
	[KVM_EXIT_X86_RDMSR]      = "X86_RDMSR",
	[KVM_EXIT_X86_WRMSR]      = "X86_WRMSR",
};

const char *vm_exit_name(unsigned reason)
{
	if (reason < VM_EXIT_REASONS && exit_names[reason])
		return exit_names[reason];
	return "?";
}

int vm_fail(struct vm *vm, int status, int code, const char *fmt, ...)
{
	va_list ap;

	if (vm->err_status)
		return code;
	vm->err_status = status;
	va_start(ap, fmt);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	return code;
}

/* Read a whole file; the kind of file goes into messages. */
static int read_file(struct vm *vm, const char *what, const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return vm_fail(vm, OMBRA_EXIT_BAD_INPUT, -errno, "cannot open %s %s: %s", what, path,
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vm_fail(vm, OMBRA_EXIT_BAD_INPUT, -EINVAL, "%s %s is not a regular file", what, path);
	}
	*buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!*buf) {
		close(fd);
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOMEM, "no memory to read %s %s", what, path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			close(fd);
			free(*buf);
			*buf = NULL;
			return vm_fail(vm, OMBRA_EXIT_BAD_INPUT, -e, "cannot read %s %s: %s", what, path,
				       strerror(e));
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* A Linux bzImage: the boot protocol's 64-bit entry, with the board's
 * ACPI tables in the firmware area (docs/platform.md). */
static int load_linux(struct vm *vm, const uint8_t *kernel, size_t klen, const uint8_t *initrd, size_t ilen)
{
	struct linux_boot_in in = { vm->cfg.append, initrd, ilen, NULL, 0, 0 };
	uint8_t fw[LINUX_FW_SIZE];
	struct acpi_tables t;
	char why[256];
	int r;

	r = acpi_build(fw, sizeof(fw), LINUX_FW_GPA, &t);
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "cannot build the ACPI tables: %s", strerror(-r));
	in.fw = fw;
	in.fw_len = t.len;
	in.rsdp_gpa = t.rsdp_gpa;
	r = linux_load(&vm->mem, kernel, klen, &in, &vm->linux_boot, why, sizeof(why));
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_BAD_INPUT, r, "%s: %s", vm->cfg.kernel, why);
	vm->is_linux = true;
	vm->entry = vm->linux_boot.cpu;
	return 0;
}

/* A multiboot kernel: 32-bit protected mode, EAX the magic, EBX the info. */
static int load_multiboot(struct vm *vm, const uint8_t *kernel, size_t klen, const uint8_t *initrd, size_t ilen)
{
	struct mb_module mod = { initrd, ilen, vm->cfg.initrd };
	char *cmdline = NULL;
	char why[256];
	int r;

	/* As QEMU (and GRUB) do, the command line starts with the kernel's name. */
	if (asprintf(&cmdline, "%s %s", vm->cfg.kernel, vm->cfg.append ? vm->cfg.append : "") < 0)
		cmdline = NULL;
	r = mb_load(&vm->mem, kernel, klen, cmdline ? cmdline : vm->cfg.kernel,
		    vm->cfg.initrd ? &mod : NULL, &vm->boot, why, sizeof(why));
	free(cmdline);
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_BAD_INPUT, r, "%s: %s", vm->cfg.kernel, why);
	vm->entry = (struct boot_entry){ .rip = vm->boot.entry, .rax = MB_BOOTLOADER_MAGIC,
					 .rbx = vm->boot.info_gpa };
	return 0;
}

/* -kernel is a Linux bzImage or a multiboot kernel: the file says which. */
static int load_kernel(struct vm *vm)
{
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;
	int r;

	r = read_file(vm, "kernel", vm->cfg.kernel, &kernel, &klen);
	if (r == 0 && vm->cfg.initrd)
		r = read_file(vm, "initrd", vm->cfg.initrd, &initrd, &ilen);
	if (r == 0)
		r = linux_is_bzimage(kernel, klen) ? load_linux(vm, kernel, klen, initrd, ilen)
						   : load_multiboot(vm, kernel, klen, initrd, ilen);
	free(kernel);
	free(initrd);
	return r;
}

static void on_move_slot(void *opaque, uint64_t gpa);
static void on_explain(void *opaque, uint64_t gva);
static void on_remap_page(void *opaque, uint64_t gpa);
static void on_mark(void *opaque, uint32_t value);
static void on_powered_off(void *opaque);

/* The mem_commit_fn of guest memory: a memslot registered with KVM. */
static int commit_slot(void *opaque, const struct memslot *s, bool remove)
{
	return kvm_vm_set_region(opaque, s->id, s->flags, s->mpa, remove ? 0 : s->size, s->hva);
}

int vm_create(struct vm *vm, const struct vm_config *cfg, const struct vm_mode *mode)
{
	char why[256];
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->mode = mode;
	vm->log = stderr;
	vm->serial_out = cfg->serial_out;
	vm->host.fd = -1;
	vm->kvm.fd = vm->kvm.vcpu_fd = vm->kvm.vm_stats_fd = vm->kvm.vcpu_stats_fd = -1;
	snprintf(vm->host_mmu_kind, sizeof(vm->host_mmu_kind), "unknown");

	mem_init(&vm->mem);
	vm->mem.mpa_offset = mode->ram_mpa_offset;
	r = mem_layout_pc(&vm->mem, cfg->ram_size);
	if (r < 0)
		return vm_fail(vm, r == -EINVAL ? OMBRA_EXIT_USAGE : OMBRA_EXIT_HOST_ERROR, r,
			       "cannot give the guest %llu bytes of RAM: %s",
			       (unsigned long long)cfg->ram_size,
			       r == -EINVAL ? "at least 2 MiB, a multiple of 4 KiB" : strerror(-r));
	r = board_init(&vm->board, vm->serial_out, vm->log, cfg->ram_size);
	if (r == 0 && cfg->test_device)
		r = board_add_test_device(&vm->board);
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "cannot build the board: %s", strerror(-r));
	if (!cfg->serial_capture)
		serial_capture_off(&vm->board.serial);    /* only compare reads it */
	vm->board.move_slot = on_move_slot;
	vm->board.move_slot_opaque = vm;
	vm->board.explain = on_explain;
	vm->board.remap_page = on_remap_page;
	vm->board.mark = on_mark;
	vm->board.powered_off = on_powered_off;
	r = load_kernel(vm);
	if (r < 0)
		return r;

	r = kvm_host_open(&vm->host, cfg->kvm_path ? cfg->kvm_path : "/dev/kvm", why, sizeof(why));
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_NO_KVM, r, "%s", why);
	r = kvm_vm_create(&vm->host, &vm->kvm, why, sizeof(why));
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "%s", why);
	r = mode->devices(vm);
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "%s mode's devices: %s", mode->name, strerror(-r));
	r = kvm_vcpu_create(&vm->kvm, why, sizeof(why));
	if (r == 0)
		r = kvm_vm_set_cpuid(&vm->kvm, false, false, why, sizeof(why));
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "%s", why);

	mem_set_commit(&vm->mem, commit_slot, &vm->kvm);
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++) {
		if (!vm->mem.slots[i].used)
			continue;
		r = commit_slot(&vm->kvm, &vm->mem.slots[i], false);
		if (r < 0)
			return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r,
				       "KVM_SET_USER_MEMORY_REGION (slot %u at %#llx) failed: %s", i,
				       (unsigned long long)vm->mem.slots[i].mpa, strerror(-r));
	}
	r = mode->setup(vm);
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, r, "%s mode setup failed: %s", mode->name, strerror(-r));
	if (cfg->gdb)
		r = gdbstub_open(vm, cfg->gdb, cfg->gdb_wait);
	return r;
}

/* --- stopping a run from signals --------------------------------------- */

static struct kvm_run *volatile stop_run;     /* the run a signal should stop */
static volatile sig_atomic_t stop_why;        /* SIGALRM, SIGINT, SIGTERM, or 0 */
static volatile sig_atomic_t kicked;          /* the mode's event timer went off */
static volatile sig_atomic_t debug_io;        /* SIGIO: gdb connected or sent bytes */
#define SIG_KICK SIGRTMIN

static void on_kick(int sig)
{
	(void)sig;
	kicked = 1;
	if (stop_run)
		stop_run->immediate_exit = 1;
}

bool vm_stop_requested(void)
{
	return stop_why != 0;
}

int vm_stop_signal(void)
{
	return stop_why;
}

static void on_debug_io(int sig)
{
	(void)sig;
	debug_io = 1;
	if (stop_run)
		stop_run->immediate_exit = 1;
}

void vm_request_stop(int why)
{
	stop_why = why;
	if (stop_run)
		stop_run->immediate_exit = 1;
}

static void on_signal(int sig)
{
	vm_request_stop(sig);
}

/* SIGINT and SIGTERM are caught between runs too (vm_catch_stop_signals). */
static bool catching;

void vm_catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	catching = true;
}

static void arm_signals(struct vm *vm)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;   /* no SA_RESTART: KVM_RUN must return EINTR */
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_kick;
	sigaction(SIG_KICK, &sa, NULL);
	kicked = 0;
	if (vm->gdb) {
		sa.sa_handler = on_debug_io;
		sigaction(SIGIO, &sa, NULL);
		debug_io = 1;                /* look once: gdb may have connected already */
	}
	stop_run = vm->kvm.run;
	/* A SIGINT or SIGTERM caught before the run (its set-up) stops it at
	 * once; anything else pending is from an earlier run. */
	if (stop_why == SIGINT || stop_why == SIGTERM)
		vm->kvm.run->immediate_exit = 1;
	else
		stop_why = 0;
	{
		struct sigevent sev;

		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_SIGNAL;
		sev.sigev_signo = SIG_KICK;
		vm->kick_timer_ok = timer_create(CLOCK_MONOTONIC, &sev, &vm->kick_timer) == 0;
		vm->kick_armed = 0;
	}
	if (vm->status_on || vm->cfg.stats_interval > 0) {
		/* A tick four times a second (or each --stats-interval, if
		 * shorter): the status line, the interval lines, and the
		 * timeout measured against the clock. */
		double tick = vm->status_on ? 0.25 : vm->cfg.stats_interval;
		struct itimerval it;

		if (vm->cfg.stats_interval > 0 && vm->cfg.stats_interval < tick)
			tick = vm->cfg.stats_interval;
		it.it_interval.tv_sec = (time_t)tick;
		it.it_interval.tv_usec = (suseconds_t)((tick - (double)(time_t)tick) * 1e6);
		if (it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 0)
			it.it_interval.tv_usec = 1;
		it.it_value = it.it_interval;
		setitimer(ITIMER_REAL, &it, NULL);
	} else if (vm->cfg.timeout > 0) {
		struct itimerval it = { { 0, 0 }, { (time_t)vm->cfg.timeout,
			(suseconds_t)((vm->cfg.timeout - (double)(time_t)vm->cfg.timeout) * 1e6) } };

		if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
			it.it_value.tv_usec = 1;
		setitimer(ITIMER_REAL, &it, NULL);
	}
}

static void disarm_signals(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_REAL, &off, NULL);
	stop_run = NULL;
	signal(SIG_KICK, SIG_IGN);
	signal(SIGALRM, SIG_DFL);
	signal(SIGIO, SIG_IGN);
	if (catching)
		return;                      /* still caught: the caller looks at vm_stop_requested() */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

/* The mode's next event, armed as a one-shot timer; only when it changed,
 * so a run with nothing new costs no system call but KVM_RUN. */
static void arm_kick(struct vm *vm)
{
	uint64_t at = vm->mode->next_event(vm);
	struct itimerspec its;

	if (at == vm->kick_armed)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(at / 1000000000ULL);
	its.it_value.tv_nsec = (long)(at % 1000000000ULL);
	timer_settime(vm->kick_timer, TIMER_ABSTIME, &its, NULL);   /* 0: disarm */
	vm->kick_armed = at;
}

/* --- ending the guest with a report ------------------------------------ */

void vm_end(struct vm *vm, enum run_end end, int status, const char *fmt, ...)
{
	va_list ap;

	if (vm->end != END_NONE)
		return;
	va_start(ap, fmt);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	vm->end = end;
	vm->exit_status = status;
}

/* The board's power devices: the guest asked to end the run. */
static void on_powered_off(void *opaque)
{
	struct vm *vm = opaque;

	switch (vm->board.off) {
	case BOARD_DEBUG_EXIT:
		vm_end(vm, END_DEBUG_EXIT, vm->board.exit_status, "guest wrote %u to isa-debug-exit (port %#x)",
		       vm->board.debug_exit_value, DEBUG_EXIT_PORT);
		break;
	case BOARD_ACPI_OFF:
		vm_end(vm, END_SHUTDOWN, vm->board.exit_status, "guest powered off (ACPI S5, PM1_CNT at port %#x)",
		       ACPI_PM1_CNT_PORT);
		break;
	case BOARD_RESET:
		/* As QEMU with -no-reboot: a reset ends the run. */
		vm_end(vm, END_SHUTDOWN, vm->board.exit_status,
		       "guest reset the machine (port %#x): the run ends, as QEMU's with -no-reboot", ACPI_RESET_PORT);
		break;
	default:
		vm_end(vm, END_SHUTDOWN, vm->board.exit_status, "guest wrote \"Shutdown\" to port %#x",
		       SHUTDOWN_PORT);
		break;
	}
}

void vm_port_io(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		uint32_t v = 0;

		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&v, data, run->io.size);
			io_bus_out(&vm->board.io, run->io.port, run->io.size, v);
		} else {
			v = io_bus_in(&vm->board.io, run->io.port, run->io.size);
			memcpy(data, &v, run->io.size);
		}
	}
}

void vm_mmio(struct vm *vm, uint64_t gpa, void *data, unsigned len, bool write)
{
	/*
	 * A device, or nobody.  Memory nobody backs reads as zero and ignores
	 * writes: what QEMU's PC does, and what KVM's own page walker assumes
	 * of a page table there (a not-present entry), so the guest sees one
	 * rule for data and tables alike (docs/platform.md).
	 */
	if (mmio_bus_access(&vm->board.mmio, gpa, data, len, write))
		return;
	if (!write)
		memset(data, 0, len);
	if (vm->mmio_unbacked++ == 0)
		fprintf(vm->log, "ombra: guest %s unbacked guest-physical address %#llx (%u bytes): %s (logged once)\n",
			write ? "wrote" : "read", (unsigned long long)gpa, len,
			write ? "ignored" : "reads as zero");
}

static void handle_mmio(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;

	vm_mmio(vm, run->mmio.phys_addr, run->mmio.data, run->mmio.len > 8 ? 8 : run->mmio.len,
		run->mmio.is_write);
}

static void handle_internal_error(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	static const char *const sub[] = {
		[KVM_INTERNAL_ERROR_EMULATION] = "KVM's instruction emulator could not emulate an instruction",
		[KVM_INTERNAL_ERROR_SIMUL_EX] = "an exception occurred while delivering another",
		[KVM_INTERNAL_ERROR_DELIVERY_EV] = "event delivery failed",
		[KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected exit reason inside KVM",
	};
	uint32_t s = run->internal.suberror;

	vm_end(vm, END_GUEST_ERROR, OMBRA_EXIT_GUEST_ERROR,
		"KVM internal error %u: %s", s,
		s < sizeof(sub) / sizeof(sub[0]) && sub[s] ? sub[s] : "unknown suberror");
}

static void trace_sample(struct vm *vm)
{
	json_t *obj = json_object();

	vm->mode->trace_events(vm);
	vm->mode->sample(vm, obj);
	trace_write(vm->trace, TRACE_SAMPLE, obj);
}

static void trace_header(struct vm *vm)
{
	json_t *hdr = json_pack("{s:s, s:s, s:s, s:s, s:I}", "ombra", OMBRA_VERSION, "mode", vm->mode->name,
				"kernel", vm->cfg.kernel, "append", vm->cfg.append ? vm->cfg.append : "",
				"ram_bytes", (json_int_t)vm->cfg.ram_size);
	json_t *un = json_array();

	json_object_set_new(hdr, "unavailable", un);
	vm->mode->trace_header(vm, hdr);
	trace_write(vm->trace, TRACE_HEADER, hdr);
}

static void trace_end(struct vm *vm)
{
	struct counters list;
	json_t *c = json_object();

	trace_sample(vm);
	vm_counters(vm, &list);
	for (unsigned i = 0; i < list.n; i++)
		json_object_set_new(c, list.c[i].name, json_integer((json_int_t)list.c[i].value));
	trace_write(vm->trace, TRACE_END, json_pack("{s:s, s:i, s:o}", "reason", vm_end_name(vm->end),
						 "exit_status", vm->exit_status, "counters", c));
}

/* --- the live status line ------------------------------------------------------ */

static double since_start(const struct vm *vm)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - vm->t_start.tv_sec) + (double)(now.tv_nsec - vm->t_start.tv_nsec) / 1e9;
}

static void status_clear(void *opaque)
{
	struct vm *vm = opaque;

	if (vm->status_shown) {
		fputs("\r\033[K", stderr);
		vm->status_shown = false;
	}
}

/* Twice a second on a terminal: time, exits and faults, with their rates. */
static void status_update(struct vm *vm)
{
	double now = since_start(vm), dt = now - vm->status_last;
	struct counters c;
	uint64_t faults = 0;

	if (dt < 0.5)
		return;
	vm_counters(vm, &c);      /* tdp: KVM's stats read now, twice a second */
	for (unsigned i = 0; i < c.n; i++)
		if (strcmp(c.c[i].name, "pf_taken") == 0)
			faults = c.c[i].value;
	if (vm->serial_out)
		fflush(vm->serial_out);
	fprintf(stderr, "\r\033[K[ombra %s] %.1f s  %llu exits (%.0f/s)  %llu faults (%.0f/s)", vm->mode->name, now,
		(unsigned long long)vm->exits, (double)(vm->exits - vm->status_exits) / dt,
		(unsigned long long)faults, (double)(faults - vm->status_faults) / dt);
	fflush(stderr);
	vm->status_shown = true;
	vm->status_last = now;
	vm->status_exits = vm->exits;
	vm->status_faults = faults;
}

/*
 * --stats-interval: each interval, one line of what changed in it, as
 * kvm_stat's log mode prints: every counter of the mode (KVM's names;
 * userspace_exits is ombra's KVM_RUN returns) that moved, with its delta.
 * The counters are read as the status line reads them; a line is printed
 * between two exits, never inside a trap.
 */
static void interval_update(struct vm *vm)
{
	double now = since_start(vm);
	struct counters c;
	bool any = false;

	if (now - vm->interval_last < vm->cfg.stats_interval * 0.999)
		return;
	vm_counters(vm, &c);
	status_clear(vm);
	if (vm->serial_out)
		fflush(vm->serial_out);

	fprintf(stderr, "ombra: [%8.2f s]", now);
	for (unsigned i = 0; i < c.n; i++) {
		uint64_t before = 0;

		for (unsigned j = 0; j < vm->interval_prev.n; j++)
			if (strcmp(vm->interval_prev.c[j].name, c.c[i].name) == 0)
				before = vm->interval_prev.c[j].value;
		if (c.c[i].value != before) {
			fprintf(stderr, " %s %llu", c.c[i].name, (unsigned long long)(c.c[i].value - before));
			any = true;
		}
	}
	fputs(any ? "\n" : " nothing changed\n", stderr);
	vm->interval_last = now;
	vm->interval_prev = c;
}

void vm_run(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	char why[128];
	double t_back;                  /* when KVM_RUN last returned (s since the start) */

	if (vm->kvm.vm_stats_fd >= 0)
		kstats_read(vm->kvm.vm_stats_fd, &vm->vm_stats0, why, sizeof(why));
	if (vm->kvm.vcpu_stats_fd >= 0)
		kstats_read(vm->kvm.vcpu_stats_fd, &vm->vcpu_stats0, why, sizeof(why));
	/* A live status only for a person watching a terminal. */
	vm->status_on = isatty(STDERR_FILENO) && !getenv("OMBRA_NO_STATUS");
	if (vm->status_on) {
		vm->board.serial.before_tx = status_clear;
		vm->board.serial.before_opaque = vm;
	}
	arm_signals(vm);
	clock_gettime(CLOCK_MONOTONIC, &vm->t_start);
	t_back = 0;
	if (vm->trace) {
		trace_start(vm->trace);
		trace_header(vm);
	}

	if (vm->gdb) {
		/* -S: gdb is connected and the guest has not started; else a
		 * connection may be waiting. */
		if (vm->cfg.gdb_wait)
			vm->mode->debug_break(vm, 5);
		vm->kvm.run->immediate_exit = 1;
	}

	while (vm->end == END_NONE) {
		int r;

		if (vm->kick_timer_ok)
			arm_kick(vm);
		if (t_back > 0)
			vm->busy += since_start(vm) - t_back;     /* ombra's own time since the last return */
		r = ioctl(vm->kvm.vcpu_fd, KVM_RUN, 0);
		t_back = since_start(vm);
		if (r < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				vm_end(vm, END_HOST_ERROR, OMBRA_EXIT_HOST_ERROR, "KVM_RUN failed: %s",
					strerror(errno));
				break;
			}
			run->immediate_exit = 0;
			if (debug_io && vm->gdb) {
				debug_io = 0;
				gdbstub_poll(vm);
				if (!stop_why && !kicked)
					continue;
			}
			if (kicked && !stop_why) {
				kicked = 0;
				vm->kick_armed = 0;
				vm->kicks++;
				vm->mode->kick(vm);
				continue;
			}
			if (stop_why == SIGALRM && (vm->status_on || vm->cfg.stats_interval > 0) &&
			    !(vm->cfg.timeout > 0 && since_start(vm) >= vm->cfg.timeout)) {
				stop_why = 0;               /* the tick */
				if (vm->status_on)
					status_update(vm);
				if (vm->cfg.stats_interval > 0)
					interval_update(vm);
			} else if (stop_why == SIGALRM)
				vm_end(vm, END_TIMEOUT, OMBRA_EXIT_TIMEOUT,
					"--timeout of %g s expired", vm->cfg.timeout);
			else if (stop_why)
				vm_end(vm, END_INTERRUPTED, OMBRA_EXIT_INTERRUPTED,
					"interrupted by signal %d", (int)stop_why);
			continue;
		}
		vm->exits++;
		vm->exit_reason[run->exit_reason < VM_EXIT_REASONS ? run->exit_reason : 0]++;
		if (vm->trace && trace_sample_due(vm->trace))
			trace_sample(vm);
		if (vm->status_on)
			status_update(vm);
		if (vm->mode->exit(vm))
			continue;
		if (vm->trace) {
			json_t *e = json_pack("{s:s}", "reason", vm_exit_name(run->exit_reason));

			if (run->exit_reason == KVM_EXIT_IO)
				json_object_set_new(e, "port", json_integer(run->io.port));
			trace_write(vm->trace, TRACE_EXIT, e);
		}

		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			vm_port_io(vm);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(vm);
			break;
		case KVM_EXIT_HLT:
			/* Without an irqchip nothing can ever wake the vCPU. */
			vm_end(vm, END_GUEST_ERROR, OMBRA_EXIT_GUEST_ERROR,
				"guest halted with no interrupt source to wake it");
			break;
		case KVM_EXIT_SHUTDOWN:
			vm_end(vm, END_GUEST_ERROR, OMBRA_EXIT_GUEST_ERROR,
				"triple fault: the guest faulted while delivering a double fault (KVM_EXIT_SHUTDOWN)");
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			handle_internal_error(vm);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			vm_end(vm, END_GUEST_ERROR, OMBRA_EXIT_GUEST_ERROR,
				"KVM could not enter the guest (hardware reason %#llx)",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
				vm_end(vm, END_SHUTDOWN, OMBRA_EXIT_SHUTDOWN, "guest powered off");
			else
				vm_end(vm, END_GUEST_ERROR, OMBRA_EXIT_GUEST_ERROR,
					"guest asked for system event %u (reset is not supported)",
					run->system_event.type);
			break;
		case KVM_EXIT_INTR:
			break;
		default:
			vm_end(vm, END_HOST_ERROR, OMBRA_EXIT_HOST_ERROR,
				"unexpected KVM exit %u (%s)", run->exit_reason,
				vm_exit_name(run->exit_reason));
			break;
		}
	}

	clock_gettime(CLOCK_MONOTONIC, &vm->t_end);
	if (vm->kick_timer_ok) {
		timer_delete(vm->kick_timer);
		vm->kick_timer_ok = false;
	}
	{
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			vm->max_rss_kib = (uint64_t)ru.ru_maxrss;
	}
	disarm_signals();
	gdbstub_close(vm);                   /* gdb hears how the run ended */
	status_clear(vm);
	vm->board.serial.before_tx = NULL;
	if (vm->end == END_GUEST_ERROR || vm->end == END_TIMEOUT || vm->end == END_INTERRUPTED)
		vm->mode->guest_state(vm, vm->guest_state, sizeof(vm->guest_state));
	if (vm->serial_out)
		fflush(vm->serial_out);
	if (vm->kvm.vm_stats_fd >= 0)
		kstats_read(vm->kvm.vm_stats_fd, &vm->vm_stats1, why, sizeof(why));
	if (vm->kvm.vcpu_stats_fd >= 0)
		kstats_read(vm->kvm.vcpu_stats_fd, &vm->vcpu_stats1, why, sizeof(why));
	if (vm->trace)
		trace_end(vm);
}

/* Count one more of what the guest asked for; true while fewer than cap
 * came before it (keep it), else false, and the first time past the cap
 * say so once on the log (past: a format taking the cap). */
__attribute__((format(printf, 4, 0)))
static bool under_cap(struct vm *vm, uint64_t *n, unsigned cap, const char *past)
{
	if ((*n)++ < cap)
		return true;
	if (*n == (uint64_t)cap + 1) {
		fputs("ombra: ", vm->log);
		fprintf(vm->log, past, cap);
		fputs(" (said once)\n", vm->log);
	}
	return false;
}

void vm_device_error(struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	if (!under_cap(vm, &vm->dev_errors, VM_MAX_DEV_MSGS,
		       "test device: more than %u errors; the rest are counted in the report, not printed"))
		return;
	fputs("ombra: test device: ", vm->log);
	va_start(ap, fmt);
	vfprintf(vm->log, fmt, ap);
	va_end(ap);
	fputc('\n', vm->log);
}

int vm_move_slot(struct vm *vm, uint64_t gpa)
{
	struct memslot *slot = mem_find(&vm->mem, gpa);
	int r;

	if (!slot) {
		vm_device_error(vm, "no memslot holds %#llx; nothing moved",
			(unsigned long long)gpa);
		return -ENOENT;
	}
	r = mem_slot_move(&vm->mem, slot);
	if (r < 0) {
		vm_device_error(vm, "moving the memslot at %#llx failed: %s",
			(unsigned long long)slot->gpa, strerror(-r));
		return r;
	}
	vm->slot_moves++;
	/* As KVM does when an MMU notifier says an HVA changed: every mapping
	 * of the slot's frames goes (KVM handles its own for tdp mode). */
	vm->mode->memory_changed(vm, slot->gpa >> 12, slot->size >> 12);
	return 0;
}

int vm_delete_slot(struct vm *vm, uint64_t gpa)
{
	struct memslot *slot = mem_find(&vm->mem, gpa);
	uint64_t first, count;
	int r;

	if (!slot) {
		vm_device_error(vm, "no memslot holds %#llx; nothing deleted",
			(unsigned long long)gpa);
		return -ENOENT;
	}
	first = slot->gpa >> 12;
	count = slot->size >> 12;
	/* Every mapping of the frames goes first, then the memory. */
	vm->mode->memory_changed(vm, first, count);
	r = mem_slot_delete(&vm->mem, slot);
	if (r < 0) {
		vm_device_error(vm, "deleting the memslot at %#llx failed: %s",
			(unsigned long long)gpa, strerror(-r));
		return r;
	}
	vm->slot_deletes++;
	return 0;
}

int vm_add_slot(struct vm *vm, uint64_t gpa, uint64_t size)
{
	int r = mem_slot_add(&vm->mem, gpa, size, NULL);

	if (r < 0) {
		vm_device_error(vm, "adding %#llx bytes of RAM at %#llx failed: %s",
			(unsigned long long)size, (unsigned long long)gpa, strerror(-r));
		return r;
	}
	/* Nothing can map new frames yet; the mode hears of it all the same. */
	vm->mode->memory_changed(vm, gpa >> 12, size >> 12);
	vm->slot_adds++;
	return 0;
}

static void on_move_slot(void *opaque, uint64_t gpa)
{
	switch (gpa & 0xfff) {
	case 0: vm_move_slot(opaque, gpa); break;
	case 1: vm_delete_slot(opaque, gpa & ~0xfffULL); break;
	case 2: vm_add_slot(opaque, gpa & ~0xfffULL, 2ULL << 20); break;
	default: break;                         /* reserved */
	}
}

int vm_remap_page(struct vm *vm, uint64_t gpa)
{
	int r = mem_remap(&vm->mem, gpa & ~(MEM_PAGE_SIZE - 1), MEM_PAGE_SIZE);

	if (r < 0) {
		vm_device_error(vm, "cannot remap the page at %#llx: %s",
			(unsigned long long)gpa, strerror(-r));
		return r;
	}
	vm->page_remaps++;
	/* KVM hears of it from its MMU notifier; shadow mode zaps its own. */
	vm->mode->memory_changed(vm, gpa >> 12, 1);
	return 0;
}

static void on_remap_page(void *opaque, uint64_t gpa)
{
	vm_remap_page(opaque, gpa);
}

void vm_explain(struct vm *vm, uint64_t gva)
{
	json_t *obj = json_object();
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)gva);
	json_object_set_new(obj, "gva", json_string(buf));
	json_object_set_new(obj, "mode", json_string(vm->mode->name));
	vm->mode->explain(vm, gva, obj);
	explain_print(vm->log, obj);
	if (!vm->explained)
		vm->explained = json_array();
	json_array_append_new(vm->explained, obj);
}

/* KVM's own count of VM exits since the run began (its vCPU stat "exits":
 * every exit, most handled inside KVM), read now; 0 without binary stats. */
static uint64_t kvm_exits_now(const struct vm *vm)
{
	struct kstats now;
	char why[128];
	uint64_t v = 0;

	memset(&now, 0, sizeof(now));
	if (vm->kvm.vcpu_stats_fd >= 0 && kstats_read(vm->kvm.vcpu_stats_fd, &now, why, sizeof(why)) == 0) {
		const struct kstat *e = kstats_find(&now, "exits");

		if (e)
			v = kstat_delta(kstats_find(&vm->vcpu_stats0, "exits"), e);
	}
	kstats_free(&now);
	return v;
}

/* A phase mark: the time and the counters now, so that a benchmark can
 * take per-phase deltas (port 0x80, which QEMU ignores as well). */
static void on_mark(void *opaque, uint32_t value)
{
	struct vm *vm = opaque;
	struct counters list;
	json_t *c;
	double t = since_start(vm);

	/* Kept up to a cap: a guest writing port 0x80 in a loop must not grow
	 * ombra without bound (nor read KVM's stats each time). */
	if (!under_cap(vm, &vm->nmarks, VM_MAX_MARKS, "the guest wrote more than %u phase marks (port 0x80); "
		       "the rest are counted in the report, not kept"))
		return;
	c = json_object();
	vm_counters(vm, &list);
	for (unsigned i = 0; i < list.n; i++)
		json_object_set_new(c, list.c[i].name, json_integer((json_int_t)list.c[i].value));
	if (!vm->marks)
		vm->marks = json_array();
	json_array_append_new(vm->marks, json_pack("{s:i, s:f, s:o, s:I, s:f}", "value", (int)value, "t", t, "counters", c,
						   "kvm_exits", (json_int_t)kvm_exits_now(vm), "ombra_seconds", vm->busy));
}

/* The guest's own requests (ports 0xe8/0xec), kept and printed up to a
 * cap; --explain's addresses at exit are the user's and not counted. */
static void on_explain(void *opaque, uint64_t gva)
{
	struct vm *vm = opaque;

	if (!under_cap(vm, &vm->nexplained, VM_MAX_EXPLAINED, "the guest asked for more than %u explanations "
		       "(test device, ports 0xe8/0xec); the rest are counted in the report, not kept or printed"))
		return;
	vm_explain(vm, gva);
}

void vm_destroy(struct vm *vm)
{
	gdbstub_close(vm);
	if (vm->mode)
		vm->mode->teardown(vm);
	kvm_vm_destroy(&vm->kvm);
	kvm_host_close(&vm->host);
	mem_destroy(&vm->mem);
	board_destroy(&vm->board);
	json_decref(vm->explained);
	vm->explained = NULL;
	json_decref(vm->marks);
	vm->marks = NULL;
	kstats_free(&vm->vm_stats0);
	kstats_free(&vm->vcpu_stats0);
	kstats_free(&vm->vm_stats1);
	kstats_free(&vm->vcpu_stats1);
}
