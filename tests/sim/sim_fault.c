/* SPDX-License-Identifier: MIT
 * The seed's faults as time reaches them, the ends of those that last,
 * and their healing at the end of the scenario. */
#include <string.h>

#include "sim.h"

static const char *const fault_names[F__COUNT] = {
	"cut-stream", "cut-data", "cut-both", "kill", "stall", "slow",
	"disk-hang", "promote", "promote-force", "demote", "attack", "lossy",
	"burst", "slow-control", "pause-both",
};

const char *sim_fault_name(unsigned f)
{
	return f < F__COUNT ? fault_names[f] : "?";
}

static void operator(struct sim *s, struct sim_node *nd, unsigned type)
{
	char err[256] = "";
	const bool force = type == F_PROMOTE_FORCE;
	int rc;

	if (type == F_DEMOTE) {
		rc = rc_repl_node_demote(nd->n, err, sizeof(err));
		sim_trace(s, "operator: demote node %u: %s", nd->id,
			  rc ? err : "hand-over started");
		return;
	}
	rc = rc_repl_node_promote(nd->n, force, err, sizeof(err));
	sim_trace(s, "operator: promote%s node %u: %s", force ? " --force" : "",
		  nd->id, rc ? err : "done");
	/* Serving a copy that lacks writes, by the operator's choice: what
	 * it lacked is gone, and no invariant 1 can be asked of it. */
	if (rc == 0 && !nd->whole) {
		s->double_fault = true;
		sim_trace(s, "operator promoted a copy that is not whole%s",
			  force ? "" : " WITHOUT --force");
		if (!force)
			s->st.unforced_partial++;
	}
}

static void apply_event(struct sim *s, const struct sim_event *e)
{
	struct sim_node *nd = &s->node[e->node];

	s->st.faults[e->type]++;
	if (e->type == F_PAUSE)
		sim_check_pause(s, e->dur);
	else
		s->inv6_until = 0; /* another fault: no longer a pause alone */
	sim_trace(s, "fault: %s node %u for %lu ms", sim_fault_name(e->type),
		  e->node, (unsigned long)(e->dur / MS));
	switch (e->type) {
	case F_CUT_STREAM: case F_CUT_DATA: case F_CUT_BOTH:
		sim_net_cut(s, e->type != F_CUT_DATA, e->type != F_CUT_STREAM);
		if (e->type != F_CUT_DATA && s->now + e->dur > s->stream_until)
			s->stream_until = s->now + e->dur;
		if (e->type != F_CUT_STREAM && s->now + e->dur > s->data_until)
			s->data_until = s->now + e->dur;
		break;
	case F_KILL:
		if (!nd->alive)
			break;
		sim_note_kill(s, nd->id);
		sim_node_kill(nd);
		nd->restart_t = s->now + e->dur;
		break;
	case F_STALL:
		if (nd->alive)
			nd->stall_until = s->now + e->dur;
		break;
	case F_PAUSE: /* the host: everything stops, inside some turn */
		s->freeze_ns = e->dur;
		s->freeze_calls = (unsigned)sim_range(&s->rng, 1, 12);
		break;
	case F_SLOW:
		nd->slow_until = s->now + e->dur;
		break;
	case F_DISK_HANG:
		nd->hang_until = s->now + e->dur;
		break;
	case F_PROMOTE: case F_PROMOTE_FORCE: case F_DEMOTE:
		if (nd->alive)
			operator(s, nd, e->type);
		break;
	case F_ATTACK:
		s->attack = true;
		s->attack_until = s->now + e->dur;
		break;
	case F_BURST:
		s->burst_until = s->now + e->dur;
		break;
	case F_SLOW_CTL:
		nd->slowctl_until = s->now + e->dur;
		nd->slowctl_every = sim_range(&s->rng, 2 * MS, 40 * MS);
		break;
	case F_LOSSY:
		s->net.loss = (unsigned)sim_range(&s->rng, 200, 600);
		s->net.dup = (unsigned)sim_range(&s->rng, 0, 100);
		s->net.reorder = (unsigned)sim_range(&s->rng, 100, 500);
		s->lossy_until = s->now + e->dur;
		break;
	default:
		break;
	}
}

static void restart(struct sim *s, struct sim_node *nd)
{
	nd->whole = false; /* back empty */
	sim_node_boot(nd);
	(void)s;
}

/* Faults whose time has come, and the ends of those that last. */
void sim_faults_turn(struct sim *s)
{
	while (s->next_ev < s->n_ev && s->ev[s->next_ev].t <= s->now &&
	       !s->settling)
		apply_event(s, &s->ev[s->next_ev++]);
	if (s->net.cut_stream && s->now >= s->stream_until)
		sim_net_heal(s, true, false);
	if (s->net.cut_data && s->now >= s->data_until)
		sim_net_heal(s, false, true);
	if (s->attack && s->now >= s->attack_until)
		s->attack = false;
	if (s->lossy_until && s->now >= s->lossy_until) {
		s->net.loss = s->base_loss;
		s->net.dup = s->base_dup;
		s->net.reorder = s->base_reorder;
		s->lossy_until = 0;
	}
	for (unsigned i = 0; i < SIM_NODES; i++)
		if (!s->node[i].alive && s->now >= s->node[i].restart_t)
			restart(s, &s->node[i]);
	if (!s->settling && s->now >= s->fault_end)
		sim_heal_all(s);
}

/* The end of the faults: every cut heals, every node runs, the clients
 * stop; from here the pair must settle. */
void sim_heal_all(struct sim *s)
{
	sim_trace(s, "heal: faults end, traffic stops");
	s->settling = true;
	s->inv6_until = 0;
	s->stream_until = s->data_until = s->attack_until = s->now;
	s->lossy_until = s->now;
	for (unsigned i = 0; i < SIM_NODES; i++) {
		struct sim_node *nd = &s->node[i];

		nd->stall_until = nd->slow_until = nd->hang_until = 0;
		nd->slowctl_until = 0;
		nd->restart_t = s->now;
	}
}
