/* SPDX-License-Identifier: MIT
 * The model checker (model.h) over many seeded scenarios. Any divergence
 * fails with its seed; rerun one with
 *   test_model --seed S [--scenarios 1] [--bursts N]
 * The defaults are what ./scripts/test runs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rc_cunit.h"

static uint64_t seed0 = 1;
static unsigned scenarios = 400, bursts = 2500;

static void test_model(void)
{
	char err[512];
	struct mc_counts c;

	for (unsigned i = 0; i < scenarios; i++) {
		struct mc_src s;
		uint64_t seed = seed0 + i;

		mc_src_seed(&s, seed);
		mc_begin(&s);
		if (mc_run(&s, bursts, err, sizeof(err)) != 0) {
			fprintf(stderr, "\n  model: seed %" PRIu64 ": %s\n"
				"  rerun: test_model --seed %" PRIu64
				" --scenarios 1 --bursts %u\n",
				seed, err, seed, bursts);
			CU_FAIL("the partition diverged from the model");
			return;
		}
	}
	mc_get_counts(&c);
	printf("\n  %u scenarios x %u bursts: %" PRIu64 " requests, %" PRIu64
	       " ops checked (%" PRIu64 " hits, %" PRIu64 " misses of which %"
	       PRIu64 " after eviction, %" PRIu64 " stale, %" PRIu64
	       " overflow, %" PRIu64 " CAS moved by compaction; %" PRIu64
	       " flushes, %" PRIu64 " budget changes)\n",
	       scenarios, bursts, c.requests, c.ops, c.hits, c.misses,
	       c.evicted_misses, c.stale, c.overflow, c.cas_moved, c.flushes,
	       c.budget_changes);
	/* The run must reach what it claims to check. */
	CU_ASSERT(c.hits > 0 && c.evicted_misses > 0 && c.stale > 0 &&
		  c.overflow > 0 && c.flushes > 0 && c.budget_changes > 0);
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seed"))
			seed0 = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--scenarios"))
			scenarios = (unsigned)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--bursts"))
			bursts = (unsigned)strtoul(argv[i + 1], NULL, 0);
		else {
			fprintf(stderr, "usage: test_model [--seed S] "
				"[--scenarios N] [--bursts N]\n");
			return 2;
		}
	}
	if (mc_setup() != 0)
		return 1;
	return rc_test_run("model", (const struct rc_test_case[]){
		{"seeded requests against the reference model", test_model},
		{NULL, NULL}});
}
