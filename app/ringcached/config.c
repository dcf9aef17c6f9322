/* SPDX-License-Identifier: MIT
 * The one table of ringcached's options. It feeds the config parser, the
 * --set overrides, --help and config/ringcache.conf (--print-config). */
#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rc_alert.h"

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_log.h>

#include "config.h"
#include "policy.h"
#include "worker.h"
#include "rc_proto.h"
#include "rc_store.h"

#define OPT(sec, nm, ty, def, lo, hi, field, d)                              \
	{ .section = sec, .name = nm, .type = ty, .defval = def, .min = lo,  \
	  .max = hi, .offset = offsetof(struct rcd_config, field), .desc = d }

/* Changeable on a running node by `ringctl config reload`. */
#define ORT(sec, nm, ty, def, lo, hi, field, d)                              \
	{ .section = sec, .name = nm, .type = ty, .defval = def, .min = lo,  \
	  .max = hi, .offset = offsetof(struct rcd_config, field), .desc = d, \
	  .runtime = true }
#define ODBL(sec, nm, def, lo, hi, field, d)                                 \
	{ .section = sec, .name = nm, .type = RC_OPT_DOUBLE, .defval = def,  \
	  .dmin = lo, .dmax = hi,                                            \
	  .offset = offsetof(struct rcd_config, field), .desc = d,           \
	  .runtime = true }

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
	ORT("node", "stats_interval_ms", RC_OPT_UINT, "200", 10, 60000,
	    stats_interval_ms, "How often counters are gathered and written"),
	ORT("node", "log_level", RC_OPT_STR, "info", 0, 0, log_level,
	    "ringcached's own log lines at this level and above: error, "
	    "warning, notice, info or debug (reload changes it; EAL's and "
	    "the drivers' levels: --log-level after --)"),

	OPT("dpdk", "eal_args", RC_OPT_STR, "", 0, 0, eal_args,
	    "EAL arguments used when none follow '--' on the command line"),
	OPT("dpdk", "port_id", RC_OPT_UINT, "0", 0, 31, port_id,
	    "DPDK port to serve on"),
	OPT("dpdk", "workers", RC_OPT_UINT, "1", 1, RCD_MAX_WORKERS, workers,
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

	OPT("dpdk", "udp_checksum", RC_OPT_STR, "auto", 0, 0, udp_checksum,
	    "UDP checksums the device does not check itself: verify (in "
	    "software, bad ones dropped as udp_checksum), trust, or auto: "
	    "trust on net_af_packet, net_af_xdp, net_tap, net_memif, net_ring "
	    "and net_null (veth and tap leave a local sender's checksum "
	    "partial), verify on others; a device that checks them is always "
	    "believed"),
	ORT("dpdk", "io_only", RC_OPT_BOOL, "false", 0, 0, io_only,
	    "Benchmark only: answer every request op OK with no value, "
	    "without decoding keys or touching the store (the packet-I/O "
	    "limit, for perf/memif-io-ratio and scripts/load-test; a reload "
	    "switches it, the store kept)"),

	OPT("dpdk", "test_command_delay_ms", RC_OPT_UINT, "0", 0, 600000,
	    test_command_delay_ms,
	    "Tests only: a worker starts each control command (ringctl get, "
	    "del, flush, warm) this long after taking it, as if busy "
	    "elsewhere (0: at once)"),

	OPT("store", "memory", RC_OPT_SIZE, "256M", 1 << 20, 1ull << 40,
	    memory,
	    "Total memory for all partitions: index + items, split evenly"),
	OPT("store", "max_items", RC_OPT_UINT, "1048576", 64, 1ull << 31,
	    max_items, "Total index capacity, split evenly over partitions"),
	OPT("store", "max_key_size", RC_OPT_UINT, "250", 1, RC_PROTO_MAX_KEY,
	    max_key_size, "Longest key accepted, in bytes"),
	OPT("store", "max_value_size", RC_OPT_SIZE, "1M", 0, RC_PROTO_MAX_VALUE,
	    max_value_size,
	    "Largest value accepted; values over one datagram travel in "
	    "segments (an item must fit one store segment)"),
	OPT("store", "memory_cap", RC_OPT_SIZE, "0", 0, 1ull << 40, memory_cap,
	    "Hard cap: the most the multipliers may grow store.memory to "
	    "(set it from the RAM the node can spare); 0 = twice "
	    "store.memory"),
	OPT("store", "segment_size", RC_OPT_SIZE, "2M", 16 << 10, 64 << 20,
	    segment_size,
	    "Items are written in segments of this size (a power of two); "
	    "classes own whole segments and evict one at a time"),
	OPT("store", "eviction", RC_OPT_STR, "clock", 0, 0, eviction,
	    "clock: evicting a segment keeps items read since written (up to "
	    "half a segment); fifo: keeps nothing (for comparison)"),
	OPT("store", "save_file", RC_OPT_STR, "", 0, 0, save_file,
	    "Warm restart: on a clean stop, save every item to this file, "
	    "and load it on the next start (then remove it, so a crash never "
	    "brings back an old copy); empty: off. Not with replication"),
	OPT("store", "classes", RC_OPT_STR,
	    "wedding_data:40:protected, vendor_responses:25, "
	    "guest_interactions:20, photo_thumbnails:10, system_cache:5",
	    0, 0, classes,
	    "Data classes, ids from 0 in this order: name:share%[:protected]; "
	    "each class's budget is its share of store.memory (protected: "
	    "memory it borrowed is taken back from it last)"),
	ORT("store", "class_prefixes", RC_OPT_STR,
	    "wedding_=wedding_data,vendor_=vendor_responses,"
	    "guest_=guest_interactions,rsvp_=guest_interactions,"
	    "thumb_=photo_thumbnails,photo_=photo_thumbnails,sys_=system_cache",
	    0, 0, class_prefixes,
	    "prefix=class rules giving a request without an explicit class "
	    "its class (longest prefix wins); one line of the file holds at "
	    "most 200 bytes"),
	ORT("store", "default_class", RC_OPT_STR, "system_cache", 0, 0,
	    default_class, "Class of keys that no prefix rule matches"),
	OPT("store", "borrowing", RC_OPT_BOOL, "true", 0, 0, borrowing,
	    "A class at its budget may use memory other classes leave idle; "
	    "it is given back (evicted) when they need it"),

	ORT("acl", "allow", RC_OPT_STR,
	    "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 198.18.0.0/15", 0, 0,
	    allow,
	    "Source networks (CIDR list) whose requests are served; others "
	    "are dropped and counted (drop_acl)"),
	ORT("acl", "trusted", RC_OPT_STR, "", 0, 0, trusted,
	    "Source networks that may get replies larger than their "
	    "requests; others must pad requests (UDP amplification guard)"),
	ORT("acl", "rate_limits", RC_OPT_STR, "", 0, 0, rate_limits,
	    "cidr=rate[/burst] rules: operations per second allowed to each "
	    "client network in cidr (burst default rate/10); the most "
	    "specific rule wins; excess is answered THROTTLED"),
	ORT("acl", "rate_network_prefix", RC_OPT_UINT, "24", 0, 32,
	    rate_network_prefix,
	    "A client network for rate_limits is a /this prefix"),
	ORT("acl", "rate_max_networks", RC_OPT_UINT, "4096", 4, 1 << 20,
	    rate_max_networks,
	    "Rate buckets per worker; when full the idlest is reused "
	    "(counted)"),

	OPT("control", "socket", RC_OPT_STR, "/run/ringcache/ringcached.sock",
	    0, 0, ctl_socket,
	    "Unix socket ringctl talks to (a missing directory is made, "
	    "and removed at exit); empty: no control socket"),
	OPT("control", "socket_mode", RC_OPT_STR, "0660", 0, 0,
	    ctl_socket_mode,
	    "Permissions of the socket file (octal): who may run ringctl"),
	OPT("control", "socket_group", RC_OPT_STR, "", 0, 0,
	    ctl_socket_group,
	    "Group (name or number) given the socket file, so its members "
	    "may run ringctl; empty: the daemon's group (under systemd, "
	    "the unit's Group=ringcache)"),
	OPT("control", "max_clients", RC_OPT_UINT, "8", 1, 256,
	    ctl_max_clients,
	    "ringctl connections served at once; more are refused"),
	OPT("control", "idle_timeout_s", RC_OPT_UINT, "30", 0, 86400,
	    ctl_idle_timeout_s,
	    "A control connection quiet this long is closed, and when all "
	    "max_clients are taken one that never sent a request, else the "
	    "quietest, makes room for a new one, so idle clients never lock "
	    "an operator out (0: never); one waiting for a command's answer "
	    "is not quiet"),
	OPT("control", "max_line", RC_OPT_SIZE, "4M", 64 << 10, 256 << 20,
	    ctl_max_line,
	    "Longest request line on the control socket, in bytes; a longer "
	    "one is refused unread (counted: control_refused{reason="
	    "\"too_long\"}). At least twice store.max_value_size plus 4 KiB, "
	    "so one warm record with the largest value fits in hex"),
	OPT("control", "metrics_listen", RC_OPT_STR, "127.0.0.1:9711", 0, 0,
	    metrics_listen,
	    "ADDRESS:PORT of the Prometheus endpoint (/metrics), on the "
	    "management network, never the DPDK port; empty: off"),
	OPT("control", "test_clock", RC_OPT_BOOL, "false", 0, 0, test_clock,
	    "Tests only: lets `ringctl clock set` move the calendar the "
	    "multiplier schedule sees"),

	ORT("scaling", "timezone", RC_OPT_STR, "UTC", 0, 0, timezone,
	    "Time zone the schedule's days and months are read in (a tz "
	    "database name such as Europe/London)"),
	ORT("scaling", "rules", RC_OPT_STR,
	    "wedding_day: sat x2.0 ttl x2.0; season: may-oct x1.5", 0, 0,
	    rules,
	    "Calendar rules 'NAME: WHEN... xF [ttl xT] [stale] [readonly]' "
	    "separated by ';' (docs/operations.md); matching rules multiply"),
	ODBL("scaling", "max_factor", "4.0", 1.0, 100.0, max_factor,
	     "Largest calendar or override multiplier applied"),
	ODBL("scaling", "util_high", "0.70", 0.05, 1.0, util_high,
	     "Utilisation rule: above this fraction of the budget in use, "
	     "grow the budget a step per evaluation (up to store.memory_cap)"),
	ODBL("scaling", "util_low", "0.50", 0.0, 1.0, util_low,
	     "Below this fraction in use, give a growth step back"),
	ODBL("scaling", "util_step", "0.10", 0.01, 1.0, util_step,
	     "Growth step, as a fraction of store.memory"),
	ORT("scaling", "interval_s", RC_OPT_UINT, "10", 1, 3600,
	    scaling_interval_s,
	    "How often the schedule and utilisation are evaluated"),

	ORT("protect", "read_only", RC_OPT_BOOL, "false", 0, 0, read_only,
	    "Answer SET, DELETE and TOUCH with READ_ONLY (ringctl mode "
	    "overrides; a 'readonly' schedule rule also turns it on)"),
	ORT("protect", "serve_stale", RC_OPT_BOOL, "false", 0, 0, serve_stale,
	    "Serve expired items for stale_grace_s more, marked STALE "
	    "(ringctl mode overrides; a 'stale' rule also turns it on)"),
	ORT("protect", "stale_grace_s", RC_OPT_UINT, "300", 1, 86400,
	    stale_grace_s, "How long after expiry an item may be served "
	    "stale"),

	ORT("alerts", "latency_ms", RC_OPT_STR, "0.5, 1.0, 2.0", 0, 0,
	    alert_latency,
	    "p99 service time (ms) over the window for warning, critical, "
	    "emergency"),
	ORT("alerts", "hit_rate", RC_OPT_STR, "95, 90, 85", 0, 0,
	    alert_hit_rate,
	    "GET hit rate (%) over the window below which each level is "
	    "raised"),
	ORT("alerts", "memory", RC_OPT_STR, "70, 85, 95", 0, 0, alert_memory,
	    "Store memory used (% of the current budget) for each level"),
	ORT("alerts", "window_s", RC_OPT_UINT, "10", 1, 10, alert_window_s,
	    "Latency and hit rate are measured over this many seconds"),
	ORT("alerts", "clear_after_s", RC_OPT_UINT, "30", 1, 3600,
	    alert_clear_after_s,
	    "A better level is taken only after holding this long"),
	ODBL("alerts", "margin_pct", "10", 0, 50, alert_margin_pct,
	     "...and only when past its threshold by this much (relative %)"),
	ORT("alerts", "min_gets", RC_OPT_UINT, "100", 1, 1ull << 32,
	    alert_min_gets,
	    "Fewer GETs in the window leave the hit-rate alert where it is"),
	ORT("alerts", "hook", RC_OPT_STR, "", 0, 0, alert_hook,
	    "Command run (sh -c) on every level change, with RC_ALERT, "
	    "RC_ALERT_LEVEL, RC_ALERT_PREVIOUS, RC_ALERT_VALUE in its "
	    "environment"),

	OPT("repl", "role", RC_OPT_STR, "standalone", 0, 0, repl_role,
	    "standalone (no replication), primary or standby: the role this "
	    "node prefers; the pair decides at run time (docs/operations.md)"),
	OPT("repl", "listen", RC_OPT_STR, "", 0, 0, repl_listen,
	    "ADDRESS:PORT of the replication stream, on the management "
	    "network (kernel TCP)"),
	OPT("repl", "peer", RC_OPT_STR, "", 0, 0, repl_peer,
	    "The other node's repl.listen"),
	OPT("repl", "peer_data_ip", RC_OPT_IPV4, "0.0.0.0", 0, 0,
	    repl_peer_data_ip,
	    "The other node's node.ip: heartbeats also travel the data "
	    "network, so a management-link failure alone is no failover "
	    "(0.0.0.0: management heartbeats only)"),
	OPT("repl", "heartbeat_port", RC_OPT_UINT, "7710", 1, 65535,
	    repl_hb_port,
	    "UDP port of data-network heartbeats (outside the service ports)"),
	OPT("repl", "heartbeat_ms", RC_OPT_UINT, "30", 5, 10000,
	    repl_heartbeat_ms, "Heartbeat interval, both ways, both networks"),
	OPT("repl", "failover_ms", RC_OPT_UINT, "150", 20, 600000,
	    repl_failover_ms,
	    "A standby that hears nothing from its primary on either network "
	    "for this long promotes itself"),
	OPT("repl", "join_ms", RC_OPT_UINT, "1000", 20, 600000, repl_join_ms,
	    "A starting node that hears no peer for this long (a node that "
	    "prefers standby: three times this) becomes primary"),
	OPT("repl", "log_size", RC_OPT_SIZE, "32M", 64 << 10, 1ull << 34,
	    repl_log_size,
	    "Per worker: records waiting for the control core (a power of "
	    "two); a full log costs the standby a full resync"),
	OPT("repl", "backlog", RC_OPT_SIZE, "64M", 1 << 20, 1ull << 36,
	    repl_backlog,
	    "Recent batches kept so a standby that reconnects can resume "
	    "instead of taking a full snapshot"),
	OPT("repl", "durable_timeout_ms", RC_OPT_UINT, "100", 1, 60000,
	    repl_durable_ms,
	    "A durable write not confirmed by the standby by then is answered "
	    "NOT_REPLICATED"),
	OPT("repl", "state_file", RC_OPT_STR, "", 0, 0, repl_state_file,
	    "Where the node keeps its epoch across restarts (empty: "
	    "node.epoch at every start)"),
	OPT("repl", "service_ip", RC_OPT_IPV4, "0.0.0.0", 0, 0, repl_vip,
	    "Floating service address: answered (ARP, UDP) by whichever node "
	    "is primary, announced by gratuitous ARP on promotion "
	    "(0.0.0.0: none)"),
	OPT("repl", "key_file", RC_OPT_STR, "", 0, 0, repl_key_file,
	    "The pair's shared secret (32 random bytes or 64 hex characters, "
	    "not readable by group or other): every stream frame and "
	    "heartbeat is authenticated with it"),
	OPT("repl", "key_file_next", RC_OPT_STR, "", 0, 0, repl_key_file_next,
	    "A second key also accepted (never sent with): for rotating the "
	    "key across the pair (docs/operations.md)"),
	OPT("repl", "insecure", RC_OPT_BOOL, "false", 0, 0, repl_insecure,
	    "Replicate without a key: anyone who can reach the management "
	    "network or the heartbeat port can demote or fake the peer"),
	OPT("repl", "auth_window_ms", RC_OPT_UINT, "10000", 100, 3600000,
	    repl_auth_window_ms,
	    "Authenticated frames older or newer than this (wall clock, "
	    "sender against receiver) are refused: the pair's clocks must "
	    "agree to within it"),

	OPT("reassembly", "max_entries", RC_OPT_UINT, "64", 1, 4096,
	    reasm_entries,
	    "Segmented requests being reassembled at once, per worker; past "
	    "that new ones are answered BUSY"),
	OPT("reassembly", "max_bytes", RC_OPT_SIZE, "32M", 64 << 10,
	    1ull << 32, reasm_bytes,
	    "Buffer bytes all reassemblies of one worker may hold"),
	OPT("reassembly", "timeout_ms", RC_OPT_UINT, "500", 10, 60000,
	    reasm_timeout_ms,
	    "An incomplete segmented request is dropped after this long"),
	OPT("reassembly", "max_entries_per_source", RC_OPT_UINT, "8", 1, 4096,
	    reasm_src_entries,
	    "Of those, what one untrusted source address may hold at once "
	    "(past it: BUSY); trusted sources have no share and take the "
	    "room of untrusted ones when the table is full"),
	OPT("reassembly", "max_bytes_per_source", RC_OPT_SIZE, "4M", 2048,
	    1ull << 32, reasm_src_bytes,
	    "Buffer bytes one untrusted source address may hold"),
};

