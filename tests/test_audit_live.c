/* test_audit_live.c - the audit's writers against the stand-in kube-apiserver, in process (so
 * they run under ASan/UBSan): Events (a Warning once per transition, the hourly repeat as a
 * PATCH of count, a Normal on recovery, none for a deleted VM, the per-run cap), the Lease
 * (client-go default timings, the test override, acquire, hold against a live holder, take
 * over an expired one, release), and the kubefake write model (409 on a stale PUT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "itest.h"
#include "kubefake.h"
#include "audit/audit.h"
#include "audit/events.h"
#include "audit/inventory.h"
#include "audit/lease.h"
#include "audit/auditor.h"
#include "audit/vmsource.h"
#include "kube_client.h"
#include "log.h"
#include "mem.h"
#include "testutil.h"
#include "unit.h"

#define SAMPLES "manifests/samples/cluster"
#define EVENTS "/api/v1/events"
#define LEASES "/apis/coordination.k8s.io/v1/leases"

static char dir[64], crt[128], key[128], server[64];
static enum log_level saved_level;

static int suite_init(void)
{
    saved_level = log_min_level;
    log_min_level = LOG_ERROR + 1;
    snprintf(dir, sizeof dir, "/tmp/archgate-alive.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(crt, sizeof crt, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    return certgen_pair(crt, key, -3600, 86400, 12) ? 0 : 1;
}

static int suite_cleanup(void)
{
    log_min_level = saved_level;
    snapshot_publish(NULL);
    unsetenv(LEASE_TIMINGS_ENV);
    return tu_rmtree(dir);
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

static struct kubefake *fake_start(struct kube_config *c)
{
    struct kubefake *f = kubefake_start(crt, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    kubefake_collection(f, EVENTS, "EventList", "v1", "Event");
    kubefake_collection(f, LEASES, "LeaseList", "coordination.k8s.io/v1", "Lease");
    kubefake_writable(f, EVENTS);
    kubefake_writable(f, LEASES);
    snprintf(server, sizeof server, "https://127.0.0.1:%u", kubefake_port(f));
    memset(c, 0, sizeof *c);
    c->server = server;
    c->ca_file = crt;
    c->source = (char *)"test";
    return f;
}

static cJSON *events_of(struct kubefake *f)
{
    char *t = kubefake_items(f, EVENTS);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    CU_ASSERT_PTR_NOT_NULL(j);
    return j;
}

static struct audit_report *sample_report(struct inventory *inv)
{
    static const struct policy def;
    struct snapshot *s = tu_snapshot_dir(SAMPLES);
    char err[256];
    CU_ASSERT_EQUAL_FATAL(inventory_load_dir(inv, SAMPLES, err, sizeof err), AG_OK);
    struct audit_report *r = NULL;
    CU_ASSERT_EQUAL_FATAL(audit_run(s, inv, &def, &r), AG_OK);
    snapshot_release(s);
    return r;
}

static void test_events(void)
{
    struct kube_config cfg;
    struct kubefake *f = fake_start(&cfg);
    char err[256];
    struct events *ev = events_new(&cfg, "pod-1", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    struct inventory *inv = inventory_new();
    struct audit_report *r = sample_report(inv);
    CU_ASSERT_EQUAL_FATAL(r->nfindings, 1);

    CU_ASSERT_FALSE(events_apply(ev, r, inv, 100000, 3600));
    cJSON *j = events_of(f);
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(j), 1);
    cJSON *e = cJSON_GetArrayItem(j, 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), "Warning");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(e, "reason")), "NoNodeForImageArchitecture");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")), r->findings[0].message);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(e, "reportingInstance")), "pod-1");
    cJSON *io = cJSON_GetObjectItem(e, "involvedObject");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(io, "kind")), "VirtualMachine");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(io, "namespace")), "team-b");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(io, "name")), "batch-s390x");
    CU_ASSERT_PTR_NOT_NULL(cJSON_GetStringValue(cJSON_GetObjectItem(io, "uid")));
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "namespace")),
                           "team-b");
    cJSON_Delete(j);

    /* the same within the hour: nothing; after an hour: the same Event, count 2 */
    CU_ASSERT_FALSE(events_apply(ev, r, inv, 100000 + 3599, 3600));
    j = events_of(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 1);
    cJSON_Delete(j);
    CU_ASSERT_FALSE(events_apply(ev, r, inv, 100000 + 3600, 3600));
    j = events_of(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 1);
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "count")), 2);
    cJSON_Delete(j);
    CU_ASSERT_EQUAL(kubefake_count(f, EVENTS, KF_PATCH), 1);

    /* recovered (no finding, the VM still exists): a Normal Event */
    struct audit_report none = { 0 };
    CU_ASSERT_FALSE(events_apply(ev, &none, inv, 100000 + 4000, 3600));
    j = events_of(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 2);
    int normals = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, j)
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(it, "type")), "Normal") == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(it, "reason")), EVENTS_REASON_RECOVERED) == 0)
            normals++;
    CU_ASSERT_EQUAL(normals, 1);
    cJSON_Delete(j);

    /* refusable again, then deleted: a Warning, then no Normal */
    CU_ASSERT_FALSE(events_apply(ev, r, inv, 100000 + 5000, 3600));
    inventory_delete(inv, false, "team-b", "batch-s390x", NULL);
    CU_ASSERT_FALSE(events_apply(ev, &none, inv, 100000 + 5001, 3600));
    j = events_of(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 3);
    cJSON_Delete(j);

    /* the apiserver refuses: the Event is tried again at the next run */
    kubefake_fail(f, EVENTS, 500, 1);
    CU_ASSERT_TRUE(events_apply(ev, r, inv, 100000 + 6000, 3600));
    CU_ASSERT_FALSE(events_apply(ev, r, inv, 100000 + 6001, 3600));
    j = events_of(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 4);
    cJSON_Delete(j);

    /* deleted and made again under its name, refusable for the same reason: within the hour, a
     * new Warning on the new object (kubectl describe vm shows it), not a repeat on the old one */
    const char *old_uid = r->findings[0].uid;
    r->findings[0].uid = "uid-made-again";
    CU_ASSERT_FALSE(events_apply(ev, r, inv, 100000 + 6100, 3600));
    j = events_of(f);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(j), 5);
    int on_new = 0;
    cJSON_ArrayForEach(it, j) {
        const char *u = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(it, "involvedObject"), "uid"));
        on_new += u && strcmp(u, "uid-made-again") == 0;
    }
    CU_ASSERT_EQUAL(on_new, 1);
    cJSON_Delete(j);
    r->findings[0].uid = old_uid;
    audit_report_free(r);

    /* more refusable VMs than the per-run cap: the rest wait for the next run */
    struct inventory *many = inventory_new();
    char vm[256];
    for (int i = 0; i < (int)EVENTS_MAX_PER_RUN + 20; i++) {
        snprintf(vm, sizeof vm, "{\"metadata\": {\"name\": \"v%03d\", \"namespace\": \"bulk\"}, \"spec\": {\"template\": "
                 "{\"spec\": {\"architecture\": \"s390x\"}}}}", i);
        cJSON *o = tu_parse(vm);
        CU_ASSERT_EQUAL(inventory_put(many, false, o, NULL, err, sizeof err), AG_OK);
        cJSON_Delete(o);
    }
    static const struct policy def;
    struct snapshot *s = tu_snapshot_dir(SAMPLES);
    CU_ASSERT_EQUAL_FATAL(audit_run(s, many, &def, &r), AG_OK);
    snapshot_release(s);
    CU_ASSERT_EQUAL(r->nfindings, EVENTS_MAX_PER_RUN + 20);
    unsigned before = kubefake_count(f, EVENTS, KF_CREATE);
    CU_ASSERT_TRUE(events_apply(ev, r, many, 200000, 3600));
    CU_ASSERT_EQUAL(kubefake_count(f, EVENTS, KF_CREATE) - before, EVENTS_MAX_PER_RUN);
    CU_ASSERT_FALSE(events_apply(ev, r, many, 200001, 3600));
    CU_ASSERT_EQUAL(kubefake_count(f, EVENTS, KF_CREATE) - before, EVENTS_MAX_PER_RUN + 20);
    audit_report_free(r);
    inventory_free(many);

    /* a running VMI on a node that is gone: the Event goes on its VM (kubectl describe vm) */
    struct inventory *one = inventory_new();
    cJSON *vmj = tu_parse("{\"metadata\": {\"name\": \"w\", \"namespace\": \"q\", \"uid\": \"uid-vm\", "
                         "\"annotations\": {\"archgate.io/image-architectures\": \"amd64\"}}}");
    cJSON *vmi = tu_parse("{\"metadata\": {\"name\": \"w\", \"namespace\": \"q\", \"uid\": \"uid-vmi\"}, "
                          "\"status\": {\"phase\": \"Running\", \"nodeName\": \"gone\"}}");
    CU_ASSERT_EQUAL(inventory_put(one, false, vmj, NULL, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(inventory_put(one, true, vmi, NULL, err, sizeof err), AG_OK);
    s = tu_snapshot_dir(SAMPLES);
    CU_ASSERT_EQUAL_FATAL(audit_run(s, one, &def, &r), AG_OK);
    snapshot_release(s);
    CU_ASSERT_EQUAL_FATAL(r->nfindings, 1);
    CU_ASSERT_TRUE(r->findings[0].is_vmi);
    CU_ASSERT_FALSE(events_apply(ev, r, one, 300000, 3600));
    j = events_of(f);
    cJSON *last = NULL;
    cJSON_ArrayForEach(it, j)
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(it, "reason")), "VMINodeGone") == 0)
            last = it;
    CU_ASSERT_PTR_NOT_NULL_FATAL(last);
    io = cJSON_GetObjectItem(last, "involvedObject");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(io, "kind")), "VirtualMachine");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(io, "uid")), "uid-vm");
    cJSON_Delete(j);
    audit_report_free(r);
    cJSON_Delete(vmj);
    cJSON_Delete(vmi);
    inventory_free(one);

    inventory_free(inv);
    events_free(ev);
    kubefake_stop(f);
}

