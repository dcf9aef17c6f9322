/* SPDX-License-Identifier: MIT
 * Replication on the control core (see repl.h, docs/design.md
 * "Replication"). One TCP connection to the peer; the node whose
 * repl.listen sorts first dials it. Every frame is small except BATCH.
 *
 * Primary: each turn drains the workers' logs into numbered batches,
 * keeps them in a bounded backlog, and sends them from the backlog;
 * the standby's ACKs release durable replies (w->acked_wseq).
 * Standby: each batch's records go to the apply log of the worker that
 * owns their partition; a batch is acknowledged once every worker it
 * touched has applied its part. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "repl.h"
#include "rc_net.h"

#define LOG(l, fmt, ...) \
	RTE_LOG(l, USER1, "repl: " fmt "\n", ##__VA_ARGS__)

#define BATCH_BYTES (256u << 10)   /* a batch is cut at this size */
#define DRAIN_TURN_BYTES (4u << 20) /* records numbered in one turn */
#define WBUF_HIGH (4u << 20)       /* stop queueing batches past this */
#define RBUF_CAP (RC_REPL_MAX_FRAME + 64u)
#define DIAL_EVERY_NS 50000000ull  /* 50 ms between connection attempts */
#define PENDING_MAX 65536u         /* standby batches being applied */

/* prefer: who should lead when neither does. */
enum { PREFER_YIELD = 0, PREFER_STANDBY = 1, PREFER_PRIMARY = 2 };

struct batch {
	uint64_t first, last;
	uint64_t t_ns;               /* made (primary) / received (standby) */
	uint32_t len;                /* frame bytes (primary) */
	uint8_t *frame;
	uint64_t cnt[];              /* per worker: records drained / pushed */
};

/* A FIFO of batches. */
struct deq {
	struct batch **v;
	unsigned cap, head, n;
};

static int deq_init(struct deq *d, unsigned cap)
{
	d->v = calloc(cap, sizeof(*d->v));
	d->cap = cap;
	d->head = d->n = 0;
	return d->v ? 0 : -ENOMEM;
}

static inline struct batch *deq_at(const struct deq *d, unsigned i)
{
	return d->v[(d->head + i) % d->cap];
}

static inline void deq_push(struct deq *d, struct batch *b)
{
	d->v[(d->head + d->n++) % d->cap] = b;
}

static inline struct batch *deq_pop(struct deq *d)
{
	struct batch *b = d->v[d->head];

	d->head = (d->head + 1) % d->cap;
	d->n--;
	return b;
}

struct rcd_repl {
	struct rcd_node *nd;
	const struct rcd_config *cfg;
	unsigned nw;
	enum rc_repl_role role;
	enum rcd_repl_phase phase;
	uint32_t epoch;
	uint8_t prefer;
	uint32_t rank;
	char why[160];               /* the last role change, and why */
	uint64_t role_ns;            /* since when */
	uint64_t start_ns;

	/* Primary. */
	struct rc_repl_log *rlogs;
	uint64_t *drained;           /* per worker: records numbered */
	uint64_t stream, seq;        /* my stream; last record numbered */
	struct deq backlog;
	uint64_t backlog_bytes;
	uint64_t next_send;          /* next record to queue (0: none) */
	uint64_t acked;              /* the standby applied up to here */
	uint64_t ack_floor;          /* an ACK below this releases no held
				      * reply: the standby's copy is not
				      * whole before its snapshot ends
				      * (UINT64_MAX while it runs) */
	uint64_t resume_floor;       /* a standby resumes only from a record
				      * at or past this; below it lies a
				      * reset or a lost write (UINT64_MAX:
				      * no resume until the next reset) */
	uint64_t reset_seq;          /* the current resync's first record */
	bool peer_follows;           /* the peer said it is our standby */
	uint32_t snap_req;
	bool snap_running;
	uint64_t snap_end;           /* the snapshot ends here */
	bool snap_known;             /* snap_end is set (the pass is done) */
	bool acked_since_reset;      /* an ACK at or past the reset came */
	bool handover;               /* repl demote: writes refused, the
				      * standby is given what it lacks
				      * before the role goes */
	uint64_t handover_deadline;
	bool publish_pending;        /* promoted: the workers take writes
				      * once the epoch is on disk */
	bool publish_late_logged;
	uint32_t unsent_batches;     /* and how many batches that is */
	uint64_t unsent_bytes;       /* backlog the standby still needs
				      * sent (flow control) */
	uint64_t snap_items_total, overflow_seen;
	uint8_t *cur;                /* the batch being filled */
	uint32_t cur_len, cur_n;
	uint64_t cur_first;

	/* Standby. */
	struct rc_repl_log *alogs;
	uint64_t *pushed;            /* per worker: records queued */
	struct deq pending;          /* batches not yet all applied */
	uint64_t follow;             /* stream followed (0: none) */
	uint64_t recv_seq;           /* last record queued */
	uint64_t applied_seq, acked_sent;
	uint64_t in_snap_end;        /* SNAPSHOT_DONE's seq */
	bool in_snap_known;          /* SNAPSHOT_DONE came */
	bool applied_known;          /* applied_seq is past the last RESET's
				      * CLEAR (a mark was applied since) */
	bool partial_logged;         /* "not promoting" said once */
	uint64_t synced_seq;         /* a complete copy up to here */
	uint64_t primary_seq;        /* the primary's last, from beats */
	uint64_t reset_pending;      /* RESET waiting for room in the logs */
	bool clear_queued[RCD_MAX_WORKERS];
	uint32_t bat_off;            /* progress inside a blocked batch */
	uint64_t bat_seq;

	/* Connection. */
	int lfd, fd;
	bool dialer, connecting, hello_in;
	struct sockaddr_in listen_addr, peer_addr;
	uint8_t *rbuf, *wbuf;
	size_t rlen, wlen, woff, wcap;
	struct rc_repl_hello peer;
	uint64_t last_rx_ns, last_beat_ns, last_dial_ns;
	uint64_t peer_primary_ns;    /* last sign of a live primary peer */
	bool refused_logged;

	/* Data-network heartbeats. */
	struct rcd_hb hb;
	uint64_t hb_seen;
	struct rc_repl_hello hb_peer;
	uint64_t hb_peer_ns;

	struct rcd_repl_stats st;

	/* Authentication (repl.key_file); authed false: repl.insecure. */
	struct rc_repl_auth auth;
	bool authed;
	bool head_authed;            /* the frame at rbuf[0] was verified
				      * (it waits on full apply logs) */
	uint64_t auth_logged_ns;     /* last "not authentic" log line */

	/* Its own thread: no control-socket client, flush, warm or slow
	 * disk on the control core can silence the heartbeats. mu guards
	 * everything above against the control core's calls (status,
	 * gauges, promote, demote). */
	pthread_t th;
	bool th_running;
	volatile int th_quit;
	pthread_mutex_t mu;
	uint64_t turn_max_ns;        /* longest turn of the thread */

