/* SPDX-License-Identifier: MIT
 * Worker lcores: poll one queue, answer requests against one partition. */
#ifndef RCD_WORKER_H
#define RCD_WORKER_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "rc_classes.h"
#include "rc_guard.h"
#include "rc_hist.h"
#include "rc_net.h"
#include "rc_proto.h"
#include "rc_reasm.h"
#include "rc_repl.h"
#include "rc_store.h"

#define RCD_MAX_BURST 64
#define RCD_MAINT_WORK 256u   /* items per store upkeep slice */
#define RCD_TX_RETRIES 64u    /* TX polls without progress before a drop */
#define RCD_MAX_WORKERS 64u   /* = dpdk.workers' bound */
#define RCD_LAT_PENDING 512u  /* ops awaiting their TX time */
#define RCD_CMD_RING 64u      /* control commands queued per worker */
#define RCD_CMD_WORK 1024u    /* index entries a flush looks at per slice */
#define RCD_HELD 1024u        /* durable replies waiting for the standby */
#define RCD_APPLY_WORK 256u   /* replicated records applied per loop turn */
#define RCD_SNAP_WORK 512u    /* items a snapshot slice looks at */

/* Data-plane heartbeats from the peer node, seen by any worker (UDP to
 * repl.hb_port from repl.peer_data_ip), read by the control core. */
struct rcd_hb {
	uint32_t peer_ip;            /* host order; 0: not expected */
	uint64_t last_ns;            /* CLOCK_MONOTONIC of the last one */
	uint64_t count;
	uint8_t body[RC_REPL_HELLO_LEN];
	uint8_t mac[RTE_ETHER_ADDR_LEN];
	uint32_t gen;                /* odd while being written */
};

/* A durable reply held until the standby confirms its writes. */
struct rcd_held {
	struct rte_mbuf *m;
	uint64_t wseq;               /* records up to here must be applied */
	uint64_t tsc;                /* held since */
};

/* Latency series: one histogram per (opcode, class); the class slot
 * RC_STORE_MAX_CLASSES is "no class" (NOOP, refused ops). */
#define RCD_LAT_CLASSES (RC_STORE_MAX_CLASSES + 1)
#define RCD_LAT_SERIES (RC_OP__COUNT * RCD_LAT_CLASSES)
static inline unsigned rcd_lat_series(uint8_t op, uint8_t cls)
{
	return op * RCD_LAT_CLASSES +
	       (cls < RC_STORE_MAX_CLASSES ? cls : RC_STORE_MAX_CLASSES);
}

/* A command from the control core, run by the worker that owns the
 * partition (the control core never touches a store). One allocation:
 * the control core mallocs it with its buffers; whoever finishes with it
 * last frees it (see state). */
enum rcd_cmd_type {
	RCD_CMD_GET,     /* rec[0]: copy the value into out */
	RCD_CMD_DEL,     /* rec[0] */
	RCD_CMD_SET,     /* rec[0..n): warm-up records */
	RCD_CMD_FLUSH,   /* every item of flush_class / with prefix */
};

enum rcd_cmd_state {
	RCD_CMD_PENDING = 0,
	RCD_CMD_DONE,      /* the worker finished: the control core frees */
	RCD_CMD_ABANDONED, /* the control core gave up: the worker frees */
};

struct rcd_cmd_rec {
	const uint8_t *key, *value;
	uint16_t key_len;
	uint32_t value_len;
	uint32_t flags, ttl;
	uint8_t class_id;          /* or RC_PROTO_CLASS_AUTO */
	uint8_t status;            /* out: RC_ST_* */
};

struct rcd_cmd {
	enum rcd_cmd_type type;
	uint32_t state;            /* enum rcd_cmd_state, atomic */
	unsigned n;
	struct rcd_cmd_rec *rec;
	/* GET */
	uint8_t *out;
	uint32_t out_cap, out_len, out_flags;
	uint64_t out_cas;
	uint8_t out_class, out_stale;
	/* FLUSH */
	int flush_class;           /* -1: any class */
	uint16_t prefix_len;       /* 0: any key */
	uint8_t prefix[RC_PROTO_MAX_KEY];
	uint32_t cursor;
	uint64_t removed;
};

/* Counters written only by the owning worker, read by the control core.
 * Plain fields: no atomics on the fast path. */
