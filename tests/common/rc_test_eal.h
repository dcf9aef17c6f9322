/* SPDX-License-Identifier: MIT
 * For harnesses that start EAL: its runtime directory (/var/run/dpdk/
 * <prefix>, made even with --no-shconf) goes when the process exits, so
 * a test run leaves nothing in /var/run/dpdk. */
#ifndef RC_TEST_EAL_H
#define RC_TEST_EAL_H

#include <stdlib.h>
#include <unistd.h>

#include <rte_eal.h>

static void rc_test_eal_rmdir(void)
{
	rmdir(rte_eal_get_runtime_dir()); /* empty with --no-shconf */
}

/* Call once rte_eal_init succeeded. */
static inline void rc_test_eal_leave_no_dir(void)
{
	atexit(rc_test_eal_rmdir);
}

#endif
