/* SPDX-License-Identifier: MIT
 * An attacker on both networks who has no key: random bytes, a HELLO
 * claiming PRIMARY at epoch RC_REPL_EPOCH_MAX sealed with a wrong key,
 * and replays of genuine frames and heartbeats it captured (to their
 * receiver, or reflected to their sender). None of it may change a
 * role, an epoch or a store: the invariants hold through it. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define BEAT_LEN (RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN)

void sim_capture(struct sim_capture *c, unsigned *n, uint64_t *rng,
		 unsigned from, const uint8_t *b, uint32_t len)
{
	unsigned i = *n < SIM_CAPTURES ? (*n)++ : (unsigned)sim_below(rng, SIM_CAPTURES);
	uint8_t *p = realloc(c[i].b, len ? len : 1);

	if (!p)
		abort();
	memcpy(p, b, len);
	c[i].b = p;
	c[i].len = len;
	c[i].from = from;
}

/* A hello that would make a node follow it, if it were believed. */
static void forged_hello(struct sim *s, uint8_t *b)
{
	struct rc_repl_hello h = {
		.version = RC_REPL_VERSION, .epoch = RC_REPL_EPOCH_MAX,
		.role = RC_REPL_PRIMARY, .prefer = RC_REPL_PREFER_PRIMARY,
		.partitions = (uint16_t)s->nw, .rank = UINT32_MAX,
		.stream = sim_next(&s->rng) | 1, .seq = UINT64_MAX / 2,
		.time_ns = s->now, .synced_seq = UINT64_MAX / 2};

	rc_repl_hello_encode(b, &h);
}

static void wrong_key_auth(struct sim *s, struct rc_repl_auth *a)
{
	uint8_t k[RC_REPL_KEY_LEN];

	for (unsigned i = 0; i < RC_REPL_KEY_LEN; i++)
		k[i] = s->key[i] ^ (uint8_t)(1u << (i % 8));
	rc_repl_auth_init(a, k, NULL, sim_next(&s->rng), 10 * SEC);
}

static void attack_beat(struct sim *s, unsigned to)
{
	uint8_t b[BEAT_LEN + 16];
	uint32_t n = BEAT_LEN;
	struct rc_repl_auth a;
	const struct sim_capture *c;

	switch (sim_below(&s->rng, 4)) {
	case 0: /* noise */
		n = (uint32_t)sim_below(&s->rng, sizeof(b) + 1);
		for (uint32_t i = 0; i < n; i++)
			b[i] = (uint8_t)sim_next(&s->rng);
		s->st.forged++;
		break;
	case 1: /* PRIMARY at the last epoch, under a wrong key */
		forged_hello(s, b);
		wrong_key_auth(s, &a);
		rc_repl_auth_seal(&a, RC_REPL_CH_DATA, b, RC_REPL_HELLO_LEN,
				  sim_wall(&s->node[to]));
		rc_repl_auth_wipe(&a);
		s->st.forged++;
		break;
	default: /* a genuine beat again: to its receiver, or reflected */
		if (!s->net.n_beat)
			return;
		c = &s->net.cap_beat[sim_below(&s->rng, s->net.n_beat)];
		n = c->len < sizeof(b) ? c->len : (uint32_t)sizeof(b);
		memcpy(b, c->b, n);
		s->st.replayed++;
		break;
	}
	sim_net_inject_beat(s, to, b, n);
}

/* Bytes into a node's input, as if its peer sent them. */
static void inject(struct sim_node *nd, const uint8_t *b, size_t len)
{
	while (len) {
		size_t room = 0;
		uint8_t *dst = rc_repl_node_rx_room(nd->n, &room);

		if (!dst || !room)
			return;
		if (room > len)
			room = len;
		memcpy(dst, b, room);
		rc_repl_node_rx_put(nd->n, room);
		b += room;
		len -= room;
	}
}

static void attack_stream(struct sim *s, unsigned to)
{
	struct sim_node *nd = &s->node[to];
	uint8_t f[RC_REPL_FRAME_HDR + BEAT_LEN];
	struct rc_repl_auth a;
	const struct sim_capture *c;

	/* Only a node with no socket takes a connection it cannot tell
	 * from its peer's. */
	if (nd->sock_open || s->net.conn)
		return;
	sim_net_attacker_conn(s, to, s->now + sim_range(&s->rng, 5 * MS,
						       100 * MS));
	switch (sim_below(&s->rng, 3)) {
	case 0:
		rc_repl_frame_hdr(f, RC_REPL_F_HELLO, BEAT_LEN);
		forged_hello(s, f + RC_REPL_FRAME_HDR);
		wrong_key_auth(s, &a);
		rc_repl_auth_seal(&a, RC_REPL_CH_STREAM, f,
				  RC_REPL_FRAME_HDR + RC_REPL_HELLO_LEN,
				  sim_wall(nd));
		rc_repl_auth_wipe(&a);
		inject(nd, f, sizeof(f));
		s->st.forged++;
		break;
	case 1:
		for (unsigned i = 0; i < sizeof(f); i++)
			f[i] = (uint8_t)sim_next(&s->rng);
		inject(nd, f, sizeof(f));
		s->st.forged++;
		break;
	default:
		for (unsigned k = sim_range(&s->rng, 1, 3); k && s->net.n_frame; k--) {
			c = &s->net.cap_frame[sim_below(&s->rng, s->net.n_frame)];
			inject(nd, c->b, c->len);
			s->st.replayed++;
		}
		break;
	}
}

/* A few attacks a second, while the plan says the attacker is there. */
void sim_attack_turn(struct sim *s)
{
	unsigned to = (unsigned)sim_below(&s->rng, SIM_NODES);
	struct sim_node *nd = &s->node[to];

	if (!s->attack || !nd->alive || s->now < nd->stall_until ||
	    !sim_chance(&s->rng, (unsigned)(s->dt * 8 / MS + 1)))
		return;
	if (sim_chance(&s->rng, 700))
		attack_beat(s, to);
	else
		attack_stream(s, to);
}