struct rcd_worker_stats {
	uint64_t rx_packets, tx_packets, tx_failed;
	uint64_t requests;           /* well-formed datagrams executed */
	uint64_t arp_replies, icmp_replies;
	uint64_t handoff_out, handoff_in, handoff_dropped;
	uint64_t reply_failed;       /* no mbuf for the reply */
	uint64_t tx_retries;         /* TX ring full, polled again */
	uint64_t drop_acl;           /* source outside acl.allow */
	uint64_t drop_amplification; /* untrusted request smaller than any
				      * answer to it */
	uint64_t seg_in, seg_out;    /* segments received, sent */
	uint64_t busy_replies;       /* reassembly full: answered BUSY */
	uint64_t read_only_refused;  /* writes answered READ_ONLY */
	uint64_t commands;           /* control-core commands run */
	uint64_t not_primary;        /* writes answered NOT_PRIMARY */
	uint64_t repl_records;       /* records put in the replication log */
	uint64_t repl_overflow;      /* records the full log could not take */
	uint64_t repl_snapshot;      /* of them, snapshot records */
	uint64_t repl_applied;       /* replicated records applied here */
	uint64_t repl_apply_failed;  /* of them, refused by the store */
	uint64_t durable_held, durable_acked, durable_failed;
	uint64_t hb_rx, hb_bad;      /* data-plane heartbeats */
	uint64_t ctl_tx;             /* frames sent for the control core */
	uint64_t gaps, gap_ns;       /* loop turns over 100 us apart (not
				      * napping): the host took the CPU, or
				      * one turn's work ran long */
	uint64_t net_drops[RC_NET_DROP__COUNT];
	uint64_t proto_drops[RC_PROTO_E__COUNT];
	uint64_t ops[RC_OP__COUNT];
	uint64_t status[RC_ST__COUNT];
	struct rc_reasm_stats reasm; /* snapshots, refreshed by the worker */
	struct rc_ratelimit_stats rate;
	struct rc_store_stats store;
	struct rc_store_class_stats classes[RC_STORE_MAX_CLASSES];
} __rte_cache_aligned;

/* A reply as pieces: header bytes in the worker, values in the store.
 * Copied once, into the TX mbuf(s). */
struct rcd_piece {
	const uint8_t *p;
	uint32_t len;
	uint8_t in_store;
};

struct rcd_reply {
	uint32_t len;                /* all pieces */
	uint32_t hdr_done;           /* bytes of w->reply already pieces */
	uint32_t pinned;             /* bytes of w->pinned in use */
	unsigned n;
	struct rcd_piece v[2 * RC_PROTO_MAX_OPS + 1];
};

/* A GET looked up ahead of execution, with the rest of its burst. */
struct rcd_pre {
	enum rc_store_result res;
	struct rc_store_item_view v;
};

/* How one request may be answered. */
struct rcd_exec {
	uint32_t cap;                /* largest reply: the request's size for
				      * an untrusted source */
	uint32_t src;                /* sender (host order), for its rate
				      * quota: charged per op once the
				      * request is known to be well formed */
};

struct rcd_worker {
	unsigned id;                 /* = partition = queue */
	unsigned lcore;
	uint16_t port_id;
	uint16_t burst;
	uint16_t partitions;
	volatile uint32_t epoch;     /* set by the control core */
	uint32_t max_key, max_value;
	const struct rc_classes *classes;
	const struct rc_cidr_list *allow, *trusted;
	struct rc_ratelimit *rl;     /* NULL: no rate limits */
	struct rc_reasm *reasm;      /* NULL: segmented requests dropped */
	uint64_t idle_sleep_us;
	uint64_t idle_spin_us;
	volatile uint8_t io_only;    /* benchmark: reflect, no store (set at
				      * start and by config reload) */
	/* Set by the control core, read once per request. */
	volatile uint8_t read_only;  /* writes answered READ_ONLY */
	volatile uint32_t ttl_pct;   /* TTL multiplier x100 (100: as sent) */
	struct rte_ring *cmdq;       /* control commands (NULL: none) */
	/* Replication. The control core sets role; writes are served only
	 * by a PRIMARY or STANDALONE node. */
	volatile uint8_t role;       /* enum rc_repl_role */
	struct rc_repl_log *rlog;    /* primary: records out (NULL: off) */
	struct rc_repl_log *alog;    /* standby: records to apply */
	uint64_t wseq;               /* records put in rlog so far */
	volatile uint64_t acked_wseq;  /* the standby applied up to here */
	volatile uint8_t durable_ok; /* a standby is attached */
	uint64_t durable_wait_tsc;   /* longest a durable reply waits */
	volatile uint64_t applied;   /* alog records consumed (standby) */
	volatile uint32_t snap_req;  /* control: start a snapshot pass */
	volatile uint32_t snap_done; /* the pass snap_req asked for is done */
	uint32_t snap_run;           /* the request the pass serves */
	bool snap_active, clearing;
	struct rc_store_cursor snap_cur;
	uint32_t clear_cursor;
	uint64_t clear_removed;
	uint64_t dur_wseq;           /* execute: this request's last record
				      * if it asked to be durable, else 0 */
	unsigned held_head, held_n;
	struct rcd_held held[RCD_HELD];
	struct rcd_hb *hb;           /* shared by all workers (NULL: off) */
	struct rte_ring *ctl_tx;     /* frames the control core sends */
	struct rcd_cmd *cmd;         /* the one being run (a flush spans
				      * several slices) */
	/* Latency: per-op service time, RX poll to TX burst. NULL: off. */
	struct rc_hist *lat;         /* RCD_LAT_SERIES histograms */
	uint64_t ns_per_tsc_q32;     /* ns = cycles * this >> 32 */
	uint16_t n_lat;
	uint16_t lat_series[RCD_LAT_PENDING];
	uint64_t lat_rx[RCD_LAT_PENDING];
	const struct rc_net_iface *ifc;
	struct rc_store *store;
	struct rte_mempool *pool;
	struct rte_ring *inbox;      /* requests handed over by other workers */
	struct rte_ring **inboxes;   /* all workers' inboxes, by partition */
	uint64_t tsc_hz, tsc_start;
	uint64_t now_tsc;            /* set once per loop turn */
	/* CLOCK_MONOTONIC ns at the end of the last stats publish: every
	 * request answered before it is in the published counters. */
	volatile uint64_t published_ns;
	volatile int *quit;

