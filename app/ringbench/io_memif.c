/* SPDX-License-Identifier: MIT
 * ringbench transport: a DPDK memif port (role=client) to a ringcached
 * whose port is the memif server, so the daemon is measured with no
 * kernel in the path. Thread i owns queue pair i; each queue has its own
 * mempool. Frames are Ethernet/IPv4/UDP built here; the server's MAC is
 * learnt by ARP, as a real client would. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_alarm.h>
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "bench.h"
#include "rc_net.h"

#define MEMIF_BURST 32
#define MEMIF_DESC 1024
#define MEMIF_MBUFS 8191
#define HDR_LEN (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + \
		 sizeof(struct rte_udp_hdr))
#define SRC_PORT_BASE 40000
#define TX_SPIN_MAX 1000000u

static struct {
	char *argv_copy;                    /* EAL keeps pointers into it */
	char runtime_dir[PATH_MAX];
	uint16_t port;
	unsigned queues;
	struct rte_mempool *pools[64];
	struct rte_ether_addr mac, server_mac;
	unsigned linger_s;
} g;

struct rb_io {
	const struct rb_config *cfg;
	uint16_t queue;
	struct rte_mempool *mp;
	struct rte_mbuf *held[MEMIF_BURST]; /* last recv's frames */
	unsigned n_held;
};

static int split_args(const char *s, char **argv, int max)
{
	char *save = NULL;
	int n = 0;

	g.argv_copy = strdup(s);
	if (!g.argv_copy)
		return -1;
	for (char *t = strtok_r(g.argv_copy, " \t", &save); t && n < max;
	     t = strtok_r(NULL, " \t", &save))
		argv[n++] = t;
	return n;
}

/* A benchmark leaves nothing behind: EAL's runtime directory goes too. */
static void remove_runtime_dir(const char *dir)
{
	DIR *d = dir[0] ? opendir(dir) : NULL;
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static void fill_hdr(uint8_t *p, uint16_t src_port, uint16_t dst_port,
		     size_t payload, const struct rb_config *c)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	eth->dst_addr = g.server_mac;
	eth->src_addr = g.mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) +
						       sizeof(*udp) + payload));
	ip->src_addr = c->source.s_addr;
	ip->dst_addr = c->server.sin_addr.s_addr;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(src_port);
	udp->dst_port = rte_cpu_to_be_16(dst_port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + payload));
	udp->dgram_cksum = 0; /* optional in IPv4 */
}

/* Ask for the server's MAC on queue 0 until it answers (5 s at most). */
static int resolve_server(const struct rb_config *c)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g.pools[0]);
		struct rte_ether_hdr *eth;
		struct rte_arp_hdr *arp;
		uint64_t stop;

		if (!m)
			return -1;
		if (rc_net_arp_request_build(m, &g.mac, c->source.s_addr,
					     c->server.sin_addr.s_addr) != 0) {
			rte_pktmbuf_free(m);
			return -1;
		}
		if (rte_eth_tx_burst(g.port, 0, &m, 1) != 1)
			rte_pktmbuf_free(m);
		stop = rb_now_ns() + 100000000ull;
		while (rb_now_ns() < stop) {
			struct rte_mbuf *pkts[MEMIF_BURST];
			uint16_t n = rte_eth_rx_burst(g.port, 0, pkts, MEMIF_BURST);
			int found = 0;

			for (uint16_t i = 0; i < n; i++) {
				eth = rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
				arp = (struct rte_arp_hdr *)(eth + 1);
				if (!found &&
				    eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
				    pkts[i]->data_len >= sizeof(*eth) + sizeof(*arp) &&
				    arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
				    arp->arp_data.arp_sip == c->server.sin_addr.s_addr) {
					g.server_mac = arp->arp_data.arp_sha;
					found = 1;
				}
				rte_pktmbuf_free(pkts[i]);
			}
			if (found)
				return 0;
		}
	}
	fprintf(stderr, "ringbench: no ARP reply from the server over memif\n");
	return -1;
}

static int port_setup(const struct rb_config *c);
static void memif_fini(void);

