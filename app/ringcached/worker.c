/* SPDX-License-Identifier: MIT
 * The worker loop: RX burst -> classify -> execute -> reply in place ->
 * buffered TX burst. No locks, no syscalls (unless idle_sleep_us is set). */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <numa.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include "policy.h"
#include "worker.h"

void rcd_key_digest(const void *key, size_t len, void *out)
{
	rc_proto_key_digest(key, len, out);
}

/* ---- latency --------------------------------------------------------- */

static void lat_record(struct rcd_worker *w)
{
	const uint64_t now = rte_rdtsc();

	for (unsigned i = 0; i < w->n_lat; i++)
		rc_hist_add(&w->lat[w->lat_series[i]],
			    ((now - w->lat_rx[i]) * w->ns_per_tsc_q32) >> 32);
	w->n_lat = 0;
}

/* An op's reply is built; its time is taken once it is sent. */
static inline void lat_note(struct rcd_worker *w, unsigned series)
{
	if (!w->lat)
		return;
	if (unlikely(w->n_lat == RCD_LAT_PENDING))
		rcd_worker_flush(w);
	w->lat_series[w->n_lat] = (uint16_t)series;
	w->lat_rx[w->n_lat++] = w->now_tsc;
}

/* The ops the processor just answered, timed from this turn's RX poll. */
static inline void lat_note_request(struct rcd_worker *w)
{
	for (unsigned i = 0; i < w->p.n_notes; i++)
		lat_note(w, w->p.notes[i]);
}

static inline uint32_t store_clock(const struct rcd_worker *w)
{
	/* Seconds since start, from 1: 0 means "never expires". */
	return (uint32_t)((rte_rdtsc() - w->tsc_start) / w->tsc_hz) + 1;
}

void rcd_worker_flush(struct rcd_worker *w)
{
	uint16_t sent = 0;
	unsigned idle = 0;

	if (w->n_tx == 0)
		goto done;
	/* A full TX ring is polled again a bounded number of times: a
	 * segmented reply is hundreds of frames at once. */
	while (sent < w->n_tx && idle < RCD_TX_RETRIES) {
		uint16_t k = rte_eth_tx_burst(w->port_id, (uint16_t)w->id,
					      w->tx + sent, w->n_tx - sent);

		sent += k;
		if (k == 0) {
			idle++;
			w->stats.tx_retries++;
			rte_pause();
		}
	}
	w->stats.tx_packets += sent;
	if (unlikely(sent < w->n_tx)) {
		w->stats.tx_failed += w->n_tx - sent;
		rte_pktmbuf_free_bulk(&w->tx[sent], w->n_tx - sent);
	}
	w->n_tx = 0;
done:
	if (w->n_lat)
		lat_record(w);
}

static inline void tx_queue(struct rcd_worker *w, struct rte_mbuf *m)
{
	w->tx[w->n_tx++] = m;
	if (w->n_tx == w->burst)
		rcd_worker_flush(w);
}

/* A reply longer than a datagram: n segments, m (the request) becomes
 * the last one, the others are new mbufs with its headers. */
