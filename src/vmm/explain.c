/*
 * The parts of a translation chain every mode shares: guest-physical to
 * memslot, HVA and host frame, and printing a chain for people.  The modes
 * add the guest's walk and, in shadow mode, the shadow's (vm_mode.explain).
 */
#include "explain.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* /proc/self/pagemap, opened once at set-up (explain_init): after it the
 * seccomp filter lets no file be opened. */
static int pagemap_fd = -1;

void explain_init(void)
{
	if (pagemap_fd < 0)
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

uint64_t explain_host_pfn(const void *hva, bool *visible)
{
	uint64_t entry = 0;
	off_t off = (off_t)((uintptr_t)hva / 4096 * 8);

	*visible = false;
	explain_init();
	if (pagemap_fd < 0)
		return 0;
	if (pread(pagemap_fd, &entry, 8, off) != 8)
		entry = 0;
	/* bit 63: present; bits 0-54: the frame, zero without CAP_SYS_ADMIN */
	if (!(entry & (1ULL << 63)))
		return 0;
	*visible = (entry & ((1ULL << 55) - 1)) != 0;
	return entry & ((1ULL << 55) - 1);
}

static json_t *hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return json_string(buf);
}

void explain_gpa(const struct guest_mem *m, uint64_t gpa, json_t *obj)
{
	struct memslot *s = mem_find(m, gpa);
	const uint8_t *hva;
	uint64_t pfn;
	bool visible;

	json_object_set_new(obj, "gpa", hex(gpa));
	if (!s) {
		json_object_set_new(obj, "memslot", json_null());
		json_object_set_new(obj, "note", json_string("no memslot holds this guest-physical address (MMIO or nothing)"));
		return;
	}
	hva = s->hva + (gpa - s->gpa);
	json_object_set_new(obj, "memslot", json_pack("{s:i, s:o, s:o, s:o}", "id", s->id, "gpa", hex(s->gpa),
						      "size", hex(s->size), "hva", hex((uintptr_t)s->hva)));
	json_object_set_new(obj, "hva", hex((uintptr_t)hva));
	json_object_set_new(obj, "mpa", hex(s->mpa + (gpa - s->gpa)));
	/* Touch it, so the host has a frame to show (a read, no change). */
	(void)*(volatile const uint8_t *)hva;
	pfn = explain_host_pfn(hva, &visible);
	if (visible)
		json_object_set_new(obj, "host_pfn", hex(pfn));
	else
		json_object_set_new(obj, "host_pfn", json_null());
}

static const char *str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : "-";
}

void explain_print(FILE *out, json_t *obj)
{
	json_t *steps = json_object_get(obj, "guest_walk"), *sh = json_object_get(obj, "shadow_walk"), *st;
	size_t i;

	fprintf(out, "ombra: explain %s (%s mode, %s):\n", str(obj, "gva"), str(obj, "mode"), str(obj, "path"));
	json_array_foreach(steps, i, st)
		fprintf(out, "  guest  level %lld entry at gpa %s = %s (%s)\n",
			(long long)json_integer_value(json_object_get(st, "level")), str(st, "entry_gpa"),
			str(st, "value"), str(st, "flags"));
	if (json_object_get(obj, "guest_fault"))
		fprintf(out, "  guest tables do not map it: #PF error code %lld\n",
			(long long)json_integer_value(json_object_get(obj, "guest_fault")));
	if (json_object_get(obj, "gpa"))
		fprintf(out, "  -> gpa %s -> memslot %s -> hva %s -> host frame %s\n", str(obj, "gpa"),
			json_is_object(json_object_get(obj, "memslot")) ?
				str(json_object_get(obj, "memslot"), "gpa") : "none",
			str(obj, "hva"), json_is_null(json_object_get(obj, "host_pfn")) ?
				"(hidden: /proc/self/pagemap needs CAP_SYS_ADMIN)" : str(obj, "host_pfn"));
	json_array_foreach(sh, i, st)
		fprintf(out, "  shadow level %lld entry = %s (%s)\n",
			(long long)json_integer_value(json_object_get(st, "level")), str(st, "value"), str(st, "flags"));
	if (json_array_size(sh))
		fprintf(out, "  (%s)\n", str(obj, "shadow_note"));
	if (json_object_get(obj, "shadow_mpa"))
		fprintf(out, "  -> mpa %s -> hva %s -> host frame %s\n", str(obj, "shadow_mpa"),
			str(obj, "shadow_hva"), json_is_null(json_object_get(obj, "shadow_host_pfn")) ?
				"(hidden)" : str(obj, "shadow_host_pfn"));
	if (json_object_get(obj, "verdict"))
		fprintf(out, "  %s\n", str(obj, "verdict"));
}
