/* SPDX-License-Identifier: MIT
 * The control socket's commands: one JSON object per line in,
 *   {"cmd": "status", ...arguments}
 * one JSON object per line out,
 *   {"ok": true, ...} or {"ok": false, "error": "text", "code": "..."}.
 * Store work (get, del, flush, warm) becomes commands on the owning
 * workers' rings; nothing here touches a partition. */
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

#include "control.h"
#include "repl.h"

extern int rcd_logtype;
#define LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, rcd_logtype, "ringcached: " fmt "\n",       \
		##__VA_ARGS__)

#define CMD_TIMEOUT_MS 2000
#define FLUSH_TIMEOUT_MS 120000
#define WARM_TIMEOUT_MS 120000    /* a flush may be ahead of it */
#define WARM_MAX_RECORDS RCD_WARM_MAX_RECORDS

static const char hexdig[] = "0123456789abcdef";

static void rc_hex_encode(char *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = hexdig[src[i] >> 4];
		dst[2 * i + 1] = hexdig[src[i] & 15];
	}
	dst[2 * n] = '\0';
}

/* No byte over 0x7f (and no NUL, which JSON text cannot carry as is). */
static bool is_ascii(const uint8_t *p, size_t n)
{
	uint8_t or = 0;

	for (size_t i = 0; i < n; i++)
		or |= (uint8_t)(p[i] | (p[i] == 0) << 7);
	return !(or & 0x80);
}

static unsigned hexval(char h)
{
	return h <= '9' ? (unsigned)(h - '0') : (unsigned)((h | 0x20) - 'a' + 10);
}

/* n bytes from 2n hex digits (already checked). */
static void rc_hex_decode(uint8_t *dst, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)(hexval(hex[2 * i]) << 4 |
				   hexval(hex[2 * i + 1]));
}

