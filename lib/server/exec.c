/* SPDX-License-Identifier: MIT
 * The request processor (rc_server.h): one request against one partition,
 * the reply described as pieces. */
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_debug.h>

#include "rc_server.h"
#include "server_int.h"

const uint8_t rc_server_store_status[] = {
	[RC_STORE_OK] = RC_ST_OK,
	[RC_STORE_NOT_FOUND] = RC_ST_NOT_FOUND,
	[RC_STORE_EXISTS] = RC_ST_EXISTS,
	[RC_STORE_TOO_LARGE] = RC_ST_TOO_LARGE,
	[RC_STORE_NO_MEMORY] = RC_ST_NO_MEMORY,
	[RC_STORE_BAD_CLASS] = RC_ST_UNKNOWN_CLASS,
};

/* Check what the store cannot: lengths against configured limits, the
 * partition, and fields that make no sense for the opcode. */
static uint8_t precheck(const struct rc_partition *p,
			const struct rc_proto_req_op *op,
			struct rc_proto_digest *d)
{
	if (op->opcode == RC_OP_NOOP)
		return op->key_len || op->value_len ? RC_ST_BAD_REQUEST
						    : RC_ST_OK;
	if (op->key_len == 0)
		return RC_ST_BAD_REQUEST;
	if (op->opcode != RC_OP_SET && op->value_len != 0)
		return RC_ST_BAD_REQUEST;
	if (op->key_len > p->max_key || op->value_len > p->max_value)
		return RC_ST_TOO_LARGE;
	rc_proto_key_digest(op->key, op->key_len, d);
	if (rc_proto_partition(d, p->partitions) != p->id)
		return RC_ST_WRONG_PARTITION;
	return RC_ST_OK;
}

/* The request's class: explicit, or from the key's prefix. */
static uint8_t class_of(const struct rc_partition *p,
			const struct rc_proto_req_op *op, uint8_t *st)
{
	if (op->class_id == RC_PROTO_CLASS_AUTO)
		return rc_classes_match(p->classes, op->key, op->key_len);
	if (op->class_id >= p->classes->n)
		*st = RC_ST_UNKNOWN_CLASS;
	return op->class_id;
}

/* ---- the reply as pieces ------------------------------------------ */

static inline void out_reset(struct rc_reply *r)
{
	r->len = 0;
	r->hdr_done = 0;
	r->pinned = 0;
	r->n = 0;
}

/* Close the run of header bytes written since the last piece. */
static inline void out_hdr_piece(struct rc_partition *p, uint32_t hdr_end)
{
	struct rc_reply *r = &p->out;

	if (hdr_end > r->hdr_done) {
		r->v[r->n++] = (struct rc_piece){p->reply + r->hdr_done,
						  hdr_end - r->hdr_done, 0};
		r->hdr_done = hdr_end;
	}
}

/* Before an op that may move or free items (SET, DELETE), copy the
 * values the reply so far points at out of the store, after those an
 * earlier write of the request pinned. Multi-op replies fit one datagram,
 * and a lone op has nothing before it. */
static void pin_values(struct rc_partition *p)
{
	struct rc_reply *r = &p->out;

	for (unsigned i = 0; i < r->n; i++) {
		struct rc_piece *pc = &r->v[i];

		if (!pc->in_store)
			continue;
		RTE_ASSERT(r->pinned + pc->len <= sizeof(p->pinned));
		memcpy(p->pinned + r->pinned, pc->p, pc->len);
		pc->p = p->pinned + r->pinned;
		pc->in_store = 0;
		r->pinned += pc->len;
	}
}

void rc_reply_copy(const struct rc_reply *r, uint32_t off, uint8_t *dst,
		    uint32_t len)
{
	for (unsigned i = 0; i < r->n && len; i++) {
		const struct rc_piece *pc = &r->v[i];
		uint32_t n;

		if (off >= pc->len) {
			off -= pc->len;
			continue;
		}
		n = pc->len - off < len ? pc->len - off : len;
		memcpy(dst, pc->p + off, n);
		dst += n;
		len -= n;
		off = 0;
	}
}

/* ---- replication ------------------------------------------------------ */

