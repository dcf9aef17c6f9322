/* SPDX-License-Identifier: MIT
 * lib/store: every operation and edge (expired, replaced, CAS mismatch,
 * full, limits), plus a seeded random run checking the memory invariant
 * and value integrity after every step. EAL runs with --no-huge. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rc_cunit.h"
#include <rte_eal.h>

#include "rc_proto.h"
#include "rc_store.h"

static void digest_fn(const void *key, size_t len, void *out)
{
	rc_proto_key_digest(key, len, out);
}

/* One class owning everything, 1 MiB... 16 KiB segments as asked. */
static struct rc_store_config cfg_of(const char *name, size_t mem,
				     uint32_t items, uint32_t seg)
{
	struct rc_store_config c = {.name = name, .socket_id = -1,
				    .memory_limit = mem, .max_items = items,
				    .max_key_len = 250, .max_value_len = 4096,
				    .segment_size = seg, .n_classes = 1,
				    .digest = digest_fn};

	c.classes[0].share_ppm = RC_STORE_PPM;
	return c;
}

static struct rc_store *mk(const char *name, size_t mem, uint32_t items)
{
	struct rc_store_config c = cfg_of(name, mem, items, 16 << 10);

	return rc_store_create(&c);
}

static void dg(const char *key, struct rc_proto_digest *d)
{
	rc_proto_key_digest(key, strlen(key), d);
}

#define SETC(s, k, v, vl, ttl, cls, now) \
	rc_store_set(s, (dg(k, &d), &d), k, (uint16_t)strlen(k), v, vl, 0, \
		     ttl, 0, cls, now, &cas_out)
#define SET(s, k, v, ttl, cas, now) \
	rc_store_set(s, (dg(k, &d), &d), k, (uint16_t)strlen(k), v, \
		     (uint32_t)strlen(v), 0, ttl, cas, 0, now, &cas_out)
#define GET(s, k, now) \
	rc_store_get(s, (dg(k, &d), &d), k, (uint16_t)strlen(k), \
		     RC_STORE_NO_CLASS, now, &v)

static struct rc_store_class_stats cstat(struct rc_store *s, uint8_t c)
{
	struct rc_store_class_stats st;

	CU_ASSERT_EQUAL(rc_store_get_class_stats(s, c, &st), 0);
	return st;
}

/* Run upkeep until it has nothing left to do (bounded). */
static unsigned drain(struct rc_store *s, uint32_t now)
{
	unsigned calls = 0;

	while (calls < 100000 && rc_store_maintain(s, now, 256) != 0)
		calls++;
	return calls;
}

static void test_create_errors(void)
{
	struct rc_store *a, *b;

	errno = 0;
	CU_ASSERT_PTR_NULL(mk(NULL, 1 << 20, 1024));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(mk("tiny", 4096, 1 << 16)); /* index > limit */
	CU_ASSERT_EQUAL(errno, EINVAL);
	a = mk("dup", 1 << 20, 1024);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	b = mk("dup", 1 << 20, 1024);
	CU_ASSERT_PTR_NULL(b);
	CU_ASSERT_EQUAL(errno, EEXIST);
	rc_store_destroy(a);
	rc_store_destroy(NULL);
	{
		struct rc_store_config c = cfg_of("bad", 1 << 20, 1024, 20000);

		errno = 0;
		CU_ASSERT_PTR_NULL(rc_store_create(&c)); /* not a power of 2 */
		CU_ASSERT_EQUAL(errno, EINVAL);
		c = cfg_of("bad", 1 << 20, 1024, 16 << 10);
		c.n_classes = 2;
		c.classes[1].share_ppm = 1; /* 100% + 1 ppm */
		CU_ASSERT_PTR_NULL(rc_store_create(&c));
		c = cfg_of("bad", 1 << 20, 1024, 16 << 10);
		c.digest = NULL;
		CU_ASSERT_PTR_NULL(rc_store_create(&c));
		c = cfg_of("bad", 1 << 20, 1024, 4 << 10); /* < minimum */
		CU_ASSERT_PTR_NULL(rc_store_create(&c));
		c = cfg_of("bad", 1 << 20, 1024, 16 << 10);
		c.max_value_len = 16 << 10; /* an item must fit a segment */
		CU_ASSERT_PTR_NULL(rc_store_create(&c));
	}
}