static void send_segments(struct rcd_worker *w, struct rte_mbuf *m,
			  uint32_t total)
{
	struct rc_proto_hdr h = w->p.rh;
	const uint16_t n = (uint16_t)rc_proto_seg_count(total);
	const uint32_t last = total - RC_PROTO_HDR_LEN -
			      (uint32_t)(n - 1) * RC_PROTO_SEG_BODY;
	uint8_t *p = rc_net_udp_reply_begin(m, (uint16_t)(RC_PROTO_HDR_LEN + last));

	if (unlikely(!p)) {
		w->stats.reply_failed++;
		rte_pktmbuf_free(m);
		return;
	}
	h.flags |= RC_PROTO_F_SEGMENTED;
	h.seg_count = n;
	for (uint16_t i = 0; i < n - 1; i++) {
		uint8_t *q;
		struct rte_mbuf *s = rc_net_udp_reply_copy(
			w->pool, m, RC_PROTO_MAX_DATAGRAM, &q);

		if (unlikely(!s)) {
			/* The client times out and asks again. */
			w->stats.reply_failed++;
			rte_pktmbuf_free(m);
			return;
		}
		h.seg_index = i;
		rc_proto_hdr_encode(q, &h);
		rc_reply_copy(&w->p.out,
			       RC_PROTO_HDR_LEN + (uint32_t)i * RC_PROTO_SEG_BODY,
			       q + RC_PROTO_HDR_LEN, RC_PROTO_SEG_BODY);
		rc_net_udp_reply_end(s);
		w->stats.seg_out++;
		tx_queue(w, s);
	}
	h.seg_index = (uint16_t)(n - 1);
	rc_proto_hdr_encode(p, &h);
	rc_reply_copy(&w->p.out,
		       RC_PROTO_HDR_LEN + (uint32_t)(n - 1) * RC_PROTO_SEG_BODY,
		       p + RC_PROTO_HDR_LEN, last);
	rc_net_udp_reply_end(m);
	w->stats.seg_out++;
	tx_queue(w, m);
}

/* Write the reply described by w->p.out into m (over the request, whose
 * contents are no longer needed) or, if longer, into segments. */
/* Write the reply described by w->p.out into m. @return false (m freed,
 * counted) if m cannot hold it. */
static bool build_reply(struct rcd_worker *w, struct rte_mbuf *m,
			uint32_t total)
{
	uint8_t *p = rc_net_udp_reply_begin(m, (uint16_t)total);

	if (unlikely(!p)) {
		w->stats.reply_failed++;
		rte_pktmbuf_free(m);
		return false;
	}
	rc_reply_copy(&w->p.out, 0, p, total);
	rc_net_udp_reply_end(m);
	return true;
}

static void send_reply(struct rcd_worker *w, struct rte_mbuf *m,
		       uint32_t total)
{
	if (unlikely(total > RC_PROTO_MAX_DATAGRAM)) {
		send_segments(w, m, total);
		return;
	}
	if (build_reply(w, m, total))
		tx_queue(w, m);
}

/* The reply to what rcd_worker_execute just ran: sent, or, for a
 * durable write, held until the standby has its records. */
static void answer(struct rcd_worker *w, struct rte_mbuf *m, uint32_t total)
{
	struct rcd_held *hd;

	if (likely(!w->p.dur_wseq) || total > RC_PROTO_MAX_DATAGRAM) {
		send_reply(w, m, total);
		return;
	}
	if (w->held_n == RCD_HELD) {
		rc_exec_not_replicated(w->p.reply, sizeof(w->p.reply), false,
				       &w->stats.srv);
		w->stats.durable_failed++;
		send_reply(w, m, total);
		return;
	}
	if (!build_reply(w, m, total))
		return;
	hd = &w->held[(w->held_head + w->held_n++) % RCD_HELD];
	hd->m = m;
	hd->wseq = w->p.dur_wseq;
	hd->tsc = w->now_tsc ? w->now_tsc : rte_rdtsc();
	w->stats.durable_held++;
}

/* A held reply that will not be confirmed: its writes say so. */
static void fail_held(struct rcd_worker *w, struct rte_mbuf *m)
{
	struct rc_net_udp u;

	rc_net_udp_locate(m, &u);
	rc_exec_not_replicated(u.payload, u.len, true, &w->stats.srv);
	rc_net_udp_reply_end(m);
}

void rcd_worker_release(struct rcd_worker *w)
{
	/* durable_ok first: a detach published after an ACK must not be
	 * seen with the older ACK (a write the standby has would fail). */
	const bool attached = __atomic_load_n(&w->p.durable_ok, __ATOMIC_ACQUIRE);
	const uint64_t acked = __atomic_load_n(&w->acked_wseq, __ATOMIC_ACQUIRE);
	const uint64_t now = w->now_tsc ? w->now_tsc : rte_rdtsc();

	while (w->held_n) {
		struct rcd_held *hd = &w->held[w->held_head];

		if (hd->wseq <= acked) {
			w->stats.durable_acked++;
		} else if (!attached || now - hd->tsc > w->durable_wait_tsc) {
			fail_held(w, hd->m);
			w->stats.durable_failed++;
		} else {
			break;
		}
		tx_queue(w, hd->m);
		w->held_head = (w->held_head + 1) % RCD_HELD;
		w->held_n--;
	}
}

