/* bench_audit.c - audit benchmark (make bench; not a test): a synthetic cluster of 5,000 nodes
 * (amd64, arm64, s390x; zones, pools, some tainted or cordoned) with 800 DataSources, and
 * 10,000 VMs of mixed shapes (DataSource images, nodeSelectors with tolerations, required
 * affinity, pinned architectures, containerDisks of unknown architecture), 3,000 of them with
 * a running VMI. Prints the ingest time, the memory the inventory holds (its own count and the
 * process RSS before and after), and the CPU time of a full audit (median and worst of 20).
 * Usage: bench_audit [VMS [NODES]]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "../testutil.h"
#include "audit/audit.h"
#include "audit/inventory.h"
#include "cluster.h"
#include "decide.h"
#include "mem.h"

#define RUNS 20
#define DS_BASES 200

static const char *const archs[] = { "amd64", "arm64", "s390x" };

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static int arch_of(int i)
{
    int m = i % 10;
    return m < 6 ? 0 : m < 9 ? 1 : 2;
}

static cJSON *node(int i)
{
    char name[64], host[64], zone[32], pool[32];
    snprintf(name, sizeof name, "node-%05d", i);
    snprintf(host, sizeof host, "node-%05d", i);
    snprintf(zone, sizeof zone, "zone-%d", i % 3);
    snprintf(pool, sizeof pool, "p%d", i % 20);
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "apiVersion", "v1");
    cJSON_AddStringToObject(n, "kind", "Node");
    cJSON *md = cJSON_AddObjectToObject(n, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON *l = cJSON_AddObjectToObject(md, "labels");
    cJSON_AddStringToObject(l, "kubernetes.io/arch", archs[arch_of(i)]);
    cJSON_AddStringToObject(l, "kubernetes.io/hostname", host);
    cJSON_AddStringToObject(l, "node-role.kubernetes.io/worker", "");
    cJSON_AddStringToObject(l, "kubevirt.io/schedulable", "true");
    cJSON_AddStringToObject(l, "topology.kubernetes.io/zone", zone);
    cJSON_AddStringToObject(l, "pool", pool);
    cJSON *spec = cJSON_AddObjectToObject(n, "spec");
    if (i % 20 == 7) {
        cJSON *t = cJSON_AddArrayToObject(spec, "taints");
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "key", "dedicated");
        cJSON_AddStringToObject(x, "value", "gpu");
        cJSON_AddStringToObject(x, "effect", "NoSchedule");
        cJSON_AddItemToArray(t, x);
    }
    if (i % 50 == 3)
        cJSON_AddBoolToObject(spec, "unschedulable", 1);
    return n;
}

static cJSON *datasource(int base, int a)
{
    char name[64];
    snprintf(name, sizeof name, "os-%03d%s%s", base, a >= 0 ? "-" : "", a >= 0 ? archs[a] : "");
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "apiVersion", "cdi.kubevirt.io/v1beta1");
    cJSON_AddStringToObject(d, "kind", "DataSource");
    cJSON *md = cJSON_AddObjectToObject(d, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", "os-images");
    cJSON *spec = cJSON_AddObjectToObject(d, "spec");
    cJSON *src = cJSON_AddObjectToObject(spec, "source");
    if (a >= 0) {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"), "template.kubevirt.io/architecture", archs[a]);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(src, "snapshot"), "name", name);
    } else {
        char to[64];
        snprintf(to, sizeof to, "os-%03d-amd64", base);
        cJSON *p = cJSON_AddObjectToObject(src, "dataSource");
        cJSON_AddStringToObject(p, "name", to);
        cJSON_AddStringToObject(p, "namespace", "os-images");
    }
    return d;
}

/* VM i (or its VMI) as JSON text. */
static char *vm_text(int i, bool vmi, int nodes)
{
    char name[64], ns[32], ds[64];
    snprintf(name, sizeof name, "vm-%05d", i);
    snprintf(ns, sizeof ns, "team-%02d", i % 40);
    int shape = i % 10;
    snprintf(ds, sizeof ds, "os-%03d%s%s", i % DS_BASES, shape == 1 ? "-" : "", shape == 1 ? archs[i % 3] : "");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "kubevirt.io/v1");
    cJSON_AddStringToObject(o, "kind", vmi ? "VirtualMachineInstance" : "VirtualMachine");
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", ns);
    cJSON_AddStringToObject(md, "uid", name);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON *ts = vmi ? spec : cJSON_AddObjectToObject(cJSON_AddObjectToObject(spec, "template"), "spec");
    if (shape == 2 || shape == 3) {         /* a pool, tolerating the gpu taint */
        char pool[16];
        snprintf(pool, sizeof pool, "p%d", i % 20);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(ts, "nodeSelector"), "pool", pool);
        cJSON *t = cJSON_AddArrayToObject(ts, "tolerations");
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "key", "dedicated");
        cJSON_AddStringToObject(x, "operator", "Exists");
        cJSON_AddItemToArray(t, x);
    } else if (shape == 4) {                /* required affinity on zones */
        cJSON *a = cJSON_Parse("{\"nodeAffinity\": {\"requiredDuringSchedulingIgnoredDuringExecution\": "
                               "{\"nodeSelectorTerms\": [{\"matchExpressions\": [{\"key\": "
                               "\"topology.kubernetes.io/zone\", \"operator\": \"In\", \"values\": [\"zone-0\", "
                               "\"zone-2\"]}]}]}}}");
        cJSON_AddItemToObject(ts, "affinity", a);
    } else if (shape == 5) {                /* pinned */
        cJSON_AddStringToObject(ts, "architecture", archs[(i / 10) % 3]);
    }
    cJSON *vols = cJSON_AddArrayToObject(ts, "volumes");
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", "root");
    if (shape == 9) {
        char img[96];
        snprintf(img, sizeof img, "quay.io/example/app-%d:1.0", i % 100);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(v, "containerDisk"), "image", img);
    } else {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(v, "dataVolume"), "name", name);
        if (!vmi) {
            cJSON *dvts = cJSON_AddArrayToObject(spec, "dataVolumeTemplates");
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "metadata"), "name", name);
            cJSON *ref = cJSON_AddObjectToObject(cJSON_AddObjectToObject(t, "spec"), "sourceRef");
            cJSON_AddStringToObject(ref, "kind", "DataSource");
            cJSON_AddStringToObject(ref, "name", ds);
            cJSON_AddStringToObject(ref, "namespace", "os-images");
            cJSON_AddItemToArray(dvts, t);
        }
    }
    cJSON_AddItemToArray(vols, v);
    cJSON *st = cJSON_AddObjectToObject(o, "status");
    if (vmi) {
        char nn[64];
        snprintf(nn, sizeof nn, "node-%05d", (i * 7) % (nodes + nodes / 100 + 1));    /* ~1%: a node that is gone */
        cJSON_AddStringToObject(st, "phase", "Running");
        cJSON_AddStringToObject(st, "nodeName", nn);
    } else {
        cJSON_AddStringToObject(st, "printableStatus", i % 10 < 3 ? "Running" : "Stopped");
    }
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

