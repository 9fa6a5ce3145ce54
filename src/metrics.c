/* metrics.c - process counters and gauges (lock-free atomics) and their Prometheus text
 * exposition (format 0.0.4). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "arch.h"
#include "labelset.h"
#include "mem.h"
#include "hco/hco_review.h"
#include "metrics.h"
#include "version.h"

#define RENDER_MAX (1024 * 1024)

/* HTTP status codes counted by name; anything else is counted as code="other". */
static const int known_codes[] = { 200, 400, 404, 405, 413, 500, 503 };
#define NCODES (sizeof known_codes / sizeof known_codes[0])
#define CODE_OTHER NCODES

static const double buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

static const char *const endpoint_names[EP_COUNT] = {
    [EP_VALIDATE] = "validate", [EP_MUTATE] = "mutate", [EP_HEALTHZ] = "healthz",
    [EP_READYZ] = "readyz", [EP_METRICS] = "metrics", [EP_OTHER] = "other",
};

/* Label values of the admission verdicts; index VC_COUNT is "error" (any non-200 answer). */
static const char *const verdict_names[VC_COUNT + 1] = {
    [VC_ALLOWED] = "allowed", [VC_WARNED] = "warned", [VC_MUTATED] = "mutated",
    [VC_DENIED] = "denied", [VC_SKIPPED] = "skipped", [VC_COUNT] = "error",
};

struct histogram {
    atomic_ullong bucket[NBUCKETS + 1];     /* per bucket, not cumulative; last is +Inf only */
    atomic_ullong sum_ns;
    atomic_ullong count;
};

static atomic_ullong admission[2][VC_COUNT + 1];
static atomic_ullong http_requests[EP_COUNT][NCODES + 1];
static struct histogram latency[2];
static atomic_llong cert_not_after;
static atomic_ullong cert_reloads[2];       /* [0] failure, [1] success */
static atomic_ullong cluster_reloads[2];

/* Live cluster source counters per kind slot; a slot is rendered once it has a name. */
struct kube_slot {
    _Atomic(const char *) resource;
    _Atomic(const char *) version;
    atomic_ullong n[KC_COUNT];
};
static struct kube_slot kube_slots[METRICS_KUBE_SLOTS];

static atomic_ullong reasons[EP_COUNT][VC_COUNT][RC_COUNT];

/* Registry lookups: counts by result, the fetch-duration histogram, the cache-size source. */
static const double reg_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10 };
#define NREG_BUCKETS (sizeof reg_buckets / sizeof reg_buckets[0])
static atomic_ullong reg_lookups[RM_COUNT];
static atomic_ullong reg_bucket[NREG_BUCKETS + 1];
static atomic_ullong reg_sum_ns;
static _Atomic(size_t (*)(void)) reg_cache_fn;

void metrics_registry_lookup(int m, double seconds)
{
    if (m < 0 || m >= RM_COUNT)
        return;
    atomic_fetch_add_explicit(&reg_lookups[m], 1, memory_order_relaxed);
    if (seconds < 0)
        return;
    size_t b = 0;
    while (b < NREG_BUCKETS && seconds > reg_buckets[b])
        b++;
    atomic_fetch_add_explicit(&reg_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&reg_sum_ns, (unsigned long long)(seconds * 1e9), memory_order_relaxed);
}

void metrics_set_registry_cache_fn(size_t (*fn)(void))
{
    atomic_store(&reg_cache_fn, fn);
}
static _Atomic(unsigned (*)(void)) stale_fn;

void metrics_reason(enum endpoint ep, enum verdict_class cls, enum reason_class reason)
{
    if ((ep != EP_VALIDATE && ep != EP_MUTATE) || (int)cls < 0 || cls >= VC_COUNT || (int)reason < 0 ||
        reason >= RC_COUNT)
        return;
    atomic_fetch_add_explicit(&reasons[ep][cls][reason], 1, memory_order_relaxed);
}

void metrics_set_stale_fn(unsigned (*fn)(void))
{
    atomic_store(&stale_fn, fn);
}

static size_t code_index(int status)
{
    for (size_t i = 0; i < NCODES; i++)
        if (known_codes[i] == status)
            return i;
    return CODE_OTHER;
}