const size_t rcd_n_options = sizeof(rcd_options) / sizeof(rcd_options[0]);

uint64_t rcd_memory_cap(const struct rcd_config *cfg)
{
	return cfg->memory_cap ? cfg->memory_cap : 2 * cfg->memory;
}

/* The options a running node can take again (ringctl config reload):
 * schedule, modes, alerts. */
uint32_t rcd_log_level(const char *name)
{
	static const struct {
		const char *name;
		uint32_t level;
	} levels[] = {
		{"error", RTE_LOG_ERR}, {"warning", RTE_LOG_WARNING},
		{"notice", RTE_LOG_NOTICE}, {"info", RTE_LOG_INFO},
		{"debug", RTE_LOG_DEBUG},
	};

	for (size_t i = 0; i < RTE_DIM(levels); i++)
		if (strcmp(levels[i].name, name) == 0)
			return levels[i].level;
	return 0;
}

int rcd_config_finish_runtime(struct rcd_config *cfg, char *err,
			      size_t errlen)
{
	static const char *const what[3] = {"alerts.latency_ms",
					    "alerts.hit_rate",
					    "alerts.memory"};
	const char *thr[3] = {cfg->alert_latency, cfg->alert_hit_rate,
			      cfg->alert_memory};
	char zone[RC_OPT_STR_MAX + 32], e2[600];

	if (rc_sched_parse(cfg->rules, &cfg->sched, e2, sizeof(e2)) != 0) {
		snprintf(err, errlen, "scaling.rules: %s", e2);
		return -EINVAL;
	}
	for (int i = 0; i < 3; i++)
		if (rc_alert_parse_thresholds(thr[i], i != 1,
					      cfg->alert_thr[i], e2,
					      sizeof(e2)) != 0) {
			snprintf(err, errlen, "%s: %s", what[i], e2);
			return -EINVAL;
		}
	cfg->log_level_n = rcd_log_level(cfg->log_level);
	if (cfg->log_level_n == 0) {
		snprintf(err, errlen, "node.log_level '%s': want error, "
			 "warning, notice, info or debug", cfg->log_level);
		return -EINVAL;
	}
	if (cfg->util_low >= cfg->util_high) {
		snprintf(err, errlen, "scaling.util_low (%g) must be below "
			 "util_high (%g)", cfg->util_low, cfg->util_high);
		return -EINVAL;
	}
	snprintf(zone, sizeof(zone), "/usr/share/zoneinfo/%s", cfg->timezone);
	if (strcmp(cfg->timezone, "UTC") != 0 &&
	    (strstr(cfg->timezone, "..") || access(zone, R_OK) != 0)) {
		snprintf(err, errlen, "scaling.timezone '%s': no such zone in "
			 "/usr/share/zoneinfo (install tzdata?)",
			 cfg->timezone);
		return -EINVAL;
	}
	return 0;
}