	/* The epoch file is written by a thread of its own: an fsync can
	 * take seconds, and the heartbeats must not wait on a disk. */
	pthread_t ew_th;
	bool ew_running, ew_quit;
	pthread_mutex_t ew_mu;
	pthread_cond_t ew_cv;
	uint32_t ew_want;            /* epoch to write (ew_mu) */
	uint32_t ew_saved;           /* last epoch on disk (atomic) */
	uint64_t ew_max_ns;          /* longest write */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return -1;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

const char *rcd_repl_phase_name(unsigned phase)
{
	static const char *const n[] = {"none", "snapshot", "streaming"};

	return phase < 3 ? n[phase] : "unknown";
}

/* ---- roles ------------------------------------------------------------ */

/* Write the epoch file: a new file, synced, renamed over the old one.
 * @return 0, or -1 (logged). */
static int write_epoch(const char *path, uint32_t epoch)
{
	char tmp[RC_OPT_STR_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "epoch %u\n", epoch) < 0 || fflush(f) ||
	    fsync(fileno(f))) {
		LOG(ERR, "cannot save epoch %u to %s: %s", epoch, tmp,
		    strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	if (fclose(f) || rename(tmp, path)) {
		LOG(ERR, "cannot save epoch %u to %s: %s", epoch, path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void *epoch_thread(void *arg)
{
	struct rcd_repl *r = arg;

	pthread_mutex_lock(&r->ew_mu);
	for (;;) {
		uint32_t e;
		uint64_t t0, t;

		while (!r->ew_quit &&
		       r->ew_want == __atomic_load_n(&r->ew_saved,
						     __ATOMIC_ACQUIRE))
			pthread_cond_wait(&r->ew_cv, &r->ew_mu);
		/* On the way out the last epoch asked for is still written. */
		if (r->ew_want == __atomic_load_n(&r->ew_saved, __ATOMIC_ACQUIRE))
			break;
		e = r->ew_want;
		pthread_mutex_unlock(&r->ew_mu);
		t0 = mono_ns();
		/* A failed write is logged; the node goes on (as before it
		 * had a thread): a restart may then start at an older
		 * epoch, which the peer's newer one overrules. */
		write_epoch(r->cfg->repl_state_file, e);
		t = mono_ns() - t0;
		if (t > r->ew_max_ns)
			r->ew_max_ns = t;
		__atomic_store_n(&r->ew_saved, e, __ATOMIC_RELEASE);
		pthread_mutex_lock(&r->ew_mu);
	}
	pthread_mutex_unlock(&r->ew_mu);
	return NULL;
}

/* Ask for r->epoch on disk; epoch_saved() tells when it is. */
static void save_epoch(struct rcd_repl *r)
{
	if (!r->ew_running) {
		__atomic_store_n(&r->ew_saved, r->epoch, __ATOMIC_RELEASE);
		return;
	}
	pthread_mutex_lock(&r->ew_mu);
	r->ew_want = r->epoch;
	pthread_cond_signal(&r->ew_cv);
	pthread_mutex_unlock(&r->ew_mu);
}

static bool epoch_saved(const struct rcd_repl *r)
{
	return __atomic_load_n(&r->ew_saved, __ATOMIC_ACQUIRE) == r->epoch;
}

static uint32_t load_epoch(const struct rcd_config *cfg)
{
	unsigned e = 0;
	FILE *f;

	if (!cfg->repl_state_file[0])
		return 0;
	f = fopen(cfg->repl_state_file, "r");
	if (!f)
		return 0;
	if (fscanf(f, "epoch %u", &e) != 1)
		e = 0;
	fclose(f);
	return e;
}

static void me_hello(const struct rcd_repl *r, struct rc_repl_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->version = RC_REPL_VERSION;
	h->epoch = r->epoch;
	h->role = (uint8_t)r->role;
	h->prefer = r->prefer;
	h->partitions = (uint16_t)r->nw;
	h->rank = r->rank;
	h->stream = r->role == RC_REPL_PRIMARY ? r->stream : r->follow;
	h->seq = r->role == RC_REPL_PRIMARY ? r->seq : r->recv_seq;
	h->time_ns = mono_ns();
	h->synced_seq = r->synced_seq;
}

static void publish_role(struct rcd_repl *r)
{
	struct rcd_node *nd = r->nd;

	for (unsigned i = 0; i < r->nw; i++) {
		struct rcd_worker *w = nd->workers[i];

		w->p.epoch = r->epoch;
		__atomic_store_n(&w->p.role, (uint8_t)r->role, __ATOMIC_RELEASE);
		if (r->role != RC_REPL_PRIMARY)
			w->p.durable_ok = 0;
	}
	nd->ifc.vip = r->role == RC_REPL_PRIMARY ? r->cfg->repl_vip : 0;
}

static void set_why(struct rcd_repl *r, const char *why)
{
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->role_ns = mono_ns();
}

static void send_frame(struct rcd_repl *r, uint8_t type, const void *body,
		       uint32_t len);
static void send_hello(struct rcd_repl *r, uint8_t type);
static void handover_step(struct rcd_repl *r);
static void yield_role(struct rcd_repl *r);

/* Queue a frame for a data-network send by worker 0. */
static void ctl_send(struct rcd_repl *r, struct rte_mbuf *m)
{
	struct rcd_worker *w0 = r->nd->workers[0];

	if (rte_ring_sp_enqueue(w0->ctl_tx, m) != 0)
		rte_pktmbuf_free(m);
}

static void announce_vip(struct rcd_repl *r)
{
	struct rte_mbuf *m;

	if (!r->cfg->repl_vip)
		return;
	m = rte_pktmbuf_alloc(r->nd->pools[0]);
	if (!m)
		return;
	/* Gratuitous: a request for our own address. */
	if (rc_net_arp_request_build(m, &r->nd->ifc.mac, r->cfg->repl_vip,
				     r->cfg->repl_vip) != 0) {
		rte_pktmbuf_free(m);
		return;
	}
	ctl_send(r, m);
}

static void promote(struct rcd_repl *r, const char *why)
{
	uint32_t e = r->epoch;

	if (r->peer.epoch > e)
		e = r->peer.epoch;
	if (r->hb_peer.epoch > e)
		e = r->hb_peer.epoch;
	if (e >= RC_REPL_EPOCH_MAX - 1) {
		/* Epochs only grow: wrapping to 0 would let a stale node
		 * win. Never reached from a genuine history. */
		static bool logged;

		if (!logged)
			LOG(ERR, "not promoting: epoch %u would wrap (%s)", e,
			    why);
		logged = true;
		return;
	}
	r->epoch = e + 1;
	save_epoch(r);
	r->role = RC_REPL_PRIMARY;
	if (getrandom(&r->stream, sizeof(r->stream), 0) != sizeof(r->stream))
		r->stream = mono_ns();
	r->stream |= 1;
	r->seq = 0;
	r->acked = r->ack_floor = r->resume_floor = 0;
	r->next_send = 0;
	r->unsent_bytes = 0;
	r->unsent_batches = 0;
	r->peer_follows = false;
	r->snap_running = false;
	r->snap_end = 0;
	r->snap_known = false;
	r->handover = false;
	r->reset_pending = 0;
	memset(r->clear_queued, 0, sizeof(r->clear_queued));
	r->phase = RCD_PHASE_NONE;
	/* What the standby had queued is applied by the workers before
	 * they take a write (worker loop); nothing more is queued. */
	while (r->pending.n)
		free(deq_pop(&r->pending));
	while (r->backlog.n) {
		struct batch *b = deq_pop(&r->backlog);

		free(b->frame);
		free(b);
	}
	r->backlog_bytes = 0;
	/* Records left in the logs from an earlier term as primary are not
	 * this stream's: they go before the count restarts (the workers
	 * take no write until publish_role, so the logs stay empty). */
	for (unsigned i = 0; i < r->nw; i++) {
		const uint8_t *q;
		uint32_t len;

		while ((q = rc_repl_log_peek(&r->rlogs[i], &len)) != NULL)
			rc_repl_log_release(&r->rlogs[i], len);
		r->drained[i] = r->nd->workers[i]->p.wseq;
	}
	r->st.promotions++;
	set_why(r, why);
	LOG(NOTICE, "PROMOTED to primary at epoch %u: %s", r->epoch, why);
	/* Writes are taken once the epoch is on disk (epoch_thread); the
	 * turn publishes the role then. */
	r->publish_pending = true;
	if (r->fd >= 0 && !r->connecting)
		send_hello(r, RC_REPL_F_HELLO);
}

/* The workers take writes at the new epoch once it is saved. */
static void publish_when_saved(struct rcd_repl *r)
{
	if (!r->publish_pending)
		return;
	if (!epoch_saved(r)) {
		/* A disk that does not answer keeps this node from taking
		 * writes while it says it is primary: say so, loudly. */
		if (!r->publish_late_logged &&
		    mono_ns() - r->role_ns >
			    r->cfg->repl_failover_ms * 1000000ull) {
			LOG(ERR, "promoted %lu ms ago and the epoch is still "
			    "not on disk (%s): no writes are taken until it "
			    "is", (unsigned long)((mono_ns() - r->role_ns) /
						  1000000),
			    r->cfg->repl_state_file);
			r->publish_late_logged = true;
		}
		return;
	}
	r->publish_late_logged = false;
	r->publish_pending = false;
	if (r->role != RC_REPL_PRIMARY || r->handover)
		return;
	publish_role(r);
	announce_vip(r);
}

static void follow(struct rcd_repl *r, const struct rc_repl_hello *p,
		   const char *why)
{
	bool was_primary = r->role == RC_REPL_PRIMARY;

	if ((r->role == RC_REPL_STANDBY && r->epoch == p->epoch) ||
	    p->epoch == RC_REPL_EPOCH_MAX)
		return;
	r->role = RC_REPL_STANDBY;
	if (p->epoch > r->epoch) {
		r->epoch = p->epoch;
		save_epoch(r);
		/* A new primary: a yield (repl demote) has done its job. */
		if (r->prefer == PREFER_YIELD)
			r->prefer = strcmp(r->cfg->repl_role, "primary") == 0
					    ? PREFER_PRIMARY : PREFER_STANDBY;
	}
	if (was_primary) {
		r->follow = 0; /* my own writes: the new primary resets me */
		r->synced_seq = 0;
		r->st.demotions++;
		LOG(NOTICE, "DEMOTED to standby at epoch %u: %s", r->epoch,
		    why);
	} else {
		LOG(NOTICE, "standby of the peer at epoch %u: %s", r->epoch,
		    why);
	}
	r->peer_follows = false;
	r->publish_pending = false;
	r->handover = false;
	r->partial_logged = false;
	r->reset_pending = 0;
	memset(r->clear_queued, 0, sizeof(r->clear_queued));
	r->phase = RCD_PHASE_NONE;
	r->peer_primary_ns = mono_ns();
	set_why(r, why);
	publish_role(r);
	if (r->fd >= 0 && !r->connecting)
		send_hello(r, RC_REPL_F_HELLO);
}

/* ---- the connection --------------------------------------------------- */

static void conn_close(struct rcd_repl *r, const char *why)
{
	if (r->fd < 0)
		return;
	close(r->fd);
	r->fd = -1;
	r->connecting = false;
	if (r->hello_in) {
		LOG(WARNING, "peer connection closed: %s", why);
		r->st.disconnects++;
	}
	r->hello_in = false;
	r->rlen = r->wlen = r->woff = 0;
	r->head_authed = false;
	r->bat_off = 0;
	r->peer_follows = false;
	if (r->role == RC_REPL_PRIMARY) {
		r->phase = RCD_PHASE_NONE;
		for (unsigned i = 0; i < r->nw; i++)
			r->nd->workers[i]->p.durable_ok = 0;
	}
}

static void conn_up(struct rcd_repl *r, int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->fd = fd;
	r->connecting = false;
	r->hello_in = false;
	r->rlen = r->wlen = r->woff = 0;
	r->head_authed = false;
	r->bat_off = 0;
	r->last_rx_ns = mono_ns();
	/* An ACK lost with the old connection is sent again (a hand-over
	 * waits for it). */
	r->acked_sent = 0;
	/* The peer's first frame here must be fresh (auth window). */
	rc_repl_auth_new_conn(&r->auth);
	send_hello(r, RC_REPL_F_HELLO);
}

static void send_frame(struct rcd_repl *r, uint8_t type, const void *body,
		       uint32_t len)
{
	const uint32_t tr = r->authed ? RC_REPL_AUTH_LEN : 0;
	size_t need = r->wlen + RC_REPL_FRAME_HDR + len + tr;

	if (r->fd < 0 || r->connecting)
		return;
	if (need > r->wcap) {
		size_t cap = r->wcap;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(r->wbuf, cap);
		if (!p) {
			conn_close(r, "out of memory");
			return;
		}
		r->wbuf = p;
		r->wcap = cap;
	}
	rc_repl_frame_hdr(r->wbuf + r->wlen, type, len + tr);
	memcpy(r->wbuf + r->wlen + RC_REPL_FRAME_HDR, body, len);
	if (r->authed)
		rc_repl_auth_seal(&r->auth, RC_REPL_CH_STREAM,
				  r->wbuf + r->wlen, RC_REPL_FRAME_HDR + len,
				  real_ns());
	r->wlen += RC_REPL_FRAME_HDR + len + tr;
}

static void send_hello(struct rcd_repl *r, uint8_t type)
{
	struct rc_repl_hello h;
	uint8_t b[RC_REPL_HELLO_LEN];

	me_hello(r, &h);
	rc_repl_hello_encode(b, &h);
	send_frame(r, type, b, sizeof(b));
	if (type == RC_REPL_F_BEAT)
		r->st.beats_out++;
}

static void send_seq(struct rcd_repl *r, uint8_t type, uint64_t seq)
{
	uint8_t b[RC_REPL_SEQ_BODY];

	rc_repl_seq_encode(b, seq, r->role == RC_REPL_PRIMARY ? r->stream
							      : r->follow,
			   mono_ns());
	send_frame(r, type, b, sizeof(b));
}

static void flush_out(struct rcd_repl *r)
{
	while (r->fd >= 0 && !r->connecting && r->woff < r->wlen) {
		ssize_t n = send(r->fd, r->wbuf + r->woff, r->wlen - r->woff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(r, strerror(errno));
			return;
		}
		r->woff += (size_t)n;
		r->st.bytes_out += (uint64_t)n;
	}
	if (r->woff == r->wlen)
		r->woff = r->wlen = 0;
}

static void dial(struct rcd_repl *r, uint64_t now)
{
	int fd;

	if (!r->dialer || r->fd >= 0 || now - r->last_dial_ns < DIAL_EVERY_NS)
		return;
	r->last_dial_ns = now;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&r->peer_addr,
		    sizeof(r->peer_addr)) == 0) {
		conn_up(r, fd);
		return;
	}
	if (errno != EINPROGRESS) {
		close(fd);
		return;
	}
	r->fd = fd;
	r->connecting = true;
}

static void accept_peer(struct rcd_repl *r)
{
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	int fd = accept4(r->lfd, (struct sockaddr *)&from, &fl,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (from.sin_addr.s_addr != r->peer_addr.sin_addr.s_addr) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &from.sin_addr, a, sizeof(a));
		LOG(WARNING, "refused a replication connection from %s (not "
		    "repl.peer)", a);
		close(fd);
		return;
	}
	/* With a key, a live authenticated connection is not given up for
	 * one nobody has authenticated yet: whoever can connect from the
	 * peer's address could otherwise cut it at will. A peer that really
	 * came back is heard no more on the old one: that one goes silent
	 * (or is closed by the peer's kernel) and the next dial succeeds. */
	if (r->authed && r->fd >= 0 && !r->connecting && r->hello_in &&
	    mono_ns() - r->last_rx_ns < r->cfg->repl_failover_ms * 1000000ull) {
		r->st.refused_peers++;
		close(fd);
		return;
	}
	/* The peer came back: its new connection replaces the old one. */
	conn_close(r, "peer reconnected");
	conn_up(r, fd);
}

/* ---- primary: batches -------------------------------------------------- */

/* The standby applied every record up to seq. Held durable replies are
 * released by per-worker counts, which cover every write before them;
 * that is only true of the standby's copy once its snapshot (which
 * carries the writes from before the reset) is applied: below
 * ack_floor nothing is released. */
static void release_acked(struct rcd_repl *r)
{
	const uint64_t seq = r->acked;
	const struct batch *last = NULL;

	if (r->phase == RCD_PHASE_SNAPSHOT && r->snap_known &&
	    r->acked_since_reset && seq >= r->snap_end) {
		r->phase = RCD_PHASE_STREAMING;
		LOG(NOTICE, "the standby is in step: snapshot applied up to "
		    "record %lu", (unsigned long)r->snap_end);
	}
	if (seq < r->ack_floor)
		return;
	for (unsigned i = 0; i < r->backlog.n; i++) {
		const struct batch *b = deq_at(&r->backlog, i);

		if (b->last > seq)
			break;
		last = b;
	}
	if (!last)
		return;
	for (unsigned w = 0; w < r->nw; w++)
		if (last->cnt[w] > r->nd->workers[w]->acked_wseq)
			__atomic_store_n(&r->nd->workers[w]->acked_wseq,
					 last->cnt[w], __ATOMIC_RELEASE);
}

static void ack_upto(struct rcd_repl *r, uint64_t seq)
{
	/* The standby's ACK of the reset's own mark (reset_seq - 1, once
	 * its CLEAR is applied) or later. */
	if (seq + 1 >= r->reset_seq)
		r->acked_since_reset = true;
	if (seq <= r->acked) {
		release_acked(r);
		return;
	}
	r->acked = seq;
	release_acked(r);
}

static void start_reset(struct rcd_repl *r, const char *why)
{
	r->reset_seq = r->seq + 1;
	r->acked = 0; /* the standby's copy is cleared first */
	r->acked_since_reset = false;
	r->ack_floor = UINT64_MAX;
	r->resume_floor = UINT64_MAX;
	r->next_send = r->reset_seq;
	r->unsent_bytes = 0;
	r->unsent_batches = 0;
	r->snap_req++;
	r->snap_running = true;
	r->snap_end = 0;
	r->snap_known = false;
	r->snap_items_total = 0;
	for (unsigned w = 0; w < r->nw; w++) {
		struct rcd_worker *wk = r->nd->workers[w];

		r->snap_items_total += wk->stats.store.items;
		__atomic_store_n(&wk->snap_req, r->snap_req, __ATOMIC_RELEASE);
	}
	r->phase = RCD_PHASE_SNAPSHOT;
	r->st.resets++;
	send_seq(r, RC_REPL_F_RESET, r->reset_seq);
	LOG(NOTICE, "full resync of the standby from record %lu: %s",
	    (unsigned long)r->reset_seq, why);
}

static void finish_batch(struct rcd_repl *r, uint64_t now)
{
	struct batch *b;

	if (!r->cur_n)
		return;
	b = malloc(sizeof(*b) + r->nw * sizeof(uint64_t));
	if (!b) {
		/* The batch's records are numbered and gone from the logs: a
		 * hole. Its buffer goes too (a later batch must not be
		 * written into it at offset 0), and the standby is reset. */
		free(r->cur);
		r->cur = NULL;
		r->cur_n = r->cur_len = 0;
		r->st.backlog_dropped++;
		if (r->peer_follows && r->next_send)
			r->next_send = UINT64_MAX;
		r->resume_floor = UINT64_MAX;
		return;
	}
	rc_repl_frame_hdr(r->cur, RC_REPL_F_BATCH,
			  r->cur_len - RC_REPL_FRAME_HDR);
	rc_repl_batch_hdr(r->cur + RC_REPL_FRAME_HDR, r->cur_first, r->cur_n,
			  now);
	b->first = r->cur_first;
	b->last = r->cur_first + r->cur_n - 1;
	b->t_ns = now;
	b->len = r->cur_len;
	b->frame = r->cur;
	memcpy(b->cnt, r->drained, r->nw * sizeof(uint64_t));
	r->cur = NULL;
	r->cur_n = r->cur_len = 0;
	/* Bounded: the oldest go, and a standby that still needed them
	 * will get a full resync. */
	while (r->backlog.n == r->backlog.cap ||
	       (r->backlog.n && r->backlog_bytes + b->len > r->cfg->repl_backlog)) {
		struct batch *o = deq_pop(&r->backlog);

		r->backlog_bytes -= o->len;
		if (r->peer_follows && r->next_send && o->last >= r->next_send &&
		    r->next_send != UINT64_MAX) {
			/* Unsent: flow control (drain_logs) keeps this from
			 * happening; if it does, the copy has a hole. */
			r->next_send = UINT64_MAX;
			r->unsent_bytes = 0;
			r->unsent_batches = 0;
		}
		r->st.backlog_dropped++;
		free(o->frame);
		free(o);
	}
	deq_push(&r->backlog, b);
	r->backlog_bytes += b->len;
	if (r->peer_follows && r->next_send && r->next_send != UINT64_MAX) {
		r->unsent_bytes += b->len;
		r->unsent_batches++;
	}
}

/* Flow control: while the standby has this much still to be sent, the
 * workers' records stay in their logs (a snapshot pass waits there for
 * room; a client write finds the other half of the log free). Half the
 * backlog, so that what is unsent is never what finish_batch drops. */
static bool send_window_full(const struct rcd_repl *r)
{
	return r->peer_follows && r->next_send &&
	       r->next_send != UINT64_MAX &&
	       (r->unsent_bytes >= r->cfg->repl_backlog / 2 ||
		r->unsent_batches >= r->backlog.cap / 2);
}

/* Number and batch what the workers logged. */
static bool drain_logs(struct rcd_repl *r, uint64_t now)
{
	bool did = false;

	for (unsigned w = 0; w < r->nw; w++) {
		struct rc_repl_log *l = &r->rlogs[w];
		const uint8_t *p;
		uint32_t len;
		uint64_t budget = DRAIN_TURN_BYTES / r->nw;

		/* Bounded per turn, each worker its share: heartbeats and
		 * ACKs are never behind more than a few ms of copying. */
		while (budget && (r->role != RC_REPL_PRIMARY ||
				  !send_window_full(r)) &&
		       (p = rc_repl_log_peek(l, &len)) != NULL) {
			did = true;
			budget = budget > len ? budget - len : 0;
			if (r->role != RC_REPL_PRIMARY) {
				/* Not ours to send (a demoted node's last
				 * writes): the new primary resets the copy. */
				rc_repl_log_release(l, len);
				r->drained[w]++;
				continue;
			}
			if (r->cur && r->cur_len + len > BATCH_BYTES)
				finish_batch(r, now);
			if (!r->cur) {
				uint32_t cap = BATCH_BYTES > len + 64
						       ? BATCH_BYTES + 64
						       : len + 64;

				r->cur = malloc(cap + RC_REPL_FRAME_HDR +
						RC_REPL_BATCH_HDR);
				if (!r->cur)
					return did;
				r->cur_len = RC_REPL_FRAME_HDR +
					     RC_REPL_BATCH_HDR;
				r->cur_first = r->seq + 1;
			}
			memcpy(r->cur + r->cur_len, p, len);
			r->cur_len += len;
			r->cur_n++;
			r->seq++;
			r->drained[w]++;
			rc_repl_log_release(l, len);
		}
	}
	finish_batch(r, now);
	return did;
}

/* Queue backlog batches from next_send, as far as the socket keeps up. */
static bool feed(struct rcd_repl *r)
{
	bool did = false;

	if (!r->peer_follows || !r->next_send || r->fd < 0 || r->connecting)
		return false;
	if (r->next_send == UINT64_MAX) {
		start_reset(r, "the backlog no longer holds what it missed");
		did = true;
	}
	for (unsigned i = 0; i < r->backlog.n && r->wlen < WBUF_HIGH; i++) {
		struct batch *b = deq_at(&r->backlog, i);

		if (b->last < r->next_send)
			continue;
		send_frame(r, RC_REPL_F_BATCH, b->frame + RC_REPL_FRAME_HDR,
			   b->len - RC_REPL_FRAME_HDR);
		r->next_send = b->last + 1;
		r->unsent_bytes = r->unsent_bytes > b->len
					  ? r->unsent_bytes - b->len : 0;
		r->unsent_batches -= r->unsent_batches != 0;
		r->st.batches_out++;
		r->st.records_out += b->last - b->first + 1;
		did = true;
	}
	return did;
}

/* The snapshot is complete once every worker finished its pass and its
 * last record is numbered. */
static void check_snapshot(struct rcd_repl *r)
{
	if (!r->snap_running)
		return;
	for (unsigned w = 0; w < r->nw; w++)
		if (__atomic_load_n(&r->nd->workers[w]->snap_done,
				    __ATOMIC_ACQUIRE) != r->snap_req)
			return;
	/* Done flags are set after the records are in the logs; the pass
	 * is numbered once every worker's count reaches where it ended
	 * (flow control may hold records back for a while). */
	drain_logs(r, mono_ns());
	for (unsigned w = 0; w < r->nw; w++)
		if (r->drained[w] < r->nd->workers[w]->snap_wseq)
			return;
	r->snap_running = false;
	r->snap_end = r->seq;
	r->snap_known = true;
	r->ack_floor = r->snap_end;
	r->resume_floor = r->snap_end;
	send_seq(r, RC_REPL_F_SNAPSHOT_DONE, r->snap_end);
	LOG(NOTICE, "snapshot complete: records %lu..%lu",
	    (unsigned long)r->reset_seq, (unsigned long)r->snap_end);
	release_acked(r); /* an empty snapshot may be acked already */
}

/* A standby says hello: resume it from the backlog, or resync it. */
static void start_feed(struct rcd_repl *r, const struct rc_repl_hello *p)
{
	r->peer_follows = true;
	for (unsigned w = 0; w < r->nw; w++)
		r->nd->workers[w]->p.durable_ok = 1;
	/* Same stream, a complete copy, and what it lacks still at hand
	 * (nothing, or the backlog from its next record on): resume. */
	if (p->stream == r->stream && p->synced_seq != 0 && p->seq <= r->seq &&
	    p->seq >= r->resume_floor &&
	    (p->seq == r->seq ||
	     (r->backlog.n && deq_at(&r->backlog, 0)->first <= p->seq + 1))) {
		r->next_send = p->seq + 1;
		r->unsent_bytes = 0;
		r->unsent_batches = 0;
		for (unsigned i = 0; i < r->backlog.n; i++)
			if (deq_at(&r->backlog, i)->first >= r->next_send) {
				r->unsent_bytes += deq_at(&r->backlog, i)->len;
				r->unsent_batches++;
			}
		r->phase = RCD_PHASE_STREAMING;
		r->st.resumes++;
		LOG(NOTICE, "standby resumes from record %lu",
		    (unsigned long)r->next_send);
		return;
	}
	start_reset(r, p->stream == r->stream ? "standby too far behind"
					      : "standby holds another copy");
}

/* ---- standby: applying batches ------------------------------------------ */

static bool queue_clear(struct rcd_repl *r)
{
	for (unsigned w = 0; w < r->nw; w++) {
		struct rc_repl_rec c = {.type = RC_REPL_CLEAR,
					.partition = (uint16_t)w};
		uint32_t n = rc_repl_rec_size(0, 0);
		uint8_t *p;

		if (r->clear_queued[w])
			continue;
		p = rc_repl_log_reserve(&r->alogs[w], n);
		if (!p)
			return false;
		rc_repl_rec_encode(p, &c);
		rc_repl_log_commit(&r->alogs[w], n);
		r->pushed[w]++;
		r->clear_queued[w] = true;
	}
	return true;
}

static bool push_mark(struct rcd_repl *r, uint64_t last, uint64_t now)
{
	struct batch *b;

	if (r->pending.n == r->pending.cap)
		return false;
	b = malloc(sizeof(*b) + r->nw * sizeof(uint64_t));
	if (!b)
		return false;
	b->first = b->last = last;
	b->t_ns = now;
	b->len = 0;
	b->frame = NULL;
	memcpy(b->cnt, r->pushed, r->nw * sizeof(uint64_t));
	deq_push(&r->pending, b);
	return true;
}

/* @return 1 done, 0 blocked (logs full: try again), -1 bad batch. */
static int take_batch(struct rcd_repl *r, const uint8_t *body, uint32_t len,
		      uint64_t now)
{
	uint64_t first, tns;
	uint32_t count;

	rc_repl_batch_hdr_decode(body, &first, &count, &tns);
	if (r->reset_pending || r->follow == 0 || r->role != RC_REPL_STANDBY)
		return r->reset_pending ? 0 : 1; /* not ours to apply */
	if (r->bat_off == 0) {
		if (first > r->recv_seq + 1) {
			LOG(ERR, "stream gap: batch from %lu after %lu",
			    (unsigned long)first, (unsigned long)r->recv_seq);
			return -1;
		}
		r->bat_off = RC_REPL_BATCH_HDR;
		r->bat_seq = first;
	}
	while (r->bat_off < len) {
		struct rc_repl_rec rec;
		uint32_t n = rc_repl_rec_decode(body + r->bat_off,
						len - r->bat_off, &rec);
		uint8_t *p;

		if (!n || rec.partition >= r->nw || rec.type == RC_REPL_CLEAR)
			return -1;
		if (r->bat_seq > r->recv_seq) {
			p = rc_repl_log_reserve(&r->alogs[rec.partition], n);
			if (!p)
				return 0;
			memcpy(p, body + r->bat_off, n);
			rc_repl_log_commit(&r->alogs[rec.partition], n);
			r->pushed[rec.partition]++;
			r->recv_seq = r->bat_seq;
			r->st.records_in++;
		}
		r->bat_off += n;
		r->bat_seq++;
	}
	if (r->bat_seq != first + count)
		return -1;
	if (!push_mark(r, r->recv_seq, now))
		return 0;
	r->bat_off = 0;
	r->st.batches_in++;
	return 1;
}

/* Batches whose every record is applied: acknowledge them. */
static void check_applied(struct rcd_repl *r)
{
	while (r->pending.n) {
		struct batch *b = deq_at(&r->pending, 0);

		for (unsigned w = 0; w < r->nw; w++)
			if (__atomic_load_n(&r->nd->workers[w]->applied,
					    __ATOMIC_ACQUIRE) < b->cnt[w])
				goto out;
		r->applied_seq = b->last;
		r->applied_known = true;
		free(deq_pop(&r->pending));
	}
out:
	if (r->in_snap_known && r->applied_known &&
	    r->applied_seq >= r->in_snap_end &&
	    r->phase == RCD_PHASE_SNAPSHOT) {
		/* 0 is a record number here (an empty stream); synced_seq
		 * 0 means "no complete copy" to the primary. */
		r->synced_seq = r->in_snap_end ? r->in_snap_end : 1;
		r->phase = RCD_PHASE_STREAMING;
		r->partial_logged = false;
		LOG(NOTICE, "in step with the primary: snapshot applied up "
		    "to record %lu", (unsigned long)r->in_snap_end);
	}
	if (r->applied_seq > r->acked_sent && r->fd >= 0 && r->hello_in &&
	    r->role == RC_REPL_STANDBY) {
		send_seq(r, RC_REPL_F_ACK, r->applied_seq);
		r->acked_sent = r->applied_seq;
		r->st.acks_out++;
	}
}

static int take_reset(struct rcd_repl *r, uint64_t seq, uint64_t stream)
{
	if (r->role != RC_REPL_STANDBY)
		return 1;
	if (r->reset_pending != seq) {
		memset(r->clear_queued, 0, sizeof(r->clear_queued));
		r->reset_pending = seq;
		/* From here the copy is being cleared: not in step, whatever
		 * happens to the RESET (detect() must not promote it). */
		r->phase = RCD_PHASE_SNAPSHOT;
		r->synced_seq = 0;
		r->in_snap_known = false;
	}
	if (!queue_clear(r))
		return 0;
	r->reset_pending = 0;
	r->follow = stream;
	r->recv_seq = seq - 1;
	r->in_snap_end = 0;
	r->in_snap_known = false;
	r->synced_seq = 0;
	r->phase = RCD_PHASE_SNAPSHOT;
	/* Older marks belong to the copy being cleared. */
	while (r->pending.n)
		free(deq_pop(&r->pending));
	r->applied_seq = r->acked_sent = 0;
	r->applied_known = false;
	push_mark(r, seq - 1, mono_ns());
	r->st.resets++;
	LOG(NOTICE, "primary resets this copy: clearing, snapshot from "
	    "record %lu", (unsigned long)seq);
	return 1;
}

/* ---- frames in ---------------------------------------------------------- */

static void peer_info(struct rcd_repl *r, const struct rc_repl_hello *h,
		      bool hello)
{
	struct rc_repl_hello me;
	char why[128];

	if (h->version != RC_REPL_VERSION || h->partitions != r->nw) {
		if (!r->refused_logged)
			LOG(ERR, "peer refused: version %u, %u partitions (we "
			    "have %u, %u): configure the same dpdk.workers",
			    h->version, h->partitions, RC_REPL_VERSION, r->nw);
		r->refused_logged = true;
		r->st.refused_peers++;
		conn_close(r, "incompatible peer");
		return;
	}
	r->peer = *h;
	if (h->role == RC_REPL_PRIMARY) {
		r->peer_primary_ns = mono_ns();
		r->primary_seq = h->seq;
	}
	me_hello(r, &me);
	if (rc_repl_should_follow(&me, h)) {
		snprintf(why, sizeof(why), "peer is primary at epoch %u",
			 h->epoch);
		follow(r, h, why);
		return;
	}
	if (r->role != RC_REPL_PRIMARY && h->role != RC_REPL_PRIMARY &&
	    rc_repl_should_lead(&me, h)) {
		promote(r, "elected: neither node was primary");
		return;
	}
	if (r->role == RC_REPL_PRIMARY && hello && h->role == RC_REPL_STANDBY)
		start_feed(r, h);
}

/* @return 1 consumed, 0 blocked, -1 bad. */
static int take_frame(struct rcd_repl *r, uint8_t type, const uint8_t *body,
		      uint32_t len, uint64_t now)
{
	struct rc_repl_hello h;
	uint64_t seq, stream, tns;

	switch (type) {
	case RC_REPL_F_HELLO:
	case RC_REPL_F_BEAT:
		rc_repl_hello_decode(body, &h);
		if (type == RC_REPL_F_HELLO)
			r->hello_in = true;
		else
			r->st.beats_in++;
		if (!r->hello_in)
			return -1;
		peer_info(r, &h, type == RC_REPL_F_HELLO);
		return 1;
	case RC_REPL_F_BATCH:
		r->st.bytes_in += len;
		return take_batch(r, body, len, now);
	case RC_REPL_F_ACK:
		rc_repl_seq_decode(body, &seq, &stream, &tns);
		r->st.acks_in++;
		if (r->role == RC_REPL_PRIMARY && stream == r->stream)
			ack_upto(r, seq);
		return 1;
	case RC_REPL_F_RESET:
		rc_repl_seq_decode(body, &seq, &stream, &tns);
		return seq ? take_reset(r, seq, stream) : -1;
	case RC_REPL_F_SNAPSHOT_DONE:
		rc_repl_seq_decode(body, &seq, &stream, &tns);
		if (stream == r->follow) {
			r->in_snap_end = seq;
			r->in_snap_known = true;
		}
		return 1;
	default:
		return -1;
	}
}

/* Log a refused frame or beat, at most once a second. */
static void auth_log(struct rcd_repl *r, const char *what,
		     enum rc_repl_auth_verdict v)
{
	uint64_t now = mono_ns();

	if (r->auth_logged_ns && now - r->auth_logged_ns < 1000000000ull)
		return;
	r->auth_logged_ns = now;
	LOG(WARNING, "%s dropped: %s (counted in repl_bad_auth / "
	    "repl_replayed)", what,
	    v == RC_REPL_AUTH_BAD ? "not authentic (wrong key, forged or "
				   "no authentication)"
	    : v == RC_REPL_AUTH_STALE ? "time outside repl.auth_window_ms "
					"(old capture, or the clocks differ)"
				      : "replayed (counter or session seen)");
}

/* Verify one whole stream frame: a frame that is not authentic, or is
 * old, is never acted upon; the connection is closed (the stream after
 * it cannot be trusted to be whole). @return true if it is good. */
static bool auth_frame(struct rcd_repl *r, const uint8_t *f, size_t n)
{
	enum rc_repl_auth_verdict v =
		rc_repl_auth_open(&r->auth, RC_REPL_CH_STREAM, f, n, real_ns());

	if (v == RC_REPL_AUTH_OK)
		return true;
	if (v == RC_REPL_AUTH_BAD)
		r->st.bad_auth++;
	else
		r->st.replayed++;
	auth_log(r, "replication frame", v);
	conn_close(r, "frame not authentic");
	return false;
}

static bool read_in(struct rcd_repl *r, uint64_t now)
{
	bool did = false;
	size_t off = 0;

	if (r->fd < 0 || r->connecting)
		return false;
	if (r->rlen < RBUF_CAP) {
		ssize_t n = recv(r->fd, r->rbuf + r->rlen, RBUF_CAP - r->rlen,
				 MSG_DONTWAIT);

		if (n == 0) {
			conn_close(r, "closed by the peer");
			return true;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_close(r, strerror(errno));
			return true;
		}
		if (n > 0) {
			r->rlen += (size_t)n;
			r->last_rx_ns = now;
			did = true;
		}
	}
	while (r->fd >= 0) {
		uint8_t type;
		const uint8_t *body;
		uint32_t blen;
		size_t used;
		int rc = rc_repl_frame_next(r->rbuf + off, r->rlen - off,
					    &type, &body, &blen, &used);

		if (rc == 0)
			break;
		if (rc > 0 && r->authed) {
			if (!(off == 0 && r->head_authed) &&
			    !auth_frame(r, r->rbuf + off, used))
				return true;
			blen -= RC_REPL_AUTH_LEN;
			if (blen < rc_repl_frame_min_body(type))
				rc = -1;
		}
		if (rc > 0)
			rc = take_frame(r, type, body, blen, now);
		if (rc < 0) {
			r->st.bad_frames++;
			conn_close(r, "malformed frame");
			return true;
		}
		if (rc == 0) {
			/* Blocked on full apply logs: the primary is alive,
			 * we are just behind. The frame is verified: it is
			 * taken again, not verified again (its counter is
			 * no longer new). */
			r->head_authed = r->authed;
			r->last_rx_ns = now;
			break;
		}
		r->head_authed = false;
		off += used;
		did = true;
	}
	if (r->fd >= 0 && off) {
		memmove(r->rbuf, r->rbuf + off, r->rlen - off);
		r->rlen -= off;
	}
	return did;
}

/* ---- heartbeats and failure detection ------------------------------------ */

static void data_beat(struct rcd_repl *r)
{
	struct rc_net_udp_addr a;
	struct rc_repl_hello h;
	uint8_t b[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN];
	uint32_t n = RC_REPL_HELLO_LEN;
	struct rte_mbuf *m;

	if (!r->cfg->repl_peer_data_ip)
		return;
	m = rte_pktmbuf_alloc(r->nd->pools[0]);
	if (!m)
		return;
	memset(&a, 0, sizeof(a));
	a.src_mac = r->nd->ifc.mac;
	if (r->hb_seen)
		memcpy(&a.dst_mac, r->hb.mac, sizeof(a.dst_mac));
	else
		memset(&a.dst_mac, 0xff, sizeof(a.dst_mac)); /* not learnt */
	a.src_ip = r->nd->ifc.ip;
	a.dst_ip = r->cfg->repl_peer_data_ip;
	a.src_port = a.dst_port = (uint16_t)r->cfg->repl_hb_port;
	me_hello(r, &h);
	rc_repl_hello_encode(b, &h);
	if (r->authed) {
		rc_repl_auth_seal(&r->auth, RC_REPL_CH_DATA, b, n, real_ns());
		n += RC_REPL_AUTH_LEN;
	}
	if (rc_net_udp_build(m, &a, b, n) != 0) {
		rte_pktmbuf_free(m);
		return;
	}
	ctl_send(r, m);
	r->st.hb_data_out++;
}

/* The newest data-network heartbeat, if a new one came. */
static void read_data_beat(struct rcd_repl *r)
{
	uint8_t body[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN];
	uint64_t count, last;
	uint32_t g1, g2;

	g1 = __atomic_load_n(&r->hb.gen, __ATOMIC_ACQUIRE);
	if (g1 & 1)
		return;
	memcpy(body, (const void *)r->hb.body, sizeof(body));
	count = r->hb.count;
	last = r->hb.last_ns;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	g2 = __atomic_load_n(&r->hb.gen, __ATOMIC_ACQUIRE);
	if (g1 != g2 || count == r->hb_seen)
		return;
	r->hb_seen = count;
	if (r->authed) {
		/* The worker checked the tag; old or seen is ours to tell. */
		enum rc_repl_auth_verdict v = rc_repl_auth_open(
			&r->auth, RC_REPL_CH_DATA, body, r->hb.len, real_ns());

		if (v != RC_REPL_AUTH_OK) {
			if (v == RC_REPL_AUTH_BAD)
				r->st.bad_auth++;
			else
				r->st.replayed++;
			auth_log(r, "data-network heartbeat", v);
			return;
		}
	}
	rc_repl_hello_decode(body, &r->hb_peer);
	if (r->hb_peer.version != RC_REPL_VERSION)
		return;
	r->hb_peer_ns = last;
	if (r->hb_peer.role == RC_REPL_PRIMARY)
		r->peer_primary_ns = last > r->peer_primary_ns
					     ? last
					     : r->peer_primary_ns;
	/* A primary that hears of a newer primary steps down at once,
	 * whichever network told it. */
	if (r->role == RC_REPL_PRIMARY) {
		struct rc_repl_hello me;

		me_hello(r, &me);
		if (rc_repl_should_follow(&me, &r->hb_peer)) {
			char why[128];

			snprintf(why, sizeof(why), "data-network heartbeat: "
				 "peer is primary at epoch %u",
				 r->hb_peer.epoch);
			r->peer = r->hb_peer;
			follow(r, &r->hb_peer, why);
		}
	}
}

static void detect(struct rcd_repl *r)
{
	/* Fresh: frames handled this turn may be newer than its start. */
	const uint64_t now = mono_ns();
	const uint64_t fo = r->cfg->repl_failover_ms * 1000000ull;
	char why[128];

	/* A connected peer that went quiet is gone. */
	if (r->fd >= 0 && !r->connecting && r->hello_in &&
	    now - r->last_rx_ns > fo)
		conn_close(r, "peer silent");
	if (r->fd >= 0 && r->connecting &&
	    now - r->last_dial_ns > 20 * DIAL_EVERY_NS)
		conn_close(r, "connect timed out");
	if (r->role == RC_REPL_STANDBY) {
		uint64_t heard = r->peer_primary_ns;

		if (r->fd >= 0 && r->hello_in && r->last_rx_ns > heard &&
		    r->peer.role == RC_REPL_PRIMARY)
			heard = r->last_rx_ns;
		if (heard < now && now - heard > fo) {
			if (r->phase != RCD_PHASE_STREAMING) {
				/* Serving a partial copy would lose what it
				 * lacks, and the old primary would copy it
				 * back from us: an operator decides. */
				if (!r->partial_logged)
					LOG(ERR, "primary silent for %lu ms, "
					    "not promoting: this copy is %s "
					    "(%lu records in); `ringctl repl "
					    "promote --force` serves it anyway",
					    (unsigned long)((now - heard) /
							    1000000),
					    r->phase == RCD_PHASE_SNAPSHOT
						    ? "partial (a resync was "
						      "under way)"
						    : "not in step with this "
						      "primary's stream",
					    (unsigned long)r->st.records_in);
				r->partial_logged = true;
				return;
			}
			snprintf(why, sizeof(why), "primary silent on both "
				 "networks for %lu ms",
				 (unsigned long)((now - heard) / 1000000));
			promote(r, why);
		}
	} else if (r->role == RC_REPL_JOINING) {
		uint64_t wait = r->cfg->repl_join_ms * 1000000ull;

		if (r->prefer != PREFER_PRIMARY)
			wait *= 3;
		if (now - r->start_ns > wait &&
		    (r->peer_primary_ns > now || now - r->peer_primary_ns > fo) &&
		    !(r->fd >= 0 && r->hello_in)) {
			promote(r, "no peer answered at start-up");
		}
	}
}

/* ---- the turn ----------------------------------------------------------- */

static bool repl_turn(struct rcd_repl *r)
{
	const uint64_t now = mono_ns();
	const uint64_t beat = r->cfg->repl_heartbeat_ms * 1000000ull;
	bool did = false;

	if (r->role == RC_REPL_STANDALONE)
		return false;
	/* Workers that lost records: the standby's copy has a hole. */
	if (r->role == RC_REPL_PRIMARY) {
		uint64_t of = 0;

		for (unsigned w = 0; w < r->nw; w++)
			of += r->nd->workers[w]->stats.srv.repl_overflow;
		if (of != r->overflow_seen) {
			r->overflow_seen = of;
			if (r->peer_follows) {
				r->st.overflow_resets++;
				start_reset(r, "a worker's replication log "
					       "overflowed");
			} else {
				/* Nobody to reset now: whoever comes back
				 * lacks the lost writes and is reset then. */
				r->resume_floor = UINT64_MAX;
			}
		}
	}
	publish_when_saved(r);
	did |= drain_logs(r, now);
	check_snapshot(r);
	/* The connection. */
	if (r->fd < 0)
		dial(r, now);
	{
		struct pollfd p[2] = {{.fd = r->lfd, .events = POLLIN},
				      {.fd = r->fd, .events = POLLIN}};

		if (r->fd >= 0 && (r->connecting || r->woff < r->wlen))
			p[1].events |= POLLOUT;
		if (poll(p, r->fd >= 0 ? 2 : 1, 0) > 0) {
			if (p[0].revents & POLLIN)
				accept_peer(r);
			if (r->fd >= 0 && r->connecting &&
			    (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
				int err = 0;
				socklen_t el = sizeof(err);

				getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err,
					   &el);
				if (err) {
					close(r->fd);
					r->fd = -1;
					r->connecting = false;
				} else {
					int fd = r->fd;

					r->st.connects++;
					conn_up(r, fd);
				}
			}
		}
	}
	did |= read_in(r, now);
	read_data_beat(r);
	if (r->role == RC_REPL_STANDBY)
		check_applied(r);
	did |= feed(r);
	if (now - r->last_beat_ns >= beat) {
		r->last_beat_ns = now;
		if (r->fd >= 0 && !r->connecting && r->hello_in)
			send_hello(r, RC_REPL_F_BEAT);
		data_beat(r);
	}
	handover_step(r);
	flush_out(r);
	detect(r);
	return did;
}

/* ---- set-up -------------------------------------------------------------- */

/* Read a key file: a regular file, not readable by group or other, of
 * 32 raw bytes or 64 hex characters. @return 0, or -1 (logged, one
 * line). */
static int load_key(const char *opt, const char *path, uint8_t *key)
{
	uint8_t buf[2 * RC_REPL_KEY_LEN + 3];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		LOG(ERR, "%s %s: %s", opt, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IRWXG | S_IRWXO))) {
		LOG(ERR, "%s %s: refusing a key that is not a regular file of "
		    "mode 0600 or 0400 (mode %03o): chmod go= %s",
		    opt, path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || rc_repl_key_parse(buf, (size_t)n, key) != 0) {
		LOG(ERR, "%s %s: expected 32 random bytes or 64 hex "
		    "characters (head -c 32 /dev/urandom > %s)", opt, path,
		    path);
		memset(buf, 0, sizeof(buf));
		return -1;
	}
	memset(buf, 0, sizeof(buf));
	return 0;
}

static int auth_setup(struct rcd_repl *r)
{
	const struct rcd_config *cfg = r->cfg;
	uint8_t key[RC_REPL_KEY_LEN], next[RC_REPL_KEY_LEN];
	uint64_t session;
	int rc = -1;

	if (!cfg->repl_key_file[0]) {
		if (!cfg->repl_insecure) {
			LOG(ERR, "refusing to replicate without repl.key_file "
			    "(or repl.insecure = true)");
			return -1;
		}
		LOG(WARNING, "repl.insecure: replication and heartbeats are "
		    "NOT authenticated; anyone who reaches the management "
		    "network or the heartbeat port can demote this node or "
		    "fake its peer");
		return 0;
	}
	if (load_key("repl.key_file", cfg->repl_key_file, key) != 0 ||
	    (cfg->repl_key_file_next[0] &&
	     load_key("repl.key_file_next", cfg->repl_key_file_next, next) !=
		     0))
		goto out;
	if (getrandom(&session, sizeof(session), 0) != sizeof(session)) {
		LOG(ERR, "repl: no random session id: %s", strerror(errno));
		goto out;
	}
	if (rc_repl_auth_init(&r->auth, key,
			      cfg->repl_key_file_next[0] ? next : NULL, session,
			      cfg->repl_auth_window_ms * 1000000ull) != 0) {
		LOG(ERR, "repl: libsodium failed to start");
		goto out;
	}
	r->authed = true;
	LOG(INFO, "replication authenticated (repl.key_file%s)",
	    cfg->repl_key_file_next[0] ? ", repl.key_file_next accepted too"
				       : "");
	rc = 0;
out:
	memset(key, 0, sizeof(key));
	memset(next, 0, sizeof(next));
	return rc;
}

struct rcd_repl *rcd_repl_create(struct rcd_node *nd)
{
	const struct rcd_config *cfg = &nd->cfg;
	struct rcd_repl *r = calloc(1, sizeof(*r));
	int one = 1;

