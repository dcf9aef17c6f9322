/* SPDX-License-Identifier: MIT
 * The process's own resource figures, read from /proc/self, for the
 * metrics endpoint under the names Prometheus client libraries use
 * (process_resident_memory_bytes, process_open_fds, ...). */
#ifndef RC_PROC_H
#define RC_PROC_H

struct rc_proc_stats {
	double cpu_seconds;          /* user + system CPU time */
	double resident_bytes;       /* RSS (hugepages are not in it) */
	double virtual_bytes;
	double open_fds;
	double max_fds;              /* RLIMIT_NOFILE soft limit */
	double start_time_s;         /* since the Unix epoch */
};

/* Read the figures of the calling process.
 * @return 0, or a negative errno when /proc/self cannot be read (the
 *   fields then hold what could be read, the rest 0). */
int rc_proc_read(struct rc_proc_stats *st);

#endif
