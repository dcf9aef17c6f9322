/* SPDX-License-Identifier: MIT
 * The open-loop engine. Each thread owns a socket and a share of the rate;
 * sends follow a precomputed schedule (constant or Poisson) whatever the
 * server does, and latency runs from the *scheduled* send time, so a
 * stalled server shows its full delay (no coordinated omission). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "rc_proto.h"

#define WINDOW 65536u /* outstanding requests tracked per thread */
#define BURST 32

struct slot {
	uint64_t sched;   /* ns; 0 = free */
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
	pthread_t tid;
	int rc;
};

static uint64_t now_ns(void)
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

/* Keys of a GET batch must share a partition: draw the first, then draw
 * until the batch is full of keys of the same partition (bounded). */
static unsigned pick_batch(struct worker *w, uint64_t *seed, char keys[][256],
			   size_t *klens, unsigned want)
{
	const struct rb_config *c = w->cfg;
	struct rc_proto_digest d;
	unsigned n = 0, part = 0;

	for (unsigned tries = 0; n < want && tries < want * 16; tries++) {
		uint64_t k = pick_key(w, seed);
		size_t kl = rb_key(keys[n], c->key_size, k);
		unsigned p;

		if (c->proto == &rb_proto_ringcache && c->partitions > 1) {
			rc_proto_key_digest(keys[n], kl, &d);
			p = rc_proto_partition(&d, c->partitions);
			if (n == 0)
				part = p;
			else if (p != part)
				continue;
		}
		klens[n++] = kl;
	}
	return n;
}

static int make_socket(bool rx_stamps)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sz = 8 << 20, on = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (rx_stamps &&
	    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Kernel receive stamps are CLOCK_REALTIME; the schedule runs on
 * CLOCK_MONOTONIC. The offset is re-read often so slewing cannot drift. */
static int64_t realtime_offset(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000ll +
	       (r.tv_nsec - m.tv_nsec);
}

/* When the reply reached the socket, in CLOCK_MONOTONIC ns; `fallback`
 * (the read time) when the kernel attached no stamp. */
static uint64_t rx_stamp(struct msghdr *mh, int64_t rt_off, uint64_t fallback)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			int64_t t;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			t = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec - rt_off;
			return t > 0 && (uint64_t)t <= fallback ? (uint64_t)t : fallback;
		}
	}
	return fallback;
}