	if (!r)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->ew_mu, NULL);
	pthread_cond_init(&r->ew_cv, NULL);
	r->nd = nd;
	r->cfg = cfg;
	r->nw = nd->n_workers;
	r->fd = r->lfd = -1;
	r->epoch = (uint32_t)cfg->epoch;
	r->start_ns = r->role_ns = mono_ns();
	if (strcmp(cfg->repl_role, "standalone") == 0) {
		r->role = RC_REPL_STANDALONE;
		set_why(r, "repl.role = standalone");
		return r;
	}
	{
		uint32_t saved = load_epoch(cfg);

		if (saved > r->epoch)
			r->epoch = saved;
		r->ew_want = r->ew_saved = r->epoch;
	}
	r->role = RC_REPL_JOINING;
	r->prefer = strcmp(cfg->repl_role, "primary") == 0 ? PREFER_PRIMARY
							   : PREFER_STANDBY;
	set_why(r, "starting: looking for the peer");
	if (auth_setup(r) != 0)
		goto fail;
	if (parse_addr(cfg->repl_listen, &r->listen_addr) != 0 ||
	    parse_addr(cfg->repl_peer, &r->peer_addr) != 0) {
		LOG(ERR, "repl.listen '%s' / repl.peer '%s': expected "
		    "IPV4:PORT", cfg->repl_listen, cfg->repl_peer);
		goto fail;
	}
	r->rank = ntohl(r->listen_addr.sin_addr.s_addr) * 65536u +
		  ntohs(r->listen_addr.sin_port);
	r->dialer = strcmp(cfg->repl_listen, cfg->repl_peer) < 0;
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->lfd < 0 ||
	    setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(r->lfd, (struct sockaddr *)&r->listen_addr,
		 sizeof(r->listen_addr)) ||
	    listen(r->lfd, 4)) {
		LOG(ERR, "repl.listen %s: %s", cfg->repl_listen,
		    strerror(errno));
		goto fail;
	}
	r->rlogs = calloc(r->nw, sizeof(*r->rlogs));
	r->alogs = calloc(r->nw, sizeof(*r->alogs));
	r->drained = calloc(r->nw, sizeof(uint64_t));
	r->pushed = calloc(r->nw, sizeof(uint64_t));
	r->rbuf = malloc(RBUF_CAP);
	r->wcap = 1 << 20;
	r->wbuf = malloc(r->wcap);
	if (!r->rlogs || !r->alogs || !r->drained || !r->pushed || !r->rbuf ||
	    !r->wbuf || deq_init(&r->backlog, 1u << 16) ||
	    deq_init(&r->pending, PENDING_MAX))
		goto nomem;
	for (unsigned w = 0; w < r->nw; w++) {
		struct rcd_worker *wk = nd->workers[w];
		char name[32];

		if (rc_repl_log_init(&r->rlogs[w], cfg->repl_log_size) ||
		    rc_repl_log_init(&r->alogs[w], cfg->repl_log_size))
			goto nomem;
		wk->p.rlog = &r->rlogs[w];
		wk->alog = &r->alogs[w];
		wk->hb = &r->hb;
		wk->durable_wait_tsc =
			wk->tsc_hz / 1000 * cfg->repl_durable_ms;
		snprintf(name, sizeof(name), "ctl_tx%u", w);
		if (w == 0) {
			wk->ctl_tx = rte_ring_create(name, 256, SOCKET_ID_ANY,
						     RING_F_SP_ENQ |
							     RING_F_SC_DEQ);
			if (!wk->ctl_tx)
				goto nomem;
		}
	}
	r->hb.peer_ip = ntohl(cfg->repl_peer_data_ip);
	r->hb.len = RC_REPL_HELLO_LEN + (r->authed ? RC_REPL_AUTH_LEN : 0);
	r->hb.auth = r->authed ? &r->auth : NULL;
	nd->ifc.extra_port =
		cfg->repl_peer_data_ip ? (uint16_t)cfg->repl_hb_port : 0;
	publish_role(r);
	LOG(INFO, "replication: prefers %s, epoch %u, listening on %s, peer "
	    "%s (%s)", cfg->repl_role, r->epoch, cfg->repl_listen,
	    cfg->repl_peer, r->dialer ? "we dial" : "it dials");
	return r;