static int atoi_safe(const char *s, int def)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < 1 || v > 10000000 ? def : (int)v;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    testutil_init();
    int nvms = argc > 1 ? atoi_safe(argv[1], 10000) : 10000;
    int nnodes = argc > 2 ? atoi_safe(argv[2], 5000) : 5000;
    char err[512] = "";
    struct cluster_builder *b = cluster_builder_new();
    for (int i = 0; i < nnodes; i++) {
        cJSON *n = node(i);
        cluster_builder_add(b, n, err, sizeof err);
        cJSON_Delete(n);
    }
    for (int d = 0; d < DS_BASES; d++)
        for (int a = -1; a < 3; a++) {
            cJSON *o = datasource(d, a);
            cluster_builder_add(b, o, err, sizeof err);
            cJSON_Delete(o);
        }
    struct snapshot *s = cluster_builder_finish(b);
    if (!s) {
        fprintf(stderr, "bench_audit: cannot build the snapshot\n");
        return 1;
    }
    long rss0 = rss_kib();
    struct inventory *inv = inventory_new();
    double t0 = tu_now_us();
    int nvmis = 0;
    for (int i = 0; i < nvms; i++) {
        for (int k = 0; k < 2; k++) {
            if (k == 1 && i % 10 >= 3)
                break;      /* 30% run */
            char *t = vm_text(i, k == 1, nnodes);
            cJSON *o = cJSON_Parse(t);
            if (inventory_put(inv, k == 1, o, NULL, err, sizeof err) != AG_OK) {
                fprintf(stderr, "bench_audit: %s\n", err);
                return 1;
            }
            nvmis += k;
            cJSON_Delete(o);
            cJSON_free(t);
        }
    }
    double ingest_ms = (tu_now_us() - t0) / 1e3;
    long rss1 = rss_kib();
    size_t bytes = inventory_bytes(inv);

    static const struct policy pol;
    double cpu[RUNS], wall[RUNS];
    struct audit_report *r = NULL;
    for (int k = 0; k < RUNS; k++) {
        audit_report_free(r);
        double c0 = cpu_ms(), w0 = tu_now_us();
        if (audit_run(s, inv, &pol, &r) != AG_OK) {
            fprintf(stderr, "bench_audit: audit failed\n");
            return 1;
        }
        cpu[k] = cpu_ms() - c0;
        wall[k] = (tu_now_us() - w0) / 1e3;
    }
    qsort(cpu, RUNS, sizeof cpu[0], cmp_d);
    qsort(wall, RUNS, sizeof wall[0], cmp_d);
    char sum[256];
    audit_summary(r, sum, sizeof sum);
    printf("audit: %d VMs (%d running VMIs) against %zu nodes (snapshot %zu KiB)\n", nvms, nvmis, s->nnodes,
           s->bytes / 1024);
    printf("  ingest          %.1f ms (JSON parse + extract, %.1f us per object)\n", ingest_ms,
           ingest_ms * 1e3 / (nvms + nvmis));
    printf("  inventory       %zu KiB counted (%zu bytes per VM with its VMI); RSS %ld -> %ld KiB (+%ld KiB)\n",
           bytes / 1024, bytes / (size_t)nvms, rss0, rss1, rss1 - rss0);
    printf("  full audit      CPU median %.1f ms, worst %.1f ms of %d (wall median %.1f ms) [target < 100 ms]\n",
           cpu[RUNS / 2], cpu[RUNS - 1], RUNS, wall[RUNS / 2]);
    printf("  result          %s\n", sum);
    for (unsigned c = 0; c < AC_COUNT; c++)
        if (r->by_class[c])
            printf("                  refused %-28s %zu\n", audit_class_name(c), r->by_class[c]);
    audit_report_free(r);
    inventory_free(inv);
    snapshot_release(s);
    return 0;
}
