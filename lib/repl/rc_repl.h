/* SPDX-License-Identifier: MIT
 * Replication: the mutation record, the single-producer/single-consumer
 * byte log records travel in between a worker and the control core, the
 * framing of the stream between two nodes' control cores, and the rules
 * that decide which node is primary.
 *
 * No DPDK, no sockets: the daemon (app/ringcached/repl.c) wires these to
 * its workers and to TCP. docs/design.md "Replication" says why it is
 * shaped this way; docs/protocol.md "Replication stream" has the bytes.
 */
#ifndef RC_REPL_H
#define RC_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- mutation records --------------------------------------------------
 * One record: a 24-byte header, the key, the value, zero padding to a
 * multiple of 8. All fields little-endian. The same bytes sit in a
 * worker's log, in a stream batch and in the standby's apply log. */
#define RC_REPL_REC_HDR 24u
#define RC_REPL_ALIGN 8u

enum rc_repl_rec_type {
	RC_REPL_PAD = 0,       /* log only: skip to the log's wrap point */
	RC_REPL_SET = 1,       /* key, value, flags, ttl, class */
	RC_REPL_DEL = 2,       /* key */
	RC_REPL_TOUCH = 3,     /* key, ttl */
	RC_REPL_CLEAR = 4,     /* apply log only: empty the partition (the
				* start of a full resync) */
	RC_REPL_REC__COUNT
};

struct rc_repl_rec {
	uint32_t len;          /* whole record, padding included */
	uint8_t type;
	uint8_t class_id;
	uint16_t key_len;
	uint32_t value_len;
	uint32_t flags;        /* client flags (SET) */
	uint32_t ttl;          /* seconds left, 0 = never expires */
	uint16_t partition;    /* the primary's partition of the key */
	const uint8_t *key;
	const uint8_t *value;
};

static inline uint32_t rc_repl_rec_size(uint16_t key_len, uint32_t value_len)
{
	return (RC_REPL_REC_HDR + key_len + value_len + RC_REPL_ALIGN - 1) &
	       ~(RC_REPL_ALIGN - 1);
}

/* Write r (len computed here) at buf, which has rc_repl_rec_size() bytes. */
void rc_repl_rec_encode(uint8_t *buf, const struct rc_repl_rec *r);

/* Parse the record at buf (up to avail bytes); key and value point
 * into buf. @return its length, or 0 if it is malformed or truncated. */
uint32_t rc_repl_rec_decode(const uint8_t *buf, size_t avail,
			    struct rc_repl_rec *r);

/* ---- the log: an SPSC ring of records ---------------------------------
 * One producer thread, one consumer thread, no locks: positions are
 * 64-bit counters published with release/acquire. A record never wraps:
 * when it does not fit before the end, a PAD record fills the tail. */
struct rc_repl_log {
	uint8_t *buf;
	uint64_t size;                   /* power of two */
	uint64_t head __attribute__((aligned(64)));  /* producer */
	uint64_t tail_cache;             /* producer's view of tail */
	uint32_t skip;                   /* pad written by reserve */
	uint64_t tail __attribute__((aligned(64)));  /* consumer */
	uint64_t head_cache;             /* consumer's view of head */
};

/* size: bytes, a power of two >= 4 KiB. buf is malloc'd here.
 * @return 0, -EINVAL, or -ENOMEM. */
int rc_repl_log_init(struct rc_repl_log *l, uint64_t size);
void rc_repl_log_free(struct rc_repl_log *l);

/* Producer: room for a record of n bytes (rc_repl_rec_size), or NULL
 * when the log is full (nothing is written). Then commit that many. */
uint8_t *rc_repl_log_reserve(struct rc_repl_log *l, uint32_t n);
void rc_repl_log_commit(struct rc_repl_log *l, uint32_t n);

/* Consumer: the next record (PAD skipped), or NULL when empty; *len is
 * its length. Release it once copied or applied. */
const uint8_t *rc_repl_log_peek(struct rc_repl_log *l, uint32_t *len);
void rc_repl_log_release(struct rc_repl_log *l, uint32_t len);

/* Bytes in use (either side; approximate while the other one runs). */
uint64_t rc_repl_log_used(const struct rc_repl_log *l);

/* ---- the stream between control cores ---------------------------------
 * Over TCP. A frame: u32 length of what follows, u8 type, body. */
