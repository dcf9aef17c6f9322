/* SPDX-License-Identifier: MIT
 * Integration tests: a real ringcached (started by run.sh on a DPDK
 * virtual device in a network namespace) driven over real UDP by
 * libringcache and by raw sockets for malformed input.
 *
 * Environment: RC_SERVER=ip:port, RC_STATS=path of the daemon's stats
 * file, RC_MAX_KEY / RC_MAX_VALUE = the daemon's configured limits. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rc_cunit.h"

#include "rc_proto.h"
#include "ringcache.h"

static rc_client *cl;
static const char *server, *stats_path;
static size_t max_key, max_value;
static long long workers = 1;
static long long memory; /* store.memory of run.sh's config */

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

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until the stats file holds every worker's counters as published
 * after now (the daemon shares this machine's monotonic clock): then
 * every request answered so far is in them. A condition, not a sleep;
 * the deadline only bounds a broken daemon. */
static void stats_settle(void)
{
	uint64_t t0 = mono_ns();

	for (;;) {
		long long t = stat_get("stats_published_ns");

		if (t > 0 && (uint64_t)t > t0)
			break;
		if (mono_ns() - t0 > 30ull * 1000000000u) {
			CU_FAIL_FATAL("stats file not refreshed within 30 s");
		}
		usleep(5 * 1000);
	}
}

/* Wait (fresh stats each time, up to 15 s) until stat name equals want:
 * timeouts happen by the node's clock, not after a fixed sleep here (a
 * starved machine stretches both). @return the last value seen. */
static long long stat_wait(const char *name, long long want)
{
	uint64_t t0 = mono_ns();
	long long v;

	do {
		stats_settle();
		v = stat_get(name);
	} while (v != want && mono_ns() - t0 < 15ull * 1000000000u);
	return v;
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
	{
		static char huge[RC_MAX_VALUE + 1];

		CU_ASSERT_EQUAL(rc_set(cl, "it:huge", 7, huge, sizeof(huge),
				       NULL, NULL), RC_ETOOLARGE);
	}
	/* Over the node's limit in segments: reassembled, then refused. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:big2", 7, big, sizeof(big), NULL, NULL),
			RC_ETOOLARGE);
	/* Unknown data class. */
	CU_ASSERT_EQUAL(rc_set(cl, "it:cls", 6, "x", 1,
			       &(struct rc_set_opts){.class_id = 15}, NULL),
			RC_EUNKNOWNCLASS);
	stats_settle();
	CU_ASSERT_EQUAL(stat_get("status_TOO_LARGE") - before,
			max_key < RC_MAX_KEY ? 3 : 2);
}

/* The node's address, at the port of partition part (+ delta). */
static struct sockaddr_in server_addr(int part)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strchr(server, ':');

	snprintf(host, sizeof(host), "%.*s",
		 (int)(colon ? colon - server : (long)strlen(server)), server);
	inet_pton(AF_INET, host, &a.sin_addr);
	a.sin_port = htons((uint16_t)((colon ? atoi(colon + 1) : 7711) + part));
	return a;
}

static int raw_send(const void *buf, size_t len, int port_delta)
{
	struct sockaddr_in a = server_addr(port_delta);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), r;

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

/* A UDP socket bound to source address src (NULL: any), its replies
 * waited for up to ms. */
static int raw_sock(const char *src, int ms)
{
	struct sockaddr_in b = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (src) {
		inet_pton(AF_INET, src, &b.sin_addr);
		if (bind(fd, (struct sockaddr *)&b, sizeof(b)) != 0) {
			perror("itest: bind");
			close(fd);
			return -1;
		}
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send buf on fd to the port of partition part and wait for one reply
 * datagram into rep. @return reply length, or -1 if none came. */
static long raw_rt_fd(int fd, const void *buf, size_t len, unsigned part,
		      uint8_t *rep, size_t cap)
{
	struct sockaddr_in a = server_addr((int)part);

	if (fd < 0 || sendto(fd, buf, len, 0, (struct sockaddr *)&a,
			     sizeof(a)) != (ssize_t)len)
		return -1;
	return recv(fd, rep, cap, 0);
}

/* The same on a fresh socket from src, closed after. */
static long raw_rt(const char *src, const void *buf, size_t len,
		   unsigned part, uint8_t *rep, size_t cap, int ms)
{
	int fd = raw_sock(src, ms);
	long n = raw_rt_fd(fd, buf, len, part, rep, cap);

	if (fd >= 0)
		close(fd);
	return n;
}

static int sendto_only(int fd, const void *buf, size_t len, unsigned part)
{
	struct sockaddr_in a = server_addr((int)part);

	return sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a)) ==
	       (ssize_t)len ? 0 : -1;
}

