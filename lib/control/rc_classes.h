/* SPDX-License-Identifier: MIT
 * Data classes as the config defines them: names, shares of memory, the
 * protected flag, and key-prefix rules that give a request without an
 * explicit class its class. No DPDK here. */
#ifndef RC_CLASSES_H
#define RC_CLASSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_CLASSES_MAX 16u
#define RC_CLASS_NAME_MAX 32u
#define RC_PREFIX_RULES_MAX 32u
#define RC_PREFIX_MAX 64u

struct rc_class_def {
	char name[RC_CLASS_NAME_MAX];
	uint32_t share_ppm;      /* parts per million of the memory budget */
	bool protect;
};

struct rc_prefix_rule {
	char prefix[RC_PREFIX_MAX];
	uint8_t len;
	uint8_t class_id;
};

struct rc_classes {
	unsigned n;
	struct rc_class_def c[RC_CLASSES_MAX];
	unsigned n_rules;        /* longest prefix first */
	struct rc_prefix_rule r[RC_PREFIX_RULES_MAX];
	uint8_t default_class;
};

/* Parse the three [store] strings:
 *   classes:  "name:share[:protected],..."   share in percent, e.g. 40 or
 *             2.5; ids are given in order from 0; shares sum to <= 100.
 *   prefixes: "prefix=name,..."              "" for none.
 *   deflt:    the class of keys no prefix matches.
 * @return 0, or -EINVAL with err saying what is wrong. */
int rc_classes_parse(struct rc_classes *out, const char *classes,
		     const char *prefixes, const char *deflt, char *err,
		     size_t errlen);

/* Class id of a name, or -1. */
int rc_classes_find(const struct rc_classes *cl, const char *name);

/* The class of a key without an explicit one: longest matching prefix,
 * else the default. */
static inline uint8_t rc_classes_match(const struct rc_classes *cl,
				       const void *key, size_t len)
{
	for (unsigned i = 0; i < cl->n_rules; i++) {
		const struct rc_prefix_rule *r = &cl->r[i];

		if (r->len <= len && __builtin_memcmp(key, r->prefix,
						      r->len) == 0)
			return r->class_id;
	}
	return cl->default_class;
}

#endif
