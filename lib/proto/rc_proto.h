/* SPDX-License-Identifier: MIT
 * ringcache wire protocol v1: encode/decode on plain buffers.
 *
 * No DPDK, no sockets: shared by the daemon (lib/net + app/ringcached) and
 * the client library. The byte layout is specified in docs/protocol.md;
 * keep the two in step.
 */
#ifndef RC_PROTO_H
#define RC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define RC_PROTO_MAGIC       0x5243u /* "RC" */
#define RC_PROTO_VERSION     1u
#define RC_PROTO_HDR_LEN     20u
#define RC_PROTO_REQ_OP_LEN  8u  /* fixed part of a request operation */
#define RC_PROTO_REP_OP_LEN  20u /* fixed part of a reply operation */

/* Hard protocol limits. Servers may configure lower ones. */
#define RC_PROTO_MAX_KEY      250u   /* bytes */
#define RC_PROTO_MAX_OPS      64u    /* operations per datagram */
/* Largest UDP payload of one datagram: a 1500-byte Ethernet MTU minus
 * IPv4 (20) and UDP (8) headers. */
#define RC_PROTO_MAX_DATAGRAM 1472u
/* A message (request or reply) longer than one datagram travels as
 * numbered segments: each repeats the 20-byte header and carries the next
 * RC_PROTO_SEG_BODY bytes of what follows it (the last one the rest). */
#define RC_PROTO_SEG_BODY     (RC_PROTO_MAX_DATAGRAM - RC_PROTO_HDR_LEN)
#define RC_PROTO_MAX_SEGMENTS 1024u
#define RC_PROTO_MAX_MESSAGE                                               \
	(RC_PROTO_HDR_LEN + RC_PROTO_SEG_BODY * RC_PROTO_MAX_SEGMENTS)
#define RC_PROTO_MAX_VALUE    (1u << 20) /* 1 MiB */

/* Frame flags. */
#define RC_PROTO_F_REPLY     0x01u
#define RC_PROTO_F_SEGMENTED 0x02u /* one segment of a longer message */
#define RC_PROTO_F_PADDED    0x04u /* request: bytes after the last op are
				    * padding (see amplification) */
#define RC_PROTO_F_DURABLE   0x08u /* request: answer the writes only once
				    * the standby has applied them */
#define RC_PROTO_F_KNOWN                                                   \
	(RC_PROTO_F_REPLY | RC_PROTO_F_SEGMENTED | RC_PROTO_F_PADDED |      \
	 RC_PROTO_F_DURABLE)

enum rc_proto_opcode {
	RC_OP_NOOP = 0x00,
	RC_OP_GET = 0x01,
	RC_OP_SET = 0x02,
	RC_OP_DELETE = 0x03,
	RC_OP_TOUCH = 0x04,
	RC_OP__COUNT
};

enum rc_proto_status {
	RC_ST_OK = 0,
	RC_ST_NOT_FOUND = 1,
	RC_ST_EXISTS = 2,          /* CAS mismatch */
	RC_ST_TOO_LARGE = 3,       /* key or value over the server's limit */
	RC_ST_BAD_REQUEST = 4,     /* well-framed but meaningless operation */
	RC_ST_THROTTLED = 5,
	RC_ST_NOT_PRIMARY = 6,     /* header epoch names the current one */
	RC_ST_SERVER_ERROR = 7,
	RC_ST_NO_MEMORY = 8,       /* could not make room for the item */
	RC_ST_UNKNOWN_CLASS = 9,
	RC_ST_OVERFLOW = 10,       /* reply would not fit: ask again alone */
	RC_ST_WRONG_PARTITION = 11,/* header partitions field says how many */
	RC_ST_READ_ONLY = 12,
	RC_ST_PAD_REQUIRED = 13,   /* reply would outgrow the request of an
				    * untrusted source: value_len says by
				    * how much the request must grow */
	RC_ST_BUSY = 14,           /* no room to reassemble a segmented
				    * request: retry later */
	RC_ST_NOT_REPLICATED = 15, /* DURABLE write: applied here, but the
				    * standby did not confirm it in time */
	RC_ST__COUNT
};

/* Class byte: an explicit class id, or "let the server derive it". */
#define RC_PROTO_CLASS_AUTO 0xFFu

/* Frame-level decode outcome. Anything but OK means the whole datagram is
 * dropped and counted under that reason; none of its ops are executed. */
enum rc_proto_rstatus {
	RC_PROTO_OK = 0,
	RC_PROTO_ESHORT,      /* shorter than the frame header */
	RC_PROTO_EMAGIC,
	RC_PROTO_EVERSION,
	RC_PROTO_EFLAGS,      /* unknown flag bits, or reply/request mismatch */
	RC_PROTO_ESEGMENT,    /* segment fields out of range, or a segment
			       * where a whole message is expected */
	RC_PROTO_ENOOPS,      /* op count is zero */
	RC_PROTO_ETOOMANY,    /* op count above RC_PROTO_MAX_OPS */
	RC_PROTO_ETRUNC,      /* an op runs past the end of the datagram */
	RC_PROTO_EOPCODE,     /* unknown opcode */
	RC_PROTO_ETRAILING,   /* bytes left after the last op */
	RC_PROTO_ERESERVED,   /* a reserved field is not zero */
	RC_PROTO_E__COUNT
};

