/* SPDX-License-Identifier: MIT
 * The model checker of model.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "rc_test_eal.h"
#include "config.h"
#include "model.h"
#include "worker.h"

#define MC_KEYS 48u          /* largest key pool of a scenario */
#define MC_MAXV 700u         /* largest value: a lone GET fits a datagram */
#define MC_MAX_REQS 12u      /* requests per burst */
#define MC_MAX_OPS 8u        /* ops per request */
#define MC_POOL 4095u
#define MC_CLIENT_IP 0xc6120001u /* 198.18.0.1, trusted */
#define MC_NODE_IP 0xc6120002u

/* ---- choices ------------------------------------------------------------ */

void mc_src_seed(struct mc_src *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
}

void mc_src_bytes(struct mc_src *s, const uint8_t *p, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->n = n;
}

/* A number below bound (bound >= 1). */
static uint32_t pick(struct mc_src *s, uint32_t bound)
{
	uint32_t v;

	if (s->p) {
		/* One byte for a small choice, else four; zeros past the
		 * end (the first choice of every kind, a short scenario). */
		v = 0;
		for (int i = 0; i < (bound && bound <= 256 ? 1 : 4) &&
				s->off < s->n; i++)
			v = v << 8 | s->p[s->off++];
	} else {
		s->x ^= s->x << 13;
		s->x ^= s->x >> 7;
		s->x ^= s->x << 17;
		v = (uint32_t)(s->x >> 32);
	}
	return bound ? v % bound : v;
}

/* True with probability pct/100. */
static bool chance(struct mc_src *s, uint32_t pct)
{
	return pick(s, 100) < pct;
}

/* ---- the node ------------------------------------------------------------ */

static struct rcd_worker w;
static struct rcd_config cfg;
static struct rc_net_iface ifc;
static struct rte_ring *txr;
static struct rc_repl_log rlog;
static unsigned store_gen;
static struct mc_counts counts;

static int opt(const char *kv)
{
	char err[2 * RC_OPT_STR_MAX];

	if (rc_opt_set_kv(rcd_options, rcd_n_options, &cfg, kv, err,
			  sizeof(err)) != 0) {
		fprintf(stderr, "model: %s: %s\n", kv, err);
		return -1;
	}
	return 0;
}

int mc_setup(void)
{
	char *eal[] = {"rc_model", "-l", "0", "--no-huge", "-m", "512",
		       "--no-pci", "--no-shconf", "--no-telemetry",
		       "--log-level=*:error", NULL};
	struct rte_eth_conf conf = {0};
	char err[2 * RC_OPT_STR_MAX];
	struct rte_ring *rxr;
	static volatile int quit;
	int port;

	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "model: EAL init failed\n");
		return -1;
	}
	rc_test_eal_leave_no_dir();
	if (rc_opt_defaults(rcd_options, rcd_n_options, &cfg, err,
			    sizeof(err)) != 0) {
		fprintf(stderr, "model: defaults: %s\n", err);
		return -1;
	}
	/* The daemon's defaults (classes, prefixes, CLOCK eviction, 64 KiB
	 * segments); the application server is trusted; memory per
	 * scenario. No calendar: the model injects TTL multipliers. */
	if (opt("store.segment_size=64K") || opt("store.max_items=4096") ||
	    opt("store.memory=8M") || opt("store.memory_cap=64M") ||
	    opt("store.max_value_size=16K") ||
	    opt("acl.trusted=198.18.0.1/32") || opt("scaling.rules=") ||
	    rcd_config_finish(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "model: config: %s\n", err);
		return -1;
	}
	w.pool = rte_pktmbuf_pool_create("mc", MC_POOL, 0, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE,
					 SOCKET_ID_ANY);
	rxr = rte_ring_create("mc_rx", 1024, SOCKET_ID_ANY,
			      RING_F_SP_ENQ | RING_F_SC_DEQ);
	txr = rte_ring_create("mc_tx", 4096, SOCKET_ID_ANY,
			      RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!w.pool || !rxr || !txr)
		return -1;
	/* TX goes into txr, where the checker reads the replies. */
	port = rte_eth_from_rings("mc", &rxr, 1, &txr, 1, SOCKET_ID_ANY);
	if (port < 0 || rte_eth_dev_configure((uint16_t)port, 1, 1, &conf) ||
	    rte_eth_rx_queue_setup((uint16_t)port, 0, 512, SOCKET_ID_ANY, NULL,
				   w.pool) ||
	    rte_eth_tx_queue_setup((uint16_t)port, 0, 512, SOCKET_ID_ANY,
				   NULL) ||
	    rte_eth_dev_start((uint16_t)port)) {
		fprintf(stderr, "model: ring port set-up failed\n");
		return -1;
	}
	cfg.port_id = (uint64_t)port;
	ifc.mac = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x02}};
	ifc.ip = rte_cpu_to_be_32(MC_NODE_IP);
	ifc.base_port = 7711;
	ifc.n_ports = 1;
	w.ifc = &ifc;
	w.quit = &quit;
	if (rcd_worker_configure(&w, &cfg, 0) != 0) {
		fprintf(stderr, "model: worker set-up failed\n");
		return -1;
	}
	/* A primary: every write it makes goes to its replication log,
	 * which the checker applies to a shadow standby (below). */
	if (rc_repl_log_init(&rlog, 1u << 22) != 0)
		return -1;
	w.p.rlog = &rlog;
	w.p.role = RC_REPL_PRIMARY;
	return 0;
}

