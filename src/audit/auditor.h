/* auditor.h - the audit thread of `archgate serve`: re-audits the inventory against the current
 * snapshot when either changes (checked every coalesce period, so a burst of changes is one
 * audit), at least once a minute (for the hourly Event repeats), and only while this replica is
 * the auditor (leader). Publishes the counts for /metrics and writes Events. */
#ifndef ARCHGATE_AUDIT_AUDITOR_H
#define ARCHGATE_AUDIT_AUDITOR_H

#include <stdbool.h>
#include <stddef.h>
#include "decide.h"
#include "kube_client.h"
#include "audit/inventory.h"
#include "result.h"

struct auditor_opts {
    struct inventory *inv;          /* must outlive auditor_stop */
    const char *inventory_dir;      /* folder source: re-read the VMs from it when the snapshot changes (NULL: live) */
    const struct policy *policy;
    const struct kube_config *events_cfg;   /* write Events through this (NULL: no Events) */
    const char *identity;           /* this replica (pod name), for the gauge and Events */
    bool (*leading)(void);          /* NULL: always the auditor */
    bool (*ready)(void);            /* the VMs have been listed (NULL: always): no audit before */
    unsigned (*stale)(void);        /* > 0: the cluster view is stale; audited, but no Events (NULL: never) */
    unsigned coalesce_ms;           /* default 100 */
    unsigned repeat_s;              /* Event repeat period, default 3600 */
};

enum ag_result auditor_start(const struct auditor_opts *o, char *err, size_t errlen);
void auditor_stop(void);            /* fine when not started */

/* The audit's /metrics text (appended by metrics_render through metrics_set_extra_fn): the
 * auditor gauge on every replica; the results only on the auditor. Returns the length written
 * (at most cap - 1, NUL-terminated). */
size_t auditor_metrics(char *buf, size_t cap);

/* Audits run so far (tests). */
unsigned long long auditor_runs(void);

#endif