struct rc_proto_hdr {
	uint8_t version;
	uint8_t flags;
	uint32_t request_id;
	uint32_t epoch;       /* reply: server's epoch; request: 0 or known */
	uint16_t n_ops;
	uint16_t seg_index;
	uint16_t seg_count;
	uint16_t partitions;  /* reply: server's partition count; request: 0 */
};

/* A decoded request operation. key and value point into the datagram. */
struct rc_proto_req_op {
	uint8_t opcode;
	uint8_t class_id;
	uint16_t key_len;
	uint32_t value_len;
	uint32_t client_flags; /* SET */
	uint32_t ttl;          /* SET, TOUCH: seconds, 0 = never expires */
	uint64_t cas;          /* SET, DELETE: 0 = unconditional */
	const uint8_t *key;
	const uint8_t *value;
};

/* Reply op flags (byte 3 of a reply op). */
#define RC_PROTO_OPF_STALE 0x01u /* GET: the item has expired and is served
				  * within the node's serve-stale grace */
#define RC_PROTO_OPF_KNOWN RC_PROTO_OPF_STALE

/* A decoded reply operation. value points into the datagram. */
struct rc_proto_rep_op {
	uint8_t opcode;
	uint8_t status;
	uint8_t class_id;
	uint8_t op_flags;      /* RC_PROTO_OPF_* */
	uint32_t value_len;
	uint32_t client_flags;
	uint64_t cas;
	const uint8_t *value;
};

/* Bytes of opcode-specific fields that follow the fixed request op part. */
size_t rc_proto_req_extras_len(uint8_t opcode);

/* Encoded size of a request op / reply op. */
size_t rc_proto_req_op_size(const struct rc_proto_req_op *op);
static inline size_t rc_proto_rep_op_size(uint32_t value_len)
{
	return RC_PROTO_REP_OP_LEN + value_len;
}

/* Write the frame header. buf must hold RC_PROTO_HDR_LEN bytes. */
void rc_proto_hdr_encode(uint8_t *buf, const struct rc_proto_hdr *h);

/* Parse and validate the frame header (segment fields included: a
 * SEGMENTED frame has 2 <= seg_count <= RC_PROTO_MAX_SEGMENTS and
 * seg_index < seg_count; any other has 0 of 1).
 * @return RC_PROTO_OK, or the reason the frame is malformed. */
enum rc_proto_rstatus rc_proto_hdr_decode(const uint8_t *buf, size_t len,
					  struct rc_proto_hdr *h);

/* Append one request op at buf.
 * @return bytes written, or 0 if it does not fit in cap or a length exceeds
 *         the protocol's hard limits. */
size_t rc_proto_req_op_encode(uint8_t *buf, size_t cap,
			      const struct rc_proto_req_op *op);

/* Append one reply op header followed by value_len bytes of value (value
 * may be NULL when the caller copies the value in itself afterwards).
 * @return bytes written, or 0 if it does not fit in cap. */
size_t rc_proto_rep_op_encode(uint8_t *buf, size_t cap,
			      const struct rc_proto_rep_op *op);

/* Write only the 20-byte fixed part of a reply op (value_len included);
 * the caller places the value after it, or elsewhere (scatter replies). */
void rc_proto_rep_op_encode_hdr(uint8_t *buf, const struct rc_proto_rep_op *op);

/* Decode a whole request message (one datagram, or a reassembled one)
 * into ops[max_ops]. Validates every length before returning. A SEGMENTED
 * header is refused (ESEGMENT): reassemble first.
 * @return RC_PROTO_OK or the reason to drop the datagram. */
enum rc_proto_rstatus rc_proto_decode_request(const uint8_t *buf, size_t len,
					      struct rc_proto_hdr *h,
					      struct rc_proto_req_op *ops,
					      unsigned max_ops);

/* Decode a whole reply datagram, likewise. */
enum rc_proto_rstatus rc_proto_decode_reply(const uint8_t *buf, size_t len,
					    struct rc_proto_hdr *h,
					    struct rc_proto_rep_op *ops,
					    unsigned max_ops);

/* Segments a message of msg_len bytes (header included) travels in. */
static inline unsigned rc_proto_seg_count(size_t msg_len)
{
	return msg_len <= RC_PROTO_MAX_DATAGRAM
		       ? 1u
		       : (unsigned)((msg_len - RC_PROTO_HDR_LEN +
				     RC_PROTO_SEG_BODY - 1) /
				    RC_PROTO_SEG_BODY);
}

/* Names for logs, counters and error messages. Never NULL. */
const char *rc_proto_status_name(unsigned status);
const char *rc_proto_opcode_name(unsigned opcode);
const char *rc_proto_rstatus_name(unsigned rs);

/* 128-bit key digest (XXH3-128). Both ends derive the partition from it,
 * the server indexes items by it. */
struct rc_proto_digest {
	uint64_t lo, hi;
};
void rc_proto_key_digest(const void *key, size_t len,
			 struct rc_proto_digest *d);

/* partition = digest mod P (P >= 1). */
static inline unsigned rc_proto_partition(const struct rc_proto_digest *d,
					  unsigned partitions)
{
	return partitions <= 1 ? 0 : (unsigned)(d->lo % partitions);
}

#endif
