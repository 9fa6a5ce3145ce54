/* lease.c - the leader-election thread: GET the Lease, create it when absent, take it over when
 * it is free or expired, renew it while held (PUT with the resourceVersion read), step down
 * after the renew deadline without a renewal, release it on stop. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "audit/lease.h"
#include "clock.h"
#include "fileio.h"
#include "log.h"
#include "mem.h"

#define LEASE_BODY_MAX (1u << 20)
#define LEASE_HTTP_TIMEOUT_MS 5000L

static struct {
    struct lease_opts o;
    char ns[64], name[254], identity[254];
    struct kube_client *client;
    pthread_t thread;
    bool started;
    atomic_bool stop, leading;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* what this candidate last saw of the record, and when (monotonic ms) */
    bool failing;               /* the last request failed: further failures are logged at debug */
    char observed[600];
    long long observed_ms;
    long long renewed_ms;       /* last successful acquire or renew */
} ls = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* metav1.MicroTime: 2026-12-05T17:04:42.123456Z */
static void micro_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    if (strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        base[0] = '\0';
    snprintf(buf, len, "%.19s.%06dZ", base, (int)((ts.tv_nsec / 1000) % 1000000));
}

void lease_timings(struct lease_opts *o)
{
    o->duration_ms = LEASE_DURATION_MS;
    o->renew_deadline_ms = LEASE_RENEW_DEADLINE_MS;
    o->retry_ms = LEASE_RETRY_MS;
    const char *e = getenv(LEASE_TIMINGS_ENV);
    unsigned long d, r, p;
    char *end;
    if (!e || !*e)
        return;
    d = strtoul(e, &end, 10);
    if (*end != ',')
        return;
    r = strtoul(end + 1, &end, 10);
    if (*end != ',')
        return;
    p = strtoul(end + 1, &end, 10);
    if (*end || p < 100 || r <= p || d <= r || d > 3600000ul)
        return;
    o->duration_ms = (unsigned)d;
    o->renew_deadline_ms = (unsigned)r;
    o->retry_ms = (unsigned)p;
}

static void set_leading(bool on)
{
    bool was = atomic_exchange(&ls.leading, on);
    if (was == on)
        return;
    if (on)
        log_info("lease %s/%s: %s is the auditor now", ls.ns, ls.name, ls.identity);
    else
        log_info("lease %s/%s: %s is not the auditor any more", ls.ns, ls.name, ls.identity);
    if (ls.o.on_change)
        ls.o.on_change(on);
}

/* A failed request: warned once, then at debug until one succeeds. */
/* The timeout of one request: the leader never waits past its renew deadline (counted from the
 * start of its last successful renewal), so it steps down before a follower can take over. */
static long request_budget_ms(void)
{
    if (!atomic_load(&ls.leading))
        return LEASE_HTTP_TIMEOUT_MS;
    long long left = ls.renewed_ms + (long long)ls.o.renew_deadline_ms - clock_mono_ms();
    return left < 1 ? 1 : left < LEASE_HTTP_TIMEOUT_MS ? (long)left : LEASE_HTTP_TIMEOUT_MS;
}

static void lease_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lease_fail(const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!ls.failing)
        log_warn("lease %s/%s: %s (retrying every %u ms)", ls.ns, ls.name, msg, ls.o.retry_ms);
    else
        log_debug("lease %s/%s: %s", ls.ns, ls.name, msg);
    ls.failing = true;
}

static void lease_ok(void)
{
    if (ls.failing)
        log_info("lease %s/%s: kube-apiserver answers again", ls.ns, ls.name);
    ls.failing = false;
}

static void lease_path(char *buf, size_t len, bool item)
{
    snprintf(buf, len, "/apis/coordination.k8s.io/v1/namespaces/%s/leases%s%s", ls.ns, item ? "/" : "",
             item ? ls.name : "");
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *j = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsString(j) && j->valuestring ? j->valuestring : NULL;
}