/* A segment refused (reassembly full or the source over its share:
 * BUSY; over its rate: THROTTLED): answer status for every op (their
 * opcodes are not known yet), on the first and last segment only, so a
 * client learns it without a reply per segment. */
static void send_refusal(struct rcd_worker *w, struct rte_mbuf *m,
			 const struct rc_proto_hdr *req, uint32_t cap,
			 uint8_t status)
{
	uint32_t total = RC_PROTO_HDR_LEN + req->n_ops * RC_PROTO_REP_OP_LEN;

	if (req->seg_index != 0 && req->seg_index != req->seg_count - 1) {
		rte_pktmbuf_free(m);
		return;
	}
	if (total > cap) {
		w->stats.srv.drop_amplification++;
		rte_pktmbuf_free(m);
		return;
	}
	if (status == RC_ST_BUSY)
		w->stats.busy_replies++;
	send_reply(w, m, rc_exec_bare(&w->p, req, status));
}

/* One segment of a longer request: keep it; run the request when it is
 * complete, answering to the sender of the last segment. */
static void serve_segment(struct rcd_worker *w, struct rte_mbuf *m,
			  const struct rc_net_udp *u, uint8_t trusted,
			  uint32_t now)
{
	struct rc_proto_hdr h;
	enum rc_proto_rstatus rs = rc_proto_hdr_decode(u->payload, u->len, &h);
	struct rc_exec_in x = {.cap = UINT32_MAX};
	uint8_t *msg = NULL;
	size_t mlen = 0;
	uint32_t total;

	if (rs == RC_PROTO_OK && ((h.flags & RC_PROTO_F_REPLY) || !w->reasm))
		rs = RC_PROTO_EFLAGS;
	if (rs != RC_PROTO_OK) {
		w->stats.srv.proto_drops[rs]++;
		rte_pktmbuf_free(m);
		return;
	}
	w->stats.seg_in++;
	/* Holding a segment is work: each costs its source a token, so a
	 * flood of unfinished messages is held to the source's rate. */
	if (w->p.rl && !rc_ratelimit_admit(w->p.rl, u->src_ip, 1, w->now_tsc)) {
		send_refusal(w, m, &h, trusted ? UINT32_MAX : u->len,
			     RC_ST_THROTTLED);
		return;
	}
	switch (rc_reasm_add_from(w->reasm,
				  (uint64_t)u->src_ip << 16 | u->src_port,
				  u->src_ip, trusted, &h, u->payload, u->len,
				  w->now_tsc, &msg, &mlen)) {
	case RC_REASM_DONE:
		break;
	case RC_REASM_FULL:
		send_refusal(w, m, &h, trusted ? UINT32_MAX : u->len,
			     RC_ST_BUSY);
		return;
	default: /* pending, duplicate, too big, mismatch: counted there */
		rte_pktmbuf_free(m);
		return;
	}
	if (!trusted)
		x.cap = (uint32_t)mlen;
	x.src = u->src_ip;
	x.now_tsc = w->now_tsc;
	total = rc_exec_request(&w->p, msg, mlen, &x, now);
	lat_note_request(w);
	if (total)
		answer(w, m, total);
	else
		rte_pktmbuf_free(m);
	rc_reasm_release(w->reasm, msg);
}

/* dpdk.io_only: the packet-I/O limit. The same frame path (classify,
 * ACL, hand-off, reply in place, TX), but the answer is the request's
 * header with n_ops bare OK ops: no op decoding, no hashing, no store.
 * Replies are smaller than real GET hits, so the limit is, if anything,
 * overstated. */
