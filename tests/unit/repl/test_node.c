/* SPDX-License-Identifier: MIT
 * lib/repl's node, two of them joined by an in-memory stream on a fake
 * clock, each with one fake worker that keeps the worker contract of
 * rc_repl_node.h. Scripted cases, one per rule that once broke:
 * election and streaming, a record the standby fails to apply (L2),
 * a partial copy never promotes itself (H4), durable replies not
 * released before the snapshot ends (H4), a resync larger than the
 * backlog finishing in one reset (C1), two primaries at one epoch (M5),
 * an overflow with nobody attached (M8), a demote's hand-over (M7), a
 * batch that cannot be allocated (L5), an earlier term's records at
 * a promotion (L3), and a pause of the host (P1, P2). tests/sim runs the random, faulty version of the
 * same world; tests/unit/server/test_apply.c the worker's side of a
 * promotion (M6). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_int.h"
#include "rc_cunit.h"
#include "rc_repl_node.h"

#define KEYS 4096u
#define STEP_NS 100000ull       /* 100 us a step */

static uint64_t clk = 1000000000ull;

/* Allocation failures on demand (the test links with --wrap=malloc):
 * the next fail_left allocations of fail_size bytes fail. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static size_t fail_size;
static unsigned fail_left, failed_allocs;

void *__wrap_malloc(size_t n)
{
	if (fail_left && n == fail_size) {
		fail_left--;
		failed_allocs++;
		return NULL;
	}
	return __real_malloc(n);
}

struct fake {
	struct rc_repl_node *n;
	struct fake *peer;
	bool up;                 /* turns run (false: a stalled node) */
	bool beats;              /* its data-network beats get through */
	enum rc_repl_role role;
	uint32_t epoch;
	bool durable_ok;
	uint8_t role_seen;
	uint64_t wseq, acked, applied, apply_failed, overflows;
	uint32_t snap_req, snap_done;
	uint64_t snap_wseq;
	unsigned snap_pos;       /* next key of a running pass */
	bool snap_running, clearing;
	bool fail_next;          /* the next applied record fails */
	uint8_t beat[2][RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN];
	uint32_t beat_len[2];    /* beats on their way: [0] sent in this
				  * step, [1] in the last (delivered now) */
	uint8_t last_beat[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN];
	uint32_t last_beat_len;  /* the last one sent, delivered or not */
	unsigned apply_per_step; /* 0: all */
	uint32_t saved;
	uint32_t val[KEYS];      /* 0: absent */
};

/* A pause inside a turn: the clock jumps by jump_ns at the
 * jump_calls-th reading from now (0: none armed). */
static unsigned jump_calls;
static uint64_t jump_ns;

