/* SPDX-License-Identifier: MIT
 * ringbench: open-loop load generator for ringcache (and memcached, for
 * comparison). Parses options, runs, prints a human summary or JSON. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define RB_DEFAULT_EAL "-l 0 --no-pci --no-huge -m 512 --no-telemetry"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: ringbench --server IP[:PORT] [options]\n"
"\n"
"Open-loop load: requests leave on a fixed schedule whatever the server\n"
"does, and latency is measured from the scheduled send time.\n"
"\n"
"  -s, --server IP[:PORT]   target (default port 7711; memcached: 11211)\n"
"  -p, --protocol P         ringcache (default) or memcached (UDP)\n"
"  -T, --transport T        udp (kernel sockets, default) or memif (DPDK;\n"
"                           thread i sends partition i's keys on queue i)\n"
"      --memif PATH         memif: the daemon's socket (its --vdev\n"
"                           net_memif0,role=server,socket=PATH)\n"
"      --eal ARGS           memif: EAL arguments (default \"%s\")\n"
"      --source IP          memif: our IPv4 address (default 198.18.0.1)\n"
"      --linger S           memif: after printing the summary, keep the link\n"
"                           until the server closes it (at most S seconds), so\n"
"                           the server never loses its client while polling\n"
"  -P, --partitions N       ringcache partitions on the node (default 1)\n"
"  -r, --rate N             requests per second, all threads (default 10000)\n"
"      --poisson            exponential inter-arrival times (default constant)\n"
"  -d, --duration S         measured seconds (default 10, at most 3600)\n"
"  -w, --warmup S           unmeasured seconds first (default 1)\n"
"  -t, --threads N          sender threads, one socket each (default 1)\n"
"  -k, --keys N             key space (default 100000)\n"
"      --key-size N         key bytes (default 16)\n"
"      --value-size N       value bytes for SETs (default 64, max %d)\n"
"  -g, --get-ratio F        fraction of GETs, 0..1 (default 0.95)\n"
"  -z, --zipf F             Zipf skew in (0,1); 0 = uniform (default 0.99)\n"
"  -b, --batch N            keys per GET datagram (multi-get; default 1)\n"
"      --timeout-ms N       a request unanswered this long is a timeout\n"
"                           (default 1000)\n"
"      --tick-us N          sleep until N us of sends are due and send them in\n"
"                           one sendmmsg (fewer wake-ups; the wait counts in\n"
"                           their latency; default 0 = each on time)\n"
"      --no-rx-stamps       time replies when read, not by the kernel's receive\n"
"                           stamp (then every reply wakes the sender)\n"
"      --preload            SET every key first (closed loop; a lost reply\n"
"                           is sent again after 200 ms, 10 tries at most)\n"
"      --seed N             random seed (default 1)\n"
"      --json               print the summary as JSON\n"
"  -q, --quiet              no progress line\n"
"  -h, --help\n"
"  -V, --version\n", RB_DEFAULT_EAL, RB_MAX_VALUE);
}

static int parse_server(const char *s, struct sockaddr_in *a, int defport)
{
	char host[64];
	const char *colon = strchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);

	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)(colon ? atoi(colon + 1) : defport));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 && a->sin_port ? 0 : -1;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_human(const struct rb_config *c, const struct rb_result *r)
{
	struct rb_hist all = r->get;

	rb_hist_merge(&all, &r->set);
	printf("target    %.0f req/s (%s), %.1f s measured, %u thread(s), %s "
	       "over %s\n", c->rate, c->poisson ? "poisson" : "constant",
	       c->duration, c->threads, c->proto->name, c->io->name);
	printf("achieved  %.0f req/s sent, %.0f req/s answered\n",
	       (double)r->sent / r->elapsed, (double)r->received / r->elapsed);
	printf("outcomes  %llu answered, %llu timeouts, %llu errors, %llu bad "
	       "replies, %llu sends >1 ms late\n",
	       (unsigned long long)r->received, (unsigned long long)r->timeouts,
	       (unsigned long long)r->errors, (unsigned long long)r->bad,
	       (unsigned long long)r->late);
	printf("gets      %llu hits, %llu misses (%.2f%% hit rate)\n",
	       (unsigned long long)r->hits, (unsigned long long)r->misses,
	       r->hits + r->misses ? 100.0 * (double)r->hits /
					     (double)(r->hits + r->misses) : 0.0);
	printf("latency   %-5s %9s %9s %9s %9s %9s  (us)\n", "", "p50", "p90",
	       "p99", "p99.9", "max");
	const struct rb_hist *hs[3] = {&all, &r->get, &r->set};
	const char *nm[3] = {"all", "get", "set"};

	for (int i = 0; i < 3; i++)
		printf("          %-5s %9.1f %9.1f %9.1f %9.1f %9.1f\n", nm[i],
		       us(rb_hist_quantile(hs[i], 0.5)),
		       us(rb_hist_quantile(hs[i], 0.9)),
		       us(rb_hist_quantile(hs[i], 0.99)),
		       us(rb_hist_quantile(hs[i], 0.999)), us(hs[i]->max));
}

static void print_json(const struct rb_config *c, const struct rb_result *r)
{
	struct rb_hist all = r->get;

	rb_hist_merge(&all, &r->set);
	printf("{\"protocol\":\"%s\",\"transport\":\"%s\",\"target_rate\":%.0f,\"duration_s\":%.3f,"
	       "\"threads\":%u,\"sent\":%llu,\"answered\":%llu,"
	       "\"achieved_rate\":%.1f,\"timeouts\":%llu,\"errors\":%llu,"
	       "\"bad_replies\":%llu,\"late_sends\":%llu,\"hits\":%llu,\"misses\":%llu,"
	       "\"latency_us\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
	       "\"p999\":%.2f,\"max\":%.2f},"
	       "\"get_p99_us\":%.2f,\"set_p99_us\":%.2f,"
	       "\"latency_sent_us\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
	       "\"p999\":%.2f,\"max\":%.2f}}\n",
	       c->proto->name, c->io->name, c->rate, c->duration, c->threads,
	       (unsigned long long)r->sent, (unsigned long long)r->received,
	       (double)r->received / r->elapsed, (unsigned long long)r->timeouts,
	       (unsigned long long)r->errors, (unsigned long long)r->bad,
	       (unsigned long long)r->late, (unsigned long long)r->hits,
	       (unsigned long long)r->misses,
	       us(rb_hist_quantile(&all, 0.5)), us(rb_hist_quantile(&all, 0.9)),
	       us(rb_hist_quantile(&all, 0.99)), us(rb_hist_quantile(&all, 0.999)),
	       us(all.max), us(rb_hist_quantile(&r->get, 0.99)),
	       us(rb_hist_quantile(&r->set, 0.99)),
	       us(rb_hist_quantile(&r->wire, 0.5)),
	       us(rb_hist_quantile(&r->wire, 0.9)),
	       us(rb_hist_quantile(&r->wire, 0.99)),
	       us(rb_hist_quantile(&r->wire, 0.999)), us(r->wire.max));
}

int main(int argc, char **argv)
{
	enum { O_POISSON = 256, O_KEYSIZE, O_VALSIZE, O_TIMEOUT, O_PRELOAD,
	       O_SEED, O_JSON, O_TICK, O_NOSTAMPS, O_MEMIF, O_EAL,
	       O_SOURCE, O_LINGER };
	static const struct option lo[] = {
		{"server", required_argument, NULL, 's'},
		{"protocol", required_argument, NULL, 'p'},
		{"transport", required_argument, NULL, 'T'},
		{"memif", required_argument, NULL, O_MEMIF},
		{"eal", required_argument, NULL, O_EAL},
		{"source", required_argument, NULL, O_SOURCE},
		{"linger", required_argument, NULL, O_LINGER},
		{"partitions", required_argument, NULL, 'P'},
		{"rate", required_argument, NULL, 'r'},
		{"poisson", no_argument, NULL, O_POISSON},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"threads", required_argument, NULL, 't'},
		{"keys", required_argument, NULL, 'k'},
		{"key-size", required_argument, NULL, O_KEYSIZE},
		{"value-size", required_argument, NULL, O_VALSIZE},
		{"get-ratio", required_argument, NULL, 'g'},
		{"zipf", required_argument, NULL, 'z'},
		{"batch", required_argument, NULL, 'b'},
		{"timeout-ms", required_argument, NULL, O_TIMEOUT},
		{"tick-us", required_argument, NULL, O_TICK},
		{"no-rx-stamps", no_argument, NULL, O_NOSTAMPS},
		{"preload", no_argument, NULL, O_PRELOAD},
		{"seed", required_argument, NULL, O_SEED},
		{"json", no_argument, NULL, O_JSON},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct rb_config c = {
		.proto = &rb_proto_ringcache, .io = &rb_io_udp,
		.eal_args = RB_DEFAULT_EAL, .partitions = 1, .rate = 10000,
		.duration = 10, .warmup = 1, .threads = 1, .keys = 100000,
		.key_size = 16, .value_size = 64, .get_ratio = 0.95,
		.zipf = 0.99, .batch = 1, .timeout_ms = 1000, .seed = 1,
		.rx_stamps = true,
	};
	const char *server = NULL;
	struct rb_result r;
	int o, json = 0, quiet = 0;

	c.source.s_addr = htonl(0xc6120001); /* 198.18.0.1 */
	while ((o = getopt_long(argc, argv, "s:p:T:P:r:d:w:t:k:g:z:b:qhV", lo,
				NULL)) != -1) {
		switch (o) {
		case 's': server = optarg; break;
		case 'p':
			if (!strcmp(optarg, "memcached"))
				c.proto = &rb_proto_memcached;
			else if (strcmp(optarg, "ringcache") != 0)
				goto bad;
			break;
		case 'T':
			if (!strcmp(optarg, "memif"))
				c.io = &rb_io_memif;
			else if (strcmp(optarg, "udp") != 0)
				goto bad;
			break;
		case O_MEMIF: c.memif_socket = optarg; break;
		case O_EAL: c.eal_args = optarg; break;
		case O_SOURCE:
			if (inet_pton(AF_INET, optarg, &c.source) != 1)
				goto bad;
			break;
		case O_LINGER:
			c.linger_s = (unsigned)atoi(optarg);
			if (c.linger_s > 600)
				goto bad;
			break;
		case 'P': c.partitions = (unsigned)atoi(optarg); break;
		case 'r': c.rate = atof(optarg); break;
		case O_POISSON: c.poisson = true; break;
		case 'd': c.duration = atof(optarg); break;
		case 'w': c.warmup = atof(optarg); break;
		case 't': c.threads = (unsigned)atoi(optarg); break;
		case 'k': c.keys = strtoull(optarg, NULL, 10); break;
		case O_KEYSIZE: c.key_size = strtoul(optarg, NULL, 10); break;
		case O_VALSIZE: c.value_size = strtoul(optarg, NULL, 10); break;
		case 'g': c.get_ratio = atof(optarg); break;
		case 'z': c.zipf = atof(optarg); break;
		case 'b': c.batch = (unsigned)atoi(optarg); break;
		case O_TIMEOUT: c.timeout_ms = (unsigned)atoi(optarg); break;
		case O_NOSTAMPS: c.rx_stamps = false; break;
		case O_TICK: c.tick_us = (unsigned)atoi(optarg); break;
		case O_PRELOAD: c.preload = true; break;
		case O_SEED: c.seed = strtoull(optarg, NULL, 10); break;
		case O_JSON: json = 1; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ringbench %s\n", RC_VERSION); return 0;
		default: goto bad;
		}
	}
	/* Every run is bounded: duration and rate have hard limits. */
	if (!server || c.rate <= 0 || c.rate > 1e8 || c.duration <= 0 ||
	    c.duration > 3600 || c.warmup < 0 || c.warmup > 600 ||
	    c.threads < 1 || c.threads > 64 || c.keys < 1 ||
	    c.key_size < 4 || c.key_size > 250 || c.value_size > RB_MAX_VALUE ||
	    c.get_ratio < 0 || c.get_ratio > 1 || c.zipf < 0 || c.zipf >= 1 ||
	    c.batch < 1 || c.batch > RB_MAX_BATCH || c.partitions < 1 ||
	    c.partitions > 64 || c.timeout_ms < 1 || c.timeout_ms > 60000 ||
	    c.tick_us > 10000)
		goto bad;
	/* memif: queue i is partition i's (the daemon's worker i), so the
	 * sender threads, queues and partitions must all agree. */
	c.pin_partition = c.io == &rb_io_memif;
	if (c.io == &rb_io_memif &&
	    (!c.memif_socket || c.threads != c.partitions))
		goto bad;
	if (parse_server(server, &c.server,
			 c.proto == &rb_proto_memcached ? 11211 : 7711) != 0)
		goto bad;
	c.progress = !quiet && !json && isatty(STDERR_FILENO);
	if (rb_run(&c, &r) != 0) {
		if (c.io->fini)
			c.io->fini();
		return 1;
	}
	if (c.preload && !json)
		printf("preload   %llu keys set, %llu unacknowledged\n",
		       (unsigned long long)(c.keys - r.preload_missing),
		       (unsigned long long)r.preload_missing);
	if (json)
		print_json(&c, &r);
	else
		print_human(&c, &r);
	fflush(stdout);
	if (c.io->fini)
		c.io->fini();
	return 0;
bad:
	usage(stderr);
	return 2;
}
