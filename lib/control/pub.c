/* SPDX-License-Identifier: MIT
 * The writer's side of rc_pub: publish, retire, reclaim. One writer per
 * slot; the reader's side is inline in rc_pub.h. */
#include <errno.h>
#include <string.h>

#include "rc_pub.h"

void rc_pub_init(struct rc_pub *p, void *first)
{
	memset(p, 0, sizeof(*p));
	p->obj = first;
	p->gen = 1;
	p->seen = 1;
	p->cur = first;
	p->cur_gen = 1;
}

bool rc_pub_room(const struct rc_pub *p)
{
	return p->n_retired < RC_PUB_RETIRED;
}

int rc_pub_publish(struct rc_pub *p, void *obj)
{
	uint64_t g = __atomic_load_n(&p->gen, __ATOMIC_RELAXED) + 1;

	if (!rc_pub_room(p))
		return -EBUSY;
	/* The replaced object is free once the reader has seen g. */
	p->retired[p->n_retired].obj =
		__atomic_load_n(&p->obj, __ATOMIC_RELAXED);
	p->retired[p->n_retired].gen = g;
	p->n_retired++;
	/* obj before gen: a reader that sees g finds obj or a later one. */
	__atomic_store_n(&p->obj, obj, __ATOMIC_RELEASE);
	__atomic_store_n(&p->gen, g, __ATOMIC_RELEASE);
	return 0;
}

unsigned rc_pub_reclaim(struct rc_pub *p, void (*release)(void *, void *),
			void *arg)
{
	uint64_t seen = __atomic_load_n(&p->seen, __ATOMIC_ACQUIRE);
	unsigned keep = 0;

	for (unsigned i = 0; i < p->n_retired; i++) {
		if (p->retired[i].gen <= seen)
			release(p->retired[i].obj, arg);
		else
			p->retired[keep++] = p->retired[i];
	}
	p->n_retired = keep;
	return keep;
}

bool rc_pub_settled(const struct rc_pub *p)
{
	return __atomic_load_n(&p->seen, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&p->gen, __ATOMIC_RELAXED);
}

void *rc_pub_latest(const struct rc_pub *p)
{
	return __atomic_load_n(&p->obj, __ATOMIC_RELAXED);
}

void rc_pub_teardown(struct rc_pub *p, void (*release)(void *, void *),
		     void *arg)
{
	void *last = rc_pub_latest(p);

	for (unsigned i = 0; i < p->n_retired; i++)
		release(p->retired[i].obj, arg);
	p->n_retired = 0;
	if (last)
		release(last, arg);
	__atomic_store_n(&p->obj, NULL, __ATOMIC_RELAXED);
}
