/* SPDX-License-Identifier: MIT
 * lib/repl's node, inside: the state every file of it shares. Not
 * installed, not included outside lib/repl. One job per file:
 *   node.c          life cycle, the turn, roles and election, operator,
 *                   view
 *   node_conn.c     frames out and in: buffers, auth, dispatch, beats
 *   node_primary.c  numbering, batches, backlog, feed, acks, snapshot
 *   node_standby.c  batches into apply logs, acks, resets */
#ifndef RC_REPL_NODE_INT_H
#define RC_REPL_NODE_INT_H

#include <stdarg.h>

#include "rc_repl_node.h"

#define RN_DIAL_EVERY_NS 50000000ull
#define RN_RBUF_CAP (RC_REPL_MAX_FRAME + 64u)
#define RN_PENDING_MAX 65536u        /* standby batches being applied */

struct rn_batch {
	uint64_t first, last;
	uint64_t t_ns;               /* made (primary) / received (standby) */
	uint32_t len;                /* frame bytes (primary) */
	uint8_t *frame;
	uint64_t cnt[];              /* per worker: records drained / pushed */
};

/* A FIFO of batches. */
struct rn_deq {
	struct rn_batch **v;
	unsigned cap, head, n;
};

static inline struct rn_batch *rn_deq_at(const struct rn_deq *d, unsigned i)
{
	return d->v[(d->head + i) % d->cap];
}

static inline void rn_deq_push(struct rn_deq *d, struct rn_batch *b)
{
	d->v[(d->head + d->n++) % d->cap] = b;
}

static inline struct rn_batch *rn_deq_pop(struct rn_deq *d)
{
	struct rn_batch *b = d->v[d->head];

	d->head = (d->head + 1) % d->cap;
	d->n--;
	return b;
}

struct rc_repl_node {
	struct rc_repl_env env;
	struct rc_repl_node_cfg cfg;
	unsigned nw;
	enum rc_repl_role role;
	enum rc_repl_phase phase;
	uint32_t epoch;
	uint8_t prefer;
	char why[160];               /* the last role change, and why */
	uint64_t role_ns;            /* since when */
	uint64_t start_ns;

	/* Primary. */
	struct rc_repl_log *rlogs;
	uint64_t *drained;           /* per worker: records numbered */
	uint64_t *acked_cnt;         /* per worker: published to acked() */
	uint64_t stream, seq;        /* my stream; last record numbered */
	struct rn_deq backlog;
	uint64_t backlog_bytes;
	uint64_t next_send;          /* next record to queue (0: none;
				      * UINT64_MAX: a hole, reset) */
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
	bool blind;                  /* primary: promoted alone at start-up,
				      * without a copy (no peer answered) */
	bool duel;                   /* another primary at our epoch: our
				      * writes paused until one yields */
	uint64_t duel_since;
	uint64_t duel_peer_seq;      /* its count in its last word */
	unsigned duel_same;          /* words in a row with that count */
	bool publish_pending;        /* promoted: the workers take writes
				      * once the epoch is on disk */
	bool publish_late_logged;
	uint32_t unsent_batches;     /* batches the standby still needs */
	uint64_t unsent_bytes;       /* and their bytes (flow control) */
	uint64_t snap_items_total, overflow_seen;
	uint8_t *cur;                /* the batch being filled */
	uint32_t cur_len, cur_n;
	uint64_t cur_first;

	/* Standby. */
	struct rc_repl_log *alogs;
	uint64_t *pushed;            /* per worker: records queued */
	struct rn_deq pending;       /* batches not yet all applied */
	uint64_t follow;             /* stream followed (0: none) */
	uint64_t recv_seq;           /* last record queued */
	uint64_t applied_seq, acked_sent;
	bool ack_sent_known;         /* acked_sent went on this connection
				      * since the last reset */
	uint64_t in_snap_end;        /* SNAPSHOT_DONE's seq */
	bool in_snap_known;          /* SNAPSHOT_DONE came */
	bool applied_known;          /* applied_seq is past the last RESET's
				      * CLEAR (a mark was applied since) */
	bool partial_logged;         /* "not promoting" said once */
	uint64_t synced_seq;         /* a complete copy up to here */
	uint64_t primary_seq;        /* the primary's last, from beats */
	uint64_t reset_pending;      /* RESET waiting for room in the logs */
	uint64_t apply_failed_seen;  /* workers' failed records, counted */
	bool clear_queued[RC_REPL_MAX_WORKERS];
	uint32_t bat_off;            /* progress inside a blocked batch */
	uint64_t bat_seq;

	/* Connection. */
	bool linked, hello_in;
	uint8_t *rbuf, *wbuf;
	size_t rlen, wlen, woff, wcap;
	struct rc_repl_hello peer;
	uint64_t last_rx_ns, last_beat_ns;
	uint64_t peer_primary_ns;    /* last sign of a live primary peer */
	uint64_t last_turn_ns;       /* the last pause check (allow_pause) */
	uint64_t pause_logged_ns;    /* the last "did not run" line */
	bool refused_logged;
	bool head_authed;            /* the frame at rbuf[0] was verified
				      * (it waits on full apply logs) */

	/* Data-network heartbeats. */
	bool hb_seen;
	struct rc_repl_hello hb_peer;
	uint64_t hb_peer_ns;

	struct rc_repl_stats st;
	struct rc_repl_auth *auth;   /* NULL: insecure */
	uint64_t auth_logged_ns;     /* last "not authentic" log line */
	bool wrap_logged;
};

static inline uint64_t rn_now(const struct rc_repl_node *n)
{
	return n->env.now_ns(n->env.ctx);
}

void rn_log(struct rc_repl_node *n, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* node.c */
void rn_promote(struct rc_repl_node *n, const char *why);
void rn_follow(struct rc_repl_node *n, const struct rc_repl_hello *p,
	       const char *why);
void rn_me_hello(const struct rc_repl_node *n, struct rc_repl_hello *h);
void rn_free_batches(struct rn_deq *d);
void rn_duel(struct rc_repl_node *n, const struct rc_repl_hello *p);
bool rn_primary_peer(struct rc_repl_node *n, const struct rc_repl_hello *p,
		     const char *via);

/* node_conn.c */
void rn_conn_close(struct rc_repl_node *n, const char *why);
void rn_send_frame(struct rc_repl_node *n, uint8_t type, const void *body,
		   uint32_t len);
void rn_send_hello(struct rc_repl_node *n, uint8_t type);
void rn_send_seq(struct rc_repl_node *n, uint8_t type, uint64_t seq);
bool rn_read_frames(struct rc_repl_node *n, uint64_t now);
void rn_beats(struct rc_repl_node *n, uint64_t now);

/* node_primary.c */
void rn_check_overflow(struct rc_repl_node *n);
bool rn_drain_logs(struct rc_repl_node *n, uint64_t now);
void rn_check_snapshot(struct rc_repl_node *n);
bool rn_feed(struct rc_repl_node *n);
void rn_ack_upto(struct rc_repl_node *n, uint64_t seq);
void rn_start_feed(struct rc_repl_node *n, const struct rc_repl_hello *p);
/* When the oldest batch the standby has not acknowledged was made (0:
 * none). */
uint64_t rn_oldest_unacked_ns(const struct rc_repl_node *n);

/* node_standby.c */
int rn_take_batch(struct rc_repl_node *n, const uint8_t *body, uint32_t len,
		  uint64_t now);
int rn_take_reset(struct rc_repl_node *n, uint64_t seq, uint64_t stream);
void rn_check_applied(struct rc_repl_node *n);

#endif
