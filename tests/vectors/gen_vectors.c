/* SPDX-License-Identifier: MIT
 * Writes the shared test vectors (tests/vectors/ frames, digests, ring .json) from lib/proto's
 * encoder and lib/client's hash ring, so every client implementation
 * (C, TypeScript, ...) can check itself against the reference:
 *
 *   gen_vectors DIR          write DIR/frames.json, digests.json, ring.json
 *   gen_vectors --check DIR  exit 1 if the files in DIR differ from what
 *                            this build would write (meson test)
 *
 * Frames named with "doc" are the hex examples of docs/protocol.md. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashring.h"
#include "rc_proto.h"

static char *out;
static size_t out_len, out_cap;

static void emit(const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(out + out_len, out_cap - out_len, fmt, ap);
		va_end(ap);
		if ((size_t)n < out_cap - out_len)
			break;
		out_cap = out_cap * 2 + (size_t)n + 1024;
		out = realloc(out, out_cap);
		if (!out)
			exit(2);
	}
	out_len += (size_t)n;
}

static void emit_hex(const uint8_t *p, size_t n)
{
	emit("\"");
	for (size_t i = 0; i < n; i++)
		emit("%02x", p[i]);
	emit("\"");
}

static void emit_hdr(const struct rc_proto_hdr *h)
{
	emit("{\"flags\": %u, \"request_id\": %u, \"epoch\": %u, \"n_ops\": %u, "
	     "\"seg_index\": %u, \"seg_count\": %u, \"partitions\": %u}",
	     h->flags, h->request_id, h->epoch, h->n_ops, h->seg_index,
	     h->seg_count, h->partitions);
}

static int first;

static void sep(void)
{
	emit(first ? "\n    " : ",\n    ");
	first = 0;
}

/* A request frame of n ops, padded to pad bytes (0: none). */
static void req(const char *name, const char *doc, uint32_t id, uint32_t epoch,
		uint8_t flags, const struct rc_proto_req_op *ops, unsigned n,
		size_t pad)
{
	static uint8_t b[8192];
	struct rc_proto_hdr h = {.version = RC_PROTO_VERSION, .flags = flags,
				 .request_id = id, .epoch = epoch,
				 .n_ops = (uint16_t)n, .seg_count = 1};
	size_t len = RC_PROTO_HDR_LEN;

	for (unsigned i = 0; i < n; i++)
		len += rc_proto_req_op_encode(b + len, sizeof(b) - len, &ops[i]);
	if (pad > len) {
		memset(b + len, 0, pad - len);
		h.flags |= RC_PROTO_F_PADDED;
		len = pad;
	}
	rc_proto_hdr_encode(b, &h);
	sep();
	emit("{\"name\": \"%s\", \"doc\": \"%s\", \"dir\": \"request\",\n     \"hex\": ",
	     name, doc ? doc : "");
	emit_hex(b, len);
	emit(",\n     \"header\": ");
	emit_hdr(&h);
	emit(",\n     \"ops\": [");
	for (unsigned i = 0; i < n; i++) {
		const struct rc_proto_req_op *o = &ops[i];

		emit("%s{\"opcode\": %u, \"class\": %u, \"flags\": %u, \"ttl\": %u, "
		     "\"cas\": \"%llu\", \"key\": ", i ? ", " : "", o->opcode,
		     o->class_id, o->client_flags, o->ttl,
		     (unsigned long long)o->cas);
		emit_hex(o->key, o->key_len);
		emit(", \"value\": ");
		emit_hex(o->value, o->value_len);
		emit("}");
	}
	emit("]}");
}

