/* SPDX-License-Identifier: MIT
 * A scenario from its seed: the pair's configuration, the networks, the
 * clients, and a timeline of faults (applied by sim_fault.c). */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static uint64_t pow2_range(uint64_t *r, unsigned lo, unsigned hi)
{
	return 1ull << sim_range(r, lo, hi);
}

static void plan_node(struct sim *s, struct sim_node *nd, bool big)
{
	uint64_t *r = &s->rng;
	struct rc_repl_node_cfg *c = &nd->cfg;

	memset(c, 0, sizeof(*c));
	c->workers = s->nw;
	c->prefer_primary = nd->id == 0 || sim_chance(r, 150);
	c->rank = nd->id + 1;
	c->log_size = big ? 64u << 10 : pow2_range(r, 16, 20);
	c->backlog = big ? sim_range(r, 256, 512) << 10 : pow2_range(r, 19, 23);
	/* Small caps (flow control by batches), or the default 65536. */
	c->backlog_batches = (uint32_t)(sim_chance(r, 400) ? sim_range(r, 8, 64)
					: sim_chance(r, 500) ? 0
							     : sim_range(r, 64, 256));
	c->batch_bytes = sim_chance(r, 400) ? (uint32_t)sim_range(r, 4, 64) << 10 : 0;
	c->turn_bytes = sim_chance(r, 300) ? (uint32_t)sim_range(r, 64, 512) << 10 : 0;
	c->send_bytes = sim_chance(r, 500) ? (uint32_t)sim_range(r, 8, 1024) << 10 : 0;
	nd->wall_skew = (int64_t)sim_range(r, 0, 100 * MS) - (int64_t)(50 * MS);
	nd->rng = sim_next(r);
}

/* Both nodes share the timing settings (repl.* in one config). */
static void plan_timing(struct sim *s)
{
	uint64_t *r = &s->rng;
	uint64_t hb = sim_range(r, 10, 50) * MS;
	uint64_t fo = hb * sim_range(r, 3, 6);
	uint64_t join = sim_range(r, 100, 1000) * MS;

	for (unsigned i = 0; i < SIM_NODES; i++) {
		s->node[i].cfg.heartbeat_ns = hb;
		s->node[i].cfg.failover_ns = fo;
		s->node[i].cfg.join_ns = join;
	}
}

static void plan_net(struct sim *s, bool big)
{
	uint64_t *r = &s->rng;
	struct sim_net *n = &s->net;

	n->latency = sim_range(r, 20000, 2 * MS);
	n->bw = big ? sim_range(r, 5, 50) << 20 : sim_range(r, 10, 1000) << 20;
	n->sndbuf = sim_range(r, 64, 4096) << 10;
	n->dlat = sim_range(r, 20000, 2 * MS);
	n->loss = (unsigned)(sim_chance(r, 500) ? sim_range(r, 0, 200) : 0);
	n->dup = (unsigned)(sim_chance(r, 300) ? sim_range(r, 0, 50) : 0);
	n->reorder = (unsigned)(sim_chance(r, 300) ? sim_range(r, 0, 200) : 0);
	s->base_loss = n->loss;
	s->base_dup = n->dup;
	s->base_reorder = n->reorder;
}

static uint64_t fault_dur(struct sim *s, unsigned type)
{
	uint64_t *r = &s->rng;

	switch (type) {
	case F_CUT_STREAM: case F_CUT_DATA: case F_CUT_BOTH:
		return sim_range(r, 100 * MS, 8 * SEC);
	case F_KILL: /* until it restarts */
		return sim_range(r, 200 * MS, 5 * SEC);
	case F_STALL: /* a pause (shorter than a failover), or a hang */
		return sim_chance(r, 500) ? sim_range(r, 10 * MS, 200 * MS)
					  : sim_range(r, 200 * MS, 4 * SEC);
	case F_PAUSE: /* most of them over a failover */
		return sim_range(r, 100 * MS, 4 * SEC);
	case F_BURST:
		return sim_range(r, 100 * MS, 1 * SEC);
	case F_SLOW: case F_ATTACK: case F_LOSSY: case F_SLOW_CTL:
		return sim_range(r, 500 * MS, 10 * SEC);
	case F_DISK_HANG:
		return sim_range(r, 1 * SEC, 10 * SEC);
	default:
		return 0;
	}
}

