/* source_kube.h - cluster state from kube-apiserver: for every kind the decision reads, a paged
 * list then a watch, kept in a store of the fields the decision reads; the snapshot is rebuilt
 * and published only when one of those changed, at most once per 100 ms.
 *
 * No network I/O happens on the request path: requests read the published snapshot. */
#ifndef ARCHGATE_SOURCE_KUBE_H
#define ARCHGATE_SOURCE_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include "cluster.h"
#include "kube_client.h"
#include "result.h"

struct source_kube_opts {
    const struct kube_config *cfg;  /* copied what is needed of */
    const char *catalog;            /* image catalog file, NULL: none (re-read when it changes) */
    unsigned max_staleness_ms;      /* a watch failing longer than this makes the view stale (default 2 min) */
    unsigned page_limit;            /* list page size (default 500) */
    unsigned watch_timeout_s;       /* server-side timeoutSeconds of a watch (default 300) */
    unsigned backoff_min_ms;        /* first retry delay after an error (default 200 ms) */
    unsigned backoff_max_ms;        /* cap (default 30 s) */
    unsigned missing_retry_ms;      /* retry delay for a kind whose CRD is not installed (default 60 s) */
    unsigned coalesce_ms;           /* at most one rebuild per this (default 100 ms) */
    void (*on_synced)(void);        /* called once, when every kind has listed once (may be NULL) */
};

/* Start the list/watch threads. Returns at once; snapshots are published as they are built
 * (the first when every kind has listed once). Zero fields of opts take their defaults. */
enum ag_result source_kube_start(const struct source_kube_opts *opts, char *err, size_t errlen);
/* Stop and join every thread. */
void source_kube_stop(void);

/* Every kind has listed at least once. */
bool source_kube_synced(void);
/* 0 while the view is fresh; else how many seconds the longest-failing watch has been failing
 * (only once that exceeds max_staleness_ms). */
unsigned source_kube_stale_seconds(void);

/* One list of every kind, then a snapshot (refcount 1) — for `archgate review --kubeconfig`. */
enum ag_result source_kube_list_once(const struct kube_config *cfg, const char *catalog, struct snapshot **out,
                                     char *err, size_t errlen);

#endif
