/* SPDX-License-Identifier: MIT
 * Options declared once: a table of (section, name, type, default, bounds,
 * description) feeds the config-file parser, command-line overrides,
 * --help and the reference config. No DPDK here. */
#ifndef RC_OPT_H
#define RC_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RC_OPT_STR_MAX 1024

enum rc_opt_type {
	RC_OPT_BOOL,   /* bool */
	RC_OPT_UINT,   /* uint64_t, decimal or 0x hex */
	RC_OPT_SIZE,   /* uint64_t bytes; accepts K, M, G suffixes (1024) */
	RC_OPT_STR,    /* char[RC_OPT_STR_MAX] */
	RC_OPT_IPV4,   /* uint32_t, network byte order, dotted quad */
	RC_OPT_DOUBLE, /* double, bounded by dmin..dmax */
};

struct rc_opt {
	const char *section;
	const char *name;
	enum rc_opt_type type;
	const char *defval;
	uint64_t min, max;       /* UINT and SIZE only */
	size_t offset;           /* of the field in the config struct */
	const char *desc;
	bool runtime;            /* a reload applies it to a running node */
	double dmin, dmax;       /* DOUBLE only */
};

/* Fill every field of cfg from the table's defaults.
 * @return 0, or -EINVAL if a default itself is invalid (a bug). */
int rc_opt_defaults(const struct rc_opt *tab, size_t n, void *cfg,
		    char *err, size_t errlen);

/* Set one option from its text form.
 * @return 0, -ENOENT for an unknown option, -EINVAL for a bad value or
 *         one outside its bounds; err says which and why. */
int rc_opt_set(const struct rc_opt *tab, size_t n, void *cfg,
	       const char *section, const char *name, const char *value,
	       char *err, size_t errlen);

/* "section.name=value", as given to --set. */
int rc_opt_set_kv(const struct rc_opt *tab, size_t n, void *cfg,
		  const char *kv, char *err, size_t errlen);

/* Read an INI file (inih); every key must be a known option.
 * @return 0, -ENOENT if the file cannot be opened, -EINVAL on the first
 *         bad line (err names file, line and reason). */
int rc_opt_load_file(const struct rc_opt *tab, size_t n, void *cfg,
		     const char *path, char *err, size_t errlen);

/* One line per option: name, type, default, bounds, description. */
void rc_opt_print_help(const struct rc_opt *tab, size_t n, FILE *f);

/* A commented INI file holding every default: the reference config. */
void rc_opt_print_reference(const struct rc_opt *tab, size_t n, FILE *f);

const char *rc_opt_type_name(enum rc_opt_type t);

/* Bytes the option's field takes in the config struct. */
size_t rc_opt_field_size(const struct rc_opt *o);

/* Bounds as text ("1..65535", "0.1..10"), or "" for none. */
void rc_opt_bounds(const struct rc_opt *o, char *buf, size_t len);

/* Current value of an option as text (for logs and stats). */
void rc_opt_format(const struct rc_opt *o, const void *cfg, char *buf,
		   size_t len);

#endif
