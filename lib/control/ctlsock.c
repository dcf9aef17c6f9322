/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc_ctlsock.h"

#define SEND_TIMEOUT_MS 5000 /* a client that takes no answer byte */
#define NO_LINE SIZE_MAX

char rc_ctlsock_later[] = "(answered later)";

struct conn {
	int fd;
	uint32_t gen;          /* bumped per client: late answers find theirs */
	short rev;             /* poll's revents, for this serve */
	bool eof;              /* the client shut its side */
	bool waiting;          /* a request answered later */
	bool skip;             /* discarding a refused line up to its '\n' */
	bool in_str, esc;      /* the scanner: in a JSON string, after '\' */
	bool asked;            /* has sent a request */
	char *in;              /* received, not served yet */
	size_t len, cap;
	size_t scan;           /* in[0, scan) scanned: no '\n' in it */
	size_t items;          /* structure tokens in in[0, scan) */
	size_t nl;             /* a whole line in[0, nl); or NO_LINE */
	char *out;             /* the answer being written */
	size_t out_len, out_off;
	uint64_t last_ms;      /* last byte in or answer byte out */
	uint64_t out_ms;       /* last progress on out */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct rc_ctlsock {
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned max_clients;
	size_t max_line;
	unsigned max_items;    /* 0: no limit */
	uint64_t idle_ms;      /* 0: connections may idle forever */
	uint64_t send_ms;
	struct conn *c;
	struct pollfd *pfd;
	struct rc_ctlsock_stats st;
};

struct rc_ctlsock *rc_ctlsock_open(const char *path, mode_t mode,
				   unsigned max_clients, size_t max_line)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct rc_ctlsock *cs;
	struct stat sb;
	mode_t old;
	int e;

	if (strlen(path) >= sizeof(sa.sun_path) || max_clients == 0 ||
	    max_line < 64) {
		errno = EINVAL;
		return NULL;
	}
	/* Replace a stale socket from an earlier run; never a file, nor a
	 * socket another daemon still answers on. */
	if (lstat(path, &sb) == 0) {
		int probe;

		if (!S_ISSOCK(sb.st_mode)) {
			errno = EEXIST;
			return NULL;
		}
		strcpy(sa.sun_path, path);
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		e = probe >= 0 && connect(probe, (struct sockaddr *)&sa,
					  sizeof(sa)) == 0;
		if (probe >= 0)
			close(probe);
		if (e) {
			errno = EADDRINUSE;
			return NULL;
		}
		unlink(path);
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->c = calloc(max_clients, sizeof(*cs->c));
	cs->pfd = calloc(max_clients + 1, sizeof(*cs->pfd));
	cs->max_clients = max_clients;
	cs->max_line = max_line;
	cs->send_ms = SEND_TIMEOUT_MS;
	strcpy(sa.sun_path, path);
	strcpy(cs->path, path);
	cs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0);
	if (!cs->c || !cs->pfd || cs->lfd < 0)
		goto fail;
	for (unsigned i = 0; i < max_clients; i++)
		cs->c[i] = (struct conn){.fd = -1, .nl = NO_LINE};
	/* Born with no more than the mode asked for: no window in which
	 * the umask's wider default lets someone connect. */
	old = umask((mode_t)(~mode & 0777));
	e = bind(cs->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (e != 0 || chmod(path, mode) != 0 || listen(cs->lfd, 16) != 0)
		goto fail;
	return cs;
fail:
	e = errno;
	if (cs->lfd >= 0) {
		close(cs->lfd);
		unlink(path);
	}
	free(cs->c);
	free(cs->pfd);
	free(cs);
	errno = e;
	return NULL;
}


static void conn_reset(struct conn *c)
{
	c->in_str = c->esc = false;
	c->scan = c->items = 0;
	c->nl = NO_LINE;
}

static void drop(struct conn *c)
{
	uint32_t gen = c->gen;

	close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct conn){.fd = -1, .gen = gen + 1, .nl = NO_LINE};
}

static bool out_pending(const struct conn *c)
{
	return c->out != NULL;
}

