/* SPDX-License-Identifier: MIT
 * ringctl: the operator's command line for a ringcached node. Talks to
 * the daemon's control socket (one JSON object per line each way), prints
 * tables for people and, with --json, the daemon's JSON for scripts.
 *
 * Exit codes: 0 done; 1 the node refused or found nothing (not found,
 * bad value, timeout inside the node); 2 usage error; 3 the node could
 * not be reached, closed the connection or answered nonsense (never
 * death by SIGPIPE). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define DEFAULT_SOCKET "/run/ringcache/ringcached.sock"
#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
/* A warm chunk: at most the records the node takes in one request
 * (RCD_WARM_MAX_RECORDS) and about this many bytes of them; a record
 * larger than that travels alone (the node's control.max_line bounds
 * it). */
#define WARM_BATCH 128u
#define WARM_CHUNK_BYTES (1u << 20)
#define MAX_RESPONSE (256u << 20)

static const char *sock_path;
static int json_out;
static unsigned timeout_s = 150;  /* a flush of a large node takes time */
static int fd = -1;
static char *rbuf;
static size_t rlen, rcap;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: ringctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Drive a ringcached node through its control socket.\n"
"\n"
"Options:\n"
"  -s, --socket PATH   control socket (default $RINGCTL_SOCKET or\n"
"                      " DEFAULT_SOCKET ")\n"
"  -j, --json          print the node's JSON answer instead of a table\n"
"  -t, --timeout S     give up on the node after S seconds (default 150)\n"
"  -h, --help          this help (also: ringctl COMMAND --help)\n"
"  -V, --version       print the version\n"
"\n"
"Commands:\n"
"  status                         role, uptime, ops/s, hit rate, memory,\n"
"                                 multiplier and why, modes, alerts\n"
"  stats [--watch [S]] [--count N]  every counter and latency by op/class\n"
"  classes                        budgets, usage and hit rate by class\n"
"  quota set CLASS SHARE%%         change a class's share of memory\n"
"  multiplier show\n"
"  multiplier set VALUE --for DURATION   operator override (e.g. 2.0 --for 6h)\n"
"  multiplier clear               back to the schedule\n"
"  mode [read-only on|off|auto] [serve-stale on|off|auto]\n"
"                                 Saturday protection (no argument: show)\n"
"  flush --class C | --prefix P | --all   remove items\n"
"  get KEY                        diagnose: value, flags, class, CAS\n"
"  del KEY                        remove one key\n"
"  config show | reload           effective options; apply runtime ones\n"
"  describe                       every option: type, default, bounds,\n"
"                                 whether reload can change it or it\n"
"                                 needs a restart\n"
"  warm FILE                      bulk load JSON lines {\"key\",\"value\"|\n"
"                                 \"value_hex\",\"ttl\",\"flags\",\"class\"}\n"
"                                 ('-' reads standard input)\n"
"  repl status                    replication: role, epoch, peer, phase,\n"
"                                 resync progress, lag\n"
"  repl promote [--force] | demote  maintenance: make this node primary\n"
"                                 (--force: even with a partial copy), or\n"
"                                 hand the role to an in-step standby\n"
"  clock set TIME | clear         tests only (control.test_clock): the\n"
"                                 calendar time the schedule sees; TIME is\n"
"                                 epoch seconds or 'YYYY-MM-DD HH:MM' UTC\n"
"\n"
"Exit status: 0 done, 1 refused or not found, 2 usage, 3 node unreachable\n"
"or it closed the connection.\n");
}

