/* SPDX-License-Identifier: MIT
 * libringcache I/O: datagrams out, replies in and matched against the
 * requests in flight, segmented replies reassembled within hard limits,
 * and the retry loop of one request. Nothing here believes a datagram
 * until it has matched a request in every field (ringcache.h, "What a
 * reply must be to be believed"). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "client_int.h"

/* ---- the default transport: the client's socket ------------------- */

static int sock_send(void *ctx, const void *buf, size_t len,
		     const struct sockaddr_in *to)
{
	rc_client *c = ctx;

	for (;;) {
		if (sendto(c->fd, buf, len, 0, (const struct sockaddr *)to,
			   sizeof(*to)) == (ssize_t)len)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static uint64_t clock_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static ssize_t sock_recv(void *ctx, void *buf, size_t cap,
			 struct sockaddr_in *from, uint64_t deadline)
{
	rc_client *c = ctx;

	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		socklen_t fl = sizeof(*from);
		uint64_t t = clock_ms(NULL);
		ssize_t n;
		int r;

		if (t >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(deadline - t));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		/* MSG_TRUNC: the real length, so a longer one is seen. */
		n = recvfrom(c->fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)from, &fl);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

static void sleep_us(void *ctx, uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000),
			      (long)(us % 1000000) * 1000};

	(void)ctx;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int os_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void rc_io_default(rc_client *c)
{
	c->io = (struct rc_io){.send = sock_send, .recv = sock_recv,
			       .now = clock_ms, .sleep_us = sleep_us,
			       .random = os_random, .ctx = c};
}

void rc_client_set_io(rc_client *c, const struct rc_io *io)
{
	c->io = *io;
}

uint64_t rc_now(rc_client *c)
{
	return c->io.now(c->io.ctx);
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
void rc_backoff(rc_client *c, unsigned attempt)
{
	uint64_t ms;

	if (!c->backoff_ms)
		return;
	ms = (uint64_t)c->backoff_ms << (attempt > 10 ? 10 : attempt - 1);
	c->io.sleep_us(c->io.ctx,
		       ms * 500 + xorshift(&c->rng) % (ms * 500 + 1));
}

/* Between NOT_PRIMARY answers while a pair elects its primary. */
void rc_pause(rc_client *c)
{
	c->io.sleep_us(c->io.ctx, 5000 + xorshift(&c->rng) % 5000);
}

static bool recent(const rc_client *c, uint32_t id)
{
	for (unsigned i = 0; i < RC_RECENT_IDS; i++)
		if (c->recent[i] == id)
			return true;
	return false;
}

/* Ids come from the kernel's random source, RC_ID_POOL at a time: a
 * stale or guessed id does not answer the next request. An id still
 * remembered as recent is skipped, so a late reply to an earlier attempt
 * can never pass for the answer to this one. */
int rc_new_id(rc_client *c, uint32_t *id)
{
	do {
		if (c->n_ids == 0) {
			if (c->io.random(c->io.ctx, c->ids, sizeof(c->ids)) != 0)
				return RC_ESYSTEM;
			c->n_ids = RC_ID_POOL;
		}
		*id = c->ids[--c->n_ids];
	} while (recent(c, *id));
	c->recent[c->recent_pos++ % RC_RECENT_IDS] = *id;
	return RC_OK;
}

struct sockaddr_in rc_dest(const rc_client *c, size_t srv, unsigned part,
			   bool other)
{
	struct sockaddr_in to = other ? c->srv[srv].other : c->srv[srv].addr;

	/* part < partitions, and base + partitions - 1 <= 65535: checked
	 * when the count was learnt (routing_ok). */
	to.sin_port = htons((uint16_t)(ntohs(to.sin_port) + part));
	return to;
}

int rc_send_dgram(rc_client *c, const struct sockaddr_in *to,
		  const uint8_t *buf, size_t len)
{
	c->st.requests++;
	return c->io.send(c->io.ctx, buf, len, to) == 0 ? RC_OK : RC_ESYSTEM;
}

/* Send the message in buf (header h already encoded at its start): one
 * datagram, or segments of RC_PROTO_SEG_BODY bytes each. */
static int send_msg(rc_client *c, const struct sockaddr_in *to,
		    const struct rc_proto_hdr *h, const uint8_t *buf,
		    size_t len)
{
	struct rc_proto_hdr sh = *h;
	unsigned n = rc_proto_seg_count(len);

	if (n == 1)
		return rc_send_dgram(c, to, buf, len);
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
		r = rc_send_dgram(c, to, c->seg, RC_PROTO_HDR_LEN + body);
		if (r != RC_OK)
			return r;
	}
	return RC_OK;
}

/* Zero-fill a request from len up to pad bytes (PADDED): an untrusted
 * client's request must be as large as its answer. @return new length. */
size_t rc_pad_request(uint8_t *buf, size_t len, size_t pad,
		      struct rc_proto_hdr *h)
{
	if (pad <= len)
		return len;
	memset(buf + len, 0, pad - len);
	h->flags |= RC_PROTO_F_PADDED;
	return pad;
}

/* ---- reassembly ------------------------------------------------------ */

static void slot_free_buf(rc_client *c, struct rc_reasm_slot *s)
{
	free(s->buf);
	c->ra_bytes -= s->alloc;
	s->buf = NULL;
	s->alloc = 0;
}

static void slot_release(rc_client *c, struct rc_pending *p)
{
	if (p->slot < 0)
		return;
	slot_free_buf(c, &c->ra[p->slot]);
	memset(&c->ra[p->slot], 0, sizeof(c->ra[0]));
	p->slot = -1;
}

void rc_io_end(rc_client *c)
{
	for (unsigned i = 0; i < RC_CLIENT_REASM_MAX_ENTRIES; i++) {
		if (c->ra[i].buf)
			slot_free_buf(c, &c->ra[i]);
		memset(&c->ra[i], 0, sizeof(c->ra[i]));
	}
	c->one.slot = -1;
}

void rc_client_state(const rc_client *c, struct rc_client_state *s)
{
	s->reasm_bytes = c->ra_bytes;
	s->reasm_peak = c->ra_peak;
	s->reasm_slots = 0;
	for (unsigned i = 0; i < RC_CLIENT_REASM_MAX_ENTRIES; i++)
		s->reasm_slots += c->ra[i].used;
}

static int bad(rc_client *c, enum rc_bad_reply why)
{
	c->st.bad_replies++;
	c->st.bad_reply[why]++;
	return -1;
}

static bool same_msg_hdr(const struct rc_proto_hdr *a,
			 const struct rc_proto_hdr *b)
{
	return a->flags == b->flags && a->epoch == b->epoch &&
	       a->n_ops == b->n_ops && a->seg_count == b->seg_count &&
	       a->partitions == b->partitions;
}

/* Add one segment (decoded header h, whole datagram dg of len bytes) of
 * the reply to p. @return 1 complete (*msg, *msg_len), 0 kept, -1
 * dropped (counted). */
static int reasm_add(rc_client *c, struct rc_pending *p,
		     const struct rc_proto_hdr *h, const uint8_t *dg,
		     size_t len, const uint8_t **msg, size_t *msg_len)
{
	const size_t body = len - RC_PROTO_HDR_LEN;
	const bool last = h->seg_index == h->seg_count - 1;
	const size_t alloc =
		RC_PROTO_HDR_LEN + (size_t)h->seg_count * RC_PROTO_SEG_BODY;
	const uint64_t bit = 1ull << (h->seg_index % 64);
	struct rc_reasm_slot *s;
	uint8_t *at;

	/* Every segment but the last is full; the smallest message of
	 * seg_count segments must fit the largest reply; a multi-op
	 * reply is never segmented. */
	if (body == 0 || body > RC_PROTO_SEG_BODY ||
	    (!last && body != RC_PROTO_SEG_BODY) || p->n_ops != 1 ||
	    alloc - RC_PROTO_SEG_BODY + 1 > RC_CLIENT_REASM_MAX_MESSAGE)
		return bad(c, RC_BAD_SEGMENT);
	if (p->slot < 0) {
		unsigned i;

		for (i = 0; i < RC_CLIENT_REASM_MAX_ENTRIES; i++)
			if (!c->ra[i].used)
				break;
		if (i == RC_CLIENT_REASM_MAX_ENTRIES ||
		    c->ra_bytes + alloc > RC_CLIENT_REASM_MAX_BYTES) {
			p->too_big = true;
			return bad(c, RC_BAD_FULL);
		}
		s = &c->ra[i];
		s->buf = malloc(alloc);
		if (!s->buf) {
			p->too_big = true;
			return bad(c, RC_BAD_FULL);
		}
		s->used = true;
		s->alloc = alloc;
		s->h = *h;
		c->ra_bytes += alloc;
		if (c->ra_bytes > c->ra_peak)
			c->ra_peak = c->ra_bytes;
		p->slot = (int)i;
	}
	s = &c->ra[p->slot];
	if (s->dropped)
		return bad(c, RC_BAD_CONFLICT);
	at = s->buf + RC_PROTO_HDR_LEN + (size_t)h->seg_index * RC_PROTO_SEG_BODY;
	if (!same_msg_hdr(&s->h, h) ||
	    ((s->seen[h->seg_index / 64] & bit) &&
	     ((last && body != s->last_body) || memcmp(at, dg + RC_PROTO_HDR_LEN,
						      body) != 0))) {
		/* Two versions of one reply: neither is believed. */
		slot_free_buf(c, s);
		s->dropped = true;
		return bad(c, RC_BAD_CONFLICT);
	}
	if (s->seen[h->seg_index / 64] & bit)
		return bad(c, RC_BAD_DUPLICATE);
	s->seen[h->seg_index / 64] |= bit;
	memcpy(at, dg + RC_PROTO_HDR_LEN, body);
	if (last)
		s->last_body = body;
	if (++s->received < s->h.seg_count)
		return 0;
	{
		struct rc_proto_hdr whole = s->h;

		whole.flags &= (uint8_t)~RC_PROTO_F_SEGMENTED;
		whole.seg_index = 0;
		whole.seg_count = 1;
		rc_proto_hdr_encode(s->buf, &whole);
	}
	*msg = s->buf;
	*msg_len = RC_PROTO_HDR_LEN +
		   (size_t)(s->h.seg_count - 1) * RC_PROTO_SEG_BODY + s->last_body;
	return 1;
}

/* ---- matching --------------------------------------------------------- */

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

/* The partition count and epoch of a matched reply are believable:
 * within bounds, covering the port the reply came from, and a
 * WRONG_PARTITION must name a count that moves the key elsewhere. */
static bool routing_ok(const struct rc_pending *p, const struct rc_proto_hdr *h,
		       const struct rc_proto_rep_op *reps)
{
	unsigned base = ntohs(p->to.sin_port) - p->part;

	if (h->partitions == 0 || h->partitions > RC_MAX_PARTITIONS ||
	    base + h->partitions - 1 > 65535 || p->part >= h->partitions)
		return false;
	for (unsigned i = 0; i < h->n_ops; i++) {
		if (reps[i].status != RC_ST_WRONG_PARTITION)
			continue;
		if (h->partitions == p->parts_used ||
		    (p->digest &&
		     rc_proto_partition(p->digest, h->partitions) == p->part))
			return false;
	}
	return true;
}

/* An op answers ours if it echoes the opcode; BUSY (the whole request
 * was not taken) comes with opcode NOOP. */
static bool ops_ok(const struct rc_pending *p, const struct rc_proto_rep_op *r,
		   unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].opcode != p->opcode &&
		    !(r[i].status == RC_ST_BUSY && r[i].opcode == RC_OP_NOOP))
			return false;
	return true;
}

