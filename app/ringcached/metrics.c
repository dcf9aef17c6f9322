/* SPDX-License-Identifier: MIT
 * The metric table. A row is a counter or gauge read from the workers'
 * summed counters, one worker's own series, the NIC, the control core's
 * gauges or the process's figures; an array row (drop reasons, opcodes,
 * statuses, classes, workers) expands to one labelled series per
 * element, and a row with a second array (a worker's ops by opcode)
 * to one per pair. A state-set row shows a numeric gauge as one series
 * per state, 1 for the state it holds and 0 for the others. Stats-file
 * names are the row's `stat` pattern with the label values in its %s
 * (no `stat`: Prometheus only); Prometheus names are ringcache_<prom>
 * (process figures: process_<...>, as client libraries name them),
 * counters with _total. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <rte_version.h>

#include "metrics.h"
#include "rc_opt.h"
#include "repl.h"

const char *const rcd_alert_names[3] = {"latency", "hit_rate", "memory"};

/* WK, NIC, SNAP: uint64_t fields; CTL, PW (one worker's, struct
 * rcd_worker_brief), PROC (struct rc_proc_stats): doubles. WK_NS,
 * SNAP_NS: as WK, SNAP, in nanoseconds; Prometheus has them in seconds
 * (its base unit), the stats file as they are. */
enum src { WK, NIC, CTL, SNAP, PW, PROC, WK_NS, SNAP_NS };
enum kind { COUNTER, GAUGE, STATE };
/* Arrays; the last five are pairs of arrays, the second one labelled
 * as `pairs` says (a STATE row's second array is its states). */
enum arr { NONE, NETDROP, PROTODROP, OPCODE, STATUS, CLASS, ALERT, WORKER,
	   BUSY, ROLE, PHASE, LEVEL,
	   WORKER_BUSY, WORKER_OP, ALERT_LEVEL, ROLE_STATE, PHASE_STATE };

static const struct {
	enum arr first, second;
	const char *label;       /* of the second */
} pairs[] = {
	[WORKER_BUSY] = {WORKER, BUSY, "busy"},
	[WORKER_OP] = {WORKER, OPCODE, "op"},
	[ALERT_LEVEL] = {ALERT, LEVEL, "level"},
	[ROLE_STATE] = {NONE, ROLE, "role"},
	[PHASE_STATE] = {NONE, PHASE, "phase"},
};

struct metric {
	const char *stat;        /* stats-file name; %s: the label value */
	const char *prom;        /* ringcache_<prom>[_total] */
	enum kind kind;
	enum src src;
	size_t off;
	enum arr arr;
	const char *label;       /* label name (arrays, or a fixed label) */
	const char *lval;        /* fixed label value of a scalar row */
	const char *help;
};

#define W(f) WK, offsetof(struct rcd_worker_stats, f)
#define ST(f) WK, offsetof(struct rcd_worker_stats, store.f)
#define CL(f) WK, offsetof(struct rcd_worker_stats, classes[0].f)
#define N(f) NIC, offsetof(struct rte_eth_stats, f)
#define G(f) CTL, offsetof(struct rcd_gauges, f)
#define S(f) SNAP, offsetof(struct rcd_snapshot, f)
#define WNS(f) WK_NS, offsetof(struct rcd_worker_stats, f)
#define SNS(f) SNAP_NS, offsetof(struct rcd_snapshot, f)
#define PWK(f) PW, offsetof(struct rcd_worker_brief, f)
#define P(f) PROC, offsetof(struct rc_proc_stats, f)