static void test_lease_timings(void)
{
    struct lease_opts o;
    unsetenv(LEASE_TIMINGS_ENV);
    lease_timings(&o);
    CU_ASSERT_EQUAL(o.duration_ms, 15000);          /* client-go: LeaseDuration 15 s */
    CU_ASSERT_EQUAL(o.renew_deadline_ms, 10000);    /* RenewDeadline 10 s */
    CU_ASSERT_EQUAL(o.retry_ms, 2000);              /* RetryPeriod 2 s */
    setenv(LEASE_TIMINGS_ENV, "3000,2000,500", 1);
    lease_timings(&o);
    CU_ASSERT_EQUAL(o.duration_ms, 3000);
    CU_ASSERT_EQUAL(o.renew_deadline_ms, 2000);
    CU_ASSERT_EQUAL(o.retry_ms, 500);
    static const char *const bad[] = { "3000,2000", "1000,2000,500", "3000,2000,50", "a,b,c", "3000,2000,500x",
                                       "3000,3000,500" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(LEASE_TIMINGS_ENV, bad[i], 1);
        lease_timings(&o);
        CASE_ASSERT(o.duration_ms == 15000 && o.renew_deadline_ms == 10000 && o.retry_ms == 2000, i, bad[i]);
    }
    unsetenv(LEASE_TIMINGS_ENV);
}

