/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_sched.h"

static const char *const day_names[7] = {"sun", "mon", "tue", "wed",
					 "thu", "fri", "sat"};
static const char *const month_names[12] = {"jan", "feb", "mar", "apr",
					    "may", "jun", "jul", "aug",
					    "sep", "oct", "nov", "dec"};

static int lookup(const char *w, size_t n, const char *const *names,
		  unsigned count)
{
	if (n != 3)
		return -1;
	for (unsigned i = 0; i < count; i++)
		if (strncasecmp(w, names[i], 3) == 0)
			return (int)i;
	return -1;
}

/* Bits a..b inclusive, wrapping past count. */
static uint32_t span(int a, int b, unsigned count)
{
	uint32_t m = 0;

	for (int i = a;; i = (i + 1) % (int)count) {
		m |= 1u << i;
		if (i == b)
			break;
	}
	return m;
}

/* One WHEN word: day or month, single or a-b. */
static int parse_when(const char *w, size_t n, struct rc_sched_rule *r)
{
	const char *dash = memchr(w, '-', n);
	size_t n1 = dash ? (size_t)(dash - w) : n;
	int a, b;

	if ((a = lookup(w, n1, day_names, 7)) >= 0) {
		b = dash ? lookup(dash + 1, n - n1 - 1, day_names, 7) : a;
		if (b < 0)
			return -1;
		r->days |= (uint8_t)span(a, b, 7);
		return 0;
	}
	if ((a = lookup(w, n1, month_names, 12)) >= 0) {
		b = dash ? lookup(dash + 1, n - n1 - 1, month_names, 12) : a;
		if (b < 0)
			return -1;
		r->months |= (uint16_t)span(a, b, 12);
		return 0;
	}
	return -1;
}

static int parse_factor(const char *w, size_t n, double *out)
{
	char buf[32], *end;

	if (n < 2 || n >= sizeof(buf) || (w[0] != 'x' && w[0] != 'X'))
		return -1;
	memcpy(buf, w + 1, n - 1);
	buf[n - 1] = '\0';
	*out = strtod(buf, &end);
	return *end == '\0' && *out > 0 && *out <= 100 ? 0 : -1;
}

static int parse_rule(const char *s, size_t len, struct rc_sched_rule *r,
		      char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', len), *p, *end = s + len;
	size_t nl;
	bool want_ttl = false, have_factor = false;

	memset(r, 0, sizeof(*r));
	r->factor = r->ttl = 1.0;
	while (s < end && isspace((unsigned char)*s))
		s++;
	if (!colon || colon <= s) {
		snprintf(err, errlen, "rule '%.*s': want NAME: WHEN... xFACTOR",
			 (int)len, s);
		return -EINVAL;
	}
	nl = (size_t)(colon - s);
	while (nl && isspace((unsigned char)s[nl - 1]))
		nl--;
	if (nl == 0 || nl >= RC_SCHED_NAME_MAX) {
		snprintf(err, errlen, "rule '%.*s': name empty or over %u "
			 "bytes", (int)len, s, RC_SCHED_NAME_MAX - 1);
		return -EINVAL;
	}
	memcpy(r->name, s, nl);
	for (p = colon + 1; p < end;) {
		const char *w;
		size_t n;

		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end)
			break;
		w = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		n = (size_t)(p - w);
		if (want_ttl) {
			if (parse_factor(w, n, &r->ttl) != 0)
				goto bad;
			want_ttl = false;
		} else if (n == 3 && strncasecmp(w, "ttl", 3) == 0) {
			want_ttl = true;
		} else if (n == 5 && strncasecmp(w, "stale", 5) == 0) {
			r->stale = true;
		} else if (n == 8 && strncasecmp(w, "readonly", 8) == 0) {
			r->readonly = true;
		} else if (w[0] == 'x' || w[0] == 'X') {
			if (parse_factor(w, n, &r->factor) != 0)
				goto bad;
			have_factor = true;
		} else if (parse_when(w, n, r) == 0) {
			size_t l = strlen(r->when);

			snprintf(r->when + l, sizeof(r->when) - l, "%s%.*s",
				 l ? " " : "", (int)n, w);
		} else {
		bad:
			snprintf(err, errlen, "rule '%s': cannot read '%.*s' "
				 "(want a day mon..sun, a month jan..dec, a "
				 "range a-b, xFACTOR, ttl xFACTOR, stale or "
				 "readonly)", r->name, (int)n, w);
			return -EINVAL;
		}
	}
	if (want_ttl || (!r->days && !r->months)) {
		snprintf(err, errlen, "rule '%s': %s", r->name,
			 want_ttl ? "'ttl' needs a factor (ttl x2.0)"
				  : "names no day or month");
		return -EINVAL;
	}
	if (!have_factor && r->ttl == 1.0 && !r->stale && !r->readonly) {
		snprintf(err, errlen, "rule '%s' changes nothing", r->name);
		return -EINVAL;
	}
	return 0;
}