bool rc_server_emit_rec(struct rc_partition *p, const struct rc_repl_rec *r,
			bool snapshot)
{
	uint32_t n = rc_repl_rec_size(r->key_len, r->value_len);
	uint8_t *b;

	/* A snapshot fills at most half the log: the other half is the
	 * clients' writes, which are lost (and restart the resync) when
	 * they find no room. */
	if (snapshot && rc_repl_log_used(p->rlog) + n > p->rlog->size / 2)
		return false;
	b = rc_repl_log_reserve(p->rlog, n);
	if (unlikely(!b)) {
		/* A snapshot waits for room; a lost write makes the control
		 * core start a full resync. */
		if (!snapshot)
			p->st->repl_overflow++;
		return false;
	}
	rc_repl_rec_encode(b, r);
	rc_repl_log_commit(p->rlog, n);
	p->wseq++;
	p->st->repl_records++;
	return true;
}

/* A write that changed the partition, for the standby. */
bool rc_server_emit(struct rc_partition *p, uint8_t type,
		    const struct rc_proto_req_op *op, uint8_t cls, uint32_t ttl,
		    bool snapshot)
{
	struct rc_repl_rec r = {
		.type = type, .class_id = cls, .key_len = op->key_len,
		.value_len = type == RC_REPL_SET ? op->value_len : 0,
		.flags = op->client_flags, .ttl = ttl,
		.partition = (uint16_t)p->id, .key = op->key,
		.value = op->value};

	return rc_server_emit_rec(p, &r, snapshot);
}

/* Every successful write among the n_ops reply ops of msg becomes
 * NOT_REPLICATED. Op headers follow each other at 20 bytes plus, if
 * with_values, the value each one carries; len bounds the walk. */
void rc_exec_not_replicated(uint8_t *msg, size_t len, bool with_values,
			    struct rc_partition_stats *st)
{
	struct rc_proto_hdr h;
	size_t off = RC_PROTO_HDR_LEN;

	if (rc_proto_hdr_decode(msg, len, &h) != RC_PROTO_OK)
		h.n_ops = len >= RC_PROTO_HDR_LEN
				  ? (uint16_t)(msg[12] << 8 | msg[13]) : 0;
	for (unsigned i = 0; i < h.n_ops && off + RC_PROTO_REP_OP_LEN <= len;
	     i++) {
		uint8_t *q = msg + off;

		if (q[0] != RC_OP_GET && q[0] != RC_OP_NOOP &&
		    q[1] == RC_ST_OK) {
			q[1] = RC_ST_NOT_REPLICATED;
			st->status[RC_ST_OK]--;
			st->status[RC_ST_NOT_REPLICATED]++;
		}
		off += RC_PROTO_REP_OP_LEN;
		if (with_values)
			off += (uint32_t)q[4] << 24 | (uint32_t)q[5] << 16 |
			       (uint32_t)q[6] << 8 | q[7];
	}
}

