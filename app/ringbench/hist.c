/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "hist.h"

void rb_hist_init(struct rb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* Values below 2^SUB_BITS map 1:1; above, by exponent and top bits. */
static unsigned bucket_of(uint64_t v)
{
	unsigned e, idx;

	if (v < RB_HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
	idx = (e - RB_HIST_SUB_BITS + 1) * RB_HIST_SUB +
	      (unsigned)((v >> (e - RB_HIST_SUB_BITS)) & (RB_HIST_SUB - 1));
	return idx < RB_HIST_BUCKETS ? idx : RB_HIST_BUCKETS - 1;
}

static uint64_t bucket_top(unsigned i)
{
	unsigned e, sub;

	if (i < RB_HIST_SUB)
		return i;
	e = i / RB_HIST_SUB + RB_HIST_SUB_BITS - 1;
	sub = i % RB_HIST_SUB;
	return ((uint64_t)(RB_HIST_SUB + sub + 1) << (e - RB_HIST_SUB_BITS)) - 1;
}

void rb_hist_record(struct rb_hist *h, uint64_t v)
{
	h->b[bucket_of(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

void rb_hist_merge(struct rb_hist *dst, const struct rb_hist *src)
{
	for (unsigned i = 0; i < RB_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min < dst->min)
		dst->min = src->min;
}

uint64_t rb_hist_quantile(const struct rb_hist *h, double q)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	want = (uint64_t)(q * (double)h->count + 0.5);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < RB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			/* The last bucket also holds clamped outliers. */
			uint64_t top = i == RB_HIST_BUCKETS - 1 ? h->max
								: bucket_top(i);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
