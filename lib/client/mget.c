/* SPDX-License-Identifier: MIT
 * libringcache multi-get: keys grouped into one datagram per node
 * partition, all in flight at once, each answer matched to its own
 * request (io.c); keys whose answer did not fit are asked alone. */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

struct chunk {
	size_t srv;
	unsigned part;
	uint16_t n;
	size_t len;
	size_t items[RC_PROTO_MAX_OPS];
	uint8_t buf[RC_PROTO_MAX_DATAGRAM];
};

/* Put item i into a chunk for its node partition, opening one if needed. */
static void chunk_add(rc_client *c, struct chunk *ch, size_t *n_ch,
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
	rc_route(c, &d, &srv, &part);
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
	}
	k->len += rc_proto_req_op_encode(k->buf + k->len,
					 sizeof(k->buf) - k->len, &op);
	k->items[k->n++] = i;
}

/* Copy the matched answer (c->reps) of chunk k into its items. */
static void mget_apply(rc_client *c, const struct chunk *k,
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
		it->status = rc_status_to_err(rep->status);
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
}

/* Send every chunk (fresh ids), then take answers until all came or the
 * deadline passed. @return RC_OK or the call's own failure. */
static int mget_round(rc_client *c, struct chunk *ch, struct rc_pending *pend,
		      size_t n_ch, struct rc_mget_item *items, bool *again)
{
	size_t open = n_ch;
	uint64_t deadline;
	int r;

	for (size_t j = 0; j < n_ch; j++) {
		struct server *sv = &c->srv[ch[j].srv];
		struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
					 .n_ops = ch[j].n, .seg_count = 1,
					 .epoch = sv->epoch};
		size_t len = rc_pad_request(
			ch[j].buf, ch[j].len,
			RC_PROTO_HDR_LEN + (size_t)ch[j].n * RC_PROTO_REP_OP_LEN,
			&h);

		r = rc_new_id(c, &h.request_id);
		if (r != RC_OK)
			return r;
		pend[j] = (struct rc_pending){
			.to = rc_dest(c, ch[j].srv, ch[j].part, false),
			.srv = ch[j].srv, .part = ch[j].part,
			.parts_used = sv->partitions, .n_ops = ch[j].n,
			.opcode = RC_OP_GET, .id = h.request_id, .slot = -1};
		rc_proto_hdr_encode(ch[j].buf, &h);
		r = rc_send_dgram(c, &pend[j].to, ch[j].buf, len);
		if (r != RC_OK)
			return r;
	}
	deadline = rc_now(c) + c->timeout_ms;
	while (open > 0) {
		r = rc_recv_reply(c, pend, n_ch, deadline);
		if (r == RC_ETIMEOUT)
			break;
		if (r < 0)
			return r;
		mget_apply(c, &ch[r], items, again);
		open--;
	}
	return RC_OK;
}

int rc_mget(rc_client *c, struct rc_mget_item *items, size_t n)
{
	struct chunk *ch;
	struct rc_pending *pend;
	bool *want, *again;
	int rc = RC_OK;

	if (!c || (!items && n))
		return RC_EINVAL;
	ch = calloc(n ? n : 1, sizeof(*ch));
	pend = calloc(n ? n : 1, sizeof(*pend));
	want = calloc(n ? n : 1, sizeof(*want));
	again = calloc(n ? n : 1, sizeof(*again));
	if (!ch || !pend || !want || !again) {
		rc = RC_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].value_len = 0;
		memset(&items[i].meta, 0, sizeof(items[i].meta));
		items[i].status = rc_check_key(items[i].key_len);
		if (items[i].status == RC_OK && (!items[i].buf && items[i].cap))
			items[i].status = RC_EINVAL;
		if (items[i].status == RC_OK) {
			items[i].status = RC_ETIMEOUT;
			want[i] = true;
		}
	}
	for (unsigned a = 0; a <= c->retries; a++) {
		size_t n_ch = 0;
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
			rc_backoff(c, a);
		}
		rc_io_end(c);
		rc = mget_round(c, ch, pend, n_ch, items, again);
		rc_io_end(c);
		if (rc != RC_OK)
			goto out;
		for (size_t j = 0; j < n_ch; j++) {
			bool retry = !pend[j].done && !pend[j].too_big;

			if (retry) {
				c->st.timeouts++;
				/* As rc_transact: a silent partition port
				 * sends the next attempt to the base port. */
				if (pend[j].part != 0)
					c->srv[pend[j].srv].partitions = 1;
			}
			for (uint16_t k = 0; k < ch[j].n; k++) {
				want[ch[j].items[k]] = retry;
				/* A segmented answer with no room: alone. */
				if (!pend[j].done && pend[j].too_big)
					again[ch[j].items[k]] = true;
			}
		}
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
	rc_io_end(c);
	free(ch);
	free(pend);
	free(want);
	free(again);
	return rc;
}
