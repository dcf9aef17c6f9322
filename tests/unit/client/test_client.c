/* SPDX-License-Identifier: MIT
 * lib/client: consistent hashing, config errors, local limit checks,
 * timeouts against a silent local socket, and the whole request/reply
 * contract against a fake node on loopback (fake_server.c): padding,
 * WRONG_PARTITION, NOT_PRIMARY, segments, lost and duplicated replies,
 * two nodes on one address, CAS writes never re-sent, unpredictable
 * request ids, and the hostile replies of issue 22. No EAL. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rc_cunit.h"

#include "fake_server.h"
#include "hashring.h"
#include "ringcache.h"

static void test_ring_balance_and_stability(void)
{
	const char *names[5] = {"10.0.0.1:7711", "10.0.0.2:7711", "10.0.0.3:7711",
				"10.0.0.4:7711", "10.0.0.5:7711"};
	struct rc_hashring r4, r5;
	unsigned cnt[5] = {0}, moved = 0, moved_elsewhere = 0;
	const unsigned N = 100000;

	CU_ASSERT_EQUAL_FATAL(rc_hashring_build(&r4, names, 4), 0);
	CU_ASSERT_EQUAL_FATAL(rc_hashring_build(&r5, names, 5), 0);
	for (unsigned i = 0; i < N; i++) {
		uint32_t h = i * 2654435761u;
		uint32_t a = rc_hashring_lookup(&r4, h), b = rc_hashring_lookup(&r5, h);

		cnt[a]++;
		if (a != b) {
			moved++;
			if (b != 4)
				moved_elsewhere++;
		}
	}
	/* Each of 4 nodes within 20% of a quarter. */
	for (int i = 0; i < 4; i++)
		CU_ASSERT(cnt[i] > N / 4 * 8 / 10 && cnt[i] < N / 4 * 12 / 10);
	/* Adding a fifth node moves only keys to it: about a fifth. */
	CU_ASSERT_EQUAL(moved_elsewhere, 0);
	CU_ASSERT(moved > N / 5 * 7 / 10 && moved < N / 5 * 13 / 10);
	rc_hashring_free(&r4);
	rc_hashring_free(&r5);
}

static void test_config_errors(void)
{
	const char *bad[] = {"not-an-ip"};
	const char *badport[] = {"127.0.0.1:99999"};
	int err = 0;

	CU_ASSERT_PTR_NULL(rc_client_create(NULL, &err));
	CU_ASSERT_EQUAL(err, RC_EINVAL);
	CU_ASSERT_PTR_NULL(rc_client_create(&(struct rc_client_config){
		.servers = bad, .n_servers = 1}, &err));
	CU_ASSERT_EQUAL(err, RC_ERESOLVE);
	CU_ASSERT_PTR_NULL(rc_client_create(&(struct rc_client_config){
		.servers = badport, .n_servers = 1}, &err));
	CU_ASSERT_EQUAL(err, RC_ERESOLVE);
	CU_ASSERT_STRING_EQUAL(rc_strerror(RC_ETIMEOUT), "timed out");
	CU_ASSERT_STRING_EQUAL(rc_strerror(RC_OK), "success");
	CU_ASSERT_STRING_EQUAL(rc_strerror(-999), "unknown error");
	CU_ASSERT_STRING_EQUAL(rc_strerror(5), "unknown error");
}

/* A bound local UDP socket that never answers: timeouts and retries. */
static void test_timeout_and_retries(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	char name[64];
	const char *servers[1] = {name};
	struct rc_client_stats st;
	struct timespec t0, t1;
	rc_client *c;
	char buf[8];
	char key[300];
	double ms;

	CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &al);
	snprintf(name, sizeof(name), "127.0.0.1:%u", ntohs(a.sin_port));
	c = rc_client_create(&(struct rc_client_config){
		.servers = servers, .n_servers = 1, .timeout_ms = 20,
		.retries = 2, .backoff_ms = 1}, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(rc_get(c, "k", 1, buf, sizeof(buf), NULL, NULL), RC_ETIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	CU_ASSERT(ms >= 60 && ms < 1000);
	rc_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.requests, 3);
	CU_ASSERT_EQUAL(st.retries, 2);
	/* A conditional set is not retried. */
	CU_ASSERT_EQUAL(rc_set(c, "k", 1, "v", 1,
			       &(struct rc_set_opts){.cas = 9}, NULL), RC_ETIMEOUT);
	rc_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.requests, 4);
	/* Local limits: nothing is sent. */
	memset(key, 'k', sizeof(key));
	CU_ASSERT_EQUAL(rc_get(c, key, 251, buf, sizeof(buf), NULL, NULL), RC_ETOOLARGE);
	CU_ASSERT_EQUAL(rc_get(c, key, 0, buf, sizeof(buf), NULL, NULL), RC_EINVAL);
	{
		static char big[RC_MAX_VALUE + 1];

		CU_ASSERT_EQUAL(rc_set(c, "k", 1, big, sizeof(big), NULL, NULL),
				RC_ETOOLARGE);
	}
	rc_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.requests, 4);
	/* Multi-get: every key reports the timeout; invalid keys their error. */
	{
		struct rc_mget_item it[3] = {
			{.key = "a", .key_len = 1, .buf = buf, .cap = sizeof(buf)},
			{.key = "b", .key_len = 1, .buf = buf, .cap = sizeof(buf)},
			{.key = key, .key_len = 251, .buf = buf, .cap = sizeof(buf)},
		};

		CU_ASSERT_EQUAL(rc_mget(c, it, 3), RC_OK);
		CU_ASSERT_EQUAL(it[0].status, RC_ETIMEOUT);
		CU_ASSERT_EQUAL(it[1].status, RC_ETIMEOUT);
		CU_ASSERT_EQUAL(it[2].status, RC_ETOOLARGE);
	}
	rc_client_destroy(c);
	close(fd);
}