/* `ringctl COMMAND --help`: that command's own help. */
static const struct {
	const char *cmd, *text;
} cmd_help[] = {
	{"status", "status\n"
	 "  Role, version, uptime, ops/s and hit rate (window and since\n"
	 "  start), latency, memory used of the budget, the multiplier and\n"
	 "  why, modes, alert levels.\n"},
	{"stats", "stats [--watch [S]] [--count N]\n"
	 "  Every counter, then latency by op and class (window and total).\n"
	 "  --watch [S]  repeat every S seconds (default 2, at least 0.2):\n"
	 "               redrawn in place on a terminal, each counter with\n"
	 "               its rate per second over the last interval\n"
	 "  --count N    stop after N reports\n"},
	{"classes", "classes\n"
	 "  Per data class: share, budget, used, items, hit rate, evictions.\n"},
	{"quota", "quota set CLASS SHARE%\n"
	 "  Change a class's share of memory on every partition at once;\n"
	 "  refused (exit 1) when the shares would pass 100%.\n"},
	{"multiplier", "multiplier show\n"
	 "multiplier set VALUE --for DURATION\n"
	 "multiplier clear\n"
	 "  Show the memory multiplier, override it for DURATION (90s, 30m,\n"
	 "  6h, 2d; at most 7 days; bounded by scaling.max_factor), or go\n"
	 "  back to the schedule.\n"},
	{"mode", "mode [read-only on|off|auto] [serve-stale on|off|auto]\n"
	 "  Saturday protection; auto returns a mode to the config and\n"
	 "  schedule. No argument: show both.\n"},
	{"flush", "flush --class C | --prefix P | --all\n"
	 "  Remove items; each worker walks its own partition in slices.\n"},
	{"get", "get KEY\n"
	 "  Value (text and hex), length, flags, CAS, class, staleness.\n"},
	{"del", "del KEY\n  Remove one key (exit 1 if it was not there).\n"},
	{"config", "config show | reload\n"
	 "  show: every option's value in force.\n"
	 "  reload: re-read the -c file (and --set overrides); runtime\n"
	 "  options take effect (ACLs, rate limits and class prefix rules\n"
	 "  included, the cache kept), others are listed as needing a\n"
	 "  restart; a file that does not parse, or a value the running\n"
	 "  node cannot take, changes nothing (exit 1). kill -HUP does the\n"
	 "  same.\n"},
	{"describe", "describe\n"
	 "  Every option: type, default, bounds, and whether a reload\n"
	 "  changes it or it needs a restart.\n"},
	{"warm", "warm FILE\n"
	 "  Bulk load JSON lines {\"key\", \"value\" | \"value_hex\", \"ttl\",\n"
	 "  \"flags\", \"class\"} ('-' reads standard input) in chunks of\n"
	 "  at most 128 records and about 1 MiB; every record is counted\n"
	 "  once: stored, invalid, or unconfirmed (the node timed out);\n"
	 "  exit 1 if any record was not stored.\n"},
	{"repl", "repl status | promote [--force] | demote\n"
	 "  Replication: role, epoch, peer, phase, lag; make this node\n"
	 "  primary, or hand the role to an in-step standby (writes are\n"
	 "  refused at once; the role goes once the standby has every\n"
	 "  record). A standby whose copy is partial (a resync under way)\n"
	 "  or not in step is promoted only with --force: it then serves\n"
	 "  what it has, and the old primary is reset from it.\n"},
	{"clock", "clock set TIME | clear\n"
	 "  Tests only (control.test_clock): the calendar time the schedule\n"
	 "  sees; TIME is epoch seconds or 'YYYY-MM-DD HH:MM' UTC.\n"},
};

static int print_cmd_help(const char *cmd)
{
	for (size_t i = 0; i < sizeof(cmd_help) / sizeof(cmd_help[0]); i++)
		if (!strcmp(cmd_help[i].cmd, cmd)) {
			printf("Usage: ringctl [OPTIONS] %s", cmd_help[i].text);
			return 0;
		}
	usage(stdout);
	return 0;
}

static _Noreturn void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "ringctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(ringctl --help lists the commands)\n");
	exit(EXIT_USAGE);
}

static _Noreturn void die_unreachable(const char *what)
{
	const int e = errno;

	fprintf(stderr, "%sringctl: %s %s: %s\n", isatty(2) ? "\n" : "",
		what, sock_path,
		e == 0 || e == EPIPE || e == ECONNRESET
			? "the node closed the connection"
			: strerror(e));
	exit(EXIT_UNREACHABLE);
}

