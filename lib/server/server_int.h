/* SPDX-License-Identifier: MIT
 * What exec.c and apply.c share inside lib/server. */
#ifndef RC_SERVER_INT_H
#define RC_SERVER_INT_H

#include "rc_server.h"

/* enum rc_store_result -> RC_ST_* */
extern const uint8_t rc_server_store_status[];

/* TTL of a write under the calendar's TTL multiplier. */
static inline uint32_t rc_server_scaled_ttl(const struct rc_partition *p, uint32_t ttl)
{
	uint32_t pct = p->ttl_pct;
	uint64_t t;

	if (ttl == 0 || pct == 100)
		return ttl;
	t = (uint64_t)ttl * pct / 100;
	return t > UINT32_MAX ? UINT32_MAX : t ? (uint32_t)t : 1;
}

/* Log a write for the standby. A snapshot record waits for room (false:
 * try again); a lost write is counted (the control core then starts a
 * full resync). @return whether it went in. */
bool rc_server_emit_rec(struct rc_partition *p, const struct rc_repl_rec *r,
			bool snapshot);
bool rc_server_emit(struct rc_partition *p, uint8_t type,
		    const struct rc_proto_req_op *op, uint8_t cls, uint32_t ttl,
		    bool snapshot);

#endif
