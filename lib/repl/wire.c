/* SPDX-License-Identifier: MIT
 * Replication records and stream frames: little-endian, fixed layouts
 * (docs/protocol.md "Replication stream"). */
#include <string.h>

#include "rc_repl.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void rc_repl_rec_encode(uint8_t *buf, const struct rc_repl_rec *r)
{
	uint32_t len = rc_repl_rec_size(r->key_len, r->value_len);
	uint32_t body = RC_REPL_REC_HDR + r->key_len + r->value_len;

	put32(buf, len);
	buf[4] = r->type;
	buf[5] = r->class_id;
	put16(buf + 6, r->key_len);
	put32(buf + 8, r->value_len);
	put32(buf + 12, r->flags);
	put32(buf + 16, r->ttl);
	put16(buf + 20, r->partition);
	put16(buf + 22, 0);
	if (r->key_len)
		memcpy(buf + RC_REPL_REC_HDR, r->key, r->key_len);
	if (r->value_len)
		memcpy(buf + RC_REPL_REC_HDR + r->key_len, r->value,
		       r->value_len);
	memset(buf + body, 0, len - body);
}

uint32_t rc_repl_rec_decode(const uint8_t *buf, size_t avail,
			    struct rc_repl_rec *r)
{
	if (avail < RC_REPL_REC_HDR)
		return 0;
	r->len = get32(buf);
	r->type = buf[4];
	r->class_id = buf[5];
	r->key_len = get16(buf + 6);
	r->value_len = get32(buf + 8);
	r->flags = get32(buf + 12);
	r->ttl = get32(buf + 16);
	r->partition = get16(buf + 20);
	if (r->type == RC_REPL_PAD || r->type >= RC_REPL_REC__COUNT ||
	    r->value_len > RC_REPL_MAX_FRAME || r->len > avail ||
	    r->len != rc_repl_rec_size(r->key_len, r->value_len) ||
	    get16(buf + 22) != 0)
		return 0;
	/* What each type may carry. */
	if ((r->type != RC_REPL_CLEAR && r->key_len == 0) ||
	    (r->type != RC_REPL_SET && r->value_len != 0))
		return 0;
	r->key = buf + RC_REPL_REC_HDR;
	r->value = buf + RC_REPL_REC_HDR + r->key_len;
	return r->len;
}

void rc_repl_frame_hdr(uint8_t *buf, uint8_t type, uint32_t body_len)
{
	put32(buf, body_len + 1);
	buf[4] = type;
}

void rc_repl_hello_encode(uint8_t *buf, const struct rc_repl_hello *h)
{
	put32(buf, h->version);
	put32(buf + 4, h->epoch);
	buf[8] = h->role;
	buf[9] = h->prefer;
	put16(buf + 10, h->partitions);
	put32(buf + 12, h->rank);
	put64(buf + 16, h->stream);
	put64(buf + 24, h->seq);
	put64(buf + 32, h->time_ns);
	put64(buf + 40, h->synced_seq);
}

void rc_repl_hello_decode(const uint8_t *buf, struct rc_repl_hello *h)
{
	h->version = get32(buf);
	h->epoch = get32(buf + 4);
	h->role = buf[8];
	h->prefer = buf[9];
	h->partitions = get16(buf + 10);
	h->rank = get32(buf + 12);
	h->stream = get64(buf + 16);
	h->seq = get64(buf + 24);
	h->time_ns = get64(buf + 32);
	h->synced_seq = get64(buf + 40);
}

void rc_repl_batch_hdr(uint8_t *buf, uint64_t first_seq, uint32_t count,
		       uint64_t time_ns)
{
	put64(buf, first_seq);
	put32(buf + 8, count);
	put32(buf + 12, 0);
	put64(buf + 16, time_ns);
}

void rc_repl_batch_hdr_decode(const uint8_t *buf, uint64_t *first_seq,
			      uint32_t *count, uint64_t *time_ns)
{
	*first_seq = get64(buf);
	*count = get32(buf + 8);
	*time_ns = get64(buf + 16);
}

void rc_repl_seq_encode(uint8_t *buf, uint64_t seq, uint64_t stream,
			uint64_t time_ns)
{
	put64(buf, seq);
	put64(buf + 8, stream);
	put64(buf + 16, time_ns);
}