static void connect_node(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = timeout_s};

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		die_usage("socket path too long: %s", sock_path);
	strcpy(sa.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die_unreachable("cannot connect to");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Send one request, read one response line. Exits on transport errors. */
static json_t *call(json_t *req)
{
	char *line = json_dumps(req, JSON_COMPACT);
	size_t len = strlen(line), off = 0;
	json_error_t je;
	json_t *resp;
	char *nl;

	json_decref(req);
	if (fd < 0)
		connect_node();
	while (off < len + 1) {
		ssize_t k = off < len ? write(fd, line + off, len - off)
				      : write(fd, "\n", 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die_unreachable("cannot write to");
		off += (size_t)k;
	}
	free(line);
	while (!(nl = rlen ? memchr(rbuf, '\n', rlen) : NULL)) {
		ssize_t k;

		if (rcap - rlen < 65536) {
			rcap = rcap ? rcap * 2 : 262144;
			if (rcap > MAX_RESPONSE) {
				errno = EMSGSIZE;
				die_unreachable("answer too large from");
			}
			rbuf = realloc(rbuf, rcap);
			if (!rbuf)
				die_unreachable("out of memory reading");
		}
		errno = 0;
		k = read(fd, rbuf + rlen, rcap - rlen);
		if (k <= 0) {
			if (k < 0 && errno == EAGAIN)
				errno = ETIMEDOUT;
			die_unreachable("no answer from");
		}
		rlen += (size_t)k;
	}
	resp = json_loadb(rbuf, (size_t)(nl - rbuf), 0, &je);
	memmove(rbuf, nl + 1, rlen - (size_t)(nl - rbuf) - 1);
	rlen -= (size_t)(nl - rbuf) + 1;
	if (!json_is_object(resp)) {
		errno = EPROTO;
		die_unreachable("unreadable answer from");
	}
	return resp;
}

/* Print the answer as JSON, or report a refusal. @return exit code. */
static int finish(json_t *resp, void (*human)(json_t *))
{
	int okv = json_is_true(json_object_get(resp, "ok"));

	if (json_out) {
		json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else if (!okv) {
		fprintf(stderr, "ringctl: %s\n",
			json_string_value(json_object_get(resp, "error")));
	} else if (human) {
		human(resp);
	}
	json_decref(resp);
	return okv ? 0 : EXIT_REFUSED;
}

#define S(o, k) json_string_value(json_object_get(o, k))
#define I(o, k) ((long long)json_integer_value(json_object_get(o, k)))
#define D(o, k) json_number_value(json_object_get(o, k))

static const char *human_bytes(double b, char *buf, size_t len)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
	return buf;
}

static void print_multiplier(json_t *m)
{
	char b1[32], b2[32], b3[32];
	json_t *ov = json_object_get(m, "override");

	printf("multiplier   x%.2f (%s): %s\n", D(m, "effective"),
	       S(m, "source"), S(m, "reason"));
	printf("  budget     %s of base %s, cap %s%s; TTLs x%.2f\n",
	       human_bytes(D(m, "budget_bytes"), b1, sizeof(b1)),
	       human_bytes(D(m, "base_bytes"), b2, sizeof(b2)),
	       human_bytes(D(m, "cap_bytes"), b3, sizeof(b3)),
	       json_is_true(json_object_get(m, "capped")) ? " (capped)" : "",
	       D(m, "ttl"));
	printf("  calendar   %s%s\n", S(m, "calendar_time"),
	       json_is_true(json_object_get(m, "test_clock")) ? " (test clock)"
							     : "");
	if (ov)
		printf("  override   x%.2f, %lld s left\n", D(ov, "value"),
		       I(ov, "expires_in_s"));
}

static void print_modes(json_t *md)
{
	json_t *ro = json_object_get(md, "read_only");
	json_t *st = json_object_get(md, "serve_stale");

	printf("read-only    %s (%s)\n",
	       json_is_true(json_object_get(ro, "on")) ? "ON" : "off",
	       S(ro, "source"));
	printf("serve-stale  %s (%s, grace %lld s)\n",
	       json_is_true(json_object_get(st, "on")) ? "ON" : "off",
	       S(st, "source"), I(st, "grace_s"));
}

static void h_repl_obj(json_t *p)
{
	json_t *c = json_object_get(p, "counters");

	printf("role         %s at epoch %lld (%s, for %.1f s)\n", S(p, "role"),
	       I(p, "epoch"), S(p, "reason"), D(p, "role_for_s"));
	if (!strcmp(S(p, "role"), "standalone"))
		return;
	printf("peer         %s: %s, %s at epoch %lld; data network %s\n",
	       S(p, "peer"),
	       json_is_true(json_object_get(p, "connected")) ? "connected"
							       : "NOT connected",
	       S(p, "peer_role"), I(p, "peer_epoch"),
	       json_is_true(json_object_get(p, "peer_alive_data_network"))
		       ? "alive" : "silent");
	printf("phase        %s", S(p, "phase"));
	if (!strcmp(S(p, "phase"), "snapshot"))
		printf(" (%.1f%%)", 100 * D(p, "snapshot_progress"));
	printf("\n");
	if (!strcmp(S(p, "role"), "standby"))
		printf("stream       received %lld, applied %lld, primary at "
		       "%lld, complete copy up to %lld\n", I(p, "seq"),
		       I(p, "applied"), I(p, "primary_seq"),
		       I(p, "synced_seq"));
	else
		printf("stream       numbered %lld, standby applied %lld%s\n",
		       I(p, "seq"), I(p, "acked"),
		       json_is_true(json_object_get(p, "standby_attached"))
			       ? "" : " (no standby attached)");
	printf("lag          %lld records, %.3f ms\n", I(p, "lag_records"),
	       D(p, "lag_ms"));
	if (c)
		printf("counters     %lld promotions, %lld demotions, %lld full "
		       "resyncs, %lld resumes, %lld disconnects\n",
		       I(c, "promotions"), I(c, "demotions"), I(c, "resets"),
		       I(c, "resumes"), I(c, "disconnects"));
	if (c && I(c, "pauses"))
		printf("host pauses  %lld, the longest %.0f ms (not counted as "
		       "the peer's silence)\n", I(c, "pauses"),
		       D(p, "pause_max_s") * 1000);
}

static void h_repl(json_t *r)
{
	h_repl_obj(json_object_get(r, "repl"));
}

static void h_status(json_t *r)
{
	json_t *mem = json_object_get(r, "memory"), *al, *lat;
	json_t *rp = json_object_get(r, "repl");
	char b1[32], b2[32];
	size_t i;

	printf("role         %s, version %s, %lld worker(s), up %.0f s\n",
	       S(r, "role"), S(r, "version"), I(r, "workers"),
	       D(r, "uptime_s"));
	if (rp && strcmp(S(rp, "role"), "standalone"))
		printf("replication  epoch %lld, peer %s %s, phase %s, lag %lld "
		       "records\n", I(rp, "epoch"), S(rp, "peer"),
		       json_is_true(json_object_get(rp, "connected"))
			       ? "connected" : "NOT connected",
		       S(rp, "phase"), I(rp, "lag_records"));
	printf("traffic      %.0f ops/s, hit rate %.2f%% (last %lld s), "
	       "%.2f%% since start\n", D(r, "ops_per_s"),
	       100 * D(r, "hit_rate_window"), I(r, "window_s"),
	       100 * D(r, "hit_rate_total"));
	lat = json_object_get(r, "latency_window");
	printf("latency      p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max "
	       "%.3f ms (%lld ops, last %lld s)\n", D(lat, "p50_ms"),
	       D(lat, "p99_ms"), D(lat, "p999_ms"), D(lat, "max_ms"),
	       I(lat, "count"), I(r, "window_s"));
	printf("memory       %s used of %s (%.1f%%), %lld items\n",
	       human_bytes(D(mem, "used_bytes"), b1, sizeof(b1)),
	       human_bytes(D(mem, "budget_bytes"), b2, sizeof(b2)),
	       D(mem, "budget_bytes") > 0
		       ? 100 * D(mem, "used_bytes") / D(mem, "budget_bytes")
		       : 0, I(mem, "items"));
	print_multiplier(json_object_get(r, "multiplier"));
	print_modes(json_object_get(r, "modes"));
	json_array_foreach(json_object_get(r, "alerts"), i, al) {
		json_t *t = json_object_get(al, "thresholds");

		printf("alert        %-9s %-9s value %.4g%s (thresholds %g, "
		       "%g, %g)\n", S(al, "name"), S(al, "level"),
		       D(al, "value"),
		       json_is_true(json_object_get(al, "known")) ? ""
								  : " (no data)",
		       json_number_value(json_array_get(t, 0)),
		       json_number_value(json_array_get(t, 1)),
		       json_number_value(json_array_get(t, 2)));
	}
}

/* stats --watch: the previous report's counters and when it came, for
 * per-second rates. */
static json_t *watch_prev;
static double watch_prev_t, watch_now_t;

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void h_stats(json_t *r)
{
	json_t *cs = json_object_get(r, "counters"), *v, *l;
	double dt = watch_now_t - watch_prev_t;
	const char *k;
	size_t i;

	json_object_foreach(cs, k, v) {
		json_t *pv = watch_prev ? json_object_get(watch_prev, k) : NULL;

		if (json_is_integer(v) && json_is_integer(pv) && dt > 0)
			printf("%-34s %16lld %14.1f/s\n", k,
			       (long long)json_integer_value(v),
			       (double)(json_integer_value(v) -
					json_integer_value(pv)) / dt);
		else if (json_is_integer(v))
			printf("%-34s %16lld\n", k,
			       (long long)json_integer_value(v));
		else
			printf("%-34s %16.6g\n", k, json_number_value(v));
	}
	if (watch_prev || watch_now_t) {
		json_decref(watch_prev);
		watch_prev = json_deep_copy(cs);
		watch_prev_t = watch_now_t;
	}
	printf("\nlatency (ms)    %-20s %9s %8s %8s %8s %8s %8s\n", "class",
	       "ops", "p50", "p90", "p99", "p99.9", "max");
	json_array_foreach(json_object_get(r, "latency"), i, l) {
		for (int t = 0; t < 2; t++) {
			json_t *h = json_object_get(l, t ? "total" : "window");

			printf("%-6s %-8s %-20s %9lld %8.3f %8.3f %8.3f %8.3f "
			       "%8.3f\n", S(l, "op"), t ? "total" : "window",
			       S(l, "class"), I(h, "count"), D(h, "p50_ms"),
			       D(h, "p90_ms"), D(h, "p99_ms"), D(h, "p999_ms"),
			       D(h, "max_ms"));
		}
	}
}

static void h_classes(json_t *r)
{
	json_t *c;
	size_t i;
	char b1[32], b2[32];

	printf("%-20s %7s %11s %11s %10s %9s %10s\n", "class", "share",
	       "budget", "used", "items", "hit rate", "evictions");
	json_array_foreach(json_object_get(r, "classes"), i, c)
		printf("%-20s %6.1f%% %11s %11s %10lld %8.2f%% %10lld%s\n",
		       S(c, "name"), D(c, "share_pct"),
		       human_bytes(D(c, "budget_bytes"), b1, sizeof(b1)),
		       human_bytes(D(c, "used_bytes"), b2, sizeof(b2)),
		       I(c, "items"), 100 * D(c, "hit_rate"),
		       I(c, "evictions"),
		       json_is_true(json_object_get(c, "protected"))
			       ? "  protected" : "");
}

static void h_quota(json_t *r)
{
	printf("class %s: share %.2f%% (was %.2f%%)\n", S(r, "class"),
	       D(r, "share_pct"), D(r, "previous_pct"));
}

static void h_multiplier(json_t *r)
{
	print_multiplier(json_object_get(r, "multiplier"));
}

static void h_mode(json_t *r)
{
	print_modes(json_object_get(r, "modes"));
}

static void h_flush(json_t *r)
{
	printf("removed %lld items\n", I(r, "removed"));
}

static void h_get(json_t *r)
{
	const char *txt = S(r, "value");

	printf("key        %s (partition %lld)\n", S(r, "key"),
	       I(r, "partition"));
	printf("class      %s\nlength     %lld\nflags      %lld\ncas        "
	       "%lld%s\n", S(r, "class"), I(r, "length"), I(r, "flags"),
	       I(r, "cas"),
	       json_is_true(json_object_get(r, "stale")) ? "\nstale      yes"
							 : "");
	if (txt)
		printf("value      %s\n", txt);
	else
		printf("value_hex  %s\n", S(r, "value_hex"));
}

static void h_del(json_t *r)
{
	printf("deleted %s\n", S(r, "key"));
}

static void h_config(json_t *r)
{
	json_t *v;
	const char *k;

	json_object_foreach(json_object_get(r, "config"), k, v)
		printf("%s = %s\n", k, json_string_value(v));
}

static void h_reload(json_t *r)
{
	json_t *v;
	size_t i;

	printf("applied:");
	json_array_foreach(json_object_get(r, "applied"), i, v)
		printf(" %s", json_string_value(v));
	printf("%s\n", json_array_size(json_object_get(r, "applied")) ? ""
								     : " nothing");
	if (json_array_size(json_object_get(r, "restart_needed"))) {
		printf("changed in the file, need a restart:");
		json_array_foreach(json_object_get(r, "restart_needed"), i, v)
			printf(" %s", json_string_value(v));
		printf("\n");
	}
}

static void h_describe(json_t *r)
{
	json_t *o;
	size_t i, n_restart = 0;
	char name[128];

	/* "change": how a new value takes effect, reload (ringctl config
	 * reload, SIGHUP) or restart (which empties the cache unless
	 * store.save_file is set). */
	printf("%-30s %-7s %-8s %-22s %s\n", "option", "type", "change",
	       "bounds", "default");
	json_array_foreach(json_object_get(r, "options"), i, o) {
		int rt = json_is_true(json_object_get(o, "runtime"));

		n_restart += !rt;
		snprintf(name, sizeof(name), "%s.%s", S(o, "section"),
			 S(o, "name"));
		printf("%-30s %-7s %-8s %-22s %s\n    %s\n", name, S(o, "type"),
		       rt ? "reload" : "restart",
		       *S(o, "bounds") ? S(o, "bounds") : "-",
		       *S(o, "default") ? S(o, "default") : "\"\"",
		       S(o, "description"));
	}
	printf("\n%zu of %zu options need a restart to change; `ringctl "
	       "config reload` (or SIGHUP) applies the others and keeps the "
	       "cache\n", n_restart,
	       json_array_size(json_object_get(r, "options")));
}

/* "90s", "30m", "6h", "2d" or plain seconds. */
static long long parse_duration(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	double mul = 1;

	if (end == s || v <= 0)
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	return (long long)ceil(v * mul);
}

static double parse_number(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || (*end && strcmp(end, "%") != 0))
		die_usage("not a number: %s", what);
	return v;
}

static void want_args(int argc, int n, const char *cmd)
{
	if (argc != n)
		die_usage("wrong arguments for '%s'", cmd);
}

static int cmd_stats(int argc, char **argv)
{
	double every = 0;
	long count = 0;
	int rc = 0, redraw;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--watch")) {
			every = 2;
			if (i + 1 < argc && argv[i + 1][0] != '-')
			{
				i++;
				every = parse_number(argv[i], argv[i]);
			}
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = strtol(argv[++i], NULL, 10);
		} else {
			die_usage("stats: unknown argument %s", argv[i]);
		}
	}
	if (every && every < 0.2)
		die_usage("stats --watch: at least 0.2 s, not %s", "less");
	/* Watching a terminal: redraw in place; otherwise one report after
	 * another. Either way, from the second on, rates per second. */
	redraw = every && !json_out && isatty(1);
	for (long n = 0; !count || n < count; n++) {
		json_t *resp;

		if (n) {
			struct timespec ts = {(time_t)every,
					      (long)((every - (time_t)every) *
						     1e9)};

			nanosleep(&ts, NULL);
			if (!json_out && !redraw)
				printf("\n");
		}
		resp = call(json_pack("{s:s}", "cmd", "stats"));
		if (every) {
			watch_now_t = mono_s();
			if (redraw)
				printf("\033[H\033[2J"); /* home, clear */
			if (!json_out)
				printf("ringctl stats every %g s%s\n\n", every,
				       n ? ", rates over the last interval"
					 : "");
		}
		rc = finish(resp, h_stats);
		fflush(stdout);
		if (rc || !every)
			break;
	}
	json_decref(watch_prev);
	return rc;
}