static const struct metric metrics[] = {
	{"rx_packets", "rx_packets", COUNTER, W(rx_packets), NONE, 0, 0,
	 "Frames received by the workers"},
	{"tx_packets", "tx_packets", COUNTER, W(tx_packets), NONE, 0, 0,
	 "Frames sent by the workers"},
	{"tx_failed", "tx_failed", COUNTER, W(tx_failed), NONE, 0, 0,
	 "Frames dropped because the TX ring stayed full"},
	{"tx_retries", "tx_retries", COUNTER, W(tx_retries), NONE, 0, 0,
	 "TX polls that found the ring full"},
	{"worker_gaps", "worker_gaps", COUNTER, W(gaps), NONE, 0, 0,
	 "Worker loop turns over 100 us apart while not napping (the host "
	 "took the CPU, or a turn ran long)"},
	{"worker_gap_ns", "worker_gap_seconds", COUNTER, WNS(gap_ns), NONE, 0,
	 0, "Time the workers spent in those gaps"},
	{"requests", "requests", COUNTER, W(srv.requests), NONE, 0, 0,
	 "Well-formed request messages executed"},
	{"arp_replies", "arp_replies", COUNTER, W(arp_replies), NONE, 0, 0,
	 "ARP requests answered"},
	{"icmp_replies", "icmp_replies", COUNTER, W(icmp_replies), NONE, 0, 0,
	 "ICMP echo requests answered"},
	{"handoff_out", "handoffs", COUNTER, W(handoff_out), NONE, "dir",
	 "out", "Requests passed to the partition's owner (no NIC steering)"},
	{"handoff_in", "handoffs", COUNTER, W(handoff_in), NONE, "dir", "in",
	 NULL},
	{"handoff_dropped", "handoffs", COUNTER, W(handoff_dropped), NONE,
	 "dir", "dropped", NULL},
	{"reply_failed", "reply_failed", COUNTER, W(reply_failed), NONE, 0, 0,
	 "Replies lost for want of an mbuf"},
	{"drop_acl", "dropped", COUNTER, W(drop_acl), NONE, "reason", "acl",
	 "Frames dropped, by reason"},
	{"drop_amplification", "dropped", COUNTER, W(srv.drop_amplification),
	 NONE, "reason", "amplification", NULL},
	{"drop_%s", "dropped", COUNTER, W(net_drops), NETDROP, "reason", 0,
	 NULL},
	{"drop_%s", "dropped", COUNTER, W(srv.proto_drops), PROTODROP, "reason",
	 0, NULL},
	{"segments_in", "segments", COUNTER, W(seg_in), NONE, "dir", "in",
	 "Segments of large messages received and sent"},
	{"segments_out", "segments", COUNTER, W(seg_out), NONE, "dir", "out",
	 NULL},
	{"busy_replies", "busy_replies", COUNTER, W(busy_replies), NONE, 0, 0,
	 "Segmented requests answered BUSY (reassembly full)"},
	{"read_only_refused", "read_only_refused", COUNTER,
	 W(srv.read_only_refused), NONE, 0, 0,
	 "Writes answered READ_ONLY"},
	{"commands", "control_commands", COUNTER, W(srv.commands), NONE, 0, 0,
	 "Control-core commands run by workers (get, del, flush, warm)"},
	{"not_primary", "not_primary", COUNTER, W(srv.not_primary), NONE, 0, 0,
	 "Writes answered NOT_PRIMARY (this node is not the primary)"},
	{"repl_records", "repl_log_records", COUNTER, W(srv.repl_records), NONE,
	 0, 0, "Records workers put in their replication logs"},
	{"repl_overflow", "repl_log_overflow", COUNTER, W(srv.repl_overflow), NONE,
	 0, 0, "Writes a full replication log could not take (each costs the "
	 "standby a full resync)"},
	{"repl_snapshot_records", "repl_snapshot_records", COUNTER,
	 W(srv.repl_snapshot), NONE, 0, 0, "Items copied by snapshot passes"},
	{"repl_applied", "repl_applied", COUNTER, W(srv.repl_applied), NONE, 0, 0,
	 "Replicated records applied (standby)"},
	{"repl_apply_failed", "repl_apply_failed", COUNTER,
	 W(srv.repl_apply_failed), NONE, 0, 0,
	 "Replicated records the store refused (standby)"},
	{"durable_held", "durable_replies", COUNTER, W(durable_held), NONE,
	 "outcome", "held", "Durable write replies held for the standby, and "
	 "how they ended"},
	{"durable_acked", "durable_replies", COUNTER, W(durable_acked), NONE,
	 "outcome", "acked", NULL},
	{"durable_failed", "durable_replies", COUNTER, W(durable_failed),
	 NONE, "outcome", "not_replicated", NULL},
	{"heartbeats_data_in", "repl_data_heartbeats", COUNTER, W(hb_rx), NONE,
	 "dir", "in", "Data-network heartbeats"},
	{"heartbeats_data_bad", "repl_data_heartbeats", COUNTER, W(hb_bad),
	 NONE, "dir", "refused", NULL},
	{"reassembly_entries", "reassembly_entries", GAUGE, W(reasm.entries),
	 NONE, 0, 0, "Segmented messages being reassembled"},
	{"reassembly_bytes", "reassembly_bytes", GAUGE, W(reasm.bytes), NONE,
	 0, 0, "Bytes held by reassembly"},
	{"reassembly_completed", "reassembly", COUNTER, W(reasm.completed),
	 NONE, "outcome", "completed", "Reassembly outcomes"},
	{"reassembly_timeouts", "reassembly", COUNTER, W(reasm.timeouts), NONE,
	 "outcome", "timeout", NULL},
	{"reassembly_full", "reassembly", COUNTER, W(reasm.full), NONE,
	 "outcome", "full", NULL},
	{"reassembly_too_big", "reassembly", COUNTER, W(reasm.too_big), NONE,
	 "outcome", "too_big", NULL},
	{"reassembly_duplicates", "reassembly", COUNTER, W(reasm.duplicates),
	 NONE, "outcome", "duplicate", NULL},
	{"reassembly_mismatches", "reassembly", COUNTER, W(reasm.mismatches),
	 NONE, "outcome", "mismatch", NULL},
	{"reassembly_over_share", "reassembly", COUNTER, W(reasm.over_share),
	 NONE, "outcome", "over_share", NULL},
	{"reassembly_evicted", "reassembly", COUNTER, W(reasm.evicted), NONE,
	 "outcome", "evicted_for_trusted", NULL},
	{"rate_admitted_ops", "rate_ops", COUNTER, W(rate.admitted), NONE,
	 "outcome", "admitted", "Operations checked against rate quotas"},
	{"rate_throttled_ops", "rate_ops", COUNTER, W(rate.throttled), NONE,
	 "outcome", "throttled", NULL},
	{"rate_buckets_reused", "rate_buckets_reused", COUNTER, W(rate.reused),
	 NONE, 0, 0, "Rate buckets taken over from idle networks"},
	{"op_%s", "ops", COUNTER, W(srv.ops), OPCODE, "op", 0,
	 "Operations, by type"},
	{"status_%s", "op_status", COUNTER, W(srv.status), STATUS, "status", 0,
	 "Operations, by reply status"},
	{"store_items", "items", GAUGE, ST(items), NONE, 0, 0,
	 "Items stored"},
	{"store_bytes_used", "memory_used_bytes", GAUGE, ST(bytes_used), NONE,
	 0, 0, "Store memory held: index and segments"},
	{"store_bytes_limit", "memory_limit_bytes", GAUGE, ST(bytes_limit),
	 NONE, 0, 0, "Store memory budget in force"},
	{"store_index_bytes", "index_bytes", GAUGE, ST(index_bytes), NONE, 0,
	 0, "Memory of the key index"},
	{"store_hits", "hits", COUNTER, ST(hits), NONE, 0, 0, "GET hits"},
	{"store_misses", "misses", COUNTER, ST(misses), NONE, 0, 0,
	 "GET misses"},
	{"store_stale_hits", "stale_hits", COUNTER, ST(stale_hits), NONE, 0, 0,
	 "GETs answered with an expired item (serve-stale)"},
	{"store_evictions", "evictions", COUNTER, ST(evictions), NONE, 0, 0,
	 "Items evicted"},
	{"store_expirations", "expirations", COUNTER, ST(expirations), NONE, 0,
	 0, "Items expired"},
	{"store_flushed", "flushed", COUNTER, ST(flushed), NONE, 0, 0,
	 "Items removed by ringctl flush"},
	{"store_cas_mismatches", "cas_mismatches", COUNTER,
	 ST(cas_mismatches), NONE, 0, 0, "Conditional writes refused"},
	{"store_segments", "segments_held", GAUGE, ST(segments), NONE, 0, 0,
	 "Store segments with memory"},
	{"store_segments_free", "segments_free", GAUGE, ST(segments_free),
	 NONE, 0, 0, "Store segments with memory and no class"},
	{"store_reinserted", "reinserted", COUNTER, ST(reinserted), NONE, 0, 0,
	 "Items kept by eviction (read since written)"},
	{"store_reclaims_inline", "reclaims_inline", COUNTER,
	 ST(reclaims_inline), NONE, 0, 0,
	 "Segments compacted on the write path"},
	{"store_index_full", "index_full", COUNTER, ST(index_full), NONE, 0, 0,
	 "Inserts that found the index full"},
	{"class_%s_items", "class_items", GAUGE, CL(items), CLASS, "class", 0,
	 "Items, by class"},
	{"class_%s_live_bytes", "class_live_bytes", GAUGE, CL(live_bytes),
	 CLASS, "class", 0, "Bytes of live items, by class"},
	{"class_%s_segments", "class_segments", GAUGE, CL(segments), CLASS,
	 "class", 0, "Segments owned, by class"},
	{"class_%s_used_bytes", "class_used_bytes", GAUGE, CL(used_bytes),
	 CLASS, "class", 0, "Memory held, by class (what the budget limits)"},
	{"class_%s_budget_bytes", "class_budget_bytes", GAUGE,
	 CL(budget_bytes), CLASS, "class", 0, "Memory budget, by class"},
	{"class_%s_gets", "class_gets", COUNTER, CL(gets), CLASS, "class", 0,
	 "GETs, by class"},
	{"class_%s_hits", "class_hits", COUNTER, CL(hits), CLASS, "class", 0,
	 "GET hits, by class"},
	{"class_%s_misses", "class_misses", COUNTER, CL(misses), CLASS,
	 "class", 0, "GET misses, by class"},
	{"class_%s_sets", "class_sets", COUNTER, CL(sets), CLASS, "class", 0,
	 "SETs stored, by class"},
	{"class_%s_evictions", "class_evictions", COUNTER, CL(evictions),
	 CLASS, "class", 0, "Items evicted, by class"},
	{"class_%s_expirations", "class_expirations", COUNTER,
	 CL(expirations), CLASS, "class", 0, "Items expired, by class"},
	{"class_%s_reinserted", "class_reinserted", COUNTER, CL(reinserted),
	 CLASS, "class", 0, "Items kept by eviction, by class"},
	{"nic_ipackets", "nic_packets", COUNTER, N(ipackets), NONE, "dir",
	 "rx", "Packets counted by the NIC"},
	{"nic_opackets", "nic_packets", COUNTER, N(opackets), NONE, "dir",
	 "tx", NULL},
	{"nic_ibytes", "nic_bytes", COUNTER, N(ibytes), NONE, "dir", "rx",
	 "Bytes counted by the NIC"},
	{"nic_obytes", "nic_bytes", COUNTER, N(obytes), NONE, "dir", "tx",
	 NULL},
	{"nic_imissed", "nic_errors", COUNTER, N(imissed), NONE, "kind",
	 "rx_missed", "NIC drops and errors"},
	{"nic_ierrors", "nic_errors", COUNTER, N(ierrors), NONE, "kind",
	 "rx_errors", NULL},
	{"nic_oerrors", "nic_errors", COUNTER, N(oerrors), NONE, "kind",
	 "tx_errors", NULL},
	{"nic_rx_nombuf", "nic_errors", COUNTER, N(rx_nombuf), NONE, "kind",
	 "rx_nombuf", NULL},
	{"stats_published_ns", "stats_published_seconds", GAUGE,
	 SNS(published_ns), NONE, 0, 0,
	 "CLOCK_MONOTONIC time of the oldest worker's last counter publish: "
	 "every request answered before it is counted"},
	{"worker%s_polls_busy_%s", "worker_polls", COUNTER, PWK(polls),
	 WORKER_BUSY,
	 "worker", 0, "Worker loop turns, by worker and whether the turn "
	 "found work (frames from the NIC or the inbox, records to apply, "
	 "replies to send): "
	 "the busy ratio is busy=\"true\" over all"},
	{"worker%s_busy_seconds", "worker_busy_seconds", COUNTER, PWK(busy_s),
	 WORKER, "worker", 0, "Time in loop turns that found work, by worker "
	 "(a polling worker shows 100% CPU to the host whatever this says)"},
	{"worker%s_busy_cycles", "worker_busy_cycles", COUNTER,
	 PWK(busy_cycles), WORKER, "worker", 0, "TSC cycles in loop turns "
	 "that found work, by worker: over worker_requests_total, cycles per "
	 "request"},
	{"worker%s_rx_packets", "worker_rx_packets", COUNTER, PWK(rx_packets),
	 WORKER, "worker", 0, "Frames received, by worker (queue)"},
	{"worker%s_requests", "worker_requests", COUNTER, PWK(requests), WORKER,
	 "worker", 0, "Request messages executed, by the worker that owns the "
	 "partition"},
	{"worker%s_op_%s", "worker_ops", COUNTER, PWK(ops), WORKER_OP,
	 "worker", 0, "Operations, by worker and type"},
	{"process_cpu_seconds", "process_cpu_seconds", COUNTER,
	 P(cpu_seconds), NONE, 0, 0, "User and system CPU time of ringcached "
	 "(workers poll: they use their CPUs whole)"},
	{"process_resident_memory_bytes", "process_resident_memory_bytes",
	 GAUGE, P(resident_bytes), NONE, 0, 0, "Resident memory (hugepages, "
	 "where the packet buffers live, are not in it)"},
	{"process_virtual_memory_bytes", "process_virtual_memory_bytes", GAUGE,
	 P(virtual_bytes), NONE, 0, 0, "Virtual memory size"},
	{"process_open_fds", "process_open_fds", GAUGE, P(open_fds), NONE, 0,
	 0, "Open file descriptors"},
	{"process_max_fds", "process_max_fds", GAUGE, P(max_fds), NONE, 0, 0,
	 "File descriptor limit (RLIMIT_NOFILE)"},
	{"process_start_time_seconds", "process_start_time_seconds", GAUGE,
	 P(start_time_s), NONE, 0, 0,
	 "Start time of the process since the Unix epoch"},
	{"uptime_seconds", "uptime_seconds", GAUGE, G(uptime_s), NONE, 0, 0,
	 "Seconds since the node started serving"},
	{"multiplier", "multiplier", GAUGE, G(multiplier), NONE, 0, 0,
	 "Memory budget / store.memory (calendar or override, utilisation, "
	 "cap)"},
	{"multiplier_factor", "multiplier_factor", GAUGE, G(calendar_factor),
	 NONE, 0, 0, "Calendar or override factor before utilisation and cap"},
	{"multiplier_override", "multiplier_override_active", GAUGE,
	 G(override_active), NONE, 0, 0, "1 while an operator override holds"},
	{"ttl_multiplier", "ttl_multiplier", GAUGE, G(ttl_multiplier), NONE, 0,
	 0, "Factor applied to the TTL of new writes"},
	{"memory_budget_bytes", "memory_budget_bytes", GAUGE,
	 G(memory_budget), NONE, 0, 0, "Store budget set by the multipliers"},
	{"memory_cap_bytes", "memory_cap_bytes", GAUGE, G(memory_cap), NONE,
	 0, 0, "store.memory_cap: the budget never exceeds it"},
	{"read_only", "read_only", GAUGE, G(read_only), NONE, 0, 0,
	 "1 while writes are refused"},
	{"serve_stale", "serve_stale", GAUGE, G(serve_stale), NONE, 0, 0,
	 "1 while expired items are served within the grace"},
	{"alert_%s", "alert_level", GAUGE, G(alert), ALERT, "alert", 0,
	 "Alert level: 0 ok, 1 warning, 2 critical, 3 emergency"},
	{NULL, "alert_state", STATE, G(alert), ALERT_LEVEL, "alert", 0,
	 "Alert level as a state set: 1 for the level each alert is at, 0 "
	 "for the others"},
	{"alert_hooks_run", "alert_hooks", COUNTER, G(hooks_run), NONE,
	 "outcome", "run", "Alert hook commands started or skipped (too many "
	 "running)"},
	{"alert_hooks_skipped", "alert_hooks", COUNTER, G(hooks_skipped),
	 NONE, "outcome", "skipped", NULL},
	{"control_requests", "control_requests", COUNTER, G(ctl_requests),
	 NONE, 0, 0, "Requests served on the control socket"},
	{"config_reloads", "config_reloads", COUNTER, G(reloads), NONE,
	 "result", "applied", "Config reloads (ringctl config reload, SIGHUP): "
	 "applied, or refused with nothing changed"},
	{"config_reloads_refused", "config_reloads", COUNTER,
	 G(reloads_refused), NONE, "result", "refused", NULL},
	{"config_last_reload_successful", "config_last_reload_successful",
	 GAUGE, G(reload_ok), NONE, 0, 0,
	 "1 if the last config reload was applied (or none was tried), 0 if "
	 "it was refused: the running config is not the file's"},
	{"config_last_reload_success_timestamp_seconds",
	 "config_last_reload_success_timestamp_seconds", GAUGE,
	 G(reload_ok_wall), NONE, 0, 0,
	 "When the last applied reload (or the start) was, since the Unix "
	 "epoch"},
	{"control_turn_max_seconds", "control_turn_max_seconds", GAUGE,
	 G(turn_max_s), NONE, 0, 0,
	 "Longest turn of the control core (timers, replication, one "
	 "command) since start: how long it held its CPU at once"},
	{"control_turns_over_100us", "control_turns", COUNTER,
	 G(turns_over_100us), NONE, "over", "100us",
	 "Control-core turns longer than 100 us and 1 ms"},
	{"control_turns_over_1ms", "control_turns", COUNTER,
	 G(turns_over_1ms), NONE, "over", "1ms", NULL},
	{"control_turns_blocked", "control_turns_blocked", COUNTER,
	 G(turns_blocked), NONE, 0, 0,
	 "Control-loop turns that slept inside (a blocking call or a held "
	 "lock): there should be none"},
	{"control_refused_too_long", "control_refused", COUNTER,
	 G(ctl_too_long), NONE, "reason", "too_long",
	 "Control-socket lines refused unread (over control.max_line bytes, "
	 "or over the JSON item limit) and connections refused (all "
	 "control.max_clients busy)"},
	{"control_refused_too_complex", "control_refused", COUNTER,
	 G(ctl_too_complex), NONE, "reason", "too_complex", NULL},
	{"control_refused_busy", "control_refused", COUNTER, G(ctl_busy),
	 NONE, "reason", "busy", NULL},
	{"control_closed_stalled", "control_closed", COUNTER, G(ctl_stalled),
	 NONE, "reason", "stalled",
	 "Control connections the node closed: took no byte of an answer "
	 "for 5 s, quiet past control.idle_timeout_s, or the quietest, for a "
	 "new client"},
	{"control_closed_idle", "control_closed", COUNTER, G(ctl_idle_closed),
	 NONE, "reason", "idle", NULL},
	{"control_closed_evicted", "control_closed", COUNTER, G(ctl_evicted),
	 NONE, "reason", "evicted", NULL},
	{"metrics_connections", "metrics_http", COUNTER, G(http_connections),
	 NONE, "outcome", "connected",
	 "Metrics endpoint: connections, scrapes answered, connections closed "
	 "with no answer (slow or idle clients cut)"},
	{"metrics_served", "metrics_http", COUNTER, G(http_served), NONE,
	 "outcome", "served", NULL},
	{"metrics_timeouts", "metrics_http", COUNTER, G(http_timeouts), NONE,
	 "outcome", "closed_unanswered", NULL},
	{"repl_role", "repl_role", GAUGE, G(repl_role), NONE, 0, 0,
	 "0 standalone, 1 joining, 2 standby, 3 primary"},
	{"repl_epoch", "repl_epoch", GAUGE, G(repl_epoch), NONE, 0, 0,
	 "Replication epoch"},
	{"repl_connected", "repl_connected", GAUGE, G(repl_connected), NONE, 0,
	 0, "1 while the management connection to the peer is up"},
	{"repl_phase", "repl_phase", GAUGE, G(repl_phase), NONE, 0, 0,
	 "0 none, 1 snapshot (full resync), 2 streaming"},
	{NULL, "repl_role_state", STATE, G(repl_role), ROLE_STATE, 0, 0,
	 "Replication role as a state set: 1 for the role held, 0 for the "
	 "others"},
	{NULL, "repl_phase_state", STATE, G(repl_phase), PHASE_STATE, 0, 0,
	 "Replication phase as a state set: 1 for the phase the node is in, "
	 "0 for the others"},
	{"repl_lag_records", "repl_lag_records", GAUGE, G(repl_lag_records),
	 NONE, 0, 0, "Records the standby has not applied yet (as this node "
	 "sees it)"},
	{"repl_lag_seconds", "repl_lag_seconds", GAUGE, G(repl_lag_seconds),
	 NONE, 0, 0, "Age of the oldest record not yet applied by the standby"},
	{"repl_snapshot_progress", "repl_snapshot_progress", GAUGE,
	 G(repl_snapshot_progress), NONE, 0, 0,
	 "Full resync progress, 0 to 1"},
	{"repl_seq", "repl_seq", GAUGE, G(repl_seq), NONE, 0, 0,
	 "Primary: last record numbered; standby: last received"},
	{"repl_promotions", "repl_role_changes", COUNTER, G(repl_promotions),
	 NONE, "change", "promotion", "Promotions and demotions"},
	{"repl_demotions", "repl_role_changes", COUNTER, G(repl_demotions),
	 NONE, "change", "demotion", NULL},
	{"repl_resets", "repl_resyncs", COUNTER, G(repl_resets), NONE, "kind",
	 "full", "Full resyncs and resumed streams"},
	{"repl_resumes", "repl_resyncs", COUNTER, G(repl_resumes), NONE,
	 "kind", "resume", NULL},
	{"repl_records_out", "repl_stream_records", COUNTER,
	 G(repl_records_out), NONE, "dir", "out",
	 "Records sent to / received from the peer"},
	{"repl_records_in", "repl_stream_records", COUNTER, G(repl_records_in),
	 NONE, "dir", "in", NULL},
	{"repl_bad_frames", "repl_bad_frames", COUNTER, G(repl_bad_frames),
	 NONE, 0, 0, "Malformed stream frames (the connection is dropped)"},
	{"repl_bad_auth", "repl_bad_auth", COUNTER, G(repl_bad_auth), NONE, 0,
	 0, "Stream frames and heartbeats dropped as not authentic (forged, "
	 "wrong key, none)"},
	{"repl_replayed", "repl_replayed", COUNTER, G(repl_replayed), NONE, 0,
	 0, "Authentic stream frames and heartbeats dropped as old: a counter "
	 "or session already seen, or a time outside repl.auth_window_ms"},
	{"repl_pauses", "repl_pauses", COUNTER, G(repl_pauses), NONE, 0, 0,
	 "Turns of the replication thread that came over half a failover late "
	 "(the host did not run this node); the peer is not called silent "
	 "for such a pause"},
};

