/* SPDX-License-Identifier: MIT
 * One partition of the cache: an rte_hash index over a 128-bit key digest
 * plus items allocated from a private jemalloc arena.
 *
 * Single writer, single reader: a store is used by the one thread that owns
 * it (a worker lcore). Nothing here locks. Knows nothing of the network or
 * the wire protocol: callers pass the digest and map results to statuses.
 */
#ifndef RC_STORE_H
#define RC_STORE_H

#include <stddef.h>
#include <stdint.h>

#define RC_STORE_DIGEST_LEN 16u
#define RC_STORE_MAX_CLASSES 16u

enum rc_store_result {
	RC_STORE_OK = 0,
	RC_STORE_NOT_FOUND,  /* absent or expired */
	RC_STORE_EXISTS,     /* CAS given and it does not match */
	RC_STORE_TOO_LARGE,  /* key or value over the configured limit */
	RC_STORE_NO_MEMORY,  /* item larger than the partition can ever hold */
	RC_STORE_BAD_CLASS,  /* class id out of range */
};

struct rc_store_config {
	const char *name;        /* unique among stores: names the rte_hash */
	int socket_id;           /* NUMA node for the index (SOCKET_ID_ANY ok) */
	size_t memory_limit;     /* bytes: index + items, all included */
	uint32_t max_items;      /* index capacity */
	uint32_t max_key_len;
	uint32_t max_value_len;
};

/* What a hit returns. Pointers stay valid until the next call that
 * mutates this store. */
struct rc_store_item_view {
	const uint8_t *value;
	uint32_t value_len;
	uint32_t client_flags;
	uint64_t cas;
	uint8_t class_id;
};

struct rc_store_stats {
	uint64_t items;
	uint64_t bytes_used;    /* index + item allocations (usable sizes) */
	uint64_t bytes_limit;
	uint64_t index_bytes;
	uint64_t gets, hits, misses;
	uint64_t sets, deletes, touches;
	uint64_t evictions, expirations, cas_mismatches;
};

struct rc_store;

/* Create a partition store. Needs an initialised EAL (the index lives in
 * rte_malloc memory).
 * @return the store, or NULL with errno set: EINVAL for a bad config
 *         (including an index that alone exceeds memory_limit), ENOMEM,
 *         EEXIST for a duplicate name. */
struct rc_store *rc_store_create(const struct rc_store_config *cfg);
void rc_store_destroy(struct rc_store *s);

/* All operations take the key's digest (RC_STORE_DIGEST_LEN bytes) and the
 * full key, which is compared on every hit. now is the caller's clock in
 * seconds; ttl 0 means never expires. */
enum rc_store_result rc_store_get(struct rc_store *s, const void *digest,
				  const void *key, uint16_t key_len,
				  uint32_t now, struct rc_store_item_view *out);

/* Store a value. cas != 0 makes it conditional: RC_STORE_NOT_FOUND when
 * the key is absent, RC_STORE_EXISTS when its CAS differs. Evicts the
 * least recently used items until the new one fits. *cas_out receives the
 * new version. */
enum rc_store_result rc_store_set(struct rc_store *s, const void *digest,
				  const void *key, uint16_t key_len,
				  const void *value, uint32_t value_len,
				  uint32_t client_flags, uint32_t ttl,
				  uint64_t cas, uint8_t class_id, uint32_t now,
				  uint64_t *cas_out);

enum rc_store_result rc_store_delete(struct rc_store *s, const void *digest,
				     const void *key, uint16_t key_len,
				     uint64_t cas, uint32_t now);

/* Set a new TTL on an existing item. */
enum rc_store_result rc_store_touch(struct rc_store *s, const void *digest,
				    const void *key, uint16_t key_len,
				    uint32_t ttl, uint32_t now,
				    uint64_t *cas_out);

void rc_store_get_stats(const struct rc_store *s, struct rc_store_stats *st);

const char *rc_store_result_name(enum rc_store_result r);

#endif
