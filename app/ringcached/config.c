/* SPDX-License-Identifier: MIT
 * The one table of ringcached's options. It feeds the config parser, the
 * --set overrides, --help and config/ringcache.conf (--print-config). */
#include <stddef.h>

#include "config.h"
#include "rc_proto.h"

#define OPT(sec, nm, ty, def, lo, hi, field, d)                              \
	{ .section = sec, .name = nm, .type = ty, .defval = def, .min = lo,  \
	  .max = hi, .offset = offsetof(struct rcd_config, field), .desc = d }

const struct rc_opt rcd_options[] = {
	OPT("node", "ip", RC_OPT_IPV4, "198.18.0.2", 0, 0, ip,
	    "IPv4 address the node answers on (ARP, ICMP echo, UDP)"),
	OPT("node", "base_port", RC_OPT_UINT, "7711", 1, 65535 - 64,
	    base_port,
	    "UDP port of partition 0; partition p listens on base_port + p"),
	OPT("node", "epoch", RC_OPT_UINT, "1", 1, UINT32_MAX, epoch,
	    "Replication epoch reported in every reply header"),
	OPT("node", "stats_file", RC_OPT_STR, "", 0, 0, stats_file,
	    "If set, the control core rewrites this file with all counters "
	    "(\"name value\" lines) every stats_interval_ms"),
	OPT("node", "stats_interval_ms", RC_OPT_UINT, "200", 10, 60000,
	    stats_interval_ms, "How often counters are gathered and written"),

	OPT("dpdk", "eal_args", RC_OPT_STR, "", 0, 0, eal_args,
	    "EAL arguments used when none follow '--' on the command line"),
	OPT("dpdk", "port_id", RC_OPT_UINT, "0", 0, 31, port_id,
	    "DPDK port to serve on"),
	OPT("dpdk", "workers", RC_OPT_UINT, "1", 1, 64, workers,
	    "Worker lcores = NIC queue pairs = partitions (needs that many "
	    "lcores besides the main one)"),
	OPT("dpdk", "rx_desc", RC_OPT_UINT, "1024", 64, 16384, rx_desc,
	    "RX descriptors per queue"),
	OPT("dpdk", "tx_desc", RC_OPT_UINT, "1024", 64, 16384, tx_desc,
	    "TX descriptors per queue"),
	OPT("dpdk", "mbufs", RC_OPT_UINT, "8191", 1023, 1048575, mbufs,
	    "Packet buffers per worker mempool (about 2.3 KB each)"),
	OPT("dpdk", "burst", RC_OPT_UINT, "32", 1, 64, burst,
	    "Packets received and sent per burst"),
	OPT("dpdk", "idle_sleep_us", RC_OPT_UINT, "0", 0, 10000,
	    idle_sleep_us,
	    "Once idle for idle_spin_us, sleep this long between polls (0 = "
	    "pure polling); lowers CPU use on shared machines at some "
	    "latency cost"),
	OPT("dpdk", "idle_spin_us", RC_OPT_UINT, "100", 0, 1000000,
	    idle_spin_us,
	    "With idle_sleep_us set: keep polling this long after the last "
	    "packet before sleeping, so bursts are served at polling latency"),

	OPT("store", "memory", RC_OPT_SIZE, "256M", 1 << 20, 1ull << 40,
	    memory,
	    "Total memory for all partitions: index + items, split evenly"),
	OPT("store", "max_items", RC_OPT_UINT, "1048576", 64, 1ull << 31,
	    max_items, "Total index capacity, split evenly over partitions"),
	OPT("store", "max_key_size", RC_OPT_UINT, "250", 1, RC_PROTO_MAX_KEY,
	    max_key_size, "Longest key accepted, in bytes"),
	OPT("store", "max_value_size", RC_OPT_UINT, "1024", 0, 1178,
	    max_value_size,
	    "Largest value accepted, in bytes (v1: a SET with the longest key "
	    "must fit one 1500-byte-MTU datagram, hence the bound)"),
	OPT("store", "classes", RC_OPT_UINT, "5", 1, 16, classes,
	    "Number of data class ids accepted (0 .. classes-1)"),
};

const size_t rcd_n_options = sizeof(rcd_options) / sizeof(rcd_options[0]);