static void reflect(struct rcd_worker *w, struct rte_mbuf *m,
		    const struct rc_net_udp *u)
{
	struct rc_proto_hdr h;

	if (rc_proto_hdr_decode(u->payload, u->len, &h) != RC_PROTO_OK ||
	    (h.flags & (RC_PROTO_F_REPLY | RC_PROTO_F_SEGMENTED)) ||
	    (RC_PROTO_HDR_LEN + h.n_ops * RC_PROTO_REP_OP_LEN > u->len &&
	     !rc_cidr_match(w->trusted, u->src_ip))) {
		rte_pktmbuf_free(m);
		return;
	}
	w->stats.srv.requests++;
	/* Timed like a request (RX poll to TX burst), as a NOOP: the I/O
	 * path's own share of the latency. */
	lat_note(w, rcd_lat_series(RC_OP_NOOP, RC_STORE_MAX_CLASSES));
	send_reply(w, m, rc_exec_bare(&w->p, &h, RC_ST_OK));
}

/* Answer one datagram for our partition, or drop it. */
static void serve(struct rcd_worker *w, struct rte_mbuf *m,
		  const struct rc_net_udp *u, uint32_t now)
{
	const uint8_t trusted = rc_cidr_match(w->trusted, u->src_ip);
	struct rc_exec_in x = {.cap = trusted ? UINT32_MAX : u->len};
	uint32_t total;

	if (unlikely(w->io_only)) {
		reflect(w, m, u);
		return;
	}
	if (unlikely(u->len >= RC_PROTO_HDR_LEN &&
		     (u->payload[3] & RC_PROTO_F_SEGMENTED))) {
		serve_segment(w, m, u, trusted, now);
		return;
	}
	x.src = u->src_ip;
	x.now_tsc = w->now_tsc;
	total = rc_exec_request(&w->p, u->payload, u->len, &x, now);
	lat_note_request(w);
	if (total == 0) {
		rte_pktmbuf_free(m);
		return;
	}
	answer(w, m, total);
}

/* Pass what other partitions' requests this burst held to their owners,
 * one ring operation per owner. */
static void handoff_flush(struct rcd_worker *w)
{
	for (unsigned o = 0; o < w->partitions; o++) {
		unsigned n = w->n_ho[o], k;

		if (!n)
			continue;
		k = rte_ring_mp_enqueue_burst(w->inboxes[o], (void **)w->ho[o],
					      n, NULL);
		w->stats.handoff_out += k;
		if (k < n) {
			w->stats.handoff_dropped += n - k;
			rte_pktmbuf_free_bulk(&w->ho[o][k], n - k);
		}
		w->n_ho[o] = 0;
	}
}

/* A data-plane heartbeat: the peer is alive even when the management
 * network is not. Published seqlock-style for the control core. */
