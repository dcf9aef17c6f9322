/* SPDX-License-Identifier: MIT
 * libFuzzer target: libringcache's reply path. The input picks one call
 * (get, set, conditional set/delete, durable set, touch, ping, multi-get)
 * and the datagrams that "arrive" while it runs, through a fake transport
 * (client_int.h struct rc_io) with a fake clock: no socket is read.
 *
 * Input: byte 0 the call, byte 1 the client (pair, read_standby, two
 * nodes, retries), then records of [kind u8][len u16 BE][len bytes]:
 *   kind & 0x80  timeout: the attempt waiting now sees its deadline
 *   kind & 0x40  answer: an encoded reply to the last request sent,
 *                status = first byte, value = the rest (segmented if long)
 *   else         raw datagram bytes, with kind & 0x01: request id of a
 *                request sent ((kind >> 3) & 7 picks which: 0 the last),
 *                kind & 0x02: from that request's destination (else from
 *                one of two other addresses), kind & 0x04: n_ops patched
 *                to the request's.
 *
 * Checks, besides ASan/UBSan: a value handed to the application is one
 * that a whole, consistent reply in the input carried (never bytes of two
 * replies); after every call no reassembly memory is held and the peak
 * stayed within RC_CLIENT_REASM_MAX_BYTES; partition counts stay within
 * RC_MAX_PARTITIONS and the port range; bad_replies is the sum of its
 * reasons. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "rc_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SENT 16
#define MAX_VALUES 256
#define MAX_MSGS 64
#define MAX_SEGS 48
#define VALUE_CAP 65536

struct sent {
	uint32_t id;
	struct sockaddr_in to;
	uint16_t n_ops;
	uint8_t opcode;
};

/* The oracle's own view of a segmented message (one source, request id
 * and header): which bytes arrived for each segment. */
struct omsg {
	bool used, conflict, complete;
	uint32_t id;
	struct sockaddr_in from;
	struct rc_proto_hdr h;
	const uint8_t *body[MAX_SEGS];
	size_t len[MAX_SEGS];
};

static struct {
	const uint8_t *in;
	size_t left;
	uint64_t now;
	uint64_t rnd;
	struct sent sent[MAX_SENT];
	unsigned n_sent;
	/* Datagrams the harness built (answers): kept until the input ends. */
	uint8_t *pending;         /* queued answer segments */
	size_t pend_len, pend_off;
	struct sockaddr_in pend_from;
	/* Values a consistent reply carried. */
	const uint8_t *val[MAX_VALUES];
	size_t val_len[MAX_VALUES];
	unsigned n_val;
	struct omsg msg[MAX_MSGS];
	bool blind;               /* the oracle lost track: values unchecked */
	uint8_t **owned;          /* freed when the input is done */
	size_t n_owned, cap_owned;
} fz;

static void *own(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	if (fz.n_owned == fz.cap_owned) {
		size_t cap = fz.cap_owned ? 2 * fz.cap_owned : 64;
		uint8_t **o = realloc(fz.owned, cap * sizeof(*o));

		if (!o)
			abort();
		fz.owned = o;
		fz.cap_owned = cap;
	}
	fz.owned[fz.n_owned++] = p;
	return p;
}

static void intend_reply(const uint8_t *msg, size_t len)
{
	static struct rc_proto_rep_op reps[RC_PROTO_MAX_OPS];
	struct rc_proto_hdr h;

	if (rc_proto_decode_reply(msg, len, &h, reps, RC_PROTO_MAX_OPS) !=
	    RC_PROTO_OK)
		return;
	for (unsigned i = 0; i < h.n_ops && fz.n_val < MAX_VALUES; i++) {
		fz.val[fz.n_val] = reps[i].value;
		fz.val_len[fz.n_val++] = reps[i].value_len;
	}
}

/* Show the oracle one datagram as the client will get it. dg must stay
 * valid until the input is done. */
