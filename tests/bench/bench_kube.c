/* bench_kube.c - the live cluster source under node churn (make build/bench_kube; not a test):
 * the fake kube-apiserver (tests/kubefake.c, in this process, over HTTPS) serves 1,000 nodes of
 * the sample worker's shape (labels, conditions, images), a HyperConverged, a KubeVirt and 400
 * DataSources; source_kube lists and watches them. Then for N seconds (argument, default 60)
 * 500 node events per second are applied: 80% heartbeat-only status updates (conditions'
 * lastHeartbeatTime, the KubeVirt heartbeat annotation), 20% label, taint or cordon changes,
 * while a reviewer thread runs webhook_handle on the sample arm64 review against the current
 * snapshot without pause. Prints events applied, snapshot rebuilds, review p50/p99, and VmRSS
 * at start and end (the fake server's objects and history live in the same process). */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "../itest.h"
#include "../kubefake.h"
#include "../testutil.h"
#include "kube_store.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "source_kube.h"
#include "webhook.h"

#define NODES 1000
#define DATASOURCES 400
#define EVENTS_PER_SECOND 500
#define TICK_MS 10
#define SAMPLES "manifests/samples/cluster"
#define REVIEW "manifests/samples/reviews/fedora-arm64-pinned.json"
#define HIST_US 20000                   /* latency histogram: 1 µs buckets up to 20 ms */

static const struct kube_kind *K;

static long long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static long vm_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            char *end = NULL;
            kib = strtol(line + 6, &end, 10);
            break;
        }
    fclose(f);
    return kib;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_kube: %s\n", what);
    exit(1);
}

/* ---- the cluster ------------------------------------------------------------------------------ */

struct bnode {
    cJSON *obj;
    unsigned rev;
    bool tainted, cordoned;
};

static struct bnode nodes[NODES];

static cJSON *find_template(void)
{
    cJSON *list = tu_load_json(SAMPLES "/nodes.json");
    if (!list)
        die("cannot read " SAMPLES "/nodes.json");
    cJSON *it, *tpl = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "items")) {
        cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, "worker-amd64-1") == 0)
            tpl = cJSON_Duplicate(it, true);
    }
    cJSON_Delete(list);
    if (!tpl)
        die("no worker-amd64-1 in the sample nodes");
    /* a real node also lists its images: 40 of them */
    cJSON *status = cJSON_GetObjectItemCaseSensitive(tpl, "status");
    cJSON *images = cJSON_AddArrayToObject(status, "images");
    for (int i = 0; i < 40; i++) {
        char nm[160];
        cJSON *img = cJSON_CreateObject();
        cJSON *names = cJSON_AddArrayToObject(img, "names");
        snprintf(nm, sizeof nm, "quay.io/kubevirt/component-%02d@sha256:%064d", i, i * 7919);
        cJSON_AddItemToArray(names, cJSON_CreateString(nm));
        snprintf(nm, sizeof nm, "quay.io/kubevirt/component-%02d:v1.5.%d", i, i);
        cJSON_AddItemToArray(names, cJSON_CreateString(nm));
        cJSON_AddNumberToObject(img, "sizeBytes", 100000000.0 + i * 1234567.0);
        cJSON_AddItemToArray(images, img);
    }
    return tpl;
}

static void set_str(cJSON *obj, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else
        cJSON_AddItemToObject(obj, key, v);
}

static void heartbeat(cJSON *node, long long tick)
{
    char ts[40];
    time_t t = (time_t)(1780000000 + tick);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *c, *conds = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "status"), "conditions");
    cJSON_ArrayForEach(c, conds)
        set_str(c, "lastHeartbeatTime", ts);
    set_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "metadata"), "annotations"),
            "kubevirt.io/heartbeat", ts);
}

static void make_nodes(const cJSON *tpl)
{
    for (int i = 0; i < NODES; i++) {
        char name[64];
        const char *arch = i % 10 < 7 ? "amd64" : "arm64";
        snprintf(name, sizeof name, "worker-%s-%04d", arch, i);
        cJSON *n = cJSON_Duplicate(tpl, true);
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(n, "metadata");
        cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
        set_str(meta, "name", name);
        set_str(labels, "kubernetes.io/hostname", name);
        set_str(labels, "kubernetes.io/arch", arch);
        set_str(labels, "beta.kubernetes.io/arch", arch);
        set_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(n, "status"), "nodeInfo"),
                "architecture", arch);
        nodes[i].obj = n;
    }
}

static void put(struct kubefake *f, unsigned kind, const cJSON *obj)
{
    char *t = cJSON_PrintUnformatted(obj);
    if (!t || !kubefake_put(f, K[kind].path, t))
        die("kubefake_put failed");
    cJSON_free(t);
}

