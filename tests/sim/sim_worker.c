/* SPDX-License-Identifier: MIT
 * Simulated workers: the worker side of the contract in rc_repl_node.h,
 * imitating lib/server/apply.c (the apply side), app/ringcached/worker.c
 * (snapshot_slice, held durable replies) and lib/server/exec.c (a write
 * applies, then emits one record; a full log loses the record, never the
 * write).
 *
 * The store is a model: per key, the ledger id of its last write and
 * whether it is live. A value is derived from (key, id), so a record
 * that carries a wrong value is caught where it is applied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sim_key_name(uint32_t k, uint8_t *out)
{
	char b[SIM_KEY_LEN + 1];

	snprintf(b, sizeof(b), "k%07u", k % 10000000u);
	memcpy(out, b, SIM_KEY_LEN);
}

static bool key_parse(const uint8_t *p, uint16_t len, uint32_t *k)
{
	uint32_t v = 0;

	if (len != SIM_KEY_LEN || p[0] != 'k')
		return false;
	for (unsigned i = 1; i < SIM_KEY_LEN; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	*k = v;
	return true;
}

/* The value of write id to key k: key, id, then bytes only they make.
 * @return its length. */
uint32_t sim_value(const struct sim *s, uint32_t k, uint32_t id, uint8_t *out)
{
	uint64_t h = sim_mix((uint64_t)k << 32 | id);
	uint32_t len = s->vmin + (uint32_t)(h % (s->vmax - s->vmin + 1));

	memcpy(out, &k, 4);
	memcpy(out + 4, &id, 4);
	for (uint32_t i = 8; i < len; i += 8, h = h * 0x9E3779B97F4A7C15ull + 1)
		memcpy(out + i, &h, len - i < 8 ? len - i : 8);
	return len;
}

static bool value_ok(const struct sim *s, uint32_t k, uint32_t id,
		     const uint8_t *v, uint32_t len)
{
	uint8_t want[1024];

	return sim_value(s, k, id, want) == len && memcmp(want, v, len) == 0;
}

/* Emit one record into worker w's rlog (lib/server/exec.c
 * rc_server_emit_rec). A snapshot record waits for room and never fills
 * more than half of the log; a client's record that finds no room is
 * lost and counted. @return true if it is in the log. */
static bool emit(struct sim_node *nd, unsigned w, uint8_t type, uint32_t k,
		 uint32_t id, bool snapshot)
{
	struct sim_worker *wk = &nd->w[w];
	uint8_t key[SIM_KEY_LEN], val[1024];
	struct rc_repl_rec r = {.type = type, .key_len = SIM_KEY_LEN,
				.flags = id, .partition = (uint16_t)w,
				.key = key, .value = val};
	uint32_t n;
	uint8_t *b;

	sim_key_name(k, key);
	if (type == RC_REPL_SET)
		r.value_len = sim_value(nd->sim, k, id, val);
	n = rc_repl_rec_size(r.key_len, r.value_len);
	if (snapshot && rc_repl_log_used(wk->rlog) + n > wk->rlog->size / 2)
		return false;
	b = rc_repl_log_reserve(wk->rlog, n);
	if (!b) {
		if (!snapshot)
			wk->overflows++;
		return false;
	}
	rc_repl_rec_encode(b, &r);
	rc_repl_log_commit(wk->rlog, n);
	if (wk->wseq == wk->recs_cap) {
		uint64_t cap = wk->recs_cap ? 2 * wk->recs_cap : 4096;
		struct sim_rec *v = realloc(wk->recs, cap * sizeof(*v));

		if (!v)
			abort();
		wk->recs = v;
		wk->recs_cap = cap;
	}
	wk->recs[wk->wseq++] = (struct sim_rec){.id = id, .key = k,
						.del = type == RC_REPL_DEL};
	return true;
}

void sim_workers_free(struct sim_node *nd)
{
	for (unsigned w = 0; w < SIM_MAX_WORKERS; w++)
		free(nd->w[w].recs);
	memset(nd->w, 0, sizeof(nd->w));
}

static void store_set(struct sim_node *nd, unsigned w, uint32_t k, uint32_t id)
{
	if (!nd->present[k])
		nd->w[w].items++;
	nd->present[k] = 1;
	nd->ver[k] = id;
}

