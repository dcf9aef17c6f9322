/* SPDX-License-Identifier: MIT
 * libFuzzer target: the request and reply decoders on arbitrary bytes.
 * Whatever decodes must re-encode to the very same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rc_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rc_proto_req_op ops[RC_PROTO_MAX_OPS];
	static struct rc_proto_rep_op reps[RC_PROTO_MAX_OPS];
	static uint8_t out[1 << 16];
	struct rc_proto_hdr h;
	size_t off = RC_PROTO_HDR_LEN;

	if (rc_proto_decode_request(data, size, &h, ops, RC_PROTO_MAX_OPS) ==
	    RC_PROTO_OK) {
		if (size > sizeof(out))
			abort();
		rc_proto_hdr_encode(out, &h);
		for (unsigned i = 0; i < h.n_ops; i++) {
			size_t n = rc_proto_req_op_encode(out + off,
							  sizeof(out) - off, &ops[i]);
			if (n == 0)
				abort();
			off += n;
		}
		/* A PADDED request re-encodes to its bytes up to the padding. */
		if (h.flags & RC_PROTO_F_PADDED ? off > size : off != size)
			abort();
		if (memcmp(out, data, off) != 0)
			abort();
	}
	off = RC_PROTO_HDR_LEN;
	if (rc_proto_decode_reply(data, size, &h, reps, RC_PROTO_MAX_OPS) ==
	    RC_PROTO_OK) {
		if (size > sizeof(out))
			abort();
		rc_proto_hdr_encode(out, &h);
		for (unsigned i = 0; i < h.n_ops; i++)
			off += rc_proto_rep_op_encode(out + off, sizeof(out) - off,
						      &reps[i]);
		if (off != size || memcmp(out, data, size) != 0)
			abort();
	}
	return 0;
}
