/* SPDX-License-Identifier: MIT
 * The control socket's commands: one JSON object per line in,
 *   {"cmd": "status", ...arguments}
 * one JSON object per line out,
 *   {"ok": true, ...} or {"ok": false, "error": "text", "code": "..."}.
 * Store work (get, del, flush, warm) becomes commands on the owning
 * workers' rings (cmd.c); nothing here touches a partition. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_version.h>

#include "ctl_int.h"
#include "policy.h"
#include "repl.h"

extern int rcd_logtype;
#define LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, rcd_logtype, "ringcached: " fmt "\n",       \
		##__VA_ARGS__)

json_t *rcd_ctl_fail(const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s,s:s}", "ok", 0, "error", msg, "code", code);
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

/* The marker a command returns when it has parked the request. */
json_t rcd_ctl_later;
#define LATER RCD_CTL_LATER

int rcd_ctl_class(const struct rcd_ctl *c, const char *name)
{
	for (unsigned i = 0; name && i < c->cfg->cl.n; i++)
		if (strcmp(c->cfg->cl.c[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The answer as text now, or printed on the JSON thread when it is
 * large (c->big: a value, the stats, the options). */
char *rcd_ctl_answer_text(struct rcd_ctl *c, uint64_t id, json_t *resp)
{
	char *out;

	if (resp == LATER)
		return RC_CTLSOCK_LATER;
	if (c->big && c->jq && id && rc_jsonq_print(c->jq, id, resp) == 0)
		return RC_CTLSOCK_LATER;
	out = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	return out;
}


/* ---- status and stats ----------------------------------------------------- */

static json_t *latency_json(const struct rc_hist *h)
{
	return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f}", "count",
			 (json_int_t)h->count, "p50_ms",
			 rc_hist_quantile(h, 0.50) / 1e6, "p90_ms",
			 rc_hist_quantile(h, 0.90) / 1e6, "p99_ms",
			 rc_hist_quantile(h, 0.99) / 1e6, "p999_ms",
			 rc_hist_quantile(h, 0.999) / 1e6, "max_ms",
			 h->max_ns / 1e6);
}

static json_t *multiplier_json(struct rcd_ctl *c)
{
	time_t now = rcd_ctl_now(c);
	json_t *m = json_pack(
		"{s:f,s:f,s:f,s:s,s:s,s:I,s:I,s:I,s:b,s:s}", "effective",
		c->scale_st.effective, "factor", c->scale_st.factor,
		"ttl", c->ttl_pct / 100.0, "source", c->scale_st.source,
		"reason", c->scale_st.reason, "budget_bytes",
		(json_int_t)c->budget_applied, "base_bytes",
		(json_int_t)c->cfg->memory, "cap_bytes",
		(json_int_t)rcd_memory_cap(c->cfg), "capped",
		c->scale_st.capped, "timezone", c->cfg->timezone);
	char when[64];
	struct tm lt;

	localtime_r(&now, &lt);
	strftime(when, sizeof(when), "%Y-%m-%d %a %H:%M %Z", &lt);
	json_object_set_new(m, "calendar_time", json_string(when));
	json_object_set_new(m, "test_clock", json_boolean(c->test_now != 0));
	json_object_set_new(m, "utilisation_boost",
			    json_real(c->scale_st.boost));
	if (c->override)
		json_object_set_new(m, "override",
				    json_pack("{s:f,s:I}", "value", c->override,
					      "expires_in_s",
					      (json_int_t)(c->override_until -
							   now)));
	return m;
}

static const char *mode_source(enum rcd_mode m, bool cfg, bool sched)
{
	return m != RCD_MODE_AUTO ? "ringctl" : cfg ? "config"
					 : sched ? "schedule" : "default";
}

static json_t *modes_json(struct rcd_ctl *c)
{
	return json_pack("{s:{s:b,s:s},s:{s:b,s:s,s:I}}", "read_only", "on",
			 c->ro, "source",
			 mode_source(c->ro_mode, c->cfg->read_only,
				     c->cal.readonly),
			 "serve_stale", "on", c->stale, "source",
			 mode_source(c->stale_mode, c->cfg->serve_stale,
				     c->cal.stale),
			 "grace_s", (json_int_t)c->cfg->stale_grace_s);
}

static json_t *alerts_json(struct rcd_ctl *c)
{
	json_t *a = json_array();

	for (int i = 0; i < 3; i++) {
		const struct rc_alert *al = &c->alerts[i];

		json_array_append_new(
			a, json_pack("{s:s,s:s,s:f,s:b,s:[f,f,f]}", "name",
				     al->name, "level",
				     rc_alert_level_name(al->level), "value",
				     al->value, "known", al->known,
				     "thresholds", al->thr[0], al->thr[1],
				     al->thr[2]));
	}
	return a;
}

static json_t *do_status(struct rcd_ctl *c, json_t *req)
{
	const struct rc_store_stats *st = &c->snap.sum.store;
	json_t *r;

	(void)req;
	r = json_pack("{s:b,s:s,s:s,s:f,s:I,s:f,s:f,s:f}", "ok", 1, "role",
		      rc_repl_role_name(rcd_repl_role(c->nd->repl)),
		      "version", RC_VERSION, "uptime_s",
		      rcd_ctl_uptime(c), "workers", (json_int_t)c->nd->n_workers,
		      "ops_per_s", c->win.ops_s, "hit_rate_window",
		      c->win.hit_rate, "hit_rate_total", c->win.total_hit_rate);
	json_object_set_new(r, "window_s",
			    json_integer((json_int_t)c->cfg->alert_window_s));
	json_object_set_new(r, "memory",
			    json_pack("{s:I,s:I,s:I,s:I}", "used_bytes",
				      (json_int_t)st->bytes_used,
				      "budget_bytes",
				      (json_int_t)st->bytes_limit,
				      "cap_bytes",
				      (json_int_t)rcd_memory_cap(c->cfg),
				      "items", (json_int_t)st->items));
	json_object_set_new(r, "multiplier", multiplier_json(c));
	json_object_set_new(r, "modes", modes_json(c));
	json_object_set_new(r, "alerts", alerts_json(c));
	json_object_set_new(r, "latency_window", latency_json(&c->win.all));
	json_object_set_new(r, "repl", rcd_repl_status(c->nd->repl));
	return r;
}

/* ringctl repl status|promote|demote */
static json_t *do_repl(struct rcd_ctl *c, json_t *req)
{
	const char *act = json_string_value(json_object_get(req, "action"));
	char err[200];
	json_t *r;

	if (!act || !strcmp(act, "status")) {
		r = ok();
		json_object_set_new(r, "repl", rcd_repl_status(c->nd->repl));
		return r;
	}
	if (!strcmp(act, "promote")) {
		if (rcd_repl_promote(c->nd->repl,
				     json_is_true(json_object_get(req, "force")),
				     err, sizeof(err)) != 0)
			return rcd_ctl_fail("refused", "%s", err);
	} else if (!strcmp(act, "demote")) {
		if (rcd_repl_demote(c->nd->repl, err, sizeof(err)) != 0)
			return rcd_ctl_fail("refused", "%s", err);
	} else {
		return rcd_ctl_fail("bad_request", "repl: status, promote or demote");
	}
	r = ok();
	json_object_set_new(r, "repl", rcd_repl_status(c->nd->repl));
	return r;
}

/* Latency per (op, class): over the window and since start. */
static json_t *latency_table(struct rcd_ctl *c)
{
	const struct rc_hist *base = c->ring[c->win.old]; /* tick's window */
	json_t *a = json_array();

	for (unsigned op = 0; op < RC_OP__COUNT; op++)
		for (unsigned k = 0; k < RCD_LAT_CLASSES; k++) {
			unsigned s = rcd_lat_series((uint8_t)op, (uint8_t)k);
			struct rc_hist win;

			if (!c->cur[s].count)
				continue;
			rc_hist_diff(&win, &c->cur[s], &base[s]);
			json_array_append_new(
				a, json_pack("{s:s,s:s,s:o,s:o}", "op",
					     rc_proto_opcode_name(op), "class",
					     k < c->cfg->cl.n
						     ? c->cfg->cl.c[k].name
						     : "none",
					     "window", latency_json(&win),
					     "total",
					     latency_json(&c->cur[s])));
		}
	return a;
}

static json_t *do_stats(struct rcd_ctl *c, json_t *req)
{
	json_t *r = ok();

	(void)req;
	c->big = true; /* printed on the JSON thread */
	json_object_set_new(r, "counters",
			    rcd_metrics_json(&c->snap, &c->cfg->cl));
	json_object_set_new(r, "latency", latency_table(c));
	json_object_set_new(r, "window_s",
			    json_integer((json_int_t)c->cfg->alert_window_s));
	return r;
}

static json_t *do_classes(struct rcd_ctl *c, json_t *req)
{
	json_t *a = json_array(), *r = ok();
	struct rcd_worker_stats sum;

	(void)req;
	/* Fresh sums (workers publish every 10 ms), not the last tick's. */
	rcd_stats_sum(c->nd->workers, c->nd->n_workers, &sum);
	for (unsigned i = 0; i < c->cfg->cl.n; i++) {
		const struct rc_store_class_stats *k = &sum.classes[i];
		uint32_t share = c->cfg->cl.c[i].share_ppm;

		json_array_append_new(
			a, json_pack("{s:s,s:f,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:f,"
				     "s:I,s:I}",
				     "name", c->cfg->cl.c[i].name, "share_pct",
				     share / 1e4, "protected",
				     c->cfg->cl.c[i].protect, "budget_bytes",
				     (json_int_t)k->budget_bytes, "used_bytes",
				     (json_int_t)k->used_bytes, "items",
				     (json_int_t)k->items, "gets",
				     (json_int_t)k->gets, "hits",
				     (json_int_t)k->hits, "sets",
				     (json_int_t)k->sets, "hit_rate",
				     k->gets ? (double)k->hits / k->gets : 0.0,
				     "evictions", (json_int_t)k->evictions,
				     "expirations",
				     (json_int_t)k->expirations));
	}
	json_object_set_new(r, "classes", a);
	return r;
}

static json_t *do_quota(struct rcd_ctl *c, json_t *req)
{
	const char *cls = json_string_value(json_object_get(req, "class"));
	double pct = json_number_value(json_object_get(req, "share_pct"));
	int id = rcd_ctl_class(c, cls);
	uint32_t ppm, old, sum = 0;

	if (id < 0)
		return rcd_ctl_fail("bad_request", "no class '%s'", cls ? cls : "");
	if (!(pct >= 0 && pct <= 100))
		return rcd_ctl_fail("bad_request", "share must be 0..100 (%%)");
	ppm = (uint32_t)(pct * 1e4 + 0.5);
	for (unsigned i = 0; i < c->cfg->cl.n; i++)
		sum += (int)i == id ? ppm : c->cfg->cl.c[i].share_ppm;
	if (sum > RC_STORE_PPM)
		return rcd_ctl_fail("bad_request", "shares would sum to %.2f%% "
			    "(over 100%%): lower another class first",
			    sum / 1e4);
	for (unsigned w = 0; w < c->nd->n_workers; w++)
		if (rc_store_set_share(c->nd->workers[w]->p.store, (uint8_t)id,
				       ppm) != 0)
			return rcd_ctl_fail("refused", "partition %u refused the "
				    "share", w);
	old = c->cfg->cl.c[id].share_ppm;
	c->cfg->cl.c[id].share_ppm = ppm;
	LOG(NOTICE, "quota of class %s: %.2f%% -> %.2f%% (ringctl)", cls,
	    old / 1e4, ppm / 1e4);
	return json_pack("{s:b,s:s,s:f,s:f}", "ok", 1, "class", cls,
			 "share_pct", ppm / 1e4, "previous_pct", old / 1e4);
}

static json_t *do_multiplier(struct rcd_ctl *c, json_t *req)
{
	const char *act = json_string_value(json_object_get(req, "action"));
	json_t *r;

	/* NULL req (jansson's getters accept it): show. */
	if (act && strcmp(act, "set") == 0) {
		double v = json_number_value(json_object_get(req, "value"));
		json_int_t secs =
			json_integer_value(json_object_get(req, "for_s"));

		if (!(v >= 0.1 && v <= c->cfg->max_factor))
			return rcd_ctl_fail("bad_request", "multiplier must be in "
				    "0.1..%g (scaling.max_factor)",
				    c->cfg->max_factor);
		if (secs <= 0 || secs > 7 * 86400)
			return rcd_ctl_fail("bad_request", "--for must be 1s..7d");
		c->override = v;
		c->override_until = rcd_ctl_now(c) + (time_t)secs;
		LOG(NOTICE, "multiplier override x%.2f for %llds (ringctl)", v,
		    (long long)secs);
		rcd_ctl_scale(c, true);
	} else if (act && strcmp(act, "clear") == 0) {
		if (c->override)
			LOG(NOTICE, "multiplier override x%.2f cleared "
			    "(ringctl)", c->override);
		c->override = 0;
		rcd_ctl_scale(c, true);
	} else if (act && strcmp(act, "show") != 0) {
		return rcd_ctl_fail("bad_request", "action: show, set or clear");
	}
	r = ok();
	json_object_set_new(r, "multiplier", multiplier_json(c));
	return r;
}

static int parse_mode(const char *s, enum rcd_mode *m)
{
	if (!s)
		return 1; /* unchanged */
	if (!strcmp(s, "on"))
		*m = RCD_MODE_ON;
	else if (!strcmp(s, "off"))
		*m = RCD_MODE_OFF;
	else if (!strcmp(s, "auto"))
		*m = RCD_MODE_AUTO;
	else
		return -1;
	return 0;
}

static json_t *do_mode(struct rcd_ctl *c, json_t *req)
{
	enum rcd_mode ro = c->ro_mode, st = c->stale_mode;
	json_t *r;

	if (parse_mode(json_string_value(json_object_get(req, "read_only")),
		       &ro) < 0 ||
	    parse_mode(json_string_value(json_object_get(req, "serve_stale")),
		       &st) < 0)
		return rcd_ctl_fail("bad_request", "a mode is on, off or auto");
	c->ro_mode = ro;
	c->stale_mode = st;
	rcd_ctl_modes(c);
	r = ok();
	json_object_set_new(r, "modes", modes_json(c));
	return r;
}

static json_t *do_clock(struct rcd_ctl *c, json_t *req)
{
	json_t *t = json_object_get(req, "time");

	if (!c->cfg->test_clock)
		return rcd_ctl_fail("refused", "the test clock is off "
			    "(control.test_clock)");
	c->test_now = json_is_integer(t) ? (time_t)json_integer_value(t) : 0;
	LOG(NOTICE, "test clock %s", c->test_now ? "set" : "cleared");
	rcd_ctl_scale(c, true);
	return do_multiplier(c, NULL);
}

/* ---- configuration --------------------------------------------------------- */

static json_t *do_config_show(struct rcd_ctl *c, json_t *req)
{
	json_t *o = json_object(), *r = ok();
	char v[RC_OPT_STR_MAX], name[96];

	(void)req;
	c->big = true; /* printed on the JSON thread */
	for (size_t i = 0; i < rcd_n_options; i++) {
		const struct rc_opt *p = &rcd_options[i];

		rc_opt_format(p, c->cfg, v, sizeof(v));
		snprintf(name, sizeof(name), "%s.%s", p->section, p->name);
		json_object_set_new(o, name, json_string(v));
	}
	json_object_set_new(r, "config", o);
	json_object_set_new(r, "file", json_string(c->nd->config_path
						   ? c->nd->config_path : ""));
	return r;
}

static json_t *do_describe(struct rcd_ctl *c, json_t *req)
{
	json_t *a = json_array(), *r = ok();
	char b[64];

	(void)c;
	(void)req;
	c->big = true; /* printed on the JSON thread */
	for (size_t i = 0; i < rcd_n_options; i++) {
		const struct rc_opt *p = &rcd_options[i];

		rc_opt_bounds(p, b, sizeof(b));
		json_array_append_new(
			a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:s}", "section",
				     p->section, "name", p->name, "type",
				     rc_opt_type_name(p->type), "default",
				     p->defval, "bounds", b, "runtime",
				     p->runtime, "description", p->desc));
	}
	json_object_set_new(r, "options", a);
	return r;
}

