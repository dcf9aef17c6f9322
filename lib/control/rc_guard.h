/* SPDX-License-Identifier: MIT
 * Who may talk to the node and how fast: CIDR lists (allow, trusted) and
 * per-client-network request-rate quotas (token buckets, as GCRA).
 *
 * Plain C, no DPDK: the daemon's workers each own one rc_ratelimit (no
 * sharing, no atomics); the parsers also serve --check. Addresses are
 * IPv4 in host byte order. */
#ifndef RC_GUARD_H
#define RC_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_CIDR_MAX 64      /* networks in one list */
#define RC_RATE_RULES_MAX 32

struct rc_cidr {
	uint32_t net, mask;
	uint8_t len;
};

struct rc_cidr_list {
	unsigned n;
	struct rc_cidr e[RC_CIDR_MAX];
};

/* Parse "a.b.c.d/len, a.b.c.d, ..." (a bare address is /32; "" is the
 * empty list). Host bits set under the mask are an error, since they
 * usually mean a typo in the prefix length.
 * @return 0, or -1 with err saying what is wrong. */
int rc_cidr_parse(struct rc_cidr_list *l, const char *s, char *err,
		  size_t errlen);

static inline bool rc_cidr_match(const struct rc_cidr_list *l, uint32_t ip)
{
	for (unsigned i = 0; i < l->n; i++)
		if ((ip & l->e[i].mask) == l->e[i].net)
			return true;
	return false;
}

/* "cidr=rate[/burst], ...": sources in cidr are limited to rate
 * operations per second per client network (burst: how many may come at
 * once, default rate/10, at least 1). The most specific rule wins;
 * sources no rule covers are not limited. */
struct rc_rate_rule {
	struct rc_cidr net;
	uint64_t rate, burst;
};

struct rc_rate_rules {
	unsigned n;
	struct rc_rate_rule r[RC_RATE_RULES_MAX];
};

int rc_rate_rules_parse(struct rc_rate_rules *rr, const char *s, char *err,
			size_t errlen);

struct rc_ratelimit_config {
	const struct rc_rate_rules *rules;
	unsigned network_prefix; /* a client network is a /network_prefix */
	unsigned max_networks;   /* buckets kept; the idlest one is reused */
	unsigned share;          /* this limiter enforces rate/share, burst/
				  * share: one of `share` workers */
	uint64_t hz;             /* clock ticks per second */
};

struct rc_ratelimit_stats {
	uint64_t admitted, throttled;  /* operations */
	uint64_t reused;               /* a busy bucket had to be reused */
};

struct rc_ratelimit;

struct rc_ratelimit *rc_ratelimit_create(const struct rc_ratelimit_config *c);
void rc_ratelimit_destroy(struct rc_ratelimit *rl);

/* May src send `ops` operations at time now (ticks)? Charges them if so,
 * one token an op. A request of more ops than the burst is admitted when
 * the bucket is full and charged in full (the bucket owes the rest), so
 * it is never refused forever and never buys more than the rate. */
bool rc_ratelimit_admit(struct rc_ratelimit *rl, uint32_t src, unsigned ops,
			uint64_t now);

void rc_ratelimit_get_stats(const struct rc_ratelimit *rl,
			    struct rc_ratelimit_stats *st);

/* acc += st: a worker whose buckets a reload replaced keeps counting
 * from where the old ones stopped. */
void rc_ratelimit_stats_add(struct rc_ratelimit_stats *acc,
			    const struct rc_ratelimit_stats *st);

#endif
