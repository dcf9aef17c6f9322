/* SPDX-License-Identifier: MIT
 * CIDR lists and per-client-network rate quotas. The rate limiter is
 * GCRA: one "theoretical arrival time" per network instead of a token
 * count and a timestamp, so admitting is one compare and one add. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_guard.h"

#define WAYS 4

static uint32_t prefix_mask(unsigned len)
{
	return len == 0 ? 0 : ~0u << (32 - len);
}

/* Next comma-separated token of *s, trimmed, into tok. 0 at the end. */
static int next_token(const char **s, char *tok, size_t cap)
{
	const char *p = *s, *end;
	size_t n;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (!*p)
		return 0;
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	*s = end;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	n = (size_t)(end - p);
	if (n >= cap)
		n = cap - 1;
	memcpy(tok, p, n);
	tok[n] = '\0';
	return 1;
}

static int parse_one(const char *tok, struct rc_cidr *c, char *err,
		     size_t errlen)
{
	char addr[32];
	const char *slash = strchr(tok, '/');
	size_t al = slash ? (size_t)(slash - tok) : strlen(tok);
	unsigned long len = 32;
	struct in_addr a;

	if (al == 0 || al >= sizeof(addr))
		goto bad;
	memcpy(addr, tok, al);
	addr[al] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		goto bad;
	if (slash) {
		char *end;

		len = strtoul(slash + 1, &end, 10);
		if (end == slash + 1 || *end || len > 32)
			goto bad;
	}
	c->len = (uint8_t)len;
	c->mask = prefix_mask((unsigned)len);
	c->net = ntohl(a.s_addr);
	if (c->net & ~c->mask) {
		struct in_addr n = {.s_addr = htonl(c->net & c->mask)};

		snprintf(err, errlen, "'%s' has host bits set (did you mean "
			 "%s/%lu?)", tok, inet_ntoa(n), len);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not an IPv4 network (a.b.c.d/len)",
		 tok);
	return -1;
}

int rc_cidr_parse(struct rc_cidr_list *l, const char *s, char *err,
		  size_t errlen)
{
	char tok[64];

	l->n = 0;
	while (next_token(&s, tok, sizeof(tok))) {
		if (l->n == RC_CIDR_MAX) {
			snprintf(err, errlen, "more than %u networks",
				 RC_CIDR_MAX);
			return -1;
		}
		if (parse_one(tok, &l->e[l->n], err, errlen) != 0)
			return -1;
		l->n++;
	}
	return 0;
}

int rc_rate_rules_parse(struct rc_rate_rules *rr, const char *s, char *err,
			size_t errlen)
{
	char tok[96];

	rr->n = 0;
	while (next_token(&s, tok, sizeof(tok))) {
		struct rc_rate_rule *r = &rr->r[rr->n];
		char *eq = strchr(tok, '='), *end;

		if (rr->n == RC_RATE_RULES_MAX) {
			snprintf(err, errlen, "more than %u rate rules",
				 RC_RATE_RULES_MAX);
			return -1;
		}
		if (!eq) {
			snprintf(err, errlen, "rate rule '%s': expected "
				 "cidr=rate[/burst]", tok);
			return -1;
		}
		*eq = '\0';
		if (parse_one(tok, &r->net, err, errlen) != 0)
			return -1;
		r->rate = strtoull(eq + 1, &end, 10);
		r->burst = r->rate / 10 ? r->rate / 10 : 1;
		if (*end == '/')
			r->burst = strtoull(end + 1, &end, 10);
		/* The burst bound keeps interval * burst far from overflow. */
		if (end == eq + 1 || *end || r->rate == 0 || r->burst == 0 ||
		    r->rate > 1000000000ull || r->burst > 60 * r->rate) {
			snprintf(err, errlen, "rate rule '%s=%s': rate must "
				 "be 1 .. 10^9 operations/s and burst 1 .. 60 "
				 "seconds' worth", tok, eq + 1);
			return -1;
		}
		rr->n++;
	}
	return 0;
}

struct bucket {
	uint64_t tat;      /* theoretical arrival time: ticks */
	uint32_t key;      /* client network */
	uint16_t rule;     /* rule index + 1; 0 = empty */
};

struct rule_rt {
	uint32_t mask;     /* the rule's network or the client network,
			    * whichever is narrower */
	uint64_t interval; /* ticks one operation costs */
	uint64_t burst;
	uint64_t tolerance;
};

