/* SPDX-License-Identifier: MIT
 * Replication, the wiring (see repl.h): the state machine is lib/repl's
 * node (rc_repl_node.h); here are its sockets (one TCP connection to the
 * peer; the node whose repl.listen sorts first dials it), the
 * data-network heartbeat through worker 0, the workers' shared fields,
 * the epoch file on a thread of its own, the key files, and the thread
 * that runs the turns. */
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

#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "repl.h"
#include "rc_net.h"
#include "rc_repl_node.h"

#define LOG(l, fmt, ...) \
	RTE_LOG(l, USER1, "repl: " fmt "\n", ##__VA_ARGS__)

#define DIAL_EVERY_NS 50000000ull  /* 50 ms between connection attempts */

struct rcd_repl {
	struct rcd_node *nd;
	const struct rcd_config *cfg;
	unsigned nw;
	struct rc_repl_node *node;
	bool standalone;

	/* Connection. */
	int lfd, fd;
	bool dialer, connecting;
	struct sockaddr_in listen_addr, peer_addr;
	uint64_t last_dial_ns;

	/* Data-network heartbeats, written by the workers. */
	struct rcd_hb hb;
	uint64_t hb_seen;

	/* Authentication (repl.key_file); authed false: repl.insecure. */
	struct rc_repl_auth auth;
	bool authed;

	/* Its own thread: no control-socket client, flush, warm or slow
	 * disk on the control core can silence the heartbeats. mu guards
	 * the node against the control core's calls (status, gauges,
	 * promote, demote). */
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

/* ---- the epoch file -------------------------------------------------- */

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

/* ---- the node's environment ------------------------------------------------ */

static uint64_t env_now(void *ctx)
{
	(void)ctx;
	return mono_ns();
}

static uint64_t env_real(void *ctx)
{
	(void)ctx;
	return real_ns();
}

static uint64_t env_random(void *ctx)
{
	uint64_t v;

	(void)ctx;
	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = mono_ns();
	return v;
}

static void env_log(void *ctx, int level, const char *msg)
{
	uint32_t l = level <= RC_REPL_LOG_ERR       ? RTE_LOG_ERR
		     : level == RC_REPL_LOG_WARNING ? RTE_LOG_WARNING
		     : level == RC_REPL_LOG_NOTICE  ? RTE_LOG_NOTICE
						    : RTE_LOG_INFO;

	(void)ctx;
	rte_log(l, RTE_LOGTYPE_USER1, "USER1: repl: %s\n", msg);
}

static void env_publish(void *ctx, enum rc_repl_role role, uint32_t epoch)
{
	struct rcd_repl *r = ctx;

	for (unsigned i = 0; i < r->nw; i++) {
		struct rcd_worker *w = r->nd->workers[i];

		w->p.epoch = epoch;
		__atomic_store_n(&w->p.role, (uint8_t)role, __ATOMIC_RELEASE);
		if (role != RC_REPL_PRIMARY)
			w->p.durable_ok = 0;
	}
	r->nd->ifc.vip = role == RC_REPL_PRIMARY ? r->cfg->repl_vip : 0;
}

/* Workers' role only (during a hand-over the node stays primary:
 * durable replies are still confirmed). */
static void env_workers_role(void *ctx, enum rc_repl_role role)
{
	struct rcd_repl *r = ctx;

	for (unsigned i = 0; i < r->nw; i++)
		__atomic_store_n(&r->nd->workers[i]->p.role, (uint8_t)role,
				 __ATOMIC_RELEASE);
}

static void env_durable_ok(void *ctx, bool ok)
{
	struct rcd_repl *r = ctx;

	for (unsigned i = 0; i < r->nw; i++)
		__atomic_store_n(&r->nd->workers[i]->p.durable_ok, ok,
				 __ATOMIC_RELEASE);
}

static void env_acked(void *ctx, unsigned w, uint64_t cnt)
{
	struct rcd_repl *r = ctx;

	__atomic_store_n(&r->nd->workers[w]->acked_wseq, cnt, __ATOMIC_RELEASE);
}

/* A worker's published field, read with acquire. */
#define WORKER_FIELD(fn, type, field)                                       \
	static type fn(void *ctx, unsigned w)                               \
	{                                                                   \
		const struct rcd_repl *r = ctx;                             \
									    \
		return __atomic_load_n(&r->nd->workers[w]->field,           \
				       __ATOMIC_ACQUIRE);                   \
	}

/* A counter summed over the workers (each written by its worker only). */
#define WORKERS_SUM(fn, field)                                              \
	static uint64_t fn(void *ctx)                                       \
	{                                                                   \
		const struct rcd_repl *r = ctx;                             \
		uint64_t n = 0;                                             \
									    \
		for (unsigned w = 0; w < r->nw; w++)                        \
			n += __atomic_load_n(&r->nd->workers[w]->field,     \
					     __ATOMIC_RELAXED);             \
		return n;                                                   \
	}

WORKER_FIELD(env_wseq, uint64_t, p.wseq)
WORKER_FIELD(env_role_seen, uint8_t, role_seen)
WORKER_FIELD(env_applied, uint64_t, ap.applied)
WORKER_FIELD(env_snap_done, uint32_t, snap_done)
WORKER_FIELD(env_snap_wseq, uint64_t, snap_wseq)
WORKERS_SUM(env_apply_failed, stats.srv.repl_apply_failed)
WORKERS_SUM(env_overflows, stats.srv.repl_overflow)

static void env_snap_start(void *ctx, uint32_t req)
{
	struct rcd_repl *r = ctx;

	for (unsigned w = 0; w < r->nw; w++)
		__atomic_store_n(&r->nd->workers[w]->snap_req, req,
				 __ATOMIC_RELEASE);
}

static uint64_t env_items(void *ctx, unsigned w, bool in_pass)
{
	struct rcd_repl *r = ctx;
	const struct rcd_worker *wk = r->nd->workers[w];

	return in_pass ? wk->snap_cur.items : wk->stats.store.items;
}

/* Ask for epoch e on disk; env_epoch_saved tells when it is. */
static void env_save_epoch(void *ctx, uint32_t e)
{
	struct rcd_repl *r = ctx;

	if (!r->ew_running) {
		__atomic_store_n(&r->ew_saved, e, __ATOMIC_RELEASE);
		return;
	}
	pthread_mutex_lock(&r->ew_mu);
	r->ew_want = e;
	pthread_cond_signal(&r->ew_cv);
	pthread_mutex_unlock(&r->ew_mu);
}

static bool env_epoch_saved(void *ctx, uint32_t e)
{
	struct rcd_repl *r = ctx;

	return __atomic_load_n(&r->ew_saved, __ATOMIC_ACQUIRE) == e;
}

static void sock_close(struct rcd_repl *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->connecting = false;
}

static void env_close(void *ctx)
{
	sock_close(ctx);
}

/* Queue a frame for a data-network send by worker 0. */
static void ctl_send(struct rcd_repl *r, struct rte_mbuf *m)
{
	struct rcd_worker *w0 = r->nd->workers[0];

	if (rte_ring_sp_enqueue(w0->ctl_tx, m) != 0)
		rte_pktmbuf_free(m);
}

static void env_beat_out(void *ctx, const uint8_t *b, uint32_t n)
{
	struct rcd_repl *r = ctx;
	struct rc_net_udp_addr a;
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
	if (rc_net_udp_build(m, &a, b, n) != 0) {
		rte_pktmbuf_free(m);
		return;
	}
	ctl_send(r, m);
	rc_repl_node_stats(r->node)->hb_data_out++;
}

/* Gratuitous ARP: a request for our own address. */
static void env_announce(void *ctx)
{
	struct rcd_repl *r = ctx;
	struct rte_mbuf *m;

	if (!r->cfg->repl_vip)
		return;
	m = rte_pktmbuf_alloc(r->nd->pools[0]);
	if (!m)
		return;
	if (rc_net_arp_request_build(m, &r->nd->ifc.mac, r->cfg->repl_vip,
				     r->cfg->repl_vip) != 0) {
		rte_pktmbuf_free(m);
		return;
	}
	ctl_send(r, m);
}

/* ---- the connection ----------------------------------------------------- */

static void conn_close(struct rcd_repl *r, const char *why)
{
	rc_repl_node_conn_down(r->node, why);
	sock_close(r);
}

static void conn_up(struct rcd_repl *r, int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->fd = fd;
	r->connecting = false;
	rc_repl_node_conn_up(r->node);
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

static void accept_peer(struct rcd_repl *r, uint64_t now)
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
	if (r->authed && rc_repl_node_connected(r->node) &&
	    now - rc_repl_node_last_rx(r->node) <
		    r->cfg->repl_failover_ms * 1000000ull) {
		rc_repl_node_stats(r->node)->refused_peers++;
		close(fd);
		return;
	}
	/* The peer came back: its new connection replaces the old one. */
	conn_close(r, "peer reconnected");
	conn_up(r, fd);
}

/* Accept, finish a dial, time one out. */
static void sockets(struct rcd_repl *r, uint64_t now)
{
	struct pollfd p[2] = {{.fd = r->lfd, .events = POLLIN},
			      {.fd = r->fd, .events = POLLIN}};

	if (r->fd < 0)
		dial(r, now);
	p[1].fd = r->fd;
	if (r->fd >= 0 && r->connecting)
		p[1].events |= POLLOUT;
	if (poll(p, r->fd >= 0 ? 2 : 1, 0) > 0) {
		if (p[0].revents & POLLIN)
			accept_peer(r, now);
		if (r->fd >= 0 && r->connecting &&
		    (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			int err = 0;
			socklen_t el = sizeof(err);

			getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err)
				sock_close(r);
			else
				conn_up(r, r->fd);
		}
	}
	if (r->fd >= 0 && r->connecting &&
	    now - r->last_dial_ns > 20 * DIAL_EVERY_NS)
		sock_close(r);
}

static bool read_in(struct rcd_repl *r)
{
	size_t room;
	uint8_t *p;
	ssize_t n;

	if (r->fd < 0 || r->connecting)
		return false;
	p = rc_repl_node_rx_room(r->node, &room);
	if (!p)
		return false;
	n = recv(r->fd, p, room, MSG_DONTWAIT);
	if (n == 0) {
		conn_close(r, "closed by the peer");
		return true;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_close(r, strerror(errno));
			return true;
		}
		return false;
	}
	rc_repl_node_rx_put(r->node, (size_t)n);
	return true;
}

static void flush_out(struct rcd_repl *r)
{
	const uint8_t *p;
	size_t len;

	while (r->fd >= 0 && !r->connecting &&
	       (p = rc_repl_node_tx(r->node, &len)) != NULL) {
		ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(r, strerror(errno));
			return;
		}
		rc_repl_node_tx_done(r->node, (size_t)n);
	}
}

