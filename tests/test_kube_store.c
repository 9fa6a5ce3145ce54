/* test_kube_store.c - the kinds table, pruning per kind (exact pruned JSON from real object
 * shapes), change detection (heartbeat-only updates change nothing, label changes do, PVCs that
 * lose their label are dropped), replace after a list, building snapshots (malformed objects
 * skipped and counted once, HyperConverged served at two versions, the catalog), limits, and
 * allocation failures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kube_store.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "testutil.h"
#include "unit.h"

/* A Node as kube-apiserver lists it (item: no kind/apiVersion), with what a heartbeat changes. */
#define NODE_ITEM(name, arch, rv, hb, extra_labels)                                                              \
    "{\"metadata\":{\"name\":\"" name "\",\"uid\":\"6f0d5c1e-1b7a-4c69-9d1e-" name "\",\"resourceVersion\":\"" rv \
    "\",\"creationTimestamp\":\"2026-01-10T08:00:00Z\",\"labels\":{\"beta.kubernetes.io/arch\":\"" arch "\","       \
    "\"kubernetes.io/arch\":\"" arch "\",\"kubernetes.io/hostname\":\"" name "\",\"kubernetes.io/os\":\"linux\","   \
    "\"node-role.kubernetes.io/worker\":\"\"" extra_labels "},\"annotations\":{\"node.alpha.kubernetes.io/ttl\":"  \
    "\"0\",\"volumes.kubernetes.io/controller-managed-attach-detach\":\"true\"},\"managedFields\":[{\"manager\":"   \
    "\"kubelet\",\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"" hb "\",\"fieldsType\":\"FieldsV1\","  \
    "\"fieldsV1\":{\"f:status\":{\"f:conditions\":{}}}}]},\"spec\":{\"podCIDR\":\"10.244.1.0/24\",\"providerID\":"  \
    "\"kind://docker/kind/" name "\"},\"status\":{\"capacity\":{\"cpu\":\"8\",\"memory\":\"32Gi\"},\"conditions\":" \
    "[{\"type\":\"Ready\",\"status\":\"True\",\"lastHeartbeatTime\":\"" hb "\",\"lastTransitionTime\":"             \
    "\"2026-01-10T08:01:00Z\",\"reason\":\"KubeletReady\",\"message\":\"kubelet is posting ready status\"}],"      \
    "\"nodeInfo\":{\"architecture\":\"" arch "\",\"bootID\":\"b1\",\"kernelVersion\":\"6.1.0-18-" arch "\","        \
    "\"kubeletVersion\":\"v1.30.2\",\"operatingSystem\":\"linux\"},\"images\":[{\"names\":[\"quay.io/kubevirt/"     \
    "virt-launcher@sha256:0123\"],\"sizeBytes\":412345678}]}}"

#define NODE_PRUNED(name, arch, extra_labels)                                                                    \
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"" name "\",\"labels\":{"                   \
    "\"beta.kubernetes.io/arch\":\"" arch "\",\"kubernetes.io/arch\":\"" arch "\",\"kubernetes.io/hostname\":\""   \
    name "\",\"kubernetes.io/os\":\"linux\",\"node-role.kubernetes.io/worker\":\"\"" extra_labels "}},"            \
    "\"status\":{\"nodeInfo\":{\"architecture\":\"" arch "\"}}}"

static enum log_level saved_level;

static int suite_init(void)
{
    saved_level = log_min_level;
    log_min_level = LOG_ERROR + 1;      /* the skipped-object warnings are expected here */
    return 0;
}

static int suite_cleanup(void)
{
    log_min_level = saved_level;
    return 0;
}

/* Prune `item` as `kind` and compare with `want` (NULL: not kept). */
static void check_prune(unsigned kind, const char *item, const char *want, size_t idx)
{
    cJSON *in = tu_parse(item), *out = NULL;
    char err[256] = "";
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    enum ag_result r = kube_prune(kind, in, &out, err, sizeof err);
    CASE_ASSERT(r == AG_OK, idx, err);
    if (!want) {
        CASE_ASSERT(out == NULL, idx, "not kept");
    } else {
        char *text = out ? cJSON_PrintUnformatted(out) : NULL;
        bool eq = text && tu_json_equal(text, want);
        if (!eq)
            fprintf(stderr, "\n  case %zu: pruned %s\n  want %s\n", idx, text ? text : "(null)", want);
        CASE_ASSERT(eq, idx, "pruned form");
        cJSON_free(text);
    }
    cJSON_Delete(out);
    cJSON_Delete(in);
}

