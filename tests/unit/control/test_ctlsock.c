/* SPDX-License-Identifier: MIT
 * The control socket (lib/control/ctlsock.c) driven by hand against real
 * Unix-socket clients: answers in order, the line limit at its edge, the
 * JSON item limit, late answers while other clients are served, a
 * reader that never reads (never blocks a serve; closed after the send
 * timeout), idle clients, half-closed clients. No daemon, no EAL. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc_ctlsock.h"
#include "rc_cunit.h"

#define MAX_LINE 4096u

static char path[108];
static unsigned calls;             /* requests the function saw */
static size_t last_len;
static uint64_t later_id;          /* the last request answered later */
static size_t big_answer;          /* answer this many bytes to "big" */

static char *fn(void *arg, uint64_t id, const char *line, size_t len)
{
	char *r;

	(void)arg;
	calls++;
	last_len = len;
	CU_ASSERT_EQUAL(strlen(line), len);
	if (strncmp(line, "later", 5) == 0) {
		later_id = id;
		return RC_CTLSOCK_LATER;
	}
	if (strcmp(line, "close") == 0)
		return NULL;
	if (strcmp(line, "big") == 0) {
		r = malloc(big_answer + 1);
		memset(r, 'b', big_answer);
		r[big_answer] = '\0';
		return r;
	}
	if (asprintf(&r, "echo %.*s", (int)(len < 40 ? len : 40), line) < 0)
		return NULL;
	return r;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static struct rc_ctlsock *open_sock(unsigned clients)
{
	struct rc_ctlsock *cs;

	snprintf(path, sizeof(path), "/tmp/rc_ctlsock_test.%d", getpid());
	cs = rc_ctlsock_open(path, 0600, clients, MAX_LINE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cs);
	rc_ctlsock_set_max_items(cs, 64);
	calls = 0;
	return cs;
}

static int client(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	CU_ASSERT_FATAL(fd >= 0 &&
			connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	CU_ASSERT_EQUAL(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Serve until fd has a whole line to read (or 5 s); return it. */
static char *answer(struct rc_ctlsock *cs, int fd)
{
	static char buf[1 << 16];
	size_t len = 0;
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < 5000000000ull) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *nl;

		rc_ctlsock_poll(cs, 1, fn, NULL);
		if (poll(&p, 1, 0) != 1)
			continue;
		ssize_t k = recv(fd, buf + len, 1, 0); /* never past the line */
		if (k <= 0)
			return k == 0 ? "EOF" : "ERROR";
		len += (size_t)k;
		buf[len] = '\0';
		if ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			return buf;
		}
		if (len + 2 >= sizeof(buf))
			return "TOO LONG";
	}
	return "TIMEOUT";
}

static void pump(struct rc_ctlsock *cs, unsigned n)
{
	while (n--)
		rc_ctlsock_poll(cs, 0, fn, NULL);
}

static void test_in_order(void)
{
	struct rc_ctlsock *cs = open_sock(4);
	int a = client();

	send_str(a, "one\ntwo\nthree\n");
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "echo one");
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "echo two");
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "echo three");
	CU_ASSERT_EQUAL(calls, 3);
	close(a);
	rc_ctlsock_close(cs);
}

/* A line of exactly max_line bytes is served; one byte more is refused
 * with a clear answer, counted, never handed to the function, and the
 * same connection serves the next line. */
static void test_line_edge(void)
{
	struct rc_ctlsock *cs = open_sock(4);
	struct rc_ctlsock_stats st;
	char *line = malloc(MAX_LINE + 3);
	int a = client();
	char *r;

	memset(line, 'x', MAX_LINE);
	line[MAX_LINE] = '\n';
	line[MAX_LINE + 1] = '\0';
	send_str(a, line);
	CU_ASSERT_STRING_EQUAL(answer(cs, a) + 5, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	CU_ASSERT_EQUAL(last_len, MAX_LINE);
	CU_ASSERT_EQUAL(calls, 1);
	memset(line, 'y', MAX_LINE + 1);
	line[MAX_LINE + 1] = '\n';
	line[MAX_LINE + 2] = '\0';
	send_str(a, line);
	send_str(a, "after\n");
	r = answer(cs, a);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\"code\":\"too_long\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "4096 bytes"));
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "echo after");
	CU_ASSERT_EQUAL(calls, 2); /* the long line never reached fn */
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.too_long, 1);
	free(line);
	close(a);
	rc_ctlsock_close(cs);
}

/* A line many times the limit, sent without pause: refused as soon as it
 * passes the limit, read and dropped a chunk per serve (no serve reads
 * more than RC_CTLSOCK_READ_CHUNK), and the connection lives on. */