/* Worker label values: constants, as every label value in the table. */
static const char *const worker_names[RCD_MAX_WORKERS] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
	"13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23",
	"24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34",
	"35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45",
	"46", "47", "48", "49", "50", "51", "52", "53", "54", "55", "56",
	"57", "58", "59", "60", "61", "62", "63",
};
static const char *const busy_names[2] = {"true", "false"};

static unsigned arr_len(enum arr a, const struct rcd_snapshot *s,
			const struct rc_classes *cl)
{
	switch (a) {
	case NETDROP: return RC_NET_DROP__COUNT;
	case PROTODROP: return RC_PROTO_E__COUNT;
	case OPCODE: return RC_OP__COUNT;
	case STATUS: return RC_ST__COUNT;
	case CLASS: return cl->n;
	case ALERT: return 3;
	case WORKER: return s->n_workers;
	case BUSY: return 2;
	case ROLE: return RC_REPL_ROLE__COUNT;
	case PHASE: return RC_REPL_PHASE__COUNT;
	case LEVEL: return RC_ALERT__COUNT;
	default: return 1;
	}
}

static const char *arr_name(enum arr a, unsigned i,
			    const struct rcd_snapshot *s,
			    const struct rc_classes *cl)
{
	switch (a) {
	case NETDROP: return rc_net_drop_name(i);
	case PROTODROP: return i ? rc_proto_rstatus_name(i) : NULL;
	case OPCODE: return rc_proto_opcode_name(i);
	case STATUS: return rc_proto_status_name(i);
	case CLASS: return cl->c[i].name;
	case ALERT: return rcd_alert_names[i];
	case WORKER: {
		unsigned id = (unsigned)s->wk[i].id;

		return id < RCD_MAX_WORKERS ? worker_names[id] : NULL;
	}
	case BUSY: return busy_names[i];
	case ROLE: return rc_repl_role_name(i);
	case PHASE: return rc_repl_phase_name(i);
	case LEVEL: return rc_alert_level_name((enum rc_alert_level)i);
	default: return NULL;
	}
}