/* A line can be served now (or the client has gone and can be closed). */
static bool servable(const struct conn *c)
{
	return !c->waiting && !out_pending(c) && !c->skip &&
	       (c->nl != NO_LINE || c->eof);
}

static void accept_all(struct rc_ctlsock *cs)
{
	for (;;) {
		int fd = accept4(cs->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		unsigned i;

		if (fd < 0)
			return;
		for (i = 0; i < cs->max_clients && cs->c[i].fd >= 0; i++)
			;
		if (i == cs->max_clients && cs->idle_ms) {
			/* Full: the connection quiet the longest makes room,
			 * so idle clients never lock an operator out; first
			 * one that never sent a request (a flood of silent
			 * connections never evicts a working client). One
			 * waiting for a command's answer is not quiet. */
			unsigned old = cs->max_clients;

			for (unsigned k = 0; k < cs->max_clients; k++) {
				const struct conn *o = &cs->c[old], *n = &cs->c[k];

				if (n->waiting)
					continue;
				if (old == cs->max_clients ||
				    (!n->asked && o->asked) ||
				    (n->asked == o->asked &&
				     n->last_ms < o->last_ms))
					old = k;
			}
			if (old < cs->max_clients) {
				drop(&cs->c[old]);
				cs->st.evicted++;
				i = old;
			}
		}
		if (i == cs->max_clients) {
			static const char busy[] =
				"{\"ok\":false,\"error\":\"too many control "
				"connections\",\"code\":\"busy\"}\n";

			cs->st.refused++;
			if (send(fd, busy, sizeof(busy) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				cs->st.write_failed++;
			close(fd);
			continue;
		}
		cs->st.accepted++;
		cs->c[i].fd = fd;
		cs->c[i].gen++;
		cs->c[i].last_ms = mono_ms();
	}
}

/* Write what the socket takes of c's answer, never waiting.
 * @return -1 to close. */
static int flush_out(struct rc_ctlsock *cs, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t k = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k > 0) {
			c->out_off += (size_t)k;
			c->out_ms = c->last_ms = mono_ms();
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		cs->st.write_failed++;
		return -1;
	}
	free(c->out);
	c->out = NULL;
	return 0;
}

/* Make resp (malloc'd, no '\n') c's answer and start writing it.
 * @return -1 to close. */
static int queue_out(struct rc_ctlsock *cs, struct conn *c, char *resp)
{
	size_t len = strlen(resp);
	char *b = realloc(resp, len + 1);

	if (!b) {
		free(resp);
		return -1;
	}
	b[len] = '\n';
	c->out = b;
	c->out_len = len + 1;
	c->out_off = 0;
	c->out_ms = mono_ms();
	return flush_out(cs, c);
}

/* Refuse the line being received: answer now, discard it up to its
 * '\n'. @return -1 to close. */
static int refuse(struct rc_ctlsock *cs, struct conn *c, bool complex)
{
	char msg[256];

	if (complex) {
		cs->st.too_complex++;
		snprintf(msg, sizeof(msg),
			 "{\"ok\":false,\"error\":\"request line over %u "
			 "JSON items: refused unread (send fewer records "
			 "per request)\",\"code\":\"too_long\"}",
			 cs->max_items);
	} else {
		cs->st.too_long++;
		snprintf(msg, sizeof(msg),
			 "{\"ok\":false,\"error\":\"request line over %zu "
			 "bytes (control.max_line): refused unread\","
			 "\"code\":\"too_long\"}", cs->max_line);
	}
	/* The rest of the buffer is part of the refused line until a '\n'
	 * turns up: the scanner, in skip mode, finds it. */
	c->skip = true;
	conn_reset(c);
	return queue_out(cs, c, strdup(msg));
}

/* Scan what arrived for the end of the line, counting bytes and JSON
 * structure tokens; refuse a line over either limit as soon as it is.
 * @return -1 to close. */
static int scan(struct rc_ctlsock *cs, struct conn *c)
{
	if (c->skip) {
		char *nl = memchr(c->in, '\n', c->len);

		if (!nl) {
			c->len = 0;
			return 0;
		}
		c->len -= (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->len);
		c->skip = false;
		conn_reset(c);
	}
	if (c->nl != NO_LINE || c->waiting || out_pending(c))
		return 0;
	for (size_t i = c->scan; i < c->len; i++) {
		const char ch = c->in[i];

		if (ch == '\n') {
			c->nl = i;
			break;
		}
		if (!cs->max_items)
			continue;
		if (c->in_str) {
			if (c->esc)
				c->esc = false;
			else if (ch == '\\')
				c->esc = true;
			else if (ch == '"')
				c->in_str = false;
		} else if (ch == '"') {
			c->in_str = true;
		} else if (ch == '{' || ch == '[' || ch == ',' || ch == ':') {
			if (++c->items > cs->max_items)
				return refuse(cs, c, true);
		}
	}
	if (c->nl == NO_LINE) {
		c->scan = c->len;
		if (c->len > cs->max_line)
			return refuse(cs, c, false);
	} else if (c->nl > cs->max_line) {
		return refuse(cs, c, false);
	}
	return 0;
}

/* Read at most one chunk. @return -1 to close. */
static int read_some(struct conn *c)
{
	size_t room = RC_CTLSOCK_READ_CHUNK;
	ssize_t k;

	if (c->cap - c->len < room) {
		/* At most one line over the limit, plus one chunk. */
		size_t cap = c->cap ? c->cap : 16384;
		char *b;

		while (cap - c->len < room)
			cap *= 2;
		b = realloc(c->in, cap);
		if (!b)
			return -1;
		c->in = b;
		c->cap = cap;
	}
	k = read(c->fd, c->in + c->len, room);
	if (k == 0) {
		c->eof = true;
		return 0;
	}
	if (k < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	c->len += (size_t)k;
	c->last_ms = mono_ms();
	return 0;
}

/* Serve one request: the line in[0, nl). @return -1 to close. */
static int serve_line(struct rc_ctlsock *cs, struct conn *c, unsigned slot,
		      unsigned *n, rc_ctlsock_fn fn, void *arg)
{
	const size_t l = c->nl;
	const uint64_t id = (uint64_t)c->gen << 32 | slot;
	char *resp;

	c->in[l] = '\0';
	c->asked = true;
	resp = fn(arg, id, c->in, l);
	cs->st.requests++;
	(*n)++;
	c->len -= l + 1;
	memmove(c->in, c->in + l + 1, c->len);
	conn_reset(c);
	if (!resp)
		return -1;
	if (resp == RC_CTLSOCK_LATER) {
		c->waiting = true;
		cs->st.deferred++;
		return 0;
	}
	return queue_out(cs, c, resp);
}

/* One connection's turn. @return -1 to close. */
static int serve_conn(struct rc_ctlsock *cs, struct conn *c, unsigned slot,
		      unsigned *n, rc_ctlsock_fn fn, void *arg)
{
	if (out_pending(c) && flush_out(cs, c) != 0)
		return -1;
	if ((c->rev & POLLIN) && read_some(c) != 0)
		return -1;
	if ((c->rev & (POLLERR | POLLHUP)) && !(c->rev & POLLIN))
		return -1; /* gone: nothing more can be read or written */
	if (scan(cs, c) != 0)
		return -1;
	if (!servable(c))
		return 0;
	if (c->nl == NO_LINE)
		return -1; /* eof, everything answered */
	if (serve_line(cs, c, slot, n, fn, arg) != 0)
		return -1;
	return scan(cs, c);
}

/* Wanted events: read when a request may be taken (or a refused line is
 * being discarded), write while an answer is pending. */
static short events(const struct conn *c)
{
	short ev = 0;

	if (!c->eof && (c->skip || (!c->waiting && !out_pending(c) &&
				    c->nl == NO_LINE)))
		ev |= POLLIN;
	if (out_pending(c))
		ev |= POLLOUT;
	return ev;
}

int rc_ctlsock_wait(struct rc_ctlsock *cs, long timeout_us)
{
	unsigned np = 0;
	struct timespec ts;

	for (unsigned i = 0; i < cs->max_clients; i++)
		if (cs->c[i].fd >= 0 && servable(&cs->c[i]))
			timeout_us = 0; /* work in hand */
	cs->pfd[np++] = (struct pollfd){.fd = cs->lfd, .events = POLLIN};
	for (unsigned i = 0; i < cs->max_clients; i++) {
		const struct conn *c = &cs->c[i];

		cs->pfd[np++] = (struct pollfd){
			.fd = c->fd >= 0 && events(c) ? c->fd : -1,
			.events = c->fd >= 0 ? events(c) : 0};
	}
	ts.tv_sec = timeout_us / 1000000;
	ts.tv_nsec = (timeout_us % 1000000) * 1000;
	np = (unsigned)ppoll(cs->pfd, np, timeout_us < 0 ? NULL : &ts, NULL);
	for (unsigned i = 0; i < cs->max_clients; i++)
		cs->c[i].rev = cs->pfd[i + 1].fd >= 0 ? cs->pfd[i + 1].revents
						       : 0;
	return (int)np > 0 || timeout_us == 0;
}

unsigned rc_ctlsock_serve(struct rc_ctlsock *cs, rc_ctlsock_fn fn, void *arg)
{
	const uint64_t now = mono_ms();
	unsigned n = 0;

	for (unsigned i = 0; i < cs->max_clients; i++) {
		struct conn *c = &cs->c[i];

		if (c->fd < 0)
			continue;
		if (out_pending(c) && now - c->out_ms > cs->send_ms) {
			drop(c);
			cs->st.stalled++;
		} else if (cs->idle_ms && !c->waiting && !out_pending(c) &&
			   now - c->last_ms > cs->idle_ms) {
			drop(c);
			cs->st.idle_closed++;
		}
	}
	if (cs->pfd[0].revents & POLLIN) {
		cs->pfd[0].revents = 0;
		accept_all(cs);
	}
	for (unsigned i = 0; i < cs->max_clients; i++) {
		struct conn *c = &cs->c[i];

		if (c->fd < 0)
			continue;
		if (serve_conn(cs, c, i, &n, fn, arg) != 0)
			drop(c);
		else
			c->rev = 0;
	}
	return n;
}

unsigned rc_ctlsock_poll(struct rc_ctlsock *cs, int timeout_ms,
			 rc_ctlsock_fn fn, void *arg)
{
	rc_ctlsock_wait(cs, (long)timeout_ms * 1000);
	return rc_ctlsock_serve(cs, fn, arg);
}

int rc_ctlsock_answer(struct rc_ctlsock *cs, uint64_t id, char *resp)
{
	const unsigned slot = (unsigned)(id & 0xffffffffu);
	struct conn *c = slot < cs->max_clients ? &cs->c[slot] : NULL;

	if (!c || c->fd < 0 || c->gen != (uint32_t)(id >> 32) ||
	    !c->waiting) {
		free(resp);
		cs->st.orphaned++;
		return -ENOENT;
	}
	c->waiting = false;
	if (!resp || queue_out(cs, c, resp) != 0) {
		drop(c);
		return 0;
	}
	return 0;
}

void rc_ctlsock_set_idle_timeout(struct rc_ctlsock *cs, unsigned ms)
{
	cs->idle_ms = ms;
}

void rc_ctlsock_set_send_timeout(struct rc_ctlsock *cs, unsigned ms)
{
	cs->send_ms = ms;
}

void rc_ctlsock_set_max_items(struct rc_ctlsock *cs, unsigned n)
{
	cs->max_items = n;
}

void rc_ctlsock_get_stats(const struct rc_ctlsock *cs,
			  struct rc_ctlsock_stats *st)
{
	*st = cs->st;
}

void rc_ctlsock_close(struct rc_ctlsock *cs)
{
	if (!cs)
		return;
	for (unsigned i = 0; i < cs->max_clients; i++)
		if (cs->c[i].fd >= 0)
			drop(&cs->c[i]);
	close(cs->lfd);
	unlink(cs->path);
	free(cs->c);
	free(cs->pfd);
	free(cs);
}
