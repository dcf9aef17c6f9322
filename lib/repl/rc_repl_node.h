/* SPDX-License-Identifier: MIT
 * One node's replication state machine: roles, epochs, election, the
 * primary's feed (numbered batches, a bounded backlog, resume or reset,
 * snapshot flow control, acknowledgements to per-worker counts) and the
 * standby's apply accounting.
 *
 * No sockets, no threads, no clock of its own: everything outside comes
 * in through struct rc_repl_env (in the spirit of pelikan's
 * data_processor). The daemon (app/ringcached/repl.c) wires it to TCP,
 * the data-network heartbeat, its workers and an epoch-file thread;
 * tests/sim/ wires two of them to a simulated network, clock and
 * workers. One caller at a time: the node is not thread-safe.
 *
 * The byte stream: the node owns an input and an output buffer. The
 * wiring copies received bytes into rc_repl_node_rx_room() and calls
 * rc_repl_node_rx_put(); it sends what rc_repl_node_tx() shows and
 * calls rc_repl_node_tx_done(). Frames are parsed, authenticated and
 * acted upon inside rc_repl_node_turn(). */
#ifndef RC_REPL_NODE_H
#define RC_REPL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_repl.h"

enum rc_repl_phase {
	RC_REPL_PHASE_NONE = 0,      /* not connected / nothing to do */
	RC_REPL_PHASE_SNAPSHOT,      /* full resync: snapshot records flow */
	RC_REPL_PHASE_STREAMING,     /* in step: only new writes flow */
	RC_REPL_PHASE__COUNT
};

/* prefer: who should lead when neither does (rc_repl_hello.prefer). */
enum { RC_REPL_PREFER_YIELD = 0, RC_REPL_PREFER_STANDBY = 1,
       RC_REPL_PREFER_PRIMARY = 2 };

/* Log levels, as syslog's (the daemon maps them to its own). */
enum rc_repl_log_level {
	RC_REPL_LOG_ERR = 3,
	RC_REPL_LOG_WARNING = 4,
	RC_REPL_LOG_NOTICE = 5,
	RC_REPL_LOG_INFO = 6,
};

/* The world a node sees. Worker w is the one owning partition w; the
 * node owns every worker's two logs (rc_repl_node_rlog/alog).
 *
 * The worker side of the contract (app/ringcached/worker.c, and the
 * simulated workers in tests/sim/ do the same):
 *  - a worker whose published role is PRIMARY takes writes; each write
 *    applies to its store and appends one record to its rlog (a full
 *    log: the write stands, overflows() grows); wseq() counts records
 *    put in the rlog. A durable write is answered once acked(w) covers
 *    its record, and failed (NOT_REPLICATED) when durable_ok is false
 *    or after the durable wait;
 *  - any other role refuses writes; role_seen(w) is the role it read
 *    at the top of its last loop turn;
 *  - it applies its alog in order (a CLEAR record empties its
 *    partition); applied(w) counts records taken from the alog
 *    (counted once applied, a CLEAR once the partition is empty); a
 *    record it cannot decode grows apply_failed();
 *  - promoted with records in its alog, it applies them all before it
 *    takes a request;
 *  - snap_start(req): while primary, it writes every live item as a SET
 *    into its rlog (never filling more than half of it), in order with
 *    its writes, then snap_done(w) returns req and snap_wseq(w) its
 *    wseq at that moment. */
struct rc_repl_env {
	void *ctx;
	uint64_t (*now_ns)(void *ctx);       /* monotonic */
	uint64_t (*real_ns)(void *ctx);      /* wall clock (auth trailers) */
	uint64_t (*random)(void *ctx);       /* stream ids */
	void (*log)(void *ctx, int level, const char *msg);

	/* Workers. */
	void (*publish)(void *ctx, enum rc_repl_role role, uint32_t epoch);
	void (*workers_role)(void *ctx, enum rc_repl_role role);
	void (*durable_ok)(void *ctx, bool ok);
	void (*acked)(void *ctx, unsigned w, uint64_t cnt);
	uint64_t (*wseq)(void *ctx, unsigned w);
	uint8_t (*role_seen)(void *ctx, unsigned w);
	uint64_t (*applied)(void *ctx, unsigned w);
	uint64_t (*apply_failed)(void *ctx);
	uint64_t (*overflows)(void *ctx);
	void (*snap_start)(void *ctx, uint32_t req);
	uint32_t (*snap_done)(void *ctx, unsigned w);
	uint64_t (*snap_wseq)(void *ctx, unsigned w);
	/* Progress only: live items, and items the running pass has seen. */
	uint64_t (*items)(void *ctx, unsigned w, bool in_pass);

	/* The epoch file: save asynchronously; saved() says when e is on
	 * disk (a promoted node takes writes only then). */
	void (*save_epoch)(void *ctx, uint32_t e);
	bool (*epoch_saved)(void *ctx, uint32_t e);

	/* The stream connection is gone for the node: close the socket. */
	void (*close)(void *ctx);
	/* A data-network heartbeat to send (body and auth trailer); the
	 * wiring counts hb_data_out (rc_repl_node_stats) when one goes. */
	void (*beat_out)(void *ctx, const uint8_t *b, uint32_t n);
	/* The node became a primary taking writes (gratuitous ARP). */
	void (*announce)(void *ctx);
};