static json_t *do_config_reload(struct rcd_ctl *c, json_t *req)
{
	static struct rcd_config nc;
	static struct rc_policy *staged[RCD_MAX_WORKERS];
	json_t *applied, *restart, *r;
	char err[2 * RC_OPT_STR_MAX], a[RC_OPT_STR_MAX], b[RC_OPT_STR_MAX];
	char name[96];
	bool policy;
	int rc;

	(void)req;
	rc = rcd_node_load_config(c->nd->config_path, c->nd->sets,
				  c->nd->n_sets, &nc, err, sizeof(err));
	policy = rc == 0 && rcd_policy_changed(c->cfg, &nc);
	if (policy)
		rc = rcd_policy_stage(c->nd, &nc, staged, err, sizeof(err));
	if (rc != 0) {
		c->reloads_refused++;
		c->reload_ok = false;
		LOG(WARNING, "config reload refused: %s", err);
		return rcd_ctl_fail(rc == -EBUSY    ? "busy"
				    : rc == -ENOMEM ? "server_error"
						    : "bad_config",
				    "%s (nothing changed)", err);
	}
	/* From here nothing fails: the staged tables will be published. */
	c->reloads++;
	c->reload_ok = true;
	c->reload_ok_wall = (double)rcd_ctl_now(c);
	applied = json_array();
	restart = json_array();
	for (size_t i = 0; i < rcd_n_options; i++) {
		const struct rc_opt *p = &rcd_options[i];

		rc_opt_format(p, c->cfg, a, sizeof(a));
		rc_opt_format(p, &nc, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		snprintf(name, sizeof(name), "%s.%s", p->section, p->name);
		if (!p->runtime) {
			json_array_append_new(restart, json_string(name));
			continue;
		}
		memcpy((char *)c->cfg + p->offset, (char *)&nc + p->offset,
		       rc_opt_field_size(p));
		json_array_append_new(applied, json_string(name));
		LOG(NOTICE, "config reload: %s = %s (was %s)", name, b, a);
	}
	/* Parsed forms of what changed. Cannot fail: nc parsed the same. */
	rcd_config_finish_runtime(c->cfg, err, sizeof(err));
	if (policy)
		rcd_policy_publish(c->nd, &nc, staged);
	rte_log_set_level(rcd_logtype, c->cfg->log_level_n);
	setenv("TZ", c->cfg->timezone, 1);
	tzset();
	rcd_ctl_alerts_config(c);
	rcd_ctl_timers(c);
	rcd_ctl_scale(c, json_array_size(applied) > 0);
	r = ok();
	json_object_set_new(r, "applied", applied);
	json_object_set_new(r, "restart_needed", restart);
	return r;
}

/* ---- dispatch ----------------------------------------------------------------- */

static json_t *do_get(struct rcd_ctl *c, json_t *req)
{
	return rcd_cmd_key(c, req, RC_CMD_GET);
}

static json_t *do_del(struct rcd_ctl *c, json_t *req)
{
	return rcd_cmd_key(c, req, RC_CMD_DEL);
}

static const struct {
	const char *name;
	json_t *(*fn)(struct rcd_ctl *c, json_t *req);
} commands[] = {
	{"status", do_status},
	{"stats", do_stats},
	{"classes", do_classes},
	{"quota_set", do_quota},
	{"multiplier", do_multiplier},
	{"mode", do_mode},
	{"flush", rcd_cmd_flush},
	{"get", do_get},
	{"del", do_del},
	{"config_show", do_config_show},
	{"config_reload", do_config_reload},
	{"describe", do_describe},
	{"warm", rcd_cmd_warm},
	{"clock", do_clock},
	{"repl", do_repl},
};

/* req (NULL: it did not parse, perr says why) -> the answer, or LATER. */
static json_t *dispatch(struct rcd_ctl *c, uint64_t id, json_t *req,
			const char *perr)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	json_t *resp = NULL;

	c->big = false;
	if (!req || !cmd)
		return rcd_ctl_fail("bad_request", "want a JSON object with \"cmd\"%s%s",
			    req ? "" : ": ", req ? "" : perr);
	c->req_id = id;
	for (size_t i = 0; i < RTE_DIM(commands) && !resp; i++)
		if (strcmp(commands[i].name, cmd) == 0)
			resp = commands[i].fn(c, req);
	if (!resp)
		resp = rcd_ctl_fail("bad_request", "unknown command '%s'", cmd);
	return resp;
}

