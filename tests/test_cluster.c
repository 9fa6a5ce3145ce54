/* test_cluster.c - the cluster snapshot: every derived field from real-shaped objects, look-ups,
 * the image catalog, malformed input, allocation failure, reference counting and publishing. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "unit.h"
#include "testutil.h"
#include "cluster.h"
#include "eligible.h"
#include "log.h"
#include "mem.h"

/* ---- fixtures ------------------------------------------------------------------------------ */

/* A Node as `kubectl get node -o json` prints it (trimmed of addresses and capacity). `labels`
 * is a JSON object text, `spec` the spec object text, `status_arch` NULL for none. */
static char *node_json(const char *name, const char *labels, const char *spec, const char *status_arch)
{
    static char bufs[16][4096];
    static unsigned next;
    char *buf = bufs[next++ % 16];
    char info[256] = "";
    if (status_arch)
        snprintf(info, sizeof info, "\"architecture\": \"%s\", ", status_arch);
    snprintf(buf, sizeof bufs[0],
             "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {"
             "\"annotations\": {\"node.alpha.kubernetes.io/ttl\": \"0\"}, "
             "\"creationTimestamp\": \"2026-02-09T13:05:47Z\", \"labels\": %s, \"name\": \"%s\", "
             "\"resourceVersion\": \"1489379\", \"uid\": \"4542b2a3-ed67-5d92-bc92-44b6e6bb8771\"}, "
             "\"spec\": %s, "
             "\"status\": {\"conditions\": [{\"lastHeartbeatTime\": \"2026-06-22T16:40:05Z\", "
             "\"lastTransitionTime\": \"2026-02-09T13:05:47Z\", \"message\": \"kubelet is posting ready status\", "
             "\"reason\": \"KubeletReady\", \"status\": \"True\", \"type\": \"Ready\"}], "
             "\"nodeInfo\": {%s\"kubeletVersion\": \"v1.31.7\", \"operatingSystem\": \"linux\"}}}",
             labels, name, spec, info);
    return buf;
}

#define WORKER_AMD64 "{\"kubernetes.io/arch\": \"amd64\", \"kubernetes.io/os\": \"linux\", " \
                     "\"node-role.kubernetes.io/worker\": \"\", \"kubevirt.io/schedulable\": \"true\"}"
#define WORKER_ARM64 "{\"kubernetes.io/arch\": \"arm64\", \"kubernetes.io/os\": \"linux\", " \
                     "\"node-role.kubernetes.io/worker\": \"\", \"kubevirt.io/schedulable\": \"true\"}"
#define CTRL_AMD64   "{\"kubernetes.io/arch\": \"amd64\", \"node-role.kubernetes.io/control-plane\": \"\", " \
                     "\"node-role.kubernetes.io/master\": \"\"}"
#define CP_TAINT     "{\"taints\": [{\"effect\": \"NoSchedule\", \"key\": \"node-role.kubernetes.io/master\"}]}"

static char text[65536];

/* "[a, b, ...]" of up to 8 object texts (NULL-terminated) into `text`. */
static const char *join(const char *first, ...)
{
    va_list ap;
    size_t used = 0;
    text[used++] = '[';
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        int w = snprintf(text + used, sizeof text - used, "%s%s", used > 1 ? ", " : "", s);
        if (w < 0 || (size_t)w >= sizeof text - used)
            break;
        used += (size_t)w;
    }
    va_end(ap);
    snprintf(text + used, sizeof text - used, "]");
    return text;
}

static char hco_buf[8192];
/* A HyperConverged of `api` ("v1beta1"/"v1") with the given spec members and status.nodeInfo members. */
static const char *hco_json(const char *api, const char *spec_members, const char *nodeinfo_members)
{
    snprintf(hco_buf, sizeof hco_buf,
             "{\"apiVersion\": \"hco.kubevirt.io/%s\", \"kind\": \"HyperConverged\", \"metadata\": {"
             "\"creationTimestamp\": \"2026-02-09T13:05:47Z\", \"finalizers\": [\"kubevirt.io/hyperconverged\"], "
             "\"generation\": 7, \"labels\": {\"app\": \"kubevirt-hyperconverged\"}, "
             "\"name\": \"kubevirt-hyperconverged\", \"namespace\": \"openshift-cnv\", \"resourceVersion\": \"1487721\", "
             "\"uid\": \"b6014fda-7b3d-5b26-9785-7425971ee37a\"}, "
             "\"spec\": {\"certConfig\": {\"ca\": {\"duration\": \"48h0m0s\", \"renewBefore\": \"24h0m0s\"}}, "
             "\"uninstallStrategy\": \"BlockUninstallIfWorkloadsExist\"%s%s}, "
             "\"status\": {\"conditions\": [], \"nodeInfo\": {\"controlPlaneArchitectures\": [\"amd64\"]%s%s}}}",
             api, *spec_members ? ", " : "", spec_members, *nodeinfo_members ? ", " : "", nodeinfo_members);
    return hco_buf;
}

static char kv_buf[4096];
static const char *kubevirt_json(const char *gates, const char *default_arch)
{
    char def[128] = "";
    if (default_arch)
        snprintf(def, sizeof def, ", \"defaultArchitecture\": \"%s\"", default_arch);
    snprintf(kv_buf, sizeof kv_buf,
             "{\"apiVersion\": \"kubevirt.io/v1\", \"kind\": \"KubeVirt\", \"metadata\": {"
             "\"creationTimestamp\": \"2026-02-09T13:05:47Z\", \"generation\": 5, "
             "\"name\": \"kubevirt-kubevirt-hyperconverged\", \"namespace\": \"openshift-cnv\", "
             "\"uid\": \"20af9519-6a77-57d7-89fc-9531a7032984\"}, "
             "\"spec\": {\"configuration\": {\"developerConfiguration\": {\"featureGates\": %s}, "
             "\"network\": {\"defaultNetworkInterface\": \"masquerade\"}}, \"workloads\": {}}, "
             "\"status\": {\"phase\": \"Deployed\", \"observedKubeVirtVersion\": \"v1.6.0\"%s}}",
             gates, def);
    return kv_buf;
}

/* Build from text; on refusal return NULL and leave the message in `err`. */
static enum ag_result build(const char *json, struct snapshot **out, char *err, size_t errlen)
{
    cJSON *j = tu_parse(json);
    *out = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    struct cluster_builder *b = cluster_builder_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    enum ag_result r = AG_OK;
    if (cJSON_IsArray(j)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, j) {
            if ((r = cluster_builder_add(b, it, err, errlen)) != AG_OK)
                break;
        }
    } else {
        r = cluster_builder_add(b, j, err, errlen);
    }
    cJSON_Delete(j);
    if (r != AG_OK) {
        cluster_builder_free(b);
        return r;
    }
    *out = cluster_builder_finish(b);
    return *out ? AG_OK : AG_ENOMEM;
}

