/* SPDX-License-Identifier: MIT
 * A node's world (struct rc_repl_env) on the simulation: its clocks are
 * the sim's, its workers are sim_worker.c's, its epoch file is a disk
 * whose writes land after a delay (seconds, while it hangs), and a kill
 * takes everything but that disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static struct sim_node *ND(void *ctx)
{
	return ctx;
}

uint64_t sim_wall(const struct sim_node *nd)
{
	return (uint64_t)((int64_t)(nd->sim->wall0 + nd->sim->now) +
			  nd->wall_skew);
}

static uint64_t e_now(void *ctx)
{
	struct sim *s = ND(ctx)->sim;

	if (s->freeze_calls && --s->freeze_calls == 0) {
		s->now += s->freeze_ns;
		sim_trace(s, "host pause of %lu ms ends, inside node %u's turn",
			  (unsigned long)(s->freeze_ns / MS), ND(ctx)->id);
	}
	return s->now;
}

static uint64_t e_real(void *ctx)
{
	return sim_wall(ND(ctx));
}

static uint64_t e_random(void *ctx)
{
	return sim_next(&ND(ctx)->rng);
}

static void e_log(void *ctx, int level, const char *msg)
{
	struct sim_node *nd = ND(ctx);

	sim_trace(nd->sim, "node %u log<%d>: %s", nd->id, level, msg);
}

static void e_publish(void *ctx, enum rc_repl_role role, uint32_t epoch)
{
	struct sim_node *nd = ND(ctx);

	sim_trace(nd->sim, "node %u: workers publish %s at epoch %u", nd->id,
		  rc_repl_role_name(role), epoch);
	for (unsigned w = 0; w < nd->sim->nw; w++) {
		/* What it logged before this term is not what the standby
		 * of this term is acknowledging. */
		if (role == RC_REPL_PRIMARY)
			nd->w[w].checked = nd->w[w].wseq;
		nd->w[w].role = (uint8_t)role;
		nd->w[w].epoch = epoch;
		if (role != RC_REPL_PRIMARY)
			nd->w[w].durable_ok = false;
	}
}

static void e_workers_role(void *ctx, enum rc_repl_role role)
{
	struct sim_node *nd = ND(ctx);

	sim_trace(nd->sim, "node %u: workers' role %s (hand-over)", nd->id,
		  rc_repl_role_name(role));
	for (unsigned w = 0; w < nd->sim->nw; w++)
		nd->w[w].role = (uint8_t)role;
}

static void e_durable_ok(void *ctx, bool ok)
{
	struct sim_node *nd = ND(ctx);

	for (unsigned w = 0; w < nd->sim->nw; w++)
		nd->w[w].durable_ok = ok;
}

static void e_acked(void *ctx, unsigned w, uint64_t cnt)
{
	struct sim_node *nd = ND(ctx);

	/* A count is of records this worker put in its log: more than it
	 * wrote would release replies of writes not even made. */
	if (w >= nd->sim->nw || cnt > nd->w[w].wseq) {
		sim_fail(nd->sim, "invariant 1: node %u acked(%u, %lu) beyond "
			 "the worker's wseq %lu", nd->id, w, (unsigned long)cnt,
			 w < nd->sim->nw ? (unsigned long)nd->w[w].wseq : 0ul);
		return;
	}
	sim_check_acked(nd, w, cnt);
	nd->w[w].acked = cnt;
}

static uint64_t e_wseq(void *ctx, unsigned w)
{
	return ND(ctx)->w[w].wseq;
}

static uint8_t e_role_seen(void *ctx, unsigned w)
{
	return ND(ctx)->w[w].role_seen;
}

static uint64_t e_applied(void *ctx, unsigned w)
{
	return ND(ctx)->w[w].applied;
}

static uint64_t e_apply_failed(void *ctx)
{
	struct sim_node *nd = ND(ctx);
	uint64_t t = 0;

	for (unsigned w = 0; w < nd->sim->nw; w++)
		t += nd->w[w].apply_failed;
	return t;
}

static uint64_t e_overflows(void *ctx)
{
	struct sim_node *nd = ND(ctx);
	uint64_t t = 0;

	for (unsigned w = 0; w < nd->sim->nw; w++)
		t += nd->w[w].overflows;
	return t;
}

static void e_snap_start(void *ctx, uint32_t req)
{
	struct sim_node *nd = ND(ctx);

	sim_trace(nd->sim, "node %u: snapshot pass %u asked", nd->id, req);
	for (unsigned w = 0; w < nd->sim->nw; w++)
		nd->w[w].snap_req = req;
}

static uint32_t e_snap_done(void *ctx, unsigned w)
{
	return ND(ctx)->w[w].snap_done;
}

static uint64_t e_snap_wseq(void *ctx, unsigned w)
{
	return ND(ctx)->w[w].snap_wseq;
}

static uint64_t e_items(void *ctx, unsigned w, bool in_pass)
{
	struct sim_node *nd = ND(ctx);

	return in_pass ? nd->w[w].snap_seen : nd->w[w].items;
}

