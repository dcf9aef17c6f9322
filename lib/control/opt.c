/* SPDX-License-Identifier: MIT
 * Option tables: parse, bound-check, document. INI parsing is inih's. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "rc_opt.h"

static const char *const type_names[] = {
	[RC_OPT_BOOL] = "bool", [RC_OPT_UINT] = "uint",
	[RC_OPT_SIZE] = "size", [RC_OPT_STR] = "string",
	[RC_OPT_IPV4] = "ipv4", [RC_OPT_DOUBLE] = "number",
};

const char *rc_opt_type_name(enum rc_opt_type t)
{
	return type_names[t];
}

size_t rc_opt_field_size(const struct rc_opt *o)
{
	switch (o->type) {
	case RC_OPT_BOOL: return sizeof(bool);
	case RC_OPT_UINT:
	case RC_OPT_SIZE: return sizeof(uint64_t);
	case RC_OPT_STR: return RC_OPT_STR_MAX;
	case RC_OPT_IPV4: return sizeof(uint32_t);
	case RC_OPT_DOUBLE: return sizeof(double);
	}
	return 0;
}

void rc_opt_bounds(const struct rc_opt *o, char *buf, size_t len)
{
	if (o->type == RC_OPT_UINT || o->type == RC_OPT_SIZE)
		snprintf(buf, len, "%" PRIu64 "..%" PRIu64, o->min, o->max);
	else if (o->type == RC_OPT_DOUBLE)
		snprintf(buf, len, "%g..%g", o->dmin, o->dmax);
	else
		buf[0] = '\0';
}

static const struct rc_opt *find(const struct rc_opt *tab, size_t n,
				 const char *section, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tab[i].section, section) == 0 &&
		    strcmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

static int parse_u64(const char *s, bool size, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (*s == '-' || *s == '\0')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s)
		return -1;
	if (size && *end) {
		switch (*end == 'k' ? 'K' : *end == 'm' ? 'M' : *end == 'g' ? 'G' : *end) {
		case 'K': mul = 1ull << 10; break;
		case 'M': mul = 1ull << 20; break;
		case 'G': mul = 1ull << 30; break;
		default: return -1;
		}
		end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

static int apply(const struct rc_opt *o, void *cfg, const char *value,
		 char *err, size_t errlen)
{
	char *field = (char *)cfg + o->offset;
	uint64_t v;
	struct in_addr a;

	switch (o->type) {
	case RC_OPT_BOOL:
		if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") ||
		    !strcmp(value, "1") || !strcasecmp(value, "on"))
			*(bool *)field = true;
		else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") ||
			 !strcmp(value, "0") || !strcasecmp(value, "off"))
			*(bool *)field = false;
		else
			goto bad;
		return 0;
	case RC_OPT_UINT:
	case RC_OPT_SIZE:
		if (parse_u64(value, o->type == RC_OPT_SIZE, &v) != 0)
			goto bad;
		if (v < o->min || v > o->max) {
			snprintf(err, errlen,
				 "%s.%s = %s: outside [%" PRIu64 ", %" PRIu64 "]",
				 o->section, o->name, value, o->min, o->max);
			return -EINVAL;
		}
		*(uint64_t *)field = v;
		return 0;
	case RC_OPT_STR:
		if (strlen(value) >= RC_OPT_STR_MAX) {
			snprintf(err, errlen, "%s.%s: longer than %d bytes",
				 o->section, o->name, RC_OPT_STR_MAX - 1);
			return -EINVAL;
		}
		strcpy(field, value);
		return 0;
	case RC_OPT_IPV4:
		if (inet_pton(AF_INET, value, &a) != 1)
			goto bad;
		memcpy(field, &a.s_addr, sizeof(uint32_t));
		return 0;
	case RC_OPT_DOUBLE: {
		char *end;
		double d;

		errno = 0;
		d = strtod(value, &end);
		if (errno || end == value || *end)
			goto bad;
		if (!(d >= o->dmin && d <= o->dmax)) {
			snprintf(err, errlen, "%s.%s = %s: outside [%g, %g]",
				 o->section, o->name, value, o->dmin, o->dmax);
			return -EINVAL;
		}
		*(double *)field = d;
		return 0;
	}
	}
bad:
	snprintf(err, errlen, "%s.%s = '%s': not a valid %s", o->section,
		 o->name, value, type_names[o->type]);
	return -EINVAL;
}

int rc_opt_set(const struct rc_opt *tab, size_t n, void *cfg,
	       const char *section, const char *name, const char *value,
	       char *err, size_t errlen)
{
	const struct rc_opt *o = find(tab, n, section, name);

	if (!o) {
		snprintf(err, errlen, "unknown option %s.%s", section, name);
		return -ENOENT;
	}
	return apply(o, cfg, value, err, errlen);
}

int rc_opt_defaults(const struct rc_opt *tab, size_t n, void *cfg, char *err,
		    size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int rc = apply(&tab[i], cfg, tab[i].defval, err, errlen);

		if (rc != 0)
			return rc;
	}
	return 0;
}

int rc_opt_set_kv(const struct rc_opt *tab, size_t n, void *cfg,
		  const char *kv, char *err, size_t errlen)
{
	char buf[2 * RC_OPT_STR_MAX];
	char *dot, *eq;

	if (strlen(kv) >= sizeof(buf)) {
		snprintf(err, errlen, "override too long");
		return -EINVAL;
	}
	strcpy(buf, kv);
	eq = strchr(buf, '=');
	dot = strchr(buf, '.');
	if (!eq || !dot || dot > eq) {
		snprintf(err, errlen, "'%s': expected section.name=value", kv);
		return -EINVAL;
	}
	*dot = '\0';
	*eq = '\0';
	return rc_opt_set(tab, n, cfg, buf, dot + 1, eq + 1, err, errlen);
}

struct load_ctx {
	const struct rc_opt *tab;
	size_t n;
	void *cfg;
	char *err;
	size_t errlen;
	int rc;
};

static int on_ini(void *user, const char *section, const char *name,
		  const char *value)
{
	struct load_ctx *c = user;

	c->rc = rc_opt_set(c->tab, c->n, c->cfg, section, name, value, c->err,
			   c->errlen);
	return c->rc == 0; /* inih: nonzero = keep going */
}