/* The newest data-network heartbeat, if a new one came (the workers
 * write it under a sequence count: gen is odd while they do). */
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
	rc_repl_node_beat_in(r->node, body, r->hb.len, last);
}

static bool repl_turn(struct rcd_repl *r)
{
	const uint64_t now = mono_ns();
	bool did;

	sockets(r, now);
	did = read_in(r);
	read_data_beat(r);
	did |= rc_repl_node_turn(r->node);
	flush_out(r);
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
	const struct rc_repl_env env = {
		.ctx = r, .now_ns = env_now, .real_ns = env_real,
		.random = env_random, .log = env_log,
		.publish = env_publish, .workers_role = env_workers_role,
		.durable_ok = env_durable_ok, .acked = env_acked,
		.wseq = env_wseq, .role_seen = env_role_seen,
		.applied = env_applied, .apply_failed = env_apply_failed,
		.overflows = env_overflows, .snap_start = env_snap_start,
		.snap_done = env_snap_done, .snap_wseq = env_snap_wseq,
		.items = env_items, .save_epoch = env_save_epoch,
		.epoch_saved = env_epoch_saved, .close = env_close,
		.beat_out = env_beat_out, .announce = env_announce,
	};
	struct rc_repl_node_cfg nc = {
		.workers = nd->n_workers,
		.epoch = (uint32_t)cfg->epoch,
		.log_size = cfg->repl_log_size,
		.backlog = cfg->repl_backlog,
		.heartbeat_ns = cfg->repl_heartbeat_ms * 1000000ull,
		.failover_ns = cfg->repl_failover_ms * 1000000ull,
		.join_ns = cfg->repl_join_ms * 1000000ull,
	};
	const char *err;
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
	r->standalone = strcmp(cfg->repl_role, "standalone") == 0;
	nc.standalone = r->standalone;
	nc.prefer_primary = strcmp(cfg->repl_role, "primary") == 0;
	if (!r->standalone) {
		uint32_t saved = load_epoch(cfg);

		if (saved > nc.epoch)
			nc.epoch = saved;
		r->ew_want = r->ew_saved = nc.epoch;
		if (auth_setup(r) != 0)
			goto fail;
		if (parse_addr(cfg->repl_listen, &r->listen_addr) != 0 ||
		    parse_addr(cfg->repl_peer, &r->peer_addr) != 0) {
			LOG(ERR, "repl.listen '%s' / repl.peer '%s': expected "
			    "IPV4:PORT", cfg->repl_listen, cfg->repl_peer);
			goto fail;
		}
		nc.rank = ntohl(r->listen_addr.sin_addr.s_addr) * 65536u +
			  ntohs(r->listen_addr.sin_port);
		nc.auth = r->authed ? &r->auth : NULL;
	}
	r->node = rc_repl_node_new(&nc, &env, &err);
	if (!r->node) {
		LOG(ERR, "replication: %s (repl.log_size %lu per worker, "
		    "twice)", err, (unsigned long)cfg->repl_log_size);
		goto fail;
	}
	if (r->standalone)
		return r;
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
	for (unsigned w = 0; w < r->nw; w++) {
		struct rcd_worker *wk = nd->workers[w];

		wk->p.rlog = rc_repl_node_rlog(r->node, w);
		wk->ap.clear_work = RCD_CMD_WORK;
		wk->ap.log = rc_repl_node_alog(r->node, w);
		wk->hb = &r->hb;
		wk->durable_wait_tsc =
			wk->tsc_hz / 1000 * cfg->repl_durable_ms;
		if (w == 0) {
			wk->ctl_tx = rte_ring_create("ctl_tx0", 256,
						     SOCKET_ID_ANY,
						     RING_F_SP_ENQ |
							     RING_F_SC_DEQ);
			if (!wk->ctl_tx) {
				LOG(ERR, "replication: no ring for the "
				    "data-network heartbeat: %s",
				    rte_strerror(rte_errno));
				goto fail;
			}
		}
	}
	r->hb.peer_ip = ntohl(cfg->repl_peer_data_ip);
	r->hb.len = RC_REPL_HELLO_LEN + (r->authed ? RC_REPL_AUTH_LEN : 0);
	r->hb.auth = r->authed ? &r->auth : NULL;
	nd->ifc.extra_port =
		cfg->repl_peer_data_ip ? (uint16_t)cfg->repl_hb_port : 0;
	rc_repl_node_start(r->node);
	LOG(INFO, "replication: prefers %s, epoch %u, listening on %s, peer "
	    "%s (%s)", cfg->repl_role, nc.epoch, cfg->repl_listen,
	    cfg->repl_peer, r->dialer ? "we dial" : "it dials");
	return r;
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

	if (!r || r->standalone)
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
	if (r->node)
		conn_close(r, "shutting down");
	sock_close(r);
	if (r->lfd >= 0)
		close(r->lfd);
	for (unsigned w = 0; r->node && w < r->nw; w++) {
		r->nd->workers[w]->p.rlog = NULL;
		r->nd->workers[w]->ap.log = NULL;
	}
	rc_repl_node_free(r->node);
	rc_repl_auth_wipe(&r->auth);
	free(r);
}