static struct snapshot *must_build(const char *json)
{
    char err[512] = "";
    struct snapshot *s = NULL;
    enum ag_result r = build(json, &s, err, sizeof err);
    if (r != AG_OK)
        fprintf(stderr, "build failed: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(r, AG_OK);
    return s;
}

static const struct node *find_node(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (strcmp(s->nodes[i].name, name) == 0)
            return &s->nodes[i];
    return NULL;
}

static enum log_level saved_level;
static int suite_init(void)
{
    saved_level = log_min_level;
    log_min_level = LOG_ERROR;      /* the arch-mismatch warnings are expected here */
    return 0;
}
static int suite_cleanup(void)
{
    log_min_level = saved_level;
    return 0;
}

/* ---- nodes -------------------------------------------------------------------------------- */

static void test_node_arch(void)
{
    struct snapshot *s = must_build(join(
        node_json("n-label-only", "{\"kubernetes.io/arch\": \"arm64\"}", "{}", NULL),
        node_json("n-status-only", "{}", "{}", "amd64"),
        node_json("n-both-agree", "{\"kubernetes.io/arch\": \"s390x\"}", "{}", "s390x"),
        node_json("n-both-differ", "{\"kubernetes.io/arch\": \"arm64\"}", "{}", "amd64"),
        node_json("n-bad-label", "{\"kubernetes.io/arch\": \"sparc\"}", "{}", "x86_64"),
        node_json("n-none", "{}", "{}", NULL), NULL));
    CU_ASSERT_EQUAL(s->nnodes, 6);
    CU_ASSERT_EQUAL(find_node(s, "n-label-only")->arch, ARCH_ARM64);
    CU_ASSERT_EQUAL(find_node(s, "n-status-only")->arch, ARCH_AMD64);
    CU_ASSERT_EQUAL(find_node(s, "n-both-agree")->arch, ARCH_S390X);
    CU_ASSERT_EQUAL(find_node(s, "n-both-differ")->arch, ARCH_ARM64);   /* the label wins */
    CU_ASSERT_EQUAL(find_node(s, "n-bad-label")->arch, ARCH_AMD64);     /* unparseable label: status */
    CU_ASSERT_EQUAL(find_node(s, "n-none")->arch, ARCH_NONE);
    /* sorted by name */
    for (size_t i = 1; i < s->nnodes; i++)
        CU_ASSERT(strcmp(s->nodes[i - 1].name, s->nodes[i].name) < 0);
    snapshot_release(s);
}

static void test_node_cordon_and_roles(void)
{
    struct snapshot *s = must_build(join(
        node_json("cordoned-spec", WORKER_AMD64, "{\"unschedulable\": true}", "amd64"),
        node_json("cordoned-taint", WORKER_AMD64,
                  "{\"taints\": [{\"effect\": \"NoSchedule\", \"key\": \"node.kubernetes.io/unschedulable\", "
                  "\"timeAdded\": \"2026-06-22T16:41:12Z\"}]}", "amd64"),
        node_json("free", WORKER_AMD64, "{\"unschedulable\": false, \"taints\": [{\"effect\": \"NoSchedule\", "
                  "\"key\": \"dedicated\", \"value\": \"gpu\"}]}", "amd64"),
        node_json("ctrl", CTRL_AMD64, CP_TAINT, "amd64"),
        node_json("master-only", "{\"node-role.kubernetes.io/master\": \"\"}", "{}", "amd64"), NULL));
    CU_ASSERT_TRUE(find_node(s, "cordoned-spec")->unschedulable);
    CU_ASSERT_TRUE(find_node(s, "cordoned-taint")->unschedulable);
    const struct node *f = find_node(s, "free");
    CU_ASSERT_FALSE(f->unschedulable);
    CU_ASSERT_EQUAL(f->ntaints, 1);
    CU_ASSERT_STRING_EQUAL(f->taints[0].key, "dedicated");
    CU_ASSERT_STRING_EQUAL(f->taints[0].value, "gpu");
    CU_ASSERT_EQUAL(f->taints[0].effect, EFFECT_NO_SCHEDULE);
    CU_ASSERT_FALSE(f->control_plane);
    CU_ASSERT_TRUE(find_node(s, "ctrl")->control_plane);
    CU_ASSERT_TRUE(find_node(s, "master-only")->control_plane);
    CU_ASSERT_STRING_EQUAL(labels_get(&f->labels, "kubernetes.io/os"), "linux");
    snapshot_release(s);
}

static void test_workload_worker_rule(void)
{
    /* some nodes carry the worker role: only those are workload nodes */
    struct snapshot *s = must_build(join(
        node_json("ctrl-1", CTRL_AMD64, CP_TAINT, "amd64"),
        node_json("w-1", WORKER_AMD64, "{}", "amd64"),
        node_json("w-2", WORKER_ARM64, "{}", "arm64"), NULL));
    CU_ASSERT_FALSE(s->has_hco);
    CU_ASSERT_EQUAL(s->hco_multiarch, HCO_MULTIARCH_ABSENT);
    CU_ASSERT_FALSE(find_node(s, "ctrl-1")->workload);
    CU_ASSERT_TRUE(find_node(s, "w-1")->workload);
    CU_ASSERT_TRUE(find_node(s, "w-2")->workload);
    CU_ASSERT_EQUAL(s->workload_archs, arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64));
    CU_ASSERT_TRUE(s->heterogeneous);
    snapshot_release(s);

    /* no worker role anywhere: every node */
    s = must_build(join(node_json("a", "{\"kubernetes.io/arch\": \"amd64\"}", "{}", "amd64"),
                        node_json("b", CTRL_AMD64, "{}", "amd64"), NULL));
    CU_ASSERT_TRUE(find_node(s, "a")->workload);
    CU_ASSERT_TRUE(find_node(s, "b")->workload);
    CU_ASSERT_EQUAL(s->workload_archs, arch_bit(ARCH_AMD64));
    CU_ASSERT_FALSE(s->heterogeneous);
    snapshot_release(s);
}

#define POOL_LABELS(arch, pool) "{\"kubernetes.io/arch\": \"" arch "\", \"node-role.kubernetes.io/worker\": \"\", " \
                                "\"vms.example.org/pool\": \"" pool "\"}"

static void test_workload_placement(void)
{
    const char *nodes3[3] = { NULL, NULL, NULL };
    /* v1beta1 spec.workloads.nodePlacement.nodeSelector */
    nodes3[0] = node_json("x1", POOL_LABELS("amd64", "general"), "{}", "amd64");
    nodes3[1] = node_json("a1", POOL_LABELS("arm64", "batch"), "{}", "arm64");
    nodes3[2] = node_json("ctrl", CTRL_AMD64, CP_TAINT, "amd64");
    struct snapshot *s = must_build(join(nodes3[0], nodes3[1], nodes3[2],
        hco_json("v1beta1", "\"workloads\": {\"nodePlacement\": {\"nodeSelector\": {\"vms.example.org/pool\": \"general\"}}}", ""),
        NULL));
    CU_ASSERT_TRUE(s->has_hco);
    CU_ASSERT_TRUE(s->has_workload_placement);
    CU_ASSERT_TRUE(find_node(s, "x1")->workload);
    CU_ASSERT_FALSE(find_node(s, "a1")->workload);
    CU_ASSERT_FALSE(find_node(s, "ctrl")->workload);
    CU_ASSERT_EQUAL(s->workload_archs, arch_bit(ARCH_AMD64));
    CU_ASSERT_FALSE(s->heterogeneous);
    snapshot_release(s);

    /* v1 spec.deployment.nodePlacements.workload with required affinity; it wins over v1beta1's */
    s = must_build(join(nodes3[0], nodes3[1], nodes3[2],
        hco_json("v1", "\"deployment\": {\"nodePlacements\": {\"infra\": {}, \"workload\": {\"affinity\": {\"nodeAffinity\": "
                 "{\"requiredDuringSchedulingIgnoredDuringExecution\": {\"nodeSelectorTerms\": [{\"matchExpressions\": "
                 "[{\"key\": \"vms.example.org/pool\", \"operator\": \"In\", \"values\": [\"batch\"]}]}]}}}}}}, "
                 "\"workloads\": {\"nodePlacement\": {\"nodeSelector\": {\"vms.example.org/pool\": \"general\"}}}", ""),
        NULL));
    CU_ASSERT_TRUE(s->has_workload_placement);
    CU_ASSERT_TRUE(s->workload_placement.has_affinity);
    CU_ASSERT_FALSE(find_node(s, "x1")->workload);
    CU_ASSERT_TRUE(find_node(s, "a1")->workload);
    CU_ASSERT_EQUAL(s->workload_archs, arch_bit(ARCH_ARM64));
    snapshot_release(s);

    /* a placement with only tolerations does not count: the worker rule applies */
    s = must_build(join(nodes3[0], nodes3[1], nodes3[2],
        hco_json("v1beta1", "\"workloads\": {\"nodePlacement\": {\"tolerations\": [{\"key\": \"dedicated\", "
                 "\"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]}}", ""), NULL));
    CU_ASSERT_FALSE(s->has_workload_placement);
    CU_ASSERT_TRUE(find_node(s, "x1")->workload);
    CU_ASSERT_TRUE(find_node(s, "a1")->workload);
    CU_ASSERT_FALSE(find_node(s, "ctrl")->workload);
    CU_ASSERT_TRUE(s->heterogeneous);
    snapshot_release(s);

    /* an empty v1 workload placement, likewise */
    s = must_build(join(nodes3[0], nodes3[1],
        hco_json("v1", "\"deployment\": {\"nodePlacements\": {\"workload\": {\"nodeSelector\": {}}}}", ""), NULL));
    CU_ASSERT_FALSE(s->has_workload_placement);
    CU_ASSERT_TRUE(find_node(s, "a1")->workload);
    snapshot_release(s);
}