/* ---- against a fake node on loopback --------------------------------- */

static struct fake F;

/* Per-attempt timeout of the scenario clients: long enough that a loaded
 * machine answers in time, short enough that the attempts a scenario
 * expects to lose stay cheap. No test depends on it being tight. */
#define T_MS 1000

struct cl_opts {
	unsigned n_servers; /* nodes 0..n-1 as servers */
	bool pair;          /* servers[0] paired with node 1 */
	unsigned timeout_ms, retries;
};

static rc_client *client_for(const struct cl_opts *o)
{
	static char names[FAKE_MAX_NODES][32];
	static const char *srv[FAKE_MAX_NODES], *sb[1];
	int err = 0;
	rc_client *c;

	for (unsigned i = 0; i < FAKE_MAX_NODES; i++) {
		fake_name(&F, i, names[i], sizeof(names[i]));
		srv[i] = names[i];
	}
	sb[0] = names[1];
	c = rc_client_create(&(struct rc_client_config){
		.servers = srv, .n_servers = o->pair ? 1 : o->n_servers,
		.standbys = o->pair ? sb : NULL, .failover_ms = 2000,
		.timeout_ms = o->timeout_ms ? o->timeout_ms : T_MS,
		.retries = o->retries}, &err);
	CU_ASSERT_PTR_NOT_NULL(c);
	return c;
}

static int get_str(rc_client *c, const char *k, char *buf, size_t cap,
		   size_t *len)
{
	return rc_get(c, k, strlen(k), buf, cap, len, NULL);
}

static int set_str(rc_client *c, const char *k, const void *v, size_t len)
{
	return rc_set(c, k, strlen(k), v, len, NULL, NULL);
}

static bool is_key(const struct fake_req *rq, uint8_t opcode, const char *k)
{
	return rq->h.n_ops == 1 && rq->ops[0].opcode == opcode &&
	       rq->ops[0].key_len == strlen(k) &&
	       memcmp(rq->ops[0].key, k, strlen(k)) == 0;
}

/* Write then read back n keys "<prefix><i>": all must work. */
static void check_keys_work(rc_client *c, const char *prefix, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char k[32], v[32], b[32];
		size_t len = 0;

		snprintf(k, sizeof(k), "%s%u", prefix, i);
		snprintf(v, sizeof(v), "value-%u", i);
		CU_ASSERT_EQUAL(set_str(c, k, v, strlen(v)), RC_OK);
		CU_ASSERT_EQUAL(get_str(c, k, b, sizeof(b), &len), RC_OK);
		CU_ASSERT(len == strlen(v) && memcmp(b, v, len) == 0);
	}
}

static void test_fake_pad_required(void)
{
	static char v[600], b[600];
	struct rc_client_stats st;
	size_t len = 0;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.node[0].untrusted = true;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	memset(v, 'p', sizeof(v));
	CU_ASSERT_EQUAL(set_str(c, "p", v, sizeof(v)), RC_OK);
	CU_ASSERT_EQUAL(get_str(c, "p", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == sizeof(v) && memcmp(b, v, len) == 0);
	rc_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.padded, 1);
	rc_client_destroy(c);
	fake_stop(&F);
}

static void test_fake_wrong_partition(void)
{
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 3, NULL), 0);
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	check_keys_work(c, "wp", 24);
	fake_lock(&F);
	/* Learnt the count: far fewer requests than a re-route per call. */
	CU_ASSERT(F.node[0].requests < 2 * 24 + 4);
	fake_unlock(&F);
	rc_client_destroy(c);
	fake_stop(&F);
}

