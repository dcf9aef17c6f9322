/* SPDX-License-Identifier: MIT
 * ringbench <-> memcached's UDP protocol: an 8-byte frame header
 * (request id, sequence number, datagram count, reserved; big-endian)
 * followed by the ASCII protocol. Single-datagram requests and replies. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static size_t mc_encode(uint8_t *buf, size_t cap, uint32_t id, bool set,
			const char *const *keys, const size_t *klens,
			unsigned n, const uint8_t *value, size_t vlen,
			uint8_t cls, unsigned partitions, unsigned *port_off)
{
	size_t off = 8;
	int w;

	(void)cls;
	(void)partitions;
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0; buf[3] = 0;   /* sequence 0 */
	buf[4] = 0; buf[5] = 1;   /* 1 datagram */
	buf[6] = 0; buf[7] = 0;
	*port_off = 0;
	if (set) {
		w = snprintf((char *)buf + off, cap - off, "set %.*s 0 0 %zu\r\n",
			     (int)klens[0], keys[0], vlen);
		if (w < 0 || off + (size_t)w + vlen + 2 > cap)
			return 0;
		off += (size_t)w;
		memcpy(buf + off, value, vlen);
		off += vlen;
		memcpy(buf + off, "\r\n", 2);
		return off + 2;
	}
	if (off + 3 > cap)
		return 0;
	memcpy(buf + off, "get", 3);
	off += 3;
	for (unsigned i = 0; i < n; i++) {
		if (off + 1 + klens[i] + 2 > cap)
			return 0;
		buf[off++] = ' ';
		memcpy(buf + off, keys[i], klens[i]);
		off += klens[i];
	}
	memcpy(buf + off, "\r\n", 2);
	return off + 2;
}

static int mc_decode(const uint8_t *buf, size_t len, uint32_t *id,
		     unsigned *hits, unsigned *misses, unsigned *errors)
{
	const char *p = (const char *)buf + 8, *end = (const char *)buf + len;

	if (len < 8 + 5 || buf[5] != 1)
		return -1; /* multi-datagram replies are not used here */
	*id = ((uint32_t)buf[0] << 8) | buf[1];
	if (len - 8 >= 8 && !memcmp(p, "STORED\r\n", 8))
		return 0;
	/* GET: count VALUE lines, skipping their data blocks. */
	while (p < end) {
		unsigned long vlen;
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			return -1;
		if (!strncmp(p, "END\r\n", 5))
			return 0;
		if (strncmp(p, "VALUE ", 6) != 0) {
			(*errors)++;
			return 0;
		}
		if (sscanf(p, "VALUE %*s %*u %lu", &vlen) != 1)
			return -1;
		(*hits)++;
		p = eol + 1 + vlen + 2;
	}
	(void)misses; /* misses are counted by the caller: asked - hits */
	return -1;
}

const struct rb_proto rb_proto_memcached = {
	.name = "memcached",
	.id_mask = 0xffffu,
	.encode = mc_encode,
	.decode = mc_decode,
};
