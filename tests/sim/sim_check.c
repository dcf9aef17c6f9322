/* SPDX-License-Identifier: MIT
 * The invariants (tests/sim/README.md): checked every step where they
 * are instantaneous, and once the pair has settled at the end.
 *  1. a durable write answered OK is on the primary afterwards (unless
 *     a later write of its key superseded it), in single-fault
 *     histories;
 *  2. never two nodes whose workers take writes at one epoch; never two
 *     primaries while a network joins them, past a grace;
 *  3. bounded memory (backlog, output buffer), no resync loop, and a
 *     resync of any size completes;
 *  4. once settled, the standby's store equals the primary's;
 *  5. what an asynchronous failover loses is within the lag the old
 *     primary reported just before it died;
 *  6. a pause of both hosts is no failover. */
#include <string.h>

#include "sim.h"

#define SETTLE_RESETS 6u         /* resync counts (both sides) once healed */
#define SETTLE_PROMOTIONS 2u

static bool takes_writes(const struct sim_node *nd)
{
	if (!nd->alive)
		return false;
	for (unsigned w = 0; w < nd->sim->nw; w++)
		if (nd->w[w].role != RC_REPL_PRIMARY || sim_catching_up(nd, w))
			return false;
	return true;
}

/* Per node: the view, counters added up, and whether its copy is
 * whole. */
static void observe(struct sim *s, struct sim_node *nd)
{
	struct rc_repl_view v;
	struct rc_repl_stats st;
	const struct sim_node *peer = &s->node[1 - nd->id];

	rc_repl_node_view(nd->n, &v, &st);
	s->st.resets += st.resets - nd->last_st.resets;
	s->st.overflow_resets += st.overflow_resets - nd->last_st.overflow_resets;
	s->st.promotions += st.promotions - nd->last_st.promotions;
	if (s->settling) {
		s->settle_resets += st.resets - nd->last_st.resets;
		s->settle_promotions += st.promotions - nd->last_st.promotions;
	}
	/* A standby is whole once in step with a whole primary, and not
	 * while a resync clears it; a primary keeps what it had, and so
	 * does a standby whose primary just died. */
	if (v.role == RC_REPL_STANDBY && v.phase != RC_REPL_PHASE_STREAMING)
		nd->whole = false;
	else if (v.role == RC_REPL_STANDBY && peer->alive &&
		 peer->last_view.role == RC_REPL_PRIMARY)
		nd->whole = peer->whole;
	nd->last_view = v;
	nd->last_st = st;
}

static void check_memory(struct sim *s, struct sim_node *nd)
{
	const struct rc_repl_view *v = &nd->last_view;
	uint64_t batch = nd->cfg.batch_bytes ? nd->cfg.batch_bytes : 256u << 10;
	uint64_t send = nd->cfg.send_bytes ? nd->cfg.send_bytes : 4u << 20;
	size_t tx = 0;

	s->st.checks[3]++;
	/* One batch over: a batch is cut after the record that crosses. */
	if (v->backlog_bytes > nd->cfg.backlog + batch + (64u << 10))
		sim_fail(s, "invariant 3: node %u backlog %lu bytes > backlog "
			 "%lu + a batch", nd->id,
			 (unsigned long)v->backlog_bytes,
			 (unsigned long)nd->cfg.backlog);
	/* Batches are queued while under send_bytes: one more may cross
	 * it, and a few small frames follow. */
	if (rc_repl_node_tx(nd->n, &tx) && tx > send + batch + (64u << 10))
		sim_fail(s, "invariant 3: node %u holds %zu bytes to send "
			 "(send_bytes %lu)", nd->id, tx, (unsigned long)send);
}