/* ---- the model ----------------------------------------------------------- */

struct ment {
	bool present;          /* written, not since deleted or missed */
	uint32_t vlen;
	uint8_t v[MC_MAXV];
	uint32_t flags;
	uint64_t cas;
	uint8_t cls;
	uint64_t expire;       /* store second it expires at; 0: never */
	uint64_t ev;           /* store evictions before it was written */
	uint64_t re;           /* store reinserts before its CAS was learnt */
	/* The standby, as the primary's log makes it: */
	bool sb_present;
	uint32_t sb_vlen;
	uint8_t sb_v[MC_MAXV];
	uint8_t sb_want;       /* SB_*: what it must hold after this burst */
};

enum { SB_ANY, SB_ABSENT, SB_VALUE };

static struct ment model[MC_KEYS];
static char keys[MC_KEYS][24];
static unsigned n_keys;
static uint32_t now, grace, serial, req_id;
static uint64_t ev0, ev1, re0; /* evictions before/after a burst, reinserts */

static const char *const prefixes[] = {"wedding_", "vendor_", "guest_",
				       "thumb_", "k"};

void mc_begin(struct mc_src *src)
{
	struct rc_store_config sc;
	char name[32];
	/* Roomy (no eviction: every miss of a live key is a bug) or small
	 * (eviction, index-full, compaction all in play). */
	static const char *const mem[] = {"store.memory=16M", "store.memory=2M",
					  "store.memory=3M"};
	const unsigned m = chance(src, 50) ? 0 : 1 + pick(src, 2);

	if (w.p.store)
		rc_store_destroy(w.p.store);
	if (opt(mem[m]) != 0)
		abort();
	snprintf(name, sizeof(name), "mc%u", store_gen++);
	rcd_store_config(&cfg, name, SOCKET_ID_ANY, &sc);
	/* A small partition also gets a small index, so that it fills. */
	if (m)
		sc.max_items = 512;
	/* A reply still pointing into a released segment reads garbage. */
	sc.poison_released = true;
	w.p.store = rc_store_create(&sc);
	if (!w.p.store)
		abort();
	memset(model, 0, sizeof(model));
	{	/* a new partition: forget what the last one logged */
		const uint8_t *p;
		uint32_t len;

		while ((p = rc_repl_log_peek(&rlog, &len)) != NULL)
			rc_repl_log_release(&rlog, len);
	}
	n_keys = 4 + pick(src, MC_KEYS - 4);
	for (unsigned i = 0; i < n_keys; i++)
		snprintf(keys[i], sizeof(keys[i]), "%s%u",
			 prefixes[i % (sizeof(prefixes) / sizeof(prefixes[0]))],
			 i);
	now = 1;
	grace = 0;
	w.p.read_only = 0;
	w.p.ttl_pct = 100;
	rc_store_set_stale_grace(w.p.store, 0);
}

