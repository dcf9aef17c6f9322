/* SPDX-License-Identifier: MIT
 * ringcached's configuration: one struct, one option table (config.c). */
#ifndef RCD_CONFIG_H
#define RCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rc_classes.h"
#include "rc_guard.h"
#include "rc_opt.h"
#include "rc_sched.h"

struct rcd_config {
	/* [node] */
	uint32_t ip;                 /* network order */
	uint64_t base_port;
	uint64_t epoch;
	char stats_file[RC_OPT_STR_MAX];
	uint64_t stats_interval_ms;
	char log_level[RC_OPT_STR_MAX];
	uint32_t log_level_n;        /* parsed: RTE_LOG_ERR .. RTE_LOG_DEBUG */
	/* [dpdk] */
	char eal_args[RC_OPT_STR_MAX];
	uint64_t port_id;
	uint64_t workers;
	uint64_t rx_desc, tx_desc;
	uint64_t mbufs;
	uint64_t burst;
	uint64_t idle_sleep_us;
	uint64_t idle_spin_us;
	bool io_only;
	uint64_t test_command_delay_ms;
	/* [store] */
	uint64_t memory;
	uint64_t max_items;
	uint64_t max_key_size;
	uint64_t max_value_size;
	uint64_t memory_cap;
	uint64_t segment_size;
	char eviction[RC_OPT_STR_MAX];
	char save_file[RC_OPT_STR_MAX];  /* warm restart (warm.c) */
	char udp_checksum[RC_OPT_STR_MAX];
	char classes[RC_OPT_STR_MAX];
	char class_prefixes[RC_OPT_STR_MAX];
	char default_class[RC_OPT_STR_MAX];
	bool borrowing;
	struct rc_classes cl;        /* parsed from the three strings above */
	/* [acl] */
	char allow[RC_OPT_STR_MAX];
	char trusted[RC_OPT_STR_MAX];
	char rate_limits[RC_OPT_STR_MAX];
	uint64_t rate_network_prefix;
	uint64_t rate_max_networks;
	struct rc_cidr_list allow_l, trusted_l; /* parsed */
	struct rc_rate_rules rate_l;
	/* [control] */
	char ctl_socket[RC_OPT_STR_MAX];
	char ctl_socket_mode[RC_OPT_STR_MAX];
	char ctl_socket_group[RC_OPT_STR_MAX];
	uint64_t ctl_max_clients, ctl_idle_timeout_s;
	uint64_t ctl_max_line;
	char metrics_listen[RC_OPT_STR_MAX];
	bool test_clock;
	/* [scaling] */
	char timezone[RC_OPT_STR_MAX];
	char rules[RC_OPT_STR_MAX];
	double max_factor;
	double util_high, util_low, util_step;
	uint64_t scaling_interval_s;
	struct rc_sched sched;       /* parsed rules */
	/* [protect] */
	bool read_only;
	bool serve_stale;
	uint64_t stale_grace_s;
	/* [alerts] */
	char alert_latency[RC_OPT_STR_MAX];
	char alert_hit_rate[RC_OPT_STR_MAX];
	char alert_memory[RC_OPT_STR_MAX];
	uint64_t alert_window_s;
	uint64_t alert_clear_after_s;
	double alert_margin_pct;
	uint64_t alert_min_gets;
	char alert_hook[RC_OPT_STR_MAX];
	double alert_thr[3][3];      /* parsed: latency ms, hit %, memory % */
	/* [reassembly] */
	char repl_role[RC_OPT_STR_MAX];
	char repl_listen[RC_OPT_STR_MAX];
	char repl_peer[RC_OPT_STR_MAX];
	uint32_t repl_peer_data_ip;  /* network order */
	uint64_t repl_hb_port;
	uint64_t repl_heartbeat_ms, repl_failover_ms, repl_join_ms;
	uint64_t repl_log_size, repl_backlog, repl_durable_ms;
	char repl_state_file[RC_OPT_STR_MAX];
	uint32_t repl_vip;           /* network order */
	char repl_key_file[RC_OPT_STR_MAX];
	char repl_key_file_next[RC_OPT_STR_MAX];
	bool repl_insecure;
	uint64_t repl_auth_window_ms;

	uint64_t reasm_entries;
	uint64_t reasm_bytes;
	uint64_t reasm_src_entries, reasm_src_bytes;
	uint64_t reasm_timeout_ms;
};

/* After all options are set: cross-checks and class parsing.
 * @return 0, or -EINVAL with err saying what is wrong. */
int rcd_config_finish(struct rcd_config *cfg, char *err, size_t errlen);

/* The runtime subset of rcd_config_finish (after a reload). */
int rcd_config_finish_runtime(struct rcd_config *cfg, char *err,
			      size_t errlen);

/* control.socket_group as a gid (a name or a number).
 * @return the gid, or (gid_t)-1 if there is no such group. */
gid_t rcd_socket_gid(const char *group);

/* node.log_level's name as an RTE_LOG_* level; 0 if unknown. */
uint32_t rcd_log_level(const char *name);

/* store.memory_cap, its default resolved. */
uint64_t rcd_memory_cap(const struct rcd_config *cfg);

/* The [repl] section holds together. @return 0, or -1 with err set. */
int rcd_repl_config_check(const struct rcd_config *cfg, char *err,
			  size_t errlen);

/* The store settings of one partition. name is kept, not copied. */
struct rc_store_config;
void rcd_store_config(const struct rcd_config *cfg, const char *name,
		      int socket, struct rc_store_config *sc);

/* Set worker w (partition id) up from the config: limits, classes, ACL,
 * clocks, its rate buckets and reassembly state. The caller provides the
 * store, pool, rings, port and interface. @return 0 or -ENOMEM. */
struct rcd_worker;
int rcd_worker_configure(struct rcd_worker *w, const struct rcd_config *cfg,
			 unsigned id);

extern const struct rc_opt rcd_options[];
extern const size_t rcd_n_options;

#endif
