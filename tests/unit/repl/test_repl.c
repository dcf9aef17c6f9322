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
	/* At one epoch (a restart during a partition) the one that took
	 * more writes keeps them: data, not the address, decides. */
	peer.epoch = 3;
	peer.rank = 0;
	peer.seq = 500;
	me.seq = 20;
	CU_ASSERT_TRUE(rc_repl_should_follow(&me, &peer));
	CU_ASSERT_FALSE(rc_repl_should_follow(&peer, &me));
	peer.seq = 20;
	peer.rank = 2;
	CU_ASSERT_TRUE(rc_repl_should_follow(&me, &peer));
	CU_ASSERT_FALSE(rc_repl_should_follow(&peer, &me));
	/* A primary that began its term blind (promoted alone at start-up,
	 * empty: synced_seq 0) follows one with the data, whatever the
	 * epochs (sim-repl seeds 138, 274: the empty one wiped the pair). */
	me.synced_seq = 1;
	peer.synced_seq = 0;
	peer.epoch = 9;
	CU_ASSERT_FALSE(rc_repl_should_follow(&me, &peer));
	CU_ASSERT_TRUE(rc_repl_should_follow(&peer, &me));
	peer.synced_seq = 1; /* both with data: the epoch again */
	CU_ASSERT_TRUE(rc_repl_should_follow(&me, &peer));
	me.synced_seq = peer.synced_seq = 0;
	peer.epoch = 3;
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
	/* A complete copy leads over none, whatever the preference: the
	 * other one would be reset from an empty or partial cache. */
	me.prefer = 2;
	me.synced_seq = 0;
	peer.prefer = 1;
	peer.synced_seq = 77;
	CU_ASSERT_FALSE(rc_repl_should_lead(&me, &peer));
	CU_ASSERT_TRUE(rc_repl_should_lead(&peer, &me));
	peer.synced_seq = 0;
	me.prefer = 0; /* yielding (operator demote) */
	peer.prefer = 1;
	peer.epoch = 1;
	CU_ASSERT_FALSE(rc_repl_should_lead(&me, &peer));
	/* ... unless only it has a copy: a yielded node in step as the
	 * standby of a primary that restarted empty leads (else the empty
	 * one would wipe it). */
	me.synced_seq = 5;
	CU_ASSERT_TRUE(rc_repl_should_lead(&me, &peer));
	CU_ASSERT_FALSE(rc_repl_should_lead(&peer, &me));
	peer.synced_seq = 9; /* both have one: the yield decides */
	CU_ASSERT_FALSE(rc_repl_should_lead(&me, &peer));
	CU_ASSERT_TRUE(rc_repl_should_lead(&peer, &me));
}

/* ---- authentication ---------------------------------------------------- */

#define SEC 1000000000ull

static const uint8_t key1[RC_REPL_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const uint8_t key2[RC_REPL_KEY_LEN] = "fedcba9876543210fedcba987654321";

/* A HELLO frame sealed by s at now: returns its total length. */
static size_t sealed_hello(struct rc_repl_auth *s, uint8_t *buf, uint32_t epoch,
			   uint64_t now)
{
	struct rc_repl_hello h = {.version = RC_REPL_VERSION, .epoch = epoch,
				  .role = RC_REPL_PRIMARY};

	rc_repl_frame_hdr(buf, RC_REPL_F_HELLO,
			  RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN);
	rc_repl_hello_encode(buf + RC_REPL_FRAME_HDR, &h);
	rc_repl_auth_seal(s, RC_REPL_CH_STREAM, buf,
			  RC_REPL_FRAME_HDR + RC_REPL_HELLO_LEN, now);
	return RC_REPL_FRAME_HDR + RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN;
}

static void test_auth_valid_tampered_wrong_key(void)
{
	struct rc_repl_auth snd, rcv, other;
	uint8_t f[128], g[128];
	const uint64_t t = 1700000000 * SEC;
	size_t n, i;

	CU_ASSERT_EQUAL(rc_repl_auth_init(&snd, key1, NULL, 11, 5 * SEC), 0);
	CU_ASSERT_EQUAL(rc_repl_auth_init(&rcv, key1, NULL, 22, 5 * SEC), 0);
	CU_ASSERT_EQUAL(rc_repl_auth_init(&other, key2, NULL, 33, 5 * SEC), 0);
	n = sealed_hello(&snd, f, 7, t);
	/* Every single flipped bit, anywhere (header, body, trailer), is
	 * refused; the untouched frame is accepted, once. */
	for (i = 0; i < n * 8; i++) {
		memcpy(g, f, n);
		g[i / 8] ^= (uint8_t)(1u << (i % 8));
		CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, g, n,
						  t),
				RC_REPL_AUTH_BAD);
	}
	/* The same bytes on the other channel are refused. */
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_DATA, f, n, t),
			RC_REPL_AUTH_BAD);
	/* Without a trailer (a pre-authentication peer), truncated. */
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f,
					  RC_REPL_FRAME_HDR + RC_REPL_HELLO_LEN,
					  t),
			RC_REPL_AUTH_BAD);
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f, 10, t),
			RC_REPL_AUTH_BAD);
	/* Wrong key. */
	CU_ASSERT_EQUAL(rc_repl_auth_open(&other, RC_REPL_CH_STREAM, f, n, t),
			RC_REPL_AUTH_BAD);
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f, n, t),
			RC_REPL_AUTH_OK);
	/* Rotation: a receiver with key2 and key1 as its next key accepts
	 * both; one with key2 only does not accept key1. */
	rc_repl_auth_wipe(&other);
	CU_ASSERT_EQUAL(rc_repl_auth_init(&other, key2, key1, 33, 5 * SEC), 0);
	CU_ASSERT_EQUAL(rc_repl_auth_check(&other, RC_REPL_CH_STREAM, f, n), 0);
	rc_repl_auth_wipe(&other);
	CU_ASSERT_EQUAL(rc_repl_auth_init(&other, key2, key2, 33, 5 * SEC), 0);
	CU_ASSERT_NOT_EQUAL(rc_repl_auth_check(&other, RC_REPL_CH_STREAM, f, n),
			    0);
}

