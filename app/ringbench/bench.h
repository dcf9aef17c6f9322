/* SPDX-License-Identifier: MIT
 * ringbench: open-loop load generator. Shared types. */
#ifndef RB_BENCH_H
#define RB_BENCH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "workload.h"

#define RB_MAX_BATCH 32
#define RB_MAX_VALUE 1400

/* A wire protocol ringbench can speak. */
struct rb_proto {
	const char *name;
	uint32_t id_mask;           /* request ids wrap at this mask */
	/* Encode one datagram: a SET of keys[0], or a GET of n keys.
	 * *port_off receives the offset from the base port (partition). */
	size_t (*encode)(uint8_t *buf, size_t cap, uint32_t id, bool set,
			 const char *const *keys, const size_t *klens,
			 unsigned n, const uint8_t *value, size_t vlen,
			 uint8_t cls, unsigned partitions, unsigned *port_off);
	/* Parse a reply: its id and how its ops ended.
	 * @return 0, or -1 for a datagram that is not a well-formed reply. */
	int (*decode)(const uint8_t *buf, size_t len, uint32_t *id,
		      unsigned *hits, unsigned *misses, unsigned *errors);
};

extern const struct rb_proto rb_proto_ringcache;
extern const struct rb_proto rb_proto_memcached;

struct rb_config {
	const struct rb_proto *proto;
	struct sockaddr_in server;  /* base port */
	unsigned partitions;
	double rate;                /* requests/s, all threads */
	bool poisson;
	double duration, warmup;    /* seconds */
	unsigned threads;
	uint64_t keys;
	size_t key_size, value_size;
	double get_ratio;           /* 0..1 */
	double zipf;                /* 0 = uniform */
	unsigned batch;             /* keys per GET datagram */
	unsigned timeout_ms;
	unsigned tick_us;           /* let sends due within a tick go together */
	bool preload, progress;
	bool rx_stamps;             /* reply time = kernel receive stamp */
	uint64_t seed;
};

struct rb_result {
	struct rb_hist get, set;    /* ns from scheduled send to reply */
	uint64_t sent, received, timeouts, errors, hits, misses, bad;
	uint64_t late;              /* sends more than 1 ms behind schedule */
	double elapsed;             /* measured phase, seconds */
};

/* Run the configured load; fills res (merged over threads).
 * @return 0, or -1 with a message on stderr. */
int rb_run(const struct rb_config *cfg, struct rb_result *res);

/* Closed-loop SET of every key, so the measured phase sees hits.
 * @return number of keys not acknowledged. */
uint64_t rb_preload(const struct rb_config *cfg);

#endif
