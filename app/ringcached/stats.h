/* SPDX-License-Identifier: MIT
 * Control-core side of the counters: add up the workers' per-core fields
 * and publish them. */
#ifndef RCD_STATS_H
#define RCD_STATS_H

#include <stdio.h>

#include "worker.h"

/* Sum of all workers' counters. */
void rcd_stats_sum(struct rcd_worker *const *w, unsigned n,
		   struct rcd_worker_stats *sum);

/* Write every counter as "name value" lines. */
void rcd_stats_print(const struct rcd_worker_stats *s,
		     const struct rc_classes *cl, uint16_t port_id, FILE *f);

/* Atomically replace path with the current counters.
 * @return 0 or -errno. */
int rcd_stats_write_file(struct rcd_worker *const *w, unsigned n,
			 const struct rc_classes *cl, uint16_t port_id,
			 const char *path);

#endif
