/* SPDX-License-Identifier: MIT
 * Warm restart: the stores' live items to a file and back (rc_store.h).
 *
 * File: a header, one record per item, a trailer.
 *   header  "RCSTORE\0", u32 version (1), u32 n_classes, u64 wall clock
 *           of the save (s), u64 CAS seq (the highest of the stores)
 *   record  u8 'I', u8 class, u16 key_len, u32 value_len, u32 client
 *           flags, u32 TTL left (s, 0: never), key, value
 *   trailer u8 'E', 7 zero bytes, u64 items, u64 XXH64 of all before it
 * Host byte order; nothing may follow the trailer. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "rc_store.h"

#define MAGIC "RCSTORE"          /* 8 bytes with its NUL */
#define VERSION 1u
#define MAX_KEY 255u
#define MAX_VALUE (1u << 30)     /* a bound for corrupt lengths */

struct hdr {
	char magic[8];
	uint32_t version, n_classes;
	uint64_t wall_s, cas_seq;
};

struct rec {
	uint8_t tag, class_id;
	uint16_t key_len;
	uint32_t value_len, client_flags, ttl_left;
};

struct trailer {
	uint8_t tag, pad[7];
	uint64_t items, hash;
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- save ------------------------------------------------------------- */

struct saver {
	FILE *f;
	XXH64_state_t *h;
	uint64_t items;
	int err;                 /* errno of the first failed write */
};

static void put(struct saver *sv, const void *p, size_t len)
{
	if (sv->err || !len)
		return;
	if (fwrite(p, 1, len, sv->f) != len) {
		sv->err = errno ? errno : EIO;
		return;
	}
	XXH64_update(sv->h, p, len);
}

static bool save_item(void *arg, const struct rc_store_snap_item *it)
{
	struct saver *sv = arg;
	struct rec r = {.tag = 'I', .class_id = it->class_id,
			.key_len = it->key_len, .value_len = it->value_len,
			.client_flags = it->client_flags,
			.ttl_left = it->ttl_left};

	put(sv, &r, sizeof(r));
	put(sv, it->key, it->key_len);
	put(sv, it->value, it->value_len);
	sv->items++;
	return true;
}

int rc_store_save(struct rc_store *const *stores, unsigned n,
		  const char *path, uint32_t now, uint64_t wall_s,
		  struct rc_store_file_stats *st, char *err, size_t errlen)
{
	struct saver sv = {0};
	struct hdr h = {.magic = MAGIC, .version = VERSION, .wall_s = wall_s};
	struct trailer t = {.tag = 'E'};
	char tmp[4096];
	int fd, rc = 0;