char *rcd_ctl_handle(void *arg, uint64_t id, const char *line, size_t len)
{
	struct rcd_ctl *c = arg;
	json_error_t je;
	json_t *req, *resp;

	/* A long line (warm records) is parsed on the JSON thread. */
	if (len > RCD_CTL_INLINE_PARSE && c->jq && id &&
	    rc_jsonq_parse(c->jq, id, line, len) == 0)
		return RC_CTLSOCK_LATER;
	req = json_loadb(line, len, 0, &je);
	resp = dispatch(c, id, req, je.text);
	json_decref(req);
	return rcd_ctl_answer_text(c, id, resp);
}

unsigned rcd_ctl_json(struct rcd_ctl *c)
{
	struct rc_jsonq_done d;
	unsigned n = 0;

	/* A few per turn: each may be a warm request to split up. */
	while (c->jq && n < 4 && rc_jsonq_take(c->jq, &d)) {
		char *out;

		n++;
		if (d.printed) {
			out = d.text ? d.text : strdup("{\"ok\":false,\"error\":"
					"\"out of memory\",\"code\":"
					"\"server_error\"}");
		} else {
			json_t *resp = dispatch(c, d.tag, d.json, d.err);

			json_decref(d.json);
			out = rcd_ctl_answer_text(c, d.tag, resp);
			if (out == RC_CTLSOCK_LATER)
				continue;
		}
		if (c->cs)
			rc_ctlsock_answer(c->cs, d.tag, out);
		else
			free(out);
	}
	return n;
}
