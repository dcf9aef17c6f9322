/* SPDX-License-Identifier: MIT
 * lib/proto: encode -> decode round trips on plain buffers, and every
 * malformed-frame reason at its edge. No EAL. */
#include <stdio.h>
#include <string.h>

#include "rc_cunit.h"

#include "rc_proto.h"

static size_t put_hdr(uint8_t *b, uint16_t n_ops, uint8_t flags)
{
	struct rc_proto_hdr h = {.version = RC_PROTO_VERSION, .flags = flags,
				 .request_id = 0x01020304, .epoch = 9,
				 .n_ops = n_ops, .seg_count = 1};

	rc_proto_hdr_encode(b, &h);
	return RC_PROTO_HDR_LEN;
}

static void test_header_bytes(void)
{
	uint8_t b[RC_PROTO_HDR_LEN];
	static const uint8_t want[RC_PROTO_HDR_LEN] = {
		0x52, 0x43, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00,
		0x00, 0x09, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
	struct rc_proto_hdr h;

	put_hdr(b, 2, 0);
	CU_ASSERT_EQUAL(memcmp(b, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, sizeof(b), &h), RC_PROTO_OK);
	CU_ASSERT_EQUAL(h.request_id, 0x01020304);
	CU_ASSERT_EQUAL(h.epoch, 9);
	CU_ASSERT_EQUAL(h.n_ops, 2);
}

/* The SET example of docs/protocol.md, byte for byte. */
static void test_set_bytes(void)
{
	uint8_t b[64];
	struct rc_proto_req_op op = {.opcode = RC_OP_SET, .class_id = 0,
				     .key_len = 3, .value_len = 2,
				     .client_flags = 7, .ttl = 60, .cas = 0,
				     .key = (const uint8_t *)"k:1",
				     .value = (const uint8_t *)"hi"};
	static const uint8_t want[] = {
		0x02, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, /* op, class, lens */
		0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x3c, /* flags, ttl */
		0, 0, 0, 0, 0, 0, 0, 0,                         /* cas */
		'k', ':', '1', 'h', 'i'};

	CU_ASSERT_EQUAL(rc_proto_req_op_encode(b, sizeof(b), &op), sizeof(want));
	CU_ASSERT_EQUAL(memcmp(b, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(rc_proto_req_op_encode(b, sizeof(want) - 1, &op), 0);
}

static void test_request_roundtrip(void)
{
	uint8_t b[RC_PROTO_MAX_DATAGRAM];
	struct rc_proto_req_op in[5] = {
		{.opcode = RC_OP_GET, .class_id = RC_PROTO_CLASS_AUTO, .key_len = 4,
		 .key = (const uint8_t *)"key1"},
		{.opcode = RC_OP_SET, .class_id = 3, .key_len = 4, .value_len = 5,
		 .client_flags = 0xfeedface, .ttl = 3600, .cas = 0x1122334455667788ull,
		 .key = (const uint8_t *)"key2", .value = (const uint8_t *)"hello"},
		{.opcode = RC_OP_DELETE, .key_len = 1, .cas = 42,
		 .key = (const uint8_t *)"x"},
		{.opcode = RC_OP_TOUCH, .key_len = 1, .ttl = 5,
		 .key = (const uint8_t *)"y"},
		{.opcode = RC_OP_NOOP},
	};
	struct rc_proto_req_op out[RC_PROTO_MAX_OPS];
	struct rc_proto_hdr h;
	size_t off = put_hdr(b, 5, 0);

	for (int i = 0; i < 5; i++) {
		size_t n = rc_proto_req_op_encode(b + off, sizeof(b) - off, &in[i]);

		CU_ASSERT_EQUAL_FATAL(n, rc_proto_req_op_size(&in[i]));
		off += n;
	}
	CU_ASSERT_EQUAL_FATAL(rc_proto_decode_request(b, off, &h, out,
						      RC_PROTO_MAX_OPS), RC_PROTO_OK);
	CU_ASSERT_EQUAL(h.n_ops, 5);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(out[i].opcode, in[i].opcode);
		CU_ASSERT_EQUAL(out[i].class_id, in[i].class_id);
		CU_ASSERT_EQUAL(out[i].key_len, in[i].key_len);
		CU_ASSERT_EQUAL(out[i].value_len, in[i].value_len);
		CU_ASSERT_EQUAL(out[i].client_flags, in[i].client_flags);
		CU_ASSERT_EQUAL(out[i].ttl, in[i].ttl);
		CU_ASSERT_EQUAL(out[i].cas, in[i].cas);
		if (in[i].key_len)
			CU_ASSERT_EQUAL(memcmp(out[i].key, in[i].key, in[i].key_len), 0);
		if (in[i].value_len)
			CU_ASSERT_EQUAL(memcmp(out[i].value, in[i].value,
					       in[i].value_len), 0);
	}
	/* One byte short of the last op, one byte extra: both refused. */
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, off - 1, &h, out,
						RC_PROTO_MAX_OPS), RC_PROTO_ETRUNC);
	b[off] = 0;
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, off + 1, &h, out,
						RC_PROTO_MAX_OPS), RC_PROTO_ETRAILING);
	/* The caller's op array bounds the count too. */
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, off, &h, out, 4),
			RC_PROTO_ETOOMANY);
}