void mc_get_counts(struct mc_counts *c)
{
	*c = counts;
}

static bool expired(const struct ment *e)
{
	return e->expire != 0 && now >= e->expire;
}

/* The worker's TTL under its multiplier (docs: scaled, at least 1 s,
 * at most UINT32_MAX). */
static uint64_t expire_of(uint32_t ttl)
{
	uint64_t t = ttl;

	if (ttl && w.p.ttl_pct != 100) {
		t = (uint64_t)ttl * w.p.ttl_pct / 100;
		t = t > UINT32_MAX ? UINT32_MAX : t ? t : 1;
	}
	return t ? now + t : 0;
}

/* ---- requests ------------------------------------------------------------ */

struct mreq {
	struct rc_proto_hdr h;
	unsigned n;
	struct rc_proto_req_op op[MC_MAX_OPS];
	uint8_t kidx[MC_MAX_OPS];
	uint8_t val[MC_MAX_OPS][MC_MAXV];
	uint8_t frame[RC_PROTO_MAX_DATAGRAM + 64];
	uint16_t flen;
	const uint8_t *rep;   /* its reply's payload */
	uint16_t rep_len;
};

static struct mreq reqs[MC_MAX_REQS];
static struct rte_mbuf *replies[MC_MAX_REQS * 2];

static uint32_t pick_ttl(struct mc_src *s)
{
	static const uint32_t huge[] = {1u << 30, (1u << 30) + 1, 1u << 31,
					(1u << 31) + 7, UINT32_MAX};
	uint32_t r = pick(s, 100);

	if (r < 50)
		return 0;
	if (r < 90)
		return 1 + pick(s, 5);
	return huge[pick(s, 5)];
}

static uint64_t pick_cas(struct mc_src *s, const struct ment *e)
{
	uint32_t r = pick(s, 3);

	if (r == 0 && e->cas)
		return e->cas;
	if (r == 1)
		return e->cas + 1;
	return 1 + pick(s, 1000000);
}

static void make_op(struct mc_src *s, struct mreq *q, unsigned i,
		    unsigned k)
{
	struct rc_proto_req_op *op = &q->op[i];
	uint32_t r = pick(s, 100);

	memset(op, 0, sizeof(*op));
	q->kidx[i] = (uint8_t)k;
	op->key = (const uint8_t *)keys[k];
	op->key_len = (uint16_t)strlen(keys[k]);
	op->class_id = RC_PROTO_CLASS_AUTO;
	if (r < 45) {
		op->opcode = RC_OP_GET;
	} else if (r < 77) {
		uint32_t vr = pick(s, 100);

		op->opcode = RC_OP_SET;
		op->value_len = vr < 5 ? 0 : vr < 50 ? 1 + pick(s, 32)
						     : 100 + pick(s, MC_MAXV - 99);
		/* Every write's value is its own: a serial, then a pattern. */
		serial++;
		for (uint32_t b = 0; b < op->value_len; b++)
			q->val[i][b] = b < 4 ? (uint8_t)(serial >> (8 * b))
					     : (uint8_t)(serial * 31 + b);
		op->value = q->val[i];
		op->client_flags = chance(s, 50) ? pick(s, 0) : 0;
		op->ttl = pick_ttl(s);
		if (chance(s, 20))
			op->cas = pick_cas(s, &model[k]);
		if (chance(s, 10))
			op->class_id = (uint8_t)pick(s, cfg.cl.n + 2);
	} else if (r < 88) {
		op->opcode = RC_OP_DELETE;
		if (chance(s, 20))
			op->cas = pick_cas(s, &model[k]);
	} else if (r < 97) {
		op->opcode = RC_OP_TOUCH;
		op->ttl = pick_ttl(s);
	} else {
		op->opcode = RC_OP_NOOP;
		op->key_len = 0;
		op->key = NULL;
	}
}

