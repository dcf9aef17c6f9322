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

static struct rc_store *mk(const char *name, size_t mem, uint32_t items)
{
	struct rc_store_config c = {.name = name, .socket_id = -1,
				    .memory_limit = mem, .max_items = items,
				    .max_key_len = 250, .max_value_len = 4096};

	return rc_store_create(&c);
}

static void dg(const char *key, struct rc_proto_digest *d)
{
	rc_proto_key_digest(key, strlen(key), d);
}

#define SET(s, k, v, ttl, cas, now) \
	rc_store_set(s, (dg(k, &d), &d), k, (uint16_t)strlen(k), v, \
		     (uint32_t)strlen(v), 0, ttl, cas, 0, now, &cas_out)
#define GET(s, k, now) \
	rc_store_get(s, (dg(k, &d), &d), k, (uint16_t)strlen(k), now, &v)

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
	CU_ASSERT_EQUAL(st.bytes_used, st.index_bytes);
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
	CU_ASSERT_EQUAL(rc_store_get(s, same, "bravo", 5, 1, &v), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(rc_store_set(s, same, "bravo", 5, "B", 1, 0, 0, 0, 0, 1, &cas_out), RC_STORE_OK);
	CU_ASSERT_EQUAL(rc_store_get(s, same, "bravo", 5, 1, &v), RC_STORE_OK);
	CU_ASSERT_EQUAL(v.value[0], 'B');
	CU_ASSERT_EQUAL(rc_store_get(s, same, "alpha", 5, 1, &v), RC_STORE_NOT_FOUND);
	rc_store_destroy(s);
}

static void test_full_evicts_lru(void)
{
	const size_t mem = 1 << 20;
	struct rc_store *s = mk("full", mem, 1 << 14);
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	static char val[1000];
	char k[32];
	uint64_t cas_out;

	memset(val, 'x', sizeof(val) - 1);
	CU_ASSERT_EQUAL(SET(s, "hot", "keep me", 0, 0, 1), RC_STORE_OK);
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "fill%d", i);
		CU_ASSERT_EQUAL_FATAL(SET(s, k, val, 0, 0, 1), RC_STORE_OK);
		CU_ASSERT_EQUAL(GET(s, "hot", 1), RC_STORE_OK); /* stays hot */
		rc_store_get_stats(s, &st);
		CU_ASSERT_FATAL(st.bytes_used <= mem);
	}
	rc_store_get_stats(s, &st);
	CU_ASSERT(st.evictions > 0);
	CU_ASSERT(st.bytes_used + 1100 > mem); /* full, not half empty */
	CU_ASSERT_EQUAL(GET(s, "fill0", 1), RC_STORE_NOT_FOUND);
	CU_ASSERT_EQUAL(GET(s, "fill2999", 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "hot", 1), RC_STORE_OK);
	/* An item bigger than the whole partition is refused, nothing lost. */
	{
		struct rc_store_config c = {.name = "small", .socket_id = -1,
					    .memory_limit = 128 << 10,
					    .max_items = 64, .max_key_len = 250,
					    .max_value_len = 1 << 20};
		struct rc_store *t = rc_store_create(&c);
		static char huge[200 << 10];

		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		CU_ASSERT_EQUAL(SET(t, "a", "small", 0, 0, 1), RC_STORE_OK);
		CU_ASSERT_EQUAL(rc_store_set(t, &d, "b", 1, huge, sizeof(huge),
					     0, 0, 0, 0, 1, &cas_out),
				RC_STORE_NO_MEMORY);
		CU_ASSERT_EQUAL(GET(t, "a", 1), RC_STORE_OK);
		rc_store_destroy(t);
	}
	rc_store_destroy(s);
}

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
	CU_ASSERT_EQUAL(st.items, 64);
	CU_ASSERT_EQUAL(GET(s, "c999", 1), RC_STORE_OK);
	CU_ASSERT_EQUAL(GET(s, "c0", 1), RC_STORE_NOT_FOUND);
	rc_store_destroy(s);
}

/* Random operations with a fixed seed; after every step the memory
 * invariant holds and any hit returns exactly the last value set. */
static void test_random_invariants(void)
{
	enum { KEYS = 2000, STEPS = 200000 };
	const size_t mem = 2 << 20;
	struct rc_store *s = mk("random", mem, 8192);
	static uint32_t version[KEYS]; /* 0 = absent */
	uint64_t seed = 12345;
	struct rc_proto_digest d;
	struct rc_store_item_view v;
	struct rc_store_stats st;
	static char val[2048];
	uint32_t now = 1;
	uint64_t cas_out;
	unsigned bad = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (int i = 0; i < STEPS; i++) {
		char k[16];
		unsigned key, op, len;
		size_t kl;

		seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
		key = (unsigned)(seed % KEYS);
		op = (unsigned)((seed >> 20) % 10);
		len = (unsigned)((seed >> 32) % 2000);
		kl = (size_t)snprintf(k, sizeof(k), "r%u", key);
		rc_proto_key_digest(k, kl, &d);
		if (i % 5000 == 0)
			now++;
		if (op < 5) {
			if (rc_store_get(s, &d, k, (uint16_t)kl, now, &v) == RC_STORE_OK) {
				uint32_t got;

				memcpy(&got, v.value, sizeof(got));
				if (!version[key] || got != version[key] ||
				    v.value_len != v.client_flags)
					bad++;
			}
		} else if (op < 9) {
			uint32_t ver = (uint32_t)i + 1;

			memcpy(val, &ver, sizeof(ver));
			len = len < 4 ? 4 : len;
			if (rc_store_set(s, &d, k, (uint16_t)kl, val, len, len,
					 op == 8 ? 1 : 0, 0, 0, now, &cas_out) == RC_STORE_OK)
				version[key] = ver;
		} else {
			rc_store_delete(s, &d, k, (uint16_t)kl, 0, now);
			version[key] = 0;
		}
		rc_store_get_stats(s, &st);
		if (st.bytes_used > mem || st.items > 8192) {
			CU_FAIL_FATAL("memory or item bound exceeded");
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	rc_store_get_stats(s, &st);
	CU_ASSERT(st.evictions > 0);
	CU_ASSERT(st.expirations > 0);
	rc_store_destroy(s);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"create errors", test_create_errors},
		{"basic ops", test_basic_ops},
		{"cas", test_cas},
		{"expiry and touch", test_expiry_and_touch},
		{"limits", test_limits},
		{"digest collision", test_digest_collision},
		{"full: evicts LRU", test_full_evicts_lru},
		{"item count bound", test_item_count_bound},
		{"random invariants", test_random_invariants},
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