static void test_reply_roundtrip(void)
{
	uint8_t b[256];
	struct rc_proto_rep_op r = {.opcode = RC_OP_GET, .status = RC_ST_OK,
				    .class_id = 1, .value_len = 3,
				    .client_flags = 5, .cas = 77,
				    .value = (const uint8_t *)"abc"};
	struct rc_proto_rep_op miss = {.opcode = RC_OP_GET,
				       .status = RC_ST_NOT_FOUND};
	struct rc_proto_rep_op out[4];
	struct rc_proto_hdr h;
	size_t off = put_hdr(b, 2, RC_PROTO_F_REPLY);

	off += rc_proto_rep_op_encode(b + off, sizeof(b) - off, &r);
	off += rc_proto_rep_op_encode(b + off, sizeof(b) - off, &miss);
	CU_ASSERT_EQUAL(off, RC_PROTO_HDR_LEN + 2 * RC_PROTO_REP_OP_LEN + 3);
	CU_ASSERT_EQUAL_FATAL(rc_proto_decode_reply(b, off, &h, out, 4), RC_PROTO_OK);
	CU_ASSERT_EQUAL(out[0].status, RC_ST_OK);
	CU_ASSERT_EQUAL(out[0].cas, 77);
	CU_ASSERT_EQUAL(out[0].client_flags, 5);
	CU_ASSERT_EQUAL(memcmp(out[0].value, "abc", 3), 0);
	CU_ASSERT_EQUAL(out[1].status, RC_ST_NOT_FOUND);
	CU_ASSERT_EQUAL(out[1].value_len, 0);
	/* A request is not a reply and vice versa. */
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, off, &h, NULL, 0), RC_PROTO_EFLAGS);
}

static void test_malformed_headers(void)
{
	uint8_t b[64];
	struct rc_proto_hdr h;
	struct rc_proto_req_op ops[RC_PROTO_MAX_OPS];
	size_t n;

	memset(b, 0, sizeof(b));
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, 0, &h, ops, 64), RC_PROTO_ESHORT);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, RC_PROTO_HDR_LEN - 1, &h, ops, 64),
			RC_PROTO_ESHORT);
	n = put_hdr(b, 1, 0);
	b[0] = 0x53;
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_EMAGIC);
	put_hdr(b, 1, 0);
	b[2] = 2;
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_EVERSION);
	put_hdr(b, 1, 0x80);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_EFLAGS);
	put_hdr(b, 1, RC_PROTO_F_SEGMENTED); /* segment 0 of 1 */
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_ESEGMENT);
	put_hdr(b, 1, 0);
	b[15] = 1; /* seg_index 1 */
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_ESEGMENT);
	put_hdr(b, 0, 0);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_ENOOPS);
	put_hdr(b, RC_PROTO_MAX_OPS, 0);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_ETRUNC);
	put_hdr(b, RC_PROTO_MAX_OPS + 1, 0);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 64), RC_PROTO_ETOOMANY);
	put_hdr(b, 1, 0);
	b[19] = 1; /* partitions is reserved in requests */
	memset(b + n, 0, 8);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n + 8, &h, ops, 64), RC_PROTO_ERESERVED);
	put_hdr(b, 1, 0);
	b[n] = RC_OP__COUNT;
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n + 8, &h, ops, 64), RC_PROTO_EOPCODE);
}

/* value_len near UINT32_MAX must not wrap the bounds check. */
static void put_seg(uint8_t *b, uint16_t idx, uint16_t count)
{
	struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
				 .flags = RC_PROTO_F_SEGMENTED, .n_ops = 1,
				 .seg_index = idx, .seg_count = count};

	rc_proto_hdr_encode(b, &h);
}

/* Segment fields at and past their edges; segments are never decoded as
 * whole messages. */
static void test_segment_fields(void)
{
	uint8_t b[64] = {0};
	struct rc_proto_hdr h;
	struct rc_proto_req_op ops[1];

	put_seg(b, 0, 2);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, 20, &h), RC_PROTO_OK);
	CU_ASSERT_EQUAL(h.seg_count, 2);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, 28, &h, ops, 1), RC_PROTO_ESEGMENT);
	put_seg(b, 1, 2);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, 20, &h), RC_PROTO_OK);
	put_seg(b, 2, 2);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, 20, &h), RC_PROTO_ESEGMENT);
	put_seg(b, 0, 1);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, 20, &h), RC_PROTO_ESEGMENT);
	put_seg(b, 1023, RC_PROTO_MAX_SEGMENTS);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, 20, &h), RC_PROTO_OK);
	put_seg(b, 0, RC_PROTO_MAX_SEGMENTS + 1);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, 20, &h), RC_PROTO_ESEGMENT);

	CU_ASSERT_EQUAL(rc_proto_seg_count(RC_PROTO_MAX_DATAGRAM), 1);
	CU_ASSERT_EQUAL(rc_proto_seg_count(RC_PROTO_MAX_DATAGRAM + 1), 2);
	CU_ASSERT_EQUAL(rc_proto_seg_count(RC_PROTO_HDR_LEN + 2 * RC_PROTO_SEG_BODY), 2);
	CU_ASSERT_EQUAL(rc_proto_seg_count(RC_PROTO_HDR_LEN + 2 * RC_PROTO_SEG_BODY + 1), 3);
	CU_ASSERT_EQUAL(rc_proto_seg_count(RC_PROTO_MAX_MESSAGE), RC_PROTO_MAX_SEGMENTS);
	/* A 1 MiB SET with the longest key fits the segment limit. */
	CU_ASSERT(RC_PROTO_HDR_LEN + RC_PROTO_REQ_OP_LEN + 16 + RC_PROTO_MAX_KEY +
		  RC_PROTO_MAX_VALUE <= RC_PROTO_MAX_MESSAGE);
}

