/*
 * check-json: read back a JSON file ombra wrote (with jansson, not with
 * ombra's code) and check fields against expectations given on the command
 * line, for the end-to-end tests.
 *
 *   check-json FILE PATH=VALUE ...   the value at PATH equals VALUE (string
 *                                    boolean or integer, compared as text)
 *   check-json FILE PATH:int ...     PATH exists and is an integer >= 0
 *   check-json FILE PATH:pos ...     PATH exists and is a number > 0
 *   check-json FILE PATH:max=N ...   PATH is an integer from 0 to N
 *
 * PATH is dotted: end.reason, counters.pf_fixed, kvm.vcpu.exits; a number
 * picks an array element: marks.0.t.
 * Prints one line per failed check; exit status 0 when all hold.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *lookup(json_t *root, const char *path)
{
	char buf[256], *save = NULL, *tok;
	json_t *j = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save))
		if (json_is_array(j))                 /* marks.0.t: an element by its index */
			j = strspn(tok, "0123456789") == strlen(tok) ? json_array_get(j, strtoul(tok, NULL, 10)) : NULL;
		else
			j = json_object_get(j, tok);
	return j;
}

int main(int argc, char **argv)
{
	json_error_t e;
	json_t *root;
	int bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: check-json FILE CHECK...\n");
		return 2;
	}
	root = json_load_file(argv[1], 0, &e);
	if (!root) {
		printf("%s: not valid JSON: %s (line %d)\n", argv[1], e.text, e.line);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		char path[256], *eq = strchr(argv[i], '='), *colon = strrchr(argv[i], ':');
		char *max = strstr(argv[i], ":max=");
		const char *want = NULL, *kind = NULL;
		json_t *j;

		if (max) {
			snprintf(path, sizeof(path), "%.*s", (int)(max - argv[i]), argv[i]);
			kind = "max";
		} else if (eq) {
			snprintf(path, sizeof(path), "%.*s", (int)(eq - argv[i]), argv[i]);
			want = eq + 1;
		} else if (colon) {
			snprintf(path, sizeof(path), "%.*s", (int)(colon - argv[i]), argv[i]);
			kind = colon + 1;
		} else {
			printf("bad check '%s'\n", argv[i]);
			bad = 1;
			continue;
		}
		j = lookup(root, path);
		if (!j) {
			printf("%s: missing\n", path);
			bad = 1;
		} else if (want) {
			char got[256];

			if (json_is_string(j))
				snprintf(got, sizeof(got), "%s", json_string_value(j));
			else if (json_is_boolean(j))
				snprintf(got, sizeof(got), "%s", json_is_true(j) ? "true" : "false");
			else if (json_is_integer(j))
				snprintf(got, sizeof(got), "%lld", (long long)json_integer_value(j));
			else
				snprintf(got, sizeof(got), "(not a string, boolean or integer)");
			if (strcmp(got, want) != 0) {
				printf("%s: got '%s', want '%s'\n", path, got, want);
				bad = 1;
			}
		} else if (strcmp(kind, "max") == 0) {
			long long limit = strtoll(max + 5, NULL, 10);

			if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > limit) {
				printf("%s: %lld, not from 0 to %lld\n", path,
				       json_is_integer(j) ? (long long)json_integer_value(j) : -1LL, limit);
				bad = 1;
			}
		} else if (strcmp(kind, "int") == 0) {
			if (!json_is_integer(j) || json_integer_value(j) < 0) {
				printf("%s: not a non-negative integer\n", path);
				bad = 1;
			}
		} else if (strcmp(kind, "pos") == 0) {
			if (!json_is_number(j) || !(json_number_value(j) > 0)) {
				printf("%s: not a positive number\n", path);
				bad = 1;
			}
		} else {
			printf("bad check kind '%s'\n", kind);
			bad = 1;
		}
	}
	json_decref(root);
	return bad;
}
