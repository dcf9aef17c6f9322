/* SPDX-License-Identifier: MIT
 * ringbench transport: kernel UDP sockets, batched with sendmmsg and
 * recvmmsg. Replies are timed by the kernel's receive stamp, so the
 * sender sleeps until its next send instead of waking for every reply. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define IO_BURST 32

struct rb_io {
	const struct rb_config *cfg;
	int fd;
	int64_t rt_off;     /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
	uint64_t rt_next;   /* when to re-read rt_off */
	uint8_t bufs[IO_BURST][2048];
	uint8_t ctl[IO_BURST][CMSG_SPACE(sizeof(struct timespec))];
};

/* Kernel receive stamps are CLOCK_REALTIME; the schedule runs on
 * CLOCK_MONOTONIC. The offset is re-read often so slewing cannot drift. */
static int64_t realtime_offset(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000ll +
	       (r.tv_nsec - m.tv_nsec);
}

/* When the reply reached the socket; `fallback` (the read time) when the
 * kernel attached no stamp or an implausible one. */
static uint64_t rx_stamp(struct msghdr *mh, int64_t rt_off, uint64_t fallback)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			int64_t t;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			t = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec - rt_off;
			return t > 0 && (uint64_t)t <= fallback ? (uint64_t)t : fallback;
		}
	}
	return fallback;
}

static struct rb_io *udp_open(const struct rb_config *c, unsigned thread)
{
	struct rb_io *io = calloc(1, sizeof(*io));
	int sz = 8 << 20, on = 1;

	(void)thread;
	if (!io)
		return NULL;
	io->cfg = c;
	io->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (io->fd < 0)
		goto fail;
	setsockopt(io->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(io->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (c->rx_stamps &&
	    setsockopt(io->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0)
		goto fail;
	io->rt_off = realtime_offset();
	return io;
fail:
	perror("ringbench: socket");
	if (io->fd >= 0)
		close(io->fd);
	free(io);
	return NULL;
}

static int udp_send(struct rb_io *io, uint8_t *const *bufs, const size_t *lens,
		    const unsigned *port_offs, unsigned n)
{
	struct mmsghdr msgs[IO_BURST];
	struct iovec iov[IO_BURST];
	struct sockaddr_in to[IO_BURST];
	const struct sockaddr_in *srv = &io->cfg->server;

	for (unsigned done = 0; done < n;) {
		unsigned k = n - done < IO_BURST ? n - done : IO_BURST;

		for (unsigned i = 0; i < k; i++) {
			to[i] = *srv;
			to[i].sin_port = htons((uint16_t)(ntohs(srv->sin_port) +
							  port_offs[done + i]));
			iov[i].iov_base = bufs[done + i];
			iov[i].iov_len = lens[done + i];
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &to[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(to[i]);
		}
		for (unsigned sent = 0; sent < k;) {
			int r = sendmmsg(io->fd, msgs + sent, k - sent, 0);

			if (r < 0) {
				if (errno == EINTR || errno == EAGAIN ||
				    errno == ENOBUFS)
					continue;
				perror("ringbench: sendmmsg");
				return -1;
			}
			sent += (unsigned)r;
		}
		done += k;
	}
	return 0;
}

static unsigned udp_recv(struct rb_io *io, struct rb_rx *rx, unsigned max)
{
	struct mmsghdr msgs[IO_BURST];
	struct iovec iov[IO_BURST];
	bool stamps = io->cfg->rx_stamps;
	uint64_t read_t;
	int n;

	if (max > IO_BURST)
		max = IO_BURST;
	for (unsigned i = 0; i < max; i++) {
		iov[i].iov_base = io->bufs[i];
		iov[i].iov_len = sizeof(io->bufs[i]);
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (stamps) {
			msgs[i].msg_hdr.msg_control = io->ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(io->ctl[i]);
		}
	}
	n = recvmmsg(io->fd, msgs, max, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;
	read_t = rb_now_ns();
	if (read_t > io->rt_next) {
		io->rt_off = realtime_offset();
		io->rt_next = read_t + 100000000ull;
	}
	for (int i = 0; i < n; i++) {
		rx[i].data = io->bufs[i];
		rx[i].len = msgs[i].msg_len;
		rx[i].t = stamps ? rx_stamp(&msgs[i].msg_hdr, io->rt_off, read_t)
				 : read_t;
	}
	return (unsigned)n;
}

/* Sleep in ppoll rather than spin: a spinning sender starves the softirq
 * work that delivers its own replies on the same CPU (millisecond stalls
 * here). Without receive stamps every reply must wake the sender so that
 * its read time is its arrival time. */
static void udp_idle(struct rb_io *io, uint64_t now, uint64_t until)
{
	struct pollfd p = {.fd = io->fd,
			   .events = io->cfg->rx_stamps ? 0 : POLLIN};
	struct timespec ts;

	if (until <= now)
		return;
	ts.tv_sec = (time_t)((until - now) / 1000000000ull);
	ts.tv_nsec = (long)((until - now) % 1000000000ull);
	ppoll(&p, 1, &ts, NULL);
}

static void udp_close(struct rb_io *io)
{
	close(io->fd);
	free(io);
}

const struct rb_io_ops rb_io_udp = {
	.name = "udp",
	.open = udp_open,
	.send = udp_send,
	.recv = udp_recv,
	.idle = udp_idle,
	.close = udp_close,
};
