/* SPDX-License-Identifier: MIT
 * CIDR lists and rate quotas: parsing and its errors, matching, and the
 * token bucket's rate, burst, per-network separation and table bound,
 * driven by an injected clock (1 tick = 1 ms). */
#include <string.h>

#include "rc_cunit.h"
#include "rc_guard.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static void test_cidr(void)
{
	struct rc_cidr_list l;
	char err[256];

	CU_ASSERT_EQUAL(rc_cidr_parse(&l, "", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(l.n, 0);
	CU_ASSERT_FALSE(rc_cidr_match(&l, IP(10, 0, 0, 1)));
	CU_ASSERT_EQUAL(rc_cidr_parse(&l, " 10.0.0.0/8 ,192.168.1.7, 0.0.0.0/0",
				      err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(l.n, 3);
	CU_ASSERT_EQUAL(l.e[1].len, 32);
	CU_ASSERT_EQUAL(rc_cidr_parse(&l, "10.0.0.0/8, 192.168.1.7", err,
				      sizeof(err)), 0);
	CU_ASSERT_TRUE(rc_cidr_match(&l, IP(10, 255, 1, 2)));
	CU_ASSERT_TRUE(rc_cidr_match(&l, IP(192, 168, 1, 7)));
	CU_ASSERT_FALSE(rc_cidr_match(&l, IP(192, 168, 1, 8)));
	CU_ASSERT_FALSE(rc_cidr_match(&l, IP(11, 0, 0, 0)));

	CU_ASSERT_EQUAL(rc_cidr_parse(&l, "10.0.0.1/8", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "did you mean 10.0.0.0/8"));
	CU_ASSERT_EQUAL(rc_cidr_parse(&l, "10.0.0.0/33", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not an IPv4 network"));
	CU_ASSERT_EQUAL(rc_cidr_parse(&l, "fe80::1/64", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(rc_cidr_parse(&l, "10.0.0.0/", err, sizeof(err)), -1);
}

static void test_cidr_limit(void)
{
	char s[64 * 20], err[256];
	size_t n = 0;
	struct rc_cidr_list l;

	for (unsigned i = 0; i < RC_CIDR_MAX; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "10.0.%u.0/24,", i);
	CU_ASSERT_EQUAL(rc_cidr_parse(&l, s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(l.n, RC_CIDR_MAX);
	snprintf(s + n, sizeof(s) - n, "10.1.0.0/24");
	CU_ASSERT_EQUAL(rc_cidr_parse(&l, s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 64"));
}

static void test_rules_parse(void)
{
	struct rc_rate_rules rr;
	char err[256];

	CU_ASSERT_EQUAL(rc_rate_rules_parse(&rr, "0.0.0.0/0=1000, 10.1.0.0/16=50/5",
					    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rr.n, 2);
	CU_ASSERT_EQUAL(rr.r[0].rate, 1000);
	CU_ASSERT_EQUAL(rr.r[0].burst, 100);
	CU_ASSERT_EQUAL(rr.r[1].burst, 5);
	CU_ASSERT_EQUAL(rc_rate_rules_parse(&rr, "10.0.0.0/8", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cidr=rate"));
	CU_ASSERT_EQUAL(rc_rate_rules_parse(&rr, "10.0.0.0/8=0", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(rc_rate_rules_parse(&rr, "10.0.0.0/8=10/601", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(rc_rate_rules_parse(&rr, "10.0.0.0/8=10/600", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rc_rate_rules_parse(&rr, "10.0.0.0/8=10x", err, sizeof(err)), -1);
}

static struct rc_ratelimit *mk(struct rc_rate_rules *rr, const char *rules,
			       unsigned prefix, unsigned nets, unsigned share)
{
	char err[256];
	struct rc_ratelimit_config c = {.rules = rr, .network_prefix = prefix,
					.max_networks = nets, .share = share,
					.hz = 1000};

	CU_ASSERT_EQUAL_FATAL(rc_rate_rules_parse(rr, rules, err, sizeof(err)), 0);
	return rc_ratelimit_create(&c);
}

static unsigned admitted(struct rc_ratelimit *rl, uint32_t ip, unsigned n,
			 uint64_t now)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++)
		ok += rc_ratelimit_admit(rl, ip, 1, now);
	return ok;
}

static void test_rate(void)
{
	struct rc_rate_rules rr;
	/* 100 ops/s (one per 10 ms), burst 10, per /24. */
	struct rc_ratelimit *rl = mk(&rr, "10.0.0.0/8=100/10", 24, 64, 1);
	struct rc_ratelimit_stats st;

	CU_ASSERT_EQUAL(admitted(rl, IP(10, 0, 0, 1), 20, 1000), 10);
	/* Same /24, other host: same bucket. */
	CU_ASSERT_EQUAL(admitted(rl, IP(10, 0, 0, 2), 5, 1000), 0);
	/* Another /24 has its own. A source no rule covers is free. */
	CU_ASSERT_EQUAL(admitted(rl, IP(10, 0, 1, 1), 20, 1000), 10);
	CU_ASSERT_EQUAL(admitted(rl, IP(11, 0, 0, 1), 500, 1000), 500);
	/* 10 ms later exactly one more; a second later the full burst. */
	CU_ASSERT_EQUAL(admitted(rl, IP(10, 0, 0, 1), 5, 1010), 1);
	CU_ASSERT_EQUAL(admitted(rl, IP(10, 0, 0, 1), 50, 2010), 10);
	/* Over a steady second: the burst plus the rate. */
	{
		unsigned ok = 0;

		for (uint64_t t = 5000; t < 6000; t++)
			ok += admitted(rl, IP(10, 0, 0, 1), 3, t);
		CU_ASSERT(ok >= 100 && ok <= 111);
	}
	/* A datagram of more ops than the burst still gets through. */
	CU_ASSERT_TRUE(rc_ratelimit_admit(rl, IP(10, 0, 9, 9), 64, 9000));
	CU_ASSERT_FALSE(rc_ratelimit_admit(rl, IP(10, 0, 9, 9), 1, 9000));
	rc_ratelimit_get_stats(rl, &st);
	CU_ASSERT_EQUAL(st.reused, 0);
	CU_ASSERT(st.throttled > 0);
	rc_ratelimit_destroy(rl);
}

/* A multi-op request costs its ops: 64-op datagrams sent as fast as
 * they are admitted get the rate, not rate x ops / burst. (5 ops/s with
 * a burst of 10 once let 24 ops/s through this way.) */
static void test_rate_multi_op_cost(void)
{
	struct rc_rate_rules rr;
	/* 5 ops/s (one per 200 ms at 1000 ticks/s), burst 10. */
	struct rc_ratelimit *rl = mk(&rr, "10.0.0.0/8=5/10", 24, 64, 1);
	unsigned ops = 0;

	for (uint64_t t = 0; t < 16000; t++)
		if (rc_ratelimit_admit(rl, IP(10, 0, 0, 1), 64, t))
			ops += 64;
	/* 16 s at 5/s is 80, plus the burst, plus one datagram charged
	 * ahead (its cost is paid off before the next one). */
	CU_ASSERT(ops <= 80 + 10 + 64);
	CU_ASSERT(ops >= 64);
	/* The same with 3-op requests: the rate and the burst. */
	{
		unsigned ok = 0;

		for (uint64_t t = 20000; t < 36000; t++)
			if (rc_ratelimit_admit(rl, IP(10, 0, 1, 1), 3, t))
				ok += 3;
		CU_ASSERT(ok >= 78 && ok <= 80 + 10 + 3);
	}
	rc_ratelimit_destroy(rl);
}

static void test_rate_share_and_specific(void)
{
	struct rc_rate_rules rr;
	/* Two workers: each enforces half. The /32 rule beats the /8. */
	struct rc_ratelimit *rl = mk(&rr, "10.0.0.0/8=100/10, 10.0.0.7/32=1000/100",
				     24, 64, 2);

	CU_ASSERT_EQUAL(admitted(rl, IP(10, 0, 0, 1), 20, 0), 5);
	CU_ASSERT_EQUAL(admitted(rl, IP(10, 0, 0, 7), 80, 0), 50);
	rc_ratelimit_destroy(rl);
}

static void test_table_bound(void)
{
	struct rc_rate_rules rr;
	/* 4 buckets (one set), 8 busy networks: buckets are reused and
	 * counted; none is ever refused a bucket. */
	struct rc_ratelimit *rl = mk(&rr, "0.0.0.0/0=10/1", 32, 4, 1);
	struct rc_ratelimit_stats st;

	for (unsigned i = 0; i < 8; i++)
		CU_ASSERT_TRUE(rc_ratelimit_admit(rl, IP(10, 0, 0, i), 1, 0));
	rc_ratelimit_get_stats(rl, &st);
	CU_ASSERT_EQUAL(st.reused, 4);
	/* Idle buckets (a second later) are reused for free. */
	for (unsigned i = 8; i < 12; i++)
		CU_ASSERT_TRUE(rc_ratelimit_admit(rl, IP(10, 0, 0, i), 1, 1000));
	rc_ratelimit_get_stats(rl, &st);
	CU_ASSERT_EQUAL(st.reused, 4);
	rc_ratelimit_destroy(rl);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"cidr lists", test_cidr},
		{"cidr list limit", test_cidr_limit},
		{"rate rules", test_rules_parse},
		{"rate and burst", test_rate},
		{"rate: a multi-op request costs every op", test_rate_multi_op_cost},
		{"share and most specific rule", test_rate_share_and_specific},
		{"table bound", test_table_bound},
		{NULL, NULL},
	};
	return rc_test_run("guard", cases);
}
