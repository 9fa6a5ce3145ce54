/* metrics.h - process counters and gauges, rendered as Prometheus text exposition.
 *
 * Counters are lock-free atomics, safe from any thread. */
#ifndef ARCHGATE_METRICS_H
#define ARCHGATE_METRICS_H

#include <stddef.h>
#include <stdbool.h>
#include "decide.h"
#include "hco/hco_review.h"
#include "cluster.h"

enum endpoint { EP_VALIDATE = 0, EP_MUTATE, EP_HEALTHZ, EP_READYZ, EP_METRICS, EP_OTHER, EP_COUNT };

/* One HTTP request done: endpoint, HTTP status, verdict class (for 200 admission answers) and
 * the handling time in seconds (latency histogram, admission endpoints only). */
void metrics_observe(enum endpoint ep, int http_status, enum verdict_class cls, double seconds);

/* The main reason of an admission answer given 200 (metrics_observe counts the request itself). */
void metrics_reason(enum endpoint ep, enum verdict_class cls, enum reason_class reason);

/* Where the stale-view gauge comes from (seconds, 0 when fresh; NULL: no live source). */
void metrics_set_stale_fn(unsigned (*fn)(void));

void metrics_set_cert_not_after(long long unix_seconds);   /* serving certificate notAfter */
void metrics_cert_reload(bool ok);
void metrics_cluster_reload(bool ok);
/* One HyperConverged review: its outcome and the kind of each warning (hco/hco_review.h). */
void metrics_hco_review(enum hco_outcome outcome, const enum hco_warning_kind *kinds, size_t n);

/* Live cluster source (source_kube.c), per kind slot (0 .. METRICS_KUBE_SLOTS-1). Name a slot
 * once, before counting on it, with strings that live as long as the process (slots without a
 * name are not rendered). Snapshot rebuilds count in metrics_cluster_reload. */
#define METRICS_KUBE_SLOTS 16
enum kube_counter {
    KC_EVENTS = 0,          /* watch events applied (ADDED, MODIFIED, DELETED) */
    KC_WATCH_RESTARTS,      /* watches re-opened from the last resourceVersion after a normal end */
    KC_RELISTS,             /* lists after the first (410 Gone, lost resourceVersion) */
    KC_ERRORS,              /* failed list or watch requests (transport, 4xx, 5xx, bad data) */
    KC_REFUSED,             /* objects skipped as malformed or too large */
    KC_COUNT
};
void metrics_kube_kind(unsigned slot, const char *resource, const char *version);
void metrics_kube_count(unsigned slot, enum kube_counter c);
unsigned long long metrics_kube_value(unsigned slot, enum kube_counter c);

/* Registry lookups (src/registry/resolver.c): a cache hit, a fetch by its result (the same order
 * as enum registry_status after RM_FETCHED), a request that stopped waiting at its deadline.
 * seconds >= 0 feeds the lookup-duration histogram (fetches). */
enum registry_metric { RM_HIT = 0, RM_FETCHED, RM_NOT_FOUND, RM_UNAUTHORIZED, RM_TIMEOUT, RM_ERROR, RM_GAVE_UP,
                       RM_COUNT };
void metrics_registry_lookup(int m, double seconds);
/* Where the cache-size gauge comes from (NULL: no registry lookups, not rendered). */
void metrics_set_registry_cache_fn(size_t (*fn)(void));
/* More exposition text from another module (the auditor), appended to every render: `fn`
 * writes at most cap - 1 bytes and returns the length. NULL: none. */
void metrics_set_extra_fn(size_t (*fn)(char *buf, size_t cap));

/* The exposition text, mem_malloc'd (caller mem_free's), NULL on allocation failure. `snap`
 * (may be NULL) and `policy` feed the cluster gauges. */
char *metrics_render(const struct snapshot *snap, const struct policy *policy, size_t *len);

#endif
