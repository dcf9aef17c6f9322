/* SPDX-License-Identifier: MIT
 * Load and checks for the replication test (repl.sh), through
 * libringcache configured with a primary/standby pair.
 *
 *   rc_repl_load load PRIMARY STANDBY MS RATE DURABLE_EVERY OUTDIR
 *       SETs of keys "k<n>" = "v-k<n>" at RATE/s for MS ms (every
 *       DURABLE_EVERY-th one durable, 0: none), one GET per four SETs.
 *       Writes OUTDIR/durable (durable SETs acknowledged OK) and
 *       OUTDIR/plain (plain SETs acknowledged OK), one key a line, and
 *       prints a summary line of JSON.
 *   rc_repl_load verify SERVER FILE
 *       GETs every key of FILE from SERVER alone; prints
 *       {"present":P,"missing":M,"wrong":W}.
 *   rc_repl_load fill SERVER FIRST COUNT VSIZE
 *       SETs keys "f<n>", n in [FIRST, FIRST+COUNT), each a VSIZE-byte
 *       value derived from its key (fill_value), as fast as one client
 *       goes; prints {"stored":S,"errors":E,"bytes":B,"seconds":T}.
 *   rc_repl_load check SERVER FIRST COUNT VSIZE
 *       GETs those keys (64 at a time) and compares every byte; prints
 *       {"present":P,"missing":M,"wrong":W,"errors":E}.
 * Exit 0, or 2 on misuse. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringcache.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static int verify(const char *server, const char *path)
{
	const char *servers[1] = {server};
	char key[64], want[80], buf[256];
	unsigned present = 0, missing = 0, wrong = 0, other = 0;
	FILE *f = fopen(path, "r");
	rc_client *c;
	int err;

	if (!f) {
		perror(path);
		return 2;
	}
	c = rc_client_create(&(struct rc_client_config){
		.servers = servers, .n_servers = 1, .timeout_ms = 200,
		.retries = 3}, &err);
	if (!c) {
		fprintf(stderr, "verify: %s\n", rc_strerror(err));
		return 2;
	}
	while (fscanf(f, "%63s", key) == 1) {
		size_t len = 0;

		snprintf(want, sizeof(want), "v-%s", key);
		/* No answer (a loaded machine, a sanitizer build): ask again
		 * before calling it an error. */
		for (int t = 0; t < 10; t++) {
			err = rc_get(c, key, strlen(key), buf, sizeof(buf),
				     &len, NULL);
			if (err != RC_ETIMEOUT)
				break;
		}
		if (err == RC_ENOTFOUND)
			missing++;
		else if (err != RC_OK)
			other++;
		else if (len != strlen(want) || memcmp(buf, want, len))
			wrong++;
		else
			present++;
	}
	fclose(f);
	rc_client_destroy(c);
	printf("{\"present\":%u,\"missing\":%u,\"wrong\":%u,\"errors\":%u}\n",
	       present, missing, wrong, other);
	return 0;
}

/* The value of key n: every byte depends on n and its position, so a
 * value of another key (or a torn one) never passes. */
static void fill_value(uint8_t *v, size_t len, unsigned long n)
{
	uint64_t x = n * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = (uint8_t)x;
	}
}

static rc_client *one_client(const char *server)
{
	const char *servers[1] = {server};
	int err;
	rc_client *c = rc_client_create(&(struct rc_client_config){
		.servers = servers, .n_servers = 1, .timeout_ms = 200,
		.retries = 5, .backoff_ms = 2}, &err);

	if (!c)
		fprintf(stderr, "rc_repl_load: %s\n", rc_strerror(err));
	return c;
}

static int fill(const char *server, unsigned long first, unsigned long count,
		size_t vsize)
{
	uint8_t *v = malloc(vsize ? vsize : 1);
	rc_client *c = one_client(server);
	unsigned long stored = 0, errs = 0;
	uint64_t t0 = now_us();
	char key[32];
	int err = RC_OK;

	if (!c || !v)
		return 2;
	for (unsigned long n = first; n < first + count; n++) {
		snprintf(key, sizeof(key), "f%lu", n);
		fill_value(v, vsize, n);
		/* A plain set is retried by the library; a loaded machine
		 * can still outlast that: a few more tries. */
		for (int t = 0; t < 10 && (err = rc_set(c, key, strlen(key), v,
							 vsize, NULL, NULL)) ==
						       RC_ETIMEOUT; t++)
			;
		if (err == RC_OK)
			stored++;
		else
			errs++;
	}
	printf("{\"stored\":%lu,\"errors\":%lu,\"bytes\":%lu,"
	       "\"seconds\":%.3f}\n", stored, errs,
	       (unsigned long)(stored * vsize),
	       (double)(now_us() - t0) / 1e6);
	rc_client_destroy(c);
	free(v);
	return 0;
}