/* Invariant 2. */
static void check_roles(struct sim *s)
{
	const struct sim_node *a = &s->node[0], *b = &s->node[1];
	const uint64_t grace = a->cfg.failover_ns + 4 * a->cfg.heartbeat_ns +
			       2 * s->net.latency + 2 * s->net.dlat + 300 * MS;
	bool a_w = false, b_w = false;
	uint64_t since;

	s->st.checks[2]++;
	for (unsigned w = 0; w < s->nw; w++) {
		a_w |= a->alive && a->w[w].role == RC_REPL_PRIMARY;
		b_w |= b->alive && b->w[w].role == RC_REPL_PRIMARY;
	}
	/* Two writers at one epoch: only a full partition may make them
	 * (two nodes, no quorum: each picks the next epoch alone); once a
	 * network joins them, one steps down within the grace. */
	if (!(a_w && b_w && a->w[0].epoch == b->w[0].epoch)) {
		s->same_since = 0;
	} else if (!s->same_since) {
		s->same_since = s->now;
		s->st.same_epoch++;
		if (sim_net_joined(s))
			sim_fail(s, "invariant 2: both nodes' workers take "
				 "writes at epoch %u while a network joins them",
				 a->w[0].epoch);
	}
	if (a->last_view.role != RC_REPL_PRIMARY ||
	    b->last_view.role != RC_REPL_PRIMARY)
		s->two_since = 0;
	else if (!s->two_since)
		s->two_since = s->now;
	if (!sim_net_joined(s)) {
		s->joined_since = 0;
		return;
	}
	if (!s->joined_since)
		s->joined_since = s->now;
	since = s->same_since > s->joined_since ? s->same_since : s->joined_since;
	if (s->same_since && s->now - since > grace)
		sim_fail(s, "invariant 2: both nodes' workers take writes at "
			 "epoch %u %lu ms after a network joined them",
			 a->w[0].epoch, (unsigned long)((s->now - since) / MS));
	since = s->two_since > s->joined_since ? s->two_since : s->joined_since;
	if (s->two_since && s->now - since > grace)
		sim_fail(s, "invariant 2: two primaries (epochs %u and %u) for "
			 "%lu ms while a network joined them",
			 a->last_view.epoch, b->last_view.epoch,
			 (unsigned long)((s->now - since) / MS));
}

/* Invariant 6: a pause of the host both nodes share (a VM frozen: the
 * clock jumps inside some turn, sim_env.c) is nobody's failure. Armed when it begins on a
 * pair in step with no other fault in force; any other fault before the check
 * disarms it (sim_fault.c). */
void sim_check_pause(struct sim *s, uint64_t dur)
{
	const uint64_t fo = s->node[0].cfg.failover_ns;

	unsigned primaries = 0;

	s->inv6_until = 0;
	if (s->net.cut_stream || s->net.cut_data || s->attack ||
	    s->lossy_until)
		return;
	/* In step: a primary taking writes, its standby streaming on a
	 * connection (traffic may flow). */
	for (unsigned i = 0; i < SIM_NODES; i++) {
		const struct sim_node *nd = &s->node[i];
		const struct rc_repl_view *v = &nd->last_view;

		if (!nd->alive || s->now < nd->stall_until ||
		    s->now < nd->slow_until || s->now < nd->hang_until ||
		    s->now < nd->slowctl_until || !v->connected ||
		    v->phase != RC_REPL_PHASE_STREAMING)
			return;
		if (v->role == RC_REPL_PRIMARY && takes_writes(nd))
			primaries++;
		else if (v->role != RC_REPL_STANDBY)
			return;
	}
	if (primaries != 1)
		return;
	s->inv6_until = s->now + dur + 3 * fo;
	s->inv6_promotions = s->st.promotions;
	s->inv6_disconnects = s->node[0].last_st.disconnects +
			      s->node[1].last_st.disconnects;
}

static void check_pause(struct sim *s)
{
	if (!s->inv6_until || s->now < s->inv6_until)
		return;
	s->inv6_until = 0;
	s->st.checks[6]++;
	if (s->st.promotions != s->inv6_promotions ||
	    s->node[0].last_st.disconnects + s->node[1].last_st.disconnects !=
		    s->inv6_disconnects)
		sim_fail(s, "invariant 6: a pause of both hosts was taken for "
			 "a failure: %lu promotion(s), %lu disconnect(s) after "
			 "it", (unsigned long)(s->st.promotions -
					       s->inv6_promotions),
			 (unsigned long)(s->node[0].last_st.disconnects +
					 s->node[1].last_st.disconnects -
					 s->inv6_disconnects));
}

void sim_check_step(struct sim *s)
{
	for (unsigned i = 0; i < SIM_NODES; i++) {
		struct sim_node *nd = &s->node[i];

		if (!nd->alive)
			continue;
		observe(s, nd);
		check_memory(s, nd);
	}
	check_roles(s);
	sim_check_heir(s);
	check_pause(s);
}

/* A primary dies: is this a single fault (the other copy whole), and
 * what did it say its lag was (invariant 5)? */
