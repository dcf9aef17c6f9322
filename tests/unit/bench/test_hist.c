/* SPDX-License-Identifier: MIT
 * ringbench's histogram and workload generators. No EAL, no network. */
#include <math.h>
#include <string.h>

#include "hist.h"
#include "rc_cunit.h"
#include "workload.h"

static void test_quantiles_within_error(void)
{
	struct rb_hist h;

	rb_hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		rb_hist_record(&h, v * 1000); /* 1 us .. 100 ms in ns */
	CU_ASSERT_EQUAL(h.count, 100000);
	CU_ASSERT_EQUAL(h.max, 100000000);
	CU_ASSERT_EQUAL(h.min, 1000);
	double q[] = {0.5, 0.9, 0.99, 0.999};
	for (int i = 0; i < 4; i++) {
		double want = q[i] * 100000 * 1000, got = (double)rb_hist_quantile(&h, q[i]);

		CU_ASSERT(fabs(got - want) / want < 1.0 / RB_HIST_SUB + 1e-3);
	}
	CU_ASSERT_EQUAL(rb_hist_quantile(&h, 1.0), h.max);
}

static void test_small_values_exact_and_merge(void)
{
	struct rb_hist a, b;

	rb_hist_init(&a);
	rb_hist_init(&b);
	for (uint64_t v = 0; v < RB_HIST_SUB; v++)
		rb_hist_record(&a, v);
	CU_ASSERT_EQUAL(rb_hist_quantile(&a, 0.5), RB_HIST_SUB / 2 - 1);
	rb_hist_record(&b, 1ull << 50); /* beyond the range: clamped, not lost */
	rb_hist_merge(&a, &b);
	CU_ASSERT_EQUAL(a.count, RB_HIST_SUB + 1);
	CU_ASSERT_EQUAL(rb_hist_quantile(&a, 1.0), 1ull << 50);
	rb_hist_init(&b);
	CU_ASSERT_EQUAL(rb_hist_quantile(&b, 0.99), 0);
}

static void test_zipf_skew(void)
{
	struct rb_zipf z;
	uint64_t seed = 7, top = 0, n = 200000;

	rb_zipf_init(&z, 100000, 0.99);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = rb_zipf_next(&z, rb_uniform(&seed));

		CU_ASSERT_FATAL(k < 100000);
		if (k < 100)
			top++;
	}
	/* Zipf 0.99 over 100k keys: the top 100 draw about 40% of requests. */
	CU_ASSERT(top > n * 30 / 100 && top < n * 50 / 100);
}

static void test_keys_and_classes(void)
{
	char k[64];
	uint64_t seed = 3, cnt[5] = {0};

	CU_ASSERT_EQUAL(rb_key(k, 16, 42), 16);
	CU_ASSERT_EQUAL(memcmp(k, "k:00000000000042", 16), 0);
	for (int i = 0; i < 100000; i++)
		cnt[rb_pick_class(&seed)]++;
	for (int c = 0; c < 5; c++)
		CU_ASSERT(fabs((double)cnt[c] / 100000 - rb_class_share[c]) < 0.01);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"quantiles within error", test_quantiles_within_error},
		{"small values exact, merge, clamp", test_small_values_exact_and_merge},
		{"zipf skew", test_zipf_skew},
		{"keys and class mix", test_keys_and_classes},
		{NULL, NULL},
	};

	return rc_test_run("ringbench", cases);
}