static uint64_t e_now(void *c)
{
	(void)c;
	if (jump_calls && --jump_calls == 0)
		clk += jump_ns;
	return clk;
}
static uint64_t e_real(void *c) { (void)c; return clk; }
static uint64_t e_random(void *c) { return (uint64_t)(uintptr_t)c * 7919u; }
static void e_log(void *c, int level, const char *msg)
{
	(void)c;
	(void)level;
	if (getenv("TEST_NODE_LOG"))
		printf("  [%p] %s\n", c, msg);
}
static void e_publish(void *c, enum rc_repl_role role, uint32_t epoch)
{
	struct fake *f = c;

	f->role = role;
	f->epoch = epoch;
	if (role != RC_REPL_PRIMARY)
		f->durable_ok = false;
}
static void e_workers_role(void *c, enum rc_repl_role role)
{
	((struct fake *)c)->role = role;
}
static void e_durable_ok(void *c, bool ok) { ((struct fake *)c)->durable_ok = ok; }
static void e_acked(void *c, unsigned w, uint64_t cnt)
{
	(void)w;
	((struct fake *)c)->acked = cnt;
}
static uint64_t e_wseq(void *c, unsigned w) { (void)w; return ((struct fake *)c)->wseq; }
static uint8_t e_role_seen(void *c, unsigned w)
{
	(void)w;
	return ((struct fake *)c)->role_seen;
}
static uint64_t e_applied(void *c, unsigned w) { (void)w; return ((struct fake *)c)->applied; }
static uint64_t e_apply_failed(void *c) { return ((struct fake *)c)->apply_failed; }
static uint64_t e_overflows(void *c) { return ((struct fake *)c)->overflows; }
static void e_snap_start(void *c, uint32_t req) { ((struct fake *)c)->snap_req = req; }
static uint32_t e_snap_done(void *c, unsigned w) { (void)w; return ((struct fake *)c)->snap_done; }
static uint64_t e_snap_wseq(void *c, unsigned w) { (void)w; return ((struct fake *)c)->snap_wseq; }
static uint64_t e_items(void *c, unsigned w, bool in_pass)
{
	(void)c;
	(void)w;
	(void)in_pass;
	return 0;
}
static void e_save_epoch(void *c, uint32_t e) { ((struct fake *)c)->saved = e; }
static bool e_epoch_saved(void *c, uint32_t e) { return ((struct fake *)c)->saved == e; }
static void e_close(void *c) { (void)c; }
static void e_beat_out(void *c, const uint8_t *b, uint32_t n)
{
	struct fake *f = c;

	memcpy(f->beat[0], b, n);
	f->beat_len[0] = n;
	memcpy(f->last_beat, b, n);
	f->last_beat_len = n;
}

/* A data-network beat arrives at the end of the step after the one it
 * was sent in (both nodes have moved on by then). */
static void deliver_beat(struct fake *f)
{
	if (f->beat_len[1] && f->beats && f->peer->n && f->peer->up)
		rc_repl_node_beat_in(f->peer->n, f->beat[1], f->beat_len[1],
				     clk);
	memcpy(f->beat[1], f->beat[0], f->beat_len[0]);
	f->beat_len[1] = f->beat_len[0];
	f->beat_len[0] = 0;
}
static void e_announce(void *c) { (void)c; }

static struct rc_repl_env env_of(struct fake *f)
{
	return (struct rc_repl_env){
		.ctx = f, .now_ns = e_now, .real_ns = e_real,
		.random = e_random, .log = e_log, .publish = e_publish,
		.workers_role = e_workers_role, .durable_ok = e_durable_ok,
		.acked = e_acked, .wseq = e_wseq, .role_seen = e_role_seen,
		.applied = e_applied, .apply_failed = e_apply_failed,
		.overflows = e_overflows, .snap_start = e_snap_start,
		.snap_done = e_snap_done, .snap_wseq = e_snap_wseq,
		.items = e_items, .save_epoch = e_save_epoch,
		.epoch_saved = e_epoch_saved, .close = e_close,
		.beat_out = e_beat_out, .announce = e_announce};
}

static void make(struct fake *f, struct fake *peer, bool primary,
		 uint32_t rank, uint64_t backlog, uint64_t log_size)
{
	const struct rc_repl_node_cfg cfg = {
		.workers = 1, .prefer_primary = primary, .rank = rank,
		.log_size = log_size, .backlog = backlog,
		.batch_bytes = 4096, .send_bytes = 8192, .heartbeat_ns = 10 * 1000000ull,
		.failover_ns = 100 * 1000000ull, .join_ns = 50 * 1000000ull};
	const struct rc_repl_env env = env_of(f);
	const char *err;

	memset(f, 0, sizeof(*f));
	f->peer = peer;
	f->up = f->beats = true;
	f->n = rc_repl_node_new(&cfg, &env, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->n);
	rc_repl_node_start(f->n);
}

