/* SPDX-License-Identifier: MIT
 * The standby's side: each batch's records go to the apply log of the
 * worker that owns their partition; a batch is acknowledged once every
 * worker it touched has applied its part; a RESET clears the copy
 * first. */
#include <stdlib.h>
#include <string.h>

#include "node_int.h"

static bool queue_clear(struct rc_repl_node *n)
{
	for (unsigned w = 0; w < n->nw; w++) {
		struct rc_repl_rec c = {.type = RC_REPL_CLEAR,
					.partition = (uint16_t)w};
		uint32_t sz = rc_repl_rec_size(0, 0);
		uint8_t *p;

		if (n->clear_queued[w])
			continue;
		p = rc_repl_log_reserve(&n->alogs[w], sz);
		if (!p)
			return false;
		rc_repl_rec_encode(p, &c);
		rc_repl_log_commit(&n->alogs[w], sz);
		n->pushed[w]++;
		n->clear_queued[w] = true;
	}
	return true;
}

static bool push_mark(struct rc_repl_node *n, uint64_t last, uint64_t now)
{
	struct rn_batch *b;

	if (n->pending.n == n->pending.cap)
		return false;
	b = malloc(sizeof(*b) + n->nw * sizeof(uint64_t));
	if (!b)
		return false;
	b->first = b->last = last;
	b->t_ns = now;
	b->len = 0;
	b->frame = NULL;
	memcpy(b->cnt, n->pushed, n->nw * sizeof(uint64_t));
	rn_deq_push(&n->pending, b);
	return true;
}

/* @return 1 done, 0 blocked (logs full: try again), -1 bad batch. */
int rn_take_batch(struct rc_repl_node *n, const uint8_t *body, uint32_t len,
		  uint64_t now)
{
	uint64_t first, tns;
	uint32_t count;

	rc_repl_batch_hdr_decode(body, &first, &count, &tns);
	if (n->reset_pending || n->follow == 0 || n->role != RC_REPL_STANDBY)
		return n->reset_pending ? 0 : 1; /* not ours to apply */
	if (n->bat_off == 0) {
		if (first > n->recv_seq + 1) {
			rn_log(n, RC_REPL_LOG_ERR, "stream gap: batch from %lu "
			       "after %lu", (unsigned long)first,
			       (unsigned long)n->recv_seq);
			return -1;
		}
		n->bat_off = RC_REPL_BATCH_HDR;
		n->bat_seq = first;
	}
	while (n->bat_off < len) {
		struct rc_repl_rec rec;
		uint32_t sz = rc_repl_rec_decode(body + n->bat_off,
						 len - n->bat_off, &rec);
		uint8_t *p;

		if (!sz || rec.partition >= n->nw || rec.type == RC_REPL_CLEAR)
			return -1;
		if (n->bat_seq > n->recv_seq) {
			p = rc_repl_log_reserve(&n->alogs[rec.partition], sz);
			if (!p)
				return 0;
			memcpy(p, body + n->bat_off, sz);
			rc_repl_log_commit(&n->alogs[rec.partition], sz);
			n->pushed[rec.partition]++;
			n->recv_seq = n->bat_seq;
			n->st.records_in++;
		}
		n->bat_off += sz;
		n->bat_seq++;
	}
	if (n->bat_seq != first + count)
		return -1;
	if (!push_mark(n, n->recv_seq, now))
		return 0;
	n->bat_off = 0;
	n->st.batches_in++;
	return 1;
}

/* A record a worker could not apply: this copy lacks a write, and an
 * ACK for it would release a durable reply the standby does not hold.
 * Nothing more is acknowledged; the connection goes, and the copy,
 * claimed by no one, is reset by the primary's next hello. */
static void drop_copy(struct rc_repl_node *n, uint64_t failed)
{
	n->st.apply_resets++;
	rn_log(n, RC_REPL_LOG_ERR, "%lu replicated record(s) failed to apply: "
	       "this copy is dropped and resynced",
	       (unsigned long)(failed - n->apply_failed_seen));
	n->apply_failed_seen = failed;
	n->follow = 0;
	n->synced_seq = 0;
	n->phase = RC_REPL_PHASE_NONE;
	rn_conn_close(n, "a replicated record failed to apply");
}

/* Batches whose every record is applied: acknowledge them. */
void rn_check_applied(struct rc_repl_node *n)
{
	uint64_t failed;

	while (n->pending.n) {
		struct rn_batch *b = rn_deq_at(&n->pending, 0);

		for (unsigned w = 0; w < n->nw; w++)
			if (n->env.applied(n->env.ctx, w) < b->cnt[w])
				goto out;
		n->applied_seq = b->last;
		n->applied_known = true;
		free(rn_deq_pop(&n->pending));
	}
out:
	/* Read after the applied counts: a failure counted before a
	 * record's applied count is seen here. */
	failed = n->env.apply_failed(n->env.ctx);
	if (failed != n->apply_failed_seen) {
		drop_copy(n, failed);
		return;
	}
	if (n->in_snap_known && n->applied_known &&
	    n->applied_seq >= n->in_snap_end &&
	    n->phase == RC_REPL_PHASE_SNAPSHOT) {
		/* 0 is a record number here (an empty stream); synced_seq
		 * 0 means "no complete copy" to the primary. */
		n->synced_seq = n->in_snap_end ? n->in_snap_end : 1;
		n->phase = RC_REPL_PHASE_STREAMING;
		n->partial_logged = false;
		rn_log(n, RC_REPL_LOG_NOTICE, "in step with the primary: "
		       "snapshot applied up to record %lu",
		       (unsigned long)n->in_snap_end);
	}
	/* The first ACK after a reset or a reconnect goes even at record
	 * 0: a primary with an empty stream learns only so that this copy
	 * is cleared and in step (else it stays in phase snapshot, and a
	 * hand-over is refused, until its first write). */
	if (n->hello_in && n->role == RC_REPL_STANDBY && n->applied_known &&
	    (n->applied_seq > n->acked_sent || !n->ack_sent_known)) {
		rn_send_seq(n, RC_REPL_F_ACK, n->applied_seq);
		n->acked_sent = n->applied_seq;
		n->ack_sent_known = true;
		n->st.acks_out++;
	}
}

int rn_take_reset(struct rc_repl_node *n, uint64_t seq, uint64_t stream)
{
	if (n->role != RC_REPL_STANDBY)
		return 1;
	if (n->reset_pending != seq) {
		memset(n->clear_queued, 0, sizeof(n->clear_queued));
		n->reset_pending = seq;
		/* From here the copy is being cleared: not in step, whatever
		 * happens to the RESET (detect must not promote it). */
		n->phase = RC_REPL_PHASE_SNAPSHOT;
		n->synced_seq = 0;
		n->in_snap_known = false;
	}
	if (!queue_clear(n))
		return 0;
	n->reset_pending = 0;
	n->follow = stream;
	n->recv_seq = seq - 1;
	n->in_snap_end = 0;
	n->in_snap_known = false;
	n->synced_seq = 0;
	n->phase = RC_REPL_PHASE_SNAPSHOT;
	/* Older marks belong to the copy being cleared. */
	while (n->pending.n)
		free(rn_deq_pop(&n->pending));
	n->applied_seq = n->acked_sent = 0;
	n->applied_known = false;
	n->ack_sent_known = false;
	push_mark(n, seq - 1, rn_now(n));
	n->st.resets++;
	rn_log(n, RC_REPL_LOG_NOTICE, "primary resets this copy: clearing, "
	       "snapshot from record %lu", (unsigned long)seq);
	return 1;
}