static void test_huge_line(void)
{
	struct rc_ctlsock *cs = open_sock(4);
	struct rc_ctlsock_stats st;
	const size_t big = 64 * MAX_LINE;
	char *line = malloc(big + 1);
	int a = client(), b = client();
	size_t off = 0;
	char *r;

	memset(line, 'x', big);
	line[big] = '\n';
	fcntl(a, F_SETFL, O_NONBLOCK);
	while (off < big + 1) {
		ssize_t k = send(a, line + off, big + 1 - off, MSG_NOSIGNAL);

		if (k > 0)
			off += (size_t)k;
		/* Another client is answered while the flood goes on. */
		send_str(b, "ping\n");
		CU_ASSERT_STRING_EQUAL(answer(cs, b), "echo ping");
	}
	fcntl(a, F_SETFL, 0);
	send_str(a, "after\n");
	r = answer(cs, a);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\"code\":\"too_long\""));
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "echo after");
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.too_long, 1);
	free(line);
	close(a);
	close(b);
	rc_ctlsock_close(cs);
}

/* JSON structure outside strings counts; inside strings it does not. */
static void test_items(void)
{
	struct rc_ctlsock *cs = open_sock(4);
	struct rc_ctlsock_stats st;
	char line[1024], *p = line;
	int a = client();

	/* 64 tokens: '{', then 32 ':' and 31 ','; served. */
	p += sprintf(p, "{");
	for (int i = 0; i < 32; i++)
		p += sprintf(p, "%s\"k\":1", i ? "," : "");
	sprintf(p, "}\n");
	send_str(a, line);
	CU_ASSERT_PTR_NULL(strstr(answer(cs, a), "too_long"));
	/* One more pair: 66, refused. */
	sprintf(p, ",\"k\":1}\n");
	send_str(a, line);
	CU_ASSERT_PTR_NOT_NULL(strstr(answer(cs, a), "JSON items"));
	/* Braces, commas and escaped quotes inside a string are text. */
	send_str(a, "{\"v\":\"{{{{,,,,::::[[[[\\\"{{{{,,,,::::{{{{,,,,::::"
		    "{{{{,,,,::::{{{{,,,,::::{{{{,,,,::::{{{{,,,,::::{{{{"
		    ",,,,::::{{{{,,,,::::{{{{,,,,::::{{{{\"}\n");
	CU_ASSERT_PTR_NULL(strstr(answer(cs, a), "too_long"));
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.too_complex, 1);
	CU_ASSERT_EQUAL(st.too_long, 0);
	close(a);
	rc_ctlsock_close(cs);
}

/* A request answered later: its connection waits (its next line is not
 * served before the answer), others are served meanwhile, the answer
 * arrives when given. An answer for a client that left is orphaned. */
static void test_later(void)
{
	struct rc_ctlsock *cs = open_sock(4);
	struct rc_ctlsock_stats st;
	int a = client(), b = client();
	uint64_t id;

	send_str(a, "later 1\nnext\n");
	pump(cs, 20);
	CU_ASSERT_EQUAL(calls, 1);
	id = later_id;
	send_str(b, "meanwhile\n");
	CU_ASSERT_STRING_EQUAL(answer(cs, b), "echo meanwhile");
	CU_ASSERT_EQUAL(calls, 2); /* "next" waits behind "later 1" */
	CU_ASSERT_EQUAL(rc_ctlsock_answer(cs, id, strdup("late answer")), 0);
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "late answer");
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "echo next");
	/* The same id again: nothing waits on it any more. */
	CU_ASSERT_EQUAL(rc_ctlsock_answer(cs, id, strdup("x")), -ENOENT);
	/* A client that leaves while its request is pending. */
	send_str(b, "later 2\n");
	pump(cs, 20);
	id = later_id;
	close(b);
	pump(cs, 5);
	b = client(); /* may take the same slot: a new generation */
	pump(cs, 5);
	CU_ASSERT_EQUAL(rc_ctlsock_answer(cs, id, strdup("gone")), 0 /* the
			old connection is still open on our side */);
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.deferred, 2);
	close(a);
	close(b);
	rc_ctlsock_close(cs);
}

/* A waiting connection whose client closed gets no answer, and a new
 * client in its slot never receives the old one's. */
static void test_orphan(void)
{
	struct rc_ctlsock *cs = open_sock(1);
	struct rc_ctlsock_stats st;
	int a = client(), b;
	uint64_t id;

	rc_ctlsock_set_idle_timeout(cs, 60000);
	send_str(a, "later\n");
	pump(cs, 20);
	id = later_id;
	/* Full (1 slot) and a's request pending: a is not quiet, so the
	 * newcomer is refused rather than a evicted. */
	b = client();
	CU_ASSERT_PTR_NOT_NULL(strstr(answer(cs, b), "too many"));
	close(b);
	CU_ASSERT_EQUAL(rc_ctlsock_answer(cs, id, strdup("done")), 0);
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "done");
	close(a);
	pump(cs, 20); /* a's close seen: the slot is free */
	b = client();
	send_str(b, "later\n");
	pump(cs, 20);
	CU_ASSERT_EQUAL(rc_ctlsock_answer(cs, id, strdup("stale")), -ENOENT);
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.orphaned, 1);
	close(b);
	rc_ctlsock_close(cs);
}

