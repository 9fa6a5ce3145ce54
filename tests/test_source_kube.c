/* test_source_kube.c - the live cluster source against the fake kube-apiserver (kubefake.c)
 * over real HTTPS: initial sync and readiness, nodes added/relabelled/cordoned/deleted reflected
 * in decisions within a second, watch restart from the last resourceVersion, relist after 410,
 * backoff on errors, paging, heartbeat-only updates not rebuilding, coalescing, token rotation,
 * a CRD that is missing (and installed later), 403 messages naming the RBAC rule, staleness,
 * malformed objects from the server, a quick stop while the server stalls, and one-shot lists. */
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "itest.h"
#include "kube_store.h"
#include "kubefake.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "source_kube.h"
#include "testutil.h"
#include "unit.h"
#include "webhook.h"

#define SAMPLES "manifests/samples/cluster"
#define REVIEW_ARM64 "manifests/samples/reviews/fedora-arm64-pinned.json"

static char dir[64], crt[128], key[128], token_path[128], server[64];
static enum log_level saved_level;
static atomic_int synced_calls;
static const struct kube_kind *K;

static int suite_init(void)
{
    saved_level = log_min_level;
    log_min_level = LOG_ERROR + 1;
    K = kube_kinds(NULL);
    snprintf(dir, sizeof dir, "/tmp/archgate-skube.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(crt, sizeof crt, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    snprintf(token_path, sizeof token_path, "%s/token", dir);
    return certgen_pair(crt, key, -3600, 86400, 11) ? 0 : 1;
}

static int suite_cleanup(void)
{
    log_min_level = saved_level;
    snapshot_publish(NULL);
    return tu_rmtree(dir);
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

static void on_synced(void)
{
    atomic_fetch_add(&synced_calls, 1);
}

/* ---- the fake cluster ----------------------------------------------------------------------- */

/* Every kind but HyperConverged v1 (not served: a CRD version that is not installed). */
static void declare(struct kubefake *f, unsigned kind)
{
    kubefake_collection(f, K[kind].path, K[kind].list_kind, K[kind].api_version, K[kind].kind);
}

static void put_file(struct kubefake *f, const char *name, unsigned kind)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", SAMPLES, name);
    cJSON *j = tu_load_json(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items"), *it;
    if (!items) {
        char *t = cJSON_PrintUnformatted(j);
        CU_ASSERT(kubefake_put(f, K[kind].path, t) != 0);
        cJSON_free(t);
    }
    cJSON_ArrayForEach(it, items) {
        char *t = cJSON_PrintUnformatted(it);
        CU_ASSERT(kubefake_put(f, K[kind].path, t) != 0);
        cJSON_free(t);
    }
    cJSON_Delete(j);
}

static struct kubefake *fake_start(void)
{
    struct kubefake *f = kubefake_start(crt, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    snprintf(server, sizeof server, "https://127.0.0.1:%u", kubefake_port(f));
    for (unsigned k = 0; k < KK_COUNT; k++)
        if (k != KK_HCO_V1)
            declare(f, k);
    put_file(f, "nodes.json", KK_NODE);
    put_file(f, "datasources.json", KK_DATASOURCE);
    put_file(f, "hyperconverged.json", KK_HCO_V1BETA1);
    put_file(f, "kubevirt.json", KK_KUBEVIRT);
    kubefake_put(f, K[KK_PVC].path,
                 "{\"metadata\":{\"name\":\"rootdisk\",\"namespace\":\"vms\",\"labels\":{"
                 "\"template.kubevirt.io/architecture\":\"arm64\"}},\"spec\":{}}");
    kubefake_put(f, K[KK_PVC].path, "{\"metadata\":{\"name\":\"pgdata\",\"namespace\":\"db\"},\"spec\":{}}");
    kubefake_put(f, K[KK_CLUSTER_PREFERENCE].path,
                 "{\"metadata\":{\"name\":\"fedora\"},\"spec\":{\"preferredArchitecture\":\"amd64\"}}");
    return f;
}

static struct kube_config cfg_for(const char *token, const char *token_file)
{
    struct kube_config c;
    memset(&c, 0, sizeof c);
    c.server = server;
    c.ca_file = crt;
    c.token = (char *)token;
    c.token_file = (char *)token_file;
    c.source = (char *)"test";
    return c;
}

static struct source_kube_opts opts_for(const struct kube_config *cfg)
{
    struct source_kube_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = cfg;
    o.max_staleness_ms = 300;
    o.backoff_min_ms = 40;
    o.backoff_max_ms = 200;
    o.coalesce_ms = 100;
    o.missing_retry_ms = 300;
    o.on_synced = on_synced;
    return o;
}

static bool start_source(const struct source_kube_opts *o)
{
    char err[512] = "";
    atomic_store(&synced_calls, 0);
    enum ag_result r = source_kube_start(o, err, sizeof err);
    if (r != AG_OK)
        fprintf(stderr, "\n  source_kube_start: %s\n", err);
    CU_ASSERT_EQUAL(r, AG_OK);
    return r == AG_OK;
}

static bool wait_synced(long ms)
{
    long long end = now_ms() + ms;
    while (now_ms() < end) {
        if (source_kube_synced())
            return true;
        sleep_ms(10);
    }
    return source_kube_synced();
}

/* ---- looking at the published state --------------------------------------------------------- */

static const struct node *find_node(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; s && i < s->nnodes; i++)
        if (strcmp(s->nodes[i].name, name) == 0)
            return &s->nodes[i];
    return NULL;
}

typedef bool (*snap_pred)(const struct snapshot *s, const void *arg);

/* Wait until the current snapshot satisfies `p`; the time it took (ms), -1 on timeout. */
static long long wait_snap(snap_pred p, const void *arg, long ms)
{
    long long t0 = now_ms(), end = t0 + ms;
    for (;;) {
        struct snapshot *s = snapshot_acquire();
        bool ok = s && p(s, arg);
        snapshot_release(s);
        if (ok)
            return now_ms() - t0;
        if (now_ms() >= end)
            return -1;
        sleep_ms(5);
    }
}

static bool has_node(const struct snapshot *s, const void *name)
{
    return find_node(s, name) != NULL;
}

static bool lacks_node(const struct snapshot *s, const void *name)
{
    return find_node(s, name) == NULL;
}

static bool node_cordoned(const struct snapshot *s, const void *name)
{
    const struct node *n = find_node(s, name);
    return n && n->unschedulable;
}

struct label_want { const char *node, *key, *value; };

static bool node_label(const struct snapshot *s, const void *arg)
{
    const struct label_want *w = arg;
    const struct node *n = find_node(s, w->node);
    const char *v = n ? labels_get(&n->labels, w->key) : NULL;
    return v && strcmp(v, w->value) == 0;
}

static bool node_count(const struct snapshot *s, const void *arg)
{
    return s->nnodes == *(const size_t *)arg;
}

/* The verdict of /validate on the sample review of an arm64-pinned Fedora VM. */
static enum verdict_class review_arm64(bool *allowed)
{
    size_t len = 0;
    char *body = tu_read_file(REVIEW_ARM64, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    struct policy pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };
    struct webhook_result res;
    struct snapshot *s = snapshot_acquire();
    webhook_handle(body, len, false, s, &pol, 0, &res);
    snapshot_release(s);
    CU_ASSERT_EQUAL(res.http_status, 200);
    enum verdict_class c = res.cls;
    *allowed = res.allowed;
    webhook_result_free(&res);
    mem_free(body);
    return c;
}

struct verdict_want { bool allowed; enum verdict_class cls; };

static bool verdict_is(const struct snapshot *s, const void *arg)
{
    (void)s;
    const struct verdict_want *w = arg;
    bool allowed = false;
    enum verdict_class c = review_arm64(&allowed);
    return allowed == w->allowed && c == w->cls;
}

/* A worker node that KubeVirt marked schedulable, as JSON (heartbeat time and extra labels vary). */
static void node_json(char *buf, size_t len, const char *name, const char *arch, const char *extra_labels,
                      const char *spec, const char *heartbeat)
{
    snprintf(buf, len,
             "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"kubernetes.io/arch\":\"%s\",\"kubernetes.io/hostname\":"
             "\"%s\",\"node-role.kubernetes.io/worker\":\"\",\"kubevirt.io/schedulable\":\"true\"%s},\"annotations\":{\"hb\":\"%s\"}},\"spec\":%s,"
             "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastHeartbeatTime\":\"%s\"}],"
             "\"nodeInfo\":{\"architecture\":\"%s\",\"kubeletVersion\":\"v1.30.2\"}}}",
             name, arch, name, extra_labels, heartbeat, spec, heartbeat, arch);
}

static void put_node(struct kubefake *f, const char *name, const char *arch, const char *extra_labels,
                     const char *spec, const char *heartbeat)
{
    char j[2048];
    node_json(j, sizeof j, name, arch, extra_labels, spec, heartbeat);
    CU_ASSERT(kubefake_put(f, K[KK_NODE].path, j) != 0);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_sync_then_node_changes(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for("tok", NULL);
    struct source_kube_opts o = opts_for(&cfg);
    kubefake_require_token(f, "tok");
    snapshot_publish(NULL);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    CU_ASSERT_EQUAL(atomic_load(&synced_calls), 1);
    struct snapshot *s = snapshot_acquire();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 6);
    CU_ASSERT_EQUAL(s->ndatasources, 4);
    CU_ASSERT_EQUAL(s->npvcs, 1);          /* the unlabelled claim is not kept */
    CU_ASSERT_EQUAL(s->npreferences, 1);
    CU_ASSERT_TRUE(s->has_hco);
    CU_ASSERT_TRUE(s->has_kubevirt);
    CU_ASSERT_EQUAL(s->hco_multiarch, HCO_MULTIARCH_ON);
    CU_ASSERT_EQUAL(s->base.n[NR_ELIGIBLE][arch_parse("arm64")], 1);
    snapshot_release(s);
    bool allowed = false;
    CU_ASSERT_EQUAL(review_arm64(&allowed), VC_ALLOWED);
    CU_ASSERT_TRUE(allowed);

    /* cordoned: the only eligible arm64 node is cordoned -> allowed with a warning */
    put_node(f, "worker-arm64-1", "arm64", "", "{\"unschedulable\":true}", "t1");
    CU_ASSERT(wait_snap(node_cordoned, "worker-arm64-1", 1000) >= 0);
    struct verdict_want warned = { true, VC_WARNED };
    long long ms = wait_snap(verdict_is, &warned, 1000);
    CU_ASSERT(ms >= 0 && ms < 1000);
    /* deleted: no eligible arm64 node -> denied */
    kubefake_delete(f, K[KK_NODE].path, NULL, "worker-arm64-1");
    struct verdict_want denied = { false, VC_DENIED };
    ms = wait_snap(verdict_is, &denied, 1000);
    CU_ASSERT(ms >= 0 && ms < 1000);
    CU_ASSERT(wait_snap(lacks_node, "worker-arm64-1", 1000) >= 0);
    /* added: allowed again */
    put_node(f, "worker-arm64-9", "arm64", "", "{}", "t1");
    struct verdict_want ok = { true, VC_ALLOWED };
    ms = wait_snap(verdict_is, &ok, 1000);
    CU_ASSERT(ms >= 0 && ms < 1000);
    /* relabelled out of the worker pool (the role label gone): denied */
    CU_ASSERT(kubefake_put(f, K[KK_NODE].path,
                           "{\"metadata\":{\"name\":\"worker-arm64-9\",\"labels\":{\"kubernetes.io/arch\":\"arm64\"}},"
                           "\"status\":{\"nodeInfo\":{\"architecture\":\"arm64\"}}}") != 0);
    ms = wait_snap(verdict_is, &denied, 1000);
    CU_ASSERT(ms >= 0 && ms < 1000);
    /* relabelled back, with a new label */
    put_node(f, "worker-arm64-9", "arm64", ",\"vm-pool\":\"edge\"", "{}", "t2");
    struct label_want lw = { "worker-arm64-9", "vm-pool", "edge" };
    CU_ASSERT(wait_snap(node_label, &lw, 1000) >= 0);
    ms = wait_snap(verdict_is, &ok, 1000);
    CU_ASSERT(ms >= 0 && ms < 1000);
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);
    CU_ASSERT_EQUAL(atomic_load(&synced_calls), 1);
    CU_ASSERT(metrics_kube_value(KK_NODE, KC_EVENTS) >= 5);
    source_kube_stop();
    CU_ASSERT_FALSE(source_kube_synced());
out:
    kubefake_stop(f);
}

static void test_watch_restart_from_last_rv(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    put_node(f, "worker-new", "amd64", "", "{}", "t1");
    unsigned long rv = kubefake_resource_version(f);
    CU_ASSERT(wait_snap(has_node, "worker-new", 1000) >= 0);
    /* a change elsewhere moves the global version, not the nodes watch's */
    kubefake_put(f, K[KK_DATASOURCE].path,
                 "{\"metadata\":{\"name\":\"extra\",\"namespace\":\"kubevirt-os-images\"},\"spec\":{}}");
    sleep_ms(100);
    unsigned watches = kubefake_count(f, K[KK_NODE].path, KF_WATCH);
    unsigned lists = kubefake_count(f, K[KK_NODE].path, KF_LIST);
    unsigned long long restarts = metrics_kube_value(KK_NODE, KC_WATCH_RESTARTS);
    kubefake_close_watches(f);
    long long end = now_ms() + 2000;
    while (kubefake_count(f, K[KK_NODE].path, KF_WATCH) == watches && now_ms() < end)
        sleep_ms(10);
    CU_ASSERT(kubefake_count(f, K[KK_NODE].path, KF_WATCH) > watches);
    char got[64] = "", want[64];
    kubefake_last_watch_rv(f, K[KK_NODE].path, got, sizeof got);
    snprintf(want, sizeof want, "%lu", rv);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT_EQUAL(kubefake_count(f, K[KK_NODE].path, KF_LIST), lists);   /* no relist */
    CU_ASSERT(metrics_kube_value(KK_NODE, KC_WATCH_RESTARTS) > restarts);
    /* a bookmark moves the version a watch resumes from */
    kubefake_bookmark(f);
    sleep_ms(100);
    unsigned long bm = kubefake_resource_version(f);
    watches = kubefake_count(f, K[KK_NODE].path, KF_WATCH);
    kubefake_close_watches(f);
    end = now_ms() + 2000;
    while (kubefake_count(f, K[KK_NODE].path, KF_WATCH) == watches && now_ms() < end)
        sleep_ms(10);
    kubefake_last_watch_rv(f, K[KK_NODE].path, got, sizeof got);
    snprintf(want, sizeof want, "%lu", bm);
    CU_ASSERT_STRING_EQUAL(got, want);
    /* and events still flow */
    put_node(f, "worker-newer", "amd64", "", "{}", "t1");
    CU_ASSERT(wait_snap(has_node, "worker-newer", 1000) >= 0);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void test_relist_after_410(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    unsigned lists = kubefake_count(f, K[KK_NODE].path, KF_LIST);
    unsigned long long relists = metrics_kube_value(KK_NODE, KC_RELISTS);
    /* the nodes watch's version falls behind the compaction horizon */
    kubefake_put(f, K[KK_DATASOURCE].path,
                 "{\"metadata\":{\"name\":\"extra\",\"namespace\":\"kubevirt-os-images\"},\"spec\":{}}");
    kubefake_compact(f);
    kubefake_close_watches(f);
    long long end = now_ms() + 2000;
    while (kubefake_count(f, K[KK_NODE].path, KF_LIST) == lists && now_ms() < end)
        sleep_ms(10);
    CU_ASSERT(kubefake_count(f, K[KK_NODE].path, KF_LIST) > lists);
    CU_ASSERT(metrics_kube_value(KK_NODE, KC_RELISTS) > relists);
    /* after the relist, the watch goes on from the list's version */
    put_node(f, "after-relist", "s390x", "", "{}", "t1");
    CU_ASSERT(wait_snap(has_node, "after-relist", 1000) >= 0);
    size_t seven = 7;
    CU_ASSERT(wait_snap(node_count, &seven, 1000) >= 0);
    /* fresh again once every kind has listed (allow for a slow machine, or valgrind) */
    end = now_ms() + 3000;
    while (source_kube_stale_seconds() != 0 && now_ms() < end)
        sleep_ms(10);
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void test_backoff_on_errors(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    o.max_staleness_ms = 60000;
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    unsigned long long errors = metrics_kube_value(KK_NODE, KC_ERRORS);
    kubefake_fail(f, K[KK_NODE].path, 500, 3);
    long long t0 = now_ms();
    kubefake_close_watches(f);
    sleep_ms(20);
    put_node(f, "late", "amd64", "", "{}", "t1");
    long long ms = wait_snap(has_node, "late", 3000);
    long long took = now_ms() - t0;
    CU_ASSERT(ms >= 0);
    /* three failures, retried after [20,40] + [40,80] + [80,160] ms at least */
    CU_ASSERT(took >= 140);
    CU_ASSERT(took < 2500);
    CU_ASSERT_EQUAL(metrics_kube_value(KK_NODE, KC_ERRORS), errors + 3);
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void test_paging(void)
{
    struct kubefake *f = fake_start();
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof name, "pool-%02d", i);
        put_node(f, name, i % 3 ? "amd64" : "arm64", "", "{}", "t0");
    }
    kubefake_page_max(f, 2);
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    struct snapshot *s = snapshot_acquire();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 31);
    CU_ASSERT_PTR_NOT_NULL(find_node(s, "pool-00"));
    CU_ASSERT_PTR_NOT_NULL(find_node(s, "pool-24"));
    snapshot_release(s);
    CU_ASSERT(kubefake_count(f, K[KK_NODE].path, KF_LIST_PAGE) >= 16);
    CU_ASSERT_EQUAL(kubefake_count(f, K[KK_NODE].path, KF_LIST), 1);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void test_heartbeat_does_not_rebuild(void)
{
    struct kubefake *f = fake_start();
    put_node(f, "hb", "arm64", "", "{}", "t0");
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    sleep_ms(250);      /* let the first publish settle */
    uint64_t gen = snapshot_generation();
    unsigned long long events = metrics_kube_value(KK_NODE, KC_EVENTS);
    for (int i = 1; i <= 5; i++) {
        char hb[16];
        snprintf(hb, sizeof hb, "t%d", i);
        put_node(f, "hb", "arm64", "", "{}", hb);
    }
    long long end = now_ms() + 1000;
    while (metrics_kube_value(KK_NODE, KC_EVENTS) < events + 5 && now_ms() < end)
        sleep_ms(10);
    CU_ASSERT_EQUAL(metrics_kube_value(KK_NODE, KC_EVENTS), events + 5);
    sleep_ms(300);      /* three coalesce periods */
    CU_ASSERT_EQUAL(snapshot_generation(), gen);
    /* a label change does rebuild */
    put_node(f, "hb", "arm64", ",\"zone\":\"b\"", "{}", "t9");
    struct label_want lw = { "hb", "zone", "b" };
    long long ms = wait_snap(node_label, &lw, 1000);
    CU_ASSERT(ms >= 0 && ms < 1000);
    CU_ASSERT(snapshot_generation() > gen);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void test_bursts_are_coalesced(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    sleep_ms(250);
    uint64_t gen = snapshot_generation();
    long long t0 = now_ms();
    for (int i = 0; i < 60; i++) {
        char lab[64];
        snprintf(lab, sizeof lab, ",\"step\":\"%d\"", i);
        put_node(f, "worker-amd64-2", "amd64", lab, "{}", "t0");
    }
    struct label_want lw = { "worker-amd64-2", "step", "59" };
    CU_ASSERT(wait_snap(node_label, &lw, 2000) >= 0);
    long long took = now_ms() - t0;
    uint64_t rebuilds = snapshot_generation() - gen;
    CU_ASSERT(rebuilds >= 1);
    /* at most one per 100 ms (plus the one in progress at each end) */
    CU_ASSERT(rebuilds <= (uint64_t)(took / 100 + 2));
    CU_ASSERT(rebuilds < 60);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void write_token(const char *tok)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.new", token_path);
    FILE *fp = fopen(tmp, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(tok, fp);
    fclose(fp);
    CU_ASSERT_EQUAL(rename(tmp, token_path), 0);
}

static void test_token_rotation(void)
{
    struct kubefake *f = fake_start();
    write_token("token-one");
    kubefake_require_token(f, "token-one");
    struct kube_config cfg = cfg_for(NULL, token_path);
    struct source_kube_opts o = opts_for(&cfg);
    o.max_staleness_ms = 60000;
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    char tok[64] = "";
    kubefake_last_token(f, tok, sizeof tok);
    CU_ASSERT_STRING_EQUAL(tok, "token-one");
    /* the kubelet rotates the token; the server stops accepting the old one */
    write_token("token-two");
    kubefake_require_token(f, "token-two");
    kubefake_close_watches(f);
    put_node(f, "rotated", "amd64", "", "{}", "t0");
    CU_ASSERT(wait_snap(has_node, "rotated", 2000) >= 0);
    kubefake_last_token(f, tok, sizeof tok);
    CU_ASSERT_STRING_EQUAL(tok, "token-two");
    source_kube_stop();
out:
    kubefake_stop(f);
}

static bool hco_multiarch_off(const struct snapshot *s, const void *arg)
{
    (void)arg;
    return s->has_hco && s->hco_multiarch == HCO_MULTIARCH_OFF;
}

static void test_missing_crd(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    struct snapshot *s = snapshot_acquire();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(s->has_hco);                 /* from v1beta1; v1 is not served */
    CU_ASSERT_EQUAL(s->hco_multiarch, HCO_MULTIARCH_ON);
    snapshot_release(s);
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);
    /* the v1 version gets installed: it is listed within the retry period and preferred */
    declare(f, KK_HCO_V1);
    CU_ASSERT(kubefake_put(f, K[KK_HCO_V1].path,
                           "{\"metadata\":{\"name\":\"kubevirt-hyperconverged\",\"namespace\":"
                           "\"kubevirt-hyperconverged\"},\"spec\":{\"workloadSources\":{"
                           "\"enableMultiArchBootImageImport\":false}}}") != 0);
    long long ms = wait_snap(hco_multiarch_off, NULL, 2000);
    CU_ASSERT(ms >= 0);
    CU_ASSERT(kubefake_count(f, K[KK_HCO_V1].path, KF_LIST) >= 1);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void test_readiness_and_staleness(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    kubefake_fail(f, K[KK_DATASOURCE].path, 500, -1);
    snapshot_publish(NULL);
    uint64_t gen = snapshot_generation();
    if (!start_source(&o))
        goto out;
    sleep_ms(600);
    /* every other kind listed, DataSources failing: not ready, nothing published, stale */
    CU_ASSERT_FALSE(source_kube_synced());
    CU_ASSERT_EQUAL(atomic_load(&synced_calls), 0);
    CU_ASSERT_EQUAL(snapshot_generation(), gen);
    CU_ASSERT_PTR_NULL(snapshot_acquire());
    CU_ASSERT(source_kube_stale_seconds() >= 1);
    CU_ASSERT(kubefake_count(f, K[KK_DATASOURCE].path, KF_LIST) >= 3);   /* retried */
    kubefake_fail(f, K[KK_DATASOURCE].path, 500, 0);
    CU_ASSERT_TRUE(wait_synced(2000));
    CU_ASSERT_EQUAL(atomic_load(&synced_calls), 1);
    struct snapshot *s = snapshot_acquire();
    CU_ASSERT_PTR_NOT_NULL(s);
    CU_ASSERT_EQUAL(s ? s->ndatasources : 0, 4);
    snapshot_release(s);
    long long end = now_ms() + 1000;
    while (source_kube_stale_seconds() && now_ms() < end)
        sleep_ms(10);
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);

    /* after sync: a watch that keeps failing turns stale after max_staleness, and recovers */
    kubefake_fail(f, K[KK_NODE].path, 503, -1);
    kubefake_close_watches(f);
    sleep_ms(150);
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);     /* failing, not yet for 300 ms */
    end = now_ms() + 2000;
    while (!source_kube_stale_seconds() && now_ms() < end)
        sleep_ms(10);
    CU_ASSERT(source_kube_stale_seconds() >= 1);
    CU_ASSERT_TRUE(source_kube_synced());               /* still ready, the last snapshot serves */
    kubefake_fail(f, K[KK_NODE].path, 503, 0);
    end = now_ms() + 2000;
    while (source_kube_stale_seconds() && now_ms() < end)
        sleep_ms(10);
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);
    put_node(f, "fresh", "amd64", "", "{}", "t0");
    CU_ASSERT(wait_snap(has_node, "fresh", 1000) >= 0);
    CU_ASSERT_EQUAL(atomic_load(&synced_calls), 1);
    source_kube_stop();
    CU_ASSERT_EQUAL(source_kube_stale_seconds(), 0);
out:
    kubefake_stop(f);
}

/* Run `fn` with stderr going to a file; the file's text into buf. */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t len)
{
    char path[160];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    enum log_level lvl = log_min_level;
    log_min_level = LOG_ERROR;
    fn(arg);
    log_min_level = lvl;
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

static void forbidden_run(void *arg)
{
    struct kubefake *f = arg;
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    kubefake_fail(f, K[KK_DATASOURCE].path, 403, -1);
    if (!start_source(&o))
        return;
    sleep_ms(500);
    CU_ASSERT_FALSE(source_kube_synced());
    CU_ASSERT(kubefake_count(f, K[KK_DATASOURCE].path, KF_LIST) >= 2);
    kubefake_fail(f, K[KK_DATASOURCE].path, 403, 0);
    CU_ASSERT_TRUE(wait_synced(2000));
    source_kube_stop();
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_forbidden_names_rbac_rule(void)
{
    struct kubefake *f = fake_start();
    static char out[65536];
    capture_stderr(forbidden_run, f, out, sizeof out);
    const char *rule = "kube-apiserver refused to list datasources.cdi.kubevirt.io (403 Forbidden): the ClusterRole "
                       "of archgate needs get, list, watch on datasources in API group cdi.kubevirt.io";
    CU_ASSERT_PTR_NOT_NULL(strstr(out, rule));
    CU_ASSERT_EQUAL(count_of(out, "403 Forbidden"), 1);  /* once per streak, though retried */
    if (!strstr(out, rule))
        fprintf(stderr, "\n  captured: %s\n", out);
    kubefake_stop(f);

    /* the one-shot list says the same, for the core group */
    f = fake_start();
    kubefake_fail(f, K[KK_NODE].path, 403, -1);
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct snapshot *s = NULL;
    char err[1024] = "";
    CU_ASSERT_EQUAL(source_kube_list_once(&cfg, NULL, &s, err, sizeof err), AG_EIO);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs get, list, watch on nodes in the core API group (\"\")"));
    kubefake_stop(f);
}

static void test_malformed_objects_from_server(void)
{
    struct kubefake *f = fake_start();
    /* listed: a node whose taints are not a list */
    kubefake_put(f, K[KK_NODE].path, "{\"metadata\":{\"name\":\"bad-list\"},\"spec\":{\"taints\":\"none\"}}");
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    unsigned long long refused = metrics_kube_value(KK_NODE, KC_REFUSED);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    struct snapshot *s = snapshot_acquire();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 6);
    CU_ASSERT_PTR_NULL(find_node(s, "bad-list"));
    snapshot_release(s);
    CU_ASSERT_EQUAL(metrics_kube_value(KK_NODE, KC_REFUSED), refused + 1);
    /* watched: a label value that is not a string; then a good node still comes in */
    kubefake_put(f, K[KK_NODE].path, "{\"metadata\":{\"name\":\"bad-watch\",\"labels\":{\"a\":[1]}}}");
    put_node(f, "good", "arm64", "", "{}", "t0");
    CU_ASSERT(wait_snap(has_node, "good", 1000) >= 0);
    s = snapshot_acquire();
    CU_ASSERT_PTR_NULL(find_node(s, "bad-watch"));
    snapshot_release(s);
    CU_ASSERT_EQUAL(metrics_kube_value(KK_NODE, KC_REFUSED), refused + 2);
    /* the bad one is fixed */
    put_node(f, "bad-watch", "amd64", "", "{}", "t0");
    CU_ASSERT(wait_snap(has_node, "bad-watch", 1000) >= 0);
    source_kube_stop();
out:
    kubefake_stop(f);
}

