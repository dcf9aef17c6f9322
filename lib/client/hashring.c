/* SPDX-License-Identifier: MIT
 * Ketama-style ring: each node hashed at RC_HASHRING_POINTS positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "hashring.h"

static int cmp_point(const void *a, const void *b)
{
	const struct rc_hashring_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

int rc_hashring_build(struct rc_hashring *r, const char *const *names,
		      size_t n_nodes)
{
	size_t k = 0;

	r->n = n_nodes * RC_HASHRING_POINTS;
	r->points = calloc(r->n ? r->n : 1, sizeof(*r->points));
	if (!r->points)
		return -1;
	for (size_t i = 0; i < n_nodes; i++) {
		for (unsigned p = 0; p < RC_HASHRING_POINTS; p++) {
			char buf[128];
			int len = snprintf(buf, sizeof(buf), "%s#%u", names[i], p);

			r->points[k].hash =
				(uint32_t)XXH64(buf, (size_t)len, 0x72637269ull);
			r->points[k].node = (uint32_t)i;
			k++;
		}
	}
	qsort(r->points, r->n, sizeof(*r->points), cmp_point);
	return 0;
}

void rc_hashring_free(struct rc_hashring *r)
{
	free(r->points);
	r->points = NULL;
	r->n = 0;
}

uint32_t rc_hashring_lookup(const struct rc_hashring *r, uint32_t h)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->points[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return r->points[lo == r->n ? 0 : lo].node;
}