static void test_kubevirt_labels(void)
{
    struct snapshot *s = must_build(join(
        node_json("a", "{\"kubernetes.io/arch\": \"amd64\"}", "{}", "amd64"),
        node_json("b", "{\"kubernetes.io/arch\": \"amd64\"}", "{}", "amd64"), NULL));
    CU_ASSERT_FALSE(s->kubevirt_labels_nodes);
    CU_ASSERT_FALSE(find_node(s, "a")->kubevirt_ok);
    /* without KubeVirt labels nobody is held back for it */
    CU_ASSERT_EQUAL(s->base.n[NR_ELIGIBLE][ARCH_AMD64], 2);
    snapshot_release(s);

    s = must_build(join(
        node_json("yes", "{\"kubernetes.io/arch\": \"amd64\", \"kubevirt.io/schedulable\": \"true\"}", "{}", "amd64"),
        node_json("no", "{\"kubernetes.io/arch\": \"amd64\", \"kubevirt.io/schedulable\": \"false\"}", "{}", "amd64"),
        node_json("unlabelled", "{\"kubernetes.io/arch\": \"arm64\"}", "{}", "arm64"), NULL));
    CU_ASSERT_TRUE(s->kubevirt_labels_nodes);
    CU_ASSERT_TRUE(find_node(s, "yes")->kubevirt_ok);
    CU_ASSERT_FALSE(find_node(s, "no")->kubevirt_ok);
    CU_ASSERT_FALSE(find_node(s, "unlabelled")->kubevirt_ok);
    CU_ASSERT_EQUAL(s->base.n[NR_ELIGIBLE][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(s->base.n[NR_NOT_KUBEVIRT][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(s->base.n[NR_NOT_KUBEVIRT][ARCH_ARM64], 1);
    snapshot_release(s);
}

/* ---- HyperConverged and KubeVirt --------------------------------------------------------- */

static enum hco_multiarch multiarch_of(const char *hco)
{
    struct snapshot *s = must_build(join(hco, NULL));
    enum hco_multiarch m = s->hco_multiarch;
    CU_ASSERT_TRUE(s->has_hco);
    snapshot_release(s);
    return m;
}

static void test_hco_multiarch(void)
{
    /* v1beta1 feature-gate object */
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1beta1", "\"featureGates\": {\"alignCPUs\": false, "
                                          "\"enableMultiArchBootImageImport\": true}", "")), HCO_MULTIARCH_ON);
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1beta1", "\"featureGates\": {\"enableMultiArchBootImageImport\": false}", "")),
                    HCO_MULTIARCH_OFF);
    /* nothing set */
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1beta1", "\"featureGates\": {\"downwardMetrics\": false}", "")),
                    HCO_MULTIARCH_OFF);
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "", "")), HCO_MULTIARCH_OFF);
    /* v1 (HCO 1.18) list: Enabled, Disabled, no state = Enabled */
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "\"featureGates\": [{\"name\": \"downwardMetrics\", \"state\": \"Enabled\"}, "
                                          "{\"name\": \"enableMultiArchBootImageImport\", \"state\": \"Enabled\"}]", "")),
                    HCO_MULTIARCH_ON);
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "\"featureGates\": [{\"name\": \"enableMultiArchBootImageImport\", "
                                          "\"state\": \"Disabled\"}]", "")), HCO_MULTIARCH_OFF);
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "\"featureGates\": [{\"name\": \"enableMultiArchBootImageImport\"}]", "")),
                    HCO_MULTIARCH_ON);
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "\"featureGates\": [{\"name\": \"downwardMetrics\"}]", "")),
                    HCO_MULTIARCH_OFF);
    /* v1 workloadSources wins over a contradicting gate, both ways */
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "\"featureGates\": [{\"name\": \"enableMultiArchBootImageImport\"}], "
                                          "\"workloadSources\": {\"enableCommonBootImageImport\": true, "
                                          "\"enableMultiArchBootImageImport\": false}", "")), HCO_MULTIARCH_OFF);
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "\"featureGates\": [{\"name\": \"enableMultiArchBootImageImport\", "
                                          "\"state\": \"Disabled\"}], \"workloadSources\": "
                                          "{\"enableMultiArchBootImageImport\": true}", "")), HCO_MULTIARCH_ON);
    /* workloadSources present without the field: the gate decides */
    CU_ASSERT_EQUAL(multiarch_of(hco_json("v1", "\"featureGates\": [{\"name\": \"enableMultiArchBootImageImport\"}], "
                                          "\"workloadSources\": {\"enableCommonBootImageImport\": true}", "")),
                    HCO_MULTIARCH_ON);
}

static void test_kubevirt_cr(void)
{
    struct snapshot *s = must_build(join(kubevirt_json("[\"CPUManager\", \"CrossArchitectureVirtualization\"]", "arm64"),
                                         NULL));
    CU_ASSERT_TRUE(s->has_kubevirt);
    CU_ASSERT_TRUE(s->cross_arch_gate);
    CU_ASSERT_EQUAL(s->kubevirt_default_arch, ARCH_ARM64);
    CU_ASSERT_FALSE(s->has_hco);
    snapshot_release(s);

    s = must_build(join(kubevirt_json("[\"CPUManager\", \"Snapshot\"]", NULL), NULL));
    CU_ASSERT_TRUE(s->has_kubevirt);
    CU_ASSERT_FALSE(s->cross_arch_gate);
    CU_ASSERT_EQUAL(s->kubevirt_default_arch, ARCH_NONE);
    CU_ASSERT_EQUAL(s->default_arch, ARCH_NONE);    /* no nodes, nothing in status */
    snapshot_release(s);
}

