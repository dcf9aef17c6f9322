/* SPDX-License-Identifier: MIT
 * One partition of the cache: an rte_hash index over a key digest plus a
 * segment-structured log of items, grouped by data class (each with its
 * own byte budget) and by TTL.
 *
 * Single writer, single reader: a store is used by the one thread that owns
 * it (a worker lcore). Nothing here locks, except that budgets may be
 * changed from another thread (rc_store_set_memory, rc_store_set_share):
 * those publish numbers the owner picks up on its next operation. Knows
 * nothing of the network or the wire protocol: callers pass the digest and
 * map results to statuses. docs/design.md explains the layout and policy.
 */
#ifndef RC_STORE_H
#define RC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_STORE_DIGEST_LEN 16u
#define RC_STORE_MAX_CLASSES 16u
#define RC_STORE_PPM 1000000u          /* shares are parts per million */
#define RC_STORE_MIN_SEGMENT (16u << 10)
#define RC_STORE_MAX_SEGMENT (64u << 20)
#define RC_STORE_MAX_VALUE ((1u << 21) - 1) /* and it must fit a segment */
/* A write that finds the index full evicts up to this many segments
 * (its own class first) before it answers NO_MEMORY. */
#define RC_STORE_INDEX_TRIES 64
#define RC_STORE_SEG_HDR 8u /* bytes a segment keeps: item = size - this */

enum rc_store_result {
	RC_STORE_OK = 0,
	RC_STORE_NOT_FOUND,  /* absent or expired */
	RC_STORE_EXISTS,     /* CAS given and it does not match */
	RC_STORE_TOO_LARGE,  /* key or value over the configured limit */
	RC_STORE_NO_MEMORY,  /* the item's class cannot make room for it */
	RC_STORE_BAD_CLASS,  /* class id not configured */
};

enum rc_store_policy {
	RC_STORE_CLOCK = 0,  /* FIFO segments, accessed items get a 2nd pass */
	RC_STORE_FIFO,       /* FIFO segments, no second chance (baseline) */
};

/* Key -> the same 16-byte digest callers pass in; the store needs it to
 * find an item's index entry when it evicts or expires the item. */
typedef void (*rc_store_digest_fn)(const void *key, size_t len, void *out);

struct rc_store_class_config {
	uint32_t share_ppm;      /* of the memory budget; all sum <= 1e6 */
	bool protect;            /* lent memory reclaimed from it last */
};

struct rc_store_config {
	const char *name;        /* unique among stores: names the rte_hash */
	int socket_id;           /* NUMA node for the index (SOCKET_ID_ANY ok) */
	size_t memory_limit;     /* bytes: index + segments, all included */
	size_t memory_cap;       /* most memory_limit may grow to (0: limit) */
	uint32_t max_items;      /* index capacity */
	uint32_t max_key_len;    /* <= 255 */
	uint32_t max_value_len;  /* an item must fit one segment */
	uint32_t segment_size;   /* power of two (0: 1 MiB) */
	unsigned n_classes;      /* 1..RC_STORE_MAX_CLASSES */
	struct rc_store_class_config classes[RC_STORE_MAX_CLASSES];
	bool borrowing;          /* a full class may use idle memory */
	enum rc_store_policy policy;
	rc_store_digest_fn digest;
	/* Tests: fill a segment with 0xA5 when it is released, so that
	 * anything still reading it sees garbage, not the old items. */
	bool poison_released;
};

/* What a hit returns. Pointers stay valid until the next call that
 * mutates this store (set, delete, touch, maintain). */
struct rc_store_item_view {
	const uint8_t *value;
	uint32_t value_len;
	uint32_t client_flags;
	uint64_t cas;
	uint8_t class_id;
	uint8_t stale;           /* expired, served within the stale grace */
};

/* Per class. used_bytes = segments owned x segment size + the class's
 * share of the index; that is what the budget limits. */
