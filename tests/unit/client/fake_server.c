/* SPDX-License-Identifier: MIT
 * The fake ringcache node of the client unit tests (fake_server.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"

static int bind_port(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sz = 4 << 20;

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Bind parts consecutive ports from base. @return 0 or -1 (none held). */
static int bind_node(struct fake_node *n, uint16_t base, unsigned parts)
{
	for (unsigned p = 0; p < parts; p++) {
		if ((unsigned)base + p > 65535 ||
		    (n->fd[p] = bind_port((uint16_t)(base + p))) < 0) {
			while (p-- > 0)
				close(n->fd[p]);
			return -1;
		}
	}
	n->base = base;
	n->parts = parts;
	return 0;
}

static uint16_t pick_base(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint16_t)(20000 + ((unsigned)ts.tv_nsec ^ (unsigned)getpid() * 7919u) %
					 30000);
}

unsigned fake_partition(const void *key, size_t len, unsigned parts)
{
	struct rc_proto_digest d;

	rc_proto_key_digest(key, len, &d);
	return rc_proto_partition(&d, parts);
}

void fake_lock(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
}

void fake_unlock(struct fake *f)
{
	pthread_mutex_unlock(&f->mu);
}

void fake_name(const struct fake *f, unsigned i, char *buf, size_t cap)
{
	snprintf(buf, cap, "127.0.0.1:%u", f->node[i].base);
}

void fake_send_raw(const struct fake_req *rq, const uint8_t *dgram, size_t len)
{
	if (rq->node->mute)
		return;
	(void)sendto(rq->node->fd[rq->part], dgram, len, 0,
		     (const struct sockaddr *)&rq->from, sizeof(rq->from));
}

size_t fake_segment(const uint8_t *msg, size_t len, unsigned seg_index,
		    uint8_t *out)
{
	struct rc_proto_hdr h;
	size_t off = RC_PROTO_HDR_LEN + (size_t)seg_index * RC_PROTO_SEG_BODY;
	size_t body = len - off < RC_PROTO_SEG_BODY ? len - off
						    : RC_PROTO_SEG_BODY;

	(void)rc_proto_hdr_decode(msg, len, &h);
	h.flags |= RC_PROTO_F_SEGMENTED;
	h.seg_index = (uint16_t)seg_index;
	h.seg_count = (uint16_t)rc_proto_seg_count(len);
	rc_proto_hdr_encode(out, &h);
	memcpy(out + RC_PROTO_HDR_LEN, msg + off, body);
	return RC_PROTO_HDR_LEN + body;
}

void fake_send_msg(const struct fake_req *rq, const uint8_t *msg, size_t len)
{
	uint8_t seg[RC_PROTO_MAX_DATAGRAM];
	unsigned n = rc_proto_seg_count(len);

	if (n == 1) {
		fake_send_raw(rq, msg, len);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		fake_send_raw(rq, seg, fake_segment(msg, len, i, seg));
}

size_t fake_encode_reply(const struct fake_req *rq, uint16_t partitions,
			 const struct rc_proto_rep_op *reps, unsigned n,
			 uint8_t *buf, size_t cap)
{
	struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
				 .flags = RC_PROTO_F_REPLY,
				 .request_id = rq->h.request_id,
				 .epoch = rq->node->epoch, .n_ops = (uint16_t)n,
				 .seg_count = 1, .partitions = partitions};
	size_t off = RC_PROTO_HDR_LEN;

	rc_proto_hdr_encode(buf, &h);
	for (unsigned i = 0; i < n; i++)
		off += rc_proto_rep_op_encode(buf + off, cap - off, &reps[i]);
	return off;
}

static struct fake_item *lookup(struct fake_node *n, const uint8_t *key,
				size_t len)
{
	for (unsigned i = 0; i < FAKE_MAX_ITEMS; i++)
		if (n->items[i].used && n->items[i].key_len == len &&
		    memcmp(n->items[i].key, key, len) == 0)
			return &n->items[i];
	return NULL;
}