/* A GET of key, padded to pad bytes (0: not padded). */
static size_t get_request(uint8_t *b, const char *key, size_t pad)
{
	struct rc_proto_hdr h = {.version = 1, .request_id = 99, .n_ops = 1,
				 .seg_count = 1};
	struct rc_proto_req_op op = {.opcode = RC_OP_GET, .class_id = 0xff,
				     .key_len = (uint16_t)strlen(key),
				     .key = (const uint8_t *)key};
	size_t n = RC_PROTO_HDR_LEN +
		   rc_proto_req_op_encode(b + RC_PROTO_HDR_LEN, 2000, &op);

	if (pad > n) {
		h.flags = RC_PROTO_F_PADDED;
		memset(b + n, 0, pad - n);
		n = pad;
	}
	rc_proto_hdr_encode(b, &h);
	return n;
}

static unsigned part_of(const char *key)
{
	struct rc_proto_digest d;

	rc_proto_key_digest(key, strlen(key), &d);
	return rc_proto_partition(&d, (unsigned)workers);
}

/* Sources outside acl.allow get nothing back and are counted. */
static void test_acl(void)
{
	const char *denied = getenv("RC_DENIED_IP");
	uint8_t b[256], r[256];
	long long d0 = stat_get("drop_acl");

	CU_ASSERT_PTR_NOT_NULL_FATAL(denied);
	CU_ASSERT_EQUAL(raw_rt(denied, b, get_request(b, "it:acl", 64),
			       part_of("it:acl"), r, sizeof(r), 300), -1);
	/* The same request from an allowed source is answered. */
	CU_ASSERT(raw_rt(NULL, b, get_request(b, "it:acl", 64),
			 part_of("it:acl"), r, sizeof(r), 500) > 0);
	stats_settle();
	CU_ASSERT_EQUAL(stat_get("drop_acl") - d0, 1);
}

/* No reply outgrows its request unless the source is trusted. */
static void test_amplification(void)
{
	static char v[500];
	static uint8_t b[2048], r[2048];
	struct rc_proto_hdr h;
	struct rc_proto_rep_op op;
	const char *key = "it:amp";
	int trusted = getenv("RC_TRUSTED") && atoi(getenv("RC_TRUSTED"));
	long long a0 = stat_get("drop_amplification");
	struct rc_client_stats cs0, cs1;
	size_t n, vl;
	long rl;

	memset(v, 'a', sizeof(v));
	CU_ASSERT_EQUAL_FATAL(rc_set(cl, key, strlen(key), v, sizeof(v), NULL, NULL), RC_OK);
	n = get_request(b, key, 0);  /* 34 bytes */
	rl = raw_rt(NULL, b, n, part_of(key), r, sizeof(r), trusted ? 5000 : 300);
	if (trusted) {
		CU_ASSERT_EQUAL(rl, 40 + (long)sizeof(v));
	} else {
		/* Smaller than even a status answer: dropped, counted. */
		CU_ASSERT_EQUAL(rl, -1);
		/* Padded to 40: a status telling how much to pad. */
		n = get_request(b, key, 40);
		rl = raw_rt(NULL, b, n, part_of(key), r, sizeof(r), 5000);
		CU_ASSERT_EQUAL_FATAL(rl, 40);
		CU_ASSERT_EQUAL_FATAL(rc_proto_decode_reply(r, (size_t)rl, &h, &op, 1), RC_PROTO_OK);
		CU_ASSERT_EQUAL(op.status, RC_ST_PAD_REQUIRED);
		CU_ASSERT_EQUAL(op.client_flags, sizeof(v));
		/* Padded to the answer's size: the value. */
		n = get_request(b, key, 40 + sizeof(v));
		rl = raw_rt(NULL, b, n, part_of(key), r, sizeof(r), 5000);
		CU_ASSERT_EQUAL(rl, (long)n);
	}
	/* libringcache does all of that by itself. */
	rc_client_get_stats(cl, &cs0);
	CU_ASSERT_EQUAL(rc_get(cl, key, strlen(key), v, sizeof(v), &vl, NULL), RC_OK);
	CU_ASSERT_EQUAL(vl, sizeof(v));
	rc_client_get_stats(cl, &cs1);
	CU_ASSERT_EQUAL(cs1.padded - cs0.padded, trusted ? 0 : 1);
	stats_settle();
	CU_ASSERT_EQUAL(stat_get("drop_amplification") - a0, trusted ? 0 : 1);
}

