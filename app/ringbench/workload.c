/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "workload.h"

const double rb_class_share[5] = {0.40, 0.25, 0.20, 0.10, 0.05};

static double zeta(uint64_t n, double theta)
{
	double s = 0;

	for (uint64_t i = 1; i <= n; i++)
		s += 1.0 / pow((double)i, theta);
	return s;
}

void rb_zipf_init(struct rb_zipf *z, uint64_t n, double theta)
{
	z->n = n;
	z->theta = theta;
	z->alpha = 1.0 / (1.0 - theta);
	z->zetan = zeta(n, theta);
	z->half_pow_theta = 1.0 + pow(0.5, theta);
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) /
		 (1.0 - zeta(2, theta) / z->zetan);
}

uint64_t rb_zipf_next(const struct rb_zipf *z, double u)
{
	double uz = u * z->zetan;
	uint64_t r;

	if (uz < 1.0)
		return 0;
	if (uz < z->half_pow_theta)
		return 1;
	r = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
	return r < z->n ? r : z->n - 1;
}

uint8_t rb_pick_class(uint64_t *s)
{
	double u = rb_uniform(s), acc = 0;

	for (uint8_t c = 0; c < 5; c++) {
		acc += rb_class_share[c];
		if (u < acc)
			return c;
	}
	return 4;
}

size_t rb_key(char *buf, size_t key_size, uint64_t k)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)k);
	size_t pad;

	if (key_size < (size_t)n + 2)
		key_size = (size_t)n + 2;
	pad = key_size - (size_t)n - 2;
	buf[0] = 'k';
	buf[1] = ':';
	memset(buf + 2, '0', pad);
	memcpy(buf + 2 + pad, num, (size_t)n);
	return key_size;
}
