/* SPDX-License-Identifier: MIT
 * libringcache: routing, request/reply matching, timeouts and retries. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hashring.h"
#include "rc_proto.h"
#include "rc_reasm.h"
#include "ringcache.h"

#define REPLY_BUF 2048
#define MAX_REROUTES 3
/* Socket receive buffer asked for: a 1 MiB reply is ~720 datagrams. */
#define RCVBUF_BYTES (8 << 20)

struct server {
	struct sockaddr_in addr;  /* port = base port; of the pair, the node
				   * believed primary */
	struct sockaddr_in other; /* its standby (paired only) */
	bool paired;
	uint16_t partitions;      /* learnt from replies; 1 until then */
	uint32_t epoch;
};

struct rc_client {
	int fd;
	struct server *srv;
	size_t n_srv;
	struct rc_hashring ring;
	unsigned timeout_ms, retries, backoff_ms, failover_ms;
	bool read_standby;
	bool to_other;            /* this attempt goes to the pair's other */
	uint8_t req_flags;        /* extra header flags of this request */
	uint32_t next_id;
	uint64_t rng;
	uint32_t avg_value;       /* running mean of values seen, for mget */
	struct rc_client_stats st;
	struct rc_proto_hdr rh;
	struct rc_proto_rep_op reps[RC_PROTO_MAX_OPS];
	struct rc_reasm *reasm;   /* segmented replies */
	uint8_t *held;            /* reassembled reply behind c->reps */
	uint8_t *tx;              /* request being sent; grows for segments */
	size_t tx_cap;
	uint8_t seg[RC_PROTO_MAX_DATAGRAM];
	uint8_t rx[REPLY_BUF];
};

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

static int status_to_err(uint8_t st)
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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Pause before attempt number `attempt` (1-based): backoff * 2^(a-1),
 * jittered to 50..100% so clients that failed together spread out. */
static void backoff(rc_client *c, unsigned attempt)
{
	uint64_t ms, us;
	struct timespec ts;

	if (!c->backoff_ms)
		return;
	ms = (uint64_t)c->backoff_ms << (attempt > 10 ? 10 : attempt - 1);
	us = ms * 500 + xorshift(&c->rng) % (ms * 500 + 1);
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	nanosleep(&ts, NULL);
}

