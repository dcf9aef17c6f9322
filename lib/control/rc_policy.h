/* SPDX-License-Identifier: MIT
 * The tables a worker consults for every request that a config reload
 * may replace: who is served (acl.allow), who may get replies larger than
 * its requests (acl.trusted), how fast each client network may go
 * (acl.rate_limits and this worker's token buckets) and which class a key
 * without one gets (the prefix rules of rc_classes).
 *
 * One object per worker, built whole from parsed config and never changed
 * after, except the buckets, which only the owning worker touches; a
 * reload builds new ones and hands them over with rc_pub. Everything is
 * copied in, so the object outlives the config it came from. No DPDK. */
#ifndef RC_POLICY_H
#define RC_POLICY_H

#include <stdint.h>

#include "rc_classes.h"
#include "rc_guard.h"

struct rc_policy {
	struct rc_cidr_list allow, trusted;
	struct rc_rate_rules rate;
	struct rc_classes cl;
	struct rc_ratelimit *rl;     /* NULL: no rate rules */
};

struct rc_policy_config {
	const struct rc_cidr_list *allow, *trusted;
	const struct rc_rate_rules *rate;
	const struct rc_classes *cl;
	unsigned network_prefix;     /* as rc_ratelimit_config */
	unsigned max_networks;
	unsigned share;
	uint64_t hz;
};

/* @return a new policy, or NULL when out of memory or c is invalid
 *         (a network prefix over 32, no clock rate). */
struct rc_policy *rc_policy_create(const struct rc_policy_config *c);

void rc_policy_destroy(struct rc_policy *p);

#endif
