/* SPDX-License-Identifier: MIT
 * Segment reassembly: order, duplicates, disagreement, and every bound
 * (entries, bytes, message size, time) at its edge. */
#include <stdlib.h>
#include <string.h>

#include "rc_cunit.h"
#include "rc_reasm.h"

static struct rc_reasm *mk(unsigned entries, size_t bytes)
{
	struct rc_reasm_config c = {.max_entries = entries, .max_bytes = bytes,
				    .max_message = RC_PROTO_MAX_MESSAGE,
				    .timeout = 100};
	return rc_reasm_create(&c);
}

/* Segment idx of a message of `body` bytes after its header, request id
 * id; the body is bytes (i * 7) & 0xff. Returns the datagram length. */
static size_t seg(uint8_t *b, uint32_t id, size_t body, uint16_t idx,
		  struct rc_proto_hdr *h)
{
	uint16_t count = (uint16_t)rc_proto_seg_count(RC_PROTO_HDR_LEN + body);
	size_t off = (size_t)idx * RC_PROTO_SEG_BODY, n;

	n = body - off < RC_PROTO_SEG_BODY ? body - off : RC_PROTO_SEG_BODY;
	*h = (struct rc_proto_hdr){.version = 1, .flags = RC_PROTO_F_SEGMENTED,
				   .request_id = id, .n_ops = 1,
				   .seg_index = idx, .seg_count = count};
	rc_proto_hdr_encode(b, h);
	for (size_t i = 0; i < n; i++)
		b[RC_PROTO_HDR_LEN + i] = (uint8_t)((off + i) * 7);
	return RC_PROTO_HDR_LEN + n;
}

static void test_in_and_out_of_order(void)
{
	struct rc_reasm *r = mk(4, 1 << 20);
	uint8_t b[RC_PROTO_MAX_DATAGRAM], *msg = NULL;
	size_t body = 3 * RC_PROTO_SEG_BODY + 17, ml = 0, n;
	struct rc_proto_hdr h;
	struct rc_reasm_stats st;
	const uint16_t order[] = {3, 1, 0, 2};

	for (unsigned i = 0; i < 4; i++) {
		n = seg(b, 5, body, order[i], &h);
		CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml),
				i < 3 ? RC_REASM_PENDING : RC_REASM_DONE);
		if (i == 1) /* a repeat changes nothing */
			CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml),
					RC_REASM_DUPLICATE);
	}
	CU_ASSERT_EQUAL(ml, RC_PROTO_HDR_LEN + body);
	CU_ASSERT_EQUAL(rc_proto_hdr_decode(msg, ml, &h), RC_PROTO_OK);
	CU_ASSERT_EQUAL(h.flags & RC_PROTO_F_SEGMENTED, 0);
	CU_ASSERT_EQUAL(h.seg_count, 1);
	CU_ASSERT_EQUAL(h.request_id, 5);
	for (size_t i = 0; i < body; i++)
		if (msg[RC_PROTO_HDR_LEN + i] != (uint8_t)(i * 7)) {
			CU_FAIL("body byte differs");
			break;
		}
	rc_reasm_release(r, msg);
	rc_reasm_get_stats(r, &st);
	CU_ASSERT_EQUAL(st.entries, 0);
	CU_ASSERT_EQUAL(st.bytes, 0);
	CU_ASSERT_EQUAL(st.completed, 1);
	CU_ASSERT_EQUAL(st.duplicates, 1);
	rc_reasm_destroy(r);
}

static void test_mismatch(void)
{
	struct rc_reasm *r = mk(4, 1 << 20);
	uint8_t b[RC_PROTO_MAX_DATAGRAM], *msg;
	size_t ml, n, body = 2 * RC_PROTO_SEG_BODY;
	struct rc_proto_hdr h;

	/* A short segment that is not the last has no place. */
	n = seg(b, 1, body, 0, &h);
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n - 1, 0, &msg, &ml), RC_REASM_MISMATCH);
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml), RC_REASM_PENDING);
	/* Same id and source, another op count: refused. */
	n = seg(b, 1, body, 1, &h);
	h.n_ops = 2;
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml), RC_REASM_MISMATCH);
	/* Same id from another source is another message. */
	h.n_ops = 1;
	CU_ASSERT_EQUAL(rc_reasm_add(r, 2, &h, b, n, 0, &msg, &ml), RC_REASM_PENDING);
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml), RC_REASM_DONE);
	rc_reasm_release(r, msg);
	rc_reasm_destroy(r);
}

