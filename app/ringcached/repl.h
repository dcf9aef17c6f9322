/* SPDX-License-Identifier: MIT
 * Replication, on a thread of its own: the stream to (or from) the peer node
 * over kernel TCP, heartbeats on both networks, roles and epochs,
 * resync, durable-write acknowledgements. The state machine is lib/repl's
 * node (rc_repl_node.h); this is its wiring. Workers are reached only
 * through their logs and a few published fields (worker.h). */
#ifndef RCD_REPL_H
#define RCD_REPL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "node.h"
#include "rc_repl.h"
#include "rc_repl_node.h"

struct rcd_repl;

/* Set up from nd->cfg: logs for every worker, the listening socket, the
 * starting role (standalone when repl.role is). Workers must not run
 * yet. @return the state (NULL only on fatal errors, logged). */
struct rcd_repl *rcd_repl_create(struct rcd_node *nd);
void rcd_repl_destroy(struct rcd_repl *r);

/* One turn: drain worker logs into batches, move bytes on the socket,
 * apply what came in, heartbeats, failure detection. Cheap when there is
 * nothing to do. Run by the replication thread (rcd_repl_start); the
 * other functions here are safe to call from the control core meanwhile.
 * @return true if it did something (the loop then polls again at once). */
bool rcd_repl_poll(struct rcd_repl *r);

/* Start the replication thread (nothing to do when standalone): turns
 * back to back while busy, 20 us naps when idle. Its heartbeats and
 * failure detection never wait on the control core, a control-socket
 * client, a flush or a warm. Stopped by rcd_repl_destroy.
 * @return 0 or a negative errno (logged). */
int rcd_repl_start(struct rcd_repl *r);

/* Operator actions. @return 0, or -1 with why in err. A standby whose
 * copy is not in step is promoted only with force. A demote refuses
 * writes at once and hands the role over once the standby has applied
 * every record (or gives up, still primary, after ten failover
 * periods). */
int rcd_repl_promote(struct rcd_repl *r, bool force, char *err,
		     size_t errlen);
int rcd_repl_demote(struct rcd_repl *r, char *err, size_t errlen);

enum rc_repl_role rcd_repl_role(const struct rcd_repl *r);
uint32_t rcd_repl_epoch(const struct rcd_repl *r);

/* Everything `ringctl repl status` shows, as JSON. */
json_t *rcd_repl_status(const struct rcd_repl *r);

/* Metrics: the node's view (lag, state) and counters, the beats the
 * workers refused included. */
void rcd_repl_gauges(const struct rcd_repl *r, struct rc_repl_view *v,
		     struct rc_repl_stats *st);

#endif