/* A rate-limited source gets THROTTLED answers, never silence. */
static void test_throttle(void)
{
	const char *src = getenv("RC_LIMITED_IP");
	uint8_t b[64], r[64];
	struct rc_proto_hdr h = {.version = 1, .n_ops = 1, .seg_count = 1};
	struct rc_proto_req_op noop = {.opcode = RC_OP_NOOP};
	struct rc_proto_rep_op op;
	unsigned ok = 0, throttled = 0, other = 0;
	/* run.sh: 20 ops/s, burst 10, shared by the workers. */
	const unsigned burst = 10 / (unsigned)workers;
	unsigned refill;
	uint64_t t_loop;

	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	/* Garbage first: 200 datagrams of a wrong magic that claim 64 ops
	 * each. They are dropped and counted, and must cost the source's
	 * quota nothing (they once used it up). */
	{
		long long d0 = stat_get("drop_bad_magic");
		int fd = raw_sock(src, 500);
		uint64_t t0 = mono_ns();

		memset(b, 0, sizeof(b));
		b[0] = 'X';
		b[13] = 64;
		CU_ASSERT_FATAL(fd >= 0);
		for (unsigned i = 0; i < 200; i++)
			CU_ASSERT_EQUAL(sendto_only(fd, b, 40,
						    i % (unsigned)workers), 0);
		close(fd);
		while (stat_get("drop_bad_magic") < d0 + 200) {
			if (mono_ns() - t0 > 30ull * 1000000000u) {
				CU_FAIL("garbage not counted within 30 s");
				break;
			}
			usleep(5 * 1000);
		}
	}
	t_loop = mono_ns();
	for (unsigned i = 0; i < 40; i++) {
		size_t n;
		long rl;

		h = (struct rc_proto_hdr){.version = 1, .n_ops = 1, .seg_count = 1,
					  .request_id = 1000 + i,
					  .flags = RC_PROTO_F_PADDED};
		rc_proto_hdr_encode(b, &h);
		n = RC_PROTO_HDR_LEN + rc_proto_req_op_encode(b + RC_PROTO_HDR_LEN, 40, &noop);
		memset(b + n, 0, 40 - n);
		rl = raw_rt(src, b, 40, 0, r, sizeof(r), 5000);
		if (rl > 0 && rc_proto_decode_reply(r, (size_t)rl, &h, &op, 1) == RC_PROTO_OK)
			op.status == RC_ST_OK ? ok++ : op.status == RC_ST_THROTTLED
							  ? throttled++ : other++;
		else
			other++;
	}
	/* The burst, plus what the rate refilled while the loop ran (the
	 * loop's own time, not a guess: a loaded machine runs it slower). */
	refill = (unsigned)((mono_ns() - t_loop) * 20 / workers / 1000000000u) + 1;
	if (ok < burst || ok > burst + refill)
		fprintf(stderr, "\n  %u admitted (burst %u, refill %u), %u "
			"throttled, %u other\n", ok, burst, refill, throttled,
			other);
	CU_ASSERT(ok >= burst && ok <= burst + refill);
	CU_ASSERT_EQUAL(throttled + ok, 40);
	CU_ASSERT_EQUAL(other, 0);
	/* Other sources are not affected. */
	CU_ASSERT_EQUAL(rc_ping(cl, 0), RC_OK);
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

		int r = rc_set(cl, key, kl, v, sizeof(v), NULL, NULL);

		if (r != RC_OK)
			fprintf(stderr, "\n  set %s: %s\n", key, rc_strerror(r));
		CU_ASSERT_EQUAL_FATAL(r, RC_OK);
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
	/* The budget is the configured one, however full the store is:
	 * run.sh pins it (memory_cap = memory, no calendar rules), and a
	 * scaling evaluation (interval_s = 1) after the fill must not move
	 * it. Waits for two uptime ticks so that at least one ran. */
	long long up0 = stat_get("uptime_seconds");
	uint64_t t0 = mono_ns();

	while (stat_get("uptime_seconds") < up0 + 2) {
		if (mono_ns() - t0 > 30ull * 1000000000u)
			CU_FAIL_FATAL("uptime did not advance within 30 s");
		usleep(20 * 1000);
	}
	stats_settle();
	CU_ASSERT_EQUAL(stat_get("store_bytes_limit"), memory);
	CU_ASSERT_EQUAL(stat_get("memory_budget_bytes"), memory);
}

