/* SPDX-License-Identifier: MIT
 * The control core (DPDK main lcore): rte_timer ticks gather the workers'
 * counters and histograms, keep the sliding windows, evaluate alerts,
 * the multiplier schedule and the protection modes, publish metrics; in
 * between it serves the control socket. It talks to workers only through
 * fields they read (read_only, ttl_pct), their command rings and the
 * store's cross-thread budget calls; it never runs a store operation. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_malloc.h>

#include <systemd/sd-daemon.h>

#include "control.h"
#include "policy.h"
#include "repl.h"

extern int rcd_logtype;
#define LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, rcd_logtype, "ringcached: " fmt "\n",       \
		##__VA_ARGS__)

extern char **environ;

/* The socket's directory when this process made it (run by hand; under
 * systemd RuntimeDirectory= makes it): removed again on exit. */
static char made_dir[RC_OPT_STR_MAX];

time_t rcd_ctl_now(const struct rcd_ctl *c)
{
	return c->test_now ? c->test_now : time(NULL);
}

double rcd_ctl_uptime(const struct rcd_ctl *c)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - c->t0.tv_sec) +
	       (double)(t.tv_nsec - c->t0.tv_nsec) / 1e9;
}

/* ---- modes ------------------------------------------------------------- */

static bool resolve(enum rcd_mode m, bool config, bool schedule)
{
	return m == RCD_MODE_AUTO ? config || schedule : m == RCD_MODE_ON;
}

void rcd_ctl_modes(struct rcd_ctl *c)
{
	struct rcd_node *nd = c->nd;
	bool ro = resolve(c->ro_mode, c->cfg->read_only, c->cal.readonly);
	bool st = resolve(c->stale_mode, c->cfg->serve_stale, c->cal.stale);

	if (ro != c->ro)
		LOG(NOTICE, "read-only mode %s (%s)", ro ? "ON" : "off",
		    c->ro_mode != RCD_MODE_AUTO ? "ringctl"
		    : c->cfg->read_only ? "protect.read_only"
					: "schedule");
	if (st != c->stale)
		LOG(NOTICE, "serve-stale mode %s, grace %lu s (%s)",
		    st ? "ON" : "off", (unsigned long)c->cfg->stale_grace_s,
		    c->stale_mode != RCD_MODE_AUTO ? "ringctl"
		    : c->cfg->serve_stale ? "protect.serve_stale"
					  : "schedule");
	c->ro = ro;
	c->stale = st;
	if (nd->n_workers && nd->workers[0]->io_only != c->cfg->io_only)
		LOG(NOTICE, "dpdk.io_only %s", c->cfg->io_only
			    ? "ON: requests answered without the store" : "off");
	for (unsigned i = 0; i < nd->n_workers; i++) {
		nd->workers[i]->io_only = c->cfg->io_only;
		nd->workers[i]->p.read_only = ro;
		nd->workers[i]->p.ttl_pct = c->ttl_pct;
		rc_store_set_stale_grace(nd->workers[i]->p.store,
					 st ? (uint32_t)c->cfg->stale_grace_s
					    : 0);
	}
}

/* ---- scaling ----------------------------------------------------------- */

