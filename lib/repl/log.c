/* SPDX-License-Identifier: MIT
 * The SPSC record log between a worker and the control core. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rc_repl.h"

int rc_repl_log_init(struct rc_repl_log *l, uint64_t size)
{
	memset(l, 0, sizeof(*l));
	if (size < 4096 || (size & (size - 1)))
		return -EINVAL;
	l->buf = malloc(size);
	if (!l->buf)
		return -ENOMEM;
	l->size = size;
	return 0;
}

void rc_repl_log_free(struct rc_repl_log *l)
{
	free(l->buf);
	l->buf = NULL;
}

static inline void put_pad(uint8_t *p, uint32_t n)
{
	memset(p, 0, RC_REPL_REC_HDR < n ? RC_REPL_REC_HDR : n);
	memcpy(p, &n, sizeof(n));
}

uint8_t *rc_repl_log_reserve(struct rc_repl_log *l, uint32_t n)
{
	uint64_t head = l->head, off = head & (l->size - 1);
	uint64_t tail_room = l->size - off, need = n;

	if (n == 0 || n > l->size / 2 || (n & (RC_REPL_ALIGN - 1)))
		return NULL;
	/* A record never wraps: the tail of the buffer becomes padding. */
	if (tail_room < n)
		need += tail_room;
	if (head + need - l->tail_cache > l->size) {
		l->tail_cache = __atomic_load_n(&l->tail, __ATOMIC_ACQUIRE);
		if (head + need - l->tail_cache > l->size)
			return NULL;
	}
	if (tail_room < n) {
		/* Published with the record, in commit: the consumer
		 * never sees a half-written pad. */
		put_pad(l->buf + off, (uint32_t)tail_room);
		l->skip = (uint32_t)tail_room;
		off = 0;
	} else {
		l->skip = 0;
	}
	return l->buf + off;
}

void rc_repl_log_commit(struct rc_repl_log *l, uint32_t n)
{
	__atomic_store_n(&l->head, l->head + l->skip + n, __ATOMIC_RELEASE);
	l->skip = 0;
}

const uint8_t *rc_repl_log_peek(struct rc_repl_log *l, uint32_t *len)
{
	for (;;) {
		uint64_t tail = l->tail;
		const uint8_t *p;
		uint32_t n;

		if (tail == l->head_cache) {
			l->head_cache =
				__atomic_load_n(&l->head, __ATOMIC_ACQUIRE);
			if (tail == l->head_cache)
				return NULL;
		}
		p = l->buf + (tail & (l->size - 1));
		memcpy(&n, p, sizeof(n));
		if (p[4] != RC_REPL_PAD) {
			*len = n;
			return p;
		}
		__atomic_store_n(&l->tail, tail + n, __ATOMIC_RELEASE);
	}
}

void rc_repl_log_release(struct rc_repl_log *l, uint32_t len)
{
	__atomic_store_n(&l->tail, l->tail + len, __ATOMIC_RELEASE);
}

uint64_t rc_repl_log_used(const struct rc_repl_log *l)
{
	return __atomic_load_n(&l->head, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(&l->tail, __ATOMIC_ACQUIRE);
}