static void test_fake_not_primary(void)
{
	struct rc_client_stats st;
	char b[16];
	size_t len = 0;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 2, 1, NULL), 0);
	F.node[0].standby = true; /* the configured "primary" is a standby */
	c = client_for(&(struct cl_opts){.pair = true, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, "np", "v1", 2), RC_OK);
	CU_ASSERT_EQUAL(get_str(c, "np", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == 2 && memcmp(b, "v1", 2) == 0);
	rc_client_get_stats(c, &st);
	CU_ASSERT(st.failovers >= 1);
	CU_ASSERT(st.not_primary >= 1);
	fake_lock(&F);
	CU_ASSERT_EQUAL(F.node[1].writes, 1);
	fake_unlock(&F);
	rc_client_destroy(c);
	fake_stop(&F);
}

static void test_fake_segments(void)
{
	static char v[5000], b[5000];
	size_t len = 0;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	for (size_t i = 0; i < sizeof(v); i++)
		v[i] = (char)('a' + i % 26);
	CU_ASSERT_EQUAL(set_str(c, "seg", v, sizeof(v)), RC_OK);
	CU_ASSERT_EQUAL(get_str(c, "seg", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == sizeof(v) && memcmp(b, v, len) == 0);
	/* In a multi-get it overflows the shared reply and is asked alone. */
	CU_ASSERT_EQUAL(set_str(c, "small", "s", 1), RC_OK);
	{
		char sb[8];
		struct rc_mget_item it[2] = {
			{.key = "seg", .key_len = 3, .buf = b, .cap = sizeof(b)},
			{.key = "small", .key_len = 5, .buf = sb, .cap = sizeof(sb)},
		};

		memset(b, 0, sizeof(b));
		CU_ASSERT_EQUAL(rc_mget(c, it, 2), RC_OK);
		CU_ASSERT_EQUAL(it[0].status, RC_OK);
		CU_ASSERT(it[0].value_len == sizeof(v) &&
			  memcmp(b, v, sizeof(v)) == 0);
		CU_ASSERT_EQUAL(it[1].status, RC_OK);
		CU_ASSERT(it[1].value_len == 1 && sb[0] == 's');
	}
	/* Alone in its datagram: the segmented answer comes to the mget. */
	{
		struct rc_mget_item it = {.key = "seg", .key_len = 3, .buf = b,
					  .cap = sizeof(b)};
		struct rc_client_stats st;

		memset(b, 0, sizeof(b));
		CU_ASSERT_EQUAL(rc_mget(c, &it, 1), RC_OK);
		CU_ASSERT_EQUAL(it.status, RC_OK);
		CU_ASSERT(it.value_len == sizeof(v) &&
			  memcmp(b, v, sizeof(v)) == 0);
		rc_client_get_stats(c, &st);
		CU_ASSERT_EQUAL(st.bad_replies, 0);
	}
	rc_client_destroy(c);
	fake_stop(&F);
}

/* The first reply to SET "lost" is lost: a plain set is sent again. */
static bool hook_lose_once(struct fake *f, const struct fake_req *rq)
{
	int *lost = f->arg;

	if (!is_key(rq, RC_OP_SET, "lost") || *lost)
		return false;
	*lost = 1;
	rq->node->mute = true;
	fake_serve(f, rq);
	rq->node->mute = false;
	return true;
}

static void test_fake_lost_reply(void)
{
	struct rc_client_stats st;
	int lost = 0;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_lose_once;
	F.arg = &lost;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, "lost", "v", 1), RC_OK);
	rc_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.retries, 1);
	CU_ASSERT_EQUAL(st.timeouts, 1);
	fake_lock(&F);
	CU_ASSERT_EQUAL(F.node[0].writes, 2);
	fake_unlock(&F);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* Every answer to GET "dup" comes twice. */
static bool hook_dup(struct fake *f, const struct fake_req *rq)
{
	if (!is_key(rq, RC_OP_GET, "dup"))
		return false;
	fake_serve(f, rq);
	fake_serve(f, rq);
	return true;
}

static void test_fake_duplicated_reply(void)
{
	struct rc_client_stats st;
	char b[16];
	size_t len = 0;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_dup;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, "dup", "D", 1), RC_OK);
	CU_ASSERT_EQUAL(set_str(c, "other", "O", 1), RC_OK);
	CU_ASSERT_EQUAL(get_str(c, "dup", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == 1 && b[0] == 'D');
	/* The second copy waits in the socket: the next call skips it. */
	CU_ASSERT_EQUAL(get_str(c, "other", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == 1 && b[0] == 'O');
	rc_client_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.stale, 1);
	CU_ASSERT_EQUAL(st.retries, 0);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* Issue 17: replies were matched to servers by IP only. */
static void test_fake_two_nodes_one_address(void)
{
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 2, 1, NULL), 0);
	c = client_for(&(struct cl_opts){.n_servers = 2});
	check_keys_work(c, "two", 16);
	fake_lock(&F);
	CU_ASSERT(F.node[0].writes > 0 && F.node[1].writes > 0);
	fake_unlock(&F);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* The reply to a conditional write is lost once (the write happened). */