static int check(const char *server, unsigned long first, unsigned long count,
		 size_t vsize)
{
	enum { B = 64 };
	struct rc_mget_item it[B];
	char keys[B][32];
	uint8_t *bufs = malloc(B * (vsize + 1)), *want = malloc(vsize + 1);
	rc_client *c = one_client(server);
	unsigned long present = 0, missing = 0, wrong = 0, other = 0;

	if (!c || !bufs || !want)
		return 2;
	for (unsigned long n = first; n < first + count; n += B) {
		size_t k = first + count - n < B ? first + count - n : B;

		for (size_t i = 0; i < k; i++) {
			snprintf(keys[i], sizeof(keys[i]), "f%lu", n + i);
			it[i] = (struct rc_mget_item){
				.key = keys[i], .key_len = strlen(keys[i]),
				.buf = bufs + i * (vsize + 1), .cap = vsize + 1};
		}
		if (rc_mget(c, it, k) != RC_OK) {
			other += k;
			continue;
		}
		for (size_t i = 0; i < k; i++) {
			/* No answer (a loaded machine): ask again, alone,
			 * before calling it an error. */
			for (int t = 0; t < 10 && it[i].status != RC_OK &&
					it[i].status != RC_ENOTFOUND &&
					it[i].status != RC_ETRUNCATED; t++)
				it[i].status = rc_get(c, it[i].key,
						      it[i].key_len, it[i].buf,
						      it[i].cap,
						      &it[i].value_len, NULL);
			if (it[i].status == RC_ENOTFOUND) {
				missing++;
				continue;
			}
			if (it[i].status != RC_OK) {
				other++;
				continue;
			}
			fill_value(want, vsize, n + i);
			if (it[i].value_len != vsize ||
			    memcmp(it[i].buf, want, vsize))
				wrong++;
			else
				present++;
		}
	}
	printf("{\"present\":%lu,\"missing\":%lu,\"wrong\":%lu,"
	       "\"errors\":%lu}\n", present, missing, wrong, other);
	rc_client_destroy(c);
	free(bufs);
	free(want);
	return 0;
}

