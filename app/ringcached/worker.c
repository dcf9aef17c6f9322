/* SPDX-License-Identifier: MIT
 * The worker loop: RX burst -> classify -> execute -> reply in place ->
 * buffered TX burst. No locks, no syscalls (unless idle_sleep_us is set). */
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <numa.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include "worker.h"

static const uint8_t store_to_status[] = {
	[RC_STORE_OK] = RC_ST_OK,
	[RC_STORE_NOT_FOUND] = RC_ST_NOT_FOUND,
	[RC_STORE_EXISTS] = RC_ST_EXISTS,
	[RC_STORE_TOO_LARGE] = RC_ST_TOO_LARGE,
	[RC_STORE_NO_MEMORY] = RC_ST_NO_MEMORY,
	[RC_STORE_BAD_CLASS] = RC_ST_UNKNOWN_CLASS,
};

/* Check what the store cannot: lengths against configured limits, the
 * partition, and fields that make no sense for the opcode. */
static uint8_t precheck(const struct rcd_worker *w,
			const struct rc_proto_req_op *op,
			struct rc_proto_digest *d)
{
	if (op->opcode == RC_OP_NOOP)
		return op->key_len || op->value_len ? RC_ST_BAD_REQUEST
						    : RC_ST_OK;
	if (op->key_len == 0)
		return RC_ST_BAD_REQUEST;
	if (op->opcode != RC_OP_SET && op->value_len != 0)
		return RC_ST_BAD_REQUEST;
	if (op->key_len > w->max_key || op->value_len > w->max_value)
		return RC_ST_TOO_LARGE;
	rc_proto_key_digest(op->key, op->key_len, d);
	if (rc_proto_partition(d, w->partitions) != w->id)
		return RC_ST_WRONG_PARTITION;
	return RC_ST_OK;
}

void rcd_key_digest(const void *key, size_t len, void *out)
{
	rc_proto_key_digest(key, len, out);
}

/* The request's class: explicit, or from the key's prefix. */
static uint8_t class_of(const struct rcd_worker *w,
			const struct rc_proto_req_op *op, uint8_t *st)
{
	if (op->class_id == RC_PROTO_CLASS_AUTO)
		return rc_classes_match(w->classes, op->key, op->key_len);
	if (op->class_id >= w->classes->n)
		*st = RC_ST_UNKNOWN_CLASS;
	return op->class_id;
}

