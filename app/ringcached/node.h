/* SPDX-License-Identifier: MIT
 * A running node as main.c builds it and the control core drives it. */
#ifndef RCD_NODE_H
#define RCD_NODE_H

#include <rte_lcore.h>

#include "config.h"
#include "worker.h"

struct rcd_repl;

struct rcd_node {
	struct rcd_config cfg;
	const char *config_path;     /* for reload; NULL: defaults only */
	const char *const *sets;     /* --set overrides, re-applied */
	unsigned n_sets;
	struct rc_net_iface ifc;
	unsigned n_workers;
	struct rcd_worker *workers[RTE_MAX_LCORE];
	struct rte_mempool *pools[RTE_MAX_LCORE];
	struct rte_ring *inboxes[RTE_MAX_LCORE];
	struct rte_ring *cmdqs[RTE_MAX_LCORE];
	int port_up;
	int steered;                 /* rte_flow rules installed */
	struct rcd_repl *repl;       /* replication (role standalone: off) */
	volatile int *quit;
	volatile int *reload;        /* SIGHUP: reload at the next turn */
	uint64_t policy_published_ns; /* CLOCK_MONOTONIC of a reload's new
				      * tables until every worker took them
				      * (0: all did; policy.c) */
};

/* Load the config as at start-up (file, then --set overrides) into cfg.
 * @return 0, or -errno with err saying why. */
int rcd_node_load_config(const char *path, const char *const *sets,
			 unsigned n_sets, struct rcd_config *cfg, char *err,
			 size_t errlen);

/* The control core: runs on the main lcore until *nd->quit. */
int rcd_control_run(struct rcd_node *nd);

#endif