static void put_rec(struct fake *f, uint8_t type, unsigned key, uint32_t val)
{
	char k[16];
	uint32_t v = val;
	struct rc_repl_rec r = {.type = type, .key = (const uint8_t *)k,
				.value = (const uint8_t *)&v};
	struct rc_repl_log *l = rc_repl_node_rlog(f->n, 0);
	uint32_t sz;
	uint8_t *p;

	snprintf(k, sizeof(k), "k%u", key);
	r.key_len = (uint16_t)strlen(k);
	r.value_len = type == RC_REPL_SET ? sizeof(v) : 0;
	sz = rc_repl_rec_size(r.key_len, r.value_len);
	p = rc_repl_log_reserve(l, sz);
	if (!p) {
		f->overflows++;
		return;
	}
	rc_repl_rec_encode(p, &r);
	rc_repl_log_commit(l, sz);
	f->wseq++;
}

/* A client write on the primary. @return the count its durable reply
 * waits for, or 0 if refused. */
static uint64_t write_key(struct fake *f, unsigned key, uint32_t val)
{
	if (f->role != RC_REPL_PRIMARY)
		return 0;
	f->val[key] = val;
	put_rec(f, val ? RC_REPL_SET : RC_REPL_DEL, key, val);
	return f->wseq;
}

static void worker_step(struct fake *f)
{
	struct rc_repl_log *al = rc_repl_node_alog(f->n, 0);
	unsigned budget = f->apply_per_step ? f->apply_per_step : ~0u;
	const uint8_t *p;
	uint32_t len;

	f->role_seen = (uint8_t)f->role;
	while (budget-- && (p = rc_repl_log_peek(al, &len)) != NULL) {
		struct rc_repl_rec r;
		unsigned key;

		CU_ASSERT_EQUAL_FATAL(rc_repl_rec_decode(p, len, &r), len);
		if (r.type == RC_REPL_CLEAR) {
			memset(f->val, 0, sizeof(f->val));
		} else if (f->fail_next) {
			f->fail_next = false;
			f->apply_failed++;
		} else {
			char k[16] = {0};

			memcpy(k, r.key, r.key_len < 15 ? r.key_len : 15);
			CU_ASSERT_EQUAL_FATAL(sscanf(k + 1, "%u", &key), 1);
			if (r.type == RC_REPL_SET)
				memcpy(&f->val[key], r.value, sizeof(uint32_t));
			else
				f->val[key] = 0;
		}
		rc_repl_log_release(al, len);
		f->applied++;
	}
	/* A snapshot pass: only on a primary, never more than half the
	 * log, in order with the writes. */
	if (f->role == RC_REPL_PRIMARY && f->snap_req != f->snap_done) {
		struct rc_repl_log *rl = rc_repl_node_rlog(f->n, 0);

		if (!f->snap_running) {
			f->snap_running = true;
			f->snap_pos = 0;
		}
		while (f->snap_pos < KEYS &&
		       rc_repl_log_used(rl) + 64 < rl->size / 2) {
			if (f->val[f->snap_pos])
				put_rec(f, RC_REPL_SET, f->snap_pos,
					f->val[f->snap_pos]);
			f->snap_pos++;
		}
		if (f->snap_pos == KEYS) {
			f->snap_running = false;
			f->snap_wseq = f->wseq;
			f->snap_done = f->snap_req;
		}
	}
}

/* Bytes the stream carries each way per step (0: no limit). */
static size_t bandwidth;

/* Move what each side sent to the other (a stream with no delay). */
static void carry(struct fake *from, struct fake *to)
{
	size_t len, room, left = bandwidth ? bandwidth : SIZE_MAX;
	const uint8_t *p;
	uint8_t *dst;

	if (!rc_repl_node_linked(from->n) || !rc_repl_node_linked(to->n))
		return;
	while (left && (p = rc_repl_node_tx(from->n, &len)) != NULL &&
	       (dst = rc_repl_node_rx_room(to->n, &room)) != NULL) {
		size_t k = len < room ? len : room;

		if (k > left)
			k = left;
		left -= k;

		memcpy(dst, p, k);
		rc_repl_node_rx_put(to->n, k);
		rc_repl_node_tx_done(from->n, k);
	}
}

