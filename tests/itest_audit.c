/* itest_audit.c - integration: `archgate audit` (folder and --kubeconfig, exit codes), and
 * `archgate serve --kubeconfig` auditing the VMs of the stand-in kube-apiserver: two replicas
 * on one Lease (one leads; the other takes over within the lease duration after kill -9 and at
 * once after SIGTERM), Events written once per transition and never by the follower, VMs
 * created and deleted while the audit runs, admissions served by both replicas throughout.
 * The Lease timings are shortened through ARCHGATE_TEST_LEASE_TIMINGS_MS (3 s / 2 s / 0.5 s). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "itest.h"
#include "kube_store.h"
#include "kubefake.h"
#include "audit/lease.h"
#include "audit/vmsource.h"
#include "mem.h"
#include "testutil.h"
#include "unit.h"

#define SAMPLES "manifests/samples/"
#define LEASES "/apis/coordination.k8s.io/v1/leases"
#define EVENTS "/api/v1/events"
#define LEASE_NS "archgate-system"
#define LEASE_MS 3000
#define RETRY_MS 500

static struct kubefake *fake;
static const struct kube_kind *K;
static char kubeconfig[700];

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    return tu_now_us() / 1e6;
}

static int suite_init(void)
{
    K = kube_kinds(NULL);
    if (!(fake = itest_fake_cluster()))
        return 1;
    kubefake_collection(fake, VMSOURCE_VM_PATH, "VirtualMachineList", "kubevirt.io/v1", "VirtualMachine");
    kubefake_collection(fake, VMSOURCE_VMI_PATH, "VirtualMachineInstanceList", "kubevirt.io/v1",
                        "VirtualMachineInstance");
    kubefake_collection(fake, LEASES, "LeaseList", "coordination.k8s.io/v1", "Lease");
    kubefake_collection(fake, EVENTS, "EventList", "v1", "Event");
    kubefake_writable(fake, LEASES);
    kubefake_writable(fake, EVENTS);
    if (!itest_fake_put_file(fake, SAMPLES "cluster/vms.json", VMSOURCE_VM_PATH, "VirtualMachine") ||
        !itest_fake_put_file(fake, SAMPLES "cluster/vms.json", VMSOURCE_VMI_PATH, "VirtualMachineInstance"))
        return 1;
    itest_path(kubeconfig, sizeof kubeconfig, itest_dir, "kubeconfig-audit");
    setenv(LEASE_TIMINGS_ENV, "3000,2000,500", 1);
    return itest_write_kubeconfig(kubeconfig, kubefake_port(fake)) ? 0 : 1;
}

static int suite_cleanup(void)
{
    unsetenv(LEASE_TIMINGS_ENV);
    unsetenv("POD_NAME");
    kubefake_stop(fake);
    fake = NULL;
    return 0;
}

/* ---- archgate audit -------------------------------------------------------------------------- */