	memset(st, 0, sizeof(*st));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return fail(err, errlen, -ENAMETOOLONG, "%s: path too long",
			    path);
	for (unsigned i = 0; i < n; i++) {
		uint64_t q = rc_store_cas_seq(stores[i]);
		struct rc_store_class_stats cs;

		h.cas_seq = q > h.cas_seq ? q : h.cas_seq;
		for (uint32_t c = 0; c < RC_STORE_MAX_CLASSES; c++)
			if (rc_store_get_class_stats(stores[i], (uint8_t)c,
						     &cs) == 0 &&
			    c + 1 > h.n_classes)
				h.n_classes = c + 1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, errlen, -EIO, "%s: %s", tmp, strerror(errno));
	sv.f = fdopen(fd, "w");
	sv.h = XXH64_createState();
	if (!sv.f || !sv.h) {
		rc = fail(err, errlen, -ENOMEM, "%s: out of memory", tmp);
		if (!sv.f)
			close(fd);
		goto out;
	}
	XXH64_reset(sv.h, 0);
	put(&sv, &h, sizeof(h));
	for (unsigned i = 0; i < n && !sv.err; i++) {
		struct rc_store_cursor cur = {0};
		unsigned stuck = 0;

		for (;;) {
			struct rc_store_cursor was = cur;

			if (!rc_store_snapshot(stores[i], &cur, 1u << 16, now,
					       save_item, &sv) || sv.err)
				break;
			if (memcmp(&was, &cur, sizeof(cur)) != 0) {
				stuck = 0;
				continue;
			}
			/* A segment being compacted waits for upkeep to
			 * finish it: run upkeep, as the stopped owner would
			 * have. */
			if (rc_store_maintain(stores[i], now, 1u << 16) == 0 &&
			    ++stuck > 1000) {
				rc = fail(err, errlen, -EDEADLK, "store %u: a "
					  "segment stays in compaction", i);
				goto out;
			}
		}
	}
	t.items = sv.items;
	t.hash = XXH64_digest(sv.h);
	if (!sv.err && fwrite(&t, 1, sizeof(t), sv.f) != sizeof(t))
		sv.err = errno ? errno : EIO;
	if (!sv.err && (fflush(sv.f) != 0 || fsync(fd) != 0))
		sv.err = errno ? errno : EIO;
	if (sv.err) {
		rc = fail(err, errlen, -EIO, "%s: %s", tmp, strerror(sv.err));
		goto out;
	}
	st->items = sv.items;
	st->bytes = (uint64_t)ftello(sv.f);
out:
	if (sv.f && fclose(sv.f) != 0 && rc == 0)
		rc = fail(err, errlen, -EIO, "%s: %s", tmp, strerror(errno));
	XXH64_freeState(sv.h);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = fail(err, errlen, -EIO, "%s: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* ---- load ------------------------------------------------------------- */

struct loader {
	FILE *f;
	const char *path;
	uint8_t *buf;            /* key, then value */
	size_t cap;
	char *err;
	size_t errlen;
};

/* The next record into l->buf (key then value); 1 for a record, 0 at the
 * trailer (read into *t), <0 on a bad file. */
static int next(struct loader *l, unsigned n_classes, struct rec *r,
		struct trailer *t, XXH64_state_t *h)
{
	size_t need;

	if (fread(r, 1, 1, l->f) != 1)
		return fail(l->err, l->errlen, -EBADMSG,
			    "%s: truncated (no trailer)", l->path);
	if (r->tag == 'E') {
		t->tag = 'E';
		if (fread(t->pad, 1, sizeof(*t) - 1, l->f) != sizeof(*t) - 1)
			return fail(l->err, l->errlen, -EBADMSG,
				    "%s: truncated trailer", l->path);
		return 0;
	}
	if (r->tag != 'I')
		return fail(l->err, l->errlen, -EBADMSG,
			    "%s: corrupt (bad record tag 0x%02x)", l->path,
			    r->tag);
	if (fread((uint8_t *)r + 1, 1, sizeof(*r) - 1, l->f) != sizeof(*r) - 1)
		return fail(l->err, l->errlen, -EBADMSG,
			    "%s: truncated record", l->path);
	if (r->key_len == 0 || r->key_len > MAX_KEY ||
	    r->value_len > MAX_VALUE)
		return fail(l->err, l->errlen, -EBADMSG,
			    "%s: corrupt (key %u bytes, value %u bytes)",
			    l->path, r->key_len, r->value_len);
	if (r->class_id >= n_classes)
		return fail(l->err, l->errlen, -ERANGE,
			    "%s: class %u, the store has %u", l->path,
			    r->class_id, n_classes);
	need = (size_t)r->key_len + r->value_len;
	if (need > l->cap) {
		uint8_t *p = realloc(l->buf, need);

		if (!p)
			return fail(l->err, l->errlen, -ENOMEM,
				    "%s: out of memory", l->path);
		l->buf = p;
		l->cap = need;
	}
	if (fread(l->buf, 1, need, l->f) != need)
		return fail(l->err, l->errlen, -EBADMSG,
			    "%s: truncated record", l->path);
	if (h) {
		XXH64_update(h, r, sizeof(*r));
		XXH64_update(h, l->buf, need);
	}
	return 1;
}

/* Pass 1: the whole file is what a save writes. */
static int verify(struct loader *l, const struct hdr *hd, unsigned n_classes)
{
	XXH64_state_t *h = XXH64_createState();
	struct rec r;
	struct trailer t;
	uint64_t items = 0;
	int rc;

	if (!h)
		return fail(l->err, l->errlen, -ENOMEM, "out of memory");
	XXH64_reset(h, 0);
	XXH64_update(h, hd, sizeof(*hd));
	while ((rc = next(l, n_classes, &r, &t, h)) == 1)
		items++;
	if (rc == 0) {
		if (t.items != items || t.hash != XXH64_digest(h))
			rc = fail(l->err, l->errlen, -EBADMSG,
				  "%s: corrupt (%llu items, trailer says "
				  "%llu; checksum %s)", l->path,
				  (unsigned long long)items,
				  (unsigned long long)t.items,
				  t.hash == XXH64_digest(h) ? "ok" : "wrong");
		else if (fgetc(l->f) != EOF)
			rc = fail(l->err, l->errlen, -EBADMSG,
				  "%s: corrupt (data after the trailer)",
				  l->path);
	}
	XXH64_freeState(h);
	return rc;
}

int rc_store_load(struct rc_store *const *stores, unsigned n,
		  unsigned n_classes, rc_store_route_fn route, void *arg,
		  rc_store_digest_fn digest, const char *path, uint32_t now,
		  uint64_t wall_s, struct rc_store_file_stats *st, char *err,
		  size_t errlen)
{
	struct loader l = {.path = path, .err = err, .errlen = errlen};
	struct hdr hd;
	struct rec r;
	struct trailer t;
	uint64_t down;
	int rc;

	memset(st, 0, sizeof(*st));
	l.f = fopen(path, "rb");
	if (!l.f)
		return fail(err, errlen, -EIO, "%s: %s", path, strerror(errno));
	if (fread(&hd, 1, sizeof(hd), l.f) != sizeof(hd) ||
	    memcmp(hd.magic, MAGIC, sizeof(hd.magic)) != 0) {
		rc = fail(err, errlen, -EINVAL, "%s: not a ringcache store file",
			  path);
		goto out;
	}
	if (hd.version != VERSION) {
		rc = fail(err, errlen, -EINVAL, "%s: store file version %u, "
			  "this build reads %u", path, hd.version, VERSION);
		goto out;
	}
	rc = verify(&l, &hd, n_classes);
	if (rc != 0)
		goto out;
	/* Pass 2: store them. */
	st->bytes = (uint64_t)ftello(l.f);
	if (fseeko(l.f, (off_t)sizeof(hd), SEEK_SET) != 0) {
		rc = fail(err, errlen, -EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		rc_store_cas_seq_raise(stores[i], hd.cas_seq + 1);
	down = wall_s > hd.wall_s ? wall_s - hd.wall_s : 0;
	while ((rc = next(&l, n_classes, &r, &t, NULL)) == 1) {
		uint8_t d[RC_STORE_DIGEST_LEN];
		uint32_t ttl = r.ttl_left;
		uint64_t cas;
		unsigned p;

		if (ttl != 0) {
			if (down >= ttl) {
				st->expired++;
				continue;
			}
			ttl -= (uint32_t)down;
		}
		digest(l.buf, r.key_len, d);
		p = route(arg, d);
		if (p < n && rc_store_set(stores[p], d, l.buf, r.key_len,
					  l.buf + r.key_len, r.value_len,
					  r.client_flags, ttl, 0, r.class_id,
					  now, &cas) == RC_STORE_OK)
			st->items++;
		else
			st->refused++;
	}
out:
	free(l.buf);
	fclose(l.f);
	return rc < 0 ? rc : 0;
}