/* Write the Lease: POST when `rv` is NULL, else PUT with that resourceVersion. */
static bool write_lease(const char *rv, const char *holder, const char *acquire, const char *renew, int transitions,
                        int duration_s)
{
    char path[600], err[512];
    lease_path(path, sizeof path, rv != NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(o, "kind", "Lease");
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", ls.name);
    cJSON_AddStringToObject(meta, "namespace", ls.ns);
    if (rv)
        cJSON_AddStringToObject(meta, "resourceVersion", rv);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "holderIdentity", holder);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", duration_s);
    if (acquire)
        cJSON_AddStringToObject(spec, "acquireTime", acquire);
    cJSON_AddStringToObject(spec, "renewTime", renew);
    cJSON_AddNumberToObject(spec, "leaseTransitions", transitions);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return false;
    long status = 0;
    char *body = NULL;
    enum ag_result r = kube_client_request(ls.client, rv ? "PUT" : "POST", path, "application/json", text,
                                           strlen(text), LEASE_BODY_MAX, request_budget_ms(), &status, &body, NULL,
                                           err, sizeof err);
    cJSON_free(text);
    mem_free(body);
    if (r != AG_OK) {
        lease_fail("%s", err);
        return false;
    }
    if (status == 200 || status == 201) {
        lease_ok();
        return true;
    }
    if (status != 409)
        lease_fail("%s answered %ld%s", rv ? "PUT" : "POST", status,
                   status == 403 ? " (RBAC: archgate needs create, get and update on this Lease)" : "");
    else
        lease_ok();     /* another candidate won: an answer, not a failure */
    return false;
}

/* What the Lease says, read with GET (one reader for renewing and releasing). */
struct lease_rec {
    cJSON *doc;                 /* owns the strings below */
    const char *rv, *holder, *renew, *acquire;
    int transitions;
};

/* AG_OK with *rec filled on 200; *status says what else came. A 200 whose body is not a Lease
 * with a resourceVersion is AG_EINVAL (err says so). */
static enum ag_result read_lease(struct lease_rec *rec, long *status, char *err, size_t errlen)
{
    char path[600];
    char *body = NULL;
    size_t len = 0;
    memset(rec, 0, sizeof *rec);
    lease_path(path, sizeof path, true);
    enum ag_result r = kube_client_get(ls.client, path, LEASE_BODY_MAX, request_budget_ms(), status, &body, &len,
                                       err, errlen);
    if (r != AG_OK || *status != 200) {
        mem_free(body);
        return r;
    }
    rec->doc = fileio_parse_json(body, len, NULL);
    mem_free(body);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(rec->doc, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(rec->doc, "spec");
    rec->rv = str_of(meta, "resourceVersion");
    rec->holder = str_of(spec, "holderIdentity");
    rec->renew = str_of(spec, "renewTime");
    rec->acquire = str_of(spec, "acquireTime");
    const cJSON *tr = cJSON_IsObject(spec) ? cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions") : NULL;
    rec->transitions = cJSON_IsNumber(tr) && tr->valueint > 0 ? tr->valueint : 0;     /* valueint is clamped */
    if (!rec->rv) {
        snprintf(err, errlen, "GET answered 200 without a Lease with a resourceVersion");
        cJSON_Delete(rec->doc);
        rec->doc = NULL;
        return AG_EINVAL;
    }
    return AG_OK;
}

/* client-go tryAcquireOrRenew. */
static bool try_acquire_or_renew(void)
{
    char err[512], now[40];
    long status = 0;
    int duration_s = (int)((ls.o.duration_ms + 999) / 1000);
    micro_time(now, sizeof now);
    struct lease_rec l;
    enum ag_result r = read_lease(&l, &status, err, sizeof err);
    if (r != AG_OK) {
        lease_fail("%s", err);
        return false;
    }
    if (status == 404) {
        ls.observed_ms = clock_mono_ms();
        return write_lease(NULL, ls.identity, now, now, 0, duration_s);
    }
    if (status != 200) {
        lease_fail("GET answered %ld%s", status,
                   status == 403 ? " (RBAC: archgate needs create, get and update on this Lease)" : "");
        return false;
    }
    lease_ok();
    char seen[sizeof ls.observed];
    snprintf(seen, sizeof seen, "%.250s|%.60s|%.60s", l.holder ? l.holder : "", l.renew ? l.renew : "",
             l.acquire ? l.acquire : "");
    long long t = clock_mono_ms();
    if (strcmp(seen, ls.observed) != 0) {
        snprintf(ls.observed, sizeof ls.observed, "%s", seen);
        ls.observed_ms = t;
    }
    bool mine = l.holder && strcmp(l.holder, ls.identity) == 0, ok = false;
    if (!(l.holder && *l.holder && !mine && ls.observed_ms + (long long)ls.o.duration_ms > t))
        ok = write_lease(l.rv, ls.identity, mine && l.acquire ? l.acquire : now, now,
                         mine ? l.transitions : l.transitions + 1, duration_s);
    /* else: held by another, not expired */
    cJSON_Delete(l.doc);
    return ok;
}

/* Give the Lease up if this candidate holds it. */
static void release(void)
{
    char err[512], now[40];
    long status = 0;
    struct lease_rec l;
    if (read_lease(&l, &status, err, sizeof err) != AG_OK || status != 200)
        return;
    if (l.holder && strcmp(l.holder, ls.identity) == 0) {
        micro_time(now, sizeof now);
        if (write_lease(l.rv, "", now, now, l.transitions, 1))
            log_info("lease %s/%s: released", ls.ns, ls.name);
    }
    cJSON_Delete(l.doc);
}

static void *lease_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&ls.stop)) {
        /* a renewal counts from when it started: the write may have landed at any point of it */
        long long started = clock_mono_ms();
        bool ok = try_acquire_or_renew();
        long long t = clock_mono_ms();
        if (ok) {
            ls.renewed_ms = started;
            set_leading(true);
        } else if (atomic_load(&ls.leading) && t - ls.renewed_ms > (long long)ls.o.renew_deadline_ms) {
            log_warn("lease %s/%s: not renewed for %u ms: stepping down", ls.ns, ls.name, ls.o.renew_deadline_ms);
            set_leading(false);
        }
        /* sleep the retry period (a follower adds up to 20%% jitter, as client-go's JitterUntil) */
        unsigned wait = ls.o.retry_ms;
        if (!atomic_load(&ls.leading))
            wait += (unsigned)(rand() % (int)(ls.o.retry_ms / 5 + 1));
        struct timespec until = clock_deadline(CLOCK_MONOTONIC, wait);
        pthread_mutex_lock(&ls.mu);
        while (!atomic_load(&ls.stop) && pthread_cond_timedwait(&ls.cv, &ls.mu, &until) == 0)
            ;
        pthread_mutex_unlock(&ls.mu);
    }
    return NULL;
}