int rc_opt_load_file(const struct rc_opt *tab, size_t n, void *cfg,
		     const char *path, char *err, size_t errlen)
{
	struct load_ctx c = {tab, n, cfg, err, errlen, 0};
	char why[256];
	int line = ini_parse(path, on_ini, &c);

	if (line == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno));
		return -ENOENT;
	}
	if (line != 0) {
		snprintf(why, sizeof(why), "%s", c.rc ? err : "syntax error");
		snprintf(err, errlen, "%s:%d: %s", path, line, why);
		return -EINVAL;
	}
	return 0;
}

void rc_opt_format(const struct rc_opt *o, const void *cfg, char *buf,
		   size_t len)
{
	const char *field = (const char *)cfg + o->offset;
	struct in_addr a;

	switch (o->type) {
	case RC_OPT_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
		break;
	case RC_OPT_UINT:
	case RC_OPT_SIZE:
		snprintf(buf, len, "%" PRIu64, *(const uint64_t *)field);
		break;
	case RC_OPT_STR:
		snprintf(buf, len, "%s", field);
		break;
	case RC_OPT_IPV4:
		memcpy(&a.s_addr, field, sizeof(uint32_t));
		inet_ntop(AF_INET, &a, buf, (socklen_t)len);
		break;
	case RC_OPT_DOUBLE:
		snprintf(buf, len, "%g", *(const double *)field);
		break;
	}
}

void rc_opt_print_help(const struct rc_opt *tab, size_t n, FILE *f)
{
	for (size_t i = 0; i < n; i++) {
		const struct rc_opt *o = &tab[i];
		char name[96], b[64];

		snprintf(name, sizeof(name), "%s.%s", o->section, o->name);
		rc_opt_bounds(o, b, sizeof(b));
		fprintf(f, "  %-26s %-6s default %s", name, type_names[o->type],
			*o->defval ? o->defval : "\"\"");
		if (*b)
			fprintf(f, ", range %s", b);
		fprintf(f, "%s\n      %s\n", o->runtime ? ", runtime" : "",
			o->desc);
	}
}

/* "; text" wrapped at 78 columns: inih reads lines of at most 200 bytes. */
static void print_comment(const char *text, FILE *f)
{
	const char *p = text;

	while (*p) {
		const char *end = p, *cut = NULL;

		while (*end && end - p <= 76) {
			if (*end == ' ')
				cut = end;
			end++;
		}
		if (!*end || !cut)
			cut = end;
		fprintf(f, "; %.*s\n", (int)(cut - p), p);
		p = *cut == ' ' ? cut + 1 : cut;
	}
}

void rc_opt_print_reference(const struct rc_opt *tab, size_t n, FILE *f)
{
	const char *section = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct rc_opt *o = &tab[i];

		if (!section || strcmp(section, o->section) != 0) {
			section = o->section;
			fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
		}
		char b[64];

		print_comment(o->desc, f);
		rc_opt_bounds(o, b, sizeof(b));
		fprintf(f, "; type %s", type_names[o->type]);
		if (*b)
			fprintf(f, ", range %s", b);
		if (o->runtime)
			fprintf(f, "; runtime (ringctl config reload)");
		fprintf(f, "\n%s = %s\n", o->name, o->defval);
	}
}
