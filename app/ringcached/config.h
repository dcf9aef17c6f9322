/* SPDX-License-Identifier: MIT
 * ringcached's configuration: one struct, one option table (config.c). */
#ifndef RCD_CONFIG_H
#define RCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_opt.h"

struct rcd_config {
	/* [node] */
	uint32_t ip;                 /* network order */
	uint64_t base_port;
	uint64_t epoch;
	char stats_file[RC_OPT_STR_MAX];
	uint64_t stats_interval_ms;
	/* [dpdk] */
	char eal_args[RC_OPT_STR_MAX];
	uint64_t port_id;
	uint64_t workers;
	uint64_t rx_desc, tx_desc;
	uint64_t mbufs;
	uint64_t burst;
	uint64_t idle_sleep_us;
	uint64_t idle_spin_us;
	/* [store] */
	uint64_t memory;
	uint64_t max_items;
	uint64_t max_key_size;
	uint64_t max_value_size;
	uint64_t classes;
};

extern const struct rc_opt rcd_options[];
extern const size_t rcd_n_options;

#endif