static void make_frame(struct mreq *q)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)q->frame;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *p = (uint8_t *)(udp + 1);
	size_t len = RC_PROTO_HDR_LEN;

	rc_proto_hdr_encode(p, &q->h);
	for (unsigned i = 0; i < q->n; i++) {
		size_t n = rc_proto_req_op_encode(
			p + len, sizeof(q->frame) - (size_t)(p - q->frame) - len,
			&q->op[i]);

		if (!n)
			abort(); /* make_request keeps within a datagram */
		len += n;
	}
	eth->dst_addr = ifc.mac;
	eth->src_addr = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x01}};
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->total_length =
		rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + len));
	ip->src_addr = rte_cpu_to_be_32(MC_CLIENT_IP);
	ip->dst_addr = rte_cpu_to_be_32(MC_NODE_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(40000);
	udp->dst_port = rte_cpu_to_be_16(7711);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	udp->dgram_cksum = 0;
	q->flen = (uint16_t)((size_t)(p - q->frame) + len);
}

static void make_request(struct mc_src *s, struct mreq *q)
{
	size_t len = RC_PROTO_HDR_LEN;

	/* Mostly lone ops (lone GETs are what a burst batches), else up to
	 * MC_MAX_OPS mixed ops on few keys. */
	/* Half the multi-op requests work on two keys: GET then DELETE or
	 * SET of one key in one request is where values get pinned. */
	const unsigned k0 = pick(s, n_keys), k1 = pick(s, n_keys);
	const bool two = chance(s, 50);

	q->n = chance(s, 60) ? 1 : 2 + pick(s, MC_MAX_OPS - 1);
	for (unsigned i = 0; i < q->n; i++) {
		make_op(s, q, i, two ? (chance(s, 50) ? k0 : k1)
				     : pick(s, n_keys));
		len += rc_proto_req_op_size(&q->op[i]);
		if (len > RC_PROTO_MAX_DATAGRAM) {
			/* Too big for one datagram: end the request here. */
			len -= rc_proto_req_op_size(&q->op[i]);
			q->n = i;
			break;
		}
	}
	if (q->n == 0) {
		q->n = 1;
		q->op[0] = (struct rc_proto_req_op){.opcode = RC_OP_NOOP,
						    .class_id = RC_PROTO_CLASS_AUTO};
	}
	q->h = (struct rc_proto_hdr){.version = RC_PROTO_VERSION,
				     .request_id = ++req_id,
				     .n_ops = (uint16_t)q->n, .seg_count = 1};
	make_frame(q);
}

/* ---- checking ------------------------------------------------------------ */

static int trace = -1; /* MC_TRACE=1: every op and its answer on stderr */
/* Check the partition's own bookkeeping every this many bursts
 * (MC_VERIFY=N overrides; 0: never). */
static unsigned verify_every = 64;
static char *errbuf;
static size_t errcap;