gid_t rcd_socket_gid(const char *group)
{
	char buf[4096], *end;
	struct group gr, *res = NULL;
	unsigned long n = strtoul(group, &end, 10);

	if (*group && !*end)
		return (gid_t)n;
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return (gid_t)-1;
	return res->gr_gid;
}

int rcd_config_finish(struct rcd_config *cfg, char *err, size_t errlen)
{
	char *end;

	if (rcd_config_finish_runtime(cfg, err, errlen) != 0)
		return -EINVAL;
	if (strtoul(cfg->ctl_socket_mode, &end, 8) > 0777 || *end ||
	    end == cfg->ctl_socket_mode) {
		snprintf(err, errlen, "control.socket_mode '%s': want octal "
			 "permissions such as 0660", cfg->ctl_socket_mode);
		return -EINVAL;
	}
	if (cfg->ctl_socket_group[0] &&
	    rcd_socket_gid(cfg->ctl_socket_group) == (gid_t)-1) {
		snprintf(err, errlen, "control.socket_group '%s': no such "
			 "group", cfg->ctl_socket_group);
		return -EINVAL;
	}
	if (cfg->ctl_max_line < 2 * cfg->max_value_size + 4096) {
		snprintf(err, errlen, "control.max_line %lu cannot hold one "
			 "warm record of store.max_value_size (%lu) in hex: "
			 "want at least %lu", (unsigned long)cfg->ctl_max_line,
			 (unsigned long)cfg->max_value_size,
			 (unsigned long)(2 * cfg->max_value_size + 4096));
		return -EINVAL;
	}
	if (cfg->memory / cfg->workers < (1u << 20)) {
		snprintf(err, errlen,
			 "store.memory gives each of %lu partitions under 1 MiB",
			 (unsigned long)cfg->workers);
		return -EINVAL;
	}
	if (cfg->memory_cap && cfg->memory_cap < cfg->memory) {
		snprintf(err, errlen, "store.memory_cap (%lu) is below "
			 "store.memory (%lu)", (unsigned long)cfg->memory_cap,
			 (unsigned long)cfg->memory);
		return -EINVAL;
	}
	if (cfg->segment_size & (cfg->segment_size - 1)) {
		snprintf(err, errlen, "store.segment_size %lu is not a "
			 "power of two", (unsigned long)cfg->segment_size);
		return -EINVAL;
	}
	/* Classes own whole segments: with few of them a class's budget
	 * rounds away and TTL buckets crowd each other out. */
	if (cfg->segment_size > cfg->memory / cfg->workers / 32) {
		snprintf(err, errlen, "store.segment_size %lu: each "
			 "partition (%lu bytes) must hold at least 32 segments",
			 (unsigned long)cfg->segment_size,
			 (unsigned long)(cfg->memory / cfg->workers));
		return -EINVAL;
	}
	if (RC_STORE_SEG_HDR + rc_store_item_size((uint16_t)cfg->max_key_size,
					       (uint32_t)cfg->max_value_size,
					       1) > cfg->segment_size) {
		snprintf(err, errlen, "store.max_value_size %lu with "
			 "max_key_size %lu does not fit one store segment "
			 "(%lu bytes): raise store.segment_size",
			 (unsigned long)cfg->max_value_size,
			 (unsigned long)cfg->max_key_size,
			 (unsigned long)cfg->segment_size);
		return -EINVAL;
	}
	if (rc_cidr_parse(&cfg->allow_l, cfg->allow, err, errlen) != 0 ||
	    rc_cidr_parse(&cfg->trusted_l, cfg->trusted, err, errlen) != 0 ||
	    rc_rate_rules_parse(&cfg->rate_l, cfg->rate_limits, err,
				errlen) != 0) {
		char e2[256];

		snprintf(e2, sizeof(e2), "acl: %s", err);
		snprintf(err, errlen, "%s", e2);
		return -EINVAL;
	}
	if (cfg->allow_l.n == 0) {
		snprintf(err, errlen, "acl.allow is empty: no client could "
			 "reach the node (0.0.0.0/0 allows every source)");
		return -EINVAL;
	}
	if (strcmp(cfg->udp_checksum, "auto") &&
	    strcmp(cfg->udp_checksum, "verify") &&
	    strcmp(cfg->udp_checksum, "trust")) {
		snprintf(err, errlen, "dpdk.udp_checksum '%s': expected auto, "
			 "verify or trust", cfg->udp_checksum);
		return -EINVAL;
	}
	if (strcmp(cfg->eviction, "clock") && strcmp(cfg->eviction, "fifo")) {
		snprintf(err, errlen, "store.eviction '%s': expected "
			 "clock or fifo", cfg->eviction);
		return -EINVAL;
	}
	if (rcd_repl_config_check(cfg, err, errlen) != 0)
		return -EINVAL;
	return rc_classes_parse(&cfg->cl, cfg->classes, cfg->class_prefixes,
				cfg->default_class, err, errlen);
}