/* Between NOT_PRIMARY answers while a pair elects its primary. */
static void backoff_pause(rc_client *c)
{
	struct timespec ts = {0, (long)(5000 + xorshift(&c->rng) % 5000) * 1000};

	nanosleep(&ts, NULL);
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
	c->srv = calloc(cfg->n_servers, sizeof(*c->srv));
	if (!c->srv)
		goto fail;
	c->n_srv = cfg->n_servers;
	for (size_t i = 0; i < c->n_srv; i++) {
		if (parse_server(cfg->servers[i], &c->srv[i].addr) != 0) {
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
	c->avg_value = 64;
	c->retries = cfg->retries;
	c->backoff_ms = cfg->backoff_ms;
	c->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ms() ^
		 (uint64_t)(uintptr_t)c;
	if (!c->rng)
		c->rng = 1;
	c->next_id = (uint32_t)xorshift(&c->rng);
	c->tx_cap = RC_PROTO_MAX_DATAGRAM;
	c->tx = malloc(c->tx_cap);
	{
		struct rc_reasm_config rc = {
			.max_entries = 16, .max_bytes = 32u << 20,
			.max_message = RC_PROTO_MAX_MESSAGE,
			.timeout = 4 * (uint64_t)c->timeout_ms,
		};
		c->reasm = rc_reasm_create(&rc);
	}
	if (!c->tx || !c->reasm)
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
	if (c->reasm) {
		if (c->held)
			rc_reasm_release(c->reasm, c->held);
		rc_reasm_destroy(c->reasm);
	}
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
static void route(const rc_client *c, const struct rc_proto_digest *d,
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

static int send_dgram(rc_client *c, size_t srv, unsigned part,
		      const uint8_t *buf, size_t len)
{
	struct sockaddr_in to = c->to_other ? c->srv[srv].other
					    : c->srv[srv].addr;

	to.sin_port = htons((uint16_t)(ntohs(to.sin_port) + part));
	c->st.requests++;
	for (;;) {
		if (sendto(c->fd, buf, len, 0, (struct sockaddr *)&to,
			   sizeof(to)) == (ssize_t)len)
			return RC_OK;
		if (errno != EINTR)
			return RC_ESYSTEM;
	}
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

/* Send the message in buf (header h already encoded at its start): one
 * datagram, or segments of RC_PROTO_SEG_BODY bytes each. */
static int send_msg(rc_client *c, size_t srv, unsigned part,
		    const struct rc_proto_hdr *h, const uint8_t *buf,
		    size_t len)
{
	struct rc_proto_hdr sh = *h;
	unsigned n = rc_proto_seg_count(len);

	if (n == 1)
		return send_dgram(c, srv, part, buf, len);
	sh.flags |= RC_PROTO_F_SEGMENTED;
	sh.seg_count = (uint16_t)n;
	for (unsigned i = 0; i < n; i++) {
		size_t off = RC_PROTO_HDR_LEN + (size_t)i * RC_PROTO_SEG_BODY;
		size_t body = len - off < RC_PROTO_SEG_BODY ? len - off
							     : RC_PROTO_SEG_BODY;
		int r;

		sh.seg_index = (uint16_t)i;
		rc_proto_hdr_encode(c->seg, &sh);
		memcpy(c->seg + RC_PROTO_HDR_LEN, buf + off, body);
		r = send_dgram(c, srv, part, c->seg, RC_PROTO_HDR_LEN + body);
		if (r != RC_OK)
			return r;
	}
	return RC_OK;
}

/* Zero-fill a request from len up to pad bytes (PADDED): an untrusted
 * client's request must be as large as its answer. @return new length. */
static size_t pad_request(uint8_t *buf, size_t len, size_t pad,
			  struct rc_proto_hdr *h)
{
	if (pad <= len)
		return len;
	memset(buf + len, 0, pad - len);
	h->flags |= RC_PROTO_F_PADDED;
	return pad;
}

/* Receive one well-formed reply from a known server before deadline.
 * Fills c->rh, c->reps. @return server index, RC_ETIMEOUT, RC_ESYSTEM. */
static int recv_reply(rc_client *c, uint64_t deadline)
{
	if (c->held) {
		rc_reasm_release(c->reasm, c->held);
		c->held = NULL;
	}
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		uint64_t t = now_ms();
		ssize_t n;
		int r;

		if (t >= deadline)
			return RC_ETIMEOUT;
		r = poll(&p, 1, (int)(deadline - t));
		if (r < 0 && errno != EINTR)
			return RC_ESYSTEM;
		if (r <= 0)
			continue;
		n = recvfrom(c->fd, c->rx, sizeof(c->rx), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return RC_ESYSTEM;
		}
		for (size_t s = 0; s < c->n_srv; s++) {
			struct server *sv = &c->srv[s];
			const uint8_t *msg = c->rx;
			size_t mlen = (size_t)n;

			if (sv->addr.sin_addr.s_addr != from.sin_addr.s_addr &&
			    !(sv->paired && sv->other.sin_addr.s_addr ==
						    from.sin_addr.s_addr))
				continue;
			if (rc_proto_hdr_decode(c->rx, mlen, &c->rh) ==
				    RC_PROTO_OK &&
			    (c->rh.flags & RC_PROTO_F_SEGMENTED)) {
				uint8_t *whole;
				enum rc_reasm_result rr = rc_reasm_add(
					c->reasm,
					(uint64_t)from.sin_addr.s_addr << 16 |
						from.sin_port,
					&c->rh, c->rx, mlen, now_ms(), &whole,
					&mlen);

				if (rr != RC_REASM_DONE) {
					if (rr >= RC_REASM_FULL)
						c->st.bad_replies++;
					break;
				}
				c->held = whole;
				msg = whole;
			}
			if (rc_proto_decode_reply(msg, mlen, &c->rh, c->reps,
						  RC_PROTO_MAX_OPS) !=
			    RC_PROTO_OK) {
				c->st.bad_replies++;
				break;
			}
			if (c->rh.epoch > sv->epoch)
				sv->epoch = c->rh.epoch;
			if (c->rh.partitions)
				sv->partitions = c->rh.partitions;
			return (int)s;
		}
	}
}

/* One request of n_ops already encoded after the header in c->tx (total
 * len bytes, c->tx_cap >= pad): pad it to pad bytes, send it (segmented
 * if long), wait for its reply, retry if allowed. On success the reply is
 * in c->rh / c->reps. A whole-request BUSY is retried like a timeout. */
static int transact(rc_client *c, size_t srv, unsigned part, uint16_t n_ops,
		    size_t len, size_t pad, bool idempotent)
{
	unsigned attempts = 1 + (idempotent ? c->retries : 0);
	int busy = 0;

	for (unsigned a = 0; a < attempts; a++) {
		struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
					 .flags = c->req_flags,
					 .n_ops = n_ops, .seg_count = 1,
					 .epoch = c->srv[srv].epoch};
		size_t mlen = pad_request(c->tx, len, pad, &h);
		uint64_t deadline;
		int r;

		if (a > 0) {
			c->st.retries++;
			backoff(c, a);
		}
		h.request_id = c->next_id++;
		rc_proto_hdr_encode(c->tx, &h);
		r = send_msg(c, srv, part, &h, c->tx, mlen);
		if (r != RC_OK)
			return r;
		/* Big messages take longer on the wire. */
		deadline = now_ms() + c->timeout_ms +
			   rc_proto_seg_count(mlen) / 64;
		while ((r = recv_reply(c, deadline)) >= 0) {
			if ((size_t)r == srv && c->rh.request_id == h.request_id &&
			    c->rh.n_ops == n_ops)
				break;
			c->st.stale++;
		}
		if (r >= 0 && c->reps[0].status == RC_ST_BUSY) {
			busy = 1;
			continue;
		}
		if (r >= 0)
			return RC_OK;
		if (r != RC_ETIMEOUT)
			return r;
		c->st.timeouts++;
	}
	return busy ? RC_EBUSY : RC_ETIMEOUT;
}

static int check_key(size_t key_len)
{
	if (key_len == 0)
		return RC_EINVAL;
	return key_len > RC_MAX_KEY ? RC_ETOOLARGE : RC_OK;
}

/* Send one op for its key, following partition-count changes and
 * padding requests. On RC_OK c->reps[0] holds the answer. */
static int single(rc_client *c, struct rc_proto_req_op *op, bool idempotent)
{
	struct rc_proto_digest d;
	uint64_t give_up = 0;
	size_t need = RC_PROTO_HDR_LEN + rc_proto_req_op_size(op);
	/* Every request is at least as large as the smallest answer. */
	size_t pad = RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN;
	int r = check_key(op->key_len);

	if (r != RC_OK)
		return r;
	if (need > RC_PROTO_MAX_MESSAGE)
		return RC_ETOOLARGE;
	rc_proto_key_digest(op->key, op->key_len, &d);
	for (unsigned i = 0; i <= MAX_REROUTES; i++) {
		size_t srv, len;
		unsigned part;

		r = tx_reserve(c, need > pad ? need : pad);
		if (r != RC_OK)
			return r;
		route(c, &d, &srv, &part);
		len = RC_PROTO_HDR_LEN +
		      rc_proto_req_op_encode(c->tx + RC_PROTO_HDR_LEN,
					     c->tx_cap - RC_PROTO_HDR_LEN, op);
		/* Reads may go to the standby; one that does not answer
		 * is asked of the primary. */
		c->to_other = c->read_standby && c->srv[srv].paired &&
			      op->opcode == RC_OP_GET;
		r = transact(c, srv, part, 1, len, pad, idempotent);
		if (r == RC_ETIMEOUT && c->to_other) {
			c->to_other = false;
			r = transact(c, srv, part, 1, len, pad, idempotent);
		}
		c->to_other = false;
		if (c->srv[srv].paired &&
		    (r == RC_ETIMEOUT ||
		     (r == RC_OK && c->reps[0].status == RC_ST_NOT_PRIMARY))) {
			/* The pair is failing over: follow it, for a while. */
			if (r == RC_OK)
				c->st.not_primary++;
			if (!give_up)
				give_up = now_ms() + c->failover_ms;
			if (now_ms() < give_up) {
				fail_over(c, srv);
				if (r == RC_OK)
					backoff_pause(c);
				i--;
				continue;
			}
		}
		if (r != RC_OK)
			return r;
		if (c->reps[0].opcode != op->opcode)
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
		return status_to_err(c->reps[0].status);
	}
	return RC_EPROTOCOL;
}

int rc_get(rc_client *c, const void *key, size_t key_len, void *buf,
	   size_t cap, size_t *value_len, struct rc_item_meta *meta)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_GET,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)key_len, .key = key};
	const struct rc_proto_rep_op *rep = &c->reps[0];
	int r;

	if (!c || (!buf && cap) || key_len > UINT16_MAX)
		return RC_EINVAL;
	r = single(c, &op, true);
	if (r != RC_OK)
		return r;
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
	return rep->value_len > cap ? RC_ETRUNCATED : RC_OK;
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
	if (r == RC_OK && cas_out)
		*cas_out = c->reps[0].cas;
	return r;
}