static int diverge(const struct mreq *q, unsigned i, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(errbuf, errcap,
			 "request %u op %u/%u (%s '%s', now %u): ",
			 q->h.request_id, i, q->n,
			 rc_proto_opcode_name(q->op[i].opcode),
			 q->op[i].key_len ? keys[q->kidx[i]] : "", now);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errcap)
		vsnprintf(errbuf + n, errcap - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* The model's entry may be gone from the partition by eviction since it
 * was written. */
static bool may_be_evicted(const struct ment *e)
{
	return ev1 > e->ev;
}

/* The write serial a value starts with (see make_op). */
static uint32_t serial_of(const uint8_t *v, uint32_t len)
{
	uint32_t x = 0;

	if (len >= 4)
		memcpy(&x, v, 4);
	return x;
}

static int check_get(const struct mreq *q, unsigned i,
		     const struct rc_proto_rep_op *r, uint32_t off)
{
	struct ment *e = &model[q->kidx[i]];
	uint32_t need;

	switch (r->status) {
	case RC_ST_OK:
		if (!e->present)
			return diverge(q, i, "OK with a value the model does "
				       "not hold (%u bytes)", r->value_len);
		if (r->op_flags & RC_PROTO_OPF_STALE) {
			if (!expired(e) || !grace || now - e->expire >= grace)
				return diverge(q, i, "STALE outside the grace "
					       "(expires %" PRIu64 ", grace %u)",
					       e->expire, grace);
			counts.stale++;
		} else if (expired(e)) {
			return diverge(q, i, "a value after its expiry (%" PRIu64
				       ")", e->expire);
		}
		if (r->value_len != e->vlen ||
		    memcmp(r->value, e->v, e->vlen) != 0)
			return diverge(q, i, "wrong value: %u bytes, serial %u;"
				       " model %u bytes, serial %u",
				       r->value_len,
				       serial_of(r->value, r->value_len), e->vlen,
				       serial_of(e->v, e->vlen));
		if (r->client_flags != e->flags || r->class_id != e->cls)
			return diverge(q, i, "flags %u class %u; model %u %u",
				       r->client_flags, r->class_id, e->flags,
				       e->cls);
		if (r->cas != e->cas) {
			if (!(w.stats.store.reinserted > e->re || re0 > e->re))
				return diverge(q, i, "CAS %" PRIu64 ", model %"
					       PRIu64 ", nothing moved (reinserted"
					       " %" PRIu64 " since %" PRIu64 ")",
					       r->cas, e->cas,
					       w.stats.store.reinserted, e->re);
			counts.cas_moved++;
			e->cas = r->cas;
			e->re = re0;
		}
		counts.hits++;
		return 0;
	case RC_ST_NOT_FOUND:
		counts.misses++;
		if (e->present && !expired(e)) {
			if (!may_be_evicted(e))
				return diverge(q, i, "a live item is missing "
					       "(nothing evicted since its "
					       "write)");
			counts.evicted_misses++;
		}
		e->present = false;
		return 0;
	case RC_ST_OVERFLOW:
		need = off + RC_PROTO_REP_OP_LEN + e->vlen +
		       (q->n - i - 1) * RC_PROTO_REP_OP_LEN;
		if (q->n == 1 || !e->present || need <= RC_PROTO_MAX_DATAGRAM)
			return diverge(q, i, "OVERFLOW where it fits (need %u)",
				       need);
		counts.overflow++;
		return 0;
	default:
		return diverge(q, i, "status %s",
			       rc_proto_status_name(r->status));
	}
}

/* SET, DELETE, TOUCH. */
static int check_write(const struct mreq *q, unsigned i,
		       const struct rc_proto_rep_op *r)
{
	const struct rc_proto_req_op *op = &q->op[i];
	struct ment *e = &model[q->kidx[i]];
	const bool live = e->present && !expired(e);
	uint8_t want = RC_ST_OK, cls = 0;

	if (w.p.read_only) {
		if (r->status != RC_ST_READ_ONLY)
			return diverge(q, i, "status %s in read-only mode",
				       rc_proto_status_name(r->status));
		return 0;
	}
	if (op->opcode == RC_OP_SET) {
		cls = op->class_id == RC_PROTO_CLASS_AUTO
			      ? rc_classes_match(&cfg.cl, op->key, op->key_len)
			      : op->class_id;
		if (cls >= cfg.cl.n) {
			if (r->status != RC_ST_UNKNOWN_CLASS)
				return diverge(q, i, "status %s for class %u",
					       rc_proto_status_name(r->status),
					       cls);
			return 0;
		}
	}
	/* What the model expects; then what eviction or compaction allow. */
	if (op->opcode == RC_OP_SET && !op->cas)
		want = RC_ST_OK;
	else if (!live)
		want = RC_ST_NOT_FOUND;
	else if (op->cas && op->cas != e->cas)
		want = RC_ST_EXISTS;
	if (r->status != want) {
		bool ok = false;

		if (r->status == RC_ST_NOT_FOUND && live && may_be_evicted(e)) {
			ok = true;
			counts.evicted_misses++;
		} else if (r->status == RC_ST_EXISTS && want == RC_ST_OK &&
			   op->cas && (w.stats.store.reinserted > e->re ||
				       re0 > e->re)) {
			ok = true;
			counts.cas_moved++;
		}
		if (!ok)
			return diverge(q, i, "status %s, model says %s",
				       rc_proto_status_name(r->status),
				       rc_proto_status_name(want));
	}
	/* Writes see an expired item as gone, and remove it. */
	if (!live)
		e->present = false;
	switch (r->status) {
	case RC_ST_NOT_FOUND:
		/* Gone here: the standby must not keep serving it. */
		e->present = false;
		e->sb_want = SB_ABSENT;
		return 0;
	case RC_ST_EXISTS:
		return 0;
	case RC_ST_OK:
		break;
	default:
		return 0;
	}
	switch (op->opcode) {
	case RC_OP_SET:
		if (r->class_id != cls)
			return diverge(q, i, "SET answered class %u, not %u",
				       r->class_id, cls);
		if (r->cas == 0 || (e->present && r->cas == e->cas))
			return diverge(q, i, "SET answered CAS %" PRIu64
				       " (old %" PRIu64 ")", r->cas, e->cas);
		e->present = true;
		e->vlen = op->value_len;
		memcpy(e->v, op->value, op->value_len);
		e->flags = op->client_flags;
		e->cls = cls;
		e->cas = r->cas;
		e->expire = expire_of(op->ttl);
		e->ev = ev0;
		e->re = re0;
		e->sb_want = SB_VALUE;
		break;
	case RC_OP_DELETE:
		e->present = false;
		e->sb_want = SB_ABSENT;
		break;
	case RC_OP_TOUCH:
		e->expire = expire_of(op->ttl);
		if (r->cas != e->cas) {
			if (!(w.stats.store.reinserted > e->re || re0 > e->re))
				return diverge(q, i, "TOUCH answered CAS %"
					       PRIu64 ", model %" PRIu64,
					       r->cas, e->cas);
			e->cas = r->cas;
			e->re = re0;
		}
		break;
	}
	return 0;
}

static int check_reply(struct mreq *q)
{
	struct rc_proto_hdr h;
	struct rc_proto_rep_op ops[MC_MAX_OPS];
	uint32_t off = RC_PROTO_HDR_LEN;
	enum rc_proto_rstatus rs;

	if (!q->rep)
		return diverge(q, 0, "no reply");
	rs = rc_proto_decode_reply(q->rep, q->rep_len, &h, ops, MC_MAX_OPS);
	if (rs != RC_PROTO_OK)
		return diverge(q, 0, "undecodable reply: %s",
			       rc_proto_rstatus_name(rs));
	if (h.n_ops != q->n)
		return diverge(q, 0, "reply has %u ops", h.n_ops);
	for (unsigned i = 0; i < q->n; i++) {
		const struct rc_proto_rep_op *r = &ops[i];
		int rc = 0;

		counts.ops++;
		if (trace)
			fprintf(stderr, "t=%u req %u op %u %s %s cas=%" PRIu64
				" ttl=%u vlen=%u -> %s vlen=%u cas=%" PRIu64
				" flags=%x\n", now, q->h.request_id, i,
				rc_proto_opcode_name(q->op[i].opcode),
				q->op[i].key_len ? keys[q->kidx[i]] : "-",
				q->op[i].cas, q->op[i].ttl, q->op[i].value_len,
				rc_proto_status_name(r->status), r->value_len,
				r->cas, r->op_flags);
		if (r->opcode != q->op[i].opcode)
			return diverge(q, i, "reply op says %s",
				       rc_proto_opcode_name(r->opcode));
		switch (q->op[i].opcode) {
		case RC_OP_GET:
			rc = check_get(q, i, r, off);
			break;
		case RC_OP_NOOP:
			if (r->status != RC_ST_OK)
				rc = diverge(q, i, "NOOP answered %s",
					     rc_proto_status_name(r->status));
			break;
		default:
			rc = check_write(q, i, r);
			break;
		}
		if (rc)
			return rc;
		off += RC_PROTO_REP_OP_LEN + r->value_len;
	}
	return 0;
}

/* ---- between bursts ------------------------------------------------------ */

struct flush_pred {
	int cls;
	const char *prefix;
};

static bool flush_match(void *arg, const uint8_t *key, uint16_t key_len,
			uint8_t class_id)
{
	const struct flush_pred *f = arg;

	if (f->cls >= 0)
		return class_id == f->cls;
	return key_len >= strlen(f->prefix) &&
	       !memcmp(key, f->prefix, strlen(f->prefix));
}

static void between(struct mc_src *s)
{
	static const uint32_t pcts[] = {100, 150, 200};
	static const uint32_t graces[] = {0, 2, 10};
	uint32_t r = pick(s, 100);

	if (r < 30)
		now += 1;
	else if (r < 36)
		now += 2 + pick(s, 4);
	if (chance(s, 2))
		w.p.read_only = !w.p.read_only;
	if (chance(s, 2))
		w.p.ttl_pct = pcts[pick(s, 3)];
	if (chance(s, 3)) {
		grace = graces[pick(s, 3)];
		rc_store_set_stale_grace(w.p.store, grace);
	}
	if (chance(s, 3)) {
		struct rc_store_stats st;
		size_t lo, hi;

		rc_store_get_stats(w.p.store, &st);
		/* Never below a few segments a class: smaller, a class's
		 * share is under one segment and NO_MEMORY is its answer
		 * (docs/protocol.md), not a divergence. */
		lo = st.index_bytes + 4 * cfg.cl.n * cfg.segment_size;
		hi = 4 * st.bytes_limit;
		if (hi > 64ull << 20)
			hi = 64ull << 20;
		/* Shrink or grow; the worker trims gradually. */
		size_t b = hi > lo ? lo + pick(s, (uint32_t)(hi - lo)) : 0;

		if (b && rc_store_set_memory(w.p.store, b) == 0) {
			counts.budget_changes++;
			if (trace)
				fprintf(stderr, "t=%u budget %zu -> %zu\n",
					now, (size_t)st.bytes_limit, b);
		}
	}
	if (chance(s, 1)) {
		struct flush_pred f = {.cls = -1, .prefix = ""};
		uint32_t cursor = 0;
		uint64_t removed = 0;

		if (chance(s, 50))
			f.cls = (int)pick(s, cfg.cl.n);
		else
			f.prefix = prefixes[pick(s, 5)];
		while (rc_store_flush(w.p.store, &cursor, 64, flush_match, &f,
				      &removed) == 1)
			;
		for (unsigned k = 0; k < n_keys; k++) {
			struct ment *e = &model[k];

			if (e->present &&
			    flush_match(&f, (const uint8_t *)keys[k],
					(uint16_t)strlen(keys[k]), e->cls))
				e->present = false;
		}
		/* The checker flushed the store directly, not through the
		 * worker's command: nothing was logged for the standby. */
		for (unsigned k = 0; k < n_keys; k++)
			model[k].sb_want = SB_ANY;
		counts.flushes++;
	}
	/* The worker's upkeep slice between bursts. */
	rc_store_maintain(w.p.store, now, RCD_MAINT_WORK);
}

/* ---- the shadow standby ------------------------------------------------- */

/* Apply what the primary logged in this burst to the shadow standby, then
 * hold it to what the writes answered: a key a write found absent or
 * deleted is absent there too; a key last SET holds that value. */
static int check_standby(char *err, size_t errlen)
{
	const uint8_t *p;
	uint32_t len;

	while ((p = rc_repl_log_peek(&rlog, &len)) != NULL) {
		struct rc_repl_rec r;
		unsigned k;

		if (rc_repl_rec_decode(p, len, &r) == 0) {
			snprintf(err, errlen, "undecodable replication record");
			return -1;
		}
		for (k = 0; k < n_keys; k++)
			if (r.key_len == strlen(keys[k]) &&
			    !memcmp(r.key, keys[k], r.key_len))
				break;
		if (k < n_keys) {
			struct ment *e = &model[k];

			if (trace)
				fprintf(stderr, "burst %" PRIu64 " log %s '%s' %u\n",
					counts.bursts, r.type == RC_REPL_SET ? "SET" : "DEL",
					keys[k], r.value_len);
			if (r.type == RC_REPL_SET) {
				e->sb_present = true;
				e->sb_vlen = r.value_len;
				memcpy(e->sb_v, r.value, r.value_len);
			} else if (r.type == RC_REPL_DEL) {
				e->sb_present = false;
			}
		}
		rc_repl_log_release(&rlog, len);
	}
	for (unsigned k = 0; k < n_keys; k++) {
		const struct ment *e = &model[k];

		if (e->sb_want == SB_ABSENT && e->sb_present) {
			snprintf(err, errlen, "standby keeps '%s' (%u bytes), "
				 "which the primary deleted or found absent",
				 keys[k], e->sb_vlen);
			return -1;
		}
		if (e->sb_want == SB_VALUE &&
		    (!e->sb_present || e->sb_vlen != e->vlen ||
		     memcmp(e->sb_v, e->v, e->vlen))) {
			snprintf(err, errlen, "standby's '%s' (%s, %u bytes) is "
				 "not the value last written (%u bytes)",
				 keys[k], e->sb_present ? "present" : "absent",
				 e->sb_vlen, e->vlen);
			return -1;
		}
	}
	return 0;
}

/* ---- a run ---------------------------------------------------------------- */

int mc_run(struct mc_src *src, unsigned steps, char *err, size_t errlen)
{
	errbuf = err;
	errcap = errlen;
	if (trace < 0)
		trace = getenv("MC_TRACE") != NULL;
	if (getenv("MC_VERIFY"))
		verify_every = (unsigned)atoi(getenv("MC_VERIFY"));
	for (unsigned step = 0; step < steps; step++) {
		struct rte_mbuf *pkts[MC_MAX_REQS];
		unsigned n = 1 + pick(src, MC_MAX_REQS), got;
		struct rc_store_stats st;

		for (unsigned i = 0; i < n; i++) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(w.pool);

			make_request(src, &reqs[i]);
			if (!m)
				abort();
			memcpy(rte_pktmbuf_append(m, reqs[i].flen),
			       reqs[i].frame, reqs[i].flen);
			pkts[i] = m;
			reqs[i].rep = NULL;
		}
		rc_store_get_stats(w.p.store, &st);
		ev0 = st.evictions;
		re0 = st.reinserted;
		rcd_worker_burst(&w, pkts, (uint16_t)n, now);
		rcd_worker_flush(&w);
		rcd_worker_snapshot(&w);
		ev1 = w.stats.store.evictions;
		got = rte_ring_dequeue_burst(txr, (void **)replies,
					     MC_MAX_REQS * 2, NULL);
		for (unsigned j = 0; j < got; j++) {
			struct rc_net_udp u;
			struct rc_proto_hdr h;

			rc_net_udp_locate(replies[j], &u);
			if (rc_proto_hdr_decode(u.payload, u.len, &h) != RC_PROTO_OK)
				continue;
			for (unsigned i = 0; i < n; i++)
				if (reqs[i].h.request_id == h.request_id) {
					if (reqs[i].rep) {
						snprintf(err, errlen,
							 "request %u answered twice",
							 h.request_id);
						goto fail;
					}
					reqs[i].rep = u.payload;
					reqs[i].rep_len = u.len;
				}
		}
		counts.bursts++;
		counts.requests += n;
		if (verify_every && counts.bursts % verify_every == 0 &&
		    rc_store_verify(w.p.store, err, errlen) != 0)
			goto fail;
		for (unsigned i = 0; i < n; i++)
			if (check_reply(&reqs[i]) != 0)
				goto fail;
		if (check_standby(err, errlen) != 0)
			goto fail;
		rte_pktmbuf_free_bulk(replies, got);
		between(src);
		continue;
fail:
		rte_pktmbuf_free_bulk(replies, got);
		return -1;
	}
	return 0;
}