static void rep(const char *name, const char *doc, uint32_t id, uint32_t epoch,
		uint16_t parts, const struct rc_proto_rep_op *ops, unsigned n)
{
	static uint8_t b[8192];
	struct rc_proto_hdr h = {.version = RC_PROTO_VERSION,
				 .flags = RC_PROTO_F_REPLY, .request_id = id,
				 .epoch = epoch, .n_ops = (uint16_t)n,
				 .seg_count = 1, .partitions = parts};
	size_t len = RC_PROTO_HDR_LEN;

	rc_proto_hdr_encode(b, &h);
	for (unsigned i = 0; i < n; i++)
		len += rc_proto_rep_op_encode(b + len, sizeof(b) - len, &ops[i]);
	sep();
	emit("{\"name\": \"%s\", \"doc\": \"%s\", \"dir\": \"reply\",\n     \"hex\": ",
	     name, doc ? doc : "");
	emit_hex(b, len);
	emit(",\n     \"header\": ");
	emit_hdr(&h);
	emit(",\n     \"ops\": [");
	for (unsigned i = 0; i < n; i++) {
		const struct rc_proto_rep_op *o = &ops[i];

		emit("%s{\"opcode\": %u, \"status\": %u, \"class\": %u, "
		     "\"op_flags\": %u, \"flags\": %u, \"cas\": \"%llu\", \"value\": ",
		     i ? ", " : "", o->opcode, o->status, o->class_id,
		     o->op_flags, o->client_flags, (unsigned long long)o->cas);
		emit_hex(o->value, o->value_len);
		emit("}");
	}
	emit("]}");
}

/* A bare 20-byte header (the header-only examples of the doc). */
static void hdr_only(const char *name, const char *doc,
		     const struct rc_proto_hdr *h)
{
	uint8_t b[RC_PROTO_HDR_LEN];

	rc_proto_hdr_encode(b, h);
	sep();
	emit("{\"name\": \"%s\", \"doc\": \"%s\", \"dir\": \"header\",\n     \"hex\": ",
	     name, doc);
	emit_hex(b, sizeof(b));
	emit(",\n     \"header\": ");
	emit_hdr(h);
	emit("}");
}

#define K(s) .key = (const uint8_t *)(s), .key_len = sizeof(s) - 1
#define V(s) .value = (const uint8_t *)(s), .value_len = sizeof(s) - 1

