/* SPDX-License-Identifier: MIT
 * lib/control option tables: defaults, bounds at their edges, file
 * parsing with line numbers, overrides. No EAL. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc_cunit.h"

#include "rc_opt.h"

struct cfg {
	bool flag;
	uint64_t n;
	uint64_t mem;
	char name[RC_OPT_STR_MAX];
	uint32_t ip;
};

static const struct rc_opt tab[] = {
	{"a", "flag", RC_OPT_BOOL, "false", 0, 0, offsetof(struct cfg, flag), "a flag", false, 0, 0},
	{"a", "n", RC_OPT_UINT, "10", 1, 100, offsetof(struct cfg, n), "a number", false, 0, 0},
	{"b", "mem", RC_OPT_SIZE, "1M", 1024, 1ull << 32, offsetof(struct cfg, mem), "bytes", false, 0, 0},
	{"b", "name", RC_OPT_STR, "x", 0, 0, offsetof(struct cfg, name), "a name", false, 0, 0},
	{"b", "ip", RC_OPT_IPV4, "198.18.0.2", 0, 0, offsetof(struct cfg, ip), "an ip", false, 0, 0},
};
#define N (sizeof(tab) / sizeof(tab[0]))

static void test_defaults_and_bounds(void)
{
	struct cfg c;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(rc_opt_defaults(tab, N, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.n, 10);
	CU_ASSERT_EQUAL(c.mem, 1 << 20);
	CU_ASSERT_STRING_EQUAL(c.name, "x");
	CU_ASSERT_EQUAL(c.ip, htonl(0xc6120002));
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "a", "n", "100", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.n, 100);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "a", "n", "101", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "outside [1, 100]"));
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "a", "n", "0", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "a", "n", "-1", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "a", "n", "5x", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(c.n, 100); /* failed sets change nothing */
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "b", "mem", "4G", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.mem, 1ull << 32);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "b", "mem", "5G", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "b", "mem", "64KB", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.mem, 64 << 10);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "b", "mem", "99999999999999999999G", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "a", "flag", "yes", err, sizeof(err)), 0);
	CU_ASSERT(c.flag);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "a", "flag", "maybe", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "b", "ip", "300.1.1.1", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(rc_opt_set(tab, N, &c, "b", "nope", "1", err, sizeof(err)), -ENOENT);
	CU_ASSERT_EQUAL(rc_opt_set_kv(tab, N, &c, "a.n=7", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.n, 7);
	CU_ASSERT_EQUAL(rc_opt_set_kv(tab, N, &c, "n=7", err, sizeof(err)), -EINVAL);
}

static void test_file(void)
{
	struct cfg c;
	char err[256], path[] = "/tmp/rcopt.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fprintf(f, "; comment\n[a]\nn = 42\nflag = on\n[b]\nname = node-1\n");
	fclose(f);
	rc_opt_defaults(tab, N, &c, err, sizeof(err));
	CU_ASSERT_EQUAL(rc_opt_load_file(tab, N, &c, path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.n, 42);
	CU_ASSERT(c.flag);
	CU_ASSERT_STRING_EQUAL(c.name, "node-1");
	f = fopen(path, "w");
	fprintf(f, "[a]\nn = 42\nunknown = 1\n");
	fclose(f);
	CU_ASSERT_EQUAL(rc_opt_load_file(tab, N, &c, path, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3: unknown option a.unknown"));
	f = fopen(path, "w");
	fprintf(f, "[a]\nn = 1000\n");
	fclose(f);
	CU_ASSERT_EQUAL(rc_opt_load_file(tab, N, &c, path, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2: a.n = 1000: outside"));
	unlink(path);
	CU_ASSERT_EQUAL(rc_opt_load_file(tab, N, &c, path, err, sizeof(err)), -ENOENT);
}

static void test_reference_roundtrip(void)
{
	struct cfg a, b;
	char err[256], path[] = "/tmp/rcref.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	rc_opt_print_reference(tab, N, f);
	fclose(f);
	memset(&b, 0x5a, sizeof(b));
	rc_opt_defaults(tab, N, &a, err, sizeof(err));
	rc_opt_defaults(tab, N, &b, err, sizeof(err));
	b.n = 99;
	/* The reference file sets every option back to its default. */
	CU_ASSERT_EQUAL(rc_opt_load_file(tab, N, &b, path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(b.n, a.n);
	CU_ASSERT_EQUAL(b.mem, a.mem);
	unlink(path);
}

int main(void)
{
	static const struct rc_test_case cases[] = {
		{"defaults and bounds", test_defaults_and_bounds},
		{"config file", test_file},
		{"reference round trip", test_reference_roundtrip},
		{NULL, NULL},
	};
	return rc_test_run("options", cases);
}
