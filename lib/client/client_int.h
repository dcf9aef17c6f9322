/* SPDX-License-Identifier: MIT
 * libringcache internals, shared by client.c (create, routing, the op
 * policy, the API), io.c (datagrams, reply matching, reassembly, the
 * retry loop) and mget.c (multi-get). Not installed. */
#ifndef RC_CLIENT_INT_H
#define RC_CLIENT_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hashring.h"
#include "rc_proto.h"
#include "ringcache.h"

_Static_assert(RC_MAX_KEY == RC_PROTO_MAX_KEY, "key limit");
_Static_assert(RC_MAX_VALUE == RC_PROTO_MAX_VALUE, "value limit");
_Static_assert(RC_CLASS_AUTO == RC_PROTO_CLASS_AUTO, "class byte");
_Static_assert(RC_CLIENT_REASM_MAX_MESSAGE ==
		       RC_PROTO_HDR_LEN + RC_PROTO_REP_OP_LEN + RC_PROTO_MAX_VALUE,
	       "largest reply: one GET of the largest value");
_Static_assert(RC_CLIENT_REASM_MAX_BYTES >=
		       RC_PROTO_HDR_LEN + 723u * RC_PROTO_SEG_BODY,
	       "reassembly holds at least the largest reply");

/* Receive buffer: one datagram, and room to see that one was longer. */
#define RC_RX_BUF (RC_PROTO_MAX_DATAGRAM + 1)
/* Re-routes of one op (WRONG_PARTITION, PAD_REQUIRED) before giving up. */
#define RC_MAX_REROUTES 3
/* Ids of requests sent lately: a reply carrying one is stale, not bad. */
#define RC_RECENT_IDS 64
/* Random request ids fetched at once. */
#define RC_ID_POOL 64

/* How the client reaches the network and the clock. The default is the
 * client's UDP socket and CLOCK_MONOTONIC; the unit tests and the fuzz
 * target (tests/fuzz/fuzz_client.c) install their own. */
struct rc_io {
	/* Send one datagram. @return 0 or a negative errno. */
	int (*send)(void *ctx, const void *buf, size_t len,
		    const struct sockaddr_in *to);
	/* Wait until deadline (now()'s clock) for one datagram into buf.
	 * @return its length (> cap: it was longer and is cut), -ETIMEDOUT
	 *         at the deadline, or another negative errno. */
	ssize_t (*recv)(void *ctx, void *buf, size_t cap,
			struct sockaddr_in *from, uint64_t deadline);
	uint64_t (*now)(void *ctx);              /* ms, monotonic */
	void (*sleep_us)(void *ctx, uint64_t us);
	/* Fill buf with unpredictable bytes. @return 0 or a negative errno. */
	int (*random)(void *ctx, void *buf, size_t len);
	void *ctx;
};

struct server {
	struct sockaddr_in addr;  /* port = base port; of the pair, the node
				   * believed primary */
	struct sockaddr_in other; /* its standby (paired only) */
	bool paired;
	uint16_t partitions;      /* learnt from matched replies; 1 until
				   * then, and again after a timeout on
				   * another partition's port */
	uint32_t epoch;           /* highest seen in a matched reply */
};

/* One request in flight: what its answer must match. */
struct rc_pending {
	struct sockaddr_in to;    /* the answer comes from here */
	size_t srv;
	unsigned part;
	uint16_t parts_used;      /* partition count it was routed with */
	uint16_t n_ops;
	uint8_t opcode;           /* of every op (client requests never mix) */
	uint32_t id;
	const struct rc_proto_digest *digest; /* its one key, or NULL */
	int slot;                 /* reassembly slot, or -1 */
	bool done;                /* answered (or its reply was dropped) */
	bool too_big;             /* mget: a segmented answer found no room */
};

/* A segmented reply being reassembled, for one pending request. */
struct rc_reasm_slot {
	uint8_t *buf;             /* NULL once dropped */
	size_t alloc;
	struct rc_proto_hdr h;    /* of the first segment: the others agree */
	uint16_t received;
	size_t last_body;
	bool used;
	bool dropped;             /* conflicting: the whole reply is refused */
	uint64_t seen[RC_PROTO_MAX_SEGMENTS / 64];
};