static int memif_init(const struct rb_config *c)
{
	char *argv[64], vdev[512], prefix[64];
	int argc = 0, n;

	argv[argc++] = (char *)"ringbench";
	n = split_args(c->eal_args, argv + argc, 48);
	if (n < 0)
		return -1;
	argc += n;
	snprintf(prefix, sizeof(prefix), "--file-prefix=rb%d", (int)getpid());
	snprintf(vdev, sizeof(vdev), "--vdev=net_memif_rb0,role=client,socket=%s",
		 c->memif_socket);
	argv[argc++] = prefix;
	argv[argc++] = vdev;
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "ringbench: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	snprintf(g.runtime_dir, sizeof(g.runtime_dir), "%s",
		 rte_eal_get_runtime_dir());
	if (port_setup(c) != 0) {
		memif_fini();
		return -1;
	}
	return 0;
}

/* The port, its queues, the link and the server's MAC. */
static int port_setup(const struct rb_config *c)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_link link;

	if (rte_eth_dev_get_port_by_name("net_memif_rb0", &g.port) != 0) {
		fprintf(stderr, "ringbench: memif port missing\n");
		return -1;
	}
	g.queues = c->threads;
	g.linger_s = c->linger_s;
	if (rte_eth_dev_configure(g.port, (uint16_t)g.queues,
				  (uint16_t)g.queues, &conf) != 0)
		return -1;
	for (unsigned q = 0; q < g.queues; q++) {
		char name[32];

		snprintf(name, sizeof(name), "rb_pool%u", q);
		g.pools[q] = rte_pktmbuf_pool_create(name, MEMIF_MBUFS, 256, 0,
						     RTE_MBUF_DEFAULT_BUF_SIZE,
						     (int)rte_socket_id());
		if (!g.pools[q] ||
		    rte_eth_rx_queue_setup(g.port, (uint16_t)q, MEMIF_DESC,
					   rte_socket_id(), NULL, g.pools[q]) != 0 ||
		    rte_eth_tx_queue_setup(g.port, (uint16_t)q, MEMIF_DESC,
					   rte_socket_id(), NULL) != 0) {
			fprintf(stderr, "ringbench: memif queue %u: %s\n", q,
				rte_strerror(rte_errno));
			return -1;
		}
	}
	if (rte_eth_dev_start(g.port) != 0)
		return -1;
	rte_eth_macaddr_get(g.port, &g.mac);
	for (int i = 0; i < 100; i++) {
		if (rte_eth_link_get_nowait(g.port, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP)
			return resolve_server(c);
		usleep(100000);
	}
	fprintf(stderr, "ringbench: memif link to %s not up after 10 s "
		"(is ringcached running with the same number of workers as "
		"--threads?)\n", c->memif_socket);
	return -1;
}

/* Stops and closes the port; runs on EAL's interrupt thread (below). */
static void port_close_cb(void *arg)
{
	rte_eth_dev_stop(g.port);
	rte_eth_dev_close(g.port);
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
}

static void memif_fini(void)
{
	struct rte_eth_link link;
	int closed = 0;

	/* Let the server hang up first: a memif server whose client leaves
	 * while a worker polls can crash in DPDK 22.11's PMD. */
	for (unsigned i = 0; i < g.linger_s * 10; i++) {
		if (rte_eth_link_get_nowait(g.port, &link) != 0 ||
		    link.link_status != RTE_ETH_LINK_UP)
			break;
		usleep(100000);
	}
	/* The PMD's memif_disconnect() marks the link down first and frees
	 * the regions after, on EAL's interrupt thread; a stop from this
	 * thread in between freed them twice (a rare SIGSEGV in CI on a
	 * loaded host). Alarms run on that same thread, one callback at a
	 * time, so closing from one cannot overlap a disconnect. */
	if (rte_eal_alarm_set(1, port_close_cb, &closed) == 0) {
		for (unsigned ms = 0; ms < 10000 &&
		     !__atomic_load_n(&closed, __ATOMIC_ACQUIRE); ms++)
			usleep(1000);
	} else {
		port_close_cb(&closed);
	}
	if (!__atomic_load_n(&closed, __ATOMIC_ACQUIRE)) {
		/* Cleaning up under a close still to run would free what it
		 * uses: leave that to the exit. */
		fprintf(stderr, "ringbench: the memif port did not close in "
			"10 s (EAL's interrupt thread is stuck)\n");
		remove_runtime_dir(g.runtime_dir);
		return;
	}
	rte_eal_cleanup();
	remove_runtime_dir(g.runtime_dir);
	free(g.argv_copy);
	g.argv_copy = NULL;
}