#define RC_REPL_VERSION 1u
#define RC_REPL_FRAME_HDR 5u
#define RC_REPL_MAX_FRAME (8u << 20) /* a batch is cut before this */

enum rc_repl_frame_type {
	RC_REPL_F_HELLO = 1,   /* both ways, first: who I am, where I am */
	RC_REPL_F_BATCH = 2,   /* primary: records first_seq.. in order */
	RC_REPL_F_ACK = 3,     /* standby: every record <= seq is applied */
	RC_REPL_F_BEAT = 4,    /* both ways, every heartbeat interval */
	RC_REPL_F_RESET = 5,   /* primary: empty your store; the records
				* from seq on are a new snapshot + stream */
	RC_REPL_F_SNAPSHOT_DONE = 6, /* primary: the snapshot ends at seq */
	RC_REPL_F__COUNT
};

enum rc_repl_role {
	RC_REPL_STANDALONE = 0, /* replication off */
	RC_REPL_JOINING,        /* just started: serves reads, no writes */
	RC_REPL_STANDBY,
	RC_REPL_PRIMARY,
	RC_REPL_ROLE__COUNT
};

/* HELLO and BEAT share a body: 48 bytes. */
struct rc_repl_hello {
	uint32_t version;
	uint32_t epoch;
	uint8_t role;          /* enum rc_repl_role */
	uint8_t prefer;        /* 1: repl.role = primary in its config */
	uint16_t partitions;
	uint32_t rank;         /* tie-break: the higher wins (see below) */
	uint64_t stream;       /* the stream it holds or sends (0: none) */
	uint64_t seq;          /* primary: last numbered; standby: applied */
	uint64_t time_ns;      /* sender's CLOCK_MONOTONIC, echoed in ACKs */
	uint64_t synced_seq;   /* standby: snapshot complete up to here;
				* primary: 0 if its term began without a
				* copy (it promoted alone at start-up) */
};
#define RC_REPL_HELLO_LEN 48u

/* Write a frame header for a body of body_len bytes. */
void rc_repl_frame_hdr(uint8_t *buf, uint8_t type, uint32_t body_len);

/* HELLO/BEAT body. */
void rc_repl_hello_encode(uint8_t *buf, const struct rc_repl_hello *h);
void rc_repl_hello_decode(const uint8_t *buf, struct rc_repl_hello *h);

/* BATCH body: u64 first_seq, u32 count, u32 reserved, u64 time_ns, then
 * count records. */
#define RC_REPL_BATCH_HDR 24u
void rc_repl_batch_hdr(uint8_t *buf, uint64_t first_seq, uint32_t count,
		       uint64_t time_ns);
void rc_repl_batch_hdr_decode(const uint8_t *buf, uint64_t *first_seq,
			      uint32_t *count, uint64_t *time_ns);

/* ACK, RESET and SNAPSHOT_DONE bodies: u64 seq, u64 stream, u64 time_ns. */
#define RC_REPL_SEQ_BODY 24u
void rc_repl_seq_encode(uint8_t *buf, uint64_t seq, uint64_t stream,
			uint64_t time_ns);
void rc_repl_seq_decode(const uint8_t *buf, uint64_t *seq, uint64_t *stream,
			uint64_t *time_ns);

/* Find the next whole frame in buf[0..len).
 * @return 1 with *type, *body and *body_len set and *used its total
 *         size; 0 if more bytes are needed; -1 if the frame is invalid
 *         (unknown type, length over RC_REPL_MAX_FRAME, or a body too
 *         short for its type). */
int rc_repl_frame_next(const uint8_t *buf, size_t len, uint8_t *type,
		       const uint8_t **body, uint32_t *body_len,
		       size_t *used);

/* ---- authentication ------------------------------------------------------
 * With a key (repl.key_file), every stream frame and every data-network
 * heartbeat ends in a 56-byte trailer: session u64, counter u64, time
 * u64 (CLOCK_REALTIME ns), tag (32 bytes): keyed BLAKE2b-256 over the
 * channel byte, the message before the trailer (a stream frame from its
 * length field on, the length counting the trailer) and the first 24
 * bytes of the trailer. Accepted: a good tag (key or key_next), a time
 * within window_ns of ours, and either the sender's session with a
 * counter above the last accepted on that channel, or a new session with
 * a time above the last accepted (the sender restarted). On the stream,
 * frames of the session already accepted on the same connection skip
 * the time window (they can wait long in a backed-up stream; the counter
 * rules out replays); the first frame on a new connection does not
 * (rc_repl_auth_new_conn). No sockets, no clocks: the caller passes the
 * time. */
