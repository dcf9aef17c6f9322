/* SPDX-License-Identifier: MIT
 * ringcached: parse options, set up EAL, port, pools and partitions, launch
 * the workers, run the control loop, tear down. Nothing else lives here. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_version.h>

#include "config.h"
#include "stats.h"
#include "worker.h"

RTE_LOG_REGISTER_DEFAULT(rcd_logtype, INFO);
#define LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, rcd_logtype, "ringcached: " fmt "\n",       \
		##__VA_ARGS__)

#define MAX_EAL_ARGS 64

static volatile int quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringcached [OPTIONS] [-- EAL-ARGS...]\n"
		"\n"
		"A ringcache node: serves the ringcache UDP protocol on a DPDK "
		"port.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     read options from an INI file\n"
		"  -s, --set SEC.NAME=V  override one option (repeatable, "
		"applied after --config)\n"
		"      --print-config    print the effective config as INI "
		"and exit\n"
		"      --check           validate the config and exit\n"
		"  -h, --help            this help\n"
		"  -V, --version         print the version\n"
		"\n"
		"EAL arguments follow '--' (or come from dpdk.eal_args), e.g.\n"
		"  ringcached -c /etc/ringcache/ringcache.conf -- -l 0-1 "
		"--no-pci --vdev net_tap0,iface=rc0\n"
		"\n"
		"Config options (section.name):\n");
	rc_opt_print_help(rcd_options, rcd_n_options, f);
}

struct args {
	const char *config;
	const char *sets[64];
	unsigned n_sets;
	int print_config, check;
	int eal_argc;
	char **eal_argv;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"set", required_argument, NULL, 's'},
		{"print-config", no_argument, NULL, 'P'},
		{"check", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 's':
			if (a->n_sets == RTE_DIM(a->sets)) {
				fprintf(stderr, "ringcached: too many --set\n");
				return -1;
			}
			a->sets[a->n_sets++] = optarg;
			break;
		case 'P':
			a->print_config = 1;
			break;
		case 'C':
			a->check = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("ringcached %s (DPDK %s)\n", RC_VERSION,
			       rte_version());
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	/* getopt stops at "--"; what follows is EAL's. */
	a->eal_argc = argc - optind;
	a->eal_argv = argv + optind;
	return 0;
}

static int load_config(const struct args *a, struct rcd_config *cfg)
{
	char err[512];

	if (rc_opt_defaults(rcd_options, rcd_n_options, cfg, err,
			    sizeof(err)) != 0 ||
	    (a->config && rc_opt_load_file(rcd_options, rcd_n_options, cfg,
					   a->config, err, sizeof(err)) != 0))
		goto fail;
	for (unsigned i = 0; i < a->n_sets; i++)
		if (rc_opt_set_kv(rcd_options, rcd_n_options, cfg, a->sets[i],
				  err, sizeof(err)) != 0)
			goto fail;
	if (cfg->memory / cfg->workers < (1u << 20)) {
		snprintf(err, sizeof(err),
			 "store.memory gives each of %lu partitions under 1 MiB",
			 (unsigned long)cfg->workers);
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "ringcached: config: %s\n", err);
	return -1;
}

static void print_config(const struct rcd_config *cfg)
{
	const char *section = NULL;
	char v[RC_OPT_STR_MAX];

	for (size_t i = 0; i < rcd_n_options; i++) {
		const struct rc_opt *o = &rcd_options[i];

		if (!section || strcmp(section, o->section) != 0) {
			section = o->section;
			printf("%s[%s]\n", i ? "\n" : "", section);
		}
		rc_opt_format(o, cfg, v, sizeof(v));
		printf("%s = %s\n", o->name, v);
	}
}