void sim_note_kill(struct sim *s, unsigned dead)
{
	struct sim_node *x = &s->node[dead], *y = &s->node[1 - dead];

	if (!y->alive || !y->whole) {
		if (!s->double_fault)
			sim_trace(s, "double fault: node %u dies while node %u "
				  "%s", dead, y->id,
				  y->alive ? "is not whole" : "is down");
		s->double_fault = true;
	}
	s->inv5_armed = false;
	if (x->last_view.role != RC_REPL_PRIMARY || !takes_writes(x) ||
	    !y->alive || y->last_view.role != RC_REPL_STANDBY ||
	    y->last_view.phase != RC_REPL_PHASE_STREAMING)
		return;
	s->inv5_armed = true;
	s->inv5_dead = dead;
	s->inv5_epoch = x->w[0].epoch;
	s->inv5_lag = x->last_view.lag_records;
	s->inv5_unnumbered = 0;
	for (unsigned w = 0; w < s->nw; w++)
		s->inv5_unnumbered += rc_repl_log_used(x->w[w].rlog) /
				      rc_repl_rec_size(SIM_KEY_LEN, 0);
	s->inv5_to = s->n_led;
}

/* Invariant 5, once the heir takes writes: keys whose last write by the
 * dead primary in its term (or a later one) it lacks. */
void sim_check_heir(struct sim *s)
{
	const struct sim_node *y = &s->node[1 - s->inv5_dead];
	uint8_t *seen;
	uint64_t lost = 0;

	if (!s->inv5_armed)
		return;
	if (!y->alive || y->last_view.role == RC_REPL_JOINING) {
		s->inv5_armed = false;
		return;
	}
	if (!takes_writes(y))
		return;
	s->inv5_armed = false;
	s->st.checks[5]++;
	seen = s->scratch;
	memset(seen, 0, s->keys);
	for (uint32_t id = s->inv5_to; id-- > 1;) {
		const struct sim_write *x = &s->led[id];

		if (x->state == W_REFUSED || x->node != s->inv5_dead ||
		    x->epoch != s->inv5_epoch || seen[x->key])
			continue;
		/* Its record was lost to a full log: the lag does not count
		 * it. Where the heir has it anyway (the overflow's resync
		 * carried it: a DEL, then a resync, leaves the key absent on
		 * both) it supersedes the key's earlier writes; where not,
		 * they are looked at. */
		if (!x->logged) {
			if (y->ver[x->key] >= id ||
			    (x->del && !y->present[x->key]))
				seen[x->key] = 1;
			continue;
		}
		seen[x->key] = 1;
		/* A DEL is had by an absent key (a resync leaves no
		 * tombstone). */
		if (y->ver[x->key] >= id || (x->del && !y->present[x->key]))
			continue;
		lost++;
		sim_trace(s, "failover lost write #%u (key %u, +%lu ms); the "
			  "heir has #%u", id, x->key,
			  (unsigned long)((x->t_try - s->t0) / MS),
			  y->ver[x->key]);
	}
	s->st.lost_async += lost;
	if (lost > s->inv5_lag)
		s->st.lag_underreports++;
	if (lost > s->inv5_lag + s->inv5_unnumbered)
		sim_fail(s, "invariant 5: failover lost the last write of %lu "
			 "keys; the old primary reported a lag of %lu records "
			 "(+ at most %lu not yet numbered)",
			 (unsigned long)lost, (unsigned long)s->inv5_lag,
			 (unsigned long)s->inv5_unnumbered);
}

/* Settled: one primary taking writes, a standby in step that has
 * applied everything, nothing in flight. */
bool sim_settled(struct sim *s)
{
	const struct sim_node *p = NULL, *q = NULL;

	for (unsigned i = 0; i < SIM_NODES; i++) {
		const struct sim_node *nd = &s->node[i];

		if (!nd->alive || s->now < nd->stall_until)
			return false;
		if (nd->last_view.role == RC_REPL_PRIMARY)
			p = nd;
		else if (nd->last_view.role == RC_REPL_STANDBY)
			q = nd;
	}
	if (!p || !q || !takes_writes(p) || sim_held_total(p) ||
	    p->last_view.phase != RC_REPL_PHASE_STREAMING ||
	    !p->last_view.standby_attached ||
	    p->last_view.acked != p->last_view.seq ||
	    q->last_view.phase != RC_REPL_PHASE_STREAMING ||
	    q->last_view.applied != q->last_view.seq)
		return false;
	for (unsigned w = 0; w < s->nw; w++)
		if (rc_repl_log_used(p->w[w].rlog) ||
		    rc_repl_log_used(q->w[w].alog) || q->w[w].clearing)
			return false;
	return true;
}

/* Invariant 1, as it happens: acked(w, cnt) says the standby has
 * applied every record of worker w up to cnt; each must be on it (or
 * something later of its key). Not when the standby is not the one the
 * acknowledgement came from (it died, or restarted since). */