static json_t *fail(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static json_t *fail(const char *code, const char *fmt, ...)
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

/* ---- worker commands ----------------------------------------------------- */

/* A request that needs workers (get, del, flush, warm) is queued on their
 * rings and parked: the control loop keeps turning, rcd_ctl_commands()
 * looks at the parked ones each turn and answers each when its workers
 * are done, or with a "timeout" error at its deadline (the workers then
 * free what they still hold). */
struct rcd_pend {
	struct rcd_pend *next;
	uint64_t id;                       /* the control-socket request */
	enum rc_cmd_type type;
	uint64_t deadline;                 /* timer cycles */
	struct rc_cmd *cmd[RCD_MAX_WORKERS]; /* by worker; NULL: none */
	/* warm */
	uint64_t total, bad;               /* records; invalid before the
					    * workers */
	/* flush: what it was asked, for the log */
	char what[RC_PROTO_MAX_KEY + 96];
};

/* The marker a command returns when it has parked the request. */
static json_t later_json;
#define LATER (&later_json)

/* The answer as text now, or printed on the JSON thread when it is
 * large (c->big: a value, the stats, the options). */
static char *answer_text(struct rcd_ctl *c, uint64_t id, json_t *resp)
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

static uint64_t deadline_ms(unsigned ms)
{
	return rte_get_timer_cycles() + rte_get_timer_hz() / 1000 * ms;
}

static unsigned partition_of(const struct rcd_ctl *c, const void *key,
			     size_t len)
{
	struct rc_proto_digest d;

	rc_proto_key_digest(key, len, &d);
	return rc_proto_partition(&d, (uint16_t)c->nd->n_workers);
}

static void pend_free(struct rcd_pend *p)
{
	for (unsigned w = 0; w < RCD_MAX_WORKERS; w++)
		free(p->cmd[w]);
	free(p);
}

/* Queue p's commands and park it. A worker whose ring is full refuses
 * its command: the whole request is answered busy at once (commands
 * already queued are abandoned to their workers). */
static json_t *park(struct rcd_ctl *c, struct rcd_pend *p, unsigned ms)
{
	unsigned busy = RCD_MAX_WORKERS;

	for (unsigned w = 0; w < c->nd->n_workers; w++) {
		if (!p->cmd[w])
			continue;
		p->cmd[w]->state = RCD_CMD_PENDING;
		if (rte_ring_sp_enqueue(c->nd->cmdqs[w], p->cmd[w]) != 0) {
			busy = w;
			break;
		}
	}
	if (busy < RCD_MAX_WORKERS) {
		for (unsigned w = 0; w < busy; w++) {
			uint32_t want = RCD_CMD_PENDING;

			if (p->cmd[w] &&
			    __atomic_compare_exchange_n(
				    &p->cmd[w]->state, &want,
				    RCD_CMD_ABANDONED, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				p->cmd[w] = NULL; /* the worker's now */
		}
		pend_free(p);
		return fail("busy", "worker %u has %u commands queued: try "
			    "again", busy, RCD_CMD_RING);
	}
	p->id = c->req_id;
	p->deadline = deadline_ms(ms);
	p->next = c->pend;
	c->pend = p;
	c->n_pend++;
	return LATER;
}

/* Done: every worker finished. At the deadline the ones that did not
 * are abandoned (their cmd[] becomes NULL; the worker frees it) and
 * *late counts them. */
static bool settle(struct rcd_pend *p, uint64_t now, unsigned *late)
{
	bool over = now >= p->deadline;

	*late = 0;
	for (unsigned w = 0; w < RCD_MAX_WORKERS; w++) {
		uint32_t want = RCD_CMD_PENDING;

		if (!p->cmd[w] || __atomic_load_n(&p->cmd[w]->state,
						  __ATOMIC_ACQUIRE) !=
					  RCD_CMD_PENDING)
			continue;
		if (!over)
			return false;
		if (__atomic_compare_exchange_n(&p->cmd[w]->state, &want,
						RCD_CMD_ABANDONED, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			p->cmd[w] = NULL;
			(*late)++;
		}
	}
	return true;
}

/* A get's answer and the command holding its value. */
struct get_answer {
	json_t *r;
	struct rc_cmd *cmd;
};

/* Add the value to the answer, as hex and (when it is valid UTF-8) as
 * text; free the command and arg. Runs on the JSON thread for a large
 * value. */
static json_t *get_value(void *arg)
{
	struct get_answer *ga = arg;
	json_t *r = ga->r;
	struct rc_cmd *cmd = ga->cmd;
	char *hex = malloc(2 * (size_t)cmd->out_len + 1);
	json_t *txt;

	free(ga);
	if (hex)
		rc_hex_encode(hex, cmd->out, cmd->out_len);
	/* ASCII needs no further look. */
	txt = is_ascii(cmd->out, cmd->out_len)
		      ? json_stringn_nocheck((const char *)cmd->out,
					     cmd->out_len)
		      : json_stringn((const char *)cmd->out, cmd->out_len);
	if (txt)
		json_object_set_new(r, "value", txt);
	json_object_set_new(r, "value_hex",
			    hex ? json_stringn_nocheck(hex,
						       2 * (size_t)cmd->out_len)
				: json_string(""));
	free(hex);
	free(cmd);
	return r;
}

static json_t *key_done(struct rcd_ctl *c, struct rcd_pend *p, unsigned late)
{
	unsigned w = 0;
	struct rc_cmd *cmd;
	struct get_answer *ga;
	char key[RC_PROTO_MAX_KEY + 1];
	json_t *r;

	while (w < RCD_MAX_WORKERS && !p->cmd[w])
		w++;
	if (late || w == RCD_MAX_WORKERS)
		return fail("timeout", "the worker did not answer within %u ms",
			    CMD_TIMEOUT_MS);
	cmd = p->cmd[w];
	memcpy(key, cmd->rec[0].key, cmd->rec[0].key_len);
	key[cmd->rec[0].key_len] = '\0';
	if (cmd->rec[0].status == RC_ST_NOT_FOUND)
		return fail("not_found", "no such key: %s", key);
	if (cmd->rec[0].status != RC_ST_OK)
		return fail("refused", "%s",
			    rc_proto_status_name(cmd->rec[0].status));
	r = json_pack("{s:b,s:s,s:I}", "ok", 1, "key", key, "partition",
		      (json_int_t)w);
	if (p->type == RC_CMD_GET) {
		json_object_set_new(r, "length", json_integer(cmd->out_len));
		json_object_set_new(r, "flags", json_integer(cmd->out_flags));
		json_object_set_new(r, "cas", json_integer((json_int_t)cmd->out_cas));
		json_object_set_new(r, "class",
				    json_string(cmd->out_class < c->cfg->cl.n
						? c->cfg->cl.c[cmd->out_class].name
						: "?"));
		json_object_set_new(r, "stale", json_boolean(cmd->out_stale));
		ga = malloc(sizeof(*ga));
		if (!ga) {
			json_decref(r);
			return fail("server_error", "out of memory");
		}
		*ga = (struct get_answer){.r = r, .cmd = cmd};
		p->cmd[w] = NULL; /* get_value frees it */
		/* A large value is encoded (hex, text) on the JSON thread. */
		if (cmd->out_len > 4096 && c->jq &&
		    rc_jsonq_build(c->jq, p->id, get_value, ga) == 0)
			return LATER;
		r = get_value(ga);
	}
	return r;
}

static json_t *key_op(struct rcd_ctl *c, json_t *req, enum rc_cmd_type t)
{
	const char *key = json_string_value(json_object_get(req, "key"));
	size_t klen = key ? strlen(key) : 0, cap;
	struct rcd_pend *p;
	struct rc_cmd *cmd;

	if (!key || klen == 0 || klen > c->cfg->max_key_size)
		return fail("bad_request", "want a key of 1..%lu bytes",
			    (unsigned long)c->cfg->max_key_size);
	cap = t == RC_CMD_GET ? c->cfg->max_value_size : 0;
	p = calloc(1, sizeof(*p));
	cmd = calloc(1, sizeof(*cmd) + sizeof(struct rc_cmd_rec) + klen +
			       cap);
	if (!p || !cmd) {
		free(p);
		free(cmd);
		return fail("server_error", "out of memory");
	}
	cmd->type = t;
	cmd->n = 1;
	cmd->rec = (struct rc_cmd_rec *)(cmd + 1);
	cmd->rec[0].key = (uint8_t *)(cmd->rec + 1);
	memcpy((uint8_t *)(cmd->rec + 1), key, klen);
	cmd->rec[0].key_len = (uint16_t)klen;
	cmd->out = (uint8_t *)(cmd->rec + 1) + klen;
	cmd->out_cap = (uint32_t)cap;
	p->type = t;
	p->cmd[partition_of(c, key, klen)] = cmd;
	return park(c, p, CMD_TIMEOUT_MS);
}

static int class_by_name(const struct rcd_ctl *c, const char *name)
{
	for (unsigned i = 0; name && i < c->cfg->cl.n; i++)
		if (strcmp(c->cfg->cl.c[i].name, name) == 0)
			return (int)i;
	return -1;
}

static json_t *flush_done(struct rcd_pend *p, unsigned late)
{
	uint64_t removed = 0;

	for (unsigned w = 0; w < RCD_MAX_WORKERS; w++)
		if (p->cmd[w])
			removed += p->cmd[w]->removed;
	LOG(NOTICE, "flush%s: %lu items removed%s", p->what,
	    (unsigned long)removed, late ? " (some partitions timed out)"
					 : "");
	if (late)
		return fail("timeout", "%u partition(s) did not finish within "
			    "%u s; %lu items removed by the others", late,
			    FLUSH_TIMEOUT_MS / 1000, (unsigned long)removed);
	return json_pack("{s:b,s:I}", "ok", 1, "removed", (json_int_t)removed);
}

static json_t *do_flush(struct rcd_ctl *c, json_t *req)
{
	const char *cls = json_string_value(json_object_get(req, "class"));
	const char *pfx = json_string_value(json_object_get(req, "prefix"));
	struct rcd_pend *p;
	int id = -1;

	if (cls && (id = class_by_name(c, cls)) < 0)
		return fail("bad_request", "no class '%s'", cls);
	if (pfx && (strlen(pfx) == 0 || strlen(pfx) > RC_PROTO_MAX_KEY))
		return fail("bad_request", "prefix must be 1..%u bytes",
			    RC_PROTO_MAX_KEY);
	p = calloc(1, sizeof(*p));
	if (!p)
		return fail("server_error", "out of memory");
	p->type = RC_CMD_FLUSH;
	snprintf(p->what, sizeof(p->what), "%s%s%s%s", cls ? " class " : "",
		 cls ? cls : "", pfx ? " prefix " : "", pfx ? pfx : "");
	for (unsigned w = 0; w < c->nd->n_workers; w++) {
		struct rc_cmd *cmd = calloc(1, sizeof(*cmd));

		if (!cmd) {
			pend_free(p);
			return fail("server_error", "out of memory");
		}
		cmd->type = RC_CMD_FLUSH;
		cmd->flush_class = id;
		if (pfx) {
			cmd->prefix_len = (uint16_t)strlen(pfx);
			memcpy(cmd->prefix, pfx, cmd->prefix_len);
		}
		p->cmd[w] = cmd;
	}
	return park(c, p, FLUSH_TIMEOUT_MS);
}

/* An even number of hex digits. */
static bool valid_hex(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF");

	return s[n] == '\0' && n % 2 == 0;
}

static json_t *warm_done(struct rcd_pend *p, unsigned late)
{
	uint64_t status[RC_ST__COUNT] = {0}, stored = 0, done = 0;
	json_t *by = json_object(), *r;

	for (unsigned w = 0; w < RCD_MAX_WORKERS; w++) {
		if (!p->cmd[w])
			continue;
		for (unsigned j = 0; j < p->cmd[w]->n; j++) {
			status[p->cmd[w]->rec[j].status]++;
			stored += p->cmd[w]->rec[j].status == RC_ST_OK;
		}
		done += p->cmd[w]->n;
	}
	for (unsigned s = 0; s < RC_ST__COUNT; s++)
		if (status[s])
			json_object_set_new(by, rc_proto_status_name(s),
					    json_integer((json_int_t)status[s]));
	r = json_pack("{s:b,s:I,s:I,s:I,s:I,s:o}", "ok", !late, "records",
		      (json_int_t)p->total, "stored", (json_int_t)stored,
		      "invalid", (json_int_t)p->bad, "unconfirmed",
		      (json_int_t)(p->total - p->bad - done), "statuses", by);
	if (late) {
		char msg[200];

		snprintf(msg, sizeof(msg), "%lu record(s) not confirmed: %u "
			 "worker(s) did not finish within %u s (they may yet "
			 "be stored)",
			 (unsigned long)(p->total - p->bad - done), late,
			 WARM_TIMEOUT_MS / 1000);
		json_object_set_new(r, "error", json_string(msg));
		json_object_set_new(r, "code", json_string("timeout"));
	}
	return r;
}

/* Records: [{"key":..., "value":... | "value_hex":..., "ttl":N,
 * "flags":N, "class":"name"}], at most WARM_MAX_RECORDS (ringctl sends
 * a file in chunks; the line limits bound what is parsed here). */
static json_t *do_warm(struct rcd_ctl *c, json_t *req)
{
	json_t *recs = json_object_get(req, "records"), *it;
	unsigned n = c->nd->n_workers, cnt[RCD_MAX_WORKERS] = {0};
	size_t bytes[RCD_MAX_WORKERS] = {0}, total = json_array_size(recs);
	uint8_t part[WARM_MAX_RECORDS];
	struct rcd_pend *p;
	size_t i;

	if (!json_is_array(recs) || total > WARM_MAX_RECORDS)
		return fail("bad_request", "want \"records\": an array of at "
			    "most %u", WARM_MAX_RECORDS);
	p = calloc(1, sizeof(*p));
	if (!p)
		return fail("server_error", "out of memory");
	p->type = RC_CMD_SET;
	p->total = total;
	/* Pass 1: validate, size each partition's command. */
	json_array_foreach(recs, i, it) {
		const char *k = json_string_value(json_object_get(it, "key"));
		json_t *v = json_object_get(it, "value");
		json_t *vh = json_object_get(it, "value_hex");
		const char *hx = json_string_value(vh);
		size_t vl = json_is_string(v) ? json_string_length(v)
			    : hx && valid_hex(hx) ? strlen(hx) / 2
						 : SIZE_MAX;

		if (!k || !*k || strlen(k) > RC_PROTO_MAX_KEY ||
		    vl > RC_PROTO_MAX_VALUE) {
			part[i] = 0xFF;
			p->bad++;
			continue;
		}
		part[i] = (uint8_t)partition_of(c, k, strlen(k));
		cnt[part[i]]++;
		bytes[part[i]] += strlen(k) + vl;
	}
	for (unsigned w = 0; w < n; w++) {
		if (!cnt[w])
			continue;
		p->cmd[w] = calloc(1, sizeof(*p->cmd[w]) +
					      cnt[w] * sizeof(struct rc_cmd_rec) +
					      bytes[w]);
		if (!p->cmd[w]) {
			pend_free(p);
			return fail("server_error", "out of memory");
		}
		p->cmd[w]->type = RC_CMD_SET;
		p->cmd[w]->rec = (struct rc_cmd_rec *)(p->cmd[w] + 1);
		bytes[w] = 0; /* now: fill offset */
	}
	/* Pass 2: copy keys and values into the commands. */
	json_array_foreach(recs, i, it) {
		struct rc_cmd *cmd;
		struct rc_cmd_rec *rec;
		uint8_t *buf;
		const char *k, *cname;
		json_t *v;
		size_t kl, vl;
		int cid;

		if (part[i] == 0xFF)
			continue;
		cmd = p->cmd[part[i]];
		rec = &cmd->rec[cmd->n++];
		buf = (uint8_t *)(cmd->rec + cnt[part[i]]) + bytes[part[i]];
		k = json_string_value(json_object_get(it, "key"));
		kl = strlen(k);
		memcpy(buf, k, kl);
		rec->key = buf;
		rec->key_len = (uint16_t)kl;
		rec->value = buf + kl;
		v = json_object_get(it, "value");
		if (json_is_string(v)) {
			vl = json_string_length(v);
			memcpy(buf + kl, json_string_value(v), vl);
		} else {
			const char *hex = json_string_value(
				json_object_get(it, "value_hex"));

			vl = strlen(hex) / 2;
			rc_hex_decode(buf + kl, hex, vl); /* checked */
		}
		rec->value_len = (uint32_t)vl;
		bytes[part[i]] += kl + vl;
		rec->ttl = (uint32_t)json_integer_value(json_object_get(it,
									"ttl"));
		rec->flags = (uint32_t)json_integer_value(
			json_object_get(it, "flags"));
		cname = json_string_value(json_object_get(it, "class"));
		cid = class_by_name(c, cname);
		rec->class_id = cname ? (cid < 0 ? 0xFE : (uint8_t)cid)
				      : RC_PROTO_CLASS_AUTO;
	}
	if (p->bad == total) { /* nothing for the workers: answer now */
		json_t *r = warm_done(p, 0);

		pend_free(p);
		return r;
	}
	return park(c, p, WARM_TIMEOUT_MS);
}

unsigned rcd_ctl_commands(struct rcd_ctl *c)
{
	const uint64_t now = rte_get_timer_cycles();
	struct rcd_pend **pp = &c->pend;
	unsigned answered = 0;

	while (*pp) {
		struct rcd_pend *p = *pp;
		unsigned late;
		json_t *r;
		char *out;

		if (!settle(p, now, &late)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		c->n_pend--;
		c->big = false;
		r = p->type == RC_CMD_FLUSH ? flush_done(p, late)
		    : p->type == RC_CMD_SET ? warm_done(p, late)
					    : key_done(c, p, late);
		out = answer_text(c, p->id, r);
		if (out == RC_CTLSOCK_LATER)
			; /* built or printed on the JSON thread */
		else if (c->cs)
			rc_ctlsock_answer(c->cs, p->id, out);
		else
			free(out);
		pend_free(p);
		answered++;
	}
	return answered;
}

void rcd_ctl_commands_abandon(struct rcd_ctl *c)
{
	while (c->pend) {
		struct rcd_pend *p = c->pend;
		unsigned late;

		c->pend = p->next;
		p->deadline = 0;
		settle(p, 1, &late);
		pend_free(p);
	}
	c->n_pend = 0;
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
		      "ops_per_s", c->win_ops_s, "hit_rate_window",
		      c->win_hit_rate, "hit_rate_total", c->total_hit_rate);
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
	json_object_set_new(r, "latency_window", latency_json(&c->win_all));
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
			return fail("refused", "%s", err);
	} else if (!strcmp(act, "demote")) {
		if (rcd_repl_demote(c->nd->repl, err, sizeof(err)) != 0)
			return fail("refused", "%s", err);
	} else {
		return fail("bad_request", "repl: status, promote or demote");
	}
	r = ok();
	json_object_set_new(r, "repl", rcd_repl_status(c->nd->repl));
	return r;
}

/* Latency per (op, class): over the window and since start. */
static json_t *latency_table(struct rcd_ctl *c)
{
	const struct rc_hist *base = c->ring[c->win_old]; /* tick's window */
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
	int id = class_by_name(c, cls);
	uint32_t ppm, old, sum = 0;

	if (id < 0)
		return fail("bad_request", "no class '%s'", cls ? cls : "");
	if (!(pct >= 0 && pct <= 100))
		return fail("bad_request", "share must be 0..100 (%%)");
	ppm = (uint32_t)(pct * 1e4 + 0.5);
	for (unsigned i = 0; i < c->cfg->cl.n; i++)
		sum += (int)i == id ? ppm : c->cfg->cl.c[i].share_ppm;
	if (sum > RC_STORE_PPM)
		return fail("bad_request", "shares would sum to %.2f%% "
			    "(over 100%%): lower another class first",
			    sum / 1e4);
	for (unsigned w = 0; w < c->nd->n_workers; w++)
		if (rc_store_set_share(c->nd->workers[w]->p.store, (uint8_t)id,
				       ppm) != 0)
			return fail("refused", "partition %u refused the "
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
			return fail("bad_request", "multiplier must be in "
				    "0.1..%g (scaling.max_factor)",
				    c->cfg->max_factor);
		if (secs <= 0 || secs > 7 * 86400)
			return fail("bad_request", "--for must be 1s..7d");
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
		return fail("bad_request", "action: show, set or clear");
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
		return fail("bad_request", "a mode is on, off or auto");
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
		return fail("refused", "the test clock is off "
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
	json_t *applied = json_array(), *restart = json_array(), *r;
	char err[2 * RC_OPT_STR_MAX], a[RC_OPT_STR_MAX], b[RC_OPT_STR_MAX];
	char name[96];

	(void)req;
	if (rcd_node_load_config(c->nd->config_path, c->nd->sets,
				 c->nd->n_sets, &nc, err, sizeof(err)) != 0) {
		json_decref(applied);
		json_decref(restart);
		LOG(WARNING, "config reload refused: %s", err);
		return fail("bad_config", "%s (nothing changed)", err);
	}
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
	return key_op(c, req, RC_CMD_GET);
}

static json_t *do_del(struct rcd_ctl *c, json_t *req)
{
	return key_op(c, req, RC_CMD_DEL);
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
	{"flush", do_flush},
	{"get", do_get},
	{"del", do_del},
	{"config_show", do_config_show},
	{"config_reload", do_config_reload},
	{"describe", do_describe},
	{"warm", do_warm},
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
		return fail("bad_request", "want a JSON object with \"cmd\"%s%s",
			    req ? "" : ": ", req ? "" : perr);
	c->req_id = id;
	for (size_t i = 0; i < RTE_DIM(commands) && !resp; i++)
		if (strcmp(commands[i].name, cmd) == 0)
			resp = commands[i].fn(c, req);
	if (!resp)
		resp = fail("bad_request", "unknown command '%s'", cmd);
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
	return answer_text(c, id, resp);
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
			out = answer_text(c, d.tag, resp);
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