static bool hook_lose_cas(struct fake *f, const struct fake_req *rq)
{
	int *lose = f->arg;
	const struct rc_proto_req_op *op = &rq->ops[0];

	if (rq->h.n_ops != 1 || !op->cas || !*lose ||
	    (op->opcode != RC_OP_SET && op->opcode != RC_OP_DELETE))
		return false;
	*lose = 0;
	rq->node->mute = true;
	fake_serve(f, rq);
	rq->node->mute = false;
	return true;
}

/* Issue 17: a CAS write whose reply was lost was re-sent through the
 * failover loop and reported EXISTS for its own success. */
static void test_fake_cas_not_resent(void)
{
	struct rc_item_meta m;
	uint64_t cas = 0;
	int lose = 0;
	char b[8];
	size_t len;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 2, 1, NULL), 0);
	F.node[1].standby = true;
	F.hook = hook_lose_cas;
	F.arg = &lose;
	c = client_for(&(struct cl_opts){.pair = true, .retries = 2});
	CU_ASSERT_EQUAL(rc_set(c, "cas", 3, "v1", 2, NULL, &cas), RC_OK);
	fake_lock(&F);
	lose = 1;
	fake_unlock(&F);
	/* Not re-sent: the outcome is unknown, and the call says so. */
	CU_ASSERT_EQUAL(rc_set(c, "cas", 3, "v2", 2,
			       &(struct rc_set_opts){.cas = cas}, NULL),
			RC_ETIMEOUT);
	fake_lock(&F);
	CU_ASSERT_EQUAL(F.node[0].writes, 2);
	CU_ASSERT_EQUAL(F.node[1].requests, 0);
	fake_unlock(&F);
	/* It was stored. */
	CU_ASSERT_EQUAL(rc_get(c, "cas", 3, b, sizeof(b), &len, &m), RC_OK);
	CU_ASSERT(len == 2 && memcmp(b, "v2", 2) == 0);
	fake_lock(&F);
	lose = 1;
	fake_unlock(&F);
	CU_ASSERT_EQUAL(rc_delete(c, "cas", 3, m.cas), RC_ETIMEOUT);
	fake_lock(&F);
	CU_ASSERT_EQUAL(F.node[0].writes, 3);
	CU_ASSERT_EQUAL(F.node[1].requests, 0);
	fake_unlock(&F);
	CU_ASSERT_EQUAL(rc_get(c, "cas", 3, b, sizeof(b), &len, NULL),
			RC_ENOTFOUND);
	rc_client_destroy(c);
	fake_stop(&F);
}

static bool hook_silent(struct fake *f, const struct fake_req *rq)
{
	(void)f;
	(void)rq;
	return true;
}

/* Issue 23 item 5: a retry is not the previous id + 1. */
static void test_fake_ids_fresh_per_retry(void)
{
	char b[8];
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_silent;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 3,
					 .timeout_ms = 50});
	CU_ASSERT_EQUAL(get_str(c, "ids", b, sizeof(b), NULL), RC_ETIMEOUT);
	fake_lock(&F);
	CU_ASSERT_EQUAL(F.node[0].n_ids, 4);
	for (unsigned i = 0; i + 1 < F.node[0].n_ids; i++) {
		CU_ASSERT(F.node[0].ids[i + 1] != F.node[0].ids[i] + 1);
		for (unsigned j = 0; j < i + 1; j++)
			CU_ASSERT(F.node[0].ids[i + 1] != F.node[0].ids[j]);
	}
	fake_unlock(&F);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* Before the real answer to GET "g2", a forged one with the id a
 * predictable client would use (last id seen + 1). */
static bool hook_forge_next_id(struct fake *f, const struct fake_req *rq)
{
	uint32_t *last = f->arg;

	if (is_key(rq, RC_OP_GET, "g1")) {
		*last = rq->h.request_id;
	} else if (is_key(rq, RC_OP_GET, "g2")) {
		struct fake_req forged = *rq;
		struct rc_proto_rep_op rep = {.opcode = RC_OP_GET,
					      .value = (const uint8_t *)"forged",
					      .value_len = 6};
		uint8_t out[128];

		forged.h.request_id = *last + 1;
		fake_send_raw(rq, out, fake_encode_reply(&forged, 1, &rep, 1,
							 out, sizeof(out)));
	}
	return false;
}