void rcd_ctl_scale(struct rcd_ctl *c, bool force_log)
{
	const struct rcd_config *cfg = c->cfg;
	struct rcd_node *nd = c->nd;
	const struct rc_scale_config sc = {
		.base = cfg->memory,
		.cap = rcd_memory_cap(cfg),
		.max_factor = cfg->max_factor,
		.util_high = cfg->util_high,
		.util_low = cfg->util_low,
		.util_step = cfg->util_step,
	};
	const struct rc_store_stats *st = &c->snap.sum.store;
	time_t now = rcd_ctl_now(c);
	double util = st->bytes_limit ? (double)st->bytes_used /
					(double)st->bytes_limit
				      : -1;
	uint32_t ttl_pct;
	struct tm lt;

	if (c->override && now >= c->override_until) {
		LOG(NOTICE, "multiplier override x%.2f expired", c->override);
		c->override = 0;
	}
	localtime_r(&now, &lt);
	rc_sched_eval(&cfg->sched, &lt, &c->cal);
	rc_scale_eval(&sc, &c->scale_st, &c->cal, c->override, util);
	ttl_pct = (uint32_t)(c->cal.ttl * 100 + 0.5);
	if (c->scale_st.budget != c->budget_applied || force_log ||
	    ttl_pct != c->ttl_pct) {
		uint64_t per = c->scale_st.budget / nd->n_workers;
		int bad = 0;

		for (unsigned i = 0; i < nd->n_workers; i++)
			bad |= rc_store_set_memory(nd->workers[i]->p.store,
						   per) != 0;
		LOG(NOTICE, "memory budget %lu -> %lu bytes (x%.2f of "
		    "store.memory), TTLs x%.2f: %s%s",
		    (unsigned long)c->budget_applied,
		    (unsigned long)c->scale_st.budget, c->scale_st.effective,
		    c->cal.ttl, c->scale_st.reason,
		    bad ? " [a partition refused it]" : "");
		c->budget_applied = c->scale_st.budget;
		c->ttl_pct = ttl_pct;
	}
	rcd_ctl_modes(c);
}

/* ---- alerts ------------------------------------------------------------ */

void rcd_ctl_alerts_config(struct rcd_ctl *c)
{
	for (int i = 0; i < 3; i++) {
		struct rc_alert *a = &c->alerts[i];

		a->name = rcd_alert_names[i];
		a->higher_is_worse = i != 1;
		a->scale = i == 1 ? 100 : 0;
		memcpy(a->thr, c->cfg->alert_thr[i], sizeof(a->thr));
		a->margin = c->cfg->alert_margin_pct / 100.0;
		a->clear_after = (unsigned)c->cfg->alert_clear_after_s;
	}
}

static void run_hook(struct rcd_ctl *c, const struct rc_alert *a,
		     enum rc_alert_level prev)
{
	char e_name[64], e_level[64], e_prev[64], e_value[64];
	char *env[64], *argv[] = {"/bin/sh", "-c", c->cfg->alert_hook, NULL};
	unsigned n = 0;
	pid_t pid;

	if (!c->cfg->alert_hook[0])
		return;
	if (c->hooks_running >= RCD_MAX_HOOKS) {
		c->hooks_skipped++;
		LOG(WARNING, "alert hook not run: %u still running",
		    c->hooks_running);
		return;
	}
	snprintf(e_name, sizeof(e_name), "RC_ALERT=%s", a->name);
	snprintf(e_level, sizeof(e_level), "RC_ALERT_LEVEL=%s",
		 rc_alert_level_name(a->level));
	snprintf(e_prev, sizeof(e_prev), "RC_ALERT_PREVIOUS=%s",
		 rc_alert_level_name(prev));
	snprintf(e_value, sizeof(e_value), "RC_ALERT_VALUE=%.6g", a->value);
	for (char **e = environ; *e && n < RTE_DIM(env) - 5; e++)
		env[n++] = *e;
	env[n++] = e_name;
	env[n++] = e_level;
	env[n++] = e_prev;
	env[n++] = e_value;
	env[n] = NULL;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, env) != 0) {
		LOG(WARNING, "alert hook: cannot start /bin/sh: %s",
		    strerror(errno));
		return;
	}
	c->hooks_running++;
	c->hooks_run++;
}

