/* SPDX-License-Identifier: MIT
 * The two networks between the nodes.
 *
 * Management network: one TCP-like connection, in order and reliable
 * while up, with latency, a bandwidth cap (a big snapshot takes
 * simulated time) and a send buffer (a slow reader pushes back on the
 * writer). The lower rank dials every 50 ms while neither side holds a
 * socket. A cut delivers nothing more; each side learns it at its own
 * time (or from its own silence detection). A side that closes sends
 * EOF behind its data.
 *
 * Data network: heartbeat datagrams, lost, delayed, reordered and
 * duplicated per the seed's settings. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SEG_MAX (64u << 10)   /* a pipe carries at most this per chunk */
#define DIAL_EVERY (50 * MS)

static void pipe_clear(struct sim_pipe *p)
{
	while (p->head) {
		struct sim_chunk *c = p->head;

		p->head = c->next;
		free(c);
	}
	memset(p, 0, sizeof(*p));
	p->whole = true;
}

static void conn_free(struct sim *s)
{
	for (unsigned i = 0; i < SIM_NODES; i++)
		pipe_clear(&s->net.pipe[i]);
	s->net.conn = false;
	s->net.broken = false;
}

/* The node's side of the connection is gone (it closed, it was killed,
 * or the sim told it so). */
void sim_net_close_side(struct sim_node *nd, const char *why)
{
	struct sim *s = nd->sim;
	struct sim_node *peer = &s->node[1 - nd->id];

	if (!nd->sock_open)
		return;
	nd->sock_open = false;
	nd->down_t = 0;
	sim_trace(s, "node %u: socket closed (%s)", nd->id, why);
	if (nd->sock_attacker) {
		nd->sock_attacker = false;
		return;
	}
	s->net.pipe[nd->id].fin = true;
	pipe_clear(&s->net.pipe[peer->id]); /* unread: gone with the socket */
	if (!peer->sock_open || peer->sock_attacker)
		conn_free(s);
}

/* The sim tells a node its connection is down. */
static void down(struct sim_node *nd, const char *why)
{
	if (!nd->sock_open)
		return;
	sim_net_close_side(nd, why);
	rc_repl_node_conn_down(nd->n, why);
}

static void push(struct sim *s, struct sim_pipe *p, const uint8_t *b,
		 uint32_t len)
{
	struct sim_net *net = &s->net;

	while (len) {
		uint32_t n = len < SEG_MAX ? len : SEG_MAX;
		struct sim_chunk *c = malloc(sizeof(*c) + n);
		uint64_t start = p->busy_until > s->now ? p->busy_until : s->now;

		if (!c)
			abort();
		p->busy_until = start + (uint64_t)n * SEC / net->bw;
		c->at = p->busy_until + net->latency;
		c->len = n;
		c->off = 0;
		c->next = NULL;
		memcpy(c->b, b, n);
		if (p->tail)
			p->tail->next = c;
		else
			p->head = c;
		p->tail = c;
		p->inflight += n;
		b += n;
		len -= n;
	}
}

/* Keep the first whole frame of what a node sends, for the attacker. */
static void capture_frame(struct sim *s, struct sim_node *nd,
			  const uint8_t *b, size_t len)
{
	uint32_t flen;

	if (len < 4)
		return;
	memcpy(&flen, b, 4); /* little-endian hosts only, as the sim */
	if ((uint64_t)flen + 4 <= len && flen + 4 <= SEG_MAX)
		sim_capture(s->net.cap_frame, &s->net.n_frame, &nd->rng, nd->id, b,
			    flen + 4);
}

/* After a control turn: what the node has to send goes into its pipe,
 * as far as the send buffer takes it. */