static void test_fake_guessed_id_rejected(void)
{
	uint32_t last = 0;
	char b[16];
	size_t len = 0;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, "g1", "one", 3), RC_OK);
	CU_ASSERT_EQUAL(set_str(c, "g2", "real", 4), RC_OK);
	fake_lock(&F);
	F.arg = &last;
	F.hook = hook_forge_next_id;
	fake_unlock(&F);
	CU_ASSERT_EQUAL(get_str(c, "g1", b, sizeof(b), &len), RC_OK);
	CU_ASSERT_EQUAL(get_str(c, "g2", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == 4 && memcmp(b, "real", 4) == 0);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* ---- issue 22: hostile replies --------------------------------------- */

#define BIG 3000
static char big_a[BIG], big_b[BIG];

/* First answer to GET "big": segment 0 of a reply with big_b, then the
 * whole reply with big_a (so segment 0 comes twice, different bytes).
 * Later answers: big_a alone. */
static bool hook_stitch(struct fake *f, const struct fake_req *rq)
{
	static uint8_t ma[RC_PROTO_MAX_MESSAGE / 64], mb[sizeof(ma)];
	uint8_t seg[RC_PROTO_MAX_DATAGRAM];
	int *n = f->arg;
	struct rc_proto_rep_op ra = {.opcode = RC_OP_GET, .value_len = BIG,
				     .value = (const uint8_t *)big_a};
	struct rc_proto_rep_op rb = ra;
	size_t la, lb;

	if (!is_key(rq, RC_OP_GET, "big"))
		return false;
	rb.value = (const uint8_t *)big_b;
	la = fake_encode_reply(rq, 1, &ra, 1, ma, sizeof(ma));
	lb = fake_encode_reply(rq, 1, &rb, 1, mb, sizeof(mb));
	if ((*n)++ == 0)
		fake_send_raw(rq, seg, fake_segment(mb, lb, 0, seg));
	fake_send_msg(rq, ma, la);
	return true;
}

static void test_hostile_stitched_segments(void)
{
	static char b[BIG];
	size_t len = 0;
	int n = 0;
	rc_client *c;

	memset(big_a, 'a', sizeof(big_a));
	memset(big_b, 'B', sizeof(big_b));
	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_stitch;
	F.arg = &n;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(get_str(c, "big", b, sizeof(b), &len), RC_OK);
	/* Never a value made of two replies. */
	CU_ASSERT(len == BIG && memcmp(b, big_a, BIG) == 0);
#ifdef RC_VERSION_MAJOR
	{
		struct rc_client_stats st;

		rc_client_get_stats(c, &st);
		CU_ASSERT(st.bad_reply[RC_BAD_CONFLICT] >= 1);
		CU_ASSERT_EQUAL(st.bad_replies, st.bad_reply[RC_BAD_CONFLICT]);
	}
#endif
	rc_client_destroy(c);
	fake_stop(&F);
}

/* Every multi-op request is answered with DELETE ops carrying a value. */
static bool hook_wrong_opcode(struct fake *f, const struct fake_req *rq)
{
	struct rc_proto_rep_op reps[RC_PROTO_MAX_OPS];
	uint8_t out[RC_PROTO_MAX_DATAGRAM];

	(void)f;
	if (rq->h.n_ops < 2)
		return false;
	for (unsigned i = 0; i < rq->h.n_ops; i++)
		reps[i] = (struct rc_proto_rep_op){
			.opcode = RC_OP_DELETE,
			.value = (const uint8_t *)"evil", .value_len = 4};
	fake_send_raw(rq, out, fake_encode_reply(rq, 1, reps, rq->h.n_ops,
						 out, sizeof(out)));
	return true;
}

static void test_hostile_wrong_opcode(void)
{
	char b0[8] = "", b1[8] = "";
	struct rc_mget_item it[2] = {
		{.key = "ka", .key_len = 2, .buf = b0, .cap = sizeof(b0)},
		{.key = "kb", .key_len = 2, .buf = b1, .cap = sizeof(b1)},
	};
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_wrong_opcode;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 1});
	CU_ASSERT_EQUAL(rc_mget(c, it, 2), RC_OK);
	CU_ASSERT_EQUAL(it[0].status, RC_ETIMEOUT);
	CU_ASSERT_EQUAL(it[1].status, RC_ETIMEOUT);
	CU_ASSERT(memcmp(b0, "evil", 4) != 0 && memcmp(b1, "evil", 4) != 0);
#ifdef RC_VERSION_MAJOR
	{
		struct rc_client_stats st;

		rc_client_get_stats(c, &st);
		CU_ASSERT_EQUAL(st.bad_reply[RC_BAD_OPS], 2);
	}
#endif
	rc_client_destroy(c);
	fake_stop(&F);
}

/* GET "t" gets no answer, only an unsolicited reply (another request id)
 * that claims 4,096 partitions. */
