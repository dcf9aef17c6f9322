/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_jsonq.h"

struct job {
	struct job *next;
	bool print;
	json_t *(*build)(void *);
	void *arg;
	char *line;
	size_t len;
	struct rc_jsonq_done d;
};

struct rc_jsonq {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct job *todo, **todo_tail;   /* given, not started */
	struct job *done, **done_tail;   /* finished, not taken */
	/* The caller's side, never under mu: jobs not handed over yet
	 * (the thread held mu), and the count given and not taken. */
	struct job *out, **out_tail;
	unsigned in_flight;
};

static void job_free(struct job *j)
{
	if (j->build) /* never ran: fn owns arg */
		json_decref(j->build(j->arg));
	free(j->line);
	json_decref(j->d.json);
	free(j->d.text);
	free(j);
}

static void run(struct job *j)
{
	if (j->build) {
		j->d.json = j->build(j->arg);
		j->build = NULL;
	}
	if (j->print) {
		j->d.text = j->d.json ? json_dumps(j->d.json, JSON_COMPACT)
				      : NULL;
		json_decref(j->d.json);
		j->d.json = NULL;
	} else {
		json_error_t je;

		j->d.json = json_loadb(j->line, j->len, 0, &je);
		if (!j->d.json)
			snprintf(j->d.err, sizeof(j->d.err), "%s", je.text);
		free(j->line);
		j->line = NULL;
	}
}

static void *thread_main(void *arg)
{
	struct rc_jsonq *q = arg;
	/* Below the control loop on the control core's CPU (it inherits
	 * its affinity), but never starved: the loop never waits for it
	 * (it only ever tries mu). */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5);

	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct job *j;

		while (!q->todo && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop)
			break;
		j = q->todo;
		q->todo = j->next;
		if (!q->todo)
			q->todo_tail = &q->todo;
		pthread_mutex_unlock(&q->mu);
		j->next = NULL;
		run(j);
		pthread_mutex_lock(&q->mu);
		*q->done_tail = j;
		q->done_tail = &j->next;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

struct rc_jsonq *rc_jsonq_create(void)
{
	struct rc_jsonq *q = calloc(1, sizeof(*q));
	int e;

	if (!q)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->todo_tail = &q->todo;
	q->done_tail = &q->done;
	q->out_tail = &q->out;
	e = pthread_create(&q->th, NULL, thread_main, q);
	if (e) {
		free(q);
		errno = e;
		return NULL;
	}
	pthread_setname_np(q->th, "rc-ctl-json");
	return q;
}

static void drain(struct job *j)
{
	while (j) {
		struct job *n = j->next;

		job_free(j);
		j = n;
	}
}

void rc_jsonq_destroy(struct rc_jsonq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	drain(q->todo);
	drain(q->done);
	drain(q->out);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

/* Hand what the caller holds to the thread, if mu is free now. */
static void hand_over(struct rc_jsonq *q)
{
	if (!q->out || pthread_mutex_trylock(&q->mu) != 0)
		return;
	*q->todo_tail = q->out;
	q->todo_tail = q->out_tail;
	q->out = NULL;
	q->out_tail = &q->out;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void give(struct rc_jsonq *q, struct job *j)
{
	*q->out_tail = j;
	q->out_tail = &j->next;
	q->in_flight++;
	hand_over(q);
}

int rc_jsonq_parse(struct rc_jsonq *q, uint64_t tag, const char *line,
		   size_t len)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j)
		j->line = malloc(len ? len : 1);
	if (!j || !j->line) {
		free(j);
		return -ENOMEM;
	}
	memcpy(j->line, line, len);
	j->len = len;
	j->d.tag = tag;
	give(q, j);
	return 0;
}

int rc_jsonq_print(struct rc_jsonq *q, uint64_t tag, json_t *v)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->print = true;
	j->d.printed = 1;
	j->d.json = v;
	j->d.tag = tag;
	give(q, j);
	return 0;
}

int rc_jsonq_build(struct rc_jsonq *q, uint64_t tag, json_t *(*fn)(void *),
		   void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->print = true;
	j->d.printed = 1;
	j->build = fn;
	j->arg = arg;
	j->d.tag = tag;
	give(q, j);
	return 0;
}

int rc_jsonq_take(struct rc_jsonq *q, struct rc_jsonq_done *d)
{
	struct job *j;

	hand_over(q);
	if (pthread_mutex_trylock(&q->mu) != 0)
		return 0; /* the thread has it: next time */
	j = q->done;
	if (j) {
		q->done = j->next;
		if (!q->done)
			q->done_tail = &q->done;
	}
	pthread_mutex_unlock(&q->mu);
	if (!j)
		return 0;
	q->in_flight--;
	*d = j->d;
	j->d.json = NULL;
	j->d.text = NULL;
	job_free(j);
	return 1;
}

unsigned rc_jsonq_in_flight(const struct rc_jsonq *q)
{
	return q->in_flight;
}
