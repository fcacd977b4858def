/*
 * One virtual machine: its configuration, KVM objects, guest memory, board,
 * and the vCPU run loop that both modes share.
 *
 * A mode (src/tdp, src/shadow) supplies struct vm_mode: every hook, from
 * its devices inside KVM to its counters and its view of a dying guest.
 * The loop itself never branches on the mode.  A run ends one way,
 * vm_end(); set-up reports an error one way, vm_fail().
 */
#ifndef OMBRA_VM_H
#define OMBRA_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "dev/board.h"
#include "gdbproto.h"
#include "host/kstats.h"
#include "host/kvm.h"
#include "bzimage.h"
#include "loader.h"
#include "mem.h"
#include "trace.h"

#define OMBRA_VERSION "0.1.0"

enum mmu_mode { MMU_TDP, MMU_SHADOW };

/* How a run ended, as the guest or ombra decided (vm_end). */
enum run_end {
	END_NONE = 0,     /* still running */
	END_DEBUG_EXIT,   /* guest wrote to isa-debug-exit */
	END_SHUTDOWN,     /* guest powered off ("Shutdown" port, KVM's system event) */
	END_GUEST_ERROR,  /* guest misbehaved: triple fault, emulation failure... */
	END_HOST_ERROR,   /* ombra or KVM failed */
	END_TIMEOUT,      /* --timeout expired */
	END_INTERRUPTED,  /* SIGINT or SIGTERM stopped the run */
};

/*
 * ombra's own exit statuses are even, so they never collide with the odd
 * statuses (value << 1) | 1 that isa-debug-exit produces (docs/ombra.md).
 */
#define OMBRA_EXIT_SHUTDOWN     0   /* guest powered off ("Shutdown" port) */
#define OMBRA_EXIT_GUEST_ERROR  2   /* triple fault, emulation failure, ... */
#define OMBRA_EXIT_TIMEOUT      4   /* --timeout expired */
#define OMBRA_EXIT_INTERRUPTED  6   /* SIGINT / SIGTERM */
#define OMBRA_EXIT_USAGE        8   /* bad command line */
#define OMBRA_EXIT_BAD_INPUT    10  /* kernel/initrd missing or malformed */
#define OMBRA_EXIT_NO_KVM       12  /* /dev/kvm missing or not accessible */
#define OMBRA_EXIT_HOST_ERROR   14  /* an ioctl or allocation failed */
#define OMBRA_EXIT_DIFFER       16  /* ombra compare: the modes showed the guest different machines */
/* --stats: summary (the default: how it ended and one line of counters),
 * text (the full report), json, none. */
enum stats_format { STATS_SUMMARY, STATS_TEXT, STATS_JSON, STATS_NONE };

struct vm_config {
	enum mmu_mode mmu;          /* --mmu */
	uint64_t ram_size;          /* -m, bytes */
	const char *kernel;         /* -kernel */
	const char *append;         /* -append */
	const char *initrd;         /* -initrd */
	const char *serial;         /* -serial: stdio, file:F, null, none */
	enum stats_format stats;    /* --stats */
	const char *stats_file;     /* --stats-file, NULL: stderr */
	double timeout;             /* --timeout seconds, 0: none */
	double stats_interval;      /* --stats-interval seconds, 0: none */
	const char *kvm_path;       /* /dev/kvm */
	FILE *serial_out;           /* the -serial sink, opened by the caller; NULL: discard */
	const void *mode_opts;      /* the mode's own options, read at set-up (shadow: struct
				     * shadow_opts, shadow/mode.h); NULL: the mode's defaults */
	bool no_seccomp;            /* --no-seccomp: run without the seccomp filter (run only) */
	bool test_device;           /* -device ombra-test: the test device at 0xe0-0xf3 */
	bool serial_capture;        /* keep the guest's serial output (compare), up to
				     * SERIAL_CAPTURE_MAX bytes */
	const char *trace_path;     /* --trace FILE */
#define VM_MAX_EXPLAIN 16
	uint64_t explain[VM_MAX_EXPLAIN]; /* --explain addresses */
	unsigned nexplain;
	const char *gdb;            /* -gdb tcp::PORT (-s: tcp::1234), NULL: no gdbstub */
	bool gdb_wait;              /* -S: wait for gdb before the guest's first instruction */
};

struct vm;

/* A list of named counters, the same names in both modes (docs/counters.md). */
#define MAX_COUNTERS 160
struct counters {
	struct { const char *name; uint64_t value; } c[MAX_COUNTERS];
	unsigned n;
};

static inline void counters_add(struct counters *l, const char *name, uint64_t value)
{
	if (l->n < MAX_COUNTERS) {
		l->c[l->n].name = name;
		l->c[l->n].value = value;
		l->n++;
	}
}

/*
 * What a mode supplies: every hook, always (the run loop never asks which
 * mode it runs, nor tests a hook for NULL).  In the order of a run:
 */
