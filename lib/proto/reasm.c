/* SPDX-License-Identifier: MIT
 * Segment reassembly: a small table of messages in progress, each with
 * one buffer sized from seg_count at its first segment and a bitmap of
 * the segments seen. Lookups are linear: the table is small (tens of
 * entries) and only segmented traffic, a slow path, comes here. */
#include <stdlib.h>
#include <string.h>

#include "rc_reasm.h"

#define BITMAP_WORDS (RC_PROTO_MAX_SEGMENTS / 64)

struct entry {
	uint8_t *buf;          /* NULL: entry free */
	size_t alloc;
	uint64_t src;
	uint32_t owner;
	uint8_t trusted;
	uint64_t born;
	uint32_t request_id;
	uint16_t n_ops, seg_count, received;
	uint8_t flags;
	uint8_t done;          /* handed out, waiting for release */
	size_t last_body;      /* body bytes of the last segment, once seen */
	uint64_t seen[BITMAP_WORDS];
};

struct rc_reasm {
	struct rc_reasm_config cfg;
	struct rc_reasm_stats st;
	struct entry e[];
};

struct rc_reasm *rc_reasm_create(const struct rc_reasm_config *cfg)
{
	struct rc_reasm *r;

	if (!cfg->max_entries || !cfg->max_bytes || !cfg->timeout ||
	    cfg->max_message < RC_PROTO_MAX_DATAGRAM)
		return NULL;
	r = calloc(1, sizeof(*r) + cfg->max_entries * sizeof(r->e[0]));
	if (r)
		r->cfg = *cfg;
	return r;
}

static void drop(struct rc_reasm *r, struct entry *e)
{
	free(e->buf);
	r->st.entries--;
	r->st.bytes -= e->alloc;
	memset(e, 0, sizeof(*e));
}

void rc_reasm_destroy(struct rc_reasm *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->cfg.max_entries; i++)
		free(r->e[i].buf);
	free(r);
}

unsigned rc_reasm_expire(struct rc_reasm *r, uint64_t now)
{
	unsigned n = 0;

	if (r->st.entries == 0)
		return 0;
	for (unsigned i = 0; i < r->cfg.max_entries; i++) {
		struct entry *e = &r->e[i];

		if (e->buf && !e->done && now - e->born > r->cfg.timeout) {
			drop(r, e);
			n++;
		}
	}
	r->st.timeouts += n;
	return n;
}

void rc_reasm_forget(struct rc_reasm *r, uint64_t src, uint32_t request_id)
{
	for (unsigned i = 0; i < r->cfg.max_entries; i++) {
		struct entry *e = &r->e[i];

		if (e->buf && !e->done && e->src == src &&
		    e->request_id == request_id)
			drop(r, e);
	}
}

/* The entry of (src, id), or a free slot for it (*fresh = 1), or NULL. */
static struct entry *find(struct rc_reasm *r, uint64_t src, uint32_t id,
			  int *fresh)
{
	struct entry *free_slot = NULL;

	for (unsigned i = 0; i < r->cfg.max_entries; i++) {
		struct entry *e = &r->e[i];

		if (!e->buf) {
			if (!free_slot)
				free_slot = e;
		} else if (!e->done && e->src == src && e->request_id == id) {
			*fresh = 0;
			return e;
		}
	}
	*fresh = 1;
	return free_slot;
}

/* What owner holds now: entries and bytes. */
static void held_by(const struct rc_reasm *r, uint32_t owner, unsigned *n,
		    size_t *bytes)
{
	*n = 0;
	*bytes = 0;
	for (unsigned i = 0; i < r->cfg.max_entries; i++) {
		const struct entry *e = &r->e[i];

		if (e->buf && !e->done && e->owner == owner && !e->trusted) {
			(*n)++;
			*bytes += e->alloc;
		}
	}
}

/* Drop the oldest untrusted entry still in progress. @return 0 if none. */
static int evict_untrusted(struct rc_reasm *r)
{
	struct entry *old = NULL;

	for (unsigned i = 0; i < r->cfg.max_entries; i++) {
		struct entry *e = &r->e[i];

		if (e->buf && !e->done && !e->trusted &&
		    (!old || e->born < old->born))
			old = e;
	}
	if (!old)
		return 0;
	drop(r, old);
	r->st.evicted++;
	return 1;
}

enum rc_reasm_result rc_reasm_add(struct rc_reasm *r, uint64_t src,
				  const struct rc_proto_hdr *h,
				  const uint8_t *dgram, size_t len,
				  uint64_t now, uint8_t **msg,
				  size_t *msg_len)
{
	return rc_reasm_add_from(r, src, (uint32_t)src, 1, h, dgram, len, now,
				 msg, msg_len);
}

