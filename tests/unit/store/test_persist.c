/* SPDX-License-Identifier: MIT
 * lib/store warm restart (persist.c): a round trip through a file keeps
 * keys, values, flags, classes and running TTLs, routes items to a
 * different number of stores, hands out CAS values no earlier CAS
 * matches; a corrupt, truncated or foreign file stores nothing and says
 * why. EAL runs with --no-huge. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc_cunit.h"
#include <rte_eal.h>

#include "rc_proto.h"
#include "rc_store.h"

#define N_ITEMS 3000
#define W0 1800000000ull          /* wall clock at the save */

static char path[PATH_MAX];

static void digest_fn(const void *key, size_t len, void *out)
{
	rc_proto_key_digest(key, len, out);
}

static struct rc_store *mk(const char *name, unsigned n_classes)
{
	struct rc_store_config c = {.name = name, .socket_id = -1,
				    .memory_limit = 32u << 20,
				    .max_items = 16384, .max_key_len = 250,
				    .max_value_len = 4096,
				    .segment_size = 64u << 10,
				    .n_classes = n_classes,
				    .digest = digest_fn};

	for (unsigned i = 0; i < n_classes; i++)
		c.classes[i].share_ppm = RC_STORE_PPM / n_classes;
	return rc_store_create(&c);
}

static unsigned route2(void *arg, const void *digest)
{
	(void)arg;
	return ((const uint8_t *)digest)[0] & 1;
}

static unsigned route1(void *arg, const void *digest)
{
	(void)arg;
	(void)digest;
	return 0;
}

/* Item i: key, value (0..2000 bytes of a pattern), flags, TTL, class. */
static void item(unsigned i, char *key, uint8_t *val, uint32_t *vlen,
		 uint32_t *flags, uint32_t *ttl, uint8_t *cls)
{
	sprintf(key, "wedding_%u:timeline", i);
	*vlen = (i * 37) % 2001;
	for (uint32_t k = 0; k < *vlen; k++)
		val[k] = (uint8_t)(i + k * 7);
	*flags = i % 3 ? 0 : 0xdead0000u | i;
	*ttl = i % 4 == 0 ? 0 : i % 4 == 1 ? 5 : 100 + i; /* 5: ends while down */
	*cls = (uint8_t)(i % 3);
}

static uint64_t old_cas[N_ITEMS];

