/* SPDX-License-Identifier: MIT
 * ringdemo: a short, bounded, mixed workload through libringcache, with
 * what it did and the latency the client measured. Used by scripts/demo. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringcache.h"

struct tally {
	uint64_t ops, hits, misses, errors;
	double *lat_us;
	size_t n_lat, cap_lat;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void record(struct tally *t, double us)
{
	if (t->n_lat < t->cap_lat)
		t->lat_us[t->n_lat++] = us;
	t->ops++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i];
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringdemo --server IP[:PORT] [options]\n"
		"\n"
		"Drive a short mixed workload (sets, gets, deletes, multi-gets,\n"
		"a TTL expiry) against a ringcache node and print what it did.\n"
		"\n"
		"  -s, --server IP[:PORT]  node address (repeatable; default port %d)\n"
		"  -n, --ops N             get/set/delete operations (default 20000,\n"
		"                          at most 10000000)\n"
		"  -k, --keys N            distinct keys (default 1000)\n"
		"  -v, --value-size N      value bytes (default 64, at most 1024)\n"
		"  -t, --timeout-ms N      per-attempt timeout (default 100)\n"
		"      --no-expiry         skip the 2-second TTL expiry check\n"
		"      --wait-ready SECS   only ping every server until all answer\n"
		"                          (exit 0) or SECS pass (exit 1)\n"
		"  -h, --help              this help\n",
		RC_DEFAULT_PORT);
}

static int expiry_check(rc_client *c, struct tally *t)
{
	struct rc_set_opts o = {.ttl = 1, .class_id = RC_CLASS_AUTO};
	char buf[16];
	size_t vl;
	int r1, r2, r3;

	r1 = rc_set(c, "demo:ttl", 8, "short-lived", 11, &o, NULL);
	r2 = rc_get(c, "demo:ttl", 8, buf, sizeof(buf), &vl, NULL);
	sleep(2); /* TTL 1 s on a whole-second clock: gone after 2 s */
	r3 = rc_get(c, "demo:ttl", 8, buf, sizeof(buf), &vl, NULL);
	t->ops += 3;
	printf("ttl:      set ttl=1s -> %s, get now -> %s, get after 2 s -> %s\n",
	       rc_strerror(r1), rc_strerror(r2), rc_strerror(r3));
	return r1 == RC_OK && r2 == RC_OK && r3 == RC_ENOTFOUND ? 0 : -1;
}