struct warm_tally {
	long long total, stored, invalid, unconfirmed;
	json_t *statuses;
};

/* Send one chunk of records and add up the node's answer. A chunk the
 * node refuses unread (too long) counts as invalid, and the load goes
 * on; a timeout inside the node leaves records unconfirmed (maybe
 * stored), and the load goes on. @return 0, or an exit code to stop. */
static int warm_send(json_t *batch, struct warm_tally *t, int tty)
{
	const long long n = (long long)json_array_size(batch);
	json_t *r = call(json_pack("{s:s,s:O}", "cmd", "warm", "records",
				   batch));
	const char *code = S(r, "code");
	json_t *v;
	const char *k;

	json_array_clear(batch);
	if (code && !strcmp(code, "too_long")) {
		fprintf(stderr, "%sringctl: warm: %lld record(s) refused: %s\n",
			tty ? "\n" : "", n, S(r, "error"));
		t->total += n;
		t->invalid += n;
		json_decref(r);
		return 0;
	}
	if (!json_is_true(json_object_get(r, "ok")) &&
	    !(code && !strcmp(code, "timeout") && json_object_get(r, "stored")))
		return finish(r, NULL);
	if (code)
		fprintf(stderr, "%sringctl: warm: %s\n", tty ? "\n" : "",
			S(r, "error"));
	t->total += I(r, "records");
	t->stored += I(r, "stored");
	t->invalid += I(r, "invalid");
	t->unconfirmed += I(r, "unconfirmed");
	json_object_foreach(json_object_get(r, "statuses"), k, v)
		json_object_set_new(t->statuses, k,
				    json_integer(json_integer_value(v) +
						 I(t->statuses, k)));
	json_decref(r);
	return 0;
}