uint16_t rcd_worker_execute(struct rcd_worker *w, const uint8_t *req,
			    uint16_t len, uint32_t now)
{
	struct rcd_worker_stats *st = &w->stats;
	struct rc_proto_hdr h;
	enum rc_proto_rstatus rs;
	size_t off = RC_PROTO_HDR_LEN;

	rs = rc_proto_decode_request(req, len, &h, w->ops, RC_PROTO_MAX_OPS);
	if (rs != RC_PROTO_OK) {
		st->proto_drops[rs]++;
		return 0;
	}
	st->requests++;
	for (unsigned i = 0; i < h.n_ops; i++) {
		const struct rc_proto_req_op *op = &w->ops[i];
		struct rc_proto_rep_op r = {.opcode = op->opcode,
					    .class_id = op->class_id};
		struct rc_store_item_view v;
		struct rc_proto_digest d;
		uint8_t cls;

		st->ops[op->opcode]++;
		r.status = precheck(w, op, &d);
		if (r.status == RC_ST_OK) {
			switch (op->opcode) {
			case RC_OP_GET:
				r.status = store_to_status[rc_store_get(
					w->store, &d, op->key, op->key_len,
					op->class_id, now, &v)];
				/* A miss counts for the class the key would
				 * have; matching prefixes only then. */
				if (r.status == RC_ST_NOT_FOUND &&
				    op->class_id == RC_PROTO_CLASS_AUTO)
					rc_store_count_miss(
						w->store,
						rc_classes_match(w->classes,
								 op->key,
								 op->key_len));
				if (r.status != RC_ST_OK)
					break;
				/* Keep room for a 20-byte answer to every
				 * later op; else ask the client to retry. */
				if (off + rc_proto_rep_op_size(v.value_len) +
					    (h.n_ops - i - 1) *
						    RC_PROTO_REP_OP_LEN >
				    sizeof(w->reply)) {
					r.status = RC_ST_OVERFLOW;
					break;
				}
				r.value = v.value;
				r.value_len = v.value_len;
				r.client_flags = v.client_flags;
				r.cas = v.cas;
				r.class_id = v.class_id;
				break;
			case RC_OP_SET:
				cls = class_of(w, op, &r.status);
				if (r.status != RC_ST_OK)
					break;
				r.class_id = cls;
				r.status = store_to_status[rc_store_set(
					w->store, &d, op->key, op->key_len,
					op->value, op->value_len,
					op->client_flags, op->ttl, op->cas, cls,
					now, &r.cas)];
				break;
			case RC_OP_DELETE:
				r.status = store_to_status[rc_store_delete(
					w->store, &d, op->key, op->key_len,
					op->cas, now)];
				break;
			case RC_OP_TOUCH:
				r.status = store_to_status[rc_store_touch(
					w->store, &d, op->key, op->key_len,
					op->ttl, now, &r.cas)];
				break;
			default: /* NOOP */
				break;
			}
		}
		st->status[r.status]++;
		/* Cannot fail: the room check above reserves the space. */
		off += rc_proto_rep_op_encode(w->reply + off,
					      sizeof(w->reply) - off, &r);
	}
	h.flags = RC_PROTO_F_REPLY;
	h.epoch = w->epoch;
	h.partitions = w->partitions;
	rc_proto_hdr_encode(w->reply, &h);
	return (uint16_t)off;
}

static inline uint32_t store_clock(const struct rcd_worker *w)
{
	/* Seconds since start, from 1: 0 means "never expires". */
	return (uint32_t)((rte_rdtsc() - w->tsc_start) / w->tsc_hz) + 1;
}

void rcd_worker_flush(struct rcd_worker *w)
{
	uint16_t sent;

	if (w->n_tx == 0)
		return;
	sent = rte_eth_tx_burst(w->port_id, (uint16_t)w->id, w->tx, w->n_tx);
	w->stats.tx_packets += sent;
	if (unlikely(sent < w->n_tx)) {
		w->stats.tx_failed += w->n_tx - sent;
		rte_pktmbuf_free_bulk(&w->tx[sent], w->n_tx - sent);
	}
	w->n_tx = 0;
}

static inline void tx_queue(struct rcd_worker *w, struct rte_mbuf *m)
{
	w->tx[w->n_tx++] = m;
	if (w->n_tx == w->burst)
		rcd_worker_flush(w);
}

/* Answer one datagram for our partition, or drop it. */
static void serve(struct rcd_worker *w, struct rte_mbuf *m,
		  const struct rc_net_udp *u, uint32_t now)
{
	uint16_t rlen = rcd_worker_execute(w, u->payload, u->len, now);

	if (rlen == 0) {
		rte_pktmbuf_free(m);
		return;
	}
	if (unlikely(rc_net_udp_reply(m, w->reply, rlen) != 0)) {
		w->stats.reply_failed++;
		rte_pktmbuf_free(m);
		return;
	}
	tx_queue(w, m);
}