static void reap_hooks(struct rcd_ctl *c)
{
	int status;

	while (c->hooks_running && waitpid(-1, &status, WNOHANG) > 0) {
		c->hooks_running--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			LOG(WARNING, "alert hook exited with status %d",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
}

static void eval_alerts(struct rcd_ctl *c)
{
	const struct rc_store_stats *st = &c->snap.sum.store;
	double v[3];
	bool known[3];

	v[0] = (double)rc_hist_quantile(&c->win.all, 0.99) / 1e6;
	known[0] = c->win.all.count > 0;
	v[1] = c->win.hit_rate * 100;
	known[1] = c->win.hit_known;
	v[2] = st->bytes_limit ? 100.0 * (double)st->bytes_used /
					 (double)st->bytes_limit
			       : 0;
	known[2] = st->bytes_limit > 0;
	for (int i = 0; i < 3; i++) {
		struct rc_alert *a = &c->alerts[i];
		enum rc_alert_level prev;

		if (!rc_alert_eval(a, v[i], known[i], &prev))
			continue;
		rte_log(a->level > prev ? RTE_LOG_WARNING : RTE_LOG_NOTICE,
			rcd_logtype, "ringcached: alert %s: %s -> %s (value %.4g; thresholds %g, %g, %g)\n",
		    a->name, rc_alert_level_name(prev),
		    rc_alert_level_name(a->level), a->value, a->thr[0],
		    a->thr[1], a->thr[2]);
		run_hook(c, a, prev);
	}
}

/* ---- the one-second tick ------------------------------------------------ */

/* The tick, in stages: each control turn runs one, so that no turn
 * holds its CPU long (the whole tick took up to 0.6 ms, on a CPU the
 * clients' generator may share: issue 16). The metrics thread reads
 * `snap` and `cur` under `mu`; everything else here is the control
 * core's own. */
enum { TICK_IDLE = 0, TICK_WORKERS, TICK_HOST, TICK_LATENCY, TICK_WINDOW,
       TICK_PUBLISH };

/* Every series any worker used, summed into cur_next; ring slot. */
static void gather_latency(struct rcd_ctl *c, const struct rcd_snapshot *s)
{
	struct rcd_node *nd = c->nd;

	/* Only series that ever saw an op are summed and copied: a node
	 * uses a few of the RCD_LAT_SERIES, and the whole set is ~340 KB
	 * to walk each second on a CPU that serves clients too. A series
	 * never used has count 0 in every worker and in every snapshot. */
	c->ring_pos = (c->ring_pos + 1) % (RCD_WIN_MAX + 1);
	for (unsigned k = 0; k < RCD_LAT_SERIES; k++) {
		bool used = false;

		for (unsigned i = 0; i < nd->n_workers && !used; i++)
			used = nd->workers[i]->lat[k].count != 0;
		if (!used)
			continue;
		memset(&c->cur_next[k], 0, sizeof(c->cur_next[k]));
		for (unsigned i = 0; i < nd->n_workers; i++)
			rc_hist_merge(&c->cur_next[k], &nd->workers[i]->lat[k]);
		c->ring[c->ring_pos][k] = c->cur_next[k];
	}
	c->ring_gets[c->ring_pos] = s->sum.store.gets;
	c->ring_hits[c->ring_pos] = s->sum.store.hits;
	/* Operations, not datagrams: a multi-get of 8 keys is 8. */
	c->ring_ops[c->ring_pos] = 0;
	for (unsigned o = 0; o < RC_OP__COUNT; o++)
		c->ring_ops[c->ring_pos] += s->sum.srv.ops[o];
	if (c->ring_n < RCD_WIN_MAX + 1)
		c->ring_n++;
}

/* The alert window over cur_next, into the *_next fields (ctl.c reads
 * the published ones, with `cur`, until the publish stage). */
static void gather_window(struct rcd_ctl *c, const struct rcd_snapshot *s)
{
	unsigned w = (unsigned)c->cfg->alert_window_s, old;
	const struct rc_hist *base;
	struct rc_hist tmp;
	uint64_t g, h;

	if (w > c->ring_n - 1)
		w = c->ring_n - 1;
	old = (c->ring_pos + RCD_WIN_MAX + 1 - w) % (RCD_WIN_MAX + 1);
	c->win_next.s = w;
	c->win_next.old = old;
	base = c->ring[old];
	memset(&c->win_next.all, 0, sizeof(c->win_next.all));
	for (unsigned k = 0; k < RCD_LAT_SERIES; k++) {
		if (c->cur_next[k].count == base[k].count)
			continue; /* nothing in the window */
		rc_hist_diff(&tmp, &c->cur_next[k], &base[k]);
		rc_hist_merge(&c->win_next.all, &tmp);
	}
	g = c->ring_gets[c->ring_pos] - c->ring_gets[old];
	h = c->ring_hits[c->ring_pos] - c->ring_hits[old];
	c->win_next.hit_known = w > 0 && g >= c->cfg->alert_min_gets;
	c->win_next.hit_rate = g ? (double)h / (double)g : 0;
	c->win_next.ops_s = w ? (double)(c->ring_ops[c->ring_pos] -
					 c->ring_ops[old]) / w
			      : 0;
	c->win_next.total_hit_rate = s->sum.store.gets
		? (double)s->sum.store.hits / (double)s->sum.store.gets : 0;
}

/* What the stages gathered becomes what everyone reads. */
static void publish_tick(struct rcd_ctl *c, const struct rcd_snapshot *s)
{
	struct rc_hist *t = c->cur;

	c->cur = c->cur_next;
	c->cur_next = t;
	c->win = c->win_next;
	c->snap.sum = s->sum;
	c->snap.nic = s->nic;
	c->snap.nic_ok = s->nic_ok;
	c->snap.published_ns = s->published_ns;
	c->snap.n_workers = s->n_workers;
	memcpy(c->snap.wk, s->wk, s->n_workers * sizeof(s->wk[0]));
	c->snap.proc = s->proc;
	c->snap.ctl_turn = c->turn_hist;
	c->snap.ctl_turn_cpu = c->turn_cpu_hist;
}

static void fill_gauges(struct rcd_ctl *c, struct rcd_gauges *g)
{
	g->uptime_s = rcd_ctl_uptime(c);
	g->multiplier = c->scale_st.effective;
	g->calendar_factor = c->scale_st.factor;
	g->ttl_multiplier = c->ttl_pct / 100.0;
	g->memory_budget = (double)c->budget_applied;
	g->memory_cap = (double)rcd_memory_cap(c->cfg);
	g->read_only = c->ro;
	g->serve_stale = c->stale;
	g->override_active = c->override > 0;
	for (int i = 0; i < 3; i++)
		g->alert[i] = c->alerts[i].level;
	g->ctl_requests = (double)c->ctl_requests;
	g->reloads = (double)c->reloads;
	g->reloads_refused = (double)c->reloads_refused;
	g->reload_ok = c->reload_ok;
	g->reload_ok_wall = c->reload_ok_wall;
	g->turn_max_s = (double)c->turn_max_ns / 1e9;
	g->turns_over_100us = (double)c->turns_over_100us;
	g->turns_over_1ms = (double)c->turns_over_1ms;
	g->turns_blocked = (double)c->turns_blocked;
	if (c->cs) {
		struct rc_ctlsock_stats cs;

		rc_ctlsock_get_stats(c->cs, &cs);
		g->ctl_too_long = (double)cs.too_long;
		g->ctl_too_complex = (double)cs.too_complex;
		g->ctl_busy = (double)cs.refused;
		g->ctl_stalled = (double)cs.stalled;
		g->ctl_idle_closed = (double)cs.idle_closed;
		g->ctl_evicted = (double)cs.evicted;
	}
	if (c->http) {
		struct rc_http_stats hs;

		rc_http_get_stats(c->http, &hs);
		g->http_connections = (double)hs.connections;
		g->http_served = (double)hs.served;
		g->http_timeouts = (double)hs.timeouts;
	}
	g->hooks_run = (double)c->hooks_run;
	g->hooks_skipped = (double)c->hooks_skipped;
	if (c->nd->repl) {
		struct rc_repl_view rg;
		struct rc_repl_stats rs;

		rcd_repl_gauges(c->nd->repl, &rg, &rs);
		g->repl_role = rg.role;
		g->repl_epoch = rg.epoch;
		g->repl_connected = rg.connected;
		g->repl_phase = rg.phase;
		g->repl_lag_records = (double)rg.lag_records;
		g->repl_lag_seconds = rg.lag_seconds;
		g->repl_snapshot_progress = rg.snapshot_progress;
		g->repl_seq = (double)rg.seq;
		g->repl_promotions = (double)rs.promotions;
		g->repl_demotions = (double)rs.demotions;
		g->repl_resets = (double)rs.resets;
		g->repl_resumes = (double)rs.resumes;
		g->repl_records_out = (double)rs.records_out;
		g->repl_records_in = (double)rs.records_in;
		g->repl_bad_frames = (double)rs.bad_frames;
		g->repl_pauses = (double)rs.pauses;
		g->repl_bad_auth = (double)rs.bad_auth;
		g->repl_replayed = (double)rs.replayed;
	}
}

/* One stage of the tick (see TICK_*). The metrics thread holds `mu`
 * while it prints a scrape (milliseconds): the control loop never
 * waits for it; the publish stage tries again at its next turn. */
static void tick_step(struct rcd_ctl *c)
{
	struct rcd_snapshot *s = &c->tick_snap;

	switch (c->tick_stage) {
	case TICK_WORKERS:
		rcd_snapshot_workers(s, c->nd->workers, c->nd->n_workers);
		break;
	case TICK_HOST:
		rcd_snapshot_host(s, (uint16_t)c->cfg->port_id);
		break;
	case TICK_LATENCY:
		gather_latency(c, s);
		break;
	case TICK_WINDOW:
		gather_window(c, s);
		break;
	case TICK_PUBLISH:
		if (pthread_mutex_trylock(&c->mu) != 0)
			return;
		publish_tick(c, s);
		eval_alerts(c);
		fill_gauges(c, &c->snap.g);
		pthread_mutex_unlock(&c->mu);
		reap_hooks(c);
		c->tick_stage = TICK_IDLE;
		return;
	default:
		return;
	}
	c->tick_stage++;
}

static void on_tick(struct rte_timer *t, void *arg)
{
	struct rcd_ctl *c = arg;

	(void)t;
	/* A tick still running (mu held for seconds by a stalled scrape)
	 * is not started over. */
	if (c->tick_stage == TICK_IDLE)
		c->tick_stage = TICK_WORKERS;
}

/* node.stats_file, every stats_interval_ms, on a thread of its own:
 * gathering and writing a file (a rename, a disk) has no place in a
 * control turn (a turn that sleeps is counted as blocked). Worker
 * counters are plain words their workers write: any thread may read
 * them, as the control core does. */
static void *stats_thread(void *arg)
{
	struct rcd_ctl *c = arg;
	struct rcd_snapshot *s = malloc(sizeof(*s));
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (!s) {
		LOG(ERR, "stats file: out of memory; not written");
		return NULL;
	}
	while (!__atomic_load_n(&c->stats_quit, __ATOMIC_ACQUIRE)) {
		uint64_t ms = __atomic_load_n(&c->cfg->stats_interval_ms,
					      __ATOMIC_RELAXED);
		struct timespec d = {(time_t)(ms / 1000),
				     (long)(ms % 1000) * 1000000};

		nanosleep(&d, NULL);
		rcd_snapshot_take(s, c->nd->workers, c->nd->n_workers,
				  (uint16_t)c->cfg->port_id);
		/* Printed under `mu`, as a scrape is (the gauges, the
		 * classes); written outside it. */
		pthread_mutex_lock(&c->mu);
		s->g = c->snap.g;
		rc = rcd_metrics_text(s, &c->cfg->cl, &buf, &len);
		pthread_mutex_unlock(&c->mu);
		if (rc == 0)
			rc = rcd_file_replace(c->cfg->stats_file, buf, len);
		free(buf);
		buf = NULL;
		if (rc != 0 && !c->stats_warned) {
			LOG(WARNING, "cannot write %s: %s", c->cfg->stats_file,
			    strerror(-rc));
			c->stats_warned = true;
		}
	}
	free(s);
	return NULL;
}

static void on_scale(struct rte_timer *t, void *arg)
{
	(void)t;
	rcd_ctl_scale(arg, false);
}

void rcd_ctl_timers(struct rcd_ctl *c)
{
	const uint64_t hz = rte_get_timer_hz();
	const unsigned me = rte_lcore_id();

	rte_timer_reset_sync(&c->tick, hz, PERIODICAL, me, on_tick, c);
	rte_timer_reset_sync(&c->scale, hz * c->cfg->scaling_interval_s,
			     PERIODICAL, me, on_scale, c);
}

static char *render_metrics(void *arg)
{
	static __thread bool named;
	struct rcd_ctl *c = arg;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	/* libmicrohttpd's thread, named so that a trace of the host tells
	 * it from the control core (both would be "ringcached"). */
	if (!named) {
		pthread_setname_np(pthread_self(), "rc-metrics");
		named = true;
	}
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	pthread_mutex_lock(&c->mu);
	rcd_metrics_prometheus(&c->snap, &c->cfg->cl, c->cur, f);
	pthread_mutex_unlock(&c->mu);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int setup(struct rcd_ctl *c)
{
	struct rcd_config *cfg = c->cfg;
	char err[256];

	c->cur = calloc(RCD_LAT_SERIES, sizeof(struct rc_hist));
	c->cur_next = calloc(RCD_LAT_SERIES, sizeof(struct rc_hist));
	for (unsigned i = 0; i <= RCD_WIN_MAX; i++)
		c->ring[i] = calloc(RCD_LAT_SERIES, sizeof(struct rc_hist));
	for (unsigned i = 0; i <= RCD_WIN_MAX; i++)
		if (!c->ring[i])
			return -ENOMEM;
	if (!c->cur || !c->cur_next)
		return -ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->reload_ok = true;
	c->reload_ok_wall = (double)rcd_ctl_now(c);
	c->ro_mode = c->stale_mode = RCD_MODE_AUTO;
	c->ttl_pct = 100;
	setenv("TZ", cfg->timezone, 1);
	tzset();
	rcd_ctl_alerts_config(c);
	rcd_ctl_scale(c, true);
	if (cfg->ctl_socket[0]) {
		char dir[RC_OPT_STR_MAX], *slash;

		/* /run/ringcache is systemd's RuntimeDirectory; made here
		 * when run by hand. */
		snprintf(dir, sizeof(dir), "%s", cfg->ctl_socket);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) == 0) {
				LOG(INFO, "created %s", dir);
				snprintf(made_dir, sizeof(made_dir), "%s",
					 dir);
			}
		}
		c->cs = rc_ctlsock_open(cfg->ctl_socket,
					(mode_t)strtoul(cfg->ctl_socket_mode,
							NULL, 8),
					(unsigned)cfg->ctl_max_clients,
					(size_t)cfg->ctl_max_line);
		if (!c->cs) {
			LOG(ERR, "control socket %s: %s", cfg->ctl_socket,
			    strerror(errno));
			return -errno;
		}
		if (cfg->ctl_socket_group[0] &&
		    chown(cfg->ctl_socket, (uid_t)-1,
			  rcd_socket_gid(cfg->ctl_socket_group)) != 0) {
			int e = errno;

			LOG(ERR, "control socket %s: cannot give it group "
			    "%s: %s", cfg->ctl_socket, cfg->ctl_socket_group,
			    strerror(e));
			return -e;
		}
		rc_ctlsock_set_idle_timeout(
			c->cs, (unsigned)cfg->ctl_idle_timeout_s * 1000u);
		rc_ctlsock_set_max_items(c->cs, RCD_CTL_MAX_ITEMS);
		c->jq = rc_jsonq_create();
		if (!c->jq)
			LOG(WARNING, "no JSON thread (%s): large control "
			    "requests are parsed on the control core",
			    strerror(errno));
		LOG(INFO, "control socket %s (mode %s%s%s)", cfg->ctl_socket,
		    cfg->ctl_socket_mode, cfg->ctl_socket_group[0]
		    ? ", group " : "", cfg->ctl_socket_group);
	}
	if (cfg->metrics_listen[0]) {
		c->http = rc_http_start(cfg->metrics_listen, 16,
					render_metrics, c, err, sizeof(err));
		if (!c->http) {
			LOG(ERR, "metrics endpoint: %s", err);
			return -EADDRINUSE;
		}
		LOG(INFO, "metrics at http://%s/metrics", cfg->metrics_listen);
	}
	rte_timer_init(&c->tick);
	rte_timer_init(&c->scale);
	rcd_ctl_timers(c);
	/* The first snapshot, whole, before "ready". */
	on_tick(&c->tick, c);
	while (c->tick_stage != TICK_IDLE)
		tick_step(c);
	if (cfg->stats_file[0]) {
		int e = pthread_create(&c->stats_th, NULL, stats_thread, c);

		if (e != 0) {
			LOG(ERR, "stats file: no thread: %s", strerror(e));
			return -e;
		}
		pthread_setname_np(c->stats_th, "rc-stats");
		c->stats_running = true;
	}
	return 0;
}