/* Read JSON lines, send them in chunks (WARM_BATCH records, about
 * WARM_CHUNK_BYTES), draw progress on stderr. */
static int cmd_warm(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	long long lines = 0, bytes = 0;
	struct warm_tally t = {.statuses = json_object()};
	json_t *batch = json_array();
	size_t cap = 0, chunk = 0;
	char *line = NULL;
	long fsize = 0;
	ssize_t n;
	int tty = isatty(2), rc = 0;

	if (!f) {
		fprintf(stderr, "ringctl: warm: %s: %s\n", path,
			strerror(errno));
		return EXIT_USAGE;
	}
	if (f != stdin && fseek(f, 0, SEEK_END) == 0) {
		fsize = ftell(f);
		rewind(f);
	}
	for (;;) {
		json_error_t je;
		json_t *rec = NULL;

		n = getline(&line, &cap, f);
		if (n > 0) {
			bytes += n;
			lines++;
			if (strspn(line, " \t\r\n") == (size_t)n)
				continue;
			rec = json_loads(line, 0, &je);
			if (!json_is_object(rec)) {
				fprintf(stderr, "%sringctl: warm: line %lld: "
					"not a JSON object (%s); skipped\n",
					tty ? "\n" : "", lines, je.text);
				json_decref(rec);
				t.invalid++;
				continue;
			}
			/* Full by bytes: this record starts the next chunk. */
			if (json_array_size(batch) &&
			    chunk + (size_t)n > WARM_CHUNK_BYTES) {
				rc = warm_send(batch, &t, tty);
				chunk = 0;
				if (rc)
					break;
			}
			json_array_append_new(batch, rec);
			chunk += (size_t)n;
		}
		if (json_array_size(batch) == WARM_BATCH ||
		    (n <= 0 && json_array_size(batch))) {
			rc = warm_send(batch, &t, tty);
			chunk = 0;
			if (rc)
				break;
			if (tty) {
				int pct = fsize ? (int)(100 * bytes / fsize) : 0;
				int bar = pct / 4;

				fprintf(stderr, "\rwarm [%.*s%*s] %3d%% %lld "
					"records", bar,
					"#########################", 25 - bar,
					"", pct, t.total);
			}
		}
		if (n <= 0)
			break;
	}
	if (tty)
		fprintf(stderr, "\n");
	free(line);
	if (f != stdin)
		fclose(f);
	json_decref(batch);
	if (rc) {
		json_decref(t.statuses);
		return rc;
	}
	if (json_out) {
		json_t *o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:o}", "ok",
				      t.stored == t.total && !t.invalid,
				      "records", (json_int_t)t.total,
				      "stored", (json_int_t)t.stored,
				      "invalid", (json_int_t)t.invalid,
				      "unconfirmed", (json_int_t)t.unconfirmed,
				      "statuses", t.statuses);

		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(o);
	} else {
		json_t *v;
		const char *k;

		printf("warm: %lld records sent, %lld stored, %lld invalid",
		       t.total, t.stored, t.invalid);
		if (t.unconfirmed)
			printf(", %lld unconfirmed (the node timed out: they "
			       "may be stored)", t.unconfirmed);
		json_object_foreach(t.statuses, k, v)
			if (strcmp(k, "OK"))
				printf(", %lld %s",
				       (long long)json_integer_value(v), k);
		printf("\n");
		json_decref(t.statuses);
	}
	return t.stored == t.total && t.invalid == 0 ? 0 : EXIT_REFUSED;
}

