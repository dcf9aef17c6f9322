/* SPDX-License-Identifier: MIT
 * Authentication of replication frames and data-network heartbeats
 * (docs/protocol.md "Authentication", docs/design.md "Replication:
 * authentication"): keyed BLAKE2b (libsodium crypto_generichash) over
 * the channel, the message and a trailer of session id, counter and
 * wall-clock time. */
#include <string.h>

#include <sodium.h>

#include "rc_repl.h"

static inline void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int rc_repl_auth_init(struct rc_repl_auth *a, const uint8_t *key,
		      const uint8_t *key_next, uint64_t session,
		      uint64_t window_ns)
{
	if (sodium_init() < 0)
		return -1;
	memset(a, 0, sizeof(*a));
	memcpy(a->key, key, RC_REPL_KEY_LEN);
	if (key_next) {
		memcpy(a->key_next, key_next, RC_REPL_KEY_LEN);
		a->has_next = true;
	}
	a->session = session;
	a->window_ns = window_ns;
	return 0;
}

void rc_repl_auth_new_conn(struct rc_repl_auth *a)
{
	a->peer[RC_REPL_CH_STREAM].live = false;
}

void rc_repl_auth_wipe(struct rc_repl_auth *a)
{
	sodium_memzero(a, sizeof(*a));
}

/* tag = BLAKE2b-256(key; channel || msg[0..len) || session,ctr,time) */
static void mac(const uint8_t *key, uint8_t ch, const uint8_t *msg,
		size_t len, const uint8_t *trailer, uint8_t *tag)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, RC_REPL_KEY_LEN, RC_REPL_TAG_LEN);
	crypto_generichash_update(&st, &ch, 1);
	crypto_generichash_update(&st, msg, len);
	crypto_generichash_update(&st, trailer, RC_REPL_AUTH_LEN -
						RC_REPL_TAG_LEN);
	crypto_generichash_final(&st, tag, RC_REPL_TAG_LEN);
}

void rc_repl_auth_seal(struct rc_repl_auth *a, uint8_t ch, uint8_t *msg,
		       size_t len, uint64_t now_ns)
{
	uint8_t *t = msg + len;

	/* Strictly increasing on this side whatever the clock does. */
	a->ts = now_ns > a->ts ? now_ns : a->ts + 1;
	a->ctr++;
	put64(t, a->session);
	put64(t + 8, a->ctr);
	put64(t + 16, a->ts);
	mac(a->key, ch, msg, len, t, t + 24);
}

int rc_repl_auth_check(const struct rc_repl_auth *a, uint8_t ch,
		       const uint8_t *msg, size_t total)
{
	uint8_t tag[RC_REPL_TAG_LEN];
	const uint8_t *t;
	size_t len;

	if (total < RC_REPL_AUTH_LEN)
		return -1;
	len = total - RC_REPL_AUTH_LEN;
	t = msg + len;
	mac(a->key, ch, msg, len, t, tag);
	if (sodium_memcmp(tag, t + 24, RC_REPL_TAG_LEN) == 0)
		return 0;
	if (a->has_next) {
		mac(a->key_next, ch, msg, len, t, tag);
		if (sodium_memcmp(tag, t + 24, RC_REPL_TAG_LEN) == 0)
			return 0;
	}
	return -1;
}

enum rc_repl_auth_verdict rc_repl_auth_open(struct rc_repl_auth *a,
					    uint8_t ch, const uint8_t *msg,
					    size_t total, uint64_t now_ns)
{
	struct rc_repl_auth_peer *p;
	const uint8_t *t;
	uint64_t session, ctr, ts;

	if (ch >= RC_REPL_CH__COUNT || rc_repl_auth_check(a, ch, msg, total))
		return RC_REPL_AUTH_BAD;
	t = msg + total - RC_REPL_AUTH_LEN;
	session = get64(t);
	ctr = get64(t + 8);
	ts = get64(t + 16);
	p = &a->peer[ch];
	/* The time window keeps an old capture from opening a session. A
	 * stream session already accepted needs none: its counter rules out
	 * a replay, and its frames may wait long behind a backed-up stream
	 * (a resync) without being any less genuine. */
	if (!(ch == RC_REPL_CH_STREAM && p->seen && p->live &&
	      session == p->session) &&
	    (ts + a->window_ns < now_ns || ts > now_ns + a->window_ns))
		return RC_REPL_AUTH_STALE;
	if (p->seen) {
		if (session == p->session && ctr <= p->ctr)
			return RC_REPL_AUTH_REPLAY;
		/* A new session (the peer restarted) must be newer than
		 * anything accepted so far: an older one is a capture. */
		if (session != p->session && ts <= p->ts)
			return RC_REPL_AUTH_REPLAY;
	}
	p->seen = true;
	p->live = true;
	p->session = session;
	p->ctr = ctr;
	p->ts = ts;
	return RC_REPL_AUTH_OK;
}

int rc_repl_key_parse(const uint8_t *buf, size_t len, uint8_t *key)
{
	size_t bin_len = 0;

	if (len == RC_REPL_KEY_LEN) {
		memcpy(key, buf, RC_REPL_KEY_LEN);
		return 0;
	}
	/* 64 hex characters, then at most a line end. */
	while (len > 2 * RC_REPL_KEY_LEN &&
	       (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len != 2 * RC_REPL_KEY_LEN ||
	    sodium_hex2bin(key, RC_REPL_KEY_LEN, (const char *)buf, len, NULL,
			   &bin_len, NULL) != 0 ||
	    bin_len != RC_REPL_KEY_LEN)
		return -1;
	return 0;
}
