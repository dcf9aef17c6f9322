/* SPDX-License-Identifier: MIT
 * rc_store_bench: lib/store measured without a network, one core.
 *
 *   speed    ops/s for get:set 95:5 and 50:50, Zipf 0.99 and uniform keys,
 *            1M and 10M keys, 64 B and 1 KiB values; GETs one by one and
 *            in bulk (rc_store_get_bulk, 32 at a time). Keys are hashed in
 *            the timed loop, as the worker does.
 *   hitrate  the store's eviction (CLOCK and FIFO segments) against exact
 *            LRU with the same bytes for items, on one Zipf trace,
 *            cache-aside (a miss is followed by a SET).
 *   memory   resident bytes per item for N items of 16-byte keys and
 *            64-byte values (perf/memory-vs-memcached runs memcached too).
 *
 * EAL runs with --no-huge, so the index is ordinary memory and counts in
 * the resident set. Every run is bounded by its counts. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "rc_proto.h"
#include "rc_store.h"
#include "workload.h"

#define KEY_LEN 16
#define ROUNDS 5

static void digest_fn(const void *key, size_t len, void *out)
{
	rc_proto_key_digest(key, len, out);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident memory: ordinary pages plus hugepages (EAL's heap). */
static long rss_bytes(void)
{
	char line[256];
	long kb, total = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1 ||
		    sscanf(line, "HugetlbPages: %ld kB", &kb) == 1)
			total += kb;
	fclose(f);
	return total * 1024;
}

static struct rc_store *mk_store(const char *name, size_t mem,
				 uint32_t items, uint32_t seg,
				 enum rc_store_policy pol, uint32_t max_value)
{
	struct rc_store_config c = {.name = name, .socket_id = -1,
				    .memory_limit = mem, .max_items = items,
				    .max_key_len = 250,
				    .max_value_len = max_value,
				    .segment_size = seg, .n_classes = 1,
				    .policy = pol, .digest = digest_fn};
	struct rc_store *s;