static void test_kinds_table(void)
{
    size_t n = 0;
    const struct kube_kind *k = kube_kinds(&n);
    CU_ASSERT_EQUAL_FATAL(n, KK_COUNT);
    CU_ASSERT_STRING_EQUAL(k[KK_NODE].path, "/api/v1/nodes");
    CU_ASSERT_STRING_EQUAL(k[KK_HCO_V1BETA1].path, "/apis/hco.kubevirt.io/v1beta1/hyperconvergeds");
    CU_ASSERT_STRING_EQUAL(k[KK_HCO_V1].path, "/apis/hco.kubevirt.io/v1/hyperconvergeds");
    CU_ASSERT_STRING_EQUAL(k[KK_KUBEVIRT].path, "/apis/kubevirt.io/v1/kubevirts");
    CU_ASSERT_STRING_EQUAL(k[KK_DATASOURCE].path, "/apis/cdi.kubevirt.io/v1beta1/datasources");
    CU_ASSERT_STRING_EQUAL(k[KK_PVC].path, "/api/v1/persistentvolumeclaims");
    CU_ASSERT_STRING_EQUAL(k[KK_CLUSTER_PREFERENCE].path,
                           "/apis/instancetype.kubevirt.io/v1beta1/virtualmachineclusterpreferences");
    CU_ASSERT_STRING_EQUAL(k[KK_PREFERENCE].path, "/apis/instancetype.kubevirt.io/v1beta1/virtualmachinepreferences");
    /* every row agrees with itself */
    for (size_t i = 0; i < n; i++) {
        char path[256], api[128], list[128], name[160];
        if (k[i].group[0]) {
            snprintf(path, sizeof path, "/apis/%s/%s/%s", k[i].group, k[i].version, k[i].resource);
            snprintf(api, sizeof api, "%s/%s", k[i].group, k[i].version);
            snprintf(name, sizeof name, "%s.%s", k[i].resource, k[i].group);
        } else {
            snprintf(path, sizeof path, "/api/%s/%s", k[i].version, k[i].resource);
            snprintf(api, sizeof api, "%s", k[i].version);
            snprintf(name, sizeof name, "%s", k[i].resource);
        }
        snprintf(list, sizeof list, "%sList", k[i].kind);
        CASE_ASSERT(strcmp(path, k[i].path) == 0, i, k[i].path);
        CASE_ASSERT(strcmp(api, k[i].api_version) == 0, i, k[i].path);
        CASE_ASSERT(strcmp(list, k[i].list_kind) == 0, i, k[i].path);
        CASE_ASSERT(strcmp(name, k[i].name) == 0, i, k[i].path);
    }
    CU_ASSERT_FALSE(k[KK_NODE].namespaced);
    CU_ASSERT_FALSE(k[KK_CLUSTER_PREFERENCE].namespaced);
    CU_ASSERT_TRUE(k[KK_PVC].namespaced);
    CU_ASSERT_TRUE(k[KK_HCO_V1].namespaced);
}

