/* SPDX-License-Identifier: MIT
 * The control socket: a Unix stream socket file owned by the daemon, with
 * the permissions it is given. Clients send one request per line and get
 * one response per line, in order. Driven from the control loop with
 * poll(): nothing here runs on its own thread, and nothing here blocks.
 *
 * Bounded, so that no client can hold the loop:
 * - at most max_clients connections (a full socket closes its quietest
 *   idle connection for a new one when an idle timeout is set);
 * - a request line holds at most max_line bytes and max_items JSON
 *   structure tokens ('{', '[', ',' and ':' outside strings), counted as
 *   the bytes arrive; a line past either is answered
 *   {"ok":false,"code":"too_long"} without being parsed, the rest of it
 *   is read and discarded, and the connection serves the next line;
 * - each serve reads at most RC_CTLSOCK_READ_CHUNK bytes and answers at
 *   most one request per connection;
 * - a connection holds one answer at a time: it is written without
 *   blocking, the next request is not read until it is out, and a client
 *   that takes none of it for the send timeout is closed (counted).
 * A request may be answered later (RC_CTLSOCK_LATER): the connection then
 * waits, in order, while the loop serves everyone else.
 * No DPDK, no JSON parser: lines in, lines out. */
#ifndef RC_CTLSOCK_H
#define RC_CTLSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RC_CTLSOCK_READ_CHUNK 65536u  /* bytes per connection per serve */

/* What a request function returns instead of an answer when it will
 * answer with rc_ctlsock_answer() later. */
extern char rc_ctlsock_later[];
#define RC_CTLSOCK_LATER (rc_ctlsock_later)

/* Answer one request line (without its '\n'). id names the request for
 * rc_ctlsock_answer(). Returns a malloc'd response without '\n' (the
 * socket adds it), RC_CTLSOCK_LATER, or NULL to close the connection. */
typedef char *(*rc_ctlsock_fn)(void *arg, uint64_t id, const char *line,
			       size_t len);

struct rc_ctlsock_stats {
	uint64_t accepted, requests, refused, write_failed;
	uint64_t too_long;     /* lines over max_line, refused unread */
	uint64_t too_complex;  /* lines over max_items, refused unread */
	uint64_t stalled;      /* took no answer byte for the send timeout */
	uint64_t idle_closed;  /* quiet longer than the idle timeout */
	uint64_t evicted;      /* the quietest, to make room for a new one */
	uint64_t deferred;     /* requests answered later */
	uint64_t orphaned;     /* late answers whose client had gone */
};

struct rc_ctlsock;

/* Create and listen on path (an old socket file there is replaced; any
 * other file is an error). mode as for chmod, e.g. 0660. max_line:
 * bytes per request line, without the '\n' (at least 64).
 * @return NULL with errno set. */
struct rc_ctlsock *rc_ctlsock_open(const char *path, mode_t mode,
				   unsigned max_clients, size_t max_line);

/* Wait at most timeout_us for a connection to have something to do (at
 * once if one already has), then do it: accept, read, answer, write.
 * = rc_ctlsock_wait + rc_ctlsock_serve. @return requests answered or
 * deferred. */
unsigned rc_ctlsock_poll(struct rc_ctlsock *cs, int timeout_ms,
			 rc_ctlsock_fn fn, void *arg);

/* The two halves of rc_ctlsock_poll, so a caller can time the work apart
 * from the wait. @return wait: >0 if there is work; serve: requests. */
int rc_ctlsock_wait(struct rc_ctlsock *cs, long timeout_us);
unsigned rc_ctlsock_serve(struct rc_ctlsock *cs, rc_ctlsock_fn fn,
			  void *arg);

/* Answer request id (given to rc_ctlsock_fn, which returned
 * RC_CTLSOCK_LATER) with resp (malloc'd, without '\n'; taken over in
 * every case). Written without blocking; the connection then reads its
 * next request. @return 0, or -ENOENT if its client has gone (counted
 * as orphaned). */
int rc_ctlsock_answer(struct rc_ctlsock *cs, uint64_t id, char *resp);

/* Close connections quiet for more than ms (0: never, the default);
 * with it set, a full socket closes its quietest connection to take a
 * new one instead of refusing it. A connection waiting for a late answer
 * is not quiet. */
void rc_ctlsock_set_idle_timeout(struct rc_ctlsock *cs, unsigned ms);

/* Close a connection whose client takes no byte of its answer for ms
 * (default 5000). */
void rc_ctlsock_set_send_timeout(struct rc_ctlsock *cs, unsigned ms);

/* JSON structure tokens allowed in one line (0: no limit, the default). */
void rc_ctlsock_set_max_items(struct rc_ctlsock *cs, unsigned n);

void rc_ctlsock_get_stats(const struct rc_ctlsock *cs,
			  struct rc_ctlsock_stats *st);

/* Close every connection and remove the socket file. */
void rc_ctlsock_close(struct rc_ctlsock *cs);

#endif