static void frames(void)
{
	static uint8_t big[3000];
	first = 1;
	emit("{\"comment\": \"written by tests/vectors/gen_vectors.c from lib/proto; "
	     "do not edit\",\n  \"frames\": [");
	/* docs/protocol.md, "Examples", in order. */
	req("noop-request", "NOOP request", 0x11, 0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_NOOP, .class_id = 0xff}},
	    1, 0);
	rep("noop-reply", "NOOP reply", 0x11, 1, 2,
	    (struct rc_proto_rep_op[]){{.opcode = RC_OP_NOOP, .class_id = 0xff}},
	    1);
	req("get-request", "GET request (key `wedding_42`)", 0x22, 0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_GET, .class_id = 0xff,
					K("wedding_42")}}, 1, 0);
	rep("get-reply-hit", "GET reply, hit (value `{\\\"d\\\":1}`, flags 7, class 0, CAS 5)",
	    0x22, 1, 1,
	    (struct rc_proto_rep_op[]){{.opcode = RC_OP_GET, .class_id = 0,
					.client_flags = 7, .cas = 5,
					V("{\"d\":1}")}}, 1);
	rep("get-reply-miss", "GET reply, miss", 0x22, 1, 1,
	    (struct rc_proto_rep_op[]){{.opcode = RC_OP_GET,
					.status = RC_ST_NOT_FOUND,
					.class_id = 0xff}}, 1);
	req("set-request", "SET request (key `k:1`, value `hi`, class 0, flags 7, TTL 60 s, unconditional)",
	    0x33, 0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_SET, .class_id = 0,
					.client_flags = 7, .ttl = 60, K("k:1"),
					V("hi")}}, 1, 0);
	rep("set-reply", "SET reply (new CAS 6)", 0x33, 1, 1,
	    (struct rc_proto_rep_op[]){{.opcode = RC_OP_SET, .class_id = 0,
					.cas = 6}}, 1);
	req("delete-request", "DELETE request (key `k:1`, only if CAS is 6)",
	    0x44, 0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_DELETE, .class_id = 0xff,
					.cas = 6, K("k:1")}}, 1, 0);
	rep("delete-reply-exists", "DELETE reply, CAS mismatch", 0x44, 1, 1,
	    (struct rc_proto_rep_op[]){{.opcode = RC_OP_DELETE,
					.status = RC_ST_EXISTS,
					.class_id = 0xff}}, 1);
	req("touch-request", "TOUCH request (key `k:1`, new TTL 3600 s)", 0x55,
	    0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_TOUCH, .class_id = 0xff,
					.ttl = 3600, K("k:1")}}, 1, 0);
	req("mget-request", "Multi-get request (keys `a`, `b`) in one datagram",
	    0x66, 0, 0,
	    (struct rc_proto_req_op[]){
		    {.opcode = RC_OP_GET, .class_id = 0xff, K("a")},
		    {.opcode = RC_OP_GET, .class_id = 0xff, K("b")}}, 2, 0);
	rep("mget-reply", "Multi-get reply (`a` hit with value `x`, `b` miss)",
	    0x66, 1, 1,
	    (struct rc_proto_rep_op[]){
		    {.opcode = RC_OP_GET, .class_id = 0, .cas = 3, V("x")},
		    {.opcode = RC_OP_GET, .status = RC_ST_NOT_FOUND,
		     .class_id = 0xff}}, 2);
	/* Header-only examples (Durable writes, Segmentation). */
	hdr_only("durable-set-header", "Durable writes",
		 &(struct rc_proto_hdr){.version = 1, .flags = RC_PROTO_F_DURABLE,
					.request_id = 42, .n_ops = 1,
					.seg_count = 1});
	hdr_only("segment-1-header", "Segmentation",
		 &(struct rc_proto_hdr){.version = 1,
					.flags = RC_PROTO_F_SEGMENTED,
					.request_id = 502, .n_ops = 1,
					.seg_index = 1, .seg_count = 3});
	/* More requests: every opcode, CAS, auto class, durable, padding. */
	req("set-cas-auto-class", NULL, 0x01020304, 7, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_SET, .class_id = 0xff,
					.client_flags = 0xdeadbeef,
					.ttl = 86400,
					.cas = 0xfedcba9876543210ull,
					K("wedding_42:timeline"),
					V("{\"events\":[1,2,3]}")}}, 1, 0);
	req("set-durable", NULL, 42, 3, RC_PROTO_F_DURABLE,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_SET, .class_id = 2,
					K("k"), V("v")}}, 1, 0);
	req("delete-unconditional", NULL, 0xffffffff, 0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_DELETE, .class_id = 0xff,
					K("guest:9")}}, 1, 0);
	req("get-padded-40", NULL, 0x80000000, 0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_GET, .class_id = 0xff,
					K("a")}}, 1, 40);
	req("get-padded-for-value", NULL, 77, 0, 0,
	    (struct rc_proto_req_op[]){{.opcode = RC_OP_GET, .class_id = 0xff,
					K("photo:1")}}, 1, 40 + 300);
	req("mixed-batch", NULL, 0x0badf00d, 1, 0,
	    (struct rc_proto_req_op[]){
		    {.opcode = RC_OP_GET, .class_id = 0xff, K("x:1")},
		    {.opcode = RC_OP_SET, .class_id = 1, .ttl = 5, K("x:2"), V("two")},
		    {.opcode = RC_OP_DELETE, .class_id = 0xff, K("x:3")},
		    {.opcode = RC_OP_TOUCH, .class_id = 0xff, .ttl = 1, K("x:4")},
		    {.opcode = RC_OP_NOOP, .class_id = 0xff}}, 5, 20 + 5 * 20);
	/* A reply for every status (each op's echoed opcode and class). */
	for (unsigned st = 0; st < RC_ST__COUNT; st++) {
		char name[64];
		struct rc_proto_rep_op o = {.opcode = RC_OP_GET,
					    .status = (uint8_t)st,
					    .class_id = 0xff};
		uint32_t epoch = 1;
		uint16_t parts = 1;

		switch (st) {
		case RC_ST_OK:
			o.class_id = 3;
			o.client_flags = 42;
			o.cas = 0x1122334455667788ull;
			o.value = (const uint8_t *)"value";
			o.value_len = 5;
			break;
		case RC_ST_EXISTS:
		case RC_ST_NOT_REPLICATED:
			o.opcode = RC_OP_SET;
			break;
		case RC_ST_READ_ONLY:
			o.opcode = RC_OP_DELETE;
			break;
		case RC_ST_NOT_PRIMARY:
			o.opcode = RC_OP_TOUCH;
			epoch = 9;
			break;
		case RC_ST_WRONG_PARTITION:
			parts = 4;
			break;
		case RC_ST_PAD_REQUIRED:
			o.client_flags = 300; /* the value's length */
			break;
		case RC_ST_BUSY:
			o.opcode = RC_OP_NOOP; /* whole-request answer */
			break;
		default:
			break;
		}
		snprintf(name, sizeof(name), "status-%u-%s", st,
			 rc_proto_status_name(st));
		rep(name, NULL, 0x1000 + st, epoch, parts, &o, 1);
	}
	rep("get-reply-stale", NULL, 0x2000, 4, 2,
	    (struct rc_proto_rep_op[]){{.opcode = RC_OP_GET, .class_id = 1,
					.op_flags = RC_PROTO_OPF_STALE,
					.client_flags = 1, .cas = 99,
					V("old")}}, 1);
	rep("busy-reply-2-ops", NULL, 0x2001, 1, 1,
	    (struct rc_proto_rep_op[]){
		    {.opcode = RC_OP_NOOP, .status = RC_ST_BUSY, .class_id = 0xff},
		    {.opcode = RC_OP_NOOP, .status = RC_ST_BUSY, .class_id = 0xff}},
	    2);
	emit("\n  ],\n  \"segmented\": [");
	/* The Segmentation example: SET of a 3,000-byte value, key k, id 502. */
	{
		static uint8_t msg[4096], seg[RC_PROTO_MAX_DATAGRAM];
		struct rc_proto_req_op o = {.opcode = RC_OP_SET, .class_id = 0xff,
					    K("k"), .value = big,
					    .value_len = sizeof(big)};
		struct rc_proto_hdr h = {.version = 1, .request_id = 502,
					 .n_ops = 1, .seg_count = 1};
		size_t len = RC_PROTO_HDR_LEN;
		unsigned n;

		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 7 + 1);
		len += rc_proto_req_op_encode(msg + len, sizeof(msg) - len, &o);
		rc_proto_hdr_encode(msg, &h);
		n = rc_proto_seg_count(len);
		emit("\n    {\"name\": \"set-3000-segments\", \"dir\": \"request\", "
		     "\"value_rule\": \"byte i = (i * 7 + 1) mod 256\",\n     \"message\": ");
		emit_hex(msg, len);
		emit(",\n     \"segments\": [");
		h.flags |= RC_PROTO_F_SEGMENTED;
		h.seg_count = (uint16_t)n;
		for (unsigned i = 0; i < n; i++) {
			size_t off = RC_PROTO_HDR_LEN + (size_t)i * RC_PROTO_SEG_BODY;
			size_t body = len - off < RC_PROTO_SEG_BODY ? len - off
								     : RC_PROTO_SEG_BODY;

			h.seg_index = (uint16_t)i;
			rc_proto_hdr_encode(seg, &h);
			memcpy(seg + RC_PROTO_HDR_LEN, msg + off, body);
			emit(i ? ",\n       " : "\n       ");
			emit_hex(seg, RC_PROTO_HDR_LEN + body);
		}
		emit("]}");
	}
	emit("\n  ]\n}\n");
}