enum ag_result lease_start(const struct lease_opts *o, char *err, size_t errlen)
{
    if (!o->ns || !*o->ns || !o->name || !*o->name || !o->identity || !*o->identity ||
        strlen(o->ns) >= sizeof ls.ns || strlen(o->name) >= sizeof ls.name ||
        strlen(o->identity) >= sizeof ls.identity) {
        snprintf(err, errlen, "lease: a namespace, a name and an identity are needed");
        return AG_EINVAL;
    }
    ls.o = *o;
    snprintf(ls.ns, sizeof ls.ns, "%s", o->ns);
    snprintf(ls.name, sizeof ls.name, "%s", o->name);
    snprintf(ls.identity, sizeof ls.identity, "%s", o->identity);
    ls.observed[0] = '\0';
    ls.observed_ms = 0;
    atomic_store(&ls.stop, false);
    atomic_store(&ls.leading, false);
    if (!(ls.client = kube_client_new(o->cfg, err, errlen)))
        return AG_EIO;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&ls.cv);
    pthread_cond_init(&ls.cv, &ca);
    pthread_condattr_destroy(&ca);
    srand((unsigned)clock_mono_ms() ^ (unsigned)getpid());
    if (pthread_create(&ls.thread, NULL, lease_main, NULL) != 0) {
        kube_client_free(ls.client);
        ls.client = NULL;
        snprintf(err, errlen, "lease: cannot start the thread");
        return AG_EINTERNAL;
    }
    ls.started = true;
    return AG_OK;
}

void lease_stop(bool do_release)
{
    if (!ls.started)
        return;
    pthread_mutex_lock(&ls.mu);
    atomic_store(&ls.stop, true);
    pthread_cond_broadcast(&ls.cv);
    pthread_mutex_unlock(&ls.mu);
    pthread_join(ls.thread, NULL);
    ls.started = false;
    if (do_release && atomic_load(&ls.leading))
        release();
    set_leading(false);
    kube_client_free(ls.client);
    ls.client = NULL;
}

bool lease_leading(void)
{
    return atomic_load(&ls.leading);
}