static void cleanup(struct rcd_ctl *c)
{
	rte_timer_stop_sync(&c->tick);
	rte_timer_stop_sync(&c->scale);
	if (c->stats_running) {
		__atomic_store_n(&c->stats_quit, true, __ATOMIC_RELEASE);
		pthread_join(c->stats_th, NULL);
	}
	rc_http_stop(c->http);
	rcd_ctl_commands_abandon(c);
	rc_jsonq_destroy(c->jq);
	rc_ctlsock_close(c->cs);
	if (made_dir[0] && rmdir(made_dir) != 0)
		LOG(INFO, "left %s: %s", made_dir, strerror(errno));
	while (c->hooks_running && wait(NULL) > 0)
		c->hooks_running--;
	free(c->cur);
	free(c->cur_next);
	for (unsigned i = 0; i <= RCD_WIN_MAX; i++)
		free(c->ring[i]);
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000u +
	       (uint64_t)tv->tv_usec * 1000u;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rcd_ctl_turn(struct rcd_ctl *c, uint64_t ns)
{
	rc_hist_add(&c->turn_hist, ns);
	if (ns > c->turn_max_ns)
		c->turn_max_ns = ns;
	c->turns_over_100us += ns > 100000;
	c->turns_over_1ms += ns > 1000000;
}

/* Everything serves: the workers, the control socket, the metrics
 * endpoint. Tell the log and systemd (Type=notify). */
static void announce_ready(struct rcd_ctl *c)
{
	const struct rcd_node *nd = c->nd;
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &nd->cfg.ip, ip, sizeof(ip));
	LOG(NOTICE, "ready: %s udp/%u-%u, %u worker(s), %lu bytes of store",
	    ip, nd->ifc.base_port, nd->ifc.base_port + nd->n_workers - 1,
	    nd->n_workers, (unsigned long)nd->cfg.memory);
	sd_notifyf(0, "READY=1\nSTATUS=serving %s udp/%u-%u, %u worker(s)",
		   ip, nd->ifc.base_port,
		   nd->ifc.base_port + nd->n_workers - 1, nd->n_workers);
}

