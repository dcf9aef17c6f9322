/* SPDX-License-Identifier: MIT
 * Integration tests: a real ringcached (started by run.sh on a DPDK
 * virtual device in a network namespace) driven over real UDP by
 * libringcache and by raw sockets for malformed input.
 *
 * Environment: RC_SERVER=ip:port, RC_STATS=path of the daemon's stats
 * file, RC_MAX_KEY / RC_MAX_VALUE = the daemon's configured limits. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rc_cunit.h"

#include "rc_proto.h"
#include "ringcache.h"

static rc_client *cl;
static const char *server, *stats_path;
static size_t max_key, max_value;
static long long workers = 1;

/* Read one counter from the daemon's stats file; -1 if absent. */
static long long stat_get(const char *name)
{
	char line[256], n[200];
	long long v, found = -1;
	FILE *f = fopen(stats_path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%199s %lld", n, &v) == 2 && !strcmp(n, name))
			found = v;
	fclose(f);
	return found;
}

/* The control core rewrites the file every 50 ms in tests. */
static void stats_settle(void)
{
	usleep(400 * 1000);
}

static void test_ping(void)
{
	CU_ASSERT_EQUAL(rc_ping(cl, 0), RC_OK);
}

static void test_set_get_delete(void)
{
	char buf[64];
	size_t vl = 0;
	struct rc_item_meta m;
	struct rc_set_opts o = {.flags = 0xdeadbeef, .class_id = 2};
	uint64_t cas = 0;

	CU_ASSERT_EQUAL(rc_set(cl, "it:k1", 5, "value-1", 7, &o, &cas), RC_OK);
	CU_ASSERT_NOT_EQUAL(cas, 0);
	CU_ASSERT_EQUAL(rc_get(cl, "it:k1", 5, buf, sizeof(buf), &vl, &m), RC_OK);
	CU_ASSERT_EQUAL(vl, 7);
	CU_ASSERT_NSTRING_EQUAL(buf, "value-1", 7);
	CU_ASSERT_EQUAL(m.flags, 0xdeadbeef);
	CU_ASSERT_EQUAL(m.cas, cas);
	CU_ASSERT_EQUAL(m.class_id, 2);
	/* Replace, then the new value is what comes back. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:k1", 5, "v2", 2, NULL, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_get(cl, "it:k1", 5, buf, sizeof(buf), &vl, NULL), RC_OK);
	CU_ASSERT_EQUAL(vl, 2);
	CU_ASSERT_NSTRING_EQUAL(buf, "v2", 2);
	/* Empty value is a value. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:empty", 8, NULL, 0, NULL, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_get(cl, "it:empty", 8, buf, sizeof(buf), &vl, NULL), RC_OK);
	CU_ASSERT_EQUAL(vl, 0);
	/* Truncation: buffer smaller than value. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:long", 7, "0123456789", 10, NULL, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_get(cl, "it:long", 7, buf, 4, &vl, NULL), RC_ETRUNCATED);
	CU_ASSERT_EQUAL(vl, 10);
	CU_ASSERT_NSTRING_EQUAL(buf, "0123", 4);

	CU_ASSERT_EQUAL(rc_delete(cl, "it:k1", 5, 0), RC_OK);
	CU_ASSERT_EQUAL(rc_get(cl, "it:k1", 5, buf, sizeof(buf), &vl, NULL), RC_ENOTFOUND);
	CU_ASSERT_EQUAL(rc_delete(cl, "it:k1", 5, 0), RC_ENOTFOUND);
	CU_ASSERT_EQUAL(rc_get(cl, "it:never", 8, buf, sizeof(buf), &vl, NULL), RC_ENOTFOUND);
}

static void test_cas(void)
{
	uint64_t c1 = 0, c2 = 0;
	struct rc_set_opts o = {.class_id = RC_CLASS_AUTO};

	CU_ASSERT_EQUAL(rc_set(cl, "it:cas", 6, "a", 1, NULL, &c1), RC_OK);
	o.cas = c1 + 1000;
	CU_ASSERT_EQUAL(rc_set(cl, "it:cas", 6, "b", 1, &o, NULL), RC_EEXISTS);
	o.cas = c1;
	CU_ASSERT_EQUAL(rc_set(cl, "it:cas", 6, "c", 1, &o, &c2), RC_OK);
	CU_ASSERT_NOT_EQUAL(c1, c2);
	/* The old version no longer matches. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:cas", 6, "d", 1, &o, NULL), RC_EEXISTS);
	CU_ASSERT_EQUAL(rc_delete(cl, "it:cas", 6, c1), RC_EEXISTS);
	CU_ASSERT_EQUAL(rc_delete(cl, "it:cas", 6, c2), RC_OK);
	/* Conditional set of an absent key. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:cas", 6, "e", 1, &o, NULL), RC_ENOTFOUND);
}

static void test_ttl_and_touch(void)
{
	struct rc_set_opts o = {.ttl = 1, .class_id = RC_CLASS_AUTO};
	char buf[8];
	size_t vl;

	CU_ASSERT_EQUAL(rc_set(cl, "it:ttl", 6, "x", 1, &o, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_set(cl, "it:touched", 10, "y", 1, &o, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_set(cl, "it:forever", 10, "z", 1, NULL, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_get(cl, "it:ttl", 6, buf, sizeof(buf), &vl, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_touch(cl, "it:touched", 10, 600), RC_OK);
	CU_ASSERT_EQUAL(rc_touch(cl, "it:absent", 9, 600), RC_ENOTFOUND);
	sleep(2);
	CU_ASSERT_EQUAL(rc_get(cl, "it:ttl", 6, buf, sizeof(buf), &vl, NULL), RC_ENOTFOUND);
	CU_ASSERT_EQUAL(rc_get(cl, "it:touched", 10, buf, sizeof(buf), &vl, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_get(cl, "it:forever", 10, buf, sizeof(buf), &vl, NULL), RC_OK);
}

static void test_mget(void)
{
	enum { N = 100, ABSENT = 10 };
	static struct rc_mget_item it[N + ABSENT];
	static char keys[N + ABSENT][32], vals[N + ABSENT][256];
	char v[200];

	/* 100 x 200-byte values cannot share one reply: exercises the
	 * overflow path as well as batching. */
	for (int i = 0; i < N + ABSENT; i++) {
		size_t kl = (size_t)snprintf(keys[i], sizeof(keys[i]), "it:m%d", i);

		if (i < N) {
			memset(v, 'a' + i % 26, sizeof(v));
			CU_ASSERT_EQUAL_FATAL(rc_set(cl, keys[i], kl, v, sizeof(v),
						     NULL, NULL), RC_OK);
		} else {
			kl = (size_t)snprintf(keys[i], sizeof(keys[i]), "it:nope%d", i);
		}
		it[i].key = keys[i];
		it[i].key_len = kl;
		it[i].buf = vals[i];
		it[i].cap = sizeof(vals[i]);
	}
	CU_ASSERT_EQUAL(rc_mget(cl, it, N + ABSENT), RC_OK);
	for (int i = 0; i < N + ABSENT; i++) {
		if (i < N) {
			CU_ASSERT_EQUAL(it[i].status, RC_OK);
			CU_ASSERT_EQUAL(it[i].value_len, 200);
			CU_ASSERT_EQUAL(vals[i][0], 'a' + i % 26);
			CU_ASSERT_EQUAL(vals[i][199], 'a' + i % 26);
		} else {
			CU_ASSERT_EQUAL(it[i].status, RC_ENOTFOUND);
		}
	}
}

/* Requests without a class get one from the config's prefix rules; a
 * class given explicitly wins; per-class counters say where items went. */
static void test_classes(void)
{
	struct rc_set_opts o = {.class_id = RC_CLASS_AUTO};
	long long wd0, pt0, sc0;

	stats_settle();
	wd0 = stat_get("class_wedding_data_sets");
	pt0 = stat_get("class_photo_thumbnails_sets");
	sc0 = stat_get("class_system_cache_sets");
	CU_ASSERT_EQUAL(rc_set(cl, "wedding_4711", 12, "w", 1, &o, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_set(cl, "thumb_4711", 10, "t", 1, &o, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_set(cl, "other_4711", 10, "o", 1, &o, NULL), RC_OK);
	o.class_id = 3; /* explicit: photo_thumbnails, whatever the key */
	CU_ASSERT_EQUAL(rc_set(cl, "wedding_4712", 12, "x", 1, &o, NULL), RC_OK);
	stats_settle();
	CU_ASSERT_EQUAL(stat_get("class_wedding_data_sets") - wd0, 1);
	CU_ASSERT_EQUAL(stat_get("class_photo_thumbnails_sets") - pt0, 2);
	CU_ASSERT_EQUAL(stat_get("class_system_cache_sets") - sc0, 1);
	CU_ASSERT(stat_get("class_wedding_data_budget_bytes") > 0);
}

static void test_limits(void)
{
	static char big[2048], key[300];
	long long before = stat_get("status_TOO_LARGE");

	memset(big, 'B', sizeof(big));
	memset(key, 'K', sizeof(key));
	/* At the limits: accepted. */
	CU_ASSERT_EQUAL(rc_set(cl, key, max_key, big, max_value, NULL, NULL), RC_OK);
	/* One over, answered by the server with TOO_LARGE. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:big", 6, big, max_value + 1, NULL, NULL),
			RC_ETOOLARGE);
	if (max_key < RC_MAX_KEY)
		CU_ASSERT_EQUAL(rc_get(cl, key, max_key + 1, big, 16, NULL, NULL),
				RC_ETOOLARGE);
	/* Over the protocol's own limits: refused before sending. */
	CU_ASSERT_EQUAL(rc_get(cl, key, RC_MAX_KEY + 1, big, 16, NULL, NULL),
			RC_ETOOLARGE);
	CU_ASSERT_EQUAL(rc_set(cl, "it:huge", 7, big, sizeof(big), NULL, NULL),
			RC_ETOOLARGE);
	/* Unknown data class. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:cls", 6, "x", 1,
			       &(struct rc_set_opts){.class_id = 15}, NULL),
			RC_EUNKNOWNCLASS);
	stats_settle();
	CU_ASSERT_EQUAL(stat_get("status_TOO_LARGE") - before,
			max_key < RC_MAX_KEY ? 2 : 1);
}

static int raw_send(const void *buf, size_t len, int port_delta)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strchr(server, ':');
	int fd = socket(AF_INET, SOCK_DGRAM, 0), r;

	snprintf(host, sizeof(host), "%.*s",
		 (int)(colon ? colon - server : (long)strlen(server)), server);
	inet_pton(AF_INET, host, &a.sin_addr);
	a.sin_port = htons((uint16_t)((colon ? atoi(colon + 1) : 7711) + port_delta));
	r = (int)sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return r;
}

static size_t frame(uint8_t *b, uint16_t n_ops, uint8_t version, uint8_t flags)
{
	struct rc_proto_hdr h = {.version = version, .flags = flags,
				 .request_id = 7, .n_ops = n_ops, .seg_count = 1};

	rc_proto_hdr_encode(b, &h);
	return RC_PROTO_HDR_LEN;
}

static void test_garbage(void)
{
	static const char *reasons[] = {
		"drop_short_header", "drop_bad_magic", "drop_bad_version",
		"drop_no_ops", "drop_too_many_ops", "drop_truncated_op",
		"drop_bad_opcode", "drop_trailing_bytes", "drop_bad_flags",
		"drop_bad_segment", "drop_udp_port",
	};
	long long before[sizeof(reasons) / sizeof(reasons[0])];
	uint8_t b[256];
	size_t n;
	char buf[16];
	size_t vl;

	CU_ASSERT_EQUAL_FATAL(rc_set(cl, "it:survivor", 11, "alive", 5, NULL, NULL), RC_OK);
	stats_settle();
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		before[i] = stat_get(reasons[i]);
		CU_ASSERT_FATAL(before[i] >= 0);
	}
	raw_send("RC", 2, 0);                               /* short */
	n = frame(b, 1, 1, 0); b[0] = 'X';
	raw_send(b, n, 0);                                  /* magic */
	n = frame(b, 1, 9, 0);
	raw_send(b, n, 0);                                  /* version */
	n = frame(b, 0, 1, 0);
	raw_send(b, n, 0);                                  /* no ops */
	n = frame(b, RC_PROTO_MAX_OPS + 1, 1, 0);
	raw_send(b, n, 0);                                  /* too many */
	n = frame(b, 1, 1, 0);
	memcpy(b + n, "\x01\xff\x00\x10\x00\x00\x00\x00" "abc", 11);
	raw_send(b, n + 11, 0);                             /* key runs off */
	n = frame(b, 1, 1, 0);
	memcpy(b + n, "\x7f\xff\x00\x00\x00\x00\x00\x00", 8);
	raw_send(b, n + 8, 0);                              /* opcode */
	n = frame(b, 1, 1, 0);
	memcpy(b + n, "\x00\xff\x00\x00\x00\x00\x00\x00" "junk", 12);
	raw_send(b, n + 12, 0);                             /* trailing */
	n = frame(b, 1, 1, RC_PROTO_F_REPLY);
	memcpy(b + n, "\x00\xff\x00\x00\x00\x00\x00\x00", 8);
	raw_send(b, n + 8, 0);                              /* reply flag */
	n = frame(b, 1, 1, 0); b[17] = 3;                   /* seg_count 3 */
	memcpy(b + n, "\x00\xff\x00\x00\x00\x00\x00\x00", 8);
	raw_send(b, n + 8, 0);
	raw_send("hello", 5, 100);                          /* wrong port */

	/* Valid traffic carries on, and nothing was stored or lost. */
	CU_ASSERT_EQUAL(rc_get(cl, "it:survivor", 11, buf, sizeof(buf), &vl, NULL), RC_OK);
	CU_ASSERT_NSTRING_EQUAL(buf, "alive", 5);
	CU_ASSERT_EQUAL(rc_ping(cl, 0), RC_OK);
	stats_settle();
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		long long d = stat_get(reasons[i]) - before[i];

		if (d != 1)
			fprintf(stderr, "\n  %s went up by %lld, expected 1\n",
				reasons[i], d);
		CU_ASSERT_EQUAL(d, 1);
	}
}

/* Last: fills the store far past its memory limit. */
static void test_eviction(void)
{
	static char v[1000];
	char key[32];
	size_t vl;
	long long limit, used, ev0 = stat_get("store_evictions");
	const int n = 6000 * (int)workers; /* about 1.6x the memory */

	memset(v, 'e', sizeof(v));
	for (int i = 0; i < n; i++) {
		size_t kl = (size_t)snprintf(key, sizeof(key), "it:ev%d", i);

		CU_ASSERT_EQUAL_FATAL(rc_set(cl, key, kl, v, sizeof(v), NULL, NULL), RC_OK);
	}
	stats_settle();
	limit = stat_get("store_bytes_limit");
	used = stat_get("store_bytes_used");
	CU_ASSERT(limit > 0);
	CU_ASSERT(used <= limit);
	CU_ASSERT(stat_get("store_evictions") > ev0);
	/* Oldest segments go first: the newest key is there, the oldest
	 * is gone. */
	snprintf(key, sizeof(key), "it:ev%d", n - 1);
	CU_ASSERT_EQUAL(rc_get(cl, key, strlen(key), v, sizeof(v), &vl, NULL), RC_OK);
	CU_ASSERT_EQUAL(rc_get(cl, "it:ev0", 6, v, sizeof(v), &vl, NULL), RC_ENOTFOUND);
	/* Every partition is full: within one segment (run.sh: 64 KiB). */
	CU_ASSERT(used > limit - workers * (64 << 10));
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"ping", test_ping},
		{"set/get/delete", test_set_get_delete},
		{"cas", test_cas},
		{"ttl and touch", test_ttl_and_touch},
		{"multi-get", test_mget},
		{"classes from prefixes", test_classes},
		{"limits", test_limits},
		{"garbage counted, traffic continues", test_garbage},
		{"eviction under the memory limit", test_eviction},
		{NULL, NULL},
	};
	const char *servers[1];
	int err;
	unsigned fails;

	server = getenv("RC_SERVER");
	stats_path = getenv("RC_STATS");
	if (!server || !stats_path) {
		fprintf(stderr, "itest: needs RC_SERVER and RC_STATS (run by run.sh)\n");
		return 2;
	}
	max_key = getenv("RC_MAX_KEY") ? strtoul(getenv("RC_MAX_KEY"), NULL, 10) : 250;
	max_value = getenv("RC_MAX_VALUE") ? strtoul(getenv("RC_MAX_VALUE"), NULL, 10) : 1024;
	if (getenv("RC_WORKERS"))
		workers = atoll(getenv("RC_WORKERS"));
	servers[0] = server;
	cl = rc_client_create(&(struct rc_client_config){
		.servers = servers, .n_servers = 1, .timeout_ms = 200,
		.retries = 3, .backoff_ms = 2}, &err);
	if (!cl) {
		fprintf(stderr, "itest: %s\n", rc_strerror(err));
		return 2;
	}
	fails = (unsigned)rc_test_run("ringcached over UDP", cases);
	rc_client_destroy(cl);
	return fails ? 1 : 0;
}
