/* SPDX-License-Identifier: MIT
 * The primary's side: the workers' records numbered into batches, a
 * bounded backlog, the standby fed from it (resume or full resync),
 * snapshot flow control, and ACKs turned into per-worker counts that
 * release held durable replies. */
#include <stdlib.h>
#include <string.h>

#include "node_int.h"

/* The first backlog batch whose last record is at or past seq
 * (backlog.n when none): batches are in record order, and the backlog
 * may hold 65,536 of them, looked up every turn. */
static unsigned backlog_from(const struct rc_repl_node *n, uint64_t seq)
{
	unsigned lo = 0, hi = n->backlog.n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (rn_deq_at(&n->backlog, mid)->last < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t rn_oldest_unacked_ns(const struct rc_repl_node *n)
{
	unsigned i = backlog_from(n, n->acked + 1);

	return i < n->backlog.n ? rn_deq_at(&n->backlog, i)->t_ns : 0;
}

/* The standby applied every record up to seq. Held durable replies are
 * released by per-worker counts, which cover every write before them;
 * that is only true of the standby's copy once its snapshot (which
 * carries the writes from before the reset) is applied: below
 * ack_floor nothing is released. */
static void release_acked(struct rc_repl_node *n)
{
	const uint64_t seq = n->acked;
	const struct rn_batch *last;
	unsigned i;

	if (n->phase == RC_REPL_PHASE_SNAPSHOT && n->snap_known &&
	    n->acked_since_reset && seq >= n->snap_end) {
		n->phase = RC_REPL_PHASE_STREAMING;
		rn_log(n, RC_REPL_LOG_NOTICE, "the standby is in step: "
		       "snapshot applied up to record %lu",
		       (unsigned long)n->snap_end);
	}
	if (seq < n->ack_floor)
		return;
	/* The last batch the ACK covers whole. */
	i = backlog_from(n, seq + 1);
	if (i == 0)
		return;
	last = rn_deq_at(&n->backlog, i - 1);
	for (unsigned w = 0; w < n->nw; w++)
		if (last->cnt[w] > n->acked_cnt[w]) {
			n->acked_cnt[w] = last->cnt[w];
			n->env.acked(n->env.ctx, w, last->cnt[w]);
		}
}

void rn_ack_upto(struct rc_repl_node *n, uint64_t seq)
{
	/* The standby's ACK of the reset's own mark (reset_seq - 1, once
	 * its CLEAR is applied) or later. */
	if (seq + 1 >= n->reset_seq)
		n->acked_since_reset = true;
	if (seq > n->acked)
		n->acked = seq;
	release_acked(n);
}

static void start_reset(struct rc_repl_node *n, const char *why)
{
	/* What the workers' logs still hold (flow control keeps records
	 * there) is older than this reset, and the new pass reads the
	 * store those writes changed. Numbered after the RESET, the
	 * standby would apply them after its CLEAR and out of order with
	 * the pass: an older snapshot SET of a key whose DEL a full log
	 * lost brought the key back (sim-repl seed 452). They go, counted
	 * as drained (held durable replies wait for the new snapshot). */
	for (unsigned w = 0; w < n->nw; w++) {
		const uint8_t *q;
		uint32_t len;

		while ((q = rc_repl_log_peek(&n->rlogs[w], &len)) != NULL) {
			rc_repl_log_release(&n->rlogs[w], len);
			n->drained[w]++;
		}
	}
	n->reset_seq = n->seq + 1;
	n->acked = 0; /* the standby's copy is cleared first */
	n->acked_since_reset = false;
	n->ack_floor = UINT64_MAX;
	n->resume_floor = UINT64_MAX;
	n->next_send = n->reset_seq;
	n->unsent_bytes = 0;
	n->unsent_batches = 0;
	n->snap_req++;
	n->snap_running = true;
	n->snap_end = 0;
	n->snap_known = false;
	n->snap_items_total = 0;
	for (unsigned w = 0; w < n->nw; w++)
		n->snap_items_total += n->env.items(n->env.ctx, w, false);
	n->env.snap_start(n->env.ctx, n->snap_req);
	n->phase = RC_REPL_PHASE_SNAPSHOT;
	n->st.resets++;
	rn_send_seq(n, RC_REPL_F_RESET, n->reset_seq);
	rn_log(n, RC_REPL_LOG_NOTICE, "full resync of the standby from "
	       "record %lu: %s", (unsigned long)n->reset_seq, why);
}

/* Workers that lost records: the standby's copy has a hole. */
void rn_check_overflow(struct rc_repl_node *n)
{
	uint64_t of;

	if (n->role != RC_REPL_PRIMARY)
		return;
	of = n->env.overflows(n->env.ctx);
	if (of == n->overflow_seen)
		return;
	n->overflow_seen = of;
	if (n->peer_follows) {
		n->st.overflow_resets++;
		start_reset(n, "a worker's replication log overflowed");
	} else {
		/* Nobody to reset now: whoever comes back lacks the lost
		 * writes and is reset then. */
		n->resume_floor = UINT64_MAX;
	}
}

static bool feeding(const struct rc_repl_node *n)
{
	return n->peer_follows && n->next_send && n->next_send != UINT64_MAX;
}

static void finish_batch(struct rc_repl_node *n, uint64_t now)
{
	struct rn_batch *b;

	if (!n->cur_n)
		return;
	b = malloc(sizeof(*b) + n->nw * sizeof(uint64_t));
	if (!b) {
		/* The batch's records are numbered and gone from the logs: a
		 * hole. Its buffer goes too (a later batch must not be
		 * written into it at offset 0), and the standby is reset. */
		free(n->cur);
		n->cur = NULL;
		n->cur_n = n->cur_len = 0;
		n->st.backlog_dropped++;
		if (n->peer_follows && n->next_send)
			n->next_send = UINT64_MAX;
		n->resume_floor = UINT64_MAX;
		return;
	}
	rc_repl_frame_hdr(n->cur, RC_REPL_F_BATCH,
			  n->cur_len - RC_REPL_FRAME_HDR);
	rc_repl_batch_hdr(n->cur + RC_REPL_FRAME_HDR, n->cur_first, n->cur_n,
			  now);
	b->first = n->cur_first;
	b->last = n->cur_first + n->cur_n - 1;
	b->t_ns = now;
	b->len = n->cur_len;
	b->frame = n->cur;
	memcpy(b->cnt, n->drained, n->nw * sizeof(uint64_t));
	n->cur = NULL;
	n->cur_n = n->cur_len = 0;
	/* Bounded: the oldest go, and a standby that still needed them
	 * will get a full resync. */
	while (n->backlog.n == n->backlog.cap ||
	       (n->backlog.n && n->backlog_bytes + b->len > n->cfg.backlog)) {
		struct rn_batch *o = rn_deq_pop(&n->backlog);

		n->backlog_bytes -= o->len;
		if (feeding(n) && o->last >= n->next_send) {
			/* Unsent: flow control (drain_logs) keeps this from
			 * happening; if it does, the copy has a hole. */
			n->next_send = UINT64_MAX;
			n->unsent_bytes = 0;
			n->unsent_batches = 0;
		}
		n->st.backlog_dropped++;
		free(o->frame);
		free(o);
	}
	rn_deq_push(&n->backlog, b);
	n->backlog_bytes += b->len;
	if (feeding(n)) {
		n->unsent_bytes += b->len;
		n->unsent_batches++;
	}
}

/* Flow control: while the standby has this much still to be sent, the
 * workers' records stay in their logs (a snapshot pass waits there for
 * room; a client write finds the other half of the log free). Half the
 * backlog, so that what is unsent is never what finish_batch drops. */
static bool send_window_full(const struct rc_repl_node *n)
{
	return feeding(n) && (n->unsent_bytes >= n->cfg.backlog / 2 ||
			      n->unsent_batches >= n->backlog.cap / 2);
}

/* Number and batch what the workers logged. */
bool rn_drain_logs(struct rc_repl_node *n, uint64_t now)
{
	bool did = false;

	for (unsigned w = 0; w < n->nw; w++) {
		struct rc_repl_log *l = &n->rlogs[w];
		const uint8_t *p;
		uint32_t len;
		uint64_t budget = n->cfg.turn_bytes / n->nw;

		/* Bounded per turn, each worker its share: heartbeats and
		 * ACKs are never behind more than a few ms of copying. */
		while (budget && (n->role != RC_REPL_PRIMARY ||
				  !send_window_full(n)) &&
		       (p = rc_repl_log_peek(l, &len)) != NULL) {
			did = true;
			budget = budget > len ? budget - len : 0;
			if (n->role != RC_REPL_PRIMARY) {
				/* Not ours to send (a demoted node's last
				 * writes): the new primary resets the copy. */
				rc_repl_log_release(l, len);
				n->drained[w]++;
				continue;
			}
			if (n->cur && n->cur_len + len > n->cfg.batch_bytes)
				finish_batch(n, now);
			if (!n->cur) {
				uint32_t cap = n->cfg.batch_bytes > len + 64
						       ? n->cfg.batch_bytes + 64
						       : len + 64;

				n->cur = malloc(cap + RC_REPL_FRAME_HDR +
						RC_REPL_BATCH_HDR);
				if (!n->cur)
					return did;
				n->cur_len = RC_REPL_FRAME_HDR +
					     RC_REPL_BATCH_HDR;
				n->cur_first = n->seq + 1;
			}
			memcpy(n->cur + n->cur_len, p, len);
			n->cur_len += len;
			n->cur_n++;
			n->seq++;
			n->drained[w]++;
			rc_repl_log_release(l, len);
		}
	}
	finish_batch(n, now);
	return did;
}

/* Queue backlog batches from next_send, as far as the socket keeps up. */
bool rn_feed(struct rc_repl_node *n)
{
	bool did = false;

	if (!n->peer_follows || !n->next_send || !n->linked)
		return false;
	if (n->next_send == UINT64_MAX) {
		start_reset(n, "the backlog no longer holds what it missed");
		did = true;
	}
	for (unsigned i = backlog_from(n, n->next_send);
	     i < n->backlog.n && n->wlen < n->cfg.send_bytes; i++) {
		struct rn_batch *b = rn_deq_at(&n->backlog, i);

		rn_send_frame(n, RC_REPL_F_BATCH, b->frame + RC_REPL_FRAME_HDR,
			      b->len - RC_REPL_FRAME_HDR);
		n->next_send = b->last + 1;
		n->unsent_bytes = n->unsent_bytes > b->len
					  ? n->unsent_bytes - b->len : 0;
		n->unsent_batches -= n->unsent_batches != 0;
		n->st.batches_out++;
		n->st.records_out += b->last - b->first + 1;
		did = true;
	}
	return did;
}

/* The snapshot is complete once every worker finished its pass and its
 * last record is numbered. */
void rn_check_snapshot(struct rc_repl_node *n)
{
	if (!n->snap_running)
		return;
	for (unsigned w = 0; w < n->nw; w++)
		if (n->env.snap_done(n->env.ctx, w) != n->snap_req)
			return;
	/* Done flags are set after the records are in the logs; the pass
	 * is numbered once every worker's count reaches where it ended
	 * (flow control may hold records back for a while). */
	rn_drain_logs(n, rn_now(n));
	for (unsigned w = 0; w < n->nw; w++)
		if (n->drained[w] < n->env.snap_wseq(n->env.ctx, w))
			return;
	n->snap_running = false;
	n->snap_end = n->seq;
	n->snap_known = true;
	n->ack_floor = n->snap_end;
	n->resume_floor = n->snap_end;
	rn_send_seq(n, RC_REPL_F_SNAPSHOT_DONE, n->snap_end);
	rn_log(n, RC_REPL_LOG_NOTICE, "snapshot complete: records %lu..%lu",
	       (unsigned long)n->reset_seq, (unsigned long)n->snap_end);
	release_acked(n); /* an empty snapshot may be acked already */
}

/* A standby says hello: resume it from the backlog, or resync it. */
void rn_start_feed(struct rc_repl_node *n, const struct rc_repl_hello *p)
{
	n->peer_follows = true;
	n->env.durable_ok(n->env.ctx, true);
	/* Same stream, a complete copy, and what it lacks still at hand
	 * (nothing, or the backlog from its next record on): resume. */
	if (p->stream == n->stream && p->synced_seq != 0 && p->seq <= n->seq &&
	    p->seq >= n->resume_floor &&
	    (p->seq == n->seq ||
	     (n->backlog.n && rn_deq_at(&n->backlog, 0)->first <= p->seq + 1))) {
		n->next_send = p->seq + 1;
		n->unsent_bytes = 0;
		n->unsent_batches = 0;
		for (unsigned i = 0; i < n->backlog.n; i++)
			if (rn_deq_at(&n->backlog, i)->first >= n->next_send) {
				n->unsent_bytes += rn_deq_at(&n->backlog, i)->len;
				n->unsent_batches++;
			}
		n->phase = RC_REPL_PHASE_STREAMING;
		n->st.resumes++;
		rn_log(n, RC_REPL_LOG_NOTICE, "standby resumes from record %lu",
		       (unsigned long)n->next_send);
		return;
	}
	start_reset(n, p->stream == n->stream ? "standby too far behind"
					      : "standby holds another copy");
}
