/* SPDX-License-Identifier: MIT
 * rc_proc_read: the process figures the metrics endpoint exports agree
 * with what the test can see for itself. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rc_cunit.h"
#include "rc_proc.h"

static void test_fds(void)
{
	struct rc_proc_stats a, b;
	int fds[5];

	CU_ASSERT_EQUAL_FATAL(rc_proc_read(&a), 0);
	CU_ASSERT_TRUE(a.open_fds >= 3); /* stdin, stdout, stderr */
	for (int i = 0; i < 5; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	CU_ASSERT_EQUAL_FATAL(rc_proc_read(&b), 0);
	CU_ASSERT_EQUAL(b.open_fds, a.open_fds + 5);
	for (int i = 0; i < 5; i++)
		close(fds[i]);
	CU_ASSERT_EQUAL_FATAL(rc_proc_read(&b), 0);
	CU_ASSERT_EQUAL(b.open_fds, a.open_fds);
	CU_ASSERT_TRUE(b.max_fds == -1 || b.max_fds >= b.open_fds);
}

static void test_start_time(void)
{
	struct rc_proc_stats st;
	time_t now = time(NULL);

	CU_ASSERT_EQUAL_FATAL(rc_proc_read(&st), 0);
	/* This process started before now and (a test) not long before;
	 * clock ticks make it exact to 1/CLK_TCK, boot time to 1 s. */
	CU_ASSERT_TRUE(st.start_time_s <= (double)now + 1);
	CU_ASSERT_TRUE(st.start_time_s > (double)now - 600);
}

static void test_memory_and_cpu(void)
{
	struct rc_proc_stats a, b;
	size_t len = 64u << 20;
	volatile char *p;
	clock_t c0;

	CU_ASSERT_EQUAL_FATAL(rc_proc_read(&a), 0);
	/* 64 MiB mapped (not malloc: a sanitizer's allocator may hand out
	 * memory it already touched) and touched: resident grows by about
	 * that much. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	CU_ASSERT_EQUAL_FATAL(rc_proc_read(&b), 0);
	CU_ASSERT_TRUE(b.resident_bytes >= a.resident_bytes + (double)len * 0.9);
	CU_ASSERT_TRUE(b.virtual_bytes >= b.resident_bytes);
	munmap((void *)p, len);
	/* Burn 0.2 s of CPU (measured by clock(), not by the wall): the
	 * counter moves by at least 0.1 s (ticks are 10 ms). */
	c0 = clock();
	while (clock() - c0 < CLOCKS_PER_SEC / 5)
		;
	CU_ASSERT_EQUAL_FATAL(rc_proc_read(&b), 0);
	CU_ASSERT_TRUE(b.cpu_seconds >= a.cpu_seconds + 0.1);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"open fds follow open/close", test_fds},
		{"start time is this process's", test_start_time},
		{"resident memory and CPU time grow", test_memory_and_cpu},
		{NULL, NULL},
	};
	return rc_test_run("proc", cases);
}
