/* SPDX-License-Identifier: MIT
 * The shared client vectors (tests/vectors/, read by every client's tests)
 * against lib/proto and lib/client's ring: each frame decodes to its
 * fields and its fields encode to its bytes, byte for byte; segments split
 * and reassemble; digests, partitions and ring owners match.
 *   test_vectors DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rc_cunit.h"

#include "hashring.h"
#include "rc_proto.h"
#include "rc_reasm.h"

static const char *dir;

static json_t *load(const char *name)
{
	char path[4096];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	j = json_load_file(path, 0, &e);
	if (!j)
		fprintf(stderr, "%s:%d: %s\n", path, e.line, e.text);
	return j;
}

/* Hex string -> malloc'd bytes; *n its length. */
static uint8_t *unhex(const char *s, size_t *n)
{
	size_t l = strlen(s);
	uint8_t *b = malloc(l / 2 + 1);

	for (size_t i = 0; i + 1 < l; i += 2) {
		unsigned v;

		sscanf(s + i, "%2x", &v);
		b[i / 2] = (uint8_t)v;
	}
	*n = l / 2;
	return b;
}

static unsigned num(json_t *o, const char *k)
{
	return (unsigned)json_integer_value(json_object_get(o, k));
}

static uint64_t big(json_t *o, const char *k)
{
	return strtoull(json_string_value(json_object_get(o, k)), NULL, 10);
}

static uint8_t *hexfield(json_t *o, const char *k, size_t *n)
{
	return unhex(json_string_value(json_object_get(o, k)), n);
}

static int hdr_matches(const struct rc_proto_hdr *h, json_t *j)
{
	return h->flags == num(j, "flags") &&
	       h->request_id == (uint32_t)json_integer_value(json_object_get(j, "request_id")) &&
	       h->epoch == num(j, "epoch") && h->n_ops == num(j, "n_ops") &&
	       h->seg_index == num(j, "seg_index") &&
	       h->seg_count == num(j, "seg_count") &&
	       h->partitions == num(j, "partitions");
}

static void hdr_from(struct rc_proto_hdr *h, json_t *j)
{
	memset(h, 0, sizeof(*h));
	h->version = RC_PROTO_VERSION;
	h->flags = (uint8_t)num(j, "flags");
	h->request_id = (uint32_t)json_integer_value(json_object_get(j, "request_id"));
	h->epoch = num(j, "epoch");
	h->n_ops = (uint16_t)num(j, "n_ops");
	h->seg_index = (uint16_t)num(j, "seg_index");
	h->seg_count = (uint16_t)num(j, "seg_count");
	h->partitions = (uint16_t)num(j, "partitions");
}

static void check_request(const char *name, const uint8_t *b, size_t n,
			  json_t *fr)
{
	struct rc_proto_hdr h;
	struct rc_proto_req_op ops[RC_PROTO_MAX_OPS];
	json_t *jops = json_object_get(fr, "ops");
	uint8_t enc[8192];
	size_t len = RC_PROTO_HDR_LEN;
	int ok;

	ok = rc_proto_decode_request(b, n, &h, ops, RC_PROTO_MAX_OPS) == RC_PROTO_OK &&
	     hdr_matches(&h, json_object_get(fr, "header")) &&
	     h.n_ops == json_array_size(jops);
	for (unsigned i = 0; ok && i < h.n_ops; i++) {
		json_t *o = json_array_get(jops, i);
		size_t kl, vl;
		uint8_t *k = hexfield(o, "key", &kl), *v = hexfield(o, "value", &vl);

		ok = ops[i].opcode == num(o, "opcode") &&
		     ops[i].class_id == num(o, "class") &&
		     ops[i].client_flags == num(o, "flags") &&
		     ops[i].ttl == num(o, "ttl") && ops[i].cas == big(o, "cas") &&
		     ops[i].key_len == kl && !memcmp(ops[i].key, k, kl) &&
		     ops[i].value_len == vl && !memcmp(ops[i].value, v, vl);
		/* Encode from the vector's fields. */
		{
			struct rc_proto_req_op e = {
				.opcode = (uint8_t)num(o, "opcode"),
				.class_id = (uint8_t)num(o, "class"),
				.key_len = (uint16_t)kl, .value_len = (uint32_t)vl,
				.client_flags = num(o, "flags"), .ttl = num(o, "ttl"),
				.cas = big(o, "cas"), .key = k, .value = v};
			len += rc_proto_req_op_encode(enc + len, sizeof(enc) - len, &e);
		}
		free(k);
		free(v);
	}
	if (ok) {
		hdr_from(&h, json_object_get(fr, "header"));
		rc_proto_hdr_encode(enc, &h);
		if (n > len) /* PADDED: zero bytes up to the frame's size */
			memset(enc + len, 0, n - len);
		ok = (n == len || (h.flags & RC_PROTO_F_PADDED)) &&
		     memcmp(enc, b, n) == 0;
	}
	if (!ok)
		fprintf(stderr, "request vector %s does not match lib/proto\n", name);
	CU_ASSERT_TRUE(ok);
}