/* Judge one datagram. @return index of the request it answers, or -1. */
static int judge(rc_client *c, struct rc_pending *p, size_t n, size_t len,
		 const struct sockaddr_in *from)
{
	struct rc_proto_hdr h;
	const uint8_t *msg = c->rx;
	struct rc_pending *q = NULL;
	bool known_src = false;
	int r;

	if (len > RC_PROTO_MAX_DATAGRAM ||
	    rc_proto_hdr_decode(c->rx, len, &h) != RC_PROTO_OK ||
	    !(h.flags & RC_PROTO_F_REPLY))
		return bad(c, RC_BAD_MALFORMED);
	for (size_t i = 0; i < n; i++) {
		if (!same_addr(&p[i].to, from))
			continue;
		known_src = true;
		if (p[i].id == h.request_id && !p[i].done) {
			q = &p[i];
			break;
		}
	}
	if (!q) {
		if (recent(c, h.request_id)) {
			c->st.stale++;
			return -1;
		}
		return bad(c, known_src ? RC_BAD_ID : RC_BAD_SOURCE);
	}
	if (h.n_ops != q->n_ops)
		return bad(c, RC_BAD_OPS);
	if (h.flags & RC_PROTO_F_SEGMENTED) {
		r = reasm_add(c, q, &h, c->rx, len, &msg, &len);
		if (r <= 0)
			return -1;
	}
	if (rc_proto_decode_reply(msg, len, &c->rh, c->reps, RC_PROTO_MAX_OPS) !=
	    RC_PROTO_OK)
		r = bad(c, RC_BAD_MALFORMED);
	else if (!ops_ok(q, c->reps, c->rh.n_ops))
		r = bad(c, RC_BAD_OPS);
	else if (!routing_ok(q, &c->rh, c->reps))
		r = bad(c, RC_BAD_ROUTING);
	else
		r = 0;
	if (r < 0) {
		/* A whole reassembled reply refused: its segments may come
		 * again, but never complete another. */
		if (q->slot >= 0) {
			slot_free_buf(c, &c->ra[q->slot]);
			c->ra[q->slot].dropped = true;
		}
		return -1;
	}
	q->done = true;
	return (int)(q - p);
}

