/* SPDX-License-Identifier: MIT
 * rc_pub: the writer's bookkeeping one step at a time (what is retired,
 * when it is freed, the bound on a reader that does not turn), then a
 * reader thread against a writer that poisons and frees every object it
 * reclaims: a reader that ever sees a poisoned object (or, under ASan,
 * touches a freed one) fails the test. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc_cunit.h"
#include "rc_pub.h"

#define LIVE 0x5eedf00du
#define DEAD 0xdeadbeefu

struct obj {
	uint32_t magic;
	uint64_t seq;
	uint64_t body[8];            /* every word = seq */
};

static unsigned n_released;

static struct obj *obj_new(uint64_t seq)
{
	struct obj *o = malloc(sizeof(*o));

	o->magic = LIVE;
	o->seq = seq;
	for (unsigned i = 0; i < 8; i++)
		o->body[i] = seq;
	return o;
}

static void release(void *p, void *arg)
{
	struct obj *o = p;

	(void)arg;
	o->magic = DEAD;
	n_released++;
	free(o);
}

static void test_steps(void)
{
	struct rc_pub p;
	struct obj *a = obj_new(1), *b = obj_new(2), *c = obj_new(3);
	struct obj *d = obj_new(4);

	n_released = 0;
	rc_pub_init(&p, a);
	CU_ASSERT_TRUE(rc_pub_settled(&p));
	CU_ASSERT_PTR_NULL(rc_pub_fresh(&p));   /* nothing new yet */
	CU_ASSERT_EQUAL(rc_pub_publish(&p, b), 0);
	CU_ASSERT_FALSE(rc_pub_settled(&p));
	CU_ASSERT_PTR_EQUAL(rc_pub_latest(&p), b);
	/* The reader has not looked: a is still its own. */
	CU_ASSERT_EQUAL(rc_pub_reclaim(&p, release, NULL), 1);
	CU_ASSERT_EQUAL(n_released, 0);
	CU_ASSERT_PTR_EQUAL(rc_pub_fresh(&p), b);
	/* Looked but not done: a may still be in use. */
	CU_ASSERT_EQUAL(rc_pub_reclaim(&p, release, NULL), 1);
	CU_ASSERT_EQUAL(n_released, 0);
	rc_pub_done(&p);
	CU_ASSERT_TRUE(rc_pub_settled(&p));
	CU_ASSERT_EQUAL(rc_pub_reclaim(&p, release, NULL), 0);
	CU_ASSERT_EQUAL(n_released, 1);
	CU_ASSERT_PTR_NULL(rc_pub_fresh(&p));
	/* Two publications before the reader looks: it goes straight to
	 * the newest, and both replaced objects are freed together. */
	CU_ASSERT_EQUAL(rc_pub_publish(&p, c), 0);
	CU_ASSERT_EQUAL(rc_pub_publish(&p, d), 0);
	CU_ASSERT_PTR_EQUAL(rc_pub_fresh(&p), d);
	rc_pub_done(&p);
	CU_ASSERT_EQUAL(rc_pub_reclaim(&p, release, NULL), 0);
	CU_ASSERT_EQUAL(n_released, 3);
	rc_pub_teardown(&p, release, NULL);
	CU_ASSERT_EQUAL(n_released, 4);
}

/* A reader that never turns holds up at most RC_PUB_RETIRED objects;
 * the next publication is refused and changes nothing. */
static void test_bound(void)
{
	struct rc_pub p;
	struct obj *extra = obj_new(99);

	n_released = 0;
	rc_pub_init(&p, obj_new(0));
	for (unsigned i = 1; i <= RC_PUB_RETIRED; i++) {
		CU_ASSERT_TRUE(rc_pub_room(&p));
		CU_ASSERT_EQUAL(rc_pub_publish(&p, obj_new(i)), 0);
	}
	CU_ASSERT_FALSE(rc_pub_room(&p));
	CU_ASSERT_EQUAL(rc_pub_publish(&p, extra), -EBUSY);
	CU_ASSERT_EQUAL(((struct obj *)rc_pub_latest(&p))->seq, RC_PUB_RETIRED);
	CU_ASSERT_EQUAL(rc_pub_reclaim(&p, release, NULL), RC_PUB_RETIRED);
	/* The reader turns once: everything but the latest goes. */
	CU_ASSERT_EQUAL(((struct obj *)rc_pub_fresh(&p))->seq, RC_PUB_RETIRED);
	rc_pub_done(&p);
	CU_ASSERT_EQUAL(rc_pub_reclaim(&p, release, NULL), 0);
	CU_ASSERT_EQUAL(n_released, RC_PUB_RETIRED);
	CU_ASSERT_TRUE(rc_pub_room(&p));
	rc_pub_teardown(&p, release, NULL);
	CU_ASSERT_EQUAL(n_released, RC_PUB_RETIRED + 1);
	free(extra);
}

/* ---- a reader thread against a freeing writer ---------------------------- */

#define ROUNDS 20000u

static struct rc_pub shared;
static int stop;
static uint64_t bad, switches;

static int check(const struct obj *o)
{
	if (o->magic != LIVE)
		return 1;
	for (unsigned i = 0; i < 8; i++)
		if (o->body[i] != o->seq)
			return 1;
	return 0;
}

static void *reader(void *arg)
{
	const struct obj *cur = arg;
	uint64_t last = cur->seq;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		const struct obj *o = rc_pub_fresh(&shared);

		if (o) {
			/* The old one is still ours until done: read it
			 * once more, as a worker carries counters over. */
			bad += check(cur);
			bad += o->seq <= last;
			last = o->seq;
			cur = o;
			switches++;
			rc_pub_done(&shared);
		}
		bad += check(cur);
	}
	/* One last look: it must end on the newest object. */
	if (rc_pub_fresh(&shared))
		rc_pub_done(&shared);
	return NULL;
}

static void test_threads(void)
{
	pthread_t t;
	struct obj *first = obj_new(0);

	n_released = 0;
	stop = 0;
	bad = switches = 0;
	rc_pub_init(&shared, first);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, reader, first), 0);
	for (uint64_t i = 1; i <= ROUNDS; i++) {
		struct obj *o = obj_new(i);

		/* A full list: the reader is behind (on a busy machine it
		 * may share this CPU); let it run. */
		while (rc_pub_publish(&shared, o) == -EBUSY) {
			rc_pub_reclaim(&shared, release, NULL);
			usleep(20);
		}
		rc_pub_reclaim(&shared, release, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_TRUE(switches > 0);
	CU_ASSERT_TRUE(rc_pub_settled(&shared));
	CU_ASSERT_EQUAL(rc_pub_reclaim(&shared, release, NULL), 0);
	CU_ASSERT_EQUAL(n_released, ROUNDS);
	CU_ASSERT_EQUAL(((struct obj *)rc_pub_latest(&shared))->seq, ROUNDS);
	rc_pub_teardown(&shared, release, NULL);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"publish, look, done, reclaim", test_steps},
		{"a reader that does not turn is bounded", test_bound},
		{"reader thread vs freeing writer", test_threads},
		{NULL, NULL},
	};

	return rc_test_run("pub", cases);
}