void rc_repl_seq_decode(const uint8_t *buf, uint64_t *seq, uint64_t *stream,
			uint64_t *time_ns)
{
	*seq = get64(buf);
	*stream = get64(buf + 8);
	*time_ns = get64(buf + 16);
}

static const uint32_t min_body[RC_REPL_F__COUNT] = {
	[RC_REPL_F_HELLO] = RC_REPL_HELLO_LEN,
	[RC_REPL_F_BATCH] = RC_REPL_BATCH_HDR,
	[RC_REPL_F_ACK] = RC_REPL_SEQ_BODY,
	[RC_REPL_F_BEAT] = RC_REPL_HELLO_LEN,
	[RC_REPL_F_RESET] = RC_REPL_SEQ_BODY,
	[RC_REPL_F_SNAPSHOT_DONE] = RC_REPL_SEQ_BODY,
};

uint32_t rc_repl_frame_min_body(uint8_t type)
{
	return type && type < RC_REPL_F__COUNT ? min_body[type] : 0;
}

int rc_repl_frame_next(const uint8_t *buf, size_t len, uint8_t *type,
		       const uint8_t **body, uint32_t *body_len,
		       size_t *used)
{
	uint32_t n;

	if (len < RC_REPL_FRAME_HDR)
		return 0;
	n = get32(buf);
	if (n < 1 || n - 1 > RC_REPL_MAX_FRAME || buf[4] == 0 ||
	    buf[4] >= RC_REPL_F__COUNT || n - 1 < min_body[buf[4]])
		return -1;
	if (len < 4 + (size_t)n)
		return 0;
	*type = buf[4];
	*body = buf + RC_REPL_FRAME_HDR;
	*body_len = n - 1;
	*used = 4 + (size_t)n;
	return 1;
}

bool rc_repl_should_follow(const struct rc_repl_hello *me,
			   const struct rc_repl_hello *peer)
{
	if (peer->role != RC_REPL_PRIMARY || peer->epoch == RC_REPL_EPOCH_MAX)
		return false;
	if (me->role != RC_REPL_PRIMARY)
		return true;
	/* A primary that began its term without a copy (synced_seq 0:
	 * promoted alone at start-up, empty) follows one that has the
	 * data, whatever the epochs: else a node restarted empty during a
	 * partition wipes the pair's data when they meet. */
	if ((me->synced_seq == 0) != (peer->synced_seq == 0))
		return me->synced_seq == 0;
	if (peer->epoch != me->epoch)
		return peer->epoch > me->epoch;
	/* Two primaries at one epoch: the one with fewer writes of its
	 * own gives them up (it is reset from the other). */
	if (peer->seq != me->seq)
		return peer->seq > me->seq;
	return peer->rank > me->rank;
}

bool rc_repl_should_lead(const struct rc_repl_hello *me,
			 const struct rc_repl_hello *peer)
{
	const bool me_copy = me->synced_seq != 0, peer_copy = peer->synced_seq != 0;

	/* A whole copy beats none (the other is reset from whoever leads:
	 * an empty leader would wipe it); then a yielding node never
	 * leads; then preference. */
	if (me_copy != peer_copy)
		return me_copy;
	if ((me->prefer == 0) != (peer->prefer == 0))
		return peer->prefer == 0;
	if (me->prefer != peer->prefer)
		return me->prefer > peer->prefer;
	if (me->epoch != peer->epoch)
		return me->epoch > peer->epoch;
	return me->rank > peer->rank;
}

static const char *const role_names[RC_REPL_ROLE__COUNT] = {
	[RC_REPL_STANDALONE] = "standalone",
	[RC_REPL_JOINING] = "joining",
	[RC_REPL_STANDBY] = "standby",
	[RC_REPL_PRIMARY] = "primary",
};

const char *rc_repl_role_name(unsigned role)
{
	return role < RC_REPL_ROLE__COUNT ? role_names[role] : "unknown";
}

static const char *const frame_names[RC_REPL_F__COUNT] = {
	[RC_REPL_F_HELLO] = "hello",
	[RC_REPL_F_BATCH] = "batch",
	[RC_REPL_F_ACK] = "ack",
	[RC_REPL_F_BEAT] = "beat",
	[RC_REPL_F_RESET] = "reset",
	[RC_REPL_F_SNAPSHOT_DONE] = "snapshot_done",
};

const char *rc_repl_frame_name(unsigned type)
{
	return type && type < RC_REPL_F__COUNT ? frame_names[type] : "unknown";
}