struct rc_ratelimit {
	const struct rc_rate_rules *rules;
	struct rule_rt rt[RC_RATE_RULES_MAX];
	uint32_t set_mask;
	struct rc_ratelimit_stats st;
	struct bucket b[];
};

struct rc_ratelimit *rc_ratelimit_create(const struct rc_ratelimit_config *c)
{
	uint32_t sets = 1;
	struct rc_ratelimit *rl;
	unsigned share = c->share ? c->share : 1;

	if (!c->rules || c->network_prefix > 32 || !c->hz)
		return NULL;
	while (sets * WAYS < c->max_networks && sets < (1u << 24))
		sets <<= 1;
	rl = calloc(1, sizeof(*rl) + (size_t)sets * WAYS * sizeof(rl->b[0]));
	if (!rl)
		return NULL;
	rl->rules = c->rules;
	rl->set_mask = sets - 1;
	for (unsigned i = 0; i < c->rules->n; i++) {
		const struct rc_rate_rule *r = &c->rules->r[i];
		struct rule_rt *t = &rl->rt[i];
		unsigned len = r->net.len > c->network_prefix
				       ? r->net.len : c->network_prefix;

		t->mask = prefix_mask(len);
		/* Each of `share` workers sees about 1/share of a client's
		 * operations (keys spread over partitions). */
		t->interval = c->hz * share / r->rate;
		if (!t->interval)
			t->interval = 1;
		t->burst = r->burst / share ? r->burst / share : 1;
		t->tolerance = t->interval * t->burst;
	}
	return rl;
}

void rc_ratelimit_destroy(struct rc_ratelimit *rl)
{
	free(rl);
}

/* The most specific rule covering ip, or -1. */
static int rule_of(const struct rc_rate_rules *rr, uint32_t ip)
{
	int best = -1;

	for (unsigned i = 0; i < rr->n; i++)
		if ((ip & rr->r[i].net.mask) == rr->r[i].net.net &&
		    (best < 0 || rr->r[i].net.len > rr->r[best].net.len))
			best = (int)i;
	return best;
}

bool rc_ratelimit_admit(struct rc_ratelimit *rl, uint32_t src, unsigned ops,
			uint64_t now)
{
	int ri = rule_of(rl->rules, src);
	const struct rule_rt *t;
	struct bucket *set, *b = NULL, *idlest;
	uint32_t key, h;
	uint64_t cost, tat;

	if (ri < 0)
		return true;
	t = &rl->rt[ri];
	key = src & t->mask;
	h = ((key * 0x9E3779B1u) ^ (uint32_t)ri) & rl->set_mask;
	set = &rl->b[(size_t)h * WAYS];
	idlest = &set[0];
	for (unsigned w = 0; w < WAYS; w++) {
		if (set[w].rule == ri + 1 && set[w].key == key) {
			b = &set[w];
			break;
		}
		if (set[w].rule == 0 ||
		    (idlest->rule != 0 && set[w].tat < idlest->tat))
			idlest = &set[w];
	}
	if (!b) {
		/* A bucket whose tat has passed is full: reusing it loses
		 * nothing. Reusing a busy one lets its network start over. */
		if (idlest->rule != 0 && idlest->tat > now)
			rl->st.reused++;
		b = idlest;
		b->key = key;
		b->rule = (uint16_t)(ri + 1);
		b->tat = now;
	}
	/* Every op costs one token. A request of more ops than the burst
	 * is admitted only on a full bucket and leaves it in debt for the
	 * rest, so no request size gets more than the rate over time. */
	cost = ops;
	if (cost <= t->burst) {
		tat = (b->tat > now ? b->tat : now) + cost * t->interval;
		if (tat - now > t->tolerance) {
			rl->st.throttled += ops;
			return false;
		}
	} else {
		if (b->tat > now) {
			rl->st.throttled += ops;
			return false;
		}
		tat = now + cost * t->interval;
	}
	b->tat = tat;
	rl->st.admitted += ops;
	return true;
}

void rc_ratelimit_get_stats(const struct rc_ratelimit *rl,
			    struct rc_ratelimit_stats *st)
{
	*st = rl->st;
}

void rc_ratelimit_stats_add(struct rc_ratelimit_stats *acc,
			    const struct rc_ratelimit_stats *st)
{
	acc->admitted += st->admitted;
	acc->throttled += st->throttled;
	acc->reused += st->reused;
}
