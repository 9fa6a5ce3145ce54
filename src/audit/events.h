/* events.h - Kubernetes Events on the VMs the audit finds refusable: a Warning (reason such as
 * NoNodeForImageArchitecture, the cause as message) when a VM becomes refusable or its reason
 * changes, the same Event again (count + 1, PATCH) at most once per repeat period while it stays
 * so, a Normal Event when it recovers. State is kept in memory by the leader: a new leader
 * announces each refusable VM once more. */
#ifndef ARCHGATE_AUDIT_EVENTS_H
#define ARCHGATE_AUDIT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "kube_client.h"
#include "audit/audit.h"
#include "audit/inventory.h"

#define EVENTS_REPEAT_S 3600u           /* a Warning again at most this often */
#define EVENTS_MAX_PER_RUN 100u         /* Events written per audit; the rest wait for the next one */
#define EVENTS_REASON_RECOVERED "ArchitectureCheckPassed"

struct events;

/* `identity` is the reportingInstance (the pod name). NULL on failure (err says why). */
struct events *events_new(const struct kube_config *cfg, const char *identity, char *err, size_t errlen);
void events_free(struct events *ev);     /* NULL is fine */

/* Compare the report with the previous one and write the Events due at `now`. Returns true when
 * some were left for the next run (the per-run cap, or a failed write). */
bool events_apply(struct events *ev, const struct audit_report *r, struct inventory *inv, time_t now,
                  unsigned repeat_s);

/* Counters: Events written by type (0 Warning, 1 Normal) and failed writes. */
unsigned long long events_written(int normal);
unsigned long long events_failed(void);

#endif