#define RC_REPL_KEY_LEN 32u
#define RC_REPL_TAG_LEN 32u
#define RC_REPL_AUTH_LEN (24u + RC_REPL_TAG_LEN)

enum rc_repl_auth_channel {
	RC_REPL_CH_STREAM = 0,  /* TCP frames */
	RC_REPL_CH_DATA = 1,    /* UDP heartbeats on the data network */
	RC_REPL_CH__COUNT
};

enum rc_repl_auth_verdict {
	RC_REPL_AUTH_OK = 0,
	RC_REPL_AUTH_BAD,       /* no trailer, wrong tag, wrong key */
	RC_REPL_AUTH_STALE,     /* time outside the window */
	RC_REPL_AUTH_REPLAY,    /* counter or session already seen */
};

struct rc_repl_auth_peer {
	bool seen;
	bool live;              /* stream: accepted on this connection */
	uint64_t session, ctr, ts;
};

struct rc_repl_auth {
	uint8_t key[RC_REPL_KEY_LEN];
	uint8_t key_next[RC_REPL_KEY_LEN];  /* also accepted (rotation) */
	bool has_next;
	uint64_t session;       /* mine, random at start */
	uint64_t ctr;           /* my last counter (all channels) */
	uint64_t ts;            /* my last time sent */
	uint64_t window_ns;
	struct rc_repl_auth_peer peer[RC_REPL_CH__COUNT];
};

/* key_next may be NULL. @return 0, or -1 if libsodium cannot start. */
int rc_repl_auth_init(struct rc_repl_auth *a, const uint8_t *key,
		      const uint8_t *key_next, uint64_t session,
		      uint64_t window_ns);
void rc_repl_auth_wipe(struct rc_repl_auth *a);

/* A new stream connection: its first frame must be within the window
 * (held-back frames of a live session cannot be replayed on it). */
void rc_repl_auth_new_conn(struct rc_repl_auth *a);

/* msg[0..len) is the message; the trailer is written at msg + len
 * (RC_REPL_AUTH_LEN bytes of room). now_ns: CLOCK_REALTIME. */
void rc_repl_auth_seal(struct rc_repl_auth *a, uint8_t ch, uint8_t *msg,
		       size_t len, uint64_t now_ns);

/* The tag only (no replay state; safe from any thread).
 * total: message and trailer. @return 0 if it is good. */
int rc_repl_auth_check(const struct rc_repl_auth *a, uint8_t ch,
		       const uint8_t *msg, size_t total);

/* Tag, time window and replay; on OK the peer's state moves on. */
enum rc_repl_auth_verdict rc_repl_auth_open(struct rc_repl_auth *a,
					    uint8_t ch, const uint8_t *msg,
					    size_t total, uint64_t now_ns);

/* A key file's contents: 32 raw bytes, or 64 hex characters (a line end
 * allowed). @return 0 with key set, or -1. */
int rc_repl_key_parse(const uint8_t *buf, size_t len, uint8_t *key);

/* The smallest body a frame type has (0: unknown type). */
uint32_t rc_repl_frame_min_body(uint8_t type);

/* ---- roles ------------------------------------------------------------ */

/* An epoch no node takes: the next promotion would wrap to 0. */
#define RC_REPL_EPOCH_MAX 0xFFFFFFFFu

/* Two nodes that have just heard each other: should I (me) step down
 * and follow the peer? True when the peer is primary and I am not, or
 * both are primary and: only I began my term without a copy (a
 * primary's synced_seq is 0 then), or the peer's epoch is higher (equal
 * epochs: the one with more records in its stream, then the higher
 * rank, wins).
 * Never a peer at RC_REPL_EPOCH_MAX. A node never follows a peer at a
 * lower epoch than its own while it is primary. */
bool rc_repl_should_follow(const struct rc_repl_hello *me,
			   const struct rc_repl_hello *peer);

/* Neither is primary: should I promote? The one with a complete copy
 * (synced_seq != 0) over one without; then never a yielding node
 * (prefer 0); then the one that prefers to be primary; then the higher
 * epoch, then the higher rank. */
bool rc_repl_should_lead(const struct rc_repl_hello *me,
			 const struct rc_repl_hello *peer);

const char *rc_repl_role_name(unsigned role);
const char *rc_repl_frame_name(unsigned type);

#endif
