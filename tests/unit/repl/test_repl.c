/* SPDX-License-Identifier: MIT
 * lib/repl: the record log (wrap, full, order), record and frame
 * codecs (round trip, every malformed shape refused), role rules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_cunit.h"
#include "rc_repl.h"

static struct rc_repl_rec rec(unsigned i, const char *key, const char *val)
{
	return (struct rc_repl_rec){
		.type = RC_REPL_SET, .class_id = (uint8_t)(i % 5),
		.key_len = (uint16_t)strlen(key),
		.value_len = (uint32_t)strlen(val), .flags = i, .ttl = i * 3,
		.partition = (uint16_t)(i % 3), .key = (const uint8_t *)key,
		.value = (const uint8_t *)val};
}

static void test_log_order_and_wrap(void)
{
	struct rc_repl_log l;
	char key[32], val[300];
	unsigned produced = 0, consumed = 0;

	CU_ASSERT_EQUAL(rc_repl_log_init(&l, 3000), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(rc_repl_log_init(&l, 4096), 0);
	/* Many times round a small ring, with records of odd sizes. */
	while (consumed < 5000) {
		for (int burst = 0; burst < 7; burst++) {
			struct rc_repl_rec r;
			uint32_t n;
			uint8_t *p;

			snprintf(key, sizeof(key), "key-%u", produced);
			memset(val, 'a' + produced % 26, produced % 290);
			val[produced % 290] = '\0';
			r = rec(produced, key, val);
			n = rc_repl_rec_size(r.key_len, r.value_len);
			p = rc_repl_log_reserve(&l, n);
			if (!p)
				break;
			rc_repl_rec_encode(p, &r);
			rc_repl_log_commit(&l, n);
			produced++;
		}
		for (int k = 0; k < 5; k++) {
			struct rc_repl_rec r;
			uint32_t len;
			const uint8_t *p = rc_repl_log_peek(&l, &len);

			if (!p)
				break;
			CU_ASSERT_EQUAL_FATAL(rc_repl_rec_decode(p, len, &r), len);
			snprintf(key, sizeof(key), "key-%u", consumed);
			CU_ASSERT_EQUAL_FATAL(r.key_len, strlen(key));
			CU_ASSERT_EQUAL(memcmp(r.key, key, r.key_len), 0);
			CU_ASSERT_EQUAL(r.value_len, consumed % 290);
			CU_ASSERT_EQUAL(r.flags, consumed);
			CU_ASSERT_EQUAL(r.partition, consumed % 3);
			rc_repl_log_release(&l, len);
			consumed++;
		}
	}
	CU_ASSERT_TRUE(rc_repl_log_used(&l) < 4096);
	rc_repl_log_free(&l);
}

static void test_log_full(void)
{
	struct rc_repl_log l;
	unsigned n = 0;
	uint32_t len;

	CU_ASSERT_EQUAL_FATAL(rc_repl_log_init(&l, 4096), 0);
	while (rc_repl_log_reserve(&l, 256)) {
		memset(l.buf + (l.head & 4095), 0, 256);
		l.buf[(l.head & 4095) + 4] = RC_REPL_SET;
		memcpy(l.buf + (l.head & 4095), &(uint32_t){256}, 4);
		rc_repl_log_commit(&l, 256);
		n++;
	}
	CU_ASSERT_EQUAL(n, 16);         /* exactly the ring, nothing more */
	CU_ASSERT_PTR_NULL(rc_repl_log_reserve(&l, 8));
	CU_ASSERT_PTR_NULL(rc_repl_log_reserve(&l, 3000)); /* > half */
	CU_ASSERT_PTR_NULL(rc_repl_log_reserve(&l, 12));   /* unaligned */
	CU_ASSERT_PTR_NOT_NULL(rc_repl_log_peek(&l, &len));
	rc_repl_log_release(&l, len);
	CU_ASSERT_PTR_NOT_NULL(rc_repl_log_reserve(&l, 256));
	rc_repl_log_free(&l);
}

static void test_rec_malformed(void)
{
	uint8_t buf[256];
	struct rc_repl_rec r = rec(1, "k", "value"), o;
	uint32_t n = rc_repl_rec_size(1, 5);

	rc_repl_rec_encode(buf, &r);
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, n, &o), n);
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, n - 1, &o), 0); /* short */
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, 10, &o), 0);
	buf[4] = 9; /* unknown type */
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, n, &o), 0);
	buf[4] = RC_REPL_DEL; /* a DEL with a value */
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, n, &o), 0);
	buf[4] = RC_REPL_SET;
	buf[22] = 1; /* reserved */
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, n, &o), 0);
	buf[22] = 0;
	buf[0] = (uint8_t)(n + 8); /* length disagrees with the fields */
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, sizeof(buf), &o), 0);
	r = rec(2, "", "");
	r.type = RC_REPL_DEL; /* no key */
	rc_repl_rec_encode(buf, &r);
	CU_ASSERT_EQUAL(rc_repl_rec_decode(buf, sizeof(buf), &o), 0);
}