/* ---- large values (run.sh ... large) ---------------------------- */

static void fill(uint8_t *v, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		v[i] = (uint8_t)x;
	}
}

/* Sizes around every boundary: one datagram, two, many, 1 MiB. */
static void test_large_values(void)
{
	static uint8_t v[RC_MAX_VALUE], got[RC_MAX_VALUE];
	const size_t sizes[] = {1411, 1412, 1413, 1452, 1453, 2904, 2905,
				100000, RC_MAX_VALUE - 1, RC_MAX_VALUE};
	long long s0 = stat_get("segments_in"), o0 = stat_get("segments_out");

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char key[32];
		size_t kl = (size_t)snprintf(key, sizeof(key), "big:%zu", sizes[i]);
		size_t vl = 0;

		fill(v, sizes[i], (unsigned)i);
		CU_ASSERT_EQUAL(rc_set(cl, key, kl, v, sizes[i], NULL, NULL), RC_OK);
		memset(got, 0, sizes[i]);
		CU_ASSERT_EQUAL(rc_get(cl, key, kl, got, sizeof(got), &vl, NULL), RC_OK);
		CU_ASSERT_EQUAL(vl, sizes[i]);
		if (memcmp(got, v, sizes[i]) != 0) {
			fprintf(stderr, "\n  value of %zu bytes came back different\n",
				sizes[i]);
			CU_FAIL("large value differs");
		}
	}
	/* Truncation still reports the full length. */
	{
		size_t vl = 0;

		CU_ASSERT_EQUAL(rc_get(cl, "big:100000", 10, got, 10, &vl, NULL),
				RC_ETRUNCATED);
		CU_ASSERT_EQUAL(vl, 100000);
	}
	stats_settle();
	CU_ASSERT(stat_get("segments_in") - s0 > 2 * 723);
	CU_ASSERT(stat_get("segments_out") - o0 > 2 * 723);
}

/* Segment idx of the request message msg (mlen bytes, header included). */
static size_t set_segment(uint8_t *b, uint32_t id, const char *key,
			  uint16_t idx, const uint8_t *msg, size_t mlen)
{
	struct rc_proto_hdr h = {.version = 1, .flags = RC_PROTO_F_SEGMENTED,
				 .request_id = id, .n_ops = 1,
				 .seg_index = idx,
				 .seg_count = (uint16_t)rc_proto_seg_count(mlen)};
	size_t off = RC_PROTO_HDR_LEN + (size_t)idx * RC_PROTO_SEG_BODY;
	size_t body = mlen - off < RC_PROTO_SEG_BODY ? mlen - off : RC_PROTO_SEG_BODY;

	(void)key;
	rc_proto_hdr_encode(b, &h);
	memcpy(b + RC_PROTO_HDR_LEN, msg + off, body);
	return RC_PROTO_HDR_LEN + body;
}

static size_t set_message(uint8_t *msg, const char *key, const uint8_t *v,
			  size_t vl)
{
	struct rc_proto_req_op op = {.opcode = RC_OP_SET, .class_id = 0xff,
				     .key_len = (uint16_t)strlen(key),
				     .value_len = (uint32_t)vl,
				     .key = (const uint8_t *)key, .value = v};

	return RC_PROTO_HDR_LEN +
	       rc_proto_req_op_encode(msg + RC_PROTO_HDR_LEN, 8000, &op);
}

/* A lost segment: the request waits, times out (counted), is never
 * executed; sent whole it succeeds. */
