/* SPDX-License-Identifier: MIT
 * ringbench <-> ringcache protocol v1, via lib/proto. */
#include "bench.h"
#include "rc_proto.h"

static size_t rc_encode(uint8_t *buf, size_t cap, uint32_t id, bool set,
			const char *const *keys, const size_t *klens,
			unsigned n, const uint8_t *value, size_t vlen,
			uint8_t cls, unsigned partitions, unsigned *port_off)
{
	struct rc_proto_hdr h = {.version = RC_PROTO_VERSION, .request_id = id,
				 .n_ops = (uint16_t)(set ? 1 : n),
				 .seg_count = 1};
	struct rc_proto_digest d;
	size_t off = RC_PROTO_HDR_LEN;

	rc_proto_hdr_encode(buf, &h);
	for (unsigned i = 0; i < h.n_ops; i++) {
		struct rc_proto_req_op op = {
			.opcode = set ? RC_OP_SET : RC_OP_GET,
			.class_id = set ? cls : RC_PROTO_CLASS_AUTO,
			.key_len = (uint16_t)klens[i],
			.key = (const uint8_t *)keys[i]};
		size_t w;

		if (set) {
			op.value_len = (uint32_t)vlen;
			op.value = value;
		}
		w = rc_proto_req_op_encode(buf + off, cap - off, &op);
		if (w == 0)
			return 0;
		off += w;
	}
	/* A GET batch is built from keys of one partition (see bench.c). */
	rc_proto_key_digest(keys[0], klens[0], &d);
	*port_off = rc_proto_partition(&d, partitions);
	return off;
}

static int rc_decode(const uint8_t *buf, size_t len, uint32_t *id,
		     unsigned *hits, unsigned *misses, unsigned *errors)
{
	static __thread struct rc_proto_rep_op ops[RC_PROTO_MAX_OPS];
	struct rc_proto_hdr h;

	if (rc_proto_decode_reply(buf, len, &h, ops, RC_PROTO_MAX_OPS) !=
	    RC_PROTO_OK)
		return -1;
	*id = h.request_id;
	for (unsigned i = 0; i < h.n_ops; i++) {
		if (ops[i].status == RC_ST_OK) {
			if (ops[i].opcode == RC_OP_GET)
				(*hits)++;
		} else if (ops[i].status == RC_ST_NOT_FOUND) {
			(*misses)++;
		} else {
			(*errors)++;
		}
	}
	return 0;
}

const struct rb_proto rb_proto_ringcache = {
	.name = "ringcache",
	.id_mask = 0xffffffffu,
	.encode = rc_encode,
	.decode = rc_decode,
};
