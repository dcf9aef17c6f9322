/* SPDX-License-Identifier: MIT
 * The control core's state, shared by its loop (control.c) and its
 * command handlers (ctl.c). Only the main lcore touches it, except the
 * published snapshot, which the metrics thread reads under `mu`. */
#ifndef RCD_CONTROL_H
#define RCD_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <jansson.h>
#include <rte_timer.h>

#include "metrics.h"
#include "node.h"
#include "rc_alert.h"
#include "rc_ctlsock.h"
#include "rc_hist.h"
#include "rc_http.h"
#include "rc_jsonq.h"
#include "rc_sched.h"

#define RCD_WIN_MAX 10u           /* the sliding window: last 10 s */
#define RCD_MAX_HOOKS 4u          /* alert hook commands running at once */
/* Records in one `warm` request (ringctl sends a file in chunks), and the
 * JSON items a control-socket line may hold: enough for that many
 * records of up to 16 items each. Bounds what the control core parses
 * in one turn. */
#define RCD_WARM_MAX_RECORDS 128u
#define RCD_CTL_MAX_ITEMS (RCD_WARM_MAX_RECORDS * 16u + 64u)
/* Request lines longer than this are parsed on the JSON thread. */
#define RCD_CTL_INLINE_PARSE 16384u

struct rcd_pend;

enum rcd_mode { RCD_MODE_AUTO = -1, RCD_MODE_OFF = 0, RCD_MODE_ON = 1 };

/* The alert window: the last alert.window_s seconds of the ring. */
struct rcd_window {
	unsigned s, old;             /* its seconds and the ring slot it
				      * starts from */
	struct rc_hist all;          /* every op over the window */
	double ops_s, hit_rate, total_hit_rate;
	bool hit_known;
};

struct rcd_ctl {
	struct rcd_node *nd;
	struct rcd_config *cfg;
	struct timespec t0;          /* CLOCK_MONOTONIC at start */
	struct rte_timer tick, scale;
	/* node.stats_file's writer (a thread: files have no place in a
	 * control turn). */
	pthread_t stats_th;
	bool stats_running, stats_quit;
	/* Latency: cumulative (all series) and one snapshot a second;
	 * cur_next is the one the tick fills, swapped in at its end. */
	struct rc_hist *cur, *cur_next;
	struct rc_hist *ring[RCD_WIN_MAX + 1];
	uint64_t ring_gets[RCD_WIN_MAX + 1], ring_hits[RCD_WIN_MAX + 1];
	uint64_t ring_ops[RCD_WIN_MAX + 1];
	unsigned ring_pos, ring_n;
	struct rcd_window win;       /* published at each tick's end */
	struct rcd_window win_next;  /* the tick's stages fill this one */
	/* Scaling. */
	struct rc_scale scale_st;
	struct rc_sched_eval cal;
	double override;             /* 0: none */
	time_t override_until;       /* wall-clock expiry */
	time_t test_now;             /* control.test_clock: 0 = real time */
	uint64_t budget_applied;
	uint32_t ttl_pct;
	/* Modes: operator override, else config, else schedule. */
	enum rcd_mode ro_mode, stale_mode;
	bool ro, stale;
	/* Alerts. */
	struct rc_alert alerts[3];
	unsigned hooks_running;
	uint64_t hooks_run, hooks_skipped;
	/* Published for the metrics thread. */
	pthread_mutex_t mu;
	struct rcd_snapshot snap;
	struct rc_http *http;
	struct rc_ctlsock *cs;
	uint64_t ctl_requests;
	/* Config reloads (ringctl config reload, SIGHUP). */
	uint64_t reloads, reloads_refused;
	bool reload_ok;               /* the last one applied (true at start) */
	double reload_ok_wall;        /* when it did (Unix time; start) */
	bool stats_warned;
	/* The control core's own turns (timers, replication, one command):
	 * how long it held its CPU at once. */
	uint64_t turn_max_ns, turns_over_100us, turns_over_1ms;
	struct rc_hist turn_hist;     /* every turn (published at each tick) */
	struct rc_hist turn_cpu_hist; /* the CPU time of each */
	uint64_t turns_blocked;       /* turns that slept (must be none) */
	unsigned tick_stage;          /* TICK_* (control.c): one a turn */
	struct rcd_snapshot tick_snap;
	/* Control-socket requests waiting on workers (ctl.c). */
	struct rcd_pend *pend;
	unsigned n_pend;
	uint64_t req_id;              /* the request being handled */
	bool big;                     /* its answer is large: print it on
				       * the JSON thread */
	struct rc_jsonq *jq;          /* NULL: parse and print here */
};

/* Note one turn of the control core that took ns. */
void rcd_ctl_turn(struct rcd_ctl *c, uint64_t ns);

/* Seconds since the control core started. */
double rcd_ctl_uptime(const struct rcd_ctl *c);

/* Calendar time the schedule sees: the test clock or now. */
time_t rcd_ctl_now(const struct rcd_ctl *c);

/* Re-evaluate the schedule, utilisation and override; apply budgets
 * and TTL factor, log changes. */
void rcd_ctl_scale(struct rcd_ctl *c, bool force_log);

/* Recompute read-only / serve-stale and push them to the workers. */
void rcd_ctl_modes(struct rcd_ctl *c);

/* (Re)arm the timers from the config. */
void rcd_ctl_timers(struct rcd_ctl *c);

/* Set up the alert state from the config (levels kept). */
void rcd_ctl_alerts_config(struct rcd_ctl *c);

/* One control-socket request line -> one response line, or
 * RC_CTLSOCK_LATER when it waits on workers (ctl.c; an rc_ctlsock_fn). */
char *rcd_ctl_handle(void *arg, uint64_t id, const char *line, size_t len);

/* Answer the requests whose workers are done or whose deadline passed.
 * @return requests answered. */
unsigned rcd_ctl_commands(struct rcd_ctl *c);

/* Take what the JSON thread finished: run parsed requests, send printed
 * answers. @return results taken. */
unsigned rcd_ctl_json(struct rcd_ctl *c);

/* At exit: give every waiting command to its worker. */
void rcd_ctl_commands_abandon(struct rcd_ctl *c);

#endif