/* Free the request tables workers moved past; say when a reload's new
 * ones are in force everywhere (the reload itself answered at once). */
static void reclaim_policies(struct rcd_node *nd)
{
	uint64_t ns = rcd_policy_reclaim(nd);

	if (ns)
		LOG(NOTICE, "config reload: all %u workers use the new ACL, "
		    "rate and class tables (seen %.3f ms after the reload)",
		    nd->n_workers, (double)ns / 1e6);
}

/* SIGHUP: the same reload as `ringctl config reload`, on this core. */
static void reload_on_signal(struct rcd_ctl *c)
{
	static const char req[] = "{\"cmd\":\"config_reload\"}";
	struct timespec t;
	char *resp;

	clock_gettime(CLOCK_MONOTONIC, &t);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)t.tv_sec * 1000000ULL +
			   (unsigned long long)t.tv_nsec / 1000);
	LOG(NOTICE, "SIGHUP: reloading %s",
	    c->nd->config_path ? c->nd->config_path : "(no file: defaults)");
	resp = rcd_ctl_handle(c, 0, req, sizeof(req) - 1); /* never later */
	LOG(NOTICE, "SIGHUP: reload: %s", resp ? resp : "out of memory");
	free(resp);
	sd_notify(0, "READY=1");
}

int rcd_control_run(struct rcd_node *nd)
{
	static struct rcd_ctl c;
	uint64_t t[4], long_logged = 0, cpu;
	struct rusage ru0, ru1;
	int rc;

	c.nd = nd;
	c.cfg = &nd->cfg;
	rc = setup(&c);
	if (rc == 0)
		announce_ready(&c);
	/* Replication runs on its own thread (repl.h): this loop serves the
	 * control socket and the timers, and nothing it waits on can delay
	 * a heartbeat. It never waits inside a turn: a request that needs
	 * workers is parked (ctl.c) and answered by a later turn; each turn
	 * is timed (ringcache_control_turn_seconds). While requests are
	 * parked, or a tick is in its stages, it turns every 100 us; idle,
	 * every 20 ms (a request wakes it at once; its timers need no
	 * finer grain, and each wake-up costs the CPU it shares). */
	while (rc == 0 && !*nd->quit) {
		const long nap_us = c.n_pend || c.tick_stage != TICK_IDLE ||
					    (c.jq && rc_jsonq_in_flight(c.jq))
				    ? 100 : 20000;
		uint64_t t0;

		if (c.cs)
			rc_ctlsock_wait(c.cs, nap_us);
		else
			usleep((useconds_t)nap_us);
		t0 = now_ns();
		getrusage(RUSAGE_THREAD, &ru0);
		if (c.tick_stage != TICK_IDLE)
			tick_step(&c);
		if (*nd->reload) {
			*nd->reload = 0;
			reload_on_signal(&c);
		}
		if (c.cs)
			c.ctl_requests += rc_ctlsock_serve(c.cs, rcd_ctl_handle,
							   &c);
		t[0] = now_ns();
		rcd_ctl_json(&c);
		t[1] = now_ns();
		rcd_ctl_commands(&c);
		reclaim_policies(nd);
		t[2] = now_ns();
		rte_timer_manage();
		t[3] = now_ns();
		getrusage(RUSAGE_THREAD, &ru1);
		rcd_ctl_turn(&c, t[3] - t0);
		/* The CPU it used, and whether it slept: a turn must never
		 * wait (a voluntary switch is a blocking call or a lock). */
		cpu = tv_ns(&ru1.ru_utime) + tv_ns(&ru1.ru_stime) -
		      tv_ns(&ru0.ru_utime) - tv_ns(&ru0.ru_stime);
		rc_hist_add(&c.turn_cpu_hist, cpu);
		c.turns_blocked += ru1.ru_nvcsw != ru0.ru_nvcsw;
		/* Say where a long turn went (at most once in 10 s). */
		if (t[3] - t0 > 10000000 && t[3] - long_logged > 10000000000ull) {
			LOG(INFO, "control turn of %.1f ms (%.1f ms of CPU, "
			    "%ld involuntary switches): socket %.1f, json %.1f, "
			    "commands %.1f, timers %.1f ms; the rest of 10 s "
			    "is not logged", (t[3] - t0) / 1e6, cpu / 1e6,
			    ru1.ru_nivcsw - ru0.ru_nivcsw, (t[0] - t0) / 1e6,
			    (t[1] - t[0]) / 1e6, (t[2] - t[1]) / 1e6,
			    (t[3] - t[2]) / 1e6);
			long_logged = t[3];
		}
	}
	cleanup(&c);
	return rc;
}