void metrics_observe(enum endpoint ep, int http_status, enum verdict_class cls, double seconds)
{
    if ((int)ep < 0 || ep >= EP_COUNT)
        ep = EP_OTHER;
    atomic_fetch_add_explicit(&http_requests[ep][code_index(http_status)], 1, memory_order_relaxed);
    if (ep != EP_VALIDATE && ep != EP_MUTATE)
        return;
    size_t v = (http_status == 200 && (int)cls >= 0 && cls < VC_COUNT) ? (size_t)cls : VC_COUNT;
    atomic_fetch_add_explicit(&admission[ep][v], 1, memory_order_relaxed);
    if (!(seconds >= 0))            /* also catches NaN */
        seconds = 0;
    if (seconds > 1e6)
        seconds = 1e6;
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    struct histogram *h = &latency[ep];
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (unsigned long long)(seconds * 1e9), memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void metrics_set_cert_not_after(long long unix_seconds)
{
    atomic_store_explicit(&cert_not_after, unix_seconds, memory_order_relaxed);
}

void metrics_cert_reload(bool ok)
{
    atomic_fetch_add_explicit(&cert_reloads[ok ? 1 : 0], 1, memory_order_relaxed);
}

static atomic_ullong hco_outcomes[HO_COUNT], hco_warnings[HW_COUNT];

void metrics_hco_review(enum hco_outcome outcome, const enum hco_warning_kind *kinds, size_t n)
{
    if ((unsigned)outcome < HO_COUNT)
        atomic_fetch_add_explicit(&hco_outcomes[outcome], 1, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        if ((unsigned)kinds[i] < HW_COUNT)
            atomic_fetch_add_explicit(&hco_warnings[kinds[i]], 1, memory_order_relaxed);
}

void metrics_cluster_reload(bool ok)
{
    atomic_fetch_add_explicit(&cluster_reloads[ok ? 1 : 0], 1, memory_order_relaxed);
}

void metrics_kube_kind(unsigned slot, const char *resource, const char *version)
{
    if (slot >= METRICS_KUBE_SLOTS || !resource || !version)
        return;
    atomic_store_explicit(&kube_slots[slot].version, version, memory_order_relaxed);
    atomic_store_explicit(&kube_slots[slot].resource, resource, memory_order_release);
}

void metrics_kube_count(unsigned slot, enum kube_counter c)
{
    if (slot < METRICS_KUBE_SLOTS && (int)c >= 0 && c < KC_COUNT)
        atomic_fetch_add_explicit(&kube_slots[slot].n[c], 1, memory_order_relaxed);
}

unsigned long long metrics_kube_value(unsigned slot, enum kube_counter c)
{
    if (slot >= METRICS_KUBE_SLOTS || (int)c < 0 || c >= KC_COUNT)
        return 0;
    return atomic_load_explicit(&kube_slots[slot].n[c], memory_order_relaxed);
}

/* A bounded text buffer; after the first failure every append is a no-op and `failed` stays set. */
struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2;
        while (ncap - o->len <= (size_t)n)
            ncap *= 2;
        if (ncap > RENDER_MAX) {
            o->failed = true;
            return;
        }
        char *nb = mem_realloc(o->buf, ncap);
        if (!nb) {
            o->failed = true;
            return;
        }
        o->buf = nb;
        o->cap = ncap;
    }
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_histogram(struct out *o, const char *ep, const struct histogram *h)
{
    /* Read the buckets first and derive the count from them, so the exposition is consistent
     * (cumulative, ending with +Inf == _count) even while requests are being observed. */
    unsigned long long cum = 0;
    for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
        if (b < NBUCKETS)
            out_printf(o, "archgate_admission_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
                       ep, buckets[b], cum);
        else
            out_printf(o, "archgate_admission_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
                       ep, cum);
    }
    double sum = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9;
    out_printf(o, "archgate_admission_duration_seconds_sum{endpoint=\"%s\"} %.9g\n", ep, sum);
    out_printf(o, "archgate_admission_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep, cum);
}

static void render_cluster(struct out *o, const struct snapshot *snap, const struct policy *policy)
{
    time_t now = time(NULL);
    family(o, "archgate_snapshot_age_seconds", "gauge", "Seconds since the current cluster snapshot was built.");
    if (snap)
        out_printf(o, "archgate_snapshot_age_seconds %lld\n",
                   (long long)(snap->built_at && now > snap->built_at ? now - snap->built_at : 0));
    family(o, "archgate_snapshot_bytes", "gauge", "Memory held by the current cluster snapshot.");
    if (snap)
        out_printf(o, "archgate_snapshot_bytes %zu\n", snap->bytes);
    struct mem_heap heap;
    mem_heap_stats(&heap);
    family(o, "archgate_malloc_in_use_bytes", "gauge", "Heap bytes allocated and not freed (below the mmap threshold).");
    out_printf(o, "archgate_malloc_in_use_bytes %zu\n", heap.in_use);
    family(o, "archgate_malloc_free_bytes", "gauge", "Heap bytes freed but still held by malloc.");
    out_printf(o, "archgate_malloc_free_bytes %zu\n", heap.free);
    family(o, "archgate_malloc_mmapped_bytes", "gauge", "Bytes of large allocations, each mapped on its own.");
    out_printf(o, "archgate_malloc_mmapped_bytes %zu\n", heap.mmapped);
    family(o, "archgate_malloc_arenas", "gauge", "malloc arenas (per-thread heaps).");
    out_printf(o, "archgate_malloc_arenas %u\n", heap.arenas);
    struct labelset_stats ls;
    labelset_stats(&ls);
    family(o, "archgate_node_labels_bytes", "gauge",
           "Memory of the nodes' label maps, shared by the store and the snapshots (interned strings included).");
    out_printf(o, "archgate_node_labels_bytes %zu\n", ls.bytes);

    family(o, "archgate_nodes", "gauge",
           "Nodes by architecture and whether a VM without placement constraints could run there.");
    if (snap) {
        for (int a = 0; a <= ARCH_COUNT; a++) {
            unsigned eligible = snap->base.n[NR_ELIGIBLE][a], other = 0;
            for (int r = 0; r < NR_COUNT; r++)
                if (r != NR_ELIGIBLE)
                    other += snap->base.n[r][a];
            const char *name = a == ARCH_COUNT ? "unknown" : arch_name(a);
            if (eligible)
                out_printf(o, "archgate_nodes{architecture=\"%s\",eligible=\"true\"} %u\n", name, eligible);
            if (other)
                out_printf(o, "archgate_nodes{architecture=\"%s\",eligible=\"false\"} %u\n", name, other);
        }
    }
    family(o, "archgate_datasources", "gauge",
           "DataSources in the current cluster snapshot by the architecture of their label "
           "(none: architecture-agnostic or unlabelled).");
    if (snap) {
        size_t per[ARCH_COUNT + 1] = { 0 };
        for (size_t i = 0; i < snap->ndatasources; i++) {
            int a = snap->datasources[i].label_arch;
            per[a >= 0 && a < ARCH_COUNT ? a : ARCH_COUNT]++;
        }
        for (int a = 0; a <= ARCH_COUNT; a++)
            if (per[a] || a == ARCH_COUNT)
                out_printf(o, "archgate_datasources{architecture=\"%s\"} %zu\n",
                           a == ARCH_COUNT ? "none" : arch_name(a), per[a]);
    }
    unsigned (*fn)(void) = atomic_load(&stale_fn);
    family(o, "archgate_cluster_view_stale_seconds", "gauge",
           "Seconds the cluster view has not been updated while a watch keeps failing "
           "(0 while fresh; reported once past --max-staleness).");
    out_printf(o, "archgate_cluster_view_stale_seconds %u\n", fn ? fn() : 0);
    family(o, "archgate_multi_arch_enabled", "gauge",
           "1 when multi-architecture boot images are enabled (flag or HyperConverged).");
    if (snap && policy)
        out_printf(o, "archgate_multi_arch_enabled %d\n", decide_multi_arch_enabled(snap, policy) ? 1 : 0);
    family(o, "archgate_cluster_heterogeneous", "gauge",
           "1 when the workload nodes span several architectures.");
    if (snap)
        out_printf(o, "archgate_cluster_heterogeneous %d\n", snap->heterogeneous ? 1 : 0);
}

static void render_kube(struct out *o)
{
    static const struct { const char *name, *help; } fams[KC_COUNT] = {
        [KC_EVENTS] = { "archgate_kube_events_total", "Watch events applied, by resource." },
        [KC_WATCH_RESTARTS] = { "archgate_kube_watch_restarts_total",
                                "Watches re-opened from the last resourceVersion after the stream ended." },
        [KC_RELISTS] = { "archgate_kube_relists_total",
                         "Lists after the first one (410 Gone or no resourceVersion to resume from)." },
        [KC_ERRORS] = { "archgate_kube_request_errors_total", "Failed list or watch requests, by resource." },
        [KC_REFUSED] = { "archgate_kube_objects_refused_total",
                         "Objects skipped as malformed or too large, by resource." },
    };
    for (int c = 0; c < KC_COUNT; c++) {
        family(o, fams[c].name, "counter", fams[c].help);
        for (unsigned i = 0; i < METRICS_KUBE_SLOTS; i++) {
            const char *res = atomic_load_explicit(&kube_slots[i].resource, memory_order_acquire);
            const char *ver = atomic_load_explicit(&kube_slots[i].version, memory_order_relaxed);
            if (!res || !ver)
                continue;
            out_printf(o, "%s{resource=\"%s\",version=\"%s\"} %llu\n", fams[c].name, res, ver,
                       atomic_load_explicit(&kube_slots[i].n[c], memory_order_relaxed));
        }
    }
}

static void render_registry(struct out *o)
{
    static const char *const names[RM_COUNT] = {
        [RM_HIT] = "hit", [RM_FETCHED] = "fetched", [RM_NOT_FOUND] = "not_found",
        [RM_UNAUTHORIZED] = "unauthorized", [RM_TIMEOUT] = "timeout", [RM_ERROR] = "error",
        [RM_GAVE_UP] = "request_timeout",
    };
    size_t (*fn)(void) = atomic_load(&reg_cache_fn);
    family(o, "archgate_registry_lookups_total", "counter",
           "Image architecture lookups by result (hit: from the cache; request_timeout: an admission "
           "stopped waiting at --registry-timeout).");
    for (int m = 0; m < RM_COUNT; m++)
        out_printf(o, "archgate_registry_lookups_total{result=\"%s\"} %llu\n", names[m],
                   atomic_load_explicit(&reg_lookups[m], memory_order_relaxed));
    family(o, "archgate_registry_lookup_duration_seconds", "histogram",
           "Time of one registry lookup (manifest, token and config requests together).");
    unsigned long long cum = 0;
    for (size_t b = 0; b <= NREG_BUCKETS; b++) {
        cum += atomic_load_explicit(&reg_bucket[b], memory_order_relaxed);
        if (b < NREG_BUCKETS)
            out_printf(o, "archgate_registry_lookup_duration_seconds_bucket{le=\"%g\"} %llu\n", reg_buckets[b], cum);
        else
            out_printf(o, "archgate_registry_lookup_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    out_printf(o, "archgate_registry_lookup_duration_seconds_sum %.9g\n",
               (double)atomic_load_explicit(&reg_sum_ns, memory_order_relaxed) / 1e9);
    out_printf(o, "archgate_registry_lookup_duration_seconds_count %llu\n", cum);
    family(o, "archgate_registry_cache_entries", "gauge", "References in the registry cache.");
    if (fn)
        out_printf(o, "archgate_registry_cache_entries %zu\n", fn());
}

static _Atomic(size_t (*)(char *, size_t)) extra_fn;

void metrics_set_extra_fn(size_t (*fn)(char *buf, size_t cap))
{
    atomic_store(&extra_fn, fn);
}

#define METRICS_EXTRA_MAX (64u * 1024)

char *metrics_render(const struct snapshot *snap, const struct policy *policy, size_t *len)
{
    struct out o = { .buf = mem_malloc(16384), .len = 0, .cap = 16384, .failed = false };
    if (!o.buf)
        return NULL;
    o.buf[0] = '\0';

    family(&o, "archgate_admission_requests_total", "counter",
           "Admission requests by endpoint and verdict (error: answered other than 200).");
    for (int ep = EP_VALIDATE; ep <= EP_MUTATE; ep++)
        for (int v = 0; v <= VC_COUNT; v++)
            out_printf(&o, "archgate_admission_requests_total{endpoint=\"%s\",verdict=\"%s\"} %llu\n",
                       endpoint_names[ep], verdict_names[v],
                       atomic_load_explicit(&admission[ep][v], memory_order_relaxed));

    family(&o, "archgate_admission_reasons_total", "counter",
           "Admission answers by endpoint, verdict and the class of their main reason.");
    for (int ep = EP_VALIDATE; ep <= EP_MUTATE; ep++)
        for (int v = 0; v < VC_COUNT; v++)
            for (int rc = 0; rc < RC_COUNT; rc++) {
                unsigned long long n = atomic_load_explicit(&reasons[ep][v][rc], memory_order_relaxed);
                if (n || (rc == RC_NONE && v == VC_ALLOWED))
                    out_printf(&o, "archgate_admission_reasons_total{endpoint=\"%s\",verdict=\"%s\",reason=\"%s\"} %llu\n",
                               endpoint_names[ep], verdict_names[v], reason_class_name((enum reason_class)rc), n);
            }

    family(&o, "archgate_http_requests_total", "counter", "HTTP requests by endpoint and status code.");
    for (int ep = 0; ep < EP_COUNT; ep++)
        for (size_t c = 0; c <= NCODES; c++) {
            unsigned long long n = atomic_load_explicit(&http_requests[ep][c], memory_order_relaxed);
            if (!n)
                continue;
            if (c == CODE_OTHER)
                out_printf(&o, "archgate_http_requests_total{endpoint=\"%s\",code=\"other\"} %llu\n",
                           endpoint_names[ep], n);
            else
                out_printf(&o, "archgate_http_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
                           endpoint_names[ep], known_codes[c], n);
        }

    family(&o, "archgate_admission_duration_seconds", "histogram",
           "Time to answer an admission request, from its headers to its response.");
    render_histogram(&o, "validate", &latency[EP_VALIDATE]);
    render_histogram(&o, "mutate", &latency[EP_MUTATE]);

    long long not_after = atomic_load_explicit(&cert_not_after, memory_order_relaxed);
    family(&o, "archgate_certificate_expiry_seconds", "gauge",
           "Seconds until the serving certificate expires (negative when expired).");
    if (not_after)
        out_printf(&o, "archgate_certificate_expiry_seconds %lld\n", not_after - (long long)time(NULL));

    family(&o, "archgate_certificate_reloads_total", "counter", "Serving certificate reloads by result.");
    out_printf(&o, "archgate_certificate_reloads_total{result=\"success\"} %llu\n",
               atomic_load_explicit(&cert_reloads[1], memory_order_relaxed));
    out_printf(&o, "archgate_certificate_reloads_total{result=\"failure\"} %llu\n",
               atomic_load_explicit(&cert_reloads[0], memory_order_relaxed));
    family(&o, "archgate_cluster_reloads_total", "counter", "Cluster snapshot rebuilds by result.");
    out_printf(&o, "archgate_cluster_reloads_total{result=\"success\"} %llu\n",
               atomic_load_explicit(&cluster_reloads[1], memory_order_relaxed));
    out_printf(&o, "archgate_cluster_reloads_total{result=\"failure\"} %llu\n",
               atomic_load_explicit(&cluster_reloads[0], memory_order_relaxed));

    family(&o, "archgate_hyperconverged_reviews_total", "counter",
           "HyperConverged edits reviewed on /validate, by outcome (silent, warned, unchanged, unreadable).");
    for (unsigned i = 0; i < HO_COUNT; i++)
        out_printf(&o, "archgate_hyperconverged_reviews_total{outcome=\"%s\"} %llu\n", hco_outcome_name(i),
                   atomic_load_explicit(&hco_outcomes[i], memory_order_relaxed));
    family(&o, "archgate_hyperconverged_warnings_total", "counter", "Warnings of HyperConverged reviews, by kind.");
    for (unsigned i = 0; i < HW_COUNT; i++)
        out_printf(&o, "archgate_hyperconverged_warnings_total{kind=\"%s\"} %llu\n", hco_warning_kind_name(i),
                   atomic_load_explicit(&hco_warnings[i], memory_order_relaxed));

    render_cluster(&o, snap, policy);
    render_kube(&o);
    render_registry(&o);
    size_t (*fn)(char *, size_t) = atomic_load(&extra_fn);
    if (fn) {
        char *extra = mem_malloc(METRICS_EXTRA_MAX);
        if (!extra)
            o.failed = true;
        else if (fn(extra, METRICS_EXTRA_MAX) > 0)
            out_printf(&o, "%s", extra);
        mem_free(extra);
    }

    family(&o, "archgate_build_info", "gauge", "Build information; the value is always 1.");
    out_printf(&o, "archgate_build_info{version=\"%s\"} 1\n", ARCHGATE_VERSION);

    if (o.failed) {
        mem_free(o.buf);
        return NULL;
    }
    if (len)
        *len = o.len;
    return o.buf;
}