static void test_cli(void)
{
    static char out[1 << 16], err[4096];
    const char *a1[] = { "audit", "--cluster-state", SAMPLES "cluster", NULL };
    CU_ASSERT_EQUAL(itest_run(a1, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "batch-s390x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "5 VMs audited (3 VMIs): 3 ok, 1 refused, 1 unknown image"));
    CU_ASSERT_PTR_NULL(strstr(out, "fedora-web"));

    const char *a2[] = { "audit", "--cluster-state", SAMPLES "cluster", "-o", "json", NULL };
    CU_ASSERT_EQUAL(itest_run(a2, out, sizeof out, err, sizeof err), 1);
    cJSON *j = tu_parse(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    cJSON *sum = cJSON_GetObjectItem(j, "summary");
    CU_ASSERT_EQUAL(cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "refused")), 1);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "refused"), 0);
    CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(first, "reason")), "NoNodeForImageArchitecture");
    cJSON_Delete(j);

    /* a folder where nothing is refused: 0 */
    char dir[700], path[800];
    itest_path(dir, sizeof dir, itest_dir, "audit-ok");
    mkdir(dir, 0700);
    size_t len = 0;
    char *nodes = tu_read_file(SAMPLES "cluster/nodes.json", &len);
    snprintf(path, sizeof path, "%s/nodes.json", dir);
    CU_ASSERT_TRUE(nodes && itest_write_file(path, nodes));
    mem_free(nodes);
    snprintf(path, sizeof path, "%s/vms.json", dir);
    CU_ASSERT_TRUE(itest_write_file(path, "{\"kind\": \"List\", \"items\": [{\"apiVersion\": \"kubevirt.io/v1\", \"kind\": "
                                    "\"VirtualMachine\", \"metadata\": {\"name\": \"a\", \"namespace\": \"n\", "
                                    "\"annotations\": {\"archgate.io/image-architectures\": \"amd64\"}}}]}"));
    const char *a3[] = { "audit", "--cluster-state", dir, NULL };
    CU_ASSERT_EQUAL(itest_run(a3, out, sizeof out, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "1 VM audited (0 VMIs): 1 ok, 0 refused, 0 unknown image"));

    /* bad input: 2 */
    const char *b1[] = { "audit", "--cluster-state", "/nonexistent-archgate-dir", NULL };
    CU_ASSERT_EQUAL(itest_run(b1, out, sizeof out, err, sizeof err), 2);
    const char *b2[] = { "audit", "--cluster-state", SAMPLES "cluster", "-o", "yaml", NULL };
    CU_ASSERT_EQUAL(itest_run(b2, out, sizeof out, err, sizeof err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "-o"));
    const char *b3[] = { "audit", "--mutate", NULL };
    CU_ASSERT_EQUAL(itest_run(b3, out, sizeof out, err, sizeof err), 2);
    snprintf(path, sizeof path, "%s/zz.json", dir);
    CU_ASSERT_TRUE(itest_write_file(path, "{\"kind\": "));
    CU_ASSERT_EQUAL(itest_run(a3, out, sizeof out, err, sizeof err), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "zz.json"));
}

static void test_cli_kubeconfig(void)
{
    static char out[1 << 16], err[4096];
    const char *a[] = { "audit", "--kubeconfig", kubeconfig, NULL };
    CU_ASSERT_EQUAL(itest_run(a, out, sizeof out, err, sizeof err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "batch-s390x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "5 VMs audited (3 VMIs): 3 ok, 1 refused, 1 unknown image"));
}

/* ---- serve: Lease, Events, live inventory ------------------------------------------------------ */

static bool launch(struct server *s, const char *identity)
{
    char crt[600], key[600];
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    setenv("POD_NAME", identity, 1);
    const char *args[] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
                           "--kubeconfig", kubeconfig, "--lease-namespace", LEASE_NS, NULL };
    return server_launch(s, args, true);
}

/* The Lease's holder ("" when none or free). */
static void holder(char *buf, size_t len)
{
    buf[0] = '\0';
    char *t = kubefake_get(fake, LEASES, LEASE_NS, "archgate-auditor");
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    const char *h = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "holderIdentity"));
    snprintf(buf, len, "%s", h ? h : "");
    cJSON_Delete(j);
}

static bool wait_holder(const char *want, double limit_s, double *took)
{
    double t0 = now_s();
    char h[256];
    for (;;) {
        holder(h, sizeof h);
        if (strcmp(h, want) == 0) {
            if (took)
                *took = now_s() - t0;
            return true;
        }
        if (now_s() - t0 > limit_s)
            return false;
        sleep_ms(50);
    }
}

/* Events on `name` of `type` and `reason` (NULL: any); reporter (NULL: any). */
static int count_events(const char *name, const char *type, const char *reason, const char *reporter)
{
    char *t = kubefake_items(fake, EVENTS);
    cJSON *arr = t ? cJSON_Parse(t) : NULL, *e;
    free(t);
    int n = 0;
    cJSON_ArrayForEach(e, arr) {
        cJSON *io = cJSON_GetObjectItem(e, "involvedObject");
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(io, "name"));
        const char *ty = cJSON_GetStringValue(cJSON_GetObjectItem(e, "type"));
        const char *re = cJSON_GetStringValue(cJSON_GetObjectItem(e, "reason"));
        const char *rep = cJSON_GetStringValue(cJSON_GetObjectItem(e, "reportingInstance"));
        if (nm && strcmp(nm, name) == 0 && ty && strcmp(ty, type) == 0 && (!reason || (re && strcmp(re, reason) == 0)) &&
            (!reporter || (rep && strcmp(rep, reporter) == 0)))
            n++;
    }
    cJSON_Delete(arr);
    return n;
}

