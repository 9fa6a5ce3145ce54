/* webhook.h - one admission request end to end: body -> review -> vm -> decide -> patch -> body.
 *
 * Shared by the HTTPS server, `archgate review` and the fuzz target, so all three answer alike. */
#ifndef ARCHGATE_WEBHOOK_H
#define ARCHGATE_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include "decide.h"
#include "cluster.h"

struct webhook_result {
    int http_status;            /* 200, 400 or 500 */
    char *body;                 /* response body (mem_malloc'd, caller frees with mem_free); for 400 a one-line reason */
    size_t body_len;
    enum verdict_class cls;     /* meaningful when http_status is 200 */
    enum reason_class reason;   /* the main reason (metrics), meaningful when http_status is 200 */
    bool allowed;
    /* For the request log line (truncated copies; "" when unknown). */
    char uid[64];
    char kind[48];
    char ns[64];
    char name[128];
    char operation[16];
};

/* The VMs that exist (the audit's inventory, serve only; NULL: none known): a HyperConverged
 * UPDATE that changes the workload placement is judged against them. Set before serving, cleared
 * before the inventory is freed. */
struct inventory;
void webhook_set_inventory(struct inventory *inv);

/* Handle one review. `snap` may be NULL (no cluster state yet): answered 500 with the uid.
 * `stale_seconds` > 0 says the cluster view has not been updated for that long (a watch keeps
 * failing): every decided answer then carries a warning saying so.
 * Never fails to produce an answer except when memory is exhausted so far that not even the
 * 500 body can be allocated: then body is NULL and http_status 500. */
void webhook_handle(const char *body, size_t len, bool mutate, const struct snapshot *snap,
                    const struct policy *pol, unsigned stale_seconds, struct webhook_result *out);
void webhook_result_free(struct webhook_result *r);

#endif