uint32_t rc_exec_request(struct rc_partition *p, const uint8_t *req,
			 size_t len, const struct rc_exec_in *x, uint32_t now)
{
	struct rc_partition_stats *st = p->st;
	struct rc_proto_hdr *h = &p->rh;
	enum rc_proto_rstatus rs;
	uint32_t off = RC_PROTO_HDR_LEN, hoff = RC_PROTO_HDR_LEN, limit;
	uint8_t ro, role = p->role;
	const bool writable =
		role == RC_REPL_PRIMARY || role == RC_REPL_STANDALONE;
	const uint64_t wseq0 = p->wseq;
	bool lost = false; /* a write of this request missed the log */
	bool throttled;

	p->n_notes = 0;
	p->dur_wseq = 0;
	rs = rc_proto_decode_request(req, len, h, p->ops, RC_PROTO_MAX_OPS);
	if (rs != RC_PROTO_OK) {
		st->proto_drops[rs]++;
		return 0;
	}
	/* The smallest answer is 20 bytes an op. An untrusted source must
	 * send at least that much (libringcache pads); else no answer. */
	if (RC_PROTO_HDR_LEN + h->n_ops * RC_PROTO_REP_OP_LEN > x->cap) {
		st->drop_amplification++;
		return 0;
	}
	/* A lone op may be answered in segments; several share one
	 * datagram (a value that does not fit: OVERFLOW, ask alone). */
	limit = h->n_ops == 1 ? RC_PROTO_MAX_MESSAGE : RC_PROTO_MAX_DATAGRAM;
	if (limit > x->cap)
		limit = x->cap;
	/* The source's rate quota pays for each op of a well-formed
	 * request; garbage and refused amplification cost it nothing. */
	throttled = p->rl && !rc_ratelimit_admit(p->rl, x->src, h->n_ops,
						 x->now_tsc);
	st->requests++;
	ro = p->read_only;
	out_reset(&p->out);
	for (unsigned i = 0; i < h->n_ops; i++) {
		const struct rc_proto_req_op *op = &p->ops[i];
		struct rc_proto_rep_op r = {.opcode = op->opcode,
					    .class_id = op->class_id};
		struct rc_store_item_view v;
		struct rc_proto_digest d;
		uint32_t need, ttl;
		uint8_t cls, lcls = op->class_id;
		const bool write = op->opcode != RC_OP_GET &&
				   op->opcode != RC_OP_NOOP;

		st->ops[op->opcode]++;
		if (throttled)
			r.status = RC_ST_THROTTLED;
		else if (write && !writable) {
			r.status = RC_ST_NOT_PRIMARY;
			st->not_primary++;
		} else if (ro && write) {
			r.status = RC_ST_READ_ONLY;
			st->read_only_refused++;
		}
		else if (p->pre) /* checked when it was batched */
			r.status = RC_ST_OK;
		else
			r.status = precheck(p, op, &d);
		if (r.status == RC_ST_OK) {
			switch (op->opcode) {
			case RC_OP_GET:
				if (p->pre) {
					v = p->pre->v;
					r.status = rc_server_store_status[p->pre->res];
					if (r.status == RC_ST_NOT_FOUND &&
					    op->class_id != RC_PROTO_CLASS_AUTO)
						rc_store_count_miss(p->store,
								    op->class_id);
				} else {
					r.status = rc_server_store_status[rc_store_get(
						p->store, &d, op->key,
						op->key_len, op->class_id, now,
						&v)];
				}
				/* A miss counts for the class the key would
				 * have; matching prefixes only then. */
				if (r.status == RC_ST_NOT_FOUND &&
				    op->class_id == RC_PROTO_CLASS_AUTO) {
					lcls = rc_classes_match(p->classes,
								op->key,
								op->key_len);
					rc_store_count_miss(p->store, lcls);
				}
				if (r.status != RC_ST_OK)
					break;
				lcls = v.class_id;
				/* Keep room for a 20-byte answer to every
				 * later op. */
				need = off + RC_PROTO_REP_OP_LEN + v.value_len +
				       (h->n_ops - i - 1) * RC_PROTO_REP_OP_LEN;
				if (need > limit) {
					if (h->n_ops > 1 &&
					    need > RC_PROTO_MAX_DATAGRAM) {
						r.status = RC_ST_OVERFLOW;
					} else {
						/* flags: the value's size,
						 * to pad a lone request to */
						r.status = RC_ST_PAD_REQUIRED;
						r.client_flags = v.value_len;
					}
					break;
				}
				r.value_len = v.value_len;
				r.client_flags = v.client_flags;
				r.cas = v.cas;
				r.class_id = v.class_id;
				r.op_flags = v.stale ? RC_PROTO_OPF_STALE : 0;
				break;
			case RC_OP_SET:
				cls = class_of(p, op, &r.status);
				if (r.status != RC_ST_OK)
					break;
				r.class_id = lcls = cls;
				pin_values(p);
				ttl = rc_server_scaled_ttl(p, op->ttl);
				r.status = rc_server_store_status[rc_store_set(
					p->store, &d, op->key, op->key_len,
					op->value, op->value_len,
					op->client_flags, ttl, op->cas, cls, now,
					&r.cas)];
				if (r.status == RC_ST_OK && p->rlog)
					lost |= !rc_server_emit(p, RC_REPL_SET, op, cls,
						      ttl, false);
				else if (r.status == RC_ST_NOT_FOUND && p->rlog)
					lost |= !rc_server_emit(p, RC_REPL_DEL, op, 0, 0,
						      false);
				break;
			case RC_OP_DELETE:
				/* Deleting may free a segment a value of the
				 * reply so far sits in. */
				pin_values(p);
				r.status = rc_server_store_status[rc_store_delete(
					p->store, &d, op->key, op->key_len,
					op->cas, now)];
				/* Absent here (evicted, expired, never
				 * written): the standby must not keep it. */
				if ((r.status == RC_ST_OK ||
				     r.status == RC_ST_NOT_FOUND) && p->rlog)
					lost |= !rc_server_emit(p, RC_REPL_DEL, op, 0, 0,
						      false);
				break;
			case RC_OP_TOUCH:
				ttl = rc_server_scaled_ttl(p, op->ttl);
				r.status = rc_server_store_status[rc_store_touch(
					p->store, &d, op->key, op->key_len, ttl,
					now, &r.cas)];
				if (r.status == RC_ST_OK && p->rlog)
					lost |= !rc_server_emit(p, RC_REPL_TOUCH, op, 0,
						      ttl, false);
				else if (r.status == RC_ST_NOT_FOUND && p->rlog)
					lost |= !rc_server_emit(p, RC_REPL_DEL, op, 0, 0,
						      false);
				break;
			default: /* NOOP */
				break;
			}
		}
		st->status[r.status]++;
		/* Its latency, once sent, goes to (opcode, class). */
		p->notes[p->n_notes++] =
			(uint16_t)rc_server_lat_series(op->opcode, lcls);
		/* The op header here, its value (if any) stays in the store:
		 * the room checks above reserve the space. */
		rc_proto_rep_op_encode_hdr(p->reply + hoff, &r);
		hoff += RC_PROTO_REP_OP_LEN;
		off += RC_PROTO_REP_OP_LEN + r.value_len;
		if (r.value_len) {
			out_hdr_piece(p, hoff);
			p->out.v[p->out.n++] =
				(struct rc_piece){v.value, r.value_len, 1};
		}
	}
	out_hdr_piece(p, hoff);
	p->out.len = off;
	/* A durable request's writes wait for the standby (the reply is
	 * held by the caller until the standby has them, see dur_wseq); if
	 * that cannot happen, they say so now. */
	const bool durable = h->flags & RC_PROTO_F_DURABLE;

	h->flags = RC_PROTO_F_REPLY;
	h->epoch = p->epoch;
	h->partitions = p->partitions;
	rc_proto_hdr_encode(p->reply, h);
	p->dur_wseq = 0;
	if (unlikely(durable)) {
		if (lost || !p->durable_ok)
			rc_exec_not_replicated(p->reply, sizeof(p->reply),
					       false, st);
		else if (p->wseq != wseq0)
			p->dur_wseq = p->wseq;
	}
	return off;
}


/* A reply of n_ops bare ops (opcode NOOP, no value) with one status,
 * for answers given without decoding the ops. @return its length. */
uint32_t rc_exec_bare(struct rc_partition *p, const struct rc_proto_hdr *req,
		      uint8_t status)
{
	struct rc_proto_rep_op r = {.opcode = RC_OP_NOOP, .status = status,
				    .class_id = RC_PROTO_CLASS_AUTO};
	uint32_t total = RC_PROTO_HDR_LEN + req->n_ops * RC_PROTO_REP_OP_LEN;

	p->rh = *req;
	p->rh.flags = RC_PROTO_F_REPLY;
	p->rh.seg_index = 0;
	p->rh.seg_count = 1;
	p->rh.epoch = p->epoch;
	p->rh.partitions = p->partitions;
	rc_proto_hdr_encode(p->reply, &p->rh);
	for (unsigned i = 0; i < req->n_ops; i++)
		rc_proto_rep_op_encode_hdr(
			p->reply + RC_PROTO_HDR_LEN + i * RC_PROTO_REP_OP_LEN, &r);
	p->st->status[status] += req->n_ops;
	out_reset(&p->out);
	out_hdr_piece(p, total);
	p->out.len = total;
	return total;
}

