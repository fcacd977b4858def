/*
 * The trace's one list of events (TRACE_EVENTS in src/vmm/trace.h) against
 * the two other places that name them: the JSON Schema the end-to-end
 * tests validate every trace with, and docs/trace.md's table.  A name added
 * to one and not the others fails here.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/trace.h"

/* The unit tests run from the top of the tree (make unit). */
Test(trace_events, schema_enum_is_the_list)
{
	json_error_t e;
	json_t *schema = json_load_file("tests/e2e/trace_schema.json", 0, &e);
	json_t *en;

	cr_assert(schema, "tests/e2e/trace_schema.json: %s", e.text);
	en = json_object_get(json_object_get(json_object_get(schema, "properties"), "event"), "enum");
	cr_assert(json_is_array(en), "the schema has no properties.event.enum");
	cr_assert_eq(json_array_size(en), TRACE_NEVENTS, "schema lists %zu events, the code %d",
		     json_array_size(en), TRACE_NEVENTS);
	for (unsigned i = 0; i < TRACE_NEVENTS; i++)
		cr_expect_str_eq(json_string_value(json_array_get(en, i)), trace_event_names[i], "event %u", i);
	json_decref(schema);
}

Test(trace_events, docs_table_is_the_list)
{
	FILE *f = fopen("docs/trace.md", "r");
	char line[4096];
	unsigned n = 0;
	bool in_records = false;

	cr_assert(f, "docs/trace.md");
	while (fgets(line, sizeof(line), f)) {
		char name[64];

		if (strncmp(line, "## ", 3) == 0)
			in_records = strncmp(line, "## Records", 10) == 0;
		if (!in_records || sscanf(line, "| `%63[a-z0-9_]` |", name) != 1)
			continue;
		cr_assert_lt(n, TRACE_NEVENTS, "docs/trace.md lists more events than the code: %s", name);
		cr_expect_str_eq(name, trace_event_names[n], "row %u of docs/trace.md's table", n);
		n++;
	}
	fclose(f);
	cr_expect_eq(n, TRACE_NEVENTS, "docs/trace.md lists %u events, the code %d", n, TRACE_NEVENTS);
}
