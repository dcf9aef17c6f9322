/* SPDX-License-Identifier: MIT
 * libringcache: the ringcache client library.
 *
 * Plain kernel UDP sockets, no DPDK. Speaks ringcache protocol v1
 * (docs/protocol.md) to one or more ringcache nodes. Keys are spread over
 * nodes by consistent hashing and, within a node, over its partitions
 * (UDP port base_port + p) by the same digest the server uses.
 *
 * Thread safety: an rc_client is NOT thread-safe. Give each thread its own
 * client (they are cheap: one socket each). Different clients may be used
 * concurrently. rc_strerror(), rc_bad_reply_name() and rc_version() are
 * thread-safe.
 *
 * Errors: every call returns RC_OK (0) or a negative rc_err code.
 *
 * What a reply must be to be believed. A datagram is taken as the answer
 * to a request only if it comes from the very address and port the
 * request was sent to, carries the request's id (a fresh unpredictable
 * one per attempt), as many ops as the request, each answering the
 * request's opcode, and valid segment fields; the segments of one reply
 * must agree, and a segment that arrives twice must be byte-identical,
 * or the whole reply is dropped. Anything else is dropped and counted in
 * rc_client_stats.bad_reply[reason]; it changes nothing. The routing the
 * client learns from replies (a node's partition count and epoch, which
 * node of a pair is primary) changes only on such a matched reply, and a
 * partition count only within RC_MAX_PARTITIONS and the port range.
 *
 * Timeouts and retries. RC_ETIMEOUT means "no answer", NOT "not stored":
 * a write may have been applied and only its reply lost. Idempotent calls
 * (rc_get, plain rc_set, unconditional rc_delete, rc_touch, rc_ping,
 * rc_mget) are sent again after a timeout, up to `retries` times, and
 * (rc_get, rc_set, rc_delete, rc_touch) then to the other node of a pair,
 * for up to failover_ms; conditional writes (rc_set with cas != 0,
 * rc_delete with cas != 0) are never re-sent after a timeout, since a
 * retry could report RC_EEXISTS or RC_ENOTFOUND for their own success:
 * they return RC_ETIMEOUT and the application decides (re-read the key).
 * A call is also re-sent, conditional or not, when the node answered
 * that it did not execute it: NOT_PRIMARY (the pair's other node is
 * tried, for up to failover_ms), WRONG_PARTITION (re-routed with the
 * count it names) and PAD_REQUIRED (GET, padded); at most
 * three re-routes per node, then RC_EPROTOCOL. BUSY (a
 * segmented request not taken) is retried like a timeout, so only by
 * idempotent calls (else RC_EBUSY). A timeout on a partition's port
 * sends the next attempt to the node's base port, which names the real
 * partition count: a wrong count costs one attempt's timeout.
 */
#ifndef RINGCACHE_H
#define RINGCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_API __attribute__((visibility("default")))

/* Version of this header; rc_version() gives the library's. Bumped on
 * every change of the API: MAJOR when existing callers must be rebuilt
 * (2.0: rc_client_config and rc_client_stats grew). */
#define RC_VERSION_MAJOR 2
#define RC_VERSION_MINOR 0
#define RC_VERSION_PATCH 0
#define RC_VERSION_STRING "2.0.0"

/* "MAJOR.MINOR.PATCH" of the library linked. Never NULL. */
RC_API const char *rc_version(void);

enum rc_err {
	RC_OK = 0,
	/* Answers from the server. */
	RC_ENOTFOUND = -1,      /* no such key (or it expired) */
	RC_EEXISTS = -2,        /* CAS mismatch */
	RC_ETOOLARGE = -3,      /* key or value over the limit */
	RC_EBADREQUEST = -4,    /* server found the request meaningless */
	RC_ETHROTTLED = -5,     /* rate quota exceeded; try later */
	RC_ENOTPRIMARY = -6,    /* node is a standby */
	RC_ESERVER = -7,        /* server-side failure */
	RC_ENOSPACE = -8,       /* server could not make room for the item */
	RC_EUNKNOWNCLASS = -9,  /* data class id not configured */
	RC_EREADONLY = -10,     /* node is in read-only mode */
	RC_EBUSY = -11,         /* node could not take a segmented request
				 * now (reassembly full); try later */
	RC_ENOTREPLICATED = -12,/* durable set: stored on the primary, but
				 * its standby did not confirm it in time */
	/* Local outcomes. */
	RC_ETIMEOUT = -20,      /* no answer after every retry */
	RC_ESYSTEM = -21,       /* a socket call failed; see errno */
	RC_EPROTOCOL = -22,     /* the server's reply made no sense */
	RC_EINVAL = -23,        /* bad argument */
	RC_ETRUNCATED = -24,    /* value longer than the buffer given */
	RC_ERESOLVE = -25,      /* server address could not be parsed */
	RC_ENOMEM = -26,        /* local allocation failed */
};