static bool hook_unsolicited_partitions(struct fake *f, const struct fake_req *rq)
{
	struct fake_req other = *rq;
	struct rc_proto_rep_op rep = {.opcode = RC_OP_GET,
				      .status = RC_ST_NOT_FOUND};
	uint8_t out[64];

	(void)f;
	if (!is_key(rq, RC_OP_GET, "t"))
		return false;
	other.h.request_id ^= 0x5a5a5a5au;
	fake_send_raw(rq, out, fake_encode_reply(&other, 4096, &rep, 1, out,
						 sizeof(out)));
	return true;
}

static void test_hostile_unsolicited_partitions(void)
{
	char b[8];
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_unsolicited_partitions;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 0});
	CU_ASSERT_EQUAL(get_str(c, "t", b, sizeof(b), NULL), RC_ETIMEOUT);
	/* Nothing of it stayed: every later call works. */
	check_keys_work(c, "after", 12);
#ifdef RC_VERSION_MAJOR
	{
		struct rc_client_stats st;

		rc_client_get_stats(c, &st);
		CU_ASSERT_EQUAL(st.bad_reply[RC_BAD_ID], 1);
	}
#endif
	rc_client_destroy(c);
	fake_stop(&F);
}

struct wp_claim {
	const char *key;
	uint16_t partitions;
	int sent;
};

/* The first request for the key is answered WRONG_PARTITION with a
 * partition count of the scenario's choosing. */
static bool hook_wrong_partition_claim(struct fake *f, const struct fake_req *rq)
{
	struct wp_claim *w = f->arg;
	struct rc_proto_rep_op rep = {.opcode = rq->ops[0].opcode,
				      .status = RC_ST_WRONG_PARTITION};
	uint8_t out[64];

	if (w->sent || !is_key(rq, rq->ops[0].opcode, w->key))
		return false;
	w->sent = 1;
	fake_send_raw(rq, out, fake_encode_reply(rq, w->partitions, &rep, 1,
						 out, sizeof(out)));
	return true;
}

static void test_hostile_wrong_partition_4096(void)
{
	struct wp_claim w = {.key = "w", .partitions = 4096};
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_wrong_partition_claim;
	F.arg = &w;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, "w", "v", 1), RC_OK);
	CU_ASSERT_EQUAL(w.sent, 1);
	check_keys_work(c, "after", 12);
#ifdef RC_VERSION_MAJOR
	{
		struct rc_client_stats st;

		rc_client_get_stats(c, &st);
		CU_ASSERT_EQUAL(st.bad_reply[RC_BAD_ROUTING], 1);
	}
#endif
	rc_client_destroy(c);
	fake_stop(&F);
}

/* A matched WRONG_PARTITION with a believable but false count (64 for a
 * node of one partition): the next attempt finds no one on that port,
 * goes back to the base port, and nothing of it stays. */
static void test_hostile_wrong_partition_plausible(void)
{
	struct wp_claim w = {.partitions = 64};
	static char key[16];
	rc_client *c;

	for (unsigned i = 0;; i++) {
		snprintf(key, sizeof(key), "p%u", i);
		if (fake_partition(key, strlen(key), 64) != 0)
			break;
	}
	w.key = key;
	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_wrong_partition_claim;
	F.arg = &w;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, key, "v", 1), RC_OK);
	CU_ASSERT_EQUAL(w.sent, 1);
	check_keys_work(c, "after", 12);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* A node near the top of the port range told "64 partitions" for a key
 * whose partition then lands on port base + p = 65536, i.e. port 0. */
static void test_hostile_port_zero(void)
{
	const uint16_t hint[1] = {65530};
	struct wp_claim w = {.partitions = 64};
	static char key[16];
	unsigned want;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, hint), 0);
	want = 65536u - F.node[0].base;
	CU_ASSERT_FATAL(want < 64);
	for (unsigned i = 0;; i++) {
		snprintf(key, sizeof(key), "z%u", i);
		if (fake_partition(key, strlen(key), 64) == want)
			break;
	}
	w.key = key;
	F.hook = hook_wrong_partition_claim;
	F.arg = &w;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, key, "v", 1), RC_OK);
	CU_ASSERT_EQUAL(w.sent, 1);
	check_keys_work(c, "after", 8);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* With the answer to GET "a", segment 0 of 2-segment replies for the next
 * few request ids a predictable client would use. */
static bool hook_stale_segments(struct fake *f, const struct fake_req *rq)
{
	uint8_t seg[RC_PROTO_MAX_DATAGRAM];

	if (!is_key(rq, RC_OP_GET, "a"))
		return false;
	fake_serve(f, rq);
	for (uint32_t k = 1; k <= 4; k++) {
		struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
					 .flags = RC_PROTO_F_REPLY |
						  RC_PROTO_F_SEGMENTED,
					 .request_id = rq->h.request_id + k,
					 .n_ops = 1, .seg_count = 2,
					 .partitions = 1};

		memset(seg, 0x77, sizeof(seg));
		rc_proto_hdr_encode(seg, &h);
		fake_send_raw(rq, seg, sizeof(seg));
	}
	return true;
}