/* PADDED requests may carry ignored bytes after the last op; replies
 * may not be padded. */
static void test_padding(void)
{
	uint8_t b[128] = {0};
	struct rc_proto_hdr h;
	struct rc_proto_req_op ops[1];
	struct rc_proto_rep_op rops[1];
	struct rc_proto_req_op op = {.opcode = RC_OP_GET, .key_len = 1,
				     .key = (const uint8_t *)"k"};
	size_t n = put_hdr(b, 1, 0);

	n += rc_proto_req_op_encode(b + n, sizeof(b) - n, &op);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n + 40, &h, ops, 1), RC_PROTO_ETRAILING);
	put_hdr(b, 1, RC_PROTO_F_PADDED);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n + 40, &h, ops, 1), RC_PROTO_OK);
	CU_ASSERT_EQUAL(ops[0].key_len, 1);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n, &h, ops, 1), RC_PROTO_OK);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n - 1, &h, ops, 1), RC_PROTO_ETRUNC);
	put_hdr(b, 1, RC_PROTO_F_REPLY | RC_PROTO_F_PADDED);
	memset(b + 20, 0, 20);
	CU_ASSERT_EQUAL(rc_proto_decode_reply(b, 40, &h, rops, 1), RC_PROTO_EFLAGS);
}

static void test_huge_lengths(void)
{
	uint8_t b[64];
	struct rc_proto_hdr h;
	struct rc_proto_req_op ops[1];
	struct rc_proto_rep_op rops[1];
	size_t n = put_hdr(b, 1, 0);

	memcpy(b + n, "\x02\x00\xff\xff\xff\xff\xff\xff", 8);
	memset(b + n + 8, 0, 16);
	CU_ASSERT_EQUAL(rc_proto_decode_request(b, n + 24, &h, ops, 1), RC_PROTO_ETRUNC);
	n = put_hdr(b, 1, RC_PROTO_F_REPLY);
	memset(b + n, 0, 20);
	b[n] = RC_OP_GET;
	memcpy(b + n + 4, "\xff\xff\xff\xff", 4);
	CU_ASSERT_EQUAL(rc_proto_decode_reply(b, n + 20, &h, rops, 1), RC_PROTO_ETRUNC);
}

static void test_names_and_partition(void)
{
	struct rc_proto_digest a, b2;

	for (unsigned i = 0; i < RC_ST__COUNT; i++)
		CU_ASSERT_PTR_NOT_NULL(rc_proto_status_name(i));
	CU_ASSERT_STRING_EQUAL(rc_proto_status_name(RC_ST__COUNT), "UNKNOWN_STATUS");
	CU_ASSERT_STRING_EQUAL(rc_proto_rstatus_name(RC_PROTO_ETRUNC), "truncated_op");
	CU_ASSERT_STRING_EQUAL(rc_proto_opcode_name(RC_OP_TOUCH), "touch");
	rc_proto_key_digest("wedding_123", 11, &a);
	rc_proto_key_digest("wedding_123", 11, &b2);
	CU_ASSERT(a.lo == b2.lo && a.hi == b2.hi);
	CU_ASSERT_EQUAL(rc_proto_partition(&a, 1), 0);
	CU_ASSERT(rc_proto_partition(&a, 7) < 7);
	CU_ASSERT_EQUAL(rc_proto_partition(&a, 7), a.lo % 7);
	/* Spread: 70k keys over 7 partitions within 5% of even. */
	unsigned cnt[7] = {0};
	for (unsigned i = 0; i < 70000; i++) {
		char k[16];
		int l = snprintf(k, sizeof(k), "k%u", i);

		rc_proto_key_digest(k, (size_t)l, &a);
		cnt[rc_proto_partition(&a, 7)]++;
	}
	for (int p = 0; p < 7; p++)
		CU_ASSERT(cnt[p] > 9500 && cnt[p] < 10500);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"header bytes", test_header_bytes},
		{"set op bytes", test_set_bytes},
		{"request round trip", test_request_roundtrip},
		{"reply round trip", test_reply_roundtrip},
		{"malformed headers", test_malformed_headers},
		{"huge lengths", test_huge_lengths},
		{"segment fields", test_segment_fields},
		{"padding", test_padding},
		{"names and partition", test_names_and_partition},
		{NULL, NULL},
	};
	return rc_test_run("proto", cases);
}
