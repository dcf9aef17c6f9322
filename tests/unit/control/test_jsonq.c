/* SPDX-License-Identifier: MIT
 * The JSON thread (lib/control/jsonq.c): parse and print jobs come back
 * in order with their tags, parse errors say why, a large line is parsed
 * while the caller goes on, and untaken results are freed on destroy
 * (ASan run). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_cunit.h"
#include "rc_jsonq.h"

/* Wait (up to 10 s) for the next result. */
static int take(struct rc_jsonq *q, struct rc_jsonq_done *d)
{
	const struct timespec nap = {0, 100000};

	for (int i = 0; i < 100000; i++) {
		if (rc_jsonq_take(q, d))
			return 1;
		nanosleep(&nap, NULL);
	}
	return 0;
}

static void test_order(void)
{
	struct rc_jsonq *q = rc_jsonq_create();
	struct rc_jsonq_done d;
	const char *l1 = "{\"cmd\":\"status\"}", *l2 = "{\"cmd\":";

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(rc_jsonq_parse(q, 1, l1, strlen(l1)), 0);
	CU_ASSERT_EQUAL(rc_jsonq_parse(q, 2, l2, strlen(l2)), 0);
	CU_ASSERT_EQUAL(rc_jsonq_print(q, 3, json_pack("{s:i}", "n", 7)), 0);
	CU_ASSERT_EQUAL(rc_jsonq_in_flight(q), 3);
	CU_ASSERT_FATAL(take(q, &d));
	CU_ASSERT_EQUAL(d.tag, 1);
	CU_ASSERT_FALSE(d.printed);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d.json, "cmd")),
			       "status");
	json_decref(d.json);
	CU_ASSERT_FATAL(take(q, &d));
	CU_ASSERT_EQUAL(d.tag, 2);
	CU_ASSERT_PTR_NULL(d.json);
	CU_ASSERT_TRUE(strlen(d.err) > 0);
	CU_ASSERT_FATAL(take(q, &d));
	CU_ASSERT_EQUAL(d.tag, 3);
	CU_ASSERT_TRUE(d.printed);
	CU_ASSERT_STRING_EQUAL(d.text, "{\"n\":7}");
	free(d.text);
	CU_ASSERT_EQUAL(rc_jsonq_in_flight(q), 0);
	CU_ASSERT_EQUAL(rc_jsonq_take(q, &d), 0);
	rc_jsonq_destroy(q);
}

/* A 4 MiB string: the caller is back at once (the copy), the parse
 * result arrives whole. */
static void test_large(void)
{
	struct rc_jsonq *q = rc_jsonq_create();
	struct rc_jsonq_done d;
	size_t n = 4u << 20;
	char *line = malloc(n + 16);

	strcpy(line, "[\"");
	memset(line + 2, 'a', n);
	strcpy(line + 2 + n, "\"]");
	CU_ASSERT_EQUAL(rc_jsonq_parse(q, 9, line, n + 4), 0);
	free(line); /* copied */
	CU_ASSERT_FATAL(take(q, &d));
	CU_ASSERT_EQUAL(d.tag, 9);
	CU_ASSERT_EQUAL(json_string_length(json_array_get(d.json, 0)), n);
	json_decref(d.json);
	rc_jsonq_destroy(q);
}

static json_t *build_fn(void *arg)
{
	json_t *v = json_pack("{s:s}", "built", (const char *)arg);

	free(arg);
	return v;
}

/* A value built on the thread, then printed. */
static void test_build(void)
{
	struct rc_jsonq *q = rc_jsonq_create();
	struct rc_jsonq_done d;

	CU_ASSERT_EQUAL(rc_jsonq_build(q, 5, build_fn, strdup("there")), 0);
	CU_ASSERT_FATAL(take(q, &d));
	CU_ASSERT_EQUAL(d.tag, 5);
	CU_ASSERT_TRUE(d.printed);
	CU_ASSERT_STRING_EQUAL(d.text, "{\"built\":\"there\"}");
	free(d.text);
	rc_jsonq_destroy(q);
}

static void test_destroy_with_results(void)
{
	struct rc_jsonq *q = rc_jsonq_create();

	for (int i = 0; i < 50; i++)
		rc_jsonq_parse(q, (uint64_t)i, "[1,2,3]", 7);
	rc_jsonq_print(q, 99, json_pack("[i]", 1));
	rc_jsonq_destroy(q); /* nothing leaks (ASan) */
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"results in order, errors said", test_order},
		{"a large line", test_large},
		{"built on the thread", test_build},
		{"destroy frees what is left", test_destroy_with_results},
		{NULL, NULL},
	};
	return rc_test_run("jsonq", cases);
}