struct rc_repl_node_cfg {
	unsigned workers;            /* = partitions, <= RC_REPL_MAX_WORKERS */
	bool standalone;             /* replication off */
	bool prefer_primary;         /* repl.role = primary */
	uint32_t epoch;              /* start at (the saved one, or config) */
	uint32_t rank;               /* election tie-break */
	uint64_t log_size;           /* each worker log, bytes (power of 2) */
	uint64_t backlog;            /* bytes of batches kept for a resume */
	uint32_t backlog_batches;    /* and at most this many (0: 65536) */
	uint32_t batch_bytes;        /* a batch is cut here (0: 256 KiB) */
	uint32_t turn_bytes;         /* records numbered per turn (0: 4 MiB) */
	uint32_t send_bytes;         /* batches queued for the socket beyond
				      * what it took (0: 4 MiB) */
	uint64_t heartbeat_ns, failover_ns, join_ns;
	struct rc_repl_auth *auth;   /* NULL: insecure */
};

#define RC_REPL_MAX_WORKERS 64u

/* Counters for metrics and status. */
struct rc_repl_stats {
	uint64_t promotions, demotions, connects, disconnects;
	uint64_t resets, resumes;             /* full resyncs / resumed */
	uint64_t batches_out, records_out, bytes_out;
	uint64_t batches_in, records_in, bytes_in;
	uint64_t acks_in, acks_out;
	uint64_t beats_in, beats_out, hb_data_out;
	uint64_t bad_frames;
	uint64_t backlog_dropped;             /* batches aged out */
	uint64_t overflow_resets;             /* resyncs after a full log */
	uint64_t apply_resets;                /* copies dropped: a record
					       * failed to apply */
	uint64_t refused_peers;               /* version/partition mismatch */
	uint64_t bad_auth;                    /* frames/beats not authentic */
	uint64_t replayed;                    /* authentic, but old or seen */
	uint64_t pauses;                      /* turns over failover/2 late:
					       * the host paused this node */
	uint64_t pause_max_ns;                /* the longest such gap */
};

/* What status and metrics show. */
struct rc_repl_view {
	enum rc_repl_role role;
	enum rc_repl_phase phase;
	uint32_t epoch;
	uint8_t prefer;
	const char *why;             /* the last role change, and why */
	uint64_t role_ns;            /* since when (env clock) */
	bool connected;              /* a hello came on the connection */
	bool peer_alive_data;        /* a data-network beat within failover */
	bool peer_known;
	struct rc_repl_hello peer;
	bool standby_attached;       /* primary: the peer follows us */
	bool handover, publish_pending;
	bool duel;                   /* another primary at our epoch: writes
				      * paused while the two compare */
	uint64_t seq, acked, applied;
	uint64_t synced_seq, primary_seq;
	uint64_t lag_records;
	double lag_seconds;
	double snapshot_progress;    /* 0..1 */
	uint32_t backlog_batches;
	uint64_t backlog_bytes, snap_end;
};

struct rc_repl_node;

/* @return the node, or NULL (-ENOMEM or a bad cfg: *err says which).
 * The logs are allocated here; the workers get them before they run. */
struct rc_repl_node *rc_repl_node_new(const struct rc_repl_node_cfg *cfg,
				      const struct rc_repl_env *env,
				      const char **err);
void rc_repl_node_free(struct rc_repl_node *n);

struct rc_repl_log *rc_repl_node_rlog(struct rc_repl_node *n, unsigned w);
struct rc_repl_log *rc_repl_node_alog(struct rc_repl_node *n, unsigned w);

/* Publish the starting role to the workers (call once, before they
 * run). */
void rc_repl_node_start(struct rc_repl_node *n);

/* The stream: a connection to the peer is up / is gone. A new one
 * replacing a live one: conn_down first (it calls env.close, which
 * must close the old socket only). */
void rc_repl_node_conn_up(struct rc_repl_node *n);
void rc_repl_node_conn_down(struct rc_repl_node *n, const char *why);
bool rc_repl_node_connected(const struct rc_repl_node *n); /* hello in */
bool rc_repl_node_linked(const struct rc_repl_node *n);    /* conn up */
/* Time of the last bytes (or blocked frame) from the peer. */
uint64_t rc_repl_node_last_rx(const struct rc_repl_node *n);

/* Received bytes: room for up to *room bytes at the pointer returned
 * (NULL: the buffer is full until the next turn); then put n of them. */
uint8_t *rc_repl_node_rx_room(struct rc_repl_node *n, size_t *room);
void rc_repl_node_rx_put(struct rc_repl_node *n, size_t bytes);
/* Bytes to send: *len at the pointer returned (NULL when none). */
const uint8_t *rc_repl_node_tx(const struct rc_repl_node *n, size_t *len);
void rc_repl_node_tx_done(struct rc_repl_node *n, size_t bytes);

/* A data-network heartbeat from the peer's address: body and trailer,
 * as received; heard_ns when (env clock). Replays and forgeries are
 * counted and dropped here. */
void rc_repl_node_beat_in(struct rc_repl_node *n, const uint8_t *b,
			  uint32_t len, uint64_t heard_ns);
/* Counters the wiring adds to (refused connections, say). */
struct rc_repl_stats *rc_repl_node_stats(struct rc_repl_node *n);

/* One turn: overflow check, publish, number the workers' records,
 * snapshot completion, frames in, acknowledgements, feed, heartbeats,
 * hand-over, failure detection. @return true if it did something. */
bool rc_repl_node_turn(struct rc_repl_node *n);

/* Operator. @return 0, or -1 with why in err. */
int rc_repl_node_promote(struct rc_repl_node *n, bool force, char *err,
			 size_t errlen);
int rc_repl_node_demote(struct rc_repl_node *n, char *err, size_t errlen);

enum rc_repl_role rc_repl_node_role(const struct rc_repl_node *n);
uint32_t rc_repl_node_epoch(const struct rc_repl_node *n);
void rc_repl_node_view(const struct rc_repl_node *n, struct rc_repl_view *v,
		       struct rc_repl_stats *st);

const char *rc_repl_phase_name(unsigned phase);

#endif
