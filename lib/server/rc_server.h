/* SPDX-License-Identifier: MIT
 * The request processor: one request message (a datagram, or a
 * reassembled one) executed against one partition, with no packets and
 * no DPDK ports — as pelikan's data/process.c and MICA2's processor/. The
 * reply comes back as pieces (header bytes here, values where they lie in
 * the store), which the caller copies once into whatever carries it.
 *
 * Also here, the other ways a partition changes, under the same rules:
 * control-core commands (ringctl get/del/set/flush), records replicated
 * from the primary, and the records of a snapshot for a standby.
 *
 * Threading: a partition has one owner (its worker); the fields marked
 * "set by the control core" may be written by another thread and are
 * read once per request. Error contract: rc_exec_request returns the
 * reply's length or 0 (dropped, counted in stats); the rest return
 * nothing and count what they refuse.
 *
 * Depends on lib/proto, lib/store, lib/repl (the record log) and
 * lib/control's classes and rate quotas; never on DPDK's ethdev or
 * mbufs. */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "rc_classes.h"
#include "rc_guard.h"
#include "rc_proto.h"
#include "rc_repl.h"
#include "rc_store.h"

/* Counters written only by the owner (plain words, summed by whoever
 * publishes them). */
struct rc_partition_stats {
	uint64_t requests;           /* well-formed requests executed */
	uint64_t drop_amplification; /* untrusted request smaller than any
				      * answer to it */
	uint64_t read_only_refused;  /* writes answered READ_ONLY */
	uint64_t not_primary;        /* writes answered NOT_PRIMARY */
	uint64_t commands;           /* control-core commands run */
	uint64_t repl_records;       /* records put in the replication log */
	uint64_t repl_overflow;      /* records the full log could not take */
	uint64_t repl_snapshot;      /* of them, snapshot records */
	uint64_t repl_applied;       /* replicated records applied here */
	uint64_t repl_apply_failed;  /* of them, refused by the store */
	uint64_t proto_drops[RC_PROTO_E__COUNT];
	uint64_t ops[RC_OP__COUNT];
	uint64_t status[RC_ST__COUNT];
};

/* A reply as pieces: header bytes in the partition, values in the
 * store. Copied once, into the buffer(s) that carry it. */
struct rc_piece {
	const uint8_t *p;
	uint32_t len;
	uint8_t in_store;
};

struct rc_reply {
	uint32_t len;                /* all pieces */
	uint32_t hdr_done;           /* bytes of reply header already pieces */
	uint32_t pinned;             /* bytes of the pinned buffer in use */
	unsigned n;
	struct rc_piece v[2 * RC_PROTO_MAX_OPS + 1];
};

/* A GET looked up ahead of execution, with the rest of its burst. */
struct rc_pre {
	enum rc_store_result res;
	struct rc_store_item_view v;
};

/* How one request may be answered. */
struct rc_exec_in {
	uint32_t cap;                /* largest reply: the request's size for
				      * an untrusted source */
	uint32_t src;                /* sender (host order), for its rate
				      * quota: charged per op once the
				      * request is known to be well formed */
	uint64_t now_tsc;            /* the rate quota's clock */
};

struct rc_partition {
	unsigned id;                 /* this partition */
	uint16_t partitions;         /* of the node */
	uint32_t max_key, max_value;
	const struct rc_classes *classes;
	struct rc_ratelimit *rl;     /* NULL: no rate limits */
	struct rc_store *store;
	struct rc_partition_stats *st;
	/* Set by the control core, read once per request. */
	volatile uint32_t epoch;
	volatile uint8_t read_only;  /* writes answered READ_ONLY */
	volatile uint32_t ttl_pct;   /* TTL multiplier x100 (100: as sent) */
	volatile uint8_t role;       /* enum rc_repl_role: writes are served
				      * by a PRIMARY or STANDALONE node */
	volatile uint8_t durable_ok; /* a standby is attached */
	/* Replication out (primary). */
	struct rc_repl_log *rlog;    /* NULL: off */
	uint64_t wseq;               /* records put in rlog so far */
	/* After rc_exec_request: */
	uint64_t dur_wseq;           /* its last record if it asked to be
				      * durable (hold the reply until the
				      * standby has it), else 0 */
	struct rc_proto_hdr rh;      /* the reply's header */
	struct rc_reply out;         /* the reply, as pieces */
	uint16_t n_notes;            /* one latency series an op: */
	uint16_t notes[RC_PROTO_MAX_OPS]; /* rc_server_lat_series() */
	const struct rc_pre *pre;    /* set by the caller: a batched GET */
	/* Scratch: the reply's header and op headers, values copied out of
	 * the store before a write, the decoded ops. */
	uint8_t reply[RC_PROTO_HDR_LEN + RC_PROTO_MAX_OPS * RC_PROTO_REP_OP_LEN];
	uint8_t pinned[RC_PROTO_MAX_DATAGRAM];
	struct rc_proto_req_op ops[RC_PROTO_MAX_OPS];
};

/* Latency series: one per (opcode, class); the class slot
 * RC_STORE_MAX_CLASSES is "no class" (NOOP, refused ops). */
#define RC_SERVER_LAT_CLASSES (RC_STORE_MAX_CLASSES + 1)
#define RC_SERVER_LAT_SERIES (RC_OP__COUNT * RC_SERVER_LAT_CLASSES)
static inline unsigned rc_server_lat_series(uint8_t op, uint8_t cls)
{
	return op * RC_SERVER_LAT_CLASSES +
	       (cls < RC_STORE_MAX_CLASSES ? cls : RC_STORE_MAX_CLASSES);
}

