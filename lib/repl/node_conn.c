/* SPDX-License-Identifier: MIT
 * Frames out and in: the stream's buffers, authentication of every
 * frame and data-network heartbeat, dispatch to the primary's and the
 * standby's halves, and heartbeats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_int.h"

static uint64_t real_now(const struct rc_repl_node *n)
{
	return n->env.real_ns(n->env.ctx);
}

void rn_conn_close(struct rc_repl_node *n, const char *why)
{
	if (!n->linked)
		return;
	n->linked = false;
	n->env.close(n->env.ctx);
	if (n->hello_in) {
		rn_log(n, RC_REPL_LOG_WARNING, "peer connection closed: %s",
		       why);
		n->st.disconnects++;
	}
	n->hello_in = false;
	n->rlen = n->wlen = n->woff = 0;
	n->head_authed = false;
	n->bat_off = 0;
	n->peer_follows = false;
	if (n->role == RC_REPL_PRIMARY) {
		n->phase = RC_REPL_PHASE_NONE;
		n->env.durable_ok(n->env.ctx, false);
	}
}

void rc_repl_node_conn_down(struct rc_repl_node *n, const char *why)
{
	rn_conn_close(n, why);
}

void rc_repl_node_conn_up(struct rc_repl_node *n)
{
	n->linked = true;
	n->hello_in = false;
	n->rlen = n->wlen = n->woff = 0;
	n->head_authed = false;
	n->bat_off = 0;
	n->last_rx_ns = rn_now(n);
	n->st.connects++;
	/* An ACK lost with the old connection is sent again (a hand-over
	 * waits for it). */
	n->acked_sent = 0;
	n->ack_sent_known = false;
	/* The peer's first frame here must be fresh (auth window). */
	if (n->auth)
		rc_repl_auth_new_conn(n->auth);
	rn_send_hello(n, RC_REPL_F_HELLO);
}

bool rc_repl_node_connected(const struct rc_repl_node *n)
{
	return n->linked && n->hello_in;
}

bool rc_repl_node_linked(const struct rc_repl_node *n)
{
	return n->linked;
}

uint64_t rc_repl_node_last_rx(const struct rc_repl_node *n)
{
	return n->last_rx_ns;
}

uint8_t *rc_repl_node_rx_room(struct rc_repl_node *n, size_t *room)
{
	if (!n->linked || n->rlen >= RN_RBUF_CAP) {
		*room = 0;
		return NULL;
	}
	*room = RN_RBUF_CAP - n->rlen;
	return n->rbuf + n->rlen;
}

void rc_repl_node_rx_put(struct rc_repl_node *n, size_t bytes)
{
	if (!bytes)
		return;
	n->rlen += bytes;
	n->last_rx_ns = rn_now(n);
}

const uint8_t *rc_repl_node_tx(const struct rc_repl_node *n, size_t *len)
{
	*len = n->linked ? n->wlen - n->woff : 0;
	return *len ? n->wbuf + n->woff : NULL;
}

void rc_repl_node_tx_done(struct rc_repl_node *n, size_t bytes)
{
	n->woff += bytes;
	n->st.bytes_out += bytes;
	if (n->woff >= n->wlen)
		n->woff = n->wlen = 0;
}

void rn_send_frame(struct rc_repl_node *n, uint8_t type, const void *body,
		   uint32_t len)
{
	const uint32_t tr = n->auth ? RC_REPL_AUTH_LEN : 0;
	size_t need = n->wlen + RC_REPL_FRAME_HDR + len + tr;

	if (!n->linked)
		return;
	if (need > n->wcap) {
		size_t cap = n->wcap;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(n->wbuf, cap);
		if (!p) {
			rn_conn_close(n, "out of memory");
			return;
		}
		n->wbuf = p;
		n->wcap = cap;
	}
	rc_repl_frame_hdr(n->wbuf + n->wlen, type, len + tr);
	memcpy(n->wbuf + n->wlen + RC_REPL_FRAME_HDR, body, len);
	if (n->auth)
		rc_repl_auth_seal(n->auth, RC_REPL_CH_STREAM, n->wbuf + n->wlen,
				  RC_REPL_FRAME_HDR + len, real_now(n));
	n->wlen += RC_REPL_FRAME_HDR + len + tr;
}

void rn_send_hello(struct rc_repl_node *n, uint8_t type)
{
	struct rc_repl_hello h;
	uint8_t b[RC_REPL_HELLO_LEN];

	rn_me_hello(n, &h);
	rc_repl_hello_encode(b, &h);
	rn_send_frame(n, type, b, sizeof(b));
	if (type == RC_REPL_F_BEAT && n->linked)
		n->st.beats_out++;
}

