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

struct rb_config;

/* One received datagram's UDP payload and when it arrived (ns,
 * CLOCK_MONOTONIC). Valid until the thread's next recv. */
struct rb_rx {
	const uint8_t *data;
	size_t len;
	uint64_t t;
};

/* A way to move datagrams: kernel UDP sockets, or a DPDK port. Each
 * sender thread opens its own endpoint; nothing is shared between them. */
struct rb_io;
struct rb_io_ops {
	const char *name;
	/* Once, before the threads (may be NULL). @return 0 or -1. */
	int (*init)(const struct rb_config *c);
	void (*fini)(void);         /* after the summary is printed */
	struct rb_io *(*open)(const struct rb_config *c, unsigned thread);
	/* Send n datagrams; port_offs[i] is added to the server's port.
	 * @return 0, or -1 on a hard error. */
	int (*send)(struct rb_io *io, uint8_t *const *bufs, const size_t *lens,
		    const unsigned *port_offs, unsigned n);
	unsigned (*recv)(struct rb_io *io, struct rb_rx *rx, unsigned max);
	/* Nothing is due before `until` (ns): wait cheaply, or return. */
	void (*idle)(struct rb_io *io, uint64_t now, uint64_t until);
	void (*close)(struct rb_io *io);
};

extern const struct rb_io_ops rb_io_udp;
extern const struct rb_io_ops rb_io_memif;

uint64_t rb_now_ns(void);

struct rb_config {
	const struct rb_proto *proto;
	const struct rb_io_ops *io;
	const char *memif_socket;   /* memif: the daemon's socket */
	const char *eal_args;       /* memif: EAL arguments */
	struct in_addr source;      /* memif: our IPv4 address */
	unsigned linger_s;          /* memif: after the run, wait this long
				     * for the server to close the link */
	bool pin_partition;         /* thread i only sends partition i */
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
	struct rb_hist wire;        /* ns from the actual send to reply: the
				     * gap to get/set is the generator's own
				     * lateness */
	uint64_t sent, received, timeouts, errors, hits, misses, bad;
	uint64_t late;              /* sends more than 1 ms behind schedule */
	uint64_t preload_missing;   /* preload SETs not acknowledged */
	double elapsed;             /* measured phase, seconds */
};

/* Run the configured load (after a closed-loop SET of every key when
 * cfg->preload, so the measured phase sees hits); fills res, merged over
 * threads. @return 0, or -1 with a message on stderr. */
int rb_run(const struct rb_config *cfg, struct rb_result *res);

#endif