static void observe(const uint8_t *dg, size_t len, const struct sockaddr_in *from)
{
	struct rc_proto_hdr h;
	struct omsg *m = NULL;
	size_t body;

	if (len > RC_PROTO_MAX_DATAGRAM ||
	    rc_proto_hdr_decode(dg, len, &h) != RC_PROTO_OK)
		return;
	if (!(h.flags & RC_PROTO_F_SEGMENTED)) {
		intend_reply(dg, len);
		return;
	}
	if (h.seg_count > MAX_SEGS)
		return; /* cannot complete within one input */
	body = len - RC_PROTO_HDR_LEN;
	/* Only what a receiver may place: full segments but the last. */
	if (body == 0 || (h.seg_index != h.seg_count - 1 &&
			  body != RC_PROTO_SEG_BODY))
		return;
	for (unsigned i = 0; i < MAX_MSGS && !m; i++)
		if (fz.msg[i].used && fz.msg[i].id == h.request_id &&
		    fz.msg[i].from.sin_addr.s_addr == from->sin_addr.s_addr &&
		    fz.msg[i].from.sin_port == from->sin_port &&
		    fz.msg[i].h.seg_count == h.seg_count &&
		    fz.msg[i].h.flags == h.flags &&
		    fz.msg[i].h.n_ops == h.n_ops &&
		    fz.msg[i].h.epoch == h.epoch &&
		    fz.msg[i].h.partitions == h.partitions)
			m = &fz.msg[i];
	for (unsigned i = 0; i < MAX_MSGS && !m; i++)
		if (!fz.msg[i].used) {
			m = &fz.msg[i];
			m->used = true;
			m->id = h.request_id;
			m->from = *from;
			m->h = h;
		}
	if (!m) {
		fz.blind = true; /* too many messages to follow */
		return;
	}
	if (m->complete)
		return;
	/* A segment repeated with other bytes: the message is not one. */
	if (m->body[h.seg_index] &&
	    (m->len[h.seg_index] != body ||
	     memcmp(m->body[h.seg_index], dg + RC_PROTO_HDR_LEN, body) != 0))
		m->conflict = true;
	if (m->conflict || m->body[h.seg_index])
		return;
	m->body[h.seg_index] = dg + RC_PROTO_HDR_LEN;
	m->len[h.seg_index] = body;
	for (unsigned i = 0; i < h.seg_count; i++)
		if (!m->body[i])
			return;
	{
		size_t total = RC_PROTO_HDR_LEN, off = RC_PROTO_HDR_LEN;
		struct rc_proto_hdr w = m->h;
		uint8_t *buf;

		for (unsigned i = 0; i < h.seg_count; i++)
			total += m->len[i];
		buf = own(total);
		w.flags &= (uint8_t)~RC_PROTO_F_SEGMENTED;
		w.seg_index = 0;
		w.seg_count = 1;
		rc_proto_hdr_encode(buf, &w);
		for (unsigned i = 0; i < h.seg_count; i++) {
			memcpy(buf + off, m->body[i], m->len[i]);
			off += m->len[i];
		}
		m->complete = true;
		intend_reply(buf, total);
	}
}

static bool intended(const void *v, size_t len)
{
	if (fz.blind)
		return true;
	for (unsigned i = 0; i < fz.n_val; i++)
		if (fz.val_len[i] == len && memcmp(fz.val[i], v, len) == 0)
			return true;
	return false;
}

/* ---- the fake transport --------------------------------------------- */

static int f_send(void *ctx, const void *buf, size_t len,
		  const struct sockaddr_in *to)
{
	struct rc_proto_hdr h;
	const uint8_t *b = buf;
	struct sent *s;

	(void)ctx;
	if (rc_proto_hdr_decode(b, len, &h) != RC_PROTO_OK)
		abort(); /* the client sent garbage */
	if (h.seg_index != 0)
		return 0;
	s = &fz.sent[fz.n_sent++ % MAX_SENT];
	s->id = h.request_id;
	s->to = *to;
	s->n_ops = h.n_ops;
	s->opcode = len > RC_PROTO_HDR_LEN ? b[RC_PROTO_HDR_LEN] : 0;
	fz.now += 1;
	return 0;
}

static const struct sent *pick_sent(uint8_t sel)
{
	unsigned n = fz.n_sent < MAX_SENT ? fz.n_sent : MAX_SENT;

	if (n == 0)
		return NULL;
	/* 0 = the last one sent, 1 = the one before, ... */
	return &fz.sent[(fz.n_sent - 1 - sel % n) % MAX_SENT];
}

/* Encode an answer to the last request: every op `status`, GET ops
 * carrying value; queue it (segmented if long). */