/* Returns a static description of an rc_err code. Never NULL. */
RC_API const char *rc_strerror(int err);

#define RC_DEFAULT_PORT 7711
#define RC_CLASS_AUTO 0xFF  /* let the server derive the class */
#define RC_MAX_KEY 250
#define RC_MAX_VALUE (1u << 20)
/* Most partitions a node may announce (ringcached's dpdk.workers bound);
 * a reply claiming more is dropped (RC_BAD_ROUTING). */
#define RC_MAX_PARTITIONS 64
/* Per-attempt timeout of durable sets when durable_timeout_ms is 0: well
 * above ringcached's default repl.durable_timeout_ms (100 ms), so that a
 * slow standby is answered RC_ENOTREPLICATED, not RC_ETIMEOUT. */
#define RC_DEFAULT_DURABLE_TIMEOUT_MS 500

/* Reassembly of segmented replies: hard limits. A client holds at most
 * RC_CLIENT_REASM_MAX_ENTRIES replies in reassembly, of at most
 * RC_CLIENT_REASM_MAX_MESSAGE bytes each (a 1 MiB GET reply) and
 * RC_CLIENT_REASM_MAX_BYTES in all; everything is freed when the call that
 * asked for them returns. Only a reply to a single-op request in flight
 * is reassembled (the protocol sends multi-op replies in one datagram). */
#define RC_CLIENT_REASM_MAX_ENTRIES 4
#define RC_CLIENT_REASM_MAX_MESSAGE (20 + 20 + RC_MAX_VALUE)
#define RC_CLIENT_REASM_MAX_BYTES (4u << 20)

struct rc_client_config {
	const char *const *servers; /* "a.b.c.d" or "a.b.c.d:port" */
	size_t n_servers;
	unsigned timeout_ms;   /* per attempt; 0 = 100 */
	unsigned retries;      /* extra attempts for idempotent calls (see
				* "Timeouts and retries" above) */
	unsigned backoff_ms;   /* first pause between attempts, doubled each
				* time, with jitter; 0 = none */
	/* Replication (docs/operations.md): standbys[i], if not NULL or "",
	 * is the standby paired with servers[i]. A write answered
	 * NOT_PRIMARY, or timing out, moves that pair's traffic to the
	 * other node and tries again, for up to failover_ms. */
	const char *const *standbys; /* NULL: no pairs */
	unsigned failover_ms;  /* 0 = 1000 */
	int read_standby;      /* 1: GETs go to the standby of a pair (and
				* to the primary if it does not answer) */
	/* Per attempt of a durable set (rc_set_opts.durable); 0 =
	 * max(timeout_ms, RC_DEFAULT_DURABLE_TIMEOUT_MS). Keep it above the
	 * nodes' repl.durable_timeout_ms plus a round trip: a shorter one
	 * turns a late RC_ENOTREPLICATED into a timeout and a retry. */
	unsigned durable_timeout_ms;
};

typedef struct rc_client rc_client;

/* Create a client. On failure returns NULL and, if err is not NULL,
 * stores RC_EINVAL, RC_ERESOLVE, RC_ESYSTEM or RC_ENOMEM there. */
RC_API rc_client *rc_client_create(const struct rc_client_config *cfg, int *err);
RC_API void rc_client_destroy(rc_client *c);

struct rc_item_meta {
	uint32_t flags;    /* client flags stored with the value */
	uint64_t cas;      /* version, for a later conditional set/delete */
	uint8_t class_id;
	uint8_t stale;     /* 1: expired, served by a node in serve-stale
			    * mode within its grace (ringctl mode) */
};

/* Get a value into buf (cap bytes). *value_len receives the full length
 * even when it exceeds cap (then RC_ETRUNCATED, with cap bytes copied).
 * value_len and meta may be NULL. Values longer than one datagram arrive
 * in segments, reassembled here. A node that does not trust this
 * client's network (acl.trusted) answers a value larger than the request
 * only to a padded request: the call pads and asks again, at the cost of
 * a round trip.
 * Out-parameters: on RC_OK and RC_ETRUNCATED *value_len and *meta are
 * the item's; on any other return *value_len is 0, *meta is zeroed and
 * buf is unchanged. Retried on timeout. */
RC_API int rc_get(rc_client *c, const void *key, size_t key_len, void *buf,
	   size_t cap, size_t *value_len, struct rc_item_meta *meta);

struct rc_set_opts {
	uint32_t flags;    /* opaque to the server, returned by get */
	uint32_t ttl;      /* seconds; 0 = never expires */
	uint64_t cas;      /* nonzero: store only if the item has this CAS */
	uint8_t class_id;  /* data class, or RC_CLASS_AUTO */
	uint8_t durable;   /* 1: answer only once the node's standby has
			    * applied it (else RC_ENOTREPLICATED) */
};