static void test_frames(void)
{
	uint8_t buf[256], type;
	const uint8_t *body;
	uint32_t blen;
	size_t used;
	struct rc_repl_hello h = {.version = 1, .epoch = 7,
				  .role = RC_REPL_PRIMARY, .prefer = 2,
				  .partitions = 4, .rank = 99, .stream = 1ull << 40,
				  .seq = 12345, .time_ns = 5, .synced_seq = 6},
			     o;
	uint64_t a, b, c;

	rc_repl_frame_hdr(buf, RC_REPL_F_HELLO, RC_REPL_HELLO_LEN);
	rc_repl_hello_encode(buf + RC_REPL_FRAME_HDR, &h);
	CU_ASSERT_EQUAL(rc_repl_frame_next(buf, 4, &type, &body, &blen, &used), 0);
	CU_ASSERT_EQUAL(rc_repl_frame_next(buf, RC_REPL_FRAME_HDR + 10, &type,
					   &body, &blen, &used), 0);
	CU_ASSERT_EQUAL_FATAL(rc_repl_frame_next(buf, sizeof(buf), &type,
						 &body, &blen, &used), 1);
	CU_ASSERT_EQUAL(type, RC_REPL_F_HELLO);
	CU_ASSERT_EQUAL(used, RC_REPL_FRAME_HDR + RC_REPL_HELLO_LEN);
	rc_repl_hello_decode(body, &o);
	CU_ASSERT_EQUAL(memcmp(&o, &h, sizeof(h)), 0);
	/* A HELLO too short for its type, an unknown type, a huge frame. */
	rc_repl_frame_hdr(buf, RC_REPL_F_HELLO, 10);
	CU_ASSERT_EQUAL(rc_repl_frame_next(buf, sizeof(buf), &type, &body,
					   &blen, &used), -1);
	rc_repl_frame_hdr(buf, 77, 30);
	CU_ASSERT_EQUAL(rc_repl_frame_next(buf, sizeof(buf), &type, &body,
					   &blen, &used), -1);
	rc_repl_frame_hdr(buf, RC_REPL_F_BATCH, RC_REPL_MAX_FRAME + 1);
	CU_ASSERT_EQUAL(rc_repl_frame_next(buf, sizeof(buf), &type, &body,
					   &blen, &used), -1);
	rc_repl_seq_encode(buf, 1, 2, 3);
	rc_repl_seq_decode(buf, &a, &b, &c);
	CU_ASSERT_TRUE(a == 1 && b == 2 && c == 3);
}

static void test_roles(void)
{
	struct rc_repl_hello me = {.epoch = 3, .role = RC_REPL_PRIMARY,
				   .prefer = 2, .rank = 1},
			     peer = me;

	/* Two primaries: the higher epoch wins, then the higher rank. */
	peer.epoch = 4;
	CU_ASSERT_TRUE(rc_repl_should_follow(&me, &peer));
	CU_ASSERT_FALSE(rc_repl_should_follow(&peer, &me));
	peer.epoch = 3;
	peer.rank = 2;
	CU_ASSERT_TRUE(rc_repl_should_follow(&me, &peer));
	CU_ASSERT_FALSE(rc_repl_should_follow(&peer, &me));
	/* A primary never follows a standby, even one at a higher epoch. */
	peer.role = RC_REPL_STANDBY;
	peer.epoch = 9;
	CU_ASSERT_FALSE(rc_repl_should_follow(&me, &peer));
	/* A standby or a joining node follows any primary. */
	me.role = RC_REPL_JOINING;
	peer.role = RC_REPL_PRIMARY;
	peer.epoch = 1;
	CU_ASSERT_TRUE(rc_repl_should_follow(&me, &peer));
	/* Neither primary: preference, then epoch, then rank. */
	peer.role = RC_REPL_STANDBY;
	peer.prefer = 1;
	CU_ASSERT_TRUE(rc_repl_should_lead(&me, &peer));
	CU_ASSERT_FALSE(rc_repl_should_lead(&peer, &me));
	peer.prefer = 2;
	peer.epoch = 5;
	CU_ASSERT_FALSE(rc_repl_should_lead(&me, &peer));
	CU_ASSERT_TRUE(rc_repl_should_lead(&peer, &me));
	me.prefer = 0; /* yielding (operator demote) */
	peer.prefer = 1;
	peer.epoch = 1;
	CU_ASSERT_FALSE(rc_repl_should_lead(&me, &peer));
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"log: order across many wraps", test_log_order_and_wrap},
		{"log: full, oversized, unaligned", test_log_full},
		{"record: malformed refused", test_rec_malformed},
		{"frames: round trip, malformed refused", test_frames},
		{"roles: follow and lead rules", test_roles},
		{NULL, NULL},
	};

	return rc_test_run("repl", cases);
}