static void exec_op(struct fake_node *n, const struct fake_req *rq,
		    const struct rc_proto_req_op *op, struct rc_proto_rep_op *r,
		    size_t *room)
{
	struct fake_item *it = lookup(n, op->key, op->key_len);
	bool write = op->opcode == RC_OP_SET || op->opcode == RC_OP_DELETE ||
		     op->opcode == RC_OP_TOUCH;

	memset(r, 0, sizeof(*r));
	r->opcode = op->opcode;
	r->class_id = op->class_id;
	if (op->opcode != RC_OP_NOOP &&
	    fake_partition(op->key, op->key_len, n->parts) != rq->part) {
		r->status = RC_ST_WRONG_PARTITION;
		return;
	}
	if (write && n->standby) {
		r->status = RC_ST_NOT_PRIMARY;
		return;
	}
	if (write)
		n->writes++;
	switch (op->opcode) {
	case RC_OP_NOOP:
		break;
	case RC_OP_GET:
		if (!it) {
			r->status = RC_ST_NOT_FOUND;
			break;
		}
		if (n->untrusted && it->val_len > *room) {
			r->status = RC_ST_PAD_REQUIRED;
			r->client_flags = (uint32_t)it->val_len;
			break;
		}
		*room -= n->untrusted ? it->val_len : 0;
		r->value = it->val;
		r->value_len = (uint32_t)it->val_len;
		r->client_flags = it->flags;
		r->cas = it->cas;
		break;
	case RC_OP_SET:
		if (op->cas && (!it || it->cas != op->cas)) {
			r->status = it ? RC_ST_EXISTS : RC_ST_NOT_FOUND;
			break;
		}
		if (op->value_len > FAKE_MAX_VALUE) {
			r->status = RC_ST_TOO_LARGE;
			break;
		}
		if (!it) {
			for (unsigned i = 0; i < FAKE_MAX_ITEMS && !it; i++)
				if (!n->items[i].used)
					it = &n->items[i];
			if (!it) {
				r->status = RC_ST_NO_MEMORY;
				break;
			}
			it->used = true;
			memcpy(it->key, op->key, op->key_len);
			it->key_len = op->key_len;
		}
		memcpy(it->val, op->value, op->value_len);
		it->val_len = op->value_len;
		it->flags = op->client_flags;
		it->cas = ++n->next_cas;
		r->cas = it->cas;
		break;
	case RC_OP_DELETE:
		if (!it || (op->cas && it->cas != op->cas)) {
			r->status = it ? RC_ST_EXISTS : RC_ST_NOT_FOUND;
			break;
		}
		it->used = false;
		break;
	case RC_OP_TOUCH:
		if (!it)
			r->status = RC_ST_NOT_FOUND;
		else
			r->cas = it->cas;
		break;
	default:
		r->status = RC_ST_BAD_REQUEST;
	}
}

