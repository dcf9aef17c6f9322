/* SPDX-License-Identifier: MIT
 * The other ways a partition changes (rc_server.h): control-core
 * commands, records replicated from the primary, snapshot records for a
 * standby; under the rules requests follow. */
#include <string.h>

#include "rc_server.h"
#include "server_int.h"

/* ---- control-core commands ------------------------------------------ */

struct flush_arg {
	struct rc_partition *p;
	const struct rc_cmd *c;
};

static bool flush_match(void *arg, const uint8_t *key, uint16_t key_len,
			uint8_t class_id)
{
	const struct flush_arg *fa = arg;
	const struct rc_cmd *c = fa->c;

	if (c->flush_class >= 0 && class_id != c->flush_class)
		return false;
	if (key_len < c->prefix_len || memcmp(key, c->prefix, c->prefix_len))
		return false;
	/* The standby removes the same items. */
	if (fa->p->rlog) {
		struct rc_proto_req_op op = {.key = key, .key_len = key_len};

		rc_server_emit(fa->p, RC_REPL_DEL, &op, 0, 0, false);
	}
	return true;
}

void rc_partition_cmd_rec(struct rc_partition *p, struct rc_cmd *c,
			  struct rc_cmd_rec *r, uint32_t now)
{
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	uint8_t cls = r->class_id;
	uint32_t ttl;

	if (r->key_len == 0 || r->key_len > p->max_key ||
	    r->value_len > p->max_value) {
		r->status = RC_ST_TOO_LARGE;
		return;
	}
	rc_proto_key_digest(r->key, r->key_len, &d);
	if (rc_proto_partition(&d, p->partitions) != p->id) {
		r->status = RC_ST_WRONG_PARTITION;
		return;
	}
	switch (c->type) {
	case RC_CMD_GET:
		r->status = rc_server_store_status[rc_store_get(
			p->store, &d, r->key, r->key_len, RC_STORE_NO_CLASS,
			now, &v)];
		if (r->status != RC_ST_OK)
			return;
		c->out_len = v.value_len;
		c->out_flags = v.client_flags;
		c->out_cas = v.cas;
		c->out_class = v.class_id;
		c->out_stale = v.stale;
		memcpy(c->out, v.value,
		       v.value_len < c->out_cap ? v.value_len : c->out_cap);
		return;
	case RC_CMD_DEL:
		if (p->role != RC_REPL_PRIMARY && p->role != RC_REPL_STANDALONE) {
			r->status = RC_ST_NOT_PRIMARY;
			return;
		}
		r->status = rc_server_store_status[rc_store_delete(
			p->store, &d, r->key, r->key_len, 0, now)];
		/* Found or not, the standby must not keep it either. */
		if ((r->status == RC_ST_OK || r->status == RC_ST_NOT_FOUND) &&
		    p->rlog) {
			struct rc_proto_req_op op = {.key = r->key,
						     .key_len = r->key_len};

			rc_server_emit(p, RC_REPL_DEL, &op, 0, 0, false);
		}
		return;
	case RC_CMD_SET:
		if (cls == RC_PROTO_CLASS_AUTO)
			cls = rc_classes_match(p->classes, r->key, r->key_len);
		if (cls >= p->classes->n) {
			r->status = RC_ST_UNKNOWN_CLASS;
			return;
		}
		if (p->role != RC_REPL_PRIMARY && p->role != RC_REPL_STANDALONE) {
			r->status = RC_ST_NOT_PRIMARY;
			return;
		}
		ttl = rc_server_scaled_ttl(p, r->ttl);
		r->status = rc_server_store_status[rc_store_set(
			p->store, &d, r->key, r->key_len, r->value,
			r->value_len, r->flags, ttl, 0, cls, now, NULL)];
		if (r->status == RC_ST_OK && p->rlog) {
			struct rc_proto_req_op op = {
				.key = r->key, .key_len = r->key_len,
				.value = r->value, .value_len = r->value_len,
				.client_flags = r->flags};

			rc_server_emit(p, RC_REPL_SET, &op, cls, ttl, false);
		}
		return;
	default:
		return;
	}
}