/* Drain one burst of replies. @return how many were read. */
static int receive(struct worker *w, int fd, struct slot *win,
		   uint64_t *outstanding, int64_t rt_off)
{
	static __thread uint8_t bufs[BURST][2048];
	static __thread uint8_t ctl[BURST][CMSG_SPACE(sizeof(struct timespec))];
	struct mmsghdr msgs[BURST];
	struct iovec iov[BURST];
	const struct rb_config *c = w->cfg;
	int n;

	for (unsigned i = 0; i < BURST; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (c->rx_stamps) {
			msgs[i].msg_hdr.msg_control = ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
	}
	n = recvmmsg(fd, msgs, BURST, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;
	uint64_t read_t = now_ns();

	for (int i = 0; i < n; i++) {
		uint64_t t = c->rx_stamps ? rx_stamp(&msgs[i].msg_hdr, rt_off, read_t)
					  : read_t;
		unsigned hits = 0, misses = 0, errors = 0;
		uint32_t id;
		struct slot *s;

		if (c->proto->decode(bufs[i], msgs[i].msg_len, &id, &hits,
				     &misses, &errors) != 0) {
			w->res.bad++;
			continue;
		}
		s = &win[id % WINDOW];
		if (!s->sched)
			continue; /* late reply to a request already timed out */
		(*outstanding)--;
		if (s->measured) {
			w->res.received++;
			rb_hist_record(s->set ? &w->res.set : &w->res.get,
				       t - s->sched);
			w->res.errors += errors;
			if (!s->set) {
				w->res.hits += hits;
				w->res.misses += s->n - hits - errors;
			}
		}
		s->sched = 0;
		w->progress_recv++;
	}
	return n;
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	const struct rb_config *c = w->cfg;
	struct slot *win = calloc(WINDOW, sizeof(*win));
	static __thread uint8_t bufs[BURST][RC_PROTO_MAX_DATAGRAM];
	static __thread char keys[RB_MAX_BATCH][256];
	uint8_t value[RB_MAX_VALUE];
	size_t klens[RB_MAX_BATCH];
	const char *kp[RB_MAX_BATCH];
	struct mmsghdr msgs[BURST];
	struct iovec iov[BURST];
	struct sockaddr_in to[BURST];
	uint64_t seed = c->seed + w->idx * 0x1234567ull;
	uint64_t start, warm_end, end, next, id = 0, tail = 0, outstanding = 0;
	uint64_t timeout_ns = (uint64_t)c->timeout_ms * 1000000ull;
	double mean_gap = 1e9 / w->rate;
	uint64_t tick_ns = (uint64_t)c->tick_us * 1000u;
	int64_t rt_off = realtime_offset();
	uint64_t rt_next = 0;
	int fd = make_socket(c->rx_stamps);

	if (!win || fd < 0) {
		perror("ringbench: socket");
		w->rc = -1;
		free(win);
		return NULL;
	}
	/* Wake on time: the default 50 us timer slack would smear the
	 * schedule. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	memset(value, 'v', sizeof(value));
	for (unsigned i = 0; i < RB_MAX_BATCH; i++)
		kp[i] = keys[i];
	rb_hist_init(&w->res.get);
	rb_hist_init(&w->res.set);
	start = now_ns();
	warm_end = start + (uint64_t)(c->warmup * 1e9);
	end = warm_end + (uint64_t)(c->duration * 1e9);
	next = start;
	while (next < end) {
		uint64_t t = now_ns();
		unsigned k = 0;

		/* Everything due by now goes out in one sendmmsg. */
		while (next <= t && next < end && k < BURST) {
			struct slot *s = &win[id % WINDOW];
			bool set = rb_uniform(&seed) >= c->get_ratio;
			unsigned n = set ? 1 : c->batch, port_off = 0;
			size_t len;

			if (s->sched) { /* window wrapped: it never came back */
				if (s->measured)
					w->res.timeouts++;
				outstanding--;
			}
			n = pick_batch(w, &seed, keys, klens, n);
			len = c->proto->encode(bufs[k], sizeof(bufs[k]),
					       (uint32_t)(id & c->proto->id_mask),
					       set, kp,
					       klens, n, value, c->value_size,
					       rb_pick_class(&seed), c->partitions,
					       &port_off);
			s->sched = next;
			s->set = set;
			s->n = (uint8_t)n;
			s->measured = next >= warm_end;
			if (s->measured) {
				w->res.sent++;
				if (t - next > 1000000)
					w->res.late++;
			}
			to[k] = c->server;
			to[k].sin_port = htons((uint16_t)(ntohs(c->server.sin_port) +
							  port_off));
			iov[k].iov_base = bufs[k];
			iov[k].iov_len = len;
			memset(&msgs[k].msg_hdr, 0, sizeof(msgs[k].msg_hdr));
			msgs[k].msg_hdr.msg_iov = &iov[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
			msgs[k].msg_hdr.msg_name = &to[k];
			msgs[k].msg_hdr.msg_namelen = sizeof(to[k]);
			k++;
			id = (id + 1) & c->proto->id_mask;
			outstanding++;
			next += c->poisson ? (uint64_t)(-log(1.0 - rb_uniform(&seed)) *
							mean_gap)
					   : (uint64_t)mean_gap;
		}
		for (unsigned sent = 0; sent < k;) {
			int r = sendmmsg(fd, msgs + sent, k - sent, 0);

			if (r < 0) {
				if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
					continue;
				perror("ringbench: sendmmsg");
				w->rc = -1;
				goto out;
			}
			sent += (unsigned)r;
		}
		w->progress_sent += k;
		while (receive(w, fd, win, &outstanding, rt_off) == BURST)
			;
		t = now_ns();
		if (t > rt_next) {
			rt_off = realtime_offset();
			rt_next = t + 100000000ull;
		}
		/* Nothing due: sleep in ppoll rather than spin. A spinning
		 * sender starves the softirq work (ksoftirqd) that delivers its
		 * own replies on the same CPU, which showed up as millisecond
		 * stalls. With kernel receive stamps a reply's time is fixed
		 * when it reaches the socket, so only sends need wake-ups. */
		if (k == 0 && next > t + 5000) {
			struct pollfd p = {.fd = fd,
					   .events = c->rx_stamps ? 0 : POLLIN};
			struct timespec ts = {0, (long)(next + tick_ns - t)};

			ppoll(&p, 1, &ts, NULL);
		}
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
	for (uint64_t stop = now_ns() + timeout_ns; outstanding && now_ns() < stop;)
		receive(w, fd, win, &outstanding, rt_off);
	for (unsigned i = 0; i < WINDOW; i++)
		if (win[i].sched && win[i].measured)
			w->res.timeouts++;
out:
	close(fd);
	free(win);
	return NULL;
}

int rb_run(const struct rb_config *cfg, struct rb_result *res)
{
	struct worker *ws = calloc(cfg->threads, sizeof(*ws));
	uint64_t t0 = now_ns();
	int rc = 0;

	if (!ws)
		return -1;
	for (unsigned i = 0; i < cfg->threads; i++) {
		ws[i].cfg = cfg;
		ws[i].idx = i;
		ws[i].rate = cfg->rate / cfg->threads;
		if (cfg->zipf > 0)
			rb_zipf_init(&ws[i].zipf, cfg->keys, cfg->zipf);
		if (pthread_create(&ws[i].tid, NULL, thread_main, &ws[i]) != 0) {
			perror("ringbench: pthread_create");
			return -1;
		}
	}
	if (cfg->progress) {
		double total = cfg->warmup + cfg->duration;

		for (;;) {
			uint64_t s = 0, r = 0;
			double el;

			usleep(1000000);
			el = (double)(now_ns() - t0) / 1e9;
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
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct rb_result *r = &ws[i].res;

		pthread_join(ws[i].tid, NULL);
		if (ws[i].rc)
			rc = -1;
		rb_hist_merge(&res->get, &r->get);
		rb_hist_merge(&res->set, &r->set);
		res->sent += r->sent;
		res->received += r->received;
		res->timeouts += r->timeouts;
		res->errors += r->errors;
		res->hits += r->hits;
		res->misses += r->misses;
		res->bad += r->bad;
		res->late += r->late;
	}
	res->elapsed = cfg->duration;
	free(ws);
	return rc;
}

uint64_t rb_preload(const struct rb_config *c)
{
	static uint8_t bufs[BURST][RC_PROTO_MAX_DATAGRAM], rbuf[2048];
	char key[256];
	const char *kp[1] = {key};
	uint8_t value[RB_MAX_VALUE];
	uint64_t missing = 0, seed = c->seed;
	uint32_t id = 0x40000000u & c->proto->id_mask;
	int fd = make_socket(false);

	if (fd < 0)
		return c->keys;
	memset(value, 'v', sizeof(value));
	for (uint64_t k0 = 0; k0 < c->keys; k0 += BURST) {
		unsigned n = (unsigned)(c->keys - k0 < BURST ? c->keys - k0 : BURST);
		bool acked[BURST] = {false};
		unsigned left = n;
		uint64_t stop;

		for (unsigned i = 0; i < n; i++) {
			struct sockaddr_in to = c->server;
			size_t kl = rb_key(key, c->key_size, k0 + i), len;
			unsigned port_off = 0;

			len = c->proto->encode(bufs[i], sizeof(bufs[i]),
					       (id + i) & c->proto->id_mask, true,
					       kp, &kl, 1, value, c->value_size,
					       rb_pick_class(&seed), c->partitions,
					       &port_off);
			to.sin_port = htons((uint16_t)(ntohs(to.sin_port) + port_off));
			sendto(fd, bufs[i], len, 0, (struct sockaddr *)&to, sizeof(to));
		}
		stop = now_ns() + (uint64_t)c->timeout_ms * 1000000ull;
		while (left && now_ns() < stop) {
			unsigned h = 0, m = 0, e = 0;
			uint32_t rid, off;
			ssize_t r = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);

			if (r <= 0 || c->proto->decode(rbuf, (size_t)r, &rid, &h, &m, &e))
				continue;
			off = (rid - id) & c->proto->id_mask;
			if (off < n && !acked[off] && e == 0) {
				acked[off] = true;
				left--;
			}
		}
		missing += left;
		id = (id + n) & c->proto->id_mask;
	}
	close(fd);
	return missing;
}