struct vm_mode {
	const char *name;           /* "tdp", "shadow" */
	uint64_t ram_mpa_offset;    /* guest RAM sits at MPA = GPA + this */
	/* Its MMU counters are the host KVM's own stats (the report then does
	 * not list those twice). */
	bool kvm_counters;
	/* Hardware breakpoints the gdbstub offers (Z1), 0 to 4. */
	unsigned debug_hw_max;
	/* The mode's devices inside KVM, after the VM and before its vCPU
	 * (tdp: KVM's irqchip, PIT and a PC's interrupt routing).  0 or
	 * -errno, with vm_fail() saying why. */
	int (*devices)(struct vm *vm);
	/* Put the vCPU at the multiboot entry point.  0 or -errno, with
	 * vm_fail() saying why. */
	int (*setup)(struct vm *vm);
	/* The run has a trace and begins: the mode's part of the header (what
	 * it cannot trace), and from now on its events go to vm->trace. */
	void (*trace_header)(struct vm *vm, json_t *hdr);
	/* First look at an exit; return true when the mode handled it. */
	bool (*exit)(struct vm *vm);
	/* When the guest must be interrupted even if it never traps (a timer
	 * of the mode's own devices): CLOCK_MONOTONIC ns, 0 for never.  The
	 * run loop then stops KVM_RUN at that time and calls kick. */
	uint64_t (*next_event)(struct vm *vm);
	void (*kick)(struct vm *vm);
	/* ombra changed its own mapping of guest frames [gfn, gfn+count). */
	void (*memory_changed)(struct vm *vm, uint64_t gfn, uint64_t count);
	/* Add the guest's walk of gva (and the shadow's) to obj (explain.h). */
	void (*explain)(struct vm *vm, uint64_t gva, json_t *obj);
	/* Write the events the mode gathered elsewhere since the last call
	 * (tdp: KVM's tracepoints) to the trace; at each sample and at the
	 * end. */
	void (*trace_events)(struct vm *vm);
	/* Fill a trace "sample" record. */
	void (*sample)(struct vm *vm, json_t *obj);
	/* The mode's MMU counters under KVM's names, now (during the run) or
	 * over the run (after it). */
	void (*counters)(struct vm *vm, struct counters *out);
	/* The guest's registers and instruction, for a report of its death. */
	void (*guest_state)(struct vm *vm, char *buf, size_t len);
	/* The gdbstub (gdbstub.c, docs/gdb.md), only ever with -gdb.  The
	 * stopped guest's registers (write: set them), and its memory by
	 * guest-virtual address through its own page tables (0, or -EFAULT
	 * when a byte is not mapped). */
	int (*debug_regs)(struct vm *vm, struct gdb_regs *r, bool write);
	int (*debug_mem)(struct vm *vm, uint64_t gva, void *buf, size_t len, bool write);
	/* gdb resumes the guest (step: for one instruction), or is gone
	 * (attached false: run as without it). */
	void (*debug_resume)(struct vm *vm, bool attached, bool step);
	/* Stop the guest for gdb with signal sig as soon as it can: call
	 * vm_debug_stop(vm, sig) from where the guest stands still. */
	void (*debug_break)(struct vm *vm, int sig);
	/* Free what devices and setup made. */
	void (*teardown)(struct vm *vm);
};

#define VM_EXIT_REASONS 64

/*
 * What a guest can make ombra keep or print, capped (docs/security.md):
 * beyond each cap the requests are counted, not kept, and the cap is said
 * once on stderr.  Each stays well inside the 64 MiB of ombra's own that
 * the peak RSS bound allows.
 */
#define VM_MAX_MARKS     1024   /* phase marks kept (port 0x80; ~10 KiB each) */
#define VM_MAX_EXPLAINED 256    /* guest explain requests kept and printed (0xe8/0xec) */
#define VM_MAX_DEV_MSGS  16     /* test-device errors printed */

struct vm {
	struct vm_config cfg;       /* what the user asked for */
	const struct vm_mode *mode; /* tdp or shadow */
	void *mode_data;            /* the mode's own state */
	struct kvm_host host;       /* /dev/kvm */
	struct kvm_vm kvm;          /* VM and vCPU fds, kvm_run */
	struct guest_mem mem;       /* memslots */
	struct board board;         /* devices */
	struct mb_boot boot;        /* where the multiboot loader put things */
	struct linux_boot linux_boot; /* ... or the Linux loader (is_linux) */
	bool is_linux;              /* -kernel is a bzImage (the Linux boot protocol) */
	struct boot_entry entry;    /* the CPU state at the kernel's first instruction */
	FILE *serial_out;           /* the -serial sink */
	FILE *log;                  /* ombra's own messages (stderr) */
	char err[512];              /* why set-up failed (vm_fail) or the run ended (vm_end) */
	int err_status;             /* OMBRA_EXIT_* that goes with a vm_create error */
	enum run_end end;           /* how the run ended; END_NONE while it runs */
	int exit_status;            /* the process exit status that goes with it */
	char guest_state[1024];     /* registers and instruction when the guest died */
	char host_mmu[256];         /* which MMU the host's KVM uses, for people */
	char host_mmu_kind[16];     /* ept, npt, shadow, unknown */
	char host_notes[1024];      /* what this host's KVM cannot do for a guest */

