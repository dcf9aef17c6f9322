/* SPDX-License-Identifier: MIT
 * Deterministic simulation of a replicated pair (tests/sim/README.md):
 * two rc_repl_node state machines, their workers, their disks and the
 * two networks between them, all driven from one seed on one simulated
 * clock. Nothing here reads a real clock or calls rand(): a seed replays
 * exactly. */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_repl.h"
#include "rc_repl_node.h"

#define SIM_NODES 2u
#define SIM_MAX_WORKERS 3u
#define SIM_KEY_LEN 8u             /* "k" and 7 digits */
#define SIM_HELD 1024u             /* as RCD_HELD */
#define SIM_CAPTURES 32u           /* genuine frames/beats kept to replay */
#define SIM_FILL_RATE 30000u       /* writes/s filling a big data set */
#define MS 1000000ull
#define SEC 1000000000ull

/* ---- seeded PRNG (splitmix64: every stream derives from the seed) ---- */
static inline uint64_t sim_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0; the bias of a 64-bit modulo is negligible). */
static inline uint64_t sim_below(uint64_t *s, uint64_t n)
{
	return sim_next(s) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t sim_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + sim_below(s, hi - lo + 1);
}

/* True with probability per/1000. */
static inline bool sim_chance(uint64_t *s, unsigned per_mille)
{
	return sim_below(s, 1000) < per_mille;
}

static inline uint64_t sim_mix(uint64_t x)
{
	return sim_next(&x);
}

/* ---- the ledger: every write a client attempted ----------------------- */
enum sim_wstate {
	W_REFUSED = 0,   /* no worker took it (not primary, catching up) */
	W_ASYNC,         /* taken, answered OK without waiting */
	W_HELD,          /* durable, waiting for acked() */
	W_OK,            /* durable, confirmed */
	W_NOT_REPL,      /* durable, NOT_REPLICATED */
};

struct sim_write {
	uint32_t key;
	uint8_t del;         /* DEL, else SET */
	uint8_t durable;
	uint8_t state;       /* enum sim_wstate */
	uint8_t node;
	uint8_t logged;      /* its record went into the rlog */
	uint32_t epoch;      /* the taking worker's published epoch */
	uint64_t t_try, t_done;
};

/* ---- one simulated worker ----------------------------------------------
 * app/ringcached/worker.c and lib/server/exec.c, reduced to what the
 * replication contract sees. The store is the node's (per key, below);
 * a worker owns the keys of its partition. */
struct sim_held {
	uint32_t id;         /* ledger index */
	uint64_t wseq, t;
};

/* A record a worker put in its rlog: which write (or which item, for a
 * snapshot record) it carries. */
struct sim_rec {
	uint32_t id, key;
	uint8_t del;
};

struct sim_worker {
	uint8_t role, role_seen;
	uint32_t epoch;
	bool durable_ok;
	uint64_t acked;      /* acked(w): records the standby has */
	uint64_t wseq, overflows;
	uint64_t applied, apply_failed;
	bool clearing;
	uint32_t clear_cur;
	uint32_t snap_req, snap_run, snap_done;
	bool snap_active;
	uint32_t snap_cur, snap_seen;
	uint64_t snap_wseq;
	uint32_t items;
	struct sim_rec *recs;        /* recs[i]: the record at wseq i + 1 */
	uint64_t recs_cap;
	uint64_t checked;            /* acked() checked up to this wseq */
	struct sim_held held[SIM_HELD];
	unsigned held_head, held_n;
	struct rc_repl_log *rlog, *alog;
};

/* ---- one node: the machine (disk survives a kill), the process (the
 * rest does not) ---------------------------------------------------------- */
struct sim_node {
	struct sim *sim;
	unsigned id;
	/* The machine. */
	uint32_t disk_epoch;         /* on disk */
	uint32_t disk_want;          /* the newest asked for */
	uint32_t disk_writing;       /* the write in flight */
	uint64_t disk_done_t;        /* the write in flight lands then (0: none) */
	uint64_t hang_until;         /* saves started before then take seconds */
	int64_t wall_skew;           /* its wall clock against the sim's */
	/* The process. */
	bool alive;
	uint64_t boot_t;             /* this incarnation started then */
	uint64_t restart_t;          /* killed: comes back then */
	struct rc_repl_node *n;
	struct rc_repl_env env;
	struct rc_repl_auth auth;
	struct rc_repl_node_cfg cfg;
	uint64_t rng;
	struct sim_worker w[SIM_MAX_WORKERS];
	uint32_t *ver;               /* per key: ledger id of the last write */
	uint8_t *present;            /* per key: live */
	uint8_t *applied_id;         /* per ledger id: applied from the alog */
	/* Faults on it. */
	uint64_t stall_until;        /* control loop not turned */
	uint64_t slowctl_until;      /* control loop turned only ... */
	uint64_t slowctl_every;      /* ... this often */
	uint64_t last_turn;
	uint64_t slow_until;         /* workers apply a few records a step */
	bool whole;                  /* its copy holds every write acked */
	/* The stream, as its socket sees it. */
	bool sock_open;
	bool sock_attacker;          /* the connection is the attacker's */
	uint64_t att_until;          /* which closes then */
	uint64_t down_t;             /* a cut: conn_down comes then (0: none) */
	/* The newest data-network beat, held while the control loop
	 * stalls (the daemon's workers publish only the newest). */
	uint8_t hb[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN + 64];
	uint32_t hb_len;
	uint64_t hb_t;
	struct rc_repl_view last_view;
	struct rc_repl_stats last_st;
};

