/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "rc_hist.h"

uint64_t rc_hist_bucket_lo(unsigned i)
{
	unsigned e;

	if (i < RC_HIST_SUB)
		return i;
	e = i / RC_HIST_SUB + RC_HIST_SUB_BITS - 1;
	return (uint64_t)(RC_HIST_SUB + i % RC_HIST_SUB)
	       << (e - RC_HIST_SUB_BITS);
}

uint64_t rc_hist_bucket_hi(unsigned i)
{
	if (i + 1 >= RC_HIST_BUCKETS)
		return UINT64_MAX;
	return rc_hist_bucket_lo(i + 1);
}

void rc_hist_merge(struct rc_hist *dst, const struct rc_hist *src)
{
	const volatile struct rc_hist *s = src;
	uint64_t mx = s->max_ns;

	dst->count += s->count;
	dst->sum_ns += s->sum_ns;
	if (mx > dst->max_ns)
		dst->max_ns = mx;
	for (unsigned i = 0; i < RC_HIST_BUCKETS; i++)
		dst->b[i] += s->b[i];
}

void rc_hist_diff(struct rc_hist *dst, const struct rc_hist *a,
		  const struct rc_hist *b)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < RC_HIST_BUCKETS; i++) {
		dst->b[i] = a->b[i] >= b->b[i] ? a->b[i] - b->b[i] : 0;
		n += dst->b[i];
	}
	/* count from the buckets: the owner may have bumped count and not
	 * yet the bucket when a was read. */
	dst->count = n;
	dst->sum_ns = a->sum_ns >= b->sum_ns ? a->sum_ns - b->sum_ns : 0;
	/* The window's max: exact when the all-time max rose in it, else
	 * the top of its highest bucket (within 6.25%), never a spike from
	 * before the window. */
	dst->max_ns = 0;
	if (n == 0)
		return;
	if (a->max_ns > b->max_ns) {
		dst->max_ns = a->max_ns;
		return;
	}
	for (unsigned i = RC_HIST_BUCKETS; i-- > 0;)
		if (dst->b[i]) {
			uint64_t hi = rc_hist_bucket_hi(i) - 1;

			dst->max_ns = hi < a->max_ns ? hi : a->max_ns;
			break;
		}
}

uint64_t rc_hist_quantile(const struct rc_hist *h, double q)
{
	uint64_t n = 0, rank, seen = 0;

	for (unsigned i = 0; i < RC_HIST_BUCKETS; i++)
		n += h->b[i];
	if (n == 0)
		return 0;
	if (q <= 0)
		q = 0;
	if (q >= 1)
		q = 1;
	/* The rank-th smallest observation, 1-based, nearest-rank. */
	rank = (uint64_t)(q * (double)n + 0.999999999);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < RC_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t hi = rc_hist_bucket_hi(i) - 1;

			return h->max_ns && hi > h->max_ns ? h->max_ns : hi;
		}
	}
	return h->max_ns;
}

uint64_t rc_hist_edge_at_most(uint64_t ns)
{
	/* Bucket i's lower edge is bucket i-1's upper one: buckets below
	 * it hold values <= edge - 1. */
	return rc_hist_bucket_lo(rc_hist_index(ns + 1)) - 1;
}

uint64_t rc_hist_count_le(const struct rc_hist *h, uint64_t ns)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < RC_HIST_BUCKETS; i++) {
		if (rc_hist_bucket_hi(i) > ns + 1)
			break;
		n += h->b[i];
	}
	return n;
}