static void test_hostile_stale_segment_state(void)
{
	static char v[BIG], b[BIG];
	size_t len = 0;
	rc_client *c;

	memset(v, 'v', sizeof(v));
	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_stale_segments;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 3});
	CU_ASSERT_EQUAL(set_str(c, "big", v, sizeof(v)), RC_OK);
	CU_ASSERT_EQUAL(set_str(c, "a", "A", 1), RC_OK);
	CU_ASSERT_EQUAL(get_str(c, "a", b, sizeof(b), &len), RC_OK);
	/* Its three-segment reply must not collide with what was left. */
	CU_ASSERT_EQUAL(get_str(c, "big", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == BIG && memcmp(b, v, BIG) == 0);
	rc_client_destroy(c);
	fake_stop(&F);
}

/* Before the real answer to GET "m": the first segment of 1,024-segment
 * messages, for the request's id and for 16 others. */
static bool hook_hostile_memory(struct fake *f, const struct fake_req *rq)
{
	uint8_t seg[RC_PROTO_MAX_DATAGRAM];

	if (!is_key(rq, RC_OP_GET, "m"))
		return false;
	for (uint32_t k = 0; k <= 16; k++) {
		struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
					 .flags = RC_PROTO_F_REPLY |
						  RC_PROTO_F_SEGMENTED,
					 .request_id = rq->h.request_id + k,
					 .n_ops = 1,
					 .seg_count = RC_PROTO_MAX_SEGMENTS,
					 .partitions = 1};

		memset(seg, 0x66, sizeof(seg));
		rc_proto_hdr_encode(seg, &h);
		fake_send_raw(rq, seg, sizeof(seg));
	}
	fake_serve(f, rq);
	return true;
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void test_hostile_memory_released(void)
{
	char b[8];
	size_t len = 0, before, after;
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_hostile_memory;
	c = client_for(&(struct cl_opts){.n_servers = 1, .retries = 2});
	CU_ASSERT_EQUAL(set_str(c, "m", "M", 1), RC_OK);
	before = heap_in_use();
	CU_ASSERT_EQUAL(get_str(c, "m", b, sizeof(b), &len), RC_OK);
	CU_ASSERT(len == 1 && b[0] == 'M');
	after = heap_in_use();
	/* Under ASan mallinfo2 does not see the heap: both read the same. */
	CU_ASSERT(after < before + (256u << 10));
#ifdef RC_VERSION_MAJOR
	{
		struct rc_client_stats st;

		rc_client_get_stats(c, &st);
		CU_ASSERT_EQUAL(st.bad_reply[RC_BAD_ID], 16);
	}
#endif
	rc_client_destroy(c);
	fake_stop(&F);
}

/* A durable write answered NOT_REPLICATED only after the node's
 * repl.durable_timeout_ms (default 100 ms) and a little more. */
static bool hook_slow_durable(struct fake *f, const struct fake_req *rq)
{
	struct timespec ts = {0, 120 * 1000000L};
	struct rc_proto_rep_op rep = {.opcode = RC_OP_SET,
				      .status = RC_ST_NOT_REPLICATED};
	uint8_t out[64];

	(void)f;
	if (!(rq->h.flags & RC_PROTO_F_DURABLE))
		return false;
	nanosleep(&ts, NULL);
	fake_send_raw(rq, out, fake_encode_reply(rq, 1, &rep, 1, out,
						 sizeof(out)));
	return true;
}

static void test_fake_durable_default_timeout(void)
{
	const char *srv[1];
	char name[32];
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_slow_durable;
	fake_name(&F, 0, name, sizeof(name));
	srv[0] = name;
	/* Every timeout at its default. */
	c = rc_client_create(&(struct rc_client_config){
		.servers = srv, .n_servers = 1}, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(rc_set(c, "d", 1, "v", 1,
			       &(struct rc_set_opts){.durable = 1}, NULL),
			RC_ENOTREPLICATED);
	rc_client_destroy(c);
	fake_stop(&F);
}

struct dead_primary {
	bool dead;          /* node 0 answers nothing */
	unsigned refusals;  /* NOT_PRIMARY answers node 1 gives before it
			     * is promoted */
};

static bool hook_dead_primary(struct fake *f, const struct fake_req *rq)
{
	struct dead_primary *d = f->arg;

	if (rq->node == &f->node[0])
		return d->dead;
	if (rq->node->standby && rq->ops[0].opcode == RC_OP_SET &&
	    fake_partition(rq->ops[0].key, rq->ops[0].key_len,
			   rq->node->parts) == rq->part &&
	    d->refusals > 0 && --d->refusals == 0)
		rq->node->standby = false; /* promoted */
	return false;
}

/* The primary dies while its standby is still being promoted: every
 * timeout on a partition's port and every NOT_PRIMARY moves the pair,
 * and re-routes on the way must not use up the call. */
static void test_fake_failover_with_partitions(void)
{
	struct dead_primary d = {0};
	char key[16];
	rc_client *c;

	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 2, 2, NULL), 0);
	F.node[1].standby = true;
	F.hook = hook_dead_primary;
	F.arg = &d;
	for (unsigned i = 0;; i++) {
		snprintf(key, sizeof(key), "fo%u", i);
		if (fake_partition(key, strlen(key), 2) == 1)
			break;
	}
	c = client_for(&(struct cl_opts){.pair = true, .timeout_ms = 100});
	/* Learn the two partitions from the live primary. */
	CU_ASSERT_EQUAL(set_str(c, key, "v0", 2), RC_OK);
	fake_lock(&F);
	d.dead = true;
	d.refusals = 6;
	fake_unlock(&F);
	CU_ASSERT_EQUAL(set_str(c, key, "v1", 2), RC_OK);
	fake_lock(&F);
	CU_ASSERT_EQUAL(d.refusals, 0);
	fake_unlock(&F);
	rc_client_destroy(c);
	fake_stop(&F);
}

