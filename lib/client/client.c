/* SPDX-License-Identifier: MIT
 * libringcache: errors, create/destroy, routing and failover, the policy
 * of one op (re-route, pad, fail over, what may be re-sent) and the
 * single-key API. Datagrams and reply matching are in io.c, multi-get in
 * mget.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"

/* Socket receive buffer asked for: a 1 MiB reply is ~720 datagrams. */
#define RCVBUF_BYTES (8 << 20)

const char *rc_version(void)
{
	return RC_VERSION_STRING;
}

static const char *const err_text[] = {
	[0] = "success",
	[1] = "not found",
	[2] = "exists (CAS mismatch)",
	[3] = "too large",
	[4] = "bad request",
	[5] = "throttled",
	[6] = "not primary",
	[7] = "server error",
	[8] = "server out of memory",
	[9] = "unknown data class",
	[10] = "read-only",
	[11] = "server busy (reassembly full); try later",
	[12] = "not replicated: the standby did not confirm the write",
	[20] = "timed out",
	[21] = "system error",
	[22] = "protocol error",
	[23] = "invalid argument",
	[24] = "value truncated",
	[25] = "cannot parse server address",
	[26] = "out of memory",
};

const char *rc_strerror(int err)
{
	unsigned i = (unsigned)-err;

	if (err > 0 || i >= sizeof(err_text) / sizeof(err_text[0]) ||
	    !err_text[i])
		return "unknown error";
	return err_text[i];
}

int rc_status_to_err(uint8_t st)
{
	switch (st) {
	case RC_ST_OK: return RC_OK;
	case RC_ST_NOT_FOUND: return RC_ENOTFOUND;
	case RC_ST_EXISTS: return RC_EEXISTS;
	case RC_ST_TOO_LARGE: return RC_ETOOLARGE;
	case RC_ST_BAD_REQUEST: return RC_EBADREQUEST;
	case RC_ST_THROTTLED: return RC_ETHROTTLED;
	case RC_ST_NOT_PRIMARY: return RC_ENOTPRIMARY;
	case RC_ST_SERVER_ERROR: return RC_ESERVER;
	case RC_ST_NO_MEMORY: return RC_ENOSPACE;
	case RC_ST_UNKNOWN_CLASS: return RC_EUNKNOWNCLASS;
	case RC_ST_READ_ONLY: return RC_EREADONLY;
	case RC_ST_BUSY: return RC_EBUSY;
	case RC_ST_NOT_REPLICATED: return RC_ENOTREPLICATED;
	default: return RC_EPROTOCOL;
	}
}

static const char *const bad_names[RC_BAD__COUNT] = {
	[RC_BAD_MALFORMED] = "malformed",
	[RC_BAD_SOURCE] = "source",
	[RC_BAD_ID] = "request_id",
	[RC_BAD_OPS] = "ops",
	[RC_BAD_SEGMENT] = "segment",
	[RC_BAD_DUPLICATE] = "duplicate",
	[RC_BAD_CONFLICT] = "conflict",
	[RC_BAD_ROUTING] = "routing",
	[RC_BAD_FULL] = "reassembly_full",
};

const char *rc_bad_reply_name(unsigned reason)
{
	return reason < RC_BAD__COUNT ? bad_names[reason] : "unknown";
}

int rc_check_key(size_t key_len)
{
	if (key_len == 0)
		return RC_EINVAL;
	return key_len > RC_MAX_KEY ? RC_ETOOLARGE : RC_OK;
}

static int parse_server(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	unsigned long port = RC_DEFAULT_PORT;

	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (*end || port == 0 || port > 65535)
			return -1;
	}
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

rc_client *rc_client_create(const struct rc_client_config *cfg, int *err)
{
	rc_client *c;
	const char **names;
	int e = RC_ENOMEM;

	if (!cfg || !cfg->servers || cfg->n_servers == 0 ||
	    cfg->n_servers > 1024) {
		if (err)
			*err = RC_EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	names = calloc(cfg->n_servers, sizeof(*names));
	if (!c || !names)
		goto fail;
	c->fd = -1;
	rc_io_default(c);
	c->one.slot = -1;
	c->srv = calloc(cfg->n_servers, sizeof(*c->srv));
	if (!c->srv)
		goto fail;
	c->n_srv = cfg->n_servers;
	for (size_t i = 0; i < c->n_srv; i++) {
		if (!cfg->servers[i] ||
		    parse_server(cfg->servers[i], &c->srv[i].addr) != 0) {
			e = RC_ERESOLVE;
			goto fail;
		}
		c->srv[i].partitions = 1;
		names[i] = cfg->servers[i];
		if (cfg->standbys && cfg->standbys[i] && cfg->standbys[i][0]) {
			if (parse_server(cfg->standbys[i],
					 &c->srv[i].other) != 0) {
				e = RC_ERESOLVE;
				goto fail;
			}
			c->srv[i].paired = true;
		}
	}
	c->failover_ms = cfg->failover_ms ? cfg->failover_ms : 1000;
	c->read_standby = cfg->read_standby != 0;
	if (rc_hashring_build(&c->ring, names, c->n_srv) != 0)
		goto fail;
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 100;
	c->durable_timeout_ms =
		cfg->durable_timeout_ms ? cfg->durable_timeout_ms
		: c->timeout_ms > RC_DEFAULT_DURABLE_TIMEOUT_MS
			? c->timeout_ms
			: RC_DEFAULT_DURABLE_TIMEOUT_MS;
	c->avg_value = 64;
	c->retries = cfg->retries;
	c->backoff_ms = cfg->backoff_ms;
	/* The jitter seed and the first request ids: unpredictable. */
	if (c->io.random(c->io.ctx, &c->rng, sizeof(c->rng)) != 0 ||
	    c->io.random(c->io.ctx, c->ids, sizeof(c->ids)) != 0) {
		e = RC_ESYSTEM;
		goto fail;
	}
	c->n_ids = RC_ID_POOL;
	if (!c->rng)
		c->rng = 1;
	c->tx_cap = RC_PROTO_MAX_DATAGRAM;
	c->tx = malloc(c->tx_cap);
	if (!c->tx)
		goto fail;
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		e = RC_ESYSTEM;
		goto fail;
	}
	/* Room for a whole segmented reply: FORCE works for root, else the
	 * kernel caps the request at net.core.rmem_max (operations.md). */
	{
		int sz = RCVBUF_BYTES;

		if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz,
			       sizeof(sz)) != 0)
			(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sz,
					 sizeof(sz));
	}
	free(names);
	return c;