static void put_text(struct kubefake *f, unsigned kind, const char *json)
{
    if (!kubefake_put(f, K[kind].path, json))
        die("kubefake_put failed");
}

static void put_file(struct kubefake *f, const char *name, unsigned kind)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", SAMPLES, name);
    cJSON *j = tu_load_json(path), *it;
    if (!j)
        die("cannot read a sample file");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
    if (!items)
        put(f, kind, j);
    cJSON_ArrayForEach(it, items)
        put(f, kind, it);
    cJSON_Delete(j);
}

/* One event on node i: a heartbeat (80%) or a change the decision reads (20%). */
static void node_event(struct kubefake *f, unsigned i, unsigned long long seq, long long tick)
{
    struct bnode *b = &nodes[i];
    cJSON *n = b->obj;
    heartbeat(n, tick);
    unsigned what = (unsigned)(seq % 10);
    if (what == 0) {
        char v[16];
        snprintf(v, sizeof v, "%u", ++b->rev);
        cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(n, "metadata"), "labels");
        set_str(labels, "bench.example.com/revision", v);
    } else if (what == 1) {
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(n, "spec");
        b->tainted = !b->tainted;
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "taints");
        if (b->tainted) {
            cJSON *taints = cJSON_AddArrayToObject(spec, "taints");
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "key", "bench.example.com/maintenance");
            cJSON_AddStringToObject(t, "effect", "NoSchedule");
            cJSON_AddItemToArray(taints, t);
        }
    } else if (what == 2 && i % 7 == 0) {
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(n, "spec");
        b->cordoned = !b->cordoned;
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "unschedulable");
        if (b->cordoned)
            cJSON_AddBoolToObject(spec, "unschedulable", true);
    } else if (what == 2) {
        char v[16];
        snprintf(v, sizeof v, "zone-%u", (unsigned)(seq % 3));
        cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(n, "metadata"), "labels");
        set_str(labels, "topology.kubernetes.io/zone", v);
    }
    put(f, KK_NODE, n);
}

/* ---- the reviewer ----------------------------------------------------------------------------- */

static atomic_bool reviewer_stop;
static unsigned long long hist[HIST_US + 1];
static unsigned long long reviews, denied;
static long long max_us;
static char *review_body;
static size_t review_len;

static void *reviewer(void *arg)
{
    (void)arg;
    struct policy pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };
    while (!atomic_load(&reviewer_stop)) {
        struct webhook_result res;
        long long t0 = now_us();
        struct snapshot *s = snapshot_acquire();
        webhook_handle(review_body, review_len, false, s, &pol, 0, &res);
        snapshot_release(s);
        long long us = now_us() - t0;
        if (res.http_status != 200)
            die("a review was not answered 200");
        if (!res.allowed)
            denied++;
        webhook_result_free(&res);
        hist[us < 0 ? 0 : (us > HIST_US ? HIST_US : us)]++;
        if (us > max_us)
            max_us = us;
        reviews++;
    }
    return NULL;
}

static long long percentile(double p)
{
    unsigned long long want = (unsigned long long)((double)reviews * p), seen = 0;
    for (long long i = 0; i <= HIST_US; i++) {
        seen += hist[i];
        if (seen > want)
            return i;
    }
    return HIST_US;
}