static const unsigned parts_list[] = {1, 2, 3, 4, 7, 16};

static void digest_of(const uint8_t *k, size_t n)
{
	struct rc_proto_digest d;

	rc_proto_key_digest(k, n, &d);
	sep();
	emit("{\"key\": ");
	emit_hex(k, n);
	emit(", \"lo\": \"%016llx\", \"hi\": \"%016llx\", \"partition\": {",
	     (unsigned long long)d.lo, (unsigned long long)d.hi);
	for (size_t i = 0; i < sizeof(parts_list) / sizeof(parts_list[0]); i++)
		emit("%s\"%u\": %u", i ? ", " : "", parts_list[i],
		     rc_proto_partition(&d, parts_list[i]));
	emit("}}");
}

static void digests(void)
{
	static const char *const keys[] = {"", "a", "b", "k", "k:1", "wedding_42",
					   "wedding_42:timeline", "guest:9",
					   "caf\xc3\xa9", "x:1"};
	uint8_t k[250];

	first = 1;
	emit("{\"comment\": \"key (hex) -> XXH3-128 digest (lo, hi: 64-bit hex, "
	     "as XXH128_hash_t) -> partition = lo mod P; written by "
	     "tests/vectors/gen_vectors.c\",\n  \"digests\": [");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		digest_of((const uint8_t *)keys[i], strlen(keys[i]));
	for (unsigned i = 0; i < 250; i++)
		k[i] = (uint8_t)i;
	digest_of(k, 16);  /* binary */
	digest_of(k, 128);
	digest_of(k, 250); /* longest key */
	for (unsigned i = 0; i < 24; i++) {
		int n = snprintf((char *)k, sizeof(k), "user:%u", i * 7919);
		digest_of(k, (size_t)n);
	}
	emit("\n  ]\n}\n");
}

