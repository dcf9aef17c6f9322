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
 * concurrently. rc_strerror() is thread-safe.
 *
 * Errors: every call returns RC_OK (0) or a negative rc_err code.
 */
#ifndef RINGCACHE_H
#define RINGCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_API __attribute__((visibility("default")))

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

struct rc_client_config {
	const char *const *servers; /* "a.b.c.d" or "a.b.c.d:port" */
	size_t n_servers;
	unsigned timeout_ms;   /* per attempt; 0 = 100 */
	unsigned retries;      /* extra attempts for idempotent calls */
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
 * meta may be NULL. Values longer than one datagram arrive in segments,
 * reassembled here. A node that does not trust this client's network
 * (acl.trusted) answers a value larger than the request only to a padded
 * request: the call pads and asks again, at the cost of a round trip. */
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
 * limit); one longer than a datagram is sent in segments. opts may be NULL (no flags, no TTL, unconditional, class
 * derived by the server). cas_out may be NULL. A plain set is retried on
 * timeout; a conditional one (cas != 0) is not, since a retry could report
 * RC_EEXISTS for its own earlier success. */
RC_API int rc_set(rc_client *c, const void *key, size_t key_len, const void *value,
	   size_t value_len, const struct rc_set_opts *opts,
	   uint64_t *cas_out);

/* Delete a key; cas nonzero makes it conditional. An unconditional delete
 * is retried, so a lost reply can turn its OK into RC_ENOTFOUND. */
RC_API int rc_delete(rc_client *c, const void *key, size_t key_len, uint64_t cas);

/* Give an existing key a new TTL (seconds, 0 = never expires). */
RC_API int rc_touch(rc_client *c, const void *key, size_t key_len, uint32_t ttl);

/* Round trip to server number idx (in config order): is it there? */
RC_API int rc_ping(rc_client *c, size_t idx);

/* One key of a multi-get. Fill key, key_len, buf, cap; the call fills
 * the rest. status is RC_OK, RC_ENOTFOUND, RC_ETRUNCATED, ... per key. */
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
 * partition share datagrams), all in flight at once.
 * @return RC_OK when every item has its own status; a negative code only
 *         for failures of the call itself (RC_EINVAL, RC_ESYSTEM). Items
 *         that got no answer have status RC_ETIMEOUT. */
RC_API int rc_mget(rc_client *c, struct rc_mget_item *items, size_t n);

/* Counters of this client, for diagnosis. */
struct rc_client_stats {
	uint64_t requests;   /* datagrams sent, retries included */
	uint64_t retries;
	uint64_t timeouts;   /* attempts that waited out timeout_ms */
	uint64_t stale;      /* replies for earlier attempts, discarded */
	uint64_t bad_replies;
	uint64_t padded;     /* requests sent again padded (untrusted) */
	uint64_t failovers;  /* a pair's traffic moved to its other node */
	uint64_t not_primary;/* NOT_PRIMARY answers seen */
};
RC_API void rc_client_get_stats(const rc_client *c, struct rc_client_stats *st);

#ifdef __cplusplus
}
#endif
#endif