int main(int argc, char **argv)
{
    int seconds = 60;
    if (argc > 1) {
        char *end = NULL;
        long v = strtol(argv[1], &end, 10);
        if (!end || *end || v < 1 || v > 3600)
            die("usage: bench_kube [seconds]");
        seconds = (int)v;
    }
    testutil_init();
    log_setup(LOG_WARN, LOG_TEXT);
    mem_trimmer_start();    /* as archgate serve does: the RSS figures include giving memory back */
    K = kube_kinds(NULL);

    char dir[] = "/tmp/archgate-bench-kube.XXXXXX", crt[128], key[128];
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(crt, sizeof crt, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    if (!certgen_pair(crt, key, -3600, 86400, 3))
        die("cannot make a certificate");
    review_body = tu_read_file(REVIEW, &review_len);
    if (!review_body)
        die("cannot read " REVIEW);

    struct kubefake *f = kubefake_start(crt, key);
    if (!f)
        die("kubefake_start");
    for (unsigned k = 0; k < KK_COUNT; k++)
        if (k != KK_HCO_V1)
            kubefake_collection(f, K[k].path, K[k].list_kind, K[k].api_version, K[k].kind);
    cJSON *tpl = find_template();
    make_nodes(tpl);
    cJSON_Delete(tpl);
    for (int i = 0; i < NODES; i++)
        put(f, KK_NODE, nodes[i].obj);
    put_file(f, "datasources.json", KK_DATASOURCE);
    put_file(f, "hyperconverged.json", KK_HCO_V1BETA1);
    put_file(f, "kubevirt.json", KK_KUBEVIRT);
    for (int i = 0; i < DATASOURCES; i++) {
        char j[512];
        snprintf(j, sizeof j,
                 "{\"metadata\":{\"name\":\"image-%03d-%s\",\"namespace\":\"kubevirt-os-images\",\"labels\":{"
                 "\"template.kubevirt.io/architecture\":\"%s\",\"cdi.kubevirt.io/dataImportCron\":\"cron-%03d\"}},"
                 "\"spec\":{\"source\":{\"snapshot\":{\"name\":\"image-%03d\",\"namespace\":\"kubevirt-os-images\"}}},"
                 "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                 i / 2, i % 2 ? "arm64" : "amd64", i % 2 ? "arm64" : "amd64", i / 2, i / 2);
        put_text(f, KK_DATASOURCE, j);
    }

    char server[64];
    snprintf(server, sizeof server, "https://127.0.0.1:%u", kubefake_port(f));
    struct kube_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.server = server;
    cfg.ca_file = crt;
    cfg.source = (char *)"bench";
    struct source_kube_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = &cfg;
    char err[512] = "";
    long long t_start = now_us();
    if (source_kube_start(&o, err, sizeof err) != AG_OK)
        die(err);
    while (!source_kube_synced()) {
        if (now_us() - t_start > 30000000)
            die("no sync within 30 s");
        usleep(5000);
    }
    long long sync_ms = (now_us() - t_start) / 1000;
    struct snapshot *s0 = snapshot_acquire();
    printf("bench_kube: %d nodes, %zu DataSources listed and synced in %lld ms; snapshot %zu KiB\n",
           NODES, s0 ? s0->ndatasources : 0, sync_ms, s0 ? s0->bytes / 1024 : 0);
    snapshot_release(s0);
    usleep(300000);
    malloc_trim(0);
    long rss0 = vm_rss_kib();

    pthread_t rt;
    if (pthread_create(&rt, NULL, reviewer, NULL) != 0)
        die("pthread_create");
    uint64_t gen0 = snapshot_generation();
    unsigned long long ev0 = metrics_kube_value(KK_NODE, KC_EVENTS);
    unsigned long long sent = 0;
    long long t0 = now_us(), ticks = (long long)seconds * 1000 / TICK_MS;
    unsigned per_tick = EVENTS_PER_SECOND * TICK_MS / 1000;
    unsigned rng = 12345;
    for (long long tick = 0; tick < ticks; tick++) {
        for (unsigned e = 0; e < per_tick; e++) {
            unsigned i = (unsigned)rand_r(&rng) % NODES;
            node_event(f, i, sent, tick);
            sent++;
        }
        long long due = t0 + (tick + 1) * TICK_MS * 1000, now = now_us();
        if (due > now)
            usleep((useconds_t)(due - now));
    }
    long long elapsed_us = now_us() - t0;
    /* let the last events arrive and the last rebuild happen */
    long long settle = now_us();
    while (metrics_kube_value(KK_NODE, KC_EVENTS) - ev0 < sent && now_us() - settle < 5000000)
        usleep(10000);
    usleep(300000);
    atomic_store(&reviewer_stop, true);
    pthread_join(rt, NULL);
    unsigned long long applied = metrics_kube_value(KK_NODE, KC_EVENTS) - ev0;
    uint64_t rebuilds = snapshot_generation() - gen0;
    long rss1 = vm_rss_kib();
    /* without the fake server's event history (up to 4,096 full node objects), what is left is
     * archgate's store and snapshots, the fake server's current objects and the allocator */
    kubefake_compact(f);
    malloc_trim(0);
    long rss2 = vm_rss_kib();
    double secs = (double)elapsed_us / 1e6;

    printf("bench_kube: %.1f s of churn: %llu node events sent (%.0f/s; 80%% heartbeat-only), %llu applied\n", secs,
           sent, (double)sent / secs, applied);
    printf("bench_kube: snapshot rebuilds: %llu (%.1f/s; %.1f events per rebuild)\n", (unsigned long long)rebuilds,
           (double)rebuilds / secs, rebuilds ? (double)applied / (double)rebuilds : 0.0);
    printf("bench_kube: reviews: %llu (%llu denied), latency p50 %lld us, p99 %lld us, max %lld us\n", reviews,
           denied, percentile(0.50), percentile(0.99), max_us);
    printf("bench_kube: VmRSS %ld KiB after sync, %ld KiB at the end, %ld KiB once the fake server dropped its "
           "event history (the fake server's objects live in this process too)\n", rss0, rss1, rss2);

    source_kube_stop();
    snapshot_publish(NULL);
    kubefake_stop(f);
    mem_trimmer_stop();
    for (int i = 0; i < NODES; i++)
        cJSON_Delete(nodes[i].obj);
    mem_free(review_body);
    unlink(crt);
    unlink(key);
    rmdir(dir);
    return 0;
}