/* A client that sends requests with large answers and never reads: no
 * serve waits on it, others are answered, and it is closed once it has
 * taken nothing for the send timeout. */
static void test_stuck_reader(void)
{
	struct rc_ctlsock *cs = open_sock(4);
	struct rc_ctlsock_stats st;
	int a = client(), b = client(), rcv = 4096;
	uint64_t t0, worst = 0;
	char r[8];

	big_answer = 8u << 20;
	rc_ctlsock_set_send_timeout(cs, 300);
	setsockopt(a, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	send_str(a, "big\nbig\nbig\n");
	t0 = now_ns();
	while (now_ns() - t0 < 2000000000ull) {
		uint64_t s = now_ns();

		rc_ctlsock_poll(cs, 1, fn, NULL);
		if (now_ns() - s > worst)
			worst = now_ns() - s;
		rc_ctlsock_get_stats(cs, &st);
		if (st.stalled)
			break;
	}
	send_str(b, "still here\n");
	CU_ASSERT_STRING_EQUAL(answer(cs, b), "echo still here");
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.stalled, 1);
	CU_ASSERT_EQUAL(calls, 2); /* one big answer held, nothing more read */
	/* A serve never waited for the reader (1 ms poll + a copy). */
	CU_ASSERT_TRUE(worst < 200000000ull);
	/* a is closed: reading drains what was sent, then EOF or reset. */
	fcntl(a, F_SETFL, O_NONBLOCK);
	while (recv(a, r, sizeof(r), 0) > 0)
		;
	close(a);
	close(b);
	rc_ctlsock_close(cs);
}

/* A client that sends its request then shuts its side still gets the
 * answer; then it is closed. */
static void test_half_close(void)
{
	struct rc_ctlsock *cs = open_sock(2);
	int a = client();

	send_str(a, "hello\n");
	shutdown(a, SHUT_WR);
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "echo hello");
	CU_ASSERT_STRING_EQUAL(answer(cs, a), "EOF");
	close(a);
	rc_ctlsock_close(cs);
}

/* Idle clients are closed after the idle timeout; a waiting one is not. */
static void test_idle(void)
{
	struct rc_ctlsock *cs = open_sock(4);
	struct rc_ctlsock_stats st;
	int a = client(), b = client();
	uint64_t t0;

	rc_ctlsock_set_idle_timeout(cs, 100);
	send_str(b, "later\n");
	t0 = now_ns();
	do {
		rc_ctlsock_poll(cs, 5, fn, NULL);
		rc_ctlsock_get_stats(cs, &st);
	} while (!st.idle_closed && now_ns() - t0 < 5000000000ull);
	CU_ASSERT_EQUAL(st.idle_closed, 1);
	t0 = now_ns(); /* 200 ms more: b waits, it is not idle */
	while (now_ns() - t0 < 200000000ull)
		rc_ctlsock_poll(cs, 5, fn, NULL);
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.idle_closed, 1);
	CU_ASSERT_EQUAL(rc_ctlsock_answer(cs, later_id, strdup("ok")), 0);
	CU_ASSERT_STRING_EQUAL(answer(cs, b), "ok");
	close(a);
	close(b);
	rc_ctlsock_close(cs);
}

/* A flood of silent connections into a full socket evicts silent ones,
 * never the client that is working. */
static void test_evict_silent_first(void)
{
	struct rc_ctlsock *cs = open_sock(3);
	struct rc_ctlsock_stats st;
	int worker = client(), idle[6];

	rc_ctlsock_set_idle_timeout(cs, 60000);
	send_str(worker, "hello\n");
	CU_ASSERT_STRING_EQUAL(answer(cs, worker), "echo hello");
	for (int i = 0; i < 6; i++) {
		idle[i] = client();
		pump(cs, 3);
	}
	rc_ctlsock_get_stats(cs, &st);
	CU_ASSERT_EQUAL(st.evicted, 4);
	send_str(worker, "still\n");
	CU_ASSERT_STRING_EQUAL(answer(cs, worker), "echo still");
	for (int i = 0; i < 6; i++)
		close(idle[i]);
	close(worker);
	rc_ctlsock_close(cs);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"answers in order", test_in_order},
		{"line limit at its edge", test_line_edge},
		{"a huge line is refused, others served", test_huge_line},
		{"JSON item limit outside strings", test_items},
		{"late answers keep order", test_later},
		{"late answer for a gone client", test_orphan},
		{"a reader that never reads", test_stuck_reader},
		{"half-closed client answered", test_half_close},
		{"idle clients closed, waiting ones kept", test_idle},
		{"silent connections evicted first", test_evict_silent_first},
		{NULL, NULL},
	};
	return rc_test_run("ctlsock", cases);
}
