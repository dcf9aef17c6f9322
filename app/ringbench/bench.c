/* SPDX-License-Identifier: MIT
 * The open-loop engine. Each thread owns a transport endpoint and a share
 * of the rate; sends follow a precomputed schedule (constant or Poisson)
 * whatever the server does, and latency runs from the *scheduled* send
 * time, so a stalled server shows its full delay (no coordinated
 * omission). */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "rc_proto.h"

#define WINDOW 65536u /* outstanding requests tracked per thread */
#define BURST 32

struct slot {
	uint64_t sched;   /* ns; 0 = free */
	uint64_t sent;    /* ns, when the send call returned */
	uint8_t set;
	uint8_t n;        /* keys asked */
	uint8_t measured; /* sent after warm-up */
};

struct worker {
	const struct rb_config *cfg;
	unsigned idx;
	double rate;
	struct rb_zipf zipf;
	struct rb_result res;
	volatile uint64_t progress_sent, progress_recv;
	pthread_barrier_t *start;
	pthread_t tid;
	int rc;
};

uint64_t rb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t pick_key(struct worker *w, uint64_t *seed)
{
	if (w->cfg->zipf > 0)
		return rb_zipf_next(&w->zipf, rb_uniform(seed));
	return rb_rand(seed) % w->cfg->keys;
}

static unsigned key_partition(const struct rb_config *c, const char *k,
			      size_t kl)
{
	struct rc_proto_digest d;

	if (c->proto != &rb_proto_ringcache || c->partitions < 2)
		return 0;
	rc_proto_key_digest(k, kl, &d);
	return rc_proto_partition(&d, c->partitions);
}

/* Keys of a GET batch must share a partition: draw the first, then draw
 * until the batch is full of keys of the same partition (bounded). With
 * pin_partition every key must be of this thread's partition (the
 * transport's queue stands in for the NIC steering the port to it). */
static unsigned pick_batch(struct worker *w, uint64_t *seed, char keys[][256],
			   size_t *klens, unsigned want)
{
	const struct rb_config *c = w->cfg;
	unsigned n = 0, part = w->cfg->pin_partition ? w->idx : 0;
	bool any = !c->pin_partition;
	unsigned limit = want * 16 * (c->partitions + 1);

	/* The first key may take longer (a pinned partition can be rare),
	 * but not forever: 0 means the key space has none for it. */
	for (unsigned tries = 0; n < want && tries < (n ? limit : limit << 12);
	     tries++) {
		uint64_t k = pick_key(w, seed);
		size_t kl = rb_key(keys[n], c->key_size, k);
		unsigned p = key_partition(c, keys[n], kl);

		if (n == 0 && any)
			part = p;
		else if (p != part)
			continue;
		klens[n++] = kl;
	}
	return n;
}

/* Account one datagram of replies. */
static void account(struct worker *w, struct slot *win, const struct rb_rx *rx,
		    uint64_t *outstanding)
{
	const struct rb_config *c = w->cfg;
	unsigned hits = 0, misses = 0, errors = 0;
	uint32_t id;
	struct slot *s;

	if (c->proto->decode(rx->data, rx->len, &id, &hits, &misses,
			     &errors) != 0) {
		w->res.bad++;
		return;
	}
	s = &win[id % WINDOW];
	if (!s->sched)
		return; /* late reply to a request already timed out */
	(*outstanding)--;
	if (s->measured) {
		w->res.received++;
		rb_hist_record(s->set ? &w->res.set : &w->res.get,
			       rx->t > s->sched ? rx->t - s->sched : 0);
		rb_hist_record(&w->res.wire,
			       rx->t > s->sent ? rx->t - s->sent : 0);
		w->res.errors += errors;
		if (!s->set) {
			w->res.hits += hits;
			w->res.misses += s->n - hits - errors;
		}
	}
	s->sched = 0;
	w->progress_recv++;
}

