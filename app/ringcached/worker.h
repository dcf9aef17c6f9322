/* SPDX-License-Identifier: MIT
 * Worker lcores: poll one queue, answer requests against one partition. */
#ifndef RCD_WORKER_H
#define RCD_WORKER_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "rc_classes.h"
#include "rc_net.h"
#include "rc_proto.h"
#include "rc_store.h"

#define RCD_MAX_BURST 64
#define RCD_MAINT_WORK 256u   /* items per store upkeep slice */

/* Counters written only by the owning worker, read by the control core.
 * Plain fields: no atomics on the fast path. */
struct rcd_worker_stats {
	uint64_t rx_packets, tx_packets, tx_failed;
	uint64_t requests;           /* well-formed datagrams executed */
	uint64_t arp_replies, icmp_replies;
	uint64_t handoff_out, handoff_in, handoff_dropped;
	uint64_t reply_failed;       /* reply did not fit the mbuf */
	uint64_t net_drops[RC_NET_DROP__COUNT];
	uint64_t proto_drops[RC_PROTO_E__COUNT];
	uint64_t ops[RC_OP__COUNT];
	uint64_t status[RC_ST__COUNT];
	struct rc_store_stats store; /* snapshot, refreshed by the worker */
	struct rc_store_class_stats classes[RC_STORE_MAX_CLASSES];
} __rte_cache_aligned;

struct rcd_worker {
	unsigned id;                 /* = partition = queue */
	unsigned lcore;
	uint16_t port_id;
	uint16_t burst;
	uint16_t partitions;
	uint32_t epoch;
	uint32_t max_key, max_value;
	const struct rc_classes *classes;
	uint64_t idle_sleep_us;
	uint64_t idle_spin_us;
	const struct rc_net_iface *ifc;
	struct rc_store *store;
	struct rte_mempool *pool;
	struct rte_ring *inbox;      /* requests handed over by other workers */
	struct rte_ring **inboxes;   /* all workers' inboxes, by partition */
	uint64_t tsc_hz, tsc_start;
	volatile int *quit;

	struct rte_mbuf *tx[RCD_MAX_BURST];
	uint16_t n_tx;
	uint8_t reply[RC_PROTO_MAX_DATAGRAM];
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

/* Publish the store's counters into w->stats for the control core. */
void rcd_worker_snapshot(struct rcd_worker *w);

/* Send what is queued for TX. */
void rcd_worker_flush(struct rcd_worker *w);

/* Execute one request datagram against w's partition and write the reply
 * payload into w->reply. Exposed for in-process tests and benchmarks.
 * @return reply length, or 0 if the datagram is dropped (counted). */
uint16_t rcd_worker_execute(struct rcd_worker *w, const uint8_t *req,
			    uint16_t len, uint32_t now);

#endif