static void test_basic_ops(void)
{
	struct rc_store *s = mk("basic", 1 << 20, 1024);
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	uint64_t cas_out = 0, c1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	rc_store_get_stats(s, &st);
	CU_ASSERT(st.index_bytes > 0);
	CU_ASSERT_EQUAL(st.bytes_used, st.index_bytes);
	CU_ASSERT_EQUAL(GET(s, "a", 1), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(SET(s, "a", "one", 0, 0, 1), RC_STORE_OK);
	c1 = cas_out;
	CU_ASSERT_EQUAL(GET(s, "a", 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.value_len, 3);
	CU_ASSERT_EQUAL(memcmp(v.value, "one", 3), 0);
	CU_ASSERT_EQUAL(v.cas, c1);
	CU_ASSERT_EQUAL(SET(s, "a", "two!", 0, 0, 1), RC_STORE_OK);
	CU_ASSERT_NOT_EQUAL(cas_out, c1);
	CU_ASSERT_EQUAL(GET(s, "a", 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.value_len, 4);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(st.items, 1);
	CU_ASSERT_EQUAL(rc_store_delete(s, &d, "a", 1, 0, 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_delete(s, &d, "a", 1, 0, 1), RC_STORE_NOT_FOUND);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(st.items, 0);
	/* The open segment stays, empty, for the next write. */
	CU_ASSERT_EQUAL(st.bytes_used, st.index_bytes + (16 << 10));
	CU_ASSERT_EQUAL(st.segments, 1);
	CU_ASSERT_EQUAL(st.hits, 2);
	CU_ASSERT_EQUAL(st.misses, 1);
	rc_store_destroy(s);
}

static void test_cas(void)
{
	struct rc_store *s = mk("cas", 1 << 20, 1024);
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	uint64_t cas_out = 0, c1;
	struct rc_store_stats st;

	CU_ASSERT_EQUAL(SET(s, "k", "v", 0, 5, 1), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(SET(s, "k", "v", 0, 0, 1), RC_STORE_OK);
	c1 = cas_out;
	CU_ASSERT_EQUAL(SET(s, "k", "w", 0, c1 + 1, 1), RC_STORE_EXISTS);
	CU_ASSERT_EQUAL(GET(s, "k", 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(memcmp(v.value, "v", 1), 0); /* untouched */
	CU_ASSERT_EQUAL(SET(s, "k", "w", 0, c1, 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_delete(s, &d, "k", 1, c1, 1), RC_STORE_EXISTS);
	CU_ASSERT_EQUAL(rc_store_delete(s, &d, "k", 1, cas_out, 1), RC_STORE_OK);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(st.cas_mismatches, 2);
	rc_store_destroy(s);
}

static void test_expiry_and_touch(void)
{
	struct rc_store *s = mk("ttl", 1 << 20, 1024);
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	uint64_t cas_out;

	CU_ASSERT_EQUAL(SET(s, "t", "x", 5, 0, 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "t", 104), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "t", 105), RC_STORE_NOT_FOUND);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(st.expirations, 1);
	CU_ASSERT_EQUAL(st.items, 0); /* reclaimed on access */
	/* Expired items cannot be touched, deleted or CAS-replaced. */
	CU_ASSERT_EQUAL(SET(s, "t", "x", 5, 0, 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_touch(s, &d, "t", 1, 10, 200, NULL), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(SET(s, "u", "y", 5, 0, 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_touch(s, &d, "u", 1, 100, 104, &cas_out), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "u", 200), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "u", 204), RC_STORE_NOT_FOUND);
	/* TTL 0 never expires, even when the clock wraps far ahead. */
	CU_ASSERT_EQUAL(SET(s, "f", "z", 0, 0, 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "f", 2000000000u), RC_STORE_OK);
	rc_store_destroy(s);
}

/* Serve-stale: reads within the grace get the expired item marked stale;
 * writes, touches and deletes see it gone; the sweep waits the grace
 * out; grace 0 restores plain expiry. */
static void test_serve_stale(void)
{
	struct rc_store *s = mk("stale", 1 << 20, 1024);
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	uint64_t cas_out;

	rc_store_set_stale_grace(s, 60);
	CU_ASSERT_EQUAL(SET(s, "a", "old", 5, 0, 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(SET(s, "b", "old", 5, 0, 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(SET(s, "c", "old", 5, 0, 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "a", 104), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.stale, 0);
	CU_ASSERT_EQUAL(GET(s, "a", 105), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.stale, 1);
	CU_ASSERT_EQUAL(v.value_len, 3);
	CU_ASSERT_EQUAL(memcmp(v.value, "old", 3), 0);
	CU_ASSERT_EQUAL(GET(s, "a", 164), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.stale, 1);
	/* The upkeep sweep leaves items within the grace. */
	drain(s, 150);
	CU_ASSERT_EQUAL(GET(s, "b", 150), RC_STORE_OK);
	/* Past the grace: gone. */
	CU_ASSERT_EQUAL(GET(s, "a", 165), RC_STORE_NOT_FOUND);
	/* A CAS write or a touch treats a stale item as absent. */
	CU_ASSERT_EQUAL(rc_store_touch(s, (dg("b", &d), &d), "b", 1, 10, 120,
				       NULL), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(GET(s, "b", 121), RC_STORE_NOT_FOUND);
	/* A plain write replaces it with a fresh, not stale, one. */
	CU_ASSERT_EQUAL(SET(s, "c", "new", 5, 0, 120), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "c", 121), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.stale, 0);
	CU_ASSERT_EQUAL(memcmp(v.value, "new", 3), 0);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(st.stale_hits, 3); /* a twice, b once */
	/* Grace off: expired means gone again. */
	rc_store_set_stale_grace(s, 0);
	CU_ASSERT_EQUAL(GET(s, "c", 126), RC_STORE_NOT_FOUND);
	rc_store_destroy(s);
}

static bool starts_with_x(void *arg, const uint8_t *key, uint16_t len,
			  uint8_t cls)
{
	(void)arg;
	(void)cls;
	return len > 0 && key[0] == 'x';
}

/* Flush: by predicate, in slices, every match gone, the rest intact. */
static void test_flush(void)
{
	struct rc_store *s = mk("flush", 4 << 20, 4096);
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	uint64_t cas_out, removed = 0;
	uint32_t cursor = 0;
	unsigned calls = 0;
	char k[16];

	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "%c%d", i % 2 ? 'x' : 'y', i);
		CU_ASSERT_EQUAL_FATAL(SET(s, k, "v", 0, 0, 1), RC_STORE_OK);
	}
	while (rc_store_flush(s, &cursor, 64, starts_with_x, NULL, &removed))
		calls++;
	CU_ASSERT_TRUE(calls >= 15); /* sliced, not one long pause */
	CU_ASSERT_EQUAL(removed, 500);
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "%c%d", i % 2 ? 'x' : 'y', i);
		CU_ASSERT_EQUAL(GET(s, k, 2), i % 2 ? RC_STORE_NOT_FOUND
						    : RC_STORE_OK);
	}
	cursor = 0;
	removed = 0;
	while (rc_store_flush(s, &cursor, 1000, NULL, NULL, &removed))
		;
	CU_ASSERT_EQUAL(removed, 500);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(st.items, 0);
	CU_ASSERT_EQUAL(st.flushed, 1000);
	drain(s, 3);
	rc_store_destroy(s);
}

/* The mirror a standby would build: snapshot items and the writes made
 * during the pass, replayed in the order they happened. */
static bool snap_copy(void *arg, const struct rc_store_snap_item *it)
{
	struct rc_store *m = arg;
	struct rc_proto_digest d;
	uint64_t cas_out;

	rc_proto_key_digest(it->key, it->key_len, &d);
	CU_ASSERT_EQUAL(rc_store_set(m, &d, it->key, it->key_len, it->value,
				     it->value_len, it->client_flags,
				     it->ttl_left, 0, it->class_id, 1,
				     &cas_out), RC_STORE_OK);
	return true;
}

static unsigned snap_refuse_left;
static bool snap_refuse(void *arg, const struct rc_store_snap_item *it)
{
	if (snap_refuse_left == 0)
		return false;
	snap_refuse_left--;
	return snap_copy(arg, it);
}

static void snapshot_with_writes(size_t mem, unsigned keys, unsigned rounds)
{
	struct rc_store *s = mk("snap", mem, keys);
	struct rc_store *m = mk("snap_mirror", 16 << 20, 1u << 16);
	struct rc_store_cursor cur = {0};
	struct rc_proto_digest d;
	struct rc_store_item_view v, mv;
	uint64_t cas_out;
	unsigned slices = 0, live = 0;
	char k[32], val[160];
	uint32_t x = 12345;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (unsigned i = 0; i < keys; i++) {
		snprintf(k, sizeof(k), "key%u", i);
		snprintf(val, sizeof(val), "first-%u-%0100d", i, 0);
		SET(s, k, val, 0, 0, 1);
	}
	/* A pass of small slices; between them, writes of every kind,
	 * each copied to the mirror as a replicated record would be. */
	while (rc_store_snapshot(s, &cur, 37, 1, snap_copy, m)) {
		for (unsigned j = 0; j < rounds; j++) {
			x = x * 1103515245u + 12345u;
			snprintf(k, sizeof(k), "key%u", (x >> 8) % (keys + keys / 4));
			if ((x >> 4) % 5 == 0) {
				dg(k, &d);
				rc_store_delete(s, &d, k, (uint16_t)strlen(k), 0, 1);
				rc_store_delete(m, &d, k, (uint16_t)strlen(k), 0, 1);
			} else {
				snprintf(val, sizeof(val), "w%u-%u", slices, j);
				if (SET(s, k, val, 0, 0, 1) == RC_STORE_OK)
					SET(m, k, val, 0, 0, 1);
			}
		}
		rc_store_maintain(s, 1, 64);
		slices++;
	}
	CU_ASSERT_TRUE(slices > 10);
	CU_ASSERT_TRUE(cur.items > 0);
	/* Every item live at the end is in the mirror, with its value. */
	for (unsigned i = 0; i < keys + keys / 4; i++) {
		snprintf(k, sizeof(k), "key%u", i);
		if (GET(s, k, 1) != RC_STORE_OK)
			continue;
		live++;
		mv = v;
		{
			struct rc_store_item_view sv = v;
			uint8_t copy[160];

			memcpy(copy, sv.value, sv.value_len);
			CU_ASSERT_EQUAL_FATAL(rc_store_get(m, &d, k,
							   (uint16_t)strlen(k),
							   RC_STORE_NO_CLASS, 1,
							   &mv),
					      RC_STORE_OK);
			CU_ASSERT_EQUAL(mv.value_len, sv.value_len);
			CU_ASSERT_EQUAL(memcmp(mv.value, copy, sv.value_len), 0);
		}
	}
	CU_ASSERT_TRUE(live > 0);
	if (mem < (size_t)keys * 100) {
		struct rc_store_stats st;

		rc_store_get_stats(s, &st);
		CU_ASSERT_TRUE(st.evictions + st.reinserted > 0);
	}
	rc_store_destroy(s);
	rc_store_destroy(m);
}

static void test_snapshot(void)
{
	struct rc_store *s = mk("snap_basic", 4 << 20, 4096);
	struct rc_store *m = mk("snap_basic_m", 4 << 20, 4096);
	struct rc_store_cursor cur = {0};
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	uint64_t cas_out;
	char k[16];
	int more;

	for (int i = 0; i < 300; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		SET(s, k, "value", i % 3 ? 0 : 100, 0, 1);
	}
	dg("k5", &d);
	rc_store_delete(s, &d, "k5", 2, 0, 1);
	/* A full output offers the same item again: nothing is skipped. */
	snap_refuse_left = 10;
	CU_ASSERT_EQUAL(rc_store_snapshot(s, &cur, 1000, 1, snap_refuse, m), 1);
	CU_ASSERT_EQUAL(cur.items, 10);
	do
		more = rc_store_snapshot(s, &cur, 50, 1, snap_copy, m);
	while (more);
	CU_ASSERT_EQUAL(cur.items, 299); /* deleted and expired are not */
	CU_ASSERT_EQUAL(GET(m, "k5", 1), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(GET(m, "k7", 1), RC_STORE_OK);
	/* TTLs travel as what is left of them. */
	CU_ASSERT_EQUAL(GET(m, "k3", 100), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(m, "k3", 101), RC_STORE_NOT_FOUND);
	rc_store_destroy(s);
	rc_store_destroy(m);
}

static void test_snapshot_concurrent(void)
{
	snapshot_with_writes(8 << 20, 2000, 5);
}

static void test_snapshot_compaction(void)
{
	/* Too small for everything: eviction compacts segments (moving
	 * items) while the pass walks them. */
	snapshot_with_writes(4 << 20, 40000, 20);
}

static void test_limits(void)
{
	struct rc_store *s = mk("limits", 1 << 20, 1024);
	struct rc_proto_digest d;
	static char big[8192];
	char key[300];
	uint64_t cas_out;

	memset(key, 'k', sizeof(key));
	memset(big, 'v', sizeof(big));
	dg("x", &d);
	CU_ASSERT_EQUAL(rc_store_set(s, &d, key, 250, big, 4096, 0, 0, 0, 0, 1, &cas_out), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_set(s, &d, key, 251, big, 10, 0, 0, 0, 0, 1, &cas_out), RC_STORE_TOO_LARGE);
	CU_ASSERT_EQUAL(rc_store_set(s, &d, key, 10, big, 4097, 0, 0, 0, 0, 1, &cas_out), RC_STORE_TOO_LARGE);
	CU_ASSERT_EQUAL(rc_store_set(s, &d, key, 0, big, 1, 0, 0, 0, 0, 1, &cas_out), RC_STORE_TOO_LARGE);
	CU_ASSERT_EQUAL(rc_store_set(s, &d, key, 10, big, 1, 0, 0, 0, RC_STORE_MAX_CLASSES, 1, &cas_out), RC_STORE_BAD_CLASS);
	CU_ASSERT_EQUAL(rc_store_set(s, &d, key, 10, big, 1, 0, 0, 0, 1, 1, &cas_out), RC_STORE_BAD_CLASS); /* only class 0 */
	rc_store_destroy(s);
}

/* A digest collision must never return another key's value. */
static void test_digest_collision(void)
{
	struct rc_store *s = mk("coll", 1 << 20, 1024);
	struct rc_store_item_view v;
	uint8_t same[16] = {1, 2, 3, 4};
	uint64_t cas_out;

	CU_ASSERT_EQUAL(rc_store_set(s, same, "alpha", 5, "A", 1, 0, 0, 0, 0, 1, &cas_out), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_get(s, same, "bravo", 5, RC_STORE_NO_CLASS, 1, &v), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(rc_store_set(s, same, "bravo", 5, "B", 1, 0, 0, 0, 0, 1, &cas_out), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_get(s, same, "bravo", 5, RC_STORE_NO_CLASS, 1, &v), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.value[0], 'B');
	CU_ASSERT_EQUAL(rc_store_get(s, same, "alpha", 5, RC_STORE_NO_CLASS, 1, &v), RC_STORE_NOT_FOUND);
	rc_store_destroy(s);
}

#define SEG (16u << 10)
/* Key of 5 bytes and a value making the item exactly half a segment. */
#define HALF_VAL ((SEG - 8u) / 2u - 8u - 5u)

/* Classes with these shares (percent), 16 KiB segments, and a memory limit
 * of exactly the index plus n_segs segments. */
static struct rc_store *mk_classes(const char *name, unsigned n,
				   const unsigned pct[], unsigned prot_mask,
				   bool borrow, unsigned n_segs,
				   enum rc_store_policy pol)
{
	struct rc_store_config c = cfg_of(name, 64 << 20, 4096, SEG);
	struct rc_store_stats st;
	struct rc_store *s;

	c.n_classes = n;
	for (unsigned i = 0; i < n; i++) {
		c.classes[i].share_ppm = pct[i] * 10000u;
		c.classes[i].protect = (prot_mask >> i) & 1u;
	}
	c.borrowing = borrow;
	c.policy = pol;
	c.max_value_len = 8192;
	s = rc_store_create(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL_FATAL(rc_store_set_memory(s, st.index_bytes +
						     (size_t)n_segs * SEG), 0);
	return s;
}

/* Write items [from, to) of exactly half a segment into class c. */
static void fill_half(struct rc_store *s, char tag, int from, int to,
		      uint8_t c)
{
	static char val[HALF_VAL];
	struct rc_proto_digest d;
	uint64_t cas_out;
	char k[16];

	CU_ASSERT_EQUAL(rc_store_item_size(5, HALF_VAL, 0), (SEG - 8) / 2);
	for (int i = from; i < to; i++) {
		snprintf(k, sizeof(k), "%c%04d", tag, i);
		CU_ASSERT_EQUAL_FATAL(SETC(s, k, val, HALF_VAL, 0, c, 1),
				      RC_STORE_OK);
	}
}

static int present(struct rc_store *s, char tag, int i)
{
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	char k[16];

	snprintf(k, sizeof(k), "%c%04d", tag, i);
	return GET(s, k, 1) == RC_STORE_OK;
}

static void test_quota_edges(void)
{
	const unsigned pct[] = {50, 50};
	struct rc_store *s = mk_classes("edges", 2, pct, 0, false, 10,
					RC_STORE_CLOCK);
	struct rc_store_class_stats a, b;
	struct rc_proto_digest d;
	uint64_t cas_out;

	/* Class 0's budget is 5 segments: 10 half-segment items fill it
	 * exactly, with nothing evicted. */
	fill_half(s, 'a', 0, 10, 0);
	a = cstat(s, 0);
	CU_ASSERT_EQUAL(a.items, 10);
	CU_ASSERT_EQUAL(a.segments, 5);
	CU_ASSERT_EQUAL(a.evictions, 0);
	CU_ASSERT(a.used_bytes <= a.budget_bytes);
	CU_ASSERT(a.used_bytes + SEG > a.budget_bytes); /* no room left */
	/* One byte more: the class evicts its oldest segment (two items
	 * never read), inside its own budget; class 1 is not touched. */
	CU_ASSERT_EQUAL(SETC(s, "a0010", "x", 1, 0, 0, 1), RC_STORE_OK);
	a = cstat(s, 0);
	b = cstat(s, 1);
	CU_ASSERT_EQUAL(a.evictions, 2);
	CU_ASSERT_EQUAL(a.segments, 5);
	CU_ASSERT_EQUAL(a.items, 9);
	CU_ASSERT(a.used_bytes <= a.budget_bytes);
	CU_ASSERT_EQUAL(b.segments, 0);
	CU_ASSERT_FALSE(present(s, 'a', 0));
	CU_ASSERT_FALSE(present(s, 'a', 1));
	CU_ASSERT_TRUE(present(s, 'a', 2));
	CU_ASSERT_TRUE(present(s, 'a', 10));
	rc_store_destroy(s);
}

static void test_quota_shrink(void)
{
	const unsigned pct[] = {50, 50};
	struct rc_store *s = mk_classes("shrink", 2, pct, 0, false, 10,
					RC_STORE_CLOCK);
	struct rc_store_class_stats a, b;
	struct rc_store_stats st;

	fill_half(s, 'a', 0, 10, 0);
	fill_half(s, 'b', 0, 4, 1);
	CU_ASSERT_EQUAL(cstat(s, 0).segments, 5);
	/* Shares may not add up to more than 100%. */
	CU_ASSERT_EQUAL(rc_store_set_share(s, 1, 600000), -EINVAL);
	CU_ASSERT_EQUAL(rc_store_set_share(s, 7, 100000), -EINVAL);
	/* 50% -> 20%: class 0 gives segments back, gradually, in upkeep;
	 * class 1 keeps everything. */
	CU_ASSERT_EQUAL(rc_store_set_share(s, 0, 200000), 0);
	CU_ASSERT(drain(s, 1) > 0);
	a = cstat(s, 0);
	b = cstat(s, 1);
	CU_ASSERT_EQUAL(a.segments, 2);
	CU_ASSERT(a.used_bytes <= a.budget_bytes);
	CU_ASSERT_EQUAL(b.items, 4);
	CU_ASSERT_TRUE(present(s, 'a', 9)); /* the newest survive */
	CU_ASSERT_FALSE(present(s, 'a', 0));
	/* The whole partition shrinks to 6 segments: budgets 1 and 3. */
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(rc_store_set_memory(s, st.index_bytes + 6 * SEG), 0);
	CU_ASSERT_EQUAL(rc_store_set_memory(s, st.index_bytes), -EINVAL);
	drain(s, 1);
	rc_store_get_stats(s, &st);
	CU_ASSERT(st.bytes_used <= st.bytes_limit);
	CU_ASSERT_EQUAL(cstat(s, 0).segments, 1);
	CU_ASSERT_EQUAL(cstat(s, 1).segments, 2);
	CU_ASSERT_EQUAL(cstat(s, 1).items, 4);
	rc_store_destroy(s);
}

static void test_borrowing(void)
{
	const unsigned pct[] = {50, 50};
	struct rc_store *s = mk_classes("noborrow", 2, pct, 0, false, 10,
					RC_STORE_CLOCK);
	struct rc_store_stats st;

	/* Off: class 0 stays within 5 segments though class 1 is idle. */
	for (int i = 0; i < 30; i++) {
		fill_half(s, 'a', i, i + 1, 0);
		CU_ASSERT_FATAL(cstat(s, 0).segments <= 5);
	}
	CU_ASSERT_EQUAL(cstat(s, 0).items, 10);
	rc_store_get_stats(s, &st);
	CU_ASSERT_EQUAL(st.bytes_used, st.index_bytes + 5 * SEG);
	rc_store_destroy(s);

	/* On: class 0 grows into the idle half, never past the total... */
	s = mk_classes("borrow", 2, pct, 0, true, 10, RC_STORE_CLOCK);
	for (int i = 0; i < 30; i++) {
		fill_half(s, 'a', i, i + 1, 0);
		rc_store_get_stats(s, &st);
		CU_ASSERT_FATAL(st.bytes_used <= st.bytes_limit);
	}
	CU_ASSERT_EQUAL(cstat(s, 0).segments, 10);
	CU_ASSERT_EQUAL(cstat(s, 0).items, 20);
	/* ...and gives it back segment by segment when class 1 writes. */
	fill_half(s, 'b', 0, 10, 1);
	CU_ASSERT_EQUAL(cstat(s, 1).segments, 5);
	CU_ASSERT_EQUAL(cstat(s, 1).items, 10);
	CU_ASSERT_EQUAL(cstat(s, 0).segments, 5);
	CU_ASSERT_EQUAL(cstat(s, 0).items, 10);
	CU_ASSERT_TRUE(present(s, 'a', 29));
	rc_store_get_stats(s, &st);
	CU_ASSERT(st.bytes_used <= st.bytes_limit);
	rc_store_destroy(s);
}

static void test_protected(void)
{
	const unsigned pct[] = {40, 40, 20};
	struct rc_store *s = mk_classes("protect", 3, pct, 1u, true, 10,
					RC_STORE_CLOCK);

	/* Budgets 4, 4, 2 segments; 0 (protected) and 1 each borrow one of
	 * class 2's idle segments. */
	fill_half(s, 'p', 0, 10, 0);
	fill_half(s, 'x', 0, 10, 1);
	CU_ASSERT_EQUAL(cstat(s, 0).segments, 5);
	CU_ASSERT_EQUAL(cstat(s, 1).segments, 5);
	/* Class 2 wants its memory: the unprotected borrower pays first... */
	fill_half(s, 'l', 0, 2, 2);
	CU_ASSERT_EQUAL(cstat(s, 1).segments, 4);
	CU_ASSERT_EQUAL(cstat(s, 0).segments, 5);
	CU_ASSERT_EQUAL(cstat(s, 0).evictions, 0);
	/* ...the protected one only when no one else is over budget. */
	fill_half(s, 'l', 2, 4, 2);
	CU_ASSERT_EQUAL(cstat(s, 0).segments, 4);
	CU_ASSERT_EQUAL(cstat(s, 1).segments, 4);
	CU_ASSERT_EQUAL(cstat(s, 2).segments, 2);
	CU_ASSERT_EQUAL(cstat(s, 2).items, 4);
	rc_store_destroy(s);
}

/* Segments leave in the order they were written; under CLOCK an item
 * read since it was written survives, under FIFO it does not. */
static void test_eviction_order(void)
{
	const unsigned pct[] = {100};

	for (int pol = 0; pol < 2; pol++) {
		struct rc_store *s = mk_classes(pol ? "fifo" : "clock", 1, pct,
						0, false, 8,
						pol ? RC_STORE_FIFO
						    : RC_STORE_CLOCK);
		struct rc_proto_digest d;
		struct rc_store_item_view v;
		static char val[1000];
		uint64_t cas_out;
		int first = -1, holes = 0;
		char k[16];

		CU_ASSERT_EQUAL(SET(s, "hot", "keep me", 0, 0, 1),
				RC_STORE_OK);
		for (int i = 0; i < 400; i++) {
			snprintf(k, sizeof(k), "f%04d", i);
			CU_ASSERT_EQUAL_FATAL(SETC(s, k, val, sizeof(val), 0,
						   0, 1), RC_STORE_OK);
			GET(s, "hot", 1);
		}
		CU_ASSERT(cstat(s, 0).evictions > 0);
		/* What survives is a suffix of the writes. */
		for (int i = 0; i < 400; i++) {
			int p = present(s, 'f', i);

			if (p && first < 0)
				first = i;
			if (!p && first >= 0)
				holes++;
		}
		CU_ASSERT(first > 0);
		CU_ASSERT_EQUAL(holes, 0);
		CU_ASSERT_EQUAL(GET(s, "hot", 1),
				pol ? RC_STORE_NOT_FOUND : RC_STORE_OK);
		CU_ASSERT_EQUAL(cstat(s, 0).reinserted > 0, pol == 0);
		rc_store_destroy(s);
	}
}

/* Expired items go without being touched, in bounded slices of work. */
static void test_expiry_reclaim(void)
{
	struct rc_store *s = mk("reclaim", 4 << 20, 4096);
	struct rc_store_class_stats c;
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	static char val[100];
	uint64_t cas_out;
	unsigned calls;
	char k[16];

	for (int i = 0; i < 500; i++) {
		snprintf(k, sizeof(k), "e%04d", i);
		CU_ASSERT_EQUAL_FATAL(SETC(s, k, val, sizeof(val), 2, 0, 100),
				      RC_STORE_OK);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "n%04d", i);
		CU_ASSERT_EQUAL_FATAL(SETC(s, k, val, sizeof(val), 0, 0, 100),
				      RC_STORE_OK);
	}
	CU_ASSERT(cstat(s, 0).segments >= 4);
	drain(s, 101); /* a second before expiry: nothing goes */
	CU_ASSERT_EQUAL(cstat(s, 0).expirations, 0);
	CU_ASSERT_EQUAL(cstat(s, 0).items, 510);
	calls = drain(s, 102);
	c = cstat(s, 0);
	CU_ASSERT_EQUAL(c.expirations, 500);
	CU_ASSERT_EQUAL(c.items, 10);
	CU_ASSERT_EQUAL(c.live_bytes, 10 * rc_store_item_size(5, 100, 0));
	CU_ASSERT(c.segments <= 2); /* the two open ones, emptied or not */
	/* 500 items in slices of 256: a few calls (the worker makes
	 * 20,000 a second), not one long pause. */
	CU_ASSERT(calls >= 2 && calls <= 8);
	CU_ASSERT_EQUAL(GET(s, "n0003", 102), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "e0003", 102), RC_STORE_NOT_FOUND);
	rc_store_destroy(s);
}

static void test_bulk_get(void)
{
	struct rc_store *s = mk("bulk", 1 << 20, 1024);
	struct rc_proto_digest d, ds[RC_STORE_BULK];
	const void *dp[RC_STORE_BULK], *kp[RC_STORE_BULK];
	char keys[RC_STORE_BULK][16];
	uint16_t kl[RC_STORE_BULK];
	struct rc_store_item_view out[RC_STORE_BULK];
	enum rc_store_result res[RC_STORE_BULK];
	uint64_t cas_out;

	for (unsigned i = 0; i < RC_STORE_BULK; i++) {
		snprintf(keys[i], sizeof(keys[i]), "b%u", i);
		if (i % 2 == 0)
			SET(s, keys[i], keys[i], 0, 0, 1);
		rc_proto_key_digest(keys[i], strlen(keys[i]), &ds[i]);
		dp[i] = &ds[i];
		kp[i] = keys[i];
		kl[i] = (uint16_t)strlen(keys[i]);
	}
	rc_store_get_bulk(s, RC_STORE_BULK, dp, kp, kl, 1, out, res);
	for (unsigned i = 0; i < RC_STORE_BULK; i++) {
		CU_ASSERT_EQUAL(res[i], i % 2 ? RC_STORE_NOT_FOUND
					      : RC_STORE_OK);
		if (res[i] == RC_STORE_OK)
			CU_ASSERT(out[i].value_len == kl[i] &&
				  !memcmp(out[i].value, keys[i], kl[i]));
	}
	(void)d;
	rc_store_destroy(s);
}

/* A full index makes the class free its oldest segment. */
static void test_item_count_bound(void)
{
	struct rc_store *s = mk("count", 4 << 20, 64);
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	char k[32];
	uint64_t cas_out;

	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "c%d", i);
		CU_ASSERT_EQUAL_FATAL(SET(s, k, "v", 0, 0, 1), RC_STORE_OK);
		rc_store_get_stats(s, &st);
		CU_ASSERT_FATAL(st.items <= 64);
	}
	CU_ASSERT(st.index_full > 0);
	CU_ASSERT(st.evictions > 0);
	CU_ASSERT_EQUAL(st.items + st.evictions, 1000);
	CU_ASSERT_EQUAL(GET(s, "c999", 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "c0", 1), RC_STORE_NOT_FOUND);
	rc_store_destroy(s);
}

/* The index, not the memory, is what fills: a cuckoo table can refuse a
 * key while below its capacity, and freeing one segment of large items
 * need not free a slot in that key's buckets. A cache must still take
 * the write (evicting as much as it must), never answer NO_MEMORY. */
static void test_index_full_large_items(void)
{
	static const uint32_t share[] = {400000, 250000, 200000, 100000,
					 50000};
	static const uint32_t vsz[] = {200, 700, 1000, 1900};
	static const uint32_t segsz[] = {16 << 10, 64 << 10};
	static const uint32_t nidx[] = {512, 4096};
	static char val[2000];
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	char k[32], name[32];
	uint64_t cas_out;
	unsigned failed = 0, runs = 0;

	memset(val, 'x', sizeof(val));
	for (unsigned a = 0; a < 4; a++)
	for (unsigned b = 0; b < 2; b++)
	for (unsigned e = 0; e < 2; e++) {
		/* Memory for about twice the items the index holds. */
		size_t mem = (size_t)nidx[e] * (vsz[a] + 48) / 2;
		struct rc_store_config c;
		struct rc_store *s;

		if (mem < 8 * (size_t)segsz[b])
			mem = 8 * (size_t)segsz[b];
		snprintf(name, sizeof(name), "ixf%u%u%u", a, b, e);
		c = cfg_of(name, mem, nidx[e], segsz[b]);
		c.n_classes = 5;
		c.borrowing = true;
		c.memory_cap = mem * 8;
		for (unsigned i = 0; i < 5; i++)
			c.classes[i].share_ppm = share[i];
		s = rc_store_create(&c);
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		runs++;
		for (uint32_t i = 0; i < nidx[e] * 8; i++) {
			int r;

			snprintf(k, sizeof(k), "ix%u", i);
			if (i % (nidx[e] / 2) == 0 && i <= nidx[e] * 4)
				rc_store_set_memory(s, mem + mem * i / nidx[e]);
			rc_store_maintain(s, 1, 64);
			r = SETC(s, k, val, vsz[a], 0, 4, 1);
			if (r != RC_STORE_OK) {
				fprintf(stderr, "\n  %s: set #%u -> %d", name, i, r);
				failed++;
				break;
			}
			if (i % 3 == 0)
				CU_ASSERT_EQUAL_FATAL(GET(s, k, 1), RC_STORE_OK);
		}
		rc_store_get_stats(s, &st);
		CU_ASSERT(st.items <= nidx[e]);
		rc_store_destroy(s);
	}
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT_EQUAL(runs, 16);
}

/* Random operations with a fixed seed over three classes, with upkeep,
 * TTLs and a share changed at runtime. After every step: the partition
 * holds no more than its limit, each class (borrowing off) no more than
 * its budget, and any hit returns exactly the last value set. */
static void random_run(bool borrow)
{
	enum { KEYS = 3000, STEPS = 200000 };
	const unsigned pct[] = {50, 30, 20};
	struct rc_store *s = mk_classes(borrow ? "rnd_b" : "rnd", 3, pct, 1u,
					borrow, 24, RC_STORE_CLOCK);
	static uint32_t version[KEYS]; /* 0 = absent */
	uint64_t seed = 12345;
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	static char val[2048];
	uint32_t now = 1;
	uint64_t cas_out;
	unsigned bad = 0, over = 0;

	memset(version, 0, sizeof(version));
	for (int i = 0; i < STEPS; i++) {
		char k[16];
		unsigned key, op, len;
		size_t kl;

		seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
		key = (unsigned)(seed % KEYS);
		op = (unsigned)((seed >> 20) % 20);
		len = (unsigned)((seed >> 32) % 2000);
		kl = (size_t)snprintf(k, sizeof(k), "r%u", key);
		rc_proto_key_digest(k, kl, &d);
		if (i % 1000 == 0)
			now++;
		if (i % 25000 == 0) {
			/* Class 2 between 20% and 10%, applied by upkeep. */
			rc_store_set_share(s, 2, (i / 25000) % 2 ? 100000
								 : 200000);
			drain(s, now);
		}
		if (op < 9) {
			if (rc_store_get(s, &d, k, (uint16_t)kl, key % 3, now,
					 &v) == RC_STORE_OK) {
				uint32_t got;

				memcpy(&got, v.value, sizeof(got));
				if (!version[key] || got != version[key] ||
				    v.value_len != v.client_flags ||
				    v.class_id != key % 3)
					bad++;
			}
		} else if (op < 16) {
			uint32_t ver = (uint32_t)i + 1;

			memcpy(val, &ver, sizeof(ver));
			len = len < 4 ? 4 : len;
			if (rc_store_set(s, &d, k, (uint16_t)kl, val, len, len,
					 op == 15 ? 1 + key % 5 : 0, 0,
					 (uint8_t)(key % 3), now,
					 &cas_out) == RC_STORE_OK)
				version[key] = ver;
		} else if (op == 16) {
			rc_store_delete(s, &d, k, (uint16_t)kl, 0, now);
			version[key] = 0;
		} else if (op == 17) {
			rc_store_touch(s, &d, k, (uint16_t)kl, key % 4, now,
				       NULL);
		} else {
			rc_store_maintain(s, now, 64);
		}
		rc_store_get_stats(s, &st);
		if (st.bytes_used > st.bytes_limit || st.items > 4096)
			CU_FAIL_FATAL("memory or item bound exceeded");
		for (uint8_t c = 0; !borrow && c < 3; c++) {
			struct rc_store_class_stats cs = cstat(s, c);

			if (cs.used_bytes > cs.budget_bytes)
				over++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(over, 0);
	rc_store_get_stats(s, &st);
	CU_ASSERT(st.evictions > 0);
	CU_ASSERT(st.expirations > 0);
	CU_ASSERT(st.reinserted > 0);
	rc_store_destroy(s);
}

static void test_random_no_borrow(void)
{
	random_run(false);
}

static void test_random_borrow(void)
{
	random_run(true);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"create errors", test_create_errors},
		{"basic ops", test_basic_ops},
		{"cas", test_cas},
		{"expiry and touch", test_expiry_and_touch},
		{"limits", test_limits},
		{"serve stale within the grace", test_serve_stale},
		{"flush by predicate, sliced", test_flush},
		{"snapshot: every live item, retried when refused", test_snapshot},
		{"snapshot with writes between slices", test_snapshot_concurrent},
		{"snapshot while compaction moves items", test_snapshot_compaction},
		{"digest collision", test_digest_collision},
		{"eviction: FIFO order, CLOCK keeps read items",
		 test_eviction_order},
		{"quota: exactly full, one byte over", test_quota_edges},
		{"quota: budget shrunk at runtime", test_quota_shrink},
		{"quota: borrowing off and on", test_borrowing},
		{"quota: protected class gives back last", test_protected},
		{"expiry: reclaimed without access", test_expiry_reclaim},
		{"bulk get", test_bulk_get},
		{"item count bound", test_item_count_bound},
		{"index full with large items: every write taken",
		 test_index_full_large_items},
		{"random invariants, borrowing off", test_random_no_borrow},
		{"random invariants, borrowing on", test_random_borrow},
		{NULL, NULL},
	};
	char prefix[64], rundir[PATH_MAX];
	char *eal[] = {"test_store", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
		       "-m", "256", "-l", "0", "--log-level", "lib.eal:error",
		       "--file-prefix", prefix, NULL};
	unsigned fails;

	snprintf(prefix, sizeof(prefix), "rcst%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 2;
	}
	fails = (unsigned)rc_test_run("store", cases);
	/* EAL leaves an empty runtime dir even with --no-shconf: remove it. */
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (rmdir(rundir) != 0)
		perror(rundir);
	return fails ? 1 : 0;
}