/* Drain what has arrived. @return datagrams read. */
static unsigned receive(struct worker *w, struct rb_io *io, struct slot *win,
			uint64_t *outstanding)
{
	struct rb_rx rx[BURST];
	unsigned total = 0, n;

	do {
		n = w->cfg->io->recv(io, rx, BURST);
		for (unsigned i = 0; i < n; i++)
			account(w, win, &rx[i], outstanding);
		total += n;
	} while (n == BURST);
	return total;
}

/* A preload burst: a reply lost on a loaded host (a starved server's
 * full ring) is sent again after this long, up to PRELOAD_TRIES times,
 * rather than waited for a whole --timeout-ms (a 2,000-key preload with
 * a dozen lost replies took a minute). SETs of the same value are
 * idempotent, and a late reply to an earlier try counts. */
#define PRELOAD_RETRY_MS 200u
#define PRELOAD_TRIES 10u

/* Closed-loop SET of this thread's share of the keys, BURST at a time.
 * @return keys not acknowledged. */
static uint64_t preload(struct worker *w, struct rb_io *io)
{
	const struct rb_config *c = w->cfg;
	static __thread uint8_t bufs[BURST][RC_PROTO_MAX_DATAGRAM];
	uint8_t *bp[BURST];
	size_t lens[BURST];
	unsigned offs[BURST];
	uint8_t value[RB_MAX_VALUE];
	char key[256];
	const char *kp[1] = {key};
	uint64_t missing = 0, seed = c->seed ^ (0x5eedull + w->idx);
	uint32_t id = 0x40000000u & c->proto->id_mask;
	uint64_t k = 0;

	memset(value, 'v', sizeof(value));
	for (unsigned i = 0; i < BURST; i++)
		bp[i] = bufs[i];
	while (k < c->keys) {
		bool acked[BURST] = {false};
		unsigned n = 0, left;
		uint64_t stop;

		for (; k < c->keys && n < BURST; k++) {
			size_t kl = rb_key(key, c->key_size, k);
			unsigned mine = c->pin_partition ? key_partition(c, key, kl)
							 : (unsigned)(k % c->threads);

			if (mine != w->idx)
				continue;
			lens[n] = c->proto->encode(bufs[n], sizeof(bufs[n]),
						   (id + n) & c->proto->id_mask,
						   true, kp, &kl, 1, value,
						   c->value_size,
						   rb_pick_class(&seed),
						   c->partitions, &offs[n]);
			n++;
		}
		if (n == 0)
			break;
		left = n;
		for (unsigned t = 0; left && t < PRELOAD_TRIES; t++) {
			const unsigned wait_ms = c->timeout_ms < PRELOAD_RETRY_MS
							 ? c->timeout_ms
							 : PRELOAD_RETRY_MS;
			uint8_t *rp[BURST];
			size_t rl[BURST];
			unsigned ro[BURST], r = 0;

			for (unsigned i = 0; i < n; i++)
				if (!acked[i]) {
					rp[r] = bp[i];
					rl[r] = lens[i];
					ro[r++] = offs[i];
				}
			if (c->io->send(io, rp, rl, ro, r) != 0)
				return missing + left;
			stop = rb_now_ns() + (uint64_t)wait_ms * 1000000ull;
			while (left && rb_now_ns() < stop) {
				struct rb_rx rx[BURST];
				unsigned got = c->io->recv(io, rx, BURST);

				for (unsigned i = 0; i < got; i++) {
					unsigned h = 0, m = 0, e = 0;
					uint32_t rid, off;

					if (c->proto->decode(rx[i].data,
							     rx[i].len, &rid,
							     &h, &m, &e))
						continue;
					off = (rid - id) & c->proto->id_mask;
					if (off < n && !acked[off] && e == 0) {
						acked[off] = true;
						left--;
					}
				}
			}
		}
		missing += left;
		id = (id + n) & c->proto->id_mask;
	}
	return missing;
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	const struct rb_config *c = w->cfg;
	struct slot *win = calloc(WINDOW, sizeof(*win));
	static __thread uint8_t bufs[BURST][RC_PROTO_MAX_DATAGRAM];
	static __thread char keys[RB_MAX_BATCH][256];
	uint8_t value[RB_MAX_VALUE];
	uint8_t *bp[BURST];
	size_t klens[RB_MAX_BATCH], lens[BURST];
	unsigned offs[BURST];
	const char *kp[RB_MAX_BATCH];
	uint64_t seed = c->seed + w->idx * 0x1234567ull;
	uint64_t start, warm_end, end, next, id = 0, tail = 0, outstanding = 0;
	uint64_t timeout_ns = (uint64_t)c->timeout_ms * 1000000ull;
	uint64_t tick_ns = (uint64_t)c->tick_us * 1000u;
	double mean_gap = 1e9 / w->rate;
	struct rb_io *io = win ? c->io->open(c, w->idx) : NULL;

	if (!io) {
		w->rc = -1;
		free(win);
		pthread_barrier_wait(w->start);
		return NULL;
	}
	if (c->preload) {
		uint64_t t0 = rb_now_ns(), t;

		w->res.preload_missing = preload(w, io);
		/* A slow preload is the server's or the host's trouble, and
		 * the first thing to know when a run ends late. */
		t = rb_now_ns() - t0;
		if (t > 2000000000ull)
			fprintf(stderr, "ringbench: thread %u: preload took "
				"%.1f s (%llu keys unacknowledged)\n", w->idx,
				(double)t / 1e9,
				(unsigned long long)w->res.preload_missing);
	}
	/* Everyone starts the schedule together, after every preload. */
	pthread_barrier_wait(w->start);
	/* Wake on time: the default 50 us timer slack would smear the
	 * schedule. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	memset(value, 'v', sizeof(value));
	for (unsigned i = 0; i < RB_MAX_BATCH; i++)
		kp[i] = keys[i];
	for (unsigned i = 0; i < BURST; i++)
		bp[i] = bufs[i];
	start = rb_now_ns();
	warm_end = start + (uint64_t)(c->warmup * 1e9);
	end = warm_end + (uint64_t)(c->duration * 1e9);
	next = start;
	while (next < end) {
		uint64_t t = rb_now_ns();
		unsigned k = 0;

		/* Everything due by now goes out in one batch. */
		while (next <= t && next < end && k < BURST) {
			struct slot *s = &win[id % WINDOW];
			bool set = rb_uniform(&seed) >= c->get_ratio;
			unsigned n = set ? 1 : c->batch;

			if (s->sched) { /* window wrapped: it never came back */
				if (s->measured)
					w->res.timeouts++;
				outstanding--;
			}
			n = pick_batch(w, &seed, keys, klens, n);
			if (n == 0) {
				fprintf(stderr, "ringbench: thread %u found no key "
					"of partition %u in %llu keys\n", w->idx,
					w->idx, (unsigned long long)c->keys);
				w->rc = -1;
				goto out;
			}
			lens[k] = c->proto->encode(bufs[k], sizeof(bufs[k]),
						   (uint32_t)(id & c->proto->id_mask),
						   set, kp, klens, n, value,
						   c->value_size,
						   rb_pick_class(&seed),
						   c->partitions, &offs[k]);
			s->sched = next;
			s->set = set;
			s->n = (uint8_t)n;
			s->measured = next >= warm_end;
			if (s->measured) {
				w->res.sent++;
				if (t - next > 1000000)
					w->res.late++;
			}
			k++;
			id = (id + 1) & c->proto->id_mask;
			outstanding++;
			next += c->poisson ? (uint64_t)(-log(1.0 - rb_uniform(&seed)) *
							mean_gap)
					   : (uint64_t)mean_gap;
		}
		if (k && c->io->send(io, bp, lens, offs, k) != 0) {
			w->rc = -1;
			goto out;
		}
		if (k) {
			uint64_t ts = rb_now_ns();

			for (unsigned j = 0, sid = (id - k) & c->proto->id_mask;
			     j < k; j++, sid = (sid + 1) & c->proto->id_mask)
				win[sid % WINDOW].sent = ts;
		}
		w->progress_sent += k;
		receive(w, io, win, &outstanding);
		t = rb_now_ns();
		/* Nothing due: let the transport wait (sends due within a
		 * tick then leave together; their wait counts in latency). */
		if (k == 0 && next > t + 5000)
			c->io->idle(io, t, next + tick_ns);
		/* Expire from the oldest id forward. */
		while (tail != id) {
			struct slot *s = &win[tail % WINDOW];

			if (s->sched && t - s->sched < timeout_ns)
				break;
			if (s->sched) {
				if (s->measured)
					w->res.timeouts++;
				s->sched = 0;
				outstanding--;
			}
			tail = (tail + 1) & c->proto->id_mask;
		}
	}
	/* Collect the stragglers, up to the timeout. */
	for (uint64_t stop = rb_now_ns() + timeout_ns;
	     outstanding && rb_now_ns() < stop;)
		receive(w, io, win, &outstanding);
	for (unsigned i = 0; i < WINDOW; i++)
		if (win[i].sched && win[i].measured)
			w->res.timeouts++;
