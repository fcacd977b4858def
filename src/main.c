/*
 * ombra's command line.
 *
 *   ombra run [options] -kernel FILE       one run, in tdp or shadow mode
 *   ombra compare [options] -kernel FILE   the same kernel in every mode
 *   ombra compare --merge [--json] FILE... compare tables from several hosts
 *   ombra report [-o OUT.html] FILE...     charts of reports and traces
 *   ombra info                             this host's KVM
 *   ombra --help | --version               (usage() below lists the options)
 *
 * Options are spelled like QEMU's where QEMU has them (one dash or two, as
 * getopt_long_only allows), so a kernel run with qemu-system-x86_64 -kernel
 * runs the same way here.  Only this file decides the process exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/hostmmu.h"
#include "shadow/mode.h"
#include "report/compare.h"
#include "host/confine.h"
#include "tdp/tdp.h"
#include "host/disasm.h"
#include "vmm/explain.h"
#include "vmm/gdbstub.h"
#include "report/htmlreport.h"
#include "report/outfile.h"
#include "host/kvm.h"
#include "report/report.h"
#include "vmm/vm.h"

#define DEFAULT_RAM (128ULL << 20)   /* QEMU's default */
#define MAX_RAM     (1ULL << 40)  /* 1T: the -m message and docs/ombra.md say so */

static void usage(FILE *out)
{
	fprintf(out,
"usage: ombra run [options] -kernel FILE     boot a multiboot kernel\n"
"       ombra compare [options] -kernel FILE boot it in tdp and shadow mode, compare\n"
"       ombra compare --merge [--json] [--nonzero] FILE...\n"
"                                            one table over compare --json outputs\n"
"                                            made on several hosts (docs/nested.md)\n"
"       ombra report [-o OUT.html] FILE...   charts of reports and traces (HTML)\n"
"       ombra info                           describe this host's KVM\n"
"       ombra --help | --version\n"
"\n"
"run options (QEMU's spelling where QEMU has the option):\n"
"  --mmu=tdp|shadow      who does the second translation (default tdp):\n"
"                          tdp     KVM's own MMU (EPT/NPT on bare metal)\n"
"                          shadow  ombra's own shadow page tables\n"
"  -m SIZE               guest RAM, MiB or with a K/M/G/T suffix (default 128M)\n"
"  -kernel FILE          multiboot v1 kernel, ELF32 or ELF64\n"
"  -append STR           kernel command line\n"
"  -initrd FILE          loaded as multiboot module 0\n"
"  -serial DEV           stdio (default), file:PATH, or null\n"
"  --stats[=FMT]         end-of-run report: summary (the default: how the run\n"
"                        ended and one line of counters), text (the full report;\n"
"                        --stats alone), json, none\n"
"  --stats-file FILE     write the report there instead of to stderr (the full\n"
"                        text report unless --stats says otherwise)\n"
"  --timeout SECONDS     end the run after this long (exit status 4)\n"
"  --stats-interval SECONDS\n"
"                        every SECONDS, one line on stderr of what changed: exits\n"
"                        and each counter that moved (as kvm_stat -l)\n"
"  --trace FILE          every MMU event as JSON Lines (docs/trace.md)\n"
"  --explain=GVA[,GVA]   at exit, the translation chain of each address\n"
"  -gdb tcp::PORT        a gdbstub on 127.0.0.1:PORT (tcp:HOST:PORT to choose the\n"
"                        address): registers, memory by guest-virtual address,\n"
"                        breakpoints, single step, in both modes (docs/gdb.md)\n"
"  -s                    -gdb tcp::1234\n"
"  -S                    wait for gdb before the guest's first instruction\n"
"  --no-seccomp          run without the seccomp filter ombra installs once the\n"
"                        guest is loaded (for debugging ombra with strace or gdb)\n"
"  -nographic, -display none, -monitor none, -nodefaults, -no-reboot, -enable-kvm,\n"
"  -accel kvm,\n"
"  -device isa-debug-exit,iobase=0xf4,iosize=0x04\n"
"                        accepted as QEMU's, for what ombra's PC always is\n"
"  -device ombra-test    the ombra test device on ports 0xe0-0xf3 (memslot move,\n"
"                        add, delete, page remap, explain, the RAM-deterministic\n"
"                        mark); off by default: unassigned ports\n"
"\n"
"shadow-mode options:\n"
"  --shadow-sync=MODE    how shadow tables follow the guest's: vtlb (a virtual TLB,\n"
"                        flushed on CR3 writes and INVLPG), wp (guest tables\n"
"                        write-protected, writes emulated), unsync (default: like\n"
"                        wp, but leaf tables go out of sync until CR3/INVLPG)\n"
"  --shadow-pages N      size of the shadow-page pool (default RAM/32 KiB, 1024..65536)\n"
"  --prefetch N          also fill up to N (0-8, default 8) neighbouring entries\n"
"  --shadow-large on|off 2 MiB shadow leaves for guest large pages (default on)\n"
"  --shadow-patch on|off scan guest code as it first runs and patch the instructions\n"
"                        that do not trap at CPL 3 (MOV from CS/SS, LAR, LSL, VERR,\n"
"                        VERW), as VirtualBox's raw mode did (default off)\n"
"  --audit               check every shadow entry against the guest's tables after\n"
"                        each trap; end the guest on a mismatch (slow)\n"
"  (given in tdp mode, each is refused: tdp mode has no shadow tables)\n"
"compare options: -m, -kernel, -append, -initrd, --timeout, -device, QEMU's\n"
"  spellings, the shadow-mode options (for every shadow column), and\n"
"  --shadow-sync=all     one shadow column per strategy (vtlb, wp, unsync)\n"
"  --json                the table and the verdict as one JSON object\n"
"  --nonzero             leave out of the table the counters zero in every column\n"
"\n"
"exit status: (v << 1) | 1 when the guest writes v to isa-debug-exit (port 0xf4),\n"
"as QEMU; 0 when it writes \"Shutdown\" to port 0x8900; ombra's own (even):\n"
"2 guest error, 4 timeout, 6 interrupted, 8 usage, 10 bad kernel or file,\n"
"12 no usable /dev/kvm, 14 host error, 16 compare: the modes showed the guest\n"
"different machines.  See docs/ombra.md.\n");
}

