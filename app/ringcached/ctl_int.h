/* SPDX-License-Identifier: MIT
 * Private to the control socket's commands: ctl.c (parse, dispatch,
 * answer) and cmd.c (the commands that run on workers). */
#ifndef RCD_CTL_INT_H
#define RCD_CTL_INT_H

#include <jansson.h>

#include "control.h"

/* What a command returns when it has parked the request (it answers
 * later, through rc_ctlsock_answer). */
extern json_t rcd_ctl_later;
#define RCD_CTL_LATER (&rcd_ctl_later)

/* {"ok":false,"error":<printf>,"code":code}. */
json_t *rcd_ctl_fail(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A class's id by name. @return the id, or -1. */
int rcd_ctl_class(const struct rcd_ctl *c, const char *name);

/* resp (released) as the answer's text; RC_CTLSOCK_LATER when it is
 * RCD_CTL_LATER or is printed on the JSON thread (c->big). */
char *rcd_ctl_answer_text(struct rcd_ctl *c, uint64_t id, json_t *resp);

/* get (t RC_CMD_GET) and del, flush, warm: RCD_CTL_LATER once queued,
 * else an error. */
json_t *rcd_cmd_key(struct rcd_ctl *c, json_t *req, enum rc_cmd_type t);
json_t *rcd_cmd_flush(struct rcd_ctl *c, json_t *req);
json_t *rcd_cmd_warm(struct rcd_ctl *c, json_t *req);

#endif