out:
	c->io->close(io);
	free(win);
	return NULL;
}

int rb_run(const struct rb_config *cfg, struct rb_result *res)
{
	struct worker *ws = calloc(cfg->threads, sizeof(*ws));
	pthread_barrier_t start;
	uint64_t t0;
	int rc = 0;

	if (!ws)
		return -1;
	if (cfg->io->init && cfg->io->init(cfg) != 0) {
		free(ws);
		return -1;
	}
	pthread_barrier_init(&start, NULL, cfg->threads);
	for (unsigned i = 0; i < cfg->threads; i++) {
		ws[i].cfg = cfg;
		ws[i].idx = i;
		ws[i].rate = cfg->rate / cfg->threads;
		ws[i].start = &start;
		if (cfg->zipf > 0)
			rb_zipf_init(&ws[i].zipf, cfg->keys, cfg->zipf);
		if (pthread_create(&ws[i].tid, NULL, thread_main, &ws[i]) != 0) {
			perror("ringbench: pthread_create");
			exit(1);
		}
	}
	t0 = rb_now_ns();
	if (cfg->progress) {
		double total = cfg->warmup + cfg->duration;

		for (;;) {
			uint64_t s = 0, r = 0;
			double el;

			usleep(1000000);
			el = (double)(rb_now_ns() - t0) / 1e9;
			for (unsigned i = 0; i < cfg->threads; i++) {
				s += ws[i].progress_sent;
				r += ws[i].progress_recv;
			}
			fprintf(stderr, "\r[%5.1f/%4.1f s] sent %llu, answered %llu (%.0f/s)   ",
				el, total, (unsigned long long)s,
				(unsigned long long)r, (double)r / el);
			if (el >= total)
				break;
		}
		fputc('\n', stderr);
	}
	memset(res, 0, sizeof(*res));
	rb_hist_init(&res->get);
	rb_hist_init(&res->set);
	rb_hist_init(&res->wire);
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct rb_result *r = &ws[i].res;

		pthread_join(ws[i].tid, NULL);
		if (ws[i].rc)
			rc = -1;
		rb_hist_merge(&res->get, &r->get);
		rb_hist_merge(&res->set, &r->set);
		rb_hist_merge(&res->wire, &r->wire);
		res->sent += r->sent;
		res->received += r->received;
		res->timeouts += r->timeouts;
		res->errors += r->errors;
		res->hits += r->hits;
		res->misses += r->misses;
		res->bad += r->bad;
		res->late += r->late;
		res->preload_missing += r->preload_missing;
	}
	res->elapsed = cfg->duration;
	pthread_barrier_destroy(&start);
	free(ws);
	return rc;
}