/* Store a value of up to 1 MiB (RC_MAX_VALUE; the node may set a lower
 * limit); one longer than a datagram is sent in segments. opts may be
 * NULL (no flags, no TTL, unconditional, class derived by the server).
 * A plain set is retried on timeout; a conditional one (cas != 0) is not
 * (RC_ETIMEOUT: it may or may not have been stored). A durable set waits
 * durable_timeout_ms per attempt.
 * cas_out may be NULL; otherwise it receives the item's new CAS on RC_OK
 * and on RC_ENOTREPLICATED (stored on the primary), and 0 on any other
 * return. */
RC_API int rc_set(rc_client *c, const void *key, size_t key_len, const void *value,
	   size_t value_len, const struct rc_set_opts *opts,
	   uint64_t *cas_out);

/* Delete a key; cas nonzero makes it conditional. An unconditional delete
 * is retried, so a lost reply can turn its OK into RC_ENOTFOUND; a
 * conditional one is not re-sent after a timeout (RC_ETIMEOUT: it may or
 * may not have been deleted). */
RC_API int rc_delete(rc_client *c, const void *key, size_t key_len, uint64_t cas);

/* Give an existing key a new TTL (seconds, 0 = never expires). Retried
 * on timeout. */
RC_API int rc_touch(rc_client *c, const void *key, size_t key_len, uint32_t ttl);

/* Round trip to server number idx (in config order; of a pair, the node
 * now believed primary), partition 0: is it there? Retried on timeout. */
RC_API int rc_ping(rc_client *c, size_t idx);

/* One key of a multi-get. Fill key, key_len, buf, cap; the call fills
 * the rest. status is RC_OK, RC_ENOTFOUND, RC_ETRUNCATED, ... per key;
 * value_len and meta are the item's on RC_OK and RC_ETRUNCATED, else 0. */
struct rc_mget_item {
	const void *key;
	size_t key_len;
	void *buf;
	size_t cap;
	size_t value_len;
	struct rc_item_meta meta;
	int status;
};

/* Fetch many keys with as few datagrams as possible (keys of one node
 * partition share datagrams), all in flight at once. Datagrams without
 * an answer are sent again (new ids), up to `retries` times.
 * @return RC_OK when every item has its own status; a negative code only
 *         for failures of the call itself (RC_EINVAL, RC_ENOMEM,
 *         RC_ESYSTEM: then items not yet answered hold RC_ETIMEOUT).
 *         Items that got no answer have status RC_ETIMEOUT. */
RC_API int rc_mget(rc_client *c, struct rc_mget_item *items, size_t n);

/* Why a received datagram was not taken as an answer (it is dropped and
 * counted, and changes nothing). */
enum rc_bad_reply {
	RC_BAD_MALFORMED = 0, /* not a valid reply frame (lib/proto decoder),
			       * or longer than a datagram */
	RC_BAD_SOURCE,        /* from an address:port no request in flight
			       * was sent to */
	RC_BAD_ID,            /* request id of no request in flight (nor of
			       * a recent one: those count as stale) */
	RC_BAD_OPS,           /* n_ops, or an op's opcode, does not answer
			       * the request */
	RC_BAD_SEGMENT,       /* segment fields impossible for this reply
			       * (segmented answer to a multi-op request,
			       * over RC_CLIENT_REASM_MAX_MESSAGE, short segment) */
	RC_BAD_DUPLICATE,     /* a segment already held, byte-identical:
			       * ignored */
	RC_BAD_CONFLICT,      /* a segment that disagrees with the others of
			       * its reply (bytes of a repeat, header
			       * fields): the whole reply is dropped */
	RC_BAD_ROUTING,       /* partition count 0, over RC_MAX_PARTITIONS,
			       * past port 65535, not covering the port it
			       * came from, or a WRONG_PARTITION that names
			       * the partition it was sent to */
	RC_BAD_FULL,          /* reassembly limits (RC_CLIENT_REASM_MAX_*) reached */
	RC_BAD__COUNT
};

/* Name of an rc_bad_reply reason ("malformed", ...). Never NULL. */
RC_API const char *rc_bad_reply_name(unsigned reason);

/* Counters of this client, for diagnosis. */
struct rc_client_stats {
	uint64_t requests;   /* datagrams sent, retries included */
	uint64_t retries;
	uint64_t timeouts;   /* attempts that waited out their timeout */
	uint64_t stale;      /* replies for earlier attempts, discarded */
	uint64_t bad_replies;/* datagrams dropped: sum of bad_reply[] */
	uint64_t padded;     /* requests sent again padded (untrusted) */
	uint64_t failovers;  /* a pair's traffic moved to its other node */
	uint64_t not_primary;/* NOT_PRIMARY answers seen */
	uint64_t bad_reply[RC_BAD__COUNT]; /* by enum rc_bad_reply */
};
RC_API void rc_client_get_stats(const rc_client *c, struct rc_client_stats *st);

#ifdef __cplusplus
}
#endif
#endif