static void hb_rx(struct rcd_worker *w, struct rte_mbuf *m,
		  const struct rc_net_udp *u)
{
	struct rcd_hb *hb = w->hb;
	struct timespec ts;

	if (!hb || u->src_ip != hb->peer_ip) {
		w->stats.hb_bad++;
		rte_pktmbuf_free(m);
		return;
	}
	/* From the peer's address, but only its key makes it the peer's:
	 * a forgery is counted and never published. The replay check
	 * (session, counter, time) is the replication thread's. */
	if (u->len != hb->len ||
	    (hb->auth && rc_repl_auth_check(hb->auth, RC_REPL_CH_DATA,
					    u->payload, u->len) != 0)) {
		w->stats.hb_bad++;
		__atomic_fetch_add(&hb->bad_auth, 1, __ATOMIC_RELAXED);
		rte_pktmbuf_free(m);
		return;
	}
	if (hb->auth) {
		/* A replay of the last session's beats never overwrites the
		 * newest genuine one (time and new sessions: repl thread). */
		const uint8_t *t = u->payload + u->len - RC_REPL_AUTH_LEN;
		uint64_t sess, ctr;

		memcpy(&sess, t, 8);
		memcpy(&ctr, t + 8, 8);
		sess = rte_le_to_cpu_64(sess);
		ctr = rte_le_to_cpu_64(ctr);
		if (sess == hb->pub_session && ctr <= hb->pub_ctr) {
			w->stats.hb_bad++;
			__atomic_fetch_add(&hb->replayed, 1, __ATOMIC_RELAXED);
			rte_pktmbuf_free(m);
			return;
		}
		hb->pub_session = sess;
		hb->pub_ctr = ctr;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	__atomic_fetch_add(&hb->gen, 1, __ATOMIC_ACQ_REL);
	memcpy(hb->body, u->payload, u->len);
	rte_ether_addr_copy(
		&rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->src_addr,
		(struct rte_ether_addr *)hb->mac);
	hb->last_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	hb->count++;
	__atomic_fetch_add(&hb->gen, 1, __ATOMIC_RELEASE);
	w->stats.hb_rx++;
	rte_pktmbuf_free(m);
}

/* A classified frame: answered in place, handed over, served or dropped. */
static void dispatch(struct rcd_worker *w, struct rte_mbuf *m,
		     enum rc_net_verdict verdict, const struct rc_net_udp *u,
		     unsigned reason, uint32_t now)
{
	unsigned owner;

	switch (verdict) {
	case RC_NET_TX:
		if (rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->ether_type ==
		    rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
			w->stats.arp_replies++;
		else
			w->stats.icmp_replies++;
		tx_queue(w, m);
		return;
	case RC_NET_UDP: /* from an allowed source (acl_admit) */
		if (unlikely(u->dst_port == w->ifc->extra_port)) {
			hb_rx(w, m, u);
			return;
		}
		owner = u->dst_port - w->ifc->base_port;
		if (owner == w->id) {
			serve(w, m, u, now);
			return;
		}
		/* The NIC could not steer it: the owner answers it. */
		w->ho[owner][w->n_ho[owner]++] = m;
		if (w->n_ho[owner] == RCD_MAX_BURST)
			handoff_flush(w);
		return;
	default:
		w->stats.net_drops[reason]++;
		rte_pktmbuf_free(m);
		return;
	}
}

/* Datagrams from sources outside acl.allow end here, counted. */
static inline bool acl_admit(struct rcd_worker *w, struct rte_mbuf *m,
			     enum rc_net_verdict v, const struct rc_net_udp *u)
{
	/* Heartbeats are checked against the peer's address instead. */
	if (v != RC_NET_UDP || rc_cidr_match(w->allow, u->src_ip) ||
	    u->dst_port == w->ifc->extra_port)
		return true;
	w->stats.drop_acl++;
	rte_pktmbuf_free(m);
	return false;
}

void rcd_worker_handle(struct rcd_worker *w, struct rte_mbuf *m, uint32_t now)
{
	struct rc_net_udp u;
	unsigned reason = 0;
	enum rc_net_verdict v = rc_net_classify(w->ifc, m, &u, &reason);

	if (acl_admit(w, m, v, &u))
		dispatch(w, m, v, &u, reason, now);
	if (w->partitions > 1)
		handoff_flush(w);
}

/* Is this datagram, served here, a lone well-formed GET that precheck()
 * would pass? Then its digest goes to *d. Anything else ends a batch. */
static bool batchable_get(const struct rcd_worker *w,
			  const struct rc_net_udp *u, struct rc_proto_digest *d)
{
	const uint8_t *p = u->payload;
	uint16_t klen;

	/* Every check rc_proto_decode_request makes, so that a batched GET
	 * is never dropped later (its lookup is counted). */
	if (u->len < RC_PROTO_HDR_LEN + RC_PROTO_REQ_OP_LEN ||
	    p[0] != (RC_PROTO_MAGIC >> 8) || p[1] != (RC_PROTO_MAGIC & 0xff) ||
	    p[2] != RC_PROTO_VERSION || (p[3] & ~RC_PROTO_F_PADDED) ||
	    p[12] != 0 || p[13] != 1 || (p[14] | p[15] | p[16]) || p[17] != 1 ||
	    (p[18] | p[19]) || p[RC_PROTO_HDR_LEN] != RC_OP_GET)
		return false;
	klen = (uint16_t)(p[22] << 8 | p[23]);
	if (klen == 0 || klen > w->p.max_key || (p[24] | p[25] | p[26] | p[27]) ||
	    RC_PROTO_HDR_LEN + RC_PROTO_REQ_OP_LEN + klen > u->len ||
	    (!(p[3] & RC_PROTO_F_PADDED) &&
	     RC_PROTO_HDR_LEN + RC_PROTO_REQ_OP_LEN + klen != u->len) ||
	    (u->len < RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN &&
	     !rc_cidr_match(w->trusted, u->src_ip)))
		return false;
	rc_proto_key_digest(p + RC_PROTO_HDR_LEN + RC_PROTO_REQ_OP_LEN, klen, d);
	return rc_proto_partition(d, w->partitions) == w->id;
}

void rcd_worker_burst(struct rcd_worker *w, struct rte_mbuf **pkts,
		      uint16_t n, uint32_t now)
{
	struct rc_net_udp u[RCD_MAX_BURST];
	unsigned reason[RCD_MAX_BURST];
	enum rc_net_verdict verdict[RCD_MAX_BURST];
	struct rc_proto_digest dg[RC_STORE_BULK];
	const void *dp[RC_STORE_BULK], *kp[RC_STORE_BULK];
	uint16_t kl[RC_STORE_BULK];
	enum rc_store_result res[RC_STORE_BULK];
	struct rc_store_item_view views[RC_STORE_BULK];
	struct rc_pre *pre = w->pre;
	unsigned nb = 0, b = 0;
	bool open = !w->io_only;

	/* Pass 1: classify; collect the GETs that come before any request
	 * that could change the partition (so looking them up early gives
	 * the same answers as looking them up in turn). */
	for (uint16_t i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		reason[i] = 0;
		verdict[i] = rc_net_classify(w->ifc, pkts[i], &u[i], &reason[i]);
		if (!acl_admit(w, pkts[i], verdict[i], &u[i])) {
			pkts[i] = NULL;
			continue;
		}
		if (!open || verdict[i] != RC_NET_UDP ||
		    (unsigned)(u[i].dst_port - w->ifc->base_port) != w->id)
			continue;
		if (nb < RC_STORE_BULK && batchable_get(w, &u[i], &dg[nb])) {
			dp[nb] = &dg[nb];
			kp[nb] = u[i].payload + RC_PROTO_HDR_LEN + RC_PROTO_REQ_OP_LEN;
			kl[nb] = (uint16_t)(u[i].payload[22] << 8 | u[i].payload[23]);
			nb++;
		} else {
			open = false;
		}
	}
	if (nb)
		rc_store_get_bulk(w->p.store, nb, dp, kp, kl, now, views, res);
	for (unsigned k = 0; k < nb; k++) {
		pre[k].res = res[k];
		pre[k].v = views[k];
	}
	/* Pass 2: in order, the batched GETs with their answers. */
	for (uint16_t i = 0; i < n; i++) {
		bool batched;

		if (!pkts[i]) /* refused by the ACL in pass 1 */
			continue;
		batched = b < nb && verdict[i] == RC_NET_UDP &&
			       u[i].payload + RC_PROTO_HDR_LEN +
					       RC_PROTO_REQ_OP_LEN == kp[b];

		w->p.pre = batched ? &pre[b++] : NULL;
		dispatch(w, pkts[i], verdict[i], &u[i], reason[i], now);
	}
	w->p.pre = NULL;
	if (w->partitions > 1)
		handoff_flush(w);
}

static unsigned handle_inbox(struct rcd_worker *w, uint32_t now)
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
	return n;
}

/* ---- control-core commands ------------------------------------------ */

/* Hand a finished command back; if the control core gave up on it, it
 * is ours to free. */
static void cmd_done(struct rc_cmd *c)
{
	uint32_t want = RCD_CMD_PENDING;

	if (!__atomic_compare_exchange_n(&c->state, &want, RCD_CMD_DONE,
					 false, __ATOMIC_RELEASE,
					 __ATOMIC_ACQUIRE))
		free(c);
}

void rcd_worker_commands(struct rcd_worker *w, uint32_t now)
{
	struct rc_cmd *c = w->cmd;

	if (!c) {
		if (!w->cmdq || rte_ring_sc_dequeue(w->cmdq, (void **)&c) != 0)
			return;
		w->cmd = c;
		w->cmd_tsc = w->now_tsc;
		w->stats.srv.commands++;
	}
	/* Tests: a worker busy elsewhere starts it late. */
	if (w->cmd_delay_tsc && w->now_tsc - w->cmd_tsc < w->cmd_delay_tsc)
		return;
	/* A slice at a time (a flush of a big partition, a warm batch of
	 * many records): the queue keeps being served in between. */
	if (c->type == RC_CMD_FLUSH) {
		if (rc_partition_flush(&w->p, c, RCD_CMD_WORK))
			return;
	} else {
		for (unsigned k = 0; k < RCD_CMD_WORK && c->cursor < c->n;
		     k++, c->cursor++)
			rc_partition_cmd_rec(&w->p, c, &c->rec[c->cursor], now);
		if (c->cursor < c->n)
			return;
	}
	w->cmd = NULL;
	cmd_done(c);
}

/* ---- replication: standby apply, primary snapshot ------------------- */

/* A slice of the snapshot pass the control core asked for: every live
 * item into the log, in order with the writes around it. */
static void snapshot_slice(struct rcd_worker *w, uint32_t now)
{
	const uint32_t req = w->snap_req;

	if (!w->p.rlog || (req == w->snap_done && !w->snap_active))
		return;
	/* Only a primary's pass counts (a demoted node's records would be
	 * dropped, and counted twice by a later promotion). */
	if (w->p.role != RC_REPL_PRIMARY) {
		w->snap_active = false;
		return;
	}
	if (!w->snap_active || req != w->snap_run) {
		memset(&w->snap_cur, 0, sizeof(w->snap_cur));
		w->snap_run = req;
		w->snap_active = true;
	}
	if (rc_partition_snapshot(&w->p, &w->snap_cur, RCD_SNAP_WORK, now))
		return;
	w->snap_active = false;
	w->snap_wseq = w->p.wseq;
	__atomic_store_n(&w->snap_done, req, __ATOMIC_RELEASE);
}

/* Frames the control core asked this worker to send (heartbeats,
 * gratuitous ARP): the TX queue is the worker's. */
static void ctl_tx(struct rcd_worker *w)
{
	struct rte_mbuf *m;

	while (rte_ring_sc_dequeue(w->ctl_tx, (void **)&m) == 0) {
		w->stats.ctl_tx++;
		tx_queue(w, m);
	}
}

void rcd_worker_snapshot(struct rcd_worker *w)
{
	/* Rate counts: those of buckets a reload replaced, and these. */
	struct rc_ratelimit_stats rate = w->rate_base, cur;

	if (w->reasm)
		rc_reasm_get_stats(w->reasm, &w->stats.reasm);
	if (w->p.rl) {
		rc_ratelimit_get_stats(w->p.rl, &cur);
		rc_ratelimit_stats_add(&rate, &cur);
	}
	w->stats.rate = rate;
	rc_store_get_stats(w->p.store, &w->stats.store);
	for (unsigned c = 0; c < w->p.classes->n; c++)
		rc_store_get_class_stats(w->p.store, (uint8_t)c,
					 &w->stats.classes[c]);
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Readers that see the time must also see the counters above. */
	__atomic_store_n(&w->published_ns,
			 (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
			 __ATOMIC_RELEASE);
}

/* A reload's new ACL, rate and class tables, taken between bursts where
 * nothing of the old ones is held; saying so lets the control core free
 * them. One load and compare when there is nothing new. */
static inline void take_policy(struct rcd_worker *w)
{
	struct rc_policy *pol = rc_pub_fresh(&w->pub);

	if (likely(pol == NULL))
		return;
	rcd_worker_use_policy(w, pol);
	rc_pub_done(&w->pub);
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
	uint64_t last_maint = last_tx, last_turn = last_tx;
	const uint64_t gap = w->tsc_hz / 10000; /* 100 us */
	bool napped = false;

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

		w->now_tsc = now_tsc;
		take_policy(w);
		/* Every write of the last burst is in the log: a hand-over
		 * (repl demote) waits for this to show the new role. */
		__atomic_store_n(&w->role_seen, w->p.role, __ATOMIC_RELEASE);
		/* A stall probe: a polling loop comes round every few us,
		 * so a longer gap is time the worker did not have. */
		if (unlikely(now_tsc - last_turn > gap) && !napped) {
			w->stats.gaps++;
			w->stats.gap_ns += ((now_tsc - last_turn) *
					    w->ns_per_tsc_q32) >> 32;
		}
		last_turn = now_tsc;
		napped = false;
		/* A promoted standby applies everything it was sent, a
		 * running CLEAR included (sliced), before it takes a request:
		 * until then requests wait in the queue, never see the old
		 * copy, and no write lands where the CLEAR still goes. */
		unsigned applied = 0;
		/* Not replicated (no apply log): no call on the hot path. */
		const bool catching_up =
			unlikely(w->ap.log != NULL) &&
			rc_partition_apply_turn(&w->p, &w->ap, now,
						RCD_APPLY_WORK, &applied);

		uint16_t n = catching_up ? 0
					 : rte_eth_rx_burst(w->port_id,
							    (uint16_t)w->id,
							    pkts, w->burst);

		unsigned work = applied + n;

		w->stats.rx_packets += n;
		if (n)
			rcd_worker_burst(w, pkts, n, now);
		if (unlikely(w->held_n != 0))
			rcd_worker_release(w);
		if (unlikely(w->ctl_tx != NULL))
			ctl_tx(w);
		/* Requests other workers hand over wait too while this one
		 * catches up (they would see the old copy or be cleared). */
		if (w->partitions > 1 && !catching_up)
			work += handle_inbox(w, now);
		if (w->n_tx && (n == 0 || now_tsc - last_tx > drain)) {
			work += w->n_tx; /* replies sent: work too */
			rcd_worker_flush(w);
			last_tx = now_tsc;
		}
		if (work != 0)
			w->stats.polls_busy++;
		else
			w->stats.polls_idle++;
		/* Store upkeep (expiry, budgets, compaction ahead of need)
		 * in slices of at most RCD_MAINT_WORK items, 20,000 times a
		 * second: up to 5M items/s, never one long pause. */
		if (now_tsc - last_maint > maint) {
			rc_store_maintain(w->p.store, now, RCD_MAINT_WORK);
			if (!catching_up)
				rcd_worker_commands(w, now);
			snapshot_slice(w, now);
			if (w->reasm)
				rc_reasm_expire(w->reasm, now_tsc);
			last_maint = now_tsc;
		}
		/* Publish a store snapshot for the control core ~100x/s. */
		if (now_tsc - last_stats > w->tsc_hz / 100) {
			rcd_worker_snapshot(w);
			last_stats = now_tsc;
		}
		/* The busy ratio's time: this turn's, if it had work (one
		 * more TSC read, on busy turns only). */
		if (work != 0)
			w->stats.busy_tsc += rte_rdtsc() - now_tsc;
		/* Optional back-off once idle: on a VM whose host caps the
		 * guest's CPU time, a worker that polls a quiet queue spends
		 * the quota the rest of the machine needs (perf/README.md). */
		/* Records to apply, a CLEAR or a snapshot pass under way are
		 * work too: a worker that napped between slices of a resync
		 * moved a GiB at tens of MB/s. */
		if (n != 0 || applied || w->ap.clearing || w->snap_active)
			last_rx = now_tsc;
		else if (w->idle_sleep_us && now_tsc - last_rx > idle_spin) {
			nanosleep(&idle_ts, NULL);
			napped = true;
		}
	}
	rcd_worker_flush(w);
	rcd_worker_snapshot(w);
	return 0;
}