/* QEMU's -m: [size=]N with an optional K/M/G/T suffix; no suffix means MiB. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1ULL << 20;

	if (strncmp(s, "size=", 5) == 0)
		s += 5;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mult = 1ULL << 10; end++; break;
	case 'm': case 'M': mult = 1ULL << 20; end++; break;
	case 'g': case 'G': mult = 1ULL << 30; end++; break;
	case 't': case 'T': mult = 1ULL << 40; end++; break;
	case 'b': case 'B': mult = 1; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v == 0)
		return -EINVAL;
	if (v > MAX_RAM / mult)
		return -E2BIG;
	*out = v * mult;
	return 0;
}

/* Are two paths the same existing file? */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "ombra: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see ombra --help)\n");
	return OMBRA_EXIT_USAGE;
}

/* The report goes to path through a temporary file, so a failed write
 * never leaves half a report where a previous one was.  The temporary file
 * is made before the run (the seccomp filter lets no file be opened after
 * set-up) and renamed into place after it. */
static int report_file_open(struct outfile *rf, const char *path)
{
	int r = outfile_open(rf, path);

	if (r < 0)
		fprintf(stderr, "ombra: cannot write --stats-file %s: %s\n", path, strerror(-r));
	return r;
}

/* The seccomp filter, with the descriptors the run goes on using: KVM's
 * for ioctls, and the folders it renames or unlinks in. */
static int confine(const struct vm *vm, const struct outfile *rf, char *why, size_t len)
{
	struct confine_fds fds = { .nioctl = 0, .ndirs = 0, .naccept = 0 };

	confine_add(fds.ioctl, &fds.nioctl, vm->host.fd);
	confine_add(fds.ioctl, &fds.nioctl, vm->kvm.fd);
	confine_add(fds.ioctl, &fds.nioctl, vm->kvm.vcpu_fd);
	if (rf->f)
		confine_add(fds.dirs, &fds.ndirs, rf->dirfd);
	for (unsigned i = 0; i < vm->ndir_fds; i++)
		confine_add(fds.dirs, &fds.ndirs, vm->dir_fds[i]);
	confine_add(fds.accept, &fds.naccept, gdbstub_listen_fd(vm));
	return confine_install(&fds, why, len);
}

