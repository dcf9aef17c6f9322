/* SPDX-License-Identifier: MIT
 * lib/client without a server: consistent hashing, config errors, local
 * limit checks, timeouts against a silent local socket. No EAL. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rc_cunit.h"

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

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"hash ring balance and stability", test_ring_balance_and_stability},
		{"config errors", test_config_errors},
		{"timeouts and retries", test_timeout_and_retries},
		{NULL, NULL},
	};
	return rc_test_run("client", cases);
}