struct rc_client {
	int fd;
	struct rc_io io;
	struct server *srv;
	size_t n_srv;
	struct rc_hashring ring;
	unsigned timeout_ms, durable_timeout_ms, retries, backoff_ms,
		failover_ms;
	bool read_standby;
	bool to_other;            /* this attempt goes to the pair's other */
	uint8_t req_flags;        /* extra header flags of this request */
	uint64_t rng;             /* backoff jitter only */
	uint32_t ids[RC_ID_POOL]; /* unpredictable request ids, unused */
	unsigned n_ids;
	uint32_t recent[RC_RECENT_IDS];
	unsigned recent_pos;
	uint32_t avg_value;       /* running mean of values seen, for mget */
	struct rc_client_stats st;
	struct rc_proto_hdr rh;   /* the matched reply */
	struct rc_proto_rep_op reps[RC_PROTO_MAX_OPS];
	struct rc_reasm_slot ra[RC_CLIENT_REASM_MAX_ENTRIES];
	size_t ra_bytes;          /* held by ra[] now */
	size_t ra_peak;           /* most ever held (checked by the fuzzer) */
	struct rc_pending one;    /* the request of a single-key call */
	uint8_t *tx;              /* request being sent; grows for segments */
	size_t tx_cap;
	uint8_t seg[RC_PROTO_MAX_DATAGRAM];
	uint8_t rx[RC_RX_BUF];
};

/* client.c */
int rc_status_to_err(uint8_t st);
int rc_check_key(size_t key_len);
void rc_route(const rc_client *c, const struct rc_proto_digest *d,
	      size_t *srv, unsigned *part);

/* io.c */
void rc_io_default(rc_client *c);
/* Replace the transport (tests, fuzzing); io is copied. */
void rc_client_set_io(rc_client *c, const struct rc_io *io);
uint64_t rc_now(rc_client *c);
void rc_backoff(rc_client *c, unsigned attempt);
void rc_pause(rc_client *c);
/* A fresh unpredictable request id, remembered as recent.
 * @return RC_OK or RC_ESYSTEM. */
int rc_new_id(rc_client *c, uint32_t *id);
/* Address of partition part of server srv (its other node if other). */
struct sockaddr_in rc_dest(const rc_client *c, size_t srv, unsigned part,
			   bool other);
int rc_send_dgram(rc_client *c, const struct sockaddr_in *to,
		  const uint8_t *buf, size_t len);
size_t rc_pad_request(uint8_t *buf, size_t len, size_t pad,
		      struct rc_proto_hdr *h);
/* Wait for the answer of one of the n requests in p until deadline.
 * Fills c->rh and c->reps (valid until the next call of this or
 * rc_io_end), marks it done and applies its routing.
 * @return its index, RC_ETIMEOUT or RC_ESYSTEM. */
int rc_recv_reply(rc_client *c, struct rc_pending *p, size_t n,
		  uint64_t deadline);
/* Release every reassembly buffer: the call is over. */
void rc_io_end(rc_client *c);
/* One request (n_ops ops of opcode, encoded after the header in c->tx,
 * len bytes, c->tx_cap >= pad) to server srv, routed by digest (NULL:
 * partition 0): pad, send, wait, and retry if idempotent.
 * @return RC_OK (answer in c->rh / c->reps), RC_ETIMEOUT, RC_EBUSY,
 *         RC_ESYSTEM. */
int rc_transact(rc_client *c, size_t srv, const struct rc_proto_digest *d,
		uint8_t opcode, uint16_t n_ops, size_t len, size_t pad,
		bool idempotent);

/* What the fuzz target checks after every call. */
struct rc_client_state {
	size_t reasm_bytes, reasm_peak;
	unsigned reasm_slots;     /* in use */
};
void rc_client_state(const rc_client *c, struct rc_client_state *s);

#endif