void fake_serve(struct fake *f, const struct fake_req *rq)
{
	static struct rc_proto_rep_op reps[RC_PROTO_MAX_OPS];
	static uint8_t out[RC_PROTO_MAX_MESSAGE];
	struct fake_node *n = rq->node;
	/* An untrusted source gets no more bytes back than it sent. */
	size_t room = rq->len > RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN * rq->h.n_ops
			      ? rq->len - RC_PROTO_HDR_LEN -
					RC_PROTO_REP_OP_LEN * rq->h.n_ops
			      : 0;
	/* A reply of several ops is one datagram: a value that does not fit
	 * is answered OVERFLOW. */
	size_t space = RC_PROTO_MAX_DATAGRAM - RC_PROTO_HDR_LEN -
		       (size_t)RC_PROTO_REP_OP_LEN * rq->h.n_ops;

	(void)f;
	for (unsigned i = 0; i < rq->h.n_ops; i++) {
		exec_op(n, rq, &rq->ops[i], &reps[i], &room);
		if (rq->h.n_ops > 1 && reps[i].value_len) {
			if (reps[i].value_len > space) {
				reps[i].status = RC_ST_OVERFLOW;
				reps[i].value_len = 0;
				reps[i].value = NULL;
				reps[i].cas = 0;
				reps[i].client_flags = 0;
			} else {
				space -= reps[i].value_len;
			}
		}
	}
	fake_send_msg(rq, out,
		      fake_encode_reply(rq, (uint16_t)n->parts, reps,
					rq->h.n_ops, out, sizeof(out)));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void handle(struct fake *f, struct fake_node *n, unsigned part)
{
	static uint8_t buf[RC_PROTO_MAX_DATAGRAM + 64];
	static struct fake_req rq;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	const uint8_t *msg = buf;
	uint8_t *whole = NULL;
	ssize_t got = recvfrom(n->fd[part], buf, sizeof(buf), MSG_DONTWAIT,
			       (struct sockaddr *)&from, &fl);
	size_t len;

	if (got <= 0)
		return;
	len = (size_t)got;
	if (rc_proto_hdr_decode(buf, len, &rq.h) != RC_PROTO_OK)
		return;
	if (rq.h.flags & RC_PROTO_F_SEGMENTED) {
		uint64_t src = (uint64_t)from.sin_addr.s_addr << 16 | from.sin_port;

		if (rc_reasm_add(n->reasm, src, &rq.h, buf, len, now_ms(),
				 &whole, &len) != RC_REASM_DONE)
			return;
		msg = whole;
	}
	if (rc_proto_decode_request(msg, len, &rq.h, rq.ops,
				    RC_PROTO_MAX_OPS) == RC_PROTO_OK) {
		rq.node = n;
		rq.part = part;
		rq.from = from;
		rq.len = len;
		fake_lock(f);
		n->requests++;
		if (n->n_ids < FAKE_MAX_IDS)
			n->ids[n->n_ids++] = rq.h.request_id;
		if (!f->hook || !f->hook(f, &rq))
			fake_serve(f, &rq);
		fake_unlock(f);
	}
	if (whole)
		rc_reasm_release(n->reasm, whole);
}

static void *loop(void *arg)
{
	struct fake *f = arg;
	struct pollfd p[FAKE_MAX_NODES * FAKE_MAX_PARTS];
	struct fake_node *pn[FAKE_MAX_NODES * FAKE_MAX_PARTS];
	unsigned pp[FAKE_MAX_NODES * FAKE_MAX_PARTS], np = 0;

	for (unsigned i = 0; i < f->n_nodes; i++)
		for (unsigned j = 0; j < f->node[i].parts; j++) {
			p[np] = (struct pollfd){.fd = f->node[i].fd[j],
						.events = POLLIN};
			pn[np] = &f->node[i];
			pp[np++] = j;
		}
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		/* The timeout only bounds how long fake_stop waits. */
		if (poll(p, np, 20) <= 0)
			continue;
		for (unsigned i = 0; i < np; i++)
			if (p[i].revents & POLLIN)
				handle(f, pn[i], pp[i]);
	}
	return NULL;
}

int fake_start(struct fake *f, unsigned n_nodes, unsigned parts,
	       const uint16_t *base_hint)
{
	struct rc_reasm_config rc = {.max_entries = 8, .max_bytes = 8u << 20,
				     .max_message = RC_PROTO_MAX_MESSAGE,
				     .timeout = 10000};

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	if (n_nodes > FAKE_MAX_NODES || parts > FAKE_MAX_PARTS)
		return -1;
	for (unsigned i = 0; i < n_nodes; i++) {
		struct fake_node *n = &f->node[i];
		int ok = -1;

		for (unsigned t = 0; t < 200 && ok != 0; t++) {
			uint16_t b = base_hint && base_hint[i]
					     ? (uint16_t)(base_hint[i] - t)
					     : pick_base();

			ok = bind_node(n, b, parts);
		}
		if (ok != 0)
			return -1;
		n->epoch = 1;
		n->reasm = rc_reasm_create(&rc);
		if (!n->reasm)
			return -1;
		f->n_nodes++;
	}
	return pthread_create(&f->th, NULL, loop, f) == 0 ? 0 : -1;
}

void fake_stop(struct fake *f)
{
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_join(f->th, NULL);
	for (unsigned i = 0; i < f->n_nodes; i++) {
		for (unsigned j = 0; j < f->node[i].parts; j++)
			close(f->node[i].fd[j]);
		rc_reasm_destroy(f->node[i].reasm);
	}
	pthread_mutex_destroy(&f->mu);
}
