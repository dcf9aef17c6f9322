/* SPDX-License-Identifier: MIT
 * Partition store: rte_hash index (digest -> item) + jemalloc items in a
 * private arena + an LRU list for eviction. Single owner thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#include "rc_store.h"

struct rc_item {
	struct rc_item *prev, *next; /* LRU: head is most recently used */
	uint8_t digest[RC_STORE_DIGEST_LEN];
	uint64_t cas;
	uint32_t expire;             /* store clock seconds; 0 = never */
	uint32_t client_flags;
	uint32_t value_len;
	uint16_t key_len;
	uint8_t class_id;
	uint8_t pad;
	uint8_t data[];              /* key, then value */
};

struct rc_store {
	struct rte_hash *index;
	struct rc_item *lru_head, *lru_tail;
	unsigned arena;
	int mflags;                  /* mallocx flags selecting the arena */
	uint64_t next_cas;
	struct rc_store_config cfg;
	struct rc_store_stats st;
};

/* The digest is already a strong hash: its first word is the signature. */
static uint32_t digest_sig(const void *key, uint32_t len, uint32_t init)
{
	uint32_t v;

	(void)len;
	(void)init;
	memcpy(&v, key, sizeof(v));
	return v;
}

static inline hash_sig_t sig_of(const void *digest)
{
	return digest_sig(digest, RC_STORE_DIGEST_LEN, 0);
}