static void test_stop_is_quick_while_stalled(void)
{
    struct kubefake *f = fake_start();
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct source_kube_opts o = opts_for(&cfg);
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE_FATAL(wait_synced(5000));
    /* requests hang: a relist and re-opened watches wait on the server */
    kubefake_stall(f, true);
    kubefake_close_watches(f);
    sleep_ms(200);
    long long t0 = now_ms();
    source_kube_stop();
    long long took = now_ms() - t0;
    CU_ASSERT(took < 1000);
    kubefake_stall(f, false);
    /* and it starts again */
    if (!start_source(&o))
        goto out;
    CU_ASSERT_TRUE(wait_synced(5000));
    char err[64];
    CU_ASSERT_EQUAL(source_kube_start(&o, err, sizeof err), AG_EINTERNAL);   /* already running */
    source_kube_stop();
    source_kube_stop();     /* twice is fine */
out:
    kubefake_stop(f);
}

static void test_list_once(void)
{
    struct kubefake *f = fake_start();
    kubefake_page_max(f, 3);
    char catalog[160];
    snprintf(catalog, sizeof catalog, "%s/catalog.json", dir);
    FILE *fp = fopen(catalog, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("{\"images\":{\"quay.io/containerdisks/\":[\"amd64\",\"arm64\"]}}", fp);
    fclose(fp);
    struct kube_config cfg = cfg_for(NULL, NULL);
    struct snapshot *s = NULL;
    char err[1024] = "";
    CU_ASSERT_EQUAL(source_kube_list_once(&cfg, catalog, &s, err, sizeof err), AG_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 6);
    CU_ASSERT_EQUAL(s->ndatasources, 4);
    CU_ASSERT_EQUAL(s->ncatalog, 1);
    CU_ASSERT_TRUE(s->has_hco);
    snapshot_release(s);
    /* a failing kind fails the whole list, with the server's message */
    kubefake_fail(f, K[KK_KUBEVIRT].path, 500, 1);
    s = NULL;
    CU_ASSERT_EQUAL(source_kube_list_once(&cfg, NULL, &s, err, sizeof err), AG_EIO);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "kubevirts.kubevirt.io"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "500"));
    /* a broken catalog */
    fp = fopen(catalog, "w");
    fputs("{\"images\":", fp);
    fclose(fp);
    CU_ASSERT_EQUAL(source_kube_list_once(&cfg, catalog, &s, err, sizeof err), AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "catalog.json"));
    kubefake_stop(f);
    /* nobody listening */
    CU_ASSERT_EQUAL(source_kube_list_once(&cfg, NULL, &s, err, sizeof err), AG_EIO);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(source_kube_list_once(NULL, NULL, &s, err, sizeof err), AG_EINVAL);
    struct source_kube_opts o;
    memset(&o, 0, sizeof o);
    CU_ASSERT_EQUAL(source_kube_start(&o, err, sizeof err), AG_EINVAL);
}

