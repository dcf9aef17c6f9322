/* SPDX-License-Identifier: MIT
 * The control core's pure parts: latency histograms (bucketing, merge,
 * windows by difference, quantiles, exact Prometheus bounds), alert
 * levels with hysteresis, and the multiplier schedule evaluated at
 * injected local times with the utilisation rule, override and cap. */
#include <string.h>
#include <time.h>

#include "rc_alert.h"
#include "rc_cunit.h"
#include "rc_hist.h"
#include "rc_sched.h"

static struct rc_hist h1, h2, h3;

static void test_hist_buckets(void)
{
	/* Every value lands in a bucket whose bounds contain it, and the
	 * buckets tile the range without gaps. */
	for (uint64_t v = 0; v < (1ull << 34); v = v * 3 / 2 + 1) {
		unsigned i = rc_hist_index(v);

		CU_ASSERT_TRUE(rc_hist_bucket_lo(i) <= v);
		CU_ASSERT_TRUE(v < rc_hist_bucket_hi(i));
		/* within 6.25% */
		CU_ASSERT_TRUE(rc_hist_bucket_hi(i) - rc_hist_bucket_lo(i) <=
			       (v / 16) + 1);
	}
	for (unsigned i = 0; i + 1 < RC_HIST_BUCKETS; i++)
		CU_ASSERT_EQUAL(rc_hist_bucket_hi(i), rc_hist_bucket_lo(i + 1));
	CU_ASSERT_EQUAL(rc_hist_index(UINT64_MAX), RC_HIST_BUCKETS - 1);
}

static void test_hist_quantiles(void)
{
	memset(&h1, 0, sizeof(h1));
	CU_ASSERT_EQUAL(rc_hist_quantile(&h1, 0.99), 0);
	/* 1..10000 ns once each. */
	for (uint64_t v = 1; v <= 10000; v++)
		rc_hist_add(&h1, v);
	CU_ASSERT_EQUAL(h1.count, 10000);
	CU_ASSERT_EQUAL(h1.max_ns, 10000);
	for (double q = 0.1; q < 1.0; q += 0.1) {
		double got = (double)rc_hist_quantile(&h1, q);

		CU_ASSERT_TRUE(got >= q * 10000 * 0.999);
		CU_ASSERT_TRUE(got <= q * 10000 * 1.0625 + 1);
	}
	CU_ASSERT_EQUAL(rc_hist_quantile(&h1, 1.0), 10000);
	/* One outlier is p100, not p99. */
	rc_hist_add(&h1, 5000000);
	CU_ASSERT_TRUE(rc_hist_quantile(&h1, 0.99) < 11000);
	CU_ASSERT_EQUAL(rc_hist_quantile(&h1, 1.0), 5000000);
}

static void test_hist_windows(void)
{
	memset(&h1, 0, sizeof(h1));
	memset(&h2, 0, sizeof(h2));
	for (int i = 0; i < 1000; i++)
		rc_hist_add(&h1, 1000);       /* old: 1 us */
	h2 = h1;                              /* snapshot */
	for (int i = 0; i < 100; i++)
		rc_hist_add(&h1, 2000000);    /* recent: 2 ms */
	rc_hist_diff(&h3, &h1, &h2);
	CU_ASSERT_EQUAL(h3.count, 100);
	CU_ASSERT_TRUE(rc_hist_quantile(&h3, 0.5) >= 2000000);
	/* The window's max is the window's: exact when it is new... */
	CU_ASSERT_EQUAL(h3.max_ns, 2000000);
	CU_ASSERT_TRUE(rc_hist_quantile(&h1, 0.5) < 1100);
	/* merge adds */
	memset(&h2, 0, sizeof(h2));
	rc_hist_merge(&h2, &h1);
	rc_hist_merge(&h2, &h3);
	CU_ASSERT_EQUAL(h2.count, 1200);
	CU_ASSERT_EQUAL(h2.sum_ns, h1.sum_ns + h3.sum_ns);
	/* ...and an old spike does not stay in later windows. */
	h2 = h1;
	for (int i = 0; i < 10; i++)
		rc_hist_add(&h1, 1000);
	rc_hist_diff(&h3, &h1, &h2);
	CU_ASSERT_EQUAL(h3.count, 10);
	CU_ASSERT_TRUE(h3.max_ns >= 1000 && h3.max_ns < 1000 * 1.0625);
	CU_ASSERT_TRUE(rc_hist_quantile(&h3, 1.0) <= h3.max_ns);
	h2 = h1;
	rc_hist_diff(&h3, &h1, &h2);
	CU_ASSERT_EQUAL(h3.max_ns, 0);      /* empty window */
}

