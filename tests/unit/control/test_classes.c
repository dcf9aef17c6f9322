/* SPDX-License-Identifier: MIT
 * Data-class definitions and prefix rules: the defaults, every error with
 * its message, and longest-prefix matching. */
#include <string.h>

#include "rc_classes.h"
#include "rc_cunit.h"

#define DEF_CLASSES "wedding_data:40:protected, vendor_responses:25, " \
		    "guest_interactions:20, photo_thumbnails:10, system_cache:5"

static int parse(struct rc_classes *cl, const char *c, const char *p,
		 const char *d, char *err)
{
	err[0] = '\0';
	return rc_classes_parse(cl, c, p, d, err, 256);
}

static void test_defaults(void)
{
	struct rc_classes cl;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(parse(&cl, DEF_CLASSES,
				    "wedding_=wedding_data, guest_=guest_interactions,"
				    "wedding_photo_=photo_thumbnails",
				    "system_cache", err), 0);
	CU_ASSERT_EQUAL(cl.n, 5);
	CU_ASSERT_STRING_EQUAL(cl.c[0].name, "wedding_data");
	CU_ASSERT_EQUAL(cl.c[0].share_ppm, 400000);
	CU_ASSERT_TRUE(cl.c[0].protect);
	CU_ASSERT_FALSE(cl.c[1].protect);
	CU_ASSERT_EQUAL(cl.c[4].share_ppm, 50000);
	CU_ASSERT_EQUAL(rc_classes_find(&cl, "photo_thumbnails"), 3);
	CU_ASSERT_EQUAL(rc_classes_find(&cl, "nope"), -1);
	/* Longest prefix wins; no match -> the default class. */
	CU_ASSERT_EQUAL(rc_classes_match(&cl, "wedding_42", 10), 0);
	CU_ASSERT_EQUAL(rc_classes_match(&cl, "wedding_photo_7", 15), 3);
	CU_ASSERT_EQUAL(rc_classes_match(&cl, "guest_9", 7), 2);
	CU_ASSERT_EQUAL(rc_classes_match(&cl, "wedding", 7), 4);
	CU_ASSERT_EQUAL(rc_classes_match(&cl, "", 0), 4);
	CU_ASSERT_EQUAL(cl.default_class, 4);
}

static void test_shares(void)
{
	struct rc_classes cl;
	char err[256];

	CU_ASSERT_EQUAL(parse(&cl, "a:2.5,b:97.5%", "", "a", err), 0);
	CU_ASSERT_EQUAL(cl.c[0].share_ppm, 25000);
	CU_ASSERT_EQUAL(cl.c[1].share_ppm, 975000);
	CU_ASSERT_EQUAL(parse(&cl, "a:0.0001", "", "a", err), 0);
	CU_ASSERT_EQUAL(cl.c[0].share_ppm, 1);
	CU_ASSERT_EQUAL(parse(&cl, "a:60,b:40.0001", "", "a", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "100%"));
	CU_ASSERT_EQUAL(parse(&cl, "a:0.00001", "", "a", err), -EINVAL);
	CU_ASSERT_EQUAL(parse(&cl, "a:101", "", "a", err), -EINVAL);
	CU_ASSERT_EQUAL(parse(&cl, "a:-1", "", "a", err), -EINVAL);
	CU_ASSERT_EQUAL(parse(&cl, "a:x", "", "a", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'x'"));
}

static void test_errors(void)
{
	struct rc_classes cl;
	char err[256], many[1024] = "";

	CU_ASSERT_EQUAL(parse(&cl, "", "", "a", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no class"));
	CU_ASSERT_EQUAL(parse(&cl, "a", "", "a", err), -EINVAL);
	CU_ASSERT_EQUAL(parse(&cl, "a:10,a:10", "", "a", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "twice"));
	CU_ASSERT_EQUAL(parse(&cl, "a:10:sticky", "", "a", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sticky"));
	CU_ASSERT_EQUAL(parse(&cl, "a:10", "x_=b", "a", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no class 'b'"));
	CU_ASSERT_EQUAL(parse(&cl, "a:10", "x_", "a", err), -EINVAL);
	CU_ASSERT_EQUAL(parse(&cl, "a:10", "=a", "a", err), -EINVAL);
	CU_ASSERT_EQUAL(parse(&cl, "a:10", "x_=a,x_=a", "a", err), -EINVAL);
	CU_ASSERT_EQUAL(parse(&cl, "a:10", "", "b", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "default class 'b'"));
	CU_ASSERT_EQUAL(parse(&cl, "0123456789012345678901234567890123:1",
			      "", "a", err), -EINVAL);
	/* 16 classes fit, a 17th does not. */
	for (int i = 0; i < 17; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 "%sc%d:1", i ? "," : "", i);
	CU_ASSERT_EQUAL(parse(&cl, many, "", "c0", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 16"));
	*strrchr(many, ',') = '\0';
	CU_ASSERT_EQUAL(parse(&cl, many, "", "c15", err), 0);
	CU_ASSERT_EQUAL(cl.n, 16);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"defaults and matching", test_defaults},
		{"shares", test_shares},
		{"errors", test_errors},
		{NULL, NULL},
	};

	return rc_test_run("classes", cases) ? 1 : 0;
}