static int run(int argc, char **argv)
{
	const char *cmd = argv[0];

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return print_cmd_help(cmd);
	if (!strcmp(cmd, "status")) {
		want_args(argc, 1, cmd);
		return finish(call(json_pack("{s:s}", "cmd", "status")),
			      h_status);
	}
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(cmd, "classes")) {
		want_args(argc, 1, cmd);
		return finish(call(json_pack("{s:s}", "cmd", "classes")),
			      h_classes);
	}
	if (!strcmp(cmd, "quota")) {
		if (argc != 4 || strcmp(argv[1], "set"))
			die_usage("usage: quota set CLASS SHARE%s", "%");
		return finish(call(json_pack("{s:s,s:s,s:f}", "cmd",
					     "quota_set", "class", argv[2],
					     "share_pct",
					     parse_number(argv[3], argv[3]))),
			      h_quota);
	}
	if (!strcmp(cmd, "multiplier")) {
		const char *act = argc > 1 ? argv[1] : "show";

		if (!strcmp(act, "set")) {
			long long secs;

			if (argc != 5 || strcmp(argv[3], "--for"))
				die_usage("usage: multiplier set VALUE --for "
					  "DURATION (e.g. 6h)%s", "");
			secs = parse_duration(argv[4]);
			if (secs <= 0)
				die_usage("bad duration '%s' (90s, 30m, 6h, "
					  "2d)", argv[4]);
			return finish(call(json_pack(
					      "{s:s,s:s,s:f,s:I}", "cmd",
					      "multiplier", "action", "set",
					      "value",
					      parse_number(argv[2], argv[2]),
					      "for_s", (json_int_t)secs)),
				      h_multiplier);
		}
		if ((strcmp(act, "show") && strcmp(act, "clear")) || argc > 2)
			die_usage("usage: multiplier show|set|clear%s", "");
		return finish(call(json_pack("{s:s,s:s}", "cmd", "multiplier",
					     "action", act)),
			      h_multiplier);
	}
	if (!strcmp(cmd, "mode")) {
		json_t *req = json_pack("{s:s}", "cmd", "mode");

		if (argc % 2 == 0)
			die_usage("usage: mode [read-only on|off|auto] "
				  "[serve-stale on|off|auto]%s", "");
		for (int i = 1; i + 1 < argc; i += 2) {
			const char *k = !strcmp(argv[i], "read-only")
						? "read_only"
					: !strcmp(argv[i], "serve-stale")
						? "serve_stale" : NULL;

			if (!k || (strcmp(argv[i + 1], "on") &&
				   strcmp(argv[i + 1], "off") &&
				   strcmp(argv[i + 1], "auto")))
				die_usage("mode: want read-only|serve-stale "
					  "on|off|auto, not '%s'", argv[i]);
			json_object_set_new(req, k, json_string(argv[i + 1]));
		}
		return finish(call(req), h_mode);
	}
	if (!strcmp(cmd, "flush")) {
		json_t *req = json_pack("{s:s}", "cmd", "flush");

		if (argc == 2 && !strcmp(argv[1], "--all"))
			return finish(call(req), h_flush);
		if (argc != 3 || (strcmp(argv[1], "--class") &&
				  strcmp(argv[1], "--prefix")))
			die_usage("usage: flush --class C | --prefix P | "
				  "--all%s", "");
		json_object_set_new(req, argv[1] + 2, json_string(argv[2]));
		return finish(call(req), h_flush);
	}
	if (!strcmp(cmd, "get") || !strcmp(cmd, "del")) {
		want_args(argc, 2, cmd);
		return finish(call(json_pack("{s:s,s:s}", "cmd", cmd, "key",
					     argv[1])),
			      cmd[0] == 'g' ? h_get : h_del);
	}
	if (!strcmp(cmd, "config")) {
		if (argc != 2 || (strcmp(argv[1], "show") &&
				  strcmp(argv[1], "reload")))
			die_usage("usage: config show|reload%s", "");
		if (!strcmp(argv[1], "show"))
			return finish(call(json_pack("{s:s}", "cmd",
						     "config_show")),
				      h_config);
		return finish(call(json_pack("{s:s}", "cmd", "config_reload")),
			      h_reload);
	}
	if (!strcmp(cmd, "describe")) {
		want_args(argc, 1, cmd);
		return finish(call(json_pack("{s:s}", "cmd", "describe")),
			      h_describe);
	}
	if (!strcmp(cmd, "warm")) {
		want_args(argc, 2, cmd);
		return cmd_warm(argv[1]);
	}
	if (!strcmp(cmd, "repl")) {
		const char *act = argc > 1 ? argv[1] : "status";
		const int force = argc == 3 && !strcmp(act, "promote") &&
				   !strcmp(argv[2], "--force");

		if ((argc > 2 && !force) ||
		    (strcmp(act, "status") && strcmp(act, "promote") &&
		     strcmp(act, "demote")))
			die_usage("usage: repl status | promote [--force] | "
				  "demote%s", "");
		return finish(call(json_pack("{s:s,s:s,s:b}", "cmd", "repl",
					     "action", act, "force", force)),
			      h_repl);
	}
	if (!strcmp(cmd, "clock")) {
		json_t *req = json_pack("{s:s}", "cmd", "clock");

		if (argc == 3 && !strcmp(argv[1], "set")) {
			struct tm tm = {0};
			char *end = strptime(argv[2], "%Y-%m-%d %H:%M", &tm);
			long long t = end && !*end ? (long long)timegm(&tm)
						   : strtoll(argv[2], &end, 10);

			if (*end || t <= 0)
				die_usage("clock set: bad time '%s'", argv[2]);
			json_object_set_new(req, "time", json_integer(t));
		} else if (argc != 2 || strcmp(argv[1], "clear")) {
			die_usage("usage: clock set TIME | clear%s", "");
		}
		return finish(call(req), h_multiplier);
	}
	die_usage("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	/* A node that closes the connection is an error to report (exit 3),
	 * not a reason to die silently with status 141. */
	signal(SIGPIPE, SIG_IGN);
	sock_path = getenv("RINGCTL_SOCKET");
	if (!sock_path || !*sock_path)
		sock_path = DEFAULT_SOCKET;
	/* Options before the command only: "+" stops at the first word. */
	while ((c = getopt_long(argc, argv, "+s:jt:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock_path = optarg;
			break;
		case 'j':
			json_out = 1;
			break;
		case 't':
			timeout_s = (unsigned)strtoul(optarg, NULL, 10);
			if (timeout_s == 0)
				die_usage("bad --timeout %s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ringctl %s\n", RC_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return run(argc - optind, argv + optind);
}
