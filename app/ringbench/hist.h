/* SPDX-License-Identifier: MIT
 * Log-linear latency histogram: 2^SUB_BITS sub-buckets per power of two,
 * so every recorded value is kept within 1/2^SUB_BITS (~1.6%) relative
 * error, from 1 ns to about 1 hour, in a few KB. */
#ifndef RB_HIST_H
#define RB_HIST_H

#include <stdint.h>

#define RB_HIST_SUB_BITS 6
#define RB_HIST_SUB (1u << RB_HIST_SUB_BITS)
#define RB_HIST_BUCKETS ((42 - RB_HIST_SUB_BITS + 1) * RB_HIST_SUB)

struct rb_hist {
	uint64_t count, sum, max, min;
	uint64_t b[RB_HIST_BUCKETS];
};

void rb_hist_init(struct rb_hist *h);
void rb_hist_record(struct rb_hist *h, uint64_t v);
void rb_hist_merge(struct rb_hist *dst, const struct rb_hist *src);
/* Value at quantile q (0..1): the upper edge of its bucket, capped by max. */
uint64_t rb_hist_quantile(const struct rb_hist *h, double q);

#endif
