/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_log.h>

#include "warm.h"
#include "worker.h"

extern int rcd_logtype;
#define LOG(level, fmt, ...)                                                \
	rte_log(RTE_LOG_##level, rcd_logtype, "ringcached: " fmt "\n",       \
		##__VA_ARGS__)

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The workers' store clock (worker.c): seconds since start, from 1. */
static uint32_t store_now(const struct rcd_worker *w)
{
	return (uint32_t)((rte_rdtsc() - w->tsc_start) / w->tsc_hz) + 1;
}

static unsigned route(void *arg, const void *digest)
{
	return rc_proto_partition(digest, *(const unsigned *)arg);
}

static bool enabled(const struct rcd_node *nd, const char *what)
{
	if (!nd->cfg.save_file[0] || !nd->n_workers)
		return false;
	if (strcmp(nd->cfg.repl_role, "standalone") != 0) {
		LOG(WARNING, "store.save_file: not %s with replication (the "
		    "pair resyncs from the primary)", what);
		return false;
	}
	return true;
}

void rcd_warm_load(struct rcd_node *nd)
{
	const char *path = nd->cfg.save_file;
	struct rc_store *st[RCD_MAX_WORKERS];
	struct rc_store_file_stats fs;
	unsigned n = nd->n_workers;
	char err[512], aside[RC_OPT_STR_MAX + 16];
	double t0, dt;
	int rc;

	if (!enabled(nd, "loaded"))
		return;
	if (access(path, F_OK) != 0) {
		LOG(INFO, "warm restart: no %s, starting empty", path);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		st[i] = nd->workers[i]->p.store;
	t0 = mono_s();
	rc = rc_store_load(st, n, nd->cfg.cl.n, route, &n, rcd_key_digest,
			   path, store_now(nd->workers[0]),
			   (uint64_t)time(NULL), &fs, err, sizeof(err));
	dt = mono_s() - t0;
	if (rc != 0) {
		snprintf(aside, sizeof(aside), "%s.refused", path);
		LOG(ERR, "warm restart: %s; starting empty (the file is now "
		    "%s)", err, rename(path, aside) == 0 ? aside : path);
		return;
	}
	/* Consumed: only a save from the next clean stop may be loaded. */
	if (unlink(path) != 0)
		LOG(WARNING, "warm restart: cannot remove %s: %s", path,
		    strerror(errno));
	for (unsigned i = 0; i < n; i++)
		rcd_worker_snapshot(nd->workers[i]);
	LOG(NOTICE, "warm restart: loaded %lu items from %s (%lu expired "
	    "while down, %lu refused by the store), %lu bytes in %.3f s "
	    "(%.2f GB/s)", (unsigned long)fs.items, path,
	    (unsigned long)fs.expired, (unsigned long)fs.refused,
	    (unsigned long)fs.bytes, dt, dt > 0 ? (double)fs.bytes / dt / 1e9
						: 0.0);
}

int rcd_warm_save(struct rcd_node *nd)
{
	const char *path = nd->cfg.save_file;
	struct rc_store *st[RCD_MAX_WORKERS];
	struct rc_store_file_stats fs;
	char err[512];
	double t0, dt;

	if (!enabled(nd, "saved"))
		return 0;
	for (unsigned i = 0; i < nd->n_workers; i++)
		st[i] = nd->workers[i]->p.store;
	t0 = mono_s();
	if (rc_store_save(st, nd->n_workers, path,
			  store_now(nd->workers[0]), (uint64_t)time(NULL), &fs,
			  err, sizeof(err)) != 0) {
		LOG(ERR, "warm restart: not saved: %s", err);
		return -1;
	}
	dt = mono_s() - t0;
	LOG(NOTICE, "warm restart: saved %lu items to %s, %lu bytes in %.3f s "
	    "(%.2f GB/s)", (unsigned long)fs.items, path,
	    (unsigned long)fs.bytes, dt,
	    dt > 0 ? (double)fs.bytes / dt / 1e9 : 0.0);
	return 0;
}