fail:
	free(names);
	rc_client_destroy(c);
	if (err)
		*err = e;
	return NULL;
}

void rc_client_destroy(rc_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	rc_io_end(c);
	free(c->tx);
	rc_hashring_free(&c->ring);
	free(c->srv);
	free(c);
}

void rc_client_get_stats(const rc_client *c, struct rc_client_stats *st)
{
	*st = c->st;
}

/* Which node and partition own a key. Node choice uses the digest's high
 * word, partition choice its low word, so the two are independent. */
void rc_route(const rc_client *c, const struct rc_proto_digest *d,
	      size_t *srv, unsigned *part)
{
	*srv = c->n_srv == 1 ? 0
			     : rc_hashring_lookup(&c->ring,
						  (uint32_t)(d->hi >> 32));
	*part = rc_proto_partition(d, c->srv[*srv].partitions);
}

/* Move a pair's traffic to its other node. */
static void fail_over(rc_client *c, size_t srv)
{
	struct server *sv = &c->srv[srv];
	struct sockaddr_in t = sv->addr;

	sv->addr = sv->other;
	sv->other = t;
	c->st.failovers++;
}

/* Make c->tx hold at least cap bytes. */
static int tx_reserve(rc_client *c, size_t cap)
{
	uint8_t *p;

	if (cap <= c->tx_cap)
		return RC_OK;
	p = realloc(c->tx, cap);
	if (!p)
		return RC_ENOMEM;
	c->tx = p;
	c->tx_cap = cap;
	return RC_OK;
}

/* Send one op for its key, following partition-count changes, padding
 * requests and failover. idempotent: the op may be sent again after a
 * timeout (a conditional write may not: its first copy may have been
 * applied). On RC_OK c->reps[0] holds the answer, until rc_io_end(). */
static int single(rc_client *c, struct rc_proto_req_op *op, bool idempotent)
{
	struct rc_proto_digest d;
	uint64_t give_up = 0;
	size_t need = RC_PROTO_HDR_LEN + rc_proto_req_op_size(op);
	/* Every request is at least as large as the smallest answer. */
	size_t pad = RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN;
	int r = rc_check_key(op->key_len);

	if (r != RC_OK)
		return r;
	if (need > RC_PROTO_MAX_MESSAGE)
		return RC_ETOOLARGE;
	rc_proto_key_digest(op->key, op->key_len, &d);
	/* Re-routes (WRONG_PARTITION, PAD_REQUIRED) are bounded per node:
	 * moving to the pair's other node starts afresh, and the failover
	 * itself is bounded by failover_ms. */
	for (unsigned reroutes = 0;;) {
		size_t srv, len;
		unsigned part;

		r = tx_reserve(c, need > pad ? need : pad);
		if (r != RC_OK)
			return r;
		rc_route(c, &d, &srv, &part);
		len = RC_PROTO_HDR_LEN +
		      rc_proto_req_op_encode(c->tx + RC_PROTO_HDR_LEN,
					     c->tx_cap - RC_PROTO_HDR_LEN, op);
		/* Reads may go to the standby; one that does not answer
		 * is asked of the primary. */
		c->to_other = c->read_standby && c->srv[srv].paired &&
			      op->opcode == RC_OP_GET;
		r = rc_transact(c, srv, &d, op->opcode, 1, len, pad, idempotent);
		if (r == RC_ETIMEOUT && c->to_other) {
			c->to_other = false;
			r = rc_transact(c, srv, &d, op->opcode, 1, len, pad,
					idempotent);
		}
		c->to_other = false;
		/* A timed-out write that may not be repeated: its outcome
		 * is unknown, and the caller is told so. */
		if (r == RC_ETIMEOUT && !idempotent)
			return r;
		if (c->srv[srv].paired &&
		    (r == RC_ETIMEOUT ||
		     (r == RC_OK && c->reps[0].status == RC_ST_NOT_PRIMARY))) {
			/* The pair is failing over: follow it, for a while.
			 * NOT_PRIMARY means the op was not executed, so even
			 * a conditional write may go to the other node. */
			if (r == RC_OK)
				c->st.not_primary++;
			if (!give_up)
				give_up = rc_now(c) + c->failover_ms;
			if (rc_now(c) < give_up) {
				fail_over(c, srv);
				if (r == RC_OK)
					rc_pause(c);
				reroutes = 0;
				continue;
			}
		}
		if (r != RC_OK)
			return r;
		if ((c->reps[0].status == RC_ST_WRONG_PARTITION ||
		     c->reps[0].status == RC_ST_PAD_REQUIRED) &&
		    ++reroutes > RC_MAX_REROUTES)
			return RC_EPROTOCOL;
		/* The reply told us the real partition count: go again. */
		if (c->reps[0].status == RC_ST_WRONG_PARTITION)
			continue;
		/* Not trusted: the request must be as large as the answer
		 * (flags = the value's length). */
		if (c->reps[0].status == RC_ST_PAD_REQUIRED &&
		    pad < RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN +
				  (size_t)c->reps[0].client_flags) {
			pad = RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN +
			      c->reps[0].client_flags;
			if (pad > RC_PROTO_MAX_MESSAGE)
				return RC_ETOOLARGE;
			c->st.padded++;
			continue;
		}
		return rc_status_to_err(c->reps[0].status);
	}
}

