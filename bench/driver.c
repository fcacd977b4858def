/*
 * The benchmark driver behind `make bench`.
 *
 * 1. Runs every workload of build/guest/bench.elf in every configuration:
 *    ombra tdp, ombra shadow under each coherence strategy (and unsync with
 *    prefetch off), QEMU TCG and QEMU with KVM, REPS times each.
 * 2. From each ombra run takes the guest's own phase lines (serial output:
 *    "bench NAME phase P: iterations N cycles C faults F") and the phase
 *    marks the guest writes to port 0x80 (ombra's JSON report: the time and
 *    the counters at each mark), so every phase has its wall time and its
 *    counter deltas; QEMU runs give wall time and guest cycles.
 * 3. Takes medians, derives per-event costs and the ratios the issue asks
 *    for, checks the targets, and writes bench/results.json and a markdown
 *    table (bench/results.md, also printed).
 * Timings are never asserted anywhere: this reports, it does not test.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_PHASES 8
#define MAX_REPS 9

struct workload {
	const char *name;
	const char *append;          /* default sizes: a tdp run stays short */
};

static const struct workload workloads[] = {
	{ "calib", "work=calib" },
	{ "faults", "work=faults" },
	{ "cr3", "work=cr3" },
	{ "ptwrite", "work=ptwrite" },
	{ "tlb", "work=tlb" },
	{ "nonpaging", "work=nonpaging" },
	{ "paging", "work=paging" },
	{ "irq", "work=irq" },
};
#define NWORK (sizeof(workloads) / sizeof(workloads[0]))

struct config {
	const char *label;
	int ombra;                   /* 1: ombra run, 0: QEMU */
	const char *args[6];
};

static const struct config configs[] = {
	{ "tdp", 1, { "--mmu=tdp", NULL } },
	{ "shadow-unsync", 1, { "--mmu=shadow", "--shadow-sync=unsync", NULL } },
	{ "shadow-wp", 1, { "--mmu=shadow", "--shadow-sync=wp", NULL } },
	{ "shadow-vtlb", 1, { "--mmu=shadow", "--shadow-sync=vtlb", NULL } },
	{ "shadow-unsync-noprefetch", 1, { "--mmu=shadow", "--shadow-sync=unsync", "--prefetch=0", NULL } },
	{ "qemu-tcg", 0, { "-accel", "tcg", "-cpu", "qemu64,+nx,+pdpe1gb", NULL } },
	{ "qemu-kvm", 0, { "-accel", "kvm", "-cpu", "qemu64,+nx", NULL } },
};
#define NCONF (sizeof(configs) / sizeof(configs[0]))

struct phase {
	char name[32];
	double iterations, cycles, faults;   /* from the guest's line */
	double wall;                         /* between its marks (ombra) */
	json_t *delta;                       /* counter deltas over it (ombra) */
	double kvm_exits;                    /* KVM's own VM exits over it (ombra) */
	double busy;                         /* seconds ombra itself worked in it (ombra) */
};

struct result {
	int ok;                              /* ran and the guest said done */
	double wall;                         /* the whole run */
	struct phase ph[MAX_PHASES];
	unsigned nph;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run argv with stdout to out_path, stderr to /dev/null; returns the exit
 * status, or -1. */
static int run(char *const argv[], const char *out_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void parse_serial(const char *path, const char *work, struct result *r)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[64], ph[32];
		double it, cy, fa;

		if (sscanf(line, "bench %63s phase %31[^:]: iterations %lf cycles %lf faults %lf",
			   name, ph, &it, &cy, &fa) == 5 && !strcmp(name, work) && r->nph < MAX_PHASES) {
			struct phase *p = &r->ph[r->nph++];

			snprintf(p->name, sizeof(p->name), "%s", ph);
			p->iterations = it;
			p->cycles = cy;
			p->faults = fa;
		} else if (sscanf(line, "bench %63s %31s", name, ph) == 2 && !strcmp(name, work) && !strcmp(ph, "done")) {
			r->ok = 1;
		}
	}
	fclose(f);
}

