/* SPDX-License-Identifier: MIT
 * sim-repl: deterministic simulation of a replicated pair
 * (tests/sim/README.md).
 *   SIM_SEEDS=<count>  seeds 1..count (default below)
 *   SIM_SEED=<n>       that seed only
 *   SIM_TRACE=1        print the seed's event log (with SIM_SEED)
 * A failing seed prints "sim-repl: FAIL seed=<n>: <invariant ...>" and
 * the exit status is 1. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim.h"

#define DEFAULT_SEEDS 500u
#define MAX_FAILS 20u

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return def;
	x = strtoull(v, &end, 0);
	if (*end) {
		fprintf(stderr, "sim-repl: %s=%s is not a number\n", name, v);
		exit(2);
	}
	return x;
}

static void summary(const struct sim_stats *t, unsigned fails, double cpu)
{
	printf("sim-repl: %lu seeds, %u failed, %.1f simulated s in %.1f s CPU "
	       "(%.1f seeds/s, %lu steps)\n", (unsigned long)t->seeds, fails,
	       (double)t->sim_ns / 1e9, cpu,
	       cpu > 0 ? (double)t->seeds / cpu : 0.0,
	       (unsigned long)t->steps);
	printf("sim-repl: checks: inv1 %lu (durable OKs checked; %lu seeds "
	       "double-fault, skipped), inv2 %lu, inv3 %lu, inv4 %lu, inv5 %lu "
	       "(%lu writes lost on failovers, %lu over the reported lag), "
	       "inv6 %lu\n",
	       (unsigned long)t->checks[1], (unsigned long)t->double_faults,
	       (unsigned long)t->checks[2], (unsigned long)t->checks[3],
	       (unsigned long)t->checks[4], (unsigned long)t->checks[5],
	       (unsigned long)t->lost_async,
	       (unsigned long)t->lag_underreports,
	       (unsigned long)t->checks[6]);
	printf("sim-repl: writes %lu (refused %lu, log full %lu, durable OK "
	       "%lu, NOT_REPLICATED %lu); resets %lu, promotions %lu, "
	       "connections %lu; attacker: %lu forged, %lu replayed\n",
	       (unsigned long)t->writes, (unsigned long)t->refused,
	       (unsigned long)t->overflows,
	       (unsigned long)t->durable_ok, (unsigned long)t->not_repl,
	       (unsigned long)t->resets, (unsigned long)t->promotions,
	       (unsigned long)t->connects, (unsigned long)t->forged,
	       (unsigned long)t->replayed);
	printf("sim-repl: faults:");
	for (unsigned f = 0; f < F__COUNT; f++)
		printf(" %s %lu", sim_fault_name(f), (unsigned long)t->faults[f]);
	printf("\n");
	if (t->same_epoch)
		printf("sim-repl: note: %lu times two nodes took writes at one "
		       "epoch, both networks cut (allowed: no quorum)\n",
		       (unsigned long)t->same_epoch);
	if (t->unforced_partial)
		printf("sim-repl: note: %lu operator promotions of a copy that "
		       "was not whole went through without --force\n",
		       (unsigned long)t->unforced_partial);
}

int main(void)
{
	struct sim_stats tot = {0};
	const uint64_t one = env_u64("SIM_SEED", 0);
	const uint64_t count = env_u64("SIM_SEEDS", DEFAULT_SEEDS);
	const bool trace = env_u64("SIM_TRACE", 0) != 0;
	const clock_t c0 = clock();
	unsigned fails = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (one) {
		fails = (unsigned)sim_run(one, trace, &tot);
	} else {
		for (uint64_t seed = 1; seed <= count && fails < MAX_FAILS; seed++)
			fails += (unsigned)sim_run(seed, false, &tot);
	}
	summary(&tot, fails, (double)(clock() - c0) / CLOCKS_PER_SEC);
	return fails ? 1 : 0;
}
