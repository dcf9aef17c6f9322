/* SPDX-License-Identifier: MIT
 * Warm restart speed (lib/store persist.c): fill one store, save it to a
 * file (written, fsync'd, renamed), load it into a fresh store; GB/s of
 * file bytes for each, median of the runs with their range.
 *
 *   rc_warm_bench [--memory BYTES] [--value BYTES] [--runs N] [--dir DIR]
 *
 * The load reads a file the save just wrote (in the page cache): what a
 * restart on the same machine sees unless memory pressure evicted it. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "rc_proto.h"
#include "rc_store.h"

static void digest_fn(const void *key, size_t len, void *out)
{
	rc_proto_key_digest(key, len, out);
}

static unsigned route1(void *arg, const void *digest)
{
	(void)arg;
	(void)digest;
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct rc_store *mk(const char *name, size_t mem, uint32_t items)
{
	struct rc_store_config c = {.name = name, .socket_id = -1,
				    .memory_limit = mem, .max_items = items,
				    .max_key_len = 250,
				    .max_value_len = 1u << 20,
				    .segment_size = 2u << 20, .n_classes = 1,
				    .digest = digest_fn};

	c.classes[0].share_ppm = RC_STORE_PPM;
	return rc_store_create(&c);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"memory", required_argument, NULL, 'm'},
		{"value", required_argument, NULL, 'v'},
		{"runs", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	size_t mem = 1ull << 30, vlen = 1024;
	unsigned runs = 5;
	const char *dir = "/tmp";
	char prefix[64], path[PATH_MAX], err[512];
	char *eal[] = {"rc_warm_bench", "--no-huge", "--no-pci", "--no-shconf",
		       "--no-telemetry", "-m", "1024", "-l", "0",
		       "--log-level", "lib.eal:error", "--file-prefix", prefix,
		       NULL};
	double save_gbs[64], load_gbs[64];
	uint64_t bytes = 0, items = 0;
	uint8_t *val;
	int o;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'm': mem = strtoull(optarg, NULL, 0); break;
		case 'v': vlen = strtoull(optarg, NULL, 0); break;
		case 'r': runs = (unsigned)atoi(optarg); break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: rc_warm_bench [--memory B] "
				"[--value B] [--runs N] [--dir DIR]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 64 || vlen > (1u << 20))
		return 2;
	snprintf(prefix, sizeof(prefix), "rcwb%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/rc_warm_bench.%d", dir, (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "rc_warm_bench: EAL init failed\n");
		return 1;
	}
	val = malloc(vlen + 1);
	memset(val, 'v', vlen);
	for (unsigned r = 0; r < runs; r++) {
		uint32_t max_items = (uint32_t)(mem / (vlen + 48)) + 1024;
		struct rc_store *a = mk("wb_a", mem, max_items), *b;
		struct rc_store_file_stats st;
		struct rc_store_stats ss;
		char key[32];
		uint8_t d[RC_STORE_DIGEST_LEN];
		uint64_t cas;
		double t0;

		if (!a) {
			fprintf(stderr, "rc_warm_bench: store: %s\n",
				strerror(errno));
			return 1;
		}
		/* Fill to ~90% of the budget: no eviction in the way. */
		for (uint64_t i = 0;; i++) {
			int kl = snprintf(key, sizeof(key), "item:%lu",
					  (unsigned long)i);

			rc_store_get_stats(a, &ss);
			if (ss.bytes_used > mem / 10 * 9 ||
			    ss.items + 1 >= max_items)
				break;
			digest_fn(key, (size_t)kl, d);
			rc_store_set(a, d, key, (uint16_t)kl, val,
				     (uint32_t)vlen, 0, 3600, 0, 0, 1, &cas);
		}
		t0 = now_s();
		if (rc_store_save(&a, 1, path, 1, 1800000000ull, &st, err,
				  sizeof(err)) != 0) {
			fprintf(stderr, "rc_warm_bench: %s\n", err);
			return 1;
		}
		save_gbs[r] = (double)st.bytes / (now_s() - t0) / 1e9;
		bytes = st.bytes;
		items = st.items;
		rc_store_destroy(a);
		b = mk("wb_b", mem, max_items);
		t0 = now_s();
		if (rc_store_load(&b, 1, 1, route1, NULL, digest_fn, path, 1,
				  1800000000ull, &st, err, sizeof(err)) != 0) {
			fprintf(stderr, "rc_warm_bench: %s\n", err);
			return 1;
		}
		load_gbs[r] = (double)st.bytes / (now_s() - t0) / 1e9;
		if (st.items != items) {
			fprintf(stderr, "rc_warm_bench: loaded %lu of %lu\n",
				(unsigned long)st.items, (unsigned long)items);
			return 1;
		}
		rc_store_destroy(b);
		unlink(path);
		printf("run %u: %lu items, %lu bytes: save %.2f GB/s, load "
		       "%.2f GB/s\n", r + 1, (unsigned long)items,
		       (unsigned long)bytes, save_gbs[r], load_gbs[r]);
	}
	qsort(save_gbs, runs, sizeof(double), cmp);
	qsort(load_gbs, runs, sizeof(double), cmp);
	printf("value %zu B, store %zu MiB, %lu items, file %.1f MiB, %s: "
	       "save %.2f GB/s (%.2f-%.2f), load %.2f GB/s (%.2f-%.2f), "
	       "median of %u\n", vlen, mem >> 20, (unsigned long)items,
	       (double)bytes / (1 << 20), dir, save_gbs[runs / 2],
	       save_gbs[0], save_gbs[runs - 1], load_gbs[runs / 2],
	       load_gbs[0], load_gbs[runs - 1], runs);
	free(val);
	/* EAL leaves an empty runtime dir even with --no-shconf. */
	snprintf(path, sizeof(path), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(path);
	return 0;
}