static void test_default_arch(void)
{
    const char *x1 = node_json("x1", WORKER_AMD64, "{}", "amd64");
    const char *a1 = node_json("a1", WORKER_ARM64, "{}", "arm64");
    const char *a2 = node_json("a2", WORKER_ARM64, "{}", "arm64");
    const char *ctrl = node_json("ctrl", CTRL_AMD64, CP_TAINT, "amd64");
    const char *ctrl_arm = node_json("ctrl-a", "{\"kubernetes.io/arch\": \"arm64\", "
                                     "\"node-role.kubernetes.io/control-plane\": \"\"}", CP_TAINT, "arm64");

    /* KubeVirt status wins over HCO status */
    struct snapshot *s = must_build(join(x1, a1, kubevirt_json("[]", "arm64"),
                                         hco_json("v1beta1", "", "\"defaultWorkloadArchitecture\": \"amd64\""), NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_ARM64);
    CU_ASSERT_EQUAL(s->hco_default_arch, ARCH_AMD64);
    snapshot_release(s);

    /* HCO status when KubeVirt has none */
    s = must_build(join(x1, a1, a2, kubevirt_json("[]", NULL),
                        hco_json("v1beta1", "", "\"defaultWorkloadArchitecture\": \"amd64\""), NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_AMD64);
    snapshot_release(s);

    /* HCO's rule: the control-plane architecture is present among workload nodes */
    s = must_build(join(ctrl, x1, a1, a2, NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_AMD64);
    snapshot_release(s);

    /* control plane arm64 and amd64: the first by name (amd64) must be in the workload */
    s = must_build(join(ctrl_arm, ctrl, a1, NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_ARM64);   /* amd64 is not a workload arch: most nodes */
    snapshot_release(s);

    /* control-plane arch absent from the workload nodes: the most common workload arch */
    s = must_build(join(ctrl_arm, x1, node_json("x2", WORKER_AMD64, "{}", "amd64"), a1, NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_ARM64);   /* arm64 is a workload arch here */
    snapshot_release(s);
    s = must_build(join(ctrl, a1, NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_ARM64);
    snapshot_release(s);

    /* a tie: alphabetically first */
    s = must_build(join(node_json("s1", "{\"kubernetes.io/arch\": \"s390x\"}", "{}", "s390x"),
                        node_json("p1", "{\"kubernetes.io/arch\": \"arm64\"}", "{}", "arm64"), NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_ARM64);
    snapshot_release(s);
    s = must_build(join(x1, a1, NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_AMD64);
    snapshot_release(s);
    s = must_build(join(node_json("s1", "{\"kubernetes.io/arch\": \"s390x\"}", "{}", "s390x"),
                        node_json("s2", "{\"kubernetes.io/arch\": \"s390x\"}", "{}", "s390x"),
                        node_json("p1", "{\"kubernetes.io/arch\": \"arm64\"}", "{}", "arm64"), NULL));
    CU_ASSERT_EQUAL(s->default_arch, ARCH_S390X);   /* more nodes beats the name */
    snapshot_release(s);

    /* HCO present but without a status default: its rule */
    s = must_build(join(ctrl, x1, a1, a2, hco_json("v1", "", ""), NULL));
    CU_ASSERT_EQUAL(s->hco_default_arch, ARCH_NONE);
    CU_ASSERT_EQUAL(s->default_arch, ARCH_AMD64);
    snapshot_release(s);

    /* no nodes */
    s = must_build("[]");
    CU_ASSERT_EQUAL(s->default_arch, ARCH_NONE);
    CU_ASSERT_EQUAL(s->nnodes, 0);
    snapshot_release(s);
}

static void test_base_census(void)
{
    struct snapshot *s = must_build(join(
        node_json("ctrl", CTRL_AMD64, CP_TAINT, "amd64"),
        node_json("x1", WORKER_AMD64, "{}", "amd64"),
        node_json("x2", WORKER_AMD64, "{\"unschedulable\": true, \"taints\": [{\"effect\": \"NoSchedule\", "
                  "\"key\": \"node.kubernetes.io/unschedulable\"}]}", "amd64"),
        node_json("a1", WORKER_ARM64, "{}", "arm64"),
        node_json("a2", WORKER_ARM64, "{\"taints\": [{\"effect\": \"NoSchedule\", \"key\": \"dedicated\", "
                  "\"value\": \"gpu\"}]}", "arm64"),
        node_json("a3", WORKER_ARM64, "{\"taints\": [{\"effect\": \"NoExecute\", \"key\": \"node.kubernetes.io/unreachable\"}]}",
                  "arm64"),
        node_json("a4", WORKER_ARM64, "{\"taints\": [{\"effect\": \"PreferNoSchedule\", \"key\": \"soft\"}]}", "arm64"),
        node_json("u1", "{\"node-role.kubernetes.io/worker\": \"\", \"kubevirt.io/schedulable\": \"true\"}", "{}", NULL),
        NULL));
    const struct census *c = &s->base;
    CU_ASSERT_EQUAL(c->n[NR_PLACEMENT][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(c->n[NR_ELIGIBLE][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(c->n[NR_CORDONED][ARCH_AMD64], 1);
    CU_ASSERT_EQUAL(c->n[NR_ELIGIBLE][ARCH_ARM64], 2);      /* a1, a4 */
    CU_ASSERT_EQUAL(c->n[NR_TAINT][ARCH_ARM64], 1);
    CU_ASSERT_EQUAL(c->n[NR_NOT_READY][ARCH_ARM64], 1);
    CU_ASSERT_EQUAL(c->n[NR_ELIGIBLE][ARCH_COUNT], 1);      /* unknown architecture */
    unsigned total = 0;
    for (int r = 0; r < NR_COUNT; r++)
        for (int a = 0; a <= ARCH_COUNT; a++)
            total += c->n[r][a];
    CU_ASSERT_EQUAL(total, 8);
    snapshot_release(s);
}

/* The builder gives the snapshot a label index; a census through it counts what classifying
 * node by node counts, including the workload placement and kubevirt rows it precomputes. */
static void test_label_index(void)
{
    struct snapshot *s = must_build(join(
        node_json("ctrl", CTRL_AMD64, CP_TAINT, "amd64"),
        node_json("x1", WORKER_AMD64, "{}", "amd64"),
        node_json("x2", "{\"kubernetes.io/arch\": \"amd64\", \"node-role.kubernetes.io/worker\": \"\", "
                  "\"kubevirt.io/schedulable\": \"false\"}", "{}", "amd64"),
        node_json("a1", WORKER_ARM64, "{}", "arm64"),
        node_json("a2", WORKER_ARM64, "{\"taints\": [{\"effect\": \"NoSchedule\", \"key\": \"dedicated\", "
                  "\"value\": \"gpu\"}]}", "arm64"),
        node_json("a3", WORKER_ARM64, "{\"unschedulable\": true}", "arm64"),
        NULL));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->index);
    static const char *const placements[] = {
        "{\"nodeSelector\": {\"kubernetes.io/arch\": \"arm64\"}}",
        "{\"nodeSelector\": {\"kubernetes.io/os\": \"linux\"}, \"tolerations\": [{\"key\": \"dedicated\", "
        "\"operator\": \"Exists\"}]}",
        "{\"affinity\": {\"nodeAffinity\": {\"requiredDuringSchedulingIgnoredDuringExecution\": {\"nodeSelectorTerms\": "
        "[{\"matchFields\": [{\"key\": \"metadata.name\", \"operator\": \"NotIn\", \"values\": [\"a1\"]}]}]}}}}",
        "{\"nodeSelector\": {\"kubernetes.io/arch\": \"riscv64\"}}",
    };
    static const unsigned eligible_arm64[] = { 1, 2, 0, 0 };
    struct pool *pool = pool_new(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
    for (size_t i = 0; i < sizeof placements / sizeof placements[0]; i++) {
        char err[256] = "";
        struct placement p;
        cJSON *j = tu_parse(placements[i]);
        CU_ASSERT_EQUAL_FATAL(selector_parse_placement(j, pool, &p, err, sizeof err), AG_OK);
        cJSON_Delete(j);
        struct census want, got;
        memset(&want, 0, sizeof want);
        for (size_t k = 0; k < s->nnodes; k++) {
            int a = s->nodes[k].arch;
            want.n[eligible_classify(&s->nodes[k], s->kubevirt_labels_nodes, &p)][a >= 0 ? a : ARCH_COUNT]++;
        }
        CU_ASSERT_TRUE(eligible_census_indexed(s, &p, &got));
        CU_ASSERT(memcmp(&got, &want, sizeof got) == 0);
        CU_ASSERT_EQUAL(got.n[NR_ELIGIBLE][ARCH_ARM64], eligible_arm64[i]);
        CU_ASSERT_EQUAL(got.n[NR_PLACEMENT][ARCH_AMD64], 1);        /* ctrl: not a worker */
        CU_ASSERT_EQUAL(got.n[NR_NOT_KUBEVIRT][ARCH_AMD64], 1);     /* x2 */
    }
    pool_free(pool);
    snapshot_release(s);
}

/* ---- objects ------------------------------------------------------------------------------ */

#define DS(ns, name, labels, spec) \
    "{\"apiVersion\": \"cdi.kubevirt.io/v1beta1\", \"kind\": \"DataSource\", \"metadata\": {" \
    "\"creationTimestamp\": \"2026-02-09T13:05:47Z\", \"generation\": 3, \"labels\": " labels ", " \
    "\"name\": \"" name "\", \"namespace\": \"" ns "\", \"resourceVersion\": \"5337195\"}, \"spec\": " spec ", " \
    "\"status\": {\"conditions\": [{\"type\": \"Ready\", \"status\": \"True\", \"reason\": \"Ready\"}]}}"
#define PVC(ns, name, labels, annotations) \
    "{\"apiVersion\": \"v1\", \"kind\": \"PersistentVolumeClaim\", \"metadata\": {\"annotations\": " annotations ", " \
    "\"creationTimestamp\": \"2026-02-09T13:05:47Z\", \"finalizers\": [\"kubernetes.io/pvc-protection\"], " \
    "\"labels\": " labels ", \"name\": \"" name "\", \"namespace\": \"" ns "\"}, \"spec\": {\"accessModes\": " \
    "[\"ReadWriteOnce\"], \"resources\": {\"requests\": {\"storage\": \"30Gi\"}}, \"volumeMode\": \"Block\"}, " \
    "\"status\": {\"phase\": \"Bound\"}}"
#define OSI "openshift-virtualization-os-images"

static void test_datasources(void)
{
    struct snapshot *s = must_build(join(
        DS(OSI, "rhel9", "{\"app.kubernetes.io/managed-by\": \"ssp-operator\"}",
           "{\"source\": {\"dataSource\": {\"name\": \"rhel9-amd64\", \"namespace\": \"" OSI "\"}}}"),
        DS(OSI, "rhel9-amd64", "{\"template.kubevirt.io/architecture\": \"amd64\"}",
           "{\"source\": {\"snapshot\": {\"name\": \"rhel9-9bf63c9c7d42\", \"namespace\": \"" OSI "\"}}}"),
        DS(OSI, "rhel9-arm64", "{\"template.kubevirt.io/architecture\": \"arm64\"}", "{\"source\": {}}"),
        DS("team-a", "local", "{}", "{\"source\": {\"dataSource\": {\"name\": \"rhel9-arm64\"}}}"),
        DS("team-a", "odd", "{\"template.kubevirt.io/architecture\": \"mips\"}", "{}"),
        DS("team-a", "plain", "{}", "{\"source\": {\"pvc\": {\"name\": \"x\", \"namespace\": \"team-a\"}}}"), NULL));
    CU_ASSERT_EQUAL(s->ndatasources, 6);
    const struct datasource *d = snapshot_find_datasource(s, OSI, "rhel9");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_FALSE(d->has_label);
    CU_ASSERT_EQUAL(d->label_arch, ARCH_NONE);
    CU_ASSERT_STRING_EQUAL(d->ptr_ns, OSI);
    CU_ASSERT_STRING_EQUAL(d->ptr_name, "rhel9-amd64");
    d = snapshot_find_datasource(s, OSI, "rhel9-arm64");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_TRUE(d->has_label);
    CU_ASSERT_EQUAL(d->label_arch, ARCH_ARM64);
    CU_ASSERT_PTR_NULL(d->ptr_name);
    CU_ASSERT_PTR_NULL(d->ptr_ns);
    d = snapshot_find_datasource(s, "team-a", "local");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(d->ptr_ns, "team-a");     /* defaults to the DataSource's namespace */
    d = snapshot_find_datasource(s, "team-a", "odd");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_TRUE(d->has_label);
    CU_ASSERT_EQUAL(d->label_arch, ARCH_NONE);
    d = snapshot_find_datasource(s, "team-a", "plain");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_PTR_NULL(d->ptr_name);
    CU_ASSERT_PTR_NULL(snapshot_find_datasource(s, "team-a", "rhel9"));
    CU_ASSERT_PTR_NULL(snapshot_find_datasource(s, OSI, "rhel10"));
    CU_ASSERT_PTR_NULL(snapshot_find_datasource(s, NULL, "rhel9"));
    CU_ASSERT_PTR_NULL(snapshot_find_datasource(s, OSI, NULL));
    snapshot_release(s);
}

static void test_pvcs(void)
{
    struct snapshot *s = must_build(join(
        PVC("vms", "golden", "{\"template.kubevirt.io/architecture\": \"arm64\"}",
            "{\"" ANNOT_CDI_IMAGE_ARCH "\": \"amd64\"}"),
        PVC("vms", "imported", "{\"app\": \"containerized-data-importer\"}", "{\"" ANNOT_CDI_IMAGE_ARCH "\": \"amd64\"}"),
        PVC("vms", "multi", "{\"template.kubevirt.io/architecture\": \"amd64,arm64\"}", "{}"),
        PVC("vms", "garbled", "{\"template.kubevirt.io/architecture\": \"not-an-arch\"}", "{}"),
        PVC("vms", "legacy-app-root", "{\"app\": \"containerized-data-importer\"}",
            "{\"cdi.kubevirt.io/storage.contentType\": \"kubevirt\"}"), NULL));
    CU_ASSERT_EQUAL(s->npvcs, 4);
    const struct pvc *p = snapshot_find_pvc(s, "vms", "golden");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->archs, arch_bit(ARCH_ARM64));      /* the label wins */
    p = snapshot_find_pvc(s, "vms", "imported");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->archs, arch_bit(ARCH_AMD64));
    p = snapshot_find_pvc(s, "vms", "multi");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->archs, arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64));
    p = snapshot_find_pvc(s, "vms", "garbled");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->archs, 0);
    CU_ASSERT_PTR_NULL(snapshot_find_pvc(s, "vms", "legacy-app-root"));
    snapshot_release(s);
}

static void test_preferences(void)
{
    struct snapshot *s = must_build(join(
        "{\"apiVersion\": \"instancetype.kubevirt.io/v1beta1\", \"kind\": \"VirtualMachineClusterPreference\", "
        "\"metadata\": {\"labels\": {\"instancetype.kubevirt.io/arch\": \"arm64\"}, \"name\": \"fedora.arm64\"}, "
        "\"spec\": {\"preferredArchitecture\": \"arm64\", \"requirements\": {\"architecture\": \"arm64\", "
        "\"cpu\": {\"guest\": 1}}}}",
        "{\"apiVersion\": \"instancetype.kubevirt.io/v1beta1\", \"kind\": \"VirtualMachineClusterPreference\", "
        "\"metadata\": {\"name\": \"fedora\"}, \"spec\": {\"devices\": {\"preferredDiskBus\": \"virtio\"}}}",
        "{\"apiVersion\": \"instancetype.kubevirt.io/v1\", \"kind\": \"VirtualMachinePreference\", "
        "\"metadata\": {\"name\": \"fedora\", \"namespace\": \"vms\"}, \"spec\": {\"preferredArchitecture\": \"s390x\"}}",
        NULL));
    CU_ASSERT_EQUAL(s->npreferences, 3);
    const struct preference *p = snapshot_find_preference(s, NULL, "fedora.arm64");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NULL(p->ns);
    CU_ASSERT_EQUAL(p->required_arch, ARCH_ARM64);
    CU_ASSERT_EQUAL(p->preferred_arch, ARCH_ARM64);
    p = snapshot_find_preference(s, NULL, "fedora");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->required_arch, ARCH_NONE);
    CU_ASSERT_EQUAL(p->preferred_arch, ARCH_NONE);
    p = snapshot_find_preference(s, "vms", "fedora");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->ns, "vms");
    CU_ASSERT_EQUAL(p->preferred_arch, ARCH_S390X);
    CU_ASSERT_PTR_NULL(snapshot_find_preference(s, "other", "fedora"));
    CU_ASSERT_PTR_NULL(snapshot_find_preference(s, "vms", "fedora.arm64"));
    snapshot_release(s);
}

static void test_lists_and_unknown_kinds(void)
{
    /* a kubectl List of mixed kinds, a nested List, an API NodeList whose items carry no kind,
     * and kinds archgate does not read */
    snprintf(text, sizeof text,
             "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"metadata\": {\"resourceVersion\": \"\"}, \"items\": ["
             "%s, %s, "
             "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\", \"namespace\": \"x\"}, \"data\": {}}, "
             "{\"apiVersion\": \"example.org/v1\", \"kind\": \"Node\", \"metadata\": {}}, "
             "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}, \"spec\": \"weird\"}, "
             "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [%s]}, "
             "{\"apiVersion\": \"v1\", \"kind\": \"NodeList\", \"metadata\": {\"resourceVersion\": \"77\"}, \"items\": ["
             "{\"metadata\": {\"name\": \"from-api\", \"labels\": {\"kubernetes.io/arch\": \"arm64\"}}, \"spec\": {}}]}"
             "]}",
             node_json("n1", WORKER_AMD64, "{}", "amd64"),
             DS(OSI, "fedora-amd64", "{\"template.kubevirt.io/architecture\": \"amd64\"}", "{}"),
             node_json("nested", WORKER_ARM64, "{}", "arm64"));
    struct snapshot *s = must_build(text);
    CU_ASSERT_EQUAL(s->nnodes, 3);
    CU_ASSERT_PTR_NOT_NULL(find_node(s, "n1"));
    CU_ASSERT_PTR_NOT_NULL(find_node(s, "nested"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(find_node(s, "from-api"));
    CU_ASSERT_EQUAL(find_node(s, "from-api")->arch, ARCH_ARM64);
    CU_ASSERT_EQUAL(s->ndatasources, 1);
    snapshot_release(s);

    /* an empty List, and a List with null items */
    s = must_build("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": []}");
    CU_ASSERT_EQUAL(s->nnodes, 0);
    snapshot_release(s);
    s = must_build("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": null}");
    CU_ASSERT_EQUAL(s->nnodes, 0);
    snapshot_release(s);
}

static void test_duplicates_later_wins(void)
{
    struct snapshot *s = must_build(join(
        node_json("n", "{\"kubernetes.io/arch\": \"amd64\"}", "{}", "amd64"),
        DS(OSI, "d", "{\"template.kubevirt.io/architecture\": \"amd64\"}", "{}"),
        node_json("n", "{\"kubernetes.io/arch\": \"arm64\"}", "{}", "arm64"),
        DS(OSI, "d", "{\"template.kubevirt.io/architecture\": \"s390x\"}", "{}"), NULL));
    CU_ASSERT_EQUAL(s->nnodes, 1);
    CU_ASSERT_EQUAL(s->nodes[0].arch, ARCH_ARM64);
    CU_ASSERT_EQUAL(s->ndatasources, 1);
    CU_ASSERT_EQUAL(snapshot_find_datasource(s, OSI, "d")->label_arch, ARCH_S390X);
    snapshot_release(s);
}

/* ---- malformed input ---------------------------------------------------------------------- */

static void expect_invalid(const char *json, const char *must1, const char *must2)
{
    char err[512] = "";
    struct snapshot *s = NULL;
    enum ag_result r = build(json, &s, err, sizeof err);
    CU_ASSERT_EQUAL(r, AG_EINVAL);
    CU_ASSERT_PTR_NULL(s);
    if (must1 && !strstr(err, must1)) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, must1);
        CU_FAIL("message does not name the object");
    }
    if (must2 && !strstr(err, must2)) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", err, must2);
        CU_FAIL("message does not name the field");
    }
    snapshot_release(s);
}

static void test_malformed(void)
{
    expect_invalid(node_json("n1", "[\"x\"]", "{}", "amd64"), "Node n1", "labels");
    expect_invalid(node_json("n1", "{\"kubernetes.io/arch\": 64}", "{}", "amd64"), "Node n1", "kubernetes.io/arch");
    expect_invalid(node_json("n1", "{}", "{\"taints\": {\"key\": \"a\"}}", "amd64"), "Node n1", "spec.taints");
    expect_invalid(node_json("n1", "{}", "{\"taints\": [{\"key\": \"a\", \"effect\": \"Sometimes\"}]}", "amd64"),
                   "Node n1", "taints");
    expect_invalid(node_json("n1", "{}", "{\"unschedulable\": \"yes\"}", "amd64"), "Node n1", "spec.unschedulable");
    expect_invalid(node_json("n1", "{}", "[]", "amd64"), "Node n1", "spec");
    expect_invalid("{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"labels\": {}}, \"spec\": {}}",
                   "Node", "metadata.name");
    expect_invalid("{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": 7}}", "Node", "metadata.name");
    expect_invalid("{\"apiVersion\": \"v1\", \"kind\": \"Node\"}", "Node", "metadata");
    expect_invalid("{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n\"}, "
                   "\"status\": {\"nodeInfo\": {\"architecture\": [\"amd64\"]}}}", "Node n", "status.nodeInfo.architecture");
    expect_invalid(hco_json("v1beta1", "\"featureGates\": \"enableMultiArchBootImageImport\"", ""),
                   "HyperConverged openshift-cnv/kubevirt-hyperconverged", "spec.featureGates");
    expect_invalid(hco_json("v1beta1", "\"featureGates\": {\"enableMultiArchBootImageImport\": \"true\"}", ""),
                   "HyperConverged", "enableMultiArchBootImageImport");
    expect_invalid(hco_json("v1", "\"featureGates\": [\"enableMultiArchBootImageImport\"]", ""),
                   "HyperConverged", "spec.featureGates");
    expect_invalid(hco_json("v1", "\"featureGates\": [{\"name\": \"enableMultiArchBootImageImport\", \"state\": \"On\"}]", ""),
                   "HyperConverged", "state");
    expect_invalid(hco_json("v1", "\"workloadSources\": {\"enableMultiArchBootImageImport\": 1}", ""),
                   "HyperConverged", "workloadSources");
    expect_invalid(hco_json("v1beta1", "\"workloads\": {\"nodePlacement\": {\"nodeSelector\": {\"a\": 1}}}", ""),
                   "HyperConverged", "spec.workloads.nodePlacement");
    expect_invalid(hco_json("v1", "\"deployment\": {\"nodePlacements\": {\"workload\": {\"affinity\": {\"nodeAffinity\": "
                            "{\"requiredDuringSchedulingIgnoredDuringExecution\": {\"nodeSelectorTerms\": "
                            "[{\"matchExpressions\": [{\"key\": \"k\", \"operator\": \"Near\"}]}]}}}}}}", ""),
                   "HyperConverged", "spec.deployment.nodePlacements.workload");
    expect_invalid(hco_json("v1", "", "\"defaultWorkloadArchitecture\": 5"), "HyperConverged",
                   "defaultWorkloadArchitecture");
    expect_invalid(kubevirt_json("[\"CPUManager\", 3]", NULL), "KubeVirt openshift-cnv/kubevirt-kubevirt-hyperconverged",
                   "featureGates");
    expect_invalid(kubevirt_json("\"CrossArchitectureVirtualization\"", NULL), "KubeVirt", "featureGates");
    expect_invalid(DS(OSI, "d", "{\"template.kubevirt.io/architecture\": true}", "{}"), "DataSource " OSI "/d",
                   "template.kubevirt.io/architecture");
    expect_invalid(DS(OSI, "d", "{}", "{\"source\": {\"dataSource\": {\"namespace\": \"x\"}}}"), "DataSource " OSI "/d",
                   "spec.source.dataSource.name");
    expect_invalid(DS(OSI, "d", "{}", "{\"source\": {\"dataSource\": \"d2\"}}"), "DataSource", "spec.source.dataSource");
    expect_invalid("{\"apiVersion\": \"cdi.kubevirt.io/v1beta1\", \"kind\": \"DataSource\", \"metadata\": {\"name\": \"d\"}}",
                   "DataSource", "metadata.namespace");
    expect_invalid(PVC("vms", "p", "{}", "[]"), "PersistentVolumeClaim vms/p", "metadata.annotations");
    expect_invalid(PVC("vms", "p", "{\"template.kubevirt.io/architecture\": 1}", "{}"), "PersistentVolumeClaim vms/p",
                   "template.kubevirt.io/architecture");
    expect_invalid("{\"apiVersion\": \"instancetype.kubevirt.io/v1beta1\", \"kind\": \"VirtualMachineClusterPreference\", "
                   "\"metadata\": {\"name\": \"p\"}, \"spec\": {\"requirements\": {\"architecture\": [\"arm64\"]}}}",
                   "VirtualMachineClusterPreference p", "spec.requirements.architecture");
    expect_invalid("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": {}}", "List", "items");
    expect_invalid("{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [1]}", "List", "item 0");
    expect_invalid("[\"not an object\"]", NULL, NULL);
    /* a bad object deep in a List names itself */
    snprintf(text, sizeof text, "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [%s, %s]}",
             node_json("good", "{}", "{}", "amd64"), node_json("bad", "{}", "{\"unschedulable\": 1}", "amd64"));
    expect_invalid(text, "Node bad", "spec.unschedulable");

    /* NULL and non-object arguments */
    char err[128];
    struct cluster_builder *b = cluster_builder_new();
    CU_ASSERT_EQUAL(cluster_builder_add(b, NULL, err, sizeof err), AG_EINVAL);
    CU_ASSERT_EQUAL(cluster_builder_add_catalog(b, NULL, err, sizeof err), AG_EINVAL);
    cluster_builder_free(b);
    CU_ASSERT_PTR_NULL(cluster_builder_finish(NULL));
    cluster_builder_free(NULL);
}

/* ---- catalog ------------------------------------------------------------------------------ */

static struct snapshot *with_catalog(const char *catalog_json, enum ag_result *r, char *err, size_t errlen)
{
    cJSON *j = tu_parse(catalog_json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    struct cluster_builder *b = cluster_builder_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    *r = cluster_builder_add_catalog(b, j, err, errlen);
    cJSON_Delete(j);
    if (*r != AG_OK) {
        cluster_builder_free(b);
        return NULL;
    }
    return cluster_builder_finish(b);
}

static void test_catalog(void)
{
    enum ag_result r;
    char err[256] = "";
    struct snapshot *s = with_catalog(
        "{\"images\": {"
        "\"quay.io/containerdisks/fedora\": [\"amd64\", \"arm64\", \"s390x\"], "
        "\"quay.io/containerdisks/fedora:39\": [\"amd64\"], "
        "\"quay.io/containerdisks/centos-stream:9@sha256:abc\": [\"s390x\"], "
        "\"registry.example.org/golden/\": [\"amd64\"], "
        "\"registry.example.org/golden/arm/*\": [\"arm64\"], "
        "\"registry.example.org:5000/tools\": [\"x86_64\", \"aarch64\"]}}", &r, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(r, AG_OK);
    CU_ASSERT_EQUAL(s->ncatalog, 6);
    archset all3 = arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64) | arch_bit(ARCH_S390X);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora"), all3);            /* exact */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora:39"), arch_bit(ARCH_AMD64)); /* exact beats repo */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora:41"), all3);         /* tag */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora@sha256:0123"), all3); /* digest */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora:41@sha256:0123"), all3);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora:39@sha256:0123"), arch_bit(ARCH_AMD64));
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/centos-stream:9@sha256:abc"), arch_bit(ARCH_S390X));
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/centos-stream:9"), 0);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fedora-coreos"), 0);       /* not a prefix entry */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "quay.io/containerdisks/fed"), 0);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "registry.example.org/golden/rhel9:latest"), arch_bit(ARCH_AMD64)); /* prefix */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "registry.example.org/golden/arm/rhel9"), arch_bit(ARCH_ARM64)); /* longest */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "registry.example.org/golden"), 0);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "registry.example.org:5000/tools:1.2"),
                    arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64));    /* a port is not a tag */
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "registry.example.org:5000/tools"), arch_bit(ARCH_AMD64) | arch_bit(ARCH_ARM64));
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, "docker.io/library/busybox"), 0);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, ""), 0);
    CU_ASSERT_EQUAL(snapshot_catalog_lookup(s, NULL), 0);
    snapshot_release(s);

    const char *bad[][2] = {
        { "{\"images\": {\"quay.io/x\": [\"amd64\", \"vax\"]}}", "quay.io/x" },
        { "{\"images\": {\"quay.io/x\": \"amd64\"}}", "quay.io/x" },
        { "{\"images\": {\"quay.io/x\": [1]}}", "quay.io/x" },
        { "{\"images\": {\"quay.io/x\": []}}", "quay.io/x" },
        { "{\"images\": [\"quay.io/x\"]}", "images" },
        { "{\"imagez\": {}}", "images" },
        { "[]", "images" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        s = with_catalog(bad[i][0], &r, err, sizeof err);
        CU_ASSERT_EQUAL(r, AG_EINVAL);
        CU_ASSERT_PTR_NULL(s);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i][1]));
    }
}

