/* SPDX-License-Identifier: MIT
 * ringbench's preload over a lossy transport: a fake rb_io_ops that
 * answers every request in process (decoded with lib/proto, answered OK)
 * but loses the first reply to every LOSE_EVERY-th request, as a starved
 * server's full ring does. Every key must still be set: a lost reply is
 * sent again, not waited for a whole --timeout-ms and given up (before,
 * a 2,000-key preload with a dozen lost replies took a minute, and the
 * keys whose reply was lost stayed missing). */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rc_cunit.h"
#include "rc_proto.h"

#define LOSE_EVERY 7u
#define QMAX 4096u

struct rb_io {
	uint8_t q[QMAX][64];         /* replies waiting to be received */
	size_t qlen[QMAX];
	unsigned head, n;
	unsigned lost;
	uint8_t seen[1u << 16];      /* request ids seen (low 16 bits) */
};

static struct rb_io fio;

static struct rb_io *f_open(const struct rb_config *c, unsigned thread)
{
	(void)c;
	(void)thread;
	memset(&fio, 0, sizeof(fio));
	return &fio;
}

static int f_send(struct rb_io *io, uint8_t *const *bufs, const size_t *lens,
		  const unsigned *port_offs, unsigned n)
{
	(void)port_offs;
	for (unsigned i = 0; i < n; i++) {
		struct rc_proto_req_op ops[RC_PROTO_MAX_OPS];
		struct rc_proto_rep_op rep[RC_PROTO_MAX_OPS];
		struct rc_proto_hdr h;
		unsigned slot;
		size_t off = RC_PROTO_HDR_LEN;

		CU_ASSERT_EQUAL_FATAL(rc_proto_decode_request(bufs[i], lens[i],
							      &h, ops,
							      RC_PROTO_MAX_OPS),
				      RC_PROTO_OK);
		/* The first try of every LOSE_EVERY-th request gets no
		 * answer (the server had it; its reply was dropped). */
		if (h.request_id % LOSE_EVERY == 0 &&
		    !io->seen[h.request_id & 0xffff]) {
			io->seen[h.request_id & 0xffff] = 1;
			io->lost++;
			continue;
		}
		if (io->n == QMAX)
			continue;
		slot = (io->head + io->n++) % QMAX;
		for (unsigned k = 0; k < h.n_ops; k++)
			rep[k] = (struct rc_proto_rep_op){
				.opcode = ops[k].opcode, .status = RC_ST_OK};
		h.flags = RC_PROTO_F_REPLY;
		h.partitions = 1;
		h.seg_count = 1;
		rc_proto_hdr_encode(io->q[slot], &h);
		for (unsigned k = 0; k < h.n_ops; k++)
			off += rc_proto_rep_op_encode(io->q[slot] + off,
						      sizeof(io->q[slot]) - off,
						      &rep[k]);
		io->qlen[slot] = off;
	}
	return 0;
}

static unsigned f_recv(struct rb_io *io, struct rb_rx *rx, unsigned max)
{
	unsigned got = 0;

	while (got < max && io->n) {
		rx[got].data = io->q[io->head];
		rx[got].len = io->qlen[io->head];
		rx[got].t = rb_now_ns();
		io->head = (io->head + 1) % QMAX;
		io->n--;
		got++;
	}
	return got;
}

static void f_idle(struct rb_io *io, uint64_t now, uint64_t until)
{
	(void)io;
	(void)now;
	(void)until;
}

static void f_close(struct rb_io *io)
{
	(void)io;
}

static const struct rb_io_ops lossy = {
	.name = "lossy", .open = f_open, .send = f_send, .recv = f_recv,
	.idle = f_idle, .close = f_close};

static void test_preload_resends_lost(void)
{
	struct rb_config c = {
		.proto = &rb_proto_ringcache, .io = &lossy, .partitions = 1,
		.rate = 1000, .duration = 0.01, .warmup = 0, .threads = 1,
		.keys = 1000, .key_size = 16, .value_size = 32,
		.get_ratio = 1.0, .batch = 1, .timeout_ms = 20,
		.preload = true, .seed = 1};
	struct rb_result r;

	CU_ASSERT_EQUAL_FATAL(rb_run(&c, &r), 0);
	CU_ASSERT_TRUE(fio.lost >= c.keys / LOSE_EVERY - 1);
	CU_ASSERT_EQUAL(r.preload_missing, 0);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"preload: lost replies are sent again",
		 test_preload_resends_lost},
		{NULL, NULL},
	};

	return rc_test_run("ringbench-preload", cases);
}
