/* SPDX-License-Identifier: MIT
 * Log-linear latency histograms: 16 linear sub-buckets per power of two
 * (relative error under 6.25%), nanoseconds from 0 to ~8.6 s (larger
 * values land in the last bucket). One writer adds; any thread may read
 * the counters (plain 64-bit words) and merge or subtract snapshots, which
 * is how the control core builds sliding windows. No DPDK here. */
#ifndef RC_HIST_H
#define RC_HIST_H

#include <stddef.h>
#include <stdint.h>

#define RC_HIST_SUB_BITS 4u
#define RC_HIST_SUB (1u << RC_HIST_SUB_BITS)
#define RC_HIST_MAX_EXP 33u /* values >= 2^34 ns are clamped */
#define RC_HIST_BUCKETS ((RC_HIST_MAX_EXP - RC_HIST_SUB_BITS + 2) * RC_HIST_SUB)

struct rc_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;             /* since creation; in a diff, the window's */
	uint64_t b[RC_HIST_BUCKETS];
};

static inline unsigned rc_hist_index(uint64_t ns)
{
	unsigned e;

	if (ns < RC_HIST_SUB)
		return (unsigned)ns;
	e = 63u - (unsigned)__builtin_clzll(ns);
	if (e > RC_HIST_MAX_EXP)
		return RC_HIST_BUCKETS - 1;
	return (e - RC_HIST_SUB_BITS + 1) * RC_HIST_SUB +
	       (unsigned)((ns >> (e - RC_HIST_SUB_BITS)) & (RC_HIST_SUB - 1));
}

static inline void rc_hist_add(struct rc_hist *h, uint64_t ns)
{
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->b[rc_hist_index(ns)]++;
}

/* Smallest and one-past-largest value of bucket i, in ns. */
uint64_t rc_hist_bucket_lo(unsigned i);
uint64_t rc_hist_bucket_hi(unsigned i);

/* dst += src (max: the larger). src may be written concurrently by its
 * owner: each word is read once. */
void rc_hist_merge(struct rc_hist *dst, const struct rc_hist *src);

/* dst = a - b, for b an earlier snapshot of a: the window between them.
 * Its max_ns is the window's: a's when a's max rose after b, else the
 * upper edge of the highest non-empty bucket (capped by a's max). */
void rc_hist_diff(struct rc_hist *dst, const struct rc_hist *a,
		  const struct rc_hist *b);

/* The value at quantile q (0..1): the upper edge of the bucket holding
 * it, capped by max_ns. 0 for an empty histogram. */
uint64_t rc_hist_quantile(const struct rc_hist *h, double q);

/* Observations <= ns, counting whole buckets only: exact when ns comes
 * from rc_hist_edge_at_most. */
uint64_t rc_hist_count_le(const struct rc_hist *h, uint64_t ns);

/* The largest bound <= ns that falls on a bucket boundary (every bucket
 * is wholly below or above it): an exact Prometheus "le". */
uint64_t rc_hist_edge_at_most(uint64_t ns);

#endif