static void store_del(struct sim_node *nd, unsigned w, uint32_t k, uint32_t id)
{
	if (nd->present[k])
		nd->w[w].items--;
	nd->present[k] = 0;
	nd->ver[k] = id; /* a tombstone: which write removed it */
}

/* A client's write at the worker owning its key (rc_exec_request). */
void sim_write(struct sim_node *nd, uint32_t id)
{
	struct sim *s = nd->sim;
	struct sim_write *x = &s->led[id];
	const unsigned w = s->key_part[x->key];
	struct sim_worker *wk = &nd->w[w];
	bool lost;

	if (wk->role != RC_REPL_PRIMARY || sim_catching_up(nd, w)) {
		x->state = W_REFUSED;
		return;
	}
	x->node = (uint8_t)nd->id;
	x->epoch = wk->epoch;
	if (x->del) {
		store_del(nd, w, x->key, id);
		s->last_del[x->key] = id;
	} else {
		store_set(nd, w, x->key, id);
	}
	lost = !emit(nd, w, x->del ? RC_REPL_DEL : RC_REPL_SET, x->key, id,
		     false);
	x->logged = !lost;
	s->st.overflows += lost;
	if (!x->durable) {
		x->state = W_ASYNC;
		x->t_done = s->now;
		return;
	}
	if (lost || !wk->durable_ok || wk->held_n == SIM_HELD) {
		x->state = W_NOT_REPL;
		x->t_done = s->now;
		return;
	}
	x->state = W_HELD;
	wk->held[(wk->held_head + wk->held_n++) % SIM_HELD] =
		(struct sim_held){.id = id, .wseq = wk->wseq, .t = s->now};
}

/* Held durable replies (rcd_worker_release): durable_ok is read before
 * acked, as the worker does. */
static void release(struct sim_node *nd, unsigned w)
{
	struct sim *s = nd->sim;
	struct sim_worker *wk = &nd->w[w];
	const bool attached = wk->durable_ok;
	const uint64_t acked = wk->acked;

	while (wk->held_n) {
		struct sim_held *hd = &wk->held[wk->held_head];
		struct sim_write *x = &s->led[hd->id];

		if (hd->wseq <= acked) {
			x->state = W_OK;
			sim_trace(s, "node %u: durable write #%u (key %u) OK at "
				  "wseq %lu", nd->id, hd->id, x->key,
				  (unsigned long)hd->wseq);
		} else if (!attached || s->now - hd->t > s->durable_ns) {
			x->state = W_NOT_REPL;
		} else {
			break;
		}
		x->t_done = s->now;
		wk->held_head = (wk->held_head + 1) % SIM_HELD;
		wk->held_n--;
	}
}

unsigned sim_held_total(const struct sim_node *nd)
{
	unsigned t = 0;

	for (unsigned w = 0; w < nd->sim->nw; w++)
		t += nd->w[w].held_n;
	return t;
}

/* One record from the alog, applied (rc_partition_apply). A record that
 * does not decode, belongs to another partition or carries a value its
 * key and id do not make cannot come from a genuine primary. */
static void apply_rec(struct sim_node *nd, unsigned w, const uint8_t *p,
		      uint32_t len)
{
	struct sim *s = nd->sim;
	struct rc_repl_rec r;
	uint32_t k;

	if (!rc_repl_rec_decode(p, len, &r)) {
		nd->w[w].apply_failed++;
		sim_fail(s, "node %u worker %u: a record in the apply log does "
			 "not decode", nd->id, w);
		return;
	}
	if (!key_parse(r.key, r.key_len, &k) || k >= s->keys ||
	    s->key_part[k] != w || r.partition != w || r.flags >= s->n_led) {
		sim_fail(s, "node %u worker %u: record for the wrong partition "
			 "or an unknown key/write (partition %u, id %u)",
			 nd->id, w, r.partition, r.flags);
		return;
	}
	if (r.type == RC_REPL_SET) {
		if (!value_ok(s, k, r.flags, r.value, r.value_len)) {
			sim_fail(s, "node %u worker %u: key %u got a value that "
				 "is not write #%u's", nd->id, w, k, r.flags);
			return;
		}
		store_set(nd, w, k, r.flags);
	} else if (r.type == RC_REPL_DEL) {
		store_del(nd, w, k, r.flags);
	} else {
		sim_fail(s, "node %u worker %u: record type %u in the apply log",
			 nd->id, w, r.type);
		return;
	}
	nd->applied_id[r.flags] = 1;
}