#ifdef RC_VERSION_MAJOR
static void test_version_and_out_params(void)
{
	char want[32], b[8] = "xxxxxxx";
	struct rc_item_meta m = {.flags = 7, .cas = 7};
	uint64_t cas = 99;
	size_t len = 99;
	rc_client *c;

	snprintf(want, sizeof(want), "%d.%d.%d", RC_VERSION_MAJOR,
		 RC_VERSION_MINOR, RC_VERSION_PATCH);
	CU_ASSERT_STRING_EQUAL(rc_version(), want);
	CU_ASSERT_STRING_EQUAL(RC_VERSION_STRING, want);
	CU_ASSERT_STRING_EQUAL(rc_bad_reply_name(RC_BAD_CONFLICT), "conflict");
	CU_ASSERT_STRING_EQUAL(rc_bad_reply_name(RC_BAD__COUNT), "unknown");
	/* What the out-parameters hold on errors (ringcache.h). */
	CU_ASSERT_EQUAL_FATAL(fake_start(&F, 1, 1, NULL), 0);
	F.hook = hook_silent;
	c = client_for(&(struct cl_opts){.n_servers = 1, .timeout_ms = 20});
	CU_ASSERT_EQUAL(rc_set(c, "o", 1, "v", 1, &(struct rc_set_opts){.cas = 5},
			       &cas), RC_ETIMEOUT);
	CU_ASSERT_EQUAL(cas, 0);
	CU_ASSERT_EQUAL(rc_get(c, "o", 1, b, sizeof(b), &len, &m), RC_ETIMEOUT);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT(m.flags == 0 && m.cas == 0);
	CU_ASSERT_STRING_EQUAL(b, "xxxxxxx");
	rc_client_destroy(c);
	fake_stop(&F);
}
#endif

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"hash ring balance and stability", test_ring_balance_and_stability},
		{"config errors", test_config_errors},
		{"timeouts and retries", test_timeout_and_retries},
		{"fake: PAD_REQUIRED", test_fake_pad_required},
		{"fake: WRONG_PARTITION", test_fake_wrong_partition},
		{"fake: NOT_PRIMARY fails over", test_fake_not_primary},
		{"fake: segmented request and reply", test_fake_segments},
		{"fake: lost reply retried", test_fake_lost_reply},
		{"fake: duplicated reply", test_fake_duplicated_reply},
		{"fake: two nodes on one address", test_fake_two_nodes_one_address},
		{"fake: CAS write not re-sent", test_fake_cas_not_resent},
		{"fake: fresh request id per retry", test_fake_ids_fresh_per_retry},
		{"fake: guessed request id rejected", test_fake_guessed_id_rejected},
		{"fake: durable default outlasts the node's", test_fake_durable_default_timeout},
		{"fake: failover with partitions", test_fake_failover_with_partitions},
		{"hostile: stitched segments", test_hostile_stitched_segments},
		{"hostile: wrong opcode in multi-get", test_hostile_wrong_opcode},
		{"hostile: unsolicited 4096 partitions", test_hostile_unsolicited_partitions},
		{"hostile: WRONG_PARTITION 4096", test_hostile_wrong_partition_4096},
		{"hostile: WRONG_PARTITION 64 (plausible, false)", test_hostile_wrong_partition_plausible},
		{"hostile: re-route to port 0", test_hostile_port_zero},
		{"hostile: stale segments left behind", test_hostile_stale_segment_state},
		{"hostile: reassembly memory released", test_hostile_memory_released},
#ifdef RC_VERSION_MAJOR
		{"version and out-parameters", test_version_and_out_params},
#endif
		{NULL, NULL},
	};
	return rc_test_run("client", cases);
}