/* ---- allocation failure ----------------------------------------------------------------- */

static void test_alloc_failure_sweep(void)
{
    snprintf(text, sizeof text,
             "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [%s, %s, %s, %s, %s, %s]}",
             node_json("ctrl", CTRL_AMD64, CP_TAINT, "amd64"),
             node_json("x1", WORKER_AMD64, "{\"taints\": [{\"effect\": \"NoSchedule\", \"key\": \"a\", \"value\": \"b\"}]}", "amd64"),
             node_json("a1", WORKER_ARM64, "{}", "arm64"),
             hco_json("v1beta1", "\"featureGates\": {\"enableMultiArchBootImageImport\": true}, \"workloads\": "
                      "{\"nodePlacement\": {\"nodeSelector\": {\"node-role.kubernetes.io/worker\": \"\"}}}", ""),
             DS(OSI, "rhel9", "{}", "{\"source\": {\"dataSource\": {\"name\": \"rhel9-amd64\"}}}"),
             PVC("vms", "p", "{\"template.kubevirt.io/architecture\": \"arm64\"}", "{}"));
    cJSON *objs = tu_parse(text);
    cJSON *cat = tu_parse("{\"images\": {\"quay.io/containerdisks/fedora\": [\"amd64\"], \"r.example/\": [\"arm64\"]}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cat);
    long baseline = mem_live();
    bool done = false;
    long n;
    for (n = 0; n < 5000 && !done; n++) {
        char err[256] = "";
        mem_fail_after(n);
        struct cluster_builder *b = cluster_builder_new();
        struct snapshot *s = NULL;
        if (b) {
            enum ag_result r1 = cluster_builder_add(b, objs, err, sizeof err);
            enum ag_result r2 = r1 == AG_OK ? cluster_builder_add_catalog(b, cat, err, sizeof err) : r1;
            CU_ASSERT(r2 == AG_OK || r2 == AG_ENOMEM);
            if (r2 == AG_OK)
                s = cluster_builder_finish(b);
            else
                cluster_builder_free(b);
        }
        mem_fail_after(-1);
        if (s) {
            CU_ASSERT_EQUAL(s->nnodes, 3);
            CU_ASSERT_EQUAL(s->ndatasources, 1);
            CU_ASSERT_EQUAL(s->npvcs, 1);
            CU_ASSERT_EQUAL(s->ncatalog, 2);
            done = true;
        }
        snapshot_release(s);
        CU_ASSERT_EQUAL(mem_live(), baseline);
    }
    CU_ASSERT_TRUE(done);
    CU_ASSERT(n > 5);   /* the sweep did hit failures before succeeding */
    cJSON_Delete(objs);
    cJSON_Delete(cat);
}

/* ---- reference counting and publishing ---------------------------------------------------- */

static void test_refcount_publish(void)
{
    struct snapshot *s1 = must_build(join(node_json("one", WORKER_AMD64, "{}", "amd64"), NULL));
    struct snapshot *s2 = must_build(join(node_json("two", WORKER_AMD64, "{}", "amd64"),
                                          node_json("three", WORKER_ARM64, "{}", "arm64"), NULL));
    CU_ASSERT_EQUAL(s1->refs, 1);
    CU_ASSERT(s1->bytes > 0);
    CU_ASSERT(s1->built_at > 0);
    uint64_t g0 = snapshot_generation();
    snapshot_publish(s1);                       /* the slot now owns s1's reference */
    CU_ASSERT_EQUAL(snapshot_generation(), g0 + 1);
    struct snapshot *a = snapshot_acquire();
    CU_ASSERT_PTR_EQUAL(a, s1);
    CU_ASSERT_EQUAL(s1->refs, 2);
    snapshot_ref(a);
    CU_ASSERT_EQUAL(s1->refs, 3);
    snapshot_release(a);
    CU_ASSERT_EQUAL(s1->refs, 2);

    snapshot_publish(s2);                       /* drops the slot's reference to s1 */
    CU_ASSERT_EQUAL(snapshot_generation(), g0 + 2);
    CU_ASSERT_EQUAL(a->refs, 1);
    CU_ASSERT_EQUAL(a->nnodes, 1);              /* still readable while held */
    CU_ASSERT_STRING_EQUAL(a->nodes[0].name, "one");
    snapshot_release(a);                        /* frees s1 (ASan checks) */

    struct snapshot *b = snapshot_acquire();
    CU_ASSERT_PTR_EQUAL(b, s2);
    CU_ASSERT_EQUAL(b->nnodes, 2);
    snapshot_release(b);

    snapshot_publish(NULL);                     /* empties the slot and frees s2 */
    CU_ASSERT_EQUAL(snapshot_generation(), g0 + 3);
    CU_ASSERT_PTR_NULL(snapshot_acquire());
    snapshot_release(NULL);
    snapshot_ref(NULL);
}

static atomic_int readers_stop;

static void *reader(void *arg)
{
    atomic_ulong *seen = arg;
    while (!atomic_load(&readers_stop)) {
        struct snapshot *s = snapshot_acquire();
        if (s) {
            if (s->nnodes == 1 && s->nodes[0].arch == ARCH_AMD64)
                atomic_fetch_add(seen, 1);
            snapshot_release(s);
        }
    }
    return NULL;
}

static void test_publish_concurrent(void)
{
    pthread_t t[2];
    atomic_ulong seen[2];
    char *node = node_json("n", WORKER_AMD64, "{}", "amd64");
    cJSON *j = tu_parse(node);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    atomic_init(&seen[0], 0);
    atomic_init(&seen[1], 0);
    atomic_store(&readers_stop, 0);
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, reader, &seen[i]), 0);
    /* publish at least 200 times, and until both readers have seen snapshots (at most ~2 s) */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0;; i++) {
        struct cluster_builder *b = cluster_builder_new();
        CU_ASSERT_EQUAL(cluster_builder_add(b, j, NULL, 0), AG_OK);
        snapshot_publish(cluster_builder_finish(b));
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((i >= 200 && atomic_load(&seen[0]) > 0 && atomic_load(&seen[1]) > 0) || now.tv_sec - t0.tv_sec > 2)
            break;
    }
    atomic_store(&readers_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    snapshot_publish(NULL);
    cJSON_Delete(j);
    CU_ASSERT(atomic_load(&seen[0]) > 0);
    CU_ASSERT(atomic_load(&seen[1]) > 0);
}

