/* auditor.c - the audit thread: watches the snapshot generation, the inventory generation and
 * the leadership every coalesce period, re-audits when one changed (or a minute passed), keeps
 * the last counts for /metrics, and hands the report to the Event writer. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "audit/auditor.h"
#include "clock.h"
#include "audit/audit.h"
#include "audit/events.h"
#include "cluster.h"
#include "log.h"
#include "mem.h"

#define AUDITOR_MAX_IDLE_MS 60000       /* re-audit at least this often (Event repeats) */
#define AUDITOR_BACKLOG_MS 1000         /* Events left over (the per-run cap, a failed write): again this soon */

static struct {
    struct auditor_opts o;
    char identity[254];
    pthread_t thread;
    bool started;
    atomic_bool stop;
    struct events *events;
    pthread_mutex_t mu;             /* guards the published results below */
    bool have;                      /* a report has been published (and we lead) */
    size_t status[AS_COUNT];
    size_t by_class[AC_COUNT];
    size_t vms, vmis;
    double seconds, cpu_seconds;
    time_t at;
    atomic_ullong runs;
    atomic_bool leading;
    bool stale_logged;
} au = { .mu = PTHREAD_MUTEX_INITIALIZER };

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Re-read the folder's VMs and VMIs into the inventory in place: unchanged ones stay where they
 * are, nothing is allocated for them, and those gone from the folder are forgotten. */
static void reload_dir(void)
{
    char err[512] = "";
    inventory_sync_begin(au.o.inv, false);
    inventory_sync_begin(au.o.inv, true);
    bool ok = inventory_load_dir(au.o.inv, au.o.inventory_dir, err, sizeof err) == AG_OK;
    if (!ok)
        log_warn("audit: VMs of %s: %s (none forgotten until the folder reads again)", au.o.inventory_dir, err);
    inventory_sync_end(au.o.inv, false, ok);
    inventory_sync_end(au.o.inv, true, ok);
    mem_give_back();    /* the read's transients */
}

/* One audit; true when Events were left for a later run. */
static bool run_once(void)
{
    struct snapshot *s = snapshot_acquire();
    if (!s)
        return false;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    struct audit_report *r = NULL;
    enum ag_result rc = audit_run(s, au.o.inv, au.o.policy, &r);
    double t1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    snapshot_release(s);
    if (rc != AG_OK) {
        log_warn("audit: %s", ag_result_name(rc));
        return false;
    }
    atomic_fetch_add(&au.runs, 1);
    pthread_mutex_lock(&au.mu);
    bool first = !au.have;
    size_t before = au.status[AS_REFUSED];
    memcpy(au.status, r->status, sizeof au.status);
    memcpy(au.by_class, r->by_class, sizeof au.by_class);
    au.vms = r->vms;
    au.vmis = r->vmis;
    au.seconds = t1 - t0;
    au.cpu_seconds = c1 - c0;
    au.at = time(NULL);
    au.have = true;
    pthread_mutex_unlock(&au.mu);
    if (first || before != r->status[AS_REFUSED]) {
        char sum[256];
        audit_summary(r, sum, sizeof sum);
        log_info("audit: %s in %.1f ms", sum, (t1 - t0) * 1e3);
    }
    bool backlog = false;
    unsigned stale = au.o.stale ? au.o.stale() : 0;
    if (au.events && stale) {
        if (!au.stale_logged)
            log_warn("audit: the cluster view is %u s old: no Events until it is fresh again", stale);
        au.stale_logged = true;
        backlog = true;     /* look again soon */
    } else if (au.events) {
        au.stale_logged = false;
        backlog = events_apply(au.events, r, au.o.inv, time(NULL), au.o.repeat_s ? au.o.repeat_s : EVENTS_REPEAT_S);
    }
    audit_report_free(r);
    return backlog;
}