/* rc_partition_apply_log: in order, a CLEAR empties the partition (in
 * slices) before anything after it; counted once empty. */
static unsigned apply(struct sim_node *nd, unsigned w, uint64_t max)
{
	struct sim *s = nd->sim;
	struct sim_worker *wk = &nd->w[w];
	unsigned n = 0;

	while (n < max && !s->failed) {
		struct rc_repl_rec r;
		const uint8_t *p;
		uint32_t len;

		if (wk->clearing) {
			uint32_t end = wk->clear_cur + 1024;

			if (end > s->part_n[w])
				end = s->part_n[w];
			for (; wk->clear_cur < end; wk->clear_cur++) {
				uint32_t k = s->part_keys[w][wk->clear_cur];

				nd->present[k] = 0;
				nd->ver[k] = 0;
			}
			if (wk->clear_cur < s->part_n[w])
				return n;
			wk->items = 0;
			wk->clearing = false;
			wk->applied++;
		}
		p = rc_repl_log_peek(wk->alog, &len);
		if (!p)
			break;
		if (rc_repl_rec_decode(p, len, &r) && r.type == RC_REPL_CLEAR) {
			wk->clearing = true;
			wk->clear_cur = 0;
			rc_repl_log_release(wk->alog, len);
			continue;
		}
		apply_rec(nd, w, p, len);
		rc_repl_log_release(wk->alog, len);
		wk->applied++;
		n++;
	}
	return n;
}

/* A promoted worker applies everything it was sent before it takes a
 * request (rc_partition_apply_turn). */
bool sim_catching_up(const struct sim_node *nd, unsigned w)
{
	const struct sim_worker *wk = &nd->w[w];

	return wk->role == RC_REPL_PRIMARY &&
	       (wk->clearing || rc_repl_log_used(wk->alog));
}

/* snapshot_slice: only a primary's pass counts; every live item as a
 * SET, in order with the writes around it; done once the cursor has
 * been over the whole partition. */
static void snapshot_slice(struct sim_node *nd, unsigned w, uint64_t work)
{
	struct sim *s = nd->sim;
	struct sim_worker *wk = &nd->w[w];
	const uint32_t req = wk->snap_req;

	if (req == wk->snap_done && !wk->snap_active)
		return;
	if (wk->role != RC_REPL_PRIMARY) {
		wk->snap_active = false;
		return;
	}
	if (!wk->snap_active || req != wk->snap_run) {
		wk->snap_cur = wk->snap_seen = 0;
		wk->snap_run = req;
		wk->snap_active = true;
	}
	for (; work && wk->snap_cur < s->part_n[w]; work--) {
		uint32_t k = s->part_keys[w][wk->snap_cur];

		if (nd->present[k]) {
			if (!emit(nd, w, RC_REPL_SET, k, nd->ver[k], true))
				return; /* waits for room */
			wk->snap_seen++;
		}
		wk->snap_cur++;
	}
	if (wk->snap_cur < s->part_n[w])
		return;
	wk->snap_active = false;
	wk->snap_wseq = wk->wseq;
	wk->snap_done = req;
}

/* The top of every worker's loop turns in this step: the role it reads,
 * then what it applies (a primary everything, a standby at its rate). */
void sim_workers_turn(struct sim_node *nd)
{
	struct sim *s = nd->sim;
	uint64_t budget = s->apply_rate * s->dt / SEC + 1;

	if (s->now < nd->slow_until)
		budget = sim_range(&nd->rng, 0, 3);
	for (unsigned w = 0; w < s->nw; w++) {
		struct sim_worker *wk = &nd->w[w];

		wk->role_seen = wk->role;
		apply(nd, w, wk->role == RC_REPL_PRIMARY ? UINT64_MAX : budget);
	}
}

/* The rest of the turn: held replies, then a snapshot slice. */
void sim_workers_after(struct sim_node *nd)
{
	struct sim *s = nd->sim;
	uint64_t work = s->snap_rate * s->dt / SEC + 1;

	if (s->now < nd->slow_until)
		work = sim_range(&nd->rng, 1, 16);
	for (unsigned w = 0; w < s->nw; w++) {
		release(nd, w);
		snapshot_slice(nd, w, work);
	}
}