void rn_send_seq(struct rc_repl_node *n, uint8_t type, uint64_t seq)
{
	uint8_t b[RC_REPL_SEQ_BODY];

	rc_repl_seq_encode(b, seq, n->role == RC_REPL_PRIMARY ? n->stream
							      : n->follow,
			   rn_now(n));
	rn_send_frame(n, type, b, sizeof(b));
}

/* What the peer says of itself, on either network. */
static void peer_info(struct rc_repl_node *n, const struct rc_repl_hello *h,
		      bool hello)
{
	struct rc_repl_hello me;
	char why[128];

	if (h->version != RC_REPL_VERSION || h->partitions != n->nw) {
		if (!n->refused_logged)
			rn_log(n, RC_REPL_LOG_ERR, "peer refused: version %u, "
			       "%u partitions (we have %u, %u): configure the "
			       "same dpdk.workers", h->version, h->partitions,
			       RC_REPL_VERSION, n->nw);
		n->refused_logged = true;
		n->st.refused_peers++;
		rn_conn_close(n, "incompatible peer");
		return;
	}
	n->peer = *h;
	if (h->role == RC_REPL_PRIMARY) {
		n->peer_primary_ns = rn_now(n);
		n->primary_seq = h->seq;
	}
	if (n->role == RC_REPL_PRIMARY && h->role == RC_REPL_PRIMARY &&
	    rn_primary_peer(n, h, "replication stream"))
		return;
	rn_me_hello(n, &me);
	if (rc_repl_should_follow(&me, h)) {
		snprintf(why, sizeof(why), "peer is primary at epoch %u",
			 h->epoch);
		rn_follow(n, h, why);
		return;
	}
	if (n->role != RC_REPL_PRIMARY && h->role != RC_REPL_PRIMARY &&
	    rc_repl_should_lead(&me, h)) {
		rn_promote(n, "elected: neither node was primary");
		return;
	}
	if (n->role == RC_REPL_PRIMARY && hello && h->role == RC_REPL_STANDBY)
		rn_start_feed(n, h);
}

/* @return 1 consumed, 0 blocked, -1 bad. */
static int take_frame(struct rc_repl_node *n, uint8_t type,
		      const uint8_t *body, uint32_t len, uint64_t now)
{
	struct rc_repl_hello h;
	uint64_t seq, stream, tns;

	switch (type) {
	case RC_REPL_F_HELLO:
	case RC_REPL_F_BEAT:
		rc_repl_hello_decode(body, &h);
		if (type == RC_REPL_F_HELLO)
			n->hello_in = true;
		else
			n->st.beats_in++;
		if (!n->hello_in)
			return -1;
		peer_info(n, &h, type == RC_REPL_F_HELLO);
		return 1;
	case RC_REPL_F_BATCH:
		n->st.bytes_in += len;
		return rn_take_batch(n, body, len, now);
	case RC_REPL_F_ACK:
		rc_repl_seq_decode(body, &seq, &stream, &tns);
		n->st.acks_in++;
		if (n->role == RC_REPL_PRIMARY && stream == n->stream)
			rn_ack_upto(n, seq);
		return 1;
	case RC_REPL_F_RESET:
		rc_repl_seq_decode(body, &seq, &stream, &tns);
		return seq ? rn_take_reset(n, seq, stream) : -1;
	case RC_REPL_F_SNAPSHOT_DONE:
		rc_repl_seq_decode(body, &seq, &stream, &tns);
		if (stream == n->follow) {
			n->in_snap_end = seq;
			n->in_snap_known = true;
		}
		return 1;
	default:
		return -1;
	}
}

/* Log a refused frame or beat, at most once a second. */
static void auth_log(struct rc_repl_node *n, const char *what,
		     enum rc_repl_auth_verdict v)
{
	uint64_t now = rn_now(n);

	if (n->auth_logged_ns && now - n->auth_logged_ns < 1000000000ull)
		return;
	n->auth_logged_ns = now;
	rn_log(n, RC_REPL_LOG_WARNING, "%s dropped: %s (counted in "
	       "repl_bad_auth / repl_replayed)", what,
	       v == RC_REPL_AUTH_BAD ? "not authentic (wrong key, forged or "
				      "no authentication)"
	       : v == RC_REPL_AUTH_STALE ? "time outside repl.auth_window_ms "
					   "(old capture, or the clocks differ)"
					 : "replayed (counter or session seen)");
}

static void count_auth(struct rc_repl_node *n, enum rc_repl_auth_verdict v)
{
	if (v == RC_REPL_AUTH_BAD)
		n->st.bad_auth++;
	else
		n->st.replayed++;
}

/* Verify one whole stream frame: a frame that is not authentic, or is
 * old, is never acted upon; the connection is closed (the stream after
 * it cannot be trusted to be whole). @return true if it is good. */