int rc_recv_reply(rc_client *c, struct rc_pending *p, size_t n,
		  uint64_t deadline)
{
	/* The caller is done with the answers it had: free their buffers. */
	for (size_t i = 0; i < n; i++)
		if (p[i].done && p[i].slot >= 0)
			slot_release(c, &p[i]);
	for (;;) {
		struct sockaddr_in from;
		ssize_t got;
		int i;

		memset(&from, 0, sizeof(from));
		got = c->io.recv(c->io.ctx, c->rx, sizeof(c->rx), &from,
				 deadline);
		if (got == -ETIMEDOUT)
			return RC_ETIMEOUT;
		if (got < 0)
			return RC_ESYSTEM;
		i = judge(c, p, n, (size_t)got, &from);
		if (i >= 0) {
			struct server *sv = &c->srv[p[i].srv];

			/* Believed: learn the node's routing from it. */
			if (c->rh.epoch > sv->epoch)
				sv->epoch = c->rh.epoch;
			sv->partitions = c->rh.partitions;
			return i;
		}
	}
}

/* ---- one request and its retries ------------------------------------ */

int rc_transact(rc_client *c, size_t srv, const struct rc_proto_digest *d,
		uint8_t opcode, uint16_t n_ops, size_t len, size_t pad,
		bool idempotent)
{
	unsigned attempts = 1 + (idempotent ? c->retries : 0);
	unsigned wait_ms = c->req_flags & RC_PROTO_F_DURABLE
				   ? c->durable_timeout_ms
				   : c->timeout_ms;
	struct rc_pending *p = &c->one;
	int busy = 0;

	for (unsigned a = 0; a < attempts; a++) {
		struct server *sv = &c->srv[srv];
		struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
					 .flags = c->req_flags,
					 .n_ops = n_ops, .seg_count = 1,
					 .epoch = sv->epoch};
		size_t mlen = rc_pad_request(c->tx, len, pad, &h);
		unsigned part = d ? rc_proto_partition(d, sv->partitions) : 0;
		int r;

		if (a > 0) {
			c->st.retries++;
			rc_backoff(c, a);
		}
		rc_io_end(c);
		r = rc_new_id(c, &h.request_id);
		if (r != RC_OK)
			return r;
		*p = (struct rc_pending){
			.to = rc_dest(c, srv, part, c->to_other), .srv = srv,
			.part = part, .parts_used = sv->partitions,
			.n_ops = n_ops, .opcode = opcode,
			.id = h.request_id, .digest = d, .slot = -1};
		rc_proto_hdr_encode(c->tx, &h);
		r = send_msg(c, &p->to, &h, c->tx, mlen);
		if (r != RC_OK)
			return r;
		/* Big messages take longer on the wire. */
		r = rc_recv_reply(c, p, 1,
				  rc_now(c) + wait_ms +
					  rc_proto_seg_count(mlen) / 64);
		if (r >= 0 && c->reps[0].status == RC_ST_BUSY) {
			busy = 1;
			continue;
		}
		if (r >= 0)
			return RC_OK;
		if (r != RC_ETIMEOUT)
			return r;
		c->st.timeouts++;
		/* Nothing answered on a partition's port: the count may be
		 * wrong (a node restarted with fewer workers, or one bad
		 * reply). Ask the base port next; it answers WRONG_PARTITION
		 * with the real count. */
		if (part != 0)
			sv->partitions = 1;
	}
	return busy ? RC_EBUSY : RC_ETIMEOUT;
}
