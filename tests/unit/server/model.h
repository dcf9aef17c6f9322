/* SPDX-License-Identifier: MIT
 * A reference model of the cache's semantics and a checker that drives
 * the worker's real frame path (rcd_worker_burst: classify, batched GETs,
 * execute, reply pieces, reply in place, TX) against a real partition,
 * with whole request datagrams made from a stream of random choices, and
 * compares every reply with the model.
 *
 * The choices come from a seeded generator (test_model.c: millions of
 * steps per run, the failing seed printed) or from fuzz input
 * (tests/fuzz/fuzz_model.c). Time is injected: the store's clock (whole
 * seconds) moves only when the stream says so.
 *
 * Allowed divergences from the model, and nothing else:
 *  - a GET, DELETE, TOUCH or CAS SET misses a key the model holds only if
 *    the partition evicted something since that key was last written
 *    (memory or index pressure; a budget shrink);
 *  - an item's CAS may change without a write only if compaction moved
 *    items since the CAS was learnt; a CAS op with the old one may then
 *    answer EXISTS;
 *  - an expired item may be answered STALE, with its last value, while
 *    within the serve-stale grace; otherwise it is a miss;
 *  - a GET in a multi-op request answers OVERFLOW exactly when its value
 *    and a bare answer to every later op would not fit one datagram.
 * Never: a value the model does not hold, a value after its DELETE or
 * expiry, a wrong CAS, flags or class, a lost reply, NO_MEMORY. */
#ifndef RC_TEST_MODEL_H
#define RC_TEST_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where choices come from: bytes (fuzzing; zeros once they run out) or
 * a xorshift generator seeded with seed. */
struct mc_src {
	const uint8_t *p;
	size_t n, off;
	uint64_t x;
};

void mc_src_seed(struct mc_src *s, uint64_t seed);
void mc_src_bytes(struct mc_src *s, const uint8_t *p, size_t n);

/* Start EAL (once per process) and make the node: the daemon's default
 * config, one partition, on a ring-backed port whose TX the checker
 * reads. @return 0, or -1 with a message on stderr. */
int mc_setup(void);

/* Begin a scenario: an empty partition (memory chosen by src: roomy, or
 * small enough to evict), an empty model, the clock at 1, modes off. */
void mc_begin(struct mc_src *src);

/* Run up to steps bursts of requests. @return 0 when every reply matched
 * the model; -1 at the first divergence, described in err. */
int mc_run(struct mc_src *src, unsigned steps, char *err, size_t errlen);

/* What a run covered (summed over scenarios). */
struct mc_counts {
	uint64_t bursts, requests, ops, hits, misses, stale, overflow;
	uint64_t evicted_misses, cas_moved, flushes, budget_changes;
};
void mc_get_counts(struct mc_counts *c);

#endif
