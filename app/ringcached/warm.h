/* SPDX-License-Identifier: MIT
 * Warm restart (store.save_file): the partitions' items saved on a clean
 * stop and loaded at the next start (lib/store persist.c). */
#ifndef RCD_WARM_H
#define RCD_WARM_H

#include "node.h"

/* Before the workers run: load store.save_file into the partitions if
 * it is there, then remove it (a later crash must not bring this copy
 * back). A file that fails its checks is renamed FILE.refused and the
 * node starts empty; either way one log line says what happened. */
void rcd_warm_load(struct rcd_node *nd);

/* After the workers stopped on a clean stop: save every live item.
 * @return 0, or -1 (logged). */
int rcd_warm_save(struct rcd_node *nd);

#endif
