/* bench_decide.c - decision benchmark (make bench; not a test): synthetic clusters of 10, 1,000
 * and 5,000 nodes with 2,000 DataSources, built through cluster_builder_add from generated JSON;
 * prints snapshot size and build time, then the median and p99 latency of one decision for a VM
 * without placement constraints and for one with a nodeSelector, required affinity and
 * tolerations (vm_extract + decide_review, and decide_review alone). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "../testutil.h"
#include "cluster.h"
#include "decide.h"
#include "mem.h"
#include "pool.h"
#include "vm.h"

#define ITERATIONS 20000
#define WARMUP 1000
#define DATASOURCE_BASES 500        /* x4: pointer + amd64 + arm64 + s390x = 2,000 DataSources */
#define GOLD "openshift-virtualization-os-images"

/* ---- a growing text buffer (bounded) ---- */

#define TEXT_MAX (256u * 1024 * 1024)

struct text { char *buf; size_t len, cap; bool failed; };

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->buf && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = t->cap ? t->cap * 2 : 1u << 20;
        while (ncap < t->len + (size_t)n + 1)
            ncap *= 2;
        if (ncap > TEXT_MAX) {
            t->failed = true;
            return;
        }
        char *nb = mem_realloc(t->buf, ncap);
        if (!nb) {
            t->failed = true;
            return;
        }
        t->buf = nb;
        t->cap = ncap;
    }
}

/* ---- the synthetic cluster ---- */

static const char *node_arch(size_t i)
{
    size_t k = i % 10;
    return k < 6 ? "amd64" : k < 9 ? "arm64" : "s390x";
}

static void gen_node(struct text *t, size_t i, size_t nnodes)
{
    const char *arch = node_arch(i);
    bool cp = i < 3 && nnodes > 3;
    char name[64];
    snprintf(name, sizeof name, "%s-%s-%05zu", cp ? "ctrl" : "worker", arch, i);
    text_add(t, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\","
                "\"annotations\":{\"node.alpha.kubernetes.io/ttl\":\"0\","
                "\"volumes.kubernetes.io/controller-managed-attach-detach\":\"true\","
                "\"machineconfiguration.openshift.io/state\":\"Done\"},"
                "\"labels\":{\"beta.kubernetes.io/arch\":\"%s\",\"beta.kubernetes.io/os\":\"linux\","
                "\"kubernetes.io/arch\":\"%s\",\"kubernetes.io/hostname\":\"%s\",\"kubernetes.io/os\":\"linux\","
                "\"node.openshift.io/os_id\":\"rhcos\",\"topology.kubernetes.io/region\":\"dc-1\","
                "\"topology.kubernetes.io/zone\":\"row-%zu\",\"node.kubernetes.io/instance-type\":\"%s\","
                "\"cpumanager\":\"false\",\"kubevirt.io/ksm-enabled\":\"false\",\"kubevirt.io/schedulable\":\"%s\","
                "\"cpu-model.node.kubevirt.io/%s\":\"true\",\"cpu-vendor.node.kubevirt.io/%s\":\"true\","
                "\"machine-type.node.kubevirt.io/%s\":\"true\",\"vms.example.org/pool\":\"%s\"",
             name, arch, arch, name, i % 8, i % 3 ? "m6.4xlarge" : "m6.8xlarge", cp ? "false" : "true",
             arch[0] == 'a' && arch[1] == 'm' ? "Cascadelake-Server" : arch[0] == 'a' ? "Neoverse-N1" : "gen16a",
             arch[0] == 'a' && arch[1] == 'm' ? "Intel" : arch[0] == 'a' ? "ARM" : "IBM",
             arch[0] == 'a' && arch[1] == 'm' ? "pc-q35-rhel9.6.0" : arch[0] == 'a' ? "virt-rhel9.6.0" : "s390-ccw-virtio",
             i % 4 == 0 ? "batch" : "general");
    if (cp)
        text_add(t, ",\"node-role.kubernetes.io/control-plane\":\"\",\"node-role.kubernetes.io/master\":\"\"");
    else
        text_add(t, ",\"node-role.kubernetes.io/worker\":\"\"");
    if (i % 10 != 7)
        text_add(t, ",\"vms.example.org/virt\":\"true\"");
    text_add(t, "}},\"spec\":{");
    if (cp)
        text_add(t, "\"taints\":[{\"key\":\"node-role.kubernetes.io/master\",\"effect\":\"NoSchedule\"}]");
    else if (i % 50 == 5)
        text_add(t, "\"unschedulable\":true,\"taints\":[{\"key\":\"node.kubernetes.io/unschedulable\","
                    "\"effect\":\"NoSchedule\",\"timeAdded\":\"2026-06-22T09:12:44Z\"}]");
    else if (i % 97 == 11)
        text_add(t, "\"taints\":[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"}]");
    else if (i % 17 == 3)
        text_add(t, "\"taints\":[{\"key\":\"dedicated\",\"value\":\"gpu\",\"effect\":\"NoSchedule\"},"
                    "{\"key\":\"example.org/maintenance-window\",\"value\":\"sunday\",\"effect\":\"PreferNoSchedule\"}]");
    text_add(t, "},\"status\":{\"nodeInfo\":{\"architecture\":\"%s\",\"operatingSystem\":\"linux\","
                "\"kubeletVersion\":\"v1.31.6\",\"containerRuntimeVersion\":\"cri-o://1.31.6\"},"
                "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\",\"reason\":\"KubeletReady\"}]}}",
             arch, i % 97 == 11 ? "Unknown" : "True");
}