static void check_reply(const char *name, const uint8_t *b, size_t n, json_t *fr)
{
	struct rc_proto_hdr h;
	struct rc_proto_rep_op ops[RC_PROTO_MAX_OPS];
	json_t *jops = json_object_get(fr, "ops");
	uint8_t enc[8192];
	size_t len = RC_PROTO_HDR_LEN;
	int ok;

	ok = rc_proto_decode_reply(b, n, &h, ops, RC_PROTO_MAX_OPS) == RC_PROTO_OK &&
	     hdr_matches(&h, json_object_get(fr, "header")) &&
	     h.n_ops == json_array_size(jops);
	for (unsigned i = 0; ok && i < h.n_ops; i++) {
		json_t *o = json_array_get(jops, i);
		size_t vl;
		uint8_t *v = hexfield(o, "value", &vl);
		struct rc_proto_rep_op e = {
			.opcode = (uint8_t)num(o, "opcode"),
			.status = (uint8_t)num(o, "status"),
			.class_id = (uint8_t)num(o, "class"),
			.op_flags = (uint8_t)num(o, "op_flags"),
			.value_len = (uint32_t)vl, .client_flags = num(o, "flags"),
			.cas = big(o, "cas"), .value = v};

		ok = ops[i].opcode == e.opcode && ops[i].status == e.status &&
		     ops[i].class_id == e.class_id &&
		     ops[i].op_flags == e.op_flags &&
		     ops[i].client_flags == e.client_flags &&
		     ops[i].cas == e.cas && ops[i].value_len == vl &&
		     !memcmp(ops[i].value, v, vl);
		len += rc_proto_rep_op_encode(enc + len, sizeof(enc) - len, &e);
		free(v);
	}
	if (ok) {
		hdr_from(&h, json_object_get(fr, "header"));
		rc_proto_hdr_encode(enc, &h);
		ok = len == n && memcmp(enc, b, n) == 0;
	}
	if (!ok)
		fprintf(stderr, "reply vector %s does not match lib/proto\n", name);
	CU_ASSERT_TRUE(ok);
}

static void test_frames(void)
{
	json_t *j = load("frames.json"), *fr;
	size_t i, docs = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	json_array_foreach(json_object_get(j, "frames"), i, fr) {
		const char *name = json_string_value(json_object_get(fr, "name"));
		const char *dirn = json_string_value(json_object_get(fr, "dir"));
		size_t n;
		uint8_t *b = hexfield(fr, "hex", &n);

		if (json_string_length(json_object_get(fr, "doc")))
			docs++;
		if (!strcmp(dirn, "request")) {
			check_request(name, b, n, fr);
		} else if (!strcmp(dirn, "reply")) {
			check_reply(name, b, n, fr);
		} else {
			struct rc_proto_hdr h;
			uint8_t enc[RC_PROTO_HDR_LEN];

			CU_ASSERT_EQUAL(n, RC_PROTO_HDR_LEN);
			CU_ASSERT_EQUAL(rc_proto_hdr_decode(b, n, &h), RC_PROTO_OK);
			CU_ASSERT_TRUE(hdr_matches(&h, json_object_get(fr, "header")));
			hdr_from(&h, json_object_get(fr, "header"));
			rc_proto_hdr_encode(enc, &h);
			CU_ASSERT_EQUAL(memcmp(enc, b, RC_PROTO_HDR_LEN), 0);
		}
		free(b);
	}
	/* Every example of docs/protocol.md is a vector (12 + 2 headers). */
	CU_ASSERT_EQUAL(docs, 14);
	CU_ASSERT_TRUE(json_array_size(json_object_get(j, "frames")) >= 14 + 6 + 16);
	json_decref(j);
}

