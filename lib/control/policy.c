/* SPDX-License-Identifier: MIT
 * A worker's replaceable request policy: copies of the parsed lists and
 * rules, and rate buckets that read the copy, so that the policy owns
 * everything it points to. */
#include <stdlib.h>

#include "rc_policy.h"

struct rc_policy *rc_policy_create(const struct rc_policy_config *c)
{
	struct rc_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->allow = *c->allow;
	p->trusted = *c->trusted;
	p->rate = *c->rate;
	p->cl = *c->cl;
	if (p->rate.n) {
		struct rc_ratelimit_config lc = {
			.rules = &p->rate,
			.network_prefix = c->network_prefix,
			.max_networks = c->max_networks,
			.share = c->share,
			.hz = c->hz,
		};

		p->rl = rc_ratelimit_create(&lc);
		if (!p->rl) {
			free(p);
			return NULL;
		}
	}
	return p;
}

void rc_policy_destroy(struct rc_policy *p)
{
	if (!p)
		return;
	rc_ratelimit_destroy(p->rl);
	free(p);
}