static void ring(void)
{
	static const char *const s3[] = {"198.18.0.2:7711", "198.18.0.3:7711",
					 "198.18.0.4:7711"};
	static const char *const s5[] = {"10.0.0.1:7711", "10.0.0.2:7711",
					 "10.0.0.3:7711", "10.0.0.4:7800",
					 "198.18.2.2:7711"};
	static const struct { const char *const *s; size_t n; } lists[] = {
		{s3, 1}, {s3, 2}, {s3, 3}, {s5, 5}};

	emit("{\"comment\": \"servers (config order) -> owner node index of each "
	     "key: XXH64(\\\"ip:port#i\\\", seed 0x72637269) low 32 bits at 160 "
	     "points per server, key position = digest hi >> 32, first point at "
	     "or after it, wrapping; one server: always 0. Written by "
	     "tests/vectors/gen_vectors.c\",\n  \"rings\": [");
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		struct rc_hashring r;

		if (rc_hashring_build(&r, lists[l].s, lists[l].n) != 0)
			exit(2);
		emit("%s\n    {\"servers\": [", l ? "," : "");
		for (size_t i = 0; i < lists[l].n; i++)
			emit("%s\"%s\"", i ? ", " : "", lists[l].s[i]);
		emit("],\n     \"first_points\": [");
		for (size_t i = 0; i < 8; i++)
			emit("%s[%u, %u]", i ? ", " : "", r.points[i].hash,
			     r.points[i].node);
		emit("],\n     \"keys\": [");
		for (unsigned i = 0; i < 64; i++) {
			char k[32];
			int n = snprintf(k, sizeof(k), "wedding_%u:guests", i);
			struct rc_proto_digest d;
			uint32_t pos, node;

			rc_proto_key_digest(k, (size_t)n, &d);
			pos = (uint32_t)(d.hi >> 32);
			node = lists[l].n == 1 ? 0 : rc_hashring_lookup(&r, pos);
			emit("%s\n       {\"key\": \"%s\", \"position\": %u, \"node\": %u}",
			     i ? "," : "", k, pos, node);
		}
		emit("]}");
		rc_hashring_free(&r);
	}
	emit("\n  ]\n}\n");
}

static int put(const char *dir, const char *name, int check)
{
	char path[4096];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (check) {
		char *old = malloc(out_len + 2);
		size_t n;

		f = fopen(path, "rb");
		if (!f || !old) {
			fprintf(stderr, "gen_vectors: cannot read %s\n", path);
			free(old);
			return 1;
		}
		n = fread(old, 1, out_len + 1, f);
		fclose(f);
		if (n != out_len || memcmp(old, out, out_len) != 0) {
			fprintf(stderr, "gen_vectors: %s is out of date: "
				"run gen_vectors %s\n", path, dir);
			rc = 1;
		} else {
			printf("ok %s\n", path);
		}
		free(old);
	} else {
		f = fopen(path, "wb");
		if (!f || fwrite(out, 1, out_len, f) != out_len || fclose(f)) {
			fprintf(stderr, "gen_vectors: cannot write %s\n", path);
			return 1;
		}
	}
	out_len = 0;
	return rc;
}

int main(int argc, char **argv)
{
	int check = argc == 3 && strcmp(argv[1], "--check") == 0;
	const char *dir = argv[argc - 1];
	int rc = 0;

	if (argc != 2 && !check) {
		fprintf(stderr, "usage: gen_vectors [--check] DIR\n");
		return 2;
	}
	out_cap = 1 << 16;
	out = malloc(out_cap);
	if (!out)
		return 2;
	frames();
	rc |= put(dir, "frames.json", check);
	digests();
	rc |= put(dir, "digests.json", check);
	ring();
	rc |= put(dir, "ring.json", check);
	free(out);
	return rc;
}