/* Execute one request message against p and describe the reply in
 * p->out / p->rh; p->notes gets each op's latency series, p->dur_wseq
 * whether the reply must wait for the standby. now is the store's clock.
 * @return the reply's length, or 0 if the request is dropped (counted). */
uint32_t rc_exec_request(struct rc_partition *p, const uint8_t *req,
			 size_t len, const struct rc_exec_in *x, uint32_t now);

/* A reply of the request's n_ops bare ops (opcode NOOP, no value) with
 * one status, for answers given without decoding the ops (BUSY,
 * THROTTLED segments; dpdk.io_only). @return its length. */
uint32_t rc_exec_bare(struct rc_partition *p, const struct rc_proto_hdr *req,
		      uint8_t status);

/* Copy len bytes of the reply r, from offset off, to dst. */
void rc_reply_copy(const struct rc_reply *r, uint32_t off, uint8_t *dst,
		   uint32_t len);

/* Mark every successful write of the reply message msg (len bytes)
 * NOT_REPLICATED and move the counts in st. with_values: the message
 * carries its values after each op header (a built reply), not pieces. */
void rc_exec_not_replicated(uint8_t *msg, size_t len, bool with_values,
			    struct rc_partition_stats *st);

/* ---- commands from the control core ------------------------------------ */

enum rc_cmd_type {
	RC_CMD_GET,     /* rec[0]: copy the value into out */
	RC_CMD_DEL,     /* rec[0] */
	RC_CMD_SET,     /* rec[0..n): warm-up records */
	RC_CMD_FLUSH,   /* every item of flush_class / with prefix */
};

struct rc_cmd_rec {
	const uint8_t *key, *value;
	uint16_t key_len;
	uint32_t value_len;
	uint32_t flags, ttl;
	uint8_t class_id;          /* or RC_PROTO_CLASS_AUTO */
	uint8_t status;            /* out: RC_ST_* */
};

/* One command: made by the control core with its buffers in one
 * allocation, run by the partition's owner. */
struct rc_cmd {
	enum rc_cmd_type type;
	uint32_t state;            /* the hand-off between the two threads:
				    * the daemon's (atomic) */
	unsigned n;
	struct rc_cmd_rec *rec;
	/* GET */
	uint8_t *out;
	uint32_t out_cap, out_len, out_flags;
	uint64_t out_cas;
	uint8_t out_class, out_stale;
	/* FLUSH */
	int flush_class;           /* -1: any class */
	uint16_t prefix_len;       /* 0: any key */
	uint8_t prefix[RC_PROTO_MAX_KEY];
	uint32_t cursor;
	uint64_t removed;
};

/* Run record i of a GET/DEL/SET command, under the partition's rules
 * (limits, partition, role, class, TTL multiplier, replication). */
void rc_partition_cmd_rec(struct rc_partition *p, struct rc_cmd *c,
			  struct rc_cmd_rec *r, uint32_t now);

/* A slice of a FLUSH: up to work index entries. @return 1 while there
 * is more, 0 when done. Removed items are logged for the standby. */
int rc_partition_flush(struct rc_partition *p, struct rc_cmd *c,
		       unsigned work);

/* ---- replication --------------------------------------------------------- */

/* Apply one record replicated from the primary (not CLEAR). */
void rc_partition_apply(struct rc_partition *p, const struct rc_repl_rec *r,
			uint32_t now);

/* A partition's apply side in a pair: the records the primary sent, in
 * order. A CLEAR (the start of a full resync) empties the partition in
 * slices before anything after it is applied. The log is set by the
 * replication wiring; the rest is the owner's. */
struct rc_apply {
	struct rc_repl_log *log;     /* NULL: nothing to apply */
	volatile uint64_t applied;   /* records consumed, a CLEAR once the
				      * partition is empty (read by the
				      * replication thread) */
	unsigned clear_work;         /* index entries per CLEAR slice (0:
				      * RC_APPLY_CLEAR_WORK) */
	bool clearing;               /* a CLEAR under way */
	uint32_t clear_cursor;
	uint64_t clear_removed;
};

#define RC_APPLY_CLEAR_WORK 1024u

/* Apply up to max records of a->log. @return records applied (a CLEAR
 * not among them). */
unsigned rc_partition_apply_log(struct rc_partition *p, struct rc_apply *a,
				uint32_t now, unsigned max);

/* The apply side's turn, before the owner takes requests: a standby
 * applies up to standby_max records, a promoted partition (role
 * PRIMARY) all it was sent. *applied gets the count.
 * @return true while requests must wait: promoted, with records or a
 *         running CLEAR still to apply (a request would read the old
 *         copy, its write be overwritten by an older record or removed
 *         by the CLEAR; issue 18 M6). */
bool rc_partition_apply_turn(struct rc_partition *p, struct rc_apply *a,
			     uint32_t now, unsigned standby_max,
			     unsigned *applied);

/* A slice of a snapshot pass: live items into the log as SET records.
 * @return as rc_store_snapshot (1 more to do, 0 done). */
int rc_partition_snapshot(struct rc_partition *p, struct rc_store_cursor *cur,
			  unsigned work, uint32_t now);

#endif