struct rc_store_class_stats {
	uint64_t items;
	uint64_t live_bytes;     /* item headers, keys and values still live */
	uint64_t segments;
	uint64_t used_bytes;
	uint64_t budget_bytes;
	uint64_t gets, hits, misses, sets;
	uint64_t evictions, expirations, reinserted;
};

/* Partition totals. Every field a uint64_t (the daemon sums them). */
struct rc_store_stats {
	uint64_t items;
	uint64_t bytes_used;     /* index + segments held */
	uint64_t bytes_limit;
	uint64_t index_bytes;
	uint64_t segments, segments_free;
	uint64_t gets, hits, misses;
	uint64_t sets, deletes, touches;
	uint64_t evictions, expirations, cas_mismatches;
	uint64_t reinserted;     /* accessed items kept by eviction */
	uint64_t reclaims_inline; /* segments compacted on the SET path */
	uint64_t index_full;     /* inserts that found the index full */
	uint64_t stale_hits;     /* GETs answered with an expired item */
	uint64_t flushed;        /* items removed by rc_store_flush */
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
 * seconds; ttl 0 means never expires. A GET's class_id only says which
 * class a miss is counted against (RC_STORE_NO_CLASS: none); a hit counts
 * for the item's own class. */
#define RC_STORE_NO_CLASS 0xFFu
enum rc_store_result rc_store_get(struct rc_store *s, const void *digest,
				  const void *key, uint16_t key_len,
				  uint8_t class_id, uint32_t now,
				  struct rc_store_item_view *out);

/* Count a miss against a class after the fact: lets a caller that
 * derives the class from the key do so only when the GET missed. */
void rc_store_count_miss(struct rc_store *s, uint8_t class_id);

/* Look up n (<= RC_STORE_BULK) keys at once: index probes pipelined and
 * items prefetched before any key is compared. res[i] is OK or NOT_FOUND. */
#define RC_STORE_BULK 32u
void rc_store_get_bulk(struct rc_store *s, unsigned n,
		       const void *const digests[], const void *const keys[],
		       const uint16_t key_lens[], uint32_t now,
		       struct rc_store_item_view out[],
		       enum rc_store_result res[]);

/* Store a value in class class_id. cas != 0 makes it conditional:
 * RC_STORE_NOT_FOUND when the key is absent, RC_STORE_EXISTS when its CAS
 * differs. Makes room within the class (or borrows, see the config).
 * *cas_out receives the new version. */
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

/* Background work, called by the owner between bursts: reclaims expired
 * items, trims classes over their budget, compacts the next segment of a
 * full class ahead of need. Touches at most `work` items per call.
 * @return items examined (0 = nothing left to do now). */
unsigned rc_store_maintain(struct rc_store *s, uint32_t now, unsigned work);

/* Budgets, callable from any thread while the owner runs. The owner
 * applies them on its next set or maintain call, evicting gradually.
 * @return 0, or -EINVAL (over memory_cap / below the index / bad class /
 *         shares summing over 100%). */
int rc_store_set_memory(struct rc_store *s, size_t bytes);
int rc_store_set_share(struct rc_store *s, uint8_t class_id,
		       uint32_t share_ppm);

/* Serve-stale: for this many seconds after expiry an item stays readable
 * by GETs (marked stale in the view) and is not swept; writes still see
 * it as gone. 0 turns it off. Callable from any thread. */
void rc_store_set_stale_grace(struct rc_store *s, uint32_t seconds);

/* Remove the items a predicate selects, incrementally: each call looks
 * at up to `work` index entries from *cursor (start at 0) and returns 1
 * while there is more to look at, 0 when the pass is complete. Items
 * written during a pass may or may not be seen by it. */
typedef bool (*rc_store_match_fn)(void *arg, const uint8_t *key,
				  uint16_t key_len, uint8_t class_id);
int rc_store_flush(struct rc_store *s, uint32_t *cursor, unsigned work,
		   rc_store_match_fn match, void *arg, uint64_t *removed);

/* A consistent-enough copy of every live item, incrementally: each call
 * looks at up to `work` items from *cur (zero it to start) and hands the
 * live, unexpired ones to fn, which returns false to be offered the same
 * item again on the next call (say, its output is full). Every item that
 * stays live from the start of the pass to its end is seen at least
 * once; items written during the pass may be seen or not, and one may be
 * seen twice (callers that also log writes made during the pass get an
 * exact copy by replaying both in order).
 * @return 1 while there is more to do, 0 when the pass is complete. */
struct rc_store_cursor {
	uint32_t seg, off;
	uint64_t seq;
	uint64_t items;           /* handed to fn so far */
};
struct rc_store_snap_item {
	const uint8_t *key, *value;
	uint16_t key_len;
	uint32_t value_len;
	uint32_t client_flags;
	uint32_t ttl_left;        /* seconds, 0: never expires */
	uint8_t class_id;
};
typedef bool (*rc_store_item_fn)(void *arg,
				 const struct rc_store_snap_item *it);
int rc_store_snapshot(struct rc_store *s, struct rc_store_cursor *cur,
		      unsigned work, uint32_t now, rc_store_item_fn fn,
		      void *arg);

void rc_store_get_stats(const struct rc_store *s, struct rc_store_stats *st);
int rc_store_get_class_stats(const struct rc_store *s, uint8_t class_id,
			     struct rc_store_class_stats *st);

/* Memory one item of this size costs in a segment (header, key, value,
 * alignment), not counting its index entry. */
/* Tests: walk every segment and check that its live-item counts match
 * its items and that every live item is what the index holds for its
 * key. O(memory); owner thread only.
 * @return 0, or -EFAULT with what is wrong in err. */
int rc_store_verify(struct rc_store *s, char *err, size_t errlen);

size_t rc_store_item_size(uint16_t key_len, uint32_t value_len,
			  uint32_t client_flags);

const char *rc_store_result_name(enum rc_store_result r);

/* ---- warm restart: the stores' items in a file (persist.c) ----------
 *
 * rc_store_save writes every live item of n stores (their owners
 * stopped) to path: through path.tmp, fsync'd, renamed, so a crash while
 * saving leaves no file that looks whole. rc_store_load reads one back
 * into n stores, sending each item to the store route() names for its
 * digest (the partition count may differ from the saver's). The whole
 * file is checked (magic, version, record bounds, item count, XXH64 of
 * everything) before the first item is stored: a corrupt or truncated
 * file stores nothing. Key, value, client flags and class are restored;
 * a TTL keeps running while the node is down (wall clock): items whose
 * TTL ended meanwhile are not loaded. CAS values are new, and above
 * every value the saved stores ever handed out, so no CAS from before
 * the restart matches an item after it. Files are host byte order (for
 * a restart on the same machine, not an exchange format).
 * @return 0, or a negative errno with what is wrong in err: -EIO and
 *   errno's words for I/O, -EINVAL for a file that is not a store file,
 *   -EBADMSG for a corrupt or truncated one, -ERANGE for a class id
 *   beyond n_classes. */
struct rc_store_file_stats {
	uint64_t items;           /* saved / stored */
	uint64_t bytes;           /* the file's size */
	uint64_t expired;         /* load: TTL ended while down */
	uint64_t refused;         /* load: the store refused (limits) */
};
int rc_store_save(struct rc_store *const *stores, unsigned n,
		  const char *path, uint32_t now, uint64_t wall_s,
		  struct rc_store_file_stats *st, char *err, size_t errlen);
typedef unsigned (*rc_store_route_fn)(void *arg, const void *digest);
int rc_store_load(struct rc_store *const *stores, unsigned n,
		  unsigned n_classes, rc_store_route_fn route, void *arg,
		  rc_store_digest_fn digest, const char *path, uint32_t now,
		  uint64_t wall_s, struct rc_store_file_stats *st, char *err,
		  size_t errlen);

/* The version counter CAS values are made from: read it before a save,
 * raise it (never lower) before a load. */
uint64_t rc_store_cas_seq(const struct rc_store *s);
void rc_store_cas_seq_raise(struct rc_store *s, uint64_t seq);

#endif
