/* SPDX-License-Identifier: MIT
 * The control socket: a Unix stream socket file owned by the daemon, with
 * the permissions it is given. Clients send one request per line and get
 * one response per line, in order. Driven from the control loop with
 * poll(): nothing here runs on its own thread. Bounded: at most
 * max_clients connections and max_line bytes per request; a client past
 * either is closed (counted). No DPDK, no JSON: lines in, lines out. */
#ifndef RC_CTLSOCK_H
#define RC_CTLSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Answer one request line (without its '\n'). Returns a malloc'd
 * response without '\n' (the socket adds it), or NULL to close. */
typedef char *(*rc_ctlsock_fn)(void *arg, const char *line, size_t len);

struct rc_ctlsock_stats {
	uint64_t accepted, requests, refused, too_long, write_failed;
	uint64_t idle_closed;  /* quiet longer than the idle timeout */
	uint64_t evicted;      /* the quietest, to make room for a new one */
};

struct rc_ctlsock;

/* Create and listen on path (an old socket file there is replaced; any
 * other file is an error). mode as for chmod, e.g. 0660.
 * @return NULL with errno set. */
struct rc_ctlsock *rc_ctlsock_open(const char *path, mode_t mode,
				   unsigned max_clients, size_t max_line);

/* Serve what is ready, waiting at most timeout_ms for something to be.
 * @return requests answered. */
unsigned rc_ctlsock_poll(struct rc_ctlsock *cs, int timeout_ms,
			 rc_ctlsock_fn fn, void *arg);

/* Close connections quiet for more than ms (0: never, the default);
 * with it set, a full socket closes its quietest connection to take a
 * new one instead of refusing it. */
void rc_ctlsock_set_idle_timeout(struct rc_ctlsock *cs, unsigned ms);

void rc_ctlsock_get_stats(const struct rc_ctlsock *cs,
			  struct rc_ctlsock_stats *st);

/* Close every connection and remove the socket file. */
void rc_ctlsock_close(struct rc_ctlsock *cs);

#endif