static void queue_answer(const uint8_t *p, size_t len)
{
	const struct sent *s = pick_sent(0);
	struct rc_proto_hdr h;
	struct rc_proto_rep_op op;
	size_t vlen = len > 1 ? len - 1 : 0, total, off = RC_PROTO_HDR_LEN;
	uint8_t *msg;

	if (!s || len == 0)
		return;
	h = (struct rc_proto_hdr){.version = RC_PROTO_VERSION,
				  .flags = RC_PROTO_F_REPLY,
				  .request_id = s->id, .epoch = 1,
				  .n_ops = s->n_ops, .seg_count = 1,
				  .partitions = 1};
	op = (struct rc_proto_rep_op){.opcode = s->opcode,
				      .status = p[0] % RC_ST__COUNT,
				      .value = p + 1, .cas = 1};
	if (s->opcode == RC_OP_GET && op.status == RC_ST_OK)
		op.value_len = (uint32_t)vlen;
	total = RC_PROTO_HDR_LEN +
		(size_t)s->n_ops * RC_PROTO_REP_OP_LEN + s->n_ops * op.value_len;
	msg = own(total);
	rc_proto_hdr_encode(msg, &h);
	for (unsigned i = 0; i < s->n_ops; i++)
		off += rc_proto_rep_op_encode(msg + off, total - off, &op);
	/* Lay its datagrams out one after the other. */
	{
		unsigned n = rc_proto_seg_count(total);
		size_t cap = (size_t)n * RC_PROTO_MAX_DATAGRAM + 2 * n;
		uint8_t *q = own(cap), *w = q;

		for (unsigned i = 0; i < n; i++) {
			size_t dl;

			if (n == 1) {
				memcpy(w + 2, msg, total);
				dl = total;
			} else {
				size_t o = RC_PROTO_HDR_LEN +
					   (size_t)i * RC_PROTO_SEG_BODY;
				size_t body = total - o < RC_PROTO_SEG_BODY
						      ? total - o
						      : RC_PROTO_SEG_BODY;
				struct rc_proto_hdr sh = h;

				sh.flags |= RC_PROTO_F_SEGMENTED;
				sh.seg_index = (uint16_t)i;
				sh.seg_count = (uint16_t)n;
				rc_proto_hdr_encode(w + 2, &sh);
				memcpy(w + 2 + RC_PROTO_HDR_LEN, msg + o, body);
				dl = RC_PROTO_HDR_LEN + body;
			}
			w[0] = (uint8_t)(dl >> 8);
			w[1] = (uint8_t)dl;
			w += 2 + dl;
		}
		fz.pending = q;
		fz.pend_len = (size_t)(w - q);
		fz.pend_off = 0;
		fz.pend_from = s->to;
	}
}

static ssize_t f_recv(void *ctx, void *buf, size_t cap,
		      struct sockaddr_in *from, uint64_t deadline)
{
	(void)ctx;
	for (;;) {
		uint8_t kind;
		size_t len;
		const uint8_t *p;

		if (fz.pend_off < fz.pend_len) {
			const uint8_t *q = fz.pending + fz.pend_off;

			len = (size_t)q[0] << 8 | q[1];
			fz.pend_off += 2 + len;
			*from = fz.pend_from;
			observe(q + 2, len, from);
			memcpy(buf, q + 2, len < cap ? len : cap);
			fz.now++;
			return (ssize_t)len;
		}
		if (fz.left < 3 || fz.now >= deadline) {
			if (fz.now < deadline)
				fz.now = deadline;
			return -ETIMEDOUT;
		}
		kind = fz.in[0];
		len = (size_t)fz.in[1] << 8 | fz.in[2];
		if (len > fz.left - 3)
			len = fz.left - 3;
		p = fz.in + 3;
		fz.in += 3 + len;
		fz.left -= 3 + len;
		if (kind & 0x80) {
			fz.now = deadline;
			return -ETIMEDOUT;
		}
		if (kind & 0x40) {
			queue_answer(p, len);
			continue;
		}
		{
			uint8_t *dg = own(len);
			const struct sent *s = pick_sent((kind >> 3) & 7);
			static const struct sockaddr_in others[] = {
				{.sin_family = AF_INET, .sin_port = 0x1e1e,
				 .sin_addr.s_addr = 0x0100007f},
				{.sin_family = AF_INET, .sin_port = 0x1f1e,
				 .sin_addr.s_addr = 0x0200007f},
			};

			memcpy(dg, p, len);
			*from = others[(kind >> 3) & 1];
			if (s && (kind & 0x02))
				*from = s->to;
			if (s && (kind & 0x01) && len >= 8) {
				dg[4] = (uint8_t)(s->id >> 24);
				dg[5] = (uint8_t)(s->id >> 16);
				dg[6] = (uint8_t)(s->id >> 8);
				dg[7] = (uint8_t)s->id;
			}
			if (s && (kind & 0x04) && len >= 14) {
				dg[12] = (uint8_t)(s->n_ops >> 8);
				dg[13] = (uint8_t)s->n_ops;
			}
			observe(dg, len, from);
			memcpy(buf, dg, len < cap ? len : cap);
			fz.now++;
			return (ssize_t)len;
		}
	}
}

static uint64_t f_now(void *ctx)
{
	(void)ctx;
	return fz.now;
}

static void f_sleep(void *ctx, uint64_t us)
{
	(void)ctx;
	fz.now += us / 1000;
}