/* ---- the networks ------------------------------------------------------ */
struct sim_chunk {
	struct sim_chunk *next;
	uint64_t at;                 /* arrives then */
	uint32_t len, off;
	uint8_t b[];
};

/* One direction of a stream connection: in order, reliable while up. */
struct sim_pipe {
	struct sim_chunk *head, *tail;
	uint64_t busy_until;         /* the link is sending until then */
	uint64_t inflight;           /* bytes sent, not yet taken */
	bool fin;                    /* the sender closed: EOF after the data */
	bool whole;                  /* last tx() was taken whole (a frame
				      * boundary follows: capture point) */
};

struct sim_dgram {
	struct sim_dgram *next;
	uint64_t at;
	unsigned to;
	uint32_t len;
	uint8_t b[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN + 64];
};

struct sim_capture {
	uint32_t len;
	unsigned from;               /* the node that sent it */
	uint8_t *b;
};

struct sim_net {
	bool conn;                   /* a genuine connection exists */
	uint64_t conn_t;             /* made then */
	bool broken;                 /* cut: it delivers nothing more */
	struct sim_pipe pipe[SIM_NODES];   /* pipe[i]: from node i */
	uint64_t last_dial;
	uint64_t latency, bw;        /* ns one way; bytes per second */
	uint64_t sndbuf;
	bool cut_stream, cut_data;
	unsigned loss, dup, reorder; /* data network, per mille */
	uint64_t dlat;               /* data network latency */
	struct sim_dgram *dq;        /* in flight, sorted by arrival */
	struct sim_capture cap_frame[SIM_CAPTURES], cap_beat[SIM_CAPTURES];
	unsigned n_frame, n_beat;
};

/* ---- faults -------------------------------------------------------------- */
enum sim_fault {
	F_CUT_STREAM, F_CUT_DATA, F_CUT_BOTH, F_KILL, F_STALL, F_SLOW,
	F_DISK_HANG, F_PROMOTE, F_PROMOTE_FORCE, F_DEMOTE, F_ATTACK,
	F_LOSSY, F_BURST, F_SLOW_CTL, F_PAUSE, F__COUNT
};

struct sim_event {
	uint64_t t, dur;
	uint8_t type;                /* enum sim_fault */
	uint8_t node;
};

#define SIM_MAX_EVENTS 64u

struct sim_stats {
	uint64_t seeds, steps, sim_ns;
	uint64_t faults[F__COUNT];
	uint64_t resets, promotions, connects, overflow_resets;
	uint64_t writes, refused, durable_ok, not_repl;
	uint64_t overflows;          /* writes whose record found no room */
	uint64_t checks[8];          /* per invariant (1..5) */
	uint64_t double_faults;      /* seeds where invariant 1 is skipped */
	uint64_t lost_async;         /* writes lost on failovers (inv. 5) */
	uint64_t forged, replayed;   /* the attacker's */
	uint64_t lag_underreports;   /* lost > lag, but not > lag + unnumbered */
	uint64_t same_epoch;         /* two writers at one epoch (partitioned) */
	uint64_t unforced_partial;   /* operator promotions of a partial copy
				      * that needed no --force */
};