/* ---- replication: standby apply, primary snapshot ------------------- */

void rc_partition_apply(struct rc_partition *p, const struct rc_repl_rec *r,
			uint32_t now)
{
	struct rc_proto_digest d;
	enum rc_store_result res = RC_STORE_OK;

	rc_proto_key_digest(r->key, r->key_len, &d);
	switch (r->type) {
	case RC_REPL_SET:
		res = r->class_id < p->classes->n
			      ? rc_store_set(p->store, &d, r->key, r->key_len,
					     r->value, r->value_len, r->flags,
					     r->ttl, 0, r->class_id, now, NULL)
			      : RC_STORE_BAD_CLASS;
		break;
	case RC_REPL_DEL:
		res = rc_store_delete(p->store, &d, r->key, r->key_len, 0, now);
		break;
	case RC_REPL_TOUCH:
		res = rc_store_touch(p->store, &d, r->key, r->key_len, r->ttl,
				     now, NULL);
		break;
	default:
		break;
	}
	/* A DEL or TOUCH of what already expired here is not a failure. */
	if (res != RC_STORE_OK && res != RC_STORE_NOT_FOUND)
		p->st->repl_apply_failed++;
}

unsigned rc_partition_apply_log(struct rc_partition *p, struct rc_apply *a,
				uint32_t now, unsigned max)
{
	unsigned n = 0;

	if (!a->log)
		return 0;
	while (n < max) {
		struct rc_repl_rec r;
		const uint8_t *q;
		uint32_t len;

		if (a->clearing) {
			if (rc_store_flush(p->store, &a->clear_cursor,
					   a->clear_work ? a->clear_work
							 : RC_APPLY_CLEAR_WORK,
					   NULL, NULL, &a->clear_removed))
				return n;
			a->clearing = false;
			__atomic_store_n(&a->applied, a->applied + 1,
					 __ATOMIC_RELEASE);
		}
		q = rc_repl_log_peek(a->log, &len);
		if (!q)
			break;
		if (!rc_repl_rec_decode(q, len, &r)) {
			p->st->repl_apply_failed++;
		} else if (r.type == RC_REPL_CLEAR) {
			a->clearing = true;
			a->clear_cursor = 0;
			rc_repl_log_release(a->log, len);
			continue; /* counted once the partition is empty */
		} else {
			rc_partition_apply(p, &r, now);
		}
		rc_repl_log_release(a->log, len);
		p->st->repl_applied++;
		__atomic_store_n(&a->applied, a->applied + 1, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

bool rc_partition_apply_turn(struct rc_partition *p, struct rc_apply *a,
			     uint32_t now, unsigned standby_max,
			     unsigned *applied)
{
	const bool primary = p->role == RC_REPL_PRIMARY;

	*applied = 0;
	if (!a->log)
		return false;
	*applied = rc_partition_apply_log(p, a, now,
					  primary ? UINT32_MAX : standby_max);
	return primary && (a->clearing || rc_repl_log_used(a->log));
}

static bool snap_emit(void *arg, const struct rc_store_snap_item *it)
{
	struct rc_partition *p = arg;
	struct rc_repl_rec r = {
		.type = RC_REPL_SET, .class_id = it->class_id,
		.key_len = it->key_len, .value_len = it->value_len,
		.flags = it->client_flags, .ttl = it->ttl_left,
		.partition = (uint16_t)p->id, .key = it->key,
		.value = it->value};

	if (!rc_server_emit_rec(p, &r, true))
		return false;
	p->st->repl_snapshot++;
	return true;
}


int rc_partition_flush(struct rc_partition *p, struct rc_cmd *c,
		       unsigned work)
{
	struct flush_arg fa = {p, c};

	return rc_store_flush(p->store, &c->cursor, work, flush_match, &fa,
			      &c->removed);
}

int rc_partition_snapshot(struct rc_partition *p, struct rc_store_cursor *cur,
			  unsigned work, uint32_t now)
{
	return rc_store_snapshot(p->store, cur, work, now, snap_emit, p);
}