static void test_prune_per_kind(void)
{
    static const struct { unsigned kind; const char *in, *want; } cases[] = {
        { KK_NODE, NODE_ITEM("worker-1", "arm64", "1001", "2026-03-01T10:00:00Z", ""),
          NODE_PRUNED("worker-1", "arm64", "") },
        /* taints and cordon are kept; kind/apiVersion on the input are replaced by the collection's */
        { KK_NODE,
          "{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"cp-0\",\"labels\":{"
          "\"node-role.kubernetes.io/control-plane\":\"\"}},\"spec\":{\"unschedulable\":true,\"taints\":[{\"key\":"
          "\"node-role.kubernetes.io/control-plane\",\"effect\":\"NoSchedule\"},{\"key\":"
          "\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\",\"timeAdded\":\"2026-03-01T10:00:00Z\"}],"
          "\"podCIDR\":\"10.244.0.0/24\"},\"status\":{\"nodeInfo\":{\"architecture\":\"amd64\",\"machineID\":\"m\"}}}",
          "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"cp-0\",\"labels\":{"
          "\"node-role.kubernetes.io/control-plane\":\"\"}},\"spec\":{\"unschedulable\":true,\"taints\":[{\"key\":"
          "\"node-role.kubernetes.io/control-plane\",\"effect\":\"NoSchedule\"},{\"key\":"
          "\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\",\"timeAdded\":\"2026-03-01T10:00:00Z\"}]},"
          "\"status\":{\"nodeInfo\":{\"architecture\":\"amd64\"}}}" },
        /* a namespace on a cluster-scoped object is not kept; a node with nothing else keeps its name */
        { KK_NODE, "{\"metadata\":{\"name\":\"bare\",\"namespace\":\"x\"},\"spec\":{},\"status\":{}}",
          "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"bare\"}}" },
        /* HCO v1beta1: the gate map is narrowed to the one gate read; placement and status kept */
        { KK_HCO_V1BETA1,
          "{\"metadata\":{\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"openshift-cnv\",\"generation\":7,"
          "\"labels\":{\"app\":\"kubevirt-hyperconverged\"}},\"spec\":{\"featureGates\":{"
          "\"enableMultiArchBootImageImport\":true,\"deployKubeSecondaryDNS\":false,\"downwardMetrics\":false},"
          "\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{\"vm-pool\":\"a\"}}},\"infra\":{},"
          "\"liveMigrationConfig\":{\"parallelMigrationsPerCluster\":5}},\"status\":{\"conditions\":[{\"type\":"
          "\"Available\",\"status\":\"True\"}],\"nodeInfo\":{\"controlPlaneArchitectures\":[\"amd64\"],"
          "\"defaultWorkloadArchitecture\":\"amd64\",\"workloadsArchitectures\":[\"amd64\",\"arm64\"]},"
          "\"observedGeneration\":7}}",
          "{\"apiVersion\":\"hco.kubevirt.io/v1beta1\",\"kind\":\"HyperConverged\",\"metadata\":{\"name\":"
          "\"kubevirt-hyperconverged\",\"namespace\":\"openshift-cnv\"},\"spec\":{\"featureGates\":{"
          "\"enableMultiArchBootImageImport\":true},\"workloads\":{\"nodePlacement\":{\"nodeSelector\":{"
          "\"vm-pool\":\"a\"}}}},\"status\":{\"nodeInfo\":{\"defaultWorkloadArchitecture\":\"amd64\"}}}" },
        /* HCO v1: a gate list is kept whole; the v1 field and the deployment placement are kept */
        { KK_HCO_V1,
          "{\"metadata\":{\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"kubevirt-hyperconverged\"},"
          "\"spec\":{\"featureGates\":[{\"name\":\"downwardMetrics\",\"state\":\"Disabled\"}],\"workloadSources\":{"
          "\"enableMultiArchBootImageImport\":false,\"commonBootImageNamespace\":\"x\"},\"deployment\":{"
          "\"nodePlacements\":{\"workload\":{\"nodeSelector\":{\"a\":\"b\"}},\"infra\":{\"nodeSelector\":{}}}}}}",
          "{\"apiVersion\":\"hco.kubevirt.io/v1\",\"kind\":\"HyperConverged\",\"metadata\":{\"name\":"
          "\"kubevirt-hyperconverged\",\"namespace\":\"kubevirt-hyperconverged\"},\"spec\":{\"featureGates\":["
          "{\"name\":\"downwardMetrics\",\"state\":\"Disabled\"}],\"workloadSources\":{"
          "\"enableMultiArchBootImageImport\":false},\"deployment\":{\"nodePlacements\":{\"workload\":{"
          "\"nodeSelector\":{\"a\":\"b\"}}}}}}" },
        { KK_KUBEVIRT,
          "{\"metadata\":{\"name\":\"kubevirt\",\"namespace\":\"kubevirt\",\"finalizers\":[\"f\"]},\"spec\":{"
          "\"configuration\":{\"developerConfiguration\":{\"featureGates\":[\"CrossArchitectureVirtualization\"],"
          "\"logVerbosity\":{}},\"network\":{}},\"certificateRotateStrategy\":{}},\"status\":{\"phase\":"
          "\"Deployed\",\"defaultArchitecture\":\"amd64\",\"conditions\":[]}}",
          "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"KubeVirt\",\"metadata\":{\"name\":\"kubevirt\","
          "\"namespace\":\"kubevirt\"},\"spec\":{\"configuration\":{\"developerConfiguration\":{\"featureGates\":["
          "\"CrossArchitectureVirtualization\"]}}},\"status\":{\"defaultArchitecture\":\"amd64\"}}" },
        { KK_DATASOURCE,
          "{\"metadata\":{\"name\":\"fedora\",\"namespace\":\"kubevirt-os-images\",\"labels\":{"
          "\"cdi.kubevirt.io/dataImportCron\":\"fedora-image-cron\",\"instancetype.kubevirt.io/default-preference\":"
          "\"fedora\"}},\"spec\":{\"source\":{\"dataSource\":{\"name\":\"fedora-amd64\",\"namespace\":"
          "\"kubevirt-os-images\"}}},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
          "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataSource\",\"metadata\":{\"name\":\"fedora\","
          "\"namespace\":\"kubevirt-os-images\"},\"spec\":{\"source\":{\"dataSource\":{\"name\":\"fedora-amd64\","
          "\"namespace\":\"kubevirt-os-images\"}}}}" },
        { KK_DATASOURCE,
          "{\"metadata\":{\"name\":\"fedora-arm64\",\"namespace\":\"kubevirt-os-images\",\"labels\":{"
          "\"template.kubevirt.io/architecture\":\"arm64\",\"other\":\"x\"}},\"spec\":{\"source\":{\"snapshot\":{"
          "\"name\":\"fedora-8be4\",\"namespace\":\"kubevirt-os-images\"}}}}",
          "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataSource\",\"metadata\":{\"name\":"
          "\"fedora-arm64\",\"namespace\":\"kubevirt-os-images\",\"labels\":{"
          "\"template.kubevirt.io/architecture\":\"arm64\"}}}" },
        { KK_PVC,
          "{\"metadata\":{\"name\":\"rhel9-1a2b\",\"namespace\":\"os-images\",\"labels\":{\"app\":"
          "\"containerized-data-importer\"},\"annotations\":{\"cdi.kubevirt.io/storage.import.endpoint\":\"docker://x\","
          "\"cdi.kubevirt.io/storage.import.registryImageArchitecture\":\"arm64\"}},\"spec\":{\"accessModes\":["
          "\"ReadWriteOnce\"]},\"status\":{\"phase\":\"Bound\"}}",
          "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"rhel9-1a2b\","
          "\"namespace\":\"os-images\",\"annotations\":{"
          "\"cdi.kubevirt.io/storage.import.registryImageArchitecture\":\"arm64\"}}}" },
        { KK_PVC,
          "{\"metadata\":{\"name\":\"disk\",\"namespace\":\"vms\",\"labels\":{\"template.kubevirt.io/architecture\":"
          "\"amd64\"}},\"spec\":{}}",
          "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"disk\",\"namespace\":"
          "\"vms\",\"labels\":{\"template.kubevirt.io/architecture\":\"amd64\"}}}" },
        /* PVCs that say nothing about an image are not kept */
        { KK_PVC, "{\"metadata\":{\"name\":\"data\",\"namespace\":\"db\",\"labels\":{\"app\":\"pg\"}},\"spec\":{}}",
          NULL },
        { KK_PVC, "{\"metadata\":{\"name\":\"data\",\"namespace\":\"db\"}}", NULL },
        { KK_PVC, "{\"metadata\":{\"name\":\"data\",\"namespace\":\"db\",\"labels\":null,\"annotations\":{}}}", NULL },
        { KK_CLUSTER_PREFERENCE,
          "{\"metadata\":{\"name\":\"fedora.arm64\"},\"spec\":{\"requirements\":{\"architecture\":\"arm64\",\"cpu\":{"
          "\"guest\":1}},\"preferredArchitecture\":\"arm64\",\"devices\":{\"preferredDiskBus\":\"virtio\"}}}",
          "{\"apiVersion\":\"instancetype.kubevirt.io/v1beta1\",\"kind\":\"VirtualMachineClusterPreference\","
          "\"metadata\":{\"name\":\"fedora.arm64\"},\"spec\":{\"requirements\":{\"architecture\":\"arm64\"},"
          "\"preferredArchitecture\":\"arm64\"}}" },
        { KK_PREFERENCE,
          "{\"metadata\":{\"name\":\"mine\",\"namespace\":\"team-a\"},\"spec\":{\"cpu\":{\"preferredCPUTopology\":"
          "\"cores\"}}}",
          "{\"apiVersion\":\"instancetype.kubevirt.io/v1beta1\",\"kind\":\"VirtualMachinePreference\","
          "\"metadata\":{\"name\":\"mine\",\"namespace\":\"team-a\"}}" },
        /* a field of the wrong type is kept as it is, for the builder to refuse with its name */
        { KK_NODE, "{\"metadata\":{\"name\":\"odd\",\"labels\":[\"x\"]},\"spec\":{\"taints\":\"none\"},\"status\":7}",
          "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"odd\",\"labels\":[\"x\"]},\"spec\":{"
          "\"taints\":\"none\"},\"status\":7}" },
        { KK_PVC, "{\"metadata\":{\"name\":\"odd\",\"namespace\":\"a\",\"annotations\":\"x\"}}",
          "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"odd\",\"namespace\":"
          "\"a\",\"annotations\":\"x\"}}" },
        /* nulls read as absent */
        { KK_DATASOURCE, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"n\",\"labels\":null},\"spec\":null}",
          "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataSource\",\"metadata\":{\"name\":\"d\","
          "\"namespace\":\"n\"}}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_prune(cases[i].kind, cases[i].in, cases[i].want, i);
}

static void test_prune_refuses_unnamed(void)
{
    static const struct { unsigned kind; const char *in; } cases[] = {
        { KK_NODE, "{\"spec\":{}}" },
        { KK_NODE, "{\"metadata\":{}}" },
        { KK_NODE, "{\"metadata\":{\"name\":\"\"}}" },
        { KK_NODE, "{\"metadata\":{\"name\":5}}" },
        { KK_NODE, "{\"metadata\":\"node-1\"}" },
        { KK_NODE, "[1,2]" },
        { KK_NODE, "\"x\"" },
        { KK_DATASOURCE, "{\"metadata\":{\"name\":\"fedora\"}}" },
        { KK_DATASOURCE, "{\"metadata\":{\"name\":\"fedora\",\"namespace\":null}}" },
        { KK_PVC, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"\",\"labels\":{"
                  "\"template.kubevirt.io/architecture\":\"amd64\"}}}" },
        { KK_HCO_V1, "{\"metadata\":{\"namespace\":\"x\"}}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *in = tu_parse(cases[i].in), *out = (cJSON *)1;
        char err[256] = "";
        CU_ASSERT_PTR_NOT_NULL_FATAL(in);
        CASE_ASSERT(kube_prune(cases[i].kind, in, &out, err, sizeof err) == AG_EINVAL, i, cases[i].in);
        CASE_ASSERT(out == NULL, i, cases[i].in);
        CASE_ASSERT(strstr(err, cJSON_IsObject(in) ? "metadata" : "not a JSON object") != NULL, i, err);
        cJSON_Delete(in);
    }
    cJSON *in = tu_parse("{\"metadata\":{\"name\":\"n\"}}"), *out = NULL;
    CU_ASSERT_EQUAL(kube_prune(KK_COUNT, in, &out, NULL, 0), AG_EINVAL);
    cJSON_Delete(in);
}

static enum ag_result apply(struct kube_store *s, unsigned kind, enum kube_event ev, const char *json, bool *changed)
{
    cJSON *o = tu_parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    char err[256];
    enum ag_result r = kube_store_apply(s, kind, ev, o, changed, err, sizeof err);
    cJSON_Delete(o);
    return r;
}

static void test_heartbeat_changes_nothing(void)
{
    struct kube_store *s = kube_store_new();
    bool changed = false;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_ADDED, NODE_ITEM("w1", "amd64", "10", "2026-03-01T10:00:00Z", ""),
                          &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    /* the same object again */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED, NODE_ITEM("w1", "amd64", "10", "2026-03-01T10:00:00Z", ""),
                          &changed), AG_OK);
    CU_ASSERT_FALSE(changed);
    /* a heartbeat: new resourceVersion, heartbeat time, managedFields time */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED, NODE_ITEM("w1", "amd64", "11", "2026-03-01T10:00:40Z", ""),
                          &changed), AG_OK);
    CU_ASSERT_FALSE(changed);
    /* a condition flips and an annotation changes: still nothing the decision reads */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"w1\",\"resourceVersion\":\"12\",\"annotations\":{\"a\":\"b\"},"
                          "\"labels\":{\"beta.kubernetes.io/arch\":\"amd64\",\"kubernetes.io/arch\":\"amd64\","
                          "\"kubernetes.io/hostname\":\"w1\",\"kubernetes.io/os\":\"linux\","
                          "\"node-role.kubernetes.io/worker\":\"\"}},\"spec\":{\"podCIDR\":\"x\"},\"status\":{"
                          "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}],\"nodeInfo\":{"
                          "\"architecture\":\"amd64\",\"bootID\":\"b2\"}}}", &changed), AG_OK);
    CU_ASSERT_FALSE(changed);
    /* a label: changes */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED,
                          NODE_ITEM("w1", "amd64", "13", "2026-03-01T10:01:20Z", ",\"vm-pool\":\"a\""), &changed),
                    AG_OK);
    CU_ASSERT_TRUE(changed);
    cJSON *got = kube_store_get(s, KK_NODE, "/w1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    char *text = cJSON_PrintUnformatted(got);
    CU_ASSERT_TRUE(tu_json_equal(text, NODE_PRUNED("w1", "amd64", ",\"vm-pool\":\"a\"")));
    cJSON_free(text);
    cJSON_Delete(got);
    /* label order does not matter */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"w1\",\"labels\":{\"vm-pool\":\"a\","
                          "\"node-role.kubernetes.io/worker\":\"\",\"kubernetes.io/os\":\"linux\","
                          "\"kubernetes.io/hostname\":\"w1\",\"kubernetes.io/arch\":\"amd64\","
                          "\"beta.kubernetes.io/arch\":\"amd64\"}},\"status\":{\"nodeInfo\":{\"architecture\":"
                          "\"amd64\"}}}", &changed), AG_OK);
    CU_ASSERT_FALSE(changed);
    /* a label key written twice (Go's encoder never does this, a hand-made object might):
     * the same object again changes nothing; the same keys with the values swapped do */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"w1\",\"labels\":{\"vm-pool\":\"a\",\"vm-pool\":\"b\"}}}",
                          &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"w1\",\"labels\":{\"vm-pool\":\"a\",\"vm-pool\":\"b\"}}}",
                          &changed), AG_OK);
    CU_ASSERT_FALSE(changed);
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"w1\",\"labels\":{\"vm-pool\":\"b\",\"vm-pool\":\"a\"}}}",
                          &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    /* cordon: changes */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"w1\",\"labels\":{\"vm-pool\":\"a\"}},\"spec\":{"
                          "\"unschedulable\":true}}", &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    /* deleted, by a last state that differs: changes once */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_DELETED, "{\"metadata\":{\"name\":\"w1\",\"resourceVersion\":\"20\"}}",
                          &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    CU_ASSERT_EQUAL(kube_store_count(s, KK_NODE), 0);
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_DELETED, "{\"metadata\":{\"name\":\"w1\"}}", &changed), AG_OK);
    CU_ASSERT_FALSE(changed);
    /* a malformed event changes nothing and says why */
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_ADDED, "{\"metadata\":{\"labels\":{}}}", &changed), AG_EINVAL);
    CU_ASSERT_FALSE(changed);
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_DELETED, "{\"metadata\":{}}", &changed), AG_EINVAL);
    CU_ASSERT_FALSE(changed);
    CU_ASSERT_EQUAL(apply(s, KK_DATASOURCE, KUBE_DELETED, "{\"metadata\":{\"name\":\"x\"}}", &changed), AG_EINVAL);
    kube_store_free(s);
}

