/* SPDX-License-Identifier: MIT
 * JSON parsing and printing off the control loop: one thread that takes
 * jobs (parse this line, print this value) and hands back results, so
 * that a large request or answer (a warm record with a 1 MiB value, a
 * 1 MiB get) costs the control loop a copy, not tens of milliseconds of
 * jansson. Jobs finish in the order they were given. The caller polls
 * for results (rc_jsonq_take); nothing here calls back, and the caller
 * never waits: it only tries the lock it shares with the thread (what it
 * cannot hand over now goes at its next call). One caller thread. */
#ifndef RC_JSONQ_H
#define RC_JSONQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct rc_jsonq;

/* A finished job. Parse: json (NULL with err on a parse error). Print:
 * text (malloc'd, compact; NULL if out of memory). */
struct rc_jsonq_done {
	uint64_t tag;
	int printed;           /* a print job (else a parse) */
	json_t *json;
	char *text;
	char err[160];
};

/* Start the thread. @return NULL with errno set. */
struct rc_jsonq *rc_jsonq_create(void);

/* Stop the thread; unfinished and untaken results are freed. */
void rc_jsonq_destroy(struct rc_jsonq *q);

/* Parse len bytes of line (copied) as JSON, on the thread.
 * @return 0, or -ENOMEM. */
int rc_jsonq_parse(struct rc_jsonq *q, uint64_t tag, const char *line,
		   size_t len);

/* Print j compactly, on the thread; the reference is taken over on
 * success. @return 0, or -ENOMEM (j still the caller's). */
int rc_jsonq_print(struct rc_jsonq *q, uint64_t tag, json_t *j);

/* Build a value with fn(arg) on the thread, then print it as
 * rc_jsonq_print does (fn owns arg; a NULL value prints nothing and the
 * result has text NULL). @return 0, or -ENOMEM (fn not called). */
int rc_jsonq_build(struct rc_jsonq *q, uint64_t tag, json_t *(*fn)(void *),
		   void *arg);

/* The oldest finished job, if any: its results are the caller's. Also
 * hands over jobs given while the thread held the lock.
 * @return 1 with *d filled, 0 if none is finished (or the thread holds
 * the lock this instant). */
int rc_jsonq_take(struct rc_jsonq *q, struct rc_jsonq_done *d);

/* Jobs given and not taken yet. */
unsigned rc_jsonq_in_flight(const struct rc_jsonq *q);

#endif
