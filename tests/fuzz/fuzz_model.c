/* SPDX-License-Identifier: MIT
 * libFuzzer target: the reference-model checker (tests/unit/server/
 * model.h) driven by fuzz input instead of a seeded generator. Every byte
 * is a choice (request shapes, keys, opcodes, TTLs, CAS values, clock
 * steps, budget changes, flushes, modes); each input is a fresh partition
 * and up to 64 bursts. Any reply the model does not allow aborts with
 * what diverged. */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (mc_setup() != 0)
		exit(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_src s;
	char err[512];

	mc_src_bytes(&s, data, size);
	mc_begin(&s);
	if (mc_run(&s, 64, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_model: %s\n", err);
		abort();
	}
	return 0;
}