int rcd_repl_config_check(const struct rcd_config *cfg, char *err,
			  size_t errlen)
{
	uint64_t log = cfg->repl_log_size;

	if (strcmp(cfg->repl_role, "standalone") == 0)
		return 0;
	if (strcmp(cfg->repl_role, "primary") &&
	    strcmp(cfg->repl_role, "standby")) {
		snprintf(err, errlen, "repl.role '%s': expected standalone, "
			 "primary or standby", cfg->repl_role);
		return -1;
	}
	if (!cfg->repl_listen[0] || !cfg->repl_peer[0]) {
		snprintf(err, errlen, "repl.role %s needs repl.listen and "
			 "repl.peer", cfg->repl_role);
		return -1;
	}
	if (strcmp(cfg->repl_listen, cfg->repl_peer) == 0) {
		snprintf(err, errlen, "repl.peer is this node's own "
			 "repl.listen (%s)", cfg->repl_listen);
		return -1;
	}
	if (log & (log - 1)) {
		snprintf(err, errlen, "repl.log_size %lu: must be a power of "
			 "two", (unsigned long)log);
		return -1;
	}
	/* A record takes at most half the log: a smaller log could never
	 * hold a write of the largest value, and every one would start a
	 * full resync. */
	if (rc_repl_rec_size(RC_PROTO_MAX_KEY, (uint32_t)cfg->max_value_size) >
	    log / 2) {
		snprintf(err, errlen, "repl.log_size %lu: must hold two records "
			 "of store.max_value_size (%lu): at least %lu",
			 (unsigned long)log, (unsigned long)cfg->max_value_size,
			 (unsigned long)rc_repl_rec_size(
				 RC_PROTO_MAX_KEY,
				 (uint32_t)cfg->max_value_size) * 2);
		return -1;
	}
	if (cfg->repl_hb_port >= cfg->base_port &&
	    cfg->repl_hb_port < cfg->base_port + cfg->workers) {
		snprintf(err, errlen, "repl.heartbeat_port %lu is one of the "
			 "service ports", (unsigned long)cfg->repl_hb_port);
		return -1;
	}
	if (!cfg->repl_key_file[0] && !cfg->repl_insecure) {
		snprintf(err, errlen, "repl.role %s needs repl.key_file (the "
			 "pair's shared secret) or repl.insecure = true",
			 cfg->repl_role);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		const char *f = i ? cfg->repl_key_file_next : cfg->repl_key_file;
		struct stat st;

		if (!f[0])
			continue;
		if (stat(f, &st) != 0) {
			snprintf(err, errlen, "repl.%s %s: %s",
				 i ? "key_file_next" : "key_file", f,
				 strerror(errno));
			return -1;
		}
		if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
			snprintf(err, errlen, "repl.%s %s: mode %03o, refusing a "
				 "key readable by group or other (chmod 600 it)",
				 i ? "key_file_next" : "key_file", f,
				 (unsigned)(st.st_mode & 0777));
			return -1;
		}
	}
	if (cfg->repl_key_file_next[0] && !cfg->repl_key_file[0]) {
		snprintf(err, errlen, "repl.key_file_next needs repl.key_file");
		return -1;
	}
	if (cfg->repl_failover_ms < 3 * cfg->repl_heartbeat_ms) {
		snprintf(err, errlen, "repl.failover_ms (%lu) must be at least "
			 "three heartbeats (%lu ms)",
			 (unsigned long)cfg->repl_failover_ms,
			 (unsigned long)(3 * cfg->repl_heartbeat_ms));
		return -1;
	}
	return 0;
}