static void test_segment_loss(void)
{
	static uint8_t v[3000], msg[8192], b[2048], r[2048];
	const char *key = "seg:lost";
	size_t ml = set_message(msg, key, v, sizeof(v)), n;
	long long t0 = stat_get("reassembly_timeouts");
	unsigned part = part_of(key);
	struct rc_proto_hdr h;
	struct rc_proto_rep_op op;
	char buf[16];

	int fd = raw_sock(NULL, 50);

	CU_ASSERT_EQUAL_FATAL(rc_proto_seg_count(ml), 3);
	n = set_segment(b, 501, key, 0, msg, ml);
	CU_ASSERT_EQUAL(raw_rt_fd(fd, b, n, part, r, sizeof(r)), -1);
	n = set_segment(b, 501, key, 2, msg, ml);
	CU_ASSERT_EQUAL(raw_rt_fd(fd, b, n, part, r, sizeof(r)), -1);
	close(fd);
	/* run.sh: reassembly.timeout_ms = 2000 */
	CU_ASSERT_EQUAL(stat_wait("reassembly_timeouts", t0 + 1) - t0, 1);
	CU_ASSERT_EQUAL(stat_get("reassembly_entries"), 0);
	/* Nothing was stored. */
	CU_ASSERT_EQUAL(rc_get(cl, key, strlen(key), buf, sizeof(buf), NULL, NULL),
			RC_ENOTFOUND);
	/* All three: answered once, after the last. */
	fd = raw_sock(NULL, 5000);
	for (uint16_t i = 0; i < 3; i++) {
		long rl;

		n = set_segment(b, 502, key, i, msg, ml);
		if (i < 2) {
			/* Nothing back for a segment that completes nothing. */
			CU_ASSERT_EQUAL(sendto_only(fd, b, n, part), 0);
			continue;
		}
		rl = raw_rt_fd(fd, b, n, part, r, sizeof(r));
		{
			CU_ASSERT_EQUAL_FATAL(rl, 40);
			CU_ASSERT_EQUAL(rc_proto_decode_reply(r, 40, &h, &op, 1), RC_PROTO_OK);
			CU_ASSERT_EQUAL(h.request_id, 502);
			CU_ASSERT_EQUAL(op.status, RC_ST_OK);
		}
	}
	close(fd);
	CU_ASSERT_EQUAL(rc_get(cl, key, strlen(key), v, sizeof(v), NULL, NULL), RC_OK);
}

/* Reassembly shares: an untrusted source holds at most its share
 * (run.sh: 2 of 4 entries) and is answered BUSY past it; a trusted one
 * takes the room of untrusted entries. Stale entries free themselves. */
static void test_reassembly_full(void)
{
	static uint8_t v[3000], msg[8192], b[2048], r[2048];
	const char *key = "seg:busy", *flood = getenv("RC_FLOOD_IP");
	size_t ml = set_message(msg, key, v, sizeof(v)), n;
	unsigned part = part_of(key);
	int trusted = getenv("RC_TRUSTED") && atoi(getenv("RC_TRUSTED"));
	long long o0 = stat_get("reassembly_over_share");
	long long e0 = stat_get("reassembly_evicted");
	struct rc_proto_hdr h;
	struct rc_proto_rep_op op;
	long rl;

	CU_ASSERT_PTR_NOT_NULL_FATAL(flood);
	/* Two each from an untrusted source and from us: the table is full. */
	for (uint32_t id = 0; id < 4; id++) {
		n = set_segment(b, 600 + id, key, 0, msg, ml);
		CU_ASSERT_EQUAL(raw_rt(id < 2 ? flood : NULL, b, n, part, r,
				       sizeof(r), 50), -1);
	}
	/* A third from the untrusted source: over its share. */
	n = set_segment(b, 610, key, 0, msg, ml);
	rl = raw_rt(flood, b, n, part, r, sizeof(r), 5000);
	CU_ASSERT_EQUAL_FATAL(rl, 40);
	CU_ASSERT_EQUAL(rc_proto_decode_reply(r, 40, &h, &op, 1), RC_PROTO_OK);
	CU_ASSERT_EQUAL(h.request_id, 610);
	CU_ASSERT_EQUAL(op.status, RC_ST_BUSY);
	/* A third from us: trusted, it evicts the oldest untrusted entry
	 * (no answer: the message is pending); untrusted, over our share. */
	n = set_segment(b, 611, key, 0, msg, ml);
	rl = raw_rt(NULL, b, n, part, r, sizeof(r), trusted ? 50 : 5000);
	if (trusted) {
		CU_ASSERT_EQUAL(rl, -1);
	} else {
		CU_ASSERT_EQUAL_FATAL(rl, 40);
		CU_ASSERT_EQUAL(rc_proto_decode_reply(r, 40, &h, &op, 1),
				RC_PROTO_OK);
		CU_ASSERT_EQUAL(op.status, RC_ST_BUSY);
	}
	stats_settle();
	CU_ASSERT_EQUAL(stat_get("reassembly_over_share") - o0, trusted ? 1 : 2);
	CU_ASSERT_EQUAL(stat_get("reassembly_evicted") - e0, trusted ? 1 : 0);
	CU_ASSERT(stat_get("busy_replies") >= 1);
	/* After the timeout the stale entries go and the client gets in. */
	CU_ASSERT_EQUAL(stat_wait("reassembly_entries", 0), 0);
	CU_ASSERT_EQUAL(rc_set(cl, key, strlen(key), v, sizeof(v), NULL, NULL), RC_OK);
}