nomem:
	LOG(ERR, "replication: out of memory (repl.log_size %lu per worker, "
	    "twice)", (unsigned long)cfg->repl_log_size);
fail:
	rcd_repl_destroy(r);
	return NULL;
}

bool rcd_repl_poll(struct rcd_repl *r)
{
	uint64_t t0 = mono_ns(), t;
	bool did;

	pthread_mutex_lock(&r->mu);
	did = repl_turn(r);
	t = mono_ns() - t0;
	if (t > r->turn_max_ns)
		r->turn_max_ns = t;
	pthread_mutex_unlock(&r->mu);
	return did;
}

static void *repl_thread(void *arg)
{
	struct rcd_repl *r = arg;
	/* An idle turn sleeps 20 us: it must wake on time (the default
	 * 50 us slack would add itself to every durable acknowledgement). */
	const struct timespec idle = {0, 20000};

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	while (!r->th_quit)
		if (!rcd_repl_poll(r))
			nanosleep(&idle, NULL);
	return NULL;
}

int rcd_repl_start(struct rcd_repl *r)
{
	int e;

	if (!r || r->role == RC_REPL_STANDALONE)
		return 0;
	if (r->cfg->repl_state_file[0]) {
		e = pthread_create(&r->ew_th, NULL, epoch_thread, r);
		if (e != 0) {
			LOG(ERR, "cannot start the epoch-file thread: %s",
			    strerror(e));
			return -e;
		}
		pthread_setname_np(r->ew_th, "rc-epoch");
		r->ew_running = true;
	}
	e = pthread_create(&r->th, NULL, repl_thread, r);
	if (e != 0) {
		LOG(ERR, "cannot start the replication thread: %s",
		    strerror(e));
		return -e;
	}
	pthread_setname_np(r->th, "rc-repl");
	r->th_running = true;
	return 0;
}

