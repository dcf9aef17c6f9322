/* SPDX-License-Identifier: MIT
 * Clients: a bounded stream of SET and DEL, some durable, each to a
 * node whose worker for the key takes writes (a client that still sees
 * the old service address may reach the old primary). Every write goes
 * in the ledger; a refused one is only counted. */
#include "sim.h"

/* Nodes whose worker w would take a write now. */
static unsigned takers(struct sim *s, unsigned w, unsigned *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < SIM_NODES; i++) {
		const struct sim_node *nd = &s->node[i];

		if (nd->alive && nd->w[w].role == RC_REPL_PRIMARY &&
		    !sim_catching_up(nd, w))
			out[n++] = i;
	}
	return n;
}

static void one_write(struct sim *s)
{
	uint64_t *r = &s->rng;
	const uint32_t id = s->n_led;
	struct sim_write *x = &s->led[id];
	unsigned to[SIM_NODES], n;

	/* A few hot keys take a third of the writes. */
	x->key = (uint32_t)(sim_chance(r, 330) ? sim_below(r, s->keys < 16 ? s->keys : 16)
					       : sim_below(r, s->keys));
	x->del = sim_chance(r, 200);
	x->durable = sim_chance(r, s->durable_pm);
	x->t_try = s->now;
	n = takers(s, s->key_part[x->key], to);
	s->st.writes++;
	if (!n) {
		s->st.refused++;
		*x = (struct sim_write){0};
		return;
	}
	s->n_led++;
	sim_write(&s->node[to[sim_below(r, n)]], id);
	if (x->state == W_REFUSED) {
		s->st.refused++;
		*x = (struct sim_write){0};
		s->n_led--;
	}
}

void sim_clients_turn(struct sim *s, uint64_t dt)
{
	uint64_t rate = s->now < s->burst_until ? s->burst_rate
			: s->now < s->fill_until ? SIM_FILL_RATE : s->write_rate;

	if (s->settling)
		return;
	s->write_acc += (double)rate * (double)dt / (double)SEC;
	while (s->write_acc >= 1.0 && s->n_led < s->cap_led) {
		s->write_acc -= 1.0;
		one_write(s);
	}
	if (s->n_led >= s->cap_led)
		s->write_acc = 0;
}