int rc_get(rc_client *c, const void *key, size_t key_len, void *buf,
	   size_t cap, size_t *value_len, struct rc_item_meta *meta)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_GET,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)key_len, .key = key};
	const struct rc_proto_rep_op *rep;
	int r;

	if (value_len)
		*value_len = 0;
	if (meta)
		memset(meta, 0, sizeof(*meta));
	if (!c || (!buf && cap) || key_len > UINT16_MAX)
		return RC_EINVAL;
	r = single(c, &op, true);
	if (r != RC_OK) {
		rc_io_end(c);
		return r;
	}
	rep = &c->reps[0];
	if (value_len)
		*value_len = rep->value_len;
	if (meta) {
		meta->flags = rep->client_flags;
		meta->cas = rep->cas;
		meta->class_id = rep->class_id;
		meta->stale = (rep->op_flags & RC_PROTO_OPF_STALE) != 0;
	}
	if (rep->value_len)
		memcpy(buf, rep->value, rep->value_len < cap ? rep->value_len : cap);
	r = rep->value_len > cap ? RC_ETRUNCATED : RC_OK;
	rc_io_end(c);
	return r;
}

int rc_set(rc_client *c, const void *key, size_t key_len, const void *value,
	   size_t value_len, const struct rc_set_opts *opts,
	   uint64_t *cas_out)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_SET,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)key_len,
				     .value_len = (uint32_t)value_len,
				     .key = key, .value = value};
	int r;

	if (cas_out)
		*cas_out = 0;
	if (!c || (!value && value_len) || key_len > UINT16_MAX)
		return RC_EINVAL;
	if (value_len > RC_MAX_VALUE)
		return RC_ETOOLARGE;
	if (opts) {
		op.client_flags = opts->flags;
		op.ttl = opts->ttl;
		op.cas = opts->cas;
		op.class_id = opts->class_id;
		if (opts->durable)
			c->req_flags = RC_PROTO_F_DURABLE;
	}
	r = single(c, &op, op.cas == 0);
	c->req_flags = 0;
	if ((r == RC_OK || r == RC_ENOTREPLICATED) && cas_out)
		*cas_out = c->reps[0].cas;
	rc_io_end(c);
	return r;
}

int rc_delete(rc_client *c, const void *key, size_t key_len, uint64_t cas)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_DELETE,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)key_len, .cas = cas,
				     .key = key};
	int r;

	if (!c || key_len > UINT16_MAX)
		return RC_EINVAL;
	r = single(c, &op, cas == 0);
	rc_io_end(c);
	return r;
}

int rc_touch(rc_client *c, const void *key, size_t key_len, uint32_t ttl)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_TOUCH,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)key_len, .ttl = ttl,
				     .key = key};
	int r;

	if (!c || key_len > UINT16_MAX)
		return RC_EINVAL;
	r = single(c, &op, true);
	rc_io_end(c);
	return r;
}

int rc_ping(rc_client *c, size_t idx)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_NOOP};
	size_t len;
	int r;

	if (!c || idx >= c->n_srv)
		return RC_EINVAL;
	len = RC_PROTO_HDR_LEN +
	      rc_proto_req_op_encode(c->tx + RC_PROTO_HDR_LEN,
				     c->tx_cap - RC_PROTO_HDR_LEN, &op);
	r = rc_transact(c, idx, NULL, RC_OP_NOOP, 1, len,
			RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN, true);
	if (r == RC_OK)
		r = rc_status_to_err(c->reps[0].status);
	rc_io_end(c);
	return r;
}