static bool wait_events(const char *name, const char *type, const char *reason, int want, double limit_s)
{
    for (double t0 = now_s(); now_s() - t0 <= limit_s; sleep_ms(50))
        if (count_events(name, type, reason, NULL) == want)
            return true;
    return false;
}

static bool wait_metric(const struct server *s, const char *series, double want, double limit_s)
{
    for (double t0 = now_s(); now_s() - t0 <= limit_s; sleep_ms(50))
        if (server_metric(s, series) == want)
            return true;
    return false;
}

static bool admits(const struct server *s)
{
    size_t len = 0;
    char *body = review_with_uid("audit-itest", &len);
    CURL *h = client_new(NULL);
    struct reply r;
    memset(&r, 0, sizeof r);
    bool ok = body && h && https(h, s->port, "POST", "/validate", "application/json", body, len, &r) &&
              r.status == 200 && r.body && strstr(r.body, "\"uid\":\"audit-itest\"");
    reply_free(&r);
    curl_easy_cleanup(h);
    mem_free(body);
    return ok;
}

#define S390X_NODE \
    "{\"metadata\": {\"name\": \"worker-s390x-1\", \"labels\": {\"kubernetes.io/arch\": \"s390x\", " \
    "\"node-role.kubernetes.io/worker\": \"\", \"kubevirt.io/schedulable\": \"true\"}}, \"spec\": {}, " \
    "\"status\": {\"nodeInfo\": {\"architecture\": \"s390x\"}}}"

#define LATE_VM \
    "{\"metadata\": {\"name\": \"late-s390x\", \"namespace\": \"team-c\", \"uid\": \"u-late\"}, \"spec\": {\"template\": " \
    "{\"spec\": {\"architecture\": \"s390x\"}}}, \"status\": {\"printableStatus\": \"Stopped\"}}"