static size_t arr_stride(enum arr a, enum src src)
{
	if (a == NONE)
		return 0;
	if (a == CLASS)
		return sizeof(struct rc_store_class_stats);
	if (a == WORKER)
		return sizeof(struct rcd_worker_brief);
	return a == ALERT || src == PW ? sizeof(double) : sizeof(uint64_t);
}

/* Element (i, j) of a row; of a STATE row, 1 if element i holds
 * state j. */
static double value_of(const struct rcd_snapshot *s, const struct metric *m,
		       enum arr a, enum arr b, unsigned i, unsigned j)
{
	size_t off = m->off + i * arr_stride(a, m->src);
	double v;

	if (m->kind != STATE)
		off += j * arr_stride(b, m->src);
	switch (m->src) {
	case WK:
	case WK_NS:
		v = (double)*(const uint64_t *)((const char *)&s->sum + off);
		break;
	case NIC: v = (double)*(const uint64_t *)((const char *)&s->nic + off);
		break;
	case SNAP:
	case SNAP_NS:
		v = (double)*(const uint64_t *)((const char *)s + off);
		break;
	case PW: v = *(const double *)((const char *)s->wk + off);
		break;
	case PROC: v = *(const double *)((const char *)&s->proc + off);
		break;
	default: v = *(const double *)((const char *)&s->g + off);
		break;
	}
	return m->kind == STATE ? (double)(v == (double)j) : v;
}