int rc_delete(rc_client *c, const void *key, size_t key_len, uint64_t cas)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_DELETE,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)key_len, .cas = cas,
				     .key = key};

	if (!c || key_len > UINT16_MAX)
		return RC_EINVAL;
	return single(c, &op, cas == 0);
}

int rc_touch(rc_client *c, const void *key, size_t key_len, uint32_t ttl)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_TOUCH,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)key_len, .ttl = ttl,
				     .key = key};

	if (!c || key_len > UINT16_MAX)
		return RC_EINVAL;
	return single(c, &op, true);
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
	r = transact(c, idx, 0, 1, len,
		     RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN, true);
	return r == RC_OK ? status_to_err(c->reps[0].status) : r;
}

/* ---- multi-get ---------------------------------------------------- */

struct chunk {
	size_t srv;
	unsigned part;
	uint16_t n;
	size_t len;
	uint32_t id;
	bool done;
	size_t items[RC_PROTO_MAX_OPS];
	uint8_t buf[RC_PROTO_MAX_DATAGRAM];
};

/* Put item i into a chunk for its node partition, opening one if needed. */
static int chunk_add(rc_client *c, struct chunk *ch, size_t *n_ch,
		     const struct rc_mget_item *it, size_t i, unsigned max_ops)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_GET,
				     .class_id = RC_PROTO_CLASS_AUTO,
				     .key_len = (uint16_t)it->key_len,
				     .key = it->key};
	size_t need = rc_proto_req_op_size(&op), srv;
	struct rc_proto_digest d;
	unsigned part;
	struct chunk *k = NULL;

	rc_proto_key_digest(it->key, it->key_len, &d);
	route(c, &d, &srv, &part);
	for (size_t j = *n_ch; j-- > 0;) {
		if (ch[j].srv == srv && ch[j].part == part &&
		    ch[j].n < max_ops &&
		    ch[j].len + need <= sizeof(ch[j].buf)) {
			k = &ch[j];
			break;
		}
	}
	if (!k) {
		k = &ch[(*n_ch)++];
		k->srv = srv;
		k->part = part;
		k->n = 0;
		k->len = RC_PROTO_HDR_LEN;
		k->done = false;
	}
	k->len += rc_proto_req_op_encode(k->buf + k->len,
					 sizeof(k->buf) - k->len, &op);
	k->items[k->n++] = i;
	return 0;
}

