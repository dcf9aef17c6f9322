/* SPDX-License-Identifier: MIT
 * A one-shot libringcache client for shell tests:
 *   rc_cli SERVER set KEY VALUE [TTL]   -> "OK" or the error
 *   rc_cli SERVER get KEY               -> "OK VALUE stale=0|1" or error
 *   rc_cli SERVER gets KEY N PAUSE_US   -> N GETs, "hits H misses M"
 *   rc_cli SERVER mgets KEY K N         -> N multi-gets of KEY.0..KEY.K-1,
 *                                          "answered A" (keys with a status)
 *   rc_cli SERVER verify FILE           -> GET every "KEY VALUE" line of
 *                                          FILE: "present P missing M
 *                                          wrong W failed F" (no answer);
 *                                          exit 1 unless all present
 * Exit 0 on OK, 1 on a server answer other than OK, 2 on misuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringcache.h"

/* Every "KEY VALUE" line of path read back with its value. */
static int verify(rc_client *c, const char *path)
{
	char line[1024], key[256], val[768], buf[1024];
	long present = 0, missing = 0, wrong = 0, failed = 0;
	size_t len;
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		int e;

		if (sscanf(line, "%255s %767s", key, val) != 2)
			continue;
		e = rc_get(c, key, strlen(key), buf, sizeof(buf), &len, NULL);
		if (e == RC_ENOTFOUND)
			missing++;
		else if (e != RC_OK)
			failed++;
		else if (len != strlen(val) || memcmp(buf, val, len))
			wrong++;
		else
			present++;
	}
	fclose(f);
	printf("present %ld missing %ld wrong %ld failed %ld\n", present,
	       missing, wrong, failed);
	return missing || wrong || failed ? RC_ENOTFOUND : RC_OK;
}

int main(int argc, char **argv)
{
	const char *servers[1];
	struct rc_item_meta m = {0};
	char buf[4096];
	size_t len = 0;
	rc_client *c;
	int err;

	if (argc < 4) {
		fprintf(stderr, "usage: rc_cli SERVER set|get|gets|mgets KEY ...\n");
		return 2;
	}
	servers[0] = argv[1];
	c = rc_client_create(&(struct rc_client_config){
		.servers = servers, .n_servers = 1, .timeout_ms = 1000,
		.retries = 3, .backoff_ms = 1}, &err);
	if (!c) {
		fprintf(stderr, "rc_cli: %s\n", rc_strerror(err));
		return 2;
	}
	if (!strcmp(argv[2], "set") && argc >= 5) {
		struct rc_set_opts o = {.class_id = RC_CLASS_AUTO,
					.ttl = argc > 5 ? (uint32_t)atoi(argv[5])
							: 0};

		err = rc_set(c, argv[3], strlen(argv[3]), argv[4],
			     strlen(argv[4]), &o, NULL);
		printf("%s\n", err ? rc_strerror(err) : "OK");
	} else if (!strcmp(argv[2], "get")) {
		err = rc_get(c, argv[3], strlen(argv[3]), buf, sizeof(buf) - 1,
			     &len, &m);
		if (err == RC_OK)
			printf("OK %.*s stale=%u\n", (int)len, buf, m.stale);
		else
			printf("%s\n", rc_strerror(err));
	} else if (!strcmp(argv[2], "gets") && argc == 6) {
		long n = atol(argv[4]), hits = 0, misses = 0;
		useconds_t pause = (useconds_t)atol(argv[5]);

		for (long i = 0; i < n; i++) {
			int e = rc_get(c, argv[3], strlen(argv[3]), buf,
				       sizeof(buf), &len, NULL);

			hits += e == RC_OK;
			misses += e == RC_ENOTFOUND;
			if (pause)
				usleep(pause);
		}
		printf("hits %ld misses %ld\n", hits, misses);
		err = RC_OK;
	} else if (!strcmp(argv[2], "mgets") && argc == 6) {
		struct rc_mget_item it[64];
		char keys[64][64];
		long k = atol(argv[4]), n = atol(argv[5]), answered = 0;

		if (k < 1 || k > 64) {
			fprintf(stderr, "rc_cli: mgets takes 1..64 keys\n");
			rc_client_destroy(c);
			return 2;
		}
		for (long i = 0; i < n; i++) {
			for (long j = 0; j < k; j++) {
				snprintf(keys[j], sizeof(keys[j]), "%.40s.%ld",
					 argv[3], j);
				it[j] = (struct rc_mget_item){
					.key = keys[j], .key_len = strlen(keys[j]),
					.buf = buf, .cap = sizeof(buf)};
			}
			if (rc_mget(c, it, (size_t)k) != RC_OK)
				continue;
			for (long j = 0; j < k; j++)
				answered += it[j].status == RC_OK ||
					    it[j].status == RC_ENOTFOUND;
		}
		printf("answered %ld\n", answered);
		err = RC_OK;
	} else if (!strcmp(argv[2], "verify")) {
		err = verify(c, argv[3]);
	} else {
		fprintf(stderr, "rc_cli: bad command\n");
		err = 2;
	}
	rc_client_destroy(c);
	return err == RC_OK ? 0 : err == 2 ? 2 : 1;
}
