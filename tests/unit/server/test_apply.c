/* SPDX-License-Identifier: MIT
 * lib/server's apply side (rc_partition_apply_turn) on a real store: the
 * worker's loop reduced to its order (the apply turn, then requests
 * unless it says to hold them). Issue 18 M6: a standby promoted with
 * records or a running CLEAR still to apply took requests at once, so an
 * older record overwrote a newer write, or the CLEAR removed it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rc_cunit.h"
#include <rte_eal.h>

#include "rc_proto.h"
#include "rc_server.h"

#define OLD_ITEMS 20000u   /* the copy before the resync: many slices */
#define NEW_ITEMS 3000u    /* the resync's copy, after its CLEAR */
#define CLIENT_WRITES 2000u

static struct rc_classes classes = {.n = 1};
static struct rc_partition_stats pst;
static struct rc_partition part;
static struct rc_apply ap;
static struct rc_repl_log alog;

static void digest_fn(const void *key, size_t len, void *out)
{
	rc_proto_key_digest(key, len, out);
}

static void setup(const char *name)
{
	struct rc_store_config c = {.name = name, .socket_id = -1,
				    .memory_limit = 64u << 20,
				    .max_items = 65536, .max_key_len = 250,
				    .max_value_len = 4096,
				    .segment_size = 64u << 10, .n_classes = 1,
				    .digest = digest_fn};

	c.classes[0].share_ppm = RC_STORE_PPM;
	memset(&pst, 0, sizeof(pst));
	memset(&part, 0, sizeof(part));
	memset(&ap, 0, sizeof(ap));
	part.partitions = 1;
	part.max_key = 250;
	part.max_value = 4096;
	part.classes = &classes;
	part.st = &pst;
	part.ttl_pct = 100;
	part.role = RC_REPL_STANDBY;
	part.store = rc_store_create(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(part.store);
	CU_ASSERT_EQUAL_FATAL(rc_repl_log_init(&alog, 8u << 20), 0);
	ap.log = &alog;
	ap.clear_work = 1024; /* the daemon's RCD_CMD_WORK */
}

static void teardown(void)
{
	rc_store_destroy(part.store);
	rc_repl_log_free(&alog);
}

static void put_rec(uint8_t type, const char *key, const char *val)
{
	struct rc_repl_rec r = {.type = type, .key = (const uint8_t *)key,
				.key_len = (uint16_t)strlen(key),
				.value = (const uint8_t *)val,
				.value_len = val ? (uint32_t)strlen(val) : 0};
	uint32_t sz = rc_repl_rec_size(r.key_len, r.value_len);
	uint8_t *q = rc_repl_log_reserve(&alog, sz);

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	rc_repl_rec_encode(q, &r);
	rc_repl_log_commit(&alog, sz);
}

/* A client's write, as the worker runs it (the control core's SET
 * command: the same rules as a request's). @return its status. */
static uint8_t client_set(const char *key, const char *val)
{
	struct rc_cmd_rec rec = {.key = (const uint8_t *)key,
				 .key_len = (uint16_t)strlen(key),
				 .value = (const uint8_t *)val,
				 .value_len = (uint32_t)strlen(val),
				 .class_id = RC_PROTO_CLASS_AUTO};
	struct rc_cmd c = {.type = RC_CMD_SET, .n = 1, .rec = &rec};

	rc_partition_cmd_rec(&part, &c, &rec, 1);
	return rec.status;
}

/* @return 1 and the value in out if key is stored, else 0. */
static int get(const char *key, char *out, size_t cap)
{
	struct rc_proto_digest d;
	struct rc_store_item_view v;

	rc_proto_key_digest(key, strlen(key), &d);
	if (rc_store_get(part.store, &d, key, (uint16_t)strlen(key),
			 RC_STORE_NO_CLASS, 1, &v) != RC_STORE_OK)
		return 0;
	snprintf(out, cap, "%.*s", (int)v.value_len, (const char *)v.value);
	return 1;
}

static void key_of(char *b, size_t n, const char *pfx, unsigned i)
{
	snprintf(b, n, "%s%05u", pfx, i);
}

/* M6: promoted in the middle of a full resync. The partition holds an
 * older copy (OLD_ITEMS); its log holds the resync: a CLEAR, then the new
 * copy, some of whose keys clients write again once this node is
 * primary. Every client write must stand, and nothing of the old copy
 * the new one lacks. */
static void promoted_mid_resync(unsigned new_items)
{
	char k[32], v[64], got[64];
	unsigned turns = 0, held_turns = 0, next = 0;

	setup(new_items ? "m6" : "m6-clear");
	for (unsigned i = 0; i < OLD_ITEMS; i++) {
		struct rc_repl_rec r;

		key_of(k, sizeof(k), "old", i);
		r = (struct rc_repl_rec){.type = RC_REPL_SET,
					 .key = (const uint8_t *)k,
					 .key_len = (uint16_t)strlen(k),
					 .value = (const uint8_t *)"x",
					 .value_len = 1};
		rc_partition_apply(&part, &r, 1);
	}
	put_rec(RC_REPL_CLEAR, "", NULL);
	for (unsigned i = 0; i < new_items; i++) {
		key_of(k, sizeof(k), "new", i);
		put_rec(RC_REPL_SET, k, "from-primary");
	}
	/* The primary is gone; this node is promoted before its worker has
	 * applied any of it. Client writes queue up: new keys, and keys of
	 * the copy written again. */
	part.role = RC_REPL_PRIMARY;
	while (next < CLIENT_WRITES && turns < 100000) {
		unsigned applied;

		turns++;
		if (rc_partition_apply_turn(&part, &ap, 1, 256, &applied)) {
			held_turns++;
			continue; /* requests wait in the queue */
		}
		/* One request a turn: the queue drains over many turns. */
		if (next % 2)
			key_of(k, sizeof(k), "new", next % NEW_ITEMS);
		else
			key_of(k, sizeof(k), "cli", next);
		snprintf(v, sizeof(v), "client-%u", next);
		CU_ASSERT_EQUAL(client_set(k, v), RC_ST_OK);
		next++;
	}
	CU_ASSERT_EQUAL_FATAL(next, CLIENT_WRITES);
	CU_ASSERT_TRUE(held_turns > 0); /* the CLEAR took several slices */
	CU_ASSERT_EQUAL(rc_repl_log_used(&alog), 0);
	CU_ASSERT_FALSE(ap.clearing);
	CU_ASSERT_EQUAL(ap.applied, 1 + new_items);
	for (unsigned i = 0; i < CLIENT_WRITES; i++) {
		if (i % 2)
			key_of(k, sizeof(k), "new", i % NEW_ITEMS);
		else
			key_of(k, sizeof(k), "cli", i);
		snprintf(v, sizeof(v), "client-%u", i);
		if (!get(k, got, sizeof(got)) || strcmp(got, v) != 0) {
			printf("\n  client write %u (%s) lost: %s\n", i, k,
			       get(k, got, sizeof(got)) ? got : "absent");
			CU_FAIL("a client write after the promotion is lost");
			break;
		}
	}
	for (unsigned i = 0; i < OLD_ITEMS; i++) {
		key_of(k, sizeof(k), "old", i);
		if (get(k, got, sizeof(got))) {
			CU_FAIL("an item of the copy before the resync remains");
			break;
		}
	}
	CU_ASSERT_EQUAL(pst.repl_apply_failed, 0);
	teardown();
}

static void test_promoted_mid_resync(void)
{
	promoted_mid_resync(NEW_ITEMS);
	/* The primary died right after the CLEAR: nothing follows it in
	 * the log, and the CLEAR still runs when requests come. */
	promoted_mid_resync(0);
}

/* A standby answers reads while it applies (no hold) and applies at
 * most its budget a turn; it takes no write. */
static void test_standby_never_holds(void)
{
	char k[32];
	unsigned applied, turns = 0;

	setup("standby");
	for (unsigned i = 0; i < 1000; i++) {
		key_of(k, sizeof(k), "s", i);
		put_rec(RC_REPL_SET, k, "v");
	}
	while (rc_repl_log_used(&alog) && turns < 100) {
		CU_ASSERT_FALSE(rc_partition_apply_turn(&part, &ap, 1, 256,
							&applied));
		CU_ASSERT_TRUE(applied <= 256);
		turns++;
	}
	CU_ASSERT_EQUAL(turns, 4);
	CU_ASSERT_EQUAL(ap.applied, 1000);
	CU_ASSERT_EQUAL(client_set("s00001", "w"), RC_ST_NOT_PRIMARY);
	/* Without a log (not in a pair), nothing to do, nothing held. */
	ap.log = NULL;
	part.role = RC_REPL_PRIMARY;
	CU_ASSERT_FALSE(rc_partition_apply_turn(&part, &ap, 1, 256, &applied));
	CU_ASSERT_EQUAL(applied, 0);
	teardown();
}

/* A record the store refuses (an unknown class) is counted and
 * consumed, and does not stop the ones after it. */
static void test_refused_records_counted(void)
{
	unsigned applied;
	char got[16];
	struct rc_repl_rec r = {.type = RC_REPL_SET, .class_id = 7,
				.key = (const uint8_t *)"bad", .key_len = 3,
				.value = (const uint8_t *)"v", .value_len = 1};
	uint32_t sz = rc_repl_rec_size(3, 1);
	uint8_t *q;

	setup("refused");
	q = rc_repl_log_reserve(&alog, sz);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	rc_repl_rec_encode(q, &r);
	rc_repl_log_commit(&alog, sz);
	put_rec(RC_REPL_SET, "good", "yes");
	rc_partition_apply_turn(&part, &ap, 1, 256, &applied);
	CU_ASSERT_EQUAL(applied, 2);
	CU_ASSERT_EQUAL(pst.repl_apply_failed, 1);
	CU_ASSERT_EQUAL(pst.repl_applied, 2);
	CU_ASSERT_TRUE(get("good", got, sizeof(got)));
	CU_ASSERT_FALSE(get("bad", got, sizeof(got)));
	teardown();
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"M6: promoted mid-resync, no client write lost",
		 test_promoted_mid_resync},
		{"a standby never holds requests", test_standby_never_holds},
		{"refused records are counted", test_refused_records_counted},
		{NULL, NULL},
	};
	char prefix[64], rundir[PATH_MAX];
	char *eal[] = {"test_apply", "--no-huge", "--no-pci", "--no-shconf",
		       "--no-telemetry", "-m", "256", "-l", "0",
		       "--log-level", "lib.eal:error", "--file-prefix", prefix,
		       NULL};
	int fails;

	snprintf(prefix, sizeof(prefix), "rcap%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 2;
	}
	fails = rc_test_run("apply", cases);
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	return fails ? 1 : 0;
}