	c.classes[0].share_ppm = RC_STORE_PPM;
	s = rc_store_create(&c);
	if (!s) {
		fprintf(stderr, "rc_store_bench: store %s (%zu bytes, %u items): "
			"%s\n", name, mem, items, strerror(errno));
		exit(1);
	}
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ---- speed ------------------------------------------------------------ */

struct trace {
	uint32_t *key;     /* key number per op */
	uint8_t *is_set;
	size_t n;
};

static void make_trace(struct trace *t, size_t n, uint64_t keys, bool zipf,
		       unsigned get_pct, uint64_t seed)
{
	struct rb_zipf z;

	t->key = malloc(n * sizeof(*t->key));
	t->is_set = malloc(n);
	t->n = n;
	if (!t->key || !t->is_set) {
		fprintf(stderr, "rc_store_bench: out of memory\n");
		exit(1);
	}
	if (zipf)
		rb_zipf_init(&z, keys, 0.99);
	for (size_t i = 0; i < n; i++) {
		uint64_t k = zipf ? rb_zipf_next(&z, rb_uniform(&seed))
				  : rb_rand(&seed) % keys;

		/* Scatter ranks so popular keys are not neighbours. */
		t->key[i] = (uint32_t)((k * 0x9E3779B1ull) % keys);
		t->is_set[i] = (uint8_t)(rb_rand(&seed) % 100 >= get_pct);
	}
}

static void free_trace(struct trace *t)
{
	free(t->key);
	free(t->is_set);
}

/* Run the trace once; @return ops/s. */
static double run_trace(struct rc_store *s, const struct trace *t,
			const char *keys, uint32_t vlen, const char *val,
			bool bulk, uint64_t *hits, uint64_t *gets)
{
	struct rc_proto_digest d[RC_STORE_BULK];
	const void *dp[RC_STORE_BULK], *kp[RC_STORE_BULK];
	uint16_t kl[RC_STORE_BULK];
	struct rc_store_item_view v[RC_STORE_BULK];
	enum rc_store_result r[RC_STORE_BULK];
	unsigned nb = 0;
	double t0 = now_s();
	uint64_t cas, h = 0;

	for (size_t i = 0; i < t->n; i++) {
		const char *k = keys + (size_t)t->key[i] * KEY_LEN;

		if (t->is_set[i]) {
			struct rc_proto_digest one;

			rc_proto_key_digest(k, KEY_LEN, &one);
			rc_store_set(s, &one, k, KEY_LEN, val, vlen, 0, 0, 0, 0,
				     1, &cas);
		} else if (!bulk) {
			rc_proto_key_digest(k, KEY_LEN, &d[0]);
			h += rc_store_get(s, &d[0], k, KEY_LEN, 0, 1, &v[0]) ==
			     RC_STORE_OK;
		} else {
			rc_proto_key_digest(k, KEY_LEN, &d[nb]);
			dp[nb] = &d[nb];
			kp[nb] = k;
			kl[nb] = KEY_LEN;
			if (++nb == RC_STORE_BULK) {
				rc_store_get_bulk(s, nb, dp, kp, kl, 1, v, r);
				for (unsigned j = 0; j < nb; j++)
					h += r[j] == RC_STORE_OK;
				nb = 0;
			}
		}
		if ((i & 255) == 255)
			rc_store_maintain(s, 1, 256);
	}
	if (nb) {
		rc_store_get_bulk(s, nb, dp, kp, kl, 1, v, r);
		for (unsigned j = 0; j < nb; j++)
			h += r[j] == RC_STORE_OK;
	}
	*hits = h;
	*gets = 0;
	for (size_t i = 0; i < t->n; i++)
		*gets += !t->is_set[i];
	return (double)t->n / (now_s() - t0);
}

static int cmd_speed(size_t mem, size_t ops, bool quick)
{
	const uint64_t key_counts[] = {1000000, 10000000};
	const uint32_t vals[] = {64, 1024};
	static char val[1024];

	memset(val, 'v', sizeof(val));
	printf("| keys | value | keys dist | get:set | hits | Mops/s single "
	       "(min-max) | Mops/s bulk GET (min-max) | bulk/single |\n"
	       "|---|---|---|---|---|---|---|---|\n");
	for (unsigned ki = 0; ki < 2; ki++)
		for (unsigned vi = 0; vi < 2; vi++) {
			uint64_t nk = quick ? key_counts[ki] / 100
					    : key_counts[ki];
			char *keys = malloc(nk * KEY_LEN + 1);
			struct rc_store *s;
			char name[32];
			uint64_t cas;

			snprintf(name, sizeof(name), "sp%u%u", ki, vi);
			s = mk_store(name, mem, (uint32_t)nk, 1u << 20,
				     RC_STORE_CLOCK, 1024);
			for (uint64_t k = 0; k < nk; k++) {
				struct rc_proto_digest d;
				char *kb = keys + k * KEY_LEN;

				rb_key(kb, KEY_LEN, k);
				rc_proto_key_digest(kb, KEY_LEN, &d);
				rc_store_set(s, &d, kb, KEY_LEN, val, vals[vi],
					     0, 0, 0, 0, 1, &cas);
			}
			{
				struct rc_store_stats st;

				rc_store_get_stats(s, &st);
				fprintf(stderr, "preloaded %" PRIu64 " keys of %u B: "
					"%" PRIu64 " held, %" PRIu64 " segments, "
					"%" PRIu64 " evicted\n", nk, vals[vi],
					st.items, st.segments, st.evictions);
			}
			for (unsigned di = 0; di < 2; di++)
				for (unsigned mi = 0; mi < 2; mi++) {
					struct trace t;
					double single[ROUNDS], bulk[ROUNDS];
					uint64_t hits = 0, gets = 1;
					unsigned pct = mi ? 50 : 95;

					make_trace(&t, ops, nk, di == 0, pct,
						   42 + ki * 8 + vi * 4 + di * 2 + mi);
					/* Interleaved rounds: the two modes see
					 * the same machine noise. */
					for (unsigned r = 0; r < ROUNDS; r++) {
						single[r] = run_trace(s, &t, keys,
								      vals[vi],
								      val, false,
								      &hits, &gets);
						bulk[r] = run_trace(s, &t, keys,
								    vals[vi], val,
								    true, &hits,
								    &gets);
					}
					qsort(single, ROUNDS, sizeof(double),
					      cmp_double);
					qsort(bulk, ROUNDS, sizeof(double),
					      cmp_double);
					printf("| %" PRIu64 "K | %u B | %s | %u:%u "
					       "| %.1f%% | **%.2f** (%.2f-%.2f) | "
					       "**%.2f** (%.2f-%.2f) | %.2f |\n",
					       nk / 1000, vals[vi],
					       di ? "uniform" : "Zipf 0.99", pct,
					       100 - pct,
					       100.0 * (double)hits /
						       (double)gets,
					       single[ROUNDS / 2] / 1e6,
					       single[0] / 1e6,
					       single[ROUNDS - 1] / 1e6,
					       bulk[ROUNDS / 2] / 1e6,
					       bulk[0] / 1e6,
					       bulk[ROUNDS - 1] / 1e6,
					       bulk[ROUNDS / 2] /
						       single[ROUNDS / 2]);
					fflush(stdout);
					free_trace(&t);
					{
						struct rc_store_stats st;

						rc_store_get_stats(s, &st);
						fprintf(stderr, "  after: %" PRIu64
							" held, %" PRIu64 " segments, %"
							PRIu64 " evicted, %" PRIu64
							" kept, %" PRIu64 " inline\n",
							st.items, st.segments,
							st.evictions, st.reinserted,
							st.reclaims_inline);
					}
				}
			rc_store_destroy(s);
			free(keys);
		}
	return 0;
}

/* ---- hit rate: the store against exact LRU ---------------------------- */

struct lru {
	uint32_t *prev, *next;
	uint8_t *in;
	uint32_t head, tail;
	uint64_t used, cap, item;
};

#define LNONE UINT32_MAX

static void lru_unlink(struct lru *l, uint32_t k)
{
	if (l->prev[k] != LNONE)
		l->next[l->prev[k]] = l->next[k];
	else
		l->head = l->next[k];
	if (l->next[k] != LNONE)
		l->prev[l->next[k]] = l->prev[k];
	else
		l->tail = l->prev[k];
}

static void lru_front(struct lru *l, uint32_t k)
{
	l->prev[k] = LNONE;
	l->next[k] = l->head;
	if (l->head != LNONE)
		l->prev[l->head] = k;
	l->head = k;
	if (l->tail == LNONE)
		l->tail = k;
}

/* @return 1 on a hit; a miss inserts (cache-aside). */
static int lru_access(struct lru *l, uint32_t k)
{
	if (l->in[k]) {
		lru_unlink(l, k);
		lru_front(l, k);
		return 1;
	}
	while (l->used + l->item > l->cap && l->tail != LNONE) {
		uint32_t v = l->tail;

		lru_unlink(l, v);
		l->in[v] = 0;
		l->used -= l->item;
	}
	l->in[k] = 1;
	l->used += l->item;
	lru_front(l, k);
	return 0;
}

static int cmd_hitrate(uint64_t nk, size_t reqs, uint32_t vlen, double theta)
{
	const double fracs[] = {0.01, 0.02, 0.05, 0.10, 0.20, 0.40};
	const uint32_t seg = 64u << 10;
	const size_t item = rc_store_item_size(KEY_LEN, vlen, 0);
	static char val[4096];
	char *keys = malloc(nk * (KEY_LEN + 1));
	uint32_t *trace = malloc(reqs * sizeof(*trace));
	struct rb_zipf z;
	uint64_t seed = 7;

	if (!keys || !trace || vlen > sizeof(val))
		return 1;
	rb_zipf_init(&z, nk, theta);
	for (uint64_t k = 0; k < nk; k++)
		rb_key(keys + k * (KEY_LEN + 1), KEY_LEN, k);
	for (size_t i = 0; i < reqs; i++)
		trace[i] = (uint32_t)((rb_zipf_next(&z, rb_uniform(&seed)) *
				       0x9E3779B1ull) % nk);
	printf("Trace: %" PRIu64 " keys, %zu GETs (hit ratio over the second "
	       "half), Zipf %.2f, %u-byte values (%zu bytes per item), "
	       "cache-aside; segments of %u KiB.\n\n"
	       "| cache (of working set) | exact LRU | ringcache CLOCK "
	       "segments | ringcache FIFO segments | CLOCK - LRU |\n"
	       "|---|---|---|---|---|\n",
	       nk, reqs, theta, vlen, item, seg >> 10);
	for (unsigned fi = 0; fi < sizeof(fracs) / sizeof(fracs[0]); fi++) {
		uint64_t ws = nk * item;
		uint32_t nseg = (uint32_t)((double)ws * fracs[fi] / seg);
		double ratio[3];

		if (nseg < 4)
			nseg = 4;
		/* LRU gets the same bytes for items as the store's segments
		 * (less their 8-byte headers). */
		{
			struct lru l = {.cap = (uint64_t)nseg * (seg - 8),
					.item = item, .head = LNONE,
					.tail = LNONE};
			uint64_t hits = 0;

			l.prev = malloc(nk * 4);
			l.next = malloc(nk * 4);
			l.in = calloc(nk, 1);
			for (size_t i = 0; i < reqs; i++) {
				int h = lru_access(&l, trace[i]);

				if (i >= reqs / 2)
					hits += (uint64_t)h;
			}
			ratio[0] = (double)hits / (double)(reqs - reqs / 2);
			free(l.prev);
			free(l.next);
			free(l.in);
		}
		for (int p = 0; p < 2; p++) {
			struct rc_store *s;
			struct rc_store_stats st;
			uint64_t hits = 0, cas;
			char name[32];

			snprintf(name, sizeof(name), "hr%u%d", fi, p);
			s = mk_store(name, (size_t)16 << 30, (uint32_t)nk, seg,
				     p ? RC_STORE_FIFO : RC_STORE_CLOCK, vlen);
			rc_store_get_stats(s, &st);
			if (rc_store_set_memory(s, st.index_bytes +
						       (size_t)nseg * seg) != 0)
				return 1;
			for (size_t i = 0; i < reqs; i++) {
				const char *k = keys + (size_t)trace[i] *
							       (KEY_LEN + 1);
				struct rc_proto_digest d;
				struct rc_store_item_view v;

				rc_proto_key_digest(k, KEY_LEN, &d);
				if (rc_store_get(s, &d, k, KEY_LEN, 0, 1, &v) ==
				    RC_STORE_OK) {
					if (i >= reqs / 2)
						hits++;
				} else {
					rc_store_set(s, &d, k, KEY_LEN, val,
						     vlen, 0, 0, 0, 0, 1, &cas);
				}
				if ((i & 255) == 255)
					rc_store_maintain(s, 1, 256);
			}
			ratio[1 + p] = (double)hits / (double)(reqs - reqs / 2);
			rc_store_destroy(s);
		}
		printf("| %.0f%% (%u segments) | %.2f%% | %.2f%% | %.2f%% | "
		       "%+.2f points |\n", fracs[fi] * 100, nseg,
		       ratio[0] * 100, ratio[1] * 100, ratio[2] * 100,
		       (ratio[1] - ratio[0]) * 100);
		fflush(stdout);
	}
	free(keys);
	free(trace);
	return 0;
}

/* ---- memory ----------------------------------------------------------- */

static int cmd_memory(uint64_t n, long rss_start)
{
	static char val[64];
	long rss_eal = rss_bytes(), rss_full;
	struct rc_store_stats st;
	struct rc_store *s;
	char key[KEY_LEN + 1];
	uint64_t cas;

	memset(val, 'v', sizeof(val));
	/* Room for every item: no eviction may happen. */
	s = mk_store("mem", (size_t)n * 200 + (256u << 20), (uint32_t)n,
		     1u << 20, RC_STORE_CLOCK, 1024);
	for (uint64_t k = 0; k < n; k++) {
		struct rc_proto_digest d;

		rb_key(key, KEY_LEN, k);
		rc_proto_key_digest(key, KEY_LEN, &d);
		if (rc_store_set(s, &d, key, KEY_LEN, val, sizeof(val), 0, 0,
				 0, 0, 1, &cas) != RC_STORE_OK) {
			fprintf(stderr, "rc_store_bench: set %" PRIu64
				" failed\n", k);
			return 1;
		}
	}
	rss_full = rss_bytes();
	rc_store_get_stats(s, &st);
	printf("{\"items\": %" PRIu64 ", \"evictions\": %" PRIu64
	       ", \"rss_bytes\": %ld, \"rss_before_eal\": %ld, "
	       "\"rss_after_eal\": %ld, \"index_bytes\": %" PRIu64
	       ", \"segments\": %" PRIu64 ", \"item_bytes\": %zu, "
	       "\"rss_per_item\": %.1f, \"store_rss_per_item\": %.1f}\n",
	       st.items, st.evictions, rss_full, rss_start, rss_eal,
	       st.index_bytes, st.segments,
	       rc_store_item_size(KEY_LEN, sizeof(val), 0),
	       (double)rss_full / (double)n,
	       (double)(rss_full - rss_eal) / (double)n);
	rc_store_destroy(s);
	return st.items == n ? 0 : 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rc_store_bench speed [--ops N] [--quick]\n"
		"       rc_store_bench hitrate [--keys N] [--requests N] "
		"[--value B] [--theta T]\n"
		"       rc_store_bench memory [--items N]\n"
		"  speed: ops/s on one core (markdown table, median of %d "
		"rounds)\n"
		"  hitrate: CLOCK and FIFO segments against exact LRU\n"
		"  memory: resident bytes per item, 16 B keys, 64 B values\n"
		"  --ops N        ops per round (default 2000000)\n"
		"  --quick        1/100 of the keys (a smoke run)\n"
		"  --memory MiB   speed: store memory (default 4096)\n"
		"  --keys N       hitrate key space (default 1000000)\n"
		"  --requests N   hitrate trace length (default 20000000)\n"
		"  --value B      hitrate value size (default 64)\n"
		"  --theta T      hitrate Zipf skew (default 0.99)\n"
		"  --items N      memory: items (default 10000000)\n"
		"  --huge         memory: EAL on hugepages (--in-memory), which\n"
		"                 must be reserved; counted with VmRSS\n"
		"  -h, --help     this help\n", ROUNDS);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"ops", required_argument, NULL, 'o'},
		{"quick", no_argument, NULL, 'q'},
		{"keys", required_argument, NULL, 'k'},
		{"requests", required_argument, NULL, 'r'},
		{"value", required_argument, NULL, 'v'},
		{"theta", required_argument, NULL, 't'},
		{"items", required_argument, NULL, 'i'},
		{"huge", no_argument, NULL, 'H'},
		{"memory", required_argument, NULL, 'M'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char prefix[64], rundir[PATH_MAX], mem_arg[32];
	char *eal[] = {"rc_store_bench", "--no-huge", "--no-pci", "--no-shconf",
		       "--no-telemetry", "-m", mem_arg, "-l", "0",
		       "--log-level", "lib.eal:error", "--file-prefix", prefix,
		       NULL};
	size_t ops = 2000000, reqs = 20000000;
	uint64_t keys = 1000000, items = 10000000;
	uint32_t vlen = 64;
	double theta = 0.99;
	bool quick = false, huge = false;
	size_t speed_mem = (size_t)4 << 30;
	long rss_start = rss_bytes();
	const char *cmd;
	int opt, rc;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'o': ops = strtoull(optarg, NULL, 10); break;
		case 'q': quick = true; break;
		case 'k': keys = strtoull(optarg, NULL, 10); break;
		case 'r': reqs = strtoull(optarg, NULL, 10); break;
		case 'v': vlen = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 't': theta = strtod(optarg, NULL); break;
		case 'i': items = strtoull(optarg, NULL, 10); break;
		case 'H': huge = true; break;
		case 'M': speed_mem = strtoull(optarg, NULL, 10) << 20; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (ops == 0 || ops > 100000000 || keys < 1000 || keys > 100000000 ||
	    reqs < 1000 || reqs > 1000000000 || vlen > 4096 || theta <= 0 ||
	    theta >= 1 || items == 0 || items > 100000000) {
		fprintf(stderr, "rc_store_bench: a count is out of range "
			"(see --help)\n");
		return 2;
	}
	/* The index lives in EAL memory: room for 10M-100M entries. */
	snprintf(mem_arg, sizeof(mem_arg), "%u",
		 (unsigned)(256 + (items > keys ? items : keys) * 64 / 1000000));
	snprintf(prefix, sizeof(prefix), "rcsb%d", (int)getpid());
	/* With hugepages (as a node runs): EAL's heap grows in 2 MiB pages
	 * as the index needs them. */
	if (huge) {
		eal[1] = "--in-memory";
		eal[5] = "--log-level=lib.eal:error"; /* in place of -m N */
		eal[6] = "--no-telemetry";
	}
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rc_store_bench: EAL init failed\n");
		return 1;
	}
	if (!strcmp(cmd, "speed"))
		rc = cmd_speed(speed_mem, ops, quick);
	else if (!strcmp(cmd, "hitrate"))
		rc = cmd_hitrate(keys, reqs, vlen, theta);
	else if (!strcmp(cmd, "memory"))
		rc = cmd_memory(items, rss_start);
	else {
		usage(stderr);
		rc = 2;
	}
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	return rc;
}
