/* SPDX-License-Identifier: MIT
 * Publishing an immutable object to one polling reader without a lock on
 * the reader's path (a config reload handing new tables to a worker).
 *
 * The writer (the control core) stores a new pointer and bumps a
 * generation. The reader (a worker lcore) looks once a loop turn, at a
 * point where it holds nothing of the old object; when it has switched
 * it stores the generation it took. The writer frees a replaced object
 * only once the reader's generation has passed the one that replaced it,
 * so nothing a worker may still read is ever freed. This is the grace
 * period of DPDK's rte_rcu_qsbr cut down to one reader per slot, with
 * the compiler's __atomic builtins and no EAL, so that it is tested on
 * plain threads.
 *
 * A reader that stops turning keeps the writer's replaced objects: they
 * wait in a bounded list, and publishing into a full list fails instead
 * of growing it. No DPDK here. */
#ifndef RC_PUB_H
#define RC_PUB_H

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#define RC_PUB_RETIRED 8u  /* replaced objects a slow reader may hold up */

struct rc_pub {
	/* Written by the writer, read by the reader. */
	void *obj;
	uint64_t gen;        /* of obj: 1, 2, ... */
	/* The reader's own line: the generation it has switched to (written
	 * by it, read by the writer), its object and generation. */
	alignas(64) uint64_t seen;
	void *cur;
	uint64_t cur_gen;
	/* The writer's own: replaced objects and the generation that
	 * replaced each (freeable once seen reaches it). */
	alignas(64) unsigned n_retired;
	struct {
		void *obj;
		uint64_t gen;
	} retired[RC_PUB_RETIRED];
};

/* Set the slot up holding first, before the reader starts. */
void rc_pub_init(struct rc_pub *p, void *first);

/* Reader, once a loop turn: the object published since its last look,
 * or NULL when there is none. The reader may go on using its previous
 * object until it calls rc_pub_done. */
static inline void *rc_pub_fresh(struct rc_pub *p)
{
	uint64_t g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
	void *o;

	if (__builtin_expect(g == p->cur_gen, 1))
		return NULL;
	p->cur_gen = g;
	/* obj may already be newer than g: then the next look finds the
	 * same object under a higher generation, and only acknowledges. */
	o = __atomic_load_n(&p->obj, __ATOMIC_ACQUIRE);
	if (o == p->cur) {
		__atomic_store_n(&p->seen, g, __ATOMIC_RELEASE);
		return NULL;
	}
	p->cur = o;
	return o;
}

/* Reader: it holds nothing of the object it used before the last
 * rc_pub_fresh that returned one (the release orders every read of it
 * before the writer may free it). */
static inline void rc_pub_done(struct rc_pub *p)
{
	__atomic_store_n(&p->seen, p->cur_gen, __ATOMIC_RELEASE);
}

/* Writer: may a new object be published now (room to retire the
 * current one)? Check every slot first when several must change
 * together. */
bool rc_pub_room(const struct rc_pub *p);

/* Writer: publish obj; the current one is retired.
 * @return 0, or -EBUSY when RC_PUB_RETIRED replaced objects still wait
 *         for the reader (nothing changed). */
int rc_pub_publish(struct rc_pub *p, void *obj);

/* Writer: hand every retired object the reader has moved past to
 * release(obj, arg), which frees it.
 * @return retired objects still waiting. */
unsigned rc_pub_reclaim(struct rc_pub *p, void (*release)(void *, void *),
			void *arg);

/* Writer: has the reader switched to the latest object? */
bool rc_pub_settled(const struct rc_pub *p);

/* Writer: the latest object published (or given to rc_pub_init). */
void *rc_pub_latest(const struct rc_pub *p);

/* Once the reader has stopped for good: release every object the slot
 * still holds, the latest included. */
void rc_pub_teardown(struct rc_pub *p, void (*release)(void *, void *),
		     void *arg);

#endif