static void *auditor_main(void *arg)
{
    (void)arg;
    uint64_t seen_snap = 0, seen_inv = 0;
    bool was_leading = false;
    long long last = 0, retry_at = 0;
    unsigned period = au.o.coalesce_ms ? au.o.coalesce_ms : 100;
    while (!atomic_load(&au.stop)) {
        bool lead = au.o.leading ? au.o.leading() : true;
        if (lead && au.o.ready && !au.o.ready()) {
            atomic_store(&au.leading, true);
            struct timespec ts = { (time_t)(period / 1000), (long)(period % 1000) * 1000000L };
            nanosleep(&ts, NULL);
            continue;
        }
        atomic_store(&au.leading, lead);
        if (!lead) {
            if (was_leading) {
                pthread_mutex_lock(&au.mu);
                au.have = false;            /* the results are the leader's to report */
                pthread_mutex_unlock(&au.mu);
                /* a later leadership starts from a clean Event state */
                events_free(au.events);
                au.events = NULL;
                if (au.o.events_cfg) {
                    char err[256];
                    au.events = events_new(au.o.events_cfg, au.identity, err, sizeof err);
                }
            }
            was_leading = false;
        } else {
            uint64_t sg = snapshot_generation();
            if (au.o.inventory_dir && sg != seen_snap)
                reload_dir();
            uint64_t ig = inventory_generation(au.o.inv);
            long long now = clock_mono_ms();
            if (!was_leading || sg != seen_snap || ig != seen_inv || now - last >= AUDITOR_MAX_IDLE_MS ||
                (retry_at && now >= retry_at)) {
                seen_snap = sg;
                seen_inv = ig;
                last = now;
                retry_at = run_once() ? now + AUDITOR_BACKLOG_MS : 0;
            }
            was_leading = true;
        }
        struct timespec ts = { (time_t)(period / 1000), (long)(period % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

enum ag_result auditor_start(const struct auditor_opts *o, char *err, size_t errlen)
{
    au.o = *o;
    snprintf(au.identity, sizeof au.identity, "%s", o->identity && *o->identity ? o->identity : "archgate");
    atomic_store(&au.stop, false);
    au.have = false;
    if (o->events_cfg && !(au.events = events_new(o->events_cfg, au.identity, err, errlen)))
        return AG_EIO;
    if (pthread_create(&au.thread, NULL, auditor_main, NULL) != 0) {
        events_free(au.events);
        au.events = NULL;
        snprintf(err, errlen, "cannot start the audit thread");
        return AG_EINTERNAL;
    }
    au.started = true;
    return AG_OK;
}

void auditor_stop(void)
{
    if (!au.started)
        return;
    atomic_store(&au.stop, true);
    pthread_join(au.thread, NULL);
    au.started = false;
    events_free(au.events);
    au.events = NULL;
    pthread_mutex_lock(&au.mu);
    au.have = false;
    pthread_mutex_unlock(&au.mu);
}

unsigned long long auditor_runs(void)
{
    return atomic_load(&au.runs);
}

struct mbuf {
    char *p;
    size_t len, cap;
};

static void mb(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb(struct mbuf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    b->len = (size_t)n < b->cap - b->len ? b->len + (size_t)n : b->cap - 1;
}

size_t auditor_metrics(char *buf, size_t cap)
{
    struct mbuf b = { buf, 0, cap };
    if (!cap)
        return 0;
    buf[0] = '\0';
    if (!au.started)
        return 0;
    mb(&b, "# HELP archgate_audit_leader 1 on the replica that audits existing VMs (holds the Lease), 0 on the others.\n"
           "# TYPE archgate_audit_leader gauge\narchgate_audit_leader{identity=\"%s\"} %d\n", au.identity,
       atomic_load(&au.leading) ? 1 : 0);
    pthread_mutex_lock(&au.mu);
    if (au.have) {
        mb(&b, "# HELP archgate_audit_vms VMs by what /validate would answer if they were created now (auditor only).\n"
               "# TYPE archgate_audit_vms gauge\n");
        for (int st = 0; st < AS_COUNT; st++)
            mb(&b, "archgate_audit_vms{result=\"%s\"} %zu\n", audit_status_name((enum audit_status)st), au.status[st]);
        mb(&b, "# HELP archgate_audit_refused_vms VMs that would be refused now, by reason class (auditor only).\n"
               "# TYPE archgate_audit_refused_vms gauge\n");
        for (unsigned c = 1; c < AC_COUNT; c++)
            if (c != RC_HETEROGENEOUS && c != RC_STALE_VIEW && c != RC_PINNED && c != RC_SIBLING_SWITCH)
                mb(&b, "archgate_audit_refused_vms{reason=\"%s\"} %zu\n", audit_class_name(c), au.by_class[c]);
        mb(&b, "# HELP archgate_audit_duration_seconds Wall time of the last audit.\n"
               "# TYPE archgate_audit_duration_seconds gauge\narchgate_audit_duration_seconds %.6f\n", au.seconds);
        mb(&b, "# HELP archgate_audit_cpu_seconds CPU time of the last audit.\n"
               "# TYPE archgate_audit_cpu_seconds gauge\narchgate_audit_cpu_seconds %.6f\n", au.cpu_seconds);
        mb(&b, "# HELP archgate_audit_last_run_timestamp_seconds When the last audit ran.\n"
               "# TYPE archgate_audit_last_run_timestamp_seconds gauge\narchgate_audit_last_run_timestamp_seconds %lld\n",
           (long long)au.at);
        mb(&b, "# HELP archgate_audit_runs_total Audits run by this replica.\n"
               "# TYPE archgate_audit_runs_total counter\narchgate_audit_runs_total %llu\n",
           (unsigned long long)atomic_load(&au.runs));
        mb(&b, "# HELP archgate_audit_events_total Kubernetes Events written on VMs, by type, and failed writes.\n"
               "# TYPE archgate_audit_events_total counter\n"
               "archgate_audit_events_total{type=\"Warning\"} %llu\narchgate_audit_events_total{type=\"Normal\"} %llu\n"
               "archgate_audit_events_total{type=\"failed\"} %llu\n",
           events_written(0), events_written(1), events_failed());
    }
    pthread_mutex_unlock(&au.mu);
    return b.len;
}