static void mget_apply(rc_client *c, struct chunk *k,
		       struct rc_mget_item *items, bool *again)
{
	for (uint16_t j = 0; j < k->n; j++) {
		struct rc_mget_item *it = &items[k->items[j]];
		const struct rc_proto_rep_op *rep = &c->reps[j];

		if (rep->status == RC_ST_OVERFLOW ||
		    rep->status == RC_ST_PAD_REQUIRED ||
		    rep->status == RC_ST_WRONG_PARTITION) {
			again[k->items[j]] = true; /* ask alone, later */
			continue;
		}
		it->status = status_to_err(rep->status);
		if (it->status != RC_OK)
			continue;
		it->value_len = rep->value_len;
		/* EWMA, 1/8 weight: sizes the next multi-get batches. */
		c->avg_value = c->avg_value - c->avg_value / 8 +
			       (uint32_t)(rep->value_len / 8);
		it->meta.flags = rep->client_flags;
		it->meta.cas = rep->cas;
		it->meta.class_id = rep->class_id;
		it->meta.stale = (rep->op_flags & RC_PROTO_OPF_STALE) != 0;
		if (rep->value_len)
			memcpy(it->buf, rep->value,
			       rep->value_len < it->cap ? rep->value_len
							: it->cap);
		if (rep->value_len > it->cap)
			it->status = RC_ETRUNCATED;
	}
	k->done = true;
}