void rcd_repl_destroy(struct rcd_repl *r)
{
	if (!r)
		return;
	if (r->th_running) {
		r->th_quit = 1;
		pthread_join(r->th, NULL);
		r->th_running = false;
	}
	if (r->ew_running) {
		pthread_mutex_lock(&r->ew_mu);
		r->ew_quit = true;
		pthread_cond_signal(&r->ew_cv);
		pthread_mutex_unlock(&r->ew_mu);
		pthread_join(r->ew_th, NULL);
		r->ew_running = false;
	}
	conn_close(r, "shutting down");
	if (r->lfd >= 0)
		close(r->lfd);
	for (unsigned w = 0; r->rlogs && w < r->nw; w++) {
		r->nd->workers[w]->p.rlog = NULL;
		r->nd->workers[w]->alog = NULL;
		rc_repl_log_free(&r->rlogs[w]);
		rc_repl_log_free(&r->alogs[w]);
	}
	while (r->backlog.v && r->backlog.n) {
		struct batch *b = deq_pop(&r->backlog);

		free(b->frame);
		free(b);
	}
	while (r->pending.v && r->pending.n)
		free(deq_pop(&r->pending));
	free(r->backlog.v);
	free(r->pending.v);
	free(r->cur);
	free(r->rlogs);
	free(r->alogs);
	free(r->drained);
	free(r->pushed);
	free(r->rbuf);
	free(r->wbuf);
	rc_repl_auth_wipe(&r->auth);
	free(r);
}

