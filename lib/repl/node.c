/* SPDX-License-Identifier: MIT
 * The node: its life cycle, the turn, roles and epochs (promote,
 * follow, failure detection, hand-over), operator actions and the view
 * for status and metrics. docs/design.md "Replication" says what is
 * guaranteed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_int.h"

void rn_log(struct rc_repl_node *n, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n->env.log(n->env.ctx, level, msg);
}

static int deq_init(struct rn_deq *d, unsigned cap)
{
	d->v = calloc(cap, sizeof(*d->v));
	d->cap = cap;
	d->head = d->n = 0;
	return d->v ? 0 : -ENOMEM;
}

void rn_free_batches(struct rn_deq *d)
{
	while (d->v && d->n) {
		struct rn_batch *b = rn_deq_pop(d);

		free(b->frame);
		free(b);
	}
}

const char *rc_repl_phase_name(unsigned phase)
{
	static const char *const names[RC_REPL_PHASE__COUNT] = {
		"none", "snapshot", "streaming"};

	return phase < RC_REPL_PHASE__COUNT ? names[phase] : "unknown";
}

static void set_why(struct rc_repl_node *n, const char *why)
{
	snprintf(n->why, sizeof(n->why), "%s", why);
	n->role_ns = rn_now(n);
}

static uint8_t configured_prefer(const struct rc_repl_node *n)
{
	return n->cfg.prefer_primary ? RC_REPL_PREFER_PRIMARY
				     : RC_REPL_PREFER_STANDBY;
}

void rn_me_hello(const struct rc_repl_node *n, struct rc_repl_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->version = RC_REPL_VERSION;
	h->epoch = n->epoch;
	h->role = (uint8_t)n->role;
	h->prefer = n->prefer;
	h->partitions = (uint16_t)n->nw;
	h->rank = n->cfg.rank;
	h->stream = n->role == RC_REPL_PRIMARY ? n->stream : n->follow;
	h->seq = n->role == RC_REPL_PRIMARY ? n->seq : n->recv_seq;
	h->time_ns = rn_now(n);
	/* A primary's: whether its term began with the data (1) or not
	 * (0), for rc_repl_should_follow. */
	h->synced_seq = n->role != RC_REPL_PRIMARY ? n->synced_seq
			: n->blind			 ? 0
							 : 1;
}

static void publish(struct rc_repl_node *n)
{
	n->env.publish(n->env.ctx, n->role, n->epoch);
}

/* ---- life cycle ---------------------------------------------------------- */