static void test_segments(void)
{
	json_t *j = load("frames.json"), *sv;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	json_array_foreach(json_object_get(j, "segmented"), i, sv) {
		size_t mlen, k;
		uint8_t *msg = hexfield(sv, "message", &mlen);
		json_t *segs = json_object_get(sv, "segments"), *s;
		struct rc_reasm_config rc = {.max_entries = 2, .max_bytes = 1 << 20,
					     .max_message = RC_PROTO_MAX_MESSAGE,
					     .timeout = 1000};
		struct rc_reasm *r = rc_reasm_create(&rc);
		unsigned done = 0;

		CU_ASSERT_EQUAL(rc_proto_seg_count(mlen), json_array_size(segs));
		/* Add them last to first: order must not matter. */
		for (k = json_array_size(segs); k-- > 0;) {
			size_t sl;
			uint8_t *sb, *whole;
			size_t wl;
			struct rc_proto_hdr h;
			size_t off = RC_PROTO_HDR_LEN + k * RC_PROTO_SEG_BODY;

			s = json_array_get(segs, k);
			sb = unhex(json_string_value(s), &sl);
			/* Split: header with SEGMENTED, index, count; body at its offset. */
			CU_ASSERT_EQUAL(rc_proto_hdr_decode(sb, sl, &h), RC_PROTO_OK);
			CU_ASSERT_EQUAL(h.seg_index, k);
			CU_ASSERT_TRUE(h.flags & RC_PROTO_F_SEGMENTED);
			CU_ASSERT_EQUAL(memcmp(sb + 4, msg + 4, 10), 0);
			CU_ASSERT_EQUAL(memcmp(sb + RC_PROTO_HDR_LEN, msg + off,
					       sl - RC_PROTO_HDR_LEN), 0);
			if (rc_reasm_add(r, 1, &h, sb, sl, 0, &whole, &wl) == RC_REASM_DONE) {
				done++;
				CU_ASSERT_EQUAL(wl, mlen);
				CU_ASSERT_EQUAL(memcmp(whole, msg, mlen), 0);
				rc_reasm_release(r, whole);
			}
			free(sb);
		}
		CU_ASSERT_EQUAL(done, 1);
		rc_reasm_destroy(r);
		free(msg);
	}
	json_decref(j);
}

static void test_digests(void)
{
	json_t *j = load("digests.json"), *d;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_TRUE(json_array_size(json_object_get(j, "digests")) >= 30);
	json_array_foreach(json_object_get(j, "digests"), i, d) {
		size_t kl;
		uint8_t *k = hexfield(d, "key", &kl);
		struct rc_proto_digest g;
		const char *p;
		json_t *pv;

		rc_proto_key_digest(k, kl, &g);
		CU_ASSERT_EQUAL(g.lo, strtoull(json_string_value(json_object_get(d, "lo")), NULL, 16));
		CU_ASSERT_EQUAL(g.hi, strtoull(json_string_value(json_object_get(d, "hi")), NULL, 16));
		json_object_foreach(json_object_get(d, "partition"), p, pv)
			CU_ASSERT_EQUAL(rc_proto_partition(&g, (unsigned)atoi(p)),
					(unsigned)json_integer_value(pv));
		free(k);
	}
	json_decref(j);
}

static void test_ring(void)
{
	json_t *j = load("ring.json"), *rg;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	json_array_foreach(json_object_get(j, "rings"), i, rg) {
		json_t *sv = json_object_get(rg, "servers"), *k;
		size_t n = json_array_size(sv), x;
		const char *names[16];
		struct rc_hashring r;

		for (x = 0; x < n && x < 16; x++)
			names[x] = json_string_value(json_array_get(sv, x));
		CU_ASSERT_EQUAL_FATAL(rc_hashring_build(&r, names, n), 0);
		json_array_foreach(json_object_get(rg, "first_points"), x, k) {
			CU_ASSERT_EQUAL(r.points[x].hash, json_integer_value(json_array_get(k, 0)));
			CU_ASSERT_EQUAL(r.points[x].node, json_integer_value(json_array_get(k, 1)));
		}
		json_array_foreach(json_object_get(rg, "keys"), x, k) {
			const char *key = json_string_value(json_object_get(k, "key"));
			struct rc_proto_digest d;
			uint32_t pos;

			rc_proto_key_digest(key, strlen(key), &d);
			pos = (uint32_t)(d.hi >> 32);
			CU_ASSERT_EQUAL(pos, json_integer_value(json_object_get(k, "position")));
			CU_ASSERT_EQUAL(n == 1 ? 0 : rc_hashring_lookup(&r, pos),
					json_integer_value(json_object_get(k, "node")));
		}
		rc_hashring_free(&r);
	}
	json_decref(j);
}

int main(int argc, char **argv)
{
	static const struct rc_test_case cases[] = {
		{"frames encode and decode byte-exactly", test_frames},
		{"segments split and reassemble", test_segments},
		{"key digests and partitions", test_digests},
		{"hash ring owners", test_ring},
		{NULL, NULL},
	};

	if (argc != 2) {
		fprintf(stderr, "usage: test_vectors DIR\n");
		return 2;
	}
	dir = argv[1];
	return rc_test_run("vectors", cases);
}