/* A store of N_ITEMS saved to path at clock 1000, W0. */
static struct rc_store *filled_and_saved(void)
{
	struct rc_store *s = mk("persist_a", 3);
	struct rc_store_file_stats st;
	char key[64], err[256] = "";
	uint8_t val[2048], d[RC_STORE_DIGEST_LEN];
	uint32_t vlen, flags, ttl;
	uint8_t cls;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (unsigned i = 0; i < N_ITEMS; i++) {
		item(i, key, val, &vlen, &flags, &ttl, &cls);
		digest_fn(key, strlen(key), d);
		CU_ASSERT_EQUAL(rc_store_set(s, d, key, (uint16_t)strlen(key),
					     val, vlen, flags, ttl, 0, cls,
					     1000, &old_cas[i]),
				RC_STORE_OK);
	}
	CU_ASSERT_EQUAL(rc_store_save(&s, 1, path, 1000, W0, &st, err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.items, N_ITEMS);
	CU_ASSERT_TRUE(st.bytes > 0);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	return s;
}

static void test_round_trip(void)
{
	struct rc_store *a = filled_and_saved(), *b[2];
	struct rc_store_file_stats st;
	struct rc_store_item_view v;
	char key[64], err[256] = "";
	uint8_t val[2048], d[RC_STORE_DIGEST_LEN];
	uint32_t vlen, flags, ttl;
	uint64_t max_old = 0, cas;
	uint8_t cls;
	unsigned loaded = 0, expired = 0;

	rc_store_destroy(a);
	b[0] = mk("persist_b0", 3);
	b[1] = mk("persist_b1", 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b[0]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b[1]);
	/* Ten seconds later, on a new clock that starts at 1, into two
	 * stores instead of one. */
	CU_ASSERT_EQUAL_FATAL(rc_store_load(b, 2, 3, route2, NULL, digest_fn,
					    path, 1, W0 + 10, &st, err,
					    sizeof(err)), 0);
	for (unsigned i = 0; i < N_ITEMS; i++)
		max_old = old_cas[i] > max_old ? old_cas[i] : max_old;
	for (unsigned i = 0; i < N_ITEMS; i++) {
		struct rc_store *s;

		item(i, key, val, &vlen, &flags, &ttl, &cls);
		digest_fn(key, strlen(key), d);
		s = b[route2(NULL, d)];
		if (ttl == 5) {
			expired++;
			CU_ASSERT_EQUAL(rc_store_get(s, d, key,
						     (uint16_t)strlen(key),
						     RC_STORE_NO_CLASS, 1, &v),
					RC_STORE_NOT_FOUND);
			continue;
		}
		loaded++;
		if (rc_store_get(s, d, key, (uint16_t)strlen(key),
				 RC_STORE_NO_CLASS, 1, &v) != RC_STORE_OK) {
			CU_FAIL("an item was lost");
			continue;
		}
		CU_ASSERT_EQUAL(v.value_len, vlen);
		CU_ASSERT_EQUAL(memcmp(v.value, val, vlen), 0);
		CU_ASSERT_EQUAL(v.client_flags, flags);
		CU_ASSERT_EQUAL(v.class_id, cls);
		/* New CAS values, above every old one: an old CAS never
		 * matches, and a conditional write with it is refused. */
		CU_ASSERT_TRUE(v.cas > max_old);
		CU_ASSERT_EQUAL(rc_store_set(s, d, key, (uint16_t)strlen(key),
					     "x", 1, 0, 0, old_cas[i], cls, 1,
					     &cas), RC_STORE_EXISTS);
		if (ttl) {
			/* The TTL kept running while down: 10 s less. */
			uint32_t left = ttl - 10;

			CU_ASSERT_EQUAL(rc_store_get(s, d, key,
						     (uint16_t)strlen(key),
						     RC_STORE_NO_CLASS,
						     1 + left - 1, &v),
					RC_STORE_OK);
			CU_ASSERT_EQUAL(rc_store_get(s, d, key,
						     (uint16_t)strlen(key),
						     RC_STORE_NO_CLASS,
						     1 + left, &v),
					RC_STORE_NOT_FOUND);
		}
	}
	CU_ASSERT_EQUAL(st.items, loaded);
	CU_ASSERT_EQUAL(st.expired, expired);
	CU_ASSERT_EQUAL(st.refused, 0);
	rc_store_destroy(b[0]);
	rc_store_destroy(b[1]);
}

static uint64_t items_of(struct rc_store *s)
{
	struct rc_store_stats st;

	rc_store_get_stats(s, &st);
	return st.items;
}

/* Load path into a fresh store: the return code; *left its items. */
static int load_fresh(unsigned n_classes, uint64_t *left, char *err,
		      size_t errlen)
{
	struct rc_store *s = mk("persist_c", 3);
	struct rc_store_file_stats st;
	int rc;

	rc = rc_store_load(&s, 1, n_classes, route1, NULL, digest_fn, path,
			   1, W0, &st, err, errlen);
	*left = items_of(s);
	rc_store_destroy(s);
	return rc;
}

static long file_size(void)
{
	FILE *f = fopen(path, "rb");
	long n;

	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

static void flip(long at)
{
	FILE *f = fopen(path, "r+b");
	int c;

	fseek(f, at, SEEK_SET);
	c = fgetc(f);
	fseek(f, at, SEEK_SET);
	fputc(c ^ 0x40, f);
	fclose(f);
}

static void test_refused(void)
{
	char err[256];
	uint64_t left;
	long size;

	rc_store_destroy(filled_and_saved());
	size = file_size();
	/* A good file loads (the control for what follows). */
	CU_ASSERT_EQUAL(load_fresh(3, &left, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(left > 0);
	/* A value byte flipped in the middle: only the checksum sees it. */
	flip(size / 2);
	err[0] = '\0';
	CU_ASSERT_EQUAL(load_fresh(3, &left, err, sizeof(err)), -EBADMSG);
	CU_ASSERT_EQUAL(left, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "corrupt"));
	printf(" [%s]", err);
	flip(size / 2);
	CU_ASSERT_EQUAL(load_fresh(3, &left, err, sizeof(err)), 0);
	/* Cut anywhere: short by a byte, at half, after the header. */
	for (long cut = size - 1; cut >= 40; cut = cut == size - 1 ? size / 2
					     : cut == size / 2 ? 40 : 0) {
		rc_store_destroy(filled_and_saved());
		CU_ASSERT_EQUAL_FATAL(truncate(path, cut), 0);
		err[0] = '\0';
		CU_ASSERT_EQUAL(load_fresh(3, &left, err, sizeof(err)),
				-EBADMSG);
		CU_ASSERT_EQUAL(left, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
		printf(" [%s]", err);
	}
	/* Classes the store does not have. */
	rc_store_destroy(filled_and_saved());
	CU_ASSERT_EQUAL(load_fresh(2, &left, err, sizeof(err)), -ERANGE);
	CU_ASSERT_EQUAL(left, 0);
	printf(" [%s]", err);
	/* Not a store file; no file. */
	CU_ASSERT_EQUAL_FATAL(truncate(path, 0), 0);
	CU_ASSERT_EQUAL(load_fresh(3, &left, err, sizeof(err)), -EINVAL);
	printf(" [%s]", err);
	unlink(path);
	CU_ASSERT_EQUAL(load_fresh(3, &left, err, sizeof(err)), -EIO);
	printf(" [%s]", err);
}

static void test_save_errors(void)
{
	struct rc_store *s = mk("persist_d", 1);
	struct rc_store_file_stats st;
	char err[256] = "";

	CU_ASSERT_EQUAL(rc_store_save(&s, 1, "/nonexistent-dir/x", 1, W0, &st,
				      err, sizeof(err)), -EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent-dir/x.tmp"));
	/* An empty store saves and loads as empty. */
	CU_ASSERT_EQUAL(rc_store_save(&s, 1, path, 1, W0, &st, err,
				      sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.items, 0);
	CU_ASSERT_EQUAL(rc_store_load(&s, 1, 1, route1, NULL, digest_fn, path,
				      1, W0, &st, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.items, 0);
	rc_store_destroy(s);
	unlink(path);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"round trip: values, flags, classes, TTLs, new CAS",
		 test_round_trip},
		{"corrupt, truncated, foreign files store nothing",
		 test_refused},
		{"save errors; empty store", test_save_errors},
		{NULL, NULL},
	};
	char prefix[64], rundir[PATH_MAX];
	char *eal[] = {"test_persist", "--no-huge", "--no-pci", "--no-shconf",
		       "--no-telemetry", "-m", "256", "-l", "0", "--log-level",
		       "lib.eal:error", "--file-prefix", prefix, NULL};
	unsigned fails;

	snprintf(prefix, sizeof(prefix), "rcsp%d", (int)getpid());
	snprintf(path, sizeof(path), "/tmp/rc_persist_test.%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 2;
	}
	fails = (unsigned)rc_test_run("store-persist", cases);
	unlink(path);
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (rmdir(rundir) != 0)
		perror(rundir);
	return fails ? 1 : 0;
}