int rc_sched_parse(const char *s, struct rc_sched *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof(*out));
	while (*s) {
		const char *semi = strchr(s, ';');
		size_t len = semi ? (size_t)(semi - s) : strlen(s);
		size_t k = 0;

		while (k < len && isspace((unsigned char)s[k]))
			k++;
		if (k < len) {
			if (out->n == RC_SCHED_MAX_RULES) {
				snprintf(err, errlen, "more than %u rules",
					 RC_SCHED_MAX_RULES);
				return -EINVAL;
			}
			if (parse_rule(s, len, &out->r[out->n], err,
				       errlen) != 0)
				return -EINVAL;
			for (unsigned i = 0; i < out->n; i++)
				if (strcmp(out->r[i].name,
					   out->r[out->n].name) == 0) {
					snprintf(err, errlen, "rule name '%s' "
						 "used twice", out->r[i].name);
					return -EINVAL;
				}
			out->n++;
		}
		s += len + (semi ? 1 : 0);
	}
	return 0;
}

void rc_sched_eval(const struct rc_sched *s, const struct tm *t,
		   struct rc_sched_eval *out)
{
	size_t l = 0;

	memset(out, 0, sizeof(*out));
	out->factor = out->ttl = 1.0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct rc_sched_rule *r = &s->r[i];

		if ((r->days && !(r->days & (1u << t->tm_wday))) ||
		    (r->months && !(r->months & (1u << t->tm_mon))))
			continue;
		out->factor *= r->factor;
		out->ttl *= r->ttl;
		out->stale |= r->stale;
		out->readonly |= r->readonly;
		out->n_match++;
		if (l < sizeof(out->reason))
			l += (size_t)snprintf(out->reason + l,
					      sizeof(out->reason) - l,
					      "%s%s (%s) x%.2f", l ? ", " : "",
					      r->name, r->when, r->factor);
	}
	if (out->n_match == 0)
		snprintf(out->reason, sizeof(out->reason), "no calendar rule "
			 "matches");
}

void rc_scale_eval(const struct rc_scale_config *c, struct rc_scale *s,
		   const struct rc_sched_eval *cal, double override,
		   double util)
{
	double f, want, room;
	size_t l;

	if (s->boost < 1.0)
		s->boost = 1.0;
	if (override > 0) {
		f = override;
		snprintf(s->source, sizeof(s->source), "override");
		l = (size_t)snprintf(s->reason, sizeof(s->reason),
				     "operator override x%.2f", override);
	} else {
		f = cal->factor;
		snprintf(s->source, sizeof(s->source), "%s",
			 cal->n_match ? "calendar" : "none");
		l = (size_t)snprintf(s->reason, sizeof(s->reason), "%s",
				     cal->reason);
	}
	if (f > c->max_factor) {
		f = c->max_factor;
		l += (size_t)snprintf(s->reason + l, sizeof(s->reason) - l,
				      "; bounded to scaling.max_factor x%.2f",
				      c->max_factor);
	}
	s->factor = f;
	/* The utilisation rule grows the budget in steps while more than
	 * util_high of it is used, and gives steps back below util_low. It
	 * never winds up past what the cap allows. */
	if (util >= 0 && util > c->util_high)
		s->boost += c->util_step;
	else if (util >= 0 && util < c->util_low && s->boost > 1.0)
		s->boost -= c->util_step;
	if (s->boost < 1.0)
		s->boost = 1.0;
	room = (double)c->cap / ((double)c->base * f);
	if (s->boost > room)
		s->boost = room < 1.0 ? 1.0 : room;
	if (s->boost > 1.0 && l < sizeof(s->reason))
		l += (size_t)snprintf(s->reason + l, sizeof(s->reason) - l,
				      "; utilisation over %.0f%%: x%.2f",
				      c->util_high * 100, s->boost);
	want = (double)c->base * f * s->boost;
	s->capped = want > (double)c->cap;
	s->budget = s->capped ? c->cap : (uint64_t)want;
	if (s->capped && l < sizeof(s->reason))
		snprintf(s->reason + l, sizeof(s->reason) - l,
			 "; capped at store.memory_cap");
	s->effective = (double)s->budget / (double)c->base;
}