static int report_file_finish(struct outfile *rf, const struct vm *vm, const char *path,
			      enum stats_format fmt)
{
	int r;

	report_write(vm, rf->f, fmt);
	r = outfile_commit(rf, path);
	if (r < 0)
		fprintf(stderr, "ombra: cannot write --stats-file %s: %s\n", path, strerror(-r));
	return r;
}

/*
 * The options of run and compare.  Returns -1 to go on, or the exit status.
 * cmp (compare only) takes --shadow-sync=all and --json.
 */
static int parse_run_args(int argc, char **argv, struct vm_config *cfg, struct shadow_opts *sopts,
			  struct compare_opts *cmp)
{
	enum { OPT_MMU = 256, OPT_M, OPT_KERNEL, OPT_APPEND, OPT_INITRD, OPT_SERIAL, OPT_STATS,
	       OPT_STATS_FILE, OPT_TIMEOUT, OPT_KVM, OPT_HELP, OPT_SYNC, OPT_POOL, OPT_AUDIT,
	       OPT_PREFETCH, OPT_LARGE, OPT_PATCH, OPT_JSON, OPT_TRACE, OPT_EXPLAIN, OPT_NO_SECCOMP,
	       OPT_NOGRAPHIC, OPT_DISPLAY, OPT_NO_REBOOT, OPT_ACCEL, OPT_ENABLE_KVM, OPT_DEVICE,
	       OPT_MONITOR, OPT_NODEFAULTS, OPT_CPU, OPT_INTERVAL, OPT_NONZERO, OPT_GDB, OPT_GDB_S,
	       OPT_GDB_WAIT };
	static const struct option opts[] = {
		{ "mmu",        required_argument, NULL, OPT_MMU },
		{ "m",          required_argument, NULL, OPT_M },
		{ "kernel",     required_argument, NULL, OPT_KERNEL },
		{ "append",     required_argument, NULL, OPT_APPEND },
		{ "initrd",     required_argument, NULL, OPT_INITRD },
		{ "serial",     required_argument, NULL, OPT_SERIAL },
		{ "stats",      optional_argument, NULL, OPT_STATS },
		{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
		{ "timeout",    required_argument, NULL, OPT_TIMEOUT },
		{ "stats-interval", required_argument, NULL, OPT_INTERVAL },
		{ "kvm-device", required_argument, NULL, OPT_KVM },
		{ "help",       no_argument,       NULL, OPT_HELP },
		{ "shadow-sync", required_argument, NULL, OPT_SYNC },
		{ "shadow-pages", required_argument, NULL, OPT_POOL },
		{ "audit",      no_argument,       NULL, OPT_AUDIT },
		{ "prefetch",   required_argument, NULL, OPT_PREFETCH },
		{ "shadow-large", required_argument, NULL, OPT_LARGE },
		{ "shadow-patch", required_argument, NULL, OPT_PATCH },
		{ "json",       no_argument,       NULL, OPT_JSON },
		{ "nonzero",    no_argument,       NULL, OPT_NONZERO },
		{ "trace",      required_argument, NULL, OPT_TRACE },
		{ "explain",    required_argument, NULL, OPT_EXPLAIN },
		{ "no-seccomp", no_argument,       NULL, OPT_NO_SECCOMP },
		/* QEMU's spellings for what ombra's PC always is or does, so a
		 * qemu-system-x86_64 command line for a test kernel runs as it is */
		{ "nographic",  no_argument,       NULL, OPT_NOGRAPHIC },
		{ "display",    required_argument, NULL, OPT_DISPLAY },
		{ "no-reboot",  no_argument,       NULL, OPT_NO_REBOOT },
		{ "accel",      required_argument, NULL, OPT_ACCEL },
		{ "enable-kvm", no_argument,       NULL, OPT_ENABLE_KVM },
		{ "device",     required_argument, NULL, OPT_DEVICE },
		{ "monitor",    required_argument, NULL, OPT_MONITOR },
		{ "nodefaults", no_argument,       NULL, OPT_NODEFAULTS },
		{ "cpu",        required_argument, NULL, OPT_CPU },
		/* QEMU's gdbstub options (docs/gdb.md); "s" and "S" match
		 * exactly, before any prefix of a longer name */
		{ "gdb",        required_argument, NULL, OPT_GDB },
		{ "s",          no_argument,       NULL, OPT_GDB_S },
		{ "S",          no_argument,       NULL, OPT_GDB_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	/* Options given that do not apply everywhere: the first of each kind,
	 * as the user spelled it, for the refusal after the loop. */
	const char *shadow_only = NULL, *run_only = NULL, *sync_all = NULL;
	bool stats_given = false;
	int c, r, li;

	opterr = 0;
	optind = 1;
	while ((li = -1, c = getopt_long_only(argc, argv, ":", opts, &li)) != -1) {
		char *end;

		if (!shadow_only && (c == OPT_SYNC || c == OPT_POOL || c == OPT_AUDIT || c == OPT_PREFETCH ||
				     c == OPT_LARGE || c == OPT_PATCH))
			shadow_only = opts[li].name;
		if (!run_only && (c == OPT_MMU || c == OPT_STATS || c == OPT_STATS_FILE || c == OPT_EXPLAIN ||
				  c == OPT_INTERVAL ||
				  c == OPT_NO_SECCOMP || c == OPT_TRACE || c == OPT_GDB || c == OPT_GDB_S ||
				  c == OPT_GDB_WAIT ||
				  (c == OPT_SERIAL && strcmp(optarg, "stdio") && strcmp(optarg, "null") &&
				   strcmp(optarg, "none"))))
			run_only = opts[li].name;
		switch (c) {
		case OPT_MMU:
			if (strcmp(optarg, "tdp") == 0)
				cfg->mmu = MMU_TDP;
			else if (strcmp(optarg, "shadow") == 0)
				cfg->mmu = MMU_SHADOW;
			else
				return die_usage("--mmu must be tdp or shadow, not '%s'", optarg);
			break;
		case OPT_M:
			r = parse_size(optarg, &cfg->ram_size);
			if (r == -E2BIG)
				return die_usage("-m: '%s' is more memory than ombra gives a guest (at most 1T)",
						 optarg);
			if (r < 0)
				return die_usage("-m: '%s' is not a memory size (e.g. 128M, 1G)", optarg);
			break;
		case OPT_KERNEL:  cfg->kernel = optarg; break;
		case OPT_APPEND:  cfg->append = optarg; break;
		case OPT_INITRD:  cfg->initrd = optarg; break;
		case OPT_SERIAL:
			if (strcmp(optarg, "stdio") && strcmp(optarg, "null") && strcmp(optarg, "none") &&
			    (strncmp(optarg, "file:", 5) || !optarg[5]))
				return die_usage("-serial must be stdio, file:PATH or null, not '%s'", optarg);
			cfg->serial = optarg;
			break;
		case OPT_STATS:
			stats_given = true;
			if (!optarg || strcmp(optarg, "text") == 0)
				cfg->stats = STATS_TEXT;
			else if (strcmp(optarg, "json") == 0)
				cfg->stats = STATS_JSON;
			else if (strcmp(optarg, "none") == 0)
				cfg->stats = STATS_NONE;
			else if (strcmp(optarg, "summary") == 0)
				cfg->stats = STATS_SUMMARY;
			else
				return die_usage("--stats must be summary, text, json or none, not '%s'", optarg);
			break;
		case OPT_STATS_FILE: cfg->stats_file = optarg; break;
		case OPT_TIMEOUT:
			cfg->timeout = strtod(optarg, &end);
			if (*end || !(cfg->timeout > 0) || cfg->timeout > 1e6)
				return die_usage("--timeout wants a positive number of seconds, not '%s'", optarg);
			break;
		case OPT_INTERVAL:
			cfg->stats_interval = strtod(optarg, &end);
			if (*end || !(cfg->stats_interval >= 0.01) || cfg->stats_interval > 1e6)
				return die_usage("--stats-interval wants seconds between lines, at least 0.01, not '%s'",
						 optarg);
			break;
		case OPT_KVM:     cfg->kvm_path = optarg; break;
		case OPT_SYNC:
			if (strcmp(optarg, "all") == 0 && !cmp)
				sync_all = optarg;
			else if (strcmp(optarg, "all") == 0)
				cmp->all_syncs = true;
			else if (strcmp(optarg, "vtlb") == 0)
				sopts->sync = SHADOW_SYNC_VTLB;
			else if (strcmp(optarg, "wp") == 0)
				sopts->sync = SHADOW_SYNC_WP;
			else if (strcmp(optarg, "unsync") == 0)
				sopts->sync = SHADOW_SYNC_UNSYNC;
			else
				return die_usage("--shadow-sync must be vtlb, wp or unsync, not '%s'", optarg);
			break;
		case OPT_POOL: {
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || n < 16 || n > (1UL << 22))
				return die_usage("--shadow-pages wants a number of pages from 16 to 4194304, not '%s'", optarg);
			sopts->pages = (unsigned)n;
			break;
		}
		case OPT_AUDIT:   sopts->audit = true; break;
		case OPT_PREFETCH: {
			long n = strtol(optarg, &end, 10);

			if (*end || n < 0 || n > 8)
				return die_usage("--prefetch wants 0 to 8 neighbouring entries, not '%s'", optarg);
			sopts->prefetch = (unsigned)n;
			break;
		}
		case OPT_LARGE:
			if (strcmp(optarg, "on") == 0)
				sopts->no_large = false;
			else if (strcmp(optarg, "off") == 0)
				sopts->no_large = true;
			else
				return die_usage("--shadow-large must be on or off, not '%s'", optarg);
			break;
		case OPT_PATCH:
			if (strcmp(optarg, "on") == 0)
				sopts->patch = true;
			else if (strcmp(optarg, "off") == 0)
				sopts->patch = false;
			else
				return die_usage("--shadow-patch must be on or off, not '%s'", optarg);
			break;
		case OPT_EXPLAIN: {
			char *p = optarg;

			while (*p) {
				unsigned long long v = strtoull(p, &end, 0);

				if (end == p || (*end && *end != ',') || cfg->nexplain == VM_MAX_EXPLAIN)
					return die_usage("--explain wants guest-virtual addresses separated by commas, not '%s'",
							 optarg);
				cfg->explain[cfg->nexplain++] = v;
				p = *end ? end + 1 : end;
			}
			break;
		}
		case OPT_TRACE:
			cfg->trace_path = optarg;
			break;
		case OPT_NONZERO:
			if (!cmp)
				return die_usage("%s", "--nonzero is an option of ombra compare (its table)");
			cmp->nonzero = true;
			break;
		case OPT_JSON:
			if (!cmp)
				return die_usage("%s", "--json is an option of ombra compare (run uses --stats=json)");
			cmp->json = true;
			break;
		case OPT_NO_SECCOMP:
			cfg->no_seccomp = true;
			break;
		case OPT_NOGRAPHIC:              /* no display; the serial port is stdio already */
		case OPT_NO_REBOOT:              /* a reset or triple fault always ends the run */
		case OPT_ENABLE_KVM:             /* ombra always runs on KVM */
		case OPT_NODEFAULTS:             /* ombra's PC has only its fixed devices */
			break;
		case OPT_MONITOR:
			if (strcmp(optarg, "none"))
				return die_usage("-monitor: ombra has no monitor console, only -monitor none, not '%s'", optarg);
			break;
		case OPT_CPU:
			return die_usage("-cpu: ombra shows every guest one fixed CPUID table in both modes "
					 "(docs/cpuid.md); drop -cpu %s", optarg);
		case OPT_DISPLAY:
			if (strcmp(optarg, "none"))
				return die_usage("-display: ombra has no display, only -display none, not '%s'", optarg);
			break;
		case OPT_ACCEL:
			if (strcmp(optarg, "kvm"))
				return die_usage("-accel: ombra always runs on KVM (-accel kvm); '%s' is QEMU's", optarg);
			break;
		case OPT_DEVICE:
			/* The one device a test kernel asks QEMU for, at the place
			 * ombra's board has it (docs/platform.md). */
			if (strcmp(optarg, "ombra-test") == 0) {
				cfg->test_device = true;    /* ports 0xe0-0xf3 (docs/platform.md) */
				break;
			}
			if (strcmp(optarg, "isa-debug-exit") && strcmp(optarg, "isa-debug-exit,iobase=0xf4") &&
			    strcmp(optarg, "isa-debug-exit,iobase=0xf4,iosize=0x04") &&
			    strcmp(optarg, "isa-debug-exit,iobase=0xf4,iosize=4"))
				return die_usage("-device: ombra's PC has isa-debug-exit at iobase=0xf4, iosize=0x04 and "
						 "the ombra test device (-device ombra-test), not '%s' (docs/platform.md)",
						 optarg);
			break;
		case OPT_GDB: {
			uint32_t a;
			uint16_t port;
			char why[160];

			if (strcmp(optarg, "none") == 0) {
				cfg->gdb = NULL;
				break;
			}
			if (gdbstub_parse(optarg, &a, &port, why, sizeof(why)) < 0)
				return die_usage("%s", why);
			cfg->gdb = optarg;
			break;
		}
		case OPT_GDB_S:
			cfg->gdb = "tcp::1234";      /* QEMU's -s */
			break;
		case OPT_GDB_WAIT:
			cfg->gdb_wait = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case ':':
			return die_usage("option %s needs an argument", argv[optind - 1]);
		default:
			return die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return die_usage("unexpected argument '%s'", argv[optind]);
	if (!stats_given && cfg->stats_file)
		cfg->stats = STATS_TEXT;        /* a file asked for gets the whole report */
	/* An option that would change nothing is refused, with where it belongs. */
	if (sync_all)
		return die_usage("%s", "--shadow-sync=all is an option of ombra compare (a column per strategy); "
				 "ombra run takes vtlb, wp or unsync");
	if (!cmp && shadow_only && cfg->mmu != MMU_SHADOW)
		return die_usage("--%s is a shadow-mode option and tdp mode has no shadow tables: add --mmu=shadow, "
				 "or drop it", shadow_only);
	if (cmp && run_only)
	{
		if (strcmp(run_only, "gdb") == 0 || strcmp(run_only, "s") == 0 || strcmp(run_only, "S") == 0)
			return die_usage("-%s is an option of ombra run: gdb debugs one run (ombra run --mmu=tdp or "
					 "--mmu=shadow with -gdb)", run_only);
		if (strcmp(run_only, "serial") == 0)
			return die_usage("%s", "-serial other than stdio or null is an option of ombra run: compare "
					 "captures each mode's output to compare them");
		return die_usage("--%s is an option of ombra run: compare runs every mode and prints one table "
				 "(its options: the kernel's, -m, --timeout, the shadow options, --json)", run_only);
	}
	if (!cfg->kernel)
		return die_usage("%s", "no kernel: give -kernel FILE");
	if (cfg->gdb_wait && !cfg->gdb)
		return die_usage("%s", "-S waits for gdb: give -gdb tcp::PORT or -s as well");
	return -1;
}

static void default_config(struct vm_config *cfg, struct shadow_opts *sopts)
{
	static const struct shadow_opts shadow_defaults = SHADOW_OPTS_DEFAULT;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mmu = MMU_TDP;
	cfg->ram_size = DEFAULT_RAM;
	cfg->serial = "stdio";
	cfg->stats = STATS_SUMMARY;
	cfg->kvm_path = "/dev/kvm";
	*sopts = shadow_defaults;
	cfg->mode_opts = sopts;             /* shadow mode's; cmd_run drops them for tdp */
}

/* ombra compare --merge [--json] FILE...: one table over compare --json
 * outputs made on several hosts (docs/nested.md). */
static int cmd_merge(int argc, char **argv)
{
	char *files[64];
	int n = 0;
	bool json = false, nonzero = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--merge") == 0 || strcmp(argv[i], "-merge") == 0)
			continue;
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-json") == 0)
			json = true;
		else if (strcmp(argv[i], "--nonzero") == 0 || strcmp(argv[i], "-nonzero") == 0)
			nonzero = true;
		else if (argv[i][0] == '-')
			return die_usage("compare --merge takes --json, --nonzero and files, not '%s'", argv[i]);
		else if (n == (int)(sizeof(files) / sizeof(files[0])))
			return die_usage("%s", "compare --merge: too many files");
		else
			files[n++] = argv[i];
	}
	if (n == 0)
		return die_usage("%s", "compare --merge: give the compare --json outputs to merge");
	return compare_merge(files, n, json, nonzero, stdout, stderr);
}

static int cmd_compare(int argc, char **argv)
{
	struct vm_config cfg;
	struct shadow_opts sopts;
	struct compare_opts cmp = { false, false };
	int r;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--merge") == 0 || strcmp(argv[i], "-merge") == 0)
			return cmd_merge(argc, argv);
	default_config(&cfg, &sopts);
	r = parse_run_args(argc, argv, &cfg, &sopts, &cmp);
	if (r >= 0)
		return r;
	return compare_run(&cfg, &cmp, stdout);
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct shadow_opts sopts;
	struct vm *vm;
	struct trace trace = { 0 };
	struct outfile rf = { 0 };
	FILE *serial_file = NULL;
	char why[512];
	int status;

	default_config(&cfg, &sopts);
	status = parse_run_args(argc, argv, &cfg, &sopts, NULL);
	if (status >= 0)
		return status;
	/* From here a SIGINT or SIGTERM ends the run with its status (6) and
	 * report, even one that comes while the VM is still being set up. */
	vm_catch_stop_signals();
	if (cfg.mmu != MMU_SHADOW)
		cfg.mode_opts = NULL;            /* tdp mode has no options of its own */

	/* Never write an output over an input or over another output. */
	{
		const char *serial_path = strncmp(cfg.serial, "file:", 5) == 0 ? cfg.serial + 5 : NULL;
		const char *outs[] = { serial_path, cfg.stats_file, cfg.trace_path };
		const char *ins[] = { cfg.kernel, cfg.initrd };

		for (int o = 0; o < 3; o++)
			for (int i = 0; i < 2; i++)
				if (same_file(outs[o], ins[i]))
					return die_usage("refusing to overwrite input file '%s' with output", ins[i]);
		for (int a = 0; a < 3; a++)
			for (int b = a + 1; b < 3; b++)
				if (outs[a] && outs[b] && (same_file(outs[a], outs[b]) || strcmp(outs[a], outs[b]) == 0))
					return die_usage("two outputs are the same file '%s'", outs[a]);
		if (serial_path) {
			serial_file = fopen(serial_path, "w");
			if (!serial_file) {
				fprintf(stderr, "ombra: cannot open -serial file %s: %s\n", serial_path, strerror(errno));
				return OMBRA_EXIT_BAD_INPUT;
			}
			cfg.serial_out = serial_file;
		} else if (strcmp(cfg.serial, "stdio") == 0) {
			cfg.serial_out = stdout;
		}
		/* A line reaches the file or pipe when the guest ends it, as
		 * QEMU's serial output does: `tail -f` follows a long boot. */
		if (cfg.serial_out)
			setvbuf(cfg.serial_out, NULL, _IOLBF, 0);
	}

	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		fprintf(stderr, "ombra: out of memory\n");
		return OMBRA_EXIT_HOST_ERROR;
	}
	if (vm_create(vm, &cfg, cfg.mmu == MMU_SHADOW ? &shadow_mode : &tdp_mode) < 0) {
		fprintf(stderr, "ombra: %s\n", vm->err);
		status = vm->err_status ? vm->err_status : OMBRA_EXIT_HOST_ERROR;
	} else if (cfg.trace_path && trace_open(&trace, cfg.trace_path) < 0) {
		fprintf(stderr, "ombra: cannot write --trace file %s: %s\n", cfg.trace_path, strerror(errno));
		status = OMBRA_EXIT_BAD_INPUT;
	} else if (cfg.stats != STATS_NONE && cfg.stats_file && report_file_open(&rf, cfg.stats_file) < 0) {
		status = OMBRA_EXIT_BAD_INPUT;
		trace_close(&trace);
	} else if (!cfg.no_seccomp && (explain_init(), confine(vm, &rf, why, sizeof(why))) < 0) {
		fprintf(stderr, "ombra: %s\n", why);
		status = OMBRA_EXIT_HOST_ERROR;
		outfile_drop(&rf);
		trace_close(&trace);
	} else {
		vm->trace = cfg.trace_path ? &trace : NULL;
		vm_run(vm);
		for (unsigned i = 0; i < cfg.nexplain; i++)
			vm_explain(vm, cfg.explain[i]);
		/* Whatever --stats says, a run that did not end by the guest's
		 * own choice says why on stderr. */
		if (vm->end != END_DEBUG_EXIT && vm->end != END_SHUTDOWN &&
		    (cfg.stats == STATS_NONE || cfg.stats_file))
			fprintf(stderr, "ombra: %s\n%s", report_verdict(vm), vm->guest_state);
		if (cfg.stats != STATS_NONE) {
			if (cfg.stats_file)
				report_file_finish(&rf, vm, cfg.stats_file, cfg.stats);
			else
				report_write(vm, stderr, cfg.stats);
		}
		status = vm->exit_status;
		trace_close(&trace);
	}
	vm_destroy(vm);
	free(vm);
	if (serial_file)
		fclose(serial_file);
	return status;
}

static int cmd_info(int argc, char **argv)
{
	struct kvm_host h;
	struct hostmmu mmu;
	char why[256], cs[16];
	size_t n;
	const struct kvm_cap_info *caps = kvm_caps(&n);
	const char *path = argc > 1 && strncmp(argv[1], "--kvm-device=", 13) == 0 ? argv[1] + 13 : "/dev/kvm";
	int r;

	hostmmu_detect("", &mmu);
	disasm_version(cs, sizeof(cs));
	printf("ombra %s\n", OMBRA_VERSION);
	printf("capstone: %s\n", cs);
	printf("host MMU: %s\n", mmu.summary);
	if (mmu.tdp_mmu >= 0)
		printf("kvm.tdp_mmu: %s\n", mmu.tdp_mmu ? "Y" : "N");
	r = kvm_host_open(&h, path, why, sizeof(why));
	if (r < 0) {
		printf("KVM: unavailable\n");
		fprintf(stderr, "ombra: %s\n", why);
		return OMBRA_EXIT_NO_KVM;
	}
	printf("KVM API version: %d\n", h.api_version);
	{
		char gaps[512];

		kvm_host_cpuid_gaps(&h, gaps, sizeof(gaps));
		printf("ombra's CPUID features this KVM cannot give a guest in tdp mode: %s\n",
		       gaps[0] ? gaps : "none");
	}
	printf("capabilities ombra relies on:\n");
	for (size_t i = 0; i < n; i++) {
		int v = kvm_host_check_cap(&h, caps[i].cap);

		char val[16];

		snprintf(val, sizeof(val), "%s", v == 0 ? "no" : "yes");
		if (v > 1)
			snprintf(val, sizeof(val), "%d", v);
		printf("  %-26s %-6s %s%s\n", caps[i].name, val, caps[i].why,
		       caps[i].required ? " (required)" : "");
	}
	kvm_host_close(&h);
	return 0;
}

/* ombra report [-o OUT.html] FILE...: one HTML page of charts (docs/report.md). */
static int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = "report.html";
	char err[1024];
	int c, r;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return 0;
		case ':': return die_usage("option %s needs an argument", argv[optind - 1]);
		default:  return die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return die_usage("%s", "report: give the files to chart (--stats=json reports, compare --json outputs, traces)");
	r = htmlreport_write(out, (const char *const *)(argv + optind), argc - optind, err, sizeof(err));
	if (r == 0)
		return 0;
	fprintf(stderr, "ombra: %s\n", err);
	return r == -EEXIST ? OMBRA_EXIT_USAGE : r == -ENOMEM ? OMBRA_EXIT_HOST_ERROR : OMBRA_EXIT_BAD_INPUT;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return OMBRA_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-version") == 0) {
		printf("ombra %s\n", OMBRA_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "info") == 0)
		return cmd_info(argc - 1, argv + 1);
	if (strcmp(argv[1], "compare") == 0)
		return cmd_compare(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (argv[1][0] == '-')          /* QEMU style: options straight away */
		return cmd_run(argc, argv);
	fprintf(stderr, "ombra: unknown command '%s' (see ombra --help)\n", argv[1]);
	return OMBRA_EXIT_USAGE;
}