static void test_hist_le(void)
{
	memset(&h1, 0, sizeof(h1));
	for (uint64_t v = 1; v <= 100000; v += 7)
		rc_hist_add(&h1, v);
	/* At an exact edge the count is exact. */
	for (uint64_t t = 1000; t <= 100000; t = t * 5 / 2) {
		uint64_t le = rc_hist_edge_at_most(t), n = 0;

		CU_ASSERT_TRUE(le <= t);
		CU_ASSERT_TRUE(le >= t - t / 16 - 1);
		for (uint64_t v = 1; v <= 100000; v += 7)
			n += v <= le;
		CU_ASSERT_EQUAL(rc_hist_count_le(&h1, le), n);
	}
}

static void test_alert_levels(void)
{
	struct rc_alert a = {.name = "latency", .higher_is_worse = true,
			     .margin = 0.1, .clear_after = 3};
	enum rc_alert_level prev;
	char err[200];

	CU_ASSERT_EQUAL(rc_alert_parse_thresholds("0.5, 1.0,2", true, a.thr,
						  err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(a.thr[2], 2.0);
	CU_ASSERT_NOT_EQUAL(rc_alert_parse_thresholds("1,0.5,2", true, a.thr,
						      err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(rc_alert_parse_thresholds("1,2", true, a.thr,
						      err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(rc_alert_parse_thresholds("95,90,85", true,
						      a.thr, err, sizeof(err)),
			    0);
	CU_ASSERT_EQUAL(rc_alert_parse_thresholds("0.5,1.0,2.0", true, a.thr,
						  err, sizeof(err)), 0);

	CU_ASSERT_FALSE(rc_alert_eval(&a, 0.3, true, &prev));
	/* Worse: at once, straight to the level reached. */
	CU_ASSERT_TRUE(rc_alert_eval(&a, 1.5, true, &prev));
	CU_ASSERT_EQUAL(prev, RC_ALERT_OK);
	CU_ASSERT_EQUAL(a.level, RC_ALERT_CRITICAL);
	/* No data holds the level. */
	CU_ASSERT_FALSE(rc_alert_eval(&a, 0, false, &prev));
	CU_ASSERT_EQUAL(a.level, RC_ALERT_CRITICAL);
	/* Hovering just under 1.0 (inside the 10% margin) never clears. */
	for (int i = 0; i < 10; i++)
		CU_ASSERT_FALSE(rc_alert_eval(&a, 0.95, true, &prev));
	CU_ASSERT_EQUAL(a.level, RC_ALERT_CRITICAL);
	/* Clearly better: after clear_after evaluations, to the worst
	 * level seen while waiting. */
	CU_ASSERT_FALSE(rc_alert_eval(&a, 0.2, true, &prev));
	CU_ASSERT_FALSE(rc_alert_eval(&a, 0.7, true, &prev));
	CU_ASSERT_TRUE(rc_alert_eval(&a, 0.2, true, &prev));
	CU_ASSERT_EQUAL(prev, RC_ALERT_CRITICAL);
	CU_ASSERT_EQUAL(a.level, RC_ALERT_WARNING);
	/* A relapse during the wait restarts it. */
	CU_ASSERT_FALSE(rc_alert_eval(&a, 0.1, true, &prev));
	CU_ASSERT_FALSE(rc_alert_eval(&a, 0.5, true, &prev));
	CU_ASSERT_FALSE(rc_alert_eval(&a, 0.1, true, &prev));
	CU_ASSERT_FALSE(rc_alert_eval(&a, 0.1, true, &prev));
	CU_ASSERT_TRUE(rc_alert_eval(&a, 0.1, true, &prev));
	CU_ASSERT_EQUAL(a.level, RC_ALERT_OK);
	CU_ASSERT_TRUE(rc_alert_eval(&a, 9, true, &prev));
	CU_ASSERT_EQUAL(a.level, RC_ALERT_EMERGENCY);
}

static void test_alert_lower_is_worse(void)
{
	struct rc_alert a = {.name = "hit_rate", .higher_is_worse = false,
			     .margin = 0.1, .scale = 100, .clear_after = 1};
	enum rc_alert_level prev;
	char err[200];

	CU_ASSERT_EQUAL(rc_alert_parse_thresholds("95,90,85", false, a.thr,
						  err, sizeof(err)), 0);
	CU_ASSERT_TRUE(rc_alert_eval(&a, 80, true, &prev));
	CU_ASSERT_EQUAL(a.level, RC_ALERT_EMERGENCY);
	CU_ASSERT_FALSE(rc_alert_eval(&a, 86, true, &prev)); /* < 85+1.5 */
	CU_ASSERT_TRUE(rc_alert_eval(&a, 92, true, &prev));
	CU_ASSERT_EQUAL(a.level, RC_ALERT_WARNING);
	CU_ASSERT_FALSE(rc_alert_eval(&a, 95.2, true, &prev)); /* < 95.5 */
	CU_ASSERT_TRUE(rc_alert_eval(&a, 100, true, &prev));
	CU_ASSERT_EQUAL(a.level, RC_ALERT_OK);
}

static struct tm day(int year, int mon, int mday)
{
	struct tm t = {.tm_year = year - 1900, .tm_mon = mon - 1,
		       .tm_mday = mday, .tm_hour = 12};

	timegm(&t); /* fills tm_wday */
	return t;
}

static void test_sched_parse(void)
{
	struct rc_sched s;
	char err[256];

	CU_ASSERT_EQUAL(rc_sched_parse("wedding_day: sat x2.0 ttl x2.0; "
				       "season: may-oct x1.5", &s, err,
				       sizeof(err)), 0);
	CU_ASSERT_EQUAL(s.n, 2);
	CU_ASSERT_EQUAL(s.r[0].days, 1u << 6);
	CU_ASSERT_EQUAL(s.r[1].months, 0x3F0);
	CU_ASSERT_EQUAL(s.r[0].ttl, 2.0);
	CU_ASSERT_EQUAL(rc_sched_parse("", &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_EQUAL(rc_sched_parse("winter: nov-feb fri-sun x1.2 stale",
				       &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s.r[0].months, 0xC03);
	CU_ASSERT_EQUAL(s.r[0].days, 0x61);
	CU_ASSERT_TRUE(s.r[0].stale);
	CU_ASSERT_NOT_EQUAL(rc_sched_parse("x: sat", &s, err, sizeof(err)),
			    0); /* changes nothing */
	CU_ASSERT_NOT_EQUAL(rc_sched_parse("x: x2", &s, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(rc_sched_parse("x: caturday x2", &s, err,
					   sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(rc_sched_parse("sat x2", &s, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(rc_sched_parse("a: sat x2; a: sun x2", &s, err,
					   sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(rc_sched_parse("a: sat x0", &s, err, sizeof(err)),
			    0);
	CU_ASSERT_NOT_EQUAL(rc_sched_parse("a: sat ttl", &s, err,
					   sizeof(err)), 0);
}

static void test_sched_calendar(void)
{
	struct rc_sched s;
	struct rc_sched_eval e;
	struct tm t;
	char err[256];

	CU_ASSERT_EQUAL(rc_sched_parse("wedding_day: sat x2.0 ttl x2.0 "
				       "stale; season: may-oct x1.5", &s, err,
				       sizeof(err)), 0);
	t = day(2026, 11, 18); /* a Wednesday in November */
	rc_sched_eval(&s, &t, &e);
	CU_ASSERT_EQUAL(e.n_match, 0);
	CU_ASSERT_EQUAL(e.factor, 1.0);
	CU_ASSERT_FALSE(e.stale);
	t = day(2026, 11, 21); /* Saturday, out of season */
	rc_sched_eval(&s, &t, &e);
	CU_ASSERT_EQUAL(e.factor, 2.0);
	CU_ASSERT_EQUAL(e.ttl, 2.0);
	CU_ASSERT_TRUE(e.stale);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.reason, "wedding_day"));
	t = day(2026, 6, 13); /* Saturday in June: both compose */
	rc_sched_eval(&s, &t, &e);
	CU_ASSERT_EQUAL(e.n_match, 2);
	CU_ASSERT_DOUBLE_EQUAL(e.factor, 3.0, 1e-9);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.reason, "season"));
	t = day(2026, 6, 10); /* Wednesday in June */
	rc_sched_eval(&s, &t, &e);
	CU_ASSERT_DOUBLE_EQUAL(e.factor, 1.5, 1e-9);
	CU_ASSERT_EQUAL(e.ttl, 1.0);
}

static void test_scale(void)
{
	const struct rc_scale_config c = {
		.base = 1000, .cap = 2500, .max_factor = 4.0,
		.util_high = 0.7, .util_low = 0.5, .util_step = 0.1};
	struct rc_scale s = {0};
	struct rc_sched_eval cal = {.factor = 1.0};

	rc_scale_eval(&c, &s, &cal, 0, 0.1);
	CU_ASSERT_EQUAL(s.budget, 1000);
	CU_ASSERT_STRING_EQUAL(s.source, "none");
	/* Utilisation above 70% grows the budget a step at a time... */
	rc_scale_eval(&c, &s, &cal, 0, 0.8);
	CU_ASSERT_EQUAL(s.budget, 1100);
	rc_scale_eval(&c, &s, &cal, 0, 0.8);
	CU_ASSERT_EQUAL(s.budget, 1200);
	/* ...holds in between, gives back below 50%. */
	rc_scale_eval(&c, &s, &cal, 0, 0.6);
	CU_ASSERT_EQUAL(s.budget, 1200);
	rc_scale_eval(&c, &s, &cal, 0, 0.2);
	CU_ASSERT_EQUAL(s.budget, 1100);
	/* Calendar x2 with the boost: 2200; x3 would be 3300: capped. */
	cal.factor = 2.0;
	cal.n_match = 1;
	rc_scale_eval(&c, &s, &cal, 0, -1);
	CU_ASSERT_EQUAL(s.budget, 2200);
	CU_ASSERT_STRING_EQUAL(s.source, "calendar");
	cal.factor = 3.0;
	rc_scale_eval(&c, &s, &cal, 0, -1);
	CU_ASSERT_EQUAL(s.budget, 2500);
	CU_ASSERT_TRUE(s.capped);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.reason, "memory_cap"));
	/* The boost does not wind up against the cap. */
	for (int i = 0; i < 20; i++)
		rc_scale_eval(&c, &s, &cal, 0, 0.99);
	cal.factor = 1.0;
	rc_scale_eval(&c, &s, &cal, 0, -1);
	CU_ASSERT_TRUE(s.budget <= 1100);
	/* An override replaces the calendar and is bounded. */
	s.boost = 1.0;
	rc_scale_eval(&c, &s, &cal, 1.5, -1);
	CU_ASSERT_EQUAL(s.budget, 1500);
	CU_ASSERT_STRING_EQUAL(s.source, "override");
	rc_scale_eval(&c, &s, &cal, 9.0, -1);
	CU_ASSERT_EQUAL(s.factor, 4.0);
	CU_ASSERT_EQUAL(s.budget, 2500);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"histogram buckets", test_hist_buckets},
		{"histogram quantiles", test_hist_quantiles},
		{"histogram windows", test_hist_windows},
		{"histogram exact le bounds", test_hist_le},
		{"alert levels and hysteresis", test_alert_levels},
		{"alert lower is worse", test_alert_lower_is_worse},
		{"schedule parse", test_sched_parse},
		{"schedule at injected dates", test_sched_calendar},
		{"budget: utilisation, override, cap", test_scale},
		{NULL, NULL},
	};
	return rc_test_run("telemetry", cases);
}