static int wait_ready(rc_client *c, size_t n, unsigned long secs)
{
	double end = now_us() + (double)secs * 1e6;

	for (size_t i = 0; i < n; i++) {
		while (rc_ping(c, i) != RC_OK) {
			if (now_us() > end) {
				fprintf(stderr, "ringdemo: server %zu did not "
					"answer within %lu s\n", i, secs);
				rc_client_destroy(c);
				return 1;
			}
			usleep(50 * 1000);
		}
	}
	rc_client_destroy(c);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"server", required_argument, NULL, 's'},
		{"ops", required_argument, NULL, 'n'},
		{"keys", required_argument, NULL, 'k'},
		{"value-size", required_argument, NULL, 'v'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"no-expiry", no_argument, NULL, 'E'},
		{"wait-ready", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *servers[16];
	size_t n_servers = 0;
	unsigned long ops = 20000, keys = 1000, vsize = 64, timeout = 100;
	int c, err, expiry = 1, rc = 0;
	unsigned long wait_secs = 0;
	struct tally t = {0};
	uint64_t gets = 0, sets = 0, dels = 0, mget_keys = 0, mget_hits = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char val[1024], buf[1024], key[32];
	double t0;
	rc_client *cl;

	while ((c = getopt_long(argc, argv, "s:n:k:v:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (n_servers < 16)
				servers[n_servers++] = optarg;
			break;
		case 'n': ops = strtoul(optarg, NULL, 10); break;
		case 'k': keys = strtoul(optarg, NULL, 10); break;
		case 'v': vsize = strtoul(optarg, NULL, 10); break;
		case 't': timeout = strtoul(optarg, NULL, 10); break;
		case 'E': expiry = 0; break;
		case 'W': wait_secs = strtoul(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (n_servers == 0 || ops == 0 || ops > 10000000 || keys == 0 ||
	    vsize > sizeof(val)) {
		usage(stderr);
		return 2;
	}
	cl = rc_client_create(&(struct rc_client_config){
				      .servers = servers,
				      .n_servers = n_servers,
				      .timeout_ms = (unsigned)timeout,
				      .retries = 2, .backoff_ms = 1},
			      &err);
	if (!cl) {
		fprintf(stderr, "ringdemo: %s\n", rc_strerror(err));
		return 1;
	}
	if (wait_secs)
		return wait_ready(cl, n_servers, wait_secs);
	t.cap_lat = ops + 64;
	t.lat_us = calloc(t.cap_lat, sizeof(double));
	memset(val, 'v', sizeof(val));

	t0 = now_us();
	/* Mix: 60% get, 30% set, 10% delete over a small key space, so the
	 * run shows hits, misses and deletes of present and absent keys. */
	for (unsigned long i = 0; i < ops; i++) {
		unsigned long k, dice;
		size_t kl, vl;
		double s;
		int r;

		seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
		k = (unsigned long)(seed % keys);
		dice = (unsigned long)((seed >> 32) % 10);
		kl = (size_t)snprintf(key, sizeof(key), "demo:%lu", k);
		s = now_us();
		if (dice < 6) {
			r = rc_get(cl, key, kl, buf, sizeof(buf), &vl, NULL);
			gets++;
			if (r == RC_OK)
				t.hits++;
			else if (r == RC_ENOTFOUND)
				t.misses++;
		} else if (dice < 9) {
			r = rc_set(cl, key, kl, val, vsize, NULL, NULL);
			sets++;
		} else {
			r = rc_delete(cl, key, kl, 0);
			dels++;
			if (r == RC_ENOTFOUND)
				r = RC_OK; /* absent is a fine outcome here */
		}
		record(&t, now_us() - s);
		if (r != RC_OK && r != RC_ENOTFOUND)
			t.errors++;
	}
	/* Multi-get: 100 batches of 32 keys. */
	for (unsigned b = 0; b < 100; b++) {
		struct rc_mget_item it[32];
		char kb[32][32], vb[32][1024];
		double s;

		for (unsigned j = 0; j < 32; j++) {
			it[j].key = kb[j];
			it[j].key_len = (size_t)snprintf(kb[j], sizeof(kb[j]),
						  "demo:%lu",
						  (unsigned long)((b * 32 + j) % keys));
			it[j].buf = vb[j];
			it[j].cap = sizeof(vb[j]);
		}
		s = now_us();
		if (rc_mget(cl, it, 32) != RC_OK)
			t.errors++;
		t.ops++;
		for (unsigned j = 0; j < 32; j++) {
			mget_keys++;
			if (it[j].status == RC_OK)
				mget_hits++;
			else if (it[j].status != RC_ENOTFOUND)
				t.errors++;
		}
		(void)s;
	}
	double secs = (now_us() - t0) / 1e6;

	qsort(t.lat_us, t.n_lat, sizeof(double), cmp_double);
	printf("workload: %" PRIu64 " ops in %.2f s (%.0f ops/s): %" PRIu64
	       " get, %" PRIu64 " set, %" PRIu64 " delete, 100 multi-gets of 32 keys\n",
	       t.ops, secs, (double)t.ops / secs, gets, sets, dels);
	printf("gets:     %" PRIu64 " hits, %" PRIu64 " misses (hit rate %.1f%%)\n",
	       t.hits, t.misses,
	       gets ? 100.0 * (double)t.hits / (double)gets : 0.0);
	printf("mget:     %" PRIu64 " keys, %" PRIu64 " hits\n", mget_keys,
	       mget_hits);
	printf("latency:  p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us "
	       "(single-key ops, client-measured round trip)\n",
	       pct(t.lat_us, t.n_lat, 50), pct(t.lat_us, t.n_lat, 99),
	       pct(t.lat_us, t.n_lat, 99.9),
	       t.n_lat ? t.lat_us[t.n_lat - 1] : 0.0);
	if (expiry && expiry_check(cl, &t) != 0) {
		t.errors++;
		rc = 1;
	}
	struct rc_client_stats cs;

	rc_client_get_stats(cl, &cs);
	printf("errors:   %" PRIu64 " (datagrams sent %" PRIu64 ", retries %"
	       PRIu64 ", timeouts %" PRIu64 ")\n",
	       t.errors, cs.requests, cs.retries, cs.timeouts);
	/* A node that does not list this client in acl.trusted answers a
	 * value larger than the request only to a padded request. */
	printf("padding:  %" PRIu64 " requests sent again padded (this client "
	       "is not in the node's acl.trusted)\n", cs.padded);
	rc_client_destroy(cl);
	free(t.lat_us);
	return rc || t.errors ? 1 : 0;
}