static void gen_cluster(struct text *t, size_t nnodes)
{
    text_add(t, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
    for (size_t i = 0; i < nnodes; i++) {
        gen_node(t, i, nnodes);
        text_add(t, ",");
    }
    text_add(t, "{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{"
                "\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"openshift-cnv\"},\"spec\":{\"featureGates\":{"
                "\"enableMultiArchBootImageImport\":true},\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{"
                "\"vms.example.org/virt\":\"true\"}}}}},");
    text_add(t, "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"KubeVirt\",\"metadata\":{\"name\":\"kubevirt\","
                "\"namespace\":\"openshift-cnv\"},\"spec\":{\"configuration\":{\"developerConfiguration\":{"
                "\"featureGates\":[\"Snapshot\",\"HotplugVolumes\"]}}},\"status\":{\"defaultArchitecture\":\"amd64\"}}");
    static const char *const archs[] = { "amd64", "arm64", "s390x" };
    for (size_t b = 0; b < DATASOURCE_BASES; b++) {
        text_add(t, ",{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataSource\",\"metadata\":{"
                    "\"name\":\"img-%04zu\",\"namespace\":\"" GOLD "\"},\"spec\":{\"source\":{\"dataSource\":{"
                    "\"name\":\"img-%04zu-amd64\",\"namespace\":\"" GOLD "\"}}}}", b, b);
        for (size_t a = 0; a < 3; a++)
            text_add(t, ",{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataSource\",\"metadata\":{"
                        "\"name\":\"img-%04zu-%s\",\"namespace\":\"" GOLD "\",\"labels\":{"
                        "\"template.kubevirt.io/architecture\":\"%s\",\"cdi.kubevirt.io/dataImportCron\":"
                        "\"img-%04zu-image-cron-%s\"}},\"spec\":{\"source\":{\"snapshot\":{\"name\":\"img-%04zu-%s-snap\","
                        "\"namespace\":\"" GOLD "\"}}}}", b, archs[a], archs[a], b, archs[a], b, archs[a]);
    }
    text_add(t, "]}");
}

/* ---- the VMs ---- */

#define VM_HEAD                                                                                    \
    "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"bench-vm\","   \
    "\"namespace\":\"vms\",\"labels\":{\"app\":\"bench-vm\"}},\"spec\":{\"runStrategy\":\"Always\","       \
    "\"dataVolumeTemplates\":[{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","          \
    "\"metadata\":{\"name\":\"bench-vm-root\"},\"spec\":{\"sourceRef\":{\"kind\":\"DataSource\","           \
    "\"name\":\"img-0042\",\"namespace\":\"" GOLD "\"},\"storage\":{\"resources\":{\"requests\":{"         \
    "\"storage\":\"30Gi\"}}}}}],\"template\":{\"metadata\":{\"labels\":{\"kubevirt.io/domain\":\"bench-vm\"}}," \
    "\"spec\":{\"domain\":{\"cpu\":{\"cores\":2},\"devices\":{\"disks\":[{\"name\":\"rootdisk\",\"disk\":{"  \
    "\"bus\":\"virtio\"}},{\"name\":\"cloudinitdisk\",\"disk\":{\"bus\":\"virtio\"}}],\"interfaces\":[{"   \
    "\"name\":\"default\",\"masquerade\":{}}]},\"memory\":{\"guest\":\"4Gi\"}},\"networks\":[{"              \
    "\"name\":\"default\",\"pod\":{}}],"
#define VM_TAIL                                                                                    \
    "\"volumes\":[{\"name\":\"rootdisk\",\"dataVolume\":{\"name\":\"bench-vm-root\"}},{\"name\":"       \
    "\"cloudinitdisk\",\"cloudInitNoCloud\":{\"userData\":\"#cloud-config\\nuser: cloud-user\\n\"}}]}}}}"

static const char vm_plain[] = VM_HEAD VM_TAIL;
static const char vm_placed[] = VM_HEAD
    "\"nodeSelector\":{\"vms.example.org/pool\":\"general\",\"kubernetes.io/os\":\"linux\"},"
    "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
    "{\"matchExpressions\":[{\"key\":\"topology.kubernetes.io/zone\",\"operator\":\"In\","
    "\"values\":[\"row-0\",\"row-1\",\"row-2\",\"row-3\",\"row-5\"]},{\"key\":\"node.kubernetes.io/instance-type\","
    "\"operator\":\"NotIn\",\"values\":[\"m6.2xlarge\"]}]},{\"matchExpressions\":[{\"key\":\"cpumanager\","
    "\"operator\":\"Exists\"},{\"key\":\"kubernetes.io/hostname\",\"operator\":\"In\",\"values\":[\"none\"]}]}]}}},"
    "\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"gpu\",\"effect\":\"NoSchedule\"}],"
    VM_TAIL;

/* ---- timing ---- */

static double percentile(double *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

struct figures { double med_all, p99_all, med_dec, p99_dec; const char *verdict; size_t patch_ops; };

static int bench_vm(const struct snapshot *s, const char *vm_text, bool mutate, struct figures *f)
{
    cJSON *obj = cJSON_Parse(vm_text);
    struct pool *pool = pool_new(0);
    double *all = mem_calloc(ITERATIONS, sizeof *all), *dec = mem_calloc(ITERATIONS, sizeof *dec);
    int rc = 1;
    if (!obj || !pool || !all || !dec)
        goto out;
    struct policy pol = { MULTI_ARCH_AUTO, UNKNOWN_IMAGE_WARN };
    for (size_t i = 0; i < WARMUP + ITERATIONS; i++) {
        pool_reset(pool);
        struct vm_facts facts;
        struct verdict v;
        char err[256];
        double t0 = tu_now_us();
        if (vm_extract(obj, false, "vms", pool, &facts, err, sizeof err) != AG_OK) {
            fprintf(stderr, "vm_extract: %s\n", err);
            goto out;
        }
        struct decide_input in = {
            .mutate = mutate, .op = OP_CREATE, .in_scope = true, .vm = &facts,
            .resource = "virtualmachines", .group = "kubevirt.io",
        };
        double t1 = tu_now_us();
        if (decide_review(&in, s, &pol, pool, &v) != AG_OK) {
            fprintf(stderr, "decide_review failed\n");
            goto out;
        }
        double t2 = tu_now_us();
        if (i >= WARMUP) {
            all[i - WARMUP] = t2 - t0;
            dec[i - WARMUP] = t2 - t1;
        }
        f->verdict = verdict_class_name(v.cls);
        f->patch_ops = v.patch.n;
    }
    qsort(all, ITERATIONS, sizeof *all, tu_cmp_double);
    qsort(dec, ITERATIONS, sizeof *dec, tu_cmp_double);
    f->med_all = percentile(all, ITERATIONS, 0.5);
    f->p99_all = percentile(all, ITERATIONS, 0.99);
    f->med_dec = percentile(dec, ITERATIONS, 0.5);
    f->p99_dec = percentile(dec, ITERATIONS, 0.99);
    rc = 0;
out:
    mem_free(all);
    mem_free(dec);
    pool_free(pool);
    cJSON_Delete(obj);
    return rc;
}

static int bench_cluster(size_t nnodes)
{
    struct text t = { 0 };
    gen_cluster(&t, nnodes);
    if (t.failed) {
        fprintf(stderr, "cannot generate the cluster\n");
        mem_free(t.buf);
        return 1;
    }
    double t0 = tu_now_us();
    cJSON *list = cJSON_ParseWithLength(t.buf, t.len);
    double t1 = tu_now_us();
    size_t json_len = t.len;
    mem_free(t.buf);
    if (!list) {
        fprintf(stderr, "generated JSON does not parse\n");
        return 1;
    }
    char err[512] = "";
    struct cluster_builder *b = cluster_builder_new();
    double t2 = tu_now_us();
    if (!b || cluster_builder_add(b, list, err, sizeof err) != AG_OK) {
        fprintf(stderr, "cluster_builder_add: %s\n", err);
        cluster_builder_free(b);
        cJSON_Delete(list);
        return 1;
    }
    struct snapshot *s = cluster_builder_finish(b);
    double t3 = tu_now_us();
    cJSON_Delete(list);
    if (!s) {
        fprintf(stderr, "cluster_builder_finish failed\n");
        return 1;
    }
    printf("%6zu nodes, %zu DataSources: JSON %.1f MB, parse %.1f ms, build %.1f ms, snapshot %.0f KiB\n",
           nnodes, s->ndatasources, (double)json_len / 1e6, (t1 - t0) / 1e3, (t3 - t2) / 1e3, (double)s->bytes / 1024.0);

    static const struct { const char *name; const char *text; bool mutate; } vms[] = {
        { "(a) no placement, /validate", vm_plain, false },
        { "(a) no placement, /mutate", vm_plain, true },
        { "(b) selector+affinity, /validate", vm_placed, false },
        { "(b) selector+affinity, /mutate", vm_placed, true },
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof vms / sizeof vms[0]; i++) {
        struct figures f = { 0 };
        if (bench_vm(s, vms[i].text, vms[i].mutate, &f) != 0) {
            rc = 1;
            break;
        }
        printf("  %-34s %9.2f %9.2f %9.2f %9.2f   %s%s\n", vms[i].name, f.med_all, f.p99_all, f.med_dec, f.p99_dec,
               f.verdict, f.patch_ops ? " (patch)" : "");
    }
    snapshot_release(s);
    return rc;
}

int main(void)
{
    testutil_init();
    printf("archgate decision benchmark: %d decisions per case after %d warm-up; microseconds per decision\n",
           ITERATIONS, WARMUP);
    printf("  %-34s %9s %9s %9s %9s\n", "", "x+d med", "x+d p99", "dec med", "dec p99");
    printf("  (x+d: vm_extract + decide_review; dec: decide_review alone)\n\n");
    static const size_t sizes[] = { 10, 1000, 5000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (bench_cluster(sizes[i]) != 0)
            return 1;
        printf("\n");
    }
    return 0;
}
