/* SPDX-License-Identifier: MIT
 * Every metric of the node, declared once (metrics.c): the table feeds
 * the stats file, the Prometheus endpoint and `ringctl stats`. */
#ifndef RCD_METRICS_H
#define RCD_METRICS_H

#include <stdio.h>

#include <jansson.h>
#include <rte_ethdev.h>

#include "rc_alert.h"
#include "rc_classes.h"
#include "rc_proc.h"
#include "worker.h"

/* Values the control core computes (not worker counters). */
struct rcd_gauges {
	double uptime_s;
	double multiplier;           /* effective: budget / store.memory */
	double calendar_factor;      /* calendar or override, bounded */
	double ttl_multiplier;
	double memory_budget;        /* bytes, all partitions */
	double memory_cap;
	double read_only, serve_stale;
	double override_active;
	double alert[3];             /* latency, hit_rate, memory levels */
	double ctl_requests;
	double reloads, reloads_refused, reload_ok, reload_ok_wall;
	double turn_max_s, turns_over_100us, turns_over_1ms, turns_blocked;
	double ctl_too_long, ctl_too_complex, ctl_busy;
	double ctl_stalled, ctl_idle_closed, ctl_evicted;
	double http_connections, http_served, http_timeouts;
	double hooks_run, hooks_skipped;
	double repl_role, repl_epoch, repl_connected, repl_phase;
	double repl_lag_records, repl_lag_seconds, repl_snapshot_progress;
	double repl_seq, repl_promotions, repl_demotions, repl_resets;
	double repl_resumes, repl_records_out, repl_records_in;
	double repl_bad_frames;
	double repl_bad_auth, repl_replayed, repl_pauses;
};

/* One worker's own series (the sum hides an idle or a saturated one). */
struct rcd_worker_brief {
	double id;                   /* = partition = queue */
	double polls[2];             /* loop turns with work, without */
	double busy_cycles;          /* TSC cycles of the turns with work */
	double busy_s;               /* the same in seconds */
	double rx_packets, requests;
	double ops[RC_OP__COUNT];
};

/* What the control core gathered at one tick. */
struct rcd_snapshot {
	struct rcd_worker_stats sum;
	struct rte_eth_stats nic;
	int nic_ok;
	struct rcd_gauges g;
	uint64_t published_ns;       /* oldest worker publish (monotonic) */
	unsigned n_workers;
	struct rcd_worker_brief wk[RCD_MAX_WORKERS];
	struct rc_proc_stats proc;   /* this process, from /proc/self */
	struct rc_hist ctl_turn;     /* the control loop's turns: wall time */
	struct rc_hist ctl_turn_cpu; /* and CPU time */
};

/* Sum the workers' counters, copy each one's own series, read the
 * NIC's counters and the process's figures: the two halves below. */
void rcd_snapshot_take(struct rcd_snapshot *s, struct rcd_worker *const *w,
		       unsigned n, uint16_t port_id);
void rcd_snapshot_workers(struct rcd_snapshot *s,
			  struct rcd_worker *const *w, unsigned n);
void rcd_snapshot_host(struct rcd_snapshot *s, uint16_t port_id);

/* Sum of all workers' counters. */
void rcd_stats_sum(struct rcd_worker *const *w, unsigned n,
		   struct rcd_worker_stats *sum);

/* "name value" lines: the stats file and ringcached's exit report. */
void rcd_metrics_print(const struct rcd_snapshot *s,
		       const struct rc_classes *cl, FILE *f);

/* rcd_metrics_print's lines in a buffer of open_memstream's (free it).
 * @return 0 or a negative errno. */
int rcd_metrics_text(const struct rcd_snapshot *s,
		     const struct rc_classes *cl, char **buf, size_t *len);

/* Replace path by buf[0..len) at once (a new file, renamed over it).
 * @return 0 or a negative errno. */
int rcd_file_replace(const char *path, const char *buf, size_t len);

/* Atomically replace path with rcd_metrics_print's lines. */
int rcd_metrics_write_file(const struct rcd_snapshot *s,
			   const struct rc_classes *cl, const char *path);

/* Prometheus text exposition of every metric, plus the latency
 * histograms (RCD_LAT_SERIES, cumulative since start). */
void rcd_metrics_prometheus(const struct rcd_snapshot *s,
			    const struct rc_classes *cl,
			    const struct rc_hist *lat, FILE *f);

/* Every metric as {"name": value} (stats-file names). */
json_t *rcd_metrics_json(const struct rcd_snapshot *s,
			 const struct rc_classes *cl);

extern const char *const rcd_alert_names[3];

/* "22.11.11" from rte_version()'s "DPDK 22.11.11". */
const char *rcd_dpdk_version(void);

#endif
