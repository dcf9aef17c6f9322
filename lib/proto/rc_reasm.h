/* SPDX-License-Identifier: MIT
 * Reassembly of segmented messages (docs/protocol.md, "Segmentation").
 *
 * Bounded in every dimension: entries, bytes held, time an incomplete
 * message may wait, and the size of one message. Shared by the daemon
 * (requests, per worker) and the client library (replies). Not
 * thread-safe: one owner. Time is in the caller's unit (TSC ticks, ms). */
#ifndef RC_REASM_H
#define RC_REASM_H

#include <stddef.h>
#include <stdint.h>

#include "rc_proto.h"

struct rc_reasm_config {
	unsigned max_entries;  /* messages being reassembled at once */
	size_t max_bytes;      /* buffer bytes held by all of them */
	size_t max_message;    /* largest message, header included */
	uint64_t timeout;      /* an entry older than this is dropped */
	/* Fairness among untrusted senders (0: no cap): one owner (say,
	 * a source address) holds at most this many entries and bytes,
	 * and a trusted sender finding the table full takes the room of
	 * untrusted entries, oldest first. */
	unsigned max_entries_per_owner;
	size_t max_bytes_per_owner;
};

enum rc_reasm_result {
	RC_REASM_PENDING = 0,  /* kept; the message is not complete */
	RC_REASM_DONE,         /* complete: see *msg, *msg_len */
	RC_REASM_DUPLICATE,    /* this segment was already here: ignored */
	RC_REASM_FULL,         /* no room (entries or bytes): not kept */
	RC_REASM_TOO_BIG,      /* seg_count promises more than max_message */
	RC_REASM_MISMATCH,     /* disagrees with earlier segments, or a
				* segment other than the last is not full */
};

struct rc_reasm_stats {
	uint64_t entries, bytes;            /* now */
	uint64_t completed, timeouts, full, too_big, duplicates, mismatches;
	uint64_t over_share;   /* refused: the owner holds its share */
	uint64_t evicted;      /* untrusted entries dropped for a trusted one */
};

struct rc_reasm;

/* @return NULL if out of memory or the config is zero somewhere. */
struct rc_reasm *rc_reasm_create(const struct rc_reasm_config *cfg);
void rc_reasm_destroy(struct rc_reasm *r);

/* Add one segment: dgram is the whole datagram (header included), h its
 * decoded header (SEGMENTED), src identifies the sender (e.g. IPv4 << 16
 * | port). Entries are matched on (src, request_id).
 * On RC_REASM_DONE *msg points to the whole message, its header rewritten
 * as unsegmented (flags without SEGMENTED, segment 0 of 1), ready for
 * rc_proto_decode_request/reply; it stays valid until rc_reasm_release().
 * Timed-out entries are dropped first, so a full table frees itself. */
enum rc_reasm_result rc_reasm_add(struct rc_reasm *r, uint64_t src,
				  const struct rc_proto_hdr *h,
				  const uint8_t *dgram, size_t len,
				  uint64_t now, uint8_t **msg,
				  size_t *msg_len);

/* The same, for a sender that is an owner (e.g. a source address) and
 * trusted or not (see the per-owner limits in the config); rc_reasm_add
 * is this with owner = src, trusted. RC_REASM_FULL also answers an owner
 * over its share (counted as over_share). */
enum rc_reasm_result rc_reasm_add_from(struct rc_reasm *r, uint64_t src,
				       uint32_t owner, int trusted,
				       const struct rc_proto_hdr *h,
				       const uint8_t *dgram, size_t len,
				       uint64_t now, uint8_t **msg,
				       size_t *msg_len);

/* Free the completed message returned by rc_reasm_add. */
void rc_reasm_release(struct rc_reasm *r, uint8_t *msg);

/* Drop entries older than the timeout. @return how many. */
unsigned rc_reasm_expire(struct rc_reasm *r, uint64_t now);

/* Drop every entry of src with this request id (client: gave up). */
void rc_reasm_forget(struct rc_reasm *r, uint64_t src, uint32_t request_id);

void rc_reasm_get_stats(const struct rc_reasm *r, struct rc_reasm_stats *st);

#endif