static int f_random(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		/* splitmix64: reproducible runs. */
		uint64_t z = (fz.rnd += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		p[i] = (uint8_t)(z ^ (z >> 31));
	}
	return 0;
}

/* ---- checks ----------------------------------------------------------- */

static void check_state(const rc_client *c)
{
	struct rc_client_state s;
	struct rc_client_stats st;
	uint64_t sum = 0;

	rc_client_state(c, &s);
	if (s.reasm_bytes != 0 || s.reasm_slots != 0 ||
	    s.reasm_peak > RC_CLIENT_REASM_MAX_BYTES)
		abort();
	rc_client_get_stats(c, &st);
	for (unsigned i = 0; i < RC_BAD__COUNT; i++)
		sum += st.bad_reply[i];
	if (sum != st.bad_replies)
		abort();
	for (size_t i = 0; i < c->n_srv; i++) {
		const struct server *sv = &c->srv[i];

		if (sv->partitions < 1 || sv->partitions > RC_MAX_PARTITIONS ||
		    ntohs(sv->addr.sin_port) + sv->partitions - 1u > 65535 ||
		    (sv->paired &&
		     ntohs(sv->other.sin_port) + sv->partitions - 1u > 65535))
			abort();
	}
}

static void check_value(int r, const void *buf, size_t len, size_t cap)
{
	if (r != RC_OK && r != RC_ETRUNCATED)
		return;
	if (len > cap || !intended(buf, len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t vbuf[4][VALUE_CAP];
	/* Ports near the top of the range: routing bounds matter. */
	static const char *const servers[] = {"127.0.0.1:7711",
					      "127.0.0.2:65500"};
	static const char *const standbys[] = {"127.0.0.1:7811",
					       "127.0.0.2:65530"};
	struct rc_io io = {.send = f_send, .recv = f_recv, .now = f_now,
			   .sleep_us = f_sleep, .random = f_random};
	uint8_t call, conf;
	rc_client *c;
	size_t len = 0;
	int r;

	if (size < 2 || size > 60000)
		return 0;
	memset(&fz, 0, sizeof(fz));
	call = data[0];
	conf = data[1];
	fz.in = data + 2;
	fz.left = size - 2;
	fz.now = 1000;
	c = rc_client_create(&(struct rc_client_config){
		.servers = servers,
		.n_servers = (conf & 4) ? 2 : 1,
		.standbys = (conf & 1) ? standbys : NULL,
		.read_standby = (conf & 2) != 0,
		.retries = (conf >> 3) & 3, .backoff_ms = (conf >> 5) & 1,
		.timeout_ms = 10, .failover_ms = 50}, NULL);
	if (!c)
		abort();
	rc_client_set_io(c, &io);
	c->n_ids = 0; /* ids from the reproducible source from now on */
	switch (call % 8) {
	case 0:
		r = rc_get(c, "key", 3, vbuf[0], VALUE_CAP, &len, NULL);
		check_value(r, vbuf[0], len, VALUE_CAP);
		break;
	case 1:
		(void)rc_set(c, "key", 3, "value", 5, NULL, NULL);
		break;
	case 2:
		(void)rc_set(c, "key", 3, "value", 5,
			     &(struct rc_set_opts){.cas = 7}, NULL);
		break;
	case 3:
		(void)rc_delete(c, "key", 3, 7);
		break;
	case 4: {
		struct rc_mget_item it[3] = {
			{.key = "a", .key_len = 1, .buf = vbuf[1], .cap = VALUE_CAP},
			{.key = "b", .key_len = 1, .buf = vbuf[2], .cap = VALUE_CAP},
			{.key = "key", .key_len = 3, .buf = vbuf[3],
			 .cap = VALUE_CAP},
		};

		if (rc_mget(c, it, 3) != RC_OK)
			abort(); /* only the call's own failures: none here */
		for (int i = 0; i < 3; i++)
			check_value(it[i].status, it[i].buf, it[i].value_len,
				    VALUE_CAP);
		break;
	}
	case 5:
		(void)rc_set(c, "key", 3, "value", 5,
			     &(struct rc_set_opts){.durable = 1}, NULL);
		break;
	case 6:
		(void)rc_touch(c, "key", 3, 60);
		break;
	default:
		(void)rc_ping(c, 0);
		break;
	}
	check_state(c);
	/* A second call on the same client: what the first left must not
	 * make it misbehave (it sees only timeouts now, or what is left). */
	r = rc_get(c, "key", 3, vbuf[0], VALUE_CAP, &len, NULL);
	check_value(r, vbuf[0], len, VALUE_CAP);
	check_state(c);
	rc_client_destroy(c);
	for (size_t i = 0; i < fz.n_owned; i++)
		free(fz.owned[i]);
	free(fz.owned);
	return 0;
}
