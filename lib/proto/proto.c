/* SPDX-License-Identifier: MIT
 * ringcache wire protocol v1. Layout: docs/protocol.md. All multi-byte
 * fields are big-endian; nothing here assumes alignment. */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "rc_proto.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t get64(const uint8_t *p)
{
	return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

size_t rc_proto_req_extras_len(uint8_t opcode)
{
	switch (opcode) {
	case RC_OP_SET:
		return 16; /* flags, ttl, cas */
	case RC_OP_DELETE:
		return 8;  /* cas */
	case RC_OP_TOUCH:
		return 4;  /* ttl */
	default:
		return 0;
	}
}

size_t rc_proto_req_op_size(const struct rc_proto_req_op *op)
{
	return RC_PROTO_REQ_OP_LEN + rc_proto_req_extras_len(op->opcode) +
	       op->key_len + op->value_len;
}

void rc_proto_hdr_encode(uint8_t *buf, const struct rc_proto_hdr *h)
{
	put16(buf, RC_PROTO_MAGIC);
	buf[2] = h->version;
	buf[3] = h->flags;
	put32(buf + 4, h->request_id);
	put32(buf + 8, h->epoch);
	put16(buf + 12, h->n_ops);
	put16(buf + 14, h->seg_index);
	put16(buf + 16, h->seg_count);
	put16(buf + 18, h->partitions);
}

enum rc_proto_rstatus rc_proto_hdr_decode(const uint8_t *buf, size_t len,
					  struct rc_proto_hdr *h)
{
	if (len < RC_PROTO_HDR_LEN)
		return RC_PROTO_ESHORT;
	if (get16(buf) != RC_PROTO_MAGIC)
		return RC_PROTO_EMAGIC;
	h->version = buf[2];
	if (h->version != RC_PROTO_VERSION)
		return RC_PROTO_EVERSION;
	h->flags = buf[3];
	if (h->flags & ~RC_PROTO_F_KNOWN)
		return RC_PROTO_EFLAGS;
	h->request_id = get32(buf + 4);
	h->epoch = get32(buf + 8);
	h->n_ops = get16(buf + 12);
	h->seg_index = get16(buf + 14);
	h->seg_count = get16(buf + 16);
	h->partitions = get16(buf + 18);
	if (h->flags & RC_PROTO_F_SEGMENTED) {
		if (h->seg_count < 2 || h->seg_count > RC_PROTO_MAX_SEGMENTS ||
		    h->seg_index >= h->seg_count)
			return RC_PROTO_ESEGMENT;
	} else if (h->seg_index != 0 || h->seg_count != 1) {
		return RC_PROTO_ESEGMENT;
	}
	if (h->n_ops == 0)
		return RC_PROTO_ENOOPS;
	if (h->n_ops > RC_PROTO_MAX_OPS)
		return RC_PROTO_ETOOMANY;
	return RC_PROTO_OK;
}

size_t rc_proto_req_op_encode(uint8_t *buf, size_t cap,
			      const struct rc_proto_req_op *op)
{
	size_t need = rc_proto_req_op_size(op);
	uint8_t *p = buf + RC_PROTO_REQ_OP_LEN;

	if (need > cap || op->opcode >= RC_OP__COUNT)
		return 0;
	buf[0] = op->opcode;
	buf[1] = op->class_id;
	put16(buf + 2, op->key_len);
	put32(buf + 4, op->value_len);
	switch (op->opcode) {
	case RC_OP_SET:
		put32(p, op->client_flags);
		put32(p + 4, op->ttl);
		put64(p + 8, op->cas);
		break;
	case RC_OP_DELETE:
		put64(p, op->cas);
		break;
	case RC_OP_TOUCH:
		put32(p, op->ttl);
		break;
	default:
		break;
	}
	p += rc_proto_req_extras_len(op->opcode);
	if (op->key_len)
		memcpy(p, op->key, op->key_len);
	p += op->key_len;
	if (op->value_len)
		memcpy(p, op->value, op->value_len);
	return need;
}

size_t rc_proto_rep_op_encode(uint8_t *buf, size_t cap,
			      const struct rc_proto_rep_op *op)
{
	size_t need = rc_proto_rep_op_size(op->value_len);

	if (need > cap)
		return 0;
	rc_proto_rep_op_encode_hdr(buf, op);
	if (op->value && op->value_len)
		memcpy(buf + RC_PROTO_REP_OP_LEN, op->value, op->value_len);
	return need;
}

void rc_proto_rep_op_encode_hdr(uint8_t *buf, const struct rc_proto_rep_op *op)
{
	buf[0] = op->opcode;
	buf[1] = op->status;
	buf[2] = op->class_id;
	buf[3] = op->op_flags;
	put32(buf + 4, op->value_len);
	put32(buf + 8, op->client_flags);
	put64(buf + 12, op->cas);
}

enum rc_proto_rstatus rc_proto_decode_request(const uint8_t *buf, size_t len,
					      struct rc_proto_hdr *h,
					      struct rc_proto_req_op *ops,
					      unsigned max_ops)
{
	enum rc_proto_rstatus rs = rc_proto_hdr_decode(buf, len, h);
	size_t off = RC_PROTO_HDR_LEN;

	if (rs != RC_PROTO_OK)
		return rs;
	if (h->flags & RC_PROTO_F_SEGMENTED)
		return RC_PROTO_ESEGMENT;
	if (h->flags & RC_PROTO_F_REPLY)
		return RC_PROTO_EFLAGS;
	if (h->partitions != 0)
		return RC_PROTO_ERESERVED;
	if (h->n_ops > max_ops)
		return RC_PROTO_ETOOMANY;

	for (unsigned i = 0; i < h->n_ops; i++) {
		struct rc_proto_req_op *op = &ops[i];
		const uint8_t *p = buf + off;
		size_t extras, body;

		if (len - off < RC_PROTO_REQ_OP_LEN)
			return RC_PROTO_ETRUNC;
		op->opcode = p[0];
		if (op->opcode >= RC_OP__COUNT)
			return RC_PROTO_EOPCODE;
		op->class_id = p[1];
		op->key_len = get16(p + 2);
		op->value_len = get32(p + 4);
		extras = rc_proto_req_extras_len(op->opcode);
		off += RC_PROTO_REQ_OP_LEN;
		/* Compare in size_t so a huge value_len cannot wrap. */
		body = extras + (size_t)op->key_len + (size_t)op->value_len;
		if (len - off < body)
			return RC_PROTO_ETRUNC;
		p = buf + off;
		op->client_flags = 0;
		op->ttl = 0;
		op->cas = 0;
		switch (op->opcode) {
		case RC_OP_SET:
			op->client_flags = get32(p);
			op->ttl = get32(p + 4);
			op->cas = get64(p + 8);
			break;
		case RC_OP_DELETE:
			op->cas = get64(p);
			break;
		case RC_OP_TOUCH:
			op->ttl = get32(p);
			break;
		default:
			break;
		}
		op->key = p + extras;
		op->value = op->key + op->key_len;
		off += body;
	}
	if (h->flags & RC_PROTO_F_PADDED)
		return RC_PROTO_OK;
	return off == len ? RC_PROTO_OK : RC_PROTO_ETRAILING;
}

enum rc_proto_rstatus rc_proto_decode_reply(const uint8_t *buf, size_t len,
					    struct rc_proto_hdr *h,
					    struct rc_proto_rep_op *ops,
					    unsigned max_ops)
{
	enum rc_proto_rstatus rs = rc_proto_hdr_decode(buf, len, h);
	size_t off = RC_PROTO_HDR_LEN;

	if (rs != RC_PROTO_OK)
		return rs;
	if (h->flags & RC_PROTO_F_SEGMENTED)
		return RC_PROTO_ESEGMENT;
	if (!(h->flags & RC_PROTO_F_REPLY) ||
	    (h->flags & (RC_PROTO_F_PADDED | RC_PROTO_F_DURABLE)))
		return RC_PROTO_EFLAGS;
	if (h->n_ops > max_ops)
		return RC_PROTO_ETOOMANY;

	for (unsigned i = 0; i < h->n_ops; i++) {
		struct rc_proto_rep_op *op = &ops[i];
		const uint8_t *p = buf + off;

		if (len - off < RC_PROTO_REP_OP_LEN)
			return RC_PROTO_ETRUNC;
		op->opcode = p[0];
		if (op->opcode >= RC_OP__COUNT)
			return RC_PROTO_EOPCODE;
		op->status = p[1];
		op->class_id = p[2];
		op->op_flags = p[3];
		if (op->op_flags & ~RC_PROTO_OPF_KNOWN)
			return RC_PROTO_ERESERVED;
		op->value_len = get32(p + 4);
		op->client_flags = get32(p + 8);
		op->cas = get64(p + 12);
		off += RC_PROTO_REP_OP_LEN;
		if (len - off < (size_t)op->value_len)
			return RC_PROTO_ETRUNC;
		op->value = buf + off;
		off += op->value_len;
	}
	return off == len ? RC_PROTO_OK : RC_PROTO_ETRAILING;
}

static const char *const status_names[RC_ST__COUNT] = {
	[RC_ST_OK] = "OK",
	[RC_ST_NOT_FOUND] = "NOT_FOUND",
	[RC_ST_EXISTS] = "EXISTS",
	[RC_ST_TOO_LARGE] = "TOO_LARGE",
	[RC_ST_BAD_REQUEST] = "BAD_REQUEST",
	[RC_ST_THROTTLED] = "THROTTLED",
	[RC_ST_NOT_PRIMARY] = "NOT_PRIMARY",
	[RC_ST_SERVER_ERROR] = "SERVER_ERROR",
	[RC_ST_NO_MEMORY] = "NO_MEMORY",
	[RC_ST_UNKNOWN_CLASS] = "UNKNOWN_CLASS",
	[RC_ST_OVERFLOW] = "OVERFLOW",
	[RC_ST_WRONG_PARTITION] = "WRONG_PARTITION",
	[RC_ST_READ_ONLY] = "READ_ONLY",
	[RC_ST_PAD_REQUIRED] = "PAD_REQUIRED",
	[RC_ST_BUSY] = "BUSY",
	[RC_ST_NOT_REPLICATED] = "NOT_REPLICATED",
};

static const char *const opcode_names[RC_OP__COUNT] = {
	[RC_OP_NOOP] = "noop",
	[RC_OP_GET] = "get",
	[RC_OP_SET] = "set",
	[RC_OP_DELETE] = "delete",
	[RC_OP_TOUCH] = "touch",
};

static const char *const rstatus_names[RC_PROTO_E__COUNT] = {
	[RC_PROTO_OK] = "ok",
	[RC_PROTO_ESHORT] = "short_header",
	[RC_PROTO_EMAGIC] = "bad_magic",
	[RC_PROTO_EVERSION] = "bad_version",
	[RC_PROTO_EFLAGS] = "bad_flags",
	[RC_PROTO_ESEGMENT] = "bad_segment",
	[RC_PROTO_ENOOPS] = "no_ops",
	[RC_PROTO_ETOOMANY] = "too_many_ops",
	[RC_PROTO_ETRUNC] = "truncated_op",
	[RC_PROTO_EOPCODE] = "bad_opcode",
	[RC_PROTO_ETRAILING] = "trailing_bytes",
	[RC_PROTO_ERESERVED] = "reserved_nonzero",
};

const char *rc_proto_status_name(unsigned status)
{
	return status < RC_ST__COUNT ? status_names[status] : "UNKNOWN_STATUS";
}

const char *rc_proto_opcode_name(unsigned opcode)
{
	return opcode < RC_OP__COUNT ? opcode_names[opcode] : "unknown";
}

const char *rc_proto_rstatus_name(unsigned rs)
{
	return rs < RC_PROTO_E__COUNT ? rstatus_names[rs] : "unknown";
}

void rc_proto_key_digest(const void *key, size_t len,
			 struct rc_proto_digest *d)
{
	XXH128_hash_t h = XXH3_128bits(key, len);

	d->lo = h.low64;
	d->hi = h.high64;
}
