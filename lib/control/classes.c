/* SPDX-License-Identifier: MIT
 * Parsing of the data-class definitions and prefix rules (rc_classes.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_classes.h"

int rc_classes_find(const struct rc_classes *cl, const char *name)
{
	for (unsigned i = 0; i < cl->n; i++)
		if (strcmp(cl->c[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* "40", "2.5", "12.25" percent -> parts per million; -1 if malformed. */
static long percent_ppm(const char *s)
{
	long whole = 0, frac = 0, scale = 10000;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > 100)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				return -1; /* finer than 1 ppm */
			scale /= 10;
			frac += (*p - '0') * scale;
		}
	}
	if (*p == '%')
		p++;
	if (*p)
		return -1;
	return whole * 10000 + frac;
}

static int parse_class(struct rc_classes *cl, char *item, char *err,
		       size_t errlen)
{
	char *name = item, *share = strchr(item, ':'), *flag = NULL;
	struct rc_class_def *d;
	long ppm;

	if (!share) {
		snprintf(err, errlen, "class '%s': expected name:share", item);
		return -EINVAL;
	}
	*share++ = '\0';
	flag = strchr(share, ':');
	if (flag)
		*flag++ = '\0';
	if (!*name || strlen(name) >= RC_CLASS_NAME_MAX) {
		snprintf(err, errlen, "class name '%s': 1 to %u characters",
			 name, RC_CLASS_NAME_MAX - 1);
		return -EINVAL;
	}
	if (rc_classes_find(cl, name) >= 0) {
		snprintf(err, errlen, "class '%s' defined twice", name);
		return -EINVAL;
	}
	if (cl->n == RC_CLASSES_MAX) {
		snprintf(err, errlen, "more than %u classes", RC_CLASSES_MAX);
		return -EINVAL;
	}
	ppm = percent_ppm(share);
	if (ppm < 0 || ppm > 1000000) {
		snprintf(err, errlen,
			 "class '%s': share '%s' is not a percentage 0..100",
			 name, share);
		return -EINVAL;
	}
	if (flag && strcmp(flag, "protected") != 0) {
		snprintf(err, errlen,
			 "class '%s': unknown flag '%s' (only 'protected')",
			 name, flag);
		return -EINVAL;
	}
	d = &cl->c[cl->n++];
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->share_ppm = (uint32_t)ppm;
	d->protect = flag != NULL;
	return 0;
}

static int parse_rule(struct rc_classes *cl, char *item, char *err,
		      size_t errlen)
{
	char *eq = strrchr(item, '=');
	struct rc_prefix_rule *r;
	int id;

	if (!eq || eq == item) {
		snprintf(err, errlen, "prefix rule '%s': expected prefix=class",
			 item);
		return -EINVAL;
	}
	*eq = '\0';
	id = rc_classes_find(cl, eq + 1);
	if (id < 0) {
		snprintf(err, errlen, "prefix rule '%s': no class '%s'", item,
			 eq + 1);
		return -EINVAL;
	}
	if (strlen(item) >= RC_PREFIX_MAX) {
		snprintf(err, errlen, "prefix '%s': longer than %u bytes",
			 item, RC_PREFIX_MAX - 1);
		return -EINVAL;
	}
	if (cl->n_rules == RC_PREFIX_RULES_MAX) {
		snprintf(err, errlen, "more than %u prefix rules",
			 RC_PREFIX_RULES_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cl->n_rules; i++)
		if (strcmp(cl->r[i].prefix, item) == 0) {
			snprintf(err, errlen, "prefix '%s' given twice", item);
			return -EINVAL;
		}
	r = &cl->r[cl->n_rules++];
	snprintf(r->prefix, sizeof(r->prefix), "%s", item);
	r->len = (uint8_t)strlen(item);
	r->class_id = (uint8_t)id;
	return 0;
}

/* Split a comma list (spaces around items ignored) and feed each item. */
static int each_item(struct rc_classes *cl, const char *list,
		     int (*fn)(struct rc_classes *, char *, char *, size_t),
		     char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok)
			rc = fn(cl, tok, err, errlen);
	}
	free(copy);
	return rc;
}

static int by_length_desc(const void *a, const void *b)
{
	const struct rc_prefix_rule *x = a, *y = b;

	return (int)y->len - (int)x->len;
}

int rc_classes_parse(struct rc_classes *out, const char *classes,
		     const char *prefixes, const char *deflt, char *err,
		     size_t errlen)
{
	struct rc_classes cl = {0};
	uint64_t sum = 0;
	int rc, id;

	rc = each_item(&cl, classes, parse_class, err, errlen);
	if (rc == 0 && cl.n == 0) {
		snprintf(err, errlen, "store.classes defines no class");
		rc = -EINVAL;
	}
	if (rc != 0)
		return -EINVAL;
	for (unsigned i = 0; i < cl.n; i++)
		sum += cl.c[i].share_ppm;
	if (sum > 1000000) {
		snprintf(err, errlen, "class shares add up to %.4g%% (> 100%%)",
			 (double)sum / 10000.0);
		return -EINVAL;
	}
	if (each_item(&cl, prefixes, parse_rule, err, errlen) != 0)
		return -EINVAL;
	qsort(cl.r, cl.n_rules, sizeof(cl.r[0]), by_length_desc);
	id = rc_classes_find(&cl, deflt);
	if (id < 0) {
		snprintf(err, errlen, "default class '%s' is not defined",
			 deflt);
		return -EINVAL;
	}
	cl.default_class = (uint8_t)id;
	*out = cl;
	return 0;
}
