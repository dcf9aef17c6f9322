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
#include "rc_policy.h"
#include "rc_proto.h"
#include "rc_pub.h"
#include "rc_reasm.h"
#include "rc_repl.h"
#include "rc_server.h"
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
	uint32_t len;                /* expected payload: node state, and
				      * the auth trailer when auth is set */
	const struct rc_repl_auth *auth; /* NULL: repl.insecure; its keys
				      * only are read here (immutable) */
	uint64_t bad_auth;           /* from peer_ip, not authentic
				      * (atomic; any worker) */
	uint64_t replayed;           /* authentic, counter not above the
				      * last published one (atomic) */
	uint64_t pub_session, pub_ctr; /* of the last one published */
	uint64_t last_ns;            /* CLOCK_MONOTONIC of the last one */
	uint64_t count;
	uint8_t body[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN];
	uint8_t mac[RTE_ETHER_ADDR_LEN];
	uint32_t gen;                /* odd while being written */
};

/* A durable reply held until the standby confirms its writes. */
struct rcd_held {
	struct rte_mbuf *m;
	uint64_t wseq;               /* records up to here must be applied */
	uint64_t tsc;                /* held since */
};

/* Latency series: one histogram per (opcode, class) (lib/server). */
#define RCD_LAT_CLASSES RC_SERVER_LAT_CLASSES
#define RCD_LAT_SERIES RC_SERVER_LAT_SERIES
#define rcd_lat_series rc_server_lat_series

/* A command from the control core (struct rc_cmd, lib/server), run by
 * the worker that owns the partition (the control core never touches a
 * store). The control core mallocs it with its buffers; whoever finishes
 * with it last frees it, by its state: */
enum rcd_cmd_state {
	RCD_CMD_PENDING = 0,
	RCD_CMD_DONE,      /* the worker finished: the control core frees */
	RCD_CMD_ABANDONED, /* the control core gave up: the worker frees */
};

/* Counters written only by the owning worker, read by the control core.
 * Plain fields: no atomics on the fast path. */
struct rcd_worker_stats {
	struct rc_partition_stats srv; /* the request processor's */
	uint64_t rx_packets, tx_packets, tx_failed;
	uint64_t arp_replies, icmp_replies;
	uint64_t handoff_out, handoff_in, handoff_dropped;
	uint64_t reply_failed;       /* no mbuf for the reply */
	uint64_t tx_retries;         /* TX ring full, polled again */
	uint64_t drop_acl;           /* source outside acl.allow */
	uint64_t seg_in, seg_out;    /* segments received, sent */
	uint64_t busy_replies;       /* reassembly full: answered BUSY */
	uint64_t durable_held, durable_acked, durable_failed;
	uint64_t hb_rx, hb_bad;      /* data-plane heartbeats */
	uint64_t ctl_tx;             /* frames sent for the control core */
	uint64_t gaps, gap_ns;       /* loop turns over 100 us apart (not
				      * napping): the host took the CPU, or
				      * one turn's work ran long */
	/* Loop turns that found work (frames from the NIC or the inbox,
	 * records to apply, replies to send) and turns that found none;
	 * TSC cycles spent in
	 * the turns that found work (their start to their end). */
	uint64_t polls_busy, polls_idle, busy_tsc;
	uint64_t net_drops[RC_NET_DROP__COUNT];
	struct rc_reasm_stats reasm; /* snapshots, refreshed by the worker */
	struct rc_ratelimit_stats rate;
	struct rc_store_stats store;
	struct rc_store_class_stats classes[RC_STORE_MAX_CLASSES];
} __rte_cache_aligned;

struct rcd_worker {
	/* The partition it owns and the request processor's state (store,
	 * limits, role, read-only, TTL multiplier, replication log, the
	 * reply being built): lib/server. */
	struct rc_partition p;
	unsigned id;                 /* = partition = queue */
	unsigned lcore;
	uint16_t port_id;
	uint16_t burst;
	uint16_t partitions;
	/* The request policy in use: allow and trusted point into it, as
	 * do p.classes and p.rl. A reload hands a new one over through pub
	 * (taken at the top of a loop turn, policy.h). */
	const struct rc_cidr_list *allow, *trusted;
	struct rc_policy *pol;
	struct rc_pub pub;
	struct rc_ratelimit_stats rate_base; /* of buckets replaced */
	struct rc_reasm *reasm;      /* NULL: segmented requests dropped */
	uint64_t idle_sleep_us;
	uint64_t idle_spin_us;
	volatile uint8_t io_only;    /* benchmark: reflect, no store (set at
				      * start and by config reload) */
	struct rte_ring *cmdq;       /* control commands (NULL: none) */
	struct rc_apply ap;          /* standby: records to apply */
	volatile uint64_t acked_wseq;  /* the standby applied up to here */
	uint64_t durable_wait_tsc;   /* longest a durable reply waits */
	volatile uint32_t snap_req;  /* control: start a snapshot pass */
	volatile uint32_t snap_done; /* the pass snap_req asked for is done */
	uint8_t role_seen;           /* p.role at the top of the last
				      * loop: no write after it is older */
	volatile uint64_t snap_wseq; /* p.wseq when it was done: every
				      * record of the pass is below */
	uint32_t snap_run;           /* the request the pass serves */
	bool snap_active;
	struct rc_store_cursor snap_cur;
	unsigned held_head, held_n;
	struct rcd_held held[RCD_HELD];
	struct rcd_hb *hb;           /* shared by all workers (NULL: off) */
	struct rte_ring *ctl_tx;     /* frames the control core sends */
	struct rc_cmd *cmd;          /* the one being run (a flush spans
				      * several slices) */
	uint64_t cmd_tsc;            /* when it was taken from the ring */
	uint64_t cmd_delay_tsc;      /* dpdk.test_command_delay_ms */
	/* Latency: per-op service time, RX poll to TX burst. NULL: off. */
	struct rc_hist *lat;         /* RCD_LAT_SERIES histograms */
	uint64_t ns_per_tsc_q32;     /* ns = cycles * this >> 32 */
	uint16_t n_lat;
	uint16_t lat_series[RCD_LAT_PENDING];
	uint64_t lat_rx[RCD_LAT_PENDING];
	const struct rc_net_iface *ifc;
	struct rte_mempool *pool;
	struct rte_ring *inbox;      /* requests handed over by other workers */
	struct rte_ring **inboxes;   /* all workers' inboxes, by partition */
	uint64_t tsc_hz, tsc_start;
	uint64_t now_tsc;            /* set once per loop turn */
	/* CLOCK_MONOTONIC ns at the end of the last stats publish: every
	 * request answered before it is in the published counters. */
	volatile uint64_t published_ns;
	volatile int *quit;

	struct rc_pre pre[RC_STORE_BULK]; /* a burst's batched GETs */
	struct rte_mbuf *tx[RCD_MAX_BURST];
	uint16_t n_tx;
	/* Requests for other partitions, sent to their owners once a burst. */
	uint16_t n_ho[RCD_MAX_WORKERS];
	struct rte_mbuf *ho[RCD_MAX_WORKERS][RCD_MAX_BURST];
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

/* Send held durable replies whose records are confirmed, and fail those
 * whose standby is gone or that waited too long. */
void rcd_worker_release(struct rcd_worker *w);

/* Run (a slice of) the control core's commands. */
void rcd_worker_commands(struct rcd_worker *w, uint32_t now);

#endif