static void test_pvc_filter(void)
{
    struct kube_store *s = kube_store_new();
    bool changed = false;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(apply(s, KK_PVC, KUBE_ADDED, "{\"metadata\":{\"name\":\"db\",\"namespace\":\"a\"}}", &changed),
                    AG_OK);
    CU_ASSERT_FALSE(changed);
    CU_ASSERT_EQUAL(kube_store_count(s, KK_PVC), 0);
    CU_ASSERT_EQUAL(apply(s, KK_PVC, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"db\",\"namespace\":\"a\",\"labels\":{"
                          "\"template.kubevirt.io/architecture\":\"arm64\"}},\"status\":{\"phase\":\"Pending\"}}",
                          &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    CU_ASSERT_EQUAL(kube_store_count(s, KK_PVC), 1);
    /* status moves: nothing */
    CU_ASSERT_EQUAL(apply(s, KK_PVC, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"db\",\"namespace\":\"a\",\"labels\":{"
                          "\"template.kubevirt.io/architecture\":\"arm64\"}},\"status\":{\"phase\":\"Bound\"}}",
                          &changed), AG_OK);
    CU_ASSERT_FALSE(changed);
    /* a claim with the same name in another namespace is another entry */
    CU_ASSERT_EQUAL(apply(s, KK_PVC, KUBE_ADDED,
                          "{\"metadata\":{\"name\":\"db\",\"namespace\":\"b\",\"annotations\":{"
                          "\"cdi.kubevirt.io/storage.import.registryImageArchitecture\":\"amd64\"}}}", &changed),
                    AG_OK);
    CU_ASSERT_TRUE(changed);
    CU_ASSERT_EQUAL(kube_store_count(s, KK_PVC), 2);
    /* the label goes away: the entry goes away */
    CU_ASSERT_EQUAL(apply(s, KK_PVC, KUBE_MODIFIED,
                          "{\"metadata\":{\"name\":\"db\",\"namespace\":\"a\",\"labels\":{\"x\":\"y\"}}}", &changed),
                    AG_OK);
    CU_ASSERT_TRUE(changed);
    CU_ASSERT_EQUAL(kube_store_count(s, KK_PVC), 1);
    cJSON *left = kube_store_get(s, KK_PVC, "b/db");
    CU_ASSERT_PTR_NOT_NULL(left);
    cJSON_Delete(left);
    CU_ASSERT_PTR_NULL(kube_store_get(s, KK_PVC, "a/db"));
    kube_store_free(s);
}

/* A map of `n` nodes named n-0.. with label value `v` on node `which` (which < 0: none). */
static struct kube_map *node_map(int n, int which, const char *v, bool reverse)
{
    struct kube_map *m = kube_map_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    for (int k = 0; k < n; k++) {
        int i = reverse ? n - 1 - k : k;
        char j[512];
        snprintf(j, sizeof j,
                 "{\"metadata\":{\"name\":\"n-%d\",\"resourceVersion\":\"%d\",\"labels\":{\"kubernetes.io/arch\":"
                 "\"amd64\"%s%s%s}},\"status\":{\"nodeInfo\":{\"architecture\":\"amd64\"}}}",
                 i, reverse ? 900 + i : i, i == which ? ",\"pool\":\"" : "", i == which ? v : "",
                 i == which ? "\"" : "");
        cJSON *o = tu_parse(j);
        CU_ASSERT_EQUAL(kube_map_add(m, KK_NODE, o, NULL, 0), AG_OK);
        cJSON_Delete(o);
    }
    return m;
}

static void test_replace_detects_changes(void)
{
    struct kube_store *s = kube_store_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(kube_store_replace(s, KK_NODE, node_map(200, 5, "a", false)));
    CU_ASSERT_EQUAL(kube_store_count(s, KK_NODE), 200);
    /* the same objects, listed in another order with other resourceVersions */
    CU_ASSERT_FALSE(kube_store_replace(s, KK_NODE, node_map(200, 5, "a", true)));
    /* one label differs */
    CU_ASSERT_TRUE(kube_store_replace(s, KK_NODE, node_map(200, 5, "b", false)));
    /* one label moved to another node */
    CU_ASSERT_TRUE(kube_store_replace(s, KK_NODE, node_map(200, 6, "b", false)));
    /* one node fewer, one more */
    CU_ASSERT_TRUE(kube_store_replace(s, KK_NODE, node_map(199, 6, "b", false)));
    CU_ASSERT_TRUE(kube_store_replace(s, KK_NODE, node_map(200, 6, "b", false)));
    CU_ASSERT_FALSE(kube_store_replace(s, KK_NODE, node_map(200, 6, "b", false)));
    /* empty, twice */
    struct kube_map *e = kube_map_new();
    CU_ASSERT_TRUE(kube_store_replace(s, KK_NODE, e));
    e = kube_map_new();
    CU_ASSERT_FALSE(kube_store_replace(s, KK_NODE, e));
    CU_ASSERT_EQUAL(kube_store_count(s, KK_NODE), 0);
    /* the other kinds were untouched */
    CU_ASSERT_EQUAL(kube_store_count(s, KK_DATASOURCE), 0);
    kube_store_free(s);

    /* the map keeps the later of two objects with one key */
    struct kube_map *m = node_map(3, -1, "", false);
    cJSON *o = tu_parse("{\"metadata\":{\"name\":\"n-1\",\"labels\":{\"x\":\"y\"}},\"spec\":{\"unschedulable\":true}}");
    CU_ASSERT_EQUAL(kube_map_add(m, KK_NODE, o, NULL, 0), AG_OK);
    cJSON_Delete(o);
    CU_ASSERT_EQUAL(kube_map_count(m), 3);
    const cJSON *got = kube_map_get(m, "/n-1");
    CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(got, "spec"),
                                                                 "unschedulable")));
    /* well-formed labels are kept apart, as a shared label map; the store's copy has them back */
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(got, "metadata"), "labels"));
    CU_ASSERT_PTR_NULL(kube_map_get(m, "n-1"));
    s = kube_store_new();
    CU_ASSERT_TRUE(kube_store_replace(s, KK_NODE, m));
    cJSON *copy = kube_store_get(s, KK_NODE, "/n-1");
    char *meta = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(copy, "metadata"));
    CU_ASSERT_TRUE(meta && tu_json_equal(meta, "{\"name\":\"n-1\",\"labels\":{\"x\":\"y\"}}"));
    cJSON_free(meta);
    cJSON_Delete(copy);
    kube_store_free(s);
}