static void step(struct fake *a, struct fake *b)
{
	struct fake *both[2] = {a, b};

	for (int i = 0; i < 2; i++)
		if (both[i]->up) {
			worker_step(both[i]);
			rc_repl_node_turn(both[i]->n);
		}
	if (a->up && b->up) {
		carry(a, b);
		carry(b, a);
	}
	deliver_beat(a);
	deliver_beat(b);
	clk += STEP_NS;
}

static void run(struct fake *a, struct fake *b, unsigned steps)
{
	while (steps--)
		step(a, b);
}

static void connect(struct fake *a, struct fake *b)
{
	rc_repl_node_conn_up(a->n);
	rc_repl_node_conn_up(b->n);
}

static void cut(struct fake *a, struct fake *b)
{
	rc_repl_node_conn_down(a->n, "test cut");
	rc_repl_node_conn_down(b->n, "test cut");
}

static struct rc_repl_view view(struct fake *f)
{
	struct rc_repl_view v;
	struct rc_repl_stats st;

	rc_repl_node_view(f->n, &v, &st);
	return v;
}

static struct rc_repl_stats stats(struct fake *f)
{
	struct rc_repl_view v;
	struct rc_repl_stats st;

	rc_repl_node_view(f->n, &v, &st);
	return st;
}

/* A prefers primary: it leads, B follows and is in step. */
static void pair_up(struct fake *a, struct fake *b, uint64_t backlog,
		    uint64_t log_size)
{
	make(a, b, true, 2, backlog, log_size);
	make(b, a, false, 1, backlog, log_size);
	connect(a, b);
	run(a, b, 2000);
	CU_ASSERT_EQUAL_FATAL(a->role, RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL_FATAL(b->role, RC_REPL_STANDBY);
	CU_ASSERT_EQUAL_FATAL(view(b).phase, RC_REPL_PHASE_STREAMING);
	CU_ASSERT_EQUAL_FATAL(view(a).phase, RC_REPL_PHASE_STREAMING);
}

static void done(struct fake *a, struct fake *b)
{
	rc_repl_node_free(a->n);
	rc_repl_node_free(b->n);
}

static void test_elect_and_stream(void)
{
	static struct fake a, b;
	uint64_t need = 0;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	for (unsigned i = 1; i <= 1000; i++)
		need = write_key(&a, i % KEYS, i % 3 ? i : 0);
	run(&a, &b, 200);
	CU_ASSERT_TRUE(a.durable_ok);
	CU_ASSERT_EQUAL(a.acked, need);
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	done(&a, &b);
}

/* L2: the standby's worker failed to apply a record. The ACK must not
 * cover it (it would release a durable reply for a write the standby
 * lacks); the copy is dropped and the primary resyncs it. */
static void test_failed_apply_not_acked(void)
{
	static struct fake a, b;
	uint64_t before, need;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	write_key(&a, 1, 11);
	run(&a, &b, 50);
	before = a.acked;
	CU_ASSERT_EQUAL(before, a.wseq);
	b.fail_next = true;
	need = write_key(&a, 2, 22);
	run(&a, &b, 50);
	CU_ASSERT_TRUE(a.acked < need);
	CU_ASSERT_EQUAL(stats(&b).apply_resets, 1);
	/* Reconnected, the standby is resynced: in step, nothing lacking. */
	connect(&a, &b);
	run(&a, &b, 2000);
	CU_ASSERT_EQUAL(view(&b).phase, RC_REPL_PHASE_STREAMING);
	CU_ASSERT_TRUE(a.acked >= need);
	CU_ASSERT_EQUAL(b.val[2], 22);
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	done(&a, &b);
}

/* H4: the primary dies while the standby's resync runs: it must not
 * promote itself (its copy is partial); an operator may force it. */
static void test_partial_copy_stays_standby(void)
{
	static struct fake a, b;
	char err[256];

	/* A small backlog: flow control keeps most of the snapshot in the
	 * primary until the standby has taken what is in flight. */
	pair_up(&a, &b, 16384, 1 << 16);
	for (unsigned i = 1; i < KEYS; i++) {
		write_key(&a, i, i);
		if (i % 64 == 0)
			step(&a, &b);
	}
	run(&a, &b, 200);
	bandwidth = 1024;     /* a slow link: the resync takes long */
	a.overflows++;        /* a worker lost a record: full resync */
	run(&a, &b, 20);
	CU_ASSERT_EQUAL_FATAL(view(&b).phase, RC_REPL_PHASE_SNAPSHOT);
	a.up = false; /* the primary dies mid-resync */
	run(&a, &b, 5000);
	bandwidth = 0;
	CU_ASSERT_EQUAL(b.role, RC_REPL_STANDBY);
	CU_ASSERT_EQUAL(stats(&b).promotions, 0);
	CU_ASSERT_EQUAL(rc_repl_node_promote(b.n, false, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--force"));
	CU_ASSERT_EQUAL(rc_repl_node_promote(b.n, true, err, sizeof(err)), 0);
	run(&a, &b, 10);
	CU_ASSERT_EQUAL(b.role, RC_REPL_PRIMARY);
	done(&a, &b);
}

/* H4: during a resync the standby's copy is not whole: no held durable
 * reply is released before the snapshot is applied, however far the
 * standby's ACKs of new writes go. */
static void test_no_release_before_snapshot_end(void)
{
	static struct fake a, b;
	uint64_t acked0;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	for (unsigned i = 1; i < KEYS; i++)
		write_key(&a, i, i);
	run(&a, &b, 200);
	b.apply_per_step = 2;
	acked0 = a.acked;
	a.overflows++;        /* a worker lost a record: full resync */
	for (unsigned s = 0; s < 400; s++) {
		write_key(&a, 5, 1000 + s);
		step(&a, &b);
		if (view(&a).phase == RC_REPL_PHASE_SNAPSHOT)
			CU_ASSERT_EQUAL_FATAL(a.acked, acked0);
	}
	b.apply_per_step = 0;
	run(&a, &b, 3000);
	CU_ASSERT_EQUAL(view(&a).phase, RC_REPL_PHASE_STREAMING);
	CU_ASSERT_EQUAL(a.acked, a.wseq);
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	done(&a, &b);
}

/* C1: a copy many times the backlog resyncs in one reset (flow
 * control), with the backlog within its bound all along. */
static void test_resync_larger_than_backlog(void)
{
	static struct fake a, b;
	const uint64_t backlog = 16384;

	pair_up(&a, &b, backlog, 8192);
	/* Written while the standby is away: the backlog cannot hold it. */
	cut(&a, &b);
	for (unsigned i = 1; i < KEYS; i++) {
		write_key(&a, i, i * 7);
		if (i % 64 == 0)
			step(&a, &b);
	}
	bandwidth = 2048; /* the link, not the primary, sets the pace */
	connect(&a, &b);
	for (unsigned s = 0; s < 100 &&
	     view(&a).phase != RC_REPL_PHASE_SNAPSHOT; s++)
		step(&a, &b);
	CU_ASSERT_EQUAL_FATAL(view(&a).phase, RC_REPL_PHASE_SNAPSHOT);
	for (unsigned s = 0; s < 20000 &&
	     view(&a).phase != RC_REPL_PHASE_STREAMING; s++) {
		step(&a, &b);
		CU_ASSERT_TRUE_FATAL(view(&a).backlog_bytes <= backlog + 8192);
	}
	bandwidth = 0;
	run(&a, &b, 100);
	CU_ASSERT_EQUAL(view(&b).phase, RC_REPL_PHASE_STREAMING);
	CU_ASSERT_EQUAL(stats(&a).resets, 2); /* the first join, this one */
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	done(&a, &b);
}

/* M5: two primaries at one epoch (both started during a partition,
 * each promoted alone) meet while both keep taking writes. Comparing
 * moving record counts, each saw itself ahead of the peer's last word
 * and both stayed primary. Exactly one must remain, soon: the one with
 * more records (b_extra: writes b took alone), else the higher rank. */
static void two_primaries(unsigned b_extra, bool a_wins)
{
	static struct fake a, b;
	unsigned both = 0;

	make(&a, &b, true, 2, 1 << 20, 1 << 16);
	make(&b, &a, true, 1, 1 << 20, 1 << 16);
	a.beats = b.beats = false;
	run(&a, &b, 3000); /* both alone: each promotes itself */
	CU_ASSERT_EQUAL_FATAL(a.role, RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL_FATAL(b.role, RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL_FATAL(a.epoch, b.epoch);
	for (unsigned i = 0; i < b_extra; i++)
		write_key(&b, (i + 100) % KEYS, 5);
	a.beats = b.beats = true;
	connect(&a, &b);
	for (unsigned s = 0; s < 3000; s++) {
		/* The same pace on both: a write each per step. */
		write_key(&a, s % KEYS, s + 1);
		write_key(&b, (s + 7) % KEYS, s + 2);
		step(&a, &b);
		both += a.role == RC_REPL_PRIMARY && b.role == RC_REPL_PRIMARY;
	}
	CU_ASSERT_FALSE(a.role == RC_REPL_PRIMARY && b.role == RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL((a_wins ? a.role : b.role), RC_REPL_PRIMARY);
	CU_ASSERT_TRUE(both < 100); /* resolved within 10 ms */
	/* The loser was reset from the winner: one copy again. */
	run(&a, &b, 200);
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	done(&a, &b);
}

/* M8: a worker's log overflowed while no standby was attached (a write
 * its record never reached). The standby that comes back with the same
 * stream must be resynced, not resumed past the hole. */
static void test_no_resume_past_orphan_overflow(void)
{
	static struct fake a, b;
	uint64_t resets;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	write_key(&a, 1, 11);
	run(&a, &b, 50);
	cut(&a, &b);
	resets = stats(&a).resets;
	/* A write the full log could not take: in a's store, in no record. */
	a.val[2] = 22;
	a.overflows++;
	write_key(&a, 3, 33);
	run(&a, &b, 10);
	connect(&a, &b);
	run(&a, &b, 2000);
	CU_ASSERT_EQUAL(stats(&a).resets, resets + 1);
	CU_ASSERT_EQUAL(b.val[2], 22);
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	done(&a, &b);
}

/* M7: `repl demote` with writes still on their way to the standby (a
 * slow link): the role goes only once the standby has every one, so the
 * new primary holds each write the old one acknowledged. */
static void test_demote_hands_over_everything(void)
{
	static struct fake a, b;
	char err[256];

	pair_up(&a, &b, 1 << 20, 1 << 20);
	bandwidth = 512; /* the writes below take a while to cross */
	for (unsigned i = 1; i < 2000; i++)
		write_key(&a, i, i + 5);
	step(&a, &b);
	if (rc_repl_node_demote(a.n, err, sizeof(err)) != 0)
		printf("\n  demote refused: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(a.role, RC_REPL_STANDBY); /* workers: at once */
	CU_ASSERT_EQUAL(write_key(&a, 1, 99), 0);          /* refused */
	for (unsigned s = 0; s < 20000 && b.role != RC_REPL_PRIMARY; s++)
		step(&a, &b);
	bandwidth = 0;
	run(&a, &b, 100);
	CU_ASSERT_EQUAL_FATAL(b.role, RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL(a.role, RC_REPL_STANDBY);
	for (unsigned i = 1; i < 2000; i++)
		if (b.val[i] != i + 5) {
			CU_FAIL("a write the old primary took is not on the new one");
			break;
		}
	done(&a, &b);
}

/* L5: the bookkeeping of a batch cannot be allocated. Its records are
 * numbered and gone from the worker's log: a hole in the stream. The
 * standby must be reset (not go on past the hole), and the buffer not
 * reused under the next batch's header. */
static void test_batch_alloc_failure(void)
{
	static struct fake a, b;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	for (unsigned i = 1; i < 100; i++)
		write_key(&a, i, i);
	run(&a, &b, 100);
	CU_ASSERT_EQUAL_FATAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	write_key(&a, 500, 5);
	write_key(&a, 501, 6);
	/* a's next turn drains both records into a batch whose
	 * bookkeeping is refused. */
	fail_size = sizeof(struct rn_batch) + sizeof(uint64_t);
	fail_left = 1;
	failed_allocs = 0;
	worker_step(&a);
	rc_repl_node_turn(a.n);
	fail_left = 0;
	CU_ASSERT_EQUAL_FATAL(failed_allocs, 1);
	CU_ASSERT_EQUAL(stats(&a).backlog_dropped, 1);
	for (unsigned i = 502; i < 600; i++)
		write_key(&a, i, i);
	run(&a, &b, 3000);
	CU_ASSERT_EQUAL(b.val[500], 5);
	CU_ASSERT_EQUAL(b.val[501], 6);
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	CU_ASSERT_EQUAL(view(&a).phase, RC_REPL_PHASE_STREAMING);
	CU_ASSERT_EQUAL(a.acked, a.wseq);
	done(&a, &b);
}

/* L3: records left in a worker's log from the node's last term as
 * primary: a write its worker made just before a heartbeat demoted the
 * node, then an operator's promote before the next turn drained it.
 * They are not this stream's: counted into the new stream as well, the
 * per-worker counts ran one ahead and durable replies went out for
 * records the standby did not have. */
static void test_leftover_records_not_counted(void)
{
	static struct fake a, b;
	char err[256];
	uint64_t need = 0;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	write_key(&a, 1, 11);
	run(&a, &b, 100);
	/* Both networks cut: b promotes itself at a higher epoch. */
	cut(&a, &b);
	a.beats = b.beats = false;
	for (unsigned s = 0; s < 5000 && b.role != RC_REPL_PRIMARY; s++)
		step(&a, &b);
	CU_ASSERT_EQUAL_FATAL(b.role, RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL_FATAL(a.role, RC_REPL_PRIMARY);
	run(&a, &b, 200); /* b's beats now say primary */
	/* a's worker writes; b's beat arrives before a's next turn and
	 * demotes a; the operator promotes a at once (--force: its copy
	 * is not in step). */
	write_key(&a, 2, 22);
	b.beats = true;
	CU_ASSERT_TRUE_FATAL(b.last_beat_len > 0);
	rc_repl_node_beat_in(a.n, b.last_beat, b.last_beat_len, clk);
	CU_ASSERT_EQUAL_FATAL(a.role, RC_REPL_STANDBY);
	CU_ASSERT_EQUAL_FATAL(rc_repl_node_promote(a.n, true, err,
						   sizeof(err)), 0);
	a.beats = true;
	connect(&a, &b);
	for (unsigned s = 0; s < 5000 && (b.role != RC_REPL_STANDBY ||
	     view(&a).phase != RC_REPL_PHASE_STREAMING); s++)
		step(&a, &b);
	CU_ASSERT_EQUAL_FATAL(a.role, RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL_FATAL(b.role, RC_REPL_STANDBY);
	for (unsigned i = 10; i < 50; i++)
		need = write_key(&a, i, i);
	run(&a, &b, 3000);
	CU_ASSERT_EQUAL(a.acked, need); /* counts line up: not one ahead */
	CU_ASSERT_EQUAL(a.acked, a.wseq);
	CU_ASSERT_EQUAL(b.val[2], 22);
	CU_ASSERT_EQUAL(memcmp(a.val, b.val, sizeof(a.val)), 0);
	done(&a, &b);
}

static void test_two_primaries_one_epoch(void)
{
	two_primaries(0, true);    /* as many records: rank */
	two_primaries(50, false);  /* b has more: data over rank */
}

/* P1: the host paused both nodes (a VM frozen or migrated: every
 * thread of both stopped) for 20 failover times. Each wakes to a peer
 * it has not heard from since: neither may call the other silent
 * before the other has had a turn to speak (CI saw the standby promote
 * and the primary drop the link after such a pause). Either may turn
 * first; the pause may fall between turns or inside one. */
static void host_pause(bool standby_first, bool mid_turn)
{
	static struct fake a, b;
	struct rc_repl_stats sa, sb;
	uint32_t epoch;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	epoch = view(&a).epoch;
	sa = stats(&a);
	sb = stats(&b);
	if (mid_turn) { /* after the first node's turn has begun */
		jump_calls = 2;
		jump_ns = 2000 * 1000000ull;
	} else {
		clk += 2000 * 1000000ull;
	}
	if (standby_first)
		step(&b, &a);
	else
		step(&a, &b);
	run(&a, &b, 3000);
	CU_ASSERT_EQUAL(a.role, RC_REPL_PRIMARY);
	CU_ASSERT_EQUAL(b.role, RC_REPL_STANDBY);
	CU_ASSERT_EQUAL(view(&a).epoch, epoch);
	CU_ASSERT_EQUAL(stats(&b).promotions, sb.promotions);
	CU_ASSERT_EQUAL(stats(&a).disconnects, sa.disconnects);
	CU_ASSERT_EQUAL(stats(&b).disconnects, sb.disconnects);
	CU_ASSERT_EQUAL(stats(&b).pauses, sb.pauses + 1);
	CU_ASSERT_EQUAL(stats(&a).pauses, sa.pauses + 1);
	CU_ASSERT_EQUAL(jump_calls, 0);
	done(&a, &b);
}

static void test_host_pause_no_failover(void)
{
	host_pause(true, false);
	host_pause(false, false);
	host_pause(true, true);
	host_pause(false, true);
}

/* P2: silence is counted only while the node runs, a late turn as one
 * heartbeat (10 ms). A standby whose own turns all come late (every
 * 60 ms, over half the 100 ms failover) still takes over from a dead
 * primary, after failover / heartbeat late turns. */
static void test_late_standby_still_promotes(void)
{
	static struct fake a, b;
	unsigned turns = 0;

	pair_up(&a, &b, 1 << 20, 1 << 16);
	a.up = false;
	while (b.role != RC_REPL_PRIMARY && turns < 100) {
		clk += 60 * 1000000ull;
		worker_step(&b);
		rc_repl_node_turn(b.n);
		turns++;
	}
	CU_ASSERT_EQUAL(b.role, RC_REPL_PRIMARY);
	/* 10 ms counted a turn: promoted at the tenth or eleventh. */
	CU_ASSERT_TRUE(turns <= 11);
	done(&a, &b);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"election and streaming", test_elect_and_stream},
		{"L2: a failed apply is not acknowledged",
		 test_failed_apply_not_acked},
		{"H4: a partial copy stays standby",
		 test_partial_copy_stays_standby},
		{"H4: no release before the snapshot ends",
		 test_no_release_before_snapshot_end},
		{"C1: a resync larger than the backlog",
		 test_resync_larger_than_backlog},
		{"M5: two primaries at one epoch, both writing",
		 test_two_primaries_one_epoch},
		{"M8: no resume past an overflow with nobody attached",
		 test_no_resume_past_orphan_overflow},
		{"M7: a demote hands over every write",
		 test_demote_hands_over_everything},
		{"L5: a batch that cannot be allocated resets the standby",
		 test_batch_alloc_failure},
		{"L3: an earlier term's records are not counted again",
		 test_leftover_records_not_counted},
		{"P1: a pause of both hosts is not a failover",
		 test_host_pause_no_failover},
		{"P2: a standby whose turns all come late still promotes",
		 test_late_standby_still_promotes},
		{NULL, NULL},
	};

	return rc_test_run("repl-node", cases);
}
