/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc_ctlsock.h"

#define SEND_TIMEOUT_S 5 /* a client that stops reading is dropped */

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	uint64_t last_ms;      /* last byte in or answer out */
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
	uint64_t idle_ms;      /* 0: connections may idle forever */
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

	if (strlen(path) >= sizeof(sa.sun_path) || max_clients == 0) {
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
	strcpy(sa.sun_path, path);
	strcpy(cs->path, path);
	cs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0);
	if (!cs->c || !cs->pfd || cs->lfd < 0)
		goto fail;
	for (unsigned i = 0; i < max_clients; i++)
		cs->c[i].fd = -1;
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

static void drop(struct conn *c)
{
	close(c->fd);
	free(c->buf);
	*c = (struct conn){.fd = -1};
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
			 * so idle clients never lock an operator out. */
			unsigned old = 0;

			for (unsigned k = 1; k < cs->max_clients; k++)
				if (cs->c[k].last_ms < cs->c[old].last_ms)
					old = k;
			drop(&cs->c[old]);
			cs->st.evicted++;
			i = old;
		}
		if (i == cs->max_clients) {
			static const char busy[] =
				"{\"ok\":false,\"error\":\"too many control "
				"connections\",\"code\":\"busy\"}\n";

			cs->st.refused++;
			if (write(fd, busy, sizeof(busy) - 1) < 0)
				cs->st.write_failed++;
			close(fd);
			continue;
		}
		cs->st.accepted++;
		cs->c[i].fd = fd;
		cs->c[i].last_ms = mono_ms();
	}
}

/* Write all of buf; the socket is non-blocking, so wait for room. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t k = send(fd, buf, len, MSG_NOSIGNAL);

		if (k > 0) {
			buf += k;
			len -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};

			if (poll(&p, 1, SEND_TIMEOUT_S * 1000) == 1)
				continue;
		} else if (k < 0 && errno == EINTR) {
			continue;
		}
		return -1;
	}
	return 0;
}

/* Answer every whole line in c's buffer. @return -1 to close. */
static int serve_lines(struct rc_ctlsock *cs, struct conn *c, unsigned *n,
		       rc_ctlsock_fn fn, void *arg)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t l = (size_t)(nl - c->buf);
		char *resp;
		int rc;

		*nl = '\0';
		resp = fn(arg, c->buf, l);
		cs->st.requests++;
		(*n)++;
		if (!resp)
			return -1;
		rc = write_all(c->fd, resp, strlen(resp));
		if (rc == 0)
			rc = write_all(c->fd, "\n", 1);
		free(resp);
		if (rc != 0) {
			cs->st.write_failed++;
			return -1;
		}
		memmove(c->buf, nl + 1, c->len - l - 1);
		c->len -= l + 1;
	}
	if (c->len > cs->max_line) {
		cs->st.too_long++;
		return -1;
	}
	return 0;
}

static int read_conn(struct rc_ctlsock *cs, struct conn *c, unsigned *n,
		     rc_ctlsock_fn fn, void *arg)
{
	for (;;) {
		ssize_t k;

		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 16384;
			char *b;

			if (cap > cs->max_line + 8192)
				cap = cs->max_line + 8192;
			if (cap <= c->len) {
				cs->st.too_long++;
				return -1;
			}
			b = realloc(c->buf, cap);
			if (!b)
				return -1;
			c->buf = b;
			c->cap = cap;
		}
		k = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (k == 0)
			return -1;
		if (k < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->len += (size_t)k;
		c->last_ms = mono_ms();
		if (serve_lines(cs, c, n, fn, arg) != 0)
			return -1;
	}
}

unsigned rc_ctlsock_poll(struct rc_ctlsock *cs, int timeout_ms,
			 rc_ctlsock_fn fn, void *arg)
{
	unsigned np = 0, n = 0;

	if (cs->idle_ms) {
		const uint64_t now = mono_ms();

		for (unsigned i = 0; i < cs->max_clients; i++)
			if (cs->c[i].fd >= 0 &&
			    now - cs->c[i].last_ms > cs->idle_ms) {
				drop(&cs->c[i]);
				cs->st.idle_closed++;
			}
	}
	np = 0;
	cs->pfd[np++] = (struct pollfd){.fd = cs->lfd, .events = POLLIN};
	for (unsigned i = 0; i < cs->max_clients; i++)
		cs->pfd[np++] = (struct pollfd){.fd = cs->c[i].fd,
						.events = POLLIN};
	if (poll(cs->pfd, np, timeout_ms) <= 0)
		return 0;
	if (cs->pfd[0].revents & POLLIN)
		accept_all(cs);
	for (unsigned i = 0; i < cs->max_clients; i++) {
		struct conn *c = &cs->c[i];

		if (c->fd < 0 || !cs->pfd[i + 1].revents ||
		    cs->pfd[i + 1].fd != c->fd)
			continue;
		if (read_conn(cs, c, &n, fn, arg) != 0)
			drop(c);
	}
	return n;
}

void rc_ctlsock_set_idle_timeout(struct rc_ctlsock *cs, unsigned ms)
{
	cs->idle_ms = ms;
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