	/* Accounting, kept whatever happens to the guest. */
	struct kstats vm_stats0, vcpu_stats0;   /* KVM stats at the start */
	struct kstats vm_stats1, vcpu_stats1;   /* ... and at the end */
	struct timespec t_start, t_end;         /* wall clock around the run */
	uint64_t exits;                         /* KVM_RUN returns */
	double busy;                            /* seconds in ombra between a KVM_RUN's return and the next call */
	uint64_t exit_reason[VM_EXIT_REASONS];  /* by KVM_EXIT_* */
	uint64_t max_rss_kib;                   /* ombra's peak resident memory, at the end */
	timer_t kick_timer;                     /* the mode's event timer (next_event) */
	bool kick_timer_ok;
	uint64_t kick_armed;                    /* when it is set to go off, 0: not */
	uint64_t kicks;                         /* times it stopped KVM_RUN */
	uint64_t mmio_unbacked;                 /* accesses to GPAs no slot or device backs */
	uint64_t slot_moves;                    /* memslots moved to a new HVA while running */
	uint64_t page_remaps;                   /* pages given new host memory while running */
	uint64_t slot_adds, slot_deletes;       /* memslots added or deleted while running */
	struct trace *trace;                    /* --trace, or NULL */
	int dir_fds[4];                         /* folders the run unlinks in after set-up (tdp: tracefs instances) */
	unsigned ndir_fds;
	json_t *explained;                      /* translation chains asked for (a JSON array) */
	json_t *marks;                          /* phase marks the guest wrote to port 0x80 */
	uint64_t nmarks, nexplained;            /* marks and guest explain requests, all */
	uint64_t dev_errors;                    /* test-device requests that failed */
	bool status_on;                         /* a live status line on the terminal */
	bool status_shown;                      /* ... is on the screen now */
	double status_last;                     /* when it was last drawn */
	uint64_t status_exits, status_faults;   /* the counts it showed then */
	double interval_last;                   /* --stats-interval: when the last line was */
	struct counters interval_prev;          /* ... and the counts it started from */
	struct gdbstub *gdb;                    /* -gdb (gdbstub.c), or NULL */
};

const char *vm_exit_name(unsigned reason);

/* The one way a run ends: the first call wins and says why (vm->err);
 * later calls are ignored.  The run loop stops before the next KVM_RUN. */
void vm_end(struct vm *vm, enum run_end end, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The one way set-up reports an error: why (vm->err) and the exit status
 * that goes with it (vm->err_status); returns code (-errno), for
 * `return vm_fail(...)`.  The first call wins. */
int vm_fail(struct vm *vm, int status, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The port I/O of a KVM_EXIT_IO in kvm_run, through the board's port bus:
 * tdp mode's exits, and shadow mode's guest I/O the CPU let through. */
void vm_port_io(struct vm *vm);

/* Create everything up to a vCPU ready at the kernel's entry.  0 or -errno,
 * with the reason in vm->err. */
int vm_create(struct vm *vm, const struct vm_config *cfg, const struct vm_mode *mode);
/* Run until the guest ends, ombra ends it, or the timeout expires. */
void vm_run(struct vm *vm);
/* An access to guest-physical memory no memslot backs (device MMIO), from
 * either mode: the device answers, or nobody does (reads as zero). */
void vm_mmio(struct vm *vm, uint64_t gpa, void *data, unsigned len, bool write);
void vm_destroy(struct vm *vm);

/* Delete the memslot holding gpa, or add a 2 MiB one at gpa, while the
 * guest runs (the test device asks); shadow entries of its frames go. */
int vm_delete_slot(struct vm *vm, uint64_t gpa);
int vm_add_slot(struct vm *vm, uint64_t gpa, uint64_t size);

/* Give the page at gpa fresh host memory (mem_remap), as the test device asks. */
int vm_remap_page(struct vm *vm, uint64_t gpa);

/* Explain the translation chain of gva now: printed, kept for the report. */
void vm_explain(struct vm *vm, uint64_t gva);

/* Move the memslot holding gpa to a new host mapping, contents copied,
 * while the guest runs (the test device asks for it). */
int vm_move_slot(struct vm *vm, uint64_t gpa);

/* Say a test-device error on the log: the first VM_MAX_DEV_MSGS, then
 * once that the rest are only counted. */
void vm_device_error(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on, SIGINT and SIGTERM outside a run (set-up, between runs) are
 * caught too, not fatal: vm_stop_requested() says so, and the next
 * vm_run() ends at once as interrupted (ombra compare). */
void vm_catch_stop_signals(void);
/* Stop the run from a signal handler (SIGALRM, SIGINT). */
void vm_request_stop(int why);
/* A signal (--timeout, SIGINT, SIGTERM) asked the run to stop. */
bool vm_stop_requested(void);
/* ... which one (0: none). */
int vm_stop_signal(void);

#endif