static void test_auth_replay_and_stale(void)
{
	struct rc_repl_auth snd, rcv, snd2;
	uint8_t f1[128], f2[128], f3[128], old[128];
	const uint64_t t = 1700000000 * SEC;
	size_t n;

	rc_repl_auth_init(&snd, key1, NULL, 11, 5 * SEC);
	rc_repl_auth_init(&rcv, key1, NULL, 22, 5 * SEC);
	n = sealed_hello(&snd, old, 1, t);
	sealed_hello(&snd, f1, 1, t + 1);
	sealed_hello(&snd, f2, 1, t + 2);
	sealed_hello(&snd, f3, 1, t); /* the clock stepped back: still newer */
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f1, n, t),
			RC_REPL_AUTH_OK);
	/* Replayed counter; an older one. */
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f1, n, t),
			RC_REPL_AUTH_REPLAY);
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, old, n, t),
			RC_REPL_AUTH_REPLAY);
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f2, n, t),
			RC_REPL_AUTH_OK);
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f3, n, t),
			RC_REPL_AUTH_OK);
	/* The data channel keeps its own count (the sender's counter is
	 * shared, so each channel still sees it grow). */
	{
		uint8_t b[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN] = {1};

		rc_repl_auth_seal(&snd, RC_REPL_CH_DATA, b, RC_REPL_HELLO_LEN,
				  t + 3);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_DATA, b,
						  sizeof(b), t + 3),
				RC_REPL_AUTH_OK);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_DATA, b,
						  sizeof(b), t + 3),
				RC_REPL_AUTH_REPLAY);
	}
	/* Stale: older or newer than the window, for a session not seen
	 * yet, and for any data-network beat. */
	{
		struct rc_repl_auth fresh, live = rcv;
		uint8_t b[RC_REPL_HELLO_LEN + RC_REPL_AUTH_LEN] = {1};

		rc_repl_auth_init(&fresh, key1, NULL, 23, 5 * SEC);
		sealed_hello(&snd, f1, 1, t + 10 * SEC);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&fresh, RC_REPL_CH_STREAM, f1,
						  n, t),
				RC_REPL_AUTH_STALE);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&fresh, RC_REPL_CH_STREAM, f1,
						  n, t + 16 * SEC),
				RC_REPL_AUTH_STALE);
		rc_repl_auth_seal(&snd, RC_REPL_CH_DATA, b, RC_REPL_HELLO_LEN,
				  t + 10 * SEC);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&live, RC_REPL_CH_DATA, b,
						  sizeof(b), t + 16 * SEC),
				RC_REPL_AUTH_STALE);
		/* The live stream session's next frame, however long it
		 * waited behind a backed-up stream (a resync): the counter
		 * rules out a replay, and a frame dropped here would restart
		 * the resync. */
		sealed_hello(&snd, f2, 1, t + 10 * SEC);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&live, RC_REPL_CH_STREAM, f2,
						  n, t + 60 * SEC),
				RC_REPL_AUTH_OK);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&live, RC_REPL_CH_STREAM, f2,
						  n, t + 60 * SEC),
				RC_REPL_AUTH_REPLAY);
		/* ... but not on a new connection: frames held back and
		 * replayed there are stale. */
		uint8_t f4[128];

		sealed_hello(&snd, f4, 1, t + 11 * SEC);
		rc_repl_auth_new_conn(&live);
		CU_ASSERT_EQUAL(rc_repl_auth_open(&live, RC_REPL_CH_STREAM, f4,
						  n, t + 60 * SEC),
				RC_REPL_AUTH_STALE);
		rc_repl_auth_wipe(&fresh);
	}
	/* A restart: a new session is accepted with a newer time; the old
	 * session's frames, and an older capture of another session, are
	 * not, even inside the window. */
	rc_repl_auth_init(&snd2, key1, NULL, 12, 5 * SEC);
	sealed_hello(&snd2, f1, 1, t + 4 * SEC);
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f1, n,
					  t + 4 * SEC),
			RC_REPL_AUTH_OK);
	/* session 11 again (its clock is past the window by now: a fresh
	 * sender state with the same session, an older time). */
	rc_repl_auth_init(&snd, key1, NULL, 11, 5 * SEC);
	snd.ctr = 100;
	sealed_hello(&snd, f2, 1, t + 3 * SEC);
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f2, n,
					  t + 4 * SEC),
			RC_REPL_AUTH_REPLAY);
	/* After the window, a capture of the first session is stale. */
	CU_ASSERT_EQUAL(rc_repl_auth_open(&rcv, RC_REPL_CH_STREAM, f3, n,
					  t + 6 * SEC),
			RC_REPL_AUTH_STALE);
}

