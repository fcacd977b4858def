/*
 * KVM's own events for tdp mode's --trace: an ftrace instance of ombra's
 * own in tracefs with the kvm and kvmmmu tracepoints on, its trace_pipe
 * read at each trace sample, and each line parsed into a "kvm" record
 * (the parser is pure, unit-tested in tests/unit/test_ktrace.c on lines
 * from a real kernel).
 *
 * Everything is opened here, in set-up, before the seccomp filter: the
 * instance's trace_pipe (read, non-blocking, at each sample), its
 * tracing_on (written at the start and the end of the run) and the
 * instances folder, from which the teardown removes the instance with
 * unlinkat(AT_REMOVEDIR), a call the filter allows (docs/security.md).
 * The kernel filters the events to the vCPU's thread and stamps them with
 * CLOCK_MONOTONIC (trace_clock mono), the trace's own clock.
 */
#include "ktrace.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const tracefs_roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
#define KTRACE_BUFFER_KB "8192"       /* per CPU: the events between two samples */

/* Write value to the instance's file rel (a path under it). */
static int inst_write(int inst_fd, const char *rel, const char *value)
{
	int fd = openat(inst_fd, rel, O_WRONLY | O_TRUNC | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

void ktrace_close(struct tdp_ktrace *k)
{
	if (k->on_fd >= 0) {
		if (write(k->on_fd, "0", 1) < 0) {
			/* the instance goes anyway */
		}
		close(k->on_fd);
	}
	if (k->pipe_fd >= 0)
		close(k->pipe_fd);
	k->on_fd = k->pipe_fd = -1;
	if (k->dir_fd >= 0) {
		if (unlinkat(k->dir_fd, k->name, AT_REMOVEDIR) < 0)
			fprintf(stderr, "ombra: cannot remove the tracefs instance %s: %s\n", k->source,
				strerror(errno));
		close(k->dir_fd);
		k->dir_fd = -1;
	}
}

/* Make the instance, or say in k->why why there is none. */
void ktrace_open(struct tdp_ktrace *k)
{
	const char *root = NULL;
	char path[256];
	struct stat st;
	int inst = -1, r;
	DIR *d;
	struct dirent *de;

	k->pipe_fd = k->on_fd = k->dir_fd = -1;
	k->tracepoints = json_array();
	for (size_t i = 0; i < sizeof(tracefs_roots) / sizeof(tracefs_roots[0]) && !root; i++) {
		snprintf(path, sizeof(path), "%s/instances", tracefs_roots[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			root = tracefs_roots[i];
		} else if (errno == EACCES) {
			snprintf(k->why, sizeof(k->why),
				 "kvm and kvmmmu tracepoints: tracefs at %s is closed to this user: %s "
				 "(tracing needs root)", tracefs_roots[i], strerror(errno));
			return;
		}
	}
	if (!root) {
		snprintf(k->why, sizeof(k->why),
			 "kvm and kvmmmu tracepoints: no tracefs: neither /sys/kernel/tracing nor "
			 "/sys/kernel/debug/tracing is mounted (mount -t tracefs nodev /sys/kernel/tracing)");
		return;
	}
	snprintf(k->name, sizeof(k->name), "ombra-%ld", (long)getpid());
	snprintf(k->source, sizeof(k->source), "%s/instances/%s", root, k->name);
	snprintf(path, sizeof(path), "%s/instances", root);
	k->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (k->dir_fd < 0 || (mkdirat(k->dir_fd, k->name, 0700) < 0 &&
			      (errno != EEXIST || unlinkat(k->dir_fd, k->name, AT_REMOVEDIR) < 0 ||
			       mkdirat(k->dir_fd, k->name, 0700) < 0))) {
		snprintf(k->why, sizeof(k->why),
			 "kvm and kvmmmu tracepoints: tracefs at %s, but no instance of ombra's own: %s "
			 "(tracing needs root)", root, strerror(errno));
		if (k->dir_fd >= 0)
			close(k->dir_fd);
		k->dir_fd = -1;
		return;
	}
	inst = openat(k->dir_fd, k->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (inst < 0) {
		snprintf(k->why, sizeof(k->why), "kvm and kvmmmu tracepoints: cannot open %s: %s", k->source,
			 strerror(errno));
		goto fail;
	}
	if ((r = inst_write(inst, "tracing_on", "0")) < 0 || (r = inst_write(inst, "trace_clock", "mono")) < 0) {
		snprintf(k->why, sizeof(k->why),
			 "kvm and kvmmmu tracepoints: %s takes no tracing_on or mono trace_clock: %s", k->source,
			 strerror(-r));
		goto fail;
	}
	inst_write(inst, "buffer_size_kb", KTRACE_BUFFER_KB);   /* else the default size */
	snprintf(path, sizeof(path), "%ld", (long)syscall(SYS_gettid));
	if ((r = inst_write(inst, "set_event_pid", path)) < 0) {
		snprintf(k->why, sizeof(k->why), "kvm and kvmmmu tracepoints: %s/set_event_pid: %s", k->source,
			 strerror(-r));
		goto fail;
	}
	static const char *const kvm_events[] = { "kvm_exit", "kvm_page_fault" };
	for (size_t i = 0; i < sizeof(kvm_events) / sizeof(kvm_events[0]); i++) {
		snprintf(path, sizeof(path), "events/kvm/%s/enable", kvm_events[i]);
		if ((r = inst_write(inst, path, "1")) < 0) {
			snprintf(k->why, sizeof(k->why), "kvm and kvmmmu tracepoints: %s/%s: %s (is kvm loaded?)",
				 k->source, path, strerror(-r));
			goto fail;
		}
		json_array_append_new(k->tracepoints, json_sprintf("kvm:%s", kvm_events[i]));
	}
	/* Interrupt injections, where the kernel has the tracepoint: since
	 * Linux 6.0 it says "[reinjected]" for an interrupt injected again
	 * after a VM exit cut its delivery short, which KVM's irq_injections
	 * counts again (docs/counters.md). */
	if (inst_write(inst, "events/kvm/kvm_inj_virq/enable", "1") == 0)
		json_array_append_new(k->tracepoints, json_string("kvm:kvm_inj_virq"));
	/* every kvmmmu event this kernel has */
	if (inst_write(inst, "events/kvmmmu/enable", "1") == 0) {
		snprintf(path, sizeof(path), "%s/events/kvmmmu", k->source);
		d = opendir(path);
		while (d && (de = readdir(d)) != NULL)
			if (de->d_type == DT_DIR && de->d_name[0] != '.')
				json_array_append_new(k->tracepoints, json_sprintf("kvmmmu:%s", de->d_name));
		if (d)
			closedir(d);
	}
	k->pipe_fd = openat(inst, "trace_pipe", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	k->on_fd = openat(inst, "tracing_on", O_WRONLY | O_CLOEXEC);
	if (k->pipe_fd < 0 || k->on_fd < 0) {
		snprintf(k->why, sizeof(k->why), "kvm and kvmmmu tracepoints: cannot open %s/trace_pipe: %s",
			 k->source, strerror(errno));
		goto fail;
	}
	close(inst);
	return;
fail:
	if (inst >= 0)
		close(inst);
	ktrace_close(k);
	json_array_clear(k->tracepoints);
}

/* The events KVM recorded since the last call, as kvm records. */
void ktrace_drain(struct vm *vm)
{
	struct tdp_ktrace *k = vm->mode_data;
	char buf[16384];
	ssize_t n;

	if (!k || k->pipe_fd < 0 || !vm->trace)
		return;
	while ((n = read(k->pipe_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			double ts;
			json_t *rec;
			int r;

			if (buf[i] != '\n') {
				if (k->npart < sizeof(k->part) - 1)
					k->part[k->npart++] = buf[i];
				continue;
			}
			k->part[k->npart] = 0;
			k->npart = 0;
			r = ktrace_parse(k->part, &ts, &rec);
			if (r == KTRACE_EVENT) {
				ts -= trace_t0(vm->trace);
				k->last_t = ts > k->last_t ? ts : k->last_t;
			} else if (r == KTRACE_BAD) {
				rec = json_pack("{s:s, s:s}", "name", "unparsed", "text", k->part);
			}
			/* lost and unparsed lines: at the last event's time */
			if (rec)
				trace_write_at(vm->trace, TRACE_KVM, r == KTRACE_EVENT ? (ts > 0 ? ts : 0) : k->last_t,
					       rec);
		}
	}
}
/* --- KVM's tracepoint lines ---------------------------------------------- */

/* Fields the kvm and kvmmmu events print in hex without "0x" (their
 * print fmt in /sys/kernel/tracing/events/kvmmmu/NAME/format, Linux 6.1);
 * "gen" is hex only in mark_mmio_spte. */
static const char *const hex_keys[] = {
	"addr", "pferr", "pte", "gfn", "pfn", "spte", "old_spte", "new_spte", "gpa", "gva",
	"old", "new", "at", "access", "sptep", "kvm_gen", "spte-gen", "used_pages",
};

/* The events that print a shadow page's role (KVM_MMU_PAGE_PRINTK). */
static const char *const page_events[] = {
	"kvm_mmu_get_page", "kvm_mmu_prepare_zap_page", "kvm_mmu_sync_page", "kvm_mmu_unsync_page",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool is_key(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (s++; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static bool all_of(const char *s, int (*cls)(int))
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!cls((unsigned char)*s))
			return false;
	return true;
}

/* tok as the value of key: a JSON number or hex string, or NULL when tok
 * is not a number. */
static json_t *kvm_value(const char *name, const char *key, const char *tok)
{
	bool hex = in_list(key, hex_keys, sizeof(hex_keys) / sizeof(hex_keys[0])) ||
		   (strcmp(key, "gen") == 0 && strcmp(name, "mark_mmio_spte") == 0);

	if (tok[0] == '0' && tok[1] == 'x' && all_of(tok + 2, isxdigit))
		return trace_hex(strtoull(tok + 2, NULL, 16));
	if (hex && all_of(tok, isxdigit))
		return trace_hex(strtoull(tok, NULL, 16));
	if (all_of(tok + (tok[0] == '-'), isdigit))
		return json_integer((json_int_t)strtoll(tok, NULL, 10));
	return NULL;
}

/* The "key value" pairs of an event's text, into fields. */
static void kvm_fields(const char *name, const char *text, json_t *fields)
{
	char buf[512], *tok[64], *p;
	bool page = in_list(name, page_events, sizeof(page_events) / sizeof(page_events[0]));
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", text);
	for (p = strtok(buf, " ,"); p && n < 64; p = strtok(NULL, " ,")) {
		char *colon = strchr(p, ':');

		/* "addr:7ff00000", "sptep:00000000deadbeef": two tokens */
		if (colon && colon > p && colon[1] && n < 63) {
			*colon = 0;
			tok[n++] = p;
			tok[n++] = colon + 1;
		} else {
			tok[n++] = p;
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v;

		if (page) {
			/* "sp gen 0 gfn 7ff l4 8-byte q0 direct wux nxe ad root 0 sync new" */
			if (tok[i][0] == 'l' && all_of(tok[i] + 1, isdigit)) {
				json_object_set_new(fields, "level", json_integer(atoi(tok[i] + 1)));
				continue;
			}
			if (!strcmp(tok[i], "direct") || !strcmp(tok[i], "invalid")) {
				json_object_set_new(fields, tok[i], json_true());
				continue;
			}
			if (!strcmp(tok[i], "sync") || !strcmp(tok[i], "unsync")) {
				json_object_set_new(fields, "unsync", json_boolean(tok[i][0] == 'u'));
				continue;
			}
			if (!strcmp(tok[i], "new") || !strcmp(tok[i], "existing")) {
				json_object_set_new(fields, "created", json_boolean(tok[i][0] == 'n'));
				continue;
			}
		}
		/* kvm_mmu_set_spte's "(rwxu)" */
		if (tok[i][0] == '(' && tok[i][strlen(tok[i]) - 1] == ')') {
			tok[i][strlen(tok[i]) - 1] = 0;
			json_object_set_new(fields, "prot", json_string(tok[i] + 1));
			continue;
		}
		if (!is_key(tok[i]) || i + 1 >= n)
			continue;
		if (strcmp(tok[i], "reason") == 0) {
			/* kvm_exit: "reason PF excp rip 0x..." (a name of one or more words) */
			char r[64] = "";
			size_t j;

			for (j = i + 1; j < n && strcmp(tok[j], "rip"); j++)
				snprintf(r + strlen(r), sizeof(r) - strlen(r), "%s%s", j > i + 1 ? " " : "", tok[j]);
			json_object_set_new(fields, "reason", json_string(r));
			i = j - 1;
			continue;
		}
		v = kvm_value(name, tok[i], tok[i + 1]);
		if (v) {
			json_object_set_new(fields, tok[i], v);
			i++;
		}
	}
}

int ktrace_parse(const char *line, double *ts, json_t **rec)
{
	const char *p = line, *cpu = NULL, *name, *end;
	char nbuf[64], text[512];
	size_t len;
	char *e;

	*rec = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '\n' || *p == '#')
		return KTRACE_NONE;
	if ((cpu = strstr(p, "[LOST ")) != NULL) {
		/* "CPU:0 [LOST 42 EVENTS]": the ring buffer overwrote them */
		unsigned long long count = strtoull(cpu + 6, &e, 10);

		if (e == cpu + 6 || strncmp(e, " EVENTS]", 8) != 0)
			return KTRACE_BAD;
		snprintf(text, sizeof(text), "%s", p);
		text[strcspn(text, "\n")] = 0;
		*rec = json_pack("{s:s, s:I, s:s}", "name", "lost", "count", (json_int_t)count, "text", text);
		return KTRACE_LOST;
	}
	/* "TASK-PID [CPU] FLAGS TIMESTAMP: NAME: TEXT"; the task's name may
	 * hold spaces, so find the CPU in brackets */
	for (cpu = strstr(p, " ["); cpu; cpu = strstr(cpu + 1, " [")) {
		const char *q = cpu + 2;

		while (isdigit((unsigned char)*q))
			q++;
		if (q > cpu + 2 && *q == ']') {
			cpu = q + 1;
			break;
		}
	}
	if (!cpu)
		return KTRACE_BAD;
	p = cpu;
	while (*p == ' ')
		p++;
	/* the flags column ("d..1."), when the irq-info option shows it */
	if (!isdigit((unsigned char)*p)) {
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
	}
	*ts = strtod(p, &e);
	if (e == p || *e != ':')
		return KTRACE_BAD;
	p = e + 1;
	while (*p == ' ')
		p++;
	name = p;
	end = strchr(name, ':');
	if (!end || (size_t)(end - name) >= sizeof(nbuf))
		return KTRACE_BAD;
	memcpy(nbuf, name, (size_t)(end - name));
	nbuf[end - name] = 0;
	if (!is_key(nbuf))
		return KTRACE_BAD;
	p = end + 1;
	if (*p == ' ')
		p++;
	snprintf(text, sizeof(text), "%s", p);
	len = strlen(text);
	while (len && isspace((unsigned char)text[len - 1]))
		text[--len] = 0;
	*rec = json_pack("{s:s, s:s, s:o}", "name", nbuf, "text", text, "fields", json_object());
	kvm_fields(nbuf, text, json_object_get(*rec, "fields"));
	return KTRACE_EVENT;
}
