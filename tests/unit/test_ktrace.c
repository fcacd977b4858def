/*
 * Unit tests for the parser of KVM's tracepoint lines (ktrace_parse in
 * src/tdp/ktrace.c), which turns tdp mode's tracefs output into the trace's
 * "kvm" records.  The fixtures are lines copied from trace_pipe on the
 * nested AMD-V host (Debian's Linux 6.1, kvm_amd with npt=1 and npt=0,
 * mmutest cases=paging64,demand64): the kvm events and every kvmmmu event
 * that run printed (mark_mmio_spte, which it did not print, is written to
 * its print fmt).  Then the ring buffer's "[LOST N EVENTS]" line, the
 * comment header of the trace file, and lines that are not events.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <string.h>

#include "tdp/ktrace.h"

static json_t *parse_ok(const char *line, double *ts)
{
	json_t *rec = NULL;

	cr_assert_eq(ktrace_parse(line, ts, &rec), KTRACE_EVENT, "not an event: %s", line);
	cr_assert_not_null(rec);
	return rec;
}

static const char *fstr(json_t *rec, const char *key)
{
	json_t *v = json_object_get(json_object_get(rec, "fields"), key);

	cr_assert(json_is_string(v), "field %s is not a string", key);
	return json_string_value(v);
}

static long long fint(json_t *rec, const char *key)
{
	json_t *v = json_object_get(json_object_get(rec, "fields"), key);

	cr_assert(json_is_integer(v), "field %s is not an integer", key);
	return (long long)json_integer_value(v);
}

static bool fbool(json_t *rec, const char *key)
{
	json_t *v = json_object_get(json_object_get(rec, "fields"), key);

	cr_assert(json_is_boolean(v), "field %s is not a boolean", key);
	return json_is_true(v);
}

static const char *str(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

Test(ktrace, kvm_exit_npt)
{
	double ts = 0;
	json_t *r = parse_ok("           ombra-106     [000] .....     6.680441: kvm_exit: vcpu 0 reason io rip "
			     "0x1069a7 info1 0x0000000003f90010 info2 0x00000000001069a8 intr_info 0x00000000 "
			     "error_code 0x00000000\n", &ts);

	cr_assert_float_eq(ts, 6.680441, 1e-9);
	cr_assert_str_eq(str(r, "name"), "kvm_exit");
	cr_assert_str_eq(str(r, "text"), "vcpu 0 reason io rip 0x1069a7 info1 0x0000000003f90010 info2 "
			 "0x00000000001069a8 intr_info 0x00000000 error_code 0x00000000");
	cr_assert_eq(fint(r, "vcpu"), 0);
	cr_assert_str_eq(fstr(r, "reason"), "io");
	cr_assert_str_eq(fstr(r, "rip"), "0x1069a7");
	cr_assert_str_eq(fstr(r, "info1"), "0x3f90010");
	cr_assert_str_eq(fstr(r, "info2"), "0x1069a8");
	cr_assert_str_eq(fstr(r, "intr_info"), "0x0");
	cr_assert_str_eq(fstr(r, "error_code"), "0x0");
	json_decref(r);
}

Test(ktrace, kvm_exit_reason_of_two_words)
{
	double ts;
	json_t *r = parse_ok("           ombra-106     [000] .....     6.409153: kvm_exit: vcpu 0 reason PF excp rip "
			     "0x108a1c info1 0x0000000000000010 info2 0x0000000000108a1c intr_info 0x00000000 "
			     "error_code 0x00000000", &ts);

	cr_assert_str_eq(fstr(r, "reason"), "PF excp");
	cr_assert_str_eq(fstr(r, "rip"), "0x108a1c");
	cr_assert_str_eq(fstr(r, "info1"), "0x10");
	json_decref(r);
}

Test(ktrace, kvm_page_fault)
{
	double ts;
	json_t *r = parse_ok("           ombra-106     [000] .....     6.677308: kvm_page_fault: vcpu 0 rip 0x108a1c "
			     "address 0x0000000000108a1c error_code 0x100000014", &ts);

	cr_assert_float_eq(ts, 6.677308, 1e-9);
	cr_assert_str_eq(str(r, "name"), "kvm_page_fault");
	cr_assert_str_eq(fstr(r, "address"), "0x108a1c");
	cr_assert_str_eq(fstr(r, "error_code"), "0x100000014");
	json_decref(r);
}

Test(ktrace, kvmmmu_hex_without_prefix)
{
	double ts;
	json_t *r;

	r = parse_ok("           ombra-106     [000] .....     6.458518: kvm_mmu_pagetable_walk: addr 206fc4 pferr 10 F",
		     &ts);
	cr_assert_str_eq(fstr(r, "addr"), "0x206fc4");
	cr_assert_str_eq(fstr(r, "pferr"), "0x10");
	json_decref(r);

	r = parse_ok("           ombra-106     [000] .....     6.458719: kvm_mmu_paging_element: pte 20d027 level 4", &ts);
	cr_assert_str_eq(fstr(r, "pte"), "0x20d027");
	cr_assert_eq(fint(r, "level"), 4);
	json_decref(r);

	r = parse_ok("           ombra-106     [000] ...1.     6.410504: kvm_mmu_spte_requested: gfn 108 pfn 429d level 1",
		     &ts);
	cr_assert_str_eq(fstr(r, "gfn"), "0x108");
	cr_assert_str_eq(fstr(r, "pfn"), "0x429d");
	cr_assert_eq(fint(r, "level"), 1);
	json_decref(r);

	r = parse_ok("           ombra-106     [000] ...1.     6.411227: kvm_mmu_set_spte: gfn 108 spte 429de67 (rwxu) "
		     "level 1 at 7ff00840", &ts);
	cr_assert_str_eq(fstr(r, "spte"), "0x429de67");
	cr_assert_str_eq(fstr(r, "prot"), "rwxu");
	cr_assert_str_eq(fstr(r, "at"), "0x7ff00840");
	json_decref(r);

	r = parse_ok("           ombra-106     [000] ...1.     6.678858: kvm_tdp_mmu_spte_changed: as id 0 gfn 0 level 5 "
		     "old_spte 0 new_spte 66e39827", &ts);
	cr_assert_eq(fint(r, "id"), 0);
	cr_assert_str_eq(fstr(r, "gfn"), "0x0");
	cr_assert_eq(fint(r, "level"), 5);
	cr_assert_str_eq(fstr(r, "old_spte"), "0x0");
	cr_assert_str_eq(fstr(r, "new_spte"), "0x66e39827");
	json_decref(r);

	r = parse_ok("           ombra-106     [000] .....     6.463688: kvm_mmu_set_accessed_bit: gpa 223000", &ts);
	cr_assert_str_eq(fstr(r, "gpa"), "0x223000");
	json_decref(r);

	r = parse_ok("           ombra-106     [000] .....     6.487017: kvm_mmu_walker_error: pferr 0 ", &ts);
	cr_assert_str_eq(str(r, "text"), "pferr 0");
	cr_assert_str_eq(fstr(r, "pferr"), "0x0");
	json_decref(r);
}

Test(ktrace, shadow_page_role)
{
	double ts;
	json_t *r;

	r = parse_ok("           ombra-106     [000] ...1.     6.675083: kvm_mmu_get_page: sp gen 0 gfn 0 l5 8-byte q0 "
		     "direct wux nxe ad root 0 sync new", &ts);
	cr_assert_eq(fint(r, "gen"), 0);
	cr_assert_str_eq(fstr(r, "gfn"), "0x0");
	cr_assert_eq(fint(r, "level"), 5);
	cr_assert(fbool(r, "direct"));
	cr_assert(!fbool(r, "unsync"));
	cr_assert(fbool(r, "created"));
	cr_assert_eq(fint(r, "root"), 0);
	json_decref(r);

	r = parse_ok("           ombra-106     [000] ...1.     6.485297: kvm_mmu_prepare_zap_page: sp gen 0 gfn 216 l4 "
		     "8-byte q0 wux nxe ad root 0 sync", &ts);
	cr_assert_str_eq(fstr(r, "gfn"), "0x216");
	cr_assert_eq(fint(r, "level"), 4);
	cr_assert_null(json_object_get(json_object_get(r, "fields"), "direct"));
	json_decref(r);

	r = parse_ok("           ombra-106     [000] ...1.     6.574822: kvm_mmu_sync_page: sp gen 0 gfn 21c l1 8-byte q0 "
		     "wux nxe ad root 0 unsync", &ts);
	cr_assert(fbool(r, "unsync"));
	cr_assert_str_eq(fstr(r, "gfn"), "0x21c");
	json_decref(r);
}

Test(ktrace, mark_mmio_spte_gen_is_hex)
{
	double ts;
	json_t *r = parse_ok("           ombra-106     [000] ...1.     7.000001: mark_mmio_spte: sptep:00000000b2c4d1e8 "
			     "gfn fee00 access 6 gen 1a", &ts);

	cr_assert_str_eq(fstr(r, "sptep"), "0xb2c4d1e8");
	cr_assert_str_eq(fstr(r, "gfn"), "0xfee00");
	cr_assert_str_eq(fstr(r, "gen"), "0x1a");
	json_decref(r);
}

Test(ktrace, task_name_with_spaces_and_no_flags)
{
	double ts;
	json_t *r = parse_ok("  my vmm [x]-77 [003]   12.500000: kvm_page_fault: vcpu 1 rip 0x10 address 0x20 error_code 0x4",
			     &ts);

	cr_assert_float_eq(ts, 12.5, 1e-9);
	cr_assert_eq(fint(r, "vcpu"), 1);
	json_decref(r);
}

Test(ktrace, lost_events)
{
	double ts;
	json_t *r = NULL;

	cr_assert_eq(ktrace_parse("CPU:0 [LOST 42 EVENTS]\n", &ts, &r), KTRACE_LOST);
	cr_assert_str_eq(str(r, "name"), "lost");
	cr_assert_eq(json_integer_value(json_object_get(r, "count")), 42);
	cr_assert_str_eq(str(r, "text"), "CPU:0 [LOST 42 EVENTS]");
	json_decref(r);
}

Test(ktrace, not_events)
{
	double ts;
	json_t *r = NULL;

	cr_assert_eq(ktrace_parse("# tracer: nop\n", &ts, &r), KTRACE_NONE);
	cr_assert_eq(ktrace_parse("#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION", &ts, &r),
		     KTRACE_NONE);
	cr_assert_eq(ktrace_parse("\n", &ts, &r), KTRACE_NONE);
	cr_assert_eq(ktrace_parse("", &ts, &r), KTRACE_NONE);
	cr_assert_null(r);
	cr_assert_eq(ktrace_parse("garbage without a cpu", &ts, &r), KTRACE_BAD);
	cr_assert_eq(ktrace_parse("ombra-1 [000] ..... notatime: kvm_exit: x", &ts, &r), KTRACE_BAD);
	cr_assert_eq(ktrace_parse("ombra-1 [000] ..... 1.5 kvm_exit: x", &ts, &r), KTRACE_BAD);
	cr_assert_eq(ktrace_parse("ombra-1 [000] ..... 1.5: no colon after the name", &ts, &r), KTRACE_BAD);
	cr_assert_eq(ktrace_parse("CPU:0 [LOST lots EVENTS]", &ts, &r), KTRACE_BAD);
	cr_assert_null(r);
}

Test(ktrace, long_text_is_cut_not_overrun)
{
	char line[2048];
	double ts;
	json_t *r;

	strcpy(line, "ombra-1 [000] ..... 1.000000: kvm_exit: ");
	for (int i = 0; i < 150; i++)
		strcat(line, "key 0x1 ");
	r = parse_ok(line, &ts);
	cr_assert_lt(strlen(str(r, "text")), 512);
	cr_assert_str_eq(fstr(r, "key"), "0x1");
	json_decref(r);
}