static struct rb_io *memif_open(const struct rb_config *c, unsigned thread)
{
	struct rb_io *io;

	/* An lcore id gives this thread its mempool cache. */
	if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0) {
		fprintf(stderr, "ringbench: rte_thread_register: %s\n",
			rte_strerror(rte_errno));
		return NULL;
	}
	io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->cfg = c;
	io->queue = (uint16_t)thread;
	io->mp = g.pools[thread];
	return io;
}

static int memif_send(struct rb_io *io, uint8_t *const *bufs, const size_t *lens,
		      const unsigned *port_offs, unsigned n)
{
	const struct rb_config *c = io->cfg;
	struct rte_mbuf *m[MEMIF_BURST];
	uint16_t base = ntohs(c->server.sin_port);

	for (unsigned done = 0; done < n;) {
		unsigned k = n - done < MEMIF_BURST ? n - done : MEMIF_BURST;

		if (rte_pktmbuf_alloc_bulk(io->mp, m, k) != 0) {
			fprintf(stderr, "ringbench: memif pool exhausted\n");
			return -1;
		}
		for (unsigned i = 0; i < k; i++) {
			uint8_t *p = rte_pktmbuf_mtod(m[i], uint8_t *);

			fill_hdr(p, (uint16_t)(SRC_PORT_BASE + io->queue),
				 (uint16_t)(base + port_offs[done + i]),
				 lens[done + i], c);
			memcpy(p + HDR_LEN, bufs[done + i], lens[done + i]);
			m[i]->data_len = m[i]->pkt_len =
				(uint32_t)(HDR_LEN + lens[done + i]);
		}
		/* A full ring drains in microseconds; a peer that is gone
		 * never drains it. Give up after a bound: the requests not
		 * sent then show up as timeouts. */
		unsigned sent = 0;

		for (unsigned spins = 0; sent < k && spins < TX_SPIN_MAX; spins++)
			sent += rte_eth_tx_burst(g.port, io->queue, m + sent,
						 (uint16_t)(k - sent));
		if (sent < k)
			rte_pktmbuf_free_bulk(m + sent, k - sent);
		done += k;
	}
	return 0;
}

static unsigned memif_recv(struct rb_io *io, struct rb_rx *rx, unsigned max)
{
	struct rte_mbuf **pkts = io->held;
	unsigned out = 0;
	uint16_t n;
	uint64_t t;

	rte_pktmbuf_free_bulk(io->held, io->n_held);
	io->n_held = 0;
	if (max > MEMIF_BURST)
		max = MEMIF_BURST;
	n = rte_eth_rx_burst(g.port, io->queue, pkts, (uint16_t)max);
	if (n == 0)
		return 0;
	t = rb_now_ns();
	io->n_held = n;
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *p = rte_pktmbuf_mtod(pkts[i], const uint8_t *);
		const struct rte_ether_hdr *eth = (const void *)p;
		const struct rte_ipv4_hdr *ip = (const void *)(eth + 1);
		size_t ihl, len = pkts[i]->data_len;

		if (len < HDR_LEN ||
		    eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
		    ip->next_proto_id != IPPROTO_UDP)
			continue;
		ihl = (size_t)(ip->version_ihl & 0x0f) * 4;
		if (len < sizeof(*eth) + ihl + sizeof(struct rte_udp_hdr))
			continue;
		rx[out].data = p + sizeof(*eth) + ihl + sizeof(struct rte_udp_hdr);
		rx[out].len = len - sizeof(*eth) - ihl - sizeof(struct rte_udp_hdr);
		rx[out].t = t;
		out++;
	}
	return out;
}

/* A DPDK sender polls: nothing to wait on. */
static void memif_idle(struct rb_io *io, uint64_t now, uint64_t until)
{
	(void)io;
	(void)now;
	(void)until;
}

static void memif_close(struct rb_io *io)
{
	rte_pktmbuf_free_bulk(io->held, io->n_held);
	free(io);
}

const struct rb_io_ops rb_io_memif = {
	.name = "memif",
	.init = memif_init,
	.fini = memif_fini,
	.open = memif_open,
	.send = memif_send,
	.recv = memif_recv,
	.idle = memif_idle,
	.close = memif_close,
};
