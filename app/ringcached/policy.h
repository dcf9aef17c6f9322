/* SPDX-License-Identifier: MIT
 * The request policy of a running node (acl.allow, acl.trusted, the rate
 * limits, the class prefix rules): one rc_policy per worker, built from
 * the config at start and again by a reload, handed over with rc_pub and
 * freed by the control core once the worker has moved past it. The
 * workers never lock: they look for new tables once a loop turn. */
#ifndef RCD_POLICY_H
#define RCD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_policy.h"

struct rcd_config;
struct rcd_node;
struct rcd_worker;

/* Do a and b differ in an option the policy is made of? */
bool rcd_policy_changed(const struct rcd_config *a,
			const struct rcd_config *b);

/* One worker's policy from cfg (its parsed lists and rules), classes
 * from cl, for a node of `workers` workers (each enforces its share of
 * a rate). @return the policy, or NULL when out of memory. */
struct rc_policy *rcd_policy_build(const struct rcd_config *cfg,
				   const struct rc_classes *cl,
				   unsigned workers);

/* Make pol the one w uses: its lists, classes and buckets; the rate
 * counts of the buckets it replaces are kept. Called by the worker
 * itself, or before it runs. */
void rcd_worker_use_policy(struct rcd_worker *w, struct rc_policy *pol);

/* A reload, step one: check nc's policy against the running node and
 * build one per worker into staged[] (nothing is published).
 * @return 0; -EINVAL when a prefix rule names a class the running node
 *         does not have; -EBUSY when a worker has not yet taken the last
 *         reload; -ENOMEM. err says which. */
int rcd_policy_stage(const struct rcd_node *nd, const struct rcd_config *nc,
		     struct rc_policy **staged, char *err, size_t errlen);

/* Step two (cannot fail after a stage): hand staged[] to the workers
 * and make nd->cfg's parsed forms those of nc. */
void rcd_policy_publish(struct rcd_node *nd, const struct rcd_config *nc,
			struct rc_policy **staged);

/* The control core, every turn: free what the workers moved past.
 * @return once every worker has taken the last reload's tables: the ns
 *         that took (once per reload, at least 1); else 0. */
uint64_t rcd_policy_reclaim(struct rcd_node *nd);

/* At exit, the worker stopped: free its policies. */
void rcd_policy_teardown(struct rcd_worker *w);

#endif
