/* SPDX-License-Identifier: MIT
 * rc_policy: a policy is a copy (the config it came from may change or
 * go), its rate buckets read the copy's rules, and a policy without
 * rules has no buckets. The carry-over of rate counters across a
 * replacement (rc_ratelimit_stats_add) is checked here too. */
#include <string.h>

#include "rc_cunit.h"
#include "rc_policy.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

struct parsed {
	struct rc_cidr_list allow, trusted;
	struct rc_rate_rules rate;
	struct rc_classes cl;
};

static void parse(struct parsed *x, const char *allow, const char *trusted,
		  const char *rate, const char *prefixes)
{
	char err[256];

	CU_ASSERT_EQUAL_FATAL(rc_cidr_parse(&x->allow, allow, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(rc_cidr_parse(&x->trusted, trusted, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(rc_rate_rules_parse(&x->rate, rate, err,
						  sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(rc_classes_parse(&x->cl, "a:50, b:50", prefixes,
					       "a", err, sizeof(err)), 0);
}

static struct rc_policy *make(const struct parsed *x)
{
	struct rc_policy_config c = {
		.allow = &x->allow, .trusted = &x->trusted, .rate = &x->rate,
		.cl = &x->cl, .network_prefix = 24, .max_networks = 64,
		.share = 1, .hz = 1000,
	};

	return rc_policy_create(&c);
}

static void test_copy(void)
{
	struct parsed x;
	struct rc_policy *p;

	parse(&x, "10.0.0.0/8", "10.1.0.0/16", "10.0.0.0/8=10/2", "b_=b");
	p = make(&x);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	/* The source changes under it: the policy does not. */
	parse(&x, "192.168.0.0/16", "", "", "");
	memset(&x, 0xa5, sizeof(x));
	CU_ASSERT_TRUE(rc_cidr_match(&p->allow, IP(10, 9, 9, 9)));
	CU_ASSERT_FALSE(rc_cidr_match(&p->allow, IP(192, 168, 0, 1)));
	CU_ASSERT_TRUE(rc_cidr_match(&p->trusted, IP(10, 1, 2, 3)));
	CU_ASSERT_FALSE(rc_cidr_match(&p->trusted, IP(10, 2, 2, 3)));
	CU_ASSERT_EQUAL(rc_classes_match(&p->cl, "b_1", 3), 1);
	CU_ASSERT_EQUAL(rc_classes_match(&p->cl, "c_1", 3), 0);
	/* Buckets read the policy's own rules (the source is garbage now):
	 * burst 2, then throttled at the same instant. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->rl);
	CU_ASSERT_TRUE(rc_ratelimit_admit(p->rl, IP(10, 0, 0, 1), 1, 0));
	CU_ASSERT_TRUE(rc_ratelimit_admit(p->rl, IP(10, 0, 0, 1), 1, 0));
	CU_ASSERT_FALSE(rc_ratelimit_admit(p->rl, IP(10, 0, 0, 1), 1, 0));
	CU_ASSERT_TRUE(rc_ratelimit_admit(p->rl, IP(11, 0, 0, 1), 1, 0));
	rc_policy_destroy(p);
}

static void test_no_rules(void)
{
	struct parsed x;
	struct rc_policy *p;
	struct rc_policy_config bad;

	parse(&x, "0.0.0.0/0", "", "", "");
	p = make(&x);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(p->rl);
	CU_ASSERT_TRUE(rc_cidr_match(&p->allow, IP(1, 2, 3, 4)));
	CU_ASSERT_EQUAL(p->trusted.n, 0);
	rc_policy_destroy(p);
	rc_policy_destroy(NULL);
	/* Rules with an impossible bucket setting: no policy. */
	parse(&x, "0.0.0.0/0", "", "0.0.0.0/0=5", "");
	bad = (struct rc_policy_config){
		.allow = &x.allow, .trusted = &x.trusted, .rate = &x.rate,
		.cl = &x.cl, .network_prefix = 33, .max_networks = 64,
		.share = 1, .hz = 1000,
	};
	CU_ASSERT_PTR_NULL(rc_policy_create(&bad));
}

static void test_stats_carry(void)
{
	struct rc_ratelimit_stats acc = {1, 2, 3};
	const struct rc_ratelimit_stats st = {10, 20, 30};

	rc_ratelimit_stats_add(&acc, &st);
	CU_ASSERT_EQUAL(acc.admitted, 11);
	CU_ASSERT_EQUAL(acc.throttled, 22);
	CU_ASSERT_EQUAL(acc.reused, 33);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"a policy is a copy; buckets read its rules", test_copy},
		{"no rules, no buckets; bad bucket settings", test_no_rules},
		{"rate counters carried over", test_stats_carry},
		{NULL, NULL},
	};

	return rc_test_run("policy", cases);
}