/* ---- scale -------------------------------------------------------------------------------- */

static void test_build_5000_nodes(void)
{
    cJSON *list = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(list, "items");
    cJSON_AddStringToObject(list, "apiVersion", "v1");
    cJSON_AddStringToObject(list, "kind", "List");
    for (int i = 0; i < 5000; i++) {
        char name[64], labels[512];
        const char *arch = i % 3 ? "amd64" : "arm64";
        snprintf(name, sizeof name, "worker-%05d", i);
        snprintf(labels, sizeof labels,
                 "{\"kubernetes.io/arch\": \"%s\", \"kubernetes.io/hostname\": \"%s\", \"kubernetes.io/os\": \"linux\", "
                 "\"node-role.kubernetes.io/worker\": \"\", \"kubevirt.io/schedulable\": \"true\", "
                 "\"topology.kubernetes.io/zone\": \"zone-%d\", \"cpu-model.node.kubevirt.io/Icelake-Server\": \"true\"}",
                 arch, name, i % 3);
        cJSON_AddItemToArray(items, tu_parse(node_json(name, labels, i % 50 ? "{}" : CP_TAINT, arch)));
    }
    for (int i = 0; i < 2000; i++) {
        char ds[1024];
        snprintf(ds, sizeof ds,
                 "{\"apiVersion\": \"cdi.kubevirt.io/v1beta1\", \"kind\": \"DataSource\", \"metadata\": {\"name\": "
                 "\"image-%04d-%s\", \"namespace\": \"ns-%d\", \"labels\": {\"template.kubevirt.io/architecture\": \"%s\"}}, "
                 "\"spec\": {\"source\": {\"snapshot\": {\"name\": \"s\", \"namespace\": \"ns\"}}}}",
                 i / 2, i % 2 ? "arm64" : "amd64", i % 7, i % 2 ? "arm64" : "amd64");
        cJSON_AddItemToArray(items, tu_parse(ds));
    }
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(items), 7000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct cluster_builder *b = cluster_builder_new();
    char err[256] = "";
    CU_ASSERT_EQUAL(cluster_builder_add(b, list, err, sizeof err), AG_OK);
    struct snapshot *s = cluster_builder_finish(b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->nnodes, 5000);
    CU_ASSERT_EQUAL(s->ndatasources, 2000);
    CU_ASSERT(secs < 1.0);
    CU_ASSERT(s->bytes / s->nnodes < 2048);     /* shared strings: small per node */
    CU_ASSERT_PTR_NOT_NULL(snapshot_find_datasource(s, "ns-4", "image-0005-arm64"));
    CU_ASSERT_EQUAL(s->base.n[NR_ELIGIBLE][ARCH_ARM64] + s->base.n[NR_ELIGIBLE][ARCH_AMD64] +
                    s->base.n[NR_TAINT][ARCH_ARM64] + s->base.n[NR_TAINT][ARCH_AMD64], 5000);
    /* the label index: a zone and arch selector counted through it */
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->index);
    struct kv sel_items[] = { { "kubernetes.io/arch", "arm64" }, { "topology.kubernetes.io/zone", "zone-0" } };
    struct placement p;
    memset(&p, 0, sizeof p);
    p.node_selector.items = sel_items;
    p.node_selector.n = 2;
    struct census c;
    CU_ASSERT_TRUE(eligible_census_indexed(s, &p, &c));
    /* arm64 is i % 3 == 0, zone-0 too: 1667 nodes, of which every 50th (i % 50 == 0, also
     * i % 3 == 0 every 150th: 34) carries the control-plane taint */
    CU_ASSERT_EQUAL(c.n[NR_ELIGIBLE][ARCH_ARM64], 1667 - 34);
    CU_ASSERT_EQUAL(c.n[NR_TAINT][ARCH_ARM64], 34);
    CU_ASSERT_EQUAL(c.n[NR_SELECTOR][ARCH_AMD64] + c.n[NR_TAINT][ARCH_AMD64], 3333);
    if (secs >= 1.0 || getenv("ARCHGATE_TEST_VERBOSE"))
        fprintf(stderr, "\n  built 5000 nodes + 2000 DataSources in %.3f s, %zu bytes\n", secs, s->bytes);
    snapshot_release(s);
    cJSON_Delete(list);
}