/* ---- operator, status ------------------------------------------------------ */

int rcd_repl_promote(struct rcd_repl *r, bool force, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = rc_repl_node_promote(r->node, force, err, errlen);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int rcd_repl_demote(struct rcd_repl *r, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = rc_repl_node_demote(r->node, err, errlen);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

enum rc_repl_role rcd_repl_role(const struct rcd_repl *r)
{
	return rc_repl_node_role(r->node);
}

uint32_t rcd_repl_epoch(const struct rcd_repl *r)
{
	return rc_repl_node_epoch(r->node);
}

/* The node's view and counters, with the beats the workers refused. */
static void view_locked(const struct rcd_repl *r, struct rc_repl_view *v,
			struct rc_repl_stats *st)
{
	rc_repl_node_view(r->node, v, st);
	st->bad_auth += __atomic_load_n(&r->hb.bad_auth, __ATOMIC_RELAXED);
	st->replayed += __atomic_load_n(&r->hb.replayed, __ATOMIC_RELAXED);
}

void rcd_repl_gauges(const struct rcd_repl *r, struct rc_repl_view *v,
		     struct rc_repl_stats *st)
{
	pthread_mutex_t *mu = (pthread_mutex_t *)&r->mu;

	pthread_mutex_lock(mu);
	view_locked(r, v, st);
	pthread_mutex_unlock(mu);
}

static json_t *status_locked(const struct rcd_repl *r)
{
	struct rc_repl_view v;
	struct rc_repl_stats st;
	json_t *o;

	view_locked(r, &v, &st);
	o = json_pack("{s:s, s:i, s:s, s:s, s:f}", "role",
		      rc_repl_role_name(v.role), "epoch", (json_int_t)v.epoch,
		      "phase", rc_repl_phase_name(v.phase), "reason", v.why,
		      "role_for_s", (double)(mono_ns() - v.role_ns) / 1e9);
	if (v.role == RC_REPL_STANDALONE)
		return o;
	json_object_set_new(o, "prefer",
			    json_string(v.prefer == RC_REPL_PREFER_PRIMARY
						? "primary"
					: v.prefer == RC_REPL_PREFER_STANDBY
						? "standby"
						: "yield"));
	json_object_set_new(o, "listen", json_string(r->cfg->repl_listen));
	json_object_set_new(o, "peer", json_string(r->cfg->repl_peer));
	json_object_set_new(o, "connected", json_boolean(v.connected));
	json_object_set_new(o, "peer_role",
			    json_string(v.peer_known
						? rc_repl_role_name(v.peer.role)
						: "unknown"));
	json_object_set_new(o, "peer_epoch",
			    json_integer((json_int_t)v.peer.epoch));
	json_object_set_new(o, "peer_alive_data_network",
			    json_boolean(v.peer_alive_data));
	json_object_set_new(o, "seq", json_integer((json_int_t)v.seq));
	json_object_set_new(o, "acked", json_integer((json_int_t)v.acked));
	if (v.role == RC_REPL_STANDBY) {
		json_object_set_new(o, "applied",
				    json_integer((json_int_t)v.applied));
		json_object_set_new(o, "synced_seq",
				    json_integer((json_int_t)v.synced_seq));
		json_object_set_new(o, "primary_seq",
				    json_integer((json_int_t)v.primary_seq));
	}
	json_object_set_new(o, "lag_records",
			    json_integer((json_int_t)v.lag_records));
	json_object_set_new(o, "lag_ms", json_real(v.lag_seconds * 1e3));
	json_object_set_new(o, "snapshot_progress",
			    json_real(v.snapshot_progress));
	if (v.role == RC_REPL_PRIMARY) {
		json_object_set_new(o, "standby_attached",
				    json_boolean(v.standby_attached));
		json_object_set_new(o, "backlog_batches",
				    json_integer(v.backlog_batches));
		json_object_set_new(o, "backlog_bytes",
				    json_integer((json_int_t)v.backlog_bytes));
		json_object_set_new(o, "snapshot_end",
				    json_integer((json_int_t)v.snap_end));
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
	json_object_set_new(json_object_get(o, "counters"), "apply_resets",
			    json_integer((json_int_t)st.apply_resets));
	json_object_set_new(json_object_get(o, "counters"), "pauses",
			    json_integer((json_int_t)st.pauses));
	json_object_set_new(o, "pause_max_s",
			    json_real((double)st.pause_max_ns / 1e9));
	json_object_set_new(o, "authenticated", json_boolean(r->authed));
	json_object_set_new(o, "handover", json_boolean(v.handover));
	json_object_set_new(o, "writes_paused_for_duel", json_boolean(v.duel));
	json_object_set_new(o, "epoch_saved",
			    json_boolean(env_epoch_saved((void *)r, v.epoch)));
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
	/* The epoch file's thread: its longest write (a promotion takes
	 * writes once the epoch is on disk). */
	json_object_set_new(o, "epoch_write_max_s",
			    json_real((double)r->ew_max_ns / 1e9));
	pthread_mutex_unlock(mu);
	return o;
}
