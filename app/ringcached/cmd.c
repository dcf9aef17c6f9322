/* SPDX-License-Identifier: MIT
 * The control socket's commands that run on workers (get, del, flush,
 * warm): the one owner of the control-core <-> worker hand-off. A request
 * becomes commands on the owning workers' rings and is parked; the
 * control loop looks at the parked ones each turn (rcd_ctl_commands) and
 * answers each when its workers are done, or with a "timeout" error at
 * its deadline (the workers then free what they still hold). Nothing
 * here waits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_log.h>

#include "ctl_int.h"

extern int rcd_logtype;
#define LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, rcd_logtype, "ringcached: " fmt "\n",       \
		##__VA_ARGS__)
#define LATER RCD_CTL_LATER

#define CMD_TIMEOUT_MS 2000
#define FLUSH_TIMEOUT_MS 120000
#define WARM_TIMEOUT_MS 120000    /* a flush may be ahead of it */
#define WARM_MAX_RECORDS RCD_WARM_MAX_RECORDS

static const char hexdig[] = "0123456789abcdef";

static void hex_encode(char *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = hexdig[src[i] >> 4];
		dst[2 * i + 1] = hexdig[src[i] & 15];
	}
	dst[2 * n] = '\0';
}

/* No byte over 0x7f and no NUL: text that needs no UTF-8 check. */
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
static void hex_decode(uint8_t *dst, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)(hexval(hex[2 * i]) << 4 |
				   hexval(hex[2 * i + 1]));
}

/* A request waiting on workers. */
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
		return rcd_ctl_fail("busy", "worker %u has %u commands queued: try "
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
		hex_encode(hex, cmd->out, cmd->out_len);
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
		return rcd_ctl_fail("timeout", "the worker did not answer within %u ms",
			    CMD_TIMEOUT_MS);
	cmd = p->cmd[w];
	memcpy(key, cmd->rec[0].key, cmd->rec[0].key_len);
	key[cmd->rec[0].key_len] = '\0';
	if (cmd->rec[0].status == RC_ST_NOT_FOUND)
		return rcd_ctl_fail("not_found", "no such key: %s", key);
	if (cmd->rec[0].status != RC_ST_OK)
		return rcd_ctl_fail("refused", "%s",
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
			return rcd_ctl_fail("server_error", "out of memory");
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

json_t *rcd_cmd_key(struct rcd_ctl *c, json_t *req, enum rc_cmd_type t)
{
	const char *key = json_string_value(json_object_get(req, "key"));
	size_t klen = key ? strlen(key) : 0, cap;
	struct rcd_pend *p;
	struct rc_cmd *cmd;

	if (!key || klen == 0 || klen > c->cfg->max_key_size)
		return rcd_ctl_fail("bad_request", "want a key of 1..%lu bytes",
			    (unsigned long)c->cfg->max_key_size);
	cap = t == RC_CMD_GET ? c->cfg->max_value_size : 0;
	p = calloc(1, sizeof(*p));
	cmd = calloc(1, sizeof(*cmd) + sizeof(struct rc_cmd_rec) + klen +
			       cap);
	if (!p || !cmd) {
		free(p);
		free(cmd);
		return rcd_ctl_fail("server_error", "out of memory");
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
		return rcd_ctl_fail("timeout", "%u partition(s) did not finish within "
			    "%u s; %lu items removed by the others", late,
			    FLUSH_TIMEOUT_MS / 1000, (unsigned long)removed);
	return json_pack("{s:b,s:I}", "ok", 1, "removed", (json_int_t)removed);
}

json_t *rcd_cmd_flush(struct rcd_ctl *c, json_t *req)
{
	const char *cls = json_string_value(json_object_get(req, "class"));
	const char *pfx = json_string_value(json_object_get(req, "prefix"));
	struct rcd_pend *p;
	int id = -1;

	if (cls && (id = rcd_ctl_class(c, cls)) < 0)
		return rcd_ctl_fail("bad_request", "no class '%s'", cls);
	if (pfx && (strlen(pfx) == 0 || strlen(pfx) > RC_PROTO_MAX_KEY))
		return rcd_ctl_fail("bad_request", "prefix must be 1..%u bytes",
			    RC_PROTO_MAX_KEY);
	p = calloc(1, sizeof(*p));
	if (!p)
		return rcd_ctl_fail("server_error", "out of memory");
	p->type = RC_CMD_FLUSH;
	snprintf(p->what, sizeof(p->what), "%s%s%s%s", cls ? " class " : "",
		 cls ? cls : "", pfx ? " prefix " : "", pfx ? pfx : "");
	for (unsigned w = 0; w < c->nd->n_workers; w++) {
		struct rc_cmd *cmd = calloc(1, sizeof(*cmd));

		if (!cmd) {
			pend_free(p);
			return rcd_ctl_fail("server_error", "out of memory");
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
json_t *rcd_cmd_warm(struct rcd_ctl *c, json_t *req)
{
	json_t *recs = json_object_get(req, "records"), *it;
	unsigned n = c->nd->n_workers, cnt[RCD_MAX_WORKERS] = {0};
	size_t bytes[RCD_MAX_WORKERS] = {0}, total = json_array_size(recs);
	uint8_t part[WARM_MAX_RECORDS];
	struct rcd_pend *p;
	size_t i;

	if (!json_is_array(recs) || total > WARM_MAX_RECORDS)
		return rcd_ctl_fail("bad_request", "want \"records\": an array of at "
			    "most %u", WARM_MAX_RECORDS);
	p = calloc(1, sizeof(*p));
	if (!p)
		return rcd_ctl_fail("server_error", "out of memory");
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
			return rcd_ctl_fail("server_error", "out of memory");
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
			hex_decode(buf + kl, hex, vl); /* checked */
		}
		rec->value_len = (uint32_t)vl;
		bytes[part[i]] += kl + vl;
		rec->ttl = (uint32_t)json_integer_value(json_object_get(it,
									"ttl"));
		rec->flags = (uint32_t)json_integer_value(
			json_object_get(it, "flags"));
		cname = json_string_value(json_object_get(it, "class"));
		cid = rcd_ctl_class(c, cname);
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
		out = rcd_ctl_answer_text(c, p->id, r);
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