UNIT_SUITE("cluster", suite_init, suite_cleanup,
           { "node architecture: label vs status.nodeInfo", test_node_arch },
           { "node cordon (spec and taint), roles, taints", test_node_cordon_and_roles },
           { "workload nodes: worker role, else all nodes", test_workload_worker_rule },
           { "workload nodes: HCO placement v1beta1/v1, tolerations-only ignored", test_workload_placement },
           { "kubevirt.io/schedulable rule", test_kubevirt_labels },
           { "HCO multi-arch: gate object, gate list, workloadSources", test_hco_multiarch },
           { "KubeVirt CR: default arch, CrossArchitectureVirtualization", test_kubevirt_cr },
           { "default architecture: KubeVirt, HCO status, HCO rule", test_default_arch },
           { "base census", test_base_census },
           { "label index: census through it", test_label_index },
           { "DataSources", test_datasources },
           { "PVCs", test_pvcs },
           { "preferences", test_preferences },
           { "Lists, typed lists, unknown kinds", test_lists_and_unknown_kinds },
           { "duplicates: the later object wins", test_duplicates_later_wins },
           { "malformed objects", test_malformed },
           { "image catalog", test_catalog },
           { "allocation failure sweep", test_alloc_failure_sweep },
           { "refcount, publish, acquire, generation", test_refcount_publish },
           { "publish while readers acquire", test_publish_concurrent },
           { "5000 nodes and 2000 DataSources", test_build_5000_nodes });