	struct rte_mbuf *tx[RCD_MAX_BURST];
	uint16_t n_tx;
	/* Requests for other partitions, sent to their owners once a burst. */
	uint16_t n_ho[RCD_MAX_WORKERS];
	struct rte_mbuf *ho[RCD_MAX_WORKERS][RCD_MAX_BURST];
	struct rc_proto_hdr rh;      /* header of the reply being built */
	struct rcd_reply out;
	const struct rcd_pre *pre;   /* set while executing a batched GET */
	/* The reply's header and op headers; values stay where they are. */
	uint8_t reply[RC_PROTO_HDR_LEN + RC_PROTO_MAX_OPS * RC_PROTO_REP_OP_LEN];
	uint8_t pinned[RC_PROTO_MAX_DATAGRAM]; /* values copied out of the
						* store before a write */
	struct rc_proto_req_op ops[RC_PROTO_MAX_OPS];
	struct rcd_worker_stats stats;
} __rte_cache_aligned;

/* The store's digest function: the protocol's XXH3-128 of the key. */
void rcd_key_digest(const void *key, size_t len, void *out);

/* lcore entry point; arg is a struct rcd_worker. */
int rcd_worker_main(void *arg);

/* One received frame through the whole server path: classify, hand off
 * or execute, reply in place, queue for TX (flushed every burst). Takes
 * ownership of m. Exposed for in-process benchmarks (perf/instructions). */
void rcd_worker_handle(struct rcd_worker *w, struct rte_mbuf *m, uint32_t now);

/* A received burst: the single-op GETs before its first other request
 * for this partition are looked up together (rte_hash bulk lookup, items
 * prefetched), then every frame goes through rcd_worker_handle's path in
 * order. Results are exactly those of handling the frames one by one. */
void rcd_worker_burst(struct rcd_worker *w, struct rte_mbuf **pkts,
		      uint16_t n, uint32_t now);

/* Publish the store's counters into w->stats for the control core. */
void rcd_worker_snapshot(struct rcd_worker *w);

/* Send what is queued for TX, then record the latency of every op
 * answered since the last flush. */
void rcd_worker_flush(struct rcd_worker *w);

/* Apply up to max records of the standby's apply log.
 * @return records applied. */
unsigned rcd_worker_apply(struct rcd_worker *w, uint32_t now, unsigned max);

/* Send held durable replies whose records are confirmed, and fail those
 * whose standby is gone or that waited too long. */
void rcd_worker_release(struct rcd_worker *w);

/* Run (a slice of) the control core's commands. Exposed for tests. */
void rcd_worker_commands(struct rcd_worker *w, uint32_t now);

/* Execute one request message (a datagram or a reassembled one) against
 * w's partition and describe the reply in w->out / w->rh. Exposed for
 * in-process tests and benchmarks.
 * @return reply length, or 0 if the request is dropped (counted). */
uint32_t rcd_worker_execute(struct rcd_worker *w, const uint8_t *req,
			    size_t len, const struct rcd_exec *x,
			    uint32_t now);

/* Copy len bytes of the reply described by r, from offset off, to dst. */
void rcd_reply_copy(const struct rcd_reply *r, uint32_t off, uint8_t *dst,
		    uint32_t len);

#endif
