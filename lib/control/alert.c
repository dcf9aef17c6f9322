/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "rc_alert.h"

static const char *const level_names[] = {
	[RC_ALERT_OK] = "ok",
	[RC_ALERT_WARNING] = "warning",
	[RC_ALERT_CRITICAL] = "critical",
	[RC_ALERT_EMERGENCY] = "emergency",
};

const char *rc_alert_level_name(enum rc_alert_level l)
{
	return l < RC_ALERT__COUNT ? level_names[l] : "?";
}

int rc_alert_parse_thresholds(const char *s, bool higher_is_worse,
			      double thr[3], char *err, size_t errlen)
{
	const char *p = s;
	char *end;

	for (int i = 0; i < 3; i++) {
		thr[i] = strtod(p, &end);
		if (end == p || thr[i] < 0) {
			snprintf(err, errlen, "'%s': want three numbers "
				 "(warning, critical, emergency)", s);
			return -EINVAL;
		}
		while (*end == ' ')
			end++;
		if (i < 2 && *end != ',') {
			snprintf(err, errlen, "'%s': want three numbers "
				 "separated by commas", s);
			return -EINVAL;
		}
		p = i < 2 ? end + 1 : end;
	}
	if (*p != '\0') {
		snprintf(err, errlen, "'%s': trailing text after three "
			 "thresholds", s);
		return -EINVAL;
	}
	for (int i = 1; i < 3; i++)
		if (higher_is_worse ? thr[i] <= thr[i - 1]
				    : thr[i] >= thr[i - 1]) {
			snprintf(err, errlen, "'%s': thresholds must get "
				 "strictly %s from warning to emergency", s,
				 higher_is_worse ? "higher" : "lower");
			return -EINVAL;
		}
	return 0;
}

/* The level value v reaches, with every threshold moved by `slack` toward
 * the good side (slack 0: the plain thresholds). */
static enum rc_alert_level level_of(const struct rc_alert *a, double v,
				    double slack)
{
	enum rc_alert_level l = RC_ALERT_OK;

	for (int i = 0; i < 3; i++) {
		double t = a->higher_is_worse
				   ? a->thr[i] * (1 - slack)
			   : a->scale > 0
				   ? a->thr[i] + (a->scale - a->thr[i]) * slack
				   : a->thr[i] * (1 + slack);

		if (a->higher_is_worse ? v > t : v < t)
			l = (enum rc_alert_level)(i + 1);
	}
	return l;
}

bool rc_alert_eval(struct rc_alert *a, double value, bool known,
		   enum rc_alert_level *prev)
{
	enum rc_alert_level worse, better;

	a->known = known;
	if (!known)
		return false;
	a->value = value;
	*prev = a->level;
	worse = level_of(a, value, 0);
	if (worse > a->level) {
		a->level = worse;
		a->pending = worse;
		a->held = 0;
		return true;
	}
	/* Going down: only as far as the value clears with the margin,
	 * and only once that has held for clear_after evaluations. */
	better = level_of(a, value, a->margin);
	if (better >= a->level) {
		a->held = 0;
		return false;
	}
	/* The level to drop to is the worst seen while waiting. */
	if (a->held == 0 || better > a->pending)
		a->pending = better;
	if (++a->held < a->clear_after)
		return false;
	a->level = a->pending;
	a->held = 0;
	return true;
}