static bool auth_frame(struct rc_repl_node *n, const uint8_t *f, size_t len)
{
	enum rc_repl_auth_verdict v = rc_repl_auth_open(
		n->auth, RC_REPL_CH_STREAM, f, len, real_now(n));

	if (v == RC_REPL_AUTH_OK)
		return true;
	count_auth(n, v);
	auth_log(n, "replication frame", v);
	rn_conn_close(n, "frame not authentic");
	return false;
}

/* Every whole frame in the input buffer, in order. */
bool rn_read_frames(struct rc_repl_node *n, uint64_t now)
{
	bool did = false;
	size_t off = 0;

	while (n->linked) {
		uint8_t type;
		const uint8_t *body;
		uint32_t blen;
		size_t used;
		int rc = rc_repl_frame_next(n->rbuf + off, n->rlen - off,
					    &type, &body, &blen, &used);

		if (rc == 0)
			break;
		if (rc > 0 && n->auth) {
			if (!(off == 0 && n->head_authed) &&
			    !auth_frame(n, n->rbuf + off, used))
				return true;
			blen -= RC_REPL_AUTH_LEN;
			if (blen < rc_repl_frame_min_body(type))
				rc = -1;
		}
		if (rc > 0)
			rc = take_frame(n, type, body, blen, now);
		if (rc < 0) {
			n->st.bad_frames++;
			rn_conn_close(n, "malformed frame");
			return true;
		}
		if (rc == 0) {
			/* Blocked on full apply logs: the primary is alive,
			 * we are just behind. The frame is verified: it is
			 * taken again, not verified again (its counter is
			 * no longer new). */
			n->head_authed = n->auth != NULL;
			n->last_rx_ns = now;
			break;
		}
		n->head_authed = false;
		off += used;
		did = true;
	}
	if (n->linked && off) {
		memmove(n->rbuf, n->rbuf + off, n->rlen - off);
		n->rlen -= off;
	}
	return did;
}

/* Every heartbeat interval, on both networks. */
void rn_beats(struct rc_repl_node *n, uint64_t now)
{
	struct rc_repl_hello h;
	uint8_t b[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN];
	uint32_t len = RC_REPL_HELLO_LEN;

	if (now - n->last_beat_ns < n->cfg.heartbeat_ns)
		return;
	n->last_beat_ns = now;
	if (n->hello_in)
		rn_send_hello(n, RC_REPL_F_BEAT);
	rn_me_hello(n, &h);
	rc_repl_hello_encode(b, &h);
	if (n->auth) {
		rc_repl_auth_seal(n->auth, RC_REPL_CH_DATA, b, len,
				  real_now(n));
		len += RC_REPL_AUTH_LEN;
	}
	n->env.beat_out(n->env.ctx, b, len); /* counts hb_data_out if sent */
}

void rc_repl_node_beat_in(struct rc_repl_node *n, const uint8_t *b,
			  uint32_t len, uint64_t heard_ns)
{
	struct rc_repl_hello h;

	if (n->role == RC_REPL_STANDALONE)
		return;
	if (len != RC_REPL_HELLO_LEN + (n->auth ? RC_REPL_AUTH_LEN : 0u)) {
		n->st.bad_auth += n->auth != NULL;
		return;
	}
	if (n->auth) {
		enum rc_repl_auth_verdict v = rc_repl_auth_open(
			n->auth, RC_REPL_CH_DATA, b, len, real_now(n));

		if (v != RC_REPL_AUTH_OK) {
			count_auth(n, v);
			auth_log(n, "data-network heartbeat", v);
			return;
		}
	}
	rc_repl_hello_decode(b, &h);
	if (h.version != RC_REPL_VERSION)
		return;
	n->hb_seen = true;
	n->hb_peer = h;
	n->hb_peer_ns = heard_ns;
	if (h.role == RC_REPL_PRIMARY && heard_ns > n->peer_primary_ns)
		n->peer_primary_ns = heard_ns;
	/* A primary that hears of a newer primary steps down at once,
	 * whichever network told it; one at its own epoch is a duel. */
	if (n->role == RC_REPL_PRIMARY && h.role == RC_REPL_PRIMARY &&
	    rn_primary_peer(n, &h, "data-network heartbeat")) {
		return;
	} else if (n->role == RC_REPL_PRIMARY) {
		struct rc_repl_hello me;

		rn_me_hello(n, &me);
		if (rc_repl_should_follow(&me, &h)) {
			char why[128];

			snprintf(why, sizeof(why), "data-network heartbeat: "
				 "peer is primary at epoch %u", h.epoch);
			n->peer = h;
			rn_follow(n, &h, why);
		}
	}
}
