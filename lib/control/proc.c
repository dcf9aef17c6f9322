/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rc_proc.h"

/* Seconds since the epoch at boot: "btime" of /proc/stat. */
static int boot_time(double *bt)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lf", bt) == 1) {
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

/* utime, stime (ticks), starttime (ticks since boot), vsize (bytes) and
 * rss (pages) of /proc/self/stat; the fields after comm, which may hold
 * spaces and parentheses, so counting starts after its last ')'. */
static int stat_fields(struct rc_proc_stats *st)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;
	const char *p;
	unsigned long utime, stime, vsize;
	unsigned long long start;
	long rss, tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	double bt;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime vsize rss */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu %*d %*d %*d %*d %*d %*d %llu %lu %ld",
			 &utime, &stime, &start, &vsize, &rss) != 5 ||
	    tck <= 0 || page <= 0)
		return -EINVAL;
	st->cpu_seconds = (double)(utime + stime) / (double)tck;
	st->virtual_bytes = (double)vsize;
	st->resident_bytes = (double)rss * (double)page;
	if (boot_time(&bt) != 0)
		return -ENOENT;
	st->start_time_s = bt + (double)start / (double)tck;
	return 0;
}

static int count_fds(double *n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned long k = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			k++;
	closedir(d);
	*n = (double)(k - 1); /* not the one opendir holds */
	return 0;
}

int rc_proc_read(struct rc_proc_stats *st)
{
	struct rlimit rl;
	int rc, rc2;

	memset(st, 0, sizeof(*st));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		st->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1
							   : (double)rl.rlim_cur;
	rc = stat_fields(st);
	rc2 = count_fds(&st->open_fds);
	return rc ? rc : rc2;
}