/* The epoch file: one write at a time, the newest epoch asked for next
 * (app/ringcached/repl.c epoch_thread). */
static void disk_start(struct sim_node *nd)
{
	struct sim *s = nd->sim;
	uint64_t d = s->now < nd->hang_until ? sim_range(&nd->rng, SEC, 5 * SEC)
					      : sim_range(&nd->rng, 100000, 20 * MS);

	nd->disk_writing = nd->disk_want;
	nd->disk_done_t = s->now + d;
}

static void e_save_epoch(void *ctx, uint32_t e)
{
	struct sim_node *nd = ND(ctx);

	nd->disk_want = e;
	if (!nd->disk_done_t && e != nd->disk_epoch)
		disk_start(nd);
}

static bool e_epoch_saved(void *ctx, uint32_t e)
{
	return ND(ctx)->disk_epoch == e;
}

void sim_disk_turn(struct sim_node *nd)
{
	if (!nd->disk_done_t || nd->sim->now < nd->disk_done_t)
		return;
	nd->disk_epoch = nd->disk_writing;
	nd->disk_done_t = 0;
	sim_trace(nd->sim, "node %u: epoch %u on disk", nd->id, nd->disk_epoch);
	if (nd->alive && nd->disk_want != nd->disk_epoch)
		disk_start(nd);
}

static void e_close(void *ctx)
{
	sim_net_close_side(ND(ctx), "closed by the node");
}

static void e_beat_out(void *ctx, const uint8_t *b, uint32_t n)
{
	sim_net_beat(ND(ctx), b, n);
}

static void e_announce(void *ctx)
{
	struct sim_node *nd = ND(ctx);

	sim_trace(nd->sim, "node %u: announces the service address", nd->id);
}

static const struct rc_repl_env env_tmpl = {
	.now_ns = e_now, .real_ns = e_real, .random = e_random, .log = e_log,
	.publish = e_publish, .workers_role = e_workers_role,
	.durable_ok = e_durable_ok, .acked = e_acked, .wseq = e_wseq,
	.role_seen = e_role_seen, .applied = e_applied,
	.apply_failed = e_apply_failed, .overflows = e_overflows,
	.snap_start = e_snap_start, .snap_done = e_snap_done,
	.snap_wseq = e_snap_wseq, .items = e_items,
	.save_epoch = e_save_epoch, .epoch_saved = e_epoch_saved,
	.close = e_close, .beat_out = e_beat_out, .announce = e_announce,
};

/* Start the process: empty stores, the epoch from its disk, JOINING.
 * @return 0, or -1 (the sim has failed). */
int sim_node_boot(struct sim_node *nd)
{
	struct sim *s = nd->sim;
	const char *err = "";

	sim_workers_free(nd);
	memset(nd->ver, 0, s->keys * sizeof(*nd->ver));
	memset(nd->present, 0, s->keys);
	memset(nd->applied_id, 0, s->cap_led);
	nd->env = env_tmpl;
	nd->env.ctx = nd;
	nd->cfg.epoch = nd->disk_epoch;
	nd->disk_want = nd->disk_epoch;
	if (rc_repl_auth_init(&nd->auth, s->key, NULL, sim_next(&nd->rng),
			      10 * SEC) != 0) {
		sim_fail(s, "libsodium did not start");
		return -1;
	}
	nd->cfg.auth = &nd->auth;
	nd->n = rc_repl_node_new(&nd->cfg, &nd->env, &err);
	if (!nd->n) {
		sim_fail(s, "node %u: rc_repl_node_new: %s", nd->id, err);
		return -1;
	}
	for (unsigned w = 0; w < s->nw; w++) {
		nd->w[w].rlog = rc_repl_node_rlog(nd->n, w);
		nd->w[w].alog = rc_repl_node_alog(nd->n, w);
	}
	nd->alive = true;
	nd->boot_t = s->now;
	/* Its counters start again from zero. */
	memset(&nd->last_st, 0, sizeof(nd->last_st));
	memset(&nd->last_view, 0, sizeof(nd->last_view));
	nd->sock_open = nd->sock_attacker = false;
	nd->down_t = 0;
	nd->stall_until = nd->slow_until = 0;
	sim_trace(s, "node %u: starts at epoch %u", nd->id, nd->cfg.epoch);
	rc_repl_node_start(nd->n);
	return 0;
}

/* kill -9: the kernel closes its socket (the peer reads EOF), and what
 * was not on disk is gone, a write in flight included. */
void sim_node_kill(struct sim_node *nd)
{
	sim_trace(nd->sim, "node %u: KILLED", nd->id);
	sim_net_close_side(nd, "killed");
	rc_repl_node_free(nd->n);
	nd->n = NULL;
	rc_repl_auth_wipe(&nd->auth);
	nd->alive = false;
	nd->disk_done_t = 0;
	sim_workers_free(nd);
}
