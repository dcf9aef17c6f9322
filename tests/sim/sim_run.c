/* SPDX-License-Identifier: MIT
 * One scenario: the seed's plan, then steps of 50 us to 1 ms of
 * simulated time until the faults have healed and the pair settled (or
 * failed to). Within a step each node's control loop turns before or
 * after its workers, as the seed draws it: the real ones run
 * concurrently. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define TURNS_PER_STEP 4u    /* the replication thread turns while busy */
#define STABLE 3u            /* settled this many heartbeats running */

void sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	sim_trace(s, "FAIL: %s", s->why);
}

void sim_trace(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->trace)
		return;
	printf("%9.4f ", (double)(s->now - s->t0) / 1e9);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void control(struct sim_node *nd)
{
	struct sim *s = nd->sim;

	if (!nd->alive || s->now < nd->stall_until ||
	    (s->now < nd->slowctl_until &&
	     s->now - nd->last_turn < nd->slowctl_every))
		return;
	nd->last_turn = s->now;
	for (unsigned i = 0; i < TURNS_PER_STEP && !s->failed; i++) {
		bool did = rc_repl_node_turn(nd->n);

		sim_net_flush(nd);
		if (!did)
			break;
	}
}

static void step(struct sim *s)
{
	bool first[SIM_NODES];

	s->dt = sim_range(&s->rng, 50000, 1000000);
	s->now += s->dt;
	s->st.steps++;
	sim_faults_turn(s);
	for (unsigned i = 0; i < SIM_NODES; i++) {
		sim_disk_turn(&s->node[i]);
		first[i] = sim_chance(&s->rng, 300);
	}
	sim_net_turn(s);
	sim_attack_turn(s);
	for (unsigned i = 0; i < SIM_NODES; i++)
		if (first[i])
			control(&s->node[i]);
	for (unsigned i = 0; i < SIM_NODES; i++)
		if (s->node[i].alive)
			sim_workers_turn(&s->node[i]);
	sim_clients_turn(s, s->dt);
	for (unsigned i = 0; i < SIM_NODES; i++)
		if (s->node[i].alive)
			sim_workers_after(&s->node[i]);
	for (unsigned i = 0; i < SIM_NODES; i++)
		if (!first[i])
			control(&s->node[i]);
	sim_check_step(s);
}

static void free_sim(struct sim *s)
{
	for (unsigned i = 0; i < SIM_NODES; i++) {
		struct sim_node *nd = &s->node[i];

		if (nd->alive)
			rc_repl_node_free(nd->n);
		sim_workers_free(nd);
		free(nd->ver);
		free(nd->present);
		free(nd->applied_id);
	}
	sim_net_free(s);
	for (unsigned w = 0; w < SIM_MAX_WORKERS; w++)
		free(s->part_keys[w]);
	free(s->key_part);
	free(s->scratch);
	free(s->last_del);
	free(s->led);
	free(s);
}

static void add_stats(struct sim_stats *t, const struct sim *s)
{
	const struct sim_stats *a = &s->st;

	t->seeds++;
	t->steps += a->steps;
	t->sim_ns += s->now - s->t0;
	for (unsigned f = 0; f < F__COUNT; f++)
		t->faults[f] += a->faults[f];
	for (unsigned i = 0; i < 8; i++)
		t->checks[i] += a->checks[i];
	t->resets += a->resets;
	t->promotions += a->promotions;
	t->connects += a->connects;
	t->overflow_resets += a->overflow_resets;
	t->writes += a->writes;
	t->refused += a->refused;
	t->overflows += a->overflows;
	t->double_faults += a->double_faults;
	t->lost_async += a->lost_async;
	t->forged += a->forged;
	t->replayed += a->replayed;
	t->lag_underreports += a->lag_underreports;
	t->unforced_partial += a->unforced_partial;
	t->same_epoch += a->same_epoch;
	for (uint32_t id = 1; id < s->n_led; id++) {
		t->durable_ok += s->led[id].state == W_OK;
		t->not_repl += s->led[id].state == W_NOT_REPL;
	}
}

/* @return 0 if every invariant held, 1 if not (said on stdout). */
int sim_run(uint64_t seed, bool trace, struct sim_stats *tot)
{
	struct sim *s = calloc(1, sizeof(*s));
	uint64_t since = 0;
	int rc;

	if (!s)
		abort();
	s->seed = seed;
	s->rng = sim_mix(seed ^ 0x5eed5eed5eed5eedull);
	s->trace = trace;
	if (sim_plan(s) != 0)
		abort();
	for (unsigned i = 0; i < SIM_NODES && !s->failed; i++)
		sim_node_boot(&s->node[i]);
	while (!s->failed) {
		step(s);
		if (!s->settling)
			continue;
		if (!sim_settled(s)) {
			since = 0;
			if (s->now > s->settle_limit)
				sim_fail(s, "invariant 3: the pair did not settle "
					 "within %lu s of the faults healing "
					 "(roles %s/%s, phases %s/%s)",
					 (unsigned long)((s->settle_limit -
							  s->fault_end) / SEC),
					 rc_repl_role_name(s->node[0].last_view.role),
					 rc_repl_role_name(s->node[1].last_view.role),
					 rc_repl_phase_name(s->node[0].last_view.phase),
					 rc_repl_phase_name(s->node[1].last_view.phase));
			continue;
		}
		/* Stay settled a few heartbeats: nothing was still on its
		 * way. */
		if (!since)
			since = s->now;
		if (s->now - since < STABLE * s->node[0].cfg.heartbeat_ns)
			continue;
		sim_check_end(s);
		break;
	}
	if (s->failed)
		printf("sim-repl: FAIL seed=%lu: %s\n", (unsigned long)seed,
		       s->why);
	rc = s->failed;
	add_stats(tot, s);
	free_sim(s);
	return rc;
}