void rcd_worker_handle(struct rcd_worker *w, struct rte_mbuf *m, uint32_t now)
{
	struct rc_net_udp u;
	unsigned reason = 0, owner;

	switch (rc_net_classify(w->ifc, m, &u, &reason)) {
	case RC_NET_TX:
		if (rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->ether_type ==
		    rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
			w->stats.arp_replies++;
		else
			w->stats.icmp_replies++;
		tx_queue(w, m);
		return;
	case RC_NET_UDP:
		owner = u.dst_port - w->ifc->base_port;
		if (owner == w->id) {
			serve(w, m, &u, now);
			return;
		}
		/* The NIC could not steer it: the owner answers it. */
		if (rte_ring_mp_enqueue(w->inboxes[owner], m) != 0) {
			w->stats.handoff_dropped++;
			rte_pktmbuf_free(m);
		} else {
			w->stats.handoff_out++;
		}
		return;
	default:
		w->stats.net_drops[reason]++;
		rte_pktmbuf_free(m);
		return;
	}
}

static void handle_inbox(struct rcd_worker *w, uint32_t now)
{
	struct rte_mbuf *pkts[RCD_MAX_BURST];
	unsigned n = rte_ring_sc_dequeue_burst(w->inbox, (void **)pkts,
					       w->burst, NULL);

	w->stats.handoff_in += n;
	for (unsigned i = 0; i < n; i++) {
		struct rc_net_udp u;

		/* Validated by the worker that received it. */
		rc_net_udp_locate(pkts[i], &u);
		serve(w, pkts[i], &u, now);
	}
}

void rcd_worker_snapshot(struct rcd_worker *w)
{
	rc_store_get_stats(w->store, &w->stats.store);
	for (unsigned c = 0; c < w->classes->n; c++)
		rc_store_get_class_stats(w->store, (uint8_t)c,
					 &w->stats.classes[c]);
}

int rcd_worker_main(void *arg)
{
	struct rcd_worker *w = arg;
	struct rte_mbuf *pkts[RCD_MAX_BURST];
	const uint64_t drain = w->tsc_hz / 10000; /* 100 us */
	const uint64_t idle_spin = w->tsc_hz / 1000000 * w->idle_spin_us;
	const struct timespec idle_ts = {0, (long)w->idle_sleep_us * 1000};
	const uint64_t maint = w->tsc_hz / 20000; /* 50 us */
	uint64_t last_tx = rte_rdtsc(), last_stats = 0, last_rx = last_tx;
	uint64_t last_maint = last_tx;

	/* Items come from jemalloc, whose pages are placed on first touch:
	 * make this thread's faults prefer its own node so a partition's
	 * memory sits beside the core that owns it. */
	if (numa_available() >= 0)
		numa_set_preferred((int)rte_socket_id());
	/* An idle sleep must end on time: the default 50 us slack would
	 * add itself to the first request after every pause. */
	if (w->idle_sleep_us)
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	while (!*w->quit) {
		uint64_t now_tsc = rte_rdtsc();
		uint32_t now = store_clock(w);
		uint16_t n = rte_eth_rx_burst(w->port_id, (uint16_t)w->id,
					      pkts, w->burst);

		w->stats.rx_packets += n;
		for (uint16_t i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1],
							       void *));
			rcd_worker_handle(w, pkts[i], now);
		}
		if (w->partitions > 1)
			handle_inbox(w, now);
		if (w->n_tx && (n == 0 || now_tsc - last_tx > drain)) {
			rcd_worker_flush(w);
			last_tx = now_tsc;
		}
		/* Store upkeep (expiry, budgets, compaction ahead of need)
		 * in slices of at most RCD_MAINT_WORK items, 20,000 times a
		 * second: up to 5M items/s, never one long pause. */
		if (now_tsc - last_maint > maint) {
			rc_store_maintain(w->store, now, RCD_MAINT_WORK);
			last_maint = now_tsc;
		}
		/* Publish a store snapshot for the control core ~100x/s. */
		if (now_tsc - last_stats > w->tsc_hz / 100) {
			rcd_worker_snapshot(w);
			last_stats = now_tsc;
		}
		/* Optional back-off once idle: on a VM whose host caps the
		 * guest's CPU time, a worker that polls a quiet queue spends
		 * the quota the rest of the machine needs (perf/README.md). */
		if (n != 0)
			last_rx = now_tsc;
		else if (w->idle_sleep_us && now_tsc - last_rx > idle_spin)
			nanosleep(&idle_ts, NULL);
	}
	rcd_worker_flush(w);
	rcd_worker_snapshot(w);
	return 0;
}