void rcd_store_config(const struct rcd_config *cfg, const char *name,
		      int socket, struct rc_store_config *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->name = name;
	sc->socket_id = socket;
	sc->memory_limit = cfg->memory / cfg->workers;
	sc->memory_cap = rcd_memory_cap(cfg) / cfg->workers;
	sc->max_items = (uint32_t)(cfg->max_items / cfg->workers);
	sc->max_key_len = (uint32_t)cfg->max_key_size;
	sc->max_value_len = (uint32_t)cfg->max_value_size;
	sc->segment_size = (uint32_t)cfg->segment_size;
	sc->n_classes = cfg->cl.n;
	for (unsigned c = 0; c < cfg->cl.n; c++) {
		sc->classes[c].share_ppm = cfg->cl.c[c].share_ppm;
		sc->classes[c].protect = cfg->cl.c[c].protect;
	}
	sc->borrowing = cfg->borrowing;
	sc->policy = strcmp(cfg->eviction, "fifo") ? RC_STORE_CLOCK
						   : RC_STORE_FIFO;
	sc->digest = rcd_key_digest;
}

int rcd_worker_configure(struct rcd_worker *w, const struct rcd_config *cfg,
			 unsigned id)
{
	struct rc_reasm_config rc = {
		.max_entries = (unsigned)cfg->reasm_entries,
		.max_bytes = cfg->reasm_bytes,
		.max_message = RC_PROTO_MAX_MESSAGE,
		.timeout = rte_get_tsc_hz() / 1000 * cfg->reasm_timeout_ms,
		.max_entries_per_owner = (unsigned)cfg->reasm_src_entries,
		.max_bytes_per_owner = cfg->reasm_src_bytes,
	};
	struct rc_policy *pol;

	w->id = id;
	w->port_id = (uint16_t)cfg->port_id;
	w->burst = (uint16_t)cfg->burst;
	w->partitions = (uint16_t)cfg->workers;
	w->p.id = id;
	w->p.partitions = (uint16_t)cfg->workers;
	w->p.epoch = (uint32_t)cfg->epoch;
	w->p.max_key = (uint32_t)cfg->max_key_size;
	w->p.max_value = (uint32_t)cfg->max_value_size;
	w->p.st = &w->stats.srv;
	w->idle_sleep_us = cfg->idle_sleep_us;
	w->idle_spin_us = cfg->idle_spin_us;
	w->io_only = cfg->io_only;
	w->tsc_hz = rte_get_tsc_hz();
	w->cmd_delay_tsc = cfg->test_command_delay_ms * (w->tsc_hz / 1000);
	w->ns_per_tsc_q32 = (uint64_t)((1000000000.0 * 4294967296.0) /
				       (double)w->tsc_hz);
	w->p.ttl_pct = 100;
	w->tsc_start = rte_rdtsc();
	w->now_tsc = w->tsc_start;
	w->reasm = rc_reasm_create(&rc);
	if (!w->reasm)
		return -ENOMEM;
	pol = rcd_policy_build(cfg, &cfg->cl, (unsigned)cfg->workers);
	if (!pol)
		return -ENOMEM;
	rc_pub_init(&w->pub, pol);
	rcd_worker_use_policy(w, pol);
	return 0;
}