/* Each element of each row: name (stat; NULL for Prometheus-only
 * rows), its labels as `a="x",b="y"` ("" for none), value. Rows the
 * snapshot lacks (NIC without stats) are skipped. */
typedef void (*visit_fn)(void *arg, const struct metric *m,
			 const char *stat, const char *labels, double v);

static void visit(const struct rcd_snapshot *s, const struct rc_classes *cl,
		  visit_fn fn, void *arg)
{
	char stat[128], labels[192];

	for (size_t k = 0; k < sizeof(metrics) / sizeof(metrics[0]); k++) {
		const struct metric *m = &metrics[k];
		enum arr a = m->arr, b = NONE;
		const char *blabel = NULL;

		if (m->src == NIC && !s->nic_ok)
			continue;
		if (a >= WORKER_BUSY) {
			b = pairs[a].second;
			blabel = pairs[a].label;
			a = pairs[a].first;
		}
		for (unsigned i = 0; i < arr_len(a, s, cl); i++) {
			const char *lv = a ? arr_name(a, i, s, cl) : m->lval;

			if (a && !lv)
				continue;
			for (unsigned j = 0; j < arr_len(b, s, cl); j++) {
				const char *lv2 = b ? arr_name(b, j, s, cl)
						    : NULL;
				int n = 0;

				if (b && !lv2)
					continue;
				labels[0] = '\0';
				if (m->label && lv)
					n = snprintf(labels, sizeof(labels),
						     "%s=\"%s\"", m->label, lv);
				if (lv2)
					snprintf(labels + n,
						 sizeof(labels) - (size_t)n,
						 "%s%s=\"%s\"", n ? "," : "",
						 blabel, lv2);
				if (m->stat)
					snprintf(stat, sizeof(stat), m->stat,
						 lv ? lv : "", lv2 ? lv2 : "");
				fn(arg, m, m->stat ? stat : NULL, labels,
				   value_of(s, m, a, b, i, j));
			}
		}
	}
}