struct rc_repl_node *rc_repl_node_new(const struct rc_repl_node_cfg *cfg,
				      const struct rc_repl_env *env,
				      const char **err)
{
	struct rc_repl_node *n;

	*err = "out of memory";
	if (cfg->workers == 0 || cfg->workers > RC_REPL_MAX_WORKERS) {
		*err = "workers: 1 to 64";
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->env = *env;
	n->cfg = *cfg;
	if (!n->cfg.backlog_batches)
		n->cfg.backlog_batches = 65536;
	if (!n->cfg.batch_bytes)
		n->cfg.batch_bytes = 256u << 10;
	if (!n->cfg.turn_bytes)
		n->cfg.turn_bytes = 4u << 20;
	if (!n->cfg.send_bytes)
		n->cfg.send_bytes = 4u << 20;
	n->nw = cfg->workers;
	n->auth = cfg->auth;
	n->epoch = cfg->epoch;
	n->start_ns = rn_now(n);
	if (cfg->standalone) {
		n->role = RC_REPL_STANDALONE;
		set_why(n, "repl.role = standalone");
		return n;
	}
	n->role = RC_REPL_JOINING;
	n->prefer = configured_prefer(n);
	set_why(n, "starting: looking for the peer");
	n->rlogs = calloc(n->nw, sizeof(*n->rlogs));
	n->alogs = calloc(n->nw, sizeof(*n->alogs));
	n->drained = calloc(n->nw, sizeof(uint64_t));
	n->acked_cnt = calloc(n->nw, sizeof(uint64_t));
	n->pushed = calloc(n->nw, sizeof(uint64_t));
	n->rbuf = malloc(RN_RBUF_CAP);
	n->wcap = 1 << 20;
	n->wbuf = malloc(n->wcap);
	if (!n->rlogs || !n->alogs || !n->drained || !n->acked_cnt ||
	    !n->pushed || !n->rbuf || !n->wbuf ||
	    deq_init(&n->backlog, n->cfg.backlog_batches) ||
	    deq_init(&n->pending, RN_PENDING_MAX))
		goto fail;
	for (unsigned w = 0; w < n->nw; w++) {
		int rc = rc_repl_log_init(&n->rlogs[w], cfg->log_size);

		if (rc == 0)
			rc = rc_repl_log_init(&n->alogs[w], cfg->log_size);
		if (rc == -EINVAL)
			*err = "log size: a power of two, at least 4 KiB";
		if (rc)
			goto fail;
	}
	return n;
fail:
	rc_repl_node_free(n);
	return NULL;
}

void rc_repl_node_free(struct rc_repl_node *n)
{
	if (!n)
		return;
	for (unsigned w = 0; w < n->nw; w++) {
		if (n->rlogs)
			rc_repl_log_free(&n->rlogs[w]);
		if (n->alogs)
			rc_repl_log_free(&n->alogs[w]);
	}
	rn_free_batches(&n->backlog);
	rn_free_batches(&n->pending);
	free(n->backlog.v);
	free(n->pending.v);
	free(n->cur);
	free(n->rlogs);
	free(n->alogs);
	free(n->drained);
	free(n->acked_cnt);
	free(n->pushed);
	free(n->rbuf);
	free(n->wbuf);
	free(n);
}

struct rc_repl_log *rc_repl_node_rlog(struct rc_repl_node *n, unsigned w)
{
	return n->rlogs && w < n->nw ? &n->rlogs[w] : NULL;
}

struct rc_repl_log *rc_repl_node_alog(struct rc_repl_node *n, unsigned w)
{
	return n->alogs && w < n->nw ? &n->alogs[w] : NULL;
}

void rc_repl_node_start(struct rc_repl_node *n)
{
	publish(n);
}

struct rc_repl_stats *rc_repl_node_stats(struct rc_repl_node *n)
{
	return &n->st;
}

/* ---- roles ----------------------------------------------------------------- */

void rn_promote(struct rc_repl_node *n, const char *why)
{
	uint32_t e = n->epoch;

	if (n->peer.epoch > e)
		e = n->peer.epoch;
	if (n->hb_peer.epoch > e)
		e = n->hb_peer.epoch;
	if (e >= RC_REPL_EPOCH_MAX - 1) {
		/* Epochs only grow: wrapping to 0 would let a stale node
		 * win. Never reached from a genuine history. */
		if (!n->wrap_logged)
			rn_log(n, RC_REPL_LOG_ERR, "not promoting: epoch %u "
			       "would wrap (%s)", e, why);
		n->wrap_logged = true;
		return;
	}
	n->epoch = e + 1;
	n->env.save_epoch(n->env.ctx, n->epoch);
	n->role = RC_REPL_PRIMARY;
	n->blind = false; /* detect() says when it is */
	n->stream = n->env.random(n->env.ctx) | 1;
	n->seq = 0;
	n->acked = n->ack_floor = n->resume_floor = 0;
	n->next_send = 0;
	n->unsent_bytes = 0;
	n->unsent_batches = 0;
	n->peer_follows = false;
	n->snap_running = false;
	n->snap_end = 0;
	n->snap_known = false;
	n->handover = false;
	n->duel = false;
	n->reset_pending = 0;
	memset(n->clear_queued, 0, sizeof(n->clear_queued));
	n->phase = RC_REPL_PHASE_NONE;
	/* What the standby had queued is applied by the workers before
	 * they take a write (the worker contract); nothing more is
	 * queued. */
	while (n->pending.n)
		free(rn_deq_pop(&n->pending));
	rn_free_batches(&n->backlog);
	n->backlog_bytes = 0;
	free(n->cur);
	n->cur = NULL;
	n->cur_n = n->cur_len = 0;
	/* Records left in the logs from an earlier term as primary are not
	 * this stream's: they go before the count restarts (the workers
	 * take no write until publish, so the logs stay empty). */
	for (unsigned w = 0; w < n->nw; w++) {
		const uint8_t *q;
		uint32_t len;

		while ((q = rc_repl_log_peek(&n->rlogs[w], &len)) != NULL)
			rc_repl_log_release(&n->rlogs[w], len);
		n->drained[w] = n->env.wseq(n->env.ctx, w);
	}
	n->overflow_seen = n->env.overflows(n->env.ctx);
	n->st.promotions++;
	set_why(n, why);
	rn_log(n, RC_REPL_LOG_NOTICE, "PROMOTED to primary at epoch %u: %s",
	       n->epoch, why);
	/* Writes are taken once the epoch is on disk; the turn publishes
	 * the role then. */
	n->publish_pending = true;
	if (n->linked)
		rn_send_hello(n, RC_REPL_F_HELLO);
}

/* The workers take writes at the new epoch once it is saved. */
static void publish_when_saved(struct rc_repl_node *n)
{
	const uint64_t now = rn_now(n);

	if (!n->publish_pending)
		return;
	if (!n->env.epoch_saved(n->env.ctx, n->epoch)) {
		/* A disk that does not answer keeps this node from taking
		 * writes while it says it is primary: say so, loudly. */
		if (!n->publish_late_logged &&
		    now - n->role_ns > n->cfg.failover_ns) {
			rn_log(n, RC_REPL_LOG_ERR, "promoted %lu ms ago and the "
			       "epoch is still not on disk: no writes are "
			       "taken until it is",
			       (unsigned long)((now - n->role_ns) / 1000000));
			n->publish_late_logged = true;
		}
		return;
	}
	n->publish_late_logged = false;
	n->publish_pending = false;
	/* A hand-over or a duel keeps writes paused; its end publishes. */
	if (n->role != RC_REPL_PRIMARY || n->handover || n->duel)
		return;
	publish(n);
	n->env.announce(n->env.ctx);
}

void rn_follow(struct rc_repl_node *n, const struct rc_repl_hello *p,
	       const char *why)
{
	bool was_primary = n->role == RC_REPL_PRIMARY;
	/* A standby in step with this very stream stays so when its
	 * primary only moved to a higher epoch (rn_primary_peer). */
	const bool in_step = n->role == RC_REPL_STANDBY && n->synced_seq &&
			     n->follow && p->stream == n->follow &&
			     n->phase == RC_REPL_PHASE_STREAMING;

	if ((n->role == RC_REPL_STANDBY && n->epoch >= p->epoch) ||
	    p->epoch == RC_REPL_EPOCH_MAX)
		return;
	n->role = RC_REPL_STANDBY;
	if (p->epoch > n->epoch) {
		n->epoch = p->epoch;
		n->env.save_epoch(n->env.ctx, n->epoch);
		/* A new primary: a yield (repl demote) has done its job. */
		if (n->prefer == RC_REPL_PREFER_YIELD)
			n->prefer = configured_prefer(n);
	}
	if (was_primary) {
		n->follow = 0; /* my own writes: the new primary resets me */
		n->synced_seq = 0;
		n->st.demotions++;
		rn_log(n, RC_REPL_LOG_NOTICE, "DEMOTED to standby at epoch "
		       "%u: %s", n->epoch, why);
	} else {
		rn_log(n, RC_REPL_LOG_NOTICE, "standby of the peer at epoch "
		       "%u: %s", n->epoch, why);
	}
	n->peer_follows = false;
	n->publish_pending = false;
	n->handover = false;
	n->duel = false;
	n->partial_logged = false;
	n->reset_pending = 0;
	n->apply_failed_seen = n->env.apply_failed(n->env.ctx);
	memset(n->clear_queued, 0, sizeof(n->clear_queued));
	if (!in_step)
		n->phase = RC_REPL_PHASE_NONE;
	n->peer_primary_ns = rn_now(n);
	set_why(n, why);
	publish(n);
	if (n->linked)
		rn_send_hello(n, RC_REPL_F_HELLO);
}

/* A standby whose primary went quiet on both networks takes over, if
 * its copy is whole; a joining node with nobody to answer leads. */
static void detect(struct rc_repl_node *n, uint64_t now)
{
	const uint64_t fo = n->cfg.failover_ns;
	char why[128];

	/* A connected peer that went quiet is gone. */
	if (n->hello_in && now - n->last_rx_ns > fo)
		rn_conn_close(n, "peer silent");
	if (n->role == RC_REPL_STANDBY) {
		uint64_t heard = n->peer_primary_ns;

		if (n->hello_in && n->last_rx_ns > heard &&
		    n->peer.role == RC_REPL_PRIMARY)
			heard = n->last_rx_ns;
		if (heard >= now || now - heard <= fo)
			return;
		if (n->phase != RC_REPL_PHASE_STREAMING) {
			/* Serving a partial copy would lose what it lacks,
			 * and the old primary would copy it back from us:
			 * an operator decides. */
			if (!n->partial_logged)
				rn_log(n, RC_REPL_LOG_ERR, "primary silent for "
				       "%lu ms, not promoting: this copy is %s "
				       "(%lu records in); `ringctl repl promote "
				       "--force` serves it anyway",
				       (unsigned long)((now - heard) / 1000000),
				       n->phase == RC_REPL_PHASE_SNAPSHOT
					       ? "partial (a resync was under "
						 "way)"
					       : "not in step with this "
						 "primary's stream",
				       (unsigned long)n->st.records_in);
			n->partial_logged = true;
			return;
		}
		snprintf(why, sizeof(why), "primary silent on both networks "
			 "for %lu ms", (unsigned long)((now - heard) / 1000000));
		rn_promote(n, why);
	} else if (n->role == RC_REPL_JOINING) {
		uint64_t wait = n->cfg.join_ns;

		if (n->prefer != RC_REPL_PREFER_PRIMARY)
			wait *= 3;
		if (now - n->start_ns > wait &&
		    (n->peer_primary_ns > now || now - n->peer_primary_ns > fo) &&
		    !n->hello_in) {
			/* Without a copy, and the peer may hold the data:
			 * its term is blind (rc_repl_should_follow). */
			rn_promote(n, "no peer answered at start-up");
			n->blind = n->role == RC_REPL_PRIMARY;
		}
	}
}

/* ---- two primaries ------------------------------------------------------------ */

/* We are primary and so is the peer (its word came `via` a network).
 * One that began its term blind follows one that did not, whatever the
 * epochs; the one that stays takes an epoch above the other's, so that
 * epochs still only grow. At one epoch, a duel. @return true if it was
 * settled here (the caller does nothing more). */
bool rn_primary_peer(struct rc_repl_node *n, const struct rc_repl_hello *p,
		     const char *via)
{
	const bool peer_blind = p->synced_seq == 0;
	char why[160];

	if (n->blind != peer_blind) {
		if (n->blind) {
			snprintf(why, sizeof(why), "%s: the peer is primary "
				 "with the data (epoch %u); this node promoted "
				 "alone, empty, at start-up", via, p->epoch);
			n->blind = false;
			rn_follow(n, p, why);
		} else if (p->epoch >= n->epoch && !n->publish_pending &&
			   p->epoch < RC_REPL_EPOCH_MAX - 1) {
			n->epoch = p->epoch + 1;
			n->env.save_epoch(n->env.ctx, n->epoch);
			n->publish_pending = true; /* the new epoch, once on
						    * disk (writes go on) */
			rn_log(n, RC_REPL_LOG_WARNING, "%s: the peer promoted "
			       "alone at start-up without the data (epoch "
			       "%u): it follows us; we move to epoch %u",
			       via, p->epoch, n->epoch);
		}
		return true;
	}
	/* Both blind: each holds only its own term's writes; the epochs
	 * say nothing of which has more. */
	if (p->epoch == n->epoch || (n->blind && peer_blind)) {
		rn_duel(n, p);
		return true;
	}
	return false;
}

/* ---- two primaries at one epoch --------------------------------------------- */

/* Our workers took no write since they saw the pause, and every record
 * they made is numbered: our count stands still. */
static bool settled(struct rc_repl_node *n)
{
	for (unsigned w = 0; w < n->nw; w++) {
		uint32_t len;

		if (n->env.role_seen(n->env.ctx, w) != RC_REPL_STANDBY ||
		    rc_repl_log_peek(&n->rlogs[w], &len) != NULL)
			return false;
	}
	return n->cur_n == 0;
}

static void duel_end(struct rc_repl_node *n, const char *why)
{
	n->duel = false;
	/* The whole publish (role and epoch): the workers may never have
	 * taken this epoch (the duel began before it was on disk). */
	if (n->role == RC_REPL_PRIMARY && !n->publish_pending && !n->handover) {
		publish(n);
		n->env.announce(n->env.ctx);
	}
	rn_log(n, RC_REPL_LOG_NOTICE, "writes resume at epoch %u: %s",
	       n->epoch, why);
}

/* Two primaries at one epoch (each promoted alone while they could not
 * hear each other) keep the one with more records, then the higher
 * rank; the other is reset from it. But each side's count moves while
 * it takes writes, and each compares its own count now with the
 * peer's of a moment ago: both could see themselves ahead and stay
 * primary (M5). So both first stop taking writes (as a hand-over
 * does); once our count stands still and the peer's has been the same
 * in two words in a row, both compare the same two numbers. After ten
 * failover periods without that (a peer that never pauses), rank alone
 * decides. p: the peer's last word, on either network. */
void rn_duel(struct rc_repl_node *n, const struct rc_repl_hello *p)
{
	const uint64_t now = rn_now(n);
	struct rc_repl_hello me;
	char why[160];

	if (!n->duel) {
		n->duel = true;
		n->duel_since = now;
		n->duel_peer_seq = p->seq;
		n->duel_same = 0;
		n->env.workers_role(n->env.ctx, RC_REPL_STANDBY);
		rn_log(n, RC_REPL_LOG_WARNING, "another primary at epoch %u "
		       "(%lu records; we have %lu): writes paused while we "
		       "compare", n->epoch, (unsigned long)p->seq,
		       (unsigned long)n->seq);
		return;
	}
	if (p->seq == n->duel_peer_seq) {
		n->duel_same++;
	} else {
		n->duel_peer_seq = p->seq;
		n->duel_same = 0;
	}
	rn_me_hello(n, &me);
	me.epoch = p->epoch; /* records, then rank: not the epochs */
	if (now - n->duel_since > 10 * n->cfg.failover_ns) {
		me.seq = p->seq; /* rank alone */
	} else if (!settled(n) || n->duel_same < 1) {
		return;
	}
	if (!rc_repl_should_follow(&me, p)) {
		/* We keep our writes; the peer follows, then we resume
		 * (duel_step), at an epoch above its own. */
		if (p->epoch >= n->epoch && !n->publish_pending &&
		    p->epoch < RC_REPL_EPOCH_MAX - 1) {
			n->epoch = p->epoch + 1;
			n->env.save_epoch(n->env.ctx, n->epoch);
			n->publish_pending = true;
		}
		return;
	}
	snprintf(why, sizeof(why), "another primary at epoch %u has more "
		 "records (%lu; we have %lu) or, as many, the higher rank",
		 p->epoch, (unsigned long)p->seq, (unsigned long)n->seq);
	n->duel = false;
	rn_follow(n, p, why);
}

/* Each turn of a duel: resume once the peer is no longer primary, or
 * has been silent for a failover period. */
static void duel_step(struct rc_repl_node *n, uint64_t now)
{
	const bool peer_primary =
		(n->hello_in && n->peer.role == RC_REPL_PRIMARY &&
		 n->peer.epoch == n->epoch) ||
		(n->hb_seen && n->hb_peer.role == RC_REPL_PRIMARY &&
		 n->hb_peer.epoch == n->epoch &&
		 now - n->hb_peer_ns <= n->cfg.failover_ns);

	if (!n->duel)
		return;
	if (n->role != RC_REPL_PRIMARY) {
		n->duel = false;
		return;
	}
	if (!peer_primary)
		duel_end(n, "the other primary stepped down");
	else if (now - n->peer_primary_ns > n->cfg.failover_ns)
		duel_end(n, "the other primary went silent");
}

/* The standby has everything: yield, and the peer, now the only
 * candidate, promotes itself. */
static void yield_role(struct rc_repl_node *n)
{
	n->prefer = RC_REPL_PREFER_YIELD;
	n->synced_seq = 0; /* the peer's copy is the one in step now */
	n->role = RC_REPL_STANDBY;
	n->follow = 0;
	n->peer_follows = false;
	n->st.demotions++;
	n->apply_failed_seen = n->env.apply_failed(n->env.ctx);
	set_why(n, "operator: ringctl repl demote");
	publish(n);
	n->peer_primary_ns = rn_now(n); /* give the peer time to promote */
	rn_log(n, RC_REPL_LOG_NOTICE, "DEMOTED by the operator at epoch %u "
	       "(record %lu acknowledged)", n->epoch, (unsigned long)n->acked);
	rn_send_hello(n, RC_REPL_F_HELLO);
}

/* The hand-over, each turn: done when every worker has seen the new
 * role (no write is on its way into a log), every record is numbered
 * and the standby acknowledged the last; abandoned (still primary) if
 * that takes ten failover periods. */
static void handover_step(struct rc_repl_node *n, uint64_t now)
{
	if (!n->handover)
		return;
	if (n->role != RC_REPL_PRIMARY) {
		n->handover = false;
		return;
	}
	for (unsigned w = 0; w < n->nw; w++) {
		uint32_t len;

		if (n->env.role_seen(n->env.ctx, w) != RC_REPL_STANDBY ||
		    rc_repl_log_peek(&n->rlogs[w], &len) != NULL)
			goto wait;
	}
	if (n->cur_n == 0 && n->acked >= n->seq &&
	    n->phase == RC_REPL_PHASE_STREAMING && n->hello_in) {
		n->handover = false;
		yield_role(n);
		return;
	}
wait:
	if (now > n->handover_deadline) {
		n->handover = false;
		n->env.workers_role(n->env.ctx, RC_REPL_PRIMARY);
		rn_log(n, RC_REPL_LOG_ERR, "hand-over abandoned: the standby "
		       "acknowledged %lu of %lu records in %lu ms; still "
		       "primary", (unsigned long)n->acked,
		       (unsigned long)n->seq,
		       (unsigned long)(10 * n->cfg.failover_ns / 1000000));
	}
}

/* ---- pauses --------------------------------------------------------------------- */

/* Move a time forward by `by`, never past now (0: never set). */
static void forward(uint64_t *t, uint64_t by, uint64_t now)
{
	if (*t && *t < now)
		*t = now - *t > by ? *t + by : now;
}

/* Checked at the start of a turn and again before its timers (a pause
 * may fall inside a turn): over half a failover since the last check,
 * this node did not run (its host paused it: a VM frozen or migrated, a
 * swap storm, SIGSTOP; the daemon's thread turns every few tens of
 * microseconds). Whatever the peer said meanwhile is read in this turn
 * or the next; what it could not say because the same pause held it is
 * not its silence. So silence is counted only while this node runs: a
 * late turn counts as one heartbeat, the rest of the gap is not counted
 * against the peer, nor against this node's own limits on a duel, a
 * hand-over and a joining node's wait. A node whose turns all come
 * late still takes over from a dead peer, after failover / heartbeat
 * late turns. */
static void allow_pause(struct rc_repl_node *n, uint64_t now)
{
	const uint64_t gap = now - n->last_turn_ns;
	const uint64_t hb = n->cfg.heartbeat_ns;
	const uint64_t by = gap > hb ? gap - hb : 0;

	if (!n->last_turn_ns || now < n->last_turn_ns ||
	    gap <= n->cfg.failover_ns / 2)
		goto out;
	n->st.pauses++;
	if (gap > n->st.pause_max_ns)
		n->st.pause_max_ns = gap;
	forward(&n->last_rx_ns, by, now);
	forward(&n->peer_primary_ns, by, now);
	if (n->hb_seen)
		forward(&n->hb_peer_ns, by, now);
	if (n->duel)
		forward(&n->duel_since, by, now);
	if (n->handover)
		n->handover_deadline += by;
	if (n->role == RC_REPL_JOINING)
		forward(&n->start_ns, by, now); /* the wait for a peer */
	/* Once in 10 s at most: a starved node is late every turn. */
	if (!n->pause_logged_ns || now - n->pause_logged_ns > 10000000000ull) {
		rn_log(n, RC_REPL_LOG_NOTICE, "this node did not run for %lu "
		       "ms (its host paused it): not counted as the peer's "
		       "silence (%lu such pauses)",
		       (unsigned long)(gap / 1000000),
		       (unsigned long)n->st.pauses);
		n->pause_logged_ns = now;
	}
out:
	n->last_turn_ns = now;
}

/* ---- the turn ---------------------------------------------------------------- */

bool rc_repl_node_turn(struct rc_repl_node *n)
{
	const uint64_t now = rn_now(n);
	uint64_t t;
	bool did = false;

	if (n->role == RC_REPL_STANDALONE)
		return false;
	allow_pause(n, now);
	rn_check_overflow(n);
	publish_when_saved(n);
	did |= rn_drain_logs(n, now);
	rn_check_snapshot(n);
	did |= rn_read_frames(n, now);
	if (n->role == RC_REPL_STANDBY)
		rn_check_applied(n);
	did |= rn_feed(n);
	rn_beats(n, now);
	/* The timers read the clock once more: frames handled in this turn
	 * may be newer than its start, and a pause may have fallen inside
	 * it (checked on this same reading). */
	t = rn_now(n);
	allow_pause(n, t);
	handover_step(n, t);
	duel_step(n, t);
	detect(n, t);
	return did;
}

/* ---- operator ------------------------------------------------------------------ */

int rc_repl_node_promote(struct rc_repl_node *n, bool force, char *err,
			 size_t errlen)
{
	if (n->role == RC_REPL_STANDALONE) {
		snprintf(err, errlen, "replication is off (repl.role = "
			 "standalone)");
		return -1;
	}
	if (n->role == RC_REPL_PRIMARY) {
		snprintf(err, errlen, "already primary at epoch %u", n->epoch);
		return -1;
	}
	if (n->role == RC_REPL_STANDBY &&
	    n->phase != RC_REPL_PHASE_STREAMING && !force) {
		snprintf(err, errlen, "this standby's copy is %s: promoting "
			 "it serves a cache without what it lacks, and resets "
			 "the old primary from it when it returns; `ringctl "
			 "repl promote --force` does it anyway",
			 n->phase == RC_REPL_PHASE_SNAPSHOT
				 ? "partial (resync under way)"
				 : "not in step");
		return -1;
	}
	n->prefer = RC_REPL_PREFER_PRIMARY;
	if (force && n->role == RC_REPL_STANDBY &&
	    n->phase != RC_REPL_PHASE_STREAMING) {
		rn_log(n, RC_REPL_LOG_WARNING, "operator forces the promotion "
		       "of a %s copy (%lu records in)",
		       n->phase == RC_REPL_PHASE_SNAPSHOT ? "partial"
							  : "not in step",
		       (unsigned long)n->st.records_in);
		rn_promote(n, "operator: ringctl repl promote --force");
	} else {
		rn_promote(n, "operator: ringctl repl promote");
	}
	return 0;
}

int rc_repl_node_demote(struct rc_repl_node *n, char *err, size_t errlen)
{
	if (n->role != RC_REPL_PRIMARY) {
		snprintf(err, errlen, "not primary (role %s)",
			 rc_repl_role_name(n->role));
		return -1;
	}
	if (n->handover) {
		snprintf(err, errlen, "a hand-over is already under way");
		return -1;
	}
	if (n->publish_pending) {
		snprintf(err, errlen, "just promoted: the epoch is not on disk "
			 "yet; try again");
		return -1;
	}
	if (!n->hello_in || !n->peer_follows ||
	    n->phase != RC_REPL_PHASE_STREAMING) {
		snprintf(err, errlen, "no standby in step to take over (it "
			 "would leave no primary): check `ringctl repl "
			 "status`");
		return -1;
	}
	/* No new write from here; the role goes once the standby has
	 * applied every write acknowledged so far (handover_step). */
	n->handover = true;
	n->handover_deadline = rn_now(n) + 10 * n->cfg.failover_ns;
	n->env.workers_role(n->env.ctx, RC_REPL_STANDBY);
	rn_log(n, RC_REPL_LOG_NOTICE, "hand-over: writes refused; the role "
	       "goes once the standby has every record");
	return 0;
}

enum rc_repl_role rc_repl_node_role(const struct rc_repl_node *n)
{
	/* One word, written only by the node's caller: a racy read sees
	 * the old role or the new one. */
	return __atomic_load_n(&n->role, __ATOMIC_RELAXED);
}

uint32_t rc_repl_node_epoch(const struct rc_repl_node *n)
{
	return n->epoch;
}

static void view_primary(const struct rc_repl_node *n, struct rc_repl_view *v,
			 uint64_t now)
{
	v->seq = n->seq;
	v->acked = n->acked;
	v->backlog_batches = n->backlog.n;
	v->backlog_bytes = n->backlog_bytes;
	v->snap_end = n->snap_end;
	v->lag_records = n->seq > n->acked ? n->seq - n->acked : 0;
	if (n->peer_follows) {
		uint64_t t = rn_oldest_unacked_ns(n);

		if (t)
			v->lag_seconds = (double)(now - t) / 1e9;
	}
	if (n->phase == RC_REPL_PHASE_SNAPSHOT) {
		uint64_t done = 0;

		for (unsigned w = 0; w < n->nw; w++)
			done += n->env.items(n->env.ctx, w, true);
		v->snapshot_progress =
			!n->snap_running ? 1.0
			: n->snap_items_total
				? (double)done / (double)n->snap_items_total
				: 0.0;
		if (v->snapshot_progress > 1.0)
			v->snapshot_progress = 1.0;
	}
}

static void view_standby(const struct rc_repl_node *n, struct rc_repl_view *v,
			 uint64_t now)
{
	v->seq = n->recv_seq;
	v->applied = n->applied_seq;
	v->acked = n->acked_sent;
	v->lag_records = n->primary_seq > n->applied_seq
				 ? n->primary_seq - n->applied_seq : 0;
	if (n->pending.n)
		v->lag_seconds =
			(double)(now - rn_deq_at(&n->pending, 0)->t_ns) / 1e9;
	if (n->phase == RC_REPL_PHASE_SNAPSHOT)
		v->snapshot_progress =
			n->in_snap_end ? (double)n->applied_seq /
						 (double)n->in_snap_end
				       : 0.0;
}

void rc_repl_node_view(const struct rc_repl_node *n, struct rc_repl_view *v,
		       struct rc_repl_stats *st)
{
	const uint64_t now = rn_now(n);

	memset(v, 0, sizeof(*v));
	*st = n->st;
	v->role = n->role;
	v->phase = n->phase;
	v->epoch = n->epoch;
	v->prefer = n->prefer;
	v->why = n->why;
	v->role_ns = n->role_ns;
	v->connected = n->linked && n->hello_in;
	v->peer_alive_data = n->hb_seen && now - n->hb_peer_ns < n->cfg.failover_ns;
	v->peer_known = n->hello_in;
	v->peer = n->peer;
	v->standby_attached = n->peer_follows;
	v->handover = n->handover;
	v->duel = n->duel;
	v->publish_pending = n->publish_pending;
	v->synced_seq = n->synced_seq;
	v->primary_seq = n->primary_seq;
	if (n->role == RC_REPL_PRIMARY)
		view_primary(n, v, now);
	else if (n->role == RC_REPL_STANDBY)
		view_standby(n, v, now);
}