enum rc_reasm_result rc_reasm_add_from(struct rc_reasm *r, uint64_t src,
				       uint32_t owner, int trusted,
				       const struct rc_proto_hdr *h,
				       const uint8_t *dgram, size_t len,
				       uint64_t now, uint8_t **msg,
				       size_t *msg_len)
{
	const size_t body = len - RC_PROTO_HDR_LEN;
	const int last = h->seg_index == h->seg_count - 1;
	struct rc_proto_hdr whole;
	struct entry *e;
	int fresh;
	size_t alloc;

	/* Every segment but the last is full, so each has a fixed place. */
	if (len < RC_PROTO_HDR_LEN || body > RC_PROTO_SEG_BODY ||
	    (!last && body != RC_PROTO_SEG_BODY) || body == 0) {
		r->st.mismatches++;
		return RC_REASM_MISMATCH;
	}
	alloc = RC_PROTO_HDR_LEN + (size_t)h->seg_count * RC_PROTO_SEG_BODY;
	if (alloc - RC_PROTO_SEG_BODY + 1 > r->cfg.max_message) {
		r->st.too_big++;
		return RC_REASM_TOO_BIG;
	}
	e = find(r, src, h->request_id, &fresh);
	if (fresh && !trusted &&
	    (r->cfg.max_entries_per_owner || r->cfg.max_bytes_per_owner)) {
		unsigned n;
		size_t b;

		held_by(r, owner, &n, &b);
		if ((r->cfg.max_entries_per_owner &&
		     n >= r->cfg.max_entries_per_owner) ||
		    (r->cfg.max_bytes_per_owner &&
		     b + alloc > r->cfg.max_bytes_per_owner)) {
			r->st.over_share++;
			return RC_REASM_FULL;
		}
	}
	if (fresh && (!e || r->st.bytes + alloc > r->cfg.max_bytes) &&
	    rc_reasm_expire(r, now) > 0)
		e = find(r, src, h->request_id, &fresh);
	/* A trusted sender goes before untrusted ones. */
	while (fresh && trusted &&
	       (!e || r->st.bytes + alloc > r->cfg.max_bytes) &&
	       evict_untrusted(r))
		e = find(r, src, h->request_id, &fresh);
	if (fresh) {
		if (!e || r->st.bytes + alloc > r->cfg.max_bytes) {
			r->st.full++;
			return RC_REASM_FULL;
		}
		e->buf = malloc(alloc);
		if (!e->buf) {
			r->st.full++;
			return RC_REASM_FULL;
		}
		e->alloc = alloc;
		e->src = src;
		e->owner = owner;
		e->trusted = trusted != 0;
		e->born = now;
		e->request_id = h->request_id;
		e->n_ops = h->n_ops;
		e->seg_count = h->seg_count;
		e->flags = h->flags;
		r->st.entries++;
		r->st.bytes += alloc;
		whole = *h;
		whole.flags &= (uint8_t)~RC_PROTO_F_SEGMENTED;
		whole.seg_index = 0;
		whole.seg_count = 1;
		rc_proto_hdr_encode(e->buf, &whole);
	} else if (e->n_ops != h->n_ops || e->seg_count != h->seg_count ||
		   e->flags != h->flags) {
		r->st.mismatches++;
		return RC_REASM_MISMATCH;
	}
	if (e->seen[h->seg_index / 64] & (1ull << (h->seg_index % 64))) {
		r->st.duplicates++;
		return RC_REASM_DUPLICATE;
	}
	e->seen[h->seg_index / 64] |= 1ull << (h->seg_index % 64);
	memcpy(e->buf + RC_PROTO_HDR_LEN +
		       (size_t)h->seg_index * RC_PROTO_SEG_BODY,
	       dgram + RC_PROTO_HDR_LEN, body);
	if (last)
		e->last_body = body;
	if (++e->received < e->seg_count)
		return RC_REASM_PENDING;
	e->done = 1;
	r->st.completed++;
	*msg = e->buf;
	*msg_len = RC_PROTO_HDR_LEN +
		   (size_t)(e->seg_count - 1) * RC_PROTO_SEG_BODY + e->last_body;
	return RC_REASM_DONE;
}

void rc_reasm_release(struct rc_reasm *r, uint8_t *msg)
{
	for (unsigned i = 0; i < r->cfg.max_entries; i++)
		if (r->e[i].buf == msg) {
			drop(r, &r->e[i]);
			return;
		}
}

void rc_reasm_get_stats(const struct rc_reasm *r, struct rc_reasm_stats *st)
{
	*st = r->st;
}
