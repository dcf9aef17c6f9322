/* SPDX-License-Identifier: MIT
 * Building the workers' request policies and handing new ones over on a
 * reload (policy.h). The control core is the only writer of every rc_pub;
 * each worker the only reader of its own. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>

#include "config.h"
#include "node.h"
#include "policy.h"
#include "worker.h"

bool rcd_policy_changed(const struct rcd_config *a,
			const struct rcd_config *b)
{
	return strcmp(a->allow, b->allow) || strcmp(a->trusted, b->trusted) ||
	       strcmp(a->rate_limits, b->rate_limits) ||
	       a->rate_network_prefix != b->rate_network_prefix ||
	       a->rate_max_networks != b->rate_max_networks ||
	       strcmp(a->class_prefixes, b->class_prefixes) ||
	       strcmp(a->default_class, b->default_class);
}

struct rc_policy *rcd_policy_build(const struct rcd_config *cfg,
				   const struct rc_classes *cl,
				   unsigned workers)
{
	struct rc_policy_config pc = {
		.allow = &cfg->allow_l,
		.trusted = &cfg->trusted_l,
		.rate = &cfg->rate_l,
		.cl = cl,
		.network_prefix = (unsigned)cfg->rate_network_prefix,
		.max_networks = (unsigned)cfg->rate_max_networks,
		.share = workers,
		.hz = rte_get_tsc_hz(),
	};

	return rc_policy_create(&pc);
}

void rcd_worker_use_policy(struct rcd_worker *w, struct rc_policy *pol)
{
	/* Counters are cumulative: the replaced buckets' counts stay. */
	if (w->pol && w->pol->rl) {
		struct rc_ratelimit_stats st;

		rc_ratelimit_get_stats(w->pol->rl, &st);
		rc_ratelimit_stats_add(&w->rate_base, &st);
	}
	w->pol = pol;
	w->allow = &pol->allow;
	w->trusted = &pol->trusted;
	w->p.classes = &pol->cl;
	w->p.rl = pol->rl;
}

static void release(void *obj, void *arg)
{
	(void)arg;
	rc_policy_destroy(obj);
}

int rcd_policy_stage(const struct rcd_node *nd, const struct rcd_config *nc,
		     struct rc_policy **staged, char *err, size_t errlen)
{
	const struct rcd_config *run = &nd->cfg;
	struct rc_classes rules, cl;
	char e2[512];

	/* Prefix rules name classes: read them against the classes the
	 * node runs with (ids, shares and names change only at a
	 * restart), and keep those classes' shares (ringctl quota). */
	if (rc_classes_parse(&rules, run->classes, nc->class_prefixes,
			     nc->default_class, e2, sizeof(e2)) != 0) {
		snprintf(err, errlen, "store.class_prefixes or "
			 "store.default_class against the running "
			 "store.classes (which only a restart changes): %s",
			 e2);
		return -EINVAL;
	}
	cl = run->cl;
	cl.n_rules = rules.n_rules;
	memcpy(cl.r, rules.r, sizeof(cl.r));
	cl.default_class = rules.default_class;
	for (unsigned i = 0; i < nd->n_workers; i++)
		if (!rc_pub_room(&nd->workers[i]->pub)) {
			snprintf(err, errlen, "worker %u has not taken the "
				 "last %u reloads yet (is it stuck?)", i,
				 RC_PUB_RETIRED);
			return -EBUSY;
		}
	for (unsigned i = 0; i < nd->n_workers; i++) {
		staged[i] = rcd_policy_build(nc, &cl, nd->n_workers);
		if (!staged[i]) {
			while (i--)
				rc_policy_destroy(staged[i]);
			snprintf(err, errlen, "out of memory for the new "
				 "ACL and class tables");
			return -ENOMEM;
		}
	}
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void rcd_policy_publish(struct rcd_node *nd, const struct rcd_config *nc,
			struct rc_policy **staged)
{
	struct rcd_config *run = &nd->cfg;

	for (unsigned i = 0; i < nd->n_workers; i++)
		rc_pub_publish(&nd->workers[i]->pub, staged[i]); /* room: staged */
	run->allow_l = nc->allow_l;
	run->trusted_l = nc->trusted_l;
	run->rate_l = nc->rate_l;
	/* Names and shares stay (another thread prints them): only the
	 * rules change. */
	run->cl.n_rules = staged[0]->cl.n_rules;
	memcpy(run->cl.r, staged[0]->cl.r, sizeof(run->cl.r));
	run->cl.default_class = staged[0]->cl.default_class;
	nd->policy_published_ns = mono_ns();
}

uint64_t rcd_policy_reclaim(struct rcd_node *nd)
{
	bool settled = true;
	uint64_t ns;

	for (unsigned i = 0; i < nd->n_workers; i++) {
		struct rc_pub *p = &nd->workers[i]->pub;

		rc_pub_reclaim(p, release, NULL);
		settled = settled && rc_pub_settled(p);
	}
	if (!settled || !nd->policy_published_ns)
		return 0;
	ns = mono_ns() - nd->policy_published_ns;
	nd->policy_published_ns = 0;
	return ns ? ns : 1;
}

void rcd_policy_teardown(struct rcd_worker *w)
{
	if (w->pol)
		rc_pub_teardown(&w->pub, release, NULL);
	w->pol = NULL;
}