UNIT_SUITE("source_kube", suite_init, suite_cleanup,
           { "initial sync; node cordoned, deleted, added, relabelled -> decisions within 1 s",
             test_sync_then_node_changes },
           { "a watch that ends resumes from the last resourceVersion (events, bookmarks)",
             test_watch_restart_from_last_rv },
           { "410 Gone after compaction -> relist, then watch again", test_relist_after_410 },
           { "errors are retried with growing delays, then it recovers", test_backoff_on_errors },
           { "lists are read in pages", test_paging },
           { "heartbeat-only updates do not rebuild; a label change does", test_heartbeat_does_not_rebuild },
           { "a burst of changes is coalesced into few rebuilds", test_bursts_are_coalesced },
           { "a rotated token file is used for the next requests", test_token_rotation },
           { "a CRD version not installed counts as empty; installed later it is picked up", test_missing_crd },
           { "ready only once every kind listed; stale while failing, fresh after", test_readiness_and_staleness },
           { "403 names the missing RBAC rule, once per streak", test_forbidden_names_rbac_rule },
           { "malformed objects from the server are skipped and counted", test_malformed_objects_from_server },
           { "stop is quick while the server stalls; start again", test_stop_is_quick_while_stalled },
           { "one list of everything (archgate review --kubeconfig)", test_list_once })
