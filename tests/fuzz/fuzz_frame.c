/* SPDX-License-Identifier: MIT
 * libFuzzer target: whole Ethernet frames through the worker's
 * classify -> ACL -> rate -> reassemble -> execute -> reply path, as one
 * received burst (rcd_worker_burst: GETs batched), against a real
 * partition store, with replies sent to a net_null port.
 *
 * EAL is started without hugepages, PCI or shared files, only
 * because rte_hash and mempools need its heap; no NIC is involved.
 *
 * Input: up to 32 frames, each a 2-byte big-endian length and that many
 * bytes, so one input can carry a segmented request. Each input advances
 * the worker's clock by its first byte in milliseconds (reassembly and
 * rate-bucket timeouts are reached). State (store, reassembly, buckets)
 * carries over between inputs, as on a live node.
 *
 * Checked after every input, besides ASan/UBSan: no mbuf leaked (the pool
 * is whole again once TX is flushed), the store within its limit, the
 * reassembly state within its bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "rc_test_eal.h"
#include "config.h"
#include "worker.h"

#define POOL_SIZE 4095u
#define MAX_FRAMES 32

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rcd_worker w;
static struct rcd_config cfg;
static struct rc_net_iface ifc;
static uint32_t store_now = 1;

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_frame: %s%s%s\n", what, err ? ": " : "",
		err ? err : "");
	exit(1);
}

static void set(const char *kv)
{
	char err[2 * RC_OPT_STR_MAX];

	if (rc_opt_set_kv(rcd_options, rcd_n_options, &cfg, kv, err,
			  sizeof(err)) != 0)
		die(kv, err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *eal[] = {"fuzz_frame", "-l", "0", "--no-huge", "-m", "256",
		       "--no-pci", "--no-shconf", "--no-telemetry",
		       "--log-level=*:error", "--vdev=net_null0", NULL};
	struct rte_eth_conf conf = {0};
	struct rc_store_config sc;
	char err[2 * RC_OPT_STR_MAX];
	static volatile int quit;

	(void)argc;
	(void)argv;
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0)
		die("EAL init failed", NULL);
	rc_test_eal_leave_no_dir();
	if (rc_opt_defaults(rcd_options, rcd_n_options, &cfg, err,
			    sizeof(err)) != 0)
		die("defaults", err);
	/* Small everything, so eviction, index-full, reassembly limits and
	 * rate limits are all within reach of a fuzzer's inputs. One source
	 * trusted, one rate-limited, the default allow list. */
	set("store.memory=4M");
	set("store.segment_size=64K");
	set("store.max_items=2048");
	set("store.max_value_size=16K");
	set("acl.trusted=198.18.0.1/32");
	set("acl.rate_limits=198.18.0.3/32=1000/20");
	set("reassembly.max_entries=4");
	set("reassembly.max_bytes=256K");
	set("reassembly.timeout_ms=50");
	if (rcd_config_finish(&cfg, err, sizeof(err)) != 0)
		die("config", err);
	rcd_store_config(&cfg, "fuzz", SOCKET_ID_ANY, &sc);
	w.pool = rte_pktmbuf_pool_create("fuzz", POOL_SIZE, 0, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE,
					 SOCKET_ID_ANY);
	w.p.store = rc_store_create(&sc);
	if (!w.pool || !w.p.store || rte_eth_dev_count_avail() != 1 ||
	    rte_eth_dev_configure(0, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(0, 0, 512, SOCKET_ID_ANY, NULL, w.pool) != 0 ||
	    rte_eth_tx_queue_setup(0, 0, 512, SOCKET_ID_ANY, NULL) != 0 ||
	    rte_eth_dev_start(0) != 0)
		die("set-up failed", NULL);
	/* The node: 198.18.0.2, MAC 02:00:00:00:00:02, one partition on UDP
	 * port 7711. */
	ifc.mac = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x02}};
	ifc.ip = rte_cpu_to_be_32(0xc6120002);
	ifc.base_port = 7711;
	ifc.n_ports = 1;
	w.ifc = &ifc;
	w.quit = &quit;
	if (rcd_worker_configure(&w, &cfg, 0) != 0)
		die("worker set-up failed", NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	struct rte_mbuf *pkts[MAX_FRAMES];
	uint16_t n = 0;
	struct rc_store_stats ss;
	struct rc_reasm_stats rs;

	if (size == 0)
		return 0;
	/* Time moves on by 0..255 ms per input; the store's clock (s) too. */
	w.now_tsc += w.tsc_hz / 1000 * data[0];
	store_now = (uint32_t)((w.now_tsc - w.tsc_start) / w.tsc_hz) + 1;
	off = 1;
	for (unsigned f = 0; f < MAX_FRAMES && size - off >= 2; f++) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		struct rte_mbuf *m;

		off += 2;
		if (len > size - off)
			len = size - off;
		m = rte_pktmbuf_alloc(w.pool);
		if (!m)
			abort(); /* a leak: the pool is whole between inputs */
		if (len > rte_pktmbuf_tailroom(m))
			len = rte_pktmbuf_tailroom(m);
		memcpy(rte_pktmbuf_append(m, (uint16_t)len), data + off, len);
		off += len;
		pkts[n++] = m;
	}
	/* As received: one burst, batched GETs and all. */
	if (n)
		rcd_worker_burst(&w, pkts, n, store_now);
	rcd_worker_flush(&w);
	/* Replies went to net_null, which frees them: nothing may be held. */
	if (rte_mempool_avail_count(w.pool) != POOL_SIZE) {
		fprintf(stderr, "fuzz_frame: %u mbufs not returned\n",
			POOL_SIZE - rte_mempool_avail_count(w.pool));
		abort();
	}
	rc_store_get_stats(w.p.store, &ss);
	if (ss.bytes_used > ss.bytes_limit)
		abort();
	rc_reasm_get_stats(w.reasm, &rs);
	if (rs.entries > cfg.reasm_entries || rs.bytes > cfg.reasm_bytes)
		abort();
	return 0;
}