/* Phase i runs between marks 2i and 2i+1. */
static void parse_marks(const char *path, struct result *r)
{
	json_error_t e;
	json_t *root = json_load_file(path, 0, &e), *marks;

	if (!root)
		return;
	marks = json_object_get(root, "marks");
	for (unsigned i = 0; i < r->nph && marks && 2 * i + 1 < json_array_size(marks); i++) {
		json_t *a = json_array_get(marks, 2 * i), *b = json_array_get(marks, 2 * i + 1);
		json_t *ca = json_object_get(a, "counters"), *cb = json_object_get(b, "counters");
		json_t *d = json_object();
		const char *k;
		json_t *v;

		r->ph[i].wall = json_real_value(json_object_get(b, "t")) - json_real_value(json_object_get(a, "t"));
		r->ph[i].kvm_exits = (double)(json_integer_value(json_object_get(b, "kvm_exits")) -
					      json_integer_value(json_object_get(a, "kvm_exits")));
		r->ph[i].busy = json_real_value(json_object_get(b, "ombra_seconds")) -
				json_real_value(json_object_get(a, "ombra_seconds"));
		json_object_foreach(cb, k, v)
			json_object_set_new(d, k, json_integer(json_integer_value(v) -
							       json_integer_value(json_object_get(ca, k))));
		r->ph[i].delta = d;
	}
	json_decref(root);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double delta(const struct phase *p, const char *name)
{
	json_t *v = p->delta ? json_object_get(p->delta, name) : NULL;

	return v ? (double)json_integer_value(v) : 0;
}

/* The median result over reps: medians of walls and cycles, counters of the
 * median-wall rep (counts repeat from run to run). */
static struct result med(struct result *reps, unsigned n)
{
	struct result m;
	double w[MAX_REPS];
	unsigned k = 0, best = 0;

	memset(&m, 0, sizeof(m));
	for (unsigned i = 0; i < n; i++)
		if (reps[i].ok)
			w[k++] = reps[i].wall;
	if (!k)
		return m;
	m.wall = median(w, k);
	for (unsigned i = 0; i < n; i++)
		if (reps[i].ok && reps[i].wall == m.wall)
			best = i;
	if (k % 2 == 0)                     /* an even count: the rep nearest the median */
		for (unsigned i = 0; i < n; i++)
			if (reps[i].ok && (!reps[best].ok ||
			    fabs(reps[i].wall - m.wall) < fabs(reps[best].wall - m.wall)))
				best = i;
	m = reps[best];
	m.wall = median(w, k);
	for (unsigned p = 0; p < m.nph; p++) {
		double c[MAX_REPS], pw[MAX_REPS], pb[MAX_REPS];
		unsigned kc = 0;

		for (unsigned i = 0; i < n; i++)
			if (reps[i].ok && p < reps[i].nph) {
				c[kc] = reps[i].ph[p].cycles;
				pb[kc] = reps[i].ph[p].busy;
				pw[kc++] = reps[i].ph[p].wall;
			}
		m.ph[p].cycles = median(c, kc);
		m.ph[p].wall = median(pw, kc);
		m.ph[p].busy = median(pb, kc);
	}
	return m;
}

static const struct phase *find_phase(const struct result *r, const char *name)
{
	for (unsigned i = 0; i < r->nph; i++)
		if (!strcmp(r->ph[i].name, name))
			return &r->ph[i];
	return NULL;
}

/* Microseconds per event: a phase's wall time over a counter's change in it
 * (or over its iterations when counter is NULL). */
static double per_event(const struct result *r, const char *phase, const char *counter)
{
	const struct phase *p = find_phase(r, phase);
	double n;

	if (!p || p->wall <= 0)
		return NAN;
	n = counter ? delta(p, counter) : p->iterations;
	return n > 0 ? 1e6 * p->wall / n : NAN;
}

static void cell(FILE *f, double v, const char *fmt)
{
	if (isnan(v) || v == 0)
		fprintf(f, " - |");
	else
		fprintf(f, fmt, v);
}

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : "build";
	const char *outdir = argc > 2 ? argv[2] : "bench";
	unsigned reps = argc > 3 ? (unsigned)atoi(argv[3]) : 3;
	static struct result res[NWORK][NCONF];
	char kernel[512], ombra[512], tmp[600], stats[600], serial[600];
	json_t *root = json_object(), *jw = json_object();
	FILE *md;
	time_t t = time(NULL);
	char date[32], host[256] = "unknown";

	if (reps < 1 || reps > MAX_REPS)
		reps = 3;
	snprintf(kernel, sizeof(kernel), "%s/guest/bench.elf", build);
	snprintf(ombra, sizeof(ombra), "%s/ombra", build);
	mkdir(outdir, 0755);
	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&t));

	for (unsigned w = 0; w < NWORK; w++)
		for (unsigned c = 0; c < NCONF; c++) {
			struct result r[MAX_REPS];

			memset(r, 0, sizeof(r));
			for (unsigned i = 0; i < reps; i++) {
				char *argv2[32];
				unsigned n = 0;
				double t0;
				int st;

				snprintf(serial, sizeof(serial), "%s/.serial-%s-%s", outdir, workloads[w].name, configs[c].label);
				snprintf(stats, sizeof(stats), "%s/.stats-%s-%s.json", outdir, workloads[w].name, configs[c].label);
				if (configs[c].ombra) {
					argv2[n++] = ombra;
					argv2[n++] = "run";
					for (unsigned a = 0; configs[c].args[a]; a++)
						argv2[n++] = (char *)configs[c].args[a];
					argv2[n++] = "-kernel";
					argv2[n++] = kernel;
					argv2[n++] = "-m";
					argv2[n++] = "256M";
					argv2[n++] = "-append";
					argv2[n++] = (char *)workloads[w].append;
					argv2[n++] = "--stats=json";
					argv2[n++] = "--stats-file";
					argv2[n++] = stats;
					argv2[n++] = "--timeout";
					argv2[n++] = "120";
				} else {
					argv2[n++] = "qemu-system-x86_64";
					for (unsigned a = 0; configs[c].args[a]; a++)
						argv2[n++] = (char *)configs[c].args[a];
					argv2[n++] = "-m";
					argv2[n++] = "256M";
					argv2[n++] = "-display";
					argv2[n++] = "none";
					argv2[n++] = "-no-reboot";
					argv2[n++] = "-monitor";
					argv2[n++] = "none";
					argv2[n++] = "-serial";
					argv2[n++] = "stdio";
					argv2[n++] = "-device";
					argv2[n++] = "isa-debug-exit,iobase=0xf4,iosize=0x04";
					argv2[n++] = "-kernel";
					argv2[n++] = kernel;
					argv2[n++] = "-append";
					argv2[n++] = (char *)workloads[w].append;
				}
				argv2[n] = NULL;
				t0 = now();
				st = run(argv2, serial);
				r[i].wall = now() - t0;
				parse_serial(serial, workloads[w].name, &r[i]);
				if (st != 1)
					r[i].ok = 0;
				if (configs[c].ombra && r[i].ok) {
					parse_marks(stats, &r[i]);
					/* ombra's own measure of the run, without process start-up */
					json_error_t e;
					json_t *sj = json_load_file(stats, 0, &e);

					if (sj) {
						r[i].wall = json_real_value(json_object_get(sj, "wall_seconds"));
						if (!strcmp(configs[c].label, "tdp") && w == 0)
							snprintf(host, sizeof(host), "%s",
								 json_string_value(json_object_get(json_object_get(sj, "host_mmu"), "summary")));
						json_decref(sj);
					}
				}
				unlink(serial);
				unlink(stats);
				fprintf(stderr, "bench: %-10s %-26s rep %u: %s %.3f s\n", workloads[w].name,
					configs[c].label, i + 1, r[i].ok ? "ok" : "FAILED", r[i].wall);
			}
			res[w][c] = med(r, reps);
		}

	/* results.json: everything */
	json_object_set_new(root, "date", json_string(date));
	json_object_set_new(root, "host_mmu", json_string(host));
	json_object_set_new(root, "reps", json_integer(reps));
	for (unsigned w = 0; w < NWORK; w++) {
		json_t *jc = json_object();

		for (unsigned c = 0; c < NCONF; c++) {
			const struct result *r = &res[w][c];
			json_t *jp = json_object();

			for (unsigned p = 0; p < r->nph; p++)
				json_object_set_new(jp, r->ph[p].name, json_pack("{s:f, s:f, s:f, s:f, s:O}",
					"iterations", r->ph[p].iterations, "cycles", r->ph[p].cycles,
					"guest_faults", r->ph[p].faults, "wall_seconds", r->ph[p].wall,
					"counters", r->ph[p].delta ? r->ph[p].delta : json_null()));
			json_object_set_new(jc, configs[c].label, json_pack("{s:b, s:f, s:o}", "ok", r->ok,
				"wall_seconds", r->wall, "phases", jp));
		}
		json_object_set_new(jw, workloads[w].name, jc);
	}
	json_object_set_new(root, "workloads", jw);
	snprintf(tmp, sizeof(tmp), "%s/results.json", outdir);
	json_dump_file(root, tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

	/* results.md: the tables */
	snprintf(tmp, sizeof(tmp), "%s/results.md", outdir);
	md = fopen(tmp, "w");
	if (!md)
		return 1;
	fprintf(md, "Measured %s on a host whose KVM MMU is: %s.  Medians of %u runs; times in microseconds unless marked.\n\n",
		date, host, reps);
	fprintf(md, "### Wall time per workload (seconds)\n\n| workload |");
	for (unsigned c = 0; c < NCONF; c++)
		fprintf(md, " %s |", configs[c].label);
	fprintf(md, " shadow/tdp | shadow/QEMU-TCG | tdp/QEMU-KVM |\n|---|");
	for (unsigned c = 0; c < NCONF + 3; c++)
		fprintf(md, "---:|");
	fprintf(md, "\n");
	for (unsigned w = 0; w < NWORK; w++) {
		fprintf(md, "| %s |", workloads[w].name);
		for (unsigned c = 0; c < NCONF; c++)
			res[w][c].ok ? fprintf(md, " %.3f |", res[w][c].wall) : fprintf(md, " failed |");
		cell(md, res[w][0].ok && res[w][1].ok ? res[w][1].wall / res[w][0].wall : NAN, " %.2f |");
		cell(md, res[w][5].ok && res[w][1].ok ? res[w][1].wall / res[w][5].wall : NAN, " %.2f |");
		cell(md, res[w][6].ok && res[w][0].ok ? res[w][0].wall / res[w][6].wall : NAN, " %.2f |");
		fprintf(md, "\n");
	}

	fprintf(md, "\n### Guest-measured phases (RDTSC cycles per iteration)\n\n| workload / phase |");
	for (unsigned c = 0; c < NCONF; c++)
		fprintf(md, " %s |", configs[c].label);
	fprintf(md, "\n|---|");
	for (unsigned c = 0; c < NCONF; c++)
		fprintf(md, "---:|");
	fprintf(md, "\n");
	for (unsigned w = 0; w < NWORK; w++)
		for (unsigned p = 0; p < res[w][0].nph || p < res[w][1].nph; p++) {
			const char *pn = p < res[w][1].nph ? res[w][1].ph[p].name : res[w][0].ph[p].name;

			fprintf(md, "| %s / %s |", workloads[w].name, pn);
			for (unsigned c = 0; c < NCONF; c++) {
				const struct phase *ph = find_phase(&res[w][c], pn);

				cell(md, ph && ph->iterations > 0 ? ph->cycles / ph->iterations : NAN, " %.0f |");
			}
			fprintf(md, "\n");
		}

	fprintf(md, "\n### Per-event costs in ombra (microseconds of wall time per event, from the phase marks)\n\n");
	fprintf(md, "| event (phase: counter) |");
	for (unsigned c = 0; c < 5; c++)
		fprintf(md, " %s |", configs[c].label);
	fprintf(md, "\n|---|---:|---:|---:|---:|---:|\n");
	{
		static const struct { const char *label, *work, *phase, *counter; } ev[] = {
			{ "floor: CPL3 exception and back (calib/exception: iteration)", "calib", "exception", NULL },
			{ "floor: port-I/O exit round trip (calib/portio: iteration)", "calib", "portio", NULL },
			{ "floor: MOV to CR3 (calib/movcr3: iteration)", "calib", "movcr3", NULL },
			{ "INVLPG (calib/invlpg: iteration)", "calib", "invlpg", NULL },
			{ "page-table write: emulated in wp and unsync, a store in vtlb (calib/ptwrite: iteration)", "calib", "ptwrite", NULL },
			{ "hidden fault (faults/inorder: pf_fixed)", "faults", "inorder", "pf_fixed" },
			{ "page touched in order (faults/inorder: iteration)", "faults", "inorder", NULL },
			{ "guest fault (faults/demand: guest #PF)", "faults", "demand", NULL },
			{ "CR3 write (cr3/switch: cr3_writes)", "cr3", "switch", "cr3_writes" },
			{ "copy-on-write fault: guest #PF, PTE write, INVLPG (ptwrite/cow: iteration)", "ptwrite", "cow", NULL },
			{ "interrupt: self-IPI into a ring-0 loop, delivery, EOI, IRETQ (irq/selfipi: iteration)", "irq", "selfipi", NULL },
			{ "interrupt: APIC timer one-shot armed, taken from sti; hlt (irq/timer: iteration)", "irq", "timer", NULL },
			{ "interrupt: PIT one-shot through the PIC, taken from sti; hlt (irq/pit: iteration)", "irq", "pit", NULL },
		};

		for (unsigned i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
			unsigned w;

			for (w = 0; w < NWORK && strcmp(workloads[w].name, ev[i].work); w++)
				;
			fprintf(md, "| %s |", ev[i].label);
			for (unsigned c = 0; c < 5; c++) {
				double v = NAN;

				if (w < NWORK) {
					if (!strcmp(ev[i].phase, "demand") && !ev[i].counter) {
						const struct phase *p = find_phase(&res[w][c], "demand");

						v = p && p->faults > 0 ? 1e6 * p->wall / p->faults : NAN;
					} else {
						v = per_event(&res[w][c], ev[i].phase, ev[i].counter);
					}
				}
				cell(md, v, " %.1f |");
			}
			fprintf(md, "\n");
		}
	}

	/* Traps per guest event: shadow mode's exceptions into the monitor,
	 * against KVM's own VM exits in tdp mode (on a host whose KVM shadows
	 * the guest's tables, KVM's shadow MMU: the anchor). */
	fprintf(md, "\n### Traps per guest event\n\nShadow columns: traps (exceptions into ombra's monitor) per event; "
		"tdp: KVM's own VM exits per event (its vCPU stat `exits`).  Each count includes the phase's closing "
		"mark (1/iterations).\n\n| event (phase: per) | tdp: KVM exits | shadow-unsync | shadow-wp | shadow-vtlb | "
		"shadow-unsync-noprefetch |\n|---|---:|---:|---:|---:|---:|\n");
	{
		static const struct { const char *label, *work, *phase; int per; } tr[] = {
			/* per: 0 iteration, 1 guest fault (the guest's count), 2 pf_fixed */
			{ "exception the guest's handler takes (calib/exception: iteration)", "calib", "exception", 0 },
			{ "hidden fault (faults/inorder: pf_fixed)", "faults", "inorder", 2 },
			{ "guest fault fixed by the guest's handler (faults/demand: guest fault)", "faults", "demand", 1 },
			{ "CR3 write and 4 stores (cr3/switch: iteration)", "cr3", "switch", 0 },
			{ "copy-on-write fault (ptwrite/cow: iteration)", "ptwrite", "cow", 0 },
			{ "interrupt: self-IPI, delivery, EOI, IRETQ (irq/selfipi: iteration)", "irq", "selfipi", 0 },
			{ "interrupt: APIC timer armed, taken from sti; hlt, EOI, IRETQ (irq/timer: iteration)", "irq", "timer", 0 },
			{ "interrupt: PIT through the PIC, taken from sti; hlt (irq/pit: iteration)", "irq", "pit", 0 },
		};

		for (unsigned i = 0; i < sizeof(tr) / sizeof(tr[0]); i++) {
			unsigned w;

			for (w = 0; w < NWORK && strcmp(workloads[w].name, tr[i].work); w++)
				;
			fprintf(md, "| %s |", tr[i].label);
			for (unsigned c = 0; c < 5; c++) {
				const struct phase *p = w < NWORK ? find_phase(&res[w][c], tr[i].phase) : NULL;
				double n = !p ? 0 : tr[i].per == 0 ? p->iterations : tr[i].per == 1 ? p->faults : delta(p, "pf_fixed");
				double v = NAN;

				if (p && n > 0)
					v = (c == 0 ? p->kvm_exits : delta(p, "traps")) / n;
				cell(md, v, " %.2f |");
			}
			fprintf(md, "\n");
		}
		/* The shadow faults behind a guest fault (issue 18: at most 2). */
		fprintf(md, "| shadow faults (pf_taken) per guest fault (faults/demand) |");
		for (unsigned c = 0; c < 5; c++) {
			const struct phase *p = find_phase(&res[1][c], "demand");

			cell(md, p && p->faults > 0 ? delta(p, "pf_taken") / p->faults : NAN, " %.2f |");
		}
		fprintf(md, "\n");
	}

	/* One trap, part by part: a MOV to CR3 whose root is cached (the
	 * calibration kernel's movcr3 phase, shadow-unsync), split with what
	 * the same run measured: ombra's own time (the marks' ombra_seconds),
	 * and an exit to ombra and back without an exception (calib/portio in
	 * shadow mode, where the guest's port I/O exits without a trap: AMD-V
	 * and VMX hosts; on kvm_pvm it traps, and tdp's port exit stands in). */
	{
		const struct phase *mc = find_phase(&res[0][1], "movcr3"), *po = find_phase(&res[0][1], "portio");
		double whole = per_event(&res[0][1], "movcr3", NULL);
		double work = mc && delta(mc, "traps") > 0 ? 1e6 * mc->busy / delta(mc, "traps") : NAN;
		bool native = po && po->iterations > 0 && delta(po, "traps") < po->iterations / 2;
		double pio = native ? per_event(&res[0][1], "portio", NULL) - 1e6 * po->busy / po->iterations
				    : per_event(&res[0][0], "portio", NULL);
		double exc = per_event(&res[0][0], "exception", NULL);

		fprintf(md, "\n### One trap, part by part (shadow-unsync, calib/movcr3: a MOV to CR3 whose root is cached)\n\n"
			"| part | us | measured as |\n|---|---:|---|\n");
		fprintf(md, "| the whole trap | %.1f | calib/movcr3: wall time per iteration |\n", whole);
		fprintf(md, "| ombra's own work | %.1f | calib/movcr3: ombra's time between KVM_RUN's return and its next call (the marks' `ombra_seconds`), per trap |\n", work);
		if (native)
			fprintf(md, "| the exit: the monitor's exit to ombra and KVM_RUN back into it | %.1f | calib/portio in shadow mode (the guest's port write exits without a trap), less ombra's time in it, per iteration |\n", pio);
		else
			fprintf(md, "| the exit: the monitor's exit to ombra and KVM_RUN back into it | %.1f | tdp calib/portio (here the guest's port I/O traps in shadow mode, so no shadow phase isolates the exit) |\n", pio);
		fprintf(md, "| exception delivery into the monitor, its code, and the resume (IRETQ to the guest) | %.1f | the whole less the two above |\n",
			whole - work - pio);
		fprintf(md, "| for scale: the guest's own exception and return, in tdp mode | %.1f | tdp calib/exception, per iteration |\n", exc);
	}

	/* The targets (issue 6), met or missed, with the figures. */
	fprintf(md, "\n### Targets\n\n");
	{
		/* The floor: the calibration kernel in tdp mode, where its handler
		 * really is at ring 0 (in shadow mode that exception is itself
		 * reflected by ombra). */
		double exc = per_event(&res[0][0], "exception", NULL), pio = per_event(&res[0][0], "portio", NULL);
		double hf = per_event(&res[1][1], "inorder", "pf_fixed");
		const struct phase *io = find_phase(&res[1][1], "inorder"), *io0 = find_phase(&res[1][4], "inorder");
		double epf = io && delta(io, "pf_fixed") > 0 ? (delta(io, "userspace_exits") - 1) / delta(io, "pf_fixed") : NAN;
		double pre = io && io0 && delta(io, "pf_fixed") > 0 ? delta(io0, "pf_fixed") / delta(io, "pf_fixed") : NAN;
		/* Prefetch fills only neighbours whose guest PTE has A set (KVM's
		 * rule: no side effect on the guest), so it is measured where the
		 * guest walks pages it has touched before, under a new root. */
		const struct phase *sw = find_phase(&res[2][1], "switch"), *sw0 = find_phase(&res[2][4], "switch");
		double pre_acc = sw && sw0 && delta(sw, "pf_fixed") > 0 ? delta(sw0, "pf_fixed") / delta(sw, "pf_fixed") : NAN;
		/* Shadow pages now outlive their roots, so cr3/switch may fault
		 * no more at all: then the paging-off identity map, whose entries
		 * prefetch may fill, shows it. */
		const struct phase *np = find_phase(&res[5][1], "work"), *np0 = find_phase(&res[5][4], "work");
		const char *pre_at = "cr3/switch";

		if (isnan(pre_acc) && np && np0 && delta(np, "pf_fixed") > 0) {
			pre_acc = delta(np0, "pf_fixed") / delta(np, "pf_fixed");
			pre_at = "nonpaging/work";
		}
		double touch_sh = per_event(&res[1][1], "inorder", NULL), touch_tdp = per_event(&res[1][0], "inorder", NULL);
		double worst_tcg = 0, worst_kvm = 0;
		char worst_kvm_at[80] = "", worst_tcg_at[80] = "";

		fprintf(md, "- hidden fault at most 1.2x the floor (a CPL3 exception and back %.1f us + a port exit %.1f us, tdp calib): %.1f us, %.2fx: **%s**\n",
			exc, pio, hf, hf / (exc + pio), hf <= 1.2 * (exc + pio) ? "met" : "missed");
		fprintf(md, "- at most 1.0 exits per hidden fault: %.2f: **%s**\n", epf, epf <= 1.0 + 1e-9 ? "met" : "missed");
		fprintf(md, "- prefetch cuts in-order shadow faults at least 4x, where the entries may be prefetched (%s): %.2fx: **%s**; "
			"on freshly written PTEs with A clear (faults/inorder), which prefetch leaves alone by design: %.2fx\n",
			pre_at, pre_acc, pre_acc >= 4 ? "met" : "missed", pre);
		fprintf(md, "- shadow cost per page touched (prefetch on) no more than tdp's per first-touched page: %.1f us vs %.1f us: **%s**\n",
			touch_sh, touch_tdp, touch_sh <= touch_tdp ? "met" : "missed");
		/* ombra tdp against QEMU+KVM on the guest's own measure of each
		 * phase (QEMU's start-up would swamp whole-run times). */
		for (unsigned w = 0; w < NWORK; w++)
			for (unsigned p = 0; p < res[w][0].nph; p++) {
				const struct phase *a = &res[w][0].ph[p], *b = find_phase(&res[w][6], a->name);

				if (b && b->cycles > 0 && a->cycles / b->cycles > worst_kvm) {
					worst_kvm = a->cycles / b->cycles;
					snprintf(worst_kvm_at, sizeof(worst_kvm_at), "%s/%s", workloads[w].name, a->name);
				}
			}
		for (unsigned w = 0; w < NWORK; w++)
			if (res[w][1].ok && res[w][5].ok && res[w][1].wall > 0 &&
			    (worst_tcg == 0 || res[w][5].wall / res[w][1].wall < worst_tcg)) {
				worst_tcg = res[w][5].wall / res[w][1].wall;
				snprintf(worst_tcg_at, sizeof(worst_tcg_at), "%s", workloads[w].name);
			}
		fprintf(md, "- ombra tdp within 10%% of QEMU+KVM (guest cycles per phase, worst: %s): %.2fx: **%s**\n",
			worst_kvm_at, worst_kvm, worst_kvm > 0 && worst_kvm <= 1.10 ? "met" : "missed");
		fprintf(md, "- shadow at least 5x faster than QEMU TCG on every workload (worst: %s): %.2fx: **%s**\n",
			worst_tcg_at, worst_tcg, worst_tcg >= 5 ? "met" : "missed");
	}
	fclose(md);
	snprintf(tmp, sizeof(tmp), "cat %s/results.md", outdir);
	return system(tmp) == 0 ? 0 : 1;
}