static int ev_cmp(const void *a, const void *b)
{
	const struct sim_event *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

/* The faults this seed brings: a few kinds, a few of each. */
static void plan_faults(struct sim *s)
{
	uint64_t *r = &s->rng;
	bool on[F__COUNT];
	unsigned n = (unsigned)sim_range(r, 0, 10);

	for (unsigned f = 0; f < F__COUNT; f++)
		on[f] = sim_chance(r, 350);
	for (unsigned i = 0; i < n && s->n_ev < SIM_MAX_EVENTS; i++) {
		unsigned f = (unsigned)sim_below(r, F__COUNT);
		struct sim_event *e = &s->ev[s->n_ev];

		if (!on[f])
			continue;
		e->type = (uint8_t)f;
		e->node = (uint8_t)sim_below(r, SIM_NODES);
		/* Half of them close behind another: faults that overlap
		 * are where the bugs are. */
		e->t = sim_range(r, 300 * MS, s->fault_end - 200 * MS);
		if (s->n_ev && sim_chance(r, 500))
			e->t = s->ev[sim_below(r, s->n_ev)].t +
			       sim_range(r, 0, 1 * SEC);
		e->dur = fault_dur(s, f);
		s->n_ev++;
	}
	qsort(s->ev, s->n_ev, sizeof(s->ev[0]), ev_cmp);
}

/* Everything a seed decides, before the first step. @return 0 or -1. */
int sim_plan(struct sim *s)
{
	uint64_t *r = &s->rng;
	const bool big = sim_chance(r, 120);

	s->nw = (unsigned)sim_range(r, 2, SIM_MAX_WORKERS);
	s->keys = big ? (uint32_t)sim_range(r, 10000, 40000)
		      : (uint32_t)sim_range(r, 50, 2000);
	s->vmin = big ? 64 : 8;
	s->vmax = big ? 400 : (uint32_t)sim_range(r, 8, 200);
	s->write_rate = sim_range(r, 100, 4000);
	s->durable_pm = (unsigned)sim_range(r, 0, 600);
	s->durable_ns = sim_range(r, 50, 100) * MS;
	s->apply_rate = sim_range(r, 200000, 2000000);
	s->snap_rate = sim_range(r, 500000, 4000000);
	s->now = s->t0 = sim_range(r, 1, 1000) * SEC;
	s->fill_until = big ? s->now + 3 * SEC : 0;
	s->burst_rate = sim_range(r, 20000, 100000);
	s->wall0 = 1700000000ull * SEC + sim_below(r, 1000 * SEC);
	s->fault_end = s->now + sim_range(r, big ? 8 : 4, 20) * SEC;
	s->settle_limit = s->fault_end + 90 * SEC;
	for (unsigned i = 0; i < RC_REPL_KEY_LEN; i++)
		s->key[i] = (uint8_t)sim_next(r);
	for (unsigned i = 0; i < SIM_NODES; i++) {
		s->node[i].sim = s;
		s->node[i].id = i;
		plan_node(s, &s->node[i], big);
	}
	plan_timing(s);
	plan_net(s, big);
	{
		uint64_t t0 = s->now;

		/* Event times are offsets from the start. */
		s->fault_end -= t0;
		plan_faults(s);
		s->fault_end += t0;
		for (unsigned i = 0; i < s->n_ev; i++)
			s->ev[i].t += t0;
	}
	s->cap_led = (uint32_t)((s->fault_end - s->now) / SEC *
				(s->write_rate + 1) + 8) +
		     (big ? 3 * SIM_FILL_RATE : 0);
	for (unsigned i = 0; i < s->n_ev; i++)
		if (s->ev[i].type == F_BURST)
			s->cap_led += (uint32_t)(s->burst_rate * s->ev[i].dur /
						 SEC + 1);
	s->led = calloc(s->cap_led, sizeof(*s->led));
	s->key_part = malloc(s->keys);
	s->scratch = malloc(s->keys);
	s->last_del = calloc(s->keys, sizeof(*s->last_del));
	if (!s->led || !s->key_part || !s->scratch || !s->last_del)
		return -1;
	for (unsigned w = 0; w < s->nw; w++)
		if (!(s->part_keys[w] = malloc(s->keys * sizeof(uint32_t))))
			return -1;
	s->n_led = 1; /* id 0: "never written" */
	for (uint32_t k = 0; k < s->keys; k++) {
		unsigned w = (unsigned)(sim_mix(k) % s->nw);

		s->key_part[k] = (uint8_t)w;
		s->part_keys[w][s->part_n[w]++] = k;
	}
	for (unsigned i = 0; i < SIM_NODES; i++) {
		struct sim_node *nd = &s->node[i];

		nd->ver = calloc(s->keys, sizeof(*nd->ver));
		nd->present = calloc(s->keys, 1);
		nd->applied_id = calloc(s->cap_led, 1);
		if (!nd->ver || !nd->present || !nd->applied_id)
			return -1;
		nd->whole = true; /* nothing written yet: empty is whole */
	}
	sim_trace(s, "plan: %u workers, %u keys, values %u..%u B, %lu writes/s "
		  "(%u%% durable), hb %lu ms, failover %lu ms, log %lu KiB, "
		  "backlog %lu KiB, link %lu MiB/s, loss %u%%, %u faults%s",
		  s->nw, s->keys, s->vmin, s->vmax,
		  (unsigned long)s->write_rate, s->durable_pm / 10,
		  (unsigned long)(s->node[0].cfg.heartbeat_ns / MS),
		  (unsigned long)(s->node[0].cfg.failover_ns / MS),
		  (unsigned long)(s->node[0].cfg.log_size >> 10),
		  (unsigned long)(s->node[0].cfg.backlog >> 10),
		  (unsigned long)(s->net.bw >> 20), s->net.loss / 10, s->n_ev,
		  big ? ", big data set" : "");
	for (unsigned i = 0; i < s->n_ev; i++)
		sim_trace(s, "plan: at +%lu ms %s node %u for %lu ms",
			  (unsigned long)((s->ev[i].t - s->t0) / MS),
			  sim_fault_name(s->ev[i].type), s->ev[i].node,
			  (unsigned long)(s->ev[i].dur / MS));
	return 0;
}