/* One allowed but untrusted source floods unfinished segmented messages
 * (~4,000 a second, a fresh request id each) while the client stores
 * 5,000-byte values: at least 99 of 100 must succeed (19 of 21 once
 * failed BUSY). The flooder is a child process, stopped at the end. */
static void test_reassembly_flood(void)
{
	static uint8_t v[5000], msg[8192], b[2048];
	const char *flood = getenv("RC_FLOOD_IP");
	unsigned ok = 0;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(flood);
	memset(v, 'f', sizeof(v));
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		size_t ml = set_message(msg, "flood:x", v, sizeof(v)), n;
		int fd = raw_sock(flood, 10);
		uint64_t t0 = mono_ns();

		/* Bounded: at most 60 s, whatever happens to the parent. */
		for (uint32_t id = 1; mono_ns() - t0 < 60ull * 1000000000u; id++) {
			for (unsigned p = 0; p < (unsigned)workers; p++) {
				n = set_segment(b, id, "flood:x", 0, msg, ml);
				sendto_only(fd, b, n, p);
			}
			usleep(250);
		}
		_exit(0);
	}
	usleep(200 * 1000); /* let the flood fill what it can */
	for (unsigned i = 0; i < 100; i++) {
		char key[32];

		snprintf(key, sizeof(key), "flood:ok%u", i);
		ok += rc_set(cl, key, strlen(key), v, sizeof(v), NULL, NULL) == RC_OK;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fprintf(stderr, "\n  %u of 100 SETs succeeded under the flood\n", ok);
	CU_ASSERT(ok >= 99);
	usleep(600 * 1000); /* the flood's entries time out */
}

int main(void)
{
	static const struct rc_test_case large_cases[] = {
		{"large values", test_large_values},
		{"segment loss and timeout", test_segment_loss},
		{"reassembly shares, trusted first", test_reassembly_full},
		{"a partial-segment flood from one source", test_reassembly_flood},
		{NULL, NULL},
	};
	static const struct rc_test_case cases[] = {
		{"ping", test_ping},
		{"set/get/delete", test_set_get_delete},
		{"cas", test_cas},
		{"ttl and touch", test_ttl_and_touch},
		{"multi-get", test_mget},
		{"classes from prefixes", test_classes},
		{"limits", test_limits},
		{"garbage counted, traffic continues", test_garbage},
		{"acl", test_acl},
		{"amplification", test_amplification},
		{"throttling", test_throttle},
		{"eviction under the memory limit", test_eviction},
		{NULL, NULL},
	};
	const char *servers[1];
	int err;
	unsigned fails;
	bool large;

	server = getenv("RC_SERVER");
	stats_path = getenv("RC_STATS");
	if (!server || !stats_path) {
		fprintf(stderr, "itest: needs RC_SERVER and RC_STATS (run by run.sh)\n");
		return 2;
	}
	max_key = getenv("RC_MAX_KEY") ? strtoul(getenv("RC_MAX_KEY"), NULL, 10) : 250;
	max_value = getenv("RC_MAX_VALUE") ? strtoul(getenv("RC_MAX_VALUE"), NULL, 10) : 1024;
	memory = getenv("RC_MEMORY") ? atoll(getenv("RC_MEMORY")) : 0;
	if (getenv("RC_WORKERS"))
		workers = atoll(getenv("RC_WORKERS"));
	servers[0] = server;
	large = getenv("RC_SUITE") && !strcmp(getenv("RC_SUITE"), "large");
	cl = rc_client_create(&(struct rc_client_config){
		/* Generous: these tests check answers, not speed, and a
		 * loaded machine can hold the worker off its CPU for a
		 * second (perf/ measures latency). A 1 MiB value is 723
		 * segments: on a sanitizer build whose worker a loaded
		 * host starved (42 s of gaps in a 64 s run, once) it took
		 * over a second to reassemble, the client sent it again,
		 * and the copies crowded each other out (BUSY). */
		.servers = servers, .n_servers = 1,
		.timeout_ms = large ? 5000 : 1000,
		.retries = 3, .backoff_ms = 2}, &err);
	if (!cl) {
		fprintf(stderr, "itest: %s\n", rc_strerror(err));
		return 2;
	}
	if (large)
		fails = (unsigned)rc_test_run("ringcached large values", large_cases);
	else
		fails = (unsigned)rc_test_run("ringcached over UDP", cases);
	rc_client_destroy(cl);
	return fails ? 1 : 0;
}