/* Build EAL's argv: from the command line, else from dpdk.eal_args. */
static int eal_argv(const struct args *a, char *cfg_args, char **out)
{
	int n = 0;

	out[n++] = "ringcached";
	if (a->eal_argc > 0) {
		for (int i = 0; i < a->eal_argc && n < MAX_EAL_ARGS - 1; i++)
			out[n++] = a->eal_argv[i];
	} else {
		for (char *tok = strtok(cfg_args, " \t"); tok &&
		     n < MAX_EAL_ARGS - 1; tok = strtok(NULL, " \t"))
			out[n++] = tok;
	}
	out[n] = NULL;
	return n;
}

struct node {
	struct rcd_config cfg;
	struct rc_net_iface ifc;
	unsigned n_workers;
	struct rcd_worker *workers[RTE_MAX_LCORE];
	struct rte_mempool *pools[RTE_MAX_LCORE];
	struct rte_ring *inboxes[RTE_MAX_LCORE];
	int port_up;
};

static int setup_workers(struct node *nd)
{
	const struct rcd_config *cfg = &nd->cfg;
	unsigned lcore, i = 0;

	if (rte_lcore_count() < cfg->workers + 1) {
		LOG(ERR, "%lu workers need %lu lcores (one is the control "
		    "core); EAL has %u: widen -l/--lcores",
		    (unsigned long)cfg->workers,
		    (unsigned long)cfg->workers + 1, rte_lcore_count());
		return -EINVAL;
	}
	RTE_LCORE_FOREACH_WORKER(lcore) {
		int socket = (int)rte_lcore_to_socket_id(lcore);
		struct rc_store_config sc = {0};
		struct rcd_worker *w;
		char name[32];

		if (i == cfg->workers)
			break;
		w = rte_zmalloc_socket("worker", sizeof(*w),
				       RTE_CACHE_LINE_SIZE, socket);
		if (!w)
			return -ENOMEM;
		nd->workers[i] = w;
		snprintf(name, sizeof(name), "mbuf_%u", i);
		nd->pools[i] = rte_pktmbuf_pool_create(
			name, (unsigned)cfg->mbufs, 256, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, socket);
		snprintf(name, sizeof(name), "inbox_%u", i);
		nd->inboxes[i] = rte_ring_create(name, 1024, socket,
						 RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "p%u", i);
		sc.name = name;
		sc.socket_id = socket;
		sc.memory_limit = cfg->memory / cfg->workers;
		sc.max_items = (uint32_t)(cfg->max_items / cfg->workers);
		sc.max_key_len = (uint32_t)cfg->max_key_size;
		sc.max_value_len = (uint32_t)cfg->max_value_size;
		w->store = rc_store_create(&sc);
		if (!nd->pools[i] || !nd->inboxes[i] || !w->store) {
			LOG(ERR, "worker %u (lcore %u, socket %d): cannot "
			    "allocate pool, ring or store: %s", i, lcore,
			    socket, strerror(errno ? errno : ENOMEM));
			return -ENOMEM;
		}
		w->id = i;
		w->lcore = lcore;
		w->port_id = (uint16_t)cfg->port_id;
		w->burst = (uint16_t)cfg->burst;
		w->partitions = (uint16_t)cfg->workers;
		w->epoch = (uint32_t)cfg->epoch;
		w->max_key = (uint32_t)cfg->max_key_size;
		w->max_value = (uint32_t)cfg->max_value_size;
		w->classes = (uint32_t)cfg->classes;
		w->idle_sleep_us = cfg->idle_sleep_us;
		w->ifc = &nd->ifc;
		w->pool = nd->pools[i];
		w->inbox = nd->inboxes[i];
		w->inboxes = nd->inboxes;
		w->tsc_hz = rte_get_tsc_hz();
		w->tsc_start = rte_rdtsc();
		w->quit = &quit;
		rc_store_get_stats(w->store, &w->stats.store);
		LOG(INFO, "worker %u on lcore %u (socket %d): partition of "
		    "%zu bytes, %u items; the index takes %lu of them", i,
		    lcore, socket, sc.memory_limit, sc.max_items,
		    (unsigned long)w->stats.store.index_bytes);
		i++;
	}
	nd->n_workers = i;
	return 0;
}