struct rc_store *rc_store_create(const struct rc_store_config *cfg)
{
	struct rte_malloc_socket_stats before, after;
	char hname[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {0};
	int heap_socket;
	struct rc_store *s;
	size_t sz = sizeof(unsigned);

	if (!cfg || !cfg->name || cfg->max_items < 8 || cfg->max_key_len == 0 ||
	    cfg->max_key_len > UINT16_MAX || cfg->memory_limit == 0) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->cfg = *cfg;
	s->next_cas = 1;
	if (mallctl("arenas.create", &s->arena, &sz, NULL, 0) != 0) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->mflags = MALLOCX_ARENA(s->arena) | MALLOCX_TCACHE_NONE;

	snprintf(hname, sizeof(hname), "rc_%s", cfg->name);
	hp.name = hname;
	hp.entries = cfg->max_items;
	hp.key_len = RC_STORE_DIGEST_LEN;
	hp.hash_func = digest_sig;
	hp.socket_id = cfg->socket_id;
	/* Extendable buckets: inserts only fail once max_items are held, so
	 * the item count alone decides when to evict. */
	hp.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;

	/* The index counts against the memory limit: measure what it takes. */
	heap_socket = cfg->socket_id < 0 ? 0 : cfg->socket_id;
	rte_malloc_get_socket_stats(heap_socket, &before);
	s->index = rte_hash_create(&hp);
	if (!s->index) {
		int err = rte_errno;

		free(s);
		errno = err == EEXIST ? EEXIST : (err ? err : ENOMEM);
		return NULL;
	}
	rte_malloc_get_socket_stats(heap_socket, &after);
	s->st.index_bytes = after.heap_allocsz_bytes > before.heap_allocsz_bytes
				    ? after.heap_allocsz_bytes -
					      before.heap_allocsz_bytes
				    : 0;
	s->st.bytes_used = s->st.index_bytes;
	s->st.bytes_limit = cfg->memory_limit;
	if (s->st.index_bytes >= cfg->memory_limit) {
		rte_hash_free(s->index);
		free(s);
		errno = EINVAL;
		return NULL;
	}
	return s;
}

static void lru_unlink(struct rc_store *s, struct rc_item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		s->lru_head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		s->lru_tail = it->prev;
	it->prev = it->next = NULL;
}

static void lru_push_head(struct rc_store *s, struct rc_item *it)
{
	it->prev = NULL;
	it->next = s->lru_head;
	if (s->lru_head)
		s->lru_head->prev = it;
	s->lru_head = it;
	if (!s->lru_tail)
		s->lru_tail = it;
}

/* Remove an item from index, list and memory. */
static void item_remove(struct rc_store *s, struct rc_item *it)
{
	rte_hash_del_key_with_hash(s->index, it->digest, sig_of(it->digest));
	lru_unlink(s, it);
	s->st.bytes_used -= sallocx(it, s->mflags);
	s->st.items--;
	dallocx(it, s->mflags);
}

void rc_store_destroy(struct rc_store *s)
{
	char cmd[64];

	if (!s)
		return;
	while (s->lru_head)
		item_remove(s, s->lru_head);
	rte_hash_free(s->index);
	snprintf(cmd, sizeof(cmd), "arena.%u.destroy", s->arena);
	mallctl(cmd, NULL, NULL, NULL, 0);
	free(s);
}

static inline int expired(const struct rc_item *it, uint32_t now)
{
	return it->expire != 0 && (int32_t)(now - it->expire) >= 0;
}

static inline uint32_t expiry_of(uint32_t ttl, uint32_t now)
{
	uint32_t e;

	if (ttl == 0)
		return 0;
	e = now + ttl;
	return e == 0 ? 1 : e; /* 0 is reserved for "never" */
}

/* Find a live item for key. Expired items are reclaimed on the way. */
static struct rc_item *lookup(struct rc_store *s, const void *digest,
			      const void *key, uint16_t key_len, uint32_t now)
{
	void *data;
	struct rc_item *it;

	if (rte_hash_lookup_with_hash_data(s->index, digest, sig_of(digest),
					   &data) < 0)
		return NULL;
	it = data;
	/* A digest collision is a miss, never another key's value. */
	if (it->key_len != key_len || memcmp(it->data, key, key_len) != 0)
		return NULL;
	if (expired(it, now)) {
		item_remove(s, it);
		s->st.expirations++;
		return NULL;
	}
	return it;
}

enum rc_store_result rc_store_get(struct rc_store *s, const void *digest,
				  const void *key, uint16_t key_len,
				  uint32_t now, struct rc_store_item_view *out)
{
	struct rc_item *it;

	s->st.gets++;
	it = lookup(s, digest, key, key_len, now);
	if (!it) {
		s->st.misses++;
		return RC_STORE_NOT_FOUND;
	}
	s->st.hits++;
	if (s->lru_head != it) {
		lru_unlink(s, it);
		lru_push_head(s, it);
	}
	out->value = it->data + it->key_len;
	out->value_len = it->value_len;
	out->client_flags = it->client_flags;
	out->cas = it->cas;
	out->class_id = it->class_id;
	return RC_STORE_OK;
}

/* Evict from the LRU tail until need more bytes and one more item fit. */
static int make_room(struct rc_store *s, size_t need, uint32_t now)
{
	while (s->st.bytes_used + need > s->cfg.memory_limit ||
	       s->st.items >= s->cfg.max_items) {
		struct rc_item *victim = s->lru_tail;

		if (!victim)
			return -1;
		if (expired(victim, now))
			s->st.expirations++;
		else
			s->st.evictions++;
		item_remove(s, victim);
	}
	return 0;
}

enum rc_store_result rc_store_set(struct rc_store *s, const void *digest,
				  const void *key, uint16_t key_len,
				  const void *value, uint32_t value_len,
				  uint32_t client_flags, uint32_t ttl,
				  uint64_t cas, uint8_t class_id, uint32_t now,
				  uint64_t *cas_out)
{
	struct rc_item *old, *it;
	size_t size, need;

	if (key_len == 0 || key_len > s->cfg.max_key_len ||
	    value_len > s->cfg.max_value_len)
		return RC_STORE_TOO_LARGE;
	if (class_id >= RC_STORE_MAX_CLASSES)
		return RC_STORE_BAD_CLASS;
	size = sizeof(*it) + key_len + value_len;
	need = nallocx(size, s->mflags);
	if (need == 0 || need > s->cfg.memory_limit - s->st.index_bytes)
		return RC_STORE_NO_MEMORY;

	old = lookup(s, digest, key, key_len, now);
	if (cas != 0) {
		if (!old)
			return RC_STORE_NOT_FOUND;
		if (old->cas != cas) {
			s->st.cas_mismatches++;
			return RC_STORE_EXISTS;
		}
	}
	s->st.sets++;
	/* Drop the old version first: it may be what eviction would pick,
	 * and its bytes count toward room for the new one. */
	if (old)
		item_remove(s, old);
	if (make_room(s, need, now) != 0)
		return RC_STORE_NO_MEMORY;
	it = mallocx(size, s->mflags);
	if (!it)
		return RC_STORE_NO_MEMORY;
	memcpy(it->digest, digest, RC_STORE_DIGEST_LEN);
	it->cas = s->next_cas++;
	it->expire = expiry_of(ttl, now);
	it->client_flags = client_flags;
	it->value_len = value_len;
	it->key_len = key_len;
	it->class_id = class_id;
	it->pad = 0;
	memcpy(it->data, key, key_len);
	if (value_len)
		memcpy(it->data + key_len, value, value_len);
	if (rte_hash_add_key_with_hash_data(s->index, it->digest,
					    sig_of(it->digest), it) < 0) {
		dallocx(it, s->mflags);
		return RC_STORE_NO_MEMORY;
	}
	lru_push_head(s, it);
	s->st.items++;
	s->st.bytes_used += sallocx(it, s->mflags);
	if (cas_out)
		*cas_out = it->cas;
	return RC_STORE_OK;
}

enum rc_store_result rc_store_delete(struct rc_store *s, const void *digest,
				     const void *key, uint16_t key_len,
				     uint64_t cas, uint32_t now)
{
	struct rc_item *it = lookup(s, digest, key, key_len, now);

	if (!it)
		return RC_STORE_NOT_FOUND;
	if (cas != 0 && it->cas != cas) {
		s->st.cas_mismatches++;
		return RC_STORE_EXISTS;
	}
	s->st.deletes++;
	item_remove(s, it);
	return RC_STORE_OK;
}

enum rc_store_result rc_store_touch(struct rc_store *s, const void *digest,
				    const void *key, uint16_t key_len,
				    uint32_t ttl, uint32_t now,
				    uint64_t *cas_out)
{
	struct rc_item *it = lookup(s, digest, key, key_len, now);

	if (!it)
		return RC_STORE_NOT_FOUND;
	s->st.touches++;
	it->expire = expiry_of(ttl, now);
	if (cas_out)
		*cas_out = it->cas;
	return RC_STORE_OK;
}

void rc_store_get_stats(const struct rc_store *s, struct rc_store_stats *st)
{
	*st = s->st;
}

const char *rc_store_result_name(enum rc_store_result r)
{
	switch (r) {
	case RC_STORE_OK:
		return "ok";
	case RC_STORE_NOT_FOUND:
		return "not_found";
	case RC_STORE_EXISTS:
		return "exists";
	case RC_STORE_TOO_LARGE:
		return "too_large";
	case RC_STORE_NO_MEMORY:
		return "no_memory";
	case RC_STORE_BAD_CLASS:
		return "bad_class";
	}
	return "unknown";
}
