/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "rc_http.h"

/* A scrape takes milliseconds: a client idle this long is cut, so slow
 * clients (one header line every few seconds) cannot hold the slots. */
#define CONN_TIMEOUT_S 2

struct rc_http {
	struct MHD_Daemon *d;
	rc_http_render_fn fn;
	void *arg;
	bool started;
	char start_err[160];         /* libmicrohttpd's words while starting */
	struct rc_http_stats st;     /* written by the server's thread */
};

/* libmicrohttpd's own messages: while starting, kept for the one error
 * line rc_http_start's caller prints; afterwards, to stderr. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct rc_http *h = cls;
	char msg[160];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
		msg[--n] = '\0';
	if (!__atomic_load_n(&h->started, __ATOMIC_ACQUIRE))
		snprintf(h->start_err, sizeof(h->start_err), "%s", msg);
	else
		fprintf(stderr, "metrics endpoint (libmicrohttpd): %s\n", msg);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **state, enum MHD_RequestTerminationCode toe)
{
	struct rc_http *h = cls;

	(void)state;
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		__atomic_add_fetch(&h->st.served, 1, __ATOMIC_RELAXED);
		/* Answered: its close is not a cut. */
		if (ci)
			*(void **)ci->socket_context = NULL;
	}
}

static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct rc_http *h = cls;

	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		__atomic_add_fetch(&h->st.connections, 1, __ATOMIC_RELAXED);
		*socket_context = h; /* no answer yet */
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		/* Closed with nothing answered: a slow or idle client cut
		 * by the timeout, or one that gave up. */
		__atomic_add_fetch(&h->st.timeouts, 1, __ATOMIC_RELAXED);
	}
}

void rc_http_get_stats(const struct rc_http *h, struct rc_http_stats *st)
{
	st->served = __atomic_load_n(&h->st.served, __ATOMIC_RELAXED);
	st->timeouts = __atomic_load_n(&h->st.timeouts, __ATOMIC_RELAXED);
	st->connections = __atomic_load_n(&h->st.connections,
					  __ATOMIC_RELAXED);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code,
			     const char *type, char *body, bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(body), body,
		owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	struct rc_http *h = cls;
	char *body;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     (char *)"only GET\n", false);
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
			     (char *)"ringcached: metrics are at /metrics\n",
			     false);
	body = h->fn(h->arg);
	if (!body)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			     "text/plain", (char *)"render failed\n", false);
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", body,
		     true);
}

struct rc_http *rc_http_start(const char *listen, unsigned max_conns,
			      rc_http_render_fn fn, void *arg, char *err,
			      size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strrchr(listen, ':');
	unsigned long port;
	char *end;
	struct rc_http *h;

	if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(err, errlen, "'%s': want ADDRESS:PORT", listen);
		return NULL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "'%s': want an IPv4 address and a port "
			 "1..65535", listen);
		return NULL;
	}
	sa.sin_port = htons((uint16_t)port);
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->fn = fn;
	h->arg = arg;
	h->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
		(uint16_t)port, NULL, NULL, on_request, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_LIMIT, max_conns,
		/* One source takes at most a quarter of the slots: a
		 * scraper elsewhere always finds one. */
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		max_conns >= 8 ? max_conns / 4 : 2u,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_END);
	if (!h->d) {
		int e = errno ? errno : EADDRINUSE;

		if (h->start_err[0])
			snprintf(err, errlen, "cannot listen on %s (libmicrohttpd: "
				 "%s)", listen, h->start_err);
		else
			snprintf(err, errlen, "cannot listen on %s: %s", listen,
				 strerror(e));
		free(h);
		return NULL;
	}
	__atomic_store_n(&h->started, true, __ATOMIC_RELEASE);
	return h;
}

void rc_http_stop(struct rc_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