void sim_net_flush(struct sim_node *nd)
{
	struct sim *s = nd->sim;
	struct sim_pipe *p = &s->net.pipe[nd->id];
	const uint8_t *b;
	size_t len, take;

	if (!nd->alive || !nd->sock_open)
		return;
	b = rc_repl_node_tx(nd->n, &len);
	if (!b || !len)
		return;
	if (nd->sock_attacker) {
		/* The attacker reads nothing. */
		rc_repl_node_tx_done(nd->n, len);
		return;
	}
	take = s->net.sndbuf > p->inflight ? s->net.sndbuf - p->inflight : 0;
	if (take > len)
		take = len;
	if (!take)
		return;
	if (p->whole && sim_chance(&nd->rng, 50))
		capture_frame(s, nd, b, take);
	push(s, p, b, (uint32_t)take);
	p->whole = take == len;
	rc_repl_node_tx_done(nd->n, take);
}

/* Bytes that arrived, into the node's input buffer as far as it has
 * room; EOF once the data before it is read. */
static void deliver(struct sim *s, struct sim_node *nd)
{
	struct sim_pipe *p = &s->net.pipe[1 - nd->id];

	if (s->net.broken)
		return;
	while (p->head && p->head->at <= s->now) {
		struct sim_chunk *c = p->head;
		size_t room = 0;
		uint8_t *dst = rc_repl_node_rx_room(nd->n, &room);
		uint32_t n = c->len - c->off;

		if (!dst || !room)
			return;
		if (n > room)
			n = (uint32_t)room;
		memcpy(dst, c->b + c->off, n);
		rc_repl_node_rx_put(nd->n, n);
		c->off += n;
		p->inflight -= n;
		if (c->off < c->len)
			return;
		p->head = c->next;
		if (!p->head)
			p->tail = NULL;
		free(c);
	}
	if (!p->head && p->fin)
		down(nd, "closed by the peer");
}

/* The data network: datagrams due are heard (a stalled control loop
 * finds only the newest when it comes back). */
static void deliver_beats(struct sim *s)
{
	while (s->net.dq && s->net.dq->at <= s->now) {
		struct sim_dgram *d = s->net.dq;
		struct sim_node *nd = &s->node[d->to];

		s->net.dq = d->next;
		if (nd->alive) {
			memcpy(nd->hb, d->b, d->len);
			nd->hb_len = d->len;
			nd->hb_t = s->now;
			if (s->now >= nd->stall_until) {
				rc_repl_node_beat_in(nd->n, nd->hb, nd->hb_len,
						     nd->hb_t);
				nd->hb_len = 0;
			}
		}
		free(d);
	}
}

static void dgram_queue(struct sim *s, unsigned to, const uint8_t *b,
			uint32_t n, uint64_t at)
{
	struct sim_dgram *d = calloc(1, sizeof(*d)), **pp = &s->net.dq;

	if (!d)
		abort();
	d->at = at;
	d->to = to;
	d->len = n < sizeof(d->b) ? n : (uint32_t)sizeof(d->b);
	memcpy(d->b, b, d->len);
	while (*pp && (*pp)->at <= at)
		pp = &(*pp)->next;
	d->next = *pp;
	*pp = d;
}

/* A datagram straight to a node (the attacker's). */
void sim_net_inject_beat(struct sim *s, unsigned to, const uint8_t *b,
			 uint32_t n)
{
	dgram_queue(s, to, b, n, s->now);
}

void sim_net_beat(struct sim_node *from, const uint8_t *b, uint32_t n)
{
	struct sim *s = from->sim;
	struct sim_net *net = &s->net;
	const unsigned to = 1 - from->id;
	unsigned copies = 1;

	sim_capture(net->cap_beat, &net->n_beat, &from->rng, from->id, b, n);
	if (net->cut_data || sim_chance(&from->rng, net->loss))
		return;
	if (sim_chance(&from->rng, net->dup))
		copies = 2;
	while (copies--) {
		uint64_t at = s->now + net->dlat;

		if (sim_chance(&from->rng, net->reorder))
			at += sim_range(&from->rng, 0, 4 * net->dlat + MS);
		dgram_queue(s, to, b, n, at);
	}
}