int rc_mget(rc_client *c, struct rc_mget_item *items, size_t n)
{
	struct chunk *ch;
	bool *want, *again;
	int rc = RC_OK;

	if (!c || (!items && n))
		return RC_EINVAL;
	ch = calloc(n ? n : 1, sizeof(*ch));
	want = calloc(n ? n : 1, sizeof(*want));
	again = calloc(n ? n : 1, sizeof(*again));
	if (!ch || !want || !again) {
		rc = RC_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].value_len = 0;
		items[i].status = check_key(items[i].key_len);
		if (items[i].status == RC_OK && (!items[i].buf && items[i].cap))
			items[i].status = RC_EINVAL;
		if (items[i].status == RC_OK) {
			items[i].status = RC_ETIMEOUT;
			want[i] = true;
		}
	}
	for (unsigned a = 0; a <= c->retries; a++) {
		size_t n_ch = 0, open = 0;
		uint64_t deadline;
		uint32_t base;
		/* Batch only as many keys as replies of the usual size fit in
		 * one datagram; the server answers OVERFLOW past that and
		 * those keys cost a second round trip. */
		uint32_t per = RC_PROTO_REP_OP_LEN + c->avg_value +
			       c->avg_value / 4;
		unsigned max_ops = (RC_PROTO_MAX_DATAGRAM - RC_PROTO_HDR_LEN) / per;

		max_ops = max_ops < 1 ? 1 : max_ops > RC_PROTO_MAX_OPS ?
			  RC_PROTO_MAX_OPS : max_ops;
		for (size_t i = 0; i < n; i++)
			if (want[i])
				chunk_add(c, ch, &n_ch, &items[i], i, max_ops);
		if (n_ch == 0)
			break;
		if (a > 0) {
			c->st.retries += n_ch;
			backoff(c, a);
		}
		base = c->next_id;
		c->next_id += (uint32_t)n_ch;
		for (size_t j = 0; j < n_ch; j++) {
			struct rc_proto_hdr h = {
				.version = RC_PROTO_VERSION, .n_ops = ch[j].n,
				.seg_count = 1, .request_id = base + (uint32_t)j,
				.epoch = c->srv[ch[j].srv].epoch};

			size_t len = pad_request(
				ch[j].buf, ch[j].len,
				RC_PROTO_HDR_LEN +
					(size_t)ch[j].n * RC_PROTO_REP_OP_LEN,
				&h);

			ch[j].id = h.request_id;
			rc_proto_hdr_encode(ch[j].buf, &h);
			rc = send_dgram(c, ch[j].srv, ch[j].part, ch[j].buf,
					len);
			if (rc != RC_OK)
				goto out;
		}
		open = n_ch;
		deadline = now_ms() + c->timeout_ms;
		while (open > 0) {
			int s = recv_reply(c, deadline);
			uint32_t j = c->rh.request_id - base;

			if (s == RC_ETIMEOUT)
				break;
			if (s < 0) {
				rc = s;
				goto out;
			}
			if (j >= n_ch || ch[j].done || (size_t)s != ch[j].srv ||
			    c->rh.n_ops != ch[j].n) {
				c->st.stale++;
				continue;
			}
			mget_apply(c, &ch[j], items, again);
			open--;
		}
		c->st.timeouts += open;
		for (size_t j = 0; j < n_ch; j++)
			for (uint16_t k = 0; k < ch[j].n; k++)
				want[ch[j].items[k]] = !ch[j].done;
	}
	/* Keys whose answer did not fit a shared reply, or that were routed
	 * with an outdated partition count, go alone. */
	for (size_t i = 0; i < n; i++) {
		struct rc_mget_item *it = &items[i];

		if (again[i])
			it->status = rc_get(c, it->key, it->key_len, it->buf,
					    it->cap, &it->value_len, &it->meta);
	}
out:
	free(ch);
	free(want);
	free(again);
	return rc;
}