/* ---- the world ------------------------------------------------------------ */
struct sim {
	uint64_t seed, rng;
	uint64_t t0, now;            /* monotonic ns: start, now */
	uint64_t dt;                 /* this step's length */
	uint64_t wall0;              /* wall clock at now = 0 */
	bool trace, failed;
	char why[512];
	unsigned nw;                 /* workers per node */
	uint32_t keys;               /* key space */
	uint32_t *part_keys[SIM_MAX_WORKERS]; /* keys of each partition */
	uint32_t part_n[SIM_MAX_WORKERS];
	uint8_t *key_part;
	uint8_t *scratch;            /* one byte per key */
	uint32_t *last_del;          /* per key: the last DEL taken */
	uint32_t vmin, vmax;         /* value sizes */
	uint64_t write_rate;         /* writes per simulated second */
	uint64_t fill_until;         /* a faster client until then */
	uint64_t burst_until;        /* a burst of writes until then */
	uint64_t burst_rate;         /* writes/s then */
	uint64_t durable_ns;         /* the durable wait */
	unsigned durable_pm;         /* share of durable writes, per mille */
	uint64_t apply_rate, snap_rate; /* records / items per second */
	uint8_t key[RC_REPL_KEY_LEN];
	struct sim_node node[SIM_NODES];
	struct sim_net net;
	unsigned base_loss, base_dup, base_reorder;
	struct sim_event ev[SIM_MAX_EVENTS];
	unsigned n_ev, next_ev;
	uint64_t stream_until, data_until, attack_until, lossy_until;
	uint64_t fault_end;          /* faults heal, traffic stops */
	uint64_t settle_limit;
	bool settling;
	bool attack;                 /* attacker active */
	bool double_fault;
	uint64_t joined_since;       /* a network has joined them since */
	uint64_t two_since;          /* two primaries since */
	uint64_t same_since;         /* two writers at one epoch since */
	struct sim_write *led;
	uint32_t n_led, cap_led;
	double write_acc;            /* fractional writes carried over */
	/* Invariant 5: the last primary killed, and what it said. */
	bool inv5_armed;
	unsigned inv5_dead;
	uint32_t inv5_epoch, inv5_to;
	uint64_t inv5_lag, inv5_unnumbered;
	uint64_t settle_resets, settle_promotions;
	/* Invariant 6: a pause of both hosts, begun on a settled pair with
	 * no other fault, is checked until then (0: none armed). */
	uint64_t inv6_until, inv6_promotions, inv6_disconnects;
	/* A pause of the host: the world's clock jumps by freeze_ns at the
	 * freeze_calls-th clock reading of a node (inside a turn). */
	uint64_t freeze_ns;
	unsigned freeze_calls;
	struct sim_stats st;
};

/* sim_worker.c */
void sim_key_name(uint32_t k, uint8_t *out);
uint32_t sim_value(const struct sim *s, uint32_t k, uint32_t id,
		   uint8_t *out);
void sim_workers_turn(struct sim_node *nd);
void sim_workers_after(struct sim_node *nd);
bool sim_catching_up(const struct sim_node *nd, unsigned w);
void sim_write(struct sim_node *nd, uint32_t id);
void sim_workers_free(struct sim_node *nd);
void sim_check_acked(struct sim_node *nd, unsigned w, uint64_t cnt);
unsigned sim_held_total(const struct sim_node *nd);

/* sim_env.c */
int sim_node_boot(struct sim_node *nd);
void sim_node_kill(struct sim_node *nd);
void sim_disk_turn(struct sim_node *nd);
uint64_t sim_wall(const struct sim_node *nd);

/* sim_net.c */
void sim_net_turn(struct sim *s);
void sim_net_flush(struct sim_node *nd);
void sim_net_close_side(struct sim_node *nd, const char *why);
void sim_net_cut(struct sim *s, bool stream, bool data);
void sim_net_heal(struct sim *s, bool stream, bool data);
void sim_net_beat(struct sim_node *from, const uint8_t *b, uint32_t n);
void sim_net_free(struct sim *s);
bool sim_net_joined(const struct sim *s);
void sim_net_inject_beat(struct sim *s, unsigned to, const uint8_t *b,
			 uint32_t n);
void sim_net_attacker_conn(struct sim *s, unsigned to, uint64_t until);

/* sim_attack.c */
void sim_attack_turn(struct sim *s);
void sim_capture(struct sim_capture *c, unsigned *n, uint64_t *rng,
		 unsigned from, const uint8_t *b, uint32_t len);

/* sim_fault.c */
int sim_plan(struct sim *s);
const char *sim_fault_name(unsigned f);
void sim_faults_turn(struct sim *s);
void sim_heal_all(struct sim *s);

/* sim_client.c */
void sim_clients_turn(struct sim *s, uint64_t dt);

/* sim_check.c */
void sim_check_step(struct sim *s);
void sim_check_end(struct sim *s);
bool sim_settled(struct sim *s);
void sim_note_kill(struct sim *s, unsigned dead);
void sim_check_heir(struct sim *s);
void sim_check_pause(struct sim *s, uint64_t dur);

/* sim_run.c */
int sim_run(uint64_t seed, bool trace, struct sim_stats *tot);
void sim_fail(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sim_trace(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
