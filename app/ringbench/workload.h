/* SPDX-License-Identifier: MIT
 * ringbench workload: which key, which operation, which class, when. */
#ifndef RB_WORKLOAD_H
#define RB_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

struct rb_zipf {
	uint64_t n;
	double theta, alpha, zetan, eta, half_pow_theta;
};

/* YCSB's Zipfian generator (Gray et al., "Quickly generating billion-
 * record synthetic databases"): theta in (0,1), rank 0 the most popular. */
void rb_zipf_init(struct rb_zipf *z, uint64_t n, double theta);
uint64_t rb_zipf_next(const struct rb_zipf *z, double u);

static inline uint64_t rb_rand(uint64_t *s)
{
	/* splitmix64: fast, seedable, good enough for load generation */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline double rb_uniform(uint64_t *s)
{
	return (double)(rb_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Default class mix, in ringcache class ids 0..4: the platform's shares. */
extern const double rb_class_share[5];
uint8_t rb_pick_class(uint64_t *s);

/* Key number k as key_size bytes; returns the length written. */
size_t rb_key(char *buf, size_t key_size, uint64_t k);

#endif