static int load(char **argv)
{
	const char *servers[1] = {argv[0]}, *standbys[1] = {argv[1]};
	const uint64_t dur_us = strtoull(argv[2], NULL, 10) * 1000;
	const uint64_t rate = strtoull(argv[3], NULL, 10);
	const unsigned every = (unsigned)strtoul(argv[4], NULL, 10);
	char path[512], key[64], val[80], buf[256];
	uint64_t *dlat, *plat, t0, next, last_ok = 0, gap = 0, gap_at = 0;
	uint64_t first_err = 0, nd = 0, np = 0;
	unsigned long n = 0, ok = 0, errs = 0, d_ok = 0, d_nrep = 0, gets = 0;
	unsigned long not_primary = 0, timeouts = 0;
	struct rc_client_stats cs;
	FILE *fd, *fp;
	rc_client *c;
	int err;

	if (!rate || !dur_us)
		return 2;
	c = rc_client_create(&(struct rc_client_config){
		.servers = servers, .n_servers = 1, .standbys = standbys,
		.timeout_ms = 20, .retries = 2, .failover_ms = 2000},
		&err);
	if (!c) {
		fprintf(stderr, "load: %s\n", rc_strerror(err));
		return 2;
	}
	snprintf(path, sizeof(path), "%s/durable", argv[5]);
	fd = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/plain", argv[5]);
	fp = fopen(path, "w");
	dlat = calloc(rate * (dur_us / 1000000 + 1), sizeof(uint64_t));
	plat = calloc(rate * (dur_us / 1000000 + 1), sizeof(uint64_t));
	if (!fd || !fp || !dlat || !plat)
		return 2;
	t0 = next = now_us();
	while (now_us() - t0 < dur_us) {
		const bool durable = every && n % every == 0;
		struct rc_set_opts o = {.class_id = RC_CLASS_AUTO,
					.durable = durable};
		uint64_t t;

		{
			uint64_t t1 = now_us();

			if (t1 < next) {
				struct timespec ts = {0, (long)(next - t1) * 1000};

				nanosleep(&ts, NULL);
			}
		}
		next += 1000000 / rate;
		snprintf(key, sizeof(key), "k%lu", n);
		snprintf(val, sizeof(val), "v-%s", key);
		t = now_us();
		err = rc_set(c, key, strlen(key), val, strlen(val), &o, NULL);
		t = now_us() - t;
		n++;
		if (err == RC_OK) {
			uint64_t at = now_us() - t0;

			ok++;
			if (last_ok && at - last_ok > gap) {
				gap = at - last_ok;
				gap_at = last_ok;
			}
			last_ok = at;
			fprintf(durable ? fd : fp, "%s\n", key);
			if (!first_err) {
				if (durable)
					dlat[nd++] = t;
				else
					plat[np++] = t;
			}
			if (durable)
				d_ok++;
		} else {
			errs++;
			if (!first_err)
				first_err = now_us() - t0;
			if (err == RC_ENOTREPLICATED)
				d_nrep++;
			else if (err == RC_ENOTPRIMARY)
				not_primary++;
			else if (err == RC_ETIMEOUT)
				timeouts++;
		}
		if (n % 4 == 0) {
			size_t len;

			snprintf(key, sizeof(key), "k%lu", n - 1 - n % 7);
			rc_get(c, key, strlen(key), buf, sizeof(buf), &len,
			       NULL);
			gets++;
		}
	}
	fclose(fd);
	fclose(fp);
	qsort(dlat, nd, sizeof(*dlat), cmp_u64);
	qsort(plat, np, sizeof(*plat), cmp_u64);
	rc_client_get_stats(c, &cs);
	printf("{\"writes\":%lu,\"ok\":%lu,\"errors\":%lu,\"durable_ok\":%lu,"
	       "\"not_replicated\":%lu,\"not_primary\":%lu,\"timeouts\":%lu,"
	       "\"gets\":%lu,\"failovers\":%lu,\"max_gap_ms\":%.3f,"
	       "\"gap_start_ms\":%.3f,\"first_error_ms\":%.3f,"
	       "\"durable_n\":%lu,\"durable_p50_us\":%lu,"
	       "\"durable_p99_us\":%lu,\"durable_max_us\":%lu,"
	       "\"plain_n\":%lu,\"plain_p50_us\":%lu,\"plain_p99_us\":%lu}\n",
	       n, ok, errs, d_ok, d_nrep, not_primary, timeouts, gets,
	       (unsigned long)cs.failovers, (double)gap / 1000.0,
	       (double)gap_at / 1000.0, (double)first_err / 1000.0,
	       (unsigned long)nd, (unsigned long)pct(dlat, nd, 0.5),
	       (unsigned long)pct(dlat, nd, 0.99),
	       (unsigned long)(nd ? dlat[nd - 1] : 0), (unsigned long)np,
	       (unsigned long)pct(plat, np, 0.5),
	       (unsigned long)pct(plat, np, 0.99));
	free(dlat);
	free(plat);
	rc_client_destroy(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "verify"))
		return verify(argv[2], argv[3]);
	if (argc == 8 && !strcmp(argv[1], "load"))
		return load(argv + 2);
	if (argc == 6 && (!strcmp(argv[1], "fill") || !strcmp(argv[1], "check")))
		return (argv[1][0] == 'f' ? fill : check)(
			argv[2], strtoul(argv[3], NULL, 10),
			strtoul(argv[4], NULL, 10),
			(size_t)strtoul(argv[5], NULL, 10));
	fprintf(stderr, "usage: rc_repl_load load PRIMARY STANDBY MS RATE "
			"DURABLE_EVERY OUTDIR | verify SERVER FILE | "
			"fill|check SERVER FIRST COUNT VSIZE\n");
	return 2;
}
