/* SPDX-License-Identifier: MIT
 * A fake ringcache node for libringcache's unit tests: plain UDP sockets on
 * 127.0.0.1, one per partition (base_port + p), served by one thread and
 * built on lib/proto. It keeps a small key/value table and answers as a
 * real node does (WRONG_PARTITION, PAD_REQUIRED for an untrusted client,
 * NOT_PRIMARY on a standby, segmented requests and replies); a test hook
 * sees every request first and may answer it any other way. */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_proto.h"
#include "rc_reasm.h"

#define FAKE_MAX_NODES 2
#define FAKE_MAX_PARTS 4
#define FAKE_MAX_ITEMS 64
#define FAKE_MAX_VALUE 8192
#define FAKE_MAX_IDS 64

struct fake_item {
	bool used;
	uint8_t key[RC_PROTO_MAX_KEY];
	size_t key_len;
	uint8_t val[FAKE_MAX_VALUE];
	size_t val_len;
	uint32_t flags;
	uint64_t cas;
};

struct fake;
struct fake_node;

/* A request as the node received it (reassembled if it came segmented). */
struct fake_req {
	struct fake_node *node;
	unsigned part;
	struct sockaddr_in from;
	struct rc_proto_hdr h;
	struct rc_proto_req_op ops[RC_PROTO_MAX_OPS];
	size_t len;            /* bytes of the whole request message */
};

/* @return true if the hook answered (or dropped) the request itself. */
typedef bool (*fake_hook)(struct fake *f, const struct fake_req *rq);

struct fake_node {
	uint16_t base;
	unsigned parts;
	int fd[FAKE_MAX_PARTS];
	bool standby;          /* writes answered NOT_PRIMARY */
	bool untrusted;        /* replies never larger than their request */
	bool mute;             /* execute, but send nothing */
	uint32_t epoch;
	struct fake_item items[FAKE_MAX_ITEMS];
	uint64_t next_cas;
	/* What the node saw, for the test to check. */
	unsigned requests;
	unsigned writes;
	uint32_t ids[FAKE_MAX_IDS];
	unsigned n_ids;
	struct rc_reasm *reasm;
};

struct fake {
	struct fake_node node[FAKE_MAX_NODES];
	unsigned n_nodes;
	fake_hook hook;
	void *arg;             /* the hook's state */
	pthread_t th;
	pthread_mutex_t mu;    /* held while a request is handled */
	int stop;              /* __atomic */
};

/* Start a fake with n_nodes nodes of parts partitions each on free
 * consecutive loopback ports (node i's base from base_hint[i] when
 * given, else anywhere). @return 0 or -1. */
int fake_start(struct fake *f, unsigned n_nodes, unsigned parts,
	       const uint16_t *base_hint);
void fake_stop(struct fake *f);

/* "127.0.0.1:<base>" of node i. */
void fake_name(const struct fake *f, unsigned i, char *buf, size_t cap);

/* The default behaviour for one request: what a real node would answer. */
void fake_serve(struct fake *f, const struct fake_req *rq);

/* Encode the reply message for rq, ops as given; @return its length. */
size_t fake_encode_reply(const struct fake_req *rq, uint16_t partitions,
			 const struct rc_proto_rep_op *reps, unsigned n,
			 uint8_t *buf, size_t cap);

/* Send a message from rq's partition socket to rq's source, segmented
 * when longer than a datagram. */
void fake_send_msg(const struct fake_req *rq, const uint8_t *msg, size_t len);

/* Send one raw datagram from rq's partition socket to rq's source. */
void fake_send_raw(const struct fake_req *rq, const uint8_t *dgram,
		   size_t len);

/* One segment (seg_index of seg_count) of msg as a datagram in out;
 * @return its length. */
size_t fake_segment(const uint8_t *msg, size_t len, unsigned seg_index,
		    uint8_t *out);

/* Partition of key among parts. */
unsigned fake_partition(const void *key, size_t len, unsigned parts);

/* Take/release the fake's lock to read its counters from the test. */
void fake_lock(struct fake *f);
void fake_unlock(struct fake *f);

#endif