void rcd_stats_sum(struct rcd_worker *const *w, unsigned n,
		   struct rcd_worker_stats *sum)
{
	uint64_t *dst = (uint64_t *)sum;

	memset(sum, 0, sizeof(*sum));
	/* Every field is a uint64_t counter: add them word by word. */
	RTE_BUILD_BUG_ON(sizeof(*sum) % sizeof(uint64_t));
	for (unsigned i = 0; i < n; i++) {
		const volatile uint64_t *src =
			(const volatile uint64_t *)&w[i]->stats;

		for (size_t k = 0; k < sizeof(*sum) / sizeof(uint64_t); k++)
			dst[k] += src[k];
	}
}

void rcd_snapshot_workers(struct rcd_snapshot *s,
			  struct rcd_worker *const *w, unsigned n)
{
	uint64_t oldest = UINT64_MAX;

	/* Read the publish times first: counters read after them are at
	 * least as new. */
	for (unsigned i = 0; i < n; i++) {
		uint64_t t = __atomic_load_n(&w[i]->published_ns,
					     __ATOMIC_ACQUIRE);

		oldest = t < oldest ? t : oldest;
	}
	s->published_ns = n ? oldest : 0;
	rcd_stats_sum(w, n, &s->sum);
	s->n_workers = n;
	for (unsigned i = 0; i < n; i++) {
		const volatile struct rcd_worker_stats *ws = &w[i]->stats;
		struct rcd_worker_brief *b = &s->wk[i];

		b->id = w[i]->id;
		b->polls[0] = (double)ws->polls_busy;
		b->polls[1] = (double)ws->polls_idle;
		b->busy_cycles = (double)ws->busy_tsc;
		b->busy_s = (double)ws->busy_tsc / (double)w[i]->tsc_hz;
		b->rx_packets = (double)ws->rx_packets;
		b->requests = (double)ws->srv.requests;
		for (unsigned o = 0; o < RC_OP__COUNT; o++)
			b->ops[o] = (double)ws->srv.ops[o];
	}
}