static void test_bounds(void)
{
	const size_t body = 2 * RC_PROTO_SEG_BODY;
	const size_t one = RC_PROTO_HDR_LEN + body; /* bytes one entry holds */
	struct rc_reasm *r = mk(2, 3 * one);
	uint8_t b[RC_PROTO_MAX_DATAGRAM], *msg;
	size_t ml, n;
	struct rc_proto_hdr h;
	struct rc_reasm_stats st;
	struct rc_reasm_config big = {.max_entries = 8, .max_bytes = 1 << 30,
				      .max_message = one, .timeout = 10};

	/* Entries: two fit, the third is refused, until time frees one. */
	for (uint32_t id = 1; id <= 2; id++) {
		n = seg(b, id, body, 0, &h);
		CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 10 * id, &msg, &ml),
				RC_REASM_PENDING);
	}
	n = seg(b, 3, body, 0, &h);
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 110, &msg, &ml), RC_REASM_FULL);
	/* At 111 the first entry (born at 10) is 101 old: past the timeout. */
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 111, &msg, &ml), RC_REASM_PENDING);
	rc_reasm_get_stats(r, &st);
	CU_ASSERT_EQUAL(st.timeouts, 1);
	CU_ASSERT_EQUAL(st.full, 1);
	CU_ASSERT_EQUAL(st.entries, 2);
	CU_ASSERT_EQUAL(st.bytes, 2 * one);
	CU_ASSERT_EQUAL(rc_reasm_expire(r, 1000), 2);
	rc_reasm_destroy(r);

	/* Bytes: room for exactly two entries' buffers. */
	r = mk(8, 2 * one);
	for (uint32_t id = 1; id <= 3; id++) {
		n = seg(b, id, body, 0, &h);
		CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml),
				id <= 2 ? RC_REASM_PENDING : RC_REASM_FULL);
	}
	rc_reasm_forget(r, 1, 2);
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml), RC_REASM_PENDING);
	rc_reasm_destroy(r);

	/* Message size: one exactly at the limit, one segment more refused. */
	r = rc_reasm_create(&big);
	n = seg(b, 1, body, 1, &h);
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml), RC_REASM_PENDING);
	n = seg(b, 2, body + 1, 0, &h);
	CU_ASSERT_EQUAL(rc_reasm_add(r, 1, &h, b, n, 0, &msg, &ml), RC_REASM_TOO_BIG);
	rc_reasm_destroy(r);
}

/* One untrusted owner floods the table with unfinished messages: it is
 * held to its share, and a trusted sender still gets in (taking the
 * room of the oldest untrusted entry). */
static void test_fair_share(void)
{
	struct rc_reasm_config c = {.max_entries = 8, .max_bytes = 1 << 20,
				    .max_message = RC_PROTO_MAX_MESSAGE,
				    .timeout = 100, .max_entries_per_owner = 2,
				    .max_bytes_per_owner = 64 << 10};
	struct rc_reasm *r = rc_reasm_create(&c);
	uint8_t b[RC_PROTO_MAX_DATAGRAM], *msg = NULL;
	size_t body = 2 * RC_PROTO_SEG_BODY, ml = 0, n;
	struct rc_proto_hdr h;
	struct rc_reasm_stats st;

	/* Owner 9 (untrusted): two entries, then refused. */
	for (uint32_t id = 1; id <= 5; id++) {
		n = seg(b, id, body, 0, &h);
		CU_ASSERT_EQUAL(rc_reasm_add_from(r, 900 + id, 9, 0, &h, b, n,
						  0, &msg, &ml),
				id <= 2 ? RC_REASM_PENDING : RC_REASM_FULL);
	}
	/* Six other untrusted owners fill the rest of the table. */
	for (uint32_t o = 10; o < 16; o++) {
		n = seg(b, o, body, 0, &h);
		CU_ASSERT_EQUAL(rc_reasm_add_from(r, o, o, 0, &h, b, n, 1,
						  &msg, &ml), RC_REASM_PENDING);
	}
	n = seg(b, 77, body, 0, &h);
	CU_ASSERT_EQUAL(rc_reasm_add_from(r, 77, 77, 0, &h, b, n, 2, &msg, &ml),
			RC_REASM_FULL);
	/* A trusted sender completes a message all the same. */
	for (uint16_t i = 0; i < 2; i++) {
		n = seg(b, 500, body, i, &h);
		CU_ASSERT_EQUAL(rc_reasm_add_from(r, 1, 1, 1, &h, b, n, 3, &msg,
						  &ml),
				i ? RC_REASM_DONE : RC_REASM_PENDING);
	}
	rc_reasm_release(r, msg);
	rc_reasm_get_stats(r, &st);
	CU_ASSERT_EQUAL(st.over_share, 3);
	CU_ASSERT_EQUAL(st.evicted, 1);
	CU_ASSERT_EQUAL(st.full, 1);
	CU_ASSERT_EQUAL(st.entries, 7);
	rc_reasm_destroy(r);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"in and out of order", test_in_and_out_of_order},
		{"mismatch", test_mismatch},
		{"bounds", test_bounds},
		{"fair share among owners; trusted first", test_fair_share},
		{NULL, NULL},
	};
	return rc_test_run("reasm", cases);
}