static void test_lease_events(void)
{
    struct server a, b;
    double took = 0;
    CU_ASSERT_FATAL(launch(&a, "replica-a"));
    CU_ASSERT_TRUE_FATAL(wait_holder("replica-a", 5, NULL));
    CU_ASSERT_FATAL(launch(&b, "replica-b"));
    CU_ASSERT_TRUE(wait_metric(&a, "archgate_audit_leader{identity=\"replica-a\"}", 1, 3));
    CU_ASSERT_TRUE(wait_metric(&b, "archgate_audit_leader{identity=\"replica-b\"}", 0, 3));
    /* the audit's results come from the leader only */
    CU_ASSERT_TRUE(wait_metric(&a, "archgate_audit_vms{result=\"refused\"}", 1, 5));
    CU_ASSERT_EQUAL(server_metric(&b, "archgate_audit_vms{result=\"refused\"}"), -1);

    /* one Warning for the refusable VM, from the leader, and it stays one */
    CU_ASSERT_TRUE(wait_events("batch-s390x", "Warning", "NoNodeForImageArchitecture", 1, 5));
    sleep_ms(1500);
    CU_ASSERT_EQUAL(count_events("batch-s390x", "Warning", NULL, NULL), 1);
    CU_ASSERT_EQUAL(count_events("batch-s390x", "Warning", NULL, "replica-b"), 0);
    CU_ASSERT_EQUAL(count_events("fedora-web", "Warning", NULL, NULL), 0);

    /* a VM created while the audit runs: counted and announced; deleted: gone, no recovery Event */
    CU_ASSERT(kubefake_put(fake, VMSOURCE_VM_PATH, LATE_VM) != 0);
    CU_ASSERT_TRUE(wait_metric(&a, "archgate_audit_vms{result=\"refused\"}", 2, 5));
    CU_ASSERT_TRUE(wait_events("late-s390x", "Warning", "NoNodeForArchitecture", 1, 5));
    CU_ASSERT(kubefake_delete(fake, VMSOURCE_VM_PATH, "team-c", "late-s390x") != 0);
    CU_ASSERT_TRUE(wait_metric(&a, "archgate_audit_vms{result=\"refused\"}", 1, 5));
    sleep_ms(500);
    CU_ASSERT_EQUAL(count_events("late-s390x", "Normal", NULL, NULL), 0);

    /* an s390x node joins: the VM recovers (Normal); it leaves: refusable again (a new Warning) */
    CU_ASSERT(kubefake_put(fake, K[KK_NODE].path, S390X_NODE) != 0);
    CU_ASSERT_TRUE(wait_events("batch-s390x", "Normal", "ArchitectureCheckPassed", 1, 5));
    CU_ASSERT_TRUE(wait_metric(&a, "archgate_audit_vms{result=\"refused\"}", 0, 5));
    CU_ASSERT(kubefake_delete(fake, K[KK_NODE].path, NULL, "worker-s390x-1") != 0);
    CU_ASSERT_TRUE(wait_events("batch-s390x", "Warning", NULL, 2, 5));
    CU_ASSERT_TRUE(admits(&a));
    CU_ASSERT_TRUE(admits(&b));

    /* kill -9 the leader: the follower takes over within the lease duration (plus one retry) */
    kill(a.pid, SIGKILL);
    double t0 = now_s();
    server_stop(&a, SIGKILL, NULL);
    CU_ASSERT_TRUE(wait_holder("replica-b", 10, NULL));
    took = now_s() - t0;
    CU_ASSERT_TRUE(took <= (LEASE_MS + 2 * RETRY_MS + 500) / 1000.0);
    CU_ASSERT_TRUE(wait_metric(&b, "archgate_audit_leader{identity=\"replica-b\"}", 1, 3));
    CU_ASSERT_TRUE(wait_metric(&b, "archgate_audit_vms{result=\"refused\"}", 1, 5));
    CU_ASSERT_TRUE(admits(&b));
    fprintf(stderr, "[itest_audit] takeover after kill -9: %.2f s (lease %d ms)\n", took, LEASE_MS);

    /* a new follower; SIGTERM to the leader: it releases the Lease, the follower takes it at once */
    CU_ASSERT_FATAL(launch(&a, "replica-c"));
    CU_ASSERT_TRUE(wait_metric(&a, "archgate_audit_leader{identity=\"replica-c\"}", 0, 3));
    sleep_ms(2 * RETRY_MS);
    kill(b.pid, SIGTERM);
    CU_ASSERT_TRUE(wait_holder("replica-c", 10, &took));
    CU_ASSERT_TRUE(took < LEASE_MS / 1000.0);
    fprintf(stderr, "[itest_audit] takeover after SIGTERM: %.2f s\n", took);
    CU_ASSERT_EQUAL(server_stop(&b, SIGTERM, NULL), 0);
    CU_ASSERT_TRUE(admits(&a));
    CU_ASSERT_EQUAL(server_stop(&a, SIGTERM, NULL), 0);
}

/* --audit-events=false: audits and counts, writes nothing. A VM of a wrong shape over the
 * watch: counted as unreadable, admissions go on. */
static void test_events_off(void)
{
    char crt[600], key[600];
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    setenv("POD_NAME", "replica-quiet", 1);
    const char *args[] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key, "--kubeconfig",
                           kubeconfig, "--lease-namespace", LEASE_NS, "--lease-name", "quiet", "--audit-events=false",
                           NULL };
    struct server s;
    CU_ASSERT_FATAL(server_launch(&s, args, true));
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_vms{result=\"refused\"}", 1, 8));
    CU_ASSERT_EQUAL(count_events("batch-s390x", "Warning", NULL, "replica-quiet"), 0);
    CU_ASSERT(kubefake_put(fake, VMSOURCE_VM_PATH, "{\"metadata\": {\"name\": \"odd\", \"namespace\": \"n\"}, "
                                                   "\"spec\": {\"template\": {\"spec\": {\"volumes\": 7, "
                                                   "\"nodeSelector\": [\"x\"]}}}, \"status\": []}") != 0);
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_refused_vms{reason=\"unreadable_vm\"}", 1, 5));
    CU_ASSERT_TRUE(admits(&s));
    CU_ASSERT(kubefake_delete(fake, VMSOURCE_VM_PATH, "n", "odd") != 0);
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_refused_vms{reason=\"unreadable_vm\"}", 0, 5));
    CU_ASSERT_EQUAL(count_events("odd", "Warning", NULL, NULL), 0);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

