/* SPDX-License-Identifier: MIT
 * The one CUnit runner every test binary uses: register a suite from a
 * NULL-terminated table, run verbosely, exit non-zero on any failure. */
#ifndef RC_CUNIT_H
#define RC_CUNIT_H

#include <CUnit/Basic.h>

struct rc_test_case {
	const char *name;
	void (*fn)(void);
};

static inline int rc_test_run(const char *suite,
			      const struct rc_test_case *cases)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite(suite, NULL, NULL);
	for (; cases->name; cases++)
		if (!CU_add_test(s, cases->name, cases->fn))
			return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}

#endif