static void teardown(struct node *nd)
{
	if (nd->port_up)
		rc_net_port_teardown((uint16_t)nd->cfg.port_id);
	for (unsigned i = 0; i < RTE_MAX_LCORE; i++) {
		if (nd->workers[i]) {
			rc_store_destroy(nd->workers[i]->store);
			rte_free(nd->workers[i]);
		}
		rte_ring_free(nd->inboxes[i]);
		rte_mempool_free(nd->pools[i]);
	}
}

static void control_loop(struct node *nd)
{
	const struct rcd_config *cfg = &nd->cfg;
	int warned = 0;

	while (!quit) {
		usleep((useconds_t)cfg->stats_interval_ms * 1000);
		if (cfg->stats_file[0] &&
		    rcd_stats_write_file(nd->workers, nd->n_workers,
					 (uint16_t)cfg->port_id,
					 cfg->stats_file) != 0 &&
		    !warned) {
			LOG(WARNING, "cannot write %s", cfg->stats_file);
			warned = 1;
		}
	}
}

int main(int argc, char **argv)
{
	static struct node nd;
	struct args a = {0};
	struct rc_net_port_conf pc = {0};
	struct rcd_worker_stats sum;
	char *eargv[MAX_EAL_ARGS];
	char ip[INET_ADDRSTRLEN];
	int eargc, rc = 1;

	if (parse_args(argc, argv, &a) != 0 || load_config(&a, &nd.cfg) != 0)
		return 2;
	if (a.print_config) {
		print_config(&nd.cfg);
		return 0;
	}
	if (a.check)
		return 0;

	eargc = eal_argv(&a, nd.cfg.eal_args, eargv);
	if (rte_eal_init(eargc, eargv) < 0) {
		fprintf(stderr, "ringcached: EAL init failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (setup_workers(&nd) != 0)
		goto out;
	pc.port_id = (uint16_t)nd.cfg.port_id;
	pc.nb_queues = (uint16_t)nd.n_workers;
	pc.rx_desc = (uint16_t)nd.cfg.rx_desc;
	pc.tx_desc = (uint16_t)nd.cfg.tx_desc;
	pc.pools = nd.pools;
	pc.socket_id = rte_eth_dev_socket_id(pc.port_id);
	if (rc_net_port_setup(&pc, &nd.ifc.mac) != 0)
		goto out;
	nd.port_up = 1;
	nd.ifc.ip = nd.cfg.ip;
	nd.ifc.base_port = (uint16_t)nd.cfg.base_port;
	nd.ifc.n_ports = (uint16_t)nd.n_workers;

	for (unsigned i = 0; i < nd.n_workers; i++)
		rte_eal_remote_launch(rcd_worker_main, nd.workers[i],
				      nd.workers[i]->lcore);
	inet_ntop(AF_INET, &nd.cfg.ip, ip, sizeof(ip));
	LOG(NOTICE, "ready: %s udp/%u-%u, %u worker(s), %lu bytes of store",
	    ip, nd.ifc.base_port, nd.ifc.base_port + nd.n_workers - 1,
	    nd.n_workers, (unsigned long)nd.cfg.memory);
	control_loop(&nd);

	LOG(NOTICE, "stopping");
	rte_eal_mp_wait_lcore();
	rcd_stats_sum(nd.workers, nd.n_workers, &sum);
	rcd_stats_print(&sum, pc.port_id, stdout);
	if (nd.cfg.stats_file[0])
		rcd_stats_write_file(nd.workers, nd.n_workers, pc.port_id,
				     nd.cfg.stats_file);
	rc = 0;
out:
	quit = 1;
	rte_eal_mp_wait_lcore();
	teardown(&nd);
	rte_eal_cleanup();
	return rc;
}
