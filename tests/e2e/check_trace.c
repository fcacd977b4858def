/*
 * check-trace SCHEMA TRACE: validate every line of an ombra trace (JSON
 * Lines) against tests/e2e/trace_schema.json, with jansson.  Implements the
 * JSON Schema keywords that schema uses (type, required, properties, enum,
 * const, minimum, pattern (as a POSIX extended regex), items, allOf,
 * if/then), and
 * also checks that the first record is the header, the last the end, and
 * that t never goes backwards: among ombra's own records, and among the
 * kvm records (KVM's tracepoints, read in batches at each sample, so each
 * batch comes with times before the sample that follows it, which must
 * not be earlier than any of them).  Prints one line per problem (at most 20);
 * exit status 0 when the trace is valid.
 */
#include <jansson.h>
#include <stdbool.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

static int problems;

static void problem(unsigned line, const char *what, const char *key)
{
	if (problems++ < 20)
		printf("line %u: %s%s%s\n", line, what, key ? ": " : "", key ? key : "");
}

static int type_ok(const char *type, json_t *v)
{
	if (!strcmp(type, "object")) return json_is_object(v);
	if (!strcmp(type, "array")) return json_is_array(v);
	if (!strcmp(type, "string")) return json_is_string(v);
	if (!strcmp(type, "integer")) return json_is_integer(v);
	if (!strcmp(type, "number")) return json_is_number(v);
	if (!strcmp(type, "boolean")) return json_is_boolean(v);
	return 0;
}

/* Does v match schema s?  report = false: only answer (for "if"). */
static int check(json_t *s, json_t *v, unsigned line, const char *where, int report)
{
	json_t *k;
	int ok = 1;

	if ((k = json_object_get(s, "type")) && !type_ok(json_string_value(k), v)) {
		if (report)
			problem(line, "wrong type", where);
		return 0;
	}
	if ((k = json_object_get(s, "const")) && !json_equal(k, v)) {
		if (report)
			problem(line, "not the constant", where);
		return 0;
	}
	if ((k = json_object_get(s, "enum"))) {
		size_t i;
		json_t *e;
		int found = 0;

		json_array_foreach(k, i, e)
			found |= json_equal(e, v);
		if (!found) {
			if (report)
				problem(line, "not one of the allowed values", where);
			return 0;
		}
	}
	if ((k = json_object_get(s, "minimum")) && json_is_number(v) &&
	    json_number_value(v) < json_number_value(k)) {
		if (report)
			problem(line, "below the minimum", where);
		ok = 0;
	}
	if ((k = json_object_get(s, "pattern")) && json_is_string(v)) {
		/* The schema's patterns are POSIX extended regular expressions
		 * too (JSON Schema's are ECMA-262; these use nothing else). */
		regex_t re;
		int good;

		if (regcomp(&re, json_string_value(k), REG_EXTENDED | REG_NOSUB) != 0) {
			if (report)
				problem(line, "the schema's pattern does not compile", where);
			return 0;
		}
		good = regexec(&re, json_string_value(v), 0, NULL, 0) == 0;
		regfree(&re);
		if (!good) {
			if (report)
				problem(line, "does not match the schema's pattern", where);
			ok = 0;
		}
	}
	if ((k = json_object_get(s, "required")) && json_is_object(v)) {
		size_t i;
		json_t *r;

		json_array_foreach(k, i, r)
			if (!json_object_get(v, json_string_value(r))) {
				if (report)
					problem(line, "missing field", json_string_value(r));
				ok = 0;
			}
	}
	if ((k = json_object_get(s, "properties")) && json_is_object(v)) {
		const char *key;
		json_t *sub;

		json_object_foreach(k, key, sub) {
			json_t *f = json_object_get(v, key);

			if (f && !check(sub, f, line, key, report))
				ok = 0;
		}
	}
	if ((k = json_object_get(s, "items")) && json_is_array(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
			if (!check(k, e, line, where, report))
				ok = 0;
	}
	if ((k = json_object_get(s, "allOf"))) {
		size_t i;
		json_t *sub;

		json_array_foreach(k, i, sub) {
			json_t *cond = json_object_get(sub, "if");

			if (cond && !check(cond, v, line, where, 0))
				continue;
			if (cond && json_object_get(sub, "then")) {
				if (!check(json_object_get(sub, "then"), v, line, where, report))
					ok = 0;
			} else if (!cond && !check(sub, v, line, where, report)) {
				ok = 0;
			}
		}
	}
	return ok;
}

int main(int argc, char **argv)
{
	json_error_t e;
	json_t *schema;
	FILE *f;
	char buf[1 << 16];
	unsigned line = 0;
	double last_t = 0, last_kvm_t = 0;
	const char *first = NULL, *last = NULL;
	char lastbuf[32] = "";

	if (argc != 3) {
		fprintf(stderr, "usage: check-trace SCHEMA TRACE\n");
		return 2;
	}
	schema = json_load_file(argv[1], 0, &e);
	if (!schema) {
		printf("%s: %s\n", argv[1], e.text);
		return 2;
	}
	f = fopen(argv[2], "r");
	if (!f) {
		printf("cannot open %s\n", argv[2]);
		return 2;
	}
	while (fgets(buf, sizeof(buf), f)) {
		json_t *rec = json_loads(buf, 0, &e);
		json_t *t;

		line++;
		if (!rec) {
			problem(line, "not JSON", e.text);
			continue;
		}
		check(schema, rec, line, "record", 1);
		t = json_object_get(rec, "t");
		if (json_is_number(t)) {
			bool kvm = json_is_string(json_object_get(rec, "event")) &&
				   !strcmp(json_string_value(json_object_get(rec, "event")), "kvm");
			double tv = json_number_value(t);

			if (kvm) {
				if (tv < last_kvm_t)
					problem(line, "t goes backwards among the kvm records", NULL);
				last_kvm_t = tv;
			} else {
				if (tv < last_t)
					problem(line, "t goes backwards", NULL);
				if (tv < last_kvm_t)
					problem(line, "t is before the kvm records written before it", NULL);
				last_t = tv;
			}
		}
		if (json_is_string(json_object_get(rec, "event"))) {
			snprintf(lastbuf, sizeof(lastbuf), "%s", json_string_value(json_object_get(rec, "event")));
			last = lastbuf;
			if (!first)
				first = strcmp(last, "header") ? "other" : "header";
		}
		json_decref(rec);
	}
	fclose(f);
	if (!first || strcmp(first, "header"))
		problem(1, "the first record is not the header", NULL);
	if (!last || strcmp(last, "end"))
		problem(line, "the last record is not the end", NULL);
	printf("%u records, %d problems\n", line, problems);
	json_decref(schema);
	return problems ? 1 : 0;
}
