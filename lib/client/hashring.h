/* SPDX-License-Identifier: MIT
 * Consistent hashing of keys over nodes (private to libringcache). */
#ifndef RC_HASHRING_H
#define RC_HASHRING_H

#include <stddef.h>
#include <stdint.h>

/* Points on the ring per node: enough that shares stay within a few
 * percent of even, few enough that the ring stays in cache. */
#define RC_HASHRING_POINTS 160

struct rc_hashring_point {
	uint32_t hash;
	uint32_t node;
};

struct rc_hashring {
	struct rc_hashring_point *points;
	size_t n;
};

/* names[i] identifies node i (its "ip:port"): the ring depends only on
 * the names, so adding a node moves only keys that land on its points.
 * @return 0 or -1 on allocation failure. */
int rc_hashring_build(struct rc_hashring *r, const char *const *names,
		      size_t n_nodes);
void rc_hashring_free(struct rc_hashring *r);

/* Node owning position h: the first point at or after h, wrapping. */
uint32_t rc_hashring_lookup(const struct rc_hashring *r, uint32_t h);

#endif