static void lease_holder(struct kubefake *f, char *buf, size_t len)
{
    char *t = kubefake_get(f, LEASES, "ns1", "le");
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    const char *h = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "holderIdentity"));
    snprintf(buf, len, "%s", h ? h : "(none)");
    cJSON_Delete(j);
}

static bool wait_leading(bool want, long ms)
{
    for (long t = 0; t <= ms; t += 20, sleep_ms(20))
        if (lease_leading() == want)
            return true;
    return false;
}

#define OTHER_LEASE \
    "{\"metadata\": {\"name\": \"le\", \"namespace\": \"ns1\"}, \"spec\": {\"holderIdentity\": \"other\", " \
    "\"leaseDurationSeconds\": 1, \"renewTime\": \"2026-01-01T00:00:00.000000Z\"}}"

static void test_lease(void)
{
    struct kube_config cfg;
    struct kubefake *f = fake_start(&cfg);
    char h[256], err[256];
    struct lease_opts o = { .cfg = &cfg, .ns = "ns1", .name = "le", .identity = "me" };
    o.duration_ms = 600;
    o.renew_deadline_ms = 400;
    o.retry_ms = 100;

    /* held by another that keeps renewing: never taken */
    CU_ASSERT(kubefake_put(f, LEASES, OTHER_LEASE) != 0);
    CU_ASSERT_EQUAL_FATAL(lease_start(&o, err, sizeof err), AG_OK);
    for (int i = 0; i < 10; i++) {
        char renewed[512];
        snprintf(renewed, sizeof renewed, "{\"metadata\": {\"name\": \"le\", \"namespace\": \"ns1\"}, \"spec\": "
                 "{\"holderIdentity\": \"other\", \"renewTime\": \"2026-01-01T00:00:%02d.000000Z\"}}", i);
        CU_ASSERT(kubefake_put(f, LEASES, renewed) != 0);
        sleep_ms(150);
    }
    CU_ASSERT_FALSE(lease_leading());
    lease_holder(f, h, sizeof h);
    CU_ASSERT_STRING_EQUAL(h, "other");
    /* the other stops renewing: taken over after the lease duration */
    CU_ASSERT_TRUE(wait_leading(true, 2000));
    lease_holder(f, h, sizeof h);
    CU_ASSERT_STRING_EQUAL(h, "me");
    unsigned puts = kubefake_count(f, LEASES, KF_UPDATE);
    sleep_ms(350);
    CU_ASSERT_TRUE(kubefake_count(f, LEASES, KF_UPDATE) >= puts + 2);     /* renews every retry period */
    CU_ASSERT_TRUE(lease_leading());
    /* the apiserver fails: the leader steps down after the renew deadline */
    kubefake_fail(f, LEASES, 500, -1);
    CU_ASSERT_TRUE(wait_leading(false, 1500));
    kubefake_fail(f, LEASES, 500, 0);
    CU_ASSERT_TRUE(wait_leading(true, 2000));
    /* release: the holder is emptied */
    lease_stop(true);
    CU_ASSERT_FALSE(lease_leading());
    lease_holder(f, h, sizeof h);
    CU_ASSERT_STRING_EQUAL(h, "");
    kubefake_stop(f);

    /* no Lease yet: created */
    f = fake_start(&cfg);
    CU_ASSERT_EQUAL_FATAL(lease_start(&o, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(wait_leading(true, 1000));
    CU_ASSERT_EQUAL(kubefake_count(f, LEASES, KF_CREATE), 1);
    lease_stop(false);
    lease_holder(f, h, sizeof h);
    CU_ASSERT_STRING_EQUAL(h, "me");        /* not released: it expires */
    kubefake_stop(f);
}

/* The stand-in's write model: a PUT with a stale resourceVersion is 409, POST of a taken name
 * is 409, PATCH merges. */
static void test_kubefake_writes(void)
{
    struct kube_config cfg;
    struct kubefake *f = fake_start(&cfg);
    char err[256];
    struct kube_client *c = kube_client_new(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    long st = 0;
    char *body = NULL;
    const char *lease = "{\"metadata\": {\"name\": \"x\"}, \"spec\": {\"holderIdentity\": \"a\"}}";
    const char *path = "/apis/coordination.k8s.io/v1/namespaces/ns1/leases";
    CU_ASSERT_EQUAL(kube_client_request(c, "POST", path, NULL, lease, strlen(lease), 1 << 20, 5000, &st, &body, NULL,
                                        err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(st, 201);
    cJSON *j = tu_parse(body);
    mem_free(body);
    const char *rv = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "resourceVersion"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(rv);
    char put[256];
    snprintf(put, sizeof put, "{\"metadata\": {\"name\": \"x\", \"resourceVersion\": \"%s\"}, \"spec\": "
             "{\"holderIdentity\": \"b\"}}", rv);
    cJSON_Delete(j);
    CU_ASSERT_EQUAL(kube_client_request(c, "POST", path, NULL, lease, strlen(lease), 1 << 20, 5000, &st, &body, NULL,
                                        err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(st, 409);
    mem_free(body);
    char item[200];
    snprintf(item, sizeof item, "%s/x", path);
    CU_ASSERT_EQUAL(kube_client_request(c, "PUT", item, NULL, put, strlen(put), 1 << 20, 5000, &st, &body, NULL, err,
                                        sizeof err), AG_OK);
    CU_ASSERT_EQUAL(st, 200);
    mem_free(body);
    CU_ASSERT_EQUAL(kube_client_request(c, "PUT", item, NULL, put, strlen(put), 1 << 20, 5000, &st, &body, NULL, err,
                                        sizeof err), AG_OK);
    CU_ASSERT_EQUAL(st, 409);       /* the same resourceVersion again: stale */
    mem_free(body);
    const char *patch = "{\"spec\": {\"leaseTransitions\": 4}}";
    CU_ASSERT_EQUAL(kube_client_request(c, "PATCH", item, "application/merge-patch+json", patch, strlen(patch), 1 << 20,
                                        5000, &st, &body, NULL, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(st, 200);
    j = tu_parse(body);
    mem_free(body);
    cJSON *spec = cJSON_GetObjectItem(j, "spec");
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "holderIdentity")), "b");
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "leaseTransitions")), 4);
    cJSON_Delete(j);
    /* the handle goes back to plain GETs */
    CU_ASSERT_EQUAL(kube_client_get(c, item, 1 << 20, 5000, &st, &body, NULL, err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(st, 200);
    mem_free(body);
    snprintf(item, sizeof item, "%s/absent", path);
    CU_ASSERT_EQUAL(kube_client_request(c, "PATCH", item, NULL, patch, strlen(patch), 1 << 20, 5000, &st, &body, NULL,
                                        err, sizeof err), AG_OK);
    CU_ASSERT_EQUAL(st, 404);
    mem_free(body);
    kube_client_free(c);
    kubefake_stop(f);
}

static bool wait_count(struct inventory *inv, bool is_vmi, size_t want, long ms)
{
    for (long t = 0; t <= ms; t += 20, sleep_ms(20))
        if (inventory_count_kind(inv, is_vmi) == want)
            return true;
    return false;
}

static int changes;
static void on_change(void)
{
    __atomic_add_fetch(&changes, 1, __ATOMIC_RELAXED);
}

/* The VM and VMI list/watch threads: list, watch changes, relist after 410, recover from errors,
 * a kind not served counts as empty, stop promptly even while a response is held back. */
static void test_vmsource(void)
{
    struct kube_config cfg;
    struct kubefake *f = fake_start(&cfg);
    kubefake_collection(f, VMSOURCE_VM_PATH, "VirtualMachineList", "kubevirt.io/v1", "VirtualMachine");
    kubefake_page_max(f, 2);
    char vm[256], err[256];
    for (int i = 0; i < 5; i++) {
        snprintf(vm, sizeof vm, "{\"metadata\": {\"name\": \"v%d\", \"namespace\": \"n\"}}", i);
        CU_ASSERT(kubefake_put(f, VMSOURCE_VM_PATH, vm) != 0);
    }
    struct inventory *inv = inventory_new();
    struct vmsource_opts o = { .cfg = &cfg, .inv = inv, .on_change = on_change };
    CU_ASSERT_EQUAL_FATAL(vmsource_start(&o, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(wait_count(inv, false, 5, 3000));    /* listed in pages of 2 */
    for (long t = 0; t < 3000 && !vmsource_synced(); t += 20)
        sleep_ms(20);
    CU_ASSERT_TRUE(vmsource_synced());                  /* VMIs not served: empty, but listed */
    CU_ASSERT_TRUE(__atomic_load_n(&changes, __ATOMIC_RELAXED) > 0);
    CU_ASSERT(kubefake_put(f, VMSOURCE_VM_PATH, "{\"metadata\": {\"name\": \"w\", \"namespace\": \"n\"}, "
                                                "\"spec\": {\"template\": {\"spec\": {\"volumes\": 1}}}}") != 0);
    CU_ASSERT_TRUE(wait_count(inv, false, 6, 3000));
    CU_ASSERT(kubefake_delete(f, VMSOURCE_VM_PATH, "n", "v0") != 0);
    CU_ASSERT_TRUE(wait_count(inv, false, 5, 3000));
    /* history gone and the watch closed: a relist, with what changed meanwhile */
    unsigned lists = kubefake_count(f, VMSOURCE_VM_PATH, KF_LIST);
    kubefake_stall(f, true);        /* the open watch must not see the delete */
    CU_ASSERT(kubefake_delete(f, VMSOURCE_VM_PATH, "n", "v1") != 0);
    kubefake_compact(f);
    kubefake_close_watches(f);
    kubefake_stall(f, false);
    CU_ASSERT_TRUE(wait_count(inv, false, 4, 3000));
    CU_ASSERT_TRUE(kubefake_count(f, VMSOURCE_VM_PATH, KF_LIST) > lists);
    /* errors: back off and recover (watched again from its version) */
    unsigned watches = kubefake_count(f, VMSOURCE_VM_PATH, KF_WATCH);
    kubefake_fail(f, VMSOURCE_VM_PATH, 500, 3);
    kubefake_close_watches(f);
    CU_ASSERT(kubefake_put(f, VMSOURCE_VM_PATH, "{\"metadata\": {\"name\": \"z\", \"namespace\": \"n\"}}") != 0);
    CU_ASSERT_TRUE(wait_count(inv, false, 5, 5000));
    CU_ASSERT_TRUE(kubefake_count(f, VMSOURCE_VM_PATH, KF_WATCH) > watches + 1);
    /* stop while the server holds every answer back */
    kubefake_stall(f, true);
    kubefake_close_watches(f);
    sleep_ms(100);
    double t0 = tu_now_us();
    vmsource_stop();
    CU_ASSERT_TRUE(tu_now_us() - t0 < 2e6);
    kubefake_stall(f, false);
    inventory_free(inv);
    kubefake_stop(f);
}

static bool metrics_have(const char *needle, long ms)
{
    static char buf[65536];
    for (long t = 0; t <= ms; t += 20, sleep_ms(20)) {
        auditor_metrics(buf, sizeof buf);
        if (strstr(buf, needle))
            return true;
    }
    return false;
}

static bool leading_flag = true;
static bool leading_fn(void)
{
    return __atomic_load_n(&leading_flag, __ATOMIC_RELAXED);
}

/* A watch the server keeps refusing (403: RBAC lets the VMs be listed, not watched): watched
 * again from the same version after a growing pause, never listed again, and it resumes once
 * the watch is allowed. */
static void test_vmsource_refused_watch(void)
{
    struct kube_config cfg;
    struct kubefake *f = fake_start(&cfg);
    kubefake_collection(f, VMSOURCE_VM_PATH, "VirtualMachineList", "kubevirt.io/v1", "VirtualMachine");
    kubefake_collection(f, VMSOURCE_VMI_PATH, "VirtualMachineInstanceList", "kubevirt.io/v1",
                        "VirtualMachineInstance");
    CU_ASSERT(kubefake_put(f, VMSOURCE_VM_PATH, "{\"metadata\": {\"name\": \"a\", \"namespace\": \"n\"}}") != 0);
    struct inventory *inv = inventory_new();
    struct vmsource_opts o = { .cfg = &cfg, .inv = inv, .on_change = on_change };
    char err[256];
    CU_ASSERT_EQUAL_FATAL(vmsource_start(&o, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(wait_count(inv, false, 1, 3000));
    for (long t = 0; t < 3000 && !vmsource_synced(); t += 20)
        sleep_ms(20);
    unsigned lists = kubefake_count(f, VMSOURCE_VM_PATH, KF_LIST);
    unsigned watches = kubefake_count(f, VMSOURCE_VM_PATH, KF_WATCH);
    kubefake_fail(f, VMSOURCE_VM_PATH, 403, -1);
    kubefake_close_watches(f);
    sleep_ms(2000);
    /* 200 + 400 + 800 ms of pauses fit in 2 s: a handful of attempts, not a storm, and no list */
    unsigned tries = kubefake_count(f, VMSOURCE_VM_PATH, KF_WATCH) + kubefake_count(f, VMSOURCE_VM_PATH, KF_LIST) -
                     watches - lists;
    CU_ASSERT(tries >= 2 && tries <= 6);
    kubefake_fail(f, VMSOURCE_VM_PATH, 403, 0);
    CU_ASSERT(kubefake_put(f, VMSOURCE_VM_PATH, "{\"metadata\": {\"name\": \"b\", \"namespace\": \"n\"}}") != 0);
    CU_ASSERT_TRUE(wait_count(inv, false, 2, 5000));
    CU_ASSERT_EQUAL(kubefake_count(f, VMSOURCE_VM_PATH, KF_LIST), lists);    /* came by the watch */
    vmsource_stop();
    inventory_free(inv);
    kubefake_stop(f);
}

/* The audit thread: audits when the snapshot or the inventory changes, exports its counts only
 * while it leads. */
static void test_auditor(void)
{
    char err[256];
    static const struct policy def;
    struct inventory *inv = inventory_new();
    CU_ASSERT_EQUAL_FATAL(inventory_load_dir(inv, SAMPLES, err, sizeof err), AG_OK);
    snapshot_publish(tu_snapshot_dir(SAMPLES));
    __atomic_store_n(&leading_flag, true, __ATOMIC_RELAXED);
    struct auditor_opts o = { .inv = inv, .policy = &def, .identity = "unit", .leading = leading_fn,
                              .coalesce_ms = 20 };
    CU_ASSERT_EQUAL_FATAL(auditor_start(&o, err, sizeof err), AG_OK);
    CU_ASSERT_TRUE(metrics_have("archgate_audit_vms{result=\"refused\"} 1\n", 2000));
    CU_ASSERT_TRUE(metrics_have("archgate_audit_leader{identity=\"unit\"} 1\n", 100));
    unsigned long long runs = auditor_runs();
    /* nothing changed: no new audit */
    sleep_ms(200);
    CU_ASSERT_EQUAL(auditor_runs(), runs);
    /* a VM added: audited again */
    cJSON *vm = tu_parse("{\"metadata\": {\"name\": \"x\", \"namespace\": \"n\"}, \"spec\": {\"template\": "
                         "{\"spec\": {\"architecture\": \"s390x\"}}}}");
    CU_ASSERT_EQUAL(inventory_put(inv, false, vm, NULL, err, sizeof err), AG_OK);
    cJSON_Delete(vm);
    CU_ASSERT_TRUE(metrics_have("archgate_audit_vms{result=\"refused\"} 2\n", 2000));
    CU_ASSERT_TRUE(metrics_have("archgate_audit_refused_vms{reason=\"no_node_for_architecture\"} 1\n", 100));
    /* a new snapshot: audited again */
    runs = auditor_runs();
    snapshot_publish(tu_snapshot_dir(SAMPLES));
    for (long t = 0; t < 2000 && auditor_runs() == runs; t += 20)
        sleep_ms(20);
    CU_ASSERT_TRUE(auditor_runs() > runs);
    /* not leading: the results are not exported, the gauge says 0 */
    __atomic_store_n(&leading_flag, false, __ATOMIC_RELAXED);
    CU_ASSERT_TRUE(metrics_have("archgate_audit_leader{identity=\"unit\"} 0\n", 2000));
    static char buf[65536];
    sleep_ms(100);
    auditor_metrics(buf, sizeof buf);
    CU_ASSERT_PTR_NULL(strstr(buf, "archgate_audit_vms"));
    auditor_stop();
    auditor_metrics(buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "");
    snapshot_publish(NULL);
    inventory_free(inv);
}

UNIT_SUITE("audit_live", suite_init, suite_cleanup,
           { "the audit thread: re-audits on change, exports while leading", test_auditor },
           { "VM and VMI list/watch: pages, changes, 410 relist, errors, prompt stop", test_vmsource },
           { "a refused VM watch: retried from its version with back-off, no relist", test_vmsource_refused_watch },
           { "Events: once per transition, hourly PATCH, recovery, deleted VM, retry, per-run cap", test_events },
           { "Lease timings: client-go defaults, test override, bad overrides ignored", test_lease_timings },
           { "Lease: held by a live holder, taken when expired, renewed, stepped down, released", test_lease },
           { "kubefake writes: POST 201/409, PUT 200/409 on a stale RV, merge PATCH, 404", test_kubefake_writes })