static void add_json(struct kube_store *s, unsigned kind, const char *json)
{
    bool changed;
    CU_ASSERT_EQUAL(apply(s, kind, KUBE_ADDED, json, &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
}

static void test_build_skips_malformed(void)
{
    struct kube_store *s = kube_store_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    add_json(s, KK_NODE, NODE_ITEM("w1", "amd64", "1", "t", ""));
    add_json(s, KK_NODE, NODE_ITEM("w2", "arm64", "2", "t", ""));
    add_json(s, KK_NODE, "{\"metadata\":{\"name\":\"bad\"},\"spec\":{\"taints\":\"none\"}}");
    add_json(s, KK_NODE, "{\"metadata\":{\"name\":\"bad2\",\"labels\":{\"a\":5}}}");
    add_json(s, KK_DATASOURCE, "{\"metadata\":{\"name\":\"fedora-arm64\",\"namespace\":\"os\",\"labels\":{"
                               "\"template.kubevirt.io/architecture\":\"arm64\"}}}");
    add_json(s, KK_DATASOURCE, "{\"metadata\":{\"name\":\"broken\",\"namespace\":\"os\"},\"spec\":{\"source\":{"
                               "\"dataSource\":{\"namespace\":\"os\"}}}}");
    unsigned long long before = metrics_kube_value(KK_NODE, KC_REFUSED);
    size_t refused = 99;
    char err[256] = "";
    struct snapshot *snap = kube_store_build(s, &refused, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    CU_ASSERT_EQUAL(refused, 3);
    CU_ASSERT_EQUAL(snap->nnodes, 2);
    CU_ASSERT_STRING_EQUAL(snap->nodes[0].name, "w1");
    CU_ASSERT_STRING_EQUAL(snap->nodes[1].name, "w2");
    CU_ASSERT_EQUAL(snap->ndatasources, 1);
    CU_ASSERT_PTR_NOT_NULL(snapshot_find_datasource(snap, "os", "fedora-arm64"));
    CU_ASSERT_TRUE(snap->heterogeneous);
    snapshot_release(snap);
    CU_ASSERT_EQUAL(metrics_kube_value(KK_NODE, KC_REFUSED), before + 2);
    /* built again: still skipped, counted once per object version */
    snap = kube_store_build(s, &refused, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    CU_ASSERT_EQUAL(refused, 3);
    snapshot_release(snap);
    CU_ASSERT_EQUAL(metrics_kube_value(KK_NODE, KC_REFUSED), before + 2);
    /* the malformed node is fixed: it comes in */
    bool changed;
    CU_ASSERT_EQUAL(apply(s, KK_NODE, KUBE_MODIFIED, "{\"metadata\":{\"name\":\"bad\"},\"spec\":{\"taints\":[]}}",
                          &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    snap = kube_store_build(s, &refused, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    CU_ASSERT_EQUAL(refused, 2);
    CU_ASSERT_EQUAL(snap->nnodes, 3);
    snapshot_release(snap);
    kube_store_free(s);
}

static void test_build_hco_versions_and_catalog(void)
{
    struct kube_store *s = kube_store_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    add_json(s, KK_NODE, NODE_ITEM("w1", "amd64", "1", "t", ""));
    /* the same HyperConverged at both versions, as a cluster serving both shows it */
    add_json(s, KK_HCO_V1BETA1, "{\"metadata\":{\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"cnv\"},"
                                "\"spec\":{\"featureGates\":{\"enableMultiArchBootImageImport\":false}}}");
    add_json(s, KK_HCO_V1, "{\"metadata\":{\"name\":\"kubevirt-hyperconverged\",\"namespace\":\"cnv\"},"
                           "\"spec\":{\"workloadSources\":{\"enableMultiArchBootImageImport\":true}}}");
    add_json(s, KK_KUBEVIRT, "{\"metadata\":{\"name\":\"kubevirt\",\"namespace\":\"kubevirt\"},\"status\":{"
                             "\"defaultArchitecture\":\"arm64\"}}");
    add_json(s, KK_CLUSTER_PREFERENCE, "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"preferredArchitecture\":\"arm64\"}}");
    add_json(s, KK_PREFERENCE, "{\"metadata\":{\"name\":\"p\",\"namespace\":\"t\"},\"spec\":{\"requirements\":{"
                               "\"architecture\":\"amd64\"}}}");
    add_json(s, KK_PVC, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"t\",\"labels\":{"
                        "\"template.kubevirt.io/architecture\":\"s390x\"}}}");
    char err[256] = "";
    CU_ASSERT_EQUAL(kube_store_set_catalog(s, tu_parse("{\"images\":{\"quay.io/containerdisks/\":[\"amd64\"]}}"),
                                           err, sizeof err), AG_OK);
    /* a catalog the builder refuses is refused whole; the previous one stays */
    CU_ASSERT_EQUAL(kube_store_set_catalog(s, tu_parse("{\"images\":{\"x\":[\"sparc\"]}}"), err, sizeof err),
                    AG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sparc"));
    CU_ASSERT_EQUAL(kube_store_set_catalog(s, tu_parse("[]"), err, sizeof err), AG_EINVAL);
    size_t refused = 1;
    struct snapshot *snap = kube_store_build(s, &refused, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    CU_ASSERT_EQUAL(refused, 0);
    CU_ASSERT_TRUE(snap->has_hco);
    CU_ASSERT_EQUAL(snap->hco_multiarch, HCO_MULTIARCH_ON);    /* the v1 copy */
    CU_ASSERT_TRUE(snap->has_kubevirt);
    CU_ASSERT_EQUAL(snap->default_arch, arch_parse("arm64"));
    CU_ASSERT_EQUAL(snap->npreferences, 2);
    CU_ASSERT_PTR_NOT_NULL(snapshot_find_preference(snap, NULL, "p"));
    CU_ASSERT_PTR_NOT_NULL(snapshot_find_preference(snap, "t", "p"));
    CU_ASSERT_EQUAL(snap->npvcs, 1);
    CU_ASSERT_EQUAL(snap->ncatalog, 1);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(snap, "quay.io/containerdisks/fedora:41"), arch_bit(arch_parse("amd64")));
    snapshot_release(snap);
    /* without the v1 copy, the v1beta1 one is used */
    bool changed;
    CU_ASSERT_EQUAL(apply(s, KK_HCO_V1, KUBE_DELETED, "{\"metadata\":{\"name\":\"kubevirt-hyperconverged\","
                                                      "\"namespace\":\"cnv\"}}", &changed), AG_OK);
    CU_ASSERT_TRUE(changed);
    CU_ASSERT_EQUAL(kube_store_set_catalog(s, NULL, err, sizeof err), AG_OK);
    snap = kube_store_build(s, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    CU_ASSERT_TRUE(snap->has_hco);
    CU_ASSERT_EQUAL(snap->hco_multiarch, HCO_MULTIARCH_OFF);
    CU_ASSERT_EQUAL(snap->ncatalog, 0);
    snapshot_release(snap);
    kube_store_free(s);
}

static void test_limits(void)
{
    /* a node whose labels alone are over the object limit */
    size_t cap = 2u * 1024 * 1024, n = 0;
    char *j = mem_malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    n += (size_t)snprintf(j, cap, "{\"metadata\":{\"name\":\"huge\",\"labels\":{");
    for (int i = 0; n < cap - 200 && i < 30000; i++)
        n += (size_t)snprintf(j + n, cap - n, "%s\"example.com/label-%06d\":\"%048d\"", i ? "," : "", i, i);
    snprintf(j + n, cap - n, "}}}");
    cJSON *o = tu_parse(j), *out = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    char err[256] = "";
    CU_ASSERT_EQUAL(kube_prune(KK_NODE, o, &out, err, sizeof err), AG_ETOOBIG);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "huge"));
    /* the store refuses it and keeps what it had */
    struct kube_store *s = kube_store_new();
    bool changed = true;
    CU_ASSERT_EQUAL(kube_store_apply(s, KK_NODE, KUBE_ADDED, o, &changed, err, sizeof err), AG_ETOOBIG);
    CU_ASSERT_FALSE(changed);
    CU_ASSERT_EQUAL(kube_store_count(s, KK_NODE), 0);
    kube_store_free(s);
    cJSON_Delete(o);
    mem_free(j);
    /* NULL-safe */
    kube_store_free(NULL);
    kube_map_free(NULL);
    CU_ASSERT_EQUAL(kube_map_count(NULL), 0);
    CU_ASSERT_PTR_NULL(kube_store_build(NULL, NULL, NULL, 0));
}

static void test_allocation_failures(void)
{
    const char *node = NODE_ITEM("w1", "amd64", "1", "t", ",\"a\":\"b\"");
    const char *ds = "{\"metadata\":{\"name\":\"f\",\"namespace\":\"n\",\"labels\":{"
                     "\"template.kubevirt.io/architecture\":\"arm64\"}},\"spec\":{\"source\":{\"dataSource\":{"
                     "\"name\":\"g\"}}}}";
    cJSON *jn = tu_parse(node), *jd = tu_parse(ds), *cat = tu_parse("{\"images\":{\"a/\":[\"amd64\"]}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(jn);
    CU_ASSERT_PTR_NOT_NULL_FATAL(jd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cat);
    long live = mem_live();
    bool all_ok = false;
    for (long n = 0; n < 2000 && !all_ok; n++) {
        bool changed;
        char err[256];
        mem_fail_after(n);
        struct kube_store *s = kube_store_new();
        struct kube_map *m = kube_map_new();
        enum ag_result r1 = AG_ENOMEM, r2 = AG_ENOMEM, r3 = AG_ENOMEM, r4 = AG_ENOMEM;
        struct snapshot *snap = NULL;
        if (s && m) {
            r1 = kube_store_apply(s, KK_NODE, KUBE_ADDED, jn, &changed, err, sizeof err);
            r2 = kube_map_add(m, KK_DATASOURCE, jd, err, sizeof err);
            kube_store_replace(s, KK_DATASOURCE, m);
            m = NULL;
            cJSON *c = cJSON_Duplicate(cat, true);
            r3 = c ? kube_store_set_catalog(s, c, err, sizeof err) : AG_ENOMEM;
            snap = kube_store_build(s, NULL, err, sizeof err);
            r4 = snap ? AG_OK : AG_ENOMEM;
        }
        mem_fail_after(-1);
        CU_ASSERT(r1 == AG_OK || r1 == AG_ENOMEM);
        CU_ASSERT(r2 == AG_OK || r2 == AG_ENOMEM);
        CU_ASSERT(r3 == AG_OK || r3 == AG_ENOMEM);
        all_ok = r1 == AG_OK && r2 == AG_OK && r3 == AG_OK && r4 == AG_OK;
        if (all_ok) {
            CU_ASSERT_EQUAL(snap->nnodes, 1);
            CU_ASSERT_EQUAL(snap->ndatasources, 1);
            CU_ASSERT_EQUAL(snap->ncatalog, 1);
        }
        snapshot_release(snap);
        kube_map_free(m);
        kube_store_free(s);
        CU_ASSERT_EQUAL(mem_live(), live);
    }
    CU_ASSERT_TRUE(all_ok);
    cJSON_Delete(jn);
    cJSON_Delete(jd);
    cJSON_Delete(cat);
}

UNIT_SUITE("kube_store", suite_init, suite_cleanup,
           { "the kinds table is consistent", test_kinds_table },
           { "pruning keeps exactly what the builder reads, per kind", test_prune_per_kind },
           { "objects without a usable name or namespace are refused", test_prune_refuses_unnamed },
           { "heartbeats change nothing; labels, cordon, delete do", test_heartbeat_changes_nothing },
           { "PVCs are kept only with the architecture label or annotation", test_pvc_filter },
           { "replace after a list detects any difference, and only then", test_replace_detects_changes },
           { "build skips malformed objects, counted once per version", test_build_skips_malformed },
           { "build: HyperConverged at two versions, KubeVirt, preferences, catalog",
             test_build_hco_versions_and_catalog },
           { "object size limit", test_limits },
           { "allocation failures: no crash, nothing leaked", test_allocation_failures })
