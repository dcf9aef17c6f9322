/* SPDX-License-Identifier: MIT
 * Alert levels with hysteresis. A watched value is compared with three
 * thresholds (warning, critical, emergency). A worse level is taken at
 * once; a better one only after the value has stayed past the lower
 * level's threshold by a margin for clear_after evaluations, so a value
 * hovering at a threshold does not flap. No DPDK, no clock: the caller
 * evaluates (once a second) and gets told when the level changes. */
#ifndef RC_ALERT_H
#define RC_ALERT_H

#include <stdbool.h>
#include <stddef.h>

enum rc_alert_level {
	RC_ALERT_OK = 0,
	RC_ALERT_WARNING,
	RC_ALERT_CRITICAL,
	RC_ALERT_EMERGENCY,
	RC_ALERT__COUNT
};

struct rc_alert {
	const char *name;            /* "latency", "hit_rate", "memory" */
	bool higher_is_worse;        /* latency, memory: yes; hit rate: no */
	double thr[3];               /* warning, critical, emergency */
	double margin;               /* e.g. 0.1: clear only 10% past (see
				      * scale) */
	double scale;                /* lower-is-worse values on a 0..scale
				      * range (hit rate: 100): the margin is
				      * of the gap to scale (the miss rate),
				      * not of the threshold */
	unsigned clear_after;        /* evaluations a better level must hold */
	/* state */
	enum rc_alert_level level;
	enum rc_alert_level pending; /* better level being waited for */
	unsigned held;               /* evaluations it has held */
	double value;                /* last value evaluated */
	bool known;                  /* last value was defined */
};

/* "a,b,c": three thresholds, ordered from warning to emergency (rising
 * for higher_is_worse, falling otherwise). @return 0 or -EINVAL. */
int rc_alert_parse_thresholds(const char *s, bool higher_is_worse,
			      double thr[3], char *err, size_t errlen);

/* Feed one value; known = false means "no data" (e.g. no GETs in the
 * window), which holds the level where it is.
 * @return true when the level changed (a->level is the new one, prev the
 *         old one). */
bool rc_alert_eval(struct rc_alert *a, double value, bool known,
		   enum rc_alert_level *prev);

const char *rc_alert_level_name(enum rc_alert_level l);

#endif