static void test_auth_key_parse(void)
{
	uint8_t k[RC_REPL_KEY_LEN];
	char hex[2 * RC_REPL_KEY_LEN + 2];

	CU_ASSERT_EQUAL(rc_repl_key_parse(key1, sizeof(key1), k), 0);
	CU_ASSERT_EQUAL(memcmp(k, key1, sizeof(k)), 0);
	for (unsigned i = 0; i < RC_REPL_KEY_LEN; i++)
		sprintf(hex + 2 * i, "%02x", key2[i]);
	strcat(hex, "\n");
	memset(k, 0, sizeof(k));
	CU_ASSERT_EQUAL(rc_repl_key_parse((const uint8_t *)hex, strlen(hex), k),
			0);
	CU_ASSERT_EQUAL(memcmp(k, key2, sizeof(k)), 0);
	CU_ASSERT_EQUAL(rc_repl_key_parse((const uint8_t *)hex, 63, k), -1);
	CU_ASSERT_EQUAL(rc_repl_key_parse((const uint8_t *)"short", 5, k), -1);
	hex[5] = 'z';
	CU_ASSERT_EQUAL(rc_repl_key_parse((const uint8_t *)hex, 64, k), -1);
}

static void test_epoch_wrap(void)
{
	struct rc_repl_hello me = {.role = RC_REPL_PRIMARY, .epoch = 3};
	struct rc_repl_hello peer = {.role = RC_REPL_PRIMARY,
				     .epoch = RC_REPL_EPOCH_MAX};

	CU_ASSERT_FALSE(rc_repl_should_follow(&me, &peer));
	me.role = RC_REPL_STANDBY;
	CU_ASSERT_FALSE(rc_repl_should_follow(&me, &peer));
	peer.epoch = RC_REPL_EPOCH_MAX - 1;
	CU_ASSERT_TRUE(rc_repl_should_follow(&me, &peer));
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"log: order across many wraps", test_log_order_and_wrap},
		{"log: full, oversized, unaligned", test_log_full},
		{"record: malformed refused", test_rec_malformed},
		{"frames: round trip, malformed refused", test_frames},
		{"roles: follow and lead rules", test_roles},
		{"auth: valid, tampered, wrong key, rotation",
		 test_auth_valid_tampered_wrong_key},
		{"auth: replayed counter, stale time, old session",
		 test_auth_replay_and_stale},
		{"auth: key file contents", test_auth_key_parse},
		{"roles: no epoch that would wrap", test_epoch_wrap},
		{NULL, NULL},
	};

	return rc_test_run("repl", cases);
}