/* serve --cluster-state: the VMs of the folder are audited, again when a file changes; no Lease. */
static void test_serve_folder(void)
{
    char dir[700], path[800], crt[600], key[600];
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    itest_path(dir, sizeof dir, itest_dir, "audit-folder");
    mkdir(dir, 0700);
    static const char *const files[] = { "nodes.json", "datasources.json", "hyperconverged.json", "kubevirt.json",
                                         "vms.json" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, SAMPLES "cluster/%s", files[i]);
        char *t = tu_read_file(src, NULL);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CU_ASSERT_TRUE_FATAL(t && itest_write_file(path, t));
        mem_free(t);
    }
    unsetenv("POD_NAME");
    const char *args[] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key, "--cluster-state",
                           dir, "--cluster-poll-interval", "100ms", NULL };
    struct server s;
    CU_ASSERT_FATAL(server_launch(&s, args, true));
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_vms{result=\"refused\"}", 1, 5));
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_vms{result=\"ok\"}", 3, 5));
    /* the s390x VM is deleted from the file: re-read, nothing refused */
    cJSON *j = tu_load_json(SAMPLES "cluster/vms.json");
    cJSON *items = cJSON_GetObjectItem(j, "items");
    for (int i = cJSON_GetArraySize(items) - 1; i >= 0; i--) {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(items, i),
                                                                                     "metadata"), "name"));
        if (n && strcmp(n, "batch-s390x") == 0)
            cJSON_DeleteItemFromArray(items, i);
    }
    char *t = cJSON_Print(j);
    snprintf(path, sizeof path, "%s/vms.json", dir);
    CU_ASSERT_TRUE(itest_write_file(path, t));
    cJSON_free(t);
    cJSON_Delete(j);
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_vms{result=\"refused\"}", 0, 5));
    CU_ASSERT_TRUE(admits(&s));
    char *log = tu_read_file(s.log, NULL);
    CU_ASSERT_TRUE(log && !strstr(log, "lease"));
    mem_free(log);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

/* A stale cluster view: still audited and counted, but no Events until it is fresh again. */
static void test_stale_no_events(void)
{
    char crt[600], key[600];
    itest_path(crt, sizeof crt, itest_base, "tls.crt");
    itest_path(key, sizeof key, itest_base, "tls.key");
    setenv("POD_NAME", "replica-stale", 1);
    const char *args[] = { "serve", "--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key, "--kubeconfig",
                           kubeconfig, "--lease-namespace", LEASE_NS, "--lease-name", "stale", "--max-staleness", "1s",
                           NULL };
    struct server s;
    CU_ASSERT_FATAL(server_launch(&s, args, true));
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_vms{result=\"refused\"}", 1, 8));
    kubefake_fail(fake, K[KK_NODE].path, 500, -1);
    kubefake_close_watches(fake);
    sleep_ms(2500);     /* past --max-staleness */
    CU_ASSERT(kubefake_put(fake, VMSOURCE_VM_PATH, "{\"metadata\": {\"name\": \"stale-s390x\", \"namespace\": "
                                                   "\"team-c\"}, \"spec\": {\"template\": {\"spec\": "
                                                   "{\"architecture\": \"s390x\"}}}}") != 0);
    CU_ASSERT_TRUE(wait_metric(&s, "archgate_audit_vms{result=\"refused\"}", 2, 5));
    sleep_ms(1500);
    CU_ASSERT_EQUAL(count_events("stale-s390x", "Warning", NULL, NULL), 0);
    kubefake_fail(fake, K[KK_NODE].path, 500, 0);
    CU_ASSERT_TRUE(wait_events("stale-s390x", "Warning", "NoNodeForArchitecture", 1, 10));
    CU_ASSERT(kubefake_delete(fake, VMSOURCE_VM_PATH, "team-c", "stale-s390x") != 0);
    CU_ASSERT_EQUAL(server_stop(&s, SIGTERM, NULL), 0);
}

UNIT_SUITE("itest_audit", suite_init, suite_cleanup,
           { "serve --cluster-state audits the folder's VMs, again when it changes", test_serve_folder },
           { "archgate audit --cluster-state: lines, summary, JSON, exit 0/1/2", test_cli },
           { "archgate audit --kubeconfig lists VMs and VMIs", test_cli_kubeconfig },
           { "two replicas: Lease, Events once per transition, VMs come and go, takeover", test_lease_events },
           { "--audit-events=false writes no Events; a VM of a wrong shape is unreadable", test_events_off },
           { "a stale cluster view: counted, no Events until fresh", test_stale_no_events })