/* ---- operator ------------------------------------------------------------ */

static int promote_locked(struct rcd_repl *r, bool force, char *err,
			  size_t errlen)
{
	if (r->role == RC_REPL_STANDALONE) {
		snprintf(err, errlen, "replication is off (repl.role = "
			 "standalone)");
		return -1;
	}
	if (r->role == RC_REPL_PRIMARY) {
		snprintf(err, errlen, "already primary at epoch %u", r->epoch);
		return -1;
	}
	if (r->role == RC_REPL_STANDBY && r->phase != RCD_PHASE_STREAMING &&
	    !force) {
		snprintf(err, errlen, "this standby's copy is %s: promoting "
			 "it serves a cache without what it lacks, and resets "
			 "the old primary from it when it returns; `ringctl "
			 "repl promote --force` does it anyway",
			 r->phase == RCD_PHASE_SNAPSHOT ? "partial (resync "
			 "under way)" : "not in step");
		return -1;
	}
	r->prefer = PREFER_PRIMARY;
	if (force && r->role == RC_REPL_STANDBY &&
	    r->phase != RCD_PHASE_STREAMING) {
		LOG(WARNING, "operator forces the promotion of a %s copy "
		    "(%lu records in)", r->phase == RCD_PHASE_SNAPSHOT
		    ? "partial" : "not in step", (unsigned long)r->st.records_in);
		promote(r, "operator: ringctl repl promote --force");
	} else {
		promote(r, "operator: ringctl repl promote");
	}
	return 0;
}