void rcd_snapshot_host(struct rcd_snapshot *s, uint16_t port_id)
{
	rc_proc_read(&s->proc);
	s->nic_ok = rte_eth_stats_get(port_id, &s->nic) == 0;
}

void rcd_snapshot_take(struct rcd_snapshot *s, struct rcd_worker *const *w,
		       unsigned n, uint16_t port_id)
{
	rcd_snapshot_workers(s, w, n);
	rcd_snapshot_host(s, port_id);
}

static void print_one(void *arg, const struct metric *m, const char *stat,
		      const char *labels, double v)
{
	(void)m;
	(void)labels;
	if (!stat)
		return;
	if (v == (double)(uint64_t)v)
		fprintf(arg, "%s %" PRIu64 "\n", stat, (uint64_t)v);
	else
		fprintf(arg, "%s %.6g\n", stat, v);
}

void rcd_metrics_print(const struct rcd_snapshot *s,
		       const struct rc_classes *cl, FILE *f)
{
	visit(s, cl, print_one, f);
}

int rcd_metrics_text(const struct rcd_snapshot *s,
		     const struct rc_classes *cl, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (!f)
		return -errno;
	rcd_metrics_print(s, cl, f);
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

int rcd_file_replace(const char *path, const char *buf, size_t len)
{
	char tmp[RC_OPT_STR_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}

int rcd_metrics_write_file(const struct rcd_snapshot *s,
			   const struct rc_classes *cl, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = rcd_metrics_text(s, cl, &buf, &len);

	if (rc == 0)
		rc = rcd_file_replace(path, buf, len);
	free(buf);
	return rc;
}

struct prom_ctx {
	FILE *f;
	const char *last;        /* HELP/TYPE once per name */
};

static void prom_one(void *arg, const struct metric *m, const char *stat,
		     const char *labels, double v)
{
	struct prom_ctx *p = arg;
	const char *sfx = m->kind == COUNTER ? "_total" : "";
	const char *ns = m->src == PROC ? "" : "ringcache_";

	(void)stat;
	if (m->src == WK_NS || m->src == SNAP_NS)
		v /= 1e9;
	if (!p->last || strcmp(p->last, m->prom) != 0) {
		/* Rows sharing a name are adjacent; the first has the help. */
		if (m->help)
			fprintf(p->f, "# HELP %s%s%s %s\n", ns, m->prom, sfx,
				m->help);
		if (m->help || !p->last)
			fprintf(p->f, "# TYPE %s%s%s %s\n", ns, m->prom, sfx,
				m->kind == COUNTER ? "counter" : "gauge");
		p->last = m->prom;
	}
	if (labels[0])
		fprintf(p->f, "%s%s%s{%s} %.17g\n", ns, m->prom, sfx, labels,
			v);
	else
		fprintf(p->f, "%s%s%s %.17g\n", ns, m->prom, sfx, v);
}

const char *rcd_dpdk_version(void)
{
	const char *v = rte_version();

	return strncmp(v, "DPDK ", 5) == 0 ? v + 5 : v;
}

/* Bucket bounds of the Prometheus histogram (ns); each is moved down to
 * the nearest histogram bucket edge so the counts are exact. */
static const uint64_t prom_le_ns[] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2000000, 5000000, 10000000, 50000000, 250000000, 1000000000,
};

/* One unlabelled histogram, prom_le_ns buckets. */
static void prom_hist(FILE *f, const char *name, const char *help,
		      const struct rc_hist *h)
{
	fprintf(f, "# HELP ringcache_%s %s\n# TYPE ringcache_%s histogram\n",
		name, help, name);
	for (size_t i = 0; i < RTE_DIM(prom_le_ns); i++) {
		uint64_t le = rc_hist_edge_at_most(prom_le_ns[i]);

		fprintf(f, "ringcache_%s_bucket{le=\"%.9g\"} %" PRIu64 "\n",
			name, (double)le / 1e9, rc_hist_count_le(h, le));
	}
	fprintf(f, "ringcache_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		"ringcache_%s_sum %.9g\nringcache_%s_count %" PRIu64 "\n",
		name, h->count, name, (double)h->sum_ns / 1e9, name, h->count);
}

void rcd_metrics_prometheus(const struct rcd_snapshot *s,
			    const struct rc_classes *cl,
			    const struct rc_hist *lat, FILE *f)
{
	struct prom_ctx p = {.f = f};

	fprintf(f, "# HELP ringcache_build_info The running ringcached's "
		"version and the DPDK it runs on (always 1)\n"
		"# TYPE ringcache_build_info gauge\n"
		"ringcache_build_info{version=\"%s\",dpdk=\"%s\"} 1\n",
		RC_VERSION, rcd_dpdk_version());
	visit(s, cl, prom_one, &p);
	fprintf(f, "# HELP ringcache_request_duration_seconds Service time "
		"of each operation, from the RX poll that received it to the "
		"TX burst that sent its reply\n"
		"# TYPE ringcache_request_duration_seconds histogram\n");
	for (unsigned op = 0; op < RC_OP__COUNT; op++)
		for (unsigned c = 0; c < RCD_LAT_CLASSES; c++) {
			const struct rc_hist *h =
				&lat[rcd_lat_series((uint8_t)op, (uint8_t)c)];
			char lbl[160];

			if (!h->count || (c < RC_STORE_MAX_CLASSES &&
					  c >= cl->n))
				continue;
			snprintf(lbl, sizeof(lbl), "op=\"%s\",class=\"%s\"",
				 rc_proto_opcode_name(op),
				 c < cl->n ? cl->c[c].name : "none");
			for (size_t i = 0; i < RTE_DIM(prom_le_ns); i++) {
				uint64_t le = rc_hist_edge_at_most(prom_le_ns[i]);

				fprintf(f, "ringcache_request_duration_seconds_"
					"bucket{%s,le=\"%.9g\"} %" PRIu64 "\n",
					lbl, (double)le / 1e9,
					rc_hist_count_le(h, le));
			}
			fprintf(f, "ringcache_request_duration_seconds_bucket"
				"{%s,le=\"+Inf\"} %" PRIu64 "\n"
				"ringcache_request_duration_seconds_sum{%s} "
				"%.9g\n"
				"ringcache_request_duration_seconds_count{%s} "
				"%" PRIu64 "\n", lbl, h->count, lbl,
				(double)h->sum_ns / 1e9, lbl, h->count);
		}
	prom_hist(f, "control_turn_seconds", "How long each turn of the "
		  "control loop took, wall clock (control socket, finished "
		  "commands, timers)", &s->ctl_turn);
	prom_hist(f, "control_turn_cpu_seconds", "CPU time of each turn of "
		  "the control loop (its own work; time the host gave to "
		  "others not counted)", &s->ctl_turn_cpu);
}

static void json_one(void *arg, const struct metric *m, const char *stat,
		     const char *labels, double v)
{
	(void)m;
	(void)labels;
	if (!stat)
		return;
	json_object_set_new(arg, stat,
			    v == (double)(json_int_t)v ? json_integer((json_int_t)v)
						       : json_real(v));
}

json_t *rcd_metrics_json(const struct rcd_snapshot *s,
			 const struct rc_classes *cl)
{
	json_t *o = json_object();

	visit(s, cl, json_one, o);
	return o;
}