void sim_check_acked(struct sim_node *nd, unsigned w, uint64_t cnt)
{
	struct sim *s = nd->sim;
	struct sim_worker *wk = &nd->w[w];
	const struct sim_node *q = &s->node[1 - nd->id];

	if (cnt <= wk->checked)
		return;
	if (!q->alive || q->boot_t > s->net.conn_t) {
		wk->checked = cnt;
		return;
	}
	for (; wk->checked < cnt && !s->failed; wk->checked++) {
		const struct sim_rec *r = &wk->recs[wk->checked];

		s->st.checks[1]++;
		/* Absent: deleted, or cleared by a resync whose snapshot
		 * found it deleted. */
		if (q->ver[r->key] >= r->id ||
		    (!q->present[r->key] &&
		     (r->del || s->last_del[r->key] > r->id)))
			continue;
		sim_fail(s, "invariant 1: node %u acked(%u, %lu): record %lu "
			 "(%s #%u of key %u) is not on standby node %u, which "
			 "has %s #%u", nd->id, w, (unsigned long)cnt,
			 (unsigned long)wk->checked + 1, r->del ? "DEL" : "SET",
			 r->id, r->key, q->id, q->present[r->key] ? "SET" : "nothing, last",
			 q->ver[r->key]);
	}
}

/* Invariant 1 on the primary p: every durable OK, or something later. */
static void check_durable(struct sim *s, const struct sim_node *p)
{
	for (uint32_t id = 1; id < s->n_led && !s->failed; id++) {
		const struct sim_write *x = &s->led[id];
		const uint32_t k = x->key;
		bool ok;

		if (x->state != W_OK)
			continue;
		s->st.checks[1]++;
		if (x->del)
			ok = !p->present[k] || p->ver[k] > id;
		else if (p->present[k])
			ok = p->ver[k] >= id;
		else /* gone: a later DEL must have been taken */
			ok = s->last_del[k] > id;
		if (!ok)
			sim_fail(s, "invariant 1: durable %s #%u of key %u "
				 "(OK at +%lu ms on node %u, epoch %u) is not on "
				 "primary node %u: it has %s #%u",
				 x->del ? "DEL" : "SET", id, k,
				 (unsigned long)((x->t_done - s->t0) / MS),
				 x->node, x->epoch, p->id,
				 p->present[k] ? "SET" : "nothing, last",
				 p->ver[k]);
	}
}

/* Invariant 4: the same items, the same writes. */
static void check_copies(struct sim *s, const struct sim_node *p,
			 const struct sim_node *q)
{
	s->st.checks[4]++;
	for (uint32_t k = 0; k < s->keys; k++) {
		if (p->present[k] == q->present[k] &&
		    (!p->present[k] || p->ver[k] == q->ver[k]))
			continue;
		sim_fail(s, "invariant 4: key %u is %s #%u on primary node %u "
			 "and %s #%u on standby node %u", k,
			 p->present[k] ? "SET" : "absent", p->ver[k], p->id,
			 q->present[k] ? "SET" : "absent", q->ver[k], q->id);
		return;
	}
}

void sim_check_end(struct sim *s)
{
	const struct sim_node *p, *q;

	p = s->node[0].last_view.role == RC_REPL_PRIMARY ? &s->node[0]
							  : &s->node[1];
	q = &s->node[1 - p->id];
	/* A resync per connection, per log overflow and per new primary
	 * (a new stream: even a hand-over resyncs the old primary); both
	 * sides count it. More is a loop. */
	s->st.checks[3]++;
	if (s->st.resets > 2 * (s->st.connects + s->st.overflow_resets +
				s->st.promotions) + 4)
		sim_fail(s, "invariant 3: %lu resync counts for %lu connections, "
			 "%lu log overflows and %lu promotions (a loop?)",
			 (unsigned long)s->st.resets,
			 (unsigned long)s->st.connects,
			 (unsigned long)s->st.overflow_resets,
			 (unsigned long)s->st.promotions);
	if (s->settle_resets > SETTLE_RESETS ||
	    s->settle_promotions > SETTLE_PROMOTIONS)
		sim_fail(s, "invariant 3: %lu resyncs and %lu promotions after "
			 "the faults healed (a loop?)",
			 (unsigned long)s->settle_resets,
			 (unsigned long)s->settle_promotions);
	check_copies(s, p, q);
	if (s->double_fault)
		s->st.double_faults++;
	else
		check_durable(s, p);
}