/* Workers' role only (the replication state stays primary during a
 * hand-over: durable replies are still confirmed). */
static void workers_role(struct rcd_repl *r, enum rc_repl_role role)
{
	for (unsigned i = 0; i < r->nw; i++)
		__atomic_store_n(&r->nd->workers[i]->p.role, (uint8_t)role,
				 __ATOMIC_RELEASE);
}

static int demote_locked(struct rcd_repl *r, char *err, size_t errlen)
{
	if (r->role != RC_REPL_PRIMARY) {
		snprintf(err, errlen, "not primary (role %s)",
			 rc_repl_role_name(r->role));
		return -1;
	}
	if (r->handover) {
		snprintf(err, errlen, "a hand-over is already under way");
		return -1;
	}
	if (r->publish_pending) {
		snprintf(err, errlen, "just promoted: the epoch is not on disk "
			 "yet; try again");
		return -1;
	}
	if (r->fd < 0 || !r->hello_in || !r->peer_follows ||
	    r->phase != RCD_PHASE_STREAMING) {
		snprintf(err, errlen, "no standby in step to take over (it "
			 "would leave no primary): check `ringctl repl "
			 "status`");
		return -1;
	}
	/* No new write from here; the role goes once the standby has
	 * applied every write acknowledged so far (handover_step). */
	r->handover = true;
	r->handover_deadline =
		mono_ns() + 10 * r->cfg->repl_failover_ms * 1000000ull;
	workers_role(r, RC_REPL_STANDBY);
	LOG(NOTICE, "hand-over: writes refused; the role goes once the "
	    "standby has every record");
	return 0;
}

/* The hand-over, each turn: done when every worker has seen the new
 * role (no write is on its way into a log), every record is numbered
 * and the standby acknowledged the last; abandoned (still primary) if
 * that takes ten failover periods. */
