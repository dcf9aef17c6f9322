/* SPDX-License-Identifier: MIT
 * Scaling multipliers: the calendar rules of the config, the utilisation
 * rule, the operator override and the hard cap, combined into one memory
 * budget with a reason an operator can read. Pure functions of their
 * inputs (local time is passed in), so tests inject the clock. No DPDK.
 *
 * Rule syntax (rules separated by ';'):
 *   NAME: WHEN [WHEN...] xFACTOR [ttl xFACTOR] [stale] [readonly]
 * WHEN is a day (mon..sun) or month (jan..dec), or a range of either
 * (fri-sun, may-oct, nov-feb wraps). Days and months of a rule must all
 * match; several days (or months) in one rule are alternatives. */
#ifndef RC_SCHED_H
#define RC_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RC_SCHED_MAX_RULES 16u
#define RC_SCHED_NAME_MAX 32u
#define RC_SCHED_REASON_MAX 512u

struct rc_sched_rule {
	char name[RC_SCHED_NAME_MAX];
	char when[64];               /* as written, for reasons */
	uint8_t days;                /* bit d: tm_wday d (0 = Sunday); 0: any */
	uint16_t months;             /* bit m: tm_mon m (0 = January); 0: any */
	double factor;               /* memory */
	double ttl;                  /* TTLs of new items */
	bool stale, readonly;        /* Saturday protection modes */
};

struct rc_sched {
	unsigned n;
	struct rc_sched_rule r[RC_SCHED_MAX_RULES];
};

/* @return 0, or -EINVAL with err naming the rule and the problem. */
int rc_sched_parse(const char *s, struct rc_sched *out, char *err,
		   size_t errlen);

/* What the calendar asks for at one local time. */
struct rc_sched_eval {
	double factor;               /* product of the matching rules' */
	double ttl;                  /* product of their TTL factors */
	bool stale, readonly;        /* any matching rule asks for it */
	unsigned n_match;
	char reason[RC_SCHED_REASON_MAX];
};

void rc_sched_eval(const struct rc_sched *s, const struct tm *local,
		   struct rc_sched_eval *out);

/* Memory budget from base, calendar, override, utilisation and cap. */
struct rc_scale_config {
	uint64_t base;               /* store.memory */
	uint64_t cap;                /* store.memory_cap: never above */
	double max_factor;           /* calendar/override factor bound */
	double util_high, util_low;  /* grow above, shrink back below */
	double util_step;            /* boost change per evaluation */
};

struct rc_scale {
	double boost;                /* from the utilisation rule, >= 1 */
	/* outputs of the last rc_scale_eval */
	double factor;               /* calendar or override, bounded */
	double effective;            /* budget / base */
	uint64_t budget;
	bool capped;
	char source[16];             /* "calendar", "override", "none" */
	char reason[RC_SCHED_REASON_MAX];
};

/* One evaluation: override > 0 replaces the calendar's factor; util is
 * the fraction of the current budget in use (< 0: unknown, no change to
 * the boost). Updates s->boost and the outputs. */
void rc_scale_eval(const struct rc_scale_config *c, struct rc_scale *s,
		   const struct rc_sched_eval *cal, double override,
		   double util);

#endif
