/* SPDX-License-Identifier: MIT
 * In-process harness for counting instructions on the server path: whole
 * Ethernet/IPv4/UDP request frames go through rcd_worker_handle() (the
 * worker's classify -> execute -> reply -> TX queue) against a real
 * partition, with replies sent to a net_null port. perf/instructions runs
 * it under callgrind with collection toggled on rcd_worker_handle only, so
 * the frame set-up here is not counted.
 *
 *   rc_instr_harness get|set N   -> N GETs (hits) or N SETs (overwrites)
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "config.h"
#include "worker.h"

#define KEYS 4096
#define KEY_LEN 16
#define VALUE_LEN 64
#define FRAME_MAX 256

static uint8_t get_frames[KEYS][FRAME_MAX], set_frames[KEYS][FRAME_MAX];
static uint16_t get_lens[KEYS], set_lens[KEYS];

static const struct rte_ether_addr our_mac = {{0x02, 0, 0, 0, 0, 0x02}};
static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0x01}};

static uint16_t build_frame(uint8_t *f, uint32_t id, bool set, unsigned k)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *p = (uint8_t *)(udp + 1);
	uint8_t key[KEY_LEN], value[VALUE_LEN];
	char kbuf[KEY_LEN + 1];
	struct rc_proto_hdr h = {.version = RC_PROTO_VERSION, .request_id = id,
				 .n_ops = 1, .seg_count = 1};
	struct rc_proto_req_op op = {.opcode = set ? RC_OP_SET : RC_OP_GET,
				     .class_id = 0, .key_len = KEY_LEN,
				     .key = key};
	size_t len;

	snprintf(kbuf, sizeof(kbuf), "key:%012u", k);
	memcpy(key, kbuf, KEY_LEN);
	memset(value, 'v', sizeof(value));
	if (set) {
		op.value = value;
		op.value_len = VALUE_LEN;
	}
	rc_proto_hdr_encode(p, &h);
	len = RC_PROTO_HDR_LEN +
	      rc_proto_req_op_encode(p + RC_PROTO_HDR_LEN,
				     FRAME_MAX - (size_t)(p - f) - RC_PROTO_HDR_LEN,
				     &op);
	eth->dst_addr = our_mac;
	eth->src_addr = peer_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + len));
	ip->src_addr = rte_cpu_to_be_32(0xc6120001);
	ip->dst_addr = rte_cpu_to_be_32(0xc6120002);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(40000);
	udp->dst_port = rte_cpu_to_be_16(7711);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	udp->dgram_cksum = 0;
	return (uint16_t)((size_t)(p - f) + len);
}

static void feed(struct rcd_worker *w, const uint8_t (*frames)[FRAME_MAX],
		 const uint16_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);
		unsigned k = i % KEYS;

		if (!m) {
			fprintf(stderr, "harness: mbuf pool empty\n");
			exit(1);
		}
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), frames[k], lens[k]);
		m->data_len = m->pkt_len = lens[k];
		rcd_worker_handle(w, m, 1);
	}
	rcd_worker_flush(w);
}

int main(int argc, char **argv)
{
	char *eal[] = {"rc_instr_harness", "-l", "0", "--no-huge", "-m", "256",
		       "--no-pci", "--no-shconf", "--no-telemetry",
		       "--log-level=lib.eal:error", "--vdev=net_null0", NULL};
	static struct rc_net_iface ifc;
	static struct rcd_worker w;
	struct rte_eth_conf conf = {0};
	static struct rcd_config cfg;
	struct rc_store_config sc;
	char err[2 * RC_OPT_STR_MAX];
	volatile int quit = 0;
	char rundir[PATH_MAX];
	bool set;
	unsigned long n;

	if (argc != 3 || (strcmp(argv[1], "get") && strcmp(argv[1], "set")) ||
	    (n = strtoul(argv[2], NULL, 10)) == 0 || n > 100000000ul) {
		fprintf(stderr, "usage: rc_instr_harness get|set N\n"
			"  N GETs (all hits) or N SETs (overwrites) of 16-byte "
			"keys with 64-byte values through rcd_worker_handle()\n");
		return 2;
	}
	set = !strcmp(argv[1], "set");
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "harness: EAL init failed\n");
		return 1;
	}
	/* The daemon's defaults (classes, segments, eviction), smaller. */
	if (rc_opt_defaults(rcd_options, rcd_n_options, &cfg, err,
			    sizeof(err)) != 0 ||
	    rc_opt_set_kv(rcd_options, rcd_n_options, &cfg, "store.memory=64M",
			  err, sizeof(err)) != 0 ||
	    rc_opt_set_kv(rcd_options, rcd_n_options, &cfg,
			  "store.max_items=65536", err, sizeof(err)) != 0 ||
	    /* Application servers are trusted: no padding. */
	    rc_opt_set_kv(rcd_options, rcd_n_options, &cfg,
			  "acl.trusted=198.18.0.0/15", err, sizeof(err)) != 0 ||
	    rcd_config_finish(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "harness: config: %s\n", err);
		return 1;
	}
	rcd_store_config(&cfg, "instr", SOCKET_ID_ANY, &sc);
	w.pool = rte_pktmbuf_pool_create("instr", 4095, 256, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	w.p.store = rc_store_create(&sc);
	if (!w.pool || !w.p.store || rte_eth_dev_count_avail() != 1 ||
	    rte_eth_dev_configure(0, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(0, 0, 512, SOCKET_ID_ANY, NULL, w.pool) != 0 ||
	    rte_eth_tx_queue_setup(0, 0, 512, SOCKET_ID_ANY, NULL) != 0 ||
	    rte_eth_dev_start(0) != 0) {
		fprintf(stderr, "harness: set-up failed\n");
		return 1;
	}
	ifc.mac = our_mac;
	ifc.ip = rte_cpu_to_be_32(0xc6120002);
	ifc.base_port = 7711;
	ifc.n_ports = 1;
	w.ifc = &ifc;
	w.quit = &quit;
	if (rcd_worker_configure(&w, &cfg, 0) != 0) {
		fprintf(stderr, "harness: worker set-up failed\n");
		return 1;
	}
	for (unsigned k = 0; k < KEYS; k++) {
		get_lens[k] = build_frame(get_frames[k], k, false, k);
		set_lens[k] = build_frame(set_frames[k], k, true, k);
	}
	feed(&w, (const uint8_t (*)[FRAME_MAX])set_frames, set_lens, KEYS);
	memset(&w.stats, 0, sizeof(w.stats));
	if (set)
		feed(&w, (const uint8_t (*)[FRAME_MAX])set_frames, set_lens, (unsigned)n);
	else
		feed(&w, (const uint8_t (*)[FRAME_MAX])get_frames, get_lens, (unsigned)n);
	/* The figure is only meaningful if every request was served. */
	if (w.stats.srv.status[RC_ST_OK] != n || w.stats.tx_packets != n) {
		fprintf(stderr, "harness: %lu requests, %llu OK, %llu sent\n", n,
			(unsigned long long)w.stats.srv.status[RC_ST_OK],
			(unsigned long long)w.stats.tx_packets);
		return 1;
	}
	printf("%s x %lu: all OK\n", argv[1], n);
	rte_eth_dev_stop(0);
	rc_store_destroy(w.p.store);
	rc_reasm_destroy(w.reasm);
	/* --no-shconf leaves the runtime directory empty: remove it. */
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	return 0;
}