static void handover_step(struct rcd_repl *r)
{
	if (!r->handover)
		return;
	if (r->role != RC_REPL_PRIMARY) {
		r->handover = false;
		return;
	}
	for (unsigned w = 0; w < r->nw; w++) {
		uint32_t len;

		if (__atomic_load_n(&r->nd->workers[w]->role_seen,
				    __ATOMIC_ACQUIRE) != RC_REPL_STANDBY ||
		    rc_repl_log_peek(&r->rlogs[w], &len) != NULL)
			goto wait;
	}
	if (r->cur_n == 0 && r->acked >= r->seq &&
	    r->phase == RCD_PHASE_STREAMING && r->fd >= 0 && r->hello_in) {
		r->handover = false;
		yield_role(r);
		return;
	}
wait:
	if (mono_ns() > r->handover_deadline) {
		r->handover = false;
		workers_role(r, RC_REPL_PRIMARY);
		LOG(ERR, "hand-over abandoned: the standby acknowledged %lu "
		    "of %lu records in %lu ms; still primary",
		    (unsigned long)r->acked, (unsigned long)r->seq,
		    (unsigned long)(10 * r->cfg->repl_failover_ms));
	}
}

/* The standby has everything: yield, and the peer, now the only
 * candidate, promotes itself. */
static void yield_role(struct rcd_repl *r)
{
	r->prefer = PREFER_YIELD;
	r->synced_seq = 0; /* the peer's copy is the one in step now */
	r->role = RC_REPL_STANDBY;
	r->follow = 0;
	r->peer_follows = false;
	r->st.demotions++;
	set_why(r, "operator: ringctl repl demote");
	publish_role(r);
	r->peer_primary_ns = mono_ns(); /* give the peer time to promote */
	LOG(NOTICE, "DEMOTED by the operator at epoch %u (record %lu "
	    "acknowledged)", r->epoch, (unsigned long)r->acked);
	send_hello(r, RC_REPL_F_HELLO);
}

int rcd_repl_promote(struct rcd_repl *r, bool force, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = promote_locked(r, force, err, errlen);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int rcd_repl_demote(struct rcd_repl *r, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = demote_locked(r, err, errlen);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

enum rc_repl_role rcd_repl_role(const struct rcd_repl *r)
{
	/* One word, written only by the replication thread: a racy read
	 * sees the old role or the new one. */
	return __atomic_load_n(&r->role, __ATOMIC_RELAXED);
}

uint32_t rcd_repl_epoch(const struct rcd_repl *r)
{
	return r->epoch;
}

static void gauges_locked(const struct rcd_repl *r, struct rcd_repl_gauges *g,
			  struct rcd_repl_stats *st)
{
	const uint64_t now = mono_ns();

	memset(g, 0, sizeof(*g));
	*st = r->st;
	/* Forged heartbeats the workers dropped, before any replay check. */
	st->bad_auth += __atomic_load_n(&r->hb.bad_auth, __ATOMIC_RELAXED);
	st->replayed += __atomic_load_n(&r->hb.replayed, __ATOMIC_RELAXED);
	g->role = r->role;
	g->phase = r->phase;
	g->epoch = r->epoch;
	g->connected = r->fd >= 0 && !r->connecting && r->hello_in;
	g->peer_alive_data =
		r->hb_seen && now - r->hb_peer_ns <
				      r->cfg->repl_failover_ms * 1000000ull;
	if (r->role == RC_REPL_PRIMARY) {
		g->seq = r->seq;
		g->acked = r->acked;
		if (r->peer_follows) {
			g->lag_records = r->seq > r->acked ? r->seq - r->acked
							   : 0;
			for (unsigned i = 0; i < r->backlog.n; i++) {
				const struct batch *b = deq_at(&r->backlog, i);

				if (b->last > r->acked) {
					g->lag_seconds =
						(double)(now - b->t_ns) / 1e9;
					break;
				}
			}
		}
		if (r->phase == RCD_PHASE_SNAPSHOT) {
			uint64_t done = 0;

			for (unsigned w = 0; w < r->nw; w++)
				done += r->nd->workers[w]->snap_cur.items;
			g->snapshot_progress =
				r->snap_running
					? (r->snap_items_total
						   ? (double)done /
							     (double)r->snap_items_total
						   : 0.0)
					: 1.0;
			if (g->snapshot_progress > 1.0)
				g->snapshot_progress = 1.0;
		}
	} else if (r->role == RC_REPL_STANDBY) {
		g->seq = r->recv_seq;
		g->applied = r->applied_seq;
		g->acked = r->acked_sent;
		g->lag_records = r->primary_seq > r->applied_seq
					 ? r->primary_seq - r->applied_seq
					 : 0;
		if (r->pending.n)
			g->lag_seconds =
				(double)(now - deq_at(&r->pending, 0)->t_ns) /
				1e9;
		if (r->phase == RCD_PHASE_SNAPSHOT)
			g->snapshot_progress =
				r->in_snap_end
					? (double)r->applied_seq /
						  (double)r->in_snap_end
					: 0.0;
	}
}

void rcd_repl_gauges(const struct rcd_repl *r, struct rcd_repl_gauges *g,
		     struct rcd_repl_stats *st)
{
	pthread_mutex_t *mu = (pthread_mutex_t *)&r->mu;

	pthread_mutex_lock(mu);
	gauges_locked(r, g, st);
	pthread_mutex_unlock(mu);
}

static json_t *status_locked(const struct rcd_repl *r)
{
	struct rcd_repl_gauges g;
	struct rcd_repl_stats st;
	const uint64_t now = mono_ns();
	json_t *o;

	gauges_locked(r, &g, &st);
	o = json_pack("{s:s, s:i, s:s, s:s, s:f}", "role",
		      rc_repl_role_name(r->role), "epoch", (json_int_t)r->epoch,
		      "phase", rcd_repl_phase_name(r->phase), "reason", r->why,
		      "role_for_s", (double)(now - r->role_ns) / 1e9);
	if (r->role == RC_REPL_STANDALONE)
		return o;
	json_object_set_new(o, "prefer",
			    json_string(r->prefer == PREFER_PRIMARY
						? "primary"
						: r->prefer == PREFER_STANDBY
							  ? "standby"
							  : "yield"));
	json_object_set_new(o, "listen", json_string(r->cfg->repl_listen));
	json_object_set_new(o, "peer", json_string(r->cfg->repl_peer));
	json_object_set_new(o, "connected", json_boolean(g.connected));
	json_object_set_new(o, "peer_role",
			    json_string(r->hello_in
						? rc_repl_role_name(r->peer.role)
						: "unknown"));
	json_object_set_new(o, "peer_epoch",
			    json_integer((json_int_t)r->peer.epoch));
	json_object_set_new(o, "peer_alive_data_network",
			    json_boolean(g.peer_alive_data));
	json_object_set_new(o, "seq", json_integer((json_int_t)g.seq));
	json_object_set_new(o, "acked", json_integer((json_int_t)g.acked));
	if (r->role == RC_REPL_STANDBY) {
		json_object_set_new(o, "applied",
				    json_integer((json_int_t)g.applied));
		json_object_set_new(o, "synced_seq",
				    json_integer((json_int_t)r->synced_seq));
		json_object_set_new(o, "primary_seq",
				    json_integer((json_int_t)r->primary_seq));
	}
	json_object_set_new(o, "lag_records",
			    json_integer((json_int_t)g.lag_records));
	json_object_set_new(o, "lag_ms", json_real(g.lag_seconds * 1e3));
	json_object_set_new(o, "snapshot_progress",
			    json_real(g.snapshot_progress));
	if (r->role == RC_REPL_PRIMARY) {
		json_object_set_new(o, "standby_attached",
				    json_boolean(r->peer_follows));
		json_object_set_new(o, "backlog_batches",
				    json_integer(r->backlog.n));
		json_object_set_new(o, "backlog_bytes",
				    json_integer((json_int_t)r->backlog_bytes));
		json_object_set_new(o, "snapshot_end",
				    json_integer((json_int_t)r->snap_end));
	}
	json_object_set_new(
		o, "counters",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			  "s:I, s:I, s:I, s:I}",
			  "promotions", (json_int_t)st.promotions, "demotions",
			  (json_int_t)st.demotions, "connects",
			  (json_int_t)st.connects, "disconnects",
			  (json_int_t)st.disconnects, "resets",
			  (json_int_t)st.resets, "resumes",
			  (json_int_t)st.resumes, "batches_out",
			  (json_int_t)st.batches_out, "records_out",
			  (json_int_t)st.records_out, "batches_in",
			  (json_int_t)st.batches_in, "records_in",
			  (json_int_t)st.records_in, "bad_frames",
			  (json_int_t)st.bad_frames, "backlog_dropped",
			  (json_int_t)st.backlog_dropped, "overflow_resets",
			  (json_int_t)st.overflow_resets, "refused_peers",
			  (json_int_t)st.refused_peers));
	json_object_set_new(json_object_get(o, "counters"), "bad_auth",
			    json_integer((json_int_t)st.bad_auth));
	json_object_set_new(json_object_get(o, "counters"), "replayed",
			    json_integer((json_int_t)st.replayed));
	json_object_set_new(o, "authenticated", json_boolean(r->authed));
	return o;
}

json_t *rcd_repl_status(const struct rcd_repl *r)
{
	pthread_mutex_t *mu = (pthread_mutex_t *)&r->mu;
	json_t *o;

	pthread_mutex_lock(mu);
	o = status_locked(r);
	json_object_set_new(o, "thread_turn_max_s",
			    json_real((double)r->turn_max_ns / 1e9));
	/* The epoch file's thread: its longest write, and whether the
	 * epoch in use is on disk (a promotion takes writes once it is). */
	json_object_set_new(o, "epoch_write_max_s",
			    json_real((double)r->ew_max_ns / 1e9));
	json_object_set_new(o, "epoch_saved", json_boolean(epoch_saved(r)));
	json_object_set_new(o, "handover", json_boolean(r->handover));
	pthread_mutex_unlock(mu);
	return o;
}