/* The attacker's connection to a node that holds none. */
void sim_net_attacker_conn(struct sim *s, unsigned to, uint64_t until)
{
	struct sim_node *nd = &s->node[to];

	nd->sock_open = nd->sock_attacker = true;
	nd->att_until = until;
	sim_trace(s, "attacker: connects to node %u", to);
	rc_repl_node_conn_up(nd->n);
}

static void connect_pair(struct sim *s)
{
	struct sim_node *a = &s->node[0], *b = &s->node[1];

	if (s->net.conn || s->net.cut_stream || !a->alive || !b->alive ||
	    a->sock_open || b->sock_open || s->now < a->stall_until ||
	    s->now < b->stall_until || s->now - s->net.last_dial < DIAL_EVERY)
		return;
	s->net.last_dial = s->now;
	conn_free(s);
	s->net.conn = true;
	s->net.conn_t = s->now;
	a->sock_open = b->sock_open = true;
	s->st.connects++;
	sim_trace(s, "net: connection up");
	/* The dialer (lower rank) learns first; one way later the other. */
	rc_repl_node_conn_up(a->cfg.rank < b->cfg.rank ? a->n : b->n);
	rc_repl_node_conn_up(a->cfg.rank < b->cfg.rank ? b->n : a->n);
}

void sim_net_turn(struct sim *s)
{
	deliver_beats(s);
	for (unsigned i = 0; i < SIM_NODES; i++) {
		struct sim_node *nd = &s->node[i];

		if (!nd->alive || s->now < nd->stall_until)
			continue;
		if (nd->hb_len) { /* back from a stall */
			rc_repl_node_beat_in(nd->n, nd->hb, nd->hb_len,
					     nd->hb_t);
			nd->hb_len = 0;
		}
		if (nd->sock_attacker && s->now >= nd->att_until) {
			down(nd, "closed by the peer");
			continue;
		}
		if (!nd->sock_open || nd->sock_attacker)
			continue;
		if (nd->down_t && s->now >= nd->down_t) {
			down(nd, "connection timed out");
			continue;
		}
		deliver(s, nd);
	}
	connect_pair(s);
}

void sim_net_cut(struct sim *s, bool stream, bool data)
{
	if (data)
		s->net.cut_data = true;
	if (!stream)
		return;
	s->net.cut_stream = true;
	if (!s->net.conn)
		return;
	s->net.broken = true;
	/* Each side's kernel gives up at its own time: soon (an error on
	 * the link) or at a retransmission timeout; the node's silence
	 * detection may close it first. */
	for (unsigned i = 0; i < SIM_NODES; i++) {
		struct sim_node *nd = &s->node[i];

		if (nd->sock_open && !nd->sock_attacker)
			nd->down_t = s->now +
				     (sim_chance(&s->rng, 700)
					      ? sim_range(&s->rng, 0, 3 * SEC)
					      : sim_range(&s->rng, 10 * SEC,
							  30 * SEC));
	}
}

void sim_net_heal(struct sim *s, bool stream, bool data)
{
	if (stream)
		s->net.cut_stream = false;
	if (data)
		s->net.cut_data = false;
}

/* Some network joins the two running control loops (invariant 2). */
bool sim_net_joined(const struct sim *s)
{
	for (unsigned i = 0; i < SIM_NODES; i++)
		if (!s->node[i].alive || s->now < s->node[i].stall_until)
			return false;
	return !s->net.cut_stream || (!s->net.cut_data && s->net.loss < 300);
}

void sim_net_free(struct sim *s)
{
	conn_free(s);
	while (s->net.dq) {
		struct sim_dgram *d = s->net.dq;

		s->net.dq = d->next;
		free(d);
	}
	for (unsigned i = 0; i < SIM_CAPTURES; i++) {
		free(s->net.cap_frame[i].b);
		free(s->net.cap_beat[i].b);
	}
	memset(&s->net, 0, sizeof(s->net));
}
