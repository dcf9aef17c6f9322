/* SPDX-License-Identifier: MIT
 * The metrics endpoint: libmicrohttpd on the management address, serving
 * GET /metrics (Prometheus text exposition 0.0.4) from a callback. The
 * server runs on its own libmicrohttpd thread; the callback must take
 * whatever lock guards the data it renders. No DPDK. */
#ifndef RC_HTTP_H
#define RC_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Render the body: a malloc'd string (NULL: 500). */
typedef char *(*rc_http_render_fn)(void *arg);

struct rc_http;

/* listen: "a.b.c.d:port". max_conns bounds concurrent connections.
 * @return NULL with err saying why (bad address, port in use...). */
struct rc_http *rc_http_start(const char *listen, unsigned max_conns,
			      rc_http_render_fn fn, void *arg, char *err,
			      size_t errlen);
void rc_http_stop(struct rc_http *h);

/* Connections accepted, scrapes answered, connections closed with no
 * answer (cut for idling CONN_TIMEOUT_S, see http.c, or given up by the
 * client). Beyond max_conns, or a quarter of them from one address,
 * connections are refused by libmicrohttpd and not counted here. */
struct rc_http_stats {
	uint64_t connections, served, timeouts;
};
void rc_http_get_stats(const struct rc_http *h, struct rc_http_stats *st);

#endif
